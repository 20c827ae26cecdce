//! The attribution rules of [`super::relational`], computed in one fused pass over
//! integer-coded columns.
//!
//! The relational steps are the specification: each rule is one join or group-by, and
//! the later warehouse SQL follows them. On one machine, though, a dozen polars joins
//! and window steps over string keys took 6 s for 1 M exposures and 1 M track events.
//! This kernel computes the same tables in the same order of steps, with the
//! relational operators written out over dense integer codes:
//!
//! | relational step | here |
//! |---|---|
//! | string keys in joins and group-bys | `u32` codes for units, decisions and event ids (each key hashed once into a 128-bit [`Identity`](intern::Identity), interned in parallel: [`intern`]); sessions compared by identity within their unit; layer × policy × allocation codes ([`exposures`]) |
//! | `group_by(unit, session, layer, policy, allocation).first()` (dedup) | rows bucketed by unit (a counting sort, [`group`]), then a sort of each unit's few rows ([`cumulative`]) |
//! | `join(decision_id)` to the decision's exposures | a CSR index: decision code → its first exposure per policy × allocation ([`code`]) |
//! | `join(unit, session)`, `join(unit)` | the unit's bucket, already at hand |
//! | window steps per event × policy (time rules, strongest link, model) | a loop over the event's touches of one policy ([`touch`]) |
//! | `group_by(unit, policy, allocation)` of credits, left join to exposed units | the unit's reward rows, found by a scan of its bucket |
//! | `sort(policy, allocation, unit_key)` | units ranked by key once ([`order`]); rows bucketed by policy × allocation in rank order |
//! | the report's `group_by(unit_key).n_unique(allocation)` of kept exposures, per policy | counted per unit: as its rows are deduplicated (cumulative), or over its touches grouped by unit (decision mode) ([`rows::count_multi`]) |
//!
//! Every pass over rows is parallel (rayon) over fixed spans or chunks whose results
//! are joined in order, so the output does not depend on the thread count. Key
//! columns are read in place from their arrow chunks ([`keys`]), never copied into
//! vectors of strings. In cumulative mode only the decisions goal events name get
//! codes (the exposures' ids are looked up among them), since no other decision is
//! ever looked up. [`frames`] turns the coded result into the output tables.
//! `tests/it/attribution_kernel.rs` checks on random logs that both implementations
//! give the same tables; the unit tests (`tests.rs`) check the passes that split rows
//! into spans on inputs of several spans.

mod code;
mod cumulative;
mod decision;
mod exposures;
mod frames;
mod group;
mod intern;
mod keys;
mod order;
mod pairs;
mod rows;
mod touch;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::params::AttributionParams;
use crate::config::AttributionMode;
use crate::error::Result;
use crate::events::EventTables;
use crate::timing::{phase, timed};

use rows::Attributed;

/// A hash map with a fixed seed, for the kernel's small dictionaries (pairs, layer ×
/// policy × allocation keys): nothing in a run depends on a per-process seed.
type Map<K, V> = HashMap<K, V, FixedState>;

fn map<K, V>(capacity: usize) -> Map<K, V> {
    HashMap::with_capacity_and_hasher(capacity, FixedState::with_seed(0x005e_edba_4d17))
}

/// No code (a null key).
const NONE: u32 = u32::MAX;

/// Dictionaries up to this size are searched by comparison, not hashing.
const SMALL: usize = 16;

/// Units per parallel task.
const UNIT_CHUNK: usize = 4096;

/// Rows per task of the row-coding passes.
const ROW_SPAN: usize = 1 << 16;

/// Attribution of one goal event name under `params`.
pub(super) fn attribute<'a>(
    tables: &'a EventTables,
    goal_event: &str,
    params: &AttributionParams,
) -> Result<Attributed<'a>> {
    let c = timed("   code", || code::code(tables, goal_event, params))?;
    let _mode = phase("   mode");
    match params.mode {
        AttributionMode::Decision => decision::decision(tables, c, params),
        AttributionMode::Cumulative => Ok(cumulative::cumulative(tables, c, params)),
    }
}
