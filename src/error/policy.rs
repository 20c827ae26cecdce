//! The errors of fitting a policy: statistics a learner cannot use, a goal or an
//! algorithm it does not serve. Parameters out of their domain are
//! [`crate::error::ParameterError`]s, raised by each algorithm's `check()`.

use super::LinearError;
use crate::algorithm::Algorithm;

/// Errors of the learners in [`crate::policy`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// An arm whose reward sum is not a finite number.
    #[error("arm {arm}: reward sum {sum} is not finite")]
    NonFiniteSum {
        /// The arm (allocation index).
        arm: usize,
        /// Its reward sum.
        sum: f64,
    },
    /// An arm whose reward sum or sum of squares is not a finite number.
    #[error("arm {arm}: reward sum {sum} or sum of squares {sum_sq} is not finite")]
    NonFiniteSums {
        /// The arm (allocation index).
        arm: usize,
        /// Its reward sum.
        sum: f64,
        /// Its sum of squared rewards.
        sum_sq: f64,
    },
    /// Bernoulli statistics with more successes than trials, or a negative or
    /// non-finite count of successes.
    #[error(
        "arm {arm}: {successes} successes in {trials} trials: Bernoulli rewards must be 0 or 1"
    )]
    NotBernoulli {
        /// The arm (allocation index).
        arm: usize,
        /// Its reward sum.
        successes: f64,
        /// Its number of rewards.
        trials: u64,
    },
    /// A reward row that is not a finite number.
    #[error("a reward row of allocation {allocation} exposed at {exposed_at} is {reward}, not a finite number")]
    NonFiniteReward {
        /// The allocation exposed.
        allocation: String,
        /// When, RFC 3339.
        exposed_at: String,
        /// The reward found.
        reward: f64,
    },
    /// An algorithm given a goal whose rewards it cannot model.
    #[error("{algorithm} needs {needs}")]
    GoalMismatch {
        /// The algorithm.
        algorithm: Algorithm,
        /// The goal it needs, in words.
        needs: &'static str,
    },
    /// A contextual algorithm asked for multi-armed weights.
    #[error("{algorithm} is not multi-armed: it publishes a contextualModel")]
    NotMultiArmed {
        /// The algorithm.
        algorithm: Algorithm,
    },
    /// A linear contextual fit that failed.
    #[error(transparent)]
    Linear(#[from] LinearError),
    /// One entity's fit of a per-entity policy failed.
    #[error("entity \"{entity}\": {source}")]
    Entity {
        /// The entity's id.
        entity: String,
        /// Why its fit failed.
        source: Box<crate::Error>,
    },
}
