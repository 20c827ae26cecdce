//! The relative lift's interval: golden values and seeded simulations.

use super::{relative_lift, Z95};
use approx::assert_abs_diff_eq;
use proptest::prelude::*;

#[test]
fn relative_lift_is_the_ratio_of_means_with_fiellers_interval() {
    // Means 12 and 10, each with variance of the mean 1. Golden ends: the roots,
    // minus one, of (m_c² − z²v_c)ρ² − 2 m m_c ρ + (m² − z²v) = 0, Python 3.11 +
    // numpy 2.4: `sorted(np.roots([100 - z*z, -240, 144 - z*z]) - 1)`.
    let (r, ci) = relative_lift(12.0, 10.0, Some(1.0), Some(1.0)).unwrap();
    assert_abs_diff_eq!(r, 0.2, epsilon = 1e-15);
    let (low, high) = ci.unwrap();
    assert_abs_diff_eq!(low, -0.067_931_562_372_947_62, epsilon = 1e-12);
    assert_abs_diff_eq!(high, 0.563_809_692_974_725_2, epsilon = 1e-12);
    // Wider than the delta method's 0.2 ± z·√((1 + 1.2²·1)/10²) = [−0.106, 0.506]
    // upwards, and shifted up: the ratio's skew.
    let delta_half = Z95 * (2.44f64 / 100.0).sqrt();
    assert!(high > 0.2 + delta_half && low > 0.2 - delta_half);
}

#[test]
fn fiellers_interval_approaches_the_delta_method_for_a_precise_control() {
    // g = z²·v_c/m_c² = 3.84e-8: Fieller's centre (r̂ + g)/(1 − g) is off the delta
    // method's r̂ by about g·(1 + r̂) = 4.2e-8, its half-width by less, against a
    // half-width of z·se = 0.0196.
    let (m, mc, v, vc) = (0.11, 0.10, 1e-6, 1e-10);
    let (r, ci) = relative_lift(m, mc, Some(v), Some(vc)).unwrap();
    let (low, high) = ci.unwrap();
    let se = (v / (mc * mc) + m * m * vc / mc.powi(4)).sqrt();
    assert_abs_diff_eq!(low, r - Z95 * se, epsilon = 1e-7);
    assert_abs_diff_eq!(high, r + Z95 * se, epsilon = 1e-7);
    assert!(high - low > 0.039);
}

#[test]
fn a_zero_control_mean_has_no_relative_lift() {
    assert_eq!(relative_lift(0.3, 0.0, Some(0.01), Some(0.0)), None);
    assert_eq!(relative_lift(0.0, 0.0, Some(0.0), Some(0.0)), None);
}

#[test]
fn a_control_mean_within_its_noise_of_zero_has_an_unbounded_interval() {
    // g = z²·0.01/0.1² = z² > 1: every ratio is compatible with the data.
    let (r, ci) = relative_lift(0.3, 0.1, Some(0.01), Some(0.01)).unwrap();
    assert_abs_diff_eq!(r, 2.0, epsilon = 1e-12);
    assert_eq!(ci, None);
    // A missing variance (one unit) gives the estimate alone.
    let (r, ci) = relative_lift(0.3, 0.1, None, Some(1e-6)).unwrap();
    assert_abs_diff_eq!(r, 2.0, epsilon = 1e-12);
    assert_eq!(ci, None);
}

#[test]
fn a_subnormal_control_mean_gives_no_infinity() {
    let got = relative_lift(1.0, 1e-310, Some(0.1), Some(0.1));
    assert_eq!(got, None, "the ratio overflows: undefined, not inf");
    let (_, ci) = relative_lift(1e-310, 1e-310, Some(0.0), Some(0.0)).unwrap();
    assert_eq!(ci, None, "g = 0/0 is not a bounded interval");
}

/// Per replicate of two binomial allocations (`n` units each, true rates `pt` and
/// `pc`): the relative lift and its interval, from the sample means and the
/// variances of the means `p̂(1 − p̂)/(n − 1)` as [`super::Sums`] computes them.
fn simulate(pt: f64, pc: f64, n: u64, reps: usize, seed: u64) -> Vec<(f64, Option<(f64, f64)>)> {
    use rand::SeedableRng;
    use rand_distr::{Binomial, Distribution};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (t, c) = (Binomial::new(n, pt).unwrap(), Binomial::new(n, pc).unwrap());
    let nf = n as f64;
    (0..reps)
        .filter_map(|_| {
            let (m, mc) = (
                t.sample(&mut rng) as f64 / nf,
                c.sample(&mut rng) as f64 / nf,
            );
            let var = |p: f64| p * (1.0 - p) / (nf - 1.0);
            relative_lift(m, mc, Some(var(m)), Some(var(mc)))
        })
        .collect()
}

#[test]
fn the_delta_method_variance_matches_a_seeded_simulation() {
    // 5 % against 5.5 %, 20 000 units each: Var(r̂) ≈ v/p_c² + p_t² v_c/p_c⁴ with
    // the true rates. Replicates: 8 000, so the simulated variance has a relative
    // standard error of √(2/8000) = 1.6 %. (numpy 2.4, 400 000 replicates: ratio
    // 1.0055.)
    let (pt, pc, n) = (0.055, 0.05, 20_000u64);
    let rs: Vec<f64> = simulate(pt, pc, n, 8000, 11)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let mean = rs.iter().sum::<f64>() / rs.len() as f64;
    let var = rs.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (rs.len() - 1) as f64;
    let (v, vc) = (pt * (1.0 - pt) / n as f64, pc * (1.0 - pc) / n as f64);
    let delta = v / (pc * pc) + pt * pt * vc / pc.powi(4);
    assert!((var / delta - 1.0).abs() < 0.06, "{var} vs {delta}");
    assert!((mean - (pt / pc - 1.0)).abs() < 0.01, "{mean}");
}

#[test]
fn fiellers_interval_covers_the_true_relative_lift_95_times_in_100() {
    // 2 % against 2.4 % with 2 000 units each: the control has ~40 conversions.
    // 4 000 replicates: coverage standard error 0.34 points.
    let truth = 0.024 / 0.02 - 1.0;
    let sims = simulate(0.024, 0.02, 2000, 4000, 12);
    let covered = sims
        .iter()
        .filter(|(_, ci)| ci.is_some_and(|(low, high)| low <= truth && truth <= high))
        .count();
    assert!(sims.iter().all(|(_, ci)| ci.is_some()), "bounded here");
    let coverage = covered as f64 / sims.len() as f64;
    assert!((0.94..=0.96).contains(&coverage), "{coverage}");
}

proptest! {
    #[test]
    fn the_interval_holds_the_estimate_and_excludes_zero_exactly_when_welchs_test_rejects(
        m in -50.0f64..50.0,
        mc in prop_oneof![-50.0f64..-0.01, 0.01f64..50.0],
        v in 0.0f64..10.0,
        vc in 0.0f64..10.0,
    ) {
        let (r, ci) = relative_lift(m, mc, Some(v), Some(vc)).unwrap();
        prop_assert!((r - (m / mc - 1.0)).abs() <= 1e-9 * (1.0 + r.abs()));
        let g = Z95 * Z95 * vc / (mc * mc);
        prop_assert_eq!(ci.is_some(), g < 1.0);
        if let Some((low, high)) = ci {
            let tol = 1e-9 * (1.0 + r.abs());
            prop_assert!(low <= r + tol && r <= high + tol, "{low} {r} {high}");
            let welch = (m - mc).abs() / (v + vc).sqrt();
            // Skip the knife edge, where rounding decides.
            if (welch - Z95).abs() > 1e-6 {
                prop_assert_eq!(low > 0.0 || high < 0.0, welch > Z95);
            }
        }
    }
}
