//! Forward and gradient correctness against an independent f64 direct-loop reference
//! (logits, and central finite differences of its loss).

mod common;

use common::*;
use fl_kernels::{Activation, Arch, NetSpec, Network, init_params};

const ACTS: [Activation; 2] = [Activation::Tanh, Activation::Relu];

/// Checks logits against the reference and the gradient of `params` indices `check` against
/// f64 finite differences.
fn check_spec(spec: NetSpec, batch: usize, check: &[usize], seed: u64) {
    let params = init_params(&spec, seed);
    let il = spec.input_len();
    let x = values(batch * il, seed + 1);
    let y = labels(batch, spec.classes(), seed + 2);
    let mut net = Network::new(spec).unwrap();
    let (p64, x64) = (to64(&params), to64(&x));

    let logits = net.forward(&params, &x, batch).unwrap().to_vec();
    for i in 0..batch {
        let want = ref_logits(&spec, &p64, &x64[i * il..(i + 1) * il]);
        let q = spec.classes();
        let err = rel_err(&logits[i * q..(i + 1) * q], &want, 1.0);
        assert!(
            err < 1e-5,
            "{spec:?} logits of example {i}: rel err {err:e}"
        );
    }

    let mut grad = vec![0.0; spec.num_params()];
    let loss = net.loss_and_grad(&params, &x, &y, &mut grad).unwrap();
    let want_loss = ref_loss(&spec, &p64, &x64, &y);
    assert!(
        (loss as f64 - want_loss).abs() < 1e-5 * want_loss.max(1.0),
        "{spec:?} loss {loss} vs {want_loss}"
    );
    let (sum, correct) = net.evaluate(&params, &x, &y).unwrap();
    assert!((sum / batch as f64 - want_loss).abs() < 1e-5 * want_loss.max(1.0));
    assert!(correct <= batch);

    let fd: Vec<f64> = check
        .iter()
        .map(|&j| ref_fd(&spec, &p64, &x64, &y, j))
        .collect();
    let got: Vec<f32> = check.iter().map(|&j| grad[j]).collect();
    let scale = fd.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
    for ((&j, g), f) in check.iter().zip(&got).zip(&fd) {
        let err = (*g as f64 - f).abs() / scale;
        assert!(
            err < 1e-4,
            "{spec:?} param {j}: kernel {g:e} vs finite difference {f:e}"
        );
    }
}

/// A few indices from every parameter tensor (first, last and strided interior ones).
fn sample_indices(spec: &NetSpec, per_tensor: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut off = 0;
    for (_, shape) in spec.layout() {
        let n: usize = shape.iter().product();
        let step = (n / per_tensor).max(1);
        out.extend((0..n).step_by(step).map(|j| off + j));
        out.push(off + n - 1);
        off += n;
    }
    out.dedup();
    out
}

#[test]
fn mini_nets_match_finite_differences_on_every_parameter() {
    for cfg in mini_configs() {
        for act in ACTS {
            let spec = NetSpec::new(Arch::Custom(cfg), act);
            let all: Vec<usize> = (0..spec.num_params()).collect();
            // Batch 7 with chunk 4: a partial chunk and two groups.
            check_spec(spec, 7, &all, 11);
        }
    }
}

#[test]
fn cnn_small_matches_finite_differences() {
    for act in ACTS {
        let spec = NetSpec::new(Arch::CnnSmall, act);
        check_spec(spec, 3, &sample_indices(&spec, 6), 21);
    }
}

#[test]
fn cnn_fedavg_matches_finite_differences() {
    for act in ACTS {
        let spec = NetSpec::new(Arch::CnnFedAvg, act);
        // The f64 reference is slow for this net: one entry per tensor (burn_xcheck covers all).
        let idx: Vec<usize> = sample_indices(&spec, 1).into_iter().step_by(2).collect();
        check_spec(spec, 1, &idx, 31);
    }
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let spec = NetSpec::new(Arch::CnnSmall, Activation::Tanh);
    let params = init_params(&spec, 5);
    let b = 37;
    let x = values(b * spec.input_len(), 6);
    let y = labels(b, 10, 7);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut net = Network::new(spec).unwrap();
            let mut g = vec![0.0; spec.num_params()];
            let l = net.loss_and_grad(&params, &x, &y, &mut g).unwrap();
            let mut s = vec![0.0; spec.num_params()];
            let mut n = vec![0.0; b];
            net.clipped_grad_sum(&params, &x, &y, 0.5, &mut s, &mut n)
                .unwrap();
            (l, g, s, n)
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn bad_arguments_are_errors() {
    let spec = NetSpec::new(Arch::CnnSmall, Activation::Relu);
    let params = init_params(&spec, 1);
    let mut net = Network::new(spec).unwrap();
    let x = vec![0.0; 2 * 784];
    let mut g = vec![0.0; spec.num_params()];
    assert!(
        net.loss_and_grad(&params[1..], &x, &[1, 2], &mut g)
            .is_err()
    );
    assert!(
        net.loss_and_grad(&params, &x[1..], &[1, 2], &mut g)
            .is_err()
    );
    assert!(net.loss_and_grad(&params, &x, &[1, 10], &mut g).is_err());
    assert!(
        net.loss_and_grad(&params, &x, &[1, 2], &mut g[1..])
            .is_err()
    );
    assert!(net.forward(&params, &x, 3).is_err());
    let mut n = vec![0.0; 2];
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert!(
            net.clipped_grad_sum(&params, &x, &[1, 2], bad, &mut g, &mut n)
                .is_err()
        );
    }
    assert!(
        net.clipped_grad_sum(&params, &x, &[1, 2], 1.0, &mut g, &mut n[..1])
            .is_err()
    );
    assert!(Network::with_chunk(spec, 0).is_err());
    assert!(Network::with_chunk(spec, usize::MAX / 2).is_err());
}

#[test]
fn training_reduces_the_loss() {
    let spec = NetSpec::new(Arch::CnnSmall, Activation::Tanh);
    let mut params = init_params(&spec, 3);
    let b = 32;
    let x = values(b * spec.input_len(), 4);
    let y = labels(b, 10, 5);
    let mut net = Network::new(spec).unwrap();
    let mut sgd = fl_kernels::Sgd::new(0.1, 0.9, 0.0);
    let mut g = vec![0.0; spec.num_params()];
    let first = net.loss_and_grad(&params, &x, &y, &mut g).unwrap();
    for _ in 0..30 {
        net.loss_and_grad(&params, &x, &y, &mut g).unwrap();
        sgd.step(&mut params, &g).unwrap();
    }
    let last = net.loss_and_grad(&params, &x, &y, &mut g).unwrap();
    assert!(last < 0.5 * first, "loss {first} -> {last}");
}
