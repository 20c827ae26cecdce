//! The layout rules of linear contextual statistics in SQL.

use super::*;
use crate::attribution::AttributionParams;
use crate::config::{DesiredDirection, Goal, GoalType, ValueSource};

fn query(fields: &[(&str, FieldRule)], saved: Option<LinearTotals>) -> LinearQuery {
    LinearQuery {
        query: PolicyQuery {
            policy_id: "p".into(),
            goal: Goal {
                event: "buy".into(),
                goal_type: GoalType::ConversionRate,
                value: ValueSource::Value,
                desired_direction: DesiredDirection::Increase,
                cap: None,
            },
            params: AttributionParams::default(),
            after: None,
            through: None,
        },
        allocations: vec!["a".into(), "b".into()],
        fields: fields.iter().map(|(k, r)| ((*k).to_owned(), *r)).collect(),
        saved,
    }
}

fn row(field: &str, kind: &str, label: Option<&str>) -> LayoutRow {
    LayoutRow {
        policy_id: "p".into(),
        field: field.into(),
        kind: kind.into(),
        label: label.map(str::to_owned),
    }
}

#[test]
fn the_layout_follows_the_engines_rules_for_kinds_and_labels() {
    let q = query(
        &[
            ("visits", FieldRule::Learned),
            ("tier", FieldRule::Learned),
            ("plan", FieldRule::Learned),
            ("seen", FieldRule::Categorical),
            ("score", FieldRule::Numeric),
        ],
        None,
    );
    let rows = [
        row("visits", "number", Some("3")),
        row("visits", "number", Some("1e2")),
        // A string among numbers: categorical, `3.0` and "3" one label.
        row("tier", "number", Some("3.0")),
        row("tier", "string", Some("3")),
        row("tier", "boolean", Some("true")),
        // An object only: categorical, without values.
        row("plan", "other", None),
        row("seen", "number", Some("2")),
        row("score", "string", Some("high")),
    ];
    let made = layouts(&[q], &rows, "layout.csv").unwrap();
    assert_eq!(
        made[0].space.names(),
        [
            "intercept",
            "visits",
            "visits:missing",
            "tier=3",
            "tier=true",
            "tier:missing",
            "plan:missing",
            "seen=2",
            "seen:missing",
            "score",
            "score:missing"
        ]
    );
    assert_eq!(
        made[0].matches[&("tier".to_owned(), "3".to_owned())],
        [
            ("number".to_owned(), "3.0".to_owned()),
            ("string".to_owned(), "3".to_owned())
        ]
    );
    let bad = [row("visits", "number", Some("many"))];
    let q = query(&[("visits", FieldRule::Learned)], None);
    let e = layouts(&[q], &bad, "layout.csv").unwrap_err().to_string();
    assert!(e.contains("\"many\" is not a JSON number"), "{e}");
}

#[test]
fn saved_values_join_the_layout_and_a_changed_kind_is_refused() {
    let saved = LinearTotals {
        features: vec![SavedFeature {
            key: "device".into(),
            values: Some(vec!["ios".into()]),
        }],
        allocations: vec!["a".into(), "b".into()],
        counts: vec![1, 0],
        gram: vec![vec![0.0; 6], vec![0.0; 6]],
        b: vec![vec![0.0; 3], vec![0.0; 3]],
    };
    let q = query(&[("device", FieldRule::Learned)], Some(saved.clone()));
    let made = layouts(&[q], &[row("device", "string", Some("web"))], "l").unwrap();
    assert_eq!(
        made[0].space.names(),
        ["intercept", "device=ios", "device=web", "device:missing"]
    );
    // `ios` only in the saved sums: no condition, a zero column in the SQL.
    assert!(!made[0]
        .matches
        .contains_key(&("device".to_owned(), "ios".to_owned())));
    let q = query(&[("device", FieldRule::Learned)], Some(saved));
    let e = layouts(&[q], &[row("device", "number", Some("4"))], "l")
        .unwrap_err()
        .to_string();
    assert!(e.contains("differs in its fields or their kinds"), "{e}");
}
