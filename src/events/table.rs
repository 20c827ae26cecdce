//! The engine's fixed, columnar view of events: three polars tables.
//!
//! | table | one row per | columns |
//! |---|---|---|
//! | [`EXPOSURE_COLUMNS`] | layer of an exposure or decision event | `kind`, ids, unit, session, `decision_id`, `ts` (ms), the layer's fields, `probability`, `context` (JSON text) |
//! | [`TRACK_COLUMNS`] | track event | `track_row`, ids, unit, session, `decision_id`, `ts`, `event_ts`, `event`, `value`, `values`, `properties`, `context` (JSON text), `source_file`, `source_line` |
//! | [`ATTRIBUTION_COLUMNS`] | entry of a track event's SDK-built `attribution` array | `track_row`, `layer_id`, `policy_id`, `allocation_name`, `weight`, `model` |
//!
//! Timestamps are `Int64` milliseconds since the Unix epoch, UTC; `ts` is when the
//! event was sent, `event_ts` when a delayed track event really happened
//! (`eventTimestamp`, else equal to `ts`). Nested JSON objects (context, properties,
//! values) stay as JSON text: the relational stages never look inside them, and the
//! stages that do (schema enforcement, contextual features) parse just the keys they
//! need. `docs/formats.md` documents every column.

use polars::prelude::*;

use super::model::{Event, EventType};
use super::ndjson::{RawEvent, RawLayer};
use super::projection::{Blank, Projection};
use crate::error::{Error, Result};

/// Columns of the exposures table, in order, with their polars types.
pub const EXPOSURE_COLUMNS: &[(&str, &str)] = &[
    ("kind", "str: exposure | decision"),
    ("event_id", "str?"),
    ("org_id", "str?"),
    ("project_id", "str?"),
    ("env", "str?"),
    ("unit_key", "str"),
    ("session_id", "str?"),
    ("decision_id", "str?"),
    ("ts", "i64 ms"),
    ("config_version", "str?"),
    ("layer_id", "str"),
    ("bucket", "u32"),
    ("policy_id", "str?"),
    ("policy_key", "str?"),
    ("allocation_id", "str?"),
    ("allocation_name", "str?"),
    ("allocation_key", "str?"),
    ("layer_unit_key", "str?"),
    ("layer_unit_key_value", "str?"),
    ("probability", "f64?"),
    ("model_version", "str?"),
    ("attribution_only", "bool"),
    ("context", "str? (JSON)"),
];

/// Columns of the tracks table.
pub const TRACK_COLUMNS: &[(&str, &str)] = &[
    ("track_row", "u32"),
    ("event_id", "str?"),
    ("org_id", "str?"),
    ("project_id", "str?"),
    ("env", "str?"),
    ("unit_key", "str"),
    ("session_id", "str?"),
    ("decision_id", "str?"),
    ("ts", "i64 ms"),
    ("event_ts", "i64 ms"),
    ("config_version", "str?"),
    ("event", "str"),
    ("value", "f64?"),
    ("values", "str? (JSON)"),
    ("properties", "str? (JSON)"),
    ("context", "str? (JSON)"),
    ("source_file", "str? (input file)"),
    ("source_line", "u64? (line or row)"),
];

/// Columns of the attributions table.
pub const ATTRIBUTION_COLUMNS: &[(&str, &str)] = &[
    ("track_row", "u32"),
    ("layer_id", "str"),
    ("policy_id", "str"),
    ("policy_key", "str?"),
    ("allocation_name", "str"),
    ("allocation_key", "str?"),
    ("weight", "f64?"),
    ("model", "str?"),
];

fn json_text<T: serde::Serialize>(v: Option<&T>) -> Option<String> {
    v.map(|v| serde_json::to_string(v).expect("serde_json::Value always serialises"))
}

/// Accumulates validated events into columns; [`TableBuilder::finish`] makes frames.
#[derive(Default)]
pub struct TableBuilder {
    // exposures
    x_kind: Vec<&'static str>,
    x_event_id: Texts,
    x_org: Texts,
    x_project: Texts,
    x_env: Texts,
    x_unit: Texts,
    x_session: Texts,
    x_decision: Texts,
    x_ts: Vec<i64>,
    x_config_version: Texts,
    x_layer: Texts,
    x_bucket: Vec<u32>,
    x_policy: Texts,
    x_policy_key: Texts,
    x_alloc_id: Texts,
    x_alloc: Texts,
    x_alloc_key: Texts,
    x_layer_unit_key: Texts,
    x_layer_unit_value: Texts,
    x_prob: Vec<Option<f64>>,
    x_model_version: Texts,
    x_attr_only: Vec<bool>,
    x_context: Texts,
    // tracks
    t_row: Vec<u32>,
    t_event_id: Texts,
    t_org: Texts,
    t_project: Texts,
    t_env: Texts,
    t_unit: Texts,
    t_session: Texts,
    t_decision: Texts,
    t_ts: Vec<i64>,
    t_event_ts: Vec<i64>,
    t_config_version: Texts,
    t_event: Texts,
    t_value: Vec<Option<f64>>,
    t_values: Texts,
    t_properties: Texts,
    t_context: Texts,
    t_source_file: Texts,
    t_source_line: Vec<Option<u64>>,
    // attributions
    a_row: Vec<u32>,
    a_layer: Texts,
    a_policy: Texts,
    a_policy_key: Texts,
    a_alloc: Texts,
    a_alloc_key: Texts,
    a_weight: Vec<Option<f64>>,
    a_model: Vec<Option<&'static str>>,
    /// The fields emptied as events are taken (none by default).
    blank: Blank,
}

/// A text column being built: each value is copied into the column's own buffers as
/// it is pushed (no string per row), nulls marked.
struct Texts(StringChunkedBuilder);

impl Default for Texts {
    fn default() -> Self {
        Self(StringChunkedBuilder::new(PlSmallStr::EMPTY, 0))
    }
}

impl Texts {
    fn push(&mut self, s: Option<&str>) {
        self.0.append_option(s);
    }

    fn value(&mut self, s: &str) {
        self.0.append_value(s);
    }

    fn column(self, name: &str) -> Column {
        Column::from(self.0.finish().into_series().with_name(name.into()))
    }
}

impl TableBuilder {
    /// Appends one event: one row per layer for exposures and decisions, one row
    /// (plus one per attribution entry) for tracks. A track row built this way has no
    /// source (`source_file` and `source_line` are null).
    pub fn push(&mut self, e: Event) {
        self.push_from(e, None);
    }

    /// As [`TableBuilder::push`], recording for a track event the input file and
    /// 1-based line (or parquet row) it was read from, so that a later stage that
    /// sets it aside (schema enforcement) can name them.
    pub fn push_from(&mut self, mut e: Event, source: Option<(&str, u64)>) {
        self.blank.apply(&mut e);
        match e.kind {
            EventType::Exposure | EventType::Decision => {
                let context = json_text(e.context.as_ref());
                for l in &e.layers {
                    self.x_kind.push(e.kind.as_str());
                    self.x_event_id.push(e.id.as_deref());
                    self.x_org.push(e.org_id.as_deref());
                    self.x_project.push(e.project_id.as_deref());
                    self.x_env.push(e.env.as_deref());
                    self.x_session.push(e.session_id.as_deref());
                    self.x_decision.push(e.decision_id.as_deref());
                    self.x_config_version.push(e.config_version.as_deref());
                    self.x_context.push(context.as_deref());
                    self.x_unit.value(&e.unit_key);
                    self.x_ts.push(e.timestamp);
                    self.x_layer.value(&l.layer_id);
                    self.x_bucket.push(l.bucket);
                    self.x_policy.push(l.policy_id.as_deref());
                    self.x_policy_key.push(l.policy_key.as_deref());
                    self.x_alloc_id.push(l.allocation_id.as_deref());
                    self.x_alloc.push(l.allocation_name.as_deref());
                    self.x_alloc_key.push(l.allocation_key.as_deref());
                    self.x_layer_unit_key.push(l.unit_key.as_deref());
                    self.x_layer_unit_value.push(l.unit_key_value.as_deref());
                    self.x_prob.push(l.probability);
                    self.x_model_version.push(l.model_version.as_deref());
                    self.x_attr_only.push(l.attribution_only);
                }
            }
            EventType::Track => {
                // Saturates rather than panics: `finish` refuses a builder this large
                // before any row number reaches a table.
                let row = u32::try_from(self.t_row.len()).unwrap_or(u32::MAX);
                for a in e.attribution.iter().flatten() {
                    self.a_row.push(row);
                    self.a_layer.value(&a.layer_id);
                    self.a_policy.value(&a.policy_id);
                    self.a_policy_key.push(a.policy_key.as_deref());
                    self.a_alloc.value(&a.allocation_name);
                    self.a_alloc_key.push(a.allocation_key.as_deref());
                    self.a_weight.push(a.weight);
                    self.a_model.push(a.model.map(|m| m.as_str()));
                }
                self.t_row.push(row);
                self.t_event_ts.push(e.occurred_at());
                self.t_event_id.push(e.id.as_deref());
                self.t_org.push(e.org_id.as_deref());
                self.t_project.push(e.project_id.as_deref());
                self.t_env.push(e.env.as_deref());
                self.t_unit.value(&e.unit_key);
                self.t_session.push(e.session_id.as_deref());
                self.t_decision.push(e.decision_id.as_deref());
                self.t_ts.push(e.timestamp);
                self.t_config_version.push(e.config_version.as_deref());
                self.t_event.value(
                    e.event
                        .as_deref()
                        .expect("validated track events have a name"),
                );
                self.t_value.push(e.value);
                self.t_values.push(json_text(e.values.as_ref()).as_deref());
                self.t_properties
                    .push(json_text(e.properties.as_ref()).as_deref());
                self.t_context
                    .push(json_text(e.context.as_ref()).as_deref());
                self.t_source_file.push(source.map(|(f, _)| f));
                self.t_source_line.push(source.map(|(_, l)| l));
            }
        }
    }

    /// As [`TableBuilder::push_from`] for an event read in place from its ndjson line
    /// (nested values already canonical JSON text): the same rows.
    pub(super) fn push_raw(
        &mut self,
        mut e: RawEvent<'_>,
        layers: &mut [RawLayer<'_>],
        source: (&str, u64),
    ) {
        self.blank.apply_raw(&mut e, layers);
        match e.kind {
            EventType::Exposure | EventType::Decision => {
                for l in layers.iter() {
                    self.x_kind.push(e.kind.as_str());
                    self.x_event_id.push(e.id);
                    self.x_org.push(e.org_id);
                    self.x_project.push(e.project_id);
                    self.x_env.push(e.env);
                    self.x_session.push(e.session_id);
                    self.x_decision.push(e.decision_id);
                    self.x_config_version.push(e.config_version);
                    self.x_context.push(e.context.as_deref());
                    self.x_unit.value(e.unit_key);
                    self.x_ts.push(e.timestamp);
                    self.x_layer
                        .value(l.layer_id.expect("accepted layers have an id"));
                    self.x_bucket
                        .push(l.bucket.expect("accepted layers have a bucket"));
                    self.x_policy.push(l.policy_id);
                    self.x_policy_key.push(l.policy_key);
                    self.x_alloc_id.push(l.allocation_id);
                    self.x_alloc.push(l.allocation_name);
                    self.x_alloc_key.push(l.allocation_key);
                    self.x_layer_unit_key.push(l.unit_key);
                    self.x_layer_unit_value.push(l.unit_key_value);
                    self.x_prob.push(l.probability);
                    self.x_model_version.push(l.model_version);
                    self.x_attr_only.push(l.attribution_only);
                }
            }
            EventType::Track => {
                let row = u32::try_from(self.t_row.len()).unwrap_or(u32::MAX);
                self.t_row.push(row);
                self.t_event_ts
                    .push(e.event_timestamp.unwrap_or(e.timestamp));
                self.t_event_id.push(e.id);
                self.t_org.push(e.org_id);
                self.t_project.push(e.project_id);
                self.t_env.push(e.env);
                self.t_unit.value(e.unit_key);
                self.t_session.push(e.session_id);
                self.t_decision.push(e.decision_id);
                self.t_ts.push(e.timestamp);
                self.t_config_version.push(e.config_version);
                self.t_event
                    .value(e.event.expect("accepted track events have a name"));
                self.t_value.push(e.value);
                self.t_values.push(e.values.as_deref());
                self.t_properties.push(e.properties.as_deref());
                self.t_context.push(e.context.as_deref());
                self.t_source_file.push(Some(source.0));
                self.t_source_line.push(Some(source.1));
            }
        }
    }

    /// A builder that empties the fields `blank` names as it takes events.
    pub(super) fn blanking(blank: Blank) -> Self {
        Self {
            blank,
            ..Self::default()
        }
    }

    /// Number of exposure/decision layer rows so far.
    #[must_use]
    pub fn exposure_rows(&self) -> usize {
        self.x_kind.len()
    }

    /// Number of track rows so far.
    #[must_use]
    pub fn track_rows(&self) -> usize {
        self.t_row.len()
    }

    /// Builds the three frames.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyRows`] for 2^32 or more track events (see
    /// [`track_rows`]); [`Error::Polars`] only if polars refuses to assemble
    /// equal-length columns, which would be a bug.
    pub fn finish(self) -> Result<EventTables> {
        track_rows(self.t_row.len())?;
        let exposures = DataFrame::new_infer_height(vec![
            Column::from(Series::new("kind".into(), self.x_kind)),
            self.x_event_id.column("event_id"),
            self.x_org.column("org_id"),
            self.x_project.column("project_id"),
            self.x_env.column("env"),
            self.x_unit.column("unit_key"),
            self.x_session.column("session_id"),
            self.x_decision.column("decision_id"),
            Column::from(Series::new("ts".into(), self.x_ts)),
            self.x_config_version.column("config_version"),
            self.x_layer.column("layer_id"),
            Column::from(Series::new("bucket".into(), self.x_bucket)),
            self.x_policy.column("policy_id"),
            self.x_policy_key.column("policy_key"),
            self.x_alloc_id.column("allocation_id"),
            self.x_alloc.column("allocation_name"),
            self.x_alloc_key.column("allocation_key"),
            self.x_layer_unit_key.column("layer_unit_key"),
            self.x_layer_unit_value.column("layer_unit_key_value"),
            Column::from(Series::new("probability".into(), self.x_prob)),
            self.x_model_version.column("model_version"),
            Column::from(Series::new("attribution_only".into(), self.x_attr_only)),
            self.x_context.column("context"),
        ])?;
        let tracks = DataFrame::new_infer_height(vec![
            Column::from(Series::new("track_row".into(), self.t_row)),
            self.t_event_id.column("event_id"),
            self.t_org.column("org_id"),
            self.t_project.column("project_id"),
            self.t_env.column("env"),
            self.t_unit.column("unit_key"),
            self.t_session.column("session_id"),
            self.t_decision.column("decision_id"),
            Column::from(Series::new("ts".into(), self.t_ts)),
            Column::from(Series::new("event_ts".into(), self.t_event_ts)),
            self.t_config_version.column("config_version"),
            self.t_event.column("event"),
            Column::from(Series::new("value".into(), self.t_value)),
            self.t_values.column("values"),
            self.t_properties.column("properties"),
            self.t_context.column("context"),
            self.t_source_file.column("source_file"),
            Column::from(Series::new("source_line".into(), self.t_source_line)),
        ])?;
        let attributions = DataFrame::new_infer_height(vec![
            Column::from(Series::new("track_row".into(), self.a_row)),
            self.a_layer.column("layer_id"),
            self.a_policy.column("policy_id"),
            self.a_policy_key.column("policy_key"),
            self.a_alloc.column("allocation_name"),
            self.a_alloc_key.column("allocation_key"),
            Column::from(Series::new("weight".into(), self.a_weight)),
            Column::from(Series::new("model".into(), self.a_model)),
        ])?;
        Ok(EventTables {
            exposures,
            tracks,
            attributions,
        })
    }
}

/// The accepted events of one chunk of records: built row by row (ndjson, csv, and
/// the parquet rows the columnar path declines), or already frames (the columnar path).
pub(super) enum Chunk {
    /// Events pushed one at a time; frames are built from them in parallel.
    Rows(Box<TableBuilder>),
    /// Frames whose `track_row` counts from 0 within the chunk.
    Frames(EventTables),
}

/// Builds the tables of chunks, in order: each builder's frames are built on the
/// rayon pool (copying strings into columns and freeing them is most of a load's
/// serial work otherwise), track rows are renumbered across chunks, then the frames
/// are stacked and their columns but the strings rechunked ([`rechunk_but_strings`]).
/// Each part loses the columns `keep` leaves out before it is stacked.
///
/// # Errors
///
/// [`Error::TooManyRows`] for 2^32 or more track events in all (see
/// [`track_rows`]); [`Error::Polars`] only if polars refuses to assemble equal-length
/// columns, which would be a bug.
pub(super) fn finish_all(chunks: Vec<Chunk>, keep: &Projection) -> Result<EventTables> {
    stack_frames(frames_of(chunks, keep)?, keep)
}

/// Each chunk's frames, built in parallel, without the columns `keep` leaves out: a
/// load finishes each block's builders as soon as the block is read, so that their
/// owned strings are freed before the next block's are made.
///
/// # Errors
///
/// As [`finish_all`].
pub(super) fn frames_of(chunks: Vec<Chunk>, keep: &Projection) -> Result<Vec<EventTables>> {
    use rayon::prelude::*;
    chunks
        .into_par_iter()
        .map(|c| {
            let mut t = match c {
                Chunk::Rows(b) => b.finish()?,
                Chunk::Frames(t) => t,
            };
            keep.apply(&mut t.exposures, &mut t.tracks);
            Ok(t)
        })
        .collect()
}

/// The second half of [`finish_all`]: frames from [`frames_of`] stacked in order.
///
/// # Errors
///
/// As [`finish_all`].
pub(super) fn stack_frames(parts: Vec<EventTables>, keep: &Projection) -> Result<EventTables> {
    // Checked once for the whole load, so the offsets below cannot overflow.
    track_rows(parts.iter().map(|p| p.tracks.height()).sum())?;
    let mut parts = parts.into_iter();
    let Some(mut all) = parts.next() else {
        let mut empty = TableBuilder::default().finish()?;
        keep.apply(&mut empty.exposures, &mut empty.tracks);
        return Ok(empty);
    };
    for mut p in parts {
        let offset = track_rows(all.tracks.height())?;
        if offset > 0 {
            shift_track_rows(&mut p.tracks, offset)?;
            shift_track_rows(&mut p.attributions, offset)?;
        }
        all.exposures.vstack_mut(&p.exposures)?;
        all.tracks.vstack_mut(&p.tracks)?;
        all.attributions.vstack_mut(&p.attributions)?;
    }
    for df in [&mut all.exposures, &mut all.tracks, &mut all.attributions] {
        rechunk_but_strings(df);
    }
    Ok(all)
}

/// Makes every column of `df` but the strings one chunk. A string column stays in
/// the chunks its parts gave it: concatenating them writes a 16-byte view per row
/// and column (half a gigabyte for a million exposures and a million tracks, most
/// of it in columns no stage reads) while both copies are alive, and every reader of
/// the tables takes strings chunk by chunk anyway (`attribution::kernel::keys`, the
/// gathers that rechunk just the columns they gather, polars' own operators).
/// Numbers are made one chunk, so a polars sum over a column adds in the same order
/// however the file was cut into parts.
fn rechunk_but_strings(df: &mut DataFrame) {
    use rayon::prelude::*;
    // SAFETY: every column keeps its name and its length.
    unsafe { df.columns_mut_retain_schema() }
        .par_iter_mut()
        .filter(|c| c.n_chunks() > 1 && c.dtype() != &DataType::String)
        .for_each(|c| *c = c.rechunk());
}

/// Adds `offset` to a frame's `track_row` column.
fn shift_track_rows(df: &mut DataFrame, offset: u32) -> Result<()> {
    if df.height() == 0 {
        return Ok(());
    }
    let rows = df.column("track_row")?.u32()?.apply_values(|r| r + offset);
    df.with_column(rows.into_column())?;
    Ok(())
}

/// The number of track rows as the `u32` that numbers them (`track_row`), the row type
/// of the attribution kernel too.
///
/// # Errors
///
/// [`Error::TooManyRows`] for 2^32 or more rows: a load that large is refused
/// with a message, as the attribution kernel refuses its input, instead of a panic.
pub fn track_rows(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::TooManyRows {
        what: "track events",
        rows: n as u64,
        limit: u64::from(u32::MAX),
    })
}

/// The three event tables, materialised. Call [`EventTables::lazy`] to query them.
#[derive(Clone, Debug)]
pub struct EventTables {
    /// One row per layer of each exposure and decision event.
    pub exposures: DataFrame,
    /// One row per track event.
    pub tracks: DataFrame,
    /// One row per entry of a track event's SDK-built attribution array.
    pub attributions: DataFrame,
}

/// The three event tables as lazy frames.
#[derive(Clone)]
pub struct LazyEventTables {
    /// One row per layer of each exposure and decision event.
    pub exposures: LazyFrame,
    /// One row per track event.
    pub tracks: LazyFrame,
    /// One row per entry of a track event's SDK-built attribution array.
    pub attributions: LazyFrame,
}

impl EventTables {
    /// Lazy views of the three tables.
    #[must_use]
    pub fn lazy(&self) -> LazyEventTables {
        LazyEventTables {
            exposures: self.exposures.clone().lazy(),
            tracks: self.tracks.clone().lazy(),
            attributions: self.attributions.clone().lazy(),
        }
    }

    /// The latest `ts` in any table, if there is any row.
    #[must_use]
    pub fn latest_timestamp(&self) -> Option<i64> {
        let max = |df: &DataFrame| -> Option<i64> {
            df.column("ts")
                .ok()?
                .as_materialized_series()
                .i64()
                .ok()?
                .max()
        };
        [max(&self.exposures), max(&self.tracks)]
            .into_iter()
            .flatten()
            .max()
    }
}

mod merge;

#[cfg(test)]
mod tests;
