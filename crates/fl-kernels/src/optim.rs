//! Plain SGD with momentum (classical or Nesterov) and weight decay, matching
//! `torch.optim.SGD` with dampening 0.

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
    /// Nesterov momentum: step along `g + μv` instead of `v` (Sutskever et al. 2013,
    /// as `torch.optim.SGD(nesterov=True)`). No effect when μ = 0.
    pub nesterov: bool,
    velocity: Vec<f32>,
}

impl Sgd {
    /// A new optimiser; the momentum buffer is created on the first step.
    pub fn new(lr: f32, momentum: f32, weight_decay: f32) -> Self {
        Self {
            lr,
            momentum,
            weight_decay,
            nesterov: false,
            velocity: Vec::new(),
        }
    }

    /// The same optimiser with Nesterov momentum switched on or off.
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// One update: `g ← grad + λp`, `v ← μv + g` (v = g on the first step), then
    /// `p ← p − lr·v`, or `p ← p − lr·(g + μv)` with Nesterov.
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
            // First step (or a new parameter size): a zero buffer makes v = g, as torch
            // initialises it.
            self.velocity.clear();
            self.velocity.resize(params.len(), 0.0);
        }
        let nesterov = self.nesterov;
        for ((p, v), g) in params.iter_mut().zip(self.velocity.iter_mut()).zip(grad) {
            let d = g + wd * *p;
            *v = mu * *v + d;
            *p -= lr * if nesterov { d + mu * *v } else { *v };
        }
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

    #[test]
    fn nesterov_matches_torch_recurrence() {
        // torch: d = g + λp; buf = μ·buf + d (buf = d first); d = d + μ·buf; p -= lr·d.
        let (lr, mu, wd) = (0.1f32, 0.9f32, 0.01f32);
        let mut sgd = Sgd::new(lr, mu, wd).with_nesterov(true);
        let mut p = vec![1.0f32, -2.0];
        let grads = [[0.5f32, 0.25], [-0.3, 0.75]];
        let mut want = p.clone();
        let mut buf: Option<Vec<f32>> = None;
        for g in grads {
            sgd.step(&mut p, &g).unwrap();
            let d: Vec<f32> = want.iter().zip(g).map(|(w, g)| g + wd * w).collect();
            let b: Vec<f32> = match &buf {
                None => d.clone(),
                Some(b) => b.iter().zip(&d).map(|(b, d)| mu * b + d).collect(),
            };
            for ((w, d), b) in want.iter_mut().zip(&d).zip(&b) {
                *w -= lr * (d + mu * b);
            }
            buf = Some(b);
        }
        for (a, b) in p.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // and it differs from classical momentum after the first step
        let mut q = vec![1.0f32, -2.0];
        let mut classic = Sgd::new(lr, mu, wd);
        for g in grads {
            classic.step(&mut q, &g).unwrap();
        }
        assert!((q[0] - p[0]).abs() > 1e-3);
    }

    #[test]
    fn nesterov_without_momentum_is_plain_sgd() {
        let mut a = vec![1.0f32, 2.0];
        let mut b = a.clone();
        Sgd::new(0.1, 0.0, 0.0)
            .with_nesterov(true)
            .step(&mut a, &[1.0, -1.0])
            .unwrap();
        Sgd::new(0.1, 0.0, 0.0).step(&mut b, &[1.0, -1.0]).unwrap();
        assert_eq!(a, b);
    }
}
