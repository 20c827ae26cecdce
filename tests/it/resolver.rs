//! The resolver against SDK test vectors: the spec's (FNV-1a) through the library
//! and the CLI, and the reference SDK's golden decisions (SHA-256 v2).

use std::path::PathBuf;

use bandit_engine::sdk::conformance::{read_bundle, run_directory, FixtureReport};
use bandit_engine::sdk::{Bundle, DistributionKind, HashContract, ResolveOptions, Resolver};
use serde_json::{Map, Value};

use crate::common::reference;

fn spec_fixtures() -> PathBuf {
    reference("traffical-sdk-spec/test-vectors/fixtures")
}

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdk-sha256")
}

fn totals(reports: &[FixtureReport]) -> (usize, usize) {
    let failures: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.cases.iter().flat_map(move |c| {
                c.failures
                    .iter()
                    .map(move |f| format!("{} {}: {f}", r.file.display(), c.name))
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    (
        reports.iter().map(FixtureReport::passed).sum(),
        reports.len(),
    )
}

fn ctx(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).unwrap()
}

#[test]
fn every_spec_test_vector_passes_under_fnv1a() {
    let reports = run_directory(&spec_fixtures(), HashContract::Fnv1aV1).unwrap();
    let (passed, files) = totals(&reports);
    // basic 3, conditions 4, contextual 4, edge policies 8.
    assert_eq!((passed, files), (19, 4));
}

#[test]
fn the_spec_vectors_do_not_pass_under_the_current_hash() {
    // The contracts really differ: buckets move, 2 of 4 contextual choices change.
    let reports = run_directory(&spec_fixtures(), HashContract::Sha256V2).unwrap();
    let failed: usize = reports.iter().map(FixtureReport::failed).sum();
    assert!(failed >= 3, "only {failed} cases failed");
}

#[test]
fn every_golden_decision_of_the_reference_sdk_passes_under_sha256() {
    let reports = run_directory(&golden(), HashContract::Sha256V2).unwrap();
    let (passed, files) = totals(&reports);
    // 451 decisions on hand-written bundles, 720 on bundles `retrain` published.
    assert_eq!((passed, files), (1171, 12));
}

/// The retrained fixtures (scripts/sdk-golden/retrained.sh) hold what only `retrain`
/// writes, so the SDK's agreement above covers it: moved bucket ranges, a linear model
/// with the engine's extension, entity weights with dynamic allocations.
#[test]
fn the_retrained_golden_bundles_carry_what_retrain_publishes() {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(golden().join(name)).unwrap()).unwrap()
    };
    let ranges = |b: &Value| b["layers"][0]["policies"][0]["allocations"].to_string();
    let demo = read("bundle_retrained_demo.json");
    let before: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/bundle.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_ne!(
        ranges(&demo),
        ranges(&before),
        "the demo's ranges did not move"
    );
    let linear = read("bundle_retrained_linear.json");
    let model = &linear["layers"][0]["policies"][0]["contextualModel"];
    assert!(model["x-banditEngine"].is_object(), "{model:#}");
    assert!(model["coefficients"]["control"]["categorical"][0]["values"].is_object());
    let entity = read("bundle_retrained_entity.json");
    let state = entity["entityState"].as_object().unwrap();
    assert!(state
        .values()
        .any(|p| p["entities"].as_object().unwrap().len() >= 10));
    assert!(entity.to_string().contains("dynamicAllocations"));
}

fn resolver_for(bundle: &Bundle) -> Resolver<'_> {
    Resolver::new(bundle, HashContract::Sha256V2).unwrap()
}

#[test]
fn unit_keys_compare_as_javascript_strings() {
    // String(1.0) is "1": the three contexts bucket identically; 1e21 is "1e+21".
    let bundle = read_bundle(&golden().join("bundle_basic.json")).unwrap();
    let r = resolver_for(&bundle);
    let b = |t: &str| r.resolve(&ctx(t)).unwrap().layers[0].bucket;
    assert_eq!(b(r#"{"userId": 1.0}"#), b(r#"{"userId": "1"}"#));
    assert_eq!(b(r#"{"userId": 1}"#), b(r#"{"userId": "1"}"#));
    assert_eq!(b(r#"{"userId": 1e21}"#), b(r#"{"userId": "1e+21"}"#));
    assert_eq!(b(r#"{"userId": -0}"#), b(r#"{"userId": "0"}"#));
    assert_eq!(b(r#"{"userId": true}"#), b(r#"{"userId": "true"}"#));
    assert_eq!(b(r#"{"userId": null}"#), None);
    assert_eq!(b(r#"{"userId": ""}"#), None);
    // The SDK's bucket for "user-abc" in layer_ui (assignment-hash.test.ts).
    assert_eq!(b(r#"{"userId": "user-abc"}"#), Some(177));
}

#[test]
fn contextual_distribution_is_the_floored_softmax_that_was_sampled() {
    let bundle = read_bundle(&golden().join("bundle_contextual.json")).unwrap();
    let r = resolver_for(&bundle);
    let c =
        ctx(r#"{"userId": "user-high-engage", "engagement_score": 8.0, "device_type": "mobile"}"#);
    let d = r
        .distribution(0, &c, &ResolveOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(d.kind, DistributionKind::Contextual);
    assert_eq!(d.policy_id, "policy_contextual");
    assert!((d.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    let chosen = d.chosen.unwrap();
    let layer = &r.resolve(&c).unwrap().layers[0];
    assert_eq!(layer.allocation_index, Some(chosen));
    assert_eq!(layer.probability, Some(d.probabilities[chosen]));
    // @traffical/core 0.12 logs this propensity for treatment_a.
    assert_eq!(layer.allocation_name.as_deref(), Some("treatment_a"));
    assert_eq!(layer.probability, Some(0.905_022_663_314_054_1));
    // The draw falls in the chosen allocation's cumulative interval.
    let before: f64 = d.probabilities[..chosen].iter().sum();
    let draw = d.draw.unwrap();
    assert!(before <= draw && draw < before + d.probabilities[chosen]);
}

#[test]
fn per_entity_and_bucket_distributions() {
    let bundle = read_bundle(&golden().join("bundle_per_entity.json")).unwrap();
    let r = resolver_for(&bundle);
    let c = ctx(r#"{"userId": "pe-0", "productId": "prod-2", "region": "us", "numVariants": 4}"#);
    let d = r
        .distribution(0, &c, &ResolveOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(d.kind, DistributionKind::EntityWeights);
    assert_eq!(d.probabilities, vec![0.1, 0.1, 0.8]);
    let dynamic = r
        .distribution(2, &c, &ResolveOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(dynamic.probabilities, vec![0.1, 0.2, 0.3, 0.4]);
    // A length mismatch falls back to the global prior.
    let short = ctx(r#"{"userId": "pe-0", "productId": "prod-short"}"#);
    let d = r
        .distribution(0, &short, &ResolveOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(d.probabilities, vec![0.2, 0.3, 0.5]);
    // No productId: the per-entity policy cannot choose; nothing serves the layer.
    assert!(r
        .distribution(0, &ctx(r#"{"userId": "x"}"#), &ResolveOptions::default())
        .unwrap()
        .is_none());

    let bundle = read_bundle(&golden().join("bundle_layers.json")).unwrap();
    let r = resolver_for(&bundle);
    let li = r.layer_index("layer_eligible").unwrap();
    let d = r
        .distribution(
            li,
            &ctx(r#"{"userId": "lu-1"}"#),
            &ResolveOptions::default(),
        )
        .unwrap()
        .unwrap();
    assert_eq!(d.kind, DistributionKind::BucketShares);
    assert_eq!(d.probabilities, vec![0.3333, 0.6667]);
}

#[test]
fn the_resolver_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Resolver<'static>>();
    assert_send_sync::<bandit_engine::sdk::Resolution>();
}

#[cfg(feature = "cli")]
mod cli {
    use std::process::Command;

    use super::{golden, spec_fixtures};

    fn bin() -> Command {
        Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
    }

    #[test]
    fn conformance_passes_the_spec_under_fnv1a_and_the_golden_files_by_default() {
        let out = bin()
            .arg("conformance")
            .arg(spec_fixtures())
            .args(["--hash", "fnv1a-v1"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert_eq!(stdout.trim(), "19 passed, 0 failed");

        let out = bin().arg("conformance").arg(golden()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.trim().ends_with(" passed, 0 failed"), "{stdout}");
    }

    #[test]
    fn conformance_reports_failures_and_exits_non_zero() {
        let out = bin()
            .arg("conformance")
            .arg(spec_fixtures())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success());
        assert!(stdout.contains("FAIL "), "{stdout}");
        assert!(
            stdout.contains("expectedHashing.layer_ui.bucket"),
            "{stdout}"
        );
        let last = stdout.lines().last().unwrap();
        assert!(
            last.ends_with(" failed") && !last.ends_with(" 0 failed"),
            "{last}"
        );
    }

    #[test]
    fn resolve_prints_one_decision_per_context() {
        let bundle = golden().join("bundle_contextual.json");
        let out = bin()
            .args(["resolve", "--bundle"])
            .arg(&bundle)
            .args([
                "--context",
                r#"{"userId": "user-high-engage", "engagement_score": 8.0, "device_type": "mobile"}"#,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["assignments"]["ui.heroVariant"], "hero_bold");
        let layer = &v["layers"][0];
        assert_eq!(layer["layerId"], "layer_hero");
        assert_eq!(layer["bucket"], 474);
        assert_eq!(layer["policyId"], "policy_contextual");
        assert_eq!(layer["allocationName"], "treatment_a");
        assert_eq!(layer["probability"], 0.905_022_663_314_054_1);

        let dir = tempfile::tempdir().unwrap();
        let contexts = dir.path().join("contexts.ndjson");
        std::fs::write(
            &contexts,
            "{\"userId\": \"a\"}\n\n{\"userId\": \"b\", \"engagement_score\": 3}\n",
        )
        .unwrap();
        let out = bin()
            .args([
                "resolve",
                "--hash",
                "fnv1a-v1",
                "--distributions",
                "--bundle",
            ])
            .arg(&bundle)
            .arg("--contexts")
            .arg(&contexts)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        let d = &lines[1]["distributions"][0];
        assert_eq!(d["kind"], "contextual");
        assert_eq!(d["probabilities"].as_array().unwrap().len(), 3);

        std::fs::write(&contexts, "{\"userId\": \"a\"}\n[1]\n").unwrap();
        let out = bin()
            .args(["resolve", "--bundle"])
            .arg(&bundle)
            .arg("--contexts")
            .arg(&contexts)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("contexts.ndjson:2") && err.contains("not an array"),
            "{err}"
        );
    }
}

#[test]
fn per_feature_scoring_equals_term_by_term_scoring_bit_for_bit() {
    use bandit_engine::sdk::contextual::CompiledContextualModel;
    let bundle = read_bundle(&golden().join("bundle_contextual_wide.json")).unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(golden().join("expected_contextual_wide.json")).unwrap(),
    )
    .unwrap();
    let mut compared = 0;
    for layer in &bundle.layers {
        for p in &layer.policies {
            let Some(m) = &p.contextual_model else {
                continue;
            };
            let model = CompiledContextualModel::compile(m, &p.allocations, &p.id).unwrap();
            for case in expected["testCases"].as_array().unwrap() {
                let c = case["context"].as_object().unwrap();
                let (mut fast, mut direct) = (vec![0.0; model.len()], vec![0.0; model.len()]);
                model.scores_into(c, &mut fast);
                model.scores_into_direct(c, &mut direct);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&direct), "{} {}", p.id, case["name"]);
                compared += 1;
            }
        }
    }
    assert!(compared >= 300);
}

#[test]
fn one_compiled_resolver_used_from_16_threads_gives_the_serial_answers() {
    // Every golden bundle, with its cases' contexts under 16 unit keys each: one
    // compiled Resolver shared by 16 threads, each walking the contexts from a
    // different start, must give exactly the serial resolutions (buckets, the
    // contextual draws and propensities, assignments).
    let mut checked = 0;
    for entry in std::fs::read_dir(golden()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.starts_with("expected_") {
            continue;
        }
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let bundle = read_bundle(&golden().join(name.replacen("expected_", "bundle_", 1))).unwrap();
        let r = resolver_for(&bundle);
        let mut contexts = Vec::new();
        for case in expected["testCases"].as_array().unwrap() {
            for k in 0..16 {
                let mut c = case["context"].as_object().unwrap().clone();
                c.insert(
                    "userId".into(),
                    Value::String(format!("u-{k}-{}", contexts.len())),
                );
                contexts.push(c);
            }
        }
        let answer = |c: &Map<String, Value>| match r.resolve(c) {
            Ok(res) => res.to_json().to_string(),
            Err(e) => format!("error: {e}"),
        };
        let serial: Vec<String> = contexts.iter().map(answer).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|t| {
                    let (contexts, serial, answer, name) = (&contexts, &serial, &answer, &name);
                    s.spawn(move || {
                        let n = contexts.len();
                        for i in 0..n {
                            let j = (i + t * n / 16) % n;
                            assert_eq!(
                                answer(&contexts[j]),
                                serial[j],
                                "{name} thread {t} case {j}"
                            );
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        checked += contexts.len();
    }
    assert!(checked > 2_000, "{checked} contexts");
}
