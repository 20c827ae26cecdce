//! Small, dependency-free distribution functions for metrics and health checks.
//!
//! Formulas: the complementary error function by the Chebyshev fit of Press et al.,
//! *Numerical Recipes* (2nd ed., §6.2, `erfcc`, fractional error below 1.2e-7); the
//! log-gamma function by Lanczos' approximation (g = 7, n = 9, the coefficients
//! published with Godfrey's note); the regularised incomplete gamma function by its
//! series and Lentz's continued fraction (*Numerical Recipes* §6.2).

/// Complementary error function.
#[must_use]
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Standard normal cumulative distribution function.
#[must_use]
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Two-sided p-value of a z statistic.
#[must_use]
pub fn two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// Natural log of the gamma function, for `x > 0`.
#[must_use]
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised upper incomplete gamma function `Q(a, x)`, for `a > 0`, `x >= 0`.
#[must_use]
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        // Series for P(a, x).
        let (mut sum, mut term, mut n) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        1.0 - sum * ln_front.exp()
    } else {
        // Continued fraction for Q(a, x), modified Lentz.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        ln_front.exp() * h
    }
}

/// Survival function of the chi-square distribution with `df` degrees of freedom.
#[must_use]
pub fn chi_square_sf(x: f64, df: f64) -> f64 {
    gamma_q(df / 2.0, x / 2.0)
}

#[cfg(test)]
mod tests {
    use approx::assert_abs_diff_eq;

    use super::*;

    #[test]
    fn normal_quantiles_from_the_tables() {
        assert_abs_diff_eq!(normal_cdf(1.959_963_985), 0.975, epsilon = 2e-7);
        assert_abs_diff_eq!(normal_cdf(0.0), 0.5, epsilon = 2e-7);
        assert_abs_diff_eq!(two_sided_p(2.575_829_3), 0.01, epsilon = 2e-7);
    }

    #[test]
    fn chi_square_critical_values_from_the_tables() {
        // 95% critical values: 3.841459 (1 df), 5.991465 (2 df), 7.814728 (3 df);
        // 99.9% with 10 df: 29.58830.
        assert_abs_diff_eq!(chi_square_sf(3.841_459, 1.0), 0.05, epsilon = 1e-6);
        assert_abs_diff_eq!(chi_square_sf(5.991_465, 2.0), 0.05, epsilon = 1e-6);
        assert_abs_diff_eq!(chi_square_sf(7.814_728, 3.0), 0.05, epsilon = 1e-6);
        assert_abs_diff_eq!(chi_square_sf(29.588_30, 10.0), 0.001, epsilon = 1e-7);
        // 2 df is exp(-x/2) exactly.
        assert_abs_diff_eq!(chi_square_sf(1.3, 2.0), (-0.65f64).exp(), epsilon = 1e-12);
    }

    #[test]
    fn ln_gamma_of_integers_is_log_factorial() {
        assert_abs_diff_eq!(ln_gamma(1.0), 0.0, epsilon = 1e-12);
        assert_abs_diff_eq!(ln_gamma(11.0), 3_628_800f64.ln(), epsilon = 1e-10);
        assert_abs_diff_eq!(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            epsilon = 1e-12
        );
    }
}
