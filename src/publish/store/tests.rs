use super::*;

const BUNDLE: &str = r#"{"version":"2026-11-20T00:00:00.000Z","orgId":"o","projectId":"p","env":"e","hashing":{"unitKey":"u","bucketCount":10},"parameters":[],"layers":[]}"#;

fn state_for(bundle: &str, as_of: &str) -> String {
    EngineState {
        as_of: as_of.into(),
        bundle_sha256: sha256_hex(bundle.as_bytes()),
        ..Default::default()
    }
    .to_json_pretty()
    .unwrap()
}

fn bundle(v: &str) -> String {
    BUNDLE.replace("2026-11-20T00:00:00.000Z", v)
}

#[test]
fn versions_chain_roll_back_and_prune() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    assert!(store.current().unwrap().is_none());
    let lock = store.lock().unwrap();
    let opts = PublishOptions { keep: 3 };
    for day in 1..=4 {
        let b = bundle(&format!("2026-11-0{day}T00:00:00.000Z"));
        let m = store
            .publish(
                &lock,
                &b,
                Some(&state_for(&b, "x")),
                &[("report.json", b"{}")],
                opts,
            )
            .unwrap();
        assert_eq!(m.version, day);
        assert_eq!(m.previous, (day > 1).then(|| day - 1));
    }
    assert_eq!(store.versions().unwrap(), vec![2, 3, 4], "keep 3");
    let top = std::fs::read_to_string(dir.path().join("bundle.json")).unwrap();
    assert!(top.contains("2026-11-04"));
    let (from, to) = store.rollback(&lock).unwrap();
    assert_eq!((from.version, to.manifest.version), (4, 3));
    let top = std::fs::read_to_string(dir.path().join("bundle.json")).unwrap();
    assert!(top.contains("2026-11-03"));
    assert_eq!(store.current().unwrap().unwrap().manifest.version, 3);
    // Publishing after a rollback replaces the restored version.
    let b = bundle("2026-11-05T00:00:00.000Z");
    let m = store.publish(&lock, &b, None, &[], opts).unwrap();
    assert_eq!((m.version, m.previous), (5, Some(3)));
    assert_eq!(store.versions().unwrap(), vec![2, 3, 5]);
    store.rollback(&lock).unwrap();
    store.rollback(&lock).unwrap();
    let e = store.rollback(&lock).unwrap_err().to_string();
    assert!(
        e.contains("version 1, which version 2 replaced, was pruned"),
        "{e}"
    );
}

#[test]
fn a_plain_bundle_already_there_becomes_the_first_version() {
    let dir = tempfile::tempdir().unwrap();
    let old = bundle("2026-11-01T00:00:00.000Z");
    std::fs::write(dir.path().join("bundle.json"), &old).unwrap();
    let store = Store::new(dir.path());
    let lock = store.lock().unwrap();
    let b = bundle("2026-11-02T00:00:00.000Z");
    let m = store
        .publish(&lock, &b, None, &[], PublishOptions::default())
        .unwrap();
    assert_eq!((m.version, m.previous), (2, Some(1)));
    store.rollback(&lock).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("bundle.json")).unwrap(),
        old
    );
}

#[test]
fn a_second_publisher_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let held = store.lock().unwrap();
    let e = store.lock().unwrap_err();
    assert!(matches!(e, crate::Error::Locked { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("another bandit-engine is publishing"),
        "{e}"
    );
    drop(held);
    store.lock().unwrap();
}

#[test]
fn a_damaged_version_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let lock = store.lock().unwrap();
    let b = bundle("2026-11-01T00:00:00.000Z");
    let other = bundle("2026-11-02T00:00:00.000Z");
    // A state that names another bundle.
    store
        .publish(
            &lock,
            &b,
            Some(&state_for(&other, "x")),
            &[],
            PublishOptions::default(),
        )
        .unwrap();
    let e = store.current().unwrap_err().to_string();
    assert!(e.contains("state.bundleSha256"), "{e}");
    std::fs::write(dir.path().join("versions/000001/bundle.json"), &other).unwrap();
    let e = store.current().unwrap_err().to_string();
    assert!(
        e.contains("bundleSha256") && e.contains("does not match bundle.json"),
        "{e}"
    );
}

#[test]
fn leftovers_of_a_killed_publisher_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    std::fs::create_dir_all(dir.path().join("versions/.tmp-000001-99/x")).unwrap();
    let lock = store.lock().unwrap();
    let b = bundle("2026-11-01T00:00:00.000Z");
    store
        .publish(&lock, &b, None, &[], PublishOptions::default())
        .unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path().join("versions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["000001"]);
}
