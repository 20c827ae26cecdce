//! The error of the linear contextual learners, in a file of its own so the
//! statistics ([`super::linear`]) and their inner loop ([`super::linear_kernel`])
//! both report it without importing each other.

use super::ParameterError;
use crate::linalg::LinalgError;

/// Errors of the linear contextual bandits.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LinearError {
    /// A NaN or infinite input; it never reaches a model.
    #[error("row {row}: {input} is not a finite number")]
    NonFinite {
        /// Which input (`reward`, `feature column 3`, `context field user.age`).
        input: String,
        /// 0-based row.
        row: usize,
    },
    /// A context that is not a JSON object.
    #[error("row {row}: context: {reason}")]
    BadContext {
        /// 0-based row.
        row: usize,
        /// What is wrong.
        reason: String,
    },
    /// An arm index beyond the number of allocations.
    #[error("row {row}: arm {arm} is out of range for {arms} allocations")]
    ArmOutOfRange {
        /// 0-based row.
        row: usize,
        /// The arm index found.
        arm: u32,
        /// Number of allocations.
        arms: usize,
    },
    /// Inputs whose lengths or dimensions disagree.
    #[error("{what}: expected {expected}, found {got}")]
    ShapeMismatch {
        /// What was measured.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Size found.
        got: usize,
    },
    /// A parameter out of its domain.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
    /// A linear fit asked of another algorithm.
    #[error("{algorithm} is not linear_contextual")]
    NotLinear {
        /// The algorithm given.
        algorithm: crate::algorithm::Algorithm,
    },
    /// A declared context feature the policy does not log.
    #[error("contextFeatures: \"{key}\" is not in the policy's contextLogging.allowedFields")]
    FeatureNotLogged {
        /// The feature's key.
        key: String,
    },
    /// The factorisation of an allocation's `A` failed.
    #[error("allocation {arm}: {source}")]
    Linalg {
        /// The allocation index.
        arm: usize,
        /// The backend's error.
        source: LinalgError,
    },
    /// `A` is too ill-conditioned for its solution to mean anything.
    #[error("allocation {arm}: condition number of A is at least {estimate:.3e}, above {limit:.0e}: rescale the features or raise lambda")]
    IllConditioned {
        /// The allocation index.
        arm: usize,
        /// Lower bound of the condition number, `(max Lᵢᵢ / min Lᵢᵢ)²`.
        estimate: f64,
        /// The limit.
        limit: f64,
    },
}
