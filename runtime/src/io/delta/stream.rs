//! A Delta table in, batches of a source's events with their offsets out: the stream of a source
//! whose history is a Delta table (Streamhouse), its commits read in version order, then each
//! new commit as it appears.
//!
//! The table's log fixes the order of its events forever: version by version, within a version
//! the data files in the order its commit adds them, within a file row by row. An event's offset
//! is its place in that order, so a checkpoint's one number names a version, a file and a row
//! (logged on restore), and a restore seeks to it exactly. Files a commit adds without changing
//! data (compaction) are skipped, as their rows were read from the files they replace; a commit
//! that removes data (a delete, update or overwrite) stops the stream with an error: a stream
//! follows append-only tables. A commit that changes the schema is checked against the spec
//! (E0800) before any of its rows is read.

use std::fs::File;
use std::path::PathBuf;

use arrow::record_batch::RecordBatch;
use featc::ir::IrSource;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::Table;
use crate::io::guarded;
use crate::io::history::BATCH_ROWS;
use crate::io::stream::StreamSource;

/// One data file of the stream: the version that added it, where it is, its first event's
/// offset and its rows.
#[derive(Debug, Clone)]
struct StreamFile {
    version: u64,
    path: PathBuf,
    first: u64,
    rows: u64,
}

/// The file being read: its index in `files` and the offset of the next row it gives. (The
/// reader is not `Sync`, a stream must be: behind a lock only this stream takes.)
struct OpenFile {
    index: usize,
    next: u64,
    reader: std::sync::Mutex<ParquetRecordBatchReader>,
}

/// A Delta table as a one-partition stream.
pub struct DeltaSource {
    table: Table,
    source: IrSource,
    names: Vec<String>,
    /// The data files known so far, in stream order.
    files: Vec<StreamFile>,
    /// The next commit to list.
    next_version: u64,
    /// The latest version when the table was opened: commits up to it must exist.
    opened_at: u64,
    /// The last version read, when the binding pins one (time travel): the stream ends there.
    last: Option<u64>,
    /// The offset after the last event of the known files.
    end: u64,
    /// The offset of the next event to hand out.
    position: u64,
    open: Option<OpenFile>,
    back: Option<(u64, RecordBatch)>,
}

impl std::fmt::Debug for DeltaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSource").field("table", &self.table.root()).field("position", &self.position).finish()
    }
}

impl DeltaSource {
    /// Opens the table of `source` (its `files` path, relative to `project_dir`), checking its
    /// latest schema against the spec.
    pub fn open(project_dir: &std::path::Path, source: &IrSource) -> Result<DeltaSource, String> {
        let table = Table::for_source(project_dir, source)?;
        let pin = source.history.as_ref().and_then(|h| h.pin);
        let last = pin.map(|p| table.version_for(Some(p))).transpose()?;
        let latest = match last {
            Some(v) => v,
            None => table.latest_version()?,
        };
        table.check_schema(source, latest)?;
        let mut stream = DeltaSource {
            names: vec![format!("delta:{}", table.root().display())],
            table,
            source: source.clone(),
            files: Vec::new(),
            next_version: 0,
            opened_at: latest,
            last,
            end: 0,
            position: 0,
            open: None,
            back: None,
        };
        // Every commit up to the latest, listed now: the backlog of a first replay is known.
        while stream.next_version <= latest && stream.extend()? {}
        Ok(stream)
    }

    /// Lists the next commit's data files; false when there is no next commit yet.
    fn extend(&mut self) -> Result<bool, String> {
        let version = self.next_version;
        if self.last.is_some_and(|last| version > last) {
            return Ok(false);
        }
        // Following: a look at the file system (the commit's name is fixed by the protocol)
        // before the crate reads the log, as most looks find nothing new.
        if version > self.opened_at && !self.table.commit_file(version).exists() {
            return Ok(false);
        }
        let Some(commit) = self.table.commit(version)? else {
            if version <= self.opened_at {
                return Err(format!(
                    "Delta table {}: version {version} is no longer in its log (old commits were cleaned \
                     up after a checkpoint), so the table cannot be replayed from version 0; raise the \
                     table's `delta.logRetentionDuration` or rebuild the features from a full copy",
                    self.table.root().display()
                ));
            }
            return Ok(false);
        };
        if let Some(why) = &commit.rewrites {
            return Err(format!(
                "Delta table {}: version {version} {why}; a stream follows append-only tables (featc \
                 read every version before it; to start over from the rewritten table, remove the \
                 data folder's checkpoint)",
                self.table.root().display()
            ));
        }
        if commit.schema_changed {
            self.table.check_schema(&self.source, version)?;
        }
        for path in commit.adds {
            let rows = parquet_rows(&path)?;
            self.files.push(StreamFile { version, path, first: self.end, rows });
            self.end += rows;
        }
        self.next_version += 1;
        Ok(true)
    }

    /// Opens the file holding `self.position`, positioned at it.
    fn open_at_position(&mut self) -> Result<(), String> {
        let index = self.files.partition_point(|f| f.first + f.rows <= self.position);
        let file = self.files.get(index).ok_or("no file holds the position")?;
        let skip = usize::try_from(self.position - file.first).map_err(|e| e.to_string())?;
        let reader = open_file(&file.path, &self.source, skip)?;
        self.open = Some(OpenFile { index, next: self.position, reader: std::sync::Mutex::new(reader) });
        Ok(())
    }

    /// Where an offset is: its version, file and row, for logs.
    fn locate(&self, offset: u64) -> String {
        let index = self.files.partition_point(|f| f.first + f.rows <= offset);
        match self.files.get(index) {
            Some(f) => format!("version {}, file {}, row {}", f.version, f.path.display(), offset - f.first),
            None => format!("the end of version {}", self.next_version.saturating_sub(1)),
        }
    }
}

impl StreamSource for DeltaSource {
    fn partitions(&self) -> &[String] {
        &self.names
    }

    fn next_batch(&mut self) -> Result<Option<(usize, u64, RecordBatch)>, String> {
        if let Some((first, batch)) = self.back.take() {
            self.position = first + batch.num_rows() as u64;
            return Ok(Some((0, first, batch)));
        }
        loop {
            if self.position >= self.end {
                if !self.extend()? {
                    if self.position > self.end {
                        return Err(format!(
                            "Delta table {}: the checkpoint is at event {} but the table holds {} events \
                             (was the table replaced?)",
                            self.table.root().display(),
                            self.position,
                            self.end
                        ));
                    }
                    return Ok(None);
                }
                continue;
            }
            if self.open.as_ref().is_none_or(|o| o.next != self.position) {
                self.open_at_position()?;
            }
            let Some(open) = self.open.as_mut() else { continue };
            let file = &self.files[open.index];
            let reader = open.reader.get_mut().map_err(|_| "a Delta stream's reader panicked")?;
            let read = guarded("Parquet", || reader.next())?;
            match read {
                Some(Ok(batch)) if batch.num_rows() > 0 => {
                    let first = open.next;
                    let rows = batch.num_rows() as u64;
                    if first + rows > file.first + file.rows {
                        return Err(format!("{}: more rows than its footer says", file.path.display()));
                    }
                    open.next += rows;
                    self.position += rows;
                    return Ok(Some((0, first, batch)));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("{}: {e}", file.path.display())),
                None => {
                    if open.next < file.first + file.rows {
                        return Err(format!("{}: fewer rows than its footer says", file.path.display()));
                    }
                    self.open = None;
                }
            }
        }
    }

    fn give_back(&mut self, _: usize, first: u64, rest: RecordBatch) {
        self.position = first;
        self.back = Some((first, rest));
    }

    fn positions(&self) -> Vec<u64> {
        vec![self.position]
    }

    fn seek(&mut self, _: usize, offset: u64) {
        self.position = offset;
        self.open = None;
        self.back = None;
        // Lists commits up to the offset now, to say where it is; an error shows on the next read.
        while self.end <= offset && self.extend().unwrap_or(false) {}
        tracing::info!(table = %self.table.root().display(), offset, "Delta stream resumes at {}", self.locate(offset));
    }

    fn ends(&self) -> Result<Vec<u64>, String> {
        Ok(vec![self.end])
    }
}

/// The rows a Parquet file's footer counts.
pub(super) fn parquet_rows(path: &std::path::Path) -> Result<u64, String> {
    let file =
        File::open(path).map_err(|e| format!("{}: cannot read a data file of the table: {e}", path.display()))?;
    let rows = guarded("Parquet", || {
        ParquetRecordBatchReaderBuilder::try_new(file).map(|b| b.metadata().file_metadata().num_rows())
    })?
    .map_err(|e| format!("{}: not a readable Parquet file: {e}", path.display()))?;
    u64::try_from(rows).map_err(|e| e.to_string())
}

/// A reader of the source's columns of one data file, from row `skip`.
fn open_file(path: &std::path::Path, source: &IrSource, skip: usize) -> Result<ParquetRecordBatchReader, String> {
    let file =
        File::open(path).map_err(|e| format!("{}: cannot read a data file of the table: {e}", path.display()))?;
    guarded("Parquet", || {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
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
