//! Simulation configuration: a YAML file (`--config config/sim.yaml`) whose
//! every key is also a command-line flag; flags win over the file.

use fl_core::adapt::LrSchedule;
use std::path::{Path, PathBuf};

use clap::Args;
use fl_core::codec::CodecSpec;
use fl_core::privacy::{AccountantKind, Conversion};
use fl_core::robust::AttackSpec;
use fl_core::strategies::StrategySpec;
use fl_data::{DatasetName, Partition};
use serde::{Deserialize, Serialize};

use crate::SimError;

/// Every setting of a simulated run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Number of simulated clients.
    pub clients: usize,
    /// Rounds to run.
    pub rounds: u64,
    /// Fraction of clients per round (Poisson rate with user-level DP).
    pub fraction: f64,
    /// Local epochs per round.
    pub local_epochs: u32,
    /// Local batch size (expected batch size under DP-SGD's Poisson sampling).
    pub batch_size: u32,
    /// Local learning rate.
    pub lr: f64,
    /// Local SGD momentum.
    pub momentum: f64,
    /// Nesterov momentum for local SGD (no effect when `momentum` is 0).
    pub nesterov: bool,
    /// Learning-rate schedule over rounds: `constant`, `cosine` or `exp:<gamma>`.
    pub lr_schedule: String,
    /// `cnn-small`, `cnn-fedavg` or `scatter-linear`.
    pub model: String,
    /// `tanh` or `relu`.
    pub activation: String,
    /// `mnist` or `fashion-mnist`.
    pub dataset: String,
    /// Where the IDX files are (else FL_DATA_DIR, ./data/<name>, /usr/share/datasets/<name>).
    pub data_dir: Option<PathBuf>,
    /// `iid`, `dirichlet:<alpha>` or `shards:<per-client>`.
    pub partition: String,
    /// Seed of partitioning, sampling, initialisation and shuffling.
    pub seed: u64,
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
    /// Where to write the final global model (safetensors).
    pub model_out: Option<PathBuf>,
    /// Aggregation strategy (see `fl_core::strategies`).
    pub strategy: String,
    /// Update codec: none, fp16, int8, topk:<fraction>[+int8|+fp16].
    pub codec: String,
    /// Simulated attack `<kind>:<fraction>` (scale:100:0.2, sign-flip:0.2, noise:1.0:0.2).
    pub attack: Option<String>,
    /// Gradient backend: native (fast kernels) or burn (reference).
    pub backend: String,
    /// How clients and server talk: `inproc` (function calls) or `grpc` (an in-process
    /// coordinator and clients over loopback gRPC; see [`crate::grpc`]).
    pub transport: Transport,
    /// Use only the first N training examples (quick runs and tests).
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N test examples.
    pub test_limit: Option<usize>,
    /// Record-level DP-SGD on every client.
    pub dp: bool,
    /// Per-client ε budget (`privacy.epsilon`).
    pub epsilon: f64,
    /// δ (`privacy.delta`).
    pub delta: f64,
    /// Per-example clipping bound (`privacy.max_grad_norm`).
    pub max_grad_norm: f64,
    /// Noise multiplier; derived from ε and the planned steps when absent.
    pub noise_multiplier: Option<f64>,
    /// `rdp` or `prv`.
    pub accountant: String,
    /// RDP→(ε,δ) conversion: `balle` or `classic`.
    pub conversion: String,
    /// Draw DP noise from a seeded generator (reproducible research only; NOT private).
    pub seeded_noise: bool,
    /// User-level DP-FedAvg on the server (McMahan et al. 2018).
    pub user_dp: bool,
    /// User-level clipping bound S of each client's update.
    pub user_clip: f64,
    /// User-level noise multiplier.
    pub user_noise_multiplier: f64,
    /// Adaptive user-level clipping (Andrew et al. 2021) to this quantile of the update
    /// norms, starting from `user_clip`; null = fixed clipping.
    pub user_adaptive_quantile: Option<f64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            clients: 10,
            rounds: 5,
            fraction: 1.0,
            local_epochs: 1,
            batch_size: 32,
            lr: 0.05,
            momentum: 0.9,
            nesterov: false,
            lr_schedule: "constant".into(),
            model: "cnn-small".into(),
            activation: "tanh".into(),
            dataset: "mnist".into(),
            data_dir: None,
            partition: "iid".into(),
            seed: 42,
            report: None,
            model_out: None,
            strategy: "fedavg".into(),
            codec: "none".into(),
            attack: None,
            backend: "native".into(),
            transport: Transport::Inproc,
            train_limit: None,
            test_limit: None,
            dp: false,
            epsilon: 3.0,
            delta: 1e-5,
            max_grad_norm: 1.0,
            noise_multiplier: None,
            accountant: "rdp".into(),
            conversion: "balle".into(),
            seeded_noise: false,
            user_dp: false,
            user_clip: 1.0,
            user_noise_multiplier: 1.0,
            user_adaptive_quantile: None,
        }
    }
}

/// Command-line flags: each overrides the same key of the config file.
#[derive(Clone, Debug, Default, Args)]
pub struct SimFlags {
    /// Number of simulated clients.
    #[arg(long)]
    pub clients: Option<usize>,
    /// Rounds to run.
    #[arg(long)]
    pub rounds: Option<u64>,
    /// Fraction of clients per round.
    #[arg(long)]
    pub fraction: Option<f64>,
    /// Local epochs per round.
    #[arg(long)]
    pub local_epochs: Option<u32>,
    /// Local batch size.
    #[arg(long)]
    pub batch_size: Option<u32>,
    /// Local learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Local SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Nesterov momentum (`--nesterov` or `--nesterov false`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub nesterov: Option<bool>,
    /// Learning-rate schedule over rounds: constant, cosine, exp:<gamma>.
    #[arg(long)]
    pub lr_schedule: Option<String>,
    /// Model: cnn-small, cnn-fedavg or scatter-linear.
    #[arg(long)]
    pub model: Option<String>,
    /// Activation: tanh or relu.
    #[arg(long)]
    pub activation: Option<String>,
    /// Data set: mnist or fashion-mnist.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Directory with the IDX files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Partition: iid, dirichlet:<alpha>, shards:<per-client>.
    #[arg(long)]
    pub partition: Option<String>,
    /// Seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// JSON report path.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Final model path (safetensors).
    #[arg(long)]
    pub model_out: Option<PathBuf>,
    /// Strategy: fedavg | fedprox:<mu> | fedadam | fedyogi | fedadagrad | median | trimmed-mean:<f> | krum:<f> | multi-krum:<f>.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Codec: none | fp16 | int8 | topk:<fraction>[+int8|+fp16].
    #[arg(long)]
    pub codec: Option<String>,
    /// Attack: scale:<factor>:<fraction> | sign-flip:<fraction> | noise:<std>:<fraction>.
    #[arg(long)]
    pub attack: Option<String>,
    /// Backend: native or burn.
    #[arg(long)]
    pub backend: Option<String>,
    /// Transport: inproc (function calls) or grpc (coordinator and clients over loopback gRPC).
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// Use only the first N training examples.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use only the first N test examples.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Record-level DP-SGD on every client.
    #[arg(long)]
    pub dp: bool,
    /// Per-client ε budget.
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// δ.
    #[arg(long)]
    pub delta: Option<f64>,
    /// Per-example clipping bound.
    #[arg(long)]
    pub max_grad_norm: Option<f64>,
    /// Noise multiplier (derived from ε when absent).
    #[arg(long)]
    pub noise_multiplier: Option<f64>,
    /// Accountant: rdp or prv.
    #[arg(long)]
    pub accountant: Option<String>,
    /// RDP conversion: balle or classic.
    #[arg(long)]
    pub conversion: Option<String>,
    /// Seeded (reproducible, not private) DP noise.
    #[arg(long)]
    pub seeded_noise: bool,
    /// User-level DP-FedAvg.
    #[arg(long)]
    pub user_dp: bool,
    /// User-level clipping bound.
    #[arg(long)]
    pub user_clip: Option<f64>,
    /// User-level noise multiplier.
    #[arg(long)]
    pub user_noise_multiplier: Option<f64>,
    /// Adaptive user-level clipping to this quantile of update norms (e.g. 0.5).
    #[arg(long, value_name = "QUANTILE")]
    pub user_adaptive_clip: Option<f64>,
}

macro_rules! over {
    ($cfg:ident, $flags:ident, $($f:ident),*) => { $( if let Some(v) = $flags.$f.clone() { $cfg.$f = v; } )* };
}

impl SimConfig {
    /// Reads a YAML file; unknown keys are an error.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Config(format!("cannot read {}: {e}", path.display())))?;
        serde_saphyr::from_str(&text)
            .map_err(|e| SimError::Config(format!("{}: {e}", path.display())))
    }

    /// Applies flags over this configuration.
    pub fn apply(&mut self, f: &SimFlags) {
        over!(
            self,
            f,
            clients,
            rounds,
            fraction,
            local_epochs,
            batch_size,
            lr,
            momentum,
            nesterov,
            lr_schedule,
            model,
            activation,
            dataset,
            partition,
            seed,
            strategy,
            codec,
            backend,
            transport,
            epsilon,
            delta,
            max_grad_norm,
            accountant,
            conversion,
            user_clip,
            user_noise_multiplier
        );
        if f.data_dir.is_some() {
            self.data_dir = f.data_dir.clone();
        }
        if f.report.is_some() {
            self.report = f.report.clone();
        }
        if f.model_out.is_some() {
            self.model_out = f.model_out.clone();
        }
        if f.attack.is_some() {
            self.attack = f.attack.clone();
        }
        if f.train_limit.is_some() {
            self.train_limit = f.train_limit;
        }
        if f.test_limit.is_some() {
            self.test_limit = f.test_limit;
        }
        if f.noise_multiplier.is_some() {
            self.noise_multiplier = f.noise_multiplier;
        }
        if f.user_adaptive_clip.is_some() {
            self.user_adaptive_quantile = f.user_adaptive_clip;
        }
        self.dp |= f.dp;
        self.seeded_noise |= f.seeded_noise;
        self.user_dp |= f.user_dp;
    }

    /// Parses and checks every value; all problems are reported before any work starts.
    pub fn validate(&self) -> Result<Parsed, SimError> {
        let bad = |m: String| Err(SimError::Config(m));
        if self.clients == 0 {
            return bad("clients must be at least 1".into());
        }
        if self.rounds == 0 {
            return bad("rounds must be at least 1".into());
        }
        if !(self.fraction > 0.0 && self.fraction <= 1.0) {
            return bad(format!("fraction must be in (0, 1], got {}", self.fraction));
        }
        if self.local_epochs == 0 || self.batch_size == 0 {
            return bad("local_epochs and batch_size must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be positive, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("momentum must be in [0, 1), got {}", self.momentum));
        }
        let cfg = |e: &dyn std::fmt::Display| SimError::Config(e.to_string());
        let model = fl_ml::ModelSpec::parse(&self.model, &self.activation).map_err(|e| cfg(&e))?;
        let dataset: DatasetName = self.dataset.parse().map_err(|e| cfg(&e))?;
        let partition: Partition = self.partition.parse().map_err(|e| cfg(&e))?;
        let strategy: StrategySpec = self.strategy.parse().map_err(|e| cfg(&e))?;
        let codec: CodecSpec = self.codec.parse().map_err(|e| cfg(&e))?;
        let attack: Option<AttackSpec> = self
            .attack
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| cfg(&e))?;
        let backend: fl_ml::Backend = self.backend.parse().map_err(|e| cfg(&e))?;
        let lr_schedule: LrSchedule = self.lr_schedule.parse().map_err(|e: String| cfg(&e))?;
        let accountant: AccountantKind = self
            .accountant
            .parse()
            .map_err(|e: String| SimError::Config(e))?;
        let conversion: Conversion = self
            .conversion
            .parse()
            .map_err(|e: String| SimError::Config(e))?;
        if self.dp || self.user_dp {
            if !(self.delta > 0.0 && self.delta < 1.0) {
                return bad(format!("delta must be in (0, 1), got {}", self.delta));
            }
            if !(self.epsilon.is_finite() && self.epsilon > 0.0) && self.dp {
                return bad(format!("epsilon must be positive, got {}", self.epsilon));
            }
            if !(self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0) {
                return bad(format!(
                    "max_grad_norm must be positive, got {}",
                    self.max_grad_norm
                ));
            }
            if let Some(s) = self.noise_multiplier
                && !(s.is_finite() && s > 0.0)
            {
                return bad(format!("noise_multiplier must be positive, got {s}"));
            }
        }
        if self.user_dp {
            for (k, v) in [
                ("user_clip", self.user_clip),
                ("user_noise_multiplier", self.user_noise_multiplier),
            ] {
                if !(v.is_finite() && v > 0.0) {
                    return bad(format!("{k} must be positive, got {v}"));
                }
            }
            if let Some(q) = self.user_adaptive_quantile
                && !(q > 0.0 && q < 1.0)
            {
                return bad(format!("user_adaptive_quantile must be in (0, 1), got {q}"));
            }
            if self.user_dp && strategy != StrategySpec::FedAvg {
                return bad("user-level DP runs DP-FedAvg; leave strategy at fedavg".into());
            }
        }
        if matches!(self.train_limit, Some(0)) || matches!(self.test_limit, Some(0)) {
            return bad("train_limit and test_limit must be at least 1".into());
        }
        if self.transport == Transport::Grpc {
            crate::grpc::check_supported(self)?;
        }
        Ok(Parsed {
            model,
            dataset,
            partition,
            strategy,
            codec,
            attack,
            backend,
            accountant,
            conversion,
            lr_schedule,
        })
    }
}

/// The typed values of a validated [`SimConfig`].
#[derive(Clone, Debug)]
pub struct Parsed {
    /// Model.
    pub model: fl_ml::ModelSpec,
    /// Data set.
    pub dataset: DatasetName,
    /// Partition scheme.
    pub partition: Partition,
    /// Strategy.
    pub strategy: StrategySpec,
    /// Codec.
    pub codec: CodecSpec,
    /// Attack, if simulated.
    pub attack: Option<AttackSpec>,
    /// Gradient backend.
    pub backend: fl_ml::Backend,
    /// Accountant.
    pub accountant: AccountantKind,
    /// RDP conversion.
    pub conversion: Conversion,
    /// Learning-rate schedule.
    pub lr_schedule: LrSchedule,
}

/// How the simulated clients and the server exchange models and updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Function calls: one loop drives the round engine and trains the clients in turn.
    #[default]
    Inproc,
    /// Real loopback gRPC: an in-process `fl-coordinator` and one `fl-client` per simulated
    /// client on one tokio runtime (see [`crate::grpc`]).
    Grpc,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Inproc => "inproc",
            Transport::Grpc => "grpc",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: SimFlags,
    }

    fn flags(args: &[&str]) -> Result<SimFlags, clap::Error> {
        Cli::try_parse_from(std::iter::once("fl-sim").chain(args.iter().copied())).map(|c| c.flags)
    }

    #[test]
    fn nesterov_flag_sets_clears_and_refuses_garbage() {
        let mut c = SimConfig::default();
        c.apply(&flags(&["--nesterov"]).unwrap());
        assert!(c.nesterov);
        c.apply(&flags(&[]).unwrap());
        assert!(c.nesterov, "an absent flag keeps the file's value");
        c.apply(&flags(&["--nesterov", "false"]).unwrap());
        assert!(!c.nesterov);
        let e = flags(&["--nesterov", "maybe"]).err().unwrap().to_string();
        assert!(e.contains("nesterov"), "{e}");
    }

    #[test]
    fn nesterov_key_is_read_from_yaml() {
        let c: SimConfig = serde_saphyr::from_str("nesterov: true\nmomentum: 0.9\n").unwrap();
        assert!(c.nesterov);
        assert!(serde_saphyr::from_str::<SimConfig>("nesterov: 3\n").is_err());
    }
}
