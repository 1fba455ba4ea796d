//! Rényi-DP analysis of the Poisson-subsampled Gaussian mechanism.
//!
//! The per-order RDP is computed as in Mironov, Talwar and Zhang, *Rényi
//! Differential Privacy of the Sampled Gaussian Mechanism* (2019,
//! arXiv:1908.10530, Section 3.3): `ε_RDP(α) = log A_α / (α - 1)`, with the
//! integer-order binomial expansion and the fractional-order two-sided series.
//! Everything is done in log space, mirroring Opacus'
//! `opacus/accountants/analysis/rdp.py` line for line so that the numbers
//! agree with it; the Python reference vectors in
//! `tests/testdata/privacy_vectors.json` check that.

use super::Conversion;
use super::special::{log_add, log_erfc, log_sub};

/// Opacus' default RDP orders: `1.1, 1.2, …, 10.9` then `12, 13, …, 63`
/// (`[1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))`).
pub fn default_orders() -> Vec<f64> {
    (1..100)
        .map(|x| 1.0 + f64::from(x) / 10.0)
        .chain((12..64).map(f64::from))
        .collect()
}

/// `ln C(α, i)` for integer `α ≥ i ≥ 0`.
fn log_binom_int(alpha: u64, i: u64) -> f64 {
    (0..i)
        .map(|k| ((alpha - k) as f64 / (k + 1) as f64).ln())
        .sum()
}

/// `log A_α` for integer `α` (Mironov et al. 2019, Sec. 3.3, eq. for integer α):
/// `A_α = Σ_{i=0}^{α} C(α,i) qⁱ (1-q)^{α-i} exp((i² - i) / (2σ²))`.
fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    for i in 0..=alpha {
        let fi = i as f64;
        let log_coef = log_binom_int(alpha, i) + fi * q.ln() + (alpha - i) as f64 * (1.0 - q).ln();
        let s = log_coef + (fi * fi - fi) / (2.0 * sigma * sigma);
        log_a = log_add(log_a, s);
    }
    log_a
}

/// `log A_α` for fractional `α` (Mironov et al. 2019, Sec. 3.3): the integral
/// is split at `z₀ = σ² ln(1/q - 1) + 1/2` and each half expanded in a
/// generalised binomial series with alternating signs past `i > α`; the loop
/// stops once both terms fall below `e^{-30}`, as Opacus does.
fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let mut log_a0 = f64::NEG_INFINITY;
    let mut log_a1 = f64::NEG_INFINITY;
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let s2 = std::f64::consts::SQRT_2 * sigma;
    // Generalised binomial C(α, i) kept as (ln|C|, sign), updated by
    // C(α, i+1) = C(α, i) (α - i) / (i + 1).
    let mut log_abs_coef = 0.0;
    let mut coef_positive = true;
    // Opacus has no cap; the terms decay at least polynomially, and the cap
    // only guards against an endless loop on absurd inputs.
    for i in 0..100_000u32 {
        let fi = f64::from(i);
        let j = alpha - fi;
        let log_t0 = log_abs_coef + fi * q.ln() + j * (1.0 - q).ln();
        let log_t1 = log_abs_coef + j * q.ln() + fi * (1.0 - q).ln();
        let log_e0 = 0.5f64.ln() + log_erfc((fi - z0) / s2);
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / s2);
        let log_s0 = log_t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + log_e0;
        let log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        if coef_positive {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        if log_s0.max(log_s1) < -30.0 || log_a0.is_nan() || log_a1.is_nan() {
            break;
        }
        let ratio = (alpha - fi) / (fi + 1.0);
        log_abs_coef += ratio.abs().ln();
        if ratio < 0.0 {
            coef_positive = !coef_positive;
        }
    }
    log_add(log_a0, log_a1)
}

/// RDP of one step of the Poisson-subsampled Gaussian mechanism at order `alpha`.
///
/// Special cases as in Opacus: `q = 0` → 0, `σ = 0` → ∞, `q = 1` → the plain
/// Gaussian `α / (2σ²)`, `α = ∞` → ∞. May return NaN if the series fails
/// numerically; the conversion ignores NaN orders.
pub fn rdp_single(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    if sigma == 0.0 {
        return f64::INFINITY;
    }
    if q == 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    if alpha.is_infinite() {
        return f64::INFINITY;
    }
    let log_a = if alpha.fract() == 0.0 && alpha <= 1e6 {
        log_a_int(q, sigma, alpha as u64)
    } else {
        log_a_frac(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// RDP of `steps` compositions at each of `orders` (Opacus `compute_rdp`).
/// RDP composes additively (Mironov 2017, Prop. 1), so this is
/// `steps · rdp_single(q, σ, α)` per order.
pub fn compute_rdp(q: f64, sigma: f64, steps: u64, orders: &[f64]) -> Vec<f64> {
    orders
        .iter()
        .map(|&a| rdp_single(q, sigma, a) * steps as f64)
        .collect()
}

/// `ε` at one order for the given conversion.
///
/// * [`Conversion::Balle`]: Balle, Barthe, Gaboardi, Hsu and Sato,
///   *Hypothesis Testing Interpretations and Rényi Differential Privacy*
///   (AISTATS 2020), Theorem 21 of arXiv:1905.09982:
///   `ε = rdp + ln((α-1)/α) - (ln δ + ln α)/(α-1)`.
/// * [`Conversion::Classic`]: Mironov, *Rényi Differential Privacy* (CSF
///   2017), Proposition 3: `ε = rdp - ln δ / (α-1)`.
pub fn epsilon_at_order(rdp: f64, alpha: f64, delta: f64, conversion: Conversion) -> f64 {
    match conversion {
        Conversion::Balle => {
            rdp - (delta.ln() + alpha.ln()) / (alpha - 1.0) + ((alpha - 1.0) / alpha).ln()
        }
        Conversion::Classic => rdp - delta.ln() / (alpha - 1.0),
    }
}

/// Smallest `ε` over the orders (Opacus `get_privacy_spent`), with the order
/// that attains it. NaN orders are skipped; if every order is NaN or ∞ the
/// result is `(∞, NaN)`. A negative bound is reported as 0, which is also a
/// valid (and the only meaningful) guarantee.
pub fn rdp_to_epsilon(
    orders: &[f64],
    rdp: &[f64],
    delta: f64,
    conversion: Conversion,
) -> (f64, f64) {
    let mut best = (f64::INFINITY, f64::NAN);
    for (&alpha, &r) in orders.iter().zip(rdp) {
        let eps = epsilon_at_order(r, alpha, delta, conversion);
        if eps < best.0 {
            best = (eps, alpha);
        }
    }
    (best.0.max(0.0), best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_orders_match_opacus_list() {
        let o = default_orders();
        assert_eq!(o.len(), 99 + 52);
        assert_eq!(o[0], 1.1);
        assert_eq!(o[9], 2.0);
        assert_eq!(o[98], 10.9);
        assert_eq!(o[99], 12.0);
        assert_eq!(*o.last().unwrap(), 63.0);
    }

    #[test]
    fn full_batch_is_plain_gaussian() {
        assert_eq!(rdp_single(1.0, 2.0, 3.0), 3.0 / 8.0);
        assert_eq!(rdp_single(0.0, 2.0, 3.0), 0.0);
        assert_eq!(rdp_single(0.5, 0.0, 3.0), f64::INFINITY);
    }

    #[test]
    fn integer_order_two_has_closed_form() {
        // A_2 = (1-q)² + 2q(1-q) + q² e^{1/σ²} = 1 + q²(e^{1/σ²} - 1).
        let (q, s) = (0.01f64, 1.3f64);
        let want = (1.0 + q * q * ((1.0 / (s * s)).exp() - 1.0)).ln();
        assert!((rdp_single(q, s, 2.0) - want).abs() < 1e-15);
    }

    #[test]
    fn fractional_orders_interpolate_integer_neighbours() {
        // RDP is non-decreasing in α, so 2.5 lies between orders 2 and 3.
        let (q, s) = (0.02, 1.0);
        let (lo, mid, hi) = (
            rdp_single(q, s, 2.0),
            rdp_single(q, s, 2.5),
            rdp_single(q, s, 3.0),
        );
        assert!(lo <= mid && mid <= hi, "{lo} {mid} {hi}");
    }
}
