//! Adaptive server optimizers: FedAdam, FedYogi and FedAdagrad (Reddi et al.
//! 2021, "Adaptive Federated Optimization", ICLR, Algorithm 2).
//!
//! The server treats the aggregated client delta Δ as a pseudo-gradient
//! (pointing *towards* the clients' models, so the step adds it):
//!
//! ```text
//! m ← β₁·m + (1 − β₁)·Δ                       (FedAdagrad: m ← Δ)
//! v ← v + Δ²                                   FedAdagrad
//! v ← β₂·v + (1 − β₂)·Δ²                       FedAdam
//! v ← v − (1 − β₂)·Δ²·sign(v − Δ²)             FedYogi
//! x ← x + η · m / (√v + τ)
//! ```
//!
//! m and v start at zero, as in Flower. Flower's `FedAdam` (≥ 1.5) also
//! multiplies η by an Adam bias correction; this follows the paper and does not.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{AggregateError, ConfigError};

/// Which adaptive optimizer the server runs, with its hyperparameters.
/// Defaults ([`ServerOptimizer::fed_adam`] etc.) are Flower's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ServerOptimizer {
    /// Adam on the server.
    FedAdam {
        /// Server learning rate η.
        eta: f64,
        /// First-moment decay β₁.
        beta1: f64,
        /// Second-moment decay β₂.
        beta2: f64,
        /// Adaptivity τ (added to √v).
        tau: f64,
    },
    /// Yogi on the server: like Adam, but v moves additively, which keeps
    /// the effective learning rate from growing abruptly.
    FedYogi {
        /// Server learning rate η.
        eta: f64,
        /// First-moment decay β₁.
        beta1: f64,
        /// Second-moment decay β₂.
        beta2: f64,
        /// Adaptivity τ.
        tau: f64,
    },
    /// Adagrad on the server (no momentum).
    FedAdagrad {
        /// Server learning rate η.
        eta: f64,
        /// Adaptivity τ.
        tau: f64,
    },
}

impl ServerOptimizer {
    /// FedAdam with Flower's defaults: η = 0.1, β₁ = 0.9, β₂ = 0.99, τ = 1e-9.
    pub fn fed_adam() -> Self {
        Self::FedAdam {
            eta: 1e-1,
            beta1: 0.9,
            beta2: 0.99,
            tau: 1e-9,
        }
    }

    /// FedYogi with Flower's defaults: η = 0.01, β₁ = 0.9, β₂ = 0.99, τ = 1e-3.
    pub fn fed_yogi() -> Self {
        Self::FedYogi {
            eta: 1e-2,
            beta1: 0.9,
            beta2: 0.99,
            tau: 1e-3,
        }
    }

    /// FedAdagrad with Flower's defaults: η = 0.1, τ = 1e-9.
    pub fn fed_adagrad() -> Self {
        Self::FedAdagrad {
            eta: 1e-1,
            tau: 1e-9,
        }
    }

    /// Name as written on the command line: `fedadam`, `fedyogi`, `fedadagrad`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FedAdam { .. } => "fedadam",
            Self::FedYogi { .. } => "fedyogi",
            Self::FedAdagrad { .. } => "fedadagrad",
        }
    }

    /// Server learning rate η.
    pub fn eta(&self) -> f64 {
        match *self {
            Self::FedAdam { eta, .. }
            | Self::FedYogi { eta, .. }
            | Self::FedAdagrad { eta, .. } => eta,
        }
    }

    /// Checks η > 0, β in [0, 1) and τ > 0, all finite.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (eta, betas, tau) = match *self {
            Self::FedAdam {
                eta,
                beta1,
                beta2,
                tau,
            }
            | Self::FedYogi {
                eta,
                beta1,
                beta2,
                tau,
            } => (eta, [beta1, beta2], tau),
            Self::FedAdagrad { eta, tau } => (eta, [0.0, 0.0], tau),
        };
        let bad = |what: String| Err(ConfigError::Invalid(format!("{}: {what}", self.name())));
        if !(eta.is_finite() && eta > 0.0) {
            return bad(format!("eta must be finite and > 0, got {eta}"));
        }
        if let Some(b) = betas.iter().find(|b| !(0.0..1.0).contains(*b)) {
            return bad(format!("betas must be in [0, 1), got {b}"));
        }
        if !(tau.is_finite() && tau > 0.0) {
            return bad(format!("tau must be finite and > 0, got {tau}"));
        }
        Ok(())
    }

    /// Fresh state (m = v = 0) for a model of `len` values.
    pub fn init(self, len: usize) -> Result<ServerOptimizerState, ConfigError> {
        self.validate()?;
        Ok(ServerOptimizerState {
            optimizer: self,
            m: vec![0.0; len],
            v: vec![0.0; len],
            steps: 0,
        })
    }
}

impl FromStr for ServerOptimizer {
    type Err = ConfigError;

    /// `fedadam`, `fedyogi` or `fedadagrad`, optionally `:<eta>` to override
    /// the server learning rate (e.g. `fedadam:0.01`); other values default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, eta) = match s.trim().split_once(':') {
            Some((name, eta)) => (name, Some(eta)),
            None => (s.trim(), None),
        };
        let mut opt = match name.to_ascii_lowercase().as_str() {
            "fedadam" => Self::fed_adam(),
            "fedyogi" => Self::fed_yogi(),
            "fedadagrad" => Self::fed_adagrad(),
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "unknown server optimizer `{s}` (expected fedadam, fedyogi or fedadagrad, optionally :<eta>)"
                )));
            }
        };
        if let Some(eta_str) = eta {
            let value: f64 = eta_str.parse().map_err(|_| {
                ConfigError::Invalid(format!("server learning rate `{eta_str}` is not a number"))
            })?;
            match &mut opt {
                Self::FedAdam { eta, .. }
                | Self::FedYogi { eta, .. }
                | Self::FedAdagrad { eta, .. } => *eta = value,
            }
        }
        opt.validate()?;
        Ok(opt)
    }
}

/// An optimizer with its moment estimates; serde-serialisable for checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerOptimizerState {
    /// The optimizer and its hyperparameters.
    pub optimizer: ServerOptimizer,
    /// First moment m.
    pub m: Vec<f32>,
    /// Second moment v.
    pub v: Vec<f32>,
    /// Steps taken so far.
    pub steps: u64,
}

impl ServerOptimizerState {
    /// Applies one server step: `global += η · m / (√v + τ)` after updating
    /// m and v with `pseudo_gradient` (the aggregated client delta).
    ///
    /// Fails, changing nothing, if a length differs from the state's.
    pub fn step(
        &mut self,
        global: &mut [f32],
        pseudo_gradient: &[f32],
    ) -> Result<(), AggregateError> {
        let len = self.m.len();
        for got in [global.len(), pseudo_gradient.len(), self.v.len()] {
            if got != len {
                return Err(AggregateError::LengthMismatch { expected: len, got });
            }
        }
        let (eta, beta1, beta2, tau) = match self.optimizer {
            ServerOptimizer::FedAdam {
                eta,
                beta1,
                beta2,
                tau,
            }
            | ServerOptimizer::FedYogi {
                eta,
                beta1,
                beta2,
                tau,
            } => (eta, beta1, beta2, tau),
            ServerOptimizer::FedAdagrad { eta, tau } => (eta, 0.0, 0.0, tau),
        };
        let it = global
            .iter_mut()
            .zip(pseudo_gradient)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()));
        for ((x, &g), (m, v)) in it {
            let (g, m0, v0) = (f64::from(g), f64::from(*m), f64::from(*v));
            let g2 = g * g;
            let m1 = beta1 * m0 + (1.0 - beta1) * g;
            let v1 = match self.optimizer {
                ServerOptimizer::FedAdam { .. } => beta2 * v0 + (1.0 - beta2) * g2,
                ServerOptimizer::FedYogi { .. } => v0 - (1.0 - beta2) * g2 * sign(v0 - g2),
                ServerOptimizer::FedAdagrad { .. } => v0 + g2,
            };
            *m = m1 as f32;
            *v = v1 as f32;
            *x = (f64::from(*x) + eta * m1 / (v1.sqrt() + tau)) as f32;
        }
        self.steps += 1;
        Ok(())
    }
}

/// numpy's sign: −1, 0 or 1.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps with Δ₁ = [1, −2], Δ₂ = [0.5, 0]; returns x, m, v.
    fn two_steps(opt: ServerOptimizer) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut state = opt.init(2).unwrap();
        let mut x = vec![0.0f32; 2];
        state.step(&mut x, &[1.0, -2.0]).unwrap();
        state.step(&mut x, &[0.5, 0.0]).unwrap();
        assert_eq!(state.steps, 2);
        (x, state.m, state.v)
    }

    fn close(a: &[f32], b: &[f64]) -> bool {
        a.iter()
            .zip(b)
            .all(|(&a, &b)| (f64::from(a) - b).abs() <= 1e-6 * b.abs().max(1.0))
    }

    #[test]
    fn fed_adam_matches_hand_computation() {
        // Step 1: m = 0.1Δ = [0.1, −0.2], v = 0.01Δ² = [0.01, 0.04], x = 0.1·m/√v = [0.1, −0.1].
        // Step 2: m = [0.14, −0.18], v = [0.0124, 0.0396], x += 0.1·m/√v.
        let (x, m, v) = two_steps(ServerOptimizer::fed_adam());
        let x2 = [
            0.1 + 0.1 * 0.14 / 0.0124f64.sqrt(),
            -0.1 - 0.1 * 0.18 / 0.0396f64.sqrt(),
        ];
        assert!(
            close(&m, &[0.14, -0.18]) && close(&v, &[0.0124, 0.0396]),
            "{m:?} {v:?}"
        );
        assert!(close(&x, &x2), "{x:?} vs {x2:?}");
    }

    #[test]
    fn fed_yogi_moves_v_additively() {
        // Step 1 as Adam (v = 0 < Δ²): v = [0.01, 0.04]. Step 2, coordinate 0:
        // v < Δ² = 0.25 so v += 0.01·0.25 → 0.0125; coordinate 1: Δ = 0 keeps 0.04.
        let (x, m, v) = two_steps(ServerOptimizer::fed_yogi());
        assert!(
            close(&m, &[0.14, -0.18]) && close(&v, &[0.0125, 0.04]),
            "{m:?} {v:?}"
        );
        let x2 = [
            0.01 * 0.1 / (0.1 + 1e-3) + 0.01 * 0.14 / (0.0125f64.sqrt() + 1e-3),
            -0.01 * 0.2 / (0.2 + 1e-3) - 0.01 * 0.18 / (0.2 + 1e-3),
        ];
        assert!(close(&x, &x2), "{x:?} vs {x2:?}");
    }

    #[test]
    fn fed_adagrad_sums_squares_without_momentum() {
        // v = Δ₁² + Δ₂² = [1.25, 4]; m = Δ₂; x = 0.1·(sign Δ₁) + 0.1·Δ₂/√v.
        let (x, m, v) = two_steps(ServerOptimizer::fed_adagrad());
        assert!(close(&m, &[0.5, 0.0]) && close(&v, &[1.25, 4.0]));
        assert!(
            close(&x, &[0.1 + 0.1 * 0.5 / 1.25f64.sqrt(), -0.1]),
            "{x:?}"
        );
    }

    #[test]
    fn parses_names_and_validates() {
        assert_eq!(
            "fedadam".parse::<ServerOptimizer>().unwrap(),
            ServerOptimizer::fed_adam()
        );
        assert_eq!(
            "FedYogi".parse::<ServerOptimizer>().unwrap(),
            ServerOptimizer::fed_yogi()
        );
        assert_eq!(
            "fedadagrad:0.5".parse::<ServerOptimizer>().unwrap().eta(),
            0.5
        );
        for bad in ["adam", "fedadam:x", "fedadam:-1", "fedadam:0"] {
            assert!(bad.parse::<ServerOptimizer>().is_err(), "{bad}");
        }
        let bad_beta = ServerOptimizer::FedAdam {
            eta: 0.1,
            beta1: 1.0,
            beta2: 0.99,
            tau: 1e-9,
        };
        assert!(bad_beta.init(3).is_err());
    }

    #[test]
    fn state_round_trips_through_serde_and_checks_lengths() {
        let mut state = ServerOptimizer::fed_adam().init(2).unwrap();
        let mut x = vec![0.0f32; 2];
        state.step(&mut x, &[1.0, 2.0]).unwrap();
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            serde_json::from_str::<ServerOptimizerState>(&json).unwrap(),
            state
        );
        let before = state.clone();
        assert!(state.step(&mut x, &[1.0]).is_err());
        assert!(state.step(&mut [0.0], &[1.0, 2.0]).is_err());
        assert_eq!(state, before);
    }
}
