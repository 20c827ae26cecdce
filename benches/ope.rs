//! Off-policy evaluation on the Open Bandit Dataset's random/all log (10,000 rows).
//!
//! ```text
//! cargo bench --bench ope
//! ```
//!
//! * `ope_estimators_bootstrap/rows`: all six estimators plus 1,000 bootstrap
//!   resamples, given the action distribution and the reward predictions (the per-row
//!   terms are built inside the timed loop). Goal: ≤ 100 ms on 2 cores.
//! * `ope_bts_action_dist/rounds`: the Thompson sampling policy's per-slot action
//!   distribution by Monte Carlo, 100,000 rounds × 80 Beta draws (obp 0.5.7 takes
//!   about 9 s in Python).
//! * `ope_reward_model/rows`: the per-slot L2 logistic reward model (C = 100),
//!   3-fold cross-fitted, with predictions for every row and action.
//!
//! Throughput in rows (or simulated rounds) per second.

use std::path::PathBuf;
use std::time::Duration;

use bandit_engine::progress::NoProgress;
use bandit_engine::replay::obd::{read_beta_prior, read_obd};
use bandit_engine::replay::{
    evaluate_with, BernoulliTs, BootstrapParams, OpeParams, RewardModelParams,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/obd")
}

fn benches(c: &mut Criterion) {
    let log = read_obd(data_dir().join("random/all")).expect("the OBD copy in datasets/obd");
    let (alpha, beta) = read_beta_prior(data_dir().join("prior_bts_all.json")).expect("the prior");
    let n = log.data.len();
    let policy = BernoulliTs::new(alpha, beta, 3).seed(12345);
    let dist = policy.action_dist(&NoProgress).expect("a valid prior");
    let model = RewardModelParams::default()
        .seed(12345)
        .check()
        .expect("default parameters are valid");
    let q = model
        .fit_predict(&log.data)
        .expect("the log has clicks at every slot");
    let params = OpeParams {
        bootstrap: BootstrapParams {
            n_resamples: 1000,
            alpha: 0.05,
            seed: 12345,
        },
        ..OpeParams::default()
    };

    let mut g = c.benchmark_group("ope_estimators_bootstrap");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_with_input(BenchmarkId::new("rows", n), &n, |b, _| {
        b.iter(|| {
            evaluate_with(&log.data, &dist, Some(&q), &params, &NoProgress).expect("valid inputs")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("ope_bts_action_dist");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(u64::from(policy.n_sim)));
    g.bench_with_input(BenchmarkId::new("rounds", policy.n_sim), &policy, |b, p| {
        b.iter(|| p.action_dist(&NoProgress).expect("a valid prior"))
    });
    g.finish();

    let mut g = c.benchmark_group("ope_reward_model");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(n as u64));
    g.bench_with_input(BenchmarkId::new("rows", n), &n, |b, _| {
        b.iter(|| {
            model
                .fit_predict(&log.data)
                .expect("the log has clicks at every slot")
        })
    });
    g.finish();
}

criterion_group!(ope, benches);
criterion_main!(ope);
