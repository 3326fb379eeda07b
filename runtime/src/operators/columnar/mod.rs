//! Arrow record batches of a group in, per-key window state in flat slot arrays out: the
//! columnar fast path of the stream operators.
//!
//! A group takes this path when every aggregate reads a column, a value computed from columns or
//! nothing (as `count()`), over any window, with any group filter and feature filters
//! (`filters.rs`: a mask per event). Numeric `count`, `sum`, `avg`, `min` and `max` live in
//! words (`slots.rs`); every other aggregate, and every aggregate of a computed input
//! (`exprs.rs`), is boxed: a partial of the aggregate library per slot, fed values decoded
//! column by column with text interned (`cells.rs`). Session windows keep sessions of slots;
//! sliding windows keep panes of slots, listed per key (`panes.rs`), and running totals
//! (`totals.rs`). Groups with more than 64 feature filters take the row path of
//! [`crate::operators::group`]. The two paths keep the same semantics: lookups read this one's
//! slots in place, and it exports a key's state as the row path's `KeyState` (so snapshots,
//! restores and the online store share one form) (all in `state.rs`); the tests run both over
//! the same events. As in DataFusion's
//! `GroupsAccumulator`, keys become dense ids and each window's accumulators live in one flat
//! array per window, not in per-key objects.

mod cells;
mod columns;
mod exprs;
mod filters;
mod keys;
mod panes;
mod slots;
mod spills;
mod state;
mod totals;

use arrow::record_batch::RecordBatch;
use featc::ir::{Eviction, Expr, FeatureIr, IrGroup, Ty, WindowSpec};

use crate::operators::aggregate::AggSpec;
use crate::operators::prefetch;
use crate::operators::state::Stamps;
use crate::operators::window::WindowAggs;
use crate::value::Value;
use cells::{CellCol, CellColumn, Interner};
pub(crate) use columns::TsColumn;
use columns::{KeyColumn, NumColumn};
use exprs::Computed;
use filters::{Filters, Verdict};
pub(crate) use keys::KeyRef;
use keys::{KeyIndex, Keys, Stamp};
use panes::Panes;
use slots::{AggInput, Num, Slots};
use totals::Totals;

/// A value column an aggregate reads.
#[derive(Debug, Clone)]
struct ValueCol {
    /// Position in the group's columns.
    col: usize,
    name: String,
    integer: bool,
    /// An event time (read as integer milliseconds).
    time: bool,
    nullable: bool,
}

#[derive(Debug, Clone)]
struct ColWindow {
    spec: WindowSpec,
    /// The window's aggregates with their evictions, in slot order.
    aggs: WindowAggs,
    slots: Slots,
    /// Sliding windows: each key's panes `(start, slot)`, oldest first.
    panes: Panes,
    /// Sliding windows: each key's running totals of the aggregates evicted by subtraction.
    totals: Option<Totals>,
    /// Session windows: each key's sessions `(first event, last event, slot)`, oldest first,
    /// kept while an on-time event could still extend or bridge them.
    sessions: Vec<Vec<(i64, i64, u32)>>,
    /// Every aggregate of the window is off (see [`AggInput::off`]): the window keeps nothing
    /// and its partials are empty.
    off: bool,
    /// Events before this time are not added (see `GroupRuntime::answer_from`).
    from: i64,
}

/// What the batch path leaves to the row path: rows to decode one by one (a null, NaN or
/// absurd value, which the row decoder turns into a dead letter with its reason), and late rows
/// with the latest event time of their key.
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    pub(crate) accepted: u64,
    pub(crate) malformed: Vec<usize>,
    pub(crate) late: Vec<(usize, i64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Columnar {
    pub(crate) keys: KeyIndex,
    windows: Vec<ColWindow>,
    values: Vec<ValueCol>,
    key_cols: Vec<(usize, String, Ty)>,
    ts_col: (usize, String),
    lateness: i64,
    filters: Filters,
    scratch: Vec<Num>,
    /// The columns boxed aggregates read, then the inputs computed from expressions, and one
    /// event's values of them (the column cells first).
    cells: Vec<CellCol>,
    computed: Computed,
    cell_scratch: Vec<Value>,
    interner: Interner,
    /// The sliding windows' running totals are not kept up while events arrive, but built once
    /// from the panes (`settle_totals`): for a job that reads no key before its last event (the
    /// batch layer). Lookups meanwhile merge the panes.
    deferred: bool,
}

/// The slot of the session an event at `ts` belongs to, among a key's `sessions` (oldest first):
/// sessions that ended before an on-time event could reach them are dropped; the sessions
/// within `gap` of the event merge into one (their partials merged by the aggregate library);
/// none: a new one. The row path's rule (`WindowState::add`), on slots.
fn session(
    sessions: &mut Vec<(i64, i64, u32)>,
    slots: &mut Slots,
    ts: i64,
    max_ts: i64,
    lateness: i64,
    gap: i64,
) -> u32 {
    let horizon = max_ts.saturating_sub(lateness).saturating_sub(gap);
    sessions.retain(|&(_, end, slot)| {
        let keep = end >= horizon;
        if !keep {
            slots.release(slot);
        }
        keep
    });
    let touches = |&(start, end, _): &(i64, i64, u32)| ts >= start.saturating_sub(gap) && ts <= end.saturating_add(gap);
    let Some(first) = sessions.iter().position(touches) else {
        let slot = slots.alloc();
        let at = sessions.partition_point(|s| s.0 < ts);
        sessions.insert(at, (ts, ts, slot));
        return slot;
    };
    let (mut start, mut end, slot) = sessions[first];
    start = start.min(ts);
    end = end.max(ts);
    // Later sessions the event bridges to (sessions are disjoint, so they follow the first).
    while let Some(next) = sessions.get(first + 1).copied().filter(touches) {
        sessions.remove(first + 1);
        start = start.min(next.0);
        end = end.max(next.1);
        slots.merge_into(slot, next.2);
    }
    sessions[first] = (start, end, slot);
    slot
}

fn floor(t: i64, width: u64) -> i64 {
    let w = i64::try_from(width).unwrap_or(i64::MAX).max(1);
    t - t.rem_euclid(w)
}

impl Columnar {
    /// The columnar form of a group, or `None` when the group needs the row path. `keep[a]`:
    /// whether aggregate `a` is computed (the others are off: their partials stay empty).
    pub(crate) fn new(ir: &FeatureIr, group: &IrGroup, keep: &[bool]) -> Option<Columnar> {
        let source = ir.sources.get(group.source)?;
        let filters = Filters::new(group, source)?;
        let field = |name: &str| source.fields.iter().find(|f| f.name == name);
        let col = |name: &str| group.columns.iter().position(|c| c == name);
        let mut values: Vec<ValueCol> = Vec::new();
        let mut per_window: Vec<Vec<AggInput>> = vec![Vec::new(); group.windows.len()];
        let mut cells: Vec<CellCol> = Vec::new();
        // Inputs computed from expressions: boxed, each a cell after the column cells; `patch`
        // holds each such input's place in `per_window` and its expression, whose cell index is
        // known once every column cell is.
        let mut computed: Vec<&Expr> = Vec::new();
        let mut patch: Vec<(usize, usize, usize)> = Vec::new();
        for (ai, a) in group.aggregates.iter().enumerate() {
            let off = !keep.get(ai).copied().unwrap_or(true);
            let mut time = false;
            let predicate = match a.predicate {
                Some(p) if p < filters::MAX_PREDICATES => Some(u8::try_from(p).ok()?),
                Some(_) => return None,
                None => None,
            };
            let input = match &a.value {
                None => None,
                Some(e) => match e.tree {
                    Expr::Column(i) => {
                        let name = group.columns.get(i)?;
                        Some((i, name, field(name)?))
                    }
                    ref tree => {
                        let at = computed.iter().position(|c| *c == tree).unwrap_or_else(|| {
                            computed.push(tree);
                            computed.len() - 1
                        });
                        let window = per_window.get_mut(a.window)?;
                        patch.push((a.window, window.len(), at));
                        let spec = AggSpec::new(a.kind, a.param);
                        let integer = a.integer_input();
                        window.push(AggInput { spec, integer, time: false, column: None, cell: None, predicate, off });
                        continue;
                    }
                },
            };
            let cell = match input {
                Some((i, name, f)) if !slots::in_words(a.kind, Some(&f.ty.ty)) => {
                    if !matches!(f.ty.ty, Ty::I64 | Ty::F64 | Ty::Timestamp | Ty::String | Ty::Bool) {
                        return None;
                    }
                    Some(match cells.iter().position(|c| &c.name == name) {
                        Some(at) => at,
                        None => {
                            let (ty, nullable) = (f.ty.ty.clone(), f.ty.nullable);
                            cells.push(CellCol { col: i, name: name.clone(), ty, nullable });
                            cells.len() - 1
                        }
                    })
                }
                _ => None,
            };
            let column = match input {
                None => None,
                Some(_) if cell.is_some() => None,
                Some((i, name, f)) => {
                    let integer = match f.ty.ty {
                        Ty::I64 => true,
                        Ty::F64 => false,
                        Ty::Timestamp => {
                            time = true;
                            true
                        }
                        _ => return None,
                    };
                    let at = match values.iter().position(|v| &v.name == name) {
                        Some(at) => at,
                        None => {
                            let nullable = f.ty.nullable;
                            values.push(ValueCol { col: i, name: name.clone(), integer, time, nullable });
                            values.len() - 1
                        }
                    };
                    Some((at, f.ty.nullable))
                }
            };
            let input = AggInput {
                spec: AggSpec::new(a.kind, a.param),
                integer: a.integer_input() || time,
                time,
                column,
                cell,
                predicate,
                off,
            };
            per_window.get_mut(a.window)?.push(input);
        }
        for (w, i, at) in patch {
            per_window[w][i].cell = Some(cells.len() + at);
        }
        let computed = Computed::new(group, source, &computed)?;
        let mut windows = Vec::with_capacity(group.windows.len());
        let window_aggs = crate::operators::group::window_aggs(group).ok()?;
        for ((w, inputs), (_, aggs)) in group.windows.iter().zip(&per_window).zip(window_aggs) {
            let slots = Slots::new(inputs)?;
            // An aggregate that is off keeps no running total either.
            let subtract: Vec<bool> =
                aggs.specs.iter().zip(inputs).map(|(a, i)| a.eviction == Eviction::Subtract && !i.off).collect();
            let off = inputs.iter().all(|i| i.off);
            let totals = match w.spec {
                WindowSpec::Sliding { .. } if !off => Totals::new(inputs, &subtract, &slots),
                _ => None,
            };
            windows.push(ColWindow {
                spec: w.spec,
                aggs,
                slots,
                panes: Panes::default(),
                totals,
                sessions: Vec::new(),
                off,
                from: i64::MIN,
            });
        }
        let key_cols: Vec<(usize, String, Ty)> =
            group.keys.iter().map(|k| Some((col(&k.name)?, k.name.clone(), k.ty.ty.clone()))).collect::<Option<_>>()?;
        let ts_col = (col(&source.event_time)?, source.event_time.clone());
        // Every column the group reads must be a key, the event time or a value column, so
        // that the batch path checks each of them as the row decoder would.
        let known = |c: &String| {
            key_cols.iter().any(|k| k.1 == *c)
                || ts_col.1 == *c
                || values.iter().any(|v| v.name == *c)
                || cells.iter().any(|v| v.name == *c)
                || filters.reads(c)
                || computed.cells.reads(c)
        };
        if !group.columns.iter().all(known) {
            return None;
        }
        let single = |ty: Ty| group.keys.len() == 1 && group.keys[0].ty.ty == ty;
        Some(Columnar {
            keys: KeyIndex::new(single(Ty::I64), single(Ty::String)),
            windows,
            scratch: vec![Num::Null; values.len()],
            values,
            key_cols,
            ts_col,
            lateness: i64::try_from(source.lateness_ms).unwrap_or(i64::MAX),
            filters,
            cell_scratch: vec![Value::Null; cells.len() + computed.len()],
            cells,
            computed,
            interner: Interner::default(),
            deferred: false,
        })
    }

    /// The same group with no keys.
    pub(crate) fn emptied(&self) -> Columnar {
        Columnar {
            keys: KeyIndex::new(matches!(self.keys.keys, Keys::I64(_)), matches!(self.keys.keys, Keys::Str(_))),
            windows: self
                .windows
                .iter()
                .map(|w| ColWindow {
                    spec: w.spec,
                    aggs: w.aggs.clone(),
                    slots: w.slots.emptied(),
                    panes: Panes::default(),
                    totals: w.totals.as_ref().map(Totals::emptied),
                    sessions: Vec::new(),
                    off: w.off,
                    from: w.from,
                })
                .collect(),
            values: self.values.clone(),
            key_cols: self.key_cols.clone(),
            ts_col: self.ts_col.clone(),
            lateness: self.lateness,
            filters: self.filters.clone(),
            scratch: vec![Num::Null; self.values.len()],
            cells: self.cells.clone(),
            computed: self.computed.clone(),
            cell_scratch: vec![Value::Null; self.cells.len() + self.computed.len()],
            interner: Interner::default(),
            deferred: self.deferred,
        }
    }

    /// Adds one event, stamping its key with the change count `seq`; `Err(latest)` when it is
    /// late for its key (the state is unchanged).
    #[inline]
    fn accept(&mut self, key: KeyRef<'_>, ts: i64, event: Event<'_>) -> Result<(), i64> {
        let id = self.keys.intern(key);
        self.grow();
        self.accept_id(id, ts, event)
    }

    /// Window `w` takes only events at or after `from[w]` (see `GroupRuntime::answer_from`).
    pub(crate) fn set_window_from(&mut self, from: &[i64]) {
        for (w, &f) in self.windows.iter_mut().zip(from) {
            w.from = f;
        }
    }

    /// Makes room in every window for the keys interned so far.
    fn grow(&mut self) {
        let n = self.keys.len();
        for w in self.windows.iter_mut().filter(|w| !w.off) {
            match w.spec {
                WindowSpec::Sliding { .. } => {
                    w.panes.ensure(n);
                    if let Some(totals) = &mut w.totals {
                        totals.ensure(n);
                    }
                }
                WindowSpec::Session { .. } => {
                    if w.sessions.len() < n {
                        w.sessions.resize_with(n, Vec::new);
                    }
                }
                _ => w.slots.ensure(n),
            }
        }
    }

    /// Starts loading what the event of key `id` will touch.
    #[inline]
    fn prefetch(&self, id: u32) {
        self.keys.prefetch(id);
        for w in self.windows.iter().filter(|w| !w.off) {
            match w.spec {
                WindowSpec::Sliding { .. } => w.panes.prefetch(id),
                _ => w.slots.prefetch(id),
            }
        }
    }

    /// Adds one event of the key `id`.
    #[inline]
    fn accept_id(&mut self, id: u32, ts: i64, event: Event<'_>) -> Result<(), i64> {
        let Event { values, cells, seq, mask } = event;
        let latest = self.keys.latest(id);
        let first = latest == i64::MIN;
        if !first && ts < latest.saturating_sub(self.lateness) {
            return Err(latest);
        }
        let max_ts = latest.max(ts);
        self.keys.set_stamp(id, Stamp { latest: max_ts, changed: seq });
        let keep_totals = !self.deferred;
        for w in self.windows.iter_mut().filter(|w| !w.off) {
            match w.spec {
                WindowSpec::Lifetime => w.slots.update(id, values, cells, ts, mask),
                // An event no answer asked for can hold (see `GroupRuntime::answer_from`).
                WindowSpec::Tumbling { .. } | WindowSpec::Sliding { .. } if ts < w.from => {}
                WindowSpec::Tumbling { size_ms } => {
                    let s = floor(ts, size_ms);
                    if first || s > floor(latest, size_ms) {
                        w.slots.reset(id);
                        w.slots.update(id, values, cells, ts, mask);
                    } else if s == floor(latest, size_ms) {
                        w.slots.update(id, values, cells, ts, mask);
                    }
                    // An event of an earlier window can no longer change an answerable value.
                }
                WindowSpec::Sliding { size_ms, hop_ms } => {
                    let oldest = floor(max_ts.saturating_sub(i64::try_from(size_ms).unwrap_or(i64::MAX)), hop_ms);
                    while let Some((start, slot)) = w.panes.front(id)
                        && start < oldest
                    {
                        w.panes.pop_front(id);
                        if let Some(totals) = w.totals.as_mut().filter(|_| keep_totals) {
                            totals.retract(id, &w.slots, slot);
                        }
                        w.slots.release(slot);
                    }
                    let s = floor(ts, hop_ms);
                    if s < oldest {
                        continue;
                    }
                    let slots = &mut w.slots;
                    let slot = w.panes.find_or_add(id, s, || slots.alloc());
                    w.slots.update(slot, values, cells, ts, mask);
                    if let Some(totals) = w.totals.as_mut().filter(|_| keep_totals) {
                        totals.update(id, values, cells, ts, mask);
                    }
                }
                WindowSpec::Session { gap_ms } => {
                    let gap = i64::try_from(gap_ms).unwrap_or(i64::MAX);
                    let slot = session(&mut w.sessions[id as usize], &mut w.slots, ts, max_ts, self.lateness, gap);
                    w.slots.update(slot, values, cells, ts, mask);
                }
            }
        }
        Ok(())
    }

    /// Adds one decoded row (in the group's column order) whose key is not null, whose event
    /// time is `ts` and that the group's filter keeps, stamping its key with the change count
    /// `seq`; `Err(latest)` when it is late.
    pub(crate) fn accept_row(&mut self, row: &[Value], ts: i64, seq: u64) -> Result<(), i64> {
        let Verdict::Counted(mask) = self.filters.of_row(row) else { return Ok(()) };
        let mut values = std::mem::take(&mut self.scratch);
        for (v, c) in values.iter_mut().zip(&self.values) {
            *v = match row.get(c.col) {
                Some(Value::I64(x) | Value::Ts(x)) if c.integer => Num::I(*x),
                Some(Value::F64(x)) if !c.integer => Num::F(*x),
                Some(Value::I64(x)) => Num::F(*x as f64),
                _ => Num::Null,
            };
        }
        let mut cells = std::mem::take(&mut self.cell_scratch);
        for (v, c) in cells.iter_mut().zip(&self.cells) {
            *v = row.get(c.col).cloned().unwrap_or(Value::Null);
        }
        self.computed.of_row(row, &mut cells[self.cells.len()..]);
        let key: Vec<Value> =
            self.key_cols.iter().map(|(i, _, _)| row.get(*i).cloned().unwrap_or(Value::Null)).collect();
        let event = Event { values: &values, cells: &cells, seq, mask };
        let result = match key.as_slice() {
            [Value::I64(k)] => self.accept(KeyRef::I64(*k), ts, event),
            [Value::Str(s)] => self.accept(KeyRef::Str(s), ts, event),
            k => self.accept(KeyRef::Values(k), ts, event),
        };
        self.scratch = values;
        self.cell_scratch = cells;
        result
    }

    /// Adds every well-formed, on-time event with `after < ts <= until` among the rows `rows`
    /// (in order) of a batch; row `r` stamps its key with the change count `stamps.of(r)`.
    /// `None` when a column's Arrow type is not one the batch path reads (the caller then takes
    /// the row path for the batch); otherwise the rows it left for the row path.
    pub(crate) fn accept_batch(
        &mut self,
        batch: &RecordBatch,
        after: i64,
        until: i64,
        rows: &[u32],
        stamps: Stamps<'_>,
    ) -> Option<Leftovers> {
        let ts = TsColumn::read(batch.column_by_name(&self.ts_col.1)?.as_ref())?;
        let key = KeyColumn::read(batch, &self.key_cols)?;
        let cols: Vec<NumColumn<'_>> = self
            .values
            .iter()
            .map(|v| {
                let a = batch.column_by_name(&v.name)?.as_ref();
                if v.time { NumColumn::read_time(a) } else { NumColumn::read(a, v.integer) }
            })
            .collect::<Option<_>>()?;
        let cell_arrays: Vec<CellColumn<'_>> = self
            .cells
            .iter()
            .map(|c| Some(CellColumn::read(batch.column_by_name(&c.name)?.as_ref(), &c.ty)))
            .collect::<Option<_>>()?;
        let filter_arrays = self.filters.arrays(batch)?;
        let computed_arrays = self.computed.cells.arrays(batch)?;
        let n_cells = self.cells.len();
        // The computed inputs of each selected row, evaluated once, when the row is checked.
        let k = self.computed.len();
        let mut computed_values = vec![Value::Null; k * rows.len()];
        let filtered = !self.filters.is_empty();
        // Each selected row's feature-filter mask (all ones when the group has none).
        let mut masks = vec![u64::MAX; if filtered { rows.len() } else { 0 }];
        let mut left = Leftovers::default();
        let mut values = std::mem::take(&mut self.scratch);
        let mut cells = std::mem::take(&mut self.cell_scratch);
        // Two passes: the key ids of the whole batch first, then the updates. Each pass is a
        // short loop whose iterations do not depend on each other, so the processor overlaps
        // the memory accesses of many events (the key table, then the slots).
        const SKIP: u32 = u32::MAX;
        const PENDING: u32 = u32::MAX - 1;
        // One id per selected row, in the order of `rows`.
        let mut ids = vec![SKIP; rows.len()];
        'rows: for (i, (&r, id)) in rows.iter().zip(ids.iter_mut()).enumerate() {
            let r = r as usize;
            match ts.get(r) {
                None => {
                    left.malformed.push(r);
                    continue;
                }
                Some(t) if t <= after || t > until => continue,
                Some(_) => {}
            }
            for (c, spec) in cols.iter().zip(&self.values) {
                let bad = match c.get(r) {
                    Num::Null => !spec.nullable,
                    Num::F(x) => !x.is_finite(),
                    Num::I(_) => false,
                };
                if bad {
                    left.malformed.push(r);
                    continue 'rows;
                }
            }
            if !cell_arrays.iter().zip(&self.cells).all(|(a, c)| a.valid(r, c)) {
                left.malformed.push(r);
                continue;
            }
            // Computed inputs: the cells they read must decode.
            if !self.computed.at(&computed_arrays, r, &mut computed_values[i * k..(i + 1) * k]) {
                left.malformed.push(r);
                continue;
            }
            if key.is_null(r) {
                left.malformed.push(r);
                continue;
            }
            if filtered {
                match self.filters.at(&filter_arrays, r) {
                    Verdict::Malformed => {
                        left.malformed.push(r);
                        continue;
                    }
                    Verdict::Dropped => continue,
                    Verdict::Counted(mask) => masks[i] = mask,
                }
            }
            *id = PENDING;
        }
        // Keys seen before: a lookup loop with no inserts, whose iterations overlap.
        if let KeyColumn::I64(k, _) = &key {
            for (id, &r) in ids.iter_mut().zip(rows) {
                if *id == PENDING
                    && let Some(found) = self.keys.find_i64(k[r as usize])
                {
                    *id = found;
                }
            }
        }
        // New keys, in row order so that ids follow first appearance.
        for (id, &r) in ids.iter_mut().zip(rows) {
            if *id == PENDING
                && let Some(k) = key.get(r as usize)
            {
                *id = self.keys.intern(k);
            }
        }
        self.grow();
        const AHEAD: usize = 16;
        for (i, &r) in rows.iter().enumerate() {
            if let Some(&next) = ids.get(i + AHEAD)
                && next < PENDING
            {
                self.prefetch(next);
            }
            let (id, r) = (ids[i], r as usize);
            let Some(t) = ts.get(r).filter(|_| id < PENDING) else { continue };
            for (slot, c) in values.iter_mut().zip(&cols) {
                *slot = c.get(r);
            }
            for ((slot, a), c) in cells.iter_mut().zip(&cell_arrays).zip(&self.cells) {
                *slot = a.get(r, c, &mut self.interner);
            }
            for (slot, v) in cells[n_cells..].iter_mut().zip(&mut computed_values[i * k..(i + 1) * k]) {
                *slot = std::mem::replace(v, Value::Null);
            }
            let mask = masks.get(i).copied().unwrap_or(u64::MAX);
            let event = Event { values: &values, cells: &cells, seq: stamps.of(r), mask };
            match self.accept_id(id, t, event) {
                Ok(()) => left.accepted += 1,
                Err(latest) => left.late.push((r, latest)),
            }
        }
        self.scratch = values;
        self.cell_scratch = cells;
        Some(left)
    }
}

/// One event as the windows take it.
#[derive(Clone, Copy)]
struct Event<'a> {
    /// Its numeric values, by value column.
    values: &'a [Num],
    /// Its values boxed aggregates read, by cell column.
    cells: &'a [Value],
    /// The change count it stamps its key with.
    seq: u64,
    /// The feature filters it passes.
    mask: u64,
}
