//! A spine of (key, time[, label, ...]) rows and the history in, a training set out: each spine
//! row with every feature of the groups keyed by its key columns, as of its time, from the
//! events at or before that time only (no leakage).
//!
//! One sweep per source, not a lookup per row: the history is read in event-time order (the
//! batch layer's DataFusion read, up to the latest spine time) and the spine is sorted by time;
//! the stream operators take events until the next spine time, then answer the spine rows at
//! that time. Events at the spine row's time count (as of `t` is `ts <= t`). Sorted, no event is
//! late, as in the batch layer.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{Field, Schema, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use featc::ir::FeatureIr;
use featc::ir::Ty;

use crate::operators::decode::cell_of;
use crate::operators::group::GroupRuntime;
use crate::runners::lambda::batch;
use crate::runners::materialize::{Column, output_types};
use crate::value::Value;

/// Which groups the spine's columns key, and each row's key for them.
struct Keyed {
    group: usize,
    keys: Vec<Vec<Value>>,
}

/// The training set for `spine`, whose `time_column` holds each row's time (a timestamp, epoch
/// milliseconds or RFC 3339 text). `progress` is told the events read.
pub fn training_set(
    ir: &FeatureIr,
    project_dir: &Path,
    spine: &RecordBatch,
    time_column: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<RecordBatch, String> {
    let times_col =
        spine.column_by_name(time_column).ok_or_else(|| format!("the spine has no column `{time_column}`"))?;
    let mut times = Vec::with_capacity(spine.num_rows());
    for r in 0..spine.num_rows() {
        match cell_of(times_col.as_ref(), r, &Ty::Timestamp) {
            Some(Value::Ts(t)) => times.push(t),
            _ => return Err(format!("spine row {}: `{time_column}` is not a time", r + 1)),
        }
    }
    let mut keyed = Vec::new();
    for (gi, g) in ir.groups.iter().enumerate() {
        let Some(columns) = g.keys.iter().map(|k| spine.column_by_name(&k.name)).collect::<Option<Vec<_>>>() else {
            continue;
        };
        let keys = (0..spine.num_rows())
            .map(|r| {
                g.keys
                    .iter()
                    .zip(&columns)
                    .map(|(k, c)| match cell_of(c.as_ref(), r, &k.ty.ty) {
                        Some(v) if !v.is_null() => Ok(v),
                        _ => Err(format!("spine row {}: key `{}` is not a {}", r + 1, k.name, k.ty.ty)),
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        keyed.push(Keyed { group: gi, keys });
    }
    if keyed.is_empty() {
        return Err("no feature group is keyed by the spine's columns".to_owned());
    }
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&r| times[r]);
    let until = times.iter().copied().max().unwrap_or(i64::MIN);

    // vectors[k][r]: the features of keyed group k for spine row r.
    let mut vectors: Vec<Vec<Vec<Value>>> = keyed.iter().map(|_| vec![Vec::new(); times.len()]).collect();
    for source in 0..ir.sources.len() {
        let mine: Vec<usize> = (0..keyed.len()).filter(|&k| ir.groups[keyed[k].group].source == source).collect();
        if mine.is_empty() {
            continue;
        }
        let readers = batch::readers(ir, source);
        // A lookup per spine row, which the sliding windows' running totals answer without
        // merging every pane.
        let mut groups: Vec<GroupRuntime> =
            mine.iter().map(|&k| GroupRuntime::new(ir, &ir.groups[keyed[k].group])).collect::<Result<_, _>>()?;
        let fields: Vec<_> = mine
            .iter()
            .map(|&k| readers.iter().find(|(gi, _)| *gi == keyed[k].group).map(|(_, f)| f.clone()).unwrap_or_default())
            .collect();
        let mut next = 0;
        let mut answer = |groups: &[GroupRuntime], until: Option<i64>, next: &mut usize| -> Result<(), String> {
            while let Some(&r) = order.get(*next) {
                if until.is_some_and(|u| times[r] >= u) {
                    break;
                }
                for (g, &k) in groups.iter().zip(&mine) {
                    let key = &keyed[k].keys[r];
                    vectors[k][r] = match g.lookup(key, times[r])? {
                        Some(v) => v,
                        None => g.finish(&g.empty_partials()),
                    };
                }
                *next += 1;
            }
            Ok(())
        };
        let mut failed = None;
        batch::sorted_history(ir, source, project_dir, until, &mut |b| {
            if failed.is_some() {
                return;
            }
            let ts = b.column_by_name(batch::TS).map(|a| a.as_primitive::<TimestampMillisecondType>().clone());
            let mut start = 0;
            let n = b.num_rows();
            let feed = |groups: &mut [GroupRuntime], from: usize, to: usize| {
                if to > from {
                    let part = b.slice(from, to - from);
                    for (g, f) in groups.iter_mut().zip(&fields) {
                        g.process_batch(&part, f);
                    }
                }
            };
            for r in 0..n {
                let Some(t) = ts.as_ref().filter(|a| a.is_valid(r)).map(|a| a.value(r)) else { continue };
                // Spine rows strictly before this event's time are answered before it.
                if order.get(next).is_some_and(|&s| times[s] < t) {
                    feed(&mut groups, start, r);
                    start = r;
                    if let Err(e) = answer(&groups, Some(t), &mut next) {
                        failed = Some(e);
                        return;
                    }
                }
            }
            feed(&mut groups, start, n);
            progress(n as u64);
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        answer(&groups, None, &mut next)?;
    }

    // The spine's columns, then each group's features (prefixed by the group when two groups
    // share a feature name).
    let mut fields: Vec<Field> = spine.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut arrays: Vec<ArrayRef> = spine.columns().to_vec();
    let all: Vec<&String> = keyed.iter().flat_map(|k| &ir.groups[k.group].outputs).collect();
    for (k, rows) in keyed.iter().zip(&vectors) {
        let g = &ir.groups[k.group];
        for (i, (name, ty)) in g.outputs.iter().zip(output_types(g)).enumerate() {
            let (mut column, dt) = Column::new(&ty.ty);
            rows.iter().for_each(|v| column.push(v.get(i).unwrap_or(&Value::Null)));
            let shared = all.iter().filter(|n| **n == name).count() > 1 || spine.column_by_name(name).is_some();
            fields.push(Field::new(if shared { format!("{}.{name}", g.name) } else { name.clone() }, dt, true));
            arrays.push(column.finish());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
}

/// Reads a spine file: Parquet, or CSV with a header (types inferred), as one batch.
pub fn read_spine(path: &Path) -> Result<RecordBatch, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let context = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let batches: Vec<RecordBatch> = if path.extension().is_some_and(|e| e == "csv") {
        let (schema, _) = arrow::csv::reader::Format::default()
            .with_header(true)
            .infer_schema(std::fs::File::open(path).map_err(|e| context(&e))?, Some(10_000))
            .map_err(|e| context(&e))?;
        arrow::csv::ReaderBuilder::new(Arc::new(schema))
            .with_header(true)
            .build(file)
            .map_err(|e| context(&e))?
            .collect::<Result<_, _>>()
            .map_err(|e| context(&e))?
    } else {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| context(&e))?
            .build()
            .map_err(|e| context(&e))?
            .collect::<Result<_, _>>()
            .map_err(|e| context(&e))?
    };
    let schema = batches.first().map(|b| b.schema()).ok_or_else(|| format!("{}: no rows", path.display()))?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| context(&e))
}
