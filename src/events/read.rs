//! Readers: ndjson, csv and parquet files into [`EventTables`].
//!
//! Every record is accepted or refused as [`Event::from_json`] decides. ndjson lines are
//! first read in place (`ndjson`: borrowed fields, no owned event), then tried on a
//! typed fast path (`fast`), as parquet rows are (`parquet`); each accepts only what
//! [`Event::from_json`] would, with the same event, and the rest go through it, which
//! words the message. A record that
//! fails is either set aside as [`Rejected`] (the default) or, in strict mode, ends the
//! load with an [`Error::InvalidRecord`] naming the file, line and field. ndjson and
//! parquet are validated in parallel over fixed chunks of records and reassembled in
//! file order, so the tables do not depend on the thread count. ndjson and csv are read
//! a block of records at a time ([`BLOCK_BYTES`]), in memory too: each block's rows
//! become frames before the next block is read, so a load never holds the file's bytes
//! nor more than one block's owned strings (`metrics` on the shop log's 618 MB of
//! ndjson: 1.74 GB peak when the file was read whole and its rows built at the end,
//! 0.90 GB now, and 11 % faster).
//!
//! [`Event::from_json`]: super::model::Event::from_json

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::Value;

use super::flat;
use super::model::{Event, EventType, RecordError, Warning, Warnings};
use super::ndjson::RawEvent;
use super::part::{Part, CHUNK_LINES};
use super::projection::Projection;
use super::quarantine::Rejected;
use super::table::EventTables;
use crate::error::{Error, Result};
use crate::progress::{NoProgress, Progress};

/// Input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON event per line, types mixed (`.ndjson`, `.jsonl`, `.json`).
    Ndjson,
    /// The flat format with a header row (`.csv`).
    Csv,
    /// The flat format as Apache Parquet (`.parquet`).
    Parquet,
}

impl Format {
    /// The format a file's extension names.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidEventFile`] for an unknown extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "ndjson" | "jsonl" | "json" => Ok(Self::Ndjson),
            "csv" => Ok(Self::Csv),
            "parquet" | "pq" => Ok(Self::Parquet),
            _ => Err(Error::InvalidEventFile {
                file: path.display().to_string(),
                reason: format!(
                    "unknown event file extension \"{ext}\": use .ndjson/.jsonl (one JSON event per line), .csv or .parquet (the flat format of docs/formats.md)"
                ),
            }),
        }
    }
}

/// How to load.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Stop at the first malformed record instead of quarantining it.
    pub strict: bool,
}

/// What one file gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub file: String,
    /// Records read (non-blank lines, csv rows, parquet rows).
    pub read: u64,
    /// Records accepted.
    pub accepted: u64,
    /// Records set aside.
    pub quarantined: u64,
}

/// Counts of a load: nothing read goes uncounted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Per file, in the order given.
    pub files: Vec<FileReport>,
    /// Accepted records per event type.
    pub by_type: BTreeMap<EventType, u64>,
    /// Accepted records per warning raised.
    pub warnings: BTreeMap<Warning, u64>,
}

impl LoadReport {
    /// Records read in all files.
    #[must_use]
    pub fn read(&self) -> u64 {
        self.files.iter().map(|f| f.read).sum()
    }
    /// Records accepted in all files.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.files.iter().map(|f| f.accepted).sum()
    }
    /// Records quarantined in all files.
    #[must_use]
    pub fn quarantined(&self) -> u64 {
        self.files.iter().map(|f| f.quarantined).sum()
    }
}

/// The result of a load.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The accepted events.
    pub tables: EventTables,
    /// The counts.
    pub report: LoadReport,
    /// The records set aside, in file and line order.
    pub rejected: Vec<Rejected>,
}

/// The longest ndjson line read as a record (16 MiB, far beyond any event). A longer
/// line is quarantined by its number, its text not kept: the streaming reader stops
/// buffering such a line at this size and skips to its end, so one line without a
/// newline cannot make it hold the rest of a file.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Whether an ndjson line is longer than [`MAX_LINE_BYTES`].
pub(super) fn overlong(raw: &[u8]) -> bool {
    raw.len() > MAX_LINE_BYTES
}

/// Why a line longer than [`MAX_LINE_BYTES`] is refused.
pub(super) fn overlong_error() -> RecordError {
    RecordError {
        field: "record".to_owned(),
        reason: format!("line longer than {MAX_LINE_BYTES} bytes (the limit of one record)"),
    }
}

/// The record a quarantine entry keeps for a refused ndjson line: its text, or null
/// for a line longer than [`MAX_LINE_BYTES`].
pub(super) fn line_record(raw: &[u8]) -> Value {
    if overlong(raw) {
        Value::Null
    } else {
        Value::String(String::from_utf8_lossy(raw).into_owned())
    }
}

/// Validates one ndjson line. Most lines are valid: the typed fast path takes them;
/// anything it declines goes through the slow path, which names the field.
pub(super) fn line_event(raw: &[u8]) -> std::result::Result<(Event, Warnings), RecordError> {
    if overlong(raw) {
        return Err(overlong_error());
    }
    if let Some(ok) = std::str::from_utf8(raw)
        .ok()
        .and_then(super::fast::try_parse)
    {
        return Ok(ok);
    }
    let parsed = match std::str::from_utf8(raw) {
        Err(e) => Err(RecordError {
            field: "record".to_owned(),
            reason: format!("not valid UTF-8: {e}"),
        }),
        Ok(s) => serde_json::from_str::<Value>(s).map_err(|e| RecordError {
            field: "record".to_owned(),
            reason: format!("not valid JSON: {e}"),
        }),
    };
    parsed.and_then(Event::from_json)
}

/// The byte order mark some editors put at the start of a UTF-8 file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The non-blank lines of `bytes` with their 1-based numbers (counting from
/// `first`), a trailing `\r` removed. When `first` is 1 the bytes are the start of a
/// file, and a UTF-8 byte order mark there is dropped (as the csv reader drops it).
/// A line longer than [`MAX_LINE_BYTES`] is kept, blank or not, to be refused.
pub(super) fn lines(bytes: &[u8], first: u64) -> Vec<(u64, &[u8])> {
    let mut lines: Vec<(u64, &[u8])> = Vec::new();
    let mut start = if first == 1 && bytes.starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    let mut number = first - 1;
    for end in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
        number += 1;
        let mut line = &bytes[start..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if overlong(line) || !line.iter().all(u8::is_ascii_whitespace) {
            lines.push((number, line));
        }
        start = end + 1;
        if start > bytes.len() {
            break;
        }
    }
    lines
}

/// The records of an ndjson file's bytes (also the fuzz targets' entry, `super::fuzzing`).
pub(super) fn ndjson_part(
    bytes: &[u8],
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
) -> Part {
    ndjson_part_from(bytes, 1, file, keep, progress)
}

/// [`ndjson_part`] of bytes whose first line is line `first` of the file.
fn ndjson_part_from(
    bytes: &[u8],
    first: u64,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
) -> Part {
    // Line starts, found once with memchr, so chunks know their line numbers.
    let lines = lines(bytes, first);
    let parts = lines
        .par_chunks(CHUNK_LINES)
        .map(|chunk| {
            let mut part = Part::keeping(keep);
            let mut done = 0u64;
            let mut layers = Vec::new();
            for &(line, raw) in chunk {
                done += raw.len() as u64 + 1;
                // Read in place where it can; else the typed fast path, then the slow.
                let text = std::str::from_utf8(raw).ok().filter(|_| !overlong(raw));
                match text.and_then(|t| RawEvent::parse(t, &mut layers)) {
                    Some(e) => part.take_raw(file, line, || line_record(raw), e, &mut layers),
                    None => part.take(file, line, || line_record(raw), line_event(raw)),
                }
            }
            progress.advance(done);
            part
        })
        .collect::<Vec<Part>>();
    Part::concat(parts)
}

/// The one part a read in a single part gives to its callback.
fn only_part(read: impl FnOnce(&mut dyn FnMut(Part) -> Result<()>) -> Result<()>) -> Result<Part> {
    let mut whole = None;
    read(&mut |part| {
        whole = Some(part);
        Ok(())
    })?;
    Ok(whole.expect("a read in one part gives one part"))
}

/// A csv file in parts of about `block` bytes of records each (the whole file in one
/// part without it), each given to `each` in file order.
fn read_csv_blocks(
    path: &Path,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
    block: Option<u64>,
    each: &mut dyn FnMut(Part) -> Result<()>,
) -> Result<()> {
    let reader = csv_reader()
        .from_path(path)
        .map_err(|e| Error::InvalidEventFile {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
    progress.start(file, std::fs::metadata(path).map(|m| m.len()).unwrap_or(0));
    csv_parts(reader, file, keep, progress, block, each)
}

/// How every csv event file is read: a header row, and rows of any length (a row
/// whose length differs from the header's is refused by the reader, with its line).
pub(super) fn csv_reader() -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder.has_headers(true).flexible(true);
    builder
}

/// The records of a csv file (also the fuzz targets' entry, `super::fuzzing`).
pub(super) fn csv_part<R: std::io::Read>(
    reader: csv::Reader<R>,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
) -> Result<Part> {
    only_part(|each| csv_parts(reader, file, keep, progress, None, each))
}

/// The records of a csv file, a part of about `block` bytes at a time (one part, the
/// whole file, without it; always at least one).
fn csv_parts<R: std::io::Read>(
    mut reader: csv::Reader<R>,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
    block: Option<u64>,
    each: &mut dyn FnMut(Part) -> Result<()>,
) -> Result<()> {
    let headers = reader
        .headers()
        .map_err(|e| Error::InvalidEventFile {
            file: file.to_owned(),
            reason: e.to_string(),
        })?
        .clone();
    let columns = flat::header_indices(file, headers.iter())?;
    let mut part = Part::keeping(keep);
    let mut record = csv::StringRecord::new();
    let (mut last_pos, mut part_start, mut sent) = (0u64, 0u64, false);
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, csv::Position::line);
                let raw = || {
                    Value::Object(
                        headers
                            .iter()
                            .zip(record.iter())
                            .map(|(h, c)| (h.to_owned(), Value::String(c.to_owned())))
                            .collect(),
                    )
                };
                let parsed = if record.len() == columns.len() {
                    record
                        .iter()
                        .zip(&columns)
                        .filter_map(|(cell, &i)| {
                            flat::text_cell(i, cell)
                                .transpose()
                                .map(|r| r.map(|v| (i, v)))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .and_then(flat::row_to_json)
                } else {
                    Err((
                        "record".to_owned(),
                        format!(
                            "{} cells where the header has {}",
                            record.len(),
                            columns.len()
                        ),
                    ))
                };
                part.accept(file, line, raw, parsed);
            }
            Err(e) => {
                part.read += 1;
                part.rejected.push(Rejected {
                    file: file.to_owned(),
                    // The error's own position is the record's first line; the
                    // reader's has moved past the record (found by fuzzing).
                    line: e.position().map_or(line, csv::Position::line),
                    field: "record".into(),
                    reason: format!("unreadable csv: {e}"),
                    record: Value::Null,
                });
            }
        }
        let pos = reader.position().byte();
        progress.advance(pos - last_pos);
        last_pos = pos;
        if block.is_some_and(|b| pos - part_start >= b) {
            each(std::mem::replace(&mut part, Part::keeping(keep)))?;
            (part_start, sent) = (pos, true);
        }
    }
    if part.read > 0 || !sent {
        each(part)?;
    }
    Ok(())
}

/// Loads event files of any supported format into tables.
///
/// # Errors
///
/// [`Error::Io`] for unreadable files, [`Error::InvalidEventFile`] for files that
/// cannot be events at all (unknown extension or column), and in strict mode
/// [`Error::InvalidRecord`] for the first malformed record in file and line order.
pub fn load_events(paths: &[PathBuf], opts: LoadOptions) -> Result<Loaded> {
    load_events_with_progress(paths, opts, &NoProgress)
}

/// [`load_events`] reporting progress per file.
///
/// # Errors
///
/// As [`load_events`].
pub fn load_events_with_progress(
    paths: &[PathBuf],
    opts: LoadOptions,
    progress: &dyn Progress,
) -> Result<Loaded> {
    load_events_projected(paths, opts, &Projection::all(), progress)
}

/// [`load_events_with_progress`] keeping only the columns of `keep`: every record is
/// validated as in a whole load (the same report and quarantine), and the tables lack
/// the columns `keep` leaves out.
///
/// # Errors
///
/// As [`load_events`].
pub fn load_events_projected(
    paths: &[PathBuf],
    opts: LoadOptions,
    keep: &Projection,
    progress: &dyn Progress,
) -> Result<Loaded> {
    let mut frames = Vec::new();
    let (report, rejected) = load_parts(paths, opts, keep, progress, false, |part| {
        frames.extend(super::table::frames_of(part, keep)?);
        Ok(())
    })?;
    Ok(Loaded {
        tables: super::table::stack_frames(frames, keep)?,
        report,
        rejected,
    })
}

/// Loads `paths` a batch at a time and hands each batch's tables to `each`, in file
/// and row order: ndjson in blocks of whole lines ([`BLOCK_BYTES`]), parquet in whole
/// row groups, csv in parts of about [`BLOCK_BYTES`] of records. What is accepted, refused and counted is what
/// [`load_events_projected`] gives; each batch's `track_row` counts from 0. Memory holds
/// one batch (and what `each` keeps), whatever the files' size.
///
/// # Errors
///
/// As [`load_events`], and what `each` returns.
pub fn load_events_batched(
    paths: &[PathBuf],
    opts: LoadOptions,
    keep: &Projection,
    progress: &dyn Progress,
    mut each: impl FnMut(EventTables) -> Result<()>,
) -> Result<(LoadReport, Vec<Rejected>)> {
    load_parts(paths, opts, keep, progress, true, |part| {
        each(super::table::finish_all(part, keep)?)
    })
}

/// Bytes of ndjson (whole lines) or csv records a block of a load reads, and a batch of
/// [`load_events_batched`]: about 100 k events of the usual size.
pub const BLOCK_BYTES: usize = 64 << 20;

/// Reads every file (in batches when `batched`), hands each part's table chunks to
/// `take` and returns the counts and the refused records.
fn load_parts(
    paths: &[PathBuf],
    opts: LoadOptions,
    keep: &Projection,
    progress: &dyn Progress,
    batched: bool,
    mut take: impl FnMut(Vec<super::table::Chunk>) -> Result<()>,
) -> Result<(LoadReport, Vec<Rejected>)> {
    let mut report = LoadReport::default();
    let mut rejected = Vec::new();
    let mut by_type = [0u64; 3];
    for path in paths {
        let file = path.display().to_string();
        let mut counts = FileReport {
            file: file.clone(),
            ..FileReport::default()
        };
        let mut on_part = |part: Part| -> Result<()> {
            if opts.strict {
                if let Some(first) = part.rejected.into_iter().next() {
                    return Err(first.into_error());
                }
            } else {
                counts.quarantined += part.rejected.len() as u64;
                rejected.extend(part.rejected);
            }
            counts.read += part.read;
            for (n, k) in by_type.iter_mut().zip(part.by_type) {
                *n += k;
            }
            for (w, n) in part.warnings {
                *report.warnings.entry(w).or_default() += n;
            }
            take(part.tables)
        };
        match (Format::from_path(path)?, batched) {
            // In blocks in memory too (the module's documentation says why).
            (Format::Ndjson, _) => {
                read_ndjson_blocks(path, &file, keep, progress, BLOCK_BYTES, &mut on_part)?;
            }
            (Format::Csv, _) => {
                let block = Some(BLOCK_BYTES as u64);
                read_csv_blocks(path, &file, keep, progress, block, &mut on_part)?;
            }
            (Format::Parquet, false) => {
                on_part(super::parquet::read_parquet(path, &file, keep, progress)?)?;
            }
            (Format::Parquet, true) => {
                super::parquet::read_parquet_each(path, &file, keep, progress, &mut on_part)?;
            }
        }
        progress.finish();
        counts.accepted = counts.read - counts.quarantined;
        report.files.push(counts);
    }
    for (kind, n) in [EventType::Exposure, EventType::Decision, EventType::Track]
        .into_iter()
        .zip(by_type)
    {
        report.by_type.insert(kind, n);
    }
    Ok((report, rejected))
}

/// An ndjson file in blocks of whole lines (of about `block` bytes), each validated as
/// [`ndjson_part`] does.
fn read_ndjson_blocks(
    path: &Path,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
    block: usize,
    each: &mut dyn FnMut(Part) -> Result<()>,
) -> Result<()> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    progress.start(file, f.metadata().map(|m| m.len()).unwrap_or(0));
    let mut buf: Vec<u8> = Vec::new();
    let mut first = 1u64;
    let mut sent = false;
    loop {
        let have = buf.len();
        buf.resize(have + block, 0);
        let mut filled = have;
        while filled < buf.len() {
            match f.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        buf.truncate(filled);
        let eof = filled < have + block;
        // The block ends at its last newline; the rest waits for the next read (a
        // line longer than a block grows the buffer until it ends).
        let cut = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => continue,
            }
        };
        // An empty file still gives one (empty) batch, as it gives one part in memory.
        if cut > 0 || (eof && !sent) {
            let block = &buf[..cut];
            let part = ndjson_part_from(block, first, file, keep, progress);
            first += memchr::memchr_iter(b'\n', block).count() as u64;
            each(part)?;
            sent = true;
        }
        buf.drain(..cut);
        if eof {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests;
