//! `cumulative` attribution, the platform's default, as relational steps.
//!
//! For each goal event (a track event named by the goal):
//!
//! 1. **SDK-built array.** If the event carries an `attribution` array, it is used as
//!    sent, weights included (missing weight = 1).
//! 2. **Its decision.** Otherwise, if it names a `decisionId`, it counts for the layers
//!    of that decision, looked up among *all* its exposure rows (not only the
//!    first exposure kept per session), however late it arrives (the email pattern).
//! 3. **Its session.** Also, it counts for every layer the unit was exposed to in the
//!    event's session up to the event's time.
//! 4. **Unit-key rule.** An event with neither decision nor array counts toward every
//!    allocation whose first exposure of the unit is at or before the event's time,
//!    in any session (webhooks, batch pipelines), unless the policy sets
//!    `unlinkedEvents: drop`.
//!
//! Rules 2 to 4 produce **touches**; [`super::touch`] applies the time rules (clock
//! skew, window), keeps the event's own decision where it has an in-time touch of the
//! policy (an explicit link beats inference), and splits the credit with the multi-touch
//! model, so one event's credit sums to at most 1 per policy. An event naming a
//! `decisionId` that matches no exposure or decision row is treated as having none
//! (rule 4) and counted in the report. Times are `eventTimestamp` when present. The
//! reward unit is the unit × allocation: exposed units are the denominator.

use polars::prelude::*;

use super::sessions::sessionize;
use super::steps::{
    decision_exposures, finish_rewards, first_by_time, goals_with_known_decision, numbered,
};
use super::touch;
use crate::attribution::attribute::check_goal;
use crate::attribution::credits::Credits;
use crate::attribution::params::AttributionParams;
use crate::config::Goal;
use crate::error::Result;
use crate::events::EventTables;

/// Exposures kept once per unit, session, layer, policy and allocation: the first
/// one, with its time, decision id and propensity.
fn deduplicated_exposures(x: LazyFrame) -> LazyFrame {
    x.filter(
        col("kind")
            .eq(lit("exposure"))
            .and(col("policy_id").is_not_null())
            .and(col("allocation_name").is_not_null())
            .and(col("attribution_only").not()),
    )
    .group_by_stable([
        col("unit"),
        col("session"),
        col("layer_id"),
        col("policy_id"),
        col("allocation_name"),
    ])
    .agg(first_by_time(&[
        "unit_key",
        "decision_id",
        "probability",
        "x_row",
    ]))
}

fn touch_columns() -> [Expr; 9] {
    [
        col("track_row"),
        col("unit_key"),
        col("policy_id"),
        col("allocation_name"),
        col("pcode"),
        col("pa"),
        col("exposed_at"),
        col("event_ts"),
        col("linked"),
    ]
}

fn credit_columns() -> [Expr; 6] {
    [
        col("track_row"),
        col("unit_key"),
        col("policy_id"),
        col("allocation_name"),
        col("exposed_at"),
        col("weight"),
    ]
}

/// Cumulative-mode attribution of one goal event name, as relational steps (see the
/// module docs); the model, skew and window come from `params`.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails.
pub fn cumulative_credits(
    tables: &EventTables,
    goal_event: &str,
    params: &AttributionParams,
) -> Result<Credits> {
    let (xs, ts) = sessionize(&tables.exposures, &tables.tracks, params.session_gap_ms)?;
    let all = numbered(xs.lazy());
    let dict = touch::Dictionaries::of(all.clone());
    let dedup = dict.encode(deduplicated_exposures(all.clone())).cache();
    let arrays = tables.attributions.clone().lazy();
    let goals = goal_table(ts.lazy(), all.clone(), arrays.clone(), goal_event);
    let from_array = from_array(goals.clone(), arrays);
    let linked = goals
        .clone()
        .filter(col("has_array").not().and(col("known_decision")));
    let decisions = dict.encode(decision_exposures(all));
    let mut parts = vec![
        from_decision(linked.clone(), decisions),
        from_session(linked, dedup.clone()),
    ];
    if params.unit_key_rule() {
        parts.push(from_unit(goals.clone(), dedup.clone()));
    }
    let touches = touch::keyed(concat(parts, UnionArgs::default())?).cache();
    let array_outcomes = from_array
        .clone()
        .select([col("track_row"), col("policy_id")])
        .unique(None, UniqueKeepStrategy::Any)
        .with_column(lit("credited").alias("outcome"));
    let outcomes = concat(
        [touch::outcomes(touches.clone(), params), array_outcomes],
        UnionArgs::default(),
    )?;
    let credits = concat(
        [
            from_array.select(credit_columns()),
            touch::credit(touches, params, &[]).select(credit_columns()),
        ],
        UnionArgs::default(),
    )?;
    Ok(Credits {
        credits,
        outcomes,
        goals: goals.select([
            col("track_row"),
            col("decision_id"),
            col("known_decision"),
            col("has_array"),
        ]),
        exposures: dedup,
        multi_allocation_units: None,
    })
}

/// The goal events (once per `id`) with their unit, session, `known_decision` and
/// `has_array` (whether the SDK sent an attribution array with it).
fn goal_table(
    tracks: LazyFrame,
    exposures: LazyFrame,
    arrays: LazyFrame,
    goal_event: &str,
) -> LazyFrame {
    let has_array = arrays
        .group_by([col("track_row")])
        .agg([len().alias("array_len")]);
    goals_with_known_decision(tracks, exposures, goal_event)
        .join(
            has_array,
            [col("track_row")],
            [col("track_row")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("array_len").is_not_null().alias("has_array"))
        .select([
            col("track_row"),
            col("unit_key"),
            col("unit"),
            col("session"),
            col("decision_id"),
            col("known_decision"),
            col("event_ts"),
            col("has_array"),
        ])
        .cache()
}

/// Rule 1: the SDK's array, as sent (missing weight = 1), summed per event and
/// allocation.
fn from_array(goals: LazyFrame, arrays: LazyFrame) -> LazyFrame {
    goals
        .filter(col("has_array"))
        .join(
            arrays.select([
                col("track_row"),
                col("policy_id"),
                col("allocation_name"),
                col("weight"),
            ]),
            [col("track_row")],
            [col("track_row")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_columns([
            col("event_ts").alias("exposed_at"),
            col("weight").fill_null(lit(1.0)).cast(DataType::Float64),
        ])
        .group_by([
            col("track_row"),
            col("unit_key"),
            col("policy_id"),
            col("allocation_name"),
        ])
        .agg([col("exposed_at").max(), col("weight").sum()])
}

/// Rule 2: the decision's layers, from every exposure row of the decision
/// (`decisions`, encoded), for the `linked` goal events.
fn from_decision(linked: LazyFrame, decisions: LazyFrame) -> LazyFrame {
    linked
        .select([col("track_row"), col("decision_id"), col("event_ts")])
        .join(
            decisions.select([
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
        .with_column(lit(1i32).alias("linked"))
        .select(touch_columns())
}

/// Rule 3: every kept exposure (`dedup`) of the unit in the `linked` event's session.
fn from_session(linked: LazyFrame, dedup: LazyFrame) -> LazyFrame {
    linked
        .filter(col("session").is_not_null())
        .select([
            col("track_row"),
            col("unit_key"),
            col("unit"),
            col("session"),
            col("event_ts"),
        ])
        .join(
            dedup.select([
                col("unit"),
                col("session"),
                col("policy_id"),
                col("allocation_name"),
                col("pcode"),
                col("pa"),
                col("exposed_at"),
            ]),
            [col("unit"), col("session")],
            [col("unit"), col("session")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column(lit(0i32).alias("linked"))
        .select(touch_columns())
}

/// Rule 4, the unit-key rule ("any track event after the user's first exposure to an
/// allocation counts toward that allocation", the platform's events page), for
/// events with neither an array nor a known decision:
/// every kept exposure (`dedup`) of the unit, any session (the time rule keeps those
/// up to the event, so an allocation counts from the unit's first exposure to it on).
fn from_unit(goals: LazyFrame, dedup: LazyFrame) -> LazyFrame {
    goals
        .filter(col("has_array").not().and(col("known_decision").not()))
        .select([
            col("track_row"),
            col("unit_key"),
            col("unit"),
            col("event_ts"),
        ])
        .join(
            dedup.select([
                col("unit"),
                col("policy_id"),
                col("allocation_name"),
                col("pcode"),
                col("pa"),
                col("exposed_at"),
            ]),
            [col("unit")],
            [col("unit")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column(lit(0i32).alias("linked"))
        .select(touch_columns())
}

/// The reward table of cumulative attribution, as relational steps: one row per
/// exposed unit × policy × allocation, with `unit_key`, `decision_id` and
/// `probability` of its first exposure, `exposed_at`, `goal_events` and `reward` (see
/// [`crate::attribution::rewards`]).
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails; [`crate::Error::Attribution`] for
/// goals not computed (as in decision mode).
pub fn cumulative_rewards_with(
    tables: &EventTables,
    goal: &Goal,
    params: &AttributionParams,
) -> Result<LazyFrame> {
    check_goal(goal)?;
    let attributed = cumulative_credits(tables, &goal.event, params)?;
    let (credits, dedup) = (attributed.credits, attributed.exposures);
    let values = tables
        .tracks
        .clone()
        .lazy()
        .select([col("track_row"), col("value").fill_null(lit(0.0))]);
    let earned = credits
        .join(
            values,
            [col("track_row")],
            [col("track_row")],
            JoinArgs::new(JoinType::Left),
        )
        .group_by([col("unit_key"), col("policy_id"), col("allocation_name")])
        .agg([
            col("weight").sum().alias("goal_events"),
            (col("weight") * col("value")).sum().alias("goal_value"),
        ]);
    let exposed = dedup
        .rename(["exposed_at"], ["ts"], true)
        .group_by([col("policy_id"), col("allocation_name"), col("unit_key")])
        .agg(first_by_time(&["decision_id", "probability"]));
    Ok(finish_rewards(
        exposed.join(
            earned,
            [col("unit_key"), col("policy_id"), col("allocation_name")],
            [col("unit_key"), col("policy_id"), col("allocation_name")],
            JoinArgs::new(JoinType::Left),
        ),
        goal,
        "unit_key",
    ))
}
