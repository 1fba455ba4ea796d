//! Wiring: storage, engine (new or restored), the engine task, the gRPC and HTTP listeners
//! and the presence monitor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fl_core::Params;
use fl_core::engine::{EngineCheckpoint, RoundEngine};
use fl_core::report::RoundRecord;
use fl_data::{DatasetName, Locator, Split};
use fl_ml::{Backend, LocalData, LocalTrainer};
use fl_proto::pb::federation_server::FederationServer;
use fl_store::Store;
use rand::SeedableRng;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::CoordinatorConfig;
pub use crate::driver::RunOutcome;
use crate::driver::{Driver, Evaluator};
use crate::error::CoordinatorError;
use crate::service::FederationService;
use crate::state::{Command, RunPhase, Shared, Snapshot};

/// A running coordinator.
pub struct Coordinator {
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// Bound HTTP address, if serving HTTP.
    pub http_addr: Option<SocketAddr>,
    /// Shared state (for the HTTP API and tests).
    pub shared: Arc<Shared>,
    /// Rounds already completed when this process started (a resume).
    pub resumed_rounds: u64,
    shutdown: watch::Sender<bool>,
    driver: JoinHandle<RunOutcome>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("grpc_addr", &self.grpc_addr)
            .field("http_addr", &self.http_addr)
            .finish_non_exhaustive()
    }
}

fn load_eval(
    cfg: &CoordinatorConfig,
    model: fl_ml::ModelSpec,
) -> Result<Option<Evaluator>, CoordinatorError> {
    if cfg.evaluation.dataset.is_empty() {
        return Ok(None);
    }
    let name: DatasetName = cfg
        .evaluation
        .dataset
        .parse()
        .map_err(|e| CoordinatorError::Config(format!("evaluation.dataset: {e}")))?;
    let mut loc = Locator::from_env(cfg.evaluation.data_dir.clone());
    loc.allow_download = false;
    let test = loc
        .load(name, Split::Test)
        .map_err(|e| CoordinatorError::Data(e.to_string()))?;
    let mut data = LocalData::from_dataset(&test);
    if cfg.evaluation.max_examples > 0 {
        data = data.head(cfg.evaluation.max_examples);
    }
    let data = model
        .prepare(data)
        .map_err(|e| CoordinatorError::Data(e.to_string()))?;
    let trainer = LocalTrainer::new(model, Backend::Native)
        .map_err(|e| CoordinatorError::Config(e.to_string()))?;
    Ok(Some(Evaluator {
        trainer: Arc::new(Mutex::new(trainer)),
        data: Arc::new(data),
    }))
}

impl Coordinator {
    /// Validates `cfg`, opens storage, restores the latest checkpoint of `cfg.run_id` if
    /// any, binds the listeners and starts serving.
    pub async fn start(cfg: CoordinatorConfig) -> Result<Self, CoordinatorError> {
        let resolved = cfg.validate()?;
        let layout = resolved.model.layout();
        let eval = load_eval(&cfg, resolved.model)?;

        let db_url = cfg.database_url();
        let store = Store::connect(&db_url).await?;
        let config_json =
            serde_json::to_value(&cfg).map_err(|e| CoordinatorError::Config(e.to_string()))?;
        let opened = store
            .create_or_resume_run(&cfg.run_id, &config_json.to_string())
            .await?;
        let sessions = fl_store::connect_sessions(
            cfg.redis.url.as_deref(),
            &format!("fl:{}:", cfg.run_id),
            Duration::from_secs(5),
        )
        .await?;

        let noise = Box::new(rand_chacha::ChaCha20Rng::from_os_rng());
        let mut rounds: Vec<RoundRecord> = Vec::new();
        let ckpt = if opened.existed {
            store.latest_checkpoint(&cfg.run_id).await?
        } else {
            None
        };
        let engine = match ckpt {
            Some(c) => {
                let mut state: EngineCheckpoint = serde_json::from_str(&c.engine_state_json)
                    .map_err(|e| CoordinatorError::Resume(format!("engine state: {e}")))?;
                let values = fl_proto::le_bytes_to_f32s(&c.model)
                    .map_err(|e| CoordinatorError::Resume(format!("model: {e}")))?;
                if values.len() != layout.len() {
                    return Err(CoordinatorError::Resume(format!(
                        "the checkpoint model has {} parameters, {} has {}",
                        values.len(),
                        resolved.model,
                        layout.len()
                    )));
                }
                state.global = Params::new(values);
                for r in store.list_rounds(&cfg.run_id).await? {
                    if let Ok(rec) = serde_json::from_str::<RoundRecord>(&r.summary_json)
                        && rec.round <= state.completed_rounds
                    {
                        rounds.push(rec);
                    }
                }
                rounds.sort_by_key(|r| r.round);
                info!(
                    run_id = %cfg.run_id,
                    completed = state.completed_rounds,
                    "resuming from checkpoint"
                );
                RoundEngine::restore(
                    resolved.engine.clone(),
                    resolved.strategy.build(),
                    state,
                    noise,
                )
                .map_err(|e| CoordinatorError::Resume(e.to_string()))?
            }
            None => {
                let init = Params::new(resolved.model.init(cfg.seed));
                RoundEngine::new(
                    resolved.engine.clone(),
                    resolved.strategy.build(),
                    init,
                    noise,
                )
                .map_err(|e| CoordinatorError::Config(e.to_string()))?
            }
        };
        let resumed_rounds = engine.completed_rounds();

        // Encoded updates are at most ~4 bytes per value plus headers; 10 % slack.
        let max_update = fl_core::codec::max_encoded_len(resolved.codec, &layout) as u64;
        let max_update_bytes = max_update + max_update / 10 + 4096;

        let (cmd_tx, cmd_rx) = mpsc::channel::<Command>(1024);
        let initial = Snapshot {
            phase: RunPhase::Waiting,
            open_round: None,
            completed: engine.completed_rounds(),
            model_version: engine.model_version(),
            models: BTreeMap::new(),
            tasks: BTreeMap::new(),
            submitted: BTreeSet::new(),
            rounds: rounds.clone(),
            finished: None,
            paused: false,
            ledger: None,
            exhausted: BTreeSet::new(),
            model_files: Vec::new(),
        };
        let (snap_tx, snap_rx) = watch::channel(Arc::new(initial));
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            layout,
            codec: resolved.codec,
            max_update_bytes,
            sessions,
            store: store.clone(),
            started_unix: (fl_store::now_ms() / 1000).max(0) as u64,
            dp: resolved.engine.dp.clone(),
            commands: cmd_tx,
            snapshot: snap_rx,
            presence: Mutex::new(HashMap::new()),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            rejections: Mutex::new(BTreeMap::new()),
            evaluations: Mutex::new(Vec::new()),
            enrollments: match &cfg.security.clients_file {
                Some(f) => Some(crate::auth::Enrollments::load(f)?),
                None => None,
            },
            mtls: cfg
                .security
                .tls
                .as_ref()
                .is_some_and(|t| t.client_ca.is_some()),
            limiter: Mutex::new(crate::limits::RateLimiter::new(
                cfg.limits.requests_per_second_per_client,
                cfg.limits.request_burst,
            )),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let driver = Driver {
            engine,
            shared: shared.clone(),
            rx: cmd_rx,
            snap_tx,
            store,
            start: Instant::now(),
            eval,
            rounds,
            config_json,
            warnings: Vec::new(),
            models: BTreeMap::new(),
            tasks: BTreeMap::new(),
            submitted: BTreeSet::new(),
            open_round: None,
            round_started_ms: 0,
            finished: None,
            exhausted: BTreeSet::new(),
            model_files: Vec::new(),
            last_accuracy: None,
            last_loss: None,
            step_started: Instant::now(),
        };

        let grpc_listener = TcpListener::bind(&cfg.grpc.addr).await.map_err(|e| {
            CoordinatorError::Io(format!("cannot bind gRPC {}: {e}", cfg.grpc.addr))
        })?;
        let grpc_addr = grpc_listener.local_addr()?;
        let mut tasks = Vec::new();
        let svc = FederationServer::new(FederationService::new(shared.clone()))
            .max_decoding_message_size(cfg.limits.max_message_bytes)
            .max_encoding_message_size(cfg.limits.max_message_bytes);
        let grpc_tls = match &cfg.security.tls {
            Some(t) => {
                fl_tls::install_crypto_provider();
                Some(
                    fl_tls::server_tls(t)
                        .map_err(|e| CoordinatorError::Config(format!("security.tls: {e}")))?,
                )
            }
            None => None,
        };
        // HTTP is server-authenticated only: browsers and Prometheus carry no client
        // certificate; the REST API's own bearer key guards it.
        let http_tls = match &cfg.security.tls {
            Some(t) => {
                let t = fl_tls::TlsConfig {
                    client_ca: None,
                    ..t.clone()
                };
                Some(
                    fl_tls::rustls_server_config(&t)
                        .map_err(|e| CoordinatorError::Config(format!("security.tls: {e}")))?,
                )
            }
            None => None,
        };
        let max_streams = cfg.limits.max_concurrent_streams;
        let mut grpc_shutdown = shutdown_rx.clone();
        tasks.push(tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc_listener);
            let mut builder = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .max_concurrent_streams(Some(max_streams))
                .http2_keepalive_interval(Some(Duration::from_secs(30)))
                .http2_keepalive_timeout(Some(Duration::from_secs(20)));
            if let Some(tls) = grpc_tls {
                builder = match builder.tls_config(tls) {
                    Ok(b) => b,
                    Err(e) => {
                        warn!("gRPC TLS: {e}");
                        return;
                    }
                };
            }
            let r = builder
                .add_service(svc)
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = grpc_shutdown.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = r {
                warn!("gRPC server failed: {e}");
            }
        }));

        let http_addr = if cfg.http.addr.is_empty() {
            None
        } else {
            let l = TcpListener::bind(&cfg.http.addr).await.map_err(|e| {
                CoordinatorError::Io(format!("cannot bind HTTP {}: {e}", cfg.http.addr))
            })?;
            let addr = l.local_addr()?;
            let router = fl_api::router(
                Arc::new(crate::control::Control::new(shared.clone())),
                fl_api::ApiConfig {
                    admin_api_key: cfg.security.admin_api_key.clone(),
                    read_requires_key: cfg.security.read_requires_key,
                },
            );
            let mut http_shutdown = shutdown_rx.clone();
            tasks.push(tokio::spawn(async move {
                let stop = async move {
                    let _ = http_shutdown.wait_for(|s| *s).await;
                };
                let r = match http_tls {
                    Some(tls) => fl_tls::serve_axum_tls_with_shutdown(l, router, tls, stop).await,
                    None => axum::serve(l, router).with_graceful_shutdown(stop).await,
                };
                if let Err(e) = r {
                    warn!("HTTP server failed: {e}");
                }
            }));
            Some(addr)
        };

        tasks.push(tokio::spawn(presence_monitor(
            shared.clone(),
            shutdown_rx.clone(),
        )));
        let driver = tokio::spawn(driver.run(shutdown_rx));
        info!(%grpc_addr, http = ?http_addr, run_id = %cfg.run_id, db = %fl_store::redact_url(&db_url), "coordinator listening");
        Ok(Self {
            grpc_addr,
            http_addr,
            shared,
            resumed_rounds,
            shutdown,
            driver,
            tasks,
        })
    }

    /// Waits for the run to end, keeps serving `output.linger_secs` so clients learn it,
    /// then shuts the listeners down.
    pub async fn wait(self) -> Result<RunOutcome, CoordinatorError> {
        let Self {
            driver,
            shutdown,
            tasks,
            shared,
            ..
        } = self;
        let mut driver = driver;
        let outcome = tokio::select! {
            r = &mut driver => r,
            _ = tokio::signal::ctrl_c() => {
                info!("interrupted: stopping the run");
                let _ = shutdown.send(true);
                (&mut driver).await
            }
        }
        .map_err(|e| CoordinatorError::Io(format!("engine task failed: {e}")))?;
        tokio::time::sleep(Duration::from_secs_f64(shared.cfg.output.linger_secs)).await;
        let _ = shutdown.send(true);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        Ok(outcome)
    }

    /// Stops the run now (the open round is discarded) and waits for the report.
    pub async fn stop(self) -> Result<RunOutcome, CoordinatorError> {
        let _ = self.shared.commands.send(Command::Stop).await;
        self.wait().await
    }
}

/// Drops clients that missed `missed_heartbeats` heartbeat intervals.
async fn presence_monitor(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let s = &shared.cfg.sessions;
    let interval = Duration::from_millis(s.heartbeat_interval_ms);
    let limit = interval * s.missed_heartbeats;
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let gone: Vec<String> = match shared.presence.lock() {
            Ok(mut p) => {
                let now = Instant::now();
                let gone: Vec<String> = p
                    .iter()
                    .filter(|(_, c)| now.duration_since(c.last_seen) > limit)
                    .map(|(k, _)| k.clone())
                    .collect();
                for g in &gone {
                    p.remove(g);
                }
                gone
            }
            Err(_) => Vec::new(),
        };
        for client in gone {
            warn!(client = %client, "missed heartbeats: dropping the client");
            let _ = shared.commands.send(Command::Leave { client }).await;
        }
        shared.publish_client_gauges();
    }
}
