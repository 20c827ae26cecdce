//! `ExactSum` against two independent computations of the correctly rounded sum
//! (integer arithmetic; Shewchuk's partials), and its invariance under order and split.
//! In tests carries are settled every 16 additions, so settling is exercised too.

use proptest::prelude::*;

use super::ExactSum;

/// The correctly rounded sum by Shewchuk's non-overlapping partials (J. R. Shewchuk,
/// *Adaptive precision floating-point arithmetic and fast robust geometric
/// predicates*, 1997), with the final round-half-even correction `math.fsum` applies.
/// Finite terms whose partial sums stay finite only.
fn shewchuk(xs: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for &x in xs {
        let mut x = x;
        let mut kept = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    let Some(mut hi) = partials.pop() else {
        return 0.0;
    };
    let mut lo = 0.0;
    while let Some(y) = partials.pop() {
        let x = hi;
        hi = x + y;
        lo = y - (hi - x);
        if lo != 0.0 {
            break;
        }
    }
    if let Some(&next) = partials.last() {
        if (lo < 0.0 && next < 0.0) || (lo > 0.0 && next > 0.0) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
    }
    hi
}

fn exact(xs: &[f64]) -> f64 {
    xs.iter().copied().collect::<ExactSum>().value()
}

/// A double of random sign and mantissa with its exponent in `[lo, hi]`.
fn double(lo: i32, hi: i32) -> impl Strategy<Value = f64> {
    (any::<bool>(), 0u64..(1 << 52), lo..=hi).prop_map(|(neg, frac, e)| {
        let x = f64::from_bits((1023u64 << 52) | frac) * 2f64.powi(e);
        if neg {
            -x
        } else {
            x
        }
    })
}

proptest! {
    #[test]
    fn equals_integer_arithmetic(ks in prop::collection::vec(-(1i64 << 53)..(1i64 << 53), 0..200)) {
        // k · 2⁻²⁰ is a double; the i128 sum is exact and `as f64` rounds half to even.
        let xs: Vec<f64> = ks.iter().map(|&k| k as f64 / 1_048_576.0).collect();
        let total: i128 = ks.iter().map(|&k| i128::from(k) << 40).sum();
        // scaled by 2⁴⁰ so the rounding happens in the conversion, not after it
        let want = total as f64 / 2f64.powi(60);
        prop_assert_eq!(exact(&xs).to_bits(), want.to_bits());
    }

    #[test]
    fn equals_shewchuk(xs in prop::collection::vec(double(-80, 80), 0..300)) {
        let want = shewchuk(&xs);
        prop_assert_eq!(exact(&xs).to_bits(), want.to_bits(), "{:?}", xs);
    }

    #[test]
    fn equals_shewchuk_with_cancellation(
        xs in prop::collection::vec(double(-1000, 1000), 1..60),
        small in prop::collection::vec(double(-1074, -1000), 0..20),
    ) {
        // every term and its negation, plus a few tiny ones: the total is the tiny sum
        let mut all: Vec<f64> = xs.iter().flat_map(|&x| [x, -x]).collect();
        all.extend(&small);
        let third = all.len() / 3;
        all.rotate_left(third);
        // (+ 0.0: the pairs make the total's zero a positive one)
        prop_assert_eq!(exact(&all).to_bits(), (shewchuk(&small) + 0.0).to_bits());
    }

    #[test]
    fn any_order_and_any_split_give_the_same_bits(
        xs in prop::collection::vec(double(-200, 200), 1..300),
        cut in 0usize..300,
        seed in any::<u64>(),
    ) {
        let whole = exact(&xs);
        let mut shuffled = xs.clone();
        // a deterministic shuffle from the seed
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let cut = cut.min(shuffled.len());
        let mut left: ExactSum = shuffled[..cut].iter().copied().collect();
        let right: ExactSum = shuffled[cut..].iter().copied().collect();
        left.merge(&right);
        prop_assert_eq!(left.value().to_bits(), whole.to_bits());
        prop_assert_eq!(exact(&shuffled).to_bits(), whole.to_bits());
    }
}

#[test]
fn rounds_half_to_even_and_uses_the_bits_below() {
    let ulp = f64::EPSILON; // 2⁻⁵²
    let half = ulp / 2.0;
    // a tie between 1 and 1 + ulp goes to the even 1
    assert_eq!(exact(&[1.0, half]), 1.0);
    // anything below the tie breaks it upwards
    assert_eq!(exact(&[1.0, half, half * 1e-30]), 1.0 + ulp);
    // a tie from an odd mantissa goes up
    assert_eq!(exact(&[1.0 + ulp, half]), 1.0 + 2.0 * ulp);
    // the naive sum loses what the exact one keeps
    assert_eq!(exact(&[1.0, 1e-16, 1e-16]), 1.0 + ulp);
    assert_eq!(exact(&[0.1; 10]), 1.0);
    assert_eq!(exact(&[1e100, 1.0, -1e100]), 1.0);
}

#[test]
fn subnormals_and_the_edges_of_the_range() {
    let tiny = f64::from_bits(1); // 2⁻¹⁰⁷⁴
    assert_eq!(exact(&[tiny, tiny, tiny]), f64::from_bits(3));
    assert_eq!(
        exact(&[f64::MIN_POSITIVE, -tiny]).to_bits(),
        f64::MIN_POSITIVE.to_bits() - 1
    );
    assert_eq!(exact(&[f64::MIN_POSITIVE - tiny, tiny]), f64::MIN_POSITIVE);
    assert_eq!(exact(&[tiny, -tiny]).to_bits(), 0.0f64.to_bits());
    assert_eq!(exact(&[]), 0.0);
    // partial sums beyond the range are fine when the total is not
    assert_eq!(exact(&[f64::MAX, f64::MAX, -f64::MAX]), f64::MAX);
    assert_eq!(exact(&[1e308, 1e308, -1e308]), 1e308);
    // a total beyond the range is an infinity
    assert_eq!(exact(&[f64::MAX, f64::MAX]), f64::INFINITY);
    assert_eq!(exact(&[-f64::MAX, -f64::MAX]), f64::NEG_INFINITY);
    // f64::MAX plus half an ulp is a tie that rounds to the even: infinity
    let half_ulp_of_max = 2f64.powi(970);
    assert_eq!(exact(&[f64::MAX, half_ulp_of_max]), f64::INFINITY);
    assert_eq!(exact(&[f64::MAX, half_ulp_of_max, -tiny]), f64::MAX);
}

#[test]
fn infinities_and_nan() {
    assert_eq!(exact(&[1.0, f64::INFINITY]), f64::INFINITY);
    assert_eq!(exact(&[1.0, f64::NEG_INFINITY]), f64::NEG_INFINITY);
    assert!(exact(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    assert!(exact(&[1.0, f64::NAN]).is_nan());
    let mut a: ExactSum = [f64::INFINITY].into_iter().collect();
    a.merge(&[f64::NEG_INFINITY].into_iter().collect());
    assert!(a.value().is_nan());
}

#[test]
fn many_terms_in_one_limb_settle_without_overflow() {
    // 10,000 terms of the largest mantissa at one position: with settling every 16
    // additions in tests, each limb stays far from overflow; the total is exact.
    let x = 2f64.powi(30) * (2.0 - f64::EPSILON);
    let xs = vec![x; 10_000];
    assert_eq!(exact(&xs), x * 10_000.0);
    let neg: Vec<f64> = xs.iter().map(|v| -v).collect();
    assert_eq!(exact(&neg), -x * 10_000.0);
}
