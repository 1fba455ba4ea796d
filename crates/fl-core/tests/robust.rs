//! Robust aggregation under attack, aggregation properties and server optimizers.

use fl_core::AggregateError;
use fl_core::robust::{
    AttackSpec, ServerOptimizer, coordinate_median, krum, krum_scores, multi_krum, trimmed_mean,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn as_slices(v: &[Vec<f32>]) -> Vec<&[f32]> {
    v.iter().map(Vec::as_slice).collect()
}

fn mean(v: &[Vec<f32>]) -> Vec<f32> {
    let n = v.len() as f64;
    (0..v[0].len())
        .map(|j| (v.iter().map(|u| f64::from(u[j])).sum::<f64>() / n) as f32)
        .collect()
}

fn dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// `n` honest updates around `center` (noise std 0.1), then the attack applied
/// to the clients `spec` marks malicious. Returns updates and malicious ids.
fn attacked_round(spec: &str, n: usize, center: &[f32], seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
    let spec: AttackSpec = spec.parse().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bad = spec.malicious_clients(n, seed);
    let updates = (0..n)
        .map(|i| {
            let mut u: Vec<f32> = center
                .iter()
                .map(|c| c + 0.1 * rng.sample::<f32, _>(StandardNormal))
                .collect();
            if bad.contains(&i) {
                spec.apply(&mut u, &mut rng);
            }
            u
        })
        .collect();
    (updates, bad)
}

#[test]
fn robust_rules_resist_attacks_that_break_the_mean() {
    let center: Vec<f32> = (0..50).map(|i| (i as f32 / 10.0).sin()).collect();
    for attack in ["scale:100:0.2", "sign-flip:0.2", "noise:10:0.2"] {
        // Prepare: 20 clients, 4 malicious.
        let (updates, bad) = attacked_round(attack, 20, &center, 5);
        assert_eq!(bad.len(), 4);
        let u = as_slices(&updates);
        // Execute
        let honest_mean = mean(
            &updates
                .iter()
                .enumerate()
                .filter(|(i, _)| !bad.contains(i))
                .map(|(_, u)| u.clone())
                .collect::<Vec<_>>(),
        );
        let plain = dist(&mean(&updates), &honest_mean);
        let median = dist(&coordinate_median(&u).unwrap(), &honest_mean);
        let trimmed = dist(&trimmed_mean(&u, 0.2).unwrap(), &honest_mean);
        let (mk, chosen) = multi_krum(&u, 4, 16).unwrap();
        let mk = dist(&mk, &honest_mean);
        let k = krum(&u, 4).unwrap();
        eprintln!(
            "{attack}: distance to honest mean: mean {plain:.3}, median {median:.3}, trimmed {trimmed:.3}, multi-krum {mk:.3}"
        );
        // Assert: every robust rule lands within the honest spread (‖noise‖ ≈ 0.1·√50 ≈ 0.7).
        assert!(!bad.contains(&k), "{attack}: krum chose malicious {k}");
        assert!(
            chosen.iter().all(|i| !bad.contains(i)),
            "{attack}: multi-krum chose {chosen:?}"
        );
        for (name, d) in [("median", median), ("trimmed", trimmed), ("multi-krum", mk)] {
            assert!(d < 0.5, "{attack}: {name} is {d} from the honest mean");
            assert!(
                d < plain,
                "{attack}: {name} ({d}) no better than the mean ({plain})"
            );
        }
    }
}

#[test]
fn krum_needs_2f_plus_3_updates() {
    let updates = vec![vec![0.0f32; 3]; 6];
    let u = as_slices(&updates);
    assert!(krum_scores(&u, 1).is_ok());
    assert_eq!(
        krum(&u, 2),
        Err(AggregateError::TooFew {
            strategy: "krum",
            needed: 7,
            got: 6
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn median_and_trimmed_mean_stay_inside_the_coordinate_range(
        updates in (1usize..9, 1usize..20).prop_flat_map(|(n, d)| prop::collection::vec(prop::collection::vec(-1e3f32..1e3, d), n)),
        beta in 0.0f64..0.49,
    ) {
        let u = as_slices(&updates);
        let med = coordinate_median(&u).unwrap();
        let tm = trimmed_mean(&u, beta).unwrap();
        for j in 0..updates[0].len() {
            let lo = updates.iter().map(|v| v[j]).fold(f32::INFINITY, f32::min);
            let hi = updates.iter().map(|v| v[j]).fold(f32::NEG_INFINITY, f32::max);
            prop_assert!(lo <= med[j] && med[j] <= hi);
            prop_assert!(lo - 1e-3 <= tm[j] && tm[j] <= hi + 1e-3);
        }
        // Order of clients does not matter.
        let mut rev = u.clone();
        rev.reverse();
        prop_assert_eq!(coordinate_median(&rev).unwrap(), med);
        // β = 0 is the plain mean.
        let m = mean(&updates);
        for (a, b) in trimmed_mean(&u, 0.0).unwrap().iter().zip(&m) {
            prop_assert!((a - b).abs() <= 1e-3);
        }
    }

    #[test]
    fn multi_krum_with_m_equal_n_is_the_mean(
        updates in (3usize..9, 1usize..10).prop_flat_map(|(n, d)| prop::collection::vec(prop::collection::vec(-10f32..10.0, d), n)),
    ) {
        let u = as_slices(&updates);
        let (avg, mut chosen) = multi_krum(&u, 0, u.len()).unwrap();
        chosen.sort_unstable();
        prop_assert_eq!(chosen, (0..u.len()).collect::<Vec<_>>());
        for (a, b) in avg.iter().zip(mean(&updates)) {
            prop_assert!((a - b).abs() <= 1e-4);
        }
    }
}

#[test]
fn server_optimizers_descend_a_quadratic() {
    // Clients pull towards `target`: the pseudo-gradient is 0.1·(target − x).
    let target: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
    for opt in [
        ServerOptimizer::fed_adam(),
        ServerOptimizer::fed_yogi(),
        ServerOptimizer::fed_adagrad(),
    ] {
        // Flower's η is tuned for neural nets; on this toy problem Yogi needs
        // a larger η and Adagrad's decaying step an even larger one.
        let opt = match opt {
            ServerOptimizer::FedYogi {
                beta1, beta2, tau, ..
            } => ServerOptimizer::FedYogi {
                eta: 0.1,
                beta1,
                beta2,
                tau,
            },
            ServerOptimizer::FedAdagrad { tau, .. } => {
                ServerOptimizer::FedAdagrad { eta: 0.5, tau }
            }
            other => other,
        };
        let mut state = opt.init(8).unwrap();
        let mut x = vec![0.0f32; 8];
        let start = dist(&x, &target);
        for _ in 0..300 {
            let pg: Vec<f32> = x.iter().zip(&target).map(|(a, t)| 0.1 * (t - a)).collect();
            state.step(&mut x, &pg).unwrap();
        }
        let end = dist(&x, &target);
        eprintln!("{}: distance {start:.3} -> {end:.3}", opt.name());
        assert!(end < 0.1 * start, "{}: {start} -> {end}", opt.name());
    }
}
