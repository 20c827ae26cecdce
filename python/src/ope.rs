//! `evaluate`: off-policy evaluation (obp's estimators) on the Open Bandit Dataset or on
//! a logged frame, as `bandit-engine evaluate` does.

use std::path::PathBuf;

use bandit_engine::fit::Table;
use bandit_engine::progress::Progress;
use bandit_engine::replay::obd::{read_beta_prior, read_obd};
use bandit_engine::replay::policies::{fixed, greedy, uniform};
use bandit_engine::replay::{
    evaluate_with, ActionDist, BernoulliTs, BootstrapParams, Estimator, LoggedBandit,
    LoggedBanditParts, OpeParams, RewardModelKind, RewardModelParams,
};
use bandit_engine::Result;
use ndarray::Array2;
use pyo3::prelude::*;
use serde_json::{Map, Value};

use crate::arrow::{import_frame, ArrowFrame};
use crate::errors::{run, to_py, value_error};
use crate::progress::Reporter;
use crate::records::frame_of_records;

/// The logged frame's column names.
#[derive(FromPyObject)]
pub struct LogColumns {
    action: String,
    reward: String,
    propensity: String,
    position: Option<String>,
    context: Vec<String>,
    n_actions: Option<usize>,
}

fn logged_from_frame(table: &Table, c: &LogColumns) -> Result<LoggedBandit> {
    let action: Vec<u32> = table
        .numbers(&c.action, "action")?
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            if a >= 0.0 && a.fract() == 0.0 && a < f64::from(u32::MAX) {
                Ok(a as u32)
            } else {
                Err(bandit_engine::Error::InvalidRecord {
                    file: table.file().to_owned(),
                    line: table.place(i),
                    field: c.action.clone(),
                    reason: format!("action {a} is not an action index 0, 1, 2, ..."),
                })
            }
        })
        .collect::<Result<_>>()?;
    let position: Vec<u32> = match &c.position {
        Some(p) => table
            .numbers(p, "position")?
            .into_iter()
            .map(|v| v as u32)
            .collect(),
        None => vec![0; action.len()],
    };
    let n_actions = c
        .n_actions
        .unwrap_or_else(|| action.iter().max().map_or(0, |&m| m as usize + 1));
    let d = c.context.len();
    let context = table.matrix(&c.context, false, "context")?;
    LoggedBandit::new(LoggedBanditParts {
        n_actions,
        len_list: position.iter().max().map_or(1, |&m| m as usize + 1),
        action,
        position,
        reward: table.numbers(&c.reward, "reward")?,
        pscore: table.numbers(&c.propensity, "propensity")?,
        context: Array2::from_shape_vec((table.height(), d), context)
            .expect("a context row per table row"),
        context_names: c.context.clone(),
        action_context: None,
    })
}

/// The evaluated policy's knobs.
#[derive(FromPyObject)]
pub struct PolicySpec {
    kind: String,
    weights: Option<Vec<f64>>,
    prior: Option<PathBuf>,
    prior_alpha: Option<Vec<f64>>,
    prior_beta: Option<Vec<f64>>,
    n_sim: u32,
}

fn policy_dist(
    p: &PolicySpec,
    data: &LoggedBandit,
    model: Option<&RewardModelParams>,
    seed: u64,
    progress: &dyn Progress,
) -> Result<ActionDist> {
    let bad = |reason: String| bandit_engine::Error::InvalidTable {
        file: "policy".into(),
        reason,
    };
    match p.kind.as_str() {
        "uniform" => uniform(data.n_actions(), data.len_list()),
        "fixed" => {
            let w = p
                .weights
                .as_deref()
                .ok_or_else(|| bad("policy 'fixed' needs weights=[...], one per action".into()))?;
            fixed(w, data.len_list())
        }
        "bts" => {
            let (alpha, beta) = match (&p.prior, &p.prior_alpha, &p.prior_beta) {
                (Some(path), _, _) => read_beta_prior(path)?,
                (None, Some(a), Some(b)) => (a.clone(), b.clone()),
                _ => {
                    return Err(bad(
                        "policy 'bts' needs prior=PATH or prior_alpha and prior_beta".into(),
                    ))
                }
            };
            if alpha.len() != data.n_actions() {
                return Err(bad(format!(
                    "a prior for {} actions, the log has {}",
                    alpha.len(),
                    data.n_actions()
                )));
            }
            BernoulliTs::new(alpha, beta, data.len_list())
                .n_sim(p.n_sim)
                .seed(seed)
                .action_dist(progress)
        }
        "greedy" => {
            let m = model.cloned().unwrap_or_default().n_folds(1).check()?;
            greedy(&m.fit(data)?, data)
        }
        other => Err(bad(format!(
            "unknown policy {other:?}: uniform, fixed, bts or greedy"
        ))),
    }
}

/// `evaluate(log, policy, ...)` → one row per estimator: estimate, interval, and the
/// log's size and logged value.
#[pyfunction]
#[pyo3(signature = (log, columns, policy, estimators, reward_model, c, lambda_, folds, n_bootstrap, alpha, seed, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    py: Python<'_>,
    log: &Bound<'_, PyAny>,
    columns: Option<LogColumns>,
    policy: PolicySpec,
    estimators: Option<Vec<String>>,
    reward_model: &str,
    c: f64,
    lambda_: f64,
    folds: usize,
    n_bootstrap: u32,
    alpha: f64,
    seed: u64,
    progress: Option<Py<PyAny>>,
) -> PyResult<ArrowFrame> {
    let reporter = Reporter::new(progress);
    let wanted: Option<Vec<Estimator>> = estimators
        .map(|names| {
            names
                .iter()
                .map(|n| n.parse::<Estimator>())
                .collect::<Result<_>>()
        })
        .transpose()
        .map_err(to_py)?;
    let kind = match reward_model {
        "logistic" => Some(RewardModelKind::Logistic { c }),
        "ridge" => Some(RewardModelKind::Ridge { lambda: lambda_ }),
        "none" => None,
        other => {
            return Err(value_error(format!(
                "unknown reward_model {other:?}: logistic, ridge or none"
            )))
        }
    };
    let model = kind.map(|k| {
        RewardModelParams::default()
            .kind(k)
            .n_folds(folds)
            .seed(seed)
    });
    let data = match log.extract::<PathBuf>() {
        Ok(dir) => run(py, || Ok(read_obd(&dir)?.data))?,
        Err(_) => {
            let cols =
                columns.ok_or_else(|| value_error("a logged frame needs its column names"))?;
            let table = Table::from_frame(import_frame(log)?, "<log>");
            run(py, || logged_from_frame(&table, &cols))?
        }
    };
    let report = run(py, || {
        let dist = policy_dist(&policy, &data, model.as_ref(), seed, reporter.get())?;
        let q = match &model {
            Some(p) => Some(p.clone().check()?.fit_predict(&data)?),
            None => None,
        };
        let params = OpeParams {
            bootstrap: BootstrapParams {
                n_resamples: n_bootstrap,
                alpha,
                seed,
            },
            reward_model: model.clone(),
            top_weights: 5,
        };
        evaluate_with(&data, &dist, q.as_ref(), &params, reporter.get())
    })?;
    let rows: Vec<Map<String, Value>> = report
        .estimates
        .iter()
        .filter(|e| wanted.as_ref().is_none_or(|w| w.contains(&e.estimator)))
        .map(|e| {
            let mut m = Map::new();
            m.insert("estimator".into(), e.estimator.as_str().into());
            m.insert("estimate".into(), e.estimate.into());
            m.insert("ci_low".into(), e.ci_low.into());
            m.insert("ci_high".into(), e.ci_high.into());
            m.insert("defined_resamples".into(), e.defined_resamples.into());
            m.insert("n".into(), (report.n as u64).into());
            m.insert("logged_value".into(), report.logged_value.into());
            m.insert(
                "effective_sample_size".into(),
                report.diagnostics.effective_sample_size.into(),
            );
            m
        })
        .collect();
    Ok(ArrowFrame::new(frame_of_records(&rows)?))
}
