//! The fuzz targets: what each does with one input, and what it asserts.
//!
//! A target panics (which AFL records as a crash) when a reader panics, or when a
//! property that must hold for every input fails: the ndjson fast path accepting a
//! line differently from the slow path, a quarantine record without its line, a
//! resolver answer outside the bundle. Errors for bad input are the expected outcome
//! and are not crashes.
//!
//! This file depends on the library alone (no AFL), so `tests/it/fuzz_regression.rs`
//! includes it and runs the corpus and every saved crash input under `cargo test`.

use bandit_engine::bundle::BundleDocument;
use bandit_engine::config::{ProjectConfig, ProjectFile};
use bandit_engine::events::fuzzing::{self, Read};
use bandit_engine::events::Rejected;
use bandit_engine::sdk::{HashContract, Resolver};
use serde_json::{Map, Value};

/// The targets, by the name `scripts/fuzz.sh` and the corpus directories use.
pub const TARGETS: [&str; 4] = ["ndjson", "csv", "config", "bundle"];

/// Runs target `name` on `data`.
///
/// # Panics
///
/// On an unknown target name, and where the target finds a bug (see the module docs).
pub fn run(name: &str, data: &[u8]) {
    match name {
        "ndjson" => ndjson(data),
        "csv" => csv(data),
        "config" => config(data),
        "bundle" => bundle(data),
        other => panic!("unknown fuzz target {other:?}: one of {TARGETS:?}"),
    }
}

/// The ndjson reader. Besides not panicking: every line the fast path accepts, the slow
/// path accepts as the same event; every line `convert` reads in place, the fast path
/// accepts with the same warnings and the same parquet bytes; the reader (fast path
/// first) and the slow path alone give equal tables and equal quarantine records.
pub fn ndjson(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some((bytes, warnings)) = fuzzing::columnar_line(line) {
            let (event, w) = fuzzing::fast_line(line).unwrap_or_else(|| {
                panic!(
                    "read in place, declined by the fast path: {:?}",
                    String::from_utf8_lossy(line)
                )
            });
            assert_eq!(warnings, w, "{:?}", String::from_utf8_lossy(line));
            assert!(
                bytes == fuzzing::event_parquet(&event),
                "read in place, the rows differ from the fast path's: {:?}",
                String::from_utf8_lossy(line)
            );
        }
        if let Some(fast) = fuzzing::fast_line(line) {
            let slow = fuzzing::slow_line(line);
            assert_eq!(
                Ok(&fast),
                slow.as_ref(),
                "the fast path accepted a line the slow path reads otherwise: {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
    let reader = fuzzing::ndjson(data).expect("ndjson bytes always load");
    let slow = fuzzing::ndjson_slow(data).expect("ndjson bytes always load");
    well_formed(&reader, data);
    assert_eq!(reader.read, slow.read);
    assert_eq!(
        without_clock(&reader.rejected),
        without_clock(&slow.rejected),
        "quarantines differ"
    );
    assert_tables_equal(&reader, &slow);
}

/// The flat csv reader: a whole file refused (a header that is not the flat format) or
/// read with each refused row named by its line.
pub fn csv(data: &[u8]) {
    if let Ok(read) = fuzzing::csv(data) {
        well_formed(&read, data);
    }
}

/// The config YAML layer (`config.yaml`, and `project.yaml` beside it): any text gives a
/// config or an error, never a panic; a config read lists its parameters.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // refused before parsing by the file reader (`input::read_text`)
    };
    if let Ok(config) = ProjectConfig::from_str_named(text, "config.yaml") {
        let _ = config.all_parameters();
        let _ = config.link();
    }
    let _ = ProjectFile::from_str_named(text, "project.yaml");
}

/// The bundle parser and the resolver. The input is a bundle's JSON, optionally
/// followed by a NUL byte and a JSON object used as one more context to resolve.
/// A bundle that parses compiles under both hash contracts (or is refused with the
/// field's path), and resolving any context gives, for each layer, a bucket within
/// `bucketCount`.
pub fn bundle(data: &[u8]) {
    let (bundle_bytes, extra) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(bundle_bytes) else {
        return; // refused before parsing by the file reader (`input::read_text`)
    };
    let Ok(doc) = BundleDocument::from_str_named(text, "bundle.json") else {
        return;
    };
    let bundle = doc.bundle();
    let mut contexts = fixed_contexts(&bundle.hashing.unit_key);
    if let Some(Ok(Value::Object(ctx))) = extra.map(serde_json::from_slice::<Value>) {
        contexts.push(ctx);
    }
    for contract in [HashContract::Sha256V2, HashContract::Fnv1aV1] {
        let Ok(resolver) = Resolver::new(bundle, contract) else {
            continue;
        };
        for ctx in &contexts {
            let Ok(resolution) = resolver.resolve(ctx) else {
                continue;
            };
            assert_eq!(resolution.layers.len(), bundle.layers.len());
            for layer in &resolution.layers {
                let bucket = layer.bucket.unwrap_or(0);
                assert!(
                    bucket < bundle.hashing.bucket_count,
                    "bucket {bucket} of layer {} outside bucketCount {}",
                    layer.layer_id,
                    bundle.hashing.bucket_count
                );
            }
        }
    }
}

/// Contexts every bundle is resolved with: a few unit keys, with and without common
/// condition fields, and the unit key missing.
fn fixed_contexts(unit_key: &str) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    for (i, unit) in ["u-1", "user-42", "", "ü\u{1}"].into_iter().enumerate() {
        let mut ctx = Map::new();
        ctx.insert(unit_key.to_owned(), Value::from(unit));
        if i % 2 == 1 {
            ctx.insert("country".into(), Value::from("US"));
            ctx.insert("cartValue".into(), Value::from(150));
            ctx.insert("deviceType".into(), Value::from("mobile"));
        }
        out.push(ctx);
    }
    out.push(Map::new());
    out
}

/// What any read must be: every refused record names a line that exists, in order,
/// and a field.
fn well_formed(read: &Read, data: &[u8]) {
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let mut last = 0;
    for r in &read.rejected {
        assert!(
            r.line >= last && r.line >= 1 && r.line <= lines,
            "line {} of {lines}",
            r.line
        );
        assert!(!r.field.is_empty() && !r.reason.is_empty(), "{r:?}");
        last = r.line;
    }
    assert!(read.rejected.len() as u64 <= read.read);
}

/// The refused records with the clock reading taken out of a far-future refusal's
/// reason (`latest accepted: …`): two reads a millisecond apart word it differently.
fn without_clock(rejected: &[Rejected]) -> Vec<Rejected> {
    rejected
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(start) = r.reason.find("latest accepted: ") {
                let end = r.reason[start..]
                    .find(')')
                    .map_or(r.reason.len(), |e| start + e);
                r.reason
                    .replace_range(start..end, "latest accepted: (clock)");
            }
            r
        })
        .collect()
}

fn assert_tables_equal(a: &Read, b: &Read) {
    for (name, x, y) in [
        ("exposures", &a.tables.exposures, &b.tables.exposures),
        ("tracks", &a.tables.tracks, &b.tables.tracks),
        (
            "attributions",
            &a.tables.attributions,
            &b.tables.attributions,
        ),
    ] {
        assert!(
            x.equals_missing(y),
            "{name} differ between the reader and the slow path:\n{x}\n{y}"
        );
    }
}
