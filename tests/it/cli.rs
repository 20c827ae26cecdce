//! The command line, as a person runs it.
#![cfg(feature = "cli")]

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
}

#[test]
fn synth_then_retrain_writes_bundle_report_and_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world");
    let out = bin()
        .args(["synth", "--units", "300", "--seed", "4", "--out"])
        .arg(&world)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = dir.path().join("run");
    let out = bin()
        .args([
            "retrain",
            "--seed",
            "1",
            "--as-of",
            "2026-11-20T00:00:00Z",
            "--config",
        ])
        .arg(world.join(".traffical/config.yaml"))
        .arg("--bundle")
        .arg(world.join("bundle.json"))
        .arg("--events")
        .arg(world.join("events.ndjson"))
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("as of 2026-11-20T00:00:00.000Z"),
        "{stdout}"
    );
    assert!(stdout.contains("policy_checkout_cta"), "{stdout}");
    for f in ["bundle.json", "report.json", "quarantine.ndjson"] {
        assert!(run.join(f).is_file(), "{f}");
    }
}

#[test]
fn strict_mode_exits_non_zero_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("w");
    assert!(bin()
        .args(["synth", "--units", "50", "--out"])
        .arg(&world)
        .status()
        .unwrap()
        .success());
    let events = world.join("events.ndjson");
    let mut text = std::fs::read_to_string(&events).unwrap();
    text.insert_str(0, "{\"type\":\"track\",\"unitKey\":\"u\",\"timestamp\":\"2026-11-01T00:00:00Z\",\"event\":\"x\",\"value\":\"5\"}\n");
    std::fs::write(&events, text).unwrap();
    let out = bin()
        .args(["retrain", "--strict", "--quiet", "--config"])
        .arg(world.join(".traffical/config.yaml"))
        .arg("--bundle")
        .arg(world.join("bundle.json"))
        .arg("--events")
        .arg(&events)
        .arg("--out")
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:1: value: expected a number, found string \"5\"",
            events.display()
        )),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn help_explains_the_commands() {
    let out = bin().args(["retrain", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--as-of",
        "--strict",
        "quarantine.ndjson",
        "atomically",
        "--attribution",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
