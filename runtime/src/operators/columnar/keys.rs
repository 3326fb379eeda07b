//! Key values in, dense key ids (0, 1, 2, ...) out, with each key's latest event time beside it:
//! the key table of the columnar path.
//!
//! The table holds only `u32` ids (hashbrown with a fixed-seed foldhash); the keys themselves
//! live in one vector indexed by id, next to the latest event time the lateness check reads, so
//! a lookup touches the table and one entry. One integer or one string key is stored unboxed;
//! other keys (several columns, other types) as value lists.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use crate::value::Value;

/// The seed is fixed so that the table (and anything that walks it) is the same on every run.
const SEED: u64 = 0x6665_6174_632d_6b65;

#[derive(Debug, Clone)]
pub(crate) enum Keys {
    I64(Vec<(i64, Stamp)>),
    Str(Vec<(Arc<str>, Stamp)>),
    Values(Vec<(Vec<Value>, Stamp)>),
}

/// A key as the columnar path reads it from a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyRef<'a> {
    I64(i64),
    Str(&'a str),
    Values(&'a [Value]),
}

/// What a key's entry holds beside the key: its latest event time, and the group's change
/// count when an event last changed it (0: not since the state was opened or restored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) latest: i64,
    pub(crate) changed: u64,
}

impl Stamp {
    const NEW: Stamp = Stamp { latest: i64::MIN, changed: 0 };
}

#[derive(Debug, Clone)]
pub(crate) struct KeyIndex {
    table: HashTable<u32>,
    hasher: FixedState,
    pub(crate) keys: Keys,
}

impl KeyIndex {
    /// An empty index for keys of these types (one `i64`, one string, or anything else).
    pub(crate) fn new(single_i64: bool, single_str: bool) -> Self {
        let keys = if single_i64 {
            Keys::I64(Vec::new())
        } else if single_str {
            Keys::Str(Vec::new())
        } else {
            Keys::Values(Vec::new())
        };
        KeyIndex { table: HashTable::new(), hasher: FixedState::with_seed(SEED), keys }
    }

    pub(crate) fn len(&self) -> usize {
        match &self.keys {
            Keys::I64(k) => k.len(),
            Keys::Str(k) => k.len(),
            Keys::Values(k) => k.len(),
        }
    }

    /// The id of a key, inserted (with latest time `i64::MIN`) when new. A key of the wrong
    /// shape for the index is converted to the index's shape.
    pub(crate) fn intern(&mut self, key: KeyRef<'_>) -> u32 {
        let KeyIndex { table, hasher, keys } = self;
        match (keys, key) {
            (Keys::I64(keys), KeyRef::I64(k)) => {
                let hash = hasher.hash_one(k);
                let found = table.find(hash, |&id| keys[id as usize].0 == k);
                match found {
                    Some(&id) => id,
                    None => {
                        let id = keys.len() as u32;
                        keys.push((k, Stamp::NEW));
                        table.insert_unique(hash, id, |&id| hasher.hash_one(keys[id as usize].0));
                        id
                    }
                }
            }
            (Keys::Str(keys), KeyRef::Str(k)) => {
                let hash = hasher.hash_one(k);
                let found = table.find(hash, |&id| &*keys[id as usize].0 == k);
                match found {
                    Some(&id) => id,
                    None => {
                        let id = keys.len() as u32;
                        keys.push((Arc::from(k), Stamp::NEW));
                        table.insert_unique(hash, id, |&id| hasher.hash_one(&*keys[id as usize].0));
                        id
                    }
                }
            }
            (Keys::Values(keys), key) => {
                let owned;
                let k: &[Value] = match key {
                    KeyRef::Values(v) => v,
                    KeyRef::I64(x) => {
                        owned = [Value::I64(x)];
                        &owned
                    }
                    KeyRef::Str(s) => {
                        owned = [Value::Str(Arc::from(s))];
                        &owned
                    }
                };
                let hash = hasher.hash_one(k);
                let found = table.find(hash, |&id| keys[id as usize].0 == k);
                match found {
                    Some(&id) => id,
                    None => {
                        let id = keys.len() as u32;
                        keys.push((k.to_vec(), Stamp::NEW));
                        table.insert_unique(hash, id, |&id| hasher.hash_one(&keys[id as usize].0));
                        id
                    }
                }
            }
            (Keys::I64(_), KeyRef::Values([Value::I64(x)])) => self.intern(KeyRef::I64(*x)),
            (Keys::Str(_), KeyRef::Values([Value::Str(s)])) => {
                let s = s.clone();
                self.intern(KeyRef::Str(&s))
            }
            // A key of another shape cannot come from a checked spec's typed columns; keep it
            // findable anyway by giving it its own id in a widened index.
            (_, key) => {
                self.widen();
                self.intern(key)
            }
        }
    }

    /// The id of an integer key already seen, for an index of integer keys.
    #[inline]
    pub(crate) fn find_i64(&self, k: i64) -> Option<u32> {
        match &self.keys {
            Keys::I64(keys) => self.table.find(self.hasher.hash_one(k), |&id| keys[id as usize].0 == k).copied(),
            _ => None,
        }
    }

    /// Asks the processor to start loading the entry of `id` (its latest time).
    #[inline]
    pub(crate) fn prefetch(&self, id: u32) {
        match &self.keys {
            Keys::I64(k) => k.get(id as usize).map(super::prefetch),
            Keys::Str(k) => k.get(id as usize).map(super::prefetch),
            Keys::Values(k) => k.get(id as usize).map(super::prefetch),
        };
    }

    /// The id of a key already seen.
    pub(crate) fn find(&self, key: &[Value]) -> Option<u32> {
        match (&self.keys, key) {
            (Keys::I64(keys), [Value::I64(k)]) => {
                self.table.find(self.hasher.hash_one(*k), |&id| keys[id as usize].0 == *k).copied()
            }
            (Keys::Str(keys), [Value::Str(k)]) => {
                self.table.find(self.hasher.hash_one(&**k), |&id| *keys[id as usize].0 == **k).copied()
            }
            (Keys::Values(keys), k) => {
                self.table.find(self.hasher.hash_one(k), |&id| keys[id as usize].0 == k).copied()
            }
            _ => None,
        }
    }

    /// The key of an id, as values.
    pub(crate) fn key(&self, id: u32) -> Vec<Value> {
        let i = id as usize;
        match &self.keys {
            Keys::I64(k) => vec![Value::I64(k[i].0)],
            Keys::Str(k) => vec![Value::Str(k[i].0.clone())],
            Keys::Values(k) => k[i].0.clone(),
        }
    }

    pub(crate) fn latest(&self, id: u32) -> i64 {
        let i = id as usize;
        match &self.keys {
            Keys::I64(k) => k[i].1.latest,
            Keys::Str(k) => k[i].1.latest,
            Keys::Values(k) => k[i].1.latest,
        }
    }

    pub(crate) fn set_latest(&mut self, id: u32, ts: i64) {
        let i = id as usize;
        match &mut self.keys {
            Keys::I64(k) => k[i].1.latest = ts,
            Keys::Str(k) => k[i].1.latest = ts,
            Keys::Values(k) => k[i].1.latest = ts,
        }
    }

    /// Sets the key's latest event time and the change count of the event: one write to the
    /// entry an event loads anyway.
    pub(crate) fn set_stamp(&mut self, id: u32, stamp: Stamp) {
        let i = id as usize;
        match &mut self.keys {
            Keys::I64(k) => k[i].1 = stamp,
            Keys::Str(k) => k[i].1 = stamp,
            Keys::Values(k) => k[i].1 = stamp,
        }
    }

    pub(crate) fn stamp(&self, id: u32) -> Stamp {
        let i = id as usize;
        match &self.keys {
            Keys::I64(k) => k[i].1,
            Keys::Str(k) => k[i].1,
            Keys::Values(k) => k[i].1,
        }
    }

    /// Bytes the index holds: the table and the key entries (string bytes included).
    pub(crate) fn bytes(&self) -> usize {
        let entries = match &self.keys {
            Keys::I64(k) => k.capacity() * size_of::<(i64, Stamp)>(),
            Keys::Str(k) => {
                k.capacity() * size_of::<(Arc<str>, Stamp)>() + k.iter().map(|(s, _)| s.len() + 16).sum::<usize>()
            }
            Keys::Values(k) => {
                k.capacity() * size_of::<(Vec<Value>, Stamp)>()
                    + k.iter().map(|(v, _)| v.capacity() * size_of::<Value>()).sum::<usize>()
            }
        };
        self.table.allocation_size() + entries
    }

    /// Turns the index into a value-list index (ids unchanged).
    fn widen(&mut self) {
        let entries: Vec<(Vec<Value>, Stamp)> =
            (0..self.len() as u32).map(|id| (self.key(id), self.stamp(id))).collect();
        let mut table = HashTable::with_capacity(entries.len());
        for (id, (k, _)) in entries.iter().enumerate() {
            table
                .insert_unique(self.hasher.hash_one(k), id as u32, |&id| self.hasher.hash_one(&entries[id as usize].0));
        }
        self.table = table;
        self.keys = Keys::Values(entries);
    }
}
