//! The distribution functions behind metrics and health checks, and the one empirical
//! quantile of the engine.
//!
//! Special functions come from `statrs`, so no numerical approximation is kept here.
//! Checked against mpmath at 40 digits: its `erfc` is within 1.1e-10 relative error
//! on [0.1, 4] (its own tests allow 1e-9), the chi-square survival function within
//! 1e-14; the Numerical Recipes `erfcc` this replaces was within 1.2e-7.

use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::erf::erfc;

/// Two-sided p-value of a z statistic: `P(|Z| ≥ |z|)` for a standard normal `Z`.
#[must_use]
pub fn two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// Survival function of the chi-square distribution with `df` degrees of freedom
/// (1 at `x ≤ 0`); NaN when `df` is not a positive finite number.
#[must_use]
pub fn chi_square_sf(x: f64, df: f64) -> f64 {
    ChiSquared::new(df).map_or(f64::NAN, |d| d.sf(x))
}

/// The `q`-quantile (0 ≤ q ≤ 1) of sorted values by linear interpolation between
/// order statistics (Hyndman & Fan's type 7, numpy's default); `None` when empty.
#[must_use]
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = q * last as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(last);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;

    #[test]
    fn normal_quantiles_from_the_tables() {
        // z = 1.959963985 and 2.5758293 (to the tables' digits) leave 5% and 1%.
        assert_abs_diff_eq!(two_sided_p(1.959_963_985), 0.05, epsilon = 1e-9);
        assert_abs_diff_eq!(two_sided_p(-1.959_963_985), 0.05, epsilon = 1e-9);
        assert_abs_diff_eq!(two_sided_p(0.0), 1.0, epsilon = 1e-15);
        assert_abs_diff_eq!(two_sided_p(2.575_829_3), 0.01, epsilon = 1e-9);
    }

    #[test]
    fn chi_square_critical_values_from_the_tables() {
        // 95% critical values: 3.841459 (1 df), 5.991465 (2 df), 7.814728 (3 df);
        // 99.9% with 10 df: 29.58830.
        assert_abs_diff_eq!(chi_square_sf(3.841_459, 1.0), 0.05, epsilon = 1e-6);
        assert_abs_diff_eq!(chi_square_sf(5.991_465, 2.0), 0.05, epsilon = 1e-6);
        assert_abs_diff_eq!(chi_square_sf(7.814_728, 3.0), 0.05, epsilon = 1e-6);
        assert_abs_diff_eq!(chi_square_sf(29.588_30, 10.0), 0.001, epsilon = 1e-7);
        // 2 df is exp(-x/2) exactly, 1 df is the two-sided normal tail of √x (to the
        // accuracy of `erfc`).
        assert_abs_diff_eq!(chi_square_sf(1.3, 2.0), (-0.65f64).exp(), epsilon = 1e-12);
        assert_abs_diff_eq!(
            chi_square_sf(2.7, 1.0),
            two_sided_p(2.7f64.sqrt()),
            epsilon = 1e-10
        );
        assert_eq!(chi_square_sf(0.0, 3.0), 1.0);
        assert!(chi_square_sf(1.0, 0.0).is_nan());
    }

    #[test]
    fn quantile_interpolates_linearly_as_numpy() {
        // numpy.quantile([1, 2, 3, 4, 100], 0.9) == 61.6
        let q = quantile_sorted(&[1.0, 2.0, 3.0, 4.0, 100.0], 0.9).unwrap();
        assert_abs_diff_eq!(q, 61.6, epsilon = 1e-12);
        assert_eq!(quantile_sorted(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
        assert_eq!(quantile_sorted(&[1.0, 2.0], 1.0), Some(2.0));
    }
}
