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
    /// All the file's columns, when only some were read (named in errors).
    names: Option<Vec<String>>,
}

impl Table {
    /// Reads `.csv` (header row, comma-separated) or `.parquet` / `.pq`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if unreadable, [`Error::InvalidTable`] for an unknown extension,
    /// malformed csv (with its line) or an unreadable parquet file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        Self::read_columns(path, None)
    }

    /// As [`Table::read`], reading from a parquet file only `columns` (those of them
    /// it has; a missing one is reported when asked for, with all the file's columns):
    /// a fit reads its arm, reward, feature and entity columns and nothing else. A csv
    /// file is read whole (it is text, parsed a row at a time anyway).
    ///
    /// # Errors
    ///
    /// As [`Table::read`].
    pub fn read_columns(path: impl AsRef<Path>, columns: Option<&[&str]>) -> Result<Self> {
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
                let unreadable = |e: PolarsError| bad(crate::input::unreadable_parquet(&e));
                let mut reader = ParquetReader::new(f);
                let mut names = None;
                if let Some(wanted) = columns {
                    let schema = reader.schema().map_err(unreadable)?;
                    let all: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
                    let mut keep: Vec<String> = Vec::new();
                    for &c in wanted {
                        if all.iter().any(|n| n == c) && !keep.iter().any(|k| k == c) {
                            keep.push(c.to_owned());
                        }
                    }
                    reader = reader.with_columns(Some(keep));
                    names = Some(all);
                }
                let df = reader.finish().map_err(unreadable)?;
                Ok(Self {
                    file,
                    df,
                    lines: None,
                    names,
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
            names: None,
        })
    }

    /// A table from a polars frame; `file` names it in errors (rows count from 1).
    #[must_use]
    pub fn from_frame(df: DataFrame, file: &str) -> Self {
        Self {
            file: file.to_owned(),
            df,
            lines: None,
            names: None,
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
                let names: Vec<&str> = match &self.names {
                    Some(all) => all.iter().map(String::as_str).collect(),
                    None => self
                        .df
                        .get_column_names()
                        .iter()
                        .map(|s| s.as_str())
                        .collect(),
                };
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
        // A string of at most 12 bytes lies whole in its 16-byte view (length, bytes,
        // zero padding): the view itself is the key, hashed without reading a buffer.
        let mut inline: HashMap<u128, u32, FixedState> =
            HashMap::with_hasher(FixedState::default());
        if text.null_count() > 0 {
            let i = text.iter().position(|v| v.is_none()).expect("a null");
            return Err(self.cell_error(i, name, format!("empty {role}")));
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut codes = Vec::with_capacity(text.len());
        for arr in text.downcast_iter() {
            for (i, v) in arr.views().iter().enumerate() {
                let key = (v.length <= 12).then(|| v.as_u128());
                if let Some(&c) = key.and_then(|k| inline.get(&k)) {
                    codes.push(c);
                    continue;
                }
                let label = arr.value(i);
                let c = *index.entry(label).or_insert_with(|| {
                    seen.push(label);
                    u32::try_from(seen.len() - 1).expect("fewer than 2^32 distinct labels")
                });
                if let Some(k) = key {
                    inline.insert(k, c);
                }
                codes.push(c);
            }
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
    /// an intercept column of ones first when asked: the feature matrix of
    /// [`crate::policy::LinearStats::from_rows`] (a fit reads
    /// [`Table::number_columns`] instead, with no such copy).
    ///
    /// # Errors
    ///
    /// As [`Table::numbers`], for the first bad column in `names` order.
    pub fn matrix(&self, names: &[String], intercept: bool, role: &str) -> Result<Vec<f64>> {
        let offset = usize::from(intercept);
        let d = names.len() + offset;
        let n = self.height();
        let cols = self.number_columns(names, role)?;
        let slices: Vec<std::borrow::Cow<'_, [f64]>> = cols.iter().map(contiguous).collect();
        // Written a block of rows at a time: a block of the output stays in cache while
        // every column fills it (a column at a time over the whole output strides
        // through memory once per column); blocks in parallel.
        let mut out = vec![1.0; n * d];
        const BLOCK: usize = 4096;
        out.par_chunks_mut(BLOCK * d.max(1))
            .enumerate()
            .for_each(|(b, block)| {
                let first = b * BLOCK;
                for (j, col) in slices.iter().enumerate() {
                    for (row, &x) in block.chunks_exact_mut(d).zip(&col[first..]) {
                        row[j + offset] = x;
                    }
                }
            });
        Ok(out)
    }

    /// Columns `names` as finite numbers, each as it lies in the table (numeric
    /// columns are not copied, only cast to `f64` where they are of another type; text
    /// is parsed): checked a column at a time in parallel, with a row-wise pass only to
    /// name the first bad cell. The columns have no nulls.
    ///
    /// # Errors
    ///
    /// As [`Table::numbers`], for the first bad column in `names` order.
    pub fn number_columns(&self, names: &[String], role: &str) -> Result<Vec<Float64Chunked>> {
        self.number_columns_as(names, role, true)
    }

    /// As [`Table::number_columns`]; with `finite` false the values are not scanned
    /// for NaN and infinities (empty and non-numeric cells still are), for a reader
    /// that checks every value itself (the linear kernel) and asks
    /// [`Table::number_columns`] to word the error if it finds one.
    pub(super) fn number_columns_as(
        &self,
        names: &[String],
        role: &str,
        finite: bool,
    ) -> Result<Vec<Float64Chunked>> {
        names
            .par_iter()
            .map(|name| self.number_column(name, role, finite))
            .collect::<Vec<_>>()
            .into_iter()
            .collect()
    }

    fn number_column(&self, name: &str, role: &str, finite: bool) -> Result<Float64Chunked> {
        let s = self.column(name, role)?;
        if !s.dtype().is_primitive_numeric() {
            return Ok(Float64Chunked::from_vec(
                name.into(),
                self.numbers(name, role)?,
            ));
        }
        let s = s.cast(&DataType::Float64)?;
        let ca = s.f64()?.clone();
        let mut first = 0;
        for arr in ca.downcast_iter() {
            let bad = if arr.validity().is_none_or(|v| v.unset_bits() == 0) {
                finite.then(|| first_non_finite(arr.values())).flatten()
            } else {
                (0..arr.len()).find(|&i| !arr.get(i).is_some_and(f64::is_finite))
            };
            if let Some(i) = bad {
                return Err(self.number_error(first + i, name, role, arr.get(i)));
            }
            first += arr.len();
        }
        Ok(ca)
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
        if s.dtype().is_primitive_numeric() {
            let ca = self.number_column(name, role, true)?;
            let mut out = Vec::with_capacity(ca.len());
            for arr in ca.downcast_iter() {
                out.extend_from_slice(arr.values());
            }
            return Ok(out);
        }
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

/// A column's values in one slice: borrowed when it is one chunk, else copied.
fn contiguous(ca: &Float64Chunked) -> std::borrow::Cow<'_, [f64]> {
    match ca.cont_slice() {
        Ok(v) => std::borrow::Cow::Borrowed(v),
        Err(_) => std::borrow::Cow::Owned(
            ca.downcast_iter()
                .flat_map(|a| a.values().iter().copied())
                .collect(),
        ),
    }
}

/// The first NaN or infinity of `values`: blocks are tested whole (a branch-free
/// loop the compiler vectorises), and only a block with one is searched.
fn first_non_finite(values: &[f64]) -> Option<usize> {
    const BLOCK: usize = 1024;
    const EXPONENT: u64 = 0x7ff0_0000_0000_0000;
    values.chunks(BLOCK).enumerate().find_map(|(b, block)| {
        let bad = block
            .iter()
            .fold(false, |bad, v| bad | (v.to_bits() & EXPONENT == EXPONENT));
        bad.then(|| {
            b * BLOCK
                + block
                    .iter()
                    .position(|v| !v.is_finite())
                    .expect("one is bad")
        })
    })
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

    #[test]
    fn a_parquet_table_reads_only_the_columns_asked_and_names_all_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut df = df!(
            "arm" => ["a", "b", "a"],
            "reward" => [1.0, 0.0, 1.0],
            "x" => [0.5, 1.5, 2.5],
            "other" => ["p", "q", "r"]
        )
        .unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let t = Table::read_columns(&path, Some(&["reward", "arm", "arm", "nope"])).unwrap();
        assert_eq!(t.df.get_column_names(), ["reward", "arm"]);
        assert_eq!(t.numbers("reward", "reward").unwrap(), [1.0, 0.0, 1.0]);
        let e = t.numbers("x", "feature").unwrap_err().to_string();
        assert!(e.ends_with("the columns are: arm, reward, x, other"), "{e}");
        let whole = Table::read(&path).unwrap();
        assert_eq!(whole.df.width(), 4);
    }

    #[test]
    fn codes_of_long_and_short_labels_over_chunks_agree_with_labels() {
        // Labels of at most 12 bytes are keyed by their view, longer ones by text.
        let mut a = df!("arm" => ["short", "a label longer than twelve", "b"]).unwrap();
        let b = df!("arm" => ["b", "a label longer than twelve", "short"]).unwrap();
        a.vstack_mut(&b).unwrap();
        let t = Table::from_frame(a, "t.parquet");
        let coded = t.codes("arm", "arm").unwrap();
        assert_eq!(coded.names, ["a label longer than twelve", "b", "short"]);
        assert_eq!(coded.codes, [2, 0, 1, 1, 0, 2]);
    }
}
