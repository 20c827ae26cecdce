//! Publishing throughput.
//!
//! ```text
//! cargo bench --bench publish
//! ```
//!
//! * `layout/allocations`: least-movement bucket ranges for K allocations over 10 000
//!   buckets from a random current layout (layouts per second), K = 2, 10, 50.
//! * `guards/policies`: every publishing guard (schema rules, bundle contract,
//!   coverage against the previous bundle) on a bundle of P adaptive policies with
//!   10 allocations each (bundles per second), P = 10, 100.
//! * `store_publish`: one version (bundle + state + report) written, synced and made
//!   current in a temporary directory (versions per second; mostly fsync).
//!
//! Inputs come from a seeded ChaCha8 generator, so runs compare.

use bandit_engine::bundle::BundleDocument;
use bandit_engine::policy::least_movement_ranges;
use bandit_engine::publish::{check_publishable, PublishOptions, Store};
use bandit_engine::state::{sha256_hex, EngineState};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

fn random_weights(rng: &mut ChaCha8Rng, k: usize) -> Vec<f64> {
    let w: Vec<f64> = (0..k).map(|_| 0.05 + rng.random::<f64>()).collect();
    let t: f64 = w.iter().sum();
    w.iter().map(|x| x / t).collect()
}

fn layout(c: &mut Criterion) {
    let mut g = c.benchmark_group("layout");
    for k in [2usize, 10, 50] {
        let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
        let old = least_movement_ranges([0, 9999], &random_weights(&mut rng, k), &vec![None; k])
            .expect("10 000 buckets hold 50 allocations");
        let old: Vec<Option<[u32; 2]>> = old.into_iter().map(Some).collect();
        let new = random_weights(&mut rng, k);
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("allocations", k), &k, |b, _| {
            b.iter(|| least_movement_ranges([0, 9999], &new, &old).expect("valid weights"));
        });
    }
    g.finish();
}

fn bundle(policies: usize) -> String {
    let layers: Vec<_> = (0..policies)
        .map(|p| {
            let allocations: Vec<_> = (0..10)
                .map(|a| json!({"name": format!("a{a}"), "bucketRange": [a * 1000, a * 1000 + 999], "overrides": {}}))
                .collect();
            json!({"id": format!("l{p}"), "policies": [{"id": format!("p{p}"), "state": "running",
                "kind": "adaptive", "conditions": [], "allocations": allocations}]})
        })
        .collect();
    serde_json::to_string_pretty(&json!({
        "version": "2026-11-20T00:00:00.000Z", "orgId": "o", "projectId": "p", "env": "e",
        "hashing": {"unitKey": "userId", "bucketCount": 10000},
        "parameters": [], "layers": layers
    }))
    .expect("a JSON value serialises")
}

fn guards(c: &mut Criterion) {
    let mut g = c.benchmark_group("guards");
    for p in [10usize, 100] {
        let text = bundle(p);
        let prev = BundleDocument::from_str_named(&text, "prev").expect("a valid bundle");
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("policies", p), &p, |b, _| {
            b.iter(|| check_publishable(&text, Some(&prev), "bench").expect("passes"));
        });
    }
    g.finish();
}

fn store_publish(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::new(dir.path());
    let text = bundle(10);
    let state = EngineState {
        bundle_sha256: sha256_hex(text.as_bytes()),
        ..EngineState::default()
    }
    .to_json_pretty()
    .expect("a finite state");
    let mut g = c.benchmark_group("store_publish");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.bench_function("version", |b| {
        b.iter(|| {
            let lock = store.lock().expect("no other publisher");
            store
                .publish(
                    &lock,
                    &text,
                    Some(&state),
                    &[("report.json", b"{}")],
                    PublishOptions { keep: 3 },
                )
                .expect("published")
        });
    });
    g.finish();
}

criterion_group!(benches, layout, guards, store_publish);
criterion_main!(benches);
