//! UCB1 (Auer, Cesa-Bianchi & Fischer, "Finite-time Analysis of the Multiarmed
//! Bandit Problem", Machine Learning 47, 2002, Fig. 1).
//!
//! Each allocation's index is `x̄ⱼ + √(c · ln n / nⱼ)` with `n` the total number of
//! exposures and `c = 2` in the paper (rewards in [0, 1]; raise `c` for wider rewards).
//! UCB1 plays every arm once first: an arm without data has index `+∞`. Served through
//! bucket ranges, the deterministic choice becomes a one-hot weight on the best index,
//! exact ties split evenly; the exploration floor then keeps the others alive.

use serde::{Deserialize, Serialize};

use super::argmax::one_hot_ties;
use super::PolicyError;
use crate::error::ParameterError;
use crate::reward::ArmStats;

/// Parameters of UCB1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ucb1Params {
    /// The constant `c` under the square root (> 0). Default 2 (Auer et al.).
    pub exploration: f64,
}

impl Default for Ucb1Params {
    fn default() -> Self {
        Self { exploration: 2.0 }
    }
}

impl Ucb1Params {
    /// Sets the exploration constant.
    #[must_use]
    pub fn exploration(mut self, c: f64) -> Self {
        self.exploration = c;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    ///
    /// [`ParameterError`] for a non-positive or non-finite constant.
    pub fn check(self) -> Result<Ucb1, ParameterError> {
        ParameterError::positive("exploration", self.exploration)?;
        Ok(Ucb1 { params: self })
    }
}

/// Checked UCB1.
#[derive(Clone, Debug, PartialEq)]
pub struct Ucb1 {
    params: Ucb1Params,
}

impl Ucb1 {
    /// The parameters.
    #[must_use]
    pub fn params(&self) -> &Ucb1Params {
        &self.params
    }

    /// The upper confidence index of each arm (`+∞` without data).
    ///
    /// # Errors
    ///
    /// [`PolicyError::NonFiniteSum`] if an arm's reward sum is not finite.
    pub fn indices(&self, arms: &[ArmStats]) -> Result<Vec<f64>, PolicyError> {
        let total: u64 = arms.iter().map(|a| a.n).sum();
        let log_n = (total.max(1) as f64).ln();
        arms.iter()
            .enumerate()
            .map(|(i, a)| {
                if !a.sum.is_finite() {
                    return Err(PolicyError::NonFiniteSum { arm: i, sum: a.sum });
                }
                Ok(match a.mean() {
                    None => f64::INFINITY,
                    Some(m) => m + (self.params.exploration * log_n / a.n as f64).sqrt(),
                })
            })
            .collect()
    }

    /// One-hot weights on the highest index, ties split evenly.
    ///
    /// # Errors
    ///
    /// As [`Ucb1::indices`].
    pub fn weights(&self, arms: &[ArmStats]) -> Result<Vec<f64>, PolicyError> {
        Ok(one_hot_ties(&self.indices(arms)?))
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
    fn indices_match_a_hand_computation() {
        // n = 10 + 40 = 50, ln 50 = 3.912023. Arm 0: 0.5 + √(2·3.912023/10) = 1.384537;
        // arm 1: 0.6 + √(2·3.912023/40) = 1.042269. The rarely played arm wins.
        let ucb = Ucb1Params::default().check().unwrap();
        let arms = [arm(10, 5.0), arm(40, 24.0)];
        let idx = ucb.indices(&arms).unwrap();
        assert_abs_diff_eq!(idx[0], 1.384_537, epsilon = 1e-6);
        assert_abs_diff_eq!(idx[1], 1.042_269, epsilon = 1e-6);
        assert_eq!(ucb.weights(&arms).unwrap(), vec![1.0, 0.0]);
    }

    #[test]
    fn unplayed_arms_come_first_and_tie() {
        let ucb = Ucb1Params::default().check().unwrap();
        let w = ucb
            .weights(&[arm(100, 90.0), ArmStats::default(), ArmStats::default()])
            .unwrap();
        assert_eq!(w, vec![0.0, 0.5, 0.5]);
    }

    #[test]
    fn refuses_a_bad_constant() {
        assert!(Ucb1Params::default().exploration(0.0).check().is_err());
        assert!(Ucb1Params::default().exploration(f64::NAN).check().is_err());
    }
}
