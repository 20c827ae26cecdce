//! A publisher killed at every write, fsync and rename of `retrain`'s publish and of
//! `rollback`: the real binary, aborted by its crash points (`src/publish/crash.rs`,
//! debug builds only). After each abort `current` verifies and is the old or the new
//! version, and the next run publishes cleanly, leaving nothing half-written behind.
#![cfg(all(unix, feature = "cli", debug_assertions))]

use std::path::Path;
use std::process::{Command, Output};

use bandit_engine::publish::Store;
use bandit_engine::synth::{generate, write_world, SynthParams};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
}

/// `retrain` of `events` into `out`, from what `out` holds (as in the race tests),
/// keeping 2 versions (so a third publish prunes the first).
fn retrain(world: &Path, events: &str, out: &Path, crash_at: Option<u64>) -> Output {
    let mut c = crate::races::retrain(world, &world.join(events), out);
    c.args(["--keep", "2"]);
    crashing(&mut c, crash_at).output().unwrap()
}

fn crashing(c: &mut Command, crash_at: Option<u64>) -> &mut Command {
    match crash_at {
        Some(n) => c.env("BANDIT_ENGINE_CRASH_AT", n.to_string()),
        None => c.env("BANDIT_ENGINE_CRASH_LOG", "1"),
    }
}

/// Copies a tree, keeping symbolic links as links (the store's `current`).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let kind = e.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The current version's number, after checking it and every kept version verify.
fn verified_current(out: &Path, what: &str) -> u64 {
    let store = Store::new(out);
    let current = store
        .current()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .unwrap_or_else(|| panic!("{what}: nothing current"));
    for id in store.versions().unwrap() {
        store
            .load(id)
            .unwrap_or_else(|e| panic!("{what}: version {id}: {e}"));
    }
    current.manifest.version
}

/// Nothing temporary is left: no `.tmp-`/`.trash-` version, no `.current.tmp-` link.
fn assert_clean(out: &Path, what: &str) {
    for dir in [out.to_path_buf(), out.join("versions")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !(name.starts_with(".tmp-")
                    || name.starts_with(".trash-")
                    || name.starts_with(".current.tmp")),
                "{what}: {name} left behind"
            );
        }
    }
}

/// Points a run passes: the lines `crash point N: …` it printed.
fn points(o: &Output) -> u64 {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("crash point "))
        .count() as u64
}

fn aborted(o: &Output) -> bool {
    std::os::unix::process::ExitStatusExt::signal(&o.status) == Some(6)
}

/// A world whose events come in three files, and an output directory with two
/// versions published from the first two.
fn template(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let world = dir.join("world");
    let w = generate(&SynthParams {
        units: 300,
        seed: 8,
        ..SynthParams::default()
    })
    .unwrap();
    write_world(&w, &world).unwrap();
    let text = std::fs::read_to_string(world.join("events.ndjson")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (k, part) in lines.chunks(lines.len().div_ceil(3)).enumerate() {
        std::fs::write(
            world.join(format!("events-{k}.ndjson")),
            part.join("\n") + "\n",
        )
        .unwrap();
    }
    let out = dir.join("template");
    for k in 0..2 {
        let o = retrain(&world, &format!("events-{k}.ndjson"), &out, None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(verified_current(&out, "template"), 2);
    (world, out)
}

#[test]
fn a_retrain_killed_at_any_write_fsync_or_rename_leaves_a_verified_current() {
    let dir = tempfile::tempdir().unwrap();
    let (world, template) = template(dir.path());
    let probe = dir.path().join("probe");
    copy_tree(&template, &probe);
    let total = points(&retrain(&world, "events-2.ndjson", &probe, None));
    assert!(total >= 20, "only {total} crash points on a publish");
    let (mut old, mut new) = (0, 0);
    for n in 1..=total {
        let out = dir.path().join(format!("crash-{n}"));
        copy_tree(&template, &out);
        let o = retrain(&world, "events-2.ndjson", &out, Some(n));
        assert!(
            aborted(&o),
            "point {n}: {:?} {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        match verified_current(&out, &format!("after crash point {n}")) {
            2 => old += 1,
            3 => new += 1,
            v => panic!("point {n}: current is version {v}"),
        }
        // The next run cleans up and publishes.
        let o = retrain(&world, "events-2.ndjson", &out, None);
        assert!(
            o.status.success(),
            "point {n}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        verified_current(&out, &format!("the run after crash point {n}"));
        assert_clean(&out, &format!("the run after crash point {n}"));
    }
    assert!(
        old > 0 && new > 0,
        "kills before ({old}) and after ({new}) the switch"
    );
    println!("{total} crash points of a publish: current stayed the old version {old} times, was the new one {new} times");
}

#[test]
fn a_rollback_killed_at_any_point_leaves_a_verified_current() {
    let dir = tempfile::tempdir().unwrap();
    let (_world, template) = template(dir.path());
    let rollback = |out: &Path, crash_at: Option<u64>| {
        let mut c = bin();
        c.args(["rollback", "--quiet"]).arg(out);
        crashing(&mut c, crash_at).output().unwrap()
    };
    let probe = dir.path().join("probe");
    copy_tree(&template, &probe);
    let total = points(&rollback(&probe, None));
    assert!(total >= 3, "only {total} crash points on a rollback");
    for n in 1..=total {
        let out = dir.path().join(format!("crash-{n}"));
        copy_tree(&template, &out);
        let o = rollback(&out, Some(n));
        assert!(aborted(&o), "point {n}: {:?}", o.status);
        let v = verified_current(&out, &format!("after crash point {n}"));
        assert!(v == 1 || v == 2, "point {n}: current is version {v}");
    }
    println!("{total} crash points of a rollback: current verified after each");
}
