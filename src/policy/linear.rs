//! Sufficient statistics of disjoint linear bandits, merged by addition.
//!
//! Per allocation `a`, `Gₐ = Σ x xᵀ` and `bₐ = Σ r x` over its rows (and the row
//! count). The ridge term is added only when fitting (`Aₐ = λI + Gₐ`), so statistics
//! of chunks, days or warehouse partitions add exactly and `λ` stays a fit-time choice.
//! [`LinearStats::from_rows`] splits rows into fixed chunks of [`CHUNK_ROWS`], sums them
//! with rayon (the register-blocked inner loop is in `linear_kernel`) and adds the
//! chunk statistics in chunk order: the result does not depend on the thread count.

use ndarray::{ArrayView1, ArrayView2};
use rayon::prelude::*;

use std::borrow::Cow;

use super::linear_kernel::{accumulate_chunk, ChunkIn, ChunkOut, Features, Scratch};
pub use crate::error::LinearError;

/// Rows per chunk of [`LinearStats::from_rows`]: fixed, so the split (and thus the
/// floating-point sums) does not depend on the thread count.
pub const CHUNK_ROWS: usize = 8192;

/// `Σ x xᵀ`, `Σ r x` and row counts per allocation.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearStats {
    k: usize,
    d: usize,
    gram: Vec<f64>,
    b: Vec<f64>,
    n: Vec<u64>,
}

impl LinearStats {
    /// Empty statistics for `k` allocations and `d` features.
    #[must_use]
    pub fn zeros(k: usize, d: usize) -> Self {
        Self {
            k,
            d,
            gram: vec![0.0; k * d * d],
            b: vec![0.0; k * d],
            n: vec![0; k],
        }
    }

    /// Allocations.
    #[must_use]
    pub fn arms(&self) -> usize {
        self.k
    }

    /// Features per row.
    #[must_use]
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Allocation `a`'s `Σ x xᵀ` (d × d).
    ///
    /// # Panics
    ///
    /// If `a` is not below [`LinearStats::arms`].
    #[must_use]
    pub fn gram(&self, a: usize) -> ArrayView2<'_, f64> {
        let d = self.d;
        ArrayView2::from_shape((d, d), &self.gram[a * d * d..(a + 1) * d * d])
            .expect("the gram block has d × d entries")
    }

    /// Allocation `a`'s `Σ r x`.
    ///
    /// # Panics
    ///
    /// If `a` is not below [`LinearStats::arms`].
    #[must_use]
    pub fn b(&self, a: usize) -> ArrayView1<'_, f64> {
        ArrayView1::from(&self.b[a * self.d..(a + 1) * self.d])
    }

    /// Rows of allocation `a`.
    #[must_use]
    pub fn count(&self, a: usize) -> u64 {
        self.n[a]
    }

    /// Statistics of rows `x` (n × d), arms and rewards, over fixed chunks in parallel.
    ///
    /// # Errors
    ///
    /// [`LinearError::ShapeMismatch`] when lengths disagree,
    /// [`LinearError::ArmOutOfRange`], and [`LinearError::NonFinite`] naming the row
    /// and the reward or feature column.
    pub fn from_rows(
        k: usize,
        x: ArrayView2<'_, f64>,
        arms: &[u32],
        rewards: &[f64],
    ) -> Result<Self, LinearError> {
        let (rows, d) = x.dim();
        for (what, got) in [
            ("arms per row", arms.len()),
            ("rewards per row", rewards.len()),
        ] {
            if got != rows {
                return Err(LinearError::ShapeMismatch {
                    what,
                    expected: rows,
                    got,
                });
            }
        }
        let x = x.as_standard_layout();
        let xs = x.as_slice().expect("standard layout is contiguous");
        Self::sum_chunks(k, d, rows, |start, end, scratch, s| {
            let input = ChunkIn {
                first_row: start,
                xs: Features::Rows(&xs[start * d..end * d]),
                arms: &arms[start..end],
                rewards: &rewards[start..end],
            };
            accumulate(k, d, input, scratch, s)
        })
    }

    /// As [`LinearStats::from_rows`] with the features given as columns, each as the
    /// chunks it is stored in (the chunks of one column add up to the rows; columns
    /// may be chunked differently), after a constant 1 when `intercept`. No row-major
    /// copy of the rows is made, and the result is the same, to the last bit, as
    /// `from_rows` on the matrix of those columns: each row lands in the same place
    /// of the kernel's scratch and is summed in the same order.
    ///
    /// # Errors
    ///
    /// As [`LinearStats::from_rows`]; [`LinearError::ShapeMismatch`] also for a column
    /// whose chunks do not add up to the rows.
    pub fn from_columns(
        k: usize,
        intercept: bool,
        columns: &[Vec<&[f64]>],
        arms: &[u32],
        rewards: &[f64],
    ) -> Result<Self, LinearError> {
        let rows = arms.len();
        let d = columns.len() + usize::from(intercept);
        let lengths = columns.iter().map(|c| c.iter().map(|p| p.len()).sum());
        for (what, got) in std::iter::once(("rewards per row", rewards.len()))
            .chain(lengths.map(|n| ("values per feature column", n)))
        {
            if got != rows {
                return Err(LinearError::ShapeMismatch {
                    what,
                    expected: rows,
                    got,
                });
            }
        }
        let columns: Vec<ChunkedColumn<'_>> =
            columns.iter().map(|c| ChunkedColumn::new(c)).collect();
        Self::sum_chunks(k, d, rows, |start, end, scratch, s| {
            let parts: Vec<Cow<'_, [f64]>> = columns.iter().map(|c| c.range(start, end)).collect();
            let cols: Vec<&[f64]> = parts.iter().map(|p| &p[..]).collect();
            let input = ChunkIn {
                first_row: start,
                xs: Features::Columns {
                    intercept,
                    cols: &cols,
                },
                arms: &arms[start..end],
                rewards: &rewards[start..end],
            };
            accumulate(k, d, input, scratch, s)
        })
    }

    /// Sums fixed chunks of [`CHUNK_ROWS`] rows in parallel with `chunk` and adds them
    /// in chunk order, then mirrors the upper triangles.
    fn sum_chunks<F>(k: usize, d: usize, rows: usize, chunk: F) -> Result<Self, LinearError>
    where
        F: Fn(usize, usize, &mut Scratch, &mut LinearStats) -> Result<(), LinearError> + Sync,
    {
        let chunks: Vec<Result<LinearStats, LinearError>> = (0..rows.div_ceil(CHUNK_ROWS))
            .into_par_iter()
            .map_init(Scratch::default, |scratch, c| {
                let start = c * CHUNK_ROWS;
                let end = (start + CHUNK_ROWS).min(rows);
                let mut s = LinearStats::zeros(k, d);
                chunk(start, end, scratch, &mut s)?;
                Ok(s)
            })
            .collect();
        // Chunk order, not completion order: the sums and the error reported (the first
        // bad row) do not depend on the thread count.
        let mut total = LinearStats::zeros(k, d);
        for c in chunks {
            total.add(&c?)?;
        }
        // Chunks fill upper triangles only; mirror once.
        for g in total.gram.chunks_exact_mut((d * d).max(1)) {
            for i in 0..d {
                for j in 0..i {
                    g[i * d + j] = g[j * d + i];
                }
            }
        }
        Ok(total)
    }

    /// Adds another set of statistics of the same shape.
    ///
    /// # Errors
    ///
    /// [`LinearError::ShapeMismatch`] if the allocations or dimensions differ.
    pub fn add(&mut self, other: &LinearStats) -> Result<(), LinearError> {
        for (what, expected, got) in [
            ("allocations", self.k, other.k),
            ("features", self.d, other.d),
        ] {
            if expected != got {
                return Err(LinearError::ShapeMismatch {
                    what,
                    expected,
                    got,
                });
            }
        }
        // Adding full symmetric matrices keeps them symmetric.
        for (s, o) in self.gram.iter_mut().zip(&other.gram) {
            *s += o;
        }
        for (s, o) in self.b.iter_mut().zip(&other.b) {
            *s += o;
        }
        for (s, o) in self.n.iter_mut().zip(&other.n) {
            *s += o;
        }
        Ok(())
    }

    /// Statistics from their parts: `gram` holds `k` full symmetric `d × d` matrices
    /// of `Σ x xᵀ` (row-major, one after another), `b` holds `k` vectors `Σ r x`, `n`
    /// the row counts.
    ///
    /// # Errors
    ///
    /// [`LinearError::ShapeMismatch`] when a length does not match `k` and `d`.
    pub fn from_parts(
        k: usize,
        d: usize,
        gram: Vec<f64>,
        b: Vec<f64>,
        n: Vec<u64>,
    ) -> Result<Self, LinearError> {
        for (what, expected, got) in [
            ("gram entries", k * d * d, gram.len()),
            ("b entries", k * d, b.len()),
            ("counts", k, n.len()),
        ] {
            if expected != got {
                return Err(LinearError::ShapeMismatch {
                    what,
                    expected,
                    got,
                });
            }
        }
        Ok(Self { k, d, gram, b, n })
    }

    /// The statistics scaled by `factor` (decay of old data before adding new).
    /// Counts are kept: they say how many rows were seen, not how much they weigh.
    #[must_use]
    pub fn scaled(mut self, factor: f64) -> Self {
        self.gram.iter_mut().for_each(|v| *v *= factor);
        self.b.iter_mut().for_each(|v| *v *= factor);
        self
    }
}

/// One chunk's statistics added into `s`.
fn accumulate(
    k: usize,
    d: usize,
    input: ChunkIn<'_>,
    scratch: &mut Scratch,
    s: &mut LinearStats,
) -> Result<(), LinearError> {
    let out = ChunkOut {
        gram: &mut s.gram,
        b: &mut s.b,
        n: &mut s.n,
    };
    accumulate_chunk(k, d, input, scratch, out)
}

/// A column stored in chunks, read a range of rows at a time.
struct ChunkedColumn<'a> {
    parts: &'a [&'a [f64]],
    /// First row of each part, then the end.
    starts: Vec<usize>,
}

impl<'a> ChunkedColumn<'a> {
    fn new(parts: &'a [&'a [f64]]) -> Self {
        let mut starts = vec![0];
        for p in parts {
            starts.push(starts.last().copied().unwrap_or(0) + p.len());
        }
        Self { parts, starts }
    }

    /// Rows `start..end`: borrowed when they lie in one part, else copied.
    fn range(&self, start: usize, end: usize) -> Cow<'a, [f64]> {
        let i = self
            .starts
            .partition_point(|&s| s <= start)
            .saturating_sub(1);
        let Some(part) = self.parts.get(i) else {
            return Cow::Borrowed(&[]);
        };
        let lo = start - self.starts[i];
        if end <= self.starts[i + 1] {
            return Cow::Borrowed(&part[lo..end - self.starts[i]]);
        }
        let mut out = Vec::with_capacity(end - start);
        let mut at = start;
        for (p, &s) in self.parts[i..].iter().zip(&self.starts[i..]) {
            if at >= end {
                break;
            }
            let take = (end - at).min(s + p.len() - at);
            out.extend_from_slice(&p[at - s..at - s + take]);
            at += take;
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    #[test]
    fn statistics_are_sums_of_outer_products_per_arm() {
        let x = array![[1.0, 2.0], [1.0, -1.0], [1.0, 3.0]];
        let s = LinearStats::from_rows(2, x.view(), &[0, 0, 1], &[1.0, 0.5, 2.0]).unwrap();
        assert_eq!(s.gram(0), array![[2.0, 1.0], [1.0, 5.0]]);
        assert_eq!(s.b(0), array![1.5, 1.5]);
        assert_eq!(s.gram(1), array![[1.0, 3.0], [3.0, 9.0]]);
        assert_eq!((s.count(0), s.count(1)), (2, 1));
    }

    #[test]
    fn non_finite_inputs_name_their_row_and_source() {
        let x = array![[1.0, 2.0], [1.0, f64::NAN]];
        let e = LinearStats::from_rows(1, x.view(), &[0, 0], &[1.0, 1.0]).unwrap_err();
        assert_eq!(
            e,
            LinearError::NonFinite {
                input: "feature column 1".into(),
                row: 1
            }
        );
        let x = array![[1.0, 2.0]];
        let e = LinearStats::from_rows(1, x.view(), &[0], &[f64::INFINITY]).unwrap_err();
        assert!(e.to_string().contains("row 0: reward"), "{e}");
        let e = LinearStats::from_rows(1, x.view(), &[3], &[1.0]).unwrap_err();
        assert!(matches!(e, LinearError::ArmOutOfRange { arm: 3, .. }));
    }

    #[test]
    fn columns_in_chunks_give_the_bits_of_the_row_major_matrix() {
        // Over several chunks and kernel blocks, with an intercept, columns split
        // at rows that do not fall on chunk boundaries (and an empty part).
        let (k, m, f) = (3usize, 2 * CHUNK_ROWS + 1234, 5usize);
        let cols: Vec<Vec<f64>> = (0..f)
            .map(|j| {
                (0..m)
                    .map(|i| (((i * 31 + j * 17) % 97) as f64 - 48.0) / 13.0)
                    .collect()
            })
            .collect();
        let arms: Vec<u32> = (0..m).map(|i| (i * 7 % 11 % k) as u32).collect();
        let rewards: Vec<f64> = (0..m).map(|i| (i % 5) as f64 * 0.37).collect();
        let mut x = ndarray::Array2::<f64>::ones((m, f + 1));
        for (j, c) in cols.iter().enumerate() {
            for (i, &v) in c.iter().enumerate() {
                x[[i, j + 1]] = v;
            }
        }
        let want = LinearStats::from_rows(k, x.view(), &arms, &rewards).unwrap();
        let cuts = [0, 5000, 5000, CHUNK_ROWS + 3, m];
        let chunked: Vec<Vec<&[f64]>> = cols
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if j % 2 == 0 {
                    cuts.windows(2).map(|w| &c[w[0]..w[1]]).collect()
                } else {
                    vec![c.as_slice()]
                }
            })
            .collect();
        let got = LinearStats::from_columns(k, true, &chunked, &arms, &rewards).unwrap();
        assert_eq!(got, want);
        // Without the intercept: the matrix of the columns alone.
        let x = x.slice(ndarray::s![.., 1..]);
        let want = LinearStats::from_rows(k, x, &arms, &rewards).unwrap();
        let got = LinearStats::from_columns(k, false, &chunked, &arms, &rewards).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn a_bad_value_in_a_column_names_its_row_and_column() {
        let a = [1.0, 2.0, 3.0];
        let b = [1.0, f64::NAN, 3.0];
        let cols = vec![vec![&a[..]], vec![&b[..1], &b[1..]]];
        let e = LinearStats::from_columns(2, true, &cols, &[0, 1, 0], &[0.0; 3]).unwrap_err();
        assert_eq!(
            e,
            LinearError::NonFinite {
                input: "feature column 2".into(),
                row: 1
            }
        );
        let short = vec![vec![&a[..2]]];
        let e = LinearStats::from_columns(2, true, &short, &[0, 1, 0], &[0.0; 3]).unwrap_err();
        assert!(matches!(e, LinearError::ShapeMismatch { .. }), "{e}");
    }
}
