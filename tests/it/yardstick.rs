//! `metrics` in decision mode against the yardstick's independent Python pipeline
//! (`../shared/yardstick/pipeline_polars.py`: exposure dedup, decision attribution for
//! events with a `decisionId`, the unit-key rule for the rest, per allocation exposed
//! users, converted users and revenue) on a small log of its generator. The log and the
//! pipeline's numbers are committed (`tests/fixtures/yardstick/README.md` says how they
//! were made).

use std::path::PathBuf;

use bandit_engine::metrics::AnalysisUnit;
use bandit_engine::{Engine, RetrainInputs, RetrainOptions};

#[test]
fn decision_mode_metrics_equal_the_python_pipeline_on_a_small_shop_log() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yardstick");
    let (policies, reports, _) = Engine::new(RetrainOptions::default())
        .metrics_per(
            &RetrainInputs::from_paths(
                dir.join("config.yaml"),
                dir.join("bundle.json"),
                &[dir.join("events.ndjson")],
            ),
            &[],
            AnalysisUnit::Unit,
        )
        .unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let rows = expected["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 9);
    let mut by_unit_key = 0;
    for r in rows {
        let (policy, alloc) = (
            r["policyId"].as_str().unwrap(),
            r["allocationName"].as_str().unwrap(),
        );
        let a = policies
            .iter()
            .flat_map(|p| &p.allocations)
            .find(|a| a.policy_id == policy && a.allocation_name == alloc)
            .unwrap_or_else(|| panic!("no row for {policy} {alloc}"));
        let int = |k: &str| r[k].as_u64().unwrap();
        let float = |k: &str| r[k].as_f64().unwrap();
        assert_eq!(
            (a.exposures, a.conversions),
            (int("exposedUnits"), int("convertedUnits")),
            "{policy} {alloc}"
        );
        // To the cent, and the mean and its interval to rounding.
        assert_eq!(
            (a.value_sum * 100.0).round(),
            (float("revenueSum") * 100.0).round(),
            "{policy} {alloc}"
        );
        for (ours, theirs) in [
            (a.mean, "meanRevenue"),
            (a.ci_low, "ciLow"),
            (a.ci_high, "ciHigh"),
        ] {
            assert!(
                (ours.unwrap() - float(theirs)).abs() < 1e-9,
                "{policy} {alloc} {theirs}"
            );
        }
        by_unit_key += int("fallbackCredits");
    }
    // The log exercises the unit-key rule: the pipeline credited some events by it, and
    // so did the engine.
    assert!(by_unit_key > 0);
    assert!(reports.iter().map(|r| r.credited_by_unit_key).sum::<u64>() > 0);
    assert!(reports
        .iter()
        .all(|r| r.mode == "decision" && r.unlinked == 0));
}
