//! (b) Hostile and broken uploads: each gets its specific status, the coordinator keeps
//! serving and the one good update is aggregated.

mod common;

use std::time::Duration;

use fl_coordinator::Coordinator;
use fl_proto::pb::federation_client::FederationClient;
use fl_proto::pb::{self, get_task_response::Task, update_chunk::Kind};
use fl_proto::{DEFAULT_CHUNK_SIZE, PROTOCOL_VERSION, Payload};
use tonic::Code;
use tonic::transport::Channel;

const LEN: usize = 26_010;

async fn connect(addr: std::net::SocketAddr) -> FederationClient<Channel> {
    FederationClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn register(rpc: &mut FederationClient<Channel>, id: &str) -> String {
    rpc.register(pb::RegisterRequest {
        client_id: id.into(),
        auth_token: String::new(),
        capabilities: Some(pb::ClientCapabilities {
            cores: 1,
            memory_bytes: 0,
            num_examples: 100,
            samples_per_second: 0.0,
        }),
        protocol_version: PROTOCOL_VERSION,
    })
    .await
    .unwrap()
    .into_inner()
    .session_token
}

async fn task(rpc: &mut FederationClient<Channel>, id: &str, token: &str) -> pb::TrainTask {
    for _ in 0..50 {
        let r = rpc
            .get_task(pb::GetTaskRequest {
                session_token: token.into(),
                client_id: id.into(),
                wait_ms: 500,
            })
            .await
            .unwrap()
            .into_inner();
        if let Some(Task::Train(t)) = r.task {
            return t;
        }
    }
    panic!("no task for {id}");
}

/// A raw `none`-codec payload (the codec's wire format), which can carry NaN.
fn raw_none(values: &[f32]) -> Vec<u8> {
    let mut out = b"FLUC".to_vec();
    out.extend_from_slice(&[1, 0, 0, 0]);
    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn header(token: &str, id: &str, t: &pb::TrainTask) -> pb::UpdateHeader {
    pb::UpdateHeader {
        session_token: token.into(),
        client_id: id.into(),
        round: t.round,
        model_version: t.model_version,
        num_examples: 100,
        train_loss: 0.5,
        train_accuracy: f64::NAN,
        epsilon_spent: 0.0,
        codec: "none".into(),
        total_len: 0,
        sha256: String::new(),
        num_params: LEN as u64,
    }
}

async fn submit(
    rpc: &mut FederationClient<Channel>,
    chunks: Vec<pb::UpdateChunk>,
) -> Result<(), Code> {
    rpc.submit_update(tokio_stream::iter(chunks))
        .await
        .map(|_| ())
        .map_err(|s| s.code())
}

fn chunks(h: pb::UpdateHeader, bytes: Vec<u8>) -> Vec<pb::UpdateChunk> {
    Payload::new(bytes)
        .update_chunks(h, DEFAULT_CHUNK_SIZE)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_upload_gets_its_status_and_the_good_one_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::coordinator_config(dir.path(), "proto");
    cfg.rounds = 1;
    cfg.min_clients = 1;
    cfg.sessions.missed_heartbeats = 100;
    let coord = Coordinator::start(cfg).await.unwrap();
    let addr = coord.grpc_addr;
    let mut rpc = connect(addr).await;
    let id = "client-001";
    let token = register(&mut rpc, id).await;
    let t = task(&mut rpc, id, &token).await;
    assert_eq!((t.round, t.model_version, t.model_len), (1, 0, LEN as u64));
    let good = raw_none(&vec![0.001f32; LEN]);

    // Unauthenticated session.
    let st = rpc
        .get_task(pb::GetTaskRequest {
            session_token: "nope".into(),
            client_id: id.into(),
            wait_ms: 10,
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    assert_eq!(
        submit(&mut rpc, chunks(header("nope", id, &t), good.clone())).await,
        Err(Code::Unauthenticated)
    );
    // Forged client id with a valid session.
    assert_eq!(
        submit(
            &mut rpc,
            chunks(header(&token, "client-002", &t), good.clone())
        )
        .await,
        Err(Code::PermissionDenied)
    );
    // A registered client that was not selected.
    let late_token = register(&mut rpc, "late-001").await;
    assert_eq!(
        submit(
            &mut rpc,
            chunks(header(&late_token, "late-001", &t), good.clone())
        )
        .await,
        Err(Code::PermissionDenied)
    );
    // Stale round and stale model version.
    let mut h = header(&token, id, &t);
    h.round = 7;
    assert_eq!(
        submit(&mut rpc, chunks(h, good.clone())).await,
        Err(Code::FailedPrecondition)
    );
    let mut h = header(&token, id, &t);
    h.model_version = 3;
    assert_eq!(
        submit(&mut rpc, chunks(h, good.clone())).await,
        Err(Code::FailedPrecondition)
    );
    // Wrong length: in the header, and in the payload itself.
    let mut h = header(&token, id, &t);
    h.num_params = 10;
    assert_eq!(
        submit(&mut rpc, chunks(h, good.clone())).await,
        Err(Code::InvalidArgument)
    );
    assert_eq!(
        submit(
            &mut rpc,
            chunks(header(&token, id, &t), raw_none(&[0.0; 10]))
        )
        .await,
        Err(Code::InvalidArgument)
    );
    // Wrong codec.
    let mut h = header(&token, id, &t);
    h.codec = "int8".into();
    assert_eq!(
        submit(&mut rpc, chunks(h, good.clone())).await,
        Err(Code::InvalidArgument)
    );
    // Non-finite values.
    let mut nan = vec![0.0f32; LEN];
    nan[123] = f32::NAN;
    assert_eq!(
        submit(&mut rpc, chunks(header(&token, id, &t), raw_none(&nan))).await,
        Err(Code::InvalidArgument)
    );
    // Garbage that is not an encoded update.
    assert_eq!(
        submit(&mut rpc, chunks(header(&token, id, &t), vec![7u8; 1000])).await,
        Err(Code::InvalidArgument)
    );
    // Oversized declaration: refused before any data.
    let mut h = header(&token, id, &t);
    h.total_len = 1 << 40;
    h.sha256 = "0".repeat(64);
    let oversized = vec![pb::UpdateChunk {
        kind: Some(Kind::Header(h)),
    }];
    assert_eq!(
        submit(&mut rpc, oversized).await,
        Err(Code::ResourceExhausted)
    );
    // Malformed: data before the header; bad checksum syntax.
    let data_first = vec![pb::UpdateChunk {
        kind: Some(Kind::Data(pb::DataChunk {
            offset: 0,
            data: vec![1u8; 8].into(),
        })),
    }];
    assert_eq!(
        submit(&mut rpc, data_first).await,
        Err(Code::FailedPrecondition)
    );
    let mut bad_sha = chunks(header(&token, id, &t), good.clone());
    if let Some(Kind::Header(h)) = &mut bad_sha[0].kind {
        h.sha256 = "xyz".into();
    }
    assert_eq!(submit(&mut rpc, bad_sha).await, Err(Code::InvalidArgument));
    // Truncated: the stream ends before the declared length.
    let mut truncated = chunks(header(&token, id, &t), good.clone());
    truncated.pop();
    assert_eq!(submit(&mut rpc, truncated).await, Err(Code::DataLoss));
    // Corrupted payload: checksum mismatch.
    let mut corrupt = chunks(header(&token, id, &t), good.clone());
    if let Some(Kind::Data(d)) = &mut corrupt[1].kind {
        let mut v = d.data.to_vec();
        v[20] ^= 1;
        d.data = v.into();
    }
    assert_eq!(submit(&mut rpc, corrupt).await, Err(Code::DataLoss));
    // A client vanishing mid-stream: header and part of the data, then the call is dropped.
    {
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::UpdateChunk>(4);
        let mut all = chunks(header(&token, id, &t), good.clone()).into_iter();
        tx.send(all.next().unwrap()).await.unwrap();
        let mut rpc2 = connect(addr).await;
        let call = tokio::spawn(async move {
            rpc2.submit_update(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        call.abort();
        drop(tx);
        let _ = call.await;
    }

    // The coordinator still serves, and the good update is accepted exactly once.
    assert_eq!(
        submit(&mut rpc, chunks(header(&token, id, &t), good.clone())).await,
        Ok(())
    );
    let dup = submit(&mut rpc, chunks(header(&token, id, &t), good.clone())).await;
    // The single-client round may already be closed: then the round check answers first.
    assert!(
        matches!(
            dup,
            Err(Code::AlreadyExists) | Err(Code::FailedPrecondition)
        ),
        "{dup:?}"
    );

    let out = coord.wait().await.unwrap();
    let r = out.report;
    assert_eq!(r.outcome, "completed");
    assert_eq!(r.rounds.len(), 1);
    assert_eq!(r.rounds[0].participants, vec![id.to_string()]);
    assert_eq!(r.rounds[0].bytes_up, good.len() as u64);
    assert!(
        r.warnings.iter().any(|w| w.contains("non_finite")),
        "{:?}",
        r.warnings
    );
    assert!(
        r.warnings.iter().any(|w| w.contains("forged_client_id")),
        "{:?}",
        r.warnings
    );
}

/// Duplicates while the round is still open get ALREADY_EXISTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_update_in_open_round() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::coordinator_config(dir.path(), "dup");
    cfg.rounds = 1;
    cfg.min_clients = 2;
    cfg.sessions.missed_heartbeats = 100;
    let coord = Coordinator::start(cfg).await.unwrap();
    let addr = coord.grpc_addr;
    let mut rpc = connect(addr).await;
    let ta = register(&mut rpc, "a-1").await;
    let tb = register(&mut rpc, "b-2").await;
    let t = task(&mut rpc, "a-1", &ta).await;
    let good = raw_none(&vec![0.001f32; LEN]);
    assert_eq!(
        submit(&mut rpc, chunks(header(&ta, "a-1", &t), good.clone())).await,
        Ok(())
    );
    assert_eq!(
        submit(&mut rpc, chunks(header(&ta, "a-1", &t), good.clone())).await,
        Err(Code::AlreadyExists)
    );
    let tb_task = task(&mut rpc, "b-2", &tb).await;
    assert_eq!(
        submit(&mut rpc, chunks(header(&tb, "b-2", &tb_task), good)).await,
        Ok(())
    );
    let out = coord.wait().await.unwrap();
    assert_eq!(out.report.rounds[0].clients, 2);
}

/// A client over its request rate gets RESOURCE_EXHAUSTED (others are not affected), and an
/// upload that goes quiet after its header is cut off with DEADLINE_EXCEEDED; both counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_and_idle_upload_streams() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::coordinator_config(dir.path(), "limits");
    cfg.rounds = 1;
    cfg.min_clients = 1;
    cfg.sessions.missed_heartbeats = 100;
    cfg.limits.requests_per_second_per_client = 2.0;
    cfg.limits.request_burst = 5;
    cfg.limits.stream_idle_timeout_ms = 300;
    let coord = Coordinator::start(cfg).await.unwrap();
    let addr = coord.grpc_addr;
    let mut rpc = connect(addr).await;
    let id = "client-001";
    let token = register(&mut rpc, id).await; // 1 token
    let mut codes = Vec::new();
    for _ in 0..12 {
        let r = rpc
            .heartbeat(pb::HeartbeatRequest {
                session_token: token.clone(),
                client_id: id.into(),
            })
            .await;
        codes.push(r.err().map(|s| s.code()));
    }
    let limited = codes
        .iter()
        .filter(|c| **c == Some(Code::ResourceExhausted))
        .count();
    assert!(limited >= 6, "{codes:?}");
    assert_eq!(codes[0], None, "the burst lets the first requests through");
    // Another client has its own bucket.
    let other = register(&mut rpc, "client-002").await;
    rpc.heartbeat(pb::HeartbeatRequest {
        session_token: other,
        client_id: "client-002".into(),
    })
    .await
    .unwrap();

    // After the bucket refills, client-001 gets its task and starts an upload that stalls.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = task(&mut rpc, id, &token).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UpdateChunk>(4);
    let mut all = chunks(header(&token, id, &t), raw_none(&vec![0.0f32; LEN])).into_iter();
    tx.send(all.next().unwrap()).await.unwrap();
    let st = rpc
        .submit_update(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::DeadlineExceeded, "{st:?}");
    drop(tx);
    let counts = coord.shared.rejection_counts();
    assert!(
        counts.get("rate_limited").copied().unwrap_or(0) >= 6,
        "{counts:?}"
    );
    assert_eq!(counts.get("stream_idle"), Some(&1), "{counts:?}");
    coord.stop().await.unwrap();
}
