//! What a user runs, timed against the yardstick's Python polars pipeline in the same run.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example end_to_end -- [RUNS]
//! ```
//!
//! Runs `bandit-engine metrics --json` and `retrain --dry-run` on the shop log from
//! parquet and from ndjson, and the yardstick's `pipeline_polars.py` and
//! `pipeline_pandas.py` on the typed log it was made from; `convert` of the ndjson log
//! to parquet; and `fit --algorithm linucb` on a 1 M-row table
//! (`scripts/fit_table.py`) with MABWiser's fit of the same rows
//! (`scripts/mabwiser_fit.py`). Each command runs in turn (A B C … A B C …) `RUNS`
//! times (default 3) after a warm-up round, every one as a whole process under
//! `/usr/bin/time`, and the example prints each command's median wall time, peak RSS
//! and the median, pair by pair, of its wall over its reference's: the polars script
//! for the log's commands and the pandas script, MABWiser for `fit`. The paths come
//! from the environment, with the yardstick README's defaults: `BIN`
//! (`target/release/bandit-engine`), `WORLD` (`/tmp/shop-world`: `events.parquet`,
//! `events.ndjson`, `bundle.json`, `.traffical/config.yaml`), `LOG` (`/tmp/shop`),
//! `YARD` (`../shared/yardstick`), `PYTHON` (`$YARD/.venv/bin/python`), `FIT`
//! (`/tmp/fit1m.parquet`). The polars script runs with `POLARS_MAX_THREADS=2`, as the
//! issue measures it. Commands whose input is missing (or MABWiser, when `PYTHON`
//! cannot import it) are skipped with a note.

use std::path::Path;
use std::process::Command;

/// One command to time, through `/bin/sh -c`.
struct Job {
    name: String,
    line: String,
    /// The name of the job its wall times are divided by.
    reference: Option<&'static str>,
    walls: Vec<f64>,
    peak_mb: f64,
}

/// A command wanted: its name, line, reference (a job name) and the input it needs.
type Wanted = (String, String, Option<&'static str>, String);

const POLARS: &str = "Python polars script";
const MABWISER: &str = "MABWiser fit, same rows";

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

/// The commands whose inputs exist.
fn jobs() -> Vec<Job> {
    let bin = env_or("BIN", "target/release/bandit-engine");
    let world = env_or("WORLD", "/tmp/shop-world");
    let log = env_or("LOG", "/tmp/shop");
    let yard = env_or("YARD", "../shared/yardstick");
    let python = env_or("PYTHON", &format!("{yard}/.venv/bin/python"));
    let fit = env_or("FIT", "/tmp/fit1m.parquet");
    let common = format!(
        "--config {world}/.traffical/config.yaml --bundle {world}/bundle.json --events {world}"
    );
    let mut wanted: Vec<Wanted> = vec![
        (
            POLARS.to_owned(),
            format!("POLARS_MAX_THREADS=2 {python} {yard}/pipeline_polars.py {log} --out /tmp/end_to_end_py.json"),
            None,
            format!("{log}/exposures.parquet"),
        ),
        (
            "Python pandas script".to_owned(),
            format!("{python} {yard}/pipeline_pandas.py {log} --out /tmp/end_to_end_pd.json"),
            Some(POLARS),
            format!("{log}/exposures.parquet"),
        ),
    ];
    for format in ["parquet", "ndjson"] {
        wanted.push((
            format!("metrics --json, {format}"),
            format!("{bin} -q metrics {common}/events.{format} --json"),
            Some(POLARS),
            format!("{world}/events.{format}"),
        ));
        wanted.push((
            format!("retrain --dry-run, {format}"),
            format!("{bin} -q retrain {common}/events.{format} --out /tmp/end_to_end_rt --dry-run"),
            Some(POLARS),
            format!("{world}/events.{format}"),
        ));
    }
    wanted.push((
        "convert ndjson to parquet".to_owned(),
        format!(
            "{bin} -q convert --in {world}/events.ndjson --out /tmp/end_to_end_convert.parquet"
        ),
        None,
        format!("{world}/events.ndjson"),
    ));
    let features: Vec<String> = (0..16).map(|j| format!("x{j}")).collect();
    wanted.push((
        "fit --algorithm linucb, 1 M rows".to_owned(),
        format!(
            "{bin} -q fit --rewards {fit} --algorithm linucb --arm arm --reward reward --features {} --out /tmp/end_to_end_model.json",
            features.join(",")
        ),
        Some(MABWISER),
        fit.clone(),
    ));
    if mabwiser(&python) {
        wanted.push((
            MABWISER.to_owned(),
            format!("{python} scripts/mabwiser_fit.py {fit}"),
            None,
            fit,
        ));
    } else {
        eprintln!("skipped {MABWISER}: {python} cannot import mabwiser (pip install mabwiser)");
    }
    wanted
        .into_iter()
        .filter(|(name, _, _, input)| {
            let ok = Path::new(input).exists();
            if !ok {
                eprintln!("skipped {name}: {input} is missing");
            }
            ok
        })
        .map(|(name, line, reference, _)| Job {
            name,
            line,
            reference,
            walls: Vec::new(),
            peak_mb: 0.0,
        })
        .collect()
}

/// Whether `python` can import MABWiser.
fn mabwiser(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import mabwiser"])
        .output()
        .is_ok_and(|o| o.status.success())
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
    println!("| command | median wall | peak RSS | wall / reference's (median of pairs) |");
    println!("|---|---|---|---|");
    for job in &jobs {
        let reference = job
            .reference
            .and_then(|name| jobs.iter().find(|j| j.name == name));
        let ratio = reference.map_or("–".to_owned(), |r| {
            let pairs = job.walls.iter().zip(&r.walls).map(|(w, p)| w / p).collect();
            format!("{:.2} ({})", median(pairs), r.name)
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
