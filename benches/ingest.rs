//! Ingestion throughput: exposure rows per second from ndjson and from parquet, into
//! the engine's validated tables; and ndjson bytes per second, on one thread, parsed
//! and validated into the flat columns `convert` writes.
//!
//! ```text
//! cargo bench --bench ingest
//! ```
//!
//! Each exposure event carries one layer, so events = rows. The files are generated
//! once per size in the system temp directory. Parquet rows are validated straight
//! from the typed columns (`src/events/parquet.rs`), a batch of row groups at a time.
//!
//! `convert_ndjson` reads a log of exposures and purchases (half each) from memory on
//! the calling thread, so its bytes per second are per core: `in_place` is what
//! `convert` runs (`src/events/ndjson.rs`), `by_event` every line through the typed
//! fast path into an owned event first, as before. With `BENCH_NDJSON=FILE` it reads
//! (up to 256 MiB of) that log instead, e.g. one `synth` wrote:
//!
//! ```text
//! BENCH_NDJSON=/tmp/world/events.ndjson cargo bench --bench ingest -- convert_ndjson
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use bandit_engine::events::fuzzing::{flat_rows, flat_rows_by_event};
use bandit_engine::events::{
    load_events, write_events, write_ndjson, Event, EventType, Layer, LoadOptions,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

fn exposure(i: u64) -> Event {
    let arm = i % 3;
    let mut context = serde_json::Map::new();
    context.insert(
        "device".into(),
        json!(if i % 5 < 3 { "mobile" } else { "desktop" }),
    );
    context.insert(
        "country".into(),
        json!(["US", "DE", "FR", "GB"][(i % 4) as usize]),
    );
    context.insert("visits".into(), json!(1 + i % 17));
    let mut assignments = serde_json::Map::new();
    assignments.insert(
        "checkout.ctaText".into(),
        json!(["Complete Purchase", "Buy Now", "Buy Now - Limited Stock!"][arm as usize]),
    );
    Event {
        id: Some(format!("evt_{i:010}")),
        org_id: Some("org_demo".into()),
        project_id: Some("proj_shop".into()),
        env: Some("production".into()),
        session_id: Some(format!("sess_{:08}", i / 2)),
        context: Some(context),
        sdk_name: Some("js-client".into()),
        sdk_version: Some("0.12.0".into()),
        config_version: Some("2026-10-31T00:00:00.000Z".into()),
        decision_id: Some(format!("dec_{i:010}")),
        assignments: Some(assignments),
        layers: vec![Layer {
            layer_id: "layer_checkout".into(),
            bucket: (i * 7919 % 10_000) as u32,
            policy_id: Some("policy_checkout_cta".into()),
            policy_key: Some("checkout-cta".into()),
            allocation_id: Some(format!("alloc_{arm}")),
            allocation_name: Some(["control", "buy_now", "urgency"][arm as usize].into()),
            probability: Some(1.0 / 3.0),
            ..Layer::default()
        }],
        ..Event::new(
            EventType::Exposure,
            format!("user_{:08}", i / 3),
            1_793_491_200_000 + (i as i64) * 250,
        )
    }
}

/// A purchase by the unit of exposure `i`.
fn purchase(i: u64) -> Event {
    let mut properties = serde_json::Map::new();
    properties.insert("sku".into(), json!(format!("sku_{}", i % 97)));
    properties.insert("items".into(), json!(1 + i % 4));
    Event {
        id: Some(format!("evt_t{i:010}")),
        org_id: Some("org_demo".into()),
        project_id: Some("proj_shop".into()),
        env: Some("production".into()),
        session_id: Some(format!("sess_{:08}", i / 2)),
        decision_id: Some(format!("dec_{i:010}")),
        event: Some("purchase".into()),
        value: Some(((i % 50) as f64) * 1.25),
        properties: Some(properties),
        ..Event::new(
            EventType::Track,
            format!("user_{:08}", i / 3),
            1_793_491_200_000 + (i as i64) * 250 + 90_000,
        )
    }
}

/// The bytes of an ndjson log of `events` events, exposures and purchases in turn.
fn mixed_log(events: u64) -> Vec<u8> {
    let dir = std::env::temp_dir().join("bandit-engine-bench");
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let path = dir.join(format!("mixed-{events}.ndjson"));
    if !path.exists() {
        let log: Vec<Event> = (0..events)
            .map(|i| if i % 2 == 0 { exposure(i) } else { purchase(i) })
            .collect();
        write_ndjson(&log, &path).expect("ndjson written");
    }
    std::fs::read(&path).expect("bench log is readable")
}

fn convert_ndjson(c: &mut Criterion) {
    let mut group = c.benchmark_group("convert_ndjson");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    if let Ok(path) = std::env::var("BENCH_NDJSON") {
        let mut bytes = std::fs::read(&path).expect("BENCH_NDJSON is readable");
        bytes.truncate(256 << 20);
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(end);
        let (rows, refused) = flat_rows(&bytes).expect("flat columns build");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        for (name, read) in [
            ("in_place", flat_rows as fn(&[u8]) -> _),
            ("by_event", flat_rows_by_event),
        ] {
            group.bench_with_input(BenchmarkId::new(name, "file"), &bytes, |b, bytes| {
                b.iter(|| assert_eq!(read(bytes).expect("flat columns build"), (rows, refused)))
            });
        }
        group.finish();
        return;
    }
    for events in [20_000u64, 200_000] {
        let bytes = mixed_log(events);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("in_place", events), &bytes, |b, bytes| {
            b.iter(|| {
                let (rows, refused) = flat_rows(bytes).expect("flat columns build");
                assert_eq!((rows as u64, refused), (events, 0));
            })
        });
        group.bench_with_input(BenchmarkId::new("by_event", events), &bytes, |b, bytes| {
            b.iter(|| {
                let (rows, refused) = flat_rows_by_event(bytes).expect("flat columns build");
                assert_eq!((rows as u64, refused), (events, 0));
            })
        });
    }
    group.finish();
}

fn files(rows: u64) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join("bandit-engine-bench");
    std::fs::create_dir_all(&dir).expect("temp dir is writable");
    let nd = dir.join(format!("exposures-{rows}.ndjson"));
    let pq = dir.join(format!("exposures-{rows}.parquet"));
    if !nd.exists() || !pq.exists() {
        let events: Vec<Event> = (0..rows).map(exposure).collect();
        write_events(&events, &nd).expect("ndjson written");
        write_events(&events, &pq).expect("parquet written");
    }
    (nd, pq)
}

fn load(path: &Path, rows: u64) {
    let loaded = load_events(&[path.to_path_buf()], LoadOptions { strict: true })
        .expect("bench files are valid");
    assert_eq!(loaded.tables.exposures.height() as u64, rows);
}

fn ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest_exposures");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(2));
    for rows in [100_000u64, 1_000_000] {
        let (nd, pq) = files(rows);
        group.throughput(Throughput::Elements(rows));
        group.bench_with_input(BenchmarkId::new("ndjson", rows), &nd, |b, p| {
            b.iter(|| load(p, rows))
        });
        group.bench_with_input(BenchmarkId::new("parquet", rows), &pq, |b, p| {
            b.iter(|| load(p, rows))
        });
    }
    group.finish();
}

criterion_group!(benches, ingest, convert_ndjson);
criterion_main!(benches);
