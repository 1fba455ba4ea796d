//! # fl-client: a federation participant
//!
//! A client holds a private shard, registers with the coordinator and loops:
//! `GetTask` (long poll) → `DownloadModel` (SHA-256 verified) → local training (DP-SGD when
//! the task asks, with noise from the OS CSPRNG and a local ε budget check) → encode the delta
//! with the task's codec (error feedback for top-k) → `SubmitUpdate`. It exits when the
//! coordinator says `Finished`. While the coordinator is unreachable it retries with
//! exponential backoff and jitter, and it registers again when its session is unknown
//! (e.g. after a coordinator restart).

pub mod config;
pub mod worker;

use std::time::{Duration, Instant};

use fl_core::codec::CodecSpec;
use fl_proto::pb::federation_client::FederationClient;
use fl_proto::pb::{self, get_task_response::Task};
use fl_proto::{DEFAULT_CHUNK_SIZE, PROTOCOL_VERSION, Payload};
use rand::Rng;
use thiserror::Error;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tracing::{debug, info, warn};

pub use config::ClientConfig;
pub use worker::Worker;

/// Why a client stopped.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Bad configuration or arguments.
    #[error("configuration error: {0}")]
    Config(String),
    /// The local data could not be loaded.
    #[error("data error: {0}")]
    Data(String),
    /// Local training failed.
    #[error("training error: {0}")]
    Train(String),
    /// Privacy accounting failed.
    #[error("privacy error: {0}")]
    Privacy(String),
    /// Training this round would exceed the local ε budget.
    #[error("training would spend ε = {projected:.3}, above the budget {budget}")]
    BudgetExhausted {
        /// ε after the round.
        projected: f64,
        /// Budget.
        budget: f64,
    },
    /// The coordinator refused us for good, or stayed away too long.
    #[error("coordinator: {0}")]
    Coordinator(String),
}

/// What a client did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientSummary {
    /// Updates accepted by the coordinator.
    pub accepted: u64,
    /// Updates refused.
    pub rejected: u64,
    /// Times it registered.
    pub registrations: u64,
    /// Last ε spent (DP runs).
    pub epsilon: Option<f64>,
    /// The coordinator's reason for finishing.
    pub finished: String,
}

struct Session {
    token: String,
    heartbeat: Duration,
    max_update: u64,
}

enum Step {
    Continue,
    Reregister,
    Finished(String),
}

/// One client.
pub struct Client {
    cfg: ClientConfig,
    id: String,
    worker: Worker,
    samples_per_second: f64,
    cores: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn is_transport(s: &Status) -> bool {
    matches!(
        s.code(),
        Code::Unavailable
            | Code::Unknown
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Internal
    )
}

impl Client {
    /// A client named `id` with a prepared worker.
    pub fn new(cfg: ClientConfig, id: impl Into<String>, worker: Worker) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        Self {
            cores: if cfg.threads > 0 {
                cfg.threads as u32
            } else {
                cores
            },
            cfg,
            id: id.into(),
            worker,
            samples_per_second: 0.0,
        }
    }

    /// Loads the shard as configured and measures throughput.
    pub async fn from_config(cfg: ClientConfig, id: &str) -> Result<Self, ClientError> {
        cfg.validate()?;
        let spec = fl_ml::ModelSpec::parse(&cfg.model, &cfg.activation)
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let (c2, id2) = (cfg.clone(), id.to_string());
        let data = tokio::task::spawn_blocking(move || worker::load_shard(&c2, &id2))
            .await
            .map_err(|e| ClientError::Data(e.to_string()))??;
        let mut worker = Worker::real(spec, data)?;
        if let Some(a) = &cfg.attack {
            let a: fl_core::robust::Attack = a
                .parse()
                .map_err(|e| ClientError::Config(format!("attack: {e}")))?;
            tracing::warn!(client = %id, attack = ?a, "SIMULATED ATTACKER: this client poisons its updates");
            worker.attack = Some(a);
        }
        let mut c = Self::new(cfg, id, worker);
        c.samples_per_second = c.worker.warm_up(c.cfg.warmup_steps).await;
        info!(client = %c.id, examples = c.worker.num_examples(), samples_per_second = format_args!("{:.0}", c.samples_per_second), "client ready");
        Ok(c)
    }

    /// Runs until the coordinator says the run is finished.
    pub async fn run(mut self) -> Result<ClientSummary, ClientError> {
        let mut summary = ClientSummary::default();
        let mut endpoint = Endpoint::from_shared(self.cfg.coordinator.clone())
            .map_err(|e| ClientError::Config(format!("coordinator URL: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        if let Some(t) = &self.cfg.tls {
            fl_tls::install_crypto_provider();
            let tls =
                fl_tls::client_tls(t).map_err(|e| ClientError::Config(format!("tls: {e}")))?;
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| ClientError::Config(format!("tls: {e}")))?;
        }
        let mut backoff = Duration::from_millis(self.cfg.backoff.initial_ms);
        let mut away_since: Option<Instant> = None;
        loop {
            let attempt = async {
                let ch = endpoint
                    .connect()
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?;
                let mut rpc = FederationClient::new(ch)
                    .max_decoding_message_size(8 << 20)
                    .max_encoding_message_size(8 << 20);
                let session = self.register(&mut rpc).await?;
                summary.registrations += 1;
                Ok::<_, Status>((rpc, session))
            }
            .await;
            let (rpc, session) = match attempt {
                Ok(x) => x,
                // A refused enrollment will not fix itself: fail with the coordinator's reason.
                Err(s) if matches!(s.code(), Code::Unauthenticated | Code::PermissionDenied) => {
                    return Err(ClientError::Coordinator(format!(
                        "registration refused: {}",
                        s.message()
                    )));
                }
                Err(s) if is_transport(&s) => {
                    let since = *away_since.get_or_insert_with(Instant::now);
                    let give_up = self.cfg.backoff.give_up_secs;
                    if give_up > 0 && since.elapsed() > Duration::from_secs(give_up) {
                        return Err(ClientError::Coordinator(format!(
                            "unreachable for {give_up} s: {}",
                            s.message()
                        )));
                    }
                    let jitter = rand::rng().random_range(0.5..1.0);
                    debug!(client = %self.id, "coordinator unavailable ({}); retrying in {:?}", s.message(), backoff.mul_f64(jitter));
                    tokio::time::sleep(backoff.mul_f64(jitter)).await;
                    backoff = (backoff * 2).min(Duration::from_millis(self.cfg.backoff.max_ms));
                    continue;
                }
                Err(s) => return Err(ClientError::Coordinator(format!("register: {s}"))),
            };
            away_since = None;
            backoff = Duration::from_millis(self.cfg.backoff.initial_ms);
            let hb = spawn_heartbeat(
                rpc.clone(),
                self.id.clone(),
                session.token.clone(),
                session.heartbeat,
            );
            let r = self.session_loop(rpc, &session, &mut summary).await;
            hb.abort();
            match r {
                Ok(reason) => {
                    info!(client = %self.id, accepted = summary.accepted, "run finished: {reason}");
                    summary.finished = reason;
                    return Ok(summary);
                }
                Err(None) => continue,
                Err(Some(e)) => return Err(e),
            }
        }
    }

    async fn register(&self, rpc: &mut FederationClient<Channel>) -> Result<Session, Status> {
        let r = rpc
            .register(pb::RegisterRequest {
                client_id: self.id.clone(),
                auth_token: self.cfg.auth_token.clone().unwrap_or_default(),
                capabilities: Some(pb::ClientCapabilities {
                    cores: self.cores,
                    memory_bytes: 0,
                    num_examples: self.worker.num_examples(),
                    samples_per_second: self.samples_per_second,
                }),
                protocol_version: PROTOCOL_VERSION,
            })
            .await?
            .into_inner();
        debug!(client = %self.id, run = %r.run_id, "registered");
        Ok(Session {
            token: r.session_token,
            heartbeat: Duration::from_millis(r.heartbeat_interval_ms.clamp(100, 60_000)),
            max_update: r.max_update_bytes,
        })
    }

    /// `Ok(reason)` when finished; `Err(None)` to reconnect / re-register; `Err(Some)` fatal.
    async fn session_loop(
        &mut self,
        mut rpc: FederationClient<Channel>,
        s: &Session,
        summary: &mut ClientSummary,
    ) -> Result<String, Option<ClientError>> {
        loop {
            let res = rpc
                .get_task(pb::GetTaskRequest {
                    session_token: s.token.clone(),
                    client_id: self.id.clone(),
                    wait_ms: self.cfg.long_poll_ms,
                })
                .await;
            let task = match res {
                Ok(r) => r.into_inner().task,
                // Over the coordinator's rate limit: back off and ask again.
                Err(st) if st.code() == Code::ResourceExhausted => {
                    debug!(client = %self.id, "rate limited: {}", st.message());
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                    continue;
                }
                Err(st) if st.code() == Code::Unauthenticated || is_transport(&st) => {
                    info!(client = %self.id, "session lost ({}): reconnecting", st.code());
                    return Err(None);
                }
                Err(st) => return Err(Some(ClientError::Coordinator(format!("get task: {st}")))),
            };
            let step = match task {
                Some(Task::Train(t)) => self.train(&mut rpc, s, t, summary).await,
                Some(Task::Finished(f)) => Step::Finished(f.reason),
                Some(Task::Wait(w)) => {
                    tokio::time::sleep(Duration::from_millis(w.retry_after_ms.min(5000))).await;
                    Step::Continue
                }
                Some(Task::Evaluate(_)) | None => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Step::Continue
                }
            };
            match step {
                Step::Continue => {}
                Step::Reregister => return Err(None),
                Step::Finished(r) => return Ok(r),
            }
        }
    }

    async fn train(
        &mut self,
        rpc: &mut FederationClient<Channel>,
        s: &Session,
        t: pb::TrainTask,
        summary: &mut ClientSummary,
    ) -> Step {
        let fail = |st: Status| {
            if st.code() == Code::Unauthenticated || is_transport(&st) {
                Step::Reregister
            } else {
                Step::Continue
            }
        };
        let codec: CodecSpec = match t.codec.parse() {
            Ok(c) if !t.codec.is_empty() => c,
            _ if t.codec.is_empty() => CodecSpec::None,
            _ => {
                warn!(client = %self.id, codec = %t.codec, "unknown codec in task");
                return Step::Continue;
            }
        };
        if t.model_len != self.worker.layout.len() as u64 {
            warn!(client = %self.id, "task model has {} parameters, this client's model {}; check `model`/`activation`", t.model_len, self.worker.layout.len());
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Step::Continue;
        }
        let global = match self.download(rpc, s, &t).await {
            Ok(g) => g,
            Err(st) => {
                warn!(client = %self.id, round = t.round, "download failed: {st}");
                return fail(st);
            }
        };
        let t0 = Instant::now();
        let trained = match self.worker.run_task(&t, global, codec).await {
            Ok(x) => x,
            Err(ClientError::BudgetExhausted { projected, budget }) => {
                warn!(client = %self.id, projected, budget, "refusing to train: the round would exceed the local ε budget");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Step::Continue;
            }
            Err(e) => {
                warn!(client = %self.id, "local training failed: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return Step::Continue;
            }
        };
        let train_secs = t0.elapsed().as_secs_f64();
        if s.max_update > 0 && trained.payload.len() as u64 > s.max_update {
            warn!(client = %self.id, "update of {} bytes is above the coordinator's limit", trained.payload.len());
        }
        let header = pb::UpdateHeader {
            session_token: s.token.clone(),
            client_id: self.id.clone(),
            round: t.round,
            model_version: t.model_version,
            num_examples: trained.num_examples,
            train_loss: trained.loss,
            train_accuracy: f64::NAN,
            epsilon_spent: trained.epsilon.unwrap_or(0.0),
            codec: t.codec.clone(),
            total_len: 0,
            sha256: String::new(),
            num_params: t.model_len,
        };
        let payload = Payload::new(trained.payload);
        let chunks = payload.update_chunks(header, DEFAULT_CHUNK_SIZE);
        match rpc.submit_update(tokio_stream::iter(chunks)).await {
            Ok(_) => {
                summary.accepted += 1;
                summary.epsilon = trained.epsilon;
                info!(client = %self.id, round = t.round, loss = format_args!("{:.4}", trained.loss), train_secs = format_args!("{train_secs:.2}"), bytes = payload.len(), "update accepted");
                Step::Continue
            }
            Err(st) => {
                summary.rejected += 1;
                warn!(client = %self.id, round = t.round, "update refused: {st}");
                fail(st)
            }
        }
    }

    async fn download(
        &self,
        rpc: &mut FederationClient<Channel>,
        s: &Session,
        t: &pb::TrainTask,
    ) -> Result<Vec<f32>, Status> {
        let mut stream = rpc
            .download_model(pb::DownloadModelRequest {
                session_token: s.token.clone(),
                client_id: self.id.clone(),
                model_version: t.model_version,
            })
            .await?
            .into_inner();
        let m = fl_proto::receive_model(&mut stream, t.model_len.saturating_mul(4)).await?;
        if m.sha256 != t.model_checksum || m.model_version != t.model_version {
            return Err(Status::data_loss(
                "downloaded model does not match the task's checksum",
            ));
        }
        let v = fl_proto::le_bytes_to_f32s(&m.bytes)?;
        if v.len() as u64 != t.model_len {
            return Err(Status::data_loss("downloaded model has the wrong length"));
        }
        Ok(v)
    }
}

fn spawn_heartbeat(
    mut rpc: FederationClient<Channel>,
    id: String,
    token: String,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let r = rpc
                .heartbeat(pb::HeartbeatRequest {
                    session_token: token.clone(),
                    client_id: id.clone(),
                })
                .await;
            if let Err(e) = r {
                debug!(client = %id, "heartbeat failed: {e}");
            }
        }
    })
}
