//! The platform's `config-bundle.schema.json` (JSON Schema draft 7), embedded in the
//! binary and checked with the `jsonschema` crate, so publishing validates against
//! the schema itself rather than a hand-written copy of its rules that could drift.
//! The schema is the SDK spec's file, copied with its licence under
//! `tests/fixtures/reference/traffical-sdk-spec/` (see the README there); formats
//! (`date-time`) are validated, as draft 7 allows.
//!
//! Fields the schema does not describe (`entityState`, `eligibleBucketRange`, ...) are
//! allowed, as the schema allows additional properties.

use std::fmt::Write;
use std::sync::OnceLock;

use jsonschema::paths::LocationSegment;
use serde_json::Value;

/// The schema's text, as the SDK spec publishes it.
pub const BUNDLE_SCHEMA: &str = include_str!(
    "../../tests/fixtures/reference/traffical-sdk-spec/schemas/config-bundle.schema.json"
);

/// One violation: JSON path (`layers[0].policies[1].allocations[2].bucketRange`)
/// and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Where.
    pub path: String,
    /// What.
    pub reason: String,
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        // The schema is a constant of the build; `the_embedded_schema_compiles` keeps
        // these two `expect`s unreachable.
        let schema: Value =
            serde_json::from_str(BUNDLE_SCHEMA).expect("the embedded bundle schema is JSON");
        jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the embedded bundle schema compiles")
    })
}

/// A JSON pointer's segments in the engine's path notation: `layers[0].id`, or
/// `bundle` for the root.
fn dotted(location: &jsonschema::paths::Location) -> String {
    let mut path = String::new();
    for segment in location {
        match segment {
            LocationSegment::Index(i) => {
                let _ = write!(path, "[{i}]");
            }
            LocationSegment::Property(p) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&p);
            }
        }
    }
    if path.is_empty() {
        path.push_str("bundle");
    }
    path
}

/// Every violation of the bundle schema in `bundle`, in the validator's order
/// (document order of the schema's keywords).
#[must_use]
pub fn schema_violations(bundle: &Value) -> Vec<SchemaViolation> {
    validator()
        .iter_errors(bundle)
        .map(|e| SchemaViolation {
            path: dotted(e.instance_path()),
            reason: e.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn minimal() -> Value {
        json!({
            "version": "2026-11-20T00:00:00.000Z", "orgId": "o", "projectId": "p", "env": "e",
            "hashing": {"unitKey": "userId", "bucketCount": 100},
            "parameters": [{"key": "k", "type": "number", "default": 0, "layerId": "l", "namespace": "n"}],
            "layers": [{"id": "l", "policies": [{"id": "p", "state": "running", "kind": "adaptive",
                "conditions": [{"field": "f", "op": "eq", "value": 1}],
                "allocations": [{"name": "a", "bucketRange": [0, 99], "overrides": {}}],
                "contextualModel": {"gamma": 1, "actionProbabilityFloor": 0.1, "defaultAllocationScore": 0,
                    "coefficients": {"a": {"intercept": 0.5, "numeric": [{"key": "x", "coef": 1, "missing": 0}],
                        "categorical": [{"key": "c", "values": {"us": 1}, "missing": 0}]}}}}]}]
        })
    }

    #[test]
    fn the_embedded_schema_compiles() {
        let _ = validator();
    }

    #[test]
    fn a_valid_bundle_has_no_violations() {
        assert_eq!(schema_violations(&minimal()), vec![]);
    }

    #[test]
    fn violations_name_the_json_path() {
        let mut b = minimal();
        b["version"] = json!("yesterday");
        b["hashing"]["bucketCount"] = json!(0);
        b["layers"][0]["policies"][0]["allocations"][0]["bucketRange"] = json!([0, 1.5]);
        b["layers"][0]["policies"][0]["conditions"][0]["op"] = json!("like");
        let m = &mut b["layers"][0]["policies"][0]["contextualModel"];
        m["actionProbabilityFloor"] = json!(2);
        m["coefficients"]["a"]["numeric"][0]["coef"] = Value::Null;
        m["coefficients"]["a"]["categorical"][0]["values"]["us"] = json!("1");
        b.as_object_mut().unwrap().remove("env");
        let mut paths: Vec<String> = schema_violations(&b).into_iter().map(|v| v.path).collect();
        paths.sort();
        assert_eq!(
            paths,
            vec![
                "bundle",
                "hashing.bucketCount",
                "layers[0].policies[0].allocations[0].bucketRange[1]",
                "layers[0].policies[0].conditions[0].op",
                "layers[0].policies[0].contextualModel.actionProbabilityFloor",
                "layers[0].policies[0].contextualModel.coefficients.a.categorical[0].values.us",
                "layers[0].policies[0].contextualModel.coefficients.a.numeric[0].coef",
                "version",
            ]
        );
        let reasons: Vec<String> = schema_violations(&b)
            .into_iter()
            .map(|v| format!("{}: {}", v.path, v.reason))
            .collect();
        assert!(
            reasons.contains(&"bundle: \"env\" is a required property".to_owned()),
            "{reasons:#?}"
        );
        assert!(
            reasons.contains(&"version: \"yesterday\" is not a \"date-time\"".to_owned()),
            "{reasons:#?}"
        );
    }

    #[test]
    fn the_engine_agrees_with_the_schema_on_what_it_publishes() {
        // The schema allows what it does not describe: the engine's own fields pass.
        let mut b = minimal();
        b["entityState"] = json!({"p": {"_global": {"weights": [1.0]}}});
        b["layers"][0]["policies"][0]["eligibleBucketRange"] = json!([0, 99]);
        assert_eq!(schema_violations(&b), vec![]);
    }
}
