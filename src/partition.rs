//! Logs larger than memory: the events split by a hash of their unit key into
//! partitions spilled to a temporary directory, each partition then loaded and
//! attributed on its own.
//!
//! Everything attribution computes belongs to one unit: sessions, exposure dedup, the
//! unit-key rule, and a decision's exposures (a decision id is made for one unit). So
//! a partition holds whole units, and what a run takes from its events is either a
//! sum over units (counts; exact float sums, [`crate::exact`]) or rows with a total
//! sort order (reward rows by policy, allocation and unit or decision), which the
//! partitions' rows, concatenated and sorted, give back exactly. The engine's
//! partitioned run (`Engine::retrain` with a [`MemoryLimit`] the log exceeds) thus
//! publishes the same bytes as the run in memory; `tests/it/partitions.rs` checks it.
//!
//! Spilling: the inputs are loaded a batch at a time (ndjson blocks of whole lines,
//! parquet row groups, csv parts of records), malformed records quarantined as in
//! memory, each batch's rows routed by unit key, held up to an eighth of the budget,
//! then written as one Parquet file per partition and table, finished at once (a
//! writer kept open holds every page's metadata). Peak memory is thus about the held
//! batches' tables, then one partition's.
//! Track rows are renumbered per partition (`track_row` stays the row's index in its
//! partition's track table, which the SDK attribution rows point to).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::events::{
    load_events_batched, EventTables, LoadOptions, LoadReport, Projection, Rejected,
};
use crate::progress::Progress;

pub use crate::memory::MemoryLimit;

/// Bytes of memory a retrain in memory peaks at per byte of an ndjson or csv file,
/// measured (release build, `retrain --dry-run`): the yardstick's shop log, 618 MB of
/// ndjson, peaks at 2.38 GB; a `synth --units 161000` log, 1.0 GB, at 2.65 GB.
/// Rounded up.
const TEXT_BYTE: u64 = 4;
/// Bytes a retrain in memory peaks at per row of a parquet file (its footer gives the
/// rows; bytes of parquet say little, compression differs from log to log): the shop
/// log's 2.0 M rows (78 MB) peak at 1.04 GB, 520 bytes a row; the synth log's 3.0 M
/// rows (42 MB) at 1.38 GB, 457 bytes a row. Rounded up.
const PARQUET_ROW: u64 = 600;
/// Per byte of a parquet file whose footer cannot be read (the load will say why).
const PARQUET_BYTE: u64 = 33;

/// The memory a retrain in memory of `path` is estimated to peak at.
fn memory_of(path: &Path) -> Result<u64> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if path.extension().and_then(|e| e.to_str()) != Some("parquet") {
        return Ok(len * TEXT_BYTE);
    }
    let rows = std::fs::File::open(path).ok().and_then(|f| {
        ParquetReader::new(f)
            .get_metadata()
            .ok()
            .map(|m| m.num_rows)
    });
    Ok(rows.map_or(len * PARQUET_BYTE, |r| r as u64 * PARQUET_ROW))
}

/// The number of partitions a run over `inputs` needs to stay within `limit`: 1 when
/// the whole log fits.
///
/// # Errors
///
/// [`Error::Io`] for an input whose size cannot be read.
pub fn partitions_needed(inputs: &[PathBuf], limit: MemoryLimit) -> Result<usize> {
    let mut estimate = 0u64;
    for p in inputs {
        estimate += memory_of(p)?;
    }
    // A partition's tables use a third of the budget: the rest holds what the
    // partitions done gave and the run's other buffers.
    let per_partition = (limit.0 / 3).max(1);
    Ok(estimate.div_ceil(per_partition).max(1) as usize)
}

/// The partition of a unit key: FNV-1a (64 bits) of its bytes, modulo `n`. Fixed, so
/// a log splits the same way on every machine and run.
#[must_use]
pub fn partition_of(unit_key: &str, n: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in unit_key.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % n as u64) as usize
}

/// The schemas of the three tables.
type Schemas = [Schema; 3];

const TABLES: [&str; 3] = ["exposures", "tracks", "attributions"];

/// A log split into partitions on disk; the directory is removed when dropped.
pub struct Spilled {
    /// The spill directory: held to be removed when the spill is dropped.
    _dir: tempfile::TempDir,
    n: usize,
    /// Per partition: exposure rows, track rows.
    rows: Vec<[u64; 2]>,
    /// Per partition and table: its files, one per flush that had rows of it.
    files: Vec<[Vec<PathBuf>; 3]>,
    /// The (projected) schema of each table, for partitions without rows of it.
    schemas: Option<Schemas>,
}

/// The partitions of a log, the load's counts and the records it set aside (in file
/// and line order).
pub struct SpilledLoad {
    /// The partitions.
    pub spilled: Spilled,
    /// Counts of the whole load.
    pub report: LoadReport,
    /// Malformed records, as a load in memory sets them aside.
    pub rejected: Vec<Rejected>,
}

/// Loads `paths` a batch at a time and spills their events into `n` partitions by
/// unit key, under `tmp` (the system's temporary directory when `None`).
///
/// # Errors
///
/// As [`crate::events::load_events_projected`]; [`Error::Io`] when the spill cannot be
/// written.
pub fn spill_events(
    paths: &[PathBuf],
    opts: LoadOptions,
    keep: &Projection,
    n: usize,
    tmp: Option<&Path>,
    limit: MemoryLimit,
    progress: &dyn Progress,
) -> Result<SpilledLoad> {
    let n = n.max(1);
    let dir = match tmp {
        Some(t) => tempfile::Builder::new()
            .prefix("bandit-engine-spill-")
            .tempdir_in(t),
        None => tempfile::Builder::new()
            .prefix("bandit-engine-spill-")
            .tempdir(),
    }
    .map_err(|e| Error::io(tmp.unwrap_or(&std::env::temp_dir()), e))?;
    // Batches are written once they hold an eighth of the budget: at most that, a
    // batch being read and one partition's rows being written are in memory (a
    // quarter let a 10 M-event spill under a 4 GiB budget peak at 4.16 GiB).
    let mut router = Router::new(dir.path(), n, limit.0 / 8);
    let (report, rejected) =
        load_events_batched(paths, opts, keep, progress, |tables| router.route(tables))?;
    let (rows, files, schemas) = router.finish()?;
    Ok(SpilledLoad {
        spilled: Spilled {
            _dir: dir,
            n,
            rows,
            files,
            schemas,
        },
        report,
        rejected,
    })
}

impl Spilled {
    /// Partitions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there is no partition (never: at least one).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Exposure and track rows of partition `p`.
    #[must_use]
    pub fn rows(&self, p: usize) -> [u64; 2] {
        self.rows[p]
    }

    /// The event tables of partition `p`: its rows in the order of the input.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::Polars`] when a spill file cannot be read back.
    pub fn read(&self, p: usize) -> Result<EventTables> {
        let mut frames = Vec::with_capacity(3);
        for (t, files) in self.files[p].iter().enumerate() {
            let mut df: Option<DataFrame> = None;
            for path in files {
                let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
                let part = ParquetReader::new(f).finish()?;
                match &mut df {
                    Some(all) => {
                        all.vstack_mut(&part)?;
                    }
                    None => df = Some(part),
                }
            }
            let df = if let Some(mut df) = df {
                // Numbers in one chunk, as a load in memory leaves them (strings stay
                // in their chunks there too).
                // SAFETY: every column keeps its name and its length.
                for c in unsafe { df.columns_mut_retain_schema() } {
                    if c.n_chunks() > 1 && c.dtype() != &DataType::String {
                        *c = c.rechunk();
                    }
                }
                df
            } else {
                match &self.schemas {
                    Some(s) => DataFrame::empty_with_schema(&s[t]),
                    None => DataFrame::empty(),
                }
            };
            frames.push(df);
        }
        let attributions = frames.pop().expect("three tables");
        let tracks = frames.pop().expect("three tables");
        let exposures = frames.pop().expect("three tables");
        Ok(EventTables {
            exposures,
            tracks,
            attributions,
        })
    }
}

fn file_of(dir: &Path, p: usize, table: &str, flush: usize) -> PathBuf {
    dir.join(format!("{table}-{p:05}-{flush:06}.parquet"))
}

/// Writes rows into their partitions' files. Batches are held until they reach
/// `buffer` bytes, then every partition gets one row group of all of them: a row
/// group per partition and batch made row groups of a few hundred rows on large logs
/// (hundreds of partitions), and their footer metadata grew with the log (8 GB at 100 M
/// events).
struct Router<'d> {
    dir: &'d Path,
    n: usize,
    /// Per partition and table: the files written, one per flush.
    files: Vec<[Vec<PathBuf>; 3]>,
    /// Flushes done: the next file's number.
    flushes: usize,
    /// Batches routed but not written: per table, each batch's rows and their
    /// partitions.
    pending: [Vec<(DataFrame, Vec<u32>)>; 3],
    pending_bytes: u64,
    /// String data buffers already counted in `pending_bytes` (by address): the
    /// tables of a batch share the file's decoded buffers.
    seen_buffers: std::collections::HashSet<usize>,
    buffer: u64,
    /// Track rows written per partition: the next one's `track_row`.
    next_track_row: Vec<u32>,
    rows: Vec<[u64; 2]>,
    schemas: Option<Schemas>,
}

impl<'d> Router<'d> {
    fn new(dir: &'d Path, n: usize, buffer: u64) -> Self {
        Self {
            dir,
            n,
            files: (0..n)
                .map(|_| [Vec::new(), Vec::new(), Vec::new()])
                .collect(),
            flushes: 0,
            pending: [Vec::new(), Vec::new(), Vec::new()],
            pending_bytes: 0,
            seen_buffers: std::collections::HashSet::new(),
            buffer,
            next_track_row: vec![0; n],
            rows: vec![[0, 0]; n],
            schemas: None,
        }
    }

    /// Routes one batch's tables (their `track_row` is the track's row index).
    fn route(&mut self, tables: EventTables) -> Result<()> {
        if self.schemas.is_none() {
            self.schemas = Some([
                (**tables.exposures.schema()).clone(),
                (**tables.tracks.schema()).clone(),
                (**tables.attributions.schema()).clone(),
            ]);
        }
        let x_part = parts_of(&tables.exposures, self.n)?;
        let t_part = parts_of(&tables.tracks, self.n)?;
        // Each track's row in its partition, counted on from the rows written before.
        let mut new_row = vec![0u32; t_part.len()];
        let mut next = self.next_track_row.clone();
        for (r, &p) in new_row.iter_mut().zip(&t_part) {
            *r = next[p as usize];
            next[p as usize] = next[p as usize]
                .checked_add(1)
                .ok_or_else(|| Error::InvalidEventFile {
                    file: self.dir.display().to_string(),
                    reason: "more than 4,294,967,295 track events in one partition: raise the number of partitions".into(),
                })?;
        }
        self.next_track_row = next;
        let a_rows = tables.attributions.column("track_row")?.u32()?;
        let a_part: Vec<u32> = a_rows
            .iter()
            .map(|r| r.map_or(0, |r| t_part[r as usize]))
            .collect();
        let renumber = |df: &DataFrame| -> Result<DataFrame> {
            let rows = df.column("track_row")?.u32()?;
            let new: UInt32Chunked = rows
                .iter()
                .map(|r| r.map(|r| new_row[r as usize]))
                .collect();
            let mut df = df.clone();
            df.with_column(new.with_name("track_row".into()).into_column())?;
            Ok(df)
        };
        let tracks = renumber(&tables.tracks)?;
        let attributions = renumber(&tables.attributions)?;
        for (t, (df, part)) in [
            (tables.exposures, x_part),
            (tracks, t_part),
            (attributions, a_part),
        ]
        .into_iter()
        .enumerate()
        {
            if df.height() > 0 {
                self.pending_bytes += held_bytes(&df, &mut self.seen_buffers)?;
                self.pending[t].push((df, part));
            }
        }
        if self.pending_bytes >= self.buffer {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes each partition's rows of the pending batches, one row group per
    /// partition and table.
    fn flush(&mut self) -> Result<()> {
        for t in 0..TABLES.len() {
            let batches = std::mem::take(&mut self.pending[t]);
            if batches.is_empty() {
                continue;
            }
            let mut idx: Vec<Vec<Vec<IdxSize>>> = vec![vec![Vec::new(); batches.len()]; self.n];
            for (b, (_, part)) in batches.iter().enumerate() {
                for (i, &p) in part.iter().enumerate() {
                    idx[p as usize][b].push(i as IdxSize);
                }
            }
            for (p, per_batch) in idx.into_iter().enumerate() {
                let mut rows: Option<DataFrame> = None;
                for ((df, _), take) in batches.iter().zip(per_batch) {
                    if take.is_empty() {
                        continue;
                    }
                    let slice = df.take(&IdxCa::from_vec("row".into(), take))?;
                    match &mut rows {
                        Some(all) => {
                            all.vstack_mut(&slice)?;
                        }
                        None => rows = Some(slice),
                    }
                }
                if let Some(mut rows) = rows {
                    rows.rechunk_mut();
                    self.write(p, t, &rows)?;
                }
            }
        }
        self.pending_bytes = 0;
        self.seen_buffers.clear();
        self.flushes += 1;
        Ok(())
    }

    /// Writes rows of partition `p`'s table `t` as a file of its own, finished at
    /// once: a parquet writer keeps every page's metadata until it finishes, so one
    /// long-lived writer per partition and table grew with the log (a 10 M-event
    /// spill in 135 partitions under a 400 MiB budget: 0.82 GB and growing at a
    /// third of the spill).
    fn write(&mut self, p: usize, t: usize, rows: &DataFrame) -> Result<()> {
        if t < 2 {
            self.rows[p][t] += rows.height() as u64;
        }
        let path = file_of(self.dir, p, TABLES[t], self.flushes);
        let f = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut df = rows.clone();
        ParquetWriter::new(f)
            .with_compression(ParquetCompression::Zstd(None))
            // Read back whole: statistics would only fill the footer.
            .with_statistics(StatisticsOptions::empty())
            .with_row_group_size(Some(rows.height().max(1)))
            .finish(&mut df)?;
        self.files[p][t].push(path);
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn finish(mut self) -> Result<(Vec<[u64; 2]>, Vec<[Vec<PathBuf>; 3]>, Option<Schemas>)> {
        self.flush()?;
        Ok((self.rows, self.files, self.schemas))
    }
}

/// The memory `df` holds, counting what polars' `estimated_size` leaves out of a
/// string column: its 16-byte views, and the whole data buffers its views point into
/// (a table cut from a file's decoded column keeps all of the column's buffer alive,
/// not only its own strings), each buffer once across the batches held (`seen`).
/// polars counts only the bytes of the strings a column shows, which under-counted
/// the tables held while spilling several-fold.
fn held_bytes(df: &DataFrame, seen: &mut std::collections::HashSet<usize>) -> Result<u64> {
    let mut bytes = 0u64;
    for c in df.columns() {
        if c.dtype() != &DataType::String {
            bytes += c.as_materialized_series().estimated_size() as u64;
            continue;
        }
        for arr in c.str()?.downcast_iter() {
            bytes += (arr.len() * 16) as u64;
            for b in arr.data_buffers().iter() {
                if seen.insert(b.as_ptr() as usize) {
                    bytes += b.len() as u64;
                }
            }
        }
    }
    Ok(bytes)
}

/// `df` without the string data it does not show: a filter or slice of a partition's
/// table keeps the table's whole string buffers alive (its views point into them), so
/// rows kept from every partition would hold every partition's strings. Each string
/// chunk whose buffers exceed twice its visible bytes is copied into buffers of its
/// own; an empty frame is made afresh.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a column cannot be rebuilt.
pub fn detached(df: DataFrame) -> Result<DataFrame> {
    if df.height() == 0 {
        return Ok(df.clear());
    }
    let mut columns = Vec::with_capacity(df.width());
    for c in df.columns() {
        if c.dtype() != &DataType::String {
            columns.push(c.clone());
            continue;
        }
        let ca = c.str()?;
        let wasteful = ca
            .downcast_iter()
            .any(|a| a.total_buffer_len() > 2 * a.total_bytes_len() + 4096);
        if !wasteful {
            columns.push(c.clone());
            continue;
        }
        let chunks: Vec<_> = ca.downcast_iter().map(|a| a.clone().gc()).collect();
        let fresh = StringChunked::from_chunk_iter(ca.name().clone(), chunks);
        columns.push(fresh.into_series().into_column());
    }
    Ok(DataFrame::new(df.height(), columns)?)
}

/// Each row's partition by its `unit_key` (a row without one goes to partition 0).
fn parts_of(df: &DataFrame, n: usize) -> Result<Vec<u32>> {
    if df.height() == 0 {
        return Ok(Vec::new());
    }
    let keys = df.column("unit_key")?.str()?;
    Ok(keys
        .iter()
        .map(|k| k.map_or(0, |k| partition_of(k, n) as u32))
        .collect())
}

#[cfg(test)]
mod tests;
