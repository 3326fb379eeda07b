//! Arrow record batches of a group of simple aggregates in, per-key window state in flat slot
//! arrays out: the columnar fast path of the stream operators.
//!
//! A group takes this path when every aggregate is `count`, `sum`, `avg`, `min` or `max` of a
//! numeric column (`min` and `max` of a time too), or `count()`, over a lifetime, tumbling or
//! sliding window, with any group filter and feature filters (`filters.rs`: a mask per event).
//! Other groups take the row path of [`crate::operators::group`]. The two
//! paths keep the same semantics: this one exports a key's state as the row path's
//! [`KeyState`] (so lookups, snapshots and restores share one code path) and the tests run both
//! over the same events. As in DataFusion's `GroupsAccumulator`, keys become dense ids and
//! each window's accumulators live in one flat array per window, not in per-key objects.

mod filters;
mod keys;
mod slots;

use std::collections::VecDeque;

use arrow::array::{Array, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use featc::ir::{Expr, FeatureIr, IrGroup, Ty, WindowSpec};

use crate::operators::aggregate::AggSpec;
use crate::operators::decode::{MAX_TS, MIN_TS};
use crate::operators::state::KeyState;
use crate::operators::window::WindowState;
use crate::value::Value;
use filters::{Filters, Verdict};
pub(crate) use keys::KeyRef;
use keys::{KeyIndex, Keys, Stamp};
use slots::{AggInput, Num, Slots};

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
    slots: Slots,
    /// Sliding windows: each key's panes `(start, slot)`, oldest first.
    panes: Vec<VecDeque<(i64, u32)>>,
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
}

/// Starts loading the cache line of `x` (a hint; nothing on other processors).
#[inline]
fn prefetch<T>(x: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(x);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = x;
}

fn floor(t: i64, width: u64) -> i64 {
    let w = i64::try_from(width).unwrap_or(i64::MAX).max(1);
    t - t.rem_euclid(w)
}

impl Columnar {
    /// The columnar form of a group, or `None` when the group needs the row path.
    pub(crate) fn new(ir: &FeatureIr, group: &IrGroup) -> Option<Columnar> {
        let source = ir.sources.get(group.source)?;
        let filters = Filters::new(group, source)?;
        let field = |name: &str| source.fields.iter().find(|f| f.name == name);
        let col = |name: &str| group.columns.iter().position(|c| c == name);
        let mut values: Vec<ValueCol> = Vec::new();
        let mut per_window: Vec<Vec<AggInput>> = vec![Vec::new(); group.windows.len()];
        for a in &group.aggregates {
            let mut time = false;
            let column = match &a.value {
                None => None,
                Some(e) => {
                    let Expr::Column(i) = e.tree else { return None };
                    let name = group.columns.get(i)?;
                    let f = field(name)?;
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
                predicate: match a.predicate {
                    Some(p) if p < filters::MAX_PREDICATES => Some(u8::try_from(p).ok()?),
                    Some(_) => return None,
                    None => None,
                },
            };
            per_window.get_mut(a.window)?.push(input);
        }
        let mut windows = Vec::with_capacity(group.windows.len());
        for (w, aggs) in group.windows.iter().zip(&per_window) {
            if matches!(w.spec, WindowSpec::Session { .. }) {
                return None;
            }
            windows.push(ColWindow { spec: w.spec, slots: Slots::new(aggs)?, panes: Vec::new() });
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
                || filters.reads(c)
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
        })
    }

    /// The same group with no keys.
    pub(crate) fn emptied(&self) -> Columnar {
        Columnar {
            keys: KeyIndex::new(matches!(self.keys.keys, Keys::I64(_)), matches!(self.keys.keys, Keys::Str(_))),
            windows: self
                .windows
                .iter()
                .map(|w| ColWindow { spec: w.spec, slots: w.slots.emptied(), panes: Vec::new() })
                .collect(),
            values: self.values.clone(),
            key_cols: self.key_cols.clone(),
            ts_col: self.ts_col.clone(),
            lateness: self.lateness,
            filters: self.filters.clone(),
            scratch: vec![Num::Null; self.values.len()],
        }
    }

    /// Adds one event, stamping its key with the change count `seq`; `Err(latest)` when it is
    /// late for its key (the state is unchanged).
    #[inline]
    fn accept(&mut self, key: KeyRef<'_>, ts: i64, values: &[Num], seq: u64, mask: u64) -> Result<(), i64> {
        let id = self.keys.intern(key);
        self.grow();
        self.accept_id(id, ts, values, seq, mask)
    }

    /// Makes room in every window for the keys interned so far.
    fn grow(&mut self) {
        let n = self.keys.len();
        for w in &mut self.windows {
            match w.spec {
                WindowSpec::Sliding { .. } => {
                    if w.panes.len() < n {
                        w.panes.resize_with(n, VecDeque::new);
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
        for w in &self.windows {
            match w.spec {
                WindowSpec::Sliding { .. } => {
                    if let Some(p) = w.panes.get(id as usize) {
                        prefetch(p);
                    }
                }
                _ => w.slots.prefetch(id),
            }
        }
    }

    /// Adds one event of the key `id`.
    #[inline]
    fn accept_id(&mut self, id: u32, ts: i64, values: &[Num], seq: u64, mask: u64) -> Result<(), i64> {
        let latest = self.keys.latest(id);
        let first = latest == i64::MIN;
        if !first && ts < latest.saturating_sub(self.lateness) {
            return Err(latest);
        }
        let max_ts = latest.max(ts);
        self.keys.set_stamp(id, Stamp { latest: max_ts, changed: seq });
        for w in &mut self.windows {
            match w.spec {
                WindowSpec::Lifetime => w.slots.update(id, values, mask),
                WindowSpec::Tumbling { size_ms } => {
                    let s = floor(ts, size_ms);
                    if first || s > floor(latest, size_ms) {
                        w.slots.reset(id);
                        w.slots.update(id, values, mask);
                    } else if s == floor(latest, size_ms) {
                        w.slots.update(id, values, mask);
                    }
                    // An event of an earlier window can no longer change an answerable value.
                }
                WindowSpec::Sliding { size_ms, hop_ms } => {
                    let panes = &mut w.panes[id as usize];
                    let oldest = floor(max_ts.saturating_sub(i64::try_from(size_ms).unwrap_or(i64::MAX)), hop_ms);
                    while let Some(&(start, slot)) = panes.front()
                        && start < oldest
                    {
                        panes.pop_front();
                        w.slots.release(slot);
                    }
                    let s = floor(ts, hop_ms);
                    if s < oldest {
                        continue;
                    }
                    let slot = match panes.back() {
                        Some(&(last, slot)) if last == s => slot,
                        Some(&(last, _)) if last > s => {
                            let at = panes.partition_point(|(p, _)| *p < s);
                            match panes.get(at) {
                                Some(&(p, slot)) if p == s => slot,
                                _ => {
                                    let slot = w.slots.alloc();
                                    panes.insert(at, (s, slot));
                                    slot
                                }
                            }
                        }
                        _ => {
                            let slot = w.slots.alloc();
                            panes.push_back((s, slot));
                            slot
                        }
                    };
                    w.slots.update(slot, values, mask);
                }
                WindowSpec::Session { .. } => {}
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
        let key: Vec<Value> =
            self.key_cols.iter().map(|(i, _, _)| row.get(*i).cloned().unwrap_or(Value::Null)).collect();
        let result = match key.as_slice() {
            [Value::I64(k)] => self.accept(KeyRef::I64(*k), ts, &values, seq, mask),
            [Value::Str(s)] => self.accept(KeyRef::Str(s), ts, &values, seq, mask),
            k => self.accept(KeyRef::Values(k), ts, &values, seq, mask),
        };
        self.scratch = values;
        result
    }

    /// Adds every well-formed, on-time event with `after < ts <= until` among the rows `rows`
    /// (in order) of a batch; row `r` stamps its key with the change count `base + r + 1`.
    /// `None` when a column's Arrow type is not one the batch path reads (the caller then takes
    /// the row path for the batch); otherwise the rows it left for the row path.
    pub(crate) fn accept_batch(
        &mut self,
        batch: &RecordBatch,
        after: i64,
        until: i64,
        rows: &[u32],
        base: u64,
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
        let filter_arrays = self.filters.arrays(batch)?;
        let filtered = !self.filters.is_empty();
        // Each selected row's feature-filter mask (all ones when the group has none).
        let mut masks = vec![u64::MAX; if filtered { rows.len() } else { 0 }];
        let mut left = Leftovers::default();
        let mut values = std::mem::take(&mut self.scratch);
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
            let mask = masks.get(i).copied().unwrap_or(u64::MAX);
            match self.accept_id(id, t, &values, base + r as u64 + 1, mask) {
                Ok(()) => left.accepted += 1,
                Err(latest) => left.late.push((r, latest)),
            }
        }
        self.scratch = values;
        Some(left)
    }

    /// A key's state as the row path keeps it.
    pub(crate) fn export(&self, id: u32) -> KeyState {
        let max_ts = self.keys.latest(id);
        let windows = self
            .windows
            .iter()
            .map(|w| match w.spec {
                WindowSpec::Lifetime => WindowState::Lifetime(w.slots.partials(id)),
                WindowSpec::Tumbling { size_ms } => {
                    WindowState::Tumbling { start: floor(max_ts, size_ms), partials: w.slots.partials(id) }
                }
                _ => WindowState::Panes {
                    panes: w
                        .panes
                        .get(id as usize)
                        .map(|p| p.iter().map(|&(s, slot)| (s, w.slots.partials(slot))).collect())
                        .unwrap_or_default(),
                    // The plan gives the columnar path's sliding aggregates `merge_panes`.
                    total: Vec::new(),
                    stacks: crate::operators::window::TwoStacks::default(),
                },
            })
            .collect();
        KeyState { max_ts, windows, changed: 0 }
    }

    /// Loads a key's state (from a snapshot, in the row path's form).
    pub(crate) fn import(&mut self, key: &[Value], state: &KeyState) {
        let id = self.keys.intern(KeyRef::Values(key));
        self.keys.set_latest(id, state.max_ts);
        let n = self.keys.len();
        for (w, st) in self.windows.iter_mut().zip(&state.windows) {
            match st {
                WindowState::Lifetime(p) => {
                    w.slots.ensure(n);
                    w.slots.load(id, p);
                }
                WindowState::Tumbling { start, partials } => {
                    w.slots.ensure(n);
                    if let WindowSpec::Tumbling { size_ms } = w.spec
                        && *start == floor(state.max_ts, size_ms)
                    {
                        w.slots.load(id, partials);
                    }
                }
                WindowState::Panes { panes, .. } => {
                    if w.panes.len() < n {
                        w.panes.resize_with(n, VecDeque::new);
                    }
                    for (start, partials) in panes {
                        let slot = w.slots.alloc();
                        w.slots.load(slot, partials);
                        w.panes[id as usize].push_back((*start, slot));
                    }
                }
                WindowState::Sessions(_) => {}
            }
        }
    }

    /// Every key, by id.
    pub(crate) fn key_list(&self) -> Vec<Vec<Value>> {
        (0..self.keys.len() as u32).map(|id| self.keys.key(id)).collect()
    }

    /// Bytes of state: the key table, the slots and the pane rings.
    pub(crate) fn bytes(&self) -> usize {
        self.keys.bytes()
            + self
                .windows
                .iter()
                .map(|w| {
                    w.slots.bytes()
                        + w.panes.capacity() * size_of::<VecDeque<(i64, u32)>>()
                        + w.panes.iter().map(|p| p.capacity() * 16).sum::<usize>()
                })
                .sum::<usize>()
    }
}

/// Event times of a batch in milliseconds; `None` for a null or absurd one.
enum TsColumn<'a> {
    Millis(&'a [i64], Option<&'a NullBuffer>),
    Converted(Vec<Option<i64>>),
}

impl<'a> TsColumn<'a> {
    fn read(a: &'a dyn Array) -> Option<TsColumn<'a>> {
        let scaled =
            |f: &dyn Fn(usize) -> Option<i64>| (0..a.len()).map(|r| if a.is_null(r) { None } else { f(r) }).collect();
        Some(match a.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                TsColumn::Millis(a.as_primitive::<TimestampMillisecondType>().values(), a.nulls())
            }
            DataType::Int64 => TsColumn::Millis(a.as_primitive::<Int64Type>().values(), a.nulls()),
            DataType::Timestamp(TimeUnit::Second, _) => {
                let p = a.as_primitive::<arrow::datatypes::TimestampSecondType>();
                TsColumn::Converted(scaled(&|r| p.value(r).checked_mul(1000)))
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let p = a.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
                TsColumn::Converted(scaled(&|r| Some(p.value(r) / 1000)))
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                let p = a.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
                TsColumn::Converted(scaled(&|r| Some(p.value(r) / 1_000_000)))
            }
            _ => return None,
        })
    }

    #[inline]
    fn get(&self, r: usize) -> Option<i64> {
        let t = match self {
            TsColumn::Millis(v, nulls) => {
                if nulls.is_some_and(|n| n.is_null(r)) {
                    return None;
                }
                v[r]
            }
            TsColumn::Converted(v) => v[r]?,
        };
        (MIN_TS..=MAX_TS).contains(&t).then_some(t)
    }
}

/// A numeric column of a batch, read as its declared type.
enum NumColumn<'a> {
    F64(&'a [f64], Option<&'a NullBuffer>),
    I64(&'a [i64], Option<&'a NullBuffer>, bool),
    Converted(Vec<Num>),
}

impl<'a> NumColumn<'a> {
    fn read(a: &'a dyn Array, integer: bool) -> Option<NumColumn<'a>> {
        let convert =
            |f: &dyn Fn(usize) -> Num| (0..a.len()).map(|r| if a.is_null(r) { Num::Null } else { f(r) }).collect();
        Some(match (a.data_type(), integer) {
            (DataType::Float64, false) => NumColumn::F64(a.as_primitive::<Float64Type>().values(), a.nulls()),
            (DataType::Int64, _) => NumColumn::I64(a.as_primitive::<Int64Type>().values(), a.nulls(), integer),
            (DataType::Float32, false) => {
                let p = a.as_primitive::<arrow::datatypes::Float32Type>();
                NumColumn::Converted(convert(&|r| Num::F(f64::from(p.value(r)))))
            }
            (DataType::Int32, true) => {
                let p = a.as_primitive::<arrow::datatypes::Int32Type>();
                NumColumn::Converted(convert(&|r| Num::I(i64::from(p.value(r)))))
            }
            _ => return None,
        })
    }

    /// A time column as integer milliseconds; `None` when a time is out of featc's years (the
    /// row path then dead-letters its event with the reason).
    fn read_time(a: &dyn Array) -> Option<NumColumn<'static>> {
        let ts = TsColumn::read(a)?;
        let mut out = Vec::with_capacity(a.len());
        for r in 0..a.len() {
            out.push(if a.is_null(r) { Num::Null } else { Num::I(ts.get(r)?) });
        }
        Some(NumColumn::Converted(out))
    }

    #[inline]
    fn get(&self, r: usize) -> Num {
        match self {
            NumColumn::F64(v, nulls) => {
                if nulls.is_some_and(|n| n.is_null(r)) {
                    Num::Null
                } else {
                    Num::F(v[r])
                }
            }
            NumColumn::I64(v, nulls, integer) => {
                if nulls.is_some_and(|n| n.is_null(r)) {
                    Num::Null
                } else if *integer {
                    Num::I(v[r])
                } else {
                    Num::F(v[r] as f64)
                }
            }
            NumColumn::Converted(v) => v[r],
        }
    }
}

/// The key of each event of a batch; `None` for a null key.
enum KeyColumn<'a> {
    I64(&'a [i64], Option<&'a NullBuffer>),
    Str(&'a arrow::array::StringArray),
    LargeStr(&'a arrow::array::LargeStringArray),
    View(&'a arrow::array::StringViewArray),
    Values(Vec<Option<Vec<Value>>>),
}

impl<'a> KeyColumn<'a> {
    fn read(batch: &'a RecordBatch, keys: &[(usize, String, Ty)]) -> Option<KeyColumn<'a>> {
        let arrays: Vec<&dyn Array> =
            keys.iter().map(|(_, name, _)| batch.column_by_name(name).map(|a| a.as_ref())).collect::<Option<_>>()?;
        if let ([a], [(_, _, ty)]) = (arrays.as_slice(), keys) {
            match (ty, a.data_type()) {
                (Ty::I64, DataType::Int64) => {
                    return Some(KeyColumn::I64(a.as_primitive::<Int64Type>().values(), a.nulls()));
                }
                (Ty::String, DataType::Utf8) => return Some(KeyColumn::Str(a.as_string::<i32>())),
                (Ty::String, DataType::LargeUtf8) => return Some(KeyColumn::LargeStr(a.as_string::<i64>())),
                (Ty::String, DataType::Utf8View) => return Some(KeyColumn::View(a.as_string_view())),
                _ => {}
            }
        }
        // Other keys: decoded cell by cell as the row decoder does; any problem leaves the row
        // to the row path.
        let rows = (0..batch.num_rows())
            .map(|r| {
                arrays
                    .iter()
                    .zip(keys)
                    .map(|(a, (_, _, ty))| match crate::operators::decode::cell_of(*a, r, ty) {
                        Some(Value::Null) | None => None,
                        Some(v) => Some(v),
                    })
                    .collect::<Option<Vec<Value>>>()
            })
            .collect();
        Some(KeyColumn::Values(rows))
    }

    fn is_null(&self, r: usize) -> bool {
        match self {
            KeyColumn::I64(_, nulls) => nulls.is_some_and(|n| n.is_null(r)),
            KeyColumn::Str(a) => a.is_null(r),
            KeyColumn::LargeStr(a) => a.is_null(r),
            KeyColumn::View(a) => a.is_null(r),
            KeyColumn::Values(rows) => rows[r].is_none(),
        }
    }

    #[inline]
    fn get(&self, r: usize) -> Option<KeyRef<'_>> {
        match self {
            KeyColumn::I64(v, nulls) => (!nulls.is_some_and(|n| n.is_null(r))).then(|| KeyRef::I64(v[r])),
            KeyColumn::Str(a) => a.is_valid(r).then(|| KeyRef::Str(a.value(r))),
            KeyColumn::LargeStr(a) => a.is_valid(r).then(|| KeyRef::Str(a.value(r))),
            KeyColumn::View(a) => a.is_valid(r).then(|| KeyRef::Str(a.value(r))),
            KeyColumn::Values(rows) => rows[r].as_deref().map(KeyRef::Values),
        }
    }
}
