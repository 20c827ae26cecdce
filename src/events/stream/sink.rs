//! Where [`super::convert_events`] writes: the converted events (ndjson, csv, or
//! parquet row groups) and the quarantine, each under a temporary name beside its
//! destination until the run ends.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::super::model::Event;
use super::super::quarantine::Rejected;
use super::super::read::Format;
use super::super::write::flat_frame;
use crate::error::{Error, Result};

/// A file written under a temporary name beside its destination.
struct Staged {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl Staged {
    fn new(dest: &Path) -> Result<Self> {
        let dir = match dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
                d.to_path_buf()
            }
            None => PathBuf::from("."),
        };
        let mut builder = tempfile::Builder::new();
        // The mode a plain `File::create` gives (the umask applies), not the
        // owner-only mode of temporary files: these become the outputs.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let tmp = builder.tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    fn file(&self) -> Result<std::fs::File> {
        self.tmp.reopen().map_err(|e| Error::io(self.tmp.path(), e))
    }

    fn persist(self) -> Result<()> {
        let dest = self.dest;
        self.tmp
            .persist(&dest)
            .map_err(|e| Error::io(&dest, e.error))?;
        Ok(())
    }
}

/// The quarantine file, one record per line as [`super::write_quarantine`] writes.
pub(super) struct Quarantine {
    staged: Staged,
    out: BufWriter<std::fs::File>,
}

impl Quarantine {
    pub(super) fn new(path: &Path) -> Result<Self> {
        let staged = Staged::new(path)?;
        let out = BufWriter::new(staged.file()?);
        Ok(Self { staged, out })
    }

    pub(super) fn push(&mut self, r: &Rejected) -> Result<()> {
        let io = |e| Error::io(&self.staged.dest, e);
        serde_json::to_writer(&mut self.out, r).map_err(|e| io(e.into()))?;
        self.out.write_all(b"\n").map_err(io)
    }

    pub(super) fn finish(mut self) -> Result<()> {
        self.out
            .flush()
            .map_err(|e| Error::io(&self.staged.dest, e))?;
        drop(self.out);
        self.staged.persist()
    }
}

/// The output in its format.
enum Writer {
    Ndjson(BufWriter<std::fs::File>),
    Csv(Box<csv::Writer<std::fs::File>>),
    Parquet {
        writer: Box<polars::io::parquet::write::BatchedWriter<std::fs::File>>,
        /// Events not yet flat rows (at most [`FRAME_EVENTS`]).
        pending: Vec<Event>,
        /// Flat rows not yet written, fewer than a row group's (a frame is far
        /// smaller than the events it holds).
        frames: Vec<DataFrame>,
        /// Flat rows in `frames`.
        rows: usize,
        /// Rows of a row group.
        group_rows: usize,
    },
}

/// Events turned into flat rows at a time: the row-wise text cells of
/// [`flat_frame`] exist for this many events only, not for a whole block.
#[cfg(not(test))]
const FRAME_EVENTS: usize = 8192;
#[cfg(test)]
const FRAME_EVENTS: usize = 300;

/// Where accepted events go.
pub(super) struct Sink {
    staged: Staged,
    writer: Writer,
}

impl Sink {
    /// A sink writing `path` in `format`, parquet in row groups of `group_rows` rows.
    pub(super) fn new(path: &Path, format: Format, group_rows: usize) -> Result<Self> {
        let staged = Staged::new(path)?;
        let file = staged.file()?;
        let writer = match format {
            Format::Ndjson => Writer::Ndjson(BufWriter::new(file)),
            Format::Csv => {
                let mut w = csv::Writer::from_writer(file);
                w.write_record(super::super::flat::FLAT_COLUMNS.iter().map(|c| c.0))
                    .map_err(|e| Error::io(path, e.into()))?;
                Writer::Csv(Box::new(w))
            }
            Format::Parquet => {
                let schema = flat_frame(&[])?.schema().as_ref().clone();
                Writer::Parquet {
                    writer: Box::new(ParquetWriter::new(file).batched(&schema)?),
                    pending: Vec::new(),
                    frames: Vec::new(),
                    rows: 0,
                    group_rows: group_rows.max(1),
                }
            }
        };
        Ok(Self { staged, writer })
    }

    pub(super) fn is_parquet(&self) -> bool {
        matches!(self.writer, Writer::Parquet { .. })
    }

    /// Rows already flat (a parquet output only).
    pub(super) fn push_frame(&mut self, df: DataFrame) -> Result<()> {
        let Writer::Parquet {
            frames,
            rows,
            group_rows,
            ..
        } = &mut self.writer
        else {
            unreachable!("flat rows go to a parquet output only");
        };
        if df.height() > 0 {
            *rows += df.height();
            frames.push(df);
        }
        if *rows >= *group_rows {
            self.flush_full()?;
        }
        Ok(())
    }

    pub(super) fn push(&mut self, e: Event) -> Result<()> {
        let io = |e| Error::io(&self.staged.dest, e);
        match &mut self.writer {
            Writer::Ndjson(out) => {
                serde_json::to_writer(&mut *out, &e).map_err(|e| io(e.into()))?;
                out.write_all(b"\n").map_err(io)
            }
            Writer::Csv(w) => {
                for row in super::super::flat::event_rows(&e) {
                    w.write_record(row.iter().map(|c| c.as_deref().unwrap_or("")))
                        .map_err(|e| io(e.into()))?;
                }
                Ok(())
            }
            Writer::Parquet { pending, .. } => {
                pending.push(e);
                if pending.len() >= FRAME_EVENTS {
                    self.flush_full()?;
                }
                Ok(())
            }
        }
    }

    /// Pending events become flat rows, and every full row group is written: with
    /// [`super::super::write::ROW_GROUP_ROWS`] rows, the row groups are those of [`super::write_events`]
    /// whatever the block size (the last one is written by [`Sink::finish`]).
    pub(super) fn flush_full(&mut self) -> Result<()> {
        let Writer::Parquet {
            writer,
            pending,
            frames,
            rows,
            group_rows,
        } = &mut self.writer
        else {
            return Ok(());
        };
        let group_rows = *group_rows;
        if !pending.is_empty() {
            let df = flat_frame(pending)?;
            pending.clear();
            *rows += df.height();
            frames.push(df);
        }
        while *rows >= group_rows {
            let mut df = stack(std::mem::take(frames))?;
            let mut group = df.slice(0, group_rows);
            group.rechunk_mut();
            writer.write_batch(&group)?;
            df = df.slice(group_rows as i64, usize::MAX);
            *rows = df.height();
            if *rows > 0 {
                frames.push(df);
            }
        }
        Ok(())
    }

    /// Writes the rows left as the last row group.
    pub(super) fn last_group(&mut self) -> Result<()> {
        self.flush_full()?;
        if let Writer::Parquet {
            writer,
            frames,
            rows,
            ..
        } = &mut self.writer
        {
            if *rows > 0 {
                let mut df = stack(std::mem::take(frames))?;
                df.rechunk_mut();
                writer.write_batch(&df)?;
                *rows = 0;
            }
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<()> {
        self.last_group()?;
        let io = |e| Error::io(&self.staged.dest, e);
        match self.writer {
            Writer::Ndjson(mut out) => out.flush().map_err(io)?,
            Writer::Csv(mut w) => w.flush().map_err(io)?,
            Writer::Parquet { writer, .. } => {
                writer.finish()?;
            }
        }
        self.staged.persist()
    }
}

/// Frames one under the other (in order).
fn stack(frames: Vec<DataFrame>) -> Result<DataFrame> {
    let mut parts = frames.into_iter();
    let mut df = parts.next().unwrap_or_default();
    for f in parts {
        df.vstack_mut(&f)?;
    }
    Ok(df)
}
