//! Criterion benchmarks: the individual kernels at the Opacus CNN's shapes, and whole steps.
//!
//! `cargo bench -p fl-kernels` (CI only builds them). For headline samples/s figures use
//! `cargo run --release -p fl-kernels --example throughput`.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fl_kernels::ops::{self, Conv2dShape};
use fl_kernels::{Activation, Arch, NetSpec, Network, init_params};

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32
                * 2.0
                - 1.0
        })
        .collect()
}

fn kernels(c: &mut Criterion) {
    let n = 16; // the default chunk of cnn-small
    let mut g = c.benchmark_group("kernel");
    let mut v = data(n * 16 * 14 * 14, 1);
    g.throughput(Throughput::Elements(v.len() as u64));
    g.bench_function("tanh/16x16x14x14", |b| {
        b.iter(|| ops::tanh_inplace(black_box(&mut v)))
    });

    let conv1 = Conv2dShape {
        cin: 1,
        h: 28,
        w: 28,
        kernel: 8,
        stride: 2,
        padding: 3,
    };
    let x = data(n * 784, 2);
    let mut col = vec![0.0; 64 * n * 196];
    g.throughput(Throughput::Elements(col.len() as u64));
    g.bench_function("im2col/conv1_k8s2p3", |b| {
        b.iter(|| ops::im2col(black_box(&x), n, &conv1, &mut col).unwrap())
    });
    let conv2 = Conv2dShape {
        cin: 16,
        h: 13,
        w: 13,
        kernel: 4,
        stride: 2,
        padding: 0,
    };
    let x2 = data(n * 16 * 169, 3);
    let mut col2 = vec![0.0; 256 * n * 25];
    g.throughput(Throughput::Elements(col2.len() as u64));
    g.bench_function("im2col/conv2_k4s2", |b| {
        b.iter(|| ops::im2col(black_box(&x2), n, &conv2, &mut col2).unwrap())
    });

    let y = data(16 * n * 196, 4);
    let (mut out, mut idx) = (vec![0.0; 16 * n * 169], vec![0u32; 16 * n * 169]);
    g.throughput(Throughput::Elements(out.len() as u64));
    g.bench_function("maxpool/2x2s1_14x14", |b| {
        b.iter(|| ops::maxpool(black_box(&y), (14, 14), 2, 1, &mut out, &mut idx).unwrap())
    });

    // The conv GEMMs of one chunk: forward conv1/conv2 and the conv1 weight gradient shape.
    for &(m, k, nn, name) in &[
        (16, 64, n * 196, "conv1_fwd"),
        (32, 256, n * 25, "conv2_fwd"),
        (16, n * 196, 64, "conv1_wgrad"),
        (256, 32, n * 25, "conv2_dcol"),
    ] {
        let (a, bm) = (data(m * k, 5), data(k * nn, 6));
        let mut cm = vec![0.0; m * nn];
        g.throughput(Throughput::Elements((2 * m * k * nn) as u64));
        g.bench_function(
            BenchmarkId::new("gemm", format!("{name}_{m}x{k}x{nn}")),
            |b| b.iter(|| ops::matmul(m, k, nn, black_box(&a), black_box(&bm), &mut cm).unwrap()),
        );
    }
    g.finish();
}

fn steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    g.sample_size(20);
    for (arch, name, batches) in [
        (Arch::CnnSmall, "cnn-small", &[64usize, 256][..]),
        (Arch::CnnFedAvg, "cnn-fedavg", &[64][..]),
    ] {
        let spec = NetSpec::new(arch, Activation::Tanh);
        let params = init_params(&spec, 0);
        let mut net = Network::new(spec).unwrap();
        let mut grad = vec![0.0; spec.num_params()];
        for &b in batches {
            let x = data(b * spec.input_len(), 7);
            let y: Vec<u8> = (0..b).map(|i| (i % 10) as u8).collect();
            let mut norms = vec![0.0; b];
            g.throughput(Throughput::Elements(b as u64));
            g.bench_function(BenchmarkId::new(format!("{name}/train"), b), |bn| {
                bn.iter(|| net.loss_and_grad(&params, &x, &y, &mut grad).unwrap())
            });
            g.bench_function(
                BenchmarkId::new(format!("{name}/dp_clipped_sum"), b),
                |bn| {
                    bn.iter(|| {
                        net.clipped_grad_sum(&params, &x, &y, 1.0, &mut grad, &mut norms)
                            .unwrap()
                    })
                },
            );
        }
        let b = 1000;
        let x = data(b * spec.input_len(), 8);
        let y: Vec<u8> = (0..b).map(|i| (i % 10) as u8).collect();
        g.throughput(Throughput::Elements(b as u64));
        g.bench_function(BenchmarkId::new(format!("{name}/eval"), b), |bn| {
            bn.iter(|| net.evaluate(&params, &x, &y).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, kernels, steps);
criterion_main!(benches);
