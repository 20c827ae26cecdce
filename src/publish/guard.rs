//! The checks a bundle must pass before it is written. Any failure refuses the whole
//! publication ([`Error::Refused`], exit code 3): nothing is written and the version
//! in place stays current.
//!
//! 1. Every rule of `config-bundle.schema.json` ([`super::schema`]).
//! 2. It reads back as a bundle ([`BundleDocument`]: ranges inside
//!    `[0, bucketCount)`, no overlapping allocations in adaptive policies, unique
//!    ids and names).
//! 3. Per-entity weights (`entityState`) are finite, non-negative and sum to 1.
//! 4. Against the bundle it replaces: every adaptive policy serves exactly the same
//!    buckets (allocations cut to `eligibleBucketRange`), and no policy appeared or
//!    disappeared.

use serde_json::Value;

use super::schema::schema_violations;
use crate::bundle::BundleDocument;
use crate::error::{Error, Result};
use crate::sdk::model::PolicyKind;

/// How far a weight vector's sum may be from 1.
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-9;

/// Checks weights: finite, non-negative, summing to 1 within
/// [`WEIGHT_SUM_TOLERANCE`]. `Err` says which and why.
///
/// # Errors
///
/// A reason, for the caller to place.
pub fn check_weights(weights: &[f64]) -> std::result::Result<(), String> {
    if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
        return Err(format!("weight [{i}] is {w}, not a finite number"));
    }
    if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| **w < 0.0) {
        return Err(format!("weight [{i}] is negative ({w})"));
    }
    let sum: f64 = weights.iter().sum();
    if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        return Err(format!("weights sum to {sum}, not 1"));
    }
    Ok(())
}

/// Runs every check on the bundle `text` about to be written to `target`, against
/// `previous` (the bundle it replaces), and returns the parsed bundle.
///
/// # Errors
///
/// [`Error::Refused`] naming the first failed check, its JSON path and reason.
pub fn check_publishable(
    text: &str,
    previous: Option<&BundleDocument>,
    target: &str,
) -> Result<BundleDocument> {
    let refuse = |key: String, reason: String| Error::Refused {
        file: target.to_owned(),
        key,
        reason,
    };
    let raw: Value = serde_json::from_str(text)
        .map_err(|e| refuse("bundle".into(), format!("not valid JSON: {e}")))?;
    if let Some(v) = schema_violations(&raw).into_iter().next() {
        return Err(refuse(
            v.path,
            format!("{} (config-bundle.schema.json)", v.reason),
        ));
    }
    let doc = BundleDocument::from_value(raw, target).map_err(|e| match e {
        Error::InvalidBundle { key, reason, .. } => refuse(key, reason),
        other => other,
    })?;
    if let Some(states) = &doc.bundle().entity_state {
        for (policy, s) in states {
            let all = std::iter::once(("_global", &s.global))
                .chain(s.entities.iter().map(|(k, v)| (k.as_str(), v)));
            for (entity, w) in all {
                check_weights(&w.weights).map_err(|reason| {
                    refuse(format!("entityState.{policy}.{entity}.weights"), reason)
                })?;
            }
        }
    }
    if let Some(prev) = previous {
        compare(&doc, prev).map_err(|(key, reason)| refuse(key, reason))?;
    }
    Ok(doc)
}

fn compare(
    new: &BundleDocument,
    old: &BundleDocument,
) -> std::result::Result<(), (String, String)> {
    let ids = |d: &BundleDocument| -> Vec<String> {
        let mut v: Vec<String> = d
            .bundle()
            .layers
            .iter()
            .flat_map(|l| l.policies.iter().map(|p| p.id.clone()))
            .collect();
        v.sort();
        v
    };
    let (a, b) = (ids(old), ids(new));
    if a != b {
        return Err((
            "layers".into(),
            format!("the policies changed (before: {}; after: {}); the engine never adds or removes policies", a.join(", "), b.join(", ")),
        ));
    }
    for (li, layer) in new.bundle().layers.iter().enumerate() {
        for (pi, p) in layer.policies.iter().enumerate() {
            if p.kind != PolicyKind::Adaptive {
                continue;
            }
            let Some((oli, opi)) = old.find_policy(&p.id) else {
                continue;
            };
            let before = old.bundle().layers[oli].policies[opi].covered_segments();
            let after = p.covered_segments();
            if before != after {
                let show = |s: &[[u32; 2]]| {
                    s.iter()
                        .map(|r| format!("[{}, {}]", r[0], r[1]))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err((
                    format!("layers[{li}].policies[{pi}].allocations"),
                    format!(
                        "policy \"{}\" would serve buckets {} instead of {}; a rewrite must keep the buckets a policy covers",
                        p.id,
                        show(&after),
                        show(&before)
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bundle() -> Value {
        json!({
            "version": "2026-11-20T00:00:00.000Z", "orgId": "o", "projectId": "p", "env": "e",
            "hashing": {"unitKey": "userId", "bucketCount": 100},
            "parameters": [],
            "layers": [{"id": "l", "policies": [{"id": "p", "state": "running", "kind": "adaptive",
                "conditions": [],
                "allocations": [{"name": "a", "bucketRange": [0, 49], "overrides": {}},
                                {"name": "b", "bucketRange": [50, 89], "overrides": {}}]}]}],
            "entityState": {"p": {"_global": {"entityId": "_global", "weights": [0.5, 0.5], "computedAt": "t"},
                "entities": {"x": {"entityId": "x", "weights": [0.25, 0.75], "computedAt": "t"}}}}
        })
    }

    fn text(v: &Value) -> String {
        serde_json::to_string_pretty(v).unwrap()
    }

    #[test]
    fn weights_must_be_a_distribution() {
        assert_eq!(check_weights(&[0.5, 0.5]), Ok(()));
        assert_eq!(
            check_weights(&[0.5, 0.6]).unwrap_err(),
            "weights sum to 1.1, not 1"
        );
        assert_eq!(
            check_weights(&[1.5, -0.5]).unwrap_err(),
            "weight [1] is negative (-0.5)"
        );
        assert_eq!(
            check_weights(&[f64::NAN]).unwrap_err(),
            "weight [0] is NaN, not a finite number"
        );
    }

    #[test]
    fn a_bundle_equal_in_coverage_passes() {
        let old = BundleDocument::from_value(bundle(), "old").unwrap();
        let mut b = bundle();
        b["layers"][0]["policies"][0]["allocations"][0]["bucketRange"] = json!([0, 9]);
        b["layers"][0]["policies"][0]["allocations"][1]["bucketRange"] = json!([10, 89]);
        check_publishable(&text(&b), Some(&old), "out/bundle.json").unwrap();
    }

    #[test]
    fn each_guard_refuses_with_the_path() {
        let old = BundleDocument::from_value(bundle(), "old").unwrap();
        let refused = |b: Value| {
            check_publishable(&text(&b), Some(&old), "out/bundle.json")
                .unwrap_err()
                .to_string()
        };
        let mut b = bundle();
        b["layers"][0]["policies"][0]["allocations"][1]["bucketRange"] = json!([50, 99]);
        assert_eq!(
            refused(b),
            "refused to publish out/bundle.json: layers[0].policies[0].allocations: policy \"p\" would serve buckets [0, 99] instead of [0, 89]; a rewrite must keep the buckets a policy covers"
        );
        let mut b = bundle();
        b["layers"][0]["policies"][0]["allocations"][1]["bucketRange"] = json!([40, 89]);
        assert!(
            refused(b).contains("allocations[1].bucketRange: overlaps allocations[0] ([0, 49])")
        );
        let mut b = bundle();
        b["entityState"]["p"]["entities"]["x"]["weights"] = json!([0.25, 0.5]);
        assert_eq!(
            refused(b),
            "refused to publish out/bundle.json: entityState.p.x.weights: weights sum to 0.75, not 1"
        );
        let mut b = bundle();
        b["version"] = json!("now");
        assert!(refused(b)
            .contains("version: \"now\" is not a \"date-time\" (config-bundle.schema.json)"));
        let mut b = bundle();
        b["layers"][0]["policies"][0]["id"] = json!("q");
        assert!(refused(b).contains("the policies changed (before: p; after: q)"));
    }
}
