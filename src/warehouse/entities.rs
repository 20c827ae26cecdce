//! Per-entity policies in SQL: the policy's reward units (as for a multi-armed
//! policy), each joined to the context of the exposure that opened it, grouped by
//! allocation and by the `(kind, text)` of each entity key's value, one row per
//! policy × entity × allocation with the statistics columns and [`entity_columns`].
//!
//! The entity id is made in Rust, not in SQL, by the engine's own rule
//! ([`crate::engine::entity_id`]: the SDK's `String(context[key])` of each key joined
//! by `_`): the statement returns each value's kind and text as the warehouse spells
//! it (an array's or object's JSON text), and [`entity_totals`] reads them back as JSON
//! values, so `3`, `3.0` and `"3"` are one entity, whose groups' sums add. Groups
//! whose context lacks a key (absent or null) count in `_global` only.
//!
//! A dynamic policy's allocation count is `countKey` of the entity's latest exposure:
//! per group, the count of its latest row with one (`entity_count`) and that row's
//! time (`entity_count_at`); the reader takes, per entity, the latest of its groups'.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::cells::{invalid, unless_null};
use super::dialect::Dialect;
use super::sdk::{PolicyQuery, Relations};
use super::sql::Ctes;
use crate::bundle::BundleDocument;
use crate::config::ProjectConfig;
use crate::engine::{entity_id, statistics_key, AttributionOverrides, EntityLayout};
use crate::error::{Error, Result};
use crate::reward::ArmStats;
use crate::state::entity_totals::EntityTotals;
use crate::state::EngineState;
use crate::time::{parse_rfc3339, Millis};

/// One per-entity policy's query.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityQuery {
    /// The reward rows: goal, attribution settings and span (as a multi-armed query).
    pub query: PolicyQuery,
    /// The bundle's `entityKeys`.
    pub keys: Vec<String>,
    /// `dynamicAllocations.countKey` (dynamic policies).
    pub count_key: Option<String>,
    /// The fixed allocation names, in bundle order (empty for dynamic allocations).
    pub allocations: Vec<String>,
    /// The state's per-entity statistics this run adds to (made under the same
    /// settings, keys, count key and allocations; the query then starts after their
    /// watermark).
    pub saved: Option<EntityTotals>,
}

/// One row's entity cells.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EntityCells {
    /// Per entity key, its value's kind (`number`, `string`, `boolean`, `other`) and
    /// text; `None` when absent or null.
    pub values: Vec<Option<(String, String)>>,
    /// A dynamic policy's allocation count of the group's latest row with one.
    pub count: Option<u32>,
    /// That row's exposure time, epoch milliseconds.
    pub count_at: Option<Millis>,
}

/// The columns after the statistics columns of a statement with per-entity policies
/// of at most `keys` entity keys: `entity_keys` (the policy's number of keys; empty
/// for other policies), `entity_kind_i`, `entity_text_i` per key, `entity_count`,
/// `entity_count_at`.
#[must_use]
pub fn entity_columns(keys: usize) -> Vec<String> {
    let mut out = vec!["entity_keys".to_owned()];
    for i in 0..keys {
        out.push(format!("entity_kind_{i}"));
        out.push(format!("entity_text_{i}"));
    }
    out.push("entity_count".into());
    out.push("entity_count_at".into());
    out
}

/// Whether a key cannot be addressed by every dialect's JSON paths.
fn unaddressable(key: &str) -> bool {
    key.contains(['"', '\\']) || key.chars().any(char::is_control)
}

/// The queries of a config's per-entity policies (an `entityConfig` in the bundle,
/// as the engine decides), in policy id order, spanned as [`super::policy_queries`]
/// spans them: after the watermark of a state whose per-entity statistics were made
/// under the same settings and can be added to (as the engine's reuse).
///
/// # Errors
///
/// [`Error::Parameter`] for attribution settings out of their domain;
/// [`Error::Learner`] for an entity key or count key the SQL cannot address
/// (holding `"`, `\` or a control character).
pub fn entity_queries(
    config: &ProjectConfig,
    doc: &BundleDocument,
    overrides: &AttributionOverrides,
    previous: Option<&EngineState>,
    as_of: Option<Millis>,
) -> Result<Vec<EntityQuery>> {
    let mut out = Vec::new();
    for (id, spec) in &config.optimization {
        let Some(policy) = doc.policy_ref(id).and_then(|r| doc.policy(&r).ok()) else {
            continue;
        };
        let Some(layout) = EntityLayout::of(policy) else {
            continue;
        };
        if let Some(k) = layout
            .keys
            .iter()
            .chain(&layout.count_key)
            .find(|k| unaddressable(k))
        {
            return Err(Error::Learner {
                policy_id: id.clone(),
                reason: format!("context key {k:?} holds a quote, backslash or control character, which the SQL's JSON paths cannot address: rename it, or retrain from the event files"),
            });
        }
        let params = overrides.params(spec)?;
        let key = statistics_key(spec, &params);
        let prior = previous
            .and_then(|s| s.policies.get(id))
            .filter(|p| p.statistics == key)
            .filter(|p| {
                p.entities.as_ref().is_some_and(|t| {
                    t.compatible(layout.keys, layout.count_key.as_deref(), &layout.names)
                })
            });
        let after = prior.and_then(|p| parse_rfc3339(p.exposures_through.as_deref()?));
        let through = as_of.and_then(|t| {
            spec.maturity_minutes
                .map(|m| t - (m * 60_000.0).round() as Millis)
        });
        out.push(EntityQuery {
            query: PolicyQuery {
                policy_id: id.clone(),
                goal: spec.goal.clone(),
                params,
                after,
                through,
            },
            keys: layout.keys.to_vec(),
            count_key: layout.count_key.clone(),
            allocations: layout.names.clone(),
            saved: after.and(prior.and_then(|p| p.entities.clone())),
        });
    }
    Ok(out)
}

/// Adds per-entity policy `q`'s CTEs (prefix `p`) and returns its select: the
/// statistics columns, then [`entity_columns`] of `width` keys (NULL past its own).
pub(super) fn entity_part(
    d: &dyn Dialect,
    relations: &Relations,
    q: &EntityQuery,
    p: &str,
    width: usize,
    ctes: &mut Ctes,
) -> String {
    super::linear::rows_with_context(d, relations, &q.query, None, p, ctes);
    let mut cols = Vec::new();
    let mut group = vec!["allocation_name".to_owned()];
    for (i, key) in q.keys.iter().enumerate() {
        let kind = d.json_kind("cj", key);
        cols.push(format!("{kind} AS k{i}"));
        // No text for an absent or null value (engines spell JSON null differently),
        // so all of them are one group.
        cols.push(format!(
            "CASE WHEN {kind} IS NULL THEN NULL WHEN {kind} = 'other' THEN {} ELSE {} END AS t{i}",
            d.json_raw("cj", key),
            d.to_text(&d.json_text("cj", key))
        ));
        group.push(format!("k{i}"));
        group.push(format!("t{i}"));
    }
    if let Some(ck) = &q.count_key {
        // The SDK's count: a JSON number above 0, floored, within 32 bits.
        let n = d.json_number("cj", ck);
        // Read as a number only where it is one (a cast of text fails).
        cols.push(format!(
            "CASE WHEN {kind} = 'number' THEN CASE WHEN {n} > 0 AND FLOOR({n}) <= 4294967295 THEN {f} ELSE NULL END ELSE NULL END AS cn",
            kind = d.json_kind("cj", ck),
            f = d.to_float(&format!("FLOOR({n})")),
        ));
    }
    ctes.push_materialized(
        d,
        &format!("{p}_x1"),
        &format!(
            "SELECT allocation_name, exposed_at, goal_events, reward,\n    {}\n  FROM {p}_x0",
            cols.join(",\n    ")
        ),
    );
    let by = group.join(", ");
    let big = |e: &str| format!("CAST({e} AS {})", d.bigint_type());
    let (from, count, count_at) = if q.count_key.is_some() {
        ctes.push(
            &format!("{p}_x2"),
            &format!("SELECT x.*, ROW_NUMBER() OVER (PARTITION BY {by} ORDER BY CASE WHEN cn IS NULL THEN 1 ELSE 0 END, exposed_at DESC, cn DESC) AS cr\n  FROM {p}_x1 x"),
        );
        (
            format!("{p}_x2"),
            big("MAX(CASE WHEN cr = 1 THEN cn ELSE NULL END)"),
            big("MAX(CASE WHEN cr = 1 AND cn IS NOT NULL THEN exposed_at ELSE NULL END)"),
        )
    } else {
        (format!("{p}_x1"), big("NULL"), big("NULL"))
    };
    let null = d.to_text("NULL");
    let mut entity = vec![format!("{} AS entity_keys", big(&q.keys.len().to_string()))];
    for i in 0..width {
        if i < q.keys.len() {
            entity.push(format!(
                "{} AS entity_kind_{i}",
                d.to_text(&format!("k{i}"))
            ));
            entity.push(format!(
                "{} AS entity_text_{i}",
                d.to_text(&format!("t{i}"))
            ));
        } else {
            entity.push(format!("{null} AS entity_kind_{i}"));
            entity.push(format!("{null} AS entity_text_{i}"));
        }
    }
    entity.push(format!("{count} AS entity_count"));
    entity.push(format!("{count_at} AS entity_count_at"));
    format!(
        "SELECT {id} AS policy_id, allocation_name, COUNT(*) AS units,\n    SUM(CASE WHEN goal_events > 0 THEN 1 ELSE 0 END) AS conversions,\n    SUM(reward) AS reward_sum, SUM(reward * reward) AS reward_sum_sq, MAX(exposed_at) AS last_exposed_at,\n    {}\n  FROM {from} GROUP BY {by}",
        entity.join(",\n    "),
        id = d.to_text(&d.string(&q.query.policy_id)),
    )
}

/// The value a `(kind, text)` pair of the statement stands for, as the engine reads
/// the context: `None` for a kind the statement does not write or text that does not
/// read as that kind.
fn value_of(kind: &str, text: &str) -> Option<Value> {
    match kind {
        "string" => Some(Value::String(text.to_owned())),
        "boolean" => match text.trim() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        "number" => serde_json::from_str(text.trim())
            .ok()
            .filter(Value::is_number),
        "other" => serde_json::from_str(text.trim())
            .ok()
            .filter(|v: &Value| v.is_array() || v.is_object()),
        _ => None,
    }
}

/// A per-entity policy's statistics from its rows: the state's (when the query was
/// written to add to them) plus the rows', and what the run report says of them.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityRows {
    /// The totals the engine warm-starts from.
    pub totals: EntityTotals,
    /// Entities with rows in this run.
    pub active: u64,
    /// Reward units whose context lacked an entity key (counted in `_global` only).
    pub rows_without_entity: u64,
    /// Reward units naming no allocation of the policy (not used).
    pub unknown_rows: u64,
}

/// The latest count seen of one entity: `(time, allocation name, count)`, the
/// greatest wins.
type Latest = (Millis, String, u32);

/// [`EntityRows`] of `q` from `rows` (`(allocation name, statistics, cells)` of its
/// rows), as the engine's counting builds them from reward rows.
///
/// # Errors
///
/// A message naming the allocation of a row whose entity cells do not read (a kind
/// the statement does not write, text that is not of its kind, fewer keys than the
/// policy's).
pub fn entity_totals<'a>(
    q: &EntityQuery,
    rows: impl IntoIterator<Item = (&'a str, ArmStats, &'a EntityCells)>,
) -> std::result::Result<EntityRows, String> {
    let layout = EntityLayout {
        keys: &q.keys,
        count_key: q.count_key.clone(),
        names: q.allocations.clone(),
    };
    let mut totals = q.saved.clone().unwrap_or_else(|| EntityTotals {
        entity_keys: q.keys.clone(),
        count_key: q.count_key.clone(),
        allocations: q.allocations.clone(),
        ..EntityTotals::default()
    });
    let mut latest: BTreeMap<String, Latest> = BTreeMap::new();
    let mut active = std::collections::BTreeSet::new();
    let (mut without, mut unknown) = (0u64, 0u64);
    for (allocation, s, cells) in rows {
        let Some(k) = layout.arm(allocation) else {
            unknown += s.n;
            continue;
        };
        add_at(&mut totals.global.0, k, s);
        let Some(id) = id_of(&q.keys, cells).map_err(|e| format!("{allocation}: {e}"))? else {
            without += s.n;
            continue;
        };
        if let (Some(c), Some(at)) = (cells.count, cells.count_at) {
            let seen = (at, allocation.to_owned(), c);
            let e = latest.entry(id.clone()).or_insert_with(|| seen.clone());
            *e = seen.max(e.clone());
        }
        add_at(&mut totals.entities.entry(id.clone()).or_default().0, k, s);
        active.insert(id);
    }
    if q.count_key.is_some() {
        totals
            .counts
            .extend(latest.into_iter().map(|(id, (_, _, c))| (id, c)));
    } else {
        let k = q.allocations.len();
        totals.global.0.resize(k, ArmStats::default());
        for r in totals.entities.values_mut() {
            r.0.resize(k, ArmStats::default());
        }
    }
    Ok(EntityRows {
        totals,
        active: active.len() as u64,
        rows_without_entity: without,
        unknown_rows: unknown,
    })
}

/// The entity id of a row's cells by the engine's rule; `None` without one.
fn id_of(keys: &[String], cells: &EntityCells) -> std::result::Result<Option<String>, String> {
    if cells.values.len() < keys.len() {
        return Err(format!(
            "{} entity values for the policy's {} entity keys",
            cells.values.len(),
            keys.len()
        ));
    }
    let mut ctx = Map::new();
    for (key, v) in keys.iter().zip(&cells.values) {
        if let Some((kind, text)) = v {
            let value = value_of(kind, text)
                .ok_or_else(|| format!("entity key {key}: {text:?} does not read as {kind:?}"))?;
            ctx.insert(key.clone(), value);
        }
    }
    Ok(entity_id(&ctx, keys))
}

fn add_at(arms: &mut Vec<ArmStats>, k: usize, s: ArmStats) {
    if arms.len() <= k {
        arms.resize(k + 1, ArmStats::default());
    }
    arms[k] = arms[k].merge(s);
}

/// The entity cells of each row of `cells` (every column of the source, named by
/// `header`): `None` where `entity_keys` is empty or absent.
///
/// # Errors
///
/// [`Error::InvalidStatistics`] for a missing entity column or a cell that is not a
/// whole number where one is due.
pub(super) fn read_entity_cells(
    header: &[String],
    cells: &[Vec<String>],
    file: &str,
) -> Result<Vec<Option<EntityCells>>> {
    let mut out = vec![None; cells.len()];
    let find = |c: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(c));
    let Some(at) = find("entity_keys") else {
        return Ok(out);
    };
    for (i, (row, c)) in out.iter_mut().zip(cells).enumerate() {
        let line = i as u64 + 1;
        let cell = |name: &str| -> Result<Option<String>> {
            let k = find(name).ok_or_else(|| {
                invalid(
                    file,
                    0,
                    name,
                    "missing column; `bandit-engine sql` writes it for per-entity policies",
                )
            })?;
            let text = c.get(k).map_or("", |t| unless_null(t.trim()));
            Ok((!text.is_empty()).then(|| text.to_owned()))
        };
        let whole = |name: &str, max: f64| -> Result<Option<i64>> {
            cell(name)?
                .map(|t| {
                    t.parse::<i64>()
                        .ok()
                        .or_else(|| {
                            t.parse::<f64>()
                                .ok()
                                .filter(|x| x.fract() == 0.0 && x.abs() <= max)
                                .map(|x| x as i64)
                        })
                        .filter(|x| (*x as f64).abs() <= max)
                        .ok_or_else(|| {
                            invalid(file, line, name, format!("{t:?} is not a whole number"))
                        })
                })
                .transpose()
        };
        let text = c.get(at).map_or("", |t| unless_null(t.trim()));
        if text.is_empty() {
            continue;
        }
        let n = whole("entity_keys", 64.0)?.unwrap_or(0);
        let mut values = Vec::new();
        for k in 0..usize::try_from(n).unwrap_or(0) {
            let kind = cell(&format!("entity_kind_{k}"))?;
            // A string value may be empty text: only the kind says it is absent.
            let text = c
                .get(find(&format!("entity_text_{k}")).unwrap_or(usize::MAX))
                .map_or("", String::as_str)
                .to_owned();
            values.push(kind.map(|kind| (kind, text)));
        }
        let count = whole("entity_count", f64::from(u32::MAX))?;
        *row = Some(EntityCells {
            values,
            count: count.and_then(|x| u32::try_from(x).ok()),
            count_at: whole("entity_count_at", 9.0e15)?,
        });
    }
    Ok(out)
}

/// The entity columns of rows with `entities` cells in a csv file (none when no row
/// has entity cells): the header's names and, per row, its cells.
pub(super) fn entity_csv(
    entities: &[Option<&EntityCells>],
) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let width = entities.iter().flatten().map(|e| e.values.len()).max()?;
    let cells = entities
        .iter()
        .map(|e| {
            let mut out = vec![String::new(); 2 * width + 3];
            if let Some(e) = e {
                out[0] = e.values.len().to_string();
                for (i, v) in e.values.iter().enumerate() {
                    if let Some((kind, text)) = v {
                        out[1 + 2 * i] = kind.clone();
                        out[2 + 2 * i] = text.clone();
                    }
                }
                out[2 * width + 1] = e.count.map_or_else(String::new, |c| c.to_string());
                out[2 * width + 2] = e.count_at.map_or_else(String::new, |c| c.to_string());
            }
            out
        })
        .collect();
    Some((entity_columns(width), cells))
}

#[cfg(test)]
mod tests;
