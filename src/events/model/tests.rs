use super::*;

const PRODUCT_PAGE_EXPOSURE: &str = r#"{"type":"exposure","unitKey":"user_789","timestamp":"2026-05-21T10:30:00Z","decisionId":"dec_abc123","layers":[{"layerId":"layer_checkout","policyId":"policy_color_test","allocationName":"treatment","bucket":7420}]}"#;

#[test]
fn accepts_the_product_page_example_with_warnings() {
    let (e, w) = Event::from_json_str(PRODUCT_PAGE_EXPOSURE).unwrap();
    assert_eq!(e.kind, EventType::Exposure);
    assert_eq!(e.layers[0].bucket, 7420);
    assert_eq!(e.layers[0].allocation_name.as_deref(), Some("treatment"));
    let ws: Vec<_> = w.iter().collect();
    assert_eq!(
        ws,
        [
            Warning::MissingOrgId,
            Warning::MissingProjectId,
            Warning::MissingEnv,
            Warning::MissingAssignments
        ]
    );
}

#[test]
fn serialises_back_to_the_same_json() {
    let (e, _) = Event::from_json_str(PRODUCT_PAGE_EXPOSURE).unwrap();
    let back: Value = serde_json::to_value(&e).unwrap();
    let orig: Value = serde_json::from_str(PRODUCT_PAGE_EXPOSURE).unwrap();
    let mut orig = orig;
    // The engine writes timestamps in the SDK's millisecond form.
    orig["timestamp"] = Value::String("2026-05-21T10:30:00.000Z".into());
    assert_eq!(back, orig);
}

fn err(line: &str) -> RecordError {
    Event::from_json_str(line).unwrap_err()
}

#[test]
fn names_the_offending_field() {
    let e = err(
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":-3}]}"#,
    );
    assert_eq!(e.field, "layers[0].bucket");
    assert!(e.reason.contains("non-negative"), "{e}");
    let e = err(
        r#"{"type":"exposure","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","layers":[{"layerId":"l","bucket":3,"probability":1.5}]}"#,
    );
    assert_eq!(
        e.to_string(),
        "layers[0].probability: must be in (0, 1], found 1.5"
    );
    let e = err(
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","event":"purchase","value":"12"}"#,
    );
    assert_eq!(
        e.to_string(),
        "value: expected a number, found string \"12\""
    );
    let e = err(r#"{"type":"click","unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#);
    assert_eq!(e.field, "type");
    let e = err(r#"{"type":"track","timestamp":"2026-05-21T10:30:00Z","event":"x"}"#);
    assert_eq!(e.to_string(), "unitKey: required field is missing");
    let e = err(r#"{"type":"track","unitKey":"u","timestamp":"May 21","event":"x"}"#);
    assert_eq!(e.field, "timestamp");
    let e = err(r#"{"type":"decision","unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#);
    assert_eq!(e.to_string(), "layers: required field is missing");
    let e = err(r#"{"type":"track","unitKey":"u","timestamp":"2026-05-21T10:30:00Z"}"#);
    assert_eq!(e.to_string(), "event: required field is missing");
    let e = err(
        r#"{"type":"track","unitKey":"u","timestamp":"2026-05-21T10:30:00Z","event":"x","attribution":[{"layerId":"l","policyId":"p","allocationName":"a","weight":2}]}"#,
    );
    assert_eq!(
        e.to_string(),
        "attribution[0].weight: must be in [0, 1], found 2"
    );
    let e = err(r#"{"type":"track","unitKey":"u""#);
    assert_eq!(e.field, "record");
    assert!(e.reason.starts_with("not valid JSON"), "{e}");
    let e = err(r#"[1,2]"#);
    assert_eq!(e.to_string(), "record: expected an object, found an array");
}

#[test]
fn reads_delayed_track_events_and_sdk_fields() {
    let (e, w) = Event::from_json_str(r#"{"type":"track","orgId":"o","projectId":"p","env":"production","unitKey":"u","timestamp":"2026-05-22T10:30:00Z","eventTimestamp":"2026-05-21T10:30:00Z","event":"purchase","value":12.5,"values":{"items":3},"attribution":[{"layerId":"l","policyId":"p","allocationName":"a","weight":0.5,"model":"linear"}],"configVersion":"v7"}"#).unwrap();
    assert_eq!(w, Warnings::default());
    assert_eq!(e.occurred_at(), 1_779_359_400_000);
    assert_eq!(e.values.unwrap()["items"], 3.0);
    assert_eq!(
        e.attribution.unwrap()[0].model,
        Some(AttributionModel::Linear)
    );
    assert_eq!(e.config_version.as_deref(), Some("v7"));
}
