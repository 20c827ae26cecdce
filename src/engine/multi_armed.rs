//! The multi-armed learner: per-allocation sums added to the previous state's, one
//! bandit fit ([`crate::policy::fit_multi_armed`]), new bucket ranges after the
//! exploration floor and the shift cap.

use super::learning;
use super::report::PolicyReport;
use super::run::{
    live_shares, ArmFigures, Counting, PolicyLearner, PolicyRun, Publication, Reuse, Rewarded,
    Saved,
};
use crate::error::Result;
use crate::policy::{apply_floor, cap_shift, fit_multi_armed, layout_ranges};
use crate::reward::{arm_stats, ArmStats};
use crate::state::PolicyLearning;

/// Multi-armed policies (Thompson sampling, UCB1, epsilon-greedy).
pub(super) struct MultiArmed;

/// Per-allocation statistics, in bundle order.
pub(super) struct ArmTotals {
    /// Prior plus this run.
    arms: Vec<ArmStats>,
    /// This run alone.
    new: Vec<ArmStats>,
    /// Allocation names in the rows that the bundle's policy does not have.
    unknown: Vec<String>,
}

impl PolicyLearner for MultiArmed {
    type Stats = ArmTotals;

    fn reuse(&self, _run: &PolicyRun<'_>, _prior: &PolicyLearning) -> Reuse {
        Reuse::Yes
    }

    fn count(
        &self,
        run: &PolicyRun<'_>,
        rewarded: Rewarded,
        prior: Option<&PolicyLearning>,
    ) -> Result<Counting<ArmTotals>> {
        let policy = run.policy;
        let by_name = match rewarded {
            Rewarded::Rows(rows) => arm_stats(*rows)?.remove(&policy.id).unwrap_or_default(),
            Rewarded::Sums(sums) => sums,
        };
        let new: Vec<ArmStats> = policy
            .allocations
            .iter()
            .map(|a| by_name.get(&a.name).copied().unwrap_or_default())
            .collect();
        let arms = policy
            .allocations
            .iter()
            .zip(&new)
            .map(|(a, s)| match prior {
                Some(p) => learning::prior(p, &a.name).merge(*s),
                None => *s,
            })
            .collect();
        let unknown = by_name
            .keys()
            .filter(|n| !policy.allocations.iter().any(|a| &a.name == *n))
            .cloned()
            .collect();
        Ok(Counting::Counted(ArmTotals { arms, new, unknown }))
    }

    fn arms(&self, _run: &PolicyRun<'_>, stats: &ArmTotals) -> Option<Vec<ArmFigures>> {
        Some(
            stats
                .arms
                .iter()
                .zip(&stats.new)
                .map(|(s, new)| ArmFigures {
                    exposures: s.n,
                    new_exposures: new.n,
                    reward_sum: s.sum,
                    reward_sum_sq: s.sum_sq,
                })
                .collect(),
        )
    }

    fn count_notes(&self, _run: &PolicyRun<'_>, stats: &ArmTotals) -> Vec<String> {
        (!stats.unknown.is_empty())
            .then(|| {
                format!(
                    "exposures name allocations not in the bundle, ignored: {}",
                    stats.unknown.join(", ")
                )
            })
            .into_iter()
            .collect()
    }

    fn pooled(&self, run: &PolicyRun<'_>, stats: &ArmTotals) -> (Vec<(String, u64)>, &'static str) {
        let named = run
            .policy
            .allocations
            .iter()
            .zip(&stats.arms)
            .map(|(a, s)| (a.name.clone(), s.n))
            .collect();
        (named, "")
    }

    fn fit(
        &self,
        run: &PolicyRun<'_>,
        stats: &ArmTotals,
        report: &mut PolicyReport,
    ) -> std::result::Result<Option<Publication>, String> {
        let (policy, spec) = (run.policy, run.spec);
        let fit = crate::policy::Learner::new(spec.algorithm_params(), spec.objective())
            .and_then(|l| fit_multi_armed(&l, &stats.arms, &policy.id, run.ctx.seed))
            .map_err(|e| e.to_string())?;
        let (old_shares, covered) = live_shares(policy);
        let mut weights = apply_floor(&fit.weights, spec.exploration_floor);
        if let Some(max) = spec.max_shift_per_update {
            weights = cap_shift(&old_shares, &weights, max);
        }
        crate::publish::guard::check_weights(&weights).map_err(|reason| {
            format!("the fit gave weights that are not a distribution: {reason}")
        })?;
        let ranges = layout_ranges(policy, &weights).map_err(|e| e.to_string())?;
        for (i, (r, range)) in report.arms.iter_mut().zip(&ranges).enumerate() {
            r.probability_best = fit.probability_best.as_ref().map(|p| p[i]);
            r.new_range = *range;
            r.new_share = f64::from(range[1] - range[0] + 1) / covered as f64;
        }
        let moved = report.arms.iter().any(|a| a.new_range != a.old_range);
        Ok(moved.then_some(Publication::Ranges(ranges)))
    }

    fn saved(&self, _stats: ArmTotals) -> Saved {
        Saved::Arms
    }
}
