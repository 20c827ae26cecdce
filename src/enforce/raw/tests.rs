use super::*;
use crate::config::ProjectConfig;
use proptest::prelude::*;
use serde_json::{json, Map};

const CONFIG: &str = r#"
events:
  purchase:
    valueType: count
    properties:
      order_id: { type: string, required: true, format: uuid }
      currency: { type: string, pattern: "^[A-Z]{3}$", minLength: 3 }
      method: { type: string, enum: [card, "é"] }
      qty: { type: integer, minimum: 1, maximum: 99, enum: [1, 2.0, 7, 120] }
      total: { type: number, minimum: -0.5 }
      gift: { type: boolean, enum: [true] }
      tags: { type: array, minItems: 1, maxItems: 2, items: { type: string, maxLength: 2 } }
      address:
        type: object
        additionalProperties: false
        properties:
          city: { type: string, required: true }
          zip: { type: integer }
"#;

fn schema() -> EventSchema {
    let cfg = ProjectConfig::from_str_named(CONFIG, "c.yaml").unwrap();
    cfg.schema("purchase").unwrap().clone()
}

/// The byte scanner's answer, or `None` when it hands the row on.
fn fast(s: &EventSchema, value: Option<f64>, text: &str) -> Option<Vec<Violation>> {
    let (mut slots, mut cache, mut out) = (Vec::new(), PatternCache::default(), Vec::new());
    check_row(s, value, Some(text), &mut slots, &mut cache, &mut out)?;
    Some(out)
}

fn slow(s: &EventSchema, value: Option<f64>, text: &str) -> Vec<Violation> {
    let (mut found, mut out) = (Vec::new(), Vec::new());
    super::super::scan::check_row(s, value, Some(text), &mut found, &mut out);
    out
}

#[test]
fn scanner_equals_the_serde_path_on_valid_and_invalid_rows() {
    let s = schema();
    let uuid = "0b9f0f3e-3c1a-4d8e-9d7b-2f4c1c2b9a10";
    let rows = [
        format!(r#"{{"order_id":"{uuid}","currency":"USD","qty":2,"gift":true}}"#),
        format!(r#"{{"order_id":"{uuid}","qty":2.0,"total":-0.5,"tags":["ab"]}}"#),
        format!(r#" {{ "order_id" : "{uuid}" , "address" : {{"city":"Oslo","zip":1}} }} "#),
        r#"{"order_id":"x","currency":"usd","qty":0,"total":-1,"gift":false}"#.to_owned(),
        r#"{"qty":120,"method":"cash","tags":[],"address":{"zip":1.5,"x":1}}"#.to_owned(),
        r#"{"method":"\u00e9","currency":"U\u0053D","tags":["abc",1,null]}"#.to_owned(),
        r#"{"order_id":null,"qty":"2","gift":1,"address":[]}"#.to_owned(),
        r#"{"method":"card","method":"nope","extra":{"deep":[1,{"a":[]}]}}"#.to_owned(),
        r#"{"total":1e3,"qty":7,"x":18446744073709551615,"y":-0.0}"#.to_owned(),
        "{}".to_owned(),
    ];
    for text in &rows {
        for value in [None, Some(1.0), Some(-1.0)] {
            let got = fast(&s, value, text).unwrap_or_else(|| panic!("handed on: {text}"));
            assert_eq!(got, slow(&s, value, text), "{text}");
        }
    }
}

#[test]
fn malformed_or_ambiguous_text_is_handed_to_the_serde_path() {
    let s = schema();
    for text in [
        r#"{"qty":01}"#,
        r#"{"qty":1,}"#,
        r#"{"qty":1} x"#,
        r#"{"currency":"US"#,
        "[1]",
        "null",
        r#"{"address":{"city":"a","city":"b"}}"#,
        "{\"method\":\"a\tb\"}",
        r#"{"method":"\x"}"#,
        r#"{"total":-}"#,
        r#"{"total":1.}"#,
    ] {
        assert_eq!(fast(&s, None, text), None, "{text}");
        assert!(!slow(&s, None, text).is_empty() || text.contains("city"));
    }
}

#[test]
fn pattern_results_are_cached_per_string() {
    let p = Pattern::new("^[A-Z]{3}$").unwrap();
    let mut cache = PatternCache::default();
    let (usd, eur) = (String::from("USD"), String::from("eu"));
    for _ in 0..3 {
        assert!(cache.is_match(&p, &usd));
        assert!(!cache.is_match(&p, &eur));
    }
    let long = "A".repeat(PatternCache::MAX_LEN + 1);
    assert!(!cache.is_match(&p, &long));
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![0.0, 1.0, 2.0, 2.5, 7.0, 99.0, 120.0, -0.5, -1.0, 1e17])
            .prop_map(|x| json!(x)),
        prop::sample::select(vec![0i64, 1, 2, 7, 100, -3, i64::MAX]).prop_map(|x| json!(x)),
        prop::sample::select(vec![
            "",
            "a",
            "ab",
            "abc",
            "USD",
            "usd",
            "card",
            "é",
            "Oslo",
            "a\"b",
            "tab\there",
            "0b9f0f3e-3c1a-4d8e-9d7b-2f4c1c2b9a10",
        ])
        .prop_map(|s| json!(s)),
    ]
}

fn keys() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "order_id", "currency", "method", "qty", "total", "gift", "tags", "address", "city", "zip",
        "other",
    ])
    .prop_map(str::to_owned)
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn scanner_agrees_with_the_map_validator(
        props in prop::collection::vec((keys(), json_value()), 0..7),
        value in prop::option::of(prop::sample::select(vec![0.0, 1.0, 1.5, -2.0])),
        pretty in any::<bool>(),
    ) {
        let s = schema();
        let map: Map<String, Value> = props.into_iter().collect();
        let text = if pretty {
            serde_json::to_string_pretty(&map).unwrap()
        } else {
            serde_json::to_string(&map).unwrap()
        };
        let want = s.validate(value, Some(&map));
        // Text written by serde_json from a map is always judged here.
        let got = fast(&s, value, &text);
        prop_assert_eq!(got, Some(want), "{}", text);
    }
}
