//! Policy fitting throughput.
//!
//! ```text
//! cargo bench --bench policy
//! ```
//!
//! * `linucb_fit/rows`: sufficient statistics and LinUCB fit, N = 1 M rows, d = 16,
//!   K = 10, rows in memory (rows per second).
//! * `beta_ts_fit/rows`: Beta Thompson sampling's statistics from a 10 M-row reward
//!   table with string columns, K = 10 (rows per second).
//! * `beta_ts_pbest/arms`: Beta Thompson probability of being best by Monte Carlo,
//!   K = 10, 10 000 draws (draws per second).
//! * `entities_pbest_quadrature/entities`: 10 000 entities × 5 arms, probability of
//!   being best by quadrature (entities per second).
//!
//! Inputs come from a seeded ChaCha8 generator, so runs compare.

use std::time::Duration;

use bandit_engine::policy::{
    beta_probability_best_many, LinUcbParams, LinearStats, ThompsonBernoulliParams,
};
use bandit_engine::reward::ArmStats;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn linucb_fit(c: &mut Criterion) {
    let (n, d, k) = (1_000_000usize, 16usize, 10u32);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = Array2::from_shape_fn(
        (n, d),
        |(_, j)| {
            if j == 0 {
                1.0
            } else {
                rng.random::<f64>()
            }
        },
    );
    let arms: Vec<u32> = (0..n).map(|_| rng.random_range(0..k)).collect();
    let rewards: Vec<f64> = (0..n)
        .map(|_| f64::from(u8::from(rng.random_bool(0.1))))
        .collect();
    let params = LinUcbParams::default()
        .check()
        .expect("default parameters are valid");
    let mut g = c.benchmark_group("linucb_fit");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_with_input(BenchmarkId::new("rows", n), &n, |b, _| {
        b.iter(|| {
            let stats = LinearStats::from_rows(k as usize, x.view(), &arms, &rewards)
                .expect("generated rows are finite");
            params.fit(&stats).expect("ridge keeps A positive definite")
        })
    });
    g.finish();
}

/// Beta Thompson sampling's fit: the per-allocation statistics (count, sum, sum of
/// squares) of a reward table, which is all the posterior needs. 10 M rows, one
/// policy, K = 10 allocations, as the engine reads them (string columns).
fn beta_ts_fit(c: &mut Criterion) {
    use polars::prelude::*;
    let n = 10_000_000usize;
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let names: Vec<String> = (0..10).map(|a| format!("allocation_{a}")).collect();
    let alloc: Vec<&str> = (0..n)
        .map(|_| names[rng.random_range(0..10usize)].as_str())
        .collect();
    let reward: Vec<f64> = (0..n)
        .map(|_| f64::from(u8::from(rng.random_bool(0.05))))
        .collect();
    let table = df!(
        "policy_id" => vec!["policy"; n],
        "allocation_name" => alloc,
        "reward" => reward,
    )
    .expect("equal column lengths");
    let mut g = c.benchmark_group("beta_ts_fit");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_with_input(BenchmarkId::new("rows", n), &table, |b, t| {
        b.iter(|| bandit_engine::reward::arm_stats(t.clone().lazy()).expect("valid table"))
    });
    g.finish();
}

fn beta_ts_pbest(c: &mut Criterion) {
    let draws = 10_000u32;
    let arms: Vec<ArmStats> = (0..10)
        .map(|i| {
            let s = 100.0 + 3.0 * f64::from(i);
            ArmStats {
                n: 1000,
                sum: s,
                sum_sq: s,
            }
        })
        .collect();
    let tb = ThompsonBernoulliParams::default()
        .draws(draws)
        .seed(3)
        .check()
        .expect("default parameters are valid");
    let mut g = c.benchmark_group("beta_ts_pbest");
    g.throughput(Throughput::Elements(u64::from(draws)));
    g.bench_with_input(BenchmarkId::new("arms", 10), &arms, |b, arms| {
        b.iter(|| {
            tb.probability_best(arms, "bench")
                .expect("valid statistics")
        })
    });
    g.finish();
}

fn entities_pbest_quadrature(c: &mut Criterion) {
    let entities = 10_000usize;
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let posteriors: Vec<Vec<(f64, f64)>> = (0..entities)
        .map(|_| {
            (0..5)
                .map(|_| {
                    let n = f64::from(rng.random_range(20u32..2000));
                    let s = (n * rng.random_range(0.02..0.2)).floor();
                    (1.0 + s, 1.0 + n - s)
                })
                .collect()
        })
        .collect();
    let mut g = c.benchmark_group("entities_pbest_quadrature");
    g.sample_size(10);
    g.throughput(Throughput::Elements(entities as u64));
    g.bench_with_input(
        BenchmarkId::new("entities", entities),
        &posteriors,
        |b, p| b.iter(|| beta_probability_best_many(p)),
    );
    g.finish();
}

criterion_group!(
    benches,
    linucb_fit,
    beta_ts_fit,
    beta_ts_pbest,
    entities_pbest_quadrature
);
criterion_main!(benches);
