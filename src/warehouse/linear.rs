//! Linear contextual policies in SQL: per policy × allocation, the sums the engine's
//! linear learner reads (`units`, `Σr`, `Σr²`, the upper triangle of `Σ x xᵀ` and
//! `Σ r x`), with `x` the policy's feature vector exactly as
//! [`crate::policy::features`] builds it from the exposure's context.
//!
//! The feature layout depends on the data (a categorical field gets one column per
//! value seen; without `contextFeatures` a field is numeric only when every value
//! seen is a number), and a statement's columns cannot. So a linear policy takes two
//! statements over the same reward rows:
//!
//! 1. the **layout query** ([`layout_sql`]): per field, the distinct kinds and texts
//!    of its values (`policy_id, field, kind, label`), a few rows;
//! 2. the **statistics query** (`statistics_sql_full`), written for the layout the
//!    engine makes of them ([`layouts`]): the engine's own rules on the engine's own
//!    types (a number's label is its JavaScript text, as the SDK reads it), joined with
//!    the layout of the state's saved sums as a warm start joins them.
//!
//! The rows a linear policy reads are the reward units the multi-armed queries count
//! (same CTEs), each joined to the context of the exposure that opened it (the
//! policy's exposure of the same unit at the same millisecond, as
//! [`crate::reward::exposure_contexts`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::dialect::Dialect;
use super::sdk::{PolicyQuery, Relations};
use super::sql::Ctes;
use crate::algorithm::Algorithm;
use crate::bundle::BundleDocument;
use crate::config::ProjectConfig;
use crate::engine::{statistics_key, AttributionOverrides};
use crate::error::{Error, Result};
use crate::policy::features::category;
use crate::policy::linear_state::{LinearTotals, SavedFeature};
use crate::policy::{Feature, FeatureKind, FeatureSpace};
use crate::state::EngineState;
use crate::time::{parse_rfc3339, Millis};

/// The columns of the layout query's result, in order.
pub const LAYOUT_COLUMNS: [&str; 4] = ["policy_id", "field", "kind", "label"];

/// How one context field of a linear policy becomes features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldRule {
    /// Declared numeric (`contextFeatures.numeric`).
    Numeric,
    /// Declared categorical (`contextFeatures.categorical`).
    Categorical,
    /// An allowed field without `contextFeatures`: numeric when every value seen is
    /// a number, else categorical.
    Learned,
}

/// One linear contextual policy's query.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearQuery {
    /// The reward rows: goal, attribution settings and span (as a multi-armed query).
    pub query: PolicyQuery,
    /// The bundle's allocation names, in its order (rows of others are not read).
    pub allocations: Vec<String>,
    /// The context fields, in the engine's order, with their rule.
    pub fields: Vec<(String, FieldRule)>,
    /// The state's saved sums this run adds to (its layout joins the run's).
    pub saved: Option<LinearTotals>,
}

/// One row of the layout query's result.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LayoutRow {
    /// The policy id.
    pub policy_id: String,
    /// The context key.
    pub field: String,
    /// `number`, `string`, `boolean` or `other` (an array or object).
    pub kind: String,
    /// The value's text (none for `other`).
    pub label: Option<String>,
}

/// A linear policy's feature layout, and which values (kind and text, as the
/// warehouse spells them) each category label stands for.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearLayout {
    /// The layout the sums are over (the run's joined with the state's).
    pub space: FeatureSpace,
    /// Per (field, label): the `(kind, text)` of the values read as that label.
    pub matches: BTreeMap<(String, String), Vec<(String, String)>>,
}

/// The queries of a config's linear contextual policies (per-entity ones are left
/// out), in policy id order: the span as [`super::policy_queries`] sets it (after the
/// watermark of a state whose linear sums were made under the same settings).
///
/// # Errors
///
/// [`Error::Parameter`] for attribution settings out of their domain;
/// [`Error::Learner`] for a policy missing from the bundle, a declared feature not
/// among its logged fields, or a context key the SQL cannot address (holding `"`,
/// `\` or a control character).
pub fn linear_queries(
    config: &ProjectConfig,
    doc: &BundleDocument,
    overrides: &AttributionOverrides,
    previous: Option<&EngineState>,
    as_of: Option<Millis>,
) -> Result<Vec<LinearQuery>> {
    let mut out = Vec::new();
    for (id, spec) in &config.optimization {
        if spec.algorithm != Algorithm::LinearContextual || spec.entity_config.is_some() {
            continue;
        }
        let refuse = |reason: String| Error::Learner {
            policy_id: id.clone(),
            reason,
        };
        let policy = doc
            .policy_ref(id)
            .and_then(|r| doc.policy(&r).ok())
            .ok_or_else(|| refuse("not in the bundle".into()))?;
        let params = overrides.params(spec)?;
        let key = statistics_key(spec, &params);
        let prior = previous
            .and_then(|s| s.policies.get(id))
            .filter(|p| p.statistics == key && p.linear.is_some());
        let after = prior.and_then(|p| parse_rfc3339(p.exposures_through.as_deref()?));
        let through = as_of.and_then(|t| {
            spec.maturity_minutes
                .map(|m| t - (m * 60_000.0).round() as Millis)
        });
        let allowed: Vec<String> = policy
            .context_logging
            .as_ref()
            .map(|c| c.allowed_fields.clone())
            .unwrap_or_default();
        let fields: Vec<(String, FieldRule)> = match &spec.context_features {
            None => allowed
                .iter()
                .map(|k| (k.clone(), FieldRule::Learned))
                .collect(),
            Some(f) => {
                if let Some(k) = f
                    .numeric
                    .iter()
                    .chain(&f.categorical)
                    .find(|k| !allowed.contains(k))
                {
                    return Err(refuse(format!(
                        "context feature {k:?} is not in the policy's contextLogging.allowedFields"
                    )));
                }
                f.numeric
                    .iter()
                    .map(|k| (k.clone(), FieldRule::Numeric))
                    .chain(
                        f.categorical
                            .iter()
                            .map(|k| (k.clone(), FieldRule::Categorical)),
                    )
                    .collect()
            }
        };
        if let Some((k, _)) = fields
            .iter()
            .find(|(k, _)| k.contains(['"', '\\']) || k.chars().any(char::is_control))
        {
            return Err(refuse(format!(
                "context key {k:?} holds a quote, backslash or control character, which the SQL's JSON paths cannot address: rename it, or retrain from the event files"
            )));
        }
        out.push(LinearQuery {
            query: PolicyQuery {
                policy_id: id.clone(),
                goal: spec.goal.clone(),
                params,
                after,
                through,
            },
            allocations: policy.allocations.iter().map(|a| a.name.clone()).collect(),
            fields,
            saved: prior.and_then(|p| p.linear.clone()),
        });
    }
    Ok(out)
}

/// The layouts the engine makes of the layout query's rows, one per query: each
/// field's kind and labels by the engine's rules, joined with the layout of the
/// state's saved sums.
///
/// # Errors
///
/// [`Error::InvalidStatistics`] for a row of an unknown kind or an unreadable number;
/// [`Error::Learner`] when the saved sums cannot join (another field list, a field
/// that changed kind, other allocations: the engine would then refit from every
/// event, which a query after the watermark cannot give).
pub fn layouts(
    queries: &[LinearQuery],
    rows: &[LayoutRow],
    source: &str,
) -> Result<Vec<LinearLayout>> {
    let mut out = Vec::new();
    for q in queries {
        let mut features = Vec::new();
        let mut matches: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
        for (key, rule) in &q.fields {
            let mut labels = BTreeSet::new();
            let mut numeric = true;
            for (line, r) in rows.iter().enumerate() {
                if r.policy_id != q.query.policy_id || &r.field != key {
                    continue;
                }
                let bad = |reason: String| Error::InvalidStatistics {
                    file: source.to_owned(),
                    line: line as u64 + 1,
                    field: "label".into(),
                    reason,
                };
                let text = r.label.clone().unwrap_or_default();
                let label = match r.kind.as_str() {
                    "string" | "boolean" => Some(text.clone()),
                    "number" => {
                        let v: Value = serde_json::from_str(text.trim())
                            .map_err(|_| bad(format!("{text:?} is not a JSON number")))?;
                        if !v.is_number() {
                            return Err(bad(format!("{text:?} is not a JSON number")));
                        }
                        category(&v)
                    }
                    "other" => None,
                    k => {
                        return Err(Error::InvalidStatistics {
                            file: source.to_owned(),
                            line: line as u64 + 1,
                            field: "kind".into(),
                            reason: format!(
                                "{k:?}: the layout query gives number, string, boolean or other"
                            ),
                        })
                    }
                };
                if r.kind != "number" {
                    numeric = false;
                }
                if let Some(l) = label {
                    matches
                        .entry((key.clone(), l.clone()))
                        .or_default()
                        .push((r.kind.clone(), text));
                    labels.insert(l);
                }
            }
            let categorical = match rule {
                FieldRule::Numeric => false,
                FieldRule::Categorical => true,
                FieldRule::Learned => !numeric,
            };
            features.push(Feature {
                key: key.clone(),
                kind: if categorical {
                    FeatureKind::Categorical {
                        values: labels.into_iter().collect(),
                    }
                } else {
                    FeatureKind::Numeric
                },
            });
        }
        let mut space = FeatureSpace::new(features);
        if let Some(saved) = &q.saved {
            let refuse = |why: &str| {
                Error::Learner {
                policy_id: q.query.policy_id.clone(),
                reason: format!("the state's linear statistics cannot be added to: {why}; the engine would refit from every event, which a query after the state's watermark does not read: write the SQL and retrain without --state (or with --start before the first exposure)"),
            }
            };
            space = saved.space().union(&space).ok_or_else(|| {
                refuse("their feature layout differs in its fields or their kinds")
            })?;
            if saved.allocations != q.allocations {
                return Err(refuse("they are for other allocations"));
            }
        }
        out.push(LinearLayout { space, matches });
    }
    Ok(out)
}

/// Adds the CTEs of `q`'s reward rows (prefix `p`, through `{p}_r`) and `{p}_x0`:
/// those in the span (of `allocations` when given) with `cj`, the parsed context of
/// the exposure that opened each (the policy's exposure of the same unit at the same
/// millisecond; of several, the least context text).
pub(super) fn rows_with_context(
    d: &dyn Dialect,
    r: &Relations,
    q: &PolicyQuery,
    allocations: Option<&[String]>,
    p: &str,
    ctes: &mut Ctes,
) {
    super::sdk::policy(d, q, p, ctes, true);
    ctes.push(
        &format!("{p}_cx"),
        &format!(
            "SELECT unit_key, ts, MIN(context) AS context FROM (\n    SELECT unit_key, {ts} AS ts, {ctx} AS context FROM {x}\n    WHERE kind = 'exposure' AND policy_id = {id}\n  ) c GROUP BY unit_key, ts",
            ts = d.epoch_ms("ts"),
            ctx = d.to_text("context"),
            x = d.quote(&r.exposures),
            id = d.string(&q.policy_id),
        ),
    );
    let mut filter = "r.reward IS NOT NULL".to_owned();
    if let Some(t) = q.after {
        let _ = write!(filter, " AND r.exposed_at > {t}");
    }
    if let Some(t) = q.through {
        let _ = write!(filter, " AND r.exposed_at <= {t}");
    }
    if let Some(allocations) = allocations {
        let names: Vec<String> = allocations.iter().map(|a| d.string(a)).collect();
        if names.is_empty() {
            filter.push_str(" AND 1 = 0");
        } else {
            let _ = write!(filter, " AND r.allocation_name IN ({})", names.join(", "));
        }
    }
    ctes.push(
        &format!("{p}_x0"),
        &format!(
            "SELECT r.allocation_name, r.exposed_at, r.goal_events, r.reward, {cj} AS cj\n  FROM {p}_r r LEFT JOIN {p}_cx c ON c.unit_key = r.unit_key AND c.ts = r.exposed_at\n  WHERE {filter}",
            cj = d.json_parse("c.context"),
        ),
    );
}

/// Adds the CTEs of linear policy `q` (prefix `p`) down to `{p}_x1`: its reward
/// rows with each field's kind (`k<f>`), text (`t<f>`) and number (`n<f>`).
fn rows(d: &dyn Dialect, r: &Relations, q: &LinearQuery, p: &str, ctes: &mut Ctes) {
    rows_with_context(d, r, &q.query, Some(&q.allocations), p, ctes);
    let mut cols = Vec::new();
    for (f, (key, rule)) in q.fields.iter().enumerate() {
        let kind = d.json_kind("cj", key);
        if *rule != FieldRule::Numeric {
            cols.push(format!("{} AS t{f}", d.json_text("cj", key)));
        }
        if *rule != FieldRule::Categorical {
            // Read as a number only where it is one (a cast of text fails).
            cols.push(format!(
                "CASE WHEN {kind} = 'number' THEN {} ELSE NULL END AS n{f}",
                d.json_number("cj", key)
            ));
        }
        cols.push(format!("{kind} AS k{f}"));
    }
    let cols = if cols.is_empty() {
        String::new()
    } else {
        format!(",\n    {}", cols.join(",\n    "))
    };
    ctes.push_materialized(
        d,
        &format!("{p}_x1"),
        &format!("SELECT allocation_name, exposed_at, goal_events, reward{cols}\n  FROM {p}_x0"),
    );
}

/// The layout query of `queries` (`policy_id, field, kind, label`, distinct,
/// ordered): the kinds and texts of the values of each field the engine learns or
/// one-hot encodes, over the rows the statistics query reads.
///
/// # Errors
///
/// As [`super::statistics_sql`] (goals on named values).
pub fn layout_sql(
    d: &dyn Dialect,
    relations: &Relations,
    queries: &[LinearQuery],
) -> std::result::Result<String, crate::error::AttributionError> {
    let mut ctes = Ctes::default();
    // The layout reads every row: the feature values are those of the whole history,
    // as the engine's layout of the log.
    super::sdk::base(d, relations, None, &mut ctes);
    let mut parts = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        super::sdk::check_goal(&q.query)?;
        let p = format!("l{i}");
        rows(d, relations, q, &p, &mut ctes);
        for (f, (key, rule)) in q.fields.iter().enumerate() {
            if *rule == FieldRule::Numeric {
                continue;
            }
            parts.push(format!(
                "SELECT {id} AS policy_id, {key} AS field, {kind} AS kind, CASE WHEN k{f} = 'other' THEN NULL ELSE {text} END AS label FROM {p}_x1 WHERE k{f} IS NOT NULL",
                id = d.to_text(&d.string(&q.query.policy_id)),
                key = d.to_text(&d.string(key)),
                kind = d.to_text(&format!("k{f}")),
                text = d.to_text(&format!("t{f}")),
            ));
        }
    }
    if parts.is_empty() {
        parts.push(format!(
            "SELECT {t} AS policy_id, {t} AS field, {t} AS kind, {t} AS label FROM kd WHERE 1 = 0",
            t = d.to_text("NULL")
        ));
    }
    ctes.push("layout", &parts.join("\nUNION ALL\n"));
    Ok(format!(
        "{}\nSELECT DISTINCT policy_id, field, kind, label\nFROM layout\nORDER BY policy_id, field, kind, label\n{}",
        ctes.render(),
        super::sdk::settings_line(d)
    ))
}

/// The names of the linear columns of a statement whose widest layout has `dim`
/// features: `features`, `xx_i_j` (`0 ≤ i ≤ j < dim`, row by row) and `rx_i`.
#[must_use]
pub fn linear_columns(dim: usize) -> Vec<String> {
    let mut out = vec!["features".to_owned()];
    for i in 0..dim {
        for j in i..dim {
            out.push(format!("xx_{i}_{j}"));
        }
    }
    out.extend((0..dim).map(|i| format!("rx_{i}")));
    out
}

/// The saved-feature form of a layout: what the `features` column holds, as JSON.
#[must_use]
pub fn layout_features(space: &FeatureSpace) -> Vec<SavedFeature> {
    crate::policy::linear_state::saved_features(space)
}

/// Adds linear policy `q`'s CTEs (prefix `p`) and returns its select: the
/// statistics columns, then [`linear_columns`] of `dim` (NULL past its own layout).
pub(super) fn linear_part(
    d: &dyn Dialect,
    relations: &Relations,
    q: &LinearQuery,
    layout: &LinearLayout,
    p: &str,
    dim: usize,
    ctes: &mut Ctes,
) -> String {
    rows(d, relations, q, p, ctes);
    let zero = d.to_float("0");
    let one = d.to_float("1");
    let mut x = vec![one.clone()];
    let field_of: BTreeMap<&str, usize> = q
        .fields
        .iter()
        .enumerate()
        .map(|(f, (k, _))| (k.as_str(), f))
        .collect();
    for feature in layout.space.features() {
        let f = field_of[feature.key.as_str()];
        match &feature.kind {
            FeatureKind::Numeric => {
                x.push(format!(
                    "CASE WHEN k{f} = 'number' THEN {} ELSE {zero} END",
                    d.to_float(&format!("n{f}"))
                ));
                x.push(format!(
                    "CASE WHEN k{f} = 'number' THEN {zero} ELSE {one} END"
                ));
            }
            FeatureKind::Categorical { values } => {
                let mut any = Vec::new();
                for v in values {
                    let cond = layout
                        .matches
                        .get(&(feature.key.clone(), v.clone()))
                        .map(|pairs| {
                            let by_kind: BTreeMap<&str, Vec<String>> =
                                pairs.iter().fold(BTreeMap::new(), |mut m, (k, t)| {
                                    m.entry(k.as_str()).or_default().push(d.string(t));
                                    m
                                });
                            by_kind
                                .into_iter()
                                .map(|(k, ts)| {
                                    format!("(k{f} = '{k}' AND t{f} IN ({}))", ts.join(", "))
                                })
                                .collect::<Vec<_>>()
                                .join(" OR ")
                        });
                    match cond {
                        Some(c) => {
                            x.push(format!("CASE WHEN {c} THEN {one} ELSE {zero} END"));
                            any.push(c);
                        }
                        // A value only the state's sums hold: never in these rows.
                        None => x.push(zero.clone()),
                    }
                }
                x.push(if any.is_empty() {
                    one.clone()
                } else {
                    format!("CASE WHEN {} THEN {zero} ELSE {one} END", any.join(" OR "))
                });
            }
        }
    }
    let xs: Vec<String> = x
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS x{i}"))
        .collect();
    ctes.push_materialized(
        d,
        &format!("{p}_x"),
        &format!(
            "SELECT allocation_name, exposed_at, goal_events, reward,\n    {}\n  FROM {p}_x1",
            xs.join(",\n    ")
        ),
    );
    let own = x.len();
    let features =
        serde_json::to_string(&layout_features(&layout.space)).expect("saved features serialise");
    let null = d.to_float("NULL");
    let mut cols = vec![format!("{} AS features", d.to_text(&d.string(&features)))];
    for i in 0..dim {
        for j in i..dim {
            cols.push(if j < own {
                format!("SUM(x{i} * x{j}) AS xx_{i}_{j}")
            } else {
                format!("{null} AS xx_{i}_{j}")
            });
        }
    }
    for i in 0..dim {
        cols.push(if i < own {
            format!("SUM(reward * x{i}) AS rx_{i}")
        } else {
            format!("{null} AS rx_{i}")
        });
    }
    format!(
        "SELECT {id} AS policy_id, allocation_name, COUNT(*) AS units,\n    SUM(CASE WHEN goal_events > 0 THEN 1 ELSE 0 END) AS conversions,\n    SUM(reward) AS reward_sum, SUM(reward * reward) AS reward_sum_sq, MAX(exposed_at) AS last_exposed_at,\n    {}\n  FROM {p}_x GROUP BY allocation_name",
        cols.join(",\n    "),
        id = d.to_text(&d.string(&q.query.policy_id)),
    )
}

#[cfg(test)]
mod tests;
