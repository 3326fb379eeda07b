//! Finite numbers in, exact sums, moments and correctly rounded `f64` results out.
//!
//! Every finite `f64` is an integer multiple of 2^-1074, so sums of values and of their squares
//! are exact big integers scaled by 2^-1074 and 2^-2148. Results are rationals of big integers,
//! rounded to `f64` once, to nearest with ties to even, with our own rounding (no `as f64` of a
//! big value, no float arithmetic on the way).

use num_bigint::{BigInt, BigUint, Sign};
use num_traits::{ToPrimitive, Zero};

/// The scale of an exact value: `value = numerator / 2^SCALE`.
const SCALE: u64 = 1074;

/// A finite `f64` exactly, as the numerator over 2^1074; `None` for infinities and NaN.
pub(crate) fn scaled_f64(x: f64) -> Option<BigInt> {
    if !x.is_finite() {
        return None;
    }
    let bits = x.to_bits();
    let exponent = (bits >> 52) & 0x7ff;
    let fraction = bits & ((1u64 << 52) - 1);
    // value = mantissa * 2^(shift - 1074)
    let (mantissa, shift) = if exponent == 0 { (fraction, 0) } else { (fraction | (1u64 << 52), exponent - 1) };
    let magnitude = BigInt::from(mantissa) << shift;
    Some(if x.is_sign_negative() { -magnitude } else { magnitude })
}

/// An `i64` exactly, as the numerator over 2^1074.
pub(crate) fn scaled_i64(x: i64) -> BigInt {
    BigInt::from(x) << SCALE
}

/// The exact sums of a bag of numbers: count, Σx and Σx², plus the non-finite values seen.
#[derive(Debug, Clone, Default)]
pub(crate) struct Moments {
    pub(crate) count: u64,
    /// Σx over the finite values, scaled by 2^1074.
    sum: BigInt,
    /// Σx² over the finite values, scaled by 2^2148.
    sum_sq: BigInt,
    pos_inf: bool,
    neg_inf: bool,
    nan: bool,
}

impl Moments {
    pub(crate) fn add_f64(&mut self, x: f64) {
        self.count += 1;
        match scaled_f64(x) {
            Some(n) => self.add_scaled(n),
            None if x.is_nan() => self.nan = true,
            None if x > 0.0 => self.pos_inf = true,
            None => self.neg_inf = true,
        }
    }

    pub(crate) fn add_i64(&mut self, x: i64) {
        self.count += 1;
        self.add_scaled(scaled_i64(x));
    }

    fn add_scaled(&mut self, n: BigInt) {
        self.sum_sq += &n * &n;
        self.sum += n;
    }

    /// The IEEE result of a sum that met a non-finite value, if it did.
    fn non_finite_sum(&self) -> Option<f64> {
        if self.nan || (self.pos_inf && self.neg_inf) {
            Some(f64::NAN)
        } else if self.pos_inf {
            Some(f64::INFINITY)
        } else if self.neg_inf {
            Some(f64::NEG_INFINITY)
        } else {
            None
        }
    }

    /// Whether every value was finite.
    pub(crate) fn finite(&self) -> bool {
        self.non_finite_sum().is_none()
    }

    /// The exact sum, correctly rounded (IEEE infinities and NaN when a value was not finite).
    pub(crate) fn sum(&self) -> f64 {
        self.non_finite_sum().unwrap_or_else(|| ratio_to_f64(&self.sum, &(BigUint::from(1u8) << SCALE)))
    }

    /// The exact mean, correctly rounded; `None` over no value.
    pub(crate) fn mean(&self) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match self.non_finite_sum() {
            Some(v) => v,
            None => ratio_to_f64(&self.sum, &(BigUint::from(self.count) << SCALE)),
        })
    }

    /// The exact sample variance `(n Σx² - (Σx)²) / (n (n - 1))` as a numerator and a
    /// denominator; `None` with fewer than 2 values or a non-finite value.
    fn variance_ratio(&self) -> Option<(BigInt, BigUint)> {
        if self.count < 2 || !self.finite() {
            return None;
        }
        let n = BigInt::from(self.count);
        let numerator = &n * &self.sum_sq - &self.sum * &self.sum;
        let denominator = (BigUint::from(self.count) * BigUint::from(self.count - 1)) << (2 * SCALE);
        Some((numerator, denominator))
    }

    /// The exact sample variance, correctly rounded.
    pub(crate) fn variance(&self) -> Option<f64> {
        self.variance_ratio().map(|(n, d)| ratio_to_f64(&n, &d))
    }

    /// The square root of the exact sample variance, correctly rounded.
    pub(crate) fn stddev(&self) -> Option<f64> {
        self.variance_ratio().map(|(n, d)| sqrt_ratio_to_f64(&n, &d))
    }
}

/// `num / den` rounded to the nearest `f64`, ties to even; overflow gives an infinity and
/// underflow a (signed) zero, as IEEE rounding does. `den` must not be zero.
pub(crate) fn ratio_to_f64(num: &BigInt, den: &BigUint) -> f64 {
    let negative = num.sign() == Sign::Minus;
    let a = num.magnitude();
    if a.is_zero() || den.is_zero() {
        return 0.0;
    }
    // Shift so that the integer quotient has at least 66 bits: 13 beyond the 53 kept.
    let shift = 66 + den.bits() as i64 - a.bits() as i64;
    let (q, r) = if shift >= 0 {
        let n = a << shift as u64;
        (&n / den, &n % den)
    } else {
        let d = den << (-shift) as u64;
        (a / &d, a % &d)
    };
    apply_sign(round_scaled(&q, -shift, !r.is_zero()), negative)
}

/// The square root of `num / den` (which must be at least 0) rounded to the nearest `f64`.
pub(crate) fn sqrt_ratio_to_f64(num: &BigInt, den: &BigUint) -> f64 {
    if num.sign() == Sign::Minus {
        return f64::NAN;
    }
    let a = num.magnitude();
    if a.is_zero() || den.is_zero() {
        return 0.0;
    }
    // sqrt(a / den) = sqrt(a * 2^(2s) / den) / 2^s, with the integer under the root of at
    // least 135 bits so that its root has at least 67.
    let s = (135 + den.bits() as i64 - a.bits() as i64 + 1).div_euclid(2);
    let (q, r) = if s >= 0 {
        let n = a << (2 * s) as u64;
        (&n / den, &n % den)
    } else {
        let d = den << (-2 * s) as u64;
        (a / &d, a % &d)
    };
    let root = q.sqrt();
    // The root is inexact when the quotient was, or when it is not a perfect square.
    let sticky = !r.is_zero() || &root * &root != q;
    round_scaled(&root, -s, sticky)
}

fn apply_sign(x: f64, negative: bool) -> f64 {
    if negative { -x } else { x }
}

/// `(m + f) * 2^exp` rounded to nearest, ties to even, where `0 <= f < 1` and `sticky` says
/// whether `f > 0`. `m` must have more than 54 bits.
fn round_scaled(m: &BigUint, exp: i64, sticky: bool) -> f64 {
    let bits = m.bits() as i64;
    // The value lies in [2^top, 2^(top + 1)).
    let top = bits - 1 + exp;
    if top > 1023 {
        return f64::INFINITY;
    }
    // Bits kept: 53 for a normal number, fewer below 2^-1022 (the last one weighs 2^-1074).
    let keep = if top >= -1022 { 53 } else { top + 1075 };
    if keep <= 0 {
        // Below 2^-1074: at least half of it rounds up, unless exactly half (a tie, to 0).
        let exactly_half = keep == 0 && !sticky && m.count_ones() == 1;
        return if keep == 0 && !exactly_half { f64::from_bits(1) } else { 0.0 };
    }
    let drop = (bits - keep) as u64;
    let mut kept = (m >> drop).to_u64().unwrap_or(u64::MAX);
    let rest = m - (BigUint::from(kept) << drop);
    let half = BigUint::from(1u8) << (drop - 1);
    let up = match rest.cmp(&half) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => sticky || kept & 1 == 1,
        std::cmp::Ordering::Less => false,
    };
    let mut e = exp + drop as i64;
    if up {
        kept += 1;
        if kept == 1u64 << 53 {
            kept >>= 1;
            e += 1;
        }
    }
    compose(kept, e)
}

/// `m * 2^e` for `m < 2^53` that is either normal (`m >= 2^52`) or subnormal (`e == -1074`).
fn compose(m: u64, e: i64) -> f64 {
    if m >= 1u64 << 52 {
        let top = e + 52;
        if top > 1023 {
            return f64::INFINITY;
        }
        f64::from_bits((((top + 1023) as u64) << 52) | (m - (1u64 << 52)))
    } else {
        f64::from_bits(m)
    }
}

/// The distance between two floats in representable steps (0 when equal, 1 between
/// neighbours; `0.0` and `-0.0` are the same step). NaN is infinitely far from everything.
pub(crate) fn ulps_between(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    let key = |x: f64| -> i128 {
        let bits = x.to_bits();
        let magnitude = i128::from(bits & !(1u64 << 63));
        if bits >> 63 == 1 { -magnitude } else { magnitude }
    };
    (key(a) - key(b)).unsigned_abs().min(u128::from(u64::MAX)) as u64
}

/// `x` moved `steps` representable values down (negative) or up (positive), stopping at the
/// infinities.
pub(crate) fn step(x: f64, steps: i64) -> f64 {
    let mut y = x;
    for _ in 0..steps.unsigned_abs() {
        y = if steps < 0 { y.next_down() } else { y.next_up() };
    }
    y
}
