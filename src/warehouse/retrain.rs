//! A retrain that fits from warehouse statistics instead of events.
//!
//! The statistics are what the engine keeps between runs anyway: per-allocation
//! sums through a watermark (`state.json`). So the rows become the totals of a
//! state, added to the previous state's where it was made under the same settings
//! (the queries then covered only exposures after its watermark), with the latest
//! first exposure counted as the new watermark; the engine then runs exactly as it
//! does on a warm start, on no events. The learners, gates, guards, bundle and state
//! are the engine's own: nothing here fits or publishes.

use super::statistics::StatisticsRow;
use super::PolicyQuery;
use crate::bundle::BundleDocument;
use crate::config::ProjectConfig;
use crate::engine::{statistics_key, Engine, RetrainInputs, RetrainOptions, RetrainOutcome};
use crate::error::{Error, Result};
use crate::events::{load_events, LoadOptions};
use crate::state::{sha256_hex, ArmTotals, EngineState, PolicyLearning};
use crate::time::format_rfc3339;

/// Retrains the policies of `inputs` (config and bundle; its event files are not
/// read) from `rows`, the result of the queries `sql` wrote for the same config,
/// state and as-of. `source` names the rows' file in errors.
///
/// # Errors
///
/// [`Error::AsOf`] without an as-of (the instant the queries ran through);
/// [`Error::InvalidStatistics`] for a row naming a policy the queries do not cover;
/// otherwise as [`Engine::retrain_loaded`].
pub fn retrain_from_statistics(
    options: RetrainOptions,
    inputs: &RetrainInputs,
    rows: &[StatisticsRow],
    source: &str,
    previous: Option<EngineState>,
) -> Result<RetrainOutcome> {
    let Some(as_of) = options.as_of else {
        return Err(Error::AsOf {
            reason: "a retrain from statistics has no events to take its time from: pass --as-of, the instant the queries ran through".into(),
        });
    };
    let config = ProjectConfig::from_path(&inputs.config)?;
    let doc = BundleDocument::from_path(&inputs.bundle)?;
    let queries = super::policy_queries(
        &config,
        &options.overrides(),
        previous.as_ref(),
        Some(as_of),
    )?;
    for (i, r) in rows.iter().enumerate() {
        if !queries.iter().any(|q| q.policy_id == r.policy_id) {
            return Err(Error::InvalidStatistics {
                file: source.to_owned(),
                line: i as u64 + 1,
                field: "policy_id".into(),
                reason: format!("{} is not a multi-armed policy of the config's optimization section; were the queries written for another config?", r.policy_id),
            });
        }
    }
    let state = totals_state(
        &config,
        &options,
        &doc,
        &queries,
        rows,
        previous.as_ref(),
        as_of,
    );
    let loaded = load_events(&[], LoadOptions::default())?;
    let mut outcome = Engine::new(options)
        .with_state(Some(state))
        .retrain_loaded(&config, doc, loaded)?;
    // The engine saw the rows as a prior: they are this run's new exposures.
    for p in &mut outcome.report.policies {
        for arm in &mut p.arms {
            arm.new_exposures = rows
                .iter()
                .filter(|r| r.policy_id == p.policy_id && r.allocation_name == arm.name)
                .map(|r| r.units)
                .sum();
        }
    }
    Ok(outcome)
}

/// The state the run starts from: `previous`, with each queried policy's totals
/// plus its rows, and its watermark moved to the latest exposure they counted.
fn totals_state(
    config: &ProjectConfig,
    options: &RetrainOptions,
    doc: &BundleDocument,
    queries: &[PolicyQuery],
    rows: &[StatisticsRow],
    previous: Option<&EngineState>,
    as_of: i64,
) -> EngineState {
    let mut state = previous.cloned().unwrap_or_else(|| EngineState {
        as_of: format_rfc3339(as_of),
        seed: options.seed,
        bundle_version: doc.bundle().version.clone(),
        bundle_sha256: sha256_hex(doc.to_json_pretty().as_bytes()),
        policies: Default::default(),
    });
    for q in queries {
        let spec = &config.optimization[&q.policy_id];
        let key = statistics_key(spec, &q.params);
        let old = state.policies.remove(&q.policy_id).unwrap_or_default();
        let mut learning = if old.statistics == key {
            old
        } else {
            // Statistics made another way are not added to; the history stays.
            PolicyLearning {
                allocation_history: old.allocation_history,
                last_status: old.last_status,
                last_updated: old.last_updated,
                ..PolicyLearning::default()
            }
        };
        learning.algorithm = spec.algorithm.as_str().to_owned();
        learning.statistics = key;
        let mine: Vec<&StatisticsRow> =
            rows.iter().filter(|r| r.policy_id == q.policy_id).collect();
        learning.exposures_through = watermark(&learning, q, &mine, as_of);
        for r in mine {
            let a = learning
                .arms
                .entry(r.allocation_name.clone())
                .or_insert(ArmTotals::default());
            a.exposures += r.units;
            a.reward_sum += r.reward_sum;
            a.reward_sum_sq += r.reward_sum_sq;
        }
        state.policies.insert(q.policy_id.clone(), learning);
    }
    state
}

/// The policy's watermark after the rows are added: as the engine's, the later of the
/// previous one and the latest first exposure counted; for rows that do not say
/// (a file without `last_exposed_at`), the instant the queries covered (the as-of,
/// less the maturity).
fn watermark(
    learning: &PolicyLearning,
    q: &PolicyQuery,
    rows: &[&StatisticsRow],
    as_of: i64,
) -> Option<String> {
    let previous = learning
        .exposures_through
        .as_deref()
        .and_then(crate::time::parse_rfc3339);
    let latest = if rows.iter().all(|r| r.last_exposed_at.is_some()) {
        rows.iter().filter_map(|r| r.last_exposed_at).max()
    } else {
        Some(q.through.unwrap_or(as_of))
    };
    previous.max(latest).map(format_rfc3339)
}
