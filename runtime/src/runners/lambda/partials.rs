//! The Parquet results of the emitted batch SQL in (one folder per statement, as an engine's
//! job writes them), the batch view out: each key's windows rebuilt from its panes' partials.
//!
//! The statements are the ones `featc::sql` emits for the project (`<group>__keys`,
//! `<group>__<window>__partials`, `<group>__<feature>__values`, `<group>__<feature>__sums`;
//! docs/plan-format.md). Each row gives one key's partials over one pane; a pane's partials are
//! folded into the key's window state through the same code an event takes
//! ([`WindowState::add`]), panes in time order, with the key's latest event time from the
//! keys statement, so the state is the one the stream operators build from the same events.
//! Real sums come from the exact parts (`__sums`), never from the engine's `SUM(double)`;
//! distinct counts, top-k, HyperLogLog and quantile sketches are built here from each value's
//! count. Session windows, which the SQL does not express, are computed by featc's own batch
//! layer over the same history and set into each key's state beside the windows the engine
//! computed, so no feature is left out.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, Decimal128Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use featc::ir::{AggKind, FeatureIr, IrAggregate, IrGroup, Ty, WindowSpec, WindowStrategy};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::operators::aggregate::{Hll, Partial, Quantiles, value_hash};
use crate::operators::decode::cell_of;
use crate::operators::group::{GroupRuntime, slot_of, window_aggs};
use crate::operators::state::{GroupSnapshot, KeyState};
use crate::operators::window::WindowState;
use crate::runners::lambda::batch::BatchView;
use crate::value::Value;

/// Whether an aggregate is in the batch view (its merge rule reads the batch layer).
fn in_batch(a: &IrAggregate) -> bool {
    a.merge.uses_batch()
}

/// The windows of a group whose batch features the SQL does not compute (session windows).
pub fn featc_windows(g: &IrGroup) -> Vec<usize> {
    (0..g.windows.len())
        .filter(|&w| {
            g.windows[w].strategy == WindowStrategy::Session
                && g.windows[w].aggregates.iter().any(|&ai| g.aggregates.get(ai).is_some_and(in_batch))
        })
        .collect()
}

/// The rows of one statement's results: every Parquet file of its folder.
fn read(dir: &Path, statement: &str) -> Result<Vec<RecordBatch>, String> {
    let folder = dir.join(statement);
    let entries = std::fs::read_dir(&folder)
        .map_err(|e| format!("the engine wrote no results for `{statement}` ({}: {e})", folder.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "parquet")
                && !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(['.', '_']))
        })
        .collect();
    files.sort();
    let mut batches = Vec::new();
    for path in files {
        let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for batch in reader {
            batches.push(batch.map_err(|e| format!("{}: {e}", path.display()))?);
        }
    }
    Ok(batches)
}

/// A column of a batch, by name.
fn column<'b>(b: &'b RecordBatch, statement: &str, name: &str) -> Result<&'b dyn Array, String> {
    b.column_by_name(name).map(|c| c.as_ref()).ok_or_else(|| format!("`{statement}` has no column `{name}`"))
}

/// An integer cell (an engine may write 32 or 64 bits); `None` when null.
fn int(a: &dyn Array, r: usize) -> Option<i64> {
    if a.is_null(r) {
        return None;
    }
    match a.data_type() {
        DataType::Int64 => a.as_any().downcast_ref::<Int64Array>().map(|a| a.value(r)),
        DataType::Int32 => Some(i64::from(a.as_primitive::<arrow::datatypes::Int32Type>().value(r))),
        _ => None,
    }
}

fn decimal(a: &dyn Array, r: usize) -> i128 {
    a.as_any().downcast_ref::<Decimal128Array>().filter(|a| !a.is_null(r)).map_or(0, |a| a.value(r))
}

/// A key's values from a row.
fn key_of(b: &RecordBatch, statement: &str, g: &IrGroup, r: usize) -> Result<Vec<Value>, String> {
    g.keys
        .iter()
        .map(|k| {
            let a = column(b, statement, &k.name)?;
            Ok(cell_of(a, r, &k.ty.ty).unwrap_or(Value::Null))
        })
        .collect()
}

/// One window's partials per key and pane, as the rows give them.
type Panes = BTreeMap<(Vec<Value>, i64), Vec<Partial>>;

/// Builds the batch view of a project as of `cutoff` from its statements' results in `dir`;
/// the windows the SQL does not compute are computed from the history under `project_dir`
/// (`progress` is told the events read for them).
pub fn install(
    ir: &FeatureIr,
    project_dir: &Path,
    dir: &Path,
    cutoff: i64,
    progress: &mut dyn FnMut(u64),
) -> Result<BatchView, String> {
    let mut view = BatchView::empty(ir, cutoff)?;
    // featc's own state of the groups with windows the SQL leaves to it.
    let mut featc_view = BatchView::empty(ir, cutoff)?;
    featc_view.stale =
        ir.groups.iter().enumerate().filter(|(_, g)| !featc_windows(g).is_empty()).map(|(gi, _)| gi).collect();
    if !featc_view.stale.is_empty() {
        crate::runners::lambda::batch::refresh(ir, project_dir, &mut featc_view, progress)?;
    }
    for (gi, g) in ir.groups.iter().enumerate() {
        if !g.aggregates.iter().any(in_batch) {
            continue;
        }
        let from_featc = featc_windows(g);
        let source = ir.sources.get(g.source).ok_or("group without source")?;
        let keys = keys(dir, g)?;
        let plans = window_aggs(g)?;
        let mut states: BTreeMap<Vec<Value>, KeyState> = keys
            .iter()
            .map(|(k, (max_ts, _))| {
                let windows = plans.iter().map(|(spec, aggs)| WindowState::new(*spec, aggs)).collect();
                (k.clone(), KeyState { max_ts: *max_ts, windows, changed: 0 })
            })
            .collect();
        if !from_featc.is_empty() {
            for (key, featc_state) in featc_view.groups[gi].snapshot().keys {
                let state = states.get_mut(&key).ok_or_else(|| {
                    format!("group `{}`: featc's batch layer has a key the engine's results lack", g.name)
                })?;
                for &w in &from_featc {
                    if let (Some(ours), Some(theirs)) = (state.windows.get_mut(w), featc_state.windows.get(w)) {
                        *ours = theirs.clone();
                    }
                }
            }
        }
        for (w, window) in g.windows.iter().enumerate() {
            if from_featc.contains(&w) {
                continue;
            }
            let members: Vec<usize> =
                window.aggregates.iter().copied().filter(|&ai| g.aggregates.get(ai).is_some_and(in_batch)).collect();
            if members.is_empty() {
                continue;
            }
            let (spec, aggs) = &plans[w];
            let panes = window_panes(dir, g, w, &members, &|| {
                aggs.specs.iter().map(|a| Partial::new(a.spec, a.integer)).collect()
            })?;
            for ((key, pane), pieces) in panes {
                let Some(state) = states.get_mut(&key) else {
                    return Err(format!("group `{}`: a key in the partials is not in `{}__keys`", g.name, g.name));
                };
                let at = if matches!(spec, WindowSpec::Lifetime) { state.max_ts } else { pane };
                let max_ts = state.max_ts;
                if let Some(window) = state.windows.get_mut(w) {
                    window.add(*spec, aggs, at, max_ts, source.lateness_ms, |slots, which| {
                        for ((slot, piece), a) in slots.iter_mut().zip(&pieces).zip(&aggs.specs) {
                            if which.takes(a.eviction) {
                                slot.merge(a.spec, piece);
                            }
                        }
                    });
                }
            }
        }
        let accepted = keys.values().map(|(_, n)| u64::try_from(*n).unwrap_or(0)).sum();
        let mut group = GroupRuntime::batch_layer(ir, g)?;
        group.read_range(i64::MIN, cutoff);
        group.restore(GroupSnapshot {
            name: g.name.clone(),
            keys: states.into_iter().collect(),
            dead_count: 0,
            accepted,
        });
        view.groups[gi] = group;
    }
    Ok(view)
}

/// Each key's latest event time and event count.
fn keys(dir: &Path, g: &IrGroup) -> Result<HashMap<Vec<Value>, (i64, i64)>, String> {
    let statement = featc::sql::keys_statement(g);
    let mut keys = HashMap::new();
    for b in read(dir, &statement)? {
        let latest = column(&b, &statement, "max_event_ms")?;
        let events = column(&b, &statement, "events")?;
        for r in 0..b.num_rows() {
            let max_ts = int(latest, r).ok_or_else(|| format!("`{statement}`: a key without its latest event"))?;
            keys.insert(key_of(&b, &statement, g, r)?, (max_ts, int(events, r).unwrap_or(0)));
        }
    }
    Ok(keys)
}

/// Reads a sketch the engine computed (`__hll`: hashes or packed registers; `__buckets`: bucket
/// counts) into each key's and pane's slot; false when the engine wrote no such statement (it
/// gave each value's count instead).
fn sketch_rows(
    dir: &Path,
    g: &IrGroup,
    a: &IrAggregate,
    panes: &mut Panes,
    pane_of: &dyn Fn(&RecordBatch, &str, usize) -> Result<i64, String>,
    slot: usize,
    empty: &dyn Fn() -> Vec<Partial>,
) -> Result<bool, String> {
    let statement = match a.kind {
        AggKind::ApproxCountDistinct => featc::sql::hll_statement(g, a),
        AggKind::ApproxPercentile => featc::sql::buckets_statement(g, a),
        _ => return Ok(false),
    };
    if !dir.join(&statement).is_dir() {
        return Ok(false);
    }
    let ints = |c: &dyn Array, r: usize| -> Result<Option<Vec<i64>>, String> {
        if c.is_null(r) {
            return Ok(None);
        }
        let list = c.as_list_opt::<i32>().ok_or_else(|| format!("`{statement}`: expected a list"))?;
        let items = list.value(r);
        Ok(Some((0..items.len()).filter_map(|i| int(items.as_ref(), i)).collect()))
    };
    for b in read(dir, &statement)? {
        for r in 0..b.num_rows() {
            let key = (key_of(&b, &statement, g, r)?, pane_of(&b, &statement, r)?);
            let slots = panes.entry(key).or_insert_with(empty);
            match slots.get_mut(slot) {
                Some(Partial::Hll(h)) => {
                    if let Some(hashes) = ints(column(&b, &statement, "hashes")?, r)? {
                        hashes.into_iter().for_each(|x| h.insert_hash(u64::from_ne_bytes(x.to_ne_bytes())));
                    } else if let Some(packed) = ints(column(&b, &statement, "registers")?, r)? {
                        let mut registers = vec![0u8; 1 << 12];
                        for p in packed {
                            let (register, rank) = (usize::try_from(p >> 6).unwrap_or(usize::MAX), p & 63);
                            let cell = registers
                                .get_mut(register)
                                .ok_or_else(|| format!("`{statement}`: register {register}"))?;
                            *cell = (*cell).max(u8::try_from(rank).unwrap_or(0));
                        }
                        h.merge(&Hll::from_registers(&registers)?);
                    }
                }
                Some(Partial::Quantiles(q)) => {
                    let sign = int(column(&b, &statement, "sign")?, r).unwrap_or(0);
                    let bucket = int(column(&b, &statement, "bucket")?, r).unwrap_or(0);
                    let n = u64::try_from(int(column(&b, &statement, "count")?, r).unwrap_or(0)).unwrap_or(0);
                    let bucket = i32::try_from(bucket).map_err(|_| format!("`{statement}`: bucket {bucket}"))?;
                    let (positive, negative, zeros): (&[_], &[_], u64) = match sign {
                        0 => (&[], &[], n),
                        s if s > 0 => (&[(bucket, n)], &[], 0),
                        _ => (&[], &[(bucket, n)], 0),
                    };
                    q.merge(&Quantiles::from_parts(positive, negative, zeros));
                }
                _ => {}
            }
        }
    }
    Ok(true)
}

/// The partials of one window's batch aggregates per key and pane, from every statement that
/// holds a part of them.
fn window_panes(
    dir: &Path,
    g: &IrGroup,
    w: usize,
    members: &[usize],
    empty: &dyn Fn() -> Vec<Partial>,
) -> Result<Panes, String> {
    let window = &g.windows[w];
    let paned = window.pane_ms.is_some() && window.strategy != WindowStrategy::Running;
    let mut panes = Panes::new();
    let pane_of = |b: &RecordBatch, statement: &str, r: usize| -> Result<i64, String> {
        if !paned {
            return Ok(i64::MIN);
        }
        int(column(b, statement, "pane_start")?, r).ok_or_else(|| format!("`{statement}`: a row without its pane"))
    };
    let simple: Vec<usize> =
        members.iter().copied().filter(|&ai| !featc::sql::from_value_counts(g.aggregates[ai].kind)).collect();
    if !simple.is_empty() {
        let statement = featc::sql::partials_statement(g, window);
        for b in read(dir, &statement)? {
            for r in 0..b.num_rows() {
                let key = (key_of(&b, &statement, g, r)?, pane_of(&b, &statement, r)?);
                let slots = panes.entry(key).or_insert_with(empty);
                for &ai in &simple {
                    let a = &g.aggregates[ai];
                    if let Some(slot) = slots.get_mut(slot_of(g, ai)) {
                        fill(slot, a, &b, &statement, r)?;
                    }
                }
            }
        }
    }
    for &ai in members {
        let a = &g.aggregates[ai];
        let slot = slot_of(g, ai);
        if featc::sql::from_value_counts(a.kind) && sketch_rows(dir, g, a, &mut panes, &pane_of, slot, empty)? {
            // The engine computed the sketch itself (`__hll`, `__buckets`).
        } else if featc::sql::from_value_counts(a.kind) {
            let statement = featc::sql::values_statement(g, a);
            let input = a.input.as_ref().map_or(Ty::String, |t| t.ty.clone());
            for b in read(dir, &statement)? {
                let values = column(&b, &statement, "value")?;
                let counts = column(&b, &statement, "count")?;
                for r in 0..b.num_rows() {
                    let key = (key_of(&b, &statement, g, r)?, pane_of(&b, &statement, r)?);
                    let Some(value) = cell_of(values, r, &input).filter(|v| !v.is_null()) else { continue };
                    let n = int(counts, r).unwrap_or(0);
                    let slots = panes.entry(key).or_insert_with(empty);
                    match slots.get_mut(slot) {
                        Some(Partial::Counts(c)) => c.add(&value, n),
                        Some(Partial::Hll(h)) => h.insert_hash(value_hash(&value)),
                        Some(Partial::Quantiles(q)) => {
                            q.insert_n(value.as_f64().unwrap_or(0.0), u64::try_from(n).unwrap_or(0));
                        }
                        _ => {}
                    }
                }
            }
        }
        if featc::sql::needs_exact_sum(a) {
            let statement = featc::sql::sums_statement(g, a);
            let squares = matches!(a.kind, AggKind::Variance | AggKind::Stddev);
            for b in read(dir, &statement)? {
                let exponent = column(&b, &statement, "exponent")?;
                let m = column(&b, &statement, "mantissa_sum")?;
                let parts = if squares {
                    Some((
                        column(&b, &statement, "square_hi")?,
                        column(&b, &statement, "square_mid")?,
                        column(&b, &statement, "square_lo")?,
                    ))
                } else {
                    None
                };
                for r in 0..b.num_rows() {
                    let key = (key_of(&b, &statement, g, r)?, pane_of(&b, &statement, r)?);
                    let u = int(exponent, r).ok_or_else(|| format!("`{statement}`: a row without its exponent"))?;
                    let slots = panes.entry(key).or_insert_with(empty);
                    let (sum, sum_sq) = match slots.get_mut(slot) {
                        Some(Partial::SumF(s)) => (s, None),
                        Some(Partial::Avg { sum, .. }) => (sum, None),
                        Some(Partial::Moments(m)) => {
                            let m = &mut **m;
                            (&mut m.sum, Some(&mut m.sum_sq))
                        }
                        _ => continue,
                    };
                    sum.add_scaled(decimal(m, r), u);
                    if let (Some(q), Some((hi, mid, lo))) = (sum_sq, parts) {
                        let twice = u.saturating_mul(2);
                        q.add_scaled(decimal(hi, r), twice.saturating_add(52));
                        q.add_scaled(decimal(mid, r), twice.saturating_add(26));
                        q.add_scaled(decimal(lo, r), twice);
                    }
                }
            }
        }
    }
    Ok(panes)
}

/// Fills one aggregate's slot from its columns in a partials row (real sums excepted: they come
/// from the exact parts).
fn fill(slot: &mut Partial, a: &IrAggregate, b: &RecordBatch, statement: &str, r: usize) -> Result<(), String> {
    let col = |field: &str| {
        let name = if field.is_empty() { a.name.clone() } else { format!("{}__{field}", a.name) };
        column(b, statement, &name)
    };
    let input = a.input.as_ref().map_or(Ty::Null, |t| t.ty.clone());
    match slot {
        Partial::Count(c) => *c = int(col("")?, r).unwrap_or(0),
        Partial::SumI(s) => *s = i128::from(int(col("")?, r).unwrap_or(0)),
        Partial::SumF(_) => {}
        Partial::Avg { sum, count } => {
            *count = int(col("count")?, r).unwrap_or(0);
            if a.integer_input() {
                sum.add_scaled(i128::from(int(col("sum")?, r).unwrap_or(0)), 0);
            }
        }
        Partial::Moments(m) => m.count = int(col("count")?, r).unwrap_or(0),
        Partial::Min(m) | Partial::Max(m) => *m = cell_of(col("")?, r, &a.ty.ty).filter(|v| !v.is_null()),
        Partial::First(p) | Partial::Last(p) => {
            let value = cell_of(col("")?, r, &input).filter(|v| !v.is_null());
            *p = value.zip(int(col("ts")?, r)).map(|(v, t)| (t, v));
        }
        Partial::FirstN(items) | Partial::LastN(items) => {
            let values = col("")?;
            let times = col("ts")?;
            if values.is_null(r) || times.is_null(r) {
                return Ok(());
            }
            let (values, times) = (list_item(values, r)?, list_item(times, r)?);
            let times =
                times.as_primitive_opt::<Int64Type>().ok_or_else(|| format!("`{statement}`: times not integers"))?;
            let mut pairs: Vec<(i64, Value)> = (0..values.len().min(times.len()))
                .filter_map(|i| Some((times.value(i), cell_of(values.as_ref(), i, &input)?)))
                .collect();
            pairs.sort();
            *items = pairs;
        }
        Partial::Counts(_) | Partial::Hll(_) | Partial::Quantiles(_) => {}
    }
    Ok(())
}

/// The items of row `r` of a list column.
fn list_item(a: &dyn Array, r: usize) -> Result<arrow::array::ArrayRef, String> {
    match a.data_type() {
        DataType::List(_) => Ok(a.as_list::<i32>().value(r)),
        DataType::LargeList(_) => Ok(a.as_list::<i64>().value(r)),
        other => Err(format!("expected a list, found {other}")),
    }
}
