//! [`Credits`]: what attribution produced for one goal, whichever implementation
//! computed it; the attribution report and the metrics read it.

use std::collections::BTreeMap;

use polars::prelude::LazyFrame;

/// What attribution produced for one goal: the credit table, and what the attribution
/// report counts.
#[derive(Clone)]
pub struct Credits {
    /// One row per goal event, policy and allocation credited: `track_row`,
    /// `unit_key`, `policy_id`, `allocation_name`, `exposed_at` (the latest credited
    /// touch), `weight` (in [0, 1], summing to at most 1 per event and policy), plus
    /// `decision_id` in decision mode.
    pub credits: LazyFrame,
    /// One row per goal event and policy with a touch: `track_row`, `policy_id`,
    /// `outcome` (`credited`, `outside_window`, `before_exposure`).
    pub outcomes: LazyFrame,
    /// The goal events, once per `id`: `track_row`, `decision_id`, `known_decision`
    /// (the id names some exposure or decision row), `has_array`.
    pub goals: LazyFrame,
    /// Exposure rows (kind `exposure`, not attribution-only) with a policy and an
    /// allocation: `unit_key`, `policy_id`, `allocation_name`, `exposed_at`,
    /// `decision_id`, `probability` (deduplicated per session in cumulative mode).
    pub exposures: LazyFrame,
    /// Per policy id, the units whose `exposures` name two or more of its
    /// allocations, when the attribution pass counted them (the fused kernel does,
    /// from its unit codes; a policy it does not list has none). `None`: the report
    /// counts them from `exposures`.
    pub multi_allocation_units: Option<BTreeMap<String, u64>>,
}
