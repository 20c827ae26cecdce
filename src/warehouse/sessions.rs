//! Sessions in SQL, as `attribution::relational::sessions` derives them: a row's
//! `session_id` when present; otherwise, for exposure and decision rows, a new
//! session whenever more than the gap passed since the unit's previous session-less
//! row; a track event without one joins the session of its unit's latest exposure or
//! decision row at or before it, if at most the gap earlier.
//!
//! Session keys are text: `s` + the `session_id`, or `g` + the number of the derived
//! session within its unit (joins are always on unit and session together).

use super::dialect::Dialect;
use super::sql::{exposure_filter, Ctes};

/// Adds, for policy `policy_id`, `{p}_sx` (every exposure and decision row with `sess`), `{p}_d` (the
/// policy's exposures kept once per unit, session, layer and allocation, with the
/// first time as `exposed_at`) and `{p}_gs` (the goal events `{p}_g` with `sess`).
pub(super) fn sessions(d: &dyn Dialect, gap_ms: i64, policy_id: &str, p: &str, ctes: &mut Ctes) {
    // Rows without a session id, per unit in time order: a new derived session after a
    // gap. The running count uses the default RANGE frame, so rows at the same instant
    // (peers) get the same session whatever order the engine puts them in.
    ctes.push(
        &format!("{p}_sx1"),
        &format!("SELECT x.*, CASE WHEN session_id IS NULL AND (ts - LAG(ts) OVER (PARTITION BY unit_key, CASE WHEN session_id IS NULL THEN 1 ELSE 0 END ORDER BY ts) <= {gap_ms}) THEN 0 ELSE 1 END AS fresh FROM bx x"),
    );
    ctes.push(
        &format!("{p}_sx"),
        &format!(
            "SELECT x.*, CASE WHEN session_id IS NOT NULL THEN 's' || session_id\n    ELSE 'g' || {n} END AS sess\n  FROM {p}_sx1 x",
            n = d.to_text(
                "SUM(fresh) OVER (PARTITION BY unit_key, CASE WHEN session_id IS NULL THEN 1 ELSE 0 END ORDER BY ts)"
            )
        ),
    );
    ctes.push(
        &format!("{p}_d"),
        &format!(
            "SELECT unit_key, sess, layer_id, allocation_name, MIN(ts) AS exposed_at\n  FROM {p}_sx WHERE {f}\n  GROUP BY unit_key, sess, layer_id, allocation_name",
            f = exposure_filter(d, policy_id)
        ),
    );
    // The latest row of the unit at or before a session-less goal event; of rows at
    // the same instant, the greatest session key.
    ctes.push(
        &format!("{p}_gl"),
        &format!(
            "SELECT tu, tn, sess FROM (\n    SELECT g.tu, g.tn, x.sess, g.event_ts - x.ts AS age,\n      ROW_NUMBER() OVER (PARTITION BY g.tu, g.tn ORDER BY x.ts DESC, x.sess DESC) AS rk\n    FROM {p}_g g JOIN {p}_sx x ON x.unit_key = g.tu AND x.ts <= g.event_ts\n    WHERE g.session_id IS NULL) l\n  WHERE rk = 1 AND age <= {gap_ms}"
        ),
    );
    ctes.push(
        &format!("{p}_gs"),
        &format!("SELECT g.*, CASE WHEN g.session_id IS NOT NULL THEN 's' || g.session_id ELSE l.sess END AS sess\n  FROM {p}_g g LEFT JOIN {p}_gl l ON l.tu = g.tu AND l.tn = g.tn"),
    );
}
