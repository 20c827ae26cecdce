//! The rules as relational steps (polars lazy joins and group-bys, one step per rule):
//! the specification the fused [`super::credits()`] and [`super::rewards`] are tested
//! against (`tests/it/attribution_kernel.rs`), and the template of the warehouse SQL.
//! Same inputs, same tables (up to float rounding in the last bits of summed weights).
//! Production runs the kernel; nothing here is on its path.
//!
//! * `sessions`: `sessionId`, or a per-unit inactivity gap, as `u32` codes.
//! * [`cumulative_credits`], [`cumulative_rewards_with`]: `cumulative` mode.
//! * [`decision_credits`], [`decision_rewards_with`]: `decision` mode.
//! * `touch`: the time rules and the multi-touch models, shared by both modes.
//! * `steps`: the goal events, the exposures of each decision and the reward table's
//!   last step, shared by both modes.

mod cumulative;
mod decision;
mod sessions;
mod steps;
mod touch;

pub use cumulative::{cumulative_credits, cumulative_rewards_with};
pub use decision::{decision_credits, decision_rewards_with};
