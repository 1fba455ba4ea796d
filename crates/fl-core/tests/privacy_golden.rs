//! Published DP-SGD figures, reproduced with the classic RDP→(ε, δ)
//! conversion those publications used (Mironov 2017, Prop. 3), and the
//! tighter bounds today's accountants give for the same schedules.

use fl_core::privacy::{AccountantKind, Conversion, PrivacyEvent, epsilon_for};

fn eps(sigma: f64, q: f64, steps: u64, kind: AccountantKind, conv: Conversion) -> f64 {
    let ev = PrivacyEvent::new(sigma, q, steps).unwrap();
    epsilon_for(&[ev], 1e-5, kind, conv).unwrap()
}

/// Opacus MNIST example README: σ = 1.1, batch 240 of 60 000, 60 epochs
/// (60 · 250 = 15 000 steps), δ = 1e-5, published ε = 2.91.
#[test]
fn opacus_mnist_readme() {
    let q = 240.0 / 60000.0;
    let classic = eps(1.1, q, 15_000, AccountantKind::Rdp, Conversion::Classic);
    assert!((classic - 2.91).abs() < 0.005, "classic {classic}");
    let balle = eps(1.1, q, 15_000, AccountantKind::Rdp, Conversion::Balle);
    let prv = eps(1.1, q, 15_000, AccountantKind::Prv, Conversion::Balle);
    assert!(
        prv < balle && balle < classic,
        "prv {prv} balle {balle} classic {classic}"
    );
}

/// TF Privacy tutorial (`compute_dp_sgd_privacy`): σ = 1.1, batch 256 of
/// 60 000, 60 epochs = ⌈60 · 60000 / 256⌉ = 14 063 steps, δ = 1e-5, ε = 3.01.
#[test]
fn tf_privacy_tutorial() {
    let q = 256.0 / 60000.0;
    let steps = (60.0f64 * 60000.0 / 256.0).ceil() as u64;
    let classic = eps(1.1, q, steps, AccountantKind::Rdp, Conversion::Classic);
    assert!((classic - 3.01).abs() < 0.005, "classic {classic}");
    let balle = eps(1.1, q, steps, AccountantKind::Rdp, Conversion::Balle);
    assert!(balle < classic);
}
