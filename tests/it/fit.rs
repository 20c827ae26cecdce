//! `fit`: each algorithm against closed forms, per-entity fits, errors that name the
//! file, line and column, and the command's JSON.

use std::path::{Path, PathBuf};

use approx::assert_relative_eq;
use bandit_engine::fit::{fit_table, FitAlgorithm, FitParams, FittedModel, Posterior, Table};
use bandit_engine::Error;
use polars::prelude::*;

fn csv(text: &str) -> Table {
    Table::from_csv_reader(text.as_bytes(), "rows.csv").unwrap()
}

/// Arm `a`: 3 rows, rewards 1, 0, 1; arm `b`: 2 rows, rewards 0, 0.
const BINARY: &str = "arm,reward\na,1\nb,0\na,0\nb,0\na,1\n";

fn global(t: &Table, p: FitParams) -> FittedModel {
    fit_table(t, &p.check().unwrap()).unwrap().global.unwrap()
}

#[test]
fn thompson_bernoulli_posteriors_are_the_prior_plus_the_counts() {
    let mut p = FitParams::new(FitAlgorithm::ThompsonBernoulli, "arm", "reward");
    p.prior_alpha = Some(2.0);
    p.prior_beta = Some(3.0);
    let m = global(&csv(BINARY), p);
    assert_eq!(m.rows, 5);
    // Beta(2 + 2, 3 + 1) and Beta(2 + 0, 3 + 2).
    assert_eq!(
        m.arms[0].posterior,
        Some(Posterior::Beta {
            alpha: 4.0,
            beta: 4.0
        })
    );
    assert_eq!(
        m.arms[1].posterior,
        Some(Posterior::Beta {
            alpha: 2.0,
            beta: 5.0
        })
    );
    let pb: Vec<f64> = m.arms.iter().map(|a| a.probability_best.unwrap()).collect();
    assert_relative_eq!(pb.iter().sum::<f64>(), 1.0, epsilon = 1e-9);
    assert!(pb[0] > 0.8, "{pb:?}");
    assert_eq!(m.arms[0].weight, m.arms[0].probability_best);
}

#[test]
fn thompson_gaussian_posterior_matches_the_normal_inverse_gamma_update() {
    // Arm a: rewards 2, 4 (n 2, mean 3, S = 2). Defaults μ₀ 0, κ₀ 0.01, α₀ β₀ 1:
    // κ = 2.01, μ = 6/2.01, α = 2, β = 1 + 1 + 0.01·2·9/(2·2.01).
    let t = csv("arm,reward\na,2\nb,1\na,4\n");
    let m = global(
        &t,
        FitParams::new(FitAlgorithm::ThompsonGaussian, "arm", "reward"),
    );
    let Some(Posterior::NormalInverseGamma {
        mean,
        kappa,
        alpha,
        beta,
    }) = m.arms[0].posterior
    else {
        panic!("expected a NIG posterior, got {:?}", m.arms[0].posterior)
    };
    assert_relative_eq!(kappa, 2.01, epsilon = 1e-12);
    assert_relative_eq!(mean, 6.0 / 2.01, epsilon = 1e-12);
    assert_relative_eq!(alpha, 2.0, epsilon = 1e-12);
    assert_relative_eq!(beta, 2.0 + 0.18 / 4.02, epsilon = 1e-12);
    assert_eq!(m.arms[0].sum_sq, 20.0);
}

#[test]
fn ucb1_index_is_the_mean_plus_the_bonus_and_the_weight_is_one_hot() {
    let mut p = FitParams::new(FitAlgorithm::Ucb1, "arm", "reward");
    p.alpha = Some(2.0);
    let m = global(&csv(BINARY), p);
    let ln5 = 5f64.ln();
    assert_relative_eq!(
        m.arms[0].ucb.unwrap(),
        2.0 / 3.0 + (2.0 * ln5 / 3.0).sqrt(),
        epsilon = 1e-12
    );
    assert_relative_eq!(
        m.arms[1].ucb.unwrap(),
        (2.0 * ln5 / 2.0).sqrt(),
        epsilon = 1e-12
    );
    assert_eq!((m.arms[0].weight, m.arms[1].weight), (Some(1.0), Some(0.0)));
}

#[test]
fn epsilon_greedy_gives_the_best_arm_one_minus_epsilon_plus_its_share() {
    let mut p = FitParams::new(FitAlgorithm::EpsilonGreedy, "arm", "reward");
    p.epsilon = Some(0.2);
    let m = global(&csv(BINARY), p);
    assert_relative_eq!(m.arms[0].weight.unwrap(), 0.9, epsilon = 1e-12);
    assert_relative_eq!(m.arms[1].weight.unwrap(), 0.1, epsilon = 1e-12);
}

/// Arm a: x = 0, 1, 2 with rewards 1, 2, 4; arm b: x = 1, reward 0.
const LINEAR: &str = "arm,x,reward\na,0,1\na,1,2\nb,1,0\na,2,4\n";

#[test]
fn linucb_and_lints_coefficients_solve_the_ridge_normal_equations() {
    // Arm a, with intercept: A = I + [[3, 3], [3, 5]] = [[4, 3], [3, 6]], b = (7, 10),
    // θ = A⁻¹b = (0.8, 19/15); L = [[2, 0], [1.5, √3.75]].
    for (alg, name) in [(FitAlgorithm::Linucb, "alpha"), (FitAlgorithm::Lints, "v")] {
        let mut p = FitParams::new(alg, "arm", "reward").features(&["x"]);
        match name {
            "alpha" => p.alpha = Some(2.0),
            _ => p.v = Some(0.5),
        }
        let fitted = fit_table(&csv(LINEAR), &p.check().unwrap()).unwrap();
        assert_eq!(fitted.features, vec!["intercept", "x"]);
        let m = fitted.global.unwrap();
        let a = &m.linear[0];
        assert_relative_eq!(a.theta[0], 0.8, epsilon = 1e-12);
        assert_relative_eq!(a.theta[1], 19.0 / 15.0, epsilon = 1e-12);
        assert_eq!(a.cholesky[0], vec![2.0]);
        assert_relative_eq!(a.cholesky[1][0], 1.5, epsilon = 1e-12);
        assert_relative_eq!(a.cholesky[1][1], 3.75f64.sqrt(), epsilon = 1e-12);
        // Arm b: A = I + [[1, 1], [1, 1]], b = 0: θ = 0.
        assert_eq!(m.linear[1].theta, vec![0.0, 0.0]);
        assert_eq!((m.arms[0].n, m.arms[1].n), (3, 1));
    }
}

#[test]
fn per_entity_models_equal_fits_of_each_entity_alone() {
    let rows = "shop,arm,reward\ns1,a,1\ns2,a,0\ns1,b,0\ns2,b,1\ns1,a,1\ns2,b,1\ns3,a,1\n";
    let params = FitParams::new(FitAlgorithm::ThompsonBernoulli, "arm", "reward")
        .entity("shop")
        .check()
        .unwrap();
    let fitted = fit_table(&csv(rows), &params).unwrap();
    assert!(fitted.global.is_none());
    assert_eq!(
        fitted.entities.keys().collect::<Vec<_>>(),
        vec!["s1", "s2", "s3"]
    );
    // Every entity has the table's arms, even s3 with no `b` rows (prior only).
    let s3 = &fitted.entities["s3"];
    assert_eq!(s3.arms[1].name, "b");
    assert_eq!(
        s3.arms[1].posterior,
        Some(Posterior::Beta {
            alpha: 1.0,
            beta: 1.0
        })
    );
    let s1_alone = "arm,reward\na,1\nb,0\na,1\n";
    let alone = fit_table(
        &csv(s1_alone),
        &FitParams::new(FitAlgorithm::ThompsonBernoulli, "arm", "reward")
            .check()
            .unwrap(),
    )
    .unwrap()
    .global
    .unwrap();
    assert_eq!(fitted.entities["s1"].arms, alone.arms);
}

#[test]
fn a_missing_column_names_the_file_and_lists_the_columns() {
    let params = FitParams::new(FitAlgorithm::Ucb1, "arm", "revenue")
        .check()
        .unwrap();
    let e = fit_table(&csv(BINARY), &params).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rows.csv: no column \"revenue\" for the reward; the columns are: arm, reward"
    );
    let params = FitParams::new(FitAlgorithm::Linucb, "arm", "reward")
        .features(&["xx"])
        .check()
        .unwrap();
    let e = fit_table(&csv(LINEAR), &params).unwrap_err().to_string();
    assert!(
        e.contains("no column \"xx\" for the feature (did you mean \"x\"?)"),
        "{e}"
    );
}

#[test]
fn non_numeric_and_non_finite_cells_name_their_line_or_row() {
    let params = FitParams::new(FitAlgorithm::ThompsonGaussian, "arm", "reward")
        .check()
        .unwrap();
    let e = fit_table(&csv("arm,reward\na,1\na,lots\n"), &params).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidRecord { line: 3, field, .. } if field == "reward"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "rows.csv:3: reward: reward must be a number, found \"lots\""
    );
    // Parquet-like frames: rows count from 1; an infinite feature never reaches A.
    let df = df!(
        "arm" => ["a", "a", "b"],
        "x" => [1.0, f64::INFINITY, 0.0],
        "reward" => [1.0, 0.0, 1.0]
    )
    .unwrap();
    let params = FitParams::new(FitAlgorithm::Lints, "arm", "reward")
        .features(&["x"])
        .check()
        .unwrap();
    let e = fit_table(&Table::from_frame(df, "rows.parquet"), &params).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rows.parquet:2: x: feature inf is not a finite number"
    );
    let params = FitParams::new(FitAlgorithm::ThompsonBernoulli, "arm", "reward")
        .check()
        .unwrap();
    let e = fit_table(&csv("arm,reward\na,1\na,0.5\n"), &params).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("rows.csv:3: reward: thompson_bernoulli needs rewards of 0 or 1"),
        "{e}"
    );
}

#[test]
fn parameters_that_do_not_apply_or_are_out_of_range_are_refused() {
    let mut p = FitParams::new(FitAlgorithm::Linucb, "arm", "reward").features(&["x"]);
    p.v = Some(1.0);
    let e = p.check().unwrap_err().to_string();
    assert_eq!(e, "invalid parameter v: applies to lints, not linucb");
    let e = FitParams::new(FitAlgorithm::Lints, "arm", "reward")
        .check()
        .unwrap_err()
        .to_string();
    assert!(e.contains("lints needs feature columns"), "{e}");
    let mut p = FitParams::new(FitAlgorithm::EpsilonGreedy, "arm", "reward");
    p.epsilon = Some(1.5);
    assert!(p.check().is_err());
    let mut p = FitParams::new(FitAlgorithm::Lints, "arm", "reward").features(&["x"]);
    p.lambda = Some(0.0);
    assert!(p.check().is_err());
}

#[test]
fn an_ill_conditioned_design_is_refused_with_the_arm_and_what_to_do() {
    // One huge feature, one always zero, a tiny ridge and no intercept:
    // A = diag(1e14 + 1e-6, 1e-6), condition number about 1e20.
    let params = {
        let mut p = FitParams::new(FitAlgorithm::Linucb, "arm", "reward").features(&["x", "z"]);
        p.lambda = Some(1e-6);
        p.intercept = false;
        p.check().unwrap()
    };
    let e = fit_table(&csv("arm,x,z,reward\na,1e7,0,1\n"), &params)
        .unwrap_err()
        .to_string();
    assert!(e.contains("arm \"a\": condition number of A"), "{e}");
    assert!(e.contains("raise --lambda"), "{e}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The command, as a person runs it.
#[cfg(feature = "cli")]
mod command {
    use std::process::Command;

    use serde_json::Value;

    use super::*;

    fn bin() -> Command {
        Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
    }

    #[test]
    fn fit_command_writes_the_model_and_prints_rows_and_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let rows = write(dir.path(), "rows.csv", LINEAR);
        let out = dir.path().join("model.json");
        let run = bin()
            .args(["fit", "--rewards"])
            .arg(&rows)
            .args(["--algorithm", "lints", "--arm", "arm", "--reward", "reward"])
            .args(["--features", "x", "--v", "0.5", "--json", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let printed: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(printed["rows"], 4);
        assert!(printed["seconds"].as_f64().unwrap() >= 0.0);
        let model: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(printed["model"], model);
        assert_eq!(model["algorithm"], "lints");
        assert_eq!(model["arms"], serde_json::json!(["a", "b"]));
        assert_eq!(model["features"], serde_json::json!(["intercept", "x"]));
        assert_eq!(model["params"]["v"], 0.5);
        let arm = &model["model"]["linear"][0];
        assert_eq!(arm["theta"].as_array().unwrap().len(), 2);
        assert_eq!(arm["cholesky"][1].as_array().unwrap().len(), 2);
        assert_eq!(model["model"]["arms"][0]["n"], 3);
    }

    #[test]
    fn fit_command_is_deterministic_per_entity_and_explains_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("shop,arm,reward\n");
        for i in 0..300 {
            text.push_str(&format!(
                "s{},{},{}\n",
                i % 7,
                ["a", "b", "c"][i % 3],
                i % 2
            ));
        }
        let rows = write(dir.path(), "rows.csv", &text);
        let run = |threads: &str, out: &str| {
            let o = bin()
                .env("RAYON_NUM_THREADS", threads)
                .args(["fit", "--rewards"])
                .arg(&rows)
                .args(["--algorithm", "thompson_gaussian", "--arm", "arm"])
                .args([
                    "--reward", "reward", "--entity", "shop", "--seed", "7", "--out",
                ])
                .arg(dir.path().join(out))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let summary = String::from_utf8(o.stdout).unwrap();
            assert!(summary.contains("7 entities"), "{summary}");
            std::fs::read(dir.path().join(out)).unwrap()
        };
        assert_eq!(run("1", "one.json"), run("2", "two.json"));
        let help = bin().args(["fit", "--help"]).output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        for word in [
            "thompson_bernoulli",
            "epsilon_greedy",
            "--prior-alpha",
            "--entity",
            "Cholesky",
            "condition number",
        ] {
            assert!(help.contains(word), "{word} missing from fit --help");
        }
        let bad = bin()
            .args(["fit", "--rewards"])
            .arg(&rows)
            .args([
                "--algorithm",
                "ucb1",
                "--arm",
                "arm",
                "--reward",
                "rewards",
                "--out",
            ])
            .arg(dir.path().join("x.json"))
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(1));
        let err = String::from_utf8(bad.stderr).unwrap();
        assert!(err.contains("no column \"rewards\""), "{err}");
        assert!(err.contains("the columns are: shop, arm, reward"), "{err}");
    }
}

#[test]
fn non_finite_event_values_are_quarantined_with_file_line_and_field() {
    // The retrain path: a NaN or infinite track value is refused at ingest, so it never
    // reaches a reward, a sum or a model.
    use bandit_engine::events::{load_events, LoadOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "e.csv",
        "type,unitKey,timestamp,event,value\n\
         track,u1,2026-05-21T10:30:00Z,purchase,NaN\n\
         track,u2,2026-05-21T10:31:00Z,purchase,12.5\n\
         track,u3,2026-05-21T10:32:00Z,purchase,-inf\n",
    );
    let loaded = load_events(&[path], LoadOptions::default()).unwrap();
    assert_eq!(loaded.report.accepted(), 1);
    let got: Vec<(u64, &str)> = loaded
        .rejected
        .iter()
        .map(|r| (r.line, r.field.as_str()))
        .collect();
    assert_eq!(got, vec![(2, "value"), (4, "value")]);
    assert!(loaded.rejected[0].file.ends_with("e.csv"));
}

#[test]
fn an_empty_table_is_an_error_not_an_empty_model() {
    let params = FitParams::new(FitAlgorithm::Ucb1, "arm", "reward")
        .check()
        .unwrap();
    let e = fit_table(&csv("arm,reward\n"), &params).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rows.csv: the table has no data rows: nothing to fit"
    );
}

#[test]
fn fit_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Table>();
    send_sync::<bandit_engine::fit::CheckedFitParams>();
    send_sync::<bandit_engine::fit::FittedTable>();
}
