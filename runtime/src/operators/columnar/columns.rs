//! Arrow columns of a batch in; typed readers of its event times, numeric values and keys out,
//! with a conversion for any type the fast reads do not cover.

use arrow::array::{Array, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use featc::ir::Ty;

use super::keys::KeyRef;
use super::slots::Num;
use crate::operators::decode::{MAX_TS, MIN_TS};
use crate::value::Value;

/// Event times of a batch in milliseconds; `None` for a null or absurd one.
pub(crate) enum TsColumn<'a> {
    Millis(&'a [i64], Option<&'a NullBuffer>),
    Converted(Vec<Option<i64>>),
}

impl<'a> TsColumn<'a> {
    pub(crate) fn read(a: &'a dyn Array) -> Option<TsColumn<'a>> {
        let scaled =
            |f: &dyn Fn(usize) -> Option<i64>| (0..a.len()).map(|r| if a.is_null(r) { None } else { f(r) }).collect();
        Some(match a.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                TsColumn::Millis(a.as_primitive::<TimestampMillisecondType>().values(), a.nulls())
            }
            DataType::Int64 => TsColumn::Millis(a.as_primitive::<Int64Type>().values(), a.nulls()),
            DataType::Timestamp(TimeUnit::Second, _) => {
                let p = a.as_primitive::<arrow::datatypes::TimestampSecondType>();
                TsColumn::Converted(scaled(&|r| p.value(r).checked_mul(1000)))
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let p = a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                TsColumn::Converted(scaled(&|r| Some(p.value(r) / 1000)))
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                let p = a.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
                TsColumn::Converted(scaled(&|r| Some(p.value(r) / 1_000_000)))
            }
            _ => return None,
        })
    }

    #[inline]
    pub(crate) fn get(&self, r: usize) -> Option<i64> {
        let t = match self {
            TsColumn::Millis(v, nulls) => {
                if nulls.is_some_and(|n| n.is_null(r)) {
                    return None;
                }
                v[r]
            }
            TsColumn::Converted(v) => v[r]?,
        };
        (MIN_TS..=MAX_TS).contains(&t).then_some(t)
    }
}

/// A numeric column of a batch, read as its declared type.
pub(super) enum NumColumn<'a> {
    F64(&'a [f64], Option<&'a NullBuffer>),
    I64(&'a [i64], Option<&'a NullBuffer>, bool),
    Converted(Vec<Num>),
}

impl<'a> NumColumn<'a> {
    pub(super) fn read(a: &'a dyn Array, integer: bool) -> Option<NumColumn<'a>> {
        let convert =
            |f: &dyn Fn(usize) -> Num| (0..a.len()).map(|r| if a.is_null(r) { Num::Null } else { f(r) }).collect();
        Some(match (a.data_type(), integer) {
            (DataType::Float64, false) => NumColumn::F64(a.as_primitive::<Float64Type>().values(), a.nulls()),
            (DataType::Int64, _) => NumColumn::I64(a.as_primitive::<Int64Type>().values(), a.nulls(), integer),
            (DataType::Float32, false) => {
                let p = a.as_primitive::<arrow::datatypes::Float32Type>();
                NumColumn::Converted(convert(&|r| Num::F(f64::from(p.value(r)))))
            }
            (DataType::Int32, true) => {
                let p = a.as_primitive::<arrow::datatypes::Int32Type>();
                NumColumn::Converted(convert(&|r| Num::I(i64::from(p.value(r)))))
            }
            _ => return None,
        })
    }

    /// A time column as integer milliseconds; `None` when a time is out of featc's years (the
    /// row path then dead-letters its event with the reason).
    pub(super) fn read_time(a: &dyn Array) -> Option<NumColumn<'static>> {
        let ts = TsColumn::read(a)?;
        let mut out = Vec::with_capacity(a.len());
        for r in 0..a.len() {
            out.push(if a.is_null(r) { Num::Null } else { Num::I(ts.get(r)?) });
        }
        Some(NumColumn::Converted(out))
    }

    #[inline]
    pub(super) fn get(&self, r: usize) -> Num {
        match self {
            NumColumn::F64(v, nulls) => {
                if nulls.is_some_and(|n| n.is_null(r)) {
                    Num::Null
                } else {
                    Num::F(v[r])
                }
            }
            NumColumn::I64(v, nulls, integer) => {
                if nulls.is_some_and(|n| n.is_null(r)) {
                    Num::Null
                } else if *integer {
                    Num::I(v[r])
                } else {
                    Num::F(v[r] as f64)
                }
            }
            NumColumn::Converted(v) => v[r],
        }
    }
}

/// The key of each event of a batch; `None` for a null key.
pub(super) enum KeyColumn<'a> {
    I64(&'a [i64], Option<&'a NullBuffer>),
    Str(&'a arrow::array::StringArray),
    LargeStr(&'a arrow::array::LargeStringArray),
    View(&'a arrow::array::StringViewArray),
    Values(Vec<Option<Vec<Value>>>),
}

impl<'a> KeyColumn<'a> {
    pub(super) fn read(batch: &'a RecordBatch, keys: &[(usize, String, Ty)]) -> Option<KeyColumn<'a>> {
        let arrays: Vec<&dyn Array> =
            keys.iter().map(|(_, name, _)| batch.column_by_name(name).map(|a| a.as_ref())).collect::<Option<_>>()?;
        if let ([a], [(_, _, ty)]) = (arrays.as_slice(), keys) {
            match (ty, a.data_type()) {
                (Ty::I64, DataType::Int64) => {
                    return Some(KeyColumn::I64(a.as_primitive::<Int64Type>().values(), a.nulls()));
                }
                (Ty::String, DataType::Utf8) => return Some(KeyColumn::Str(a.as_string::<i32>())),
                (Ty::String, DataType::LargeUtf8) => return Some(KeyColumn::LargeStr(a.as_string::<i64>())),
                (Ty::String, DataType::Utf8View) => return Some(KeyColumn::View(a.as_string_view())),
                _ => {}
            }
        }
        // Other keys: decoded cell by cell as the row decoder does; any problem leaves the row
        // to the row path.
        let rows = (0..batch.num_rows())
            .map(|r| {
                arrays
                    .iter()
                    .zip(keys)
                    .map(|(a, (_, _, ty))| match crate::operators::decode::cell_of(*a, r, ty) {
                        Some(Value::Null) | None => None,
                        Some(v) => Some(v),
                    })
                    .collect::<Option<Vec<Value>>>()
            })
            .collect();
        Some(KeyColumn::Values(rows))
    }

    pub(super) fn is_null(&self, r: usize) -> bool {
        match self {
            KeyColumn::I64(_, nulls) => nulls.is_some_and(|n| n.is_null(r)),
            KeyColumn::Str(a) => a.is_null(r),
            KeyColumn::LargeStr(a) => a.is_null(r),
            KeyColumn::View(a) => a.is_null(r),
            KeyColumn::Values(rows) => rows[r].is_none(),
        }
    }

    #[inline]
    pub(super) fn get(&self, r: usize) -> Option<KeyRef<'_>> {
        match self {
            KeyColumn::I64(v, nulls) => (!nulls.is_some_and(|n| n.is_null(r))).then(|| KeyRef::I64(v[r])),
            KeyColumn::Str(a) => a.is_valid(r).then(|| KeyRef::Str(a.value(r))),
            KeyColumn::LargeStr(a) => a.is_valid(r).then(|| KeyRef::Str(a.value(r))),
            KeyColumn::View(a) => a.is_valid(r).then(|| KeyRef::Str(a.value(r))),
            KeyColumn::Values(rows) => rows[r].as_deref().map(KeyRef::Values),
        }
    }
}
