//! The standard off-policy experiment on the Open Bandit Dataset (Saito et al. 2021,
//! §5): evaluate the Bernoulli Thompson sampling policy that produced the `bts` logs,
//! off-policy, on the uniformly random log of the same campaign, and compare every
//! estimate with that policy's on-policy value (the `bts` log's mean click rate).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::evaluate::{evaluate_with, OpeParams, OpeReport};
use super::obd::{read_beta_prior, read_obd};
use super::policies::{ActionDist, BernoulliTs};
use super::reward_model::{FittedRewardModel, RewardPredictions};
use crate::error::Result;
use crate::progress::Progress;

/// Where the data is and how to run the experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObdExperiment {
    /// The uniformly random log (a campaign directory, e.g. `datasets/obd/random/all`).
    pub random_log: PathBuf,
    /// The Thompson sampling log of the same campaign (`datasets/obd/bts/all`).
    pub bts_log: PathBuf,
    /// The Thompson sampling prior (`datasets/obd/prior_bts_all.json`).
    pub prior: PathBuf,
    /// Monte Carlo rounds for the policy's action distribution. Default 100 000.
    pub n_sim: u32,
    /// Master seed of the Monte Carlo, the folds, the replay draws and the bootstrap.
    pub seed: u64,
    /// Estimation settings. The seeds inside are overridden by `seed`.
    pub ope: OpeParams,
}

impl ObdExperiment {
    /// The experiment on the campaign `all` copy under `root` (`datasets/obd`), with
    /// seed 12345 (obp's examples' seed) and default settings.
    #[must_use]
    pub fn standard(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref();
        Self {
            random_log: root.join("random/all"),
            bts_log: root.join("bts/all"),
            prior: root.join("prior_bts_all.json"),
            n_sim: 100_000,
            seed: 12345,
            ope: OpeParams::default(),
        }
    }
}

/// What the experiment produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ObdOutcome {
    /// Estimates, intervals and diagnostics on the random log.
    pub report: OpeReport,
    /// The on-policy value: mean click rate of the Thompson sampling log.
    pub on_policy_bts: f64,
    /// The evaluation policy's Monte Carlo action distribution.
    pub action_dist: ActionDist,
    /// The cross-fitted reward predictions used (if a reward model was asked for).
    pub predictions: Option<RewardPredictions>,
}

impl ObdOutcome {
    /// `|estimate − on-policy| / on-policy` of an estimate.
    #[must_use]
    pub fn relative_error(&self, estimate: f64) -> f64 {
        (estimate - self.on_policy_bts).abs() / self.on_policy_bts
    }
}

/// Runs the experiment.
///
/// # Errors
///
/// Reading errors of [`read_obd`] and [`read_beta_prior`], and those of the
/// estimation stages.
pub fn run_obd_experiment(exp: &ObdExperiment, progress: &dyn Progress) -> Result<ObdOutcome> {
    let random = read_obd(&exp.random_log)?;
    let bts = read_obd(&exp.bts_log)?;
    let (alpha, beta) = read_beta_prior(&exp.prior)?;
    let dist = BernoulliTs::new(alpha, beta, random.data.len_list())
        .n_sim(exp.n_sim)
        .seed(exp.seed)
        .action_dist(progress)?;
    let mut ope = exp.ope.clone();
    ope.bootstrap.seed = exp.seed;
    let predictions = match &mut ope.reward_model {
        Some(p) => {
            p.seed = exp.seed;
            Some(p.clone().check()?.fit_predict(&random.data)?)
        }
        None => None,
    };
    let report = evaluate_with(&random.data, &dist, predictions.as_ref(), &ope, progress)?;
    Ok(ObdOutcome {
        report,
        on_policy_bts: bts.data.mean_reward(),
        action_dist: dist,
        predictions,
    })
}

/// A reward model fitted on all rows of the experiment's random log (no
/// cross-fitting), and the estimates it gives: the inputs of the cross-check against
/// obp, which can then use the same model and the same action distribution.
///
/// # Errors
///
/// As [`run_obd_experiment`].
pub fn obd_without_cross_fitting(
    exp: &ObdExperiment,
    dist: &ActionDist,
    progress: &dyn Progress,
) -> Result<(FittedRewardModel, OpeReport)> {
    let random = read_obd(&exp.random_log)?;
    let params = exp
        .ope
        .reward_model
        .clone()
        .unwrap_or_default()
        .n_folds(1)
        .check()?;
    let model = params.fit(&random.data)?;
    let q = params.fit_predict(&random.data)?;
    let mut ope = exp.ope.clone();
    ope.bootstrap.seed = exp.seed;
    let report = evaluate_with(&random.data, dist, Some(&q), &ope, progress)?;
    Ok((model, report))
}
