//! A retrain over a log split into partitions (`--partitions N`, or a `--memory-limit`
//! the log exceeds) publishes the same bytes as the retrain in memory: bundle, state,
//! report, quarantine and discovered events, on logs that span several partitions,
//! in both attribution modes, with multi-touch models, caps, a linear contextual
//! policy, per-entity policies, schema rejections and malformed records, and inputs
//! of several files in mixed formats.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Command;

use bandit_engine::synth::entities::{entity_world, EntityWorldParams};
use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bandit-engine"));
    c.arg("-q");
    c
}

fn ok(c: &mut Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What a retrain published, file by file.
fn published(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in [
        "bundle.json",
        "state.json",
        "report.json",
        "quarantine.ndjson",
        "discovered.yaml",
    ] {
        let p = dir.join(name);
        if p.exists() {
            out.push((name.to_owned(), std::fs::read(&p).unwrap()));
        }
    }
    assert!(out.len() >= 3, "nothing published in {}", dir.display());
    out
}

/// Retrains `world` with `extra` flags in memory and in each of `partitions`, checks
/// every published file is the same, and returns them.
fn same_bytes(
    world: &Path,
    events: &[PathBuf],
    extra: &[&str],
    partitions: &[usize],
) -> Vec<(String, Vec<u8>)> {
    let tmp = tempfile::tempdir().unwrap();
    let run = |n: usize| -> Vec<(String, Vec<u8>)> {
        let out = tmp.path().join(format!("out-{n}"));
        let mut c = bin();
        c.args([
            "retrain",
            "--config",
            s(&world.join(".traffical/config.yaml")),
            "--bundle",
            s(&world.join("bundle.json")),
            "--out",
            s(&out),
            "--seed",
            "3",
            "--partitions",
            &n.to_string(),
            "--spill-dir",
            s(tmp.path()),
            "--events",
        ]);
        c.args(events).args(extra);
        ok(&mut c);
        published(&out.join("current"))
    };
    let whole = run(1);
    for &n in partitions {
        let parts = run(n);
        assert_eq!(whole.len(), parts.len(), "{extra:?}, {n} partitions");
        for ((name, a), (_, b)) in whole.iter().zip(&parts) {
            assert!(
                a == b,
                "{name} differs with {n} partitions ({extra:?}):\n--- in memory\n{}\n--- partitioned\n{}",
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b)
            );
        }
    }
    // Nothing of the spill is left behind.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("bandit-engine-spill-"))
        .collect();
    assert!(left.is_empty(), "spill directories left: {left:?}");
    whole
}

fn synth(dir: &Path, units: u32, seed: u64) -> PathBuf {
    let w = dir.join(format!("world-{units}-{seed}"));
    ok(bin().args([
        "synth",
        "--units",
        &units.to_string(),
        "--seed",
        &seed.to_string(),
        "--malformed-rate",
        "0.01",
        "--out",
        s(&w),
    ]));
    w
}

/// Edits the world's config: `from` replaced by `to` once (the edit must apply).
fn edit_config(world: &Path, from: &str, to: &str) {
    let path = world.join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in the synth config");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_demo_gives_the_same_bytes_in_2_3_and_7_partitions() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let events = [demo.join("events.ndjson")];
    let _ = same_bytes(&demo, &events, &[], &[2, 3, 7]);
    let _ = same_bytes(&demo, &events, &["--attribution", "cumulative"], &[4]);
    let _ = same_bytes(
        &demo,
        &events,
        &["--attribution", "decision", "--attribution-model", "linear"],
        &[5],
    );
}

#[test]
fn a_synth_world_with_a_linear_policy_rejections_and_mixed_files_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let w = synth(tmp.path(), 2500, 11);
    // A linear contextual policy, and track events of a schema in reject mode.
    let config = std::fs::read_to_string(w.join(".traffical/config.yaml")).unwrap();
    let at = config.find("policy_checkout_cta:").expect("synth policy");
    let (head, tail) = config.split_at(at);
    let tail = tail.replacen(
        "algorithm: thompson_bernoulli",
        "algorithm: linear_contextual\n    lambda: 2",
        1,
    );
    std::fs::write(w.join(".traffical/config.yaml"), format!("{head}{tail}")).unwrap();
    edit_config(&w, "schemaEnforcement: warn", "schemaEnforcement: reject");
    // paypal purchases break the schema: rejected into the quarantine
    edit_config(
        &w,
        "enum: [credit_card, paypal, apple_pay]",
        "enum: [credit_card, apple_pay]",
    );
    // Half the log as ndjson, half as parquet.
    let all = std::fs::read_to_string(w.join("events.ndjson")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let half = lines.len() / 2;
    std::fs::write(w.join("a.ndjson"), lines[..half].join("\n") + "\n").unwrap();
    std::fs::write(w.join("b.ndjson"), lines[half..].join("\n") + "\n").unwrap();
    ok(bin().args([
        "convert",
        "--in",
        s(&w.join("b.ndjson")),
        "--out",
        s(&w.join("b.parquet")),
    ]));
    let events = [w.join("a.ndjson"), w.join("b.parquet")];
    let published = same_bytes(&w, &events, &[], &[3, 8]);
    let quarantine = &published
        .iter()
        .find(|(n, _)| n == "quarantine.ndjson")
        .expect("a quarantine")
        .1;
    let text = String::from_utf8_lossy(quarantine);
    let schema = text
        .lines()
        .filter(|l| l.contains("payment_method"))
        .count();
    let malformed = text.lines().filter(|l| l.contains("a.ndjson")).count();
    assert!(
        schema > 10 && malformed > 3,
        "{schema} schema rejections, {malformed} malformed lines"
    );
    let _ = same_bytes(&w, &events, &["--attribution", "cumulative"], &[5]);
}

/// Multi-armed policies sum their rows in each partition instead of keeping them: with
/// a maturity and no `--as-of` (the cutoff known only once every partition is read),
/// with `--as-of`, with a capped goal (whose rows are kept), and warm started from a
/// state's watermark.
#[test]
fn summed_policies_with_maturity_caps_and_a_state_give_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let w = synth(tmp.path(), 3000, 7);
    edit_config(
        &w,
        "    minExposuresBeforeShift: 100\n",
        "    minExposuresBeforeShift: 100\n    maturityMinutes: 2880\n",
    );
    let events = [w.join("events.ndjson")];
    let first = same_bytes(&w, &events, &[], &[3, 6]);
    let report = &first.iter().find(|(n, _)| n == "report.json").unwrap().1;
    let report: serde_json::Value = serde_json::from_slice(report).unwrap();
    let immature = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policyId"] == "policy_checkout_cta")
        .map(|p| p["immatureExposures"].as_u64().unwrap())
        .unwrap();
    assert!(immature > 10, "two days of seven are immature: {immature}");
    let _ = same_bytes(&w, &events, &["--as-of", "2026-11-12T00:00:00Z"], &[4]);
    // A capped sum goal keeps its rows; the other policy's are summed.
    edit_config(
        &w,
        "goal: { event: purchase, type: conversion_rate }\n    minExposuresBeforeShift: 50",
        "goal: { event: purchase, type: sum, cap: { quantile: 0.9 } }\n    minExposuresBeforeShift: 50",
    );
    let _ = same_bytes(&w, &events, &[], &[5]);
    // Warm start: a state from the first half of the log, then the whole log after
    // its watermark.
    let all = std::fs::read_to_string(&events[0]).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    std::fs::write(
        w.join("half.ndjson"),
        lines[..lines.len() / 2].join("\n") + "\n",
    )
    .unwrap();
    let first_out = tmp.path().join("first");
    ok(bin().args([
        "retrain",
        "--config",
        s(&w.join(".traffical/config.yaml")),
        "--bundle",
        s(&w.join("bundle.json")),
        "--out",
        s(&first_out),
        "--events",
        s(&w.join("half.ndjson")),
    ]));
    let state = first_out.join("current/state.json");
    let _ = same_bytes(&w, &events, &["--state", s(&state)], &[2, 7]);
}

#[test]
fn per_entity_policies_give_the_same_outcome_in_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let world = entity_world(&EntityWorldParams {
        views: 6_000,
        products: 60,
        ..EntityWorldParams::default()
    })
    .unwrap();
    world.write(tmp.path()).unwrap();
    let inputs = RetrainInputs::from_paths(
        tmp.path().join(".traffical/config.yaml"),
        tmp.path().join("bundle.json"),
        &[tmp.path().join("events.ndjson")],
    );
    let run = |n: usize| {
        Engine::new(RetrainOptions {
            seed: 5,
            partitions: Some(n),
            ..RetrainOptions::default()
        })
        .retrain(&inputs)
        .unwrap()
    };
    let whole = run(1);
    assert!(
        whole.bundle.bundle().entity_state.is_some(),
        "the entity world publishes entity state"
    );
    for n in [2, 6] {
        let parts = run(n);
        assert_eq!(
            whole.bundle.to_json_pretty(),
            parts.bundle.to_json_pretty(),
            "{n}"
        );
        assert_eq!(format!("{:?}", whole.report), format!("{:?}", parts.report));
        assert_eq!(format!("{:?}", whole.state), format!("{:?}", parts.state));
        assert_eq!(whole.rejected, parts.rejected);
    }
}

#[test]
fn a_memory_limit_the_log_exceeds_splits_it_and_changes_nothing() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let events = [demo.join("events.ndjson")];
    let size = std::fs::metadata(&events[0]).unwrap().len();
    let needed = bandit_engine::partition::partitions_needed(
        &events,
        bandit_engine::partition::MemoryLimit(size),
    )
    .unwrap();
    assert!(
        needed > 1,
        "a limit of the file's size splits it ({needed})"
    );
    let inputs = RetrainInputs::from_paths(
        demo.join(".traffical/config.yaml"),
        demo.join("bundle.json"),
        &events,
    );
    let run = |limit: u64| {
        Engine::new(RetrainOptions {
            seed: 1,
            memory_limit: Some(bandit_engine::partition::MemoryLimit(limit)),
            ..RetrainOptions::default()
        })
        .retrain(&inputs)
        .unwrap()
    };
    let (whole, split) = (run(1 << 40), run(size));
    assert_eq!(whole.bundle.to_json_pretty(), split.bundle.to_json_pretty());
    assert_eq!(format!("{:?}", whole.report), format!("{:?}", split.report));
}

/// `metrics` with `args` in memory and in each of `partitions`: the same JSON (and the
/// same attribution report).
fn same_metrics(world: &Path, events: &[PathBuf], args: &[&str], partitions: &[usize]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let run = |n: usize| -> (Vec<u8>, Vec<u8>) {
        let report = tmp.path().join(format!("attribution-{n}.json"));
        let mut c = bin();
        c.args([
            "metrics",
            "--config",
            s(&world.join(".traffical/config.yaml")),
            "--bundle",
            s(&world.join("bundle.json")),
            "--json",
            "--attribution-report",
            s(&report),
            "--partitions",
            &n.to_string(),
            "--spill-dir",
            s(tmp.path()),
            "--events",
        ]);
        c.args(events).args(args);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (out.stdout, std::fs::read(&report).unwrap())
    };
    let whole = run(1);
    for &n in partitions {
        let parts = run(n);
        assert!(
            whole.0 == parts.0,
            "metrics differ with {n} partitions ({args:?}):\n{}\n---\n{}",
            String::from_utf8_lossy(&whole.0),
            String::from_utf8_lossy(&parts.0)
        );
        assert!(
            whole.1 == parts.1,
            "attribution reports differ ({n}, {args:?})"
        );
    }
    String::from_utf8(whole.0).unwrap()
}

#[test]
fn metrics_with_breakdowns_give_the_same_json_in_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let w = synth(tmp.path(), 1500, 5);
    let events = [w.join("events.ndjson")];
    // by exposure context, and by the goal's dimension (payment_method)
    let json = same_metrics(&w, &events, &["--by-context", "country"], &[3, 6]);
    assert!(
        json.contains("payment_method") && json.contains("context.country"),
        "breakdowns by dimension and context: {json}"
    );
    same_metrics(
        &w,
        &events,
        &["--per", "decision", "--attribution", "decision"],
        &[4],
    );
    same_metrics(&w, &events, &["--population", "assigned"], &[5]);
}

#[test]
fn an_empty_file_in_partitions_gives_what_it_gives_in_memory() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.ndjson");
    std::fs::write(&empty, "").unwrap();
    // beside the demo's events, and alone (with an as-of, as there is no event time)
    let _ = same_bytes(
        &demo,
        &[empty.clone(), demo.join("events.ndjson")],
        &[],
        &[3],
    );
    let _ = same_bytes(
        &demo,
        std::slice::from_ref(&empty),
        &["--as-of", "2026-11-20T00:00:00Z"],
        &[2],
    );
}

#[test]
fn a_value_too_large_to_square_is_named_alike_in_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let w = synth(tmp.path(), 1200, 8);
    // The checkout policy learns the purchase value; five purchases overflow its square.
    edit_config(
        &w,
        "algorithm: thompson_bernoulli",
        "algorithm: thompson_gaussian",
    );
    edit_config(
        &w,
        "goal: { event: purchase, type: conversion_rate }",
        "goal: { event: purchase, type: sum }",
    );
    let text = std::fs::read_to_string(w.join("events.ndjson")).unwrap();
    let mut huge = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if huge < 5 && l.contains("\"event\":\"purchase\"") && l.contains("\"value\":") {
                huge += 1;
                let at = l.find("\"value\":").unwrap() + 8;
                let end = at + l[at..].find([',', '}']).unwrap();
                format!("{}1e200{}", &l[..at], &l[end..])
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert_eq!(huge, 5);
    let events = w.join("huge.ndjson");
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();
    let published = same_bytes(&w, std::slice::from_ref(&events), &[], &[3, 7]);
    let report = String::from_utf8_lossy(
        &published
            .iter()
            .find(|(n, _)| n == "report.json")
            .unwrap()
            .1,
    )
    .into_owned();
    assert!(
        report.contains("overflow") && report.contains("huge.ndjson:"),
        "{report}"
    );
}
