//! Values in, their sum rounded once out: an f64 sum that does not depend on the order of
//! additions or on how the inputs were split, and that subtracts exactly.
//!
//! Shewchuk's algorithm (as in Python's `math.fsum`): the state is a short list of
//! non-overlapping partial sums whose exact total is the exact sum of the inputs; the result is
//! that total rounded to the nearest f64. Since the total is exact, any order, split or merge of
//! the same inputs gives the same bits, and adding `-x` undoes adding `x` exactly.

/// An exact running sum of finite f64 values.
///
/// The same exact sum can be held as different parts (they depend on the order of additions
/// and retractions), so it is written and compared in its canonical parts ([`ExactSum::canonical`]):
/// a checkpoint of the same events is the same bytes whatever the history that built it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(into = "Parts", from = "Parts")]
pub struct ExactSum {
    /// Non-overlapping partials, increasing in magnitude.
    partials: Vec<f64>,
}

/// The stored form of an [`ExactSum`]: its canonical parts.
#[derive(serde::Serialize, serde::Deserialize)]
struct Parts {
    partials: Vec<f64>,
}

impl From<ExactSum> for Parts {
    fn from(s: ExactSum) -> Parts {
        Parts { partials: s.canonical().partials }
    }
}

impl From<Parts> for ExactSum {
    fn from(p: Parts) -> ExactSum {
        ExactSum { partials: p.partials }
    }
}

impl PartialEq for ExactSum {
    /// Equal exact sums, whatever their parts.
    fn eq(&self, other: &ExactSum) -> bool {
        self.partials == other.partials || self.canonical().partials == other.canonical().partials
    }
}

impl ExactSum {
    pub fn new() -> Self {
        ExactSum::default()
    }

    /// Adds a finite value; non-finite ones never reach an aggregate (decode rejects them).
    pub fn add(&mut self, mut x: f64) {
        if !x.is_finite() {
            return;
        }
        let mut i = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        self.partials.truncate(i);
        if x != 0.0 {
            self.partials.push(x);
        }
        if !x.is_finite() {
            // The exact sum left the f64 range: keep it saturated rather than poisoned.
            self.partials.clear();
            self.partials.push(x);
        }
    }

    pub fn subtract(&mut self, x: f64) {
        self.add(-x);
    }

    pub fn merge(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(p);
        }
    }

    pub fn retract(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(-p);
        }
    }

    /// The exact sum, correctly rounded (half to even), as `math.fsum` computes it.
    pub fn value(&self) -> f64 {
        let p = &self.partials;
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

    /// Bytes the state holds, for state accounting.
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
                    self.partials.clear();
                    self.partials.push(scaled);
                    return;
                }
                self.add(scaled);
            }
            rest >>= 50;
            shift = shift.saturating_add(50);
        }
    }

    /// The non-overlapping parts whose exact sum this is.
    pub fn parts(&self) -> &[f64] {
        &self.partials
    }

    /// The same exact sum in its canonical parts, the same for every history of equal sums:
    /// the sum rounded to the nearest f64, then the remainder rounded, and so on until nothing
    /// remains (each remainder is below half a unit in the last place of the part before it,
    /// so the parts do not overlap; listed in increasing magnitude).
    pub fn canonical(&self) -> ExactSum {
        if self.partials.len() <= 1 {
            return self.clone();
        }
        let mut rest = self.clone();
        let mut parts = Vec::with_capacity(self.partials.len());
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
        if !rest.partials.is_empty() {
            return self.clone(); // a saturated (infinite) sum has no finer parts
        }
        parts.reverse();
        ExactSum { partials: parts }
    }

    pub fn heap_bytes(&self) -> usize {
        self.partials.capacity() * size_of::<f64>()
    }
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
    use super::ExactSum;
    use proptest::prelude::*;

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
