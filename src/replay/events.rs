//! Off-policy evaluation on the engine's own logs: a reward table (one row per exposed
//! decision, from [`crate::attribution`]) with the exposures' logged `probability`.
//!
//! For a bucket-based policy, a unit the policy serves gets allocation `a` with
//! probability `|range_a| / Σ_b |range_b|`: its share of the buckets the policy's
//! allocations cover. SDKs log `|range_a| / bucketCount` (the reference SDK's
//! `probability`), which is that share times the policy's coverage; rewriting ranges
//! keeps the buckets a policy covers, so the logged value divided by the coverage is
//! the propensity given that the policy served the unit, on the same footing as the
//! evaluation bundle's shares. Rows logged without `probability` get it from the bundle
//! whose `version` equals the exposure's `configVersion`.
//!
//! [`bucket_policy`] is the one place that turns a bundle into `π_e` over a policy's
//! allocations; contextual and per-entity policies are refused until the resolver
//! exposes their per-allocation probabilities.

use polars::prelude::*;

use super::logged::{LoggedBandit, LoggedBanditParts};
use super::policies::ActionDist;
use crate::bundle::model::Bundle;
use crate::error::{Error, Result};

/// A bucket-based policy's allocations and their shares.
#[derive(Clone, Debug, PartialEq)]
pub struct BucketPolicy {
    /// Policy id.
    pub policy_id: String,
    /// Allocation names, in bundle order (the action indices).
    pub allocations: Vec<String>,
    /// Each allocation's share of the policy's buckets (sums to 1).
    pub probs: Vec<f64>,
    /// Buckets the allocations cover, as a share of `bucketCount`.
    pub coverage: f64,
}

impl BucketPolicy {
    /// The policy as a single-slot, context-free action distribution.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] if the shares are not a distribution (cannot
    /// happen for a policy built by [`bucket_policy`]).
    pub fn action_dist(&self) -> Result<ActionDist> {
        ActionDist::shared(self.allocations.len(), 1, self.probs.clone())
    }
}

/// The allocation shares of policy `policy_id` in `bundle`.
///
/// # Errors
///
/// [`Error::InvalidBundle`] if the policy is missing, has no buckets, or is contextual
/// or per-entity (their probabilities depend on the unit and context; not supported
/// here yet).
pub fn bucket_policy(bundle: &Bundle, policy_id: &str) -> Result<BucketPolicy> {
    let bad = |reason: String| Error::InvalidBundle {
        file: format!("bundle version {}", bundle.version),
        key: format!("policy {policy_id}"),
        reason,
    };
    let policy = bundle
        .layers
        .iter()
        .flat_map(|l| l.policies.iter())
        .find(|p| p.id == policy_id)
        .ok_or_else(|| {
            bad("no policy with this id in the bundle; pass the bundle that serves it".into())
        })?;
    if policy.contextual_model.is_some() || policy.entity_config.is_some() {
        return Err(bad(
            "contextual and per-entity policies are not evaluated from bundles yet (their probabilities depend on the unit)".into(),
        ));
    }
    let sizes: Vec<f64> = policy
        .allocations
        .iter()
        .map(|a| f64::from(a.bucket_range[1].saturating_sub(a.bucket_range[0]) + 1))
        .collect();
    let covered: f64 = sizes.iter().sum();
    if policy.allocations.is_empty() || covered <= 0.0 {
        return Err(bad("the policy has no allocation buckets".into()));
    }
    Ok(BucketPolicy {
        policy_id: policy_id.to_owned(),
        allocations: policy.allocations.iter().map(|a| a.name.clone()).collect(),
        probs: sizes.iter().map(|s| s / covered).collect(),
        coverage: covered / f64::from(bundle.hashing.bucket_count),
    })
}

/// A log read from events, with where its propensities came from.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLog {
    /// The log: action = allocation index in the evaluation policy's order, one slot,
    /// no context columns.
    pub data: LoggedBandit,
    /// Rows whose propensity is the exposure's logged `probability`.
    pub logged_propensities: usize,
    /// Rows whose propensity was recovered from the bundle of their `configVersion`.
    pub recovered_propensities: usize,
}

/// The rows of `policy` in a reward table (`policy_id`, `allocation_name`,
/// `decision_id`, `probability`, `reward`, as [`crate::attribution::decision_rewards`]
/// makes it), their propensities taken from `probability` or, where it is missing,
/// from the bundle in `bundles` whose version is the exposure's `configVersion`
/// (looked up in `exposures` by `decision_id`).
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming the decision for an allocation the policy does
/// not have, a missing propensity that no bundle explains, or a propensity above 1;
/// [`Error::Polars`] if the tables lack those columns.
pub fn logged_from_rewards(
    rewards: LazyFrame,
    exposures: LazyFrame,
    policy: &BucketPolicy,
    bundles: &[Bundle],
) -> Result<EventLog> {
    let id = policy.policy_id.as_str();
    let versions = exposures
        .filter(
            col("policy_id")
                .eq(lit(id))
                .and(col("decision_id").is_not_null()),
        )
        .group_by([col("decision_id")])
        .agg([col("config_version").first().alias("config_version")]);
    let df = rewards
        .filter(col("policy_id").eq(lit(id)))
        .select([
            col("allocation_name"),
            col("decision_id"),
            col("probability"),
            col("reward"),
        ])
        .join(
            versions,
            [col("decision_id")],
            [col("decision_id")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(
            ["decision_id"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()?;
    let alloc = df.column("allocation_name")?.str()?.clone();
    let decision = df.column("decision_id")?.str()?.clone();
    let prob = df
        .column("probability")?
        .cast(&DataType::Float64)?
        .f64()?
        .clone();
    let reward = df
        .column("reward")?
        .cast(&DataType::Float64)?
        .f64()?
        .clone();
    let version = df.column("config_version")?.str()?.clone();
    let bad = |reason: String| Error::InvalidParameter {
        name: "events",
        reason,
    };
    let mut parts = LoggedBanditParts {
        n_actions: policy.allocations.len(),
        len_list: 1,
        context: ndarray::Array2::zeros((df.height(), 0)),
        ..LoggedBanditParts::default()
    };
    let (mut logged, mut recovered) = (0, 0);
    for i in 0..df.height() {
        let d = decision.get(i).unwrap_or("?");
        let name = alloc.get(i).unwrap_or("");
        let a = policy
            .allocations
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| bad(format!(
                "decision {d}: allocation {name:?} is not one of policy {id}'s allocations {:?}; evaluate with a bundle that has it",
                policy.allocations
            )))?;
        let p = match prob.get(i) {
            Some(p) => {
                logged += 1;
                p / policy.coverage
            }
            None => {
                let v = version.get(i).ok_or_else(|| bad(format!(
                    "decision {d}: no logged probability and no configVersion to recover it from; log exposures with probability"
                )))?;
                let b = bundles.iter().find(|b| b.version == v).ok_or_else(|| bad(format!(
                    "decision {d}: no logged probability, and bundle version {v:?} was not given; pass the bundle that was live"
                )))?;
                let live = bucket_policy(b, id)?;
                let k = live
                    .allocations
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| {
                        bad(format!(
                            "decision {d}: allocation {name:?} is not in bundle version {v}"
                        ))
                    })?;
                recovered += 1;
                live.probs[k]
            }
        };
        if !(p > 0.0 && p <= 1.0 + 1e-9) {
            return Err(bad(format!(
                "decision {d}: propensity {p} (logged probability over the policy's coverage {}) is not in (0, 1]",
                policy.coverage
            )));
        }
        parts.action.push(a as u32);
        parts.position.push(0);
        parts.pscore.push(p.min(1.0));
        parts.reward.push(reward.get(i).unwrap_or(0.0));
    }
    Ok(EventLog {
        data: LoggedBandit::new(parts)?,
        logged_propensities: logged,
        recovered_propensities: recovered,
    })
}
