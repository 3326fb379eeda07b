//! The rows of a batch whose keys one shard owns in, that shard's per-key window state and the
//! dead letters of those rows (each with its row number) out: the keyed work of a group, which
//! runs on one core per shard.

use arrow::record_batch::RecordBatch;
use featc::ir::{IrField, Ty, WindowSpec};

use super::{AggRuntime, Store};
use crate::operators::decode;
use crate::operators::eval::Compiled;
use crate::operators::state::{DeadLetter, KeyState, Stamps};
use crate::operators::window::{WindowAggs, WindowState};
use crate::value::Value;

/// What every shard of a group runs: the compiled group, read-only while the shards run.
#[derive(Debug, Clone)]
pub(super) struct Operators {
    pub(super) key_cols: Vec<usize>,
    /// The key columns' names and declared types, which route a batch's rows to shards.
    pub(super) key_types: Vec<(String, Ty)>,
    pub(super) ts_col: usize,
    /// The event time's column in a batch.
    pub(super) ts_name: String,
    pub(super) lateness_ms: u64,
    pub(super) filter: Option<Compiled>,
    pub(super) predicates: Vec<Compiled>,
    pub(super) windows: Vec<(WindowSpec, WindowAggs)>,
    pub(super) aggs: Vec<AggRuntime>,
    /// For each window, the aggregates over it (indices into `aggs`).
    pub(super) members: Vec<Vec<usize>>,
    /// Only events with `after < ts <= until` are read.
    pub(super) after: i64,
    pub(super) until: i64,
    /// For each window, the earliest event time it takes (see `GroupRuntime::answer_from`).
    pub(super) window_from: Vec<i64>,
}

impl Operators {
    pub(super) fn late(&self, behind: i64, row: Vec<Value>) -> DeadLetter {
        DeadLetter {
            reason: format!("late: {behind} ms behind the key's latest event, lateness is {} ms", self.lateness_ms),
            row,
        }
    }
}

/// One shard: the state of the keys that hash to it.
#[derive(Debug, Clone)]
pub(super) struct Shard {
    pub(super) state: Store,
    /// Events this shard counted.
    pub(super) accepted: u64,
    /// The dead letters of the rows being processed, with their row numbers; the group takes
    /// them in row order once every shard is done.
    pub(super) dead: Vec<(usize, DeadLetter)>,
}

impl Shard {
    pub(super) fn new(state: Store) -> Shard {
        Shard { state, accepted: 0, dead: Vec::new() }
    }

    /// Processes the rows `rows` (in order) of a batch; row `r` stamps the key it changes with
    /// `stamps.of(r)` (for a batch read in order, the group's change count after it, whatever
    /// the shard).
    pub(super) fn process_batch(
        &mut self,
        ops: &Operators,
        batch: &RecordBatch,
        fields: &[IrField],
        rows: &[u32],
        stamps: Stamps<'_>,
    ) {
        if let Store::Columnar(c) = &mut self.state
            && let Some(left) = c.accept_batch(batch, ops.after, ops.until, rows, stamps)
        {
            self.accepted += left.accepted;
            for &r in &left.malformed {
                let (good, dead) = decode::rows(&batch.slice(r, 1), fields);
                self.dead.extend(dead.into_iter().map(|d| (r, d)));
                good.into_iter().for_each(|row| self.process(ops, row, r, stamps));
            }
            for &(r, latest) in &left.late {
                let (good, dead) = decode::rows(&batch.slice(r, 1), fields);
                self.dead.extend(dead.into_iter().map(|d| (r, d)));
                for row in good {
                    let behind = match row.get(ops.ts_col) {
                        Some(Value::Ts(ts)) => latest - ts,
                        _ => 0,
                    };
                    self.dead.push((r, ops.late(behind, row)));
                }
            }
            return;
        }
        let (good, dead) = decode::rows_at(batch, fields, rows);
        self.dead.extend(dead);
        for (r, row) in good {
            self.process(ops, row, r, stamps);
        }
    }

    /// Processes one event, row `r` of its batch, a row of values in the group's column order.
    pub(super) fn process(&mut self, ops: &Operators, row: Vec<Value>, r: usize, stamps: Stamps<'_>) {
        let Some(Value::Ts(ts)) = row.get(ops.ts_col).cloned() else {
            self.dead.push((r, DeadLetter { reason: "missing event time".to_owned(), row }));
            return;
        };
        if ts <= ops.after || ts > ops.until {
            return;
        }
        if let Some(f) = &ops.filter
            && f.eval(&row) != Value::Bool(true)
        {
            return;
        }
        if ops.key_cols.iter().any(|&i| row.get(i).is_none_or(Value::is_null)) {
            self.dead.push((r, DeadLetter { reason: "null key".to_owned(), row }));
            return;
        }
        let seq = stamps.of(r);
        let state = match &mut self.state {
            Store::Columnar(c) => {
                match c.accept_row(&row, ts, seq) {
                    Ok(()) => self.accepted += 1,
                    Err(latest) => self.dead.push((r, ops.late(latest - ts, row))),
                }
                return;
            }
            Store::Rows(state) => state,
        };
        let key: Vec<Value> = ops.key_cols.iter().map(|&i| row.get(i).cloned().unwrap_or(Value::Null)).collect();
        let lateness = i64::try_from(ops.lateness_ms).unwrap_or(i64::MAX);
        let windows = &ops.windows;
        let entry = state.entry(key).or_insert_with(|| KeyState {
            max_ts: i64::MIN,
            windows: windows.iter().map(|(spec, aggs)| WindowState::new(*spec, aggs)).collect(),
            changed: 0,
        });
        if entry.max_ts != i64::MIN && ts < entry.max_ts.saturating_sub(lateness) {
            let behind = entry.max_ts - ts;
            self.dead.push((r, ops.late(behind, row)));
            return;
        }
        entry.max_ts = entry.max_ts.max(ts);
        self.accepted += 1;
        entry.changed = seq;
        let matched: Vec<bool> = ops.predicates.iter().map(|p| p.eval(&row) == Value::Bool(true)).collect();
        let values: Vec<Option<Value>> = ops.aggs.iter().map(|a| a.value.as_ref().map(|v| v.eval(&row))).collect();
        for (w, (spec, aggs)) in ops.windows.iter().enumerate() {
            let runtime = &ops.aggs;
            let members = &ops.members[w];
            if members.is_empty() {
                continue; // every aggregate of the window is off: it holds nothing
            }
            if ts < ops.window_from.get(w).copied().unwrap_or(i64::MIN) {
                continue; // no answer asked for can hold it
            }
            entry.windows[w].add(*spec, aggs, ts, entry.max_ts, ops.lateness_ms, |partials, slots| {
                for &i in members {
                    let a = &runtime[i];
                    if a.predicate.is_some_and(|p| !matched.get(p).copied().unwrap_or(false))
                        || !aggs.specs.get(a.slot).is_some_and(|s| slots.takes(s.eviction))
                    {
                        continue;
                    }
                    if let Some(p) = partials.get_mut(a.slot) {
                        p.update(a.spec, ts, values[i].as_ref());
                    }
                }
            });
        }
    }
}
