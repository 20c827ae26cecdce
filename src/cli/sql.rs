//! `bandit-engine sql`: the warehouse queries of a config's policies, in one dialect.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use bandit_engine::algorithm::Algorithm;
use bandit_engine::engine::AttributionOverrides;
use bandit_engine::time::{format_rfc3339, parse_rfc3339};
use bandit_engine::warehouse::{
    definitions_beside, entity_queries, layout_sql, layouts, linear_queries, policy_queries,
    read_layout, split_native, statistics_sql_full, Definitions, DialectName, EntityQuery,
    LinearLayout, LinearQuery, NativeQuery, PolicyQuery, Relations, ScanStart,
};

use super::{Mode, TouchModelArg};

/// Write the SQL that computes retraining statistics in a warehouse.
///
/// For the SDK-managed case: the platform's exposure and track events synced into
/// the warehouse, read through two relations (tables or views) with the columns in
/// docs/warehouse.md. The statement applies the engine's attribution rules (dedup,
/// decision or cumulative mode, the unit-key rule, sessions, windows, clock skew,
/// multi-touch model, goal values and caps) and returns one row per policy ×
/// allocation: policy_id, allocation_name, units, conversions, reward_sum,
/// reward_sum_sq, last_exposed_at; per-entity policies one row per allocation and
/// entity, with entity_keys, entity_kind_i, entity_text_i, entity_count and
/// entity_count_at after them. Save its result as csv or parquet and give it to
/// `retrain --statistics FILE` with the same config, bundle, state, --as-of and
/// attribution flags. Linear contextual policies take two steps: --layout-query
/// writes a first statement returning each context field's values (policy_id,
/// field, kind, label); save its result and pass it with --layout FILE, and the
/// statement then also returns their sums (features, xx_i_j, rx_i). Without
/// --layout they are left out, and said so in the SQL's header. Policies named in
/// .traffical/warehouse.yaml beside the config read its warehouse-native
/// definitions (entities, assignments, facts, metrics) instead; then --as-of is
/// needed ({{end_date}}).
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
    /// The run's instant (RFC 3339; alias --end): for a policy with a maturity, units
    /// first exposed after it less the maturity are not counted (as the engine's
    /// cutoff). Pass the same to retrain.
    #[arg(long, alias = "end", value_name = "TIME")]
    as_of: Option<String>,
    /// The relation with one row per exposure or decision layer.
    #[arg(long, value_name = "NAME", default_value = "exposures")]
    exposures_table: String,
    /// The relation with one row per track event.
    #[arg(long, value_name = "NAME", default_value = "tracks")]
    tracks_table: String,
    /// Incremental runs (a state with watermarks): read the events, and the
    /// warehouse-native assignments, from this many days before the earliest
    /// watermark instead of their whole history, as the platform's overlap window.
    /// Cheaper on a large history, but a unit (or entity) first seen more than that
    /// before its policy's watermark and seen again after it then counts as a new
    /// unit. Without it the queries read every row and count exactly as the engine
    /// on the whole log (docs/warehouse.md).
    #[arg(long, value_name = "DAYS", value_parser = overlap_days, allow_hyphen_values = true)]
    overlap_days: Option<f64>,
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
    /// Write the first statement of the linear contextual policies instead: the
    /// kinds and texts of their context fields' values (policy_id, field, kind,
    /// label), from which the engine makes their feature layout.
    #[arg(long, conflicts_with = "layout")]
    layout_query: bool,
    /// The result of --layout-query (csv or parquet), run with the same flags: the
    /// statement then includes the linear contextual policies' sums.
    #[arg(long, value_name = "FILE")]
    layout: Option<PathBuf>,
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

/// The header's lines of the per-entity policies.
fn entity_lines(entities: &[EntityQuery]) -> String {
    let span = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), format_rfc3339);
    let mut text = String::new();
    for e in entities {
        let q = &e.query;
        let allocations = match &e.count_key {
            Some(k) => format!("dynamic allocations (countKey {k})"),
            None => format!("allocations {}", e.allocations.join(", ")),
        };
        text.push_str(&format!(
            "-- {}: per-entity (entityKeys {}; {allocations}), goal {} ({:?}), {:?} attribution, units first exposed after {} through {}\n",
            q.policy_id,
            e.keys.join(", "),
            q.goal.event,
            q.goal.goal_type,
            q.params.mode,
            span(q.after),
            span(q.through)
        ));
    }
    text
}

/// The statement's header: what it computes for each policy, and which it leaves out.
fn header(
    args: &SqlArgs,
    dialect: DialectName,
    config: &bandit_engine::config::ProjectConfig,
    queries: &[PolicyQuery],
    native: &[NativeQuery],
    linear: &[LinearQuery],
    entities: &[EntityQuery],
) -> String {
    let span = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), format_rfc3339);
    let mut text = format!(
        "-- bandit-engine sql --dialect {dialect}: per-allocation statistics of {}\n-- (docs/warehouse.md). Its result, as csv or parquet, goes to\n-- `bandit-engine retrain --statistics FILE` with the same config, bundle, state and --as-of.\n",
        args.config.display()
    );
    for q in queries {
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
    for q in native {
        text.push_str(&format!(
            "-- {}: warehouse-native, metric {} ({:?}) on assignments {}, units first assigned after {} through {}\n",
            q.policy_id,
            q.source.metric,
            q.aggregation,
            q.source.assignments,
            span(q.after),
            span(q.through)
        ));
    }
    for l in linear {
        let q = &l.query;
        text.push_str(&format!(
            "-- {}: linear contextual, goal {} ({:?}), {:?} attribution, units first exposed after {} through {}\n",
            q.policy_id,
            q.goal.event,
            q.goal.goal_type,
            q.params.mode,
            span(q.after),
            span(q.through)
        ));
    }
    text.push_str(&entity_lines(entities));
    for (id, spec) in &config.optimization {
        let covered = queries.iter().any(|q| &q.policy_id == id)
            || native.iter().any(|q| &q.policy_id == id)
            || linear.iter().any(|q| &q.query.policy_id == id)
            || entities.iter().any(|q| &q.query.policy_id == id);
        if spec.algorithm == Algorithm::LinearContextual && spec.entity_config.is_none() && !covered
        {
            text.push_str(&format!(
                "-- {id}: left out (linear_contextual): write its layout query with --layout-query, run it, and pass its result with --layout FILE\n"
            ));
        } else if !covered {
            text.push_str(&format!(
                "-- {id}: left out ({}): its statistics are not per-allocation sums\n",
                spec.algorithm.as_str()
            ));
        }
    }
    text
}

/// The header's line on how much of the relations the statement reads.
fn reads_line(
    relations: &Relations,
    queries: &[PolicyQuery],
    linear: &[LinearQuery],
    entities: &[EntityQuery],
) -> String {
    let all = queries
        .iter()
        .chain(linear.iter().map(|q| &q.query))
        .chain(entities.iter().map(|q| &q.query));
    if queries.is_empty() && linear.is_empty() && entities.is_empty() {
        return String::new();
    }
    match (ScanStart::of(all, relations.overlap), relations.overlap) {
        (Some(s), _) => format!(
            "-- reads {} from {} and {} from {} (--overlap-days: the earliest watermark less the overlap)\n",
            relations.exposures,
            format_rfc3339(s.exposures),
            relations.tracks,
            format_rfc3339(s.tracks)
        ),
        (None, Some(_)) => "-- reads every row: a policy has no watermark to start the overlap window from\n".to_owned(),
        (None, None) => String::new(),
    }
}

/// The per-entity policies' queries, taken out of the multi-armed ones (a policy the
/// bundle makes per-entity is one), each from `start` on when given (then nothing is
/// added to the state's statistics).
fn split_entities(
    mut entities: Vec<EntityQuery>,
    queries: &mut Vec<PolicyQuery>,
    start: Option<i64>,
) -> Vec<EntityQuery> {
    queries.retain(|q| !entities.iter().any(|e| e.query.policy_id == q.policy_id));
    if start.is_some() {
        for q in &mut entities {
            q.query.after = start;
            q.saved = None;
        }
    }
    entities
}

/// `--dialect`'s value.
fn dialect_arg(name: &str) -> Result<DialectName> {
    DialectName::parse(name).with_context(|| {
        let names: Vec<&str> = DialectName::ALL.iter().map(|d| d.as_str()).collect();
        format!(
            "--dialect {name:?}: not one of {} (or databricks)",
            names.join(", ")
        )
    })
}

/// `--layout-query`'s statement, with its header.
fn layout_query_text(
    args: &SqlArgs,
    dialect: DialectName,
    relations: &Relations,
    linear: &[LinearQuery],
) -> Result<String> {
    if linear.is_empty() {
        anyhow::bail!("--layout-query: the config has no linear contextual policy");
    }
    let mut text = format!(
        "-- bandit-engine sql --dialect {dialect} --layout-query: the values of the context fields of\n-- the linear contextual policies of {} (docs/warehouse.md). Save its result as csv or\n-- parquet and pass it to `bandit-engine sql --layout FILE` with the same flags.\n",
        args.config.display()
    );
    text.push_str(&layout_sql(dialect.dialect(), relations, linear)?);
    Ok(text)
}

/// Writes the queries.
pub fn run(args: &SqlArgs) -> Result<()> {
    let dialect = dialect_arg(&args.dialect)?;
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
        overlap: days_ms(args.overlap_days),
    };
    let definitions = definitions_beside(&args.config, &config)?;
    let end = as_of.unwrap_or_else(bandit_engine::events::future::latest_allowed);
    if definitions.as_ref().is_some_and(|d| !d.policies.is_empty()) && as_of.is_none() {
        anyhow::bail!("{} defines warehouse-native policies: pass --as-of, the end of the window their SQL reads ({{{{end_date}}}})", Definitions::path_beside(&args.config).display());
    }
    let entities = entity_queries(&config, &doc, &overrides, previous.as_ref(), as_of)?;
    let entities = split_entities(entities, &mut queries, start);
    let mut linear = linear_queries(&config, &doc, &overrides, previous.as_ref(), as_of)?;
    if start.is_some() {
        for q in &mut linear {
            // From --start on, nothing is added to the state's sums.
            (q.query.after, q.saved) = (start, None);
        }
    }
    let text = if args.layout_query {
        layout_query_text(args, dialect, &relations, &linear)?
    } else {
        let linear: Vec<(LinearQuery, LinearLayout)> = match &args.layout {
            None => Vec::new(),
            Some(path) => {
                let rows = read_layout(path)?;
                let made = layouts(&linear, &rows, &path.display().to_string())?;
                linear.into_iter().zip(made).collect()
            }
        };
        let (queries, native) =
            split_native(definitions.as_ref(), &doc, queries, end, relations.overlap);
        let body = statistics_sql_full(
            dialect.dialect(),
            &relations,
            &queries,
            &native,
            &linear,
            &entities,
        )?;
        let covered: Vec<LinearQuery> = linear.iter().map(|(q, _)| q.clone()).collect();
        let mut text = header(
            args, dialect, &config, &queries, &native, &covered, &entities,
        );
        text.push_str(&reads_line(&relations, &queries, &covered, &entities));
        text.push_str(&body);
        text
    };
    match &args.out {
        Some(path) => std::fs::write(path, text).with_context(|| path.display().to_string())?,
        None => print!("{text}"),
    }
    Ok(())
}

/// `retrain --warehouse`: where the statistics queries run, instead of event files.
#[derive(Args)]
pub struct WarehouseArgs {
    /// Fit from a PostgreSQL warehouse: run the queries `bandit-engine sql --dialect
    /// postgres` writes there and fit from their rows. A URL
    /// (postgres://user:password@host:5432/dbname) or libpq's key=value pairs
    /// ("host=/var/run/postgresql dbname=analytics user=engine"; a host starting
    /// with / is a Unix-socket directory). Without a password in it, PGPASSWORD is
    /// used. Without --as-of, the latest ts in the relations is the run's time. No
    /// TLS. Needs a build with `--features postgres` (docs/warehouse.md).
    #[arg(long, value_name = "CONNINFO", conflicts_with_all = ["events", "statistics"], value_parser = ConnInfo)]
    pub warehouse: Option<String>,
    /// With --warehouse: the relation with one row per exposure or decision layer.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "exposures",
        requires = "warehouse"
    )]
    pub exposures_table: String,
    /// With --warehouse: the relation with one row per track event.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "tracks",
        requires = "warehouse"
    )]
    pub tracks_table: String,
    /// With --warehouse, on an incremental run: read from this many days before the
    /// earliest watermark instead of the whole history (as `sql --overlap-days`).
    #[arg(
        long,
        value_name = "DAYS",
        value_parser = overlap_days,
        allow_hyphen_values = true,
        requires = "warehouse"
    )]
    pub overlap_days: Option<f64>,
}

/// `--overlap-days` in milliseconds.
fn days_ms(days: Option<f64>) -> Option<i64> {
    days.map(|d| (d * 86_400_000.0).round() as i64)
}

fn overlap_days(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if d.is_finite() && (0.0..=36_500.0).contains(&d) => Ok(d),
        _ => Err(format!(
            "{s:?} is not a number of days from 0 to 36500 (leave the flag out to read every row)"
        )),
    }
}

/// `--warehouse`'s value parser: in a binary built without the connector, clap's
/// usage error (exit code 2) saying how to get it, before anything is read or locked,
/// and without echoing the value (it may hold a password).
#[derive(Clone)]
struct ConnInfo;

impl clap::builder::TypedValueParser for ConnInfo {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<String, clap::Error> {
        use clap::error::ErrorKind;
        if !cfg!(feature = "postgres") {
            return Err(clap::Error::raw(ErrorKind::InvalidValue, "--warehouse: this binary was built without the PostgreSQL connector: rebuild with `cargo build --release --features postgres`, or run `bandit-engine sql --dialect postgres` in the warehouse and give its result to `retrain --statistics FILE`\n").with_cmd(cmd));
        }
        value.to_str().map(str::to_owned).ok_or_else(|| {
            clap::Error::raw(ErrorKind::InvalidUtf8, "--warehouse is not UTF-8\n").with_cmd(cmd)
        })
    }
}

impl WarehouseArgs {
    /// The retrain from the warehouse at `conninfo` (`--warehouse`).
    pub fn retrain(
        &self,
        conninfo: &str,
        options: bandit_engine::RetrainOptions,
        inputs: &bandit_engine::RetrainInputs,
        previous: Option<bandit_engine::state::EngineState>,
    ) -> Result<bandit_engine::RetrainOutcome> {
        let relations = Relations {
            exposures: self.exposures_table.clone(),
            tracks: self.tracks_table.clone(),
            overlap: days_ms(self.overlap_days),
        };
        retrain_from_warehouse(conninfo, &relations, options, inputs, previous)
    }
}

#[cfg(feature = "postgres")]
fn retrain_from_warehouse(
    conninfo: &str,
    relations: &Relations,
    options: bandit_engine::RetrainOptions,
    inputs: &bandit_engine::RetrainInputs,
    previous: Option<bandit_engine::state::EngineState>,
) -> Result<bandit_engine::RetrainOutcome> {
    Ok(bandit_engine::warehouse::retrain_from_postgres(
        options, inputs, conninfo, relations, previous,
    )?)
}

#[cfg(not(feature = "postgres"))]
fn retrain_from_warehouse(
    _: &str,
    _: &Relations,
    _: bandit_engine::RetrainOptions,
    _: &bandit_engine::RetrainInputs,
    _: Option<bandit_engine::state::EngineState>,
) -> Result<bandit_engine::RetrainOutcome> {
    // `conninfo` refuses --warehouse in such a build: no run gets here.
    anyhow::bail!("--warehouse needs a build with `--features postgres`")
}
