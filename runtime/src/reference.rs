//! Decoded events in, each aggregate's partial and each feature's value as of a time out,
//! straight from the definitions of `docs/language.md` (sections 7 and 8): the brute-force
//! reference `featc verify` holds both targets to. No lateness: every event counts.
//!
//! It is slow on purpose (each query scans the key's events) and shares only the aggregate
//! library (`Partial`) and expression evaluation with the operators it checks.

use std::collections::HashMap;

use featc::check::WindowSpec;
use featc::ir::{FeatureIr, IrGroup};
use featc::types::Ty;

use crate::aggregate::{AggSpec, Partial};
use crate::eval::{Compiled, compile};
use crate::value::Value;

fn floor(t: i64, w: u64) -> i64 {
    let w = i64::try_from(w).unwrap_or(i64::MAX).max(1);
    t - t.rem_euclid(w)
}

/// The events of one key (sorted by time) inside `spec`'s window as of `t`.
fn in_window(spec: WindowSpec, events: &[(i64, Vec<Value>)], t: i64) -> Vec<&(i64, Vec<Value>)> {
    let before = events.iter().filter(|e| e.0 <= t);
    match spec {
        WindowSpec::Lifetime => before.collect(),
        WindowSpec::Tumbling { size_ms } => before.filter(|e| e.0 >= floor(t, size_ms)).collect(),
        WindowSpec::Sliding { size_ms, hop_ms } => {
            let start = floor(t.saturating_sub(i64::try_from(size_ms).unwrap_or(i64::MAX)), hop_ms);
            before.filter(|e| e.0 >= start).collect()
        }
        WindowSpec::Session { gap_ms } => {
            // The session open at t: the last run of events with gaps of at most `gap`, if t is
            // within `gap` of its last event.
            let gap = i64::try_from(gap_ms).unwrap_or(i64::MAX);
            let mut session: Vec<&(i64, Vec<Value>)> = Vec::new();
            for e in before {
                if session.last().is_some_and(|last| e.0 - last.0 > gap) {
                    session.clear();
                }
                session.push(e);
            }
            match session.last() {
                Some(last) if t - last.0 <= gap => session,
                _ => Vec::new(),
            }
        }
    }
}

/// An aggregate: spec, integer input, value, predicate index, window.
type Agg = (AggSpec, bool, Option<Compiled>, Option<usize>, WindowSpec);

struct Group {
    filter: Option<Compiled>,
    predicates: Vec<Compiled>,
    aggs: Vec<Agg>,
    key_cols: Vec<usize>,
    ts_col: usize,
    events: HashMap<Vec<Value>, Vec<(i64, Vec<Value>)>>,
}

/// Every event of every group, kept to answer queries by the definitions.
pub struct Reference {
    groups: Vec<Group>,
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reference").field("groups", &self.groups.len()).finish()
    }
}

impl Reference {
    pub fn new(ir: &FeatureIr) -> Result<Reference, String> {
        let groups = ir.groups.iter().map(|g| Reference::group(ir, g)).collect::<Result<_, _>>()?;
        Ok(Reference { groups })
    }

    fn group(ir: &FeatureIr, g: &IrGroup) -> Result<Group, String> {
        let col = |name: &str| g.columns.iter().position(|c| c == name);
        let source = ir.sources.get(g.source).ok_or("group without source")?;
        Ok(Group {
            filter: g.filter.as_ref().map(|f| compile(f, &col)).transpose()?,
            predicates: g.predicates.iter().map(|p| compile(p, &col)).collect::<Result<_, _>>()?,
            aggs: g
                .aggregates
                .iter()
                .map(|a| {
                    Ok((
                        AggSpec::new(a.kind, a.param),
                        a.input.as_ref().is_some_and(|t| t.ty == Ty::I64),
                        a.value.as_ref().map(|v| compile(v, &col)).transpose()?,
                        a.predicate,
                        g.windows.get(a.window).ok_or("aggregate without window")?.spec,
                    ))
                })
                .collect::<Result<_, String>>()?,
            key_cols: g.keys.iter().map(|k| col(&k.name).ok_or("key not projected")).collect::<Result<_, _>>()?,
            ts_col: col(&source.event_time).ok_or("event time not projected")?,
            events: HashMap::new(),
        })
    }

    /// Adds a decoded event of group `gi` (a row in the group's column order). Events the group
    /// filter drops, or without a time or a key, are not kept.
    pub fn add(&mut self, gi: usize, row: Vec<Value>) {
        let Some(g) = self.groups.get_mut(gi) else { return };
        let Some(Value::Ts(ts)) = row.get(g.ts_col) else { return };
        if g.filter.as_ref().is_some_and(|f| f.eval(&row) != Value::Bool(true)) {
            return;
        }
        let key: Vec<Value> = g.key_cols.iter().map(|&i| row.get(i).cloned().unwrap_or(Value::Null)).collect();
        if key.iter().any(Value::is_null) {
            return;
        }
        let ts = *ts;
        g.events.entry(key).or_default().push((ts, row));
    }

    /// Every key of group `gi` with its latest event time, in key order.
    pub fn keys(&self, gi: usize) -> Vec<(Vec<Value>, i64)> {
        let Some(g) = self.groups.get(gi) else { return Vec::new() };
        let mut keys: Vec<(Vec<Value>, i64)> =
            g.events.iter().map(|(k, evs)| (k.clone(), evs.iter().map(|e| e.0).max().unwrap_or(i64::MIN))).collect();
        keys.sort();
        keys
    }

    /// The partial of every aggregate of `key` as of `t`, in the IR's aggregate order.
    pub fn partials(&mut self, gi: usize, key: &[Value], t: i64) -> Vec<Partial> {
        let Some(g) = self.groups.get_mut(gi) else { return Vec::new() };
        let empty = Vec::new();
        let events = match g.events.get_mut(key) {
            Some(evs) => {
                evs.sort_by_key(|e| e.0);
                &*evs
            }
            None => &empty,
        };
        g.aggs
            .iter()
            .map(|(spec, integer, value, predicate, window)| {
                let mut p = Partial::new(*spec, *integer);
                for (ts, row) in in_window(*window, events, t) {
                    if predicate.is_some_and(|i| g.predicates.get(i).is_none_or(|c| c.eval(row) != Value::Bool(true))) {
                        continue;
                    }
                    p.update(*spec, *ts, value.as_ref().map(|v| v.eval(row)).as_ref());
                }
                p
            })
            .collect()
    }
}
