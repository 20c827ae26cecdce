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
    let plan = scan::Plan::new(config.schemas.iter().map(|(n, s)| (n.as_str(), s)));
    let mut found = scan::scan(&loaded.tables.tracks, &plan)?;
    let rejects = std::mem::take(&mut found.rejects);
    apply::reject(loaded, rejects)?;
    let discovered = Discovered {
        events: std::mem::take(&mut found.undefined)
            .into_iter()
            .map(|(name, shape)| (name, shape.into_discovered()))
            .collect(),
    };
    let report = EnforcementReport::new(&plan, found, &discovered);
    Ok(Enforcement { report, discovered })
}
