//! The `linear_contextual` step of a retrain: reward rows joined to their exposure
//! contexts, a linear fit, and a new `contextualModel` (bucket ranges stay as they
//! are: SDKs serve the model instead).

use polars::prelude::col;
use serde_json::Value;

use super::{Engine, PolicyReport, RunStatus};
use crate::bundle::BundleDocument;
use crate::config::{DesiredDirection, OptimizationSpec};
use crate::events::EventTables;
use crate::policy::fit_linear_policy;
use crate::reward::{contextual_rows, ContextualRows};
use crate::time::Millis;

impl Engine<'_> {
    /// Fits a `linear_contextual` policy: `Updated` with the model to publish, or a
    /// report saying why not.
    pub(super) fn fit_contextual(
        &self,
        doc: &BundleDocument,
        li: usize,
        pi: usize,
        spec: &OptimizationSpec,
        tables: &EventTables,
        as_of: Millis,
    ) -> (PolicyReport, Option<Value>) {
        let (mut report, _, _) = match self.gate(doc, li, pi, spec, as_of) {
            Ok(g) => g,
            Err(r) => return (r, None),
        };
        let fail = |mut r: PolicyReport, status: RunStatus, reason: String| {
            r.status = status;
            r.reason = Some(reason);
            (r, None)
        };
        let policy = &doc.bundle().layers[li].policies[pi];
        let allowed: Vec<String> = policy
            .context_logging
            .as_ref()
            .map(|c| c.allowed_fields.clone())
            .unwrap_or_default();
        // Outcome maturity as for multi-armed policies; contextual fits use this
        // run's rows only, so held-back rows simply wait for a later run.
        let cutoff = super::learning::maturity_cutoff(spec, as_of);
        let rows = match self.rewards(tables, spec).and_then(|r| {
            let (mature, held) = super::learning::mature(r, &policy.id, cutoff)?;
            let rewarded = mature.filter(col("reward").is_not_null());
            Ok((
                contextual_rows(rewarded, tables.lazy().exposures, &policy.id)?,
                held,
            ))
        }) {
            Ok((r, held)) => {
                report.immature_exposures = held;
                report.matured_through = cutoff.map(crate::time::format_rfc3339);
                r
            }
            Err(e) => return fail(report, RunStatus::Errored, e.to_string()),
        };
        let names: Vec<String> = policy.allocations.iter().map(|a| a.name.clone()).collect();
        // Rewards stay in the goal's units for the report; the model maximises, so a
        // goal to decrease is fitted on negated rewards.
        let fit_rows = if spec.goal.desired_direction == DesiredDirection::Decrease {
            std::borrow::Cow::Owned(ContextualRows {
                rewards: rows.rewards.iter().map(|r| -r).collect(),
                ..rows.clone()
            })
        } else {
            std::borrow::Cow::Borrowed(&rows)
        };
        let fit = match fit_linear_policy(
            spec,
            &allowed,
            &names,
            &fit_rows,
            policy.contextual_model.as_ref(),
        ) {
            Ok(f) => f,
            Err(e) => return fail(report, RunStatus::Errored, e.to_string()),
        };
        for (r, (&n, name)) in report.arms.iter_mut().zip(fit.counts.iter().zip(&names)) {
            r.exposures = n;
            r.new_exposures = n;
            let (sum, sum_sq, cnt) = rows
                .allocations
                .iter()
                .zip(&rows.rewards)
                .filter(|(a, _)| *a == name)
                .fold((0.0, 0.0, 0u64), |(s, q, c), (_, r)| {
                    (s + r, q + r * r, c + 1)
                });
            r.reward_sum = sum;
            r.reward_sum_sq = sum_sq;
            r.mean = (cnt > 0).then(|| sum / cnt as f64);
        }
        report.counted = true;
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
            return fail(report, RunStatus::InsufficientExposures, reason);
        }
        let model = fit.model.to_value();
        if policy.contextual_model.as_ref() == Some(&model) {
            report.status = RunStatus::NoChange;
            return (report, None);
        }
        report.status = RunStatus::Updated;
        report.reason = (fit.unknown_rows > 0).then(|| {
            format!(
                "{} reward rows name allocations not in the bundle, ignored",
                fit.unknown_rows
            )
        });
        (report, Some(model))
    }
}
