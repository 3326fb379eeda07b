//! A group's key states in, the batch view's Arrow table of partials out (read back by
//! [`super::read`]): one row per key and unit of state (a lifetime or tumbling window, a pane, a
//! session), one column per field of each aggregate's partial. The layout is documented in
//! docs/plan-format.md ("The batch view"); DuckDB, Spark and pandas read it as it is.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, ListArray,
    RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use featc::ir::{AggKind, IrGroup, Ty};

use crate::operators::aggregate::{ExactSum, Hll, Partial};
use crate::operators::group::slot_of;
use crate::operators::state::KeyState;
use crate::operators::window::WindowState;
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

/// One column's cells while rows are added.
enum Cells {
    I64(Vec<Option<i64>>),
    I128(Vec<Option<i128>>),
    F64(Vec<Option<f64>>),
    /// Lists of values of a type; `narrow`: stored as 32-bit integers.
    Lists {
        item: Ty,
        narrow: bool,
        cells: Vec<Option<Vec<Value>>>,
    },
    Binary(Vec<Option<Vec<u8>>>),
    Values(Ty, Vec<Option<Value>>),
}

impl Cells {
    /// The cells of field `suffix` of an aggregate over values of type `input`.
    fn for_field(suffix: &str, dt: &DataType, input: &Ty) -> Cells {
        let lists = |item: Ty, narrow: bool| Cells::Lists { item, narrow, cells: Vec::new() };
        match dt {
            _ if suffix == "value" => Cells::Values(input.clone(), Vec::new()),
            _ if suffix == "values" => lists(input.clone(), false),
            DataType::List(item) => match item.data_type() {
                DataType::Int32 => lists(Ty::I64, true),
                DataType::Float64 => lists(Ty::F64, false),
                _ => lists(Ty::I64, false),
            },
            DataType::Int64 => Cells::I64(Vec::new()),
            DataType::Decimal128(..) => Cells::I128(Vec::new()),
            DataType::Binary => Cells::Binary(Vec::new()),
            _ => Cells::F64(Vec::new()),
        }
    }

    fn null(&mut self) {
        match self {
            Cells::I64(v) => v.push(None),
            Cells::I128(v) => v.push(None),
            Cells::F64(v) => v.push(None),
            Cells::Lists { cells, .. } => cells.push(None),
            Cells::Binary(v) => v.push(None),
            Cells::Values(_, v) => v.push(None),
        }
    }

    fn finish(self) -> Result<ArrayRef, String> {
        Ok(match self {
            Cells::I64(v) => Arc::new(Int64Array::from(v)),
            Cells::I128(v) => {
                Arc::new(Decimal128Array::from(v).with_precision_and_scale(38, 0).map_err(|e| e.to_string())?)
            }
            Cells::F64(v) => Arc::new(Float64Array::from(v)),
            Cells::Binary(v) => Arc::new(BinaryArray::from_iter(v)),
            Cells::Values(ty, v) => values_array(&ty, &v)?,
            Cells::Lists { item, narrow, cells } => {
                let flat: Vec<Option<Value>> = cells.iter().flatten().flatten().cloned().map(Some).collect();
                let child: ArrayRef = if narrow {
                    Arc::new(Int32Array::from_iter(
                        flat.iter().map(|c| int_of(c.as_ref()).and_then(|x| i32::try_from(x).ok())),
                    ))
                } else {
                    values_array(&item, &flat)?
                };
                let offsets = OffsetBuffer::from_lengths(cells.iter().map(|l| l.as_ref().map_or(0, Vec::len)));
                let nulls = NullBuffer::from_iter(cells.iter().map(Option::is_some));
                let field = Arc::new(Field::new("item", child.data_type().clone(), true));
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

/// An array of values of type `ty` (each value of that type, or null).
fn values_array(ty: &Ty, cells: &[Option<Value>]) -> Result<ArrayRef, String> {
    let wrong = |v: &Value| format!("a value {v} in a column of type {ty}");
    let mut bad = None;
    let mut check = |v: &Value| {
        bad.get_or_insert_with(|| wrong(v));
    };
    let array: ArrayRef = match ty {
        Ty::String => Arc::new(StringArray::from_iter(cells.iter().map(|c| match c {
            Some(Value::Str(s)) => Some(s.to_string()),
            Some(v) if !v.is_null() => {
                check(v);
                None
            }
            _ => None,
        }))),
        Ty::Bool => Arc::new(BooleanArray::from_iter(cells.iter().map(|c| match c {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        }))),
        Ty::I64 => Arc::new(Int64Array::from_iter(cells.iter().map(|c| match c {
            Some(Value::I64(x)) => Some(*x),
            _ => None,
        }))),
        Ty::F64 => Arc::new(Float64Array::from_iter(cells.iter().map(|c| match c {
            Some(Value::F64(x)) => Some(*x),
            _ => None,
        }))),
        Ty::Timestamp => Arc::new(TimestampMillisecondArray::from_iter(cells.iter().map(|c| match c {
            Some(Value::Ts(x)) => Some(*x),
            _ => None,
        }))),
        Ty::List(_) | Ty::Null => Arc::new(StringArray::from_iter(
            cells.iter().map(|c| c.as_ref().map(|v| serde_json::to_string(v).unwrap_or_default())),
        )),
    };
    // A value of another type than the column's would be lost: refuse rather than write null.
    let kept = cells.iter().filter(|c| c.as_ref().is_some_and(|v| !v.is_null())).count();
    if let Some(e) = bad {
        return Err(e);
    }
    if array.len() - array.null_count() != kept {
        let v = cells.iter().flatten().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null);
        return Err(wrong(&v));
    }
    Ok(array)
}

fn floats(parts: &[f64]) -> Vec<Value> {
    parts.iter().map(|x| Value::F64(*x)).collect()
}

fn ints(xs: impl Iterator<Item = i64>) -> Vec<Value> {
    xs.map(Value::I64).collect()
}

/// Appends one partial's fields, in the order of [`fields`], to its columns.
fn push(cols: &mut [Cells], p: &Partial) -> Result<(), String> {
    let mut it = cols.iter_mut();
    let mut next = || it.next().ok_or_else(|| "a partial of another kind than its aggregate's".to_owned());
    let exact = |rounded: &mut Cells, parts: &mut Cells, s: &ExactSum| {
        if let Cells::F64(v) = rounded {
            v.push(Some(s.value()));
        }
        if let Cells::Lists { cells, .. } = parts {
            cells.push(Some(floats(s.parts())));
        }
    };
    let int = |c: &mut Cells, x: i64| {
        if let Cells::I64(v) = c {
            v.push(Some(x));
        }
    };
    let value = |c: &mut Cells, x: Option<&Value>| {
        if let Cells::Values(_, v) = c {
            v.push(x.cloned());
        }
    };
    let list = |c: &mut Cells, x: Vec<Value>| {
        if let Cells::Lists { cells, .. } = c {
            cells.push(Some(x));
        }
    };
    match p {
        Partial::Count(c) => int(next()?, *c),
        Partial::SumI(s) => {
            if let Cells::I128(v) = next()? {
                v.push(Some(*s));
            }
        }
        Partial::SumF(s) => exact(next()?, next()?, s),
        Partial::Avg { sum, count } => {
            int(next()?, *count);
            exact(next()?, next()?, sum);
        }
        Partial::Moments { count, sum, sum_sq } => {
            int(next()?, *count);
            exact(next()?, next()?, sum);
            exact(next()?, next()?, sum_sq);
        }
        Partial::Min(v) | Partial::Max(v) => value(next()?, v.as_ref()),
        Partial::First(v) | Partial::Last(v) => match v {
            Some((ts, v)) => {
                int(next()?, *ts);
                value(next()?, Some(v));
            }
            None => {
                next()?.null();
                next()?.null();
            }
        },
        Partial::FirstN(items) | Partial::LastN(items) => {
            list(next()?, ints(items.iter().map(|(ts, _)| *ts)));
            list(next()?, items.iter().map(|(_, v)| v.clone()).collect());
        }
        Partial::Counts(counts) => {
            list(next()?, counts.iter().map(|(v, _)| v.clone()).collect());
            list(next()?, ints(counts.iter().map(|(_, n)| *n)));
        }
        Partial::Hll(Hll::Sparse(hashes)) => {
            // The 64-bit hashes as signed integers: the same bits, in a type every reader has.
            list(next()?, ints(hashes.iter().map(|h| i64::from_ne_bytes(h.to_ne_bytes()))));
            next()?.null();
        }
        Partial::Hll(Hll::Dense(registers)) => {
            next()?.null();
            if let Cells::Binary(v) = next()? {
                v.push(Some(registers.clone()));
            }
        }
        Partial::Quantiles(q) => {
            let (positive, negative, zeros) = q.parts();
            int(next()?, i64::try_from(zeros).unwrap_or(i64::MAX));
            for buckets in [positive, negative] {
                list(next()?, ints(buckets.iter().map(|(i, _)| i64::from(*i))));
                list(next()?, ints(buckets.iter().map(|(_, n)| i64::try_from(*n).unwrap_or(i64::MAX))));
            }
        }
    }
    Ok(())
}

/// A unit of a key's state: its window, start and end (as the row gives them) and partials.
type Unit<'s> = (usize, Option<i64>, Option<i64>, &'s [Partial]);

/// Every key's state as the view's table.
pub(crate) fn to_batch(g: &IrGroup, keys: &[(Vec<Value>, KeyState)]) -> Result<RecordBatch, String> {
    let schema = schema(g)?;
    let mut key_cells: Vec<Vec<Option<Value>>> = vec![Vec::new(); g.keys.len()];
    let (mut window, mut start, mut end, mut latest) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Each aggregate's columns.
    let mut aggs: Vec<Vec<Cells>> = g
        .aggregates
        .iter()
        .enumerate()
        .map(|(ai, a)| {
            let ty = input_ty(g, ai);
            fields(a.kind, a.integer_input(), &ty).iter().map(|(s, dt)| Cells::for_field(s, dt, &ty)).collect()
        })
        .collect();
    for (key, state) in keys {
        // The key's units of state: (window, start, end, partials).
        let mut units: Vec<Unit<'_>> = Vec::new();
        for (w, st) in state.windows.iter().enumerate() {
            match st {
                WindowState::Lifetime(p) => units.push((w, None, None, p)),
                WindowState::Tumbling { start, partials } if *start != i64::MIN => {
                    units.push((w, Some(*start), None, partials));
                }
                WindowState::Tumbling { .. } => {}
                WindowState::Panes { panes, .. } => {
                    units.extend(panes.iter().map(|(s, p)| (w, Some(*s), None, &p[..])))
                }
                WindowState::Sessions(s) => units.extend(s.iter().map(|(a, b, p)| (w, Some(*a), Some(*b), &p[..]))),
            }
        }
        let bare = units.is_empty();
        // A key whose windows hold nothing still has its latest event time.
        for unit in units.iter().map(Some).chain(bare.then_some(None)) {
            for (cells, v) in key_cells.iter_mut().zip(key) {
                cells.push(Some(v.clone()));
            }
            latest.push(state.max_ts);
            window.push(unit.map(|u| u.0 as i32));
            start.push(unit.and_then(|u| u.1));
            end.push(unit.and_then(|u| u.2));
            for (ai, cols) in aggs.iter_mut().enumerate() {
                match unit.filter(|u| u.0 == g.aggregates[ai].window) {
                    Some(u) => {
                        let p =
                            u.3.get(slot_of(g, ai)).ok_or("a window without the partial of one of its aggregates")?;
                        push(cols, p)?;
                    }
                    None => cols.iter_mut().for_each(Cells::null),
                }
            }
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (k, cells) in g.keys.iter().zip(key_cells) {
        columns.push(values_array(&k.ty.ty, &cells)?);
    }
    columns.push(Arc::new(Int32Array::from(window)));
    columns.push(Arc::new(Int64Array::from(start)));
    columns.push(Arc::new(Int64Array::from(end)));
    columns.push(Arc::new(Int64Array::from(latest)));
    for cols in aggs {
        for c in cols {
            columns.push(c.finish()?);
        }
    }
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}
