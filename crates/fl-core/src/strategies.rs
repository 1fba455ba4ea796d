//! The strategy catalogue: parse a `--strategy` string, build the strategy.
//!
//! | spec | strategy | reference |
//! |---|---|---|
//! | `fedavg` | example-weighted mean | McMahan et al. 2017 |
//! | `fedprox:<mu>` | FedAvg + client proximal term | Li et al. 2020 |
//! | `fedadam`, `fedyogi`, `fedadagrad` | server optimizer on the mean delta | Reddi et al. 2021 |
//! | `median` | coordinate-wise median | Yin et al. 2018 |
//! | `trimmed-mean:<beta>` | coordinate-wise β-trimmed mean | Yin et al. 2018 |
//! | `krum:<f>`, `multi-krum:<f>` | distance-based selection | Blanchard et al. 2017 |
//!
//! Robust rules buffer the round's updates (they need all of them); they are
//! unweighted by design, since a Byzantine client can lie about its example
//! count. With DP, clip before robust aggregation: the accountant covers the
//! noise added *after* aggregation (user-level DP-FedAvg) or inside each
//! client (record-level DP-SGD); robust rules are post-processing of either.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::{AggregateError, ConfigError};
use crate::robust::{
    ServerOptimizer, ServerOptimizerState, coordinate_median, krum, multi_krum, trimmed_mean,
};
use crate::strategy::{
    Aggregator, Buffered, ClientHints, FedAvg, FedProx, NoiseRng, Strategy, WeightedMean,
};

/// A strategy as written in configuration and on the command line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StrategySpec {
    /// `fedavg`
    FedAvg,
    /// `fedprox:<mu>`
    FedProx(f64),
    /// `fedadam` | `fedyogi` | `fedadagrad` (Flower's default hyperparameters)
    FedOpt(ServerOptimizer),
    /// `median`
    Median,
    /// `trimmed-mean:<beta>`, β ∈ [0, 0.5)
    TrimmedMean(f64),
    /// `krum:<f>`
    Krum(usize),
    /// `multi-krum:<f>` (averages the n − f best)
    MultiKrum(usize),
}

impl FromStr for StrategySpec {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |m: String| ConfigError::Invalid(m);
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let num = |what: &str| -> Result<f64, ConfigError> {
            let a = arg.ok_or_else(|| bad(format!("`{name}` needs a value: `{name}:<{what}>`")))?;
            a.parse::<f64>()
                .map_err(|_| bad(format!("`{a}` is not a number in `{s}`")))
        };
        let int = |what: &str| -> Result<usize, ConfigError> {
            let a = arg.ok_or_else(|| bad(format!("`{name}` needs a value: `{name}:<{what}>`")))?;
            a.parse::<usize>()
                .map_err(|_| bad(format!("`{a}` is not a count in `{s}`")))
        };
        let no_arg = |spec: StrategySpec| match arg {
            None => Ok(spec),
            Some(_) => Err(bad(format!("`{name}` takes no value"))),
        };
        let spec = match name {
            "fedavg" => no_arg(Self::FedAvg)?,
            "fedprox" => Self::FedProx(num("mu")?),
            "fedadam" => no_arg(Self::FedOpt(ServerOptimizer::fed_adam()))?,
            "fedyogi" => no_arg(Self::FedOpt(ServerOptimizer::fed_yogi()))?,
            "fedadagrad" => no_arg(Self::FedOpt(ServerOptimizer::fed_adagrad()))?,
            "median" => no_arg(Self::Median)?,
            "trimmed-mean" => Self::TrimmedMean(num("fraction")?),
            "krum" => Self::Krum(int("f")?),
            "multi-krum" => Self::MultiKrum(int("f")?),
            other => {
                return Err(bad(format!(
                    "unknown strategy `{other}` (expected fedavg, fedprox:<mu>, fedadam, fedyogi, fedadagrad, median, trimmed-mean:<fraction>, krum:<f>, multi-krum:<f>)"
                )));
            }
        };
        spec.validate()?;
        Ok(spec)
    }
}

impl fmt::Display for StrategySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FedAvg => write!(f, "fedavg"),
            Self::FedProx(mu) => write!(f, "fedprox:{mu}"),
            Self::FedOpt(o) => write!(f, "{}", o.name()),
            Self::Median => write!(f, "median"),
            Self::TrimmedMean(b) => write!(f, "trimmed-mean:{b}"),
            Self::Krum(k) => write!(f, "krum:{k}"),
            Self::MultiKrum(k) => write!(f, "multi-krum:{k}"),
        }
    }
}

impl Serialize for StrategySpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for StrategySpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl StrategySpec {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Self::FedProx(mu) if !(mu.is_finite() && mu >= 0.0) => Err(ConfigError::Invalid(
                format!("fedprox mu must be ≥ 0, got {mu}"),
            )),
            Self::TrimmedMean(b) if !(0.0..0.5).contains(&b) => Err(ConfigError::Invalid(format!(
                "trimmed-mean fraction must be in [0, 0.5), got {b}"
            ))),
            Self::FedOpt(o) => o.validate(),
            _ => Ok(()),
        }
    }

    /// Builds the strategy.
    pub fn build(&self) -> Box<dyn Strategy> {
        match *self {
            Self::FedAvg => Box::new(FedAvg),
            Self::FedProx(mu) => Box::new(FedProx { mu }),
            Self::FedOpt(o) => Box::new(FedOpt {
                optimizer: o,
                state: None,
            }),
            robust => Box::new(Robust(robust)),
        }
    }
}

/// FedAvg aggregation followed by a server optimizer step (FedAdam, FedYogi,
/// FedAdagrad; Reddi et al. 2021, arXiv:2003.00295).
#[derive(Debug)]
pub struct FedOpt {
    optimizer: ServerOptimizer,
    state: Option<ServerOptimizerState>,
}

impl Strategy for FedOpt {
    fn name(&self) -> String {
        self.optimizer.name().into()
    }
    fn aggregator(&self, model_len: usize) -> Box<dyn Aggregator> {
        Box::new(WeightedMean::new(model_len))
    }
    fn apply(&mut self, global: &mut [f32], aggregate: &[f32]) {
        let len = global.len();
        let state = self
            .state
            .get_or_insert_with(|| self.optimizer.init(len).expect("validated optimizer"));
        if state.step(global, aggregate).is_err() {
            // Length changed (impossible within a run): fall back to plain averaging.
            for (g, d) in global.iter_mut().zip(aggregate) {
                *g += *d;
            }
        }
    }
    fn state(&self) -> serde_json::Value {
        serde_json::to_value(&self.state).unwrap_or(serde_json::Value::Null)
    }
    fn restore(&mut self, state: &serde_json::Value) -> Result<(), AggregateError> {
        self.state = serde_json::from_value(state.clone())
            .map_err(|e| AggregateError::Invalid(format!("server optimizer state: {e}")))?;
        Ok(())
    }
}

/// The buffering robust rules.
#[derive(Debug)]
struct Robust(StrategySpec);

impl Strategy for Robust {
    fn name(&self) -> String {
        self.0.to_string()
    }
    fn aggregator(&self, model_len: usize) -> Box<dyn Aggregator> {
        let spec = self.0;
        Box::new(Buffered::new(
            model_len,
            move |u: &[&[f32]], _w: &[u64]| match spec {
                StrategySpec::Median => coordinate_median(u),
                StrategySpec::TrimmedMean(b) => trimmed_mean(u, b),
                StrategySpec::Krum(f) => krum(u, f).map(|i| u[i].to_vec()),
                StrategySpec::MultiKrum(f) => {
                    let m = u.len().saturating_sub(f).max(1);
                    multi_krum(u, f, m).map(|(mean, _)| mean)
                }
                _ => Err(AggregateError::Invalid("not a robust rule".into())),
            },
        ))
    }
}

/// User-level DP-FedAvg (McMahan, Ramage, Talwar, Zhang 2018, "Learning
/// Differentially Private Recurrent Language Models", arXiv:1710.06963):
/// each client's whole update is clipped to L2 norm `clip`, the clipped
/// updates are summed with equal weight, Gaussian noise N(0, σ²·clip²) is
/// added to the sum, and the sum is divided by the *expected* number of
/// participants `q·N` (a fixed denominator, so one client's presence changes
/// the output by at most `clip / (qN)`). With Poisson client sampling at rate
/// q, the client-level ε follows from the subsampled-Gaussian accountant with
/// `q` and `steps = rounds` (see `privacy::user_level_epsilon`).
#[derive(Clone, Debug)]
pub struct DpFedAvg {
    /// Per-client clipping bound S (the initial bound when clipping is adaptive).
    pub clip: f64,
    /// Noise multiplier σ the accountant sees (noise std = σ·S on the sum).
    pub noise_multiplier: f64,
    /// Expected participants per round, q·N.
    pub expected_clients: f64,
    /// Adaptive clipping; `None` keeps S fixed.
    pub adaptive: Option<AdaptiveClip>,
    /// The bound in force this round: `clip`, or where adaptive clipping has moved it.
    /// Shared with the round's aggregator, which updates it when the round closes.
    current: Arc<Mutex<f64>>,
}

/// Adaptive clipping (Andrew, Thakkar, McMahan, Ramaswamy 2021, "Differentially Private
/// Learning with Adaptive Clipping", arXiv:1905.03871): the bound tracks the
/// `target_quantile` of the clients' update norms. Each round the fraction of clients whose
/// norm was within the bound is released with Gaussian noise of std `count_noise` (on the
/// count) and the bound moves geometrically, `S ← S·exp(−η(b̃ − γ))`. To keep the privacy of
/// the plain mechanism with multiplier σ, the update noise uses
/// σ_Δ = (σ⁻² − (2σ_b)⁻²)^(−1/2) (their Theorem 1), so the accountant still sees σ.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveClip {
    /// γ: the quantile of update norms to track, in (0, 1). The paper uses 0.5.
    pub target_quantile: f64,
    /// η: geometric learning rate of the bound. The paper uses 0.2.
    pub learning_rate: f64,
    /// σ_b: noise std on the clipped-count sum. The paper suggests qN/20.
    pub count_noise: f64,
}

impl AdaptiveClip {
    /// The paper's defaults for `expected_clients` = qN: γ = 0.5, η = 0.2, σ_b = qN/20.
    pub fn paper_defaults(expected_clients: f64) -> Self {
        Self {
            target_quantile: 0.5,
            learning_rate: 0.2,
            count_noise: expected_clients / 20.0,
        }
    }
}

impl DpFedAvg {
    /// Validated constructor (fixed clipping).
    pub fn new(
        clip: f64,
        noise_multiplier: f64,
        expected_clients: f64,
    ) -> Result<Self, ConfigError> {
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !pos(clip) || !pos(noise_multiplier) || !pos(expected_clients) {
            return Err(ConfigError::Invalid(format!(
                "DP-FedAvg needs positive clip ({clip}), noise multiplier ({noise_multiplier}) and expected clients ({expected_clients})"
            )));
        }
        Ok(Self {
            clip,
            noise_multiplier,
            expected_clients,
            adaptive: None,
            current: Arc::new(Mutex::new(clip)),
        })
    }

    /// Turns on adaptive clipping.
    ///
    /// # Errors
    /// When γ is not in (0, 1), η or σ_b is not positive, or 2σ_b ≤ σ (the update noise
    /// σ_Δ would be undefined: the count release would cost more than the whole budget).
    pub fn with_adaptive(mut self, a: AdaptiveClip) -> Result<Self, ConfigError> {
        let ok = a.target_quantile > 0.0
            && a.target_quantile < 1.0
            && a.learning_rate.is_finite()
            && a.learning_rate > 0.0
            && a.count_noise.is_finite()
            && 2.0 * a.count_noise > self.noise_multiplier;
        if !ok {
            return Err(ConfigError::Invalid(format!(
                "adaptive clipping needs 0 < quantile < 1, η > 0 and 2·σ_b > σ; got quantile {}, η {}, σ_b {}, σ {}",
                a.target_quantile, a.learning_rate, a.count_noise, self.noise_multiplier
            )));
        }
        self.adaptive = Some(a);
        Ok(self)
    }

    /// The clipping bound in force for the next round.
    pub fn current_clip(&self) -> f64 {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Noise multiplier of the update sum: σ, or σ_Δ under adaptive clipping.
    pub fn update_noise_multiplier(&self) -> f64 {
        match &self.adaptive {
            None => self.noise_multiplier,
            Some(a) => {
                let z = self.noise_multiplier;
                (z.powi(-2) - (2.0 * a.count_noise).powi(-2)).powf(-0.5)
            }
        }
    }
}

struct ClippedSum {
    sum: Vec<f64>,
    count: usize,
    /// Clients whose update norm was within the bound (adaptive clipping).
    within: usize,
    clip: f64,
    p: DpFedAvg,
}

impl Aggregator for ClippedSum {
    fn add(&mut self, _client: &str, _n: u64, delta: &[f32]) -> Result<(), AggregateError> {
        if delta.len() != self.sum.len() {
            return Err(AggregateError::LengthMismatch {
                expected: self.sum.len(),
                got: delta.len(),
            });
        }
        let norm = crate::params::l2_norm(delta);
        if norm <= self.clip {
            self.within += 1;
        }
        let f = (self.clip / norm.max(1e-12)).min(1.0);
        for (s, &d) in self.sum.iter_mut().zip(delta) {
            *s += f * f64::from(d);
        }
        self.count += 1;
        Ok(())
    }
    fn count(&self) -> usize {
        self.count
    }
    fn finish(self: Box<Self>, noise: &mut dyn NoiseRng) -> Result<Vec<f32>, AggregateError> {
        // An empty Poisson sample still releases noise: skipping it would leak
        // that nobody was sampled. The round engine needs ≥ 1 update to get here.
        let normal = Normal::new(0.0, self.p.update_noise_multiplier() * self.clip)
            .map_err(|e| AggregateError::Invalid(format!("noise: {e}")))?;
        let mut rng = noise;
        let out = self
            .sum
            .iter()
            .map(|s| ((s + normal.sample(&mut rng)) / self.p.expected_clients) as f32)
            .collect();
        if let Some(a) = &self.p.adaptive {
            let count_noise = Normal::new(0.0, a.count_noise)
                .map_err(|e| AggregateError::Invalid(format!("noise: {e}")))?;
            let b = (self.within as f64 + count_noise.sample(&mut rng)) / self.p.expected_clients;
            let next = self.clip * (-a.learning_rate * (b - a.target_quantile)).exp();
            *self.p.current.lock().unwrap_or_else(|e| e.into_inner()) = next;
        }
        Ok(out)
    }
}

impl Strategy for DpFedAvg {
    fn name(&self) -> String {
        match &self.adaptive {
            None => format!(
                "dp-fedavg(clip={}, sigma={})",
                self.clip, self.noise_multiplier
            ),
            Some(a) => format!(
                "dp-fedavg(adaptive clip from {} to quantile {}, sigma={})",
                self.clip, a.target_quantile, self.noise_multiplier
            ),
        }
    }
    fn aggregator(&self, model_len: usize) -> Box<dyn Aggregator> {
        Box::new(ClippedSum {
            sum: vec![0.0; model_len],
            count: 0,
            within: 0,
            clip: self.current_clip(),
            p: self.clone(),
        })
    }
    fn client_hints(&self) -> ClientHints {
        ClientHints::default()
    }
    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "clip": self.current_clip() })
    }
    fn restore(&mut self, state: &serde_json::Value) -> Result<(), AggregateError> {
        if state.is_null() {
            return Ok(());
        }
        let c = state
            .get("clip")
            .and_then(serde_json::Value::as_f64)
            .filter(|c| c.is_finite() && *c > 0.0)
            .ok_or_else(|| AggregateError::Invalid(format!("DP-FedAvg state: {state}")))?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = c;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn agg(s: &dyn Strategy, updates: &[Vec<f32>]) -> Result<Vec<f32>, AggregateError> {
        let mut a = s.aggregator(updates[0].len());
        for (i, u) in updates.iter().enumerate() {
            a.add(&format!("c{i}"), 1, u)?;
        }
        a.finish(&mut ChaCha20Rng::seed_from_u64(1))
    }

    #[test]
    fn specs_parse_round_trip_and_reject_nonsense() {
        for s in [
            "fedavg",
            "fedprox:0.01",
            "fedadam",
            "fedyogi",
            "fedadagrad",
            "median",
            "trimmed-mean:0.2",
            "krum:2",
            "multi-krum:1",
        ] {
            let spec: StrategySpec = s.parse().unwrap();
            assert_eq!(
                spec.to_string().parse::<StrategySpec>().unwrap(),
                spec,
                "{s}"
            );
        }
        for bad in [
            "",
            "fedavg:1",
            "fedprox",
            "fedprox:-1",
            "trimmed-mean:0.5",
            "krum:x",
            "sgd",
        ] {
            assert!(bad.parse::<StrategySpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn robust_rules_resist_one_outlier() {
        let honest = vec![
            vec![1.0, 1.0],
            vec![1.1, 0.9],
            vec![0.9, 1.1],
            vec![1.0, 1.05],
            vec![1.05, 1.0],
        ];
        let mut all = honest.clone();
        all.push(vec![1000.0, -1000.0]);
        for s in ["median", "trimmed-mean:0.2", "krum:1", "multi-krum:1"] {
            let out = agg(s.parse::<StrategySpec>().unwrap().build().as_ref(), &all).unwrap();
            assert!(out.iter().all(|v| (v - 1.0).abs() < 0.2), "{s}: {out:?}");
        }
        let avg = agg(StrategySpec::FedAvg.build().as_ref(), &all).unwrap();
        assert!(avg[0] > 100.0, "FedAvg is not robust: {avg:?}");
    }

    #[test]
    fn fedadam_moves_along_the_mean_delta_and_checkpoints_its_state() {
        let mut s = StrategySpec::FedOpt(ServerOptimizer::fed_adam()).build();
        let mut g = vec![0.0f32; 2];
        s.apply(&mut g, &[1.0, -1.0]);
        assert!(g[0] > 0.0 && g[1] < 0.0, "{g:?}");
        let st = s.state();
        let mut r = StrategySpec::FedOpt(ServerOptimizer::fed_adam()).build();
        r.restore(&st).unwrap();
        let (mut a, mut b) = (g.clone(), g.clone());
        s.apply(&mut a, &[0.5, 0.5]);
        r.apply(&mut b, &[0.5, 0.5]);
        assert_eq!(a, b);
    }

    #[test]
    fn dp_fedavg_clips_each_client_and_adds_calibrated_noise() {
        // Huge updates are clipped to norm 1; with 4 expected clients the mean of
        // 4 identical clipped unit vectors is that vector, plus noise of std σS/4.
        let s = DpFedAvg::new(1.0, 0.5, 4.0).unwrap();
        let u = vec![vec![300.0f32, 400.0]; 4];
        let mut errs = Vec::new();
        for seed in 0..400 {
            let mut a = s.aggregator(2);
            for (i, x) in u.iter().enumerate() {
                a.add(&i.to_string(), 1, x).unwrap();
            }
            let out = a.finish(&mut ChaCha20Rng::seed_from_u64(seed)).unwrap();
            errs.push(f64::from(out[0]) - 0.6);
        }
        let mean = errs.iter().sum::<f64>() / errs.len() as f64;
        let std = (errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / errs.len() as f64).sqrt();
        assert!(mean.abs() < 0.02, "unbiased: {mean}");
        assert!((std - 0.125).abs() < 0.015, "std σS/qN = 0.125, got {std}");
        assert!(DpFedAvg::new(0.0, 1.0, 1.0).is_err());
    }

    #[test]
    fn adaptive_clip_tracks_the_target_quantile_of_update_norms() {
        // 100 clients a round with update norms spread over 1..=100: the median norm is
        // ~50. From S = 1 (every update clipped) and from S = 1000 (none), the bound
        // must end near 50.
        let norms: Vec<f32> = (1..=100).map(|i| i as f32).collect();
        for start in [1.0, 1000.0] {
            let s = DpFedAvg::new(start, 1.0, 100.0)
                .unwrap()
                .with_adaptive(AdaptiveClip::paper_defaults(100.0))
                .unwrap();
            assert!(s.update_noise_multiplier() > 1.0);
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            for _ in 0..150 {
                let mut a = s.aggregator(1);
                for (i, n) in norms.iter().enumerate() {
                    a.add(&i.to_string(), 1, &[*n]).unwrap();
                }
                a.finish(&mut rng).unwrap();
            }
            let c = s.current_clip();
            assert!((35.0..70.0).contains(&c), "from {start}: clip {c}");
            // The bound is checkpointed and restored.
            let mut r = DpFedAvg::new(start, 1.0, 100.0).unwrap();
            r.restore(&s.state()).unwrap();
            assert_eq!(r.current_clip(), c);
        }
        // σ_Δ is undefined when 2σ_b ≤ σ.
        let bad = AdaptiveClip {
            count_noise: 0.4,
            ..AdaptiveClip::paper_defaults(100.0)
        };
        assert!(
            DpFedAvg::new(1.0, 1.0, 100.0)
                .unwrap()
                .with_adaptive(bad)
                .is_err()
        );
        // Fixed clipping keeps σ and the bound.
        let f = DpFedAvg::new(2.0, 1.3, 10.0).unwrap();
        assert_eq!(f.update_noise_multiplier(), 1.3);
        assert_eq!(f.current_clip(), 2.0);
    }
}
