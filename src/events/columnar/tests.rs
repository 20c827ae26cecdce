//! The columnar path: it takes the ordinary rows itself, reads typed timestamps as
//! their text, leaves the rest to the row path in file order, and the quarantine
//! records of rows it declines still name the file, row and field.

use polars::prelude::*;

use super::{Check, BAD};
use crate::events::cells::Columns;
use crate::events::model::Event;
use crate::events::parquet::read_parquet;
use crate::events::part::Part;
use crate::events::projection::Projection;
use crate::events::table::finish_all;
use crate::events::write::text_layout;
use crate::events::{write_events, EventTables};
use crate::progress::NoProgress;

const FILE: &str = "events.parquet";

/// The demo log's events.
fn demo() -> Vec<Event> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/demo/events.ndjson"
    ))
    .unwrap();
    text.lines()
        .filter_map(|l| Event::from_json_str(l).ok().map(|(e, _)| e))
        .collect()
}

/// The demo log in the old flat layout (every field text but the numbers and
/// booleans).
fn demo_frame(dir: &std::path::Path) -> DataFrame {
    let path = dir.join("demo.parquet");
    write_events(&demo(), &path).unwrap();
    text_layout(
        ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap(),
    )
}

fn write(dir: &std::path::Path, name: &str, df: &mut DataFrame) -> std::path::PathBuf {
    let path = dir.join(name);
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .with_row_group_size(Some(1000))
        .finish(df)
        .unwrap();
    path
}

/// Rows of `df` the columnar rules accept.
fn columnar_rows(df: &DataFrame) -> usize {
    let cols = Columns::of(FILE, df).unwrap().window(0, df.height());
    let check = Check::new(&cols, df.height());
    check.kind.iter().filter(|&&k| k != BAD).count()
}

fn tables(part: Part) -> EventTables {
    finish_all(part.tables, &Projection::all()).unwrap()
}

fn assert_same(a: &EventTables, b: &EventTables) {
    for (name, x, y) in [
        ("exposures", &a.exposures, &b.exposures),
        ("tracks", &a.tracks, &b.tracks),
        ("attributions", &a.attributions, &b.attributions),
    ] {
        assert_eq!(x.schema(), y.schema(), "{name} schema");
        assert!(x.equals_missing(y), "{name}:\n{x}\n{y}");
    }
}

#[test]
fn the_old_text_layout_takes_the_columnar_path_but_for_sdk_attribution_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let df = demo_frame(dir.path());
    let with_array = df
        .column("attribution")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .filter(|c| c.is_some_and(|s| !s.is_empty()))
        .count();
    assert!(df.height() > 3700);
    assert_eq!(columnar_rows(&df), df.height() - with_array);
}

/// `timestamp` (and `eventTimestamp`) as typed timestamps in `unit`, time zone `tz`.
fn typed(df: &DataFrame, unit: TimeUnit, tz: Option<TimeZone>) -> DataFrame {
    let mut out = df.clone();
    for name in ["timestamp", "eventTimestamp"] {
        let text = df.column(name).unwrap().str().unwrap().clone();
        let per_ms = match unit {
            TimeUnit::Milliseconds => 1,
            TimeUnit::Microseconds => 1_000,
            TimeUnit::Nanoseconds => 1_000_000,
        };
        let ticks: Int64Chunked = text
            .iter()
            .map(|t| {
                t.filter(|t| !t.is_empty())
                    .map(|t| crate::time::parse_rfc3339(t).unwrap() * per_ms + per_ms / 2)
            })
            .collect();
        let stamps = ticks
            .into_datetime(unit, tz.clone())
            .into_series()
            .with_name(name.into());
        out.with_column(stamps.into_column()).unwrap();
    }
    out
}

#[test]
fn typed_timestamps_load_as_their_text_in_any_unit_and_zone() {
    let dir = tempfile::tempdir().unwrap();
    let mut df = demo_frame(dir.path());
    let text = read_parquet(
        &write(dir.path(), "text.parquet", &mut df),
        FILE,
        &Projection::all(),
        &NoProgress,
    )
    .unwrap();
    let (read, by_type, warnings) = (text.read, text.by_type, text.warnings.clone());
    let expected = tables(text);
    for (unit, tz) in [
        (TimeUnit::Microseconds, Some(TimeZone::UTC)),
        (TimeUnit::Milliseconds, None),
        (TimeUnit::Nanoseconds, Some(TimeZone::UTC)),
    ] {
        // Half a millisecond past each instant: dropped, as the text reader drops
        // digits after the milliseconds.
        let mut t = typed(&df, unit, tz.clone());
        let dtype = DataType::Datetime(unit, tz.clone());
        assert_eq!(t.column("timestamp").unwrap().dtype(), &dtype);
        let path = write(dir.path(), "typed.parquet", &mut t);
        let back = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(back.column("timestamp").unwrap().dtype(), &dtype);
        let part = read_parquet(&path, FILE, &Projection::all(), &NoProgress).unwrap();
        assert!(part.rejected.is_empty(), "{:?}", part.rejected.first());
        assert_eq!((part.read, part.by_type), (read, by_type), "{unit:?}");
        assert_eq!(part.warnings, warnings);
        assert_same(&tables(part), &expected);
    }
}

#[test]
fn a_typed_timestamp_the_text_form_cannot_hold_is_quarantined_by_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let df = demo_frame(dir.path()).head(Some(50));
    let mut t = typed(&df, TimeUnit::Milliseconds, Some(TimeZone::UTC));
    let ts = t
        .column("timestamp")
        .unwrap()
        .datetime()
        .unwrap()
        .physical()
        .clone();
    // Year 10000 in row 8.
    let ts: Int64Chunked = ts
        .iter()
        .enumerate()
        .map(|(r, v)| if r == 7 { Some(253_402_300_800_000) } else { v })
        .collect();
    let stamps = ts
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_series()
        .with_name("timestamp".into());
    t.with_column(stamps.into_column()).unwrap();
    let part = read_parquet(
        &write(dir.path(), "far.parquet", &mut t),
        FILE,
        &Projection::all(),
        &NoProgress,
    )
    .unwrap();
    assert!(!part.rejected.is_empty());
    let first = &part.rejected[0];
    assert_eq!(
        (first.file.as_str(), first.field.as_str()),
        (FILE, "timestamp")
    );
    assert!(first.line <= 8, "{first:?}");
    assert_eq!(part.read, 50);
}

#[test]
fn rows_the_columnar_path_declines_keep_their_place_and_their_quarantine_record() {
    let dir = tempfile::tempdir().unwrap();
    let df = demo_frame(dir.path()).head(Some(400));
    let mut bad = df.clone();
    // An exposure's bucket out of range and a track without its event name.
    let kinds = df.column("type").unwrap().str().unwrap().clone();
    let first = |k: &str, from: usize| {
        (from..df.height())
            .find(|&r| kinds.get(r) == Some(k))
            .unwrap()
    };
    let (x, t) = (first("exposure", 10), first("track", 30));
    let bucket: Int64Chunked = bad
        .column("bucket")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(r, v)| if r == x { Some(-1) } else { v })
        .collect();
    bad.with_column(bucket.with_name("bucket".into()).into_column())
        .unwrap();
    let event: StringChunked = bad
        .column("event")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(r, v)| if r == t { Some("") } else { v })
        .collect();
    bad.with_column(event.with_name("event".into()).into_column())
        .unwrap();
    let part = read_parquet(
        &write(dir.path(), "bad.parquet", &mut bad),
        FILE,
        &Projection::all(),
        &NoProgress,
    )
    .unwrap();
    let named: Vec<(u64, &str)> = part
        .rejected
        .iter()
        .map(|r| (r.line, r.field.as_str()))
        .collect();
    assert_eq!(
        named,
        [(x as u64 + 1, "layers[0].bucket"), (t as u64 + 1, "event")]
    );
    assert_eq!(part.rejected[0].record["bucket"], serde_json::json!(-1));
    assert_eq!(part.rejected[0].file, FILE);
    // The rest loads as the clean file without those two rows.
    let keep: BooleanChunked = (0..df.height()).map(|r| Some(r != x && r != t)).collect();
    let mut clean = df.filter(&keep).unwrap();
    let expected = read_parquet(
        &write(dir.path(), "clean.parquet", &mut clean),
        FILE,
        &Projection::all(),
        &NoProgress,
    )
    .unwrap();
    let got = tables(part);
    let want = tables(expected);
    assert_same_but_source_lines(&got, &want);
}

/// As [`assert_same`], but for the tracks' `source_line`, which counts the removed
/// rows in one file and not in the other.
fn assert_same_but_source_lines(a: &EventTables, b: &EventTables) {
    let strip = |t: &EventTables| EventTables {
        tracks: t.tracks.drop("source_line").unwrap(),
        ..t.clone()
    };
    assert_same(&strip(a), &strip(b));
}

/// `tables` without the columns `keep` leaves out, selected by hand.
fn narrowed(tables: &EventTables, keep: &Projection) -> EventTables {
    let pick = |df: &DataFrame, keeps: &dyn Fn(&str) -> bool| {
        let names: Vec<PlSmallStr> = df
            .get_column_names()
            .into_iter()
            .filter(|n| keeps(n.as_str()))
            .cloned()
            .collect();
        df.select(names).unwrap()
    };
    EventTables {
        exposures: pick(&tables.exposures, &|n| keep.keeps_exposure(n)),
        tracks: pick(&tables.tracks, &|n| keep.keeps_track(n)),
        attributions: tables.attributions.clone(),
    }
}

#[test]
fn a_projected_load_validates_every_column_and_keeps_only_its_own() {
    use crate::events::{load_events, load_events_projected, LoadOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut df = demo_frame(dir.path());
    // A number in a text column the projection leaves out: its row is still
    // quarantined, by its row and field, and kept out of the tables.
    let mut ints: Vec<Option<i64>> = vec![None; df.height()];
    ints[11] = Some(3);
    df.with_column(Series::new("orgId".into(), ints).into_column())
        .unwrap();
    let parquet = write(dir.path(), "bad.parquet", &mut df);
    let ndjson = std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/demo/events.ndjson"
    ));
    let paths = [parquet, ndjson];
    let keep = Projection::run(false, true);
    let whole = load_events(&paths, LoadOptions::default()).unwrap();
    let projected =
        load_events_projected(&paths, LoadOptions::default(), &keep, &NoProgress).unwrap();
    assert_eq!(projected.report, whole.report);
    assert_eq!(projected.rejected, whole.rejected);
    assert!(
        whole
            .rejected
            .iter()
            .any(|r| r.line == 12 && r.field == "orgId"),
        "{:?}",
        whole.rejected.first()
    );
    assert!(projected.tables.exposures.column("org_id").is_err());
    assert!(projected.tables.tracks.column("env").is_err());
    assert_same(&projected.tables, &narrowed(&whole.tables, &keep));
}
