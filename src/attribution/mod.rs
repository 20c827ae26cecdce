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
//!   tolerance and attribution window, applied by both modes in the same steps
//!   (`touch`).
//! * [`attribution_report`]: what happened to each goal event.
//! * [`relational`]: the rules as polars lazy steps, one per rule: the specification
//!   (and the warehouse SQL's template). [`rewards`] and [`credits`] compute the same
//!   tables with a fused kernel over integer codes (`kernel.rs`), tested equal to
//!   them on random logs; `docs/attribution.md` maps each step to its kernel loop.
//!
//! Both reward tables have the columns `policy_id`, `allocation_name`, `unit_key`,
//! `decision_id`, `exposed_at`, `probability`, `goal_events` (credited goal events,
//! weighted), `goal_value` (credited `value`), `reward`, sorted, so the policy stage
//! reads either the same way.

mod cumulative;
mod decision;
mod kernel;
mod params;
pub mod population;
mod report;
pub mod sessions;
mod touch;

pub use cumulative::Credits;
pub use params::{AttributionParams, TouchModel, DEFAULT_HALF_LIFE_MS};
pub use population::{for_population, Population};
pub use report::{attribution_report, AttributionReport};
pub use sessions::DEFAULT_SESSION_GAP_MS;

/// The rules as relational steps (polars lazy joins and group-bys, one step per rule):
/// the specification the fused [`credits`] and [`rewards`] are tested against, and
/// the template of the warehouse SQL. Same inputs, same tables (up to float rounding
/// in the last bits of summed weights).
pub mod relational {
    pub use super::cumulative::{cumulative_credits, cumulative_rewards_with};
    pub use super::decision::{decision_credits, decision_rewards_with};
}

use polars::prelude::{IntoLazy, LazyFrame};

use crate::config::{AttributionMode, Goal};
use crate::error::Result;
use crate::events::EventTables;

/// The credits of one goal event name under `params` (its mode included).
///
/// # Errors
///
/// [`crate::Error::Polars`] if a table lacks a column the rules read.
pub fn credits(
    tables: &EventTables,
    goal_event: &str,
    params: &AttributionParams,
) -> Result<Credits> {
    kernel::attribute(tables, goal_event, params)?.credits()
}

/// The reward table of one goal under `params` (its mode included): one row per
/// reward unit (the decision × allocation in decision mode, the unit × allocation in
/// cumulative mode) with `policy_id`, `allocation_name`, `unit_key`, `decision_id`,
/// `exposed_at`, `probability` of its first exposure, `goal_events` (credited goal
/// events, weighted), `goal_value` (credited `value`) and `reward`: converted (0/1)
/// for conversion rates, the weighted count for counts, the weighted sum of `value`
/// for sums. Sorted by policy, allocation, then decision id or unit key, so it and
/// everything computed from it is the same from run to run.
///
/// # Errors
///
/// [`crate::Error::InvalidParameter`] for goals attribution does not compute
/// (`mean`, or values read from `values` or `properties`: [`crate::goal`] maps those
/// onto `value` first); [`crate::Error::Polars`] if a table lacks a column.
pub fn rewards(tables: &EventTables, goal: &Goal, params: &AttributionParams) -> Result<LazyFrame> {
    decision::check_goal(goal)?;
    Ok(kernel::attribute(tables, &goal.event, params)?
        .rewards(goal)?
        .lazy())
}

/// [`rewards`] and the [`credits`] of the goal's event from one attribution pass:
/// what a run needs for a policy's rewards and its attribution report.
///
/// # Errors
///
/// As [`rewards`].
pub fn rewards_and_credits(
    tables: &EventTables,
    goal: &Goal,
    params: &AttributionParams,
) -> Result<(LazyFrame, Credits)> {
    decision::check_goal(goal)?;
    let attributed = kernel::attribute(tables, &goal.event, params)?;
    Ok((attributed.rewards(goal)?.lazy(), attributed.credits()?))
}

/// [`rewards`] in decision mode with the default model (last touch).
///
/// # Errors
///
/// As [`rewards`].
pub fn decision_rewards(tables: &EventTables, goal: &Goal) -> Result<LazyFrame> {
    rewards(
        tables,
        goal,
        &AttributionParams::default().with_mode(AttributionMode::Decision),
    )
}

/// [`rewards`] in cumulative mode with the default model and a session gap.
///
/// # Errors
///
/// As [`rewards`].
pub fn cumulative_rewards(
    tables: &EventTables,
    goal: &Goal,
    session_gap_ms: i64,
) -> Result<LazyFrame> {
    rewards(
        tables,
        goal,
        &AttributionParams::default().with_session_gap_ms(session_gap_ms),
    )
}
