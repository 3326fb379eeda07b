//! A source's history binding (files glob and format) in, Arrow record batches out: Parquet,
//! CSV with a header, or NDJSON, read with the source's declared schema.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use featc::ir::FileFormat;
use featc::ir::IrSource;
use featc::ir::Ty;

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

/// A line of a text file that could not become an event, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
    pub text: String,
}

/// The events of a source's history, and the lines that could not be read as events.
#[derive(Debug, Default)]
pub struct History {
    pub batches: Vec<RecordBatch>,
    pub rejected: Vec<Rejected>,
}

/// Reads every file of a source's history. A malformed NDJSON line is rejected alone, with its
/// reason; the other lines of the file are read.
pub fn read(base: &Path, source: &IrSource) -> Result<History, String> {
    let Some(history) = &source.history else { return Ok(History::default()) };
    let mut out = History::default();
    for path in files(base, &history.glob)? {
        if history.format == FileFormat::Ndjson {
            read_ndjson(&path, source, &mut out)?;
            continue;
        }
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
            FileFormat::Ndjson => continue,
        };
        for batch in read {
            out.batches.push(batch.map_err(|e| context(&e))?);
        }
    }
    Ok(out)
}

/// NDJSON, line by line: a line that is not JSON, or whose values do not fit the schema, is
/// rejected with its reason and line number.
fn read_ndjson(path: &Path, source: &IrSource, out: &mut History) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let schema = text_schema(source);
    let decoder = || {
        arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(BATCH_ROWS)
            .with_coerce_primitive(true)
            .build_decoder()
            .map_err(|e| e.to_string())
    };
    let reject = |line: usize, reason: String, text: &str| Rejected {
        file: path.to_path_buf(),
        line,
        reason,
        text: text.to_owned(),
    };
    let mut rows: Vec<(usize, &str, serde_json::Value)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => rows.push((i + 1, line, v)),
            Ok(_) => out.rejected.push(reject(i + 1, "not a JSON object".to_owned(), line)),
            Err(e) => out.rejected.push(reject(i + 1, format!("malformed JSON: {e}"), line)),
        }
    }
    // The decoder reports a value that does not fit the schema when it flushes.
    let decode = |values: &[&serde_json::Value]| -> Result<Option<RecordBatch>, String> {
        let mut d = decoder()?;
        d.serialize(values).map_err(|e| e.to_string())?;
        d.flush().map_err(|e| e.to_string())
    };
    for chunk in rows.chunks(BATCH_ROWS) {
        let values: Vec<&serde_json::Value> = chunk.iter().map(|(_, _, v)| v).collect();
        if let Ok(batch) = decode(&values) {
            out.batches.extend(batch);
            continue;
        }
        // Some row does not fit the schema: find it, keep the others.
        let mut good = Vec::with_capacity(chunk.len());
        for (line, text, value) in chunk {
            match decode(std::slice::from_ref(&value)) {
                Ok(_) => good.push(value),
                Err(e) => out.rejected.push(reject(*line, format!("does not fit the schema: {e}"), text)),
            }
        }
        out.batches.extend(decode(&good)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use featc::ir::HistoryFiles;
    use featc::ir::IrField;
    use featc::ir::{Ty, Type};

    #[test]
    fn a_malformed_ndjson_line_is_rejected_alone() {
        let dir = std::env::temp_dir().join(format!("featc-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("events.ndjson"),
            "{\"k\": \"a\", \"x\": 1.5, \"ts\": \"2024-01-01T00:00:00Z\"}\n\
             {\"k\": \"b\", \"x\": \n\
             [1, 2]\n\
             {\"k\": \"c\", \"x\": {\"nested\": true}, \"ts\": \"2024-01-01T00:00:01Z\"}\n\
             {\"k\": \"d\", \"x\": 2, \"ts\": \"2024-01-01T00:00:02Z\"}\n",
        )
        .unwrap();
        let field = |name: &str, ty| IrField { name: name.to_owned(), ty: Type::new(ty, true) };
        let source = IrSource {
            name: "s".to_owned(),
            fields: vec![field("k", Ty::String), field("x", Ty::F64), field("ts", Ty::Timestamp)],
            event_time: "ts".to_owned(),
            lateness_ms: 0,
            history: Some(HistoryFiles { glob: "events.ndjson".to_owned(), format: FileFormat::Ndjson }),
            topic: "s".to_owned(),
        };
        let history = read(&dir, &source).unwrap();
        let rows: usize = history.batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 2, "a and d");
        let lines: Vec<usize> = history.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert!(history.rejected[0].reason.starts_with("malformed JSON"), "{:?}", history.rejected[0]);
        assert_eq!(history.rejected[1].reason, "not a JSON object");
        assert!(history.rejected[2].reason.starts_with("does not fit the schema"), "{:?}", history.rejected[2]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
