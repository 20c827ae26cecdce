//! Sessions: the events' `sessionId` when present, otherwise a per-unit inactivity
//! gap (default 30 minutes).
//!
//! * An exposure or decision row without `sessionId` starts a new session when more
//!   than `gap` passed since the unit's previous session-less row.
//! * A track event without `sessionId` belongs to the session of the unit's latest
//!   exposure or decision at or before the event's time (of rows at the same time, the
//!   later in the table), if that was at most `gap` earlier; otherwise to no session (it can still be credited through its
//!   `decisionId` or the unit-key rule).
//!
//! Session keys are `u32` codes, not strings: one per distinct `sessionId`, then one
//! per derived session, so the joins on `(unit, session)` compare integers. The pass is
//! one sort plus a linear scan per unit.

use std::collections::HashMap;

use polars::prelude::*;

use crate::error::Result;

/// Adds a `session` column (`u32`) to the exposures table (exposure and decision
/// rows) and to the tracks table (null where the event belongs to no session), and a
/// `unit` column (`u32`): one code per distinct `unit_key`, shared by both tables, so
/// that the later joins on the unit compare integers.
///
/// # Errors
///
/// [`crate::Error::Polars`] if a table lacks `unit_key`, `session_id` or its time
/// (`ts` for exposures, `event_ts` for tracks); [`crate::Error::TooManyRows`] for
/// 2³² - 1 rows or more.
pub fn sessionize(
    exposures: &DataFrame,
    tracks: &DataFrame,
    gap_ms: i64,
) -> Result<(DataFrame, DataFrame)> {
    check_rows(exposures.height() + tracks.height())?;
    // Columns are read once into plain vectors: random access into a chunked array
    // inside a sort comparator was most of this step's time.
    let units: Vec<Option<&str>> = exposures.column("unit_key")?.str()?.iter().collect();
    let sids: Vec<Option<&str>> = exposures.column("session_id")?.str()?.iter().collect();
    let ts: Vec<Option<i64>> = exposures.column("ts")?.i64()?.iter().collect();
    let t_units: Vec<Option<&str>> = tracks.column("unit_key")?.str()?.iter().collect();
    let t_sids: Vec<Option<&str>> = tracks.column("session_id")?.str()?.iter().collect();
    let at: Vec<Option<i64>> = tracks.column("event_ts")?.i64()?.iter().collect();
    let (unit, t_unit, n_units) = unit_codes(&units, &t_units);
    let (session, codes, derived) = exposure_sessions(&sids, &unit, &ts, gap_ms);
    let t_session = track_sessions(
        TrackKeys {
            sids: &t_sids,
            unit: &t_unit,
            at: &at,
        },
        ExposureSessions {
            unit: &unit,
            ts: &ts,
            session: &session,
            n_units,
        },
        &codes,
        derived,
        gap_ms,
    );
    let mut xs = exposures.clone();
    xs.with_column(Column::from(Series::new("session".into(), session)))?;
    xs.with_column(Column::from(Series::new("unit".into(), unit)))?;
    let mut out = tracks.clone();
    out.with_column(Column::from(Series::new("session".into(), t_session)))?;
    out.with_column(Column::from(Series::new("unit".into(), t_unit)))?;
    Ok((xs, out))
}

/// Unit codes of the exposures' and the tracks' rows, and their number: exposures
/// first, then units only tracks name.
fn unit_codes(
    units: &[Option<&str>],
    t_units: &[Option<&str>],
) -> (Vec<Option<u32>>, Vec<Option<u32>>, usize) {
    let mut unit_codes: HashMap<&str, u32> = HashMap::with_capacity(units.len() / 2);
    let mut unit: Vec<Option<u32>> = Vec::with_capacity(units.len());
    let mut t_unit: Vec<Option<u32>> = Vec::with_capacity(t_units.len());
    for (keys, out) in [(units, &mut unit), (t_units, &mut t_unit)] {
        for u in keys {
            out.push(u.map(|u| {
                let next = u32::try_from(unit_codes.len())
                    .expect("fewer than 2^32 - 1 units: rows are checked");
                *unit_codes.entry(u).or_insert(next)
            }));
        }
    }
    (unit, t_unit, unit_codes.len())
}

/// The session of each exposure row: one code per distinct `sessionId`, then rows
/// without one in (unit, time, row) order, a new code whenever the unit changes or
/// more than `gap_ms` passed. Also the `sessionId` codes and the next free code.
fn exposure_sessions<'s>(
    sids: &[Option<&'s str>],
    unit: &[Option<u32>],
    ts: &[Option<i64>],
    gap_ms: i64,
) -> (Vec<u32>, HashMap<&'s str, u32>, u32) {
    let mut codes: HashMap<&str, u32> = HashMap::new();
    let mut next = 0u32;
    let mut session: Vec<u32> = vec![0; sids.len()];
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
    order.sort_unstable_by_key(|&i| (unit[i], ts[i], i));
    let mut derived = next;
    let mut current: Option<(Option<u32>, u32, i64)> = None; // unit, code, last time
    for &i in &order {
        let (u, t) = (unit[i], ts[i].unwrap_or(0));
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
    (session, codes, derived)
}

/// The track rows' keys [`track_sessions`] reads.
struct TrackKeys<'k, 's> {
    sids: &'k [Option<&'s str>],
    unit: &'k [Option<u32>],
    at: &'k [Option<i64>],
}

/// The exposure rows' units, times and sessions, and the number of units.
struct ExposureSessions<'k> {
    unit: &'k [Option<u32>],
    ts: &'k [Option<i64>],
    session: &'k [u32],
    n_units: usize,
}

/// The session of each track row: its `sessionId`'s code (a fresh code, from `next`
/// on, for one no exposure carries), else that of its unit's latest exposure or
/// decision row at or before it if at most `gap_ms` earlier, else none.
fn track_sessions(
    tracks: TrackKeys<'_, '_>,
    x: ExposureSessions<'_>,
    codes: &HashMap<&str, u32>,
    next: u32,
    gap_ms: i64,
) -> Vec<Option<u32>> {
    // Per unit code, its exposure and decision rows' (time, row, session), sorted: of
    // rows at the same time, the later one in the table is the latest.
    let mut by_unit: Vec<Vec<(i64, usize, u32)>> = vec![Vec::new(); x.n_units];
    for (i, &code) in x.session.iter().enumerate() {
        if let (Some(u), Some(t)) = (x.unit[i], x.ts[i]) {
            by_unit[u as usize].push((t, i, code));
        }
    }
    for v in &mut by_unit {
        v.sort_unstable();
    }
    let mut unseen = next; // sessions only tracks name: no exposure joins them
    (0..tracks.sids.len())
        .map(|i| {
            if let Some(s) = tracks.sids[i] {
                return Some(codes.get(s).copied().unwrap_or_else(|| {
                    unseen += 1;
                    unseen - 1
                }));
            }
            let (u, t) = (tracks.unit[i]?, tracks.at[i]?);
            let rows = &by_unit[u as usize];
            let k = rows.partition_point(|(x, _, _)| *x <= t);
            let (x, _, code) = rows.get(k.checked_sub(1)?)?;
            (t - x <= gap_ms).then_some(*code)
        })
        .collect()
}

/// Refuses 2³² - 1 rows or more: unit and session codes are `u32`, at most one per
/// row.
fn check_rows(rows: usize) -> Result<()> {
    if rows >= u32::MAX as usize {
        return Err(crate::Error::TooManyRows {
            what: "event rows in one attribution run",
            rows: rows as u64,
            limit: u64::from(u32::MAX - 1),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::DEFAULT_SESSION_GAP_MS;

    #[test]
    fn unit_codes_are_shared_by_exposures_and_tracks_and_sessions_follow_the_gap() {
        let exposures = df!(
            "unit_key" => ["a", "b", "a"],
            "session_id" => [None::<&str>, None, None],
            "ts" => [0i64, 0, 10 * 60_000],
        )
        .unwrap();
        let tracks = df!(
            "unit_key" => ["b", "c", "a"],
            "session_id" => [None::<&str>, None, None],
            "event_ts" => [60_000i64, 0, 50 * 60_000],
        )
        .unwrap();
        let (xs, ts) = sessionize(&exposures, &tracks, DEFAULT_SESSION_GAP_MS).unwrap();
        let unit = |df: &DataFrame| -> Vec<Option<u32>> {
            df.column("unit").unwrap().u32().unwrap().iter().collect()
        };
        // Exposures' units first, then units only tracks name.
        assert_eq!(unit(&xs), vec![Some(0), Some(1), Some(0)]);
        assert_eq!(unit(&ts), vec![Some(1), Some(2), Some(0)]);
        let session = |df: &DataFrame| -> Vec<Option<u32>> {
            df.column("session")
                .unwrap()
                .u32()
                .unwrap()
                .iter()
                .collect()
        };
        let xs_session = session(&xs);
        // Unit a's two exposures are 10 minutes apart: one session.
        assert_eq!(xs_session[0], xs_session[2]);
        assert_ne!(xs_session[0], xs_session[1]);
        // b's event a minute after its exposure joins its session; c was never
        // exposed; a's event 40 minutes after its last exposure is past the gap.
        assert_eq!(session(&ts), vec![xs_session[1], None, None]);
    }

    #[test]
    fn sessions_refuse_as_many_rows_as_u32_codes_with_an_error() {
        assert!(check_rows(u32::MAX as usize - 1).is_ok());
        let err = check_rows(u32::MAX as usize).unwrap_err();
        assert!(matches!(err, crate::Error::TooManyRows { .. }), "{err}");
    }
}
