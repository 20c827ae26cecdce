//! The in-place reading of a line against the typed fast path and the slow path: where
//! it accepts, both accept the same event, which gives the same flat rows.

use super::*;
use crate::events::flat_columns::FlatColumns;
use crate::events::model::Event;

/// The flat rows `RawEvent::parse` gives for `line`, or `None` where it declines.
fn raw_rows(line: &str) -> Option<(polars::prelude::DataFrame, Warnings)> {
    let mut layers = Vec::new();
    let e = RawEvent::parse(line, &mut layers)?;
    let mut c = FlatColumns::new(1);
    c.push_raw(&e, &layers);
    Some((c.finish().unwrap(), e.warnings))
}

/// The flat rows of the slow path's event for `line`.
fn slow_rows(line: &str) -> Option<(polars::prelude::DataFrame, Warnings)> {
    let (e, w) = Event::from_json_str(line).ok()?;
    let mut c = FlatColumns::new(1);
    c.push_event(&e);
    Some((c.finish().unwrap(), w))
}

/// Checks `line`: if read in place, the typed fast path and the slow path accept it,
/// with the same rows and warnings. Whether it was read in place.
fn agrees(line: &str) -> bool {
    let Some((raw, w)) = raw_rows(line) else {
        return false;
    };
    assert!(
        crate::events::fast::try_parse(line).is_some(),
        "read in place, declined by the typed fast path: {line}"
    );
    let (slow, sw) = slow_rows(line).unwrap_or_else(|| panic!("refused by the slow path: {line}"));
    assert_eq!(w, sw, "warnings of {line}");
    assert!(raw.equals_missing(&slow), "{line}\n{raw}\n{slow}");
    true
}

const EXPOSURE: &str = r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","decisionId":"d","assignments":{"k":"a"},"layers":[{"layerId":"l","policyId":"p","allocationName":"a","bucket":7420,"probability":0.25}]}"#;

#[test]
fn ordinary_lines_are_read_in_place_with_the_slow_paths_rows() {
    for line in [
        EXPOSURE,
        r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[],"requestedParameters":["a","b"],"latencyMs":3}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","eventTimestamp":"2026-05-21T10:30:00Z","event":"purchase","value":12,"values":{"a":1,"b":2.5},"properties":{"p":null,"q":[1,{"r":true}]}}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"purchase","value":null,"sessionId":null,"unknown":{"x":[1.5e3,"y",true]}}"#,
        r#" { "type" : "track" , "unitKey":"u","timestamp":"2026-05-22T10:30:00+02:00","event":"x" } "#,
        r#"{"type":"exposure","orgId":"o","projectId":"p","env":"e","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","context":{"x":[1,2],"y":-3,"z":0.1},"layers":[{"layerId":"l","bucket":1,"attributionOnly":true,"unitKey":"deviceId","unitKeyValue":"dv"},{"layerId":"m","bucket":2,"attributionOnly":false}]}"#,
    ] {
        assert!(agrees(line), "declined: {line}");
    }
}

#[test]
fn nested_values_become_the_canonical_text_whatever_their_spelling() {
    for (line, column, text) in [
        // Whitespace, a float spelt long, a key twice (the last value, the first place).
        (
            r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","properties":{ "a": 1.50, "b": 1e2, "a": 2 }}"#,
            "properties",
            r#"{"a":2,"b":100.0}"#,
        ),
        // `values` are numbers in key order.
        (
            r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","values":{"b":1,"a":2.5}}"#,
            "values",
            r#"{"a":2.5,"b":1.0}"#,
        ),
        (
            r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","layers":[{"layerId":"l","bucket":1}],"requestedParameters":[ "a" , "b" ]}"#,
            "requestedParameters",
            r#"["a","b"]"#,
        ),
    ] {
        let (raw, _) = raw_rows(line).unwrap();
        let (slow, _) = slow_rows(line).unwrap();
        assert!(raw.equals_missing(&slow), "{line}");
        let cell = |df: &polars::prelude::DataFrame| {
            df.column(column)
                .unwrap()
                .str()
                .unwrap()
                .get(0)
                .map(str::to_owned)
        };
        assert_eq!(cell(&raw).as_deref(), Some(text), "{line}");
    }
}

#[test]
fn unusual_lines_are_declined_for_the_older_path() {
    for line in [
        // An escape anywhere.
        r#"{"type":"track","unitKey":"u\u0041","timestamp":"2026-05-22T10:30:00Z","event":"x"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","other":"a\"b"}"#,
        // A field twice, a layer twice-keyed, a layer as an array, the whole as an array.
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","unitKey":"v"}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":1,"bucket":2}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[["l",1]]}"#,
        r#"["exposure"]"#,
        // An SDK-built attribution array.
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","attribution":[]}"#,
        // Wrong types, out of range, broken rules.
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":3.0}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":4294967296}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":-0}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":1,"probability":0}]}"#,
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":null}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","value":1e999}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","values":{"a":null}}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","context":{"a":1e999}}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","context":[1]}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","layers":"no"}"#,
        r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","layers":[],"latencyMs":3.5}"#,
        r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","layers":[],"requestedParameters":["a",null]}"#,
        r#"{"type":"track","unitKey":"","timestamp":"2026-05-22T10:30:00Z","event":"x"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"21/05/2026","event":"x"}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":""}"#,
        r#"{"type":"click","unitKey":"u","timestamp":"2026-05-22T10:30:00Z"}"#,
        // Broken JSON.
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x",}"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x"} x"#,
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","event":"x","n":01}"#,
        "{\"type\":\"track\",\"unitKey\":\"u\u{1}\",\"timestamp\":\"2026-05-22T10:30:00Z\",\"event\":\"x\"}",
        r#"{"type":"track","unitKey":"u","#,
    ] {
        let mut layers = Vec::new();
        assert!(RawEvent::parse(line, &mut layers).is_none(), "read in place: {line}");
    }
}

#[test]
fn the_demo_log_is_read_in_place_with_the_slow_paths_rows() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/demo/events.ndjson"
    ))
    .unwrap();
    let (mut in_place, mut valid) = (0, 0);
    for line in text.lines() {
        valid += usize::from(Event::from_json_str(line).is_ok());
        in_place += usize::from(agrees(line));
    }
    // Every valid line but those with escapes or an attribution array.
    let odd = text
        .lines()
        .filter(|l| l.contains('\\') || l.contains("\"attribution\":["))
        .count();
    assert!(
        in_place + odd >= valid && in_place > 3000,
        "{in_place} of {valid}"
    );
}
