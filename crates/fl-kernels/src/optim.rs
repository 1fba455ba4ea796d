//! Plain SGD with momentum and weight decay, matching `torch.optim.SGD` (dampening 0,
//! no Nesterov).

use crate::KernelError;

/// SGD state: hyper-parameters and the momentum buffer.
#[derive(Debug, Clone)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// Momentum coefficient μ (0 disables the buffer).
    pub momentum: f32,
    /// L2 weight decay λ added to the gradient (`g + λ·p`).
    pub weight_decay: f32,
    velocity: Vec<f32>,
}

impl Sgd {
    /// A new optimiser; the momentum buffer is created on the first step.
    pub fn new(lr: f32, momentum: f32, weight_decay: f32) -> Self {
        Self {
            lr,
            momentum,
            weight_decay,
            velocity: Vec::new(),
        }
    }

    /// One update: `g ← grad + λp`, `v ← μv + g` (v = g on the first step), `p ← p − lr·v`.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) -> Result<(), KernelError> {
        if grad.len() != params.len() {
            return Err(KernelError::Length {
                what: "grad",
                expected: params.len(),
                got: grad.len(),
            });
        }
        let (lr, mu, wd) = (self.lr, self.momentum, self.weight_decay);
        if mu == 0.0 {
            params
                .iter_mut()
                .zip(grad)
                .for_each(|(p, g)| *p -= lr * (g + wd * *p));
            return Ok(());
        }
        if self.velocity.len() != params.len() {
            // First step (or a new parameter size): torch initialises the buffer to g.
            self.velocity.clear();
            self.velocity
                .extend(params.iter().zip(grad).map(|(p, g)| g + wd * p));
        } else {
            for ((v, p), g) in self.velocity.iter_mut().zip(params.iter()).zip(grad) {
                *v = mu * *v + g + wd * p;
            }
        }
        params
            .iter_mut()
            .zip(&self.velocity)
            .for_each(|(p, v)| *p -= lr * v);
        Ok(())
    }

    /// Forgets the momentum buffer.
    pub fn reset(&mut self) {
        self.velocity.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn momentum_matches_torch_recurrence() {
        let mut sgd = Sgd::new(0.1, 0.9, 0.01);
        let mut p = vec![1.0f32, -2.0];
        let g = [0.5f32, 0.25];
        sgd.step(&mut p, &g).unwrap();
        // v1 = g + 0.01 p0
        let v1 = [0.5 + 0.01, 0.25 - 0.02];
        let p1 = [1.0 - 0.1 * v1[0], -2.0 - 0.1 * v1[1]];
        assert!((p[0] - p1[0]).abs() < 1e-7 && (p[1] - p1[1]).abs() < 1e-7);
        sgd.step(&mut p, &g).unwrap();
        let v2 = [
            0.9 * v1[0] + 0.5 + 0.01 * p1[0],
            0.9 * v1[1] + 0.25 + 0.01 * p1[1],
        ];
        assert!((p[0] - (p1[0] - 0.1 * v2[0])).abs() < 1e-6);
        assert!((p[1] - (p1[1] - 0.1 * v2[1])).abs() < 1e-6);
        assert!(sgd.step(&mut p, &[1.0]).is_err());
    }
}
