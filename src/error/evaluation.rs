//! What off-policy evaluation refuses: logs that break their contract, evaluation
//! policies that are not distributions or do not fit the log, reward models that
//! cannot be fitted, events that do not explain their decisions. Settings out of their
//! domain (`alpha`, `n_resamples`, `c`, …) are [`crate::error::ParameterError`]s.

/// Errors of [`crate::replay`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvaluationError {
    /// A logged bandit whose columns or rows break its contract (lengths, actions
    /// below `n_actions`, propensities in (0, 1], finite rewards and contexts).
    #[error("logged data: {field}: {reason}")]
    Log {
        /// The column at fault (`pscore`, `action`, …).
        field: &'static str,
        /// What is wrong, naming the row.
        reason: String,
    },
    /// An evaluation policy whose probabilities are not a distribution, or whose
    /// dimensions differ from the log's.
    #[error("evaluation policy: {reason}")]
    ActionDist {
        /// What is wrong, naming row, action and slot.
        reason: String,
    },
    /// Reward predictions or a fitted reward model for other dimensions than the log.
    #[error("reward predictions: {reason}")]
    Predictions {
        /// Which dimension differs.
        reason: String,
    },
    /// A reward model that cannot be fitted on a slot's rows.
    #[error("reward model, slot {slot}: {reason}")]
    RewardModel {
        /// The slot (position).
        slot: usize,
        /// Why, and what to do.
        reason: String,
    },
    /// An estimator name that is not one of ours.
    #[error("unknown estimator {name:?}; expected one of replay, ipw, snipw, dm, dr, sndr")]
    UnknownEstimator {
        /// The name given.
        name: String,
    },
    /// A model-based estimator asked for without a reward model.
    #[error("{estimator} needs a reward model; fit one or drop the estimator")]
    NeedsRewardModel {
        /// The estimator.
        estimator: &'static str,
    },
    /// An estimate that is not a finite number: importance weights so large that their
    /// sums overflow (propensities near the smallest double).
    #[error("{estimator} is not finite ({value}): importance weights overflow; the largest is {weight:e} at row {row} (propensity too small to divide by)")]
    NonFinite {
        /// The estimator.
        estimator: &'static str,
        /// Its value.
        value: f64,
        /// The row of the largest importance weight.
        row: usize,
        /// That weight.
        weight: f64,
    },
    /// A bootstrap of an empty log.
    #[error("no rows to resample")]
    NoRows,
    /// Logged events that do not explain a decision (an allocation the policy does not
    /// have, a missing or impossible propensity, a context that is not an object).
    #[error("events: {reason}")]
    Events {
        /// What is wrong, naming the decision.
        reason: String,
    },
    /// A dataset file or directory that is not what the reader expects.
    #[error("{path}: {reason}")]
    Dataset {
        /// The file or directory.
        path: String,
        /// What is wrong and what is expected.
        reason: String,
    },
}
