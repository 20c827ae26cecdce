//! State files written by earlier versions are read back and warm-started from.
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
