//! Command-line interface: a thin layer over the library's calls.

mod convert;
mod evaluate;
mod fit;
mod inspect;
mod metrics;
mod paths;
mod plot;
mod progress;
mod publish;
mod resolve;
mod retrain;
mod simulate;
mod sql;
mod summary;
mod synth;
mod terminal;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use bandit_engine::config::AttributionMode;
use bandit_engine::sdk::HashContract;

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
    // Help text: the doc comment of `RetrainArgs` (src/cli/retrain.rs).
    Retrain(retrain::RetrainArgs),
    // Help text: the doc comment of `MetricsArgs` (src/cli/metrics.rs).
    Metrics(metrics::MetricsArgs),
    // Help text: the doc comment of `SqlArgs` (src/cli/sql.rs).
    Sql(sql::SqlArgs),
    // Help text: the doc comment of `SynthArgs` (src/cli/synth.rs).
    Synth(synth::SynthArgs),
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
    // Help text: the doc comment of `ConvertArgs` (src/cli/convert.rs).
    Convert(convert::ConvertArgs),
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
            eprintln!("error: {}", terminal::escape(&error_text(&e)));
            let code = e
                .chain()
                .find_map(|c| c.downcast_ref::<bandit_engine::Error>())
                .map_or(1, exit_code);
            ExitCode::from(code)
        }
    }
}

/// An error and its causes on one line, as `{:#}` prints them, but a cause whose text
/// the line already ends with is not repeated: [`bandit_engine::Error::Io`] shows its
/// operating-system error and also reports it as its source, which printed
/// `x.yaml: No such file or directory (os error 2): No such file or directory (os error 2)`.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The exit code for a library error: 1 bad input or failure (config, bundle, events,
/// state, I/O), 3 refused by a publishing guard, 4 output directory locked by another
/// publisher. (2 is clap's code for a bad command line.) The codes are the binary's
/// contract with the schedulers that run it, so they live here, not in the library.
fn exit_code(e: &bandit_engine::Error) -> u8 {
    match e {
        bandit_engine::Error::Refused { .. } => 3,
        bandit_engine::Error::Locked { .. } => 4,
        _ => 1,
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let progress = progress::Bars::new(cli.quiet);
    match cli.command {
        Command::Simulate(args) => return simulate::run(args, &progress, cli.quiet),
        Command::Retrain(args) => retrain::run(args, &progress, cli.quiet)?,
        Command::Metrics(args) => metrics::run(args, &progress, cli.quiet)?,
        Command::Sql(args) => sql::run(&args)?,
        Command::Synth(args) => synth::run(&args, cli.quiet)?,
        Command::Convert(args) => convert::run(&args, &progress, cli.quiet)?,
        Command::Rollback { dir } => {
            let text = publish::rollback(&dir)?;
            if !cli.quiet {
                print!("{text}");
            }
        }
        Command::Inspect { path, json: false } => terminal::print(&inspect::inspect(&path)?),
        Command::Inspect { path, json: true } => print!("{}", inspect::inspect_json(&path)?),
        Command::Diff { old, new, json } => terminal::print(&inspect::diff(&old, &new, json)?),
        Command::PublishLoop {
            dir,
            bundle,
            count,
            seed,
        } => publish::publish_loop(&dir, &bundle, count, seed)?,
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
                // Problems to standard error, as every other command reports them; what
                // checked out to standard output.
                terminal::eprint(&v.errors());
                terminal::print(&v.text(&config, bundle.as_deref()));
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
