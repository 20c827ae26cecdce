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
//! * [`AttributionParams`]: the multi-touch model ([`TouchModel`]), clock-skew
//!   tolerance and attribution window, applied by both modes in the same relational
//!   steps (`touch`).
//! * [`attribution_report`]: what happened to each goal event.
//!
//! Both reward tables have the columns `policy_id`, `allocation_name`, `unit_key`,
//! `decision_id`, `exposed_at`, `probability`, `goal_events` (credited goal events,
//! weighted), `goal_value` (credited `value`), `reward`, sorted, so the policy stage
//! reads either the same way.

mod cumulative;
mod decision;
mod params;
pub mod population;
mod report;
pub mod sessions;
mod touch;

pub use cumulative::{cumulative_credits, cumulative_rewards, cumulative_rewards_with, Credits};
pub use decision::{decision_credits, decision_rewards, decision_rewards_with};
pub use params::{AttributionParams, TouchModel, DEFAULT_HALF_LIFE_MS};
pub use population::{for_population, Population};
pub use report::{attribution_report, AttributionReport};
pub use sessions::DEFAULT_SESSION_GAP_MS;

use polars::prelude::LazyFrame;

use crate::config::{AttributionMode, Goal};
use crate::error::Result;
use crate::events::EventTables;

/// The credits of one goal event name under `params` (its mode included).
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails.
pub fn credits(
    tables: &EventTables,
    goal_event: &str,
    params: &AttributionParams,
) -> Result<Credits> {
    match params.mode {
        AttributionMode::Decision => decision_credits(&tables.lazy(), goal_event, params),
        AttributionMode::Cumulative => cumulative_credits(tables, goal_event, params),
    }
}

/// The reward table of one goal under `params` (its mode included).
///
/// # Errors
///
/// As [`decision_rewards`] and [`cumulative_rewards`].
pub fn rewards(tables: &EventTables, goal: &Goal, params: &AttributionParams) -> Result<LazyFrame> {
    match params.mode {
        AttributionMode::Decision => decision_rewards_with(&tables.lazy(), goal, params),
        AttributionMode::Cumulative => cumulative_rewards_with(tables, goal, params),
    }
}
