//! Per-allocation metrics of every optimised policy, from the same attributions a
//! retrain uses: one attribution per goal and settings serves a policy's metrics,
//! its breakdowns by exposure context, and its attribution report. Breakdowns by an
//! event dimension restrict the goal events, so each value is attributed on its own
//! (with the whole run's cap, so the slices are capped alike).

use polars::prelude::{col, lit, DataFrame, IntoLazy, LazyFrame};

use super::rewards::{policy_rewards, Attributions, GoalRewards};
use super::{Engine, RetrainInputs};
use crate::attribution::{AttributionParams, AttributionReport};
use crate::config::{AttributionMode, OptimizationSpec, ProjectConfig};
use crate::enforce::enforce;
use crate::error::Result;
use crate::events::{EventTables, LoadReport};
use crate::metrics::{AllocationMetrics, AnalysisUnit, Breakdown, PolicyMetrics};
use crate::sdk::model::Policy;

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
        let (config, doc, mut loaded) = self.load(inputs)?;
        enforce(&config, &mut loaded)?;
        loaded.tables =
            crate::attribution::for_population(&loaded.tables, self.options.population)?;
        let attributions = Attributions::new(&loaded.tables);
        let mut out = Vec::new();
        let mut reports = Vec::new();
        for (policy_id, spec) in &config.optimization {
            let policy_ref = doc
                .policy_ref(policy_id)
                .expect("cross-checked when loaded: every optimised policy is in the bundle");
            let policy = doc.policy(&policy_ref)?;
            let params = self.options.overrides().params(spec)?;
            if per == AnalysisUnit::Decision && params.mode == AttributionMode::Cumulative {
                return Err(config.error_at(
                    &inputs.config.display().to_string(),
                    format!("optimization.{policy_id}.attribution"),
                    "cumulative attribution credits units, not decisions: the per-decision view needs `attribution: decision` (or --attribution decision)".into(),
                ));
            }
            let goal = attributions.get(&spec.goal, &params)?;
            let slices = Slices {
                tables: &loaded.tables,
                policy,
                spec,
                params: &params,
                goal: &goal.rewards,
                per,
            };
            let mut metrics = slices.whole()?;
            for key in context_keys {
                metrics.breakdowns.extend(slices.by_context(key)?);
            }
            for dimension in event_dimensions(&config, spec) {
                metrics.breakdowns.extend(slices.by_dimension(dimension)?);
            }
            out.push(metrics);
            reports.push(attributions.report(&spec.goal, &params, policy_id)?);
        }
        Ok((out, reports, loaded.report))
    }
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

/// One policy's metrics and their slices.
struct Slices<'a> {
    tables: &'a EventTables,
    policy: &'a Policy,
    spec: &'a OptimizationSpec,
    params: &'a AttributionParams,
    goal: &'a GoalRewards,
    per: AnalysisUnit,
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

    /// The policy's metrics over every reward row.
    fn whole(&self) -> Result<PolicyMetrics> {
        self.metrics_of(self.goal.lazy())
    }

    /// Rows by the value of an exposure-context key.
    fn by_context(&self, key: &str) -> Result<Vec<AllocationMetrics>> {
        let sliced: DataFrame = crate::metrics::with_context_dimension(
            self.goal.lazy(),
            self.tables.lazy().exposures,
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
        let event = &self.spec.goal.event;
        let values = sorted_values(
            crate::goal::dimension_values(self.tables, event, dimension)?
                .into_iter()
                .map(|(_, v)| v)
                .collect(),
        );
        let mut out = Vec::new();
        for value in values {
            let restricted = crate::goal::restrict_to_dimension(
                self.tables,
                event,
                dimension,
                value.as_deref(),
            )?;
            // The whole run's cap, so that the slices are capped alike.
            let rewards = policy_rewards(
                &restricted,
                &self.spec.goal,
                self.params,
                Some(&self.goal.caps),
            )?;
            let split = self.metrics_of(rewards.lazy())?;
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
