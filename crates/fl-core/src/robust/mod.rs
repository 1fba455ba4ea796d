//! Byzantine-robust aggregation, adaptive server optimizers and simulated attacks.
//!
//! All functions are pure, accumulate in `f64` and take the updates as
//! borrowed slices (`&[&[f32]]`), so no n × d copy is made; the coordinate-wise
//! rules only transpose one coordinate at a time into an n-value buffer.
//!
//! # Which rule when
//!
//! - **Mean (FedAvg)** — no adversary, best statistical efficiency. One
//!   malicious client can move it arbitrarily far.
//! - [`coordinate_median`] (Yin et al. 2018, "Byzantine-Robust Distributed
//!   Learning: Towards Optimal Statistical Rates") — tolerates up to half of the
//!   clients being malicious per coordinate; no parameter to tune; noisier
//!   than the mean on honest, non-IID data.
//! - [`trimmed_mean`] (Yin et al. 2018) — drops the ⌊β·n⌋ largest and smallest
//!   values per coordinate; tolerates a β fraction of attackers and keeps more
//!   of the honest signal than the median when β is set to the expected
//!   attacker fraction.
//! - [`krum`] / [`multi_krum`] (Blanchard et al. 2017, "Machine Learning with
//!   Adversaries: Byzantine Tolerant Gradient Descent") — pick the update(s)
//!   closest to their n − f − 2 nearest neighbours; needs n > 2f + 2. Works on
//!   whole vectors, so it resists attacks that look normal per coordinate, but
//!   Krum alone discards most honest information (use Multi-Krum with m ≈ n − f).
//!
//! # Combining with differential privacy
//!
//! Clip each update to the L2 bound C *before* robust aggregation: clipping
//! bounds every client's influence and is what the sensitivity analysis
//! needs. Add the Gaussian noise *after* aggregation: user-level DP (McMahan
//! et al. 2018, "Learning Differentially Private Recurrent Language Models")
//! accounts for noise σ·C added once to the sum of clipped updates, whose
//! sensitivity to one client is C.
//!
//! Caveat: that sensitivity argument is for the sum or a fixed-denominator
//! mean. The median, trimmed mean and Krum of clipped updates can move by up
//! to 2C per coordinate when one client changes, so central noise calibrated
//! for the mean does **not** by itself give the accounted guarantee for them.
//! If both robustness and a proven guarantee are needed, have clients clip and
//! noise their own updates (local DP); any server rule is then post-processing.

//! # Server optimizers
//!
//! [`ServerOptimizer`] (Reddi et al. 2021, "Adaptive Federated Optimization")
//! treats the aggregate delta as a pseudo-gradient and applies Adam, Yogi or
//! Adagrad on the server; it composes with any aggregation rule above.

pub mod attack;
mod krum;
mod median;
mod server_opt;

pub use attack::{Attack, AttackSpec, malicious_clients};
pub use krum::{krum, krum_scores, multi_krum};
pub use median::{coordinate_median, trimmed_mean};
pub use server_opt::{ServerOptimizer, ServerOptimizerState};

use crate::error::AggregateError;

/// Checks that there is at least one update and all have the same length;
/// returns that length.
pub(crate) fn common_len(updates: &[&[f32]]) -> Result<usize, AggregateError> {
    let first = updates.first().ok_or(AggregateError::Empty)?.len();
    if let Some(bad) = updates.iter().find(|u| u.len() != first) {
        return Err(AggregateError::LengthMismatch {
            expected: first,
            got: bad.len(),
        });
    }
    Ok(first)
}

/// ⌊fraction · n⌋, with a 1e-9 tolerance so that decimal fractions such as
/// 0.29 · 100 give 29 rather than 28.
pub(crate) fn floor_fraction(fraction: f64, n: usize) -> usize {
    let x = fraction * n as f64;
    ((x + 1e-9 * x.abs().max(1.0)).floor().max(0.0) as usize).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_len_checks_shape() {
        assert_eq!(common_len(&[]), Err(AggregateError::Empty));
        assert_eq!(common_len(&[&[1.0, 2.0], &[3.0, 4.0]]), Ok(2));
        assert_eq!(
            common_len(&[&[1.0, 2.0], &[3.0]]),
            Err(AggregateError::LengthMismatch {
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn floor_fraction_tolerates_decimal_rounding() {
        assert_eq!(floor_fraction(0.29, 100), 29);
        assert_eq!(floor_fraction(0.2, 10), 2);
        assert_eq!(floor_fraction(0.25, 10), 2);
        assert_eq!(floor_fraction(0.0, 10), 0);
        assert_eq!(floor_fraction(1.0, 7), 7);
    }
}
