//! Streaming conversion against loading whole and writing whole: the same output
//! (bytes for ndjson and csv, the same frame for parquet), the same quarantine bytes
//! and the same counts, with blocks small enough that lines, bad records and
//! multi-layer events fall on every side of a block boundary.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::{
    convert_in, convert_sizes, next_block, BASE_BYTES, BLOCK_BYTE, BLOCK_BYTES, CONVERT_AT_LEAST,
    MIN_BLOCK_BYTES, MIN_GROUP_ROWS, ROW_BYTES, ROW_GROUP_ROWS,
};
use crate::events::{load_events, write_events, write_quarantine, Event, LoadOptions};
use crate::memory::MemoryLimit;
use crate::progress::NoProgress;

/// The demo log with refused lines, blank lines, CRLF endings, a line longer than a
/// block and no final newline.
fn input(dir: &Path) -> PathBuf {
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/demo/events.ndjson"
    ))
    .unwrap();
    let mut text = String::new();
    for (i, line) in demo.lines().enumerate() {
        text.push_str(line);
        text.push_str(if i % 7 == 0 { "\r\n" } else { "\n" });
        match i % 97 {
            3 => text.push_str("{\"type\":\"track\",\"unitKey\":\"u\"}\n"),
            5 => text.push_str("\n   \n"),
            11 => text.push_str("not json\n"),
            13 => {
                let long = "x".repeat(9000);
                text.push_str(&format!(
                    "{{\"type\":\"track\",\"unitKey\":\"{long}\",\"timestamp\":\"2026-05-21T10:30:00Z\",\"event\":\"purchase\"}}\n"
                ));
            }
            _ => {}
        }
    }
    text.push_str("{\"type\":\"track\",\"unitKey\":\"end\",\"timestamp\":\"2026-05-21T10:30:00Z\",\"event\":\"purchase\"}");
    let path = dir.join("in.ndjson");
    std::fs::write(&path, text).unwrap();
    path
}

/// The accepted events of `path`, read whole.
fn accepted(path: &Path) -> Vec<Event> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| Event::from_json_str(l).ok().map(|(e, _)| e))
        .collect()
}

fn parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

#[test]
fn streaming_gives_what_loading_whole_gives_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = input(dir.path());
    let inputs = [input.clone(), input.clone()];
    let whole = load_events(&inputs, LoadOptions::default()).unwrap();
    assert!(whole.report.quarantined() > 20, "{:?}", whole.report);
    let old_q = dir.path().join("old.quarantine.ndjson");
    write_quarantine(&old_q, &whole.rejected).unwrap();
    let events: Vec<Event> = inputs.iter().flat_map(|p| accepted(p)).collect();
    for ext in ["ndjson", "csv", "parquet"] {
        let old = dir.path().join(format!("old.{ext}"));
        write_events(&events, &old).unwrap();
        for block in [4096, 1 << 20] {
            let new = dir.path().join(format!("new{block}.{ext}"));
            let q = dir
                .path()
                .join(format!("new{block}.{ext}.quarantine.ndjson"));
            let report = convert_in(
                &inputs,
                &new,
                &q,
                LoadOptions::default(),
                &NoProgress,
                block,
                ROW_GROUP_ROWS,
            )
            .unwrap();
            assert_eq!(report, whole.report, "{ext} {block}");
            assert_eq!(std::fs::read(&q).unwrap(), std::fs::read(&old_q).unwrap());
            // Outputs get the mode a plain file creation gives, not a temp file's.
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions();
            assert_eq!(mode(&new), mode(&old));
            assert_eq!(mode(&q), mode(&old_q));
            if ext == "parquet" {
                let (a, b) = (parquet(&new), parquet(&old));
                assert_eq!(a.schema(), b.schema());
                assert!(a.equals_missing(&b), "{block}");
            }
            // Parquet too: row groups of the same rows whatever the block size.
            assert!(
                std::fs::read(&new).unwrap() == std::fs::read(&old).unwrap(),
                "{ext} {block}"
            );
        }
    }
}

#[test]
fn strict_mode_stops_at_the_first_refused_record_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = input(dir.path());
    let out = dir.path().join("out.parquet");
    let q = dir.path().join("out.quarantine.ndjson");
    let strict = LoadOptions { strict: true };
    let err = convert_in(
        std::slice::from_ref(&input),
        &out,
        &q,
        strict,
        &NoProgress,
        4096,
        ROW_GROUP_ROWS,
    )
    .unwrap_err();
    let whole = load_events(&[input], strict).unwrap_err();
    assert_eq!(err.to_string(), whole.to_string());
    assert!(!out.exists() && !q.exists());
    let flat = dir.path().join("flat.parquet");
    write_events(&[], &flat).unwrap();
    let err = convert_in(
        &[flat],
        &out,
        &q,
        LoadOptions::default(),
        &NoProgress,
        4096,
        ROW_GROUP_ROWS,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("already in the flat format"),
        "{err}"
    );
}

/// Two demo events around `middle`, the file starting with a UTF-8 byte order mark.
fn with_bom_and(dir: &Path, middle: &[u8]) -> PathBuf {
    let demo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/demo/events.ndjson"
    ))
    .unwrap();
    let mut lines = demo.lines();
    let mut text = b"\xEF\xBB\xBF".to_vec();
    text.extend_from_slice(lines.next().unwrap().as_bytes());
    text.push(b'\n');
    text.extend_from_slice(middle);
    text.push(b'\n');
    text.extend_from_slice(lines.next().unwrap().as_bytes());
    text.push(b'\n');
    let path = dir.join("bom.ndjson");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_byte_order_mark_is_dropped_and_an_overlong_line_is_quarantined_by_its_number() {
    use crate::events::MAX_LINE_BYTES;
    let dir = tempfile::tempdir().unwrap();
    // A line past the limit with no newline in sight of a small block: the streaming
    // reader skips it; loading whole refuses it by length. Neither keeps its text.
    let mut long = b"{\"type\":\"track\",\"unitKey\":\"".to_vec();
    long.resize(MAX_LINE_BYTES + 10, b'x');
    long.extend_from_slice(b"\"}");
    let input = with_bom_and(dir.path(), &long);
    let whole = load_events(std::slice::from_ref(&input), LoadOptions::default()).unwrap();
    assert_eq!(
        whole.report.accepted(),
        2,
        "the first line, after the mark, too"
    );
    let [r] = whole.rejected.as_slice() else {
        panic!("{:?}", whole.report)
    };
    assert_eq!((r.line, r.field.as_str()), (2, "record"));
    assert!(
        r.reason.contains(&MAX_LINE_BYTES.to_string()),
        "{}",
        r.reason
    );
    assert_eq!(r.record, serde_json::Value::Null);
    let old_q = dir.path().join("old.quarantine.ndjson");
    write_quarantine(&old_q, &whole.rejected).unwrap();
    for block in [4096, 1 << 20, 32 << 20] {
        let out = dir.path().join(format!("out{block}.ndjson"));
        let q = dir.path().join(format!("out{block}.quarantine.ndjson"));
        let args = (std::slice::from_ref(&input), &out, &q);
        let report = convert_in(
            args.0,
            args.1,
            args.2,
            LoadOptions::default(),
            &NoProgress,
            block,
            ROW_GROUP_ROWS,
        )
        .unwrap();
        assert_eq!(report, whole.report, "{block}");
        assert_eq!(std::fs::read(&q).unwrap(), std::fs::read(&old_q).unwrap());
        let strict = LoadOptions { strict: true };
        let err = convert_in(
            args.0,
            args.1,
            args.2,
            strict,
            &NoProgress,
            block,
            ROW_GROUP_ROWS,
        )
        .unwrap_err();
        assert!(err.to_string().contains(":2"), "{err}");
    }
}

#[test]
fn a_byte_order_mark_only_counts_at_the_start_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = with_bom_and(dir.path(), b"\xEF\xBB\xBF{\"type\":\"track\"}");
    let whole = load_events(&[input], LoadOptions::default()).unwrap();
    assert_eq!(whole.report.accepted(), 2);
    assert_eq!(whole.rejected.len(), 1);
    assert_eq!(whole.rejected[0].line, 2);
}

#[test]
fn a_memory_limit_sizes_block_and_row_group_and_refuses_what_cannot_hold_one() {
    let floor =
        BASE_BYTES + BLOCK_BYTE * MIN_BLOCK_BYTES as u64 + ROW_BYTES * MIN_GROUP_ROWS as u64;
    assert!(CONVERT_AT_LEAST.contains(&format!("{}M", floor.div_ceil(1 << 20))));
    let refused = convert_sizes(MemoryLimit(floor - 1))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("--memory-limit") && refused.contains(CONVERT_AT_LEAST),
        "{refused}"
    );
    for limit in [floor, floor + (40 << 20), 1 << 30] {
        let (block, rows) = convert_sizes(MemoryLimit(limit)).unwrap();
        let held = BASE_BYTES + BLOCK_BYTE * block as u64 + ROW_BYTES * rows as u64;
        assert!(held <= limit, "{limit}: {block} {rows}");
        assert!(block >= MIN_BLOCK_BYTES && rows >= ROW_GROUP_ROWS.min(MIN_GROUP_ROWS));
    }
    assert_eq!(
        convert_sizes(MemoryLimit(8 << 30)).unwrap(),
        (BLOCK_BYTES, ROW_GROUP_ROWS)
    );
    // Smaller row groups hold the same rows.
    let dir = tempfile::tempdir().unwrap();
    let input = input(dir.path());
    let frame = |group_rows: usize| {
        let out = dir.path().join(format!("out{group_rows}.parquet"));
        let q = dir.path().join(format!("q{group_rows}.ndjson"));
        convert_in(
            std::slice::from_ref(&input),
            &out,
            &q,
            LoadOptions::default(),
            &NoProgress,
            4096,
            group_rows,
        )
        .unwrap();
        parquet(&out)
    };
    let (whole, small) = (frame(ROW_GROUP_ROWS), frame(7));
    assert!(whole.height() > 7, "{}", whole.height());
    assert_eq!(whole.schema(), small.schema());
    assert!(whole.equals_missing(&small));
}

/// A reader that gives at most `step` bytes a read, as a pipe does.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Blocks read through a pipe-like reader (a few bytes a read) are those read from a
/// file: whole lines, the rest carried, the last one flagged.
#[test]
fn blocks_from_a_trickling_reader_are_those_of_a_file() {
    let text: Vec<u8> = (0..500)
        .flat_map(|i| format!("{{\"line\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 37)).into_bytes())
        .collect();
    let blocks = |step: usize| -> Vec<(Vec<u8>, bool)> {
        let mut reader = Trickle { data: &text, step };
        let mut carry = Vec::new();
        let mut out = Vec::new();
        loop {
            let b = next_block(&mut reader, &mut carry, 1000, Path::new("pipe")).unwrap();
            assert!(!b.skipped);
            let last = b.last;
            out.push((b.text, last));
            if last {
                return out;
            }
        }
    };
    let whole = blocks(usize::MAX);
    assert!(whole.len() > 10);
    assert!(whole[..whole.len() - 1]
        .iter()
        .all(|(t, _)| t.ends_with(b"\n")));
    let joined: Vec<u8> = whole.iter().flat_map(|(t, _)| t.clone()).collect();
    assert_eq!(joined, text);
    for step in [1, 7, 4096] {
        assert_eq!(blocks(step), whole, "{step} bytes a read");
    }
}
