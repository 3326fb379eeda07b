//! A group's keys in, their states out in order (of key, or of routing hash), a chunk of keys
//! at a time: read in place (or exported to the row path's form) and converted (to a table of
//! the batch view, or kept as they are for a snapshot) on every core, handed to one consumer in
//! order. Memory holds the
//! list of keys and a few chunks of converted states, not the whole state.

use std::sync::mpsc::sync_channel;

use super::{GroupRuntime, Store};
use crate::operators::columnar::{Columnar, KeyRef};
use crate::operators::state::{KeyState, Unit};
use crate::value::Value;

/// Where a key's state lives: a row-path object, or a columnar key's id in a shard.
#[derive(Clone, Copy)]
pub(crate) enum StateRef<'s> {
    Row(&'s KeyState),
    Col(&'s Columnar, u32),
}

impl<'s> StateRef<'s> {
    /// The key's state in the row path's form.
    pub(crate) fn export(self) -> KeyState {
        match self {
            StateRef::Row(s) => s.clone(),
            StateRef::Col(c, id) => c.export(id),
        }
    }

    /// The key's latest event time.
    pub(crate) fn latest(self) -> i64 {
        match self {
            StateRef::Row(s) => s.max_ts,
            StateRef::Col(c, id) => c.keys.latest(id),
        }
    }

    /// The key's units of state, window by window, appended to `out`: a sliding window's panes
    /// without its running totals.
    pub(crate) fn units(self, out: &mut Vec<Unit<'s>>) {
        match self {
            StateRef::Row(s) => s.units(out),
            StateRef::Col(c, id) => c.units(id, out),
        }
    }
}

/// The order keys are listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyOrder {
    /// By value.
    Value,
    /// By the hash keys are routed by, then value: the order in which the batch layer (which
    /// runs a key's events together, in that order) laid their states out in memory, so a
    /// reader walks the states front to back.
    Hash,
}

/// Keys of a chunk in the order asked for, with their states where they live.
pub(crate) type Refs<'s> = [(Vec<Value>, StateRef<'s>)];

/// Keys in a chunk, their states exported.
pub(crate) type Chunk = Vec<(Vec<Value>, KeyState)>;

/// The states of a chunk's keys exported to the row path's form.
pub(crate) fn exported(part: &Refs<'_>) -> Chunk {
    part.iter().map(|(key, at)| (key.clone(), at.export())).collect()
}

impl GroupRuntime {
    /// Every key's state in `order`, `chunk` keys at a time: each chunk of states, read in
    /// place, turned into a `T` by `convert` on one of up to as many threads as cores, then
    /// given to `each` in that order on the calling thread. Stops at the first error of either.
    pub(crate) fn states_in_chunks<T: Send, E: Send>(
        &self,
        chunk: usize,
        order: KeyOrder,
        convert: &(dyn Fn(&Refs<'_>) -> Result<T, E> + Sync),
        each: &mut dyn FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut index: Vec<(Vec<Value>, StateRef<'_>)> = Vec::with_capacity(self.key_count());
        for shard in &self.shards {
            match &shard.state {
                Store::Rows(state) => index.extend(state.iter().map(|(k, s)| (k.clone(), StateRef::Row(s)))),
                Store::Columnar(c) => {
                    index.extend((0..c.keys.len() as u32).map(|id| (c.keys.key(id), StateRef::Col(c, id))))
                }
            }
        }
        match order {
            KeyOrder::Value => index = crate::value::sorted_by_key_values(index, |(key, _)| key),
            KeyOrder::Hash => {
                index.sort_by_cached_key(|(key, _)| (super::route::key_hash(KeyRef::Values(key)), key.clone()))
            }
        }
        let chunks: Vec<&Refs<'_>> = index.chunks(chunk.max(1)).collect();
        let threads = std::thread::available_parallelism().map_or(1, usize::from).min(chunks.len()).max(1);
        if threads == 1 {
            for part in chunks {
                each(convert(part)?)?;
            }
            return Ok(());
        }
        // Worker `w` converts chunks `w`, `w + threads`, ... into its own channel of one; the
        // consumer takes chunk `i` from worker `i % threads`, so chunks arrive in order and at
        // most two per worker are held at once.
        std::thread::scope(|scope| {
            let mut receivers = Vec::with_capacity(threads);
            for w in 0..threads {
                let (send, receive) = sync_channel::<Result<T, E>>(1);
                receivers.push(receive);
                let chunks = &chunks;
                scope.spawn(move || {
                    for part in chunks.iter().skip(w).step_by(threads) {
                        let failed = send.send(convert(part)).is_err();
                        if failed {
                            return; // the consumer stopped
                        }
                    }
                });
            }
            for i in 0..chunks.len() {
                // A closed channel means its worker panicked: the scope raises that panic when
                // it joins, so nothing built from the chunks so far is returned as complete.
                let Ok(converted) = receivers[i % threads].recv() else { break };
                each(converted?)?;
            }
            Ok(())
        })
    }
}
