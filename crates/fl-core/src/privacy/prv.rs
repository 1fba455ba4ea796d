//! PRV accountant: numerical composition of privacy-loss random variables.
//!
//! Gopi, Lee and Wutschitz, *Numerical Composition of Differential Privacy*
//! (NeurIPS 2021, arXiv:2106.02848), following Opacus' `prv` accountant
//! (`opacus/accountants/prv.py` and `analysis/prv/`):
//!
//! 1. The privacy loss of one Poisson-subsampled Gaussian step is
//!    `Y = ln(1 - q + q·exp((2X - 1)/(2σ²)))` with `X ~ q·N(1, σ²) + (1-q)·N(0, σ²)`
//!    (paper, Propositions B1/B4).
//! 2. Its CDF is discretised on a grid of mesh `eps_error / √(n·ln(12/δ_err)/2)`
//!    over `[-L, L]`, `L` from an RDP tail bound (Remark 5.6); the grid is then
//!    shifted so the discrete mean equals the continuous one (Sec. 5).
//! 3. Compositions are products of discrete Fourier transforms. Opacus uses an
//!    FFT of the exact grid size; here the grid is widened to a power of two
//!    (more room, never less) so a radix-2 FFT suffices.
//! 4. `δ(ε) = E[(1 - e^{ε-Y})₊]` is inverted on the grid, and the returned
//!    value is the *upper* bound `ε(δ - δ_err) + eps_error`, as Opacus.

use super::fft::{C64, irfft, rfft};
use super::rdp::{compute_rdp, default_orders, rdp_to_epsilon};
use super::special::{log_add, norm_cdf, norm_sf};
use super::{AccountingError, Conversion, PrivacyEvent, check_delta};
use serde::{Deserialize, Serialize};

/// Largest grid (points) the PRV accountant will allocate (16 Mi points,
/// 256 MiB of complex spectrum).
pub const MAX_DOMAIN_POINTS: u64 = 1 << 24;

/// Accuracy knobs of the PRV accountant (Opacus defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrvOptions {
    /// Additive error allowed in ε (default 0.01).
    pub eps_error: f64,
    /// Error allowed in δ; `None` means `δ / 1000`.
    pub delta_error: Option<f64>,
}

impl Default for PrvOptions {
    fn default() -> Self {
        Self {
            eps_error: 0.01,
            delta_error: None,
        }
    }
}

/// Lower bound, estimate and upper bound on ε (paper, Theorem 5.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpsilonBounds {
    /// `ε(δ + δ_err) - eps_error`.
    pub lower: f64,
    /// `ε(δ)` on the discrete PRV.
    pub estimate: f64,
    /// `ε(δ - δ_err) + eps_error`: the guarantee.
    pub upper: f64,
}

/// The privacy-loss variable of one Poisson-subsampled Gaussian step.
struct Prv {
    q: f64,
    sigma: f64,
}

impl Prv {
    /// The Gaussian point `x` whose loss is `t`; `None` below the support
    /// (`t ≤ ln(1 - q)`).
    fn x_of_t(&self, t: f64) -> Option<f64> {
        let s2 = self.sigma * self.sigma;
        if self.q == 1.0 {
            return Some(s2 * t + 0.5);
        }
        let inner = t.exp_m1() + self.q;
        (inner > 0.0).then(|| s2 * (inner / self.q).ln() + 0.5)
    }

    /// `P(Y ≤ t)`.
    fn cdf(&self, t: f64) -> f64 {
        self.x_of_t(t).map_or(0.0, |x| {
            self.q * norm_cdf((x - 1.0) / self.sigma) + (1.0 - self.q) * norm_cdf(x / self.sigma)
        })
    }

    /// `P(Y > t)` without cancellation.
    fn sf(&self, t: f64) -> f64 {
        self.x_of_t(t).map_or(1.0, |x| {
            self.q * norm_sf((x - 1.0) / self.sigma) + (1.0 - self.q) * norm_sf(x / self.sigma)
        })
    }

    /// The loss `Y` at Gaussian point `x`.
    fn loss(&self, x: f64) -> f64 {
        let u = (2.0 * x - 1.0) / (2.0 * self.sigma * self.sigma);
        if self.q == 1.0 {
            u
        } else {
            log_add((1.0 - self.q).ln(), self.q.ln() + u)
        }
    }

    /// Density of `X` under the mixture.
    fn density(&self, x: f64) -> f64 {
        let phi = |u: f64| (-0.5 * u * u).exp() / (std::f64::consts::TAU.sqrt() * self.sigma);
        self.q * phi((x - 1.0) / self.sigma) + (1.0 - self.q) * phi(x / self.sigma)
    }

    /// `E[Y | t_min ≤ Y ≤ t_max]` by composite Simpson in `x`, where the
    /// integrand is smooth (Opacus integrates the CDF with `quad` instead).
    fn truncated_mean(&self, t_min: f64, t_max: f64) -> f64 {
        let s = self.sigma;
        let lo = self
            .x_of_t(t_min)
            .unwrap_or(f64::NEG_INFINITY)
            .max(-40.0 * s);
        let hi = self
            .x_of_t(t_max)
            .unwrap_or(f64::NEG_INFINITY)
            .min(1.0 + 40.0 * s);
        if hi <= lo {
            return 0.0;
        }
        let h_max = s.min(s * s) / 64.0;
        let n = (((hi - lo) / h_max).ceil() as usize).clamp(4096, 4_000_000) & !1;
        let h = (hi - lo) / n as f64;
        let f = |x: f64| self.loss(x) * self.density(x);
        let mut acc = f(lo) + f(hi);
        for k in 1..n {
            acc += f(lo + k as f64 * h) * if k % 2 == 1 { 4.0 } else { 2.0 };
        }
        let mass = 1.0 - self.sf(t_max) - self.cdf(t_min);
        acc * h / 3.0 / mass
    }
}

/// The common grid: `t_i = t_min + i·dt`, `t_min = -k·dt`, `size = 2k + 2`.
struct Grid {
    t_min: f64,
    dt: f64,
    size: usize,
}

impl Grid {
    fn t(&self, i: usize) -> f64 {
        self.t_min + i as f64 * self.dt
    }
}

/// Domain half-width `L` (Gopi et al. Remark 5.6, Opacus `compute_safe_domain_size`).
fn safe_domain_size(history: &[PrivacyEvent], eps_error: f64, delta_error: f64) -> f64 {
    let orders = default_orders();
    let total: u64 = history.iter().map(|e| e.steps).sum();
    let mut rdp = vec![0.0; orders.len()];
    for ev in history {
        for (r, v) in rdp.iter_mut().zip(compute_rdp(
            ev.sample_rate,
            ev.noise_multiplier,
            ev.steps,
            &orders,
        )) {
            *r += v;
        }
    }
    let mut l = rdp_to_epsilon(&orders, &rdp, delta_error / 4.0, Conversion::Balle).0;
    for ev in history {
        let one = compute_rdp(ev.sample_rate, ev.noise_multiplier, 1, &orders);
        let d = delta_error / (8.0 * total as f64);
        l = l.max(rdp_to_epsilon(&orders, &one, d, Conversion::Balle).0);
    }
    l.max(eps_error) + 3.0
}

/// Discretised, mean-corrected pmf of one step on `grid`, and its mean shift.
fn discretize(prv: &Prv, grid: &Grid) -> Result<(Vec<f64>, f64), AccountingError> {
    let t_min = grid.t_min;
    let t_max = grid.t(grid.size - 1);
    let (f_lo, s_hi) = (prv.cdf(t_min), prv.sf(t_max));
    let mass = 1.0 - f_lo - s_hi;
    // Truncated CDF / survival at bin edge e (as Opacus' TruncatedPrivacyRandomVariable).
    let edge = |j: usize| t_min + (j as f64 - 0.5) * grid.dt;
    let mut pmf = Vec::with_capacity(grid.size);
    let mut prev = (0.0, 1.0); // (F_trunc, S_trunc) at the left edge of bin 0
    // The CDF is increasing: once past the median, only the survival side is
    // needed (differences of values near 1 would cancel).
    let mut upper = false;
    for i in 0..grid.size {
        let e = edge(i + 1);
        let next = if e >= t_max {
            (1.0, 0.0)
        } else {
            let f = if upper { 1.0 } else { prv.cdf(e) };
            if f <= 0.5 {
                let ft = ((f - f_lo) / mass).max(0.0);
                (ft, 1.0 - ft)
            } else {
                upper = true;
                let st = ((prv.sf(e) - s_hi) / mass).max(0.0);
                (1.0 - st, st)
            }
        };
        let p = if upper {
            prev.1 - next.1
        } else {
            next.0 - prev.0
        };
        pmf.push(p.max(0.0));
        prev = next;
    }
    let mean_d: f64 = pmf.iter().enumerate().map(|(i, p)| grid.t(i) * p).sum();
    let shift = prv.truncated_mean(t_min, t_max) - mean_d;
    if shift.is_nan() || shift.abs() >= grid.dt / 2.0 {
        return Err(AccountingError::Numerical(format!(
            "discrete PRV mean differs from the continuous one by {shift:e} (bin {:e})",
            grid.dt
        )));
    }
    Ok((pmf, shift))
}

/// ε bounds for `history` at `delta` (paper Thm 5.5; Opacus `DiscretePRV.compute_epsilon`).
pub fn prv_epsilon_bounds(
    history: &[PrivacyEvent],
    delta: f64,
    opts: &PrvOptions,
) -> Result<EpsilonBounds, AccountingError> {
    check_delta(delta)?;
    if !(opts.eps_error.is_finite() && opts.eps_error > 0.0) {
        return Err(AccountingError::InvalidParameter(format!(
            "eps_error {}",
            opts.eps_error
        )));
    }
    let delta_error = opts.delta_error.unwrap_or(delta / 1000.0);
    if !(delta_error > 0.0 && delta_error < delta) {
        return Err(AccountingError::InvalidParameter(format!(
            "delta_error {delta_error}"
        )));
    }
    for ev in history {
        ev.validate()?;
    }
    let total: u64 = history.iter().map(|e| e.steps).sum();
    if total == 0 {
        return Ok(EpsilonBounds {
            lower: 0.0,
            estimate: 0.0,
            upper: 0.0,
        });
    }

    let l = safe_domain_size(history, opts.eps_error, delta_error);
    let dt = opts.eps_error / (total as f64 * (12.0 / delta_error).ln() / 2.0).sqrt();
    let k = (l / dt).ceil();
    let needed = 2.0 * k + 2.0;
    if needed.is_nan() || needed > MAX_DOMAIN_POINTS as f64 {
        return Err(AccountingError::DomainTooLarge {
            points: needed as u64,
            limit: MAX_DOMAIN_POINTS,
        });
    }
    let size = (needed as usize).next_power_of_two();
    let grid = Grid {
        t_min: -((size / 2 - 1) as f64) * dt,
        dt,
        size,
    };
    if f64::EPSILON * size as f64 > delta - delta_error {
        return Err(AccountingError::Numerical(
            "floating-point error dominates at this delta; increase delta".into(),
        ));
    }

    // Product of the per-event spectra raised to their step counts (real
    // input, so only the half spectrum is kept).
    let mut spectrum = vec![C64::new(1.0, 0.0); size / 2 + 1];
    let mut total_shift = 0.0;
    for ev in history {
        let prv = Prv {
            q: ev.sample_rate,
            sigma: ev.noise_multiplier,
        };
        let (pmf, shift) = discretize(&prv, &grid)?;
        total_shift += shift * ev.steps as f64;
        for (s, b) in spectrum.iter_mut().zip(rfft(&pmf)) {
            *s = s.mul(b.powu(ev.steps));
        }
    }
    let mut pmf = irfft(&spectrum, size);
    // Sum of n variables whose zero sits at index k = size/2 - 1: the circular
    // result must be rolled by n - 1 (+ size/2 when n is even), as Opacus'
    // `_compose_fourier` (`np.roll` is `rotate_right`).
    let n = (total % size as u64) as usize;
    let roll = (n + size - 1 + if total.is_multiple_of(2) { size / 2 } else { 0 }) % size;
    pmf.rotate_right(roll);
    let t0 = grid.t_min + total_shift;

    let find = |target: f64| epsilon_on_grid(t0, dt, &pmf, target);
    let upper = find(delta - delta_error)? + opts.eps_error;
    let lower = find(delta + delta_error)? - opts.eps_error;
    let estimate = find(delta)?;
    Ok(EpsilonBounds {
        lower: lower.max(0.0),
        estimate: estimate.max(0.0),
        upper: upper.max(0.0),
    })
}

/// ε for a discrete privacy-loss distribution on `t_i = t0 + i·dt`: with
/// `d1[i] = Σ_{j≥i} p_j` and `d2[i] = Σ_{j≥i} p_j e^{-t_j}`,
/// `δ(t_i) = d1[i] - e^{t_i} d2[i]` (Opacus `DiscretePRV.compute_epsilon`).
/// Scanning from the right (so numerical noise in the far left cannot cause an
/// early crossing, and `e^{-t}` is never evaluated beyond the answer), stop at
/// the first point with `δ > target`; ε is solved exactly in the bin after it.
fn epsilon_on_grid(t0: f64, dt: f64, pmf: &[f64], target: f64) -> Result<f64, AccountingError> {
    let n = pmf.len();
    let (mut d1, mut d2) = (0.0, 0.0);
    for i in (0..n).rev() {
        let t = t0 + i as f64 * dt;
        let (a, b) = (d1 + pmf[i], d2 + pmf[i] * (-t).exp());
        if t.exp() * b - a < -target {
            if i + 1 == n {
                break;
            }
            let eps = ((d1 - target) / d2).ln();
            if eps.is_nan() {
                return Err(AccountingError::Numerical(
                    "epsilon is NaN on the PRV grid".into(),
                ));
            }
            return Ok(eps);
        }
        (d1, d2) = (a, b);
    }
    Err(AccountingError::Numerical(
        "cannot locate epsilon on the PRV grid".into(),
    ))
}

/// Upper bound on ε for `history` at `delta` (what Opacus' `PRVAccountant.get_epsilon` returns).
pub fn prv_epsilon(
    history: &[PrivacyEvent],
    delta: f64,
    opts: &PrvOptions,
) -> Result<f64, AccountingError> {
    prv_epsilon_bounds(history, delta, opts).map(|b| b.upper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_and_sf_are_complementary() {
        let prv = Prv {
            q: 0.01,
            sigma: 1.1,
        };
        for t in [-0.005, -0.001, 0.0, 0.002, 0.05, 1.0] {
            assert!((prv.cdf(t) + prv.sf(t) - 1.0).abs() < 1e-14, "t={t}");
        }
        assert_eq!(prv.cdf(-0.02), 0.0);
    }

    #[test]
    fn full_batch_mean_is_half_inverse_variance() {
        // q = 1: Y ~ N(1/(2σ²), 1/σ²), so E[Y] = 1/(2σ²).
        let prv = Prv { q: 1.0, sigma: 2.0 };
        assert!((prv.truncated_mean(-30.0, 30.0) - 0.125).abs() < 1e-10);
    }

    #[test]
    fn full_batch_gaussian_matches_analytic_epsilon() {
        // Balle & Wang 2018: δ(ε) = Φ(μ/2 - ε/μ) - e^ε Φ(-μ/2 - ε/μ), μ = √n/σ.
        let (sigma, n) = (2.0, 16u64);
        let ev = PrivacyEvent {
            noise_multiplier: sigma,
            sample_rate: 1.0,
            steps: n,
        };
        let b = prv_epsilon_bounds(&[ev], 1e-5, &PrvOptions::default()).unwrap();
        let mu = (n as f64).sqrt() / sigma;
        let delta_of =
            |e: f64| norm_cdf(mu / 2.0 - e / mu) - e.exp() * norm_cdf(-mu / 2.0 - e / mu);
        assert!(
            delta_of(b.upper) <= 1e-5 && delta_of(b.lower) >= 1e-5,
            "{b:?}"
        );
        assert!(b.upper - b.lower < 0.03);
    }
}
