//! Timing of the accountants (run with `cargo bench -p fl-privacy`; medians
//! are what to quote, and they are noisy on a shared machine).

// `criterion_group!` expands to an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use fl_core::privacy::{
    Accountant, AccountantKind, Conversion, PrivacyEvent, RdpAccountant, epsilon_for,
    noise_multiplier_for,
};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let ev = |s, q, t| PrivacyEvent::new(s, q, t).unwrap();
    let mut g = c.benchmark_group("privacy");
    g.sample_size(10);
    g.bench_function("rdp_epsilon_50k_steps", |b| {
        b.iter(|| {
            epsilon_for(
                &[ev(1.1, 0.004, 50_000)],
                1e-5,
                AccountantKind::Rdp,
                Conversion::Balle,
            )
        })
    });
    g.bench_function("rdp_accountant_50k_single_steps_then_epsilon", |b| {
        b.iter(|| {
            let mut a = RdpAccountant::default();
            for _ in 0..50_000 {
                a.step(ev(1.1, 0.004, 1)).unwrap();
            }
            black_box(a.epsilon(1e-5))
        })
    });
    g.bench_function("prv_epsilon_mnist_15k_steps", |b| {
        b.iter(|| {
            epsilon_for(
                &[ev(1.1, 0.004, 15_000)],
                1e-5,
                AccountantKind::Prv,
                Conversion::Balle,
            )
        })
    });
    g.bench_function("rdp_calibrate_mnist", |b| {
        b.iter(|| {
            noise_multiplier_for(
                3.0,
                1e-5,
                0.004,
                15_000,
                AccountantKind::Rdp,
                Conversion::Balle,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
