//! Pane starts and slots in, each key's panes of one sliding window out, oldest first: one arena
//! for every key, a list linked through the window's slots.
//!
//! A ring per key (`VecDeque`) cost 32 bytes of header per key and window and a buffer of at
//! least four panes, 16 bytes each, however few the key had: 421 bytes per key over the fraud
//! example's three sliding windows. Here a key holds its list's two ends with their starts
//! (24 bytes) and each pane 12 bytes beside its slot (its start and the next pane's slot), so
//! the common steps, evicting the oldest pane and adding to the newest, read only the key's
//! entry.

/// No pane.
const NONE: u32 = u32::MAX;

/// A key's oldest and newest pane: their slots and starts (`NONE` and unspecified when empty).
#[derive(Debug, Clone, Copy)]
struct Ends {
    head: u32,
    tail: u32,
    head_start: i64,
    tail_start: i64,
}

const EMPTY: Ends = Ends { head: NONE, tail: NONE, head_start: 0, tail_start: 0 };

/// Every key's panes of one sliding window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Panes {
    /// By key id.
    ends: Vec<Ends>,
    /// By slot: the start of the pane the slot holds.
    starts: Vec<i64>,
    /// By slot: the slot of the key's next (newer) pane, `NONE` for its newest.
    next: Vec<u32>,
}

impl Panes {
    /// Makes room for `n` keys.
    pub(crate) fn ensure(&mut self, n: usize) {
        if self.ends.len() < n {
            self.ends.resize(n, EMPTY);
        }
    }

    /// Starts loading key `id`'s ends (see [`crate::operators::prefetch`]).
    #[inline]
    pub(crate) fn prefetch(&self, id: u32) {
        if let Some(e) = self.ends.get(id as usize) {
            crate::operators::prefetch(e);
        }
    }

    /// Key `id`'s oldest pane `(start, slot)`.
    #[inline]
    pub(crate) fn front(&self, id: u32) -> Option<(i64, u32)> {
        let e = self.ends.get(id as usize)?;
        (e.head != NONE).then_some((e.head_start, e.head))
    }

    /// Takes out key `id`'s oldest pane (its slot is the caller's to release).
    #[inline]
    pub(crate) fn pop_front(&mut self, id: u32) {
        let Some(e) = self.ends.get_mut(id as usize).filter(|e| e.head != NONE) else { return };
        let next = self.next[e.head as usize];
        if next == NONE {
            *e = EMPTY;
        } else {
            e.head = next;
            e.head_start = self.starts[next as usize];
        }
    }

    /// The slot of key `id`'s pane starting at `start`, added in its place with a slot from
    /// `alloc` when the key has none.
    #[inline]
    pub(crate) fn find_or_add(&mut self, id: u32, start: i64, alloc: impl FnOnce() -> u32) -> u32 {
        let e = self.ends[id as usize];
        if e.tail != NONE && e.tail_start == start {
            return e.tail;
        }
        if e.tail == NONE || e.tail_start < start {
            let slot = alloc();
            self.push_back(id, start, slot);
            return slot;
        }
        // Before the newest pane (a late event): walk from the oldest.
        let mut prev = NONE;
        let mut at = e.head;
        while at != NONE && self.starts[at as usize] < start {
            prev = at;
            at = self.next[at as usize];
        }
        if at != NONE && self.starts[at as usize] == start {
            return at;
        }
        let slot = alloc();
        self.link(slot, start, at);
        let e = &mut self.ends[id as usize];
        if prev == NONE {
            e.head = slot;
            e.head_start = start;
        } else {
            self.next[prev as usize] = slot;
        }
        slot
    }

    /// Adds a pane after key `id`'s newest, which starts before it.
    fn push_back(&mut self, id: u32, start: i64, slot: u32) {
        self.link(slot, start, NONE);
        let e = &mut self.ends[id as usize];
        debug_assert!(e.tail == NONE || e.tail_start < start, "panes are added in order");
        if e.tail == NONE {
            *e = Ends { head: slot, tail: slot, head_start: start, tail_start: start };
        } else {
            let tail = e.tail;
            e.tail = slot;
            e.tail_start = start;
            self.next[tail as usize] = slot;
        }
    }

    /// Records that `slot` holds the pane starting at `start`, followed by `next`.
    fn link(&mut self, slot: u32, start: i64, next: u32) {
        let s = slot as usize;
        if self.starts.len() <= s {
            let n = (s + 1).max(self.starts.len() * 2).max(16);
            self.starts.resize(n, 0);
            self.next.resize(n, NONE);
        }
        self.starts[s] = start;
        self.next[s] = next;
    }

    /// Key `id`'s panes `(start, slot)`, oldest first.
    pub(crate) fn iter(&self, id: u32) -> impl Iterator<Item = (i64, u32)> + '_ {
        let mut at = self.ends.get(id as usize).map_or(NONE, |e| e.head);
        std::iter::from_fn(move || {
            (at != NONE).then(|| {
                let pane = (self.starts[at as usize], at);
                at = self.next[at as usize];
                pane
            })
        })
    }

    /// Bytes held: the keys' ends and the slots' links.
    pub(crate) fn bytes(&self) -> usize {
        self.ends.capacity() * size_of::<Ends>() + self.starts.capacity() * 8 + self.next.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a sorted list per key: panes found or added in any order, the oldest taken
        /// out, slots reused after they are freed.
        #[test]
        fn the_lists_hold_each_keys_panes_in_order(
            ops in prop::collection::vec((0u32..4, 0i64..12, prop::bool::weighted(0.2)), 0..200),
        ) {
            let mut panes = Panes::default();
            panes.ensure(4);
            let mut want: Vec<Vec<(i64, u32)>> = vec![Vec::new(); 4];
            let mut free: Vec<u32> = Vec::new();
            let mut fresh = 0u32;
            for (id, start, pop) in ops {
                let list = &mut want[id as usize];
                if pop {
                    prop_assert_eq!(panes.front(id), list.first().copied());
                    if !list.is_empty() {
                        free.push(list.remove(0).1);
                    }
                    panes.pop_front(id);
                } else {
                    let mut allocated = 0;
                    let mut alloc = || {
                        allocated += 1;
                        free.pop().unwrap_or_else(|| { fresh += 1; fresh - 1 })
                    };
                    let got = panes.find_or_add(id, start, &mut alloc);
                    match list.binary_search_by_key(&start, |p| p.0) {
                        Ok(at) => {
                            prop_assert_eq!(got, list[at].1);
                            prop_assert_eq!(allocated, 0, "a pane found takes no slot");
                        }
                        Err(at) => list.insert(at, (start, got)),
                    }
                }
                for (k, list) in want.iter().enumerate() {
                    prop_assert_eq!(&panes.iter(k as u32).collect::<Vec<_>>(), list);
                    prop_assert_eq!(panes.front(k as u32), list.first().copied());
                }
            }
        }
    }
}
