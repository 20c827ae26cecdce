//! Reading a query result's text cells: the error that names a cell, and NULL as
//! engines write it.

use crate::error::Error;

/// [`Error::InvalidStatistics`] at a row (1-based; 0 for the header) and column.
pub(super) fn invalid(file: &str, line: u64, field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidStatistics {
        file: file.to_owned(),
        line,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A cell of a column that may be NULL, with `\N` (how ClickHouse, MySQL and
/// PostgreSQL's text format write NULL) read as empty, as other engines write it.
pub(super) fn unless_null(cell: &str) -> &str {
    if cell == "\\N" {
        ""
    } else {
        cell
    }
}
