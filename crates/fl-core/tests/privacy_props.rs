//! Properties of the accountants: calibration never overshoots the target,
//! and ε is monotone in the schedule.

use fl_core::privacy::{
    AccountantKind, Conversion, EPSILON_TOLERANCE, PrivacyEvent, epsilon_for, noise_multiplier_for,
};
use proptest::prelude::*;

fn eps(sigma: f64, q: f64, steps: u64, delta: f64, kind: AccountantKind, conv: Conversion) -> f64 {
    let ev = PrivacyEvent::new(sigma, q, steps).unwrap();
    epsilon_for(&[ev], delta, kind, conv).unwrap()
}

fn conversion() -> impl Strategy<Value = Conversion> {
    prop_oneof![Just(Conversion::Balle), Just(Conversion::Classic)]
}

/// Tolerance for "non-decreasing": log-space sums round at ~1e-15 relative.
fn le(a: f64, b: f64) -> bool {
    a <= b * (1.0 + 1e-9) + 1e-12
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn calibrated_sigma_meets_the_target(
        target in 0.3f64..12.0,
        q in 1e-3f64..0.3,
        steps in 1u64..3000,
        delta_exp in 3i32..9,
        conv in conversion(),
    ) {
        let delta = 10f64.powi(-delta_exp);
        let sigma = noise_multiplier_for(target, delta, q, steps, AccountantKind::Rdp, conv).unwrap();
        let got = eps(sigma, q, steps, delta, AccountantKind::Rdp, conv);
        prop_assert!(got <= target, "sigma {} gives {} > {}", sigma, got, target);
        prop_assert!(target - got <= EPSILON_TOLERANCE + 1e-12, "{} far below {}", got, target);
    }

    #[test]
    fn epsilon_is_monotone(
        sigma in 0.5f64..5.0,
        q in 1e-3f64..0.5,
        steps in 1u64..20_000,
        f in 1.01f64..2.0,
        conv in conversion(),
    ) {
        let base = eps(sigma, q, steps, 1e-5, AccountantKind::Rdp, conv);
        let more_steps = eps(sigma, q, ((steps as f64 * f) as u64).max(steps + 1), 1e-5, AccountantKind::Rdp, conv);
        let more_q = eps(sigma, (q * f).min(1.0), steps, 1e-5, AccountantKind::Rdp, conv);
        let more_sigma = eps(sigma * f, q, steps, 1e-5, AccountantKind::Rdp, conv);
        prop_assert!(le(base, more_steps), "steps: {} > {}", base, more_steps);
        prop_assert!(le(base, more_q), "q: {} > {}", base, more_q);
        prop_assert!(le(more_sigma, base), "sigma: {} > {}", more_sigma, base);
    }
}

#[test]
fn prv_calibration_meets_the_target_and_beats_rdp() {
    let (target, delta, q, steps) = (2.0, 1e-5, 0.02, 300);
    let prv = noise_multiplier_for(
        target,
        delta,
        q,
        steps,
        AccountantKind::Prv,
        Conversion::Balle,
    )
    .unwrap();
    assert!(eps(prv, q, steps, delta, AccountantKind::Prv, Conversion::Balle) <= target);
    let rdp = noise_multiplier_for(
        target,
        delta,
        q,
        steps,
        AccountantKind::Rdp,
        Conversion::Balle,
    )
    .unwrap();
    // The tighter accountant needs less noise for the same guarantee.
    assert!(prv < rdp, "prv sigma {prv} rdp sigma {rdp}");
}

#[test]
fn prv_is_monotone_in_steps_on_a_coarse_grid() {
    let e: Vec<f64> = [100u64, 400, 1600]
        .iter()
        .map(|&t| eps(1.0, 0.01, t, 1e-5, AccountantKind::Prv, Conversion::Balle))
        .collect();
    assert!(e[0] < e[1] && e[1] < e[2], "{e:?}");
}

#[test]
fn impossible_budget_is_reported() {
    let err = noise_multiplier_for(
        1e-9,
        1e-10,
        1.0,
        1_000_000,
        AccountantKind::Rdp,
        Conversion::Balle,
    )
    .unwrap_err();
    assert!(
        matches!(err, fl_core::privacy::AccountingError::BudgetTooLow { .. }),
        "{err}"
    );
}
