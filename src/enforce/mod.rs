//! Schema enforcement on track events, after loading and before attribution, per
//! event definition's `schemaEnforcement`:
//!
//! - `off`: the event is not checked.
//! - `warn`: the event is checked and kept; violations are counted by event,
//!   property and rule ([`EnforcementReport`]).
//! - `reject`: an invalid event is moved out of the tables (with its attribution
//!   rows) into the quarantine, one [`Rejected`] naming its source file and line,
//!   every violated property path and every message. Load counts move with it, so
//!   `read = accepted + quarantined` still holds.
//!
//! Track events whose name has no definition are kept, counted and described in
//! [`Discovered`].
//!
//! ```
//! use bandit_engine::config::ProjectConfig;
//! use bandit_engine::enforce::enforce;
//! use bandit_engine::events::{Event, EventType, Loaded, LoadReport, TableBuilder};
//!
//! let config = ProjectConfig::from_str_named(
//!     "events:\n  purchase:\n    valueType: currency\n    schemaEnforcement: reject\n",
//!     "config.yaml",
//! )?;
//! let mut tracks = TableBuilder::default();
//! let mut e = Event::new(EventType::Track, "u1", 0);
//! e.event = Some("purchase".into());
//! e.value = Some(f64::INFINITY);
//! tracks.push_from(e, Some(("events.ndjson", 1)));
//! let mut loaded = Loaded { tables: tracks.finish()?, report: LoadReport::default(), rejected: vec![] };
//! let outcome = enforce(&config, &mut loaded)?;
//! assert_eq!(outcome.report.rejected, 1);
//! assert_eq!(loaded.tables.tracks.height(), 0);
//! assert_eq!(loaded.rejected[0].field, "value");
//! # Ok::<(), bandit_engine::Error>(())
//! ```

mod apply;
mod discover;
mod fast;
mod raw;
mod report;
mod scan;

pub use apply::{move_counts, sort_quarantine};
pub use discover::{Discovered, DiscoveredEvent, MAX_DEPTH};
pub use report::{EnforcementReport, EventCounts, ViolationCount};

use crate::config::ProjectConfig;
use crate::error::Result;
use crate::events::Loaded;

/// What enforcement found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Enforcement {
    /// Counts, serialisable into the run report.
    pub report: EnforcementReport,
    /// Events without a definition, described.
    pub discovered: Discovered,
}

/// Enforces every event definition's schema on the track events of `loaded`: counts
/// violations, moves the invalid events of `reject` definitions to
/// `loaded.rejected` (kept in file and line order) and updates `loaded.report`.
///
/// # Errors
///
/// [`Error::Polars`](crate::Error::Polars) if the track table lacks a column of
/// [`TRACK_COLUMNS`](crate::events::table::TRACK_COLUMNS).
pub fn enforce(config: &ProjectConfig, loaded: &mut Loaded) -> Result<Enforcement> {
    let part = enforce_part(config, loaded)?;
    Ok(finish(config, vec![part]))
}

/// What enforcing one partition of a log found, to be merged with the others'
/// ([`finish`]): every count and description merges by addition, so any split of the
/// tracks by unit gives the [`Enforcement`] of the whole.
pub struct PartEnforcement {
    found: scan::Scan,
}

/// Enforces the schemas on one partition's track events: as [`enforce`], but the
/// findings are kept for [`finish`]. Rejected events move to `loaded.rejected`, and
/// the counts of `loaded.report` move with them (a partition's report may be empty:
/// [`move_counts`] then applies the moves to the whole log's).
///
/// # Errors
///
/// As [`enforce`].
pub fn enforce_part(config: &ProjectConfig, loaded: &mut Loaded) -> Result<PartEnforcement> {
    let plan = plan(config);
    let mut found = scan::scan(&loaded.tables.tracks, &plan)?;
    let rejects = std::mem::take(&mut found.rejects);
    apply::reject(loaded, rejects)?;
    Ok(PartEnforcement { found })
}

/// The enforcement of a whole log from its partitions' findings, in any order.
#[must_use]
pub fn finish(config: &ProjectConfig, parts: Vec<PartEnforcement>) -> Enforcement {
    let plan = plan(config);
    let mut parts = parts.into_iter();
    let mut found = parts
        .next()
        .map_or_else(|| scan::Scan::sized(plan.schemas.len()), |p| p.found);
    for p in parts {
        found.merge(p.found);
    }
    let discovered = Discovered {
        events: std::mem::take(&mut found.undefined)
            .into_iter()
            .map(|(name, shape)| (name, shape.into_discovered()))
            .collect(),
    };
    let report = EnforcementReport::new(&plan, found, &discovered);
    Enforcement { report, discovered }
}

fn plan(config: &ProjectConfig) -> scan::Plan<'_> {
    scan::Plan::new(config.schemas.iter().map(|(n, s)| (n.as_str(), s)))
}
