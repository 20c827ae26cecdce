//! The production entry points: credits and reward tables of one goal, computed by the
//! fused kernel (`kernel/`), which is tested equal to [`super::relational`].

use polars::prelude::{IntoLazy, LazyFrame};

use super::credits::Credits;
use super::kernel;
use super::params::AttributionParams;
use crate::config::{AttributionMode, Goal, GoalType, ValueSource};
use crate::error::AttributionError;
use crate::error::Result;
use crate::events::EventTables;
use crate::timing::timed;

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
/// [`crate::Error::Attribution`] for goals attribution does not compute
/// (`mean`, or values read from `values` or `properties`: [`crate::goal`] maps those
/// onto `value` first); [`crate::Error::Polars`] if a table lacks a column.
pub fn rewards(tables: &EventTables, goal: &Goal, params: &AttributionParams) -> Result<LazyFrame> {
    check_goal(goal)?;
    Ok(kernel::attribute(tables, &goal.event, params)?
        .rewards(goal)?
        .lazy())
}

/// [`rewards`] and the [`credits`] of the goal's event from one attribution pass:
/// what a run needs for a policy's rewards and its attribution report. The credits
/// come with [`Credits::multi_allocation_units`] counted and an `exposures` table
/// without rows (when the units were not coded, in decision mode without the unit-key
/// rule: the count is left to the report, and `exposures` has the columns it reads,
/// `unit_key`, `policy_id` and `allocation_name`).
///
/// # Errors
///
/// As [`rewards`].
pub fn rewards_and_credits(
    tables: &EventTables,
    goal: &Goal,
    params: &AttributionParams,
) -> Result<(LazyFrame, Credits)> {
    check_goal(goal)?;
    let attributed = timed("  kernel", || {
        kernel::attribute(tables, &goal.event, params)
    })?;
    let rewards = timed("  rewards frame", || attributed.rewards(goal))?;
    let credits = timed("  credits frame", || attributed.report_credits())?;
    Ok((rewards.lazy(), credits))
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

/// Goals the attribution stages compute so far.
pub(super) fn check_goal(goal: &Goal) -> Result<()> {
    if goal.goal_type == GoalType::Mean {
        return Err(AttributionError::MeanGoal.into());
    }
    if goal.goal_type == GoalType::Sum && goal.value != ValueSource::Value {
        return Err(AttributionError::NamedValue.into());
    }
    Ok(())
}
