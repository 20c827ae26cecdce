//! Readers: every format, every kind of malformed record, nothing lost.

use std::path::{Path, PathBuf};

use bandit_engine::events::{
    load_events, write_events, write_quarantine, Event, LoadOptions, Loaded,
};
use bandit_engine::Error;
use serde_json::Value;

const EXPOSURE: &str = r#"{"type":"exposure","orgId":"o","projectId":"p","env":"production","unitKey":"user_789","sessionId":"s1","timestamp":"2026-05-21T10:30:00Z","decisionId":"dec_abc123","assignments":{"checkout.cta":"Buy"},"context":{"device":"mobile","visits":3},"layers":[{"layerId":"layer_checkout","policyId":"policy_cta","allocationName":"treatment","allocationId":"a1","bucket":7420,"probability":0.25},{"layerId":"layer_ui","bucket":12,"attributionOnly":true}]}"#;
const TRACK: &str = r#"{"type":"track","orgId":"o","projectId":"p","env":"production","unitKey":"user_789","timestamp":"2026-05-21T12:30:00Z","eventTimestamp":"2026-05-21T10:45:00Z","event":"purchase","value":49.9,"values":{"items":2},"decisionId":"dec_abc123","properties":{"order_id":"0b9f0f3e-3c1a-4d8e-9d7b-2f4c1c2b9a10"},"attribution":[{"layerId":"layer_checkout","policyId":"policy_cta","allocationName":"treatment","weight":1.0,"model":"last_touch"}]}"#;
const PRODUCT_PAGE: &str = r#"{"type":"exposure","unitKey":"user_789","timestamp":"2026-05-21T10:30:00Z","decisionId":"dec_abc123","layers":[{"layerId":"layer_checkout","policyId":"policy_color_test","allocationName":"treatment","bucket":7420}]}"#;

/// Each malformed line, with the field and a fragment of the reason it must report.
const MALFORMED: &[(&str, &str, &str)] = &[
    (
        r#"{"type":"track","unitKey":"u1","timestamp":"2026-05-21T10:30:00Z","event":"#,
        "record",
        "not valid JSON",
    ),
    (
        r#"{"type":"track","timestamp":"2026-05-21T10:30:00Z","event":"purchase"}"#,
        "unitKey",
        "required field is missing",
    ),
    (
        r#"{"type":"track","unitKey":"u1","timestamp":"2026-05-21T10:30:00Z","event":"purchase","value":"12.50"}"#,
        "value",
        "expected a number, found string \"12.50\"",
    ),
    (
        r#"{"type":"track","unitKey":"u1","timestamp":"21/05/2026 10:30","event":"purchase"}"#,
        "timestamp",
        "not an RFC 3339 date-time",
    ),
    (
        r#"{"type":"exposure","unitKey":"u1","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":-1}]}"#,
        "layers[0].bucket",
        "non-negative integer",
    ),
    (
        r#"{"type":"click","unitKey":"u1","timestamp":"2026-05-21T10:30:00Z"}"#,
        "type",
        "unknown event type \"click\"",
    ),
    (
        r#"{"type":"exposure","unitKey":"u1","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":3,"probability":1.5}]}"#,
        "layers[0].probability",
        "must be in (0, 1], found 1.5",
    ),
    (
        r#"{"type":"exposure","unitKey":"u1","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":3,"probability":0}]}"#,
        "layers[0].probability",
        "must be in (0, 1], found 0",
    ),
    (
        r#"{"type":"decision","unitKey":"u1","timestamp":"2026-05-21T10:30:00Z"}"#,
        "layers",
        "required field is missing",
    ),
];

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn load(path: &Path, strict: bool) -> Result<Loaded, Error> {
    load_events(&[path.to_path_buf()], LoadOptions { strict })
}

fn mixed_ndjson() -> String {
    let mut lines = vec![EXPOSURE.to_owned(), String::new(), TRACK.to_owned()];
    lines.extend(MALFORMED.iter().map(|m| m.0.to_owned()));
    lines.push(PRODUCT_PAGE.to_owned());
    lines.join("\n") + "\n"
}

#[test]
fn ndjson_quarantines_each_malformed_record_with_file_line_field_and_original() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "events.ndjson", &mixed_ndjson());
    let loaded = load(&path, false).unwrap();
    let r = &loaded.report;
    // The blank line is not a record; everything else is counted.
    assert_eq!(
        (r.read(), r.accepted(), r.quarantined()),
        (3 + MALFORMED.len() as u64, 3, MALFORMED.len() as u64)
    );
    assert_eq!(loaded.rejected.len(), MALFORMED.len());
    for (i, (rej, (line, field, reason))) in loaded.rejected.iter().zip(MALFORMED).enumerate() {
        assert_eq!(rej.line, 4 + i as u64, "line of {field}");
        assert_eq!(rej.field, *field);
        assert!(rej.reason.contains(reason), "{}: {}", rej.field, rej.reason);
        assert_eq!(rej.record, Value::String((*line).to_owned()));
        assert_eq!(rej.file, path.display().to_string());
    }
    // Two layers of the exposure plus the product-page example's one; one track; one attribution entry.
    assert_eq!(loaded.tables.exposures.height(), 3);
    assert_eq!(loaded.tables.tracks.height(), 1);
    assert_eq!(loaded.tables.attributions.height(), 1);
    let q = dir.path().join("out/quarantine.ndjson");
    write_quarantine(&q, &loaded.rejected).unwrap();
    let written: Vec<Value> = std::fs::read_to_string(&q)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(written.len(), MALFORMED.len());
    assert_eq!(written[1]["field"], "unitKey");
    assert_eq!(written[1]["line"], 5);
    assert_eq!(written[1]["record"], MALFORMED[1].0);
}

#[test]
fn strict_mode_stops_at_the_first_malformed_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "events.jsonl", &mixed_ndjson());
    let err = load(&path, true).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:4: record: not valid JSON", path.display())),
        "{err}"
    );
}

#[test]
fn the_product_page_example_is_accepted_with_schema_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "e.ndjson", PRODUCT_PAGE);
    let loaded = load(&path, true).unwrap();
    assert_eq!(loaded.report.accepted(), 1);
    assert_eq!(
        loaded.report.warnings.values().sum::<u64>(),
        4,
        "{:?}",
        loaded.report.warnings
    );
}

fn valid_events() -> Vec<Event> {
    [EXPOSURE, TRACK, PRODUCT_PAGE]
        .iter()
        .map(|l| Event::from_json_str(l).unwrap().0)
        .collect()
}

#[test]
fn csv_and_parquet_give_the_same_tables_as_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let events = valid_events();
    let nd = dir.path().join("e.ndjson");
    let csv = dir.path().join("e.csv");
    let pq = dir.path().join("e.parquet");
    for p in [&nd, &csv, &pq] {
        write_events(&events, p).unwrap();
    }
    let base = load(&nd, true).unwrap().tables;
    for p in [csv, pq] {
        let t = load(&p, true).unwrap().tables;
        assert!(
            t.exposures.equals_missing(&base.exposures),
            "{}:\n{}\n{}",
            p.display(),
            t.exposures,
            base.exposures
        );
        // Rows name their own file and line, which differ by format by design.
        let events_only =
            |df: &polars::prelude::DataFrame| df.drop_many(["source_file", "source_line"]);
        assert!(
            events_only(&t.tracks).equals_missing(&events_only(&base.tracks)),
            "{}:\n{}\n{}",
            p.display(),
            t.tracks,
            base.tracks
        );
        assert!(
            t.attributions.equals_missing(&base.attributions),
            "{}",
            p.display()
        );
    }
}

#[test]
fn csv_rows_are_validated_like_ndjson_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.csv");
    write_events(&valid_events(), &path).unwrap();
    let mut text = std::fs::read_to_string(&path).unwrap();
    let header: Vec<String> = text
        .lines()
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let row = |cells: &[(&str, &str)]| {
        header
            .iter()
            .map(|h| cells.iter().find(|c| c.0 == h).map_or("", |c| c.1))
            .collect::<Vec<_>>()
            .join(",")
            + "\n"
    };
    text.push_str(&row(&[
        ("type", "exposure"),
        ("unitKey", "u"),
        ("timestamp", "2026-05-21T10:30:00Z"),
        ("layerId", "l"),
        ("bucket", "-4"),
    ]));
    text.push_str(&row(&[
        ("type", "exposure"),
        ("unitKey", "u"),
        ("timestamp", "2026-05-21T10:30:00Z"),
        ("layerId", "l"),
        ("bucket", "4"),
        ("probability", "abc"),
    ]));
    text.push_str(&row(&[
        ("type", "track"),
        ("unitKey", "u"),
        ("timestamp", "2026-05-21T10:30:00Z"),
        ("event", "x"),
        ("context", "{not json"),
    ]));
    std::fs::write(&path, &text).unwrap();
    let data_rows = text.lines().count() as u64 - 1;
    let loaded = load(&path, false).unwrap();
    assert_eq!(loaded.report.read(), data_rows);
    assert_eq!(loaded.report.quarantined(), 3);
    let got: Vec<(u64, &str)> = loaded
        .rejected
        .iter()
        .map(|r| (r.line, r.field.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (data_rows - 1, "layers[0].bucket"),
            (data_rows, "layers[0].probability"),
            (data_rows + 1, "context")
        ]
    );
    assert_eq!(loaded.rejected[0].record["bucket"], "-4");
    let err = load(&path, true).unwrap_err();
    assert!(
        matches!(err, Error::InvalidRecord { ref field, .. } if field == "layers[0].bucket"),
        "{err}"
    );
}

#[test]
fn unknown_columns_and_extensions_are_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "e.csv",
        "type,unitkey,timestamp\ntrack,u,2026-05-21T10:30:00Z\n",
    );
    let err = load(&path, false).unwrap_err().to_string();
    assert!(
        err.contains("unknown column \"unitkey\" (did you mean \"unitKey\"?)"),
        "{err}"
    );
    let path = write(dir.path(), "e.txt", "");
    let err = load(&path, false).unwrap_err().to_string();
    assert!(
        err.contains("unknown event file extension \"txt\""),
        "{err}"
    );
}

#[test]
fn parquet_rows_are_validated_with_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut events = valid_events();
    // A probability the validator refuses, written straight into the parquet.
    events[0].layers[0].probability = Some(2.0);
    let path = dir.path().join("e.parquet");
    write_events(&events, &path).unwrap();
    let loaded = load(&path, false).unwrap();
    assert_eq!(loaded.report.read(), 4);
    assert_eq!(loaded.rejected.len(), 1);
    assert_eq!(
        (loaded.rejected[0].line, loaded.rejected[0].field.as_str()),
        (1, "layers[0].probability")
    );
    assert_eq!(loaded.rejected[0].record["probability"], 2.0);
}
