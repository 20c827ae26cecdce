//! One optimised policy's run, written once for every learner:
//!
//! gate (running, `windowSizeMinutes`) → attribution settings → the previous state's
//! statistics (prior) → maturity cutoff → count this run's reward rows onto the prior
//! → report → `minExposuresBeforeShift` → fit → guard → status.
//!
//! What differs between multi-armed, linear contextual and per-entity learners is the
//! [`PolicyLearner`] trait: whether a prior can be reused, how rows become statistics, which
//! figures the report shows, and what a fit publishes. Everything else, including
//! which report fields are filled, is here, so every learner fills the same ones.

use std::collections::BTreeMap;

use polars::prelude::{col, LazyFrame};
use serde_json::Value;

use super::learning;
use super::report::{ArmReport, GoalReport, PolicyReport, RunStatus};
use super::rewards::Attributions;
use super::source::Source;
use crate::attribution::AttributionParams;
use crate::config::OptimizationSpec;
use crate::error::{AttributionError, Error, Result};
use crate::reward::ArmStats;
use crate::sdk::model::{Bundle, BundleLayer, EntityPolicyState, Policy, PolicyState};
use crate::state::{EngineState, PolicyLearning};
use crate::time::{format_rfc3339, parse_rfc3339, Millis};

/// What every policy of one run shares.
pub(super) struct RunContext<'a> {
    /// Attributions of this run's events, once per goal and settings.
    pub attributions: &'a Attributions<'a>,
    /// The rest of what policies read of the events.
    pub source: Source<'a>,
    /// The previous run's state (`--state`).
    pub previous: Option<&'a EngineState>,
    /// The run's instant.
    pub as_of: Millis,
    /// `as_of` as written in the bundle and state.
    pub stamp: &'a str,
    /// Master seed.
    pub seed: u64,
    /// The bundle the run started from.
    pub input: &'a Bundle,
}

/// One optimised policy in a run.
pub(super) struct PolicyRun<'a> {
    /// The run.
    pub ctx: &'a RunContext<'a>,
    /// The policy's layer in the input bundle.
    pub layer: &'a BundleLayer,
    /// The policy in the input bundle.
    pub policy: &'a Policy,
    /// Its `optimization:` entry.
    pub spec: &'a OptimizationSpec,
    /// Its attribution settings (the config with the run's overrides), or why they
    /// are invalid.
    pub params: std::result::Result<AttributionParams, String>,
}

/// Whether a learner can add this run's rows to the previous state's statistics.
pub(super) enum Reuse {
    /// Yes: only rows exposed after the state's watermark are counted.
    Yes,
    /// The state holds nothing this learner reads: every row is counted.
    No,
    /// The state's statistics no longer fit (the note says why): every row is counted.
    Dropped(String),
}

/// What counting gave.
pub(super) enum Counting<S> {
    /// The learner's statistics, prior included.
    Counted(S),
    /// The prior turned out not to fit while counting (the note says why): count
    /// again from every row, without it.
    PriorDropped(String),
}

/// The reward rows a learner counts: mature, after the watermark, with a reward.
pub(super) enum Rewarded {
    /// The rows of every policy of the goal.
    Rows(Box<LazyFrame>),
    /// This policy's rows already summed per allocation name (a multi-armed policy in
    /// a run over a log's partitions: [`super::summed`]).
    Sums(BTreeMap<String, ArmStats>),
}

impl Rewarded {
    /// The rows, for learners that read each row.
    ///
    /// # Errors
    ///
    /// [`AttributionError::Summed`] when they were summed (an engine bug: only
    /// multi-armed policies are).
    pub fn rows(self, policy_id: &str) -> Result<LazyFrame> {
        match self {
            Rewarded::Rows(rows) => Ok(*rows),
            Rewarded::Sums(_) => Err(AttributionError::Summed(policy_id.to_owned()).into()),
        }
    }
}

/// One allocation's figures in the report, as the fit uses them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct ArmFigures {
    /// Reward units, the prior's included.
    pub exposures: u64,
    /// Of those, counted in this run.
    pub new_exposures: u64,
    /// Sum of rewards.
    pub reward_sum: f64,
    /// Sum of squared rewards.
    pub reward_sum_sq: f64,
}

/// What an update changes in the bundle.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Publication {
    /// New bucket ranges, in allocation order (multi-armed policies).
    Ranges(Vec<[u32; 2]>),
    /// A new `contextualModel` (linear contextual policies).
    Model(Value),
    /// The policy's new `entityState` entry (per-entity policies).
    Entities(EntityPolicyState),
}

/// The statistics a learner keeps in the state for the next run.
pub(super) enum Saved {
    /// Per-allocation totals only (they are in the report).
    Arms,
    /// Linear statistics.
    Linear(crate::policy::linear_state::LinearTotals),
    /// Per-entity statistics.
    Entities(crate::state::entity_totals::EntityTotals),
}

/// What differs between learners; [`run_policy`] does the rest.
pub(super) trait PolicyLearner {
    /// The learner's statistics after counting.
    type Stats;

    /// Notes that hold whatever the data (a setting that changes what is learnt).
    fn notes(&self, _run: &PolicyRun<'_>) -> Vec<String> {
        Vec::new()
    }

    /// Whether the previous state's statistics of this policy (same statistics key)
    /// can be added to.
    fn reuse(&self, run: &PolicyRun<'_>, prior: &PolicyLearning) -> Reuse;

    /// Statistics from this run's counted reward rows (mature, after the watermark,
    /// with a reward) added to the prior's, when reused.
    ///
    /// # Errors
    ///
    /// Anything that stops the fit; the policy is reported `errored`.
    fn count(
        &self,
        run: &PolicyRun<'_>,
        rewarded: Rewarded,
        prior: Option<&PolicyLearning>,
    ) -> Result<Counting<Self::Stats>>;

    /// The report's figures per allocation, in bundle order (`None`: the allocations
    /// are not fixed, and the report shows none).
    fn arms(&self, run: &PolicyRun<'_>, stats: &Self::Stats) -> Option<Vec<ArmFigures>>;

    /// Notes on what counting set aside.
    fn count_notes(&self, _run: &PolicyRun<'_>, _stats: &Self::Stats) -> Vec<String> {
        Vec::new()
    }

    /// Learner-specific parts of the report (per-entity counts).
    fn describe(&self, _stats: &Self::Stats, _report: &mut PolicyReport) {}

    /// The pooled exposures `minExposuresBeforeShift` applies to, by allocation name,
    /// and how the reason words them (`""`, `" over all entities"`).
    fn pooled(
        &self,
        run: &PolicyRun<'_>,
        stats: &Self::Stats,
    ) -> (Vec<(String, u64)>, &'static str);

    /// Fits, writing probabilities and new shares into the report; `Ok(None)` when
    /// the fit leaves the policy as it is live.
    ///
    /// # Errors
    ///
    /// Why the fit cannot be published (the policy is reported `errored`).
    fn fit(
        &self,
        run: &PolicyRun<'_>,
        stats: &Self::Stats,
        report: &mut PolicyReport,
    ) -> std::result::Result<Option<Publication>, String>;

    /// The statistics for the state.
    fn saved(&self, stats: Self::Stats) -> Saved;
}

/// What one policy's run hands back.
pub(super) struct PolicyOutcome {
    /// Its report (health checks and the attribution report still to add).
    pub report: PolicyReport,
    /// What to change in the bundle, when updated.
    pub publication: Option<Publication>,
    /// Statistics for the state, when counted.
    pub saved: Option<Saved>,
}

impl PolicyOutcome {
    fn unfitted(report: PolicyReport) -> Self {
        Self {
            report,
            publication: None,
            saved: None,
        }
    }
}

/// Runs one policy with `learner`.
pub(super) fn run_policy<L: PolicyLearner>(learner: &L, run: &PolicyRun<'_>) -> PolicyOutcome {
    let mut report = match gate(run) {
        Ok(r) => r,
        Err(r) => return PolicyOutcome::unfitted(r),
    };
    let params = match &run.params {
        Ok(p) => *p,
        Err(e) => return PolicyOutcome::unfitted(finish(report, RunStatus::Errored, vec![], e)),
    };
    let mut notes = learner.notes(run);
    let counted = count(learner, run, &params, &mut notes);
    let (stats, rows) = match counted {
        Ok(c) => c,
        Err(e) => {
            return PolicyOutcome::unfitted(finish(
                report,
                RunStatus::Errored,
                vec![],
                &e.to_string(),
            ))
        }
    };
    report.goal = Some(rows.goal);
    report.immature_exposures = rows.immature;
    report.matured_through = rows.cutoff.map(format_rfc3339);
    report.maturity_warning = rows.warning;
    report.statistics_through = learning::advance(rows.watermark, rows.latest);
    report.counted = true;
    if let Some(figures) = learner.arms(run, &stats) {
        for (r, f) in report.arms.iter_mut().zip(figures) {
            r.exposures = f.exposures;
            r.new_exposures = f.new_exposures;
            r.reward_sum = f.reward_sum;
            r.reward_sum_sq = f.reward_sum_sq;
            r.mean = (f.exposures > 0).then(|| f.reward_sum / f.exposures as f64);
        }
    }
    notes.extend(learner.count_notes(run, &stats));
    learner.describe(&stats, &mut report);
    let (pooled, scope) = learner.pooled(run, &stats);
    let min = run.spec.min_exposures_before_shift;
    let outcome = if let Some((name, n)) = pooled.iter().find(|(_, n)| *n < min) {
        let reason =
            format!("allocation {name} has {n} exposures{scope}, minExposuresBeforeShift is {min}");
        (RunStatus::InsufficientExposures, None, Some(reason))
    } else {
        match learner.fit(run, &stats, &mut report) {
            Ok(None) => (RunStatus::NoChange, None, None),
            Ok(Some(p)) => (RunStatus::Updated, Some(p), None),
            Err(e) => (RunStatus::Errored, None, Some(e)),
        }
    };
    let (status, publication, reason) = outcome;
    notes.extend(reason);
    report.status = status;
    report.reason = (!notes.is_empty()).then(|| notes.join("; "));
    PolicyOutcome {
        report,
        publication,
        saved: Some(learner.saved(stats)),
    }
}

/// A policy's counted reward rows, and what the report says of them.
struct Rows {
    goal: GoalReport,
    immature: u64,
    cutoff: Option<Millis>,
    warning: Option<String>,
    watermark: Option<Millis>,
    latest: Option<Millis>,
}

/// The prior, the watermark it implies, and the learner's statistics: counted again
/// from every row when the prior turns out not to fit.
fn count<L: PolicyLearner>(
    learner: &L,
    run: &PolicyRun<'_>,
    params: &AttributionParams,
    notes: &mut Vec<String>,
) -> Result<(L::Stats, Rows)> {
    let key = learning::statistics_key(run.spec, params);
    let prior = learning::reusable(run.ctx.previous, &run.policy.id, &key);
    if prior.is_none() {
        notes.extend(learning::not_reused_note(
            run.ctx.previous,
            &run.policy.id,
            &key,
        ));
    }
    let (mut prior, mut watermark) = match prior {
        Some((p, t)) => match learner.reuse(run, p) {
            Reuse::Yes => (Some(p), Some(t)),
            Reuse::No => (None, None),
            Reuse::Dropped(note) => {
                notes.push(note);
                (None, None)
            }
        },
        None => (None, None),
    };
    let rewards = run.ctx.attributions.get(&run.spec.goal, params)?;
    let cutoff = learning::maturity_cutoff(run.spec, run.ctx.as_of);
    let id = run.policy.id.as_str();
    let goal = || GoalReport {
        values: rewards.rewards.values.clone(),
        cap: rewards.rewards.cap_of(id),
    };
    if let Some(summary) = rewards.summary(id) {
        let (stats, immature, latest) =
            count_summed(learner, run, summary, prior, watermark, cutoff)?;
        let rows = Rows {
            goal: goal(),
            immature,
            cutoff,
            warning: learning::held_back_note(summary.earliest(), run.spec, watermark),
            watermark,
            latest,
        };
        return Ok((stats, rows));
    }
    loop {
        let all = rewards.rewards.lazy();
        let warning = learning::held_back_warning(all.clone(), id, run.spec, watermark)?;
        let (mature, immature) = learning::mature(learning::since(all, watermark), id, cutoff)?;
        let latest = learning::latest_exposed(mature.clone(), id)?;
        let rewarded = mature.filter(col("reward").is_not_null());
        match learner.count(run, Rewarded::Rows(Box::new(rewarded)), prior)? {
            Counting::Counted(stats) => {
                let rows = Rows {
                    goal: goal(),
                    immature,
                    cutoff,
                    warning,
                    watermark,
                    latest,
                };
                return Ok((stats, rows));
            }
            Counting::PriorDropped(note) => {
                if prior.is_none() {
                    // A learner drops only a prior it was given; without one, counting
                    // again would give the same answer.
                    return Err(Error::InvalidState {
                        file: "(previous state)".into(),
                        key: format!("policies.{id}"),
                        reason: note,
                    });
                }
                notes.push(note);
                (prior, watermark) = (None, None);
            }
        }
    }
}

/// [`count`] for a policy whose rows were summed over a log's partitions: the
/// statistics, the immature rows and the latest exposure counted.
fn count_summed<L: PolicyLearner>(
    learner: &L,
    run: &PolicyRun<'_>,
    summary: &super::summed::ArmSummary,
    prior: Option<&PolicyLearning>,
    watermark: Option<Millis>,
    cutoff: Option<Millis>,
) -> Result<(L::Stats, u64, Option<Millis>)> {
    let id = run.policy.id.as_str();
    let r = summary.resolve(id, watermark, cutoff)?;
    match learner.count(run, Rewarded::Sums(r.stats), prior)? {
        Counting::Counted(stats) => Ok((stats, r.immature, r.latest)),
        // The sums were taken after the prior's watermark; only multi-armed learners
        // are summed, and they never drop a prior.
        Counting::PriorDropped(_) => Err(AttributionError::Summed(id.to_owned()).into()),
    }
}

/// The live shares of a policy's allocations, and the buckets they cover.
pub(super) fn live_shares(policy: &Policy) -> (Vec<f64>, u64) {
    let effective = policy.effective_counts();
    let covered: u64 = effective.iter().map(|&c| u64::from(c)).sum();
    let shares = effective
        .iter()
        .map(|&c| f64::from(c) / covered.max(1) as f64)
        .collect();
    (shares, covered)
}

/// The report of a policy before fitting, with its old shares; `Err` with the final
/// report when the policy is not running or it is too soon.
// The `Err` is the policy's final report, built once per policy: boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn gate(run: &PolicyRun<'_>) -> std::result::Result<PolicyReport, PolicyReport> {
    let policy = run.policy;
    let (old_shares, _) = live_shares(policy);
    let report = PolicyReport {
        policy_id: policy.id.clone(),
        layer_id: run.layer.id.clone(),
        algorithm: run.spec.algorithm.as_str(),
        status: RunStatus::NoChange,
        reason: None,
        arms: policy
            .allocations
            .iter()
            .zip(&old_shares)
            .map(|(a, &s)| ArmReport::unchanged(&a.name, s, a.bucket_range))
            .collect(),
        last_exposure_at: None,
        statistics_through: None,
        health: Vec::new(),
        entities: None,
        goal: None,
        matured_through: None,
        immature_exposures: 0,
        maturity_warning: None,
        attribution: None,
        counted: false,
    };
    if policy.state != PolicyState::Running {
        let reason = format!(
            "policy is {:?}, not running; SDKs do not serve it",
            policy.state
        )
        .to_lowercase();
        return Err(finish(report, RunStatus::NoChange, vec![], &reason));
    }
    if let (Some(window), Some(prev)) = (
        run.spec.window_size_minutes,
        policy.state_version.as_deref().and_then(parse_rfc3339),
    ) {
        let elapsed = (run.ctx.as_of - prev) as f64 / 60_000.0;
        if elapsed < window {
            let reason = format!(
                "{elapsed:.1} minutes since stateVersion {}, windowSizeMinutes is {window}",
                format_rfc3339(prev)
            );
            return Err(finish(report, RunStatus::TooSoon, vec![], &reason));
        }
    }
    Ok(report)
}

fn finish(
    mut r: PolicyReport,
    status: RunStatus,
    mut notes: Vec<String>,
    reason: &str,
) -> PolicyReport {
    notes.push(reason.to_owned());
    r.status = status;
    r.reason = Some(notes.join("; "));
    r
}
