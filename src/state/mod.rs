//! The engine's state between runs (`state.json`, [`EngineState`]): what each policy
//! has learned so far and how its allocations moved, checksummed and versioned. Per
//! entity statistics are kept compact in [`entity_totals`]; a `linear_contextual`
//! policy's sums are the learner's own [`crate::policy::linear_state::LinearTotals`].

pub mod entity_totals;
mod file;

pub use file::{
    sha256_hex, ArmTotals, EngineState, HistoryEntry, PolicyLearning, HISTORY_LIMIT, STATE_FORMAT,
    STATE_FORMAT_VERSION,
};
