//! Seed derivation: every random stream in a run descends from one master seed and a
//! label (policy id, chunk index), so results do not depend on thread count or on
//! which other policies are in the run.

use crate::sdk::hash::sha256_u64;

/// The child seed of `master` for `label`.
#[must_use]
pub fn derive(master: u64, label: &str) -> u64 {
    sha256_u64(format!("bandit-engine:seed:{master}:{label}").as_bytes())
}
