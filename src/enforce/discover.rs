//! Auto-discovery: track events whose name has no definition are described from the
//! data, as `events:` entries of `config.yaml`, ready to review and paste.
//!
//! Inference, per event:
//!
//! - `valueType`: `count` when no value was sent or every value is a non-negative
//!   integer; `rate` when every value is in [0, 1] and some are fractional; otherwise
//!   `currency`. `boolean` is never inferred: 0/1 values cannot be told from counts.
//! - per property (nested objects and array elements too): the JSON type seen, with
//!   `integer` when every number is whole and `number` otherwise; with several types
//!   the most frequent wins and the description lists them all. `required: true` when
//!   the property was present, and never `null`, in every event (or object) seen.
//! - nesting deeper than [`MAX_DEPTH`] levels is described as a bare `object`/`array`.

use std::collections::BTreeMap;
use std::fmt::Write;

use indexmap::IndexMap;
use serde_json::Value;

use crate::config::{EventDefinition, PropertySchema, PropertyType, SchemaEnforcement, ValueType};

/// Levels of nesting described before objects and arrays are left bare.
pub const MAX_DEPTH: usize = 6;

/// What was seen of one JSON position across events.
#[derive(Clone, Debug, Default)]
pub(super) struct Shape {
    present: u64,
    strings: u64,
    integers: u64,
    fractions: u64,
    booleans: u64,
    nulls: u64,
    arrays: u64,
    objects: u64,
    children: BTreeMap<String, Shape>,
    items: Option<Box<Shape>>,
}

impl Shape {
    fn observe(&mut self, v: &Value, depth: usize) {
        self.present += 1;
        match v {
            Value::Null => self.nulls += 1,
            Value::Bool(_) => self.booleans += 1,
            Value::Number(n) => {
                if n.as_f64().is_some_and(|x| x.fract() == 0.0) {
                    self.integers += 1;
                } else {
                    self.fractions += 1;
                }
            }
            Value::String(_) => self.strings += 1,
            Value::Array(items) => {
                self.arrays += 1;
                if depth < MAX_DEPTH {
                    let shape = self.items.get_or_insert_with(Box::default);
                    for item in items {
                        shape.observe(item, depth + 1);
                    }
                }
            }
            Value::Object(map) => {
                self.objects += 1;
                if depth < MAX_DEPTH {
                    self.observe_keys(map, depth);
                }
            }
        }
    }

    fn observe_keys(&mut self, map: &serde_json::Map<String, Value>, depth: usize) {
        for (k, v) in map {
            self.children
                .entry(k.clone())
                .or_default()
                .observe(v, depth + 1);
        }
    }

    fn merge(&mut self, o: Shape) {
        self.present += o.present;
        self.strings += o.strings;
        self.integers += o.integers;
        self.fractions += o.fractions;
        self.booleans += o.booleans;
        self.nulls += o.nulls;
        self.arrays += o.arrays;
        self.objects += o.objects;
        for (k, s) in o.children {
            self.children.entry(k).or_default().merge(s);
        }
        if let Some(items) = o.items {
            match &mut self.items {
                Some(mine) => mine.merge(*items),
                None => self.items = Some(items),
            }
        }
    }

    /// The schema of this position, given how many parents (events or objects) were seen.
    fn schema(&self, parents: u64) -> PropertySchema {
        let kinds = [
            (PropertyType::String, self.strings),
            (PropertyType::Number, self.integers + self.fractions),
            (PropertyType::Boolean, self.booleans),
            (PropertyType::Array, self.arrays),
            (PropertyType::Object, self.objects),
        ];
        let seen: Vec<_> = kinds.iter().filter(|(_, n)| *n > 0).collect();
        let mut ty = seen
            .iter()
            .fold(None, |best: Option<&(PropertyType, u64)>, k| match best {
                Some(b) if b.1 >= k.1 => Some(b),
                _ => Some(k),
            })
            .map_or(PropertyType::String, |k| k.0);
        if ty == PropertyType::Number && self.fractions == 0 {
            ty = PropertyType::Integer;
        }
        let mut s = PropertySchema::of(ty);
        s.required = self.present == parents && self.nulls == 0 && parents > 0;
        let mut notes = Vec::new();
        if seen.len() > 1 {
            let list: Vec<String> = seen
                .iter()
                .map(|(t, n)| format!("{} {n}", t.as_str()))
                .collect();
            notes.push(format!("mixed types seen: {}", list.join(", ")));
        }
        if self.nulls > 0 {
            notes.push(format!("null seen {} times", self.nulls));
        }
        if !notes.is_empty() {
            s.description = Some(notes.join("; "));
        }
        match ty {
            PropertyType::Object if !self.children.is_empty() => {
                s.properties = Some(
                    self.children
                        .iter()
                        .map(|(k, c)| (k.clone(), c.schema(self.objects)))
                        .collect(),
                );
            }
            PropertyType::Array => {
                if let Some(items) = self.items.as_ref().filter(|i| i.present > 0) {
                    let mut item = items.schema(items.present);
                    item.required = false;
                    s.items = Some(Box::new(item));
                }
            }
            _ => {}
        }
        s
    }
}

/// What was seen of one undefined event.
#[derive(Clone, Debug, Default)]
pub(super) struct EventShape {
    count: u64,
    values: u64,
    negative: bool,
    fractional: bool,
    above_one: bool,
    properties: Shape,
}

impl EventShape {
    pub(super) fn observe(&mut self, value: Option<f64>, properties: Option<&str>) {
        self.count += 1;
        if let Some(v) = value {
            self.values += 1;
            self.negative |= v < 0.0;
            self.fractional |= v.fract() != 0.0;
            self.above_one |= v > 1.0;
        }
        // The loader wrote this text from a parsed object; anything else is skipped.
        if let Some(Ok(Value::Object(map))) = properties.map(serde_json::from_str::<Value>) {
            self.properties.observe_keys(&map, 0);
        }
    }

    pub(super) fn merge(&mut self, o: EventShape) {
        self.count += o.count;
        self.values += o.values;
        self.negative |= o.negative;
        self.fractional |= o.fractional;
        self.above_one |= o.above_one;
        self.properties.merge(o.properties);
    }

    fn value_type(&self) -> ValueType {
        if self.negative || (self.fractional && self.above_one) {
            ValueType::Currency
        } else if self.fractional {
            ValueType::Rate
        } else {
            ValueType::Count
        }
    }

    pub(super) fn into_discovered(self) -> DiscoveredEvent {
        let properties: IndexMap<String, PropertySchema> = self
            .properties
            .children
            .iter()
            .map(|(k, s)| (k.clone(), s.schema(self.count)))
            .collect();
        DiscoveredEvent {
            count: self.count,
            definition: EventDefinition {
                value_type: self.value_type(),
                unit: None,
                description: Some(format!(
                    "Discovered from {} track event{} without a definition; review before use.",
                    self.count,
                    if self.count == 1 { "" } else { "s" }
                )),
                schema_version: None,
                schema_enforcement: SchemaEnforcement::default(),
                properties,
                property_groups: Vec::new(),
            },
        }
    }
}

/// One discovered event: how often it was seen and the definition inferred for it.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoveredEvent {
    /// Track events of this name in the data.
    pub count: u64,
    /// The inferred definition (value type and property types).
    pub definition: EventDefinition,
}

/// Every discovered event, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Discovered {
    /// By event name, in name order.
    pub events: BTreeMap<String, DiscoveredEvent>,
}

impl Discovered {
    /// Whether no undefined event was seen.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The `discovered.yaml` text: a config file with only an `events:` section, in
    /// name order, properties in name order; it loads with
    /// [`ProjectConfig::from_str_named`](crate::config::ProjectConfig::from_str_named).
    #[must_use]
    pub fn to_yaml(&self) -> String {
        let mut s = String::from(
            "# Track events seen without a definition in config.yaml, described from the\n\
             # data by bandit-engine. Review, then paste under `events:`.\n",
        );
        if self.events.is_empty() {
            s.push_str("events: {}\n");
            return s;
        }
        s.push_str("events:\n");
        for (name, e) in &self.events {
            let d = &e.definition;
            let _ = writeln!(s, "  {}:", key(name));
            let _ = writeln!(s, "    valueType: {}", d.value_type.as_str());
            if let Some(desc) = &d.description {
                let _ = writeln!(s, "    description: {}", quoted(desc));
            }
            write_properties(&mut s, &d.properties, 4);
        }
        s
    }
}

fn write_properties(s: &mut String, props: &IndexMap<String, PropertySchema>, indent: usize) {
    if props.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(s, "{pad}properties:");
    for (name, p) in props {
        let _ = writeln!(s, "{pad}  {}:", key(name));
        write_schema(s, p, indent + 4);
    }
}

fn write_schema(s: &mut String, p: &PropertySchema, indent: usize) {
    let pad = " ".repeat(indent);
    let _ = writeln!(s, "{pad}type: {}", p.property_type.as_str());
    if p.required {
        let _ = writeln!(s, "{pad}required: true");
    }
    if let Some(desc) = &p.description {
        let _ = writeln!(s, "{pad}description: {}", quoted(desc));
    }
    if let Some(items) = &p.items {
        let _ = writeln!(s, "{pad}items:");
        write_schema(s, items, indent + 2);
    }
    if let Some(props) = &p.properties {
        write_properties(s, props, indent);
    }
}

/// A JSON string is a YAML double-quoted scalar.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings always serialise")
}

/// Plain when it is an identifier YAML reads as a string, quoted otherwise.
fn key(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            name.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain {
        name.to_owned()
    } else {
        quoted(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProjectConfig;
    use proptest::prelude::*;

    fn discover(rows: &[(Option<f64>, &str)]) -> DiscoveredEvent {
        let mut shape = EventShape::default();
        for (v, p) in rows {
            shape.observe(*v, Some(p));
        }
        shape.into_discovered()
    }

    #[test]
    fn value_types_are_inferred_from_the_values() {
        let vt = |vals: &[f64]| {
            let rows: Vec<_> = vals.iter().map(|v| (Some(*v), "{}")).collect();
            discover(&rows).definition.value_type
        };
        assert_eq!(vt(&[]), ValueType::Count);
        assert_eq!(vt(&[0.0, 1.0, 3.0]), ValueType::Count);
        assert_eq!(vt(&[0.5, 1.0]), ValueType::Rate);
        assert_eq!(vt(&[12.5, 3.0]), ValueType::Currency);
        assert_eq!(vt(&[-2.0]), ValueType::Currency);
    }

    #[test]
    fn property_types_and_required_follow_the_data() {
        let d = discover(&[
            (None, r#"{"path":"/a","n":1,"tags":["x"],"o":{"k":true}}"#),
            (None, r#"{"path":"/b","n":1.5,"o":{"k":false,"z":null}}"#),
        ]);
        let p = &d.definition.properties;
        assert_eq!(p["path"].property_type, PropertyType::String);
        assert!(p["path"].required);
        assert_eq!(p["n"].property_type, PropertyType::Number);
        assert!(!p["tags"].required);
        assert_eq!(
            p["tags"].items.as_ref().unwrap().property_type,
            PropertyType::String
        );
        let o = p["o"].properties.as_ref().unwrap();
        assert!(o["k"].required);
        assert!(!o["z"].required);
        assert_eq!(o["z"].description.as_deref(), Some("null seen 1 times"));
    }

    fn json_leaf() -> impl proptest::strategy::Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-1000i64..1000).prop_map(Value::from),
            (-10.0f64..10.0).prop_map(Value::from),
            ".{0,6}".prop_map(Value::from),
        ]
    }

    proptest::proptest! {
        /// Any names and shapes: the YAML is valid config and says what was inferred.
        #[test]
        fn any_discovered_yaml_loads_back(
            names in proptest::collection::vec(".{1,8}", 1..4),
            rows in proptest::collection::vec(
                proptest::collection::btree_map(".{1,6}", json_leaf().prop_recursive(2, 8, 3, |inner| {
                    prop_oneof![
                        proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                        proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                            .prop_map(|m| Value::Object(m.into_iter().collect())),
                    ]
                }), 0..4),
                1..5,
            ),
        ) {
            let mut all = Discovered::default();
            for (i, name) in names.iter().enumerate() {
                let mut shape = EventShape::default();
                for row in rows.iter().skip(i % rows.len()) {
                    let text = serde_json::to_string(row).unwrap();
                    shape.observe(Some(i as f64), Some(&text));
                }
                all.events.insert(name.clone(), shape.into_discovered());
            }
            let text = all.to_yaml();
            let cfg = ProjectConfig::from_str_named(&text, "discovered.yaml");
            proptest::prop_assert!(cfg.is_ok(), "{:?}\n{}", cfg.err(), text);
            let cfg = cfg.unwrap();
            for (name, e) in &all.events {
                proptest::prop_assert_eq!(&cfg.events[name], &e.definition);
            }
        }
    }

    #[test]
    fn discovered_yaml_loads_back_as_the_same_definitions() {
        let mut all = Discovered::default();
        all.events.insert(
            "page viewed".into(),
            discover(&[(Some(1.0), r#"{"true":"x","items":[{"a":1}],"on":[]}"#)]),
        );
        all.events
            .insert("signup".into(), discover(&[(None, r#"{"m":"x"}"#)]));
        let text = all.to_yaml();
        let cfg = ProjectConfig::from_str_named(&text, "discovered.yaml").unwrap();
        for (name, e) in &all.events {
            assert_eq!(cfg.events[name], e.definition, "{text}");
        }
    }
}
