//! Attribution: which allocation gets the credit for a track event, and the reward
//! table built from it.
//!
//! * [`sessions`]: `sessionId`, or a per-unit inactivity gap.
//! * [`decision_rewards`]: `decision` mode, a track event counts only for the layers
//!   of its own `decisionId`; the reward unit is the decision.
//! * [`cumulative_rewards`]: `cumulative` mode (the platform's default): the SDK's
//!   attribution array as sent, else the event's decision plus every exposure of its
//!   session up to its time, else the unit-key temporal rule; the reward unit is the
//!   exposed unit × allocation.
//!
//! Both reward tables have the columns `policy_id`, `allocation_name`, `unit_key`,
//! `decision_id`, `exposed_at`, `probability`, `goal_events`, `goal_value` (credited
//! `value`), `reward`, sorted, so
//! the policy stage reads either the same way.

mod cumulative;
mod decision;
pub mod sessions;

pub use cumulative::{cumulative_credits, cumulative_rewards};
pub use decision::decision_rewards;
pub use sessions::DEFAULT_SESSION_GAP_MS;
