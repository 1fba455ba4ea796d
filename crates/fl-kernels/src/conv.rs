//! im2col / col2im over a whole chunk of examples.
//!
//! Activations live in a channel-major "CNHW" layout (`[C, n, H, W]`), so one convolution over
//! `n` examples is a single GEMM `Y[Cout, n·L] = W[Cout, K] · col[K, n·L]` with
//! `K = Cin·k²` and `L = OH·OW`; the weight gradient is `dY · colᵀ` and the input gradient is
//! `col2im(Wᵀ · dY)`, each again one GEMM per chunk (Chellapilla et al. 2006, "High
//! performance convolutional neural networks for document processing").

/// Shape of one convolution's input and output (square kernel, symmetric padding).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvShape {
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
    pub p: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvShape {
    /// Output positions per example.
    pub fn l(&self) -> usize {
        self.oh * self.ow
    }

    /// Reduction length `Cin·k²`.
    pub fn kk(&self) -> usize {
        self.cin * self.k * self.k
    }

    /// Range of output columns `ox` whose input column `ox·s + kx − p` lies inside `[0, w)`.
    fn valid_ox(&self, kx: usize) -> (usize, usize) {
        let (s, p, w) = (self.s, self.p, self.w);
        // smallest ox with ox*s + kx >= p
        let lo = if kx >= p { 0 } else { (p - kx).div_ceil(s) };
        // largest ox with ox*s + kx - p <= w - 1  →  ox*s <= w - 1 + p - kx
        let hi = if w + p > kx { ((w - 1 + p - kx) / s + 1).min(self.ow) } else { 0 };
        (lo.min(hi), hi)
    }

    /// Input row for output row `oy` and kernel row `ky`, if inside the image.
    fn in_row(&self, oy: usize, ky: usize) -> Option<usize> {
        let y = oy * self.s + ky;
        (y >= self.p && y - self.p < self.h).then(|| y - self.p)
    }
}

/// Fills `col[K, n·L]` from an input whose element (c, i, y, x) sits at
/// `input[c·c_stride + i·i_stride + y·w + x]` (so NCHW and CNHW inputs both work).
pub(crate) fn im2col(
    input: &[f32],
    c_stride: usize,
    i_stride: usize,
    n: usize,
    g: &ConvShape,
    col: &mut [f32],
) {
    let (l, hw) = (g.l(), g.h * g.w);
    let row_len = n * l;
    let mut r = 0;
    for c in 0..g.cin {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = &mut col[r * row_len..(r + 1) * row_len];
                let (lo, hi) = g.valid_ox(kx);
                for i in 0..n {
                    let base = c * c_stride + i * i_stride;
                    let plane = &input[base..base + hw];
                    let dst_img = &mut row[i * l..(i + 1) * l];
                    for (oy, dst) in dst_img.chunks_exact_mut(g.ow).enumerate() {
                        let Some(y) = g.in_row(oy, ky) else {
                            dst.fill(0.0);
                            continue;
                        };
                        let src = &plane[y * g.w..(y + 1) * g.w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        if lo == hi {
                            continue;
                        }
                        let x0 = lo * g.s + kx - g.p;
                        if g.s == 1 {
                            dst[lo..hi].copy_from_slice(&src[x0..x0 + (hi - lo)]);
                        } else {
                            for (d, s) in dst[lo..hi].iter_mut().zip(src[x0..].iter().step_by(g.s)) {
                                *d = *s;
                            }
                        }
                    }
                }
                r += 1;
            }
        }
    }
}

/// Adds `col[K, n·L]` back onto a CNHW gradient `dinput[Cin, n, H, W]` (the adjoint of
/// [`im2col`]); `dinput` must be zeroed by the caller.
pub(crate) fn col2im(col: &[f32], n: usize, g: &ConvShape, dinput: &mut [f32]) {
    let (l, hw) = (g.l(), g.h * g.w);
    let row_len = n * l;
    let mut r = 0;
    for c in 0..g.cin {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = &col[r * row_len..(r + 1) * row_len];
                let (lo, hi) = g.valid_ox(kx);
                for i in 0..n {
                    let base = (c * n + i) * hw;
                    let plane = &mut dinput[base..base + hw];
                    let src_img = &row[i * l..(i + 1) * l];
                    for (oy, src) in src_img.chunks_exact(g.ow).enumerate() {
                        let Some(y) = g.in_row(oy, ky) else { continue };
                        if lo == hi {
                            continue;
                        }
                        let dst = &mut plane[y * g.w..(y + 1) * g.w];
                        let x0 = lo * g.s + kx - g.p;
                        if g.s == 1 {
                            for (d, s) in dst[x0..x0 + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                                *d += *s;
                            }
                        } else {
                            for (d, s) in dst[x0..].iter_mut().step_by(g.s).zip(&src[lo..hi]) {
                                *d += *s;
                            }
                        }
                    }
                }
                r += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(cin: usize, h: usize, k: usize, s: usize, p: usize) -> ConvShape {
        let o = (h + 2 * p - k) / s + 1;
        ConvShape { cin, h, w: h, k, s, p, oh: o, ow: o }
    }

    /// Direct definition of im2col for one element.
    fn reference(input: &[f32], n: usize, g: &ConvShape) -> Vec<f32> {
        let l = g.l();
        let mut col = vec![0.0; g.kk() * n * l];
        for c in 0..g.cin {
            for ky in 0..g.k {
                for kx in 0..g.k {
                    let r = (c * g.k + ky) * g.k + kx;
                    for i in 0..n {
                        for oy in 0..g.oh {
                            for ox in 0..g.ow {
                                let y = (oy * g.s + ky) as isize - g.p as isize;
                                let x = (ox * g.s + kx) as isize - g.p as isize;
                                if y >= 0 && x >= 0 && (y as usize) < g.h && (x as usize) < g.w {
                                    col[r * n * l + i * l + oy * g.ow + ox] = input
                                        [((c * n + i) * g.h + y as usize) * g.w + x as usize];
                                }
                            }
                        }
                    }
                }
            }
        }
        col
    }

    #[test]
    fn im2col_matches_definition_and_col2im_is_its_adjoint() {
        for &(cin, h, k, s, p) in &[(1, 28, 8, 2, 3), (2, 13, 4, 2, 0), (3, 7, 5, 1, 2), (1, 6, 3, 3, 1)] {
            let g = shape(cin, h, k, s, p);
            let n = 3;
            let x: Vec<f32> = (0..cin * n * h * h).map(|v| (v as f32 * 0.7).sin()).collect();
            let mut col = vec![f32::NAN; g.kk() * n * g.l()];
            im2col(&x, n * h * h, h * h, n, &g, &mut col);
            assert_eq!(col, reference(&x, n, &g), "im2col {cin} {h} {k} {s} {p}");
            // <im2col(x), c> == <x, col2im(c)> for any c.
            let c: Vec<f32> = (0..col.len()).map(|v| (v as f32 * 0.3).cos()).collect();
            let mut back = vec![0.0; x.len()];
            col2im(&c, n, &g, &mut back);
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            assert!((lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0), "adjoint {lhs} {rhs}");
        }
    }
}
