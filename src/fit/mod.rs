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

use polars::prelude::Float64Chunked;
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
    fit_table(&Table::read_columns(path, Some(&params.columns()))?, params)
}

/// The columns of a table a fit reads, checked cell by cell.
struct Columns {
    arm_names: Vec<String>,
    arms: Vec<u32>,
    rewards: Vec<f64>,
    /// The feature columns as they lie in the table (linear algorithms only).
    features: Option<Vec<Float64Chunked>>,
    /// Whether the linear models have an intercept (a constant 1 before the features).
    intercept: bool,
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
        // Without entities the kernel checks every value as it reads it (and on a
        // bad one the columns are checked again to name the cell): one pass fewer.
        let mut x = table.number_columns_as(&p.features, "feature", p.entity.is_some())?;
        if p.entity.is_some() {
            // Each entity gathers its rows: one chunk per column makes that an index.
            x.par_iter_mut().for_each(|c| *c = c.rechunk().into_owned());
        }
        let mut names: Vec<String> = Vec::new();
        if p.intercept {
            names.push("intercept".into());
        }
        names.extend(p.features.iter().cloned());
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
        intercept: p.intercept,
        feature_names,
        entities,
    })
}

/// Rows per chunk of the multi-armed sums: fixed, so the sums do not depend on the
/// thread count.
const CHUNK_ROWS: usize = 65_536;

/// Rows a model is fitted on: the whole table, or one entity's rows.
#[derive(Clone, Copy)]
enum Rows<'a> {
    All(usize),
    Some(&'a [usize]),
}

impl Rows<'_> {
    fn len(self) -> usize {
        match self {
            Rows::All(n) => n,
            Rows::Some(rows) => rows.len(),
        }
    }

    /// `values` of these rows: borrowed for the whole table, else gathered.
    fn of<T: Copy>(self, values: &[T]) -> Cow<'_, [T]> {
        match self {
            Rows::All(_) => Cow::Borrowed(values),
            Rows::Some(rows) => rows.iter().map(|&i| values[i]).collect(),
        }
    }
}

fn arm_stats(k: usize, arms: &[u32], rewards: &[f64]) -> Vec<ArmStats> {
    let chunks: Vec<Vec<ArmStats>> = arms
        .par_chunks(CHUNK_ROWS)
        .zip(rewards.par_chunks(CHUNK_ROWS))
        .map(|(arms, rewards)| {
            let mut s = vec![ArmStats::default(); k];
            for (&arm, &r) in arms.iter().zip(rewards) {
                let a = &mut s[arm as usize];
                a.n += 1;
                a.sum += r;
                a.sum_sq += r * r;
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
    let fit_rows = |label: &str, rows: Rows<'_>| -> Result<FittedModel> {
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
            let fitted = fit_rows("", Rows::All(table.height())).or_else(|e| {
                // A non-finite feature found by the kernel: the error names its cell.
                if cols.features.is_some() {
                    table.number_columns(&p.features, "feature")?;
                }
                Err(e)
            })?;
            (Some(fitted), BTreeMap::new())
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
                .map(|(e, rows)| Ok((e.clone(), fit_rows(e, Rows::Some(rows))?)))
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
    rows: Rows<'_>,
) -> Result<FittedModel> {
    let (p, learner) = (&params.params, &params.learner);
    let k = cols.arm_names.len();
    if let Some(x) = &cols.features {
        return fit_linear(&learner.params, cols, x, rows);
    }
    let stats = arm_stats(k, &rows.of(&cols.arms), &rows.of(&cols.rewards));
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
    x: &[Float64Chunked],
    rows: Rows<'_>,
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
    let (arms, rewards) = (rows.of(&cols.arms), rows.of(&cols.rewards));
    // Each feature column as the chunks it is stored in; an entity's rows gathered
    // (the columns were made one chunk each for that).
    let gathered: Vec<Vec<f64>> = match rows {
        Rows::All(_) => Vec::new(),
        Rows::Some(rows) => x
            .iter()
            .map(|c| {
                let v = c
                    .cont_slice()
                    .expect("entity fits read single-chunk columns");
                rows.iter().map(|&i| v[i]).collect()
            })
            .collect(),
    };
    let columns: Vec<Vec<&[f64]>> = match rows {
        Rows::All(_) => x
            .iter()
            .map(|c| c.downcast_iter().map(|a| a.values().as_slice()).collect())
            .collect(),
        Rows::Some(_) => gathered.iter().map(|v| vec![v.as_slice()]).collect(),
    };
    let stats =
        LinearStats::from_columns(k, cols.intercept, &columns, &arms, &rewards).map_err(linear)?;
    let fitted = fit_linear_arms(params, &stats).map_err(linear)?;
    let summary = arm_stats(k, &arms, &rewards);
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

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;

    #[test]
    fn a_non_finite_feature_is_named_by_its_column_then_row_as_the_table_checks_it() {
        // The kernel meets y's infinity (row 2) first; the error is still the first
        // bad cell of the first bad column in --features order, x's NaN at row 5.
        let nan = f64::NAN;
        let df = df!(
            "arm" => ["a", "b", "a", "b", "a"],
            "reward" => [1.0, 0.0, 1.0, 0.5, 0.0],
            "x" => [0.5, 1.0, 2.0, 3.0, nan],
            "y" => [1.0, f64::INFINITY, 0.0, 1.0, 2.0]
        )
        .unwrap();
        let table = Table::from_frame(df, "t.parquet");
        for entity in [None, Some("arm")] {
            let mut p = FitParams::new(FitAlgorithm::Linucb, "arm", "reward").features(&["x", "y"]);
            p.entity = entity.map(str::to_owned);
            let e = fit_table(&table, &p.check().unwrap())
                .unwrap_err()
                .to_string();
            assert_eq!(e, "t.parquet:5: x: feature NaN is not a finite number");
        }
    }
}
