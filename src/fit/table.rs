//! A researcher's table (csv or parquet) read into polars, and its columns taken out
//! as the slices the policies fit on, every bad cell reported with its place.
//!
//! Places: for csv, the 1-based line of the file (the header is line 1); for parquet,
//! the 1-based row. Missing columns name the file and list the columns it has.

use std::path::Path;

use std::collections::HashMap;

use foldhash::fast::FixedState;
use polars::prelude::*;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// A label column coded: the distinct labels in sorted order, and each row's index
/// among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coded {
    /// The distinct labels, sorted.
    pub names: Vec<String>,
    /// Each row's label, as an index into `names`.
    pub codes: Vec<u32>,
}

/// A table read from a file, with what is needed to name a cell in an error.
#[derive(Clone, Debug)]
pub struct Table {
    file: String,
    df: DataFrame,
    /// Line of each data row (csv only).
    lines: Option<Vec<u64>>,
}

impl Table {
    /// Reads `.csv` (header row, comma-separated) or `.parquet` / `.pq`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if unreadable, [`Error::InvalidTable`] for an unknown extension,
    /// malformed csv (with its line) or an unreadable parquet file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bad = |reason: String| Error::InvalidTable {
            file: file.clone(),
            reason,
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => {
                let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
                let df = ParquetReader::new(f)
                    .finish()
                    .map_err(|e| bad(crate::input::unreadable_parquet(&e)))?;
                Ok(Self {
                    file,
                    df,
                    lines: None,
                })
            }
            "csv" => {
                let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
                Self::from_csv_reader(f, &file)
            }
            other => Err(bad(format!(
                "unknown table extension \"{other}\": use .csv (with a header row) or .parquet"
            ))),
        }
    }

    /// Reads csv text with a header row; `file` names it in errors. Every column is
    /// text; [`Table::numbers`] parses numbers where a number is needed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTable`] for malformed csv (naming the line) or a row whose
    /// number of fields differs from the header's.
    pub fn from_csv_reader(reader: impl std::io::Read, file: &str) -> Result<Self> {
        let bad = |reason: String| Error::InvalidTable {
            file: file.to_owned(),
            reason,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(reader);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| bad(e.to_string()))?
            .iter()
            .map(str::to_owned)
            .collect();
        let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); headers.len()];
        let mut lines = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    let line = record.position().map_or(0, csv::Position::line);
                    lines.push(line);
                    for (c, v) in cols.iter_mut().zip(record.iter()) {
                        c.push((!v.is_empty()).then(|| v.to_owned()));
                    }
                }
                Err(e) => return Err(bad(format!("malformed csv: {e}"))),
            }
        }
        let columns: Vec<Column> = headers
            .iter()
            .zip(cols)
            .map(|(h, c)| Column::new(h.as_str().into(), c))
            .collect();
        let df = DataFrame::new(lines.len(), columns)
            .map_err(|e| bad(format!("cannot build a table: {e}")))?;
        Ok(Self {
            file: file.to_owned(),
            df,
            lines: Some(lines),
        })
    }

    /// A table from a polars frame; `file` names it in errors (rows count from 1).
    #[must_use]
    pub fn from_frame(df: DataFrame, file: &str) -> Self {
        Self {
            file: file.to_owned(),
            df,
            lines: None,
        }
    }

    /// The file name used in errors.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Data rows.
    #[must_use]
    pub fn height(&self) -> usize {
        self.df.height()
    }

    /// The place of data row `i` (0-based) in the file: csv line or parquet row.
    #[must_use]
    pub fn place(&self, i: usize) -> u64 {
        match &self.lines {
            Some(l) => l[i],
            None => i as u64 + 1,
        }
    }

    fn cell_error(&self, i: usize, column: &str, reason: String) -> Error {
        Error::InvalidRecord {
            file: self.file.clone(),
            line: self.place(i),
            field: column.to_owned(),
            reason,
        }
    }

    fn column(&self, name: &str, role: &str) -> Result<&Series> {
        match self.df.column(name) {
            Ok(c) => Ok(c.as_materialized_series()),
            Err(_) => {
                let names: Vec<&str> = self
                    .df
                    .get_column_names()
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                let hint = crate::text::did_you_mean(name, names.iter().copied(), 3)
                    .map(|c| format!(" (did you mean \"{c}\"?)"))
                    .unwrap_or_default();
                Err(Error::InvalidTable {
                    file: self.file.clone(),
                    reason: format!(
                        "no column \"{name}\" for the {role}{hint}; the columns are: {}",
                        names.join(", ")
                    ),
                })
            }
        }
    }

    /// Column `name` as labels (strings, integers and booleans as text).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTable`] if the column is missing, [`Error::InvalidRecord`] for
    /// an empty cell (naming its line or row).
    pub fn labels(&self, name: &str, role: &str) -> Result<Vec<String>> {
        let s = self.column(name, role)?;
        let text = s.cast(&DataType::String)?;
        let text = text.str()?;
        text.iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(v) => Ok(v.to_owned()),
                None => Err(self.cell_error(i, name, format!("empty {role}"))),
            })
            .collect()
    }

    /// Column `name` as labels coded in place: the distinct labels sorted, and each
    /// row's index among them. As [`Table::labels`] without a string per row: the
    /// column's strings are hashed where they lie.
    ///
    /// # Errors
    ///
    /// As [`Table::labels`].
    pub fn codes(&self, name: &str, role: &str) -> Result<Coded> {
        let s = self.column(name, role)?;
        let text = s.cast(&DataType::String)?;
        let text = text.str()?;
        let mut index: HashMap<&str, u32, FixedState> = HashMap::with_hasher(FixedState::default());
        let mut seen: Vec<&str> = Vec::new();
        let mut codes = Vec::with_capacity(text.len());
        for (i, v) in text.iter().enumerate() {
            let v = v.ok_or_else(|| self.cell_error(i, name, format!("empty {role}")))?;
            let code = *index.entry(v).or_insert_with(|| {
                seen.push(v);
                u32::try_from(seen.len() - 1).expect("fewer than 2^32 distinct labels")
            });
            codes.push(code);
        }
        let mut order: Vec<usize> = (0..seen.len()).collect();
        order.sort_unstable_by_key(|&c| seen[c]);
        let mut rank = vec![0u32; seen.len()];
        for (r, &c) in order.iter().enumerate() {
            rank[c] = r as u32;
        }
        for c in &mut codes {
            *c = rank[*c as usize];
        }
        Ok(Coded {
            names: order.iter().map(|&c| seen[c].to_owned()).collect(),
            codes,
        })
    }

    /// Columns `names` as finite numbers, row-major (`rows × (names + intercept)`),
    /// an intercept column of ones first when asked: the feature matrix a linear fit
    /// reads, written in place instead of a column at a time and then copied.
    ///
    /// # Errors
    ///
    /// As [`Table::numbers`], for the first bad column in `names` order.
    pub fn matrix(&self, names: &[String], intercept: bool, role: &str) -> Result<Vec<f64>> {
        let offset = usize::from(intercept);
        let d = names.len() + offset;
        let n = self.height();
        if n == 0 {
            return Ok(Vec::new());
        }
        // Each column as one contiguous run of checked values, then written row-major a
        // block of rows at a time: a block of the output stays in cache while every
        // column fills it (a column at a time over the whole output strides through
        // memory once per column, most of a 1 M × 16 fit's time); blocks in parallel.
        let mut cols: Vec<Float64Chunked> = Vec::with_capacity(names.len());
        for name in names {
            let s = self.column(name, role)?;
            let ca = if s.dtype().is_primitive_numeric() {
                let s = s.cast(&DataType::Float64)?;
                let ca = s.f64()?.rechunk().into_owned();
                let arr = ca.downcast_as_array();
                let bad = if ca.null_count() == 0 {
                    arr.values().iter().position(|x| !x.is_finite())
                } else {
                    (0..arr.len()).find(|&i| !arr.get(i).is_some_and(f64::is_finite))
                };
                if let Some(i) = bad {
                    return Err(self.number_error(i, name, role, arr.get(i)));
                }
                ca
            } else {
                Float64Chunked::from_vec(name.as_str().into(), self.numbers(name, role)?)
            };
            cols.push(ca);
        }
        let slices: Vec<&[f64]> = cols
            .iter()
            .map(|c| c.downcast_as_array().values().as_slice())
            .collect();
        let mut out = vec![1.0; n * d];
        const BLOCK: usize = 4096;
        out.par_chunks_mut(BLOCK * d.max(1))
            .enumerate()
            .for_each(|(b, block)| {
                let first = b * BLOCK;
                for (j, col) in slices.iter().enumerate() {
                    let j = j + offset;
                    for (row, &x) in block.chunks_exact_mut(d).zip(&col[first..]) {
                        row[j] = x;
                    }
                }
            });
        Ok(out)
    }

    fn number_error(&self, i: usize, name: &str, role: &str, v: Option<f64>) -> Error {
        match v {
            None => self.cell_error(i, name, format!("empty {role}")),
            Some(x) => self.cell_error(i, name, format!("{role} {x} is not a finite number")),
        }
    }

    /// Column `name` as finite numbers: numeric columns as they are, booleans as 0/1,
    /// text parsed as a decimal number.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidTable`] if the column is missing or of another type,
    /// [`Error::InvalidRecord`] naming the line or row of an empty cell, text that is
    /// not a number, or a NaN or infinite value: none of them reaches a model.
    pub fn numbers(&self, name: &str, role: &str) -> Result<Vec<f64>> {
        let s = self.column(name, role)?;
        let values: Vec<Option<f64>> = match s.dtype() {
            DataType::String => {
                let text = s.str()?;
                text.iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        None => Ok(None),
                        Some(t) => t.trim().parse::<f64>().map(Some).map_err(|_| {
                            self.cell_error(
                                i,
                                name,
                                format!("{role} must be a number, found {t:?}"),
                            )
                        }),
                    })
                    .collect::<Result<_>>()?
            }
            DataType::Boolean => s.bool()?.iter().map(|b| b.map(f64::from)).collect(),
            dt if dt.is_primitive_numeric() => s.cast(&DataType::Float64)?.f64()?.iter().collect(),
            other => {
                return Err(Error::InvalidTable {
                    file: self.file.clone(),
                    reason: format!(
                        "column \"{name}\" ({role}) is of type {other}: expected numbers"
                    ),
                })
            }
        };
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(x) if x.is_finite() => Ok(x),
                v => Err(self.number_error(i, name, role, v)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Table {
        Table::from_csv_reader(text.as_bytes(), "t.csv").unwrap()
    }

    #[test]
    fn numbers_parse_text_and_name_the_line_of_a_bad_cell() {
        let t = csv("arm,reward\na,1\nb,0.5\n");
        assert_eq!(t.numbers("reward", "reward").unwrap(), vec![1.0, 0.5]);
        let t = csv("arm,reward\na,1\nb,yes\n");
        let e = t.numbers("reward", "reward").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:3: reward: reward must be a number, found \"yes\""
        );
        let t = csv("arm,reward\na,NaN\n");
        let e = t.numbers("reward", "reward").unwrap_err().to_string();
        assert_eq!(e, "t.csv:2: reward: reward NaN is not a finite number");
        let t = csv("arm,reward\na,\n");
        assert!(t.numbers("reward", "reward").is_err());
    }

    #[test]
    fn a_missing_column_lists_the_columns_there_are() {
        let t = csv("arm,reward\na,1\n");
        let e = t.numbers("rewrd", "reward").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.csv: no column \"rewrd\" for the reward (did you mean \"reward\"?); the columns are: arm, reward"
        );
    }

    #[test]
    fn parquet_rows_count_from_one() {
        let df = df!("arm" => ["a", "b"], "reward" => [1.0, f64::INFINITY]).unwrap();
        let t = Table::from_frame(df, "t.parquet");
        let e = t.numbers("reward", "reward").unwrap_err().to_string();
        assert_eq!(e, "t.parquet:2: reward: reward inf is not a finite number");
        assert_eq!(t.labels("arm", "arm").unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn codes_are_the_sorted_labels_and_name_an_empty_cell() {
        let t = csv("arm,reward\nb,1\na,0\nc,1\na,1\n");
        let coded = t.codes("arm", "arm").unwrap();
        assert_eq!(coded.names, ["a", "b", "c"]);
        assert_eq!(coded.codes, [1, 0, 2, 0]);
        let labels = t.labels("arm", "arm").unwrap();
        for (l, &c) in labels.iter().zip(&coded.codes) {
            assert_eq!(l, &coded.names[c as usize]);
        }
        let t = csv("arm,reward\nb,1\n,0\n");
        let e = t.codes("arm", "arm").unwrap_err().to_string();
        assert_eq!(e, t.labels("arm", "arm").unwrap_err().to_string());
        assert_eq!(e, "t.csv:3: arm: empty arm");
    }

    #[test]
    fn the_matrix_is_row_major_with_the_intercept_first_and_names_a_bad_cell() {
        let df = df!(
            "x" => [1.0, 2.0, 3.0],
            "y" => ["4", "5", "6"],
            "z" => [Some(7i64), None, Some(9)]
        )
        .unwrap();
        let t = Table::from_frame(df, "t.parquet");
        let names = ["x".to_owned(), "y".to_owned()];
        assert_eq!(
            t.matrix(&names, true, "feature").unwrap(),
            [1.0, 1.0, 4.0, 1.0, 2.0, 5.0, 1.0, 3.0, 6.0]
        );
        assert_eq!(
            t.matrix(&names[..1], false, "feature").unwrap(),
            [1.0, 2.0, 3.0]
        );
        let e = t
            .matrix(&["x".to_owned(), "z".to_owned()], false, "feature")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "t.parquet:2: z: empty feature");
        assert_eq!(e, t.numbers("z", "feature").unwrap_err().to_string());
    }
}
