//! Per-example gradients, their norms and DP-SGD clipping for one chunk.
//!
//! Dense layers never materialise per-example weight gradients: for a linear layer the
//! example-i gradient is the outer product `δ_i a_iᵀ`, whose squared Frobenius norm is
//! `‖a_i‖²·‖δ_i‖²` ("ghost norm", Goodfellow 2015, "Efficient per-example gradient
//! computations"; Li et al. 2022, "Large language models can be strong differentially private
//! learners"). The clipped sum `Σ_i c_i δ_i a_iᵀ` is then one ordinary GEMM on re-scaled
//! deltas (ghost clipping). Convolutions have few weights but many positions, so their
//! per-example gradients `dY_i · col_iᵀ` are formed directly (one small GEMM per example),
//! which is the cheaper side of the mixed ghost clipping rule of Bu et al. 2022
//! ("Scalable and efficient training of large convolutional neural networks with differential
//! privacy").

use crate::chunk::{Shapes, Workspace, accumulate_dense_grads};
use crate::mat::{Mat, matmul};

/// Sum with eight independent partial sums: unlike `iter().sum()` (one serial dependency
/// chain, since float addition may not be reassociated) this vectorises.
pub(crate) fn sum8(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut it = v.chunks_exact(8);
    for c in &mut it {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let tail: f32 = it.remainder().iter().sum();
    acc.iter().sum::<f32>() + tail
}

/// Sum of squares with eight independent partial sums (vectorises, and pairs the rounding).
pub(crate) fn sum_sq(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut it = v.chunks_exact(8);
    for c in &mut it {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x * x;
        }
    }
    let tail: f32 = it.remainder().iter().map(|x| x * x).sum();
    acc.iter().sum::<f32>() + tail
}

/// Fills `ws.pe1/pe2` (`[n, Cout·K]`) and `ws.pb1/pb2` (`[n, Cout]`) with each example's
/// conv weight and bias gradients.
pub(crate) fn conv_per_example(ws: &mut Workspace, s: &Shapes, n: usize) {
    let g = &s.g;
    let (k1, k2) = (s.conv1.kk(), s.conv2.kk());
    let (l1, l2) = (g.l1(), g.l2());
    let (nl1, nl2) = (n * l1, n * l2);
    for i in 0..n {
        let dy = Mat {
            data: &ws.dy1[i * l1..],
            rows: g.c1,
            cols: l1,
            rs: nl1,
            cs: 1,
        };
        let colt = Mat {
            data: &ws.col1[i * l1..],
            rows: l1,
            cols: k1,
            rs: 1,
            cs: nl1,
        };
        matmul(
            &mut ws.pe1[i * g.c1 * k1..(i + 1) * g.c1 * k1],
            k1,
            false,
            1.0,
            dy,
            colt,
        );
        let dy = Mat {
            data: &ws.dy2[i * l2..],
            rows: g.c2,
            cols: l2,
            rs: nl2,
            cs: 1,
        };
        let colt = Mat {
            data: &ws.col2[i * l2..],
            rows: l2,
            cols: k2,
            rs: 1,
            cs: nl2,
        };
        matmul(
            &mut ws.pe2[i * g.c2 * k2..(i + 1) * g.c2 * k2],
            k2,
            false,
            1.0,
            dy,
            colt,
        );
        for c in 0..g.c1 {
            ws.pb1[i * g.c1 + c] = sum8(&ws.dy1[c * nl1 + i * l1..c * nl1 + (i + 1) * l1]);
        }
        for c in 0..g.c2 {
            ws.pb2[i * g.c2 + c] = sum8(&ws.dy2[c * nl2 + i * l2..c * nl2 + (i + 1) * l2]);
        }
    }
}

/// Each example's full gradient L2 norm (requires [`conv_per_example`] first).
pub(crate) fn per_example_norms(ws: &Workspace, s: &Shapes, n: usize, norms: &mut [f32]) {
    let g = &s.g;
    let (w1, w2) = (g.c1 * s.conv1.kk(), g.c2 * s.conv2.kk());
    for (i, out) in norms.iter_mut().enumerate().take(n) {
        let dl = sum_sq(&ws.dlogits[i * g.classes..(i + 1) * g.classes]);
        let hh = sum_sq(&ws.h[i * g.hidden..(i + 1) * g.hidden]);
        let dh = sum_sq(&ws.dh[i * g.hidden..(i + 1) * g.hidden]);
        let aa = sum_sq(&ws.a[i * g.flat..(i + 1) * g.flat]);
        let dense = dl * (hh + 1.0) + dh * (aa + 1.0);
        let conv = sum_sq(&ws.pe1[i * w1..(i + 1) * w1])
            + sum_sq(&ws.pb1[i * g.c1..(i + 1) * g.c1])
            + sum_sq(&ws.pe2[i * w2..(i + 1) * w2])
            + sum_sq(&ws.pb2[i * g.c2..(i + 1) * g.c2]);
        *out = (dense + conv).sqrt();
    }
}

/// Opacus' flat clipping factor `min(1, C / (‖g_i‖ + 1e-6))`.
pub(crate) fn clip_factor(norm: f32, max_norm: f32) -> f32 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

/// `acc += Σ_i factor_i · g_i` for the chunk, given per-example conv grads and the deltas.
/// Scales `ws.dlogits` and `ws.dh` in place (they are not needed afterwards).
pub(crate) fn accumulate_clipped(ws: &mut Workspace, s: &Shapes, n: usize, acc: &mut [f32]) {
    let g = &s.g;
    let o = &g.off;
    let (w1, w2) = (g.c1 * s.conv1.kk(), g.c2 * s.conv2.kk());
    let f = &ws.factor[..n];
    // Conv parts: weighted sums of the per-example rows, as 1 × n by n × width GEMMs.
    let fm = Mat::rm(f, 1, n);
    matmul(
        &mut acc[o.conv1_w..o.conv1_b],
        w1,
        true,
        1.0,
        fm,
        Mat::rm(&ws.pe1, n, w1),
    );
    matmul(
        &mut acc[o.conv1_b..o.conv2_w],
        g.c1,
        true,
        1.0,
        fm,
        Mat::rm(&ws.pb1, n, g.c1),
    );
    matmul(
        &mut acc[o.conv2_w..o.conv2_b],
        w2,
        true,
        1.0,
        fm,
        Mat::rm(&ws.pe2, n, w2),
    );
    matmul(
        &mut acc[o.conv2_b..o.fc1_w],
        g.c2,
        true,
        1.0,
        fm,
        Mat::rm(&ws.pb2, n, g.c2),
    );
    // Dense parts: clip factors folded into the deltas, then the ordinary batch GEMMs.
    for (i, &c) in f.iter().enumerate() {
        ws.dlogits[i * g.classes..(i + 1) * g.classes]
            .iter_mut()
            .for_each(|v| *v *= c);
        ws.dh[i * g.hidden..(i + 1) * g.hidden]
            .iter_mut()
            .for_each(|v| *v *= c);
    }
    accumulate_dense_grads(ws, s, n, acc);
}

/// Writes each example's full flat gradient into the rows of `out` (`[n, P]`).
pub(crate) fn write_per_example(ws: &Workspace, s: &Shapes, n: usize, out: &mut [f32]) {
    let g = &s.g;
    let o = &g.off;
    let (w1, w2) = (g.c1 * s.conv1.kk(), g.c2 * s.conv2.kk());
    for (i, row) in out.chunks_exact_mut(o.total).enumerate().take(n) {
        row[o.conv1_w..o.conv1_b].copy_from_slice(&ws.pe1[i * w1..(i + 1) * w1]);
        row[o.conv1_b..o.conv2_w].copy_from_slice(&ws.pb1[i * g.c1..(i + 1) * g.c1]);
        row[o.conv2_w..o.conv2_b].copy_from_slice(&ws.pe2[i * w2..(i + 1) * w2]);
        row[o.conv2_b..o.fc1_w].copy_from_slice(&ws.pb2[i * g.c2..(i + 1) * g.c2]);
        let dh = &ws.dh[i * g.hidden..(i + 1) * g.hidden];
        let a = &ws.a[i * g.flat..(i + 1) * g.flat];
        outer(&mut row[o.fc1_w..o.fc1_b], dh, a);
        row[o.fc1_b..o.fc2_w].copy_from_slice(dh);
        let dl = &ws.dlogits[i * g.classes..(i + 1) * g.classes];
        let h = &ws.h[i * g.hidden..(i + 1) * g.hidden];
        outer(&mut row[o.fc2_w..o.fc2_b], dl, h);
        row[o.fc2_b..o.total].copy_from_slice(dl);
    }
}

/// `out[r, c] = u[r] · v[c]`.
fn outer(out: &mut [f32], u: &[f32], v: &[f32]) {
    for (row, &ur) in out.chunks_exact_mut(v.len()).zip(u) {
        row.iter_mut().zip(v).for_each(|(o, vc)| *o = ur * vc);
    }
}
