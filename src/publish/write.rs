//! Writing bundles so that a half-written file never replaces a good one.

use std::io::Write;
use std::path::Path;

use crate::bundle::BundleDocument;
use crate::error::{Error, Result};

/// Writes `text` to `path` atomically: into a temporary file in the same directory,
/// flushed and synced, then renamed over `path`. Readers see the old file or the new
/// one, never a mix; a crash leaves the old file in place.
///
/// # Errors
///
/// [`Error::Io`] if the directory cannot be created or the file written or renamed.
pub fn write_atomic(path: &Path, text: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".bandit-engine-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(text).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    // The rename is durable only once the directory entry is.
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// Publishes a bundle to one file: runs the publishing guards that need no previous
/// bundle ([`super::guard::check_publishable`]: schema rules, bundle contract, entity
/// weights), then writes it atomically. To publish bundle and state together with
/// versions, a lock and rollback, use [`super::Store`] (as `retrain` does).
///
/// # Errors
///
/// [`Error::Refused`] if a guard fails (the old file is then untouched);
/// [`Error::Io`] as [`write_atomic`].
pub fn publish(doc: &BundleDocument, path: &Path) -> Result<()> {
    let text = doc.to_json_pretty();
    let reread = super::guard::check_publishable(&text, None, &path.display().to_string())?;
    debug_assert_eq!(reread.raw(), doc.raw());
    write_atomic(path, text.as_bytes())
}
