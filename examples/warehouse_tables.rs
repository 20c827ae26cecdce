//! Writes event files as the two relations the warehouse queries read
//! (`exposures.csv`, `tracks.csv`) and the scripts that load them into PostgreSQL
//! (`load.postgres.sql`, for psql), DuckDB, Spark SQL and ClickHouse (for
//! `clickhouse-local` or chDB), then prints the load time
//! of the events. `docs/warehouse.md` loads the demo and the yardstick log with it:
//!
//! ```sh
//! cargo run --release --example warehouse_tables -- OUT_DIR EVENTS...
//! ```

use std::path::PathBuf;
use std::time::Instant;

use bandit_engine::events::{load_events, LoadOptions};
use bandit_engine::warehouse::{export_tables, load_script, DialectName};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let usage = "usage: warehouse_tables OUT_DIR EVENTS...";
    let out = args.next().ok_or(usage)?;
    let events: Vec<PathBuf> = args.collect();
    if events.is_empty() {
        return Err(usage.into());
    }
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let loaded = load_events(&events, LoadOptions::default())?;
    let read = started.elapsed();
    export_tables(&loaded.tables, &out)?;
    let out = std::fs::canonicalize(&out)?;
    for d in [
        DialectName::Postgres,
        DialectName::DuckDb,
        DialectName::Spark,
        DialectName::ClickHouse,
    ] {
        let script = load_script(d, &out).expect("these four have load scripts");
        std::fs::write(out.join(format!("load.{d}.sql")), script)?;
    }
    println!(
        "{} exposure rows, {} track rows: read in {:.1} s, written in {:.1} s to {}",
        loaded.tables.exposures.height(),
        loaded.tables.tracks.height(),
        read.as_secs_f64(),
        (started.elapsed() - read).as_secs_f64(),
        out.display()
    );
    Ok(())
}
