//! `fit` and the fitted model: the library's `fit::fit_table` on a frame, and the
//! scoring a caller of MABWiser expects (`predict`, `predict_expectations`).

use bandit_engine::fit::{fit_table, FitAlgorithm, FitParams, FittedModel, FittedTable, Table};
use bandit_engine::polars::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use crate::arrow::{import_frame, ArrowFrame};
use crate::errors::{bad_parameter, run, to_py, value_error};

/// The name a frame goes by in errors (rows count from 1).
const FRAME: &str = "<frame>";

/// The keyword parameters `fit` takes, with their `FitParams` field.
fn apply_params(p: &mut FitParams, params: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    let Some(params) = params else { return Ok(()) };
    for (k, v) in params.iter() {
        let key: String = k.extract()?;
        let float = || -> PyResult<Option<f64>> { Ok(Some(v.extract::<f64>()?)) };
        match key.as_str() {
            "alpha" => p.alpha = float()?,
            "lambda_" | "l2_lambda" | "lam" => p.lambda = float()?,
            "v" => p.v = float()?,
            "epsilon" => p.epsilon = float()?,
            "prior_alpha" => p.prior_alpha = float()?,
            "prior_beta" => p.prior_beta = float()?,
            "intercept" => p.intercept = v.extract()?,
            "seed" => p.seed = v.extract()?,
            "draws" => {
                let d: i64 = v.extract()?;
                p.draws = u32::try_from(d)
                    .ok()
                    .filter(|&d| d > 0)
                    .ok_or_else(|| bad_parameter("draws", "at least 1", d))?;
            }
            other => {
                return Err(value_error(format!(
                    "unknown parameter {other:?}; fit takes alpha, lambda_ (or l2_lambda), v, epsilon, prior_alpha, prior_beta, intercept, draws, seed"
                )))
            }
        }
    }
    Ok(())
}

/// A fitted model: what `bandit-engine fit` writes to `model.json`, plus scoring.
#[pyclass(module = "bandit_engine._native")]
pub struct Model {
    fitted: FittedTable,
    /// The frames fitted so far (polars frames share the Arrow buffers: no copy), so a
    /// `partial_fit` refits exactly what a single fit on all rows would.
    seen: DataFrame,
}

fn fit_frame(df: DataFrame, params: &FitParams) -> bandit_engine::Result<FittedTable> {
    let checked = params.clone().check()?;
    fit_table(&Table::from_frame(df, FRAME), &checked)
}

/// `fit(frame, algorithm, arm, reward, features, entity, **params)`.
#[pyfunction]
#[pyo3(signature = (frame, algorithm, arm="arm", reward="reward", features=None, entity=None, **params))]
#[allow(clippy::too_many_arguments)]
pub fn fit(
    py: Python<'_>,
    frame: &Bound<'_, PyAny>,
    algorithm: &str,
    arm: &str,
    reward: &str,
    features: Option<Vec<String>>,
    entity: Option<String>,
    params: Option<&Bound<'_, PyDict>>,
) -> PyResult<Model> {
    let algorithm: FitAlgorithm = algorithm.parse().map_err(value_error)?;
    let mut p = FitParams::new(algorithm, arm, reward);
    p.features = features.unwrap_or_default();
    p.entity = entity;
    apply_params(&mut p, params)?;
    let df = import_frame(frame)?;
    let fitted = run(py, || fit_frame(df.clone(), &p))?;
    Ok(Model { fitted, seen: df })
}

impl Model {
    fn group(&self, entity: Option<&str>) -> PyResult<&FittedModel> {
        match (entity, &self.fitted.global) {
            (None, Some(m)) => Ok(m),
            (Some(e), _) => self
                .fitted
                .entities
                .get(e)
                .ok_or_else(|| value_error(format!("no model for entity {e:?}"))),
            (None, None) => Err(value_error(
                "the model has one model per entity: give a frame with the entity column",
            )),
        }
    }

    /// Per row, per arm: the score the algorithm ranks arms by.
    fn scores(
        &self,
        py: Python<'_>,
        frame: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(usize, Vec<f64>)> {
        let k = self.fitted.arms.len();
        let Some(frame) = frame else {
            if self.fitted.algorithm.is_linear() {
                return Err(value_error(
                    "a linear model scores rows: give a frame with the feature columns",
                ));
            }
            return Ok((1, multi_armed_scores(self.group(None)?)));
        };
        let table = Table::from_frame(import_frame(frame)?, FRAME);
        let n = table.height();
        let entity_col = self.fitted.params.entity.clone();
        let entities = match &entity_col {
            Some(col) => Some(table.labels(col, "entity").map_err(to_py)?),
            None => None,
        };
        let groups: Vec<&FittedModel> = (0..n)
            .map(|i| self.group(entities.as_ref().map(|e| e[i].as_str())))
            .collect::<PyResult<_>>()?;
        if !self.fitted.algorithm.is_linear() {
            let mut out = Vec::with_capacity(n * k);
            for g in groups {
                out.extend(multi_armed_scores(g));
            }
            return Ok((n, out));
        }
        let p = &self.fitted.params;
        let features = p.features.clone();
        let x = run(py, || table.matrix(&features, p.intercept, "feature"))?;
        let d = self.fitted.features.len();
        let alpha = match self.fitted.algorithm {
            FitAlgorithm::Linucb => p.alpha.unwrap_or(1.0),
            _ => 0.0,
        };
        let out = py.detach(|| {
            let mut out = vec![0.0; n * k];
            out.par_chunks_mut(k)
                .zip(x.par_chunks(d))
                .zip(groups.par_iter())
                .for_each(|((row, x), g)| linear_scores(g, x, alpha, row));
            out
        });
        Ok((n, out))
    }
}

/// A multi-armed model's ranking: P(best) for Thompson sampling, the UCB1 index, the
/// mean otherwise (ε-greedy exploits the best mean).
fn multi_armed_scores(m: &FittedModel) -> Vec<f64> {
    m.arms
        .iter()
        .map(|a| {
            a.probability_best
                .or(a.ucb)
                .or(a.mean)
                .unwrap_or(f64::NEG_INFINITY)
        })
        .collect()
}

/// θᵀx + α‖L⁻¹x‖ per arm (α = 0: the posterior mean θᵀx), by forward substitution.
fn linear_scores(m: &FittedModel, x: &[f64], alpha: f64, out: &mut [f64]) {
    let d = x.len();
    let mut y = vec![0.0; d];
    for (a, arm) in m.linear.iter().enumerate() {
        let mean: f64 = arm.theta.iter().zip(x).map(|(t, v)| t * v).sum();
        let width = if alpha > 0.0 {
            for i in 0..d {
                let row = &arm.cholesky[i];
                let s: f64 = row[..i].iter().zip(&y[..i]).map(|(l, v)| l * v).sum();
                y[i] = (x[i] - s) / row[i];
            }
            y.iter().map(|v| v * v).sum::<f64>().sqrt()
        } else {
            0.0
        };
        out[a] = mean + alpha * width;
    }
}

fn frame_of_scores(arms: &[String], n: usize, scores: &[f64]) -> PyResult<DataFrame> {
    let k = arms.len();
    let columns = arms
        .iter()
        .enumerate()
        .map(|(a, name)| {
            let col: Vec<f64> = (0..n).map(|i| scores[i * k + a]).collect();
            Column::new(name.as_str().into(), col)
        })
        .collect();
    DataFrame::new(n, columns).map_err(|e| value_error(e.to_string()))
}

#[pymethods]
impl Model {
    /// The arm each row would get (the best-scoring arm; ties to the first in arm order).
    #[pyo3(signature = (frame=None))]
    fn predict(&self, py: Python<'_>, frame: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
        let (n, scores) = self.scores(py, frame)?;
        let k = self.fitted.arms.len();
        Ok((0..n)
            .map(|i| {
                let row = &scores[i * k..(i + 1) * k];
                let best = row
                    .iter()
                    .enumerate()
                    .fold(0, |b, (a, &s)| if s > row[b] { a } else { b });
                self.fitted.arms[best].clone()
            })
            .collect())
    }

    /// Per row, each arm's score: the LinUCB upper bound, the LinTS posterior mean,
    /// P(best) for Thompson sampling, the UCB1 index, or the mean (ε-greedy).
    #[pyo3(signature = (frame=None))]
    fn predict_expectations(
        &self,
        py: Python<'_>,
        frame: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ArrowFrame> {
        let (n, scores) = self.scores(py, frame)?;
        Ok(ArrowFrame::new(frame_of_scores(
            &self.fitted.arms,
            n,
            &scores,
        )?))
    }

    /// Adds `frame`'s rows and refits: the model equals one fitted on all rows at once.
    fn partial_fit(&mut self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<()> {
        let df = import_frame(frame)?;
        let mut all = self.seen.clone();
        all.vstack_mut(&df).map_err(|e| {
            value_error(format!(
                "partial_fit needs the columns of the first fit, with the same types: {e}"
            ))
        })?;
        let params = self.fitted.params.clone();
        self.fitted = run(py, || fit_frame(all.clone(), &params))?;
        self.seen = all;
        Ok(())
    }

    /// The model as `model.json` holds it (camelCase keys), as a JSON string.
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.fitted).map_err(|e| value_error(e.to_string()))
    }

    /// Arm labels, sorted: the order of scores.
    #[getter]
    fn arms(&self) -> Vec<String> {
        self.fitted.arms.clone()
    }

    /// The algorithm's platform name.
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.fitted.algorithm.as_str()
    }

    /// Rows fitted.
    #[getter]
    fn rows(&self) -> u64 {
        self.fitted.rows
    }

    fn __repr__(&self) -> String {
        format!(
            "Model(algorithm={:?}, arms={:?}, rows={})",
            self.fitted.algorithm.as_str(),
            self.fitted.arms,
            self.fitted.rows
        )
    }
}
