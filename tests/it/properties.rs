//! Property tests where the code has two ways to one answer:
//! - the ndjson reader's typed fast path against the slow path alone, on random event
//!   objects and on mutated lines of the demo log (same tables, same quarantine), and
//!   the in-place reading of lines (`src/events/ndjson.rs`) against the fast path
//!   (same warnings, same parquet bytes of the flat rows `convert` writes);
//! - the publishing guard against the platform's JSON schema (the spec's file, with a
//!   validator of its own) on mutated bundles: every bundle the schema refuses the
//!   guard refuses, and every bundle the guard refuses beyond the schema is one of the
//!   differences `docs/publishing.md` lists.

use std::sync::OnceLock;

use bandit_engine::publish::check_publishable;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::common::reference;
use crate::fuzz_regression::targets;

const CASES: u32 = 256;

fn demo_lines() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/demo/events.ndjson");
        let text = std::fs::read_to_string(path).unwrap();
        // The JSON objects: the log also holds a few deliberately broken lines.
        text.lines()
            .filter(|l| serde_json::from_str::<Map<String, Value>>(l).is_ok())
            .map(str::to_owned)
            .collect()
    })
}

/// A JSON value of the kinds that break readers: wrong types, edge numbers, times.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop_oneof![
            Just(0i64),
            Just(-1),
            Just(1),
            Just(9999),
            Just(i64::from(u32::MAX) + 1),
            Just(i64::MIN)
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just(0.5f64),
            Just(1e-310),
            Just(1e300),
            Just(-0.0),
            Just(2.5)
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just(""),
            Just("exposure"),
            Just("decision"),
            Just("track"),
            Just("purchase"),
            Just("2026-11-01T00:00:00Z"),
            Just("2026-11-01T00:00:00"),
            Just("9999-12-31T23:59:59Z"),
            Just("control"),
            Just("\u{1b}[31m\u{202e}")
        ]
        .prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

/// One edit at a place chosen by `at` (an index into the value's nodes, wrapped).
#[derive(Clone, Debug)]
enum Edit {
    Remove,
    Replace(Value),
    Insert(&'static str, Value),
    Duplicate,
}

const KEYS: [&str; 18] = [
    "type",
    "unitKey",
    "timestamp",
    "layers",
    "layerId",
    "bucket",
    "policyId",
    "allocationName",
    "probability",
    "event",
    "value",
    "decisionId",
    "attribution",
    "weight",
    "id",
    "bucketRange",
    "bucketCount",
    "allocations",
];

fn edit() -> impl Strategy<Value = (usize, Edit)> {
    (
        any::<usize>(),
        prop_oneof![
            Just(Edit::Remove),
            leaf().prop_map(Edit::Replace),
            (prop::sample::select(&KEYS[..]), leaf()).prop_map(|(k, v)| Edit::Insert(k, v)),
            Just(Edit::Duplicate),
        ],
    )
}

/// The number of containers (objects and arrays) in `v`.
fn count(v: &Value) -> usize {
    1 + match v {
        Value::Object(m) => m
            .values()
            .filter(|c| c.is_object() || c.is_array())
            .map(count)
            .sum(),
        Value::Array(a) => a
            .iter()
            .filter(|c| c.is_object() || c.is_array())
            .map(count)
            .sum(),
        _ => 0,
    }
}

/// The `n`-th container of `v`, depth first.
fn nth<'v>(v: &'v mut Value, n: &mut usize) -> Option<&'v mut Value> {
    if *n == 0 {
        return Some(v);
    }
    *n -= 1;
    let children: Vec<&mut Value> = match v {
        Value::Object(m) => m.values_mut().collect(),
        Value::Array(a) => a.iter_mut().collect(),
        _ => Vec::new(),
    };
    children
        .into_iter()
        .filter(|c| c.is_object() || c.is_array())
        .find_map(|c| nth(c, n))
}

/// Applies `edit` to a child of the `at`-th container of `v` (wrapped).
fn apply(v: &mut Value, at: usize, edit: &Edit) {
    let mut n = at % count(v);
    let Some(target) = nth(v, &mut n) else {
        return;
    };
    match target {
        Value::Object(m) => apply_object(m, at, edit),
        Value::Array(a) if !a.is_empty() => {
            let i = at % a.len();
            match edit {
                Edit::Remove => {
                    a.remove(i);
                }
                Edit::Replace(x) => a[i] = x.clone(),
                Edit::Insert(_, x) => a.insert(i, x.clone()),
                Edit::Duplicate => a.insert(i, a[i].clone()),
            }
        }
        Value::Array(a) => a.push(match edit {
            Edit::Replace(x) | Edit::Insert(_, x) => x.clone(),
            _ => Value::Null,
        }),
        _ => {}
    }
}

fn apply_object(m: &mut Map<String, Value>, at: usize, edit: &Edit) {
    let key = m.keys().nth(at % m.len().max(1)).cloned();
    match (edit, key) {
        (Edit::Insert(k, x), _) => {
            m.insert((*k).to_owned(), x.clone());
        }
        (Edit::Remove, Some(k)) => {
            m.remove(&k);
        }
        (Edit::Replace(x), Some(k)) => {
            m.insert(k, x.clone());
        }
        (Edit::Duplicate, Some(k)) => {
            // The same key twice in the text: JSON.parse keeps the last.
            let v = m[&k].clone();
            m.insert(format!("{k}\u{0}dup"), v);
        }
        _ => {}
    }
}

/// A value as text; a key ending in NUL + `dup` is written as a second copy of the key.
fn text(v: &Value) -> String {
    serde_json::to_string(v).unwrap().replace("\\u0000dup", "")
}

/// A random event object built from the events' vocabulary.
fn random_event() -> impl Strategy<Value = Value> {
    let layer = prop::collection::btree_map(prop::sample::select(&KEYS[4..9]), leaf(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    (
        prop::sample::select(&["exposure", "decision", "track", "other"][..]),
        prop::collection::btree_map(prop::sample::select(&KEYS[..]), leaf(), 0..8),
        prop::collection::vec(layer, 0..3),
        any::<bool>(),
    )
        .prop_map(|(kind, fields, layers, with_layers)| {
            let mut m: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            m.insert("type".into(), json!(kind));
            m.entry("unitKey").or_insert(json!("u1"));
            m.entry("timestamp")
                .or_insert(json!("2026-11-01T00:00:00.000Z"));
            if with_layers {
                m.insert("layers".into(), Value::Array(layers));
            }
            Value::Object(m)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Lines of the demo log with one to three edits each (a field removed, replaced by
    /// a value of another type or an edge value, a key added or written twice): the
    /// reader and the slow path alone give the same tables and quarantine.
    #[test]
    fn the_ndjson_fast_path_equals_the_slow_path_on_mutated_demo_lines(
        picks in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(edit(), 0..3)), 1..12),
    ) {
        let lines = demo_lines();
        let mut data = String::new();
        for (i, edits) in &picks {
            let mut v: Value = serde_json::from_str(i.get(lines).as_str()).unwrap();
            for (at, e) in edits {
                apply(&mut v, *at, e);
            }
            data.push_str(&text(&v));
            data.push('\n');
        }
        targets::ndjson(data.as_bytes());
    }

    /// Random event objects from the events' vocabulary, and raw byte damage to the
    /// demo log's lines (a span cut out, a byte changed).
    #[test]
    fn the_ndjson_fast_path_equals_the_slow_path_on_random_events_and_damaged_bytes(
        events in prop::collection::vec(random_event(), 1..16),
        line in any::<prop::sample::Index>(),
        cut in (any::<usize>(), 0usize..40),
        byte in (any::<usize>(), any::<u8>()),
    ) {
        let mut data: Vec<u8> = events.iter().flat_map(|e| (text(e) + "\n").into_bytes()).collect();
        let mut raw = line.get(demo_lines()).clone().into_bytes();
        let start = cut.0 % raw.len();
        raw.drain(start..(start + cut.1).min(raw.len()));
        let at = byte.0 % raw.len().max(1);
        if let Some(b) = raw.get_mut(at) {
            *b = byte.1;
        }
        data.extend_from_slice(&raw);
        targets::ndjson(&data);
    }
}

/// The bundles the guard is checked on: the demo's and the SDK vectors'.
fn bundles() -> &'static [Value] {
    static BUNDLES: OnceLock<Vec<Value>> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        [
            "datasets/demo/bundle.json",
            "tests/fixtures/sdk-sha256/bundle_basic.json",
            "tests/fixtures/sdk-sha256/bundle_conditions.json",
            "tests/fixtures/sdk-sha256/bundle_contextual.json",
            "tests/fixtures/sdk-sha256/bundle_layers.json",
            "tests/fixtures/sdk-sha256/bundle_per_entity.json",
        ]
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(root.join(p)).unwrap()).unwrap())
        .collect()
    })
}

/// The platform's schema with a validator of its own (draft 7, formats checked as the
/// guard checks them): the guard embeds the same file, this checks it uses it whole.
fn schema_accepts(bundle: &Value) -> bool {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let text = std::fs::read_to_string(reference(
                "traffical-sdk-spec/schemas/config-bundle.schema.json",
            ))
            .unwrap();
            jsonschema::draft7::options()
                .should_validate_formats(true)
                .build(&serde_json::from_str(&text).unwrap())
                .unwrap()
        })
        .is_valid(bundle)
}

/// The guard's checks beyond the schema (docs/publishing.md, "The guard and the
/// schema"): what a refusal of a schema-valid bundle must say. The bucket layout and
/// uniqueness rules the SDK relies on, and the typed reading of the fields the SDK
/// reads that the schema leaves open (`eligibleBucketRange`, `entityConfig`,
/// `entityState`, a layer's `unitKey`, allocation ids and keys, buckets that are
/// integral floats such as `1e300` or beyond 2^32).
const BEYOND_THE_SCHEMA: [&str; 13] = [
    "is not a span of",
    "overlaps allocations",
    "is not an inclusive range",
    "appears twice",
    "must be at least 1",
    "invalid type",
    "invalid value",
    "invalid length",
    "missing field",
    "unknown variant",
    "not a finite number",
    "is negative",
    "sum to",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// One to three edits anywhere in a real bundle: the schema's refusal is always
    /// the guard's; the guard refuses a schema-valid bundle only for a documented check.
    #[test]
    fn the_publishing_guard_agrees_with_the_platform_schema_on_mutated_bundles(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let mut bundle = pick.get(bundles()).clone();
        for (at, e) in &edits {
            apply(&mut bundle, *at, e);
        }
        let text = text(&bundle);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        let guard = check_publishable(&text, None, "bundle.json");
        if !schema_accepts(&parsed) {
            prop_assert!(guard.is_err(), "the guard accepts what the schema refuses: {text}");
            if let Err(e) = &guard {
                prop_assert!(e.to_string().contains("config-bundle.schema.json"), "{e}");
            }
        } else if let Err(e) = guard {
            let message = e.to_string();
            prop_assert!(!message.contains("config-bundle.schema.json"), "{message}");
            prop_assert!(
                BEYOND_THE_SCHEMA.iter().any(|d| message.contains(d)),
                "an undocumented refusal of a schema-valid bundle: {message}\n{text}"
            );
        }
    }
}

#[test]
fn a_csv_record_the_csv_crate_cannot_read_is_quarantined_at_its_own_line() {
    // Found by fuzzing: the line was the reader's position after the record.
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/csv/invalid-utf8-in-last-row-line.csv"
    ))
    .unwrap();
    let read = bandit_engine::events::fuzzing::csv(&file).unwrap();
    let bad: Vec<_> = read
        .rejected
        .iter()
        .filter(|r| r.reason.contains("unreadable csv"))
        .collect();
    assert_eq!(bad.len(), 1, "{:?}", read.rejected);
    assert_eq!(bad[0].line, 3);
}
