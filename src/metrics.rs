//! Per-allocation metrics of a reward table: the numbers dashboards and people read.
//!
//! For each allocation of a policy: exposed units (the reward table's rows: exposed
//! units in cumulative mode, decisions in decision mode), converted units (rows with
//! at least one credited goal event), the sum of credited goal values (before any
//! cap), the mean reward per exposed unit with its variance and a 95% normal
//! interval, and the difference ("lift") against the control (the allocation named by
//! `control:` in the config, else the policy's first) with a 95% interval and a
//! two-sided Welch z-test p-value. Rewards are in the goal's own units: a
//! `desiredDirection: decrease` goal is not negated here. For `mean` goals, the mean,
//! variance and interval are over the reward units that have a reward (at least one
//! valued goal event); `exposures` still counts every exposed unit. Per policy, the
//! sample-ratio-mismatch check: a chi-square test of the exposures against the shares
//! of buckets in force.
//!
//! **Breakdowns** by an event dimension (a `dimension: true` property of the goal
//! event) split the *numerator only*: the row for `payment_method = paypal` is the
//! metric computed as if only goal events with that value were goal events, over
//! the same exposed units. Event properties happen after the exposure, so
//! restricting the denominator to units with a paypal purchase would condition on an
//! outcome of the treatment and break the randomisation; splitting the numerator
//! keeps every row a fair comparison ("paypal revenue per exposed unit"). Value sums
//! of the rows of one dimension add up to the total; converted units need not
//! (a unit with purchases of two kinds counts in both rows).
use polars::prelude::*;
use serde::Serialize;

use crate::bundle::Policy;
use crate::error::Result;
use crate::stats::{chi_square_sf, two_sided_p};

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Metrics of one allocation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationMetrics {
    /// Policy id.
    pub policy_id: String,
    /// Allocation name.
    pub allocation_name: String,
    /// Exposed units (reward rows).
    pub exposures: u64,
    /// Units with at least one credited goal event.
    pub conversions: u64,
    /// Sum of credited goal `value`s.
    pub value_sum: f64,
    /// Mean reward per exposed unit.
    pub mean: Option<f64>,
    /// Sample variance of the reward.
    pub variance: Option<f64>,
    /// Lower end of the 95% interval of the mean.
    pub ci_low: Option<f64>,
    /// Upper end of the 95% interval of the mean.
    pub ci_high: Option<f64>,
    /// Mean minus the control's mean (absent for the control itself).
    pub lift: Option<f64>,
    /// Lower end of the lift's 95% interval.
    pub lift_ci_low: Option<f64>,
    /// Upper end of the lift's 95% interval.
    pub lift_ci_high: Option<f64>,
    /// Two-sided p-value of the lift (Welch z-test).
    pub p_value: Option<f64>,
    /// For breakdown rows: the dimension and its value.
    #[serde(flatten)]
    pub breakdown: Option<Breakdown>,
}

/// Which slice of the goal events a breakdown row measures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    /// The dimension: the goal event's property name.
    pub dimension: String,
    /// Its value (JSON text for non-strings); `null` for goal events without it.
    pub dimension_value: Option<String>,
}

/// Sample-ratio mismatch of one policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleRatio {
    /// Policy id.
    pub policy_id: String,
    /// Expected share per allocation (the bundle's buckets in force).
    pub expected_shares: Vec<f64>,
    /// Observed exposures per allocation.
    pub observed: Vec<u64>,
    /// Chi-square statistic.
    pub chi_square: f64,
    /// Its p-value with K − 1 degrees of freedom.
    pub p_value: f64,
    /// `p_value < 0.001`, the usual alarm threshold for SRM.
    pub mismatch: bool,
}

/// Metrics of a policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMetrics {
    /// Per allocation, in bundle order; the first is the control.
    pub allocations: Vec<AllocationMetrics>,
    /// The SRM check, when there are exposures.
    pub sample_ratio: Option<SampleRatio>,
    /// Breakdown rows by event dimension: per dimension, per value, per allocation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breakdowns: Vec<AllocationMetrics>,
}

#[derive(Default, Clone, Copy)]
struct Sums {
    n: u64,
    /// Rows with a reward (all but `mean`-goal rows without a goal event).
    rewarded: u64,
    conversions: u64,
    value: f64,
    sum: f64,
    sum_sq: f64,
}

impl Sums {
    fn mean(&self) -> Option<f64> {
        (self.rewarded > 0).then(|| self.sum / self.rewarded as f64)
    }
    fn variance(&self) -> Option<f64> {
        (self.rewarded > 1).then(|| {
            let n = self.rewarded as f64;
            ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
        })
    }
}

/// The reward rows of `policy_id` with `dimension_value`: the value of `key` in the
/// context of the exposure that opened each row (the unit's first exposure to the
/// allocation, or the decision's), as text (JSON text for non-strings), null when
/// absent. Exposure context is set before the treatment, so a breakdown by it splits
/// the denominator too: a fair comparison within each slice.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a table lacks the reward-table or exposure columns.
pub fn with_context_dimension(
    rewards: LazyFrame,
    exposures: LazyFrame,
    policy_id: &str,
    key: &str,
) -> Result<DataFrame> {
    let contexts = crate::reward::exposure_contexts(exposures, policy_id, "__context");
    let mut df = rewards
        .filter(col("policy_id").eq(lit(policy_id)))
        .join(
            contexts,
            [col("unit_key"), col("exposed_at")],
            [col("unit_key"), col("ts")],
            JoinArgs::new(JoinType::Left),
        )
        .collect()?;
    let contexts = df.column("__context")?.str()?;
    let values: Vec<Option<String>> = (0..contexts.len())
        .map(|i| {
            let v: serde_json::Value = serde_json::from_str(contexts.get(i)?).ok()?;
            match v.get(key)? {
                serde_json::Value::Null => None,
                serde_json::Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            }
        })
        .collect();
    df.with_column(Column::new("dimension_value".into(), values))?;
    Ok(df.drop("__context")?)
}

/// Computes a policy's metrics from a reward table (any attribution mode), with the
/// first allocation as the control.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks the reward-table columns.
pub fn policy_metrics(rewards: LazyFrame, policy: &Policy) -> Result<PolicyMetrics> {
    policy_metrics_against(rewards, policy, None)
}

/// [`policy_metrics`] with lifts against the allocation named `control` (the first
/// when `None` or not an allocation of the policy).
///
/// # Errors
///
/// As [`policy_metrics`].
pub fn policy_metrics_against(
    rewards: LazyFrame,
    policy: &Policy,
    control: Option<&str>,
) -> Result<PolicyMetrics> {
    let df = rewards
        .filter(col("policy_id").eq(lit(policy.id.as_str())))
        .group_by([col("allocation_name")])
        .agg([
            len().cast(DataType::UInt64).alias("n"),
            col("reward")
                .is_not_null()
                .cast(DataType::UInt64)
                .sum()
                .alias("rewarded"),
            col("goal_events")
                .gt(lit(0.0))
                .cast(DataType::UInt64)
                .sum()
                .alias("conversions"),
            col("goal_value").sum().alias("value"),
            col("reward").sum().alias("sum"),
            (col("reward") * col("reward")).sum().alias("sum_sq"),
        ])
        .collect()?;
    let names = df.column("allocation_name")?.str()?;
    let n = df.column("n")?.u64()?;
    let rewarded = df.column("rewarded")?.u64()?;
    let conv = df.column("conversions")?.u64()?;
    let value = df.column("value")?.f64()?;
    let sum = df.column("sum")?.f64()?;
    let sum_sq = df.column("sum_sq")?.f64()?;
    let sums: Vec<Sums> = policy
        .allocations
        .iter()
        .map(|a| {
            (0..df.height())
                .find(|&i| names.get(i) == Some(a.name.as_str()))
                .map(|i| Sums {
                    n: n.get(i).unwrap_or(0),
                    rewarded: rewarded.get(i).unwrap_or(0),
                    conversions: conv.get(i).unwrap_or(0),
                    value: value.get(i).unwrap_or(0.0),
                    sum: sum.get(i).unwrap_or(0.0),
                    sum_sq: sum_sq.get(i).unwrap_or(0.0),
                })
                .unwrap_or_default()
        })
        .collect();
    let control_index = control
        .and_then(|c| policy.allocations.iter().position(|a| a.name == c))
        .unwrap_or(0);
    let control = sums.get(control_index).copied().unwrap_or_default();
    let allocations = policy
        .allocations
        .iter()
        .zip(&sums)
        .enumerate()
        .map(|(i, (a, s))| {
            let mean = s.mean();
            let half = match (mean, s.variance()) {
                (Some(_), Some(v)) => Some(Z95 * (v / s.rewarded as f64).sqrt()),
                _ => None,
            };
            let (lift, lift_ci_low, lift_ci_high, p_value) = match (
                i != control_index,
                mean,
                control.mean(),
                s.variance(),
                control.variance(),
            ) {
                (true, Some(m), Some(mc), Some(v), Some(vc)) => {
                    let diff = m - mc;
                    let se = (v / s.rewarded as f64 + vc / control.rewarded as f64).sqrt();
                    let p = if se > 0.0 {
                        two_sided_p(diff / se)
                    } else if diff == 0.0 {
                        1.0
                    } else {
                        0.0
                    };
                    (
                        Some(diff),
                        Some(diff - Z95 * se),
                        Some(diff + Z95 * se),
                        Some(p),
                    )
                }
                (true, Some(m), Some(mc), _, _) => (Some(m - mc), None, None, None),
                _ => (None, None, None, None),
            };
            AllocationMetrics {
                policy_id: policy.id.clone(),
                allocation_name: a.name.clone(),
                exposures: s.n,
                conversions: s.conversions,
                value_sum: s.value,
                mean,
                variance: s.variance(),
                ci_low: mean.zip(half).map(|(m, h)| m - h),
                ci_high: mean.zip(half).map(|(m, h)| m + h),
                lift,
                lift_ci_low,
                lift_ci_high,
                p_value,
                breakdown: None,
            }
        })
        .collect();
    let total: u64 = sums.iter().map(|s| s.n).sum();
    let counts = policy.effective_counts();
    let covered: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let sample_ratio = (total > 0 && covered > 0 && counts.len() > 1).then(|| {
        let expected_shares: Vec<f64> = counts
            .iter()
            .map(|&c| f64::from(c) / covered as f64)
            .collect();
        let chi_square: f64 = sums
            .iter()
            .zip(&expected_shares)
            .filter(|(_, e)| **e > 0.0)
            .map(|(s, e)| {
                let exp = e * total as f64;
                (s.n as f64 - exp).powi(2) / exp
            })
            .sum();
        let p_value = chi_square_sf(chi_square, (counts.len() - 1) as f64);
        SampleRatio {
            policy_id: policy.id.clone(),
            expected_shares,
            observed: sums.iter().map(|s| s.n).collect(),
            chi_square,
            p_value,
            mismatch: p_value < 0.001,
        }
    });
    Ok(PolicyMetrics {
        allocations,
        sample_ratio,
        breakdowns: Vec::new(),
    })
}
