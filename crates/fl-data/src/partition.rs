//! Splitting a data set's examples across federated clients.
//!
//! [`partition`] is pure: the same labels, client count, scheme and seed give
//! the same result (the RNG is ChaCha8 seeded with the `u64` seed). Every
//! scheme returns disjoint index lists that together cover every example
//! exactly once, each list sorted ascending and non-empty.

use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

use crate::error::Error;

/// How many times a Dirichlet draw that leaves a client empty is redrawn
/// before the deterministic repair kicks in (Flower's default is also 10).
const DIRICHLET_ATTEMPTS: usize = 10;

/// A partitioning scheme.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Partition {
    /// Shuffle, then split into `num_clients` parts whose sizes differ by at most one.
    Iid,
    /// Label skew: for every class, the class's examples are split across
    /// clients in proportions drawn from a symmetric Dirichlet(`alpha`)
    /// (Yurochkin et al. 2019, "Bayesian Nonparametric Federated Learning of
    /// Neural Networks"; Hsu, Qi & Brown 2019, arXiv:1909.06335; as Flower's
    /// `DirichletPartitioner`). Small `alpha` (0.1) is very skewed, large
    /// `alpha` (100) is close to IID.
    ///
    /// No client is left empty: a draw that leaves one empty is redrawn (up to
    /// 10 times); if it still does (tiny `alpha`, many clients), each empty
    /// client gets one example moved from the currently largest client.
    Dirichlet {
        /// Concentration parameter, finite and `> 0`.
        alpha: f64,
    },
    /// Pathological non-IID split of McMahan et al. 2017 ("Communication-Efficient
    /// Learning of Deep Networks from Decentralized Data", §3): sort by label,
    /// cut into `num_clients * per_client` contiguous shards, give each client
    /// `per_client` shards at random. Shard sizes differ by at most one.
    Shards {
        /// Shards per client (2 in the paper), `>= 1`.
        per_client: usize,
    },
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partition::Iid => f.write_str("iid"),
            Partition::Dirichlet { alpha } => write!(f, "dirichlet:{alpha}"),
            Partition::Shards { per_client } => write!(f, "shards:{per_client}"),
        }
    }
}

impl FromStr for Partition {
    type Err = Error;

    /// Parses `iid`, `dirichlet:<alpha>` (e.g. `dirichlet:0.5`) or
    /// `shards:<per_client>` (e.g. `shards:2`), case-insensitively.
    fn from_str(spec: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::InvalidPartitionSpec {
            spec: spec.to_string(),
            reason,
        };
        let lower = spec.trim().to_ascii_lowercase();
        let (kind, arg) = match lower.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (lower.as_str(), None),
        };
        match (kind, arg) {
            ("iid", None) => Ok(Partition::Iid),
            ("iid", Some(_)) => Err(bad("\"iid\" takes no parameter".into())),
            ("dirichlet", Some(a)) => {
                let alpha: f64 = a
                    .parse()
                    .map_err(|_| bad(format!("alpha {a:?} is not a number")))?;
                if !(alpha.is_finite() && alpha > 0.0) {
                    return Err(bad(format!("alpha must be finite and > 0, got {a}")));
                }
                Ok(Partition::Dirichlet { alpha })
            }
            ("shards", Some(a)) => {
                let per_client: usize = a
                    .parse()
                    .map_err(|_| bad(format!("shards per client {a:?} is not a whole number")))?;
                if per_client == 0 {
                    return Err(bad("shards per client must be >= 1".into()));
                }
                Ok(Partition::Shards { per_client })
            }
            ("dirichlet" | "shards", None) => Err(bad(format!("\"{kind}\" needs a parameter"))),
            _ => Err(bad(format!("unknown scheme {kind:?}"))),
        }
    }
}

/// Splits the indices `0..labels.len()` across `num_clients` clients.
///
/// Returns one sorted, non-empty index list per client; the lists are disjoint
/// and cover every index exactly once. Deterministic in `seed`.
///
/// Errors ([`Error::InvalidPartition`]): `num_clients == 0`, more clients than
/// examples, `alpha` not finite or `<= 0`, `per_client == 0`, or more shards
/// than examples.
pub fn partition(
    labels: &[u8],
    num_clients: usize,
    scheme: &Partition,
    seed: u64,
) -> Result<Vec<Vec<usize>>, Error> {
    let bad = |m: String| Err(Error::InvalidPartition(m));
    let n = labels.len();
    if num_clients == 0 {
        return bad("the number of clients must be at least 1".into());
    }
    if num_clients > n {
        return bad(format!("{num_clients} clients but only {n} examples"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parts = match *scheme {
        Partition::Iid => iid(n, num_clients, &mut rng),
        Partition::Dirichlet { alpha } => {
            if !(alpha.is_finite() && alpha > 0.0) {
                return bad(format!(
                    "Dirichlet alpha must be finite and > 0, got {alpha}"
                ));
            }
            dirichlet(labels, num_clients, alpha, &mut rng)
        }
        Partition::Shards { per_client } => {
            if per_client == 0 {
                return bad("shards per client must be at least 1".into());
            }
            match num_clients.checked_mul(per_client) {
                Some(s) if s <= n => shards(labels, num_clients, per_client, &mut rng),
                _ => {
                    return bad(format!(
                        "{num_clients} clients x {per_client} shards exceeds the {n} examples"
                    ));
                }
            }
        }
    };
    for p in &mut parts {
        p.sort_unstable();
    }
    Ok(parts)
}

/// Sizes `n / k` or `n / k + 1`, the larger ones first.
fn even_sizes(n: usize, k: usize) -> impl Iterator<Item = usize> {
    (0..k).map(move |i| n / k + usize::from(i < n % k))
}

fn iid(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    let mut rest = idx.as_slice();
    even_sizes(n, k)
        .map(|s| {
            let (head, tail) = rest.split_at(s);
            rest = tail;
            head.to_vec()
        })
        .collect()
}

/// Indices of each class, in index order.
fn by_class(labels: &[u8]) -> Vec<Vec<usize>> {
    let classes = labels
        .iter()
        .map(|&l| usize::from(l) + 1)
        .max()
        .unwrap_or(0);
    let mut out = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        out[usize::from(l)].push(i);
    }
    out
}

/// One draw from a symmetric Dirichlet(`alpha`) over `k` outcomes, via
/// normalized Gamma(`alpha`, 1) variates computed in log space. For
/// `alpha < 1` it uses Gamma(a) = Gamma(a + 1) * U^(1/a) (Marsaglia & Tsang
/// 2000, §6) so that tiny `alpha` does not underflow every variate to zero.
fn dirichlet_weights(alpha: f64, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let boost = alpha < 1.0;
    let shape = if boost { alpha + 1.0 } else { alpha };
    let logs: Vec<f64> = match Gamma::new(shape, 1.0) {
        Ok(gamma) => (0..k)
            .map(|_| {
                let g: f64 = gamma.sample(rng);
                let u: f64 = rng.random(); // [0, 1)
                g.ln() + if boost { (1.0 - u).ln() / alpha } else { 0.0 }
            })
            .collect(),
        Err(_) => vec![0.0; k], // unreachable for validated alpha; fall back to uniform
    };
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        // Every variate underflowed (alpha ~ 1e-300): the limit is a one-hot draw.
        let mut w = vec![0.0; k];
        w[rng.random_range(0..k)] = 1.0;
        return w;
    }
    let w: Vec<f64> = logs.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|x| x / sum).collect()
}

fn dirichlet(labels: &[u8], k: usize, alpha: f64, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let classes = by_class(labels);
    let mut parts = Vec::new();
    for _ in 0..DIRICHLET_ATTEMPTS {
        parts = vec![Vec::new(); k];
        for class in &classes {
            let mut idx = class.clone();
            idx.shuffle(rng);
            let w = dirichlet_weights(alpha, k, rng);
            // Cut points at the cumulative proportions, as Flower and FedLab do.
            let m = idx.len();
            let mut cum = 0.0;
            let mut start = 0;
            for (j, part) in parts.iter_mut().enumerate() {
                cum += w[j];
                let end = if j + 1 == k {
                    m
                } else {
                    ((cum * m as f64) as usize).clamp(start, m)
                };
                part.extend_from_slice(&idx[start..end]);
                start = end;
            }
        }
        if parts.iter().all(|p| !p.is_empty()) {
            return parts;
        }
    }
    // Repair: k <= n, so while a client is empty the largest holds >= 2 examples.
    while let Some(empty) = parts.iter().position(Vec::is_empty) {
        let largest = (0..k).max_by_key(|&j| parts[j].len()).unwrap_or(0);
        let pick = rng.random_range(0..parts[largest].len());
        let moved = parts[largest].swap_remove(pick);
        parts[empty].push(moved);
    }
    parts
}

fn shards(labels: &[u8], k: usize, per_client: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let n = labels.len();
    let mut sorted: Vec<usize> = (0..n).collect();
    sorted.sort_by_key(|&i| labels[i]); // stable: ties stay in index order
    let num_shards = k * per_client;
    let mut bounds = Vec::with_capacity(num_shards);
    let mut start = 0;
    for s in even_sizes(n, num_shards) {
        bounds.push(start..start + s);
        start += s;
    }
    let mut order: Vec<usize> = (0..num_shards).collect();
    order.shuffle(rng);
    order
        .chunks(per_client)
        .map(|shard_ids| {
            shard_ids
                .iter()
                .flat_map(|&s| sorted[bounds[s].clone()].iter().copied())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for s in ["iid", "dirichlet:0.5", "shards:2"] {
            assert_eq!(s.parse::<Partition>().unwrap().to_string(), s);
        }
        assert_eq!(
            " Dirichlet: 0.1 ".parse::<Partition>().unwrap(),
            Partition::Dirichlet { alpha: 0.1 }
        );
        for bad in [
            "",
            "iid:3",
            "dirichlet",
            "dirichlet:0",
            "dirichlet:-1",
            "dirichlet:nan",
            "dirichlet:inf",
            "shards:0",
            "shards:1.5",
            "shards",
            "pathological",
        ] {
            assert!(
                matches!(
                    bad.parse::<Partition>(),
                    Err(Error::InvalidPartitionSpec { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn invalid_arguments() {
        let labels = [0u8, 1, 2, 3];
        let inv = |r: Result<Vec<Vec<usize>>, Error>| matches!(r, Err(Error::InvalidPartition(_)));
        assert!(inv(partition(&labels, 0, &Partition::Iid, 1)));
        assert!(inv(partition(&labels, 5, &Partition::Iid, 1)));
        assert!(inv(partition(&[], 1, &Partition::Iid, 1)));
        assert!(inv(partition(
            &labels,
            2,
            &Partition::Dirichlet { alpha: 0.0 },
            1
        )));
        assert!(inv(partition(
            &labels,
            2,
            &Partition::Dirichlet { alpha: f64::NAN },
            1
        )));
        assert!(inv(partition(
            &labels,
            2,
            &Partition::Shards { per_client: 3 },
            1
        )));
        assert!(inv(partition(
            &labels,
            2,
            &Partition::Shards { per_client: 0 },
            1
        )));
        assert!(inv(partition(
            &labels,
            2,
            &Partition::Shards {
                per_client: usize::MAX
            },
            1
        )));
    }

    #[test]
    fn iid_sizes_balanced() {
        let labels = vec![0u8; 103];
        let p = partition(&labels, 10, &Partition::Iid, 7).unwrap();
        let sizes: Vec<usize> = p.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 103);
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn shards_give_at_most_per_client_labels() {
        // 10 classes x 100 examples, 10 clients x 2 shards of 50: each shard has one label.
        let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let p = partition(&labels, 10, &Partition::Shards { per_client: 2 }, 3).unwrap();
        for part in &p {
            assert_eq!(part.len(), 100);
            let mut ls: Vec<u8> = part.iter().map(|&i| labels[i]).collect();
            ls.sort_unstable();
            ls.dedup();
            assert!(ls.len() <= 2, "{ls:?}");
        }
    }

    #[test]
    fn dirichlet_small_alpha_is_skewed_large_alpha_is_not() {
        let labels: Vec<u8> = (0..5000).map(|i| (i % 10) as u8).collect();
        // Mean over clients of the largest class fraction.
        let skew = |alpha| {
            let p = partition(&labels, 10, &Partition::Dirichlet { alpha }, 11).unwrap();
            p.iter()
                .map(|part| {
                    let mut c = [0usize; 10];
                    part.iter().for_each(|&i| c[usize::from(labels[i])] += 1);
                    *c.iter().max().unwrap() as f64 / part.len() as f64
                })
                .sum::<f64>()
                / 10.0
        };
        let (lo, hi) = (skew(0.05), skew(1000.0));
        assert!(lo > 0.6, "alpha=0.05 max-class share {lo}");
        assert!(hi < 0.2, "alpha=1000 max-class share {hi}");
    }

    #[test]
    fn dirichlet_tiny_alpha_many_clients_never_empty() {
        let labels: Vec<u8> = (0..200).map(|i| (i % 10) as u8).collect();
        for alpha in [1e-300, 1e-6, 0.01] {
            let p = partition(&labels, 200, &Partition::Dirichlet { alpha }, 5).unwrap();
            assert!(p.iter().all(|c| c.len() == 1), "alpha {alpha}");
        }
    }

    #[test]
    fn dirichlet_weights_sum_to_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for alpha in [1e-300, 0.01, 0.5, 1.0, 3.0, 1e6] {
            let w = dirichlet_weights(alpha, 7, &mut rng);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{alpha}: {w:?}");
            assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0));
        }
    }
}
