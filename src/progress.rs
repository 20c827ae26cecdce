//! Progress reporting without a terminal dependency in the library.
//!
//! Long stages (reading events, Monte Carlo) report through this trait; the CLI hands
//! in an indicatif bar when stderr is a terminal, library users pass [`NoProgress`] or
//! their own logger.

/// Receives progress of one long stage at a time.
pub trait Progress: Sync {
    /// A stage starts; `total` is in the stage's own unit (bytes, rows, draws).
    fn start(&self, stage: &str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The stage is over.
    fn finish(&self);
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
