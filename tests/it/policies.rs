//! Policies: golden linear-bandit values from numpy, and the invariants every
//! algorithm keeps (weights sum to 1, merge order and thread count do not matter).

use approx::assert_relative_eq;
use bandit_engine::policy::{
    ContextualModel, ContextualSettings, EpsilonGreedyParams, FeatureSpace, LinUcbParams,
    LinearStats, ThompsonBernoulliParams, ThompsonGaussianParams, Ucb1Params,
};
use bandit_engine::reward::ArmStats;
use ndarray::{Array2, ArrayView1};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/golden/linear.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn linucb_coefficients_and_scores_match_numpy() {
    // Golden values: tests/it/golden/linear.py (numpy.linalg.solve / inv, numpy 2.x).
    let g = golden();
    let allowed: Vec<String> = serde_json::from_value(g["allowed"].clone()).unwrap();
    let rows = g["rows"].as_array().unwrap();
    let contexts: Vec<Map<String, Value>> = rows
        .iter()
        .map(|r| r["context"].as_object().unwrap().clone())
        .collect();
    let space = FeatureSpace::learn(&allowed, &contexts);
    let texts: Vec<String> = rows.iter().map(|r| r["context"].to_string()).collect();
    let refs: Vec<Option<&str>> = texts.iter().map(|t| Some(t.as_str())).collect();
    let x = space.design(&refs).unwrap();
    let arms: Vec<u32> = rows
        .iter()
        .map(|r| r["arm"].as_u64().unwrap() as u32)
        .collect();
    let rewards: Vec<f64> = rows.iter().map(|r| r["reward"].as_f64().unwrap()).collect();
    let stats = LinearStats::from_rows(2, x.view(), &arms, &rewards).unwrap();
    let model = LinUcbParams::default()
        .alpha(g["alpha"].as_f64().unwrap())
        .lambda(g["lambda"].as_f64().unwrap())
        .check()
        .unwrap()
        .fit(&stats)
        .unwrap();
    let names: Vec<String> = serde_json::from_value(g["arms"].clone()).unwrap();
    let probes: Vec<Map<String, Value>> = g["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_object().unwrap().clone())
        .collect();
    for (k, name) in names.iter().enumerate() {
        let want = floats(&g["theta"][name]);
        for (got, want) in model.arms()[k].theta().iter().zip(&want) {
            assert_relative_eq!(*got, *want, epsilon = 1e-12, max_relative = 1e-9);
        }
        for (p, probe) in probes.iter().enumerate() {
            let mut xp = vec![0.0; space.dim()];
            space.encode(probe, p, &mut xp).unwrap();
            let score = model.scores(ArrayView1::from(&xp))[k];
            assert_relative_eq!(score, floats(&g["ucb"][name])[p], max_relative = 1e-9);
        }
    }
    // The export scores like the SDK: intercept + coefficients = the posterior mean.
    let thetas: Vec<ArrayView1<'_, f64>> = model.arms().iter().map(|a| a.theta()).collect();
    let exported =
        ContextualModel::from_coefficients(&space, &names, &thetas, ContextualSettings::default())
            .unwrap();
    for (p, probe) in probes.iter().enumerate() {
        let mut xp = vec![0.0; space.dim()];
        space.encode(probe, p, &mut xp).unwrap();
        for (k, name) in names.iter().enumerate() {
            let mean = model.arms()[k].mean_score(ArrayView1::from(&xp));
            assert_relative_eq!(
                exported.coefficients[name].score(probe),
                mean,
                epsilon = 1e-12
            );
        }
    }
    let v = exported.to_value();
    assert!(v["coefficients"]["bold"]["categorical"][0]["values"]["ios"].is_number());
}

fn stats_of(rewards: &[f64]) -> ArmStats {
    rewards.iter().fold(ArmStats::default(), |s, &r| {
        s.merge(ArmStats {
            n: 1,
            sum: r,
            sum_sq: r * r,
        })
    })
}

fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_algorithm_gives_weights_that_sum_to_one(
        arms in prop::collection::vec((0u64..500, 0.0f64..1.0), 1..8),
        eps in 0.0f64..=1.0,
    ) {
        let stats: Vec<ArmStats> = arms
            .iter()
            .map(|&(n, p)| { let s = (n as f64 * p).floor(); ArmStats { n, sum: s, sum_sq: s } })
            .collect();
        let all = [
            ThompsonBernoulliParams::default().draws(2000).check().unwrap().probability_best(&stats, "p").unwrap(),
            ThompsonGaussianParams::default().draws(2000).check().unwrap().probability_best(&stats, "p").unwrap(),
            Ucb1Params::default().check().unwrap().weights(&stats).unwrap(),
            EpsilonGreedyParams::default().epsilon(eps).check().unwrap().weights(&stats).unwrap(),
        ];
        for w in all {
            prop_assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            prop_assert!(w.iter().all(|&v| v >= 0.0));
        }
    }

    #[test]
    fn merge_order_does_not_change_the_gaussian_posterior(
        rewards in prop::collection::vec(-50.0f64..50.0, 2..200),
        cut in 0usize..200,
    ) {
        let cut = cut.min(rewards.len());
        let whole = stats_of(&rewards);
        let merged = stats_of(&rewards[cut..]).merge(stats_of(&rewards[..cut]));
        let tg = ThompsonGaussianParams::default().check().unwrap();
        let a = tg.posteriors(&[whole]).unwrap()[0];
        let b = tg.posteriors(&[merged]).unwrap()[0];
        prop_assert!((a.mean - b.mean).abs() <= 1e-9 * (1.0 + a.mean.abs()));
        prop_assert!((a.beta - b.beta).abs() <= 1e-9 * (1.0 + a.beta.abs()));
        prop_assert_eq!(a.kappa, b.kappa);
    }

    #[test]
    fn linear_statistics_merge_by_addition_and_ignore_the_thread_count(
        n in 1usize..20_000,
        split in 0usize..20_000,
        seed in 0u64..1000,
    ) {
        let d = 4;
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            let v = (i as u64 * 31 + j as u64 * 7 + seed) % 97;
            if j == 0 { 1.0 } else { v as f64 / 97.0 }
        });
        let arms: Vec<u32> = (0..n).map(|i| ((i as u64 + seed) % 3) as u32).collect();
        let rewards: Vec<f64> = (0..n).map(|i| ((i as u64 * seed) % 5) as f64 / 4.0).collect();
        let one = on_threads(1, || LinearStats::from_rows(3, x.view(), &arms, &rewards).unwrap());
        let two = on_threads(2, || LinearStats::from_rows(3, x.view(), &arms, &rewards).unwrap());
        prop_assert_eq!(&one, &two);
        let s = split.min(n);
        let mut parts = LinearStats::from_rows(3, x.slice(ndarray::s![s.., ..]), &arms[s..], &rewards[s..]).unwrap();
        parts.add(&LinearStats::from_rows(3, x.slice(ndarray::s![..s, ..]), &arms[..s], &rewards[..s]).unwrap()).unwrap();
        for a in 0..3 {
            prop_assert_eq!(parts.count(a), one.count(a));
            for (p, q) in parts.gram(a).iter().zip(one.gram(a).iter()) {
                prop_assert!((p - q).abs() <= 1e-9 * (1.0 + q.abs()));
            }
        }
    }
}

#[test]
fn probability_best_is_the_same_serial_and_parallel() {
    let arms = [
        stats_of(&[1.0, 2.0, 3.0]),
        stats_of(&[2.0, 2.5, 4.0, 1.0]),
        stats_of(&[0.5; 5]),
    ];
    let tg = ThompsonGaussianParams::default()
        .draws(20_000)
        .seed(9)
        .check()
        .unwrap();
    let one = on_threads(1, || tg.probability_best(&arms, "pol").unwrap());
    let two = on_threads(2, || tg.probability_best(&arms, "pol").unwrap());
    assert_eq!(one, two);
}

#[test]
fn fitted_policies_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<bandit_engine::policy::ThompsonGaussian>();
    send_sync::<bandit_engine::policy::Ucb1>();
    send_sync::<bandit_engine::policy::EpsilonGreedy>();
    send_sync::<bandit_engine::policy::LinUcbModel>();
    send_sync::<bandit_engine::policy::LinTsModel>();
    send_sync::<LinearStats>();
    send_sync::<FeatureSpace>();
    send_sync::<ContextualModel>();
}
