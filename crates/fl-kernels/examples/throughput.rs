//! Samples per second of standard training, DP-SGD training and evaluation.
//!
//! ```text
//! cargo run --release -p fl-kernels --example throughput -- \
//!     [--arch cnn-small|cnn-fedavg] [--act tanh|relu] [--reps 30] [--batches 64,256] \
//!     [--eval-batch 1000] [--chunk N] [--modes train,dp,eval]
//! ```
//! Each step is timed separately after warm-up; the printed figure is the median step time
//! converted to samples/s. `train` = mean-loss gradient + SGD update; `dp` = per-example
//! clipping (C = 1) + summed Gaussian noise (σ = 1) + 1/B scaling + SGD update; `eval` =
//! forward + loss + accuracy. Threads: the rayon global pool (`RAYON_NUM_THREADS`).

use std::time::Instant;

use fl_kernels::{Activation, Arch, NetSpec, Network, Sgd, init_params};

struct Args {
    arch: Arch,
    act: Activation,
    reps: usize,
    batches: Vec<usize>,
    eval_batch: usize,
    chunk: Option<usize>,
    modes: Vec<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        arch: Arch::CnnSmall,
        act: Activation::Tanh,
        reps: 30,
        batches: vec![64, 256],
        eval_batch: 1000,
        chunk: None,
        modes: vec!["train".into(), "dp".into(), "eval".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |s: &str| s.parse::<usize>().map_err(|e| format!("{flag} {s}: {e}"));
        match flag.as_str() {
            "--arch" => {
                a.arch = match v.as_str() {
                    "cnn-small" => Arch::CnnSmall,
                    "cnn-fedavg" => Arch::CnnFedAvg,
                    _ => return Err(format!("unknown arch {v}")),
                }
            }
            "--act" => {
                a.act = match v.as_str() {
                    "tanh" => Activation::Tanh,
                    "relu" => Activation::Relu,
                    _ => return Err(format!("unknown activation {v}")),
                }
            }
            "--reps" => a.reps = num(&v)?.max(1),
            "--batches" => a.batches = v.split(',').map(num).collect::<Result<_, _>>()?,
            "--eval-batch" => a.eval_batch = num(&v)?,
            "--chunk" => a.chunk = Some(num(&v)?),
            "--modes" => a.modes = v.split(',').map(String::from).collect(),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// Deterministic roughly-normal inputs (sum of uniforms) and labels.
fn data(n: usize, len: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let x = (0..n * len)
        .map(|_| (next() + next() + next() - 1.5) * 2.0)
        .collect();
    let y = (0..n).map(|_| (next() * 10.0) as u8 % 10).collect();
    (x, y)
}

/// Standard normal via Box-Muller over a small LCG (noise for the DP step).
fn add_noise(v: &mut [f32], sigma: f32, seed: &mut u64) {
    let mut u = || {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    };
    for pair in v.chunks_mut(2) {
        let (r, t) = (
            (-2.0 * u().ln()).sqrt() * sigma,
            std::f32::consts::TAU * u(),
        );
        pair[0] += r * t.cos();
        if let Some(b) = pair.get_mut(1) {
            *b += r * t.sin();
        }
    }
}

fn median_ms(mut f: impl FnMut(), reps: usize) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let spec = NetSpec::new(args.arch, args.act);
    let mut net = match args.chunk {
        Some(c) => Network::with_chunk(spec, c),
        None => Network::new(spec),
    }
    .unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let p = spec.num_params();
    println!(
        "# fl-kernels throughput: arch={:?} act={:?} params={p} threads={} chunk={} reps={}",
        args.arch,
        args.act,
        rayon::current_num_threads(),
        net.chunk(),
        args.reps
    );
    let report = |mode: &str, b: usize, ms: f64| {
        println!(
            "{mode:<5} b={b:<5} {:>9.0} samples/s  (median step {ms:.3} ms)",
            b as f64 / (ms / 1e3)
        );
    };
    let mut params = init_params(&spec, 0);
    let mut grad = vec![0.0; p];
    for &b in &args.batches {
        let (x, y) = data(b, spec.input_len(), b as u64);
        if args.modes.iter().any(|m| m == "train") {
            let mut sgd = Sgd::new(0.01, 0.0, 0.0);
            let ms = median_ms(
                || {
                    net.loss_and_grad(&params, &x, &y, &mut grad)
                        .expect("train step");
                    sgd.step(&mut params, &grad).expect("sgd");
                },
                args.reps,
            );
            report("train", b, ms);
        }
        if args.modes.iter().any(|m| m == "dp") {
            let mut sgd = Sgd::new(0.01, 0.0, 0.0);
            let mut norms = vec![0.0; b];
            let mut seed = 1u64;
            let ms = median_ms(
                || {
                    net.clipped_grad_sum(&params, &x, &y, 1.0, &mut grad, &mut norms)
                        .expect("dp step");
                    add_noise(&mut grad, 1.0, &mut seed);
                    let inv = 1.0 / b as f32;
                    grad.iter_mut().for_each(|g| *g *= inv);
                    sgd.step(&mut params, &grad).expect("sgd");
                },
                args.reps,
            );
            report("dp", b, ms);
        }
    }
    if args.modes.iter().any(|m| m == "eval") && args.eval_batch > 0 {
        let b = args.eval_batch;
        let (x, y) = data(b, spec.input_len(), 99);
        let ms = median_ms(
            || {
                net.evaluate(&params, &x, &y).expect("eval");
            },
            args.reps,
        );
        report("eval", b, ms);
    }
}
