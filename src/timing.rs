//! Phase timings for looking into where a run's time goes: with the environment
//! variable `BANDIT_ENGINE_TIMINGS` set, each timed phase prints its wall time to
//! standard error as it ends (phases run in parallel print as they end), with the
//! CPU time the whole process spent meanwhile (user and system, all threads: a phase
//! that keeps both cores busy shows twice its wall time; phases running beside it
//! count too), the process's resident memory then, its peak so far and malloc's heap
//! in use (Linux; blank elsewhere).

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BANDIT_ENGINE_TIMINGS").is_some())
}

/// A phase being timed: prints `timing <name>: <seconds>` when dropped.
pub(crate) struct Phase {
    name: &'static str,
    start: Option<(Instant, f64)>,
}

/// Starts timing phase `name` (a no-op unless timings are on).
pub(crate) fn phase(name: &'static str) -> Phase {
    Phase {
        name,
        start: enabled().then(|| (Instant::now(), cpu_seconds())),
    }
}

/// Runs `f` as phase `name`.
pub(crate) fn timed<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let _phase = phase(name);
    f()
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some((start, cpu)) = self.start {
            eprintln!(
                "timing {}: {:.3} s (cpu {:.3} s){}",
                self.name,
                start.elapsed().as_secs_f64(),
                cpu_seconds() - cpu,
                memory()
            );
        }
    }
}

/// The CPU time of the whole process so far, in seconds (0 where it cannot be read).
fn cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes only into `t`.
        if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0 {
            #[allow(clippy::cast_precision_loss)] // a process's CPU seconds are far below 2^53.
            return t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9;
        }
    }
    0.0
}

/// `, rss X MB (anon A, file F), peak Y MB` from `/proc/self/status` (nothing where it
/// cannot be read), then with glibc `, heap H MB in use of T MB` from `mallinfo2` (all
/// arenas): resident memory stays at its peak once freed memory is kept for reuse
/// (`crate::memory`), so the heap in use tells what a phase holds.
fn memory() -> String {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return String::new();
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or_else(|| "?".to_owned(), |kb| (kb / 1024).to_string())
    };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let heap = {
        // SAFETY: mallinfo2 only reads malloc's counters.
        let m = unsafe { libc::mallinfo2() };
        format!(
            ", heap {} MB in use of {} MB",
            m.uordblks >> 20,
            m.arena >> 20
        )
    };
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let heap = String::new();
    format!(
        ", rss {} MB (anon {}, file {}), peak {} MB{heap}",
        field("VmRSS:"),
        field("RssAnon:"),
        field("RssFile:"),
        field("VmHWM:")
    )
}
