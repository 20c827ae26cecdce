//! ndjson lines read straight into borrowed fields: how the loader and `convert` read
//! a line first.
//!
//! [`RawEvent::parse`] scans a line once ([`scan`]): strings are slices of the line,
//! nested objects the span of their text (already the canonical JSON text the tables
//! and the flat format hold, in the usual case), numbers read by `serde_json` from
//! their text. Nothing is allocated per event on this path; the column builders
//! (`super::table::TableBuilder::push_raw`, `super::flat_columns::FlatColumns::push_raw`)
//! copy the slices into their buffers.
//!
//! This path accepts a subset of what the typed fast path (`super::fast`) accepts, with
//! the same values: a line it is unsure of (an escape anywhere, a field of an
//! unexpected JSON type, an SDK-built `attribution`, a duplicate field, anything that
//! is not a JSON object) is declined, and takes `super::read::line_event` (the typed
//! fast path, then the slow path that words the quarantine record). The rules below
//! are those of `super::fast::accept`, applied to the same typed reading; the tests
//! (here, `fuzz/src/targets.rs` and the property tests that run it) compare the paths
//! line by line and file by file.

use std::borrow::Cow;

use super::model::{EventType, Warning, Warnings};
use crate::time::{parse_rfc3339, Millis};
use scan::{canonical_map, canonical_values, number, spaced, Scanner};

mod scan;

/// One layer of an exposure or decision, borrowed from its line.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct RawLayer<'a> {
    pub(super) layer_id: Option<&'a str>,
    pub(super) bucket: Option<u32>,
    pub(super) policy_id: Option<&'a str>,
    pub(super) policy_key: Option<&'a str>,
    pub(super) allocation_id: Option<&'a str>,
    pub(super) allocation_name: Option<&'a str>,
    pub(super) allocation_key: Option<&'a str>,
    pub(super) unit_key: Option<&'a str>,
    pub(super) unit_key_value: Option<&'a str>,
    pub(super) probability: Option<f64>,
    pub(super) model_version: Option<&'a str>,
    pub(super) attribution_only: bool,
}

/// An accepted event, borrowed from its line: the fields of [`super::Event`] that the
/// event's type keeps (the others `None`), nested values as canonical JSON text.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RawEvent<'a> {
    pub(super) kind: EventType,
    pub(super) id: Option<&'a str>,
    pub(super) org_id: Option<&'a str>,
    pub(super) project_id: Option<&'a str>,
    pub(super) env: Option<&'a str>,
    pub(super) unit_key: &'a str,
    pub(super) user_id: Option<&'a str>,
    pub(super) anonymous_id: Option<&'a str>,
    pub(super) session_id: Option<&'a str>,
    pub(super) request_id: Option<&'a str>,
    pub(super) timestamp: Millis,
    pub(super) context: Option<Cow<'a, str>>,
    pub(super) sdk_name: Option<&'a str>,
    pub(super) sdk_version: Option<&'a str>,
    pub(super) config_version: Option<&'a str>,
    pub(super) decision_id: Option<&'a str>,
    pub(super) assignments: Option<Cow<'a, str>>,
    pub(super) requested_parameters: Option<Cow<'a, str>>,
    pub(super) latency_ms: Option<i64>,
    pub(super) event: Option<&'a str>,
    pub(super) value: Option<f64>,
    pub(super) values: Option<Cow<'a, str>>,
    pub(super) properties: Option<Cow<'a, str>>,
    pub(super) event_timestamp: Option<Millis>,
    pub(super) warnings: Warnings,
}

/// Every field of a line as the typed fast path reads it, before the rules.
#[derive(Default)]
struct Fields<'a> {
    id: Option<&'a str>,
    kind: Option<&'a str>,
    org_id: Option<&'a str>,
    project_id: Option<&'a str>,
    env: Option<&'a str>,
    unit_key: Option<&'a str>,
    user_id: Option<&'a str>,
    anonymous_id: Option<&'a str>,
    session_id: Option<&'a str>,
    request_id: Option<&'a str>,
    timestamp: Option<&'a str>,
    context: Option<&'a str>,
    sdk_name: Option<&'a str>,
    sdk_version: Option<&'a str>,
    config_version: Option<&'a str>,
    decision_id: Option<&'a str>,
    assignments: Option<&'a str>,
    has_layers: bool,
    requested_parameters: Option<Cow<'a, str>>,
    latency_ms: Option<i64>,
    event: Option<&'a str>,
    value: Option<f64>,
    values: Option<&'a str>,
    properties: Option<&'a str>,
    event_timestamp: Option<&'a str>,
}

/// A string field, or `null`.
fn opt_str<'a>(s: &mut Scanner<'a>) -> Option<Option<&'a str>> {
    if s.null() {
        return Some(None);
    }
    s.string().map(Some)
}

/// A number field read as `T`, or `null`.
fn opt_number<T: serde::de::DeserializeOwned>(s: &mut Scanner<'_>) -> Option<Option<T>> {
    if s.null() {
        return Some(None);
    }
    if !matches!(s.peek()?, b'-' | b'0'..=b'9') {
        return None;
    }
    number(s.number()?).map(Some)
}

/// An object field (its text), or `null`.
fn opt_object<'a>(s: &mut Scanner<'a>) -> Option<Option<&'a str>> {
    if s.null() {
        return Some(None);
    }
    (s.peek()? == b'{').then_some(())?;
    s.value().map(Some)
}

/// Marks field `bit` seen; a field named twice is refused by serde, so declined here.
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    (*seen & (1 << bit) == 0).then(|| *seen |= 1 << bit)
}

fn layer<'a>(s: &mut Scanner<'a>) -> Option<RawLayer<'a>> {
    let mut l = RawLayer::default();
    let mut seen = 0u32;
    s.object(|s, key| match key {
        "layerId" => once(&mut seen, 0).and_then(|()| opt_str(s).map(|v| l.layer_id = v)),
        "bucket" => once(&mut seen, 1).and_then(|()| opt_number(s).map(|v| l.bucket = v)),
        "policyId" => once(&mut seen, 2).and_then(|()| opt_str(s).map(|v| l.policy_id = v)),
        "policyKey" => once(&mut seen, 3).and_then(|()| opt_str(s).map(|v| l.policy_key = v)),
        "allocationId" => once(&mut seen, 4).and_then(|()| opt_str(s).map(|v| l.allocation_id = v)),
        "allocationName" => {
            once(&mut seen, 5).and_then(|()| opt_str(s).map(|v| l.allocation_name = v))
        }
        "allocationKey" => {
            once(&mut seen, 6).and_then(|()| opt_str(s).map(|v| l.allocation_key = v))
        }
        "unitKey" => once(&mut seen, 7).and_then(|()| opt_str(s).map(|v| l.unit_key = v)),
        "unitKeyValue" => {
            once(&mut seen, 8).and_then(|()| opt_str(s).map(|v| l.unit_key_value = v))
        }
        "probability" => once(&mut seen, 9).and_then(|()| opt_number(s).map(|v| l.probability = v)),
        "modelVersion" => {
            once(&mut seen, 10).and_then(|()| opt_str(s).map(|v| l.model_version = v))
        }
        "attributionOnly" => once(&mut seen, 11).and_then(|()| {
            if s.null() {
                return Some(());
            }
            s.boolean().map(|b| l.attribution_only = b)
        }),
        _ => s.value().map(drop),
    })?;
    Some(l)
}

/// The layers array, into `out` (cleared first).
fn layers<'a>(s: &mut Scanner<'a>, out: &mut Vec<RawLayer<'a>>) -> Option<()> {
    out.clear();
    s.array(|s| {
        // A layer is an object: serde would also read an array as a struct, which
        // the slow path refuses; such lines are declined.
        (s.peek()? == b'{').then_some(())?;
        out.push(layer(s)?);
        Some(())
    })
}

impl<'a> RawEvent<'a> {
    /// Reads and validates one ndjson line, its layers into `layers` (reused from line
    /// to line). `None` declines the line: the older path decides.
    pub(super) fn parse(line: &'a str, layers_out: &mut Vec<RawLayer<'a>>) -> Option<Self> {
        if memchr::memchr(b'\\', line.as_bytes()).is_some() {
            return None;
        }
        let mut s = Scanner::new(line);
        (s.peek()? == b'{').then_some(())?;
        let mut f = Fields::default();
        let mut seen = 0u32;
        s.object(|s, key| {
            let (bit, read): (u32, Option<()>) = match key {
                "id" => (0, opt_str(s).map(|v| f.id = v)),
                "type" => (1, opt_str(s).map(|v| f.kind = v)),
                "orgId" => (2, opt_str(s).map(|v| f.org_id = v)),
                "projectId" => (3, opt_str(s).map(|v| f.project_id = v)),
                "env" => (4, opt_str(s).map(|v| f.env = v)),
                "unitKey" => (5, opt_str(s).map(|v| f.unit_key = v)),
                "userId" => (6, opt_str(s).map(|v| f.user_id = v)),
                "anonymousId" => (7, opt_str(s).map(|v| f.anonymous_id = v)),
                "sessionId" => (8, opt_str(s).map(|v| f.session_id = v)),
                "requestId" => (9, opt_str(s).map(|v| f.request_id = v)),
                "timestamp" => (10, opt_str(s).map(|v| f.timestamp = v)),
                "context" => (11, opt_object(s).map(|v| f.context = v)),
                "sdkName" => (12, opt_str(s).map(|v| f.sdk_name = v)),
                "sdkVersion" => (13, opt_str(s).map(|v| f.sdk_version = v)),
                "configVersion" => (14, opt_str(s).map(|v| f.config_version = v)),
                "decisionId" => (15, opt_str(s).map(|v| f.decision_id = v)),
                "assignments" => (16, opt_object(s).map(|v| f.assignments = v)),
                "layers" => (
                    17,
                    if s.null() {
                        Some(())
                    } else {
                        f.has_layers = true;
                        layers(s, layers_out)
                    },
                ),
                "requestedParameters" => (18, strings(s).map(|v| f.requested_parameters = v)),
                "latencyMs" => (19, opt_number(s).map(|v| f.latency_ms = v)),
                "event" => (20, opt_str(s).map(|v| f.event = v)),
                "value" => (21, opt_number(s).map(|v| f.value = v)),
                "values" => (22, opt_object(s).map(|v| f.values = v)),
                "properties" => (23, opt_object(s).map(|v| f.properties = v)),
                // An SDK-built attribution array: the older path builds its entries.
                "attribution" => (24, s.null().then_some(())),
                "eventTimestamp" => (25, opt_str(s).map(|v| f.event_timestamp = v)),
                _ => (31, s.value().map(drop)),
            };
            read?;
            if bit < 31 {
                once(&mut seen, bit)?;
            }
            Some(())
        })?;
        if !s.at_end() {
            return None;
        }
        if !f.has_layers {
            layers_out.clear();
        }
        accept(f, layers_out)
    }
}

/// An array of strings (`Vec<String>`), or `null`: its canonical text (`["a","b"]`).
fn strings<'a>(s: &mut Scanner<'a>) -> Option<Option<Cow<'a, str>>> {
    if s.null() {
        return Some(None);
    }
    (s.peek()? == b'[').then_some(())?;
    let text = s.value()?;
    Scanner::new(text).array(|c| c.string().map(drop))?;
    if !spaced(text) {
        return Some(Some(Cow::Borrowed(text)));
    }
    let v: Vec<String> = serde_json::from_str(text).ok()?;
    Some(Some(Cow::Owned(
        serde_json::to_string(&v).expect("strings serialise"),
    )))
}

/// The rules of `super::fast::accept` on the typed reading of a line.
fn accept<'a>(f: Fields<'a>, layers: &[RawLayer<'a>]) -> Option<RawEvent<'a>> {
    let kind = match f.kind? {
        "exposure" => EventType::Exposure,
        "decision" => EventType::Decision,
        "track" => EventType::Track,
        _ => return None,
    };
    let unit_key = f.unit_key.filter(|u| !u.is_empty())?;
    let timestamp = parse_rfc3339(f.timestamp?)?;
    // Nested values are read (and their text made canonical) whatever the type, as
    // the typed parse reads every field.
    let text = |span: Option<&'a str>, canonical: fn(&'a str) -> Option<Cow<'a, str>>| match span {
        None => Some(None),
        Some(s) => canonical(s).map(Some),
    };
    let context = text(f.context, canonical_map)?;
    let assignments = text(f.assignments, canonical_map)?;
    let values = text(f.values, canonical_values)?;
    let properties = text(f.properties, canonical_map)?;
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
    let mut e = RawEvent {
        kind,
        id: f.id,
        org_id: f.org_id,
        project_id: f.project_id,
        env: f.env,
        unit_key,
        user_id: f.user_id,
        anonymous_id: f.anonymous_id,
        session_id: f.session_id,
        request_id: f.request_id,
        timestamp,
        context,
        sdk_name: f.sdk_name,
        sdk_version: f.sdk_version,
        config_version: f.config_version,
        decision_id: f.decision_id,
        assignments: None,
        requested_parameters: None,
        latency_ms: None,
        event: None,
        value: None,
        values: None,
        properties: None,
        event_timestamp: None,
        warnings,
    };
    match kind {
        EventType::Exposure | EventType::Decision => {
            e.assignments = assignments;
            if e.assignments.is_none() {
                e.warnings.add(Warning::MissingAssignments);
            }
            if kind == EventType::Exposure && e.decision_id.is_none() {
                e.warnings.add(Warning::ExposureWithoutDecisionId);
            }
            if !f.has_layers {
                return None;
            }
            for l in layers {
                if l.layer_id.is_none_or(str::is_empty) || l.bucket.is_none() {
                    return None;
                }
                if l.probability.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
                    return None;
                }
            }
            if kind == EventType::Decision {
                e.requested_parameters = f.requested_parameters;
                e.latency_ms = f.latency_ms;
            }
        }
        EventType::Track => {
            e.event = Some(f.event.filter(|s| !s.is_empty())?);
            e.value = f.value;
            e.values = values;
            e.properties = properties;
            e.event_timestamp = match f.event_timestamp {
                None => None,
                Some(s) => Some(parse_rfc3339(s)?),
            };
        }
    }
    Some(e)
}

#[cfg(test)]
mod tests;
