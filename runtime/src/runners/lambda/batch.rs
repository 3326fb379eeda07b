//! History files and a cutoff in, the batch view out: each group's state over the events at or
//! before the cutoff, computed by the stream operators over each key's events in event-time
//! order.
//!
//! DataFusion's physical operators read the history: Parquet natively (only the columns the
//! groups read, split into one partition per core by file or byte range), CSV and NDJSON through
//! the runtime's line-by-line reader (so that a malformed line is rejected alone). Every
//! partition is read and filtered to the cutoff on a core of its own, into memory; then each
//! group's shards sort their own keys' events by time and run them, a shard per core
//! (`GroupRuntime::process_history`): no global sort and no merge. Sorted, no event is late:
//! the batch layer counts every event, including those the speed layer rejected. Training sets
//! read the same way (`read_history`). The plan is built directly, with no SQL front end and no optimizer: the binary carries only the parts of
//! DataFusion it runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use datafusion_common::{DataFusionError, ScalarValue};
use datafusion_datasource::PartitionedFile;
use datafusion_datasource::file_groups::FileGroup;
use datafusion_datasource::file_scan_config::FileScanConfigBuilder;
use datafusion_datasource::memory::MemorySourceConfig;
use datafusion_datasource::source::DataSourceExec;
use datafusion_datasource_parquet::source::ParquetSource;
use datafusion_execution::TaskContext;
use datafusion_execution::config::SessionConfig;
use datafusion_execution::object_store::ObjectStoreUrl;
use datafusion_expr_common::operator::Operator;
use datafusion_physical_expr::PhysicalExpr;
use datafusion_physical_expr::expressions::{BinaryExpr, Column, IsNullExpr, Literal, TryCastExpr};
use datafusion_physical_plan::filter::FilterExec;
use datafusion_physical_plan::projection::ProjectionExec;
use datafusion_physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use featc::ir::FileFormat;
use featc::ir::{FeatureIr, IrField};
use futures::StreamExt;

use crate::io::history;
use crate::operators::group::GroupRuntime;

/// The column the sort key is computed into.
pub(crate) const TS: &str = "__featc_event_ms";

/// Each group's state as of a cutoff, and what it was built from.
#[derive(Debug, Clone)]
pub struct BatchView {
    pub cutoff: i64,
    /// One per group of the IR, in order.
    pub groups: Vec<GroupRuntime>,
    /// Each group's version, and the stored file its state came from (`None`: computed in this
    /// run and not stored yet, or not computed at all when listed in `stale`).
    pub versions: Vec<String>,
    pub files: Vec<Option<String>>,
    /// Groups whose stored state is missing or of another version: to compute.
    pub stale: Vec<usize>,
    /// Lines of text history that could not be read as events.
    pub rejected: usize,
}

/// The fields each group of a source decodes, by group index.
pub(crate) fn readers(ir: &FeatureIr, source: usize) -> Vec<(usize, Vec<IrField>)> {
    let Some(src) = ir.sources.get(source) else { return Vec::new() };
    ir.groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.source == source)
        .map(|(gi, g)| {
            (gi, g.columns.iter().filter_map(|c| src.fields.iter().find(|f| &f.name == c).cloned()).collect())
        })
        .collect()
}

/// The partitions a history read is split into: one per core.
fn partitions() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 64)
}

/// Parquet files into `n` groups of about equal bytes: whole files when there are enough of
/// them, else each file cut into byte ranges (a row group is read by the range holding its
/// middle).
fn file_groups(files: &[(PathBuf, u64)], n: usize) -> Vec<FileGroup> {
    let total: u64 = files.iter().map(|f| f.1).sum();
    let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); n.max(1)];
    if files.len() >= n || total < 4 << 20 {
        let mut sizes = vec![0u64; groups.len()];
        for (path, size) in files {
            let at = (0..sizes.len()).min_by_key(|&i| sizes[i]).unwrap_or(0);
            sizes[at] += size;
            groups[at].push(PartitionedFile::new(path.to_string_lossy(), *size));
        }
    } else {
        let per = total.div_ceil(n as u64).max(1);
        let (mut group, mut filled) = (0, 0u64);
        for (path, size) in files {
            let mut start = 0u64;
            while start < *size {
                let end = (start + (per - filled)).min(*size);
                let (s, e) = (i64::try_from(start).unwrap_or(i64::MAX), i64::try_from(end).unwrap_or(i64::MAX));
                groups[group].push(PartitionedFile::new_with_range(path.to_string_lossy().into_owned(), *size, s, e));
                filled += end - start;
                start = end;
                if filled >= per && group + 1 < groups.len() {
                    (group, filled) = (group + 1, 0);
                }
            }
        }
    }
    groups.into_iter().filter(|g| !g.is_empty()).map(FileGroup::new).collect()
}

/// The Arrow schema of Parquet files, merged (a column missing from a file reads as null).
fn parquet_schema(files: &[(PathBuf, u64)]) -> Result<Schema, String> {
    let mut schemas = Vec::with_capacity(files.len());
    for (path, _) in files {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let meta = parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&file, Default::default())
            .map_err(|e| format!("{} is not a readable Parquet file: {e}", path.display()))?;
        schemas.push(Schema::new(meta.schema().fields().clone()));
    }
    Schema::try_merge(schemas).map_err(|e| format!("the history's Parquet files do not share a schema: {e}"))
}

/// The plan that reads a source's history at or before `until` (the scan's rows with the
/// event time in [`TS`]), one partition per core (`None` when the source has no history or
/// no rows), and the number of text lines rejected while listing it.
fn history_plan(
    ir: &FeatureIr,
    source: usize,
    project_dir: &Path,
    until: i64,
) -> Result<(Option<Arc<dyn ExecutionPlan>>, usize), String> {
    let src = ir.sources.get(source).ok_or("no such source")?;
    let Some(files) = &src.history else { return Ok((None, 0)) };
    let df_err = |e: DataFusionError| format!("batch layer, source `{}`: {e}", src.name);
    // Only the columns some group of the source reads.
    let mut wanted: Vec<&str> = vec![src.event_time.as_str()];
    for g in ir.groups.iter().filter(|g| g.source == source) {
        for c in &g.columns {
            if !wanted.contains(&c.as_str()) {
                wanted.push(c);
            }
        }
    }
    let n = partitions();
    let (scan, rejected): (Arc<dyn ExecutionPlan>, usize) = match files.format {
        FileFormat::Parquet | FileFormat::Delta => {
            // Listed before DataFusion's runtime starts (a Delta table's log is read on a runtime of its own).
            let sized = history::data_files(project_dir, src)?
                .into_iter()
                .map(|(p, _)| {
                    // The object store names files by absolute path.
                    let read = |e: std::io::Error| format!("cannot read {}: {e}", p.display());
                    let path = std::path::absolute(&p).map_err(read)?;
                    Ok((path, std::fs::metadata(&p).map_err(read)?.len()))
                })
                .collect::<Result<Vec<_>, String>>()?;
            if sized.is_empty() {
                return Ok((None, 0));
            }
            let schema: SchemaRef = Arc::new(parquet_schema(&sized)?);
            let projection: Vec<usize> = wanted.iter().filter_map(|c| schema.index_of(c).ok()).collect();
            let config = FileScanConfigBuilder::new(
                ObjectStoreUrl::local_filesystem(),
                Arc::new(ParquetSource::new(schema.clone())),
            )
            .with_file_groups(file_groups(&sized, n))
            .with_projection_indices(Some(projection))
            .map_err(df_err)?
            .build();
            (DataSourceExec::from_data_source(config), 0)
        }
        FileFormat::Csv | FileFormat::Ndjson => {
            let h = history::read(project_dir, src)?;
            let Some(first) = h.batches.first() else { return Ok((None, h.rejected.len())) };
            // Round robin over the partitions, batch by batch.
            let width = n.min(h.batches.len());
            let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); width];
            for (i, b) in h.batches.iter().enumerate() {
                parts[i % width].push(b.clone());
            }
            let exec = MemorySourceConfig::try_new_exec(&parts, first.schema(), None).map_err(df_err)?;
            (exec, h.rejected.len())
        }
    };
    Ok((Some(timed_plan(scan, &src.event_time, until).map_err(df_err)?), rejected))
}

/// Reads a source's history at or before `until` into memory, in no particular order of time:
/// every partition at the same time, each on a core, their batches listed partition after
/// partition. `progress` is told the events read as they arrive. Returns the batches (each
/// with the event time in [`TS`]) and the number of text lines rejected.
pub(crate) fn read_history(
    ir: &FeatureIr,
    source: usize,
    project_dir: &Path,
    until: i64,
    progress: &mut dyn FnMut(u64),
) -> Result<(Vec<RecordBatch>, usize), String> {
    let (plan, rejected) = history_plan(ir, source, project_dir, until)?;
    let Some(plan) = plan else { return Ok((Vec::new(), rejected)) };
    let name = ir.sources.get(source).map_or("", |s| s.name.as_str());
    let df_err = |e: DataFusionError| format!("batch layer, source `{name}`: {e}");
    let count = plan.output_partitioning().partition_count();
    let ctx = Arc::new(TaskContext::default().with_session_config(SessionConfig::new().with_batch_size(8192)));
    // A worker per partition: the partitions are read at the same time.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(count.max(1))
        .thread_name("featc-batch-read")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let parts = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, datafusion_common::Result<RecordBatch>)>(4 * count);
        for p in 0..count {
            let mut stream = plan.execute(p, ctx.clone()).map_err(df_err)?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(b) = stream.next().await {
                    let failed = b.is_err();
                    if tx.send((p, b)).await.is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); count];
        while let Some((p, b)) = rx.recv().await {
            let b = b.map_err(df_err)?;
            progress(b.num_rows() as u64);
            parts[p].push(b);
        }
        Ok::<_, String>(parts)
    })?;
    Ok((parts.into_iter().flatten().filter(|b| b.num_rows() > 0).collect(), rejected))
}

/// The scan's rows with the event time as milliseconds in [`TS`] (null when it cannot be
/// read), those after `until` dropped.
fn timed_plan(
    scan: Arc<dyn ExecutionPlan>,
    event_time: &str,
    until: i64,
) -> datafusion_common::Result<Arc<dyn ExecutionPlan>> {
    let schema = scan.schema();
    let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| (Arc::new(Column::new(f.name(), i)) as Arc<dyn PhysicalExpr>, f.name().clone()))
        .collect();
    let ts: Arc<dyn PhysicalExpr> = Arc::new(TryCastExpr::new(
        Arc::new(Column::new_with_schema(event_time, &schema)?),
        DataType::Timestamp(TimeUnit::Millisecond, None),
    ));
    exprs.push((ts, TS.to_owned()));
    let at = exprs.len() - 1;
    let projected: Arc<dyn ExecutionPlan> = Arc::new(ProjectionExec::try_new(exprs, scan)?);
    let column = Arc::new(Column::new(TS, at)) as Arc<dyn PhysicalExpr>;
    let bound = Arc::new(Literal::new(ScalarValue::TimestampMillisecond(Some(until), None)));
    let keep = Arc::new(BinaryExpr::new(
        Arc::new(BinaryExpr::new(column.clone(), Operator::LtEq, bound)),
        Operator::Or,
        Arc::new(IsNullExpr::new(column)),
    ));
    Ok(Arc::new(FilterExec::try_new(keep, projected)?))
}

/// Computes the batch view of every group as of `cutoff`; `progress` is told the events read.
pub fn compute(
    ir: &FeatureIr,
    project_dir: &Path,
    cutoff: i64,
    progress: &mut dyn FnMut(u64),
) -> Result<BatchView, String> {
    let mut view = BatchView::empty(ir, cutoff)?;
    view.stale = (0..ir.groups.len()).collect();
    refresh(ir, project_dir, &mut view, progress)?;
    Ok(view)
}

/// Computes the view's stale groups at its cutoff, reading only the sources they need; the
/// other groups are left as they are.
pub fn refresh(
    ir: &FeatureIr,
    project_dir: &Path,
    view: &mut BatchView,
    progress: &mut dyn FnMut(u64),
) -> Result<(), String> {
    let cutoff = view.cutoff;
    for &gi in &view.stale {
        let g = ir.groups.get(gi).ok_or("no such group")?;
        let mut fresh = GroupRuntime::batch_layer(ir, g)?;
        fresh.read_range(i64::MIN, cutoff);
        // No key is read before the last event: the running totals are built once at the end.
        fresh.defer_totals();
        view.groups[gi] = fresh;
        view.files[gi] = None;
    }
    for source in 0..ir.sources.len() {
        let readers: Vec<_> = readers(ir, source).into_iter().filter(|(gi, _)| view.stale.contains(gi)).collect();
        if readers.is_empty() {
            continue;
        }
        let groups = &mut view.groups;
        // Read whole, then each group's shards sort and process their own keys' events.
        let (batches, rejected) = read_history(ir, source, project_dir, cutoff, progress)?;
        view.rejected += rejected;
        for (gi, fields) in &readers {
            groups[*gi].process_history(&batches, TS, fields)?;
        }
    }
    // The running totals stay deferred: the view's table stores panes alone, and a reader that
    // looks keys up builds them first ([`BatchView::settle`]).
    view.stale.clear();
    Ok(())
}

impl BatchView {
    /// Builds the running totals the batch layer deferred (see [`GroupRuntime::defer_totals`]),
    /// each group's shards on their own cores, before keys are looked up: lookups read a total
    /// instead of merging every pane. A group whose totals are kept up is left as it is.
    pub fn settle(&mut self) {
        self.groups.iter_mut().for_each(GroupRuntime::settle_totals);
    }

    /// A view of empty groups at `cutoff`.
    pub fn empty(ir: &FeatureIr, cutoff: i64) -> Result<BatchView, String> {
        let mut groups = ir.groups.iter().map(|g| GroupRuntime::batch_layer(ir, g)).collect::<Result<Vec<_>, _>>()?;
        groups.iter_mut().for_each(|g| g.read_range(i64::MIN, cutoff));
        Ok(BatchView {
            cutoff,
            groups,
            versions: ir.groups.iter().map(|g| g.version.clone()).collect(),
            files: vec![None; ir.groups.len()],
            stale: Vec::new(),
            rejected: 0,
        })
    }
}

/// The latest event time in the sources' history, for the default cutoff.
pub fn latest_event(ir: &FeatureIr, project_dir: &Path) -> Result<Option<i64>, String> {
    let mut latest: Option<i64> = None;
    for (si, source) in ir.sources.iter().enumerate() {
        if readers(ir, si).is_empty() || source.history.is_none() {
            continue;
        }
        // In chunks, so that a history of any size is read in bounded memory; of Parquet, the
        // event-time column alone.
        for chunk in history::column_chunks(project_dir, source, &source.event_time, 1 << 16)? {
            for batch in &chunk?.batches {
                let Some(a) = batch.column_by_name(&source.event_time) else { continue };
                if let Some(t) = max_time(a.as_ref()) {
                    latest = Some(latest.map_or(t, |l| l.max(t)));
                }
            }
        }
    }
    Ok(latest)
}

/// The latest event time of a column of event times, as the stream decodes them (a time out of
/// the plausible range is not an event): one kernel over a millisecond timestamp column whose
/// latest value is plausible, else each cell decoded.
fn max_time(a: &dyn arrow::array::Array) -> Option<i64> {
    use arrow::array::AsArray as _;
    use arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
    if let DataType::Timestamp(TimeUnit::Millisecond, _) = a.data_type()
        && let Some(t) = arrow::compute::max(a.as_primitive::<TimestampMillisecondType>())
        && (crate::operators::decode::MIN_TS..=crate::operators::decode::MAX_TS).contains(&t)
    {
        return Some(t);
    }
    (0..a.len())
        .filter_map(|r| match crate::operators::decode::cell_of(a, r, &featc::ir::Ty::Timestamp) {
            Some(crate::value::Value::Ts(t)) => Some(t),
            _ => None,
        })
        .max()
}

/// The cutoff a batch run takes by default: the latest history event, floored to the shortest
/// batch cadence of the groups (one day when none is written).
pub fn default_cutoff(ir: &FeatureIr, latest: i64) -> i64 {
    let every = ir.groups.iter().filter_map(|g| g.batch_every_ms).min().unwrap_or(86_400_000);
    let w = i64::try_from(every).unwrap_or(i64::MAX).max(1);
    latest - latest.rem_euclid(w)
}
