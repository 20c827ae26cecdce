//! Writers: events to ndjson, or to the flat format as csv or parquet.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;

use super::flat::{event_rows, FLAT_COLUMNS};
use super::flat_columns::FlatColumns;
use super::model::Event;
use super::read::Format;
use crate::error::{Error, Result};

/// Writes events as ndjson, one per line, in the order given.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be written.
pub fn write_ndjson(events: &[Event], path: &Path) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for e in events {
        serde_json::to_writer(&mut out, e).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// The flat rows of `events` as a frame in the column types the parquet writer gives:
/// integers, floats and booleans as such, `timestamp` and `eventTimestamp` as
/// `timestamp[us, UTC]`, the rest (nested values as JSON) text.
pub(super) fn flat_frame(events: &[Event]) -> Result<DataFrame> {
    let mut columns = FlatColumns::new(events.len());
    for e in events {
        columns.push_event(e);
    }
    columns.finish()
}

/// Writes events in the format the path's extension names: ndjson, or the flat
/// format (one row per layer) as csv or parquet.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be written, [`Error::InvalidEventFile`] for an
/// unknown extension.
pub fn write_events(events: &[Event], path: &Path) -> Result<()> {
    let io = |e| Error::io(path, e);
    match Format::from_path(path)? {
        Format::Ndjson => write_ndjson(events, path),
        Format::Csv => {
            let mut w = csv::Writer::from_path(path).map_err(|e| io(e.into()))?;
            w.write_record(FLAT_COLUMNS.iter().map(|c| c.0))
                .map_err(|e| io(e.into()))?;
            for e in events {
                for row in event_rows(e) {
                    w.write_record(row.iter().map(|c| c.as_deref().unwrap_or("")))
                        .map_err(|e| io(e.into()))?;
                }
            }
            w.flush().map_err(io)
        }
        Format::Parquet => {
            let df = flat_frame(events)?;
            let f = std::fs::File::create(path).map_err(io)?;
            write_parquet(f, &df)
        }
    }
}

/// Flat rows per parquet row group: the size polars' own writer picks (in unit
/// tests a small one, so that the demo log spans several groups).
#[cfg(not(test))]
pub(super) const ROW_GROUP_ROWS: usize = 512 * 512;
#[cfg(test)]
pub(super) const ROW_GROUP_ROWS: usize = 1000;

/// Writes a flat frame as parquet, row groups of [`ROW_GROUP_ROWS`] rows, through the
/// same batched writer as the streaming `convert` (which keeps the timestamps' UTC
/// zone in the file's schema).
fn write_parquet(f: std::fs::File, df: &DataFrame) -> Result<()> {
    let mut w = ParquetWriter::new(f).batched(df.schema())?;
    let mut start = 0;
    while start < df.height() {
        let mut group = df.slice(start as i64, ROW_GROUP_ROWS);
        group.rechunk_mut();
        w.write_batch(&group)?;
        start += ROW_GROUP_ROWS;
    }
    w.finish()?;
    Ok(())
}

/// A frame's typed timestamp columns as RFC 3339 text: the flat layout `convert`
/// wrote before timestamps were typed. Tests of both parquet readers use it.
#[cfg(test)]
pub(crate) fn text_layout(mut df: polars::prelude::DataFrame) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    for name in ["timestamp", "eventTimestamp"] {
        let Ok(c) = df.column(name) else { continue };
        let Ok(ts) = c.datetime() else { continue };
        assert_eq!(ts.time_unit(), TimeUnit::Microseconds);
        let text: StringChunked = ts
            .physical()
            .iter()
            .map(|t| t.map(|us| crate::time::format_rfc3339(us.div_euclid(1000))))
            .collect();
        df.with_column(text.with_name(name.into()).into_column())
            .unwrap();
    }
    df
}
