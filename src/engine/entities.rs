//! The per-entity step of a retrain: reward rows joined to the context of the
//! exposure that opened them, grouped by entity, added to the previous state, fitted
//! one bandit per entity ([`crate::policy::entity`]) and published as the bundle's
//! top-level `entityState` (bucket ranges stay as they are: SDKs in bundle mode
//! select by entity weights, not buckets).
//!
//! * **Entity id**: the SDK's rule, `String(context[key])` of each of the bundle's
//!   `entityKeys` joined by `_`, read from the exposure's logged context. SDKs log
//!   only the fields some matched policy lists in `contextLogging.allowedFields`, so
//!   the entity keys (and `countKey`) must be listed there. Rows whose context lacks
//!   an entity key still count in the pooled `_global` statistics and are reported
//!   (`rowsWithoutEntity`).
//! * **Arms**: fixed allocations by name; dynamic allocations by the logged
//!   `allocationName`, which is the index (`"0"`, `"1"`, ...). Rows naming anything
//!   else are reported (`unknownRows`) and not used.
//! * **Allocation count of a dynamic entity**: `countKey` of its latest exposure (the
//!   SDK uses an entity's weights only when their length equals the decision's
//!   count), else one more than the largest index seen. `_global` gets the count most
//!   entities have (the smaller on ties).
//! * **Gates**: the policy's `minExposuresBeforeShift` applies to the pooled arms,
//!   `windowSizeMinutes` and the running state as for any policy; an entity gets its
//!   own weights from `minEntityExposures` exposures on.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde_json::{Map, Value};

use super::report::{EntityReport, PolicyReport};
use super::run::{
    ArmFigures, Counting, PolicyLearner, PolicyRun, Publication, Reuse, Rewarded, Saved,
};
use crate::config::{EntityOptimization, OptimizationSpec, ProjectConfig};
use crate::error::Result;
use crate::policy::{fit_entities, EntityInput, EntityKnobs, PolicyError};
use crate::reward::ArmStats;
use crate::sdk::js;
use crate::sdk::model::{EntityPolicyState, EntityWeights, Policy};
use crate::state::entity_totals::EntityTotals;
use crate::state::PolicyLearning;
use crate::time::format_rfc3339;

/// The bundle's view of a per-entity policy (also what the warehouse statements of
/// per-entity policies read, so the two agree on keys, arms and counts).
pub(crate) struct Layout<'a> {
    /// The bundle's `entityKeys`.
    pub(crate) keys: &'a [String],
    /// `dynamicAllocations.countKey` as the SDK reads it (dynamic policies).
    pub(crate) count_key: Option<String>,
    /// Fixed allocation names (empty for dynamic allocations).
    pub(crate) names: Vec<String>,
}

impl<'a> Layout<'a> {
    /// The layout of a bundle policy; `None` without an `entityConfig`.
    pub(crate) fn of(policy: &'a Policy) -> Option<Self> {
        let e = policy.entity_config.as_ref()?;
        let count_key = count_key(e.dynamic_allocations.as_ref());
        Some(Self {
            keys: &e.entity_keys,
            names: if count_key.is_some() {
                Vec::new()
            } else {
                policy.allocations.iter().map(|a| a.name.clone()).collect()
            },
            count_key,
        })
    }

    /// The arm index of an allocation name: its position among fixed allocations,
    /// or a canonical index (`"0"`, `"1"`, …) for dynamic ones.
    pub(crate) fn arm(&self, name: &str) -> Option<usize> {
        if self.count_key.is_some() {
            name.parse::<usize>().ok().filter(|i| i.to_string() == name)
        } else {
            self.names.iter().position(|n| n == name)
        }
    }
}

/// `dynamicAllocations.countKey` as the SDK reads it.
fn count_key(dynamic: Option<&Value>) -> Option<String> {
    dynamic.filter(|v| !v.is_null()).map(|d| {
        d.get("countKey")
            .map_or_else(|| "undefined".to_owned(), |k| js::to_string(k).into_owned())
    })
}

/// Whether a bundle policy is per-entity (it has an `entityConfig`).
pub(super) fn is_per_entity(policy: &Policy) -> bool {
    policy.entity_config.is_some()
}

/// The entity id of a logged context, as the SDK builds it; `None` when a key is
/// missing or null, or the id is empty.
pub(crate) fn entity_id(ctx: &Map<String, Value>, keys: &[String]) -> Option<String> {
    let mut id = String::new();
    for (i, k) in keys.iter().enumerate() {
        let v = ctx.get(k).filter(|v| !v.is_null())?;
        if i > 0 {
            id.push('_');
        }
        id.push_str(&js::to_string(v));
    }
    (!id.is_empty()).then_some(id)
}

/// The allocation count a logged context gives, as the SDK reads it.
fn allocation_count(ctx: &Map<String, Value>, key: &str) -> Option<u32> {
    let n = js::object_get(ctx, key).as_number()?;
    (n > 0.0 && n.floor() <= f64::from(u32::MAX)).then(|| n.floor() as u32)
}

fn add_at(arms: &mut Vec<ArmStats>, k: usize, s: ArmStats) {
    if arms.len() <= k {
        arms.resize(k + 1, ArmStats::default());
    }
    arms[k] = arms[k].merge(s);
}

fn add_row(into: &mut Vec<ArmStats>, row: &[ArmStats]) {
    for (k, s) in row.iter().enumerate() {
        add_at(into, k, *s);
    }
}

/// A policy's per-entity statistics, this run's rows added.
struct Counted {
    totals: EntityTotals,
    rows_without_entity: u64,
    unknown_rows: u64,
    active: u64,
    new_global: Vec<ArmStats>,
}

/// Reward rows of `policy_id` with the context of the exposure that opened each,
/// ordered by exposure time, unit and allocation (so the result does not depend on
/// the input order).
fn rows_with_context(
    rewards: LazyFrame,
    exposures: LazyFrame,
    policy_id: &str,
) -> Result<DataFrame> {
    Ok(
        crate::reward::rewards_with_context(rewards, exposures, policy_id)
            .sort(
                ["exposed_at", "unit_key", "allocation_name"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .collect()?,
    )
}

fn count_rows(
    df: &DataFrame,
    layout: &Layout<'_>,
    previous: Option<&EntityTotals>,
) -> Result<Counted> {
    let alloc = df.column("allocation_name")?.str()?;
    let at = df.column("exposed_at")?.i64()?;
    let reward = df.column("reward")?.f64()?;
    let context = df.column("context")?.str()?;
    let mut entities: BTreeMap<String, Vec<ArmStats>> = BTreeMap::new();
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut new_global = Vec::new();
    let (mut without, mut unknown) = (0u64, 0u64);
    for i in 0..df.height() {
        let Some(k) = alloc.get(i).and_then(|a| layout.arm(a)) else {
            unknown += 1;
            continue;
        };
        let r = reward.get(i).unwrap_or(f64::NAN);
        if !r.is_finite() {
            return Err(PolicyError::NonFiniteReward {
                allocation: alloc.get(i).unwrap_or_default().to_owned(),
                exposed_at: at.get(i).map(format_rfc3339).unwrap_or_default(),
                reward: r,
            }
            .into());
        }
        let s = ArmStats {
            n: 1,
            sum: r,
            sum_sq: r * r,
        };
        add_at(&mut new_global, k, s);
        let ctx: Option<Map<String, Value>> =
            context.get(i).and_then(|t| serde_json::from_str(t).ok());
        let Some(id) = ctx.as_ref().and_then(|c| entity_id(c, layout.keys)) else {
            without += 1;
            continue;
        };
        if let (Some(ck), Some(c)) = (layout.count_key.as_deref(), ctx.as_ref()) {
            // Rows are in exposure-time order: the last count seen is the latest.
            if let Some(n) = allocation_count(c, ck) {
                counts.insert(id.clone(), n);
            }
        }
        add_at(entities.entry(id).or_default(), k, s);
    }
    let active = entities.len() as u64;
    let mut totals = previous.cloned().unwrap_or_else(|| EntityTotals {
        entity_keys: layout.keys.to_vec(),
        count_key: layout.count_key.clone(),
        allocations: layout.names.clone(),
        ..EntityTotals::default()
    });
    add_row(&mut totals.global.0, &new_global);
    for (id, row) in entities {
        add_row(&mut totals.entities.entry(id).or_default().0, &row);
    }
    totals.counts.extend(counts);
    if layout.count_key.is_none() {
        // Fixed allocations: every row has one entry per allocation.
        let k = layout.names.len();
        totals.global.0.resize(k, ArmStats::default());
        for r in totals.entities.values_mut() {
            r.0.resize(k, ArmStats::default());
        }
    }
    Ok(Counted {
        totals,
        rows_without_entity: without,
        unknown_rows: unknown,
        active,
        new_global,
    })
}

/// Each entity's number of allocations, and `_global`'s.
fn sizes(totals: &EntityTotals, fixed: Option<usize>) -> (BTreeMap<&str, usize>, usize) {
    let per: BTreeMap<&str, usize> = totals
        .entities
        .iter()
        .map(|(id, row)| {
            let k = fixed
                .or_else(|| totals.counts.get(id).map(|&c| c as usize))
                .unwrap_or(row.0.len());
            (id.as_str(), k)
        })
        .collect();
    if let Some(k) = fixed {
        return (per, k);
    }
    let mut freq: BTreeMap<usize, u64> = BTreeMap::new();
    for &k in per.values() {
        *freq.entry(k).or_default() += 1;
    }
    // Most frequent; `max_by_key` keeps the last maximum, so iterate from the largest
    // count down to make ties go to the smaller one.
    let global = freq
        .iter()
        .rev()
        .max_by_key(|&(_, f)| *f)
        .map_or(totals.global.0.len(), |(&k, _)| k);
    (per, global)
}

fn resized(row: &[ArmStats], k: usize) -> Vec<ArmStats> {
    let mut v: Vec<ArmStats> = row.iter().take(k).copied().collect();
    v.resize(k, ArmStats::default());
    v
}

/// The weights the SDK served: the entity's when their length matches, else
/// `_global`'s, else uniform.
fn served(state: Option<&EntityPolicyState>, id: Option<&str>, k: usize) -> Vec<f64> {
    state
        .and_then(|s| {
            id.and_then(|id| s.entities.get(id))
                .filter(|w| w.weights.len() == k)
                .or(Some(&s.global).filter(|w| w.weights.len() == k))
        })
        .map_or_else(|| vec![1.0 / k as f64; k], |w| w.weights.clone())
}

fn same_weights(a: Option<&EntityPolicyState>, b: &EntityPolicyState) -> bool {
    a.is_some_and(|a| {
        a.global.weights == b.global.weights
            && a.entities.len() == b.entities.len()
            && a.entities
                .iter()
                .zip(&b.entities)
                .all(|((ia, wa), (ib, wb))| ia == ib && wa.weights == wb.weights)
    })
}

/// Per-entity policies (an `entityConfig` in the bundle).
pub(super) struct PerEntity<'a> {
    layout: Layout<'a>,
}

impl<'a> PerEntity<'a> {
    /// The learner of a per-entity policy; `None` when the bundle policy has no
    /// `entityConfig`.
    pub(super) fn of(policy: &'a Policy) -> Option<Self> {
        Layout::of(policy).map(|layout| Self { layout })
    }
}

/// A per-entity policy's statistics after counting.
pub(super) struct EntityStats {
    counted: Counted,
    /// Each entity's number of allocations.
    per: BTreeMap<String, usize>,
    /// The pooled arms, `_global`'s size.
    global: Vec<ArmStats>,
    /// Allocations fixed by name (`None`: dynamic, counted per entity).
    fixed: Option<usize>,
}

impl PolicyLearner for PerEntity<'_> {
    type Stats = EntityStats;

    fn notes(&self, run: &PolicyRun<'_>) -> Vec<String> {
        let cumulative = run
            .params
            .as_ref()
            .is_ok_and(|p| p.mode == crate::config::AttributionMode::Cumulative);
        cumulative
            .then(|| "cumulative attribution counts each unit × allocation once, for the entity of its first exposure; use attribution: decision so each decision counts for its own entity".to_owned())
            .into_iter()
            .collect()
    }

    fn reuse(&self, _run: &PolicyRun<'_>, prior: &PolicyLearning) -> Reuse {
        let l = &self.layout;
        match &prior.entities {
            None => Reuse::No,
            Some(t) if t.compatible(l.keys, l.count_key.as_deref(), &l.names) => Reuse::Yes,
            Some(_) => Reuse::Dropped(
                "the previous state's per-entity statistics were recorded for other entity keys, countKey or allocations; counted afresh from this run's events"
                    .to_owned(),
            ),
        }
    }

    fn count(
        &self,
        run: &PolicyRun<'_>,
        rewarded: Rewarded,
        prior: Option<&PolicyLearning>,
    ) -> Result<Counting<EntityStats>> {
        let df = rows_with_context(
            rewarded.rows(&run.policy.id)?,
            run.ctx.source.exposures(),
            &run.policy.id,
        )?;
        let previous = prior.and_then(|p| p.entities.as_ref());
        let counted = count_rows(&df, &self.layout, previous)?;
        let fixed = self
            .layout
            .count_key
            .is_none()
            .then_some(self.layout.names.len());
        let (per, k_global) = sizes(&counted.totals, fixed);
        let per = per.into_iter().map(|(id, k)| (id.to_owned(), k)).collect();
        let global = resized(&counted.totals.global.0, k_global);
        Ok(Counting::Counted(EntityStats {
            counted,
            per,
            global,
            fixed,
        }))
    }

    fn arms(&self, _run: &PolicyRun<'_>, s: &EntityStats) -> Option<Vec<ArmFigures>> {
        s.fixed?;
        Some(
            s.global
                .iter()
                .enumerate()
                .map(|(i, g)| ArmFigures {
                    exposures: g.n,
                    new_exposures: s.counted.new_global.get(i).map_or(0, |n| n.n),
                    reward_sum: g.sum,
                    reward_sum_sq: g.sum_sq,
                })
                .collect(),
        )
    }

    fn count_notes(&self, _run: &PolicyRun<'_>, s: &EntityStats) -> Vec<String> {
        let c = &s.counted;
        let mut notes = Vec::new();
        if c.rows_without_entity > 0 {
            notes.push(format!(
                "{} reward rows had no entity id in their logged context (counted in _global only): list {} in the policy's contextLogging.allowedFields",
                c.rows_without_entity,
                self.layout.keys.join(", ")
            ));
        }
        if c.unknown_rows > 0 {
            notes.push(format!(
                "{} reward rows name no allocation of the policy, ignored",
                c.unknown_rows
            ));
        }
        notes
    }

    fn describe(&self, s: &EntityStats, report: &mut PolicyReport) {
        let c = &s.counted;
        report.entities = Some(EntityReport {
            entities: c.totals.entities.len() as u64,
            active: c.active,
            rows_without_entity: c.rows_without_entity,
            unknown_rows: c.unknown_rows,
            ..EntityReport::default()
        });
    }

    fn pooled(&self, _run: &PolicyRun<'_>, s: &EntityStats) -> (Vec<(String, u64)>, &'static str) {
        let named = s
            .global
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let name = self.layout.names.get(i).cloned();
                (name.unwrap_or_else(|| i.to_string()), g.n)
            })
            .collect();
        (named, " over all entities")
    }

    fn fit(
        &self,
        run: &PolicyRun<'_>,
        s: &EntityStats,
        report: &mut PolicyReport,
    ) -> std::result::Result<Option<Publication>, String> {
        let policy = run.policy;
        let live = run
            .ctx
            .input
            .entity_state
            .as_ref()
            .and_then(|all| all.get(&policy.id));
        let inputs: Vec<EntityInput> = s
            .counted
            .totals
            .entities
            .iter()
            .map(|(id, row)| {
                let k = s.per[id.as_str()];
                EntityInput {
                    id: id.clone(),
                    arms: resized(&row.0, k),
                    served: Some(served(live, Some(id), k)),
                }
            })
            .collect();
        let served_global = served(live, None, s.global.len());
        let knobs = run.spec.entity_config.clone().unwrap_or_default();
        let learner =
            crate::policy::Learner::new(run.spec.algorithm_params(), run.spec.objective())
                .map_err(|e| e.to_string())?;
        let fit = fit_entities(
            &learner,
            knobs_of(run.spec, &knobs),
            &s.global,
            Some(&served_global),
            &inputs,
            &policy.id,
            run.ctx.seed,
        )
        .map_err(|e| e.to_string())?;
        let weights = |id: &str, w: Vec<f64>| EntityWeights {
            entity_id: id.to_owned(),
            weights: w,
            computed_at: run.ctx.stamp.to_owned(),
        };
        let state = EntityPolicyState {
            global: weights("_global", fit.global.clone()),
            entities: inputs
                .iter()
                .zip(fit.entities)
                .filter_map(|(e, w)| Some((e.id.clone(), weights(&e.id, w?))))
                .collect(),
        };
        if let Some(reason) = std::iter::once(&state.global)
            .chain(state.entities.values())
            .find_map(|w| {
                crate::publish::guard::check_weights(&w.weights)
                    .err()
                    .map(|r| format!("entity {}: {r}", w.entity_id))
            })
        {
            return Err(reason);
        }
        if s.fixed.is_some() {
            if let Some(p) = &fit.global_probability_best {
                for (r, &p) in report.arms.iter_mut().zip(p) {
                    r.probability_best = Some(p);
                }
            }
        }
        if let Some(er) = report.entities.as_mut() {
            er.published = state.entities.len() as u64;
            er.below_minimum = er.entities - er.published;
            er.global_weights = state.global.weights.clone();
        }
        Ok((!same_weights(live, &state)).then_some(Publication::Entities(state)))
    }

    fn saved(&self, s: EntityStats) -> Saved {
        Saved::Entities(s.counted.totals)
    }
}

fn knobs_of(spec: &OptimizationSpec, e: &EntityOptimization) -> EntityKnobs {
    EntityKnobs {
        min_entity_exposures: e.min_entity_exposures,
        prior_strength: e.prior_strength,
        exploration_floor: spec.exploration_floor,
        max_shift_per_update: spec.max_shift_per_update,
    }
}

/// Checks each optimised policy's `entityConfig` against the bundle's: the bundle
/// policy must be per-entity, and keys and `countKey` given in the config must equal
/// the bundle's.
///
/// # Errors
///
/// [`Error::InvalidConfig`] at `optimization.<policy>.entityConfig...`.
pub fn cross_check_entities(
    config: &ProjectConfig,
    doc: &crate::bundle::BundleDocument,
    source: &str,
) -> Result<()> {
    for (policy_id, spec) in &config.optimization {
        let Some((li, pi)) = doc.find_policy(policy_id) else {
            continue;
        };
        let policy = &doc.bundle().layers[li].policies[pi];
        let err = |key: &str, reason: String| {
            config.error_at(
                source,
                format!("optimization.{policy_id}.entityConfig{key}"),
                reason,
            )
        };
        let Some(e) = &spec.entity_config else {
            if is_per_entity(policy) && spec.algorithm == crate::config::Algorithm::LinearContextual
            {
                return Err(err("", format!("policy \"{policy_id}\" is per-entity in the bundle; linear_contextual has no per-entity form")));
            }
            continue;
        };
        let Some(layout) = Layout::of(policy) else {
            return Err(err(
                "",
                format!("policy \"{policy_id}\" has no entityConfig in bundle {}; per-entity learning needs the bundle's entityConfig, which the SDKs read", doc.source()),
            ));
        };
        if let Some(keys) = &e.entity_keys {
            if keys.as_slice() != layout.keys {
                return Err(err(
                    ".entityKeys",
                    format!(
                        "{keys:?} differs from the bundle's entityKeys {:?}",
                        layout.keys
                    ),
                ));
            }
        }
        if let Some(d) = &e.dynamic_allocations {
            if layout.count_key.as_deref() != Some(d.count_key.as_str()) {
                return Err(err(
                    ".dynamicAllocations.countKey",
                    match &layout.count_key {
                        Some(k) => format!(
                            "\"{}\" differs from the bundle's countKey \"{k}\"",
                            d.count_key
                        ),
                        None => "the bundle's policy has fixed allocations (no dynamicAllocations)"
                            .to_owned(),
                    },
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
