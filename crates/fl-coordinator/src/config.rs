//! The coordinator's YAML configuration (`config/coordinator.yaml` documents every key).
//!
//! Unknown keys are rejected and every value is checked by [`CoordinatorConfig::validate`]
//! before anything starts, so a typo fails fast with a message naming the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fl_core::adapt::TrainPlan;
use fl_core::codec::CodecSpec;
use fl_core::engine::{DpPlan, EngineConfig};
use fl_core::privacy::{AccountantKind, Conversion, noise_multiplier_for};
use fl_core::sampling::Sampling;
use fl_core::strategies::StrategySpec;
use fl_ml::ModelSpec;
use serde::{Deserialize, Serialize};

use crate::error::CoordinatorError;

/// Whole coordinator configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinatorConfig {
    /// Run identifier: the key of the run in the database (same id = resume).
    pub run_id: String,
    /// gRPC listener.
    pub grpc: GrpcConfig,
    /// HTTP listener (REST, dashboard, metrics).
    pub http: HttpConfig,
    /// Rounds to complete.
    pub rounds: u64,
    /// Fraction of available clients selected per round, in (0, 1].
    pub fraction: f64,
    /// Clients that must be registered before a round starts (also the minimum sampled).
    pub min_clients: usize,
    /// Fraction of selected clients whose updates suffice at the round deadline, in (0, 1].
    pub quorum: f64,
    /// Absolute minimum number of updates for a round to count.
    pub min_updates: usize,
    /// Seconds a round may take before the quorum rule applies.
    pub round_timeout_secs: f64,
    /// Attempts per round before the run is aborted.
    pub max_attempts: u32,
    /// Seed of sampling, initial model and per-task seeds.
    pub seed: u64,
    /// Model: `cnn-small`, `cnn-fedavg` or `scatter-linear`.
    pub model: String,
    /// Activation: `tanh` or `relu`.
    pub activation: String,
    /// Strategy spec (`fedavg`, `fedprox:<mu>`, `fedadam`, `median`, `krum:<f>`, ...).
    pub strategy: String,
    /// Local epochs per round.
    pub local_epochs: u32,
    /// Local mini-batch size.
    pub batch_size: u32,
    /// Local SGD learning rate.
    pub lr: f64,
    /// Local SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum for local SGD (no effect when `momentum` is 0).
    pub nesterov: bool,
    /// Learning-rate schedule over rounds: `constant`, `cosine` or `exp:<gamma>`.
    pub lr_schedule: String,
    /// Update codec (`none`, `fp16`, `int8`, `topk:0.01+int8`, ...).
    pub codec: String,
    /// Reject updates whose L2 norm exceeds this (null = no bound).
    pub max_update_norm: Option<f64>,
    /// Adaptive per-client plans.
    pub adaptive: AdaptiveConfig,
    /// Record-level DP-SGD on the clients.
    pub privacy: PrivacyConfig,
    /// Server-side evaluation of the global model.
    pub evaluation: EvaluationConfig,
    /// Metadata database.
    pub database: DatabaseConfig,
    /// Session store.
    pub redis: RedisConfig,
    /// Sessions and heartbeats.
    pub sessions: SessionsConfig,
    /// Where results go.
    pub output: OutputConfig,
    /// Size and time limits.
    pub limits: LimitsConfig,
    /// Access control of the HTTP API.
    pub security: SecurityConfig,
}

/// gRPC listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `HOST:PORT` (port 0 = any free port).
    pub addr: String,
}

/// HTTP listener.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `HOST:PORT`; empty = no HTTP server.
    pub addr: String,
}

/// Adaptive plans.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveConfig {
    /// Target round seconds; slow clients get a step cap (null = off).
    pub target_round_seconds: Option<f64>,
}

/// Record-level DP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Turns DP-SGD on.
    pub enabled: bool,
    /// ε budget per client for the whole run.
    pub epsilon: f64,
    /// δ.
    pub delta: f64,
    /// Per-example clipping norm C.
    pub max_grad_norm: f64,
    /// Noise multiplier σ; null = derived from ε, δ and the planned steps.
    pub noise_multiplier: Option<f64>,
    /// `rdp` or `prv`.
    pub accountant: String,
    /// RDP conversion: `balle` or `classic`.
    pub conversion: String,
    /// Examples per client assumed when deriving σ.
    pub expected_client_examples: u64,
}

/// Evaluation of the global model after each round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// `mnist`, `fashion-mnist`, or empty for no evaluation.
    pub dataset: String,
    /// Directory of the data set (null = FL_DATA_DIR and the usual places).
    pub data_dir: Option<PathBuf>,
    /// Evaluate on the first N test images (0 = all).
    pub max_examples: usize,
}

/// Metadata database.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; null = SQLite at `<output.dir>/<run_id>/fl.db`.
    pub url: Option<String>,
}

/// Session store.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://…`; null = sessions in memory.
    pub url: Option<String>,
}

/// Sessions and presence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// Session lifetime after the last heartbeat, seconds.
    pub ttl_secs: u64,
    /// Heartbeat period asked of clients, milliseconds.
    pub heartbeat_interval_ms: u64,
    /// A client missing this many heartbeat intervals is dropped.
    pub missed_heartbeats: u32,
}

/// Output files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Base directory; run files go to `<dir>/<run_id>/`.
    pub dir: PathBuf,
    /// JSON run report (null = `<dir>/<run_id>/report.json`).
    pub report: Option<PathBuf>,
    /// Final model as safetensors (null = `<dir>/<run_id>/model.safetensors`).
    pub model: Option<PathBuf>,
    /// Seconds to keep serving after the run ends, so clients learn it finished.
    pub linger_secs: f64,
}

/// Limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest gRPC message the server decodes, bytes.
    pub max_message_bytes: usize,
    /// Longest GetTask long poll, milliseconds.
    pub max_long_poll_ms: u64,
    /// Requests per second each client may make (token bucket; 0 = unlimited).
    pub requests_per_second_per_client: f64,
    /// Burst of requests a client may make above the rate.
    pub request_burst: u32,
    /// HTTP/2 streams (concurrent RPCs) per connection.
    pub max_concurrent_streams: u32,
    /// An update stream that sends nothing for this long is cut off, milliseconds.
    pub stream_idle_timeout_ms: u64,
}

/// Access control: the HTTP API key, client enrollment and TLS.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Bearer key for control commands (null = control API disabled).
    pub admin_api_key: Option<String>,
    /// Also require the admin key on the REST read routes (probes, `/metrics` and the
    /// dashboard page stay open).
    pub read_requires_key: bool,
    /// YAML file of enrolled clients (`client_id: {token_sha256, expires_unix, revoked}`);
    /// null = any client id may register (development only).
    pub clients_file: Option<PathBuf>,
    /// TLS for gRPC and HTTP (null = plaintext). With `client_ca`, gRPC requires a client
    /// certificate whose identity equals the registering client id (mutual TLS); HTTP stays
    /// server-authenticated only and relies on the admin key.
    pub tls: Option<fl_tls::TlsConfig>,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            run_id: "fl-run".into(),
            grpc: GrpcConfig::default(),
            http: HttpConfig::default(),
            rounds: 5,
            fraction: 1.0,
            min_clients: 2,
            quorum: 1.0,
            min_updates: 1,
            round_timeout_secs: 300.0,
            max_attempts: 3,
            seed: 42,
            model: "cnn-small".into(),
            activation: "tanh".into(),
            strategy: "fedavg".into(),
            local_epochs: 1,
            batch_size: 32,
            lr: 0.05,
            momentum: 0.0,
            nesterov: false,
            lr_schedule: "constant".into(),
            codec: "none".into(),
            max_update_norm: None,
            adaptive: AdaptiveConfig::default(),
            privacy: PrivacyConfig::default(),
            evaluation: EvaluationConfig::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            sessions: SessionsConfig::default(),
            output: OutputConfig::default(),
            limits: LimitsConfig::default(),
            security: SecurityConfig::default(),
        }
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:50051".into(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
        }
    }
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            epsilon: 8.0,
            delta: 1e-5,
            max_grad_norm: 1.0,
            noise_multiplier: None,
            accountant: "rdp".into(),
            conversion: "balle".into(),
            expected_client_examples: 6000,
        }
    }
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            dataset: "mnist".into(),
            data_dir: None,
            max_examples: 0,
        }
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 60,
            heartbeat_interval_ms: 2000,
            missed_heartbeats: 5,
        }
    }
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runs"),
            report: None,
            model: None,
            linger_secs: 3.0,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 << 20,
            max_long_poll_ms: 10_000,
            requests_per_second_per_client: 20.0,
            request_burst: 40,
            max_concurrent_streams: 64,
            stream_idle_timeout_ms: 30_000,
        }
    }
}

/// Everything derived from a validated configuration.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Engine settings.
    pub engine: EngineConfig,
    /// Strategy.
    pub strategy: StrategySpec,
    /// Model.
    pub model: ModelSpec,
    /// Update codec.
    pub codec: CodecSpec,
}

impl CoordinatorConfig {
    /// Reads and validates a YAML file.
    pub fn load(path: &Path) -> Result<Self, CoordinatorError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CoordinatorError::Config(format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_yaml(&text)
            .map_err(|e| CoordinatorError::Config(format!("{}: {e}", path.display())))
    }

    /// Parses YAML (unknown keys are errors); does not validate.
    pub fn from_yaml(text: &str) -> Result<Self, CoordinatorError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_saphyr::from_str(text).map_err(|e| CoordinatorError::Config(e.to_string()))
    }

    /// Directory of this run's files.
    pub fn run_dir(&self) -> PathBuf {
        self.output.dir.join(&self.run_id)
    }

    /// Report path.
    pub fn report_path(&self) -> PathBuf {
        self.output
            .report
            .clone()
            .unwrap_or_else(|| self.run_dir().join("report.json"))
    }

    /// Final model path.
    pub fn model_path(&self) -> PathBuf {
        self.output
            .model
            .clone()
            .unwrap_or_else(|| self.run_dir().join("model.safetensors"))
    }

    /// Database URL (default: SQLite in the run directory).
    pub fn database_url(&self) -> String {
        match self.database.url.as_deref() {
            Some(u) if !u.is_empty() => u.to_string(),
            _ => format!("sqlite://{}", self.run_dir().join("fl.db").display()),
        }
    }

    /// Checks every value and derives the engine configuration.
    pub fn validate(&self) -> Result<Resolved, CoordinatorError> {
        let bad = |m: String| Err(CoordinatorError::Config(m));
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !id_ok(&self.run_id) {
            return bad(format!(
                "run_id must be 1-128 characters of [A-Za-z0-9._-], got {:?}",
                self.run_id
            ));
        }
        if self.grpc.addr.parse::<std::net::SocketAddr>().is_err() {
            return bad(format!(
                "grpc.addr must be HOST:PORT, got {:?}",
                self.grpc.addr
            ));
        }
        if !self.http.addr.is_empty() && self.http.addr.parse::<std::net::SocketAddr>().is_err() {
            return bad(format!(
                "http.addr must be HOST:PORT, got {:?}",
                self.http.addr
            ));
        }
        if !(self.round_timeout_secs.is_finite() && self.round_timeout_secs > 0.0) {
            return bad(format!(
                "round_timeout_secs must be positive, got {}",
                self.round_timeout_secs
            ));
        }
        if self.min_clients == 0 {
            return bad("min_clients must be at least 1".into());
        }
        if self.sessions.heartbeat_interval_ms == 0 || self.sessions.missed_heartbeats == 0 {
            return bad(
                "sessions.heartbeat_interval_ms and missed_heartbeats must be positive".into(),
            );
        }
        if self.sessions.ttl_secs == 0 {
            return bad("sessions.ttl_secs must be positive".into());
        }
        if self.limits.max_message_bytes < (1 << 20) {
            return bad(format!(
                "limits.max_message_bytes must be at least 1 MiB (chunks are 1 MiB), got {}",
                self.limits.max_message_bytes
            ));
        }
        if let Some(f) = &self.security.clients_file {
            crate::auth::Enrollments::load(f)?;
        }
        if let Some(t) = &self.security.tls {
            for (key, p) in [
                ("cert", Some(&t.cert)),
                ("key", Some(&t.key)),
                ("client_ca", t.client_ca.as_ref()),
            ] {
                if let Some(p) = p
                    && !p.is_file()
                {
                    return bad(format!("security.tls.{key}: no file at {}", p.display()));
                }
            }
        }
        let l = &self.limits;
        if !(l.requests_per_second_per_client.is_finite()
            && l.requests_per_second_per_client >= 0.0)
            || l.request_burst == 0
            || l.max_concurrent_streams == 0
            || l.stream_idle_timeout_ms == 0
        {
            return bad("limits: requests_per_second_per_client must be ≥ 0, request_burst, max_concurrent_streams and stream_idle_timeout_ms positive".into());
        }
        if !(self.output.linger_secs.is_finite() && self.output.linger_secs >= 0.0) {
            return bad("output.linger_secs must be ≥ 0".into());
        }
        if let Some(t) = self.adaptive.target_round_seconds
            && !(t.is_finite() && t > 0.0)
        {
            return bad(format!(
                "adaptive.target_round_seconds must be positive, got {t}"
            ));
        }
        if !self.evaluation.dataset.is_empty() {
            self.evaluation
                .dataset
                .parse::<fl_data::DatasetName>()
                .map_err(|e| CoordinatorError::Config(format!("evaluation.dataset: {e}")))?;
        }
        let model = ModelSpec::parse(&self.model, &self.activation)
            .map_err(|e| CoordinatorError::Config(format!("model/activation: {e}")))?;
        let strategy: StrategySpec = self
            .strategy
            .parse()
            .map_err(|e| CoordinatorError::Config(format!("strategy: {e}")))?;
        let codec: CodecSpec = self
            .codec
            .parse()
            .map_err(|e| CoordinatorError::Config(format!("codec: {e}")))?;
        let plan = TrainPlan {
            local_epochs: self.local_epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            max_steps: None,
            proximal_mu: 0.0,
        };
        let dp = if self.privacy.enabled {
            Some(self.dp_plan(&plan)?)
        } else {
            None
        };
        let engine = EngineConfig {
            rounds: self.rounds,
            sampling: Sampling::Fraction {
                fraction: self.fraction,
                min_clients: self.min_clients,
            },
            min_available: self.min_clients,
            quorum: self.quorum,
            min_updates: self.min_updates,
            round_timeout: Duration::from_secs_f64(self.round_timeout_secs),
            max_attempts: self.max_attempts,
            seed: self.seed,
            plan,
            target_round_seconds: self.adaptive.target_round_seconds,
            max_update_norm: self.max_update_norm,
            dp,
            lr_schedule: self
                .lr_schedule
                .parse()
                .map_err(|e: String| CoordinatorError::Config(e))?,
        };
        engine
            .validate()
            .map_err(|e| CoordinatorError::Config(e.to_string()))?;
        Ok(Resolved {
            engine,
            strategy,
            model,
            codec,
        })
    }

    fn dp_plan(&self, plan: &TrainPlan) -> Result<DpPlan, CoordinatorError> {
        let p = &self.privacy;
        let cfg = |m: String| CoordinatorError::Config(m);
        let accountant: AccountantKind = p
            .accountant
            .parse()
            .map_err(|e| cfg(format!("privacy.accountant: {e}")))?;
        let conversion: Conversion = p
            .conversion
            .parse()
            .map_err(|e| cfg(format!("privacy.conversion: {e}")))?;
        let noise_multiplier = match p.noise_multiplier {
            Some(s) => s,
            None => {
                let n = p.expected_client_examples.max(1);
                let q = (f64::from(plan.batch_size) / n as f64).min(1.0);
                let steps = plan.steps(n).max(1) * self.rounds.max(1);
                noise_multiplier_for(p.epsilon, p.delta, q, steps, accountant, conversion)
                    .map_err(|e| cfg(format!("privacy: cannot derive noise_multiplier: {e}")))?
            }
        };
        Ok(DpPlan {
            noise_multiplier,
            max_grad_norm: p.max_grad_norm,
            epsilon: p.epsilon,
            delta: p.delta,
            accountant,
            conversion,
        })
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)] // one changed field per case reads best
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_unknown_keys_fail() {
        let c = CoordinatorConfig::from_yaml("rounds: 3\nprivacy:\n  epsilon: 4.0\n").unwrap();
        assert_eq!(c.rounds, 3);
        assert!(c.validate().is_ok());
        assert!(CoordinatorConfig::from_yaml("roundz: 3\n").is_err());
        assert!(CoordinatorConfig::from_yaml("privacy:\n  epsilonn: 1\n").is_err());
    }

    #[test]
    fn nesterov_key_reaches_the_plan_and_bad_values_are_refused() {
        let c = CoordinatorConfig::from_yaml("momentum: 0.9\nnesterov: true\n").unwrap();
        let r = c.validate().unwrap();
        assert!(r.engine.plan.nesterov);
        assert_eq!(r.engine.plan.momentum, 0.9);
        assert!(
            !CoordinatorConfig::default()
                .validate()
                .unwrap()
                .engine
                .plan
                .nesterov
        );
        let e = CoordinatorConfig::from_yaml("nesterov: maybe\n").unwrap_err();
        assert!(
            e.to_string().contains("nesterov") || e.to_string().contains("bool"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = CoordinatorConfig::default();
        c.codec = "zip".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("codec"), "{e}");
        let mut c = CoordinatorConfig::default();
        c.quorum = 1.5;
        assert!(c.validate().unwrap_err().to_string().contains("quorum"));
        let mut c = CoordinatorConfig::default();
        c.model = "resnet".into();
        assert!(c.validate().unwrap_err().to_string().contains("model"));
        let mut c = CoordinatorConfig::default();
        c.lr_schedule = "exp:3".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("lr_schedule")
        );
        let mut c = CoordinatorConfig::default();
        c.lr_schedule = "cosine".into();
        c.model = "scatter-linear".into();
        let r = c.validate().unwrap();
        assert_eq!(r.engine.lr_schedule, fl_core::adapt::LrSchedule::Cosine);
    }

    #[test]
    fn dp_derives_sigma() {
        let mut c = CoordinatorConfig::default();
        c.privacy.enabled = true;
        let r = c.validate().unwrap();
        let dp = r.engine.dp.unwrap();
        assert!(
            dp.noise_multiplier > 0.3 && dp.noise_multiplier < 10.0,
            "{}",
            dp.noise_multiplier
        );
    }
}
