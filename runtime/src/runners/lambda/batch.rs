//! History files and a cutoff in, the batch view out: each group's state over the events at or
//! before the cutoff, computed by the stream operators over the history in event-time order.
//!
//! DataFusion reads the history (Parquet natively, with projection and the cutoff pushed into
//! the scan; CSV and NDJSON through the runtime's line-by-line reader, so that a malformed line
//! is rejected alone), filters it to the cutoff and sorts it by event time. Sorted, no event is
//! late: the batch layer counts every event, including those the speed layer rejected.

use std::path::Path;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext, col, ident, lit, try_cast};
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

/// Runs `f` on a small async runtime (DataFusion is async; the CLI is not).
pub(crate) fn block_on<T>(f: impl Future<Output = T>) -> Result<T, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    Ok(rt.block_on(f))
}

/// Reads a source's history at or before `until`, sorted by event time, and hands each batch
/// to `each`. Events whose time cannot be read come first, for decode to dead-letter. Returns
/// the number of text lines rejected.
pub(crate) fn sorted_history(
    ir: &FeatureIr,
    source: usize,
    project_dir: &Path,
    until: i64,
    each: &mut dyn FnMut(&arrow::record_batch::RecordBatch),
) -> Result<usize, String> {
    let src = ir.sources.get(source).ok_or("no such source")?;
    let Some(files) = &src.history else { return Ok(0) };
    let config = SessionConfig::new().with_target_partitions(2).with_batch_size(8192);
    let ctx = SessionContext::new_with_config(config);
    let df_err = |e: datafusion::error::DataFusionError| format!("batch layer, source `{}`: {e}", src.name);
    // Listed before DataFusion's runtime starts (a Delta table's log is read on a runtime of its own).
    let parquet_files = match files.format {
        FileFormat::Parquet | FileFormat::Delta => history::data_files(project_dir, src)?,
        FileFormat::Csv | FileFormat::Ndjson => Vec::new(),
    };
    block_on(async {
        let (df, rejected) = match files.format {
            FileFormat::Parquet | FileFormat::Delta => {
                let paths: Vec<String> = parquet_files.iter().map(|(p, _)| p.to_string_lossy().into_owned()).collect();
                if paths.is_empty() {
                    return Ok(0);
                }
                (ctx.read_parquet(paths, ParquetReadOptions::default()).await.map_err(df_err)?, 0)
            }
            _ => {
                let h = history::read(project_dir, src)?;
                if h.batches.is_empty() {
                    return Ok(h.rejected.len());
                }
                (ctx.read_batches(h.batches).map_err(df_err)?, h.rejected.len())
            }
        };
        let ts = try_cast(ident(&src.event_time), DataType::Timestamp(TimeUnit::Millisecond, None));
        let bound = lit(ScalarValue::TimestampMillisecond(Some(until), None));
        let df = df
            .with_column(TS, ts)
            .and_then(|df| df.filter(col(TS).lt_eq(bound).or(col(TS).is_null())))
            .and_then(|df| df.sort(vec![col(TS).sort(true, true)]))
            .map_err(df_err)?;
        let mut stream = df.execute_stream().await.map_err(df_err)?;
        while let Some(batch) = stream.next().await {
            each(&batch.map_err(df_err)?);
        }
        Ok(rejected)
    })?
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
        let mut fresh = GroupRuntime::new(ir, g)?;
        fresh.read_range(i64::MIN, cutoff);
        view.groups[gi] = fresh;
        view.files[gi] = None;
    }
    for source in 0..ir.sources.len() {
        let readers: Vec<_> = readers(ir, source).into_iter().filter(|(gi, _)| view.stale.contains(gi)).collect();
        if readers.is_empty() {
            continue;
        }
        let groups = &mut view.groups;
        view.rejected += sorted_history(ir, source, project_dir, cutoff, &mut |batch| {
            for (gi, fields) in &readers {
                groups[*gi].process_batch(batch, fields);
            }
            progress(batch.num_rows() as u64);
        })?;
    }
    view.stale.clear();
    Ok(())
}

impl BatchView {
    /// A view of empty groups at `cutoff`.
    pub(crate) fn empty(ir: &FeatureIr, cutoff: i64) -> Result<BatchView, String> {
        let mut groups = ir.groups.iter().map(|g| GroupRuntime::new(ir, g)).collect::<Result<Vec<_>, _>>()?;
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
        let h = history::read(project_dir, source)?;
        for batch in &h.batches {
            let Some(a) = batch.column_by_name(&source.event_time) else { continue };
            for r in 0..a.len() {
                if let Some(crate::value::Value::Ts(t)) =
                    crate::operators::decode::cell_of(a.as_ref(), r, &featc::ir::Ty::Timestamp)
                {
                    latest = Some(latest.map_or(t, |l| l.max(t)));
                }
            }
        }
    }
    Ok(latest)
}

/// The cutoff a batch run takes by default: the latest history event, floored to the shortest
/// batch cadence of the groups (one day when none is written).
pub fn default_cutoff(ir: &FeatureIr, latest: i64) -> i64 {
    let every = ir.groups.iter().filter_map(|g| g.batch_every_ms).min().unwrap_or(86_400_000);
    let w = i64::try_from(every).unwrap_or(i64::MAX).max(1);
    latest - latest.rem_euclid(w)
}
