//! `bandit-engine simulate`: the batched-retrain simulation, as CSV, plots and a table.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use bandit_engine::simulate::{
    simulate_with_progress, SimulateOptions, Simulation, WorldKind, ALGORITHMS,
};

use super::plot::{Figure, Line, Panel};
use super::progress::Bars;
use super::Contract;

/// Simulate the production loop on a world with known truth and compare algorithms.
///
/// Units of the synthetic shop arrive every --interval-seconds and are resolved
/// through the live bundle exactly as an SDK would; every --batch units the engine
/// retrains on the events visible by then (same code path and knobs as `retrain`,
/// conversions still in flight are not seen yet) and its bundle goes live. Every
/// algorithm sees the same units, contexts and conversion draws; `uniform` never
/// retrains (the A/B test baseline).
///
/// Regret per unit is the expected loss of the allocation served against the best
/// allocation for that unit: max_a p(x, a) - p(x, served), with p the true conversion
/// probability; the curves show its running sum. In the shop world the best
/// allocation is the same for every unit; in the contextual world (--world
/// contextual: a hero banner whose best variant depends on device and visits) it is
/// the best per context, which no non-contextual policy can reach.
///
/// Writes DIR/simulation.csv (one row per algorithm, batch, policy and allocation:
/// weight, units served, cumulative regret, retrain status), DIR/regret.svg and .png
/// (cumulative regret per policy), DIR/allocations.svg and .png (allocation weights
/// over time, one panel per algorithm and policy) and DIR/simulation.json (truth and
/// final regret). Prints final regret per algorithm. For a policy served by a
/// contextualModel (linucb, lints), an allocation's weight is the mean probability
/// the live model gives it over the units of the batch just served.
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct SimulateArgs {
    /// WorldKind with known truth: the demo shop, or the contextual hero banner.
    #[arg(long, value_enum, default_value = "shop")]
    world: WorldArg,
    /// Units arriving in all (per algorithm).
    #[arg(long, default_value_t = 20_000)]
    units: u32,
    /// Units between two retrains.
    #[arg(long, default_value_t = 1_000)]
    batch: u32,
    /// Seconds between two arrivals (with --batch, sets the time between retrains,
    /// which `windowSizeMinutes` may refuse as too soon).
    #[arg(long, default_value_t = 30.0)]
    interval_seconds: f64,
    /// Comma-separated algorithms to compare, from uniform, thompson_bernoulli,
    /// thompson_gaussian, ucb1, epsilon_greedy, linucb, lints (the last two:
    /// linear_contextual with that method). Default: the first five in the shop
    /// world; uniform, thompson_bernoulli, linucb, lints in the contextual world.
    #[arg(long, value_delimiter = ',')]
    algorithms: Option<Vec<String>>,
    /// Softmax temperature the linear algorithms' contextualModel starts with (kept
    /// by every retrain). Lower exploits harder. Default: the engine's (0.1),
    /// published by the first fit.
    #[arg(long)]
    gamma: Option<f64>,
    /// Master seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Hash contract of the simulated SDK.
    #[arg(long, value_enum, default_value = "sha256-v2")]
    hash: Contract,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// `--world`.
#[derive(Clone, Copy, ValueEnum)]
enum WorldArg {
    Shop,
    Contextual,
}

impl From<WorldArg> for WorldKind {
    fn from(w: WorldArg) -> Self {
        match w {
            WorldArg::Shop => Self::Shop,
            WorldArg::Contextual => Self::Contextual,
        }
    }
}

pub fn run(args: SimulateArgs, progress: &Bars, quiet: bool) -> Result<ExitCode> {
    let world = WorldKind::from(args.world);
    let options = SimulateOptions {
        world,
        units: args.units,
        batch: args.batch,
        seed: args.seed,
        algorithms: args
            .algorithms
            .unwrap_or_else(|| world.default_algorithms()),
        arrival_interval_ms: (args.interval_seconds * 1000.0).round() as i64,
        contract: args.hash.into(),
        gamma: args.gamma,
        ..SimulateOptions::default()
    };
    let sim = simulate_with_progress(&options, progress).with_context(|| {
        format!(
            "simulation failed (algorithms available: {})",
            ALGORITHMS.join(", ")
        )
    })?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    sim.write_csv(&args.out.join("simulation.csv"))?;
    let summary = serde_json::json!({
        "seed": sim.seed,
        "units": sim.units,
        "batch": sim.batch,
        "best": sim.best,
        "expectedConversion": sim.expected_conversion,
        "oracleConversion": sim.oracle_conversion,
        "finalRegret": sim.final_regret().into_iter()
            .map(|((a, p), r)| serde_json::json!({"algorithm": a, "policyId": p, "cumulativeRegret": r}))
            .collect::<Vec<_>>(),
    });
    let json_path = args.out.join("simulation.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    regret_figure(&sim).write(&args.out, "regret")?;
    allocation_figure(&sim, &options.algorithms).write(&args.out, "allocations")?;
    if !quiet {
        print_table(&sim, &options.algorithms);
        println!(
            "wrote simulation.csv, simulation.json, regret.svg/.png, allocations.svg/.png in {}",
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(sim: &Simulation, algorithms: &[String]) {
    let regret = sim.final_regret();
    print!("{:<20}", "cumulative regret");
    for p in &sim.policies {
        print!(" {p:>22}");
    }
    println!();
    for a in algorithms {
        print!("{a:<20}");
        for p in &sim.policies {
            let r = regret.get(&(a.clone(), p.clone())).copied().unwrap_or(0.0);
            print!(" {r:>22.2}");
        }
        println!();
    }
    for (p, best) in &sim.best {
        let fixed = sim
            .expected_conversion
            .get(p)
            .and_then(|m| m.get(best))
            .copied()
            .unwrap_or(0.0);
        let oracle = sim.oracle_conversion.get(p).copied().unwrap_or(0.0);
        println!("best allocation of {p}: {best}");
        // Only when the best allocation depends on the context.
        if oracle > fixed {
            println!(
                "  it converts {fixed:.4} on average; the best allocation per context, {oracle:.4}"
            );
        }
    }
}

/// One point per batch of one algorithm and policy: (units, value of the first row).
fn series(
    sim: &Simulation,
    algorithm: &str,
    policy: &str,
    allocation: Option<&str>,
) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for r in sim
        .rows
        .iter()
        .filter(|r| r.algorithm == algorithm && r.policy_id == policy)
    {
        match allocation {
            Some(a) if r.allocation == a => out.push((r.units as f64, r.weight)),
            None if out.last().is_none_or(|l| l.0 != r.units as f64) => {
                out.push((r.units as f64, r.cumulative_regret));
            }
            _ => {}
        }
    }
    out
}

fn regret_figure(sim: &Simulation) -> Figure {
    let algorithms: Vec<String> = sim.rows.iter().fold(Vec::new(), |mut v, r| {
        if !v.contains(&r.algorithm) {
            v.push(r.algorithm.clone());
        }
        v
    });
    Figure {
        columns: sim.policies.len().min(2),
        panel_size: (640, 440),
        panels: sim
            .policies
            .iter()
            .map(|p| Panel {
                title: format!("{p}: cumulative regret"),
                x_desc: "units served".into(),
                y_desc: "expected conversions lost".into(),
                y_range: None,
                lines: algorithms
                    .iter()
                    .map(|a| Line {
                        label: a.clone(),
                        points: series(sim, a, p, None),
                        bold: false,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn allocation_figure(sim: &Simulation, algorithms: &[String]) -> Figure {
    let mut panels = Vec::new();
    for a in algorithms {
        for p in &sim.policies {
            let mut names: Vec<&str> = Vec::new();
            for r in sim.rows.iter().filter(|r| &r.policy_id == p) {
                if !names.contains(&r.allocation.as_str()) {
                    names.push(&r.allocation);
                }
            }
            panels.push(Panel {
                title: format!("{a}: {p}"),
                x_desc: "units served".into(),
                y_desc: "share of traffic".into(),
                y_range: Some((0.0, 1.0)),
                lines: names
                    .iter()
                    .map(|n| Line {
                        label: (*n).to_owned(),
                        points: series(sim, a, p, Some(n)),
                        bold: sim.best.get(p).is_some_and(|b| b == n),
                    })
                    .collect(),
            });
        }
    }
    Figure {
        columns: sim.policies.len().max(1),
        panel_size: (560, 320),
        panels,
    }
}
