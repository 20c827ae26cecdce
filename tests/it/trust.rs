//! Hostile input that used to poison a retrain: an event from the far future, an
//! as-of before the input, a rerun without new events, a value too large to square,
//! output paths that are inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use bandit_engine::engine::RunStatus;
use bandit_engine::publish::Store;
use bandit_engine::synth::{generate, write_world, SynthParams};
use bandit_engine::time::parse_rfc3339;
use bandit_engine::{Engine, Error, RetrainInputs, RetrainOptions};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
}

/// A synthetic world in `dir`; returns its inputs.
fn world(dir: &Path) -> RetrainInputs {
    let w = generate(&SynthParams {
        units: 300,
        seed: 1,
        ..SynthParams::default()
    })
    .unwrap();
    write_world(&w, dir).unwrap();
    RetrainInputs::from_paths(
        dir.join(".traffical/config.yaml"),
        dir.join("bundle.json"),
        &[dir.join("events.ndjson")],
    )
}

/// The world's events with line `n` (1-based, the first line `pick` accepts) edited
/// by `edit`, written to `name`; returns the path and the line number.
fn edited(
    dir: &Path,
    name: &str,
    pick: impl Fn(&str) -> bool,
    edit: impl Fn(&str) -> String,
) -> (PathBuf, usize) {
    let text = std::fs::read_to_string(dir.join("events.ndjson")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let i = lines.iter().position(|l| pick(l)).unwrap();
    lines[i] = edit(&lines[i]);
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    (p, i + 1)
}

fn retrain(
    inputs: &RetrainInputs,
    as_of: Option<&str>,
) -> bandit_engine::Result<bandit_engine::RetrainOutcome> {
    Engine::new(RetrainOptions {
        seed: 3,
        as_of: as_of.map(|t| parse_rfc3339(t).unwrap()),
        ..RetrainOptions::default()
    })
    .retrain(inputs)
}

/// The checkout policy's report.
fn checkout(o: &bandit_engine::RetrainOutcome) -> &bandit_engine::engine::PolicyReport {
    o.report
        .policies
        .iter()
        .find(|p| p.policy_id == "policy_checkout_cta")
        .unwrap()
}

#[test]
fn an_exposure_from_the_far_future_is_quarantined_and_poisons_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = world(dir.path());
    let clean = retrain(&inputs, None).unwrap();
    let stamp = |l: &str| l.split("\"timestamp\":\"").nth(1).unwrap()[..24].to_owned();
    let (file, line) = edited(
        dir.path(),
        "future.ndjson",
        |l| l.contains("\"type\":\"exposure\""),
        |l| l.replace(&stamp(l), "9999-12-31T23:59:59.000Z"),
    );
    let mut poisoned = inputs.clone();
    poisoned.events = vec![file.clone()];
    let out = retrain(&poisoned, None).unwrap();
    let r = out
        .rejected
        .iter()
        .find(|r| r.line == line as u64)
        .expect("the far-future exposure is quarantined");
    assert_eq!(r.field, "timestamp");
    assert_eq!(r.file, file.display().to_string());
    assert!(
        r.reason.contains("after this machine's clock"),
        "{}",
        r.reason
    );
    assert!(
        !out.report.as_of.starts_with("9999"),
        "{}",
        out.report.as_of
    );
    assert!(!out.bundle.bundle().version.starts_with("9999"));
    for p in out.state.policies.values() {
        assert!(
            !p.exposures_through
                .as_deref()
                .unwrap_or("")
                .starts_with("9999"),
            "a watermark took the far-future time"
        );
    }
    assert!(out.report.as_of <= clean.report.as_of);
}

#[test]
fn an_exposure_from_the_far_future_in_parquet_is_quarantined_by_row() {
    // The columnar parquet reader checks a column at a time; the far-future rule must
    // hold there too, with the row named.
    let dir = tempfile::tempdir().unwrap();
    let inputs = world(dir.path());
    let text = std::fs::read_to_string(dir.path().join("events.ndjson")).unwrap();
    let mut events = Vec::new();
    let mut edited = false;
    for l in text.lines() {
        let Ok((mut e, _)) = bandit_engine::events::Event::from_json_str(l) else {
            continue;
        };
        if !edited && l.contains("\"type\":\"exposure\"") {
            e.timestamp = parse_rfc3339("9999-12-31T23:59:59.000Z").unwrap();
            edited = true;
        }
        events.push(e);
    }
    assert!(edited);
    let file = dir.path().join("future.parquet");
    bandit_engine::events::write_events(&events, &file).unwrap();
    let mut poisoned = inputs.clone();
    poisoned.events = vec![file.clone()];
    let out = retrain(&poisoned, None).unwrap();
    // The flat layout has one row per exposure layer: each of the exposure's rows is
    // quarantined, by row, and nothing else.
    assert!(!out.rejected.is_empty());
    for r in &out.rejected {
        assert_eq!(r.field, "timestamp");
        assert_eq!(r.file, file.display().to_string());
        assert!(
            r.reason.starts_with(
                "9999-12-31T23:59:59.000Z is more than a day after this machine's clock"
            ),
            "{}",
            r.reason
        );
    }
    assert!(
        !out.report.as_of.starts_with("9999"),
        "{}",
        out.report.as_of
    );
}

#[test]
fn an_as_of_before_the_input_bundle_or_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = world(dir.path());
    let e = retrain(&inputs, Some("0000-01-01T00:00:00Z")).unwrap_err();
    assert!(matches!(e, Error::AsOf { .. }), "{e}");
    assert!(
        e.to_string().contains("before the input bundle's version"),
        "{e}"
    );
    let first = retrain(&inputs, None).unwrap();
    let published = first.publish(dir.path().join("out")).unwrap();
    let mut chained = inputs.clone();
    chained.bundle = published.bundle;
    let e = Engine::new(RetrainOptions {
        as_of: parse_rfc3339("2026-11-02T00:00:00Z"),
        ..RetrainOptions::default()
    })
    .with_state(Some(first.state.clone()))
    .retrain(&chained)
    .unwrap_err();
    assert!(e.to_string().contains("time cannot move backwards"), "{e}");
}

#[test]
fn a_rerun_without_new_events_never_reuses_a_version_for_another_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = world(dir.path());
    let out = dir.path().join("out");
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut chained = inputs.clone();
    let mut state = None;
    for _ in 0..3 {
        let o = Engine::new(RetrainOptions::default())
            .with_state(state.take())
            .retrain(&chained)
            .unwrap();
        let p = o.publish(&out).unwrap();
        let v = o.bundle.bundle().version.clone();
        let text = o.bundle.to_json_pretty();
        for (sv, st) in &seen {
            assert!(sv != &v || st == &text, "version {v} names two bundles");
        }
        if let Some((last, _)) = seen.last() {
            assert!(v >= *last, "version went back: {last} → {v}");
        }
        seen.push((v, text));
        chained.bundle = p.bundle;
        state = Some(o.state);
    }
    let versions: Vec<&String> = seen.iter().map(|(v, _)| v).collect();
    assert!(versions.windows(2).any(|w| w[0] != w[1]) || seen.windows(2).all(|w| w[0].1 == w[1].1));
}

#[test]
fn a_value_too_large_to_square_errors_only_its_policy_and_names_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = world(dir.path());
    // Make the first policy learn the purchase value (a Gaussian on sums).
    let config = std::fs::read_to_string(&inputs.config).unwrap();
    let config = config
        .replacen(
            "algorithm: thompson_bernoulli",
            "algorithm: thompson_gaussian",
            1,
        )
        .replacen(
            "goal: { event: purchase, type: conversion_rate }",
            "goal: { event: purchase, type: sum }",
            1,
        );
    std::fs::write(&inputs.config, config).unwrap();
    let (file, line) = edited(
        dir.path(),
        "huge.ndjson",
        |l| {
            l.contains("\"event\":\"purchase\"")
                && l.contains("\"value\":")
                && l.contains("decisionId")
        },
        |l| {
            let at = l.find("\"value\":").unwrap() + 8;
            let end = at + l[at..].find([',', '}']).unwrap();
            format!("{}1e200{}", &l[..at], &l[end..])
        },
    );
    inputs.events = vec![file.clone()];
    let out = retrain(&inputs, None).expect("one policy's overflow does not stop the run");
    let cta = checkout(&out);
    assert_eq!(cta.status, RunStatus::Errored);
    let reason = cta.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("{}:{line}", file.display())),
        "{reason}"
    );
    assert!(reason.contains("overflow"), "{reason}");
    let other = out
        .report
        .policies
        .iter()
        .find(|p| p.policy_id != "policy_checkout_cta")
        .unwrap();
    assert_ne!(other.status, RunStatus::Errored, "{:?}", other.reason);
    // The state can be written (no infinity in it) and the run publishes.
    out.state.to_json_pretty().unwrap();
    out.publish(dir.path().join("out")).unwrap();
    // `metrics` gives no interval or p-value for the overflowed allocation, never p = 0.
    let o = bin()
        .args(["metrics", "--json", "--config"])
        .arg(&inputs.config)
        .arg("--bundle")
        .arg(&inputs.bundle)
        .arg("--events")
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    for r in rows
        .iter()
        .filter(|r| r["policyId"] == "policy_checkout_cta")
    {
        assert!(
            r["pValue"].is_null() || r["pValue"].as_f64() > Some(0.0),
            "{r}"
        );
        for k in ["lift", "liftCiLow", "liftCiHigh", "variance"] {
            assert!(
                r[k].is_null() || r[k].as_f64().is_some_and(f64::is_finite),
                "{r}"
            );
        }
    }
}

#[test]
fn convert_refuses_an_output_that_is_its_input() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path());
    let events = dir.path().join("events.ndjson");
    let before = std::fs::read(&events).unwrap();
    for extra in [
        vec!["--out".into(), events.clone()],
        vec![
            "--out".into(),
            dir.path().join("x.parquet"),
            "--quarantine".into(),
            events.clone(),
        ],
        vec!["--out".into(), dir.path().join(".").join("events.ndjson")],
    ] {
        let o = bin()
            .args(["convert", "--in"])
            .arg(&events)
            .args(&extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("would destroy the input"), "{err}");
        assert_eq!(
            std::fs::read(&events).unwrap(),
            before,
            "the input was touched"
        );
    }
}

#[test]
fn plain_files_in_the_output_directory_are_kept_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = world(dir.path());
    let o = retrain(&inputs, None).unwrap();
    // A report someone keeps there, and no bundle to adopt: refused, untouched.
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report.json"), "mine\n").unwrap();
    let e = o.publish(&out).unwrap_err();
    assert!(matches!(e, bandit_engine::Error::Refused { .. }), "{e:?}");
    assert!(e.to_string().contains("report.json already in"), "{e}");
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).unwrap(),
        "mine\n"
    );
    // Beside a bundle retrained in place, it goes into version 1 with that bundle.
    std::fs::copy(&inputs.bundle, out.join("bundle.json")).unwrap();
    let p = o.publish(&out).unwrap();
    assert_eq!(p.version, 2);
    let v1 = Store::new(&out).load(1).unwrap();
    assert_eq!(
        std::fs::read_to_string(v1.dir.join("report.json")).unwrap(),
        "mine\n"
    );
}

#[test]
fn exposures_the_bundle_cannot_explain_are_reported_not_dropped_silently() {
    // One exposure layer with a bucket beyond the bundle's bucketCount (logged under
    // another hashing), and one naming an allocation the bundle lacks, in a run where
    // the checkout policy's status is decided by something else (too few exposures).
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = world(dir.path());
    let is_cta = |l: &str| {
        l.contains("\"type\":\"exposure\"") && l.contains("\"allocationName\":\"buy_now\"")
    };
    let (bucket_file, _) = edited(dir.path(), "bucket.ndjson", is_cta, |l| {
        let at = l.find("\"bucket\":").unwrap() + "\"bucket\":".len();
        let end = at + l[at..].find(',').unwrap();
        format!("{}20000{}", &l[..at], &l[end..])
    });
    let text = std::fs::read_to_string(&bucket_file).unwrap();
    let ghost = text
        .lines()
        .filter(|l| is_cta(l))
        .nth(1)
        .unwrap()
        .replace(
            "\"allocationName\":\"buy_now\"",
            "\"allocationName\":\"ghost\"",
        )
        .replace("\"id\":\"", "\"id\":\"ghost-");
    std::fs::write(&bucket_file, format!("{text}{ghost}\n")).unwrap();
    inputs.events = vec![bucket_file];
    let config = std::fs::read_to_string(&inputs.config).unwrap().replacen(
        "minExposuresBeforeShift: 100\n",
        "minExposuresBeforeShift: 1000000\n",
        1,
    );
    std::fs::write(&inputs.config, config).unwrap();
    let outcome = retrain(&inputs, None).unwrap();
    let w = &outcome.report.warnings;
    assert!(
        w.iter()
            .any(|(what, n)| what.contains("bucketCount (10000)") && *n == 1),
        "{w:?}"
    );
    let cta = checkout(&outcome);
    assert_eq!(cta.status, RunStatus::InsufficientExposures);
    let reason = cta.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("allocations not in the bundle, ignored: ghost"),
        "{reason}"
    );
}
