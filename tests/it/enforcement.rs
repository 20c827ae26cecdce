//! Schema enforcement on track events: off, warn and reject, with nothing lost, and
//! discovery of undefined events.

use std::path::{Path, PathBuf};

use bandit_engine::config::{ProjectConfig, Rule, SchemaEnforcement};
use bandit_engine::enforce::{enforce, Enforcement, ViolationCount};
use bandit_engine::events::{load_events, EventType, LoadOptions, Loaded};
use serde_json::json;

const CONFIG: &str = r#"
events:
  checkout:
    valueType: count
    schemaEnforcement: MODE
    properties:
      order_id: { type: string, required: true, format: uuid }
      total: { type: number, required: true, minimum: 0 }
      method: { type: string, enum: [card, paypal] }
  add_to_cart:
    valueType: count
    schemaEnforcement: off
    properties:
      qty: { type: integer, minimum: 1 }
"#;

const OK_ID: &str = "0b9f0f3e-3c1a-4d8e-9d7b-2f4c1c2b9a10";

/// Line 1 exposure, 2 valid checkout, 3 checkout breaking three rules, 4 malformed,
/// 5 add_to_cart breaking its schema (enforcement off), 6 checkout with a negative
/// total, 7 and 8 undefined events.
fn lines() -> Vec<String> {
    let track = |event: &str, value: &str, props: serde_json::Value, attr: bool| {
        let mut e = json!({"type":"track","unitKey":"u1","timestamp":"2026-11-01T00:00:00Z","event":event,"properties":props,"decisionId":"d1"});
        if let Ok(v) = value.parse::<f64>() {
            e["value"] = json!(v);
        }
        if attr {
            e["attribution"] = json!([{"layerId":"l","policyId":"p","allocationName":"a"}]);
        }
        e.to_string()
    };
    vec![
        r#"{"type":"exposure","unitKey":"u1","timestamp":"2026-11-01T00:00:00Z","decisionId":"d1","layers":[{"layerId":"l","policyId":"p","allocationName":"a","bucket":1}]}"#.to_owned(),
        track("checkout", "10", json!({"order_id": OK_ID, "total": 10, "method": "card"}), true),
        track("checkout", "2.5", json!({"order_id": "nope", "method": "cash"}), true),
        "{not json".to_owned(),
        track("add_to_cart", "1", json!({"qty": 0}), false),
        track("checkout", "5", json!({"order_id": OK_ID, "total": -5}), false),
        track("page_view", "", json!({"path": "/a", "ms": 3}), false),
        track("page_view", "", json!({"path": "/b", "ms": 2.5, "ref": "x"}), false),
    ]
}

fn setup(mode: &str) -> (tempfile::TempDir, PathBuf, ProjectConfig) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    std::fs::write(&events, lines().join("\n")).unwrap();
    let cfg = ProjectConfig::from_str_named(&CONFIG.replace("MODE", mode), "config.yaml").unwrap();
    (dir, events, cfg)
}

fn run(mode: &str) -> (Loaded, Enforcement, PathBuf, tempfile::TempDir) {
    let (dir, events, cfg) = setup(mode);
    let mut loaded = load_events(std::slice::from_ref(&events), LoadOptions::default()).unwrap();
    let e = enforce(&cfg, &mut loaded).unwrap();
    (loaded, e, events, dir)
}

fn assert_nothing_lost(l: &Loaded) {
    let r = &l.report;
    assert_eq!(r.read(), 8);
    assert_eq!(r.read(), r.accepted() + r.quarantined());
    assert_eq!(r.quarantined() as usize, l.rejected.len());
    let tracks = r.by_type[&EventType::Track] as usize;
    assert_eq!(l.tables.tracks.height(), tracks);
    assert_eq!(
        r.accepted() as usize,
        tracks + r.by_type[&EventType::Exposure] as usize
    );
}

fn count(event: &str, property: &str, rule: Rule, n: u64) -> ViolationCount {
    ViolationCount {
        event: event.into(),
        property: property.into(),
        rule,
        count: n,
    }
}

#[test]
fn off_mode_checks_nothing_and_keeps_every_event() {
    let (loaded, e, ..) = run("off");
    assert_nothing_lost(&loaded);
    assert_eq!(e.report.checked, 0);
    assert!(e.report.violations.is_empty());
    assert_eq!(loaded.tables.tracks.height(), 6);
    assert_eq!(loaded.rejected.len(), 1, "only the malformed line");
    assert_eq!(e.report.events["checkout"].seen, 3);
}

#[test]
fn warn_mode_keeps_every_event_and_counts_by_event_property_and_rule() {
    let (loaded, e, ..) = run("warn");
    assert_nothing_lost(&loaded);
    assert_eq!(loaded.tables.tracks.height(), 6);
    assert_eq!(loaded.tables.attributions.height(), 2);
    let r = &e.report;
    assert_eq!((r.checked, r.invalid, r.rejected), (3, 2, 0));
    let p = &r.events["checkout"];
    assert_eq!(p.enforcement, SchemaEnforcement::Warn);
    assert_eq!((p.seen, p.checked, p.invalid, p.rejected), (3, 3, 2, 0));
    assert_eq!(
        r.violations,
        vec![
            count("checkout", "method", Rule::Enum, 1),
            count("checkout", "order_id", Rule::Format, 1),
            count("checkout", "total", Rule::Required, 1),
            count("checkout", "total", Rule::Minimum, 1),
            count("checkout", "value", Rule::ValueType, 1),
        ]
    );
    let summary = r.summary();
    assert!(
        summary.starts_with(
            "schemas: 3 track events checked, 2 invalid (2 kept with warnings, 0 rejected"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("  checkout method invalid_enum: 1\n"),
        "{summary}"
    );
    assert!(
        summary.contains("discovered: 1 undefined event: page_view (2)"),
        "{summary}"
    );
}

#[test]
fn warn_report_serialises_with_rule_codes() {
    let (_, e, ..) = run("warn");
    let v = serde_json::to_value(&e.report).unwrap();
    assert_eq!(
        v["violations"][0],
        json!({"event":"checkout","property":"method","rule":"invalid_enum","count":1})
    );
    assert_eq!(v["events"]["checkout"]["enforcement"], "warn");
    assert_eq!(v["discovered"], json!({"page_view": 2}));
}

#[test]
fn reject_mode_moves_invalid_events_to_the_quarantine_with_every_reason() {
    let (loaded, e, events, _dir) = run("reject");
    assert_nothing_lost(&loaded);
    assert_eq!(e.report.rejected, 2);
    assert_eq!(loaded.tables.tracks.height(), 4);
    // The rejected checkout's attribution entry goes with it.
    assert_eq!(loaded.tables.attributions.height(), 1);
    let file = events.display().to_string();
    let lines: Vec<(u64, &str)> = loaded
        .rejected
        .iter()
        .map(|r| {
            assert_eq!(r.file, file);
            (r.line, r.field.as_str())
        })
        .collect();
    assert_eq!(
        lines,
        [
            (3, "value, order_id, total, method"),
            (4, "record"),
            (6, "total")
        ]
    );
    let bad = &loaded.rejected[0];
    assert_eq!(
        bad.reason,
        "value: a count value must be a non-negative integer, found 2.5 (invalid_value); \
         order_id: \"nope\" is not a valid uuid (invalid_format); \
         total: required property \"total\" is missing (missing_required); \
         method: \"cash\" is not one of \"card\", \"paypal\" (invalid_enum)"
    );
    assert_eq!(bad.record["event"], "checkout");
    assert_eq!(bad.record["unit_key"], "u1");
    assert_eq!(
        bad.record["properties"],
        json!({"order_id": "nope", "method": "cash"})
    );
    let kept: Vec<&str> = loaded
        .tables
        .tracks
        .column("event")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(kept, ["checkout", "add_to_cart", "page_view", "page_view"]);
    assert_eq!(loaded.report.files[0].quarantined, 3);
}

#[test]
fn undefined_events_are_kept_counted_and_described() {
    let (loaded, e, ..) = run("warn");
    let kept = loaded.tables.tracks.column("event").unwrap().str().unwrap();
    assert_eq!(kept.iter().filter(|n| *n == Some("page_view")).count(), 2);
    assert_eq!(e.discovered.events["page_view"].count, 2);
    assert_eq!(
        e.discovered.to_yaml(),
        "# Track events seen without a definition in config.yaml, described from the\n\
         # data by bandit-engine. Review, then paste under `events:`.\n\
         events:\n\
         \x20 page_view:\n\
         \x20   valueType: count\n\
         \x20   description: \"Discovered from 2 track events without a definition; review before use.\"\n\
         \x20   properties:\n\
         \x20     ms:\n\
         \x20       type: number\n\
         \x20       required: true\n\
         \x20     path:\n\
         \x20       type: string\n\
         \x20       required: true\n\
         \x20     ref:\n\
         \x20       type: string\n"
    );
}

#[test]
fn tracks_remember_their_source_file_and_line() {
    let (loaded, _, events, _dir) = run("off");
    let t = &loaded.tables.tracks;
    let lines: Vec<u64> = t
        .column("source_line")
        .unwrap()
        .u64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(lines, [2, 3, 5, 6, 7, 8]);
    let file = t
        .column("source_file")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_owned();
    assert_eq!(Path::new(&file), events);
}

#[test]
fn retrain_reports_enforcement_and_publishes_discovered_yaml() {
    use bandit_engine::{Engine, RetrainInputs, RetrainOptions};
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let mut events = std::fs::read_to_string(demo.join("events.ndjson")).unwrap();
    events.push_str("{\"type\":\"track\",\"unitKey\":\"u\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"event\":\"newsletter_signup\",\"properties\":{\"source\":\"footer\"}}\n");
    let path = dir.path().join("events.ndjson");
    std::fs::write(&path, events).unwrap();
    let inputs = RetrainInputs::from_paths(
        demo.join(".traffical/config.yaml"),
        demo.join("bundle.json"),
        &[&path],
    );
    let outcome = Engine::new(RetrainOptions::default())
        .retrain(&inputs)
        .unwrap();
    let r = &outcome.report;
    assert_eq!(r.enforcement.discovered["newsletter_signup"], 1);
    assert!(r.enforcement.checked > 0);
    assert_eq!(r.events_read, r.events_accepted + r.events_quarantined);
    let published = outcome.publish(dir.path().join("out")).unwrap();
    let yaml = std::fs::read_to_string(&published.discovered).unwrap();
    assert!(
        yaml.contains("  newsletter_signup:\n    valueType: count\n"),
        "{yaml}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&published.report).unwrap()).unwrap();
    assert_eq!(report["enforcement"]["discovered"]["newsletter_signup"], 1);
}

#[test]
fn enforcement_results_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Enforcement>();
    send_sync::<bandit_engine::enforce::EnforcementReport>();
    send_sync::<bandit_engine::enforce::Discovered>();
}

#[test]
fn enforcing_twice_changes_nothing_more() {
    let (dir, events, cfg) = setup("reject");
    let mut loaded = load_events(std::slice::from_ref(&events), LoadOptions::default()).unwrap();
    enforce(&cfg, &mut loaded).unwrap();
    let tracks = loaded.tables.tracks.height();
    let again = enforce(&cfg, &mut loaded).unwrap();
    assert_eq!(again.report.rejected, 0);
    assert_eq!(loaded.tables.tracks.height(), tracks);
    assert_nothing_lost(&loaded);
    drop(dir);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    use bandit_engine::events::{Event, LoadReport, TableBuilder};
    let cfg = ProjectConfig::from_str_named(&CONFIG.replace("MODE", "reject"), "c.yaml").unwrap();
    // More rows than one parallel chunk, invalid ones spread across chunks.
    let mut b = TableBuilder::default();
    for i in 0..70_000u64 {
        let mut e = Event::new(EventType::Track, format!("u{}", i % 97), i as i64);
        e.event = Some(if i % 13 == 0 { "misc" } else { "checkout" }.into());
        e.value = Some((i % 3) as f64);
        let total = if i % 7 == 0 { -1 } else { 3 };
        e.properties = json!({"order_id": OK_ID, "total": total})
            .as_object()
            .cloned();
        b.push_from(e, Some(("gen.ndjson", i + 1)));
    }
    let tables = b.finish().unwrap();
    let run = |threads: usize| {
        let mut loaded = Loaded {
            tables: tables.clone(),
            report: LoadReport::default(),
            rejected: Vec::new(),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let e = pool.install(|| enforce(&cfg, &mut loaded)).unwrap();
        (e, loaded.rejected, loaded.tables.tracks.height())
    };
    let (one, two) = (run(1), run(2));
    // Multiples of 7 below 70 000 (10 000) that are not multiples of 91 (770 are).
    assert_eq!(one.0.report.rejected, 10_000 - 770);
    assert_eq!(one.0, two.0);
    assert_eq!(one.1, two.1);
    assert_eq!(one.2, two.2);
}
