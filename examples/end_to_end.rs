//! What a user runs, timed against the yardstick's Python polars pipeline in the same run.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example end_to_end -- [RUNS]
//! ```
//!
//! Runs `bandit-engine metrics --json` and `retrain --dry-run` on the shop log from
//! parquet and from ndjson, and `pipeline_polars.py` on the typed log it was made from,
//! each command in turn (A B C … A B C …) `RUNS` times (default 3) after a warm-up
//! round, every one as a whole process under `/usr/bin/time`, and prints each command's
//! median wall time, peak RSS and the median, pair by pair, of its wall over the
//! script's. The paths come from the environment, with the yardstick README's defaults:
//! `BIN` (`target/release/bandit-engine`), `WORLD` (`/tmp/shop-world`: `events.parquet`,
//! `events.ndjson`, `bundle.json`, `.traffical/config.yaml`), `LOG` (`/tmp/shop`),
//! `YARD` (`../shared/yardstick`), `PYTHON` (`$YARD/.venv/bin/python`). The script runs
//! with `POLARS_MAX_THREADS=2`, as the issue measures it. Commands whose input is
//! missing are skipped with a note.

use std::path::Path;
use std::process::Command;

/// One command to time, through `/bin/sh -c`.
struct Job {
    name: String,
    line: String,
    walls: Vec<f64>,
    peak_mb: f64,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Wall seconds and peak RSS (MB) of one run of `line`.
fn run(line: &str) -> Result<(f64, f64), String> {
    let out = Command::new("/usr/bin/time")
        .args([
            "-f",
            "%e %M",
            "/bin/sh",
            "-c",
            &format!("{line} >/dev/null 2>&1"),
        ])
        .output()
        .map_err(|e| format!("/usr/bin/time: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("failed ({}): {line}\n{stderr}", out.status));
    }
    let last = stderr.lines().last().unwrap_or_default();
    let mut it = last.split_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next()) {
        (Some(Ok(wall)), Some(Ok(kb))) => Ok((wall, kb / 1024.0)),
        _ => Err(format!("unreadable /usr/bin/time output: {last}")),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// The commands whose inputs exist: the script first (the reference of the ratios).
fn jobs() -> Vec<Job> {
    let bin = env_or("BIN", "target/release/bandit-engine");
    let world = env_or("WORLD", "/tmp/shop-world");
    let log = env_or("LOG", "/tmp/shop");
    let yard = env_or("YARD", "../shared/yardstick");
    let python = env_or("PYTHON", &format!("{yard}/.venv/bin/python"));
    let common = format!(
        "--config {world}/.traffical/config.yaml --bundle {world}/bundle.json --events {world}"
    );
    let mut wanted = vec![(
        "Python polars script".to_owned(),
        format!("POLARS_MAX_THREADS=2 {python} {yard}/pipeline_polars.py {log} --out /tmp/end_to_end_py.json"),
        format!("{log}/exposures.parquet"),
    )];
    for format in ["parquet", "ndjson"] {
        wanted.push((
            format!("metrics --json, {format}"),
            format!("{bin} -q metrics {common}/events.{format} --json"),
            format!("{world}/events.{format}"),
        ));
        wanted.push((
            format!("retrain --dry-run, {format}"),
            format!("{bin} -q retrain {common}/events.{format} --out /tmp/end_to_end_rt --dry-run"),
            format!("{world}/events.{format}"),
        ));
    }
    wanted
        .into_iter()
        .filter(|(name, _, input)| {
            let ok = Path::new(input).exists();
            if !ok {
                eprintln!("skipped {name}: {input} is missing");
            }
            ok
        })
        .map(|(name, line, _)| Job {
            name,
            line,
            walls: Vec::new(),
            peak_mb: 0.0,
        })
        .collect()
}

fn main() -> Result<(), String> {
    let runs: usize = match std::env::args().nth(1) {
        None => 3,
        Some(r) => r.parse().map_err(|e| format!("RUNS: {e}"))?,
    };
    let mut jobs = jobs();
    for job in &jobs {
        run(&job.line)?; // warm-up: the file cache, as every later run finds it
    }
    for _ in 0..runs {
        for job in &mut jobs {
            let (wall, mb) = run(&job.line)?;
            job.walls.push(wall);
            job.peak_mb = job.peak_mb.max(mb);
        }
    }
    let reference = jobs
        .first()
        .filter(|j| j.name.starts_with("Python"))
        .map(|j| j.walls.clone());
    println!("| command | median wall | peak RSS | wall / script's (median of pairs) |");
    println!("|---|---|---|---|");
    for job in &jobs {
        let ratio = reference.as_ref().map_or("–".to_owned(), |r| {
            let pairs = job.walls.iter().zip(r).map(|(w, p)| w / p).collect();
            format!("{:.2}", median(pairs))
        });
        println!(
            "| {} | {:.2} s | {:.2} GB | {ratio} |",
            job.name,
            median(job.walls.clone()),
            job.peak_mb / 1024.0
        );
    }
    for job in &jobs {
        println!("{}: {}", job.name, job.line);
    }
    Ok(())
}
