//! `synth` in bounded memory: the world [`super::generate`] makes, written straight to
//! a project directory without holding its events.
//!
//! [`super::generate`] keeps every event and every line (about 1.9 kB per event: 7 GB
//! at 200,000 units). Here visitors are generated in batches; each batch's events are
//! sorted by time and written to a temporary run file as their ndjson lines, and the
//! runs are merged by (timestamp, run) into `events.ndjson`. Within a batch the sort is
//! stable, and runs hold visitors in generation order, so the merge gives exactly the
//! order of [`super::generate`]'s one stable sort; the malformed lines are drawn from
//! the same generator in that order. The files are byte for byte those of
//! [`super::write_world`] (tested), and memory is bounded by one batch plus one line
//! and one decoder per run. Run files are zstd-compressed (level 1, 128 KiB window:
//! about 0.2 MB a run while merging), so a 100 M-event world needs about a tenth of
//! its ndjson size of temporary disk, not all of it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use super::{
    bundle, check_params, effects, malformed_before, new_shop, truth, write_project, SynthParams,
    Truth, DEMO_CONFIG, REVENUE,
};
use crate::error::{Error, Result};

/// Visitors per batch: about 100 MB of events at most.
const BATCH_UNITS: u32 = 5_000;

/// What [`generate_into`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    /// Valid events written.
    pub events: u64,
    /// Malformed lines among the lines written.
    pub malformed: u64,
    /// The truth (also written as `truth.json`).
    pub truth: Truth,
}

/// Generates a world into `dir` (`bundle.json`, `.traffical/config.yaml`,
/// `events.ndjson`, `truth.json`): the files [`super::write_world`] writes for
/// [`super::generate`]`(params)`, in memory bounded whatever the number of units.
///
/// # Errors
///
/// [`Error::Parameter`] as [`super::generate`]; [`Error::Io`] if a file cannot be
/// written.
pub fn generate_into(params: &SynthParams, dir: &Path) -> Result<Written> {
    generate_in_batches(params, dir, BATCH_UNITS)
}

pub(super) fn generate_in_batches(params: &SynthParams, dir: &Path, batch: u32) -> Result<Written> {
    check_params(params)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (bundle_json, bundle) = bundle();
    let fx = effects();
    let mut shop = new_shop(params, &bundle, &fx);
    let runs_dir = tempfile::tempdir_in(dir).map_err(|e| Error::io(dir, e))?;
    let mut runs = Vec::new();
    let mut events = 0u64;
    let mut first = 0u32;
    while first < params.units {
        let end = first.saturating_add(batch.max(1)).min(params.units);
        for u in first..end {
            shop.visitor(u);
        }
        let mut batch_events = std::mem::take(&mut shop.events);
        batch_events.sort_by_key(|e| e.timestamp);
        events += batch_events.len() as u64;
        let path = runs_dir.path().join(format!("run-{}", runs.len()));
        let io = |e| Error::io(&path, e);
        let mut out = run_writer(File::create(&path).map_err(io)?).map_err(io)?;
        for e in &batch_events {
            let line = serde_json::to_string(e).expect("events serialise");
            writeln!(out, "{}\t{line}", e.timestamp).map_err(io)?;
        }
        out.into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .and_then(zstd::Encoder::finish)
            .map_err(io)?;
        runs.push(path);
        first = end;
    }
    let mut rng = shop.rng;
    let expected = shop.expected;
    let malformed = merge(&runs, &dir.join("events.ndjson"), |line, malformed| {
        malformed_before(line, params.malformed_rate, malformed, &mut rng)
    })?;
    let truth = truth(params.seed, &fx, REVENUE, expected);
    write_project(dir, &bundle_json, DEMO_CONFIG, &truth)?;
    Ok(Written {
        events,
        malformed: malformed as u64,
        truth,
    })
}

/// A run file's writer: zstd level 1 with a 128 KiB window (what each run's decoder
/// holds while merging).
fn run_writer(file: File) -> std::io::Result<BufWriter<zstd::Encoder<'static, File>>> {
    let mut enc = zstd::Encoder::new(file, 1)?;
    enc.window_log(17)?;
    Ok(BufWriter::new(enc))
}

/// A run file's decoder, with small buffers (thousands of runs are open at once).
type RunReader = BufReader<zstd::Decoder<'static, BufReader<File>>>;

/// One run being merged: its reader and its next line (timestamp, ndjson).
struct Run {
    reader: RunReader,
    line: String,
}

impl Run {
    /// Reads the next line; its timestamp, or `None` at the end.
    fn advance(&mut self, path: &Path) -> Result<Option<i64>> {
        self.line.clear();
        let n = self
            .reader
            .read_line(&mut self.line)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(None);
        }
        let ts = self.line.split('\t').next().unwrap_or_default();
        Ok(Some(
            ts.parse().expect("run lines start with their timestamp"),
        ))
    }

    fn event_line(&self) -> &str {
        let line = self.line.trim_end_matches('\n');
        line.split_once('\t').map_or(line, |(_, json)| json)
    }
}

/// Merges the runs by (timestamp, run) into `out`, putting the line `before` returns
/// ahead of each event's; the number of such lines.
fn merge(
    runs: &[std::path::PathBuf],
    out: &Path,
    mut before: impl FnMut(&str, &mut usize) -> Option<String>,
) -> Result<usize> {
    let mut open = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::new();
    for (i, path) in runs.iter().enumerate() {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let decoder = zstd::Decoder::with_buffer(BufReader::with_capacity(1 << 14, file))
            .map_err(|e| Error::io(path, e))?;
        let mut run = Run {
            reader: BufReader::with_capacity(1 << 14, decoder),
            line: String::new(),
        };
        if let Some(ts) = run.advance(path)? {
            heap.push(Reverse((ts, i)));
        }
        open.push(run);
    }
    let io = |e| Error::io(out, e);
    let mut w = BufWriter::new(File::create(out).map_err(io)?);
    let mut malformed = 0usize;
    while let Some(Reverse((_, i))) = heap.pop() {
        let line = open[i].event_line();
        if let Some(bad) = before(line, &mut malformed) {
            writeln!(w, "{bad}").map_err(io)?;
        }
        writeln!(w, "{line}").map_err(io)?;
        if let Some(ts) = open[i].advance(&runs[i])? {
            heap.push(Reverse((ts, i)));
        }
    }
    w.flush().map_err(io)?;
    Ok(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{generate, write_world};

    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        [
            "bundle.json",
            ".traffical/config.yaml",
            "events.ndjson",
            "truth.json",
        ]
        .iter()
        .map(|f| ((*f).to_owned(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
    }

    #[test]
    fn batches_write_the_bytes_of_the_world_in_memory() {
        let params = SynthParams {
            units: 300,
            seed: 9,
            malformed_rate: 0.05,
            ..SynthParams::default()
        };
        let whole = tempfile::tempdir().unwrap();
        let world = generate(&params).unwrap();
        write_world(&world, whole.path()).unwrap();
        // Batches of 7 visitors: 43 runs, with many equal timestamps across runs.
        let streamed = tempfile::tempdir().unwrap();
        let written = generate_in_batches(&params, streamed.path(), 7).unwrap();
        assert_eq!(files(streamed.path()), files(whole.path()));
        assert_eq!(written.events, world.events.len() as u64);
        assert_eq!(written.malformed, world.malformed as u64);
        assert!(written.malformed > 0);
        // The run files are gone.
        let left: Vec<_> = std::fs::read_dir(streamed.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 4, "{left:?}");
    }

    #[test]
    fn zero_units_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let params = SynthParams {
            units: 0,
            ..SynthParams::default()
        };
        assert!(generate_into(&params, &dir.path().join("w")).is_err());
        assert!(!dir.path().join("w").exists());
    }
}
