//! The event tables written as the two relations the queries read, and the scripts
//! that load them into PostgreSQL, DuckDB, Spark SQL and ClickHouse: how the equality
//! tests and the docs' demo put the same events in a warehouse as the engine reads
//! from files.
//!
//! Times are written as epoch milliseconds (`ts_ms`, `event_ts_ms`) and turned into
//! timestamps by integer interval arithmetic when loaded, so no rounding happens on
//! the way in.

use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::*;

use super::dialect::DialectName;
use crate::error::{Error, Result};
use crate::events::EventTables;

/// Exposure columns written, with their SQL types (text unless said).
const EXPOSURES: [(&str, &str); 10] = [
    ("kind", "text"),
    ("unit_key", "text"),
    ("session_id", "text"),
    ("decision_id", "text"),
    ("layer_id", "text"),
    ("policy_id", "text"),
    ("allocation_name", "text"),
    ("attribution_only", "boolean"),
    ("ts", "ms"),
    // JSON text: what linear contextual policies read their features from.
    ("context", "text"),
];

/// Track columns written.
const TRACKS: [(&str, &str); 8] = [
    ("event_id", "text"),
    ("event", "text"),
    ("unit_key", "text"),
    ("session_id", "text"),
    ("decision_id", "text"),
    ("value", "double"),
    ("ts", "ms"),
    ("event_ts", "ms"),
];

/// Writes `exposures.csv` and `tracks.csv` under `dir` (text quoted, null as an empty
/// unquoted cell, times as `<name>_ms`).
///
/// # Errors
///
/// [`Error::Polars`](crate::Error::Polars) if a table lacks a column; [`Error::Io`]
/// if a file cannot be written.
pub fn export_tables(tables: &EventTables, dir: &Path) -> Result<()> {
    write_csv(&tables.exposures, &EXPOSURES, &dir.join("exposures.csv"))?;
    write_csv(&tables.tracks, &TRACKS, &dir.join("tracks.csv"))
}

fn header(columns: &[(&str, &str)]) -> String {
    columns
        .iter()
        .map(|(n, t)| {
            if *t == "ms" {
                format!("{n}_ms")
            } else {
                (*n).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn write_csv(df: &DataFrame, columns: &[(&str, &str)], path: &Path) -> Result<()> {
    let mut out = header(columns);
    out.push('\n');
    let cols: Vec<&Column> = columns
        .iter()
        .map(|(n, _)| df.column(n))
        .collect::<PolarsResult<_>>()?;
    for i in 0..df.height() {
        for (k, ((_, t), c)) in columns.iter().zip(&cols).enumerate() {
            if k > 0 {
                out.push(',');
            }
            let v = c.get(i)?;
            match (*t, v) {
                (_, AnyValue::Null) => {}
                ("text", v) => {
                    let s = v.get_str().map_or_else(|| v.to_string(), str::to_owned);
                    let _ = write!(out, "\"{}\"", s.replace('"', "\"\""));
                }
                ("double", v) => {
                    let x: f64 = v.extract().unwrap_or(f64::NAN);
                    let _ = write!(out, "{x:?}");
                }
                (_, v) => {
                    let _ = write!(out, "{v}");
                }
            }
        }
        out.push('\n');
    }
    std::fs::write(path, out).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Column definitions of the raw (as written) table.
fn raw_columns(columns: &[(&str, &str)], d: DialectName) -> String {
    columns
        .iter()
        .map(|(n, t)| match *t {
            "ms" => format!("{n}_ms BIGINT"),
            "double" if d == DialectName::Postgres => format!("{n} DOUBLE PRECISION"),
            "double" => format!("{n} DOUBLE"),
            "boolean" => format!("{n} BOOLEAN"),
            _ => format!("{n} VARCHAR"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The select list turning the raw table into the relation the queries read.
fn select_list(columns: &[(&str, &str)], d: DialectName) -> String {
    columns
        .iter()
        .map(|(n, t)| match (*t, d) {
            ("ms", DialectName::Postgres) => {
                format!("TIMESTAMP 'epoch' + {n}_ms * INTERVAL '1 millisecond' AS {n}")
            }
            ("ms", DialectName::Spark) => format!("timestamp_millis({n}_ms) AS {n}"),
            ("ms", DialectName::ClickHouse) => {
                format!("fromUnixTimestamp64Milli({n}_ms, 'UTC') AS {n}")
            }
            ("ms", _) => format!("epoch_ms({n}_ms) AS {n}"),
            _ => (*n).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A script that loads the files of [`export_tables`] from `dir` as tables
/// `exposures` and `tracks` (PostgreSQL through psql's `\copy`, DuckDB, Spark SQL as
/// temporary views, or ClickHouse through the `file` table function, as
/// `clickhouse-local` and chDB read it); `None` for the other dialects.
#[must_use]
pub fn load_script(d: DialectName, dir: &Path) -> Option<String> {
    let mut out = String::new();
    for (name, columns) in [("exposures", &EXPOSURES[..]), ("tracks", &TRACKS[..])] {
        let file = dir.join(format!("{name}.csv"));
        let file = file.display().to_string().replace('\'', "''");
        let raw = raw_columns(columns, d);
        let select = select_list(columns, d);
        match d {
            DialectName::Postgres => {
                let _ = writeln!(out, "DROP TABLE IF EXISTS {name}_raw, {name};");
                let _ = writeln!(out, "CREATE TABLE {name}_raw ({raw});");
                let _ = writeln!(
                    out,
                    "\\copy {name}_raw FROM '{file}' WITH (FORMAT csv, HEADER true)"
                );
                let _ = writeln!(
                    out,
                    "CREATE TABLE {name} AS SELECT {select} FROM {name}_raw;"
                );
            }
            DialectName::DuckDb => {
                let types = columns
                    .iter()
                    .map(|(n, t)| match *t {
                        "ms" => format!("'{n}_ms': 'BIGINT'"),
                        "double" => format!("'{n}': 'DOUBLE'"),
                        "boolean" => format!("'{n}': 'BOOLEAN'"),
                        _ => format!("'{n}': 'VARCHAR'"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(out, "CREATE OR REPLACE TABLE {name} AS SELECT {select} FROM read_csv('{file}', header = true, columns = {{{types}}});");
            }
            DialectName::Spark => {
                let schema = raw_columns(columns, d).replace("VARCHAR", "STRING");
                let _ = writeln!(out, "CREATE OR REPLACE TEMPORARY VIEW {name}_raw ({schema}) USING csv OPTIONS (path '{file}', header 'true', escape '\"');");
                let _ = writeln!(
                    out,
                    "CREATE OR REPLACE TEMPORARY VIEW {name} AS SELECT {select} FROM {name}_raw;"
                );
            }
            DialectName::ClickHouse => {
                // Every column Nullable: an empty unquoted cell is NULL, as in the
                // other engines (a plain String would read it as '').
                let schema = columns
                    .iter()
                    .map(|(n, t)| match *t {
                        "ms" => format!("{n}_ms Nullable(Int64)"),
                        "double" => format!("{n} Nullable(Float64)"),
                        "boolean" => format!("{n} Nullable(Bool)"),
                        _ => format!("{n} Nullable(String)"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let _ = writeln!(out, "CREATE OR REPLACE TABLE {name} ENGINE = Memory AS SELECT {select} FROM file('{file}', 'CSVWithNames', '{schema}');");
            }
            _ => return None,
        }
    }
    Some(out)
}
