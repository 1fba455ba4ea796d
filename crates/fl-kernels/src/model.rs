//! One interface over the networks this crate runs, so a trainer holds either.

use crate::{KernelError, Linear, Network};

/// What local training needs from a network: the mean-loss gradient, the DP-SGD clipped
/// sum, and evaluation. Implemented by [`Network`] (the CNNs) and [`Linear`]; each method is
/// the type's inherent method of the same name.
pub trait Kernels: Send {
    /// Mean cross-entropy loss over the batch; its gradient goes to `grad_out`.
    fn loss_and_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        grad_out: &mut [f32],
    ) -> Result<f32, KernelError>;

    /// Sum of per-example gradients clipped to `max_norm`, unclipped norms, mean loss.
    fn clipped_grad_sum(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        max_norm: f32,
        sum_out: &mut [f32],
        norms_out: &mut [f32],
    ) -> Result<f32, KernelError>;

    /// Summed loss and number of correct predictions.
    fn evaluate(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
    ) -> Result<(f64, usize), KernelError>;
}

macro_rules! delegate {
    ($t:ty) => {
        impl Kernels for $t {
            fn loss_and_grad(
                &mut self,
                params: &[f32],
                x: &[f32],
                labels: &[u8],
                grad_out: &mut [f32],
            ) -> Result<f32, KernelError> {
                <$t>::loss_and_grad(self, params, x, labels, grad_out)
            }

            fn clipped_grad_sum(
                &mut self,
                params: &[f32],
                x: &[f32],
                labels: &[u8],
                max_norm: f32,
                sum_out: &mut [f32],
                norms_out: &mut [f32],
            ) -> Result<f32, KernelError> {
                <$t>::clipped_grad_sum(self, params, x, labels, max_norm, sum_out, norms_out)
            }

            fn evaluate(
                &mut self,
                params: &[f32],
                x: &[f32],
                labels: &[u8],
            ) -> Result<(f64, usize), KernelError> {
                <$t>::evaluate(self, params, x, labels)
            }
        }
    };
}

delegate!(Network);
delegate!(Linear);
