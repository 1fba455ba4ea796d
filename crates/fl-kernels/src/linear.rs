//! Softmax regression (one dense layer) over fixed features, with exact per-example clipping.
//!
//! The classifier of Tramer & Boneh 2021 ("Differentially private learning needs better
//! features"): a linear model on scattering features trains in few epochs, so DP-SGD needs
//! little noise. A dense layer's per-example gradient is the outer product `(p_i − y_i) ⊗ x_i`
//! (plus `p_i − y_i` for the bias), so its norm is `‖p_i − y_i‖ · √(‖x_i‖² + 1)` and the clipped
//! sum is one GEMM: no per-example tensors are materialised.

use crate::KernelError;
use crate::mat::{Mat, matmul};

/// A dense layer `logits = x · Wᵀ + b` with cross-entropy loss. Parameters are one flat
/// vector in PyTorch `state_dict` order: `fc.weight` `[classes, inputs]`, then `fc.bias`.
#[derive(Debug, Clone)]
pub struct Linear {
    inputs: usize,
    classes: usize,
    logits: Vec<f32>,
    coef: Vec<f32>,
}

impl Linear {
    /// A layer from `inputs` features to `classes` logits.
    pub fn new(inputs: usize, classes: usize) -> Result<Self, KernelError> {
        if inputs == 0 || classes == 0 {
            return Err(KernelError::InvalidConfig(
                "a linear model needs at least one input and one class".into(),
            ));
        }
        Ok(Self {
            inputs,
            classes,
            logits: Vec::new(),
            coef: Vec::new(),
        })
    }

    /// Features per example.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Length of the flat parameter vector.
    pub fn num_params(&self) -> usize {
        self.classes * self.inputs + self.classes
    }

    /// Parameter tensors in PyTorch `state_dict` order with their shapes.
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        vec![
            ("fc.weight".into(), vec![self.classes, self.inputs]),
            ("fc.bias".into(), vec![self.classes]),
        ]
    }

    fn check(&self, params: &[f32], x: &[f32], labels: &[u8]) -> Result<usize, KernelError> {
        let len = |what, expected, got| {
            if expected == got {
                Ok(())
            } else {
                Err(KernelError::Length {
                    what,
                    expected,
                    got,
                })
            }
        };
        len("parameters", self.num_params(), params.len())?;
        let b = labels.len();
        len("inputs", b * self.inputs, x.len())?;
        if let Some(i) = labels.iter().position(|&l| usize::from(l) >= self.classes) {
            return Err(KernelError::Label {
                index: i,
                label: labels[i],
                classes: self.classes,
            });
        }
        Ok(b)
    }

    /// Logits of the batch into `self.logits` (`[b, classes]`).
    fn forward(&mut self, params: &[f32], x: &[f32], b: usize) {
        let (d, q) = (self.inputs, self.classes);
        self.logits.resize(b * q, 0.0);
        let (w, bias) = params.split_at(q * d);
        for row in self.logits.chunks_mut(q) {
            row.copy_from_slice(bias);
        }
        matmul(
            &mut self.logits,
            q,
            true,
            1.0,
            Mat::rm(x, b, d),
            Mat::rm_t(w, q, d),
        );
    }

    /// Turns the logits into `softmax − onehot` in place; returns the summed loss and the
    /// number of correct argmax predictions.
    fn softmax_minus_onehot(&mut self, labels: &[u8]) -> (f64, usize) {
        let q = self.classes;
        let (mut loss, mut correct) = (0.0f64, 0usize);
        for (row, &y) in self.logits.chunks_mut(q).zip(labels) {
            let y = usize::from(y);
            let (mut arg, mut max) = (0, f32::NEG_INFINITY);
            for (k, &v) in row.iter().enumerate() {
                if v > max {
                    (arg, max) = (k, v);
                }
            }
            correct += usize::from(arg == y);
            let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
            loss += sum.ln() - f64::from(row[y] - max);
            for v in row.iter_mut() {
                *v = (f64::from(*v - max).exp() / sum) as f32;
            }
            row[y] -= 1.0;
        }
        (loss, correct)
    }

    /// `grad = Σ_i coef_i ⊗ x_i` (weights) and `Σ_i coef_i` (bias), with rows of `self.coef`.
    fn accumulate(&self, x: &[f32], b: usize, grad: &mut [f32]) {
        let (d, q) = (self.inputs, self.classes);
        let (gw, gb) = grad.split_at_mut(q * d);
        matmul(
            gw,
            d,
            false,
            1.0,
            Mat::rm_t(&self.coef, b, q),
            Mat::rm(x, b, d),
        );
        gb.fill(0.0);
        for row in self.coef.chunks(q) {
            gb.iter_mut().zip(row).for_each(|(g, v)| *g += v);
        }
    }

    /// Summed cross-entropy loss and number of correct argmax predictions over the batch.
    pub fn evaluate(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
    ) -> Result<(f64, usize), KernelError> {
        let b = self.check(params, x, labels)?;
        let (mut loss, mut correct) = (0.0, 0);
        // Bounded scratch: evaluate in slices of 1,024 examples.
        for (xs, ys) in x.chunks(1024 * self.inputs).zip(labels.chunks(1024)) {
            self.forward(params, xs, ys.len());
            let (l, c) = self.softmax_minus_onehot(ys);
            loss += l;
            correct += c;
        }
        debug_assert!(b == 0 || correct <= b);
        Ok((loss, correct))
    }

    /// Mean cross-entropy loss over the batch; writes its gradient into `grad_out`.
    /// An empty batch gives loss 0 and a zero gradient.
    pub fn loss_and_grad(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        grad_out: &mut [f32],
    ) -> Result<f32, KernelError> {
        let b = self.check(params, x, labels)?;
        self.check_out(grad_out.len(), "grad_out")?;
        if b == 0 {
            grad_out.fill(0.0);
            return Ok(0.0);
        }
        self.forward(params, x, b);
        let (loss, _) = self.softmax_minus_onehot(labels);
        let scale = 1.0 / b as f32;
        self.coef.clear();
        self.coef.extend(self.logits.iter().map(|v| v * scale));
        self.accumulate(x, b, grad_out);
        Ok((loss / b as f64) as f32)
    }

    fn check_out(&self, got: usize, what: &'static str) -> Result<(), KernelError> {
        if got != self.num_params() {
            return Err(KernelError::Length {
                what,
                expected: self.num_params(),
                got,
            });
        }
        Ok(())
    }

    /// DP-SGD core, as [`Network::clipped_grad_sum`](crate::Network::clipped_grad_sum): each
    /// example's gradient is clipped to L2 norm ≤ `max_norm` (factor `min(1, C / (‖g_i‖ +
    /// 1e-6))`), the clipped gradients are summed into `sum_out`, each unclipped norm goes to
    /// `norms_out`, and the mean loss is returned.
    pub fn clipped_grad_sum(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        max_norm: f32,
        sum_out: &mut [f32],
        norms_out: &mut [f32],
    ) -> Result<f32, KernelError> {
        let b = self.check(params, x, labels)?;
        self.check_out(sum_out.len(), "sum_out")?;
        if norms_out.len() != b {
            return Err(KernelError::Length {
                what: "norms_out",
                expected: b,
                got: norms_out.len(),
            });
        }
        if !(max_norm.is_finite() && max_norm > 0.0) {
            return Err(KernelError::MaxNorm(max_norm));
        }
        if b == 0 {
            sum_out.fill(0.0);
            return Ok(0.0);
        }
        self.forward(params, x, b);
        let (loss, _) = self.softmax_minus_onehot(labels);
        let (d, q) = (self.inputs, self.classes);
        self.coef.clear();
        for ((row, xi), norm_out) in self
            .logits
            .chunks(q)
            .zip(x.chunks(d))
            .zip(norms_out.iter_mut())
        {
            let r2: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let x2: f64 = xi.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let norm = (r2 * (x2 + 1.0)).sqrt() as f32;
            *norm_out = norm;
            let f = (max_norm / (norm + 1e-6)).min(1.0);
            self.coef.extend(row.iter().map(|v| v * f));
        }
        self.accumulate(x, b, sum_out);
        Ok((loss / b as f64) as f32)
    }

    /// Each example's gradient of its own loss, as rows of `out` (`[B, P]`); returns the mean
    /// loss. For tests and small batches.
    pub fn per_example_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        out: &mut [f32],
    ) -> Result<f32, KernelError> {
        let b = self.check(params, x, labels)?;
        let p = self.num_params();
        if out.len() != b * p {
            return Err(KernelError::Length {
                what: "per-example output",
                expected: b * p,
                got: out.len(),
            });
        }
        if b == 0 {
            return Ok(0.0);
        }
        self.forward(params, x, b);
        let (loss, _) = self.softmax_minus_onehot(labels);
        let (d, q) = (self.inputs, self.classes);
        for ((dst, row), xi) in out
            .chunks_mut(p)
            .zip(self.logits.chunks(q))
            .zip(x.chunks(d))
        {
            let (w, bias) = dst.split_at_mut(q * d);
            for (k, &r) in row.iter().enumerate() {
                w[k * d..(k + 1) * d]
                    .iter_mut()
                    .zip(xi)
                    .for_each(|(o, v)| *o = r * v);
            }
            bias.copy_from_slice(row);
        }
        Ok((loss / b as f64) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn setup(b: usize, d: usize, q: usize) -> (Linear, Vec<f32>, Vec<f32>, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = Linear::new(d, q).unwrap();
        let p = (0..net.num_params())
            .map(|_| rng.random_range(-0.5..0.5))
            .collect();
        let x = (0..b * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y = (0..b).map(|_| rng.random_range(0..q as u8)).collect();
        (net, p, x, y)
    }

    fn loss_of(net: &mut Linear, p: &[f32], x: &[f32], y: &[u8]) -> f64 {
        net.evaluate(p, x, y).unwrap().0 / y.len() as f64
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (mut net, p, x, y) = setup(7, 5, 4);
        let mut g = vec![0.0; net.num_params()];
        let loss = net.loss_and_grad(&p, &x, &y, &mut g).unwrap();
        assert!((f64::from(loss) - loss_of(&mut net, &p, &x, &y)).abs() < 1e-5);
        for i in 0..p.len() {
            let (mut a, mut b) = (p.clone(), p.clone());
            a[i] += 1e-2;
            b[i] -= 1e-2;
            let fd = (loss_of(&mut net, &a, &x, &y) - loss_of(&mut net, &b, &x, &y)) / 2e-2;
            assert!(
                (fd - f64::from(g[i])).abs() < 1e-3,
                "param {i}: {fd} vs {}",
                g[i]
            );
        }
    }

    #[test]
    fn clipped_sum_equals_clipping_each_per_example_gradient() {
        let (mut net, p, x, y) = setup(9, 6, 3);
        let np = net.num_params();
        let mut per = vec![0.0; 9 * np];
        net.per_example_grads(&p, &x, &y, &mut per).unwrap();
        let c = 0.7f32;
        let mut want = vec![0.0f32; np];
        let mut want_norms = Vec::new();
        for g in per.chunks(np) {
            let n = g.iter().map(|v| v * v).sum::<f32>().sqrt();
            want_norms.push(n);
            let f = (c / (n + 1e-6)).min(1.0);
            want.iter_mut().zip(g).for_each(|(w, v)| *w += f * v);
        }
        assert!(
            want_norms.iter().any(|&n| n > c),
            "some examples must be clipped"
        );
        let (mut got, mut norms) = (vec![0.0; np], vec![0.0; 9]);
        net.clipped_grad_sum(&p, &x, &y, c, &mut got, &mut norms)
            .unwrap();
        for (a, b) in norms.iter().zip(&want_norms) {
            assert!((a - b).abs() <= 1e-5 * b.max(1.0));
        }
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
        // Without clipping the sum is B times the mean gradient.
        let mut mean = vec![0.0; np];
        net.loss_and_grad(&p, &x, &y, &mut mean).unwrap();
        net.clipped_grad_sum(&p, &x, &y, 1e9, &mut got, &mut norms)
            .unwrap();
        for (a, b) in got.iter().zip(&mean) {
            assert!((a - 9.0 * b).abs() < 1e-4);
        }
    }

    #[test]
    fn bad_shapes_labels_and_bounds_are_errors() {
        let (mut net, p, x, y) = setup(4, 3, 2);
        let mut g = vec![0.0; net.num_params()];
        let mut norms = vec![0.0; 4];
        assert!(net.loss_and_grad(&p[1..], &x, &y, &mut g).is_err());
        assert!(net.loss_and_grad(&p, &x[1..], &y, &mut g).is_err());
        assert!(net.loss_and_grad(&p, &x, &[0, 1, 2, 0], &mut g).is_err());
        assert!(
            net.clipped_grad_sum(&p, &x, &y, 0.0, &mut g, &mut norms)
                .is_err()
        );
        assert!(
            net.clipped_grad_sum(&p, &x, &y, 1.0, &mut g, &mut norms[1..])
                .is_err()
        );
        assert!(Linear::new(0, 10).is_err());
        // The empty batch is a zero gradient, not an error.
        let l = net.loss_and_grad(&p, &[], &[], &mut g).unwrap();
        assert_eq!(l, 0.0);
        assert!(g.iter().all(|&v| v == 0.0));
    }
}
