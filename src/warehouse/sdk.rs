//! SQL for the SDK-managed case: the platform's exposure and track events synced into
//! the warehouse, attributed there by the engine's own rules (those of
//! [`crate::attribution::relational`], step for step), down to one row of sufficient
//! statistics per policy × allocation.
//!
//! The queries read two relations (tables or views over the synced tables):
//!
//! * **exposures**, one row per layer of each exposure or decision event: `kind`
//!   (`exposure` | `decision`), `unit_key`, `session_id`, `decision_id`, `ts`
//!   (timestamp), `layer_id`, `policy_id`, `allocation_name`, `attribution_only`,
//!   and `context` (JSON text; read only for linear contextual policies);
//! * **tracks**, one row per track event: `event_id`, `event`, `unit_key`,
//!   `session_id`, `decision_id`, `ts` (received), `event_ts` (the event's
//!   `eventTimestamp`, null when absent), `value`.
//!
//! The columns are those of [`crate::events::EventTables`], so a flat export of the
//! events (`bandit-engine convert`) loads as is. SDK-built attribution arrays are not
//! read: a goal event carrying one is attributed by the other rules here (see
//! `docs/warehouse.md`).

use std::fmt::Write as _;

use super::dialect::Dialect;
use super::sql::{exposure_filter, Ctes};
use crate::attribution::AttributionParams;
use crate::config::{AttributionMode, Goal, GoalType, ValueSource};
use crate::error::AttributionError;
use crate::time::Millis;

/// The names of the two input relations, and how much of them an incremental run
/// reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relations {
    /// One row per exposure or decision layer.
    pub exposures: String,
    /// One row per track event.
    pub tracks: String,
    /// The overlap window of an incremental run (ms): when every policy of a statement
    /// has a watermark, it reads the exposure rows from this long before the earliest
    /// (and the track rows a clock skew earlier), instead of their whole history. A
    /// unit first exposed before that and again after its watermark then counts as
    /// new. `None` (the default): every row, as the engine on the whole log.
    pub overlap: Option<Millis>,
}

impl Default for Relations {
    fn default() -> Self {
        Self {
            exposures: "exposures".into(),
            tracks: "tracks".into(),
            overlap: None,
        }
    }
}

/// Where an incremental statement starts reading the relations (epoch ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanStart {
    /// Exposure and decision rows with `ts` at or after this.
    pub exposures: Millis,
    /// Track rows with `ts` at or after this.
    pub tracks: Millis,
}

impl ScanStart {
    /// The start for `queries` under `overlap`: the earliest watermark less the
    /// overlap (and the tracks the largest clock skew before it); `None` without an
    /// overlap, without queries or when one has no watermark (it reads everything).
    #[must_use]
    pub fn of<'a>(
        queries: impl IntoIterator<Item = &'a PolicyQuery>,
        overlap: Option<Millis>,
    ) -> Option<Self> {
        let overlap = overlap?;
        let (mut from, mut skew) = (None::<Millis>, 0);
        for q in queries {
            let after = q.after?;
            from = Some(from.map_or(after, |f| f.min(after)));
            skew = skew.max(q.params.clock_skew_ms);
        }
        let exposures = from?.saturating_sub(overlap.max(0));
        Some(Self {
            exposures,
            tracks: exposures.saturating_sub(skew.max(0)),
        })
    }
}

/// One optimised policy's query: its goal, attribution settings and the span of
/// first exposures its statistics cover.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyQuery {
    /// The policy id.
    pub policy_id: String,
    /// Its goal.
    pub goal: Goal,
    /// Its attribution settings (with the run's overrides).
    pub params: AttributionParams,
    /// Only reward units first exposed after this instant (a state's watermark).
    pub after: Option<Millis>,
    /// Only reward units first exposed at or before this instant (the run's as-of, less
    /// the policy's maturity).
    pub through: Option<Millis>,
}

/// The columns of the statistics every query returns, in order.
/// The last, `last_exposed_at` (epoch milliseconds of the latest first exposure
/// counted), moves the state's watermark as the engine's latest counted exposure
/// does; a file without it is read, with the watermark at the as-of less maturity.
pub const STATISTICS_COLUMNS: [&str; 7] = [
    "policy_id",
    "allocation_name",
    "units",
    "conversions",
    "reward_sum",
    "reward_sum_sq",
    "last_exposed_at",
];

/// One statement returning [`STATISTICS_COLUMNS`] for every policy in `queries`,
/// ordered by policy and allocation.
///
/// # Errors
///
/// [`AttributionError::NamedValue`] for a goal reading a named value or a property
/// (the queries read the event's `value`).
pub fn statistics_sql(
    d: &dyn Dialect,
    relations: &Relations,
    queries: &[PolicyQuery],
) -> Result<String, AttributionError> {
    let mut ctes = Ctes::default();
    base(
        d,
        relations,
        ScanStart::of(queries, relations.overlap),
        &mut ctes,
    );
    let parts = sdk_parts(d, queries, &mut ctes)?;
    Ok(finish(d, ctes, parts))
}

/// Adds the CTEs of each query (prefixed `pN_`); each one's final select.
pub(super) fn sdk_parts(
    d: &dyn Dialect,
    queries: &[PolicyQuery],
    ctes: &mut Ctes,
) -> Result<Vec<String>, AttributionError> {
    let mut parts = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        check_goal(q)?;
        let p = format!("p{i}");
        policy(d, q, &p, ctes, false);
        parts.push(final_select(d, q, &p));
    }
    Ok(parts)
}

/// Refuses a goal the queries cannot read (a named value or a property).
pub(super) fn check_goal(q: &PolicyQuery) -> Result<(), AttributionError> {
    if q.goal.value != ValueSource::Value
        && matches!(q.goal.goal_type, GoalType::Sum | GoalType::Mean)
    {
        return Err(AttributionError::NamedValue);
    }
    Ok(())
}

/// The statement: the CTEs, the policies' selects as one `stats`, ordered.
pub(super) fn finish(d: &dyn Dialect, ctes: Ctes, parts: Vec<String>) -> String {
    finish_with(d, ctes, parts, &[])
}

/// [`finish`] with further columns after [`STATISTICS_COLUMNS`] (the linear sums),
/// which every part returns.
pub(super) fn finish_with(
    d: &dyn Dialect,
    ctes: Ctes,
    parts: Vec<String>,
    extra: &[String],
) -> String {
    finish_ordered(d, ctes, parts, extra, &[])
}

/// [`finish_with`], the rows ordered by `order` after policy and allocation.
pub(super) fn finish_ordered(
    d: &dyn Dialect,
    mut ctes: Ctes,
    mut parts: Vec<String>,
    extra: &[String],
    order: &[String],
) -> String {
    if parts.is_empty() {
        // No policy: an empty result with the right columns.
        parts.push(format!(
            "SELECT {t} AS policy_id, {t} AS allocation_name, 0 AS units, 0 AS conversions, {f} AS reward_sum, {f} AS reward_sum_sq, 0 AS last_exposed_at FROM kd WHERE 1 = 0",
            t = d.to_text("NULL"),
            f = d.to_float("NULL"),
        ));
    }
    ctes.push("stats", &parts.join("\nUNION ALL\n"));
    let more: String = extra.iter().map(|c| format!(", {c}")).collect();
    let then: String = order.iter().map(|c| format!(", {c}")).collect();
    format!(
        "{}\nSELECT policy_id, allocation_name, units, conversions, reward_sum, reward_sum_sq, last_exposed_at{more}\nFROM stats\nORDER BY policy_id, allocation_name{then}\n{}",
        ctes.render(),
        settings_line(d)
    )
}

/// The dialect's [`Dialect::statement_settings`] as the statement's last line, or
/// nothing.
pub(super) fn settings_line(d: &dyn Dialect) -> String {
    match d.statement_settings() {
        "" => String::new(),
        s => format!("{s}\n"),
    }
}

/// The shared steps: the two relations with times in epoch milliseconds (from
/// `scan` on, when given), and the decision ids any exposure or decision row carries
/// (`kd`).
pub(super) fn base(d: &dyn Dialect, r: &Relations, scan: Option<ScanStart>, ctes: &mut Ctes) {
    // The exact bound is on epoch milliseconds, as the engine compares; a bound a day
    // looser on the column itself lets an engine prune partitions or use an index,
    // whatever zone it reads a zoneless literal in. In a subquery of its own: in
    // ClickHouse a WHERE beside the select list would read `ts` as its alias.
    let from = |relation: &str, t: Option<Millis>| match t {
        None => d.quote(relation),
        Some(t) => format!(
            "(SELECT * FROM {} WHERE ts >= {} AND {} >= {t}) w",
            d.quote(relation),
            d.timestamp_literal(t.saturating_sub(86_400_000)),
            d.epoch_ms("ts")
        ),
    };
    ctes.push(
        "bx",
        &format!(
            "SELECT kind, unit_key, session_id, decision_id, layer_id, policy_id, allocation_name,\n    COALESCE(attribution_only, FALSE) AS attribution_only, {ts} AS ts\n  FROM {x}",
            ts = d.epoch_ms("ts"),
            x = from(&r.exposures, scan.map(|s| s.exposures)),
        ),
    );
    ctes.push(
        "bt",
        &format!(
            "SELECT event_id, event, unit_key, session_id, decision_id, value, {ts} AS ts,\n    COALESCE({ets}, {ts}) AS event_ts\n  FROM {t}",
            ts = d.epoch_ms("ts"),
            ets = d.epoch_ms("event_ts"),
            t = from(&r.tracks, scan.map(|s| s.tracks)),
        ),
    );
    ctes.push(
        "kd",
        "SELECT DISTINCT decision_id FROM bx WHERE decision_id IS NOT NULL",
    );
}

/// One policy's steps, CTE names prefixed with `p`; with `unit`, the reward units
/// (`{p}_r`) keep their `unit_key` (what a linear policy joins contexts on).
pub(super) fn policy(d: &dyn Dialect, q: &PolicyQuery, p: &str, ctes: &mut Ctes, unit: bool) {
    goals(d, q, p, ctes);
    decision_exposures(d, q, p, ctes);
    match q.params.mode {
        AttributionMode::Cumulative => {
            super::sessions::sessions(d, q.params.session_gap_ms, &q.policy_id, p, ctes);
            cumulative_touches(q, p, ctes);
        }
        AttributionMode::Decision => decision_touches(q, p, ctes),
    }
    credit(d, q, p, ctes);
    rewards(d, q, p, ctes, unit);
}

/// The goal's events once per `event_id` (the first received), each with an identity
/// `(tu, tn)` (its unit and its number among the unit's goal events) and `known`:
/// whether its `decision_id` names any exposure or decision row.
fn goals(d: &dyn Dialect, q: &PolicyQuery, p: &str, ctes: &mut Ctes) {
    // `mean` goals leave out events without a value (they cannot be averaged).
    let valued = if q.goal.goal_type == GoalType::Mean {
        " AND value IS NOT NULL"
    } else {
        ""
    };
    ctes.push(
        &format!("{p}_g0"),
        &format!(
            "SELECT unit_key, session_id, decision_id, event_ts, value, event_id,\n    ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts, event_ts, value) AS dup\n  FROM bt WHERE event = {e}{valued}",
            e = d.string(&q.goal.event)
        ),
    );
    ctes.push(
        &format!("{p}_g"),
        &format!(
            "SELECT g.unit_key AS tu,\n    ROW_NUMBER() OVER (PARTITION BY g.unit_key ORDER BY g.event_ts, g.event_id, g.decision_id, g.session_id, g.value) AS tn,\n    g.session_id, g.decision_id, g.event_ts, {v} AS value,\n    CASE WHEN kd.decision_id IS NULL THEN 0 ELSE 1 END AS known\n  FROM {p}_g0 g LEFT JOIN kd ON kd.decision_id = g.decision_id\n  WHERE g.event_id IS NULL OR g.dup = 1",
            v = d.to_float("COALESCE(g.value, 0)"),
        ),
    );
}

/// Exposures of each decision (`{p}_de`): one row per decision × allocation, with its
/// first exposure time. Every exposure row counts, not only the first per session.
fn decision_exposures(d: &dyn Dialect, q: &PolicyQuery, p: &str, ctes: &mut Ctes) {
    ctes.push(
        &format!("{p}_de"),
        &format!(
            "SELECT decision_id, allocation_name, MIN(unit_key) AS unit_key, MIN(ts) AS exposed_at\n  FROM bx WHERE {f} AND decision_id IS NOT NULL\n  GROUP BY decision_id, allocation_name",
            f = exposure_filter(d, &q.policy_id)
        ),
    );
}

/// Touch columns: the event (`tu`, `tn`), the allocation, the exposure time, the
/// event time, `linked` (1: the event's own decision), the reward unit `ukey` and
/// the decision (null in cumulative mode).
const TOUCH: &str = "g.tu, g.tn, x.allocation_name, x.exposed_at, g.event_ts, g.value";

/// Cumulative mode's touches: the event's decision (rule 2), its session (rule 3) and,
/// for events without a known decision, the unit-key rule (rule 4).
fn cumulative_touches(q: &PolicyQuery, p: &str, ctes: &mut Ctes) {
    let mut parts = vec![
        format!("SELECT {TOUCH}, 1 AS linked, x.unit_key AS ukey\n  FROM {p}_gs g JOIN {p}_de x ON x.decision_id = g.decision_id WHERE g.known = 1"),
        format!("SELECT {TOUCH}, 0 AS linked, g.tu AS ukey\n  FROM {p}_gs g JOIN {p}_d x ON x.unit_key = g.tu AND x.sess = g.sess WHERE g.known = 1"),
    ];
    if q.params.unit_key_rule() {
        parts.push(format!("SELECT {TOUCH}, 0 AS linked, g.tu AS ukey\n  FROM {p}_gs g JOIN {p}_d x ON x.unit_key = g.tu WHERE g.known = 0"));
    }
    ctes.push(&format!("{p}_t"), &parts.join("\n  UNION ALL\n  "));
}

/// Decision mode's touches: the event's decision, or, for events without a known
/// one, every decision of its unit (the unit-key rule).
fn decision_touches(q: &PolicyQuery, p: &str, ctes: &mut Ctes) {
    let mut parts = vec![format!(
        "SELECT {TOUCH}, 1 AS linked, x.unit_key AS ukey, x.decision_id AS decision_id\n  FROM {p}_g g JOIN {p}_de x ON x.decision_id = g.decision_id WHERE g.known = 1"
    )];
    if q.params.unit_key_rule() {
        parts.push(format!(
            "SELECT {TOUCH}, 0 AS linked, x.unit_key AS ukey, x.decision_id AS decision_id\n  FROM {p}_g g JOIN {p}_de x ON x.unit_key = g.tu WHERE g.known = 0"
        ));
    }
    ctes.push(&format!("{p}_t"), &parts.join("\n  UNION ALL\n  "));
}

/// The time rules, the strongest link and the multi-touch weights, then the credit
/// of each event summed per allocation (and decision, in decision mode) and per
/// reward unit: `{p}_e` with `goal_events` and `goal_value`.
fn credit(d: &dyn Dialect, q: &PolicyQuery, p: &str, ctes: &mut Ctes) {
    let params = &q.params;
    let mut in_time = format!("exposed_at <= event_ts + {}", params.clock_skew_ms);
    if let Some(w) = params.window_ms {
        let _ = write!(in_time, " AND event_ts <= exposed_at + {w}");
    }
    ctes.push(
        &format!("{p}_ti"),
        &format!("SELECT t.*, MAX(linked) OVER (PARTITION BY tu, tn) AS top\n  FROM {p}_t t WHERE {in_time}"),
    );
    ctes.push(
        &format!("{p}_k"),
        &format!("SELECT * FROM {p}_ti WHERE linked = top"),
    );
    super::sql::weigh(d, params.model, &format!("{p}_k"), &format!("{p}_w"), ctes);
    let decision = params.mode == AttributionMode::Decision;
    let (by_event, by_unit) = if decision {
        (
            "tu, tn, allocation_name, decision_id",
            "allocation_name, decision_id",
        )
    } else {
        ("tu, tn, allocation_name", "ukey, allocation_name")
    };
    ctes.push(
        &format!("{p}_c"),
        &format!("SELECT {by_event}, MIN(ukey) AS ukey, MIN(value) AS value, SUM(weight) AS weight\n  FROM {p}_w GROUP BY {by_event}"),
    );
    ctes.push(
        &format!("{p}_e"),
        &format!("SELECT {by_unit}, SUM(weight) AS goal_events, SUM(weight * value) AS goal_value\n  FROM {p}_c GROUP BY {by_unit}"),
    );
}

/// The reward units with their credited sums and reward (`{p}_r0`), capped
/// (`{p}_r`).
fn rewards(d: &dyn Dialect, q: &PolicyQuery, p: &str, ctes: &mut Ctes, unit: bool) {
    let (u, pick) = if unit {
        ("u.unit_key, ", "unit_key, ")
    } else {
        ("", "")
    };
    let (units, on) = match q.params.mode {
        AttributionMode::Decision => (
            format!("SELECT {pick}allocation_name, decision_id, exposed_at FROM {p}_de"),
            "e.allocation_name = u.allocation_name AND e.decision_id = u.decision_id",
        ),
        AttributionMode::Cumulative => (
            format!("SELECT unit_key, allocation_name, MIN(exposed_at) AS exposed_at FROM {p}_d GROUP BY unit_key, allocation_name"),
            "e.allocation_name = u.allocation_name AND e.ukey = u.unit_key",
        ),
    };
    ctes.push(&format!("{p}_u"), &units);
    ctes.push(
        &format!("{p}_s"),
        &format!("SELECT {u}u.allocation_name, u.exposed_at,\n    COALESCE(e.goal_events, 0) AS goal_events, COALESCE(e.goal_value, 0) AS goal_value\n  FROM {p}_u u LEFT JOIN {p}_e e ON {on}"),
    );
    let zero = d.to_float("0");
    let one = d.to_float("1");
    let reward = match q.goal.goal_type {
        GoalType::ConversionRate => {
            format!("CASE WHEN goal_events > 0 THEN {one} ELSE {zero} END")
        }
        GoalType::Count => d.to_float("goal_events"),
        GoalType::Sum => d.to_float("goal_value"),
        GoalType::Mean => format!(
            "CASE WHEN goal_events > 0 THEN goal_value / goal_events ELSE {} END",
            d.to_float("NULL")
        ),
    };
    ctes.push(
        &format!("{p}_r0"),
        &format!(
            "SELECT {pick}allocation_name, exposed_at, goal_events, {reward} AS reward FROM {p}_s"
        ),
    );
    let capped = match q.goal.cap {
        Some(cap) => {
            let c = d.quantile(
                cap.quantile,
                "reward",
                &format!("{p}_r0"),
                "goal_events > 0 AND reward IS NOT NULL",
            );
            format!("CASE WHEN reward > {c} THEN {c} ELSE reward END")
        }
        None => "reward".into(),
    };
    ctes.push(
        &format!("{p}_r"),
        &format!(
            "SELECT {pick}allocation_name, exposed_at, goal_events, {capped} AS reward FROM {p}_r0"
        ),
    );
}

/// The policy's statistics: one row per allocation of its reward units with a reward,
/// in the span asked for.
fn final_select(d: &dyn Dialect, q: &PolicyQuery, p: &str) -> String {
    let mut filter = "reward IS NOT NULL".to_owned();
    if let Some(t) = q.after {
        let _ = write!(filter, " AND exposed_at > {t}");
    }
    if let Some(t) = q.through {
        let _ = write!(filter, " AND exposed_at <= {t}");
    }
    format!(
        "SELECT {id} AS policy_id, allocation_name, COUNT(*) AS units,\n    SUM(CASE WHEN goal_events > 0 THEN 1 ELSE 0 END) AS conversions,\n    SUM(reward) AS reward_sum, SUM(reward * reward) AS reward_sum_sq, MAX(exposed_at) AS last_exposed_at\n  FROM {p}_r WHERE {filter} GROUP BY allocation_name",
        id = d.to_text(&d.string(&q.policy_id)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cap, DesiredDirection};
    use crate::warehouse::DialectName;

    fn query(goal_type: GoalType, value: ValueSource) -> PolicyQuery {
        PolicyQuery {
            policy_id: "p'1".into(),
            goal: Goal {
                event: "purchase".into(),
                goal_type,
                value,
                desired_direction: DesiredDirection::Increase,
                cap: Some(Cap { quantile: 0.95 }),
            },
            params: AttributionParams::default(),
            after: Some(10),
            through: Some(20),
        }
    }

    #[test]
    fn goals_on_named_values_are_refused_and_literals_are_escaped() {
        let d = DialectName::Postgres.dialect();
        let named = query(GoalType::Sum, ValueSource::Values("revenue".into()));
        assert_eq!(
            statistics_sql(d, &Relations::default(), &[named]),
            Err(AttributionError::NamedValue)
        );
        // A conversion goal does not read the value: any source is fine.
        let conversion = query(GoalType::ConversionRate, ValueSource::Property("x".into()));
        let sql = statistics_sql(d, &Relations::default(), &[conversion]).unwrap();
        assert!(sql.contains("policy_id = 'p''1'"), "{sql}");
        assert!(
            sql.contains("exposed_at > 10 AND exposed_at <= 20"),
            "{sql}"
        );
        assert!(sql.contains("PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY reward)"));
    }

    #[test]
    fn without_policies_the_statement_still_has_the_statistics_columns() {
        let sql =
            statistics_sql(DialectName::DuckDb.dialect(), &Relations::default(), &[]).unwrap();
        assert!(sql.contains("WHERE 1 = 0"), "{sql}");
        assert!(sql.ends_with("ORDER BY policy_id, allocation_name\n"));
    }
}
