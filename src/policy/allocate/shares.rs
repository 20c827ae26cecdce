//! Shares before they become ranges: the exploration floor every allocation keeps,
//! and the platform's `maxShiftPerUpdate`, the most traffic one update may move.

/// Mixes weights with the uniform distribution so every allocation gets at least
/// `floor` (capped at `1/K`): `p = floor + (1 − K·floor)·w`. Unlike clipping and
/// renormalising, the result is exactly at or above the floor and sums to 1.
#[must_use]
pub fn apply_floor(weights: &[f64], floor: f64) -> Vec<f64> {
    let k = weights.len() as f64;
    if weights.is_empty() {
        return Vec::new();
    }
    let floor = floor.clamp(0.0, 1.0 / k);
    let total: f64 = weights.iter().sum();
    weights
        .iter()
        .map(|w| floor + (1.0 - k * floor) * (w / total))
        .collect()
}

/// Limits the move from `old` to `new` shares to a total variation distance of
/// `max_shift` (the share of traffic that changes allocation), by moving along the
/// straight line from `old` towards `new`.
#[must_use]
pub fn cap_shift(old: &[f64], new: &[f64], max_shift: f64) -> Vec<f64> {
    let tv: f64 = old.iter().zip(new).map(|(o, n)| (n - o).abs()).sum::<f64>() / 2.0;
    if tv <= max_shift || tv == 0.0 {
        return new.to_vec();
    }
    let t = max_shift / tv;
    old.iter().zip(new).map(|(o, n)| o + t * (n - o)).collect()
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;

    #[test]
    fn floor_is_exact_and_capped_at_uniform() {
        let p = apply_floor(&[1.0, 0.0, 0.0], 0.05);
        assert_abs_diff_eq!(p[1], 0.05, epsilon = 1e-15);
        assert_abs_diff_eq!(p.iter().sum::<f64>(), 1.0, epsilon = 1e-15);
        assert_eq!(apply_floor(&[1.0, 0.0], 0.9), vec![0.5, 0.5]);
    }

    #[test]
    fn shift_is_capped_in_total_variation() {
        let p = cap_shift(&[0.5, 0.5], &[1.0, 0.0], 0.1);
        assert_abs_diff_eq!(p[0], 0.6, epsilon = 1e-15);
        assert_eq!(cap_shift(&[0.5, 0.5], &[0.55, 0.45], 0.1), vec![0.55, 0.45]);
    }
}
