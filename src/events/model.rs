//! Exposure, decision and track events as the platform defines them
//! (`traffical-sdk-spec/schemas/events.schema.json`, plus the fields of the current
//! reference SDK's `types/index.ts`), and their validation from JSON.
//!
//! Validation is strict about what the engine cannot do without (`type`, `unitKey`,
//! `timestamp`; `layers` on exposures and decisions; `event` on tracks) and about the
//! type and domain of every field it reads, and lenient about what the schema requires
//! but the engine does not use (`orgId`, `projectId`, `env`, `assignments`): those are
//! counted as [`Warning`]s, not refused, because the product page's own examples omit
//! them.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::time::{format_rfc3339, parse_rfc3339, Millis};

/// The three kinds of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The unit saw the parameters of a resolution: the denominator of metrics.
    Exposure,
    /// Every resolution, seen or not: the intent-to-treat view.
    Decision,
    /// Something the unit did: the reward signal.
    Track,
}

impl EventType {
    /// The name used in events and tables.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exposure => "exposure",
            Self::Decision => "decision",
            Self::Track => "track",
        }
    }
}

/// Attribution models an SDK may name on a track event's attribution entry; the
/// config's `attributionModel` uses the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionModel {
    /// All credit to the first touch.
    FirstTouch,
    /// All credit to the last touch.
    LastTouch,
    /// Credit split equally.
    Linear,
    /// More credit to recent touches.
    TimeDecay,
    /// More credit to first and last touches.
    PositionBased,
}

impl AttributionModel {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "first_touch" => Self::FirstTouch,
            "last_touch" => Self::LastTouch,
            "linear" => Self::Linear,
            "time_decay" => Self::TimeDecay,
            "position_based" => Self::PositionBased,
            _ => return None,
        })
    }

    /// The name used in events.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstTouch => "first_touch",
            Self::LastTouch => "last_touch",
            Self::Linear => "linear",
            Self::TimeDecay => "time_decay",
            Self::PositionBased => "position_based",
        }
    }
}

/// Per-layer resolution metadata of an exposure or decision event.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    /// The layer.
    pub layer_id: String,
    /// The unit's bucket in this layer, in `[0, bucketCount)`.
    pub bucket: u32,
    /// The matched policy, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<String>,
    /// Stable key of the matched policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_key: Option<String>,
    /// Id of the matched allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_id: Option<String>,
    /// Name of the matched allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_name: Option<String>,
    /// Stable key of the matched allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_key: Option<String>,
    /// The context field a layer-level unit key override read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_key: Option<String>,
    /// Its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_key_value: Option<String>,
    /// Logged propensity of the chosen allocation, in (0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Version of the contextual model that scored the choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The layer had no requested parameter: counts for attribution, not exposure.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attribution_only: bool,
}

/// One entry of a track event's SDK-built `attribution` array.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributionEntry {
    /// The layer.
    pub layer_id: String,
    /// The policy.
    pub policy_id: String,
    /// Stable key of the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_key: Option<String>,
    /// The allocation credited.
    pub allocation_name: String,
    /// Stable key of the allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_key: Option<String>,
    /// Share of the credit, in [0, 1].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// The attribution model the SDK used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<AttributionModel>,
}

fn ser_ts<S: serde::Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*ms))
}

#[allow(clippy::ref_option)] // serde's serialize_with hands us `&Option<_>`.
fn ser_opt_ts<S: serde::Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => s.serialize_str(&format_rfc3339(*ms)),
        None => s.serialize_none(),
    }
}

/// One event, validated. Field names and JSON shape follow the events schema.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Client-generated event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Exposure, decision or track.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Organization (required by the schema; a warning when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Project (required by the schema; a warning when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Environment (required by the schema; a warning when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The unit's key: who this happened to.
    pub unit_key: String,
    /// Optional user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Optional anonymous id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    /// Optional session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Optional request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When the event was sent.
    #[serde(serialize_with = "ser_ts")]
    pub timestamp: Millis,
    /// Context snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    /// SDK name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_name: Option<String>,
    /// SDK version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
    /// Version of the bundle the SDK resolved with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_version: Option<String>,
    /// The decision this event belongs to or follows from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// Parameter assignments (exposures and decisions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignments: Option<Map<String, Value>>,
    /// Per-layer resolution metadata (exposures and decisions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Layer>,
    /// Requested parameters (decisions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_parameters: Option<Vec<String>>,
    /// Resolution latency (decisions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    /// Event name (tracks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Primary value (tracks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Secondary named values (tracks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, f64>>,
    /// Event properties (tracks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Map<String, Value>>,
    /// SDK-built attribution chain (tracks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Vec<AttributionEntry>>,
    /// For delayed events: when it really happened.
    #[serde(serialize_with = "ser_opt_ts", skip_serializing_if = "Option::is_none")]
    pub event_timestamp: Option<Millis>,
}

impl Event {
    /// A bare event of `kind` for `unit_key` at `timestamp`, every optional field
    /// absent; fill in the rest with struct-update syntax.
    #[must_use]
    pub fn new(kind: EventType, unit_key: impl Into<String>, timestamp: Millis) -> Self {
        Event {
            id: None,
            kind,
            org_id: None,
            project_id: None,
            env: None,
            unit_key: unit_key.into(),
            user_id: None,
            anonymous_id: None,
            session_id: None,
            request_id: None,
            timestamp,
            context: None,
            sdk_name: None,
            sdk_version: None,
            config_version: None,
            decision_id: None,
            assignments: None,
            layers: Vec::new(),
            requested_parameters: None,
            latency_ms: None,
            event: None,
            value: None,
            values: None,
            properties: None,
            attribution: None,
            event_timestamp: None,
        }
    }

    /// When the event happened: `eventTimestamp` for delayed events, else `timestamp`.
    #[must_use]
    pub fn occurred_at(&self) -> Millis {
        self.event_timestamp.unwrap_or(self.timestamp)
    }
}

/// Schema requirements the engine tolerates but counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Warning {
    /// `orgId` absent.
    MissingOrgId,
    /// `projectId` absent.
    MissingProjectId,
    /// `env` absent.
    MissingEnv,
    /// `assignments` absent on an exposure or decision.
    MissingAssignments,
    /// An exposure without `decisionId` (the current SDK always sends one).
    ExposureWithoutDecisionId,
}

impl Warning {
    /// All warnings, in report order.
    pub const ALL: [Warning; 5] = [
        Warning::MissingOrgId,
        Warning::MissingProjectId,
        Warning::MissingEnv,
        Warning::MissingAssignments,
        Warning::ExposureWithoutDecisionId,
    ];

    /// A short description for run summaries.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::MissingOrgId => "orgId missing (required by the events schema)",
            Self::MissingProjectId => "projectId missing (required by the events schema)",
            Self::MissingEnv => "env missing (required by the events schema)",
            Self::MissingAssignments => {
                "assignments missing on exposure/decision (required by the events schema)"
            }
            Self::ExposureWithoutDecisionId => {
                "exposure without decisionId (decision-mode attribution cannot use it)"
            }
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`Warning`]s raised by one record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Warnings(u8);

impl Warnings {
    pub(crate) fn add(&mut self, w: Warning) {
        self.0 |= w.bit();
    }

    /// Whether `w` was raised.
    #[must_use]
    pub fn contains(self, w: Warning) -> bool {
        self.0 & w.bit() != 0
    }

    /// Iterates over the raised warnings.
    pub fn iter(self) -> impl Iterator<Item = Warning> {
        Warning::ALL.into_iter().filter(move |w| self.contains(*w))
    }
}

/// Why a record was refused: the field (a path such as `layers[0].bucket`, or
/// `record` for the whole) and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl RecordError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

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
        let kind = match f.string("type")?.as_deref() {
            Some("exposure") => EventType::Exposure,
            Some("decision") => EventType::Decision,
            Some("track") => EventType::Track,
            Some(other) => {
                return Err(RecordError::new(
                    "type",
                    format!("unknown event type \"{other}\": expected exposure, decision or track"),
                ))
            }
            None => return Err(RecordError::new("type", "required field is missing")),
        };
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
        let mut event = Event {
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
        match kind {
            EventType::Exposure | EventType::Decision => {
                event.assignments = f.object("assignments")?;
                if event.assignments.is_none() {
                    warnings.add(Warning::MissingAssignments);
                }
                if kind == EventType::Exposure && event.decision_id.is_none() {
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
                if kind == EventType::Decision {
                    event.requested_parameters = match f.array("requestedParameters")? {
                        None => None,
                        Some(items) => Some(
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
                                .collect::<Result<_, _>>()?,
                        ),
                    };
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
            }
            EventType::Track => {
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
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCT_PAGE_EXPOSURE: &str = r#"{"type":"exposure","unitKey":"user_789","timestamp":"2026-05-21T10:30:00Z","decisionId":"dec_abc123","layers":[{"layerId":"layer_checkout","policyId":"policy_color_test","allocationName":"treatment","bucket":7420}]}"#;

    #[test]
    fn accepts_the_product_page_example_with_warnings() {
        let (e, w) = Event::from_json_str(PRODUCT_PAGE_EXPOSURE).unwrap();
        assert_eq!(e.kind, EventType::Exposure);
        assert_eq!(e.layers[0].bucket, 7420);
        assert_eq!(e.layers[0].allocation_name.as_deref(), Some("treatment"));
        let ws: Vec<_> = w.iter().collect();
        assert_eq!(
            ws,
            [
                Warning::MissingOrgId,
                Warning::MissingProjectId,
                Warning::MissingEnv,
                Warning::MissingAssignments
            ]
        );
    }

    #[test]
    fn serialises_back_to_the_same_json() {
        let (e, _) = Event::from_json_str(PRODUCT_PAGE_EXPOSURE).unwrap();
        let back: Value = serde_json::to_value(&e).unwrap();
        let orig: Value = serde_json::from_str(PRODUCT_PAGE_EXPOSURE).unwrap();
        let mut orig = orig;
        // The engine writes timestamps in the SDK's millisecond form.
        orig["timestamp"] = Value::String("2026-05-21T10:30:00.000Z".into());
        assert_eq!(back, orig);
    }

    fn err(line: &str) -> RecordError {
        Event::from_json_str(line).unwrap_err()
    }

    #[test]
    fn names_the_offending_field() {
        let e = err(
            r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":-3}]}"#,
        );
        assert_eq!(e.field, "layers[0].bucket");
        assert!(e.reason.contains("non-negative"), "{e}");
        let e = err(
            r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":3,"probability":1.5}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "layers[0].probability: must be in (0, 1], found 1.5"
        );
        let e = err(
            r#"{"type":"track","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","event":"purchase","value":"12"}"#,
        );
        assert_eq!(
            e.to_string(),
            "value: expected a number, found string \"12\""
        );
        let e = err(r#"{"type":"click","unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#);
        assert_eq!(e.field, "type");
        let e = err(r#"{"type":"track","timestamp":"2026-05-21T10:30:00Z","event":"x"}"#);
        assert_eq!(e.to_string(), "unitKey: required field is missing");
        let e = err(r#"{"type":"track","unitKey":"u","timestamp":"May 21","event":"x"}"#);
        assert_eq!(e.field, "timestamp");
        let e = err(r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#);
        assert_eq!(e.to_string(), "layers: required field is missing");
        let e = err(r#"{"type":"track","unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#);
        assert_eq!(e.to_string(), "event: required field is missing");
        let e = err(
            r#"{"type":"track","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","event":"x","attribution":[{"layerId":"l","policyId":"p","allocationName":"a","weight":2}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "attribution[0].weight: must be in [0, 1], found 2"
        );
        let e = err(r#"{"type":"track","unitKey":"u""#);
        assert_eq!(e.field, "record");
        assert!(e.reason.starts_with("not valid JSON"), "{e}");
        let e = err(r#"[1,2]"#);
        assert_eq!(e.to_string(), "record: expected an object, found an array");
    }

    #[test]
    fn reads_delayed_track_events_and_sdk_fields() {
        let (e, w) = Event::from_json_str(r#"{"type":"track","orgId":"o","projectId":"p","env":"production","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","eventTimestamp":"2026-05-21T10:30:00Z","event":"purchase","value":12.5,"values":{"items":3},"attribution":[{"layerId":"l","policyId":"p","allocationName":"a","weight":0.5,"model":"linear"}],"configVersion":"v7"}"#).unwrap();
        assert_eq!(w, Warnings::default());
        assert_eq!(e.occurred_at(), 1_779_359_400_000);
        assert_eq!(e.values.unwrap()["items"], 3.0);
        assert_eq!(
            e.attribution.unwrap()[0].model,
            Some(AttributionModel::Linear)
        );
        assert_eq!(e.config_version.as_deref(), Some("v7"));
    }
}
