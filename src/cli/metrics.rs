//! `bandit-engine metrics`: per-allocation metrics of every optimised policy, as a
//! table or JSON rows, with the attribution report.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use bandit_engine::metrics::AnalysisUnit;
use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

use super::progress::Bars;
use super::{Mode, PopulationArg, TouchModelArg};

/// Per-allocation metrics of every optimised policy: exposed units (unique unit
/// keys, in both attribution modes), converted units, value sum, mean per exposed
/// unit with 95% interval, lift against the control allocation (the
/// config's `control:`, else the first) with interval and p-value, and the
/// sample-ratio-mismatch check; then the same per value of each `dimension: true`
/// property of the goal event (goal events split, exposed units kept whole).
/// `--json` rows: policyId, allocationName, exposures, conversions, valueSum,
/// mean, variance, ciLow, ciHigh, lift, liftCiLow, liftCiHigh, pValue,
/// relativeLift, relativeLiftCiLow, relativeLiftCiHigh (a fraction: 0.042 is
/// +4.2%; Fieller's interval, null when unbounded), and dimension, dimensionValue
/// on breakdown rows.
#[derive(Args)]
pub struct MetricsArgs {
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
    /// The analysis unit: `unit` (the platform's: each unit once per allocation,
    /// conversions and sums per unit) or `decision` (decision mode's reward rows, what
    /// a per-decision learner reads: exposures are decisions, the interval
    /// cluster-robust by unit). The sample-ratio check counts units in both.
    #[arg(long, value_enum, default_value = "unit")]
    per: PerArg,
    /// Stop at the first refused event record (file, line, field) instead of
    /// counting it. Without it, the counts of records read, accepted and refused go
    /// to stderr, and a log of which no record was accepted is an error; `convert
    /// --in FILE --out OUT` writes the refused records, with their reasons, to a
    /// quarantine file.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    memory: super::retrain::MemoryArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum PerArg {
    /// Unique units (unit keys).
    Unit,
    /// Decisions (decision attribution only).
    Decision,
}

impl From<PerArg> for AnalysisUnit {
    fn from(p: PerArg) -> Self {
        match p {
            PerArg::Unit => Self::Unit,
            PerArg::Decision => Self::Decision,
        }
    }
}

/// Computes the metrics and prints them; the attribution report goes to its file or,
/// summarised, to stderr.
pub fn run(args: MetricsArgs, progress: &Bars, quiet: bool) -> Result<()> {
    if let Some(path) = &args.attribution_report {
        let mut inputs = vec![args.config.as_path(), args.bundle.as_path()];
        inputs.extend(args.events.iter().map(PathBuf::as_path));
        super::paths::check_output_file("--attribution-report", path, &inputs)?;
    }
    let options = RetrainOptions {
        attribution: args.attribution.map(Mode::into),
        attribution_model: args.attribution_model.map(Into::into),
        population: args.population.into(),
        strict: args.strict,
        memory_limit: args.memory.memory_limit,
        partitions: args.memory.partitions.map(|n| n as usize),
        spill_dir: args.memory.spill_dir.clone(),
        ..RetrainOptions::default()
    };
    let (policies, reports, load) = Engine::new(options).with_progress(progress).metrics_per(
        &RetrainInputs {
            config: args.config,
            bundle: args.bundle,
            events: args.events,
        },
        &args.by_context,
        args.per.into(),
    )?;
    if load.read() > 0 && load.accepted() == 0 {
        anyhow::bail!(
            "none of the {} event records read was accepted, so every metric would be zero; rerun with --strict for the first refusal, or `bandit-engine convert --in FILE --out OUT` to write every refused record with its reason",
            load.read()
        );
    }
    if !quiet {
        eprintln!(
            "events: {} read, {} accepted, {} refused{}",
            load.read(),
            load.accepted(),
            load.quarantined(),
            if load.quarantined() > 0 {
                " (not counted; `convert --in FILE --out OUT` writes them with their reasons, --strict stops at the first)"
            } else {
                ""
            }
        );
    }
    match args.attribution_report {
        Some(path) => {
            let mut text = serde_json::to_string_pretty(&reports)?;
            text.push('\n');
            super::paths::write_file(&path, &text)?;
        }
        None if !quiet => {
            for r in &reports {
                super::terminal::eprint(&(attribution_summary(r) + "\n"));
            }
        }
        None => {}
    }
    if args.json {
        let rows: Vec<_> = policies
            .iter()
            .flat_map(|p| p.allocations.iter().chain(&p.breakdowns))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if !quiet {
        super::terminal::print(&render_metrics(&policies));
    }
    Ok(())
}

/// One line per policy: where its goal's events went.
fn attribution_summary(r: &bandit_engine::attribution::AttributionReport) -> String {
    format!(
        "attribution {} ({} {}, {}): {} goal events, {} credited ({} by decision, {} by unit key, {} by SDK array), {} before exposure, {} outside window, {} unlinked, {} not exposed; {} duplicates, {} unknown decisions, {} units in several allocations",
        r.policy_id,
        r.mode,
        r.model,
        r.goal_event,
        r.goal_events,
        r.credited,
        r.credited_by_decision,
        r.credited_by_unit_key,
        r.credited_by_array,
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

/// The metrics tables, one per policy: allocations, breakdowns, sample ratio.
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
        if p.multi_allocation_units > 0 {
            let _ = writeln!(
                s,
                "  {} units exposed to several allocations: each counts once in every allocation it was exposed to",
                p.multi_allocation_units
            );
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
