//! Arrow batches and commit metadata in, one new version of a Delta table out: `materialize`,
//! `training-set` and a running pipeline's snapshots written as Delta tables (the offline
//! feature store), each write one atomic commit whose commitInfo carries featc's metadata.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use deltalake::kernel::Action;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter as _, RecordBatchWriter};
use serde_json::Value as Json;

use super::block;

/// How a write meets the rows a table holds already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The new rows are added to the old (a log of events, snapshots over time).
    Append,
    /// The new rows replace the old in the new version (a training set made again); the old
    /// versions stay readable by time travel.
    Overwrite,
}

/// Appends `batches` (one schema) to the Delta table at `path` as one commit; see [`write`].
pub fn write_table(
    path: &Path,
    batches: &[RecordBatch],
    metadata: &serde_json::Map<String, Json>,
) -> Result<u64, String> {
    write(path, batches, metadata, Mode::Append)
}

/// Writes `batches` (one schema) to the Delta table at `path` as one commit: the table's first (creating
/// it) when there is none, else an append or an overwrite. `metadata` goes into the commit's
/// commitInfo (keys prefixed `featc.` by convention). The commit's files, its log entry and
/// their folders are synced before it returns (the crate's local store does not sync). Returns
/// the version written.
pub fn write(
    path: &Path,
    batches: &[RecordBatch],
    metadata: &serde_json::Map<String, Json>,
    mode: Mode,
) -> Result<u64, String> {
    let shown = path.display().to_string();
    let err = |e: deltalake::DeltaTableError| format!("Delta table {}: {e}", path.display());
    let batches = batches.iter().map(utc_times).collect::<Result<Vec<_>, _>>()?;
    let schema = batches.first().ok_or("nothing to write")?.schema();
    let props = CommitProperties::default().with_metadata(metadata.clone().into_iter().collect::<HashMap<_, _>>());
    let exists = path.join("_delta_log").is_dir();
    let url = deltalake::ensure_table_uri(path.to_string_lossy()).map_err(err)?;
    let version = block(async move {
        if exists {
            let mut table = deltalake::open_table(url).await.map_err(err)?;
            let mut writer = RecordBatchWriter::for_table(&table).map_err(err)?.with_commit_properties(props.clone());
            for batch in batches {
                writer.write(batch).await.map_err(err)?;
            }
            if mode == Mode::Append {
                return writer.flush_and_commit(&mut table).await.map_err(err);
            }
            let mut actions: Vec<Action> = writer.flush().await.map_err(err)?.into_iter().map(Action::Add).collect();
            let snapshot = table.snapshot().map_err(err)?;
            actions.extend(snapshot.log_data().iter().map(|f| Action::Remove(f.remove_action(true))));
            let operation = DeltaOperation::Write { mode: SaveMode::Overwrite, partition_by: None, predicate: None };
            let done = CommitBuilder::from(props)
                .with_actions(actions)
                .build(Some(snapshot), table.log_store(), operation)
                .await
                .map_err(err)?;
            Ok(done.version())
        } else {
            let mut writer = RecordBatchWriter::try_new(url.as_str(), schema, None, None).map_err(err)?;
            for batch in batches {
                writer.write(batch).await.map_err(err)?;
            }
            let adds = writer.flush().await.map_err(err)?;
            let schema: deltalake::StructType =
                writer.arrow_schema().as_ref().try_into_kernel().map_err(|e| format!("Delta table {shown}: {e}"))?;
            let table = CreateBuilder::new()
                .with_location(url.as_str())
                .with_columns(schema.fields().cloned())
                .with_actions(adds.into_iter().map(Action::Add))
                .with_commit_properties(props)
                .await
                .map_err(err)?;
            table.version().ok_or_else(|| format!("Delta table {shown}: no version after the commit"))
        }
    })??;
    sync_commit(path, version)?;
    Ok(version)
}

/// Syncs what commit `version` wrote: its data files, its log entry and their folders.
fn sync_commit(path: &Path, version: u64) -> Result<(), String> {
    // The commit's own entry says what it added: no load of the table.
    let commit = super::read_commit(path, version)?
        .ok_or_else(|| format!("Delta table {}: version {version} vanished", path.display()))?;
    let sync = |file: &Path| {
        std::fs::File::open(file).and_then(|f| f.sync_all()).map_err(|e| format!("cannot sync {}: {e}", file.display()))
    };
    let mut folders = std::collections::BTreeSet::new();
    for file in &commit.adds {
        sync(file)?;
        folders.extend(file.parent().map(Path::to_path_buf));
    }
    sync(&super::commit_file(path, version))?;
    folders.insert(path.join("_delta_log"));
    folders.insert(path.to_path_buf());
    folders.iter().try_for_each(|dir| crate::io::durable::sync_dir(dir))
}

/// The batch with every timestamp column in microseconds and UTC, as Delta's `timestamp`
/// type holds it (a time without a zone would become `timestamp_ntz`).
fn utc_times(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")));
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if matches!(field.data_type(), DataType::Timestamp(..)) && field.data_type() != &utc {
            let cast = arrow::compute::cast(column.as_ref(), &utc).map_err(|e| e.to_string())?;
            fields.push(Field::new(field.name(), utc.clone(), field.is_nullable() || cast.null_count() > 0));
            columns.push(cast);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}

/// A source's events in the types its spec declares (strings, 64-bit integers and floats,
/// booleans, UTC timestamps), the spec's fields only: what `featc log append` commits to a
/// Delta-bound source's table, whatever format each file came in, so every commit has one schema.
pub fn events_as_declared(source: &featc::ir::IrSource, batch: &RecordBatch) -> Result<RecordBatch, String> {
    use featc::ir::Ty;
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for f in &source.fields {
        let to = match f.ty.ty {
            Ty::String => DataType::Utf8,
            Ty::I64 => DataType::Int64,
            Ty::F64 => DataType::Float64,
            Ty::Bool => DataType::Boolean,
            Ty::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
            _ => DataType::Utf8,
        };
        let column = match batch.column_by_name(&f.name) {
            Some(c) => arrow::compute::cast(c.as_ref(), &to).map_err(|e| format!("field `{}`: {e}", f.name))?,
            None => arrow::array::new_null_array(&to, batch.num_rows()),
        };
        fields.push(Field::new(&f.name, to, true));
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
}
