//! `bandit-engine sql`: the warehouse queries of a config's policies, in one dialect.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use bandit_engine::engine::AttributionOverrides;
use bandit_engine::time::{format_rfc3339, parse_rfc3339};
use bandit_engine::warehouse::{policy_queries, statistics_sql, DialectName, Relations};

use super::{Mode, TouchModelArg};

/// Write the SQL that computes retraining statistics in a warehouse.
///
/// For the SDK-managed case: the platform's exposure and track events synced into
/// the warehouse, read through two relations (tables or views) with the columns in
/// docs/warehouse.md. The statement applies the engine's attribution rules (dedup,
/// decision or cumulative mode, the unit-key rule, sessions, windows, clock skew,
/// multi-touch model, goal values and caps) and returns one row per policy ×
/// allocation: policy_id, allocation_name, units, conversions, reward_sum,
/// reward_sum_sq. Save its result as csv or parquet and give it to
/// `retrain --statistics FILE` with the same config, bundle, state, --as-of and
/// attribution flags. Multi-armed policies only (linear contextual and per-entity
/// policies are left out, and said so in the SQL's header).
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SqlArgs {
    /// postgres, duckdb, bigquery, snowflake, spark (or databricks), clickhouse.
    #[arg(long, value_name = "DIALECT")]
    dialect: String,
    /// The project's .traffical/config.yaml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The current config bundle (JSON), cross-checked against the config.
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// The previous run's state: each policy counts only exposures after its
    /// watermark, so the result adds to the state's totals.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Count only units first exposed after this instant (RFC 3339), for every
    /// policy, instead of the state's watermarks.
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// The run's instant (RFC 3339; alias --end): units first exposed after it, less
    /// the policy's maturity, are not counted. Pass the same to retrain.
    #[arg(long, alias = "end", value_name = "TIME")]
    as_of: Option<String>,
    /// The relation with one row per exposure or decision layer.
    #[arg(long, value_name = "NAME", default_value = "exposures")]
    exposures_table: String,
    /// The relation with one row per track event.
    #[arg(long, value_name = "NAME", default_value = "tracks")]
    tracks_table: String,
    /// Write the SQL here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Attribution mode for every policy, overriding the config.
    #[arg(long, value_enum)]
    attribution: Option<Mode>,
    /// Multi-touch attribution model for every policy, overriding the config.
    #[arg(long, value_enum)]
    attribution_model: Option<TouchModelArg>,
    /// Inactivity gap that ends a session for events without sessionId.
    #[arg(long, value_name = "MINUTES", default_value_t = 30.0)]
    session_gap_minutes: f64,
}

fn time_arg(flag: &str, value: Option<&String>) -> Result<Option<i64>> {
    value
        .map(|s| {
            parse_rfc3339(s).with_context(|| {
                format!("{flag} {s:?} is not an RFC 3339 time such as 2026-11-25T12:00:00Z")
            })
        })
        .transpose()
}

/// Writes the queries.
pub fn run(args: &SqlArgs) -> Result<()> {
    let dialect = DialectName::parse(&args.dialect).with_context(|| {
        let names: Vec<&str> = DialectName::ALL.iter().map(|d| d.as_str()).collect();
        format!(
            "--dialect {:?}: not one of {} (or databricks)",
            args.dialect,
            names.join(", ")
        )
    })?;
    let config = bandit_engine::config::ProjectConfig::from_path(&args.config)?;
    let doc = bandit_engine::bundle::BundleDocument::from_path(&args.bundle)?;
    bandit_engine::engine::cross_check(&config, &doc, &args.config.display().to_string())?;
    let previous = args
        .state
        .as_ref()
        .map(bandit_engine::state::EngineState::from_path)
        .transpose()?;
    let start = time_arg("--start", args.start.as_ref())?;
    let as_of = time_arg("--as-of", args.as_of.as_ref())?;
    let overrides = AttributionOverrides {
        mode: args.attribution.map(Mode::into),
        model: args.attribution_model.map(Into::into),
        session_gap_ms: Some((args.session_gap_minutes * 60_000.0) as i64),
    };
    let mut queries = policy_queries(&config, &overrides, previous.as_ref(), as_of)?;
    if start.is_some() {
        for q in &mut queries {
            q.after = start;
        }
    }
    let relations = Relations {
        exposures: args.exposures_table.clone(),
        tracks: args.tracks_table.clone(),
    };
    let body = statistics_sql(dialect.dialect(), &relations, &queries)?;
    let mut text = format!(
        "-- bandit-engine sql --dialect {dialect}: per-allocation statistics of {}\n-- (docs/warehouse.md). Its result, as csv or parquet, goes to\n-- `bandit-engine retrain --statistics FILE` with the same config, bundle, state and --as-of.\n",
        args.config.display()
    );
    for q in &queries {
        let span = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), format_rfc3339);
        text.push_str(&format!(
            "-- {}: goal {} ({:?}), {:?} attribution, units first exposed after {} through {}\n",
            q.policy_id,
            q.goal.event,
            q.goal.goal_type,
            q.params.mode,
            span(q.after),
            span(q.through)
        ));
    }
    for (id, spec) in &config.optimization {
        if !queries.iter().any(|q| &q.policy_id == id) {
            text.push_str(&format!(
                "-- {id}: left out ({}): its statistics are not per-allocation sums\n",
                spec.algorithm.as_str()
            ));
        }
    }
    text.push_str(&body);
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| path.display().to_string())?,
        None => print!("{text}"),
    }
    Ok(())
}
