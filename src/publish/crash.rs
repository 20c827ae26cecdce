//! Crash points of publishing, for the tests that kill a publisher at each write,
//! fsync and rename (`tests/it/crash.rs`). In debug builds (what the tests run),
//! `BANDIT_ENGINE_CRASH_AT=N` aborts the process at the N-th point it passes, and
//! `BANDIT_ENGINE_CRASH_LOG=1` prints each point as it is passed; release builds
//! compile the points to nothing and never read the variables.

#[cfg(debug_assertions)]
pub(super) fn point(what: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    static PASSED: AtomicU64 = AtomicU64::new(0);
    let at = *AT.get_or_init(|| {
        std::env::var("BANDIT_ENGINE_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    let n = PASSED.fetch_add(1, Ordering::Relaxed) + 1;
    if std::env::var_os("BANDIT_ENGINE_CRASH_LOG").is_some() {
        eprintln!("crash point {n}: {what}");
    }
    if at == Some(n) {
        eprintln!("crash point {n} ({what}): aborting");
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub(super) fn point(_what: &str) {}
