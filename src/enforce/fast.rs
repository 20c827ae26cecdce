//! The allocation-free path for scalar properties: a string, number or boolean is
//! read borrowed from the JSON text and checked with a yes/no version of the rules.
//! Only a value that fails is turned into a [`Value`] and handed to
//! [`validate_property`](crate::config::validate_property), so messages have one
//! source. `scalar_ok(s, v)` must equal `validate_property(s, v).is_empty()`; the
//! tests below hold it to that.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::config::{matches_format, PropertySchema, PropertyType};

/// A property value as read: scalars borrowed where the text allows, the rest parsed.
#[derive(Debug)]
pub(super) enum Found<'a> {
    Str(Cow<'a, str>),
    Num(Number),
    Bool(bool),
    Null,
    Json(Value),
}

impl Found<'_> {
    pub fn into_value(self) -> Value {
        match self {
            Self::Str(s) => Value::String(s.into_owned()),
            Self::Num(n) => Value::Number(n),
            Self::Bool(b) => Value::Bool(b),
            Self::Null => Value::Null,
            Self::Json(v) => v,
        }
    }
}

/// Reads one value as [`Found`].
pub(super) struct FoundSeed;

impl<'de> DeserializeSeed<'de> for FoundSeed {
    type Value = Found<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Found<'de>, D::Error> {
        d.deserialize_any(FoundVisitor)
    }
}

struct FoundVisitor;

impl<'de> Visitor<'de> for FoundVisitor {
    type Value = Found<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Found<'de>, E> {
        Ok(Found::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Found<'de>, E> {
        Ok(Found::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Found<'de>, E> {
        Ok(Found::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Found<'de>, E> {
        Ok(Found::Num(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Found<'de>, E> {
        Ok(Found::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Found<'de>, E> {
        Ok(Number::from_f64(v).map_or(Found::Null, Found::Num))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Found<'de>, E> {
        Ok(Found::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Found<'de>, E> {
        Ok(Found::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Found<'de>, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Found::Json)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Found<'de>, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Found::Json)
    }
}

/// Whether a scalar passes every rule of `s`; `None` for values this path does not
/// judge (arrays, objects), which go to the full validator.
pub(super) fn scalar_ok(s: &PropertySchema, v: &Found<'_>) -> Option<bool> {
    let type_ok = match (s.property_type, v) {
        (PropertyType::String, Found::Str(_))
        | (PropertyType::Number, Found::Num(_))
        | (PropertyType::Boolean, Found::Bool(_)) => true,
        (PropertyType::Integer, Found::Num(n)) => n.as_f64().is_some_and(|x| x.fract() == 0.0),
        (_, Found::Json(_)) => return None,
        _ => false,
    };
    if !type_ok {
        return Some(false);
    }
    if let Some(allowed) = &s.enum_values {
        let hit = allowed.iter().any(|a| match (a, v) {
            (Value::String(a), Found::Str(t)) => a == t,
            (Value::Number(a), Found::Num(n)) => a.as_f64() == n.as_f64(),
            (Value::Bool(a), Found::Bool(b)) => a == b,
            _ => false,
        });
        if !hit {
            return Some(false);
        }
    }
    Some(match v {
        Found::Str(t) => {
            s.pattern.as_ref().is_none_or(|p| p.is_match(t))
                && s.format.is_none_or(|f| matches_format(f, t))
                && (s.min_length.is_none() && s.max_length.is_none() || {
                    let len = t.chars().count() as u64;
                    s.min_length.is_none_or(|m| len >= m) && s.max_length.is_none_or(|m| len <= m)
                })
        }
        Found::Num(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            !s.minimum.is_some_and(|m| x < m) && !s.maximum.is_some_and(|m| x > m)
        }
        Found::Bool(_) | Found::Null | Found::Json(_) => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate_property, Pattern, PropertyFormat};

    fn schemas() -> Vec<PropertySchema> {
        let mut out = Vec::new();
        for t in [
            PropertyType::String,
            PropertyType::Number,
            PropertyType::Integer,
            PropertyType::Boolean,
        ] {
            out.push(PropertySchema::of(t));
        }
        let mut s = PropertySchema::of(PropertyType::String);
        s.enum_values = Some(vec![Value::from("a"), Value::from("é")]);
        out.push(s);
        let mut s = PropertySchema::of(PropertyType::String);
        s.pattern = Some(Pattern::new("^[A-Z]{3}$").unwrap());
        s.min_length = Some(2);
        s.max_length = Some(3);
        out.push(s);
        let mut s = PropertySchema::of(PropertyType::String);
        s.format = Some(PropertyFormat::Uuid);
        out.push(s);
        let mut s = PropertySchema::of(PropertyType::Integer);
        s.minimum = Some(1.0);
        s.maximum = Some(5.0);
        s.enum_values = Some(vec![Value::from(1), Value::from(2.0), Value::from(7)]);
        out.push(s);
        let mut s = PropertySchema::of(PropertyType::Number);
        s.minimum = Some(-0.5);
        out.push(s);
        let mut s = PropertySchema::of(PropertyType::Boolean);
        s.enum_values = Some(vec![Value::Bool(true)]);
        out.push(s);
        out
    }

    const VALUES: &[&str] = &[
        r#""a""#,
        r#""\u00e9""#,
        r#""é""#,
        r#""USD""#,
        r#""usd""#,
        r#""USDX""#,
        r#""U""#,
        r#""0b9f0f3e-3c1a-4d8e-9d7b-2f4c1c2b9a10""#,
        "1",
        "2.0",
        "2.5",
        "7",
        "-1",
        "-0.5",
        "0",
        "1e3",
        "true",
        "false",
        "null",
        "[1]",
        r#"{"a":1}"#,
        "18446744073709551615",
    ];

    #[test]
    fn scalar_check_agrees_with_the_full_validator() {
        for s in schemas() {
            for text in VALUES {
                let mut de = serde_json::Deserializer::from_str(text);
                let found = FoundSeed.deserialize(&mut de).unwrap();
                let value: Value = serde_json::from_str(text).unwrap();
                let mut v = Vec::new();
                validate_property(&s, &value, "p", &mut v);
                if let Some(ok) = scalar_ok(&s, &found) {
                    assert_eq!(ok, v.is_empty(), "{text} against {s:?}: {v:?}");
                }
                assert_eq!(found.into_value(), value, "{text}");
            }
        }
    }
}
