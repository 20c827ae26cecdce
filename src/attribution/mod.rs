//! Attribution: which allocation gets the credit for a track event.
//!
//! The output is a reward table: one row per unit of analysis (here a decision) and
//! allocation, with the reward its goal events earned. Later stages read only that.
//!
//! This version implements `decision` mode (a track event counts only for the layers
//! of its own `decisionId`), over deduplicated exposures: one row per policy,
//! allocation and decision however many exposure events the decision produced.

mod decision;

pub use decision::decision_rewards;
