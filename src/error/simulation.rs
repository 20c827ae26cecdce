//! What a simulation or a synthetic log refuses beyond its parameters' domains
//! ([`crate::error::ParameterError`]): an algorithm it does not know, and a bundle the
//! simulated SDK cannot compile or resolve.

/// Errors of [`crate::simulate`] and [`crate::synth`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// An algorithm name the simulation does not run.
    #[error("unknown algorithm {name:?}; choose from {known}")]
    UnknownAlgorithm {
        /// The name given.
        name: String,
        /// The names it runs, comma-separated.
        known: String,
    },
    /// A bundle the simulated SDK cannot compile or resolve a unit with.
    #[error("the simulated SDK cannot {step} the bundle: {reason}")]
    Sdk {
        /// `compile` or `resolve`.
        step: &'static str,
        /// The resolver's error.
        reason: String,
    },
}
