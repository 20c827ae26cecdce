//! The columnar path of the parquet reader: a window of rows validated a column at a
//! time, and the tables of the rows it accepts cut straight from the file's arrays.
//!
//! Building an event per row (owned strings, then columns of owned strings, then
//! arrow arrays again) was most of a load's time and memory. Here each rule of
//! [`fast::accept`] is one pass over one column, marking the rows it declines; the
//! accepted rows' string columns are the file's own arrow string views, filtered
//! (views share the decoded bytes; nothing is copied per string), with empty strings
//! made null as the flat format reads them. Only timestamps, buckets, numbers and the
//! JSON fields the tables keep as canonical text are computed per row.
//!
//! A row this path declines takes the row path of `super::cells` (the typed
//! [`fast::accept`] and, failing that, the slow path that words the quarantine
//! record with its file, row and field), so the rules and messages keep one source.
//! This path only has to accept a subset of what the row path accepts, with the same
//! event: the reader tests compare whole loads against the reader it replaced. The
//! row path's events are then merged in by file row, so the tables are in file order.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::cells::*;
use super::fast;
use super::model::Warning;
use super::part::Part;
use super::projection::{Projection, Table};
use super::table::{Chunk, EventTables, TableBuilder};
use crate::error::Result;
use crate::time::parse_rfc3339;
use rows::{json_column, Rows};

mod rows;

/// Event types as row tags; `BAD` marks a row left to the row path.
const EXPOSURE: u8 = 0;
const DECISION: u8 = 1;
const TRACK: u8 = 2;
const BAD: u8 = u8::MAX;

/// Sets of event types a rule applies to (bit `1 << type`).
const LAYERED: u8 = 1 << EXPOSURE | 1 << DECISION;
const TRACKS: u8 = 1 << TRACK;
const ALL: u8 = LAYERED | TRACKS;

/// The range of timestamps the text form round-trips (years 0000 to 9999): a typed
/// timestamp outside it is left to the row path, which refuses it as text.
const TIME_RANGE: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;

/// What the column passes found per row of a window.
struct Check {
    /// The event type of each row, or [`BAD`].
    kind: Vec<u8>,
    ts: Vec<i64>,
    event_ts: Vec<Option<i64>>,
    bucket: Vec<u32>,
    probability: Vec<Option<f64>>,
    attribution_only: Vec<bool>,
    value: Vec<Option<f64>>,
    missing_assignments: Vec<bool>,
    /// Canonical JSON text of the nested fields the tables keep (`None`: no column).
    context: Option<Vec<Option<String>>>,
    values: Option<Vec<Option<String>>>,
    properties: Option<Vec<Option<String>>>,
}

/// Applies a rule to the cells of column `i` in the rows of types `kinds` that are
/// still accepted; a row whose cell `ok` refuses is left to the row path.
fn each<'a>(
    cols: &'a Columns<Cells>,
    i: usize,
    kinds: u8,
    kind: &mut [u8],
    mut ok: impl FnMut(usize, Raw<'a>) -> bool,
) {
    for (r, k) in kind.iter_mut().enumerate() {
        if *k != BAD && kinds & 1 << *k != 0 && !ok(r, cols.get(i, r)) {
            *k = BAD;
        }
    }
}

/// Whether column `i` can only hold text (or nothing): then a text rule has nothing
/// to check.
fn only_text(cols: &Columns<Cells>, i: usize) -> bool {
    matches!(cols.cells(i), None | Some(Cells::Str(_) | Cells::Null))
}

/// JSON text checked once per distinct text: `f` classifies it (see [`json_kind`]).
/// Hashed with foldhash: SipHash over every row's assignments text was a visible part
/// of a load.
#[derive(Default)]
struct Seen<'a>(HashMap<&'a str, u8, foldhash::fast::FixedState>);

impl<'a> Seen<'a> {
    fn get(&mut self, s: &'a str, f: fn(&str) -> u8) -> u8 {
        *self.0.entry(s).or_insert_with(|| f(s))
    }
}

/// 0: does not parse as `T`; 1: `null`; 2: a value.
fn json_kind<T: DeserializeOwned>(s: &str) -> u8 {
    match serde_json::from_str::<Option<T>>(s) {
        Err(_) => 0,
        Ok(None) => 1,
        Ok(Some(_)) => 2,
    }
}

/// A JSON field that must parse as `T` (or be absent or `null`).
fn json_rule<'a>(
    cols: &'a Columns<Cells>,
    i: usize,
    kinds: u8,
    kind: &mut [u8],
    f: fn(&str) -> u8,
) {
    if matches!(cols.cells(i), None | Some(Cells::Null)) {
        return;
    }
    let mut seen = Seen::default();
    each(cols, i, kinds, kind, |_, raw| match raw {
        Raw::Absent => true,
        Raw::Str(s) => seen.get(s, f) != 0,
        _ => false,
    });
}

/// A JSON field the tables keep: its canonical text per row (as the row path
/// re-serialises the parsed value), `None` when the file has no such column.
fn json_text<T: DeserializeOwned + serde::Serialize>(
    cols: &Columns<Cells>,
    i: usize,
    kinds: u8,
    kind: &mut [u8],
) -> Option<Vec<Option<String>>> {
    if matches!(cols.cells(i), None | Some(Cells::Null)) {
        return None;
    }
    let mut out = vec![None; kind.len()];
    each(cols, i, kinds, kind, |r, raw| match raw {
        Raw::Absent => true,
        Raw::Str(s) => match serde_json::from_str::<Option<T>>(s) {
            Err(_) => false,
            Ok(v) => {
                out[r] = v.map(|v| serde_json::to_string(&v).expect("parsed JSON serialises"));
                true
            }
        },
        _ => false,
    });
    Some(out)
}

/// A number field as [`fast`] reads it: an integer as `f64`, a finite float.
fn number(raw: Raw<'_>) -> Option<Option<f64>> {
    match raw {
        Raw::Absent => Some(None),
        #[allow(clippy::cast_precision_loss)] // serde_json's Number::as_f64 does the same.
        Raw::Int(x) => Some(Some(x as f64)),
        Raw::Float(x) if x.is_finite() => Some(Some(x)),
        _ => None,
    }
}

/// A timestamp field: RFC 3339 text or a typed timestamp (milliseconds).
fn instant(raw: Raw<'_>) -> Option<i64> {
    match raw {
        Raw::Str(s) => parse_rfc3339(s),
        Raw::Time(ms) if TIME_RANGE.contains(&ms) => Some(ms),
        _ => None,
    }
}

impl Check {
    /// Runs every rule of [`fast::accept`] (as `Columns::fast_event` reads the cells)
    /// over the window, a column at a time.
    fn new(cols: &Columns<Cells>, len: usize) -> Self {
        let mut kind: Vec<u8> = (0..len)
            .map(|r| match cols.get(TYPE, r) {
                Raw::Str("exposure") => EXPOSURE,
                Raw::Str("decision") => DECISION,
                Raw::Str("track") => TRACK,
                _ => BAD,
            })
            .collect();
        let k = &mut kind;
        let text = |raw: Raw<'_>| matches!(raw, Raw::Absent | Raw::Str(_));
        for i in [
            ID,
            ORG_ID,
            PROJECT_ID,
            ENV,
            UNIT_KEY,
            USER_ID,
            ANONYMOUS_ID,
            SESSION_ID,
            REQUEST_ID,
            SDK_NAME,
            SDK_VERSION,
            CONFIG_VERSION,
            DECISION_ID,
        ] {
            if !only_text(cols, i) {
                each(cols, i, ALL, k, |_, raw| text(raw));
            }
        }
        each(cols, UNIT_KEY, ALL, k, |_, raw| matches!(raw, Raw::Str(_)));
        let mut ts = vec![0; len];
        // An event too far ahead of the clock is declined here, so the row path
        // quarantines it with its reason (`super::future`).
        let latest = super::future::latest_allowed();
        each(cols, TIMESTAMP, ALL, k, |r, raw| {
            instant(raw)
                .filter(|t| *t <= latest)
                .map(|t| ts[r] = t)
                .is_some()
        });
        let context = json_text::<Map<String, Value>>(cols, CONTEXT, ALL, k);
        let mut c = Self {
            ts,
            event_ts: vec![None; len],
            bucket: vec![0; len],
            probability: vec![None; len],
            attribution_only: vec![false; len],
            value: vec![None; len],
            missing_assignments: vec![false; len],
            context,
            values: None,
            properties: None,
            kind: Vec::new(),
        };
        c.layered(cols, k);
        c.tracks(cols, k);
        c.kind = kind;
        c
    }

    /// The rules of exposures and decisions: their one layer and their own fields.
    fn layered(&mut self, cols: &Columns<Cells>, k: &mut [u8]) {
        let mut seen = Seen::default();
        let missing = &mut self.missing_assignments;
        each(cols, ASSIGNMENTS, LAYERED, k, |r, raw| match raw {
            Raw::Absent => {
                missing[r] = true;
                true
            }
            Raw::Str(s) => match seen.get(s, json_kind::<Map<String, Value>>) {
                0 => false,
                n => {
                    missing[r] = n == 1;
                    true
                }
            },
            _ => false,
        });
        self.layer(cols, k);
        json_rule(
            cols,
            REQUESTED_PARAMETERS,
            1 << DECISION,
            k,
            json_kind::<Vec<String>>,
        );
        json_rule(
            cols,
            REQUESTED_PARAMETERS,
            1 << EXPOSURE,
            k,
            json_kind::<Value>,
        );
        each(cols, LATENCY_MS, 1 << DECISION, k, |_, raw| {
            matches!(raw, Raw::Absent | Raw::Int(_))
        });
        for i in [VALUES, PROPERTIES, ATTRIBUTION] {
            json_rule(cols, i, LAYERED, k, json_kind::<Value>);
        }
    }

    /// The rules of an exposure's or decision's one layer.
    fn layer(&mut self, cols: &Columns<Cells>, k: &mut [u8]) {
        // The row's layer exists when any layer cell does (`flat::row_to_json`).
        for (r, kr) in k.iter_mut().enumerate() {
            if *kr != BAD && LAYERED & 1 << *kr != 0 {
                let any = cols
                    .layer
                    .iter()
                    .any(|&p| !matches!(cols.cols[p].1.get(r), Raw::Absent));
                if !any {
                    *kr = BAD;
                }
            }
        }
        each(cols, LAYER_ID, LAYERED, k, |_, raw| {
            matches!(raw, Raw::Str(_))
        });
        let bucket = &mut self.bucket;
        each(cols, BUCKET, LAYERED, k, |r, raw| match raw {
            Raw::Int(b) => u32::try_from(b).map(|b| bucket[r] = b).is_ok(),
            _ => false,
        });
        for i in [
            POLICY_ID,
            POLICY_KEY,
            ALLOCATION_ID,
            ALLOCATION_NAME,
            ALLOCATION_KEY,
            LAYER_UNIT_KEY,
            LAYER_UNIT_KEY_VALUE,
            MODEL_VERSION,
        ] {
            if !only_text(cols, i) {
                each(cols, i, LAYERED, k, |_, raw| {
                    matches!(raw, Raw::Absent | Raw::Str(_))
                });
            }
        }
        let probability = &mut self.probability;
        each(cols, PROBABILITY, LAYERED, k, |r, raw| match number(raw) {
            Some(Some(p)) if p > 0.0 && p <= 1.0 => {
                probability[r] = Some(p);
                true
            }
            Some(None) => true,
            _ => false,
        });
        let only = &mut self.attribution_only;
        each(cols, ATTRIBUTION_ONLY, LAYERED, k, |r, raw| match raw {
            Raw::Absent => true,
            Raw::Bool(b) => {
                only[r] = b;
                true
            }
            _ => false,
        });
    }

    /// The rules of track events.
    fn tracks(&mut self, cols: &Columns<Cells>, k: &mut [u8]) {
        each(cols, EVENT, TRACKS, k, |_, raw| matches!(raw, Raw::Str(_)));
        let value = &mut self.value;
        each(cols, VALUE, TRACKS, k, |r, raw| {
            number(raw).map(|v| value[r] = v).is_some()
        });
        self.values = json_text::<BTreeMap<String, f64>>(cols, VALUES, TRACKS, k);
        self.properties = json_text::<Map<String, Value>>(cols, PROPERTIES, TRACKS, k);
        // Entries of an SDK-built attribution array become rows of their own table:
        // the row path builds them.
        each(cols, ATTRIBUTION, TRACKS, k, |_, raw| {
            matches!(raw, Raw::Absent)
        });
        let event_ts = &mut self.event_ts;
        each(cols, EVENT_TIMESTAMP, TRACKS, k, |r, raw| match raw {
            Raw::Absent => true,
            raw => instant(raw).map(|t| event_ts[r] = Some(t)).is_some(),
        });
        for i in [ASSIGNMENTS, REQUESTED_PARAMETERS] {
            json_rule(cols, i, TRACKS, k, json_kind::<Value>);
        }
    }
}

/// Reads a window of `len` rows, the first being the file's row `first + 1`.
///
/// # Errors
///
/// [`crate::Error::Polars`] only if polars refuses to filter, stack or gather
/// columns of equal length, which would be a bug.
pub(super) fn read_window(
    cols: &Columns<Cells>,
    first: u64,
    len: usize,
    file: &str,
    keep: &Projection,
) -> Result<Part> {
    let check = Check::new(cols, len);
    let mut slow = Part::keeping(keep);
    let (mut slow_x, mut slow_t) = (Vec::new(), Vec::new());
    for r in (0..len).filter(|&r| check.kind[r] == BAD) {
        let line = first + r as u64 + 1;
        let before = rows_of(&slow);
        match cols.fast_event(r).and_then(fast::accept) {
            Some(ok) => slow.take(file, line, || cols.record(r), Ok(ok)),
            None => slow.accept(file, line, || cols.record(r), cols.slow_row(r)),
        }
        let after = rows_of(&slow);
        slow_x.extend(std::iter::repeat_n(line, after.0 - before.0));
        slow_t.extend(std::iter::repeat_n(line, after.1 - before.1));
    }
    let (fast, fast_x, fast_t) = frames(cols, &check, file, first, keep)?;
    let mut part = Part {
        read: slow.read,
        by_type: slow.by_type,
        warnings: std::mem::take(&mut slow.warnings),
        rejected: std::mem::take(&mut slow.rejected),
        tables: Vec::new(),
        blank: slow.blank,
    };
    count(&mut part, cols, &check);
    let tables = match slow.tables.pop() {
        None => fast,
        Some(Chunk::Rows(b)) => {
            let mut rows = b.finish()?;
            keep.apply(&mut rows.exposures, &mut rows.tracks);
            fast.merge(&fast_x, &fast_t, rows, &slow_x, &slow_t)?
        }
        Some(Chunk::Frames(_)) => unreachable!("the row path builds rows"),
    };
    part.tables.push(Chunk::Frames(tables));
    Ok(part)
}

/// Exposure and track rows a part's builder holds so far.
fn rows_of(part: &Part) -> (usize, usize) {
    match part.tables.last() {
        Some(Chunk::Rows(b)) => (b.exposure_rows(), b.track_rows()),
        _ => (0, 0),
    }
}

/// Counts the rows this path accepted: read, per type, and their warnings.
fn count(part: &mut Part, cols: &Columns<Cells>, check: &Check) {
    let mut warned = [0u64; 5];
    for (r, &k) in check.kind.iter().enumerate() {
        if k == BAD {
            continue;
        }
        part.read += 1;
        part.by_type[k as usize] += 1;
        for (n, i) in [ORG_ID, PROJECT_ID, ENV].into_iter().enumerate() {
            warned[n] += u64::from(matches!(cols.get(i, r), Raw::Absent));
        }
        if k != TRACK {
            warned[3] += u64::from(check.missing_assignments[r]);
        }
        if k == EXPOSURE {
            warned[4] += u64::from(matches!(cols.get(DECISION_ID, r), Raw::Absent));
        }
    }
    for (w, n) in Warning::ALL.into_iter().zip(warned) {
        if n > 0 {
            *part.warnings.entry(w).or_default() += n;
        }
    }
}

/// The exposures table of the rows this path accepted.
fn exposures(cols: &Columns<Cells>, c: &Check, x: &Rows) -> Result<DataFrame> {
    let columns: Vec<Option<Column>> = vec![
        x.text(cols, TYPE, "kind")?,
        x.text(cols, ID, "event_id")?,
        x.text(cols, ORG_ID, "org_id")?,
        x.text(cols, PROJECT_ID, "project_id")?,
        x.text(cols, ENV, "env")?,
        x.text(cols, UNIT_KEY, "unit_key")?,
        x.text(cols, SESSION_ID, "session_id")?,
        x.text(cols, DECISION_ID, "decision_id")?,
        Some(Series::new("ts".into(), x.pick(&c.ts)).into_column()),
        x.text(cols, CONFIG_VERSION, "config_version")?,
        x.text(cols, LAYER_ID, "layer_id")?,
        Some(Series::new("bucket".into(), x.pick(&c.bucket)).into_column()),
        x.text(cols, POLICY_ID, "policy_id")?,
        x.text(cols, POLICY_KEY, "policy_key")?,
        x.text(cols, ALLOCATION_ID, "allocation_id")?,
        x.text(cols, ALLOCATION_NAME, "allocation_name")?,
        x.text(cols, ALLOCATION_KEY, "allocation_key")?,
        x.text(cols, LAYER_UNIT_KEY, "layer_unit_key")?,
        x.text(cols, LAYER_UNIT_KEY_VALUE, "layer_unit_key_value")?,
        Some(Series::new("probability".into(), x.pick(&c.probability)).into_column()),
        x.text(cols, MODEL_VERSION, "model_version")?,
        Some(Series::new("attribution_only".into(), x.pick(&c.attribution_only)).into_column()),
        Some(json_column(
            "context",
            c.context.as_ref(),
            &x.mask,
            x.lines.len(),
        )),
    ];
    Ok(DataFrame::new_infer_height(
        columns.into_iter().flatten().collect(),
    )?)
}

/// A string column with its own buffers: the tracks' event ids are cut from the file's
/// id column, whose buffers hold the exposures' ids too (which no run keeps), so the
/// kept views would hold twice their bytes until the end of the run.
fn compacted(c: Option<Column>) -> Result<Option<Column>> {
    let Some(c) = c else { return Ok(None) };
    let ca = c.str()?;
    let chunks: Vec<_> = ca.downcast_iter().map(|a| a.clone().gc()).collect();
    Ok(Some(
        StringChunked::from_chunk_iter(c.name().clone(), chunks).into_column(),
    ))
}

/// The tracks table of the rows this path accepted (`track_row` from 0).
fn tracks(cols: &Columns<Cells>, c: &Check, t: &Rows, file: &str) -> Result<DataFrame> {
    let nt = t.lines.len();
    let ts = t.pick(&c.ts);
    let event_ts: Vec<i64> = t
        .pick(&c.event_ts)
        .into_iter()
        .zip(&ts)
        .map(|(e, &t)| e.unwrap_or(t))
        .collect();
    let rows = u32::try_from(nt).expect("a window has fewer than 2^32 rows");
    let columns: Vec<Option<Column>> = vec![
        Some(Series::new("track_row".into(), (0..rows).collect::<Vec<u32>>()).into_column()),
        compacted(t.text(cols, ID, "event_id")?)?,
        t.text(cols, ORG_ID, "org_id")?,
        t.text(cols, PROJECT_ID, "project_id")?,
        t.text(cols, ENV, "env")?,
        t.text(cols, UNIT_KEY, "unit_key")?,
        t.text(cols, SESSION_ID, "session_id")?,
        t.text(cols, DECISION_ID, "decision_id")?,
        Some(Series::new("ts".into(), ts).into_column()),
        Some(Series::new("event_ts".into(), event_ts).into_column()),
        t.text(cols, CONFIG_VERSION, "config_version")?,
        t.text(cols, EVENT, "event")?,
        Some(Series::new("value".into(), t.pick(&c.value)).into_column()),
        Some(json_column("values", c.values.as_ref(), &t.mask, nt)),
        Some(json_column(
            "properties",
            c.properties.as_ref(),
            &t.mask,
            nt,
        )),
        Some(json_column("context", c.context.as_ref(), &t.mask, nt)),
        Some(StringChunked::full("source_file".into(), file, nt).into_column()),
        Some(
            Series::new(
                "source_line".into(),
                t.lines.iter().map(|&l| Some(l)).collect::<Vec<_>>(),
            )
            .into_column(),
        ),
    ];
    Ok(DataFrame::new_infer_height(
        columns.into_iter().flatten().collect(),
    )?)
}

/// The tables of the rows this path accepted, and their file rows (exposures,
/// tracks).
fn frames(
    cols: &Columns<Cells>,
    c: &Check,
    file: &str,
    first: u64,
    keep: &Projection,
) -> Result<(EventTables, Vec<u64>, Vec<u64>)> {
    let x = Rows::of(c, LAYERED, first, keep, Table::Exposures);
    let t = Rows::of(c, TRACKS, first, keep, Table::Tracks);
    let tables = EventTables {
        exposures: exposures(cols, c, &x)?,
        tracks: tracks(cols, c, &t, file)?,
        attributions: TableBuilder::default().finish()?.attributions,
    };
    Ok((tables, x.lines, t.lines))
}

#[cfg(test)]
mod tests;
