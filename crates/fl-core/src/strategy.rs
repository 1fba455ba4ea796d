//! Aggregation strategies: how client updates become the next global model.
//!
//! Shaped like Flower's `Strategy` (configure → aggregate), with one change made
//! for scale: aggregation is *streaming*. A round gets a fresh [`Aggregator`]
//! from [`Strategy::aggregator`]; each accepted update is folded in with
//! [`Aggregator::add`] as it arrives, so FedAvg needs O(model) memory however
//! many clients report. Robust rules (median, Krum) must see every update and
//! buffer them; that is their price.
//!
//! Updates are **deltas** (local model − global model). The aggregate is a
//! delta too; [`Strategy::apply`] turns it into the new global model (plain
//! addition for FedAvg, a server optimizer step for FedAdam and friends).

use std::fmt;

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::AggregateError;

/// A cryptographically secure RNG, as DP noise requires. Implemented for every
/// `RngCore + CryptoRng + Send`, so a test-only RNG cannot slip into noise.
pub trait NoiseRng: RngCore + CryptoRng + Send {}
impl<T: RngCore + CryptoRng + Send> NoiseRng for T {}

/// Folds the updates of one round into one aggregate delta.
pub trait Aggregator: Send {
    /// Adds one client's delta, trained on `num_examples` examples.
    fn add(&mut self, client: &str, num_examples: u64, delta: &[f32])
    -> Result<(), AggregateError>;
    /// Updates added so far.
    fn count(&self) -> usize;
    /// The aggregate delta. `noise` is used only by DP strategies.
    fn finish(self: Box<Self>, noise: &mut dyn NoiseRng) -> Result<Vec<f32>, AggregateError>;
}

/// Hints a strategy sends to clients with their task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientHints {
    /// FedProx proximal coefficient μ (0 = none).
    pub proximal_mu: f64,
}

/// A server-side aggregation strategy. Pure: no network, no clock.
pub trait Strategy: Send + fmt::Debug {
    /// Name for reports and logs, e.g. `fedavg` or `trimmed-mean:0.2`.
    fn name(&self) -> String;
    /// A fresh aggregator for a round over a model of `model_len` values.
    fn aggregator(&self, model_len: usize) -> Box<dyn Aggregator>;
    /// Applies an aggregate delta to the global model.
    fn apply(&mut self, global: &mut [f32], aggregate: &[f32]) {
        for (g, d) in global.iter_mut().zip(aggregate) {
            *g += *d;
        }
    }
    /// Instructions sent to clients alongside the plan.
    fn client_hints(&self) -> ClientHints {
        ClientHints::default()
    }
    /// Serialisable state for checkpoints (server optimizer moments, …).
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Restores what [`Strategy::state`] produced.
    fn restore(&mut self, _state: &serde_json::Value) -> Result<(), AggregateError> {
        Ok(())
    }
}

/// Federated Averaging (McMahan et al. 2017, arXiv:1602.05629): the mean of the
/// client deltas weighted by their example counts, accumulated in f64.
#[derive(Clone, Debug, Default)]
pub struct FedAvg;

impl Strategy for FedAvg {
    fn name(&self) -> String {
        "fedavg".into()
    }
    fn aggregator(&self, model_len: usize) -> Box<dyn Aggregator> {
        Box::new(WeightedMean::new(model_len))
    }
}

/// FedProx (Li et al. 2020, arXiv:1812.06127): FedAvg on the server; clients add
/// the proximal term μ/2·‖w − w_global‖² to their local loss.
#[derive(Clone, Debug)]
pub struct FedProx {
    /// Proximal coefficient μ ≥ 0.
    pub mu: f64,
}

impl Strategy for FedProx {
    fn name(&self) -> String {
        format!("fedprox:{}", self.mu)
    }
    fn aggregator(&self, model_len: usize) -> Box<dyn Aggregator> {
        Box::new(WeightedMean::new(model_len))
    }
    fn client_hints(&self) -> ClientHints {
        ClientHints {
            proximal_mu: self.mu,
        }
    }
}

/// Streaming example-weighted mean in f64: memory O(model).
#[derive(Debug)]
pub struct WeightedMean {
    sum: Vec<f64>,
    weight: f64,
    count: usize,
}

impl WeightedMean {
    /// An empty accumulator for `len` values.
    pub fn new(len: usize) -> Self {
        Self {
            sum: vec![0.0; len],
            weight: 0.0,
            count: 0,
        }
    }
}

impl Aggregator for WeightedMean {
    fn add(
        &mut self,
        _client: &str,
        num_examples: u64,
        delta: &[f32],
    ) -> Result<(), AggregateError> {
        if delta.len() != self.sum.len() {
            return Err(AggregateError::LengthMismatch {
                expected: self.sum.len(),
                got: delta.len(),
            });
        }
        let w = num_examples as f64;
        for (s, &d) in self.sum.iter_mut().zip(delta) {
            *s += w * f64::from(d);
        }
        self.weight += w;
        self.count += 1;
        Ok(())
    }
    fn count(&self) -> usize {
        self.count
    }
    fn finish(self: Box<Self>, _noise: &mut dyn NoiseRng) -> Result<Vec<f32>, AggregateError> {
        if self.count == 0 || self.weight <= 0.0 {
            return Err(AggregateError::Empty);
        }
        Ok(self.sum.iter().map(|s| (s / self.weight) as f32).collect())
    }
}

/// Collects every update for rules that need them all (median, Krum, …).
#[derive(Debug)]
pub struct Buffered<F> {
    len: usize,
    updates: Vec<Vec<f32>>,
    weights: Vec<u64>,
    reduce: F,
}

impl<F> Buffered<F>
where
    F: FnOnce(&[&[f32]], &[u64]) -> Result<Vec<f32>, AggregateError> + Send,
{
    /// An empty buffer for updates of `len` values, reduced by `reduce` at the end.
    pub fn new(len: usize, reduce: F) -> Self {
        Self {
            len,
            updates: Vec::new(),
            weights: Vec::new(),
            reduce,
        }
    }
}

impl<F> Aggregator for Buffered<F>
where
    F: FnOnce(&[&[f32]], &[u64]) -> Result<Vec<f32>, AggregateError> + Send,
{
    fn add(
        &mut self,
        _client: &str,
        num_examples: u64,
        delta: &[f32],
    ) -> Result<(), AggregateError> {
        if delta.len() != self.len {
            return Err(AggregateError::LengthMismatch {
                expected: self.len,
                got: delta.len(),
            });
        }
        self.updates.push(delta.to_vec());
        self.weights.push(num_examples);
        Ok(())
    }
    fn count(&self) -> usize {
        self.updates.len()
    }
    fn finish(self: Box<Self>, _noise: &mut dyn NoiseRng) -> Result<Vec<f32>, AggregateError> {
        if self.updates.is_empty() {
            return Err(AggregateError::Empty);
        }
        let views: Vec<&[f32]> = self.updates.iter().map(Vec::as_slice).collect();
        (self.reduce)(&views, &self.weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn run(
        strategy: &dyn Strategy,
        updates: &[(u64, Vec<f32>)],
    ) -> Result<Vec<f32>, AggregateError> {
        let mut agg = strategy.aggregator(updates.first().map_or(0, |u| u.1.len()));
        for (i, (n, d)) in updates.iter().enumerate() {
            agg.add(&format!("c{i}"), *n, d)?;
        }
        agg.finish(&mut ChaCha20Rng::seed_from_u64(0))
    }

    #[test]
    fn fedavg_is_the_example_weighted_mean() {
        // Prepare: (1·[1,2] + 3·[5,6]) / 4 = [4, 5]
        let updates = vec![(1, vec![1.0, 2.0]), (3, vec![5.0, 6.0])];
        // Execute
        let out = run(&FedAvg, &updates).unwrap();
        // Assert
        assert_eq!(out, vec![4.0, 5.0]);
    }

    #[test]
    fn fedavg_of_identical_updates_is_that_update_and_order_free() {
        let u = vec![0.1f32, -0.25, 3.5];
        let same = run(&FedAvg, &[(7, u.clone()), (2, u.clone()), (9, u.clone())]).unwrap();
        assert_eq!(same, u);
        let a = run(
            &FedAvg,
            &[
                (1, vec![1.0, 0.0]),
                (2, vec![0.0, 3.0]),
                (5, vec![2.0, 2.0]),
            ],
        )
        .unwrap();
        let b = run(
            &FedAvg,
            &[
                (5, vec![2.0, 2.0]),
                (1, vec![1.0, 0.0]),
                (2, vec![0.0, 3.0]),
            ],
        )
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn fedavg_accumulates_in_f64() {
        // 1e8 + 1 - 1e8 loses the 1 in f32 but not in f64.
        let out = run(&FedAvg, &[(1, vec![1e8]), (1, vec![1.0]), (1, vec![-1e8])]).unwrap();
        assert!((out[0] - 1.0 / 3.0).abs() < 1e-6, "{out:?}");
    }

    #[test]
    fn empty_and_mismatched_rounds_are_errors() {
        assert_eq!(run(&FedAvg, &[]), Err(AggregateError::Empty));
        let e = run(&FedAvg, &[(1, vec![1.0, 2.0]), (1, vec![1.0])]).unwrap_err();
        assert_eq!(
            e,
            AggregateError::LengthMismatch {
                expected: 2,
                got: 1
            }
        );
    }

    #[test]
    fn apply_adds_the_delta_and_fedprox_sends_mu() {
        let mut s = FedProx { mu: 0.01 };
        let mut g = vec![1.0, 1.0];
        s.apply(&mut g, &[0.5, -1.0]);
        assert_eq!(g, vec![1.5, 0.0]);
        assert_eq!(s.client_hints().proximal_mu, 0.01);
    }
}
