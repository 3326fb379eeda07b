//! A source's whole history (record batches in read order, the event time in milliseconds in a
//! column of its own) in, each shard's keys processed in event-time order on a core of their
//! own out, and feature vectors read at given times along the way (a training set's sweep): the
//! batch layer's keyed work, with no global sort and no merge.
//!
//! Each shard takes the rows whose keys it owns (the route a stream's rows take), sorts them
//! (unreadable times first), and feeds them through its operators a chunk at a time, each
//! chunk gathered from the read batches by Arrow's interleave kernel. The rows are sorted by
//! their key's routing hash, then event time: a key's events arrive together, so its state
//! stays in the cache while they update it (a key's state depends only on its own events, in
//! time order: lateness is measured from the key's latest event). All of a key's events are in
//! one shard, so each key sees its events in the order a global sort gives; events of equal
//! times reach it in read order, on which no aggregate depends (ties are broken by value,
//! docs/language.md). Dead letters are put back in the global sort's order. A probe (a key and
//! a time), sorted the same way, is answered by its key's shard once every event of its key at
//! or before its time is in, and before any later one.

use arrow::array::{Array, AsArray, TimestampMillisecondArray};
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use featc::ir::{IrField, Ty};

use super::shard::{Operators, Shard};
use super::{GroupRuntime, route};
use crate::operators::columnar::KeyRef;
use crate::operators::eval::Compiled;
use crate::operators::state::{DeadLetter, Stamps};
use crate::value::Value;

/// Rows gathered into one batch for the operators.
const CHUNK: usize = 8192;

/// A row's place in the global order: unreadable times first (in read order), then by time,
/// then by read position (batch, row).
type Place = (bool, i64, u32, u32);

/// A row's place in a shard's order: readable, its key's hash, time, batch, row.
type Order = (bool, u64, i64, u32, u32);

fn place(o: &Order) -> Place {
    (o.0, o.2, o.3, o.4)
}

/// A key to read as of a time: `(time, key)`.
pub type Probe<'k> = (i64, &'k [Value]);

/// What every shard reads: the history, the group's compiled operators and the probes.
struct Sweep<'a> {
    ops: &'a Operators,
    derived: &'a [(usize, Compiled)],
    width: usize,
    batches: &'a [RecordBatch],
    /// Each batch's event times, for a history; none for a stream's backlog (read order).
    times: Option<&'a [&'a TimestampMillisecondArray]>,
    /// Each batch's change count before it: row `r` of batch `b` stamps `offsets[b] + r + 1`.
    offsets: &'a [u64],
    /// For each batch, its rows by shard, and each row's key hash.
    routed: &'a [(Vec<Vec<u32>>, Vec<u64>)],
    fields: &'a [IrField],
    probes: &'a [Probe<'a>],
}

/// What one shard gives back: its dead letters with their places, and its probes' answers.
type ShardOut = (Vec<(Place, DeadLetter)>, Vec<(usize, Vec<Value>)>);

impl GroupRuntime {
    /// Processes a source's history: `batches` in read order, `ts` the column holding each
    /// event's time as a millisecond timestamp (null when it cannot be read), `fields` the
    /// group's columns with their declared types. The state, counters and dead letters are those
    /// of processing the rows sorted by `ts`, on any number of shards. Change stamps are those of
    /// the rows' read positions.
    pub fn process_history(&mut self, batches: &[RecordBatch], ts: &str, fields: &[IrField]) -> Result<(), String> {
        self.sweep_history(batches, ts, fields, &[]).map(|_| ())
    }

    /// Processes batches of a stream, `batches` in read order: the state, counters, dead
    /// letters (in read order) and change stamps are those [`GroupRuntime::process_batch`]
    /// gives on each batch in turn. Each shard takes its keys' rows regrouped by key, each key's
    /// in read order (a key's state depends only on its own events in the order they came): a
    /// long replay updates a key's state one event after another while it is in the cache.
    /// Batches of different schemas are processed one after another instead.
    pub fn process_backlog(&mut self, batches: &[RecordBatch], fields: &[IrField]) -> Result<(), String> {
        let Some(first) = batches.first() else { return Ok(()) };
        if batches.iter().any(|b| b.schema() != first.schema()) {
            batches.iter().for_each(|b| self.process_batch(b, fields));
            return Ok(());
        }
        self.sweep(batches, None, fields, &[]).map(|_| ())
    }

    /// [`GroupRuntime::process_history`], answering each probe along the way: the feature
    /// vector of its key from the events at or before its time (the empty group's vector for a
    /// key with none), in the probes' order.
    pub fn sweep_history(
        &mut self,
        batches: &[RecordBatch],
        ts: &str,
        fields: &[IrField],
        probes: &[Probe<'_>],
    ) -> Result<Vec<Vec<Value>>, String> {
        let times = batches
            .iter()
            .map(|b| {
                let a = b.column_by_name(ts).ok_or_else(|| format!("the history has no `{ts}` column"))?;
                a.as_primitive_opt::<TimestampMillisecondType>()
                    .ok_or_else(|| format!("`{ts}` is not a millisecond timestamp"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        self.sweep(batches, Some(&times), fields, probes)
    }

    /// The shards' sweep of `batches`: by key hash, then time (`times`, each batch's event
    /// times) or read order (none), answering `probes`.
    fn sweep(
        &mut self,
        batches: &[RecordBatch],
        times: Option<&[&TimestampMillisecondArray]>,
        fields: &[IrField],
        probes: &[Probe<'_>],
    ) -> Result<Vec<Vec<Value>>, String> {
        let mut offsets = Vec::with_capacity(batches.len());
        let mut base = self.changes;
        for b in batches {
            offsets.push(base);
            base += b.num_rows() as u64;
        }
        self.changes = base;
        let empty = self.finish(&self.empty_partials());
        let GroupRuntime { ops, shards, dead_letters, derived, outputs, .. } = self;
        let keys: Vec<(&str, &Ty)> = ops.key_types.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let n = shards.len();
        // Each batch's rows in the read range by shard, the batches split over as many threads
        // as shards.
        let per = batches.len().div_ceil(n).max(1);
        let (ts, range) = (ops.ts_name.as_str(), (ops.after, ops.until));
        let routed: Vec<(Vec<Vec<u32>>, Vec<u64>)> = std::thread::scope(|scope| {
            let keys = &keys;
            let split = move |b: &RecordBatch| match route::in_range(b, ts, range) {
                Some(rows) if rows.is_empty() => (vec![Vec::new(); n], Vec::new()),
                rows => {
                    let hashes = route::hashes(b, keys);
                    (route::split_hashes(&hashes, rows.as_deref(), n), hashes)
                }
            };
            let parts: Vec<_> = batches
                .chunks(per)
                .map(|part| scope.spawn(move || part.iter().map(split).collect::<Vec<_>>()))
                .collect();
            parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        // Each shard's probes `(key hash, index)`, by key hash and time (then in the probes' order).
        let mut mine: Vec<Vec<(u64, usize)>> = vec![Vec::new(); n];
        for (i, (_, key)) in probes.iter().enumerate() {
            let hash = route::key_hash(KeyRef::Values(key));
            mine[route::shard_of_hash(hash, n)].push((hash, i));
        }
        for m in &mut mine {
            m.sort_by_key(|&(h, i)| (h, probes[i].0, i));
        }
        let sweep = Sweep {
            ops,
            derived,
            width: outputs.len(),
            batches,
            times,
            offsets: &offsets,
            routed: &routed,
            fields,
            probes,
        };
        let sweep = &sweep;
        let results: Vec<Result<ShardOut, String>> = std::thread::scope(|scope| {
            let mut work = shards.iter_mut().zip(&mine).enumerate();
            let here = work.next();
            let others: Vec<_> =
                work.map(|(s, (shard, mine))| scope.spawn(move || sweep.run(shard, s, mine))).collect();
            let mut out: Vec<_> = here.map(|(s, (shard, mine))| sweep.run(shard, s, mine)).into_iter().collect();
            out.extend(others.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
            out
        });
        let mut dead = Vec::new();
        let mut answers: Vec<Option<Vec<Value>>> = vec![None; probes.len()];
        for r in results {
            let (d, a) = r?;
            dead.extend(d);
            for (i, v) in a {
                answers[i] = Some(v);
            }
        }
        dead.sort_by_key(|d| d.0);
        dead_letters.extend(dead.into_iter().map(|d| d.1));
        Ok(answers.into_iter().map(|a| a.unwrap_or_else(|| empty.clone())).collect())
    }
}

impl Sweep<'_> {
    /// Shard `s`'s rows sorted and processed, and its probes (`mine`, by key hash and time)
    /// answered.
    fn run(&self, shard: &mut Shard, s: usize, mine: &[(u64, usize)]) -> Result<ShardOut, String> {
        let routed = self.routed;
        let mut order: Vec<Order> = Vec::with_capacity(routed.iter().map(|r| r.0.get(s).map_or(0, Vec::len)).sum());
        for (b, (rows, hashes)) in routed.iter().enumerate() {
            let rows = rows.get(s).map_or(&[][..], Vec::as_slice);
            match self.times.and_then(|t| t.get(b)) {
                Some(t) => order.extend(rows.iter().map(|&r| {
                    let valid = t.is_valid(r as usize);
                    let hash = if valid { hashes[r as usize] } else { 0 };
                    (valid, hash, if valid { t.value(r as usize) } else { 0 }, b as u32, r)
                })),
                // Read order within a key; a row whose time is unreadable becomes a dead
                // letter in its place, as a stream's batch makes it.
                None => order.extend(rows.iter().map(|&r| (true, hashes[r as usize], 0, b as u32, r))),
            }
        }
        order.sort_unstable();
        let refs: Vec<&RecordBatch> = self.batches.iter().collect();
        let all: Vec<u32> = (0..CHUNK as u32).collect();
        let (mut dead, mut answers) = (Vec::new(), Vec::with_capacity(mine.len()));
        let mut indices = Vec::with_capacity(CHUNK);
        let mut stamps = Vec::with_capacity(CHUNK);
        let mut next = 0;
        for places in order.chunks(CHUNK) {
            indices.clear();
            indices.extend(places.iter().map(|p| (p.3 as usize, p.4 as usize)));
            stamps.clear();
            stamps.extend(places.iter().map(|p| self.offsets[p.3 as usize] + u64::from(p.4) + 1));
            let chunk = arrow::compute::interleave_record_batch(&refs, &indices).map_err(|e| e.to_string())?;
            let mut feed = |shard: &mut Shard, from: usize, to: usize| {
                if to > from {
                    let part = chunk.slice(from, to - from);
                    shard.process_batch(
                        self.ops,
                        &part,
                        self.fields,
                        &all[..to - from],
                        Stamps::Given(&stamps[from..to]),
                    );
                    dead.extend(shard.dead.drain(..).map(|(r, d)| (place(&places[from + r]), d)));
                }
            };
            let mut start = 0;
            for (r, place) in places.iter().enumerate() {
                // Probes of earlier keys, and of this key strictly before this event's time, are
                // answered before it.
                let at = (place.1, place.2);
                if place.0 && mine.get(next).is_some_and(|&(h, i)| (h, self.probes[i].0) < at) {
                    feed(shard, start, r);
                    start = r;
                    next = self.answer(shard, mine, next, Some(at), &mut answers)?;
                }
            }
            feed(shard, start, places.len());
        }
        self.answer(shard, mine, next, None, &mut answers)?;
        Ok((dead, answers))
    }

    /// Answers the probes of `mine` from `next` on whose key hash and time are before `until`
    /// (all when `None`); returns where it stopped.
    fn answer(
        &self,
        shard: &Shard,
        mine: &[(u64, usize)],
        mut next: usize,
        until: Option<(u64, i64)>,
        answers: &mut Vec<(usize, Vec<Value>)>,
    ) -> Result<usize, String> {
        while let Some(&(h, i)) = mine.get(next) {
            let (t, key) = self.probes[i];
            if until.is_some_and(|u| (h, t) >= u) {
                break;
            }
            if let Some(v) = GroupRuntime::lookup_in(self.ops, self.derived, self.width, shard, key, t)? {
                answers.push((i, v));
            }
            next += 1;
        }
        Ok(next)
    }
}
