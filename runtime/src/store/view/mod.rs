//! A batch view in, Parquet files under `<data-dir>/batch/` out, and back: one file per group
//! and version holding its partials in columns ([`table`]: a row per key and pane, a column per
//! field of each partial), with the group, its version and the cutoff in the file metadata; a
//! manifest `CURRENT` names the file of each group.
//!
//! A file is never rewritten: each computed group gets a new file, written and synced before
//! the new manifest replaces the old one (written beside it, synced, renamed, the folder
//! synced), so readers see the old view or the new one, never a mix. Files no manifest names
//! any more are removed after the swap. A group whose version is unchanged keeps its file
//! across spec edits; only new or changed groups are computed again.

use std::fs::File;
use std::path::{Path, PathBuf};

use featc::ir::{FeatureIr, IrGroup};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::io::durable;
use crate::operators::group::{GroupRuntime, KeyOrder, window_aggs};
use crate::operators::state::GroupSnapshot;
use crate::runners::lambda::batch::BatchView;
pub(crate) use file::ViewFile;

mod file;
mod read;
pub(crate) mod table;

/// v3: partials in columns (v2 held each key's state as JSON text).
pub const VIEW_FORMAT: &str = "featc.batch-view/v3";

/// The manifest of the current view: its cutoff, and each group's version and file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    pub cutoff: i64,
    pub groups: Vec<ManifestEntry>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    pub group: String,
    pub version: String,
    /// Relative to `<data-dir>/batch/`.
    pub file: String,
}

fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("batch")
}

/// The current manifest, `None` when no batch run has written one.
pub fn manifest(data_dir: &Path) -> Result<Option<Manifest>, String> {
    let path = root(data_dir).join("CURRENT");
    let Ok(bytes) = std::fs::read(&path) else { return Ok(None) };
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a batch view manifest ({e}): run `featc batch`", path.display()))?;
    if m.format != VIEW_FORMAT {
        return Ok(None);
    }
    Ok(Some(m))
}

/// Stores every group of the view that has no file yet, then makes the view current; returns
/// the folder. Files of groups loaded from the store are kept as they are.
pub fn write(ir: &FeatureIr, view: &mut BatchView, data_dir: &Path) -> Result<PathBuf, String> {
    let dir = root(data_dir);
    let views = dir.join("views");
    std::fs::create_dir_all(&views).map_err(|e| format!("cannot create {}: {e}", views.display()))?;
    let mut entries = Vec::with_capacity(view.groups.len());
    for (gi, g) in view.groups.iter().enumerate() {
        let version = view.versions.get(gi).cloned().unwrap_or_default();
        let file = match view.files.get(gi).cloned().flatten() {
            Some(file) => file,
            None => {
                let file = fresh_name(&views, &g.name, &version, view.cutoff);
                let ir_group = ir.groups.get(gi).ok_or("a view group without its plan")?;
                write_group(g, ir_group, &version, view.cutoff, &dir.join(&file))?;
                file
            }
        };
        entries.push(ManifestEntry { group: g.name.clone(), version, file });
    }
    durable::sync_dir(&views)?;
    let manifest = Manifest { format: VIEW_FORMAT.to_owned(), cutoff: view.cutoff, groups: entries };
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    durable::write_file(&dir.join("CURRENT"), &bytes)?;
    for (gi, e) in manifest.groups.iter().enumerate() {
        if let Some(f) = view.files.get_mut(gi) {
            *f = Some(e.file.clone());
        }
    }
    // The old view's files, now that no manifest names them.
    if let Ok(listing) = std::fs::read_dir(&views) {
        for entry in listing.flatten() {
            let name = format!("views/{}", entry.file_name().to_string_lossy());
            if !manifest.groups.iter().any(|e| e.file == name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(dir)
}

/// A file name no earlier run used, so that recomputing at the same cutoff never rewrites.
fn fresh_name(views: &Path, group: &str, version: &str, cutoff: i64) -> String {
    let mut n = 0u32;
    loop {
        let name = format!("{group}-{version}-{cutoff}-{n}.parquet");
        if !views.join(&name).exists() {
            return format!("views/{name}");
        }
        n += 1;
    }
}

/// Keys exported, turned into columns and written at a time.
const KEYS_PER_CHUNK: usize = 4096;

fn write_group(g: &GroupRuntime, ir_group: &IrGroup, version: &str, cutoff: i64, path: &Path) -> Result<(), String> {
    let schema = table::schema(ir_group)?;
    let meta = |k: &str, v: String| KeyValue::new(k.to_owned(), v);
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![
            meta("featc.format", VIEW_FORMAT.to_owned()),
            meta("featc.group", g.name.clone()),
            meta("featc.version", version.to_owned()),
            meta("featc.cutoff", cutoff.to_string()),
            meta("featc.batch_features", serde_json::to_string(&batch_features(ir_group)).map_err(|e| e.to_string())?),
        ]))
        .build();
    let file = File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| e.to_string())?;
    // A chunk of keys at a time: the file is written in memory for the list of keys and a few
    // chunks, not for the group's whole state.
    // The table holds panes, not running totals (a reader rebuilds them): states are read in
    // place, their partials borrowed where they are kept as such, keys in the order the batch
    // layer laid them out (by routing hash).
    g.states_in_chunks(KEYS_PER_CHUNK, KeyOrder::Hash, &|keys| table::to_batch(ir_group, keys), &mut |batch| {
        w.write(&batch).map_err(|e| e.to_string())
    })?;
    let file = w.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| format!("cannot sync {}: {e}", path.display()))
}

/// Reads the current view, `None` when no batch run has written one. Groups the view holds at
/// their current version are loaded; the others (new, or changed since) are listed in
/// [`BatchView::stale`], empty, for [`crate::runners::lambda::batch::refresh`] to compute at the view's cutoff.
pub fn read(ir: &FeatureIr, data_dir: &Path) -> Result<Option<BatchView>, String> {
    let Some(manifest) = manifest(data_dir)? else { return Ok(None) };
    let mut view = BatchView::empty(ir, manifest.cutoff)?;
    for (gi, g) in ir.groups.iter().enumerate() {
        let Some(entry) = manifest.groups.iter().find(|e| e.group == g.name && e.version == g.version) else {
            view.stale.push(gi);
            continue;
        };
        let path = root(data_dir).join(&entry.file);
        // Each key's state goes into the group as it is read (the file's rows are never all in
        // memory as states at once); the group is kept only when the whole file read.
        let mut runtime = GroupRuntime::batch_layer(ir, g)?;
        runtime.restore(GroupSnapshot { name: g.name.clone(), keys: Vec::new(), dead_count: 0, accepted: 0 });
        let shards = runtime.shard_count();
        let totals = !runtime.is_columnar();
        match read_keys(g, &path, &g.version, manifest.cutoff, totals, &mut |key, state| {
            runtime.import_new_key(key, state, shards)
        }) {
            Ok(Ok(())) => {}
            Ok(Err(missing)) => {
                // A merge rule moved these features onto the view since it was computed (the
                // version does not change with merge rules): the view lacks their partials.
                tracing::info!(
                    "group `{}`: {} now served from the batch view, which did not compute them: computing it again",
                    g.name,
                    missing.join(", ")
                );
                view.stale.push(gi);
                continue;
            }
            Err(e) => {
                // An unreadable file is computed again rather than blocking the project.
                warn(&format!("{e}: computing group `{}` again", g.name));
                view.stale.push(gi);
                continue;
            }
        };
        runtime.read_range(i64::MIN, manifest.cutoff);
        view.groups[gi] = runtime;
        view.files[gi] = Some(entry.file.clone());
    }
    Ok(Some(view))
}

fn warn(message: &str) {
    tracing::warn!("{message}");
}

/// The features a group's batch layer computes (their merge rule reads the view), by name:
/// recorded in each view file, so that a view computed before a merge rule moved a feature onto
/// it is computed again rather than served without that feature.
fn batch_features(g: &IrGroup) -> Vec<&str> {
    g.aggregates.iter().filter(|a| a.merge.uses_batch()).map(|a| a.name.as_str()).collect()
}

/// Each key's state in a view file, given to `each` as it is read (sliding windows with their
/// running totals when `totals`: see [`read::Assembly::new`]); `Ok(Err(names))` when the file
/// lacks features the group now serves from the view (named), before any key is read.
fn read_keys(
    g: &IrGroup,
    path: &Path,
    version: &str,
    cutoff: i64,
    totals: bool,
    each: &mut dyn FnMut(Vec<crate::value::Value>, crate::operators::state::KeyState) -> Result<(), String>,
) -> Result<Result<(), Vec<String>>, String> {
    let file = ViewFile::open(path)?;
    let metadata = match open_file(g, &file, version, cutoff)? {
        Ok(metadata) => metadata,
        Err(missing) => return Ok(Err(missing)),
    };
    read_file(g, &file, &metadata, totals, each).map(Ok)
}

/// A view file's metadata, checked against its manifest entry (`version`, `cutoff`);
/// `Ok(Err(names))` when it lacks features the group now serves from the view.
fn open_file(
    g: &IrGroup,
    file: &ViewFile,
    version: &str,
    cutoff: i64,
) -> Result<Result<ArrowReaderMetadata, Vec<String>>, String> {
    let path = &file.path;
    let metadata = ArrowReaderMetadata::load(file, ArrowReaderOptions::default())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let kv = metadata.metadata().file_metadata().key_value_metadata().cloned().unwrap_or_default();
    let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone()).unwrap_or_default();
    if get("featc.format") != VIEW_FORMAT
        || get("featc.version") != version
        || get("featc.cutoff") != cutoff.to_string()
    {
        return Err(format!("{} does not hold the view its manifest names", path.display()));
    }
    // Files written before the batch layer computed only its features hold every aggregate.
    if let Some(computed) = kv.iter().find(|e| e.key == "featc.batch_features").and_then(|e| e.value.as_deref()) {
        let computed: Vec<String> = serde_json::from_str(computed)
            .map_err(|e| format!("{}: a damaged list of batch features ({e})", path.display()))?;
        let missing: Vec<String> =
            batch_features(g).into_iter().filter(|f| !computed.iter().any(|c| c == f)).map(str::to_owned).collect();
        if !missing.is_empty() {
            return Ok(Err(missing));
        }
    }
    Ok(Ok(metadata))
}

/// The keys of a checked view file ([`open_file`]), given to `each` in the file's order.
fn read_file(
    g: &IrGroup,
    file: &ViewFile,
    metadata: &ArrowReaderMetadata,
    totals: bool,
    each: &mut dyn FnMut(Vec<crate::value::Value>, crate::operators::state::KeyState) -> Result<(), String>,
) -> Result<(), String> {
    let path = &file.path;
    let windows = window_aggs(g)?;
    let row_groups = metadata.metadata().num_row_groups();
    // Only the columns the serving layer reads are decoded.
    let wanted = read::read_columns(g);
    let schema = metadata.metadata().file_metadata().schema_descr();
    let roots = schema.root_schema().get_fields().iter().enumerate();
    let roots: Vec<usize> = roots.filter(|(_, f)| wanted.iter().any(|w| w == f.name())).map(|(i, _)| i).collect();
    let projection = ProjectionMask::roots(schema, roots);
    let batches = |row_group: usize| {
        // Every reader reads the one open file at its own positions.
        ParquetRecordBatchReaderBuilder::new_with_metadata(file.clone(), metadata.clone())
            .with_projection(projection.clone())
            .with_row_groups(vec![row_group])
            .with_batch_size(8192)
            .build()
            .map_err(|e| e.to_string())
    };
    // The row groups decoded on every core (worker `w` takes row groups `w`, `w + threads`,
    // ...), each a batch at a time into a channel of its own, then put together and taken in
    // the file's order on this thread.
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(row_groups).max(1);
    let read = std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(threads);
        for w in 0..threads {
            let (send, receive) = std::sync::mpsc::sync_channel::<Result<Option<read::Decoded>, String>>(4);
            receivers.push(receive);
            let (batches, windows) = (&batches, &windows);
            scope.spawn(move || {
                for row_group in (w..row_groups).step_by(threads) {
                    let sent = match batches(row_group) {
                        Ok(reader) => {
                            for b in reader {
                                let decoded =
                                    b.map_err(|e| e.to_string()).and_then(|b| read::decode(g, windows.len(), &b));
                                let failed = decoded.is_err();
                                if send.send(decoded.map(Some)).is_err() || failed {
                                    return;
                                }
                            }
                            send.send(Ok(None))
                        }
                        Err(e) => send.send(Err(e)),
                    };
                    if sent.is_err() {
                        return; // the reading stopped
                    }
                }
            });
        }
        let mut assembly = read::Assembly::new(&windows, totals);
        for row_group in 0..row_groups {
            loop {
                match receivers[row_group % threads].recv() {
                    Ok(Ok(Some(decoded))) => assembly.add(decoded, each)?,
                    Ok(Ok(None)) => break,
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err("a reader of the batch view stopped".to_owned()),
                }
            }
        }
        assembly.end(each)
    });
    read.map_err(|e| format!("{}: {e}", path.display()))
}

/// The current view left on disk: each group's batch-layer runtime without keys, and its file,
/// opened and checked, to read its keys from ([`stream_keys`]), for a reader that needs each
/// key once (`featc materialize`) and so need not hold the view's state. The files stay open, so
/// a newer view written meanwhile (which removes them by name) does not cut the read short.
/// `None` when the view cannot serve as it stands (none written, a group new or changed since,
/// a file unreadable or lacking features the spec now serves from it): [`read`] loads it, or
/// has it computed again.
pub(crate) fn on_disk(ir: &FeatureIr, data_dir: &Path) -> Result<Option<(BatchView, Vec<CheckedFile>)>, String> {
    let Some(manifest) = manifest(data_dir)? else { return Ok(None) };
    let mut view = BatchView::empty(ir, manifest.cutoff)?;
    let mut files = Vec::with_capacity(ir.groups.len());
    for (gi, g) in ir.groups.iter().enumerate() {
        let Some(entry) = manifest.groups.iter().find(|e| e.group == g.name && e.version == g.version) else {
            return Ok(None);
        };
        let Ok(file) = ViewFile::open(&root(data_dir).join(&entry.file)) else { return Ok(None) };
        let Ok(Ok(metadata)) = open_file(g, &file, &g.version, manifest.cutoff) else { return Ok(None) };
        view.files[gi] = Some(entry.file.clone());
        files.push(CheckedFile { file, metadata });
    }
    Ok(Some((view, files)))
}

/// A group's view file, open, with its metadata checked against the manifest ([`on_disk`]).
#[derive(Debug)]
pub(crate) struct CheckedFile {
    pub(crate) file: ViewFile,
    metadata: ArrowReaderMetadata,
}

/// Each key's state in the file of group `g` of a view that [`on_disk`] gave, given to `each`
/// in the file's order (by routing hash) with the running totals the row path's state reads.
pub(crate) fn stream_keys(
    g: &IrGroup,
    checked: &CheckedFile,
    each: &mut dyn FnMut(Vec<crate::value::Value>, crate::operators::state::KeyState) -> Result<(), String>,
) -> Result<(), String> {
    read_file(g, &checked.file, &checked.metadata, true, each)
}
