//! Warm start from the previous state, and the next state from a run's report.
//!
//! Multi-armed policies: the previous state's per-allocation totals cover reward rows
//! exposed up to its `exposuresThrough`; this run adds the rows exposed after it and
//! fits on the sum. Statistics computed under another goal or attribution mode are
//! not reused. `linear_contextual` policies are fitted on this run's rows (their
//! totals are recorded for the report and health checks only).
//!
//! Known limit: a reward row is counted in the run that first sees its exposure, with
//! the reward attributed by then; goal events for that exposure arriving after the
//! watermark are not added to it later. Outcome maturity (`maturityMinutes`) narrows
//! it: rows exposed less than that before the run's instant are held back
//! ([`mature`]) and counted by a later run, once their outcomes had time to arrive.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::{PolicyReport, RunReport, RunStatus};
use crate::attribution::{AttributionParams, TouchModel};
use crate::bundle::BundleDocument;
use crate::bundle::PolicyRef;
use crate::config::{AttributionMode, GoalType, OptimizationSpec, ValueSource};
use crate::error::Result;
use crate::reward::ArmStats;
use crate::state::{sha256_hex, ArmTotals, EngineState, HistoryEntry, PolicyLearning};
use crate::time::{format_rfc3339, parse_rfc3339, Millis};

/// The key naming what a policy's statistics measure. Attribution settings other
/// than the defaults (last touch, no skew, no window) are part of it, so statistics
/// credited another way are not added to; so is a cap, which changes what a reward is
/// (keys without one stay as they were).
///
/// The key is saved in `state.json` and compared on the next run, so every part is
/// spelled out here rather than taken from `Debug` output: renaming a type must not
/// silently cold-start every policy. The spellings are the ones state files have
/// carried since the first version (`tests/it/state_compat.rs` reads one).
pub fn statistics_key(spec: &OptimizationSpec, params: &AttributionParams) -> String {
    let goal = &spec.goal;
    let mut key = format!(
        "{}/{}/{}/{}",
        goal.event,
        goal_type_key(goal.goal_type),
        value_source_key(&goal.value),
        mode_key(params.mode)
    );
    // The rule for events without a known decision or an SDK array: statistics made
    // under one rule are not merged with another's. The spellings of the rule each
    // mode had before `unlinkedEvents` existed (decision: dropped; cumulative: the
    // unit-key rule) stay as they were.
    match (params.mode, params.unit_key_rule()) {
        (AttributionMode::Decision, true) => key.push_str("+unitkey"),
        (AttributionMode::Cumulative, false) => key.push_str("+dropunlinked"),
        _ => {}
    }
    let defaults = AttributionParams::default();
    if params.model != defaults.model || params.clock_skew_ms != 0 || params.window_ms.is_some() {
        let window = params
            .window_ms
            .map_or_else(|| "none".to_owned(), |w| format!("some({w})"));
        key.push_str(&format!(
            "/{}/skew{}/window{window}",
            model_key(params.model),
            params.clock_skew_ms
        ));
    }
    let key = key.to_lowercase();
    match goal.cap {
        Some(c) => format!("{key}/cap{}", c.quantile),
        None => key,
    }
}

fn goal_type_key(t: GoalType) -> &'static str {
    match t {
        GoalType::ConversionRate => "conversionrate",
        GoalType::Sum => "sum",
        GoalType::Count => "count",
        GoalType::Mean => "mean",
    }
}

fn value_source_key(v: &ValueSource) -> String {
    match v {
        ValueSource::Value => "value".to_owned(),
        ValueSource::Values(k) => format!("values({k:?})"),
        ValueSource::Property(k) => format!("property({k:?})"),
    }
}

fn mode_key(m: AttributionMode) -> &'static str {
    match m {
        AttributionMode::Cumulative => "cumulative",
        AttributionMode::Decision => "decision",
    }
}

/// Floats as the first state files wrote them (Rust's shortest round-trip form, with
/// `.0` on whole numbers).
fn model_key(m: TouchModel) -> String {
    match m {
        TouchModel::FirstTouch => "firsttouch".to_owned(),
        TouchModel::LastTouch => "lasttouch".to_owned(),
        TouchModel::Linear => "linear".to_owned(),
        TouchModel::TimeDecay { half_life_ms } => {
            format!("timedecay {{ half_life_ms: {half_life_ms:?} }}")
        }
        TouchModel::PositionBased { first, last } => {
            format!("positionbased {{ first: {first:?}, last: {last:?} }}")
        }
    }
}

/// The previous statistics of a policy that this run can add to: same statistics
/// key and a watermark.
pub(super) fn reusable<'s>(
    previous: Option<&'s EngineState>,
    policy_id: &str,
    key: &str,
) -> Option<(&'s PolicyLearning, Millis)> {
    let p = previous?.policies.get(policy_id)?;
    let through = parse_rfc3339(p.exposures_through.as_deref()?)?;
    (p.statistics == key).then_some((p, through))
}

/// Why the previous state's statistics of a policy are not added to, for the report:
/// they were counted under another statistics key (the goal, the attribution or its
/// settings changed, or an older engine counted them another way). `None` when the
/// state has none for the policy or they are reusable.
pub(super) fn not_reused_note(
    previous: Option<&EngineState>,
    policy_id: &str,
    key: &str,
) -> Option<String> {
    let p = previous?.policies.get(policy_id)?;
    (p.statistics != key).then(|| {
        format!(
            "saved statistics not reused: they were counted as `{}`, this run counts as `{key}` (the goal, the attribution or its settings changed, or an older engine counted them); counted afresh from this run's events",
            p.statistics
        )
    })
}

/// Reward rows exposed after `watermark` (all rows without one).
pub(super) fn since(rewards: LazyFrame, watermark: Option<Millis>) -> LazyFrame {
    match watermark {
        Some(t) => rewards.filter(col("exposed_at").gt(lit(t))),
        None => rewards,
    }
}

/// The run's maturity cutoff: `as_of − maturityMinutes`, `None` when the policy sets
/// no maturity (every exposure counts at once).
pub(super) fn maturity_cutoff(spec: &OptimizationSpec, as_of: Millis) -> Option<Millis> {
    spec.maturity_minutes
        .map(|m| as_of - (m * 60_000.0).round() as Millis)
}

/// A policy's reward rows exposed at or before `cutoff` (all without one), and how
/// many of its rows are younger and held back. Held-back rows stay after the
/// watermark ([`advance`] only moves to the latest row counted), so the next run
/// that sees their exposure counts them, once.
pub(super) fn mature(
    rewards: LazyFrame,
    policy_id: &str,
    cutoff: Option<Millis>,
) -> Result<(LazyFrame, u64)> {
    let Some(t) = cutoff else {
        return Ok((rewards, 0));
    };
    let held = rewards
        .clone()
        .filter(
            col("policy_id")
                .eq(lit(policy_id))
                .and(col("exposed_at").gt(lit(t))),
        )
        .select([len().alias("n")])
        .collect()?;
    let n = held.column("n")?.u32()?.get(0).unwrap_or(0);
    Ok((
        rewards.filter(col("exposed_at").lt_eq(lit(t))),
        u64::from(n),
    ))
}

/// A warning when exposures held back by the previous run may be missing from this
/// one: the policy uses maturity, warm starts from a watermark, and this run's reward
/// rows all start after it (the input does not reach back to the watermark).
pub(super) fn held_back_warning(
    rewards: LazyFrame,
    policy_id: &str,
    spec: &OptimizationSpec,
    watermark: Option<Millis>,
) -> Result<Option<String>> {
    if spec.maturity_minutes.is_none() || watermark.is_none() {
        return Ok(None);
    }
    let df = rewards
        .filter(col("policy_id").eq(lit(policy_id)))
        .select([col("exposed_at").min()])
        .collect()?;
    let earliest = df.column("exposed_at")?.i64()?.get(0);
    Ok(held_back_note(earliest, spec, watermark))
}

/// [`held_back_warning`] from the earliest exposure of the policy's reward rows.
pub(super) fn held_back_note(
    earliest: Option<Millis>,
    spec: &OptimizationSpec,
    watermark: Option<Millis>,
) -> Option<String> {
    let (Some(_), Some(w)) = (spec.maturity_minutes, watermark) else {
        return None;
    };
    earliest.filter(|&e| e > w).map(|e| {
        format!(
            "this run's first exposure ({}) is after the state's watermark ({}): exposures the previous run held back as immature are not in these events and will not be counted; give each run events from the watermark on",
            format_rfc3339(e),
            format_rfc3339(w)
        )
    })
}

/// The latest `exposed_at` of a policy's reward rows.
pub(super) fn latest_exposed(rewards: LazyFrame, policy_id: &str) -> Result<Option<Millis>> {
    let df = rewards
        .filter(col("policy_id").eq(lit(policy_id)))
        .select([col("exposed_at").max()])
        .collect()?;
    Ok(df.column("exposed_at")?.i64()?.get(0))
}

/// Previous totals of one allocation as statistics.
pub(super) fn prior(p: &PolicyLearning, name: &str) -> ArmStats {
    p.arms
        .get(name)
        .map_or_else(ArmStats::default, |a| ArmStats {
            n: a.exposures,
            sum: a.reward_sum,
            sum_sq: a.reward_sum_sq,
        })
}

/// What the next state needs of each policy, collected as the run goes.
#[derive(Default)]
pub(super) struct Collected {
    /// Statistics key of each policy.
    pub keys: BTreeMap<String, String>,
    /// Each policy's `stateVersion` in the input bundle.
    pub live_since: BTreeMap<String, Option<String>>,
    /// Per-entity statistics of the per-entity policies counted.
    pub entities: BTreeMap<String, crate::state::entity_totals::EntityTotals>,
    /// Linear statistics of the `linear_contextual` policies counted.
    pub linear: BTreeMap<String, crate::policy::linear_state::LinearTotals>,
}

impl Collected {
    /// Records a policy's key and live `stateVersion` before it runs.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidBundle`] when `policy_ref` is not from `input`.
    pub(super) fn note_policy(
        &mut self,
        input: &BundleDocument,
        policy_ref: &PolicyRef,
        spec: &OptimizationSpec,
        params: Option<&AttributionParams>,
    ) -> Result<()> {
        let id = policy_ref.id().to_owned();
        let key = params.map(|p| statistics_key(spec, p)).unwrap_or_default();
        self.keys.insert(id.clone(), key);
        let live = input.policy(policy_ref)?.state_version.clone();
        self.live_since.insert(id, live);
        Ok(())
    }

    /// The next state's inputs.
    pub(super) fn into_next_state<'a>(
        self,
        previous: Option<&'a EngineState>,
        as_of: &'a str,
        seed: u64,
        bundle_version: &'a str,
        bundle_sha256: String,
    ) -> NextState<'a> {
        NextState {
            previous,
            keys: self.keys,
            live_since: self.live_since,
            as_of,
            seed,
            bundle_version,
            bundle_sha256,
            entities: self.entities,
            linear: self.linear,
        }
    }
}

/// Everything the next state needs besides the report.
pub(super) struct NextState<'a> {
    pub previous: Option<&'a EngineState>,
    pub keys: BTreeMap<String, String>,
    pub live_since: BTreeMap<String, Option<String>>,
    pub as_of: &'a str,
    pub seed: u64,
    pub bundle_version: &'a str,
    pub bundle_sha256: String,
    /// Per-entity statistics of the per-entity policies counted in this run.
    pub entities: BTreeMap<String, crate::state::entity_totals::EntityTotals>,
    /// Linear statistics of the `linear_contextual` policies counted in this run.
    pub linear: BTreeMap<String, crate::policy::linear_state::LinearTotals>,
}

/// The state after a run: policies that were counted take this run's totals and
/// watermark; the others (too soon, errored, not running) keep what they had.
/// Allocation history gains the live weights when it is empty and the new weights
/// when a policy was updated.
pub(super) fn next_state(n: NextState<'_>, report: &RunReport) -> EngineState {
    let mut policies = BTreeMap::new();
    for pr in &report.policies {
        let prev = n.previous.and_then(|s| s.policies.get(&pr.policy_id));
        let mut p = if pr.counted {
            PolicyLearning {
                algorithm: pr.algorithm.to_owned(),
                statistics: n.keys.get(&pr.policy_id).cloned().unwrap_or_default(),
                last_status: String::new(),
                last_updated: prev.and_then(|p| p.last_updated.clone()),
                exposures_through: pr.statistics_through.clone(),
                arms: pr
                    .arms
                    .iter()
                    .map(|a| {
                        (
                            a.name.clone(),
                            ArmTotals {
                                exposures: a.exposures,
                                reward_sum: a.reward_sum,
                                reward_sum_sq: a.reward_sum_sq,
                            },
                        )
                    })
                    .collect(),
                allocation_history: prev
                    .map(|p| p.allocation_history.clone())
                    .unwrap_or_default(),
                entities: n.entities.get(&pr.policy_id).cloned(),
                linear: n.linear.get(&pr.policy_id).cloned(),
            }
        } else {
            prev.cloned().unwrap_or_else(|| PolicyLearning {
                algorithm: pr.algorithm.to_owned(),
                statistics: n.keys.get(&pr.policy_id).cloned().unwrap_or_default(),
                ..PolicyLearning::default()
            })
        };
        p.last_status = pr.status.as_str().to_owned();
        if p.allocation_history.is_empty() {
            p.push_history(HistoryEntry {
                as_of: n
                    .live_since
                    .get(&pr.policy_id)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| n.as_of.to_owned()),
                weights: shares(pr, |a| a.old_share),
            });
        }
        if pr.status == RunStatus::Updated {
            p.last_updated = Some(n.as_of.to_owned());
            if pr.arms.iter().any(|a| a.new_share != a.old_share) {
                p.push_history(HistoryEntry {
                    as_of: n.as_of.to_owned(),
                    weights: shares(pr, |a| a.new_share),
                });
            }
        }
        policies.insert(pr.policy_id.clone(), p);
    }
    EngineState {
        as_of: n.as_of.to_owned(),
        seed: n.seed,
        bundle_version: n.bundle_version.to_owned(),
        bundle_sha256: n.bundle_sha256,
        policies,
    }
}

fn shares(pr: &PolicyReport, f: impl Fn(&super::ArmReport) -> f64) -> BTreeMap<String, f64> {
    pr.arms.iter().map(|a| (a.name.clone(), f(a))).collect()
}

/// The watermark after a run: the later of the previous one and the latest exposure
/// counted now.
pub(super) fn advance(previous: Option<Millis>, latest: Option<Millis>) -> Option<String> {
    previous.max(latest).map(format_rfc3339)
}

/// A warning when the previous state was published with another bundle than the one
/// this run starts from: someone changed the bundle since the engine last wrote it
/// (a dashboard edit, or the wrong `--state`). Statistics are still reused, matched
/// by allocation name.
pub(super) fn foreign_bundle_warning(
    previous: Option<&EngineState>,
    input: &BundleDocument,
) -> Option<String> {
    let p = previous?;
    (p.bundle_sha256 != sha256_hex(input.to_json_pretty().as_bytes())).then(|| {
        format!(
            "the state (as of {}) was published with another bundle than {}; its statistics are reused by allocation name",
            p.as_of,
            input.source()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectConfig;

    fn key_of(optimization: &str) -> String {
        let text = format!(
            "version: \"1.0\"\nevents:\n  purchase:\n    valueType: currency\n    properties:\n      Total: {{ type: number }}\noptimization:\n  p:\n{optimization}"
        );
        let config = ProjectConfig::from_str_named(&text, "t.yaml").unwrap();
        let spec = &config.optimization["p"];
        let params = AttributionParams::from_spec(spec).unwrap();
        statistics_key(spec, &params)
    }

    /// The spellings state files carry (they were `Debug` output, lowercased, before
    /// being written out here): a change fails this test instead of cold-starting
    /// every policy of every user.
    #[test]
    fn statistics_keys_keep_the_spelling_of_saved_states() {
        assert_eq!(
            key_of("    algorithm: thompson_bernoulli\n    goal: { event: purchase, type: conversion_rate }\n"),
            "purchase/conversionrate/value/cumulative"
        );
        assert_eq!(
            key_of("    algorithm: thompson_gaussian\n    goal: { event: purchase, type: sum, value: { property: Total }, cap: { quantile: 0.95 } }\n    attribution: decision\n    unlinkedEvents: drop\n    attributionModel: time_decay\n    halfLifeDays: 2\n    clockSkewSeconds: 30\n    attributionWindowHours: 48\n"),
            "purchase/sum/property(\"total\")/decision/timedecay { half_life_ms: 172800000.0 }/skew30000/windowsome(172800000)/cap0.95"
        );
        assert_eq!(
            key_of("    algorithm: ucb1\n    goal: { event: purchase, type: mean, value: { values: revenue } }\n    attributionModel: position_based\n    positionWeights: { first: 0.3, last: 0.5 }\n"),
            "purchase/mean/values(\"revenue\")/cumulative/positionbased { first: 0.3, last: 0.5 }/skew0/windownone"
        );
        // Decision mode's default rule changed (the unit-key rule credits webhook
        // events since issue 15): its statistics start afresh; `unlinkedEvents: drop`
        // is the old rule, and keeps the old key above.
        assert_eq!(
            key_of("    algorithm: thompson_gaussian\n    goal: { event: purchase, type: sum }\n    attribution: decision\n"),
            "purchase/sum/value/decision+unitkey"
        );
        assert_eq!(
            key_of("    algorithm: thompson_gaussian\n    goal: { event: purchase, type: sum }\n    unlinkedEvents: drop\n"),
            "purchase/sum/value/cumulative+dropunlinked"
        );
        assert_eq!(
            key_of("    algorithm: epsilon_greedy\n    goal: { event: purchase, type: count }\n    attributionModel: first_touch\n"),
            "purchase/count/value/cumulative/firsttouch/skew0/windownone"
        );
        assert_eq!(
            key_of("    algorithm: epsilon_greedy\n    goal: { event: purchase, type: count }\n    attributionModel: linear\n"),
            "purchase/count/value/cumulative/linear/skew0/windownone"
        );
    }
}
