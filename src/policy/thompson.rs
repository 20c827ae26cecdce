//! Beta-Bernoulli Thompson sampling (Thompson 1933; Chapelle & Li, "An Empirical
//! Evaluation of Thompson Sampling", NIPS 2011).
//!
//! With a `Beta(α₀, β₀)` prior and `s` successes in `n` trials, an allocation's
//! posterior is `Beta(α₀ + s, β₀ + n − s)`. Served through bucket ranges, Thompson
//! sampling's randomisation becomes a deterministic share: each allocation gets the
//! posterior probability that it is the best, estimated here by Monte Carlo over
//! `draws` joint posterior samples. Draws are split into fixed chunks, each with its
//! own seed derived from the master seed, and summed in chunk order, so the result is
//! the same on any number of threads.

use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};

use super::montecarlo;
use super::PolicyError;
use crate::error::{ParameterError, Result};
use crate::reward::ArmStats;

/// Parameters of Beta-Bernoulli Thompson sampling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThompsonBernoulliParams {
    /// Prior successes `α₀` (> 0). Default 1 (uniform prior).
    pub prior_alpha: f64,
    /// Prior failures `β₀` (> 0). Default 1.
    pub prior_beta: f64,
    /// Monte Carlo draws for probability-of-best (≥ 1). Default 10 000.
    pub draws: u32,
    /// Master seed.
    pub seed: u64,
}

impl Default for ThompsonBernoulliParams {
    fn default() -> Self {
        Self {
            prior_alpha: 1.0,
            prior_beta: 1.0,
            draws: 10_000,
            seed: 0,
        }
    }
}

impl ThompsonBernoulliParams {
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

    /// Sets the prior.
    #[must_use]
    pub fn prior(mut self, alpha: f64, beta: f64) -> Self {
        self.prior_alpha = alpha;
        self.prior_beta = beta;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`ParameterError`] for a non-positive or non-finite prior, or zero draws.
    pub fn check(self) -> Result<ThompsonBernoulli, ParameterError> {
        ParameterError::positive("prior_alpha", self.prior_alpha)?;
        ParameterError::positive("prior_beta", self.prior_beta)?;
        ParameterError::draws(self.draws)?;
        Ok(ThompsonBernoulli { params: self })
    }
}

/// Checked Beta-Bernoulli Thompson sampling.
#[derive(Clone, Debug, PartialEq)]
pub struct ThompsonBernoulli {
    params: ThompsonBernoulliParams,
}

impl ThompsonBernoulli {
    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &ThompsonBernoulliParams {
        &self.params
    }

    /// Posterior `(α, β)` of each arm.
    ///
    /// # Errors
    ///
    /// [`PolicyError::NotBernoulli`] if an arm has more successes than trials or a
    /// negative or non-finite sum (rewards must be 0/1).
    pub fn posteriors(&self, arms: &[ArmStats]) -> Result<Vec<(f64, f64)>, PolicyError> {
        arms.iter()
            .enumerate()
            .map(|(arm, a)| {
                let n = a.n as f64;
                if !(a.sum >= 0.0 && a.sum <= n) {
                    return Err(PolicyError::NotBernoulli {
                        arm,
                        successes: a.sum,
                        trials: a.n,
                    });
                }
                Ok((
                    self.params.prior_alpha + a.sum,
                    self.params.prior_beta + n - a.sum,
                ))
            })
            .collect()
    }

    /// Posterior probability that each arm has the highest success rate, estimated
    /// from `draws` joint posterior samples. `label` (the policy id) keys the seed
    /// stream, so two policies in one run draw independently.
    ///
    /// # Errors
    ///
    /// As [`ThompsonBernoulli::posteriors`].
    pub fn probability_best(&self, arms: &[ArmStats], label: &str) -> Result<Vec<f64>> {
        let k = arms.len();
        if k == 0 {
            return Ok(Vec::new());
        }
        let betas: Vec<Beta<f64>> = self
            .posteriors(arms)?
            .into_iter()
            .map(|(a, b)| Beta::new(a, b).expect("posterior parameters are positive and finite"))
            .collect();
        Ok(montecarlo::probability_best(
            k,
            self.params.draws,
            self.params.seed,
            label,
            |rng, i| betas[i].sample(rng),
        ))
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;

    fn arm(n: u64, s: f64) -> ArmStats {
        ArmStats {
            n,
            sum: s,
            sum_sq: s,
        }
    }

    #[test]
    fn two_arms_match_the_closed_form() {
        // For Beta(a1,b1) vs Beta(a2,b2) with integer parameters, Evan Miller's closed
        // form ("Formulas for Bayesian A/B testing", 2015):
        // P(X2 > X1) = Σ_{i=0}^{a2-1} B(a1+i, b1+b2) / ((b2+i) B(1+i, b2) B(a1, b1)).
        // With a1=3,b1=9 (2/10) and a2=6,b2=6 (5/10) it is 0.908669 (the sum computed
        // with Python's math.lgamma; 10^6 draws of Python's random.betavariate give
        // 0.90872).
        let tb = ThompsonBernoulliParams::default()
            .draws(200_000)
            .seed(7)
            .check()
            .unwrap();
        let p = tb
            .probability_best(&[arm(10, 2.0), arm(10, 5.0)], "p")
            .unwrap();
        assert_abs_diff_eq!(p[1], 0.908_669, epsilon = 0.004);
        assert_abs_diff_eq!(p[0] + p[1], 1.0, epsilon = 1e-12);
    }

    #[test]
    fn identical_arms_share_evenly_and_runs_repeat() {
        let tb = ThompsonBernoulliParams::default()
            .draws(50_000)
            .seed(1)
            .check()
            .unwrap();
        let arms = [arm(100, 10.0), arm(100, 10.0), arm(100, 10.0)];
        let p = tb.probability_best(&arms, "x").unwrap();
        for v in &p {
            assert_abs_diff_eq!(*v, 1.0 / 3.0, epsilon = 0.01);
        }
        assert_eq!(p, tb.probability_best(&arms, "x").unwrap());
        assert_ne!(p, tb.probability_best(&arms, "y").unwrap());
    }

    #[test]
    fn refuses_impossible_statistics_and_priors() {
        let tb = ThompsonBernoulliParams::default().check().unwrap();
        assert!(tb.probability_best(&[arm(3, 4.0)], "p").is_err());
        assert!(ThompsonBernoulliParams::default()
            .prior(0.0, 1.0)
            .check()
            .is_err());
        assert!(ThompsonBernoulliParams::default().draws(0).check().is_err());
    }
}
