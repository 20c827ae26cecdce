//! Bucket ranges that move little between versions.
//!
//! # The rule
//!
//! A policy serves a fixed set of buckets: its allocations' ranges cut to its
//! `eligibleBucketRange` ([`Policy::covered_segments`]). A rewrite keeps exactly that
//! set; buckets outside it (holdouts, other policies' buckets, the part outside the
//! eligible span) never change hands.
//!
//! 1. **Segments.** The covered set is a list of contiguous segments. Each allocation
//!    stays in the segment its current range lies in (an allocation with no covered
//!    bucket joins the last segment). A range is one `[start, end]`, so it cannot
//!    straddle a gap: with gaps, each segment's buckets are shared among its own
//!    allocations in proportion to their weights, and the traffic of a segment as a
//!    whole does not move. With contiguous coverage (the usual case: holdouts at the
//!    ends, or cut by `eligibleBucketRange`) there is one segment and the shares are
//!    the weights.
//! 2. **Order.** Inside a segment, allocations keep their current order in bucket
//!    space, laid out contiguously, so a weight change moves only the boundaries.
//! 3. **Counts.** A segment of `N` buckets gives allocation `i` (weight `wᵢ` of the
//!    segment's total `W`) the quota `qᵢ = N·wᵢ/W` rounded down or up, at least one
//!    bucket (a range cannot be empty, and an allocation that lost all its buckets
//!    could not come back). These are the apportionments that stay within one bucket
//!    of every quota; largest remainder (Hamilton's method) is one of them. Among
//!    them the engine picks the one that **reassigns the fewest buckets** (buckets
//!    whose allocation differs from the current layout); ties go to largest
//!    remainder. So a weight change smaller than a bucket moves nothing, and a larger
//!    one moves only what the quotas force.
//! 4. When the one-bucket minimum makes the quotas infeasible (a segment barely larger
//!    than its allocation count), counts are largest remainder with every count at
//!    least one, taking the excess from the allocations furthest above their quota.

use crate::sdk::model::Policy;

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

/// The covered segment an allocation's range lies in, after cutting to the eligible
/// span; `None` for an allocation with no covered bucket.
fn current_ranges(policy: &Policy) -> Vec<Option<[u32; 2]>> {
    policy
        .allocations
        .iter()
        .map(|a| {
            let [mut s, mut e] = a.bucket_range;
            if let Some(span) = policy.eligible_bucket_range {
                s = s.max(span.start);
                e = e.min(span.end);
            }
            (s <= e).then_some([s, e])
        })
        .collect()
}

/// New bucket ranges for `weights` (in allocation order) over exactly the buckets the
/// policy covers now, reassigning as few buckets as the rule in the module docs
/// allows.
///
/// # Errors
///
/// [`AllocateError::BadWeights`] if the weights are not finite, non-negative and not
/// all zero, or their count differs from the allocations'; [`AllocateError::TooFewBuckets`]
/// if a segment has fewer buckets than allocations.
pub fn layout_ranges(policy: &Policy, weights: &[f64]) -> Result<Vec<[u32; 2]>, AllocateError> {
    if weights.len() != policy.allocations.len()
        || weights.is_empty()
        || weights.iter().any(|w| !w.is_finite() || *w < 0.0)
        || weights.iter().sum::<f64>() <= 0.0
    {
        return Err(AllocateError::BadWeights);
    }
    let segments = policy.covered_segments();
    if segments.is_empty() {
        return Err(AllocateError::TooFewBuckets {
            buckets: 0,
            allocations: weights.len(),
        });
    }
    let current = current_ranges(policy);
    // Members of each segment, in current bucket order; homeless allocations last.
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); segments.len()];
    for (i, r) in current.iter().enumerate() {
        let seg = match r {
            Some([s, _]) => segments
                .iter()
                .position(|g| g[0] <= *s && *s <= g[1])
                .expect("covered segments contain every covered range"),
            None => segments.len() - 1,
        };
        members[seg].push(i);
    }
    let mut out = vec![[0u32; 2]; weights.len()];
    for (seg, idx) in segments.iter().zip(&mut members) {
        idx.sort_by_key(|&i| (current[i].map_or(u32::MAX, |r| r[0]), i));
        let mut w: Vec<f64> = idx.iter().map(|&i| weights[i]).collect();
        if w.iter().sum::<f64>() <= 0.0 {
            // Every allocation of this segment has weight zero: share it equally.
            w.iter_mut().for_each(|x| *x = 1.0);
        }
        let old: Vec<Option<[u32; 2]>> = idx.iter().map(|&i| current[i]).collect();
        let ranges = least_movement_ranges(*seg, &w, &old)?;
        for (&i, r) in idx.iter().zip(ranges) {
            out[i] = r;
        }
    }
    Ok(out)
}

/// Contiguous ranges over `segment` (inclusive), in the given order, with counts
/// within one bucket of each quota (see the module docs), reassigning the fewest
/// buckets relative to `old` (each allocation's current range, if any).
///
/// # Errors
///
/// [`AllocateError::TooFewBuckets`] if the segment has fewer buckets than weights;
/// [`AllocateError::BadWeights`] if the weights are not a distribution.
pub fn least_movement_ranges(
    segment: [u32; 2],
    weights: &[f64],
    old: &[Option<[u32; 2]>],
) -> Result<Vec<[u32; 2]>, AllocateError> {
    let total_w: f64 = weights.iter().sum();
    if weights.is_empty()
        || weights.iter().any(|w| !w.is_finite() || *w < 0.0)
        || total_w <= 0.0
        || !total_w.is_finite()
    {
        return Err(AllocateError::BadWeights);
    }
    let [start, end] = segment;
    let n = u64::from(end - start) + 1;
    let k = weights.len();
    if n < k as u64 {
        return Err(AllocateError::TooFewBuckets {
            buckets: n,
            allocations: k,
        });
    }
    let counts = quota_counts(weights, n, old, start);
    let mut next = u64::from(start);
    Ok(counts
        .into_iter()
        .map(|c| {
            let r = [next as u32, (next + c - 1) as u32];
            next += c;
            r
        })
        .collect())
}

/// Buckets whose allocation differs between `old` and `new` ranges of the same
/// allocations (by index), counted over the new ranges.
#[must_use]
pub fn buckets_moved(old: &[Option<[u32; 2]>], new: &[[u32; 2]]) -> u64 {
    new.iter()
        .zip(old.iter().chain(std::iter::repeat(&None)))
        .map(|(n, o)| {
            u64::from(n[1] - n[0]) + 1 - overlap(*o, u64::from(n[0]), u64::from(n[1]) + 1)
        })
        .sum()
}

/// Buckets of `old` (inclusive) inside `[from, to)`.
fn overlap(old: Option<[u32; 2]>, from: u64, to: u64) -> u64 {
    match old {
        Some([s, e]) => {
            let lo = from.max(u64::from(s));
            let hi = to.min(u64::from(e) + 1);
            hi.saturating_sub(lo)
        }
        None => 0,
    }
}

/// Counts per allocation: the quota-respecting apportionment that keeps the most
/// buckets where they are, ties to largest remainder; plain largest remainder with
/// a one-bucket minimum when quotas and the minimum conflict.
fn quota_counts(weights: &[f64], n: u64, old: &[Option<[u32; 2]>], start: u32) -> Vec<u64> {
    let total_w: f64 = weights.iter().sum();
    let quotas: Vec<f64> = weights.iter().map(|w| w / total_w * n as f64).collect();
    let lo: Vec<u64> = quotas.iter().map(|q| (q.floor() as u64).max(1)).collect();
    let hi: Vec<u64> = quotas.iter().map(|q| (q.ceil() as u64).max(1)).collect();
    let sum_lo: u64 = lo.iter().sum();
    let spare: u64 = hi.iter().zip(&lo).map(|(h, l)| h - l).sum();
    if sum_lo > n || n - sum_lo > spare {
        return largest_remainder(&quotas, n);
    }
    let extra = (n - sum_lo) as usize;
    // Rank of each allocation in largest-remainder order (0 = first to round up).
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = quotas[a] - quotas[a].floor();
        let rb = quotas[b] - quotas[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut rank = vec![0u64; quotas.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as u64;
    }
    // best[i][j]: least (moved, rank penalty) after i allocations with j round-ups,
    // and whether allocation i-1 was rounded up.
    type Cell = Option<((u64, u64), bool)>;
    let k = quotas.len();
    let mut best: Vec<Vec<Cell>> = vec![vec![None; extra + 1]; k + 1];
    best[0][0] = Some(((0, 0), false));
    let mut prefix_lo = 0u64;
    for i in 0..k {
        for j in 0..=extra {
            let Some(((moved, pen), _)) = best[i][j] else {
                continue;
            };
            let from = u64::from(start) + prefix_lo + j as u64;
            for up in [false, true] {
                if up && (hi[i] == lo[i] || j == extra) {
                    continue;
                }
                let c = lo[i] + u64::from(up);
                let kept = overlap(old.get(i).copied().flatten(), from, from + c);
                let cost = (moved + c - kept, pen + if up { rank[i] } else { 0 });
                let nj = j + usize::from(up);
                if best[i + 1][nj].is_none_or(|(b, _)| cost < b) {
                    best[i + 1][nj] = Some((cost, up));
                }
            }
        }
        prefix_lo += lo[i];
    }
    let mut counts = vec![0u64; k];
    let mut j = extra;
    for i in (0..k).rev() {
        let (_, up) = best[i + 1][j].expect("a feasible path reaches every used cell");
        counts[i] = lo[i] + u64::from(up);
        j -= usize::from(up);
    }
    counts
}

/// Largest remainder (Hamilton's method) with at least one bucket each, ties to the
/// lower index.
fn largest_remainder(targets: &[f64], total: u64) -> Vec<u64> {
    let mut c: Vec<u64> = targets.iter().map(|t| (t.floor() as u64).max(1)).collect();
    let mut assigned: u64 = c.iter().sum();
    while assigned < total {
        let i = (0..c.len())
            .max_by(|&a, &b| {
                (targets[a] - c[a] as f64)
                    .total_cmp(&(targets[b] - c[b] as f64))
                    .then(b.cmp(&a))
            })
            .expect("at least one allocation");
        c[i] += 1;
        assigned += 1;
    }
    while assigned > total {
        let i = (0..c.len())
            .filter(|&i| c[i] > 1)
            .max_by(|&a, &b| {
                (c[a] as f64 - targets[a])
                    .total_cmp(&(c[b] as f64 - targets[b]))
                    .then(b.cmp(&a))
            })
            .expect("total >= allocations leaves one allocation above one bucket");
        c[i] -= 1;
        assigned -= 1;
    }
    c
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
    least_movement_ranges([start, end], weights, &vec![None; weights.len()])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::sdk::model::{Allocation, BucketSpan, PolicyKind, PolicyState};

    fn policy(ranges: &[[u32; 2]], eligible: Option<[u32; 2]>) -> Policy {
        Policy {
            id: "p".into(),
            key: None,
            state: PolicyState::Running,
            kind: PolicyKind::Adaptive,
            allocations: ranges
                .iter()
                .enumerate()
                .map(|(i, r)| Allocation {
                    id: None,
                    name: format!("a{i}"),
                    key: None,
                    bucket_range: *r,
                    overrides: Default::default(),
                })
                .collect(),
            conditions: vec![],
            state_version: None,
            context_logging: None,
            contextual_model: None,
            entity_config: None,
            eligible_bucket_range: eligible.map(|[start, end]| BucketSpan { start, end }),
        }
    }

    #[test]
    fn a_change_smaller_than_a_bucket_moves_nothing() {
        let p = policy(&[[0, 2999], [3000, 5999], [6000, 8999]], None);
        let r = layout_ranges(&p, &[0.3334, 0.3333, 0.3333]).unwrap();
        assert_eq!(r, vec![[0, 2999], [3000, 5999], [6000, 8999]]);
    }

    #[test]
    fn a_larger_change_moves_only_the_boundaries_the_quotas_force() {
        // Quotas 3000.9, 2999.1, 3000: the old layout is within one bucket of each.
        let p = policy(&[[0, 2999], [3000, 5999], [6000, 8999]], None);
        let w = [3000.9 / 9000.0, 2999.1 / 9000.0, 3000.0 / 9000.0];
        assert_eq!(
            layout_ranges(&p, &w).unwrap(),
            vec![[0, 2999], [3000, 5999], [6000, 8999]]
        );
        // Quotas 3500, 2500, 3000: 500 buckets of the second allocation change hands.
        let w = [3500.0 / 9000.0, 2500.0 / 9000.0, 3000.0 / 9000.0];
        let r = layout_ranges(&p, &w).unwrap();
        assert_eq!(r, vec![[0, 3499], [3500, 5999], [6000, 8999]]);
        let old: Vec<_> = p.allocations.iter().map(|a| Some(a.bucket_range)).collect();
        assert_eq!(buckets_moved(&old, &r), 500);
    }

    #[test]
    fn bucket_order_is_kept_even_when_it_differs_from_list_order() {
        let p = policy(&[[50, 99], [0, 49]], None);
        let r = layout_ranges(&p, &[0.7, 0.3]).unwrap();
        assert_eq!(r, vec![[30, 99], [0, 29]]);
    }

    #[test]
    fn the_eligible_span_and_holdouts_keep_their_buckets() {
        // Allocations reach 9999 but the policy is eligible on 0..=8999 only.
        let p = policy(&[[0, 4999], [5000, 9999]], Some([0, 8999]));
        let r = layout_ranges(&p, &[0.25, 0.75]).unwrap();
        assert_eq!(r, vec![[0, 2249], [2250, 8999]]);
    }

    #[test]
    fn with_gaps_each_segment_is_shared_among_its_own_allocations() {
        // Buckets 1000..=1999 are a holdout between the two segments.
        let p = policy(&[[0, 999], [2000, 2999], [3000, 3999]], None);
        let r = layout_ranges(&p, &[0.2, 0.6, 0.2]).unwrap();
        assert_eq!(r, vec![[0, 999], [2000, 3499], [3500, 3999]]);
        let mut q = p.clone();
        for (a, r) in q.allocations.iter_mut().zip(&r) {
            a.bucket_range = *r;
        }
        assert_eq!(q.covered_segments(), p.covered_segments());
    }

    #[test]
    fn without_a_current_layout_counts_are_largest_remainder() {
        // Quotas 3.33.., 3.33.., 3.33..: the first by index gets the spare bucket.
        let r = least_movement_ranges([0, 9], &[1.0, 1.0, 1.0], &[None, None, None]).unwrap();
        assert_eq!(r, vec![[0, 3], [4, 6], [7, 9]]);
        // Quotas 1.5, 4.5, 4.0 → the tie in remainders goes to the lower index.
        let r = least_movement_ranges([0, 9], &[0.15, 0.45, 0.4], &[None, None, None]).unwrap();
        assert_eq!(r, vec![[0, 1], [2, 5], [6, 9]]);
    }

    #[test]
    fn the_one_bucket_minimum_falls_back_to_largest_remainder() {
        let r = least_movement_ranges([0, 99], &[1.0, 0.0, 0.0], &[None, None, None]).unwrap();
        assert_eq!(r, vec![[0, 97], [98, 98], [99, 99]]);
        assert_eq!(
            least_movement_ranges([0, 1], &[0.2, 0.3, 0.5], &[None; 3]),
            Err(AllocateError::TooFewBuckets {
                buckets: 2,
                allocations: 3
            })
        );
    }

    fn layout_strategy() -> impl Strategy<Value = (u32, Vec<u32>, Vec<f64>)> {
        (1usize..7).prop_flat_map(|k| {
            (
                0u32..1000,
                prop::collection::vec(1u32..400, k),
                prop::collection::vec(0.0f64..1.0, k),
            )
        })
    }

    /// Ranges of the given sizes laid back to back from `start`, and the bucket after
    /// the last.
    fn back_to_back(start: u32, sizes: &[u32]) -> (Vec<Option<[u32; 2]>>, u32) {
        let mut next = start;
        let ranges = sizes
            .iter()
            .map(|s| {
                let r = [next, next + s - 1];
                next += s;
                Some(r)
            })
            .collect();
        (ranges, next)
    }

    proptest! {
        #[test]
        fn ranges_partition_the_segment_within_a_bucket_of_each_quota(
            (start, old_sizes, weights) in layout_strategy(),
        ) {
            prop_assume!(weights.iter().sum::<f64>() > 0.0);
            let (old, next) = back_to_back(start, &old_sizes);
            let seg = [start, next - 1];
            let n = f64::from(next - start);
            let r = least_movement_ranges(seg, &weights, &old).unwrap();
            prop_assert_eq!(r[0][0], start);
            prop_assert_eq!(r[r.len() - 1][1], seg[1]);
            for w in r.windows(2) {
                prop_assert_eq!(w[0][1] + 1, w[1][0]);
            }
            let total: f64 = weights.iter().sum();
            let feasible = weights.iter().map(|w| (w / total * n).floor().max(1.0)).sum::<f64>() <= n;
            for (range, w) in r.iter().zip(&weights) {
                let got = f64::from(range[1] - range[0] + 1);
                prop_assert!(got >= 1.0);
                if feasible {
                    prop_assert!((got - (w / total * n)).abs() < 1.0 || got == 1.0,
                        "count {} for quota {}", got, w / total * n);
                }
            }
        }

        #[test]
        fn no_quota_respecting_layout_moves_fewer_buckets(
            (start, old_sizes, weights) in layout_strategy(),
        ) {
            prop_assume!(weights.iter().sum::<f64>() > 0.0);
            let (old, next) = back_to_back(start, &old_sizes);
            let n = u64::from(next - start);
            let r = least_movement_ranges([start, next - 1], &weights, &old).unwrap();
            let moved = buckets_moved(&old, &r);
            // Brute force over every choice of rounding down or up.
            let total: f64 = weights.iter().sum();
            let q: Vec<f64> = weights.iter().map(|w| w / total * n as f64).collect();
            let lo: Vec<u64> = q.iter().map(|x| (x.floor() as u64).max(1)).collect();
            let hi: Vec<u64> = q.iter().map(|x| (x.ceil() as u64).max(1)).collect();
            prop_assume!(lo.iter().sum::<u64>() <= n);
            let k = weights.len();
            let mut best = u64::MAX;
            for mask in 0u32..(1 << k) {
                let c: Vec<u64> = (0..k).map(|i| if mask >> i & 1 == 1 { hi[i] } else { lo[i] }).collect();
                if c.iter().sum::<u64>() != n { continue; }
                let mut at = u64::from(start);
                let cand: Vec<[u32; 2]> = c.iter().map(|&c| { let x = [at as u32, (at + c - 1) as u32]; at += c; x }).collect();
                best = best.min(buckets_moved(&old, &cand));
            }
            prop_assert_eq!(moved, best);
            // A layout already within a bucket of every quota is kept as it is.
            let keep: Vec<f64> = old_sizes.iter().map(|&s| f64::from(s)).collect();
            let same = least_movement_ranges([start, next - 1], &keep, &old).unwrap();
            prop_assert_eq!(buckets_moved(&old, &same), 0);
        }
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
