//! The crate's error type.
//!
//! Every message says what went wrong, where (file, line, field or key path) and,
//! where there is one, what to do about it.

use std::path::PathBuf;

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
    /// Parameters of an algorithm or a run that are out of their domain.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why it was refused.
        reason: String,
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
    /// The CLI's exit code for this error: 1 bad input or failure (config, bundle,
    /// events, state, I/O), 3 refused by a publishing guard, 4 output directory
    /// locked by another publisher. (2 is clap's code for a bad command line.)
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Refused { .. } => 3,
            Self::Locked { .. } => 4,
            _ => 1,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
