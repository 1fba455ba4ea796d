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

    /// Padded plane pitch (row length) and size.
    fn padded(&self) -> (usize, usize) {
        let wp = self.w + 2 * self.p;
        (wp, (self.h + 2 * self.p) * wp)
    }
}

/// Scratch for the padded input copy and the gather table.
#[derive(Default)]
pub(crate) struct ColScratch {
    pad: Vec<f32>,
    tab: Vec<u32>,
}

/// Offsets of the top-left window corner of every output position in a plane of pitch `wp`;
/// kernel tap (ky, kx) then reads at `off + ky·wp + kx`.
fn fill_table(g: &ConvShape, wp: usize, tab: &mut Vec<u32>) {
    tab.clear();
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            tab.push((oy * g.s * wp + ox * g.s) as u32);
        }
    }
}

/// Fills `col[K, n·L]` from an input whose element (c, i, y, x) sits at
/// `input[c·c_stride + i·i_stride + y·w + x]` (so NCHW and CNHW inputs both work).
///
/// Padding is materialised once (a zero-bordered copy of each plane), after which every
/// column row is a table-driven gather without bounds logic per element.
pub(crate) fn im2col(
    input: &[f32],
    c_stride: usize,
    i_stride: usize,
    n: usize,
    g: &ConvShape,
    sc: &mut ColScratch,
    col: &mut [f32],
) {
    let (l, hw) = (g.l(), g.h * g.w);
    let (wp, plane) = g.padded();
    if g.p > 0 {
        let len = g.cin * n * plane;
        if sc.pad.len() < len {
            sc.pad.resize(len, 0.0);
        }
        let pad = &mut sc.pad[..len];
        pad.fill(0.0);
        for c in 0..g.cin {
            for i in 0..n {
                let src = &input[c * c_stride + i * i_stride..][..hw];
                let dst = &mut pad[(c * n + i) * plane..(c * n + i + 1) * plane];
                for (y, row) in src.chunks_exact(g.w).enumerate() {
                    let at = (y + g.p) * wp + g.p;
                    dst[at..at + g.w].copy_from_slice(row);
                }
            }
        }
    }
    fill_table(g, wp, &mut sc.tab);
    let tab = &sc.tab[..l];
    let row_len = n * l;
    let mut r = 0;
    for c in 0..g.cin {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = &mut col[r * row_len..(r + 1) * row_len];
                let shift = ky * wp + kx;
                for (i, dst) in row.chunks_exact_mut(l).enumerate() {
                    let src = if g.p > 0 {
                        &sc.pad[(c * n + i) * plane + shift..(c * n + i + 1) * plane]
                    } else {
                        &input
                            [c * c_stride + i * i_stride + shift..c * c_stride + i * i_stride + hw]
                    };
                    crate::simd::gather(dst, src, tab);
                }
                r += 1;
            }
        }
    }
}

/// Adds `col[K, n·L]` back onto a CNHW gradient `dinput[Cin, n, H, W]` (the adjoint of
/// [`im2col`]); `dinput` must be zeroed by the caller.
pub(crate) fn col2im(
    col: &[f32],
    n: usize,
    g: &ConvShape,
    sc: &mut ColScratch,
    dinput: &mut [f32],
) {
    let (l, hw) = (g.l(), g.h * g.w);
    let (wp, plane) = g.padded();
    // Without padding, scatter straight into dinput (its planes have pitch w == wp).
    if g.p > 0 {
        let len = g.cin * n * plane;
        if sc.pad.len() < len {
            sc.pad.resize(len, 0.0);
        }
        sc.pad[..len].fill(0.0);
    }
    fill_table(g, wp, &mut sc.tab);
    let tab = &sc.tab[..l];
    let row_len = n * l;
    let mut r = 0;
    for c in 0..g.cin {
        for ky in 0..g.k {
            for kx in 0..g.k {
                let row = &col[r * row_len..(r + 1) * row_len];
                let shift = ky * wp + kx;
                for (i, src) in row.chunks_exact(l).enumerate() {
                    let base = (c * n + i) * plane;
                    let dst = if g.p > 0 {
                        &mut sc.pad[base + shift..base + plane]
                    } else {
                        &mut dinput[base + shift..base + plane]
                    };
                    for (s, &o) in src.iter().zip(tab) {
                        dst[o as usize] += *s;
                    }
                }
                r += 1;
            }
        }
    }
    if g.p > 0 {
        for (pl, dst) in dinput[..g.cin * n * hw].chunks_exact_mut(hw).enumerate() {
            let src = &sc.pad[pl * plane..(pl + 1) * plane];
            for (y, row) in dst.chunks_exact_mut(g.w).enumerate() {
                let at = (y + g.p) * wp + g.p;
                row.iter_mut()
                    .zip(&src[at..at + g.w])
                    .for_each(|(d, s)| *d += s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(cin: usize, h: usize, k: usize, s: usize, p: usize) -> ConvShape {
        let o = (h + 2 * p - k) / s + 1;
        ConvShape {
            cin,
            h,
            w: h,
            k,
            s,
            p,
            oh: o,
            ow: o,
        }
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
                                    col[r * n * l + i * l + oy * g.ow + ox] =
                                        input[((c * n + i) * g.h + y as usize) * g.w + x as usize];
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
        for &(cin, h, k, s, p) in &[
            (1, 28, 8, 2, 3),
            (2, 13, 4, 2, 0),
            (3, 7, 5, 1, 2),
            (1, 6, 3, 3, 1),
        ] {
            let g = shape(cin, h, k, s, p);
            let n = 3;
            let x: Vec<f32> = (0..cin * n * h * h)
                .map(|v| (v as f32 * 0.7).sin())
                .collect();
            let mut col = vec![f32::NAN; g.kk() * n * g.l()];
            let mut sc = ColScratch::default();
            im2col(&x, n * h * h, h * h, n, &g, &mut sc, &mut col);
            assert_eq!(col, reference(&x, n, &g), "im2col {cin} {h} {k} {s} {p}");
            // <im2col(x), c> == <x, col2im(c)> for any c.
            let c: Vec<f32> = (0..col.len()).map(|v| (v as f32 * 0.3).cos()).collect();
            let mut back = vec![0.0; x.len()];
            col2im(&c, n, &g, &mut sc, &mut back);
            let lhs: f64 = col
                .iter()
                .zip(&c)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            let rhs: f64 = x
                .iter()
                .zip(&back)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
                "adjoint {lhs} {rhs}"
            );
        }
    }
}
