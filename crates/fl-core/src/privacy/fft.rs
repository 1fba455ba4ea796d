//! A small in-place radix-2 complex FFT (Cooley–Tukey, iterative,
//! decimation in time), enough for the PRV convolutions; `fl-core` takes no
//! FFT crate.

/// A complex number `re + i·im`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct C64 {
    pub re: f64,
    pub im: f64,
}

impl C64 {
    pub fn new(re: f64, im: f64) -> Self {
        Self { re, im }
    }

    pub fn mul(self, o: Self) -> Self {
        Self::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }

    /// `selfⁿ` through the polar form; accurate to about `n · 1e-16` relative,
    /// which is also the conditioning of the power itself.
    pub fn powu(self, n: u64) -> Self {
        let r = self.re.hypot(self.im);
        if r == 0.0 {
            return Self::default();
        }
        let nf = n as f64;
        let log_mag = nf * r.ln();
        if log_mag < -745.0 {
            // Underflows anyway; skip the trigonometry.
            return Self::default();
        }
        let mag = log_mag.exp();
        // n·θ can be large: reduce the angle before sin/cos.
        let ang = (nf * self.im.atan2(self.re)).rem_euclid(std::f64::consts::TAU);
        Self::new(mag * ang.cos(), mag * ang.sin())
    }
}

/// In-place FFT of a power-of-two-length buffer. `inverse` computes the
/// unnormalised inverse (the caller divides by `n`).
pub fn fft(buf: &mut [C64], inverse: bool) {
    let n = buf.len();
    assert!(n.is_power_of_two(), "fft length must be a power of two");
    if n <= 1 {
        return;
    }
    // Bit-reversal permutation.
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            buf.swap(i, j);
        }
    }
    // Twiddles computed directly (not by recurrence) to keep rounding at 1 ulp.
    let sign = if inverse { 1.0 } else { -1.0 };
    let tw: Vec<C64> = (0..n / 2)
        .map(|k| {
            let a = sign * std::f64::consts::TAU * k as f64 / n as f64;
            C64::new(a.cos(), a.sin())
        })
        .collect();
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let stride = n / len;
        for start in (0..n).step_by(len) {
            for k in 0..half {
                let w = tw[k * stride];
                let a = buf[start + k];
                let b = buf[start + k + half].mul(w);
                buf[start + k] = C64::new(a.re + b.re, a.im + b.im);
                buf[start + k + half] = C64::new(a.re - b.re, a.im - b.im);
            }
        }
        len *= 2;
    }
}

/// `e^{-2πik/n}` for `k = 0..=n/2`.
fn half_twiddles(n: usize) -> Vec<C64> {
    (0..=n / 2)
        .map(|k| {
            let a = -std::f64::consts::TAU * k as f64 / n as f64;
            C64::new(a.cos(), a.sin())
        })
        .collect()
}

/// DFT of a real power-of-two-length signal, returned as its non-redundant
/// half `X[0..=n/2]`: the even and odd samples are packed into one complex
/// signal of length `n/2`, transformed, and separated using Hermitian symmetry,
/// halving the work of a complex FFT.
pub fn rfft(x: &[f64]) -> Vec<C64> {
    let n = x.len();
    assert!(
        n >= 2 && n.is_power_of_two(),
        "rfft length must be a power of two >= 2"
    );
    let m = n / 2;
    let mut z: Vec<C64> = x.chunks_exact(2).map(|p| C64::new(p[0], p[1])).collect();
    fft(&mut z, false);
    let w = half_twiddles(n);
    (0..=m)
        .map(|k| {
            let zk = z[k % m];
            let zc = z[(m - k) % m];
            let zc = C64::new(zc.re, -zc.im);
            let e = C64::new(0.5 * (zk.re + zc.re), 0.5 * (zk.im + zc.im));
            // (zk - zc) / (2i)
            let o = C64::new(0.5 * (zk.im - zc.im), -0.5 * (zk.re - zc.re));
            let t = o.mul(w[k]);
            C64::new(e.re + t.re, e.im + t.im)
        })
        .collect()
}

/// Inverse of [`rfft`] (normalised): the real signal of length `n` whose
/// half spectrum is `spec` (`n/2 + 1` values).
pub fn irfft(spec: &[C64], n: usize) -> Vec<f64> {
    let m = n / 2;
    assert!(
        n >= 2 && n.is_power_of_two() && spec.len() == m + 1,
        "irfft needs n/2 + 1 values"
    );
    let w = half_twiddles(n);
    let mut z: Vec<C64> = (0..m)
        .map(|k| {
            let xk = spec[k];
            let xc = spec[m - k];
            let xc = C64::new(xc.re, -xc.im);
            let e = C64::new(0.5 * (xk.re + xc.re), 0.5 * (xk.im + xc.im));
            let d = C64::new(0.5 * (xk.re - xc.re), 0.5 * (xk.im - xc.im));
            // O = d / W^k = d · conj(W^k)
            let o = d.mul(C64::new(w[k].re, -w[k].im));
            // Z = E + i·O
            C64::new(e.re - o.im, e.im + o.re)
        })
        .collect();
    fft(&mut z, true);
    let scale = 1.0 / m as f64;
    z.iter()
        .flat_map(|c| [c.re * scale, c.im * scale])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circular_convolution_matches_direct_sum() {
        let a = [0.1, 0.4, 0.3, 0.2, 0.0, 0.0, 0.0, 0.0];
        let b = [0.5, 0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.25];
        let mut fa: Vec<C64> = a.iter().map(|&x| C64::new(x, 0.0)).collect();
        let mut fb: Vec<C64> = b.iter().map(|&x| C64::new(x, 0.0)).collect();
        fft(&mut fa, false);
        fft(&mut fb, false);
        let mut prod: Vec<C64> = fa.iter().zip(&fb).map(|(x, y)| x.mul(*y)).collect();
        fft(&mut prod, true);
        for k in 0..8 {
            let direct: f64 = (0..8).map(|i| a[i] * b[(k + 8 - i) % 8]).sum();
            assert!((prod[k].re / 8.0 - direct).abs() < 1e-15, "k={k}");
            assert!(prod[k].im.abs() < 1e-15);
        }
    }

    #[test]
    fn real_fft_matches_complex_fft_and_inverts() {
        let x: Vec<f64> = (0..16)
            .map(|i| ((i * 7 % 5) as f64 - 1.5) * 0.1 + i as f64 * 0.01)
            .collect();
        let half = rfft(&x);
        let mut full: Vec<C64> = x.iter().map(|&v| C64::new(v, 0.0)).collect();
        fft(&mut full, false);
        for k in 0..=8 {
            assert!(
                (half[k].re - full[k].re).abs() < 1e-14 && (half[k].im - full[k].im).abs() < 1e-14,
                "k={k}"
            );
        }
        let back = irfft(&half, 16);
        for (a, b) in back.iter().zip(&x) {
            assert!((a - b).abs() < 1e-15);
        }
    }

    #[test]
    fn power_matches_repeated_multiplication() {
        let z = C64::new(0.6, -0.7);
        let mut want = C64::new(1.0, 0.0);
        for _ in 0..13 {
            want = want.mul(z);
        }
        let got = z.powu(13);
        assert!((got.re - want.re).abs() < 1e-14 && (got.im - want.im).abs() < 1e-14);
    }
}
