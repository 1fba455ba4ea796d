//! The reference CNNs written with burn 0.22 tensor operations.
//!
//! Parameters stay a flat `f32` vector (what the federation moves around);
//! each step turns them into fresh autodiff leaves, runs the functional forward
//! pass, and reads the leaves' gradients back (the pattern of
//! `shared/design/TENSORS.md`: no `Module` state to keep in sync). The code is
//! backend-agnostic: pass any burn [`Device`] (flex CPU by default; a GPU
//! device when burn is built with that backend).

use burn::tensor::activation::{log_softmax, relu, tanh};
use burn::tensor::module::{conv2d, linear, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};
use fl_kernels::{Activation, NetSpec};

use crate::error::MlError;

/// The network of a [`NetSpec`] on a burn device.
#[derive(Debug, Clone)]
pub struct BurnNet {
    spec: NetSpec,
    device: Device,
}

struct Leaves {
    w1: Tensor<4>,
    b1: Tensor<1>,
    w2: Tensor<4>,
    b2: Tensor<1>,
    w3: Tensor<2>,
    b3: Tensor<1>,
    w4: Tensor<2>,
    b4: Tensor<1>,
}

impl BurnNet {
    /// The network on the flex CPU backend.
    pub fn flex(spec: NetSpec) -> Self {
        Self::new(spec, Device::flex())
    }

    /// The network on any burn device.
    pub fn new(spec: NetSpec, device: Device) -> Self {
        Self { spec, device }
    }

    fn leaves(&self, params: &[f32], grad: bool) -> Result<Leaves, MlError> {
        let layout = self.spec.layout();
        let total: usize = layout
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        if params.len() != total {
            return Err(MlError::Invalid(format!(
                "{} parameters, the model has {total}",
                params.len()
            )));
        }
        let mut off = 0;
        let mut take = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            let data = TensorData::new(params[off..off + n].to_vec(), shape.to_vec());
            off += n;
            data
        };
        let dev = &self.device;
        let s: Vec<Vec<usize>> = layout.into_iter().map(|(_, s)| s).collect();
        let leaf4 = |d: TensorData| {
            let t = Tensor::<4>::from_data(d, dev);
            if grad { t.autodiff().require_grad() } else { t }
        };
        let leaf2 = |d: TensorData| {
            let t = Tensor::<2>::from_data(d, dev);
            if grad { t.autodiff().require_grad() } else { t }
        };
        let leaf1 = |d: TensorData| {
            let t = Tensor::<1>::from_data(d, dev);
            if grad { t.autodiff().require_grad() } else { t }
        };
        Ok(Leaves {
            w1: leaf4(take(&s[0])),
            b1: leaf1(take(&s[1])),
            w2: leaf4(take(&s[2])),
            b2: leaf1(take(&s[3])),
            w3: leaf2(take(&s[4])),
            b3: leaf1(take(&s[5])),
            w4: leaf2(take(&s[6])),
            b4: leaf1(take(&s[7])),
        })
    }

    fn act<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
        match self.spec.activation {
            Activation::Tanh => tanh(t),
            Activation::Relu => relu(t),
        }
    }

    fn forward(&self, l: &Leaves, x: Tensor<4>) -> Tensor<2> {
        let c = self.spec.arch.config();
        let b = x.dims()[0];
        let conv = |k: fl_kernels::ConvCfg| {
            ConvOptions::new([k.stride, k.stride], [k.padding, k.padding], [1, 1], 1)
        };
        let pool = |p: fl_kernels::PoolCfg| {
            MaxPoolOptions::new([p.kernel, p.kernel]).with_stride([p.stride, p.stride])
        };
        let h = conv2d(x, l.w1.clone(), Some(l.b1.clone()), conv(c.conv1));
        let h = max_pool2d(self.act(h), pool(c.pool1));
        let h = conv2d(h, l.w2.clone(), Some(l.b2.clone()), conv(c.conv2));
        let h = max_pool2d(self.act(h), pool(c.pool2));
        let flat = h.dims()[1] * h.dims()[2] * h.dims()[3];
        let h: Tensor<2> = h.reshape([b, flat]);
        // burn's `linear` multiplies by `weight` as [in, out]; PyTorch stores [out, in].
        let h = self.act(linear(h, l.w3.clone().transpose(), Some(l.b3.clone())));
        linear(h, l.w4.clone().transpose(), Some(l.b4.clone()))
    }

    fn inputs(&self, x: &[f32], labels: &[u8]) -> Result<(Tensor<4>, Tensor<2, Int>), MlError> {
        let c = self.spec.arch.config();
        let il = c.in_channels * c.in_h * c.in_w;
        let b = labels.len();
        if x.len() != b * il {
            return Err(MlError::Invalid(format!(
                "{} input values for {b} examples of {il}",
                x.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&y| usize::from(y) >= c.classes) {
            return Err(MlError::Invalid(format!("label {bad} is not a class")));
        }
        let xt = Tensor::<4>::from_data(
            TensorData::new(x.to_vec(), [b, c.in_channels, c.in_h, c.in_w]),
            &self.device,
        );
        let yv: Vec<i64> = labels.iter().map(|&y| i64::from(y)).collect();
        let yt = Tensor::<2, Int>::from_data(TensorData::new(yv, [b, 1]), &self.device);
        Ok((xt, yt))
    }

    /// Mean cross-entropy over the batch; writes its gradient into `grad_out`.
    pub fn loss_and_grad(
        &self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        grad_out: &mut [f32],
    ) -> Result<f32, MlError> {
        if grad_out.len() != params.len() {
            return Err(MlError::Invalid(
                "gradient buffer has the wrong length".into(),
            ));
        }
        if labels.is_empty() {
            grad_out.fill(0.0);
            return Ok(0.0);
        }
        let l = self.leaves(params, true)?;
        let (x, y) = self.inputs(x, labels)?;
        let logits = self.forward(&l, x);
        let loss = log_softmax(logits, 1).gather(1, y).mean().neg();
        let value = loss
            .to_data()
            .try_to_vec::<f32>()
            .map_err(|e| MlError::Invalid(format!("{e:?}")))?[0];
        let grads = loss.backward();
        let mut off = 0;
        let mut put = |g: Option<TensorData>| -> Result<(), MlError> {
            let g = g.ok_or_else(|| MlError::Invalid("missing gradient".into()))?;
            let v = g
                .try_to_vec::<f32>()
                .map_err(|e| MlError::Invalid(format!("{e:?}")))?;
            grad_out[off..off + v.len()].copy_from_slice(&v);
            off += v.len();
            Ok(())
        };
        put(l.w1.grad(&grads).map(|t| t.into_data()))?;
        put(l.b1.grad(&grads).map(|t| t.into_data()))?;
        put(l.w2.grad(&grads).map(|t| t.into_data()))?;
        put(l.b2.grad(&grads).map(|t| t.into_data()))?;
        put(l.w3.grad(&grads).map(|t| t.into_data()))?;
        put(l.b3.grad(&grads).map(|t| t.into_data()))?;
        put(l.w4.grad(&grads).map(|t| t.into_data()))?;
        put(l.b4.grad(&grads).map(|t| t.into_data()))?;
        Ok(value)
    }

    /// Sum of cross-entropy losses and number of correct predictions.
    pub fn evaluate(
        &self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
    ) -> Result<(f64, usize), MlError> {
        if labels.is_empty() {
            return Ok((0.0, 0));
        }
        let l = self.leaves(params, false)?;
        let (xt, yt) = self.inputs(x, labels)?;
        let logits = self.forward(&l, xt);
        let pred = logits.clone().argmax(1).into_data();
        let nll = log_softmax(logits, 1).gather(1, yt).neg().sum().into_data();
        let loss = nll
            .try_to_vec::<f32>()
            .map_err(|e| MlError::Invalid(format!("{e:?}")))?[0];
        let pred: Vec<i64> = pred
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| MlError::Invalid(format!("{e:?}")))?;
        let correct = pred
            .iter()
            .zip(labels)
            .filter(|(p, y)| **p == i64::from(**y))
            .count();
        Ok((f64::from(loss), correct))
    }
}
