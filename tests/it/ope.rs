//! Off-policy evaluation: the Open Bandit Dataset reader, the estimators' unbiasedness
//! and interval coverage on synthetic data with a known truth, and determinism of the
//! standard OBD experiment.

use std::path::PathBuf;

use approx::assert_abs_diff_eq;
use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use bandit_engine::progress::NoProgress;
use bandit_engine::replay::bootstrap::bootstrap;
use bandit_engine::replay::obd::{read_beta_prior, read_obd};
use bandit_engine::replay::policies::{fixed, uniform};
use bandit_engine::replay::{
    evaluate, run_obd_experiment, BootstrapParams, Estimator, EvaluationError, LoggedBandit,
    LoggedBanditParts, ObdExperiment, OpeInputs, OpeParams, RewardPredictions,
};

fn obd(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/obd")
        .join(rel)
}

#[test]
fn obd_reader_builds_the_pipelines_features() {
    let log = read_obd(obd("random/all")).unwrap();
    let d = &log.data;
    assert_eq!(d.len(), 10_000);
    assert_eq!(d.n_actions(), 80);
    assert_eq!(d.len_list(), 3);
    // One-hot of 4 user features with 3, 5, 8, 8 levels, first dropped: 2+4+7+7 = 20.
    assert_eq!(d.context().ncols(), 20);
    assert_eq!(d.context_names()[0].len(), "user_feature_0_".len() + 32);
    assert!(d.context().rows().into_iter().all(|r| r.sum() <= 4.0));
    // 38 clicks (dataset README), propensity exactly 1/80 in the random log.
    assert_eq!(d.reward().iter().sum::<f64>(), 38.0);
    assert!(d.pscore().iter().all(|&p| p == 0.0125));
    assert!(d.position().iter().all(|&p| p < 3));
    let ac = d.action_context().unwrap();
    assert_eq!(ac.dim(), (80, 4));
    // Label codes are 0..levels-1: 12, 21, 7 distinct values (dataset README).
    for (k, levels) in [(0, 12.0), (1, 21.0), (2, 7.0)] {
        assert_eq!(ac.column(k).fold(0.0f64, |m, &v| m.max(v)), levels - 1.0);
    }
    let bts = read_obd(obd("bts/all")).unwrap();
    assert_abs_diff_eq!(bts.data.mean_reward(), 0.0042, epsilon = 1e-15);
    // Timestamps ascend.
    assert!(log.timestamps.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn obd_reader_reads_the_men_and_women_campaigns() {
    // Sizes and clicks from the data set's README (datasets/obd/README.md).
    for (dir, actions, clicks) in [
        ("random/men", 34, 46.0),
        ("random/women", 46, 46.0),
        ("bts/men", 34, 69.0),
        ("bts/women", 46, 46.0),
    ] {
        let d = read_obd(obd(dir)).unwrap().data;
        assert_eq!(
            (d.len(), d.n_actions(), d.len_list()),
            (10_000, actions, 3),
            "{dir}"
        );
        assert_eq!(d.reward().iter().sum::<f64>(), clicks, "{dir}");
        assert_eq!(d.action_context().unwrap().dim(), (actions, 4), "{dir}");
    }
}

#[test]
fn obd_reader_names_a_missing_directory_and_a_bad_cell() {
    let err = read_obd(obd("random/nowhere")).unwrap_err().to_string();
    assert!(err.contains("nowhere/item_context.csv"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let camp = dir.path().join("all");
    std::fs::create_dir(&camp).unwrap();
    std::fs::write(
        camp.join("item_context.csv"),
        ",item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3\n0,0,0.5,a,b,c\n1,1,0.1,a,b,d\n",
    )
    .unwrap();
    std::fs::write(
        camp.join("all.csv"),
        ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user_feature_2,user_feature_3\n\
         0,2019-11-24 00:00:01+00:00,0,1,0,0.5,u,v,w,x\n\
         1,2019-11-24 00:00:02+00:00,1,2,yes,0.5,u,v,w,x\n",
    )
    .unwrap();
    let err = read_obd(&camp).unwrap_err().to_string();
    assert!(err.contains("all.csv:3: click"), "{err}");
    let prior = read_beta_prior(obd("prior_bts_all.json")).unwrap();
    assert_eq!((prior.0.len(), prior.1.len()), (80, 80));
}

/// A small contextual world with known truth: context x ∈ {0, 1} equally likely,
/// 3 actions, click probability `P[x][a]`, a logging policy that depends on x.
const P: [[f64; 3]; 2] = [[0.1, 0.3, 0.6], [0.5, 0.2, 0.1]];
const LOGGING: [[f64; 3]; 2] = [[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]];
const TARGET: [f64; 3] = [0.1, 0.2, 0.7];

fn true_value() -> f64 {
    (0..2)
        .map(|x| 0.5 * (0..3).map(|a| TARGET[a] * P[x][a]).sum::<f64>())
        .sum()
}

fn synthetic_log(n: usize, seed: u64) -> LoggedBandit {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut parts = LoggedBanditParts {
        n_actions: 3,
        len_list: 1,
        context: Array2::zeros((n, 1)),
        ..Default::default()
    };
    for i in 0..n {
        let x = usize::from(rng.random::<f64>() < 0.5);
        let u: f64 = rng.random();
        let a = if u < LOGGING[x][0] {
            0
        } else if u < LOGGING[x][0] + LOGGING[x][1] {
            1
        } else {
            2
        };
        parts.context[[i, 0]] = x as f64;
        parts.action.push(a as u32);
        parts.position.push(0);
        parts.pscore.push(LOGGING[x][a]);
        parts
            .reward
            .push(f64::from(u8::from(rng.random::<f64>() < P[x][a])));
    }
    LoggedBandit::new(parts).unwrap()
}

#[test]
fn ipw_and_dr_centre_on_the_truth_and_their_intervals_cover_it() {
    // 300 independent logs of 400 rows; DR uses a deliberately wrong constant reward
    // model (0.3 everywhere), so only its importance-weighted correction makes it
    // unbiased. Checks: the mean estimate is within 3.5 standard errors of the truth,
    // and the 95% percentile intervals cover the truth in 89% to 99% of the logs
    // (binomial sd of the coverage over 300 logs ≈ 1.3%).
    let truth = true_value();
    let dist = fixed(&TARGET, 1).unwrap();
    let runs = 300;
    let n = 400;
    let mut est = [Vec::new(), Vec::new()];
    let mut covered = [0, 0];
    for seed in 0..runs {
        let data = synthetic_log(n, seed);
        let q = RewardPredictions::new(3, vec![0.3; 3 * n]).unwrap();
        let inputs = OpeInputs::new(&data, &dist, Some(&q), seed).unwrap();
        let params = BootstrapParams {
            n_resamples: 200,
            alpha: 0.05,
            seed,
        };
        let out = bootstrap(
            &inputs,
            &[Estimator::Ipw, Estimator::Dr],
            &params,
            &NoProgress,
        )
        .unwrap();
        for (k, iv) in out.iter().enumerate() {
            est[k].push(iv.estimate.unwrap());
            if iv.ci_low.unwrap() <= truth && truth <= iv.ci_high.unwrap() {
                covered[k] += 1;
            }
        }
    }
    for k in 0..2 {
        let m = est[k].iter().sum::<f64>() / runs as f64;
        let var = est[k].iter().map(|v| (v - m).powi(2)).sum::<f64>() / (runs - 1) as f64;
        let se = (var / runs as f64).sqrt();
        assert!(
            (m - truth).abs() < 3.5 * se,
            "estimator {k}: mean {m} vs truth {truth}, se {se}"
        );
        let coverage = f64::from(covered[k]) / runs as f64;
        assert!(
            (0.89..=0.99).contains(&coverage),
            "estimator {k}: coverage {coverage}"
        );
    }
}

#[test]
fn evaluating_the_logging_policy_on_a_uniform_log_returns_its_mean() {
    // π_e = π_b = uniform: every weight is 1, so IPW = SNIPW = the mean reward, and
    // the replay method keeps every row.
    let mut parts = LoggedBanditParts {
        n_actions: 2,
        len_list: 1,
        context: Array2::zeros((4, 0)),
        ..Default::default()
    };
    parts.action = vec![0, 1, 1, 0];
    parts.position = vec![0; 4];
    parts.reward = vec![1.0, 0.0, 1.0, 1.0];
    parts.pscore = vec![0.5; 4];
    let data = LoggedBandit::new(parts).unwrap();
    let dist = uniform(2, 1).unwrap();
    let params = OpeParams {
        reward_model: None,
        ..OpeParams::default()
    };
    let report = evaluate(&data, &dist, &params, &NoProgress).unwrap();
    let get = |e: Estimator| {
        report
            .estimates
            .iter()
            .find(|i| i.estimator == e)
            .unwrap()
            .estimate
            .unwrap()
    };
    assert_eq!(get(Estimator::Ipw), 0.75);
    assert_eq!(get(Estimator::Snipw), 0.75);
    assert_eq!(
        report.estimates.len(),
        3,
        "no reward model: replay, ipw, snipw"
    );
    assert_abs_diff_eq!(
        report.diagnostics.effective_sample_size,
        4.0,
        epsilon = 1e-12
    );
}

#[test]
fn tiny_propensities_are_refused_or_reported_never_a_nan_estimate() {
    let parts = |pscore: f64| {
        let mut parts = LoggedBanditParts {
            n_actions: 2,
            len_list: 1,
            context: Array2::zeros((40, 0)),
            ..Default::default()
        };
        parts.action = (0..40).map(|i| i % 2).collect();
        parts.position = vec![0; 40];
        parts.reward = vec![1.0; 40];
        parts.pscore = vec![pscore; 40];
        parts
    };
    // Subnormal: 1/p is infinite; refused with the row and field.
    let e = LoggedBandit::new(parts(1e-310)).unwrap_err().to_string();
    assert!(e.contains("pscore") && e.contains("row 0"), "{e}");
    // Normal but so small that the weights' sums overflow: an error naming the row of
    // the largest weight, not NaN with success.
    let data = LoggedBandit::new(parts(3e-308)).unwrap();
    let params = OpeParams {
        reward_model: None,
        ..OpeParams::default()
    };
    let e = evaluate(&data, &uniform(2, 1).unwrap(), &params, &NoProgress).unwrap_err();
    assert!(
        matches!(
            e,
            bandit_engine::Error::Evaluation(EvaluationError::NonFinite { .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("importance weights overflow"), "{e}");
}

fn small_experiment() -> ObdExperiment {
    let mut exp = ObdExperiment::standard(obd(""));
    exp.n_sim = 8192;
    exp.ope.bootstrap.n_resamples = 200;
    exp
}

#[test]
fn obd_experiment_is_the_same_across_runs_and_thread_counts() {
    let exp = small_experiment();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_obd_experiment(&exp, &NoProgress).unwrap())
    };
    let one = run(1);
    let two = run(2);
    let again = run(2);
    assert_eq!(one.report, two.report);
    assert_eq!(two.report, again.report);
    assert_eq!(one.action_dist, two.action_dist);
    assert_eq!(one.report.estimates.len(), 6);
    assert_abs_diff_eq!(one.on_policy_bts, 0.0042, epsilon = 1e-15);
    for e in &one.report.estimates {
        let (v, lo, hi) = (e.estimate.unwrap(), e.ci_low.unwrap(), e.ci_high.unwrap());
        // Replay keeps ~1/80 of the rows (about 125), where clicks are rare: it may be 0.
        let positive = e.estimator == Estimator::Replay || v > 0.0;
        assert!(lo <= v.max(lo) && lo <= hi && positive && v < 0.05, "{e:?}");
    }
    // The random log's propensities are 1/80, so the mean weight is 80 · mean π_e of
    // the logged (action, slot) pairs; close to 1 for any policy on uniform data.
    assert!((one.report.diagnostics.mean_weight - 1.0).abs() < 0.2);
}

#[test]
fn estimates_match_obp_on_the_same_inputs() {
    // docs/obp_crosscheck.json was written by scripts/obp_crosscheck.py (obp 0.5.7,
    // scikit-learn 1.1.3) from our action distribution (docs/obd_ours.json) and a
    // logistic reward model (C = 100) fitted on all rows of random/all. Our estimates
    // for the same inputs must agree: IPW and SNIPW to rounding, the model-based ones
    // to the solver tolerance of scikit-learn's lbfgs (our Newton optimum has the
    // lower objective, see the file's "objectives").
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(p)).unwrap()).unwrap()
    };
    let ours = read("docs/obd_ours.json");
    let obp = read("docs/obp_crosscheck.json");
    let probs: Vec<f64> = ours["actionDist"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
        .collect();
    let dist = bandit_engine::replay::ActionDist::shared(80, 3, probs).unwrap();
    let exp = ObdExperiment::standard(obd(""));
    let (_, report) =
        bandit_engine::replay::experiment::obd_without_cross_fitting(&exp, &dist, &NoProgress)
            .unwrap();
    for e in &report.estimates {
        let name = e.estimator.as_str();
        let theirs = obp["sameInputs"][name]["obp"].as_f64().unwrap();
        let tol = if e.estimator.needs_model() {
            1e-7
        } else {
            1e-15
        };
        if e.estimator == Estimator::Replay {
            continue; // obp's replay needs π_e = 1 exactly; see docs/ope.md.
        }
        assert_abs_diff_eq!(e.estimate.unwrap(), theirs, epsilon = tol);
    }
}

#[test]
fn evaluate_command_prints_json_and_refuses_mismatched_weights() {
    let exe = env!("CARGO_BIN_EXE_bandit-engine");
    let dir = obd("random/all");
    // The uniform policy on the uniform log: every weight is (1/80)/(1/80) = 1, so
    // IPW and SNIPW are the mean click rate, 38/10000.
    let out = std::process::Command::new(exe)
        .args(["evaluate", "--obd"])
        .arg(&dir)
        .args([
            "--policy",
            "uniform",
            "--reward-model",
            "none",
            "--resamples",
            "50",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_abs_diff_eq!(
        v["estimates"]["ipw"]["estimate"].as_f64().unwrap(),
        0.0038,
        epsilon = 1e-15
    );
    assert_abs_diff_eq!(
        v["estimates"]["snipw"]["estimate"].as_f64().unwrap(),
        0.0038,
        epsilon = 1e-15
    );
    assert!(v["estimates"].get("dr").is_none());
    assert_eq!(
        v["diagnostics"]["effectiveSampleSize"]
            .as_f64()
            .unwrap()
            .round(),
        10_000.0
    );
    let out = std::process::Command::new(exe)
        .args(["evaluate", "--obd"])
        .arg(&dir)
        .args(["--policy", "fixed", "--weights", "1,2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--weights has 2 values but the log has 80 actions"),
        "{err}"
    );
}

#[test]
fn the_logging_bundle_evaluated_on_its_own_events_returns_the_mean_reward() {
    // The demo's events were logged under datasets/demo/bundle.json, so evaluating that
    // bundle's policy gives every row weight 1: IPW = SNIPW = the mean reward. With
    // the logged probabilities removed, the same propensities come back from the
    // bundle named by each exposure's configVersion.
    use bandit_engine::attribution::decision_rewards;
    use bandit_engine::bundle::BundleDocument;
    use bandit_engine::config::ProjectConfig;
    use bandit_engine::events::{load_events, LoadOptions};
    use bandit_engine::replay::events::{bucket_policy, policy_log};
    use bandit_engine::sdk::HashContract;
    use polars::prelude::{lit, DataType, NULL};

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let config = ProjectConfig::from_path(root.join(".traffical/config.yaml")).unwrap();
    let doc = BundleDocument::from_path(root.join("bundle.json")).unwrap();
    let bundle = doc.bundle().clone();
    let loaded = load_events(&[root.join("events.ndjson")], LoadOptions::default()).unwrap();
    let tables = loaded.tables.lazy();
    let id = "policy_checkout_cta";
    let goal = &config.optimization[id].goal;
    let rewards = decision_rewards(&loaded.tables, goal).unwrap();
    let policy = bucket_policy(&bundle, id).unwrap();
    assert_eq!(policy.allocations, ["control", "buy_now", "urgency"]);
    assert_abs_diff_eq!(policy.coverage, 0.9, epsilon = 1e-12);
    let sha = HashContract::Sha256V2;
    let log = policy_log(
        rewards.clone(),
        tables.exposures.clone(),
        &bundle,
        id,
        &[],
        sha,
    )
    .unwrap();
    assert_eq!(log.recovered_propensities, 0);
    assert_eq!(log.not_served, 0);
    assert!(log.logged_propensities > 1000);
    for (a, b) in log.mean_shares().iter().zip(&policy.probs) {
        assert_abs_diff_eq!(a, b, epsilon = 1e-12);
    }
    let sums = OpeInputs::new(&log.data, &log.dist, None, 0)
        .unwrap()
        .sums();
    let mean = log.data.mean_reward();
    assert_abs_diff_eq!(
        Estimator::Ipw.from_sums(&sums).unwrap(),
        mean,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        Estimator::Snipw.from_sums(&sums).unwrap(),
        mean,
        epsilon = 1e-12
    );

    let stripped = rewards.with_column(lit(NULL).cast(DataType::Float64).alias("probability"));
    let err = policy_log(
        stripped.clone(),
        tables.exposures.clone(),
        &bundle,
        id,
        &[],
        sha,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("pass the bundle that was live"), "{err}");
    let recovered = policy_log(
        stripped,
        tables.exposures.clone(),
        &bundle,
        id,
        std::slice::from_ref(&bundle),
        sha,
    )
    .unwrap();
    assert_eq!(recovered.recovered_propensities, log.logged_propensities);
    for (a, b) in recovered.data.pscore().iter().zip(log.data.pscore()) {
        assert_abs_diff_eq!(a, b, epsilon = 1e-12);
    }
}

#[test]
fn evaluate_command_on_events_scores_a_bundle_policy() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
        .arg("evaluate")
        .arg("--events")
        .arg(root.join("events.ndjson"))
        .arg("--config")
        .arg(root.join(".traffical/config.yaml"))
        .args(["--policy-id", "policy_checkout_cta", "--bundle"])
        .arg(root.join("bundle.json"))
        .args(["--resamples", "50", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The bundle that logged the events: weights 1, IPW = the logged mean.
    assert_abs_diff_eq!(
        v["estimates"]["ipw"]["estimate"].as_f64().unwrap(),
        v["loggedValue"].as_f64().unwrap(),
        epsilon = 1e-12
    );
    assert_eq!(v["recoveredPropensities"], 0);
    assert_eq!(v["allocations"][2], "urgency");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// The OBD reader never panics: log and item files made of CSV punctuation, numbers
    /// out of range, hashes and blanks give a log or an error.
    #[test]
    fn the_obd_reader_never_panics(
        log in proptest::collection::vec(
            proptest::sample::select(vec![
                ",", "\n", "\"", "0", "1", "2", "3", "-1", "0.5", "1.5", "nan", "", "a", "b",
                "2019-11-24 00:00:01+00:00", "4294967296",
            ]),
            0..80,
        ),
        items in proptest::collection::vec(
            proptest::sample::select(vec![",", "\n", "0", "1", "7", "-0.3", "x", "y", "\""]),
            0..30,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let camp = dir.path().join("all");
        std::fs::create_dir(&camp).unwrap();
        std::fs::write(
            camp.join("item_context.csv"),
            format!(",item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3\n{}", items.concat()),
        )
        .unwrap();
        std::fs::write(
            camp.join("all.csv"),
            format!(
                ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user_feature_2,user_feature_3\n{}",
                log.concat()
            ),
        )
        .unwrap();
        let _ = read_obd(&camp);
    }
}

#[test]
fn public_ope_types_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<LoggedBandit>();
    send_sync::<bandit_engine::replay::ActionDist>();
    send_sync::<bandit_engine::replay::RewardModel>();
    send_sync::<bandit_engine::replay::FittedRewardModel>();
    send_sync::<RewardPredictions>();
    send_sync::<OpeInputs>();
    send_sync::<bandit_engine::replay::OpeReport>();
    send_sync::<bandit_engine::replay::BernoulliTs>();
    send_sync::<bandit_engine::replay::events::BucketPolicy>();
}

/// A contextual policy's log: contexts drawn at random, each resolved by the logging
/// bundle as an SDK would (chosen allocation and its probability), and a reward that
/// favours `treatment_a` on mobile. Returns the reward table and exposures frames.
fn contextual_log(
    logging: &bandit_engine::sdk::Bundle,
    n: usize,
) -> (polars::prelude::LazyFrame, polars::prelude::LazyFrame) {
    use bandit_engine::sdk::resolve::ResolveOptions;
    use bandit_engine::sdk::{HashContract, Resolver};
    use polars::prelude::*;

    let resolver = Resolver::new(logging, HashContract::Sha256V2).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let devices = ["mobile", "desktop", "tablet"];
    let (mut alloc, mut decision, mut prob, mut reward) = (vec![], vec![], vec![], vec![]);
    let (mut context, mut unit) = (vec![], vec![]);
    for i in 0..n {
        let device = devices[rng.random_range(0..3)];
        let score: f64 = rng.random_range(0.0..3.0);
        let user = format!("u{i}");
        // The logged context carries only the allowed fields: the unit key comes
        // from the exposure's unit_key column.
        let logged = serde_json::json!({"engagement_score": score, "device_type": device});
        let mut ctx = logged.as_object().unwrap().clone();
        ctx.insert("userId".into(), user.clone().into());
        let d = resolver
            .distribution(0, &ctx, &ResolveOptions::default())
            .unwrap()
            .unwrap();
        let a = d.chosen.unwrap();
        let name = &logging.layers[0].policies[0].allocations[a].name;
        let p_click = if name == "treatment_a" && device == "mobile" {
            0.6
        } else {
            0.2
        };
        alloc.push(name.clone());
        decision.push(format!("d{i:05}"));
        prob.push(d.probabilities[a]);
        reward.push(f64::from(u8::from(rng.random_bool(p_click))));
        context.push(logged.to_string());
        unit.push(user);
    }
    let policy = vec!["policy_contextual"; n];
    let rewards = df!(
        "policy_id" => policy.clone(),
        "allocation_name" => alloc,
        "decision_id" => decision.clone(),
        "probability" => prob,
        "reward" => reward,
    )
    .unwrap();
    let none: Vec<Option<&str>> = vec![None; n];
    let exposures = df!(
        "policy_id" => policy,
        "decision_id" => decision,
        "config_version" => vec![logging.version.as_str(); n],
        "context" => context,
        "unit_key" => unit,
        "layer_unit_key" => none.clone(),
        "layer_unit_key_value" => none,
    )
    .unwrap();
    (rewards.lazy(), exposures.lazy())
}

#[test]
fn own_log_of_a_contextual_policy_is_evaluated_per_context() {
    use bandit_engine::replay::events::policy_log;
    use bandit_engine::sdk::resolve::{DistributionKind, ResolveOptions};
    use bandit_engine::sdk::{Bundle, HashContract, Resolver};
    use polars::prelude::{lit, DataType, NULL};

    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sdk-sha256/bundle_contextual.json");
    let logging: Bundle = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let (rewards, exposures) = contextual_log(&logging, 3000);
    let sha = HashContract::Sha256V2;
    let id = "policy_contextual";

    // The logging policy evaluated on its own log: every weight is 1.
    let log = policy_log(rewards.clone(), exposures.clone(), &logging, id, &[], sha).unwrap();
    assert_eq!(log.kind, DistributionKind::Contextual);
    assert_eq!((log.data.len(), log.not_served), (3000, 0));
    let sums = OpeInputs::new(&log.data, &log.dist, None, 0)
        .unwrap()
        .sums();
    assert_abs_diff_eq!(
        Estimator::Ipw.from_sums(&sums).unwrap(),
        log.data.mean_reward(),
        epsilon = 1e-12
    );
    // The reward model sees the allowed fields, encoded as the linear policies do.
    let names = log.data.context_names();
    assert!(names.iter().any(|n| n == "engagement_score"), "{names:?}");
    assert!(names.iter().any(|n| n == "device_type=mobile"), "{names:?}");

    // A candidate that favours treatment_a on mobile: IPW is Σ π_e(a_i|x_i)/p_i r_i / n
    // with π_e from the resolver on each row's context.
    let mut candidate = logging.clone();
    let model = candidate.layers[0].policies[0]
        .contextual_model
        .as_mut()
        .unwrap();
    model["coefficients"]["treatment_a"]["categorical"][0]["values"]["mobile"] = 3.0.into();
    let log_c = policy_log(rewards.clone(), exposures.clone(), &candidate, id, &[], sha).unwrap();
    let resolver = Resolver::new(&candidate, sha).unwrap();
    let ex = exposures.clone().collect().unwrap();
    let (ctx_col, unit_col) = (
        ex.column("context").unwrap().str().unwrap().clone(),
        ex.column("unit_key").unwrap().str().unwrap().clone(),
    );
    let mut expected = 0.0;
    for i in 0..log_c.data.len() {
        let mut ctx: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(ctx_col.get(i).unwrap()).unwrap();
        ctx.insert("userId".into(), unit_col.get(i).unwrap().into());
        let d = resolver
            .distribution(0, &ctx, &ResolveOptions::default())
            .unwrap()
            .unwrap();
        let a = log_c.data.action()[i] as usize;
        assert_abs_diff_eq!(
            log_c.dist.prob(i, a, 0),
            d.probabilities[a],
            epsilon = 1e-12
        );
        expected += d.probabilities[a] / log_c.data.pscore()[i] * log_c.data.reward()[i];
    }
    expected /= log_c.data.len() as f64;
    let sums = OpeInputs::new(&log_c.data, &log_c.dist, None, 0)
        .unwrap()
        .sums();
    assert_abs_diff_eq!(
        Estimator::Ipw.from_sums(&sums).unwrap(),
        expected,
        epsilon = 1e-12
    );
    assert!(
        expected > log.data.mean_reward(),
        "the candidate serves the better arm more"
    );

    // Missing probabilities are recovered from the live bundle through the resolver.
    let stripped = rewards
        .clone()
        .with_column(lit(NULL).cast(DataType::Float64).alias("probability"));
    let recovered = policy_log(
        stripped,
        exposures.clone(),
        &candidate,
        id,
        std::slice::from_ref(&logging),
        sha,
    )
    .unwrap();
    assert_eq!(recovered.recovered_propensities, 3000);
    for (a, b) in recovered.data.pscore().iter().zip(log.data.pscore()) {
        assert_abs_diff_eq!(a, b, epsilon = 1e-12);
    }

    // Decisions the candidate would not serve (desktop excluded) are left out, counted.
    let mut narrowed = logging.clone();
    narrowed.layers[0].policies[0].conditions = serde_json::from_value(serde_json::json!([
        {"field": "device_type", "op": "neq", "value": "desktop"}
    ]))
    .unwrap();
    let log_n = policy_log(rewards, exposures.clone(), &narrowed, id, &[], sha).unwrap();
    let desktop = (0..ctx_col.len())
        .filter(|&i| ctx_col.get(i).unwrap().contains("desktop"))
        .count();
    assert!(desktop > 500);
    assert_eq!(log_n.not_served, desktop);
    assert_eq!(log_n.data.len(), 3000 - desktop);
}
