//! Records set aside: each with the file, line, field and reason, and the original
//! record, so that nothing read is ever lost.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// One refused record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rejected {
    /// The input file.
    pub file: String,
    /// 1-based line (ndjson, csv) or row (parquet).
    pub line: u64,
    /// The offending field (`layers[0].bucket`), or `record`.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
    /// The original record: the ndjson line as text, or for csv and parquet an object
    /// of the row's cells.
    pub record: serde_json::Value,
}

impl Rejected {
    /// The record as a strict-mode error.
    #[must_use]
    pub fn into_error(self) -> Error {
        Error::InvalidRecord {
            file: self.file,
            line: self.line,
            field: self.field,
            reason: self.reason,
        }
    }
}

/// Writes rejected records as ndjson, one object per line with the keys `file`,
/// `line`, `field`, `reason` and `record`. The file is written whole, even when
/// empty, so that its presence says the run checked.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be written.
pub fn write_quarantine(path: &Path, rejected: &[Rejected]) -> Result<()> {
    let io = |e| Error::io(path, e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for r in rejected {
        serde_json::to_writer(&mut out, r).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)
}
