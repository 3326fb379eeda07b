//! Arrow record batches in, rows of a group's columns out, with every malformed event sent to
//! the dead-letter output with its reason instead of stopping the stream.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::IrField;
use featc::ir::Ty;

use crate::group::DeadLetter;
use crate::value::Value;

/// Timestamps outside these bounds (years 1900 to 2200) are absurd, not events.
pub(crate) const MIN_TS: i64 = -2_208_988_800_000;
pub(crate) const MAX_TS: i64 = 7_258_118_400_000;

/// Decodes `columns` (with their declared types) from a batch: one row per event, or a dead
/// letter when a value is missing, of the wrong type, NaN or an absurd timestamp.
pub fn rows(batch: &RecordBatch, columns: &[IrField]) -> (Vec<Vec<Value>>, Vec<DeadLetter>) {
    let found: Vec<Option<&Arc<dyn Array>>> = columns.iter().map(|c| batch.column_by_name(&c.name)).collect();
    let mut rows = Vec::with_capacity(batch.num_rows());
    let mut dead = Vec::new();
    for r in 0..batch.num_rows() {
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
            Some(reason) => dead.push(DeadLetter { reason, row }),
            None => rows.push(row),
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
            timestamp(parse_rfc3339(text).ok_or_else(|| format!("`{text}` is not an RFC 3339 time"))?.into())?
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

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]` to milliseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |s: &str| s.parse::<i64>().ok();
    let (date, rest) = t.split_at_checked(10)?;
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let rest = rest.strip_prefix(['T', ' '])?;
    let (hms, tz) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, "Z"),
    };
    let (hms, frac) = hms.split_once('.').unwrap_or((hms, "0"));
    let mut parts = hms.split(':');
    let (hh, mm, ss) = (num(parts.next()?)?, num(parts.next()?)?, num(parts.next().unwrap_or("0"))?);
    let ms = num(&format!("{frac:0<3}")[..3])?;
    let offset_min = match tz {
        "Z" | "z" => 0,
        tz => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let (oh, om) = tz[1..].split_once(':')?;
            sign * (num(oh)? * 60 + num(om)?)
        }
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Civil date to days (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm - offset_min) * 60_000 + ss * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Schema};
    use featc::ir::Type;

    #[test]
    fn rfc3339_round_trips_with_the_formatter() {
        for ms in [0, 1_700_000_000_123, -1, 951_782_400_000] {
            assert_eq!(parse_rfc3339(&crate::eval::rfc3339(ms)), Some(ms));
        }
        assert_eq!(parse_rfc3339("2024-01-01T01:00:00+01:00"), parse_rfc3339("2024-01-01T00:00:00Z"));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

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
