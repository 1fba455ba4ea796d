//! Model-poisoning attacks for simulations: what a malicious client does to
//! its honest update before sending it.
//!
//! - `scale:<λ>` — multiplies the update by λ (boosting / model replacement,
//!   Bagdasaryan et al. 2020, "How To Backdoor Federated Learning"). Defeated
//!   by norm bounds and by every robust rule here.
//! - `sign-flip` — negates the update (the "reversed gradient" attack of
//!   Damaskinos et al. 2018 / Fang et al. 2020).
//! - `noise:<σ>` — adds N(0, σ²) to every coordinate (Gaussian attack,
//!   Blanchard et al. 2017).
//!
//! On the command line an attack names its malicious fraction last:
//! `scale:100:0.2`, `sign-flip:0.2`, `noise:1.0:0.2` ([`AttackSpec`]).

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::floor_fraction;
use crate::error::ConfigError;

/// What a malicious client does to its update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Attack {
    /// Multiply every coordinate by this factor.
    Scale(f32),
    /// Negate every coordinate.
    SignFlip,
    /// Add Gaussian noise with this standard deviation to every coordinate.
    Noise(f32),
}

impl Attack {
    /// Poisons `update` in place. Only [`Attack::Noise`] draws from `rng`.
    pub fn apply(&self, update: &mut [f32], rng: &mut impl Rng) {
        match *self {
            Self::Scale(s) => update.iter_mut().for_each(|x| *x *= s),
            Self::SignFlip => update.iter_mut().for_each(|x| *x = -*x),
            Self::Noise(std) => {
                for x in update {
                    let z: f32 = rng.sample(StandardNormal);
                    *x += std * z;
                }
            }
        }
    }
}

fn invalid(s: &str, why: &str) -> ConfigError {
    ConfigError::Invalid(format!("attack `{s}`: {why}"))
}

impl FromStr for Attack {
    type Err = ConfigError;

    /// `scale:<factor>`, `sign-flip` or `noise:<std>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let number = |v: &str| -> Result<f32, ConfigError> {
            v.parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| invalid(s, &format!("`{v}` is not a finite number")))
        };
        match t.split_once(':') {
            None if t == "sign-flip" => Ok(Self::SignFlip),
            Some(("scale", v)) => Ok(Self::Scale(number(v)?)),
            Some(("noise", v)) => {
                let std = number(v)?;
                if std < 0.0 {
                    return Err(invalid(s, "noise std must be ≥ 0"));
                }
                Ok(Self::Noise(std))
            }
            _ => Err(invalid(
                s,
                "expected scale:<factor>, sign-flip or noise:<std>",
            )),
        }
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scale(s) => write!(f, "scale:{s}"),
            Self::SignFlip => f.write_str("sign-flip"),
            Self::Noise(std) => write!(f, "noise:{std}"),
        }
    }
}

/// An attack and the fraction of clients that run it, as written on the
/// command line: `<attack>:<fraction>`, e.g. `scale:100:0.2`, `sign-flip:0.2`.
/// Serde uses the same string.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttackSpec {
    /// What malicious clients do.
    pub attack: Attack,
    /// Fraction of clients that are malicious, in [0, 1].
    pub fraction: f64,
}

impl AttackSpec {
    /// Poisons `update` in place (see [`Attack::apply`]).
    pub fn apply(&self, update: &mut [f32], rng: &mut impl Rng) {
        self.attack.apply(update, rng);
    }

    /// The malicious clients among `n`; see [`malicious_clients`].
    pub fn malicious_clients(&self, n: usize, seed: u64) -> Vec<usize> {
        malicious_clients(n, self.fraction, seed)
    }
}

impl FromStr for AttackSpec {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (attack, fraction) = s
            .trim()
            .rsplit_once(':')
            .ok_or_else(|| invalid(s, "expected <attack>:<fraction>, e.g. sign-flip:0.2"))?;
        let fraction: f64 = fraction
            .parse()
            .ok()
            .filter(|f| (0.0..=1.0).contains(f))
            .ok_or_else(|| {
                invalid(
                    s,
                    &format!("malicious fraction `{fraction}` must be in [0, 1]"),
                )
            })?;
        Ok(Self {
            attack: attack.parse()?,
            fraction,
        })
    }
}

impl fmt::Display for AttackSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.attack, self.fraction)
    }
}

impl Serialize for AttackSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AttackSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which of `n` clients (indices 0..n) are malicious: ⌊fraction · n⌋ of them,
/// drawn uniformly without replacement from a ChaCha8 stream seeded with
/// `seed`, returned sorted. Deterministic for a given seed (and lock file).
/// A fraction outside [0, 1] (or NaN) is clamped.
pub fn malicious_clients(n: usize, fraction: f64, seed: u64) -> Vec<usize> {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let count = floor_fraction(fraction, n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ids: Vec<usize> = (0..n).collect();
    // Partial Fisher–Yates: the first `count` slots are a uniform sample.
    for i in 0..count {
        let j = rng.random_range(i..n);
        ids.swap(i, j);
    }
    ids.truncate(count);
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_forms() {
        let spec: AttackSpec = "scale:100:0.2".parse().unwrap();
        assert_eq!(
            spec,
            AttackSpec {
                attack: Attack::Scale(100.0),
                fraction: 0.2
            }
        );
        let spec: AttackSpec = "sign-flip:0.2".parse().unwrap();
        assert_eq!(spec.attack, Attack::SignFlip);
        let spec: AttackSpec = "noise:1.0:0.25".parse().unwrap();
        assert_eq!(
            spec,
            AttackSpec {
                attack: Attack::Noise(1.0),
                fraction: 0.25
            }
        );
        assert_eq!(spec.to_string(), "noise:1:0.25");
        assert_eq!(spec.to_string().parse::<AttackSpec>().unwrap(), spec);
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<AttackSpec>(&json).unwrap(), spec);
    }

    #[test]
    fn rejects_bad_attacks() {
        for s in [
            "",
            "sign-flip",
            "scale:100",
            "scale:x:0.2",
            "noise:-1:0.2",
            "flip:0.2",
            "sign-flip:1.5",
            "scale:inf:0.1",
            "sign-flip:nan",
        ] {
            assert!(s.parse::<AttackSpec>().is_err(), "{s}");
        }
    }

    #[test]
    fn attacks_transform_the_update() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut u = vec![1.0, -2.0];
        Attack::Scale(10.0).apply(&mut u, &mut rng);
        assert_eq!(u, vec![10.0, -20.0]);
        Attack::SignFlip.apply(&mut u, &mut rng);
        assert_eq!(u, vec![-10.0, 20.0]);
        let mut z = vec![0.0f32; 20_000];
        Attack::Noise(2.0).apply(&mut z, &mut rng);
        let var = z.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / z.len() as f64;
        assert!((var - 4.0).abs() < 0.2, "sample variance {var}");
    }

    #[test]
    fn malicious_clients_are_deterministic_and_sized() {
        let a = malicious_clients(100, 0.2, 7);
        assert_eq!(a.len(), 20);
        assert_eq!(a, malicious_clients(100, 0.2, 7));
        assert_ne!(a, malicious_clients(100, 0.2, 8));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| i < 100));
        assert_eq!(malicious_clients(10, 1.0, 0), (0..10).collect::<Vec<_>>());
        assert!(malicious_clients(10, 0.0, 0).is_empty());
        assert!(malicious_clients(0, 0.5, 0).is_empty());
        assert_eq!(malicious_clients(10, f64::NAN, 0).len(), 0);
    }
}
