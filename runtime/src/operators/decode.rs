//! Arrow record batches in, rows of a group's columns out, with every malformed event sent to
//! the dead-letter output with its reason instead of stopping the stream.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::IrField;
use featc::ir::Ty;

use crate::operators::group::DeadLetter;
use crate::value::Value;

/// Timestamps outside these bounds (years 1900 to 2200) are absurd, not events.
pub(crate) const MIN_TS: i64 = featc::ir::EVENT_TIME_MIN_MS;
pub(crate) const MAX_TS: i64 = featc::ir::EVENT_TIME_MAX_MS;

/// Decodes `columns` (with their declared types) from a batch: one row per event, or a dead
/// letter when a value is missing, of the wrong type, NaN or an absurd timestamp.
pub fn rows(batch: &RecordBatch, columns: &[IrField]) -> (Vec<Vec<Value>>, Vec<DeadLetter>) {
    let (rows, dead) = decode(batch, columns, 0..batch.num_rows());
    (rows.into_iter().map(|(_, row)| row).collect(), dead.into_iter().map(|(_, d)| d).collect())
}

/// Rows and dead letters, each with its row number in the batch.
pub(crate) type Numbered = (Vec<(usize, Vec<Value>)>, Vec<(usize, DeadLetter)>);

/// [`rows`] of the rows `at` only, each with its row number.
pub(crate) fn rows_at(batch: &RecordBatch, columns: &[IrField], at: &[u32]) -> Numbered {
    decode(batch, columns, at.iter().map(|&r| r as usize))
}

fn decode(batch: &RecordBatch, columns: &[IrField], at: impl ExactSizeIterator<Item = usize>) -> Numbered {
    let found: Vec<Option<&Arc<dyn Array>>> = columns.iter().map(|c| batch.column_by_name(&c.name)).collect();
    let mut rows = Vec::with_capacity(at.len());
    let mut dead = Vec::new();
    for r in at {
        let mut row = Vec::with_capacity(columns.len());
        let mut problem = None;
        for (field, array) in columns.iter().zip(&found) {
            let value = match array {
                None => Err(format!("missing field `{}`", field.name)),
                Some(a) => cell(a.as_ref(), r, &field.ty.ty).map_err(|e| format!("field `{}`: {e}", field.name)),
            };
            match value {
                Ok(Value::Null) if !field.ty.nullable => {
                    problem.get_or_insert_with(|| format!("field `{}` is null but not nullable", field.name));
                    row.push(Value::Null);
                }
                Ok(v) => row.push(v),
                Err(e) => {
                    problem.get_or_insert(e);
                    row.push(Value::Null);
                }
            }
        }
        match problem {
            Some(reason) => dead.push((r, DeadLetter { reason, row })),
            None => rows.push((r, row)),
        }
    }
    (rows, dead)
}

/// One value of a column as its declared type; `None` when it cannot be one.
pub(crate) fn cell_of(a: &dyn Array, r: usize, ty: &Ty) -> Option<Value> {
    cell(a, r, ty).ok()
}

/// One value of a column, converted to the declared type.
fn cell(a: &dyn Array, r: usize, ty: &Ty) -> Result<Value, String> {
    if a.is_null(r) {
        return Ok(Value::Null);
    }
    let wrong = || format!("expected {ty}, found {}", a.data_type());
    Ok(match (ty, a.data_type()) {
        (Ty::String, DataType::Utf8) => Value::Str(Arc::from(a.as_string::<i32>().value(r))),
        (Ty::String, DataType::LargeUtf8) => Value::Str(Arc::from(a.as_string::<i64>().value(r))),
        (Ty::String, DataType::Utf8View) => Value::Str(Arc::from(a.as_string_view().value(r))),
        (Ty::Bool, DataType::Boolean) => Value::Bool(a.as_boolean().value(r)),
        (Ty::I64, DataType::Int64) => Value::I64(a.as_primitive::<arrow::datatypes::Int64Type>().value(r)),
        (Ty::I64, DataType::Int32) => Value::I64(i64::from(a.as_primitive::<arrow::datatypes::Int32Type>().value(r))),
        (Ty::F64, DataType::Float64) => finite(a.as_primitive::<arrow::datatypes::Float64Type>().value(r))?,
        (Ty::F64, DataType::Float32) => finite(f64::from(a.as_primitive::<arrow::datatypes::Float32Type>().value(r)))?,
        (Ty::F64, DataType::Int64) => Value::F64(a.as_primitive::<arrow::datatypes::Int64Type>().value(r) as f64),
        (Ty::Timestamp, DataType::Timestamp(unit, _)) => {
            let raw = match unit {
                TimeUnit::Second => {
                    a.as_primitive::<arrow::datatypes::TimestampSecondType>().value(r).checked_mul(1000)
                }
                TimeUnit::Millisecond => Some(a.as_primitive::<arrow::datatypes::TimestampMillisecondType>().value(r)),
                TimeUnit::Microsecond => {
                    Some(a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>().value(r) / 1000)
                }
                TimeUnit::Nanosecond => {
                    Some(a.as_primitive::<arrow::datatypes::TimestampNanosecondType>().value(r) / 1_000_000)
                }
            };
            timestamp(raw)?
        }
        // NDJSON and CSV carry times as RFC 3339 text or epoch milliseconds.
        (Ty::Timestamp, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
            let text = match a.data_type() {
                DataType::Utf8 => a.as_string::<i32>().value(r),
                DataType::LargeUtf8 => a.as_string::<i64>().value(r),
                _ => a.as_string_view().value(r),
            };
            // Epoch milliseconds (NDJSON numbers arrive as text), else RFC 3339.
            let ms = crate::io::time::parse_event_time(text);
            let short: String = text.chars().take(64).collect();
            timestamp(Some(ms.ok_or_else(|| format!("`{short}` is not an RFC 3339 time or epoch milliseconds"))?))?
        }
        (Ty::Timestamp, DataType::Int64) => timestamp(Some(a.as_primitive::<arrow::datatypes::Int64Type>().value(r)))?,
        _ => return Err(wrong()),
    })
}

fn finite(x: f64) -> Result<Value, String> {
    if x.is_finite() { Ok(Value::F64(x)) } else { Err(format!("{x} is not a finite number")) }
}

fn timestamp(ms: Option<i64>) -> Result<Value, String> {
    match ms {
        Some(ms) if (MIN_TS..=MAX_TS).contains(&ms) => Ok(Value::Ts(ms)),
        Some(ms) => Err(format!("timestamp {ms} ms is outside the years 1900 to 2200")),
        None => Err("timestamp overflows".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Schema};
    use featc::ir::Type;

    #[test]
    fn malformed_events_are_dead_lettered_with_a_reason_and_the_rest_kept() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("n", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c"), Some("d"), Some("e")])),
                Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0), Some(f64::NAN), None, Some(5.0)])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
                Arc::new(TimestampMillisecondArray::from(vec![0, 1, 2, 3, 9_999_999_999_999])),
            ],
        )
        .unwrap();
        let field = |name: &str, ty, nullable| IrField { name: name.to_owned(), ty: Type::new(ty, nullable) };
        let columns = [field("k", Ty::String, false), field("x", Ty::F64, true), field("ts", Ty::Timestamp, false)];
        let (rows, dead) = rows(&batch, &columns);
        assert_eq!(rows.len(), 2, "a and d");
        let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "field `k` is null but not nullable",
                "field `x`: NaN is not a finite number",
                "field `ts`: timestamp 9999999999999 ms is outside the years 1900 to 2200"
            ]
        );
        let missing = [field("nope", Ty::I64, false)];
        let (rows, dead) = super::rows(&batch, &missing);
        assert!(rows.is_empty() && dead.len() == 5 && dead[0].reason == "missing field `nope`");
    }
}
