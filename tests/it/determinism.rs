//! The same bytes on any number of threads, at a size where the work is split: the
//! attribution kernel splits above 65,536 rows and 4,096 units, rayon and polars
//! split their loops by the pool's size. `retrain` (bundle, state, report), `metrics
//! --json` in both attribution modes, and `fit` (per entity, and LinUCB) run at 1, 2,
//! 5 and 16 threads on a log of more than 300,000 exposure rows and 10,000 units.
//!
//! Minutes in a debug build, so `cargo test` skips it and `.ci/run` runs it once:
//! `cargo test --test it determinism -- --ignored`.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Command;

const THREADS: [usize; 4] = [1, 2, 5, 16];

fn run(threads: usize, args: &[&str]) -> Vec<u8> {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bandit-engine"));
    c.env("RAYON_NUM_THREADS", threads.to_string())
        .env("POLARS_MAX_THREADS", threads.to_string())
        .arg("-q")
        .args(args);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} at {threads} threads: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A synthetic project of `units` users (about 6 exposure rows each).
fn world(dir: &Path, units: usize) -> PathBuf {
    let w = dir.join("world");
    run(
        2,
        &[
            "synth",
            "--units",
            &units.to_string(),
            "--seed",
            "9",
            "--days",
            "14",
            "--out",
            s(&w),
        ],
    );
    w
}

#[test]
#[ignore = "minutes in a debug build; .ci/run runs it with --ignored"]
fn retrain_metrics_and_fit_give_the_same_bytes_on_1_2_5_and_16_threads() {
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path(), 50_000);
    let events = w.join("events.parquet");
    run(
        2,
        &[
            "convert",
            "--in",
            s(&w.join("events.ndjson")),
            "--out",
            s(&events),
        ],
    );
    let config = w.join(".traffical/config.yaml");
    let bundle = w.join("bundle.json");
    let counts = run(
        2,
        &[
            "validate",
            "--config",
            s(&config),
            "--events",
            s(&events),
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&counts).unwrap();
    let accepted = v["events"]["accepted"].as_u64().unwrap();
    assert!(accepted > 100_000, "{accepted} events");

    let mut first: Option<Vec<Vec<u8>>> = None;
    for threads in THREADS {
        let out = dir.path().join(format!("out-{threads}"));
        run(
            threads,
            &[
                "retrain",
                "--config",
                s(&config),
                "--bundle",
                s(&bundle),
                "--events",
                s(&events),
                "--out",
                s(&out),
                "--seed",
                "4",
                "--as-of",
                "2026-12-01T00:00:00Z",
            ],
        );
        let mut got = Vec::new();
        for f in ["bundle.json", "state.json", "report.json"] {
            got.push(std::fs::read(out.join("current").join(f)).unwrap());
        }
        for mode in ["decision", "cumulative"] {
            got.push(run(
                threads,
                &[
                    "metrics",
                    "--config",
                    s(&config),
                    "--bundle",
                    s(&bundle),
                    "--events",
                    s(&events),
                    "--attribution",
                    mode,
                    "--json",
                ],
            ));
        }
        match &first {
            None => first = Some(got),
            Some(f) => {
                for (i, (a, b)) in f.iter().zip(&got).enumerate() {
                    assert!(a == b, "output {i} differs between 1 and {threads} threads");
                }
            }
        }
    }
    // The exposure rows the runs counted: above the kernel's split point.
    let report: serde_json::Value = serde_json::from_slice(&first.unwrap()[2]).unwrap();
    let exposures: u64 = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["arms"].as_array().unwrap())
        .map(|a| a["exposures"].as_u64().unwrap())
        .sum();
    assert!(exposures > 65_536, "{exposures} exposures counted");
    println!(
        "same bytes at {THREADS:?} threads: {accepted} events, {exposures} exposures counted by retrain"
    );
}

/// A table of `rows` decisions: 1,000 entities, 10 arms, 16 features.
fn fit_table(path: &Path, rows: usize) {
    use std::fmt::Write;
    let mut text = String::from("entity,arm,reward");
    for j in 0..16 {
        let _ = write!(text, ",x{j}");
    }
    text.push('\n');
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..rows {
        let arm = i % 10;
        let _ = write!(
            text,
            "e{},a{arm},{}",
            i % 1000,
            u8::from(next() < 0.1 + 0.02 * arm as f64)
        );
        for _ in 0..16 {
            let _ = write!(text, ",{:.6}", next() - 0.5);
        }
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
#[ignore = "minutes in a debug build; .ci/run runs it with --ignored"]
fn fit_gives_the_same_model_on_1_2_5_and_16_threads() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("rows.csv");
    fit_table(&table, 300_000);
    let features = (0..16)
        .map(|j| format!("x{j}"))
        .collect::<Vec<_>>()
        .join(",");
    let fits: [Vec<&str>; 2] = [
        vec!["--algorithm", "thompson_bernoulli", "--entity", "entity"],
        vec!["--algorithm", "linucb", "--features", &features],
    ];
    for extra in &fits {
        let mut first = None;
        for threads in THREADS {
            let model = dir.path().join(format!("m-{threads}.json"));
            let mut args = vec![
                "fit",
                "--rewards",
                s(&table),
                "--arm",
                "arm",
                "--reward",
                "reward",
            ];
            args.extend(extra.iter().copied());
            args.extend(["--out", s(&model)]);
            run(threads, &args);
            let got = std::fs::read(&model).unwrap();
            match &first {
                None => first = Some(got),
                Some(f) => assert!(f == &got, "{extra:?}: 1 and {threads} threads differ"),
            }
        }
        println!("fit {extra:?}: same model at {THREADS:?} threads on 300000 rows");
    }
}
