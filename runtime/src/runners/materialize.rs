//! Every key's feature vector of a group as of a time in, Arrow record batches of them out (runs
//! built on every core), written as Parquet, CSV or a Delta table: `featc materialize`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::IrGroup;
use featc::ir::{Ty, Type};

use crate::runners::kappa::json_value;
use crate::value::Value;

/// The file formats a snapshot is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
    /// A Delta Lake table (a folder), appended one commit per write.
    Delta,
}

/// A column of values of one declared type. Lists are written as JSON text, which both
/// formats hold.
pub(crate) enum Column {
    Bool(BooleanBuilder),
    I64(Int64Builder),
    F64(Float64Builder),
    Str(StringBuilder),
    Ts(TimestampMillisecondBuilder),
}

impl Column {
    pub(crate) fn new(ty: &Ty) -> (Column, DataType) {
        match ty {
            Ty::Bool => (Column::Bool(BooleanBuilder::new()), DataType::Boolean),
            Ty::I64 => (Column::I64(Int64Builder::new()), DataType::Int64),
            Ty::F64 => (Column::F64(Float64Builder::new()), DataType::Float64),
            Ty::Timestamp => (
                Column::Ts(TimestampMillisecondBuilder::new().with_timezone("+00:00")),
                DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            ),
            Ty::String | Ty::List(_) | Ty::Null => (Column::Str(StringBuilder::new()), DataType::Utf8),
        }
    }

    pub(crate) fn push(&mut self, v: &Value) {
        match (self, v) {
            (Column::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (Column::I64(b), Value::I64(x)) => b.append_value(*x),
            (Column::F64(b), Value::F64(x)) => b.append_value(*x),
            (Column::F64(b), Value::I64(x)) => b.append_value(*x as f64),
            (Column::Ts(b), Value::Ts(x) | Value::I64(x)) => b.append_value(*x),
            (Column::Str(b), Value::Str(s)) => b.append_value(s),
            (Column::Str(b), Value::List(_)) => b.append_value(json_value(v).to_string()),
            (Column::Bool(b), _) => b.append_null(),
            (Column::I64(b), _) => b.append_null(),
            (Column::F64(b), _) => b.append_null(),
            (Column::Ts(b), _) => b.append_null(),
            (Column::Str(b), _) => b.append_null(),
        }
    }

    pub(crate) fn finish(self) -> ArrayRef {
        match self {
            Column::Bool(mut b) => Arc::new(b.finish()),
            Column::I64(mut b) => Arc::new(b.finish()),
            Column::F64(mut b) => Arc::new(b.finish()),
            Column::Str(mut b) => Arc::new(b.finish()),
            Column::Ts(mut b) => Arc::new(b.finish()),
        }
    }
}

/// The type of each feature of a group, in output order.
pub(crate) fn output_types(group: &IrGroup) -> Vec<Type> {
    group
        .outputs
        .iter()
        .map(|name| {
            let aggregate = group.aggregates.iter().find(|a| a.name == *name).map(|a| a.ty.clone());
            let derived = || group.derived.iter().find(|d| d.name == *name).map(|d| d.ty.clone());
            aggregate.or_else(derived).unwrap_or(Type::new(Ty::String, true))
        })
        .collect()
}

/// Every key of `keys` with its feature vector as of `t` (`vectors`, in the keys' order; a key
/// with none is left out): the key columns, `as_of`, then the features. `t` is at or after
/// every key's latest event (see [`crate::runners::kappa::KappaRunner::open_as_of`]). The rows
/// come as runs in order, each built on a core of its own (one empty batch when there are none).
pub fn snapshot(
    group: &IrGroup,
    keys: Vec<Vec<Value>>,
    vectors: Vec<Option<Vec<Value>>>,
    t: i64,
) -> Result<Vec<RecordBatch>, String> {
    /// Fewer rows than this are one run.
    const MIN_RUN: usize = 16_384;
    let rows: Vec<(Vec<Value>, Vec<Value>)> =
        keys.into_iter().zip(vectors).filter_map(|(k, v)| Some(k).zip(v)).collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(rows.len() / MIN_RUN).max(1);
    let schema = snapshot_schema(group);
    if rows.is_empty() {
        return Ok(vec![RecordBatch::new_empty(schema)]);
    }
    // Each run is moved to its thread, which also frees it: a million vectors of values take
    // a while to free.
    let per = rows.len().div_ceil(threads);
    let mut rows = rows.into_iter();
    let runs: Vec<Vec<_>> = (0..threads).map(|_| rows.by_ref().take(per).collect()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| {
                let schema = schema.clone();
                scope.spawn(move || snapshot_rows(group, schema, run, t))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// The columns of a group's snapshot: its keys, `as_of`, then its features.
fn snapshot_schema(group: &IrGroup) -> Arc<Schema> {
    let keys = group.keys.iter().map(|k| Field::new(&k.name, Column::new(&k.ty.ty).1, false));
    let as_of = std::iter::once(Field::new("as_of", Column::new(&Ty::Timestamp).1, false));
    let features =
        group.outputs.iter().zip(output_types(group)).map(|(n, ty)| Field::new(n, Column::new(&ty.ty).1, true));
    Arc::new(Schema::new(keys.chain(as_of).chain(features).collect::<Vec<_>>()))
}

/// A run of a snapshot's rows `(key, vector)` as one batch of `schema`.
fn snapshot_rows(
    group: &IrGroup,
    schema: Arc<Schema>,
    rows: Vec<(Vec<Value>, Vec<Value>)>,
    t: i64,
) -> Result<RecordBatch, String> {
    let types = group.keys.iter().map(|k| k.ty.ty.clone()).chain(std::iter::once(Ty::Timestamp));
    let types = types.chain(output_types(group).into_iter().map(|ty| ty.ty));
    let mut columns: Vec<Column> = types.map(|ty| Column::new(&ty).0).collect();
    let as_of = Value::Ts(t);
    for (key, vector) in &rows {
        let row = key.iter().chain(std::iter::once(&as_of)).chain(vector.iter());
        for (c, v) in columns.iter_mut().zip(row) {
            c.push(v);
        }
    }
    let arrays: Vec<ArrayRef> = columns.into_iter().map(Column::finish).collect();
    RecordBatch::try_new(schema, arrays).map_err(|e| e.to_string())
}

/// Writes a snapshot's batches (one schema, in order) to `path`, durably (a file: written
/// beside it and renamed into place; a Delta table: one commit), with `metadata` where the
/// format holds it: Parquet's key-value metadata (key `featc`, a JSON object) or the Delta
/// commit's commitInfo; CSV holds none (its header is written once). A Delta table gets the
/// batches as `mode` says (a file is always replaced whole). Returns the Delta version written.
pub fn write(
    batches: &[RecordBatch],
    path: &Path,
    format: Format,
    metadata: &serde_json::Map<String, serde_json::Value>,
    mode: crate::io::delta::write::Mode,
) -> Result<Option<u64>, String> {
    let mut bytes = Vec::new();
    match format {
        Format::Parquet => {
            let kv = parquet::file::metadata::KeyValue::new(
                "featc".to_owned(),
                serde_json::Value::Object(metadata.clone()).to_string(),
            );
            let props = parquet::file::properties::WriterProperties::builder().set_key_value_metadata(Some(vec![kv]));
            let schema = batches.first().ok_or("no rows to write")?.schema();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, Some(props.build()))
                .map_err(|e| e.to_string())?;
            for batch in batches {
                w.write(batch).map_err(|e| e.to_string())?;
            }
            w.close().map_err(|e| e.to_string())?;
        }
        Format::Csv => {
            // The header once, before the first batch.
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut bytes);
            for batch in batches {
                w.write(batch).map_err(|e| e.to_string())?;
            }
        }
        Format::Delta => {
            let metadata = metadata.iter().map(|(k, v)| (format!("featc.{k}"), v.clone())).collect();
            return crate::io::delta::write::write(path, batches, &metadata, mode).map(Some);
        }
    }
    crate::io::durable::write_file(path, &bytes)?;
    Ok(None)
}
