//! State files written by earlier versions are read back and warm-started from.
//!
//! `tests/fixtures/state-compat/world/state-<commit>.json` were written by
//! `bandit-engine retrain` built at that commit, on the world beside them (a
//! `synth --units 250 --seed 11 --days 2` project; `config-linear.yaml` learns the
//! checkout policy with `linear_contextual`); `scripts/state-fixtures.sh` makes them
//! again. A warm start from each must give what a full refit gives, policy by
//! policy, or say in the report why the saved statistics were not reused.
//!
//! `tests/fixtures/state-compat/state.json` was written by `bandit-engine retrain`
//! at commit f26032f (before statistics keys were spelled out instead of taken from
//! `Debug` output), on the demo events with the fixture's config, whose settings
//! touch every part of a key. If a key changed spelling, the engine would not
//! recognise the saved statistics and would silently count every policy afresh.

use std::path::PathBuf;

use bandit_engine::state::EngineState;
use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/state-compat")
        .join(rel)
}

fn demo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/demo")
        .join(rel)
}

#[test]
fn a_state_written_before_stable_keys_warm_starts_every_policy() {
    let state = EngineState::from_path(fixture("state.json")).unwrap();
    assert_eq!(
        state.policies.len(),
        2,
        "the fixture holds both demo policies"
    );
    let inputs = RetrainInputs::from_paths(
        fixture(".traffical/config.yaml"),
        demo("bundle.json"),
        &[demo("events.ndjson")],
    );
    let outcome = Engine::new(RetrainOptions::default())
        .with_state(Some(state.clone()))
        .retrain(&inputs)
        .unwrap();
    for report in &outcome.report.policies {
        let saved = &state.policies[&report.policy_id];
        // Same key: the saved statistics are reused and the run counts nothing new,
        // since every exposure is at or before the saved watermark.
        assert_eq!(
            outcome.state.policies[&report.policy_id].statistics, saved.statistics,
            "{}: statistics key",
            report.policy_id
        );
        for arm in &report.arms {
            assert_eq!(arm.new_exposures, 0, "{} {}", report.policy_id, arm.name);
            assert_eq!(
                arm.exposures, saved.arms[&arm.name].exposures,
                "{} {}: the saved totals are the fit's",
                report.policy_id, arm.name
            );
        }
    }
}

fn world(rel: &str) -> PathBuf {
    fixture("world").join(rel)
}

/// The policy reports of a run over the world's events, from `state` or from none.
fn run_world(config: &str, state: Option<EngineState>) -> bandit_engine::RetrainOutcome {
    let inputs = RetrainInputs::from_paths(
        world(config),
        world("bundle.json"),
        &[world("events.ndjson")],
    );
    run_at(&inputs, state).unwrap()
}

/// A run of `inputs` from `state`, after every saved as-of (time never runs backwards
/// past a state).
fn run_at(
    inputs: &RetrainInputs,
    state: Option<EngineState>,
) -> bandit_engine::Result<bandit_engine::RetrainOutcome> {
    Engine::new(RetrainOptions {
        as_of: bandit_engine::time::parse_rfc3339("2026-12-01T00:00:00Z"),
        seed: 3,
        ..RetrainOptions::default()
    })
    .with_state(state)
    .retrain(inputs)
}

/// What a policy learned and published: per allocation its counts, sums and range.
fn learned(
    o: &bandit_engine::RetrainOutcome,
    policy: &str,
) -> Vec<(String, u64, String, [u32; 2])> {
    let p = o
        .report
        .policies
        .iter()
        .find(|p| p.policy_id == policy)
        .unwrap();
    p.arms
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                a.exposures,
                format!("{:.9}", a.reward_sum),
                a.new_range,
            )
        })
        .collect()
}

/// Warm start from the state written at `commit` against a full refit: equal for every
/// policy, or (for the policies named in `not_reused`) a note saying why not.
fn check_old_state(commit: &str, config: &str, not_reused: &[&str]) {
    let state = EngineState::from_path(world(&format!("state-{commit}.json"))).unwrap();
    let warm = run_world(config, Some(state.clone()));
    let full = run_world(config, None);
    for p in &full.report.policies {
        let id = p.policy_id.as_str();
        assert_eq!(
            learned(&warm, id),
            learned(&full, id),
            "{commit} {id}: warm start = full refit"
        );
        let w = warm
            .report
            .policies
            .iter()
            .find(|w| w.policy_id == id)
            .unwrap();
        let dropped = w
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("not reused"));
        assert_eq!(
            dropped,
            not_reused.contains(&id),
            "{commit} {id}: {:?}",
            w.reason
        );
    }
    // And what is published: ranges, contextual models, everything.
    assert_eq!(
        warm.bundle.to_json_pretty(),
        full.bundle.to_json_pretty(),
        "{commit}: the bundle"
    );
    for id in state.policies.keys() {
        assert!(
            full.report.policies.iter().any(|p| &p.policy_id == id),
            "{id}"
        );
    }
}

#[test]
fn a_state_written_before_per_entity_state_warm_starts_like_a_full_refit() {
    // Commit e4c3ce7 (before per-entity bandits). The decision-mode policy's
    // statistics were counted before the unit-key rule (issue 15), so they are not
    // reused, and the report says so; the cumulative one's are.
    check_old_state("e4c3ce7", "config.yaml", &["policy_checkout_cta"]);
}

#[test]
fn a_state_written_before_linear_state_warm_starts_like_a_full_refit() {
    // Commit e79cc96 (before the linear warm start): the linear policy's state holds
    // no feature layout or sums, so it is refitted on every row given, and the report
    // says why; the cumulative policy's statistics are reused.
    check_old_state("e79cc96", "config-linear.yaml", &["policy_checkout_cta"]);
}

/// The world's bundle with `edit` applied, written beside a copy of the world.
fn edited_world(dir: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) -> RetrainInputs {
    let mut bundle: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(world("bundle.json")).unwrap()).unwrap();
    edit(&mut bundle);
    let path = dir.join("bundle.json");
    std::fs::write(&path, serde_json::to_string_pretty(&bundle).unwrap()).unwrap();
    RetrainInputs::from_paths(world("config.yaml"), path, &[world("events.ndjson")])
}

/// An edit of a bundle's JSON.
type Edit = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn a_state_applied_to_an_edited_bundle_warns_and_publishes_what_a_refit_would() {
    // The bundle edited outside the engine after the state was written: an allocation
    // renamed, the bucket count changed (ranges scaled), the cumulative policy's
    // allocations reordered. The run warns (`stateWarning`) and the bundle is the
    // one a full refit of the edited bundle publishes: saved statistics are matched
    // by allocation name, so nothing is credited to the wrong allocation.
    let state = EngineState::from_path(world("state-e4c3ce7.json")).unwrap();
    let discount = |b: &mut serde_json::Value| -> serde_json::Value {
        b["layers"][2]["policies"][0]["allocations"].take()
    };
    let edits: Vec<(&str, Edit)> = vec![
        (
            "allocation renamed",
            Box::new(move |b| {
                let mut a = discount(b);
                a[1]["name"] = "discount_five".into();
                b["layers"][2]["policies"][0]["allocations"] = a;
            }),
        ),
        (
            "bucket count changed",
            Box::new(|b| {
                b["hashing"]["bucketCount"] = 1000.into();
                for layer in b["layers"].as_array_mut().unwrap() {
                    for p in layer["policies"].as_array_mut().unwrap() {
                        if let Some(r) = p.get_mut("eligibleBucketRange") {
                            r["start"] = (r["start"].as_u64().unwrap() / 10).into();
                            r["end"] = (r["end"].as_u64().unwrap() / 10).into();
                        }
                        for a in p["allocations"].as_array_mut().unwrap() {
                            let r = &mut a["bucketRange"];
                            r[0] = (r[0].as_u64().unwrap() / 10).into();
                            r[1] = (r[1].as_u64().unwrap() / 10).into();
                        }
                    }
                }
            }),
        ),
        (
            "allocations reordered",
            Box::new(move |b| {
                let mut a = discount(b);
                a.as_array_mut().unwrap().reverse();
                b["layers"][2]["policies"][0]["allocations"] = a;
            }),
        ),
    ];
    for (name, edit) in edits {
        let dir = tempfile::tempdir().unwrap();
        let inputs = edited_world(dir.path(), edit);
        let warm = run_at(&inputs, Some(state.clone())).unwrap_or_else(|e| panic!("{name}: {e}"));
        let full = run_at(&inputs, None).unwrap();
        assert!(warm.report.state_warning.is_some(), "{name}: no warning");
        assert_eq!(
            warm.bundle.to_json_pretty(),
            full.bundle.to_json_pretty(),
            "{name}: the bundle"
        );
    }
}
