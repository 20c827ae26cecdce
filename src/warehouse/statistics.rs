//! The statistics the warehouse queries return: one row per policy × allocation,
//! read back from a csv or parquet file, compared with the engine's own, and turned
//! into the per-allocation sums the learners read ([`PolicyStats`]).

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::cells::{invalid, unless_null};
use super::entities::EntityCells;
use super::linear::{linear_columns, LayoutRow, LAYOUT_COLUMNS};
use super::sdk::{PolicyQuery, STATISTICS_COLUMNS};
use crate::error::{Error, Result};
use crate::events::EventTables;
use crate::policy::linear_state::SavedFeature;
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
    /// A linear contextual policy's sums (the columns `features`, `xx_i_j`, `rx_i`);
    /// `None` for the other policies.
    pub linear: Option<LinearSums>,
    /// A per-entity policy's entity cells (the columns `entity_keys`,
    /// `entity_kind_i`, `entity_text_i`, `entity_count`, `entity_count_at`); `None`
    /// for the other policies.
    pub entity: Option<EntityCells>,
}

/// One allocation's linear sums, over the feature layout `features` (after the
/// intercept, as `state.json` keeps it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinearSums {
    /// The layout: per context field, its key and, when categorical, its values.
    pub features: Vec<SavedFeature>,
    /// The upper triangle of `Σ x xᵀ`, row by row (`xx_0_0, xx_0_1, …, xx_1_1, …`).
    pub gram: Vec<f64>,
    /// `Σ r x` (`rx_0, rx_1, …`), in the goal's units.
    pub rx: Vec<f64>,
}

impl LinearSums {
    /// Length of a feature vector of the layout (intercept included).
    #[must_use]
    pub fn dim(&self) -> usize {
        layout_dim(&self.features)
    }
}

/// Length of a feature vector of `features` (intercept included).
fn layout_dim(features: &[SavedFeature]) -> usize {
    1 + features
        .iter()
        .map(|f| f.values.as_ref().map_or(2, |v| v.len() + 1))
        .sum::<usize>()
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
    let (header, cells) = table_cells(path, &file)?;
    rows_from_table(&header, cells, &file)
}

/// The header and every cell, as text, of a `.parquet` file or else a csv file.
pub(super) fn table_cells(path: &Path, file: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => parquet_cells(path, file),
        _ => csv_cells(path, file),
    }
}

/// Statistics rows from a table of text cells (every column of the source, named by
/// `header`): the [`STATISTICS_COLUMNS`] (all but `last_exposed_at` required) and,
/// in rows whose `features` is not empty, the linear sums `xx_i_j` and `rx_i` of that
/// layout.
///
/// # Errors
///
/// As [`read_statistics`], and for a `features` cell that is not a layout or a
/// missing, empty or non-finite linear sum.
pub(super) fn rows_from_table(
    header: &[String],
    cells: Vec<Vec<String>>,
    file: &str,
) -> Result<Vec<StatisticsRow>> {
    let find = |c: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(c));
    let idx = STATISTICS_COLUMNS
        .iter()
        .enumerate()
        .filter_map(|(k, c)| match find(c) {
            Some(i) => Some(Ok(i)),
            None if k >= REQUIRED => None,
            None => Some(Err(invalid(file, 0, c, "missing column; the queries return policy_id, allocation_name, units, conversions, reward_sum, reward_sum_sq, last_exposed_at"))),
        })
        .collect::<Result<Vec<usize>>>()?;
    let base = cells
        .iter()
        .map(|r| {
            idx.iter()
                .map(|&k| r.get(k).cloned().unwrap_or_default())
                .collect()
        })
        .collect();
    let mut rows = rows_from_cells(base, file)?;
    let entities = super::entities::read_entity_cells(header, &cells, file)?;
    for (row, e) in rows.iter_mut().zip(entities) {
        row.entity = e;
    }
    check_unique(&rows, file)?;
    let Some(at) = find("features") else {
        return Ok(rows);
    };
    for (i, (row, c)) in rows.iter_mut().zip(&cells).enumerate() {
        let line = i as u64 + 1;
        let text = c.get(at).map_or("", |t| unless_null(t.trim()));
        if text.is_empty() {
            continue;
        }
        let features: Vec<SavedFeature> = serde_json::from_str(text).map_err(|e| {
            invalid(file, line, "features", format!("not a feature layout ({e}): the statement writes a JSON list of {{\"key\": …, \"values\": […]}}"))
        })?;
        let d = layout_dim(&features);
        let names = linear_columns(d);
        let mut sums = Vec::with_capacity(names.len() - 1);
        for name in &names[1..] {
            let k = find(name).ok_or_else(|| {
                invalid(
                    file,
                    0,
                    name,
                    format!(
                        "missing column; the layout of policy {} has {d} features",
                        row.policy_id
                    ),
                )
            })?;
            let t = c.get(k).map_or("", |t| t.trim());
            let x = t
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    invalid(file, line, name, format!("{t:?} is not a finite number"))
                })?;
            sums.push(x);
        }
        let rx = sums.split_off(d * (d + 1) / 2);
        row.linear = Some(LinearSums {
            features,
            gram: sums,
            rx,
        });
    }
    Ok(rows)
}

/// Statistics rows from the text of their [`STATISTICS_COLUMNS`] cells, one `Vec` per
/// row in column order; `file` names their source in errors.
pub(super) fn rows_from_cells(cells: Vec<Vec<String>>, file: &str) -> Result<Vec<StatisticsRow>> {
    let file = file.to_owned();
    let mut rows = Vec::with_capacity(cells.len());
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
        let last = c.get(6).map_or("", |t| unless_null(t.trim()));
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
            linear: None,
            entity: None,
        };
        if row.policy_id.is_empty() || row.allocation_name.is_empty() {
            let field = if row.policy_id.is_empty() { 0 } else { 1 };
            return Err(invalid(&file, line, STATISTICS_COLUMNS[field], "empty"));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Refuses a policy × allocation (× entity group, for per-entity rows) that appears
/// twice.
fn check_unique(rows: &[StatisticsRow], file: &str) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, row) in rows.iter().enumerate() {
        let group = row.entity.as_ref().map(|e| &e.values);
        if !seen.insert((&row.policy_id, &row.allocation_name, group)) {
            let what = if group.is_some() { " entity group" } else { "" };
            return Err(invalid(file, i as u64 + 1, "allocation_name", format!("policy {} allocation {}{what} appears twice; the queries return one row per policy and allocation (and entity group)", row.policy_id, row.allocation_name)));
        }
    }
    Ok(())
}

/// The header and every cell of a csv file, as text.
fn csv_cells(path: &Path, file: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| invalid(file, 0, "file", e.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(file, 0, "header", e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| invalid(file, i as u64 + 1, "record", e.to_string()))?;
        out.push(rec.iter().map(str::to_owned).collect());
    }
    Ok((header, out))
}

/// The column names and every cell of a parquet file, as text.
fn parquet_cells(path: &Path, file: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let df = ParquetReader::new(f)
        .finish()
        .map_err(|e| invalid(file, 0, "file", e.to_string()))?;
    let mut header = Vec::new();
    let mut columns = Vec::new();
    for column in df.columns() {
        let name = column.name().to_string();
        let text = column
            .cast(&DataType::String)
            .map_err(|e| invalid(file, 0, &name, e.to_string()))?;
        columns.push(
            text.str()?
                .iter()
                .map(|v| v.unwrap_or("").to_owned())
                .collect::<Vec<_>>(),
        );
        header.push(name);
    }
    let rows = (0..df.height())
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect();
    Ok((header, rows))
}

/// Writes rows as csv, the file `retrain --statistics` reads.
///
/// # Errors
///
/// [`Error::Io`] if the file cannot be written.
pub fn write_statistics_csv(rows: &[StatisticsRow], path: &Path) -> Result<()> {
    let dim = rows
        .iter()
        .filter_map(|r| r.linear.as_ref().map(LinearSums::dim))
        .max();
    let mut text = STATISTICS_COLUMNS.join(",");
    if let Some(d) = dim {
        text.push(',');
        text.push_str(&linear_columns(d).join(","));
    }
    let cells: Vec<Option<&EntityCells>> = rows.iter().map(|r| r.entity.as_ref()).collect();
    let entity = super::entities::entity_csv(&cells);
    if let Some((names, _)) = &entity {
        text.push(',');
        text.push_str(&names.join(","));
    }
    text.push('\n');
    for (i, r) in rows.iter().enumerate() {
        text.push_str(&format!(
            "{},{},{},{},{:?},{:?},{}",
            csv_field(&r.policy_id),
            csv_field(&r.allocation_name),
            r.units,
            r.conversions,
            r.reward_sum,
            r.reward_sum_sq,
            r.last_exposed_at
                .map_or_else(String::new, |t| t.to_string())
        ));
        if let Some(d) = dim {
            let width = linear_columns(d).len() - 1;
            match &r.linear {
                Some(l) => {
                    let features =
                        serde_json::to_string(&l.features).expect("saved features serialise");
                    text.push(',');
                    text.push_str(&csv_field(&features));
                    let sums: Vec<String> = l.gram.iter().map(|x| format!("{x:?}")).collect();
                    // The linear columns run row by row over the widest layout;
                    // this row's own sums sit at their (i, j), the rest empty.
                    let own = l.dim();
                    let mut at = 0;
                    for i in 0..d {
                        for j in i..d {
                            text.push(',');
                            if j < own {
                                text.push_str(&sums[at]);
                                at += 1;
                            }
                        }
                    }
                    for i in 0..d {
                        text.push(',');
                        if i < own {
                            text.push_str(&format!("{:?}", l.rx[i]));
                        }
                    }
                }
                None => text.push_str(&",".repeat(width + 1)),
            }
        }
        if let Some((_, cells)) = &entity {
            for c in &cells[i] {
                text.push(',');
                text.push_str(&csv_field(c));
            }
        }
        text.push('\n');
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
/// Reads the layout query's result saved as csv (with a header) or parquet: the
/// columns [`LAYOUT_COLUMNS`] (a `label` of kind `other` is ignored).
///
/// # Errors
///
/// [`Error::InvalidStatistics`] for a missing column; [`Error::Io`] if the file
/// cannot be read.
pub fn read_layout(path: &std::path::Path) -> Result<Vec<LayoutRow>> {
    let file = path.display().to_string();
    let (header, cells) = table_cells(path, &file)?;
    let idx = LAYOUT_COLUMNS
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(c))
                .ok_or_else(|| Error::InvalidStatistics {
                    file: file.clone(),
                    line: 0,
                    field: (*c).to_owned(),
                    reason:
                        "missing column; the layout query returns policy_id, field, kind, label"
                            .into(),
                })
        })
        .collect::<Result<Vec<usize>>>()?;
    Ok(cells
        .into_iter()
        .map(|c| {
            let cell = |k: usize| c.get(idx[k]).cloned().unwrap_or_default();
            let kind = cell(2).trim().to_owned();
            LayoutRow {
                policy_id: cell(0),
                field: cell(1),
                label: (kind != "other").then(|| cell(3)),
                kind,
            }
        })
        .collect())
}
