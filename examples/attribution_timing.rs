//! Times attribution, the reward table and the metrics on an event log, run after run.
//!
//! ```text
//! cargo run --release --example attribution_timing -- EVENTS [cumulative|decision] [RUNS] [GOAL_EVENT]
//! ```
//!
//! `EVENTS` is an ndjson or parquet event log (`cargo bench --bench attribution` leaves
//! its 1 M-row log at `$TMPDIR/bandit-engine-bench/attribution-1000000.parquet`); the
//! goal is the sum of `value` of `GOAL_EVENT` (default `purchase`), scored against every
//! policy the exposures name. Each run's time is printed, then the fastest: on a shared
//! machine the spread between runs is itself worth seeing, which criterion's mean hides.

use std::collections::BTreeSet;
use std::time::Instant;

use bandit_engine::attribution::{rewards, AttributionParams};
use bandit_engine::config::{AttributionMode, Goal};
use bandit_engine::events::{load_events, LoadOptions};
use bandit_engine::metrics::policy_metrics;
use bandit_engine::sdk::model::Policy;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the CLI does: buffers reused from run to run instead of mapped afresh.
    bandit_engine::memory::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: attribution_timing EVENTS [cumulative|decision] [RUNS] [GOAL_EVENT]");
        std::process::exit(2);
    };
    let mode = match args.get(1).map(String::as_str) {
        None | Some("cumulative") => AttributionMode::Cumulative,
        Some("decision") => AttributionMode::Decision,
        Some(other) => {
            return Err(format!("mode must be cumulative or decision, not {other}").into())
        }
    };
    let runs: usize = args.get(2).map_or(Ok(5), |r| r.parse())?;
    let event = args.get(3).map_or("purchase", String::as_str);

    let started = Instant::now();
    let tables = load_events(&[path.into()], LoadOptions::default())?.tables;
    println!(
        "loaded {} exposure rows and {} track events in {:.2} s",
        tables.exposures.height(),
        tables.tracks.height(),
        started.elapsed().as_secs_f64()
    );
    let goal: Goal = serde_json::from_value(serde_json::json!({"event": event, "type": "sum"}))?;
    let params = AttributionParams::default().with_mode(mode);
    // Every policy × allocation the exposures name, as bundle policies for the metrics.
    let pairs: BTreeSet<(String, String)> = tables
        .exposures
        .column("policy_id")?
        .str()?
        .iter()
        .zip(tables.exposures.column("allocation_name")?.str()?.iter())
        .filter_map(|(p, a)| Some((p?.to_owned(), a?.to_owned())))
        .collect();
    let policies: Vec<Policy> = pairs
        .iter()
        .map(|(p, _)| p.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|p| {
            let allocations: Vec<_> = pairs
                .iter()
                .filter(|(q, _)| *q == p)
                .map(
                    |(_, a)| serde_json::json!({"name": a, "bucketRange": [0, 0], "overrides": {}}),
                )
                .collect();
            serde_json::from_value(serde_json::json!({
                "id": p, "state": "running", "kind": "adaptive", "conditions": [],
                "allocations": allocations,
            }))
        })
        .collect::<Result<_, _>>()?;
    let mut best = f64::INFINITY;
    for run in 1..=runs {
        let started = Instant::now();
        let table = rewards(&tables, &goal, &params)?;
        let attributed = started.elapsed().as_secs_f64();
        for policy in &policies {
            policy_metrics(table.clone(), policy)?;
        }
        let total = started.elapsed().as_secs_f64();
        best = best.min(total);
        println!(
            "run {run}: {total:.3} s (rewards {attributed:.3} s, metrics {:.3} s)",
            total - attributed
        );
    }
    println!("fastest of {runs}: {best:.3} s");
    Ok(())
}
