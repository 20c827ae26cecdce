//! What a person reads when something is wrong: each cause once, names that cannot
//! take over the terminal, and a wrong output path refused before any work is done
//! (issue 18, "Messages").
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
}

fn demo(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets/demo")
        .join(rel)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_operating_system_error_is_printed_once() {
    let out = bin()
        .args([
            "metrics",
            "--config",
            "/nonexistent/bandit-engine/config.yaml",
        ])
        .arg("--bundle")
        .arg(demo("bundle.json"))
        .arg("--events")
        .arg(demo("events.ndjson"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/bandit-engine/config.yaml"),
        "{err}"
    );
}

/// `fit` of `rewards` (columns `arm`, `y`) with `algorithm` and `extra` arguments,
/// writing `out`.
fn fit_with(algorithm: &str, rewards: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .args([
            "fit",
            "--algorithm",
            algorithm,
            "--arm",
            "arm",
            "--reward",
            "y",
        ])
        .args(extra)
        .arg("--rewards")
        .arg(rewards)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// A quiet UCB1 `fit`.
fn fit(rewards: &Path, out: &Path) -> Output {
    fit_with("ucb1", rewards, out, &["-q"])
}

#[test]
fn fit_refuses_an_output_that_is_its_input_a_directory_or_under_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("rows.csv");
    let text = "arm,y\na,1\nb,0\n";
    std::fs::write(&rows, text).unwrap();
    let same = fit(&rows, &dir.path().join("./rows.csv"));
    assert_eq!(same.status.code(), Some(1));
    assert!(
        stderr(&same).contains("is the input file"),
        "{}",
        stderr(&same)
    );
    assert_eq!(
        std::fs::read_to_string(&rows).unwrap(),
        text,
        "input intact"
    );
    let to_dir = fit(&rows, dir.path());
    assert_eq!(to_dir.status.code(), Some(1));
    assert!(
        stderr(&to_dir).contains("is a directory"),
        "{}",
        stderr(&to_dir)
    );
    let under_file = fit(&rows, &rows.join("model.json"));
    assert_eq!(under_file.status.code(), Some(1));
    assert!(
        stderr(&under_file).contains("is not a directory"),
        "{}",
        stderr(&under_file)
    );
    // And a good path works, leaving no temporary file beside the model.
    let model = dir.path().join("model.json");
    let ok = fit(&rows, &model);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_fit_output_error_comes_before_reading_the_table() {
    // The table does not exist: the output path is checked first, so the message is
    // about --out, not about the missing table.
    let dir = tempfile::tempdir().unwrap();
    let out = fit(&dir.path().join("missing.csv"), dir.path());
    assert!(stderr(&out).contains("--out"), "{}", stderr(&out));
}

#[test]
fn control_characters_in_names_are_escaped_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(demo("bundle.json"))
        .unwrap()
        .replacen("\"buy_now\"", "\"buy\\u001b[2J\\u202enow\"", 1);
    let bundle = dir.path().join("bundle.json");
    std::fs::write(&bundle, text).unwrap();
    let out = bin().arg("inspect").arg(&bundle).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("buy\\u{1b}[2J\\u{202e}now"), "{shown}");
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{202e}'),
        "{shown}"
    );
    // A table of arms from a file: the same.
    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, "arm,y\n\"a\rb\",1\nc,0\n").unwrap();
    let out = fit_with("ucb1", &rows, &dir.path().join("m.json"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        shown.contains("a\\u{d}b") && !shown.contains('\r'),
        "{shown}"
    );
}

#[test]
fn counts_that_set_the_work_are_bounded_before_any_work() {
    // `draws: 2000000000` in the config: refused with its line, not hours of sampling.
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(demo(".traffical/config.yaml"))
        .unwrap()
        .replacen(
            "    algorithm: thompson_bernoulli\n",
            "    algorithm: thompson_bernoulli\n    draws: 2000000000\n",
            1,
        );
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &config).unwrap();
    let out = bin()
        .arg("validate")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("draws") && err.contains("between 1 and 1000000"),
        "{err}"
    );
    assert!(err.contains("config.yaml:24"), "the line of the key: {err}");
    // The same bound on the command line of `fit`.
    let rows = dir.path().join("rows.csv");
    std::fs::write(&rows, "arm,y\na,1\nb,0\n").unwrap();
    let out = fit_with(
        "thompson_bernoulli",
        &rows,
        &dir.path().join("m.json"),
        &["--draws", "2000000000"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("between 1 and 1000000"),
        "{}",
        stderr(&out)
    );
    // And `evaluate --folds 100000`.
    let out = bin()
        .args(["evaluate", "--obd"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/obd/random/all"))
        .args([
            "--policy",
            "uniform",
            "--folds",
            "100000",
            "--resamples",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("n_folds: must be between 1 and 100, found 100000"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn metrics_reports_refused_records_and_refuses_a_log_of_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = |events: &Path, strict: bool| {
        let mut c = bin();
        c.arg("metrics")
            .arg("--config")
            .arg(demo(".traffical/config.yaml"))
            .arg("--bundle")
            .arg(demo("bundle.json"))
            .arg("--events")
            .arg(events)
            .arg("--json");
        if strict {
            c.arg("--strict");
        }
        c.output().unwrap()
    };
    let garbage = dir.path().join("garbage.ndjson");
    std::fs::write(&garbage, "not json\n{\"also\": \"not an event\"}\n").unwrap();
    let out = metrics(&garbage, false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("none of the 2 event records"),
        "{}",
        stderr(&out)
    );
    // One bad line among good ones: counted and reported, the metrics still come.
    let mut text = std::fs::read_to_string(demo("events.ndjson")).unwrap();
    text.push_str("{\"type\": \"track\", \"event\": 5}\n");
    let mixed = dir.path().join("mixed.ndjson");
    std::fs::write(&mixed, &text).unwrap();
    let lines = text.lines().count();
    // The demo log has broken lines of its own (it shows the quarantine).
    let refused = |o: &Output| -> u64 {
        let err = stderr(o);
        let counts = err
            .lines()
            .find(|l| l.starts_with("events: "))
            .expect("counts");
        counts
            .split(", ")
            .nth(2)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let clean = metrics(&demo("events.ndjson"), false);
    let out = metrics(&mixed, false);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("events: {lines} read")),
        "{}",
        stderr(&out)
    );
    assert_eq!(refused(&out), refused(&clean) + 1);
    assert_eq!(
        out.stdout, clean.stdout,
        "the refused record changes no metric"
    );
    // --strict: the first refused record is the error, with its file and line.
    let out = metrics(&mixed, true);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("mixed.ndjson:"), "{}", stderr(&out));
}
