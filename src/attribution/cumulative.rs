//! `cumulative` attribution, the platform's default, as relational steps.
//!
//! For each goal event (a track event named by the goal):
//!
//! 1. **SDK-built array.** If the event carries an `attribution` array, it is used as
//!    sent, weights included (missing weight = 1).
//! 2. **Its decision.** Otherwise, if it names a `decisionId`, it counts for the layers
//!    of that decision, looked up among *all* exposure and decision rows (not only the
//!    first exposure kept per session), however late it arrives (the email pattern).
//! 3. **Its session.** Also, it counts for every layer the unit was exposed to in the
//!    event's session up to the event's time.
//! 4. **Unit-key rule.** An event with neither decision nor array counts toward every
//!    allocation whose first exposure of the unit is at or before the event's time,
//!    in any session (webhooks, batch pipelines).
//!
//! Times are `eventTimestamp` when present; nothing is credited to an exposure after
//! the event (no clock-skew tolerance yet). When an event is credited to several
//! allocations of one policy by rules 2 to 4, its own decision's allocation wins;
//! otherwise the last touch (latest exposure at or before the event) takes the
//! credit, and exact ties share it, so one event's credit sums
//! to at most 1 per policy. The reward unit is the unit × allocation: exposed units
//! are the denominator.

use polars::prelude::*;

use super::sessions::{sessionize_exposures, sessionize_tracks};
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
    .sort(
        ["ts"],
        SortMultipleOptions::default().with_maintain_order(true),
    )
    .group_by_stable([
        col("unit_key"),
        col("session"),
        col("layer_id"),
        col("policy_id"),
        col("allocation_name"),
    ])
    .agg([
        col("ts").first().alias("exposed_at"),
        col("decision_id").first().alias("decision_id"),
        col("probability").first().alias("probability"),
    ])
}

fn touch_columns() -> [Expr; 5] {
    [
        col("track_row"),
        col("unit_key"),
        col("policy_id"),
        col("allocation_name"),
        col("exposed_at"),
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

/// The credit table: one row per goal event, policy and allocation credited, with a
/// weight in [0, 1]. Columns `track_row`, `unit_key`, `policy_id`,
/// `allocation_name`, `exposed_at`, `weight`.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails.
pub fn cumulative_credits(
    tables: &EventTables,
    goal_event: &str,
    session_gap_ms: i64,
) -> Result<(LazyFrame, LazyFrame)> {
    let xs = sessionize_exposures(&tables.exposures, session_gap_ms)?;
    let ts = sessionize_tracks(&tables.tracks, &xs, session_gap_ms)?;
    let all = xs.lazy();
    let dedup = deduplicated_exposures(all.clone()).cache();
    let arrays = tables.attributions.clone().lazy();
    let has_array = arrays
        .clone()
        .group_by([col("track_row")])
        .agg([len().alias("array_len")]);
    let goals = super::decision::goal_events(ts.lazy(), goal_event)
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
            col("session"),
            col("decision_id"),
            col("event_ts"),
            col("has_array"),
        ])
        .cache();

    // 1. The SDK's array, as sent.
    let from_array = goals
        .clone()
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
            col("weight").fill_null(lit(1.0)),
        ])
        .select(credit_columns());

    // 2. The decision's layers, from every exposure and decision row.
    let decisions = all
        .filter(
            col("decision_id")
                .is_not_null()
                .and(col("policy_id").is_not_null())
                .and(col("allocation_name").is_not_null()),
        )
        .group_by([col("decision_id"), col("policy_id"), col("allocation_name")])
        .agg([col("ts").min().alias("exposed_at")]);
    let linked = goals
        .clone()
        .filter(col("has_array").not().and(col("decision_id").is_not_null()));
    let from_decision = linked
        .clone()
        .join(
            decisions,
            [col("decision_id")],
            [col("decision_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("exposed_at").lt_eq(col("event_ts")))
        .select(touch_columns())
        .with_column(lit(1u8).alias("linked"));

    // 3. Every exposure of the unit in the event's session, up to the event's time.
    let from_session = linked
        .filter(col("session").is_not_null())
        .select([
            col("track_row"),
            col("unit_key"),
            col("session"),
            col("event_ts"),
        ])
        .join(
            dedup.clone().select([
                col("unit_key"),
                col("session"),
                col("policy_id"),
                col("allocation_name"),
                col("exposed_at"),
            ]),
            [col("unit_key"), col("session")],
            [col("unit_key"), col("session")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("exposed_at").lt_eq(col("event_ts")))
        .select(touch_columns())
        .with_column(lit(0u8).alias("linked"));

    // 4. Unit-key rule: first exposure of the unit to an allocation, any session.
    let first_exposure = dedup
        .clone()
        .group_by([col("unit_key"), col("policy_id"), col("allocation_name")])
        .agg([col("exposed_at").min()]);
    let from_unit = goals
        .filter(col("has_array").not().and(col("decision_id").is_null()))
        .select([col("track_row"), col("unit_key"), col("event_ts")])
        .join(
            first_exposure,
            [col("unit_key")],
            [col("unit_key")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("exposed_at").lt_eq(col("event_ts")))
        .select(touch_columns())
        .with_column(lit(0u8).alias("linked"));

    // Last touch per event and policy; exact ties share the credit.
    // An explicit decision link beats inference: where the event's own decision has
    // a layer of a policy, only that layer's allocation is a candidate for it.
    let touches = concat(
        [from_decision, from_session, from_unit],
        UnionArgs::default(),
    )?
    .group_by([
        col("track_row"),
        col("unit_key"),
        col("policy_id"),
        col("allocation_name"),
    ])
    .agg([col("exposed_at").max(), col("linked").max()]);
    let strongest = touches
        .clone()
        .group_by([col("track_row"), col("policy_id")])
        .agg([col("linked").max().alias("strongest")]);
    let touches = touches
        .join(
            strongest,
            [col("track_row"), col("policy_id")],
            [col("track_row"), col("policy_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("linked").eq(col("strongest")))
        .select(touch_columns());
    let last = touches
        .clone()
        .group_by([col("track_row"), col("policy_id")])
        .agg([col("exposed_at").max().alias("last_touch")]);
    let ruled = touches
        .join(
            last,
            [col("track_row"), col("policy_id")],
            [col("track_row"), col("policy_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .filter(col("exposed_at").eq(col("last_touch")));
    let ties = ruled
        .clone()
        .group_by([col("track_row"), col("policy_id")])
        .agg([len().alias("ties")]);
    let ruled = ruled
        .join(
            ties,
            [col("track_row"), col("policy_id")],
            [col("track_row"), col("policy_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .with_column((lit(1.0) / col("ties").cast(DataType::Float64)).alias("weight"))
        .select(credit_columns());
    let credits = concat(
        [
            from_array.with_column(col("weight").cast(DataType::Float64)),
            ruled,
        ],
        UnionArgs::default(),
    )?;
    Ok((credits, dedup))
}

/// The reward table of cumulative attribution: one row per exposed unit × policy ×
/// allocation, with `unit_key`, `decision_id` and `probability` of its first
/// exposure, `exposed_at`, `goal_events` (credited goal events, weighted) and
/// `reward`: converted (0/1) for conversion rates, the weighted count for counts, the
/// weighted sum of `value` for sums.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a query fails; [`crate::Error::InvalidParameter`] for
/// goals not computed yet (as in decision mode).
pub fn cumulative_rewards(
    tables: &EventTables,
    goal: &Goal,
    session_gap_ms: i64,
) -> Result<LazyFrame> {
    super::decision::check_goal(goal)?;
    let (credits, dedup) = cumulative_credits(tables, &goal.event, session_gap_ms)?;
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
        .sort(
            ["exposed_at"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .group_by([col("policy_id"), col("allocation_name"), col("unit_key")])
        .agg([
            col("exposed_at").first(),
            col("decision_id").first(),
            col("probability").first(),
        ]);
    Ok(super::decision::finish_rewards(
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
