//! A key's state out of the slots and into them: its windows' partials as of a time (a lookup,
//! read in place), its state in the row path's form (snapshots, the online store) and back
//! (restores), and the running totals a job built at its end.

use std::borrow::Cow;

use featc::ir::WindowSpec;

use super::keys::KeyRef;
use super::totals::Totals;
use super::{Columnar, floor};
use crate::operators::aggregate::Partial;
use crate::operators::state::{KeyState, Partials, Unit};
use crate::operators::window::WindowState;
use crate::value::Value;

impl Columnar {
    /// Key `id`'s last session in session window `window` `(start, end, partial)`, with the
    /// partial of the window's aggregate `agg`, read in place (the key is not exported).
    pub(crate) fn last_session(&self, id: u32, window: usize, agg: usize) -> Option<(i64, i64, Partial)> {
        let w = self.windows.get(window).filter(|w| !w.off)?;
        let &(start, end, slot) = w.sessions.get(id as usize)?.last()?;
        Some((start, end, w.slots.partial(slot, agg).into_owned()))
    }

    /// A key's state as the row path keeps it.
    pub(crate) fn export(&self, id: u32) -> KeyState {
        let max_ts = self.keys.latest(id);
        let windows = self
            .windows
            .iter()
            .map(|w| match w.spec {
                _ if w.off => WindowState::new(w.spec, &w.aggs),
                WindowSpec::Lifetime => WindowState::Lifetime(w.slots.partials(id)),
                WindowSpec::Tumbling { size_ms } => {
                    WindowState::Tumbling { start: floor(max_ts, size_ms), partials: w.slots.partials(id) }
                }
                WindowSpec::Session { .. } => WindowState::Sessions(
                    w.sessions
                        .get(id as usize)
                        .map(|s| s.iter().map(|&(a, b, slot)| (a, b, w.slots.partials(slot))).collect())
                        .unwrap_or_default(),
                ),
                _ => {
                    let panes = w.panes.iter(id).map(|(s, slot)| (s, w.slots.partials(slot))).collect();
                    match w.totals.as_ref().filter(|_| !self.deferred) {
                        // The running totals the slots keep, not merged again from the panes.
                        Some(totals) => {
                            let total = (0..w.aggs.specs.len())
                                .map(|i| {
                                    let a = &w.aggs.specs[i];
                                    totals.of(id, i).map_or_else(|| Partial::new(a.spec, a.integer), Cow::into_owned)
                                })
                                .collect();
                            WindowState::with_total(&w.aggs, panes, total)
                        }
                        None => WindowState::from_panes(&w.aggs, panes),
                    }
                }
            })
            .collect();
        KeyState { max_ts, windows, changed: 0 }
    }

    /// A key's units of state, window by window, read in place: the same units, in the same
    /// order, as those of its exported state ([`KeyState::units`]).
    pub(crate) fn units<'s>(&'s self, id: u32, out: &mut Vec<Unit<'s>>) {
        for (window, w) in self.windows.iter().enumerate() {
            let unit = |start, end, slot| Unit { window, start, end, partials: Partials::Col(self, window, slot) };
            match w.spec {
                WindowSpec::Lifetime if w.off => {
                    out.push(Unit { window, start: None, end: None, partials: Partials::Empty(&w.aggs) });
                }
                _ if w.off => {}
                WindowSpec::Lifetime => out.push(unit(None, None, id)),
                WindowSpec::Tumbling { size_ms } => {
                    let start = floor(self.keys.latest(id), size_ms);
                    if start != i64::MIN {
                        out.push(unit(Some(start), None, id));
                    }
                }
                WindowSpec::Session { .. } => {
                    if let Some(s) = w.sessions.get(id as usize) {
                        out.extend(s.iter().map(|&(a, b, slot)| unit(Some(a), Some(b), slot)));
                    }
                }
                WindowSpec::Sliding { .. } => out.extend(w.panes.iter(id).map(|(s, slot)| unit(Some(s), None, slot))),
            }
        }
    }

    /// The partial of aggregate `agg` in slot `slot` of window `window` (borrowed when kept as one).
    pub(crate) fn partial(&self, window: usize, slot: u32, agg: usize) -> Option<Cow<'_, Partial>> {
        let w = self.windows.get(window)?;
        (agg < w.slots.aggs.len()).then(|| w.slots.partial(slot, agg))
    }

    /// The partial of aggregate `agg` in slot `slot` of window `window` when it is kept as one
    /// (boxed); `None` for those built from words.
    #[inline]
    pub(crate) fn boxed_partial(&self, window: usize, slot: u32, agg: usize) -> Option<&Partial> {
        self.windows.get(window)?.slots.boxed_partial(slot, agg)
    }

    /// Asks the processor to start loading a partial (see [`Columnar::partial`]).
    #[inline]
    pub(crate) fn prefetch_partial(&self, window: usize, slot: u32, agg: usize) {
        if let Some(w) = self.windows.get(window) {
            w.slots.prefetch_partial(slot, agg);
        }
    }

    /// Loads a key's state (from a snapshot, in the row path's form).
    pub(crate) fn import(&mut self, key: &[Value], state: KeyState) {
        let id = self.keys.intern(KeyRef::Values(key));
        self.keys.set_latest(id, state.max_ts);
        let n = self.keys.len();
        for (w, st) in self.windows.iter_mut().zip(state.windows).filter(|(w, _)| !w.off) {
            match st {
                WindowState::Lifetime(p) => {
                    w.slots.ensure(n);
                    w.slots.load(id, p);
                }
                WindowState::Tumbling { start, partials } => {
                    w.slots.ensure(n);
                    if let WindowSpec::Tumbling { size_ms } = w.spec
                        && start == floor(state.max_ts, size_ms)
                    {
                        w.slots.load(id, partials);
                    }
                }
                WindowState::Panes { panes, .. } => {
                    w.panes.ensure(n);
                    for (start, partials) in panes {
                        let slot = w.slots.alloc();
                        w.slots.load(slot, partials);
                        // Two panes of one start (a state written by hand) are one pane.
                        let pane = w.panes.find_or_add(id, start, || slot);
                        if pane != slot {
                            w.slots.merge_into(pane, slot);
                        }
                    }
                    if let Some(totals) = &mut w.totals {
                        totals.ensure(n);
                        totals.rebuild(id, &w.slots, w.panes.iter(id).map(|p| p.1));
                    }
                }
                WindowState::Sessions(sessions) => {
                    if w.sessions.len() < n {
                        w.sessions.resize_with(n, Vec::new);
                    }
                    for (start, end, partials) in sessions {
                        let slot = w.slots.alloc();
                        w.slots.load(slot, partials);
                        w.sessions[id as usize].push((start, end, slot));
                    }
                }
            }
        }
    }

    /// The partials of key `id`'s windows as of `t` (at or after its latest event), one per
    /// aggregate of each window: [`WindowState::as_of_ref`] on slots, with no export. What the
    /// slots hold is borrowed (boxed partials); a sliding window's subtracted aggregates come
    /// from the running total, less the panes the window has left by `t`, and the others merge
    /// the panes still in it.
    pub(crate) fn as_of(&self, id: u32, t: i64) -> Vec<Vec<Cow<'_, Partial>>> {
        let latest = self.keys.latest(id);
        self.windows
            .iter()
            .map(|w| {
                let n = w.aggs.specs.len();
                let empty = |i: usize| {
                    let a = &w.aggs.specs[i];
                    Cow::Owned(Partial::new(a.spec, a.integer))
                };
                match w.spec {
                    _ if w.off => (0..n).map(empty).collect(),
                    WindowSpec::Lifetime => (0..n).map(|i| w.slots.partial(id, i)).collect(),
                    WindowSpec::Tumbling { size_ms } => {
                        let current = floor(t, size_ms) == floor(latest, size_ms);
                        (0..n).map(|i| if current { w.slots.partial(id, i) } else { empty(i) }).collect()
                    }
                    WindowSpec::Session { gap_ms } => {
                        let gap = i64::try_from(gap_ms).unwrap_or(i64::MAX);
                        let open = w
                            .sessions
                            .get(id as usize)
                            .and_then(|s| s.last())
                            .filter(|&&(start, end, _)| start <= t && t.saturating_sub(end) <= gap);
                        match open {
                            Some(&(_, _, slot)) => (0..n).map(|i| w.slots.partial(slot, i)).collect(),
                            None => (0..n).map(empty).collect(),
                        }
                    }
                    WindowSpec::Sliding { size_ms, hop_ms } => {
                        let start = floor(t.saturating_sub(i64::try_from(size_ms).unwrap_or(i64::MAX)), hop_ms);
                        // The panes the window has left by `t`: the oldest, those before `start`.
                        let from = w.panes.iter(id).take_while(|(s, _)| *s < start).count();
                        (0..n)
                            .map(|i| {
                                let spec = w.aggs.specs[i].spec;
                                let total = w.totals.as_ref().filter(|tot| !self.deferred && tot.keeps(i));
                                match total.and_then(|tot| tot.of(id, i)) {
                                    // The total, less the panes the window has left.
                                    Some(total) if from == 0 => total,
                                    Some(total) => {
                                        let mut total = total.into_owned();
                                        for (_, slot) in w.panes.iter(id).take(from) {
                                            total.retract(&w.slots.partial(slot, i));
                                        }
                                        Cow::Owned(total)
                                    }
                                    None => {
                                        let mut acc = empty(i).into_owned();
                                        for (_, slot) in w.panes.iter(id).skip(from) {
                                            acc.merge(spec, &w.slots.partial(slot, i));
                                        }
                                        Cow::Owned(acc)
                                    }
                                }
                            })
                            .collect()
                    }
                }
            })
            .collect()
    }

    /// Stops keeping the running totals up as events arrive (see `deferred`).
    pub(crate) fn defer_totals(&mut self) {
        self.deferred = true;
    }

    /// Builds every key's running totals from its panes, and keeps them up from now on.
    pub(crate) fn settle_totals(&mut self) {
        if !self.deferred {
            return;
        }
        let n = self.keys.len();
        for w in &mut self.windows {
            if let Some(totals) = &mut w.totals {
                totals.ensure(n);
                for id in 0..n as u32 {
                    totals.rebuild(id, &w.slots, w.panes.iter(id).map(|p| p.1));
                }
            }
        }
        self.deferred = false;
    }

    /// Every key, by id.
    pub(crate) fn key_list(&self) -> Vec<Vec<Value>> {
        (0..self.keys.len() as u32).map(|id| self.keys.key(id)).collect()
    }

    /// Bytes of state by part, as [`Columnar::bytes`] counts them: the key table, the interned
    /// strings, then each window's slots (words, boxed partials, their heap, the rest), pane
    /// lists, sessions and running totals.
    pub(crate) fn bytes_by_part(&self) -> Vec<(String, usize)> {
        let mut out =
            vec![("keys".to_string(), self.keys.bytes()), ("interned strings".to_string(), self.interner.bytes())];
        for w in &self.windows {
            let name = format!("{:?}", w.spec);
            let [words, boxes, heap, rest] = w.slots.bytes_by_part();
            out.push((format!("{name}: words"), words));
            out.push((format!("{name}: boxed partials"), boxes));
            out.push((format!("{name}: their heap"), heap));
            out.push((format!("{name}: free slots, spilled sums"), rest));
            out.push((format!("{name}: pane lists"), w.panes.bytes()));
            let sessions = w.sessions.capacity() * size_of::<Vec<(i64, i64, u32)>>()
                + w.sessions.iter().map(|s| s.capacity() * 24).sum::<usize>();
            out.push((format!("{name}: sessions"), sessions));
            out.push((format!("{name}: running totals"), w.totals.as_ref().map_or(0, Totals::bytes)));
        }
        out.retain(|(_, b)| *b > 0);
        out
    }

    /// Bytes of state: the key table, the slots, the pane lists and the interned strings
    /// (the parts of [`Columnar::bytes_by_part`], summed).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes_by_part().iter().map(|(_, b)| b).sum()
    }
}
