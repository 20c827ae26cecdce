//! What changed between two bundles: per policy the allocation ranges and shares,
//! the buckets that changed allocation, and the contextual-model coefficients; plus
//! any other JSON value that differs (the engine should never change those).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use super::document::BundleDocument;
use super::model::Policy;
use crate::policy::buckets_moved;

/// One allocation before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationChange {
    /// Allocation name.
    pub name: String,
    /// Range before (absent if the allocation is new).
    pub old_range: Option<[u32; 2]>,
    /// Range after (absent if the allocation is gone).
    pub new_range: Option<[u32; 2]>,
    /// Share of the policy's served buckets before.
    pub old_share: f64,
    /// Share after.
    pub new_share: f64,
}

/// One model value before and after (`None`: absent on that side).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CoefficientChange {
    /// Allocation name, or `*` for model-level values (`gamma`, ...).
    pub allocation: String,
    /// `intercept`, `numeric.<key>`, `numeric.<key>.missing`,
    /// `categorical.<key>=<value>`, `categorical.<key>.missing`, or a model field.
    pub term: String,
    /// Before.
    pub old: Option<f64>,
    /// After.
    pub new: Option<f64>,
}

/// One policy's changes.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyChange {
    /// Policy id.
    pub policy_id: String,
    /// Every allocation, in the new bundle's order, then removed ones.
    pub allocations: Vec<AllocationChange>,
    /// Served buckets whose allocation changed.
    pub buckets_moved: u64,
    /// Buckets the policy serves after.
    pub buckets_served: u64,
    /// Whether the set of served buckets changed (a publishing guard refuses this).
    pub coverage_changed: bool,
    /// `stateVersion` before and after.
    pub state_version: [Option<String>; 2],
    /// Contextual-model values that differ.
    pub coefficients: Vec<CoefficientChange>,
}

/// Everything that differs between two bundles.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleDiff {
    /// `version` before and after.
    pub version: [String; 2],
    /// Policies with any change, in the new bundle's order.
    pub policies: Vec<PolicyChange>,
    /// Policy ids only in the old bundle, or only in the new one.
    pub removed_policies: Vec<String>,
    /// Policy ids only in the new bundle.
    pub added_policies: Vec<String>,
    /// JSON paths of other values that differ (outside ranges, `stateVersion`,
    /// `contextualModel` and `version`).
    pub other_changes: Vec<String>,
}

fn served(p: &Policy) -> Vec<Option<[u32; 2]>> {
    p.allocations
        .iter()
        .map(|a| {
            let [mut s, mut e] = a.bucket_range;
            if let Some(span) = p.eligible_bucket_range {
                s = s.max(span.start);
                e = e.min(span.end);
            }
            (s <= e).then_some([s, e])
        })
        .collect()
}

fn size(r: Option<[u32; 2]>) -> u64 {
    r.map_or(0, |r| u64::from(r[1] - r[0]) + 1)
}

/// Flattens a `contextualModel` into `(allocation, term) → value`.
fn model_terms(model: Option<&Value>) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    let Some(m) = model else {
        return out;
    };
    for key in ["gamma", "actionProbabilityFloor", "defaultAllocationScore"] {
        if let Some(x) = m[key].as_f64() {
            out.insert(("*".to_owned(), key.to_owned()), x);
        }
    }
    let Some(coefs) = m["coefficients"].as_object() else {
        return out;
    };
    for (alloc, c) in coefs {
        let mut put = |term: String, v: &Value| {
            if let Some(x) = v.as_f64() {
                out.insert((alloc.clone(), term), x);
            }
        };
        put("intercept".into(), &c["intercept"]);
        for f in c["numeric"].as_array().into_iter().flatten() {
            let k = f["key"].as_str().unwrap_or("?");
            put(format!("numeric.{k}"), &f["coef"]);
            put(format!("numeric.{k}.missing"), &f["missing"]);
        }
        for f in c["categorical"].as_array().into_iter().flatten() {
            let k = f["key"].as_str().unwrap_or("?");
            put(format!("categorical.{k}.missing"), &f["missing"]);
            for (v, x) in f["values"].as_object().into_iter().flatten() {
                put(format!("categorical.{k}={v}"), x);
            }
        }
    }
    out
}

fn policy_change(old: &Policy, new: &Policy) -> PolicyChange {
    let old_served = served(old);
    let new_served = served(new);
    let old_total: u64 = old_served.iter().map(|r| size(*r)).sum();
    let new_total: u64 = new_served.iter().map(|r| size(*r)).sum();
    let share = |r: Option<[u32; 2]>, t: u64| {
        if t == 0 {
            0.0
        } else {
            size(r) as f64 / t as f64
        }
    };
    let mut allocations = Vec::new();
    let mut matched_old = Vec::new();
    let mut new_ranges = Vec::new();
    for (a, r) in new.allocations.iter().zip(&new_served) {
        let oi = old.allocations.iter().position(|o| o.name == a.name);
        let or = oi.and_then(|i| old_served[i]);
        allocations.push(AllocationChange {
            name: a.name.clone(),
            old_range: oi.map(|i| old.allocations[i].bucket_range),
            new_range: Some(a.bucket_range),
            old_share: share(or, old_total),
            new_share: share(*r, new_total),
        });
        if let Some(r) = r {
            matched_old.push(or);
            new_ranges.push(*r);
        }
    }
    for (a, r) in old.allocations.iter().zip(&old_served) {
        if !new.allocations.iter().any(|n| n.name == a.name) {
            allocations.push(AllocationChange {
                name: a.name.clone(),
                old_range: Some(a.bucket_range),
                new_range: None,
                old_share: share(*r, old_total),
                new_share: 0.0,
            });
        }
    }
    let old_terms = model_terms(old.contextual_model.as_ref());
    let new_terms = model_terms(new.contextual_model.as_ref());
    let mut keys: Vec<&(String, String)> = old_terms.keys().chain(new_terms.keys()).collect();
    keys.sort();
    keys.dedup();
    let coefficients = keys
        .into_iter()
        .filter_map(|k| {
            let (o, n) = (old_terms.get(k).copied(), new_terms.get(k).copied());
            (o != n).then(|| CoefficientChange {
                allocation: k.0.clone(),
                term: k.1.clone(),
                old: o,
                new: n,
            })
        })
        .collect();
    PolicyChange {
        policy_id: new.id.clone(),
        allocations,
        buckets_moved: buckets_moved(&matched_old, &new_ranges),
        buckets_served: new_total,
        coverage_changed: old.covered_segments() != new.covered_segments(),
        state_version: [old.state_version.clone(), new.state_version.clone()],
        coefficients,
    }
}

fn other_changes(old: &Value, new: &Value, path: &str, out: &mut Vec<String>) {
    let owned = |p: &str| {
        p == "version"
            || p.ends_with(".bucketRange")
            || p.ends_with(".stateVersion")
            || p.ends_with(".contextualModel")
    };
    if owned(path) {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(w) => other_changes(v, w, &p, out),
                    None if !owned(&p) => out.push(p),
                    None => {}
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if !owned(&p) {
                    out.push(p);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                other_changes(v, w, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a != b => out.push(if path.is_empty() {
            "bundle".into()
        } else {
            path.to_owned()
        }),
        _ => {}
    }
}

/// Compares two bundles.
#[must_use]
pub fn diff(old: &BundleDocument, new: &BundleDocument) -> BundleDiff {
    let mut policies = Vec::new();
    let mut added = Vec::new();
    for p in new.bundle().layers.iter().flat_map(|l| &l.policies) {
        match old.find_policy(&p.id) {
            Some((li, pi)) => {
                let c = policy_change(&old.bundle().layers[li].policies[pi], p);
                let changed = c.buckets_moved > 0
                    || c.coverage_changed
                    || !c.coefficients.is_empty()
                    || c.state_version[0] != c.state_version[1]
                    || c.allocations.iter().any(|a| a.old_range != a.new_range);
                if changed {
                    policies.push(c);
                }
            }
            None => added.push(p.id.clone()),
        }
    }
    let removed = old
        .bundle()
        .layers
        .iter()
        .flat_map(|l| &l.policies)
        .filter(|p| new.find_policy(&p.id).is_none())
        .map(|p| p.id.clone())
        .collect();
    let mut other = Vec::new();
    other_changes(old.raw(), new.raw(), "", &mut other);
    BundleDiff {
        version: [old.bundle().version.clone(), new.bundle().version.clone()],
        policies,
        removed_policies: removed,
        added_policies: added,
        other_changes: other,
    }
}

fn range(r: Option<[u32; 2]>) -> String {
    r.map_or("-".into(), |r| format!("[{}, {}]", r[0], r[1]))
}

fn num(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.6}"))
}

impl BundleDiff {
    /// Whether the bundles differ at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.version[0] == self.version[1]
            && self.policies.is_empty()
            && self.removed_policies.is_empty()
            && self.added_policies.is_empty()
            && self.other_changes.is_empty()
    }

    /// A readable rendering, one block per changed policy.
    #[must_use]
    pub fn render(&self) -> String {
        let mut s = String::new();
        if self.is_empty() {
            s.push_str("no changes\n");
            return s;
        }
        let _ = writeln!(s, "version {} → {}", self.version[0], self.version[1]);
        for p in &self.policies {
            let _ = writeln!(
                s,
                "\n{}  {} of {} buckets moved{}",
                p.policy_id,
                p.buckets_moved,
                p.buckets_served,
                if p.coverage_changed {
                    "  COVERAGE CHANGED"
                } else {
                    ""
                }
            );
            if p.state_version[0] != p.state_version[1] {
                let _ = writeln!(
                    s,
                    "  stateVersion {} → {}",
                    p.state_version[0].as_deref().unwrap_or("-"),
                    p.state_version[1].as_deref().unwrap_or("-")
                );
            }
            if p.allocations.iter().any(|a| a.old_range != a.new_range) {
                let _ = writeln!(
                    s,
                    "  {:<16} {:>13} → {:<13} {:>7} → {:<7}",
                    "allocation", "range", "range", "share", "share"
                );
                for a in &p.allocations {
                    let _ = writeln!(
                        s,
                        "  {:<16} {:>13} → {:<13} {:>6.2}% → {:.2}%",
                        a.name,
                        range(a.old_range),
                        range(a.new_range),
                        100.0 * a.old_share,
                        100.0 * a.new_share
                    );
                }
            }
            if !p.coefficients.is_empty() {
                let _ = writeln!(s, "  {} model values changed:", p.coefficients.len());
                for c in &p.coefficients {
                    let delta = match (c.old, c.new) {
                        (Some(o), Some(n)) => format!("  ({:+.6})", n - o),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        s,
                        "    {:<14} {:<32} {:>12} → {:<12}{delta}",
                        c.allocation,
                        c.term,
                        num(c.old),
                        num(c.new)
                    );
                }
            }
        }
        for id in &self.added_policies {
            let _ = writeln!(s, "\npolicy {id} added");
        }
        for id in &self.removed_policies {
            let _ = writeln!(s, "\npolicy {id} removed");
        }
        if !self.other_changes.is_empty() {
            let _ = writeln!(s, "\nother values changed:");
            for p in &self.other_changes {
                let _ = writeln!(s, "  {p}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(ranges: [[u32; 2]; 2], coef: f64, env: &str) -> BundleDocument {
        BundleDocument::from_value(
            json!({
                "version": "2026-11-20T00:00:00.000Z", "orgId": "o", "projectId": "p", "env": env,
                "hashing": {"unitKey": "userId", "bucketCount": 100},
                "parameters": [],
                "layers": [{"id": "l", "policies": [{"id": "p", "state": "running", "kind": "adaptive",
                    "conditions": [],
                    "allocations": [{"name": "a", "bucketRange": ranges[0], "overrides": {}},
                                    {"name": "b", "bucketRange": ranges[1], "overrides": {}}],
                    "contextualModel": {"gamma": 1, "actionProbabilityFloor": 0.1, "defaultAllocationScore": 0,
                        "coefficients": {"a": {"intercept": coef, "numeric": [], "categorical": [
                            {"key": "country", "values": {"us": 0.5}, "missing": 0}]}}}}]}]
            }),
            "t",
        )
        .unwrap()
    }

    #[test]
    fn moved_buckets_shares_and_coefficients_are_counted() {
        let old = doc([[0, 49], [50, 99]], 0.25, "prod");
        let new = doc([[0, 69], [70, 99]], 0.5, "prod");
        let d = diff(&old, &new);
        assert_eq!(d.policies.len(), 1);
        let p = &d.policies[0];
        assert_eq!(p.buckets_moved, 20);
        assert!(!p.coverage_changed);
        assert_eq!(p.allocations[0].old_share, 0.5);
        assert_eq!(p.allocations[0].new_share, 0.7);
        assert_eq!(
            p.coefficients,
            vec![CoefficientChange {
                allocation: "a".into(),
                term: "intercept".into(),
                old: Some(0.25),
                new: Some(0.5)
            }]
        );
        assert!(d.other_changes.is_empty());
        let text = d.render();
        assert!(text.contains("p  20 of 100 buckets moved"), "{text}");
        assert!(
            text.contains("intercept") && text.contains("(+0.250000)"),
            "{text}"
        );
    }

    #[test]
    fn identical_bundles_have_no_changes_and_foreign_edits_are_listed() {
        let a = doc([[0, 49], [50, 99]], 0.25, "prod");
        assert!(diff(&a, &a).is_empty());
        assert_eq!(diff(&a, &a).render(), "no changes\n");
        let b = doc([[0, 49], [50, 99]], 0.25, "staging");
        assert_eq!(diff(&a, &b).other_changes, vec!["env"]);
    }
}
