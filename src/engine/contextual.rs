//! The `linear_contextual` step of a retrain: reward rows joined to their exposure
//! contexts, a linear fit, and a new `contextualModel` (bucket ranges stay as they
//! are: SDKs serve the model instead).

use polars::prelude::col;
use serde_json::Value;

use super::{learning, Engine, PolicyReport, RunStatus};
use crate::bundle::BundleDocument;
use crate::config::{DesiredDirection, OptimizationSpec};
use crate::events::EventTables;
use crate::policy::linear_state::LinearTotals;
use crate::policy::{fit_linear_policy, DeclaredFeatures};
use crate::reward::{contextual_rows, ContextualRows};
use crate::time::Millis;

/// What fitting a `linear_contextual` policy gives the retrain: its report, the
/// model to publish when updated, and the statistics to save in the state.
pub(super) type ContextualOutcome = (PolicyReport, Option<Value>, Option<LinearTotals>);

impl Engine<'_> {
    /// Fits a `linear_contextual` policy: `Updated` with the model to publish, or a
    /// report saying why not; and the statistics for the next run's warm start.
    ///
    /// Warm start: when the state holds this policy's linear statistics under the same
    /// statistics key, only reward rows exposed after its watermark are read and the
    /// saved sums are added ([`crate::policy::linear_state`]); an incremental run
    /// equals a full run on the union of the data. Saved sums that no longer fit (the
    /// layout or the allocations changed) are dropped and every row given is refitted.
    pub(super) fn fit_contextual(
        &self,
        doc: &BundleDocument,
        li: usize,
        pi: usize,
        spec: &OptimizationSpec,
        tables: &EventTables,
        as_of: Millis,
    ) -> ContextualOutcome {
        let (mut report, _, _) = match self.gate(doc, li, pi, spec, as_of) {
            Ok(g) => g,
            Err(r) => return (r, None, None),
        };
        let fail = |mut r: PolicyReport, status: RunStatus, reason: String| {
            r.status = status;
            r.reason = Some(reason);
            (r, None, None)
        };
        let policy = &doc.bundle().layers[li].policies[pi];
        let allowed: Vec<String> = policy
            .context_logging
            .as_ref()
            .map(|c| c.allowed_fields.clone())
            .unwrap_or_default();
        let key = match self.params(spec) {
            Ok(p) => learning::statistics_key(spec, &p),
            Err(e) => return fail(report, RunStatus::Errored, e.to_string()),
        };
        let prior = learning::reusable(self.previous.as_ref(), &policy.id, &key)
            .and_then(|(p, t)| Some((p, p.linear.as_ref()?, t)));
        let names: Vec<String> = policy.allocations.iter().map(|a| a.name.clone()).collect();
        // Outcome maturity as for multi-armed policies: held-back rows wait for a later
        // run, the watermark stops before them.
        let cutoff = learning::maturity_cutoff(spec, as_of);
        let read = |watermark: Option<Millis>| {
            self.rewards(tables, spec).and_then(|r| {
                let (mature, held) =
                    learning::mature(learning::since(r, watermark), &policy.id, cutoff)?;
                let latest = learning::latest_exposed(mature.clone(), &policy.id)?;
                let rewarded = mature.filter(col("reward").is_not_null());
                Ok((
                    contextual_rows(rewarded, tables.lazy().exposures, &policy.id)?,
                    held,
                    latest,
                ))
            })
        };
        let fit_on = |rows: &ContextualRows, previous: Option<&LinearTotals>| {
            // Rewards stay in the goal's units for the report; the model maximises, so
            // a goal to decrease is fitted on negated rewards.
            let fit_rows = if spec.goal.desired_direction == DesiredDirection::Decrease {
                std::borrow::Cow::Owned(ContextualRows {
                    rewards: rows.rewards.iter().map(|r| -r).collect(),
                    ..rows.clone()
                })
            } else {
                std::borrow::Cow::Borrowed(rows)
            };
            let declared = spec.context_features.as_ref().map(|f| DeclaredFeatures {
                numeric: &f.numeric,
                categorical: &f.categorical,
            });
            fit_linear_policy(
                &spec.algorithm_params().check_linear()?,
                declared,
                &allowed,
                &names,
                &fit_rows,
                policy.contextual_model.as_ref(),
                previous,
            )
        };
        let mut watermark = prior.map(|(_, _, t)| t);
        let mut attempt =
            read(watermark)
                .map_err(|e| e.to_string())
                .and_then(|(rows, held, latest)| {
                    let fit = fit_on(&rows, prior.map(|(_, l, _)| l)).map_err(|e| e.to_string())?;
                    Ok((rows, held, latest, fit))
                });
        let mut dropped = None;
        if let Ok((_, _, _, fit)) = &attempt {
            if let Some(why) = &fit.previous_dropped {
                dropped = Some(format!(
                    "saved linear statistics not reused: {why}; refitted on every row given"
                ));
                watermark = None;
                attempt = read(None)
                    .map_err(|e| e.to_string())
                    .and_then(|(rows, held, latest)| {
                        let fit = fit_on(&rows, None).map_err(|e| e.to_string())?;
                        Ok((rows, held, latest, fit))
                    });
            }
        }
        let (rows, fit) = match attempt {
            Ok((rows, held, latest, fit)) => {
                report.immature_exposures = held;
                report.matured_through = cutoff.map(crate::time::format_rfc3339);
                report.statistics_through = learning::advance(watermark, latest);
                (rows, fit)
            }
            Err(e) => return fail(report, RunStatus::Errored, e),
        };
        let saved_arms = prior.filter(|_| dropped.is_none()).map(|(p, _, _)| &p.arms);
        for (r, ((&n, &new), name)) in report
            .arms
            .iter_mut()
            .zip(fit.counts.iter().zip(&fit.new_counts).zip(&names))
        {
            r.exposures = n;
            r.new_exposures = new;
            let (mut sum, mut sum_sq) = rows
                .allocations
                .iter()
                .zip(&rows.rewards)
                .filter(|(a, _)| *a == name)
                .fold((0.0, 0.0), |(s, q), (_, r)| (s + r, q + r * r));
            if let Some(t) = saved_arms.and_then(|arms| arms.get(name)) {
                sum += t.reward_sum;
                sum_sq += t.reward_sum_sq;
            }
            r.reward_sum = sum;
            r.reward_sum_sq = sum_sq;
            r.mean = (n > 0).then(|| sum / n as f64);
        }
        report.counted = true;
        let totals = Some(fit.totals.clone());
        let notes: Vec<String> = dropped
            .into_iter()
            .chain((fit.unknown_rows > 0).then(|| {
                format!(
                    "{} reward rows name allocations not in the bundle, ignored",
                    fit.unknown_rows
                )
            }))
            .collect();
        report.reason = (!notes.is_empty()).then(|| notes.join("; "));
        if let Some((r, _)) = report
            .arms
            .iter()
            .zip(&fit.counts)
            .find(|(_, &n)| n < spec.min_exposures_before_shift)
        {
            let reason = format!(
                "allocation {} has {} exposures, minExposuresBeforeShift is {}",
                r.name, r.exposures, spec.min_exposures_before_shift
            );
            report.status = RunStatus::InsufficientExposures;
            report.reason = Some(reason);
            return (report, None, totals);
        }
        let model = fit.model.to_value();
        if policy.contextual_model.as_ref() == Some(&model) {
            report.status = RunStatus::NoChange;
            return (report, None, totals);
        }
        report.status = RunStatus::Updated;
        (report, Some(model), totals)
    }
}
