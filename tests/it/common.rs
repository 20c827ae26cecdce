//! Helpers shared by the scenario tests.

use std::path::PathBuf;

use serde_json::Value;

/// A path under the platform's reference files copied into the repository
/// (`tests/fixtures/reference`, see its README for sources and licences).
pub fn reference(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
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

/// Runs the command-line tool with `args`, asserting it succeeds; its standard output.
#[cfg(feature = "cli")]
pub fn run_cli<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bandit-engine"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A synthetic world (`synth --units N --seed S`) written under `dir/world`.
#[cfg(feature = "cli")]
pub fn synth_world(dir: &std::path::Path, units: u32, seed: u64) -> PathBuf {
    let world = dir.join("world");
    let (units, seed) = (units.to_string(), seed.to_string());
    run_cli([
        "synth".as_ref(),
        "--units".as_ref(),
        units.as_ref(),
        "--seed".as_ref(),
        seed.as_ref(),
        "--out".as_ref(),
        world.as_os_str(),
    ]);
    world
}

/// `metrics` on a synthetic world's config, bundle and events (`--json` or the table).
#[cfg(feature = "cli")]
pub fn world_metrics(world: &std::path::Path, json: bool) -> String {
    let mut args: Vec<std::ffi::OsString> = vec!["metrics".into(), "--config".into()];
    args.push(world.join(".traffical/config.yaml").into());
    args.push("--bundle".into());
    args.push(world.join("bundle.json").into());
    args.push("--events".into());
    args.push(world.join("events.ndjson").into());
    if json {
        args.push("--json".into());
    }
    run_cli(args)
}
