//! Noise calibration and the client-level (user-level) view of DP-FedAvg.

use super::accountant::epsilon_for;
use super::{
    AccountantKind, AccountingError, Conversion, PrivacyEvent, check_delta, check_epsilon,
    check_sample_rate,
};

/// Largest σ the calibration tries before giving up (Opacus `MAX_SIGMA`).
pub const MAX_SIGMA: f64 = 1e6;

/// Bisection stops once `target - ε(σ) ≤ EPSILON_TOLERANCE` (Opacus' default).
pub const EPSILON_TOLERANCE: f64 = 0.01;

/// The noise multiplier σ for which `steps` Poisson-subsampled Gaussian steps at
/// rate `sample_rate` spend at most `target_epsilon` at `delta`.
///
/// Same search as Opacus' `get_noise_multiplier`: double σ from 10 until
/// `ε(σ) ≤ target`, then bisect, always keeping the upper end, so the result
/// guarantees `ε(σ) ≤ target` and lies within [`EPSILON_TOLERANCE`] of it.
pub fn noise_multiplier_for(
    target_epsilon: f64,
    delta: f64,
    sample_rate: f64,
    steps: u64,
    kind: AccountantKind,
    conversion: Conversion,
) -> Result<f64, AccountingError> {
    check_epsilon(target_epsilon)?;
    check_delta(delta)?;
    check_sample_rate(sample_rate)?;
    if steps == 0 {
        return Err(AccountingError::ZeroSteps);
    }
    let eps = |sigma: f64| {
        let ev = PrivacyEvent {
            noise_multiplier: sigma,
            sample_rate,
            steps,
        };
        epsilon_for(&[ev], delta, kind, conversion)
    };
    let (mut sigma_low, mut sigma_high) = (0.0f64, 10.0f64);
    let mut eps_high = f64::INFINITY;
    while eps_high > target_epsilon {
        sigma_high *= 2.0;
        if sigma_high > MAX_SIGMA {
            return Err(AccountingError::BudgetTooLow {
                target: target_epsilon,
                max_sigma: MAX_SIGMA,
            });
        }
        eps_high = eps(sigma_high)?;
    }
    // ε is continuous in σ, so this ends; the iteration cap only guards
    // against a pathological accountant error surface.
    for _ in 0..200 {
        if target_epsilon - eps_high <= EPSILON_TOLERANCE
            || sigma_high - sigma_low < 1e-12 * sigma_high
        {
            break;
        }
        let sigma = 0.5 * (sigma_low + sigma_high);
        let e = eps(sigma)?;
        if e < target_epsilon {
            sigma_high = sigma;
            eps_high = e;
        } else {
            sigma_low = sigma;
        }
    }
    Ok(sigma_high)
}

/// Client-level ε of DP-FedAvg (McMahan, Ramage, Talwar, Zhang, *Learning
/// Differentially Private Recurrent Language Models*, ICLR 2018): each round
/// samples clients with probability `clients_per_round / total_clients`, clips
/// each client's whole update and adds Gaussian noise `σ · C` to the sum, so the
/// same subsampled-Gaussian analysis applies with `q = clients_per_round /
/// total_clients` and `steps = rounds`.
pub fn user_level_epsilon(
    noise_multiplier: f64,
    clients_per_round: u64,
    total_clients: u64,
    rounds: u64,
    delta: f64,
    kind: AccountantKind,
    conversion: Conversion,
) -> Result<f64, AccountingError> {
    if total_clients == 0 {
        return Err(AccountingError::InvalidSampleRate(f64::NAN));
    }
    let q = clients_per_round as f64 / total_clients as f64;
    let ev = PrivacyEvent::new(noise_multiplier, q, rounds)?;
    epsilon_for(&[ev], delta, kind, conversion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_rejects_bad_input() {
        let c =
            |e, d, q, t| noise_multiplier_for(e, d, q, t, AccountantKind::Rdp, Conversion::Balle);
        assert_eq!(
            c(0.0, 1e-5, 0.01, 10),
            Err(AccountingError::InvalidEpsilon(0.0))
        );
        assert_eq!(
            c(1.0, 1.0, 0.01, 10),
            Err(AccountingError::InvalidDelta(1.0))
        );
        assert_eq!(
            c(1.0, 1e-5, 0.0, 10),
            Err(AccountingError::InvalidSampleRate(0.0))
        );
        assert_eq!(c(1.0, 1e-5, 0.01, 0), Err(AccountingError::ZeroSteps));
    }

    #[test]
    fn user_level_matches_sample_level_with_client_rate() {
        let a = user_level_epsilon(
            1.0,
            10,
            1000,
            100,
            1e-5,
            AccountantKind::Rdp,
            Conversion::Balle,
        )
        .unwrap();
        let ev = PrivacyEvent {
            noise_multiplier: 1.0,
            sample_rate: 0.01,
            steps: 100,
        };
        let b = epsilon_for(&[ev], 1e-5, AccountantKind::Rdp, Conversion::Balle).unwrap();
        assert_eq!(a, b);
        assert!(
            user_level_epsilon(
                1.0,
                10,
                0,
                100,
                1e-5,
                AccountantKind::Rdp,
                Conversion::Balle
            )
            .is_err()
        );
        assert!(
            user_level_epsilon(
                1.0,
                20,
                10,
                100,
                1e-5,
                AccountantKind::Rdp,
                Conversion::Balle
            )
            .is_err()
        );
    }
}
