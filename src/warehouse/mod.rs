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
//! * `definitions`, `native`: the warehouse-native case: the platform's entities,
//!   assignments, facts and metrics (`.traffical/warehouse.yaml`), each policy's
//!   assignments joined to its metric's fact in SQL.
//! * `export`: event tables written as those relations, and the scripts that load them
//!   into PostgreSQL and DuckDB (the equality tests, the docs' demo).
//! * `entities`: per-entity policies: their reward units grouped by allocation and
//!   by the kinds and texts of the entity keys' values, the entity ids made in Rust.
//! * `linear`: linear contextual policies: a layout query, then their sums `Σ x xᵀ`
//!   and `Σ r x` as columns over the layout the engine makes of its result.
//! * `retrain`: a retrain that fits from statistics instead of events.
//! * `postgres` (cargo feature `postgres`): the connector behind `retrain
//!   --warehouse`, which runs the queries on PostgreSQL and fits from their rows.
//! * `statistics`: the query result read back, compared with the engine's own, and
//!   turned into [`crate::reward::PolicyStats`].

mod cells;
mod definitions;
mod dialect;
mod entities;
mod export;
mod linear;
mod native;
#[cfg(feature = "postgres")]
mod postgres;
mod retrain;
mod sdk;
mod sessions;
mod sql;
mod statistics;

/// The saved linear layout and sums, as the `features` column and the state hold them.
pub use crate::policy::linear_state::{LinearTotals, SavedFeature};
pub use definitions::{
    definitions_beside, Aggregation, Definitions, EntityDefinition, FactDefinition,
    MetricDefinition, PolicySource, SqlDefinition, TEMPLATE_VARIABLES,
};
pub use dialect::{Dialect, DialectName};
pub use entities::{
    entity_columns, entity_queries, entity_totals, EntityCells, EntityQuery, EntityRows,
};
pub use export::{export_tables, load_script};
pub use linear::{
    layout_features, layout_sql, layouts, linear_columns, linear_queries, FieldRule, LayoutRow,
    LinearLayout, LinearQuery, LAYOUT_COLUMNS,
};
pub use native::{
    native_in_process, split_native, statistics_sql_all, statistics_sql_full,
    statistics_sql_with_native, AssignmentRow, FactRow, NativeQuery,
};
#[cfg(feature = "postgres")]
pub use postgres::{retrain_from_postgres, PostgresWarehouse};
pub use retrain::retrain_from_statistics;
pub use sdk::{statistics_sql, PolicyQuery, Relations, ScanStart, STATISTICS_COLUMNS};
pub use statistics::{
    in_process, policy_stats, read_layout, read_statistics, write_statistics_csv, LinearSums,
    StatisticsRow,
};

use crate::algorithm::Algorithm;
use crate::config::ProjectConfig;
use crate::engine::{statistics_key, AttributionOverrides};
use crate::error::Result;
use crate::state::EngineState;
use crate::time::{parse_rfc3339, Millis};

/// The queries of a config's multi-armed policies (per-entity ones, by the config's
/// `entityConfig`, are left out: [`entity_queries`] decides by the bundle's, and the
/// callers drop its policies from these; linear contextual ones are
/// [`linear_queries`]), in policy id order. A policy whose statistics in `previous` (a state) were made under the
/// same settings is queried after their watermark, so its rows add to them; for a
/// policy with a maturity, `as_of` less the maturity bounds the first exposures
/// counted (as the engine's cutoff; without one every exposure counts at once).
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
        let through = as_of.and_then(|t| {
            spec.maturity_minutes
                .map(|m| t - (m * 60_000.0).round() as Millis)
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
