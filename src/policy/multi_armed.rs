//! From checked algorithm parameters, the goal's facts and per-allocation statistics
//! to allocation weights: the choice of algorithm and the goal's direction, in one
//! place.
//!
//! * `thompson_bernoulli` (conversion-rate goals): posterior probability of being best.
//!   For `K ≤` [`QUADRATURE_MAX_ARMS`] with a prior of `α₀, β₀ ≥ 1` it is computed by
//!   quadrature ([`super::integrate`]): deterministic, no sampling noise, and much
//!   faster than `draws` Monte Carlo samples; the quadrature's error (about 1e-3) is
//!   below the Monte Carlo's standard error at 10 000 draws (up to 5e-3). Otherwise by
//!   seeded Monte Carlo.
//! * `thompson_gaussian` (any goal; meant for count, sum and currency): Normal-Inverse-
//!   Gamma posterior, probability of being best by seeded Monte Carlo.
//! * `ucb1`, `epsilon_greedy` (any goal): one-hot on the best, ties split; ε-greedy
//!   adds `ε/K` everywhere.
//!
//! For `desiredDirection: decrease` the rewards are negated (for Bernoulli rewards,
//! failures count as successes), so "best" is always "largest".

use super::PolicyError;
use super::{
    beta_probability_best, EpsilonGreedyParams, Learner, ThompsonBernoulli,
    ThompsonBernoulliParams, ThompsonGaussianParams, Ucb1Params,
};
use crate::algorithm::{Algorithm, AlgorithmParams};
use crate::error::Result;
use crate::reward::ArmStats;

/// Largest number of allocations for which `thompson_bernoulli` uses quadrature.
pub const QUADRATURE_MAX_ARMS: usize = 10;

/// Weights of a multi-armed fit.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiArmedFit {
    /// Allocation weights (sum 1), before floor and shift cap.
    pub weights: Vec<f64>,
    /// Posterior probability of being best, for the Thompson algorithms.
    pub probability_best: Option<Vec<f64>>,
}

/// Fits the learner's multi-armed algorithm. `label` (the policy id) keys the seed.
///
/// # Errors
///
/// [`crate::Error::Policy`] for an algorithm that is not multi-armed, a goal the
/// algorithm cannot use, or impossible statistics.
pub fn fit_multi_armed(
    learner: &Learner,
    arms: &[ArmStats],
    label: &str,
    seed: u64,
) -> Result<MultiArmedFit> {
    let decrease = learner.objective.decrease;
    let negated: Vec<ArmStats> = arms
        .iter()
        .map(|a| {
            if decrease {
                ArmStats { sum: -a.sum, ..*a }
            } else {
                *a
            }
        })
        .collect();
    match *learner.params.params() {
        AlgorithmParams::ThompsonBernoulli {
            prior_alpha,
            prior_beta,
            draws,
        } => {
            if !learner.objective.binary_rewards {
                return Err(PolicyError::GoalMismatch {
                    algorithm: Algorithm::ThompsonBernoulli,
                    needs: "a conversion_rate goal (rewards of 0 or 1)",
                }
                .into());
            }
            let tb = ThompsonBernoulliParams::default()
                .prior(prior_alpha, prior_beta)
                .seed(seed)
                .draws(draws)
                .check()?;
            let p = bernoulli_probability_best(&tb, arms, decrease, label)?;
            Ok(MultiArmedFit {
                weights: p.clone(),
                probability_best: Some(p),
            })
        }
        AlgorithmParams::ThompsonGaussian {
            prior_alpha,
            prior_beta,
            draws,
        } => {
            let tg = ThompsonGaussianParams {
                prior_alpha,
                prior_beta,
                ..ThompsonGaussianParams::default()
            }
            .seed(seed)
            .draws(draws)
            .check()?;
            let p = tg.probability_best(&negated, label)?;
            Ok(MultiArmedFit {
                weights: p.clone(),
                probability_best: Some(p),
            })
        }
        AlgorithmParams::Ucb1 { exploration } => Ok(MultiArmedFit {
            weights: Ucb1Params::default()
                .exploration(exploration)
                .check()?
                .weights(&negated)?,
            probability_best: None,
        }),
        AlgorithmParams::EpsilonGreedy { epsilon } => Ok(MultiArmedFit {
            weights: EpsilonGreedyParams::default()
                .epsilon(epsilon)
                .check()?
                .weights(&negated)?,
            probability_best: None,
        }),
        AlgorithmParams::LinearContextual { .. } => Err(PolicyError::NotMultiArmed {
            algorithm: Algorithm::LinearContextual,
        }
        .into()),
    }
}

/// Probability of being best under `tb`; for a goal to decrease, failures count as
/// successes. By quadrature for `K ≤` [`QUADRATURE_MAX_ARMS`] and a prior of at least
/// 1, else by seeded Monte Carlo.
fn bernoulli_probability_best(
    tb: &ThompsonBernoulli,
    arms: &[ArmStats],
    decrease: bool,
    label: &str,
) -> Result<Vec<f64>> {
    let flipped: Vec<ArmStats> = arms
        .iter()
        .map(|a| {
            if decrease {
                ArmStats {
                    sum: a.n as f64 - a.sum,
                    ..*a
                }
            } else {
                *a
            }
        })
        .collect();
    let prior = tb.params();
    if arms.len() <= QUADRATURE_MAX_ARMS && prior.prior_alpha >= 1.0 && prior.prior_beta >= 1.0 {
        Ok(beta_probability_best(&tb.posteriors(&flipped)?))
    } else {
        tb.probability_best(&flipped, label)
    }
}
