//! Validation of one track event's `value` and `properties` against its event's
//! resolved schema: the per-event rule set the enforcement stage applies.
//!
//! Properties the schema does not list are allowed at the top level of an event (SDKs
//! attach context freely, and discovery reports them); nested objects refuse them only
//! with `additionalProperties: false`. A JSON `null` counts as present and of the wrong
//! type. Every violation is returned, not just the first, so reports can count them by
//! property and rule.

use std::fmt;

use serde_json::{Map, Number, Value};

use super::event::{EventSchema, ValueType};
use super::property::{PropertyFormat, PropertySchema};

/// The rule a value broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// Wrong JSON type.
    Type,
    /// A required property is missing.
    Required,
    /// Not one of the `enum` values.
    Enum,
    /// Does not match `pattern`.
    Pattern,
    /// Does not match `format`.
    Format,
    /// Below `minimum`.
    Minimum,
    /// Above `maximum`.
    Maximum,
    /// Shorter than `minLength`.
    MinLength,
    /// Longer than `maxLength`.
    MaxLength,
    /// Fewer elements than `minItems`.
    MinItems,
    /// More elements than `maxItems`.
    MaxItems,
    /// A key a closed object (`additionalProperties: false`) does not list.
    AdditionalProperties,
    /// The event's `value` does not fit its `valueType`.
    ValueType,
}

impl Rule {
    /// A stable snake_case code for reports (`missing_required`, `invalid_enum`, …).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Type => "invalid_type",
            Self::Required => "missing_required",
            Self::Enum => "invalid_enum",
            Self::Pattern => "pattern_mismatch",
            Self::Format => "invalid_format",
            Self::Minimum => "below_minimum",
            Self::Maximum => "above_maximum",
            Self::MinLength => "too_short",
            Self::MaxLength => "too_long",
            Self::MinItems => "too_few_items",
            Self::MaxItems => "too_many_items",
            Self::AdditionalProperties => "unexpected_property",
            Self::ValueType => "invalid_value",
        }
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One broken rule: where (`items[0].sku`, or `value`), which rule, and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Property path (`payment_method`, `items[0].sku`), or `value` for the event value.
    pub path: String,
    /// The rule.
    pub rule: Rule,
    /// What is wrong, for people.
    pub message: String,
}

impl EventSchema {
    /// Every violation of one track event: its `value` against the value type and its
    /// `properties` against the merged property schemas. Empty when the event is valid.
    /// Ignores [`EventSchema::enforcement`]; deciding what to do is the caller's job.
    #[must_use]
    pub fn validate(
        &self,
        value: Option<f64>,
        properties: Option<&Map<String, Value>>,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        if let Some(v) = value {
            if let Some(message) = check_value(self.value_type, v) {
                out.push(Violation {
                    path: "value".to_owned(),
                    rule: Rule::ValueType,
                    message,
                });
            }
        }
        let empty = Map::new();
        let props = properties.unwrap_or(&empty);
        for (name, prop) in &self.properties {
            match props.get(name) {
                Some(v) => validate_property(&prop.schema, v, name, &mut out),
                None if prop.schema.required => out.push(missing(name, name)),
                None => {}
            }
        }
        out
    }
}

/// Why `value` does not fit `value_type`, or `None` if it does.
#[must_use]
pub fn check_value(value_type: ValueType, value: f64) -> Option<String> {
    let ok = match value_type {
        ValueType::Currency => value.is_finite(),
        ValueType::Count => value.is_finite() && value >= 0.0 && value.fract() == 0.0,
        ValueType::Rate => (0.0..=1.0).contains(&value),
        ValueType::Boolean => value == 0.0 || value == 1.0,
    };
    (!ok).then(|| {
        let rule = match value_type {
            ValueType::Currency => "a finite amount",
            ValueType::Count => "a non-negative integer",
            ValueType::Rate => "a rate in [0, 1]",
            ValueType::Boolean => "0 or 1",
        };
        format!(
            "a {} value must be {rule}, found {}",
            value_type.as_str(),
            number(value)
        )
    })
}

/// Validates `value` against `schema`, appending violations under `path`.
pub fn validate_property(
    schema: &PropertySchema,
    value: &Value,
    path: &str,
    out: &mut Vec<Violation>,
) {
    if !schema.property_type.admits(value) {
        out.push(violation(
            path,
            Rule::Type,
            format!(
                "expected {}, found {}",
                article(schema.property_type.as_str()),
                value
            ),
        ));
        return;
    }
    if let Some(allowed) = &schema.enum_values {
        if !allowed.iter().any(|a| json_eq(a, value)) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            out.push(violation(
                path,
                Rule::Enum,
                format!("{value} is not one of {}", list.join(", ")),
            ));
        }
    }
    match value {
        Value::String(s) => check_string(schema, value, s, path, out),
        Value::Number(n) => check_number(schema, n, path, out),
        Value::Array(items) => check_array(schema, items, path, out),
        Value::Object(map) => check_object(schema, map, path, out),
        Value::Null | Value::Bool(_) => {}
    }
}

fn violation(path: &str, rule: Rule, message: String) -> Violation {
    Violation {
        path: path.to_owned(),
        rule,
        message,
    }
}

/// A string's pattern, format and length in characters; `value` is the string as
/// JSON, as messages quote it.
fn check_string(
    schema: &PropertySchema,
    value: &Value,
    s: &str,
    path: &str,
    out: &mut Vec<Violation>,
) {
    if let Some(p) = &schema.pattern {
        if !p.is_match(s) {
            out.push(violation(
                path,
                Rule::Pattern,
                format!("{value} does not match /{}/", p.as_str()),
            ));
        }
    }
    if let Some(f) = schema.format {
        if !matches_format(f, s) {
            out.push(violation(
                path,
                Rule::Format,
                format!("{value} is not a valid {}", f.as_str()),
            ));
        }
    }
    let len = s.chars().count() as u64;
    if let Some(min) = schema.min_length.filter(|&m| len < m) {
        out.push(violation(
            path,
            Rule::MinLength,
            format!("{len} characters, fewer than minLength {min}"),
        ));
    }
    if let Some(max) = schema.max_length.filter(|&m| len > m) {
        out.push(violation(
            path,
            Rule::MaxLength,
            format!("{len} characters, more than maxLength {max}"),
        ));
    }
}

/// A number's bounds.
fn check_number(schema: &PropertySchema, n: &Number, path: &str, out: &mut Vec<Violation>) {
    let x = n.as_f64().unwrap_or(f64::NAN);
    if let Some(min) = schema.minimum.filter(|&m| x < m) {
        out.push(violation(
            path,
            Rule::Minimum,
            format!("{n} is below the minimum {}", number(min)),
        ));
    }
    if let Some(max) = schema.maximum.filter(|&m| x > m) {
        out.push(violation(
            path,
            Rule::Maximum,
            format!("{n} is above the maximum {}", number(max)),
        ));
    }
}

/// An array's length, then each item against the item schema.
fn check_array(schema: &PropertySchema, items: &[Value], path: &str, out: &mut Vec<Violation>) {
    let len = items.len() as u64;
    if let Some(min) = schema.min_items.filter(|&m| len < m) {
        out.push(violation(
            path,
            Rule::MinItems,
            format!("{len} items, fewer than minItems {min}"),
        ));
    }
    if let Some(max) = schema.max_items.filter(|&m| len > m) {
        out.push(violation(
            path,
            Rule::MaxItems,
            format!("{len} items, more than maxItems {max}"),
        ));
    }
    if let Some(item_schema) = &schema.items {
        for (i, item) in items.iter().enumerate() {
            validate_property(item_schema, item, &format!("{path}[{i}]"), out);
        }
    }
}

/// An object's declared properties (present ones validated, missing required ones
/// reported), then the keys it may not have when closed.
fn check_object(
    schema: &PropertySchema,
    map: &Map<String, Value>,
    path: &str,
    out: &mut Vec<Violation>,
) {
    let declared = schema.properties.as_ref();
    if let Some(declared) = declared {
        for (key, sub) in declared {
            let sub_path = format!("{path}.{key}");
            match map.get(key) {
                Some(v) => validate_property(sub, v, &sub_path, out),
                None if sub.required => out.push(missing(&sub_path, key)),
                None => {}
            }
        }
    }
    if schema.additional_properties == Some(false) {
        for key in map.keys() {
            if !declared.is_some_and(|d| d.contains_key(key)) {
                out.push(violation(
                    &format!("{path}.{key}"),
                    Rule::AdditionalProperties,
                    format!("property \"{key}\" is not allowed here"),
                ));
            }
        }
    }
}

pub(crate) fn missing(path: &str, key: &str) -> Violation {
    Violation {
        path: path.to_owned(),
        rule: Rule::Required,
        message: format!("required property \"{key}\" is missing"),
    }
}

fn article(type_name: &str) -> String {
    match type_name {
        "integer" | "array" | "object" => format!("an {type_name}"),
        "boolean" => "true or false".to_owned(),
        _ => format!("a {type_name}"),
    }
}

/// Numbers print without a trailing `.0` when whole, as people write them.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        x.to_string()
    }
}

/// JSON equality, except that numbers compare by value (`1` equals `1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Whether `s` is in `format`. Deliberately simple, like the platform's edge: these
/// catch swapped fields and typos, not every corner of the RFCs.
#[must_use]
pub fn matches_format(format: PropertyFormat, s: &str) -> bool {
    match format {
        PropertyFormat::DateTime => crate::time::parse_rfc3339(s).is_some(),
        PropertyFormat::Uuid => is_uuid(s),
        PropertyFormat::Email => is_email(s),
        PropertyFormat::Uri => is_uri(s),
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !s.chars().any(char::is_whitespace)
        && !domain.contains('@')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
        && domain.contains('.')
}

fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
