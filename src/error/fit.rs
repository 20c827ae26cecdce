//! What `fit` refuses before or while fitting: parameters that do not suit the
//! algorithm, features it cannot use, and linear models that cannot be solved.
//! Values out of their domain are [`crate::error::ParameterError`]s; table problems
//! are [`crate::Error::InvalidTable`] and [`crate::Error::InvalidRecord`].

/// Errors of [`crate::fit`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// A parameter given to an algorithm that does not read it (a `--v` given to
    /// LinUCB is a mistake worth saying).
    #[error("invalid parameter {name}: applies to {applies_to}, not {algorithm}")]
    NotApplicable {
        /// The parameter.
        name: &'static str,
        /// The algorithms it applies to, in words (`linucb and lints`).
        applies_to: String,
        /// The algorithm given.
        algorithm: &'static str,
    },
    /// A linear algorithm without feature columns.
    #[error("invalid parameter features: {algorithm} needs feature columns (--features a,b,c)")]
    NeedsFeatures {
        /// The algorithm.
        algorithm: &'static str,
    },
    /// Feature columns given to a multi-armed algorithm.
    #[error("invalid parameter features: {algorithm} does not use features: use linucb or lints")]
    NoFeatures {
        /// The algorithm.
        algorithm: &'static str,
    },
    /// A feature column listed twice, or that is the arm or reward column.
    #[error(
        "invalid parameter features: column \"{column}\" is listed twice or is the arm or reward"
    )]
    DuplicateFeature {
        /// The column.
        column: String,
    },
    /// A linear model that cannot be fitted: an `A` that is not positive definite or
    /// too ill-conditioned.
    #[error("linear fit: {}{reason}", entity.as_ref().map(|e| format!("entity \"{e}\": ")).unwrap_or_default())]
    Linear {
        /// The entity, for a per-entity fit.
        entity: Option<String>,
        /// What failed, naming the arm and what to do.
        reason: String,
    },
}
