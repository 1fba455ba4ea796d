//! DP-SGD (Abadi et al. 2016, "Deep Learning with Differential Privacy").
//!
//! Each step: a batch is drawn by **Poisson sampling** (every local example
//! independently with probability `q = batch_size / n`, so batch sizes vary and
//! may be zero — exactly the mechanism the RDP/PRV accountants analyse); each
//! example's gradient is clipped to L2 norm `C`; the clipped gradients are
//! summed; Gaussian noise N(0, σ²C²) is added to every coordinate; the sum is
//! divided by the *expected* batch size `q·n` (dividing by the realised size
//! would leak it). The optimizer step that follows is post-processing.

use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::MlError;

/// Record-level DP-SGD settings of one client.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpSgd {
    /// Noise multiplier σ (noise std = σ·C).
    pub noise_multiplier: f64,
    /// Per-example clipping bound C (`privacy.max_grad_norm`).
    pub max_grad_norm: f64,
}

impl DpSgd {
    /// Checks σ > 0 and C > 0, both finite.
    pub fn validate(&self) -> Result<(), MlError> {
        if !(self.noise_multiplier.is_finite() && self.noise_multiplier > 0.0) {
            return Err(MlError::Invalid(format!(
                "noise multiplier must be positive, got {}",
                self.noise_multiplier
            )));
        }
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0) {
            return Err(MlError::Invalid(format!(
                "max_grad_norm must be positive, got {}",
                self.max_grad_norm
            )));
        }
        Ok(())
    }

    /// Poisson sampling rate for a batch size over `n` examples.
    pub fn sample_rate(batch_size: u32, n: usize) -> f64 {
        (f64::from(batch_size) / n.max(1) as f64).min(1.0)
    }
}

/// Draws a Poisson-sampled batch: each index in `0..n` independently with
/// probability `q`. Uses geometric skips, so the cost is O(batch), not O(n).
pub fn poisson_batch<R: Rng + ?Sized>(n: usize, q: f64, rng: &mut R, out: &mut Vec<usize>) {
    out.clear();
    if q >= 1.0 {
        out.extend(0..n);
        return;
    }
    if q <= 0.0 || n == 0 {
        return;
    }
    let log1mq = (1.0 - q).ln();
    let mut i: f64 = -1.0;
    loop {
        // Gap to the next selected index ~ Geometric(q).
        let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        i += (u.ln() / log1mq).floor() + 1.0;
        if i >= n as f64 {
            break;
        }
        out.push(i as usize);
    }
}

/// Adds N(0, std²) to each value of `sum` and divides by `denom`, in place.
pub fn noise_and_normalise<R: Rng + ?Sized>(
    sum: &mut [f32],
    std: f64,
    denom: f64,
    rng: &mut R,
) -> Result<(), MlError> {
    let normal = Normal::new(0.0f64, std).map_err(|e| MlError::Invalid(format!("noise: {e}")))?;
    let inv = 1.0 / denom;
    for v in sum.iter_mut() {
        *v = ((f64::from(*v) + normal.sample(rng)) * inv) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn poisson_batches_have_the_right_rate_and_sorted_unique_indices() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut b = Vec::new();
        let mut total = 0usize;
        for _ in 0..2000 {
            poisson_batch(1000, 0.01, &mut rng, &mut b);
            assert!(b.windows(2).all(|w| w[0] < w[1]));
            assert!(b.iter().all(|&i| i < 1000));
            total += b.len();
        }
        let mean = total as f64 / 2000.0;
        assert!((mean - 10.0).abs() < 0.3, "mean batch {mean}");
        // Small shards give empty batches often (0.99^10 ≈ 0.90): they must be representable.
        let empties = (0..100)
            .filter(|_| {
                poisson_batch(10, 0.01, &mut rng, &mut b);
                b.is_empty()
            })
            .count();
        assert!(empties > 70, "{empties}");
    }

    #[test]
    fn noise_has_the_requested_std() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut v = vec![0.0f32; 100_000];
        noise_and_normalise(&mut v, 2.0, 2.0, &mut rng).unwrap();
        let var = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / v.len() as f64;
        assert!((var.sqrt() - 1.0).abs() < 0.01, "std {}", var.sqrt());
    }

    #[test]
    fn invalid_settings_are_refused() {
        assert!(
            DpSgd {
                noise_multiplier: 0.0,
                max_grad_norm: 1.0
            }
            .validate()
            .is_err()
        );
        assert!(
            DpSgd {
                noise_multiplier: 1.0,
                max_grad_norm: f64::NAN
            }
            .validate()
            .is_err()
        );
        assert!(
            DpSgd {
                noise_multiplier: 1.0,
                max_grad_norm: 1.0
            }
            .validate()
            .is_ok()
        );
    }
}
