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
//! * `retrain`: a retrain that fits from statistics instead of events.
//! * `statistics`: the query result read back, compared with the engine's own, and
//!   turned into [`crate::reward::PolicyStats`].

mod dialect;
mod export;
mod retrain;
mod sdk;
mod sessions;
mod sql;
mod statistics;

pub use dialect::{Dialect, DialectName};
pub use export::{export_tables, load_script};
pub use retrain::retrain_from_statistics;
pub use sdk::{statistics_sql, PolicyQuery, Relations, STATISTICS_COLUMNS};
pub use statistics::{
    in_process, policy_stats, read_statistics, write_statistics_csv, StatisticsRow,
};

use crate::algorithm::Algorithm;
use crate::config::ProjectConfig;
use crate::engine::{statistics_key, AttributionOverrides};
use crate::error::Result;
use crate::state::EngineState;
use crate::time::{parse_rfc3339, Millis};

/// The queries of a config's multi-armed policies (per-entity and linear contextual
/// policies are left out: their statistics are not per-allocation sums), in policy
/// id order. A policy whose statistics in `previous` (a state) were made under the
/// same settings is queried after their watermark, so its rows add to them; `as_of`,
/// less each policy's maturity, bounds the first exposures counted.
///
/// # Errors
///
/// [`crate::Error::Parameter`] for attribution settings out of their domain.
pub fn policy_queries(
    config: &ProjectConfig,
    overrides: &AttributionOverrides,
    previous: Option<&EngineState>,
    as_of: Option<Millis>,
) -> Result<Vec<PolicyQuery>> {
    let mut out = Vec::new();
    for (id, spec) in &config.optimization {
        if spec.algorithm == Algorithm::LinearContextual || spec.entity_config.is_some() {
            continue;
        }
        let params = overrides.params(spec)?;
        let key = statistics_key(spec, &params);
        let after = previous
            .and_then(|s| s.policies.get(id))
            .filter(|p| p.statistics == key)
            .and_then(|p| parse_rfc3339(p.exposures_through.as_deref()?));
        let through = as_of.map(|t| match spec.maturity_minutes {
            Some(m) => t - (m * 60_000.0).round() as Millis,
            None => t,
        });
        out.push(PolicyQuery {
            policy_id: id.clone(),
            goal: spec.goal.clone(),
            params,
            after,
            through,
        });
    }
    Ok(out)
}
