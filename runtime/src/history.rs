//! A source's history binding (files glob and format) in, Arrow record batches out: Parquet,
//! CSV with a header, or NDJSON, read with the source's declared schema.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use featc::check::FileFormat;
use featc::ir::IrSource;
use featc::types::Ty;

const BATCH_ROWS: usize = 8192;

/// The files a glob names, relative to `base` (the project folder), sorted.
pub fn files(base: &Path, glob: &str) -> Result<Vec<PathBuf>, String> {
    let pattern = base.join(glob);
    let pattern = pattern.to_string_lossy();
    let mut files: Vec<PathBuf> =
        glob::glob(&pattern).map_err(|e| format!("bad files glob `{glob}`: {e}"))?.filter_map(Result::ok).collect();
    files.sort();
    Ok(files)
}

/// The schema CSV and NDJSON are read with: the declared types, timestamps as text (RFC 3339
/// or epoch milliseconds), which decode parses; every field nullable so bad rows reach decode.
fn text_schema(source: &IrSource) -> SchemaRef {
    Arc::new(Schema::new(
        source
            .fields
            .iter()
            .map(|f| {
                let dt = match f.ty.ty {
                    Ty::Bool => DataType::Boolean,
                    Ty::I64 => DataType::Int64,
                    Ty::F64 => DataType::Float64,
                    _ => DataType::Utf8,
                };
                Field::new(&f.name, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Reads every file of a source's history.
pub fn read(base: &Path, source: &IrSource) -> Result<Vec<RecordBatch>, String> {
    let Some(history) = &source.history else { return Ok(Vec::new()) };
    let mut batches = Vec::new();
    for path in files(base, &history.glob)? {
        let file = File::open(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let context = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let read: Box<dyn Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>>> = match history.format {
            FileFormat::Parquet => Box::new(
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| context(&e))?
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(|e| context(&e))?,
            ),
            FileFormat::Csv => Box::new(
                arrow::csv::ReaderBuilder::new(text_schema(source))
                    .with_header(true)
                    .with_batch_size(BATCH_ROWS)
                    .build(file)
                    .map_err(|e| context(&e))?,
            ),
            FileFormat::Ndjson => Box::new(
                arrow::json::ReaderBuilder::new(text_schema(source))
                    .with_batch_size(BATCH_ROWS)
                    .with_coerce_primitive(true)
                    .build(std::io::BufReader::new(file))
                    .map_err(|e| context(&e))?,
            ),
        };
        for batch in read {
            batches.push(batch.map_err(|e| context(&e))?);
        }
    }
    Ok(batches)
}
