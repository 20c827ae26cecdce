//! Per-allocation sufficient statistics of a reward table.
//!
//! Counts, sums and sums of squares merge by addition. The sums are exact while they
//! are collected ([`ArmSums`], [`ExactSum`]) and rounded once, so statistics computed on
//! chunks or on partitions of a log give the same bits in any order and any split.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::error::Result;
use crate::exact::ExactSum;

/// Sufficient statistics of one allocation's rewards.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ArmStats {
    /// Units of analysis (decisions) exposed.
    pub n: u64,
    /// Sum of rewards.
    pub sum: f64,
    /// Sum of squared rewards.
    pub sum_sq: f64,
}

impl ArmStats {
    /// Mean reward, `None` without data.
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }

    /// Adds another chunk's statistics.
    #[must_use]
    pub fn merge(self, other: ArmStats) -> ArmStats {
        ArmStats {
            n: self.n + other.n,
            sum: self.sum + other.sum,
            sum_sq: self.sum_sq + other.sum_sq,
        }
    }
}

/// Statistics per policy id, then per allocation name.
pub type PolicyStats = BTreeMap<String, BTreeMap<String, ArmStats>>;

/// [`ArmStats`] while they are collected: the sums kept exact, so any split of the
/// rows (chunks, partitions) merged in any order gives the same [`ArmStats`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArmSums {
    /// Rows counted.
    pub n: u64,
    /// Sum of rewards.
    pub sum: ExactSum,
    /// Sum of squared rewards (each square rounded to a double first).
    pub sum_sq: ExactSum,
}

impl ArmSums {
    /// Counts one reward.
    #[inline]
    pub fn add(&mut self, reward: f64) {
        self.n += 1;
        self.sum.add(reward);
        self.sum_sq.add(reward * reward);
    }

    /// Adds another split's sums.
    pub fn merge(&mut self, other: &ArmSums) {
        self.n += other.n;
        self.sum.merge(&other.sum);
        self.sum_sq.merge(&other.sum_sq);
    }

    /// The statistics, sums rounded to the nearest double.
    #[must_use]
    pub fn stats(&self) -> ArmStats {
        ArmStats {
            n: self.n,
            sum: self.sum.value(),
            sum_sq: self.sum_sq.value(),
        }
    }
}

/// Sums per policy id, then per allocation name.
pub type PolicySums = BTreeMap<String, BTreeMap<String, ArmSums>>;

/// Rows per parallel chunk of [`arm_sums`] (the sums are exact: any size gives the same bits).
const STATS_CHUNK_ROWS: usize = 1 << 18;

/// Aggregates a reward table (`policy_id`, `allocation_name`, `reward`) into
/// [`ArmStats`] per policy and allocation. Rows with a null policy or allocation are
/// left out; a null reward counts as a row that adds nothing.
///
/// One pass over fixed row chunks in parallel, each keeping its few (policy,
/// allocation) keys in a small list (consecutive rows mostly repeat the last key), the
/// chunks merged in order: a hash group-by on string keys was the cost here.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks those columns.
pub fn arm_stats(rewards: LazyFrame) -> Result<PolicyStats> {
    Ok(arm_sums(rewards)?
        .into_iter()
        .map(|(p, arms)| (p, arms.into_iter().map(|(a, s)| (a, s.stats())).collect()))
        .collect())
}

/// [`arm_stats`] before rounding: what partitions of a log merge.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks those columns.
pub fn arm_sums(rewards: LazyFrame) -> Result<PolicySums> {
    use rayon::prelude::*;
    let df = rewards
        .select([
            col("policy_id"),
            col("allocation_name"),
            col("reward").cast(DataType::Float64),
        ])
        .collect()?;
    let policy = df.column("policy_id")?.str()?;
    let alloc = df.column("allocation_name")?.str()?;
    let reward = df.column("reward")?.f64()?;
    let n = df.height();
    type Local = Vec<(String, String, ArmSums)>;
    let chunks: Vec<Local> = (0..n.div_ceil(STATS_CHUNK_ROWS))
        .into_par_iter()
        .map(|c| {
            let start = c * STATS_CHUNK_ROWS;
            let len = STATS_CHUNK_ROWS.min(n - start);
            let (p, a, r) = (
                policy.slice(start as i64, len),
                alloc.slice(start as i64, len),
                reward.slice(start as i64, len),
            );
            let mut local: Local = Vec::new();
            let mut last = usize::MAX;
            for ((p, a), r) in p.iter().zip(a.iter()).zip(r.iter()) {
                let (Some(p), Some(a)) = (p, a) else {
                    continue;
                };
                let hit = local
                    .get(last)
                    .is_some_and(|(lp, la, _)| la == a && lp == p);
                if !hit {
                    last = match local.iter().position(|(lp, la, _)| la == a && lp == p) {
                        Some(i) => i,
                        None => {
                            local.push((p.to_owned(), a.to_owned(), ArmSums::default()));
                            local.len() - 1
                        }
                    };
                }
                local[last].2.add(r.unwrap_or(0.0));
            }
            local
        })
        .collect();
    let mut out = PolicySums::new();
    for local in chunks {
        for (p, a, s) in local {
            out.entry(p).or_default().entry(a).or_default().merge(&s);
        }
    }
    Ok(out)
}

/// Rows of one contextual policy: each rewarded allocation with the context it was
/// exposed in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContextualRows {
    /// Allocation name per row.
    pub allocations: Vec<String>,
    /// Reward per row.
    pub rewards: Vec<f64>,
    /// The exposure's context (JSON text), `None` when the exposure had none.
    pub contexts: Vec<Option<String>>,
}

/// The context of each exposure of `policy_id`, one row per `(unit_key, ts)` (the
/// first logged, in time order), in a column named `alias`: what reward rows join on
/// (`unit_key`, `exposed_at`) to recover the context their decision was made in.
pub fn exposure_contexts(exposures: LazyFrame, policy_id: &str, alias: &str) -> LazyFrame {
    exposures
        .filter(
            col("kind")
                .eq(lit("exposure"))
                .and(col("policy_id").eq(lit(policy_id))),
        )
        .sort(
            ["ts"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .group_by([col("unit_key"), col("ts")])
        .agg([col("context").first().alias(alias)])
}

/// The rows of `policy_id` in a reward table (`allocation_name`, `unit_key`,
/// `exposed_at`, `reward`), each with the `context` of the exposure that opened it
/// ([`exposure_contexts`]), unsorted.
pub fn rewards_with_context(
    rewards: LazyFrame,
    exposures: LazyFrame,
    policy_id: &str,
) -> LazyFrame {
    rewards
        .filter(col("policy_id").eq(lit(policy_id)))
        .select([
            col("allocation_name"),
            col("unit_key"),
            col("exposed_at"),
            col("reward"),
        ])
        .join(
            exposure_contexts(exposures, policy_id, "context"),
            [col("unit_key"), col("exposed_at")],
            [col("unit_key"), col("ts")],
            JoinArgs::new(JoinType::Left),
        )
}

/// Joins a reward table (`policy_id`, `allocation_name`, `unit_key`, `exposed_at`,
/// `reward`) to the exposures' `context` (`unit_key`, `ts`, `context`) of `policy_id`,
/// matching each reward row to the exposure that opened it. Rows are sorted by unit,
/// exposure time and allocation, so the result does not depend on the input order.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a table lacks those columns.
pub fn contextual_rows(
    rewards: LazyFrame,
    exposures: LazyFrame,
    policy_id: &str,
) -> Result<ContextualRows> {
    let df = rewards_with_context(rewards, exposures, policy_id)
        .sort(
            ["unit_key", "exposed_at", "allocation_name"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()?;
    let alloc = df.column("allocation_name")?.str()?.clone();
    let reward = df.column("reward")?.f64()?.clone();
    let context = df.column("context")?.str()?.clone();
    let mut out = ContextualRows::default();
    for i in 0..df.height() {
        let Some(a) = alloc.get(i) else { continue };
        out.allocations.push(a.to_owned());
        out.rewards.push(reward.get(i).unwrap_or(f64::NAN));
        out.contexts.push(context.get(i).map(str::to_owned));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_is_addition() {
        let a = ArmStats {
            n: 3,
            sum: 2.0,
            sum_sq: 2.0,
        };
        let b = ArmStats {
            n: 1,
            sum: 1.0,
            sum_sq: 1.0,
        };
        assert_eq!(
            a.merge(b),
            ArmStats {
                n: 4,
                sum: 3.0,
                sum_sq: 3.0
            }
        );
        assert_eq!(a.merge(b).mean(), Some(0.75));
        assert_eq!(ArmStats::default().mean(), None);
    }
}
