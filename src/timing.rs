//! Phase timings for looking into where a run's time goes: with the environment
//! variable `BANDIT_ENGINE_TIMINGS` set, each timed phase prints its wall time to
//! standard error as it ends (phases run in parallel print as they end).

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BANDIT_ENGINE_TIMINGS").is_some())
}

/// A phase being timed: prints `timing <name>: <seconds>` when dropped.
pub(crate) struct Phase {
    name: &'static str,
    start: Option<Instant>,
}

/// Starts timing phase `name` (a no-op unless timings are on).
pub(crate) fn phase(name: &'static str) -> Phase {
    Phase {
        name,
        start: enabled().then(Instant::now),
    }
}

/// Runs `f` as phase `name`.
pub(crate) fn timed<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let _phase = phase(name);
    f()
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            eprintln!(
                "timing {}: {:.3} s",
                self.name,
                start.elapsed().as_secs_f64()
            );
        }
    }
}
