//! A slot's word and a value in, the word updated out: float sums kept exact in their word
//! while every addition is exact in one f64, then spilled beside the slots (the word naming
//! where), and integer sums spilled to 128 bits on overflow.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use crate::operators::aggregate::{ExactSum, FixedSum};

/// Integer sums that left their word (overflowed), by word position: rare, hashed with
/// foldhash rather than the standard library's SipHash.
pub(super) type Spills<V> = HashMap<usize, V, FixedState>;

/// Float sums that left their word, each at an index its word names: the word holds a NaN
/// (which no sum of finite values is) whose payload is the index, so an event of a spilled
/// slot reaches its sum without a lookup. A sum stays in the fixed form, unboxed, while that
/// holds it (sums of cents and of their squares do).
#[derive(Debug, Clone, Default)]
pub(super) struct SpilledSums {
    pub(super) sums: Vec<Spilled>,
    /// Indexes of sums taken back, to reuse.
    free: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(super) enum Spilled {
    Fixed(FixedSum),
    General(ExactSum),
}

impl SpilledSums {
    /// The payload bits of a NaN.
    const PAYLOAD: u64 = (1 << 51) - 1;

    /// The index a word names, when it is a spilled sum's.
    #[inline]
    pub(super) fn index(w: u64) -> Option<usize> {
        f64::from_bits(w).is_nan().then_some((w & Self::PAYLOAD) as usize)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sums.len() == self.free.len()
    }

    /// Keeps a sum; returns the word that names it.
    pub(super) fn put(&mut self, s: ExactSum) -> u64 {
        let s = match s.fixed() {
            Some(f) => Spilled::Fixed(f),
            None => Spilled::General(s),
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.sums[at] = s;
                at
            }
            None => {
                self.sums.push(s);
                self.sums.len() - 1
            }
        };
        f64::NAN.to_bits() & !Self::PAYLOAD | at as u64
    }

    /// Takes back the sum a word names, if it names one.
    pub(super) fn remove(&mut self, w: u64) {
        if let Some(at) = Self::index(w).filter(|&at| at < self.sums.len()) {
            self.sums[at] = Spilled::Fixed(FixedSum::default());
            self.free.push(at);
        }
    }

    /// The sum a word names.
    pub(super) fn get(&self, w: u64) -> Option<ExactSum> {
        match Self::index(w).and_then(|at| self.sums.get(at))? {
            Spilled::Fixed(f) => Some(ExactSum::from(*f)),
            Spilled::General(e) => Some(e.clone()),
        }
    }

    /// Adds a value to the sum a word names.
    #[inline]
    pub(super) fn add(&mut self, w: u64, x: f64) {
        let Some(s) = Self::index(w).and_then(|at| self.sums.get_mut(at)) else { return };
        match s {
            Spilled::Fixed(f) => {
                if !f.add(x) {
                    let mut e = ExactSum::from(*f);
                    e.add(x);
                    *s = Spilled::General(e);
                }
            }
            Spilled::General(e) => e.add(x),
        }
    }

    pub(super) fn bytes(&self) -> usize {
        let general = |s: &Spilled| match s {
            Spilled::General(e) => e.heap_bytes(),
            Spilled::Fixed(_) => 0,
        };
        self.sums.capacity() * size_of::<Spilled>()
            + self.sums.iter().map(general).sum::<usize>()
            + self.free.capacity() * size_of::<usize>()
    }
}

#[inline]
pub(super) fn add_f(w: &mut u64, x: f64, spill: &mut SpilledSums) {
    let s = f64::from_bits(*w);
    if s.is_nan() {
        spill.add(*w, x);
        return;
    }
    // Two-sum: `hi` is the rounded sum and `lo` what rounding lost.
    let hi = s + x;
    let z = hi - s;
    let lo = (s - (hi - z)) + (x - z);
    if lo == 0.0 && hi.is_finite() {
        *w = hi.to_bits();
    } else {
        let mut e = ExactSum::new();
        e.add(s);
        e.add(x);
        *w = spill.put(e);
    }
}

#[inline]
pub(super) fn add_i(w: &mut u64, x: i64, at: usize, spill: &mut Spills<i128>) {
    let s = *w as i64;
    if s == i64::MIN
        && let Some(e) = spill.get_mut(&at)
    {
        *e += i128::from(x);
        return;
    }
    match s.checked_add(x) {
        Some(t) if t != i64::MIN => *w = t as u64,
        _ => {
            spill.insert(at, i128::from(s) + i128::from(x));
            *w = i64::MIN as u64;
        }
    }
}
