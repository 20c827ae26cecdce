//! Resolution latency: what one SDK decision costs the engine's resolver.
//!
//! ```text
//! cargo bench --bench resolve
//! ```
//!
//! * `bucket/<contract>`: the bucket of a unit in a layer (hash only).
//! * `bucket_policy/<contract>`: one layer decision of a static policy: bucket, then
//!   the first allocation whose range holds it (target ≤ 100 ns).
//! * `contextual/allocations`: one layer decision of a `linear_contextual` policy
//!   with 16 features (8 numeric, 8 categorical) and K allocations: scores, softmax,
//!   floor, weighted selection (target ≤ 1 µs at K = 10).
//! * `resolve_full/contextual`: the same through `Resolver::resolve`, with the owned
//!   assignments and layer metadata an SDK returns.
//!
//! Decisions per second are the throughput. Inputs come from a seeded ChaCha8
//! generator, so runs compare.

use bandit_engine::sdk::{Bundle, HashContract, ResolveOptions, Resolver};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

const CONTRACTS: [HashContract; 2] = [HashContract::Sha256V2, HashContract::Fnv1aV1];

fn bucket_bundle() -> Bundle {
    serde_json::from_value(json!({
        "version": "2026-01-01T00:00:00.000Z", "orgId": "o", "projectId": "p", "env": "bench",
        "hashing": {"unitKey": "userId", "bucketCount": 10000},
        "parameters": [{"key": "cta", "type": "string", "default": "a", "layerId": "layer_cta", "namespace": "n"}],
        "layers": [{"id": "layer_cta", "policies": [{
            "id": "policy_cta", "state": "running", "kind": "adaptive", "conditions": [],
            "allocations": [
                {"name": "a", "bucketRange": [0, 3332], "overrides": {"cta": "a"}},
                {"name": "b", "bucketRange": [3333, 6665], "overrides": {"cta": "b"}},
                {"name": "c", "bucketRange": [6666, 9999], "overrides": {"cta": "c"}}
            ]}]}]
    }))
    .expect("the bench bundle is valid")
}

fn contextual_bundle(k: usize, rng: &mut ChaCha8Rng) -> Bundle {
    let mut coefficients = Map::new();
    let mut allocations = Vec::new();
    for a in 0..k {
        let name = format!("arm{a}");
        allocations.push(json!({"name": name, "bucketRange": [0, 0], "overrides": {"arm": a}}));
        let numeric: Vec<Value> = (0..8)
            .map(|f| json!({"key": format!("n{f}"), "coef": rng.random::<f64>() - 0.5, "missing": 0.0}))
            .collect();
        let categorical: Vec<Value> = (0..8)
            .map(|f| {
                let values: Map<String, Value> = ["a", "b", "c", "d"]
                    .iter()
                    .map(|v| ((*v).to_owned(), json!(rng.random::<f64>() - 0.5)))
                    .collect();
                json!({"key": format!("c{f}"), "values": values, "missing": 0.0})
            })
            .collect();
        coefficients.insert(
            name,
            json!({"intercept": rng.random::<f64>(), "numeric": numeric, "categorical": categorical}),
        );
    }
    serde_json::from_value(json!({
        "version": "2026-01-01T00:00:00.000Z", "orgId": "o", "projectId": "p", "env": "bench",
        "hashing": {"unitKey": "userId", "bucketCount": 10000},
        "parameters": [{"key": "arm", "type": "number", "default": -1, "layerId": "layer_ctx", "namespace": "n"}],
        "layers": [{"id": "layer_ctx", "policies": [{
            "id": "policy_ctx", "state": "running", "kind": "adaptive", "conditions": [],
            "allocations": allocations,
            "contextualModel": {"gamma": 0.5, "actionProbabilityFloor": 0.02,
                                "defaultAllocationScore": 0.0, "coefficients": coefficients}
        }]}]
    }))
    .expect("the bench bundle is valid")
}

fn context(rng: &mut ChaCha8Rng, i: usize) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("userId".into(), json!(format!("user-{i}")));
    for f in 0..8 {
        m.insert(format!("n{f}"), json!(rng.random::<f64>() * 10.0));
        m.insert(
            format!("c{f}"),
            json!(["a", "b", "c", "d", "e"][rng.random_range(0..5usize)]),
        );
    }
    m
}

fn bucket(c: &mut Criterion) {
    let bundle = bucket_bundle();
    let mut g = c.benchmark_group("bucket");
    g.throughput(Throughput::Elements(1));
    for contract in CONTRACTS {
        let r = Resolver::new(&bundle, contract).expect("compiles");
        g.bench_with_input(
            BenchmarkId::new("hash", contract.name()),
            &contract,
            |b, _| b.iter(|| r.bucket(0, std::hint::black_box("01JZ0000008K7QF2J9M3P4X1A2B"))),
        );
    }
    g.finish();

    let mut g = c.benchmark_group("bucket_policy");
    g.throughput(Throughput::Elements(1));
    let ctx: Map<String, Value> =
        serde_json::from_value(json!({"userId": "01JZ0000008K7QF2J9M3P4X1A2B"})).expect("object");
    for contract in CONTRACTS {
        let r = Resolver::new(&bundle, contract).expect("compiles");
        g.bench_with_input(
            BenchmarkId::new("decide_layer", contract.name()),
            &contract,
            |b, _| {
                b.iter(|| {
                    r.decide_layer(0, std::hint::black_box(&ctx), &ResolveOptions::default())
                        .expect("no dynamic allocations")
                })
            },
        );
    }
    g.finish();
}

fn contextual(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut g = c.benchmark_group("contextual");
    g.throughput(Throughput::Elements(1));
    for k in [3usize, 10, 32] {
        let bundle = contextual_bundle(k, &mut rng);
        let r = Resolver::new(&bundle, HashContract::Sha256V2).expect("compiles");
        let contexts: Vec<_> = (0..64).map(|i| context(&mut rng, i)).collect();
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("allocations", k), &k, |b, _| {
            b.iter(|| {
                i = (i + 1) % contexts.len();
                r.decide_layer(0, &contexts[i], &ResolveOptions::default())
                    .expect("no dynamic allocations")
            })
        });
    }
    g.finish();

    let bundle = contextual_bundle(10, &mut rng);
    let r = Resolver::new(&bundle, HashContract::Sha256V2).expect("compiles");
    let contexts: Vec<_> = (0..64).map(|i| context(&mut rng, i)).collect();
    let mut g = c.benchmark_group("resolve_full");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function(BenchmarkId::new("contextual", 10), |b| {
        b.iter(|| {
            i = (i + 1) % contexts.len();
            r.resolve(&contexts[i]).expect("no dynamic allocations")
        })
    });
    g.finish();
}

criterion_group!(benches, bucket, contextual);
criterion_main!(benches);
