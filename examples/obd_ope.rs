//! The standard off-policy experiment on the Open Bandit Dataset.
//!
//! Evaluates the Bernoulli Thompson sampling policy that ZOZOTOWN ran (its production
//! prior, `datasets/obd/prior_bts_all.json`) off-policy on the uniformly random log
//! `datasets/obd/random/all`, and compares each estimator with the policy's on-policy
//! value, the mean click rate of the `datasets/obd/bts/all` log.
//!
//! ```sh
//! cargo run --release --example obd_ope            # a table
//! cargo run --release --example obd_ope -- --json  # one JSON object
//! ```
//!
//! Options: `--data DIR` (default `datasets/obd`), `--seed N` (default 12345),
//! `--n-sim N` Monte Carlo rounds (default 100000), `--resamples N` bootstrap
//! resamples (default 1000), `--crosscheck-out FILE` also writes the inputs of
//! `scripts/obp_crosscheck.py` (the action distribution, the reward model fitted on
//! all rows and its estimates).

use std::process::ExitCode;

use bandit_engine::progress::NoProgress;
use bandit_engine::replay::experiment::obd_without_cross_fitting;
use bandit_engine::replay::{run_obd_experiment, ObdExperiment};
use serde_json::{json, Map, Value};

struct Args {
    json: bool,
    data: String,
    seed: u64,
    n_sim: u32,
    resamples: u32,
    crosscheck_out: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        json: false,
        data: "datasets/obd".into(),
        seed: 12345,
        n_sim: 100_000,
        resamples: 1000,
        crosscheck_out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let num = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name} {v:?} is not a non-negative integer"))
        };
        match flag.as_str() {
            "--json" => a.json = true,
            "--data" => a.data = value("--data")?,
            "--seed" => a.seed = num("--seed", value("--seed")?)?,
            "--n-sim" => a.n_sim = num("--n-sim", value("--n-sim")?)? as u32,
            "--resamples" => a.resamples = num("--resamples", value("--resamples")?)? as u32,
            "--crosscheck-out" => a.crosscheck_out = Some(value("--crosscheck-out")?),
            "-h" | "--help" => {
                println!("obd_ope [--json] [--data DIR] [--seed N] [--n-sim N] [--resamples N] [--crosscheck-out FILE]\nThe standard Open Bandit Dataset off-policy experiment; see docs/ope.md.");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let mut exp = ObdExperiment::standard(&args.data);
    exp.seed = args.seed;
    exp.n_sim = args.n_sim;
    exp.ope.bootstrap.n_resamples = args.resamples;
    let out = run_obd_experiment(&exp, &NoProgress)?;

    if let Some(path) = &args.crosscheck_out {
        let (model, report) = obd_without_cross_fitting(&exp, &out.action_dist, &NoProgress)?;
        let k = out.action_dist.n_actions();
        let l = out.action_dist.len_list();
        let dist: Vec<Vec<f64>> = (0..k)
            .map(|a| (0..l).map(|s| out.action_dist.prob(0, a, s)).collect())
            .collect();
        let mut no_cf = Map::new();
        for e in &report.estimates {
            no_cf.insert(e.estimator.as_str().into(), json!(e.estimate));
        }
        let coefficients: Vec<Vec<f64>> = (0..l).map(|s| model.coefficients(s).to_vec()).collect();
        let doc = json!({
            "seed": exp.seed,
            "nSim": exp.n_sim,
            "actionDist": dist,
            "noCrossFitting": no_cf,
            "coefficients": coefficients,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")?;
    }

    if args.json {
        let mut obj = Map::new();
        for e in &out.report.estimates {
            obj.insert(
                e.estimator.as_str().into(),
                json!({
                    "estimate": e.estimate,
                    "ciLow": e.ci_low,
                    "ciHigh": e.ci_high,
                    "relativeError": e.estimate.map(|v| out.relative_error(v)),
                }),
            );
        }
        // Exactly the estimators and onPolicyBts; diagnostics are in the table and in
        // `bandit-engine evaluate --json`.
        obj.insert("onPolicyBts".into(), json!(out.on_policy_bts));
        println!("{}", serde_json::to_string_pretty(&Value::Object(obj))?);
    } else {
        println!(
            "Open Bandit Dataset, campaign all: Bernoulli TS (production prior, {} Monte Carlo rounds)\nevaluated off-policy on the random log ({} rows), seed {}, {} bootstrap resamples\non-policy value (bts log mean click rate): {:.6}\n",
            exp.n_sim, out.report.n, exp.seed, exp.ope.bootstrap.n_resamples, out.on_policy_bts
        );
        print!("{}", out.report.table(Some(("bts", out.on_policy_bts))));
    }
    Ok(())
}
