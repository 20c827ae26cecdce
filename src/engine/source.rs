//! Where a run's events come from: the whole log's tables in memory, or what the
//! partitions of a log larger than memory gave, merged ([`super::partitioned`]).

use std::collections::BTreeMap;
use std::rc::Rc;

use polars::prelude::{DataFrame, IntoLazy, LazyFrame};

use super::overflow::HugeValue;
use super::rewards::Attributed;
use crate::attribution::AttributionParams;
use crate::config::Goal;
use crate::error::AttributionError;
use crate::events::EventTables;
use crate::time::Millis;

/// What a run reads of its events besides the attributions.
#[derive(Clone, Copy)]
pub(super) enum Source<'a> {
    /// The whole log's tables, in memory.
    Tables(&'a EventTables),
    /// What the partitions of a log gave, merged.
    Merged(&'a Merged),
}

impl Source<'_> {
    /// The exposure rows contextual and per-entity learners join their reward rows to
    /// (all of them; in a partitioned run the exposures of those policies).
    pub fn exposures(&self) -> LazyFrame {
        match self {
            Source::Tables(t) => t.exposures.clone().lazy(),
            Source::Merged(m) => m.contexts.clone().lazy(),
        }
    }

    /// The first few goal events of `goal` whose value is too large to square, as
    /// `file:line (value)`.
    pub fn huge_values(&self, goal: &str) -> Vec<String> {
        match self {
            Source::Tables(t) => super::overflow::huge_values(t, goal).unwrap_or_default(),
            Source::Merged(m) => m.huge_values(goal),
        }
    }
}

/// What the partitions of a log gave, merged: everything a run reads of its events.
pub(super) struct Merged {
    /// Each goal and settings attributed, or why it could not be.
    pub attributed: Vec<(
        Goal,
        AttributionParams,
        std::result::Result<Rc<Attributed>, AttributionError>,
    )>,
    /// Exposure rows of the contextual and per-entity policies (`kind`, `policy_id`,
    /// `unit_key`, `ts`, `context`).
    pub contexts: DataFrame,
    /// Per goal event: the first few values too large to square, by file and line.
    pub(super) huge: BTreeMap<String, Vec<(usize, HugeValue)>>,
    /// The latest exposure of each policy.
    pub latest: BTreeMap<String, Millis>,
    /// The latest event.
    pub latest_event: Option<Millis>,
    /// Exposure layers with a bucket beyond the bundle's count (the warning, the count).
    pub out_of_range: Option<(String, u64)>,
}

impl Merged {
    /// As [`super::overflow::huge_values`] on the whole log.
    pub fn huge_values(&self, goal: &str) -> Vec<String> {
        self.huge
            .get(goal)
            .map(|v| v.iter().map(|(_, h)| h.to_string()).collect())
            .unwrap_or_default()
    }
}
