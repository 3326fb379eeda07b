//! A chunk of a group's key states in, the batch view's Arrow table of partials out (read back by
//! [`super::read`]): one row per key and unit of state (a lifetime or tumbling window, a pane, a
//! session), one column per field of each aggregate's partial. The layout is documented in
//! docs/plan-format.md ("The batch view"); DuckDB, Spark and pandas read it as it is.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Array, Int32Builder,
    Int64Array, Int64Builder, ListArray, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use featc::ir::{AggKind, IrGroup, Ty};

use crate::operators::aggregate::{ExactSum, Hll, Partial};
use crate::operators::group::{Refs, slot_of};
use crate::operators::state::Unit;
use crate::value::Value;

/// The columns every row has, after the key's: which window, the unit's bounds, the key's latest event.
pub(crate) const WINDOW: &str = "_window";
pub(crate) const START: &str = "_start";
pub(crate) const END: &str = "_end";
pub(crate) const LATEST: &str = "_latest";

/// The Arrow type a value of `ty` is stored as. Lists (and the type of `null`) are JSON text.
fn value_type(ty: &Ty) -> DataType {
    match ty {
        Ty::String => DataType::Utf8,
        Ty::Bool => DataType::Boolean,
        Ty::I64 => DataType::Int64,
        Ty::F64 => DataType::Float64,
        Ty::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, None),
        Ty::List(_) | Ty::Null => DataType::Utf8,
    }
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

/// The fields of one aggregate's partial: `(suffix, type)`; the column is `<aggregate>__<suffix>`.
pub(super) fn fields(kind: AggKind, integer: bool, input: &Ty) -> Vec<(&'static str, DataType)> {
    let exact =
        |name: &'static str, parts: &'static str| [(name, DataType::Float64), (parts, list_of(DataType::Float64))];
    match kind {
        AggKind::Count => vec![("count", DataType::Int64)],
        AggKind::Sum if integer => vec![("sum", DataType::Decimal128(38, 0))],
        AggKind::Sum => exact("sum", "sum_parts").to_vec(),
        AggKind::Avg => [vec![("count", DataType::Int64)], exact("sum", "sum_parts").to_vec()].concat(),
        AggKind::Variance | AggKind::Stddev => [
            vec![("count", DataType::Int64)],
            exact("sum", "sum_parts").to_vec(),
            exact("sum_sq", "sum_sq_parts").to_vec(),
        ]
        .concat(),
        AggKind::Min | AggKind::Max => vec![("value", value_type(input))],
        AggKind::First | AggKind::Last => vec![("ts", DataType::Int64), ("value", value_type(input))],
        AggKind::FirstN | AggKind::LastN => {
            vec![("ts", list_of(DataType::Int64)), ("values", list_of(value_type(input)))]
        }
        AggKind::CountDistinct | AggKind::TopK => {
            vec![("values", list_of(value_type(input))), ("counts", list_of(DataType::Int64))]
        }
        AggKind::ApproxCountDistinct => vec![("hashes", list_of(DataType::Int64)), ("registers", DataType::Binary)],
        AggKind::ApproxPercentile => vec![
            ("zeros", DataType::Int64),
            ("positive_index", list_of(DataType::Int32)),
            ("positive_count", list_of(DataType::Int64)),
            ("negative_index", list_of(DataType::Int32)),
            ("negative_count", list_of(DataType::Int64)),
        ],
    }
}

pub(super) fn input_ty(g: &IrGroup, ai: usize) -> Ty {
    g.aggregates[ai].input.as_ref().map_or(Ty::Null, |t| t.ty.clone())
}

/// The schema of a group's view: its keys, the fixed columns, each aggregate's fields.
pub(crate) fn schema(g: &IrGroup) -> Result<SchemaRef, String> {
    let mut out: Vec<Field> = g.keys.iter().map(|k| Field::new(&k.name, value_type(&k.ty.ty), true)).collect();
    out.push(Field::new(WINDOW, DataType::Int32, true));
    out.push(Field::new(START, DataType::Int64, true));
    out.push(Field::new(END, DataType::Int64, true));
    out.push(Field::new(LATEST, DataType::Int64, false));
    for (ai, a) in g.aggregates.iter().enumerate() {
        for (suffix, dt) in fields(a.kind, a.integer_input(), &input_ty(g, ai)) {
            out.push(Field::new(format!("{}__{suffix}", a.name), dt, true));
        }
    }
    let mut names: Vec<&str> = out.iter().map(|f| f.name().as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("group `{}`: two columns of its batch view would be named `{}`", g.name, w[0]));
    }
    Ok(Arc::new(Schema::new(out)))
}

/// A column of values of one type while rows are added (the key columns, min/max/first/last
/// values, and the items of value lists); a value of another type is refused, never lost.
enum Scalars {
    Str(StringBuilder),
    Bool(BooleanBuilder),
    I64(Int64Builder),
    /// 32-bit integers (sketch bucket indices).
    I32(Int32Builder),
    F64(Float64Builder),
    Ts(TimestampMillisecondBuilder),
    /// Lists and `null`-typed values, as JSON text.
    Json(StringBuilder),
}

impl Scalars {
    /// A column of values of `ty`, with room for `n` of them.
    fn of(ty: &Ty, n: usize) -> Scalars {
        match ty {
            Ty::String => Scalars::Str(StringBuilder::with_capacity(n, n * 8)),
            Ty::Bool => Scalars::Bool(BooleanBuilder::with_capacity(n)),
            Ty::I64 => Scalars::I64(Int64Builder::with_capacity(n)),
            Ty::F64 => Scalars::F64(Float64Builder::with_capacity(n)),
            Ty::Timestamp => Scalars::Ts(TimestampMillisecondBuilder::with_capacity(n)),
            Ty::List(_) | Ty::Null => Scalars::Json(StringBuilder::with_capacity(n, n * 8)),
        }
    }

    /// Appends a value (null for `None` and for a null value).
    fn push(&mut self, v: Option<&Value>) -> Result<(), String> {
        let v = v.filter(|v| !v.is_null());
        match (self, v) {
            (Scalars::Str(b), Some(Value::Str(s))) => b.append_value(s),
            (Scalars::Bool(b), Some(Value::Bool(x))) => b.append_value(*x),
            (Scalars::I64(b), Some(Value::I64(x))) => b.append_value(*x),
            (Scalars::I32(b), Some(Value::I64(x))) => b.append_option(i32::try_from(*x).ok()),
            (Scalars::F64(b), Some(Value::F64(x))) => b.append_value(*x),
            (Scalars::Ts(b), Some(Value::Ts(x))) => b.append_value(*x),
            (Scalars::Json(b), Some(v)) => b.append_value(serde_json::to_string(v).map_err(|e| e.to_string())?),
            (s, None) => s.push_null(),
            (s, Some(v)) => return Err(format!("a value {v} in a column of {}", s.kind())),
        }
        Ok(())
    }

    fn push_null(&mut self) {
        self.push_nulls(1);
    }

    fn push_nulls(&mut self, n: usize) {
        match self {
            Scalars::Str(b) | Scalars::Json(b) => b.append_nulls(n),
            Scalars::Bool(b) => b.append_nulls(n),
            Scalars::I64(b) => b.append_nulls(n),
            Scalars::I32(b) => b.append_nulls(n),
            Scalars::F64(b) => b.append_nulls(n),
            Scalars::Ts(b) => b.append_nulls(n),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Scalars::Str(_) => "strings",
            Scalars::Bool(_) => "booleans",
            Scalars::I64(_) | Scalars::I32(_) => "integers",
            Scalars::F64(_) => "floats",
            Scalars::Ts(_) => "timestamps",
            Scalars::Json(_) => "JSON text",
        }
    }

    fn len(&self) -> usize {
        match self {
            Scalars::Str(b) | Scalars::Json(b) => b.len(),
            Scalars::Bool(b) => b.len(),
            Scalars::I64(b) => b.len(),
            Scalars::I32(b) => b.len(),
            Scalars::F64(b) => b.len(),
            Scalars::Ts(b) => b.len(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Scalars::Str(mut b) | Scalars::Json(mut b) => Arc::new(b.finish()),
            Scalars::Bool(mut b) => Arc::new(b.finish()),
            Scalars::I64(mut b) => Arc::new(b.finish()),
            Scalars::I32(mut b) => Arc::new(b.finish()),
            Scalars::F64(mut b) => Arc::new(b.finish()),
            Scalars::Ts(mut b) => Arc::new(b.finish()),
        }
    }
}

/// One column's cells while rows are added, written straight into Arrow builders.
enum Cells {
    I64(Int64Builder),
    I128(Decimal128Builder),
    F64(Float64Builder),
    Binary(BinaryBuilder),
    Values(Scalars),
    /// Lists: the items of every list, each list's end among them, and which lists are null.
    Lists {
        items: Scalars,
        ends: Vec<i32>,
        valid: Vec<bool>,
    },
}

impl Cells {
    /// The cells of field `suffix` of an aggregate over values of type `input`, with room for
    /// `n` rows.
    fn for_field(suffix: &str, dt: &DataType, input: &Ty, n: usize) -> Cells {
        let lists = |items: Scalars| Cells::Lists { items, ends: Vec::with_capacity(n), valid: Vec::with_capacity(n) };
        match dt {
            _ if suffix == "value" => Cells::Values(Scalars::of(input, n)),
            _ if suffix == "values" => lists(Scalars::of(input, n)),
            DataType::List(item) => match item.data_type() {
                DataType::Int32 => lists(Scalars::I32(Int32Builder::with_capacity(n))),
                DataType::Float64 => lists(Scalars::F64(Float64Builder::with_capacity(n))),
                _ => lists(Scalars::I64(Int64Builder::with_capacity(n))),
            },
            DataType::Int64 => Cells::I64(Int64Builder::with_capacity(n)),
            DataType::Decimal128(..) => Cells::I128(Decimal128Builder::with_capacity(n)),
            DataType::Binary => Cells::Binary(BinaryBuilder::with_capacity(n, 0)),
            _ => Cells::F64(Float64Builder::with_capacity(n)),
        }
    }

    fn null(&mut self) {
        self.nulls(1);
    }

    /// Appends `n` null cells.
    fn nulls(&mut self, n: usize) {
        match self {
            Cells::I64(b) => b.append_nulls(n),
            Cells::I128(b) => b.append_nulls(n),
            Cells::F64(b) => b.append_nulls(n),
            Cells::Binary(b) => b.append_nulls(n),
            Cells::Values(s) => s.push_nulls(n),
            Cells::Lists { items, ends, valid } => {
                let end = i32::try_from(items.len()).unwrap_or(i32::MAX);
                ends.extend(std::iter::repeat_n(end, n));
                valid.extend(std::iter::repeat_n(false, n));
            }
        }
    }

    fn int(&mut self, x: i64) {
        if let Cells::I64(b) = self {
            b.append_value(x);
        }
    }

    /// Appends one list, its items given by `each` (which appends them to the items' column).
    fn list(&mut self, each: impl FnOnce(&mut Scalars) -> Result<(), String>) -> Result<(), String> {
        if let Cells::Lists { items, ends, valid } = self {
            each(items)?;
            ends.push(i32::try_from(items.len()).map_err(|_| "a view chunk of more than 2^31 list items")?);
            valid.push(true);
        }
        Ok(())
    }

    fn finish(self) -> Result<ArrayRef, String> {
        Ok(match self {
            Cells::I64(mut b) => Arc::new(b.finish()),
            Cells::I128(mut b) => Arc::new(b.finish().with_precision_and_scale(38, 0).map_err(|e| e.to_string())?),
            Cells::F64(mut b) => Arc::new(b.finish()),
            Cells::Binary(mut b) => Arc::new(b.finish()),
            Cells::Values(s) => s.finish(),
            Cells::Lists { items, ends, valid } => {
                let child = items.finish();
                let offsets = OffsetBuffer::new(ScalarBuffer::from([0].into_iter().chain(ends).collect::<Vec<i32>>()));
                let field = Arc::new(Field::new("item", child.data_type().clone(), true));
                let nulls = NullBuffer::from(valid);
                Arc::new(ListArray::try_new(field, offsets, child, Some(nulls)).map_err(|e| e.to_string())?)
            }
        })
    }
}

pub(super) fn int_of(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::I64(x) | Value::Ts(x)) => Some(*x),
        _ => None,
    }
}

/// Appends integers to a list's items.
fn ints(items: &mut Scalars, xs: impl Iterator<Item = i64>) -> Result<(), String> {
    xs.map(Value::I64).try_for_each(|v| items.push(Some(&v)))
}

/// Appends one partial's fields, in the order of [`fields`], to its columns.
fn push(cols: &mut [Cells], p: &Partial) -> Result<(), String> {
    let mut it = cols.iter_mut();
    let mut next = || it.next().ok_or_else(|| "a partial of another kind than its aggregate's".to_owned());
    let exact = |rounded: &mut Cells, parts: &mut Cells, s: &ExactSum| {
        if let Cells::F64(b) = rounded {
            b.append_value(s.value());
        }
        parts.list(|items| {
            if let Scalars::F64(b) = items {
                b.append_slice(&s.canonical().parts());
            }
            Ok(())
        })
    };
    match p {
        Partial::Count(c) => next()?.int(*c),
        Partial::SumI(s) => {
            if let Cells::I128(b) = next()? {
                b.append_value(*s);
            }
        }
        Partial::SumF(s) => exact(next()?, next()?, s)?,
        Partial::Avg { sum, count } => {
            next()?.int(*count);
            exact(next()?, next()?, sum)?;
        }
        Partial::Moments(m) => {
            next()?.int(m.count);
            exact(next()?, next()?, &m.sum)?;
            exact(next()?, next()?, &m.sum_sq)?;
        }
        Partial::Min(v) | Partial::Max(v) => {
            if let Cells::Values(s) = next()? {
                s.push(v.as_ref())?;
            }
        }
        Partial::First(v) | Partial::Last(v) => match v {
            Some((ts, v)) => {
                next()?.int(*ts);
                if let Cells::Values(s) = next()? {
                    s.push(Some(v))?;
                }
            }
            None => {
                next()?.null();
                next()?.null();
            }
        },
        Partial::FirstN(items) | Partial::LastN(items) => {
            next()?.list(|l| ints(l, items.iter().map(|(ts, _)| *ts)))?;
            next()?.list(|l| items.iter().try_for_each(|(_, v)| l.push(Some(v))))?;
        }
        Partial::Counts(counts) => {
            next()?.list(|l| counts.iter().try_for_each(|(v, _)| l.push(Some(v))))?;
            next()?.list(|l| ints(l, counts.iter().map(|(_, n)| *n)))?;
        }
        Partial::Hll(Hll::Sparse(hashes)) => {
            // The 64-bit hashes as signed integers: the same bits, in a type every reader has.
            next()?.list(|l| ints(l, hashes.iter().map(|h| i64::from_ne_bytes(h.to_ne_bytes()))))?;
            next()?.null();
        }
        Partial::Hll(Hll::Dense(registers)) => {
            next()?.null();
            if let Cells::Binary(b) = next()? {
                b.append_value(registers);
            }
        }
        Partial::Quantiles(q) => {
            let (positive, negative, zeros) = q.parts();
            next()?.int(i64::try_from(zeros).unwrap_or(i64::MAX));
            for buckets in [positive, negative] {
                next()?.list(|l| ints(l, buckets.iter().map(|(i, _)| i64::from(*i))))?;
                next()?.list(|l| ints(l, buckets.iter().map(|(_, n)| i64::try_from(*n).unwrap_or(i64::MAX))))?;
            }
        }
    }
    Ok(())
}

/// Every key's state as the view's table: a row per unit of state (a key whose windows hold
/// nothing gets one row of nulls, for its latest event time), built column by column.
pub(crate) fn to_batch(g: &IrGroup, keys: &Refs<'_>) -> Result<RecordBatch, String> {
    let schema = schema(g)?;
    // The rows: each key's index, and its unit (none for a key without any).
    let mut units: Vec<Unit<'_>> = Vec::new();
    let mut rows: Vec<(usize, Option<usize>)> = Vec::with_capacity(keys.len() * 4);
    for (k, (_, state)) in keys.iter().enumerate() {
        let first = units.len();
        state.units(&mut units);
        if units.len() == first {
            rows.push((k, None));
        }
        rows.extend((first..units.len()).map(|u| (k, Some(u))));
    }
    let n = rows.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (c, k) in g.keys.iter().enumerate() {
        let mut cells = Scalars::of(&k.ty.ty, n);
        for &(key, _) in &rows {
            cells.push(keys[key].0.get(c))?;
        }
        columns.push(cells.finish());
    }
    let unit = |u: Option<usize>| u.map(|u| &units[u]);
    columns.push(Arc::new(Int32Array::from_iter(rows.iter().map(|r| unit(r.1).map(|u| u.window as i32)))));
    columns.push(Arc::new(Int64Array::from_iter(rows.iter().map(|r| unit(r.1).and_then(|u| u.start)))));
    columns.push(Arc::new(Int64Array::from_iter(rows.iter().map(|r| unit(r.1).and_then(|u| u.end)))));
    columns.push(Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| keys[r.0].1.latest()))));
    // Each window's rows `(row, unit)`: an aggregate's column is null on the rows of other windows.
    let windows = g.aggregates.iter().map(|a| a.window + 1).max().unwrap_or(0);
    let mut of_window: Vec<Vec<(usize, usize)>> = vec![Vec::new(); windows];
    for (r, &(_, u)) in rows.iter().enumerate() {
        if let Some(u) = u
            && let Some(w) = of_window.get_mut(units[u].window)
        {
            w.push((r, u));
        }
    }
    for (ai, a) in g.aggregates.iter().enumerate() {
        let ty = input_ty(g, ai);
        let mut cols: Vec<Cells> =
            fields(a.kind, a.integer_input(), &ty).iter().map(|(s, dt)| Cells::for_field(s, dt, &ty, n)).collect();
        let slot = slot_of(g, ai);
        let mut next = 0; // the next row to fill
        let rows_of = &of_window[a.window];
        for (j, &(r, u)) in rows_of.iter().enumerate() {
            // The units are scattered in memory: their partials are loaded a few rows ahead,
            // then what those keep on the heap.
            if let Some(&(_, v)) = rows_of.get(j + 16) {
                units[v].partials.prefetch(slot);
            }
            if let Some(&(_, v)) = rows_of.get(j + 8) {
                units[v].partials.prefetch_contents(slot);
            }
            if r > next {
                cols.iter_mut().for_each(|c| c.nulls(r - next));
            }
            let p = units[u].partials.get(slot).ok_or("a window without the partial of one of its aggregates")?;
            push(&mut cols, &p)?;
            next = r + 1;
        }
        if n > next {
            cols.iter_mut().for_each(|c| c.nulls(n - next));
        }
        for c in cols {
            columns.push(c.finish()?);
        }
    }
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}
