//! State shared between the engine task and the RPC handlers.
//!
//! The engine task is the only writer of the engine; handlers send it [`Command`]s and read
//! the latest [`Snapshot`] from a `watch` channel (cheap: models are `Arc`ed payloads).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fl_core::adapt::Capabilities;
use fl_core::codec::CodecSpec;
use fl_core::engine::{DpPlan, FinishReason, TrainTask, Update};
use fl_core::privacy::Ledger;
use fl_core::report::RoundRecord;
use fl_core::{Layout, UpdateRejected};
use fl_proto::Payload;
use fl_store::{SessionStore, Store};
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::CoordinatorConfig;

/// What the run is doing, as shown to clients and operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// Waiting for clients (or between rounds).
    Waiting,
    /// A round is collecting updates.
    Training,
    /// Paused by the operator.
    Paused,
    /// Over.
    Finished,
}

impl RunPhase {
    /// Value of the `fl_training_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            Self::Waiting => 0.0,
            Self::Training => 1.0,
            Self::Paused => 2.0,
            Self::Finished => 3.0,
        }
    }
}

/// An immutable view of the run, republished after every engine step.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Phase.
    pub phase: RunPhase,
    /// Open round, if any.
    pub open_round: Option<u64>,
    /// Rounds completed.
    pub completed: u64,
    /// Current global model version.
    pub model_version: u64,
    /// Models still served, by version (current and previous).
    pub models: BTreeMap<u64, Arc<Payload>>,
    /// Pending tasks of the open round (removed once the update is accepted).
    pub tasks: BTreeMap<String, TrainTask>,
    /// Clients whose update was accepted in the open round.
    pub submitted: BTreeSet<String>,
    /// Completed rounds' records.
    pub rounds: Vec<RoundRecord>,
    /// Set once the run is over.
    pub finished: Option<FinishReason>,
    /// Paused by the operator.
    pub paused: bool,
    /// Privacy ledger (record-level DP runs).
    pub ledger: Option<Ledger>,
    /// Clients whose ε budget is spent.
    pub exhausted: BTreeSet<String>,
    /// Global models produced so far (as safetensors files).
    pub model_files: Vec<ModelFile>,
}

/// A global model as a safetensors file (what the REST API lists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFile {
    /// Round that produced it (0 = initial).
    pub round: u64,
    /// Model version.
    pub model_version: u64,
    /// SHA-256 of the safetensors bytes.
    pub sha256: String,
    /// Size of the safetensors bytes.
    pub size_bytes: u64,
}

impl Snapshot {
    /// The model payload of `version`, if still held.
    pub fn model(&self, version: u64) -> Option<Arc<Payload>> {
        self.models.get(&version).cloned()
    }
}

/// A request to the engine task.
#[derive(Debug)]
pub enum Command {
    /// A client registered (or re-registered).
    Join {
        /// Client id.
        client: String,
        /// What it reported.
        caps: Capabilities,
    },
    /// A client left (missed heartbeats).
    Leave {
        /// Client id.
        client: String,
    },
    /// A decoded update; the engine's verdict comes back on `reply`.
    Update {
        /// The update.
        update: Update,
        /// Encoded payload size.
        bytes: u64,
        /// Verdict.
        reply: oneshot::Sender<Result<(), UpdateRejected>>,
    },
    /// Operator: stop starting rounds.
    Pause,
    /// Operator: start rounds again.
    Resume,
    /// Operator: end the run now.
    Stop,
}

/// A registered client as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct Presence {
    /// Last request or heartbeat.
    pub last_seen: Instant,
    /// Reported capabilities.
    pub caps: Capabilities,
    /// Whether it currently counts as connected (false after missed heartbeats).
    pub connected: bool,
}

/// Everything the handlers share.
pub struct Shared {
    /// Configuration.
    pub cfg: CoordinatorConfig,
    /// Model layout.
    pub layout: Layout,
    /// Update codec of the run.
    pub codec: CodecSpec,
    /// Largest accepted update payload.
    pub max_update_bytes: u64,
    /// Session tokens.
    pub sessions: Arc<dyn SessionStore>,
    /// Metadata store.
    pub store: Store,
    /// Unix seconds when this process started the run.
    pub started_unix: u64,
    /// Record-level DP plan, if any.
    pub dp: Option<DpPlan>,
    /// Inbox of the engine task.
    pub commands: mpsc::Sender<Command>,
    /// Latest snapshot.
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Registered clients.
    pub presence: Mutex<HashMap<String, Presence>>,
    /// Bytes received from clients since the last completed round.
    pub bytes_up: AtomicU64,
    /// Bytes sent to clients since the last completed round.
    pub bytes_down: AtomicU64,
    /// Rejected updates by reason (for the report and tests).
    pub rejections: Mutex<BTreeMap<String, u64>>,
    /// Federated evaluations reported by clients: (client, round, accuracy, loss).
    pub evaluations: Mutex<Vec<(String, u64, f64, f64)>>,
    /// Enrolled clients (`security.clients_file`); `None` lets any id register.
    pub enrollments: Option<crate::auth::Enrollments>,
    /// Mutual TLS is on: a registering client's certificate must carry its id.
    pub mtls: bool,
    /// Per-client request rate limit.
    pub limiter: Mutex<crate::limits::RateLimiter>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("run_id", &self.cfg.run_id)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The latest snapshot.
    pub fn snap(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Counts a rejection by its reason label.
    pub fn count_rejection(&self, reason: &str) {
        metrics::counter!(crate::metrics_names::UPDATES_REJECTED, "reason" => reason.to_string())
            .increment(1);
        if let Ok(mut m) = self.rejections.lock() {
            *m.entry(reason.to_string()).or_default() += 1;
        }
    }

    /// Rejections so far, by reason.
    pub fn rejection_counts(&self) -> BTreeMap<String, u64> {
        self.rejections
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Takes a request token for `client`; `RESOURCE_EXHAUSTED` when it is over its rate.
    pub fn rate_check(&self, client: &str) -> Result<(), tonic::Status> {
        let ok = self
            .limiter
            .lock()
            .map(|mut l| l.allow(client, Instant::now()))
            .unwrap_or(true);
        if ok {
            Ok(())
        } else {
            self.count_rejection("rate_limited");
            Err(tonic::Status::resource_exhausted(format!(
                "client `{client}` is over {} requests/s; slow down",
                self.cfg.limits.requests_per_second_per_client
            )))
        }
    }

    /// Marks a client as seen now.
    pub fn touch(&self, client: &str) {
        if let Ok(mut p) = self.presence.lock()
            && let Some(e) = p.get_mut(client)
        {
            e.last_seen = Instant::now();
        }
    }

    /// Adds to the per-round byte counters and the metrics.
    pub fn add_bytes_down(&self, n: u64) {
        self.bytes_down.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(crate::metrics_names::BYTES_SENT).increment(n);
    }

    /// Adds received bytes.
    pub fn add_bytes_up(&self, n: u64) {
        self.bytes_up.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(crate::metrics_names::BYTES_RECEIVED).increment(n);
    }

    /// Updates the client gauges.
    pub fn publish_client_gauges(&self) {
        if let Ok(p) = self.presence.lock() {
            metrics::gauge!(crate::metrics_names::CLIENTS_REGISTERED).set(p.len() as f64);
            let connected = p.values().filter(|c| c.connected).count();
            metrics::gauge!(crate::metrics_names::CLIENTS_CONNECTED).set(connected as f64);
        }
    }
}
