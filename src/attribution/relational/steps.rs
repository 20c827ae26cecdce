//! Relational steps both modes share: the goal events, the exposures of each decision,
//! and the reward table's last step.

use polars::prelude::*;

use crate::config::{Goal, GoalType};

/// Per group, the columns `carried` and `exposed_at` of its first row by time, ties
/// broken by table order (`x_row`): an explicit order, as SQL has no table order.
pub(super) fn first_by_time(carried: &[&str]) -> Vec<Expr> {
    let by = || [col("ts"), col("x_row")];
    let mut out: Vec<Expr> = carried
        .iter()
        .map(|c| {
            col(*c)
                .sort_by(by(), SortMultipleOptions::default())
                .first()
                .alias(*c)
        })
        .collect();
    out.push(col("ts").min().alias("exposed_at"));
    out
}

/// The exposures table with `x_row`, each row's position: the tie-break of
/// [`first_by_time`].
pub(super) fn numbered(exposures: LazyFrame) -> LazyFrame {
    exposures.with_row_index("x_row", None)
}

/// Exposures of each decision: one row per `(decision_id, policy_id,
/// allocation_name)` among exposure rows (not decision events, not attribution-only
/// layers), with the `unit_key`, time (`exposed_at`) and `probability` of its first
/// exposure. Every exposure row is looked at, not only the first one kept per session.
pub(super) fn decision_exposures(exposures: LazyFrame) -> LazyFrame {
    exposures
        .filter(
            col("kind")
                .eq(lit("exposure"))
                .and(col("policy_id").is_not_null())
                .and(col("allocation_name").is_not_null())
                .and(col("decision_id").is_not_null())
                .and(col("attribution_only").not()),
        )
        .group_by([col("decision_id"), col("policy_id"), col("allocation_name")])
        .agg(first_by_time(&["unit_key", "probability", "x_row"]))
}

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

/// The goal's events (once per `id`) with `known_decision`: whether their
/// `decisionId` names any exposure or decision row.
pub(super) fn goals_with_known_decision(
    tracks: LazyFrame,
    exposures: LazyFrame,
    goal_event: &str,
) -> LazyFrame {
    let known = exposures
        .filter(col("decision_id").is_not_null())
        .select([col("decision_id")])
        .unique(None, UniqueKeepStrategy::Any)
        .with_column(lit(true).alias("known_decision"));
    goal_events(tracks, goal_event)
        .join(
            known,
            [col("decision_id")],
            [col("decision_id")],
            JoinArgs::new(JoinType::Left),
        )
        .with_column(col("known_decision").fill_null(lit(false)))
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
