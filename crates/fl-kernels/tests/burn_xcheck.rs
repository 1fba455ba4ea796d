//! Cross-check of loss and gradients against burn 0.22 autodiff (flex CPU backend).

mod common;

use burn::tensor::activation::{log_softmax, relu, tanh};
use burn::tensor::module::{conv2d, linear, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use fl_kernels::{Activation, Arch, NetSpec, Network, init_params};

fn act<const D: usize>(a: Activation, t: Tensor<D>) -> Tensor<D> {
    match a {
        Activation::Tanh => tanh(t),
        Activation::Relu => relu(t),
    }
}

/// Mean loss and flat gradient from burn autodiff.
fn burn_loss_and_grad(spec: &NetSpec, params: &[f32], x: &[f32], y: &[u8]) -> (f32, Vec<f32>) {
    let dev = Device::flex();
    let c = spec.arch.config();
    let b = y.len();
    let mut off = 0;
    let mut data = |shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        let d = TensorData::new(params[off..off + n].to_vec(), shape);
        off += n;
        d
    };
    let s: Vec<Vec<usize>> = spec.layout().into_iter().map(|(_, s)| s).collect();
    let w1 = Tensor::<4>::from_data(data(s[0].clone()), &dev)
        .autodiff()
        .require_grad();
    let b1 = Tensor::<1>::from_data(data(s[1].clone()), &dev)
        .autodiff()
        .require_grad();
    let w2 = Tensor::<4>::from_data(data(s[2].clone()), &dev)
        .autodiff()
        .require_grad();
    let b2 = Tensor::<1>::from_data(data(s[3].clone()), &dev)
        .autodiff()
        .require_grad();
    let w3 = Tensor::<2>::from_data(data(s[4].clone()), &dev)
        .autodiff()
        .require_grad();
    let b3 = Tensor::<1>::from_data(data(s[5].clone()), &dev)
        .autodiff()
        .require_grad();
    let w4 = Tensor::<2>::from_data(data(s[6].clone()), &dev)
        .autodiff()
        .require_grad();
    let b4 = Tensor::<1>::from_data(data(s[7].clone()), &dev)
        .autodiff()
        .require_grad();
    let xt = Tensor::<4>::from_data(
        TensorData::new(x.to_vec(), [b, c.in_channels, c.in_h, c.in_w]),
        &dev,
    );
    let yv: Vec<i64> = y.iter().map(|&v| i64::from(v)).collect();
    let yt = Tensor::<2, Int>::from_data(TensorData::new(yv, [b, 1]), &dev);
    let conv = |k: fl_kernels::ConvCfg| ConvOptions::new([k.stride; 2], [k.padding; 2], [1, 1], 1);
    let pool =
        |p: fl_kernels::PoolCfg| MaxPoolOptions::new([p.kernel; 2]).with_stride([p.stride; 2]);
    let a = spec.activation;
    let h = conv2d(xt, w1.clone(), Some(b1.clone()), conv(c.conv1));
    let h = max_pool2d(act(a, h), pool(c.pool1));
    let h = conv2d(h, w2.clone(), Some(b2.clone()), conv(c.conv2));
    let h = max_pool2d(act(a, h), pool(c.pool2));
    let [_, ch, hh, ww] = h.dims();
    let h: Tensor<2> = h.reshape([b, ch * hh * ww]);
    let h = act(a, linear(h, w3.clone().transpose(), Some(b3.clone())));
    let logits = linear(h, w4.clone().transpose(), Some(b4.clone()));
    let loss = log_softmax(logits, 1).gather(1, yt).mean().neg();
    let value = loss.to_data().try_to_vec::<f32>().unwrap()[0];
    let grads = loss.backward();
    let mut g = Vec::new();
    g.extend(
        w1.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    g.extend(
        b1.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    g.extend(
        w2.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    g.extend(
        b2.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    g.extend(
        w3.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    g.extend(
        b3.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    g.extend(
        w4.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    g.extend(
        b4.grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    );
    (value, g)
}

fn check(spec: NetSpec, batch: usize, seed: u64) {
    let params = init_params(&spec, seed);
    let x = values(batch * spec.input_len(), seed + 1);
    let y = labels(batch, spec.classes(), seed + 2);
    let (want_loss, want) = burn_loss_and_grad(&spec, &params, &x, &y);
    let mut net = Network::new(spec).unwrap();
    let mut got = vec![0.0; spec.num_params()];
    let loss = net.loss_and_grad(&params, &x, &y, &mut got).unwrap();
    assert!(
        (loss - want_loss).abs() < 1e-5 * want_loss.abs().max(1.0),
        "{spec:?}: loss {loss} vs {want_loss}"
    );
    // Per parameter tensor, relative to that tensor's largest gradient.
    let mut off = 0;
    for (name, shape) in spec.layout() {
        let n: usize = shape.iter().product();
        let err = rel_err(&got[off..off + n], &to64(&want[off..off + n]), 1e-6);
        assert!(err < 1e-4, "{spec:?} {name}: rel err {err:e}");
        off += n;
    }
}

#[test]
fn matches_burn_autodiff() {
    for a in [Activation::Tanh, Activation::Relu] {
        check(NetSpec::new(Arch::CnnSmall, a), 20, 40);
        check(NetSpec::new(Arch::CnnFedAvg, a), 3, 41);
        for cfg in mini_configs() {
            check(NetSpec::new(Arch::Custom(cfg), a), 5, 42);
        }
    }
}
