//! The analysis unit: reward-table rows gathered into one observation per unit (the
//! platform's denominator), or kept one per decision with an interval that accounts
//! for a unit's repeated decisions.
//!
//! The platform divides every aggregation by the unique entities exposed
//! (`traffical-docs/concepts/warehouse-native.mdx`, "Available aggregations":
//! `conversion_rate` = "Unique entities with at least one fact event" over "Unique
//! entities exposed", `sum` and `count` per entity), and its events page calls
//! exposures "the denominator in conversion-rate metrics: how many users were exposed
//! to each variant". A decision-mode reward table has one row per decision, so a unit
//! with three sessions is three rows: [`AnalysisUnit::Unit`] folds them into one.

use std::collections::HashMap;

use foldhash::fast::FixedState;
use polars::prelude::*;
use serde::Serialize;

use super::Sums;
use crate::config::GoalType;
use crate::error::Result;
use crate::sdk::model::Policy;
use crate::timing::timed;

/// What one observation of the metrics is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisUnit {
    /// The randomisation unit (unit key): exposures are unique units, conversions
    /// units with a credited goal event, sums per unit (the default, in both modes).
    #[default]
    Unit,
    /// The decision (decision mode's reward row), with a cluster-robust interval by
    /// unit: a unit's decisions are not independent draws.
    Decision,
}

/// One policy's reward rows as columns: allocation (index into the policy's), unit
/// key as its rank among the table's keys ([`unit_ranks`]), credited goal events and
/// value, reward (null: none, `mean` goals).
struct Rows {
    alloc: Vec<Option<usize>>,
    unit: Vec<u32>,
    events: Vec<f64>,
    value: Vec<f64>,
    reward: Vec<Option<f64>>,
}

impl Rows {
    fn of(rewards: LazyFrame, policy: &Policy) -> Result<Self> {
        let df = rewards
            .filter(col("policy_id").eq(lit(policy.id.as_str())))
            .select([
                col("allocation_name"),
                col("unit_key"),
                col("goal_events").cast(DataType::Float64),
                col("goal_value").cast(DataType::Float64),
                col("reward").cast(DataType::Float64),
            ])
            .collect()?;
        let names = df.column("allocation_name")?.str()?;
        let alloc = names
            .iter()
            .map(|n| n.and_then(|n| policy.allocations.iter().position(|a| a.name == n)))
            .collect();
        let unit = unit_ranks(df.column("unit_key")?.str()?);
        let floats =
            |c: &str| -> Result<Vec<Option<f64>>> { Ok(df.column(c)?.f64()?.iter().collect()) };
        let zero = |v: Vec<Option<f64>>| v.into_iter().map(|x| x.unwrap_or(0.0)).collect();
        Ok(Self {
            alloc,
            unit,
            events: zero(floats("goal_events")?),
            value: zero(floats("goal_value")?),
            reward: floats("reward")?,
        })
    }

    /// Row indices of allocations of the policy, by (allocation, unit key, row).
    fn by_unit(&self) -> Vec<usize> {
        // One integer key per row, sorted with its row number: sorting the row numbers
        // by a key looked up per comparison was a quarter of a policy's sums.
        let mut keyed: Vec<(u64, u32)> = (0..self.alloc.len())
            .filter_map(|i| {
                let a = u64::try_from(self.alloc[i]?).expect("allocation indices fit in u64");
                let row = u32::try_from(i).expect("fewer than 2^32 reward rows");
                Some((a << 32 | u64::from(self.unit[i]), row))
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, i)| i as usize).collect()
    }
}

/// Each row's unit key as its rank in the order of the keys (0 for a null key, which
/// sorts first, as `None` does; equal keys, equal ranks). Rows are then ordered and
/// grouped by an integer: sorting a million rows by their key strings took most of
/// `metrics`' time, and the rows must still come in key order, since the sums are
/// added in that order.
fn unit_ranks(keys: &StringChunked) -> Vec<u32> {
    let mut codes: HashMap<&str, u32, FixedState> =
        HashMap::with_hasher(FixedState::with_seed(0x0b5e_12a7_0f0a));
    let mut distinct: Vec<&str> = Vec::new();
    let mut row_codes = Vec::with_capacity(keys.len());
    for key in keys.iter() {
        let code = key.map_or(0, |k| {
            *codes.entry(k).or_insert_with(|| {
                distinct.push(k);
                u32::try_from(distinct.len()).expect("fewer than 2^32 units")
            })
        });
        row_codes.push(code);
    }
    // Sorted by the keys' first 16 bytes as one integer, the whole keys compared only
    // when those tie: the comparisons of a string sort chased a pointer each.
    let mut by_key: Vec<(u128, u32)> = (1u32..)
        .zip(&distinct)
        .map(|(c, k)| (prefix(k), c))
        .collect();
    by_key.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| distinct[a.1 as usize - 1].cmp(distinct[b.1 as usize - 1]))
    });
    let mut rank = vec![0u32; distinct.len() + 1];
    for (r, &(_, c)) in (1u32..).zip(&by_key) {
        rank[c as usize] = r;
    }
    row_codes.into_iter().map(|c| rank[c as usize]).collect()
}

/// The first 16 bytes of `key` as a big-endian integer, zero-padded: if the prefixes
/// of two keys differ, they order as the keys do (a key that ends first pads with 0,
/// which is at most the other's byte there; a tie on the padding is decided by the
/// whole keys).
fn prefix(key: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = key.len().min(16);
    b[..n].copy_from_slice(&key.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

/// Per allocation of `policy` (in its order), the sums of the rows of `rewards`
/// under `per`, and the number of units with rows in two or more allocations.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks a reward-table column (`unit_key`
/// included).
pub(super) fn sums_by(
    rewards: LazyFrame,
    policy: &Policy,
    goal_type: GoalType,
    per: AnalysisUnit,
) -> Result<(Vec<Sums>, u64)> {
    let rows = timed("  rows of", || Rows::of(rewards, policy))?;
    let order = timed("  by unit", || rows.by_unit());
    let mut sums = vec![Sums::default(); policy.allocations.len()];
    let mut units_of: Vec<(u32, usize)> = Vec::new();
    for run in
        order.chunk_by(|&a, &b| rows.alloc[a] == rows.alloc[b] && rows.unit[a] == rows.unit[b])
    {
        let k = rows.alloc[run[0]].expect("rows of the policy's allocations");
        let s = &mut sums[k];
        s.units += 1;
        if rows.unit[run[0]] != 0 {
            units_of.push((rows.unit[run[0]], k));
        }
        match per {
            AnalysisUnit::Unit => s.add(unit_observation(&rows, run, goal_type)),
            AnalysisUnit::Decision => {
                for &i in run {
                    s.add((rows.events[i], rows.value[i], rows.reward[i]));
                }
            }
        }
    }
    if per == AnalysisUnit::Decision {
        let vars: Vec<Option<f64>> = sums
            .iter()
            .enumerate()
            .map(|(k, s)| cluster_robust_var(&rows, &order, k, s))
            .collect();
        for (s, v) in sums.iter_mut().zip(vars) {
            s.robust = true;
            s.robust_var = v;
        }
    }
    Ok((sums, multi_allocation_units(units_of)))
}

/// One unit's rows of one allocation folded into one observation: goal events and
/// value summed; the reward as the goal type defines it per unit (converted if any
/// row converted; counts and sums added; for `mean`, the mean value over the unit's
/// goal events, each row's mean weighted by its events). A single row is kept as is.
fn unit_observation(rows: &Rows, run: &[usize], goal_type: GoalType) -> (f64, f64, Option<f64>) {
    if let [i] = run {
        return (rows.events[*i], rows.value[*i], rows.reward[*i]);
    }
    let events: f64 = run.iter().map(|&i| rows.events[i]).sum();
    let value: f64 = run.iter().map(|&i| rows.value[i]).sum();
    let rewarded = run
        .iter()
        .filter_map(|&i| rows.reward[i].map(|r| (r, rows.events[i])));
    let reward = match goal_type {
        GoalType::ConversionRate => Some(if events > 0.0 { 1.0 } else { 0.0 }),
        GoalType::Count | GoalType::Sum => {
            let mut any = false;
            let total = rewarded.fold(0.0, |acc, (r, _)| {
                any = true;
                acc + r
            });
            any.then_some(total)
        }
        GoalType::Mean => {
            let (num, den) = rewarded.fold((0.0, 0.0), |(n, d), (r, e)| (n + r * e, d + e));
            (den > 0.0).then(|| num / den)
        }
    };
    (events, value, reward)
}

/// The variance of allocation `k`'s per-decision mean `m = ΣY_u / ΣN_u`, decisions
/// clustered by unit (`Y_u`, `N_u`: the unit's summed reward and number of rewarded
/// decisions), by the delta method for a ratio of means (Deng, Knoblich & Lu,
/// "Applying the Delta Method in Metric Analytics: A Practical Guide with Novel
/// Ideas", KDD 2018, §3 and eq. 4, the case where the analysis unit, here the
/// decision, is finer than the randomisation unit):
///
/// `Var(m) ≈ G/(G−1) · Σ_u (Y_u − m N_u)² / (Σ_u N_u)²`, G clusters,
///
/// which is also the cluster-robust (sandwich) variance of a mean with the usual
/// small-sample factor G/(G−1) (Cameron & Miller, "A Practitioner's Guide to
/// Cluster-Robust Inference", J. Human Resources 50(2), 2015, eq. 11). Decisions
/// treated as independent would give `s²/n`, too small when a unit's decisions
/// agree. `None` with fewer than 2 clusters.
fn cluster_robust_var(rows: &Rows, order: &[usize], k: usize, s: &Sums) -> Option<f64> {
    let mean = s.mean()?;
    let (mut g, mut ss) = (0u64, 0.0);
    let of_k = order
        .iter()
        .copied()
        .filter(|&i| rows.alloc[i] == Some(k))
        .collect::<Vec<_>>();
    for run in of_k.chunk_by(|&a, &b| rows.unit[a] == rows.unit[b]) {
        let (mut y, mut n) = (0.0, 0.0);
        for r in run.iter().filter_map(|&i| rows.reward[i]) {
            y += r;
            n += 1.0;
        }
        if n > 0.0 {
            g += 1;
            ss += (y - mean * n).powi(2);
        }
    }
    let total = s.rewarded as f64;
    (g >= 2).then(|| g as f64 / (g - 1) as f64 * ss / (total * total))
}

/// Units with rows in two or more allocations, from `(unit rank, allocation)` pairs,
/// one per unit and allocation.
fn multi_allocation_units(mut pairs: Vec<(u32, usize)>) -> u64 {
    pairs.sort_unstable();
    pairs
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|run| run.len() > 1)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_ranks_follow_the_order_of_the_keys_with_null_first() {
        let keys = StringChunked::from_iter_options(
            "unit_key".into(),
            [Some("b"), None, Some("a"), Some("b"), Some("ab"), None].into_iter(),
        );
        assert_eq!(unit_ranks(&keys), vec![3, 0, 1, 3, 2, 0]);
    }

    #[test]
    fn unit_ranks_order_long_keys_and_keys_sharing_sixteen_bytes_as_strings_do() {
        let raw = [
            "user_000000000012",
            "user_000000000012b",
            "user_000000000012a",
            "user_000000000012\0",
            "user_00000000001",
            "user_000000000012",
            "é",
            "e\u{301}",
            "",
            "user_0000000000119",
            "a\0",
            "a",
        ];
        let keys =
            StringChunked::from_iter_options("unit_key".into(), raw.iter().map(|k| Some(*k)));
        let mut sorted: Vec<&str> = raw.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let expected: Vec<u32> = raw
            .iter()
            .map(|k| 1 + sorted.iter().position(|s| s == k).unwrap() as u32)
            .collect();
        assert_eq!(unit_ranks(&keys), expected);
    }

    #[test]
    fn a_unit_in_two_allocations_is_counted_once() {
        let pairs = vec![(2, 0), (1, 0), (2, 1), (3, 1), (2, 2)];
        assert_eq!(multi_allocation_units(pairs), 1);
    }
}
