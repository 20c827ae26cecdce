//! Per-allocation metrics of every optimised policy, from the same attributions a
//! retrain uses: one attribution per goal and settings serves a policy's metrics,
//! its breakdowns by exposure context, and its attribution report. Breakdowns by an
//! event dimension restrict the goal events, so each value is attributed on its own
//! (with the whole run's cap, so the slices are capped alike).

use polars::prelude::{col, lit, DataFrame, IntoLazy, LazyFrame};
use rayon::prelude::*;

use std::collections::BTreeMap;

use super::partitioned::{merge_rows, PassOptions};
use super::rewards::{
    attribute_part, goal_rewards, policy_rewards, Attributed, Attributions, GoalRewards,
};
use super::{Engine, RetrainInputs};
use crate::attribution::{AttributionParams, AttributionReport};
use crate::config::{AttributionMode, OptimizationSpec, ProjectConfig};
use crate::enforce::enforce;
use crate::error::Result;
use crate::events::{EventTables, LoadReport};
use crate::goal::GoalValueReport;
use crate::metrics::{AllocationMetrics, AnalysisUnit, Breakdown, PolicyMetrics};
use crate::sdk::model::Policy;
use crate::timing::timed;

impl Engine<'_> {
    /// Per-allocation metrics of every optimised policy, with the load report.
    ///
    /// # Errors
    ///
    /// As [`Engine::retrain`] for inputs; [`crate::Error::Polars`] if a query fails.
    pub fn metrics(&self, inputs: &RetrainInputs) -> Result<(Vec<PolicyMetrics>, LoadReport)> {
        let (out, _, load) = self.metrics_with_attribution(inputs, &[])?;
        Ok((out, load))
    }

    /// [`Engine::metrics`] with further breakdowns by exposure-context keys
    /// (`country`, `device`): each value's rows count only the units exposed in that
    /// context, numerator and denominator alike ([`crate::metrics::with_context_dimension`]).
    ///
    /// # Errors
    ///
    /// As [`Engine::metrics`].
    pub fn metrics_by_context(
        &self,
        inputs: &RetrainInputs,
        context_keys: &[String],
    ) -> Result<(Vec<PolicyMetrics>, LoadReport)> {
        let (out, _, load) = self.metrics_with_attribution(inputs, context_keys)?;
        Ok((out, load))
    }

    /// [`Engine::metrics_by_context`], with the attribution report of every optimised
    /// policy.
    ///
    /// # Errors
    ///
    /// As [`Engine::metrics`].
    pub fn metrics_with_attribution(
        &self,
        inputs: &RetrainInputs,
        context_keys: &[String],
    ) -> Result<(Vec<PolicyMetrics>, Vec<AttributionReport>, LoadReport)> {
        self.metrics_per(inputs, context_keys, AnalysisUnit::Unit)
    }

    /// [`Engine::metrics_with_attribution`] per analysis unit: [`AnalysisUnit::Unit`]
    /// (the platform's: unique units exposed, in both modes) or
    /// [`AnalysisUnit::Decision`] (decision mode's reward rows, the unit a per-decision
    /// learner reads, with a cluster-robust interval by unit).
    ///
    /// # Errors
    ///
    /// As [`Engine::metrics`]; [`crate::Error::InvalidConfig`] at the policy's
    /// `attribution` key for the decision view of a policy in cumulative mode, whose
    /// reward rows are units, not decisions.
    pub fn metrics_per(
        &self,
        inputs: &RetrainInputs,
        context_keys: &[String],
        per: AnalysisUnit,
    ) -> Result<(Vec<PolicyMetrics>, Vec<AttributionReport>, LoadReport)> {
        let (config, doc) = self.read_config(inputs)?;
        let mut policies = Vec::new();
        for (policy_id, spec) in &config.optimization {
            let policy_ref = doc
                .policy_ref(policy_id)
                .expect("cross-checked when read: every optimised policy is in the bundle");
            let params = self.options.overrides().params(spec)?;
            if per == AnalysisUnit::Decision && params.mode == AttributionMode::Cumulative {
                return Err(config.error_at(
                    &inputs.config.display().to_string(),
                    format!("optimization.{policy_id}.attribution"),
                    "cumulative attribution credits units, not decisions: the per-decision view needs `attribution: decision` (or --attribution decision)".into(),
                ));
            }
            policies.push((doc.policy(&policy_ref)?, spec, params));
        }
        let partitions = self.partitions_for(&inputs.events)?;
        if partitions > 1 {
            return self.metrics_partitioned(
                &config,
                &doc,
                &inputs.events,
                partitions,
                &policies,
                context_keys,
                per,
            );
        }
        let mut loaded = timed("load", || self.load_events(&config, &inputs.events))?;
        enforce(&config, &mut loaded)?;
        let tables = crate::attribution::for_population(&loaded.tables, self.options.population)?;
        let attributions = Attributions::new(&tables);
        let (out, reports) = each_policy(&policies, &attributions, |i, goal| {
            let (policy, spec, params) = policies[i];
            let dimension = |dimension: &str| -> Result<DimensionSlices> {
                let event = &spec.goal.event;
                let values = sorted_values(
                    crate::goal::dimension_values(&tables, event, dimension)?
                        .into_iter()
                        .map(|(_, v)| v)
                        .collect(),
                );
                let mut out = Vec::new();
                for value in values {
                    let restricted = crate::goal::restrict_to_dimension(
                        &tables,
                        event,
                        dimension,
                        value.as_deref(),
                    )?;
                    // The whole run's cap, so that the slices are capped alike.
                    let rewards =
                        policy_rewards(&restricted, &spec.goal, &params, Some(&goal.rewards.caps))?;
                    out.push((value, rewards.lazy()));
                }
                Ok(out)
            };
            let slices = Slices {
                exposures: tables.exposures.clone().lazy(),
                policy,
                spec,
                goal: &goal.rewards,
                per,
                dimension: &dimension,
            };
            slices.all(&config, context_keys)
        })?;
        Ok((out, reports, loaded.report))
    }

    /// [`Engine::metrics_per`] over a log split into partitions: the whole policy and
    /// the context breakdowns from the merged reward rows and contexts; the breakdowns
    /// by event dimension in a second pass over the partitions, once every value of
    /// the dimension is known (a value's rows come from every partition, those without
    /// its events included).
    #[allow(clippy::too_many_arguments)]
    fn metrics_partitioned(
        &self,
        config: &ProjectConfig,
        doc: &crate::bundle::BundleDocument,
        paths: &[std::path::PathBuf],
        partitions: usize,
        policies: &[(&Policy, &OptimizationSpec, AttributionParams)],
        context_keys: &[String],
        per: AnalysisUnit,
    ) -> Result<(Vec<PolicyMetrics>, Vec<AttributionReport>, LoadReport)> {
        let population = Some(self.options.population);
        // (policy, dimension) → every value seen
        let mut values: BTreeMap<(usize, String), Vec<Option<String>>> = BTreeMap::new();
        let dims: Vec<Vec<&str>> = policies
            .iter()
            .map(|(_, spec, _)| event_dimensions(config, spec))
            .collect();
        let mut each = |tables: &EventTables| -> Result<()> {
            for (i, (_, spec, _)) in policies.iter().enumerate() {
                for &d in &dims[i] {
                    let seen = crate::goal::dimension_values(tables, &spec.goal.event, d)?;
                    let v = values.entry((i, d.to_owned())).or_default();
                    v.extend(seen.into_iter().map(|(_, v)| v));
                    *v = sorted_values(std::mem::take(v));
                }
            }
            Ok(())
        };
        let options = PassOptions {
            every_context: !context_keys.is_empty(),
            population,
            plans: &[],
        };
        let pass = self.partition_pass(config, doc, paths, partitions, &options, &mut each)?;
        let slices = dimension_rows(config, &pass, policies, &values, population)?;
        let mut merged = pass.merged;
        let attributions = Attributions::merged(std::mem::take(&mut merged.attributed));
        let (out, reports) = each_policy(policies, &attributions, |i, goal| {
            let (policy, spec, params) = policies[i];
            let dimension = |dimension: &str| -> Result<DimensionSlices> {
                let vs = values
                    .get(&(i, dimension.to_owned()))
                    .cloned()
                    .unwrap_or_default();
                let mut out = Vec::new();
                for v in vs {
                    let parts = slices
                        .get(&(i, dimension.to_owned(), v.clone()))
                        .cloned()
                        .unwrap_or_default();
                    let raw = merge_rows(parts, params.mode)?;
                    let rewards = goal_rewards(
                        raw,
                        &spec.goal,
                        GoalValueReport::default(),
                        Some(&goal.rewards.caps),
                    )?;
                    out.push((v, rewards.lazy()));
                }
                Ok(out)
            };
            let slices = Slices {
                exposures: merged.contexts.clone().lazy(),
                policy,
                spec,
                goal: &goal.rewards,
                per,
                dimension: &dimension,
            };
            slices.all(config, context_keys)
        })?;
        Ok((out, reports, pass.load))
    }
}

/// Each policy's metrics (`metrics` of the policy's index and attribution) and
/// attribution report, in the policies' order. Each goal and settings is attributed
/// once, then the policies run in parallel: each is a few independent queries over
/// its goal's reward rows, a third of a `metrics` run when they ran one by one. An
/// error is the first in the policies' order.
fn each_policy(
    policies: &[(&Policy, &OptimizationSpec, AttributionParams)],
    attributions: &Attributions<'_>,
    metrics: impl Fn(usize, &Attributed) -> Result<PolicyMetrics> + Sync,
) -> Result<(Vec<PolicyMetrics>, Vec<AttributionReport>)> {
    let goals = policies
        .iter()
        .map(|(_, spec, params)| attributions.get(&spec.goal, params))
        .collect::<Result<Vec<_>>>()?;
    let goals: Vec<&Attributed> = goals.iter().map(|g| &**g).collect();
    let tables = attributions.tables();
    let done: Vec<Result<(PolicyMetrics, AttributionReport)>> = goals
        .into_par_iter()
        .enumerate()
        .map(|(i, goal)| {
            let (policy, spec, params) = &policies[i];
            let report = timed("  report", || {
                goal.report(tables, &spec.goal, params, &policy.id)
            })?;
            Ok((timed("  policy metrics", || metrics(i, goal))?, report))
        })
        .collect();
    Ok(done
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip())
}

/// Reward rows per (policy index, dimension, value), one frame per partition.
type DimensionRows = BTreeMap<(usize, String, Option<String>), Vec<DataFrame>>;

/// Reward rows per (policy, dimension, value) and partition: the second pass of a
/// partitioned `metrics`, once every value is known. A value's rows come from every
/// partition, those without its events included (their units' rows without reward).
fn dimension_rows(
    config: &ProjectConfig,
    pass: &super::partitioned::PartitionPass,
    policies: &[(&Policy, &OptimizationSpec, AttributionParams)],
    values: &BTreeMap<(usize, String), Vec<Option<String>>>,
    population: Option<crate::attribution::Population>,
) -> Result<DimensionRows> {
    let mut slices = DimensionRows::new();
    if values.is_empty() {
        return Ok(slices);
    }
    for p in 0..pass.spilled.len() {
        let (part, _) = super::partitioned::partition_tables(config, &pass.spilled, p, population)?;
        for ((i, d), vs) in values {
            let (_, spec, params) = policies[*i];
            for v in vs {
                let restricted = crate::goal::restrict_to_dimension(
                    &part.tables,
                    &spec.goal.event,
                    d,
                    v.as_deref(),
                )?;
                let raw = attribute_part(&restricted, &spec.goal, &params, &[])?.raw;
                slices
                    .entry((*i, d.clone(), v.clone()))
                    .or_default()
                    .push(raw);
            }
        }
    }
    Ok(slices)
}

/// The properties of a policy's goal event marked `dimension: true`.
fn event_dimensions<'c>(config: &'c ProjectConfig, spec: &OptimizationSpec) -> Vec<&'c str> {
    config
        .schema(&spec.goal.event)
        .map(|s| {
            s.properties
                .iter()
                .filter(|(_, p)| p.schema.dimension)
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// Values sorted, `None` (the dimension absent) last, each once.
fn sorted_values(mut values: Vec<Option<String>>) -> Vec<Option<String>> {
    values.sort_by(|a, b| (a.is_none(), a).cmp(&(b.is_none(), b)));
    values.dedup();
    values
}

/// A dimension's values (sorted, `None` last), each with its reward rows.
type DimensionSlices = Vec<(Option<String>, LazyFrame)>;

/// One policy's metrics and their slices.
struct Slices<'a> {
    /// Exposure rows with their context (for breakdowns by context).
    exposures: LazyFrame,
    policy: &'a Policy,
    spec: &'a OptimizationSpec,
    goal: &'a GoalRewards,
    per: AnalysisUnit,
    /// A dimension's values (sorted, `None` last), each with its reward rows.
    dimension: &'a dyn Fn(&str) -> Result<DimensionSlices>,
}

impl Slices<'_> {
    fn metrics_of(&self, rewards: LazyFrame) -> Result<PolicyMetrics> {
        crate::metrics::policy_metrics_by(
            rewards,
            self.policy,
            self.spec.control.as_deref(),
            self.spec.goal.goal_type,
            self.per,
        )
    }

    /// The policy's metrics with its breakdowns by `context_keys` and by its goal
    /// event's dimensions.
    fn all(&self, config: &ProjectConfig, context_keys: &[String]) -> Result<PolicyMetrics> {
        let mut metrics = self.whole()?;
        for key in context_keys {
            metrics.breakdowns.extend(self.by_context(key)?);
        }
        for dimension in event_dimensions(config, self.spec) {
            metrics.breakdowns.extend(self.by_dimension(dimension)?);
        }
        Ok(metrics)
    }

    /// The policy's metrics over every reward row.
    fn whole(&self) -> Result<PolicyMetrics> {
        self.metrics_of(self.goal.lazy())
    }

    /// Rows by the value of an exposure-context key.
    fn by_context(&self, key: &str) -> Result<Vec<AllocationMetrics>> {
        let sliced: DataFrame = crate::metrics::with_context_dimension(
            self.goal.lazy(),
            self.exposures.clone(),
            &self.policy.id,
            key,
        )?;
        let column = sliced.column("dimension_value")?.str()?;
        let values = sorted_values(
            (0..column.len())
                .map(|i| column.get(i).map(str::to_owned))
                .collect(),
        );
        let mut out = Vec::new();
        for value in values {
            let slice = match &value {
                Some(v) => col("dimension_value").eq(lit(v.as_str())),
                None => col("dimension_value").is_null(),
            };
            let split = self.metrics_of(sliced.clone().lazy().filter(slice))?;
            out.extend(labelled(split, &format!("context.{key}"), &value));
        }
        Ok(out)
    }

    /// Goal events by the value of one of their dimensions.
    fn by_dimension(&self, dimension: &str) -> Result<Vec<AllocationMetrics>> {
        let mut out = Vec::new();
        for (value, rewards) in (self.dimension)(dimension)? {
            let split = self.metrics_of(rewards)?;
            out.extend(labelled(split, dimension, &value));
        }
        Ok(out)
    }
}

/// A slice's allocations, labelled with the slice.
fn labelled(
    split: PolicyMetrics,
    dimension: &str,
    value: &Option<String>,
) -> impl Iterator<Item = AllocationMetrics> {
    let dimension = dimension.to_owned();
    let value = value.clone();
    split.allocations.into_iter().map(move |mut a| {
        a.breakdown = Some(Breakdown {
            dimension: dimension.clone(),
            dimension_value: value.clone(),
        });
        a
    })
}
