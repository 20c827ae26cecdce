//! Command-line interface: a thin layer over the library's calls.

mod evaluate;
mod fit;
mod inspect;
mod plot;
mod progress;
mod publish;
mod resolve;
mod simulate;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use bandit_engine::config::AttributionMode;
use bandit_engine::events::{
    load_events_with_progress, write_events, write_quarantine, LoadOptions,
};
use bandit_engine::sdk::HashContract;
use bandit_engine::synth::{generate, write_world, SynthParams};
use bandit_engine::time::parse_rfc3339;
use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

/// The optimization engine of an experimentation platform: reads exposure, decision
/// and track events, attributes rewards, fits bandit policies and republishes the
/// config bundle SDKs serve.
///
/// Formats are documented in docs/formats.md, publishing in docs/publishing.md.
/// Exit codes: 0 success; 1 bad input or failure (the message names the file, line
/// and field); 2 bad command line; 3 publishing refused by a guard (nothing written);
/// 4 the output directory is locked by another publisher.
#[derive(Parser)]
#[command(name = "bandit-engine", version, about, long_about)]
struct Cli {
    /// Print nothing but errors (no progress bars, no summary).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Contract {
    /// SHA-256 v2 assignment hash of the current SDKs.
    Sha256V2,
    /// FNV-1a 32-bit hash of the spec repository's fixtures.
    Fnv1aV1,
}

impl From<Contract> for HashContract {
    fn from(c: Contract) -> Self {
        match c {
            Contract::Sha256V2 => Self::Sha256V2,
            Contract::Fnv1aV1 => Self::Fnv1aV1,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum PopulationArg {
    /// Units with an exposure.
    Exposed,
    /// Units with a decision, exposed or not (intent to treat).
    Assigned,
}

impl From<PopulationArg> for bandit_engine::attribution::Population {
    fn from(p: PopulationArg) -> Self {
        match p {
            PopulationArg::Exposed => Self::Exposed,
            PopulationArg::Assigned => Self::Assigned,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Only the layers of the event's decisionId.
    Decision,
    /// Every layer the unit was exposed to in the session.
    Cumulative,
}

/// The events schema's multi-touch attribution models, under their schema names.
#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
enum TouchModelArg {
    /// All credit to the earliest touch.
    FirstTouch,
    /// All credit to the latest touch (the default).
    LastTouch,
    /// Equal shares.
    Linear,
    /// Shares halving every half-life (config halfLifeDays, default 7 days).
    TimeDecay,
    /// First and last touch 40% each, the rest shared (config positionWeights).
    PositionBased,
}

impl From<TouchModelArg> for bandit_engine::config::AttributionModel {
    fn from(m: TouchModelArg) -> Self {
        use bandit_engine::config::AttributionModel as M;
        match m {
            TouchModelArg::FirstTouch => M::FirstTouch,
            TouchModelArg::LastTouch => M::LastTouch,
            TouchModelArg::Linear => M::Linear,
            TouchModelArg::TimeDecay => M::TimeDecay,
            TouchModelArg::PositionBased => M::PositionBased,
        }
    }
}

#[derive(Subcommand)]
enum Command {
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
    #[command(verbatim_doc_comment)]
    Retrain {
        /// The project's .traffical/config.yaml.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The current config bundle (JSON).
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        /// Event files: .ndjson/.jsonl, .csv or .parquet (repeat the flag or list several).
        #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
        events: Vec<PathBuf>,
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
    },
    /// Per-allocation metrics of every optimised policy: exposed units, conversions,
    /// value sum, mean with 95% interval, lift against the control allocation (the
    /// config's `control:`, else the first) with interval and p-value, and the
    /// sample-ratio-mismatch check; then the same per value of each `dimension: true`
    /// property of the goal event (goal events split, exposed units kept whole).
    /// `--json` rows: policyId, allocationName, exposures, conversions, valueSum,
    /// mean, variance, ciLow, ciHigh, lift, liftCiLow, liftCiHigh, pValue,
    /// relativeLift, relativeLiftCiLow, relativeLiftCiHigh (a fraction: 0.042 is
    /// +4.2%; Fieller's interval, null when unbounded), and dimension, dimensionValue
    /// on breakdown rows.
    Metrics {
        /// The project's .traffical/config.yaml.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The config bundle in force (JSON).
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        /// Event files: .ndjson/.jsonl, .csv or .parquet.
        #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
        events: Vec<PathBuf>,
        /// Attribution mode for every policy, overriding the config.
        #[arg(long, value_enum)]
        attribution: Option<Mode>,
        /// Multi-touch attribution model for every policy, overriding the config.
        #[arg(long, value_enum)]
        attribution_model: Option<TouchModelArg>,
        /// Print a JSON array of allocation rows instead of a table.
        #[arg(long)]
        json: bool,
        /// Who counts as treated: `exposed` units (the platform's denominator) or
        /// `assigned` units, every unit a decision event assigned an allocation,
        /// exposed or not (intent to treat).
        #[arg(long, value_enum, default_value = "exposed")]
        population: PopulationArg,
        /// Also break results down by this key of the exposure context (repeatable):
        /// rows named `context.<key>`, each counting only the units exposed with that
        /// value.
        #[arg(long = "by-context", value_name = "KEY")]
        by_context: Vec<String>,
        /// Write the attribution report (a JSON array, one object per policy: goal
        /// events credited, before exposure, outside the window, duplicates...) here.
        /// Without it, a one-line summary per policy goes to stderr.
        #[arg(long, value_name = "FILE")]
        attribution_report: Option<PathBuf>,
    },
    /// Generate a seeded synthetic project: bundle, config, events and the truth behind them.
    Synth {
        /// Number of simulated users.
        #[arg(long, default_value_t = 2000)]
        units: u32,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days the traffic spreads over.
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Share of lines written malformed (to exercise the quarantine).
        #[arg(long, default_value_t = 0.003)]
        malformed_rate: f64,
        /// Hash contract of the simulated SDK.
        #[arg(long, value_enum, default_value = "sha256-v2")]
        hash: Contract,
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check a config, optionally against a bundle and event files.
    ///
    /// Prints config problems with file:line:column and key path, the cross-check of
    /// the `optimization:` section against the bundle, and for events the load
    /// counts, schema violations by event, property and rule (as enforcement would
    /// count them), and the undefined events discovery would describe. Exits 1 when
    /// the config or bundle has errors; invalid events alone do not fail it.
    #[command(verbatim_doc_comment)]
    Validate {
        /// The project's .traffical/config.yaml.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// A config bundle to cross-check the optimization section against.
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        /// Event files to validate against the event schemas.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        events: Vec<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write TypeScript types for the config's events (TrafficalEventProperties and
    /// friends) to pass as the SDK's type parameter. Deterministic: commit the file.
    GenerateTypes {
        /// The project's .traffical/config.yaml.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The TypeScript file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    // Help text: the doc comments of the argument structs in resolve.rs.
    Resolve(resolve::ResolveArgs),
    Conformance(resolve::ConformanceArgs),
    /// Validate event files and convert them to ndjson, csv or parquet (by extension).
    ///
    /// Refused records go to --quarantine (default: OUT with .quarantine.ndjson).
    Convert {
        /// Input event files.
        #[arg(long = "in", value_name = "FILE", num_args = 1.., required = true)]
        input: Vec<PathBuf>,
        /// Output file: .ndjson, .csv or .parquet.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Where refused records go.
        #[arg(long, value_name = "FILE")]
        quarantine: Option<PathBuf>,
        /// Stop at the first malformed record.
        #[arg(long)]
        strict: bool,
    },
    Simulate(simulate::SimulateArgs),
    /// Make the previous version of an output directory current again: bundle and
    /// state together (DIR/current switches atomically). Repeat to go further back,
    /// as far as the versions kept (retrain --keep). Exit code 4 if another process
    /// is publishing to DIR.
    Rollback {
        /// The output directory of `retrain --out`.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Show a bundle: layers, policies with their allocations, ranges and shares,
    /// contextual models, per-entity weights. Given an output directory of
    /// `retrain`, also its versions and the state summary (statistics, watermark,
    /// allocation history), after verifying that bundle and state match.
    Inspect {
        /// A bundle file, or an output directory of `retrain`.
        #[arg(value_name = "BUNDLE|DIR")]
        path: PathBuf,
        /// One JSON object instead of text: layers, policies (ranges, buckets,
        /// shares), entity state summary, and for a directory its versions and the
        /// whole state (statistics, watermark, allocation history).
        #[arg(long)]
        json: bool,
    },
    /// Compare two bundles: per policy the ranges and shares, buckets that changed
    /// allocation, contextual-model coefficients; and any other value that differs.
    /// Exits 0 whether or not they differ.
    Diff {
        /// The older bundle (or output directory: its current bundle).
        #[arg(value_name = "OLD")]
        old: PathBuf,
        /// The newer bundle (or output directory).
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Test hook for the crash-safety test: publishes COUNT versions into DIR as
    /// fast as it can, each a valid bundle + state pair derived from BUNDLE.
    #[command(hide = true)]
    PublishLoop {
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// A bundle with at least one adaptive policy.
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        /// Versions to publish.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Seed of the weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    // Help text: the doc comment of `EvaluateArgs` (src/cli/evaluate.rs).
    Evaluate(evaluate::EvaluateArgs),
    // Help text: the doc comment of `FitArgs` (src/cli/fit.rs).
    Fit(fit::FitArgs),
}

/// Runs the CLI.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<bandit_engine::Error>())
                .map_or(1, bandit_engine::Error::exit_code);
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let progress = progress::Bars::new(cli.quiet);
    match cli.command {
        Command::Simulate(args) => return simulate::run(args, &progress, cli.quiet),
        Command::Retrain {
            config,
            bundle,
            events,
            out,
            state,
            dry_run,
            keep,
            as_of,
            seed,
            strict,
            attribution,
            attribution_model,
            session_gap_minutes,
        } => {
            let as_of = as_of
                .map(|s| {
                    parse_rfc3339(&s).with_context(|| {
                        format!(
                            "--as-of {s:?} is not an RFC 3339 time such as 2026-11-25T12:00:00Z"
                        )
                    })
                })
                .transpose()?;
            let options = RetrainOptions {
                as_of,
                seed,
                strict,
                attribution: attribution.map(Mode::into),
                attribution_model: attribution_model.map(Into::into),
                session_gap_ms: Some((session_gap_minutes * 60_000.0) as i64),
                ..RetrainOptions::default()
            };
            let inputs = RetrainInputs {
                config,
                bundle,
                events,
            };
            let previous = state
                .map(bandit_engine::state::EngineState::from_path)
                .transpose()?;
            let outcome = Engine::new(options)
                .with_progress(&progress)
                .with_state(previous)
                .retrain(&inputs)?;
            if dry_run {
                print!("{}", publish::dry_run(&outcome, &out)?);
            } else {
                let options = bandit_engine::publish::PublishOptions {
                    keep: usize::try_from(keep).unwrap_or(usize::MAX),
                };
                let published = outcome.publish_with(&out, options)?;
                if !cli.quiet {
                    print!("{}", bandit_engine::summary::render(&outcome, &published));
                }
            }
        }
        Command::Rollback { dir } => {
            let text = publish::rollback(&dir)?;
            if !cli.quiet {
                print!("{text}");
            }
        }
        Command::Inspect { path, json: false } => print!("{}", inspect::inspect(&path)?),
        Command::Inspect { path, json: true } => print!("{}", inspect::inspect_json(&path)?),
        Command::Diff { old, new, json } => print!("{}", inspect::diff(&old, &new, json)?),
        Command::PublishLoop {
            dir,
            bundle,
            count,
            seed,
        } => publish::publish_loop(&dir, &bundle, count, seed)?,
        Command::Metrics {
            config,
            bundle,
            events,
            attribution,
            attribution_model,
            json,
            population,
            by_context,
            attribution_report,
        } => {
            let options = RetrainOptions {
                attribution: attribution.map(Mode::into),
                attribution_model: attribution_model.map(Into::into),
                population: population.into(),
                ..RetrainOptions::default()
            };
            let (policies, reports, _) = Engine::new(options)
                .with_progress(&progress)
                .metrics_with_attribution(
                    &RetrainInputs {
                        config,
                        bundle,
                        events,
                    },
                    &by_context,
                )?;
            match attribution_report {
                Some(path) => {
                    let mut text = serde_json::to_string_pretty(&reports)?;
                    text.push('\n');
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                None if !cli.quiet => {
                    for r in &reports {
                        eprintln!("{}", attribution_summary(r));
                    }
                }
                None => {}
            }
            if json {
                let rows: Vec<_> = policies
                    .iter()
                    .flat_map(|p| p.allocations.iter().chain(&p.breakdowns))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if !cli.quiet {
                print!("{}", render_metrics(&policies));
            }
        }
        Command::Synth {
            units,
            seed,
            days,
            malformed_rate,
            hash,
            out,
        } => {
            let params = SynthParams {
                units,
                seed,
                days,
                malformed_rate,
                contract: hash.into(),
                ..SynthParams::default()
            };
            let world = generate(&params)?;
            write_world(&world, &out)?;
            if !cli.quiet {
                println!(
                    "wrote {} ({} events, {} malformed lines, {} units, seed {seed})",
                    out.display(),
                    world.events.len(),
                    world.malformed,
                    units
                );
                for (policy, best) in &world.truth.best_allocation {
                    println!("  truth: best allocation of {policy} is {best}");
                }
            }
        }
        Command::Validate {
            config,
            bundle,
            events,
            json,
        } => {
            let v = validate::validate(&config, bundle.as_deref(), &events);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v.json(&config, bundle.as_deref()))?
                );
            } else {
                print!("{}", v.text(&config, bundle.as_deref()));
            }
            if v.failed() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Resolve(args) => return resolve::resolve(&args),
        Command::Conformance(args) => return resolve::conformance(&args, cli.quiet),
        Command::GenerateTypes { config, out } => {
            let n = validate::generate_types(&config, &out)?;
            if !cli.quiet {
                println!("wrote {} ({n} events)", out.display());
            }
        }
        Command::Convert {
            input,
            out,
            quarantine,
            strict,
        } => {
            let loaded = load_events_with_progress(&input, LoadOptions { strict }, &progress)?;
            let quarantine = quarantine.unwrap_or_else(|| out.with_extension("quarantine.ndjson"));
            write_quarantine(&quarantine, &loaded.rejected)?;
            // Re-read accepted records as events to write them in the target format.
            let events = reread_events(&input, &loaded)?;
            write_events(&events, &out)?;
            if !cli.quiet {
                println!(
                    "read {} records: {} accepted → {}, {} quarantined → {}",
                    loaded.report.read(),
                    loaded.report.accepted(),
                    out.display(),
                    loaded.report.quarantined(),
                    quarantine.display()
                );
            }
        }
        Command::Evaluate(args) => evaluate::run(args, &progress, cli.quiet)?,
        Command::Fit(args) => fit::run(args, cli.quiet)?,
    }
    Ok(ExitCode::SUCCESS)
}

impl From<Mode> for AttributionMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Decision => AttributionMode::Decision,
            Mode::Cumulative => AttributionMode::Cumulative,
        }
    }
}

/// One line per policy: where its goal's events went.
fn attribution_summary(r: &bandit_engine::attribution::AttributionReport) -> String {
    format!(
        "attribution {} ({} {}, {}): {} goal events, {} credited, {} before exposure, {} outside window, {} unlinked, {} not exposed; {} duplicates, {} unknown decisions, {} units in several allocations",
        r.policy_id,
        r.mode,
        r.model,
        r.goal_event,
        r.goal_events,
        r.credited,
        r.unattributed_before_exposure,
        r.outside_window,
        r.unlinked,
        r.not_exposed,
        r.duplicates,
        r.unknown_decision,
        r.multi_allocation_units
    )
}

fn opt(x: Option<f64>, d: usize) -> String {
    x.map_or("-".to_owned(), |v| format!("{v:.d$}"))
}

/// A relative lift as a signed percentage with one decimal (`0.042` → `+4.2%`).
fn pct(x: Option<f64>) -> String {
    x.map_or("-".to_owned(), |v| format!("{:+.1}%", v * 100.0))
}

/// The relative-lift cell: `+4.2% [-1.0%, +9.8%]`; `[unbounded]` when the control
/// mean is within its noise of zero (the row has a variance but no interval), `[-, -]`
/// when the row has too few units for a variance; `-` for the control and where the
/// relative lift is undefined.
fn relative_lift_cell(a: &bandit_engine::metrics::AllocationMetrics) -> String {
    let Some(r) = a.relative_lift else {
        return "-".into();
    };
    match (a.relative_lift_ci_low, a.relative_lift_ci_high) {
        (Some(low), Some(high)) => {
            format!("{} [{}, {}]", pct(Some(r)), pct(Some(low)), pct(Some(high)))
        }
        _ if a.variance.is_some() => format!("{} [unbounded]", pct(Some(r))),
        _ => format!("{} [-, -]", pct(Some(r))),
    }
}

/// One allocation's line of the metrics table, its name padded to `width`.
fn metrics_row(a: &bandit_engine::metrics::AllocationMetrics, width: usize) -> String {
    format!(
        "{:<width$} {:>9} {:>11} {:>10.2} {:>8} {:>19} {:>9} {:>21} {:>26} {:>7}",
        a.allocation_name,
        a.exposures,
        a.conversions,
        a.value_sum,
        opt(a.mean, 4),
        format!("[{}, {}]", opt(a.ci_low, 4), opt(a.ci_high, 4)),
        opt(a.lift, 4),
        if a.lift.is_some() {
            format!("[{}, {}]", opt(a.lift_ci_low, 4), opt(a.lift_ci_high, 4))
        } else {
            "(control)".into()
        },
        relative_lift_cell(a),
        opt(a.p_value, 3)
    )
}

fn render_metrics(policies: &[bandit_engine::metrics::PolicyMetrics]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for p in policies {
        let Some(first) = p.allocations.first() else {
            continue;
        };
        let _ = writeln!(s, "{}", first.policy_id);
        let _ = writeln!(
            s,
            "  {:<14} {:>9} {:>11} {:>10} {:>8} {:>19} {:>9} {:>21} {:>26} {:>7}",
            "allocation",
            "exposures",
            "conversions",
            "value",
            "mean",
            "95% CI",
            "lift",
            "lift 95% CI",
            "relative lift [95% CI]",
            "p"
        );
        for a in &p.allocations {
            let _ = writeln!(s, "  {}", metrics_row(a, 14));
        }
        let mut last_dimension: Option<(&str, Option<&str>)> = None;
        for a in &p.breakdowns {
            let Some(b) = &a.breakdown else { continue };
            let key = (b.dimension.as_str(), b.dimension_value.as_deref());
            if last_dimension.map(|(d, _)| d) != Some(key.0) {
                let _ = writeln!(
                    s,
                    "  by {}{}:",
                    b.dimension,
                    if b.dimension.starts_with("context.") {
                        " (units exposed with that value)"
                    } else {
                        " (goal events with that value; all exposed units)"
                    }
                );
            }
            if last_dimension != Some(key) {
                let _ = writeln!(s, "    {} =", key.1.unwrap_or("(not set)"));
            }
            last_dimension = Some(key);
            let _ = writeln!(s, "    {}", metrics_row(a, 12));
        }
        if let Some(srm) = &p.sample_ratio {
            let _ = writeln!(
                s,
                "  sample ratio: chi-square {:.2}, p = {:.4}{}",
                srm.chi_square,
                srm.p_value,
                if srm.mismatch {
                    "  MISMATCH: exposures do not follow the bucket shares"
                } else {
                    ""
                }
            );
        }
        s.push('\n');
    }
    s
}

/// The accepted events of the input files, in file order.
fn reread_events(
    paths: &[PathBuf],
    loaded: &bandit_engine::events::Loaded,
) -> Result<Vec<bandit_engine::events::Event>> {
    use bandit_engine::events::{Event, Format};
    let mut out = Vec::new();
    for p in paths {
        match Format::from_path(p)? {
            Format::Ndjson => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                out.extend(
                    text.lines()
                        .filter_map(|l| Event::from_json_str(l).ok())
                        .map(|(e, _)| e),
                );
            }
            _ => anyhow::bail!(
                "convert reads ndjson input; {} is already in the flat format",
                p.display()
            ),
        }
    }
    anyhow::ensure!(
        out.len() as u64 == loaded.report.accepted(),
        "accepted count changed between reads"
    );
    Ok(out)
}
