//! Per-example gradients and DP clipping against their definitions.

mod common;

use common::*;
use fl_kernels::{Activation, Arch, NetSpec, Network, init_params};

fn specs() -> Vec<NetSpec> {
    let mut v = Vec::new();
    for act in [Activation::Tanh, Activation::Relu] {
        v.push(NetSpec::new(Arch::CnnSmall, act));
        for cfg in mini_configs() {
            v.push(NetSpec::new(Arch::Custom(cfg), act));
        }
    }
    v
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = b.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

#[test]
fn per_example_rows_equal_single_example_gradients() {
    for spec in specs() {
        let p = spec.num_params();
        let params = init_params(&spec, 9);
        let b = 6;
        let il = spec.input_len();
        let x = values(b * il, 10);
        let y = labels(b, spec.classes(), 11);
        let mut net = Network::new(spec).unwrap();
        let mut rows = vec![0.0; b * p];
        let mean = net.per_example_grads(&params, &x, &y, &mut rows).unwrap();
        let mut single = vec![0.0; p];
        let mut total = 0.0;
        for i in 0..b {
            total += net
                .loss_and_grad(&params, &x[i * il..(i + 1) * il], &y[i..=i], &mut single)
                .unwrap();
            let err = max_rel(&rows[i * p..(i + 1) * p], &single);
            assert!(err < 1e-5, "{spec:?} example {i}: rel err {err:e}");
        }
        assert!((mean - total / b as f32).abs() < 1e-5 * mean.abs().max(1.0));
        // The mean of the rows is the batch gradient.
        let mut batch = vec![0.0; p];
        net.loss_and_grad(&params, &x, &y, &mut batch).unwrap();
        let avg: Vec<f32> = (0..p)
            .map(|j| (0..b).map(|i| rows[i * p + j]).sum::<f32>() / b as f32)
            .collect();
        assert!(max_rel(&avg, &batch) < 1e-5);
    }
}

#[test]
fn clipped_sum_equals_naive_clipping() {
    for spec in specs() {
        let p = spec.num_params();
        let params = init_params(&spec, 12);
        let b = 9;
        let x = values(b * spec.input_len(), 13);
        let y = labels(b, spec.classes(), 14);
        let mut net = Network::new(spec).unwrap();
        let mut rows = vec![0.0; b * p];
        net.per_example_grads(&params, &x, &y, &mut rows).unwrap();
        let norms: Vec<f64> = rows
            .chunks(p)
            .map(|r| r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt())
            .collect();
        // A bound between the smallest and largest norm, so some examples are clipped.
        let mut sorted = norms.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for c in [sorted[b / 2] as f32, 1e3] {
            let mut want = vec![0.0f64; p];
            for (r, n) in rows.chunks(p).zip(&norms) {
                let f = (c as f64 / (n + 1e-6)).min(1.0);
                want.iter_mut()
                    .zip(r)
                    .for_each(|(w, v)| *w += f * *v as f64);
            }
            let mut sum = vec![f32::NAN; p];
            let mut got_norms = vec![0.0; b];
            net.clipped_grad_sum(&params, &x, &y, c, &mut sum, &mut got_norms)
                .unwrap();
            let err = rel_err(&sum, &want, 1e-6);
            assert!(err < 1e-5, "{spec:?} C={c}: rel err {err:e}");
            let err = rel_err(&got_norms, &norms, 1e-6);
            assert!(err < 1e-5, "{spec:?} norms: rel err {err:e}");
        }
    }
}

#[test]
fn empty_and_single_example_batches() {
    let spec = NetSpec::new(Arch::CnnSmall, Activation::Tanh);
    let p = spec.num_params();
    let params = init_params(&spec, 1);
    let mut net = Network::new(spec).unwrap();
    let mut sum = vec![1.0; p];
    let loss = net
        .clipped_grad_sum(&params, &[], &[], 1.0, &mut sum, &mut [])
        .unwrap();
    assert_eq!(loss, 0.0);
    assert!(sum.iter().all(|v| *v == 0.0));
    let mut g = vec![1.0; p];
    assert_eq!(net.loss_and_grad(&params, &[], &[], &mut g).unwrap(), 0.0);
    assert!(g.iter().all(|v| *v == 0.0));
    assert_eq!(net.evaluate(&params, &[], &[]).unwrap(), (0.0, 0));
    assert!(net.forward(&params, &[], 0).unwrap().is_empty());

    // B = 1: the clipped sum is the example's gradient scaled to norm ≤ C.
    let x = values(spec.input_len(), 2);
    let mut grad = vec![0.0; p];
    net.loss_and_grad(&params, &x, &[4], &mut grad).unwrap();
    let norm = grad.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let c = (norm / 4.0) as f32;
    let mut norms = [0.0f32];
    net.clipped_grad_sum(&params, &x, &[4], c, &mut sum, &mut norms)
        .unwrap();
    assert!(((norms[0] as f64) - norm).abs() < 1e-5 * norm);
    let clipped = sum.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    assert!(
        (clipped - c as f64).abs() < 1e-4 * c as f64,
        "{clipped} vs {c}"
    );
    let f = c / (norms[0] + 1e-6);
    assert!(max_rel(&sum, &grad.iter().map(|v| v * f).collect::<Vec<_>>()) < 1e-5);
}
