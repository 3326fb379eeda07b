//! A Delta table in, batches of a source's events with their offsets out: the stream of a source
//! whose history is a Delta table (Streamhouse), its commits read in version order, then each
//! new commit as it appears.
//!
//! The table's log fixes the order of its events forever: version by version, within a version
//! the data files in the order its commit adds them, within a file row by row. An event's offset
//! names its version and its row within the version (`version << 32 | row`), so a checkpoint
//! records both, and a restore lists the log from that version on: a restart never reads the
//! commits before it (which a table may have cleaned up since). Offsets are consecutive within
//! a version, and a batch never spans two. Files a commit adds without changing data
//! (compaction) are skipped, as their rows were read from the files they replace; a commit that
//! removes rows (a delete, update or overwrite) stops the stream with an error: a stream
//! follows append-only tables. A commit after the table was opened that changes its schema is
//! checked against the spec (E0800) before any of its rows is read.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::record_batch::RecordBatch;
use featc::ir::IrSource;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use super::Table;
use crate::io::guarded;
use crate::io::history::BATCH_ROWS;
use crate::io::stream::StreamSource;

/// The bits of an offset that hold the row within its version.
const ROW_BITS: u32 = 32;

/// The offset of row `row` of version `version`.
pub fn offset(version: u64, row: u64) -> u64 {
    (version << ROW_BITS) | row
}

/// The version and the row within it of an offset.
pub fn split(offset: u64) -> (u64, u64) {
    (offset >> ROW_BITS, offset & ((1 << ROW_BITS) - 1))
}

/// One data file of the stream: the version that added it, where it is, the row of its version
/// it starts at, and its rows.
#[derive(Debug, Clone)]
struct StreamFile {
    version: u64,
    path: PathBuf,
    first: u64,
    rows: u64,
    /// Its footer, read once when the commit is listed and used again to read the file.
    footer: ArrowReaderMetadata,
}

/// The file being read: its index in `files` and the offset of the next row it gives.
struct OpenFile {
    index: usize,
    next: u64,
    reader: ParquetRecordBatchReader,
}

/// What the stream knows and where it is. Behind a lock: the backlog is asked through `&self`
/// and lists the log, and a Parquet reader is not `Sync`.
#[derive(Default)]
struct Inner {
    /// The data files of the versions listed, in stream order.
    files: Vec<StreamFile>,
    /// The first version listed, when any is.
    listed_from: Option<u64>,
    /// The next commit to list.
    next_version: u64,
    /// The offset of the next event to hand out.
    position: u64,
    open: Option<OpenFile>,
    back: Option<(u64, RecordBatch)>,
}

/// A Delta table as a one-partition stream.
pub struct DeltaSource {
    table: Table,
    source: IrSource,
    names: Vec<String>,
    /// The latest version when the table was opened: commits up to it must exist, and their
    /// schema was checked then.
    opened_at: u64,
    /// The last version read, when the binding pins one (time travel): the stream ends there.
    last: Option<u64>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for DeltaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSource").field("table", &self.table.root()).finish()
    }
}

impl DeltaSource {
    /// Opens the table of `source` (its `files` path, relative to `project_dir`), checking the
    /// schema of the version it will read to against the spec.
    pub fn open(project_dir: &Path, source: &IrSource) -> Result<DeltaSource, String> {
        let table = Table::for_source(project_dir, source)?;
        let pin = source.history.as_ref().and_then(|h| h.pin);
        let last = pin.map(|p| table.version_for(Some(p))).transpose()?;
        let latest = match last {
            Some(v) => v,
            None => table.latest_version()?,
        };
        table.check_schema(source, latest)?;
        Ok(DeltaSource {
            names: vec![format!("delta:{}", table.root().display())],
            table,
            source: source.clone(),
            opened_at: latest,
            last,
            inner: Mutex::new(Inner::default()),
        })
    }

    fn inner(&self) -> Result<std::sync::MutexGuard<'_, Inner>, String> {
        self.inner.lock().map_err(|_| "a Delta stream panicked".to_owned())
    }

    /// Lists the commit `inner.next_version`; false when there is none yet (or the pin ends the
    /// stream before it). A commit's files are added whole or not at all.
    fn extend(&self, inner: &mut Inner) -> Result<bool, String> {
        let version = inner.next_version;
        if self.last.is_some_and(|last| version > last) {
            return Ok(false);
        }
        let Some(commit) = self.table.commit(version)? else {
            if version <= self.opened_at {
                return Err(format!(
                    "Delta table {}: version {version} is no longer in its log (old commits were cleaned \
                     up after a checkpoint), so it cannot be read from there; replay from a later \
                     checkpoint, or raise the table's `delta.logRetentionDuration`",
                    self.table.root().display()
                ));
            }
            return Ok(false);
        };
        if let Some(why) = &commit.rewrites {
            return Err(format!(
                "Delta table {}: version {version} {why}; a stream follows append-only tables (featc \
                 read every version before it; to start over from the rewritten table, remove the \
                 data folder's state)",
                self.table.root().display()
            ));
        }
        if commit.schema_changed && version > self.opened_at {
            self.table.check_commit(&self.source, version)?;
        }
        let mut files = Vec::with_capacity(commit.adds.len());
        let mut first = 0;
        for path in commit.adds {
            let footer = footer(&path)?;
            let rows = u64::try_from(footer.metadata().file_metadata().num_rows()).map_err(|e| e.to_string())?;
            files.push(StreamFile { version, path, first, rows, footer });
            first += rows;
        }
        if first >> ROW_BITS != 0 {
            return Err(format!("Delta table {}: version {version} adds over 2^32 rows", self.table.root().display()));
        }
        inner.files.extend(files);
        inner.next_version = version + 1;
        Ok(true)
    }

    /// Makes the listing start at or before the version of the position, listing from there.
    fn list_from_position(&self, inner: &mut Inner) {
        let (version, _) = split(inner.position);
        if inner.listed_from.is_none_or(|from| from > version) {
            inner.files.clear();
            inner.listed_from = Some(version);
            inner.next_version = version;
            inner.open = None;
        }
    }

    /// Lists every commit there is now.
    fn list_all(&self, inner: &mut Inner) -> Result<(), String> {
        self.list_from_position(inner);
        while self.extend(inner)? {}
        Ok(())
    }

    /// Where an offset is: its version, file and row, for logs.
    fn locate(inner: &Inner, at: u64) -> String {
        let (version, row) = split(at);
        let index = inner.files.partition_point(|f| (f.version, f.first + f.rows) <= (version, row));
        match inner.files.get(index) {
            Some(f) if f.version == version => {
                format!("version {version}, file {}, row {}", f.path.display(), row - f.first)
            }
            _ => format!("version {version}, row {row} (the end of what is committed)"),
        }
    }

    fn next(&self, inner: &mut Inner) -> Result<Option<(usize, u64, RecordBatch)>, String> {
        if let Some((first, batch)) = inner.back.take() {
            inner.position = first + batch.num_rows() as u64;
            return Ok(Some((0, first, batch)));
        }
        self.list_from_position(inner);
        loop {
            let (version, row) = split(inner.position);
            let index = inner.files.partition_point(|f| (f.version, f.first + f.rows) <= (version, row));
            let Some(file) = inner.files.get(index) else {
                if !self.extend(inner)? {
                    return Ok(None);
                }
                continue;
            };
            let (path, first_row, end) = (file.path.clone(), file.first, offset(file.version, file.first + file.rows));
            let footer = file.footer.clone();
            if file.version > version {
                // The position is at the end of its version: the next event is this file's first.
                inner.position = offset(file.version, file.first);
                continue;
            }
            if inner.open.as_ref().is_none_or(|o| o.next != inner.position || o.index != index) {
                let reader = open_file(&path, &footer, &self.source, usize::try_from(row - first_row).unwrap_or(0))?;
                inner.open = Some(OpenFile { index, next: inner.position, reader });
            }
            let Some(open) = inner.open.as_mut() else { continue };
            let read = guarded("Parquet", || open.reader.next());
            let batch = match read {
                Ok(Some(Ok(batch))) => batch,
                Ok(None) => {
                    let next = open.next;
                    inner.open = None;
                    if next < end {
                        return Err(format!("{}: fewer rows than its footer says", path.display()));
                    }
                    continue;
                }
                // A reader that failed once is not read again: the next try opens the file anew.
                Ok(Some(Err(e))) => {
                    inner.open = None;
                    return Err(format!("{}: {e}", path.display()));
                }
                Err(e) => {
                    inner.open = None;
                    return Err(format!("{}: {e}", path.display()));
                }
            };
            let first = open.next;
            let rows = batch.num_rows() as u64;
            if first + rows > end {
                inner.open = None;
                return Err(format!("{}: more rows than its footer says", path.display()));
            }
            if rows == 0 {
                continue;
            }
            open.next += rows;
            inner.position = first + rows;
            return Ok(Some((0, first, batch)));
        }
    }
}

impl StreamSource for DeltaSource {
    fn partitions(&self) -> &[String] {
        &self.names
    }

    fn next_batch(&mut self) -> Result<Option<(usize, u64, RecordBatch)>, String> {
        let mut inner = self.inner()?;
        self.next(&mut inner)
    }

    fn give_back(&mut self, _: usize, first: u64, rest: RecordBatch) {
        if let Ok(inner) = self.inner.get_mut() {
            inner.position = first;
            inner.back = Some((first, rest));
        }
    }

    fn positions(&self) -> Vec<u64> {
        vec![self.inner().map_or(0, |i| i.position)]
    }

    fn seek(&mut self, _: usize, at: u64) {
        let Ok(inner) = self.inner.get_mut() else { return };
        inner.position = at;
        inner.open = None;
        inner.back = None;
        if at > 0 {
            tracing::info!(table = %self.table.root().display(), "Delta stream resumes at version {}, row {}", split(at).0, split(at).1);
        }
    }

    /// The offset after the last committed version (the next version's first row), from the
    /// names in the table's log: no commit is read.
    fn ends(&self) -> Result<Vec<u64>, String> {
        let last = match self.last {
            Some(last) => last,
            None => self.table.latest_version()?,
        };
        Ok(vec![offset(last + 1, 0)])
    }

    /// The rows committed after the position.
    fn backlog(&self) -> Result<u64, String> {
        let mut inner = self.inner()?;
        self.list_all(&mut inner)?;
        let at = inner.position;
        tracing::debug!("Delta stream at {}", Self::locate(&inner, at));
        let (version, row) = split(at);
        Ok(inner
            .files
            .iter()
            .map(|f| match (f.version, f.first + f.rows) {
                (v, end) if (v, end) <= (version, row) => 0,
                (v, end) if v == version && f.first < row => end - row,
                _ => f.rows,
            })
            .sum())
    }
}

/// A Parquet file's footer (its row count, schema and row groups).
fn footer(path: &Path) -> Result<ArrowReaderMetadata, String> {
    let file =
        File::open(path).map_err(|e| format!("{}: cannot read a data file of the table: {e}", path.display()))?;
    guarded("Parquet", || ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()))?
        .map_err(|e| format!("{}: not a readable Parquet file: {e}", path.display()))
}

/// A reader of the source's columns of one data file, from row `skip`.
fn open_file(
    path: &Path,
    footer: &ArrowReaderMetadata,
    source: &IrSource,
    skip: usize,
) -> Result<ParquetRecordBatchReader, String> {
    let file =
        File::open(path).map_err(|e| format!("{}: cannot read a data file of the table: {e}", path.display()))?;
    guarded("Parquet", || {
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer.clone());
        let columns: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| source.fields.iter().any(|s| &s.name == f.name()))
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
        builder.with_projection(mask).with_offset(skip).with_batch_size(BATCH_ROWS).build()
    })?
    .map_err(|e| format!("{}: not a readable Parquet file: {e}", path.display()))
}
