//! Reward models `q̂(x, a, slot) ≈ E[r | x, a, slot]` for the direct and doubly robust
//! estimators.
//!
//! One model per slot (as obp 0.5.7 `RegressionModel` fits one base model per
//! position), on the features `φ(x, a) = [x, f(a)]`: the row's context and the action's
//! features (`f(a)` = one-hot of `a` when the log has no action features), plus an
//! unpenalised intercept.
//!
//! * [`RewardModelKind::Logistic`]: L2-regularised logistic regression, the objective of
//!   scikit-learn's `LogisticRegression(C=c)`: `½‖w‖² + c Σᵢ log(1 + exp(−yᵢ zᵢ))`
//!   (y ∈ {−1, 1}, intercept not penalised), minimised by Newton's method with
//!   backtracking to the exact optimum (scikit-learn's lbfgs stops at a gradient
//!   tolerance, so its coefficients differ in the last digits).
//! * [`RewardModelKind::Ridge`]: least squares with penalty `λ‖w‖²` (intercept not
//!   penalised), for rewards that are not 0/1.
//!
//! Cross-fitting ([`RewardModel::fit_predict`]): rows are shuffled with a seeded
//! ChaCha8 permutation and cut into `n_folds` folds of sizes as scikit-learn's `KFold`
//! cuts them; each fold's predictions come from models fitted on the other folds, so no
//! row's prediction has seen its own reward (Chernozhukov et al., "Double/debiased
//! machine learning", 2018). With `n_folds = 1` the model is fitted once on all rows.

use ndarray::{Array1, Array2, ArrayView1};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::logged::LoggedBandit;
use crate::error::EvaluationError;
use crate::error::{ParameterError, Result};
use crate::linalg;
use crate::policy::seed;

/// The regression behind a reward model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum RewardModelKind {
    /// L2-regularised logistic regression with inverse regularisation strength `c`
    /// (scikit-learn's `C`), for 0/1 rewards.
    Logistic {
        /// Inverse regularisation strength (> 0).
        c: f64,
    },
    /// Ridge regression with penalty `lambda` (≥ 0).
    Ridge {
        /// Penalty on the squared coefficients, intercept excluded.
        lambda: f64,
    },
}

/// Parameters of a reward model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RewardModelParams {
    /// The regression. Default: logistic with `c = 100` (obp's OBD example
    /// hyperparameters for logistic regression).
    pub kind: RewardModelKind,
    /// Folds of cross-fitting (≥ 1; 1 = no cross-fitting). Default 3.
    pub n_folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// Newton iterations at most (logistic). Default 100.
    pub max_iter: u32,
}

impl Default for RewardModelParams {
    fn default() -> Self {
        Self {
            kind: RewardModelKind::Logistic { c: 100.0 },
            n_folds: 3,
            seed: 0,
            max_iter: 100,
        }
    }
}

impl RewardModelParams {
    /// Sets the regression.
    #[must_use]
    pub fn kind(mut self, kind: RewardModelKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the number of cross-fitting folds.
    #[must_use]
    pub fn n_folds(mut self, n_folds: usize) -> Self {
        self.n_folds = n_folds;
        self
    }

    /// Sets the fold seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`Error::Parameter`] for `c ≤ 0`, `lambda < 0`, non-finite values, zero
    /// folds or zero iterations.
    pub fn check(self) -> Result<RewardModel> {
        match self.kind {
            // c is the inverse regularisation strength, lambda the ridge penalty.
            RewardModelKind::Logistic { c } => {
                ParameterError::positive("c", c)?;
            }
            RewardModelKind::Ridge { lambda } => {
                ParameterError::non_negative("lambda", lambda)?;
            }
        }
        ParameterError::count_up_to(
            "n_folds",
            "between 1 and 100",
            self.n_folds,
            crate::error::MAX_FOLDS,
        )?;
        ParameterError::at_least_one("max_iter", self.max_iter)?;
        Ok(RewardModel { params: self })
    }
}

/// Checked reward-model parameters, ready to fit.
#[derive(Clone, Debug, PartialEq)]
pub struct RewardModel {
    params: RewardModelParams,
}

/// A fitted reward model: one coefficient vector per slot.
#[derive(Clone, Debug, PartialEq)]
pub struct FittedRewardModel {
    kind: RewardModelKind,
    n_actions: usize,
    len_list: usize,
    dim_context: usize,
    /// Action features, actions × features (one-hot when the log has none).
    action_features: Array2<f64>,
    /// Per slot: `[intercept, context weights.., action-feature weights..]`.
    coef: Vec<Array1<f64>>,
}

/// Cross-fitted predictions `q̂(x_i, a, slot_i)` for every row `i` and action `a`.
#[derive(Clone, Debug, PartialEq)]
pub struct RewardPredictions {
    n_actions: usize,
    q: Vec<f64>,
}

impl RewardPredictions {
    /// Predictions from a row-major `rows × n_actions` table.
    ///
    /// # Errors
    ///
    /// [`Error::Evaluation`] if the length is not a multiple of `n_actions` or a
    /// value is not finite.
    pub fn new(n_actions: usize, q: Vec<f64>) -> Result<Self> {
        if n_actions == 0 || !q.len().is_multiple_of(n_actions) || q.iter().any(|v| !v.is_finite())
        {
            return Err(EvaluationError::Predictions {
                reason: format!(
                    "{} values for {n_actions} actions: need rows × actions finite values",
                    q.len()
                ),
            }
            .into());
        }
        Ok(Self { n_actions, q })
    }

    /// The predictions of row `i`, one per action, at the row's own slot.
    #[must_use]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.q[i * self.n_actions..(i + 1) * self.n_actions]
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.q.len() / self.n_actions
    }

    /// Whether there are no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Number of actions.
    #[must_use]
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + exp(z))` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

impl RewardModel {
    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &RewardModelParams {
        &self.params
    }

    fn action_features(data: &LoggedBandit) -> Array2<f64> {
        data.action_context()
            .cloned()
            .unwrap_or_else(|| Array2::eye(data.n_actions()))
    }

    /// Fits one model per slot on the rows `rows` of `data`.
    fn fit_rows(&self, data: &LoggedBandit, rows: &[usize]) -> Result<FittedRewardModel> {
        let af = Self::action_features(data);
        let dx = data.context().ncols();
        let dim = 1 + dx + af.ncols();
        let mut coef = Vec::with_capacity(data.len_list());
        for slot in 0..data.len_list() {
            let idx: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&i| data.position()[i] as usize == slot)
                .collect();
            if idx.is_empty() {
                return Err(EvaluationError::RewardModel {
                    slot,
                    reason: "no training rows; use fewer folds or a longer log".into(),
                }
                .into());
            }
            let mut x = Array2::<f64>::zeros((idx.len(), dim));
            let mut y = Array1::<f64>::zeros(idx.len());
            for (r, &i) in idx.iter().enumerate() {
                x[[r, 0]] = 1.0;
                x.slice_mut(ndarray::s![r, 1..=dx])
                    .assign(&data.context().row(i));
                x.slice_mut(ndarray::s![r, 1 + dx..])
                    .assign(&af.row(data.action()[i] as usize));
                y[r] = data.reward()[i];
            }
            let theta = match self.params.kind {
                RewardModelKind::Logistic { c } => {
                    fit_logistic(&x, &y, 1.0 / c, self.params.max_iter, slot)?
                }
                RewardModelKind::Ridge { lambda } => fit_ridge(&x, &y, lambda, slot)?,
            };
            coef.push(theta);
        }
        Ok(FittedRewardModel {
            kind: self.params.kind,
            n_actions: data.n_actions(),
            len_list: data.len_list(),
            dim_context: dx,
            action_features: af,
            coef,
        })
    }

    /// Fits on every row of `data`.
    ///
    /// # Errors
    ///
    /// [`Error::Evaluation`] if a slot has no rows, logistic rewards are not 0/1
    /// or a slot's rewards are all equal (the unpenalised intercept has no finite
    /// optimum), or the normal equations are singular.
    pub fn fit(&self, data: &LoggedBandit) -> Result<FittedRewardModel> {
        let rows: Vec<usize> = (0..data.len()).collect();
        self.fit_rows(data, &rows)
    }

    /// The fold of each row: a seeded permutation cut as scikit-learn's `KFold` cuts
    /// (the first `n % n_folds` folds one row longer).
    #[must_use]
    pub fn folds(&self, n: usize) -> Vec<usize> {
        let k = self.params.n_folds;
        let mut perm: Vec<usize> = (0..n).collect();
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed::derive(self.params.seed, "reward-model-folds"));
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            perm.swap(i, j);
        }
        let mut fold = vec![0; n];
        let mut start = 0;
        for f in 0..k {
            let size = n / k + usize::from(f < n % k);
            for &i in &perm[start..start + size] {
                fold[i] = f;
            }
            start += size;
        }
        fold
    }

    /// Cross-fitted predictions `q̂(x_i, a, slot_i)` for every row and action.
    ///
    /// # Errors
    ///
    /// As [`RewardModel::fit`], for any fold's training rows.
    pub fn fit_predict(&self, data: &LoggedBandit) -> Result<RewardPredictions> {
        let n = data.len();
        let k = self.params.n_folds;
        let models: Vec<FittedRewardModel> = if k == 1 {
            vec![self.fit(data)?]
        } else {
            let fold = self.folds(n);
            (0..k)
                .into_par_iter()
                .map(|f| {
                    let train: Vec<usize> = (0..n).filter(|&i| fold[i] != f).collect();
                    self.fit_rows(data, &train)
                })
                .collect::<Result<Vec<_>>>()?
        };
        let fold = if k == 1 { vec![0; n] } else { self.folds(n) };
        let na = data.n_actions();
        let mut q = vec![0.0; n * na];
        q.par_chunks_mut(na).enumerate().for_each(|(i, out)| {
            let m = &models[fold[i]];
            out.copy_from_slice(&m.predict_row(data.context().row(i), data.position()[i] as usize));
        });
        RewardPredictions::new(na, q)
    }
}

impl FittedRewardModel {
    /// Number of actions.
    #[must_use]
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// Number of slots.
    #[must_use]
    pub fn len_list(&self) -> usize {
        self.len_list
    }

    /// Coefficients of slot `slot`: `[intercept, context.., action features..]`.
    #[must_use]
    pub fn coefficients(&self, slot: usize) -> &Array1<f64> {
        &self.coef[slot]
    }

    /// `q̂(x, a, slot)` for every action `a`.
    ///
    /// # Panics
    ///
    /// If `x` does not have the model's context width or `slot` is out of range.
    #[must_use]
    pub fn predict_row(&self, x: ArrayView1<'_, f64>, slot: usize) -> Vec<f64> {
        assert_eq!(
            x.len(),
            self.dim_context,
            "context width of the fitted model"
        );
        let theta = &self.coef[slot];
        let dx = self.dim_context;
        let base = theta[0] + theta.slice(ndarray::s![1..=dx]).dot(&x);
        let wa = theta.slice(ndarray::s![1 + dx..]);
        (0..self.n_actions)
            .map(|a| {
                let z = base + wa.dot(&self.action_features.row(a));
                match self.kind {
                    RewardModelKind::Logistic { .. } => sigmoid(z),
                    RewardModelKind::Ridge { .. } => z,
                }
            })
            .collect()
    }
}

/// Minimises `Σ [log(1+e^{zᵢ}) − yᵢ zᵢ] + (λ/2) Σ_{j≥1} θⱼ²` by damped Newton steps.
fn fit_logistic(
    x: &Array2<f64>,
    y: &Array1<f64>,
    lambda: f64,
    max_iter: u32,
    slot: usize,
) -> Result<Array1<f64>> {
    let (m, d) = x.dim();
    if y.iter().any(|&v| v != 0.0 && v != 1.0) {
        return Err(EvaluationError::RewardModel {
            slot,
            reason: "logistic regression needs 0/1 rewards; use the ridge reward model".into(),
        }
        .into());
    }
    let positives = y.sum();
    if positives == 0.0 || positives == m as f64 {
        return Err(EvaluationError::RewardModel {
            slot,
            reason: format!(
                "all {m} training rewards are {}; logistic regression needs both outcomes (use fewer folds or the ridge model)",
                if positives == 0.0 { 0 } else { 1 }
            ),
        }
        .into());
    }
    let objective = |theta: &Array1<f64>| -> f64 {
        let z = x.dot(theta);
        let loss: f64 = z.iter().zip(y).map(|(&z, &y)| softplus(z) - y * z).sum();
        loss + 0.5 * lambda * theta.iter().skip(1).map(|t| t * t).sum::<f64>()
    };
    let mut theta = Array1::<f64>::zeros(d);
    // Start the intercept at the log-odds of the base rate.
    let rate = positives / m as f64;
    theta[0] = (rate / (1.0 - rate)).ln();
    let mut f = objective(&theta);
    for _ in 0..max_iter {
        let z = x.dot(&theta);
        let p = z.mapv(sigmoid);
        let mut g = x.t().dot(&(&p - y));
        let w = p.mapv(|p| (p * (1.0 - p)).max(1e-12));
        let mut h = weighted_gram(x, &w);
        for j in 1..d {
            g[j] += lambda * theta[j];
            h[[j, j]] += lambda;
        }
        let step =
            linalg::solve_spd(h.view(), g.view()).map_err(|e| EvaluationError::RewardModel {
                slot,
                reason: format!("Newton system not solvable ({e}); lower c"),
            })?;
        let decrement = g.dot(&step);
        if decrement < 1e-20 {
            break;
        }
        let mut t = 1.0;
        loop {
            let candidate = &theta - &(&step * t);
            let fc = objective(&candidate);
            if fc <= f - 1e-4 * t * decrement || t < 1e-10 {
                theta = candidate;
                f = fc;
                break;
            }
            t *= 0.5;
        }
        if decrement < 1e-16 * f.abs().max(1.0) {
            break;
        }
    }
    Ok(theta)
}

/// `Xᵀ diag(w) X`, the logistic loss's Hessian: the upper triangle summed row by row
/// (skipping zero features, most of a one-hot row), then mirrored.
fn weighted_gram(x: &Array2<f64>, w: &Array1<f64>) -> Array2<f64> {
    let (m, d) = x.dim();
    let mut h = Array2::<f64>::zeros((d, d));
    for r in 0..m {
        let row = x.row(r);
        let wr = w[r];
        for a in 0..d {
            let xa = row[a] * wr;
            if xa == 0.0 {
                continue;
            }
            for b in a..d {
                h[[a, b]] += xa * row[b];
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            h[[a, b]] = h[[b, a]];
        }
    }
    h
}

/// Solves `(XᵀX + λP) θ = Xᵀy`, `P` the identity without the intercept.
fn fit_ridge(x: &Array2<f64>, y: &Array1<f64>, lambda: f64, slot: usize) -> Result<Array1<f64>> {
    let mut a = x.t().dot(x);
    for j in 1..a.nrows() {
        a[[j, j]] += lambda;
    }
    let b = x.t().dot(y);
    linalg::solve_spd(a.view(), b.view()).map_err(|e| {
        EvaluationError::RewardModel {
            slot,
            reason: format!("normal equations not solvable ({e}); raise lambda"),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use ndarray::array;

    use super::*;

    #[test]
    fn logistic_with_one_binary_feature_matches_the_closed_form() {
        // Without penalty (huge c), a saturated model reproduces the group rates:
        // group x=0 has 1 of 4 positive, x=1 has 3 of 4. With no regularisation,
        // σ(b) = 1/4 and σ(b + w) = 3/4 → b = −ln 3, w = 2 ln 3.
        let x = array![
            [1.0, 0.0],
            [1.0, 0.0],
            [1.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [1.0, 1.0],
            [1.0, 1.0],
            [1.0, 1.0]
        ];
        let y = array![1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let theta = fit_logistic(&x, &y, 1e-12, 100, 0).unwrap();
        assert_abs_diff_eq!(theta[0], -(3.0f64.ln()), epsilon = 1e-8);
        assert_abs_diff_eq!(theta[1], 2.0 * 3.0f64.ln(), epsilon = 1e-8);
    }

    #[test]
    fn logistic_optimum_has_zero_penalised_gradient() {
        let x = array![[1.0, 0.5], [1.0, -1.0], [1.0, 2.0], [1.0, 0.0], [1.0, 1.0]];
        let y = array![1.0, 0.0, 1.0, 0.0, 0.0];
        let lambda = 0.7;
        let theta = fit_logistic(&x, &y, lambda, 100, 0).unwrap();
        let p = x.dot(&theta).mapv(sigmoid);
        let g = x.t().dot(&(&p - &y));
        assert_abs_diff_eq!(g[0], 0.0, epsilon = 1e-10);
        assert_abs_diff_eq!(g[1] + lambda * theta[1], 0.0, epsilon = 1e-10);
    }

    #[test]
    fn ridge_solves_the_normal_equations() {
        // y = 1 + 2x exactly, no penalty → θ = (1, 2).
        let x = array![[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]];
        let y = array![1.0, 3.0, 5.0];
        let theta = fit_ridge(&x, &y, 0.0, 0).unwrap();
        assert_abs_diff_eq!(theta[0], 1.0, epsilon = 1e-10);
        assert_abs_diff_eq!(theta[1], 2.0, epsilon = 1e-10);
    }

    #[test]
    fn folds_have_kfold_sizes_and_depend_only_on_the_seed() {
        let m = RewardModelParams::default()
            .n_folds(3)
            .seed(5)
            .check()
            .unwrap();
        let f = m.folds(10);
        let sizes: Vec<usize> = (0..3)
            .map(|k| f.iter().filter(|&&x| x == k).count())
            .collect();
        assert_eq!(sizes, vec![4, 3, 3]);
        assert_eq!(f, m.folds(10));
    }

    #[test]
    fn logistic_refuses_a_single_outcome() {
        let x = array![[1.0], [1.0]];
        assert!(fit_logistic(&x, &array![0.0, 0.0], 1.0, 10, 0).is_err());
        assert!(fit_logistic(&x, &array![0.0, 0.5], 1.0, 10, 0).is_err());
    }
}
