//! CSV and NDJSON files in, chunks of typed Arrow batches and rejected lines out: read line
//! by line (row by row), so one bad line is rejected alone with its line number and reason.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use featc::ir::IrSource;

use super::{BATCH_ROWS, History, Rejected, text_schema, text_schema_raw};
use crate::io::time::parse_event_time;

/// The longest line read; a longer one is rejected (cut at this length), not held in memory.
const MAX_LINE: usize = 16 << 20;

/// A CSV file with a header, read record by record.
pub(super) struct CsvReader {
    path: PathBuf,
    reader: csv::Reader<File>,
    /// The source's schema, and each field's position in a record (`None`: not in the header).
    schema: SchemaRef,
    columns: Vec<Option<usize>>,
    width: usize,
}

impl CsvReader {
    pub(super) fn new(path: &Path, file: File, source: &IrSource) -> Result<CsvReader, String> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(file);
        let header = reader.byte_headers().map_err(|e| format!("cannot read the CSV header: {e}"))?.clone();
        let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_owned()).collect();
        let full = text_schema(source);
        // Every declared field, so every file of a source gives one schema (segments of the log
        // hold one); a field the header lacks is null in every event, which decode
        // dead-letters when the field is needed and not nullable.
        let columns = full.fields().iter().map(|f| names.iter().position(|n| n == f.name())).collect();
        Ok(CsvReader { path: path.to_path_buf(), reader, schema: full, columns, width: names.len() })
    }

    /// Reads records into `chunk` until it holds `rows` events; true at the file's end.
    pub(super) fn chunk(&mut self, rows: usize, chunk: &mut History) -> bool {
        let mut record = csv::ByteRecord::new();
        let mut batch = Columns::new(&self.schema);
        let mut read = 0;
        loop {
            if read >= rows {
                chunk.batches.extend(batch.finish(&self.schema, &self.path, &mut chunk.rejected));
                return false;
            }
            if batch.len >= BATCH_ROWS {
                let full = std::mem::replace(&mut batch, Columns::new(&self.schema));
                chunk.batches.extend(full.finish(&self.schema, &self.path, &mut chunk.rejected));
            }
            let line = self.reader.position().line() as usize;
            match self.reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    chunk.rejected.push(reject(&self.path, line, format!("malformed CSV: {e}"), b""));
                    // An I/O error does not move on; stop the file rather than loop.
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        break;
                    }
                    continue;
                }
            }
            let line = record.position().map_or(line, |p| p.line() as usize);
            if record.len() != self.width {
                let why = format!("has {} fields where the header has {}", record.len(), self.width);
                chunk.rejected.push(reject(&self.path, line, why, record.as_slice()));
                continue;
            }
            let cells: Vec<&[u8]> = self.columns.iter().map(|i| i.map_or(&b""[..], |i| &record[i])).collect();
            match batch.push(&self.schema, &cells) {
                Ok(()) => read += 1,
                Err(why) => chunk.rejected.push(reject(&self.path, line, why, &join(&record))),
            }
        }
        chunk.batches.extend(batch.finish(&self.schema, &self.path, &mut chunk.rejected));
        true
    }
}

fn join(record: &csv::ByteRecord) -> Vec<u8> {
    record.iter().collect::<Vec<_>>().join(&b","[..])
}

fn reject(path: &Path, line: usize, reason: String, text: &[u8]) -> Rejected {
    let text = String::from_utf8_lossy(&text[..text.len().min(4096)]).into_owned();
    Rejected { file: path.to_path_buf(), line, reason, text }
}

/// Typed column builders for one batch of CSV records.
struct Columns {
    builders: Vec<Builder>,
    len: usize,
}

enum Builder {
    Bool(BooleanBuilder),
    I64(Int64Builder),
    F64(Float64Builder),
    Ts(TimestampMillisecondBuilder),
    Text(StringBuilder),
}

impl Columns {
    fn new(schema: &Schema) -> Columns {
        let builders = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Boolean => Builder::Bool(BooleanBuilder::new()),
                DataType::Int64 => Builder::I64(Int64Builder::new()),
                DataType::Float64 => Builder::F64(Float64Builder::new()),
                DataType::Timestamp(..) => Builder::Ts(TimestampMillisecondBuilder::new()),
                _ => Builder::Text(StringBuilder::new()),
            })
            .collect();
        Columns { builders, len: 0 }
    }

    /// Appends one record, or says which value does not fit (and appends nothing).
    fn push(&mut self, schema: &Schema, cells: &[&[u8]]) -> Result<(), String> {
        // Parse every cell first, so a bad one leaves the builders untouched.
        let mut parsed = Vec::with_capacity(cells.len());
        for (field, cell) in schema.fields().iter().zip(cells) {
            let text = std::str::from_utf8(cell).map_err(|_| format!("field `{}` is not valid UTF-8", field.name()))?;
            let text = text.trim();
            let bad = |ty: &str| format!("field `{}`: `{}` is not {ty}", field.name(), shorten(text));
            parsed.push(match field.data_type() {
                _ if text.is_empty() => Cell::Null,
                DataType::Boolean => Cell::Bool(parse_bool(text).ok_or_else(|| bad("a bool"))?),
                DataType::Int64 => Cell::I64(text.parse().map_err(|_| bad("an i64"))?),
                DataType::Float64 => Cell::F64(text.parse().map_err(|_| bad("an f64"))?),
                DataType::Timestamp(..) => {
                    Cell::Ts(parse_event_time(text).ok_or_else(|| bad("an RFC 3339 time or epoch milliseconds"))?)
                }
                _ => Cell::Text(text),
            });
        }
        for (builder, cell) in self.builders.iter_mut().zip(parsed) {
            match (builder, cell) {
                (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
                (Builder::I64(b), Cell::I64(v)) => b.append_value(v),
                (Builder::F64(b), Cell::F64(v)) => b.append_value(v),
                (Builder::Ts(b), Cell::Ts(v)) => b.append_value(v),
                (Builder::Text(b), Cell::Text(v)) => b.append_value(v),
                (Builder::Bool(b), _) => b.append_null(),
                (Builder::I64(b), _) => b.append_null(),
                (Builder::F64(b), _) => b.append_null(),
                (Builder::Ts(b), _) => b.append_null(),
                (Builder::Text(b), _) => b.append_null(),
            }
        }
        self.len += 1;
        Ok(())
    }

    fn finish(self, schema: &SchemaRef, path: &Path, rejected: &mut Vec<Rejected>) -> Option<RecordBatch> {
        if self.len == 0 {
            return None;
        }
        let arrays: Vec<ArrayRef> = self
            .builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Bool(mut b) => Arc::new(b.finish()),
                    Builder::I64(mut b) => Arc::new(b.finish()),
                    Builder::F64(mut b) => Arc::new(b.finish()),
                    Builder::Ts(mut b) => Arc::new(b.finish()),
                    Builder::Text(mut b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(self.len));
        match RecordBatch::try_new_with_options(schema.clone(), arrays, &options) {
            Ok(batch) => Some(batch),
            Err(e) => {
                rejected.push(reject(path, 0, format!("cannot build a batch: {e}"), b""));
                None
            }
        }
    }
}

enum Cell<'a> {
    Null,
    Bool(bool),
    I64(i64),
    F64(f64),
    Ts(i64),
    Text(&'a str),
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" => Some(true),
        "false" | "f" | "0" => Some(false),
        _ => None,
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

/// An NDJSON file, read line by line.
pub(super) struct NdjsonReader {
    path: PathBuf,
    reader: BufReader<File>,
    json: JsonSchema,
    line: usize,
}

impl NdjsonReader {
    pub(super) fn new(path: &Path, file: File, source: &IrSource) -> NdjsonReader {
        NdjsonReader { path: path.to_path_buf(), reader: BufReader::new(file), json: JsonSchema::new(source), line: 0 }
    }

    /// Reads lines into `chunk` until it holds `rows` events; true at the file's end.
    pub(super) fn chunk(&mut self, rows: usize, chunk: &mut History) -> bool {
        let mut values: Vec<(usize, String, serde_json::Value)> = Vec::new();
        let mut done = false;
        let mut buf = Vec::new();
        while values.len() < rows.min(BATCH_ROWS * 16) {
            buf.clear();
            let read = (&mut self.reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut buf);
            match read {
                Ok(0) => {
                    done = true;
                    break;
                }
                Ok(_) => self.line += 1,
                Err(e) => {
                    chunk.rejected.push(reject(&self.path, self.line + 1, format!("cannot read the file: {e}"), b""));
                    done = true;
                    break;
                }
            }
            if buf.len() > MAX_LINE {
                chunk.rejected.push(reject(&self.path, self.line, format!("longer than {MAX_LINE} bytes"), &buf));
                // Skip to the end of this line.
                if !buf.ends_with(b"\n") {
                    let _ = self.reader.skip_until(b'\n');
                }
                continue;
            }
            let Ok(text) = std::str::from_utf8(&buf) else {
                chunk.rejected.push(reject(&self.path, self.line, "not valid UTF-8".to_owned(), &buf));
                continue;
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) if v.is_object() => values.push((self.line, text.to_owned(), v)),
                Ok(_) => chunk.rejected.push(reject(&self.path, self.line, "not a JSON object".to_owned(), &buf)),
                Err(e) => chunk.rejected.push(reject(&self.path, self.line, format!("malformed JSON: {e}"), &buf)),
            }
        }
        for part in values.chunks(BATCH_ROWS) {
            self.json.decode(&self.path, part, chunk);
        }
        done
    }
}

/// The schema JSON events are decoded with (times as text), and the names of the time fields:
/// NDJSON files and Kafka payloads decode alike.
#[derive(Debug, Clone)]
pub(crate) struct JsonSchema {
    schema: SchemaRef,
    times: Vec<String>,
}

impl JsonSchema {
    pub(crate) fn new(source: &IrSource) -> JsonSchema {
        let times = text_schema(source)
            .fields()
            .iter()
            .filter(|f| matches!(f.data_type(), DataType::Timestamp(..)))
            .map(|f| f.name().clone())
            .collect();
        JsonSchema { schema: text_schema_raw(source), times }
    }

    /// Events as bytes, each with its number (`line`: a line or an offset), in; typed batches
    /// and the rejected (not UTF-8, not a JSON object, not fitting the schema) out, into
    /// `chunk`. `path` names where they came from.
    pub(crate) fn decode_bytes(&self, path: &Path, events: &[(usize, &[u8])], chunk: &mut History) {
        let mut values = Vec::with_capacity(events.len());
        for (line, bytes) in events {
            let Ok(text) = std::str::from_utf8(bytes) else {
                chunk.rejected.push(reject(path, *line, "not valid UTF-8".to_owned(), bytes));
                continue;
            };
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) if v.is_object() => values.push((*line, text.to_owned(), v)),
                Ok(_) => chunk.rejected.push(reject(path, *line, "not a JSON object".to_owned(), bytes)),
                Err(e) => chunk.rejected.push(reject(path, *line, format!("malformed JSON: {e}"), bytes)),
            }
        }
        for part in values.chunks(BATCH_ROWS) {
            self.decode(path, part, chunk);
        }
    }

    /// Decodes JSON objects into a batch; a value that does not fit the schema is found and
    /// rejected alone.
    fn decode(&self, path: &Path, part: &[(usize, String, serde_json::Value)], chunk: &mut History) {
        let all: Vec<&serde_json::Value> = part.iter().map(|(_, _, v)| v).collect();
        if let Ok(batch) = decode(&self.schema, &all) {
            let rows: Vec<&(usize, String, serde_json::Value)> = part.iter().collect();
            self.push_timed(path, batch, &rows, chunk);
            return;
        }
        let mut good = Vec::with_capacity(part.len());
        for row in part {
            let (line, text, value) = row;
            match decode(&self.schema, std::slice::from_ref(&value)) {
                Ok(_) => good.push(row),
                Err(e) => {
                    chunk.rejected.push(reject(path, *line, format!("does not fit the schema: {e}"), text.as_bytes()))
                }
            }
        }
        let values: Vec<&serde_json::Value> = good.iter().map(|(_, _, v)| v).collect();
        match decode(&self.schema, &values) {
            Ok(batch) => self.push_timed(path, batch, &good, chunk),
            Err(e) => chunk.rejected.push(reject(path, 0, format!("cannot build a batch: {e}"), b"")),
        }
    }

    /// Parses the batch's time columns (text) to milliseconds; a row whose time is not one is
    /// rejected with its line.
    fn push_timed(
        &self,
        path: &Path,
        batch: Option<RecordBatch>,
        rows: &[&(usize, String, serde_json::Value)],
        chunk: &mut History,
    ) {
        let Some(batch) = batch else { return };
        let mut keep = vec![true; batch.num_rows()];
        let mut columns = Vec::with_capacity(batch.num_columns());
        let mut fields = Vec::with_capacity(batch.num_columns());
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if !self.times.contains(field.name()) {
                columns.push(column.clone());
                fields.push(field.as_ref().clone());
                continue;
            }
            let text = column.as_string::<i32>();
            let mut ms = TimestampMillisecondBuilder::with_capacity(text.len());
            for (r, value) in text.iter().enumerate() {
                match value.map(|t| (t, parse_event_time(t))) {
                    None => ms.append_null(),
                    Some((_, Some(v))) => ms.append_value(v),
                    Some((t, None)) => {
                        if keep[r] {
                            let (line, raw, _) = rows[r];
                            let why = format!(
                                "field `{}`: `{}` is not an RFC 3339 time or epoch milliseconds",
                                field.name(),
                                shorten(t)
                            );
                            chunk.rejected.push(reject(path, *line, why, raw.as_bytes()));
                        }
                        keep[r] = false;
                        ms.append_null();
                    }
                }
            }
            columns.push(Arc::new(ms.finish()));
            fields.push(Field::new(field.name(), DataType::Timestamp(TimeUnit::Millisecond, None), true));
        }
        let typed = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .and_then(|b| arrow::compute::filter_record_batch(&b, &BooleanArray::from(keep)));
        match typed {
            Ok(b) if b.num_rows() > 0 => chunk.batches.push(b),
            Ok(_) => {}
            Err(e) => chunk.rejected.push(reject(path, 0, format!("cannot build a batch: {e}"), b"")),
        }
    }
}

/// The decoder reports a value that does not fit the schema when it flushes.
fn decode(schema: &SchemaRef, values: &[&serde_json::Value]) -> Result<Option<RecordBatch>, String> {
    let mut d = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(values.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    d.serialize(values).map_err(|e| e.to_string())?;
    d.flush().map_err(|e| e.to_string())
}
