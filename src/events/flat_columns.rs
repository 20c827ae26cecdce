//! The flat format's columns built a row at a time, in the column types the parquet
//! writer gives (integers, floats and booleans as such, `timestamp` and
//! `eventTimestamp` as `timestamp[us, UTC]`, the rest text, nested values as their
//! canonical JSON text). Rows come from validated events ([`FlatColumns::push_event`])
//! or straight from ndjson lines read in place ([`FlatColumns::push_raw`]); either
//! way a cell is appended to its column's buffer, with no row of owned cells between.

use polars::prelude::*;

use super::cells::*;
use super::flat::{Cell, FLAT_COLUMNS};
use super::model::{Event, EventType, Layer};
use super::ndjson::{RawEvent, RawLayer};
use crate::error::Result;

/// One cell, borrowed.
#[derive(Clone, Copy, Debug)]
enum V<'a> {
    Null,
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Milliseconds since the Unix epoch.
    Time(i64),
}

impl<'a> V<'a> {
    fn str(s: Option<&'a str>) -> Self {
        s.map_or(Self::Null, Self::Str)
    }

    fn string(s: Option<&'a String>) -> Self {
        Self::str(s.map(String::as_str))
    }

    fn float(x: Option<f64>) -> Self {
        x.map_or(Self::Null, Self::Float)
    }
}

/// One column's builder.
enum Col {
    Text(StringChunkedBuilder),
    Int(PrimitiveChunkedBuilder<Int64Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
    Bool(BooleanChunkedBuilder),
    /// Microseconds (the column's unit), from milliseconds.
    Time(PrimitiveChunkedBuilder<Int64Type>),
}

impl Col {
    fn push(&mut self, v: V<'_>) {
        match (self, v) {
            (Self::Text(b), V::Str(s)) => b.append_value(s),
            (Self::Text(b), V::Null) => b.append_null(),
            (Self::Int(b), V::Int(x)) => b.append_value(x),
            (Self::Int(b) | Self::Time(b), V::Null) => b.append_null(),
            (Self::Float(b), V::Float(x)) => b.append_value(x),
            (Self::Float(b), V::Null) => b.append_null(),
            (Self::Bool(b), V::Bool(x)) => b.append_value(x),
            (Self::Bool(b), V::Null) => b.append_null(),
            (Self::Time(b), V::Time(ms)) => b.append_value(ms * 1000),
            (_, v) => unreachable!("a flat cell {v:?} of another column's type"),
        }
    }

    fn finish(self, name: &str) -> Column {
        let s = match self {
            Self::Text(b) => b.finish().into_series(),
            Self::Int(b) => b.finish().into_series(),
            Self::Float(b) => b.finish().into_series(),
            Self::Bool(b) => b.finish().into_series(),
            // Typed as such: a cast from integers would drop the zone.
            Self::Time(b) => b
                .finish()
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_series(),
        };
        Column::from(s.with_name(name.into()))
    }
}

/// The flat rows of events, column by column.
pub(super) struct FlatColumns {
    cols: Vec<Col>,
}

impl FlatColumns {
    /// Empty columns, room for `rows` rows.
    pub(super) fn new(rows: usize) -> Self {
        let cols = FLAT_COLUMNS
            .iter()
            .map(|&(name, _, cell)| {
                let n: PlSmallStr = name.into();
                match (cell, name) {
                    (_, "timestamp" | "eventTimestamp") => {
                        Col::Time(PrimitiveChunkedBuilder::new(n, rows))
                    }
                    (Cell::Number, "bucket" | "latencyMs") => {
                        Col::Int(PrimitiveChunkedBuilder::new(n, rows))
                    }
                    (Cell::Number, _) => Col::Float(PrimitiveChunkedBuilder::new(n, rows)),
                    (Cell::Bool, _) => Col::Bool(BooleanChunkedBuilder::new(n, rows)),
                    _ => Col::Text(StringChunkedBuilder::new(n, rows)),
                }
            })
            .collect();
        Self { cols }
    }

    fn row(&mut self, row: &[V<'_>; FLAT_COLUMNS.len()]) {
        for (c, &v) in self.cols.iter_mut().zip(row) {
            c.push(v);
        }
    }

    /// The rows of a validated event: one per layer of an exposure or decision, one for
    /// a track event.
    pub(super) fn push_event(&mut self, e: &Event) {
        let context = e.context.as_ref().map(json);
        let assignments = e.assignments.as_ref().map(json);
        let requested = e.requested_parameters.as_ref().map(json);
        let values = e.values.as_ref().map(json);
        let properties = e.properties.as_ref().map(json);
        let attribution = e.attribution.as_ref().map(json);
        let mut row = [V::Null; FLAT_COLUMNS.len()];
        row[TYPE] = V::Str(e.kind.as_str());
        row[ID] = V::string(e.id.as_ref());
        row[ORG_ID] = V::string(e.org_id.as_ref());
        row[PROJECT_ID] = V::string(e.project_id.as_ref());
        row[ENV] = V::string(e.env.as_ref());
        row[UNIT_KEY] = V::Str(&e.unit_key);
        row[USER_ID] = V::string(e.user_id.as_ref());
        row[ANONYMOUS_ID] = V::string(e.anonymous_id.as_ref());
        row[SESSION_ID] = V::string(e.session_id.as_ref());
        row[REQUEST_ID] = V::string(e.request_id.as_ref());
        row[TIMESTAMP] = V::Time(e.timestamp);
        row[SDK_NAME] = V::string(e.sdk_name.as_ref());
        row[SDK_VERSION] = V::string(e.sdk_version.as_ref());
        row[CONFIG_VERSION] = V::string(e.config_version.as_ref());
        row[DECISION_ID] = V::string(e.decision_id.as_ref());
        row[CONTEXT] = V::string(context.as_ref());
        row[ASSIGNMENTS] = V::string(assignments.as_ref());
        row[REQUESTED_PARAMETERS] = V::string(requested.as_ref());
        row[LATENCY_MS] = e.latency_ms.map_or(V::Null, V::Int);
        row[EVENT] = V::string(e.event.as_ref());
        row[VALUE] = V::float(e.value);
        row[VALUES] = V::string(values.as_ref());
        row[PROPERTIES] = V::string(properties.as_ref());
        row[ATTRIBUTION] = V::string(attribution.as_ref());
        row[EVENT_TIMESTAMP] = e.event_timestamp.map_or(V::Null, V::Time);
        if e.kind == EventType::Track {
            self.row(&row);
            return;
        }
        for l in &e.layers {
            layer_cells(&mut row, &event_layer(l));
            self.row(&row);
        }
    }

    /// The rows of an event read in place from its ndjson line, as
    /// [`FlatColumns::push_event`] gives for the same event.
    pub(super) fn push_raw(&mut self, e: &RawEvent<'_>, layers: &[RawLayer<'_>]) {
        let mut row = [V::Null; FLAT_COLUMNS.len()];
        row[TYPE] = V::Str(e.kind.as_str());
        row[ID] = V::str(e.id);
        row[ORG_ID] = V::str(e.org_id);
        row[PROJECT_ID] = V::str(e.project_id);
        row[ENV] = V::str(e.env);
        row[UNIT_KEY] = V::Str(e.unit_key);
        row[USER_ID] = V::str(e.user_id);
        row[ANONYMOUS_ID] = V::str(e.anonymous_id);
        row[SESSION_ID] = V::str(e.session_id);
        row[REQUEST_ID] = V::str(e.request_id);
        row[TIMESTAMP] = V::Time(e.timestamp);
        row[SDK_NAME] = V::str(e.sdk_name);
        row[SDK_VERSION] = V::str(e.sdk_version);
        row[CONFIG_VERSION] = V::str(e.config_version);
        row[DECISION_ID] = V::str(e.decision_id);
        row[CONTEXT] = V::str(e.context.as_deref());
        row[ASSIGNMENTS] = V::str(e.assignments.as_deref());
        row[REQUESTED_PARAMETERS] = V::str(e.requested_parameters.as_deref());
        row[LATENCY_MS] = e.latency_ms.map_or(V::Null, V::Int);
        row[EVENT] = V::str(e.event);
        row[VALUE] = V::float(e.value);
        row[VALUES] = V::str(e.values.as_deref());
        row[PROPERTIES] = V::str(e.properties.as_deref());
        row[EVENT_TIMESTAMP] = e.event_timestamp.map_or(V::Null, V::Time);
        if e.kind == EventType::Track {
            self.row(&row);
            return;
        }
        for l in layers {
            layer_cells(&mut row, l);
            self.row(&row);
        }
    }

    /// The frame of the rows pushed.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Polars`] only if polars refuses columns of equal length, which
    /// would be a bug.
    pub(super) fn finish(self) -> Result<DataFrame> {
        let columns = self
            .cols
            .into_iter()
            .zip(FLAT_COLUMNS)
            .map(|(c, (name, _, _))| c.finish(name))
            .collect();
        Ok(DataFrame::new_infer_height(columns)?)
    }
}

/// A nested value's JSON text, as `flat::event_rows` writes it.
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("validated event fields serialise")
}

/// A validated layer, borrowed as a raw one.
fn event_layer(l: &Layer) -> RawLayer<'_> {
    RawLayer {
        layer_id: Some(&l.layer_id),
        bucket: Some(l.bucket),
        policy_id: l.policy_id.as_deref(),
        policy_key: l.policy_key.as_deref(),
        allocation_id: l.allocation_id.as_deref(),
        allocation_name: l.allocation_name.as_deref(),
        allocation_key: l.allocation_key.as_deref(),
        unit_key: l.unit_key.as_deref(),
        unit_key_value: l.unit_key_value.as_deref(),
        probability: l.probability,
        model_version: l.model_version.as_deref(),
        attribution_only: l.attribution_only,
    }
}

/// A row's layer cells; `attributionOnly` is written only when true.
fn layer_cells<'a>(row: &mut [V<'a>; FLAT_COLUMNS.len()], l: &RawLayer<'a>) {
    row[LAYER_ID] = V::str(l.layer_id);
    row[BUCKET] = l.bucket.map_or(V::Null, |b| V::Int(i64::from(b)));
    row[POLICY_ID] = V::str(l.policy_id);
    row[POLICY_KEY] = V::str(l.policy_key);
    row[ALLOCATION_ID] = V::str(l.allocation_id);
    row[ALLOCATION_NAME] = V::str(l.allocation_name);
    row[ALLOCATION_KEY] = V::str(l.allocation_key);
    row[LAYER_UNIT_KEY] = V::str(l.unit_key);
    row[LAYER_UNIT_KEY_VALUE] = V::str(l.unit_key_value);
    row[PROBABILITY] = V::float(l.probability);
    row[MODEL_VERSION] = V::str(l.model_version);
    row[ATTRIBUTION_ONLY] = if l.attribution_only {
        V::Bool(true)
    } else {
        V::Null
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::flat::event_rows;

    /// The flat frame as it was built before these builders: every event's rows as
    /// text cells ([`event_rows`]), then each column parsed back to its type. Kept
    /// as the specification the builders must match.
    fn reference_frame(events: &[Event]) -> DataFrame {
        let rows: Vec<Vec<Option<String>>> = events.iter().flat_map(event_rows).collect();
        let mut instants: Vec<(Option<i64>, Option<i64>)> = Vec::new();
        for e in events {
            let n = if e.kind == EventType::Track {
                1
            } else {
                e.layers.len()
            };
            instants.extend(std::iter::repeat_n(
                (Some(e.timestamp), e.event_timestamp),
                n,
            ));
        }
        let mut columns = Vec::new();
        for (i, (name, _, cell)) in FLAT_COLUMNS.iter().enumerate() {
            let text = rows.iter().map(|r| r[i].as_deref());
            let series = match (cell, *name) {
                (_, "timestamp" | "eventTimestamp") => {
                    let ms: Int64Chunked = instants
                        .iter()
                        .map(|&(ts, event_ts)| if *name == "timestamp" { ts } else { event_ts })
                        .map(|t| t.map(|ms| ms * 1000))
                        .collect();
                    ms.into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                        .into_series()
                        .with_name((*name).into())
                }
                (Cell::Number, "bucket" | "latencyMs") => Series::new(
                    (*name).into(),
                    text.map(|t| t.and_then(|t| t.parse::<i64>().ok()))
                        .collect::<Vec<_>>(),
                ),
                (Cell::Number, _) => Series::new(
                    (*name).into(),
                    text.map(|t| t.and_then(|t| t.parse::<f64>().ok()))
                        .collect::<Vec<_>>(),
                ),
                (Cell::Bool, _) => Series::new(
                    (*name).into(),
                    text.map(|t| t.map(|t| t == "true")).collect::<Vec<_>>(),
                ),
                _ => Series::new((*name).into(), text.collect::<Vec<_>>()),
            };
            columns.push(Column::from(series));
        }
        DataFrame::new_infer_height(columns).unwrap()
    }

    fn parquet(mut df: DataFrame) -> Vec<u8> {
        let mut out = Vec::new();
        ParquetWriter::new(&mut out).finish(&mut df).unwrap();
        out
    }

    #[test]
    fn the_builders_give_the_bytes_of_the_text_cells_parsed_back() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/datasets/demo/events.ndjson"
        ))
        .unwrap();
        let mut events: Vec<Event> = text
            .lines()
            .filter_map(|l| Event::from_json_str(l).ok().map(|(e, _)| e))
            .collect();
        // Every cell type filled somewhere: SDK attribution, values, a negative zero.
        for line in [
            r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","eventTimestamp":"2026-05-21T10:30:00.5Z","event":"x","value":-0.0,"values":{"b":1,"a":0.1},"attribution":[{"layerId":"l","policyId":"p","allocationName":"a","weight":0.5,"model":"linear"}]}"#,
            r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","layers":[{"layerId":"l","bucket":4294967295,"attributionOnly":true,"probability":1e-300}],"requestedParameters":["a"],"latencyMs":-7}"#,
        ] {
            events.push(Event::from_json_str(line).unwrap().0);
        }
        let mut built = FlatColumns::new(0);
        for e in &events {
            built.push_event(e);
        }
        let built = built.finish().unwrap();
        let reference = reference_frame(&events);
        assert_eq!(built.schema(), reference.schema());
        assert!(built.height() > events.len());
        assert!(parquet(built) == parquet(reference));
    }
}
