//! The fuzz targets (fuzz/src/targets.rs) on their seed corpus and on every input that
//! once crashed them (fuzz/regressions/TARGET/), without AFL: what `scripts/fuzz.sh`
//! found stays found. The targets panic on a reader's panic and on a broken property
//! (the ndjson fast path against the slow path, quarantine lines, resolver buckets).

#[path = "../../fuzz/src/targets.rs"]
pub(crate) mod targets;

use std::path::Path;

fn inputs(dir: &str, target: &str) -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn run_all(dir: &str, target: &str) -> usize {
    let files = inputs(dir, target);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let run = std::panic::catch_unwind(|| targets::run(target, &data));
        assert!(run.is_ok(), "fuzz target {target} fails on {}", f.display());
    }
    files.len()
}

#[test]
fn every_fuzz_target_passes_its_seed_corpus() {
    for target in targets::TARGETS {
        let n = run_all("corpus", target);
        assert!(n >= 5, "{target}: only {n} seeds in fuzz/corpus/{target}");
    }
}

#[test]
fn every_fuzz_crash_input_found_so_far_passes() {
    let n: usize = targets::TARGETS
        .iter()
        .map(|t| run_all("regressions", t))
        .sum();
    assert!(n >= 1, "the regressions directory is empty");
}
