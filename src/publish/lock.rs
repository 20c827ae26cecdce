//! The lock of an output directory: one publisher or rollback at a time, and no
//! publish over a version the run did not read.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The lock of an output directory; released when dropped (or when the process
/// dies, so a killed publisher never leaves it stuck).
///
/// It is an advisory `flock` on `DIR/.lock`: the kernel releases it when the
/// holder's last descriptor closes, however the holder ends (exit, panic, SIGKILL),
/// so a lock file left behind by a killed process is never "held" and needs no
/// recovery. The file names the holder (pid and start time) for the message a
/// second publisher gets. The lock also remembers the version that was current
/// when it was taken (and after each publish or rollback through it): publishing
/// refuses if `current` moved meanwhile, which only a writer that ignores the
/// lock can do, so a run never publishes over a version it did not read.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    dir: PathBuf,
    /// The current version this holder last saw; 0 for none (versions start at 1).
    seen: AtomicU64,
}

impl Lock {
    /// The version that was current when the lock was taken, or that this holder
    /// made current since.
    #[must_use]
    pub fn current_seen(&self) -> Option<u64> {
        match self.seen.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }

    pub(super) fn saw(&self, id: u64) {
        self.seen.store(id, Ordering::Relaxed);
    }
}

impl Lock {
    /// Takes `dir`'s lock without waiting; `current` reads the version current then
    /// (called once the lock is held).
    pub(super) fn take(dir: &Path, current: impl FnOnce() -> Result<Option<u64>>) -> Result<Lock> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| Error::io(p, e)
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(".lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let by = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" ({holder})")
                };
                return Err(Error::Locked {
                    path,
                    reason: format!("another bandit-engine is publishing to or rolling back this directory{by}; wait for it to finish (the lock is released when it exits, even if killed) and run again"),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
        // Who holds it, for the message above; the flock, not this text, is the lock.
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let holder = format!(
            "held by pid {} since {}\n",
            std::process::id(),
            crate::time::format_rfc3339(stamp)
        );
        file.set_len(0)
            .and_then(|()| file.write_all(holder.as_bytes()))
            .map_err(io(&path))?;
        let lock = Lock {
            _file: file,
            dir: dir.to_path_buf(),
            seen: AtomicU64::new(0),
        };
        if let Some(id) = current()? {
            lock.saw(id);
        }
        Ok(lock)
    }

    /// Refuses a lock of another directory, and a `current` that moved since the
    /// holder last saw it (a writer that ignored the lock): publishing then would
    /// replace a version this run never read.
    pub(super) fn check(&self, dir: &Path, now: Option<u64>) -> Result<()> {
        let lock = self;
        if lock.dir != dir {
            return Err(Error::Locked {
                path: dir.join(".lock"),
                reason: format!(
                    "the lock given is the one of {}, not of this directory",
                    lock.dir.display()
                ),
            });
        }
        if now != lock.current_seen() {
            let name = |v: Option<u64>| v.map_or("none".to_owned(), |v| format!("version {v}"));
            return Err(Error::Locked {
                path: dir.join("current"),
                reason: format!(
                    "changed from {} to {} while this run held the lock (something wrote this directory without taking it); nothing was published, since this run's inputs may be stale: run again",
                    name(lock.current_seen()),
                    name(now)
                ),
            });
        }
        Ok(())
    }
}
