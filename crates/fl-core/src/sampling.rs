//! Client selection. Pure: a seeded RNG in, a list of client ids out.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// How the clients of a round are chosen from those available.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Sampling {
    /// A fixed fraction of the available clients (at least `min_clients`), uniformly
    /// without replacement, as Flower's FedAvg does.
    Fraction {
        /// Fraction of available clients per round, in (0, 1].
        fraction: f64,
        /// Lower bound on the number sampled (capped by availability).
        min_clients: usize,
    },
    /// Each available client independently with probability `rate` (Poisson sampling,
    /// which user-level DP accounting assumes). May select nobody.
    Poisson {
        /// Inclusion probability in (0, 1].
        rate: f64,
    },
}

impl Sampling {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ok = |x: f64| x.is_finite() && x > 0.0 && x <= 1.0;
        match *self {
            Sampling::Fraction { fraction, .. } if !ok(fraction) => Err(ConfigError::Invalid(
                format!("fraction must be in (0, 1], got {fraction}"),
            )),
            Sampling::Poisson { rate } if !ok(rate) => Err(ConfigError::Invalid(format!(
                "sampling rate must be in (0, 1], got {rate}"
            ))),
            _ => Ok(()),
        }
    }

    /// Picks participants among `available` (which must be sorted for determinism).
    pub fn sample<R: Rng + ?Sized>(&self, available: &[String], rng: &mut R) -> Vec<String> {
        match *self {
            Sampling::Fraction {
                fraction,
                min_clients,
            } => {
                let n = available.len();
                let k = ((n as f64 * fraction).round() as usize)
                    .max(min_clients)
                    .min(n)
                    .max(1.min(n));
                let mut ids: Vec<String> = available.to_vec();
                ids.shuffle(rng);
                ids.truncate(k);
                ids.sort();
                ids
            }
            Sampling::Poisson { rate } => available
                .iter()
                .filter(|_| rng.random::<f64>() < rate)
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i:03}")).collect()
    }

    #[test]
    fn fraction_sampling_is_seeded_and_sized() {
        let s = Sampling::Fraction {
            fraction: 0.3,
            min_clients: 2,
        };
        let a = s.sample(&ids(10), &mut ChaCha8Rng::seed_from_u64(1));
        let b = s.sample(&ids(10), &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
        let small = s.sample(&ids(3), &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(small.len(), 2, "min_clients applies");
        let mut dedup = a.clone();
        dedup.dedup();
        assert_eq!(dedup, a);
    }

    #[test]
    fn poisson_sampling_rate_is_respected_on_average() {
        let s = Sampling::Poisson { rate: 0.1 };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let total: usize = (0..200).map(|_| s.sample(&ids(100), &mut rng).len()).sum();
        let mean = total as f64 / 200.0;
        assert!((mean - 10.0).abs() < 1.0, "mean {mean}");
    }

    #[test]
    fn invalid_parameters_are_refused() {
        assert!(
            Sampling::Fraction {
                fraction: 0.0,
                min_clients: 1
            }
            .validate()
            .is_err()
        );
        assert!(Sampling::Poisson { rate: 1.5 }.validate().is_err());
        assert!(Sampling::Poisson { rate: f64::NAN }.validate().is_err());
    }
}
