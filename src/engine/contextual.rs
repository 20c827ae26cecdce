//! The `linear_contextual` learner: reward rows joined to their exposure contexts, a
//! linear fit, and a new `contextualModel` (bucket ranges stay as they are: SDKs
//! serve the model instead).
//!
//! Warm start: when the state holds this policy's linear statistics under the same
//! statistics key, only reward rows exposed after its watermark are read and the
//! saved sums are added ([`crate::policy::linear_state`]); an incremental run equals
//! a full run on the union of the data. Saved sums that no longer fit (the layout or
//! the allocations changed) are dropped and every row given is refitted.

use super::report::PolicyReport;
use super::run::{
    ArmFigures, Counting, PolicyLearner, PolicyRun, Publication, Reuse, Rewarded, Saved,
};
use crate::config::DesiredDirection;
use crate::error::{Error, Result};
use crate::policy::{fit_linear_policy, DeclaredFeatures, LinearPolicyFit};
use crate::reward::{contextual_rows, ContextualRows};
use crate::state::PolicyLearning;

/// Linear contextual policies (LinUCB, linear Thompson sampling).
pub(super) struct LinearContextual;

/// A linear fit and the report's figures of the rows it read.
pub(super) struct LinearStats {
    fit: LinearPolicyFit,
    figures: Vec<ArmFigures>,
}

impl PolicyLearner for LinearContextual {
    type Stats = LinearStats;

    fn reuse(&self, _run: &PolicyRun<'_>, prior: &PolicyLearning) -> Reuse {
        if prior.linear.is_some() {
            Reuse::Yes
        } else {
            Reuse::No
        }
    }

    fn count(
        &self,
        run: &PolicyRun<'_>,
        rewarded: Rewarded,
        prior: Option<&PolicyLearning>,
    ) -> Result<Counting<LinearStats>> {
        let policy = run.policy;
        let rows = contextual_rows(
            rewarded.rows(&policy.id)?,
            run.ctx.source.exposures(),
            &policy.id,
        )?;
        let allowed: Vec<String> = policy
            .context_logging
            .as_ref()
            .map(|c| c.allowed_fields.clone())
            .unwrap_or_default();
        let names: Vec<String> = policy.allocations.iter().map(|a| a.name.clone()).collect();
        // Rewards stay in the goal's units for the report; the model maximises, so a
        // goal to decrease is fitted on negated rewards.
        let fit_rows = if run.spec.goal.desired_direction == DesiredDirection::Decrease {
            std::borrow::Cow::Owned(ContextualRows {
                rewards: rows.rewards.iter().map(|r| -r).collect(),
                ..rows.clone()
            })
        } else {
            std::borrow::Cow::Borrowed(&rows)
        };
        let learner_error = |e: crate::policy::LinearError| Error::Learner {
            policy_id: policy.id.clone(),
            reason: e.to_string(),
        };
        let declared = run
            .spec
            .context_features
            .as_ref()
            .map(|f| DeclaredFeatures {
                numeric: &f.numeric,
                categorical: &f.categorical,
            });
        let params = run
            .spec
            .algorithm_params()
            .check_linear()
            .map_err(learner_error)?;
        let fit = fit_linear_policy(
            &params,
            declared,
            &allowed,
            &names,
            &fit_rows,
            policy.contextual_model.as_ref(),
            prior.and_then(|p| p.linear.as_ref()),
        )
        .map_err(learner_error)?;
        if let Some(why) = &fit.previous_dropped {
            return Ok(Counting::PriorDropped(format!(
                "saved linear statistics not reused: {why}; refitted on every row given"
            )));
        }
        let figures = names
            .iter()
            .zip(fit.counts.iter().zip(&fit.new_counts))
            .map(|(name, (&n, &new))| {
                let (mut sum, mut sum_sq) = rows
                    .allocations
                    .iter()
                    .zip(&rows.rewards)
                    .filter(|(a, _)| *a == name)
                    .fold((0.0, 0.0), |(s, q), (_, r)| (s + r, q + r * r));
                if let Some(t) = prior.and_then(|p| p.arms.get(name)) {
                    sum += t.reward_sum;
                    sum_sq += t.reward_sum_sq;
                }
                ArmFigures {
                    exposures: n,
                    new_exposures: new,
                    reward_sum: sum,
                    reward_sum_sq: sum_sq,
                }
            })
            .collect();
        Ok(Counting::Counted(LinearStats { fit, figures }))
    }

    fn arms(&self, _run: &PolicyRun<'_>, stats: &LinearStats) -> Option<Vec<ArmFigures>> {
        Some(stats.figures.clone())
    }

    fn count_notes(&self, _run: &PolicyRun<'_>, stats: &LinearStats) -> Vec<String> {
        let unknown = stats.fit.unknown_rows;
        (unknown > 0)
            .then(|| format!("{unknown} reward rows name allocations not in the bundle, ignored"))
            .into_iter()
            .collect()
    }

    fn pooled(
        &self,
        run: &PolicyRun<'_>,
        stats: &LinearStats,
    ) -> (Vec<(String, u64)>, &'static str) {
        let named = run
            .policy
            .allocations
            .iter()
            .zip(&stats.fit.counts)
            .map(|(a, &n)| (a.name.clone(), n))
            .collect();
        (named, "")
    }

    fn fit(
        &self,
        run: &PolicyRun<'_>,
        stats: &LinearStats,
        _report: &mut PolicyReport,
    ) -> std::result::Result<Option<Publication>, String> {
        let model = stats.fit.model.to_value();
        let unchanged = run.policy.contextual_model.as_ref() == Some(&model);
        Ok((!unchanged).then_some(Publication::Model(model)))
    }

    fn saved(&self, stats: LinearStats) -> Saved {
        Saved::Linear(stats.fit.totals)
    }
}
