//! Bundles: typed read, untouched write, atomic publish.

use bandit_engine::bundle::BundleDocument;
use bandit_engine::publish::publish;
use serde_json::Value;

use crate::common::{bundle_schema_errors, reference};

#[test]
fn every_spec_fixture_bundle_reads_and_writes_back_unchanged() {
    for name in [
        "bundle_basic.json",
        "bundle_conditions.json",
        "bundle_contextual.json",
        "bundle_edge_policies.json",
    ] {
        let path = reference(&format!("traffical-sdk-spec/test-vectors/fixtures/{name}"));
        let doc = BundleDocument::from_path(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let written: Value = serde_json::from_str(&doc.to_json_pretty()).unwrap();
        assert_eq!(written, original, "{name}");
        // Key order is kept too, not only equality as maps.
        assert_eq!(
            serde_json::to_string(&written).unwrap(),
            serde_json::to_string(&original).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn the_demo_bundle_is_valid_against_the_platform_schema() {
    let doc = BundleDocument::from_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/demo/bundle.json"
    ))
    .unwrap();
    assert_eq!(bundle_schema_errors(doc.raw()), Vec::<String>::new());
}

#[test]
fn a_bad_bundle_names_the_json_path() {
    let text = r#"{"version":"v","orgId":"o","projectId":"p","env":"e","hashing":{"unitKey":"userId","bucketCount":100},
        "parameters":[],"layers":[{"id":"l","policies":[{"id":"p1","state":"running","kind":"adaptive","conditions":[],
        "allocations":[{"name":"a","bucketRange":[0,60],"overrides":{}},{"name":"b","bucketRange":[50,99],"overrides":{}}]}]}]}"#;
    let err = BundleDocument::from_str_named(text, "b.json")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "b.json: layers[0].policies[0].allocations[1].bucketRange: overlaps allocations[0] ([0, 60]) in adaptive policy \"p1\""
    );
    let err = BundleDocument::from_str_named(&text.replace("\"running\"", "\"live\""), "b.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("b.json: layers[0].policies[0].state: unknown variant `live`"),
        "{err}"
    );
    let err = BundleDocument::from_str_named(&text.replace("[50,99]", "[61,100]"), "b.json")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("allocations[1].bucketRange: [61, 100] is not an inclusive range of [0, 100)"),
        "{err}"
    );
}

#[test]
fn publishing_replaces_the_file_whole_and_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bundle.json");
    std::fs::write(&path, "old").unwrap();
    let doc = BundleDocument::from_path(reference(
        "traffical-sdk-spec/test-vectors/fixtures/bundle_basic.json",
    ))
    .unwrap();
    publish(&doc, &path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        doc.to_json_pretty()
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("bundle.json")]);
}

#[test]
fn a_failed_publish_leaves_the_old_bundle() {
    let dir = tempfile::tempdir().unwrap();
    // The target is a directory: the rename must fail, and nothing else may change.
    let target = dir.path().join("bundle.json");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), "x").unwrap();
    let doc = BundleDocument::from_path(reference(
        "traffical-sdk-spec/test-vectors/fixtures/bundle_basic.json",
    ))
    .unwrap();
    assert!(publish(&doc, &target).is_err());
    assert_eq!(std::fs::read_to_string(target.join("keep")).unwrap(), "x");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temporary left behind: {names:?}");
}
