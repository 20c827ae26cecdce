//! Both linear-algebra backends give the same linear models within 1e-10 relative.
//!
//! The suite is compiled once per backend (`cargo test` uses faer, `cargo test
//! --features blas` LAPACK over OpenBLAS) and each run compares the backend in use
//! with the same two fixed references: numpy's values in golden/linear.json
//! (tests/it/golden/linear.py) and a textbook Cholesky written here (Golub & Van
//! Loan, *Matrix Computations*, 4th ed., Algorithm 4.2.2). Each backend within
//! 5e-11 of the references puts the two backends within 1e-10 of each other.

use bandit_engine::linalg::BACKEND;
use bandit_engine::policy::{FeatureSpace, LinTsParams, LinUcbParams, LinearStats};
use ndarray::{Array1, Array2, ArrayView1};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::{Map, Value};

const REL: f64 = 5e-11;

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

/// Lower Cholesky factor, column by column (no pivoting: A is SPD).
fn reference_cholesky(a: &Array2<f64>) -> Array2<f64> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let s: f64 = (0..j).map(|k| l[[j, k]] * l[[j, k]]).sum();
        l[[j, j]] = (a[[j, j]] - s).sqrt();
        for i in j + 1..n {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
        }
    }
    l
}

fn forward(l: &Array2<f64>, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; b.len()];
    for i in 0..b.len() {
        let s: f64 = (0..i).map(|j| l[[i, j]] * y[j]).sum();
        y[i] = (b[i] - s) / l[[i, i]];
    }
    y
}

fn backward(l: &Array2<f64>, y: &[f64]) -> Vec<f64> {
    let n = y.len();
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|j| l[[j, i]] * x[j]).sum();
        x[i] = (y[i] - s) / l[[i, i]];
    }
    x
}

/// Within `REL` relative (plus 1e-13 absolute, for values that are nearly 0).
fn close(got: f64, want: f64, what: &str) {
    let tol = REL * got.abs().max(want.abs()) + 1e-13;
    assert!(
        (got - want).abs() <= tol,
        "{what} on {BACKEND}: {got:e} vs {want:e} (difference {:e}, tolerance {tol:e})",
        (got - want).abs()
    );
}

#[test]
fn linucb_and_lints_agree_with_fixed_references_on_this_backend() {
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
    let lambda = g["lambda"].as_f64().unwrap();
    let alpha = g["alpha"].as_f64().unwrap();
    let v = 0.7;
    let ucb = LinUcbParams::default()
        .alpha(alpha)
        .lambda(lambda)
        .check()
        .unwrap()
        .fit(&stats)
        .unwrap();
    let ts = LinTsParams::default()
        .v(v)
        .lambda(lambda)
        .check()
        .unwrap()
        .fit(&stats)
        .unwrap();
    let names: Vec<String> = serde_json::from_value(g["arms"].clone()).unwrap();
    let probes: Vec<Vec<f64>> = g["probes"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut xp = vec![0.0; space.dim()];
            space.encode(p.as_object().unwrap(), i, &mut xp).unwrap();
            xp
        })
        .collect();
    let d = space.dim();
    let mut rng_backend = ChaCha8Rng::seed_from_u64(11);
    let draws = ts.draw(&mut rng_backend);
    let mut rng_reference = ChaCha8Rng::seed_from_u64(11);
    for (k, name) in names.iter().enumerate() {
        let mut a = stats.gram(k).to_owned();
        for i in 0..d {
            a[[i, i]] += lambda;
        }
        let l = reference_cholesky(&a);
        let b = stats.b(k).to_vec();
        let theta = backward(&l, &forward(&l, &b));
        let numpy = floats(&g["theta"][name]);
        for model_arm in [&ucb.arms()[k], &ts.arms()[k]] {
            for i in 0..d {
                close(model_arm.theta()[i], theta[i], "theta vs reference");
                close(model_arm.theta()[i], numpy[i], "theta vs numpy");
                for j in 0..=i {
                    close(model_arm.cholesky()[[i, j]], l[[i, j]], "cholesky");
                }
            }
        }
        for (p, xp) in probes.iter().enumerate() {
            let width = forward(&l, xp).iter().map(|y| y * y).sum::<f64>().sqrt();
            let mean: f64 = theta.iter().zip(xp).map(|(t, x)| t * x).sum();
            let score = ucb.scores(ArrayView1::from(xp))[k];
            close(score, mean + alpha * width, "ucb vs reference");
            close(score, floats(&g["ucb"][name])[p], "ucb vs numpy");
        }
        // LinTS draws θ + v L⁻ᵀz with z from the same seeded stream.
        let z: Vec<f64> = (0..d)
            .map(|_| StandardNormal.sample(&mut rng_reference))
            .collect();
        let step = backward(&l, &z);
        let want = Array1::from_shape_fn(d, |i| theta[i] + v * step[i]);
        for i in 0..d {
            close(draws[k][i], want[i], "lints draw");
        }
    }
    assert!(["faer", "openblas"].contains(&BACKEND));
}
