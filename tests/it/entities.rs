//! Per-entity bandits end to end: config, fit, `entityState`, resolution of what is
//! published, warm start, determinism, state size.

use std::collections::BTreeMap;
use std::path::Path;

use bandit_engine::bundle::BundleDocument;
use bandit_engine::config::ProjectConfig;
use bandit_engine::engine::{cross_check, RunStatus};
use bandit_engine::reward::ArmStats;
use bandit_engine::sdk::model::EntityPolicyState;
use bandit_engine::sdk::{Bundle, HashContract, Resolver};
use bandit_engine::state::entity_totals::{ArmRow, EntityTotals};
use bandit_engine::state::{EngineState, PolicyLearning};
use bandit_engine::synth::entities::{entity_world, EntityWorld, EntityWorldParams};
use bandit_engine::{Engine, RetrainInputs, RetrainOptions, RetrainOutcome};
use serde_json::{json, Map, Value};

use crate::common::bundle_schema_errors;

const ORDER: &str = "policy_image_order";
const GALLERY: &str = "policy_gallery_start";

fn world() -> EntityWorld {
    entity_world(&EntityWorldParams {
        views: 20_000,
        products: 200,
        ..EntityWorldParams::default()
    })
    .unwrap()
}

fn inputs(dir: &Path, events: &[&str]) -> RetrainInputs {
    let paths: Vec<_> = events.iter().map(|e| dir.join(e)).collect();
    RetrainInputs::from_paths(
        dir.join(".traffical/config.yaml"),
        dir.join("bundle.json"),
        &paths,
    )
}

fn retrain(dir: &Path, events: &[&str], state: Option<EngineState>) -> RetrainOutcome {
    Engine::new(RetrainOptions {
        seed: 5,
        ..RetrainOptions::default()
    })
    .with_state(state)
    .retrain(&inputs(dir, events))
    .unwrap()
}

fn entity_state(o: &RetrainOutcome, policy: &str) -> EntityPolicyState {
    o.bundle.bundle().entity_state.as_ref().unwrap()[policy].clone()
}

fn argmax(w: &[f64]) -> usize {
    (0..w.len()).max_by(|&a, &b| w[a].total_cmp(&w[b])).unwrap()
}

#[test]
fn a_retrain_publishes_entity_state_for_fixed_and_dynamic_policies() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let o = retrain(dir.path(), &["events.ndjson"], None);
    for id in [ORDER, GALLERY] {
        let p = o
            .report
            .policies
            .iter()
            .find(|p| p.policy_id == id)
            .unwrap();
        assert_eq!(p.status, RunStatus::Updated, "{id}: {:?}", p.reason);
        let er = p.entities.as_ref().unwrap();
        assert_eq!(er.entities, 200, "{id}: every product was viewed");
        assert!(er.published > 20 && er.below_minimum > 20, "{id}: {er:?}");
        assert_eq!(er.rows_without_entity, 0);
        assert_eq!(er.unknown_rows, 0);
    }
    // Bucket ranges are untouched; the bundle stays valid and passes the guards.
    let before: Bundle = serde_json::from_value(w.bundle.clone()).unwrap();
    assert_eq!(
        o.bundle.bundle().layers,
        before
            .layers
            .iter()
            .cloned()
            .map(|mut l| {
                for p in &mut l.policies {
                    p.state_version = Some(o.report.as_of.clone());
                }
                l
            })
            .collect::<Vec<_>>()
    );
    let raw: Value = serde_json::from_str(&o.bundle.to_json_pretty()).unwrap();
    assert_eq!(bundle_schema_errors(&raw), Vec::<String>::new());
    o.checked_bundle_text(&dir.path().join("out.json")).unwrap();
    // Dynamic entities carry one weight per image, and `_global` the usual count.
    let gallery = entity_state(&o, GALLERY);
    for (id, e) in &gallery.entities {
        assert_eq!(e.weights.len() as u32, w.truth[id].images, "{id}");
        assert_eq!(e.computed_at, o.report.as_of);
    }
    // Thin products are left to `_global`.
    let order = entity_state(&o, ORDER);
    assert!(!order.entities.contains_key("prod-199"));
    assert_eq!(order.global.entity_id, "_global");
}

#[test]
fn popular_products_learn_their_own_best_allocation() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let o = retrain(dir.path(), &["events.ndjson"], None);
    let order = entity_state(&o, ORDER);
    let names = ["default", "lifestyle_first", "closeup_first"];
    for id in ["prod-000", "prod-001", "prod-002"] {
        let got = &order.entities[id].weights;
        assert_eq!(names[argmax(got)], w.truth[id].best_order, "{id}: {got:?}");
        // prod-002 has about 1 100 views: its best order already holds most traffic.
        assert!(got[argmax(got)] > 0.7, "{id}: {got:?}");
    }
    let gallery = entity_state(&o, GALLERY);
    for id in ["prod-000", "prod-001"] {
        let got = &gallery.entities[id].weights;
        assert_eq!(argmax(got) as u32, w.truth[id].best_start, "{id}: {got:?}");
    }
    // `_global` is the pooled fit: it leads with the allocation of the highest
    // pooled mean, whatever single products prefer.
    let p = o
        .report
        .policies
        .iter()
        .find(|p| p.policy_id == ORDER)
        .unwrap();
    let means: Vec<f64> = p.arms.iter().map(|a| a.mean.unwrap()).collect();
    assert_eq!(argmax(&order.global.weights), argmax(&means));
}

/// Empirical assignment shares of `n` units for one entity.
fn served_shares(
    bundle: &Bundle,
    layer: usize,
    ctx: &Map<String, Value>,
    k: usize,
    n: u32,
) -> Vec<f64> {
    let resolver = Resolver::new(bundle, HashContract::Sha256V2).unwrap();
    let mut counts = vec![0u32; k];
    for u in 0..n {
        let mut c = ctx.clone();
        c.insert("userId".into(), json!(format!("probe-{u}")));
        let r = resolver.resolve(&c).unwrap();
        let i = r.layers[layer].allocation_index.unwrap();
        counts[i] += 1;
    }
    counts
        .iter()
        .map(|&c| f64::from(c) / f64::from(n))
        .collect()
}

#[test]
fn what_is_published_resolves_to_the_published_weights() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let o = retrain(dir.path(), &["events.ndjson"], None);
    let bundle = o.bundle.bundle();
    let n = 40_000;
    // 4 standard deviations of a share at n = 40 000 is at most 0.01.
    let tol = 0.01;
    // A published product of the fixed policy, a thin one (served `_global`), and a
    // published product of the dynamic policy.
    let order = entity_state(&o, ORDER);
    for (id, want) in [
        ("prod-003", order.entities["prod-003"].weights.clone()),
        ("prod-199", order.global.weights.clone()),
    ] {
        let ctx: Map<String, Value> = [("productId".to_owned(), json!(id))].into_iter().collect();
        let got = served_shares(bundle, 0, &ctx, 3, n);
        for (g, e) in got.iter().zip(&want) {
            assert!(
                (g - e).abs() < tol,
                "{id}: served {got:?}, published {want:?}"
            );
        }
    }
    let gallery = entity_state(&o, GALLERY);
    let images = w.truth["prod-000"].images;
    let ctx: Map<String, Value> = [
        ("productId".to_owned(), json!("prod-000")),
        ("imageCount".to_owned(), json!(images)),
    ]
    .into_iter()
    .collect();
    let want = &gallery.entities["prod-000"].weights;
    let got = served_shares(bundle, 1, &ctx, images as usize, n);
    for (g, e) in got.iter().zip(want) {
        assert!((g - e).abs() < tol, "served {got:?}, published {want:?}");
    }
}

#[test]
fn an_incremental_retrain_equals_a_full_retrain_on_the_union() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    // Split by decision: every event of a decision goes with its decision, so no
    // purchase of an early exposure arrives in the late file.
    let mid = w.events[w.events.len() / 2].timestamp;
    let mut early_decisions = std::collections::BTreeSet::new();
    for e in &w.events {
        if e.timestamp < mid && e.event.is_none() {
            early_decisions.insert(e.decision_id.clone());
        }
    }
    let (early, late): (Vec<_>, Vec<_>) = w
        .events
        .iter()
        .cloned()
        .partition(|e| early_decisions.contains(&e.decision_id));
    w.write_events(dir.path(), &early, "early.ndjson").unwrap();
    w.write_events(dir.path(), &late, "late.ndjson").unwrap();
    let first = retrain(dir.path(), &["early.ndjson"], None);
    // The second run starts from the first run's bundle and state.
    let second_dir = tempfile::tempdir().unwrap();
    w.write(second_dir.path()).unwrap();
    std::fs::write(
        second_dir.path().join("bundle.json"),
        first.bundle.to_json_pretty(),
    )
    .unwrap();
    std::fs::copy(
        dir.path().join("late.ndjson"),
        second_dir.path().join("late.ndjson"),
    )
    .unwrap();
    let second = retrain(
        second_dir.path(),
        &["late.ndjson"],
        Some(first.state.clone()),
    );
    let full = retrain(dir.path(), &["events.ndjson"], None);
    assert_eq!(second.report.as_of, full.report.as_of);
    for id in [ORDER, GALLERY] {
        let a = second.state.policies[id].entities.as_ref().unwrap();
        let b = full.state.policies[id].entities.as_ref().unwrap();
        assert_eq!(a.entities.len(), b.entities.len(), "{id}");
        for ((ia, ra), (ib, rb)) in a.entities.iter().zip(&b.entities) {
            assert_eq!(ia, ib);
            for (x, y) in ra.0.iter().zip(&rb.0) {
                assert_eq!(x.n, y.n, "{id}/{ia}");
                assert!((x.sum - y.sum).abs() < 1e-9 && (x.sum_sq - y.sum_sq).abs() < 1e-9);
            }
        }
        assert_eq!(a.counts, b.counts, "{id}");
        let (sa, sb) = (entity_state(&second, id), entity_state(&full, id));
        assert_eq!(
            sa.entities.keys().collect::<Vec<_>>(),
            sb.entities.keys().collect::<Vec<_>>()
        );
        for (x, y) in std::iter::once((&sa.global, &sb.global))
            .chain(sa.entities.values().zip(sb.entities.values()))
        {
            for (p, q) in x.weights.iter().zip(&y.weights) {
                assert!(
                    (p - q).abs() < 1e-9,
                    "{id}/{}: {:?} vs {:?}",
                    x.entity_id,
                    x.weights,
                    y.weights
                );
            }
        }
    }
}

#[test]
fn the_same_inputs_give_the_same_bytes_on_one_and_three_threads() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let run = |threads: usize| {
        let o = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| retrain(dir.path(), &["events.ndjson"], None));
        (o.bundle.to_json_pretty(), o.state.to_json_pretty().unwrap())
    };
    assert!(
        run(1) == run(3),
        "bundle or state bytes differ with the thread count"
    );
}

#[test]
fn entity_weights_json_is_published_beside_the_bundle_in_the_spec_shape() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let o = retrain(dir.path(), &["events.ndjson"], None);
    let out = tempfile::tempdir().unwrap();
    let published = o.publish(out.path()).unwrap();
    let path = published.entity_weights.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let ours: BTreeMap<String, EntityPolicyState> = serde_json::from_str(&text).unwrap();
    assert_eq!(&ours, o.bundle.bundle().entity_state.as_ref().unwrap());
    // The spec's fixture reads as the same type.
    let fixture =
        crate::common::reference("traffical-sdk-spec/test-vectors/fixtures/entity_weights.json");
    let spec: BTreeMap<String, EntityPolicyState> =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    assert_eq!(
        spec["policy_edge_fixed"].entities["prod-42"].weights,
        vec![0.7, 0.3]
    );
    // The state carries one line per entity.
    let state = std::fs::read_to_string(&published.state).unwrap();
    assert!(
        state.contains("\"prod-000\": \""),
        "{}",
        &state[..state.len().min(2000)]
    );
}

#[test]
fn a_second_run_without_new_data_changes_nothing() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let first = retrain(dir.path(), &["events.ndjson"], None);
    std::fs::write(
        dir.path().join("bundle.json"),
        first.bundle.to_json_pretty(),
    )
    .unwrap();
    let again = retrain(dir.path(), &["events.ndjson"], Some(first.state.clone()));
    for id in [ORDER, GALLERY] {
        let p = again
            .report
            .policies
            .iter()
            .find(|p| p.policy_id == id)
            .unwrap();
        assert_eq!(p.status, RunStatus::NoChange, "{id}: {:?}", p.reason);
    }
    assert_eq!(again.bundle.to_json_pretty(), first.bundle.to_json_pretty());
}

#[test]
fn rows_whose_logged_context_lacks_the_entity_are_reported_and_count_in_global() {
    let mut w = world();
    // An SDK whose policy did not list productId in contextLogging.allowedFields.
    for e in &mut w.events {
        if let Some(c) = &mut e.context {
            c.remove("productId");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let o = retrain(dir.path(), &["events.ndjson"], None);
    let p = o
        .report
        .policies
        .iter()
        .find(|p| p.policy_id == ORDER)
        .unwrap();
    let er = p.entities.as_ref().unwrap();
    assert_eq!(er.entities, 0);
    assert_eq!(
        er.rows_without_entity,
        p.arms.iter().map(|a| a.new_exposures).sum::<u64>()
    );
    assert!(er.rows_without_entity > 10_000);
    let reason = p.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("no entity id in their logged context")
            && reason.contains("list productId in the policy's contextLogging.allowedFields"),
        "{reason}"
    );
    assert_eq!(p.status, RunStatus::Updated);
    assert!(entity_state(&o, ORDER).entities.is_empty());
}

fn config_with(entity: &str) -> String {
    format!(
        "events:\n  purchase:\n    valueType: currency\noptimization:\n  policy_image_order:\n    algorithm: thompson_bernoulli\n    goal: {{ event: purchase, type: conversion_rate }}\n{entity}"
    )
}

fn check(entity: &str) -> Result<(), String> {
    let config = ProjectConfig::from_str_named(&config_with(entity), "config.yaml")
        .map_err(|e| e.to_string())?;
    let doc = BundleDocument::from_value(
        bandit_engine::synth::entities::entity_bundle(),
        "bundle.json",
    )
    .unwrap();
    cross_check(&config, &doc, "config.yaml").map_err(|e| e.to_string())
}

#[test]
fn entity_config_in_the_optimization_section_is_checked() {
    assert_eq!(
        check("    entityConfig: { entityKeys: [productId], priorStrength: 5 }\n"),
        Ok(())
    );
    assert_eq!(
        check(""),
        Ok(()),
        "the bundle's entityConfig alone makes a policy per-entity"
    );
    let err = check("    entityConfig: { entityKeys: [sku] }\n").unwrap_err();
    assert!(
        err.contains("optimization.policy_image_order.entityConfig.entityKeys")
            && err.contains("[\"sku\"] differs from the bundle's entityKeys [\"productId\"]"),
        "{err}"
    );
    let err =
        check("    entityConfig: { dynamicAllocations: { countKey: imageCount } }\n").unwrap_err();
    assert!(err.contains("has fixed allocations"), "{err}");
    let err = check("    entityConfig: { minEntityExposure: 10 }\n").unwrap_err();
    assert!(
        err.starts_with("config.yaml:8:") && err.contains("did you mean \"minEntityExposures\""),
        "{err}"
    );
    let err = check("    entityConfig: { priorStrength: -1 }\n").unwrap_err();
    assert!(
        err.contains("optimization.policy_image_order.entityConfig.priorStrength: must be a non-negative number, found -1"),
        "{err}"
    );
    let err = check("    entityConfig: { entityKeys: [] }\n").unwrap_err();
    assert!(
        err.contains("entityConfig.entityKeys: must name at least one"),
        "{err}"
    );
}

#[test]
fn entity_config_on_a_policy_the_bundle_does_not_run_per_entity_is_an_error() {
    let config = ProjectConfig::from_str_named(
        "events:\n  purchase:\n    valueType: currency\noptimization:\n  policy_discount:\n    algorithm: thompson_bernoulli\n    goal: { event: purchase, type: conversion_rate }\n    entityConfig: { entityKeys: [productId] }\n",
        "config.yaml",
    )
    .unwrap();
    let doc =
        BundleDocument::from_value(bandit_engine::synth::demo_bundle(), "bundle.json").unwrap();
    let err = cross_check(&config, &doc, "config.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no entityConfig in bundle"), "{err}");
}

#[test]
fn the_state_of_ten_thousand_entities_stays_small_and_round_trips() {
    let row = |i: u64| {
        ArmRow(
            (0..5)
                .map(|k| ArmStats {
                    n: 100 + i % 37 + k,
                    sum: ((i + k) % 11) as f64,
                    sum_sq: ((i + k) % 11) as f64,
                })
                .collect(),
        )
    };
    let totals = EntityTotals {
        entity_keys: vec!["productId".into()],
        count_key: None,
        allocations: (0..5).map(|k| format!("arm_{k}")).collect(),
        global: row(0),
        counts: BTreeMap::new(),
        entities: (0..10_000)
            .map(|i| (format!("prod-{i:05}"), row(i)))
            .collect(),
    };
    let mut state = EngineState::default();
    state.policies.insert(
        ORDER.into(),
        PolicyLearning {
            entities: Some(totals),
            ..PolicyLearning::default()
        },
    );
    let text = state.to_json_pretty().unwrap();
    assert!(
        text.len() < 10_000 * 120,
        "{} bytes for 10 000 entities",
        text.len()
    );
    assert!(text.lines().count() < 10_100);
    assert_eq!(
        EngineState::from_str_named(&text, "state.json").unwrap(),
        state
    );
}

#[test]
fn the_retrain_command_summarises_entities_and_names_the_weights_file() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let out = dir.path().join("out");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
        .args(["retrain", "--seed", "5", "--config"])
        .arg(dir.path().join(".traffical/config.yaml"))
        .arg("--bundle")
        .arg(dir.path().join("bundle.json"))
        .arg("--events")
        .arg(dir.path().join("events.ndjson"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("  entities: 200 with data (200 this run), "),
        "{stdout}"
    );
    assert!(stdout.contains("entity weights: "), "{stdout}");
    let weights: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("current/entity_weights.json")).unwrap(),
    )
    .unwrap();
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bundle.json")).unwrap()).unwrap();
    assert_eq!(weights, bundle["entityState"]);
}

#[test]
fn statistics_of_other_entity_keys_are_not_reused() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    w.write(dir.path()).unwrap();
    let first = retrain(dir.path(), &["events.ndjson"], None);
    let mut bundle: Value = serde_json::from_str(&first.bundle.to_json_pretty()).unwrap();
    bundle["layers"][0]["policies"][0]["entityConfig"]["entityKeys"] =
        json!(["productId", "imageCount"]);
    std::fs::write(
        dir.path().join("bundle.json"),
        serde_json::to_string_pretty(&bundle).unwrap(),
    )
    .unwrap();
    // The config names the old keys: it must follow the bundle (or name none).
    let config = dir.path().join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "entityKeys: [productId]",
            "entityKeys: [productId, imageCount]",
        ),
    )
    .unwrap();
    let again = retrain(dir.path(), &["events.ndjson"], Some(first.state.clone()));
    let p = again
        .report
        .policies
        .iter()
        .find(|p| p.policy_id == ORDER)
        .unwrap();
    assert!(
        p.reason
            .as_deref()
            .unwrap_or_default()
            .contains("counted afresh"),
        "{:?}",
        p.reason
    );
    let totals = again.state.policies[ORDER].entities.as_ref().unwrap();
    assert_eq!(totals.entity_keys, ["productId", "imageCount"]);
    let id = format!("prod-000_{}", w.truth["prod-000"].images);
    // Counted once, from this run's events: the same exposures as the first run's.
    let before = &first.state.policies[ORDER]
        .entities
        .as_ref()
        .unwrap()
        .entities["prod-000"];
    assert_eq!(totals.entities[&id], *before);
}
