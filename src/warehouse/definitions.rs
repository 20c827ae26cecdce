//! Warehouse-native definitions (`.traffical/warehouse.yaml`, beside `config.yaml`):
//! the platform's `entities`, `assignments`, `facts` and `metrics`, as its docs give
//! them (`concepts/warehouse-native`), plus `policies`, which says which optimised
//! policy reads which assignments and metric.
//!
//! ```yaml
//! entities:
//!   user: { keyType: userId }            # key column user_id (keyColumn: to rename)
//! assignments:
//!   checkout_assignments:
//!     entity: user
//!     sql: |
//!       SELECT user_id, assigned_at, experiment AS policy_key, variant AS allocation_key
//!       FROM analytics.assignments
//!       WHERE assigned_at BETWEEN '{{start_date}}' AND '{{end_date}}'
//! facts:
//!   orders:
//!     entity: user
//!     sql: SELECT user_id, event_time, order_total FROM analytics.orders
//! metrics:
//!   revenue_per_user: { fact: orders, aggregation: sum, valueColumn: order_total }
//! policies:
//!   policy_checkout_cta: { assignments: checkout_assignments, metric: revenue_per_user }
//! ```
//!
//! A file of its own rather than a `warehouse:` section of `config.yaml`: the config is
//! the platform's file (its CLI syncs it, and its schema knows no such section), while
//! these definitions are written and reviewed with the warehouse's SQL; the platform
//! keeps them apart too (definitions and the connection live in the dashboard). The
//! file is read with the config's rules: unknown keys refused, every error at
//! file:line:column with its key path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{read_yaml_file, yaml_error, Algorithm, ProjectConfig, YamlSpans};
use crate::error::Result;

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Definitions {
    /// Units of randomisation by name.
    #[serde(default)]
    pub entities: BTreeMap<String, EntityDefinition>,
    /// Where assignments live, by name.
    #[serde(default)]
    pub assignments: BTreeMap<String, SqlDefinition>,
    /// Where outcomes live, by name.
    #[serde(default)]
    pub facts: BTreeMap<String, FactDefinition>,
    /// How a fact becomes a number per entity, by name.
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricDefinition>,
    /// Per optimised policy id: its assignments and metric.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicySource>,
}

/// An entity: the unit of randomisation.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntityDefinition {
    /// The unit key it is (`userId`).
    pub key_type: String,
    /// The column holding the key in assignments and facts; default: `keyType` in
    /// snake case (`userId` → `user_id`), as the platform's examples.
    pub key_column: Option<String>,
}

impl EntityDefinition {
    /// The key column.
    #[must_use]
    pub fn column(&self) -> String {
        self.key_column
            .clone()
            .unwrap_or_else(|| snake_case(&self.key_type))
    }
}

/// An assignment definition: SQL returning the entity key, `assigned_at`,
/// `policy_key` and `allocation_key`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlDefinition {
    /// The entity assigned.
    pub entity: String,
    /// The query, with `{{start_date}}` and `{{end_date}}`.
    pub sql: String,
}

/// A fact definition: SQL returning the entity key, the event time and value columns.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FactDefinition {
    /// The entity the events belong to.
    pub entity: String,
    /// The query, with `{{start_date}}` and `{{end_date}}`.
    pub sql: String,
    /// The event-time column (default `event_time`).
    #[serde(default = "default_time_column")]
    pub time_column: String,
}

fn default_time_column() -> String {
    "event_time".into()
}

/// How a metric aggregates its fact per entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// 1 when the entity has a fact event after its assignment, else 0.
    ConversionRate,
    /// Σ `valueColumn` of the entity's fact events (0 without any).
    Sum,
    /// The number of the entity's fact events.
    Count,
    /// The mean `valueColumn` of the entity's fact events; entities without one are
    /// not counted (as the engine's `mean` goal).
    Mean,
}

/// A metric definition.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricDefinition {
    /// The fact aggregated.
    pub fact: String,
    /// How.
    pub aggregation: Aggregation,
    /// The value column (`sum` and `mean`).
    pub value_column: Option<String>,
}

/// Which assignments and metric an optimised policy reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySource {
    /// An assignment definition.
    pub assignments: String,
    /// A metric definition.
    pub metric: String,
}

/// `userId` → `user_id`.
fn snake_case(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The template variables a definition's SQL may use.
pub const TEMPLATE_VARIABLES: [&str; 2] = ["start_date", "end_date"];

/// `sql` with each `{{name}}` (spaces inside the braces allowed) replaced by
/// `value(name)`; `Err` names an unknown variable or an unclosed `{{`.
pub(super) fn render_template(
    sql: &str,
    value: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            return Err("a {{ without its }}".into());
        };
        let name = after[..j].trim();
        match value(name) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(format!(
                    "unknown template variable {{{{{name}}}}}; the SQL may use {{{{start_date}}}} and {{{{end_date}}}}"
                ))
            }
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

impl Definitions {
    /// The definitions beside a config file (`.traffical/warehouse.yaml`), if any.
    #[must_use]
    pub fn path_beside(config: &Path) -> PathBuf {
        config.with_file_name("warehouse.yaml")
    }

    /// Reads and checks the file against the config it serves.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if unreadable; [`Error::InvalidConfig`] at the line, column and
    /// key path of the first problem: a reference to an undefined entity, fact,
    /// assignment or metric, a policy the config does not optimise with a
    /// multi-armed learner, entities that differ between a policy's assignments
    /// and its metric's fact, a `thompson_bernoulli` policy on a metric that is not
    /// a conversion rate, a missing or needless `valueColumn`, an unknown template
    /// variable.
    pub fn from_path(path: &Path, config: &ProjectConfig) -> Result<Self> {
        let (defs, spans): (Self, YamlSpans) = read_yaml_file(path)?;
        defs.check(config, &spans, &path.display().to_string())?;
        Ok(defs)
    }

    fn check(&self, config: &ProjectConfig, spans: &YamlSpans, source: &str) -> Result<()> {
        let err = |key: String, reason: String| Err(yaml_error(source, spans, &key, reason));
        let sql_checks = self
            .assignments
            .iter()
            .map(|(n, a)| ("assignments", n, &a.entity, &a.sql))
            .chain(
                self.facts
                    .iter()
                    .map(|(n, f)| ("facts", n, &f.entity, &f.sql)),
            );
        for (section, name, entity, sql) in sql_checks {
            if !self.entities.contains_key(entity) {
                return err(
                    format!("{section}.{name}.entity"),
                    no("entity", entity, self.entities.keys()),
                );
            }
            if let Err(reason) =
                render_template(sql, &|v| TEMPLATE_VARIABLES.contains(&v).then(String::new))
            {
                return err(format!("{section}.{name}.sql"), reason);
            }
        }
        for (name, m) in &self.metrics {
            if !self.facts.contains_key(&m.fact) {
                return err(
                    format!("metrics.{name}.fact"),
                    no("fact", &m.fact, self.facts.keys()),
                );
            }
            let needs_value = matches!(m.aggregation, Aggregation::Sum | Aggregation::Mean);
            if needs_value && m.value_column.is_none() {
                return err(
                    format!("metrics.{name}"),
                    "a sum or mean metric needs valueColumn: the fact's column to aggregate".into(),
                );
            }
            if !needs_value && m.value_column.is_some() {
                return err(
                    format!("metrics.{name}.valueColumn"),
                    "conversion_rate and count do not read a value; remove valueColumn".into(),
                );
            }
        }
        self.check_policies(config, spans, source)
    }

    /// Each policy entry names a multi-armed policy of the config and definitions
    /// that exist and join on one entity.
    fn check_policies(
        &self,
        config: &ProjectConfig,
        spans: &YamlSpans,
        source: &str,
    ) -> Result<()> {
        let err = |key: String, reason: String| Err(yaml_error(source, spans, &key, reason));
        for (id, p) in &self.policies {
            match config.optimization.get(id) {
                None => {
                    return err(
                        format!("policies.{id}"),
                        format!("{id} is not a policy of the config's optimization section"),
                    )
                }
                Some(spec)
                    if spec.algorithm == Algorithm::LinearContextual
                        || spec.entity_config.is_some() =>
                {
                    return err(format!("policies.{id}"), "warehouse-native statistics are per-allocation sums: linear contextual and per-entity policies are not supported".into());
                }
                Some(_) => {}
            }
            let Some(a) = self.assignments.get(&p.assignments) else {
                return err(
                    format!("policies.{id}.assignments"),
                    no(
                        "assignment definition",
                        &p.assignments,
                        self.assignments.keys(),
                    ),
                );
            };
            let Some(m) = self.metrics.get(&p.metric) else {
                return err(
                    format!("policies.{id}.metric"),
                    no("metric", &p.metric, self.metrics.keys()),
                );
            };
            let bernoulli = config.optimization[id].algorithm == Algorithm::ThompsonBernoulli;
            if bernoulli && m.aggregation != Aggregation::ConversionRate {
                return err(format!("policies.{id}.metric"), format!("{id} is thompson_bernoulli, which fits 0/1 rewards: give it a conversion_rate metric (or make it thompson_gaussian)"));
            }
            let fact_entity = &self.facts[&m.fact].entity;
            if *fact_entity != a.entity {
                return err(format!("policies.{id}.metric"), format!("its fact {} is about entity {fact_entity}, the assignments {} about {}: they join on one entity key", m.fact, p.assignments, a.entity));
            }
        }
        Ok(())
    }
}

/// "no fact "x" is defined (defined: a, b)".
fn no<'a>(what: &str, name: &str, have: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = have.map(String::as_str).collect();
    let names = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    };
    format!("no {what} {name:?} is defined (defined: {names})")
}

/// The definitions a retrain or `sql` reads for `config_path`: the file beside it,
/// when there is one.
///
/// # Errors
///
/// As [`Definitions::from_path`].
pub fn definitions_beside(
    config_path: &Path,
    config: &ProjectConfig,
) -> Result<Option<Definitions>> {
    let path = Definitions::path_beside(config_path);
    if !path.is_file() {
        return Ok(None);
    }
    Definitions::from_path(&path, config).map(Some)
}
