//! Property tests of `partition`: disjoint, covering, non-empty, seeded.

use fl_data::{Partition, partition};
use proptest::prelude::*;

fn scheme() -> impl Strategy<Value = Partition> {
    prop_oneof![
        Just(Partition::Iid),
        (0.01f64..100.0).prop_map(|alpha| Partition::Dirichlet { alpha }),
        (1usize..4).prop_map(|per_client| Partition::Shards { per_client }),
    ]
}

/// Labels (up to 10 classes, possibly missing some), a client count from
/// `clients` and a scheme; always feasible (11 clients x 3 shards < 40 examples).
fn case_with(
    clients: std::ops::Range<usize>,
) -> impl Strategy<Value = (Vec<u8>, usize, Partition)> {
    (
        proptest::collection::vec(0u8..10, 40..600),
        clients,
        scheme(),
    )
}

fn case() -> impl Strategy<Value = (Vec<u8>, usize, Partition)> {
    case_with(2..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn disjoint_cover_nonempty((labels, k, s) in case(), seed in any::<u64>()) {
        let parts = partition(&labels, k, &s, seed).unwrap();
        prop_assert_eq!(parts.len(), k);
        let mut seen = vec![0u32; labels.len()];
        for p in &parts {
            prop_assert!(!p.is_empty());
            prop_assert!(p.windows(2).all(|w| w[0] < w[1]), "not sorted");
            for &i in p {
                seen[i] += 1;
            }
        }
        prop_assert!(seen.iter().all(|&c| c == 1), "some index not covered exactly once");
        let n = labels.len();
        let sizes = parts.iter().map(Vec::len);
        match s {
            Partition::Iid => {
                prop_assert!(sizes.clone().all(|l| l == n / k || l == n / k + 1));
            }
            Partition::Shards { per_client } => {
                let shard = n / (k * per_client);
                prop_assert!(sizes.clone().all(|l| l >= per_client * shard && l <= per_client * (shard + 1)));
            }
            Partition::Dirichlet { .. } => {}
        }
    }

    #[test]
    fn same_seed_same_result((labels, k, s) in case(), seed in any::<u64>()) {
        prop_assert_eq!(partition(&labels, k, &s, seed).unwrap(), partition(&labels, k, &s, seed).unwrap());
    }

    #[test]
    fn different_seeds_differ((labels, k, s) in case_with(3..12), seed in any::<u64>()) {
        // Two seeds can collide by chance when there are few outcomes (3 clients
        // x 1 shard has 6), so ask that 12 seeds are not all equal (p < 1e-8).
        let first = partition(&labels, k, &s, seed).unwrap();
        let all_same = (1..12u64).all(|d| partition(&labels, k, &s, seed.wrapping_add(d)).unwrap() == first);
        prop_assert!(!all_same);
    }

    #[test]
    fn single_client_gets_everything((labels, _k, s) in case(), seed in any::<u64>()) {
        let parts = partition(&labels, 1, &s, seed).unwrap();
        prop_assert_eq!(parts, vec![(0..labels.len()).collect::<Vec<_>>()]);
    }
}

#[test]
fn as_many_clients_as_examples() {
    let labels: Vec<u8> = (0..50).map(|i| (i % 3) as u8).collect();
    for s in [
        Partition::Iid,
        Partition::Dirichlet { alpha: 0.3 },
        Partition::Shards { per_client: 1 },
    ] {
        let parts = partition(&labels, 50, &s, 9).unwrap();
        assert!(parts.iter().all(|p| p.len() == 1), "{s}");
    }
}
