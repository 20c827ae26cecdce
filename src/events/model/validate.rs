//! Validation of one JSON record into an [`Event`]: every field the engine reads is
//! checked for its JSON type and domain, and the first offending one is named by its
//! path in a [`RecordError`].

use serde_json::{Map, Value};

use super::{
    AttributionEntry, AttributionModel, Event, EventType, Layer, RecordError, Warning, Warnings,
};
use crate::time::{parse_rfc3339, Millis};

/// A short description of a JSON value's type and, for scalars, the value itself.
fn found(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("string \"{}...\"", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("string \"{s}\""),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Field access on a JSON object that names the field path in its errors. `null`
/// counts as absent, as JavaScript SDKs send `undefined` fields as either.
struct Fields<'p> {
    map: Map<String, Value>,
    prefix: &'p str,
}

impl<'p> Fields<'p> {
    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        match self.map.remove(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, RecordError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(RecordError::new(
                self.path(key),
                format!("expected a string, found {}", found(&v)),
            )),
        }
    }

    fn required_string(&mut self, key: &str) -> Result<String, RecordError> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(RecordError::new(self.path(key), "must not be empty")),
            None => Err(RecordError::new(
                self.path(key),
                "required field is missing",
            )),
        }
    }

    fn number(&mut self, key: &str) -> Result<Option<f64>, RecordError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v) => Err(RecordError::new(
                self.path(key),
                format!("expected a number, found {}", found(&v)),
            )),
        }
    }

    fn object(&mut self, key: &str) -> Result<Option<Map<String, Value>>, RecordError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(RecordError::new(
                self.path(key),
                format!("expected an object, found {}", found(&v)),
            )),
        }
    }

    fn array(&mut self, key: &str) -> Result<Option<Vec<Value>>, RecordError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(RecordError::new(
                self.path(key),
                format!("expected an array, found {}", found(&v)),
            )),
        }
    }

    fn timestamp(&mut self, key: &str) -> Result<Option<Millis>, RecordError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => parse_rfc3339(&s).map(Some).ok_or_else(|| {
                RecordError::new(
                    self.path(key),
                    format!("not an RFC 3339 date-time with a time zone: \"{s}\" (expected e.g. 2026-05-21T10:30:00Z)"),
                )
            }),
        }
    }

    fn probability(&mut self, key: &str, open_low: bool) -> Result<Option<f64>, RecordError> {
        let Some(p) = self.number(key)? else {
            return Ok(None);
        };
        let ok = if open_low {
            p > 0.0 && p <= 1.0
        } else {
            (0.0..=1.0).contains(&p)
        };
        if ok {
            Ok(Some(p))
        } else {
            let range = if open_low { "(0, 1]" } else { "[0, 1]" };
            Err(RecordError::new(
                self.path(key),
                format!("must be in {range}, found {p}"),
            ))
        }
    }
}

fn as_object(v: Value, path: &str) -> Result<Map<String, Value>, RecordError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(RecordError::new(
            path,
            format!("expected an object, found {}", found(&other)),
        )),
    }
}

fn parse_layer(v: Value, path: &str) -> Result<Layer, RecordError> {
    let mut f = Fields {
        map: as_object(v, path)?,
        prefix: path,
    };
    let layer_id = f.required_string("layerId")?;
    let bucket = match f.take("bucket") {
        None => {
            return Err(RecordError::new(
                f.path("bucket"),
                "required field is missing",
            ))
        }
        Some(Value::Number(n)) => match n.as_u64() {
            Some(b) if u32::try_from(b).is_ok() => b as u32,
            _ => {
                return Err(RecordError::new(
                    f.path("bucket"),
                    format!("expected a non-negative integer below 2^32, found {n}"),
                ))
            }
        },
        Some(v) => {
            return Err(RecordError::new(
                f.path("bucket"),
                format!("expected an integer, found {}", found(&v)),
            ))
        }
    };
    let attribution_only = match f.take("attributionOnly") {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(v) => {
            return Err(RecordError::new(
                f.path("attributionOnly"),
                format!("expected a boolean, found {}", found(&v)),
            ))
        }
    };
    Ok(Layer {
        layer_id,
        bucket,
        policy_id: f.string("policyId")?,
        policy_key: f.string("policyKey")?,
        allocation_id: f.string("allocationId")?,
        allocation_name: f.string("allocationName")?,
        allocation_key: f.string("allocationKey")?,
        unit_key: f.string("unitKey")?,
        unit_key_value: f.string("unitKeyValue")?,
        probability: f.probability("probability", true)?,
        model_version: f.string("modelVersion")?,
        attribution_only,
    })
}

fn parse_attribution(v: Value, path: &str) -> Result<AttributionEntry, RecordError> {
    let mut f = Fields {
        map: as_object(v, path)?,
        prefix: path,
    };
    let model = match f.string("model")? {
        None => None,
        Some(m) => Some(AttributionModel::parse(&m).ok_or_else(|| {
            RecordError::new(
                f.path("model"),
                format!("unknown attribution model \"{m}\": expected first_touch, last_touch, linear, time_decay or position_based"),
            )
        })?),
    };
    Ok(AttributionEntry {
        layer_id: f.required_string("layerId")?,
        policy_id: f.required_string("policyId")?,
        policy_key: f.string("policyKey")?,
        allocation_name: f.required_string("allocationName")?,
        allocation_key: f.string("allocationKey")?,
        weight: f.probability("weight", false)?,
        model,
    })
}

impl Event {
    /// Validates one parsed JSON record.
    ///
    /// # Errors
    ///
    /// A [`RecordError`] naming the first offending field: a missing `type`,
    /// `unitKey`, `timestamp`, `layers` (exposures, decisions) or `event` (tracks); an
    /// unknown `type`; a field of the wrong JSON type; a timestamp that is not RFC 3339;
    /// a negative or fractional `bucket`; a `probability` outside (0, 1]; an
    /// attribution `weight` outside [0, 1]; a non-finite value.
    pub fn from_json(v: Value) -> Result<(Event, Warnings), RecordError> {
        let mut f = Fields {
            map: as_object(v, "record")?,
            prefix: "",
        };
        // Fields are read in a fixed order, so the error names the same field
        // whichever reader the record came through.
        let kind = event_type(&mut f)?;
        let (mut event, mut warnings) = envelope(&mut f, kind)?;
        match kind {
            EventType::Exposure | EventType::Decision => {
                layered_fields(&mut f, &mut event, &mut warnings)?;
            }
            EventType::Track => track_fields(&mut f, &mut event)?,
        }
        Ok((event, warnings))
    }

    /// Parses and validates one line of ndjson.
    ///
    /// # Errors
    ///
    /// A [`RecordError`] on field `record` for text that is not a JSON object, else as
    /// [`Event::from_json`].
    pub fn from_json_str(line: &str) -> Result<(Event, Warnings), RecordError> {
        let v: Value = serde_json::from_str(line)
            .map_err(|e| RecordError::new("record", format!("not valid JSON: {e}")))?;
        Self::from_json(v)
    }
}

/// `type`: required, one of the three kinds.
fn event_type(f: &mut Fields<'_>) -> Result<EventType, RecordError> {
    match f.string("type")?.as_deref() {
        Some("exposure") => Ok(EventType::Exposure),
        Some("decision") => Ok(EventType::Decision),
        Some("track") => Ok(EventType::Track),
        Some(other) => Err(RecordError::new(
            "type",
            format!("unknown event type \"{other}\": expected exposure, decision or track"),
        )),
        None => Err(RecordError::new("type", "required field is missing")),
    }
}

/// The fields every kind of event has: the required `unitKey` and `timestamp`, then
/// the optional ids, with a warning for each id the schema requires but the record
/// lacks.
fn envelope(f: &mut Fields<'_>, kind: EventType) -> Result<(Event, Warnings), RecordError> {
    let unit_key = f.required_string("unitKey")?;
    let timestamp = f
        .timestamp("timestamp")?
        .ok_or_else(|| RecordError::new("timestamp", "required field is missing"))?;
    let mut warnings = Warnings::default();
    let org_id = f.string("orgId")?;
    let project_id = f.string("projectId")?;
    let env = f.string("env")?;
    for (present, w) in [
        (org_id.is_some(), Warning::MissingOrgId),
        (project_id.is_some(), Warning::MissingProjectId),
        (env.is_some(), Warning::MissingEnv),
    ] {
        if !present {
            warnings.add(w);
        }
    }
    let decision_id = f.string("decisionId")?;
    let event = Event {
        id: f.string("id")?,
        org_id,
        project_id,
        env,
        user_id: f.string("userId")?,
        anonymous_id: f.string("anonymousId")?,
        session_id: f.string("sessionId")?,
        request_id: f.string("requestId")?,
        context: f.object("context")?,
        sdk_name: f.string("sdkName")?,
        sdk_version: f.string("sdkVersion")?,
        config_version: f.string("configVersion")?,
        decision_id,
        ..Event::new(kind, unit_key, timestamp)
    };
    Ok((event, warnings))
}

/// Exposures and decisions: `assignments`, the required `layers`, and for decisions
/// the requested parameters and latency.
fn layered_fields(
    f: &mut Fields<'_>,
    event: &mut Event,
    warnings: &mut Warnings,
) -> Result<(), RecordError> {
    event.assignments = f.object("assignments")?;
    if event.assignments.is_none() {
        warnings.add(Warning::MissingAssignments);
    }
    if event.kind == EventType::Exposure && event.decision_id.is_none() {
        warnings.add(Warning::ExposureWithoutDecisionId);
    }
    let layers = f
        .array("layers")?
        .ok_or_else(|| RecordError::new("layers", "required field is missing"))?;
    event.layers = layers
        .into_iter()
        .enumerate()
        .map(|(i, l)| parse_layer(l, &format!("layers[{i}]")))
        .collect::<Result<_, _>>()?;
    if event.kind == EventType::Decision {
        event.requested_parameters = requested_parameters(f)?;
        event.latency_ms = match f.take("latencyMs") {
            None => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(v) => {
                return Err(RecordError::new(
                    "latencyMs",
                    format!("expected an integer, found {}", found(&v)),
                ))
            }
        };
    }
    Ok(())
}

/// A decision's `requestedParameters`: an array of strings.
fn requested_parameters(f: &mut Fields<'_>) -> Result<Option<Vec<String>>, RecordError> {
    let Some(items) = f.array("requestedParameters")? else {
        return Ok(None);
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s),
            other => Err(RecordError::new(
                format!("requestedParameters[{i}]"),
                format!("expected a string, found {}", found(&other)),
            )),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Tracks: the required `event` name, its value or values, properties, the SDK-built
/// attribution and the delayed `eventTimestamp`.
fn track_fields(f: &mut Fields<'_>, event: &mut Event) -> Result<(), RecordError> {
    event.event = Some(f.required_string("event")?);
    event.value = f.number("value")?;
    event.values = match f.object("values")? {
        None => None,
        Some(m) => Some(
            m.into_iter()
                .map(|(k, v)| match v.as_f64() {
                    Some(x) => Ok((k, x)),
                    None => Err(RecordError::new(
                        format!("values.{k}"),
                        format!("expected a number, found {}", found(&v)),
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    event.properties = f.object("properties")?;
    event.attribution = match f.array("attribution")? {
        None => None,
        Some(items) => Some(
            items
                .into_iter()
                .enumerate()
                .map(|(i, a)| parse_attribution(a, &format!("attribution[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
    };
    event.event_timestamp = f.timestamp("eventTimestamp")?;
    Ok(())
}
