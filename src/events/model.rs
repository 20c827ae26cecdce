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

use crate::time::{format_rfc3339, Millis};

mod validate;

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

#[cfg(test)]
mod tests;
