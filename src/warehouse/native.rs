//! SQL for the warehouse-native case: a policy's assignments and its metric's fact,
//! each the user's own SQL (`definitions`), joined on the entity key and time and
//! aggregated to the same statistics rows as the SDK-managed case.
//!
//! Per entity, its first assignment to the policy (earliest `assigned_at`, then the
//! smallest allocation key) is its unit; the fact events counted are the entity's at
//! or after that assignment and at or before the run's as-of. Units are counted when
//! first assigned after the state's watermark and at or before the as-of less the
//! policy's maturity, as reward units are in the SDK-managed case. The reward per
//! unit is the metric's aggregation of its events (`conversion_rate`: 1 with an
//! event, else 0; `count`; `sum` of the value column; `mean` of it over the events
//! with a value, no reward without one).

use std::collections::BTreeMap;

use super::definitions::{render_template, Aggregation, Definitions, FactDefinition, PolicySource};
use super::dialect::{timestamp_text, Dialect};
use super::entities::{entity_columns, entity_part, EntityQuery};
use super::linear::{linear_columns, linear_part, LinearLayout, LinearQuery};
use super::sdk::{self, PolicyQuery, Relations, ScanStart};
use super::sql::Ctes;
use super::statistics::StatisticsRow;
use crate::bundle::BundleDocument;
use crate::error::AttributionError;
use crate::time::Millis;

/// One policy's warehouse-native query.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeQuery {
    /// The policy id (the statistics rows' `policy_id`).
    pub policy_id: String,
    /// The names of its assignments and metric in the definitions.
    pub source: PolicySource,
    /// The `policy_key` its assignment rows carry (the bundle's policy key).
    pub policy_key: String,
    /// Allocation key → allocation name, from the bundle.
    pub allocations: BTreeMap<String, String>,
    /// The assignments' SQL.
    pub assignments_sql: String,
    /// The entity key column of assignments and fact.
    pub key_column: String,
    /// The fact.
    pub fact: FactDefinition,
    /// The metric's aggregation.
    pub aggregation: Aggregation,
    /// Its value column (`sum`, `mean`).
    pub value_column: Option<String>,
    /// Only units first assigned after this instant (the state's watermark; the
    /// fact's `{{start_date}}`).
    pub after: Option<Millis>,
    /// How far before `after` the assignments are read (their `{{start_date}}`), to
    /// find each entity's first assignment; `None`: from 1970 (every row).
    pub overlap: Option<Millis>,
    /// Only units first assigned at or before this instant (as-of less maturity).
    pub through: Option<Millis>,
    /// Fact events at or before this instant (the as-of, `{{end_date}}`).
    pub end: Millis,
}

/// The native queries of the policies `definitions` names, from their SDK-managed
/// queries (for the span) and the bundle (for keys), their assignments read from
/// `overlap` before the watermark ([`NativeQuery::overlap`]); the other queries are
/// returned as they are.
#[must_use]
pub fn split_native(
    definitions: Option<&Definitions>,
    doc: &BundleDocument,
    queries: Vec<PolicyQuery>,
    as_of: Millis,
    overlap: Option<Millis>,
) -> (Vec<PolicyQuery>, Vec<NativeQuery>) {
    let Some(defs) = definitions else {
        return (queries, Vec::new());
    };
    let (mut sdk, mut native) = (Vec::new(), Vec::new());
    for q in queries {
        let Some(source) = defs.policies.get(&q.policy_id) else {
            sdk.push(q);
            continue;
        };
        // Checked when the definitions were read: the names resolve.
        let a = &defs.assignments[&source.assignments];
        let m = &defs.metrics[&source.metric];
        let policy = doc
            .policy_ref(&q.policy_id)
            .and_then(|r| doc.policy(&r).ok());
        let policy_key = policy
            .and_then(|p| p.key.clone())
            .unwrap_or_else(|| q.policy_id.clone());
        let allocations = policy
            .map(|p| {
                p.allocations
                    .iter()
                    .map(|x| {
                        (
                            x.key.clone().unwrap_or_else(|| x.name.clone()),
                            x.name.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        native.push(NativeQuery {
            policy_id: q.policy_id,
            source: source.clone(),
            policy_key,
            allocations,
            assignments_sql: a.sql.clone(),
            key_column: defs.entities[&a.entity].column(),
            fact: defs.facts[&m.fact].clone(),
            aggregation: m.aggregation,
            value_column: m.value_column.clone(),
            after: q.after,
            overlap,
            through: q.through,
            end: as_of,
        });
    }
    (sdk, native)
}

impl NativeQuery {
    /// Where the assignments' SQL starts (`{{start_date}}`, epoch ms): the
    /// watermark less the overlap, or 1970 (every assignment, so that each entity's
    /// first is found: an entity assigned before the watermark is not a new unit).
    #[must_use]
    pub fn assignments_start(&self) -> Millis {
        match (self.after, self.overlap) {
            (Some(t), Some(o)) => t.saturating_sub(o.max(0)).max(0),
            _ => 0,
        }
    }

    /// Where the fact's SQL starts (`{{start_date}}`): the watermark, or 1970 (the
    /// events counted follow a first assignment after it).
    #[must_use]
    pub fn facts_start(&self) -> Millis {
        self.after.unwrap_or(0).max(0)
    }

    /// `sql` with `{{start_date}}` = `start` and `{{end_date}}` (the as-of) filled in.
    #[must_use]
    pub fn render(&self, sql: &str, start: Millis) -> String {
        let start = timestamp_text(start);
        let end = timestamp_text(self.end);
        render_template(sql, &|v| match v {
            "start_date" => Some(start.clone()),
            "end_date" => Some(end.clone()),
            _ => None,
        })
        // The definitions were checked when read: only these two variables occur.
        .unwrap_or_else(|_| sql.to_owned())
    }
}

/// As [`super::statistics_sql`], plus the warehouse-native policies of `native`
/// (their own assignments and facts) in the same statement. The two SDK relations
/// are read only when `queries` is not empty (or both are).
///
/// # Errors
///
/// As [`super::statistics_sql`].
pub fn statistics_sql_with_native(
    d: &dyn Dialect,
    relations: &Relations,
    queries: &[PolicyQuery],
    native: &[NativeQuery],
) -> Result<String, AttributionError> {
    statistics_sql_all(d, relations, queries, native, &[])
}

/// [`statistics_sql_with_native`] with linear contextual policies, each with the
/// layout the engine made of its layout query's result
/// ([`super::linear::layouts`]): the statement then returns, after the statistics
/// columns, `features` and the sums `xx_i_j`, `rx_i` of the widest layout
/// ([`super::linear::linear_columns`]; NULL in the rows of other policies).
///
/// # Errors
///
/// As [`super::statistics_sql`].
pub fn statistics_sql_all(
    d: &dyn Dialect,
    relations: &Relations,
    queries: &[PolicyQuery],
    native: &[NativeQuery],
    linear: &[(LinearQuery, LinearLayout)],
) -> Result<String, AttributionError> {
    statistics_sql_full(d, relations, queries, native, linear, &[])
}

/// [`statistics_sql_all`] with per-entity policies: the statement then returns, after
/// the statistics columns (and the linear ones, when there are linear policies),
/// [`entity_columns`] of the most entity keys (NULL in the rows of other policies),
/// one row per policy × allocation × entity group, ordered by them.
///
/// # Errors
///
/// As [`super::statistics_sql`].
pub fn statistics_sql_full(
    d: &dyn Dialect,
    relations: &Relations,
    queries: &[PolicyQuery],
    native: &[NativeQuery],
    linear: &[(LinearQuery, LinearLayout)],
    entities: &[EntityQuery],
) -> Result<String, AttributionError> {
    let mut ctes = Ctes::default();
    if !queries.is_empty() || !linear.is_empty() || !entities.is_empty() || native.is_empty() {
        let read = queries
            .iter()
            .chain(linear.iter().map(|(q, _)| &q.query))
            .chain(entities.iter().map(|q| &q.query));
        sdk::base(
            d,
            relations,
            ScanStart::of(read, relations.overlap),
            &mut ctes,
        );
    }
    let mut parts = Vec::new();
    for (i, q) in native.iter().enumerate() {
        let p = format!("n{i}");
        sources(d, q, &p, &mut ctes);
        parts.push(rewards(d, q, &p, &mut ctes));
    }
    parts.extend(sdk::sdk_parts(d, queries, &mut ctes)?);
    if linear.is_empty() && entities.is_empty() {
        return Ok(sdk::finish(d, ctes, parts));
    }
    let dim = linear.iter().map(|(_, l)| l.space.dim()).max().unwrap_or(0);
    let width = entities.iter().map(|q| q.keys.len()).max().unwrap_or(0);
    let linear_cols = if linear.is_empty() {
        Vec::new()
    } else {
        linear_columns(dim)
    };
    let entity_cols = if entities.is_empty() {
        Vec::new()
    } else {
        entity_columns(width)
    };
    let nulls = |cols: &[String]| -> String {
        cols.iter()
            .map(|c| format!(", {}", null_column(d, c)))
            .collect()
    };
    let base = "policy_id, allocation_name, units, conversions, reward_sum, reward_sum_sq, last_exposed_at";
    // The other policies' rows: NULL in the linear and entity columns.
    let others = format!("{}{}", nulls(&linear_cols), nulls(&entity_cols));
    let mut all: Vec<String> = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| format!("SELECT {base}{others}\n  FROM ({part}) m{i}"))
        .collect();
    for (i, (q, layout)) in linear.iter().enumerate() {
        sdk::check_goal(&q.query)?;
        let part = linear_part(d, relations, q, layout, &format!("c{i}"), dim, &mut ctes);
        all.push(if entity_cols.is_empty() {
            part
        } else {
            format!("SELECT l{i}.*{}\n  FROM ({part}) l{i}", nulls(&entity_cols))
        });
    }
    for (i, q) in entities.iter().enumerate() {
        sdk::check_goal(&q.query)?;
        let part = entity_part(d, relations, q, &format!("e{i}"), width, &mut ctes);
        let ent: String = entity_cols.iter().map(|c| format!(", {c}")).collect();
        let lin = nulls(&linear_cols);
        all.push(format!("SELECT {base}{lin}{ent}\n  FROM ({part}) g{i}"));
    }
    let order = entity_order(&entity_cols);
    let mut extra = linear_cols;
    extra.extend(entity_cols);
    Ok(sdk::finish_ordered(d, ctes, all, &extra, &order))
}

/// The entity columns the rows are ordered by after policy and allocation: each
/// key's kind and text.
fn entity_order(entity_cols: &[String]) -> Vec<String> {
    entity_cols
        .iter()
        .filter(|c| c.starts_with("entity_kind_") || c.starts_with("entity_text_"))
        .cloned()
        .collect()
}

/// `NULL AS c`, typed as further column `c` is (text, integer or float), for the
/// rows of policies without it.
fn null_column(d: &dyn Dialect, c: &str) -> String {
    let t = if c == "features" || c.starts_with("entity_kind_") || c.starts_with("entity_text_") {
        d.to_text("NULL")
    } else if c.starts_with("entity_") {
        format!("CAST(NULL AS {})", d.bigint_type())
    } else {
        d.to_float("NULL")
    };
    format!("{t} AS {c}")
}

/// The CTEs of `q`'s rows, prefixed `p`: its assignments (`_a0` as written, `_a`
/// typed), each entity's first assignment in the span (`_u`), its fact (`_f0`, `_f`).
fn sources(d: &dyn Dialect, q: &NativeQuery, p: &str, ctes: &mut Ctes) {
    let key = d.quote(&q.key_column);
    let user_sql =
        |sql: &str, start: Millis| q.render(sql, start).trim().trim_end_matches(';').to_owned();
    ctes.push(
        &format!("{p}_a0"),
        &user_sql(&q.assignments_sql, q.assignments_start()),
    );
    ctes.push(
        &format!("{p}_a"),
        &format!(
            "SELECT {e} AS entity, {at} AS first_at, {ak} AS ak FROM {p}_a0\n  WHERE {pk} = {key_lit} AND assigned_at IS NOT NULL",
            e = d.to_text(&key),
            at = d.epoch_ms("assigned_at"),
            ak = d.to_text("allocation_key"),
            pk = d.to_text("policy_key"),
            key_lit = d.string(&q.policy_key),
        ),
    );
    let mut span = String::new();
    if let Some(t) = q.after {
        span.push_str(&format!(" AND first_at > {t}"));
    }
    if let Some(t) = q.through {
        span.push_str(&format!(" AND first_at <= {t}"));
    }
    ctes.push(
        &format!("{p}_u"),
        &format!("SELECT entity, ak, first_at FROM (\n    SELECT entity, ak, first_at, ROW_NUMBER() OVER (PARTITION BY entity ORDER BY first_at, ak) AS rn FROM {p}_a\n  ) x WHERE rn = 1{span}"),
    );
    ctes.push(&format!("{p}_f0"), &user_sql(&q.fact.sql, q.facts_start()));
    let value = q
        .value_column
        .as_ref()
        .map_or_else(|| d.to_float("NULL"), |c| d.to_float(&d.quote(c)));
    ctes.push(
        &format!("{p}_f"),
        &format!(
            "SELECT {e} AS entity, {t} AS t, {value} AS v FROM {p}_f0",
            e = d.to_text(&key),
            t = d.epoch_ms(&d.quote(&q.fact.time_column)),
        ),
    );
}

/// The CTEs of `q`'s rewards per unit (`_s`, `_r`); its final select.
fn rewards(d: &dyn Dialect, q: &NativeQuery, p: &str, ctes: &mut Ctes) -> String {
    // `mean` averages the events with a value; they are its events.
    let valued = if q.aggregation == Aggregation::Mean {
        " AND f.v IS NOT NULL"
    } else {
        ""
    };
    ctes.push(
        &format!("{p}_s"),
        &format!("SELECT u.entity, u.ak, u.first_at, COUNT(f.t) AS n, SUM(f.v) AS vs FROM {p}_u u\n  LEFT JOIN {p}_f f ON f.entity = u.entity AND f.t >= u.first_at AND f.t <= {end}{valued}\n  GROUP BY u.entity, u.ak, u.first_at", end = q.end),
    );
    let (zero, one) = (d.to_float("0"), d.to_float("1"));
    let reward = match q.aggregation {
        Aggregation::ConversionRate => format!("CASE WHEN n > 0 THEN {one} ELSE {zero} END"),
        Aggregation::Count => d.to_float("n"),
        Aggregation::Sum => format!("COALESCE(vs, {zero})"),
        Aggregation::Mean => format!(
            "CASE WHEN n > 0 THEN vs / n ELSE {} END",
            d.to_float("NULL")
        ),
    };
    ctes.push(
        &format!("{p}_r"),
        &format!("SELECT ak, first_at, n, {reward} AS reward FROM {p}_s"),
    );
    let names: Vec<String> = q
        .allocations
        .iter()
        .map(|(k, n)| format!("WHEN {} THEN {}", d.string(k), d.string(n)))
        .collect();
    let keys: Vec<String> = q.allocations.keys().map(|k| d.string(k)).collect();
    let keys = if keys.is_empty() {
        d.to_text("NULL")
    } else {
        keys.join(", ")
    };
    format!(
        "SELECT {id} AS policy_id, {name} AS allocation_name, COUNT(*) AS units,\n    SUM(CASE WHEN n > 0 THEN 1 ELSE 0 END) AS conversions,\n    SUM(reward) AS reward_sum, SUM(reward * reward) AS reward_sum_sq, MAX(first_at) AS last_exposed_at\n  FROM {p}_r WHERE reward IS NOT NULL AND ak IN ({keys}) GROUP BY ak",
        id = d.to_text(&d.string(&q.policy_id)),
        name = d.to_text(&format!("CASE ak {} END", names.join(" "))),
    )
}

/// An assignment row as the assignments' SQL returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct AssignmentRow {
    /// The entity key.
    pub entity: String,
    /// `assigned_at`, epoch ms.
    pub assigned_at: Millis,
    /// `policy_key`.
    pub policy_key: String,
    /// `allocation_key`.
    pub allocation_key: String,
}

/// A fact row as the fact's SQL returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct FactRow {
    /// The entity key.
    pub entity: String,
    /// The event time, epoch ms.
    pub time: Millis,
    /// The value column, when the metric reads one.
    pub value: Option<f64>,
}

/// The statistics the SQL of `q` returns, computed in process from the rows its two
/// definitions return: the reference the queries are tested against.
#[must_use]
pub fn native_in_process(
    q: &NativeQuery,
    assignments: &[AssignmentRow],
    facts: &[FactRow],
) -> Vec<StatisticsRow> {
    let mut first: BTreeMap<&str, (Millis, &str)> = BTreeMap::new();
    for a in assignments.iter().filter(|a| a.policy_key == q.policy_key) {
        let e = first
            .entry(&a.entity)
            .or_insert((a.assigned_at, &a.allocation_key));
        if (a.assigned_at, a.allocation_key.as_str()) < *e {
            *e = (a.assigned_at, &a.allocation_key);
        }
    }
    let mut by_entity: BTreeMap<&str, Vec<&FactRow>> = BTreeMap::new();
    for f in facts {
        by_entity.entry(&f.entity).or_default().push(f);
    }
    let mut out: BTreeMap<String, StatisticsRow> = BTreeMap::new();
    for (entity, (at, key)) in first {
        let in_span = q.after.is_none_or(|t| at > t) && q.through.is_none_or(|t| at <= t);
        let Some(name) = q.allocations.get(key).filter(|_| in_span) else {
            continue;
        };
        let events: Vec<&FactRow> = by_entity
            .get(entity)
            .into_iter()
            .flatten()
            .filter(|f| f.time >= at && f.time <= q.end)
            .filter(|f| q.aggregation != Aggregation::Mean || f.value.is_some())
            .copied()
            .collect();
        let n = events.len();
        let sum: f64 = events.iter().filter_map(|f| f.value).sum();
        let reward = match q.aggregation {
            Aggregation::ConversionRate => f64::from(u8::from(n > 0)),
            Aggregation::Count => n as f64,
            Aggregation::Sum => sum,
            Aggregation::Mean if n > 0 => sum / n as f64,
            Aggregation::Mean => continue,
        };
        let row = out.entry(name.clone()).or_insert_with(|| StatisticsRow {
            policy_id: q.policy_id.clone(),
            allocation_name: name.clone(),
            ..StatisticsRow::default()
        });
        row.units += 1;
        row.last_exposed_at = row.last_exposed_at.max(Some(at));
        row.conversions += u64::from(n > 0);
        row.reward_sum += reward;
        row.reward_sum_sq += reward * reward;
    }
    out.into_values().collect()
}
