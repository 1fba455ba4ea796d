//! Scattering features: a fixed, data-independent image representation.
//!
//! The 2-D scattering transform (Mallat 2012; Bruna & Mallat 2013) cascades Morlet wavelet
//! convolutions and complex moduli, then low-pass filters. This is Kymatio's
//! `Scattering2D(J=2, L=8, max_order=2)` computed the same way (reflect padding to a multiple
//! of 2^J, filters built and applied in the Fourier domain, subsampling by periodisation), so
//! a 28×28 image gives 1 + 16 + 64 = 81 channels of 7×7 in Kymatio's order; the test
//! `scatter_matches_kymatio` checks it against Kymatio's own output.
//!
//! Tramer & Boneh 2021 ("Differentially private learning needs better features (or much more
//! data)") showed that a linear model on these features, after per-example group
//! normalisation, beats end-to-end CNNs under DP-SGD at every ε on MNIST: the features are
//! fixed, so learning needs fewer noisy steps. The transform reads one image at a time and
//! nothing else, so applying it costs no privacy.

use std::f64::consts::PI;
use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::data::LocalData;
use crate::error::MlError;

/// Wavelet scales (`J`).
pub const J: usize = 2;
/// Wavelet orientations (`L`).
pub const L: usize = 8;
/// Output channels for `J = 2`, `L = 8`: one order-0, `J·L` order-1, `L²·J(J−1)/2` order-2.
pub const CHANNELS: usize = 1 + J * L + L * L * J * (J - 1) / 2;
/// Channels per normalisation group (Tramer & Boneh use 27 groups of 3 for MNIST).
pub const GROUP: usize = 3;

/// Kymatio's padded side for `side` (`compute_padding`): a multiple of 2^J with a border.
fn padded_side(side: usize) -> usize {
    let k = 1usize << J;
    ((side + k) / k + 1) * k
}

/// Side of each output channel for `side × side` images (the padded side over 2^J, less the
/// one-coefficient border Kymatio's `unpad` removes).
pub fn out_side(side: usize) -> usize {
    (padded_side(side) >> J) - 2
}

/// A square complex image in row-major order.
type Grid = Vec<Complex32>;

/// 2-D FFT of one size: the row transform and the column transform are the same 1-D plan.
struct Fft2 {
    n: usize,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
}

impl Fft2 {
    fn new(planner: &mut FftPlanner<f32>, n: usize) -> Self {
        Self {
            n,
            fwd: planner.plan_fft_forward(n),
            inv: planner.plan_fft_inverse(n),
        }
    }

    /// In-place 2-D transform; the inverse is scaled by 1/n² as numpy's `ifft2`.
    fn run(&self, g: &mut [Complex32], t: &mut Vec<Complex32>, inverse: bool) {
        let n = self.n;
        let plan = if inverse { &self.inv } else { &self.fwd };
        plan.process(g);
        t.resize(n * n, Complex32::default());
        transpose(g, t, n);
        plan.process(t);
        transpose(t, g, n);
        if inverse {
            let s = 1.0 / (n * n) as f32;
            g.iter_mut().for_each(|v| *v *= s);
        }
    }
}

fn transpose(src: &[Complex32], dst: &mut [Complex32], n: usize) {
    for r in 0..n {
        for c in 0..n {
            dst[c * n + r] = src[r * n + c];
        }
    }
}

/// Fourier-domain subsampling by `k`: the transform of the image subsampled by `k` in space
/// (Kymatio's `subsample_fourier`: the mean of the `k²` periodised copies).
fn subsample(x: &[Complex32], n: usize, k: usize) -> Grid {
    let m = n / k;
    let mut out = vec![Complex32::default(); m * m];
    for i in 0..k {
        for j in 0..k {
            for a in 0..m {
                let row = &x[(i * m + a) * n + j * m..][..m];
                out[a * m..(a + 1) * m]
                    .iter_mut()
                    .zip(row)
                    .for_each(|(o, v)| *o += v);
            }
        }
    }
    let s = 1.0 / (k * k) as f32;
    out.iter_mut().for_each(|v| *v *= s);
    out
}

/// Kymatio's `gabor_2d` on an `n × n` grid (periodised over ±2 copies), in f64.
fn gabor(n: usize, sigma: f64, theta: f64, xi: f64, slant: f64) -> Vec<(f64, f64)> {
    let (c, s) = (theta.cos(), theta.sin());
    // curv = R · diag(1, slant²) · R⁻¹ / (2σ²)
    let d = slant * slant;
    let c00 = (c * c + d * s * s) / (2.0 * sigma * sigma);
    let c01 = (c * s - d * s * c) / (2.0 * sigma * sigma);
    let c11 = (s * s + d * c * c) / (2.0 * sigma * sigma);
    let mut g = vec![(0.0, 0.0); n * n];
    let ni = n as i64;
    for ex in -2i64..=2 {
        for ey in -2i64..=2 {
            for i in 0..ni {
                for j in 0..ni {
                    let (x, y) = ((i + ex * ni) as f64, (j + ey * ni) as f64);
                    let re = -(c00 * x * x + 2.0 * c01 * x * y + c11 * y * y);
                    let im = x * xi * c + y * xi * s;
                    let m = re.exp();
                    let v = &mut g[(i * ni + j) as usize];
                    v.0 += m * im.cos();
                    v.1 += m * im.sin();
                }
            }
        }
    }
    // Kymatio's normalisation uses the literal 3.1415, not π; keep it to match its output.
    #[allow(clippy::approx_constant)]
    let kymatio_pi = 3.1415;
    let norm = 2.0 * kymatio_pi * sigma * sigma / slant;
    g.iter_mut().for_each(|v| {
        v.0 /= norm;
        v.1 /= norm;
    });
    g
}

/// Real part of the 2-D DFT of a complex f64 grid (direct sum; built once per filter).
fn dft_real(g: &[(f64, f64)], n: usize) -> Vec<f64> {
    let tw: Vec<(f64, f64)> = (0..n)
        .map(|k| {
            let a = -2.0 * PI * k as f64 / n as f64;
            (a.cos(), a.sin())
        })
        .collect();
    let mut out = vec![0.0; n * n];
    for u in 0..n {
        for v in 0..n {
            let mut re = 0.0;
            for x in 0..n {
                for y in 0..n {
                    let (wr, wi) = tw[(u * x + v * y) % n];
                    let (gr, gi) = g[x * n + y];
                    re += gr * wr - gi * wi;
                }
            }
            out[u * n + v] = re;
        }
    }
    out
}

/// Kymatio's `periodize_filter_fft`: crops a Fourier filter to resolution `res`.
fn periodize(x: &[f64], n: usize, res: u32) -> Vec<f32> {
    let k = 1usize << res;
    let m = n / k;
    let len = (n as f64 * (1.0 - 0.5f64.powi(res as i32))) as usize;
    let start = (n as f64 * 0.5f64.powi(res as i32 + 1)) as usize;
    let masked = |i: usize| i >= start && i < start + len;
    let mut out = vec![0.0f64; m * m];
    for a in 0..m {
        for b in 0..m {
            for i in 0..k {
                for j in 0..k {
                    let (r, c) = (a + i * m, b + j * m);
                    if !masked(r) && !masked(c) {
                        out[a * m + b] += x[r * n + c];
                    }
                }
            }
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

/// Kymatio's `morlet_2d`: a Gabor filter minus the Gaussian that gives it zero mean.
fn morlet(n: usize, sigma: f64, theta: f64, xi: f64, slant: f64) -> Vec<(f64, f64)> {
    let wv = gabor(n, sigma, theta, xi, slant);
    let env = gabor(n, sigma, theta, 0.0, slant);
    let sum = |g: &[(f64, f64)]| g.iter().fold((0.0, 0.0), |(a, b), &(c, d)| (a + c, b + d));
    let (wr, wi) = sum(&wv);
    let (er, ei) = sum(&env);
    // K = Σwv / Σenv (complex division).
    let den = er * er + ei * ei;
    let (kr, ki) = ((wr * er + wi * ei) / den, (wi * er - wr * ei) / den);
    wv.iter()
        .zip(&env)
        .map(|(&(a, b), &(c, d))| (a - (kr * c - ki * d), b - (kr * d + ki * c)))
        .collect()
}

/// The scattering transform for one image size (Kymatio `Scattering2D`, `J = 2`, `L = 8`).
pub struct Scattering {
    /// Input side.
    side: usize,
    /// Padded side (a multiple of 2^J with room for the border).
    padded: usize,
    pad: usize,
    /// Wavelets ψ_{j,θ} at full resolution, `J·L` of them (j-major), real Fourier filters.
    psi: Vec<Vec<f32>>,
    /// Low-pass φ_J at resolutions 0..J.
    phi: Vec<Vec<f32>>,
    ffts: Vec<Fft2>,
}

impl std::fmt::Debug for Scattering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scattering")
            .field("side", &self.side)
            .field("padded", &self.padded)
            .finish_non_exhaustive()
    }
}

impl Scattering {
    /// The transform for `side × side` single-channel images (`side` ≥ 2^J).
    pub fn new(side: usize) -> Result<Self, MlError> {
        let k = 1usize << J;
        if side < k {
            return Err(MlError::Invalid(format!(
                "scattering needs images of at least {k}×{k} pixels, got {side}×{side}"
            )));
        }
        let padded = padded_side(side);
        let pad = (padded - side) / 2;
        let mut psi = Vec::with_capacity(J * L);
        for j in 0..J {
            for t in 0..L {
                let theta = ((L - L / 2 - 1) as f64 - t as f64) * PI / L as f64;
                let sigma = 0.8 * (1u32 << j) as f64;
                let xi = 3.0 / 4.0 * PI / (1u32 << j) as f64;
                let f = dft_real(&morlet(padded, sigma, theta, xi, 4.0 / L as f64), padded);
                psi.push(periodize(&f, padded, 0));
            }
        }
        let phi_f = dft_real(
            &gabor(padded, 0.8 * (1u32 << (J - 1)) as f64, 0.0, 0.0, 1.0),
            padded,
        );
        let phi = (0..J as u32)
            .map(|r| periodize(&phi_f, padded, r))
            .collect();
        let mut planner = FftPlanner::new();
        let ffts = (0..=J)
            .map(|r| Fft2::new(&mut planner, padded >> r))
            .collect();
        Ok(Self {
            side,
            padded,
            pad,
            psi,
            phi,
            ffts,
        })
    }

    /// Input pixels per image.
    pub fn input_len(&self) -> usize {
        self.side * self.side
    }

    /// Side of each output channel.
    pub fn out_side(&self) -> usize {
        out_side(self.side)
    }

    /// Output floats per image: `CHANNELS · out_side²`.
    pub fn output_len(&self) -> usize {
        CHANNELS * self.out_side() * self.out_side()
    }

    fn fft(&self, n: usize) -> &Fft2 {
        self.ffts
            .iter()
            .find(|f| f.n == n)
            .expect("a plan exists for every resolution")
    }

    /// Multiplies by a real Fourier filter of the same size.
    fn filtered(x: &[Complex32], f: &[f32]) -> Grid {
        x.iter().zip(f).map(|(v, w)| v * w).collect()
    }

    /// `|ifft(x)|` and back to Fourier.
    fn modulus(&self, mut x: Grid, n: usize, t: &mut Grid) -> Grid {
        let f = self.fft(n);
        f.run(&mut x, t, true);
        x.iter_mut()
            .for_each(|v| *v = Complex32::new(v.norm(), 0.0));
        f.run(&mut x, t, false);
        x
    }

    /// Low-pass `x` (size `n`) with φ at resolution `res`, subsample to the output
    /// resolution, and write the unpadded real part to `out`.
    fn lowpass(&self, x: &[Complex32], n: usize, res: usize, t: &mut Grid, out: &mut [f32]) {
        let y = Self::filtered(x, &self.phi[res]);
        let mut y = subsample(&y, n, 1 << (J - res));
        let m = n >> (J - res);
        self.fft(m).run(&mut y, t, true);
        let o = m - 2;
        for a in 0..o {
            for b in 0..o {
                out[a * o + b] = y[(a + 1) * m + b + 1].re;
            }
        }
    }

    /// Scattering coefficients of one image (`input_len` pixels) into `out`
    /// (`output_len` floats, channel-major in Kymatio's order).
    pub fn transform(&self, image: &[f32], out: &mut [f32]) -> Result<(), MlError> {
        if image.len() != self.input_len() || out.len() != self.output_len() {
            return Err(MlError::Invalid(format!(
                "scattering takes {} pixels into {} features, got {} and {}",
                self.input_len(),
                self.output_len(),
                image.len(),
                out.len()
            )));
        }
        let (n, s, p) = (self.padded, self.side, self.pad);
        // Reflect padding (numpy's mode='reflect': the edge pixel is not repeated).
        let reflect = |i: usize| -> usize {
            let i = i as isize - p as isize;
            let last = s as isize - 1;
            let r = if i < 0 {
                -i
            } else if i > last {
                2 * last - i
            } else {
                i
            };
            r.clamp(0, last) as usize
        };
        let mut u0: Grid = (0..n * n)
            .map(|k| Complex32::new(image[reflect(k / n) * s + reflect(k % n)], 0.0))
            .collect();
        let mut t = Grid::new();
        self.fft(n).run(&mut u0, &mut t, false);
        let plane = self.out_side() * self.out_side();
        let mut chan = out.chunks_mut(plane);
        let mut next = || chan.next().expect("output has CHANNELS planes");
        self.lowpass(&u0, n, 0, &mut t, next());
        // Order 1 for every wavelet, keeping |x ⋆ ψ_{0,θ}| (in Fourier) for order 2.
        let mut u1_fine = Vec::with_capacity(L);
        for (n1, psi) in self.psi.iter().enumerate() {
            let j1 = n1 / L;
            let mut u = Self::filtered(&u0, psi);
            if j1 > 0 {
                u = subsample(&u, n, 1 << j1);
            }
            let m = n >> j1;
            let u = self.modulus(u, m, &mut t);
            self.lowpass(&u, m, j1, &mut t, next());
            if j1 == 0 {
                u1_fine.push(u);
            }
        }
        // Order 2: j1 = 0 < j2 = 1 (the only pair for J = 2).
        for u1 in &u1_fine {
            for psi in &self.psi[L..] {
                let u = subsample(&Self::filtered(u1, psi), n, 2);
                let u = self.modulus(u, n / 2, &mut t);
                self.lowpass(&u, n / 2, 1, &mut t, next());
            }
        }
        Ok(())
    }
}

/// Per-example group normalisation (no learned affine): each group of `GROUP` consecutive
/// channels gets zero mean and unit variance, as `GroupNorm(27, 81, affine=False)` would.
pub fn group_normalise(features: &mut [f32], groups: usize) {
    if groups == 0 || features.is_empty() {
        return;
    }
    let len = features.len() / groups;
    for g in features.chunks_mut(len) {
        let n = g.len() as f64;
        let mean = g.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = g
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let inv = 1.0 / (var + 1e-5).sqrt();
        g.iter_mut()
            .for_each(|v| *v = ((f64::from(*v) - mean) * inv) as f32);
    }
}

/// Replaces every image of `data` (single-channel, square) by its group-normalised
/// scattering features, in parallel over images.
pub fn scatter_features(data: &LocalData) -> Result<LocalData, MlError> {
    let side = (data.image_len as f64).sqrt().round() as usize;
    if side * side != data.image_len {
        return Err(MlError::Invalid(format!(
            "scattering needs square single-channel images; got {} pixels per example",
            data.image_len
        )));
    }
    let sc = Scattering::new(side)?;
    let (il, ol) = (sc.input_len(), sc.output_len());
    let mut x = vec![0.0f32; data.len() * ol];
    x.par_chunks_mut(ol)
        .zip(data.x.par_chunks(il))
        .try_for_each(|(o, img)| {
            sc.transform(img, o)?;
            group_normalise(o, CHANNELS / GROUP);
            Ok::<(), MlError>(())
        })?;
    LocalData::new(x, data.y.clone(), ol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_kymatio() {
        let s = Scattering::new(28).unwrap();
        assert_eq!((s.padded, s.pad, s.out_side()), (36, 4, 7));
        assert_eq!(s.output_len(), 81 * 49);
        assert_eq!(CHANNELS, 81);
        assert!(Scattering::new(3).is_err());
    }

    #[test]
    fn wavelets_have_zero_mean_and_phi_unit_gain() {
        let s = Scattering::new(28).unwrap();
        for psi in &s.psi {
            assert!(psi[0].abs() < 1e-5, "ψ̂(0) = {}", psi[0]);
        }
        // φ̂(0) ≈ 1 (a normalised Gaussian; Kymatio's 3.1415 makes it 1.00003).
        assert!((s.phi[0][0] - 1.0).abs() < 1e-3);
    }

    #[test]
    fn a_constant_image_has_only_the_order_zero_channel() {
        let s = Scattering::new(28).unwrap();
        let mut out = vec![0.0; s.output_len()];
        s.transform(&[0.5; 784], &mut out).unwrap();
        assert!(out[..49].iter().all(|v| (v - 0.5).abs() < 1e-3));
        assert!(out[49..].iter().all(|v| v.abs() < 1e-3));
    }

    #[test]
    fn bad_lengths_are_errors() {
        let s = Scattering::new(28).unwrap();
        let mut out = vec![0.0; s.output_len()];
        assert!(s.transform(&[0.0; 783], &mut out).is_err());
        assert!(s.transform(&[0.0; 784], &mut out[1..]).is_err());
        let d = LocalData::new(vec![0.0; 30], vec![1, 2], 15).unwrap();
        assert!(scatter_features(&d).is_err());
    }

    #[test]
    fn group_normalisation_gives_zero_mean_unit_variance() {
        let mut f: Vec<f32> = (0..12).map(|i| (i * i) as f32).collect();
        group_normalise(&mut f, 3);
        for g in f.chunks(4) {
            let m: f32 = g.iter().sum::<f32>() / 4.0;
            let v: f32 = g.iter().map(|x| (x - m).powi(2)).sum::<f32>() / 4.0;
            assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3);
        }
    }
}
