//! An aggregate's spec and events' values in, partial states and final values out: the one
//! aggregate library every layer uses (batch, stream, serving merge, training sets).
//!
//! Every partial follows the algebra the IR states (`featc::ir::AggregateAlgebra`): `new` is
//! init, then `update`, `merge`, `retract` (invertible aggregates and value counts) and
//! `finalize`. Results never depend on the order of events, on batching or on how partials were
//! split and merged: sums are exact (`ExactSum`), ties break by value, and sketches are
//! functions of their input multiset.

mod exact_sum;
mod hll;
mod quantile;
mod value_counts;

pub use exact_sum::ExactSum;
pub(crate) use exact_sum::FixedSum;
pub use hll::{Hll, SPARSE_LIMIT};
pub use quantile::{Quantiles, RELATIVE_ACCURACY};
pub use value_counts::ValueCounts;

use featc::ir::AggKind;
use featc::ir::Param;

use crate::value::Value;

/// What an aggregate computes: its kind and its constant parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggSpec {
    pub kind: AggKind,
    pub param: Option<Param>,
}

impl AggSpec {
    pub fn new(kind: AggKind, param: Option<Param>) -> Self {
        AggSpec { kind, param }
    }

    pub(crate) fn n(self) -> usize {
        match self.param {
            Some(Param::Int(n)) => usize::try_from(n).unwrap_or(1).max(1),
            _ => 1,
        }
    }

    fn p(self) -> f64 {
        match self.param {
            Some(Param::Float(p)) => p,
            Some(Param::Int(p)) => p as f64,
            None => 0.5,
        }
    }
}

/// The partial state of one aggregate over some events.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Partial {
    Count(i64),
    /// An integer sum, kept in 128 bits so no order of additions overflows.
    SumI(i128),
    SumF(ExactSum),
    Avg {
        sum: ExactSum,
        count: i64,
    },
    /// Boxed: only the row layout keeps it (the columnar one keeps moments in words), and
    /// inline its two exact sums would make every partial 64 bytes instead of 48.
    Moments(Box<Moments>),
    Min(Option<Value>),
    Max(Option<Value>),
    /// The smallest `(ts, value)`.
    First(Option<(i64, Value)>),
    /// The largest `(ts, value)`.
    Last(Option<(i64, Value)>),
    /// The n smallest `(ts, value)`, ascending.
    FirstN(Vec<(i64, Value)>),
    /// The n largest `(ts, value)`, ascending.
    LastN(Vec<(i64, Value)>),
    /// How many times each value was seen (`count_distinct`, `top_k`).
    Counts(ValueCounts),
    Hll(Hll),
    Quantiles(Quantiles),
}

/// The count, exact sum and exact sum of squares of the values (variance and standard
/// deviation).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Moments {
    pub count: i64,
    pub sum: ExactSum,
    pub sum_sq: ExactSum,
}

impl Partial {
    /// Starts loading the first of the values the partial keeps on the heap, if any: a hint
    /// for a reader about to visit many partials scattered in memory.
    #[inline]
    pub(crate) fn prefetch_contents(&self) {
        use crate::operators::prefetch_first;
        match self {
            Partial::FirstN(v) | Partial::LastN(v) => prefetch_first(v),
            Partial::Counts(c) => c.prefetch(),
            Partial::Hll(Hll::Sparse(h)) => prefetch_first(h),
            Partial::Hll(Hll::Dense(r)) => prefetch_first(r),
            Partial::Quantiles(q) => q.prefetch(),
            _ => {}
        }
    }

    /// The empty partial (init).
    pub fn new(spec: AggSpec, integer_input: bool) -> Partial {
        match spec.kind {
            AggKind::Count => Partial::Count(0),
            AggKind::Sum if integer_input => Partial::SumI(0),
            AggKind::Sum => Partial::SumF(ExactSum::new()),
            AggKind::Avg => Partial::Avg { sum: ExactSum::new(), count: 0 },
            AggKind::Variance | AggKind::Stddev => {
                Partial::Moments(Box::new(Moments { count: 0, sum: ExactSum::new(), sum_sq: ExactSum::new() }))
            }
            AggKind::Min => Partial::Min(None),
            AggKind::Max => Partial::Max(None),
            AggKind::First => Partial::First(None),
            AggKind::Last => Partial::Last(None),
            AggKind::FirstN => Partial::FirstN(Vec::new()),
            AggKind::LastN => Partial::LastN(Vec::new()),
            AggKind::CountDistinct | AggKind::TopK => Partial::Counts(ValueCounts::default()),
            AggKind::ApproxCountDistinct => Partial::Hll(Hll::default()),
            AggKind::ApproxPercentile => Partial::Quantiles(Quantiles::default()),
        }
    }

    /// Adds one event. `value` is `None` for `count()`; a null value is skipped.
    pub fn update(&mut self, spec: AggSpec, ts: i64, value: Option<&Value>) {
        let Some(v) = value else {
            if let Partial::Count(c) = self {
                *c += 1;
            }
            return;
        };
        if v.is_null() {
            return;
        }
        match self {
            Partial::Count(c) => *c += 1,
            Partial::SumI(s) => {
                if let Value::I64(x) = v {
                    *s += i128::from(*x);
                }
            }
            Partial::SumF(s) => add_exactly(s, v),
            Partial::Avg { sum, count } => {
                add_exactly(sum, v);
                *count += 1;
            }
            Partial::Moments(m) => {
                let Moments { count, sum, sum_sq } = &mut **m;
                *count += 1;
                add_exactly(sum, v);
                // The exact square, from the exact parts of the value.
                let (hi, lo) = parts(v);
                sum_sq.add_product(hi, hi);
                sum_sq.add_product(2.0 * hi, lo);
                sum_sq.add_product(lo, lo);
            }
            Partial::Min(m) => keep(m, v, |new, old| new < old),
            Partial::Max(m) => keep(m, v, |new, old| new > old),
            Partial::First(f) => keep_pair(f, (ts, v.clone()), |new, old| new < old),
            Partial::Last(l) => keep_pair(l, (ts, v.clone()), |new, old| new > old),
            Partial::FirstN(items) => insert_bounded(items, (ts, v.clone()), spec.n(), true),
            Partial::LastN(items) => insert_bounded(items, (ts, v.clone()), spec.n(), false),
            Partial::Counts(counts) => counts.add(v, 1),
            Partial::Hll(h) => h.insert_hash(value_hash(v)),
            Partial::Quantiles(q) => q.insert(v.as_f64().unwrap_or(0.0)),
        }
    }

    /// Folds another partial of the same aggregate into this one.
    pub fn merge(&mut self, spec: AggSpec, other: &Partial) {
        match (self, other) {
            (Partial::Count(a), Partial::Count(b)) => *a += b,
            (Partial::SumI(a), Partial::SumI(b)) => *a += b,
            (Partial::SumF(a), Partial::SumF(b)) => a.merge(b),
            (Partial::Avg { sum, count }, Partial::Avg { sum: s2, count: c2 }) => {
                sum.merge(s2);
                *count += c2;
            }
            (Partial::Moments(a), Partial::Moments(b)) => {
                a.count += b.count;
                a.sum.merge(&b.sum);
                a.sum_sq.merge(&b.sum_sq);
            }
            (Partial::Min(a), Partial::Min(Some(b))) => keep(a, b, |new, old| new < old),
            (Partial::Max(a), Partial::Max(Some(b))) => keep(a, b, |new, old| new > old),
            (Partial::First(a), Partial::First(Some(b))) => keep_pair(a, b.clone(), |new, old| new < old),
            (Partial::Last(a), Partial::Last(Some(b))) => keep_pair(a, b.clone(), |new, old| new > old),
            (Partial::FirstN(a), Partial::FirstN(b)) => {
                b.iter().for_each(|item| insert_bounded(a, item.clone(), spec.n(), true));
            }
            (Partial::LastN(a), Partial::LastN(b)) => {
                b.iter().for_each(|item| insert_bounded(a, item.clone(), spec.n(), false));
            }
            (Partial::Counts(a), Partial::Counts(b)) => b.each().for_each(|(v, c)| a.add(v, *c)),
            (Partial::Hll(a), Partial::Hll(b)) => a.merge(b),
            (Partial::Quantiles(a), Partial::Quantiles(b)) => a.merge(b),
            _ => {}
        }
    }

    /// Takes another partial out of this one, for subtract-on-evict. Only invertible partials,
    /// value counts and quantile sketches (bucket counts) support it; returns `false` (changing
    /// nothing) for the others.
    pub fn retract(&mut self, other: &Partial) -> bool {
        match (self, other) {
            (Partial::Count(a), Partial::Count(b)) => *a -= b,
            (Partial::SumI(a), Partial::SumI(b)) => *a -= b,
            (Partial::SumF(a), Partial::SumF(b)) => a.retract(b),
            (Partial::Avg { sum, count }, Partial::Avg { sum: s2, count: c2 }) => {
                sum.retract(s2);
                *count -= c2;
            }
            (Partial::Moments(a), Partial::Moments(b)) => {
                a.count -= b.count;
                a.sum.retract(&b.sum);
                a.sum_sq.retract(&b.sum_sq);
            }
            (Partial::Quantiles(a), Partial::Quantiles(b)) => a.retract(b),
            (Partial::Counts(a), Partial::Counts(b)) => b.each().for_each(|(v, c)| a.retract(v, *c)),
            _ => return false,
        }
        true
    }

    /// The aggregate's value (see `docs/language.md`, section 7, for each one over no input).
    pub fn finalize(&self, spec: AggSpec) -> Value {
        match self {
            Partial::Count(c) => Value::I64(*c),
            Partial::SumI(s) => Value::I64(i64::try_from(*s).unwrap_or(if *s < 0 { i64::MIN } else { i64::MAX })),
            Partial::SumF(s) => Value::F64(s.value()),
            Partial::Avg { sum, count } => {
                if *count == 0 {
                    Value::Null
                } else {
                    Value::F64(sum.value() / *count as f64)
                }
            }
            Partial::Moments(m) => {
                if m.count < 2 {
                    return Value::Null;
                }
                let variance = variance(m.count, &m.sum, &m.sum_sq);
                Value::F64(if spec.kind == AggKind::Stddev { variance.sqrt() } else { variance })
            }
            Partial::Min(m) | Partial::Max(m) => m.clone().unwrap_or(Value::Null),
            Partial::First(p) | Partial::Last(p) => p.as_ref().map_or(Value::Null, |(_, v)| v.clone()),
            Partial::FirstN(items) | Partial::LastN(items) => {
                if items.is_empty() {
                    Value::Null
                } else {
                    Value::List(items.iter().map(|(_, v)| v.clone()).collect())
                }
            }
            Partial::Counts(counts) => match spec.kind {
                AggKind::TopK => {
                    if counts.is_empty() {
                        return Value::Null;
                    }
                    let mut ranked: Vec<(&Value, &i64)> = counts.iter().collect();
                    // Most frequent first; ties by value ascending (the map is already sorted).
                    ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
                    Value::List(ranked.into_iter().take(spec.n()).map(|(v, _)| v.clone()).collect())
                }
                _ => Value::I64(counts.len() as i64),
            },
            Partial::Hll(h) => Value::I64(i64::try_from(h.estimate()).unwrap_or(i64::MAX)),
            Partial::Quantiles(q) => q.quantile(spec.p()).map_or(Value::Null, Value::F64),
        }
    }
}

impl Partial {
    /// Bytes the partial holds on the heap (interned strings and shared values not counted).
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Partial::SumF(s) | Partial::Avg { sum: s, .. } => s.heap_bytes(),
            Partial::Moments(m) => size_of::<Moments>() + m.sum.heap_bytes() + m.sum_sq.heap_bytes(),
            Partial::FirstN(items) | Partial::LastN(items) => items.capacity() * size_of::<(i64, Value)>(),
            Partial::Counts(counts) => counts.heap_bytes(),
            Partial::Hll(h) => h.bytes(),
            Partial::Quantiles(q) => q.bytes(),
            Partial::Count(_) | Partial::SumI(_) | Partial::Min(_) | Partial::Max(_) => 0,
            Partial::First(_) | Partial::Last(_) => 0,
        }
    }
}

/// A number as two floats whose exact sum it is: an `i64` beyond 2^53 does not fit one.
fn parts(v: &Value) -> (f64, f64) {
    match v {
        Value::I64(x) => {
            let hi = *x as f64;
            // `hi` is within half an ulp of `x`, so the remainder is small and exact.
            (hi, (i128::from(*x) - hi as i128) as f64)
        }
        other => (other.as_f64().unwrap_or(0.0), 0.0),
    }
}

/// Adds a number to an exact sum without rounding it first.
fn add_exactly(sum: &mut ExactSum, v: &Value) {
    let (hi, lo) = parts(v);
    sum.add(hi);
    if lo != 0.0 {
        sum.add(lo);
    }
}

/// The sample variance from exact moments: the numerator `n * Σx² − (Σx)²` is summed exactly
/// from the exact products of the parts and rounded once, then divided by `n (n − 1)`: within
/// about one ulp of the exact value (see `docs/language.md`, section 7), and a function of the
/// multiset of inputs only.
fn variance(count: i64, sum: &ExactSum, sum_sq: &ExactSum) -> f64 {
    let n = count as f64;
    let mut numerator = ExactSum::new();
    for &q in sum_sq.parts().iter() {
        numerator.add_product(n, q);
    }
    let parts = sum.parts();
    for &a in parts.iter() {
        for &b in parts.iter() {
            numerator.add_product(-a, b);
        }
    }
    (numerator.value() / (n * (n - 1.0))).max(0.0)
}

fn keep(slot: &mut Option<Value>, candidate: &Value, better: impl Fn(&Value, &Value) -> bool) {
    match slot {
        Some(current) if !better(candidate, current) => {}
        _ => *slot = Some(candidate.clone()),
    }
}

fn keep_pair(
    slot: &mut Option<(i64, Value)>,
    candidate: (i64, Value),
    better: impl Fn(&(i64, Value), &(i64, Value)) -> bool,
) {
    match slot {
        Some(current) if !better(&candidate, current) => {}
        _ => *slot = Some(candidate),
    }
}

/// Room for one more item in a vector that is full, grown by an eighth (at least one item)
/// instead of doubled. A partial's vectors stay small (a pane's one value, a 30-day window's
/// dozen merchants, the last five of a `last_n`), where doubling leaves up to half of each
/// allocation unused in every key's state. An eighth keeps appends amortized (about eight moves
/// per item over a vector's growth); the fraud bench's times did not change with it
/// (docs/benchmarks.md, "The fraud example's group at 1M keys", stop 34).
macro_rules! make_room {
    ($v:expr) => {
        if $v.len() == $v.capacity() {
            $v.reserve_exact(($v.len() / 8).max(1));
        }
    };
}
pub(crate) use make_room;

/// Inserts `item` at `at`, the vector grown gently (see [`make_room`]).
pub(crate) fn insert_tight<T>(v: &mut Vec<T>, at: usize, item: T) {
    make_room!(v);
    v.insert(at, item);
}

/// Keeps the `n` smallest (`smallest`) or largest items, sorted ascending; a full vector drops
/// the item that leaves before the new one comes in, so it never holds more than `n`.
fn insert_bounded(items: &mut Vec<(i64, Value)>, item: (i64, Value), n: usize, smallest: bool) {
    if n == 0 {
        return;
    }
    if items.len() >= n {
        // The item that would leave: the largest when keeping the smallest, else the smallest.
        let leaving = if smallest { items.last() } else { items.first() };
        match leaving {
            Some(edge) if (smallest && item >= *edge) || (!smallest && item <= *edge) => return,
            _ => {}
        }
        if smallest {
            items.truncate(n - 1);
        } else {
            items.drain(..items.len() + 1 - n);
        }
    }
    let at = items.partition_point(|x| *x < item);
    insert_tight(items, at, item);
}

/// The hash of a value for sketches: the same for equal values on every machine, and the one
/// Spark's `xxhash64` gives (XXH64 with seed 42): of the text's UTF-8 bytes, of an integer's or a
/// time's (epoch milliseconds) 8 little-endian bytes, of a real's bits (`-0.0` as `0.0`), of a
/// boolean as a 4-byte integer 0 or 1. So an engine's SQL computes the sketch featc computes.
pub fn value_hash(v: &Value) -> u64 {
    let xxh = |bytes: &[u8]| twox_hash::XxHash64::oneshot(SKETCH_SEED, bytes);
    match v {
        Value::Null => SKETCH_SEED,
        Value::Bool(b) => xxh(&i32::from(*b).to_le_bytes()),
        Value::I64(x) | Value::Ts(x) => xxh(&x.to_le_bytes()),
        Value::F64(x) => {
            let x = if *x == 0.0 { 0.0 } else { *x };
            let bits = if x.is_nan() { f64::NAN.to_bits() } else { x.to_bits() };
            xxh(&bits.to_le_bytes())
        }
        Value::Str(s) => xxh(s.as_bytes()),
        Value::List(items) => {
            let mut bytes = Vec::with_capacity(8 * items.len());
            for item in items {
                bytes.extend_from_slice(&value_hash(item).to_le_bytes());
            }
            xxh(&bytes)
        }
    }
}

/// The seed of [`value_hash`]: Spark's `xxhash64` seed.
const SKETCH_SEED: u64 = 42;

#[cfg(test)]
mod tests;
