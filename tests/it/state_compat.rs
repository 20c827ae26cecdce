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
    Engine::new(RetrainOptions {
        // After every saved as-of: time never runs backwards past a state.
        as_of: bandit_engine::time::parse_rfc3339("2026-12-01T00:00:00Z"),
        seed: 3,
        ..RetrainOptions::default()
    })
    .with_state(state)
    .retrain(&inputs)
    .unwrap()
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
