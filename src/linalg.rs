//! Dense linear algebra behind one small interface, with two backends.
//!
//! By default the pure-Rust [faer](https://docs.rs/faer) backend, so the crate builds
//! with no system library; with `--features blas`, LAPACK through ndarray-linalg over
//! the system OpenBLAS. The linear bandits (LinUCB, linear Thompson sampling) need a
//! Cholesky solve of `A x = b` with `A = λI + Σ w x xᵀ` symmetric positive definite.

use ndarray::{Array1, ArrayView1, ArrayView2};

/// Errors of the linear-algebra backends.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinalgError {
    /// The matrix is not square or does not match the right-hand side.
    #[error("shape mismatch: matrix {rows}x{cols}, right-hand side {rhs}")]
    ShapeMismatch {
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
        /// Length of the right-hand side.
        rhs: usize,
    },
    /// Cholesky failed: the matrix is not symmetric positive definite.
    #[error("matrix is not symmetric positive definite (raise the ridge λ)")]
    NotPositiveDefinite,
}

/// The backend compiled in: `"faer"` or `"openblas"`.
pub const BACKEND: &str = if cfg!(feature = "blas") {
    "openblas"
} else {
    "faer"
};

/// Solves `A x = b` for symmetric positive definite `A` by Cholesky.
///
/// # Errors
///
/// [`LinalgError::ShapeMismatch`] for non-square `A` or a `b` of the wrong length,
/// [`LinalgError::NotPositiveDefinite`] if the factorisation fails.
pub fn solve_spd(
    a: ArrayView2<'_, f64>,
    b: ArrayView1<'_, f64>,
) -> Result<Array1<f64>, LinalgError> {
    let (rows, cols) = a.dim();
    if rows != cols || b.len() != rows {
        return Err(LinalgError::ShapeMismatch {
            rows,
            cols,
            rhs: b.len(),
        });
    }
    backend::solve_spd(a, b)
}

/// The lower Cholesky factor `L` of symmetric positive definite `A = L Lᵀ` (upper
/// triangle zero). Scorers that need `A⁻¹x` use it through triangular solves, never an
/// explicit inverse.
///
/// # Errors
///
/// [`LinalgError::ShapeMismatch`] for non-square `A`,
/// [`LinalgError::NotPositiveDefinite`] if the factorisation fails.
pub fn cholesky_lower(a: ArrayView2<'_, f64>) -> Result<ndarray::Array2<f64>, LinalgError> {
    let (rows, cols) = a.dim();
    if rows != cols {
        return Err(LinalgError::ShapeMismatch {
            rows,
            cols,
            rhs: rows,
        });
    }
    let mut l = backend::cholesky_lower(a)?;
    for i in 0..rows {
        for j in i + 1..cols {
            l[[i, j]] = 0.0;
        }
    }
    Ok(l)
}

#[cfg(not(feature = "blas"))]
mod backend {
    use faer::linalg::solvers::Solve;
    use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

    use super::LinalgError;

    pub(super) fn solve_spd(
        a: ArrayView2<'_, f64>,
        b: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>, LinalgError> {
        let n = b.len();
        let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[[i, j]]);
        let llt = m
            .llt(faer::Side::Lower)
            .map_err(|_| LinalgError::NotPositiveDefinite)?;
        let rhs = faer::Mat::<f64>::from_fn(n, 1, |i, _| b[i]);
        let x = llt.solve(&rhs);
        Ok(Array1::from_shape_fn(n, |i| x[(i, 0)]))
    }

    pub(super) fn cholesky_lower(a: ArrayView2<'_, f64>) -> Result<Array2<f64>, LinalgError> {
        let n = a.nrows();
        let m = faer::Mat::<f64>::from_fn(n, n, |i, j| a[[i, j]]);
        let llt = m
            .llt(faer::Side::Lower)
            .map_err(|_| LinalgError::NotPositiveDefinite)?;
        let l = llt.L();
        Ok(Array2::from_shape_fn((n, n), |(i, j)| l[(i, j)]))
    }
}

#[cfg(feature = "blas")]
mod backend {
    use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
    use ndarray_linalg::{
        cholesky::{Cholesky, SolveC},
        UPLO,
    };

    use super::LinalgError;

    pub(super) fn solve_spd(
        a: ArrayView2<'_, f64>,
        b: ArrayView1<'_, f64>,
    ) -> Result<Array1<f64>, LinalgError> {
        let _ = UPLO::Lower;
        a.to_owned()
            .solvec(&b.to_owned())
            .map_err(|_| LinalgError::NotPositiveDefinite)
    }

    pub(super) fn cholesky_lower(a: ArrayView2<'_, f64>) -> Result<Array2<f64>, LinalgError> {
        a.to_owned()
            .cholesky(UPLO::Lower)
            .map_err(|_| LinalgError::NotPositiveDefinite)
    }
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;
    use ndarray::{array, Array2};

    use super::*;

    #[test]
    fn solves_a_known_system() {
        // A = [[4, 2], [2, 3]], x = [1, -1] → b = [2, -1].
        let a = array![[4.0, 2.0], [2.0, 3.0]];
        let x = solve_spd(a.view(), array![2.0, -1.0].view()).unwrap();
        assert_abs_diff_eq!(x[0], 1.0, epsilon = 1e-12);
        assert_abs_diff_eq!(x[1], -1.0, epsilon = 1e-12);
    }

    #[test]
    fn cholesky_factor_reproduces_the_matrix() {
        // [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, √2]].
        let a = array![[4.0, 2.0], [2.0, 3.0]];
        let l = cholesky_lower(a.view()).unwrap();
        assert_abs_diff_eq!(l[[0, 0]], 2.0, epsilon = 1e-12);
        assert_abs_diff_eq!(l[[1, 0]], 1.0, epsilon = 1e-12);
        assert_abs_diff_eq!(l[[1, 1]], 2.0f64.sqrt(), epsilon = 1e-12);
        assert_eq!(l[[0, 1]], 0.0);
        assert!(cholesky_lower(array![[1.0, 2.0], [2.0, 1.0]].view()).is_err());
    }

    #[test]
    fn refuses_indefinite_and_misshapen_input() {
        let a = array![[1.0, 2.0], [2.0, 1.0]];
        assert_eq!(
            solve_spd(a.view(), array![1.0, 1.0].view()),
            Err(LinalgError::NotPositiveDefinite)
        );
        let a = Array2::<f64>::eye(3);
        assert!(matches!(
            solve_spd(a.view(), array![1.0].view()),
            Err(LinalgError::ShapeMismatch { .. })
        ));
    }
}
