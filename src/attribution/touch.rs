//! Touches → credit: the time rules and the multi-touch models, shared by both modes.
//!
//! A **touch** is one candidate row `(track_row, unit_key, policy_id, allocation_name,
//! exposed_at, event_ts, linked)`: an exposure that a mode's join rule pairs with a goal
//! event, before any time rule. Three relational steps turn touches into credit:
//!
//! 1. [`in_time`] (a filter): the touch is at most `skew` after the event, and the
//!    event at most `window` after the touch;
//! 2. [`strongest_link`] (a window max per event and policy): where the event's own
//!    decision has a touch of a policy, only those touches are kept for it;
//! 3. [`weigh`] (window aggregates per event and policy): the model's weights, which
//!    sum to 1 per event and policy; then one group-by sums them per allocation.
//!
//! [`outcomes`] classifies each (event, policy) pair with touches for the report.

use polars::prelude::*;

use super::params::{AttributionParams, TouchModel};

/// The partition of a goal event's touches of one policy.
const EVENT_POLICY: [&str; 2] = ["track_row", "policy_id"];

fn over() -> [Expr; 2] {
    EVENT_POLICY.map(col)
}

/// `e` evaluated per event and policy.
fn per(e: Expr) -> Expr {
    e.over(over())
        .expect("a window over two plain columns is a valid expression")
}

/// Whether a touch may be credited: `exposed_at ≤ event_ts + skew` and, with a window,
/// `event_ts ≤ exposed_at + window`.
pub(super) fn in_time(p: &AttributionParams) -> Expr {
    let not_before = col("exposed_at").lt_eq(col("event_ts") + lit(p.clock_skew_ms));
    match p.window_ms {
        Some(w) => not_before.and(col("event_ts").lt_eq(col("exposed_at") + lit(w))),
        None => not_before,
    }
}

/// Whether the event came more than the window after the touch.
fn too_old(p: &AttributionParams) -> Expr {
    match p.window_ms {
        Some(w) => col("event_ts").gt(col("exposed_at") + lit(w)),
        None => lit(false),
    }
}

/// One row per (event, policy) with touches: `outcome` is `credited` if a touch is in
/// time, else `outside_window` if a touch is older than the window, else
/// `before_exposure` (every touch comes after the event, beyond the skew).
pub(super) fn outcomes(touches: LazyFrame, p: &AttributionParams) -> LazyFrame {
    touches
        .group_by(over())
        .agg([
            in_time(p).cast(DataType::Int32).max().alias("any_in_time"),
            too_old(p).cast(DataType::Int32).max().alias("any_old"),
        ])
        .with_column(
            when(col("any_in_time").eq(lit(1i32)))
                .then(lit("credited"))
                .when(col("any_old").eq(lit(1i32)))
                .then(lit("outside_window"))
                .otherwise(lit("before_exposure"))
                .alias("outcome"),
        )
        .select([col("track_row"), col("policy_id"), col("outcome")])
}

/// Keeps, per event and policy, only the touches with the highest `linked` value.
pub(super) fn strongest_link(touches: LazyFrame) -> LazyFrame {
    touches.filter(col("linked").eq(per(col("linked").max())))
}

/// Adds `weight`: the model's share of each touch in its event's credit for the policy.
/// Exact ties in time share a position's credit equally, so the result does not depend
/// on row order.
pub(super) fn weigh(touches: LazyFrame, model: TouchModel) -> LazyFrame {
    let n = per(len().cast(DataType::Float64));
    let first = col("exposed_at").eq(per(col("exposed_at").min()));
    let last = col("exposed_at").eq(per(col("exposed_at").max()));
    let count = |e: Expr| per(e.cast(DataType::Float64).sum());
    let share = |is: Expr| {
        when(is.clone())
            .then(lit(1.0) / count(is))
            .otherwise(lit(0.0))
    };
    let weight = match model {
        TouchModel::FirstTouch => share(first),
        TouchModel::LastTouch => share(last),
        TouchModel::Linear => lit(1.0) / n,
        TouchModel::TimeDecay { half_life_ms } => {
            let age = when(col("event_ts").gt(col("exposed_at")))
                .then(col("event_ts") - col("exposed_at"))
                .otherwise(lit(0i64))
                .cast(DataType::Float64);
            let raw = lit(0.5).pow(age / lit(half_life_ms));
            raw.clone() / per(raw.sum())
        }
        TouchModel::PositionBased { first: f, last: l } => {
            let n_first = count(first.clone());
            let n_last = count(last.clone());
            let n_mid = n.clone() - n_first.clone() - n_last.clone();
            let single = first.clone().and(last.clone());
            // Two distinct times: the middle share goes to the ends in ratio f : l.
            let (f2, l2) = if f + l > 0.0 {
                (f / (f + l), l / (f + l))
            } else {
                (0.5, 0.5)
            };
            when(single)
                .then(lit(1.0) / n)
                .when(first.clone().and(n_mid.clone().eq(lit(0.0))))
                .then(lit(f2) / n_first.clone())
                .when(last.clone().and(n_mid.clone().eq(lit(0.0))))
                .then(lit(l2) / n_last.clone())
                .when(first)
                .then(lit(f) / n_first)
                .when(last)
                .then(lit(l) / n_last)
                .otherwise(lit(1.0 - f - l) / n_mid)
        }
    };
    touches.with_column(weight.alias("weight"))
}

/// The credit table from touches: in time, strongest link, weighted, summed per
/// allocation. Columns `track_row`, `unit_key`, `policy_id`, `allocation_name`,
/// `exposed_at` (the latest credited touch), `weight`, plus the `extra` key columns.
pub(super) fn credit(touches: LazyFrame, p: &AttributionParams, extra: &[&str]) -> LazyFrame {
    let mut keys = vec![
        col("track_row"),
        col("unit_key"),
        col("policy_id"),
        col("allocation_name"),
    ];
    keys.extend(extra.iter().map(|c| col(*c)));
    weigh(strongest_link(touches.filter(in_time(p))), p.model)
        .group_by(keys)
        .agg([col("exposed_at").max(), col("weight").sum()])
}
