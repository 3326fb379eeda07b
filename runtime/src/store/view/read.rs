//! The batch view's Arrow table of partials in ([`super::table`] writes it), each key's state
//! out: the columns of the features the view serves read (the others' partials are empty),
//! every cell read checked (a hash set that is not one, registers of the wrong length, more
//! times than values, a sum's part that is not finite are errors, never a panic), panes in time
//! order, and the sliding windows' running totals rebuilt from their panes where the state is
//! read as it is (the columnar path rebuilds its own).

use std::collections::VecDeque;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use featc::ir::{AggKind, IrGroup, Ty, WindowSpec};

use super::table::{END, LATEST, START, WINDOW, fields, input_ty, int_of};
use crate::operators::aggregate::{AggSpec, ExactSum, Hll, Moments, Partial, Quantiles, ValueCounts};
use crate::operators::decode::cell_of;
use crate::operators::state::KeyState;
use crate::operators::window::{WindowAggs, WindowState};
use crate::value::Value;

/// A key's latest event and, per window, its units `(start, end, partials)` as read.
pub(crate) type ReadKey = (i64, Vec<Vec<(i64, i64, Vec<Partial>)>>);

/// A column of a batch by name, with the type the schema gives it.
fn column<'b>(b: &'b RecordBatch, name: &str) -> Result<&'b ArrayRef, String> {
    b.column_by_name(name).ok_or_else(|| format!("the batch view has no column `{name}`"))
}

fn i64_at(a: &dyn Array, r: usize) -> Result<Option<i64>, String> {
    if a.is_null(r) {
        return Ok(None);
    }
    match a.data_type() {
        DataType::Int64 => Ok(Some(a.as_primitive::<Int64Type>().value(r))),
        DataType::Int32 => Ok(Some(i64::from(a.as_primitive::<Int32Type>().value(r)))),
        dt => Err(format!("expected integers, found {dt}")),
    }
}

fn required<T>(v: Option<T>, what: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("a row of the batch view has no {what}"))
}

/// One cell of a column of values of type `ty`.
fn value_at(a: &dyn Array, r: usize, ty: &Ty) -> Result<Value, String> {
    if a.is_null(r) {
        return Ok(Value::Null);
    }
    match ty {
        Ty::List(_) | Ty::Null => {
            let text = a.as_string_opt::<i32>().ok_or("expected JSON text")?.value(r);
            serde_json::from_str(text).map_err(|e| format!("a value in the batch view: {e}"))
        }
        ty => cell_of(a, r, ty).ok_or_else(|| format!("expected a value of type {ty}, found {}", a.data_type())),
    }
}

/// The items of a list cell, as values of type `ty` (integers for `Ty::I64`).
fn list_at(a: &dyn Array, r: usize, ty: &Ty) -> Result<Option<Vec<Value>>, String> {
    // The cell's items read in place in the list's values (no slice of them made per cell).
    let Some((items, range)) = items_of(a, r)? else { return Ok(None) };
    range
        .map(|i| match (ty, items.data_type()) {
            (Ty::I64, DataType::Int32 | DataType::Int64) => Ok(Value::I64(required(i64_at(items, i)?, "list item")?)),
            _ => value_at(items, i, ty),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A list cell's items: its list's values, and the cell's range in them.
type Items<'a> = (&'a dyn Array, std::ops::Range<usize>);

/// The items of a list cell in its list's values, checked; `None` for a null cell.
fn items_of(a: &dyn Array, r: usize) -> Result<Option<Items<'_>>, String> {
    if a.is_null(r) {
        return Ok(None);
    }
    let list = a.as_list_opt::<i32>().ok_or_else(|| format!("expected a list, found {}", a.data_type()))?;
    let offsets = list.value_offsets();
    let (from, to) = (offsets[r], offsets[r + 1]);
    let (from, to) =
        (usize::try_from(from).map_err(|e| e.to_string())?, usize::try_from(to).map_err(|e| e.to_string())?);
    let items = list.values().as_ref();
    if to > items.len() || from > to {
        return Err("a list cell past its values".to_owned());
    }
    Ok(Some((items, from..to)))
}

/// A list cell of integers; a null item is an error. Items of 32 or 64 bits are read in
/// place; others as [`list_at`] reads them, keeping the integers.
fn ints_at(a: &dyn Array, r: usize) -> Result<Vec<i64>, String> {
    let Some((items, range)) = items_of(a, r)? else { return Ok(Vec::new()) };
    if items.null_count() > 0 && range.clone().any(|i| items.is_null(i)) {
        return Err("a row of the batch view has no list item".to_owned());
    }
    match items.data_type() {
        DataType::Int64 => Ok(items.as_primitive::<Int64Type>().values()[range].to_vec()),
        DataType::Int32 => {
            Ok(items.as_primitive::<Int32Type>().values()[range].iter().map(|&x| i64::from(x)).collect())
        }
        _ => Ok(list_at(a, r, &Ty::I64)?.unwrap_or_default().into_iter().filter_map(|v| int_of(Some(&v))).collect()),
    }
}

/// An exact sum from its list of parts (null parts skipped; a part that is not finite is an
/// error, as any float cell of the view that is not).
fn exact_at(a: &dyn Array, r: usize) -> Result<ExactSum, String> {
    let mut s = ExactSum::new();
    let Some((items, range)) = items_of(a, r)? else { return Ok(s) };
    if let Some(floats) = items.as_primitive_opt::<Float64Type>() {
        for i in range.filter(|&i| floats.is_valid(i)) {
            let x = floats.value(i);
            if !x.is_finite() {
                return Err(format!("a sum's part that is not finite ({x}) in the batch view"));
            }
            s.add(x);
        }
        return Ok(s);
    }
    for v in list_at(a, r, &Ty::F64)?.unwrap_or_default() {
        if let Value::F64(x) = v {
            s.add(x);
        }
    }
    Ok(s)
}

/// The partial of aggregate `ai` in row `r`, from its columns `cols` (in the order of [`fields`]).
fn partial_at(g: &IrGroup, ai: usize, cols: &[&ArrayRef], r: usize) -> Result<Partial, String> {
    let a = &g.aggregates[ai];
    let ty = input_ty(g, ai);
    let c = |i: usize| cols.get(i).map(|c| c.as_ref()).ok_or("a partial's column is missing");
    let count = |i: usize| -> Result<i64, String> { Ok(i64_at(c(i)?, r)?.unwrap_or(0)) };
    let value =
        |i: usize| -> Result<Option<Value>, String> { Ok(Some(value_at(c(i)?, r, &ty)?).filter(|v| !v.is_null())) };
    Ok(match a.kind {
        AggKind::Count => Partial::Count(count(0)?),
        AggKind::Sum if a.integer_input() => {
            let col = c(0)?;
            let d = col.as_primitive_opt::<arrow::datatypes::Decimal128Type>().ok_or("expected a decimal sum")?;
            Partial::SumI(if d.is_null(r) { 0 } else { d.value(r) })
        }
        AggKind::Sum => Partial::SumF(exact_at(c(1)?, r)?),
        AggKind::Avg => Partial::Avg { count: count(0)?, sum: exact_at(c(2)?, r)? },
        AggKind::Variance | AggKind::Stddev => Partial::Moments(Box::new(Moments {
            count: count(0)?,
            sum: exact_at(c(2)?, r)?,
            sum_sq: exact_at(c(4)?, r)?,
        })),
        AggKind::Min => Partial::Min(value(0)?),
        AggKind::Max => Partial::Max(value(0)?),
        AggKind::First | AggKind::Last => {
            let item = match (i64_at(c(0)?, r)?, value(1)?) {
                (Some(ts), Some(v)) => Some((ts, v)),
                _ => None,
            };
            if a.kind == AggKind::First { Partial::First(item) } else { Partial::Last(item) }
        }
        AggKind::FirstN | AggKind::LastN => {
            let ts = ints_at(c(0)?, r)?;
            let values = list_at(c(1)?, r, &ty)?.unwrap_or_default();
            if ts.len() != values.len() {
                return Err("a first_n or last_n partial with more times than values".to_owned());
            }
            let mut items: Vec<(i64, Value)> = ts.into_iter().zip(values).collect();
            items.sort();
            let n = AggSpec::new(a.kind, a.param).n();
            if a.kind == AggKind::FirstN {
                items.truncate(n);
                Partial::FirstN(items)
            } else {
                Partial::LastN(items.split_off(items.len().saturating_sub(n)))
            }
        }
        AggKind::CountDistinct | AggKind::TopK => {
            let values = list_at(c(0)?, r, &ty)?.unwrap_or_default();
            let counts = ints_at(c(1)?, r)?;
            if values.len() != counts.len() {
                return Err("a value-counts partial with more values than counts".to_owned());
            }
            let mut out = ValueCounts::default();
            for (v, n) in values.iter().zip(counts).filter(|(_, n)| *n > 0) {
                out.add(v, n);
            }
            Partial::Counts(out)
        }
        AggKind::ApproxCountDistinct => {
            let registers = c(1)?;
            if registers.is_null(r) {
                let mut h = Hll::default();
                for x in ints_at(c(0)?, r)? {
                    h.insert_hash(u64::from_ne_bytes(x.to_ne_bytes()));
                }
                Partial::Hll(h)
            } else {
                let bytes = registers.as_binary_opt::<i32>().ok_or("expected binary registers")?.value(r);
                Partial::Hll(Hll::from_registers(bytes)?)
            }
        }
        AggKind::ApproxPercentile => {
            let zeros = u64::try_from(count(0)?).map_err(|_| "a negative count of zeros")?;
            let buckets = |i: usize| -> Result<Vec<(i32, u64)>, String> {
                let index = ints_at(c(i)?, r)?;
                let counts = ints_at(c(i + 1)?, r)?;
                if index.len() != counts.len() {
                    return Err("a quantile sketch with more buckets than counts".to_owned());
                }
                index
                    .into_iter()
                    .zip(counts)
                    .map(|(i, n)| Ok((i32::try_from(i).map_err(|e| e.to_string())?, u64::try_from(n).unwrap_or(0))))
                    .collect()
            };
            Partial::Quantiles(Quantiles::from_parts(&buckets(1)?, &buckets(3)?, zeros))
        }
    })
}

/// Whether row `r` (after the first) of a key column holds the same value as the row before it,
/// read without building values: strings and integers, the key types; `false` for others (the
/// caller then builds and compares the values).
fn same_as_row_before(a: &dyn Array, r: usize) -> bool {
    if a.is_null(r) || a.is_null(r - 1) {
        return false;
    }
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(r) == a.as_string::<i32>().value(r - 1),
        DataType::LargeUtf8 => a.as_string::<i64>().value(r) == a.as_string::<i64>().value(r - 1),
        DataType::Utf8View => a.as_string_view().value(r) == a.as_string_view().value(r - 1),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(r) == a.as_primitive::<Int64Type>().value(r - 1),
        _ => false,
    }
}

/// One batch's keys in order, each with its rows as read. A key's rows are together in a
/// table featc writes, so a key is one entry, except that the first and the last key of a batch
/// may go on in the batches beside it (see [`assemble`]).
pub(crate) type Decoded = Vec<(Vec<Value>, ReadKey)>;

/// The columns of a view's table the serving layer reads: the key, the unit's window and times,
/// and the partials of the aggregates whose merge rule reads the view (the others' are empty
/// in a view computed for this spec, and never merged).
pub(crate) fn read_columns(g: &IrGroup) -> Vec<String> {
    let units = g.keys.iter().map(|k| k.name.clone()).chain([WINDOW, START, END, LATEST].map(str::to_owned));
    let partials = g.aggregates.iter().enumerate().filter(|(_, a)| a.merge.uses_batch()).flat_map(|(ai, a)| {
        fields(a.kind, a.integer_input(), &input_ty(g, ai)).into_iter().map(|(s, _)| format!("{}__{s}", a.name))
    });
    units.chain(partials).collect()
}

/// The keys of one batch of a view's table, in order; `windows` is how many the group has.
/// Only the partials of the aggregates the view serves are read ([`read_columns`]); the
/// others are empty.
pub(crate) fn decode(g: &IrGroup, windows: usize, b: &RecordBatch) -> Result<Decoded, String> {
    let key_cols = g.keys.iter().map(|k| column(b, &k.name)).collect::<Result<Vec<_>, _>>()?;
    let (window, start, end, latest) = (column(b, WINDOW)?, column(b, START)?, column(b, END)?, column(b, LATEST)?);
    let agg_cols = g
        .aggregates
        .iter()
        .enumerate()
        .map(|(ai, a)| {
            let read = a.merge.uses_batch().then(|| fields(a.kind, a.integer_input(), &input_ty(g, ai)));
            read.unwrap_or_default()
                .iter()
                .map(|(s, _)| column(b, &format!("{}__{s}", a.name)))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut out: Decoded = Vec::new();
    for r in 0..b.num_rows() {
        // A key's rows are together: its values are read once, at its first row.
        if r == 0 || !key_cols.iter().all(|c| same_as_row_before(c.as_ref(), r)) {
            let key: Vec<Value> = g
                .keys
                .iter()
                .zip(&key_cols)
                .map(|(k, c)| value_at(c.as_ref(), r, &k.ty.ty))
                .collect::<Result<_, _>>()?;
            if out.last().is_none_or(|(k, _)| *k != key) {
                out.push((key, (i64::MIN, vec![Vec::new(); windows])));
            }
        }
        let Some((_, entry)) = out.last_mut() else { continue };
        entry.0 = entry.0.max(required(i64_at(latest, r)?, "latest event time")?);
        let Some(w) = i64_at(window, r)? else { continue };
        let w = usize::try_from(w).ok().filter(|&w| w < windows).ok_or("a row of a window the group has not")?;
        let partials = g
            .aggregates
            .iter()
            .enumerate()
            .filter(|(_, a)| a.window == w)
            .map(|(ai, a)| match a.merge.uses_batch() {
                true => partial_at(g, ai, &agg_cols[ai], r),
                false => Ok(Partial::new(AggSpec::new(a.kind, a.param), a.integer_input())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let s = i64_at(start, r)?.unwrap_or(i64::MIN);
        let e = i64_at(end, r)?.unwrap_or(s);
        entry.1[w].push((s, e, partials));
    }
    Ok(out)
}

/// The key states that decoded batches hold, put together as the batches come in the table's
/// order: a key whose rows go on from one batch to the next is one state. Each key is given to
/// `each` once its rows end. A key found again after another one is given again: the loaded
/// view's `each` refuses it (the view is then computed again), and a view read a key at a time
/// finds it among its answers (see [`crate::runners::lambda::stream`]).
pub(crate) struct Assembly<'w> {
    windows: &'w [(WindowSpec, WindowAggs)],
    /// Whether sliding windows get their running totals (see [`state_of`]).
    totals: bool,
    pending: Option<(Vec<Value>, ReadKey)>,
}

/// Takes a key's state.
pub(crate) type Each<'e> = dyn FnMut(Vec<Value>, KeyState) -> Result<(), String> + 'e;

impl<'w> Assembly<'w> {
    /// `windows`: the group's; `totals`: whether the states are read as they are (by the row
    /// path), so that sliding windows need their running totals.
    pub(crate) fn new(windows: &'w [(WindowSpec, WindowAggs)], totals: bool) -> Assembly<'w> {
        Assembly { windows, totals, pending: None }
    }

    /// The next batch's keys.
    pub(crate) fn add(&mut self, decoded: Decoded, each: &mut Each<'_>) -> Result<(), String> {
        for (key, read) in decoded {
            match &mut self.pending {
                Some((k, (latest, units))) if *k == key => {
                    *latest = (*latest).max(read.0);
                    for (mine, more) in units.iter_mut().zip(read.1) {
                        mine.extend(more);
                    }
                }
                _ => {
                    if let Some((k, r)) = self.pending.replace((key, read)) {
                        each(k, state_of(self.windows, r, self.totals))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The last key, after the last batch.
    pub(crate) fn end(self, each: &mut Each<'_>) -> Result<(), String> {
        match self.pending {
            Some((k, r)) => each(k, state_of(self.windows, r, self.totals)),
            None => Ok(()),
        }
    }
}

/// A key's state from its rows as read: each window's units in time order; sliding windows
/// with their running totals when `totals`, bare panes otherwise (for the columnar path,
/// which rebuilds its own).
fn state_of(windows: &[(WindowSpec, WindowAggs)], (max_ts, mut units): ReadKey, totals: bool) -> KeyState {
    let states = windows
        .iter()
        .zip(units.iter_mut())
        .map(|((spec, aggs), units)| {
            units.sort_by_key(|u| (u.0, u.1));
            match spec {
                WindowSpec::Lifetime => WindowState::Lifetime(units.pop().map_or_else(|| aggs.empty(), |u| u.2)),
                WindowSpec::Tumbling { .. } => match units.pop() {
                    Some((start, _, partials)) => WindowState::Tumbling { start, partials },
                    None => WindowState::new(*spec, aggs),
                },
                WindowSpec::Sliding { .. } => {
                    let panes = units.drain(..).map(|(s, _, p)| (s, p)).collect::<VecDeque<_>>();
                    if totals { WindowState::from_panes(aggs, panes) } else { WindowState::bare_panes(aggs, panes) }
                }
                WindowSpec::Session { .. } => WindowState::Sessions(std::mem::take(units)),
            }
        })
        .collect();
    KeyState { max_ts, windows: states, changed: 0 }
}
