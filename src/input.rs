//! Reading the small text files a run starts from (config, bundle, state) so that a
//! wrong file gives a clear error instead of a hang or a runaway allocation: a size
//! bound (read through `take`, so a device such as `/dev/zero` or a file still
//! growing cannot get past it), the line and column of the first byte that is not
//! UTF-8, and JSON objects that name one key twice (readers disagree on which one
//! wins, so a bundle that does is ambiguous; we refuse it rather than guess).

use std::io::Read;
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The largest config file read: real ones are a few KB, the largest we know of
/// (hundreds of events with property schemas) well under 1 MB.
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// The largest bundle read: real ones are KBs; entity weights of 10 000 entities
/// stay under 1 MB (`docs/entities.md`).
pub(crate) const MAX_BUNDLE_BYTES: u64 = 64 << 20;
/// The largest state file read: per-entity linear statistics can reach hundreds of MB.
pub(crate) const MAX_STATE_BYTES: u64 = 1 << 30;

/// Why a file's text could not be taken as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextProblem {
    /// More than `max` bytes.
    TooLarge {
        /// The bound.
        max: u64,
    },
    /// Not UTF-8 at this 1-based line and column (column in bytes).
    NotUtf8 {
        /// Line of the first invalid byte.
        line: usize,
        /// Its byte column in that line.
        column: usize,
    },
}

impl TextProblem {
    /// Where the problem is, as `(line, column)`; `(0, 0)` for the whole file.
    pub(crate) fn place(&self) -> (usize, usize) {
        match self {
            Self::TooLarge { .. } => (0, 0),
            Self::NotUtf8 { line, column } => (*line, *column),
        }
    }

    /// What is wrong, for the message of `what` (`a bundle`, `a config`).
    pub(crate) fn reason(&self, what: &str) -> String {
        match self {
            Self::TooLarge { max } => format!(
                "larger than {} MB, more than {what} can be; is this the right file?",
                max >> 20
            ),
            Self::NotUtf8 { line, column } => {
                format!("not UTF-8 (line {line}, byte {column}); save the file as UTF-8")
            }
        }
    }
}

/// Reads at most `max` bytes of `path` as UTF-8 text. The outer error is the
/// operating system's (missing, a directory, a symlink loop); the inner one says why
/// the bytes are not acceptable text.
pub(crate) fn read_text(path: &Path, max: u64) -> std::io::Result<Result<String, TextProblem>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Ok(Err(TextProblem::TooLarge { max }));
    }
    Ok(String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + memchr::memchr_iter(b'\n', good).count();
        let column = 1 + good.len() - good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        TextProblem::NotUtf8 { line, column }
    }))
}

/// Why polars could not read a parquet file, for a message. Polars is built here
/// without its 8- and 16-bit integer types (each costs compile time in every build),
/// so such a column fails with `cannot create series from Int16`; that case says what
/// to do instead.
pub(crate) fn unreadable_parquet(e: &polars::prelude::PolarsError) -> String {
    let text = e.to_string();
    for (small, bits) in [("Int8", 8), ("UInt8", 8), ("Int16", 16), ("UInt16", 16)] {
        if text.contains(&format!("from {small}")) {
            return format!(
                "not a readable parquet file: a column is a {bits}-bit integer ({small}), which this build reads only as 32 or 64 bits; cast it to int64 (pyarrow: `table.cast(schema)`, polars: `.cast(pl.Int64)`) and write the file again"
            );
        }
    }
    format!("not a readable parquet file: {text}")
}

/// The first key an object of `text` names twice, as a JSON path (`layers[0].id`);
/// `None` if there is none or `text` is not JSON (its parser reports that).
pub(crate) fn duplicate_json_key(text: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(text);
    (Walk {
        path: String::new(),
    })
    .deserialize(&mut de)
    .unwrap_or_default()
}

/// A walk over a JSON value that keeps nothing but the path it is at.
struct Walk {
    path: String,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let inner = map.next_value_seed(Walk { path: path.clone() })?;
            if found.is_none() {
                found = if seen.insert(key) { inner } else { Some(path) };
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0;
        while let Some(inner) = seq.next_element_seed(Walk {
            path: format!("{}[{i}]", self.path),
        })? {
            found = found.or(inner);
            i += 1;
        }
        Ok(found)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_found_with_their_path() {
        assert_eq!(
            duplicate_json_key(r#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#),
            None
        );
        assert_eq!(
            duplicate_json_key(r#"{"a": 1, "a": 2}"#).as_deref(),
            Some("a")
        );
        assert_eq!(
            duplicate_json_key(r#"{"l": [{"x": 1}, {"y": 1, "y": 2}]}"#).as_deref(),
            Some("l[1].y")
        );
        assert_eq!(duplicate_json_key("not json"), None);
    }

    #[test]
    fn text_is_bounded_and_bad_bytes_are_placed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"ok\nab\xffc\n").unwrap();
        assert_eq!(
            read_text(&p, 100).unwrap(),
            Err(TextProblem::NotUtf8 { line: 2, column: 3 })
        );
        std::fs::write(&p, "0123456789").unwrap();
        assert_eq!(read_text(&p, 10).unwrap().unwrap(), "0123456789");
        assert_eq!(
            read_text(&p, 9).unwrap(),
            Err(TextProblem::TooLarge { max: 9 })
        );
        assert!(read_text(dir.path(), 10).is_err());
        // A device with no end is cut at the bound, not read forever.
        #[cfg(unix)]
        assert_eq!(
            read_text(Path::new("/dev/zero"), 1 << 16).unwrap(),
            Err(TextProblem::TooLarge { max: 1 << 16 })
        );
    }
}
