//! `retrain --warehouse`: the PostgreSQL connector (cargo feature `postgres`) on the
//! command line. The demo loaded into PostgreSQL publishes what `retrain --events`
//! publishes on its files; a server that cannot be reached, a missing relation and a
//! column of the wrong type are refused with what to do. Tests needing a server read
//! `BANDIT_PG_HOST` as `warehouse.rs` does; without the feature, `--warehouse` is a
//! usage error saying how to build it.
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary; its output, whatever the exit code.
fn cli(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
        .args(args)
        .output()
        .unwrap()
}

/// `retrain` of the demo into `out`, plus `extra`.
fn demo_retrain(out: &Path, extra: &[&str]) -> Vec<String> {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo");
    let mut args: Vec<String> = vec![
        "retrain".into(),
        "--config".into(),
        demo.join(".traffical/config.yaml").display().to_string(),
        "--bundle".into(),
        demo.join("bundle.json").display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--seed".into(),
        "5".into(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

#[cfg(not(feature = "postgres"))]
#[test]
fn warehouse_without_the_feature_says_how_to_build_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cli(&demo_retrain(
        &tmp.path().join("out"),
        &["--warehouse", "host=/tmp"],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--features postgres"), "{err}");
    assert!(!tmp.path().join("out").exists(), "nothing is written");
}

#[cfg(feature = "postgres")]
mod connector {
    use std::path::Path;

    use bandit_engine::events::{load_events, LoadOptions};
    use bandit_engine::warehouse::export_tables;

    use std::process::Output;

    use super::{cli, demo_retrain};
    use crate::warehouse::{engine_from_env, pg_load_script, pg_user, psql};

    /// Exit code 1 and standard error containing every one of `want`.
    fn assert_refused(out: &Output, want: &[&str]) {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        for w in want {
            assert!(err.contains(w), "no {w:?} in: {err}");
        }
    }

    /// A server that is not there: no socket in the directory, nothing on the port.
    #[test]
    fn an_unreachable_server_is_refused_with_what_to_check() {
        let tmp = tempfile::tempdir().unwrap();
        let socket_dir = tmp.path().join("no-server");
        let conninfo = format!("host={} user=engine dbname=analytics", socket_dir.display());
        let out = cli(&demo_retrain(
            &tmp.path().join("out"),
            &["--warehouse", &conninfo],
        ));
        assert_refused(
            &out,
            &[
                &format!(
                    "warehouse postgres://engine@{}/analytics",
                    socket_dir.display()
                ),
                "cannot connect",
                "check that PostgreSQL runs there",
            ],
        );
        // A URL, with a password that must not be echoed.
        let out = cli(&demo_retrain(
            &tmp.path().join("out"),
            &[
                "--warehouse",
                "postgres://engine:s3cret@127.0.0.1:1/analytics",
            ],
        ));
        assert_refused(
            &out,
            &["postgres://engine@127.0.0.1:1/analytics", "cannot connect"],
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cret"));
        // Not a connection string at all.
        let out = cli(&demo_retrain(
            &tmp.path().join("out"),
            &["--warehouse", "host"],
        ));
        assert_refused(&out, &["give a URL such as postgres://"]);
        assert!(!tmp.path().join("out").join("bundle.json").exists());
    }

    /// The connection string of the test server.
    fn conninfo(host: &str) -> String {
        format!("host={host} user={} dbname=postgres", pg_user())
    }

    /// The demo's events loaded into `schema`.
    fn load_demo(host: &str, dir: &Path, schema: &str) {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/events.ndjson");
        let loaded = load_events(&[demo], LoadOptions::default()).unwrap();
        export_tables(&loaded.tables, dir).unwrap();
        psql(host, dir, &pg_load_script(dir, schema));
    }

    fn read(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file)).unwrap()
    }

    #[test]
    fn retrain_warehouse_on_the_demo_publishes_the_bundle_of_its_files() {
        let Some(host) = engine_from_env("BANDIT_PG_HOST", "retrain --warehouse (PostgreSQL)")
        else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        load_demo(&host, tmp.path(), "wh_connector");
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/demo/events.ndjson");
        let events = demo.display().to_string();
        let tables = [
            "--exposures-table",
            "wh_connector.exposures",
            "--tracks-table",
            "wh_connector.tracks",
        ];
        let conn = conninfo(&host);
        // Without --as-of (the latest event time on both sides), then with one.
        for as_of in [None, Some("2026-11-03T00:00:00Z")] {
            let (a, b) = (tmp.path().join("files"), tmp.path().join("warehouse"));
            let _ = std::fs::remove_dir_all(&a);
            let _ = std::fs::remove_dir_all(&b);
            let time: Vec<&str> = as_of.map(|t| vec!["--as-of", t]).unwrap_or_default();
            let mut files = vec!["--events", events.as_str()];
            files.extend(&time);
            let mut warehouse = vec!["--warehouse", conn.as_str()];
            warehouse.extend(tables);
            warehouse.extend(&time);
            for (dir, extra) in [(&a, &files), (&b, &warehouse)] {
                let out = cli(&demo_retrain(dir, extra));
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert_eq!(
                read(&b, "bundle.json"),
                read(&a, "bundle.json"),
                "{as_of:?}"
            );
            let input = read(&demo.with_file_name(""), "bundle.json");
            assert_ne!(
                read(&a, "bundle.json"),
                input,
                "the retrain moves allocations"
            );
            assert_same_state(&read(&a, "state.json"), &read(&b, "state.json"));
            assert_same_report(&read(&a, "report.json"), &read(&b, "report.json"));
        }
        psql(&host, tmp.path(), "DROP SCHEMA wh_connector CASCADE;");
    }

    /// The states agree on time, seed, bundle and each policy's totals, watermark and
    /// history.
    fn assert_same_state(files: &str, warehouse: &str) {
        let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let (a, b) = (
            parse(files)["state"].clone(),
            parse(warehouse)["state"].clone(),
        );
        for key in ["asOf", "seed", "bundleVersion", "bundleSha256"] {
            assert_eq!(a[key], b[key], "state {key}");
        }
        let policies = a["policies"].as_object().unwrap();
        assert_eq!(policies.len(), b["policies"].as_object().unwrap().len());
        for (id, p) in policies {
            let q = &b["policies"][id];
            for key in [
                "algorithm",
                "statistics",
                "lastStatus",
                "lastUpdated",
                "exposuresThrough",
                "arms",
                "allocationHistory",
            ] {
                assert_eq!(p[key], q[key], "state {id} {key}");
            }
        }
    }

    /// The reports agree on each policy's status and each arm's exposures.
    fn assert_same_report(files: &str, warehouse: &str) {
        let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        let (a, b) = (parse(files), parse(warehouse));
        assert_eq!(a["asOf"], b["asOf"]);
        let (pa, pb) = (
            a["policies"].as_array().unwrap(),
            b["policies"].as_array().unwrap(),
        );
        assert_eq!(pa.len(), pb.len());
        for (p, q) in pa.iter().zip(pb) {
            for key in ["policyId", "status", "arms", "statisticsThrough"] {
                assert_eq!(p[key], q[key], "report {} {key}", p["policyId"]);
            }
        }
    }

    #[test]
    fn a_missing_relation_and_a_wrongly_typed_column_say_what_to_do() {
        let Some(host) =
            engine_from_env("BANDIT_PG_HOST", "retrain --warehouse errors (PostgreSQL)")
        else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let conn = conninfo(&host);
        let out_dir = tmp.path().join("out");
        let out = cli(&demo_retrain(
            &out_dir,
            &[
                "--warehouse",
                &conn,
                "--exposures-table",
                "wh_nowhere.exposures",
                "--as-of",
                "2026-11-03T00:00:00Z",
            ],
        ));
        assert_refused(
            &out,
            &[
                "relation \"wh_nowhere.exposures\" does not exist",
                "--exposures-table",
            ],
        );
        // `ts` stored as text.
        load_demo(&host, tmp.path(), "wh_badtype");
        psql(
            &host,
            tmp.path(),
            "ALTER TABLE wh_badtype.exposures ALTER COLUMN ts TYPE text USING ts::text;",
        );
        let out = cli(&demo_retrain(
            &out_dir,
            &[
                "--warehouse",
                &conn,
                "--exposures-table",
                "wh_badtype.exposures",
                "--tracks-table",
                "wh_badtype.tracks",
            ],
        ));
        assert_refused(
            &out,
            &[
                "a column has the wrong type",
                "ts and event_ts must be timestamps",
            ],
        );
        assert!(
            !out_dir.join("bundle.json").exists(),
            "nothing is published"
        );
        psql(&host, tmp.path(), "DROP SCHEMA wh_badtype CASCADE;");
    }
}
