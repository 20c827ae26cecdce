//! `fit` end to end on an in-memory table (column checks, grouping, fit), rows per
//! second; the raw fits alone are in `benches/policy.rs`.
//!
//! ```text
//! cargo bench --bench fit
//! ```
//!
//! * `fit_table/thompson_bernoulli`: K = 10 arms, N rows.
//! * `fit_table/linucb`: K = 10 arms, d = 8 numeric features plus the intercept.
//! * `fit_table/thompson_bernoulli_per_entity`: 10 000 entities × K = 5 arms.
//! * `fit_file/linucb_parquet`: what `bandit-engine fit --algorithm linucb` does, file
//!   reading included: 1 M rows, K = 10, d = 16 numeric features plus the intercept,
//!   from a zstd parquet file of 8 row groups (as polars writes it by default).
//!
//! Inputs come from a seeded ChaCha8 generator, so runs compare.

use std::time::Duration;

use bandit_engine::fit::{fit_file, fit_table, FitAlgorithm, FitParams, Table};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use polars::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn table(n: usize, arms: u32, features: usize, entities: Option<u32>) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut columns = vec![
        Column::new(
            "arm".into(),
            (0..n)
                .map(|_| format!("arm{}", rng.random_range(0..arms)))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "reward".into(),
            (0..n)
                .map(|_| f64::from(u8::from(rng.random_bool(0.1))))
                .collect::<Vec<_>>(),
        ),
    ];
    for j in 0..features {
        columns.push(Column::new(
            format!("x{j}").into(),
            (0..n).map(|_| rng.random::<f64>()).collect::<Vec<_>>(),
        ));
    }
    if let Some(e) = entities {
        columns.push(Column::new(
            "entity".into(),
            (0..n).map(|_| rng.random_range(0..e)).collect::<Vec<u32>>(),
        ));
    }
    Table::from_frame(
        DataFrame::new(n, columns).expect("columns of one length"),
        "bench",
    )
}

fn fit(c: &mut Criterion) {
    let mut g = c.benchmark_group("fit_table");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for n in [100_000usize, 1_000_000] {
        g.throughput(Throughput::Elements(n as u64));
        let t = table(n, 10, 0, None);
        let p = FitParams::new(FitAlgorithm::ThompsonBernoulli, "arm", "reward")
            .check()
            .expect("valid parameters");
        g.bench_with_input(BenchmarkId::new("thompson_bernoulli", n), &n, |b, _| {
            b.iter(|| fit_table(&t, &p).expect("generated rows are valid"))
        });
        let t = table(n, 10, 8, None);
        let names: Vec<String> = (0..8).map(|j| format!("x{j}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let p = FitParams::new(FitAlgorithm::Linucb, "arm", "reward")
            .features(&refs)
            .check()
            .expect("valid parameters");
        g.bench_with_input(BenchmarkId::new("linucb", n), &n, |b, _| {
            b.iter(|| fit_table(&t, &p).expect("generated rows are valid"))
        });
    }
    let n = 1_000_000usize;
    g.throughput(Throughput::Elements(n as u64));
    let t = table(n, 5, 0, Some(10_000));
    let p = FitParams::new(FitAlgorithm::ThompsonBernoulli, "arm", "reward")
        .entity("entity")
        .check()
        .expect("valid parameters");
    g.bench_with_input(
        BenchmarkId::new("thompson_bernoulli_per_entity", n),
        &n,
        |b, _| b.iter(|| fit_table(&t, &p).expect("generated rows are valid")),
    );
    g.finish();
}

fn fit_parquet(c: &mut Criterion) {
    let n = 1_000_000usize;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("fit.parquet");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut columns = vec![
        Column::new(
            "arm".into(),
            (0..n)
                .map(|_| format!("arm{}", rng.random_range(0..10)))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "reward".into(),
            (0..n).map(|_| rng.random::<f64>()).collect::<Vec<_>>(),
        ),
    ];
    let names: Vec<String> = (0..16).map(|j| format!("x{j}")).collect();
    for name in &names {
        columns.push(Column::new(
            name.as_str().into(),
            (0..n).map(|_| rng.random::<f64>()).collect::<Vec<_>>(),
        ));
    }
    let mut df = DataFrame::new(n, columns).expect("columns of one length");
    let file = std::fs::File::create(&path).expect("a writable file");
    ParquetWriter::new(file)
        .with_row_group_size(Some(n / 8))
        .finish(&mut df)
        .expect("the table is written");
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let p = FitParams::new(FitAlgorithm::Linucb, "arm", "reward")
        .features(&refs)
        .check()
        .expect("valid parameters");
    let mut g = c.benchmark_group("fit_file");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("linucb_parquet", |b| {
        b.iter(|| fit_file(&path, &p).expect("generated rows are valid"))
    });
    g.finish();
}

criterion_group!(benches, fit, fit_parquet);
criterion_main!(benches);
