//! What attribution refuses: goals it does not compute, and credit tables naming an
//! outcome it does not know. Settings out of their domain (a half-life, position
//! weights) are [`crate::error::ParameterError`]s; inputs of 2³² rows or more are
//! [`crate::Error::TooManyRows`].

/// Errors of the attribution stages.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AttributionError {
    /// A `mean` goal: attribution computes conversion rates, counts and sums.
    #[error("goal.type: the mean goal is not computed by attribution yet; use conversion_rate, count or sum")]
    MeanGoal,
    /// A sum goal reading a named value or a property instead of the event's `value`.
    #[error("goal.value: sum goals read the event's `value` for now; named values and properties are not supported yet")]
    NamedValue,
    /// A credit table naming an outcome other than `credited`, `outside_window` and
    /// `before_exposure` (`Credits` has public fields, so a table built by hand can hold
    /// anything).
    #[error("credits.outcomes: outcome {outcome:?} of policy {policy_id}: outcomes are credited, outside_window or before_exposure")]
    UnknownOutcome {
        /// The policy.
        policy_id: String,
        /// The outcome found (`None` for a null).
        outcome: Option<String>,
    },
    /// A run over a log's partitions asked for a goal and settings it did not
    /// attribute beforehand (an engine bug).
    #[error("goal `{0}`: not attributed over the partitions of this run (an engine bug: please report it with the config)")]
    NotPartitioned(String),
    /// A run over a log's partitions summed a policy's reward rows after another
    /// watermark or maturity cutoff than the policy counts with (an engine bug).
    #[error("policy `{0}`: its reward rows were summed over the partitions of this run under other settings than it counts with (an engine bug: please report it with the config and state)")]
    Summed(String),
}
