//! Schema enforcement throughput: track events checked per second, for tables of
//! track events with five properties each under mixed rules (required, enum, format,
//! pattern, bounds, lengths, nested array items) and mixed modes (`reject`, `warn`,
//! `off`), about one event in ten invalid and one in a hundred undefined.
//!
//! ```text
//! cargo bench --bench enforce
//! ```
//!
//! The goal is at least 5 M events/s on two cores at 1 M events. Tables are built once
//! per size in memory; each iteration enforces on a fresh (cheap, shared-buffer) copy.

use std::time::Duration;

use bandit_engine::config::ProjectConfig;
use bandit_engine::enforce::enforce;
use bandit_engine::events::{Event, EventType, LoadReport, Loaded, TableBuilder};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Map, Value};

const CONFIG: &str = r#"
events:
  checkout_completed:
    valueType: currency
    schemaEnforcement: reject
    properties:
      order_id: { type: string, required: true, format: uuid }
      total: { type: number, required: true, minimum: 0 }
      payment_method: { type: string, required: true, enum: [credit_card, paypal, apple_pay] }
      currency: { type: string, pattern: "^[A-Z]{3}$" }
      items:
        type: array
        maxItems: 20
        items: { type: object, properties: { sku: { type: string, required: true } } }
  add_to_cart:
    valueType: count
    schemaEnforcement: warn
    properties:
      product_id: { type: string, required: true, minLength: 3, maxLength: 32 }
      quantity: { type: integer, minimum: 1, maximum: 99 }
      category: { type: string, enum: [shoes, shirts, hats] }
      in_stock: { type: boolean }
      price: { type: number, minimum: 0 }
  page_view:
    valueType: count
    schemaEnforcement: off
"#;

fn properties(i: u64) -> (&'static str, Option<f64>, Map<String, Value>) {
    let bad = i % 10 == 7;
    let props = |v: Value| v.as_object().cloned().expect("object literal");
    match i % 100 {
        0 => (
            "newsletter_signup",
            None,
            props(json!({"source": "footer", "n": i})),
        ),
        k if k < 45 => (
            "checkout_completed",
            Some(10.0 + (i % 90) as f64),
            props(json!({
                "order_id": format!("0b9f0f3e-3c1a-4d8e-9d7b-{:012x}", i),
                "total": if bad { -1.0 } else { 10.5 },
                "payment_method": if bad { "cash" } else { "paypal" },
                "currency": "USD",
                "items": [{"sku": "A-1"}],
            })),
        ),
        k if k < 90 => (
            "add_to_cart",
            Some(1.0),
            props(json!({
                "product_id": format!("p_{:06}", i % 5000),
                "quantity": if bad { 0 } else { 2 },
                "category": "shoes",
                "in_stock": true,
                "price": 19.99,
            })),
        ),
        _ => ("page_view", None, props(json!({"path": "/", "ms": 12}))),
    }
}

fn loaded(n: u64) -> Loaded {
    let mut b = TableBuilder::default();
    for i in 0..n {
        let (name, value, props) = properties(i);
        let mut e = Event::new(
            EventType::Track,
            format!("user_{:08}", i / 4),
            1_793_491_200_000 + i as i64,
        );
        e.event = Some(name.to_owned());
        e.value = value;
        e.properties = Some(props);
        b.push_from(e, Some(("events.ndjson", i + 1)));
    }
    Loaded {
        tables: b.finish().expect("equal-length columns"),
        report: LoadReport::default(),
        rejected: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let config = ProjectConfig::from_str_named(CONFIG, "bench.yaml").expect("bench config");
    let mut group = c.benchmark_group("enforce");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for n in [100_000u64, 1_000_000] {
        let input = loaded(n);
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::new("track_events", n), &input, |bch, input| {
            bch.iter_batched(
                || input.clone(),
                |mut l| enforce(&config, &mut l).expect("enforce"),
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
