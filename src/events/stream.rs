//! Conversion in bounded memory: ndjson read a block of lines at a time, each block
//! validated in parallel and written out (ndjson, csv, or a parquet row group) before
//! the next is read, refused records streamed to the quarantine in file and line
//! order. Memory holds one block (and one row group of output), whatever the input's
//! size; the accepted records, the quarantine and the counts are those of
//! [`super::load_events`] on the same files. For a parquet output each line is read
//! in place into the flat columns (`super::ndjson`, `super::flat_columns`), with no
//! owned event between the line and the row group.

use std::io::Read;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rayon::prelude::*;
use serde_json::Value;

use super::flat_columns::FlatColumns;
use super::model::{Event, EventType, RecordError, Warning, Warnings};
use super::ndjson::RawEvent;
use super::quarantine::Rejected;
use super::read::{
    line_event, line_record, lines, overlong, overlong_error, FileReport, Format, LoadOptions,
    LoadReport, MAX_LINE_BYTES,
};
use super::write::ROW_GROUP_ROWS;
use crate::error::{Error, Result};
use crate::memory::MemoryLimit;
use crate::progress::Progress;
use sink::{Quarantine, Sink};

/// Bytes of ndjson read at a time (whole lines): about 100 k events of the usual size.
const BLOCK_BYTES: usize = 32 << 20;

/// Validates ndjson event files and writes the accepted events to `out` (format by
/// extension) and the refused records to `quarantine`, streaming: see the module
/// documentation. Both files are written under temporary names and moved into place
/// at the end, so a failed run leaves neither half-written.
///
/// # Errors
///
/// [`Error::InvalidEventFile`] for an input that is not ndjson (the flat formats are
/// already converted) or an unknown output extension; [`Error::Io`] for unreadable
/// input or unwritable output; in strict mode [`Error::InvalidRecord`] for the first
/// malformed record.
pub fn convert_events(
    inputs: &[PathBuf],
    out: &Path,
    quarantine: &Path,
    opts: LoadOptions,
    progress: &dyn Progress,
) -> Result<LoadReport> {
    convert_in(
        inputs,
        out,
        quarantine,
        opts,
        progress,
        BLOCK_BYTES,
        ROW_GROUP_ROWS,
    )
}

/// How much a conversion holds, measured on the yardstick's shop log (release build,
/// peak RSS at limits of 128M to 1G): about 64 MiB whatever the input (the binary,
/// the allocator, the parquet writer), 2,000 to 2,200 bytes per flat row of the
/// parquet row group being built and encoded (taken as 2,400: 260 k rows, 0.6 GB),
/// and 2 bytes per byte of the ndjson block.
const BASE_BYTES: u64 = 64 << 20;
const ROW_BYTES: u64 = 2_400;
const BLOCK_BYTE: u64 = 2;
/// The smallest block and row group a budget may shrink them to.
const MIN_BLOCK_BYTES: usize = 1 << 20;
const MIN_GROUP_ROWS: usize = 1 << 14;
/// What a limit below the smallest block and row group is told.
const CONVERT_AT_LEAST: &str =
    "at least 104M for convert (a 1 MiB block of input and a parquet row group of 16,384 rows)";

/// The block of input and the parquet row group a conversion within `limit` uses:
/// 32 MiB and [`ROW_GROUP_ROWS`] rows (the row groups of a load in memory) when they
/// fit, else the row group shrinks first, then the block.
fn convert_sizes(limit: MemoryLimit) -> Result<(usize, usize)> {
    let fits = |block: usize, rows: usize| {
        BASE_BYTES + BLOCK_BYTE * block as u64 + ROW_BYTES * rows as u64 <= limit.0
    };
    if !fits(MIN_BLOCK_BYTES, MIN_GROUP_ROWS) {
        return Err(crate::error::ParameterError::new(
            "--memory-limit",
            CONVERT_AT_LEAST,
            format!("{} bytes", limit.0),
        )
        .into());
    }
    let room = |fixed: u64, per: u64| (limit.0.saturating_sub(fixed) / per) as usize;
    // Not `clamp`: test builds write row groups of fewer rows than the minimum here.
    #[allow(clippy::manual_clamp)]
    let rows = room(BASE_BYTES + BLOCK_BYTE * MIN_BLOCK_BYTES as u64, ROW_BYTES)
        .max(MIN_GROUP_ROWS)
        .min(ROW_GROUP_ROWS);
    let block =
        room(BASE_BYTES + ROW_BYTES * rows as u64, BLOCK_BYTE).clamp(MIN_BLOCK_BYTES, BLOCK_BYTES);
    Ok((block, rows))
}

/// [`convert_events`] within a memory budget: a block of input and a parquet row
/// group as large as `limit` allows ([`convert_sizes`]). Under 0.7 GB or so the row
/// groups are smaller than a load in memory writes: the rows are the same.
///
/// # Errors
///
/// As [`convert_events`]; [`Error::Parameter`] for a limit below what a 1 MiB block
/// and a row group of 16,384 rows need.
pub fn convert_events_within(
    inputs: &[PathBuf],
    out: &Path,
    quarantine: &Path,
    opts: LoadOptions,
    progress: &dyn Progress,
    limit: MemoryLimit,
) -> Result<LoadReport> {
    let (block, rows) = convert_sizes(limit)?;
    convert_in(inputs, out, quarantine, opts, progress, block, rows)
}

fn convert_in(
    inputs: &[PathBuf],
    out: &Path,
    quarantine: &Path,
    opts: LoadOptions,
    progress: &dyn Progress,
    block: usize,
    group_rows: usize,
) -> Result<LoadReport> {
    check_inputs(inputs)?;
    let mut sink = Sink::new(out, Format::from_path(out)?, group_rows)?;
    let mut refused = Quarantine::new(quarantine)?;
    let mut report = LoadReport::default();
    let mut by_type = [0u64; 3];
    for path in inputs {
        let file = path.display().to_string();
        let mut counts = FileReport {
            file: file.clone(),
            ..FileReport::default()
        };
        let mut reader = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let size = reader.metadata().map(|m| m.len()).unwrap_or(0);
        progress.start(&file, size);
        let mut carry: Vec<u8> = Vec::new();
        let mut next_line = 1u64;
        loop {
            let Block {
                skipped,
                text,
                last,
            } = next_block(&mut reader, &mut carry, block, path)?;
            if skipped {
                refuse_overlong(&file, next_line, opts.strict, &mut counts, &mut refused)?;
                next_line += 1;
            }
            let first = next_line;
            // A block but the last ends with a newline: the next starts on a new line.
            next_line += memchr::memchr_iter(b'\n', &text).count() as u64;
            let all = lines(&text, first);
            if sink.is_parquet() {
                for slice in all.chunks(SLICE_LINES) {
                    for chunk in columns(slice, &file)? {
                        take_chunk(
                            chunk,
                            opts.strict,
                            &mut counts,
                            &mut report,
                            &mut by_type,
                            &mut refused,
                            &mut sink,
                        )?;
                    }
                }
                sink.flush_full()?;
                progress.advance(text.len() as u64);
                if last {
                    break;
                }
                continue;
            }
            // A slice of lines at a time: the owned events of a whole block never
            // exist at once, only those of one slice.
            let outcomes = all.chunks(SLICE_LINES).flat_map(|s| validate(s, &file));
            for outcome in outcomes {
                counts.read += 1;
                match outcome {
                    Ok((event, warnings)) => {
                        counts.accepted += 1;
                        by_type[event.kind as usize] += 1;
                        for w in warnings.iter() {
                            *report.warnings.entry(w).or_default() += 1;
                        }
                        sink.push(event)?;
                    }
                    Err(r) if opts.strict => return Err((*r).into_error()),
                    Err(r) => {
                        counts.quarantined += 1;
                        refused.push(&r)?;
                    }
                }
            }
            sink.flush_full()?;
            progress.advance(text.len() as u64);
            if last {
                break;
            }
        }
        progress.finish();
        report.files.push(counts);
    }
    for (kind, n) in [EventType::Exposure, EventType::Decision, EventType::Track]
        .into_iter()
        .zip(by_type)
    {
        report.by_type.insert(kind, n);
    }
    refused.finish()?;
    sink.finish()?;
    Ok(report)
}

/// Every input must be ndjson: the flat formats are already converted.
fn check_inputs(inputs: &[PathBuf]) -> Result<()> {
    for p in inputs {
        if Format::from_path(p)? != Format::Ndjson {
            return Err(Error::InvalidEventFile {
                file: p.display().to_string(),
                reason: "convert reads ndjson input; this file is already in the flat format"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Counts a line longer than [`MAX_LINE_BYTES`] that [`next_block`] skipped unread,
/// and quarantines it (in strict mode, it is the error).
fn refuse_overlong(
    file: &str,
    line: u64,
    strict: bool,
    counts: &mut FileReport,
    refused: &mut Quarantine,
) -> Result<()> {
    let RecordError { field, reason } = overlong_error();
    let r = Rejected {
        file: file.to_owned(),
        line,
        field,
        reason,
        record: Value::Null,
    };
    counts.read += 1;
    if strict {
        return Err(r.into_error());
    }
    counts.quarantined += 1;
    refused.push(&r)
}

/// What [`next_block`] read.
struct Block {
    /// Whether a line longer than [`MAX_LINE_BYTES`] came before `text` (it was
    /// skipped to its newline, not kept).
    skipped: bool,
    /// Whole lines.
    text: Vec<u8>,
    /// Whether this is the file's last block.
    last: bool,
}

/// The next block of whole lines (the bytes after the last newline wait in `carry`
/// for the next read), and whether it is the file's last. A line that grows past
/// [`MAX_LINE_BYTES`] without a newline is skipped to its end instead of read on,
/// so the buffer never holds more than a block and one line of the limit's size.
fn next_block(
    reader: &mut impl Read,
    carry: &mut Vec<u8>,
    block: usize,
    path: &Path,
) -> Result<Block> {
    let mut buf = std::mem::take(carry);
    let mut filled = buf.len();
    let want = filled + block;
    // Sized once: a pipe gives at most its capacity (64 KiB) a read, and sizing the
    // buffer at each read zeroed the rest of a 32 MiB block every time (a fifo from
    // `synth` converted at a sixth of a file's speed).
    buf.resize(want, 0);
    let mut eof = false;
    while filled < want {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => {
                eof = true;
                break;
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    buf.truncate(filled);
    let whole = |text: Vec<u8>, last: bool| Block {
        skipped: false,
        text,
        last,
    };
    if eof {
        return Ok(whole(buf, true));
    }
    match memchr::memrchr(b'\n', &buf) {
        Some(end) => {
            carry.extend_from_slice(&buf[end + 1..]);
            buf.truncate(end + 1);
        }
        None if buf.len() > MAX_LINE_BYTES => {
            let last = skip_line(reader, carry, path)?;
            return Ok(Block {
                skipped: true,
                text: Vec::new(),
                last,
            });
        }
        // One line longer than a block: keep reading it.
        None => *carry = std::mem::take(&mut buf),
    }
    Ok(whole(buf, false))
}

/// Reads past the end of the current line; the bytes after its newline go to
/// `carry`. Whether the file ended first.
fn skip_line(reader: &mut impl Read, carry: &mut Vec<u8>, path: &Path) -> Result<bool> {
    let mut scratch = vec![0u8; 64 << 10];
    loop {
        let n = reader.read(&mut scratch).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            carry.clear();
            return Ok(true);
        }
        if let Some(end) = memchr::memchr(b'\n', &scratch[..n]) {
            carry.clear();
            carry.extend_from_slice(&scratch[end + 1..n]);
            return Ok(false);
        }
    }
}

/// Lines validated at a time (in parallel, [`PAR_LINES`] to a task).
const SLICE_LINES: usize = 16 * 1024;
const PAR_LINES: usize = 1024;

/// Lines of a block, validated in parallel, in line order.
fn validate(
    lines: &[(u64, &[u8])],
    file: &str,
) -> Vec<std::result::Result<(Event, Warnings), Box<Rejected>>> {
    lines
        .par_chunks(PAR_LINES)
        .flat_map_iter(|chunk| {
            chunk.iter().map(|&(line, raw)| {
                line_event(raw).map_err(|RecordError { field, reason }| {
                    Box::new(Rejected {
                        file: file.to_owned(),
                        line,
                        field,
                        reason,
                        record: line_record(raw),
                    })
                })
            })
        })
        .collect()
}

/// The flat rows of a chunk of lines, for a parquet output: what [`validate`] and
/// [`Sink::push`] give for the same lines, without an owned event per line.
pub(super) struct Chunk {
    /// The accepted events' rows, in line order.
    pub(super) frame: DataFrame,
    /// Lines read.
    pub(super) read: u64,
    pub(super) by_type: [u64; 3],
    /// Accepted events per warning, in [`Warning::ALL`] order.
    pub(super) warnings: [u64; 5],
    /// The refused lines, in line order.
    pub(super) rejected: Vec<Rejected>,
}

/// Lines of a slice read into flat columns in parallel, [`PAR_LINES`] to a chunk, in
/// line order.
fn columns(lines: &[(u64, &[u8])], file: &str) -> Result<Vec<Chunk>> {
    lines
        .par_chunks(PAR_LINES)
        .map(|chunk| flat_chunk(chunk, file))
        .collect()
}

/// Lines read into flat columns, in line order. Each line is read in place
/// ([`RawEvent::parse`]); a line that path declines takes [`line_event`], whose event
/// is pushed in its place.
pub(super) fn flat_chunk(chunk: &[(u64, &[u8])], file: &str) -> Result<Chunk> {
    let mut columns = FlatColumns::new(chunk.len());
    let mut layers = Vec::new();
    let mut out = Chunk {
        frame: DataFrame::empty(),
        read: chunk.len() as u64,
        by_type: [0; 3],
        warnings: [0; 5],
        rejected: Vec::new(),
    };
    let mut count = |kind: EventType, warnings: Warnings| {
        out.by_type[kind as usize] += 1;
        for w in warnings.iter() {
            out.warnings[w as usize] += 1;
        }
    };
    for &(line, raw) in chunk {
        let text = std::str::from_utf8(raw).ok().filter(|_| !overlong(raw));
        if let Some(e) = text.and_then(|t| RawEvent::parse(t, &mut layers)) {
            count(e.kind, e.warnings);
            columns.push_raw(&e, &layers);
            continue;
        }
        match line_event(raw) {
            Ok((e, warnings)) => {
                count(e.kind, warnings);
                columns.push_event(&e);
            }
            Err(RecordError { field, reason }) => out.rejected.push(Rejected {
                file: file.to_owned(),
                line,
                field,
                reason,
                record: line_record(raw),
            }),
        }
    }
    out.frame = columns.finish()?;
    Ok(out)
}

/// Counts a chunk's lines, quarantines its refused ones (in strict mode the first is
/// the error) and hands its rows to the sink.
fn take_chunk(
    chunk: Chunk,
    strict: bool,
    counts: &mut FileReport,
    report: &mut LoadReport,
    by_type: &mut [u64; 3],
    refused: &mut Quarantine,
    sink: &mut Sink,
) -> Result<()> {
    let quarantined = chunk.rejected.len() as u64;
    let mut rejected = chunk.rejected.into_iter();
    if strict {
        if let Some(r) = rejected.next() {
            return Err(r.into_error());
        }
    }
    for r in rejected {
        refused.push(&r)?;
    }
    counts.read += chunk.read;
    counts.accepted += chunk.read - quarantined;
    counts.quarantined += quarantined;
    for (t, n) in by_type.iter_mut().zip(chunk.by_type) {
        *t += n;
    }
    for (w, n) in Warning::ALL.into_iter().zip(chunk.warnings) {
        if n > 0 {
            *report.warnings.entry(w).or_default() += n;
        }
    }
    sink.push_frame(chunk.frame)
}

mod sink;

#[cfg(test)]
mod tests;
