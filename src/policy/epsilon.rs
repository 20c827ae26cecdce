//! ε-greedy (Sutton & Barto, *Reinforcement Learning*, 2nd ed., 2018, §2.2–2.4).
//!
//! With probability `1 − ε` serve the allocation with the best mean reward, otherwise
//! one chosen uniformly. As bucket weights: `(1 − ε) + ε/K` on the best, `ε/K` on each
//! other; with `m` exact ties the `1 − ε` is split among them. Arms without data count
//! as best (played first), as in UCB1.

use serde::{Deserialize, Serialize};

use super::argmax::one_hot_ties;
use super::PolicyError;
use crate::error::ParameterError;
use crate::reward::ArmStats;

/// Parameters of ε-greedy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpsilonGreedyParams {
    /// Exploration share ε in [0, 1]. Default 0.1.
    pub epsilon: f64,
}

impl Default for EpsilonGreedyParams {
    fn default() -> Self {
        Self { epsilon: 0.1 }
    }
}

impl EpsilonGreedyParams {
    /// Sets ε.
    #[must_use]
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`ParameterError`] if ε is outside [0, 1].
    pub fn check(self) -> Result<EpsilonGreedy, ParameterError> {
        if !(0.0..=1.0).contains(&self.epsilon) {
            return Err(ParameterError::new("epsilon", "in [0, 1]", self.epsilon));
        }
        Ok(EpsilonGreedy { params: self })
    }
}

/// Checked ε-greedy.
#[derive(Clone, Debug, PartialEq)]
pub struct EpsilonGreedy {
    params: EpsilonGreedyParams,
}

impl EpsilonGreedy {
    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &EpsilonGreedyParams {
        &self.params
    }

    /// `(1 − ε)` split over the best arms plus `ε/K` everywhere.
    ///
    /// # Errors
    ///
    /// [`PolicyError::NonFiniteSum`] if an arm's reward sum is not finite.
    pub fn weights(&self, arms: &[ArmStats]) -> Result<Vec<f64>, PolicyError> {
        let means = arms
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if !a.sum.is_finite() {
                    return Err(PolicyError::NonFiniteSum { arm: i, sum: a.sum });
                }
                Ok(a.mean().unwrap_or(f64::INFINITY))
            })
            .collect::<Result<Vec<f64>, PolicyError>>()?;
        let eps = self.params.epsilon;
        let k = arms.len() as f64;
        Ok(one_hot_ties(&means)
            .into_iter()
            .map(|w| (1.0 - eps) * w + eps / k)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;

    fn arm(n: u64, sum: f64) -> ArmStats {
        ArmStats {
            n,
            sum,
            sum_sq: sum,
        }
    }

    #[test]
    fn best_arm_gets_one_minus_epsilon_plus_its_share() {
        let eg = EpsilonGreedyParams::default().epsilon(0.2).check().unwrap();
        let w = eg
            .weights(&[
                arm(100, 10.0),
                arm(100, 30.0),
                arm(100, 20.0),
                arm(100, 5.0),
            ])
            .unwrap();
        assert_abs_diff_eq!(w[1], 0.8 + 0.05, epsilon = 1e-15);
        for i in [0, 2, 3] {
            assert_abs_diff_eq!(w[i], 0.05, epsilon = 1e-15);
        }
    }

    #[test]
    fn ties_split_the_greedy_share() {
        let eg = EpsilonGreedyParams::default().epsilon(0.3).check().unwrap();
        let w = eg
            .weights(&[arm(10, 5.0), arm(20, 10.0), arm(10, 1.0)])
            .unwrap();
        assert_abs_diff_eq!(w[0], 0.35 + 0.1, epsilon = 1e-15);
        assert_abs_diff_eq!(w[1], 0.35 + 0.1, epsilon = 1e-15);
        assert_abs_diff_eq!(w[2], 0.1, epsilon = 1e-15);
    }

    #[test]
    fn refuses_epsilon_outside_the_unit_interval() {
        assert!(EpsilonGreedyParams::default().epsilon(1.5).check().is_err());
        assert!(EpsilonGreedyParams::default()
            .epsilon(-0.1)
            .check()
            .is_err());
        assert!(EpsilonGreedyParams::default()
            .epsilon(f64::NAN)
            .check()
            .is_err());
    }
}
