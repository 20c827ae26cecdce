//! `bandit-engine synth`: a seeded synthetic project with its truth.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use bandit_engine::synth::{generate_into, SynthParams};

use super::Contract;

/// Generate a seeded synthetic project: bundle, config, events and the truth behind them.
#[derive(Args)]
pub struct SynthArgs {
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
}

/// Generates the world and writes it to `--out`.
pub fn run(args: &SynthArgs, quiet: bool) -> Result<()> {
    let params = SynthParams {
        units: args.units,
        seed: args.seed,
        days: args.days,
        malformed_rate: args.malformed_rate,
        contract: args.hash.into(),
        ..SynthParams::default()
    };
    // Streamed: memory stays bounded whatever `--units` is.
    let world = generate_into(&params, &args.out)?;
    if !quiet {
        println!(
            "wrote {} ({} events, {} malformed lines, {} units, seed {})",
            args.out.display(),
            world.events,
            world.malformed,
            args.units,
            args.seed
        );
        for (policy, best) in &world.truth.best_allocation {
            println!("  truth: best allocation of {policy} is {best}");
        }
    }
    Ok(())
}
