//! Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with
//! Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS).
//!
//! With n updates of which at most f are Byzantine, each update's score is
//! the sum of squared L2 distances to its n − f − 2 nearest other updates.
//! Krum returns the update with the lowest score; Multi-Krum averages the m
//! lowest-scoring ones. The guarantee needs n > 2f + 2.

use super::common_len;
use crate::error::AggregateError;

/// Squared L2 distance, accumulated in f64.
fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum()
}

/// Krum score of every update (lower is more central). Memory: the n × n
/// distance matrix, no copy of the updates.
///
/// Fails with [`AggregateError::TooFew`] unless n > 2f + 2.
pub fn krum_scores(updates: &[&[f32]], f: usize) -> Result<Vec<f64>, AggregateError> {
    common_len(updates)?;
    let n = updates.len();
    let needed = f.saturating_mul(2).saturating_add(3);
    if n < needed {
        return Err(AggregateError::TooFew {
            strategy: "krum",
            needed,
            got: n,
        });
    }
    let mut dist = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let d = sq_dist(updates[i], updates[j]);
            dist[i * n + j] = d;
            dist[j * n + i] = d;
        }
    }
    let neighbours = n - f - 2;
    let mut row = Vec::with_capacity(n - 1);
    let scores = (0..n)
        .map(|i| {
            row.clear();
            row.extend((0..n).filter(|&j| j != i).map(|j| dist[i * n + j]));
            row.select_nth_unstable_by(neighbours - 1, f64::total_cmp);
            row[..neighbours].iter().sum()
        })
        .collect();
    Ok(scores)
}

/// Indices ordered by increasing score, ties by index.
fn ranked(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    order
}

/// Index of the update Krum selects (lowest score; ties go to the lower index).
pub fn krum(updates: &[&[f32]], f: usize) -> Result<usize, AggregateError> {
    let scores = krum_scores(updates, f)?;
    Ok(ranked(&scores)[0])
}

/// Multi-Krum: the unweighted mean of the `m` lowest-scoring updates, and
/// their indices, best first. `m` must lie in 1..=n − f (m = n − f is the
/// usual choice); `m = 1` is Krum.
pub fn multi_krum(
    updates: &[&[f32]],
    f: usize,
    m: usize,
) -> Result<(Vec<f32>, Vec<usize>), AggregateError> {
    let scores = krum_scores(updates, f)?;
    let n = updates.len();
    if m == 0 || m > n - f {
        return Err(AggregateError::Invalid(format!(
            "multi-krum needs 1 <= m <= n - f = {}, got m = {m}",
            n - f
        )));
    }
    let mut chosen = ranked(&scores);
    chosen.truncate(m);
    let mut sum = vec![0.0f64; updates[0].len()];
    for &i in &chosen {
        for (s, &x) in sum.iter_mut().zip(updates[i]) {
            *s += f64::from(x);
        }
    }
    let mean = sum.into_iter().map(|s| (s / m as f64) as f32).collect();
    Ok((mean, chosen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_sum_the_nearest_squared_distances() {
        // Prepare: points 0, 1, 3 and 10 on a line, f = 0 → 2 neighbours each.
        let u: [&[f32]; 4] = [&[0.0], &[1.0], &[3.0], &[10.0]];
        // Execute
        let scores = krum_scores(&u, 0).unwrap();
        // Assert: 0 → 1 + 9; 1 → 1 + 4; 3 → 4 + 9; 10 → 49 + 81.
        assert_eq!(scores, vec![10.0, 5.0, 13.0, 130.0]);
        assert_eq!(krum(&u, 0).unwrap(), 1);
    }

    #[test]
    fn krum_rejects_the_outlier_and_multi_krum_averages_the_rest() {
        // Prepare: 4 honest updates near (1, 1), one attacker far away, f = 1.
        let u: [&[f32]; 5] = [
            &[1.0, 1.0],
            &[1.2, 0.8],
            &[0.8, 1.2],
            &[1.0, 1.1],
            &[50.0, -50.0],
        ];
        // Execute
        let best = krum(&u, 1).unwrap();
        let (mean, chosen) = multi_krum(&u, 1, 4).unwrap();
        // Assert
        assert_ne!(best, 4);
        assert_eq!(chosen.len(), 4);
        assert!(!chosen.contains(&4));
        assert!((mean[0] - 1.0).abs() < 1e-6 && (mean[1] - 1.025).abs() < 1e-6);
        assert_eq!(multi_krum(&u, 1, 1).unwrap().1, vec![best]);
    }

    #[test]
    fn needs_more_than_2f_plus_2_updates() {
        let u: [&[f32]; 4] = [&[0.0], &[1.0], &[2.0], &[3.0]];
        assert_eq!(
            krum_scores(&u, 1),
            Err(AggregateError::TooFew {
                strategy: "krum",
                needed: 5,
                got: 4
            })
        );
        assert!(krum_scores(&u, usize::MAX).is_err());
        assert!(matches!(
            multi_krum(&u, 0, 0),
            Err(AggregateError::Invalid(_))
        ));
        assert!(matches!(
            multi_krum(&u, 0, 5),
            Err(AggregateError::Invalid(_))
        ));
        assert_eq!(krum(&[], 0), Err(AggregateError::Empty));
    }
}
