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
