//! `validate` and `generate-types`, as a person runs them.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
}

fn demo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/demo")
        .join(rel)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn validate_accepts_the_demo_project_and_summarises_its_events() {
    let out = bin()
        .arg("validate")
        .arg("--config")
        .arg(demo(".traffical/config.yaml"))
        .arg("--bundle")
        .arg(demo("bundle.json"))
        .arg("--events")
        .arg(demo("events.ndjson"))
        .output()
        .unwrap();
    let stdout = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(": ok (2 events, 0 property groups"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every optimised policy is in it and adaptive"),
        "{stdout}"
    );
    assert!(
        stdout.contains("events: 3741 read, 3731 accepted, 10 quarantined"),
        "{stdout}"
    );
    assert!(
        stdout.contains("schemas: 439 track events checked, 0 invalid"),
        "{stdout}"
    );
}

#[test]
fn validate_exits_1_with_file_line_column_for_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "events:\n  purchase:\n    valueType: currency\n    properties:\n      total: { type: number, minimum: zero }\n",
    )
    .unwrap();
    let out = bin()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // Problems go to standard error; nothing checked out, so standard output is empty.
    assert_eq!(text(&out), "");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: {}:5:39 events.purchase.properties.total.minimum: expected a number, found \"zero\"\n",
            cfg.display()
        )
    );
}

#[test]
fn validate_exits_1_when_the_bundle_lacks_an_optimised_policy() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    let text_in = std::fs::read_to_string(demo(".traffical/config.yaml"))
        .unwrap()
        .replace("policy_discount:", "policy_discont:");
    std::fs::write(&cfg, text_in).unwrap();
    let out = bin()
        .arg("validate")
        .arg("--config")
        .arg(&cfg)
        .arg("--bundle")
        .arg(demo("bundle.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("optimization.policy_discont: policy \"policy_discont\" is not in bundle"),
        "{stderr}"
    );
    assert!(
        stderr.contains("(did you mean \"policy_discount\"?)"),
        "{stderr}"
    );
    assert!(!text(&out).contains("error:"), "{}", text(&out));
}

#[test]
fn validate_json_prints_one_object_with_counts_and_discoveries() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        "events:\n  purchase:\n    valueType: currency\n    schemaEnforcement: reject\n    properties:\n      total: { type: number, required: true }\n",
    )
    .unwrap();
    let events = dir.path().join("e.ndjson");
    std::fs::write(
        &events,
        "{\"type\":\"track\",\"unitKey\":\"u\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"event\":\"purchase\",\"properties\":{}}\n\
         {\"type\":\"track\",\"unitKey\":\"u\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"event\":\"signup\"}\n",
    )
    .unwrap();
    let out = bin()
        .arg("validate")
        .arg("--json")
        .arg("--config")
        .arg(&cfg)
        .arg("--events")
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["bundle"], serde_json::Value::Null);
    let e = &v["events"];
    assert_eq!(
        (
            e["read"].as_u64(),
            e["accepted"].as_u64(),
            e["quarantined"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(
        e["enforcement"]["violations"],
        serde_json::json!([{"event":"purchase","property":"total","rule":"missing_required","count":1}])
    );
    assert_eq!(
        e["enforcement"]["discovered"],
        serde_json::json!({"signup": 1})
    );
}

#[test]
fn validate_json_reports_a_bad_config_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "events:\n  x:\n    valueType: money\n").unwrap();
    let out = bin()
        .args(["validate", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["config"]["ok"], false);
    let problem = v["problems"][0].as_str().unwrap();
    assert!(problem.ends_with("config.yaml:3:16 events.x.valueType: unknown value \"money\" (expected one of: currency, count, rate, boolean)"), "{problem}");
}

#[test]
fn generate_types_writes_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("types/events.ts");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden");
    let out = bin()
        .arg("generate-types")
        .arg("--config")
        .arg(golden.join("config.yaml"))
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text(&out).contains("(3 events)"));
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        std::fs::read_to_string(golden.join("events.ts")).unwrap()
    );
}

#[test]
fn generate_types_exits_1_for_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, "events:\n  x:\n    valueTyp: count\n").unwrap();
    let out = bin()
        .arg("generate-types")
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("t.ts"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did you mean"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("t.ts").exists());
}

#[test]
fn validate_prints_every_config_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "events:\n  a:\n    valueType: cont\n  b:\n    valueType: count\n    unitt: x\n",
    )
    .unwrap();
    let out = bin()
        .arg("validate")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 2, "{stdout}");
    assert!(
        errors[0].contains("config.yaml:3:16 events.a.valueType: unknown value \"cont\""),
        "{stdout}"
    );
    assert!(
        errors[1].contains("config.yaml:6:5 events.b.unitt: unknown key \"unitt\""),
        "{stdout}"
    );
}
