//! Hostile and broken input, one named class per case, for the files a run starts
//! from: the config YAML, the bundle JSON and the state file (the event readers'
//! classes are in `readers.rs` and `trust.rs`). Each class is either accepted, with
//! what was meant kept, or refused with an error naming the file and the place; none
//! panics, hangs or reads without bound. `docs/formats.md` lists the classes.

use std::path::{Path, PathBuf};

use bandit_engine::bundle::BundleDocument;
use bandit_engine::config::ProjectConfig;
use bandit_engine::state::EngineState;

/// What a class must give.
enum Expect {
    /// Read, and equal to the clean file's reading.
    Same,
    /// Read (the content differs on purpose).
    Accepted,
    /// Refused; the message contains each of these.
    Refused(&'static [&'static str]),
}

/// The reader a class goes to.
#[derive(Clone, Copy)]
enum Reader {
    Config,
    Bundle,
    State,
}

/// What a clean file reads as, to compare accepted variants with.
fn reading(reader: Reader, path: &Path) -> Result<String, String> {
    match reader {
        Reader::Config => ProjectConfig::from_path(path).map(|c| format!("{:?}", c.schemas)),
        Reader::Bundle => BundleDocument::from_path(path).map(|b| b.to_json_pretty()),
        Reader::State => EngineState::from_path(path).map(|s| s.checksum()),
    }
    .map_err(|e| e.to_string())
}

fn clean(reader: Reader) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = match reader {
        Reader::Config => "datasets/demo/.traffical/config.yaml",
        Reader::Bundle => "datasets/demo/bundle.json",
        Reader::State => "tests/fixtures/state-compat/state.json",
    };
    std::fs::read(root.join(rel)).unwrap()
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains(from), "the clean file has {from:?}");
    text.replacen(from, to, 1).into_bytes()
}

/// Runs one class: writes `bytes` (or makes `path` by `make`) and checks the outcome.
fn check(name: &str, reader: Reader, path: &Path, expect: &Expect) {
    let got = reading(reader, path);
    match expect {
        Expect::Same => {
            let dir = tempfile::tempdir().unwrap();
            let base = dir.path().join("clean");
            std::fs::write(&base, clean(reader)).unwrap();
            assert_eq!(got, reading(reader, &base), "class {name}");
        }
        Expect::Accepted => assert!(got.is_ok(), "class {name}: {got:?}"),
        Expect::Refused(parts) => {
            let e = got.expect_err(name);
            for p in *parts {
                assert!(e.contains(p), "class {name}: {e:?} lacks {p:?}");
            }
            assert!(
                e.contains(&path.display().to_string()),
                "class {name}: {e} names the file"
            );
        }
    }
}

/// The classes that are a file's bytes.
fn byte_classes(reader: Reader) -> Vec<(&'static str, Vec<u8>, Expect)> {
    let c = clean(reader);
    let crlf = String::from_utf8(c.clone())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let bom = [b"\xef\xbb\xbf".as_slice(), &c].concat();
    let no_newline = c.strip_suffix(b"\n").unwrap_or(&c).to_vec();
    let mut classes = vec![
        ("byte-order mark", bom, Expect::Same),
        ("CRLF line ends", crlf, Expect::Same),
        ("no newline after the last line", no_newline, Expect::Same),
        ("empty file", Vec::new(), Expect::Refused(&[])),
    ];
    let mut bad_utf8 = c.clone();
    let at = bad_utf8.iter().position(|&b| b == b'\n').unwrap() + 3;
    bad_utf8.insert(at, 0xff);
    classes.push((
        "invalid UTF-8",
        bad_utf8,
        Expect::Refused(&["UTF-8", "line 2"]),
    ));
    classes
}

#[test]
fn every_reader_takes_the_byte_classes() {
    let dir = tempfile::tempdir().unwrap();
    for reader in [Reader::Config, Reader::Bundle, Reader::State] {
        for (name, bytes, expect) in byte_classes(reader) {
            let path = dir.path().join(name.replace(' ', "-"));
            std::fs::write(&path, bytes).unwrap();
            check(name, reader, &path, &expect);
        }
    }
}

#[test]
fn every_reader_refuses_what_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("loop-a");
    let b = dir.path().join("loop-b");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
    }
    for reader in [Reader::Config, Reader::Bundle, Reader::State] {
        check(
            "a directory where a file belongs",
            reader,
            dir.path(),
            &Expect::Refused(&["directory"]),
        );
        check(
            "missing file",
            reader,
            &dir.path().join("none"),
            &Expect::Refused(&["No such file"]),
        );
        #[cfg(unix)]
        check(
            "symlink loop",
            reader,
            &a,
            &Expect::Refused(&["symbolic links"]),
        );
        // A device with no end: cut at the reader's bound instead of read forever.
        #[cfg(unix)]
        check(
            "endless device",
            reader,
            Path::new("/dev/zero"),
            &Expect::Refused(&["larger than"]),
        );
    }
}

#[test]
fn oversized_files_are_refused_at_their_bound() {
    let dir = tempfile::tempdir().unwrap();
    // A 17 MB config (the bound is 16 MB) and a 65 MB bundle (64 MB): comments and
    // padding after a valid document, so only the size is wrong.
    let mut config = clean(Reader::Config);
    config.extend(std::iter::repeat_n(b"# padding\n".as_slice(), 17 << 17).flatten());
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, &config).unwrap();
    check(
        "a 17 MB config",
        Reader::Config,
        &path,
        &Expect::Refused(&["larger than 16 MB"]),
    );
    let mut bundle = clean(Reader::Bundle);
    bundle.extend(std::iter::repeat_n(b' ', 65 << 20));
    let path = dir.path().join("bundle.json");
    std::fs::write(&path, &bundle).unwrap();
    check(
        "a 65 MB bundle",
        Reader::Bundle,
        &path,
        &Expect::Refused(&["larger than 64 MB"]),
    );
}

fn yaml_bomb() -> Vec<u8> {
    let mut s = String::from("lol: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    let mut prev = 'a';
    for name in 'b'..='p' {
        let refs = vec![format!("*{prev}"); 9].join(", ");
        s.push_str(&format!("{name}: &{name} [{refs}]\n"));
        prev = name;
    }
    [s.into_bytes(), clean(Reader::Config)].concat()
}

#[test]
fn config_classes() {
    let c = clean(Reader::Config);
    let classes: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "anchor bomb (billion laughs)",
            yaml_bomb(),
            Expect::Refused(&["billion-laughs"]),
        ),
        (
            "nesting deeper than 128",
            [
                format!("deep: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
                c.clone(),
            ]
            .concat(),
            Expect::Refused(&["recursion limit", ":1:"]),
        ),
        (
            "duplicate key",
            [c.clone(), b"version: \"2.0\"\n".to_vec()].concat(),
            Expect::Refused(&["duplicated key"]),
        ),
        (
            "NaN where a number belongs",
            replace(&c, "explorationFloor: 0.02", "explorationFloor: .nan"),
            Expect::Refused(&["explorationFloor"]),
        ),
        (
            "infinity where a number belongs",
            replace(&c, "maxShiftPerUpdate: 0.5", "maxShiftPerUpdate: .inf"),
            Expect::Refused(&["maxShiftPerUpdate"]),
        ),
        (
            "a count beyond its bound",
            replace(
                &c,
                "    algorithm: thompson_bernoulli\n",
                "    algorithm: thompson_bernoulli\n    draws: 2000000000\n",
            ),
            Expect::Refused(&["draws", "between 1 and 1000000"]),
        ),
        (
            "unicode and control characters in an event name",
            replace(&c, "purchase", "pur\u{7}chase-名前"),
            Expect::Refused(&[]),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expect) in classes {
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, bytes).unwrap();
        check(name, Reader::Config, &path, &expect);
    }
}

fn bundle_with(f: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&clean(Reader::Bundle)).unwrap();
    f(&mut v);
    serde_json::to_vec_pretty(&v).unwrap()
}

fn allocation(v: &mut serde_json::Value, i: usize) -> &mut serde_json::Value {
    &mut v["layers"][0]["policies"][0]["allocations"][i]
}

#[test]
fn bundle_classes() {
    let c = clean(Reader::Bundle);
    let classes: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "nesting deeper than 128",
            [
                b"{\"deep\": ".to_vec(),
                "[".repeat(200).into_bytes(),
                "]".repeat(200).into_bytes(),
                b"}".to_vec(),
            ]
            .concat(),
            Expect::Refused(&["recursion limit"]),
        ),
        (
            "duplicate key",
            replace(&c, "{", "{\"version\": \"2020-01-01T00:00:00.000Z\","),
            Expect::Refused(&["version", "named twice"]),
        ),
        (
            "duplicate key deep inside",
            replace(
                &c,
                "\"name\": \"buy_now\",",
                "\"name\": \"buy_now\", \"name\": \"other\",",
            ),
            Expect::Refused(&["layers[0].policies[0].allocations[1].name", "named twice"]),
        ),
        (
            "NaN",
            replace(&c, "\"bucketCount\": 10000", "\"bucketCount\": NaN"),
            Expect::Refused(&["line 8"]),
        ),
        (
            "Infinity",
            replace(&c, "\"bucketCount\": 10000", "\"bucketCount\": Infinity"),
            Expect::Refused(&["line 8"]),
        ),
        (
            "1e999",
            replace(&c, "\"bucketCount\": 10000", "\"bucketCount\": 1e999"),
            Expect::Refused(&["out of range"]),
        ),
        (
            "negative bucket count",
            replace(&c, "\"bucketCount\": 10000", "\"bucketCount\": -5"),
            Expect::Refused(&["hashing.bucketCount"]),
        ),
        (
            "zero bucket count",
            replace(&c, "\"bucketCount\": 10000", "\"bucketCount\": 0"),
            Expect::Refused(&["hashing.bucketCount"]),
        ),
        (
            "bucket count beyond 32 bits",
            replace(
                &c,
                "\"bucketCount\": 10000",
                "\"bucketCount\": 100000000000",
            ),
            Expect::Refused(&["hashing.bucketCount"]),
        ),
        (
            "overlapping ranges",
            bundle_with(|v| allocation(v, 1)["bucketRange"] = serde_json::json!([2500, 5999])),
            Expect::Refused(&["allocations[1].bucketRange", "overlaps"]),
        ),
        (
            "a range beyond the bucket count",
            bundle_with(|v| allocation(v, 2)["bucketRange"] = serde_json::json!([6000, 12000])),
            Expect::Refused(&["allocations[2].bucketRange"]),
        ),
        (
            "a reversed range",
            bundle_with(|v| allocation(v, 2)["bucketRange"] = serde_json::json!([8999, 6000])),
            Expect::Refused(&["allocations[2].bucketRange"]),
        ),
        // A gap is the SDK's way of leaving buckets to the defaults: accepted.
        (
            "a gap between ranges",
            bundle_with(|v| allocation(v, 1)["bucketRange"] = serde_json::json!([3100, 5999])),
            Expect::Accepted,
        ),
        (
            "unicode and control characters in an allocation name",
            bundle_with(|v| {
                allocation(v, 1)["name"] = serde_json::json!("buy\u{1b}[2J\u{202e}今すぐ")
            }),
            Expect::Accepted,
        ),
        // The SDKs take `version` as an opaque string, so reading does too; what we
        // publish always carries a timestamp (the publishing guard checks it).
        (
            "a version that is not a timestamp",
            bundle_with(|v| v["version"] = serde_json::json!("yesterday")),
            Expect::Accepted,
        ),
        (
            "an array where an object belongs",
            bundle_with(|v| v["hashing"] = serde_json::json!([])),
            Expect::Refused(&["hashing"]),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expect) in classes {
        let path = dir.path().join("bundle.json");
        std::fs::write(&path, bytes).unwrap();
        check(name, Reader::Bundle, &path, &expect);
    }
}

#[test]
fn state_classes() {
    let c = clean(Reader::State);
    let truncated = c[..c.len() / 2].to_vec();
    let classes: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "truncated",
            truncated,
            Expect::Refused(&["not a state file"]),
        ),
        (
            "an unknown format version",
            replace(&c, "\"formatVersion\": 1", "\"formatVersion\": 9"),
            Expect::Refused(&["formatVersion", "reads version 1"]),
        ),
        (
            "an edited statistic (checksum mismatch)",
            replace(&c, "\"seed\": 0", "\"seed\": 1"),
            Expect::Refused(&["checksum"]),
        ),
        (
            "another tool's JSON",
            b"{\"format\": \"something-else\"}".to_vec(),
            Expect::Refused(&[]),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expect) in classes {
        let path: PathBuf = dir.path().join("state.json");
        std::fs::write(&path, bytes).unwrap();
        check(name, Reader::State, &path, &expect);
    }
}
