//! Coordinate-wise median and trimmed mean (Yin et al. 2018, "Byzantine-Robust
//! Distributed Learning: Towards Optimal Statistical Rates", ICML).

use super::{common_len, floor_fraction};
use crate::error::AggregateError;

/// Coordinate-wise median; for an even count, the mean of the two middle
/// values (as `numpy.median`, used by Flower's `FedMedian`).
///
/// NaN sorts above every number (`total_cmp`); validate updates first.
pub fn coordinate_median(updates: &[&[f32]]) -> Result<Vec<f32>, AggregateError> {
    let d = common_len(updates)?;
    let n = updates.len();
    let mid = n / 2;
    let mut buf = Vec::with_capacity(n);
    let mut out = Vec::with_capacity(d);
    for j in 0..d {
        buf.clear();
        buf.extend(updates.iter().map(|u| u[j]));
        let (lower, upper, _) = buf.select_nth_unstable_by(mid, f32::total_cmp);
        let upper = f64::from(*upper);
        let value = if n % 2 == 1 {
            upper
        } else {
            // The lower middle is the largest value left of the partition point.
            let lower = lower
                .iter()
                .copied()
                .max_by(f32::total_cmp)
                .map_or(upper, f64::from);
            (lower + upper) / 2.0
        };
        out.push(value as f32);
    }
    Ok(out)
}

/// Coordinate-wise trimmed mean: per coordinate, drop the ⌊β·n⌋ largest and
/// ⌊β·n⌋ smallest values and average the rest (as `scipy.stats.trim_mean`,
/// used by Flower's `FedTrimmedAvg`). `trim_fraction` β must lie in [0, 0.5).
pub fn trimmed_mean(updates: &[&[f32]], trim_fraction: f64) -> Result<Vec<f32>, AggregateError> {
    if !(0.0..0.5).contains(&trim_fraction) {
        return Err(AggregateError::Invalid(format!(
            "trim fraction must be in [0, 0.5), got {trim_fraction}"
        )));
    }
    let d = common_len(updates)?;
    let n = updates.len();
    let cut = floor_fraction(trim_fraction, n);
    // β < 0.5 leaves at least one value, but guard the tolerance in floor_fraction.
    if 2 * cut >= n {
        return Err(AggregateError::TooFew {
            strategy: "trimmed-mean",
            needed: 2 * cut + 1,
            got: n,
        });
    }
    let kept = (n - 2 * cut) as f64;
    let mut buf = Vec::with_capacity(n);
    let mut out = Vec::with_capacity(d);
    for j in 0..d {
        buf.clear();
        buf.extend(updates.iter().map(|u| u[j]));
        buf.sort_unstable_by(f32::total_cmp);
        let sum: f64 = buf[cut..n - cut].iter().map(|&x| f64::from(x)).sum();
        out.push((sum / kept) as f32);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_count_is_the_middle_value() {
        // Prepare (Flower fedmedian_test style)
        let a = [1.0, 0.2, 0.5, 1.0];
        let b = [0.5, 0.5, 0.5, 0.5];
        let c = [0.2, 2.0, 0.0, 0.4];
        let expected = vec![0.5, 0.5, 0.5, 0.5];
        // Execute
        let actual = coordinate_median(&[&a, &b, &c]).unwrap();
        // Assert
        assert_eq!(actual, expected);
    }

    #[test]
    fn median_of_even_count_averages_the_two_middle_values() {
        let actual =
            coordinate_median(&[&[1.0, -3.0], &[4.0, 100.0], &[2.0, 0.0], &[3.0, 1.0]]).unwrap();
        assert_eq!(actual, vec![2.5, 0.5]);
        assert_eq!(coordinate_median(&[&[7.0]]).unwrap(), vec![7.0]);
    }

    #[test]
    fn median_ignores_one_huge_outlier() {
        let honest = [1.0f32, 1.0];
        let evil = [1.0e30f32, -1.0e30];
        assert_eq!(
            coordinate_median(&[&honest, &honest, &evil]).unwrap(),
            vec![1.0, 1.0]
        );
    }

    #[test]
    fn trimmed_mean_drops_the_extremes_per_coordinate() {
        // Prepare: 5 updates, β = 0.2 → drop 1 high and 1 low per coordinate.
        let u: [&[f32]; 5] = [
            &[1.0, 10.0],
            &[2.0, 20.0],
            &[3.0, 30.0],
            &[4.0, 40.0],
            &[100.0, -1000.0],
        ];
        // Execute
        let actual = trimmed_mean(&u, 0.2).unwrap();
        // Assert: mean of {2,3,4} and of {10,20,30}.
        assert_eq!(actual, vec![3.0, 20.0]);
        // β = 0 is the plain mean.
        assert_eq!(trimmed_mean(&u, 0.0).unwrap(), vec![22.0, -180.0]);
    }

    #[test]
    fn shape_and_parameter_errors() {
        assert_eq!(coordinate_median(&[]), Err(AggregateError::Empty));
        assert_eq!(trimmed_mean(&[], 0.1), Err(AggregateError::Empty));
        assert!(matches!(
            coordinate_median(&[&[1.0], &[1.0, 2.0]]),
            Err(AggregateError::LengthMismatch {
                expected: 1,
                got: 2
            })
        ));
        for beta in [0.5, -0.1, f64::NAN] {
            assert!(matches!(
                trimmed_mean(&[&[1.0]], beta),
                Err(AggregateError::Invalid(_))
            ));
        }
    }
}
