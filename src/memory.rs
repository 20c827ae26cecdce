//! Process-wide allocator settings, for the binaries built on the engine, and the
//! memory budget of a run ([`MemoryLimit`]).
//!
//! An attribution run over a million exposures and a million track events allocates
//! a few hundred megabytes of short-lived buffers (codes, rows in unit order, the
//! decision index). With glibc's defaults, buffers above its mmap threshold are
//! mapped fresh and returned to the system when freed, so every run pays for the
//! kernel to map and zero them again: on the 2-core VM this project is measured on,
//! that was about 30 % of a run (`cargo bench --bench attribution`: cumulative mode
//! 537 ms with the defaults, 376 ms with freed memory kept). A library must not change
//! process-wide settings behind its caller's back, so this is a function a binary
//! calls at start: the `bandit-engine` CLI does, as do the attribution bench and
//! timing example, so that they measure what the CLI runs.

/// Lets glibc's malloc keep freed memory for reuse instead of returning it to the
/// system: allocations below 1 GiB come from its heaps wherever they fit (a thread's
/// heap holds at most 64 MiB), and the heaps are never trimmed. The process's resident
/// memory then stays at its peak, which suits a command that runs a job and exits. It
/// also caps the heaps at one per core (glibc's default is eight per core): memory one
/// thread's heap freed is then found by the others, so the peak is what the run holds
/// rather than the sum of each heap's own peak (a parquet `metrics` run of the shop log
/// on the 2-core machine: 1.26 GB with the default, 1.02 GB with one heap per core, the
/// same wall time). Call it once, at the start of `main`, before other threads start.
/// It does nothing where the C library is not glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets malloc parameters; called before other threads
    // allocate, as documented above.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_ARENA_MAX, arenas());
    }
}

/// Heaps glibc may keep: one per core the process may use.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn arenas() -> i32 {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .try_into()
        .unwrap_or(i32::MAX)
}

/// How much memory a run may use for its event tables (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimit(pub u64);

impl MemoryLimit {
    /// Half the memory the machine has available now (`MemAvailable` of
    /// `/proc/meminfo`), at least 1 GiB; 8 GiB where that cannot be read.
    #[must_use]
    pub fn from_machine() -> Self {
        let available = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemAvailable:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map(|kb| kb * 1024);
        Self(available.map_or(8 << 30, |b| (b / 2).max(1 << 30)))
    }

    /// Parses `4G`, `512M`, `1.5G`, `2048K` or a number of bytes (binary units).
    ///
    /// # Errors
    ///
    /// A message naming what was expected.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
            Some((i, _)) => t.split_at(i),
            None => (t, ""),
        };
        let scale: u64 = match unit
            .to_ascii_uppercase()
            .trim_end_matches("IB")
            .trim_end_matches('B')
        {
            "" => 1,
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            "T" => 1 << 40,
            _ => {
                return Err(format!(
                    "`{text}`: expected a size such as 4G, 512M or 1.5G"
                ))
            }
        };
        let n: f64 = number
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: expected a size such as 4G, 512M or 1.5G"))?;
        if !(n.is_finite() && n > 0.0) {
            return Err(format!("`{text}`: the limit must be a positive size"));
        }
        Ok(Self((n * scale as f64) as u64))
    }
}
