//! From files to a republished bundle, on a synthetic world with known truths.

use std::path::Path;

use bandit_engine::bundle::BundleDocument;
use bandit_engine::engine::RunStatus;
use bandit_engine::synth::{generate, write_world, SynthParams, World};
use bandit_engine::{Engine, RetrainInputs, RetrainOptions};
use serde_json::Value;

use crate::common::bundle_schema_errors;

fn world(dir: &Path, units: u32, seed: u64) -> World {
    let w = generate(&SynthParams {
        units,
        seed,
        ..SynthParams::default()
    })
    .unwrap();
    write_world(&w, dir).unwrap();
    w
}

fn inputs(dir: &Path) -> RetrainInputs {
    RetrainInputs::from_paths(
        dir.join(".traffical/config.yaml"),
        dir.join("bundle.json"),
        &[dir.join("events.ndjson")],
    )
}

/// The bundle with every field the engine owns removed: the bundle `version`, and in
/// adaptive policies `stateVersion` and the allocations' `bucketRange`.
fn without_owned_fields(bundle: &Value) -> Value {
    let mut b = bundle.clone();
    b.as_object_mut().unwrap().remove("version");
    for layer in b["layers"].as_array_mut().unwrap() {
        for p in layer["policies"].as_array_mut().unwrap() {
            if p["kind"] == "adaptive" {
                p.as_object_mut().unwrap().remove("stateVersion");
                for a in p["allocations"].as_array_mut().unwrap() {
                    a.as_object_mut().unwrap().remove("bucketRange");
                }
            }
        }
    }
    b
}

/// The buckets a policy serves: allocation ranges cut to its eligible span.
fn served(policy: &bandit_engine::sdk::Policy) -> Vec<[u32; 2]> {
    policy.covered_segments()
}

#[test]
fn retraining_widens_the_true_best_and_changes_nothing_it_does_not_own() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path(), 3000, 11);
    let before = BundleDocument::from_path(dir.path().join("bundle.json")).unwrap();
    let outcome = Engine::new(RetrainOptions {
        seed: 3,
        ..RetrainOptions::default()
    })
    .retrain(&inputs(dir.path()))
    .unwrap();
    let out = dir.path().join("out");
    let published = outcome.publish(&out).unwrap();
    let after = BundleDocument::from_path(&published.bundle).unwrap();

    // Nothing read is lost: every line is accepted or quarantined.
    assert_eq!(outcome.report.events_read as usize, w.lines.len());
    assert_eq!(outcome.report.events_quarantined as usize, w.malformed);
    assert_eq!(
        std::fs::read_to_string(&published.quarantine)
            .unwrap()
            .lines()
            .count(),
        w.malformed
    );

    for pr in &outcome.report.policies {
        assert_eq!(
            pr.status,
            RunStatus::Updated,
            "{}: {:?}",
            pr.policy_id,
            pr.reason
        );
        let best = &w.truth.best_allocation[&pr.policy_id];
        let widest = pr
            .arms
            .iter()
            .max_by_key(|a| a.new_range[1] - a.new_range[0])
            .unwrap();
        assert_eq!(&widest.name, best, "{}: {:#?}", pr.policy_id, pr.arms);
        let (li, pi) = before.find_policy(&pr.policy_id).unwrap();
        let old = &before.bundle().layers[li].policies[pi];
        let new = &after.bundle().layers[li].policies[pi];
        assert_eq!(
            served(new),
            served(old),
            "{} must serve the same buckets",
            pr.policy_id
        );
        assert_eq!(new.eligible_bucket_range, old.eligible_bucket_range);
        assert_eq!(
            new.state_version.as_deref(),
            Some(outcome.report.as_of.as_str())
        );
    }
    assert_eq!(
        without_owned_fields(after.raw()),
        without_owned_fields(before.raw())
    );
    assert_eq!(after.bundle().version, outcome.report.as_of);
    assert_eq!(bundle_schema_errors(after.raw()), Vec::<String>::new());
}

#[test]
fn the_same_inputs_and_seed_give_the_same_bytes_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path(), 800, 5);
    let run = |threads: usize, out: &str| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let outcome = pool
            .install(|| {
                Engine::new(RetrainOptions {
                    seed: 9,
                    ..RetrainOptions::default()
                })
                .retrain(&inputs(dir.path()))
            })
            .unwrap();
        let p = outcome.publish(dir.path().join(out)).unwrap();
        (
            std::fs::read(p.bundle).unwrap(),
            std::fs::read(p.report).unwrap(),
            std::fs::read(p.quarantine).unwrap(),
        )
    };
    let one = run(1, "a");
    let two = run(2, "b");
    let three = run(3, "c");
    assert_eq!(one, two);
    assert_eq!(one, three);
}

#[test]
fn as_of_stamps_every_written_time_and_a_too_early_rerun_waits() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path(), 800, 6);
    let as_of = bandit_engine::time::parse_rfc3339("2026-11-20T00:00:00Z").unwrap();
    let outcome = Engine::new(RetrainOptions {
        as_of: Some(as_of),
        ..RetrainOptions::default()
    })
    .retrain(&inputs(dir.path()))
    .unwrap();
    assert_eq!(outcome.report.as_of, "2026-11-20T00:00:00.000Z");
    assert_eq!(outcome.bundle.bundle().version, "2026-11-20T00:00:00.000Z");
    // Feed the new bundle back 10 minutes later: policy_discount has windowSizeMinutes: 60.
    outcome.publish(dir.path().join("run1")).unwrap();
    let mut again = inputs(dir.path());
    again.bundle = dir.path().join("run1/bundle.json");
    let later = Engine::new(RetrainOptions {
        as_of: Some(as_of + 10 * 60_000),
        ..RetrainOptions::default()
    })
    .retrain(&again)
    .unwrap();
    let discount = later
        .report
        .policies
        .iter()
        .find(|p| p.policy_id == "policy_discount")
        .unwrap();
    assert_eq!(discount.status, RunStatus::TooSoon, "{:?}", discount.reason);
}

#[test]
fn too_few_exposures_leave_the_bundle_alone() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path(), 60, 2);
    let before = std::fs::read_to_string(dir.path().join("bundle.json")).unwrap();
    let outcome = Engine::new(RetrainOptions::default())
        .retrain(&inputs(dir.path()))
        .unwrap();
    assert!(outcome
        .report
        .policies
        .iter()
        .all(|p| p.status == RunStatus::InsufficientExposures));
    let before: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(outcome.bundle.raw(), &before, "no update, no new version");
}

#[test]
fn a_policy_the_bundle_lacks_is_a_config_error_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path(), 50, 1);
    let cfg = dir.path().join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("  policy_discount:", "  policy_discont:");
    std::fs::write(&cfg, text).unwrap();
    let err = Engine::new(RetrainOptions::default())
        .retrain(&inputs(dir.path()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("optimization.policy_discont: policy \"policy_discont\" is not in bundle"),
        "{err}"
    );
    assert!(err.contains("did you mean \"policy_discount\"?"), "{err}");
}

#[test]
fn every_multi_armed_algorithm_widens_the_true_best() {
    // UCB1 and ε-greedy put everything on one allocation, Gaussian Thompson on the
    // probably best: with the world's clear winner all three pick it in one update.
    for (algorithm, knobs) in [
        ("thompson_gaussian", "priorAlpha: 2\n    priorBeta: 1"),
        ("ucb1", "alpha: 0.5"),
        ("epsilon_greedy", "epsilon: 0.2"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let w = world(dir.path(), 3000, 11);
        let config = dir.path().join(".traffical/config.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        let rewritten = text.replace(
            "algorithm: thompson_bernoulli",
            &format!("algorithm: {algorithm}\n    {knobs}"),
        );
        assert_ne!(text, rewritten);
        std::fs::write(&config, rewritten).unwrap();
        let outcome = Engine::new(RetrainOptions::default())
            .retrain(&inputs(dir.path()))
            .unwrap();
        for pr in &outcome.report.policies {
            assert_eq!(pr.algorithm, algorithm);
            assert_eq!(
                pr.status,
                RunStatus::Updated,
                "{algorithm}: {:?}",
                pr.reason
            );
            let widest = pr
                .arms
                .iter()
                .max_by_key(|a| a.new_range[1] - a.new_range[0])
                .unwrap();
            assert_eq!(
                &widest.name, &w.truth.best_allocation[&pr.policy_id],
                "{algorithm} {}: {:#?}",
                pr.policy_id, pr.arms
            );
            let total: f64 = pr.arms.iter().map(|a| a.new_share).sum();
            assert!((total - 1.0).abs() < 1e-9, "{total}");
        }
    }
}

#[test]
fn linear_contextual_publishes_a_valid_contextual_model() {
    let dir = tempfile::tempdir().unwrap();
    world(dir.path(), 2000, 7);
    let config = dir.path().join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let at = text.find("policy_checkout_cta:").unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen(
        "algorithm: thompson_bernoulli",
        "algorithm: linear_contextual\n    lambda: 2",
        1,
    );
    std::fs::write(&config, format!("{head}{tail}")).unwrap();
    let before = BundleDocument::from_path(dir.path().join("bundle.json")).unwrap();
    let outcome = Engine::new(RetrainOptions::default())
        .retrain(&inputs(dir.path()))
        .unwrap();
    let pr = outcome
        .report
        .policies
        .iter()
        .find(|p| p.policy_id == "policy_checkout_cta")
        .unwrap();
    assert_eq!(pr.algorithm, "linear_contextual");
    assert_eq!(pr.status, RunStatus::Updated, "{:?}", pr.reason);
    assert!(pr.arms.iter().all(|a| a.old_range == a.new_range));
    let raw = outcome.bundle.raw();
    let policy = &raw["layers"][0]["policies"][0];
    let model = &policy["contextualModel"];
    for name in ["control", "buy_now", "urgency"] {
        let c = &model["coefficients"][name];
        assert!(c["intercept"].is_number(), "{model:#}");
        assert_eq!(c["numeric"][0]["key"], "visits", "{model:#}");
        let keys: Vec<&str> = c["categorical"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["country", "device"]);
    }
    let (li, pi) = before.find_policy("policy_checkout_cta").unwrap();
    assert_eq!(
        served(&outcome.bundle.bundle().layers[li].policies[pi]),
        served(&before.bundle().layers[li].policies[pi])
    );
    assert_eq!(bundle_schema_errors(raw), Vec::<String>::new());
    // The exact-scorer extension is there and changes no decision: the same contexts
    // resolve identically without it.
    assert!(model["x-banditEngine"]["allocations"]["urgency"]["choleskyLower"].is_array());
    let mut stripped = raw.clone();
    stripped["layers"][0]["policies"][0]["contextualModel"]
        .as_object_mut()
        .unwrap()
        .remove("x-banditEngine");
    let with: bandit_engine::sdk::Bundle = serde_json::from_value(raw.clone()).unwrap();
    let without: bandit_engine::sdk::Bundle = serde_json::from_value(stripped).unwrap();
    let contract = bandit_engine::sdk::HashContract::Sha256V2;
    let (r1, r2) = (
        bandit_engine::sdk::Resolver::new(&with, contract).unwrap(),
        bandit_engine::sdk::Resolver::new(&without, contract).unwrap(),
    );
    for i in 0..300 {
        let ctx: serde_json::Map<String, Value> = serde_json::from_value(serde_json::json!({
            "userId": format!("u{i}"),
            "country": (["US", "DE", "FR"][i % 3]),
            "device": (["mobile", "desktop"][i % 2]),
            "visits": i % 17,
        }))
        .unwrap();
        assert_eq!(r1.resolve(&ctx).unwrap(), r2.resolve(&ctx).unwrap());
    }
}

/// The world's config with `policy_checkout_cta` (decision attribution) learned by
/// `linear_contextual`.
fn linear_config(dir: &Path) {
    let config = dir.join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let at = text.find("policy_checkout_cta:").unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen(
        "algorithm: thompson_bernoulli",
        "algorithm: linear_contextual\n    lambda: 2",
        1,
    );
    std::fs::write(&config, format!("{head}{tail}")).unwrap();
}

fn write_ndjson(path: &Path, events: &[bandit_engine::events::Event]) {
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_warm_started_linear_policy_equals_a_full_refit_on_the_union() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path(), 2000, 7);
    linear_config(dir.path());
    // Linked events only: a purchase without a decision goes to the late file, where
    // the unit-key rule would not find its unit's early decisions.
    let config = dir.path().join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "algorithm: linear_contextual\n    lambda: 2",
        "algorithm: linear_contextual\n    lambda: 2\n    unlinkedEvents: drop",
        1,
    );
    std::fs::write(&config, text).unwrap();
    // Split by decision: each decision's exposure and purchases go to one file, so no
    // purchase of an early exposure arrives only in the late file.
    let mid = w.events[w.events.len() / 2].timestamp;
    let early_decisions: std::collections::BTreeSet<_> = w
        .events
        .iter()
        .filter(|e| e.timestamp < mid && e.event.is_none())
        .map(|e| e.decision_id.clone())
        .collect();
    let (early, late): (Vec<_>, Vec<_>) = w
        .events
        .iter()
        .cloned()
        .partition(|e| early_decisions.contains(&e.decision_id));
    write_ndjson(&dir.path().join("early.ndjson"), &early);
    write_ndjson(&dir.path().join("late.ndjson"), &late);
    let run = |events: &str, bundle: &Path, state| {
        Engine::new(RetrainOptions::default())
            .with_state(state)
            .retrain(&RetrainInputs::from_paths(
                dir.path().join(".traffical/config.yaml"),
                bundle,
                &[dir.path().join(events)],
            ))
            .unwrap()
    };
    let first = run("early.ndjson", &dir.path().join("bundle.json"), None);
    let saved = first.state.policies["policy_checkout_cta"].linear.clone();
    assert!(saved.is_some(), "the state keeps the linear statistics");
    let first_bundle = dir.path().join("first.json");
    std::fs::write(&first_bundle, first.bundle.to_json_pretty()).unwrap();
    let second = run("late.ndjson", &first_bundle, Some(first.state.clone()));
    let full = run("events.ndjson", &dir.path().join("bundle.json"), None);
    assert_eq!(second.report.as_of, full.report.as_of);

    let policy = |o: &bandit_engine::engine::RetrainOutcome| {
        o.report
            .policies
            .iter()
            .find(|p| p.policy_id == "policy_checkout_cta")
            .unwrap()
            .clone()
    };
    let (p2, pf) = (policy(&second), policy(&full));
    assert_eq!(p2.status, RunStatus::Updated, "{:?}", p2.reason);
    assert!(p2.reason.is_none(), "{:?}", p2.reason);
    for (a, b) in p2.arms.iter().zip(&pf.arms) {
        assert_eq!(a.exposures, b.exposures, "{}", a.name);
        assert!(
            a.new_exposures < a.exposures,
            "{}: only late rows are new",
            a.name
        );
        assert!((a.reward_sum - b.reward_sum).abs() < 1e-9, "{}", a.name);
    }
    let (s2, sf) = (
        second.state.policies["policy_checkout_cta"]
            .linear
            .as_ref()
            .unwrap(),
        full.state.policies["policy_checkout_cta"]
            .linear
            .as_ref()
            .unwrap(),
    );
    assert_eq!(s2.features, sf.features);
    assert_eq!(s2.counts, sf.counts);
    let coefficients = |o: &bandit_engine::engine::RetrainOutcome| -> Vec<f64> {
        fn numbers(v: &Value, out: &mut Vec<f64>) {
            match v {
                Value::Number(n) => out.push(n.as_f64().unwrap()),
                Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
                Value::Object(m) => m.values().for_each(|x| numbers(x, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        numbers(
            &o.bundle.raw()["layers"][0]["policies"][0]["contextualModel"]["coefficients"],
            &mut out,
        );
        out
    };
    let (c2, cf) = (coefficients(&second), coefficients(&full));
    assert_eq!(c2.len(), cf.len());
    assert!(c2.len() > 10);
    for (x, y) in c2.iter().zip(&cf) {
        assert!((x - y).abs() <= 1e-9 * (1.0 + y.abs()), "{x} vs {y}");
    }
}
