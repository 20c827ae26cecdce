//! The event readers on bytes in memory, for the fuzz targets (`fuzz/`) and the property
//! tests: the code `load_events` runs on a file, without the file, so a fuzzer can run
//! it tens of thousands of times a second. Not part of the library's interface.

use super::model::{Event, RecordError, Warnings};
use super::part::Part;
use super::projection::Projection;
use super::quarantine::Rejected;
use super::read::{
    csv_part, csv_reader, line_record, lines, ndjson_part, overlong, overlong_error,
};
use super::table::{finish_all, EventTables};
use crate::error::Result;
use crate::progress::NoProgress;

/// The name the records of a byte slice are filed under.
const FILE: &str = "input";

/// What a reader made of the bytes: the tables of the accepted events, the records set
/// aside and the count of records read.
#[derive(Debug)]
pub struct Read {
    /// The accepted events.
    pub tables: EventTables,
    /// The refused records, in line order.
    pub rejected: Vec<Rejected>,
    /// Records read (non-blank lines, csv rows).
    pub read: u64,
}

fn finish(part: Part) -> Result<Read> {
    Ok(Read {
        read: part.read,
        rejected: part.rejected,
        tables: finish_all(part.tables, &Projection::all())?,
    })
}

/// ndjson bytes through the reader: each line the typed fast path, then the slow path
/// for what it declines.
///
/// # Errors
///
/// Only what `load_events` would return for a file of these bytes.
pub fn ndjson(bytes: &[u8]) -> Result<Read> {
    finish(ndjson_part(bytes, FILE, &Projection::all(), &NoProgress))
}

/// ndjson bytes with every line through the slow path ([`Event::from_json`]) alone: what
/// [`ndjson`] must equal, table for table and quarantine record for record.
///
/// # Errors
///
/// As [`ndjson`].
pub fn ndjson_slow(bytes: &[u8]) -> Result<Read> {
    let mut part = Part::default();
    for (line, raw) in lines(bytes, 1) {
        part.take(FILE, line, || line_record(raw), slow_line(raw));
    }
    finish(part)
}

/// One line through the slow path: JSON to a value, then [`Event::from_json`].
pub fn slow_line(raw: &[u8]) -> std::result::Result<(Event, Warnings), RecordError> {
    if overlong(raw) {
        return Err(overlong_error());
    }
    let text = std::str::from_utf8(raw).map_err(|e| RecordError {
        field: "record".to_owned(),
        reason: format!("not valid UTF-8: {e}"),
    })?;
    Event::from_json_str(text)
}

/// One line through the typed fast path alone: `None` where it declines.
#[must_use]
pub fn fast_line(raw: &[u8]) -> Option<(Event, Warnings)> {
    if overlong(raw) {
        return None;
    }
    std::str::from_utf8(raw)
        .ok()
        .and_then(super::fast::try_parse)
}

/// csv bytes through the flat-format reader.
///
/// # Errors
///
/// [`crate::Error::InvalidEventFile`] for a header that is not the flat format, as
/// `load_events` on a file of these bytes.
pub fn csv(bytes: &[u8]) -> Result<Read> {
    finish(csv_part(
        csv_reader().from_reader(bytes),
        FILE,
        &Projection::all(),
        &NoProgress,
    )?)
}

/// One ndjson line read in place, as `convert` reads it for a parquet output: the
/// parquet bytes of its flat rows and its warnings, or `None` where that path declines
/// (and the line takes [`fast_line`], then [`slow_line`]).
#[must_use]
pub fn columnar_line(raw: &[u8]) -> Option<(Vec<u8>, Warnings)> {
    if overlong(raw) {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    let mut layers = Vec::new();
    let e = super::ndjson::RawEvent::parse(text, &mut layers)?;
    let mut columns = super::flat_columns::FlatColumns::new(1);
    columns.push_raw(&e, &layers);
    Some((parquet_bytes(columns), e.warnings))
}

/// The parquet bytes of an event's flat rows, as `convert` writes them.
#[must_use]
pub fn event_parquet(e: &Event) -> Vec<u8> {
    let mut columns = super::flat_columns::FlatColumns::new(1);
    columns.push_event(e);
    parquet_bytes(columns)
}

fn parquet_bytes(columns: super::flat_columns::FlatColumns) -> Vec<u8> {
    let mut df = columns.finish().expect("flat columns have equal lengths");
    let mut out = Vec::new();
    polars::prelude::ParquetWriter::new(&mut out)
        .finish(&mut df)
        .expect("a flat frame writes to memory");
    out
}

/// ndjson bytes read on this thread as `convert` reads them for a parquet output:
/// each line in place, or through [`fast_line`] and [`slow_line`] where that path
/// declines, into flat columns. The flat rows and the refused lines. (The ndjson
/// bench's entry: parsing and validation alone, per core.)
///
/// # Errors
///
/// Only if polars refuses columns of equal length, which would be a bug.
pub fn flat_rows(bytes: &[u8]) -> Result<(usize, usize)> {
    let chunk = super::stream::flat_chunk(&lines(bytes, 1), FILE)?;
    Ok((chunk.frame.height(), chunk.rejected.len()))
}

/// As [`flat_rows`] with every line through the older path (the typed fast path into
/// an owned event, else the slow path), the event then pushed to flat columns: what
/// each line cost before lines were read in place.
///
/// # Errors
///
/// As [`flat_rows`].
pub fn flat_rows_by_event(bytes: &[u8]) -> Result<(usize, usize)> {
    let mut columns = super::flat_columns::FlatColumns::new(0);
    let mut refused = 0;
    for (_, raw) in lines(bytes, 1) {
        match super::read::line_event(raw) {
            Ok((e, _)) => columns.push_event(&e),
            Err(_) => refused += 1,
        }
    }
    Ok((columns.finish()?.height(), refused))
}
