//! Goals: where values come from, rewards per goal type, caps, direction, dimension
//! breakdowns and outcome maturity.

use approx::assert_abs_diff_eq;
use bandit_engine::attribution::{cumulative_rewards, decision_rewards, DEFAULT_SESSION_GAP_MS};
use bandit_engine::config::{
    Algorithm, Cap, DesiredDirection, Goal, GoalType, OptimizationSpec, ProjectConfig, ValueSource,
};
use bandit_engine::events::{Event, EventTables, TableBuilder};
use bandit_engine::goal::{
    attribution_goal, goal_rewards, goal_rewards_with, goal_value_tables, restrict_to_dimension,
    GoalValueReport,
};
use bandit_engine::metrics::policy_metrics_against;
use bandit_engine::policy::{fit_multi_armed, Learner};
use bandit_engine::reward::arm_stats;
use bandit_engine::sdk::model::Policy;
use polars::prelude::*;
use serde_json::{json, Value};

const T0: &str = "2026-05-21T10:00:00Z";

fn at(minutes: i64) -> String {
    bandit_engine::time::format_rfc3339(
        bandit_engine::time::parse_rfc3339(T0).unwrap() + minutes * 60_000,
    )
}

fn exposure(unit: &str, decision: &str, allocation: &str, minute: i64) -> Value {
    json!({
        "type": "exposure", "unitKey": unit, "timestamp": at(minute), "decisionId": decision,
        "sessionId": format!("s_{unit}"),
        "layers": [{"layerId": "l", "policyId": "p", "allocationName": allocation, "bucket": 1}]
    })
}

/// A purchase linked to `decision`, with extra fields merged in.
fn purchase(unit: &str, decision: &str, minute: i64, extra: Value) -> Value {
    let mut e = json!({
        "type": "track", "event": "purchase", "unitKey": unit, "timestamp": at(minute),
        "decisionId": decision, "sessionId": format!("s_{unit}")
    });
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn tables(events: &[Value]) -> EventTables {
    let mut b = TableBuilder::default();
    for e in events {
        b.push(Event::from_json(e.clone()).unwrap().0);
    }
    b.finish().unwrap()
}

fn goal(goal_type: GoalType, value: ValueSource) -> Goal {
    Goal {
        event: "purchase".into(),
        goal_type,
        value,
        desired_direction: DesiredDirection::Increase,
        cap: None,
    }
}

/// The goal stage around decision-mode attribution, as the engine strings it.
fn decision_table(events: &[Value], goal: &Goal) -> (DataFrame, GoalValueReport) {
    let (valued, report) = goal_value_tables(&tables(events), goal).unwrap();
    let raw = decision_rewards(&valued, &attribution_goal(goal)).unwrap();
    let (rewards, _) = goal_rewards(raw, goal).unwrap();
    (rewards.collect().unwrap(), report)
}

/// `decision_id → reward` (None: no reward).
fn by_decision(df: &DataFrame) -> Vec<(String, Option<f64>)> {
    let d = df.column("decision_id").unwrap().str().unwrap();
    let r = df.column("reward").unwrap().f64().unwrap();
    let mut out: Vec<_> = (0..df.height())
        .map(|i| (d.get(i).unwrap().to_owned(), r.get(i)))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Two decisions of unit u1 and u2 on control, one of u3 on treatment, and purchases.
fn shop(purchases: Vec<Value>) -> Vec<Value> {
    let mut e = vec![
        exposure("u1", "d1", "control", 0),
        exposure("u2", "d2", "control", 0),
        exposure("u3", "d3", "treatment", 0),
    ];
    e.extend(purchases);
    e
}

#[test]
fn a_sum_goal_reads_a_named_values_entry_not_the_value() {
    let events = shop(vec![
        purchase(
            "u1",
            "d1",
            1,
            json!({"value": 1.0, "values": {"revenue": 12.5}}),
        ),
        purchase(
            "u1",
            "d1",
            2,
            json!({"value": 1.0, "values": {"revenue": 7.5}}),
        ),
        purchase(
            "u3",
            "d3",
            1,
            json!({"value": 1.0, "values": {"margin": 3.0}}),
        ),
    ]);
    let (df, report) = decision_table(
        &events,
        &goal(GoalType::Sum, ValueSource::Values("revenue".into())),
    );
    assert_eq!(
        by_decision(&df),
        vec![
            ("d1".into(), Some(20.0)),
            ("d2".into(), Some(0.0)),
            ("d3".into(), Some(0.0)),
        ]
    );
    // u3's purchase has no `revenue`: it still converts, with value 0, and is counted.
    assert_eq!(report.source, "values.revenue");
    assert_eq!((report.goal_events, report.missing_values), (3, 1));
    assert_eq!(report.without_value, "counted as 0");
    let converted = df.column("goal_events").unwrap().f64().unwrap();
    let n = (0..converted.len())
        .filter(|&i| converted.get(i).unwrap() > 0.0)
        .count();
    assert_eq!(n, 2);
}

#[test]
fn a_sum_goal_reads_a_numeric_property_and_reports_text_values() {
    let events = shop(vec![
        purchase("u1", "d1", 1, json!({"properties": {"order_total": 40}})),
        purchase(
            "u2",
            "d2",
            1,
            json!({"properties": {"order_total": "19.99"}}),
        ),
        purchase("u3", "d3", 1, json!({"properties": {"order_total": 60.5}})),
    ]);
    let (df, report) = decision_table(
        &events,
        &goal(GoalType::Sum, ValueSource::Property("order_total".into())),
    );
    assert_eq!(
        by_decision(&df),
        vec![
            ("d1".into(), Some(40.0)),
            ("d2".into(), Some(0.0)),
            ("d3".into(), Some(60.5)),
        ]
    );
    assert_eq!((report.missing_values, report.non_numeric_values), (0, 1));
    assert!(report.first_without_value.is_some());
}

#[test]
fn a_mean_goal_averages_goal_values_and_leaves_out_events_without_one() {
    let events = shop(vec![
        purchase("u1", "d1", 1, json!({"value": 10.0})),
        purchase("u1", "d1", 2, json!({"value": 20.0})),
        purchase("u1", "d1", 3, json!({})),
        purchase("u2", "d2", 1, json!({})),
    ]);
    let (df, report) = decision_table(&events, &goal(GoalType::Mean, ValueSource::Value));
    // d1: (10 + 20) / 2, the valueless third purchase left out; d2's only purchase
    // has no value, so d2 has no reward, like d3 which bought nothing.
    assert_eq!(
        by_decision(&df),
        vec![
            ("d1".into(), Some(15.0)),
            ("d2".into(), None),
            ("d3".into(), None),
        ]
    );
    assert_eq!(
        (report.missing_values, report.without_value),
        (2, "left out")
    );
}

#[test]
fn a_rate_event_averages_to_a_mean_in_the_unit_interval() {
    let events = shop(vec![
        purchase("u1", "d1", 1, json!({"values": {"completion": 0.2}})),
        purchase("u1", "d1", 2, json!({"values": {"completion": 0.6}})),
        purchase("u3", "d3", 1, json!({"values": {"completion": 1.0}})),
    ]);
    let (df, _) = decision_table(
        &events,
        &goal(GoalType::Mean, ValueSource::Values("completion".into())),
    );
    let rewards = by_decision(&df);
    assert_abs_diff_eq!(rewards[0].1.unwrap(), 0.4, epsilon = 1e-12);
    assert_eq!(rewards[2].1, Some(1.0));
}

#[test]
fn count_goals_count_events_and_conversion_rates_are_zero_or_one() {
    let events = shop(vec![
        purchase("u1", "d1", 1, json!({"value": 5.0})),
        purchase("u1", "d1", 2, json!({"value": 7.0})),
        purchase("u3", "d3", 1, json!({"value": 9.0})),
    ]);
    let (count, report) = decision_table(&events, &goal(GoalType::Count, ValueSource::Value));
    assert_eq!(
        by_decision(&count),
        vec![
            ("d1".into(), Some(2.0)),
            ("d2".into(), Some(0.0)),
            ("d3".into(), Some(1.0)),
        ]
    );
    assert_eq!(report.without_value, "not read");
    let (rate, _) = decision_table(&events, &goal(GoalType::ConversionRate, ValueSource::Value));
    assert_eq!(
        by_decision(&rate),
        vec![
            ("d1".into(), Some(1.0)),
            ("d2".into(), Some(0.0)),
            ("d3".into(), Some(1.0)),
        ]
    );
}

#[test]
fn a_cap_winsorises_each_reward_at_the_quantile_of_converted_units() {
    let mut events = Vec::new();
    for (i, v) in [10.0, 20.0, 30.0, 1000.0].iter().enumerate() {
        let (u, d) = (format!("u{i}"), format!("d{i}"));
        events.push(exposure(
            &u,
            &d,
            if i % 2 == 0 { "control" } else { "treatment" },
            0,
        ));
        events.push(purchase(&u, &d, 1, json!({"value": v})));
    }
    events.push(exposure("u9", "d9", "control", 0));
    let mut g = goal(GoalType::Sum, ValueSource::Value);
    g.cap = Some(Cap { quantile: 0.5 });
    let (valued, _) = goal_value_tables(&tables(&events), &g).unwrap();
    let raw = decision_rewards(&valued, &attribution_goal(&g)).unwrap();
    let (rewards, caps) = goal_rewards(raw, &g).unwrap();
    // Median of the converted units' sums [10, 20, 30, 1000] is 25 (the unit that
    // bought nothing is not in the quantile: at low conversion rates it would pull
    // every quantile to 0).
    assert_eq!(caps.len(), 1);
    assert_abs_diff_eq!(caps[0].value, 25.0);
    assert_eq!(caps[0].capped_units, 2);
    let df = rewards.collect().unwrap();
    assert_eq!(
        by_decision(&df),
        vec![
            ("d0".into(), Some(10.0)),
            ("d1".into(), Some(20.0)),
            ("d2".into(), Some(25.0)),
            ("d3".into(), Some(25.0)),
            ("d9".into(), Some(0.0)),
        ]
    );
    // The value sum the metrics report is the credited value, before the cap.
    let value: f64 = df
        .column("goal_value")
        .unwrap()
        .f64()
        .unwrap()
        .sum()
        .unwrap();
    assert_abs_diff_eq!(value, 1060.0);
    // A breakdown reuses the whole run's threshold instead of its own quantile.
    let mut fixed = caps.clone();
    fixed[0].value = 15.0;
    let raw = decision_rewards(&valued, &attribution_goal(&g)).unwrap();
    let (rewards, applied) = goal_rewards_with(raw, &g, Some(&fixed)).unwrap();
    assert_eq!((applied[0].value, applied[0].capped_units), (15.0, 3));
    let capped = by_decision(&rewards.collect().unwrap());
    assert_eq!(capped[0].1, Some(10.0));
    assert_eq!(capped[3].1, Some(15.0));
}

fn policy_pq() -> Policy {
    serde_json::from_value(json!({
        "id": "p", "state": "running", "kind": "adaptive", "conditions": [],
        "allocations": [
            {"name": "control", "bucketRange": [0, 49], "overrides": {}},
            {"name": "treatment", "bucketRange": [50, 99], "overrides": {}}
        ]
    }))
    .unwrap()
}

fn spec(yaml_goal: &str, algorithm: &str) -> OptimizationSpec {
    let text = format!(
        "events:\n  purchase: {{ valueType: currency }}\noptimization:\n  p:\n    algorithm: {algorithm}\n    goal: {yaml_goal}\n"
    );
    ProjectConfig::from_str_named(&text, "config.yaml")
        .unwrap()
        .optimization
        .remove("p")
        .unwrap()
}

#[test]
fn decrease_flips_the_optimiser_but_not_the_reported_metrics() {
    // Control's units spend 30 each, treatment's 10: lower is better here.
    let mut events = Vec::new();
    for i in 0..20 {
        let (u, d) = (format!("u{i}"), format!("d{i}"));
        let treated = i % 2 == 1;
        events.push(exposure(
            &u,
            &d,
            if treated { "treatment" } else { "control" },
            0,
        ));
        let v = if treated { 10.0 } else { 30.0 } + f64::from(i % 3);
        events.push(purchase(&u, &d, 1, json!({"value": v})));
    }
    let down = spec(
        "{ event: purchase, type: sum, desiredDirection: decrease }",
        "ucb1",
    );
    let (valued, _) = goal_value_tables(&tables(&events), &down.goal).unwrap();
    let raw = decision_rewards(&valued, &attribution_goal(&down.goal)).unwrap();
    let (rewards, _) = goal_rewards(raw, &down.goal).unwrap();
    let m = policy_metrics_against(rewards.clone(), &policy_pq(), None).unwrap();
    assert!(m.allocations[0].mean.unwrap() > 30.0);
    assert!(
        m.allocations[1].lift.unwrap() < -15.0,
        "metrics keep the goal's sign"
    );
    // The relative lift is the plain ratio of means: negative, the good direction here.
    let (c, t) = (&m.allocations[0], &m.allocations[1]);
    let relative = t.relative_lift.unwrap();
    assert!(relative < -0.5, "{relative}");
    assert_abs_diff_eq!(
        relative,
        t.mean.unwrap() / c.mean.unwrap() - 1.0,
        epsilon = 1e-12
    );
    assert!(t.relative_lift_ci_high.unwrap() < 0.0);
    let stats = arm_stats(rewards).unwrap();
    let arms = [stats["p"]["control"], stats["p"]["treatment"]];
    assert!(arms[0].sum > 0.0, "the reward table keeps the goal's sign");
    let learner = |s: &OptimizationSpec| Learner::new(s.algorithm_params(), s.objective()).unwrap();
    let fit = fit_multi_armed(&learner(&down), &arms, "p", 7).unwrap();
    assert_eq!(
        fit.weights,
        vec![0.0, 1.0],
        "the optimiser prefers less spend"
    );
    let up = spec("{ event: purchase, type: sum }", "ucb1");
    assert_eq!(up.algorithm, Algorithm::Ucb1);
    assert_eq!(
        fit_multi_armed(&learner(&up), &arms, "p", 7)
            .unwrap()
            .weights,
        vec![1.0, 0.0]
    );
}

#[test]
fn cumulative_mode_reads_goal_values_the_same_way() {
    let events = shop(vec![
        purchase("u1", "d1", 1, json!({"properties": {"order_total": 40}})),
        purchase("u3", "d3", 1, json!({"properties": {"order_total": 60}})),
    ]);
    let g = goal(GoalType::Sum, ValueSource::Property("order_total".into()));
    let (valued, _) = goal_value_tables(&tables(&events), &g).unwrap();
    let raw = cumulative_rewards(&valued, &attribution_goal(&g), DEFAULT_SESSION_GAP_MS).unwrap();
    let (rewards, _) = goal_rewards(raw, &g).unwrap();
    let df = rewards
        .sort(["unit_key"], SortMultipleOptions::default())
        .collect()
        .unwrap();
    let reward = df.column("reward").unwrap().f64().unwrap();
    let r: Vec<Option<f64>> = (0..reward.len()).map(|i| reward.get(i)).collect();
    assert_eq!(r, vec![Some(40.0), Some(0.0), Some(60.0)]);
}

#[test]
fn a_dimension_restriction_keeps_every_exposed_unit_and_only_matching_goal_events() {
    let events = shop(vec![
        purchase(
            "u1",
            "d1",
            1,
            json!({"value": 10.0, "properties": {"pay": "paypal"}}),
        ),
        purchase(
            "u1",
            "d1",
            2,
            json!({"value": 5.0, "properties": {"pay": "card"}}),
        ),
        purchase(
            "u2",
            "d2",
            1,
            json!({"value": 7.0, "properties": {"pay": "card"}}),
        ),
        purchase("u3", "d3", 1, json!({"value": 1.0})),
    ]);
    let t = tables(&events);
    let g = goal(GoalType::Sum, ValueSource::Value);
    let split = |value: Option<&str>| {
        let only = restrict_to_dimension(&t, "purchase", "pay", value).unwrap();
        let raw = decision_rewards(&only, &attribution_goal(&g)).unwrap();
        by_decision(&goal_rewards(raw, &g).unwrap().0.collect().unwrap())
    };
    let all = |d1: f64, d2: f64, d3: f64| {
        vec![
            ("d1".to_owned(), Some(d1)),
            ("d2".to_owned(), Some(d2)),
            ("d3".to_owned(), Some(d3)),
        ]
    };
    // Every decision stays (the denominator); only the slice's purchases count.
    assert_eq!(split(Some("paypal")), all(10.0, 0.0, 0.0));
    assert_eq!(split(Some("card")), all(5.0, 7.0, 0.0));
    assert_eq!(split(None), all(0.0, 0.0, 1.0));
}

#[test]
fn lifts_are_measured_against_the_named_control() {
    let mut events = Vec::new();
    for i in 0..8 {
        let (u, d) = (format!("u{i}"), format!("d{i}"));
        let treated = i % 2 == 1;
        events.push(exposure(
            &u,
            &d,
            if treated { "treatment" } else { "control" },
            0,
        ));
        if treated || i == 0 {
            events.push(purchase(&u, &d, 1, json!({})));
        }
    }
    let g = goal(GoalType::ConversionRate, ValueSource::Value);
    let (valued, _) = goal_value_tables(&tables(&events), &g).unwrap();
    let raw = decision_rewards(&valued, &attribution_goal(&g)).unwrap();
    let (rewards, _) = goal_rewards(raw, &g).unwrap();
    let m = policy_metrics_against(rewards, &policy_pq(), Some("treatment")).unwrap();
    // Control converts 1 of 4, treatment 4 of 4: against treatment, control is −0.75.
    assert_eq!(m.allocations[1].lift, None);
    assert_abs_diff_eq!(m.allocations[0].lift.unwrap(), -0.75, epsilon = 1e-12);
}

// ---- config ----

fn config_error(yaml: &str) -> String {
    ProjectConfig::from_str_named(yaml, "config.yaml")
        .unwrap_err()
        .to_string()
}

#[test]
fn a_goal_property_must_be_a_declared_number_of_the_event() {
    let base = "\
events:
  purchase:
    valueType: currency
    properties:
      order_total: { type: number }
      currency: { type: string }
optimization:
  p:
    algorithm: thompson_gaussian
";
    let ok = format!(
        "{base}    goal: {{ event: purchase, type: sum, value: {{ property: order_total }} }}\n"
    );
    assert!(ProjectConfig::from_str_named(&ok, "config.yaml").is_ok());
    let typo = format!(
        "{base}    goal: {{ event: purchase, type: sum, value: {{ property: order_totl }} }}\n"
    );
    assert_eq!(
        config_error(&typo),
        "config.yaml:10:60 optimization.p.goal.value.property: event \"purchase\" declares no property \"order_totl\" (did you mean \"order_total\"?)"
    );
    let text = format!(
        "{base}    goal: {{ event: purchase, type: sum, value: {{ property: currency }} }}\n"
    );
    assert_eq!(
        config_error(&text),
        "config.yaml:10:60 optimization.p.goal.value.property: property \"currency\" of event \"purchase\" is of type string, not a number"
    );
}

#[test]
fn goal_parts_that_would_be_ignored_are_errors() {
    let base = "\
events:
  purchase: { valueType: currency }
optimization:
  p:
    algorithm: thompson_gaussian
";
    let cases = [
        (
            "    goal: { event: purchase, type: count, value: { values: items } }\n",
            "optimization.p.goal.value: a count goal counts goal events and reads no value; use type: sum or mean to add or average values",
        ),
        (
            "    goal: { event: purchase, type: conversion_rate, cap: { quantile: 0.99 } }\n",
            "optimization.p.goal.cap: a conversion_rate reward is 0 or 1 and cannot be capped",
        ),
        (
            "    goal: { event: purchase, type: sum, cap: { quantile: 1.5 } }\n",
            "optimization.p.goal.cap.quantile: must be in (0, 1), found 1.5",
        ),
        (
            "    goal: { event: purchase, type: sum, cap: { quantlie: 0.9 } }\n",
            "optimization.p.goal.cap.quantlie",
        ),
        (
            "    goal: { event: purchase }\n    maturityMinutes: -5\n",
            "optimization.p.maturityMinutes: must be a non-negative number, found -5",
        ),
    ];
    for (goal, want) in cases {
        let e = config_error(&format!("{base}{goal}"));
        assert!(e.starts_with("config.yaml:"), "{e}");
        assert!(e.contains(want), "{e}\nwanted: {want}");
    }
    let e = config_error(&format!(
        "{base}    goal: {{ event: purchase, type: sum, cap: {{ quantlie: 0.9 }} }}\n"
    ));
    assert!(e.contains("did you mean \"quantile\""), "{e}");
    let ok = format!(
        "{base}    goal: {{ event: purchase, type: sum, cap: {{ quantile: 0.99 }} }}\n    maturityMinutes: 90\n    control: control\n"
    );
    let spec = &ProjectConfig::from_str_named(&ok, "config.yaml")
        .unwrap()
        .optimization["p"];
    assert_eq!(spec.goal.cap, Some(Cap { quantile: 0.99 }));
    assert_eq!(spec.maturity_minutes, Some(90.0));
    assert_eq!(spec.control.as_deref(), Some("control"));
}

// ---- engine: maturity, control, breakdowns ----

mod engine {
    use std::path::Path;

    use bandit_engine::engine::PolicyReport;
    use bandit_engine::synth::{generate, write_world, SynthParams};
    use bandit_engine::time::parse_rfc3339;
    use bandit_engine::{Engine, RetrainInputs, RetrainOptions, RetrainOutcome};

    fn world(dir: &Path, extra: &[(&str, &str)]) -> RetrainInputs {
        let w = generate(&SynthParams {
            units: 1500,
            seed: 9,
            ..SynthParams::default()
        })
        .unwrap();
        write_world(&w, dir).unwrap();
        let path = dir.join(".traffical/config.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (after, add) in extra {
            assert!(text.contains(after), "{after}");
            text = text.replacen(after, &format!("{after}{add}"), 1);
        }
        std::fs::write(&path, text).unwrap();
        RetrainInputs::from_paths(path, dir.join("bundle.json"), &[dir.join("events.ndjson")])
    }

    fn policy<'o>(o: &'o RetrainOutcome, id: &str) -> &'o PolicyReport {
        o.report
            .policies
            .iter()
            .find(|p| p.policy_id == id)
            .unwrap()
    }

    fn exposures(o: &RetrainOutcome, id: &str) -> Vec<u64> {
        policy(o, id).arms.iter().map(|a| a.exposures).collect()
    }

    const MATURITY: &[(&str, &str)] = &[
        ("    attribution: decision\n", "    maturityMinutes: 240\n"),
        ("    windowSizeMinutes: 60\n", "    maturityMinutes: 240\n"),
    ];

    #[test]
    fn immature_exposures_wait_for_a_later_run_and_count_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = world(dir.path(), MATURITY);
        let text = std::fs::read_to_string(&inputs.events[0]).unwrap();
        let stamp = |l: &str| {
            l.split("\"timestamp\":\"")
                .nth(1)
                .and_then(|t| parse_rfc3339(t.get(..24)?))
        };
        let mut stamps: Vec<i64> = text.lines().filter_map(stamp).collect();
        stamps.sort_unstable();
        let (t1, t2) = (stamps[stamps.len() / 2], *stamps.last().unwrap());
        // The first run sees the events up to t1, as an export taken then would.
        let early: Vec<&str> = text
            .lines()
            .filter(|l| stamp(l).is_none_or(|t| t <= t1))
            .collect();
        std::fs::write(dir.path().join("early.ndjson"), early.join("\n")).unwrap();
        let mut first_inputs = inputs.clone();
        first_inputs.events = vec![dir.path().join("early.ndjson")];
        let at = |t| RetrainOptions {
            as_of: Some(t),
            ..RetrainOptions::default()
        };
        let one = Engine::new(at(t1)).retrain(&first_inputs).unwrap();
        let two = Engine::new(at(t2))
            .with_state(Some(one.state.clone()))
            .retrain(&inputs)
            .unwrap();
        let whole = Engine::new(at(t2)).retrain(&inputs).unwrap();
        for id in ["policy_checkout_cta", "policy_discount"] {
            let p1 = policy(&one, id);
            assert!(p1.immature_exposures > 0, "{id}: something is held back");
            assert_eq!(
                p1.matured_through.as_deref(),
                Some(bandit_engine::time::format_rfc3339(t1 - 240 * 60_000).as_str())
            );
            // Held back, then counted by the next run: the same totals as one run
            // over everything, with nothing counted twice or lost.
            assert_eq!(exposures(&two, id), exposures(&whole, id), "{id}");
            let first: u64 = exposures(&one, id).iter().sum();
            let new: u64 = policy(&two, id).arms.iter().map(|a| a.new_exposures).sum();
            assert_eq!(
                first + new,
                exposures(&whole, id).iter().sum::<u64>(),
                "{id}"
            );
            assert_eq!(
                policy(&two, id).immature_exposures,
                policy(&whole, id).immature_exposures
            );
        }
        // Rewards: a decision counted by the first run keeps the conversions seen by
        // then; a purchase more than the maturity window after its exposure that
        // arrives after t1 is not added later (docs/goals.md). So the chained totals
        // are at most the whole run's, and close to them.
        let sums = |o: &RetrainOutcome| -> Vec<f64> {
            policy(o, "policy_checkout_cta")
                .arms
                .iter()
                .map(|a| a.reward_sum)
                .collect()
        };
        for (chained, all) in sums(&two).iter().zip(sums(&whole)) {
            assert!(
                *chained <= all && all - chained <= 0.02 * all,
                "{chained} {all}"
            );
        }
        // A run given only the events after t1 cannot see what was held back: it
        // says so; the run over the union does not.
        let late: Vec<&str> = text
            .lines()
            .filter(|l| stamp(l).is_some_and(|t| t > t1))
            .collect();
        std::fs::write(dir.path().join("late.ndjson"), late.join("\n")).unwrap();
        let mut late_inputs = inputs.clone();
        late_inputs.events = vec![dir.path().join("late.ndjson")];
        let three = Engine::new(at(t2))
            .with_state(Some(one.state.clone()))
            .retrain(&late_inputs)
            .unwrap();
        let w = policy(&three, "policy_checkout_cta")
            .maturity_warning
            .as_deref()
            .unwrap_or_default();
        assert!(w.contains("held back as immature"), "{w}");
        assert_eq!(policy(&two, "policy_checkout_cta").maturity_warning, None);
        // (What the CLI's summary prints of these fields is tested beside it.)
        assert!(policy(&one, "policy_discount").immature_exposures > 0);
        // The report says what was held back.
        let json = serde_json::to_value(&one.report).unwrap();
        let p = json["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["policyId"] == "policy_discount")
            .unwrap();
        assert_eq!(p["immatureExposures"], p1_immature(&one));
        assert!(p["maturedThrough"].is_string());
    }

    fn p1_immature(o: &RetrainOutcome) -> serde_json::Value {
        serde_json::json!(policy(o, "policy_discount").immature_exposures)
    }

    #[test]
    fn without_a_maturity_window_nothing_is_held_back() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = world(dir.path(), &[]);
        let o = Engine::new(RetrainOptions::default())
            .retrain(&inputs)
            .unwrap();
        for p in &o.report.policies {
            assert_eq!(
                (p.immature_exposures, p.matured_through.as_deref()),
                (0, None)
            );
            let goal = p.goal.as_ref().unwrap();
            assert_eq!(goal.values.source, "value");
        }
    }

    #[test]
    fn a_control_the_bundle_lacks_is_a_config_error_with_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = world(
            dir.path(),
            &[("    attribution: decision\n", "    control: contrl\n")],
        );
        let err = Engine::new(RetrainOptions::default())
            .metrics(&inputs)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("optimization.policy_checkout_cta.control: policy \"policy_checkout_cta\" has no allocation \"contrl\" (did you mean \"control\"?)"),
            "{err}"
        );
    }

    #[test]
    fn a_contextual_goal_to_decrease_fits_negated_rewards_and_reports_them_as_they_are() {
        let fit = |direction: &str| {
            let dir = tempfile::tempdir().unwrap();
            let inputs = world(
                dir.path(),
                &[("  policy_checkout_cta:\n", "    lambda: 2\n")],
            );
            let text = std::fs::read_to_string(&inputs.config).unwrap();
            let text = text
                .replacen(
                    "    algorithm: thompson_bernoulli\n    goal: { event: purchase, type: conversion_rate }\n    attribution: decision",
                    &format!("    algorithm: linear_contextual\n    goal: {{ event: purchase, type: conversion_rate, desiredDirection: {direction} }}\n    attribution: decision"),
                    1,
                );
            std::fs::write(&inputs.config, text).unwrap();
            let o = Engine::new(RetrainOptions::default())
                .retrain(&inputs)
                .unwrap();
            let p = policy(&o, "policy_checkout_cta").clone();
            assert_eq!(p.algorithm, "linear_contextual");
            let model = o.bundle.raw()["layers"][0]["policies"][0]["contextualModel"].clone();
            (p, model)
        };
        let (up, up_model) = fit("increase");
        let (down, down_model) = fit("decrease");
        let sums = |p: &PolicyReport| -> Vec<f64> { p.arms.iter().map(|a| a.reward_sum).collect() };
        assert_eq!(sums(&up), sums(&down), "the report keeps the goal's units");
        assert!(sums(&up).iter().all(|&s| s > 0.0));
        // A ridge fit is linear in the rewards: negated rewards, negated intercepts.
        for name in ["control", "buy_now", "urgency"] {
            let i = |m: &serde_json::Value| m["coefficients"][name]["intercept"].as_f64().unwrap();
            assert!(i(&up_model).abs() > 1e-6, "{up_model}");
            approx::assert_abs_diff_eq!(i(&down_model), -i(&up_model), epsilon = 1e-9);
        }
    }

    #[test]
    fn context_breakdowns_partition_the_exposed_units() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = world(dir.path(), &[]);
        let (policies, _) = Engine::new(RetrainOptions::default())
            .metrics_by_context(&inputs, &["country".to_owned()])
            .unwrap();
        for p in &policies {
            for a in &p.allocations {
                let rows: Vec<_> = p
                    .breakdowns
                    .iter()
                    .filter(|b| {
                        b.allocation_name == a.allocation_name
                            && b.breakdown.as_ref().unwrap().dimension == "context.country"
                    })
                    .collect();
                assert!(rows.len() >= 2, "{}: several countries", a.allocation_name);
                // A unit is in exactly one slice: exposures and conversions add up.
                let n: u64 = rows.iter().map(|b| b.exposures).sum();
                let c: u64 = rows.iter().map(|b| b.conversions).sum();
                assert_eq!(
                    (n, c),
                    (a.exposures, a.conversions),
                    "{}",
                    p.allocations[0].policy_id
                );
            }
        }
    }

    #[test]
    fn event_dimension_breakdowns_split_values_over_all_exposed_units() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = world(dir.path(), &[]);
        let (policies, _) = Engine::new(RetrainOptions::default())
            .metrics(&inputs)
            .unwrap();
        assert!(!policies.is_empty());
        for p in &policies {
            assert!(!p.breakdowns.is_empty(), "payment_method is a dimension");
            for a in &p.allocations {
                let rows: Vec<_> = p
                    .breakdowns
                    .iter()
                    .filter(|b| b.allocation_name == a.allocation_name)
                    .collect();
                assert!(rows.len() >= 2, "several payment methods");
                for b in &rows {
                    let d = b.breakdown.as_ref().unwrap();
                    assert_eq!(d.dimension, "payment_method");
                    // The denominator is every exposed unit of the allocation.
                    assert_eq!(b.exposures, a.exposures);
                    assert!(b.conversions <= a.conversions);
                }
                let converted: u64 = rows.iter().map(|b| b.conversions).sum();
                assert!(
                    converted >= a.conversions,
                    "every conversion is in some row"
                );
                let value: f64 = rows.iter().map(|b| b.value_sum).sum();
                approx::assert_abs_diff_eq!(value, a.value_sum, epsilon = 1e-6);
            }
        }
    }
}

#[cfg(feature = "cli")]
#[test]
fn metrics_json_rows_carry_the_fields_and_breakdowns_name_their_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let world = crate::common::synth_world(dir.path(), 400, 5);
    let run = |json: bool| crate::common::world_metrics(&world, json);
    let rows: Vec<Value> = serde_json::from_str(&run(true)).unwrap();
    let (plain, split): (Vec<&Value>, Vec<&Value>) =
        rows.iter().partition(|r| r.get("dimension").is_none());
    assert!(!plain.is_empty() && !split.is_empty());
    for r in &rows {
        for key in [
            "policyId",
            "allocationName",
            "exposures",
            "conversions",
            "valueSum",
            "mean",
            "ciLow",
            "ciHigh",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    for r in &split {
        assert_eq!(r["dimension"], "payment_method");
        assert!(r["dimensionValue"].is_string() || r["dimensionValue"].is_null());
        // Each breakdown row has its allocation's exposed units as denominator.
        let whole = plain
            .iter()
            .find(|p| p["policyId"] == r["policyId"] && p["allocationName"] == r["allocationName"])
            .unwrap();
        assert_eq!(r["exposures"], whole["exposures"]);
    }
    let table = run(false);
    assert!(table.contains("by payment_method"), "{table}");
    assert!(table.contains("paypal ="), "{table}");
}

#[test]
fn mean_goal_metrics_average_over_units_with_a_reward_and_count_every_exposure() {
    let events = shop(vec![
        purchase("u1", "d1", 1, json!({"value": 10.0})),
        purchase("u1", "d1", 2, json!({"value": 30.0})),
        purchase("u2", "d2", 1, json!({"value": 40.0})),
    ]);
    let g = goal(GoalType::Mean, ValueSource::Value);
    let (valued, _) = goal_value_tables(&tables(&events), &g).unwrap();
    let raw = decision_rewards(&valued, &attribution_goal(&g)).unwrap();
    let (rewards, _) = goal_rewards(raw, &g).unwrap();
    let m = policy_metrics_against(rewards, &policy_pq(), None).unwrap();
    let (c, t) = (&m.allocations[0], &m.allocations[1]);
    // Control: d1 averages 20, d2 40; treatment's d3 bought nothing: no mean.
    assert_eq!((c.exposures, c.conversions), (2, 2));
    assert_abs_diff_eq!(c.mean.unwrap(), 30.0);
    assert_abs_diff_eq!(c.variance.unwrap(), 200.0);
    assert_abs_diff_eq!(c.value_sum, 80.0);
    assert_eq!((t.exposures, t.conversions, t.mean), (1, 0, None));
}

mod capping {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn capped_rewards_are_the_minimum_of_value_and_a_per_policy_quantile(
            rows in prop::collection::vec((0usize..2, 0u8..3, 0u32..1000), 1..60),
            q in 0.05f64..0.95,
        ) {
            let policies = ["a", "b"];
            let df = df!(
                "policy_id" => rows.iter().map(|r| policies[r.0]).collect::<Vec<_>>(),
                "goal_events" => rows.iter().map(|r| f64::from(r.1)).collect::<Vec<_>>(),
                "goal_value" => rows.iter().map(|r| if r.1 > 0 { f64::from(r.2) } else { 0.0 }).collect::<Vec<_>>(),
            )
            .unwrap();
            let mut g = goal(GoalType::Sum, ValueSource::Value);
            g.cap = Some(Cap { quantile: q });
            let (capped, caps) = goal_rewards(df.clone().lazy(), &g).unwrap();
            let out = capped.collect().unwrap();
            let reward = out.column("reward").unwrap().f64().unwrap();
            for (i, r) in rows.iter().enumerate() {
                let value = if r.1 > 0 { f64::from(r.2) } else { 0.0 };
                let cap = caps.iter().find(|c| c.policy_id == policies[r.0]);
                let want = cap.map_or(value, |c| value.min(c.value));
                prop_assert_eq!(reward.get(i), Some(want));
            }
            for c in &caps {
                let converted: Vec<f64> = rows
                    .iter()
                    .filter(|r| policies[r.0] == c.policy_id && r.1 > 0)
                    .map(|r| f64::from(r.2))
                    .collect();
                let lo = converted.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = converted.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                prop_assert!(c.value >= lo && c.value <= hi);
                let above = converted.iter().filter(|&&v| v > c.value).count();
                prop_assert_eq!(above as u64, c.capped_units);
                prop_assert!(above as f64 <= (1.0 - q) * converted.len() as f64 + 1.0);
            }
        }
    }
}
