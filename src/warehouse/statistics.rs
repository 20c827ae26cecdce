//! The statistics the warehouse queries return: one row per policy × allocation,
//! read back from a csv or parquet file, compared with the engine's own, and turned
//! into the per-allocation sums the learners read ([`PolicyStats`]).

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::sdk::{PolicyQuery, STATISTICS_COLUMNS};
use crate::error::{Error, Result};
use crate::events::EventTables;
use crate::reward::{ArmStats, PolicyStats};

/// The columns a statistics source must have: all but `last_exposed_at`.
pub(super) const REQUIRED: usize = 6;

/// One row of statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatisticsRow {
    /// The policy id.
    pub policy_id: String,
    /// The allocation name.
    pub allocation_name: String,
    /// Reward units (exposed units, or decisions in decision mode) with a reward.
    pub units: u64,
    /// Of those, units credited with at least one goal event.
    pub conversions: u64,
    /// Σ reward.
    pub reward_sum: f64,
    /// Σ reward².
    pub reward_sum_sq: f64,
    /// The latest first exposure (or assignment) counted, epoch milliseconds; `None`
    /// when the source did not say (a file without the column).
    pub last_exposed_at: Option<i64>,
}

/// Rows as the learners read them.
#[must_use]
pub fn policy_stats(rows: &[StatisticsRow]) -> PolicyStats {
    let mut out = PolicyStats::new();
    for r in rows {
        let e = out
            .entry(r.policy_id.clone())
            .or_default()
            .entry(r.allocation_name.clone())
            .or_default();
        *e = e.merge(ArmStats {
            n: r.units,
            sum: r.reward_sum,
            sum_sq: r.reward_sum_sq,
        });
    }
    out
}

/// What the engine computes in process for the same policies, from loaded events:
/// the rows the queries of [`super::statistics_sql`] must return.
///
/// # Errors
///
/// As [`crate::engine::policy_rewards`].
pub fn in_process(tables: &EventTables, queries: &[PolicyQuery]) -> Result<Vec<StatisticsRow>> {
    let mut rows = Vec::new();
    for q in queries {
        let rewards = crate::engine::policy_rewards(tables, &q.goal, &q.params, None)?;
        let mut keep = col("policy_id")
            .eq(lit(q.policy_id.as_str()))
            .and(col("reward").is_not_null());
        if let Some(t) = q.after {
            keep = keep.and(col("exposed_at").gt(lit(t)));
        }
        if let Some(t) = q.through {
            keep = keep.and(col("exposed_at").lt_eq(lit(t)));
        }
        let df = rewards
            .lazy()
            .filter(keep)
            .select([
                col("allocation_name"),
                col("goal_events").cast(DataType::Float64),
                col("reward").cast(DataType::Float64),
                col("exposed_at").cast(DataType::Int64),
            ])
            .collect()?;
        let names = df.column("allocation_name")?.str()?;
        let events = df.column("goal_events")?.f64()?;
        let reward = df.column("reward")?.f64()?;
        let exposed = df.column("exposed_at")?.i64()?;
        let mut by: BTreeMap<String, StatisticsRow> = BTreeMap::new();
        for i in 0..df.height() {
            let (Some(a), Some(r)) = (names.get(i), reward.get(i)) else {
                continue;
            };
            let e = by.entry(a.to_owned()).or_insert_with(|| StatisticsRow {
                policy_id: q.policy_id.clone(),
                allocation_name: a.to_owned(),
                ..StatisticsRow::default()
            });
            e.units += 1;
            e.last_exposed_at = e.last_exposed_at.max(exposed.get(i));
            e.conversions += u64::from(events.get(i).unwrap_or(0.0) > 0.0);
            e.reward_sum += r;
            e.reward_sum_sq += r * r;
        }
        rows.extend(by.into_values());
    }
    rows.sort_by(|a, b| {
        (&a.policy_id, &a.allocation_name).cmp(&(&b.policy_id, &b.allocation_name))
    });
    Ok(rows)
}

fn invalid(file: &str, line: u64, field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidStatistics {
        file: file.to_owned(),
        line,
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Reads a statistics file (`.csv` with a header, or `.parquet`) with the columns
/// [`STATISTICS_COLUMNS`] (others are ignored; `last_exposed_at` may be missing). A
/// policy × allocation may appear once.
///
/// # Errors
///
/// [`Error::InvalidStatistics`] naming the row and column of a missing column, an
/// unreadable number, a negative count or a repeated row; [`Error::Io`] if the file
/// cannot be read.
pub fn read_statistics(path: &Path) -> Result<Vec<StatisticsRow>> {
    let file = path.display().to_string();
    let cells = match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => parquet_cells(path, &file)?,
        _ => csv_cells(path, &file)?,
    };
    rows_from_cells(cells, &file)
}

/// Statistics rows from the text of their [`STATISTICS_COLUMNS`] cells, one `Vec` per
/// row in column order; `file` names their source in errors.
pub(super) fn rows_from_cells(cells: Vec<Vec<String>>, file: &str) -> Result<Vec<StatisticsRow>> {
    let file = file.to_owned();
    let mut rows = Vec::with_capacity(cells.len());
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in cells.into_iter().enumerate() {
        let line = i as u64 + 1;
        let count = |k: usize| -> Result<u64> {
            let text = c[k].trim();
            // Engines write counts as integers, some as `12.0`.
            text.parse::<u64>()
                .ok()
                .or_else(|| {
                    text.parse::<f64>()
                        .ok()
                        .filter(|x| x.fract() == 0.0 && *x >= 0.0)
                        .map(|x| x as u64)
                })
                .ok_or_else(|| {
                    invalid(
                        &file,
                        line,
                        STATISTICS_COLUMNS[k],
                        format!("{text:?} is not a non-negative whole number"),
                    )
                })
        };
        let sum = |k: usize| -> Result<f64> {
            let text = c[k].trim();
            text.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    invalid(
                        &file,
                        line,
                        STATISTICS_COLUMNS[k],
                        format!("{text:?} is not a finite number"),
                    )
                })
        };
        let last = c.get(6).map_or("", |t| t.trim());
        let last_exposed_at = if last.is_empty() {
            None
        } else {
            // Engines write a BIGINT maximum as `12` or `12.0`.
            let ms = last.parse::<i64>().ok().or_else(|| {
                last.parse::<f64>()
                    .ok()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                    .map(|x| x as i64)
            });
            Some(ms.ok_or_else(|| {
                invalid(
                    &file,
                    line,
                    STATISTICS_COLUMNS[6],
                    format!("{last:?} is not a whole number of epoch milliseconds"),
                )
            })?)
        };
        let row = StatisticsRow {
            policy_id: c[0].clone(),
            allocation_name: c[1].clone(),
            units: count(2)?,
            conversions: count(3)?,
            reward_sum: sum(4)?,
            reward_sum_sq: sum(5)?,
            last_exposed_at,
        };
        if row.policy_id.is_empty() || row.allocation_name.is_empty() {
            let field = if row.policy_id.is_empty() { 0 } else { 1 };
            return Err(invalid(&file, line, STATISTICS_COLUMNS[field], "empty"));
        }
        if !seen.insert((row.policy_id.clone(), row.allocation_name.clone())) {
            return Err(invalid(&file, line, "allocation_name", format!("policy {} allocation {} appears twice; the queries return one row per policy and allocation", row.policy_id, row.allocation_name)));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The six columns of each data row of a csv file, as text.
fn csv_cells(path: &Path, file: &str) -> Result<Vec<Vec<String>>> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| invalid(file, 0, "file", e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| invalid(file, 0, "header", e.to_string()))?
        .clone();
    let idx = STATISTICS_COLUMNS
        .iter()
        .enumerate()
        .filter_map(|(k, c)| {
            let at = header.iter().position(|h| h.trim().eq_ignore_ascii_case(c));
            match at {
                Some(i) => Some(Ok(i)),
                None if k >= REQUIRED => None,
                None => Some(Err(invalid(file, 0, c, "missing column; the queries return policy_id, allocation_name, units, conversions, reward_sum, reward_sum_sq, last_exposed_at"))),
            }
        })
        .collect::<Result<Vec<usize>>>()?;
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| invalid(file, i as u64 + 1, "record", e.to_string()))?;
        out.push(
            idx.iter()
                .map(|&k| rec.get(k).unwrap_or("").to_owned())
                .collect(),
        );
    }
    Ok(out)
}

/// The six columns of each row of a parquet file, as text.
fn parquet_cells(path: &Path, file: &str) -> Result<Vec<Vec<String>>> {
    let f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let df = ParquetReader::new(f)
        .finish()
        .map_err(|e| invalid(file, 0, "file", e.to_string()))?;
    let mut columns = Vec::new();
    for (k, c) in STATISTICS_COLUMNS.into_iter().enumerate() {
        let found = df
            .get_column_names()
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(c))
            .cloned();
        let name = match found {
            Some(name) => name,
            None if k >= REQUIRED => continue,
            None => return Err(invalid(file, 0, c, "missing column")),
        };
        let column = df.column(name.as_str())?;
        let text = column
            .cast(&DataType::String)
            .map_err(|e| invalid(file, 0, c, e.to_string()))?;
        columns.push(
            text.str()?
                .iter()
                .map(|v| v.unwrap_or("").to_owned())
                .collect::<Vec<_>>(),
        );
    }
    Ok((0..df.height())
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect())
}

/// Writes rows as csv, the file `retrain --statistics` reads.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be written.
pub fn write_statistics_csv(rows: &[StatisticsRow], path: &Path) -> Result<()> {
    let mut text = STATISTICS_COLUMNS.join(",");
    text.push('\n');
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{},{:?},{:?},{}\n",
            csv_field(&r.policy_id),
            csv_field(&r.allocation_name),
            r.units,
            r.conversions,
            r.reward_sum,
            r.reward_sum_sq,
            r.last_exposed_at
                .map_or_else(String::new, |t| t.to_string())
        ));
    }
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
