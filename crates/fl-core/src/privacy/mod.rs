//! Differential-privacy accounting for DP-SGD and DP-FedAvg.
//!
//! Every mechanism accounted here is the **Poisson-subsampled Gaussian**: each
//! record (or client) joins a step with probability `q`, clipped contributions
//! are summed and Gaussian noise of standard deviation `σ · C` is added. Two
//! accountants turn a history of such steps into an `(ε, δ)` guarantee:
//!
//! * [`AccountantKind::Rdp`] — Rényi DP (Mironov, Talwar, Zhang 2019), then an
//!   RDP→(ε, δ) [`Conversion`]: [`Conversion::Balle`] (Balle et al. 2020, Thm 21,
//!   what Opacus ≥ 1.0 reports) or [`Conversion::Classic`] (Mironov 2017,
//!   Prop. 3, what older papers and the TF Privacy tutorial report).
//! * [`AccountantKind::Prv`] — numerical composition of privacy-loss random
//!   variables (Gopi, Lee, Wutschitz 2021), as Opacus' `prv` accountant; tighter
//!   than RDP (a guaranteed upper bound within `eps_error = 0.01` of the true ε).
//!
//! The module is pure `f64` arithmetic: no I/O, no clock, no randomness.

mod accountant;
mod calibrate;
mod fft;
mod ledger;
pub mod prv;
pub mod rdp;
mod special;

pub use accountant::{
    Accountant, AnyAccountant, Mechanism, PrvAccountant, RdpAccountant, epsilon_for, merge_event,
};
pub use calibrate::{EPSILON_TOLERANCE, MAX_SIGMA, noise_multiplier_for, user_level_epsilon};
pub use ledger::{
    Budget, BudgetLevel, BudgetStatus, ClientAccount, Ledger, LedgerError, Spent, WARNING_FRACTION,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a privacy computation was refused or failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountingError {
    /// The sampling rate must lie in (0, 1].
    #[error("sample rate must be in (0, 1], got {0}")]
    InvalidSampleRate(f64),
    /// The noise multiplier must be finite and > 0.
    #[error("noise multiplier must be finite and > 0, got {0}")]
    InvalidNoiseMultiplier(f64),
    /// δ must lie in (0, 1).
    #[error("delta must be in (0, 1), got {0}")]
    InvalidDelta(f64),
    /// A target ε must be finite and > 0.
    #[error("epsilon must be finite and > 0, got {0}")]
    InvalidEpsilon(f64),
    /// An event must cover at least one step.
    #[error("steps must be at least 1")]
    ZeroSteps,
    /// A tuning parameter (e.g. the PRV `eps_error`) is out of range.
    #[error("invalid accountant parameter: {0}")]
    InvalidParameter(String),
    /// No σ ≤ [`MAX_SIGMA`] reaches the target (Opacus: "privacy budget is too low").
    #[error(
        "no noise multiplier up to {max_sigma} reaches epsilon {target}: the privacy budget is too low"
    )]
    BudgetTooLow {
        /// The requested ε.
        target: f64,
        /// The largest σ tried.
        max_sigma: f64,
    },
    /// The PRV discretisation would need more grid points than allowed.
    #[error(
        "PRV domain needs {points} grid points (limit {limit}); use the RDP accountant or a larger eps_error"
    )]
    DomainTooLarge {
        /// Points needed.
        points: u64,
        /// The cap.
        limit: u64,
    },
    /// A numerical step failed (e.g. PRV mean shift larger than half a bin).
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// `steps` consecutive applications of the Poisson-subsampled Gaussian
/// mechanism with the same noise multiplier and sampling rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrivacyEvent {
    /// σ: noise standard deviation divided by the clipping norm.
    pub noise_multiplier: f64,
    /// q: Poisson sampling probability of each record (or client).
    pub sample_rate: f64,
    /// Number of steps (≥ 1).
    pub steps: u64,
}

impl PrivacyEvent {
    /// A validated event.
    pub fn new(
        noise_multiplier: f64,
        sample_rate: f64,
        steps: u64,
    ) -> Result<Self, AccountingError> {
        let ev = Self {
            noise_multiplier,
            sample_rate,
            steps,
        };
        ev.validate()?;
        Ok(ev)
    }

    /// Checks `q ∈ (0, 1]`, `σ` finite and `> 0`, `steps ≥ 1`.
    pub fn validate(&self) -> Result<(), AccountingError> {
        check_sample_rate(self.sample_rate)?;
        if !(self.noise_multiplier.is_finite() && self.noise_multiplier > 0.0) {
            return Err(AccountingError::InvalidNoiseMultiplier(
                self.noise_multiplier,
            ));
        }
        if self.steps == 0 {
            return Err(AccountingError::ZeroSteps);
        }
        Ok(())
    }
}

pub(crate) fn check_sample_rate(q: f64) -> Result<(), AccountingError> {
    if q > 0.0 && q <= 1.0 {
        Ok(())
    } else {
        Err(AccountingError::InvalidSampleRate(q))
    }
}

pub(crate) fn check_delta(delta: f64) -> Result<(), AccountingError> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(AccountingError::InvalidDelta(delta))
    }
}

pub(crate) fn check_epsilon(eps: f64) -> Result<(), AccountingError> {
    if eps.is_finite() && eps > 0.0 {
        Ok(())
    } else {
        Err(AccountingError::InvalidEpsilon(eps))
    }
}

/// Which accountant turns a history into ε.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountantKind {
    /// Rényi DP with an RDP→(ε, δ) [`Conversion`]. Fast, slightly loose.
    #[default]
    Rdp,
    /// Privacy-loss random variables (Gopi et al. 2021). Tighter, slower.
    Prv,
}

impl FromStr for AccountantKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rdp" => Ok(Self::Rdp),
            "prv" => Ok(Self::Prv),
            other => Err(format!(
                "unknown accountant {other:?} (expected \"rdp\" or \"prv\")"
            )),
        }
    }
}

impl fmt::Display for AccountantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rdp => "rdp",
            Self::Prv => "prv",
        })
    }
}

/// RDP → (ε, δ) conversion used by the RDP accountant (ignored by PRV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Conversion {
    /// Balle et al. 2020, Theorem 21 (arXiv:1905.09982); Opacus ≥ 1.0. Tighter.
    #[default]
    Balle,
    /// Mironov 2017, Proposition 3: `ε = rdp - ln δ / (α - 1)`; older Opacus,
    /// TF Privacy's tutorial and most papers before 2021.
    Classic,
}

impl FromStr for Conversion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "balle" => Ok(Self::Balle),
            "classic" => Ok(Self::Classic),
            other => Err(format!(
                "unknown conversion {other:?} (expected \"balle\" or \"classic\")"
            )),
        }
    }
}

impl fmt::Display for Conversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Balle => "balle",
            Self::Classic => "classic",
        })
    }
}
