//! `transport: grpc` — the simulated federation through the real deployment stack.
//!
//! The in-process driver and the gRPC coordinator drive the same [`RoundEngine`] and their
//! clients train with the same `LocalTrainer`; this module runs a [`SimConfig`] through the
//! second path so that the two can be compared directly (`docs/DESIGN.md`, constraint 2,
//! "one code path"). On one multi-threaded tokio runtime it starts
//!
//! * an [`fl_coordinator::Coordinator`] bound to `127.0.0.1:0` (gRPC only, no HTTP), with
//!   SQLite metadata and its output files in a temporary directory, and
//! * one [`fl_client::Client`] per simulated client, `client-001` … (the ids the inproc
//!   driver uses), each talking to it over loopback gRPC (`GetTask` long polls, chunked
//!   model downloads with SHA-256 checks, encoded update uploads),
//!
//! waits for the run to end and returns the coordinator's [`RunReport`] (same schema as the
//! inproc report; `config` holds the [`SimConfig`] with the derived coordinator
//! configuration under `config.coordinator`).
//!
//! # Mapping
//!
//! | `SimConfig` | coordinator / client |
//! |---|---|
//! | `clients` | `min_clients` (when `fraction` = 1); client ids `client-001…`; `data.num_partitions` |
//! | `rounds`, `fraction`, `seed`, `strategy`, `codec` | same keys |
//! | `local_epochs`, `batch_size`, `lr`, `momentum`, `nesterov` | same keys (sent to clients in each task) |
//! | `model`, `activation` | same keys on both sides |
//! | `dataset`, `data_dir` | `evaluation.dataset`/`data_dir`, client `data.dataset`/`data_dir` |
//! | `partition` | client `data.partition`, `data.index` = i |
//! | `dp`, `epsilon`, `delta`, `max_grad_norm`, `noise_multiplier`, `accountant`, `conversion` | `privacy.*` |
//! | `train_limit` | the shards handed to the clients (below) |
//! | `test_limit` | `evaluation.max_examples` |
//! | `report`, `model_out` | fl-sim writes the report; `output.model` |
//! | `attack` | client `attack` (its kind, e.g. `sign-flip`) on the same malicious clients |
//! | `user_dp`, `backend: burn`, `seeded_noise` with `dp` | refused ([`check_supported`]) |
//!
//! # What lines up, and why the accuracies agree
//!
//! * **Shards.** The training set is loaded and cut exactly as the inproc driver does (the
//!   first `train_limit` images, then `fl_data::partition(labels, clients, partition, seed)`),
//!   and client i gets shard i as its `Worker`'s data. `fl-client`'s own loader cannot do
//!   this for `train_limit`: its `data.max_examples` truncates each shard *of the full
//!   training set*, which selects different (and, for the same number, more) images. Without
//!   `train_limit` the shard is exactly the one `fl-client` loads from the [`client_config`]
//!   (`data.partition`, `num_partitions = clients`, `index = i`, same seed); a test checks it.
//! * **Engine.** Same seed, rounds, plan, strategy, codec and DP plan, so the same initial
//!   model (`model.init(seed)`), the same client sample per `(seed, round, attempt)` and the
//!   same per-task training seeds. The coordinator's `min_clients` is both the number of
//!   clients it waits for and the sampling floor, while the inproc driver waits for all
//!   clients and samples at least one; so rounds are held back (the engine is paused) until
//!   every client is in the pool, and with `fraction` < 1 `min_clients` is 1.
//! * **Attacks.** The malicious clients are `AttackSpec::malicious_clients(clients, seed)`,
//!   the set the inproc driver poisons; their `fl-client`s run the attack (`ClientConfig::attack`)
//!   on the delta before encoding, as inproc. `scale` and `sign-flip` are deterministic;
//!   `noise` draws from the task seed instead of the inproc driver's shared stream.
//! * **DP.** σ is `noise_multiplier` or derived from ε for the smallest shard over all
//!   rounds (`privacy.expected_client_examples` = smallest shard), as inproc. Noise comes from
//!   the OS CSPRNG on both paths, so DP runs agree only statistically.
//!
//! What still differs: updates are folded into the aggregate in arrival order rather than
//! client-id order (float summation order), stochastic codecs (int8, top-k) draw their
//! rounding from per-task seeds instead of one shared stream, clients train concurrently,
//! and wall times include the network stack and the SQLite checkpoints.
//!
//! [`RoundEngine`]: fl_core::engine::RoundEngine

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fl_client::{Client, ClientConfig, ClientError, ClientSummary, Worker};
use fl_coordinator::state::{Command, Shared, Snapshot};
use fl_coordinator::{Coordinator, CoordinatorConfig};
use fl_core::report::RunReport;
use fl_core::robust::AttackSpec;
use fl_data::{Dataset, Locator, Split};
use fl_ml::{LocalData, ModelSpec};
use tokio::task::JoinSet;

use crate::SimError;
use crate::config::SimConfig;
use crate::driver::{Observer, RoundRow, write_report};

/// How long the clients may take to load and register before the run is given up.
const ADMISSION_TIMEOUT: Duration = Duration::from_secs(120);

/// Refuses settings that have no equivalent in the coordinator or the clients, rather than
/// silently running something else. Called by [`SimConfig::validate`] for `transport: grpc`.
pub fn check_supported(cfg: &SimConfig) -> Result<(), SimError> {
    let refuse = |what: String, why: &str| {
        Err(SimError::Config(format!(
            "{what} is not supported with transport grpc: {why}; use --transport inproc"
        )))
    };
    if cfg.user_dp {
        return refuse(
            "user_dp".into(),
            "fl-coordinator has no user-level DP-FedAvg",
        );
    }
    if cfg.backend.parse::<fl_ml::Backend>().ok() != Some(fl_ml::Backend::Native) {
        return refuse(
            format!("backend `{}`", cfg.backend),
            "fl-client and the coordinator's evaluator train with the native kernels only",
        );
    }
    if cfg.dp && cfg.seeded_noise {
        return refuse(
            "seeded_noise".into(),
            "fl-client always draws DP noise from the OS CSPRNG",
        );
    }
    Ok(())
}

/// The id of client `index` (0-based): `client-001`, … as in the inproc driver.
pub fn client_id(index: usize) -> String {
    format!("client-{:03}", index + 1)
}

/// The coordinator configuration of `cfg`: gRPC on `127.0.0.1:0`, no HTTP, SQLite and output
/// files under `work_dir`, evaluation on `data_dir`. `smallest_shard` sizes the DP noise when
/// `noise_multiplier` is not given, as the inproc driver does.
pub fn coordinator_config(
    cfg: &SimConfig,
    work_dir: &Path,
    data_dir: &Path,
    smallest_shard: usize,
) -> CoordinatorConfig {
    let mut c = CoordinatorConfig {
        run_id: "fl-sim".into(),
        rounds: cfg.rounds,
        fraction: cfg.fraction,
        // With fraction 1 every client is sampled either way; below 1, min_clients is also the
        // sampling floor, which the inproc driver keeps at 1 (see the module docs).
        min_clients: if cfg.fraction >= 1.0 { cfg.clients } else { 1 },
        quorum: 1.0,
        min_updates: 1,
        // Like inproc: a round waits for every selected client (the driver stops the run if
        // a client fails).
        round_timeout_secs: 24.0 * 3600.0,
        max_attempts: 3,
        seed: cfg.seed,
        model: cfg.model.clone(),
        activation: cfg.activation.clone(),
        strategy: cfg.strategy.clone(),
        local_epochs: cfg.local_epochs,
        batch_size: cfg.batch_size,
        lr: cfg.lr,
        momentum: cfg.momentum,
        nesterov: cfg.nesterov,
        lr_schedule: cfg.lr_schedule.clone(),
        codec: cfg.codec.clone(),
        max_update_norm: None,
        ..CoordinatorConfig::default()
    };
    c.grpc.addr = "127.0.0.1:0".into();
    c.http.addr = String::new();
    c.adaptive.target_round_seconds = None;
    let dp = &mut c.privacy;
    dp.enabled = cfg.dp;
    dp.epsilon = cfg.epsilon;
    dp.delta = cfg.delta;
    dp.max_grad_norm = cfg.max_grad_norm;
    dp.noise_multiplier = cfg.noise_multiplier;
    dp.accountant = cfg.accountant.clone();
    dp.conversion = cfg.conversion.clone();
    dp.expected_client_examples = smallest_shard.max(1) as u64;
    c.evaluation.dataset = cfg.dataset.clone();
    c.evaluation.data_dir = Some(data_dir.to_path_buf());
    c.evaluation.max_examples = cfg.test_limit.unwrap_or(0);
    c.database.url = Some(format!("sqlite://{}", work_dir.join("fl.db").display()));
    c.redis.url = None;
    // Fast heartbeats admit the clients quickly; a generous miss allowance keeps a client
    // whose heartbeats queue behind training on a busy machine.
    c.sessions.ttl_secs = 600;
    c.sessions.heartbeat_interval_ms = 500;
    c.sessions.missed_heartbeats = 120;
    c.output.dir = work_dir.to_path_buf();
    c.output.report = Some(work_dir.join("report.json"));
    c.output.model = Some(
        cfg.model_out
            .clone()
            .unwrap_or_else(|| work_dir.join("model.safetensors")),
    );
    c.output.linger_secs = 0.5;
    c
}

/// The configuration of client `index` (0-based) talking to `coordinator` (an `http://` URL).
/// Its `data` section names the shard `fl-client` would load itself (`partition`,
/// `num_partitions = clients`, `index`, `seed`); [`run`] hands the shard over directly so that
/// `train_limit` applies as in the inproc driver (see the module docs).
pub fn client_config(
    cfg: &SimConfig,
    index: usize,
    coordinator: &str,
    data_dir: &Path,
) -> ClientConfig {
    // The same malicious clients as inproc; the spec was checked by `validate`.
    let attack = cfg
        .attack
        .as_deref()
        .and_then(|a| a.parse::<AttackSpec>().ok())
        .filter(|a| a.malicious_clients(cfg.clients, cfg.seed).contains(&index))
        .map(|a| a.attack.to_string());
    let mut c = ClientConfig {
        coordinator: coordinator.into(),
        model: cfg.model.clone(),
        activation: cfg.activation.clone(),
        seed: cfg.seed,
        // No adaptive plans in fl-sim: skip the throughput probe.
        warmup_steps: 0,
        long_poll_ms: 1000,
        attack,
        ..ClientConfig::default()
    };
    c.data.dataset = cfg.dataset.clone();
    c.data.data_dir = Some(data_dir.to_path_buf());
    c.data.partition = cfg.partition.clone();
    c.data.num_partitions = cfg.clients;
    c.data.index = Some(index);
    c.data.max_examples = 0;
    c
}

/// Locates the data set and cuts the training set into the clients' shards exactly as the
/// inproc driver does: the first `train_limit` images, partitioned over `clients` with
/// `partition` and `seed`. Returns the data directory and one shard per client.
pub fn load_shards(cfg: &SimConfig) -> Result<(PathBuf, Vec<LocalData>), SimError> {
    let p = cfg.validate()?;
    let dir = Locator::from_env(cfg.data_dir.clone()).locate(p.dataset)?;
    let mut train = Dataset::load_dir(&dir, p.dataset, Split::Train)?;
    if let Some(n) = cfg.train_limit {
        train = train.subset(&(0..n.min(train.len())).collect::<Vec<_>>())?;
    }
    let parts = fl_data::partition(train.labels(), cfg.clients, &p.partition, cfg.seed)?;
    let shards = parts
        .iter()
        .map(|idx| Ok(LocalData::from_dataset(&train.subset(idx)?)))
        .collect::<Result<Vec<_>, fl_data::Error>>()?;
    Ok((dir, shards))
}

/// Runs `cfg` through a coordinator and clients over loopback gRPC and returns the
/// coordinator's report (written to `cfg.report` when set). Builds its own tokio runtime.
pub fn run(cfg: &SimConfig, obs: &mut dyn Observer) -> Result<RunReport, SimError> {
    let p = cfg.validate()?;
    let started = Instant::now();
    let (data_dir, shards) = load_shards(cfg)?;
    let work = tempfile::Builder::new()
        .prefix("fl-sim-grpc-")
        .tempdir()
        .map_err(|e| SimError::Output(format!("temporary directory: {e}")))?;
    let smallest = shards.iter().map(LocalData::len).min().unwrap_or(1);
    let ccfg = coordinator_config(cfg, work.path(), &data_dir, smallest);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fl-sim-grpc")
        .build()
        .map_err(|e| SimError::Transport(format!("tokio runtime: {e}")))?;
    let result = rt.block_on(federate(cfg, p.model, ccfg, &data_dir, shards, obs));
    rt.shutdown_timeout(Duration::from_secs(5));
    let mut report = result?;
    let mut config = serde_json::to_value(cfg).unwrap_or_default();
    if let serde_json::Value::Object(m) = &mut config {
        m.insert("coordinator".into(), std::mem::take(&mut report.config));
    }
    report.config = config;
    report.total_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &cfg.report {
        write_report(path, &report)?;
    }
    Ok(report)
}

type ClientTasks = JoinSet<(String, Result<ClientSummary, ClientError>)>;

/// The federation itself, on the runtime: coordinator, clients, admission, progress.
async fn federate(
    cfg: &SimConfig,
    model: ModelSpec,
    ccfg: CoordinatorConfig,
    data_dir: &Path,
    shards: Vec<LocalData>,
    obs: &mut dyn Observer,
) -> Result<RunReport, SimError> {
    let transport =
        |what: &str, e: &dyn std::fmt::Display| SimError::Transport(format!("{what}: {e}"));
    let coord = Coordinator::start(ccfg)
        .await
        .map_err(|e| transport("coordinator", &e))?;
    let shared = coord.shared.clone();
    // Hold rounds back until every client is in the pool (sent before any client exists, so
    // the engine sees it before any join).
    shared
        .commands
        .send(Command::Pause)
        .await
        .map_err(|e| transport("coordinator", &e))?;
    let url = format!("http://{}", coord.grpc_addr);
    let wait = coord.wait();
    tokio::pin!(wait);

    let mut clients: ClientTasks = JoinSet::new();
    let mut ids = Vec::with_capacity(shards.len());
    let mut setup = Ok(());
    for (i, shard) in shards.into_iter().enumerate() {
        let id = client_id(i);
        let c = client_config(cfg, i, &url, data_dir);
        let worker = c
            .validate()
            .and_then(|()| {
                let mut w = Worker::real(model, shard)?;
                // What `Client::from_config` does with `attack`.
                w.attack = c.attack.as_deref().map(str::parse).transpose().map_err(
                    |e: fl_core::ConfigError| ClientError::Config(format!("attack: {e}")),
                )?;
                Ok(w)
            })
            .map_err(|e| SimError::Config(format!("{id}: {e}")));
        match worker {
            Ok(w) => {
                let client = Client::new(c, id.clone(), w);
                let id2 = id.clone();
                clients.spawn(async move { (id2, client.run().await) });
                ids.push(id);
            }
            Err(e) => {
                setup = Err(e);
                break;
            }
        }
    }
    if let Err(e) = match setup {
        Ok(()) => admit_all(&shared, &ids, &mut clients).await,
        Err(e) => Err(e),
    } {
        let _ = shared.commands.send(Command::Stop).await;
        let _ = wait.await;
        clients.abort_all();
        return Err(e);
    }
    shared
        .commands
        .send(Command::Resume)
        .await
        .map_err(|e| transport("coordinator", &e))?;

    let mut snaps = shared.snapshot.clone();
    let mut snaps_open = true;
    let mut progress = Progress::default();
    let mut client_error: Option<String> = None;
    let outcome = loop {
        tokio::select! {
            r = &mut wait => break r,
            changed = snaps.changed(), if snaps_open => match changed {
                Ok(()) => {
                    let s = snaps.borrow_and_update().clone();
                    progress.observe(&s, obs);
                }
                Err(_) => snaps_open = false,
            },
            Some(done) = clients.join_next(), if !clients.is_empty() => {
                if let Some(e) = client_failure(done) {
                    // A client that gave up would leave its round waiting: end the run.
                    client_error.get_or_insert(e);
                    let _ = shared.commands.send(Command::Stop).await;
                }
            }
        }
    };
    let outcome = outcome.map_err(|e| transport("coordinator", &e))?;
    progress.observe(&shared.snap(), obs);

    // The clients learn that the run is over while the coordinator lingers; give stragglers a
    // moment, then drop them.
    let mut late = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(done) = clients.join_next().await {
            late.extend(client_failure(done));
        }
    })
    .await;
    clients.abort_all();

    let mut report = outcome.report;
    if let Some(e) = client_error {
        if report.outcome != "completed" {
            return Err(SimError::Transport(format!(
                "client failed and the run was stopped: {e}"
            )));
        }
        late.push(e);
    }
    for e in late {
        report
            .warnings
            .push(format!("client ended with an error: {e}"));
    }
    for w in &report.warnings {
        obs.warn(w);
    }
    Ok(report)
}

/// The error of a finished client task, if it failed.
fn client_failure(
    done: Result<(String, Result<ClientSummary, ClientError>), tokio::task::JoinError>,
) -> Option<String> {
    match done {
        Ok((_, Ok(_))) => None,
        Ok((id, Err(e))) => Some(format!("{id}: {e}")),
        Err(e) => Some(format!("client task: {e}")),
    }
}

/// Waits until every client of `ids` is in the engine's pool.
///
/// A client is in the pool once the coordinator has queued its `Join`, which happens after it
/// appears in `presence` and before its `Register` call returns. Any later request of the
/// same client (its first `GetTask` or heartbeat) refreshes `last_seen`; seeing that, the
/// `Join` is queued, and a `Resume` sent now reaches the engine after it (the engine's inbox
/// is FIFO).
async fn admit_all(
    shared: &Shared,
    ids: &[String],
    clients: &mut ClientTasks,
) -> Result<(), SimError> {
    let deadline = Instant::now() + ADMISSION_TIMEOUT;
    let mut first_seen: HashMap<&str, Instant> = HashMap::new();
    loop {
        let admitted = {
            let presence = shared
                .presence
                .lock()
                .map_err(|_| SimError::Transport("coordinator state poisoned".into()))?;
            let mut n = 0;
            for id in ids {
                if let Some(p) = presence.get(id) {
                    let first = *first_seen.entry(id.as_str()).or_insert(p.last_seen);
                    if p.last_seen > first {
                        n += 1;
                    }
                }
            }
            n
        };
        if admitted == ids.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(SimError::Transport(format!(
                "only {admitted} of {} clients registered within {} s",
                ids.len(),
                ADMISSION_TIMEOUT.as_secs()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            Some(done) = clients.join_next(), if !clients.is_empty() => {
                let why = client_failure(done).unwrap_or_else(|| "a client ended".into());
                return Err(SimError::Transport(format!(
                    "{why} before the run started"
                )));
            }
        }
    }
}

/// Turns coordinator snapshots into [`Observer`] calls.
#[derive(Debug, Default)]
struct Progress {
    completed: usize,
    open: Option<u64>,
    selected: usize,
    trained: usize,
}

impl Progress {
    fn observe(&mut self, s: &Snapshot, obs: &mut dyn Observer) {
        for r in s.rounds.iter().skip(self.completed) {
            obs.round_completed(&RoundRow { record: r.clone() });
        }
        self.completed = self.completed.max(s.rounds.len());
        let Some(round) = s.open_round else {
            return;
        };
        if self.open != Some(round) {
            self.open = Some(round);
            self.selected = s.tasks.len() + s.submitted.len();
            self.trained = 0;
            obs.round_started(round, self.selected);
        }
        if s.submitted.len() > self.trained {
            self.trained = s.submitted.len();
            obs.client_trained(round, self.trained, self.selected);
        }
    }
}
