//! A group's state and a mark of where it stood in, the keys an event changed since then out
//! (and their states, as JSON or as a checkpoint's delta): what a feature changelog, an online
//! store and an incremental checkpoint write, without serializing every key each time.

use super::{GroupRuntime, Store};
use crate::operators::state::{ChangeMark, GroupSnapshot};
use crate::value::Value;

impl GroupRuntime {
    /// Where the state stands now.
    pub fn change_mark(&self) -> ChangeMark {
        ChangeMark { epoch: self.epoch, count: self.changes }
    }

    /// The keys an accepted event changed after `mark` (any on-time event, one older than the
    /// key's latest included), each with the time of its latest event, in key order. Every key
    /// for no mark, or a mark of another state (another runner, or this one before a restore).
    pub fn changed_since(&self, mark: Option<ChangeMark>) -> Vec<(Vec<Value>, i64)> {
        let after = match mark {
            Some(m) if m.epoch == self.epoch => Some(m.count),
            _ => None,
        };
        let newer = |changed: u64| after.is_none_or(|a| changed > a);
        let mut keys: Vec<(Vec<Value>, i64)> = Vec::new();
        for shard in &self.shards {
            match &shard.state {
                Store::Rows(state) => {
                    keys.extend(state.iter().filter(|(_, s)| newer(s.changed)).map(|(k, s)| (k.clone(), s.max_ts)))
                }
                Store::Columnar(c) => keys.extend(
                    (0..c.keys.len() as u32)
                        .filter(|id| newer(c.keys.stamp(*id).changed))
                        .map(|id| (c.keys.key(id), c.keys.latest(id))),
                ),
            }
        }
        keys.sort();
        keys
    }

    /// The states of the keys changed after `mark` (see [`GroupRuntime::changed_since`]) as
    /// JSON texts `(key, state)`, as [`GroupRuntime::state_rows`] writes them, and the mark of
    /// the state now.
    pub fn state_rows_since(&self, mark: Option<ChangeMark>) -> Result<(Vec<(String, String)>, ChangeMark), String> {
        let now = self.change_mark();
        let rows = self
            .changed_since(mark)
            .into_iter()
            .filter_map(|(key, _)| {
                let state = self.key_state(&key)?;
                Some((|| {
                    Ok((
                        serde_json::to_string(&key).map_err(|e| e.to_string())?,
                        serde_json::to_string(state.as_ref()).map_err(|e| e.to_string())?,
                    ))
                })())
            })
            .collect::<Result<_, String>>()?;
        Ok((rows, now))
    }

    /// The states of the keys changed after `mark`, keys in order, with the group's counters
    /// now: what an incremental checkpoint writes (see [`crate::store::snapshot`]); and the
    /// mark of the state now. Every key for a mark of another state.
    pub fn snapshot_since(&self, mark: ChangeMark) -> (GroupSnapshot, ChangeMark) {
        let now = self.change_mark();
        let keys = self
            .changed_since(Some(mark))
            .into_iter()
            .filter_map(|(key, _)| {
                let state = self.key_state(&key)?.into_owned();
                Some((key, state))
            })
            .collect();
        (GroupSnapshot { keys, ..self.snapshot_counters() }, now)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::operators::group::{GroupRuntime, Path};
    use crate::value::Value;

    /// A group on the row path or the columnar path.
    fn group(rows: bool) -> GroupRuntime {
        let filter = if rows { " where x > 0" } else { "" };
        let spec = format!(
            "source s {{ event_time ts lateness 1m schema {{ k: string, x: i64, ts: timestamp }} }}\n\
             entity e {{ key k: string }}\n\
             features g(e) from s{filter} {{ n = count() over lifetime }}\n"
        );
        let mut sources = featc::SourceMap::new();
        sources.add("g.feat", spec);
        let checked = featc::check_project(&sources, &featc::Options { targets: vec![featc::ir::Target::Kappa] });
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let ir = featc::ir::lower(&checked.project).unwrap();
        GroupRuntime::on_path(&ir, &ir.groups[0], if rows { Path::Rows } else { Path::Auto }).unwrap()
    }

    fn event(g: &mut GroupRuntime, k: &str, ts: i64) {
        let row: Vec<Value> = g
            .columns
            .iter()
            .map(|c| match c.as_str() {
                "k" => Value::Str(Arc::from(k)),
                "x" => Value::I64(1),
                _ => Value::Ts(ts),
            })
            .collect();
        g.process(row);
    }

    #[test]
    fn the_keys_changed_since_a_mark_include_on_time_events_older_than_the_latest() {
        for rows in [true, false] {
            let mut g = group(rows);
            assert_eq!(g.is_columnar(), !rows);
            for (k, ts) in [("a", 120_000), ("b", 120_000), ("c", 120_000)] {
                event(&mut g, k, ts);
            }
            assert_eq!(g.changed_since(None).len(), 3);
            let mark = g.change_mark();
            assert!(g.changed_since(Some(mark)).is_empty());
            event(&mut g, "b", 90_000); // older than b's latest, on time
            event(&mut g, "c", 150_000);
            event(&mut g, "a", 0); // two minutes late: not accepted, not a change
            let keys: Vec<Vec<Value>> = g.changed_since(Some(mark)).into_iter().map(|(k, _)| k).collect();
            assert_eq!(keys, [vec![Value::Str(Arc::from("b"))], vec![Value::Str(Arc::from("c"))]], "{rows}");
            let (rows, now) = g.state_rows_since(Some(mark)).unwrap();
            assert_eq!(rows.len(), 2);
            assert!(g.changed_since(Some(now)).is_empty());
            // A restored state is another epoch: a mark of before gives every key.
            let snapshot = g.snapshot();
            g.restore(snapshot);
            assert_eq!(g.changed_since(Some(now)).len(), 3);
        }
    }
}
