//! Writers: events to ndjson, or to the flat format as csv or parquet.

use std::io::Write;
use std::path::Path;

use polars::prelude::*;

use super::flat::{event_rows, Cell, FLAT_COLUMNS};
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

/// The flat rows of `events` as a frame in the column types the parquet writer gives.
pub(super) fn flat_frame(events: &[Event]) -> Result<DataFrame> {
    let rows: Vec<Vec<Option<String>>> = events.iter().flat_map(event_rows).collect();
    let mut columns = Vec::with_capacity(FLAT_COLUMNS.len());
    for (i, (name, _, cell)) in FLAT_COLUMNS.iter().enumerate() {
        let text = rows.iter().map(|r| r[i].as_deref());
        let series = match (cell, *name) {
            (Cell::Number, "bucket" | "latencyMs") => Series::new(
                (*name).into(),
                text.map(|t| t.and_then(|t| t.parse::<i64>().ok()))
                    .collect::<Vec<_>>(),
            ),
            (Cell::Number, _) => Series::new(
                (*name).into(),
                text.map(|t| t.and_then(|t| t.parse::<f64>().ok()))
                    .collect::<Vec<_>>(),
            ),
            (Cell::Bool, _) => Series::new(
                (*name).into(),
                text.map(|t| t.map(|t| t == "true")).collect::<Vec<_>>(),
            ),
            _ => Series::new((*name).into(), text.collect::<Vec<_>>()),
        };
        columns.push(Column::from(series));
    }
    Ok(DataFrame::new_infer_height(columns)?)
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
            let mut df = flat_frame(events)?;
            let f = std::fs::File::create(path).map_err(io)?;
            ParquetWriter::new(f).finish(&mut df)?;
            Ok(())
        }
    }
}
