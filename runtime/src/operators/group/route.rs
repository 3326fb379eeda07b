//! A key (as values, or as a batch's key columns) and a shard count in, the shard that owns the
//! key out: how a group's keys are split over cores; and a batch's rows that a group's read
//! range takes.
//!
//! The shard is a function of the key's value alone (a fixed-seed hash, the same in every
//! process), never of the order or batching of events, so a key's events all reach one shard
//! and the state is the same whatever the number of shards.

use std::hash::BuildHasher;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use featc::ir::Ty;
use foldhash::fast::FixedState;

use crate::operators::columnar::{KeyRef, TsColumn};
use crate::value::Value;

/// Another seed than the key tables', so that the keys of one shard do not share hash bits
/// inside its own table.
const SEED: u64 = 0x7368_6172_642d_6b79;

fn hasher() -> FixedState {
    FixedState::with_seed(SEED)
}

/// The hash a key routes by: one integer and one string hash as themselves, whether they come
/// from a batch's column or from a list of values, so that both give the same shard.
pub(super) fn key_hash(key: KeyRef<'_>) -> u64 {
    let h = hasher();
    match key {
        KeyRef::I64(k) => h.hash_one(k),
        KeyRef::Values([Value::I64(k)]) => h.hash_one(*k),
        KeyRef::Str(s) => h.hash_one(s),
        KeyRef::Values([Value::Str(s)]) => h.hash_one(&**s),
        KeyRef::Values(values) => h.hash_one(values),
    }
}

/// The shard of a hash among `n` (the hash's high bits, scaled).
#[inline]
pub(super) fn shard_of_hash(hash: u64, n: usize) -> usize {
    (((hash >> 32) * n as u64) >> 32) as usize
}

/// The shard of a key among `n`.
pub(super) fn shard_of(key: &[Value], n: usize) -> usize {
    if n <= 1 { 0 } else { shard_of_hash(key_hash(KeyRef::Values(key)), n) }
}

/// The rows of a batch each of `n` shards owns, in row order, of `rows` (every row when
/// `None`). A row whose key is null or cannot be read goes to shard 0, which dead-letters it as
/// a single shard would.
pub(super) fn split(batch: &RecordBatch, keys: &[(&str, &Ty)], rows: Option<&[u32]>, n: usize) -> Vec<Vec<u32>> {
    if n <= 1 {
        return vec![rows.map_or_else(|| (0..batch.num_rows() as u32).collect(), <[u32]>::to_vec)];
    }
    split_hashes(&hashes(batch, keys), rows, n)
}

/// Rows by shard, from each row's key hash (see [`hashes`]), of `rows` (every row when `None`).
pub(super) fn split_hashes(hashes: &[u64], rows: Option<&[u32]>, n: usize) -> Vec<Vec<u32>> {
    let len = rows.map_or(hashes.len(), <[u32]>::len);
    let mut out: Vec<Vec<u32>> = (0..n).map(|_| Vec::with_capacity(len / n.max(1) + len / 16)).collect();
    let mut push = |r: u32| out[if n <= 1 { 0 } else { shard_of_hash(hashes[r as usize], n) }].push(r);
    match rows {
        Some(rows) => rows.iter().for_each(|&r| push(r)),
        None => (0..hashes.len() as u32).for_each(push),
    }
    out
}

/// The rows of `batch` a read range `(after, until]` can take, when it is bounded: every row but
/// those whose event time (column `ts`) reads and lies outside it. A row whose time does not
/// read stays, for the shard to dead-letter. `None` means every row: an unbounded range, or
/// times of a type the shards read row by row. A row left out is neither counted nor
/// dead-lettered, whatever else is wrong with it (as the columnar path always skipped it; the
/// row path decoded it first, and dead-lettered a malformed one). Leaving the rows out here
/// spares routing and sorting them, and hashing a batch that has none in range (a Lambda
/// replay after the cutoff reads the whole log).
pub(super) fn in_range(batch: &RecordBatch, ts: &str, (after, until): (i64, i64)) -> Option<Vec<u32>> {
    if after == i64::MIN && until == i64::MAX {
        return None;
    }
    let times = TsColumn::read(batch.column_by_name(ts)?.as_ref())?;
    let out = |r: &u32| times.get(*r as usize).is_some_and(|t| t <= after || t > until);
    let rows = 0..batch.num_rows() as u32;
    // Most batches of a stream lie wholly inside: no list is made for them.
    rows.clone().any(|r| out(&r)).then(|| rows.filter(|r| !out(r)).collect())
}

/// A readable key's hash, 0 for the others.
#[inline]
fn of(valid: bool, hash: impl FnOnce() -> u64) -> u64 {
    if valid { hash() } else { 0 }
}

/// Each row's key hash; 0 for a key that is null or cannot be read (0 routes to shard 0).
pub(super) fn hashes(batch: &RecordBatch, keys: &[(&str, &Ty)]) -> Vec<u64> {
    let rows = batch.num_rows();
    let arrays: Option<Vec<&dyn Array>> =
        keys.iter().map(|(name, _)| batch.column_by_name(name).map(|a| a.as_ref())).collect();
    let Some(arrays) = arrays else { return vec![0; rows] };
    if let ([a], [(_, ty)]) = (arrays.as_slice(), keys) {
        match (ty, a.data_type()) {
            (Ty::I64, DataType::Int64) => {
                let p = a.as_primitive::<Int64Type>();
                return (0..rows).map(|r| of(p.is_valid(r), || key_hash(KeyRef::I64(p.value(r))))).collect();
            }
            (Ty::String, DataType::Utf8) => {
                let s = a.as_string::<i32>();
                return (0..rows).map(|r| of(s.is_valid(r), || key_hash(KeyRef::Str(s.value(r))))).collect();
            }
            (Ty::String, DataType::LargeUtf8) => {
                let s = a.as_string::<i64>();
                return (0..rows).map(|r| of(s.is_valid(r), || key_hash(KeyRef::Str(s.value(r))))).collect();
            }
            (Ty::String, DataType::Utf8View) => {
                let s = a.as_string_view();
                return (0..rows).map(|r| of(s.is_valid(r), || key_hash(KeyRef::Str(s.value(r))))).collect();
            }
            _ => {}
        }
    }
    // Other keys: decoded cell by cell as the row decoder does.
    let mut key = Vec::with_capacity(keys.len());
    (0..rows)
        .map(|r| {
            key.clear();
            for (a, (_, ty)) in arrays.iter().zip(keys) {
                match crate::operators::decode::cell_of(*a, r, ty) {
                    Some(Value::Null) | None => break,
                    Some(v) => key.push(v),
                }
            }
            of(key.len() == keys.len(), || key_hash(KeyRef::Values(&key)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn a_read_range_takes_the_rows_inside_it_and_those_whose_time_does_not_read() {
        use arrow::array::TimestampMillisecondArray;
        let ts = TimestampMillisecondArray::from(vec![Some(5), Some(10), None, Some(11), Some(20), Some(21)]);
        let schema = Arc::new(Schema::new(vec![Field::new("ts", ts.data_type().clone(), true)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(ts)]).unwrap();
        assert_eq!(in_range(&batch, "ts", (10, 20)), Some(vec![2, 3, 4]), "(10, 20]: the null time stays");
        assert_eq!(in_range(&batch, "ts", (4, 21)), None, "every row inside: no list");
        assert_eq!(in_range(&batch, "ts", (30, 40)), Some(vec![2]), "only the unreadable time");
        assert_eq!(in_range(&batch, "ts", (i64::MIN, i64::MAX)), None, "unbounded");
        assert_eq!(in_range(&batch, "no such column", (10, 20)), None, "left to the shards");
    }

    #[test]
    fn a_key_routes_the_same_from_a_batch_and_from_its_values() {
        let ints: Vec<i64> = (0..500).map(|i| i * 7919 - 1000).collect();
        let texts: Vec<String> = (0..500).map(|i| format!("user-{i}")).collect();
        let schema =
            Arc::new(Schema::new(vec![Field::new("i", DataType::Int64, true), Field::new("s", DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ints.clone())),
                Arc::new(StringArray::from(texts.iter().map(String::as_str).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        for n in [2, 3, 5] {
            type Case<'a> = (&'a [(&'a str, &'a Ty)], Box<dyn Fn(usize) -> Vec<Value> + 'a>);
            let cases: [Case<'_>; 3] = [
                (&[("i", &Ty::I64)], Box::new(|r| vec![Value::I64(ints[r])])),
                (&[("s", &Ty::String)], Box::new(|r| vec![Value::from(texts[r].as_str())])),
                (
                    &[("s", &Ty::String), ("i", &Ty::I64)],
                    Box::new(|r| vec![Value::from(texts[r].as_str()), Value::I64(ints[r])]),
                ),
            ];
            for (keys, values) in cases {
                let shards = split(&batch, keys, None, n);
                assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), 500);
                assert!(shards.iter().all(|s| s.len() > 500 / n / 2), "{n} shards: {:?}", shards.iter().map(Vec::len));
                for (s, rows) in shards.iter().enumerate() {
                    assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows in order");
                    for &r in rows {
                        assert_eq!(shard_of(&values(r as usize), n), s);
                    }
                }
            }
        }
    }
}
