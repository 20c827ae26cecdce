//! LinUCB and linear Thompson sampling on [`LinearStats`], with ridge `λ`.
//!
//! Per allocation, `A = λI + Σ x xᵀ` and `θ̂ = A⁻¹ b` (ridge regression, the posterior
//! mean under a `N(0, λ⁻¹ I)` prior), solved by Cholesky through
//! [`crate::linalg::solve_spd`]; the lower factor `L` of `A` is kept for the uncertainty
//! terms, which need `A⁻¹x` and are computed by triangular solves, never an inverse.
//!
//! * **LinUCB**, disjoint (Li, Chu, Langford & Schapire, "A Contextual-Bandit Approach
//!   to Personalized News Article Recommendation", WWW 2010, Algorithm 1):
//!   `score = θ̂ᵀx + α √(xᵀ A⁻¹ x)`, with `√(xᵀA⁻¹x) = ‖L⁻¹x‖`.
//! * **Linear Thompson sampling** (Agrawal & Goyal, "Thompson Sampling for Contextual
//!   Bandits with Linear Payoffs", ICML 2013, Algorithm 1): draw
//!   `θ̃ ~ N(θ̂, v² A⁻¹)` as `θ̂ + v L⁻ᵀ z`, `z ~ N(0, I)`, and score `θ̃ᵀx`.
//!
//! `λ > 0` keeps `A` positive definite; a guard refuses an `A` whose condition number
//! is at least [`MAX_CONDITION`] (estimated from below by `(max Lᵢᵢ / min Lᵢᵢ)²`).

use ndarray::{Array1, Array2, ArrayView1};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::linear::{LinearError, LinearStats};
use crate::error::ParameterError;
use crate::linalg::{cholesky_lower, solve_spd};

/// Largest accepted condition-number estimate of an allocation's `A`.
pub const MAX_CONDITION: f64 = 1e12;

fn positive(name: &'static str, v: f64) -> Result<(), LinearError> {
    ParameterError::positive(name, v)?;
    Ok(())
}

/// Parameters of disjoint LinUCB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinUcbParams {
    /// Width of the confidence bonus `α` (≥ 0). Default 1.
    pub alpha: f64,
    /// Ridge `λ` (> 0). Default 1 (Li et al. use the identity).
    pub lambda: f64,
}

impl Default for LinUcbParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            lambda: 1.0,
        }
    }
}

impl LinUcbParams {
    /// Sets `α`.
    #[must_use]
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets `λ`.
    #[must_use]
    pub fn lambda(mut self, lambda: f64) -> Self {
        self.lambda = lambda;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`LinearError::Parameter`] for a negative or non-finite `α` or a
    /// non-positive `λ`.
    pub fn check(self) -> Result<LinUcb, LinearError> {
        ParameterError::non_negative("alpha", self.alpha)?;
        positive("lambda", self.lambda)?;
        Ok(LinUcb { params: self })
    }
}

/// Checked LinUCB parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LinUcb {
    params: LinUcbParams,
}

impl LinUcb {
    /// Fits every allocation (in parallel over allocations).
    ///
    /// # Errors
    ///
    /// [`LinearError::Linalg`] or [`LinearError::IllConditioned`] naming the allocation.
    pub fn fit(&self, stats: &LinearStats) -> Result<LinUcbModel, LinearError> {
        Ok(LinUcbModel {
            arms: fit_arms(stats, self.params.lambda)?,
            alpha: self.params.alpha,
        })
    }
}

/// Parameters of linear Thompson sampling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinTsParams {
    /// Posterior scale `v` (> 0). Default 1.
    pub v: f64,
    /// Ridge `λ` (> 0). Default 1.
    pub lambda: f64,
}

impl Default for LinTsParams {
    fn default() -> Self {
        Self {
            v: 1.0,
            lambda: 1.0,
        }
    }
}

impl LinTsParams {
    /// Sets `v`.
    #[must_use]
    pub fn v(mut self, v: f64) -> Self {
        self.v = v;
        self
    }

    /// Sets `λ`.
    #[must_use]
    pub fn lambda(mut self, lambda: f64) -> Self {
        self.lambda = lambda;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`LinearError::Parameter`] for a non-positive `v` or `λ`.
    pub fn check(self) -> Result<LinTs, LinearError> {
        positive("v", self.v)?;
        positive("lambda", self.lambda)?;
        Ok(LinTs { params: self })
    }
}

/// Checked linear Thompson sampling parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct LinTs {
    params: LinTsParams,
}

impl LinTs {
    /// Fits every allocation (in parallel over allocations).
    ///
    /// # Errors
    ///
    /// As [`LinUcb::fit`].
    pub fn fit(&self, stats: &LinearStats) -> Result<LinTsModel, LinearError> {
        Ok(LinTsModel {
            arms: fit_arms(stats, self.params.lambda)?,
            v: self.params.v,
        })
    }
}

/// One allocation's fitted ridge regression.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearArm {
    theta: Array1<f64>,
    chol: Array2<f64>,
    rows: u64,
}

impl LinearArm {
    /// The posterior mean `θ̂ = A⁻¹ b`.
    #[must_use]
    pub fn theta(&self) -> ArrayView1<'_, f64> {
        self.theta.view()
    }

    /// The lower Cholesky factor of `A`.
    #[must_use]
    pub fn cholesky(&self) -> &Array2<f64> {
        &self.chol
    }

    /// Rows behind the fit.
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// `θ̂ᵀx`.
    #[must_use]
    pub fn mean_score(&self, x: ArrayView1<'_, f64>) -> f64 {
        self.theta.dot(&x)
    }

    /// `√(xᵀ A⁻¹ x) = ‖L⁻¹x‖`, by forward substitution.
    #[must_use]
    pub fn width(&self, x: ArrayView1<'_, f64>) -> f64 {
        let l = &self.chol;
        let d = x.len();
        let mut y = vec![0.0; d];
        for i in 0..d {
            let s: f64 = (0..i).map(|j| l[[i, j]] * y[j]).sum();
            y[i] = (x[i] - s) / l[[i, i]];
        }
        y.iter().map(|v| v * v).sum::<f64>().sqrt()
    }

    /// A draw `θ̂ + v L⁻ᵀ z` from `N(θ̂, v² A⁻¹)`, by back substitution.
    pub fn draw<R: Rng + ?Sized>(&self, v: f64, rng: &mut R) -> Array1<f64> {
        let l = &self.chol;
        let d = self.theta.len();
        let z: Vec<f64> = (0..d).map(|_| StandardNormal.sample(rng)).collect();
        let mut y = vec![0.0; d];
        for i in (0..d).rev() {
            let s: f64 = (i + 1..d).map(|j| l[[j, i]] * y[j]).sum();
            y[i] = (z[i] - s) / l[[i, i]];
        }
        &self.theta + &(Array1::from(y) * v)
    }
}

fn fit_arms(stats: &LinearStats, lambda: f64) -> Result<Vec<LinearArm>, LinearError> {
    (0..stats.arms())
        .into_par_iter()
        .map(|arm| {
            let d = stats.dim();
            let mut a = stats.gram(arm).to_owned();
            for i in 0..d {
                a[[i, i]] += lambda;
            }
            let linalg = |source| LinearError::Linalg { arm, source };
            let theta = solve_spd(a.view(), stats.b(arm)).map_err(linalg)?;
            let chol = cholesky_lower(a.view()).map_err(linalg)?;
            let diag = chol.diag();
            let hi = diag.iter().copied().fold(0.0, f64::max);
            let lo = diag.iter().copied().fold(f64::INFINITY, f64::min);
            let estimate = (hi / lo).powi(2);
            if estimate.is_nan() || estimate >= MAX_CONDITION {
                return Err(LinearError::IllConditioned {
                    arm,
                    estimate,
                    limit: MAX_CONDITION,
                });
            }
            Ok(LinearArm {
                theta,
                chol,
                rows: stats.count(arm),
            })
        })
        .collect()
}

/// Fitted disjoint LinUCB.
#[derive(Clone, Debug, PartialEq)]
pub struct LinUcbModel {
    arms: Vec<LinearArm>,
    alpha: f64,
}

impl LinUcbModel {
    /// Per allocation.
    #[must_use]
    pub fn arms(&self) -> &[LinearArm] {
        &self.arms
    }

    /// Upper confidence scores `θ̂ᵀx + α‖L⁻¹x‖` of every allocation for `x`.
    #[must_use]
    pub fn scores(&self, x: ArrayView1<'_, f64>) -> Vec<f64> {
        self.arms
            .iter()
            .map(|a| a.mean_score(x) + self.alpha * a.width(x))
            .collect()
    }
}

/// Fitted linear Thompson sampling.
#[derive(Clone, Debug, PartialEq)]
pub struct LinTsModel {
    arms: Vec<LinearArm>,
    v: f64,
}

impl LinTsModel {
    /// Per allocation.
    #[must_use]
    pub fn arms(&self) -> &[LinearArm] {
        &self.arms
    }

    /// One posterior draw of every allocation's coefficients.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<Array1<f64>> {
        self.arms.iter().map(|a| a.draw(self.v, rng)).collect()
    }

    /// Sampled scores `θ̃ᵀx` of every allocation for `x`.
    pub fn sample_scores<R: Rng + ?Sized>(&self, x: ArrayView1<'_, f64>, rng: &mut R) -> Vec<f64> {
        self.draw(rng).iter().map(|t| t.dot(&x)).collect()
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn stats() -> LinearStats {
        // One arm, x = (1, t) for t = 0, 1, 2, rewards 1, 2, 4.
        let x = array![[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]];
        LinearStats::from_rows(1, x.view(), &[0, 0, 0], &[1.0, 2.0, 4.0]).unwrap()
    }

    #[test]
    fn linucb_matches_the_ridge_closed_form() {
        // A = I + [[3, 3], [3, 5]] = [[4, 3], [3, 6]], det 15, b = (7, 10):
        // θ = A⁻¹b = (6·7 − 3·10, −3·7 + 4·10)/15 = (0.8, 19/15).
        // At x = (1, 1): xᵀA⁻¹x = (6 − 6 + 4)/15 = 4/15.
        let m = LinUcbParams::default()
            .alpha(2.0)
            .check()
            .unwrap()
            .fit(&stats())
            .unwrap();
        let t = m.arms()[0].theta();
        assert_abs_diff_eq!(t[0], 0.8, epsilon = 1e-12);
        assert_abs_diff_eq!(t[1], 19.0 / 15.0, epsilon = 1e-12);
        let x = array![1.0, 1.0];
        assert_abs_diff_eq!(
            m.arms()[0].width(x.view()),
            (4.0f64 / 15.0).sqrt(),
            epsilon = 1e-12
        );
        assert_abs_diff_eq!(
            m.scores(x.view())[0],
            0.8 + 19.0 / 15.0 + 2.0 * (4.0f64 / 15.0).sqrt(),
            epsilon = 1e-12
        );
    }

    #[test]
    fn lints_draws_have_the_posterior_covariance() {
        // Cov(θ̃) = v² A⁻¹ = 0.25 · [[6, −3], [−3, 4]]/15.
        let m = LinTsParams::default()
            .v(0.5)
            .check()
            .unwrap()
            .fit(&stats())
            .unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 100_000;
        let draws: Vec<Array1<f64>> = (0..n).map(|_| m.draw(&mut rng).remove(0)).collect();
        let mean0 = draws.iter().map(|d| d[0]).sum::<f64>() / n as f64;
        let mean1 = draws.iter().map(|d| d[1]).sum::<f64>() / n as f64;
        let cov01 = draws
            .iter()
            .map(|d| (d[0] - mean0) * (d[1] - mean1))
            .sum::<f64>()
            / n as f64;
        let var0 = draws.iter().map(|d| (d[0] - mean0).powi(2)).sum::<f64>() / n as f64;
        assert_abs_diff_eq!(mean0, 0.8, epsilon = 0.01);
        assert_abs_diff_eq!(var0, 0.25 * 6.0 / 15.0, epsilon = 0.005);
        assert_abs_diff_eq!(cov01, -0.25 * 3.0 / 15.0, epsilon = 0.005);
    }

    #[test]
    fn refuses_bad_parameters_and_ill_conditioned_data() {
        assert!(LinUcbParams::default().lambda(0.0).check().is_err());
        assert!(LinUcbParams::default().alpha(-1.0).check().is_err());
        assert!(LinTsParams::default().v(f64::NAN).check().is_err());
        let x = array![[1e7, 0.0]];
        let s = LinearStats::from_rows(1, x.view(), &[0], &[1.0]).unwrap();
        let e = LinUcbParams::default()
            .lambda(1e-3)
            .check()
            .unwrap()
            .fit(&s)
            .unwrap_err();
        assert!(
            matches!(e, LinearError::IllConditioned { arm: 0, .. }),
            "{e}"
        );
    }
}
