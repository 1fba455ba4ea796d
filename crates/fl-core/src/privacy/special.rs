//! Special functions in plain `f64`: `erfc`, `log erfc`, the normal CDF and
//! log-space addition. Written here so that `fl-core` needs no numerics crate.
//!
//! `erf` uses the all-positive series `erf x = 2/√π · e^{-x²} Σ 2ⁿ x^{2n+1} / (2n+1)!!`
//! (Abramowitz & Stegun 7.1.6), which has no cancellation; `erfc` for `x ≥ 3`
//! uses the Laplace continued fraction (A&S 7.1.14) evaluated with the modified
//! Lentz method, so that `log erfc` stays finite for arguments far beyond the
//! point where `erfc` underflows.

use std::f64::consts::PI;

/// Below this, `erfc = 1 - erf` via the series; above, the continued fraction.
const SERIES_LIMIT: f64 = 3.0;

/// `erf(x)` for `0 ≤ x < SERIES_LIMIT` by the positive series (A&S 7.1.6).
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0;
    // Terms grow until n ≈ x² and then fall geometrically; 200 is far beyond
    // what x < 3 needs (about 60) and bounds the loop.
    for _ in 0..200 {
        term *= 2.0 * x2 / (2.0 * n + 3.0);
        sum += term;
        n += 1.0;
        if term < sum * 1e-17 {
            break;
        }
    }
    2.0 / PI.sqrt() * (-x2).exp() * sum
}

/// The continued fraction `K(x)` with `erfc x = e^{-x²}/√π · K(x)` for `x > 0`
/// (A&S 7.1.14): `K = 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`.
fn erfc_cf(x: f64) -> f64 {
    // Modified Lentz: f = b0 + a1/(b1 + a2/(b2 + ...)) with b0 = 0, b_k = x,
    // a1 = 1, a_k = (k-1)/2.
    const TINY: f64 = 1e-300;
    let mut f = TINY;
    let mut c = f;
    let mut d = 0.0;
    for k in 1..5000 {
        let a = if k == 1 { 1.0 } else { (k - 1) as f64 / 2.0 };
        d = x + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = x + a / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    f
}

/// Complementary error function, accurate to about 1e-13 relative.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x > 27.3 {
        // erfc(27.3) < 1e-325: below the smallest subnormal.
        return 0.0;
    }
    if x < SERIES_LIMIT {
        1.0 - erf_series(x)
    } else {
        (-x * x).exp() / PI.sqrt() * erfc_cf(x)
    }
}

/// `ln erfc(x)`, finite for every finite `x` (no underflow for large `x`).
pub fn log_erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return f64::NEG_INFINITY;
    }
    if x < SERIES_LIMIT {
        erfc(x).ln()
    } else {
        -x * x - 0.5 * PI.ln() + erfc_cf(x).ln()
    }
}

/// Standard normal CDF `Φ(u)`.
pub fn norm_cdf(u: f64) -> f64 {
    0.5 * erfc(-u / std::f64::consts::SQRT_2)
}

/// Standard normal survival function `1 - Φ(u)`, without cancellation.
pub fn norm_sf(u: f64) -> f64 {
    0.5 * erfc(u / std::f64::consts::SQRT_2)
}

/// `ln(eˣ + eʸ)` without overflow.
pub fn log_add(x: f64, y: f64) -> f64 {
    let (a, b) = if x < y { (x, y) } else { (y, x) };
    if a == f64::NEG_INFINITY {
        return b;
    }
    (a - b).exp().ln_1p() + b
}

/// `ln(eˣ - eʸ)` for `x ≥ y`; `-∞` when they are equal. Returns NaN when
/// `x < y`, which the callers treat as a numerical failure.
pub fn log_sub(x: f64, y: f64) -> f64 {
    if x < y {
        return f64::NAN;
    }
    if y == f64::NEG_INFINITY {
        return x;
    }
    if x == y {
        return f64::NEG_INFINITY;
    }
    let d = (x - y).exp_m1();
    if d.is_infinite() {
        // As Opacus: e^{x-y} overflowed, so eʸ is negligible next to eˣ.
        return x;
    }
    d.ln() + y
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Values from Python's math.erfc.
        let cases = [
            (0.0, 1.0),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (2.0, 0.004677734981047266),
            (2.9, 4.109787809945886e-05),
            (3.0, 2.209049699858544e-05),
            (5.0, 1.5374597944280349e-12),
            (-1.0, 1.8427007929497148),
            (10.0, 2.088487583762545e-45),
        ];
        for (x, want) in cases {
            assert!(rel(erfc(x), want) < 1e-12, "erfc({x}) = {} want {want}", erfc(x));
        }
    }

    #[test]
    fn log_erfc_is_continuous_and_finite_far_out() {
        assert!(rel(log_erfc(2.999_999_999), log_erfc(3.0)) < 1e-8);
        // erfc(40) underflows f64; its log must not: ≈ -1600 - ln(40√π).
        let want = -1600.0 - (40.0 * PI.sqrt()).ln();
        assert!((log_erfc(40.0) - want).abs() < 1e-3);
        assert!(log_erfc(-40.0).is_finite());
    }

    #[test]
    fn log_add_and_sub_are_inverse() {
        let s = log_add(1.0, 2.0);
        assert!((s - (1f64.exp() + 2f64.exp()).ln()).abs() < 1e-14);
        assert!((log_sub(s, 2.0) - 1.0).abs() < 1e-12);
        assert_eq!(log_sub(1.0, 1.0), f64::NEG_INFINITY);
        assert!(log_sub(1.0, 2.0).is_nan());
    }
}
