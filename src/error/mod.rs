//! The crate's error type, and the error enums of the stages it wraps (each stage
//! re-exports its own: `policy::PolicyError`, `attribution::AttributionError`, …). They
//! live here, not in their stages, so the error module depends on no stage.
//!
//! Every message says what went wrong, where (file, line, field or key path) and,
//! where there is one, what to do about it.

use std::path::PathBuf;

mod attribution;
mod evaluation;
mod fit;
mod linear;
mod policy;
mod simulation;

pub use attribution::AttributionError;
pub use evaluation::EvaluationError;
pub use fit::FitError;
pub use linear::LinearError;
pub use policy::PolicyError;
pub use simulation::SimulationError;

/// Errors of the engine's public functions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A malformed event record, reported in `--strict` mode (otherwise quarantined).
    #[error("{file}:{line}: {field}: {reason}")]
    InvalidRecord {
        /// The input file.
        file: String,
        /// 1-based line (ndjson, csv) or row (parquet).
        line: u64,
        /// The offending field, as a path (`layers[0].bucket`), or `record`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An input file that cannot be read as events at all (unknown extension,
    /// unknown columns, unreadable parquet).
    #[error("{file}: {reason}")]
    InvalidEventFile {
        /// The input file.
        file: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A config bundle that is not valid JSON or breaks the bundle contract.
    #[error("{file}: {key}: {reason}")]
    InvalidBundle {
        /// The bundle file, or `<memory>`.
        file: String,
        /// JSON path of the offending value (`layers[1].policies[0].allocations`).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A `.traffical/config.yaml` that does not parse or does not validate.
    #[error("{file}:{line}:{column} {key}: {reason}")]
    InvalidConfig {
        /// The config file.
        file: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
        /// Dotted key path (`optimization.policy_cta.goal.event`).
        key: String,
        /// What is wrong and, where possible, a suggestion.
        reason: String,
    },
    /// A parameter of a run outside its domain (`--units 0`, a negative interval).
    #[error(transparent)]
    Parameter(#[from] ParameterError),
    /// A learner's parameters, goal or arm statistics it cannot fit from.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Attribution settings or inputs it cannot compute (too many rows, a goal it does
    /// not compute, an unknown credit outcome).
    #[error(transparent)]
    Attribution(#[from] AttributionError),
    /// An off-policy evaluation whose inputs disagree or cannot be estimated from.
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
    /// A simulation or synthetic log that cannot be run.
    #[error(transparent)]
    Simulation(#[from] SimulationError),
    /// `fit` parameters that do not suit the algorithm, or a table it cannot fit.
    #[error(transparent)]
    Fit(#[from] FitError),
    /// More rows in one run than the engine's 32-bit row indices address.
    #[error("{rows} {what} in one run; the limit is {limit}: split the input by day or by unit")]
    TooManyRows {
        /// What was counted (`track events`, `rows in one attribution run`).
        what: &'static str,
        /// How many there were.
        rows: u64,
        /// The most there may be.
        limit: u64,
    },
    /// The run's instant (as-of) cannot be used: before the input bundle's `version`
    /// or the state's `asOf` (time would move backwards), too far ahead of the clock,
    /// or unknown (no event accepted and none given).
    #[error("{reason}")]
    AsOf {
        /// What is wrong and what to do.
        reason: String,
    },
    /// A learner could not fit a policy on its statistics (a non-finite reward or
    /// feature, naming the row; a matrix that cannot be factorised). A retrain reports
    /// the policy `errored` with this reason and goes on with the others.
    #[error("{reason}")]
    Learner {
        /// The policy.
        policy_id: String,
        /// What went wrong, and where.
        reason: String,
    },
    /// A state file (`state.json`) that does not parse, is of another format version,
    /// or whose checksum does not match its content.
    #[error("{file}: {key}: {reason}")]
    InvalidState {
        /// The state file.
        file: String,
        /// JSON path of the offending value, or `checksum` / `formatVersion`.
        key: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A statistics file (the result of the warehouse queries, csv or parquet) that
    /// cannot be read: a missing column, a value of the wrong type, a repeated row.
    #[error("{file}:{line}: {field}: {reason}")]
    InvalidStatistics {
        /// The statistics file.
        file: String,
        /// 1-based data row (0: the file as a whole, or its header).
        line: u64,
        /// The column.
        field: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A warehouse the statistics queries run on (`retrain --warehouse`) could not be
    /// reached or refused the queries: connection refused, authentication, a missing
    /// relation or column, a column of the wrong type.
    #[error("warehouse {target}: {reason}")]
    Warehouse {
        /// The warehouse, without its password (`user@host:port/dbname`).
        target: String,
        /// What went wrong and what to do.
        reason: String,
    },
    /// A bundle or state that publishing refused to write: a guard failed. Nothing
    /// was written; the version in place stays current.
    #[error("refused to publish {file}: {key}: {reason}")]
    Refused {
        /// The file that would have been written.
        file: String,
        /// JSON path of the offending value.
        key: String,
        /// Which check failed and why.
        reason: String,
    },
    /// Another process holds the output directory's lock.
    #[error("{path}: {reason}")]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// What holds it and what to do.
        reason: String,
    },
    /// A table given to `fit` that cannot be used: unknown extension, malformed csv,
    /// a missing column (the message lists the columns there are), a column of the
    /// wrong type.
    #[error("{file}: {reason}")]
    InvalidTable {
        /// The table file.
        file: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Several problems in one config file, each an [`Error::InvalidConfig`], in
    /// file order (line, then column). A single problem is an
    /// [`Error::InvalidConfig`] itself.
    #[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    InvalidConfigs {
        /// The problems, sorted by line and column.
        errors: Vec<Error>,
    },
    /// A failure inside polars while building or querying event tables.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// A parameter value outside its domain: which parameter, what it must be, what it was.
/// Each stage's error enum wraps it for its own parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid parameter {name}: must be {expected}, found {found}")]
pub struct ParameterError {
    /// The parameter, as the config or command line spells it.
    pub name: &'static str,
    /// Its domain, in words (`a positive number`, `in [0, 1]`, `at least 1`).
    pub expected: &'static str,
    /// The value given.
    pub found: String,
}

impl ParameterError {
    /// A refusal of `found` for `name`, whose domain is `expected`.
    pub fn new(name: &'static str, expected: &'static str, found: impl ToString) -> Self {
        Self {
            name,
            expected,
            found: found.to_string(),
        }
    }

    /// `Ok` if `v` is a finite number above 0, else the refusal.
    ///
    /// # Errors
    ///
    /// This parameter's [`ParameterError`].
    pub fn positive(name: &'static str, v: f64) -> Result<f64, Self> {
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(Self::new(name, "a positive number", v))
        }
    }

    /// `Ok` if `v` is a finite number at or above 0, else the refusal.
    ///
    /// # Errors
    ///
    /// This parameter's [`ParameterError`].
    pub fn non_negative(name: &'static str, v: f64) -> Result<f64, Self> {
        if v >= 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(Self::new(name, "a non-negative number", v))
        }
    }

    /// `Ok` if the count `n` is at least 1, else the refusal.
    ///
    /// # Errors
    ///
    /// This parameter's [`ParameterError`].
    pub fn at_least_one<T: PartialOrd + From<u8> + ToString>(
        name: &'static str,
        n: T,
    ) -> Result<T, Self> {
        if n >= T::from(1) {
            Ok(n)
        } else {
            Err(Self::new(name, "at least 1", n))
        }
    }

    /// `Ok` if the count `n` is in `1..=max`, else the refusal worded `expected`
    /// (which names the bound: `between 1 and 100`). Counts that set the work done
    /// are bounded so a typo cannot start a run of hours.
    ///
    /// # Errors
    ///
    /// This parameter's [`ParameterError`].
    pub fn count_up_to<T: PartialOrd + From<u8> + ToString>(
        name: &'static str,
        expected: &'static str,
        n: T,
        max: T,
    ) -> Result<T, Self> {
        if n >= T::from(1) && n <= max {
            Ok(n)
        } else {
            Err(Self::new(name, expected, n))
        }
    }
}

impl ParameterError {
    /// `Ok` if `draws` (Monte Carlo draws of probability-of-best) is in
    /// `1..=`[`MAX_DRAWS`], else the refusal.
    ///
    /// # Errors
    ///
    /// The `draws` [`ParameterError`].
    pub fn draws(draws: u32) -> Result<u32, Self> {
        Self::count_up_to("draws", MAX_DRAWS_TEXT, draws, MAX_DRAWS)
    }
}

/// The most Monte Carlo draws of probability-of-best: its standard error at 10 000
/// draws is at most 0.005, at this bound 0.0005; more only costs time.
pub const MAX_DRAWS: u32 = 1_000_000;
/// [`MAX_DRAWS`] in words, for [`ParameterError::expected`].
pub const MAX_DRAWS_TEXT: &str = "between 1 and 1000000";
/// The most cross-fitting folds of a reward model (scikit-learn's default is 5; past
/// a few dozen each fold's model is the full model).
pub const MAX_FOLDS: usize = 100;

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_checks_name_the_parameter_its_domain_and_the_value() {
        assert_eq!(ParameterError::positive("c", 2.0), Ok(2.0));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = ParameterError::positive("c", bad).unwrap_err();
            assert_eq!((e.name, e.expected), ("c", "a positive number"));
        }
        assert_eq!(ParameterError::non_negative("lambda", 0.0), Ok(0.0));
        assert!(ParameterError::non_negative("lambda", -0.5).is_err());
        assert_eq!(ParameterError::at_least_one("draws", 1u32), Ok(1));
        let e = Error::from(ParameterError::at_least_one("draws", 0u32).unwrap_err());
        assert_eq!(
            e.to_string(),
            "invalid parameter draws: must be at least 1, found 0"
        );
        assert_eq!(
            ParameterError::count_up_to("n_folds", "between 1 and 100", 100usize, MAX_FOLDS),
            Ok(100)
        );
        for bad in [0usize, 101, 100_000] {
            let e = ParameterError::count_up_to("n_folds", "between 1 and 100", bad, MAX_FOLDS);
            assert_eq!(e.unwrap_err().found, bad.to_string());
        }
    }

    #[test]
    fn stage_errors_stay_matchable_through_the_crate_error() {
        let e: Error = crate::policy::PolicyError::NonFiniteSum {
            arm: 2,
            sum: f64::INFINITY,
        }
        .into();
        assert!(matches!(
            e,
            Error::Policy(crate::policy::PolicyError::NonFiniteSum { arm: 2, .. })
        ));
        assert_eq!(e.to_string(), "arm 2: reward sum inf is not finite");
    }
}
