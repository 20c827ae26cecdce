//! Metrics on a hand-checkable reward table.

use approx::assert_abs_diff_eq;
use bandit_engine::metrics::policy_metrics;
use bandit_engine::sdk::model::Policy;
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

/// `converted` of `n` units converted in each allocation.
fn conversions(control: (usize, usize), treatment: (usize, usize)) -> LazyFrame {
    let mut rows = Vec::new();
    for (name, (converted, n)) in [("control", control), ("treatment", treatment)] {
        rows.extend((0..n).map(|i| (name, if i < converted { 1.0 } else { 0.0 })));
    }
    rewards(&rows)
}

#[test]
fn relative_lift_of_conversion_rates_matches_fiellers_interval() {
    // 120 of 1000 against 100 of 1000: +20 %. Variances of the means p(1 − p)/(n − 1).
    // Golden ends, Python 3.11 + numpy 2.4, the roots of Fieller's quadratic minus one:
    // v, vc = .12*.88/999, .1*.9/999
    // sorted(np.roots([.1**2 - z*z*vc, -2*.12*.1, .12**2 - z*z*v]) - 1)
    let m = policy_metrics(conversions((100, 1000), (120, 1000)), &policy()).unwrap();
    let (c, t) = (&m.allocations[0], &m.allocations[1]);
    assert_eq!(
        (
            c.relative_lift,
            c.relative_lift_ci_low,
            c.relative_lift_ci_high
        ),
        (None, None, None),
        "the control has no relative lift, as it has no lift"
    );
    assert_abs_diff_eq!(t.relative_lift.unwrap(), 0.2, epsilon = 1e-12);
    assert_abs_diff_eq!(
        t.relative_lift_ci_low.unwrap(),
        -0.066_068_171_264_334_84,
        epsilon = 1e-10
    );
    assert_abs_diff_eq!(
        t.relative_lift_ci_high.unwrap(),
        0.552_104_254_512_604_5,
        epsilon = 1e-10
    );
    // It is the lift over the control mean, and agrees with the Welch test (p > 0.05,
    // the interval holds 0).
    assert_abs_diff_eq!(
        t.relative_lift.unwrap(),
        t.lift.unwrap() / c.mean.unwrap(),
        epsilon = 1e-12
    );
    assert!(t.p_value.unwrap() > 0.05);
}

#[test]
fn a_control_without_conversions_or_with_one_unit_has_a_null_relative_lift() {
    let zero = policy_metrics(conversions((0, 50), (5, 50)), &policy()).unwrap();
    let t = &zero.allocations[1];
    assert!(t.lift.is_some(), "the absolute lift is still defined");
    assert_eq!(
        (
            t.relative_lift,
            t.relative_lift_ci_low,
            t.relative_lift_ci_high
        ),
        (None, None, None)
    );
    let json = serde_json::to_value(t).unwrap();
    for key in ["relativeLift", "relativeLiftCiLow", "relativeLiftCiHigh"] {
        assert!(json[key].is_null(), "{key} in {json}");
    }
    let single = policy_metrics(conversions((1, 1), (5, 50)), &policy()).unwrap();
    assert_eq!(single.allocations[1].relative_lift, None);
}

#[test]
fn a_control_mean_within_its_noise_of_zero_gives_the_relative_lift_without_an_interval() {
    // Control 1 of 4: mean 0.25, standard error √(0.25/4) = 0.25, one standard error
    // from 0; g = z²·v_c/m_c² = z² ≈ 3.84 > 1: every ratio is compatible with the data.
    let m = policy_metrics(conversions((1, 4), (2, 4)), &policy()).unwrap();
    let t = &m.allocations[1];
    assert_abs_diff_eq!(t.relative_lift.unwrap(), 1.0, epsilon = 1e-12);
    assert_eq!(
        (t.relative_lift_ci_low, t.relative_lift_ci_high),
        (None, None)
    );
    assert!(
        t.lift_ci_low.is_some(),
        "the absolute interval is still there"
    );
}

#[cfg(feature = "cli")]
#[test]
fn metrics_json_rows_carry_the_relative_lift_and_it_agrees_with_the_means() {
    use serde_json::Value;
    let dir = tempfile::tempdir().unwrap();
    let world = crate::common::synth_world(dir.path(), 400, 5);
    let run = |json: bool| crate::common::world_metrics(&world, json);
    let rows: Vec<Value> = serde_json::from_str(&run(true)).unwrap();
    let f = |r: &Value, k: &str| r[k].as_f64();
    let (mut with_interval, mut unbounded) = (0, 0);
    for r in &rows {
        for key in ["relativeLift", "relativeLiftCiLow", "relativeLiftCiHigh"] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
        // The control of the same policy and slice: the row without a lift.
        let control = rows
            .iter()
            .find(|c| {
                c["policyId"] == r["policyId"]
                    && c.get("dimensionValue") == r.get("dimensionValue")
                    && c["lift"].is_null()
            })
            .unwrap();
        if r["lift"].is_null() {
            assert!(r["relativeLift"].is_null(), "control row {r}");
            assert!(r["relativeLiftCiLow"].is_null() && r["relativeLiftCiHigh"].is_null());
            continue;
        }
        let (mean, mean_c) = (f(r, "mean").unwrap(), f(control, "mean").unwrap());
        assert!(control["exposures"].as_u64().unwrap() >= 2);
        if mean_c == 0.0 {
            assert!(r["relativeLift"].is_null(), "{r}");
            continue;
        }
        let rel = f(r, "relativeLift").unwrap();
        assert!(
            (rel - (mean - mean_c) / mean_c).abs() < 1e-9,
            "{r} against {control}"
        );
        assert!((rel - f(r, "lift").unwrap() / mean_c).abs() < 1e-9, "{r}");
        match (f(r, "relativeLiftCiLow"), f(r, "relativeLiftCiHigh")) {
            (Some(low), Some(high)) => {
                with_interval += 1;
                assert!(low <= rel && rel <= high, "{r}");
                // Significant in relative terms exactly when the Welch test says so.
                let p = f(r, "pValue").unwrap();
                if (p - 0.05).abs() > 1e-4 {
                    assert_eq!(low > 0.0 || high < 0.0, p < 0.05, "{r}");
                }
            }
            (None, None) => unbounded += 1,
            _ => panic!("one end without the other: {r}"),
        }
    }
    assert!(
        with_interval > 0 && unbounded > 0,
        "{with_interval} {unbounded}"
    );
    let table = run(false);
    assert!(table.contains("relative lift [95% CI]"), "{table}");
    assert!(table.contains("[unbounded]"), "{table}");
    // The table shows the first treatment row's relative lift in percent.
    let first = rows
        .iter()
        .find(|r| !r["lift"].is_null() && r.get("dimension").is_none());
    let pct = format!(
        "{:+.1}%",
        f(first.unwrap(), "relativeLift").unwrap() * 100.0
    );
    assert!(table.contains(&pct), "{pct} in {table}");
}
