//! Shared test helpers: an independent, direct-loop f64 reference of the networks, and
//! deterministic data.
#![allow(dead_code)]

use fl_kernels::{Activation, ConvNetConfig, NetSpec};

/// Deterministic pseudo-random values in [-1, 1) (SplitMix64), independent of the crate's RNG.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Labels in 0..classes.
pub fn labels(n: usize, classes: usize, seed: u64) -> Vec<u8> {
    values(n, seed)
        .iter()
        .map(|v| (((v + 1.0) * 0.5 * classes as f32) as usize).min(classes - 1) as u8)
        .collect()
}

/// Small configurations that exercise every layer option (Cin > 1, stride, padding, pool
/// stride ≠ kernel, pool kernel 3).
pub fn mini_configs() -> Vec<ConvNetConfig> {
    use fl_kernels::{ConvCfg, PoolCfg};
    vec![
        ConvNetConfig {
            in_channels: 2,
            in_h: 9,
            in_w: 8,
            conv1: ConvCfg {
                out_channels: 3,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            pool1: PoolCfg {
                kernel: 2,
                stride: 2,
            },
            conv2: ConvCfg {
                out_channels: 4,
                kernel: 3,
                stride: 2,
                padding: 1,
            },
            pool2: PoolCfg {
                kernel: 2,
                stride: 1,
            },
            hidden: 5,
            classes: 3,
        },
        ConvNetConfig {
            in_channels: 1,
            in_h: 12,
            in_w: 12,
            conv1: ConvCfg {
                out_channels: 2,
                kernel: 4,
                stride: 2,
                padding: 3,
            },
            pool1: PoolCfg {
                kernel: 3,
                stride: 1,
            },
            conv2: ConvCfg {
                out_channels: 3,
                kernel: 2,
                stride: 1,
                padding: 0,
            },
            pool2: PoolCfg {
                kernel: 2,
                stride: 2,
            },
            hidden: 4,
            classes: 4,
        },
    ]
}

fn act(v: f64, a: Activation) -> f64 {
    match a {
        Activation::Tanh => v.tanh(),
        Activation::Relu => v.max(0.0),
    }
}

/// Direct convolution of one example `[cin][h][w]` → `[cout][oh][ow]`.
#[allow(clippy::too_many_arguments)]
fn conv(
    x: &[f64],
    cin: usize,
    h: usize,
    w: usize,
    wt: &[f64],
    b: &[f64],
    k: usize,
    s: usize,
    p: usize,
) -> (Vec<f64>, usize, usize) {
    let cout = b.len();
    let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
    let mut out = vec![0.0; cout * oh * ow];
    for co in 0..cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = b[co];
                for ci in 0..cin {
                    for ky in 0..k {
                        for kx in 0..k {
                            let y = (oy * s + ky) as isize - p as isize;
                            let xx = (ox * s + kx) as isize - p as isize;
                            if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                                acc += wt[((co * cin + ci) * k + ky) * k + kx]
                                    * x[(ci * h + y as usize) * w + xx as usize];
                            }
                        }
                    }
                }
                out[(co * oh + oy) * ow + ox] = acc;
            }
        }
    }
    (out, oh, ow)
}

fn pool(x: &[f64], c: usize, h: usize, w: usize, k: usize, s: usize) -> (Vec<f64>, usize, usize) {
    let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
    let mut out = vec![f64::MIN; c * oh * ow];
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                for dy in 0..k {
                    for dx in 0..k {
                        let v = x[(ch * h + oy * s + dy) * w + ox * s + dx];
                        let o = &mut out[(ch * oh + oy) * ow + ox];
                        *o = o.max(v);
                    }
                }
            }
        }
    }
    (out, oh, ow)
}

fn dense(x: &[f64], wt: &[f64], b: &[f64]) -> Vec<f64> {
    b.iter()
        .enumerate()
        .map(|(o, bo)| {
            bo + x
                .iter()
                .enumerate()
                .map(|(i, xi)| wt[o * x.len() + i] * xi)
                .sum::<f64>()
        })
        .collect()
}

/// Logits of one example, straight from the layer definitions.
pub fn ref_logits(spec: &NetSpec, params: &[f64], x: &[f64]) -> Vec<f64> {
    let c = spec.arch.config();
    let a = spec.activation;
    let mut off = 0;
    let mut take = |n: usize| {
        let s = &params[off..off + n];
        off += n;
        s
    };
    let (c0, c1, c2) = (c.in_channels, c.conv1.out_channels, c.conv2.out_channels);
    let w1 = take(c1 * c0 * c.conv1.kernel * c.conv1.kernel);
    let b1 = take(c1);
    let w2 = take(c2 * c1 * c.conv2.kernel * c.conv2.kernel);
    let b2 = take(c2);
    let (y, h, w) = conv(
        x,
        c0,
        c.in_h,
        c.in_w,
        w1,
        b1,
        c.conv1.kernel,
        c.conv1.stride,
        c.conv1.padding,
    );
    let y: Vec<f64> = y.iter().map(|v| act(*v, a)).collect();
    let (y, h, w) = pool(&y, c1, h, w, c.pool1.kernel, c.pool1.stride);
    let (y, h, w) = conv(
        &y,
        c1,
        h,
        w,
        w2,
        b2,
        c.conv2.kernel,
        c.conv2.stride,
        c.conv2.padding,
    );
    let y: Vec<f64> = y.iter().map(|v| act(*v, a)).collect();
    let (flat, _, _) = pool(&y, c2, h, w, c.pool2.kernel, c.pool2.stride);
    let f1 = take(c.hidden * flat.len());
    let fb1 = take(c.hidden);
    let f2 = take(c.classes * c.hidden);
    let fb2 = take(c.classes);
    let hdn: Vec<f64> = dense(&flat, f1, fb1).iter().map(|v| act(*v, a)).collect();
    dense(&hdn, f2, fb2)
}

/// Mean cross-entropy of the reference network.
pub fn ref_loss(spec: &NetSpec, params: &[f64], x: &[f64], labels: &[u8]) -> f64 {
    let il = spec.input_len();
    let mut total = 0.0;
    for (i, &y) in labels.iter().enumerate() {
        let l = ref_logits(spec, params, &x[i * il..(i + 1) * il]);
        let m = l.iter().cloned().fold(f64::MIN, f64::max);
        let lse = m + l.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        total += lse - l[y as usize];
    }
    total / labels.len() as f64
}

/// Central finite difference of the reference loss with respect to parameter `j`.
pub fn ref_fd(spec: &NetSpec, params: &[f64], x: &[f64], labels: &[u8], j: usize) -> f64 {
    let eps = 1e-6;
    let mut p = params.to_vec();
    p[j] = params[j] + eps;
    let up = ref_loss(spec, &p, x, labels);
    p[j] = params[j] - eps;
    let down = ref_loss(spec, &p, x, labels);
    (up - down) / (2.0 * eps)
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// max |a - b| / max(max |b|, floor).
pub fn rel_err(a: &[f32], b: &[f64], floor: f64) -> f64 {
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
        / scale
}
