//! From weights to what the bundle carries, apart from fitting: the exploration floor
//! and the platform's `maxShiftPerUpdate` ([`apply_floor`], [`cap_shift`]), then bucket
//! ranges.
//!
//! [`ranges_for_weights`] lays weights out from scratch over one segment; the engine
//! uses [`layout_ranges`], which keeps the covered buckets, the allocations' order and
//! as many buckets in place as the quotas allow (the rule is in [`layout`]).

pub mod layout;
mod shares;

pub use layout::{
    buckets_moved, layout_ranges, least_movement_ranges, ranges_for_weights, AllocateError,
};
pub use shares::{apply_floor, cap_shift};
