//! Per-allocation sufficient statistics of a reward table.
//!
//! Counts, sums and sums of squares merge by addition, so statistics computed on
//! chunks, on days, or in a warehouse combine exactly.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::error::Result;

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

/// Aggregates a reward table (`policy_id`, `allocation_name`, `reward`) into
/// [`ArmStats`] per policy and allocation.
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks those columns.
pub fn arm_stats(rewards: LazyFrame) -> Result<PolicyStats> {
    let df = rewards
        .group_by([col("policy_id"), col("allocation_name")])
        .agg([
            len().cast(DataType::UInt64).alias("n"),
            col("reward").sum().alias("sum"),
            (col("reward") * col("reward")).sum().alias("sum_sq"),
        ])
        .sort(
            ["policy_id", "allocation_name"],
            SortMultipleOptions::default(),
        )
        .collect()?;
    let policy = df.column("policy_id")?.str()?.clone();
    let alloc = df.column("allocation_name")?.str()?.clone();
    let n = df.column("n")?.u64()?.clone();
    let sum = df.column("sum")?.f64()?.clone();
    let sum_sq = df.column("sum_sq")?.f64()?.clone();
    let mut out = PolicyStats::new();
    for i in 0..df.height() {
        let (Some(p), Some(a)) = (policy.get(i), alloc.get(i)) else {
            continue;
        };
        out.entry(p.to_owned()).or_default().insert(
            a.to_owned(),
            ArmStats {
                n: n.get(i).unwrap_or(0),
                sum: sum.get(i).unwrap_or(0.0),
                sum_sq: sum_sq.get(i).unwrap_or(0.0),
            },
        );
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
