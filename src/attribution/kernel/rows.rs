//! The coded rows the passes exchange, and [`Attributed`], what one run computed.

use super::intern::Session;
use super::pairs::Pairs;
use crate::config::AttributionMode;
use crate::events::EventTables;

/// An exposure-table row, coded.
#[derive(Clone, Copy, Default)]
pub(super) struct XRow {
    pub(super) unit: u32,
    /// Explicit session, [`NO_SESSION`](super::intern::NO_SESSION) without `sessionId`.
    pub(super) session: Session,
    pub(super) decision: u32,
    /// Layer × policy × allocation code, `NONE` without policy or allocation.
    pub(super) lpa: u32,
    pub(super) ts: i64,
    /// Exposure (not decision) row with a policy and an allocation, not
    /// attribution-only: what dedup, decision lookups and reward units read.
    pub(super) eligible: bool,
}

/// An exposure row as the per-unit pass reads it, copied into unit order with what
/// dedup needs, so that the pass never looks rows up in the table. Ordered by time,
/// then row.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct UnitRow {
    pub(super) ts: i64,
    pub(super) row: u32,
    /// Layer × policy × allocation of an eligible row, else `NONE`.
    pub(super) lpa: u32,
    pub(super) session: Session,
}

/// A goal event (a track row named by the goal, once per `id`), coded.
#[derive(Clone, Copy, Default)]
pub(super) struct Goal0 {
    pub(super) track: u32,
    pub(super) unit: u32,
    /// Explicit session, [`NO_SESSION`](super::intern::NO_SESSION) without `sessionId`.
    pub(super) session: Session,
    pub(super) decision: u32,
    pub(super) ts: i64,
    /// `value`, null as 0.
    pub(super) value: f64,
    pub(super) has_array: bool,
}

/// One candidate exposure of a goal event.
#[derive(Clone, Copy, Default)]
pub(super) struct Touch {
    pub(super) pa: u32,
    pub(super) policy: u32,
    /// The exposure row whose `unit_key` the credit carries.
    pub(super) row: u32,
    pub(super) unit: u32,
    pub(super) at: i64,
    pub(super) linked: bool,
}

/// One credited (event, allocation).
#[derive(Clone, Copy)]
pub(in crate::attribution) struct Credit {
    pub(super) track: u32,
    pub(super) unit: u32,
    /// Exposure row of the credit's unit key (`NONE`: the event's own unit key).
    pub(super) row: u32,
    pub(super) pa: u32,
    pub(super) at: i64,
    pub(super) weight: f64,
}

/// What happened to an (event, policy) with touches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(in crate::attribution) enum Outcome {
    Credited,
    OutsideWindow,
    BeforeExposure,
}

impl Outcome {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Credited => "credited",
            Self::OutsideWindow => "outside_window",
            Self::BeforeExposure => "before_exposure",
        }
    }
}

/// What happened to one goal event (its track row) for one policy (its code).
pub(super) type OutcomeRow = (u32, u32, Outcome);

/// One reward unit: the first eligible exposure row of a unit × allocation
/// (cumulative) or of a decision × allocation (decision mode), and its credited sums.
#[derive(Clone, Copy, Default)]
pub(super) struct RewardUnit {
    pub(super) row: u32,
    pub(super) pa: u32,
    pub(super) at: i64,
    pub(super) goal_events: f64,
    pub(super) goal_value: f64,
}

/// Everything one attribution run computed, as codes and row numbers into the input
/// tables; [`Attributed::rewards`] and [`Attributed::credits`] turn it into frames.
pub(in crate::attribution) struct Attributed<'a> {
    pub(super) tables: &'a EventTables,
    pub(super) mode: AttributionMode,
    pub(super) pairs: Pairs<'a>,
    /// Reward units, in output order.
    pub(super) rewards: Vec<RewardUnit>,
    // The rest is read only by [`Attributed::credits`], so it stays as the parallel
    // tasks left it: parts to concatenate in order.
    pub(super) credits: Vec<Vec<Credit>>,
    pub(super) outcomes: Vec<Vec<OutcomeRow>>,
    /// The goal events, in track order.
    pub(super) goals: Vec<Goal0>,
    /// Eligible exposure rows kept by the mode's dedup.
    pub(super) kept: Vec<Vec<u32>>,
    /// Per policy code, the units whose kept rows name two or more of its pairs
    /// (shorter than the policies when the last have none); `None` when the units
    /// were not coded (decision mode without the unit-key rule).
    pub(super) multi: Option<Vec<u64>>,
}

/// Counts one unit into `counts` (per policy code): each policy whose pairs among
/// the unit's kept rows (`pairs`: policy and pair codes, in any order, reordered
/// here) number two or more counts the unit once.
pub(super) fn count_multi(pairs: &mut [(u32, u32)], counts: &mut Vec<u64>) {
    if pairs.len() < 2 {
        return;
    }
    pairs.sort_unstable();
    for run in pairs.chunk_by(|a, b| a.0 == b.0) {
        if run.windows(2).any(|w| w[0].1 != w[1].1) {
            let p = run[0].0 as usize;
            if counts.len() <= p {
                counts.resize(p + 1, 0);
            }
            counts[p] += 1;
        }
    }
}

/// Adds the counts of [`count_multi`] of two sets of units.
pub(super) fn add_counts(mut a: Vec<u64>, b: Vec<u64>) -> Vec<u64> {
    if a.len() < b.len() {
        return add_counts(b, a);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}
