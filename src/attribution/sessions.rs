//! Sessions: the events' `sessionId` when present, otherwise a per-unit inactivity
//! gap (default 30 minutes).
//!
//! * An exposure or decision row without `sessionId` starts a new session when more
//!   than `gap` passed since the unit's previous session-less row.
//! * A track event without `sessionId` belongs to the session of the unit's latest
//!   exposure or decision at or before the event's time, if that was at most `gap`
//!   earlier; otherwise to no session (it can still be credited through its
//!   `decisionId` or the unit-key rule).
//!
//! Session keys are strings: the `sessionId` itself, or `~<unitKey>~<start ms>` for a
//! derived session (`~` marks them so they cannot collide with SDK session ids in
//! practice). The pass is one sort plus a linear scan per unit.

use std::collections::HashMap;

use polars::prelude::*;

use crate::error::Result;

/// Default inactivity gap that ends a derived session.
pub const DEFAULT_SESSION_GAP_MS: i64 = 30 * 60 * 1000;

fn derived(unit: &str, start: i64) -> String {
    format!("~{unit}~{start}")
}

/// Adds a `session` column to the exposures table (exposure and decision rows).
///
/// # Errors
///
/// [`crate::Error::Polars`] if the table lacks `unit_key`, `session_id` or `ts`.
pub fn sessionize_exposures(exposures: &DataFrame, gap_ms: i64) -> Result<DataFrame> {
    let units = exposures.column("unit_key")?.str()?;
    let sids = exposures.column("session_id")?.str()?;
    let ts = exposures.column("ts")?.i64()?;
    let n = exposures.height();
    let mut order: Vec<usize> = (0..n).filter(|&i| sids.get(i).is_none()).collect();
    order.sort_by(|&a, &b| {
        units
            .get(a)
            .cmp(&units.get(b))
            .then(ts.get(a).cmp(&ts.get(b)))
            .then(a.cmp(&b))
    });
    let mut session: Vec<Option<String>> = (0..n).map(|i| sids.get(i).map(str::to_owned)).collect();
    let mut current: Option<(&str, i64, i64)> = None; // unit, start, last
    for &i in &order {
        let (u, t) = (units.get(i).unwrap_or(""), ts.get(i).unwrap_or(0));
        current = match current {
            Some((cu, start, last)) if cu == u && t - last <= gap_ms => Some((cu, start, t)),
            _ => Some((u, t, t)),
        };
        let (cu, start, _) = current.expect("set just above");
        session[i] = Some(derived(cu, start));
    }
    let mut out = exposures.clone();
    out.with_column(Column::from(Series::new("session".into(), session)))?;
    Ok(out)
}

/// Adds a `session` column to the tracks table, given sessionized exposures.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a table lacks its columns.
pub fn sessionize_tracks(
    tracks: &DataFrame,
    exposures: &DataFrame,
    gap_ms: i64,
) -> Result<DataFrame> {
    let x_units = exposures.column("unit_key")?.str()?;
    let x_ts = exposures.column("ts")?.i64()?;
    let x_sess = exposures.column("session")?.str()?;
    let mut by_unit: HashMap<&str, Vec<(i64, &str)>> = HashMap::new();
    for i in 0..exposures.height() {
        if let (Some(u), Some(t), Some(s)) = (x_units.get(i), x_ts.get(i), x_sess.get(i)) {
            by_unit.entry(u).or_default().push((t, s));
        }
    }
    for v in by_unit.values_mut() {
        v.sort_unstable();
    }
    let units = tracks.column("unit_key")?.str()?;
    let sids = tracks.column("session_id")?.str()?;
    let at = tracks.column("event_ts")?.i64()?;
    let session: Vec<Option<String>> = (0..tracks.height())
        .map(|i| {
            if let Some(s) = sids.get(i) {
                return Some(s.to_owned());
            }
            let (u, t) = (units.get(i)?, at.get(i)?);
            let rows = by_unit.get(u)?;
            let k = rows.partition_point(|(x, _)| *x <= t);
            let (x, s) = rows.get(k.checked_sub(1)?)?;
            (t - x <= gap_ms).then(|| (*s).to_owned())
        })
        .collect();
    let mut out = tracks.clone();
    out.with_column(Column::from(Series::new("session".into(), session)))?;
    Ok(out)
}
