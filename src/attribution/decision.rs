//! `decision` attribution: a track event counts only for the layers of its decision.

use polars::prelude::*;

use crate::config::{Goal, GoalType, ValueSource};
use crate::error::{Error, Result};
use crate::events::LazyEventTables;

use super::cumulative::{decision_exposures, goals_with_known_decision, numbered, Credits};
use super::params::AttributionParams;
use super::touch;

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

/// Decision-mode attribution of one goal event name: each goal event naming a
/// `decisionId` is paired with that decision's exposures (one touch per policy and
/// allocation), then the time rules and the model of [`super::touch`] apply. Events
/// without a `decisionId`, or naming one with no exposure, are not credited.
///
/// # Errors
///
/// [`Error::Polars`] if a query fails.
pub fn decision_credits(
    tables: &LazyEventTables,
    goal_event: &str,
    params: &AttributionParams,
) -> Result<Credits> {
    let exposures = touch::Dictionaries::of(tables.exposures.clone())
        .encode(decision_exposures(numbered(tables.exposures.clone())))
        .cache();
    let goals =
        goals_with_known_decision(tables.tracks.clone(), tables.exposures.clone(), goal_event)
            .cache();
    let touches = touch::keyed(
        goals
            .clone()
            .filter(col("decision_id").is_not_null())
            .select([col("track_row"), col("decision_id"), col("event_ts")])
            .join(
                exposures.clone().select([
                    col("decision_id"),
                    col("unit_key"),
                    col("policy_id"),
                    col("allocation_name"),
                    col("pcode"),
                    col("pa"),
                    col("exposed_at"),
                ]),
                [col("decision_id")],
                [col("decision_id")],
                JoinArgs::new(JoinType::Inner),
            )
            .with_column(lit(1i32).alias("linked")),
    )
    .cache();
    Ok(Credits {
        credits: touch::credit(touches.clone(), params, &["decision_id"]),
        outcomes: touch::outcomes(touches, params),
        goals: goals.select([
            col("track_row"),
            col("decision_id"),
            col("known_decision"),
            lit(false).alias("has_array"),
        ]),
        exposures,
    })
}

/// The reward table of decision-mode attribution for one goal, as relational steps.
///
/// One row per `(policy_id, allocation_name, decision_id)` among exposure rows that
/// name a policy, an allocation and a decision (attribution-only layers excluded),
/// with columns `policy_id`, `allocation_name`, `decision_id`, `unit_key`,
/// `exposed_at` (first exposure, ms), `probability` (logged propensity of the first
/// exposure), `goal_events` (goal events carrying that decision id, weighted by the
/// multi-touch model) and `reward`:
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
pub fn decision_rewards_with(
    tables: &LazyEventTables,
    goal: &Goal,
    params: &AttributionParams,
) -> Result<LazyFrame> {
    check_goal(goal)?;
    let attributed = decision_credits(tables, &goal.event, params)?;
    let values = tables
        .tracks
        .clone()
        .select([col("track_row"), col("value").fill_null(lit(0.0))]);
    let earned = attributed
        .credits
        .join(
            values,
            [col("track_row")],
            [col("track_row")],
            JoinArgs::new(JoinType::Left),
        )
        .group_by([col("policy_id"), col("allocation_name"), col("decision_id")])
        .agg([
            col("weight").sum().alias("goal_events"),
            (col("weight") * col("value")).sum().alias("goal_value"),
        ]);
    Ok(finish_rewards(
        attributed.exposures.join(
            earned,
            [col("policy_id"), col("allocation_name"), col("decision_id")],
            [col("policy_id"), col("allocation_name"), col("decision_id")],
            JoinArgs::new(JoinType::Left),
        ),
        goal,
        "decision_id",
    ))
}
