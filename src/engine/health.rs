//! The policy-health checks a run can compute from its own data, with the platform's
//! thresholds (`traffical-docs/dashboard/policy-health.mdx`):
//!
//! | check | pass | warn | fail |
//! |---|---|---|---|
//! | `exposures_flowing` | an exposure in the 15 min before `asOf` | none in 15 min, some in 24 h | none in 24 h |
//! | `sample_ratio` | p ≥ 0.01 | 0.001 ≤ p < 0.01, or p < 0.001 within 0.1 pp | p < 0.001 and an allocation > 0.1 pp off |
//! | `allocation_floor` | every allocation ≥ `minExposuresBeforeShift` (lifetime) | some below | one at zero while another has reached it |
//! | `data_freshness` | latest event < 30 min before `asOf` | < 24 h | ≥ 24 h |
//! | `optimization_eligible` | `updated`, `no_change` | `insufficient_exposures`, `too_soon` | `errored` |
//!
//! Where the page leaves a gap we chose: `exposures_flowing` between 15 min and 1 h
//! warns (the page passes only "any in the last 15 min"), and `data_freshness`
//! between 6 h and 24 h warns (the page warns below 6 h and fails above 24 h).
//!
//! The sample-ratio test compares the exposures counted in this run (those after the
//! state's watermark, so with `--state` the ones served since the last update)
//! against the shares that were live: the bundle's buckets before this run (the
//! latest allocation history entry). Without a state, a window spanning several
//! rebalances can flag a mismatch that is only the rebalances. It is skipped for
//! `linear_contextual` policies, whose SDK-side scoring has no fixed shares.
//! Guardrails are not computed: the engine has no guardrail metrics.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use super::{PolicyReport, RunStatus};
use crate::config::OptimizationSpec;
use crate::error::Result;
use crate::events::EventTables;
use crate::stats::chi_square_sf;
use crate::time::{format_rfc3339, Millis};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Healthy.
    Pass,
    /// Worth a look.
    Warn,
    /// Broken.
    Fail,
    /// Not computable in this run (the detail says why).
    Skipped,
}

impl HealthStatus {
    /// The report name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skipped => "skipped",
        }
    }
}

/// One health check of a policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `exposures_flowing`, `sample_ratio`, `allocation_floor`, `data_freshness`,
    /// `optimization_eligible`.
    pub check: &'static str,
    /// Outcome.
    pub status: HealthStatus,
    /// The numbers behind it.
    pub detail: String,
}

fn check(check: &'static str, status: HealthStatus, detail: String) -> HealthCheck {
    HealthCheck {
        check,
        status,
        detail,
    }
}

/// The latest exposure time of every policy in the exposure table.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks `policy_id` or `ts`.
pub fn latest_exposures(tables: &EventTables) -> Result<BTreeMap<String, Millis>> {
    let df = tables
        .exposures
        .clone()
        .lazy()
        .group_by([col("policy_id")])
        .agg([col("ts").max().alias("latest")])
        .collect()?;
    let ids = df.column("policy_id")?.str()?;
    let ts = df.column("latest")?.i64()?;
    Ok((0..df.height())
        .filter_map(|i| Some((ids.get(i)?.to_owned(), ts.get(i)?)))
        .collect())
}

/// The run warning for exposure layers whose `bucket` is at or beyond the bundle's
/// `bucketCount`: no unit of this bundle's hashing can have it, so they were logged
/// under another bundle (another bucket count or unit key) or are corrupt. They are
/// still counted by allocation name, as the SDK logged it; the warning makes the
/// mismatch visible instead of silent. `None` when there is none.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks `bucket`.
pub fn out_of_range_buckets(
    tables: &EventTables,
    bucket_count: u32,
) -> Result<Option<(String, u64)>> {
    let buckets = tables.exposures.column("bucket")?.u32()?;
    let n = buckets
        .downcast_iter()
        .flat_map(|a| a.iter())
        .filter(|b| b.is_some_and(|&b| b >= bucket_count))
        .count() as u64;
    Ok((n > 0).then(|| {
        (
            format!("exposure layers with a bucket at or beyond the bundle's bucketCount ({bucket_count}): logged under another bundle's hashing? counted by allocation name"),
            n,
        )
    }))
}

/// The checks of one policy after its fit.
#[must_use]
pub fn policy_checks(
    report: &PolicyReport,
    spec: &OptimizationSpec,
    as_of: Millis,
    latest_exposure: Option<Millis>,
    latest_event: Option<Millis>,
    contextual: bool,
) -> Vec<HealthCheck> {
    use HealthStatus::{Fail, Pass, Skipped, Warn};
    let ago = |t: Millis| format!("{:.1} min before asOf", (as_of - t) as f64 / MINUTE as f64);
    let flowing = match latest_exposure {
        None => check(
            "exposures_flowing",
            Fail,
            "no exposure of this policy in the events".into(),
        ),
        Some(t) => {
            let age = as_of - t;
            let s = if age <= 15 * MINUTE {
                Pass
            } else if age <= 24 * HOUR {
                Warn
            } else {
                Fail
            };
            check(
                "exposures_flowing",
                s,
                format!("latest exposure {} ({})", format_rfc3339(t), ago(t)),
            )
        }
    };
    let freshness = match latest_event {
        None => check("data_freshness", Fail, "no event accepted".into()),
        Some(t) => {
            let age = as_of - t;
            let s = if age < 30 * MINUTE {
                Pass
            } else if age < 24 * HOUR {
                Warn
            } else {
                Fail
            };
            check(
                "data_freshness",
                s,
                format!("latest event {} ({})", format_rfc3339(t), ago(t)),
            )
        }
    };
    let eligible = {
        let s = match report.status {
            RunStatus::Updated | RunStatus::NoChange => Pass,
            RunStatus::InsufficientExposures | RunStatus::TooSoon => Warn,
            RunStatus::Errored => Fail,
        };
        check(
            "optimization_eligible",
            s,
            format!("this run: {}", report.status.as_str()),
        )
    };
    let (srm, floor) = if !report.counted {
        let why = format!(
            "not computed: the policy was not fitted ({})",
            report.status.as_str()
        );
        (
            check("sample_ratio", Skipped, why.clone()),
            check("allocation_floor", Skipped, why),
        )
    } else {
        (
            sample_ratio(report, contextual),
            allocation_floor(report, spec.min_exposures_before_shift),
        )
    };
    vec![flowing, srm, floor, freshness, eligible]
}

fn sample_ratio(report: &PolicyReport, contextual: bool) -> HealthCheck {
    use HealthStatus::{Fail, Pass, Skipped, Warn};
    if contextual {
        return check(
            "sample_ratio",
            Skipped,
            "linear_contextual: SDK-side scoring has no fixed shares to compare with".into(),
        );
    }
    let observed: Vec<u64> = report.arms.iter().map(|a| a.new_exposures).collect();
    let total: u64 = observed.iter().sum();
    let expected: Vec<f64> = report.arms.iter().map(|a| a.old_share).collect();
    if total == 0 || expected.len() < 2 {
        return check("sample_ratio", Skipped, "no new exposures to test".into());
    }
    let n = total as f64;
    let chi: f64 = observed
        .iter()
        .zip(&expected)
        .filter(|(_, e)| **e > 0.0)
        .map(|(&o, e)| (o as f64 - e * n).powi(2) / (e * n))
        .sum();
    let p = chi_square_sf(chi, (expected.len() - 1) as f64);
    let deviation = observed
        .iter()
        .zip(&expected)
        .map(|(&o, e)| (o as f64 / n - e).abs())
        .fold(0.0, f64::max);
    let s = if p >= 0.01 {
        Pass
    } else if p < 0.001 && deviation > 0.001 {
        Fail
    } else {
        Warn
    };
    check(
        "sample_ratio",
        s,
        format!(
            "chi-square {chi:.2} on {} df, p = {p:.4}, largest deviation {:.2} pp, over {total} new exposures against the live shares",
            expected.len() - 1,
            100.0 * deviation
        ),
    )
}

fn allocation_floor(report: &PolicyReport, floor: u64) -> HealthCheck {
    use HealthStatus::{Fail, Pass, Warn};
    let below: Vec<String> = report
        .arms
        .iter()
        .filter(|a| a.exposures < floor)
        .map(|a| format!("{} ({})", a.name, a.exposures))
        .collect();
    let zero = report.arms.iter().any(|a| a.exposures == 0);
    let healthy = report.arms.iter().any(|a| a.exposures >= floor);
    let s = if below.is_empty() {
        Pass
    } else if zero && healthy {
        Fail
    } else {
        Warn
    };
    let detail = if below.is_empty() {
        format!("every allocation has at least {floor} exposures")
    } else {
        format!("below {floor} exposures: {}", below.join(", "))
    };
    check("allocation_floor", s, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ArmReport;

    fn report(counts: &[(u64, u64)], shares: &[f64]) -> PolicyReport {
        PolicyReport {
            policy_id: "p".into(),
            layer_id: "l".into(),
            algorithm: "ucb1",
            status: RunStatus::NoChange,
            reason: None,
            arms: counts
                .iter()
                .zip(shares)
                .enumerate()
                .map(|(i, (&(n, new), &s))| ArmReport {
                    name: format!("a{i}"),
                    exposures: n,
                    new_exposures: new,
                    reward_sum: 0.0,
                    reward_sum_sq: 0.0,
                    mean: None,
                    probability_best: None,
                    old_share: s,
                    new_share: s,
                    old_range: [0, 0],
                    new_range: [0, 0],
                })
                .collect(),
            last_exposure_at: None,
            statistics_through: None,
            health: vec![],
            entities: None,
            goal: None,
            matured_through: None,
            immature_exposures: 0,
            maturity_warning: None,
            attribution: None,
            counted: true,
        }
    }

    #[test]
    fn sample_ratio_matches_a_hand_computed_chi_square() {
        // 600 vs 400 against 50/50: chi² = (100² + 100²)/500 = 40, p = erfc(√20) ≈ 2.5e-10.
        let c = sample_ratio(&report(&[(600, 600), (400, 400)], &[0.5, 0.5]), false);
        assert_eq!(c.status, HealthStatus::Fail);
        assert!(
            c.detail
                .starts_with("chi-square 40.00 on 1 df, p = 0.0000, largest deviation 10.00 pp"),
            "{}",
            c.detail
        );
        // 510 vs 490: chi² = 0.4, p = 0.527.
        let c = sample_ratio(&report(&[(510, 510), (490, 490)], &[0.5, 0.5]), false);
        assert_eq!(c.status, HealthStatus::Pass);
        assert!(c.detail.contains("p = 0.5271"), "{}", c.detail);
        // Against 60/40 live shares, 600 vs 400 is exactly as expected.
        let c = sample_ratio(&report(&[(600, 600), (400, 400)], &[0.6, 0.4]), false);
        assert!(c.detail.starts_with("chi-square 0.00"), "{}", c.detail);
    }

    #[test]
    fn the_floor_fails_only_when_one_allocation_starves() {
        let f = |c: &[(u64, u64)]| allocation_floor(&report(c, &[0.5, 0.5]), 100).status;
        assert_eq!(f(&[(100, 0), (150, 0)]), HealthStatus::Pass);
        assert_eq!(f(&[(50, 0), (150, 0)]), HealthStatus::Warn);
        assert_eq!(f(&[(0, 0), (150, 0)]), HealthStatus::Fail);
        assert_eq!(f(&[(0, 0), (50, 0)]), HealthStatus::Warn);
    }

    #[test]
    fn flowing_and_freshness_follow_the_platform_thresholds() {
        let r = report(&[(100, 0), (100, 0)], &[0.5, 0.5]);
        let spec: OptimizationSpec = serde_json::from_value(serde_json::json!({
            "algorithm": "ucb1", "goal": {"event": "purchase"}
        }))
        .unwrap();
        let at = |exp: i64, ev: i64| {
            let c = policy_checks(
                &r,
                &spec,
                100 * HOUR,
                Some(100 * HOUR - exp),
                Some(100 * HOUR - ev),
                false,
            );
            (c[0].status, c[3].status)
        };
        use HealthStatus::*;
        assert_eq!(at(10 * MINUTE, 10 * MINUTE), (Pass, Pass));
        assert_eq!(at(30 * MINUTE, 2 * HOUR), (Warn, Warn));
        assert_eq!(at(25 * HOUR, 25 * HOUR), (Fail, Fail));
    }
}
