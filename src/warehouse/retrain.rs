//! A retrain that fits from warehouse statistics instead of events.
//!
//! The statistics are what the engine keeps between runs anyway: per-allocation
//! sums through a watermark (`state.json`). So the rows become the totals of a
//! state, added to the previous state's where it was made under the same settings
//! (the queries then covered only exposures after its watermark), with the latest
//! first exposure counted as the new watermark; the engine then runs exactly as it
//! does on a warm start, on no events. The learners, gates, guards, bundle and state
//! are the engine's own: nothing here fits or publishes.

use super::entities::{entity_queries, entity_totals, EntityQuery, EntityRows};
use super::linear::LinearQuery;
use super::statistics::StatisticsRow;
use super::PolicyQuery;
use crate::bundle::BundleDocument;
use crate::config::{DesiredDirection, ProjectConfig};
use crate::engine::{statistics_key, Engine, RetrainInputs, RetrainOptions, RetrainOutcome};
use crate::error::LinearError;
use crate::error::{Error, Result};
use crate::events::{load_events, LoadOptions};
use crate::policy::linear_state::LinearTotals;
use crate::reward::ArmStats;
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
    let plan = Plan::new(&config, &doc, &options, previous.as_ref(), as_of)?;
    fit_statistics(options, &config, doc, &plan, rows, source, previous)
}

/// What the queries of a run cover: its multi-armed and linear contextual policies,
/// with their spans (after the state's watermarks, through the as-of less maturity).
pub(super) struct Plan {
    /// The multi-armed policies (some may read warehouse-native definitions).
    pub queries: Vec<PolicyQuery>,
    /// The linear contextual policies.
    pub linear: Vec<LinearQuery>,
    /// The per-entity policies.
    pub entities: Vec<EntityQuery>,
}

impl Plan {
    /// The plan of `config` for a run at `as_of` after `previous`.
    pub(super) fn new(
        config: &ProjectConfig,
        doc: &BundleDocument,
        options: &RetrainOptions,
        previous: Option<&EngineState>,
        as_of: i64,
    ) -> Result<Self> {
        let overrides = options.overrides();
        let entities = entity_queries(config, doc, &overrides, previous, Some(as_of))?;
        let mut queries = super::policy_queries(config, &overrides, previous, Some(as_of))?;
        // A policy the bundle makes per-entity is one, whatever its config says.
        queries.retain(|q| !entities.iter().any(|e| e.query.policy_id == q.policy_id));
        Ok(Self {
            queries,
            linear: super::linear_queries(config, doc, &overrides, previous, Some(as_of))?,
            entities,
        })
    }
}

/// Fits from `rows`, the result of `plan`'s queries, with the config and bundle
/// already read (`options.as_of` set): the rows become the totals of a state and the
/// engine runs on no events.
pub(super) fn fit_statistics(
    options: RetrainOptions,
    config: &ProjectConfig,
    doc: BundleDocument,
    plan: &Plan,
    rows: &[StatisticsRow],
    source: &str,
    previous: Option<EngineState>,
) -> Result<RetrainOutcome> {
    let as_of = options.as_of.ok_or_else(|| Error::AsOf {
        reason: "a retrain from statistics needs the instant the queries ran through".into(),
    })?;
    for (i, r) in rows.iter().enumerate() {
        let line = i as u64 + 1;
        let bad = |field: &str, reason: String| Error::InvalidStatistics {
            file: source.to_owned(),
            line,
            field: field.into(),
            reason,
        };
        if plan
            .entities
            .iter()
            .any(|q| q.query.policy_id == r.policy_id)
        {
            if r.entity.is_none() {
                return Err(bad("entity_keys", format!("{} is a per-entity policy: its rows need the entity columns `bandit-engine sql` writes for it", r.policy_id)));
            }
            continue;
        }
        if r.entity.is_some() {
            return Err(bad("entity_keys", format!("{} is not a per-entity policy of the config and bundle: its rows carry no entity columns", r.policy_id)));
        }
        let linear = plan
            .linear
            .iter()
            .find(|q| q.query.policy_id == r.policy_id);
        let multi = plan.queries.iter().any(|q| q.policy_id == r.policy_id);
        match (multi, linear, &r.linear) {
            (true, _, None) => {}
            (_, Some(q), Some(l)) => {
                if !q.allocations.contains(&r.allocation_name) {
                    return Err(bad("allocation_name", format!("policy {} has no allocation {} in the bundle", r.policy_id, r.allocation_name)));
                }
                if l.gram.len() != l.dim() * (l.dim() + 1) / 2 || l.rx.len() != l.dim() {
                    return Err(bad("features", "the sums do not have the sizes of the layout".into()));
                }
            }
            (_, Some(_), None) => return Err(bad("features", format!("{} is a linear contextual policy: its rows need the features, xx_i_j and rx_i columns `bandit-engine sql` writes for it", r.policy_id))),
            (true, None, Some(_)) => return Err(bad("features", format!("{} is a multi-armed policy: its rows carry no linear sums", r.policy_id))),
            (false, None, _) => return Err(bad("policy_id", format!("{} is not a multi-armed policy (nor a linear contextual or per-entity one) of the config's optimization section; were the queries written for another config?", r.policy_id))),
        }
    }
    let mut state = totals_state(config, &options, &doc, plan, rows, previous.as_ref(), as_of)?;
    let counted = entity_state(config, plan, rows, &mut state, as_of)?;
    let loaded = load_events(&[], LoadOptions::default())?;
    let mut outcome = Engine::new(options)
        .with_state(Some(state))
        .retrain_loaded(config, doc, loaded)?;
    // The engine saw the rows as a prior: they are this run's new exposures.
    for p in &mut outcome.report.policies {
        for arm in &mut p.arms {
            arm.new_exposures = rows
                .iter()
                .filter(|r| r.policy_id == p.policy_id && r.allocation_name == arm.name)
                .map(|r| r.units)
                .sum();
        }
        // …and the entities they name are this run's.
        if let (Some(er), Some(c)) = (p.entities.as_mut(), counted.get(&p.policy_id)) {
            er.active = c.active;
            er.rows_without_entity = c.rows_without_entity;
            er.unknown_rows = c.unknown_rows;
        }
    }
    Ok(outcome)
}

/// Adds the per-entity policies' rows to `state` (each policy's saved per-entity
/// statistics when its query was written to add to them, else fresh ones, its
/// watermark moved as [`watermark`] moves it); what the rows held, per policy.
fn entity_state(
    config: &ProjectConfig,
    plan: &Plan,
    rows: &[StatisticsRow],
    state: &mut EngineState,
    as_of: i64,
) -> Result<std::collections::BTreeMap<String, EntityRows>> {
    let mut out = std::collections::BTreeMap::new();
    for q in &plan.entities {
        let id = &q.query.policy_id;
        let spec = &config.optimization[id];
        let old = state.policies.remove(id).unwrap_or_default();
        let mut learning = if q.saved.is_some() {
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
        learning.statistics = statistics_key(spec, &q.query.params);
        let mine: Vec<&StatisticsRow> = rows.iter().filter(|r| &r.policy_id == id).collect();
        learning.exposures_through = watermark(&learning, &q.query, &mine, as_of);
        let cells = mine.iter().map(|r| {
            let s = ArmStats {
                n: r.units,
                sum: r.reward_sum,
                sum_sq: r.reward_sum_sq,
            };
            let e = r
                .entity
                .as_ref()
                .expect("checked: per-entity rows carry entity cells");
            (r.allocation_name.as_str(), s, e)
        });
        let counted = entity_totals(q, cells).map_err(|reason| Error::Learner {
            policy_id: id.clone(),
            reason: format!("a statistics row of allocation {reason}"),
        })?;
        learning.entities = Some(counted.totals.clone());
        state.policies.insert(id.clone(), learning);
        out.insert(id.clone(), counted);
    }
    Ok(out)
}

/// The state the run starts from: `previous`, with each queried policy's totals
/// plus its rows, and its watermark moved to the latest exposure they counted.
fn totals_state(
    config: &ProjectConfig,
    options: &RetrainOptions,
    doc: &BundleDocument,
    plan: &Plan,
    rows: &[StatisticsRow],
    previous: Option<&EngineState>,
    as_of: i64,
) -> Result<EngineState> {
    let mut state = previous.cloned().unwrap_or_else(|| EngineState {
        as_of: format_rfc3339(as_of),
        seed: options.seed,
        bundle_version: doc.bundle().version.clone(),
        bundle_sha256: sha256_hex(doc.to_json_pretty().as_bytes()),
        policies: Default::default(),
    });
    let linear = plan.linear.iter().map(|l| (&l.query, Some(l)));
    for (q, lq) in plan.queries.iter().map(|q| (q, None)).chain(linear) {
        let spec = &config.optimization[&q.policy_id];
        let key = statistics_key(spec, &q.params);
        let old = state.policies.remove(&q.policy_id).unwrap_or_default();
        // A linear policy's sums add up only with saved linear sums (as the engine's
        // reuse); the queries then covered only exposures after their watermark.
        let reusable = old.statistics == key && (lq.is_none() || old.linear.is_some());
        let mut learning = if reusable {
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
        if let Some(lq) = lq {
            let decrease = spec.goal.desired_direction == DesiredDirection::Decrease;
            learning.linear =
                linear_totals(lq, &mine, learning.linear.take(), decrease).map_err(|e| {
                    Error::Learner {
                        policy_id: q.policy_id.clone(),
                        reason: e.to_string(),
                    }
                })?;
        }
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
    Ok(state)
}

/// A linear policy's saved sums plus its rows' (in the layout both join to), in the
/// model's units: `Σ r x` negated for a goal to decrease, as the engine fits.
fn linear_totals(
    q: &LinearQuery,
    rows: &[&StatisticsRow],
    saved: Option<LinearTotals>,
    decrease: bool,
) -> std::result::Result<Option<LinearTotals>, LinearError> {
    let Some(first) = rows.iter().find_map(|r| r.linear.as_ref()) else {
        return Ok(saved);
    };
    let features = first.features.clone();
    let d = first.dim();
    let k = q.allocations.len();
    let mut new = LinearTotals {
        features,
        allocations: q.allocations.clone(),
        counts: vec![0; k],
        gram: vec![vec![0.0; d * (d + 1) / 2]; k],
        b: vec![vec![0.0; d]; k],
    };
    for r in rows {
        let l = r
            .linear
            .as_ref()
            .expect("checked: every row of a linear policy has sums");
        if l.features != new.features {
            return Err(LinearError::ShapeMismatch {
                what: "feature layouts of one policy's rows (every row of a statement has its policy's layout)",
                expected: d,
                got: l.dim(),
            });
        }
        let a = q
            .allocations
            .iter()
            .position(|n| n == &r.allocation_name)
            .expect("checked: rows name the bundle's allocations");
        new.counts[a] += r.units;
        for (g, x) in new.gram[a].iter_mut().zip(&l.gram) {
            *g += x;
        }
        for (b, x) in new.b[a].iter_mut().zip(&l.rx) {
            *b += if decrease { -x } else { *x };
        }
    }
    let Some(saved) = saved else {
        return Ok(Some(new));
    };
    let space = saved
        .space()
        .union(&new.space())
        .ok_or(LinearError::ShapeMismatch {
            what: "the state's feature layout and the rows' (fields or kinds differ)",
            expected: saved.space().dim(),
            got: d,
        })?;
    let placed = |t: &LinearTotals| {
        t.stats_in(&space, &q.allocations)?
            .ok_or(LinearError::ShapeMismatch {
                what: "allocations of the state's linear statistics",
                expected: k,
                got: t.allocations.len(),
            })
    };
    let mut sum = placed(&saved)?;
    sum.add(&placed(&new)?)?;
    Ok(Some(LinearTotals::capture(&space, &q.allocations, &sum)))
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
