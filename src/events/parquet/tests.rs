//! The columnar reader against the reader it replaced: same accepted events, warnings,
//! rejected rows (field, reason, record) and tables, on the demo log and on rows
//! malformed in every way a flat file can be, in the canonical column types and in
//! others.

use polars::prelude::*;
use rayon::prelude::*;
use serde_json::Value;

use super::{
    batches, decode_apart, read_parquet, read_parquet_in, read_rows, unvalued_columns, Columns,
};
use crate::error::{Error, Result};
use crate::events::cells::{PROPERTIES, SESSION_ID, USER_ID};
use crate::events::flat::header_indices;
use crate::events::flat::{self, FLAT_COLUMNS};
use crate::events::model::Event;
use crate::events::part::{Part, CHUNK_LINES};
use crate::events::projection::Projection;
use crate::events::table::finish_all;
use crate::events::write::text_layout;
use crate::events::{fast, write_events};
use crate::progress::{NoProgress, Progress};

/// The reader before the columnar one (kept verbatim as the oracle): every cell of
/// every column converted to a JSON value up front, every row through the slow path.
fn parquet_cells(file: &str, s: &Series, i: usize) -> Result<Vec<Option<Value>>> {
    let (name, _, cell) = FLAT_COLUMNS[i];
    let bad = |reason: String| Error::InvalidEventFile {
        file: file.to_owned(),
        reason: format!("column \"{name}\": {reason}"),
    };
    let dtype = s.dtype();
    let out = if dtype.is_integer() {
        let s = s.cast(&DataType::Int64).map_err(|e| bad(e.to_string()))?;
        s.i64()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(|v| v.map(|x| Value::Number(x.into())))
            .collect()
    } else if dtype.is_float() {
        let s = s.cast(&DataType::Float64).map_err(|e| bad(e.to_string()))?;
        s.f64()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(|v| {
                v.map(|x| {
                    serde_json::Number::from_f64(x)
                        .map_or_else(|| Value::String(x.to_string()), Value::Number)
                })
            })
            .collect()
    } else if dtype == &DataType::Boolean {
        s.bool()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(|v| v.map(Value::Bool))
            .collect()
    } else if dtype == &DataType::String {
        let ca = s.str().map_err(|e| bad(e.to_string()))?;
        let mut out = Vec::with_capacity(ca.len());
        for v in ca.iter() {
            out.push(match v {
                None | Some("") => None,
                Some(text) => match cell {
                    flat::Cell::Json => Some(Value::String(text.to_owned())),
                    _ => flat::text_cell(i, text).ok().flatten(),
                },
            });
        }
        out
    } else if dtype == &DataType::Null {
        vec![None; s.len()]
    } else {
        return Err(bad(format!(
            "unsupported parquet type {dtype}: use strings, integers, floats, booleans or timestamps (nested values as JSON text)"
        )));
    };
    Ok(out)
}

/// The oracle's row loop (the old `read_parquet` after reading the frame).
fn reference_rows(df: &DataFrame, file: &str, progress: &dyn Progress) -> Result<Part> {
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    let indices = header_indices(file, names.iter().copied())?;
    let mut columns = Vec::with_capacity(indices.len());
    for (c, &i) in df.columns().iter().zip(&indices) {
        columns.push((i, parquet_cells(file, c.as_materialized_series(), i)?));
    }
    let height = df.height();
    progress.start(file, height as u64);
    let rows: Vec<usize> = (0..height).collect();
    let parts = rows
        .par_chunks(CHUNK_LINES)
        .map(|chunk| {
            let mut part = Part::default();
            for &r in chunk {
                let cells = columns
                    .iter()
                    .filter_map(|(i, col)| col[r].clone().map(|v| (*i, v)));
                let raw = || {
                    Value::Object(
                        columns
                            .iter()
                            .map(|(i, col)| {
                                (
                                    FLAT_COLUMNS[*i].0.to_owned(),
                                    col[r].clone().unwrap_or(Value::Null),
                                )
                            })
                            .collect(),
                    )
                };
                let parsed = cells
                    .map(|(i, v)| match (FLAT_COLUMNS[i].2, v) {
                        (flat::Cell::Json, Value::String(text)) => {
                            flat::text_cell(i, &text).map(|v| (i, v.unwrap_or(Value::Null)))
                        }
                        (_, v) => Ok((i, v)),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .and_then(flat::row_to_json);
                part.accept(file, r as u64 + 1, raw, parsed);
            }
            progress.advance(chunk.len() as u64);
            part
        })
        .collect::<Vec<Part>>();
    Ok(Part::concat(parts))
}

const FILE: &str = "events.parquet";

/// A whole frame through the new reader, as one batch.
fn new_rows(df: &DataFrame, file: &str, progress: &dyn Progress) -> Result<Part> {
    let columns = Columns::of(file, df)?;
    progress.start(file, df.height() as u64);
    read_rows(&columns, df.height(), 0, file, &Projection::all(), progress)
}

/// A file read whole, as the old reader did.
fn read_frame(path: &std::path::Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

/// Asserts that two loads are the same, tables included.
fn assert_same_parts(new: Part, old: Part) {
    assert_eq!(new.read, old.read, "rows read");
    assert_eq!(new.by_type, old.by_type, "accepted per type");
    assert_eq!(new.warnings, old.warnings, "warnings");
    assert_eq!(new.rejected, old.rejected, "rejected rows");
    let (new, old) = (
        finish_all(new.tables, &Projection::all()).unwrap(),
        finish_all(old.tables, &Projection::all()).unwrap(),
    );
    for (name, a, b) in [
        ("exposures", &new.exposures, &old.exposures),
        ("tracks", &new.tracks, &old.tracks),
        ("attributions", &new.attributions, &old.attributions),
    ] {
        assert_eq!(a.schema(), b.schema(), "{name} schema");
        assert!(a.equals_missing(b), "{name}:\n{a}\n{b}");
    }
}

/// Rows of `df` the fast path takes; each must be the slow path's event exactly.
fn fast_rows(df: &DataFrame) -> usize {
    let columns = Columns::of(FILE, df).unwrap().window(0, df.height());
    let mut fast = 0;
    for r in 0..df.height() {
        if let Some(f) = columns.fast_event(r).and_then(fast::accept) {
            fast += 1;
            let slow = columns
                .slow_row(r)
                .map_err(|(field, reason)| crate::events::RecordError { field, reason })
                .and_then(Event::from_json);
            assert_eq!(Ok(&f), slow.as_ref(), "row {}", r + 1);
        }
    }
    fast
}

/// The new and the old reader on one frame: the same result, or the same error.
/// Returns the rows read and the rows the fast path took.
fn agree(df: &DataFrame) -> (u64, usize) {
    match (
        new_rows(df, FILE, &NoProgress),
        reference_rows(df, FILE, &NoProgress),
    ) {
        (Ok(new), Ok(old)) => {
            let read = new.read;
            assert_same_parts(new, old);
            (read, fast_rows(df))
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string());
            (0, 0)
        }
        (a, b) => panic!(
            "one reader failed: new {:?}, old {:?}",
            a.err().map(|e| e.to_string()),
            b.err().map(|e| e.to_string())
        ),
    }
}

/// A cell of a test frame.
#[derive(Clone, Copy, Debug)]
enum V {
    S(&'static str),
    I(i64),
    F(f64),
    B(bool),
}

/// The type `write_events` gives a flat column.
fn canonical(name: &str) -> DataType {
    match name {
        "bucket" | "latencyMs" => DataType::Int64,
        "probability" | "value" => DataType::Float64,
        "attributionOnly" => DataType::Boolean,
        _ => DataType::String,
    }
}

/// A frame of every flat column, in the canonical types except `types` (the last
/// of a name wins); a row's cells not named are null.
fn frame(types: &[(&str, DataType)], rows: &[Vec<(&str, V)>]) -> DataFrame {
    let columns = FLAT_COLUMNS
        .iter()
        .map(|&(name, _, _)| {
            let dtype = types
                .iter()
                .rev()
                .find(|t| t.0 == name)
                .map_or_else(|| canonical(name), |t| t.1.clone());
            let cells: Vec<Option<V>> = rows
                .iter()
                .map(|r| r.iter().rev().find(|c| c.0 == name).map(|c| c.1))
                .collect();
            let pick = |f: fn(V) -> bool| {
                assert!(
                    cells.iter().flatten().all(|&v| f(v)),
                    "column {name}: cells of another type than {dtype}: {cells:?}"
                );
            };
            let series = if dtype == DataType::Null {
                pick(|_| false);
                Series::full_null(name.into(), rows.len(), &DataType::Null)
            } else if dtype == DataType::String {
                pick(|v| matches!(v, V::S(_)));
                let c: Vec<Option<&str>> = cells
                    .iter()
                    .map(|c| c.map(|v| if let V::S(s) = v { s } else { "" }))
                    .collect();
                Series::new(name.into(), c)
            } else if dtype == DataType::Boolean {
                pick(|v| matches!(v, V::B(_)));
                let c: Vec<Option<bool>> = cells
                    .iter()
                    .map(|c| c.map(|v| matches!(v, V::B(true))))
                    .collect();
                Series::new(name.into(), c)
            } else if dtype.is_float() {
                pick(|v| matches!(v, V::F(_)));
                let c: Vec<Option<f64>> = cells
                    .iter()
                    .map(|c| c.map(|v| if let V::F(x) = v { x } else { 0.0 }))
                    .collect();
                Series::new(name.into(), c).cast(&dtype).unwrap()
            } else {
                pick(|v| matches!(v, V::I(_)));
                let c: Vec<Option<i64>> = cells
                    .iter()
                    .map(|c| c.map(|v| if let V::I(x) = v { x } else { 0 }))
                    .collect();
                Series::new(name.into(), c).cast(&dtype).unwrap()
            };
            Column::from(series)
        })
        .collect();
    DataFrame::new_infer_height(columns).unwrap()
}

const TS: V = V::S("2026-05-21T10:30:00Z");

/// An exposure in the canonical shape, with `over` replacing or adding cells.
fn exposure(over: &[(&'static str, V)]) -> Vec<(&'static str, V)> {
    let mut row = vec![
        ("type", V::S("exposure")),
        ("id", V::S("e1")),
        ("orgId", V::S("o")),
        ("projectId", V::S("p")),
        ("env", V::S("e")),
        ("unitKey", V::S("u")),
        ("sessionId", V::S("s")),
        ("timestamp", TS),
        ("decisionId", V::S("d")),
        ("context", V::S(r#"{"device":"mobile","visits":[1,2]}"#)),
        ("assignments", V::S(r#"{"k":1}"#)),
        ("layerId", V::S("l")),
        ("bucket", V::I(7420)),
        ("policyId", V::S("p")),
        ("allocationName", V::S("a")),
        ("probability", V::F(0.25)),
    ];
    row.extend_from_slice(over);
    row
}

fn decision(over: &[(&'static str, V)]) -> Vec<(&'static str, V)> {
    let mut row = exposure(&[
        ("type", V::S("decision")),
        ("requestedParameters", V::S(r#"["k"]"#)),
        ("latencyMs", V::I(3)),
    ]);
    row.extend_from_slice(over);
    row
}

fn track(over: &[(&'static str, V)]) -> Vec<(&'static str, V)> {
    let mut row = vec![
        ("type", V::S("track")),
        ("orgId", V::S("o")),
        ("unitKey", V::S("u")),
        ("timestamp", V::S("2026-05-22T10:30:00.123Z")),
        ("event", V::S("purchase")),
        ("value", V::F(12.5)),
        ("values", V::S(r#"{"items":3,"tax":1.5}"#)),
        ("properties", V::S(r#"{"p":null}"#)),
        (
            "attribution",
            V::S(
                r#"[{"layerId":"l","policyId":"p","allocationName":"a","weight":0.5,"model":"linear"}]"#,
            ),
        ),
    ];
    row.extend_from_slice(over);
    row
}

/// A test row: cells by column name (the last of a name wins).
type Row = Vec<(&'static str, V)>;

fn without(row: Row, names: &[&str]) -> Row {
    row.into_iter().filter(|c| !names.contains(&c.0)).collect()
}

#[test]
fn the_demo_log_loads_as_before_and_every_row_takes_the_fast_path() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/datasets/demo/events.ndjson"
    ))
    .unwrap();
    let events: Vec<Event> = text
        .lines()
        .filter_map(|l| Event::from_json_str(l).ok().map(|(e, _)| e))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    write_events(&events, &path).unwrap();
    // The file's timestamps are typed; the reader it replaced read them as text.
    let new = read_parquet(&path, FILE, &Projection::all(), &NoProgress).unwrap();
    let df = text_layout(read_frame(&path));
    let old = reference_rows(&df, FILE, &NoProgress).unwrap();
    assert!(new.rejected.is_empty() && new.read > 3700, "{}", new.read);
    assert_same_parts(new, old);
    assert_eq!(fast_rows(&df), df.height());
}

#[test]
fn windows_across_the_files_chunks_read_every_row_once_in_order() {
    // Unaligned chunks (as row groups give), with rows over several windows: a
    // window spanning two chunks is read as one.
    let rows: Vec<Row> = (0..1000)
        .flat_map(|_| [exposure(&[]), track(&[]), exposure(&[("bucket", V::I(-1))])])
        .collect();
    let part = frame(&[], &rows);
    let mut df = part.clone();
    for k in 0..12 {
        // Vary a cell so that a row read from the wrong place would show.
        let mut p = part.clone();
        p.with_column(Series::new("sessionId".into(), vec![format!("s{k}"); p.height()]).into())
            .unwrap();
        df.vstack_mut(&p).unwrap();
    }
    assert!(df.first_col_n_chunks() > 2 && df.height() > 2 * CHUNK_LINES);
    let (read, fast) = agree(&df);
    assert_eq!(read, df.height() as u64);
    assert_eq!(fast, df.height() / 3 * 2);
}

#[test]
fn malformed_rows_in_the_canonical_types_are_refused_as_before() {
    let rows = vec![
        exposure(&[]),
        decision(&[]),
        track(&[]),
        track(&[("eventTimestamp", TS), ("value", V::F(-0.0))]),
        exposure(&[
            ("attributionOnly", V::B(true)),
            ("layerUnitKey", V::S("deviceId")),
        ]),
        exposure(&[
            ("orgId", V::S("")),
            ("decisionId", V::S("")),
            ("assignments", V::S("")),
        ]),
        exposure(&[("timestamp", V::S("21/05/2026"))]),
        exposure(&[("timestamp", V::S(""))]),
        track(&[("eventTimestamp", V::S("soon"))]),
        exposure(&[("unitKey", V::S(""))]),
        track(&[("unitKey", V::S(""))]),
        exposure(&[("bucket", V::I(-1))]),
        exposure(&[("bucket", V::I(1 << 32))]),
        exposure(&[("bucket", V::I((1 << 32) - 1))]),
        exposure(&[("probability", V::F(0.0))]),
        exposure(&[("probability", V::F(1.5))]),
        exposure(&[("probability", V::F(f64::NAN))]),
        exposure(&[("probability", V::F(f64::INFINITY))]),
        exposure(&[("layerId", V::S(""))]),
        track(&[("value", V::F(f64::NAN))]),
        // Fields the event's type ignores: a NaN is harmless, JSON text must parse.
        exposure(&[("value", V::F(f64::NAN)), ("event", V::S(""))]),
        exposure(&[("properties", V::S("{bad"))]),
        exposure(&[("values", V::S(r#"{"a":"x"}"#))]),
        exposure(&[
            ("requestedParameters", V::S("[1]")),
            ("latencyMs", V::I(-4)),
        ]),
        exposure(&[("requestedParameters", V::S("nope"))]),
        track(&[("assignments", V::S("{"))]),
        track(&[
            ("layerId", V::S("l")),
            ("bucket", V::I(-5)),
            ("probability", V::F(9.0)),
        ]),
        exposure(&[("context", V::S("{bad"))]),
        exposure(&[("context", V::S("[1]"))]),
        exposure(&[("context", V::S("null"))]),
        exposure(&[("context", V::S("  "))]),
        exposure(&[("assignments", V::S("3"))]),
        decision(&[("requestedParameters", V::S("[1]"))]),
        decision(&[("requestedParameters", V::S("[null]"))]),
        decision(&[("latencyMs", V::I(i64::MIN))]),
        track(&[("values", V::S(r#"{"a":"1"}"#))]),
        track(&[("values", V::S(r#"{"a":1e400}"#))]),
        track(&[("values", V::S(r#"{"a":1,"a":2}"#))]),
        track(&[(
            "attribution",
            V::S(r#"[{"layerId":"l","policyId":"p","allocationName":"a","weight":1.5}]"#),
        )]),
        track(&[(
            "attribution",
            V::S(r#"[{"layerId":"l","policyId":"p","allocationName":"a","model":"u_shaped"}]"#),
        )]),
        track(&[(
            "attribution",
            V::S(r#"[{"policyId":"p","allocationName":"a"}]"#),
        )]),
        track(&[("attribution", V::S(r#"{"layerId":"l"}"#))]),
        track(&[("properties", V::S(r#"{"nested":{"deep":[1,{"x":null}]}}"#))]),
        exposure(&[("type", V::S("click"))]),
        exposure(&[("type", V::S(""))]),
        track(&[("event", V::S(""))]),
        // An exposure without any layer cell has no layers at all.
        vec![
            ("type", V::S("exposure")),
            ("unitKey", V::S("u")),
            ("timestamp", TS),
        ],
    ];
    let df = frame(&[], &rows);
    let (read, fast) = agree(&df);
    assert_eq!(read, rows.len() as u64);
    // The valid rows in the canonical shape take the fast path.
    assert!(fast >= 6, "{fast}");
    // And through a file, as users load them.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df.clone())
        .unwrap();
    let old = reference_rows(&read_frame(&path), FILE, &NoProgress).unwrap();
    assert_same_parts(
        read_parquet(&path, FILE, &Projection::all(), &NoProgress).unwrap(),
        old,
    );
}

#[test]
fn columns_of_other_types_are_read_as_before() {
    let i64s = DataType::Int64;
    // (column types other than the canonical ones, rows)
    type Case = (Vec<(&'static str, DataType)>, Vec<Row>);
    let cases: Vec<Case> = vec![
        (
            vec![("bucket", DataType::String)],
            ["7", "-1", "3.0", "abc", "", "+8", "99999999999"]
                .iter()
                .map(|&b| exposure(&[("bucket", V::S(b))]))
                .chain([track(&[("bucket", V::S("x"))])])
                .collect(),
        ),
        (
            vec![("unitKey", i64s.clone())],
            vec![
                exposure(&[("unitKey", V::I(5))]),
                track(&[("unitKey", V::I(5))]),
            ],
        ),
        (
            vec![("probability", i64s.clone())],
            [1, 0, 2]
                .iter()
                .map(|&p| exposure(&[("probability", V::I(p))]))
                .collect(),
        ),
        (
            vec![
                ("probability", DataType::Float32),
                ("bucket", DataType::UInt32),
            ],
            vec![exposure(&[("probability", V::F(0.1))]), exposure(&[])],
        ),
        (
            vec![("bucket", DataType::Int32), ("latencyMs", DataType::UInt64)],
            vec![
                exposure(&[("bucket", V::I(-3))]),
                decision(&[("latencyMs", V::I(7))]),
            ],
        ),
        (
            vec![("bucket", DataType::Float64)],
            vec![
                exposure(&[("bucket", V::F(3.0))]),
                track(&[("bucket", V::F(f64::NAN))]),
            ],
        ),
        (
            vec![("attributionOnly", DataType::String)],
            ["true", "yes", "0", "TRUE"]
                .iter()
                .map(|&b| exposure(&[("attributionOnly", V::S(b))]))
                .collect(),
        ),
        (
            vec![("attributionOnly", i64s.clone())],
            vec![exposure(&[("attributionOnly", V::I(1))])],
        ),
        (
            vec![("value", i64s.clone()), ("latencyMs", DataType::Float64)],
            vec![
                track(&[("value", V::I(3))]),
                decision(&[("latencyMs", V::F(3.0))]),
                decision(&[("latencyMs", V::F(3.5))]),
                exposure(&[("latencyMs", V::F(f64::NAN))]),
            ],
        ),
        (
            vec![
                ("value", DataType::String),
                ("probability", DataType::String),
            ],
            vec![
                track(&[("value", V::S("12"))]),
                track(&[("value", V::S("NaN"))]),
                exposure(&[("probability", V::S("0.5"))]),
                exposure(&[("probability", V::S("abc"))]),
            ],
        ),
        (
            vec![("context", i64s.clone()), ("properties", DataType::Float64)],
            vec![
                exposure(&[("context", V::I(1))]),
                without(exposure(&[("properties", V::F(f64::NAN))]), &["context"]),
                without(exposure(&[("properties", V::F(2.0))]), &["context"]),
                track(&[("properties", V::F(2.0))]),
            ],
        ),
        (
            vec![("event", DataType::Boolean), ("userId", DataType::Float64)],
            vec![
                track(&[("event", V::B(true))]),
                exposure(&[("event", V::B(true))]),
                exposure(&[("userId", V::F(f64::NAN))]),
            ],
        ),
        (
            vec![("env", DataType::Null), ("timestamp", i64s.clone())],
            vec![
                without(exposure(&[]), &["env", "timestamp"]),
                without(track(&[]), &["timestamp"]),
            ]
            .into_iter()
            .map(|mut r| {
                r.push(("timestamp", V::I(1_779_359_400_000)));
                r
            })
            .collect(),
        ),
        (
            vec![("type", DataType::Boolean)],
            vec![{
                let mut r = without(exposure(&[]), &["type"]);
                r.push(("type", V::B(true)));
                r
            }],
        ),
    ];
    for (types, rows) in &cases {
        let (read, _) = agree(&frame(types, rows));
        assert_eq!(read, rows.len() as u64, "{types:?}");
    }
}

#[test]
fn whole_file_errors_are_the_same() {
    let df = frame(&[], &[exposure(&[])]);
    // A date column, then an unknown one: the first bad column in file order is named.
    let mut dated = df.clone();
    dated
        .with_column(
            Series::new("timestamp".into(), [1i32])
                .cast(&DataType::Date)
                .unwrap()
                .into(),
        )
        .unwrap();
    let mut unknown = df.clone();
    unknown
        .with_column(Series::new("unitkey".into(), ["u"]).into())
        .unwrap();
    for df in [dated, unknown] {
        let err = new_rows(&df, FILE, &NoProgress).err().unwrap().to_string();
        assert!(err.contains("column") && err.contains(FILE), "{err}");
        assert_eq!(agree(&df), (0, 0));
    }
}

#[test]
fn batches_are_whole_row_groups_of_at_least_the_batch_size() {
    let b = |groups: &[usize]| -> Vec<(usize, usize, std::ops::Range<usize>)> {
        batches(groups, 8)
            .into_iter()
            .map(|b| (b.start, b.len, b.groups))
            .collect()
    };
    assert_eq!(b(&[]), [(0, 0, 0..0)]);
    assert_eq!(b(&[0]), [(0, 0, 0..1)]);
    assert_eq!(
        b(&[4, 4, 4, 4, 3]),
        [(0, 8, 0..2), (8, 8, 2..4), (16, 3, 4..5)]
    );
    assert_eq!(b(&[20, 1, 9]), [(0, 20, 0..1), (20, 10, 1..3)]);
}

/// `rows` written to a parquet file in `dir` in row groups of 128 rows.
fn in_row_groups_of_128(rows: &[Row], dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join(FILE);
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .with_row_group_size(Some(128))
        .finish(&mut frame(&[], rows))
        .unwrap();
    path
}

#[test]
fn a_file_read_in_batches_of_row_groups_loads_as_before() {
    let one = [
        exposure(&[]),
        decision(&[]),
        track(&[]),
        exposure(&[("bucket", V::I(-1))]),
        track(&[("event", V::S(""))]),
        exposure(&[("context", V::S("{bad"))]),
        track(&[("value", V::F(f64::NAN))]),
    ];
    let rows: Vec<Row> = (0..300).flat_map(|_| one.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = in_row_groups_of_128(&rows, dir.path());
    let old = reference_rows(&read_frame(&path), FILE, &NoProgress).unwrap();
    assert_eq!(old.read, rows.len() as u64);
    // Batches of three row groups, not a multiple of the rows' period.
    assert_same_parts(
        read_parquet_in(&path, FILE, &Projection::all(), &NoProgress, 300).unwrap(),
        old,
    );
}

#[test]
fn columns_decoded_apart_are_null_columns_only_when_they_have_no_value() {
    // `properties` has a value one row in four, `userId` never: decoded apart (as a
    // writer whose statistics said both were empty would have them), only `userId`
    // stands as a null column, and the load is the same as the whole file's.
    let one = [
        track(&[("properties", V::S(r#"{"sku":"a"}"#))]),
        track(&[]),
        exposure(&[]),
        track(&[("properties", V::S("{bad"))]),
    ];
    let rows: Vec<Row> = (0..100).flat_map(|_| one.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = in_row_groups_of_128(&rows, dir.path());
    let open = || Ok(std::fs::File::open(&path).unwrap());
    let metadata = ParquetReader::new(open().unwrap())
        .get_metadata()
        .unwrap()
        .clone();
    let groups: Vec<usize> = metadata.row_groups.iter().map(|g| g.num_rows()).collect();
    let batch = &batches(&groups, 1000)[0];
    assert_eq!(batch.len, rows.len());
    // The writer's statistics show `userId` empty and `properties` not.
    let hinted = unvalued_columns(&metadata, batch);
    assert!(hinted.contains(&USER_ID), "{hinted:?}");
    assert!(!hinted.contains(&PROPERTIES), "{hinted:?}");
    let Ok(df) = decode_apart(&open, &metadata, batch, &[SESSION_ID, PROPERTIES, USER_ID]) else {
        panic!("decodes");
    };
    let whole = read_frame(&path);
    assert!(df.equals_missing(&whole), "{df}\n{whole}");
    assert!(matches!(df.columns()[USER_ID], Column::Scalar(_)));
    assert!(!matches!(df.columns()[PROPERTIES], Column::Scalar(_)));
    let old = reference_rows(&whole, FILE, &NoProgress).unwrap();
    assert_eq!(old.rejected.len(), 100, "the bad properties are refused");
    assert_same_parts(new_rows(&df, FILE, &NoProgress).unwrap(), old);
    // Every column apart, none left for the rest.
    let all: Vec<usize> = (0..whole.width()).collect();
    let Ok(apart) = decode_apart(&open, &metadata, batch, &all) else {
        panic!("decodes");
    };
    assert!(apart.equals_missing(&whole));
}

#[test]
fn a_file_without_rows_still_has_its_columns_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let mut df = frame(&[], &[]);
    df.with_column(Series::new("unitkey".into(), Vec::<&str>::new()).into())
        .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let new = read_parquet(&path, FILE, &Projection::all(), &NoProgress)
        .err()
        .unwrap();
    let old = reference_rows(&read_frame(&path), FILE, &NoProgress)
        .err()
        .unwrap();
    assert_eq!(new.to_string(), old.to_string());
    assert!(
        new.to_string().contains("did you mean \"unitKey\""),
        "{new}"
    );
    let mut df = frame(&[], &[]);
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(&mut df)
        .unwrap();
    let new = read_parquet(&path, FILE, &Projection::all(), &NoProgress).unwrap();
    assert_same_parts(
        new,
        reference_rows(&read_frame(&path), FILE, &NoProgress).unwrap(),
    );
}

/// Cells a column of each type may hold in the property test: valid values, values of
/// the wrong kind, out-of-range numbers, JSON text of every shape.
fn pool(dtype: &DataType) -> Vec<V> {
    match dtype {
        DataType::Int64 => [-1, 0, 1, 7, 1 << 32, i64::MIN].map(V::I).to_vec(),
        DataType::Float64 => [
            0.0,
            0.5,
            1.0,
            1.5,
            f64::NAN,
            f64::INFINITY,
            -0.0,
            3.0,
            1e300,
        ]
        .map(V::F)
        .to_vec(),
        DataType::Boolean => vec![V::B(true), V::B(false)],
        _ => [
            "u",
            "",
            "exposure",
            "track",
            "decision",
            "click",
            "2026-05-21T10:30:00Z",
            "2026-05-21T10:30:00+02:00",
            "bad",
            "7",
            "-1",
            "1.5",
            "NaN",
            "true",
            "yes",
            r#"{"a":1}"#,
            "null",
            "[1]",
            "{bad",
            r#"["x"]"#,
            r#"{"a":"1"}"#,
            r#"[{"layerId":"l","policyId":"p","allocationName":"a","weight":0.5}]"#,
            r#"[{"layerId":"l","policyId":"p","allocationName":"a","weight":2}]"#,
        ]
        .map(V::S)
        .to_vec(),
    }
}

fn fits(v: V, dtype: &DataType) -> bool {
    matches!(
        (v, dtype),
        (V::S(_), DataType::String)
            | (V::I(_), DataType::Int64)
            | (V::F(_), DataType::Float64)
            | (V::B(_), DataType::Boolean)
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any frame of flat columns: valid rows of each type with a few cells replaced,
    /// some columns of another type. The new reader agrees with the old one.
    #[test]
    fn any_frame_loads_as_before(
        retyped in proptest::collection::vec((0..FLAT_COLUMNS.len(), 0usize..5), 0..4),
        rows in proptest::collection::vec(
            (0usize..3, proptest::collection::vec((0..FLAT_COLUMNS.len(), 0usize..32), 0..4)),
            1..24,
        ),
    ) {
        let kinds = [DataType::String, DataType::Int64, DataType::Float64, DataType::Boolean, DataType::Null];
        let types: Vec<(&str, DataType)> = retyped
            .iter()
            .map(|&(c, k)| (FLAT_COLUMNS[c].0, kinds[k].clone()))
            .collect();
        let dtype = |name: &str| {
            types.iter().rev().find(|t| t.0 == name).map_or_else(|| canonical(name), |t| t.1.clone())
        };
        let rows: Vec<Row> = rows
            .iter()
            .enumerate()
            .map(|(r, (kind, changes))| {
                let mut row = [exposure, decision, track][*kind](&[]);
                for &(c, k) in changes {
                    let name = FLAT_COLUMNS[c].0;
                    let p = pool(&dtype(name));
                    row.retain(|cell| cell.0 != name);
                    if k < p.len() && dtype(name) != DataType::Null {
                        row.push((name, p[k]));
                    }
                }
                // Cells the retyped columns cannot hold become cells of their type.
                row.into_iter()
                    .filter_map(|(name, v)| {
                        let t = dtype(name);
                        if fits(v, &t) {
                            Some((name, v))
                        } else if t == DataType::Null {
                            None
                        } else {
                            let p = pool(&t);
                            Some((name, p[r % p.len()]))
                        }
                    })
                    .collect()
            })
            .collect();
        let (read, _) = agree(&frame(&types, &rows));
        proptest::prop_assert_eq!(read, rows.len() as u64);
    }
}

#[test]
fn a_file_that_is_not_parquet_is_refused_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    for bytes in [
        &b""[..],
        b"type,unitKey\ntrack,u\n",
        b"PAR1\x00\x00\x00\x00PAR1",
    ] {
        std::fs::write(&path, bytes).unwrap();
        let old = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap_err();
        let new = read_parquet(&path, FILE, &Projection::all(), &NoProgress)
            .err()
            .unwrap();
        assert_eq!(
            new.to_string(),
            Error::InvalidEventFile {
                file: FILE.into(),
                reason: format!("not a readable parquet file: {old}"),
            }
            .to_string()
        );
    }
}
