//! Which columns of the event tables a load keeps.
//!
//! Every column of every record is still validated whatever the projection (a bad
//! `org_id` quarantines its record, with the same file, line, field and reason): a
//! column a projection leaves out is only not built into the tables. A retrain or a
//! metrics run reads a dozen of the tables' forty columns; the columns it never reads
//! (the ids of the organisation, project and environment, the config version, the
//! policy's and allocation's keys, the layer's own unit key, the model version, an
//! exposure's event id) were
//! about a third of a load's memory and of its string filtering.
//!
//! A table without a column is loud about it: a stage that reads a column the
//! projection left out fails with polars' "column not found" instead of reading
//! nulls, so a projection that is too narrow shows in tests rather than in results.

use polars::prelude::DataFrame;

use super::model::{Event, EventType};
use super::ndjson::{RawEvent, RawLayer};

/// Columns no stage of a retrain or of a metrics run reads, in the exposures and the
/// tracks tables (`docs/formats.md` says what each holds). They stay in the files and
/// in what `convert` writes; the relational and kernel attribution, goals, schema
/// checks (but the quarantine records of `reject` mode, see [`Projection::run`]),
/// learners, health checks and metrics read none of them.
const UNREAD: &[&str] = &["org_id", "project_id", "env", "config_version"];

/// Exposure columns a run does not read beyond [`UNREAD`]: a layer's keys, its own
/// unit key and model version.
const UNREAD_LAYER: &[&str] = &[
    "policy_key",
    "allocation_id",
    "allocation_key",
    "layer_unit_key",
    "layer_unit_key_value",
    "model_version",
];

/// Exposure columns a run does not read beyond [`UNREAD`] and [`UNREAD_LAYER`]: an
/// exposure's event id (goal events are deduplicated by theirs; exposures by unit,
/// session, layer and allocation).
const UNREAD_EXPOSURE: &[&str] = &["event_id"];

/// Columns only cumulative attribution reads (its sessions): a run whose policies
/// all attribute by decision leaves them out of both tables (a third of a decision-mode
/// load's kept strings).
const SESSIONS: &[&str] = &["session_id"];

/// One of the two tables a projection narrows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// One row per layer of an exposure or decision.
    Exposures,
    /// One row per track event.
    Tracks,
}

/// Which columns of the exposures and tracks tables a load keeps (the attributions
/// table, one row per SDK-built attribution entry, is always whole). The default keeps
/// every column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Projection {
    /// Exposure columns left out.
    exposures: Vec<&'static str>,
    /// Track columns left out.
    tracks: Vec<&'static str>,
}

impl Projection {
    /// Every column (what [`super::load_events`] keeps).
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// The columns a retrain or a metrics run reads; `sessions` when any of its
    /// policies attributes in cumulative mode. With `whole_tracks` the tracks table
    /// keeps every column: a property schema in `reject` mode quarantines a track row
    /// with its whole record, which must not lose the columns the run does not
    /// otherwise read.
    #[must_use]
    pub fn run(whole_tracks: bool, sessions: bool) -> Self {
        let sessions: &[&'static str] = if sessions { &[] } else { SESSIONS };
        Self {
            exposures: [UNREAD, UNREAD_LAYER, UNREAD_EXPOSURE, sessions].concat(),
            tracks: if whole_tracks {
                Vec::new()
            } else {
                [UNREAD, sessions].concat()
            },
        }
    }

    /// Whether the exposures table keeps column `name`.
    #[must_use]
    pub fn keeps_exposure(&self, name: &str) -> bool {
        !self.exposures.contains(&name)
    }

    /// Whether the tracks table keeps column `name`.
    #[must_use]
    pub fn keeps_track(&self, name: &str) -> bool {
        !self.tracks.contains(&name)
    }

    /// Whether `table` keeps column `name`.
    pub(crate) fn keeps(&self, table: Table, name: &str) -> bool {
        match table {
            Table::Exposures => self.keeps_exposure(name),
            Table::Tracks => self.keeps_track(name),
        }
    }

    /// Whether every column is kept.
    #[must_use]
    pub fn is_all(&self) -> bool {
        self.exposures.is_empty() && self.tracks.is_empty()
    }

    /// The exposures and tracks tables without the columns left out (those already
    /// gone are skipped).
    pub(super) fn apply(&self, exposures: &mut DataFrame, tracks: &mut DataFrame) {
        drop_columns(exposures, &self.exposures);
        drop_columns(tracks, &self.tracks);
    }
}

/// The fields a row builder empties as it takes an event, for the columns a
/// projection leaves out: their strings are freed as soon as the event is validated
/// instead of being held until the load's tables are built (and then dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Blank {
    /// Per table (exposures, tracks): the organisation, project, environment and
    /// config version.
    ids: [bool; 2],
    /// An exposure's or decision's own event id.
    exposure_id: bool,
    /// A layer's keys, own unit key and model version.
    layer: bool,
}

impl Blank {
    /// What `keep` lets a builder empty: a field only when its column is left out.
    pub(super) fn of(keep: &Projection) -> Self {
        Self {
            ids: [
                UNREAD.iter().all(|c| !keep.keeps_exposure(c)),
                UNREAD.iter().all(|c| !keep.keeps_track(c)),
            ],
            exposure_id: !keep.keeps_exposure("event_id"),
            layer: UNREAD_LAYER.iter().all(|c| !keep.keeps_exposure(c)),
        }
    }

    /// Empties the fields of `e` whose columns are left out.
    pub(super) fn apply(self, e: &mut Event) {
        let exposure = e.kind != EventType::Track;
        if self.ids[usize::from(!exposure)] {
            e.org_id = None;
            e.project_id = None;
            e.env = None;
            e.config_version = None;
        }
        if exposure && self.exposure_id {
            e.id = None;
        }
        if exposure && self.layer {
            for l in &mut e.layers {
                l.policy_key = None;
                l.allocation_id = None;
                l.allocation_key = None;
                l.unit_key = None;
                l.unit_key_value = None;
                l.model_version = None;
            }
        }
    }
}

impl Blank {
    /// As [`Blank::apply`], for an event read in place and its layers.
    pub(super) fn apply_raw(self, e: &mut RawEvent<'_>, layers: &mut [RawLayer<'_>]) {
        let exposure = e.kind != EventType::Track;
        if self.ids[usize::from(!exposure)] {
            e.org_id = None;
            e.project_id = None;
            e.env = None;
            e.config_version = None;
        }
        if exposure && self.exposure_id {
            e.id = None;
        }
        if exposure && self.layer {
            for l in layers {
                l.policy_key = None;
                l.allocation_id = None;
                l.allocation_key = None;
                l.unit_key = None;
                l.unit_key_value = None;
                l.model_version = None;
            }
        }
    }
}

fn drop_columns(df: &mut DataFrame, names: &[&str]) {
    if names.iter().any(|n| df.column(n).is_ok()) {
        *df = df.drop_many(names.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_projection_leaves_out_only_known_columns() {
        let p = Projection::run(false, true);
        for c in [UNREAD, UNREAD_LAYER, UNREAD_EXPOSURE].concat() {
            assert!(!p.keeps_exposure(c), "{c}");
        }
        for c in ["unit_key", "session_id", "decision_id", "ts", "context"] {
            assert!(p.keeps_exposure(c) && p.keeps_track(c), "{c}");
        }
        assert!(p.keeps_track("event_id") && !p.keeps_exposure("event_id"));
        assert!(!p.keeps_track("env") && p.keeps_track("source_line"));
        let whole = Projection::run(true, true);
        assert!(whole.keeps_track("env") && !whole.keeps_exposure("env"));
        assert!(Projection::all().is_all() && !p.is_all());
        // Decision mode only: no sessions, but in whole tracks.
        let decision = Projection::run(false, false);
        assert!(!decision.keeps_exposure("session_id") && !decision.keeps_track("session_id"));
        assert!(decision.keeps_exposure("decision_id") && decision.keeps_track("unit_key"));
        let decision = Projection::run(true, false);
        assert!(!decision.keeps_exposure("session_id") && decision.keeps_track("session_id"));
    }

    #[test]
    fn applying_a_projection_drops_its_columns_once() {
        let mut t = super::super::TableBuilder::default().finish().unwrap();
        let p = Projection::run(false, true);
        p.apply(&mut t.exposures, &mut t.tracks);
        assert!(t.exposures.column("env").is_err());
        assert!(t.exposures.column("unit_key").is_ok());
        assert!(t.tracks.column("org_id").is_err());
        let width = t.exposures.width();
        p.apply(&mut t.exposures, &mut t.tracks);
        assert_eq!(t.exposures.width(), width);
        assert_eq!(t.attributions.width(), 8);
    }
}
