//! The enforcement report: counts by event, property and rule, and a short summary.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::discover::Discovered;
use super::scan::{Plan, Scan};
use crate::config::{Rule, SchemaEnforcement};

/// Counts of one defined event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventCounts {
    /// Its `schemaEnforcement`.
    pub enforcement: SchemaEnforcement,
    /// Track events of this name.
    pub seen: u64,
    /// Of those, checked (all unless `off`).
    pub checked: u64,
    /// Of those, with at least one violation.
    pub invalid: u64,
    /// Of those, moved to the quarantine (`reject`).
    pub rejected: u64,
}

/// How often one rule was broken at one property of one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViolationCount {
    /// The event name.
    pub event: String,
    /// The property path, array indices dropped (`items[].sku`), or `value`.
    pub property: String,
    /// The rule.
    pub rule: Rule,
    /// Events that broke it (an event breaking it at two array elements counts twice).
    pub count: u64,
}

/// Enforcement counts of a load: serialisable into the run report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnforcementReport {
    /// Track events checked against a schema.
    pub checked: u64,
    /// Of those, invalid (kept under `warn`, rejected under `reject`).
    pub invalid: u64,
    /// Of those, moved to the quarantine.
    pub rejected: u64,
    /// Per defined event that occurs in the data, by name.
    pub events: BTreeMap<String, EventCounts>,
    /// Violations by event, property and rule, in that order.
    pub violations: Vec<ViolationCount>,
    /// Track events without a definition, by name (described in `discovered.yaml`).
    pub discovered: BTreeMap<String, u64>,
}

impl EnforcementReport {
    pub(super) fn new(plan: &Plan<'_>, scan: Scan, discovered: &Discovered) -> Self {
        let mut rejected_by = vec![0u64; plan.schemas.len()];
        let mut events = BTreeMap::new();
        for (i, (name, schema)) in plan.schemas.iter().enumerate() {
            if schema.enforcement == SchemaEnforcement::Reject {
                rejected_by[i] = scan.invalid[i];
            }
            if scan.seen[i] > 0 {
                events.insert(
                    (*name).to_owned(),
                    EventCounts {
                        enforcement: schema.enforcement,
                        seen: scan.seen[i],
                        checked: scan.checked[i],
                        invalid: scan.invalid[i],
                        rejected: rejected_by[i],
                    },
                );
            }
        }
        let mut violations: Vec<ViolationCount> = scan
            .counts
            .into_iter()
            .map(|((i, property, rule), count)| ViolationCount {
                event: plan.schemas[i].0.to_owned(),
                property,
                rule,
                count,
            })
            .collect();
        violations
            .sort_by(|a, b| (&a.event, &a.property, a.rule).cmp(&(&b.event, &b.property, b.rule)));
        Self {
            checked: scan.checked.iter().sum(),
            invalid: scan.invalid.iter().sum(),
            rejected: rejected_by.iter().sum(),
            events,
            violations,
            discovered: discovered
                .events
                .iter()
                .map(|(n, e)| (n.clone(), e.count))
                .collect(),
        }
    }

    /// A few lines for people: totals, the most frequent violations (at most ten) and
    /// the discovered events.
    #[must_use]
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "schemas: {} track events checked, {} invalid ({} kept with warnings, {} rejected to the quarantine)",
            self.checked,
            self.invalid,
            self.invalid - self.rejected,
            self.rejected
        );
        let mut top: Vec<&ViolationCount> = self.violations.iter().collect();
        top.sort_by_key(|v| std::cmp::Reverse(v.count));
        for v in top.iter().take(10) {
            let _ = writeln!(s, "  {} {} {}: {}", v.event, v.property, v.rule, v.count);
        }
        if top.len() > 10 {
            let _ = writeln!(s, "  … and {} more (see the JSON report)", top.len() - 10);
        }
        if !self.discovered.is_empty() {
            let list: Vec<String> = self
                .discovered
                .iter()
                .map(|(n, c)| format!("{n} ({c})"))
                .collect();
            let _ = writeln!(
                s,
                "discovered: {} undefined event{}: {}",
                list.len(),
                if list.len() == 1 { "" } else { "s" },
                list.join(", ")
            );
        }
        s
    }
}
