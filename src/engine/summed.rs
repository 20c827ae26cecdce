//! Multi-armed policies over a log's partitions: their reward rows summed in each
//! partition instead of kept, so a run's memory does not grow with the log.
//!
//! A multi-armed learner reads, of its policy's reward rows, only per-allocation
//! counts and sums ([`crate::reward::ArmSums`], exact, so any split gives the same
//! bits), the latest and earliest exposure and how many rows are too young to count.
//! Each is a sum, a maximum or a minimum, so each partition's rows are reduced to an
//! [`ArmSummary`] and the summaries merged. Two things must be known before the rows
//! are seen:
//!
//! - the **watermark**: the previous state's, when its statistics are added to (a
//!   multi-armed learner always adds to statistics of the same key), known from the
//!   state;
//! - the **maturity cutoff** (`as_of − maturityMinutes`): with `--as-of` or no
//!   maturity it is known. Otherwise the as-of is the latest event of the whole log,
//!   known only at the end; but it is never before the latest event seen so far, so
//!   rows exposed at or before that, less the maturity, are mature for sure and are
//!   summed; the few younger rows are kept (allocation, exposure time, reward) until
//!   the cutoff is known ([`ArmSummary::resolve`]).
//!
//! Policies whose goal has a cap (a quantile of the whole run's rewards) keep their
//! rows, as do contextual and per-entity policies, which read each row's context.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::learning;
use crate::config::OptimizationSpec;
use crate::error::{AttributionError, Result};
use crate::reward::{arm_sums, ArmStats, ArmSums};
use crate::time::Millis;

/// How one multi-armed policy's rows are summed in every partition.
#[derive(Clone, Debug)]
pub(super) struct SumPlan {
    /// The policy.
    pub policy_id: String,
    /// Only rows exposed after it are counted (the state's watermark, when reused).
    pub watermark: Option<Millis>,
    /// Its config (the maturity).
    pub spec: OptimizationSpec,
    /// The run's explicit as-of (`--as-of`).
    pub as_of: Option<Millis>,
    /// The earliest the run's as-of can be: the state's `asOf`.
    pub floor: Option<Millis>,
}

impl SumPlan {
    /// A cutoff no later than the run's, given the latest event seen so far: rows
    /// exposed at or before it are mature whatever the rest of the log holds. `None`
    /// when the policy sets no maturity (every row is mature).
    fn sure_cutoff(&self, latest_event: Option<Millis>) -> Option<Millis> {
        self.spec.maturity_minutes?;
        let as_of = self.as_of.or_else(|| latest_event.max(self.floor));
        Some(as_of.map_or(Millis::MIN, |t| {
            learning::maturity_cutoff(&self.spec, t).expect("the policy sets a maturity")
        }))
    }
}

/// One multi-armed policy's reward rows of one or more partitions, reduced.
#[derive(Clone, Debug, Default)]
pub(super) struct ArmSummary {
    /// The watermark the rows were counted after.
    watermark: Option<Millis>,
    /// Per allocation name: rows with a reward that are counted and mature for sure.
    sums: BTreeMap<String, ArmSums>,
    /// The latest exposure of the rows summed.
    latest: Option<Millis>,
    /// The earliest exposure of all the policy's rows (watermark or not).
    earliest: Option<Millis>,
    /// Counted rows younger than a sure cutoff: `allocation_name`, `exposed_at`,
    /// `reward`.
    pending: Vec<DataFrame>,
    /// The latest sure cutoff used (the run's cutoff must not be earlier).
    sure: Option<Millis>,
}

/// What a policy counts of its summary once the run's cutoff is known.
pub(super) struct Resolved {
    /// Per allocation name.
    pub stats: BTreeMap<String, ArmStats>,
    /// Rows held back as immature.
    pub immature: u64,
    /// The latest exposure counted.
    pub latest: Option<Millis>,
}

impl ArmSummary {
    /// One partition's reward rows (with `reward`, of every policy of the goal)
    /// reduced for `plan`, given the latest event seen so far.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Polars`] if a query fails.
    pub fn of_part(rows: LazyFrame, plan: &SumPlan, latest_event: Option<Millis>) -> Result<Self> {
        let id = plan.policy_id.as_str();
        let mine = rows.filter(col("policy_id").eq(lit(id)));
        let earliest = extreme(mine.clone(), col("exposed_at").min())?;
        let counted = learning::since(mine, plan.watermark);
        let sure = plan.sure_cutoff(latest_event);
        let (summed, pending) = match sure {
            None => (counted, Vec::new()),
            Some(t) => {
                let young = counted
                    .clone()
                    .filter(col("exposed_at").gt(lit(t)))
                    .select([col("allocation_name"), col("exposed_at"), col("reward")])
                    .collect()?;
                (counted.filter(col("exposed_at").lt_eq(lit(t))), vec![young])
            }
        };
        let latest = extreme(summed.clone(), col("exposed_at").max())?;
        let sums = arm_sums(summed.filter(col("reward").is_not_null()))?
            .remove(id)
            .unwrap_or_default();
        Ok(Self {
            watermark: plan.watermark,
            sums,
            latest,
            earliest,
            pending,
            sure,
        })
    }

    /// Adds another partition's summary of the same policy and plan.
    pub fn merge(&mut self, other: Self) {
        for (name, s) in &other.sums {
            self.sums.entry(name.clone()).or_default().merge(s);
        }
        self.latest = self.latest.max(other.latest);
        self.earliest = match (self.earliest, other.earliest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.pending.extend(other.pending);
        self.sure = self.sure.max(other.sure);
    }

    /// The earliest exposure of the policy's rows.
    pub fn earliest(&self) -> Option<Millis> {
        self.earliest
    }

    /// The statistics of the rows counted after `watermark` and mature at `cutoff`.
    ///
    /// # Errors
    ///
    /// [`AttributionError::Summed`] when the rows were summed after another watermark
    /// or past `cutoff` (an engine bug); [`crate::Error::Polars`] if a column is not
    /// of its type.
    pub fn resolve(
        &self,
        policy_id: &str,
        watermark: Option<Millis>,
        cutoff: Option<Millis>,
    ) -> Result<Resolved> {
        let past_cutoff = match (self.sure, cutoff) {
            (Some(s), Some(c)) => s > c,
            (None, None) => false,
            // Summed with a maturity the run does not have, or the other way round.
            _ => true,
        };
        if watermark != self.watermark || past_cutoff {
            return Err(AttributionError::Summed(policy_id.to_owned()).into());
        }
        let mut sums = self.sums.clone();
        let (mut latest, mut immature) = (self.latest, 0);
        for part in &self.pending {
            let names = part.column("allocation_name")?.str()?;
            let exposed = part.column("exposed_at")?.i64()?;
            let rewards = part.column("reward")?.cast(&DataType::Float64)?;
            let rewards = rewards.f64()?;
            for ((name, at), reward) in names.iter().zip(exposed.iter()).zip(rewards.iter()) {
                let Some(at) = at else { continue };
                if cutoff.is_some_and(|c| at > c) {
                    immature += 1;
                    continue;
                }
                latest = latest.max(Some(at));
                if let (Some(name), Some(r)) = (name, reward) {
                    sums.entry(name.to_owned()).or_default().add(r);
                }
            }
        }
        Ok(Resolved {
            stats: sums.iter().map(|(n, s)| (n.clone(), s.stats())).collect(),
            immature,
            latest,
        })
    }
}

/// One aggregate of `rows` (a minimum or maximum of `exposed_at`).
fn extreme(rows: LazyFrame, e: Expr) -> Result<Option<Millis>> {
    let df = rows.select([e.alias("t")]).collect()?;
    Ok(df.column("t")?.i64()?.get(0))
}
