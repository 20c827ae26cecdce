//! Each rule of the track-event validator, passing and failing.

use serde_json::{json, Map, Value};

use super::*;
use crate::config::{ProjectConfig, PropertySource};

/// The merged schema of event `e` in `yaml`.
fn schema(yaml: &str) -> EventSchema {
    let cfg = ProjectConfig::from_str_named(yaml, "test.yaml").unwrap();
    cfg.schema("e").unwrap().clone()
}

/// An event `e` of `value_type` with one property `p` declared as `decl`.
fn one(value_type: &str, decl: &str) -> EventSchema {
    schema(&format!(
        "events:\n  e:\n    valueType: {value_type}\n    properties:\n      p: {decl}\n"
    ))
}

fn props(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// `(path, rule, message)` of every violation of `properties`.
fn check(s: &EventSchema, properties: Value) -> Vec<(String, Rule, String)> {
    s.validate(None, Some(&props(properties)))
        .into_iter()
        .map(|v| (v.path, v.rule, v.message))
        .collect()
}

fn v(path: &str, rule: Rule, message: &str) -> (String, Rule, String) {
    (path.to_owned(), rule, message.to_owned())
}

#[test]
fn type_is_checked_and_stops_the_other_rules() {
    let s = one("count", "{ type: string, minLength: 3 }");
    assert_eq!(check(&s, json!({ "p": "abc" })), []);
    assert_eq!(
        check(&s, json!({ "p": 12 })),
        [v("p", Rule::Type, "expected a string, found 12")]
    );
    assert_eq!(
        check(&s, json!({ "p": null })),
        [v("p", Rule::Type, "expected a string, found null")]
    );
}

#[test]
fn integers_accept_whole_floats_and_refuse_fractions() {
    let s = one("count", "{ type: integer }");
    assert_eq!(check(&s, json!({ "p": 3 })), []);
    assert_eq!(check(&s, json!({ "p": 3.0 })), []);
    assert_eq!(
        check(&s, json!({ "p": 3.5 })),
        [v("p", Rule::Type, "expected an integer, found 3.5")]
    );
}

#[test]
fn booleans_arrays_and_objects_are_typed() {
    let s = schema(
        "events:\n  e:\n    valueType: count\n    properties:\n      b: { type: boolean }\n      a: { type: array }\n      o: { type: object }\n",
    );
    assert_eq!(check(&s, json!({ "b": true, "a": [], "o": {} })), []);
    assert_eq!(
        check(&s, json!({ "b": "yes", "a": {}, "o": [] })),
        [
            v("b", Rule::Type, "expected true or false, found \"yes\""),
            v("a", Rule::Type, "expected an array, found {}"),
            v("o", Rule::Type, "expected an object, found []"),
        ]
    );
}

#[test]
fn required_properties_must_be_present_and_optional_ones_may_be_absent() {
    let s = schema(
        "events:\n  e:\n    valueType: count\n    properties:\n      id: { type: string, required: true }\n      note: { type: string }\n",
    );
    assert_eq!(check(&s, json!({ "id": "x" })), []);
    assert_eq!(
        check(&s, json!({ "note": "x" })),
        [v(
            "id",
            Rule::Required,
            "required property \"id\" is missing"
        )]
    );
    assert_eq!(
        s.validate(None, None)
            .into_iter()
            .map(|x| x.rule)
            .collect::<Vec<_>>(),
        [Rule::Required]
    );
}

#[test]
fn enum_values_are_compared_by_value() {
    let s = one("count", "{ type: string, enum: [credit_card, paypal] }");
    assert_eq!(check(&s, json!({ "p": "paypal" })), []);
    assert_eq!(
        check(&s, json!({ "p": "bitcoin" })),
        [v(
            "p",
            Rule::Enum,
            "\"bitcoin\" is not one of \"credit_card\", \"paypal\""
        )]
    );
    let n = one("count", "{ type: number, enum: [1, 2.5] }");
    assert_eq!(check(&n, json!({ "p": 1.0 })), []);
    assert_eq!(
        check(&n, json!({ "p": 2 })),
        [v("p", Rule::Enum, "2 is not one of 1, 2.5")]
    );
}

#[test]
fn patterns_are_ecmascript_searches() {
    let s = one("count", "{ type: string, pattern: \"^[A-Z]{3}$\" }");
    assert_eq!(check(&s, json!({ "p": "USD" })), []);
    assert_eq!(
        check(&s, json!({ "p": "usd" })),
        [v("p", Rule::Pattern, "\"usd\" does not match /^[A-Z]{3}$/")]
    );
    // Unanchored: a match anywhere counts, as in JSON Schema; \d is ECMAScript's.
    let loose = one("count", "{ type: string, pattern: \"\\\\d+\" }");
    assert_eq!(check(&loose, json!({ "p": "order-42" })), []);
}

#[test]
fn formats_accept_good_values_and_refuse_bad_ones() {
    let cases = [
        (
            "uuid",
            "550e8400-e29b-41d4-a716-446655440000",
            "550e8400-e29b-41d4-a716",
        ),
        ("email", "ana@example.com", "ana at example.com"),
        ("uri", "https://example.com/a?b=1", "example.com/a b"),
        ("date-time", "2026-05-21T10:30:00Z", "2026-02-30T10:30:00Z"),
    ];
    for (format, good, bad) in cases {
        let s = one("count", &format!("{{ type: string, format: {format} }}"));
        assert_eq!(check(&s, json!({ "p": good })), [], "{format}");
        assert_eq!(
            check(&s, json!({ "p": bad })),
            [v(
                "p",
                Rule::Format,
                &format!("\"{bad}\" is not a valid {format}")
            )]
        );
    }
}

#[test]
fn numeric_bounds_are_inclusive() {
    let s = one("count", "{ type: number, minimum: 0, maximum: 10 }");
    assert_eq!(check(&s, json!({ "p": 0 })), []);
    assert_eq!(check(&s, json!({ "p": 10 })), []);
    assert_eq!(
        check(&s, json!({ "p": -0.5 })),
        [v("p", Rule::Minimum, "-0.5 is below the minimum 0")]
    );
    assert_eq!(
        check(&s, json!({ "p": 11 })),
        [v("p", Rule::Maximum, "11 is above the maximum 10")]
    );
}

#[test]
fn string_lengths_count_code_points() {
    let s = one("count", "{ type: string, minLength: 2, maxLength: 3 }");
    assert_eq!(check(&s, json!({ "p": "ñé" })), []);
    assert_eq!(check(&s, json!({ "p": "abc" })), []);
    assert_eq!(
        check(&s, json!({ "p": "a" })),
        [v(
            "p",
            Rule::MinLength,
            "1 characters, fewer than minLength 2"
        )]
    );
    assert_eq!(
        check(&s, json!({ "p": "abcd" })),
        [v(
            "p",
            Rule::MaxLength,
            "4 characters, more than maxLength 3"
        )]
    );
}

#[test]
fn array_lengths_and_items_are_checked_with_indexed_paths() {
    let s = one(
        "count",
        "{ type: array, minItems: 1, maxItems: 2, items: { type: object, properties: { sku: { type: string, required: true } } } }",
    );
    assert_eq!(check(&s, json!({ "p": [{ "sku": "A" }] })), []);
    assert_eq!(
        check(&s, json!({ "p": [] })),
        [v("p", Rule::MinItems, "0 items, fewer than minItems 1")]
    );
    assert_eq!(
        check(
            &s,
            json!({ "p": [{ "sku": "A" }, { "sku": "B" }, { "sku": "C" }] })
        ),
        [v("p", Rule::MaxItems, "3 items, more than maxItems 2")]
    );
    assert_eq!(
        check(&s, json!({ "p": [{ "sku": "A" }, { "name": "B" }] })),
        [v(
            "p[1].sku",
            Rule::Required,
            "required property \"sku\" is missing"
        )]
    );
}

#[test]
fn closed_objects_refuse_extra_keys_and_open_ones_accept_them() {
    let closed = one(
        "count",
        "{ type: object, additionalProperties: false, properties: { a: { type: integer } } }",
    );
    assert_eq!(check(&closed, json!({ "p": { "a": 1 } })), []);
    assert_eq!(
        check(&closed, json!({ "p": { "a": 1, "b": 2 } })),
        [v(
            "p.b",
            Rule::AdditionalProperties,
            "property \"b\" is not allowed here"
        )]
    );
    let open = one(
        "count",
        "{ type: object, properties: { a: { type: integer } } }",
    );
    assert_eq!(check(&open, json!({ "p": { "a": 1, "b": 2 } })), []);
}

#[test]
fn undeclared_top_level_properties_are_allowed() {
    let s = one("count", "{ type: string }");
    assert_eq!(check(&s, json!({ "p": "x", "utm_source": "ad" })), []);
}

#[test]
fn every_violation_is_returned_not_just_the_first() {
    let s = schema(
        "events:\n  e:\n    valueType: count\n    properties:\n      id: { type: string, required: true }\n      n: { type: integer, maximum: 5 }\n      c: { type: string, enum: [a] }\n",
    );
    let rules: Vec<Rule> = s
        .validate(Some(-1.0), Some(&props(json!({ "n": 9, "c": "b" }))))
        .into_iter()
        .map(|x| x.rule)
        .collect();
    assert_eq!(
        rules,
        [Rule::ValueType, Rule::Required, Rule::Maximum, Rule::Enum]
    );
}

#[test]
fn boolean_values_are_zero_or_one() {
    assert_eq!(check_value(ValueType::Boolean, 1.0), None);
    assert_eq!(check_value(ValueType::Boolean, 0.0), None);
    assert_eq!(
        check_value(ValueType::Boolean, 2.0).as_deref(),
        Some("a boolean value must be 0 or 1, found 2")
    );
}

#[test]
fn count_values_are_non_negative_integers() {
    assert_eq!(check_value(ValueType::Count, 3.0), None);
    assert_eq!(
        check_value(ValueType::Count, 2.5).as_deref(),
        Some("a count value must be a non-negative integer, found 2.5")
    );
    assert_eq!(
        check_value(ValueType::Count, -1.0).as_deref(),
        Some("a count value must be a non-negative integer, found -1")
    );
}

#[test]
fn rate_values_lie_in_the_unit_interval() {
    assert_eq!(check_value(ValueType::Rate, 0.0), None);
    assert_eq!(check_value(ValueType::Rate, 1.0), None);
    assert_eq!(
        check_value(ValueType::Rate, 1.2).as_deref(),
        Some("a rate value must be a rate in [0, 1], found 1.2")
    );
    assert!(check_value(ValueType::Rate, f64::NAN).is_some());
}

#[test]
fn currency_values_are_finite_and_may_be_negative_refunds() {
    assert_eq!(check_value(ValueType::Currency, 49.99), None);
    assert_eq!(check_value(ValueType::Currency, -20.0), None);
    assert_eq!(
        check_value(ValueType::Currency, f64::INFINITY).as_deref(),
        Some("a currency value must be a finite amount, found inf")
    );
}

#[test]
fn the_event_value_is_reported_under_the_path_value() {
    let s = one("rate", "{ type: string }");
    assert_eq!(
        s.validate(Some(3.0), None),
        [Violation {
            path: "value".into(),
            rule: Rule::ValueType,
            message: "a rate value must be a rate in [0, 1], found 3".into()
        }]
    );
}

#[test]
fn group_properties_come_first_then_the_events_own() {
    let s = schema(
        "propertyGroups:\n  geo:\n    properties:\n      market: { type: string }\n  product:\n    properties:\n      sku: { type: string }\nevents:\n  e:\n    valueType: count\n    propertyGroups: [product, geo]\n    properties:\n      qty: { type: integer }\n",
    );
    let names: Vec<&str> = s.properties.keys().map(String::as_str).collect();
    assert_eq!(names, ["sku", "market", "qty"]);
}

#[test]
fn an_identical_property_in_two_groups_merges_silently() {
    let s = schema(
        "propertyGroups:\n  a:\n    properties:\n      country: { type: string }\n  b:\n    properties:\n      country: { type: string }\nevents:\n  e:\n    valueType: count\n    propertyGroups: [a, b]\n",
    );
    assert_eq!(s.properties.len(), 1);
}

#[test]
fn the_events_own_declaration_replaces_a_groups_of_the_same_type() {
    let s = schema(
        "propertyGroups:\n  geo:\n    properties:\n      market: { type: string }\n      country: { type: string }\nevents:\n  e:\n    valueType: count\n    propertyGroups: [geo]\n    properties:\n      market: { type: string, required: true }\n",
    );
    let names: Vec<&str> = s.properties.keys().map(String::as_str).collect();
    assert_eq!(names, ["market", "country"]);
    assert!(s.properties["market"].schema.required);
    assert_eq!(s.properties["market"].source, PropertySource::Event);
    assert_eq!(
        check(&s, json!({ "country": "FR" })),
        [v(
            "market",
            Rule::Required,
            "required property \"market\" is missing"
        )]
    );
}

#[test]
fn public_config_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ProjectConfig>();
    send_sync::<EventSchema>();
    send_sync::<Violation>();
}

#[test]
fn pattern_matches_like_javascript_on_utf16_code_units() {
    // In JavaScript, /^.$/.test("😀") is false and /^..$/.test("😀") is true: without
    // the `u` flag "😀" is two UTF-16 code units and `.` matches one of them.
    let one_char = one("count", r#"{ type: string, pattern: "^.$" }"#);
    assert_eq!(check(&one_char, json!({"p": "é"})), vec![]);
    let broken = check(&one_char, json!({"p": "😀"}));
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!(broken[0].1, Rule::Pattern);
    let two_units = one("count", r#"{ type: string, pattern: "^..$" }"#);
    assert_eq!(check(&two_units, json!({"p": "😀"})), vec![]);
    // A lone high surrogate escape matches the first half of the pair, as in JS.
    let high = one("count", r#"{ type: string, pattern: "^\\uD83D" }"#);
    assert_eq!(check(&high, json!({"p": "😀 ok"})), vec![]);
}
