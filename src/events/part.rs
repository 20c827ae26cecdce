//! The output of reading one chunk of records, whatever the format: the tables of the
//! accepted events, the records set aside and the counts. Every reader (`read` for
//! ndjson and csv, `parquet`) fills parts in parallel and concatenates them in file
//! order.

use std::collections::BTreeMap;

use serde_json::Value;

use super::model::{Event, RecordError, Warning, Warnings};
use super::ndjson::{RawEvent, RawLayer};
use super::projection::{Blank, Projection};
use super::quarantine::Rejected;
use super::table::{Chunk, TableBuilder};
use crate::error::Result;

/// Output of one chunk of records.
#[derive(Default)]
pub(super) struct Part {
    /// One table chunk per chunk of records, in order.
    pub(super) tables: Vec<Chunk>,
    pub(super) rejected: Vec<Rejected>,
    pub(super) read: u64,
    pub(super) by_type: [u64; 3],
    pub(super) warnings: BTreeMap<Warning, u64>,
    /// What the part's row builders empty (the columns of the load's projection).
    pub(super) blank: Blank,
}

impl Part {
    /// An empty part whose rows keep only the columns of `keep`.
    pub(super) fn keeping(keep: &Projection) -> Self {
        Self {
            blank: Blank::of(keep),
            ..Self::default()
        }
    }

    /// Validates one record (the slow path) and takes it.
    pub(super) fn accept(
        &mut self,
        file: &str,
        line: u64,
        raw: impl FnOnce() -> Value,
        parsed: Result<Value, (String, String)>,
    ) {
        let result = parsed
            .map_err(|(field, reason)| RecordError { field, reason })
            .and_then(Event::from_json);
        self.take(file, line, raw, result);
    }

    /// Counts one record and keeps its event, or sets it aside with its reason.
    pub(super) fn take(
        &mut self,
        file: &str,
        line: u64,
        raw: impl FnOnce() -> Value,
        result: Result<(Event, Warnings), RecordError>,
    ) {
        self.read += 1;
        let result = result.and_then(|(e, w)| super::future::check(e.timestamp).map(|()| (e, w)));
        match result {
            Ok((event, warnings)) => {
                self.by_type[event.kind as usize] += 1;
                for w in warnings.iter() {
                    *self.warnings.entry(w).or_default() += 1;
                }
                self.builder().push_from(event, Some((file, line)));
            }
            Err(e) => self.rejected.push(Rejected {
                file: file.to_owned(),
                line,
                field: e.field,
                reason: e.reason,
                record: raw(),
            }),
        }
    }

    /// Counts one ndjson line read in place and keeps its event, as [`Part::take`]
    /// does the same event (an event too far in the future is set aside).
    pub(super) fn take_raw(
        &mut self,
        file: &str,
        line: u64,
        raw: impl FnOnce() -> Value,
        event: RawEvent<'_>,
        layers: &mut [RawLayer<'_>],
    ) {
        self.read += 1;
        if let Err(e) = super::future::check(event.timestamp) {
            self.rejected.push(Rejected {
                file: file.to_owned(),
                line,
                field: e.field,
                reason: e.reason,
                record: raw(),
            });
            return;
        }
        self.by_type[event.kind as usize] += 1;
        for w in event.warnings.iter() {
            *self.warnings.entry(w).or_default() += 1;
        }
        self.builder().push_raw(event, layers, (file, line));
    }

    /// The row builder of the part's last chunk (a new one if the last chunk is not
    /// rows).
    fn builder(&mut self) -> &mut TableBuilder {
        if !matches!(self.tables.last(), Some(Chunk::Rows(_))) {
            self.tables
                .push(Chunk::Rows(Box::new(TableBuilder::blanking(self.blank))));
        }
        match self.tables.last_mut() {
            Some(Chunk::Rows(b)) => b,
            _ => unreachable!("a row chunk was just pushed"),
        }
    }

    /// Parts in order, merged into one.
    pub(super) fn concat(parts: Vec<Part>) -> Part {
        let mut all = Part::default();
        for p in parts {
            all.merge(p);
        }
        all
    }

    /// Adds a later part's records to this one.
    pub(super) fn merge(&mut self, other: Part) {
        self.tables.extend(other.tables);
        self.rejected.extend(other.rejected);
        self.read += other.read;
        for i in 0..3 {
            self.by_type[i] += other.by_type[i];
        }
        for (w, n) in other.warnings {
            *self.warnings.entry(w).or_default() += n;
        }
    }
}

/// Lines per parallel chunk of ndjson: big enough to amortise task overhead, small
/// enough to balance two to sixteen cores.
pub(super) const CHUNK_LINES: usize = 16 * 1024;
