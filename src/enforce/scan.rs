//! The hot loop: one pass over the track table's `event`, `value` and `properties`
//! columns in fixed chunks of rows, in parallel, reduced in chunk order.
//!
//! A row's `properties` JSON text is parsed once, streaming: keys the event's schema
//! does not list are skipped without allocating, and only the listed ones become
//! values to check. The `value` column is read as a plain `f64` column.

use std::collections::HashMap;
use std::fmt;

use polars::prelude::*;
use rayon::prelude::*;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::discover::EventShape;
use super::fast::{scalar_ok, Found, FoundSeed};
use super::raw;
use crate::config::{
    check_value, missing, validate_property, EventSchema, ResolvedProperty, Rule,
    SchemaEnforcement, Violation,
};

/// Rows per parallel chunk: fixed, so results do not depend on the thread count.
const CHUNK_ROWS: usize = 32 * 1024;

/// The defined events, indexed.
pub(super) struct Plan<'c> {
    pub schemas: Vec<(&'c str, &'c EventSchema)>,
    index: HashMap<&'c str, usize>,
}

impl<'c> Plan<'c> {
    pub fn new(schemas: impl IntoIterator<Item = (&'c str, &'c EventSchema)>) -> Self {
        let schemas: Vec<_> = schemas.into_iter().collect();
        let index = schemas
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (*n, i))
            .collect();
        Self { schemas, index }
    }
}

/// What a scan found.
#[derive(Default)]
pub(super) struct Scan {
    /// Per defined event: rows checked (enforcement not `off`).
    pub checked: Vec<u64>,
    /// Per defined event: rows with at least one violation.
    pub invalid: Vec<u64>,
    /// Per defined event: rows seen, whatever the enforcement.
    pub seen: Vec<u64>,
    /// Violations by (event index, property path with array indices as `[]`, rule).
    pub counts: HashMap<(usize, String, Rule), u64>,
    /// Rows to reject (frame row index) with every violation, in row order.
    pub rejects: Vec<(usize, Vec<Violation>)>,
    /// Events without a definition, by name.
    pub undefined: HashMap<String, EventShape>,
}

impl Scan {
    pub(super) fn sized(n: usize) -> Self {
        Self {
            checked: vec![0; n],
            invalid: vec![0; n],
            seen: vec![0; n],
            ..Self::default()
        }
    }

    pub(super) fn merge(&mut self, other: Scan) {
        for (a, b) in [
            (&mut self.checked, other.checked),
            (&mut self.invalid, other.invalid),
            (&mut self.seen, other.seen),
        ] {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
        self.rejects.extend(other.rejects);
        for (name, shape) in other.undefined {
            self.undefined.entry(name).or_default().merge(shape);
        }
    }
}

/// Scans the whole track table.
pub(super) fn scan(tracks: &DataFrame, plan: &Plan<'_>) -> PolarsResult<Scan> {
    let event = tracks.column("event")?.as_materialized_series().str()?;
    let value = tracks.column("value")?.as_materialized_series().f64()?;
    let props = tracks
        .column("properties")?
        .as_materialized_series()
        .str()?;
    let n = tracks.height();
    let starts: Vec<usize> = (0..n).step_by(CHUNK_ROWS).collect();
    let parts: Vec<Scan> = starts
        .par_iter()
        .map(|&off| {
            let len = CHUNK_ROWS.min(n - off);
            let at = off as i64;
            scan_chunk(
                plan,
                off,
                &event.slice(at, len),
                &value.slice(at, len),
                &props.slice(at, len),
            )
        })
        .collect();
    let mut all = Scan::sized(plan.schemas.len());
    for p in parts {
        all.merge(p);
    }
    Ok(all)
}

fn scan_chunk(
    plan: &Plan<'_>,
    offset: usize,
    event: &StringChunked,
    value: &Float64Chunked,
    props: &StringChunked,
) -> Scan {
    let mut out = Scan::sized(plan.schemas.len());
    let mut found: Vec<(usize, Found<'_>)> = Vec::new();
    let mut slots: Vec<raw::Slot> = Vec::new();
    let mut cache = raw::PatternCache::default();
    let mut violations: Vec<Violation> = Vec::new();
    let mut last: Option<(&str, Option<usize>)> = None;
    let rows = event.iter().zip(value.iter()).zip(props.iter());
    for (r, ((name, value), props)) in rows.enumerate() {
        let Some(name) = name else { continue };
        // Events of one name often come in runs: skip the hash when it repeats.
        let idx = match last {
            Some((n, i)) if n == name => i,
            _ => {
                let i = plan.index.get(name).copied();
                last = Some((name, i));
                i
            }
        };
        let Some(i) = idx else {
            out.undefined
                .entry(name.to_owned())
                .or_default()
                .observe(value, props);
            continue;
        };
        out.seen[i] += 1;
        let schema = plan.schemas[i].1;
        if schema.enforcement == SchemaEnforcement::Off {
            continue;
        }
        out.checked[i] += 1;
        violations.clear();
        if raw::check_row(
            schema,
            value,
            props,
            &mut slots,
            &mut cache,
            &mut violations,
        )
        .is_none()
        {
            // Text the byte scanner does not judge: the serde path says what is wrong.
            violations.clear();
            check_row(schema, value, props, &mut found, &mut violations);
        }
        if violations.is_empty() {
            continue;
        }
        out.invalid[i] += 1;
        for v in &violations {
            *out.counts
                .entry((i, count_path(&v.path), v.rule))
                .or_default() += 1;
        }
        if schema.enforcement == SchemaEnforcement::Reject {
            out.rejects.push((offset + r, violations.clone()));
        }
    }
    out
}

/// `items[3].sku` → `items[].sku`: counts group by property, not by element.
fn count_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

/// The same violations, in the same order, as [`EventSchema::validate`] on the parsed
/// properties, without building the properties map.
pub(super) fn check_row<'a>(
    schema: &EventSchema,
    value: Option<f64>,
    props: Option<&'a str>,
    found: &mut Vec<(usize, Found<'a>)>,
    out: &mut Vec<Violation>,
) {
    if let Some(v) = value {
        if let Some(message) = check_value(schema.value_type, v) {
            out.push(Violation {
                path: "value".to_owned(),
                rule: Rule::ValueType,
                message,
            });
        }
    }
    found.clear();
    if let Some(text) = props {
        let mut de = serde_json::Deserializer::from_str(text);
        let known = Known {
            properties: &schema.properties,
            found,
        };
        if let Err(e) = known.deserialize(&mut de) {
            out.push(Violation {
                path: "properties".to_owned(),
                rule: Rule::Type,
                message: format!("expected an object of properties: {e}"),
            });
            return;
        }
    }
    // Stable: of repeated keys the last wins, as when parsing into a map.
    found.sort_by_key(|(i, _)| *i);
    let mut it = found.drain(..).peekable();
    for (i, (name, prop)) in schema.properties.iter().enumerate() {
        let mut present = None;
        while let Some((_, v)) = it.next_if(|(j, _)| *j == i) {
            present = Some(v);
        }
        match present {
            Some(v) if scalar_ok(&prop.schema, &v) == Some(true) => {}
            Some(v) => validate_property(&prop.schema, &v.into_value(), name, out),
            None if prop.schema.required => out.push(missing(name, name)),
            None => {}
        }
    }
}

/// Reads a properties object, keeping the values of listed keys with their index.
struct Known<'a, 'de> {
    properties: &'a indexmap::IndexMap<String, ResolvedProperty>,
    found: &'a mut Vec<(usize, Found<'de>)>,
}

impl<'de> DeserializeSeed<'de> for Known<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Known<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeyIndex(self.properties))? {
            match key {
                Some(i) => self.found.push((i, map.next_value_seed(FoundSeed)?)),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A key's index in the schema, without allocating the key.
struct KeyIndex<'a>(&'a indexmap::IndexMap<String, ResolvedProperty>);

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIndex<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a property name")
    }
    fn visit_str<E>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.get_index_of(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectConfig;
    use serde_json::Value;

    const CONFIG: &str = r#"
events:
  purchase:
    valueType: currency
    properties:
      order_id: { type: string, required: true, format: uuid }
      method: { type: string, enum: [card, paypal] }
      items:
        type: array
        items:
          type: object
          properties:
            sku: { type: string, required: true }
            qty: { type: integer, minimum: 1 }
"#;

    #[test]
    fn streaming_check_equals_the_map_validator() {
        let cfg = ProjectConfig::from_str_named(CONFIG, "c.yaml").unwrap();
        let schema = cfg.schema("purchase").unwrap();
        let cases = [
            (
                Some(1.0),
                Some(r#"{"order_id":"x","method":"cash","extra":[1,{"a":2}]}"#),
            ),
            (Some(f64::NAN), None),
            (
                None,
                Some(r#"{"items":[{"qty":0},{"sku":"a","qty":2}],"method":"card"}"#),
            ),
            (None, Some(r#"{"method":"card","method":"nope"}"#)),
            (None, Some(r#"{"order_id":null}"#)),
            (None, Some("{}")),
        ];
        for (value, props) in cases {
            let map =
                props.map(|p| serde_json::from_str::<serde_json::Map<String, Value>>(p).unwrap());
            let want = schema.validate(value, map.as_ref());
            let (mut found, mut got) = (Vec::new(), Vec::new());
            check_row(schema, value, props, &mut found, &mut got);
            assert_eq!(got, want, "{props:?}");
        }
    }

    #[test]
    fn count_paths_drop_array_indices() {
        assert_eq!(count_path("items[12].sku"), "items[].sku");
        assert_eq!(count_path("a.b"), "a.b");
    }
}
