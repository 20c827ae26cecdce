//! Runs SDK test vectors against the resolver: the spec repository's
//! `test-vectors/fixtures/expected_*.json` and the golden files written by the
//! reference SDK (`tests/fixtures/sdk-sha256/`, same format).
//!
//! An `expected_*.json` names its `bundle` (and optionally `entityWeights`, which
//! becomes the bundle's `entityState` when it has none), relative to its own
//! directory, and lists `testCases`. Each case has a `context`, optionally the
//! caller's `defaults` and pre-fetched `edgeResults`, and any of:
//!
//! * `expectedHashing`: `{layerId: {bucket}}`;
//! * `expectedAssignments`: the full assignment object;
//! * `expectedLayers`: the SDK's layer objects, compared field by field (absent
//!   fields must be absent);
//! * `expectedAllocation`: the allocation name chosen in the first layer a policy
//!   served;
//! * `expectedScoring`: the spec's `{scores, seed}` (scores to 1e-9, as the spec
//!   writes them rounded) or the golden files' list of `{layerId, policyId, seed,
//!   scores, probabilities}`.
//!
//! Numbers written by the SDK (probabilities, scores) are compared exactly, bit for
//! bit: with the C library's `exp` in place of V8's, 3 of the golden contextual
//! cases already fail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::hash::HashContract;
use super::model::Bundle;
use super::resolve::{EdgeResult, Resolution, ResolveOptions};
use super::resolver::Resolver;
use crate::error::{Error, Result};

/// The outcome of one test case.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseOutcome {
    /// The case's `name`.
    pub name: String,
    /// What differed; empty when the case passed.
    pub failures: Vec<String>,
}

impl CaseOutcome {
    /// Whether every expectation held.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The outcome of one `expected_*.json` file.
#[derive(Clone, Debug, PartialEq)]
pub struct FixtureReport {
    /// The file.
    pub file: PathBuf,
    /// One outcome per test case, in file order.
    pub cases: Vec<CaseOutcome>,
}

impl FixtureReport {
    /// Cases that passed.
    #[must_use]
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    /// Cases that failed.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

fn invalid(file: &Path, key: impl Into<String>, reason: impl Into<String>) -> Error {
    Error::InvalidBundle {
        file: file.display().to_string(),
        key: key.into(),
        reason: reason.into(),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        invalid(
            path,
            format!("line {} column {}", e.line(), e.column()),
            format!("not valid JSON: {e}"),
        )
    })
}

/// Reads a bundle as leniently as the SDK does: the bundle's shape is checked
/// (types, required fields) but not the engine's publishing rules (overlapping
/// adaptive ranges, duplicate names), which the SDK does not enforce either.
///
/// # Errors
///
/// [`Error::Io`] if unreadable, [`Error::InvalidBundle`] with the JSON path of the
/// first field that does not fit the bundle's types.
pub fn read_bundle(path: &Path) -> Result<Bundle> {
    bundle_from_value(&read_json(path)?, path)
}

fn bundle_from_value(v: &Value, path: &Path) -> Result<Bundle> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let at = e.path().to_string();
        invalid(path, at, e.into_inner().to_string())
    })
}

/// The `expected_*.json` files of a directory, sorted by name.
///
/// # Errors
///
/// [`Error::Io`] if the directory cannot be listed.
pub fn fixture_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("expected_") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Runs every `expected_*.json` of `dir`.
///
/// # Errors
///
/// As [`run_fixture`], for the first file that cannot be run at all.
pub fn run_directory(dir: &Path, contract: HashContract) -> Result<Vec<FixtureReport>> {
    fixture_files(dir)?
        .iter()
        .map(|f| run_fixture(f, contract))
        .collect()
}

/// Runs one `expected_*.json` file.
///
/// # Errors
///
/// [`Error::Io`] or [`Error::InvalidBundle`] when the file, its bundle or its entity
/// weights cannot be read, or the bundle cannot be compiled. Mismatches are not
/// errors: they are the report's failures.
pub fn run_fixture(file: &Path, contract: HashContract) -> Result<FixtureReport> {
    let spec = read_json(file)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let bundle_name = spec
        .get("bundle")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(file, "bundle", "expected the bundle's file name"))?;
    let bundle_path = dir.join(bundle_name);
    let mut bundle = read_bundle(&bundle_path)?;
    if let Some(w) = spec.get("entityWeights").and_then(Value::as_str) {
        if bundle.entity_state.is_none() {
            let wpath = dir.join(w);
            let weights = read_json(&wpath)?;
            bundle.entity_state =
                Some(serde_path_to_error::deserialize(&weights).map_err(|e| {
                    let at = e.path().to_string();
                    invalid(&wpath, at, e.into_inner().to_string())
                })?);
        }
    }
    let resolver = Resolver::new(&bundle, contract)
        .map_err(|e| invalid(&bundle_path, "bundle", e.to_string()))?;
    let cases = spec
        .get("testCases")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(file, "testCases", "expected an array of test cases"))?;
    let cases = cases
        .iter()
        .enumerate()
        .map(|(i, case)| run_case(&resolver, case, i))
        .collect();
    Ok(FixtureReport {
        file: file.to_owned(),
        cases,
    })
}

/// Deep equality of JSON data, numbers compared as doubles (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => same_double(
            x.as_f64().unwrap_or(f64::NAN),
            y.as_f64().unwrap_or(f64::NAN),
        ),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Equal as doubles (NaN, which the SDK writes as null, equals NaN).
fn same_double(x: f64, y: f64) -> bool {
    // The SDK writes NaN as null, which reads back as NaN here.
    x == y || (x.is_nan() && y.is_nan())
}

/// Resolves one test case and compares every expectation it states.
fn run_case(resolver: &Resolver<'_>, case: &Value, index: usize) -> CaseOutcome {
    let name = case
        .get("name")
        .and_then(Value::as_str)
        .map_or_else(|| format!("testCases[{index}]"), str::to_owned);
    let mut failures = Vec::new();
    let Some(ctx) = case.get("context").and_then(Value::as_object) else {
        failures.push("no context object".to_owned());
        return CaseOutcome { name, failures };
    };
    let edge = edge_results(case);
    let options = ResolveOptions {
        defaults: case.get("defaults").and_then(Value::as_object),
        edge_results: edge.as_ref(),
    };
    let r = match resolver.resolve_with(ctx, &options) {
        Ok(r) => r,
        Err(e) => {
            failures.push(format!("resolution failed: {e}"));
            return CaseOutcome { name, failures };
        }
    };
    if let Some(h) = case.get("expectedHashing").and_then(Value::as_object) {
        check_hashing(h, &r, &mut failures);
    }
    if let Some(want) = case.get("expectedAssignments") {
        let got = Value::Object(r.assignments.clone());
        if !json_equal(want, &got) {
            failures.push(format!("expectedAssignments: expected {want}, got {got}"));
        }
    }
    if let Some(want) = case.get("expectedLayers").and_then(Value::as_array) {
        check_layers(want, &r, &mut failures);
    }
    if let Some(want) = case.get("expectedAllocation").and_then(Value::as_str) {
        let got = r
            .layers
            .iter()
            .find(|l| l.policy_id.is_some())
            .and_then(|l| l.allocation_name.as_deref());
        if got != Some(want) {
            failures.push(format!("expectedAllocation: expected {want}, got {got:?}"));
        }
    }
    match case.get("expectedScoring") {
        Some(Value::Object(s)) => {
            check_scoring(resolver, ctx, &options, None, s, 1e-9, &mut failures)
        }
        Some(Value::Array(list)) => {
            for s in list.iter().filter_map(Value::as_object) {
                let layer = s.get("layerId").and_then(Value::as_str);
                check_scoring(resolver, ctx, &options, layer, s, 0.0, &mut failures);
            }
        }
        _ => {}
    }
    CaseOutcome { name, failures }
}

/// The case's pre-fetched `edgeResults`, by policy id (entries missing a field are
/// left out, as the SDK ignores them).
fn edge_results(case: &Value) -> Option<HashMap<String, EdgeResult>> {
    case.get("edgeResults").and_then(Value::as_array).map(|rs| {
        rs.iter()
            .filter_map(|r| {
                Some((
                    r.get("policyId")?.as_str()?.to_owned(),
                    EdgeResult {
                        allocation_index: usize::try_from(r.get("allocationIndex")?.as_u64()?)
                            .ok()?,
                        entity_id: r
                            .get("entityId")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    },
                ))
            })
            .collect()
    })
}

/// `expectedHashing`: each named layer's bucket (-1 for a skipped layer).
fn check_hashing(want: &Map<String, Value>, r: &Resolution, failures: &mut Vec<String>) {
    for (layer, b) in want {
        let want = b.get("bucket").and_then(Value::as_i64);
        let got = r
            .layers
            .iter()
            .find(|l| &l.layer_id == layer)
            .map(|l| l.bucket.map_or(-1, i64::from));
        if got != want {
            failures.push(format!(
                "expectedHashing.{layer}.bucket: expected {want:?}, got {got:?}"
            ));
        }
    }
}

/// `expectedLayers`: as many layers, each equal to the SDK's layer object.
fn check_layers(want: &[Value], r: &Resolution, failures: &mut Vec<String>) {
    if want.len() != r.layers.len() {
        failures.push(format!(
            "expectedLayers: expected {} layers, got {}",
            want.len(),
            r.layers.len()
        ));
    }
    for (w, l) in want.iter().zip(&r.layers) {
        let got = l.to_json();
        if !json_equal(w, &got) {
            failures.push(format!(
                "expectedLayers[{}]: expected {w}, got {got}",
                l.layer_id
            ));
        }
    }
}

fn check_scoring(
    resolver: &Resolver<'_>,
    ctx: &Map<String, Value>,
    options: &ResolveOptions<'_>,
    layer: Option<&str>,
    want: &Map<String, Value>,
    tolerance: f64,
    failures: &mut Vec<String>,
) {
    let bundle = resolver.bundle();
    // The named layer, or the first whose serving policy is contextual.
    let mut found = None;
    for (li, l) in bundle.layers.iter().enumerate() {
        if layer.is_some_and(|id| id != l.id) {
            continue;
        }
        match resolver.distribution(li, ctx, options) {
            Ok(Some(d)) if d.scores.is_some() => {
                found = Some(d);
                break;
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("expectedScoring: {e}")),
        }
    }
    let Some(d) = found else {
        failures.push(format!(
            "expectedScoring: no contextual policy served {}",
            layer.unwrap_or("any layer")
        ));
        return;
    };
    let unit = resolver
        .unit_key_value(ctx)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_default();
    let layer_unit = layer
        .and_then(|id| bundle.layers.iter().find(|l| l.id == id))
        .and_then(|l| l.unit_key.as_deref())
        .map_or(unit, |k| {
            ctx.get(k)
                .filter(|v| !v.is_null())
                .map(|v| super::js::to_string(v).into_owned())
                .unwrap_or_default()
        });
    if let Some(seed) = want.get("seed").and_then(Value::as_str) {
        let got = format!("ctx:{layer_unit}:{}", d.policy_id);
        if got != seed {
            failures.push(format!("expectedScoring.seed: expected {seed}, got {got}"));
        }
    }
    let close = |a: f64, b: f64| {
        if tolerance > 0.0 {
            (a - b).abs() <= tolerance || (a.is_nan() && b.is_nan())
        } else {
            same_double(a, b)
        }
    };
    for (field, got) in [
        ("scores", d.scores.as_deref().unwrap_or(&[])),
        ("probabilities", &d.probabilities[..]),
    ] {
        let Some(w) = want.get(field).and_then(Value::as_array) else {
            continue;
        };
        let w: Vec<f64> = w.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
        if w.len() != got.len() || w.iter().zip(got).any(|(a, b)| !close(*a, *b)) {
            failures.push(format!(
                "expectedScoring.{field} ({}): expected {w:?}, got {got:?}",
                d.policy_id
            ));
        }
    }
}
