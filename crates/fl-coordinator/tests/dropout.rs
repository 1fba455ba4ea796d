//! (c) A selected client that stops mid-round (no update, no heartbeat) is dropped; the
//! round completes on quorum and the report names it.

mod common;

use std::time::Duration;

use fl_coordinator::Coordinator;
use fl_proto::PROTOCOL_VERSION;
use fl_proto::pb::federation_client::FederationClient;
use fl_proto::pb::{self, get_task_response::Task};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_client_is_dropped_and_round_completes_on_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::coordinator_config(dir.path(), "dropout");
    cfg.rounds = 2;
    cfg.min_clients = 2;
    cfg.quorum = 0.5;
    cfg.sessions.heartbeat_interval_ms = 100;
    cfg.sessions.missed_heartbeats = 3;
    let coord = Coordinator::start(cfg).await.unwrap();
    let addr = coord.grpc_addr;

    // The vanishing client registers, takes its round-1 task, and is never heard of again.
    let mut rpc = FederationClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let token = rpc
        .register(pb::RegisterRequest {
            client_id: "ghost-003".into(),
            auth_token: String::new(),
            capabilities: Some(pb::ClientCapabilities {
                num_examples: 100,
                ..Default::default()
            }),
            protocol_version: PROTOCOL_VERSION,
        })
        .await
        .unwrap()
        .into_inner()
        .session_token;
    // Slow fake trainers, so the ghost is selected in round 1 before anyone answers.
    let a = common::spawn_fake(addr, "client-001", Duration::from_millis(300));
    let b = common::spawn_fake(addr, "client-002", Duration::from_millis(300));
    let mut got_task = false;
    for _ in 0..100 {
        let r = rpc
            .get_task(pb::GetTaskRequest {
                session_token: token.clone(),
                client_id: "ghost-003".into(),
                wait_ms: 100,
            })
            .await
            .unwrap()
            .into_inner();
        if matches!(r.task, Some(Task::Train(_))) {
            got_task = true;
            break;
        }
    }
    assert!(got_task, "the ghost was never selected");
    drop(rpc);

    let out = coord.wait().await.unwrap();
    let r = &out.report;
    assert_eq!(r.outcome, "completed", "{:?}", r.warnings);
    assert_eq!(r.rounds.len(), 2);
    assert_eq!(r.rounds[0].dropped, vec!["ghost-003".to_string()]);
    assert!(r.rounds[0].clients >= 1);
    assert!(!r.rounds[0].participants.contains(&"ghost-003".to_string()));
    assert!(!r.rounds[1].participants.contains(&"ghost-003".to_string()));
    for h in [a, b] {
        assert!(h.await.unwrap().unwrap().accepted >= 1);
    }
}
