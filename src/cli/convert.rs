//! `bandit-engine convert`: validate event files and write them in another format.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use bandit_engine::events::{convert_events_within, LoadOptions};
use bandit_engine::partition::MemoryLimit;

use super::paths;
use super::progress::Bars;

/// Validate event files and convert them to ndjson, csv or parquet (by extension).
///
/// Refused records go to --quarantine (default: OUT with .quarantine.ndjson).
#[derive(Args)]
pub struct ConvertArgs {
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
    /// Memory the conversion may use (e.g. 512M, 1G; binary units; at least 104M).
    /// Memory does not grow with the input's size whatever the limit: the input is read
    /// in blocks of up to 32 MiB of whole lines, and a parquet output is written a row
    /// group at a time (262,144 rows, about 0.6 GB while it is built). Under a limit
    /// below about 700M the row groups, then the blocks, are smaller: the same rows,
    /// in more row groups. Default: half the memory available.
    #[arg(long, value_name = "SIZE", value_parser = MemoryLimit::parse)]
    memory_limit: Option<MemoryLimit>,
}

/// Streams the input: accepted records to `--out`, refused ones to the quarantine
/// file, a block at a time (memory does not grow with the input).
pub fn run(args: &ConvertArgs, progress: &Bars, quiet: bool) -> Result<()> {
    let quarantine = args
        .quarantine
        .clone()
        .unwrap_or_else(|| args.out.with_extension("quarantine.ndjson"));
    // Refused before anything is read: writing an output truncates it first, and the
    // input would be lost.
    for input in &args.input {
        for (flag, out) in [("--out", &args.out), ("--quarantine", &quarantine)] {
            if paths::same_file(input, out) {
                anyhow::bail!(
                    "{flag} {} is the input file {}: writing it would destroy the input; choose another path",
                    out.display(),
                    input.display()
                );
            }
        }
    }
    if paths::same_file(&args.out, &quarantine) {
        anyhow::bail!(
            "--out and --quarantine are the same file {}; choose two paths",
            args.out.display()
        );
    }
    let report = convert_events_within(
        &args.input,
        &args.out,
        &quarantine,
        LoadOptions {
            strict: args.strict,
        },
        progress,
        args.memory_limit.unwrap_or_else(MemoryLimit::from_machine),
    )?;
    if !quiet {
        println!(
            "read {} records: {} accepted → {}, {} quarantined → {}",
            report.read(),
            report.accepted(),
            args.out.display(),
            report.quarantined(),
            quarantine.display()
        );
    }
    Ok(())
}
