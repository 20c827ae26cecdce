//! Metrics on a hand-checkable reward table.

use approx::assert_abs_diff_eq;
use bandit_engine::bundle::Policy;
use bandit_engine::metrics::policy_metrics;
use polars::prelude::*;

fn policy() -> Policy {
    serde_json::from_value(serde_json::json!({
        "id": "p", "state": "running", "kind": "adaptive", "conditions": [],
        "allocations": [
            {"name": "control", "bucketRange": [0, 49], "overrides": {}},
            {"name": "treatment", "bucketRange": [50, 99], "overrides": {}}
        ]
    }))
    .unwrap()
}

fn rewards(rows: &[(&str, f64)]) -> LazyFrame {
    let n = rows.len();
    df!(
        "policy_id" => vec!["p"; n],
        "allocation_name" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "goal_events" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "goal_value" => rows.iter().map(|r| r.1 * 10.0).collect::<Vec<_>>(),
        "reward" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
    )
    .unwrap()
    .lazy()
}

#[test]
fn means_intervals_and_lift_match_the_formulas() {
    let table = rewards(&[
        ("control", 1.0),
        ("control", 0.0),
        ("control", 0.0),
        ("control", 0.0),
        ("treatment", 1.0),
        ("treatment", 1.0),
        ("treatment", 0.0),
        ("treatment", 0.0),
    ]);
    let m = policy_metrics(table, &policy()).unwrap();
    let (c, t) = (&m.allocations[0], &m.allocations[1]);
    assert_eq!(
        (c.exposures, c.conversions, t.exposures, t.conversions),
        (4, 1, 4, 2)
    );
    assert_abs_diff_eq!(t.value_sum, 20.0);
    assert_abs_diff_eq!(c.mean.unwrap(), 0.25);
    assert_abs_diff_eq!(c.variance.unwrap(), 0.25, epsilon = 1e-12);
    // 0.25 ± 1.96·sqrt(0.25/4), and Welch's z for 0.5 − 0.25 (Python: math.erfc).
    assert_abs_diff_eq!(c.ci_low.unwrap(), -0.239_990_996_135_013_5, epsilon = 1e-12);
    assert_abs_diff_eq!(c.ci_high.unwrap(), 0.739_990_996_135_013_5, epsilon = 1e-12);
    assert_eq!(c.lift, None);
    assert_abs_diff_eq!(t.lift.unwrap(), 0.25, epsilon = 1e-12);
    assert_abs_diff_eq!(t.p_value.unwrap(), 0.512_690_760_261_923_4, epsilon = 1e-6);
    let srm = m.sample_ratio.unwrap();
    assert_abs_diff_eq!(srm.chi_square, 0.0);
    assert!(!srm.mismatch);
}

#[test]
fn sample_ratio_mismatch_uses_the_bucket_shares() {
    let table = rewards(&[
        ("control", 0.0),
        ("control", 0.0),
        ("control", 0.0),
        ("control", 0.0),
        ("control", 0.0),
        ("control", 0.0),
        ("treatment", 0.0),
        ("treatment", 0.0),
    ]);
    let srm = policy_metrics(table, &policy())
        .unwrap()
        .sample_ratio
        .unwrap();
    assert_abs_diff_eq!(srm.chi_square, 2.0, epsilon = 1e-12);
    assert_abs_diff_eq!(srm.p_value, 0.157_299_207_050_285_13, epsilon = 1e-9);
    assert_eq!(srm.observed, vec![6, 2]);
}

/// Per policy and allocation: (exposed or assigned units, converted units).
fn demo_counts(
    events: &std::path::Path,
    population: bandit_engine::attribution::Population,
) -> Vec<(String, String, u64, u64)> {
    use bandit_engine::{Engine, RetrainInputs, RetrainOptions};
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let (policies, _) = Engine::new(RetrainOptions {
        population,
        ..RetrainOptions::default()
    })
    .metrics(&RetrainInputs::from_paths(
        root.join(".traffical/config.yaml"),
        root.join("bundle.json"),
        &[events.to_path_buf()],
    ))
    .unwrap();
    policies
        .iter()
        .flat_map(|p| {
            p.allocations.iter().map(|a| {
                (
                    a.policy_id.clone(),
                    a.allocation_name.clone(),
                    a.exposures,
                    a.conversions,
                )
            })
        })
        .collect()
}

#[test]
fn intent_to_treat_counts_assigned_units_whether_or_not_they_were_exposed() {
    use bandit_engine::attribution::Population;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let full = root.join("events.ndjson");
    // The demo logs an exposure for every decision: both views agree on it.
    let exposed = demo_counts(&full, Population::Exposed);
    assert_eq!(exposed, demo_counts(&full, Population::Assigned));
    // Without the exposures of the units whose key ends in 7, those units leave the
    // exposed population but stay assigned.
    let dir = tempfile::tempdir().unwrap();
    let thinned = dir.path().join("events.ndjson");
    let text: String = std::fs::read_to_string(&full)
        .unwrap()
        .lines()
        .filter(|l| {
            let v: serde_json::Value = match serde_json::from_str(l) {
                Ok(v) => v,
                Err(_) => return true,
            };
            !(v["type"] == "exposure" && v["unitKey"].as_str().is_some_and(|u| u.ends_with('7')))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&thinned, text).unwrap();
    let fewer = demo_counts(&thinned, Population::Exposed);
    let total = |rows: &[(String, String, u64, u64)]| rows.iter().map(|r| r.2).sum::<u64>();
    assert!(total(&fewer) < total(&exposed) * 95 / 100, "{fewer:?}");
    assert_eq!(demo_counts(&thinned, Population::Assigned), exposed);
}
