//! One-hot weights on the best index, with exact ties split evenly.

/// Weights `1/m` on each of the `m` indices whose score equals the maximum, 0
/// elsewhere. `+∞` scores (arms never played, for the optimistic algorithms) are the
/// maximum if present. Empty input gives empty output.
#[must_use]
pub fn one_hot_ties(scores: &[f64]) -> Vec<f64> {
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let winners = scores.iter().filter(|&&s| s == best).count();
    if winners == 0 {
        // Every score is NaN: nothing is known, share evenly.
        let k = scores.len() as f64;
        return scores.iter().map(|_| 1.0 / k).collect();
    }
    scores
        .iter()
        .map(|&s| if s == best { 1.0 / winners as f64 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_the_weight() {
        assert_eq!(
            one_hot_ties(&[1.0, 3.0, 3.0, 2.0]),
            vec![0.0, 0.5, 0.5, 0.0]
        );
        assert_eq!(one_hot_ties(&[f64::INFINITY, 3.0]), vec![1.0, 0.0]);
        assert!(one_hot_ties(&[]).is_empty());
    }
}
