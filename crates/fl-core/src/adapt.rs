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
