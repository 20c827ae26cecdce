//! Parameters, flat under `parameters:` or grouped under `namespaces:`, and the legacy
//! `project:` block / `project.yaml` link.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::property::Pattern;

/// The type of a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParameterType {
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An object or an array.
    Json,
}

impl ParameterType {
    /// The DSL's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Json => "json",
        }
    }

    /// Whether `value` is of this type (`json` takes objects and arrays).
    #[must_use]
    pub fn admits(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
            Self::Json => value.is_object() || value.is_array(),
        }
    }

    /// What a value of this type is, for messages.
    #[must_use]
    pub fn expected(self) -> &'static str {
        match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Boolean => "true or false",
            Self::Json => "an object or a list",
        }
    }
}

/// Edit-time constraints on a parameter's values.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Constraints {
    /// Minimum (numbers).
    pub min: Option<f64>,
    /// Maximum (numbers).
    pub max: Option<f64>,
    /// Regular expression (strings).
    pub pattern: Option<Pattern>,
    /// Permitted values (strings and numbers).
    pub allowed_values: Option<Vec<Value>>,
}

/// One parameter.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Parameter {
    /// The value type.
    #[serde(rename = "type")]
    pub parameter_type: ParameterType,
    /// The default value; matches the type.
    pub default: Value,
    /// Free text.
    pub description: Option<String>,
    /// Organisational grouping (implicit inside `namespaces:`).
    pub namespace: Option<String>,
    /// Edit-time constraints.
    pub constraints: Option<Constraints>,
}

/// A `namespaces:` entry: parameters whose full key is `namespace.key`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    /// Free text.
    pub description: Option<String>,
    /// Parameters by local key.
    #[serde(default)]
    pub parameters: IndexMap<String, Parameter>,
}

/// The legacy `project:` block inside config.yaml.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectBlock {
    /// Project id (`proj_…`).
    pub id: String,
    /// Organisation id (`org_…`).
    pub org_id: String,
}

/// An id with an optional human-readable key, as in `project.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdAndKey {
    /// The id (`org_…`, `proj_…`).
    pub id: String,
    /// The human-readable key.
    pub key: Option<String>,
}

/// `.traffical/project.yaml`: which organisation and project the repository syncs with.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    /// Always `"1.0"`.
    pub version: String,
    /// The organisation.
    pub org: IdAndKey,
    /// The project.
    pub project: IdAndKey,
}

/// The repository's project link, from `project.yaml` or the legacy block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectLink {
    /// Organisation id (`org_…`).
    pub org_id: String,
    /// Project id (`proj_…`).
    pub project_id: String,
}
