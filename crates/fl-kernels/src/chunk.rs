//! Forward and backward passes over one chunk of `n` examples on one thread.
//!
//! All intermediate tensors live in a [`Workspace`] that only grows, so steady-state training
//! allocates nothing. Convolution activations are CNHW (`[C, n, H, W]`, see `conv.rs`); dense
//! activations are row-major `[n, features]`.

use crate::Activation;
use crate::act::{act_backward, bias_act_cols, bias_act_rows};
use crate::conv::{ColScratch, ConvShape, col2im, im2col};
use crate::mat::{Mat, matmul};
use crate::pool::{PoolShape, maxpool_backward, maxpool_forward};
use crate::spec::Geometry;

/// Layer shapes in the form the kernels take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shapes {
    pub g: Geometry,
    pub conv1: ConvShape,
    pub pool1: PoolShape,
    pub conv2: ConvShape,
    pub pool2: PoolShape,
    pub act: Activation,
}

impl Shapes {
    pub fn new(g: Geometry, act: Activation) -> Self {
        let c = g.cfg;
        Self {
            g,
            conv1: ConvShape {
                cin: g.c0,
                h: g.h0,
                w: g.w0,
                k: c.conv1.kernel,
                s: c.conv1.stride,
                p: c.conv1.padding,
                oh: g.h1,
                ow: g.w1,
            },
            pool1: PoolShape {
                h: g.h1,
                w: g.w1,
                k: c.pool1.kernel,
                s: c.pool1.stride,
                oh: g.h1p,
                ow: g.w1p,
            },
            conv2: ConvShape {
                cin: g.c1,
                h: g.h1p,
                w: g.w1p,
                k: c.conv2.kernel,
                s: c.conv2.stride,
                p: c.conv2.padding,
                oh: g.h2,
                ow: g.w2,
            },
            pool2: PoolShape {
                h: g.h2,
                w: g.w2,
                k: c.pool2.kernel,
                s: c.pool2.stride,
                oh: g.h2p,
                ow: g.w2p,
            },
            act,
        }
    }
}

/// Grows `v` to at least `len` elements (never shrinks, so capacity is reused across steps).
fn grow<T: Clone + Default>(v: &mut Vec<T>, len: usize) {
    if v.len() < len {
        v.resize(len, T::default());
    }
}

/// Scratch buffers for one thread.
#[derive(Default)]
pub(crate) struct Workspace {
    pub col1: Vec<f32>,
    pub y1: Vec<f32>,
    pub p1: Vec<f32>,
    pub idx1: Vec<u32>,
    pub col2: Vec<f32>,
    pub y2: Vec<f32>,
    pub p2: Vec<f32>,
    pub idx2: Vec<u32>,
    pub a: Vec<f32>,
    pub h: Vec<f32>,
    pub logits: Vec<f32>,
    // backward
    pub dlogits: Vec<f32>,
    pub dh: Vec<f32>,
    pub da: Vec<f32>,
    pub dp2: Vec<f32>,
    pub dy2: Vec<f32>,
    pub dcol2: Vec<f32>,
    pub dp1: Vec<f32>,
    pub dy1: Vec<f32>,
    // per-example
    pub pe1: Vec<f32>,
    pub pe2: Vec<f32>,
    pub pb1: Vec<f32>,
    pub pb2: Vec<f32>,
    pub factor: Vec<f32>,
    pub scratch: ColScratch,
}

impl Workspace {
    pub fn ensure_forward(&mut self, s: &Shapes, n: usize) {
        let g = &s.g;
        grow(&mut self.col1, s.conv1.kk() * n * g.l1());
        grow(&mut self.y1, g.c1 * n * g.l1());
        grow(&mut self.p1, g.c1 * n * g.l1p());
        grow(&mut self.idx1, g.c1 * n * g.l1p());
        grow(&mut self.col2, s.conv2.kk() * n * g.l2());
        grow(&mut self.y2, g.c2 * n * g.l2());
        grow(&mut self.p2, g.c2 * n * g.l2p());
        grow(&mut self.idx2, g.c2 * n * g.l2p());
        grow(&mut self.a, n * g.flat);
        grow(&mut self.h, n * g.hidden);
        grow(&mut self.logits, n * g.classes);
    }

    pub fn ensure_backward(&mut self, s: &Shapes, n: usize) {
        let g = &s.g;
        grow(&mut self.dlogits, n * g.classes);
        grow(&mut self.dh, n * g.hidden);
        grow(&mut self.da, n * g.flat);
        grow(&mut self.dp2, g.c2 * n * g.l2p());
        grow(&mut self.dy2, g.c2 * n * g.l2());
        grow(&mut self.dcol2, s.conv2.kk() * n * g.l2());
        grow(&mut self.dp1, g.c1 * n * g.l1p());
        grow(&mut self.dy1, g.c1 * n * g.l1());
    }

    pub fn ensure_per_example(&mut self, s: &Shapes, n: usize) {
        let g = &s.g;
        grow(&mut self.pe1, n * g.c1 * s.conv1.kk());
        grow(&mut self.pe2, n * g.c2 * s.conv2.kk());
        grow(&mut self.pb1, n * g.c1);
        grow(&mut self.pb2, n * g.c2);
        grow(&mut self.factor, n);
    }
}

/// Forward pass of `n` examples (`x` is NCHW); logits end up in `ws.logits[..n·classes]`.
pub(crate) fn forward(ws: &mut Workspace, s: &Shapes, params: &[f32], x: &[f32], n: usize) {
    let g = &s.g;
    let o = &g.off;
    let (k1, k2) = (s.conv1.kk(), s.conv2.kk());
    let (nl1, nl2) = (n * g.l1(), n * g.l2());

    im2col(
        x,
        g.h0 * g.w0,
        g.input_len(),
        n,
        &s.conv1,
        &mut ws.scratch,
        &mut ws.col1,
    );
    let y1 = &mut ws.y1[..g.c1 * nl1];
    let w1 = Mat::rm(&params[o.conv1_w..o.conv1_b], g.c1, k1);
    matmul(y1, nl1, false, 1.0, w1, Mat::rm(&ws.col1, k1, nl1));
    bias_act_rows(y1, &params[o.conv1_b..o.conv2_w], s.act);
    let np1 = g.c1 * n * g.l1p();
    maxpool_forward(y1, &s.pool1, &mut ws.p1[..np1], &mut ws.idx1[..np1]);

    im2col(
        &ws.p1,
        n * g.l1p(),
        g.l1p(),
        n,
        &s.conv2,
        &mut ws.scratch,
        &mut ws.col2,
    );
    let y2 = &mut ws.y2[..g.c2 * nl2];
    let w2 = Mat::rm(&params[o.conv2_w..o.conv2_b], g.c2, k2);
    matmul(y2, nl2, false, 1.0, w2, Mat::rm(&ws.col2, k2, nl2));
    bias_act_rows(y2, &params[o.conv2_b..o.fc1_w], s.act);
    let np2 = g.c2 * n * g.l2p();
    maxpool_forward(y2, &s.pool2, &mut ws.p2[..np2], &mut ws.idx2[..np2]);

    // Flatten CNHW → [n, C·H·W] (PyTorch's per-example C, H, W order).
    let l2p = g.l2p();
    for c in 0..g.c2 {
        for i in 0..n {
            let src = &ws.p2[(c * n + i) * l2p..(c * n + i + 1) * l2p];
            ws.a[i * g.flat + c * l2p..i * g.flat + (c + 1) * l2p].copy_from_slice(src);
        }
    }

    let a = &ws.a[..n * g.flat];
    let h = &mut ws.h[..n * g.hidden];
    let wf1 = Mat::rm_t(&params[o.fc1_w..o.fc1_b], g.hidden, g.flat);
    matmul(h, g.hidden, false, 1.0, Mat::rm(a, n, g.flat), wf1);
    bias_act_cols(h, &params[o.fc1_b..o.fc2_w], Some(s.act));

    let logits = &mut ws.logits[..n * g.classes];
    let wf2 = Mat::rm_t(&params[o.fc2_w..o.fc2_b], g.classes, g.hidden);
    matmul(logits, g.classes, false, 1.0, Mat::rm(h, n, g.hidden), wf2);
    bias_act_cols(logits, &params[o.fc2_b..o.total], None);
}

/// Softmax cross-entropy of `ws.logits` against `labels`: returns (Σ loss, #correct) and, if
/// `grad_scale` is given, writes `dlogits = grad_scale · (softmax − onehot)`.
pub(crate) fn softmax_xent(
    ws: &mut Workspace,
    classes: usize,
    labels: &[u8],
    grad_scale: Option<f32>,
) -> (f64, usize) {
    let n = labels.len();
    let mut loss = 0.0f64;
    let mut correct = 0;
    for (i, &y) in labels.iter().enumerate() {
        let row = &ws.logits[i * classes..(i + 1) * classes];
        let (mut arg, mut m) = (0, row[0]);
        for (j, &v) in row.iter().enumerate().skip(1) {
            if v > m {
                m = v;
                arg = j;
            }
        }
        correct += usize::from(arg == y as usize);
        let sum: f32 = row.iter().map(|v| (v - m).exp()).sum();
        let lse = m + sum.ln();
        loss += (lse - row[y as usize]) as f64;
        if let Some(scale) = grad_scale {
            let d = &mut ws.dlogits[i * classes..(i + 1) * classes];
            for (d, v) in d.iter_mut().zip(row) {
                *d = scale * ((v - m).exp() / sum);
            }
            d[y as usize] -= scale;
        }
    }
    debug_assert!(n == 0 || loss.is_finite() || loss.is_nan());
    (loss, correct)
}

/// Propagates `ws.dlogits` back to the conv pre-activations: fills `dh`, `da`, `dy2`, `dy1`
/// (each already multiplied by the activation derivative). Parameter gradients are formed
/// afterwards from these deltas by the mode-specific code.
pub(crate) fn backward_deltas(ws: &mut Workspace, s: &Shapes, params: &[f32], n: usize) {
    let g = &s.g;
    let o = &g.off;
    let (nl1, nl2) = (n * g.l1(), n * g.l2());

    let dh = &mut ws.dh[..n * g.hidden];
    let wf2 = Mat::rm(&params[o.fc2_w..o.fc2_b], g.classes, g.hidden);
    matmul(
        dh,
        g.hidden,
        false,
        1.0,
        Mat::rm(&ws.dlogits, n, g.classes),
        wf2,
    );
    act_backward(dh, &ws.h[..n * g.hidden], s.act);

    let da = &mut ws.da[..n * g.flat];
    let wf1 = Mat::rm(&params[o.fc1_w..o.fc1_b], g.hidden, g.flat);
    matmul(da, g.flat, false, 1.0, Mat::rm(dh, n, g.hidden), wf1);

    let l2p = g.l2p();
    for c in 0..g.c2 {
        for i in 0..n {
            let src = &ws.da[i * g.flat + c * l2p..i * g.flat + (c + 1) * l2p];
            ws.dp2[(c * n + i) * l2p..(c * n + i + 1) * l2p].copy_from_slice(src);
        }
    }
    let dy2 = &mut ws.dy2[..g.c2 * nl2];
    dy2.fill(0.0);
    let np2 = g.c2 * n * l2p;
    maxpool_backward(&ws.dp2[..np2], &ws.idx2[..np2], dy2);
    act_backward(dy2, &ws.y2[..g.c2 * nl2], s.act);

    let k2 = s.conv2.kk();
    let dcol2 = &mut ws.dcol2[..k2 * nl2];
    let w2t = Mat::rm_t(&params[o.conv2_w..o.conv2_b], g.c2, k2);
    matmul(dcol2, nl2, false, 1.0, w2t, Mat::rm(dy2, g.c2, nl2));
    let np1 = g.c1 * n * g.l1p();
    let dp1 = &mut ws.dp1[..np1];
    dp1.fill(0.0);
    col2im(dcol2, n, &s.conv2, &mut ws.scratch, dp1);

    let dy1 = &mut ws.dy1[..g.c1 * nl1];
    dy1.fill(0.0);
    maxpool_backward(dp1, &ws.idx1[..np1], dy1);
    act_backward(dy1, &ws.y1[..g.c1 * nl1], s.act);
}

/// `out[r] += Σ_j m[r, j]` for a row-major `out.len() × cols` matrix.
fn add_row_sums(out: &mut [f32], m: &[f32], cols: usize) {
    for (o, row) in out.iter_mut().zip(m.chunks_exact(cols)) {
        *o += crate::perex::sum8(row);
    }
}

/// `out[j] += Σ_i m[i, j]` for a row-major `rows × out.len()` matrix.
fn add_col_sums(out: &mut [f32], m: &[f32]) {
    for row in m.chunks_exact(out.len()) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
    }
}

/// Adds the dense layers' batch gradients (`Σ_i δ_i a_iᵀ`, `Σ_i δ_i`) into `acc`.
pub(crate) fn accumulate_dense_grads(ws: &Workspace, s: &Shapes, n: usize, acc: &mut [f32]) {
    let g = &s.g;
    let o = &g.off;
    let (dl, dh) = (&ws.dlogits[..n * g.classes], &ws.dh[..n * g.hidden]);
    let h = &ws.h[..n * g.hidden];
    matmul(
        &mut acc[o.fc2_w..o.fc2_b],
        g.hidden,
        true,
        1.0,
        Mat::rm_t(dl, n, g.classes),
        Mat::rm(h, n, g.hidden),
    );
    add_col_sums(&mut acc[o.fc2_b..o.total], dl);
    let a = &ws.a[..n * g.flat];
    matmul(
        &mut acc[o.fc1_w..o.fc1_b],
        g.flat,
        true,
        1.0,
        Mat::rm_t(dh, n, g.hidden),
        Mat::rm(a, n, g.flat),
    );
    add_col_sums(&mut acc[o.fc1_b..o.fc2_w], dh);
}

/// Adds the conv layers' batch gradients (`dY · colᵀ` and row sums of `dY`) into `acc`.
pub(crate) fn accumulate_conv_grads(ws: &Workspace, s: &Shapes, n: usize, acc: &mut [f32]) {
    let g = &s.g;
    let o = &g.off;
    let (k1, k2) = (s.conv1.kk(), s.conv2.kk());
    let (nl1, nl2) = (n * g.l1(), n * g.l2());
    let dy2 = &ws.dy2[..g.c2 * nl2];
    matmul(
        &mut acc[o.conv2_w..o.conv2_b],
        k2,
        true,
        1.0,
        Mat::rm(dy2, g.c2, nl2),
        Mat::rm_t(&ws.col2, k2, nl2),
    );
    add_row_sums(&mut acc[o.conv2_b..o.fc1_w], dy2, nl2);
    let dy1 = &ws.dy1[..g.c1 * nl1];
    matmul(
        &mut acc[o.conv1_w..o.conv1_b],
        k1,
        true,
        1.0,
        Mat::rm(dy1, g.c1, nl1),
        Mat::rm_t(&ws.col1, k1, nl1),
    );
    add_row_sums(&mut acc[o.conv1_b..o.conv2_w], dy1, nl1);
}
