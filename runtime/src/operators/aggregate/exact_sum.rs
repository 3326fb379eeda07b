//! Values in, their sum rounded once out: an f64 sum that does not depend on the order of
//! additions or on how the inputs were split, and that subtracts exactly.
//!
//! Two forms hold the same exact sum. The fast one is a 256-bit integer count of 2^-128 (a
//! fixed point wide enough for every double from about 2^-76 to 2^116, cent amounts and their
//! exact squares included): adding is an integer addition. A value it cannot hold (a tiny or
//! subnormal one, or a sum past 2^127) moves the sum to the general form, Shewchuk's algorithm
//! (as in Python's `math.fsum`): a short list of non-overlapping partial sums whose exact total
//! is the exact sum of the inputs. Either way the result is that total rounded to the nearest
//! f64; since the total is exact, any order, split or merge of the same inputs gives the same
//! bits, and adding `-x` undoes adding `x` exactly.

use std::borrow::Cow;

/// An exact running sum of finite f64 values.
///
/// The same exact sum can be held in different forms and parts (they depend on the order of
/// additions and retractions), so it is written and compared in its canonical parts
/// ([`ExactSum::canonical`]): a checkpoint of the same events is the same bytes whatever the
/// history that built it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(into = "Parts", from = "Parts")]
pub struct ExactSum {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Non-overlapping partials, increasing in magnitude.
    Parts(Vec<f64>),
    /// The sum times 2^128, as a two's-complement integer in four words, least significant
    /// first.
    Fixed(Box<[u64; 4]>),
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Parts(Vec::new())
    }
}

/// The fixed form's unit is 2^-FRACTION.
const FRACTION: i32 = 128;

/// The stored form of an [`ExactSum`]: its canonical parts.
#[derive(serde::Serialize, serde::Deserialize)]
struct Parts {
    partials: Vec<f64>,
}

impl From<ExactSum> for Parts {
    fn from(s: ExactSum) -> Parts {
        Parts { partials: s.canonical().parts().into_owned() }
    }
}

impl From<Parts> for ExactSum {
    /// In the fixed form when every part fits it (the parts of a sum of cents do).
    fn from(p: Parts) -> ExactSum {
        let mut words = [0u64; 4];
        if p.partials.iter().all(|&x| x == 0.0 || place(x).is_some_and(|at| add_at(&mut words, at))) {
            if p.partials.is_empty() {
                return ExactSum::default();
            }
            return ExactSum { repr: Repr::Fixed(Box::new(words)) };
        }
        ExactSum { repr: Repr::Parts(p.partials) }
    }
}

/// An exact sum held in the fixed form alone, unboxed: for a store that keeps many sums side
/// by side (the columnar slots' spilled sums), where [`ExactSum`]'s box would cost a load per
/// addition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FixedSum([u64; 4]);

impl FixedSum {
    /// Adds a finite value; false, with the sum as it was, when the fixed form cannot hold it
    /// (the caller then moves the sum to an [`ExactSum`]).
    #[inline]
    pub(crate) fn add(&mut self, x: f64) -> bool {
        x == 0.0 || place(x).is_some_and(|at| add_at(&mut self.0, at))
    }
}

impl From<FixedSum> for ExactSum {
    fn from(f: FixedSum) -> ExactSum {
        ExactSum { repr: Repr::Fixed(Box::new(f.0)) }
    }
}

impl PartialEq for ExactSum {
    /// Equal exact sums, whatever their form and parts.
    fn eq(&self, other: &ExactSum) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Fixed(a), Repr::Fixed(b)) => a == b,
            (Repr::Parts(a), Repr::Parts(b)) if a == b => true,
            _ => self.canonical().parts() == other.canonical().parts(),
        }
    }
}

impl ExactSum {
    pub fn new() -> Self {
        ExactSum::default()
    }

    /// The sum, when it is held in the fixed form.
    pub(crate) fn fixed(&self) -> Option<FixedSum> {
        match &self.repr {
            Repr::Fixed(words) => Some(FixedSum(**words)),
            Repr::Parts(_) => None,
        }
    }

    /// Adds a finite value; non-finite ones never reach an aggregate (decode rejects them).
    /// Adding zero changes nothing.
    pub fn add(&mut self, x: f64) {
        if x == 0.0 || !x.is_finite() {
            return;
        }
        match &mut self.repr {
            Repr::Fixed(words) => {
                if place(x).is_some_and(|at| add_at(words, at)) {
                    return;
                }
                let mut partials = to_parts(words);
                add_parts(&mut partials, x);
                self.repr = Repr::Parts(partials);
            }
            Repr::Parts(partials) if partials.is_empty() => {
                let mut words = [0u64; 4];
                if place(x).is_some_and(|at| add_at(&mut words, at)) {
                    self.repr = Repr::Fixed(Box::new(words));
                } else {
                    add_parts(partials, x);
                }
            }
            Repr::Parts(partials) => add_parts(partials, x),
        }
    }

    pub fn subtract(&mut self, x: f64) {
        self.add(-x);
    }

    pub fn merge(&mut self, other: &ExactSum) {
        self.combine(other, false);
    }

    pub fn retract(&mut self, other: &ExactSum) {
        self.combine(other, true);
    }

    /// Adds (or, `negative`, subtracts) another exact sum: word by word when both are fixed, a
    /// copy into an empty sum, else part by part (a fixed sum's raw parts, not its canonical
    /// ones: merging panes at a lookup should not round anything).
    fn combine(&mut self, other: &ExactSum, negative: bool) {
        if let (Repr::Fixed(a), Repr::Fixed(b)) = (&mut self.repr, &other.repr)
            && add_words(a, b, negative)
        {
            return;
        }
        if let (Repr::Parts(p), Repr::Fixed(_)) = (&self.repr, &other.repr)
            && p.is_empty()
            && !negative
        {
            self.repr = other.repr.clone();
            return;
        }
        let parts = match &other.repr {
            Repr::Parts(p) => Cow::Borrowed(p.as_slice()),
            Repr::Fixed(words) => Cow::Owned(to_parts(words)),
        };
        for &p in parts.iter() {
            self.add(if negative { -p } else { p });
        }
    }

    /// The exact sum, correctly rounded (half to even), as `math.fsum` computes it.
    pub fn value(&self) -> f64 {
        match &self.repr {
            Repr::Fixed(words) => fixed_value(words),
            Repr::Parts(p) => parts_value(p),
        }
    }

    /// Adds the exact product `a * b` (as the rounded product and its exact error term).
    pub fn add_product(&mut self, a: f64, b: f64) {
        let hi = a * b;
        self.add(hi);
        if hi.is_finite() {
            self.add(a.mul_add(b, -hi));
        }
    }

    /// Adds `mantissas * 2^exponent` exactly: the integer sums an engine's exact-sum statement
    /// gives (`featc plan --emit sql`, the `__sums` statements). The integer is added in parts
    /// of at most 50 bits, each a double times a power of two, so nothing rounds unless the
    /// product leaves the range of doubles (below 2^-1074 or above the largest double), as a
    /// product would in featc's own accumulation.
    pub fn add_scaled(&mut self, mantissas: i128, exponent: i64) {
        let negative = mantissas < 0;
        let mut rest = mantissas.unsigned_abs();
        let mut shift = exponent;
        while rest != 0 {
            let chunk = (rest & ((1 << 50) - 1)) as f64;
            if chunk != 0.0 {
                let scaled = scale(scale(chunk, shift.clamp(-1022, 1023)), shift - shift.clamp(-1022, 1023));
                let scaled = if negative { -scaled } else { scaled };
                if !scaled.is_finite() {
                    // Past the largest double: saturate, as adding the values one by one does.
                    self.repr = Repr::Parts(vec![scaled]);
                    return;
                }
                self.add(scaled);
            }
            rest >>= 50;
            shift = shift.saturating_add(50);
        }
    }

    /// Non-overlapping parts whose exact sum this is (the canonical ones for a sum in the fixed
    /// form).
    pub fn parts(&self) -> Cow<'_, [f64]> {
        match &self.repr {
            Repr::Parts(p) => Cow::Borrowed(p),
            Repr::Fixed(_) => match self.canonical().repr {
                Repr::Parts(p) => Cow::Owned(p),
                Repr::Fixed(words) => Cow::Owned(to_parts(&words)),
            },
        }
    }

    fn is_zero(&self) -> bool {
        match &self.repr {
            Repr::Parts(p) => p.is_empty(),
            Repr::Fixed(words) => words.iter().all(|&w| w == 0),
        }
    }

    /// The same exact sum in its canonical parts, the same for every history of equal sums:
    /// the sum rounded to the nearest f64, then the remainder rounded, and so on until nothing
    /// remains (each remainder is below half a unit in the last place of the part before it,
    /// so the parts do not overlap; listed in increasing magnitude).
    pub fn canonical(&self) -> ExactSum {
        if let Repr::Parts(p) = &self.repr
            && p.len() <= 1
        {
            return self.clone();
        }
        let mut rest = self.clone();
        let mut parts = Vec::with_capacity(4);
        // A nonzero exact sum is a multiple of the smallest subnormal, so it never rounds to
        // zero; a part of at least 2^-1074 less than half the one before: at most 40 parts.
        while parts.len() < 64 {
            let v = rest.value();
            if v == 0.0 || !v.is_finite() {
                break;
            }
            parts.push(v);
            rest.add(-v);
        }
        if !rest.is_zero() {
            return self.clone(); // a saturated (infinite) sum has no finer parts
        }
        parts.reverse();
        ExactSum { repr: Repr::Parts(parts) }
    }

    /// Bytes the state holds, for state accounting.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Parts(p) => p.capacity() * size_of::<f64>(),
            Repr::Fixed(_) => size_of::<[u64; 4]>(),
        }
    }
}

/// Where a double falls in the fixed form: its sign, the word its lowest set bit is in (0 to
/// 2, so that it spans at most two words below the top one) and its bits shifted within that
/// word pair. `None` for a double the fixed form cannot hold exactly (below 2^-128 apart, or
/// at or past 2^116).
#[inline]
fn place(x: f64) -> Option<(bool, usize, u128)> {
    let bits = x.to_bits();
    let field = ((bits >> 52) & 0x7ff) as i32;
    if field == 0 || field == 0x7ff {
        return None;
    }
    let mut mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let zeros = mantissa.trailing_zeros();
    mantissa >>= zeros;
    let low = field - 1075 + zeros as i32 + FRACTION;
    if !(0..3 * 64).contains(&low) {
        return None;
    }
    Some((x < 0.0, (low / 64) as usize, u128::from(mantissa) << (low % 64)))
}

/// Adds (or, negative, subtracts) a placed double; false, with the words as they were, when
/// the sum would leave the fixed form's range.
#[inline]
fn add_at(words: &mut [u64; 4], (negative, at, bits): (bool, usize, u128)) -> bool {
    let before = *words;
    let pair = u128::from(words[at]) | u128::from(words[at + 1]) << 64;
    let (sum, mut carry) = if negative { pair.overflowing_sub(bits) } else { pair.overflowing_add(bits) };
    words[at] = sum as u64;
    words[at + 1] = (sum >> 64) as u64;
    for w in words.iter_mut().skip(at + 2) {
        if !carry {
            break;
        }
        (*w, carry) = if negative { w.overflowing_sub(1) } else { w.overflowing_add(1) };
    }
    keep_if_in_range(words, before, negative)
}

/// Adds (or subtracts) another fixed sum word by word; false, with the words as they were, on
/// leaving the range.
fn add_words(words: &mut [u64; 4], other: &[u64; 4], negative: bool) -> bool {
    let before = *words;
    let mut carry = false;
    for (w, &o) in words.iter_mut().zip(other) {
        let (a, c1) = if negative { w.overflowing_sub(o) } else { w.overflowing_add(o) };
        let (b, c2) = if negative { a.overflowing_sub(u64::from(carry)) } else { a.overflowing_add(u64::from(carry)) };
        *w = b;
        carry = c1 || c2;
    }
    // The other sum's sign decides the direction the result may overflow in.
    let other_negative = (other[3] >> 63 == 1) != negative;
    keep_if_in_range(words, before, other_negative)
}

/// After adding a quantity of the given sign: a positive sum turned negative by adding a
/// positive quantity (or the reverse) left the range; the words are put back.
fn keep_if_in_range(words: &mut [u64; 4], before: [u64; 4], negative: bool) -> bool {
    let (was, is) = (before[3] >> 63, words[3] >> 63);
    let overflowed = if negative { was == 1 && is == 0 } else { was == 0 && is == 1 };
    if overflowed {
        *words = before;
    }
    !overflowed
}

/// The magnitude of a fixed sum, and whether it is negative.
fn magnitude(words: &[u64; 4]) -> ([u64; 4], bool) {
    if words[3] >> 63 == 0 {
        return (*words, false);
    }
    let mut m = [0u64; 4];
    let mut carry = true;
    for (out, &w) in m.iter_mut().zip(words) {
        (*out, carry) = (!w).overflowing_add(u64::from(carry));
    }
    (m, true)
}

/// A fixed sum correctly rounded: the top 128 bits of its magnitude, with any bit below them
/// folded into the lowest (which lies far below a double's rounding position), converted by
/// one rounding, then scaled by an exact power of two.
fn fixed_value(words: &[u64; 4]) -> f64 {
    let (m, negative) = magnitude(words);
    let lo = u128::from(m[0]) | u128::from(m[1]) << 64;
    let hi = u128::from(m[2]) | u128::from(m[3]) << 64;
    let v = if hi == 0 {
        lo as f64 * power_of_two(-FRACTION)
    } else {
        let shift = 128 - hi.leading_zeros() as i32;
        let (top, rest) =
            if shift == 128 { (hi, lo) } else { (hi << (128 - shift) | lo >> shift, lo << (128 - shift)) };
        (top | u128::from(rest != 0)) as f64 * power_of_two(shift - FRACTION)
    };
    if negative { -v } else { v }
}

/// A fixed sum as non-overlapping parts (32 bits at a time, each exact in a double).
fn to_parts(words: &[u64; 4]) -> Vec<f64> {
    let (m, negative) = magnitude(words);
    let mut partials = Vec::new();
    for (i, &w) in m.iter().enumerate() {
        for half in 0..2 {
            let chunk = (w >> (32 * half)) & 0xffff_ffff;
            if chunk != 0 {
                let x = chunk as f64 * power_of_two(64 * i as i32 + 32 * half - FRACTION);
                add_parts(&mut partials, if negative { -x } else { x });
            }
        }
    }
    partials
}

/// 2^e for e in -1022..=1023.
fn power_of_two(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// Shewchuk's addition: `x` into the non-overlapping `partials`.
fn add_parts(partials: &mut Vec<f64>, mut x: f64) {
    let mut i = 0;
    for j in 0..partials.len() {
        let mut y = partials[j];
        if x.abs() < y.abs() {
            std::mem::swap(&mut x, &mut y);
        }
        let hi = x + y;
        let lo = y - (hi - x);
        if lo != 0.0 {
            partials[i] = lo;
            i += 1;
        }
        x = hi;
    }
    partials.truncate(i);
    if x != 0.0 {
        partials.push(x);
    }
    if !x.is_finite() {
        // The exact sum left the f64 range: keep it saturated rather than poisoned.
        partials.clear();
        partials.push(x);
    }
}

/// The exact sum of non-overlapping parts, correctly rounded (half to even).
fn parts_value(p: &[f64]) -> f64 {
    let Some(mut n) = p.len().checked_sub(1) else { return 0.0 };
    let mut hi = p[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        let y = p[n - 1];
        n -= 1;
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

/// `x * 2^e` for `e` in -1022..=1023 (one multiplication by an exact power of two); for
/// larger or smaller `e` the caller scales in two steps.
fn scale(x: f64, e: i64) -> f64 {
    let e = e.clamp(-1022, 1023);
    // The biased exponent fits in 11 bits once clamped.
    x * f64::from_bits(u64::try_from(e + 1023).unwrap_or(0) << 52)
}

#[cfg(test)]
mod tests {
    use super::{ExactSum, Repr, add_parts, parts_value};
    use proptest::prelude::*;

    /// The general form alone (Shewchuk's algorithm), as the reference for the fixed one.
    fn reference(xs: &[f64]) -> ExactSum {
        let mut partials = Vec::new();
        xs.iter().filter(|x| x.is_finite()).for_each(|&x| add_parts(&mut partials, x));
        ExactSum { repr: Repr::Parts(partials) }
    }

    fn is_fixed(s: &ExactSum) -> bool {
        matches!(s.repr, Repr::Fixed(_))
    }

    #[test]
    fn the_two_forms_fit_in_three_words() {
        assert_eq!(size_of::<ExactSum>(), 24);
    }

    #[test]
    fn cents_and_their_squares_stay_in_the_fixed_form_and_other_values_leave_it() {
        let (mut sum, mut squares) = (ExactSum::new(), ExactSum::new());
        for c in 1..5_000i64 {
            let x = (c * 7_919 % 1_000_003) as f64 / 100.0;
            sum.add(x);
            squares.add_product(x, x);
        }
        assert!(is_fixed(&sum) && is_fixed(&squares));
        for x in [1e-30, 5e-324, 1e200] {
            let mut s = sum.clone();
            s.add(x);
            assert!(!is_fixed(&s), "{x} does not fit");
            let mut xs = reference(&s.parts()).parts().into_owned();
            xs.push(-x);
            s.subtract(x);
            assert_eq!(s.value().to_bits(), sum.value().to_bits());
            assert!(s == sum && reference(&xs) == sum);
        }
        // Past 2^127 in total (each value fits, their sum does not): the sum moves to the
        // general form, exactly.
        let mut big = ExactSum::new();
        let mut xs = Vec::new();
        for i in 0..20_000u64 {
            // About 2^113, with an odd mantissa (its lowest bit is as low as such a value's goes).
            let x = f64::from_bits(2f64.powi(113).to_bits() + 2 * i + 1);
            big.add(x);
            xs.push(x);
            if i == 0 {
                assert!(is_fixed(&big));
            }
        }
        assert!(!is_fixed(&big));
        assert_eq!(big.value().to_bits(), reference(&xs).value().to_bits());
        assert!(big == reference(&xs));
    }

    #[test]
    fn a_half_way_sum_with_a_tiny_remainder_rounds_up() {
        // 2^63 + 2^10 is half way between two doubles; 2^-120 more puts it above.
        let mut s = ExactSum::new();
        for x in [2f64.powi(63), 2f64.powi(10), 2f64.powi(-120)] {
            s.add(x);
        }
        assert!(is_fixed(&s));
        assert_eq!(s.value(), 2f64.powi(63) + 2f64.powi(11));
        s.subtract(2f64.powi(-120));
        assert_eq!(s.value(), 2f64.powi(63), "a tie rounds to even");
        s.add(-2f64.powi(-120));
        assert_eq!(s.value(), 2f64.powi(63));
        assert_eq!((-s.value()).to_bits(), {
            let mut n = ExactSum::new();
            n.retract(&s);
            n.value().to_bits()
        });
    }

    fn sum(xs: &[f64]) -> f64 {
        let mut s = ExactSum::new();
        xs.iter().for_each(|&x| s.add(x));
        s.value()
    }

    #[test]
    fn sums_exactly_where_plain_addition_loses() {
        assert_eq!(sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(sum(&[0.1; 10]), 1.0);
        assert_eq!(sum(&[]), 0.0);
        let mut s = ExactSum::new();
        s.add(1e16);
        s.add(1.0);
        s.subtract(1e16);
        assert_eq!(s.value(), 1.0);
    }

    /// `x` as `m * 2^u`, as the exact-sum statements split it.
    fn decompose(x: f64) -> (i128, i64) {
        let bits = x.to_bits();
        let field = ((bits >> 52) & 0x7ff) as i64;
        let fraction = (bits & ((1 << 52) - 1)) as i128;
        let (m, u) = if field == 0 { (fraction, -1074) } else { (fraction | 1 << 52, field - 1075) };
        (if x < 0.0 { -m } else { m }, u)
    }

    #[test]
    fn integer_sums_per_exponent_rebuild_the_exact_sum() {
        let xs = [0.1, -3.75, 1e300, 5e-324, 2.5e-310, -1e-300, 7.0, 1e15 + 0.5, -0.1];
        let mut by_exponent = std::collections::BTreeMap::<i64, i128>::new();
        for &x in &xs {
            let (m, u) = decompose(x);
            *by_exponent.entry(u).or_default() += m;
        }
        // Many equal values: an integer sum far above 2^53 in one exponent.
        let (m, u) = decompose(0.3);
        *by_exponent.entry(u).or_default() += m * 1_000_000_000;
        let mut rebuilt = ExactSum::new();
        by_exponent.iter().for_each(|(&u, &m)| rebuilt.add_scaled(m, u));
        let mut direct = ExactSum::new();
        xs.iter().for_each(|&x| direct.add(x));
        direct.add_product(0.3, 1e9);
        assert_eq!(rebuilt.value().to_bits(), direct.value().to_bits());

        // Past the largest double the rebuilt sum saturates, as the direct one does.
        let (m, u) = decompose(1.7e308);
        let mut rebuilt = ExactSum::new();
        rebuilt.add_scaled(2 * m, u);
        let mut direct = ExactSum::new();
        direct.add(1.7e308);
        direct.add(1.7e308);
        assert_eq!(rebuilt.value(), f64::INFINITY);
        assert_eq!(direct.value(), f64::INFINITY);
    }

    proptest! {
        /// The fixed form and the general one hold the same exact sum: the same rounded value,
        /// the same canonical parts, through additions, merges and retractions, for values
        /// that fit the fixed form and values that do not.
        #[test]
        fn the_fixed_form_sums_as_the_general_one(
            xs in prop::collection::vec(prop_oneof![
                4 => (-1_000_000i64..1_000_000).prop_map(|c| c as f64 / 100.0),
                2 => -1e15f64..1e15,
                1 => -1e-20f64..1e-20,
                1 => prop_oneof![Just(5e-324), Just(-2.5e-310), Just(1e300), Just(-3e120), Just(0.0), Just(-0.0)],
                1 => any::<f64>(),
            ], 0..50),
            split in any::<prop::sample::Index>(),
        ) {
            let xs: Vec<f64> = xs.into_iter().filter(|x| x.is_finite() && x.abs() < 1e300).collect();
            let mut fast = ExactSum::new();
            xs.iter().for_each(|&x| fast.add(x));
            let slow = reference(&xs);
            prop_assert_eq!(fast.value().to_bits(), slow.value().to_bits(), "{:?}", xs);
            let (cf, cs) = (fast.canonical(), slow.canonical());
            prop_assert_eq!(cf.parts(), cs.parts());
            prop_assert!(fast == slow);
            let mut squares = ExactSum::new();
            let mut square_parts = Vec::new();
            for &x in &xs {
                squares.add_product(x, x);
                let hi = x * x;
                square_parts.push(hi);
                if hi.is_finite() {
                    square_parts.push(x.mul_add(x, -hi));
                }
            }
            prop_assert_eq!(squares.value().to_bits(), reference(&square_parts).value().to_bits());
            let at = split.index(xs.len() + 1);
            let (mut a, mut b) = (ExactSum::new(), ExactSum::new());
            xs[..at].iter().for_each(|&x| a.add(x));
            xs[at..].iter().for_each(|&x| b.add(x));
            b.merge(&a);
            prop_assert_eq!(b.value().to_bits(), slow.value().to_bits());
            b.retract(&a);
            prop_assert_eq!(b.value().to_bits(), parts_value(&reference(&xs[at..]).canonical().parts()).to_bits());
            // Stored and read back, a sum keeps its value and its form's answers.
            let back: ExactSum = serde_json::from_str(&serde_json::to_string(&fast).unwrap()).unwrap();
            prop_assert!(back == fast);
            prop_assert_eq!(back.value().to_bits(), fast.value().to_bits());
        }

        #[test]
        fn order_and_splits_do_not_change_the_bits(
            xs in prop::collection::vec(-1e12f64..1e12, 0..60),
            split in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let whole = sum(&xs);
            let mut shuffled = xs.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(sum(&shuffled).to_bits(), whole.to_bits());
            let at = split.index(xs.len() + 1);
            let (mut a, mut b) = (ExactSum::new(), ExactSum::new());
            xs[..at].iter().for_each(|&x| a.add(x));
            xs[at..].iter().for_each(|&x| b.add(x));
            b.merge(&a);
            prop_assert_eq!(b.value().to_bits(), whole.to_bits());
            // Retracting a part leaves exactly the sum of the rest.
            b.retract(&a);
            prop_assert_eq!(b.value().to_bits(), sum(&xs[at..]).to_bits());
        }

        #[test]
        fn equal_sums_have_the_same_canonical_parts_whatever_their_history(
            xs in prop::collection::vec(prop_oneof![-1e6f64..1e6, (-100_000i64..100_000).prop_map(|c| c as f64 / 100.0), -1e-300f64..1e-300], 0..40),
            ys in prop::collection::vec(prop_oneof![-1e16f64..1e16, (-100_000i64..100_000).prop_map(|c| c as f64 / 100.0)], 0..40),
        ) {
            // In order; and with other values added in between and taken out again, in reverse.
            let mut plain = ExactSum::new();
            xs.iter().for_each(|&x| plain.add(x));
            let mut winding = ExactSum::new();
            for (i, &x) in xs.iter().enumerate().rev() {
                winding.add(x);
                if let Some(&y) = ys.get(i) {
                    winding.add(y);
                }
            }
            ys.iter().take(xs.len()).for_each(|&y| winding.subtract(y));
            let (a, b) = (plain.canonical(), winding.canonical());
            prop_assert_eq!(a.parts(), b.parts());
            prop_assert_eq!(a.value().to_bits(), plain.value().to_bits());
            // The canonical parts hold the same exact sum: taking them out leaves nothing.
            let mut rest = winding.clone();
            rest.retract(&a);
            prop_assert!(rest.parts().is_empty(), "{:?} less {:?} leaves {:?}", winding.parts(), a.parts(), rest.parts());
            prop_assert!(plain == winding);
            // What is written is the canonical form.
            prop_assert_eq!(serde_json::to_string(&winding).unwrap(), serde_json::to_string(&plain).unwrap());
        }
    }
}
