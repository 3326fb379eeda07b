//! Numbers in, quantiles out: a DDSketch with 1% relative accuracy, mergeable and exact in
//! its counts.
//!
//! Each value falls in a logarithmic bucket `ceil(log_gamma(|x|))`, `gamma = (1 + a) / (1 - a)`
//! with `a = 0.01`; zeros are counted apart. The state is bucket counts, so merging adds counts
//! and the result depends only on the multiset of values. The quantile `p` is the value at rank
//! `floor(p * (n - 1))` among the sorted values; the sketch returns its bucket's representative,
//! within 1% of the true value (relative).

use std::collections::BTreeMap;

use smallvec::SmallVec;

/// Relative accuracy of every quantile.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// 40 bytes, so that a [`super::Partial`] takes 48 (tested).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quantiles {
    positive: Buckets,
    negative: Negative,
    zeros: u64,
}

/// The buckets of negative values, boxed once there is one: most features' values are
/// positive (amounts, durations, counts), and every pane's sketch would carry 24 bytes for none.
/// Serialized as [`Buckets`] are (an empty map for none).
#[derive(Debug, Clone, Default)]
struct Negative(Option<Box<Buckets>>);

impl Negative {
    fn get(&self) -> &[Bucket] {
        self.0.as_deref().map_or(&[], |b| &b.0[..])
    }

    fn get_mut(&mut self) -> &mut Buckets {
        self.0.get_or_insert_with(Box::default)
    }

    fn take(&mut self, index: i32, n: u64) {
        if let Some(b) = self.0.as_deref_mut() {
            b.take(index, n);
            if b.0.is_empty() {
                self.0 = None;
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        self.0.as_deref().map_or(0, |b| size_of::<Buckets>() + b.heap_bytes())
    }
}

impl PartialEq for Negative {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl serde::Serialize for Negative {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.get().iter().map(|(i, c)| (i, c)))
    }
}

impl<'de> serde::Deserialize<'de> for Negative {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = <Buckets as serde::Deserialize>::deserialize(d)?;
        Ok(Negative((!b.0.is_empty()).then(|| Box::new(b))))
    }
}

/// A bucket's index and count.
pub(crate) type Bucket = (i32, u64);

/// Bucket counts by index, ascending: a sorted vector (a sketch holds at
/// most a few thousand buckets and a pane's sketch a few, where a B-tree would allocate a node
/// for eleven), whose first bucket is held inline: a daily pane's sketch of a user's one or two
/// amounts allocates nothing for them. Serialized as the map `{index: count}` a B-tree gave.
#[derive(Debug, Clone, Default, PartialEq)]
struct Buckets(SmallVec<[(i32, u64); 1]>);

impl Buckets {
    fn add(&mut self, index: i32, n: u64) {
        match self.0.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(at) => self.0[at].1 += n,
            Err(at) => {
                super::make_room!(self.0);
                self.0.insert(at, (index, n));
            }
        }
    }

    /// Bytes on the heap: none while the one bucket is inline.
    fn heap_bytes(&self) -> usize {
        if self.0.spilled() { self.0.capacity() * size_of::<Bucket>() } else { 0 }
    }

    /// Takes `n` out of a bucket, removing it when emptied; a bucket not held is left alone.
    fn take(&mut self, index: i32, n: u64) {
        if let Ok(at) = self.0.binary_search_by_key(&index, |&(i, _)| i) {
            self.0[at].1 = self.0[at].1.saturating_sub(n);
            if self.0[at].1 == 0 {
                self.0.remove(at);
            }
        }
    }
}

impl serde::Serialize for Buckets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(i, c)| (i, c)))
    }
}

impl<'de> serde::Deserialize<'de> for Buckets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = <BTreeMap<i32, u64> as serde::Deserialize>::deserialize(d)?;
        Ok(Buckets(map.into_iter().collect()))
    }
}

/// `gamma().ln()`, computed once (the test below checks it is the same bits).
const LN_GAMMA: f64 = 0.020000666706669435;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

/// The bucket of a value of magnitude at least [`MIN_MAGNITUDE`]: `ceil(ln(|x|) / ln(gamma))`
/// with fdlibm's logarithm, which Java's `StrictMath.log` (Spark's `LN`) also is, so an
/// engine's SQL gives the same index for every value where the platform's `ln` might differ
/// in the last bit.
pub(crate) fn bucket_index(x: f64) -> i32 {
    (libm::log(x.abs()) / LN_GAMMA).ceil() as i32
}

/// Values smaller in magnitude than this count as zero (buckets stay bounded).
const MIN_MAGNITUDE: f64 = 1e-9;

impl Quantiles {
    /// Starts loading the first buckets (see [`Partial::prefetch_contents`]).
    ///
    /// [`Partial::prefetch_contents`]: super::Partial::prefetch_contents
    #[inline]
    pub(crate) fn prefetch(&self) {
        crate::operators::prefetch_first(&self.positive.0);
    }

    /// The positive and negative buckets `(index, count)`, ascending, and the count of zeros.
    pub(crate) fn parts(&self) -> (&[Bucket], &[Bucket], u64) {
        (&self.positive.0[..], self.negative.get(), self.zeros)
    }

    /// A sketch from its parts, in any order (buckets of one index add up; empty ones are left out).
    pub(crate) fn from_parts(positive: &[Bucket], negative: &[Bucket], zeros: u64) -> Quantiles {
        let mut q = Quantiles { zeros, ..Quantiles::default() };
        for &(i, n) in positive.iter().filter(|(_, n)| *n > 0) {
            q.positive.add(i, n);
        }
        for &(i, n) in negative.iter().filter(|(_, n)| *n > 0) {
            q.negative.get_mut().add(i, n);
        }
        q
    }

    pub fn insert(&mut self, x: f64) {
        self.insert_n(x, 1);
    }

    pub fn insert_n(&mut self, x: f64, n: u64) {
        if !x.is_finite() {
            return;
        }
        if x.abs() < MIN_MAGNITUDE {
            self.zeros += n;
            return;
        }
        let index = bucket_index(x);
        let store = if x > 0.0 { &mut self.positive } else { self.negative.get_mut() };
        store.add(index, n);
    }

    pub fn merge(&mut self, other: &Quantiles) {
        for &(i, c) in &other.positive.0 {
            self.positive.add(i, c);
        }
        for &(i, c) in other.negative.get() {
            self.negative.get_mut().add(i, c);
        }
        self.zeros += other.zeros;
    }

    /// Takes out a sketch that was merged in (its values were inserted into this one): bucket
    /// counts subtract exactly, and emptied buckets are removed, so the result is the sketch of
    /// the remaining values.
    pub fn retract(&mut self, other: &Quantiles) {
        for &(i, c) in &other.positive.0 {
            self.positive.take(i, c);
        }
        for &(i, c) in other.negative.get() {
            self.negative.take(i, c);
        }
        self.zeros = self.zeros.saturating_sub(other.zeros);
    }

    pub fn count(&self) -> u64 {
        self.zeros
            + self.positive.0.iter().map(|b| b.1).sum::<u64>()
            + self.negative.get().iter().map(|b| b.1).sum::<u64>()
    }

    fn representative(index: i32) -> f64 {
        let g = gamma();
        2.0 * g.powi(index) / (g + 1.0)
    }

    /// The `p` quantile, `None` over no value.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (p.clamp(0.0, 1.0) * (n - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        // Ascending: most negative first (largest magnitude), then zeros, then positives.
        for &(i, c) in self.negative.get().iter().rev() {
            seen += c;
            if seen > rank {
                return Some(-Self::representative(i));
            }
        }
        seen += self.zeros;
        if seen > rank {
            return Some(0.0);
        }
        for &(i, c) in &self.positive.0 {
            seen += c;
            if seen > rank {
                return Some(Self::representative(i));
            }
        }
        None
    }

    /// Bytes on the heap.
    pub fn bytes(&self) -> usize {
        self.positive.heap_bytes() + self.negative.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_logarithm_constant_is_the_computed_one() {
        assert_eq!(LN_GAMMA.to_bits(), gamma().ln().to_bits());
    }

    /// The buckets serialize as the map a B-tree gave (stored views and checkpoints read both).
    #[test]
    fn buckets_serialize_as_a_map_of_counts() {
        let mut q = Quantiles::default();
        [3.0, 3.0, -2.5, 1e6, 0.0].iter().for_each(|&v| q.insert(v));
        let json = serde_json::to_value(&q).unwrap();
        let mut positive: BTreeMap<i32, u64> = BTreeMap::new();
        for v in [3.0f64, 3.0, 1e6] {
            *positive.entry((v.ln() / LN_GAMMA).ceil() as i32).or_insert(0) += 1;
        }
        let negative = BTreeMap::from([(((2.5f64).ln() / LN_GAMMA).ceil() as i32, 1u64)]);
        let want = serde_json::json!({ "positive": positive, "negative": negative, "zeros": 1 });
        assert_eq!(json, want);
        assert_eq!(serde_json::from_value::<Quantiles>(json).unwrap(), q);
        assert_eq!(postcard::from_bytes::<Quantiles>(&postcard::to_stdvec(&q).unwrap()).unwrap(), q);
    }

    /// Negative buckets take heap only while the sketch has one: retracting the last frees
    /// them, and the sketch is equal, and serializes the same, as one that never had any.
    #[test]
    fn negative_buckets_are_boxed_while_there_is_one() {
        let mut positive = Quantiles::default();
        positive.insert(3.0);
        let mut negative = Quantiles::default();
        negative.insert(-2.5);
        let mut q = positive.clone();
        q.merge(&negative);
        assert_eq!(q.bytes(), size_of::<Buckets>());
        assert_eq!(q.quantile(0.0), Some(-Quantiles::representative(bucket_index(-2.5))));
        q.retract(&negative);
        assert_eq!(q.bytes(), 0);
        assert_eq!(q, positive);
        assert_eq!(serde_json::to_value(&q).unwrap(), serde_json::to_value(&positive).unwrap());
        assert_eq!(postcard::to_stdvec(&q).unwrap(), postcard::to_stdvec(&positive).unwrap());
    }

    fn exact(values: &mut [f64], p: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        values[(p * (values.len() - 1) as f64).floor() as usize]
    }

    proptest! {
        #[test]
        fn within_one_percent_of_the_exact_quantile_and_split_independent(
            values in prop::collection::vec(prop_oneof![-1e6f64..1e6, 0.001f64..10.0, Just(0.0)], 1..300),
            p in 0.0f64..=1.0,
            split in any::<prop::sample::Index>(),
        ) {
            let mut whole = Quantiles::default();
            values.iter().for_each(|&v| whole.insert(v));
            let got = whole.quantile(p).unwrap();
            let want = exact(&mut values.clone(), p);
            if want.abs() < MIN_MAGNITUDE {
                prop_assert!(got.abs() < MIN_MAGNITUDE * 1.01 || got == 0.0);
            } else {
                prop_assert!((got - want).abs() <= RELATIVE_ACCURACY * want.abs() * 1.000_001, "p={} got {} want {}", p, got, want);
            }
            let at = split.index(values.len() + 1);
            let (mut a, mut b) = (Quantiles::default(), Quantiles::default());
            values[..at].iter().for_each(|&v| a.insert(v));
            values[at..].iter().for_each(|&v| b.insert(v));
            b.merge(&a);
            prop_assert_eq!(b, whole);
        }
    }
}
