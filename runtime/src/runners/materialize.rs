//! A group's state and a time in, one Arrow record batch of every key's feature vector as of
//! that time out, written as Parquet, CSV or a Delta table: `featc materialize`.

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
/// every key's latest event (see [`crate::runners::kappa::KappaRunner::open_as_of`]).
pub fn snapshot(
    group: &IrGroup,
    keys: &[Vec<Value>],
    vectors: Vec<Option<Vec<Value>>>,
    t: i64,
) -> Result<RecordBatch, String> {
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for k in &group.keys {
        let (c, ty) = Column::new(&k.ty.ty);
        fields.push(Field::new(&k.name, ty, false));
        columns.push(c);
    }
    let (c, ty) = Column::new(&Ty::Timestamp);
    fields.push(Field::new("as_of", ty, false));
    columns.push(c);
    for (name, ty) in group.outputs.iter().zip(output_types(group)) {
        let (c, arrow_ty) = Column::new(&ty.ty);
        fields.push(Field::new(name, arrow_ty, true));
        columns.push(c);
    }
    for (key, vector) in keys.iter().zip(vectors) {
        let Some(vector) = vector else { continue };
        let as_of = Value::Ts(t);
        let row = key.iter().chain(std::iter::once(&as_of)).chain(vector.iter());
        for (c, v) in columns.iter_mut().zip(row) {
            c.push(v);
        }
    }
    let arrays: Vec<ArrayRef> = columns.into_iter().map(Column::finish).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
}

/// Writes a snapshot to `path`, durably (a file: written beside it and renamed into place; a
/// Delta table: one commit), with `metadata` where the format holds it: Parquet's key-value
/// metadata (key `featc`, a JSON object) or the Delta commit's commitInfo; CSV holds none.
/// A Delta table gets the batch as `mode` says (a file is always replaced whole). Returns the
/// Delta version written.
pub fn write(
    batch: &RecordBatch,
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
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props.build()))
                .map_err(|e| e.to_string())?;
            w.write(batch).map_err(|e| e.to_string())?;
            w.close().map_err(|e| e.to_string())?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut bytes);
            w.write(batch).map_err(|e| e.to_string())?;
        }
        Format::Delta => {
            let metadata = metadata.iter().map(|(k, v)| (format!("featc.{k}"), v.clone())).collect();
            return crate::io::delta::write::write(path, std::slice::from_ref(batch), &metadata, mode).map(Some);
        }
    }
    crate::io::durable::write_file(path, &bytes)?;
    Ok(None)
}
