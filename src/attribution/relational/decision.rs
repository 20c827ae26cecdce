//! `decision` attribution: a track event counts only for the layers of its decision.

use polars::prelude::*;

use super::steps::{decision_exposures, finish_rewards, goals_with_known_decision, numbered};
use super::touch;
use crate::attribution::attribute::check_goal;
use crate::attribution::credits::Credits;
use crate::attribution::params::AttributionParams;
use crate::config::Goal;
use crate::error::Result;
use crate::events::LazyEventTables;

/// Decision-mode attribution of one goal event name: each goal event naming a known
/// `decisionId` is paired with that decision's exposures (one touch per policy and
/// allocation); an event without one (no `decisionId`, or one no exposure or decision
/// row carries) is paired with every decision of its unit (the unit-key rule, unless
/// `unlinkedEvents: drop`). Then the time rules and the model of `touch` apply.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails.
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
    let columns = || {
        [
            col("decision_id"),
            col("unit_key"),
            col("policy_id"),
            col("allocation_name"),
            col("pcode"),
            col("pa"),
            col("exposed_at"),
        ]
    };
    let linked = goals
        .clone()
        .filter(col("known_decision"))
        .select([col("track_row"), col("decision_id"), col("event_ts")])
        .join(
            exposures.clone().select(columns()),
            [col("decision_id")],
            [col("decision_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column(lit(1i32).alias("linked"));
    let mut parts = vec![linked];
    if params.unit_key_rule() {
        // The unit-key rule: every decision of the event's unit, any session; the
        // time rules keep those at or before the event.
        parts.push(
            goals
                .clone()
                .filter(col("known_decision").not())
                .select([col("track_row"), col("unit_key"), col("event_ts")])
                .join(
                    exposures.clone().select(columns()),
                    [col("unit_key")],
                    [col("unit_key")],
                    JoinArgs::new(JoinType::Inner),
                )
                .with_column(lit(0i32).alias("linked"))
                .select([
                    col("track_row"),
                    col("decision_id"),
                    col("event_ts"),
                    col("unit_key"),
                    col("policy_id"),
                    col("allocation_name"),
                    col("pcode"),
                    col("pa"),
                    col("exposed_at"),
                    col("linked"),
                ]),
        );
    }
    let touches = touch::keyed(concat(parts, UnionArgs::default())?).cache();
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
        multi_allocation_units: None,
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
/// [`crate::Error::Attribution`] for goals this mode does not compute yet (`mean`, or
/// values read from `values` or `properties`); [`crate::Error::Polars`] if the query fails.
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
