//! Metrics as the platform defines them, written from its pages' text:
//!
//! * `reference/traffical-events.txt`, "Attribution": cumulative mode attributes a
//!   track event "to every layer the user has been exposed to in the session";
//!   decision mode "only to the layers from the specific decision it's tied to"; and
//!   "If a track event has no decisionId and no SDK-built attribution array, the
//!   pipeline still attributes it: metrics join track events to assignments on
//!   unit_key with a temporal constraint (any track event after the user's first
//!   exposure to an allocation counts toward that allocation)", in both modes.
//! * the same page: exposures "are deduplicated within a session" and "form the
//!   denominator in conversion-rate metrics: how many users were exposed to each
//!   variant".
//! * `traffical-docs/concepts/warehouse-native.mdx`, "Available aggregations": every
//!   aggregation divides by "Unique entities exposed"; `conversion_rate` counts
//!   "Unique entities with at least one fact event", `sum` sums the value.
//!
//! The shop: three layers (home, pdp, checkout), one policy each.
//! * alice, one session: a funnel across the three layers (three decisions, the pdp
//!   exposure sent twice), then two purchases (50, 30) on the checkout decision.
//! * bob, one session, one decision on all three layers; a webhook purchase (20)
//!   without session or decision an hour later.
//! * carol: a webhook purchase (40) ten minutes before her first exposure.
//! * dave: two sessions on the home layer (two decisions); a purchase (10) on the
//!   second decision.

use bandit_engine::attribution::{credits, rewards, AttributionParams};
use bandit_engine::config::{AttributionMode, Goal, GoalType, UnlinkedEvents};
use bandit_engine::events::{Event, EventTables, TableBuilder};
use bandit_engine::metrics::{policy_metrics_by, AnalysisUnit, PolicyMetrics};
use bandit_engine::sdk::model::Policy;
use serde_json::{json, Value};

const MIN: i64 = 60_000;
const T0: i64 = 1_779_357_600_000; // 2026-05-21T10:00:00Z

fn at(ms: i64) -> String {
    bandit_engine::time::format_rfc3339(T0 + ms)
}

fn layer(name: &str, alloc: &str) -> Value {
    json!({"layerId": format!("layer_{name}"), "policyId": format!("pol_{name}"),
        "allocationName": alloc, "bucket": 1})
}

fn exposure(unit: &str, session: &str, ms: i64, decision: &str, layers: &[Value]) -> Value {
    json!({"type": "exposure", "unitKey": unit, "sessionId": session, "timestamp": at(ms),
        "decisionId": decision, "layers": layers})
}

fn purchase(
    unit: &str,
    session: Option<&str>,
    ms: i64,
    decision: Option<&str>,
    value: f64,
) -> Value {
    let mut e = json!({"type": "track", "event": "purchase", "unitKey": unit,
        "timestamp": at(ms), "value": value});
    if let Some(s) = session {
        e["sessionId"] = json!(s);
    }
    if let Some(d) = decision {
        e["decisionId"] = json!(d);
    }
    e
}

fn shop() -> EventTables {
    let events = [
        // alice's funnel: catalog → PDP → checkout, one decision per page.
        exposure("alice", "a1", 0, "d1", &[layer("home", "bold")]),
        exposure("alice", "a1", MIN, "d2", &[layer("pdp", "similar")]),
        // The PDP exposure sent again in the same session: counted once.
        exposure("alice", "a1", MIN + 5_000, "d2", &[layer("pdp", "similar")]),
        exposure(
            "alice",
            "a1",
            2 * MIN,
            "d3",
            &[layer("checkout", "one_page")],
        ),
        // Two purchases on one decision.
        purchase("alice", Some("a1"), 3 * MIN, Some("d3"), 50.0),
        purchase("alice", Some("a1"), 4 * MIN, Some("d3"), 30.0),
        // bob: one decision on every layer, then a webhook purchase.
        exposure(
            "bob",
            "b1",
            0,
            "d4",
            &[
                layer("home", "control"),
                layer("pdp", "control"),
                layer("checkout", "control"),
            ],
        ),
        purchase("bob", None, 60 * MIN, None, 20.0),
        // carol: a webhook purchase before her first exposure.
        purchase("carol", None, 20 * MIN, None, 40.0),
        exposure("carol", "c1", 30 * MIN, "d5", &[layer("home", "bold")]),
        // dave: two sessions, a purchase on the second decision.
        exposure("dave", "v1", 0, "d6", &[layer("home", "control")]),
        exposure(
            "dave",
            "v2",
            24 * 60 * MIN,
            "d7",
            &[layer("home", "control")],
        ),
        purchase(
            "dave",
            Some("v2"),
            24 * 60 * MIN + 5 * MIN,
            Some("d7"),
            10.0,
        ),
    ];
    let mut b = TableBuilder::default();
    for e in events {
        b.push(Event::from_json(e).unwrap().0);
    }
    b.finish().unwrap()
}

fn policy(name: &str, allocs: [&str; 2]) -> Policy {
    serde_json::from_value(json!({
        "id": format!("pol_{name}"), "state": "running", "kind": "adaptive", "conditions": [],
        "allocations": [
            {"name": allocs[0], "bucketRange": [0, 499], "overrides": {}},
            {"name": allocs[1], "bucketRange": [500, 999], "overrides": {}}
        ]
    }))
    .unwrap()
}

fn policies() -> [Policy; 3] {
    [
        policy("home", ["control", "bold"]),
        policy("pdp", ["control", "similar"]),
        policy("checkout", ["control", "one_page"]),
    ]
}

/// Per policy, per allocation: (exposed, converted, value sum).
type Table = Vec<Vec<(u64, u64, f64)>>;

fn metrics(t: &EventTables, params: &AttributionParams, per: AnalysisUnit) -> Vec<PolicyMetrics> {
    let goal: Goal = serde_json::from_value(json!({"event": "purchase", "type": "sum"})).unwrap();
    let table = rewards(t, &goal, params).unwrap();
    policies()
        .iter()
        .map(|p| policy_metrics_by(table.clone(), p, None, GoalType::Sum, per).unwrap())
        .collect()
}

fn table(m: &[PolicyMetrics]) -> Table {
    m.iter()
        .map(|p| {
            p.allocations
                .iter()
                .map(|a| (a.exposures, a.conversions, a.value_sum))
                .collect()
        })
        .collect()
}

fn params(mode: AttributionMode) -> AttributionParams {
    AttributionParams::default().with_mode(mode)
}

#[test]
fn decision_mode_counts_users_and_credits_the_webhook_purchase_by_unit_key() {
    let m = metrics(
        &shop(),
        &params(AttributionMode::Decision),
        AnalysisUnit::Unit,
    );
    assert_eq!(
        table(&m),
        vec![
            // home: control {bob, dave}: bob's webhook 20 (unit key), dave's 10 on
            // d7; dave's two decisions are one user. bold {alice, carol}: alice's
            // purchases are tied to d3 (checkout only); carol's came before exposure.
            vec![(2, 2, 30.0), (2, 0, 0.0)],
            // pdp: alice's duplicate exposure is one user; her purchases are not
            // tied to d2.
            vec![(1, 1, 20.0), (1, 0, 0.0)],
            // checkout: two purchases on d3 are one converted user, 80.
            vec![(1, 1, 20.0), (1, 1, 80.0)],
        ]
    );
    assert!(m.iter().all(|p| p.multi_allocation_units == 0));
}

#[test]
fn cumulative_mode_credits_every_layer_of_the_session_and_the_webhook_by_unit_key() {
    let m = metrics(
        &shop(),
        &params(AttributionMode::Cumulative),
        AnalysisUnit::Unit,
    );
    assert_eq!(
        table(&m),
        vec![
            vec![(2, 2, 30.0), (2, 1, 80.0)],
            vec![(1, 1, 20.0), (1, 1, 80.0)],
            vec![(1, 1, 20.0), (1, 1, 80.0)],
        ]
    );
}

#[test]
fn unlinked_events_drop_leaves_the_webhook_purchase_out_in_both_modes() {
    for mode in [AttributionMode::Decision, AttributionMode::Cumulative] {
        let p = params(mode).with_unlinked(UnlinkedEvents::Drop);
        let t = table(&metrics(&shop(), &p, AnalysisUnit::Unit));
        // bob stays exposed but is no longer converted anywhere.
        assert_eq!(t[0][0], (2, 1, 10.0), "{mode:?}");
        assert_eq!(t[1][0], (1, 0, 0.0), "{mode:?}");
        assert_eq!(t[2][0], (1, 0, 0.0), "{mode:?}");
    }
}

#[test]
fn the_attribution_report_counts_what_each_rule_credited() {
    use bandit_engine::attribution::attribution_report;
    let t = shop();
    for mode in [AttributionMode::Decision, AttributionMode::Cumulative] {
        for unlinked in [UnlinkedEvents::Attribute, UnlinkedEvents::Drop] {
            let p = params(mode).with_unlinked(unlinked);
            let c = credits(&t, "purchase", &p).unwrap();
            let r = attribution_report(&t, &c, "purchase", "pol_home", &p).unwrap();
            let dropped = unlinked == UnlinkedEvents::Drop;
            // Five purchases: alice's two (tied to d3: home only in cumulative mode,
            // through the session), bob's and carol's webhooks, dave's.
            let alice = u64::from(mode == AttributionMode::Cumulative) * 2;
            assert_eq!(r.goal_events, 5);
            assert_eq!(r.credited_by_decision, alice + 1, "{mode:?} {unlinked:?}");
            assert_eq!(r.credited_by_unit_key, u64::from(!dropped), "{mode:?}");
            assert_eq!(r.credited_by_array, 0);
            assert_eq!(r.credited, r.credited_by_decision + r.credited_by_unit_key);
            // carol's: the unit-key rule finds only a later exposure.
            assert_eq!(r.unattributed_before_exposure, u64::from(!dropped));
            assert_eq!(r.unlinked, if dropped { 2 } else { 0 });
            assert_eq!(
                r.credited
                    + r.unattributed_before_exposure
                    + r.outside_window
                    + r.unlinked
                    + r.not_exposed,
                r.goal_events
            );
            let unit = if mode == AttributionMode::Decision {
                "decision"
            } else {
                "unit"
            };
            assert_eq!(r.reward_unit, unit);
        }
    }
}

#[test]
fn the_per_decision_view_counts_decisions_with_an_interval_clustered_by_unit() {
    let t = shop();
    let p = params(AttributionMode::Decision);
    let m = metrics(&t, &p, AnalysisUnit::Decision);
    let home = &m[0].allocations[0];
    // control: bob's d4 (20, the webhook on his only decision), dave's d6 (0) and d7 (10).
    assert_eq!(
        (home.exposures, home.conversions, home.value_sum),
        (3, 2, 30.0)
    );
    assert!((home.mean.unwrap() - 10.0).abs() < 1e-12);
    // Clusters bob (Y 20, N 1) and dave (Y 10, N 2), m = 10: G/(G−1)·Σ(Y − mN)²/(ΣN)²
    // = 2·(10² + (−10)²)/9, where decisions taken as independent give s²/n = 100/3.
    let half = 1.959_963_984_540_054 * (2.0 * 200.0 / 9.0f64).sqrt();
    assert!(
        (home.ci_high.unwrap() - (10.0 + half)).abs() < 1e-9,
        "{home:?}"
    );
    // The sample-ratio check still counts units.
    assert_eq!(m[0].sample_ratio.as_ref().unwrap().observed, vec![2, 2]);
}

#[test]
fn the_unit_view_of_a_cumulative_table_is_its_rows() {
    // Cumulative reward rows are already one per unit × allocation: folding by unit
    // changes nothing.
    let t = shop();
    let p = params(AttributionMode::Cumulative);
    let goal: Goal = serde_json::from_value(json!({"event": "purchase", "type": "sum"})).unwrap();
    let rows = rewards(&t, &goal, &p).unwrap();
    for pol in policies() {
        let by_unit =
            policy_metrics_by(rows.clone(), &pol, None, GoalType::Sum, AnalysisUnit::Unit).unwrap();
        let by_row = bandit_engine::metrics::policy_metrics(rows.clone(), &pol).unwrap();
        assert_eq!(by_unit, by_row);
    }
    let n = rows.collect().unwrap().height();
    assert_eq!(n, 8, "alice 3, bob 3, carol 1, dave 1");
}

#[test]
fn unlinked_events_is_read_from_the_config_and_a_typo_is_placed_at_its_key() {
    use bandit_engine::config::ProjectConfig;
    let yaml = |v: &str| {
        format!(
            "events:\n  purchase: {{ valueType: currency }}\noptimization:\n  p:\n    algorithm: thompson_gaussian\n    goal: {{ event: purchase, type: sum }}\n    unlinkedEvents: {v}\n"
        )
    };
    let ok = ProjectConfig::from_str_named(&yaml("drop"), "config.yaml").unwrap();
    assert_eq!(ok.optimization["p"].unlinked_events, UnlinkedEvents::Drop);
    let p = AttributionParams::from_spec(&ok.optimization["p"]).unwrap();
    assert!(!p.unit_key_rule());
    let default = ProjectConfig::from_str_named(
        &yaml("attribute").replace("    unlinkedEvents: attribute\n", ""),
        "config.yaml",
    )
    .unwrap();
    assert_eq!(
        default.optimization["p"].unlinked_events,
        UnlinkedEvents::Attribute
    );
    let err = ProjectConfig::from_str_named(&yaml("dorp"), "config.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("config.yaml:7:21 optimization.p.unlinkedEvents:") && err.contains("drop"),
        "{err}"
    );
}
