//! A group's keys in, their states out in key order, a chunk of keys at a time: exported and
//! converted (to a table of the batch view, or kept as they are for a snapshot) on every core,
//! handed to one consumer in order. Memory holds the list of keys and a few chunks of states,
//! not the whole state.

use std::sync::mpsc::sync_channel;

use super::{GroupRuntime, Store};
use crate::operators::columnar::Columnar;
use crate::operators::state::KeyState;
use crate::value::Value;

/// Where a key's state lives: a row-path object, or a columnar key's id in a shard.
enum At<'s> {
    Row(&'s KeyState),
    Col(&'s Columnar, u32),
}

/// Keys in a chunk, their states exported.
pub(crate) type Chunk = Vec<(Vec<Value>, KeyState)>;

/// What a key's exported state holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Export {
    /// The whole state (a snapshot, a lookup).
    Whole,
    /// The panes of sliding windows without their running totals, which are left empty: for a
    /// table of the panes alone, never for a state that features are read from.
    Panes,
}

impl GroupRuntime {
    /// Every key's state in key order, `chunk` keys at a time: each chunk exported and turned
    /// into a `T` by `convert` on one of up to as many threads as cores, then given to `each`
    /// in key order on the calling thread. Stops at the first error of either. With
    /// `Export::Panes`, a sliding window's running totals are left out of the states (empty),
    /// for a consumer that reads the panes alone (the batch view's table).
    pub(crate) fn states_in_chunks<T: Send, E: Send>(
        &self,
        chunk: usize,
        what: Export,
        convert: &(dyn Fn(Chunk) -> Result<T, E> + Sync),
        each: &mut dyn FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut index: Vec<(Vec<Value>, At<'_>)> = Vec::with_capacity(self.key_count());
        for shard in &self.shards {
            match &shard.state {
                Store::Rows(state) => index.extend(state.iter().map(|(k, s)| (k.clone(), At::Row(s)))),
                Store::Columnar(c) => index.extend((0..c.keys.len() as u32).map(|id| (c.keys.key(id), At::Col(c, id)))),
            }
        }
        index.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let chunks: Vec<&[(Vec<Value>, At<'_>)]> = index.chunks(chunk.max(1)).collect();
        let export = |part: &[(Vec<Value>, At<'_>)]| -> Chunk {
            part.iter()
                .map(|(key, at)| {
                    let state = match at {
                        At::Row(s) => (*s).clone(),
                        At::Col(c, id) => c.export(*id, what),
                    };
                    (key.clone(), state)
                })
                .collect()
        };
        let threads = std::thread::available_parallelism().map_or(1, usize::from).min(chunks.len()).max(1);
        if threads == 1 {
            for part in chunks {
                each(convert(export(part))?)?;
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
                let (chunks, export) = (&chunks, &export);
                scope.spawn(move || {
                    for part in chunks.iter().skip(w).step_by(threads) {
                        let failed = send.send(convert(export(part))).is_err();
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
