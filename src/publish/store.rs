//! An output directory of versions: bundle and state published together, the
//! previous versions kept, a lock against concurrent publishers, rollback.
//!
//! ```text
//! DIR/.lock                      held (flock) by the one process publishing or rolling back
//! DIR/versions/000007/           one version: bundle.json, state.json, report.json,
//!                                quarantine.ndjson, discovered.yaml, manifest.json
//! DIR/current -> versions/000007 the current version (a symlink)
//! DIR/bundle.json -> current/bundle.json, and likewise state.json, report.json, ...
//! ```
//!
//! **Publishing** writes every file of the new version into `versions/.tmp-…`, syncs
//! each file and the directory, renames it to `versions/NNNNNN`, then points
//! `current` at it by renaming a new symlink over the old one (atomic on POSIX), and
//! syncs the directory. A crash at any point leaves `current` on a complete version,
//! old or new, whose bundle and state belong together (the state names its bundle's
//! SHA-256). Leftover temporary directories are removed by the next publisher.
//! Readers that open `DIR/bundle.json` always get a whole bundle; a reader that needs
//! the matching state should resolve `current` once and read both files from it.
//!
//! **Versions kept:** the current one, the chain of versions it replaced (what
//! rollback walks back through) up to [`PublishOptions::keep`] in all, newest first.
//! Older ones are renamed away (atomically) and then deleted.
//!
//! **Rollback** points `current` at the version the current one replaced (its
//! manifest's `previous`), after verifying that version whole; the version rolled
//! back from stays on disk until pruned. The next publish replaces the restored
//! version and records it as its `previous`.
//!
//! On systems without symlinks `current` is a small file naming the version, written
//! atomically, and the top-level files are copies refreshed after each switch.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::BundleDocument;
use crate::error::{Error, Result};
use crate::state::{sha256_hex, EngineState};

pub use super::lock::Lock;

/// The files of a version that the top level links to, in this order.
pub const VERSION_FILES: [&str; 5] = [
    "bundle.json",
    "state.json",
    "report.json",
    "quarantine.ndjson",
    "discovered.yaml",
];

/// Publishing knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishOptions {
    /// Versions kept in the rollback chain, the current one included (at least 2).
    pub keep: usize,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self { keep: 10 }
    }
}

/// A version's `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// The version number (the directory name).
    pub version: u64,
    /// The version that was current when this one was published.
    pub previous: Option<u64>,
    /// The bundle's `version` field.
    pub bundle_version: String,
    /// SHA-256 of `bundle.json`.
    pub bundle_sha256: String,
    /// SHA-256 of `state.json`, when the version has one.
    pub state_sha256: Option<String>,
}

/// A verified version: manifest, bundle and state that belong together.
#[derive(Clone, Debug)]
pub struct Version {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its directory.
    pub dir: PathBuf,
    /// The bundle.
    pub bundle: BundleDocument,
    /// The state, when the version has one.
    pub state: Option<EngineState>,
}

/// An output directory of versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

fn version_name(id: u64) -> String {
    format!("{id:06}")
}

/// Syncs a directory so renames inside it survive a power loss.
fn sync_dir(dir: &Path) -> Result<()> {
    super::crash::point("before a directory's fsync");
    #[cfg(unix)]
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io(dir))?;
    super::crash::point("after a directory's fsync");
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(io(path))?;
    super::crash::point("after creating a file");
    let half = bytes.len() / 2;
    f.write_all(&bytes[..half]).map_err(io(path))?;
    super::crash::point("half-way through writing a file");
    f.write_all(&bytes[half..]).map_err(io(path))?;
    super::crash::point("after writing a file, before its fsync");
    f.sync_all().map_err(io(path))?;
    super::crash::point("after a file's fsync");
    Ok(())
}

impl Store {
    /// The store in `dir` (nothing is created until something is published).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn versions_dir(&self) -> PathBuf {
        self.dir.join("versions")
    }

    /// Takes the directory's lock without waiting (see [`Lock`]).
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if another process holds it (naming the holder's pid);
    /// [`Error::Io`] if the directory or lock file cannot be created.
    pub fn lock(&self) -> Result<Lock> {
        Lock::take(&self.dir, || self.current_id())
    }

    /// Refuses a lock of another directory, or a `current` that moved since the
    /// holder last saw it.
    fn check_lock(&self, lock: &Lock) -> Result<()> {
        lock.check(&self.dir, self.current_id()?)
    }

    /// Version numbers on disk, ascending (temporary and discarded ones excluded).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the versions directory cannot be listed.
    pub fn versions(&self) -> Result<Vec<u64>> {
        let dir = self.versions_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(dir, e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(io(&dir))?;
            if let Some(id) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) {
                out.push(id);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The current version number, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if `current` exists but cannot be read.
    pub fn current_id(&self) -> Result<Option<u64>> {
        let link = self.dir.join("current");
        let target = match std::fs::symlink_metadata(&link) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(link, e)),
            Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&link).map_err(io(&link))?,
            Ok(_) => PathBuf::from(std::fs::read_to_string(&link).map_err(io(&link))?.trim()),
        };
        let id = target
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| Error::InvalidState {
                file: link.display().to_string(),
                key: "current".into(),
                reason: format!(
                    "points at {}, not at versions/NNNNNN; repair it by hand",
                    target.display()
                ),
            })?;
        Ok(Some(id))
    }

    /// Reads and verifies one version: its manifest, the bundle and state hashes it
    /// records, the bundle's and state's own checks, and that the state names this
    /// bundle.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], [`Error::InvalidBundle`], or [`Error::InvalidState`] saying
    /// what does not match.
    pub fn load(&self, id: u64) -> Result<Version> {
        let dir = self.versions_dir().join(version_name(id));
        let mpath = dir.join("manifest.json");
        let bad = |key: &str, reason: String| Error::InvalidState {
            file: mpath.display().to_string(),
            key: key.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(&mpath).map_err(io(&mpath))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| bad("manifest", format!("not a version manifest: {e}")))?;
        if manifest.version != id {
            return Err(bad(
                "version",
                format!("says {}, directory is {id}", manifest.version),
            ));
        }
        let bpath = dir.join("bundle.json");
        let bytes = std::fs::read(&bpath).map_err(io(&bpath))?;
        let sha = sha256_hex(&bytes);
        if sha != manifest.bundle_sha256 {
            return Err(bad(
                "bundleSha256",
                format!(
                    "{} does not match bundle.json ({sha})",
                    manifest.bundle_sha256
                ),
            ));
        }
        let bundle = BundleDocument::from_str_named(
            &String::from_utf8_lossy(&bytes),
            &bpath.display().to_string(),
        )?;
        let state = match &manifest.state_sha256 {
            None => None,
            Some(expected) => {
                let spath = dir.join("state.json");
                let sbytes = std::fs::read(&spath).map_err(io(&spath))?;
                let ssha = sha256_hex(&sbytes);
                if &ssha != expected {
                    return Err(bad(
                        "stateSha256",
                        format!("{expected} does not match state.json ({ssha})"),
                    ));
                }
                let state = EngineState::from_str_named(
                    &String::from_utf8_lossy(&sbytes),
                    &spath.display().to_string(),
                )?;
                if state.bundle_sha256 != sha {
                    return Err(Error::InvalidState {
                        file: spath.display().to_string(),
                        key: "state.bundleSha256".into(),
                        reason: format!(
                            "{} is not this version's bundle ({sha})",
                            state.bundle_sha256
                        ),
                    });
                }
                Some(state)
            }
        };
        Ok(Version {
            manifest,
            dir,
            bundle,
            state,
        })
    }

    /// The current version, verified; `None` before the first publish.
    ///
    /// # Errors
    ///
    /// As [`Store::load`].
    pub fn current(&self) -> Result<Option<Version>> {
        self.current_id()?.map(|id| self.load(id)).transpose()
    }

    /// Publishes a new version made of `bundle` (text), `state` (text, optional) and
    /// the `other` files (name, bytes), and makes it current. The caller has checked
    /// the content ([`super::guard`]); this makes it durable and atomic.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if `lock` is not this directory's, or `current` moved since
    /// the lock was taken (see [`Lock`]); [`Error::Io`]. On any error the previous
    /// version stays current.
    pub fn publish(
        &self,
        lock: &Lock,
        bundle: &str,
        state: Option<&str>,
        other: &[(&str, &[u8])],
        options: PublishOptions,
    ) -> Result<Manifest> {
        self.check_lock(lock)?;
        let versions = self.versions_dir();
        std::fs::create_dir_all(&versions).map_err(io(&versions))?;
        self.clean_leftovers()?;
        if self.current_id()?.is_none() {
            self.adopt(lock, options)?;
            self.refuse_foreign_files()?;
        }
        let manifest = self.publish_version(bundle, state, other, options)?;
        lock.saw(manifest.version);
        Ok(manifest)
    }

    fn publish_version(
        &self,
        bundle: &str,
        state: Option<&str>,
        other: &[(&str, &[u8])],
        options: PublishOptions,
    ) -> Result<Manifest> {
        let versions = self.versions_dir();
        let previous = self.current_id()?;
        let id = self
            .versions()?
            .last()
            .copied()
            .unwrap_or(0)
            .max(previous.unwrap_or(0))
            + 1;
        let bundle_version = serde_json::from_str::<serde_json::Value>(bundle)
            .ok()
            .and_then(|v| v["version"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let manifest = Manifest {
            version: id,
            previous,
            bundle_version,
            bundle_sha256: sha256_hex(bundle.as_bytes()),
            state_sha256: state.map(|s| sha256_hex(s.as_bytes())),
        };
        let tmp = versions.join(format!(".tmp-{}-{}", version_name(id), std::process::id()));
        std::fs::create_dir(&tmp).map_err(io(&tmp))?;
        super::crash::point("after creating the temporary version directory");
        write_synced(&tmp.join("bundle.json"), bundle.as_bytes())?;
        if let Some(s) = state {
            write_synced(&tmp.join("state.json"), s.as_bytes())?;
        }
        for (name, bytes) in other {
            write_synced(&tmp.join(name), bytes)?;
        }
        let mut m = serde_json::to_string_pretty(&manifest).expect("the manifest serialises");
        m.push('\n');
        write_synced(&tmp.join("manifest.json"), m.as_bytes())?;
        sync_dir(&tmp)?;
        let target = versions.join(version_name(id));
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
        super::crash::point("after renaming the version into place");
        sync_dir(&versions)?;
        self.point_current(id)?;
        self.prune(options.keep.max(2))?;
        Ok(manifest)
    }

    /// Makes the version the current one replaced current again.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if there is no current version, it has no previous
    /// one, or the previous one is gone or damaged (then nothing changes).
    pub fn rollback(&self, lock: &Lock) -> Result<(Manifest, Version)> {
        self.check_lock(lock)?;
        let nothing = |reason: String| Error::InvalidState {
            file: self.dir.display().to_string(),
            key: "current".into(),
            reason,
        };
        let Some(id) = self.current_id()? else {
            return Err(nothing(
                "nothing was published here, so there is nothing to roll back".into(),
            ));
        };
        let from = self.load(id)?.manifest;
        let Some(prev) = from.previous else {
            return Err(nothing(format!(
                "version {id} is the first one published here; there is no previous version to restore"
            )));
        };
        if !self.versions()?.contains(&prev) {
            return Err(nothing(format!(
                "version {prev}, which version {id} replaced, was pruned; nothing to restore"
            )));
        }
        let to = self.load(prev)?;
        self.point_current(prev)?;
        lock.saw(prev);
        Ok((from, to))
    }

    /// Before the first version: a `bundle.json` (and `state.json`) already in the
    /// directory as plain files, from an older engine or a run in place, becomes
    /// version 1, so the first publish can be rolled back to it. Files that do not
    /// read as a bundle (or a state naming that bundle) are left out.
    fn adopt(&self, _lock: &Lock, options: PublishOptions) -> Result<()> {
        let top = self.dir.join("bundle.json");
        if !std::fs::symlink_metadata(&top).is_ok_and(|m| m.is_file()) {
            return Ok(());
        }
        let Ok(bundle) = std::fs::read_to_string(&top) else {
            return Ok(());
        };
        if BundleDocument::from_str_named(&bundle, "adopted").is_err() {
            return Ok(());
        }
        let state = std::fs::read_to_string(self.dir.join("state.json"))
            .ok()
            .filter(|s| {
                EngineState::from_str_named(s, "adopted")
                    .is_ok_and(|st| st.bundle_sha256 == sha256_hex(bundle.as_bytes()))
            });
        // The other top-level files there (an older engine's report, quarantine, ...)
        // go into version 1 with the bundle, so replacing them by links loses nothing.
        let others: Vec<(&str, Vec<u8>)> = VERSION_FILES[2..]
            .iter()
            .filter(|name| {
                std::fs::symlink_metadata(self.dir.join(name)).is_ok_and(|m| m.is_file())
            })
            .filter_map(|name| Some((*name, std::fs::read(self.dir.join(name)).ok()?)))
            .collect();
        let others: Vec<(&str, &[u8])> = others.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        self.publish_version(&bundle, state.as_deref(), &others, options)?;
        Ok(())
    }

    /// Before the first version, when nothing was adopted: plain files where the
    /// top-level links go were not written by this tool, and publishing would replace
    /// them by links; refuse instead of destroying them.
    fn refuse_foreign_files(&self) -> Result<()> {
        if self.current_id()?.is_some() {
            return Ok(());
        }
        let foreign: Vec<&str> = VERSION_FILES
            .iter()
            .copied()
            .filter(|name| {
                std::fs::symlink_metadata(self.dir.join(name)).is_ok_and(|m| !m.is_symlink())
            })
            .collect();
        match foreign.first() {
            None => Ok(()),
            Some(first) => Err(Error::Refused {
                file: self.dir.join(first).display().to_string(),
                key: "(output directory)".into(),
                reason: format!(
                    "{} already in {} and not written by bandit-engine (no bundle there to adopt as version 1); publishing would replace {} by links: move {} away or choose another --out",
                    foreign.join(", "),
                    self.dir.display(),
                    if foreign.len() == 1 { "it" } else { "them" },
                    if foreign.len() == 1 { "it" } else { "them" },
                ),
            }),
        }
    }

    /// Removes temporary directories and links a killed publisher left behind.
    fn clean_leftovers(&self) -> Result<()> {
        let versions = self.versions_dir();
        for e in std::fs::read_dir(&versions).map_err(io(&versions))? {
            let e = e.map_err(io(&versions))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".tmp-") || name.starts_with(".trash-") {
                std::fs::remove_dir_all(e.path()).map_err(io(&e.path()))?;
            }
        }
        for e in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let e = e.map_err(io(&self.dir))?;
            if e.file_name().to_string_lossy().starts_with(".current.tmp-") {
                std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
            }
        }
        Ok(())
    }

    #[cfg(unix)]
    fn point_current(&self, id: u64) -> Result<()> {
        let tmp = self
            .dir
            .join(format!(".current.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let target = Path::new("versions").join(version_name(id));
        std::os::unix::fs::symlink(&target, &tmp).map_err(io(&tmp))?;
        super::crash::point("after making the new current link");
        let link = self.dir.join("current");
        std::fs::rename(&tmp, &link).map_err(io(&link))?;
        super::crash::point("after renaming current");
        sync_dir(&self.dir)?;
        for name in VERSION_FILES {
            let top = self.dir.join(name);
            let want = Path::new("current").join(name);
            if std::fs::read_link(&top).is_ok_and(|t| t == want) {
                continue;
            }
            let tmp = self
                .dir
                .join(format!(".current.tmp-{}-{name}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&want, &tmp).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &top).map_err(io(&top))?;
            super::crash::point("after renaming a top-level link");
        }
        sync_dir(&self.dir)
    }

    #[cfg(not(unix))]
    fn point_current(&self, id: u64) -> Result<()> {
        let target = format!("versions/{}\n", version_name(id));
        super::write::write_atomic(&self.dir.join("current"), target.as_bytes())?;
        let from = self.versions_dir().join(version_name(id));
        for name in VERSION_FILES {
            if let Ok(bytes) = std::fs::read(from.join(name)) {
                super::write::write_atomic(&self.dir.join(name), &bytes)?;
            }
        }
        Ok(())
    }

    /// Keeps the current version and the chain it replaced, `keep` in all; removes
    /// every other version.
    fn prune(&self, keep: usize) -> Result<()> {
        let mut chain = Vec::new();
        let mut at = self.current_id()?;
        while let Some(id) = at {
            if chain.len() >= keep {
                break;
            }
            chain.push(id);
            let m = self
                .versions_dir()
                .join(version_name(id))
                .join("manifest.json");
            at = std::fs::read_to_string(&m)
                .ok()
                .and_then(|t| serde_json::from_str::<Manifest>(&t).ok())
                .and_then(|m| m.previous);
        }
        for id in self.versions()? {
            if chain.contains(&id) {
                continue;
            }
            let dir = self.versions_dir().join(version_name(id));
            let trash = self
                .versions_dir()
                .join(format!(".trash-{}", version_name(id)));
            std::fs::rename(&dir, &trash).map_err(io(&dir))?;
            super::crash::point("after renaming an old version to the trash");
            std::fs::remove_dir_all(&trash).map_err(io(&trash))?;
            super::crash::point("after deleting an old version");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
