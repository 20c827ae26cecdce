//! Probability of being best for Beta posteriors by one-dimensional quadrature.
//!
//! For independent posteriors with densities `fᵢ` and distribution functions `Fᵢ`,
//!
//! ```text
//! P(arm i is best) = ∫ fᵢ(x) Π_{j≠i} Fⱼ(x) dx
//! ```
//!
//! (e.g. Scott, "A modern Bayesian look at the multi-armed bandit", Appl. Stoch. Models
//! Bus. Ind. 26, 2010, eq. 5). The integral is evaluated on one fixed, deterministic
//! grid: [`NODES_PER_ARM`] evenly spaced points over `mean ± 12 sd` of every arm,
//! clipped to the open unit interval, merged and sorted, so each posterior is resolved
//! at its own scale however narrow it is. On that grid each density is evaluated up to
//! its constant (`(α−1) ln x + (β−1) ln(1−x)`, shifted by its maximum), its
//! distribution function is the cumulative trapezoid rule normalised to end at 1
//! (so no incomplete Beta function is needed), and the outer integral is the trapezoid
//! rule again; the results are normalised to sum to 1.
//!
//! There is no sampling noise and the cost is `O(K² · K · NODES_PER_ARM)` per policy,
//! tens of microseconds for a handful of arms, against milliseconds for 10 000 Monte
//! Carlo draws: this is what makes per-entity bandits with tens of thousands of
//! entities cheap. Accuracy is about 1e-3 absolute for posteriors with `α, β ≥ 1`
//! (checked against the closed form and Monte Carlo in the tests); densities that are
//! infinite at 0 or 1 (`α < 1` or `β < 1`) are integrated less accurately, which is
//! why the engine uses this only for small `K` with posteriors from a `Beta(1, 1)`-like
//! prior and keeps Monte Carlo otherwise.

use rayon::prelude::*;

/// Evenly spaced grid points per arm.
pub const NODES_PER_ARM: usize = 128;

/// Half-width of each arm's grid, in posterior standard deviations.
const SPAN_SD: f64 = 12.0;

/// Smallest distance of a grid point from 0 and 1.
const EDGE: f64 = 1e-12;

/// Posterior probability that each `Beta(α, β)` is the largest, by quadrature.
///
/// Parameters must be positive and finite (as the fitted posteriors of
/// [`super::ThompsonBernoulli::posteriors`] are). An empty input gives an empty output.
#[must_use]
pub fn beta_probability_best(posteriors: &[(f64, f64)]) -> Vec<f64> {
    let k = posteriors.len();
    if k <= 1 {
        return vec![1.0; k];
    }
    let grid = grid(posteriors);
    let lx: Vec<f64> = grid.iter().map(|x| x.ln()).collect();
    let l1x: Vec<f64> = grid.iter().map(|x| (-x).ln_1p()).collect();
    let mut dens = Vec::with_capacity(k);
    let mut cdfs = Vec::with_capacity(k);
    for &(a, b) in posteriors {
        let logs: Vec<f64> = lx
            .iter()
            .zip(&l1x)
            .map(|(l, m)| (a - 1.0) * l + (b - 1.0) * m)
            .collect();
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let f: Vec<f64> = logs.iter().map(|l| (l - top).exp()).collect();
        let mut cdf = Vec::with_capacity(f.len());
        let mut acc = 0.0;
        cdf.push(0.0);
        for g in 1..grid.len() {
            acc += 0.5 * (f[g] + f[g - 1]) * (grid[g] - grid[g - 1]);
            cdf.push(acc);
        }
        let total = acc.max(f64::MIN_POSITIVE);
        dens.push(f.into_iter().map(|v| v / total).collect::<Vec<f64>>());
        cdfs.push(cdf.into_iter().map(|v| v / total).collect::<Vec<f64>>());
    }
    let mut p = vec![0.0; k];
    for (i, pi) in p.iter_mut().enumerate() {
        let integrand: Vec<f64> = (0..grid.len())
            .map(|g| {
                let mut v = dens[i][g];
                for (j, c) in cdfs.iter().enumerate() {
                    if j != i {
                        v *= c[g];
                    }
                }
                v
            })
            .collect();
        *pi = (1..grid.len())
            .map(|g| 0.5 * (integrand[g] + integrand[g - 1]) * (grid[g] - grid[g - 1]))
            .sum();
    }
    let total: f64 = p.iter().sum();
    if total > 0.0 {
        p.iter_mut().for_each(|v| *v /= total);
    } else {
        p.iter_mut().for_each(|v| *v = 1.0 / k as f64);
    }
    p
}

/// [`beta_probability_best`] for many independent policies or entities, in parallel;
/// the output is in input order and does not depend on the thread count.
#[must_use]
pub fn beta_probability_best_many(posteriors: &[Vec<(f64, f64)>]) -> Vec<Vec<f64>> {
    posteriors
        .par_iter()
        .map(|p| beta_probability_best(p))
        .collect()
}

/// The merged grid of every arm's `mean ± 12 sd`, clipped to `[EDGE, 1 − EDGE]`.
fn grid(posteriors: &[(f64, f64)]) -> Vec<f64> {
    let mut g = Vec::with_capacity(posteriors.len() * NODES_PER_ARM);
    for &(a, b) in posteriors {
        let s = a + b;
        let mean = a / s;
        let sd = (a * b / (s * s * (s + 1.0))).sqrt();
        let lo = (mean - SPAN_SD * sd).max(EDGE);
        let hi = (mean + SPAN_SD * sd).min(1.0 - EDGE);
        let step = (hi - lo) / (NODES_PER_ARM - 1) as f64;
        g.extend((0..NODES_PER_ARM).map(|n| lo + step * n as f64));
    }
    g.sort_by(f64::total_cmp);
    g.dedup();
    g
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;
    use crate::policy::ThompsonBernoulliParams;
    use crate::reward::ArmStats;

    #[test]
    fn two_arms_match_the_closed_form() {
        // Evan Miller's closed form (see thompson.rs): P(Beta(6,6) > Beta(3,9)) = 0.908669.
        let p = beta_probability_best(&[(3.0, 9.0), (6.0, 6.0)]);
        assert_abs_diff_eq!(p[1], 0.908_669, epsilon = 1e-3);
        assert_abs_diff_eq!(p[0] + p[1], 1.0, epsilon = 1e-12);
    }

    #[test]
    fn agrees_with_monte_carlo_on_mixed_widths() {
        // A narrow arm among wide ones, and a near tie: the grid must resolve both.
        let arms = [
            ArmStats {
                n: 20_000,
                sum: 1_000.0,
                sum_sq: 1_000.0,
            },
            ArmStats {
                n: 200,
                sum: 12.0,
                sum_sq: 12.0,
            },
            ArmStats {
                n: 150,
                sum: 6.0,
                sum_sq: 6.0,
            },
            ArmStats {
                n: 2_000,
                sum: 104.0,
                sum_sq: 104.0,
            },
            ArmStats {
                n: 50,
                sum: 1.0,
                sum_sq: 1.0,
            },
        ];
        let tb = ThompsonBernoulliParams::default()
            .draws(400_000)
            .seed(11)
            .check()
            .unwrap();
        let mc = tb.probability_best(&arms, "q").unwrap();
        let q = beta_probability_best(&tb.posteriors(&arms).unwrap());
        for (a, b) in q.iter().zip(&mc) {
            assert_abs_diff_eq!(*a, *b, epsilon = 0.004);
        }
    }

    #[test]
    fn identical_arms_share_exactly_and_many_keeps_order() {
        let p = beta_probability_best(&[(5.0, 50.0); 4]);
        for v in &p {
            assert_abs_diff_eq!(*v, 0.25, epsilon = 1e-9);
        }
        let many = beta_probability_best_many(&[vec![(3.0, 9.0), (6.0, 6.0)], vec![(1.0, 1.0)]]);
        assert_eq!(many[0], beta_probability_best(&[(3.0, 9.0), (6.0, 6.0)]));
        assert_eq!(many[1], vec![1.0]);
    }
}
