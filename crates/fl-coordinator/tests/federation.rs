//! End to end over loopback gRPC: a coordinator and real training clients.

mod common;

use fl_client::Client;
use fl_coordinator::Coordinator;

/// (a) A coordinator and three clients (600 MNIST images each) complete two rounds; the
/// global model beats 80 % test accuracy and the report follows the shared schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_clients_complete_two_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::coordinator_config(dir.path(), "e2e");
    cfg.rounds = 2;
    cfg.min_clients = 3;
    cfg.local_epochs = 2;
    cfg.batch_size = 16;
    cfg.lr = 0.1;
    cfg.evaluation.dataset = "mnist".into();
    cfg.evaluation.data_dir = Some(common::data_dir());
    cfg.evaluation.max_examples = 1000;
    let coord = Coordinator::start(cfg).await.unwrap();
    let addr = coord.grpc_addr;
    let mut clients = Vec::new();
    for i in 1..=3 {
        let c = common::client_config(addr, 10, 600);
        let id = format!("client-{i:03}");
        clients.push(tokio::spawn(async move {
            Client::from_config(c, &id).await?.run().await
        }));
    }
    let out = coord.wait().await.unwrap();
    for c in clients {
        let s = c.await.unwrap().unwrap();
        assert_eq!(s.accepted, 2, "{s:?}");
        assert_eq!(s.finished, "all rounds completed");
    }
    let r = &out.report;
    assert_eq!(r.outcome, "completed");
    assert_eq!(r.rounds.len(), 2);
    for (i, round) in r.rounds.iter().enumerate() {
        assert_eq!(round.round, i as u64 + 1);
        assert_eq!(round.clients, 3);
        assert!(round.dropped.is_empty());
        assert!(
            round.bytes_up >= 3 * 26_010 * 4,
            "bytes up {}",
            round.bytes_up
        );
        assert!(
            round.bytes_down >= 3 * 26_010 * 4,
            "bytes down {}",
            round.bytes_down
        );
        assert!(round.train_loss.is_finite());
    }
    let acc = r.final_accuracy.unwrap();
    assert!(acc > 0.8, "final accuracy {acc}");
    assert_eq!(r.clients.len(), 3);
    assert!(r.clients.values().all(|c| c.rounds == 2));
    // The written report parses back into the shared schema, and the model file exists.
    let text = std::fs::read_to_string(dir.path().join("e2e/report.json")).unwrap();
    let parsed: fl_core::report::RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.rounds.len(), 2);
    let layout = fl_ml::ModelSpec::default().layout();
    let model =
        fl_ml::safetensors_io::load(&dir.path().join("e2e/model.safetensors"), &layout).unwrap();
    assert_eq!(model.len(), 26_010);
}
