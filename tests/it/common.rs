//! Helpers shared by the scenario tests.

use std::path::PathBuf;

use serde_json::Value;

/// A path under the shared reference material beside the project.
pub fn reference(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference")
        .join(rel)
}

/// Validates `instance` against the platform's bundle schema, returning the errors.
pub fn bundle_schema_errors(instance: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(reference(
            "traffical-sdk-spec/schemas/config-bundle.schema.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}
