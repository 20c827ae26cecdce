//! Warehouse-native retraining: the engine's attribution and statistics written as
//! SQL, run where the events live, and read back as the per-allocation sums the
//! learners fit from (see `docs/warehouse.md`).
//!
//! * `dialect`: the one trait of what differs between engines (quoting, casts,
//!   timestamps, quantiles), for PostgreSQL, DuckDB, BigQuery, Snowflake, Spark SQL /
//!   Databricks and ClickHouse.
//! * `sdk`, `sessions`, `sql`: the queries for the SDK-managed case (the platform's
//!   exposure and track events synced into the warehouse), step for step the rules of
//!   [`crate::attribution::relational`].
//! * `export`: event tables written as those relations, and the scripts that load them
//!   into PostgreSQL and DuckDB (the equality tests, the docs' demo).
//! * `statistics`: the query result read back, compared with the engine's own, and
//!   turned into [`crate::reward::PolicyStats`].

mod dialect;
mod export;
mod sdk;
mod sessions;
mod sql;
mod statistics;

pub use dialect::{Dialect, DialectName};
pub use export::{export_tables, load_script};
pub use sdk::{statistics_sql, PolicyQuery, Relations, STATISTICS_COLUMNS};
pub use statistics::{
    in_process, policy_stats, read_statistics, write_statistics_csv, StatisticsRow,
};

use crate::algorithm::Algorithm;
use crate::config::ProjectConfig;
use crate::engine::AttributionOverrides;
use crate::error::Result;
use crate::time::Millis;

/// The queries of a config's multi-armed policies (per-entity and linear contextual
/// policies are left out: their statistics are not per-allocation sums), in policy
/// id order. `after` is the state's watermark; `as_of` the run's instant, less each
/// policy's maturity, bounds the first exposures counted.
///
/// # Errors
///
/// [`crate::Error::Parameter`] for attribution settings out of their domain.
pub fn policy_queries(
    config: &ProjectConfig,
    overrides: &AttributionOverrides,
    after: Option<Millis>,
    as_of: Option<Millis>,
) -> Result<Vec<PolicyQuery>> {
    let mut out = Vec::new();
    for (id, spec) in &config.optimization {
        if spec.algorithm == Algorithm::LinearContextual || spec.entity_config.is_some() {
            continue;
        }
        let through = as_of.map(|t| match spec.maturity_minutes {
            Some(m) => t - (m * 60_000.0).round() as Millis,
            None => t,
        });
        out.push(PolicyQuery {
            policy_id: id.clone(),
            goal: spec.goal.clone(),
            params: overrides.params(spec)?,
            after,
            through,
        });
    }
    Ok(out)
}
