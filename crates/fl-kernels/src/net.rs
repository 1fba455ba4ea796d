//! [`Network`]: the reusable, multi-threaded entry point.
//!
//! A batch is cut into chunks of `chunk` examples (sized so one chunk's im2col buffers stay in
//! cache) and consecutive chunks are grouped; rayon runs one task per group. Each task borrows
//! its thread's [`Workspace`] and sums its gradient into the group's own accumulator, and the
//! accumulators are added in group order at the end. The result therefore depends only on the
//! batch and chunk size, not on the thread count or scheduling.

use std::sync::{Mutex, MutexGuard};

use rayon::prelude::*;

use crate::chunk::{self, Shapes, Workspace};
use crate::perex;
use crate::{Arch, KernelError, NetSpec};

/// Upper bound on the floats held by per-group gradient accumulators (64 MiB).
const ACC_BUDGET: usize = 16 << 20;

/// One group's gradient accumulator and statistics.
#[derive(Default)]
struct Slot {
    acc: Vec<f32>,
    loss: f64,
    correct: usize,
}

/// A network ready to run: shapes, per-thread scratch buffers and gradient accumulators.
///
/// Buffers grow to the largest batch seen and are reused, so repeated steps at a fixed batch
/// size allocate nothing. Work is spread over the current rayon pool (set its size with
/// `RAYON_NUM_THREADS` or `ThreadPool::install`).
pub struct Network {
    spec: NetSpec,
    shapes: Shapes,
    chunk: usize,
    workers: Vec<Mutex<Workspace>>,
    slots: Vec<Slot>,
    logits: Vec<f32>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("spec", &self.spec)
            .field("chunk", &self.chunk)
            .finish()
    }
}

/// Borrows the calling rayon thread's workspace (uncontended: one per pool thread).
fn worker(workers: &[Mutex<Workspace>]) -> MutexGuard<'_, Workspace> {
    let i = rayon::current_thread_index().unwrap_or(0) % workers.len();
    workers[i].lock().unwrap_or_else(|e| e.into_inner())
}

impl Network {
    /// A network for `spec` with the default chunk size for its architecture.
    pub fn new(spec: NetSpec) -> Result<Self, KernelError> {
        let chunk = match spec.arch {
            Arch::CnnSmall => 16,
            Arch::CnnFedAvg => 8,
            Arch::Custom(_) => 4,
        };
        Self::with_chunk(spec, chunk)
    }

    /// A network that processes `chunk` examples per inner step (a tuning knob: results are
    /// identical up to float summation order).
    pub fn with_chunk(spec: NetSpec, chunk: usize) -> Result<Self, KernelError> {
        if chunk == 0 {
            return Err(KernelError::InvalidConfig(
                "chunk size must be positive".into(),
            ));
        }
        let g = spec.geometry()?;
        // Pool argmax indices are u32 offsets into one chunk's activations.
        let largest = (g.c1 * g.l1()).max(g.c2 * g.l2()).max(g.flat);
        if chunk
            .checked_mul(largest)
            .is_none_or(|v| v >= u32::MAX as usize)
        {
            return Err(KernelError::InvalidConfig(
                "chunk too large for this network".into(),
            ));
        }
        Ok(Self {
            spec,
            shapes: Shapes::new(g, spec.activation),
            chunk,
            workers: Vec::new(),
            slots: Vec::new(),
            logits: Vec::new(),
        })
    }

    /// The network's spec.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// Length of the flat parameter vector.
    pub fn num_params(&self) -> usize {
        self.shapes.g.off.total
    }

    /// Examples per inner chunk.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    fn check_params(&self, params: &[f32]) -> Result<(), KernelError> {
        let want = self.num_params();
        if params.len() != want {
            return Err(KernelError::Length {
                what: "params",
                expected: want,
                got: params.len(),
            });
        }
        Ok(())
    }

    /// Validates `x` / `labels` and returns the batch size.
    fn check_batch(&self, params: &[f32], x: &[f32], labels: &[u8]) -> Result<usize, KernelError> {
        self.check_params(params)?;
        let b = labels.len();
        let want = b * self.shapes.g.input_len();
        if x.len() != want {
            return Err(KernelError::Length {
                what: "inputs",
                expected: want,
                got: x.len(),
            });
        }
        let classes = self.shapes.g.classes;
        if let Some(i) = labels.iter().position(|&l| l as usize >= classes) {
            return Err(KernelError::Label {
                index: i,
                label: labels[i],
                classes,
            });
        }
        Ok(b)
    }

    /// Examples per group for a batch of `b`, after making sure enough slots and workers exist.
    fn plan(&mut self, b: usize, with_acc: bool) -> usize {
        let p = self.num_params();
        let chunks = b.div_ceil(self.chunk).max(1);
        let max_groups = (ACC_BUDGET / p.max(1)).clamp(1, 1024);
        let per_group = chunks.div_ceil(max_groups);
        let groups = chunks.div_ceil(per_group);
        if self.slots.len() < groups {
            self.slots.resize_with(groups, Slot::default);
        }
        if with_acc {
            for s in &mut self.slots[..groups] {
                if s.acc.len() != p {
                    s.acc = vec![0.0; p];
                }
            }
        }
        let threads = rayon::current_num_threads().max(1);
        if self.workers.len() < threads {
            self.workers.resize_with(threads, Default::default);
        }
        per_group * self.chunk
    }

    /// Adds the first `groups` accumulators into `out`, in group order, in parallel over
    /// parameter ranges.
    fn reduce_into(&self, groups: usize, out: &mut [f32]) {
        const BLOCK: usize = 8192;
        let slots = &self.slots[..groups];
        out.par_chunks_mut(BLOCK).enumerate().for_each(|(j, dst)| {
            let lo = j * BLOCK;
            dst.copy_from_slice(&slots[0].acc[lo..lo + dst.len()]);
            for s in &slots[1..] {
                dst.iter_mut().zip(&s.acc[lo..]).for_each(|(d, v)| *d += v);
            }
        });
    }

    /// Logits `[batch, classes]` for `batch` examples `x` (NCHW, `[batch, C, H, W]`).
    pub fn forward(
        &mut self,
        params: &[f32],
        x: &[f32],
        batch: usize,
    ) -> Result<&[f32], KernelError> {
        self.check_params(params)?;
        let g = self.shapes.g;
        if x.len() != batch * g.input_len() {
            let expected = batch * g.input_len();
            return Err(KernelError::Length {
                what: "inputs",
                expected,
                got: x.len(),
            });
        }
        let q = g.classes;
        if self.logits.len() < batch * q {
            self.logits.resize(batch * q, 0.0);
        }
        if batch == 0 {
            return Ok(&[]);
        }
        let gs = self.plan(batch, false);
        let (shapes, chunk, workers) = (&self.shapes, self.chunk, &self.workers);
        let cap = chunk.min(batch);
        let il = g.input_len();
        self.logits[..batch * q]
            .par_chunks_mut(gs * q)
            .zip(x.par_chunks(gs * il))
            .for_each(|(out, xs)| {
                let mut ws = worker(workers);
                ws.ensure_forward(shapes, cap);
                for (o, xc) in out.chunks_mut(chunk * q).zip(xs.chunks(chunk * il)) {
                    let n = xc.len() / il;
                    chunk::forward(&mut ws, shapes, params, xc, n);
                    o.copy_from_slice(&ws.logits[..n * q]);
                }
            });
        Ok(&self.logits[..batch * q])
    }

    /// Summed cross-entropy loss and number of correct argmax predictions over the batch.
    pub fn evaluate(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
    ) -> Result<(f64, usize), KernelError> {
        let b = self.check_batch(params, x, labels)?;
        if b == 0 {
            return Ok((0.0, 0));
        }
        let gs = self.plan(b, false);
        let (shapes, chunk, workers) = (&self.shapes, self.chunk, &self.workers);
        let cap = chunk.min(b);
        let (il, q) = (shapes.g.input_len(), shapes.g.classes);
        let groups = b.div_ceil(gs);
        self.slots[..groups]
            .par_iter_mut()
            .zip(x.par_chunks(gs * il).zip(labels.par_chunks(gs)))
            .for_each(|(slot, (xs, ys))| {
                let mut ws = worker(workers);
                ws.ensure_forward(shapes, cap);
                (slot.loss, slot.correct) = (0.0, 0);
                for (xc, yc) in xs.chunks(chunk * il).zip(ys.chunks(chunk)) {
                    chunk::forward(&mut ws, shapes, params, xc, yc.len());
                    let (l, c) = chunk::softmax_xent(&mut ws, q, yc, None);
                    slot.loss += l;
                    slot.correct += c;
                }
            });
        let s = &self.slots[..groups];
        Ok((
            s.iter().map(|s| s.loss).sum(),
            s.iter().map(|s| s.correct).sum(),
        ))
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
        let b = self.check_batch(params, x, labels)?;
        self.check_out(grad_out.len(), self.num_params(), "grad_out")?;
        if b == 0 {
            grad_out.fill(0.0);
            return Ok(0.0);
        }
        let gs = self.plan(b, true);
        let (shapes, chunk, workers) = (&self.shapes, self.chunk, &self.workers);
        let cap = chunk.min(b);
        let (il, q) = (shapes.g.input_len(), shapes.g.classes);
        let groups = b.div_ceil(gs);
        let scale = 1.0 / b as f32;
        self.slots[..groups]
            .par_iter_mut()
            .zip(x.par_chunks(gs * il).zip(labels.par_chunks(gs)))
            .for_each(|(slot, (xs, ys))| {
                let mut ws = worker(workers);
                ws.ensure_forward(shapes, cap);
                ws.ensure_backward(shapes, cap);
                slot.acc.fill(0.0);
                slot.loss = 0.0;
                for (xc, yc) in xs.chunks(chunk * il).zip(ys.chunks(chunk)) {
                    let n = yc.len();
                    chunk::forward(&mut ws, shapes, params, xc, n);
                    slot.loss += chunk::softmax_xent(&mut ws, q, yc, Some(scale)).0;
                    chunk::backward_deltas(&mut ws, shapes, params, n);
                    chunk::accumulate_dense_grads(&ws, shapes, n, &mut slot.acc);
                    chunk::accumulate_conv_grads(&ws, shapes, n, &mut slot.acc);
                }
            });
        self.reduce_into(groups, grad_out);
        Ok((self.slots[..groups].iter().map(|s| s.loss).sum::<f64>() / b as f64) as f32)
    }

    fn check_out(
        &self,
        got: usize,
        expected: usize,
        what: &'static str,
    ) -> Result<(), KernelError> {
        if got != expected {
            return Err(KernelError::Length {
                what,
                expected,
                got,
            });
        }
        Ok(())
    }

    /// Each example's gradient of its own cross-entropy loss, as rows of `out` (`[B, P]`).
    /// Returns the mean loss. Meant for tests and small batches (the output is `B·P` floats).
    pub fn per_example_grads(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        out: &mut [f32],
    ) -> Result<f32, KernelError> {
        let b = self.check_batch(params, x, labels)?;
        let p = self.num_params();
        self.check_out(out.len(), b * p, "per-example output")?;
        if b == 0 {
            return Ok(0.0);
        }
        let gs = self.plan(b, false);
        let (shapes, chunk, workers) = (&self.shapes, self.chunk, &self.workers);
        let cap = chunk.min(b);
        let (il, q) = (shapes.g.input_len(), shapes.g.classes);
        let groups = b.div_ceil(gs);
        self.slots[..groups]
            .par_iter_mut()
            .zip(
                out.par_chunks_mut(gs * p)
                    .zip(x.par_chunks(gs * il).zip(labels.par_chunks(gs))),
            )
            .for_each(|(slot, (rows, (xs, ys)))| {
                let mut ws = worker(workers);
                ws.ensure_forward(shapes, cap);
                ws.ensure_backward(shapes, cap);
                ws.ensure_per_example(shapes, cap);
                slot.loss = 0.0;
                let parts = rows
                    .chunks_mut(chunk * p)
                    .zip(xs.chunks(chunk * il).zip(ys.chunks(chunk)));
                for (r, (xc, yc)) in parts {
                    let n = yc.len();
                    chunk::forward(&mut ws, shapes, params, xc, n);
                    slot.loss += chunk::softmax_xent(&mut ws, q, yc, Some(1.0)).0;
                    chunk::backward_deltas(&mut ws, shapes, params, n);
                    perex::conv_per_example(&mut ws, shapes, n);
                    perex::write_per_example(&ws, shapes, n, r);
                }
            });
        Ok((self.slots[..groups].iter().map(|s| s.loss).sum::<f64>() / b as f64) as f32)
    }

    /// DP-SGD core (Abadi et al. 2016, "Deep learning with differential privacy"): each
    /// example's gradient of its own loss is clipped to L2 norm ≤ `max_norm` with Opacus' flat
    /// clipping factor `min(1, C / (‖g_i‖ + 1e-6))`, and the clipped gradients are summed into
    /// `sum_out` (no noise, no division by the batch size). Writes each example's unclipped
    /// norm into `norms_out` and returns the mean loss. An empty batch gives zeros.
    pub fn clipped_grad_sum(
        &mut self,
        params: &[f32],
        x: &[f32],
        labels: &[u8],
        max_norm: f32,
        sum_out: &mut [f32],
        norms_out: &mut [f32],
    ) -> Result<f32, KernelError> {
        let b = self.check_batch(params, x, labels)?;
        self.check_out(sum_out.len(), self.num_params(), "sum_out")?;
        self.check_out(norms_out.len(), b, "norms_out")?;
        if !(max_norm.is_finite() && max_norm > 0.0) {
            return Err(KernelError::MaxNorm(max_norm));
        }
        if b == 0 {
            sum_out.fill(0.0);
            return Ok(0.0);
        }
        let gs = self.plan(b, true);
        let (shapes, chunk, workers) = (&self.shapes, self.chunk, &self.workers);
        let cap = chunk.min(b);
        let (il, q) = (shapes.g.input_len(), shapes.g.classes);
        let groups = b.div_ceil(gs);
        self.slots[..groups]
            .par_iter_mut()
            .zip(
                norms_out
                    .par_chunks_mut(gs)
                    .zip(x.par_chunks(gs * il).zip(labels.par_chunks(gs))),
            )
            .for_each(|(slot, (norms, (xs, ys)))| {
                let mut ws = worker(workers);
                ws.ensure_forward(shapes, cap);
                ws.ensure_backward(shapes, cap);
                ws.ensure_per_example(shapes, cap);
                slot.acc.fill(0.0);
                slot.loss = 0.0;
                let parts = norms
                    .chunks_mut(chunk)
                    .zip(xs.chunks(chunk * il).zip(ys.chunks(chunk)));
                for (nc, (xc, yc)) in parts {
                    let n = yc.len();
                    chunk::forward(&mut ws, shapes, params, xc, n);
                    slot.loss += chunk::softmax_xent(&mut ws, q, yc, Some(1.0)).0;
                    chunk::backward_deltas(&mut ws, shapes, params, n);
                    perex::conv_per_example(&mut ws, shapes, n);
                    perex::per_example_norms(&ws, shapes, n, nc);
                    for (f, &nrm) in ws.factor.iter_mut().zip(nc.iter()) {
                        *f = perex::clip_factor(nrm, max_norm);
                    }
                    perex::accumulate_clipped(&mut ws, shapes, n, &mut slot.acc);
                }
            });
        self.reduce_into(groups, sum_out);
        Ok((self.slots[..groups].iter().map(|s| s.loss).sum::<f64>() / b as f64) as f32)
    }
}
