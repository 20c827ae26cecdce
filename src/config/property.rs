//! Property schemas: the YAML DSL for an event's payload (`type`, `required`, `enum`,
//! `pattern`, …), the same shape inside property groups and nested objects and arrays.

use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::optimization::DesiredDirection;

/// The JSON type of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropertyType {
    /// A string.
    String,
    /// Any finite number.
    Number,
    /// A number without a fractional part (`3.0` counts, as in JSON Schema).
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A list; `items` describes its elements.
    Array,
    /// A nested object; `properties` describes its keys.
    Object,
}

impl PropertyType {
    /// The DSL's name for the type.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    /// Whether `value` is of this type.
    #[must_use]
    pub fn admits(self, value: &Value) -> bool {
        match self {
            Self::String => value.is_string(),
            Self::Number => value.is_number(),
            Self::Integer => value.as_f64().is_some_and(|x| x.fract() == 0.0),
            Self::Boolean => value.is_boolean(),
            Self::Array => value.is_array(),
            Self::Object => value.is_object(),
        }
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Built-in string formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum PropertyFormat {
    /// RFC 3339 date-time with an offset (`2026-05-21T10:30:00Z`).
    #[serde(rename = "date-time")]
    DateTime,
    /// An e-mail address (`local@domain.tld`, no spaces).
    #[serde(rename = "email")]
    Email,
    /// An absolute URI (`scheme:rest`).
    #[serde(rename = "uri")]
    Uri,
    /// A UUID in its 8-4-4-4-12 hex form.
    #[serde(rename = "uuid")]
    Uuid,
}

impl PropertyFormat {
    /// The DSL's name for the format.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DateTime => "date-time",
            Self::Email => "email",
            Self::Uri => "uri",
            Self::Uuid => "uuid",
        }
    }
}

/// An ECMAScript regular expression (the SDKs' dialect), compiled once when the config
/// is read. Matching is a search, not anchored: write `^…$` to match the whole value.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: regress::Regex,
}

impl Pattern {
    /// Compiles `source`.
    ///
    /// # Errors
    ///
    /// The compiler's message when `source` is not a valid ECMAScript expression.
    pub fn new(source: &str) -> Result<Self, String> {
        regress::Regex::new(source)
            .map(|regex| Self {
                source: source.to_owned(),
                regex,
            })
            .map_err(|e| format!("invalid regular expression {source:?}: {e}"))
    }

    /// The expression as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the expression matches somewhere in `text`, as JavaScript's
    /// `new RegExp(pattern).test(text)` does in the SDKs: without the `u` flag the
    /// subject is a sequence of UTF-16 code units, so `.` matches one half of a
    /// surrogate pair and `/^.$/` does not match "😀". The same matcher as the
    /// bundle's `regex` conditions ([`crate::sdk::conditions::regex_test`]).
    #[must_use]
    pub fn is_match(&self, text: &str) -> bool {
        crate::sdk::conditions::regex_test(&self.regex, text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = String::deserialize(d)?;
        Self::new(&source).map_err(serde::de::Error::custom)
    }
}

/// One property of an event (or group, or nested object): its type and the rules a
/// value must follow, plus warehouse and documentation hints the engine keeps but does
/// not enforce (`dimension`, `measure`, `warehouseType`, `examples`, …).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PropertySchema {
    /// The JSON type.
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    /// Must be present on the event (or nested object).
    #[serde(default)]
    pub required: bool,
    /// Free text.
    pub description: Option<String>,
    /// Allowed values (scalars).
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<Value>>,
    /// A regular expression strings must match.
    pub pattern: Option<Pattern>,
    /// A built-in string format.
    pub format: Option<PropertyFormat>,
    /// Inclusive lower bound of numbers.
    pub minimum: Option<f64>,
    /// Inclusive upper bound of numbers.
    pub maximum: Option<f64>,
    /// Minimum string length, in Unicode code points.
    pub min_length: Option<u64>,
    /// Maximum string length, in Unicode code points.
    pub max_length: Option<u64>,
    /// Schema of array elements.
    pub items: Option<Box<PropertySchema>>,
    /// Minimum array length.
    pub min_items: Option<u64>,
    /// Maximum array length.
    pub max_items: Option<u64>,
    /// Keys of a nested object, in the order written.
    pub properties: Option<IndexMap<String, PropertySchema>>,
    /// Whether a nested object may carry keys not listed in `properties` (default: yes,
    /// as in JSON Schema).
    pub additional_properties: Option<bool>,
    /// A warehouse dimension for slicing metrics.
    #[serde(default)]
    pub dimension: bool,
    /// A warehouse measure (numbers).
    #[serde(default)]
    pub measure: bool,
    /// Display name of the measure.
    pub measure_display_name: Option<String>,
    /// Which way is good for the measure.
    pub desired_direction: Option<DesiredDirection>,
    /// Override of the inferred warehouse column type.
    pub warehouse_type: Option<String>,
    /// Default value, for documentation and code generation.
    pub default: Option<Value>,
    /// Example values, for documentation.
    pub examples: Option<Vec<Value>>,
}

impl PropertySchema {
    /// A bare schema of `property_type` with no rules, for building schemas in code.
    #[must_use]
    pub fn of(property_type: PropertyType) -> Self {
        Self {
            property_type,
            required: false,
            description: None,
            enum_values: None,
            pattern: None,
            format: None,
            minimum: None,
            maximum: None,
            min_length: None,
            max_length: None,
            items: None,
            min_items: None,
            max_items: None,
            properties: None,
            additional_properties: None,
            dimension: false,
            measure: false,
            measure_display_name: None,
            desired_direction: None,
            warehouse_type: None,
            default: None,
            examples: None,
        }
    }
}
