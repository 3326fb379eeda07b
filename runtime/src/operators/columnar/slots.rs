//! Events' values in, the accumulators of one window out: slots of fixed-size words (one slot
//! per key, or per pane) for the numeric aggregates, a partial of the aggregate library per
//! slot for the others, and their conversion to and from the partials the row path keeps.
//!
//! Each aggregate of the window is split into primitives, shared when equal: `avg(x)` is
//! `sum(x)` and `count(x)`, so `sum(x)` and `avg(x)` over the same window keep one sum. A slot
//! is `stride` consecutive words, one per primitive, so an event updates one cache line.
//! Float sums stay exact (the contract of [`ExactSum`]): a word holds the sum while every
//! addition was exact in one f64, and spills to an `ExactSum` beside the slots when one is not
//! (the word then holds a NaN, which no sum of finite values is, whose payload is the index of
//! the spilled sum). Integer sums spill to `i128` on overflow (the word then holds `i64::MIN`).
//!
//! Aggregates the words cannot hold (distinct counts, top-k, sketches, first/last, moments, and
//! min/max of text) are *boxed*: each slot holds their [`Partial`] beside its words, updated by
//! the aggregate library itself from the event's value (text values arrive interned, so keeping
//! one costs a reference count, not an allocation).

use featc::ir::{AggKind, Ty};
use std::borrow::Cow;

use super::spills::{SpilledSums, Spills, add_f, add_i};
use crate::operators::aggregate::{AggSpec, ExactSum, Moments, Partial};
use crate::value::Value;

/// One primitive accumulator; the index is a value column of the columnar group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Prim {
    Rows,
    NonNull(usize),
    SumF(usize),
    /// The exact sum of the squares (variance and standard deviation).
    SumSqF(usize),
    SumI(usize),
    MinF(usize),
    MaxF(usize),
    MinI(usize),
    MaxI(usize),
}

impl Prim {
    fn init(self) -> u64 {
        match self {
            Prim::Rows | Prim::NonNull(_) | Prim::SumI(_) => 0,
            Prim::SumF(_) | Prim::SumSqF(_) => 0f64.to_bits(),
            Prim::MinF(_) => f64::INFINITY.to_bits(),
            Prim::MaxF(_) => f64::NEG_INFINITY.to_bits(),
            Prim::MinI(_) => i64::MAX as u64,
            Prim::MaxI(_) => i64::MIN as u64,
        }
    }
}

/// One event's value of a value column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Null,
    F(f64),
    I(i64),
}

/// How an aggregate reads its primitives: indices into the window's primitives.
#[derive(Debug, Clone)]
pub(crate) struct AggPrims {
    pub(crate) spec: AggSpec,
    pub(crate) integer: bool,
    /// Its input is an event time (milliseconds; `min` and `max` give timestamps).
    time: bool,
    /// The count of the values it saw (rows for `count()`).
    count: usize,
    /// Its sum, min or max, when it has one.
    value: Option<usize>,
    /// Its sum of squares (variance and standard deviation).
    square: Option<usize>,
    /// Its index among the boxed aggregates, when it is one.
    boxed: Option<usize>,
    /// Not computed (a layer that does not read it, see [`AggInput::off`]): no word, no box;
    /// its partial is always empty.
    off: bool,
}

/// An aggregate kept as a partial of the aggregate library.
#[derive(Debug, Clone)]
struct Boxed {
    spec: AggSpec,
    integer: bool,
    /// Its value: an index into the event's cells.
    cell: usize,
    predicate: Option<u8>,
}

/// Whether an aggregate of `kind` over a column of type `ty` (none for `count()`) has a form in
/// words; the others are boxed.
pub(crate) fn in_words(kind: AggKind, ty: Option<&Ty>) -> bool {
    match kind {
        AggKind::Count => matches!(ty, None | Some(Ty::I64 | Ty::F64 | Ty::Timestamp)),
        AggKind::Sum | AggKind::Avg => matches!(ty, Some(Ty::I64 | Ty::F64)),
        AggKind::Variance | AggKind::Stddev => matches!(ty, Some(Ty::F64)),
        AggKind::Min | AggKind::Max => matches!(ty, Some(Ty::I64 | Ty::F64 | Ty::Timestamp)),
        _ => false,
    }
}

/// An aggregate as the columnar path sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AggInput {
    pub(crate) spec: AggSpec,
    /// Its input is an integer (or a time, in milliseconds).
    pub(crate) integer: bool,
    pub(crate) time: bool,
    /// Its value column, and whether that column can be null.
    pub(crate) column: Option<(usize, bool)>,
    /// Boxed: its value's index into the event's cells (see [`in_words`]).
    pub(crate) cell: Option<usize>,
    /// The feature filter it counts under (a bit of the event's predicate mask).
    pub(crate) predicate: Option<u8>,
    /// Not computed: the job reads no value of it (the Lambda batch layer keeps only the
    /// aggregates its view serves). Its partial stays empty and costs no word.
    pub(crate) off: bool,
}

/// Every slot of one window.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    prims: Vec<Prim>,
    /// For each primitive, the feature filter an event must pass to update it.
    preds: Vec<Option<u8>>,
    pub(crate) aggs: Vec<AggPrims>,
    words: Vec<u64>,
    boxed: Vec<Boxed>,
    /// `boxed.len()` partials per slot.
    boxes: Vec<Partial>,
    free: Vec<u32>,
    spill_f: SpilledSums,
    spill_i: Spills<i128>,
}

impl Slots {
    /// The primitives of a window's aggregates, given each aggregate's kind, whether its input
    /// is an integer, its value column and whether that column can be null. `None` when an
    /// aggregate has no columnar form.
    pub(crate) fn new(aggs: &[AggInput]) -> Option<Slots> {
        let mut prims: Vec<(Prim, Option<u8>)> = Vec::new();
        let mut out = Vec::with_capacity(aggs.len());
        let mut boxed = Vec::new();
        for &AggInput { spec, integer, time, column, cell, predicate, off } in aggs {
            if off {
                out.push(AggPrims { spec, integer, time, count: 0, value: None, square: None, boxed: None, off });
                continue;
            }
            if let Some(cell) = cell {
                let boxed_at = Some(boxed.len());
                out.push(AggPrims { spec, integer, time, count: 0, value: None, square: None, boxed: boxed_at, off });
                boxed.push(Boxed { spec, integer, cell, predicate });
                continue;
            }
            let mut add = |p: Prim| match prims.iter().position(|q| *q == (p, predicate)) {
                Some(i) => i,
                None => {
                    prims.push((p, predicate));
                    prims.len() - 1
                }
            };
            // A non-nullable column has as many values as rows.
            let count = match column {
                Some((c, true)) => add(Prim::NonNull(c)),
                _ => add(Prim::Rows),
            };
            let value = match (spec.kind, column) {
                (AggKind::Count, _) => None,
                (AggKind::Sum, Some((c, _))) if integer => Some(add(Prim::SumI(c))),
                (AggKind::Sum | AggKind::Avg, Some((c, _))) => Some(add(Prim::SumF(c))),
                (AggKind::Variance | AggKind::Stddev, Some((c, _))) if !integer => Some(add(Prim::SumF(c))),
                (AggKind::Min, Some((c, _))) => Some(add(if integer { Prim::MinI(c) } else { Prim::MinF(c) })),
                (AggKind::Max, Some((c, _))) => Some(add(if integer { Prim::MaxI(c) } else { Prim::MaxF(c) })),
                _ => return None,
            };
            if time && !matches!(spec.kind, AggKind::Count | AggKind::Min | AggKind::Max) {
                return None;
            }
            let square = match (spec.kind, column) {
                (AggKind::Variance | AggKind::Stddev, Some((c, _))) => Some(add(Prim::SumSqF(c))),
                _ => None,
            };
            out.push(AggPrims { spec, integer, time, count, value, square, boxed: None, off });
        }
        Some(Slots {
            preds: prims.iter().map(|p| p.1).collect(),
            prims: prims.into_iter().map(|p| p.0).collect(),
            aggs: out,
            words: Vec::new(),
            boxed,
            boxes: Vec::new(),
            free: Vec::new(),
            spill_f: SpilledSums::default(),
            spill_i: Spills::default(),
        })
    }

    /// The same layout with no slots.
    pub(crate) fn emptied(&self) -> Slots {
        Slots {
            prims: self.prims.clone(),
            preds: self.preds.clone(),
            aggs: self.aggs.clone(),
            words: Vec::new(),
            boxed: self.boxed.clone(),
            boxes: Vec::new(),
            free: Vec::new(),
            spill_f: SpilledSums::default(),
            spill_i: Spills::default(),
        }
    }

    fn stride(&self) -> usize {
        self.prims.len()
    }

    /// How many slots exist.
    fn len(&self) -> usize {
        if self.prims.is_empty() {
            self.boxes.len() / self.boxed.len().max(1)
        } else {
            self.words.len() / self.stride()
        }
    }

    /// Appends one empty slot.
    fn push(&mut self) {
        self.words.extend(self.prims.iter().map(|p| p.init()));
        self.boxes.extend(self.boxed.iter().map(|b| Partial::new(b.spec, b.integer)));
    }

    /// Makes sure slots `0..n` exist (one per key for running and tumbling windows).
    pub(crate) fn ensure(&mut self, n: usize) {
        if self.prims.is_empty() && self.boxed.is_empty() {
            return;
        }
        while self.len() < n {
            self.push();
        }
    }

    /// A fresh slot (for a pane).
    pub(crate) fn alloc(&mut self) -> u32 {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        let slot = self.len() as u32;
        self.push();
        slot
    }

    /// Returns a pane's slot, emptied.
    pub(crate) fn release(&mut self, slot: u32) {
        self.reset(slot);
        self.free.push(slot);
    }

    /// Folds slot `from` into slot `into`, their partials merged by the aggregate library (two
    /// sessions an event bridges), and releases `from`.
    pub(crate) fn merge_into(&mut self, into: u32, from: u32) {
        let mut merged = self.partials(into);
        for ((acc, p), a) in merged.iter_mut().zip(self.partials(from)).zip(&self.aggs) {
            acc.merge(a.spec, &p);
        }
        self.reset(into);
        self.load(into, merged);
        self.release(from);
    }

    /// Asks the processor to start loading a slot.
    #[inline]
    pub(crate) fn prefetch(&self, slot: u32) {
        if let Some(w) = self.words.get(slot as usize * self.stride()) {
            super::prefetch(w);
        }
    }

    /// Asks the processor to start loading the partial of aggregate `agg` in a slot (its box, or
    /// its words).
    #[inline]
    pub(crate) fn prefetch_partial(&self, slot: u32, agg: usize) {
        match self.aggs.get(agg).and_then(|a| a.boxed) {
            Some(b) => {
                crate::operators::prefetch_first(self.boxes.get(slot as usize * self.boxed.len() + b..).unwrap_or(&[]))
            }
            None => self.prefetch(slot),
        }
    }

    /// Empties a slot.
    #[inline]
    pub(crate) fn reset(&mut self, slot: u32) {
        let nb = self.boxed.len();
        for (b, p) in self.boxed.iter().zip(&mut self.boxes[slot as usize * nb..(slot as usize + 1) * nb]) {
            *p = Partial::new(b.spec, b.integer);
        }
        let base = slot as usize * self.stride();
        if self.spill_f.is_empty() && self.spill_i.is_empty() {
            for (w, p) in self.words[base..base + self.prims.len()].iter_mut().zip(&self.prims) {
                *w = p.init();
            }
            return;
        }
        for (i, p) in self.prims.iter().enumerate() {
            let w = &mut self.words[base + i];
            match p {
                Prim::SumF(_) | Prim::SumSqF(_) => self.spill_f.remove(*w),
                Prim::SumI(_) if *w == i64::MIN as u64 => {
                    self.spill_i.remove(&(base + i));
                }
                _ => {}
            }
            *w = p.init();
        }
    }

    /// Adds one event to a slot: its numeric values (by value column) and cells (by boxed
    /// value), at time `ts`; `mask` holds the feature filters it passed (bit `p` for filter `p`).
    #[inline]
    pub(crate) fn update(&mut self, slot: u32, values: &[Num], cells: &[Value], ts: i64, mask: u64) {
        // All ones: every primitive takes the event (the common case, with no feature filter).
        let all = mask == u64::MAX;
        if !self.boxed.is_empty() {
            let nb = self.boxed.len();
            let boxes = &mut self.boxes[slot as usize * nb..(slot as usize + 1) * nb];
            for (b, p) in self.boxed.iter().zip(boxes) {
                if !all
                    && let Some(bit) = b.predicate
                    && mask & (1u64 << bit) == 0
                {
                    continue;
                }
                p.update(b.spec, ts, Some(&cells[b.cell]));
            }
        }
        let base = slot as usize * self.prims.len();
        let Slots { prims, preds, words, spill_f, spill_i, .. } = self;
        let words = &mut words[base..base + prims.len()];
        for (i, (p, w)) in prims.iter().zip(words.iter_mut()).enumerate() {
            if !all
                && let Some(Some(bit)) = preds.get(i)
                && mask & (1u64 << bit) == 0
            {
                continue;
            }
            match *p {
                Prim::Rows => *w += 1,
                Prim::NonNull(c) => *w += u64::from(values[c] != Num::Null),
                Prim::SumF(c) => match values[c] {
                    Num::F(x) => add_f(w, x, spill_f),
                    // An integer beyond 2^53 is added as two exact parts, never rounded first.
                    Num::I(x) => {
                        let hi = x as f64;
                        add_f(w, hi, spill_f);
                        let lo = (i128::from(x) - hi as i128) as f64;
                        if lo != 0.0 {
                            add_f(w, lo, spill_f);
                        }
                    }
                    Num::Null => {}
                },
                // The exact square: the rounded product and its error, each added exactly.
                Prim::SumSqF(c) => {
                    if let Num::F(x) = values[c] {
                        let hi = x * x;
                        add_f(w, hi, spill_f);
                        let lo = x.mul_add(x, -hi);
                        if hi.is_finite() && lo != 0.0 {
                            add_f(w, lo, spill_f);
                        }
                    }
                }
                Prim::SumI(c) => {
                    if let Num::I(x) = values[c] {
                        add_i(w, x, base + i, spill_i);
                    }
                }
                Prim::MinF(c) => {
                    if let Num::F(x) = values[c]
                        && x.total_cmp(&f64::from_bits(*w)).is_lt()
                    {
                        *w = x.to_bits();
                    }
                }
                Prim::MaxF(c) => {
                    if let Num::F(x) = values[c]
                        && x.total_cmp(&f64::from_bits(*w)).is_gt()
                    {
                        *w = x.to_bits();
                    }
                }
                Prim::MinI(c) => {
                    if let Num::I(x) = values[c] {
                        *w = (*w as i64).min(x) as u64;
                    }
                }
                Prim::MaxI(c) => {
                    if let Num::I(x) = values[c] {
                        *w = (*w as i64).max(x) as u64;
                    }
                }
            }
        }
    }

    fn word(&self, slot: u32, prim: usize) -> (usize, u64) {
        let at = slot as usize * self.stride() + prim;
        (at, self.words[at])
    }

    fn exact(&self, slot: u32, prim: usize) -> ExactSum {
        let w = self.word(slot, prim).1;
        let x = f64::from_bits(w);
        if x.is_nan() {
            return self.spill_f.get(w).unwrap_or_default();
        }
        let mut s = ExactSum::new();
        s.add(x);
        s
    }

    fn integer_sum(&self, slot: u32, prim: usize) -> i128 {
        let (at, w) = self.word(slot, prim);
        match self.spill_i.get(&at) {
            Some(s) if w == i64::MIN as u64 => *s,
            _ => i128::from(w as i64),
        }
    }

    /// The partials of a slot, one per aggregate, as the aggregate library keeps them.
    pub(crate) fn partials(&self, slot: u32) -> Vec<Partial> {
        (0..self.aggs.len()).map(|a| self.partial(slot, a).into_owned()).collect()
    }

    /// The partial of aggregate `agg` in a slot when the slot holds it as one (boxed).
    #[inline]
    pub(crate) fn boxed_partial(&self, slot: u32, agg: usize) -> Option<&Partial> {
        let a = self.aggs.get(agg).filter(|a| !a.off)?;
        self.boxes.get(slot as usize * self.boxed.len() + a.boxed?)
    }

    /// The partial of aggregate `agg` in a slot: borrowed when the slot holds it (boxed), built
    /// from the words otherwise.
    pub(crate) fn partial(&self, slot: u32, agg: usize) -> Cow<'_, Partial> {
        let a = &self.aggs[agg];
        if a.off {
            return Cow::Owned(Partial::new(a.spec, a.integer));
        }
        if let Some(p) = self.boxed_partial(slot, agg) {
            return Cow::Borrowed(p);
        }
        let count = self.word(slot, a.count).1 as i64;
        let bound = |integer: bool, w: u64| {
            (count > 0).then(|| match (a.time, integer) {
                (true, _) => Value::Ts(w as i64),
                (false, true) => Value::I64(w as i64),
                (false, false) => Value::F64(f64::from_bits(w)),
            })
        };
        Cow::Owned(match (a.spec.kind, a.value) {
            (AggKind::Sum, Some(v)) if a.integer => Partial::SumI(self.integer_sum(slot, v)),
            (AggKind::Sum, Some(v)) => Partial::SumF(self.exact(slot, v)),
            (AggKind::Avg, Some(v)) => Partial::Avg { sum: self.exact(slot, v), count },
            (AggKind::Variance | AggKind::Stddev, Some(v)) => Partial::Moments(Box::new(Moments {
                count,
                sum: self.exact(slot, v),
                sum_sq: a.square.map(|q| self.exact(slot, q)).unwrap_or_default(),
            })),
            (AggKind::Min, Some(v)) => Partial::Min(bound(a.integer, self.word(slot, v).1)),
            (AggKind::Max, Some(v)) => Partial::Max(bound(a.integer, self.word(slot, v).1)),
            _ => Partial::Count(count),
        })
    }

    /// Where the primitives and boxed aggregates of `self` are in `of`, when `self` keeps the
    /// aggregates `aggs` of `of` (built by [`Slots::new`] from those of its inputs): a
    /// primitive by its kind, column and filter; a boxed aggregate by the aggregate it is.
    pub(crate) fn positions_in(&self, of: &Slots, aggs: &[usize]) -> Option<(Vec<usize>, Vec<usize>)> {
        let prims = self
            .prims
            .iter()
            .zip(&self.preds)
            .map(|p| of.prims.iter().zip(&of.preds).position(|q| q == p))
            .collect::<Option<Vec<usize>>>()?;
        let mut boxed = vec![usize::MAX; self.boxed.len()];
        for (a, &theirs) in self.aggs.iter().zip(aggs) {
            if let Some(b) = a.boxed {
                *boxed.get_mut(b)? = of.aggs.get(theirs)?.boxed?;
            }
        }
        (!boxed.contains(&usize::MAX)).then_some((prims, boxed))
    }

    /// Takes slot `from_slot` of `from` out of slot `slot`: a running total less a pane that
    /// left its window. `prims[i]` and `boxed[j]` are where primitive `i` and boxed aggregate
    /// `j` of `self` are in `from` ([`Slots::positions_in`]). Only aggregates with a retract
    /// are kept in totals, so minima and maxima are never taken out.
    pub(crate) fn retract(&mut self, slot: u32, from: &Slots, from_slot: u32, prims: &[usize], boxed: &[usize]) {
        let nb = self.boxed.len();
        for (j, &theirs) in boxed.iter().enumerate() {
            let pane = &from.boxes[from_slot as usize * from.boxed.len() + theirs];
            self.boxes[slot as usize * nb + j].retract(pane);
        }
        let base = slot as usize * self.stride();
        for (i, &theirs) in prims.iter().enumerate() {
            let at = base + i;
            match self.prims[i] {
                // A count word that only a sum reads is not loaded with a snapshot's partials
                // (a sum's partial has no count), so it may hold less than a pane: it stays at
                // zero. Every count an aggregate reads was loaded and holds each live pane's.
                Prim::Rows | Prim::NonNull(_) => {
                    self.words[at] = self.words[at].saturating_sub(from.word(from_slot, theirs).1);
                }
                Prim::SumI(_) => {
                    let s = self.integer_sum(slot, i) - from.integer_sum(from_slot, theirs);
                    self.set_integer_sum(at, s);
                }
                Prim::SumF(_) | Prim::SumSqF(_) => {
                    // Two-sum of `a - b`: the word keeps the difference when it is exact.
                    let (a, b) = (f64::from_bits(self.words[at]), -f64::from_bits(from.word(from_slot, theirs).1));
                    let hi = a + b;
                    let z = hi - a;
                    let lo = (a - (hi - z)) + (b - z);
                    if lo == 0.0 && hi.is_finite() {
                        self.words[at] = hi.to_bits();
                        continue;
                    }
                    let mut e = self.exact(slot, i);
                    e.retract(&from.exact(from_slot, theirs));
                    self.load_exact(at, &e);
                }
                Prim::MinF(_) | Prim::MaxF(_) | Prim::MinI(_) | Prim::MaxI(_) => {}
            }
        }
    }

    /// Sets the integer sum of word `at`, spilled when it does not fit.
    fn set_integer_sum(&mut self, at: usize, s: i128) {
        match i64::try_from(s) {
            Ok(x) if x != i64::MIN => {
                self.words[at] = x as u64;
                self.spill_i.remove(&at);
            }
            _ => {
                self.words[at] = i64::MIN as u64;
                self.spill_i.insert(at, s);
            }
        }
    }

    /// Writes partials (as [`Slots::partials`] gives them) into an empty slot.
    pub(crate) fn load(&mut self, slot: u32, partials: Vec<Partial>) {
        let base = slot as usize * self.stride();
        for (i, p) in partials.into_iter().enumerate().take(self.aggs.len()) {
            let a = &self.aggs[i];
            let (value, count, square) = (a.value, a.count, a.square);
            if a.off {
                continue;
            }
            if let Some(b) = a.boxed {
                // Moved in: a boxed partial (a value set, a sketch) is not copied.
                self.boxes[slot as usize * self.boxed.len() + b] = p;
                continue;
            }
            match (&p, value) {
                (Partial::Count(c), _) => self.words[base + count] = *c as u64,
                (Partial::SumI(s), Some(v)) => self.set_integer_sum(base + v, *s),
                (Partial::SumF(s), Some(v)) => self.load_exact(base + v, s),
                (Partial::Avg { sum, count: n }, Some(v)) => {
                    self.words[base + count] = *n as u64;
                    self.load_exact(base + v, sum);
                }
                (Partial::Moments(m), Some(v)) => {
                    self.words[base + count] = m.count as u64;
                    self.load_exact(base + v, &m.sum);
                    if let Some(q) = square {
                        self.load_exact(base + q, &m.sum_sq);
                    }
                }
                (Partial::Min(m) | Partial::Max(m), Some(v)) => {
                    let bits = match m {
                        Some(Value::I64(x) | Value::Ts(x)) => *x as u64,
                        Some(Value::F64(x)) => x.to_bits(),
                        _ => continue,
                    };
                    self.words[base + v] = bits;
                    // The partial says only that values were seen; an aggregate that keeps
                    // the exact count (sharing this word) sets it.
                    let count = &mut self.words[base + count];
                    *count = (*count).max(1);
                }
                _ => {}
            }
        }
    }

    fn load_exact(&mut self, at: usize, s: &ExactSum) {
        let mut single = ExactSum::new();
        single.add(s.value());
        self.spill_f.remove(self.words[at]);
        self.words[at] = if single == *s { s.value().to_bits() } else { self.spill_f.put(s.clone()) };
    }

    /// Bytes the slots hold by part: `(words, boxed partials, what the boxed partials keep on
    /// the heap, the rest: free list and spilled sums)`.
    pub(crate) fn bytes_by_part(&self) -> [usize; 4] {
        [
            self.words.capacity() * 8,
            self.boxes.capacity() * size_of::<Partial>(),
            self.boxes.iter().map(Partial::heap_bytes).sum::<usize>(),
            self.free.capacity() * 4 + self.spill_f.bytes() + self.spill_i.len() * 32,
        ]
    }

    /// Bytes the slots hold, spilled sums included.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes_by_part().iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::spills::Spilled;
    use super::*;

    fn exact(xs: &[f64]) -> ExactSum {
        let mut e = ExactSum::new();
        xs.iter().for_each(|&x| e.add(x));
        e
    }

    #[test]
    fn a_spilled_sum_is_named_by_its_word_and_its_place_reused_once_released() {
        let spec = AggSpec::new(AggKind::Sum, None);
        let input = AggInput {
            spec,
            integer: false,
            time: false,
            column: Some((0, false)),
            cell: None,
            predicate: None,
            off: false,
        };
        let mut s = Slots::new(&[input]).expect("a sum has a form in words");
        let sum = s.aggs[0].value.expect("a sum's word");
        let (a, b) = (s.alloc(), s.alloc());
        // 0.1 + 0.1 is exact in a double, 0.2 + 0.1 is not: the third addition spills.
        for _ in 0..3 {
            s.update(a, &[Num::F(0.1)], &[], 0, u64::MAX);
        }
        s.update(b, &[Num::F(0.25)], &[], 0, u64::MAX);
        assert_eq!(s.exact(a, sum), exact(&[0.1, 0.1, 0.1]));
        assert_eq!(s.exact(b, sum), exact(&[0.25]));
        assert!(SpilledSums::index(s.word(a, sum).1).is_some());
        assert!(SpilledSums::index(s.word(b, sum).1).is_none());
        // Released, the slot and its spilled sum's place are both free again.
        s.release(a);
        assert!(s.spill_f.is_empty());
        let c = s.alloc();
        assert_eq!(c, a);
        assert_eq!(s.exact(c, sum), ExactSum::new());
        s.update(c, &[Num::F(0.2)], &[], 0, u64::MAX);
        s.update(c, &[Num::F(0.1)], &[], 0, u64::MAX);
        assert_eq!(s.spill_f.sums.len(), 1, "the place freed is reused");
        assert!(matches!(s.spill_f.sums[0], Spilled::Fixed(_)), "sums of tenths stay in the fixed form");
        assert_eq!(s.exact(c, sum), exact(&[0.2, 0.1]));
        assert_eq!(s.exact(b, sum), exact(&[0.25]));
        // A value the fixed form cannot hold (subnormal) moves the sum to the general form.
        let tiny = f64::MIN_POSITIVE / 4.0;
        s.update(c, &[Num::F(tiny)], &[], 0, u64::MAX);
        assert!(matches!(s.spill_f.sums[0], Spilled::General(_)));
        assert_eq!(s.exact(c, sum), exact(&[0.2, 0.1, tiny]));
    }
}
