//! Values in, how many times each was seen out, in value order: the state of `count_distinct`
//! and `top_k`. A sorted vector while small, a hash table past [`ValueCounts::SMALL`] values:
//! most panes hold a few values, which the vector holds with nothing else; a window total of a
//! user's thousands of merchants is counted at an event's cost of one hash and one comparison,
//! where a search in value order compared a dozen strings (a B-tree did until 2026-12-07: a
//! third of a Kappa replay of the fraud example at 2K users). Value order is restored when the
//! counts are listed ([`ValueCounts::iter`]), so snapshots and views keep their bytes.

use std::cmp::Ordering;

use foldhash::fast::FixedState;

use crate::value::Value;

/// The hash table of large counts: foldhash with a fixed seed, as the key tables use.
type Table = hashbrown::HashMap<Value, i64, FixedState>;

/// At most 40 bytes, so that a [`super::Partial`] takes 48 (tested).
#[derive(Debug, Clone)]
pub enum ValueCounts {
    /// One value and its positive count, held inline: a pane of one value allocates nothing.
    One((Value, i64)),
    /// No value, or two to [`ValueCounts::SMALL`], sorted by value, each once, every count
    /// positive.
    Small(Vec<(Value, i64)>),
    /// Each value once, every count positive, in no order; boxed, as few sets grow this large.
    Large(Box<Table>),
}

impl Default for ValueCounts {
    fn default() -> Self {
        ValueCounts::Small(Vec::new())
    }
}

/// Equal when they hold the same values with the same counts, whatever their form.
impl PartialEq for ValueCounts {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl ValueCounts {
    /// Starts loading the first entries of a small set (a hint, see
    /// [`super::Partial::prefetch_contents`]).
    #[inline]
    pub(crate) fn prefetch(&self) {
        if let ValueCounts::Small(v) = self {
            crate::operators::prefetch_first(v);
        }
    }

    /// Values a sorted vector holds before the counts move to a hash table. At 8 a Kappa
    /// replay of 2M events over 2K users took 3% less CPU and 12% less memory than at 32, but
    /// the fraud group at 1M users held 3% more memory per key (a user's 30-day total of 9 to
    /// 32 merchants in a table rather than a vector): 32 keeps the state of many keys as small
    /// as it was (docs/benchmarks.md).
    pub const SMALL: usize = 32;

    pub fn len(&self) -> usize {
        match self {
            ValueCounts::One(_) => 1,
            ValueCounts::Small(v) => v.len(),
            ValueCounts::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values and their counts, in value order (a large table's are sorted first).
    pub fn iter(&self) -> Iter<'_> {
        match self {
            ValueCounts::One(pair) => Iter::Small(std::slice::from_ref(pair).iter()),
            ValueCounts::Small(v) => Iter::Small(v.iter()),
            ValueCounts::Large(m) => {
                let mut sorted: Vec<(&Value, &i64)> = m.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                Iter::Sorted(sorted.into_iter())
            }
        }
    }

    /// The values and their counts in any order: for merging and retracting, where the order
    /// does not matter.
    pub fn each(&self) -> Iter<'_> {
        match self {
            ValueCounts::One(pair) => Iter::Small(std::slice::from_ref(pair).iter()),
            ValueCounts::Small(v) => Iter::Small(v.iter()),
            ValueCounts::Large(m) => Iter::Table(m.iter()),
        }
    }

    /// Counts `value` `n` more times (the value is cloned only when it is new).
    pub fn add(&mut self, value: &Value, n: i64) {
        match self {
            ValueCounts::One(pair) => {
                let order = pair.0.cmp(value);
                if order == Ordering::Equal {
                    pair.1 += n;
                    return;
                }
                let pair = std::mem::replace(pair, (Value::Null, 0));
                let new = (value.clone(), n);
                *self = ValueCounts::Small(if order == Ordering::Less { vec![pair, new] } else { vec![new, pair] });
            }
            ValueCounts::Small(v) if v.is_empty() => *self = ValueCounts::One((value.clone(), n)),
            ValueCounts::Small(v) => match v.binary_search_by(|(k, _)| k.cmp(value)) {
                Ok(i) => v[i].1 += n,
                Err(i) => {
                    super::insert_tight(v, i, (value.clone(), n));
                    if v.len() > Self::SMALL {
                        let mut table = Table::with_capacity_and_hasher(v.len() * 2, FixedState::default());
                        table.extend(std::mem::take(v));
                        *self = ValueCounts::Large(Box::new(table));
                    }
                }
            },
            ValueCounts::Large(m) => match m.get_mut(value) {
                Some(c) => *c += n,
                None => {
                    m.insert(value.clone(), n);
                }
            },
        }
    }

    /// Takes `n` counts of `value` out, dropping the value at zero; a value not held is left
    /// alone.
    pub fn retract(&mut self, value: &Value, n: i64) {
        match self {
            ValueCounts::One(pair) => {
                if pair.0.cmp(value) == Ordering::Equal {
                    pair.1 -= n;
                    if pair.1 <= 0 {
                        *self = ValueCounts::default();
                    }
                }
            }
            ValueCounts::Small(v) => {
                if let Ok(i) = v.binary_search_by(|(k, _)| k.cmp(value)) {
                    v[i].1 -= n;
                    if v[i].1 <= 0 {
                        v.remove(i);
                        // Back inline at one value, its vector freed.
                        if v.len() == 1
                            && let Some(last) = v.pop()
                        {
                            *self = ValueCounts::One(last);
                        }
                    }
                }
            }
            ValueCounts::Large(m) => {
                if let Some(c) = m.get_mut(value) {
                    *c -= n;
                    if *c <= 0 {
                        m.remove(value);
                    }
                }
            }
        }
    }

    /// Bytes on the heap: the vector's capacity, or the table with its buckets and their
    /// control bytes (none for one value, held inline).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ValueCounts::One(_) => 0,
            ValueCounts::Small(v) => v.capacity() * size_of::<(Value, i64)>(),
            ValueCounts::Large(m) => size_of::<Table>() + m.capacity() * (size_of::<(Value, i64)>() + 1),
        }
    }
}

impl FromIterator<(Value, i64)> for ValueCounts {
    fn from_iter<I: IntoIterator<Item = (Value, i64)>>(pairs: I) -> Self {
        let mut counts = ValueCounts::default();
        for (value, n) in pairs {
            counts.add(&value, n);
        }
        counts
    }
}

/// The values and counts of [`ValueCounts::iter`] (value order) and [`ValueCounts::each`]
/// (the vector's order, or the table's).
#[derive(Debug)]
pub enum Iter<'a> {
    Small(std::slice::Iter<'a, (Value, i64)>),
    Sorted(std::vec::IntoIter<(&'a Value, &'a i64)>),
    Table(hashbrown::hash_map::Iter<'a, Value, i64>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Value, &'a i64);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(it) => it.next().map(|(v, n)| (v, n)),
            Iter::Sorted(it) => it.next(),
            Iter::Table(it) => it.next(),
        }
    }

    /// Exact: a serializer that writes the length first (postcard) needs it.
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Small(it) => it.size_hint(),
            Iter::Sorted(it) => it.size_hint(),
            Iter::Table(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// As a list of `(value, count)` pairs in value order, whatever the form (JSON maps only take
/// string keys).
impl serde::Serialize for ValueCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for ValueCounts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(<Vec<(Value, i64)> as serde::Deserialize>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn v(i: i64) -> Value {
        Value::I64(i)
    }

    /// The same operations on both forms and on a B-tree give the same counts, listed in value
    /// order, across the move from one form to the other.
    #[test]
    fn both_forms_count_as_a_btree_does() {
        let mut counts = ValueCounts::default();
        let mut reference: BTreeMap<Value, i64> = BTreeMap::new();
        let mut s = 7u64;
        for step in 0..5_000 {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let value = v(((s >> 33) % if step < 2_000 { 20 } else { 80 }) as i64);
            let n = ((s >> 20) % 3) as i64 + 1;
            if (s >> 40).is_multiple_of(4) {
                counts.retract(&value, n);
                if let Some(c) = reference.get_mut(&value) {
                    *c -= n;
                    if *c <= 0 {
                        reference.remove(&value);
                    }
                }
            } else {
                counts.add(&value, n);
                *reference.entry(value).or_insert(0) += n;
            }
            assert!(counts.iter().eq(reference.iter()), "step {step}");
        }
        assert!(matches!(counts, ValueCounts::Large(_)), "80 values move the counts to a hash table");
        let json = serde_json::to_string(&counts).unwrap();
        assert_eq!(json, serde_json::to_string(&reference.iter().collect::<Vec<_>>()).unwrap());
        let back: ValueCounts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, counts);
        let back: ValueCounts = postcard::from_bytes(&postcard::to_stdvec(&counts).unwrap()).unwrap();
        assert_eq!(back, counts);
    }
}
