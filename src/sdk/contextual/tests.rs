use super::*;
use approx::assert_relative_eq;

#[test]
fn softmax_and_floor_on_a_hand_computed_example() {
    // Scores (0, ln 2, ln 4) at gamma 1: weights 1 : 2 : 4, so 1/7, 2/7, 4/7.
    let mut p = vec![0.0, 2f64.ln(), 4f64.ln()];
    softmax_in_place(&mut p, 1.0);
    assert_relative_eq!(p[0], 1.0 / 7.0, epsilon = 1e-15);
    assert_relative_eq!(p[1], 2.0 / 7.0, epsilon = 1e-15);
    assert_relative_eq!(p[2], 4.0 / 7.0, epsilon = 1e-15);
    // Floor 0.2: 1/7 is raised to 0.2, the sum becomes 0.2 + 6/7 = 37/35, and
    // every value is divided by it: 7/37, 10/37, 20/37. The floored value ends
    // below the floor (7/37 ≈ 0.189).
    apply_floor_in_place(&mut p, 0.2);
    assert_relative_eq!(p[0], 7.0 / 37.0, epsilon = 1e-15);
    assert_relative_eq!(p[1], 10.0 / 37.0, epsilon = 1e-15);
    assert_relative_eq!(p[2], 20.0 / 37.0, epsilon = 1e-15);
    assert!(p[0] < 0.2);
}

#[test]
fn temperature_and_floor_guards() {
    // gamma 0 is clamped to 1e-10: the maximum takes everything, ties share it.
    let mut p = vec![1.0, 3.0, 3.0];
    softmax_in_place(&mut p, 0.0);
    assert_eq!(p, vec![0.0, 0.5, 0.5]);
    // A floor above 1/K is capped at 1/K: uniform.
    let mut q = vec![0.9, 0.1];
    apply_floor_in_place(&mut q, 0.8);
    assert_eq!(q, vec![0.9 / 1.4, 0.5 / 1.4]);
    // A higher temperature flattens.
    let mut hot = vec![0.0, 1.0];
    softmax_in_place(&mut hot, 10.0);
    assert!(hot[1] - hot[0] < 0.05);
    let mut one = vec![42.0];
    softmax_in_place(&mut one, 1.0);
    assert_eq!(one, vec![1.0]);
}

proptest::proptest! {
    #[test]
    fn floored_softmax_is_a_distribution_and_respects_the_floor(
        scores in proptest::collection::vec(-50.0f64..50.0, 1..16),
        gamma in 0.0f64..10.0,
        floor in 0.0f64..1.0,
        draw in 0.0f64..1.0,
    ) {
        let mut p = scores.clone();
        softmax_in_place(&mut p, gamma);
        apply_floor_in_place(&mut p, floor);
        let sum: f64 = p.iter().sum();
        proptest::prop_assert!((sum - 1.0).abs() < 1e-12, "sum {}", sum);
        proptest::prop_assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)));
        // Before renormalising every value is at least min(floor, 1/K); the sum
        // of the raised values is at most 1 + K·floor, which bounds the result.
        let k = p.len() as f64;
        let f = floor.min(1.0 / k);
        proptest::prop_assert!(p.iter().all(|&x| x >= f / (1.0 + k * f) - 1e-15));
        let i = crate::sdk::hash::select_with(&p, draw);
        proptest::prop_assert!(i < p.len());
    }

    #[test]
    fn ordering_of_scores_is_kept(
        scores in proptest::collection::vec(-20.0f64..20.0, 2..10),
        gamma in 0.01f64..5.0,
    ) {
        let mut p = scores.clone();
        softmax_in_place(&mut p, gamma);
        for i in 0..scores.len() {
            for j in 0..scores.len() {
                if scores[i] > scores[j] {
                    proptest::prop_assert!(p[i] >= p[j]);
                }
            }
        }
    }
}

#[test]
fn the_spec_contextual_scores() {
    // traffical-sdk-spec test-vectors/fixtures/bundle_contextual.json, case
    // high_engagement_mobile: scores 0, 3.7, 0.
    let bundle: crate::sdk::Bundle = serde_json::from_str(include_str!(
        "../../../tests/fixtures/sdk-sha256/bundle_contextual.json"
    ))
    .unwrap();
    let p = &bundle.layers[0].policies[0];
    let m =
        CompiledContextualModel::compile(p.contextual_model.as_ref().unwrap(), &p.allocations, "m")
            .unwrap();
    let ctx: Map<String, Value> = serde_json::from_str(
        r#"{"userId": "user-high-engage", "engagement_score": 8.0, "device_type": "mobile"}"#,
    )
    .unwrap();
    let mut s = vec![0.0; 3];
    m.scores_into(&ctx, &mut s);
    assert_relative_eq!(s[0], 0.0);
    assert_relative_eq!(s[1], 3.7, epsilon = 1e-12);
    assert_relative_eq!(s[2], 0.0, epsilon = 1e-12);
    m.probabilities_into(&ctx, &mut s);
    // The SDK logged this propensity for treatment_a (Node 20, @traffical/core 0.12).
    assert_eq!(s[1], 0.905_022_663_314_054_1);
}
