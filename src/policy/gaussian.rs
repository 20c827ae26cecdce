//! Gaussian Thompson sampling with unknown variance: a Normal-Inverse-Gamma
//! posterior per allocation, for count, sum and currency goals.
//!
//! Model (Murphy, "Conjugate Bayesian analysis of the Gaussian distribution", 2007,
//! §6, eqs. 85–89; Gelman et al., *Bayesian Data Analysis*, 3rd ed., §3.3): rewards of
//! an allocation are `N(μ, σ²)` with
//!
//! ```text
//! σ² ~ InvGamma(α₀, β₀),   μ | σ² ~ N(μ₀, σ²/κ₀).
//! ```
//!
//! After `n` rewards with mean `x̄` and centred sum of squares `S = Σ(x − x̄)²` (from
//! [`ArmStats`]: `S = sum_sq − sum²/n`) the posterior is NIG with
//!
//! ```text
//! κₙ = κ₀ + n,   μₙ = (κ₀ μ₀ + n x̄) / κₙ,
//! αₙ = α₀ + n/2, βₙ = β₀ + S/2 + κ₀ n (x̄ − μ₀)² / (2 κₙ).
//! ```
//!
//! Weights are the posterior probability that each allocation's mean `μ` is the
//! largest, by seeded chunked Monte Carlo: each draw takes `σ² = 1/G`,
//! `G ~ Gamma(αₙ, rate βₙ)`, then `μ ~ N(μₙ, σ²/κₙ)` (so `μ` is marginally Student-t
//! with `2αₙ` degrees of freedom, location `μₙ`, scale `√(βₙ/(αₙκₙ))`).

use rand_distr::{Distribution, Gamma, Normal};
use serde::{Deserialize, Serialize};

use super::montecarlo;
use super::PolicyError;
use crate::error::{ParameterError, Result};
use crate::reward::ArmStats;

/// Parameters of Gaussian (Normal-Inverse-Gamma) Thompson sampling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThompsonGaussianParams {
    /// Prior mean `μ₀`. Default 0.
    pub prior_mean: f64,
    /// Prior pseudo-observations of the mean `κ₀` (> 0). Default 0.01: nearly flat.
    pub prior_kappa: f64,
    /// Inverse-Gamma shape `α₀` (> 0). Default 1.
    pub prior_alpha: f64,
    /// Inverse-Gamma scale `β₀` (> 0). Default 1.
    pub prior_beta: f64,
    /// Monte Carlo draws for probability-of-best (≥ 1). Default 10 000.
    pub draws: u32,
    /// Master seed.
    pub seed: u64,
}

impl Default for ThompsonGaussianParams {
    fn default() -> Self {
        Self {
            prior_mean: 0.0,
            prior_kappa: 0.01,
            prior_alpha: 1.0,
            prior_beta: 1.0,
            draws: 10_000,
            seed: 0,
        }
    }
}

impl ThompsonGaussianParams {
    /// Sets the master seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the number of draws.
    #[must_use]
    pub fn draws(mut self, draws: u32) -> Self {
        self.draws = draws;
        self
    }

    /// Sets the prior `(μ₀, κ₀, α₀, β₀)`.
    #[must_use]
    pub fn prior(mut self, mean: f64, kappa: f64, alpha: f64, beta: f64) -> Self {
        self.prior_mean = mean;
        self.prior_kappa = kappa;
        self.prior_alpha = alpha;
        self.prior_beta = beta;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`ParameterError`] for a non-finite prior mean, a non-positive or non-finite
    /// `κ₀`, `α₀` or `β₀`, or zero draws.
    pub fn check(self) -> Result<ThompsonGaussian, ParameterError> {
        if !self.prior_mean.is_finite() {
            return Err(ParameterError::new(
                "prior_mean",
                "a finite number",
                self.prior_mean,
            ));
        }
        ParameterError::positive("prior_kappa", self.prior_kappa)?;
        ParameterError::positive("prior_alpha", self.prior_alpha)?;
        ParameterError::positive("prior_beta", self.prior_beta)?;
        ParameterError::draws(self.draws)?;
        Ok(ThompsonGaussian { params: self })
    }
}

/// A Normal-Inverse-Gamma distribution `NIG(μ, κ, α, β)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormalInverseGamma {
    /// Location of the mean.
    pub mean: f64,
    /// Pseudo-observations behind the mean.
    pub kappa: f64,
    /// Shape of the variance's Inverse-Gamma.
    pub alpha: f64,
    /// Scale of the variance's Inverse-Gamma.
    pub beta: f64,
}

impl NormalInverseGamma {
    /// Scale of the marginal Student-t of the mean, `√(β/(ακ))`.
    #[must_use]
    pub fn mean_scale(&self) -> f64 {
        (self.beta / (self.alpha * self.kappa)).sqrt()
    }
}

/// Checked Gaussian Thompson sampling.
#[derive(Clone, Debug, PartialEq)]
pub struct ThompsonGaussian {
    params: ThompsonGaussianParams,
}

impl ThompsonGaussian {
    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &ThompsonGaussianParams {
        &self.params
    }

    /// The posterior of each arm (see the module docs for the update).
    ///
    /// # Errors
    ///
    /// [`PolicyError::NonFiniteSums`] if an arm's sums are not finite.
    pub fn posteriors(&self, arms: &[ArmStats]) -> Result<Vec<NormalInverseGamma>, PolicyError> {
        let p = &self.params;
        arms.iter()
            .enumerate()
            .map(|(i, a)| {
                if !(a.sum.is_finite() && a.sum_sq.is_finite()) {
                    return Err(PolicyError::NonFiniteSums {
                        arm: i,
                        sum: a.sum,
                        sum_sq: a.sum_sq,
                    });
                }
                if a.n == 0 {
                    return Ok(NormalInverseGamma {
                        mean: p.prior_mean,
                        kappa: p.prior_kappa,
                        alpha: p.prior_alpha,
                        beta: p.prior_beta,
                    });
                }
                let n = a.n as f64;
                let xbar = a.sum / n;
                // Rounding can make the centred sum slightly negative; it is ≥ 0.
                let centred = (a.sum_sq - a.sum * xbar).max(0.0);
                let kappa = p.prior_kappa + n;
                let d = xbar - p.prior_mean;
                Ok(NormalInverseGamma {
                    mean: (p.prior_kappa * p.prior_mean + a.sum) / kappa,
                    kappa,
                    alpha: p.prior_alpha + n / 2.0,
                    beta: p.prior_beta + centred / 2.0 + p.prior_kappa * n * d * d / (2.0 * kappa),
                })
            })
            .collect()
    }

    /// Posterior probability that each arm has the highest mean, from `draws` joint
    /// posterior samples keyed by the seed and `label` (the policy id).
    ///
    /// # Errors
    ///
    /// As [`ThompsonGaussian::posteriors`].
    pub fn probability_best(&self, arms: &[ArmStats], label: &str) -> Result<Vec<f64>> {
        let samplers: Vec<(Gamma<f64>, f64, f64)> = self
            .posteriors(arms)?
            .into_iter()
            .map(|q| {
                let g = Gamma::new(q.alpha, 1.0 / q.beta)
                    .expect("posterior shape and scale are positive and finite");
                (g, q.mean, q.kappa)
            })
            .collect();
        Ok(montecarlo::probability_best(
            samplers.len(),
            self.params.draws,
            self.params.seed,
            label,
            |rng, i| {
                let (g, mean, kappa) = &samplers[i];
                let precision = g.sample(rng);
                let sd = (1.0 / (precision * kappa)).sqrt();
                match Normal::new(*mean, sd) {
                    Ok(n) => n.sample(rng),
                    // Precision can underflow to 0 for absurd priors: an infinitely
                    // wide draw never wins reliably, so it counts as the location.
                    Err(_) => *mean,
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;

    fn stats(xs: &[f64]) -> ArmStats {
        ArmStats {
            n: xs.len() as u64,
            sum: xs.iter().sum(),
            sum_sq: xs.iter().map(|x| x * x).sum(),
        }
    }

    #[test]
    fn posterior_matches_the_conjugate_update() {
        // Rewards 1, 2, 3, 6: n = 4, x̄ = 3, S = 4 + 1 + 0 + 9 = 14. Prior NIG(1, 2, 3, 4):
        // κ = 6, μ = (2·1 + 12)/6 = 7/3, α = 5, β = 4 + 7 + 2·4·4/12 = 41/3.
        let tg = ThompsonGaussianParams::default()
            .prior(1.0, 2.0, 3.0, 4.0)
            .check()
            .unwrap();
        let q = tg.posteriors(&[stats(&[1.0, 2.0, 3.0, 6.0])]).unwrap()[0];
        assert_abs_diff_eq!(q.kappa, 6.0, epsilon = 1e-12);
        assert_abs_diff_eq!(q.mean, 7.0 / 3.0, epsilon = 1e-12);
        assert_abs_diff_eq!(q.alpha, 5.0, epsilon = 1e-12);
        assert_abs_diff_eq!(q.beta, 41.0 / 3.0, epsilon = 1e-12);
        assert_abs_diff_eq!(q.mean_scale(), (41.0f64 / 90.0).sqrt(), epsilon = 1e-12);
    }

    #[test]
    fn arm_without_data_keeps_the_prior() {
        let tg = ThompsonGaussianParams::default().check().unwrap();
        let q = tg.posteriors(&[ArmStats::default()]).unwrap()[0];
        assert_eq!((q.mean, q.kappa, q.alpha, q.beta), (0.0, 0.01, 1.0, 1.0));
    }

    #[test]
    fn two_arms_match_the_student_t_difference() {
        // Large n: each mean is ≈ N(μₙ, βₙ/(αₙκₙ)). Arms with means 10 and 10.2 and
        // unit variance over 400 rewards each: P(arm 1 best) ≈ Φ(0.2/√(2/400)) =
        // Φ(2.828) = 0.99766.
        let a = ArmStats {
            n: 400,
            sum: 4000.0,
            sum_sq: 400.0 * 101.0,
        };
        let b = ArmStats {
            n: 400,
            sum: 4080.0,
            sum_sq: 400.0 * (1.0 + 10.2 * 10.2),
        };
        let tg = ThompsonGaussianParams::default()
            .draws(100_000)
            .seed(3)
            .check()
            .unwrap();
        let p = tg.probability_best(&[a, b], "g").unwrap();
        assert_abs_diff_eq!(p[1], 0.99766, epsilon = 0.002);
        assert_abs_diff_eq!(p[0] + p[1], 1.0, epsilon = 1e-12);
    }

    #[test]
    fn refuses_bad_priors_and_non_finite_sums() {
        assert!(ThompsonGaussianParams::default()
            .prior(0.0, 0.0, 1.0, 1.0)
            .check()
            .is_err());
        assert!(ThompsonGaussianParams::default()
            .prior(f64::NAN, 1.0, 1.0, 1.0)
            .check()
            .is_err());
        let tg = ThompsonGaussianParams::default().check().unwrap();
        let bad = ArmStats {
            n: 2,
            sum: f64::INFINITY,
            sum_sq: 1.0,
        };
        let e = tg.probability_best(&[bad], "p").unwrap_err();
        assert!(e.to_string().contains("arm 0"), "{e}");
    }
}
