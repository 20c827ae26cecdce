//! The flat, tabular event format of csv and parquet files.
//!
//! One row per layer of an exposure or decision event (the event's fields repeated on
//! each row), one row per track event. Column names are the JSON field names; a
//! layer's own `unitKey` / `unitKeyValue` become `layerUnitKey` / `layerUnitKeyValue`
//! so as not to clash with the event's. Nested objects and arrays (`context`,
//! `assignments`, `values`, `properties`, `attribution`, `requestedParameters`) are
//! JSON text. An empty cell is an absent field. Every row goes through the same
//! validation as an ndjson line, so messages and quarantine work the same way.

use serde_json::{Map, Number, Value};

use super::model::{Event, EventType, Layer};
use crate::time::format_rfc3339;

/// Maps a flat file's header to column indices.
///
/// # Errors
///
/// [`crate::Error::InvalidEventFile`] for an unknown column, with the closest known name.
pub(super) fn header_indices<'a>(
    file: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> crate::Result<Vec<usize>> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .map(|name| {
            let i = column_index(name).ok_or_else(|| crate::Error::InvalidEventFile {
                file: file.to_owned(),
                reason: match closest_column(name) {
                    Some(c) => format!("unknown column \"{name}\" (did you mean \"{c}\"?); the flat format is in docs/formats.md"),
                    None => format!("unknown column \"{name}\"; the flat format's columns are listed in docs/formats.md"),
                },
            })?;
            // A column named twice: which cell would count? (The csv crate would
            // silently give the last one.)
            if !seen.insert(i) {
                return Err(crate::Error::InvalidEventFile {
                    file: file.to_owned(),
                    reason: format!("the header names column \"{name}\" twice; keep one"),
                });
            }
            Ok(i)
        })
        .collect()
}

/// How a flat column is turned back into a JSON field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// A string field.
    Text,
    /// A numeric field (an unparseable cell stays text, so validation names it).
    Number,
    /// A boolean field.
    Bool,
    /// A JSON-valued field stored as text.
    Json,
}

/// Where a flat column goes in the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A top-level event field.
    Event(&'static str),
    /// A field of the row's single layer.
    Layer(&'static str),
}

/// The flat columns: name, JSON target, cell kind. Order is the order files are
/// written in.
pub const FLAT_COLUMNS: &[(&str, Target, Cell)] = &[
    ("type", Target::Event("type"), Cell::Text),
    ("id", Target::Event("id"), Cell::Text),
    ("orgId", Target::Event("orgId"), Cell::Text),
    ("projectId", Target::Event("projectId"), Cell::Text),
    ("env", Target::Event("env"), Cell::Text),
    ("unitKey", Target::Event("unitKey"), Cell::Text),
    ("userId", Target::Event("userId"), Cell::Text),
    ("anonymousId", Target::Event("anonymousId"), Cell::Text),
    ("sessionId", Target::Event("sessionId"), Cell::Text),
    ("requestId", Target::Event("requestId"), Cell::Text),
    ("timestamp", Target::Event("timestamp"), Cell::Text),
    ("sdkName", Target::Event("sdkName"), Cell::Text),
    ("sdkVersion", Target::Event("sdkVersion"), Cell::Text),
    ("configVersion", Target::Event("configVersion"), Cell::Text),
    ("decisionId", Target::Event("decisionId"), Cell::Text),
    ("context", Target::Event("context"), Cell::Json),
    ("assignments", Target::Event("assignments"), Cell::Json),
    (
        "requestedParameters",
        Target::Event("requestedParameters"),
        Cell::Json,
    ),
    ("latencyMs", Target::Event("latencyMs"), Cell::Number),
    ("layerId", Target::Layer("layerId"), Cell::Text),
    ("bucket", Target::Layer("bucket"), Cell::Number),
    ("policyId", Target::Layer("policyId"), Cell::Text),
    ("policyKey", Target::Layer("policyKey"), Cell::Text),
    ("allocationId", Target::Layer("allocationId"), Cell::Text),
    (
        "allocationName",
        Target::Layer("allocationName"),
        Cell::Text,
    ),
    ("allocationKey", Target::Layer("allocationKey"), Cell::Text),
    ("layerUnitKey", Target::Layer("unitKey"), Cell::Text),
    (
        "layerUnitKeyValue",
        Target::Layer("unitKeyValue"),
        Cell::Text,
    ),
    ("probability", Target::Layer("probability"), Cell::Number),
    ("modelVersion", Target::Layer("modelVersion"), Cell::Text),
    (
        "attributionOnly",
        Target::Layer("attributionOnly"),
        Cell::Bool,
    ),
    ("event", Target::Event("event"), Cell::Text),
    ("value", Target::Event("value"), Cell::Number),
    ("values", Target::Event("values"), Cell::Json),
    ("properties", Target::Event("properties"), Cell::Json),
    ("attribution", Target::Event("attribution"), Cell::Json),
    (
        "eventTimestamp",
        Target::Event("eventTimestamp"),
        Cell::Text,
    ),
];

/// Index of a flat column by name.
#[must_use]
pub fn column_index(name: &str) -> Option<usize> {
    FLAT_COLUMNS.iter().position(|(n, _, _)| *n == name)
}

/// The flat column name closest to `name`, for "did you mean" hints.
#[must_use]
pub fn closest_column(name: &str) -> Option<&'static str> {
    FLAT_COLUMNS
        .iter()
        .map(|(n, _, _)| {
            (
                *n,
                crate::text::edit_distance(&n.to_lowercase(), &name.to_lowercase()),
            )
        })
        .filter(|(_, d)| *d <= 3)
        .min_by_key(|(_, d)| *d)
        .map(|(n, _)| n)
}

/// Assembles the JSON event of one flat row from `(column index, cell)` pairs; a
/// JSON cell that does not parse is reported on its column.
///
/// # Errors
///
/// `(column name, reason)` for a JSON-valued cell that is not valid JSON.
pub fn row_to_json(
    cells: impl IntoIterator<Item = (usize, Value)>,
) -> Result<Value, (String, String)> {
    let mut event = Map::new();
    let mut layer = Map::new();
    let mut kind: Option<String> = None;
    for (i, v) in cells {
        let (name, target, _) = FLAT_COLUMNS[i];
        if name == "type" {
            kind = v.as_str().map(str::to_owned);
        }
        match target {
            Target::Event(k) => event.insert(k.to_owned(), v),
            Target::Layer(k) => layer.insert(k.to_owned(), v),
        };
    }
    let has_layers = matches!(kind.as_deref(), Some("exposure" | "decision"));
    if has_layers && !layer.is_empty() {
        event.insert("layers".into(), Value::Array(vec![Value::Object(layer)]));
    }
    Ok(Value::Object(event))
}

/// Converts one text cell to the JSON value of its column; empty is absent.
///
/// # Errors
///
/// `(column name, reason)` for a JSON-valued cell that is not valid JSON.
pub fn text_cell(i: usize, s: &str) -> Result<Option<Value>, (String, String)> {
    if s.is_empty() {
        return Ok(None);
    }
    let (name, _, cell) = FLAT_COLUMNS[i];
    Ok(Some(match cell {
        Cell::Text => Value::String(s.to_owned()),
        Cell::Number => {
            if let Ok(n) = s.parse::<i64>() {
                Value::Number(n.into())
            } else {
                s.parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map_or_else(|| Value::String(s.to_owned()), Value::Number)
            }
        }
        Cell::Bool => match s {
            "true" | "TRUE" | "True" | "1" => Value::Bool(true),
            "false" | "FALSE" | "False" | "0" => Value::Bool(false),
            _ => Value::String(s.to_owned()),
        },
        Cell::Json => serde_json::from_str(s)
            .map_err(|e| (name.to_owned(), format!("not valid JSON text: {e}")))?,
    }))
}

/// The flat rows of one event as text cells, in [`FLAT_COLUMNS`] order, for csv and
/// parquet writers. Exposures and decisions give one row per layer.
#[must_use]
pub fn event_rows(e: &Event) -> Vec<Vec<Option<String>>> {
    let base = event_cells(e);
    if e.kind == EventType::Track {
        return vec![base];
    }
    e.layers
        .iter()
        .map(|l| {
            let mut row = base.clone();
            layer_cells(&mut row, l);
            row
        })
        .collect()
}

/// The cells of the event's own fields (the layer columns empty).
fn event_cells(e: &Event) -> Vec<Option<String>> {
    let json = |v: &Value| serde_json::to_string(v).expect("serde_json::Value always serialises");
    let mut base: Vec<Option<String>> = vec![None; FLAT_COLUMNS.len()];
    let mut set = |name: &str, v: Option<String>| set_cell(&mut base, name, v);
    set("type", Some(e.kind.as_str().into()));
    set("id", e.id.clone());
    set("orgId", e.org_id.clone());
    set("projectId", e.project_id.clone());
    set("env", e.env.clone());
    set("unitKey", Some(e.unit_key.clone()));
    set("userId", e.user_id.clone());
    set("anonymousId", e.anonymous_id.clone());
    set("sessionId", e.session_id.clone());
    set("requestId", e.request_id.clone());
    set("timestamp", Some(format_rfc3339(e.timestamp)));
    set("sdkName", e.sdk_name.clone());
    set("sdkVersion", e.sdk_version.clone());
    set("configVersion", e.config_version.clone());
    set("decisionId", e.decision_id.clone());
    set(
        "context",
        e.context.as_ref().map(|m| json(&Value::Object(m.clone()))),
    );
    set(
        "assignments",
        e.assignments
            .as_ref()
            .map(|m| json(&Value::Object(m.clone()))),
    );
    set(
        "requestedParameters",
        e.requested_parameters
            .as_ref()
            .map(|p| serde_json::to_string(p).expect("strings serialise")),
    );
    set("latencyMs", e.latency_ms.map(|x| x.to_string()));
    set("event", e.event.clone());
    set("value", e.value.map(|x| x.to_string()));
    set(
        "values",
        e.values
            .as_ref()
            .map(|m| serde_json::to_string(m).expect("numbers serialise")),
    );
    set(
        "properties",
        e.properties
            .as_ref()
            .map(|m| json(&Value::Object(m.clone()))),
    );
    set(
        "attribution",
        e.attribution
            .as_ref()
            .map(|a| serde_json::to_string(a).expect("attribution serialises")),
    );
    set("eventTimestamp", e.event_timestamp.map(format_rfc3339));
    base
}

/// Fills a row's layer columns from one layer.
fn layer_cells(row: &mut [Option<String>], l: &Layer) {
    let mut set = |name: &str, v: Option<String>| set_cell(row, name, v);
    set("layerId", Some(l.layer_id.clone()));
    set("bucket", Some(l.bucket.to_string()));
    set("policyId", l.policy_id.clone());
    set("policyKey", l.policy_key.clone());
    set("allocationId", l.allocation_id.clone());
    set("allocationName", l.allocation_name.clone());
    set("allocationKey", l.allocation_key.clone());
    set("layerUnitKey", l.unit_key.clone());
    set("layerUnitKeyValue", l.unit_key_value.clone());
    set("probability", l.probability.map(|p| p.to_string()));
    set("modelVersion", l.model_version.clone());
    set(
        "attributionOnly",
        l.attribution_only.then(|| "true".to_owned()),
    );
}

fn set_cell(row: &mut [Option<String>], name: &str, v: Option<String>) {
    row[column_index(name).expect("flat column exists")] = v;
}
