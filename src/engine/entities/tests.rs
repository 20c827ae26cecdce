//! Unit tests of the per-entity learner's helpers.
use super::*;
use crate::state::entity_totals::ArmRow;

fn ctx(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn entity_ids_join_the_sdk_strings_of_the_keys() {
    let keys = vec!["productId".to_owned(), "region".to_owned()];
    assert_eq!(
        entity_id(
            &ctx(serde_json::json!({"productId": 42, "region": "eu"})),
            &keys
        )
        .as_deref(),
        Some("42_eu")
    );
    assert_eq!(
        entity_id(
            &ctx(serde_json::json!({"productId": 1.0, "region": true})),
            &keys
        )
        .as_deref(),
        Some("1_true")
    );
    assert_eq!(
        entity_id(&ctx(serde_json::json!({"productId": 42})), &keys),
        None
    );
    assert_eq!(
        entity_id(&ctx(serde_json::json!({"productId": ""})), &keys[..1]),
        None
    );
}

#[test]
fn dynamic_counts_are_floored_positive_numbers() {
    let c = ctx(serde_json::json!({"n": 4.7, "z": 0, "s": "3"}));
    assert_eq!(allocation_count(&c, "n"), Some(4));
    assert_eq!(allocation_count(&c, "z"), None);
    assert_eq!(allocation_count(&c, "s"), None);
}

#[test]
fn the_global_count_is_the_most_common_and_the_smaller_on_ties() {
    let mut t = EntityTotals::default();
    for (id, k) in [("a", 3), ("b", 4), ("c", 4), ("d", 3)] {
        t.entities
            .insert(id.into(), ArmRow(vec![ArmStats::default(); k]));
        t.counts.insert(id.into(), k as u32);
    }
    assert_eq!(sizes(&t, None).1, 3);
    t.counts.insert("a".into(), 4);
    assert_eq!(sizes(&t, None).1, 4);
    assert_eq!(sizes(&t, Some(2)).1, 2);
}

#[test]
fn the_sdk_serves_entity_then_global_then_uniform_weights() {
    let w = |id: &str, v: Vec<f64>| EntityWeights {
        entity_id: id.into(),
        weights: v,
        computed_at: String::new(),
    };
    let s = EntityPolicyState {
        global: w("_global", vec![0.5, 0.5]),
        entities: [("p".to_owned(), w("p", vec![0.9, 0.1]))]
            .into_iter()
            .collect(),
    };
    assert_eq!(served(Some(&s), Some("p"), 2), vec![0.9, 0.1]);
    assert_eq!(served(Some(&s), Some("q"), 2), vec![0.5, 0.5]);
    assert_eq!(served(Some(&s), Some("p"), 4), vec![0.25; 4]);
    assert_eq!(served(None, Some("p"), 2), vec![0.5, 0.5]);
}
