//! A spine of (key, time[, label, ...]) rows and the history in, a training set out: each spine
//! row with every feature of the groups keyed by its key columns, as of its time, from the
//! events at or before that time only (no leakage).
//!
//! One sweep per group and shard, not a lookup per row: the history is read once (the batch
//! layer's DataFusion read, up to the latest spine time); each shard of a group sorts its own
//! keys' events and its own keys' spine rows by time, takes events until the next spine time,
//! then answers the spine rows at that time (`GroupRuntime::sweep_history`), the shards on a
//! core each. Events at the spine row's time count (as of `t` is `ts <= t`). Sorted, no event
//! is late, as in the batch layer.

use std::path::Path;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use featc::ir::FeatureIr;
use featc::ir::Ty;

use crate::operators::decode::cell_of;
use crate::operators::group::{GroupRuntime, Probe};
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
    let until = times.iter().copied().max().unwrap_or(i64::MIN);

    // vectors[k][r]: the features of keyed group k for spine row r.
    let mut vectors: Vec<Vec<Vec<Value>>> = vec![Vec::new(); keyed.len()];
    for source in 0..ir.sources.len() {
        let mine: Vec<usize> = (0..keyed.len()).filter(|&k| ir.groups[keyed[k].group].source == source).collect();
        if mine.is_empty() {
            continue;
        }
        let readers = batch::readers(ir, source);
        // The history read once; each group's shards sort their keys' events and answer their
        // keys' spine rows, a shard per core.
        let (batches, _) = batch::read_history(ir, source, project_dir, until, progress)?;
        for &k in &mine {
            let gi = keyed[k].group;
            let fields = readers.iter().find(|(g, _)| *g == gi).map(|(_, f)| f.clone()).unwrap_or_default();
            let mut group = GroupRuntime::new(ir, &ir.groups[gi])?;
            let probes: Vec<Probe<'_>> =
                times.iter().zip(&keyed[k].keys).map(|(t, key)| (*t, key.as_slice())).collect();
            vectors[k] = group.sweep_history(&batches, batch::TS, &fields, &probes)?;
        }
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
