//! Events and an IR group in, expected feature vectors out: an independent brute-force oracle.
//!
//! `featc-reference` computes what every feature of a feature group should be as of a time t,
//! straight from the definitions of `docs/language.md` (sections 6 to 10): it selects each
//! window's events by their times, sorts and counts them, and adds numbers exactly. It shares
//! no code with the runtime, so the property tests and `featc verify` can judge the runtime's
//! aggregate library, evaluator and exact sums with it.
//!
//! # What counts
//!
//! Every event counts (there is no lateness here), except events with event time after t,
//! events the group filter does not keep (`false` or null), events with a null key or a null
//! event time, and the events the docs call bad (a null in a non-nullable column, a NaN in an
//! `f64` column), which the runtime dead-letters. Keys with no counted event at or before t are
//! absent from the answer.
//!
//! # Tolerances ([`Expected`])
//!
//! | feature | expectation |
//! |---|---|
//! | `count`, `count_distinct`, integer `sum`, `min`, `max`, `first`, `last`, `first_n`, `last_n`, `top_k` | exact |
//! | `sum` of floats | the exact sum correctly rounded (round to nearest, ties to even): 0 ulp |
//! | `avg` | the exact mean correctly rounded, within 1 ulp (the rounded sum divided by the count) |
//! | `variance`, `stddev` | the exact sample variance `(n Σx² − (Σx)²) / (n (n − 1))`, or its square root, correctly rounded, within 4 ulps |
//! | `approx_count_distinct` | the exact distinct count, within `max(1, 6.5%)` of it (4 standard errors of 1.6%); exactly 0 over no input |
//! | `approx_percentile(x, p)` | within 1% of the exact value of rank `floor(p (n − 1))` among the sorted inputs (exactly 0 for 0); where the product rounded in `f64` and the exact product of the binary `p` floor differently, either rank |
//! | derived features | exact, unless they read a feature with a tolerance: then the range of the values at the corners of the inputs' tolerances, floats widened by 1e-12 relative ([`DERIVED_RELATIVE`]) |
//!
//! An ulp here is one step between neighbouring `f64` values. Exact floats compare by value
//! (the sign of zero is not checked). Integer sums are exact in 128 bits and saturate to the
//! `i64` range; sums of floats that meet an infinity follow IEEE (an infinity, or NaN for both
//! signs); `variance` and `stddev` of non-finite values are unspecified.
//!
//! # Expressions
//!
//! Section 9, with every node typed as the checker types it: `i64` and `f64` together give an
//! `f64` value (so `if c then 1 else 2.5` gives `1.0`, and `count_distinct` of it counts `1`
//! and `1.0` once).
//!
//! # Choices where the docs are silent
//!
//! - Integer overflow in `+ - *`, unary `-` and `abs` gives null; `i64::MIN % -1` is 0 (the
//!   remainder exists). An `i64` sum beyond the `i64` range saturates.
//! - `i64 / i64` converts both operands to the nearest `f64`, then divides.
//! - A string casts to `f64` when it is an optional sign, digits with an optional point (`.5`
//!   and `5.` included) and an optional exponent, and the result is finite (`"inf"`, `"NaN"`,
//!   `"1e999"` give null); to `i64` when it is an optional sign (`+` included) and digits that
//!   fit. An `f64` casts to `string` as Rust's `{:?}` writes it (`1.0`, `1e300`), and `NaN` to
//!   `i64` as 0. `lower` and `upper` are Unicode case mappings.
//! - `-0.0` and `0.0` are one value for `count_distinct`, `top_k`, `min` and `max` ties.
//! - A session window is made of the sessions of every event the group counts: a feature's
//!   filter and null inputs decide what an event contributes, not where sessions split (the
//!   window is shared by every aggregate over it).

// A panic is a bug the user sees: the product code uses `?`, tests may unwrap.
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod aggregate;
mod derived;
mod exact;
mod expected;
mod expr;
mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use featc::ir::{FeatureIr, IrGroup, Ty, Type};

pub use derived::DERIVED_RELATIVE;
pub use expected::{Expected, agrees};
pub use value::Val;

use aggregate::{Spec, aggregate};
use expr::{coerce, eval};

/// One event of a group's source: `row` holds the group's columns, in [`IrGroup::columns`]
/// order. Timestamps may be given as [`Val::Ts`] or [`Val::I64`] milliseconds, and integers in
/// `f64` columns as [`Val::I64`].
#[derive(Debug, Clone)]
pub struct Event {
    pub row: Vec<Val>,
}

/// Every key's expected feature vector ([`IrGroup::outputs`] order) as of time `t`, for the
/// group `ir.groups[group]`, over `events` (see the crate docs for which events count).
pub fn expected(
    ir: &FeatureIr,
    group: usize,
    events: &[Event],
    t: i64,
) -> Result<BTreeMap<Vec<Val>, Vec<Expected>>, String> {
    Oracle::new(ir, group, events)?.at(t)
}

/// The events of one group, grouped by key and evaluated once, to answer many query times.
#[derive(Debug)]
pub struct Oracle<'a> {
    group: &'a IrGroup,
    specs: Vec<Spec>,
    keys: BTreeMap<Vec<Val>, KeyEvents>,
}

/// One key's counted events, sorted by event time.
#[derive(Debug, Default)]
struct KeyEvents {
    times: Vec<i64>,
    /// Per event, whether each feature filter ([`IrGroup::predicates`]) is `true`.
    passes: Vec<Vec<bool>>,
    /// Per event, each aggregate's input (non-null for `count()`).
    inputs: Vec<Vec<Val>>,
}

impl<'a> Oracle<'a> {
    /// Evaluates the group filter, the feature filters and every aggregate's input on each
    /// event, and groups the counted events by key.
    pub fn new(ir: &'a FeatureIr, group: usize, events: &[Event]) -> Result<Oracle<'a>, String> {
        let g = ir.groups.get(group).ok_or_else(|| format!("no group {group}"))?;
        let source = ir.sources.get(g.source).ok_or_else(|| format!("group `{}` without its source", g.name))?;
        let column_types: Vec<Type> = g
            .columns
            .iter()
            .map(|c| source.fields.iter().find(|f| &f.name == c).map(|f| f.ty.clone()))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("group `{}` reads a column its source does not have", g.name))?;
        let types: Vec<Ty> = column_types.iter().map(|t| t.ty.clone()).collect();
        let column = |name: &str| g.columns.iter().position(|c| c == name).ok_or_else(|| format!("no column `{name}`"));
        let key_columns = g.keys.iter().map(|k| column(&k.name)).collect::<Result<Vec<_>, _>>()?;
        let time_column = column(&source.event_time)?;
        let specs = g.aggregates.iter().map(|a| Spec { kind: a.kind, param: a.param, ty: a.ty.ty.clone() }).collect();
        let mut keys: BTreeMap<Vec<Val>, KeyEvents> = BTreeMap::new();
        for (n, event) in events.iter().enumerate() {
            let Some(row) = normalize(&event.row, &column_types).map_err(|e| format!("event {n}: {e}"))? else {
                continue;
            };
            let key: Vec<Val> = key_columns.iter().map(|&k| row[k].clone()).collect();
            let Val::Ts(ts) = row[time_column] else { continue };
            if key.iter().any(Val::is_null) {
                continue;
            }
            if let Some(filter) = &g.filter
                && eval(&filter.tree, &row, &types)?.0 != Val::Bool(true)
            {
                continue;
            }
            let passes = g
                .predicates
                .iter()
                .map(|p| Ok(eval(&p.tree, &row, &types)?.0 == Val::Bool(true)))
                .collect::<Result<Vec<_>, String>>()?;
            let mut inputs = Vec::with_capacity(g.aggregates.len());
            for a in &g.aggregates {
                inputs.push(match (&a.value, &a.input) {
                    (None, _) => Val::Bool(true),
                    (Some(e), input) => {
                        let v = eval(&e.tree, &row, &types)?.0;
                        input.as_ref().map_or(v.clone(), |t| coerce(v, &t.ty))
                    }
                });
            }
            let k = keys.entry(key).or_default();
            k.times.push(ts);
            k.passes.push(passes);
            k.inputs.push(inputs);
        }
        for k in keys.values_mut() {
            let mut order: Vec<usize> = (0..k.times.len()).collect();
            order.sort_by_key(|&i| k.times[i]);
            k.times = order.iter().map(|&i| k.times[i]).collect();
            k.passes = order.iter().map(|&i| std::mem::take(&mut k.passes[i])).collect();
            k.inputs = order.iter().map(|&i| std::mem::take(&mut k.inputs[i])).collect();
        }
        Ok(Oracle { group: g, specs, keys })
    }

    /// Every key with at least one counted event, in order.
    pub fn keys(&self) -> impl Iterator<Item = &Vec<Val>> {
        self.keys.keys()
    }

    /// The event times of a key's counted events, ascending.
    pub fn times(&self, key: &[Val]) -> &[i64] {
        self.keys.get(key).map_or(&[], |k| &k.times)
    }

    /// Every key's expected feature vector as of `t`.
    pub fn at(&self, t: i64) -> Result<BTreeMap<Vec<Val>, Vec<Expected>>, String> {
        let mut out = BTreeMap::new();
        for key in self.keys.keys() {
            if let Some(v) = self.key_at(key, t)? {
                out.insert(key.clone(), v);
            }
        }
        Ok(out)
    }

    /// One key's expected feature vector as of `t`; `None` when it has no counted event at or
    /// before `t`.
    pub fn key_at(&self, key: &[Val], t: i64) -> Result<Option<Vec<Expected>>, String> {
        let Some(k) = self.keys.get(key) else { return Ok(None) };
        if k.times.first().is_none_or(|&first| first > t) {
            return Ok(None);
        }
        self.vector(k, t).map(Some)
    }

    /// The feature vector over no events: what a key without state reads as (a training-set
    /// row before a key's first event, a lookup of an unknown key).
    pub fn empty(&self) -> Result<Vec<Expected>, String> {
        self.vector(&KeyEvents::default(), i64::MIN)
    }

    fn vector(&self, k: &KeyEvents, t: i64) -> Result<Vec<Expected>, String> {
        let g = self.group;
        let mut out: Vec<Option<Expected>> = vec![None; g.outputs.len()];
        for (i, a) in g.aggregates.iter().enumerate() {
            let spec = g.windows.get(a.window).ok_or_else(|| format!("`{}` has no window {}", a.name, a.window))?.spec;
            let range = aggregate::select(spec, &k.times, t);
            let items: Vec<(i64, Val)> = range
                .filter(|&e| a.predicate.is_none_or(|p| k.passes[e].get(p).copied().unwrap_or(false)))
                .map(|e| (k.times[e], k.inputs[e][i].clone()))
                .collect();
            let value = aggregate(&self.specs[i], &items).map_err(|e| format!("`{}`: {e}", a.name))?;
            let p =
                g.outputs.iter().position(|o| o == &a.name).ok_or_else(|| format!("`{}` is not an output", a.name))?;
            out[p] = Some(value);
        }
        derived::derive(g, &mut out)?;
        out.into_iter()
            .enumerate()
            .map(|(i, e)| e.ok_or_else(|| format!("no value for `{}`", g.outputs[i])))
            .collect::<Result<Vec<_>, _>>()
    }
}

/// A row checked against its column types: `None` for a bad event (a null in a non-nullable
/// column or a NaN), an error for a value of the wrong kind.
fn normalize(row: &[Val], types: &[Type]) -> Result<Option<Vec<Val>>, String> {
    if row.len() != types.len() {
        return Err(format!("{} values for {} columns", row.len(), types.len()));
    }
    let mut out = Vec::with_capacity(row.len());
    for (v, t) in row.iter().zip(types) {
        out.push(match (v, &t.ty) {
            (Val::Null, _) if t.nullable => Val::Null,
            (Val::Null, _) => return Ok(None),
            (Val::F64(x), Ty::F64) if x.is_nan() => return Ok(None),
            (Val::I64(x), Ty::F64) => Val::F64(*x as f64),
            (Val::I64(x) | Val::Ts(x), Ty::Timestamp) => Val::Ts(*x),
            (Val::Bool(_), Ty::Bool) | (Val::I64(_), Ty::I64) | (Val::F64(_), Ty::F64) | (Val::Str(_), Ty::String) => {
                v.clone()
            }
            (v, ty) => return Err(format!("{v} in a column of type {ty}")),
        });
    }
    Ok(Some(out))
}
