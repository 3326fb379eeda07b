//! A Delta Lake table's folder in, its versions, data files, commits and schema out, through the
//! `deltalake` crate (delta-rs): the history of a source bound with `format delta`, the stream
//! of a Streamhouse (see `stream`), and the tables featc writes (see `write`).
//!
//! featc reads a table's Parquet files itself (DataFusion in the batch layer, the runtime's
//! reader in the stream), so it refuses what it would misread: deletion vectors, column
//! mapping, and partition columns the spec reads (their values are not in the files).

pub mod snapshots;
pub mod stream;
pub mod write;

use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, SchemaRef};
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use featc::ir::{DeltaPin, FeatureIr, FileFormat, IrSource, Ty};

/// Runs a future of the crate on a runtime of its own: on this thread when it has none, else
/// (inside the server's runtime) on a scoped thread, as a runtime cannot block inside another.
pub(crate) fn block<T: Send>(f: impl Future<Output = T> + Send) -> Result<T, String> {
    let run = move || -> Result<T, String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        Ok(rt.block_on(f))
    };
    if tokio::runtime::Handle::try_current().is_err() {
        // The crate's code may panic on a damaged log: an error, never a crash.
        return crate::io::guarded("Delta Lake", run)?;
    }
    std::thread::scope(|s| s.spawn(run).join().map_err(|_| "a Delta Lake call panicked".to_owned())?)
}

/// One Delta table on a local disk.
pub struct Table {
    root: PathBuf,
    table: DeltaTable,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("root", &self.root).finish()
    }
}

/// What one commit did, as a stream reads it.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    /// The data files it adds with new rows, in the commit's order, as paths on disk.
    pub adds: Vec<PathBuf>,
    /// Why it is not an append (it removes rows), if it is not.
    pub rewrites: Option<String>,
    /// Whether it sets new table metadata (the schema may have changed).
    pub schema_changed: bool,
}

impl Table {
    /// Opens the table at `root` (latest version), or says clearly why it cannot.
    pub fn open(root: &Path) -> Result<Table, String> {
        let shown = root.display();
        if !root.join("_delta_log").is_dir() {
            return Err(format!("{shown} is not a Delta table (it has no _delta_log folder)"));
        }
        let root = root.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
        let url = deltalake::ensure_table_uri(root.to_string_lossy()).map_err(|e| format!("{shown}: {e}"))?;
        let table = block(deltalake::open_table(url))?.map_err(|e| format!("Delta table {shown}: {e}"))?;
        let table = Table { root, table };
        table.check_features()?;
        Ok(table)
    }

    /// The table a source's history names (relative to the project folder).
    pub fn for_source(project_dir: &Path, source: &IrSource) -> Result<Table, String> {
        match &source.history {
            Some(h) if h.format == FileFormat::Delta => Table::open(&project_dir.join(&h.glob)),
            _ => Err(format!("source `{}` is not bound to a Delta table", source.name)),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The latest version committed, asked of the log now.
    pub fn latest_version(&self) -> Result<u64, String> {
        block(self.table.get_latest_version())?.map_err(|e| format!("Delta table {}: {e}", self.root.display()))
    }

    /// The version a pin names (the latest when none): a version must exist; a time gives the
    /// latest commit at or before it.
    pub fn version_for(&self, pin: Option<DeltaPin>) -> Result<u64, String> {
        let latest = self.latest_version()?;
        match pin {
            None => Ok(latest),
            Some(DeltaPin::Version(v)) if v <= latest => Ok(v),
            Some(DeltaPin::Version(v)) => {
                Err(format!("Delta table {}: there is no version {v} (the latest is {latest})", self.root.display()))
            }
            Some(DeltaPin::Timestamp(ms)) => {
                let at = chrono::DateTime::from_timestamp_millis(ms).ok_or("time out of range")?;
                let mut table = self.table.clone();
                block(table.load_with_datetime(at))?.map_err(|e| {
                    format!(
                        "Delta table {}: no version at or before {}: {e}",
                        self.root.display(),
                        crate::io::time::rfc3339(ms)
                    )
                })?;
                let version =
                    table.version().ok_or_else(|| format!("Delta table {}: no version", self.root.display()))?;
                // The crate falls back to the first version for a time before it: refused here.
                // A commit's time is its log file's modification time, as Delta's time travel has it.
                let commit = self.commit_file(version);
                let committed = std::fs::metadata(&commit)
                    .and_then(|m| m.modified())
                    .map(|t| chrono::DateTime::<chrono::Utc>::from(t).timestamp_millis())
                    .map_err(|e| format!("{}: {e}", commit.display()))?;
                if committed > ms {
                    return Err(format!(
                        "Delta table {}: no version at or before {} (version {version} was committed at {})",
                        self.root.display(),
                        crate::io::time::rfc3339(ms),
                        crate::io::time::rfc3339(committed)
                    ));
                }
                Ok(version)
            }
        }
    }

    /// The table as of `version`.
    fn at(&self, version: u64) -> Result<DeltaTable, String> {
        let mut table = self.table.clone();
        if table.version() != Some(version) {
            block(table.load_version(version))?
                .map_err(|e| format!("Delta table {}: version {version}: {e}", self.root.display()))?;
        }
        Ok(table)
    }

    /// The data files of the table as of `version`, as paths on disk.
    pub fn files_at(&self, version: u64) -> Result<Vec<PathBuf>, String> {
        let table = self.at(version)?;
        let snapshot = table.snapshot().map_err(|e| e.to_string())?;
        let mut files = Vec::new();
        for file in snapshot.log_data().iter() {
            if file.deletion_vector_descriptor().is_some() {
                return Err(self.unsupported("deletion vectors"));
            }
            files.push(self.root.join(file.object_store_path().as_ref()));
        }
        Ok(files)
    }

    /// The schema of the table as of `version`, in Arrow's types, and its partition columns
    /// (one load of the table at that version for both).
    pub fn schema_at(&self, version: u64) -> Result<(SchemaRef, Vec<String>), String> {
        use deltalake::kernel::engine::arrow_conversion::TryIntoArrow as _;
        let table = self.at(version)?;
        let snapshot = table.snapshot().map_err(|e| e.to_string())?;
        let schema: arrow::datatypes::Schema = snapshot
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e| format!("Delta table {}: its schema has no Arrow form: {e}", self.root.display()))?;
        Ok((std::sync::Arc::new(schema), snapshot.metadata().partition_columns().to_vec()))
    }

    /// Checks every field `source` declares against the table's schema as of `version`:
    /// E0800 names each field that is missing or of a type the spec's cannot be read from.
    pub fn check_schema(&self, source: &IrSource, version: u64) -> Result<(), String> {
        let (schema, partitions) = self.schema_at(version)?;
        let mut problems = Vec::new();
        for field in &source.fields {
            if partitions.contains(&field.name) {
                problems.push(format!(
                    "field `{}` is a partition column of the table, which featc does not read yet",
                    field.name
                ));
                continue;
            }
            match schema.field_with_name(&field.name) {
                Err(_) => problems.push(format!("field `{}`: the table has no such column", field.name)),
                Ok(f) if !fits(&field.ty.ty, f.data_type()) => problems.push(format!(
                    "field `{}`: the table has {}, the spec declares {}",
                    field.name,
                    f.data_type(),
                    field.ty.ty
                )),
                Ok(_) => {}
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(format!(
            "error[E0800]: Delta table {} (version {version}) no longer fits source `{}`:\n  {}\n(see `featc explain E0800`)",
            self.root.display(),
            source.name,
            problems.join("\n  ")
        ))
    }

    /// Where the log file of commit `version` is.
    pub(crate) fn commit_file(&self, version: u64) -> PathBuf {
        commit_file(&self.root, version)
    }

    /// What commit `version` did; `None` when the log has no such commit.
    pub(crate) fn commit(&self, version: u64) -> Result<Option<Commit>, String> {
        read_commit(&self.root, version)
    }

    /// Checks what a commit that changed the table's metadata or protocol left: the features
    /// featc cannot read, and the spec's fields against the schema (E0800).
    pub(crate) fn check_commit(&self, source: &IrSource, version: u64) -> Result<(), String> {
        self.at(version).and_then(|t| check_protocol(&self.root, &t))?;
        self.check_schema(source, version)
    }

    fn check_features(&self) -> Result<(), String> {
        check_protocol(&self.root, &self.table)
    }

    fn unsupported(&self, what: &str) -> String {
        unsupported(&self.root, what)
    }
}

fn unsupported(root: &Path, what: &str) -> String {
    format!(
        "Delta table {} uses {what}, which featc does not read yet (it reads the Parquet files \
         itself); rewrite the table without them",
        root.display()
    )
}

/// Where the log file of commit `version` of the table at `root` is (the protocol fixes it).
pub(crate) fn commit_file(root: &Path, version: u64) -> PathBuf {
    root.join("_delta_log").join(format!("{version:020}.json"))
}

/// What commit `version` of the table at `root` did; `None` when the log has no such commit.
/// Read where the protocol puts it (local tables only), parsed by the crate: no table load.
pub(crate) fn read_commit(root: &Path, version: u64) -> Result<Option<Commit>, String> {
    let bytes = match std::fs::read(commit_file(root, version)) {
        Ok(bytes) => bytes::Bytes::from(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("Delta table {}: version {version}: {e}", root.display())),
    };
    let actions = deltalake::logstore::get_actions(version, &bytes)
        .map_err(|e| format!("Delta table {}: version {version}: {e}", root.display()))?;
    let mut commit = Commit::default();
    for action in actions {
        match action {
            Action::Add(add) if add.data_change => {
                if add.deletion_vector.is_some() {
                    return Err(unsupported(root, "deletion vectors"));
                }
                // The action's path is already decoded (the crate reads it as a URL path).
                commit.adds.push(root.join(&add.path));
            }
            Action::Remove(remove) if remove.data_change => {
                commit.rewrites = Some(format!("removes rows (data file {})", remove.path));
            }
            // New table properties (column mapping, say) or reader features: the reader checks
            // them ([`Table::check_commit`]) for commits after the version it checked at open.
            Action::Metadata(_) | Action::Protocol(_) => commit.schema_changed = true,
            _ => {}
        }
    }
    Ok(Some(commit))
}

/// Refuses tables whose files featc would misread.
fn check_protocol(root: &Path, table: &DeltaTable) -> Result<(), String> {
    let snapshot = table.snapshot().map_err(|e| e.to_string())?;
    // The mode's type is the kernel's, which the crate does not re-export: compared by name.
    let mapping = snapshot.table_config().column_mapping_mode.map(|m| format!("{m:?}"));
    if mapping.is_some_and(|m| m != "None") {
        return Err(format!(
            "Delta table {} uses column mapping, which featc does not read yet (it reads the Parquet \
             files itself); rewrite the table without it",
            root.display()
        ));
    }
    Ok(())
}

/// Whether a column of this type can be read as the declared type (as `operators::decode`
/// reads it).
fn fits(ty: &Ty, data: &DataType) -> bool {
    match ty {
        Ty::String => matches!(data, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        Ty::Bool => matches!(data, DataType::Boolean),
        Ty::I64 => matches!(data, DataType::Int64 | DataType::Int32),
        Ty::F64 => matches!(data, DataType::Float64 | DataType::Float32 | DataType::Int64),
        Ty::Timestamp => matches!(data, DataType::Timestamp(..)),
        _ => false,
    }
}

/// The data files of a Delta-bound source's history as of its pin (the latest when none),
/// checked against the spec, and the version read.
pub fn history_files(project_dir: &Path, source: &IrSource) -> Result<(Vec<PathBuf>, u64), String> {
    let table = Table::for_source(project_dir, source)?;
    let pin = source.history.as_ref().and_then(|h| h.pin);
    let version = table.version_for(pin)?;
    table.check_schema(source, version)?;
    Ok((table.files_at(version)?, version))
}

/// Fixes the version every Delta-bound source of `ir` is read at, so that what a command reads
/// is exactly what it records ([`pinned`]): a pin given for the source by name, else the pin
/// given for all (`None` as the name), else the spec's pin, else the table's latest version now.
pub fn pin_sources(ir: &mut FeatureIr, project_dir: &Path, pins: &[(Option<String>, DeltaPin)]) -> Result<(), String> {
    for (name, _) in pins {
        if let Some(name) = name
            && !ir.sources.iter().any(|s| &s.name == name && is_delta(s))
        {
            return Err(format!("`{name}` is not a source bound to a Delta table"));
        }
    }
    if !pins.is_empty() && !ir.sources.iter().any(is_delta) {
        return Err("no source of the project is bound to a Delta table: there is no version to pin".to_owned());
    }
    for source in &mut ir.sources {
        if !is_delta(source) {
            continue;
        }
        let pin = pins
            .iter()
            .find(|(n, _)| n.as_deref() == Some(source.name.as_str()))
            .or_else(|| pins.iter().find(|(n, _)| n.is_none()))
            .map(|(_, p)| *p)
            .or_else(|| source.history.as_ref().and_then(|h| h.pin));
        let version = Table::for_source(project_dir, source)?.version_for(pin)?;
        if let Some(history) = source.history.as_mut() {
            history.pin = Some(DeltaPin::Version(version));
        }
    }
    Ok(())
}

/// The versions the Delta-bound sources of a pinned `ir` are read at: per source, its table and
/// version, and the arguments that read them again (`--as-of-version source=N`, one per source).
pub fn pinned(ir: &FeatureIr) -> (serde_json::Map<String, serde_json::Value>, Vec<String>) {
    let mut read = serde_json::Map::new();
    let mut args = Vec::new();
    for source in &ir.sources {
        if let Some(h) = &source.history
            && let Some(DeltaPin::Version(version)) = h.pin
        {
            read.insert(source.name.clone(), serde_json::json!({ "delta_table": h.glob, "version": version }));
            args.push(format!("--as-of-version {}={version}", source.name));
        }
    }
    (read, args)
}

fn is_delta(source: &IrSource) -> bool {
    source.history.as_ref().is_some_and(|h| h.format == FileFormat::Delta)
}

/// A `--as-of-version` argument: `N` (every Delta source) or `source=N`.
pub fn parse_version_pin(text: &str) -> Result<(Option<String>, DeltaPin), String> {
    let (name, version) = match text.split_once('=') {
        Some((name, v)) => (Some(name.trim().to_owned()), v),
        None => (None, text),
    };
    let version = version.trim().parse::<u64>().map_err(|_| format!("`{text}`: write N or source=N"))?;
    Ok((name, DeltaPin::Version(version)))
}
