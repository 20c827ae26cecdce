//! Exact sums of doubles: the same bits whatever the order of the terms.
//!
//! A double is an integer times a power of two between 2⁻¹⁰⁷⁴ and 2⁹⁷¹, so every sum
//! of doubles is an integer multiple of 2⁻¹⁰⁷⁴ of at most about 2,100 bits.
//! [`ExactSum`] keeps that integer, split into 32-bit limbs held in `i64` so that an
//! addition touches three limbs with no carry (the carries are settled every 2³⁰
//! additions), and rounds it to the nearest double once, when read (ties to even: the
//! result `math.fsum` gives). This is the "small superaccumulator" of R. M. Neal,
//! *Fast exact summation using small and large superaccumulators* (arXiv:1505.05571),
//! written here from the paper's description.
//!
//! Why: statistics are sums that merge by addition (per chunk, per partition of a log
//! larger than memory, per day). With plain `+` the rounding depends on the order and
//! the grouping of the terms, so a log processed in partitions would give other bits
//! than the same log in one piece. With exact sums any split and any order give the
//! same, correctly rounded, result.
//!
//! Infinities and NaN are tracked apart: NaN, or both infinities, give NaN; one
//! infinity gives it; a finite total beyond the double range rounds to an infinity.

/// 32-bit limbs; limb `i` weighs 2^(32·i − 1074).
const LIMBS: usize = 67;

/// Additions between carry settlements: each adds less than 2³² to a limb.
const SETTLE_EVERY: u32 = if cfg!(test) { 1 << 4 } else { 1 << 30 };

/// An exact, order-independent sum of doubles.
#[derive(Clone, PartialEq, Eq)]
pub struct ExactSum {
    limbs: [i64; LIMBS],
    /// Additions since the carries were last settled.
    pending: u32,
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
}

impl Default for ExactSum {
    fn default() -> Self {
        Self {
            limbs: [0; LIMBS],
            pending: 0,
            nan: false,
            pos_inf: false,
            neg_inf: false,
        }
    }
}

impl std::fmt::Debug for ExactSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExactSum({})", self.value())
    }
}

impl ExactSum {
    /// An empty sum (zero).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `x`.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as u32;
        let frac = bits & ((1 << 52) - 1);
        let negative = bits >> 63 == 1;
        if exp == 0x7ff {
            if frac != 0 {
                self.nan = true;
            } else if negative {
                self.neg_inf = true;
            } else {
                self.pos_inf = true;
            }
            return;
        }
        // x = mantissa · 2^(pos − 1074)
        let (mantissa, pos) = if exp == 0 {
            (frac, 0)
        } else {
            (frac | (1 << 52), exp - 1)
        };
        if mantissa == 0 {
            return;
        }
        if self.pending >= SETTLE_EVERY {
            self.settle();
        }
        self.pending += 1;
        let (i, shift) = ((pos / 32) as usize, pos % 32);
        let v = u128::from(mantissa) << shift;
        let parts = [
            (v & 0xffff_ffff) as i64,
            ((v >> 32) & 0xffff_ffff) as i64,
            (v >> 64) as i64,
        ];
        if negative {
            for (k, p) in parts.into_iter().enumerate() {
                self.limbs[i + k] -= p;
            }
        } else {
            for (k, p) in parts.into_iter().enumerate() {
                self.limbs[i + k] += p;
            }
        }
    }

    /// Adds every term of `other` (exactly).
    pub fn merge(&mut self, other: &ExactSum) {
        self.settle();
        let mut other = other.clone();
        other.settle();
        for (a, b) in self.limbs.iter_mut().zip(other.limbs) {
            *a += b;
        }
        self.pending = 2;
        self.nan |= other.nan;
        self.pos_inf |= other.pos_inf;
        self.neg_inf |= other.neg_inf;
    }

    /// Moves carries up so that every limb but the top one is in `[0, 2³²)`; the
    /// top one carries the sign.
    fn settle(&mut self) {
        let mut carry = 0i64;
        for limb in &mut self.limbs[..LIMBS - 1] {
            let v = *limb + carry;
            carry = v >> 32;
            *limb = v & 0xffff_ffff;
        }
        self.limbs[LIMBS - 1] += carry;
        self.pending = 1;
    }

    /// The sum, rounded to the nearest double (ties to even).
    #[must_use]
    pub fn value(&self) -> f64 {
        match (self.nan, self.pos_inf, self.neg_inf) {
            (true, _, _) | (false, true, true) => return f64::NAN,
            (false, true, false) => return f64::INFINITY,
            (false, false, true) => return f64::NEG_INFINITY,
            (false, false, false) => {}
        }
        let mut s = self.clone();
        s.settle();
        let negative = s.limbs[LIMBS - 1] < 0;
        if negative {
            for limb in &mut s.limbs {
                *limb = -*limb;
            }
            s.settle();
        }
        let magnitude = round_magnitude(&s.limbs);
        if negative {
            -magnitude
        } else {
            magnitude
        }
    }
}

impl Extend<f64> for ExactSum {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, iter: I) {
        for x in iter {
            self.add(x);
        }
    }
}

impl FromIterator<f64> for ExactSum {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = ExactSum::new();
        s.extend(iter);
        s
    }
}

/// The nearest double to a non-negative settled integer (in units of 2⁻¹⁰⁷⁴).
fn round_magnitude(limbs: &[i64; LIMBS]) -> f64 {
    let Some(h) = limbs.iter().rposition(|&l| l != 0) else {
        return 0.0;
    };
    let limb = |i: isize| -> u128 {
        if i < 0 {
            0
        } else {
            // settled and non-negative; the top limb may exceed 32 bits
            limbs[i as usize] as u64 as u128
        }
    };
    let h = h as isize;
    // The top three limbs; the ones below only matter as a sticky bit.
    let acc = (limb(h) << 64) | (limb(h - 1) << 32) | limb(h - 2);
    let sticky = h >= 3 && limbs[..(h - 2) as usize].iter().any(|&l| l != 0);
    let base = 32 * (h - 2); // grid position of acc's bit 0
    let lead = 127 - acc.leading_zeros() as isize; // acc != 0
                                                   // Lowest bit a double can keep: 52 below the leading one, but not below 2⁻¹⁰⁷⁴.
    let mut lsb = (base + lead - 52).max(0);
    // 12 ≤ drop ≤ 75: the leading bit of acc is at 64 or above, 52 are kept.
    let drop = (lsb - base) as u32;
    let mut kept = acc >> drop;
    let rem = acc & ((1u128 << drop) - 1);
    let half = 1u128 << (drop - 1);
    if rem > half || (rem == half && (sticky || kept & 1 == 1)) {
        kept += 1;
        if kept == 1 << 53 {
            kept >>= 1;
            lsb += 1;
        }
    }
    let kept = kept as u64;
    if kept < 1 << 52 {
        // subnormal: lsb is 2⁻¹⁰⁷⁴
        return f64::from_bits(kept);
    }
    let exp_field = lsb + 1;
    if exp_field >= 0x7ff {
        return f64::INFINITY;
    }
    f64::from_bits(((exp_field as u64) << 52) | (kept & ((1 << 52) - 1)))
}

#[cfg(test)]
mod tests;
