//! From weights to what the bundle carries: exploration floor, the platform's
//! `maxShiftPerUpdate`, and bucket ranges.
//!
//! [`ranges_for_weights`] lays weights out from scratch over one segment; the engine
//! uses [`super::layout::layout_ranges`], which keeps the covered buckets, the
//! allocations' order and as many buckets in place as the quotas allow (the rule is
//! in [`super::layout`]).

/// Why weights could not become ranges.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocateError {
    /// The covered buckets have gaps; one range per allocation cannot keep them.
    #[error(
        "the policy covers non-contiguous buckets ({segments}); one range per allocation cannot keep that coverage: make its allocations contiguous or use eligibleBucketRange for holdouts"
    )]
    NonContiguous {
        /// The covered segments, as text.
        segments: String,
    },
    /// Fewer covered buckets than allocations.
    #[error("{buckets} covered buckets cannot give {allocations} allocations one bucket each")]
    TooFewBuckets {
        /// Covered buckets.
        buckets: u64,
        /// Allocations.
        allocations: usize,
    },
    /// Weights that are not a distribution.
    #[error("weights must be finite, non-negative and not all zero")]
    BadWeights,
}

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

/// Bucket ranges for `weights` (in allocation order) over the covered `segments`
/// (sorted, disjoint, inclusive), laid out contiguously in allocation order.
///
/// # Errors
///
/// [`AllocateError`] if the coverage has gaps, has fewer buckets than allocations,
/// or the weights are not a distribution.
pub fn ranges_for_weights(
    segments: &[[u32; 2]],
    weights: &[f64],
) -> Result<Vec<[u32; 2]>, AllocateError> {
    if weights.is_empty()
        || weights.iter().any(|w| !w.is_finite() || *w < 0.0)
        || weights.iter().sum::<f64>() <= 0.0
    {
        return Err(AllocateError::BadWeights);
    }
    let [start, end] = match segments {
        [one] => *one,
        [] => {
            return Err(AllocateError::TooFewBuckets {
                buckets: 0,
                allocations: weights.len(),
            })
        }
        many => {
            return Err(AllocateError::NonContiguous {
                segments: many
                    .iter()
                    .map(|s| format!("[{}, {}]", s[0], s[1]))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    };
    super::layout::least_movement_ranges([start, end], weights, &vec![None; weights.len()])
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use proptest::prelude::*;

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

    #[test]
    fn ranges_keep_a_partial_coverage() {
        // A policy on buckets 1000..=8999 of 10 000 (holdout elsewhere).
        let r = ranges_for_weights(&[[1000, 8999]], &[0.5, 0.25, 0.25]).unwrap();
        assert_eq!(r, vec![[1000, 4999], [5000, 6999], [7000, 8999]]);
        let e = ranges_for_weights(&[[0, 9], [20, 29]], &[0.5, 0.5]).unwrap_err();
        assert!(e.to_string().contains("[0, 9], [20, 29]"), "{e}");
        assert!(ranges_for_weights(&[[0, 1]], &[0.2, 0.3, 0.5]).is_err());
    }

    #[test]
    fn every_allocation_keeps_a_bucket() {
        let r = ranges_for_weights(&[[0, 99]], &[1.0, 0.0, 0.0]).unwrap();
        assert_eq!(r, vec![[0, 97], [98, 98], [99, 99]]);
    }

    proptest! {
        #[test]
        fn ranges_partition_the_coverage(
            start in 0u32..5000,
            len in 1u32..5000,
            weights in prop::collection::vec(0.0f64..1.0, 1..12),
        ) {
            prop_assume!(weights.iter().sum::<f64>() > 0.0);
            prop_assume!(len as usize >= weights.len());
            let end = start + len - 1;
            let r = ranges_for_weights(&[[start, end]], &weights).unwrap();
            prop_assert_eq!(r.len(), weights.len());
            prop_assert_eq!(r[0][0], start);
            prop_assert_eq!(r[r.len() - 1][1], end);
            for w in r.windows(2) {
                prop_assert_eq!(w[0][1] + 1, w[1][0]);
            }
            let sum: f64 = weights.iter().sum();
            for (range, w) in r.iter().zip(&weights) {
                let got = f64::from(range[1] - range[0] + 1);
                // Each count is within one bucket of its share, or one because of the floor.
                prop_assert!(got >= 1.0);
                prop_assert!((got - w / sum * f64::from(len)).abs() <= weights.len() as f64 + 1.0);
            }
        }
    }
}
