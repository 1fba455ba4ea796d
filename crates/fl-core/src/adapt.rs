//! Adaptive client plans: size each client's local work from its reported
//! capability so that slow clients do not stall a round.
//!
//! The coordinator knows each client's examples held and measured training
//! throughput (samples/s). With a target round duration `T`, a client that
//! would need longer than `T` for the configured local epochs gets a cap on its
//! local steps (`max_steps = T · throughput / batch`), so every selected client
//! finishes near `T`. Learning rate and batch size stay as configured: changing
//! them per client would change the optimisation problem, while capping steps
//! only weights the slow client's update less in FedAvg (fewer examples seen).

use serde::{Deserialize, Serialize};

/// What a client reports about itself when it registers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// CPU cores available for training.
    pub cores: u32,
    /// Memory available, bytes.
    pub memory_bytes: u64,
    /// Training examples held locally.
    pub num_examples: u64,
    /// Measured local training throughput, examples per second (0 = unknown).
    pub samples_per_second: f64,
}

/// How the clients' learning rate changes over the rounds of a run. The rate only scales
/// noisy gradients already computed, so a schedule changes no privacy accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LrSchedule {
    /// The configured rate in every round.
    #[default]
    Constant,
    /// Half a cosine over the run: round `r` of `R` uses `lr · (1 + cos(π (r−1)/R)) / 2`,
    /// the full rate in round 1 falling towards 0 after the last round.
    Cosine,
    /// Round `r` uses `lr · gamma^(r−1)`.
    Exponential {
        /// Factor per round, in (0, 1].
        gamma: f64,
    },
}

impl LrSchedule {
    /// The multiplier of the base rate in `round` (1-based) of a `rounds`-round run.
    pub fn factor(&self, round: u64, rounds: u64) -> f64 {
        let done = round.saturating_sub(1) as f64;
        match *self {
            Self::Constant => 1.0,
            Self::Cosine => {
                0.5 * (1.0 + (std::f64::consts::PI * done / rounds.max(1) as f64).cos())
            }
            Self::Exponential { gamma } => gamma.powf(done),
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::Exponential { gamma } if !(gamma > 0.0 && gamma <= 1.0) => Err(format!(
                "lr_schedule: exponential gamma must be in (0, 1], got {gamma}"
            )),
            _ => Ok(()),
        }
    }
}

impl std::str::FromStr for LrSchedule {
    type Err = String;
    /// `constant`, `cosine` or `exp:<gamma>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let out = match s.trim() {
            "constant" => Self::Constant,
            "cosine" => Self::Cosine,
            o => match o.strip_prefix("exp:") {
                Some(g) => Self::Exponential {
                    gamma: g
                        .parse()
                        .map_err(|_| format!("lr_schedule: `{g}` is not a number"))?,
                },
                None => {
                    return Err(format!(
                        "unknown lr_schedule `{o}` (expected constant, cosine or exp:<gamma>)"
                    ));
                }
            },
        };
        out.validate()?;
        Ok(out)
    }
}

impl std::fmt::Display for LrSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Constant => f.write_str("constant"),
            Self::Cosine => f.write_str("cosine"),
            Self::Exponential { gamma } => write!(f, "exp:{gamma}"),
        }
    }
}

/// Local training instructions for one client in one round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainPlan {
    /// Passes over the local data.
    pub local_epochs: u32,
    /// Mini-batch size (expected batch size under Poisson sampling).
    pub batch_size: u32,
    /// SGD learning rate.
    pub learning_rate: f64,
    /// SGD momentum (0 = plain SGD).
    pub momentum: f64,
    /// Nesterov momentum (no effect when `momentum` is 0).
    #[serde(default)]
    pub nesterov: bool,
    /// Cap on optimizer steps this round (None = full epochs).
    pub max_steps: Option<u64>,
    /// FedProx proximal coefficient μ (0 = none).
    pub proximal_mu: f64,
}

impl Default for TrainPlan {
    fn default() -> Self {
        Self {
            local_epochs: 1,
            batch_size: 32,
            learning_rate: 0.05,
            momentum: 0.0,
            nesterov: false,
            max_steps: None,
            proximal_mu: 0.0,
        }
    }
}

impl TrainPlan {
    /// Optimizer steps this plan implies for `num_examples` local examples.
    pub fn steps(&self, num_examples: u64) -> u64 {
        let per_epoch = num_examples.div_ceil(u64::from(self.batch_size.max(1)));
        let full = per_epoch * u64::from(self.local_epochs);
        self.max_steps.map_or(full, |m| m.min(full))
    }
}

/// Returns `base` adjusted for a client so that it should finish within
/// `target_seconds`. Clients with unknown throughput keep the base plan.
pub fn adapt_plan(base: &TrainPlan, caps: &Capabilities, target_seconds: f64) -> TrainPlan {
    let mut plan = base.clone();
    if caps.samples_per_second <= 0.0 || !target_seconds.is_finite() || target_seconds <= 0.0 {
        return plan;
    }
    let full_steps = base.steps(caps.num_examples);
    let affordable =
        ((target_seconds * caps.samples_per_second) / f64::from(base.batch_size.max(1))).floor();
    let affordable = (affordable as u64).max(1);
    if affordable < full_steps {
        plan.max_steps = Some(affordable);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_clients_keep_full_epochs_and_slow_ones_are_capped() {
        let base = TrainPlan {
            batch_size: 50,
            local_epochs: 2,
            ..TrainPlan::default()
        };
        let fast = Capabilities {
            num_examples: 6000,
            samples_per_second: 10_000.0,
            ..Default::default()
        };
        let slow = Capabilities {
            num_examples: 6000,
            samples_per_second: 500.0,
            ..Default::default()
        };
        assert_eq!(base.steps(6000), 240);
        assert_eq!(adapt_plan(&base, &fast, 5.0).max_steps, None);
        let p = adapt_plan(&base, &slow, 5.0);
        assert_eq!(p.max_steps, Some(50));
        assert_eq!(p.steps(6000), 50);
        let unknown = Capabilities {
            num_examples: 6000,
            ..Default::default()
        };
        assert_eq!(adapt_plan(&base, &unknown, 5.0), base);
    }
}
