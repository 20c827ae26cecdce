//! `decision` attribution: a track event counts only for the layers of its decision.

use polars::prelude::*;

use crate::config::{Goal, GoalType, ValueSource};
use crate::error::{Error, Result};
use crate::events::LazyEventTables;

/// The goal's track events, once each: a repeated event `id` (an SDK retry, an
/// overlapping export) keeps its first row. Events without an `id` are all kept.
pub(super) fn goal_events(tracks: LazyFrame, event: &str) -> LazyFrame {
    let named = tracks.filter(col("event").eq(lit(event)));
    let with_id = named
        .clone()
        .filter(col("event_id").is_not_null())
        .unique_stable(Some(cols(["event_id"])), UniqueKeepStrategy::First);
    let without_id = named.filter(col("event_id").is_null());
    concat([with_id, without_id], UnionArgs::default())
        .expect("two filters of one frame have the same schema")
        .sort(["track_row"], SortMultipleOptions::default())
}

/// Completes a reward table from exposure rows joined with their goal sums
/// (`goal_events`, `goal_value`, null where none): the reward per goal type, the
/// canonical columns, sorted by policy, allocation and `unit` (the reward unit).
pub(super) fn finish_rewards(joined: LazyFrame, goal: &Goal, unit: &str) -> LazyFrame {
    let reward = match goal.goal_type {
        GoalType::ConversionRate => when(col("goal_events").gt(lit(0.0)))
            .then(lit(1.0))
            .otherwise(lit(0.0)),
        GoalType::Count => col("goal_events"),
        GoalType::Sum | GoalType::Mean => col("goal_value"),
    };
    joined
        .with_columns([
            col("goal_events").fill_null(lit(0.0)),
            col("goal_value").fill_null(lit(0.0)),
        ])
        .with_column(reward.alias("reward"))
        .select([
            col("policy_id"),
            col("allocation_name"),
            col("unit_key"),
            col("decision_id"),
            col("exposed_at"),
            col("probability"),
            col("goal_events"),
            col("goal_value"),
            col("reward"),
        ])
        .sort(
            ["policy_id", "allocation_name", unit],
            SortMultipleOptions::default(),
        )
}

/// Goals the attribution stages compute so far.
pub(super) fn check_goal(goal: &Goal) -> Result<()> {
    if goal.goal_type == GoalType::Mean {
        return Err(Error::InvalidParameter {
            name: "goal.type",
            reason: "the mean goal is not computed by attribution yet; use conversion_rate, count or sum".into(),
        });
    }
    if goal.goal_type == GoalType::Sum && goal.value != ValueSource::Value {
        return Err(Error::InvalidParameter {
            name: "goal.value",
            reason: "sum goals read the event's `value` for now; named values and properties are not supported yet".into(),
        });
    }
    Ok(())
}

/// The reward table of decision-mode attribution for one goal.
///
/// One row per `(policy_id, allocation_name, decision_id)` among exposure rows that
/// name a policy, an allocation and a decision (attribution-only layers excluded),
/// with columns `policy_id`, `allocation_name`, `decision_id`, `unit_key`,
/// `exposed_at` (first exposure, ms), `probability` (logged propensity of the first
/// exposure), `goal_events` (goal events carrying that decision id) and `reward`:
///
/// * `conversion_rate`: 1.0 if at least one goal event, else 0.0;
/// * `count`: the number of goal events;
/// * `sum`: the sum of their `value` (missing values count as 0).
///
/// The table is sorted by policy, allocation and decision so that it, and everything
/// computed from it, is the same from run to run.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for goals this mode does not compute yet (`mean`, or
/// values read from `values` or `properties`); [`Error::Polars`] if the query fails.
pub fn decision_rewards(tables: &LazyEventTables, goal: &Goal) -> Result<LazyFrame> {
    check_goal(goal)?;
    let exposures = tables
        .exposures
        .clone()
        .filter(
            col("kind")
                .eq(lit("exposure"))
                .and(col("policy_id").is_not_null())
                .and(col("allocation_name").is_not_null())
                .and(col("decision_id").is_not_null())
                .and(col("attribution_only").not()),
        )
        .sort(
            ["ts"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .group_by([col("policy_id"), col("allocation_name"), col("decision_id")])
        .agg([
            col("unit_key").first().alias("unit_key"),
            col("ts").first().alias("exposed_at"),
            col("probability").first().alias("probability"),
        ]);
    // Goal events of each exposed decision, not before its first exposure.
    let goals = goal_events(tables.tracks.clone(), &goal.event)
        .filter(col("decision_id").is_not_null())
        .select([col("decision_id"), col("event_ts"), col("value")])
        .join(
            exposures
                .clone()
                .select([col("decision_id"), col("exposed_at")])
                .unique(None, UniqueKeepStrategy::First),
            [col("decision_id")],
            [col("decision_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("event_ts").gt_eq(col("exposed_at")))
        .group_by([col("decision_id")])
        .agg([
            len().cast(DataType::Float64).alias("goal_events"),
            col("value").fill_null(lit(0.0)).sum().alias("goal_value"),
        ]);
    Ok(finish_rewards(
        exposures.join(
            goals,
            [col("decision_id")],
            [col("decision_id")],
            JoinArgs::new(JoinType::Left),
        ),
        goal,
        "decision_id",
    ))
}
