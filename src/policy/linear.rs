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

use super::linear_kernel::{accumulate_chunk, ChunkIn, ChunkOut, Scratch};
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
        let chunks: Vec<Result<LinearStats, LinearError>> = (0..rows.div_ceil(CHUNK_ROWS))
            .into_par_iter()
            .map_init(Scratch::default, |scratch, c| {
                let start = c * CHUNK_ROWS;
                let end = (start + CHUNK_ROWS).min(rows);
                let mut s = LinearStats::zeros(k, d);
                let input = ChunkIn {
                    first_row: start,
                    xs: &xs[start * d..end * d],
                    arms: &arms[start..end],
                    rewards: &rewards[start..end],
                };
                let out = ChunkOut {
                    gram: &mut s.gram,
                    b: &mut s.b,
                    n: &mut s.n,
                };
                accumulate_chunk(k, d, input, scratch, out)?;
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
}
