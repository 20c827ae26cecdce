//! One call from a log and an evaluation policy to estimates with intervals and
//! diagnostics.

use serde::{Deserialize, Serialize};

use super::bootstrap::{bootstrap, BootstrapParams, Interval};
use super::estimators::{OpeInputs, WeightDiagnostics};
use super::logged::LoggedBandit;
use super::policies::ActionDist;
use super::reward_model::{RewardModelParams, RewardPredictions};
use crate::error::{EvaluationError, Result};
use crate::progress::Progress;

/// Settings of an off-policy evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpeParams {
    /// Bootstrap resamples, level and seed (the seed also drives the replay draws).
    pub bootstrap: BootstrapParams,
    /// The reward model of DM, DR and SNDR; `None` skips them.
    pub reward_model: Option<RewardModelParams>,
    /// How many of the largest importance weights to report. Default 5.
    pub top_weights: usize,
}

impl Default for OpeParams {
    fn default() -> Self {
        Self {
            bootstrap: BootstrapParams::default(),
            reward_model: Some(RewardModelParams::default()),
            top_weights: 5,
        }
    }
}

/// What an off-policy evaluation found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpeReport {
    /// Rows of the log.
    pub n: usize,
    /// Mean reward of the log: the logging policy's on-policy value.
    pub logged_value: f64,
    /// Significance level of the intervals (`1 − alpha` coverage).
    pub alpha: f64,
    /// One entry per estimator, in report order.
    pub estimates: Vec<Interval>,
    /// Importance-weight diagnostics.
    pub diagnostics: WeightDiagnostics,
}

/// Fits the reward model (if asked, cross-fitted), builds the per-row terms and
/// bootstraps every estimator.
///
/// # Errors
///
/// Those of [`super::reward_model::RewardModel::fit_predict`], [`OpeInputs::new`] and
/// [`bootstrap`].
pub fn evaluate(
    data: &LoggedBandit,
    dist: &ActionDist,
    params: &OpeParams,
    progress: &dyn Progress,
) -> Result<OpeReport> {
    let q = match &params.reward_model {
        Some(p) => Some(p.clone().check()?.fit_predict(data)?),
        None => None,
    };
    evaluate_with(data, dist, q.as_ref(), params, progress)
}

/// As [`evaluate`], with reward predictions computed elsewhere (or none).
///
/// # Errors
///
/// Those of [`OpeInputs::new`] and [`bootstrap`].
pub fn evaluate_with(
    data: &LoggedBandit,
    dist: &ActionDist,
    q: Option<&RewardPredictions>,
    params: &OpeParams,
    progress: &dyn Progress,
) -> Result<OpeReport> {
    let inputs = OpeInputs::new(data, dist, q, params.bootstrap.seed)?;
    let estimates = bootstrap(&inputs, &inputs.estimators(), &params.bootstrap, progress)?;
    let diagnostics = inputs.diagnostics(params.top_weights.max(1));
    if let Some(e) = estimates
        .iter()
        .find(|e| e.estimate.is_some_and(|v| !v.is_finite()))
    {
        let top = diagnostics.largest_weights.first();
        return Err(EvaluationError::NonFinite {
            estimator: e.estimator.as_str(),
            value: e.estimate.unwrap_or(f64::NAN),
            row: top.map_or(0, |w| w.row),
            weight: top.map_or(f64::NAN, |w| w.weight),
        }
        .into());
    }
    let mut diagnostics = diagnostics;
    diagnostics.largest_weights.truncate(params.top_weights);
    Ok(OpeReport {
        n: data.len(),
        logged_value: data.mean_reward(),
        alpha: params.bootstrap.alpha,
        estimates,
        diagnostics,
    })
}

impl OpeReport {
    /// A plain-text table: estimator, estimate, interval, and the diagnostics; with
    /// `reference`, the relative error `|estimate − reference| / reference` too.
    #[must_use]
    pub fn table(&self, reference: Option<(&str, f64)>) -> String {
        use std::fmt::Write;
        let f = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |v| format!("{v:.6}"));
        let level = 100.0 * (1.0 - self.alpha);
        let mut s = String::new();
        let _ = write!(
            s,
            "{:<9} {:>10} {:>23}",
            "estimator",
            "estimate",
            format!("{level:.0}% interval")
        );
        if let Some((name, _)) = reference {
            let _ = write!(s, "  {:>12}", format!("rel. error vs {name}"));
        }
        s.push('\n');
        for e in &self.estimates {
            let _ = write!(
                s,
                "{:<9} {:>10} {:>23}",
                e.estimator.as_str(),
                f(e.estimate),
                format!("[{}, {}]", f(e.ci_low), f(e.ci_high))
            );
            if let (Some((_, v)), Some(est)) = (reference, e.estimate) {
                let _ = write!(s, "  {:>12.4}", (est - v).abs() / v);
            }
            s.push('\n');
        }
        let d = &self.diagnostics;
        let _ = writeln!(
            s,
            "\nrows {}, logged mean reward {:.6}, mean weight {:.4}, effective sample size {:.1}, replay matches {}",
            self.n, self.logged_value, d.mean_weight, d.effective_sample_size, d.replay_matches
        );
        let top: Vec<String> = d
            .largest_weights
            .iter()
            .map(|w| format!("row {}: {:.3}", w.row, w.weight))
            .collect();
        let _ = writeln!(s, "largest weights: {}", top.join(", "));
        s
    }
}
