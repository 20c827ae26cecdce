//! Attribution, reward table and metrics throughput, in both modes.
//!
//! ```text
//! cargo bench --bench attribution
//! ```
//!
//! A seeded log (ChaCha8) of `n` exposure rows and `n` track events is written to
//! parquet in a temp directory and read back with the engine's reader in the setup;
//! the measured step is attribution (key interning, sessions, dedup, the mode's joins,
//! the multi-touch model), the reward table and the per-allocation metrics, through
//! the engine's entry point (`attribution::rewards`, the fused kernel). Units see
//! three exposures on average, over two sessions a day; a third of the purchases name
//! their decision, a third come from a webhook (no decision, no session), a third name
//! only their session. Throughput counts exposure rows plus track events. The process
//! keeps freed memory for reuse, as the CLI does (`bandit_engine::memory`): with
//! glibc's defaults each run maps and zeroes its buffers afresh, about 30 % more time
//! on this VM.

use std::path::PathBuf;
use std::time::Duration;

use bandit_engine::attribution::{rewards, AttributionParams, TouchModel};
use bandit_engine::config::{AttributionMode, Goal};
use bandit_engine::events::{
    load_events, write_events, Event, EventTables, EventType, Layer, LoadOptions,
};
use bandit_engine::metrics::policy_metrics;
use bandit_engine::sdk::model::Policy;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ALLOCATIONS: [&str; 3] = ["control", "buy_now", "urgency"];
const START: i64 = 1_793_491_200_000;

fn log(n: u64, seed: u64) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let units = (n / 3).max(1);
    let mut out = Vec::with_capacity(2 * n as usize);
    let mut decided: Vec<(u64, String, String, i64)> = Vec::with_capacity(n as usize);
    for i in 0..n {
        let unit = rng.random_range(0..units);
        let arm = rng.random_range(0..3usize);
        let at = START + rng.random_range(0..7 * 86_400_000i64);
        let session = format!("s_{unit}_{}", (at - START) / 43_200_000);
        let decision = format!("dec_{i:010}");
        out.push(Event {
            session_id: Some(session.clone()),
            decision_id: Some(decision.clone()),
            layers: vec![Layer {
                layer_id: "layer_checkout".into(),
                bucket: rng.random_range(0..10_000),
                policy_id: Some("policy_checkout_cta".into()),
                allocation_name: Some(ALLOCATIONS[arm].into()),
                probability: Some(1.0 / 3.0),
                ..Layer::default()
            }],
            ..Event::new(EventType::Exposure, format!("user_{unit:08}"), at)
        });
        decided.push((unit, session, decision, at));
    }
    for i in 0..n {
        let (unit, session, decision, at) = &decided[rng.random_range(0..decided.len())];
        let later = at + rng.random_range(0..3_600_000i64);
        let (session, decision) = match i % 3 {
            0 => (Some(session.clone()), Some(decision.clone())),
            1 => (None, None),
            _ => (Some(session.clone()), None),
        };
        out.push(Event {
            id: Some(format!("trk_{i:010}")),
            session_id: session,
            decision_id: decision,
            event: Some("purchase".into()),
            value: Some(f64::from(rng.random_range(1..200u32))),
            ..Event::new(EventType::Track, format!("user_{unit:08}"), later)
        });
    }
    out
}

fn tables(n: u64) -> EventTables {
    let dir = std::env::temp_dir().join("bandit-engine-bench");
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let path: PathBuf = dir.join(format!("attribution-{n}.parquet"));
    if !path.exists() {
        write_events(&log(n, 7), &path).expect("parquet written");
    }
    load_events(&[path], LoadOptions { strict: true })
        .expect("bench files are valid")
        .tables
}

fn policy() -> Policy {
    serde_json::from_value(serde_json::json!({
        "id": "policy_checkout_cta", "state": "running", "kind": "adaptive", "conditions": [],
        "allocations": [
            {"name": "control", "bucketRange": [0, 3333], "overrides": {}},
            {"name": "buy_now", "bucketRange": [3334, 6666], "overrides": {}},
            {"name": "urgency", "bucketRange": [6667, 9999], "overrides": {}}
        ]
    }))
    .expect("a valid policy")
}

fn bench(c: &mut Criterion) {
    let goal: Goal =
        serde_json::from_value(serde_json::json!({"event": "purchase", "type": "sum"}))
            .expect("a valid goal");
    let policy = policy();
    let mut g = c.benchmark_group("attribution");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for n in [100_000u64, 1_000_000] {
        let t = tables(n);
        g.throughput(Throughput::Elements(2 * n));
        for (name, mode, model) in [
            (
                "cumulative",
                AttributionMode::Cumulative,
                TouchModel::LastTouch,
            ),
            (
                "cumulative_linear",
                AttributionMode::Cumulative,
                TouchModel::Linear,
            ),
            ("decision", AttributionMode::Decision, TouchModel::LastTouch),
        ] {
            let params = AttributionParams::default()
                .with_mode(mode)
                .with_model(model);
            g.bench_with_input(BenchmarkId::new(name, n), &t, |b, t| {
                b.iter(|| {
                    let table = rewards(t, &goal, &params).expect("attribution runs");
                    policy_metrics(table, &policy).expect("metrics run")
                });
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    bandit_engine::memory::keep_freed_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
