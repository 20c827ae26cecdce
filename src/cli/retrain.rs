//! `bandit-engine retrain`: load, attribute, fit and publish a new bundle.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use bandit_engine::time::{format_rfc3339, parse_rfc3339};
use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

use super::progress::Bars;
use super::{publish, Mode, TouchModelArg};

/// Retrain adaptive policies and write a new bundle.
///
/// Reads the config (its `optimization:` section names the policies), the
/// current bundle and the events; writes DIR/bundle.json (atomically: a failed
/// run never leaves a half-written bundle), DIR/report.json (per policy: status,
/// statistics, old and new ranges, schema enforcement counts),
/// DIR/quarantine.ndjson (every refused record with file, line, field and
/// reason, track events rejected by their schema included),
/// DIR/discovered.yaml (track events without a definition, described as config)
/// and DIR/state.json (per policy: statistics, watermark, allocation history).
/// Same inputs, seed and --as-of give the same bytes on any thread count.
///
/// DIR keeps versions: each run is DIR/versions/NNNNNN/, DIR/current points at
/// the current one and DIR/bundle.json etc. link through it, so bundle and state
/// always change together; `bandit-engine rollback DIR` restores the previous
/// pair. Before writing, the new bundle must pass every guard (the bundle schema,
/// no overlapping ranges, every adaptive policy serving the same buckets,
/// entity weights that sum to 1), else nothing is written and the exit code is 3.
/// Another publisher on DIR gives exit code 4.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct RetrainArgs {
    /// The project's .traffical/config.yaml.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The current config bundle (JSON).
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// Event files: .ndjson/.jsonl, .csv or .parquet (repeat the flag or list several).
    #[arg(long, value_name = "FILE", num_args = 1.., required_unless_present_any = ["statistics", "warehouse"])]
    events: Vec<PathBuf>,
    /// Fit from statistics instead of events: the result (csv or parquet) of the
    /// queries `bandit-engine sql` wrote for the same config, state, --as-of and
    /// attribution flags, run in a warehouse (docs/warehouse.md). Needs --as-of.
    #[arg(long, value_name = "FILE", conflicts_with = "events")]
    statistics: Option<PathBuf>,
    #[command(flatten)]
    warehouse: super::sql::WarehouseArgs,
    /// Output directory (versions of bundle + state; see above).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The previous run's state (e.g. DIR/state.json): statistics to add this
    /// run's new exposures to, and the allocation history. Without it the
    /// statistics start from the events given.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Show what would change (summary and bundle diff) and check the guards,
    /// without writing anything.
    #[arg(long)]
    dry_run: bool,
    /// Versions kept in DIR for rollback, the current one included.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..))]
    keep: u64,
    /// The run's instant (RFC 3339), used for every timestamp written. Default: the latest event time.
    #[arg(long, value_name = "TIME")]
    as_of: Option<String>,
    /// Master seed of the Monte Carlo draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop at the first malformed record instead of quarantining it.
    #[arg(long)]
    strict: bool,
    /// Attribution mode for every policy, overriding the config.
    #[arg(long, value_enum)]
    attribution: Option<Mode>,
    /// Multi-touch attribution model for every policy, overriding the config.
    #[arg(long, value_enum)]
    attribution_model: Option<TouchModelArg>,
    /// Inactivity gap that ends a session for events without sessionId.
    #[arg(long, value_name = "MINUTES", default_value_t = 30.0)]
    session_gap_minutes: f64,
    #[command(flatten)]
    memory: MemoryArgs,
}

/// How much memory a run over event files may use.
#[derive(Args, Clone, Debug, Default)]
pub struct MemoryArgs {
    /// Memory the event tables may use (e.g. 4G, 512M; binary units). A log estimated
    /// larger (4 bytes per byte of ndjson or csv, 600 per row of parquet) is split by
    /// unit key into partitions spilled to --spill-dir and processed one at a time,
    /// with the same result as in memory. Default: half the memory available.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
    pub memory_limit: Option<bandit_engine::partition::MemoryLimit>,
    /// Split the log into N partitions whatever its size (1: all in memory).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..100_000))]
    pub partitions: Option<u64>,
    /// Where partitions are spilled (removed at the end). Default: the system's
    /// temporary directory ($TMPDIR).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
}

fn parse_memory_limit(
    s: &str,
) -> std::result::Result<bandit_engine::partition::MemoryLimit, String> {
    bandit_engine::partition::MemoryLimit::parse(s)
}

/// Runs the retrain, then publishes its bundle and state (or, with `--dry-run`,
/// shows what would change).
pub fn run(args: RetrainArgs, progress: &Bars, quiet: bool) -> Result<()> {
    let as_of = args
        .as_of
        .map(|s| {
            parse_rfc3339(&s).with_context(|| {
                format!("--as-of {s:?} is not an RFC 3339 time such as 2026-11-25T12:00:00Z")
            })
        })
        .transpose()?;
    // The engine keeps time from moving backwards; forwards, only the clock can say
    // how far is too far (an as-of from the future would poison every later run).
    let limit = bandit_engine::events::future::latest_allowed();
    if let Some(t) = as_of.filter(|t| *t > limit) {
        anyhow::bail!(
            "--as-of {} is more than a day after this machine's clock ({}); every later run would look older than this one",
            format_rfc3339(t),
            format_rfc3339(limit)
        );
    }
    let options = RetrainOptions {
        as_of,
        seed: args.seed,
        strict: args.strict,
        attribution: args.attribution.map(Mode::into),
        attribution_model: args.attribution_model.map(Into::into),
        session_gap_ms: Some((args.session_gap_minutes * 60_000.0) as i64),
        memory_limit: args.memory.memory_limit,
        partitions: args.memory.partitions.map(|n| n as usize),
        spill_dir: args.memory.spill_dir.clone(),
        ..RetrainOptions::default()
    };
    let inputs = RetrainInputs {
        config: args.config,
        bundle: args.bundle,
        events: args.events,
    };
    // The lock is taken before the bundle and state are read and held until the new
    // version is published: a second run on DIR exits 4 instead of publishing from
    // inputs this run is about to replace (a lost update).
    let store = bandit_engine::publish::Store::new(&args.out);
    let lock = if args.dry_run {
        None
    } else {
        Some(store.lock()?)
    };
    let previous = args
        .state
        .as_ref()
        .map(bandit_engine::state::EngineState::from_path)
        .transpose()?;
    if let Some(s) = &previous {
        if parse_rfc3339(&s.as_of).is_some_and(|t| t > limit) {
            anyhow::bail!(
                "{}: asOf {} is more than a day after this machine's clock: the state was written from an event stamped in the future; run without --state (a full refit)",
                args.state.as_deref().unwrap_or(std::path::Path::new("state")).display(),
                s.as_of
            );
        }
    }
    let outcome = retrain(
        args.statistics.as_deref(),
        &args.warehouse,
        options,
        &inputs,
        previous,
        progress,
    )?;
    if let Some(lock) = lock {
        let options = bandit_engine::publish::PublishOptions {
            keep: usize::try_from(args.keep).unwrap_or(usize::MAX),
        };
        let published = outcome.publish_locked(&store, &lock, options)?;
        if !quiet {
            super::terminal::print(&super::summary::render(&outcome, &published));
        }
    } else {
        super::terminal::print(&publish::dry_run(&outcome, &args.out)?);
    }
    Ok(())
}

/// The retrain: from the events, a statistics file (`--statistics`) or a warehouse
/// (`--warehouse`).
fn retrain(
    statistics: Option<&std::path::Path>,
    warehouse: &super::sql::WarehouseArgs,
    options: RetrainOptions,
    inputs: &RetrainInputs,
    previous: Option<bandit_engine::state::EngineState>,
    progress: &Bars,
) -> Result<bandit_engine::RetrainOutcome> {
    if let Some(conninfo) = &warehouse.warehouse {
        return warehouse.retrain(conninfo, options, inputs, previous);
    }
    Ok(match statistics {
        Some(path) => {
            let rows = bandit_engine::warehouse::read_statistics(path)?;
            let source = path.display().to_string();
            bandit_engine::warehouse::retrain_from_statistics(
                options, inputs, &rows, &source, previous,
            )?
        }
        None => Engine::new(options)
            .with_progress(progress)
            .with_state(previous)
            .retrain(inputs)?,
    })
}
