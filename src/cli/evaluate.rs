//! `evaluate`: off-policy evaluation of a policy on a logged bandit data set.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

use bandit_engine::progress::Progress;
use bandit_engine::replay::events::PolicyLog;
use bandit_engine::replay::obd::{read_beta_prior, read_obd};
use bandit_engine::replay::policies::{fixed, greedy, uniform};
use bandit_engine::replay::{
    evaluate_with, ActionDist, BernoulliTs, BootstrapParams, LoggedBandit, OpeParams, OpeReport,
    RewardModelKind, RewardModelParams,
};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalPolicyKind {
    /// Every action equally likely at every slot.
    Uniform,
    /// A fixed allocation: --weights, one per action, the same at every slot.
    Fixed,
    /// Bernoulli Thompson sampling with the Beta prior of --prior: each round one draw
    /// per action, the largest shown first. Its distribution per slot is estimated by
    /// --n-sim seeded Monte Carlo rounds.
    Bts,
    /// The ranking by a reward model fitted on the whole log (greedy on predicted
    /// reward, a deterministic policy). In-sample: the policy was chosen on the same
    /// rows that evaluate it, so its estimates are optimistic.
    Greedy,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// L2-regularised logistic regression per slot (0/1 rewards), strength --c.
    Logistic,
    /// Ridge regression per slot, penalty --lambda.
    Ridge,
    /// No reward model: only replay, ipw and snipw.
    None,
}

/// Estimate the value of a policy from a log another policy produced.
///
/// Prints, per estimator (replay, ipw, snipw, dm, dr, sndr), the estimate and a
/// bootstrap percentile interval, then importance-weight diagnostics: mean weight
/// (≈ 1 when propensities are right), effective sample size (Σw)²/Σw², rows kept by
/// the replay method and the largest weights. DM, DR and SNDR use a reward model
/// fitted per slot on the context and action features, cross-fitted over --folds.
/// Same inputs and --seed give the same numbers on any number of threads.
///
/// Two sources of logs:
///   --obd DIR: an Open Bandit Dataset campaign directory;
///   --events FILES --config FILE --policy-id ID: the engine's events; rewards are
///     attributed per decision with the policy's goal, propensities are the
///     exposures' logged probability or, where missing, recovered from the bundle
///     (--live-bundle, repeatable) whose version is the exposure's configVersion.
///     The evaluation policy is that policy in --bundle, resolved per decision
///     from the exposure's logged context as an SDK would (bucket ranges,
///     contextual model or per-entity weights); decisions it would not serve with
///     that policy are left out and counted. The reward model sees the policy's
///     contextLogging.allowedFields and the allocation.
///
/// Example (the standard Open Bandit Dataset experiment):
///   bandit-engine evaluate --obd datasets/obd/random/all --policy bts \
///       --prior datasets/obd/prior_bts_all.json --on-policy datasets/obd/bts/all
/// Example (a candidate bundle on the demo's events):
///   bandit-engine evaluate --events datasets/demo/events.ndjson \
///       --config datasets/demo/.traffical/config.yaml --policy-id policy_checkout_cta \
///       --bundle candidate.json --live-bundle datasets/demo/bundle.json
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct EvaluateArgs {
    /// An Open Bandit Dataset campaign directory (holding CAMPAIGN.csv[.gz] and
    /// item_context.csv[.gz]), e.g. datasets/obd/random/all.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "events",
        conflicts_with = "events"
    )]
    obd: Option<PathBuf>,
    /// Event files (.ndjson, .csv, .parquet) to evaluate on, instead of --obd.
    #[arg(long, value_name = "FILE", num_args = 1.., requires_all = ["config", "policy_id", "bundle"])]
    events: Vec<PathBuf>,
    /// The project's .traffical/config.yaml (for --events: the policy's goal).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The policy to evaluate (for --events).
    #[arg(long, value_name = "ID")]
    policy_id: Option<String>,
    /// The bundle whose policy is evaluated (for --events).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// Bundles that were live when the events were logged, to recover missing
    /// probabilities by configVersion (for --events; repeatable).
    #[arg(long, value_name = "FILE")]
    live_bundle: Vec<PathBuf>,
    /// Hash contract the bundles are resolved with (for --events): sha256-v2
    /// (current SDKs) or fnv1a-v1.
    #[arg(long, value_enum, default_value = "sha256-v2")]
    hash: super::Contract,
    /// The evaluation policy.
    #[arg(long, value_enum, default_value = "bts")]
    policy: EvalPolicyKind,
    /// Beta prior for --policy bts: JSON {"alpha": [...], "beta": [...]}, one per action.
    #[arg(long, value_name = "FILE")]
    prior: Option<PathBuf>,
    /// Weights for --policy fixed, comma-separated, one per action (normalised).
    #[arg(long, value_name = "W,W,..", value_delimiter = ',')]
    weights: Vec<f64>,
    /// Monte Carlo rounds for --policy bts.
    #[arg(long, default_value_t = 100_000)]
    n_sim: u32,
    /// Another campaign directory whose mean reward is the evaluation policy's
    /// on-policy value (e.g. datasets/obd/bts/all); adds a relative-error column.
    #[arg(long, value_name = "DIR")]
    on_policy: Option<PathBuf>,
    /// Reward model of dm, dr and sndr.
    #[arg(long, value_enum, default_value = "logistic")]
    reward_model: ModelKind,
    /// Inverse regularisation strength of the logistic model (scikit-learn's C).
    #[arg(long, default_value_t = 100.0)]
    c: f64,
    /// Penalty of the ridge model.
    #[arg(long, default_value_t = 1.0)]
    lambda: f64,
    /// Cross-fitting folds of the reward model (1 = fit on all rows).
    #[arg(long, default_value_t = 3)]
    folds: usize,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 1000)]
    resamples: u32,
    /// Significance level: intervals cover 1 − alpha.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Master seed (Monte Carlo, folds, replay draws, bootstrap).
    #[arg(long, default_value_t = 12345)]
    seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvaluateArgs, progress: &dyn Progress, quiet: bool) -> Result<()> {
    let Some(obd) = args.obd.clone() else {
        return run_events(&args, progress, quiet);
    };
    let log = read_obd(&obd)?;
    let data: &LoggedBandit = &log.data;
    let model_params = model_params(&args);
    let dist = policy_dist(&args, data, model_params.as_ref(), progress)?;
    let q = match &model_params {
        Some(p) => Some(p.clone().check()?.fit_predict(data)?),
        None => None,
    };
    let params = OpeParams {
        bootstrap: BootstrapParams {
            n_resamples: args.resamples,
            alpha: args.alpha,
            seed: args.seed,
        },
        reward_model: model_params,
        top_weights: 5,
    };
    let report = evaluate_with(data, &dist, q.as_ref(), &params, progress)?;
    let on_policy = match &args.on_policy {
        Some(dir) => Some(read_obd(dir)?.data.mean_reward()),
        None => None,
    };
    print_obd_report(&args, &obd, data, &report, on_policy, quiet)
}

/// The evaluated policy's action distribution over the log, as `--policy` asks.
fn policy_dist(
    args: &EvaluateArgs,
    data: &LoggedBandit,
    model_params: Option<&RewardModelParams>,
    progress: &dyn Progress,
) -> Result<ActionDist> {
    Ok(match args.policy {
        EvalPolicyKind::Uniform => uniform(data.n_actions(), data.len_list())?,
        EvalPolicyKind::Fixed => {
            if args.weights.len() != data.n_actions() {
                bail!(
                "--weights has {} values but the log has {} actions; give one weight per action",
                args.weights.len(),
                data.n_actions()
            );
            }
            fixed(&args.weights, data.len_list())?
        }
        EvalPolicyKind::Bts => {
            let prior = args.prior.as_ref().context(
                "--policy bts needs --prior FILE (e.g. datasets/obd/prior_bts_all.json)",
            )?;
            let (alpha, beta) = read_beta_prior(prior)?;
            if alpha.len() != data.n_actions() {
                bail!(
                    "{}: a prior for {} actions, the log has {}",
                    prior.display(),
                    alpha.len(),
                    data.n_actions()
                );
            }
            BernoulliTs::new(alpha, beta, data.len_list())
                .n_sim(args.n_sim)
                .seed(args.seed)
                .action_dist(progress)?
        }
        EvalPolicyKind::Greedy => {
            let p = model_params
                .cloned()
                .unwrap_or_default()
                .n_folds(1)
                .check()?;
            greedy(&p.fit(data)?, data)?
        }
    })
}

/// The OBD evaluation as JSON, or as a table unless quiet.
fn print_obd_report(
    args: &EvaluateArgs,
    obd: &Path,
    data: &LoggedBandit,
    report: &OpeReport,
    on_policy: Option<f64>,
    quiet: bool,
) -> Result<()> {
    if args.json {
        let mut estimates = Map::new();
        for e in &report.estimates {
            let mut o = json!({"estimate": e.estimate, "ciLow": e.ci_low, "ciHigh": e.ci_high});
            if let (Some(v), Some(est)) = (on_policy, e.estimate) {
                o["relativeError"] = json!((est - v).abs() / v);
            }
            estimates.insert(e.estimator.as_str().into(), o);
        }
        let doc = json!({
            "log": obd.display().to_string(),
            "rows": report.n,
            "loggedValue": report.logged_value,
            "onPolicy": on_policy,
            "alpha": report.alpha,
            "estimates": Value::Object(estimates),
            "diagnostics": report.diagnostics,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if !quiet {
        println!(
            "{}: {} rows, {} actions, {} slots",
            obd.display(),
            report.n,
            data.n_actions(),
            data.len_list()
        );
        if let Some(v) = on_policy {
            println!("on-policy value: {v:.6}");
        }
        println!();
        super::terminal::print(&report.table(on_policy.map(|v| ("on-policy", v))));
    }
    Ok(())
}

/// The reward model the flags ask for, if any.
fn model_params(args: &EvaluateArgs) -> Option<RewardModelParams> {
    match args.reward_model {
        ModelKind::Logistic => Some(RewardModelKind::Logistic { c: args.c }),
        ModelKind::Ridge => Some(RewardModelKind::Ridge {
            lambda: args.lambda,
        }),
        ModelKind::None => None,
    }
    .map(|kind| {
        RewardModelParams::default()
            .kind(kind)
            .n_folds(args.folds)
            .seed(args.seed)
    })
}

/// `evaluate --events`: a bundle's bucket-based policy on the engine's own events.
fn run_events(args: &EvaluateArgs, progress: &dyn Progress, quiet: bool) -> Result<()> {
    use bandit_engine::bundle::BundleDocument;
    use bandit_engine::config::{AttributionMode, ProjectConfig};
    use bandit_engine::enforce::enforce;
    use bandit_engine::engine::{policy_rewards, AttributionOverrides};
    use bandit_engine::events::{load_events_with_progress, LoadOptions};
    use bandit_engine::replay::events::policy_log;

    let (Some(config), Some(id), Some(bundle)) = (&args.config, &args.policy_id, &args.bundle)
    else {
        bail!("--events needs --config, --policy-id and --bundle");
    };
    let config = ProjectConfig::from_path(config)?;
    let spec = config.optimization.get(id).with_context(|| {
        format!(
            "policy {id} has no optimization entry in the config (known: {:?}); its goal defines the reward",
            config.optimization.keys().collect::<Vec<_>>()
        )
    })?;
    let eval = BundleDocument::from_path(bundle)?;
    let live = args
        .live_bundle
        .iter()
        .map(|p| Ok(BundleDocument::from_path(p)?.bundle().clone()))
        .collect::<Result<Vec<_>>>()?;
    let mut loaded = load_events_with_progress(&args.events, LoadOptions::default(), progress)?;
    // The rewards the policy learns from (its goal's values, cap, attribution model,
    // window and skew, schema enforcement), per decision: off-policy estimators weigh
    // each logged decision by its propensity, so the reward unit is the decision
    // whatever mode the policy learns in.
    enforce(&config, &mut loaded)?;
    let per_decision = AttributionOverrides {
        mode: Some(AttributionMode::Decision),
        ..AttributionOverrides::default()
    };
    let rewards = policy_rewards(
        &loaded.tables,
        &spec.goal,
        &per_decision.params(spec)?,
        None,
    )?
    .lazy();
    let tables = loaded.tables.lazy();
    let log = policy_log(
        rewards,
        tables.exposures.clone(),
        eval.bundle(),
        id,
        &live,
        args.hash.into(),
    )?;
    let shares = log.mean_shares();
    let params = OpeParams {
        bootstrap: BootstrapParams {
            n_resamples: args.resamples,
            alpha: args.alpha,
            seed: args.seed,
        },
        reward_model: model_params(args),
        top_weights: 5,
    };
    // The model sees the policy's allowed context fields and the allocation: for a
    // context-free policy DM is its mix of per-allocation means, DR corrects it with
    // the weighted residuals.
    let q = match &params.reward_model {
        Some(p) => Some(p.clone().check()?.fit_predict(&log.data).context(
            "fitting the reward model on the event log (--reward-model none skips dm, dr and sndr)",
        )?),
        None => None,
    };
    let report = evaluate_with(&log.data, &log.dist, q.as_ref(), &params, progress)?;
    print_events_report(args.json, id, &log, &shares, &report, quiet)
}

/// The evaluation on events as JSON, or as a table unless quiet.
fn print_events_report(
    json: bool,
    id: &str,
    log: &PolicyLog,
    shares: &[f64],
    report: &OpeReport,
    quiet: bool,
) -> Result<()> {
    if json {
        let mut estimates = Map::new();
        for e in &report.estimates {
            estimates.insert(
                e.estimator.as_str().into(),
                json!({"estimate": e.estimate, "ciLow": e.ci_low, "ciHigh": e.ci_high}),
            );
        }
        let doc = json!({
            "policyId": id,
            "allocations": log.allocations,
            "evaluatedShares": shares,
            "notServed": log.not_served,
            "rows": report.n,
            "loggedValue": report.logged_value,
            "loggedPropensities": log.logged_propensities,
            "recoveredPropensities": log.recovered_propensities,
            "alpha": report.alpha,
            "estimates": Value::Object(estimates),
            "diagnostics": report.diagnostics,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if !quiet {
        println!(
            "{id}: {} decisions ({} logged propensities, {} recovered from live bundles; {} the evaluated bundle would not serve with this policy, left out)",
            report.n, log.logged_propensities, log.recovered_propensities, log.not_served
        );
        let shares: Vec<String> = log
            .allocations
            .iter()
            .zip(shares)
            .map(|(a, p)| format!("{a} {:.1}%", 100.0 * p))
            .collect();
        println!(
            "evaluated allocation (mean over decisions): {}\n",
            shares.join(", ")
        );
        super::terminal::print(&report.table(None));
    }
    Ok(())
}
