//! Every learner goes through the one per-policy run (`engine::run`), so every learner
//! fills the same report fields. Before, `linear_contextual` policies never filled the
//! report's `goal` or `maturity_warning`.

use std::path::Path;

use bandit_engine::engine::PolicyReport;
use bandit_engine::synth::entities::{entity_world, EntityWorldParams};
use bandit_engine::synth::{generate, write_world, SynthParams};
use bandit_engine::{Engine, RetrainInputs, RetrainOptions, RetrainOutcome};

/// Adds `maturityMinutes` to every policy of the config in `dir`, so each report says
/// through when its outcomes had matured.
fn with_maturity(dir: &Path) {
    let path = dir.join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with("    algorithm:") {
            out.push_str("    maturityMinutes: 1\n");
        }
    }
    assert_ne!(out, text, "the config names algorithms");
    std::fs::write(&path, out).unwrap();
}

fn retrain(dir: &Path) -> RetrainOutcome {
    Engine::new(RetrainOptions::default())
        .retrain(&RetrainInputs::from_paths(
            dir.join(".traffical/config.yaml"),
            dir.join("bundle.json"),
            &[dir.join("events.ndjson")],
        ))
        .unwrap()
}

/// Which of the report's run fields a policy filled.
fn filled(p: &PolicyReport) -> [(&'static str, bool); 5] {
    [
        ("goal", p.goal.is_some()),
        ("statisticsThrough", p.statistics_through.is_some()),
        ("maturedThrough", p.matured_through.is_some()),
        ("attribution", p.attribution.is_some()),
        ("lastExposureAt", p.last_exposure_at.is_some()),
    ]
}

#[test]
fn every_learner_fills_the_same_report_fields() {
    // Multi-armed and linear contextual: the synthetic shop with its checkout policy
    // made contextual.
    let shop = tempfile::tempdir().unwrap();
    let w = generate(&SynthParams {
        units: 2000,
        seed: 7,
        ..SynthParams::default()
    })
    .unwrap();
    write_world(&w, shop.path()).unwrap();
    let config = shop.path().join(".traffical/config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let at = text.find("policy_checkout_cta:").unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen(
        "algorithm: thompson_bernoulli",
        "algorithm: linear_contextual",
        1,
    );
    std::fs::write(&config, format!("{head}{tail}")).unwrap();
    with_maturity(shop.path());
    let shop_run = retrain(shop.path());
    // Per-entity: the product-page world.
    let products = tempfile::tempdir().unwrap();
    entity_world(&EntityWorldParams {
        views: 5_000,
        products: 50,
        ..EntityWorldParams::default()
    })
    .unwrap()
    .write(products.path())
    .unwrap();
    with_maturity(products.path());
    let entity_run = retrain(products.path());

    let reports: Vec<&PolicyReport> = shop_run
        .report
        .policies
        .iter()
        .chain(&entity_run.report.policies)
        .collect();
    let algorithms: Vec<&str> = reports.iter().map(|p| p.algorithm).collect();
    assert!(algorithms.contains(&"linear_contextual"), "{algorithms:?}");
    assert!(algorithms.contains(&"thompson_bernoulli"), "{algorithms:?}");
    assert!(
        reports.iter().any(|p| p.entities.is_some()),
        "a per-entity policy ran"
    );
    for p in &reports {
        assert!(
            filled(p).iter().all(|(_, f)| *f),
            "{} ({}) leaves report fields empty: {:?}; reason {:?}",
            p.policy_id,
            p.algorithm,
            filled(p),
            p.reason
        );
        let goal = p.goal.as_ref().unwrap();
        assert!(goal.values.goal_events > 0, "{}: {goal:?}", p.policy_id);
        let exposures: u64 = p.arms.iter().map(|a| a.exposures).sum();
        assert!(
            exposures > 0 || p.entities.is_some(),
            "{}: figures per allocation",
            p.policy_id
        );
    }
}
