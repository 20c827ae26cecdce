//! The fast path of record validation: a typed serde parse of the whole line, then
//! the same acceptance rules as [`Event::from_json`].
//!
//! Parsing into `serde_json::Value` first costs an allocation per key and value; most
//! lines are valid, so the reader tries this typed parse (after the in-place reading of
//! `super::ndjson`, which takes the ordinary lines without owned fields, and declines
//! to this path what it is unsure of) and, on any failure
//! (a JSON type error or a broken rule), falls back to [`Event::from_json`], which
//! finds the first offending field and words the message. Messages thus have one
//! source; this module only has to accept exactly what the slow path accepts, which
//! `tests::fast_and_slow_paths_agree` checks on valid and malformed lines.
//!
//! Building a [`FastEvent`] and applying the rules to it are separate steps, so the
//! parquet reader (`super::parquet`) builds its own from typed columns and the rules
//! exist once.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::model::{
    AttributionEntry, AttributionModel, Event, EventType, Layer, Warning, Warnings,
};
use crate::time::parse_rfc3339;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FastLayer {
    pub(super) layer_id: Option<String>,
    pub(super) bucket: Option<u32>,
    pub(super) policy_id: Option<String>,
    pub(super) policy_key: Option<String>,
    pub(super) allocation_id: Option<String>,
    pub(super) allocation_name: Option<String>,
    pub(super) allocation_key: Option<String>,
    pub(super) unit_key: Option<String>,
    pub(super) unit_key_value: Option<String>,
    pub(super) probability: Option<f64>,
    pub(super) model_version: Option<String>,
    pub(super) attribution_only: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FastAttribution {
    layer_id: Option<String>,
    policy_id: Option<String>,
    policy_key: Option<String>,
    allocation_name: Option<String>,
    allocation_key: Option<String>,
    weight: Option<f64>,
    model: Option<String>,
}

/// Every field, typed. A field the slow path ignores for this event type but that has
/// the wrong JSON type here makes the typed parse fail: the line then simply takes
/// the slow path, which decides. The rules ([`accept`]) read only the fields of the
/// event's type, so a builder may leave the others `None`.
///
/// `type` and the timestamps are only read, never kept: they borrow from the line
/// (or the parquet column) when they can.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FastEvent<'a> {
    pub(super) id: Option<String>,
    #[serde(rename = "type", borrow)]
    pub(super) kind: Option<Cow<'a, str>>,
    pub(super) org_id: Option<String>,
    pub(super) project_id: Option<String>,
    pub(super) env: Option<String>,
    pub(super) unit_key: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) anonymous_id: Option<String>,
    pub(super) session_id: Option<String>,
    pub(super) request_id: Option<String>,
    #[serde(borrow)]
    pub(super) timestamp: Option<Cow<'a, str>>,
    pub(super) context: Option<Map<String, Value>>,
    pub(super) sdk_name: Option<String>,
    pub(super) sdk_version: Option<String>,
    pub(super) config_version: Option<String>,
    pub(super) decision_id: Option<String>,
    pub(super) assignments: Option<Map<String, Value>>,
    pub(super) layers: Option<Vec<FastLayer>>,
    pub(super) requested_parameters: Option<Vec<String>>,
    pub(super) latency_ms: Option<i64>,
    pub(super) event: Option<String>,
    pub(super) value: Option<f64>,
    pub(super) values: Option<BTreeMap<String, f64>>,
    pub(super) properties: Option<Map<String, Value>>,
    pub(super) attribution: Option<Vec<FastAttribution>>,
    #[serde(borrow)]
    pub(super) event_timestamp: Option<Cow<'a, str>>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn layer(l: FastLayer) -> Option<Layer> {
    let probability = match l.probability {
        Some(p) if !(p > 0.0 && p <= 1.0) => return None,
        p => p,
    };
    Some(Layer {
        layer_id: non_empty(l.layer_id)?,
        bucket: l.bucket?,
        policy_id: l.policy_id,
        policy_key: l.policy_key,
        allocation_id: l.allocation_id,
        allocation_name: l.allocation_name,
        allocation_key: l.allocation_key,
        unit_key: l.unit_key,
        unit_key_value: l.unit_key_value,
        probability,
        model_version: l.model_version,
        attribution_only: l.attribution_only.unwrap_or(false),
    })
}

fn attribution(a: FastAttribution) -> Option<AttributionEntry> {
    if a.weight.is_some_and(|w| !(0.0..=1.0).contains(&w)) {
        return None;
    }
    let model = match a.model {
        None => None,
        Some(m) => Some(AttributionModel::parse(&m)?),
    };
    Some(AttributionEntry {
        layer_id: non_empty(a.layer_id)?,
        policy_id: non_empty(a.policy_id)?,
        policy_key: a.policy_key,
        allocation_name: non_empty(a.allocation_name)?,
        allocation_key: a.allocation_key,
        weight: a.weight,
        model,
    })
}

/// The event and warnings of a line the slow path would accept, or `None` to send the
/// line to the slow path.
pub(super) fn try_parse(line: &str) -> Option<(Event, Warnings)> {
    // serde also reads a struct from a JSON array of its fields in order, which the
    // slow path refuses ("expected an object"): such a line is left to it.
    if !line.trim_start().starts_with('{') {
        return None;
    }
    accept(serde_json::from_str(line).ok()?)
}

/// The acceptance rules of [`Event::from_json`] on a typed record: the event and its
/// warnings, or `None` where the slow path must decide (and word the message).
pub(super) fn accept(f: FastEvent<'_>) -> Option<(Event, Warnings)> {
    let kind = match f.kind.as_deref()? {
        "exposure" => EventType::Exposure,
        "decision" => EventType::Decision,
        "track" => EventType::Track,
        _ => return None,
    };
    let unit_key = non_empty(f.unit_key)?;
    let timestamp = parse_rfc3339(f.timestamp.as_deref()?)?;
    let mut warnings = Warnings::default();
    for (present, w) in [
        (f.org_id.is_some(), Warning::MissingOrgId),
        (f.project_id.is_some(), Warning::MissingProjectId),
        (f.env.is_some(), Warning::MissingEnv),
    ] {
        if !present {
            warnings.add(w);
        }
    }
    let mut e = Event {
        id: f.id,
        org_id: f.org_id,
        project_id: f.project_id,
        env: f.env,
        user_id: f.user_id,
        anonymous_id: f.anonymous_id,
        session_id: f.session_id,
        request_id: f.request_id,
        context: f.context,
        sdk_name: f.sdk_name,
        sdk_version: f.sdk_version,
        config_version: f.config_version,
        decision_id: f.decision_id,
        ..Event::new(kind, unit_key, timestamp)
    };
    match kind {
        EventType::Exposure | EventType::Decision => {
            e.assignments = f.assignments;
            if e.assignments.is_none() {
                warnings.add(Warning::MissingAssignments);
            }
            if kind == EventType::Exposure && e.decision_id.is_none() {
                warnings.add(Warning::ExposureWithoutDecisionId);
            }
            e.layers = f.layers?.into_iter().map(layer).collect::<Option<_>>()?;
            if kind == EventType::Decision {
                e.requested_parameters = f.requested_parameters;
                e.latency_ms = f.latency_ms;
            }
        }
        EventType::Track => {
            e.event = Some(non_empty(f.event)?);
            e.value = f.value;
            e.values = f.values;
            e.properties = f.properties;
            e.attribution = match f.attribution {
                None => None,
                Some(a) => Some(a.into_iter().map(attribution).collect::<Option<_>>()?),
            };
            e.event_timestamp = match f.event_timestamp {
                None => None,
                Some(s) => Some(parse_rfc3339(&s)?),
            };
        }
    }
    Some((e, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of every shape the readers see: valid ones of each type, and each kind
    /// of malformed record, plus fields of the wrong type that only one type reads.
    const LINES: &[&str] = &[
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","decisionId":"d","layers":[{"layerId":"l","policyId":"p","allocationName":"a","bucket":7420,"probability":0.25}]}"#,
        r#"{"type":"exposure","orgId":"o","projectId":"p","env":"e","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","assignments":{"k":1},"context":{"x":[1,2]},"layers":[{"layerId":"l","bucket":1,"attributionOnly":true,"unitKey":"deviceId","unitKeyValue":"dv"}],"event":5,"value":"x"}"#,
        r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[],"requestedParameters":["a"],"latencyMs":3}"#,
        r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[],"latencyMs":3.5}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[],"latencyMs":"x","requestedParameters":7}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","eventTimestamp":"2026-05-21T10:30:00Z","event":"purchase","value":12,"values":{"a":1},"properties":{"p":null},"attribution":[{"layerId":"l","policyId":"p","allocationName":"a","weight":0.5,"model":"linear"}]}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"purchase","layers":"nonsense","assignments":3}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"purchase","value":null,"sessionId":null}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":""}"#,
        r#"{"type":"track","unitKey":"","timestamp":"2026-05-22T10:30:00Z","event":"x"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","value":"12"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","eventTimestamp":"soon"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","attribution":[{"layerId":"l","policyId":"p","allocationName":"a","weight":1.5}]}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","attribution":[{"layerId":"l","policyId":"p","allocationName":"a","model":"u_shaped"}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":-1}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":3.0}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":3,"probability":0}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"","bucket":3}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#,
        r#"{"type":"click","unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#,
        r#"{"unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"21/05/2026","event":"x"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","context":"mobile"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","values":{"a":"1"}}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","unitKey":"v"}"#,
        r#"{"type":"track","unitKey":"u","#,
        r#"[1,2,3]"#,
        r#"[null,"track",null,null,null,"u",null,null,null,null,"2026-05-22T10:30:00Z",null,null,null,null,null,null,null,null,null,"x",null,null,null,null,null]"#,
    ];

    #[test]
    fn fast_and_slow_paths_agree() {
        let mut fast_accepted = 0;
        for line in LINES {
            let slow = Event::from_json_str(line).ok();
            let fast = try_parse(line);
            if slow.is_none() {
                assert!(fast.is_none(), "fast path accepted a refused line: {line}");
            }
            if let Some(f) = &fast {
                fast_accepted += 1;
                assert_eq!(
                    Some(f),
                    slow.as_ref(),
                    "fast path accepted differently: {line}"
                );
            }
            // Where the fast path declines, the slow path decides; where it accepts, the
            // slow path must accept the same event.
        }
        // The ordinary valid lines take the fast path (the odd ones may not).
        for i in [0, 2, 5, 7] {
            assert!(try_parse(LINES[i]).is_some(), "declined: {}", LINES[i]);
        }
        assert!(fast_accepted >= 4);
    }

    #[test]
    fn fast_and_slow_paths_agree_on_the_demo_log() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/datasets/demo/events.ndjson"
        ))
        .unwrap();
        let (mut fast, mut total) = (0, 0);
        for line in text.lines() {
            total += 1;
            let slow = Event::from_json_str(line).ok();
            if let Some(f) = try_parse(line) {
                fast += 1;
                assert_eq!(Some(&f), slow.as_ref(), "{line}");
            } else {
                assert!(
                    slow.is_none(),
                    "a valid demo line declined by the fast path: {line}"
                );
            }
        }
        assert!(fast > 3700 && total > fast, "{fast} of {total}");
    }
}
