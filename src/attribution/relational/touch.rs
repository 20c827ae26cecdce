//! Touches → credit: the time rules and the multi-touch models, shared by both modes.
//!
//! A **touch** is one candidate row `(track_row, unit_key, policy_id, allocation_name,
//! pcode, pa, ep, exposed_at, event_ts, linked)`: an exposure that a mode's join rule pairs with a goal
//! event, before any time rule. Three relational steps turn touches into credit:
//!
//! 1. [`in_time`] (a filter): the touch is at most `skew` after the event, and the
//!    event at most `window` after the touch;
//! 2. [`strongest_link`] (a window max per event and policy): where the event's own
//!    decision has an in-time touch of a policy, only those touches are kept for it;
//! 3. [`weigh`] (window aggregates per event and policy): the model's weights, which
//!    sum to 1 per event and policy; then one group-by sums them per allocation.
//!
//! [`outcomes`] classifies each (event, policy) pair with touches for the report.

use polars::prelude::*;

use crate::attribution::params::{AttributionParams, TouchModel};

/// Codes of policies (`pcode`) and of policy × allocation pairs (`pa`), both `u32`,
/// so that the partitions below are single integer keys rather than strings (a
/// dictionary join in SQL). Every table joined into one touch table must be encoded
/// with the same dictionaries.
#[derive(Clone)]
pub(super) struct Dictionaries {
    policies: LazyFrame,
    pairs: LazyFrame,
}

impl Dictionaries {
    /// The dictionaries of the policies and allocations in `exposures`.
    pub(super) fn of(exposures: LazyFrame) -> Self {
        let named = exposures.filter(
            col("policy_id")
                .is_not_null()
                .and(col("allocation_name").is_not_null()),
        );
        Self {
            policies: named
                .clone()
                .select([col("policy_id")])
                .unique(None, UniqueKeepStrategy::Any)
                .with_row_index("pcode", None)
                .cache(),
            pairs: named
                .select([col("policy_id"), col("allocation_name")])
                .unique(None, UniqueKeepStrategy::Any)
                .with_row_index("pa", None)
                .cache(),
        }
    }

    /// Adds `pcode` and `pa` to a table with `policy_id` and `allocation_name`.
    pub(super) fn encode(&self, table: LazyFrame) -> LazyFrame {
        table
            .join(
                self.policies.clone(),
                [col("policy_id")],
                [col("policy_id")],
                JoinArgs::new(JoinType::Left),
            )
            .join(
                self.pairs.clone(),
                [col("policy_id"), col("allocation_name")],
                [col("policy_id"), col("allocation_name")],
                JoinArgs::new(JoinType::Left),
            )
    }
}

/// `track_row` and a `u32` code in one `u64` key.
fn key(code: &str) -> Expr {
    col("track_row").cast(DataType::UInt64) * lit(1u64 << 32) + col(code).cast(DataType::UInt64)
}

/// The partition of a goal event's touches of one policy: its `ep` key.
fn over() -> [Expr; 1] {
    [col("ep")]
}

/// `e` evaluated per event and policy.
fn per(e: Expr) -> Expr {
    e.over(over())
        .expect("a window over one plain column is a valid expression")
}

/// Adds the partition key `ep` (event × policy) to touches carrying `pcode`.
pub(super) fn keyed(touches: LazyFrame) -> LazyFrame {
    touches.with_column(key("pcode").alias("ep"))
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
            col("track_row").first(),
            col("policy_id").first(),
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
    // Window aggregates of plain columns only, in stages: a window over an expression
    // that holds another window is evaluated group by group, orders of magnitude slower.
    // Each model computes only the aggregates its formula reads: every window is a
    // group-by over all touches plus a scatter back.
    let share = |is: &str, count: &str| {
        when(col(is))
            .then(lit(1.0) / col(count))
            .otherwise(lit(0.0))
    };
    // `t` is the first (`min`) or last (`max`) touch time; ties share.
    let end_share = |t: Expr| {
        touches
            .clone()
            .with_column(per(t).alias("t_end"))
            .with_column(col("exposed_at").eq(col("t_end")).alias("is_end"))
            .with_column(per(col("is_end").cast(DataType::Float64).sum()).alias("n_end"))
            .with_column(share("is_end", "n_end").alias("weight"))
            .drop(cols(["t_end", "is_end", "n_end"]))
    };
    match model {
        TouchModel::FirstTouch => end_share(col("exposed_at").min()),
        TouchModel::LastTouch => end_share(col("exposed_at").max()),
        TouchModel::Linear => {
            touches.with_column((lit(1.0) / per(len().cast(DataType::Float64))).alias("weight"))
        }
        TouchModel::TimeDecay { half_life_ms } => {
            let age = when(col("event_ts").gt(col("exposed_at")))
                .then(col("event_ts") - col("exposed_at"))
                .otherwise(lit(0i64))
                .cast(DataType::Float64);
            touches
                .with_column(lit(0.5).pow(age / lit(half_life_ms)).alias("raw"))
                .with_column(per(col("raw").sum()).alias("raw_sum"))
                .with_column((col("raw") / col("raw_sum")).alias("weight"))
                .drop(cols(["raw", "raw_sum"]))
        }
        TouchModel::PositionBased { first, last } => position_based(touches, first, last),
    }
}

/// The position-based weights: `f` to the first touch, `l` to the last, the rest
/// shared by the middle ones (with none, the ends split everything in the ratio
/// f : l); ties at an end share its part.
fn position_based(touches: LazyFrame, f: f64, l: f64) -> LazyFrame {
    let staged = touches
        .with_columns([
            per(col("exposed_at").min()).alias("t_first"),
            per(col("exposed_at").max()).alias("t_last"),
            per(len().cast(DataType::Float64)).alias("n"),
        ])
        .with_columns([
            col("exposed_at").eq(col("t_first")).alias("is_first"),
            col("exposed_at").eq(col("t_last")).alias("is_last"),
        ])
        .with_columns([
            per(col("is_first").cast(DataType::Float64).sum()).alias("n_first"),
            per(col("is_last").cast(DataType::Float64).sum()).alias("n_last"),
        ]);
    let n_mid = col("n") - col("n_first") - col("n_last");
    // Two distinct times: the middle share goes to the ends in ratio f : l.
    let (f2, l2) = if f + l > 0.0 {
        (f / (f + l), l / (f + l))
    } else {
        (0.5, 0.5)
    };
    let ends_only = n_mid.clone().eq(lit(0.0));
    staged
        .with_column(
            when(col("is_first").and(col("is_last")))
                .then(lit(1.0) / col("n"))
                .when(col("is_first").and(ends_only.clone()))
                .then(lit(f2) / col("n_first"))
                .when(col("is_last").and(ends_only))
                .then(lit(l2) / col("n_last"))
                .when(col("is_first"))
                .then(lit(f) / col("n_first"))
                .when(col("is_last"))
                .then(lit(l) / col("n_last"))
                .otherwise(lit(1.0 - f - l) / n_mid)
                .alias("weight"),
        )
        .drop(cols([
            "t_first", "t_last", "n", "is_first", "is_last", "n_first", "n_last",
        ]))
}

/// The credit table from touches: in time, strongest link, weighted, summed per
/// allocation. Columns `track_row`, `unit_key`, `policy_id`, `allocation_name`,
/// `exposed_at` (the latest credited touch), `weight`, plus the `extra` key columns.
pub(super) fn credit(touches: LazyFrame, p: &AttributionParams, extra: &[&str]) -> LazyFrame {
    // One event's touches of one allocation share `pa`: the other columns are
    // constant within the group.
    // In decision mode (`extra`: the decision) the unit-key rule may reach several
    // decisions of one allocation: each keeps its own credit.
    let mut by = vec![key("pa").alias("ea")];
    by.extend(extra.iter().map(|c| col(*c)));
    weigh(strongest_link(touches.filter(in_time(p))), p.model)
        .group_by(by)
        .agg([
            col("track_row").first(),
            col("unit_key").first(),
            col("policy_id").first(),
            col("allocation_name").first(),
            col("exposed_at").max(),
            col("weight").sum(),
        ])
        .drop(cols(["ea"]))
}
