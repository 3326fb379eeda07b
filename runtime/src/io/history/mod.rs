//! A source's history binding (files glob and format) in, Arrow record batches out, a chunk at
//! a time: Parquet, CSV with a header, or NDJSON, read with the source's declared schema. No
//! input stops a read: a line, a row or a whole file that cannot be events is rejected with
//! its reason, and the rest is read.

mod text;

pub(crate) use text::JsonSchema;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use featc::ir::FileFormat;
use featc::ir::IrSource;
use featc::ir::Ty;

use crate::io::guarded;

/// The rows of a batch read at once.
pub(crate) const BATCH_ROWS: usize = 8192;

/// The files a glob names, relative to `base` (the project folder), sorted.
pub fn files(base: &Path, glob: &str) -> Result<Vec<PathBuf>, String> {
    let pattern = base.join(glob);
    let pattern = pattern.to_string_lossy();
    let mut files: Vec<PathBuf> =
        glob::glob(&pattern).map_err(|e| format!("bad files glob `{glob}`: {e}"))?.filter_map(Result::ok).collect();
    files.sort();
    Ok(files)
}

/// The schema CSV and NDJSON events get: the declared types, timestamps in milliseconds
/// (written as RFC 3339 or epoch milliseconds, parsed by the readers, so the batch layer and
/// the stream read one time from one text); every field nullable so nulls reach decode.
fn text_schema(source: &IrSource) -> SchemaRef {
    let fields = text_schema_raw(source)
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 if is_time(source, f.name()) => {
                Field::new(f.name(), DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None), true)
            }
            _ => f.as_ref().clone(),
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

fn is_time(source: &IrSource, name: &str) -> bool {
    source.fields.iter().any(|f| f.name == name && f.ty.ty == Ty::Timestamp)
}

/// The schema text is decoded with, timestamps still text.
fn text_schema_raw(source: &IrSource) -> SchemaRef {
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

/// A line (or a whole file, line 0) that could not become an event, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
    pub text: String,
}

/// Events of a source's history, and the lines that could not be read as events.
#[derive(Debug, Default)]
pub struct History {
    pub batches: Vec<RecordBatch>,
    pub rejected: Vec<Rejected>,
}

impl History {
    /// The events it holds.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Reads every file of a source's history at once (for small inputs: one file given to
/// `featc log append`, tests). [`chunks`] reads a history of any size.
pub fn read(base: &Path, source: &IrSource) -> Result<History, String> {
    let mut out = History::default();
    for chunk in chunks(base, source, usize::MAX)? {
        let chunk = chunk?;
        out.batches.extend(chunk.batches);
        out.rejected.extend(chunk.rejected);
    }
    Ok(out)
}

/// The events of a source's history files in order, in chunks of about `rows` events (a
/// chunk never spans two files), so a history of any size is read in bounded memory.
pub fn chunks(base: &Path, source: &IrSource, rows: usize) -> Result<Chunks, String> {
    let files = data_files(base, source)?;
    Ok(Chunks { source: source.clone(), files: files.into_iter(), current: None, rows: rows.max(1), only: None })
}

/// [`chunks`] of Parquet files reading one column only (`column`, a top-level field); text
/// files are read whole, as they must be parsed anyway. For a scan of the event times.
pub fn column_chunks(base: &Path, source: &IrSource, column: &str, rows: usize) -> Result<Chunks, String> {
    let mut chunks = chunks(base, source, rows)?;
    chunks.only = Some(column.to_owned());
    Ok(chunks)
}

/// The files of a source's history and the format each is read in: those its glob names, or
/// the Parquet files of its Delta table as of the binding's pin (the latest version when none),
/// the table's schema checked against the spec first.
pub fn data_files(base: &Path, source: &IrSource) -> Result<Vec<(PathBuf, FileFormat)>, String> {
    Ok(match &source.history {
        Some(h) if h.format == FileFormat::Delta => {
            let (files, _) = crate::io::delta::history_files(base, source)?;
            files.into_iter().map(|f| (f, FileFormat::Parquet)).collect()
        }
        Some(h) => files(base, &h.glob)?.into_iter().map(|f| (f, h.format)).collect(),
        None => Vec::new(),
    })
}

/// The events of one file, as [`chunks`] reads them: for `featc log append`.
pub fn file_chunks(path: &Path, format: FileFormat, source: &IrSource, rows: usize) -> Chunks {
    let files = vec![(path.to_path_buf(), format)];
    Chunks { source: source.clone(), files: files.into_iter(), current: None, rows: rows.max(1), only: None }
}

/// About how many events a source's history holds, without reading it: Parquet's row counts,
/// a text file's lines. For progress bars.
pub fn estimate_rows(base: &Path, source: &IrSource) -> u64 {
    let Ok(files) = data_files(base, source) else { return 0 };
    files
        .iter()
        .map(|(path, format)| match format {
            FileFormat::Parquet | FileFormat::Delta => File::open(path)
                .ok()
                .and_then(|f| parquet::file::reader::SerializedFileReader::new(f).ok())
                .map_or(0, |r| {
                    use parquet::file::reader::FileReader as _;
                    u64::try_from(r.metadata().file_metadata().num_rows()).unwrap_or(0)
                }),
            FileFormat::Csv | FileFormat::Ndjson => {
                let lines = count_lines(path);
                if *format == FileFormat::Csv { lines.saturating_sub(1) } else { lines }
            }
        })
        .sum()
}

fn count_lines(path: &Path) -> u64 {
    use std::io::Read as _;
    let Ok(mut file) = File::open(path) else { return 0 };
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0;
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
    lines
}

/// The iterator of [`chunks`].
pub struct Chunks {
    source: IrSource,
    files: std::vec::IntoIter<(PathBuf, FileFormat)>,
    current: Option<Reader>,
    rows: usize,
    /// Parquet: the one column to read (see [`column_chunks`]).
    only: Option<String>,
}

impl std::fmt::Debug for Chunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunks").field("source", &self.source.name).finish()
    }
}

/// One open history file.
enum Reader {
    Parquet(PathBuf, parquet::arrow::arrow_reader::ParquetRecordBatchReader),
    Csv(text::CsvReader),
    Ndjson(text::NdjsonReader),
}

impl Iterator for Chunks {
    type Item = Result<History, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(reader) = &mut self.current else {
                let (path, format) = self.files.next()?;
                match open(&path, format, &self.source, self.only.as_deref()) {
                    Ok(reader) => self.current = Some(reader),
                    // A file that cannot be read at all is rejected whole; the others are read.
                    Err(reason) => return Some(Ok(whole_file_rejected(path, reason))),
                }
                continue;
            };
            let mut chunk = History::default();
            let done = match reader {
                Reader::Parquet(path, r) => parquet_chunk(path, r, self.rows, &mut chunk),
                Reader::Csv(r) => r.chunk(self.rows, &mut chunk),
                Reader::Ndjson(r) => r.chunk(self.rows, &mut chunk),
            };
            if done {
                self.current = None;
            }
            if !chunk.batches.is_empty() || !chunk.rejected.is_empty() {
                return Some(Ok(chunk));
            }
        }
    }
}

fn whole_file_rejected(file: PathBuf, reason: String) -> History {
    History { batches: Vec::new(), rejected: vec![Rejected { file, line: 0, reason, text: String::new() }] }
}

fn open(path: &Path, format: FileFormat, source: &IrSource, only: Option<&str>) -> Result<Reader, String> {
    let file = File::open(path).map_err(|e| format!("cannot read the file: {e}"))?;
    Ok(match format {
        // A Delta table's data files are Parquet (`data_files` lists them).
        FileFormat::Parquet | FileFormat::Delta => {
            let reader = guarded("Parquet", || {
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .map(|b| match only.and_then(|column| b.schema().index_of(column).ok()) {
                        // The top-level field of that name (a nested or dotted name is not
                        // matched by prefix), else every column.
                        Some(root) => {
                            let mask = parquet::arrow::ProjectionMask::roots(b.parquet_schema(), [root]);
                            b.with_projection(mask)
                        }
                        None => b,
                    })
                    .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
                    .map_err(|e| format!("not a readable Parquet file: {e}"))
            })??;
            Reader::Parquet(path.to_path_buf(), reader)
        }
        FileFormat::Csv => Reader::Csv(text::CsvReader::new(path, file, source)?),
        FileFormat::Ndjson => Reader::Ndjson(text::NdjsonReader::new(path, file, source)),
    })
}

/// Reads Parquet batches into `chunk` until it holds `rows` events; true at the file's end. A
/// batch that cannot be decoded rejects the rest of the file, with the row it starts at.
fn parquet_chunk(
    path: &Path,
    reader: &mut parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    rows: usize,
    chunk: &mut History,
) -> bool {
    let mut read = 0;
    while read < rows {
        match guarded("Parquet", || reader.next()) {
            Ok(Some(Ok(batch))) => {
                read += batch.num_rows();
                chunk.batches.push(batch);
            }
            Ok(None) => return true,
            Ok(Some(Err(e))) => return reject_rest(path, e.to_string(), chunk),
            Err(e) => return reject_rest(path, e, chunk),
        }
    }
    false
}

fn reject_rest(path: &Path, why: String, chunk: &mut History) -> bool {
    let reason = format!("the rest of the file cannot be read: {why}");
    chunk.rejected.push(Rejected { file: path.to_path_buf(), line: 0, reason, text: String::new() });
    true
}

#[cfg(test)]
mod tests;
