//! A source's whole history (record batches in read order, the event time in milliseconds in a
//! column of its own) in, each shard's keys processed in event-time order on a core of their
//! own out: the batch layer's keyed work, with no global sort and no merge.
//!
//! Each shard takes the rows whose keys it owns (the route a stream's rows take), sorts them
//! by event time (unreadable times first), and feeds them through its operators a chunk at a
//! time, each chunk gathered from the read batches by Arrow's interleave kernel. All of a key's
//! events are in one shard, so each key sees its events in the order a global sort gives;
//! events of equal times reach it in read order, on which no aggregate depends (ties are
//! broken by value, docs/language.md). Dead letters are put back in the global sort's order.

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use featc::ir::{IrField, Ty};

use super::shard::{Operators, Shard};
use super::{GroupRuntime, route};
use crate::operators::state::DeadLetter;

/// Rows gathered into one batch for the operators.
const CHUNK: usize = 8192;

/// A row's place in the global order: unreadable times first (in read order), then by time,
/// then by read position (batch, row).
type Place = (bool, i64, u32, u32);

impl GroupRuntime {
    /// Processes a source's history: `batches` in read order, `ts` the column holding each
    /// event's time as a millisecond timestamp (null when it cannot be read), `fields` the
    /// group's columns with their declared types. The state, counters and dead letters are those
    /// of processing the rows sorted by `ts`, on any number of shards. Change stamps are numbered
    /// within each shard (after every earlier stamp): the batch view keeps none.
    pub fn process_history(&mut self, batches: &[RecordBatch], ts: &str, fields: &[IrField]) -> Result<(), String> {
        let base = self.changes;
        self.changes += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        let GroupRuntime { ops, shards, dead_letters, .. } = self;
        let keys: Vec<(&str, &Ty)> = ops.key_types.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let n = shards.len();
        let times = batches
            .iter()
            .map(|b| {
                let a = b.column_by_name(ts).ok_or_else(|| format!("the history has no `{ts}` column"))?;
                a.as_primitive_opt::<TimestampMillisecondType>()
                    .ok_or_else(|| format!("`{ts}` is not a millisecond timestamp"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        // Each batch's rows by shard, the batches split over as many threads as shards.
        let per = batches.len().div_ceil(n).max(1);
        let routed: Vec<Vec<Vec<u32>>> = std::thread::scope(|scope| {
            let keys = &keys;
            let parts: Vec<_> = batches
                .chunks(per)
                .map(|part| scope.spawn(move || part.iter().map(|b| route::split(b, keys, n)).collect::<Vec<_>>()))
                .collect();
            parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        });
        let ops = &*ops;
        let (routed, times) = (&routed, &times);
        let results: Vec<Result<Vec<(Place, DeadLetter)>, String>> = std::thread::scope(|scope| {
            let mut work = shards.iter_mut().enumerate();
            let here = work.next();
            let others: Vec<_> = work
                .map(|(s, shard)| scope.spawn(move || run_shard(shard, s, ops, batches, times, routed, fields, base)))
                .collect();
            let mut out: Vec<_> = here
                .map(|(s, shard)| run_shard(shard, s, ops, batches, times, routed, fields, base))
                .into_iter()
                .collect();
            out.extend(others.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
            out
        });
        let mut dead = Vec::new();
        for r in results {
            dead.extend(r?);
        }
        dead.sort_by_key(|d| d.0);
        dead_letters.extend(dead.into_iter().map(|d| d.1));
        Ok(())
    }
}

/// Shard `s`'s rows sorted and processed; its dead letters with their places.
#[allow(clippy::too_many_arguments)]
fn run_shard(
    shard: &mut Shard,
    s: usize,
    ops: &Operators,
    batches: &[RecordBatch],
    times: &[&arrow::array::TimestampMillisecondArray],
    routed: &[Vec<Vec<u32>>],
    fields: &[IrField],
    base: u64,
) -> Result<Vec<(Place, DeadLetter)>, String> {
    let mut order: Vec<Place> = Vec::with_capacity(routed.iter().map(|r| r.get(s).map_or(0, Vec::len)).sum());
    for (b, (rows, t)) in routed.iter().zip(times).enumerate() {
        for &r in rows.get(s).map_or(&[][..], Vec::as_slice) {
            let valid = t.is_valid(r as usize);
            order.push((valid, if valid { t.value(r as usize) } else { 0 }, b as u32, r));
        }
    }
    order.sort_unstable();
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let all: Vec<u32> = (0..CHUNK as u32).collect();
    let mut dead = Vec::new();
    let mut indices = Vec::with_capacity(CHUNK);
    for (c, places) in order.chunks(CHUNK).enumerate() {
        indices.clear();
        indices.extend(places.iter().map(|p| (p.2 as usize, p.3 as usize)));
        let chunk = arrow::compute::interleave_record_batch(&refs, &indices).map_err(|e| e.to_string())?;
        shard.process_batch(ops, &chunk, fields, &all[..places.len()], base + (c * CHUNK) as u64);
        dead.extend(shard.dead.drain(..).map(|(r, d)| (places[r], d)));
    }
    Ok(dead)
}
