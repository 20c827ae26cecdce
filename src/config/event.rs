//! Event definitions, property groups, and an event's resolved (merged) schema.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::property::PropertySchema;

/// How a track event's `value` is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Money: any finite amount. Negative amounts are allowed, because refunds and
    /// chargebacks are reported as negative purchases and revenue must net out.
    Currency,
    /// A count: a non-negative integer.
    Count,
    /// A proportion in [0, 1].
    Rate,
    /// Happened or not: 0 or 1 (`true` / `false` in JSON).
    Boolean,
}

impl SchemaEnforcement {
    /// The DSL's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Warn => "warn",
            Self::Reject => "reject",
        }
    }
}

impl ValueType {
    /// The DSL's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Currency => "currency",
            Self::Count => "count",
            Self::Rate => "rate",
            Self::Boolean => "boolean",
        }
    }
}

/// What happens to a track event that breaks its property schema.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaEnforcement {
    /// No validation.
    Off,
    /// Validate, count and report, keep the event. The default, as on the platform:
    /// a reward lost to a schema typo biases the bandit silently, while a warning is
    /// seen and fixed; `reject` is for schemas already proven on real traffic.
    #[default]
    Warn,
    /// Quarantine invalid events (with every reason) and keep them out of the pipeline.
    Reject,
}

/// One event definition as written under `events:`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventDefinition {
    /// How to read its value.
    pub value_type: ValueType,
    /// Unit of the value (`USD`, `items`).
    pub unit: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// SchemaVer `MODEL-REVISION-ADDITION` (`1-0-0`).
    pub schema_version: Option<String>,
    /// Enforcement of the property schema.
    #[serde(default)]
    pub schema_enforcement: SchemaEnforcement,
    /// The event's own property schemas, in the order written.
    #[serde(default)]
    pub properties: IndexMap<String, PropertySchema>,
    /// Property groups merged into the schema, in this order (see [`EventSchema`]).
    #[serde(default)]
    pub property_groups: Vec<String>,
}

/// A reusable set of properties under `propertyGroups:`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PropertyGroup {
    /// The properties.
    pub properties: IndexMap<String, PropertySchema>,
    /// Free text.
    pub description: Option<String>,
    /// SchemaVer string.
    pub schema_version: Option<String>,
}

/// Where a property of a resolved schema was declared.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PropertySource {
    /// In the named property group.
    Group(String),
    /// In the event's own `properties`.
    Event,
}

impl std::fmt::Display for PropertySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Group(g) => write!(f, "group \"{g}\""),
            Self::Event => f.write_str("the event's own properties"),
        }
    }
}

/// A property of a resolved schema and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedProperty {
    /// The schema that applies.
    pub schema: PropertySchema,
    /// Where it was declared (the last source that declared it).
    pub source: PropertySource,
}

/// An event's schema with its groups merged in: what validation and code generation use.
///
/// Merge rule: the groups listed in `propertyGroups` are applied in the order listed,
/// then the event's own `properties`. A property declared by several sources must have
/// the same `type` in all of them, or the config is refused with an error naming both
/// sources. With the same type, the later source replaces the earlier one as a whole
/// (so an event can, say, make a group's property `required`), and the property keeps
/// the place where it first appeared.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSchema {
    /// How to read the value.
    pub value_type: ValueType,
    /// What to do with violations.
    pub enforcement: SchemaEnforcement,
    /// The merged properties, groups first.
    pub properties: IndexMap<String, ResolvedProperty>,
}
