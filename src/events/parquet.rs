//! The parquet reader: a batch of row groups decoded at a time, each column cast once
//! to a typed view (`super::cells`), and every row validated.
//!
//! A parquet file is already columnar and typed, so the reader does not turn it into
//! JSON, nor into one event per row. A batch is validated in fixed windows of rows in
//! parallel: a window a column at a time (`super::columnar`), which accepts the rows
//! in the shape [`write_events`] gives them and cuts their tables from the file's own
//! arrays; the rows it declines (a cell of an unexpected type, a number that does not
//! fit, `NaN`, JSON text that does not parse into the field, a broken rule) one at a
//! time through the row path (`super::cells`), which decides them and words the
//! quarantine records. The tests check both against the reader this one replaced.
//!
//! The file is decoded a batch of whole row groups at a time ([`BATCH_ROWS`]), and
//! the windows are reassembled in file order: memory holds one batch of decoded cells
//! beyond the tables, and the tables do not depend on the thread count.
//!
//! [`write_events`]: super::write::write_events

use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;

use super::cells::{Columns, Values};
use super::part::{Part, CHUNK_LINES};
use super::projection::Projection;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::timing::timed;
/// Rows decoded at a time by a load into memory: whole row groups, at least this many
/// rows (but the last batch). A batch's decoded cells are dropped before the next batch
/// is read, so a load holds one batch of them at a time. polars' writer makes row
/// groups of 2^18 rows, so a batch is two of them or more: polars decodes a batch's
/// row groups in parallel but one row group on one thread, and batches of one row
/// group left the second core idle for half of a load (1.36 s against 1.0 s for the
/// 2 M-row log of the yardstick; a 2 M-row file is four batches).
const BATCH_ROWS: usize = 512 * 1024;

/// Rows decoded at a time by a batched load (a log split into partitions under a
/// memory budget): smaller batches, one row group of polars' writer, for a lower peak
/// (a 1 M-event log under `--memory-limit 300M`: 0.43 GB, against 0.50 GB with
/// [`BATCH_ROWS`], 6 % slower).
const BUDGET_BATCH_ROWS: usize = 128 * 1024;

/// Reads a parquet event file a batch of row groups at a time, every row validated, in
/// fixed chunks in parallel.
///
/// # Errors
///
/// [`Error::Io`] for an unopenable file; [`Error::InvalidEventFile`] for a file that is
/// not parquet, an unknown column or an unsupported column type.
pub(super) fn read_parquet(
    path: &Path,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
) -> Result<Part> {
    read_parquet_in(path, file, keep, progress, BATCH_ROWS)
}

/// [`read_parquet`] a batch of whole row groups at a time, each batch's part handed to
/// `each` before the next is read.
pub(super) fn read_parquet_each(
    path: &Path,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
    each: &mut dyn FnMut(Part) -> Result<()>,
) -> Result<()> {
    read_parquet_batches(path, file, keep, progress, BUDGET_BATCH_ROWS, each)
}

fn read_parquet_in(
    path: &Path,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
    batch_rows: usize,
) -> Result<Part> {
    let mut parts = Vec::new();
    read_parquet_batches(path, file, keep, progress, batch_rows, &mut |p| {
        parts.push(p);
        Ok(())
    })?;
    Ok(Part::concat(parts))
}

fn read_parquet_batches(
    path: &Path,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
    batch_rows: usize,
    each: &mut dyn FnMut(Part) -> Result<()>,
) -> Result<()> {
    let unreadable = |e: PolarsError| Error::InvalidEventFile {
        file: file.to_owned(),
        reason: crate::input::unreadable_parquet(&e),
    };
    let open = || std::fs::File::open(path).map_err(|e| Error::io(path, e));
    let metadata = ParquetReader::new(open()?)
        .get_metadata()
        .map_err(unreadable)?
        .clone();
    let groups: Vec<usize> = metadata.row_groups.iter().map(|g| g.num_rows()).collect();
    for (k, batch) in batches(&groups, batch_rows).into_iter().enumerate() {
        let df = timed("  decode", || {
            decode(&open, &metadata, &batch).map_err(|e| match e {
                Decode::Io(e) => e,
                Decode::Polars(e) => unreadable(e),
            })
        })?;
        let columns = Columns::of(file, &df)?;
        if k == 0 {
            progress.start(file, groups.iter().sum::<usize>() as u64);
        }
        let part = timed("  validate", || {
            read_rows(&columns, df.height(), batch.start, file, keep, progress)
        })?;
        drop(columns);
        drop(df);
        each(part)?;
    }
    Ok(())
}

/// Why a batch could not be decoded.
enum Decode {
    Io(Error),
    Polars(PolarsError),
}

impl From<PolarsError> for Decode {
    fn from(e: PolarsError) -> Self {
        Self::Polars(e)
    }
}

/// The rows of `batch`, every column of the file in file order. A column whose
/// statistics say it has no value in the batch's row groups is decoded on its own
/// first, and when it is all null indeed it stands in the frame as a null column that
/// holds no memory ([`Column::full_null`]); else its decoded values are used. polars
/// gives a null string column sixteen zeroed bytes per row: the flat files `convert`
/// writes have about twenty such columns, and decoding them with the rest was 170 MB
/// of a 512 k-row batch's 290 (a third of a `metrics` run's peak). The statistics
/// only choose which columns are decoded on their own, so a file whose statistics are
/// wrong is read right, only slower (polars' writer counts a string column's nulls
/// twice, so a null count alone would send half-empty columns here too).
fn decode(
    open: &(dyn Fn() -> Result<std::fs::File> + Sync),
    metadata: &FileMetadataRef,
    batch: &Batch,
) -> std::result::Result<DataFrame, Decode> {
    decode_apart(open, metadata, batch, &unvalued_columns(metadata, batch))
}

/// [`decode`], with the columns `hinted` decoded on their own.
fn decode_apart(
    open: &(dyn Fn() -> Result<std::fs::File> + Sync),
    metadata: &FileMetadataRef,
    batch: &Batch,
    hinted: &[usize],
) -> std::result::Result<DataFrame, Decode> {
    let read = |projection: Option<Vec<usize>>| -> std::result::Result<DataFrame, Decode> {
        read_batch(open, metadata, batch, projection)
    };
    if hinted.is_empty() {
        return read(None);
    }
    let mut hinted = hinted.to_vec();
    hinted.sort_unstable();
    hinted.dedup();
    // In parallel, one column a task: a column's decoded cells are dropped as soon as
    // they are counted, so this holds a column per thread.
    let alone = hinted
        .par_iter()
        .map(|&j| {
            let df = read(Some(vec![j]))?;
            let c = df.columns()[0].clone();
            Ok(if c.null_count() == c.len() {
                Column::full_null(c.name().clone(), c.len(), c.dtype())
            } else {
                c
            })
        })
        .collect::<std::result::Result<Vec<Column>, Decode>>()?;
    let width = metadata.schema().fields().len();
    let rest: Vec<usize> = (0..width).filter(|j| !hinted.contains(j)).collect();
    let (height, rest) = if rest.is_empty() {
        (batch.len, Vec::new())
    } else {
        let rest = read(Some(rest))?;
        (rest.height(), rest.into_columns())
    };
    let mut rest = rest.into_iter();
    let mut alone = alone.into_iter();
    let columns = (0..width)
        .map(|j| {
            if hinted.contains(&j) {
                alone.next()
            } else {
                rest.next()
            }
            .expect("one column per field")
        })
        .collect();
    Ok(DataFrame::new(height, columns)?)
}

/// The rows of `batch`, the columns of `projection` (all of them for `None`).
fn read_batch(
    open: &(dyn Fn() -> Result<std::fs::File> + Sync),
    metadata: &FileMetadataRef,
    batch: &Batch,
    projection: Option<Vec<usize>>,
) -> std::result::Result<DataFrame, Decode> {
    // The first batch spreads its columns over the threads. Later ones are read over
    // row groups: polars 0.55 reads a slice by columns by decoding every row group
    // before it too (with an empty filter), so a file of a thousand row groups was
    // read in quadratic time (zstd 41 % of a 100 M-event spill).
    let strategy = if batch.start == 0 {
        ParallelStrategy::Columns
    } else {
        ParallelStrategy::RowGroups
    };
    let mut reader = ParquetReader::new(open().map_err(Decode::Io)?)
        .with_slice(Some((batch.start, batch.len)))
        .with_projection(projection)
        .read_parallel(strategy);
    reader.set_metadata(metadata.clone());
    Ok(reader.finish()?)
}

/// The columns of a flat file whose statistics say they have no value in any row
/// group of `batch`: a null count of at least the row group's rows and no minimum or
/// maximum. None for a file with nested columns (their leaves are not its columns).
fn unvalued_columns(metadata: &FileMetadataRef, batch: &Batch) -> Vec<usize> {
    let width = metadata.schema().fields().len();
    let groups = &metadata.row_groups[batch.groups.clone()];
    if groups.is_empty() || groups.iter().any(|g| g.n_columns() != width) {
        return Vec::new();
    }
    let footer: &[u8] = &metadata.footer_buf;
    (0..width)
        .filter(|&j| {
            groups.iter().all(|g| {
                let Some(Ok(stats)) = g.parquet_columns()[j].statistics(footer) else {
                    return false;
                };
                let rows = i64::try_from(g.num_rows()).unwrap_or(i64::MAX);
                let raw = stats.serialize();
                stats.null_count().is_some_and(|n| n >= rows)
                    && raw.min.is_none()
                    && raw.max.is_none()
                    && raw.min_value.is_none()
                    && raw.max_value.is_none()
            })
        })
        .collect()
}

/// Consecutive whole row groups decoded together.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Batch {
    /// The first row.
    start: usize,
    /// Rows.
    len: usize,
    /// The row groups.
    groups: std::ops::Range<usize>,
}

/// Each batch: consecutive whole row groups of at least `batch_rows` rows, but the
/// last; one empty batch for a file without rows, so that its columns are still
/// checked.
fn batches(groups: &[usize], batch_rows: usize) -> Vec<Batch> {
    let mut out = vec![Batch {
        start: 0,
        len: 0,
        groups: 0..0,
    }];
    for (g, &n) in groups.iter().enumerate() {
        let last = out.last_mut().expect("out starts non-empty");
        if last.len >= batch_rows {
            let start = last.start + last.len;
            out.push(Batch {
                start,
                len: n,
                groups: g..g + 1,
            });
        } else {
            last.len += n;
            last.groups.end = g + 1;
        }
    }
    out
}

/// Validates rows `0..height` of `columns`, which are the file's rows from `start` on,
/// in fixed windows in parallel: each window a column at a time
/// ([`super::columnar`]), its declined rows one at a time.
///
/// # Errors
///
/// As [`super::columnar::read_window`].
fn read_rows(
    columns: &Columns<Values>,
    height: usize,
    start: usize,
    file: &str,
    keep: &Projection,
    progress: &dyn Progress,
) -> Result<Part> {
    let parts = (0..height.div_ceil(CHUNK_LINES))
        .into_par_iter()
        .map(|c| {
            let first = c * CHUNK_LINES;
            let len = CHUNK_LINES.min(height - first);
            let columns = columns.window(first, len);
            let part =
                super::columnar::read_window(&columns, (start + first) as u64, len, file, keep);
            progress.advance(len as u64);
            part
        })
        .collect::<Result<Vec<Part>>>()?;
    Ok(Part::concat(parts))
}

#[cfg(test)]
mod tests;
