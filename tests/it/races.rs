//! Two publishers on one output directory: real `retrain` processes started together,
//! and `retrain` against `rollback`. One wins, the other exits 4 (or runs after it and
//! reads what it published); `current` always verifies, no version directory is left
//! half-written, and no run's exposures are lost. A lock left by a killed process does
//! not block the next run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bandit_engine::publish::Store;
use bandit_engine::state::EngineState;
use bandit_engine::synth::{generate, write_world, SynthParams};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
}

/// A synthetic world whose events are cut in `parts` consecutive slices of time,
/// `events-K.ndjson`; returns their paths.
fn world_in_parts(dir: &Path, parts: usize) -> Vec<PathBuf> {
    let w = generate(&SynthParams {
        units: 400,
        seed: 5,
        ..SynthParams::default()
    })
    .unwrap();
    write_world(&w, dir).unwrap();
    let text = std::fs::read_to_string(dir.join("events.ndjson")).unwrap();
    let stamp = |l: &str| {
        l.split("\"timestamp\":\"")
            .nth(1)
            .map(|t| t[..24].to_owned())
    };
    let mut stamps: Vec<String> = text.lines().filter_map(stamp).collect();
    stamps.sort_unstable();
    let cuts: Vec<&String> = (1..parts)
        .map(|k| &stamps[k * stamps.len() / parts])
        .collect();
    let mut files = vec![String::new(); parts];
    for l in text.lines() {
        let t = stamp(l).unwrap_or_default();
        let k = cuts.iter().filter(|c| t >= ***c).count();
        files[k].push_str(l);
        files[k].push('\n');
    }
    files
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let p = dir.join(format!("events-{k}.ndjson"));
            std::fs::write(&p, f).unwrap();
            p
        })
        .collect()
}

/// `retrain` of `events` into `out`, starting from what `out` holds (its bundle and
/// state) once something was published there, else from the world's bundle.
pub(crate) fn retrain(world: &Path, events: &Path, out: &Path) -> Command {
    let mut c = bin();
    c.args(["retrain", "--quiet", "--seed", "3", "--config"])
        .arg(world.join(".traffical/config.yaml"))
        .arg("--events")
        .arg(events)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if out.join("current").exists() {
        c.arg("--bundle")
            .arg(out.join("bundle.json"))
            .arg("--state")
            .arg(out.join("state.json"));
    } else {
        c.arg("--bundle").arg(world.join("bundle.json"));
    }
    c
}

fn rollback(out: &Path) -> Command {
    let mut c = bin();
    c.args(["rollback", "--quiet"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Starts both commands, then waits for both.
fn together(mut a: Command, mut b: Command) -> (Output, Output) {
    let a = a.spawn().unwrap();
    let b = b.spawn().unwrap();
    (a.wait_with_output().unwrap(), b.wait_with_output().unwrap())
}

/// Exit 0, or exit 4 saying why; returns whether it won.
fn won(o: &Output, round: usize) -> bool {
    let err = String::from_utf8_lossy(&o.stderr);
    match o.status.code() {
        Some(0) => true,
        Some(4) => {
            assert!(
                err.contains("another bandit-engine is publishing to or rolling back"),
                "round {round}: {err}"
            );
            false
        }
        c => panic!("round {round}: exit {c:?}: {err}"),
    }
}

/// `current` verifies, every version kept verifies, nothing half-written is left.
fn assert_whole(out: &Path, round: usize) {
    let store = Store::new(out);
    store
        .current()
        .unwrap_or_else(|e| panic!("round {round}: {e}"))
        .expect("something was published");
    for id in store.versions().unwrap() {
        store
            .load(id)
            .unwrap_or_else(|e| panic!("round {round}: version {id}: {e}"));
    }
    for e in std::fs::read_dir(out.join("versions")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "round {round}: {name} left behind");
    }
}

/// Exposures per (policy, allocation) in a state, the sums a lost update would lose.
fn exposures(state: &Path) -> Vec<(String, String, u64)> {
    let s = EngineState::from_path(state).unwrap();
    let mut out = Vec::new();
    for (id, p) in &s.policies {
        for (name, a) in &p.arms {
            out.push((id.clone(), name.clone(), a.exposures));
        }
    }
    out
}

#[test]
fn two_retrains_on_one_directory_never_lose_an_update() {
    two_retrains_race(12);
}

/// The 50 rounds: about a minute in a debug build, so `.ci/run` runs it once
/// (`--ignored`) rather than every `cargo test`.
#[test]
#[ignore = "50 rounds; run by .ci/run"]
fn two_retrains_on_one_directory_never_lose_an_update_in_50_rounds() {
    two_retrains_race(50);
}

fn two_retrains_race(rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("w");
    let parts = world_in_parts(&world, rounds + 1);
    // The same slices one run at a time: what the racing runs must add up to.
    let serial = dir.path().join("serial");
    for p in &parts {
        let o = retrain(&world, p, &serial).output().unwrap();
        assert!(won(&o, 0));
    }
    let out = dir.path().join("out");
    assert!(won(&retrain(&world, &parts[0], &out).output().unwrap(), 0));
    let mut lost = 0;
    for (round, p) in parts.iter().enumerate().skip(1) {
        let (a, b) = together(retrain(&world, p, &out), retrain(&world, p, &out));
        let (wa, wb) = (won(&a, round), won(&b, round));
        assert!(wa || wb, "round {round}: neither run published");
        lost += usize::from(!(wa && wb));
        assert_whole(&out, round);
    }
    // Both exit 0 only when one ran wholly after the other (and then it found
    // nothing new); started together they overlap, so most rounds have a loser.
    assert!(lost > 0, "no round of {rounds} had two runs at once");
    assert_eq!(
        exposures(&out.join("state.json")),
        exposures(&serial.join("state.json")),
        "a racing run published from a stale state"
    );
    println!("{lost} of {rounds} rounds had a loser (exit 4)");
}

#[test]
fn retrain_against_rollback_leaves_a_whole_version() {
    retrain_rollback_race(8);
}

/// The 50 rounds, run by `.ci/run` (`--ignored`).
#[test]
#[ignore = "50 rounds; run by .ci/run"]
fn retrain_against_rollback_leaves_a_whole_version_in_50_rounds() {
    retrain_rollback_race(50);
}

fn retrain_rollback_race(rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("w");
    let parts = world_in_parts(&world, rounds + 2);
    let out = dir.path().join("out");
    for p in &parts[..2] {
        assert!(won(&retrain(&world, p, &out).output().unwrap(), 0));
    }
    let mut lost = 0;
    for (round, p) in parts.iter().enumerate().skip(2) {
        let (a, b) = together(retrain(&world, p, &out), rollback(&out));
        let b_ok = match b.status.code() {
            // Rolling back past the first version is refused with exit 1; that is
            // not a race.
            Some(1) => {
                let err = String::from_utf8_lossy(&b.stderr);
                assert!(err.contains("no previous version"), "{err}");
                true
            }
            _ => won(&b, round),
        };
        lost += usize::from(!(won(&a, round) && b_ok));
        assert_whole(&out, round);
    }
    println!("{lost} of {rounds} rounds had a loser (exit 4)");
}

#[test]
fn a_lock_left_by_a_killed_retrain_does_not_block_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("w");
    let parts = world_in_parts(&world, 2);
    let out = dir.path().join("out");
    let store = Store::new(&out);
    // A live holder: the message names it, and the run exits 4.
    {
        let _held = store.lock().unwrap();
        let o = retrain(&world, &parts[0], &out).output().unwrap();
        assert_eq!(o.status.code(), Some(4));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("held by pid {}", std::process::id())),
            "{err}"
        );
    }
    // A holder killed while it holds the lock: the lock file stays, naming a dead
    // process, but the kernel released the lock with its last descriptor.
    let mut child = retrain(&world, &parts[0], &out).spawn().unwrap();
    let mine = format!("held by pid {} ", child.id());
    let mut killed_holding = false;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let text = std::fs::read_to_string(out.join(".lock")).unwrap_or_default();
        if text.starts_with(&mine) {
            child.kill().unwrap();
            killed_holding = true;
            break;
        }
    }
    let status = child.wait().unwrap();
    // Killed mid-run (not after it finished by itself): nothing of it was published.
    let landed =
        killed_holding && std::os::unix::process::ExitStatusExt::signal(&status) == Some(9);
    let o = retrain(&world, &parts[1], &out).output().unwrap();
    assert!(
        won(&o, 1),
        "the lock of a dead process blocked the next run"
    );
    assert!(store.current().unwrap().is_some());
    println!("the kill landed while the lock was held: {landed}");
}
