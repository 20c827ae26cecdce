//! Checks that need more than one node at a time (a default against its type, a group
//! reference against the declared groups, bounds against each other), run after
//! deserialization, each error placed at the key path it is about.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde_json::Value;

use super::event::{EventSchema, PropertySource, ResolvedProperty};
use super::parameter::{Constraints, Parameter, ParameterType};
use super::property::{PropertySchema, PropertyType};
use super::validate::{json_eq, validate_property};
use super::yaml::{join, unknown, Located, Spans};
use super::ProjectConfig;

type Checked<T = ()> = Result<T, Located>;

/// Runs every check and resolves each event's schema. Every problem is reported, not
/// only the first: checks run per parameter, group property, event and optimised
/// policy, and one failing does not stop the others (within one of them the first
/// problem is reported). Sorted by position.
pub(super) fn check(
    cfg: &ProjectConfig,
    spans: &Spans,
) -> Result<BTreeMap<String, EventSchema>, Vec<Located>> {
    let mut errs: Vec<Located> = Vec::new();
    let mut keep = |r: Checked| {
        if let Err(e) = r {
            errs.push(e);
        }
    };
    if let Some(v) = &cfg.version {
        if v != "1.0" {
            keep(Err(spans.locate(
                "version",
                format!("unsupported version {v:?} (this engine reads \"1.0\")"),
            )));
        }
    }
    if let Some(p) = &cfg.project {
        keep(id_prefix(spans, "project.id", &p.id, "proj_"));
        keep(id_prefix(spans, "project.orgId", &p.org_id, "org_"));
    }
    check_parameters(cfg, spans, &mut keep);
    check_property_groups(cfg, spans, &mut keep);
    let schemas = check_events(cfg, spans, &mut keep);
    for (policy, spec) in &cfg.optimization {
        keep(spec.validate(policy, &cfg.events, spans));
        keep(
            spec.goal
                .validate_source(policy, schemas.get(&spec.goal.event), spans),
        );
    }
    if errs.is_empty() {
        Ok(schemas)
    } else {
        errs.sort_by_key(|e| (e.line, e.column));
        errs.dedup();
        Err(errs)
    }
}

/// Each property group's schema version and property schemas.
fn check_property_groups(cfg: &ProjectConfig, spans: &Spans, keep: &mut impl FnMut(Checked)) {
    for (name, group) in &cfg.property_groups {
        let path = join("propertyGroups", name);
        keep(schema_version(
            spans,
            &path,
            group.schema_version.as_deref(),
        ));
        for (prop, schema) in &group.properties {
            keep(check_schema(
                spans,
                &join(&join(&path, "properties"), prop),
                schema,
            ));
        }
    }
}

/// Each event's schema version and property schemas, and its properties with its
/// groups merged in: the resolved schemas of the events that resolve.
fn check_events(
    cfg: &ProjectConfig,
    spans: &Spans,
    keep: &mut impl FnMut(Checked),
) -> BTreeMap<String, EventSchema> {
    let mut schemas = BTreeMap::new();
    for (name, event) in &cfg.events {
        let path = join("events", name);
        keep(schema_version(
            spans,
            &path,
            event.schema_version.as_deref(),
        ));
        for (prop, schema) in &event.properties {
            keep(check_schema(
                spans,
                &join(&join(&path, "properties"), prop),
                schema,
            ));
        }
        match resolve_event(cfg, spans, &path, event) {
            Ok(properties) => {
                schemas.insert(
                    name.clone(),
                    EventSchema {
                        value_type: event.value_type,
                        enforcement: event.schema_enforcement,
                        properties,
                    },
                );
            }
            Err(e) => keep(Err(e)),
        }
    }
    schemas
}

/// An event's properties with its groups merged in (see [`EventSchema`]).
fn resolve_event(
    cfg: &ProjectConfig,
    spans: &Spans,
    path: &str,
    event: &super::EventDefinition,
) -> Checked<IndexMap<String, ResolvedProperty>> {
    let mut merged: IndexMap<String, ResolvedProperty> = IndexMap::new();
    for (i, group) in event.property_groups.iter().enumerate() {
        let at = format!("{path}.propertyGroups[{i}]");
        let Some(def) = cfg.property_groups.get(group) else {
            let names: Vec<&str> = cfg.property_groups.keys().map(String::as_str).collect();
            return Err(spans.locate(at, unknown("property group", group, &names)));
        };
        for (prop, schema) in &def.properties {
            merge(
                &mut merged,
                prop,
                schema,
                PropertySource::Group(group.clone()),
            )
            .map_err(|reason| spans.locate(at.clone(), reason))?;
        }
    }
    for (prop, schema) in &event.properties {
        merge(&mut merged, prop, schema, PropertySource::Event)
            .map_err(|reason| spans.locate(format!("{path}.properties.{prop}.type"), reason))?;
    }
    Ok(merged)
}

fn merge(
    merged: &mut IndexMap<String, ResolvedProperty>,
    name: &str,
    schema: &PropertySchema,
    source: PropertySource,
) -> Result<(), String> {
    if let Some(prev) = merged.get(name) {
        if prev.schema.property_type != schema.property_type {
            return Err(format!(
                "property \"{name}\" is {} in {} but {} in {}",
                with_article(prev.schema.property_type),
                prev.source,
                with_article(schema.property_type),
                source
            ));
        }
    }
    merged.insert(
        name.to_owned(),
        ResolvedProperty {
            schema: schema.clone(),
            source,
        },
    );
    Ok(())
}

fn with_article(t: PropertyType) -> String {
    match t {
        PropertyType::Integer | PropertyType::Array | PropertyType::Object => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

fn id_prefix(spans: &Spans, path: &str, id: &str, prefix: &str) -> Checked {
    if id.starts_with(prefix) {
        Ok(())
    } else {
        Err(spans.locate(
            path,
            format!("expected an id starting with \"{prefix}\", found {id:?}"),
        ))
    }
}

fn schema_version(spans: &Spans, path: &str, v: Option<&str>) -> Checked {
    let Some(v) = v else { return Ok(()) };
    let parts: Vec<&str> = v.split('-').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(spans.locate(
            join(path, "schemaVersion"),
            format!("expected a SchemaVer such as \"1-0-0\", found {v:?}"),
        ))
    }
}

fn check_parameters(cfg: &ProjectConfig, spans: &Spans, keep: &mut impl FnMut(Checked)) {
    for (key, p) in &cfg.parameters {
        keep(check_parameter(spans, &join("parameters", key), p));
    }
    for (ns, block) in &cfg.namespaces {
        let path = join(&join("namespaces", ns), "parameters");
        for (key, p) in &block.parameters {
            let at = join(&path, key);
            keep(check_parameter(spans, &at, p));
            if let Some(declared) = p.namespace.as_deref().filter(|d| d != ns) {
                keep(Err(spans.locate(
                    join(&at, "namespace"),
                    format!("namespace {declared:?} contradicts the enclosing namespace {ns:?}"),
                )));
            }
            let full = format!("{ns}.{key}");
            if cfg.parameters.contains_key(&full) {
                keep(Err(spans.locate(
                    at,
                    format!("parameter \"{full}\" is also declared under parameters:"),
                )));
            }
        }
    }
}

fn check_parameter(spans: &Spans, path: &str, p: &Parameter) -> Checked {
    let t = p.parameter_type;
    let at = |key: &str| join(path, key);
    if !t.admits(&p.default) {
        return Err(spans.locate(
            at("default"),
            format!(
                "expected {} (type: {}), found {}",
                t.expected(),
                t.as_str(),
                p.default
            ),
        ));
    }
    let Some(c) = &p.constraints else {
        return Ok(());
    };
    check_constraints(spans, path, t, c)?;
    let d = &p.default;
    match default_breaks(c, d) {
        Some(why) => Err(spans.locate(at("default"), format!("default {d} {why}"))),
        None => Ok(()),
    }
}

/// A parameter's constraints: each applies to its type, the bounds are ordered and
/// the allowed values are of the type.
fn check_constraints(spans: &Spans, path: &str, t: ParameterType, c: &Constraints) -> Checked {
    let c_at = |key: &str| join(&join(path, "constraints"), key);
    let applies = |key: &str, ok: bool, to: &str| -> Checked {
        if ok {
            Ok(())
        } else {
            Err(spans.locate(
                c_at(key),
                format!("{key} applies to {to} parameters, not type: {}", t.as_str()),
            ))
        }
    };
    applies(
        "min",
        c.min.is_none() || t == ParameterType::Number,
        "number",
    )?;
    applies(
        "max",
        c.max.is_none() || t == ParameterType::Number,
        "number",
    )?;
    applies(
        "pattern",
        c.pattern.is_none() || t == ParameterType::String,
        "string",
    )?;
    applies(
        "allowedValues",
        c.allowed_values.is_none() || matches!(t, ParameterType::String | ParameterType::Number),
        "string and number",
    )?;
    if let (Some(min), Some(max)) = (c.min, c.max) {
        if min > max {
            return Err(spans.locate(c_at("min"), format!("min {min} is above max {max}")));
        }
    }
    if let Some(allowed) = &c.allowed_values {
        for (i, v) in allowed.iter().enumerate() {
            if !t.admits(v) {
                return Err(spans.locate(
                    format!("{}[{i}]", c_at("allowedValues")),
                    format!("expected {}, found {v}", t.expected()),
                ));
            }
        }
    }
    Ok(())
}

/// How the default `d` breaks the constraints, if it does: a bound, the pattern, or
/// the allowed values.
fn default_breaks(c: &Constraints, d: &Value) -> Option<String> {
    match d {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            c.min
                .filter(|&m| x < m)
                .map(|m| format!("is below min {m}"))
                .or_else(|| {
                    c.max
                        .filter(|&m| x > m)
                        .map(|m| format!("is above max {m}"))
                })
        }
        Value::String(s) => c
            .pattern
            .as_ref()
            .filter(|p| !p.is_match(s))
            .map(|p| format!("does not match /{}/", p.as_str())),
        _ => None,
    }
    .or_else(|| {
        c.allowed_values
            .as_ref()
            .filter(|a| !a.iter().any(|v| json_eq(v, d)))
            .map(|_| "is not in allowedValues".to_owned())
    })
}

/// Keywords that only make sense for some types.
const APPLIES: &[(&str, &[PropertyType])] = &[
    ("pattern", &[PropertyType::String]),
    ("format", &[PropertyType::String]),
    ("minLength", &[PropertyType::String]),
    ("maxLength", &[PropertyType::String]),
    ("minimum", &[PropertyType::Number, PropertyType::Integer]),
    ("maximum", &[PropertyType::Number, PropertyType::Integer]),
    ("measure", &[PropertyType::Number, PropertyType::Integer]),
    (
        "measureDisplayName",
        &[PropertyType::Number, PropertyType::Integer],
    ),
    (
        "desiredDirection",
        &[PropertyType::Number, PropertyType::Integer],
    ),
    ("items", &[PropertyType::Array]),
    ("minItems", &[PropertyType::Array]),
    ("maxItems", &[PropertyType::Array]),
    ("properties", &[PropertyType::Object]),
    ("additionalProperties", &[PropertyType::Object]),
    (
        "enum",
        &[
            PropertyType::String,
            PropertyType::Number,
            PropertyType::Integer,
            PropertyType::Boolean,
        ],
    ),
];

fn present(s: &PropertySchema, keyword: &str) -> bool {
    match keyword {
        "pattern" => s.pattern.is_some(),
        "format" => s.format.is_some(),
        "minLength" => s.min_length.is_some(),
        "maxLength" => s.max_length.is_some(),
        "minimum" => s.minimum.is_some(),
        "maximum" => s.maximum.is_some(),
        "measure" => s.measure,
        "measureDisplayName" => s.measure_display_name.is_some(),
        "desiredDirection" => s.desired_direction.is_some(),
        "items" => s.items.is_some(),
        "minItems" => s.min_items.is_some(),
        "maxItems" => s.max_items.is_some(),
        "properties" => s.properties.is_some(),
        "additionalProperties" => s.additional_properties.is_some(),
        "enum" => s.enum_values.is_some(),
        _ => false,
    }
}

fn check_schema(spans: &Spans, path: &str, s: &PropertySchema) -> Checked {
    let t = s.property_type;
    for (keyword, types) in APPLIES {
        if present(s, keyword) && !types.contains(&t) {
            let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
            return Err(spans.locate(
                join(path, keyword),
                format!(
                    "{keyword} applies to {} properties, not type: {t}",
                    names.join(" and ")
                ),
            ));
        }
    }
    let bounds = [
        ("minimum", s.minimum, "maximum", s.maximum),
        (
            "minLength",
            s.min_length.map(|x| x as f64),
            "maxLength",
            s.max_length.map(|x| x as f64),
        ),
        (
            "minItems",
            s.min_items.map(|x| x as f64),
            "maxItems",
            s.max_items.map(|x| x as f64),
        ),
    ];
    for (lo_key, lo, hi_key, hi) in bounds {
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo > hi {
                return Err(spans.locate(
                    join(path, lo_key),
                    format!("{lo_key} {lo} is above {hi_key} {hi}"),
                ));
            }
        }
    }
    if let Some(values) = &s.enum_values {
        for (i, v) in values.iter().enumerate() {
            if !t.admits(v) {
                return Err(spans.locate(
                    format!("{path}.enum[{i}]"),
                    format!("{v} is not of type {t}"),
                ));
            }
        }
    }
    check_samples(spans, path, s)?;
    if let Some(items) = &s.items {
        check_schema(spans, &join(path, "items"), items)?;
    }
    for (key, sub) in s.properties.iter().flatten() {
        check_schema(spans, &join(&join(path, "properties"), key), sub)?;
    }
    Ok(())
}

/// The schema's own `default` and `examples` satisfy it.
fn check_samples(spans: &Spans, path: &str, s: &PropertySchema) -> Checked {
    let examples = s.examples.iter().flatten().enumerate();
    let samples = s
        .default
        .iter()
        .map(|d| (join(path, "default"), d))
        .chain(examples.map(|(i, e)| (format!("{path}.examples[{i}]"), e)));
    for (at, sample) in samples {
        let mut violations = Vec::new();
        validate_property(s, sample, "", &mut violations);
        if let Some(v) = violations.first() {
            let within = v.path.trim_start_matches('.');
            let within = if within.is_empty() {
                String::new()
            } else {
                format!(" (at {within})")
            };
            return Err(spans.locate(
                at,
                format!(
                    "{sample} breaks the property's own schema{within}: {}",
                    v.message
                ),
            ));
        }
    }
    Ok(())
}
