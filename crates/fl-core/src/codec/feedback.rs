//! Error feedback (Seide et al. 2014, "1-Bit Stochastic Gradient Descent and
//! its Application to Data-Parallel Distributed Training of Speech DNNs";
//! Karimireddy et al. 2019, "Error Feedback Fixes SignSGD and other Gradient
//! Compression Schemes").
//!
//! A client keeps what compression dropped and adds it to its next update.
//! Over rounds the sum of what the server received equals the sum of the true
//! updates minus the current residual, which stays bounded, so biased codecs
//! like top-k stop losing mass. The residual is client state: keep it across
//! rounds (it is serde-serialisable) and reset it when the model changes shape.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{CodecError, CodecSpec, decode, encode};
use crate::params::Layout;

/// A client's error-feedback memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorFeedback {
    /// What earlier encodings dropped: corrected update − decoded update.
    /// Empty means "no memory yet" (treated as zeros).
    pub residual: Vec<f32>,
}

impl ErrorFeedback {
    /// A zero residual for a model of `len` values.
    pub fn new(len: usize) -> Self {
        Self {
            residual: vec![0.0; len],
        }
    }

    /// Encodes `update + residual` with `spec`, then sets the residual to
    /// what the receiver will not see: `(update + residual) − decode(bytes)`.
    ///
    /// On error the residual is left unchanged.
    pub fn encode(
        &mut self,
        spec: CodecSpec,
        update: &[f32],
        layout: &Layout,
        rng: &mut impl Rng,
    ) -> Result<Vec<u8>, CodecError> {
        let corrected: Vec<f32> = if self.residual.is_empty() {
            update.to_vec()
        } else if self.residual.len() != update.len() {
            return Err(CodecError::LengthMismatch {
                expected: self.residual.len(),
                got: update.len(),
            });
        } else {
            update
                .iter()
                .zip(&self.residual)
                .map(|(u, e)| u + e)
                .collect()
        };
        let bytes = encode(spec, &corrected, layout, rng)?;
        let sent = decode(&bytes, corrected.len())?;
        self.residual = corrected.iter().zip(&sent).map(|(c, s)| c - s).collect();
        Ok(bytes)
    }

    /// L2 norm of the residual, accumulated in f64.
    pub fn residual_norm(&self) -> f64 {
        crate::params::l2_norm(&self.residual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ValueCodec;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn top1_residual_carries_the_dropped_coordinates() {
        // Prepare: top-1 of [3, 1] sends 3 and remembers 1.
        let layout = Layout::new([("w", vec![2])]).unwrap();
        let spec = CodecSpec::TopK {
            fraction: 0.5,
            values: ValueCodec::None,
        };
        let mut ef = ErrorFeedback::default();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        // Execute
        let first = decode(&ef.encode(spec, &[3.0, 1.0], &layout, &mut rng).unwrap(), 2).unwrap();
        // Assert
        assert_eq!(first, vec![3.0, 0.0]);
        assert_eq!(ef.residual, vec![0.0, 1.0]);
        // Round 2: corrected = [0.5, 1.5]; the remembered coordinate wins.
        let second = decode(&ef.encode(spec, &[0.5, 0.5], &layout, &mut rng).unwrap(), 2).unwrap();
        assert_eq!(second, vec![0.0, 1.5]);
        assert_eq!(ef.residual, vec![0.5, 0.0]);
    }

    #[test]
    fn errors_leave_the_residual_alone() {
        let layout = Layout::new([("w", vec![2])]).unwrap();
        let mut ef = ErrorFeedback {
            residual: vec![1.0, 2.0],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert!(
            ef.encode(CodecSpec::Int8, &[1.0, 2.0, 3.0], &layout, &mut rng)
                .is_err()
        );
        assert!(
            ef.encode(CodecSpec::Int8, &[f32::NAN, 0.0], &layout, &mut rng)
                .is_err()
        );
        assert_eq!(ef.residual, vec![1.0, 2.0]);
    }
}
