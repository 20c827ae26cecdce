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
//! Session keys are `u32` codes, not strings: one per distinct `sessionId`, then one
//! per derived session, so the joins on `(unit, session)` compare integers. The pass is
//! one sort plus a linear scan per unit.

use std::collections::HashMap;

use polars::prelude::*;

use crate::error::Result;

/// Default inactivity gap that ends a derived session.
pub const DEFAULT_SESSION_GAP_MS: i64 = 30 * 60 * 1000;

/// Adds a `session` column (`u32`) to the exposures table (exposure and decision
/// rows) and to the tracks table (null where the event belongs to no session).
///
/// # Errors
///
/// [`crate::Error::Polars`] if a table lacks `unit_key`, `session_id` or its time
/// (`ts` for exposures, `event_ts` for tracks).
pub fn sessionize(
    exposures: &DataFrame,
    tracks: &DataFrame,
    gap_ms: i64,
) -> Result<(DataFrame, DataFrame)> {
    let units = exposures.column("unit_key")?.str()?;
    let sids = exposures.column("session_id")?.str()?;
    let ts = exposures.column("ts")?.i64()?;
    let n = exposures.height();
    let mut codes: HashMap<&str, u32> = HashMap::new();
    let mut next = 0u32;
    let mut session: Vec<u32> = vec![0; n];
    let mut order = Vec::new();
    for (i, sid) in sids.iter().enumerate() {
        match sid {
            Some(s) => {
                session[i] = *codes.entry(s).or_insert_with(|| {
                    next += 1;
                    next - 1
                });
            }
            None => order.push(i),
        }
    }
    order.sort_by(|&a, &b| {
        units
            .get(a)
            .cmp(&units.get(b))
            .then(ts.get(a).cmp(&ts.get(b)))
            .then(a.cmp(&b))
    });
    let mut derived = next;
    let mut current: Option<(&str, u32, i64)> = None; // unit, code, last time
    for &i in &order {
        let (u, t) = (units.get(i).unwrap_or(""), ts.get(i).unwrap_or(0));
        let code = match current {
            Some((cu, code, last)) if cu == u && t - last <= gap_ms => code,
            _ => {
                derived += 1;
                derived - 1
            }
        };
        current = Some((u, code, t));
        session[i] = code;
    }
    let mut by_unit: HashMap<&str, Vec<(i64, u32)>> = HashMap::new();
    for (i, &code) in session.iter().enumerate() {
        if let (Some(u), Some(t)) = (units.get(i), ts.get(i)) {
            by_unit.entry(u).or_default().push((t, code));
        }
    }
    for v in by_unit.values_mut() {
        v.sort_unstable();
    }
    let t_units = tracks.column("unit_key")?.str()?;
    let t_sids = tracks.column("session_id")?.str()?;
    let at = tracks.column("event_ts")?.i64()?;
    let mut unseen = derived; // sessions only tracks name: no exposure joins them
    let t_session: Vec<Option<u32>> = (0..tracks.height())
        .map(|i| {
            if let Some(s) = t_sids.get(i) {
                return Some(codes.get(s).copied().unwrap_or_else(|| {
                    unseen += 1;
                    unseen - 1
                }));
            }
            let (u, t) = (t_units.get(i)?, at.get(i)?);
            let rows = by_unit.get(u)?;
            let k = rows.partition_point(|(x, _)| *x <= t);
            let (x, code) = rows.get(k.checked_sub(1)?)?;
            (t - x <= gap_ms).then_some(*code)
        })
        .collect();
    let mut xs = exposures.clone();
    xs.with_column(Column::from(Series::new("session".into(), session)))?;
    let mut out = tracks.clone();
    out.with_column(Column::from(Series::new("session".into(), t_session)))?;
    Ok((xs, out))
}
