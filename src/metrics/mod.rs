//! Per-allocation metrics of a reward table: the numbers dashboards and people read.
//!
//! For each allocation of a policy: exposed units, converted units (with at least
//! one credited goal event), the sum of credited goal values (before any cap), the
//! mean reward per exposed unit with its variance and a 95% normal interval, and the
//! difference ("lift") against the control (the allocation named by `control:` in
//! the config, else the policy's first) with a 95% interval and a two-sided Welch
//! z-test p-value, and the relative lift `(mean − mean_c) / mean_c` with its 95%
//! interval (see [`AllocationMetrics::relative_lift`] for the interval and when it
//! is null). [`policy_metrics_by`] counts the unit (unit key) as the analysis unit
//! in both attribution modes, as the platform does ([`AnalysisUnit`]); the mode
//! changes only which goal events count. [`policy_metrics`] takes a table's rows as
//! they are (one per unit in cumulative mode). Rewards are in the goal's own units: a
//! `desiredDirection: decrease` goal is not negated here, so a treatment that lowers
//! the metric has a negative lift and a negative relative lift, which for such a goal
//! is the good direction. For `mean` goals, the mean,
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

use crate::config::GoalType;
use crate::error::Result;
use crate::sdk::model::Policy;

mod units;

use crate::stats::{chi_square_sf, two_sided_p};
pub use units::AnalysisUnit;

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
    /// Observations: unique units exposed to the allocation (decisions in the
    /// `--per decision` view).
    pub exposures: u64,
    /// Observations with at least one credited goal event.
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
    /// Relative lift `(mean − mean_c) / mean_c`, the plain ratio of means minus one
    /// (`0.042` reads "+4.2 %"); in the goal's direction of measurement, so negative
    /// when the allocation lowers the metric, whatever the goal's
    /// `desiredDirection`. With a negative control mean its sign is the opposite of
    /// the lift's: read the direction from [`Self::lift`].
    ///
    /// Null for the control itself, and when it is undefined: the control mean is 0
    /// or missing, the control has fewer than 2 units with a reward (no variance to
    /// speak of), or this allocation has no mean.
    pub relative_lift: Option<f64>,
    /// Lower end of the relative lift's 95% interval: Fieller's interval for the
    /// ratio of the two independent means, minus one.
    ///
    /// With `r̂ = (m − m_c) / m_c`, `v = s²/n` and `v_c = s_c²/n_c` the variances of
    /// the two means, and `z = 1.96`, the delta method gives the variance of the
    /// ratio, `Var(r̂) ≈ v / m_c² + m² v_c / m_c⁴` (Kohavi, Tang & Xu, *Trustworthy
    /// Online Controlled Experiments*, 2020, ch. 18; Deng, Knoblich & Lu, "Applying
    /// the Delta Method in Metric Analytics", KDD 2018). Fieller's interval (E. C.
    /// Fieller, "Some problems in interval estimation", JRSS B 16(2), 1954) is the
    /// set of ratios `ρ` with `(m − ρ m_c)² ≤ z² (v + ρ² v_c)`; with
    /// `g = z² v_c / m_c²` its ends are
    /// `(r̂ + g ± z √((v (1 − g) + (m/m_c)² v_c) / m_c²)) / (1 − g)`, which
    /// is the delta-method interval `r̂ ± z √Var(r̂)` as `g → 0` (large samples, or a
    /// control mean far from 0).
    ///
    /// Why Fieller rather than the plain delta-method interval: when the control mean
    /// is small against its noise (rare conversions, few units) the ratio is skewed
    /// and the symmetric delta interval undercovers (88 % instead of 95 % for 1 %
    /// against 1.5 % conversion with 300 units each, by simulation), while Fieller's
    /// widens upwards and keeps its level (96 % there when bounded), or says that it
    /// is unbounded. It also agrees with the row's Welch test: when bounded, it
    /// excludes 0 exactly when the lift's interval excludes 0.
    ///
    /// When the control mean is not distinguishable from 0 (`g ≥ 1`, i.e.
    /// `|m_c| ≤ 1.96 · se(m_c)`) the set of compatible ratios is unbounded and both
    /// ends are null; so are they when this allocation has fewer than 2 units with a
    /// reward.
    pub relative_lift_ci_low: Option<f64>,
    /// Upper end of the relative lift's 95% interval (see
    /// [`Self::relative_lift_ci_low`]).
    pub relative_lift_ci_high: Option<f64>,
    /// For breakdown rows: the dimension and its value.
    #[serde(flatten)]
    pub breakdown: Option<Breakdown>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
    /// Observed units per allocation (in both views).
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
    /// Units with reward rows in two or more allocations (a re-split moved their
    /// bucket, or one unit key is shared): each such unit counts once in every
    /// allocation it was exposed to, as the platform counts exposed users per
    /// variant, and in the sample-ratio check alike. Flagged, not removed.
    #[serde(skip_serializing_if = "is_zero")]
    pub multi_allocation_units: u64,
    /// Breakdown rows by event dimension: per dimension, per value, per allocation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breakdowns: Vec<AllocationMetrics>,
}

/// One allocation's sums over its observations (units, or decisions).
#[derive(Default, Clone, Copy)]
pub(crate) struct Sums {
    /// Observations.
    n: u64,
    /// Distinct units among them (the sample-ratio check counts these).
    units: u64,
    /// Observations with a reward (all but `mean`-goal ones without a goal event).
    rewarded: u64,
    conversions: u64,
    value: f64,
    sum: f64,
    sum_sq: f64,
    /// Whether observations are clustered (decisions of one unit): the variance of
    /// the mean is then `robust_var`, not `s²/n`.
    robust: bool,
    robust_var: Option<f64>,
}

impl Sums {
    fn mean(&self) -> Option<f64> {
        (self.rewarded > 0).then(|| self.sum / self.rewarded as f64)
    }
    /// `None` also when the sums overflowed (a value too large to square): NaN would
    /// turn into a variance of 0 and a p-value of 0 below.
    fn variance(&self) -> Option<f64> {
        let n = self.rewarded as f64;
        let v = (self.sum_sq - self.sum * self.sum / n) / (n - 1.0);
        (self.rewarded > 1 && v.is_finite() && self.sum_sq.is_finite()).then(|| v.max(0.0))
    }
    /// The variance of the mean: `s²/n` for independent observations, else the
    /// cluster-robust one (`units.rs`).
    fn var_of_mean(&self) -> Option<f64> {
        if self.robust {
            self.robust_var
        } else {
            self.variance().map(|v| v / self.rewarded as f64)
        }
    }
    /// Adds one observation: `(goal events, goal value, reward)`.
    fn add(&mut self, (events, value, reward): (f64, f64, Option<f64>)) {
        self.n += 1;
        self.conversions += u64::from(events > 0.0);
        self.value += value;
        if let Some(r) = reward {
            self.rewarded += 1;
            self.sum += r;
            self.sum_sq += r * r;
        }
    }
}

/// The relative lift of a mean `m` against a control mean `mc`, the variances of the
/// two means being `var` and `var_c` (`s²/n`): `(estimate, Some((low, high)))` with
/// Fieller's 95% interval (formula and choice in the docs of
/// [`AllocationMetrics::relative_lift_ci_low`]), or no interval when it is unbounded
/// (`g ≥ 1`) or a variance is missing. `None` when the ratio is undefined (`mc` is 0)
/// or not a finite number; JSON never sees NaN or infinity.
fn relative_lift(
    m: f64,
    mc: f64,
    var: Option<f64>,
    var_c: Option<f64>,
) -> Option<(f64, Option<(f64, f64)>)> {
    if mc == 0.0 {
        return None;
    }
    let estimate = (m - mc) / mc;
    if !estimate.is_finite() {
        return None;
    }
    let interval = var.zip(var_c).and_then(|(v, vc)| {
        let mc2 = mc * mc;
        let g = Z95 * Z95 * vc / mc2;
        // Also false for a NaN `g` (0/0 when `mc²` underflows).
        let bounded = g < 1.0;
        let ratio = m / mc;
        let half = Z95 * ((v * (1.0 - g) + ratio * ratio * vc) / mc2).sqrt();
        let (low, high) = (
            (estimate + g - half) / (1.0 - g),
            (estimate + g + half) / (1.0 - g),
        );
        (bounded && low.is_finite() && high.is_finite()).then_some((low, high))
    });
    Some((estimate, interval))
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
    let sums = allocation_sums(rewards, policy)?;
    Ok(from_sums(policy, &sums, control, 0))
}

/// A policy's metrics from a reward table with `unit_key` (either mode), per
/// analysis unit: [`AnalysisUnit::Unit`] folds each unit's rows of an allocation into
/// one observation (the platform's denominator: unique units exposed; conversions:
/// units with a credited goal event; value summed per unit), and
/// [`AnalysisUnit::Decision`] keeps one observation per row with a cluster-robust
/// interval by unit. The sample-ratio check counts units in both views. Lifts are
/// against the allocation named `control` (the first when `None` or unknown).
///
/// # Errors
///
/// As [`policy_metrics`]; the table needs `unit_key` too.
pub fn policy_metrics_by(
    rewards: LazyFrame,
    policy: &Policy,
    control: Option<&str>,
    goal_type: GoalType,
    per: AnalysisUnit,
) -> Result<PolicyMetrics> {
    let (sums, multi) = units::sums_by(rewards, policy, goal_type, per)?;
    Ok(from_sums(policy, &sums, control, multi))
}

/// The metrics of a policy's allocations from their sums.
fn from_sums(
    policy: &Policy,
    sums: &[Sums],
    control: Option<&str>,
    multi_allocation_units: u64,
) -> PolicyMetrics {
    let control_index = control
        .and_then(|c| policy.allocations.iter().position(|a| a.name == c))
        .unwrap_or(0);
    let control = sums.get(control_index).copied().unwrap_or_default();
    let allocations = policy
        .allocations
        .iter()
        .zip(sums)
        .enumerate()
        .map(|(i, (a, s))| {
            let against = (i != control_index).then_some(&control);
            allocation_metrics(&policy.id, &a.name, s, against)
        })
        .collect();
    PolicyMetrics {
        allocations,
        sample_ratio: sample_ratio(policy, sums),
        multi_allocation_units,
        breakdowns: Vec::new(),
    }
}

/// The sums of each allocation of `policy`, in its order (zeros for an allocation
/// without rows).
fn allocation_sums(rewards: LazyFrame, policy: &Policy) -> Result<Vec<Sums>> {
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
    Ok(policy
        .allocations
        .iter()
        .map(|a| {
            (0..df.height())
                .find(|&i| names.get(i) == Some(a.name.as_str()))
                .map(|i| Sums {
                    n: n.get(i).unwrap_or(0),
                    units: n.get(i).unwrap_or(0),
                    rewarded: rewarded.get(i).unwrap_or(0),
                    conversions: conv.get(i).unwrap_or(0),
                    value: value.get(i).unwrap_or(0.0),
                    sum: sum.get(i).unwrap_or(0.0),
                    sum_sq: sum_sq.get(i).unwrap_or(0.0),
                    ..Sums::default()
                })
                .unwrap_or_default()
        })
        .collect())
}

/// One allocation's metrics; lifts against `control` unless it is the control.
fn allocation_metrics(
    policy_id: &str,
    name: &str,
    s: &Sums,
    control: Option<&Sums>,
) -> AllocationMetrics {
    let mean = s.mean();
    let half = mean.and(s.var_of_mean()).map(|v| Z95 * v.sqrt());
    let (lift, lift_ci_low, lift_ci_high, p_value) =
        control.map_or((None, None, None, None), |c| absolute_lift(s, c));
    let relative = match (control, mean) {
        (Some(c), Some(m)) if c.rewarded >= 2 => c
            .mean()
            .and_then(|mc| relative_lift(m, mc, s.var_of_mean(), c.var_of_mean())),
        _ => None,
    };
    let relative_ci = relative.and_then(|(_, ci)| ci);
    AllocationMetrics {
        policy_id: policy_id.to_owned(),
        allocation_name: name.to_owned(),
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
        relative_lift: relative.map(|(r, _)| r),
        relative_lift_ci_low: relative_ci.map(|(low, _)| low),
        relative_lift_ci_high: relative_ci.map(|(_, high)| high),
        breakdown: None,
    }
}

/// The difference of the means against the control `c`, with its 95% interval and
/// Welch z-test p-value when both variances are known:
/// `(lift, low, high, p)`.
fn absolute_lift(s: &Sums, c: &Sums) -> (Option<f64>, Option<f64>, Option<f64>, Option<f64>) {
    match (s.mean(), c.mean(), s.var_of_mean(), c.var_of_mean()) {
        (Some(m), Some(mc), Some(v), Some(vc)) => {
            let diff = m - mc;
            let se = (v + vc).sqrt();
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
        (Some(m), Some(mc), _, _) => (Some(m - mc), None, None, None),
        _ => (None, None, None, None),
    }
}

/// The sample-ratio-mismatch check: a chi-square test of the exposures against the
/// shares of buckets in force; `None` without exposures or with one allocation.
fn sample_ratio(policy: &Policy, sums: &[Sums]) -> Option<SampleRatio> {
    let total: u64 = sums.iter().map(|s| s.units).sum();
    let counts = policy.effective_counts();
    let covered: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    (total > 0 && covered > 0 && counts.len() > 1).then(|| {
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
                (s.units as f64 - exp).powi(2) / exp
            })
            .sum();
        let p_value = chi_square_sf(chi_square, (counts.len() - 1) as f64);
        SampleRatio {
            policy_id: policy.id.clone(),
            expected_shares,
            observed: sums.iter().map(|s| s.units).collect(),
            chi_square,
            p_value,
            mismatch: p_value < 0.001,
        }
    })
}

#[cfg(test)]
mod tests;
