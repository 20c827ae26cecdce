//! The researcher's entry point: fit one bandit algorithm to a table of rows
//! (arm, reward, optional features, optional entity), as `bandit-engine fit` does.
//!
//! The fit goes through the same library code as a retrain — the parameters as
//! [`crate::algorithm::AlgorithmParams`] checked into a [`crate::policy::Learner`],
//! then [`fit_multi_armed`] for the multi-armed algorithms, [`LinearStats`] and
//! [`fit_linear_arms`] for the linear ones — so a model fitted here is the model the
//! engine would fit from the same statistics. With an entity column, one model per entity, fitted in
//! parallel (rayon) over the entities, all with the arms of the whole table.
//!
//! ```
//! use bandit_engine::fit::{fit_table, FitAlgorithm, FitParams, Table};
//!
//! let table = Table::from_csv_reader("arm,reward\na,1\na,0\nb,1\nb,1\n".as_bytes(), "t.csv")?;
//! let params = FitParams::new(FitAlgorithm::ThompsonBernoulli, "arm", "reward").check()?;
//! let fitted = fit_table(&table, &params)?;
//! let model = fitted.global.as_ref().expect("no entity column");
//! assert_eq!(model.arms[1].name, "b");
//! assert!(model.arms[1].weight.unwrap() > model.arms[0].weight.unwrap());
//! # Ok::<(), bandit_engine::Error>(())
//! ```

mod model;
mod params;
mod table;

use std::borrow::Cow;
use std::collections::BTreeMap;

use ndarray::Array2;
use rayon::prelude::*;

pub use crate::error::FitError;
pub use model::{ArmModel, FittedModel, FittedTable, LinearArmModel, Posterior};
pub use params::{CheckedFitParams, FitAlgorithm, FitParams};
pub use table::{Coded, Table};

use crate::algorithm::AlgorithmParams;
use crate::error::{Error, Result};
use crate::policy::linear::LinearError;
use crate::policy::{
    fit_linear_arms, fit_multi_armed, CheckedParams, LinearStats, ThompsonBernoulliParams,
    ThompsonGaussianParams, Ucb1Params,
};
use crate::reward::ArmStats;

/// Reads `path` and fits it; see [`fit_table`].
///
/// # Errors
///
/// As [`Table::read`] and [`fit_table`].
pub fn fit_file(
    path: impl AsRef<std::path::Path>,
    params: &CheckedFitParams,
) -> Result<FittedTable> {
    fit_table(&Table::read(path)?, params)
}

/// The columns of a table a fit reads, checked cell by cell.
struct Columns {
    arm_names: Vec<String>,
    arms: Vec<u32>,
    rewards: Vec<f64>,
    features: Option<Array2<f64>>,
    feature_names: Vec<String>,
    /// The entity column coded, if any.
    entities: Option<Coded>,
}

fn columns(table: &Table, p: &FitParams) -> Result<Columns> {
    if table.height() == 0 {
        return Err(Error::InvalidTable {
            file: table.file().to_owned(),
            reason: "the table has no data rows: nothing to fit".into(),
        });
    }
    let arms = table.codes(&p.arm, "arm")?;
    let rewards = table.numbers(&p.reward, "reward")?;
    if p.algorithm == FitAlgorithm::ThompsonBernoulli {
        if let Some(i) = rewards.iter().position(|&r| r != 0.0 && r != 1.0) {
            return Err(Error::InvalidRecord {
                file: table.file().to_owned(),
                line: table.place(i),
                field: p.reward.clone(),
                reason: format!(
                    "thompson_bernoulli needs rewards of 0 or 1, found {}: use thompson_gaussian for other rewards",
                    rewards[i]
                ),
            });
        }
    }
    let (features, feature_names) = if p.algorithm.is_linear() {
        let x = table.matrix(&p.features, p.intercept, "feature")?;
        let mut names: Vec<String> = Vec::new();
        if p.intercept {
            names.push("intercept".into());
        }
        names.extend(p.features.iter().cloned());
        let x = Array2::from_shape_vec((table.height(), names.len()), x)
            .expect("the matrix has a row per table row and a column per feature");
        (Some(x), names)
    } else {
        (None, Vec::new())
    };
    let entities = p
        .entity
        .as_deref()
        .map(|e| table.codes(e, "entity"))
        .transpose()?;
    let Coded {
        names: arm_names,
        codes: arms,
    } = arms;
    Ok(Columns {
        arm_names,
        arms,
        rewards,
        features,
        feature_names,
        entities,
    })
}

/// Rows per chunk of the multi-armed sums: fixed, so the sums do not depend on the
/// thread count.
const CHUNK_ROWS: usize = 65_536;

fn arm_stats(k: usize, rows: &[usize], arms: &[u32], rewards: &[f64]) -> Vec<ArmStats> {
    let chunks: Vec<Vec<ArmStats>> = rows
        .par_chunks(CHUNK_ROWS)
        .map(|chunk| {
            let mut s = vec![ArmStats::default(); k];
            for &i in chunk {
                let a = &mut s[arms[i] as usize];
                a.n += 1;
                a.sum += rewards[i];
                a.sum_sq += rewards[i] * rewards[i];
            }
            s
        })
        .collect();
    chunks
        .into_iter()
        .fold(vec![ArmStats::default(); k], |acc, c| {
            acc.into_iter().zip(c).map(|(a, b)| a.merge(b)).collect()
        })
}

/// Fits `table` with `params`: one model, or one per entity (in parallel, entities
/// sorted by name). Deterministic: the same table, parameters and seed give the same
/// model on any number of threads.
///
/// # Errors
///
/// [`Error::InvalidTable`] for a missing column (naming the file and listing its
/// columns), [`Error::InvalidRecord`] for an empty, non-numeric or non-finite cell
/// (naming its line or row), [`Error::Fit`] if a linear model cannot be
/// fitted (an `A` that is not positive definite or too ill-conditioned, naming the
/// entity and arm).
pub fn fit_table(table: &Table, params: &CheckedFitParams) -> Result<FittedTable> {
    let p = &params.params;
    let cols = columns(table, p)?;
    let fit_rows = |label: &str, rows: &[usize]| -> Result<FittedModel> {
        fit_group(params, &cols, label, rows).map_err(|e| match e {
            Error::Fit(FitError::Linear {
                entity: None,
                reason,
            }) if !label.is_empty() => Error::Fit(FitError::Linear {
                entity: Some(label.to_owned()),
                reason,
            }),
            other => other,
        })
    };
    let (global, entities) = match &cols.entities {
        None => {
            let all: Vec<usize> = (0..table.height()).collect();
            (Some(fit_rows("", &all)?), BTreeMap::new())
        }
        Some(ents) => {
            // Entities in sorted order (the codes' order), each with its rows.
            let mut groups: Vec<Vec<usize>> = vec![Vec::new(); ents.names.len()];
            for (i, &c) in ents.codes.iter().enumerate() {
                groups[c as usize].push(i);
            }
            let fitted = ents
                .names
                .par_iter()
                .zip(&groups)
                .map(|(e, rows)| Ok((e.clone(), fit_rows(e, rows)?)))
                .collect::<Result<Vec<_>>>()?;
            (None, fitted.into_iter().collect())
        }
    };
    Ok(FittedTable {
        algorithm: p.algorithm,
        source: table.file().to_owned(),
        rows: table.height() as u64,
        arms: cols.arm_names.clone(),
        features: cols.feature_names.clone(),
        params: p.clone(),
        global,
        entities,
    })
}

fn fit_group(
    params: &CheckedFitParams,
    cols: &Columns,
    label: &str,
    rows: &[usize],
) -> Result<FittedModel> {
    let (p, learner) = (&params.params, &params.learner);
    let k = cols.arm_names.len();
    if let Some(x) = &cols.features {
        return fit_linear(&learner.params, cols, x, rows);
    }
    let stats = arm_stats(k, rows, &cols.arms, &cols.rewards);
    let stream = if label.is_empty() {
        "fit".to_owned()
    } else {
        format!("fit:{label}")
    };
    let fit = fit_multi_armed(learner, &stats, &stream, p.seed)?;
    let posteriors: Vec<Option<Posterior>> = match *learner.params.params() {
        AlgorithmParams::ThompsonBernoulli {
            prior_alpha,
            prior_beta,
            ..
        } => ThompsonBernoulliParams::default()
            .prior(prior_alpha, prior_beta)
            .check()?
            .posteriors(&stats)?
            .into_iter()
            .map(|(alpha, beta)| Some(Posterior::Beta { alpha, beta }))
            .collect(),
        AlgorithmParams::ThompsonGaussian {
            prior_alpha,
            prior_beta,
            ..
        } => ThompsonGaussianParams {
            prior_alpha,
            prior_beta,
            ..ThompsonGaussianParams::default()
        }
        .check()?
        .posteriors(&stats)?
        .into_iter()
        .map(|q| {
            Some(Posterior::NormalInverseGamma {
                mean: q.mean,
                kappa: q.kappa,
                alpha: q.alpha,
                beta: q.beta,
            })
        })
        .collect(),
        _ => vec![None; k],
    };
    let ucb: Vec<Option<f64>> = match *learner.params.params() {
        AlgorithmParams::Ucb1 { exploration } => Ucb1Params::default()
            .exploration(exploration)
            .check()?
            .indices(&stats)?
            .into_iter()
            .map(Some)
            .collect(),
        _ => vec![None; k],
    };
    let arms = (0..k)
        .map(|a| ArmModel {
            name: cols.arm_names[a].clone(),
            n: stats[a].n,
            sum: stats[a].sum,
            sum_sq: stats[a].sum_sq,
            mean: stats[a].mean(),
            posterior: posteriors[a],
            ucb: ucb[a],
            probability_best: fit.probability_best.as_ref().map(|pb| pb[a]),
            weight: Some(fit.weights[a]),
        })
        .collect();
    Ok(FittedModel {
        rows: rows.len() as u64,
        arms,
        linear: Vec::new(),
    })
}

fn fit_linear(
    params: &CheckedParams,
    cols: &Columns,
    x: &Array2<f64>,
    rows: &[usize],
) -> Result<FittedModel> {
    let k = cols.arm_names.len();
    let linear = |e: LinearError| {
        Error::Fit(FitError::Linear {
        entity: None,
        reason: match e {
            LinearError::Linalg { arm, source } => {
                format!("arm \"{}\": {source}", cols.arm_names[arm])
            }
            LinearError::IllConditioned { arm, estimate, limit } => format!(
                "arm \"{}\": condition number of A is at least {estimate:.3e}, above {limit:.0e}: rescale the features or raise --lambda",
                cols.arm_names[arm]
            ),
            other => other.to_string(),
        },
    })
    };
    let sub;
    let (xv, arms, rewards): (_, Cow<'_, [u32]>, Cow<'_, [f64]>) = if rows.len() == x.nrows() {
        // The whole table: its columns as they are.
        (
            x.view(),
            Cow::Borrowed(&cols.arms),
            Cow::Borrowed(&cols.rewards),
        )
    } else {
        sub = x.select(ndarray::Axis(0), rows);
        (
            sub.view(),
            rows.iter().map(|&i| cols.arms[i]).collect(),
            rows.iter().map(|&i| cols.rewards[i]).collect(),
        )
    };
    let stats = LinearStats::from_rows(k, xv, &arms, &rewards).map_err(linear)?;
    let fitted = fit_linear_arms(params, &stats).map_err(linear)?;
    let summary = arm_stats(k, rows, &cols.arms, &cols.rewards);
    let arms_out = (0..k)
        .map(|a| ArmModel {
            name: cols.arm_names[a].clone(),
            n: summary[a].n,
            sum: summary[a].sum,
            sum_sq: summary[a].sum_sq,
            mean: summary[a].mean(),
            posterior: None,
            ucb: None,
            probability_best: None,
            weight: None,
        })
        .collect();
    let linear_out = fitted
        .iter()
        .map(|arm| LinearArmModel {
            theta: arm.theta().to_vec(),
            cholesky: arm
                .cholesky()
                .rows()
                .into_iter()
                .enumerate()
                .map(|(i, r)| r.iter().take(i + 1).copied().collect())
                .collect(),
        })
        .collect();
    Ok(FittedModel {
        rows: rows.len() as u64,
        arms: arms_out,
        linear: linear_out,
    })
}
