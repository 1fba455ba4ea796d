//! Shared helpers: configs for in-process coordinators and clients on 127.0.0.1.
#![allow(dead_code)]
#![allow(clippy::field_reassign_with_default)] // configs are built field by field for readability

use std::path::{Path, PathBuf};
use std::time::Duration;

use fl_client::{Client, ClientConfig, Worker};
use fl_coordinator::CoordinatorConfig;

/// MNIST directory: FL_DATA_DIR or ../shared/data/mnist relative to the repository root.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("FL_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist"),
    }
}

/// A coordinator config for tests: ephemeral port, SQLite under `dir`, no HTTP, fast
/// heartbeats, no evaluation.
pub fn coordinator_config(dir: &Path, run_id: &str) -> CoordinatorConfig {
    let mut c = CoordinatorConfig::default();
    c.run_id = run_id.into();
    c.grpc.addr = "127.0.0.1:0".into();
    c.http.addr = String::new();
    c.output.dir = dir.to_path_buf();
    c.output.linger_secs = 0.5;
    c.evaluation.dataset = String::new();
    c.sessions.heartbeat_interval_ms = 200;
    c.sessions.missed_heartbeats = 5;
    c.round_timeout_secs = 60.0;
    c
}

/// A client config pointing at `addr`.
pub fn client_config(
    addr: std::net::SocketAddr,
    partitions: usize,
    max_examples: usize,
) -> ClientConfig {
    let mut c = ClientConfig::default();
    c.coordinator = format!("http://{addr}");
    c.data.data_dir = Some(data_dir());
    c.data.num_partitions = partitions;
    c.data.max_examples = max_examples;
    c.warmup_steps = 0;
    c.long_poll_ms = 1000;
    c.backoff.initial_ms = 50;
    c.backoff.max_ms = 500;
    c.backoff.give_up_secs = 30;
    c
}

/// Spawns a client with a fake (random-delta) worker.
pub fn spawn_fake(
    addr: std::net::SocketAddr,
    id: &str,
    delay: Duration,
) -> tokio::task::JoinHandle<Result<fl_client::ClientSummary, fl_client::ClientError>> {
    let cfg = client_config(addr, 10, 0);
    let spec = fl_ml::ModelSpec::default();
    let client = Client::new(cfg, id, Worker::fake(spec, 100, delay));
    tokio::spawn(client.run())
}
