//! Moving rejected track events out of the tables and into the quarantine.

use std::collections::HashMap;

use polars::prelude::*;
use rayon::prelude::*;
use serde_json::{Map, Value};

use crate::config::Violation;
use crate::error::Result;
use crate::events::{EventType, LoadReport, Loaded, Rejected};

/// Columns that are not part of the event and stay out of a quarantined record.
const BOOKKEEPING: &[&str] = &["track_row", "source_file", "source_line"];
/// Columns holding JSON text, put back into the record as JSON.
const JSON_TEXT: &[&str] = &["values", "properties", "context"];

/// Removes the rows `rejects` names (ascending frame row indices) from the track
/// table, their entries from the attribution table, and records them as rejected.
pub(super) fn reject(loaded: &mut Loaded, rejects: Vec<(usize, Vec<Violation>)>) -> Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    let tracks = &loaded.tables.tracks;
    let height = tracks.height();
    let mut keep = vec![true; height];
    let rows = tracks.column("track_row")?.as_materialized_series().u32()?;
    let mut dropped_rows = std::collections::HashSet::new();
    for (r, _) in &rejects {
        keep[*r] = false;
        if let Some(id) = rows.get(*r) {
            dropped_rows.insert(id);
        }
    }
    let records = rejected(tracks, &rejects)?;
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    loaded.tables.tracks = tracks.filter(&mask)?;
    let attributions = &loaded.tables.attributions;
    let a_rows = attributions
        .column("track_row")?
        .as_materialized_series()
        .u32()?;
    let a_keep: BooleanChunked = a_rows
        .iter()
        .map(|r| Some(!r.is_some_and(|r| dropped_rows.contains(&r))))
        .collect();
    loaded.tables.attributions = attributions.filter(&a_keep)?;
    // Counts move with the records: read = accepted + quarantined per file.
    move_counts(&mut loaded.report, &records);
    loaded.rejected.extend(records);
    sort_quarantine(&mut loaded.rejected, &loaded.report);
    Ok(())
}

/// Moves the load counts of records quarantined after loading: per file one fewer
/// accepted and one more quarantined, and fewer track events, so `read = accepted +
/// quarantined` still holds. Files the report does not list are left alone.
pub fn move_counts(report: &mut LoadReport, records: &[Rejected]) {
    let files = file_order(report);
    let mut last: Option<(&str, Option<usize>)> = None;
    for rec in records {
        // Rejected rows come in file order: look each file up once per run of rows.
        let i = match last {
            Some((f, i)) if f == rec.file => i,
            _ => {
                let i = files.get(&rec.file).copied();
                last = Some((&rec.file, i));
                i
            }
        };
        if let Some(i) = i {
            let f = &mut report.files[i];
            f.accepted = f.accepted.saturating_sub(1);
            f.quarantined += 1;
        }
    }
    if let Some(t) = report.by_type.get_mut(&EventType::Track) {
        *t = t.saturating_sub(records.len() as u64);
    }
}

/// Puts the quarantine in file (as the report lists them) and line order; the sort is
/// stable, so records of one line keep their order.
pub fn sort_quarantine(rejected: &mut [Rejected], report: &LoadReport) {
    let files = file_order(report);
    let order = |file: &str| files.get(file).copied().unwrap_or(usize::MAX);
    rejected.sort_by_cached_key(|r| (order(&r.file), r.line));
}

fn file_order(report: &LoadReport) -> HashMap<String, usize> {
    report
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.file.clone(), i))
        .collect()
}

/// Rejected rows per parallel task: fixed, so the split does not depend on threads.
const REJECT_CHUNK: usize = 2048;

/// The rejected rows in the order given: gathered with one `take` (polars spreads it
/// over columns), then turned into records in parallel over fixed chunks of the
/// gathered frame (zero-copy slices), so no rayon task waits on polars' own pool.
fn rejected(tracks: &DataFrame, rejects: &[(usize, Vec<Violation>)]) -> Result<Vec<Rejected>> {
    let idx: Vec<IdxSize> = rejects
        .iter()
        .map(|(r, _)| IdxSize::try_from(*r).expect("row indices fit the index type"))
        .collect();
    let taken = tracks.take(&IdxCa::from_vec("row".into(), idx))?;
    let parts = rejects
        .par_chunks(REJECT_CHUNK)
        .enumerate()
        .map(|(k, chunk)| {
            let rows = taken.slice((k * REJECT_CHUNK) as i64, chunk.len());
            rejected_chunk(&rows, chunk)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(parts.into_iter().flatten().collect())
}

/// Records of some rejected rows (`taken`, in the order of `rejects`), read column by
/// column: source, violated paths, every message, and the row as a JSON object of its
/// event columns.
fn rejected_chunk(taken: &DataFrame, rejects: &[(usize, Vec<Violation>)]) -> Result<Vec<Rejected>> {
    let n = rejects.len();
    let mut records = vec![Map::new(); n];
    let mut files: Vec<Option<String>> = vec![None; n];
    let mut lines = vec![0u64; n];
    for c in taken.columns() {
        let name = c.name().as_str();
        let s = c.as_materialized_series();
        match name {
            "source_file" => {
                for (f, v) in files.iter_mut().zip(s.str()?.iter()) {
                    *f = v.map(str::to_owned);
                }
            }
            "source_line" => {
                for (l, v) in lines.iter_mut().zip(s.u64()?.iter()) {
                    *l = v.unwrap_or(0);
                }
            }
            _ if BOOKKEEPING.contains(&name) => {}
            _ if s.dtype() == &DataType::String => {
                // Read as text, without a per-cell `AnyValue`.
                let json_text = JSON_TEXT.contains(&name);
                for (record, v) in records.iter_mut().zip(s.str()?.iter()) {
                    let json = match v {
                        None => None,
                        Some(t) if json_text => serde_json::from_str(t).ok(),
                        Some(t) => Some(Value::String(t.to_owned())),
                    };
                    if let Some(json) = json {
                        record.insert(name.to_owned(), json);
                    }
                }
            }
            _ => {
                let json_text = JSON_TEXT.contains(&name);
                for (i, record) in records.iter_mut().enumerate() {
                    if let Some(json) = any_to_json(&s.get(i)?, json_text) {
                        record.insert(name.to_owned(), json);
                    }
                }
            }
        }
    }
    let out = rejects
        .iter()
        .zip(records)
        .zip(files.into_iter().zip(lines))
        .map(|(((_, violations), record), (file, line))| {
            let mut fields: Vec<&str> = Vec::new();
            for v in violations {
                if !fields.contains(&v.path.as_str()) {
                    fields.push(&v.path);
                }
            }
            let reason: Vec<String> = violations
                .iter()
                .map(|v| format!("{}: {} ({})", v.path, v.message, v.rule))
                .collect();
            Rejected {
                file: file.unwrap_or_else(|| "<memory>".to_owned()),
                line,
                field: fields.join(", "),
                reason: reason.join("; "),
                record: Value::Object(record),
            }
        })
        .collect();
    Ok(out)
}

fn any_to_json(v: &AnyValue<'_>, json_text: bool) -> Option<Value> {
    match v {
        AnyValue::Null => None,
        AnyValue::String(s) if json_text => serde_json::from_str(s).ok(),
        AnyValue::StringOwned(s) if json_text => serde_json::from_str(s.as_str()).ok(),
        AnyValue::String(s) => Some(Value::String((*s).to_owned())),
        AnyValue::StringOwned(s) => Some(Value::String(s.to_string())),
        AnyValue::Boolean(b) => Some(Value::Bool(*b)),
        AnyValue::Float64(x) => Some(
            serde_json::Number::from_f64(*x)
                .map_or_else(|| Value::String(x.to_string()), Value::Number),
        ),
        other => other
            .extract::<i64>()
            .map(|i| Value::Number(i.into()))
            .or_else(|| Some(Value::String(other.to_string()))),
    }
}
