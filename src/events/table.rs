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
    x_event_id: Vec<Option<String>>,
    x_org: Vec<Option<String>>,
    x_project: Vec<Option<String>>,
    x_env: Vec<Option<String>>,
    x_unit: Vec<String>,
    x_session: Vec<Option<String>>,
    x_decision: Vec<Option<String>>,
    x_ts: Vec<i64>,
    x_config_version: Vec<Option<String>>,
    x_layer: Vec<String>,
    x_bucket: Vec<u32>,
    x_policy: Vec<Option<String>>,
    x_policy_key: Vec<Option<String>>,
    x_alloc_id: Vec<Option<String>>,
    x_alloc: Vec<Option<String>>,
    x_alloc_key: Vec<Option<String>>,
    x_layer_unit_key: Vec<Option<String>>,
    x_layer_unit_value: Vec<Option<String>>,
    x_prob: Vec<Option<f64>>,
    x_model_version: Vec<Option<String>>,
    x_attr_only: Vec<bool>,
    x_context: Vec<Option<String>>,
    // tracks
    t_row: Vec<u32>,
    t_event_id: Vec<Option<String>>,
    t_org: Vec<Option<String>>,
    t_project: Vec<Option<String>>,
    t_env: Vec<Option<String>>,
    t_unit: Vec<String>,
    t_session: Vec<Option<String>>,
    t_decision: Vec<Option<String>>,
    t_ts: Vec<i64>,
    t_event_ts: Vec<i64>,
    t_config_version: Vec<Option<String>>,
    t_event: Vec<String>,
    t_value: Vec<Option<f64>>,
    t_values: Vec<Option<String>>,
    t_properties: Vec<Option<String>>,
    t_context: Vec<Option<String>>,
    t_source_file: Vec<Option<String>>,
    t_source_line: Vec<Option<u64>>,
    // attributions
    a_row: Vec<u32>,
    a_layer: Vec<String>,
    a_policy: Vec<String>,
    a_policy_key: Vec<Option<String>>,
    a_alloc: Vec<String>,
    a_alloc_key: Vec<Option<String>>,
    a_weight: Vec<Option<f64>>,
    a_model: Vec<Option<&'static str>>,
    /// The fields emptied as events are taken (none by default).
    blank: Blank,
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
                let mut e = e;
                let mut context = json_text(e.context.as_ref());
                let layers = std::mem::take(&mut e.layers);
                let n = layers.len();
                for (i, l) in layers.into_iter().enumerate() {
                    // The event's own strings move into the last layer's row instead of
                    // being cloned: one allocation fewer per field for one-layer events.
                    let last = i + 1 == n;
                    let give = |o: &mut Option<String>| if last { o.take() } else { o.clone() };
                    self.x_kind.push(e.kind.as_str());
                    self.x_event_id.push(give(&mut e.id));
                    self.x_org.push(give(&mut e.org_id));
                    self.x_project.push(give(&mut e.project_id));
                    self.x_env.push(give(&mut e.env));
                    self.x_session.push(give(&mut e.session_id));
                    self.x_decision.push(give(&mut e.decision_id));
                    self.x_config_version.push(give(&mut e.config_version));
                    self.x_context.push(give(&mut context));
                    self.x_unit.push(if last {
                        std::mem::take(&mut e.unit_key)
                    } else {
                        e.unit_key.clone()
                    });
                    self.x_ts.push(e.timestamp);
                    self.x_layer.push(l.layer_id);
                    self.x_bucket.push(l.bucket);
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
                // Saturates rather than panics: `finish` refuses a builder this large
                // before any row number reaches a table.
                let row = u32::try_from(self.t_row.len()).unwrap_or(u32::MAX);
                for a in e.attribution.iter().flatten() {
                    self.a_row.push(row);
                    self.a_layer.push(a.layer_id.clone());
                    self.a_policy.push(a.policy_id.clone());
                    self.a_policy_key.push(a.policy_key.clone());
                    self.a_alloc.push(a.allocation_name.clone());
                    self.a_alloc_key.push(a.allocation_key.clone());
                    self.a_weight.push(a.weight);
                    self.a_model.push(a.model.map(|m| m.as_str()));
                }
                self.t_row.push(row);
                self.t_event_ts.push(e.occurred_at());
                self.t_event_id.push(e.id);
                self.t_org.push(e.org_id);
                self.t_project.push(e.project_id);
                self.t_env.push(e.env);
                self.t_unit.push(e.unit_key);
                self.t_session.push(e.session_id);
                self.t_decision.push(e.decision_id);
                self.t_ts.push(e.timestamp);
                self.t_config_version.push(e.config_version);
                self.t_event
                    .push(e.event.expect("validated track events have a name"));
                self.t_value.push(e.value);
                self.t_values.push(json_text(e.values.as_ref()));
                self.t_properties.push(json_text(e.properties.as_ref()));
                self.t_context.push(json_text(e.context.as_ref()));
                self.t_source_file.push(source.map(|(f, _)| f.to_owned()));
                self.t_source_line.push(source.map(|(_, l)| l));
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
            Column::from(Series::new("event_id".into(), self.x_event_id)),
            Column::from(Series::new("org_id".into(), self.x_org)),
            Column::from(Series::new("project_id".into(), self.x_project)),
            Column::from(Series::new("env".into(), self.x_env)),
            Column::from(Series::new("unit_key".into(), self.x_unit)),
            Column::from(Series::new("session_id".into(), self.x_session)),
            Column::from(Series::new("decision_id".into(), self.x_decision)),
            Column::from(Series::new("ts".into(), self.x_ts)),
            Column::from(Series::new("config_version".into(), self.x_config_version)),
            Column::from(Series::new("layer_id".into(), self.x_layer)),
            Column::from(Series::new("bucket".into(), self.x_bucket)),
            Column::from(Series::new("policy_id".into(), self.x_policy)),
            Column::from(Series::new("policy_key".into(), self.x_policy_key)),
            Column::from(Series::new("allocation_id".into(), self.x_alloc_id)),
            Column::from(Series::new("allocation_name".into(), self.x_alloc)),
            Column::from(Series::new("allocation_key".into(), self.x_alloc_key)),
            Column::from(Series::new("layer_unit_key".into(), self.x_layer_unit_key)),
            Column::from(Series::new(
                "layer_unit_key_value".into(),
                self.x_layer_unit_value,
            )),
            Column::from(Series::new("probability".into(), self.x_prob)),
            Column::from(Series::new("model_version".into(), self.x_model_version)),
            Column::from(Series::new("attribution_only".into(), self.x_attr_only)),
            Column::from(Series::new("context".into(), self.x_context)),
        ])?;
        let tracks = DataFrame::new_infer_height(vec![
            Column::from(Series::new("track_row".into(), self.t_row)),
            Column::from(Series::new("event_id".into(), self.t_event_id)),
            Column::from(Series::new("org_id".into(), self.t_org)),
            Column::from(Series::new("project_id".into(), self.t_project)),
            Column::from(Series::new("env".into(), self.t_env)),
            Column::from(Series::new("unit_key".into(), self.t_unit)),
            Column::from(Series::new("session_id".into(), self.t_session)),
            Column::from(Series::new("decision_id".into(), self.t_decision)),
            Column::from(Series::new("ts".into(), self.t_ts)),
            Column::from(Series::new("event_ts".into(), self.t_event_ts)),
            Column::from(Series::new("config_version".into(), self.t_config_version)),
            Column::from(Series::new("event".into(), self.t_event)),
            Column::from(Series::new("value".into(), self.t_value)),
            Column::from(Series::new("values".into(), self.t_values)),
            Column::from(Series::new("properties".into(), self.t_properties)),
            Column::from(Series::new("context".into(), self.t_context)),
            Column::from(Series::new("source_file".into(), self.t_source_file)),
            Column::from(Series::new("source_line".into(), self.t_source_line)),
        ])?;
        let attributions = DataFrame::new_infer_height(vec![
            Column::from(Series::new("track_row".into(), self.a_row)),
            Column::from(Series::new("layer_id".into(), self.a_layer)),
            Column::from(Series::new("policy_id".into(), self.a_policy)),
            Column::from(Series::new("policy_key".into(), self.a_policy_key)),
            Column::from(Series::new("allocation_name".into(), self.a_alloc)),
            Column::from(Series::new("allocation_key".into(), self.a_alloc_key)),
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
    use rayon::prelude::*;
    let parts = chunks
        .into_par_iter()
        .map(|c| {
            let mut t = match c {
                Chunk::Rows(b) => b.finish()?,
                Chunk::Frames(t) => t,
            };
            keep.apply(&mut t.exposures, &mut t.tracks);
            Ok(t)
        })
        .collect::<Result<Vec<_>>>()?;
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
mod tests {
    use super::*;

    #[test]
    fn track_rows_are_numbered_up_to_u32_max() {
        assert_eq!(track_rows(0).unwrap(), 0);
        assert_eq!(track_rows(u32::MAX as usize).unwrap(), u32::MAX);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn track_rows_refuse_2_pow_32_rows_with_an_error() {
        let err = track_rows(1 << 32).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::TooManyRows {
                    what: "track events",
                    rows: 4_294_967_296,
                    limit: 4_294_967_295
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn finish_all_numbers_track_rows_across_builders() {
        let track = || {
            let mut e = Event::new(EventType::Track, "u", 0);
            e.event = Some("purchase".into());
            e
        };
        let mut a = TableBuilder::default();
        a.push(track());
        a.push(track());
        let mut b = TableBuilder::default();
        b.push(track());
        let tables = finish_all(
            vec![Chunk::Rows(Box::new(a)), Chunk::Rows(Box::new(b))],
            &Projection::all(),
        )
        .unwrap();
        let rows = tables
            .tracks
            .column("track_row")
            .unwrap()
            .u32()
            .unwrap()
            .clone();
        let rows: Vec<Option<u32>> = (0..rows.len()).map(|i| rows.get(i)).collect();
        assert_eq!(rows, [Some(0), Some(1), Some(2)]);
    }
}
