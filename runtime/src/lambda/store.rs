//! A batch view in, Parquet files under `<data-dir>/batch/` out, and back: one file per group,
//! one row per key (`key` and `state`, JSON text), with the cutoff and the spec's hash in the
//! file metadata. A view built from another spec version is refused.
//!
//! Each run writes a new folder `<cutoff>-<spec hash>` and then points `CURRENT` at it
//! (written to a temporary file and renamed), so readers see the old view or the new one, never
//! a mix.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use featc::ir::FeatureIr;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::batch::BatchView;
use crate::group::GroupRuntime;

pub const VIEW_FORMAT: &str = "featc.batch-view/v1";

fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("batch")
}

/// Writes a view and makes it the current one; returns its folder.
pub fn write(view: &BatchView, data_dir: &Path) -> Result<PathBuf, String> {
    let name = format!("{}-{}", view.cutoff, view.spec_hash);
    let dir = root(data_dir).join(&name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for g in &view.groups {
        let rows = g.state_rows()?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("state", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.as_str()))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1.as_str()))),
            ],
        )
        .map_err(|e| e.to_string())?;
        let meta = |k: &str, v: String| KeyValue::new(k.to_owned(), v);
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![
                meta("featc.format", VIEW_FORMAT.to_owned()),
                meta("featc.group", g.name.clone()),
                meta("featc.cutoff", view.cutoff.to_string()),
                meta("featc.spec_hash", view.spec_hash.clone()),
            ]))
            .build();
        let path = dir.join(format!("{}.parquet", g.name));
        let file = File::create(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| e.to_string())?;
        w.write(&batch).map_err(|e| e.to_string())?;
        w.close().map_err(|e| e.to_string())?;
    }
    let current = root(data_dir).join("CURRENT");
    let tmp = root(data_dir).join("CURRENT.tmp");
    std::fs::write(&tmp, &name).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &current).map_err(|e| format!("cannot write {}: {e}", current.display()))?;
    Ok(dir)
}

/// Reads the current view, `None` when no batch run has written one. A view of another spec
/// version is an error that says what to do.
pub fn read(ir: &FeatureIr, data_dir: &Path) -> Result<Option<BatchView>, String> {
    let Ok(name) = std::fs::read_to_string(root(data_dir).join("CURRENT")) else { return Ok(None) };
    let dir = root(data_dir).join(name.trim());
    let mut groups = Vec::with_capacity(ir.groups.len());
    let mut cutoff = None;
    for g in &ir.groups {
        let path = dir.join(format!("{}.parquet", g.name));
        let file = File::open(&path)
            .map_err(|e| format!("the batch view has no group `{}` ({e}): run `featc batch`", g.name))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| format!("{}: {e}", path.display()))?;
        let kv = builder.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
        let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone()).unwrap_or_default();
        if get("featc.format") != VIEW_FORMAT {
            return Err(format!("{} is not a featc batch view ({VIEW_FORMAT})", path.display()));
        }
        let hash = get("featc.spec_hash");
        if hash != ir.spec_hash {
            return Err(format!(
                "the batch view in {} was built from another version of the spec (hash {hash}; this spec is {}): run `featc batch` to recompute it",
                dir.display(),
                ir.spec_hash
            ));
        }
        let c: i64 = get("featc.cutoff").parse().map_err(|_| format!("{}: no cutoff", path.display()))?;
        cutoff = Some(c);
        let mut rows = Vec::new();
        for batch in builder.build().map_err(|e| e.to_string())? {
            let batch = batch.map_err(|e| e.to_string())?;
            let (k, s) = (batch.column(0).as_string::<i32>(), batch.column(1).as_string::<i32>());
            for r in 0..k.len() {
                rows.push((k.value(r).to_owned(), s.value(r).to_owned()));
            }
        }
        let mut runtime = GroupRuntime::new(ir, g)?;
        runtime.load_state_rows(&rows)?;
        runtime.read_range(i64::MIN, c);
        groups.push(runtime);
    }
    let Some(cutoff) = cutoff else { return Ok(None) };
    Ok(Some(BatchView { cutoff, spec_hash: ir.spec_hash.clone(), groups, rejected: 0 }))
}
