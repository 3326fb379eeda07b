//! Events of one key in, per-window partial states out, and the partials of a window as of a
//! time: lifetime, tumbling, sliding by panes and session, in event time. Each aggregate's
//! eviction comes from the plan: a sliding window keeps a running total for `subtract`
//! aggregates, a two-stacks aggregator for `two_stacks` ones, and merges its panes at lookup
//! for `merge_panes` ones.
//!
//! State can answer "as of t" for any `t` at or after the key's latest event (the stream's
//! present); earlier times are the batch layer's and the training sets' job.

use std::borrow::Cow;
use std::collections::VecDeque;

use featc::ir::{Eviction, WindowSpec};

use crate::operators::aggregate::{AggSpec, Partial};

/// One aggregate of a window, as the plan gives it.
#[derive(Debug, Clone, Copy)]
pub struct WindowAgg {
    pub spec: AggSpec,
    pub integer: bool,
    pub eviction: Eviction,
}

/// How to build the partials of one window: one per aggregate over it.
#[derive(Debug, Clone, Default)]
pub struct WindowAggs {
    pub specs: Vec<WindowAgg>,
}

impl WindowAggs {
    fn any(&self, eviction: Eviction) -> bool {
        self.specs.iter().any(|a| a.eviction == eviction)
    }

    pub(crate) fn empty(&self) -> Vec<Partial> {
        self.specs.iter().map(|a| Partial::new(a.spec, a.integer)).collect()
    }

    /// Merges the slots of `from` whose eviction is `eviction` into `into`.
    fn merge_where(&self, eviction: Eviction, into: &mut [Partial], from: &[Partial]) {
        for ((acc, p), a) in into.iter_mut().zip(from).zip(&self.specs) {
            if a.eviction == eviction {
                acc.merge(a.spec, p);
            }
        }
    }

    fn merge_into(&self, into: &mut [Partial], from: &[Partial]) {
        for ((acc, p), a) in into.iter_mut().zip(from).zip(&self.specs) {
            acc.merge(a.spec, p);
        }
    }

    /// Takes a pane out of a running total (`subtract` slots only).
    fn retract_from(&self, total: &mut [Partial], pane: &[Partial]) {
        for ((acc, p), a) in total.iter_mut().zip(pane).zip(&self.specs) {
            if a.eviction == Eviction::Subtract {
                acc.retract(p);
            }
        }
    }
}

/// A two-stacks aggregator over a deque of panes: the older `split` panes each with the merge
/// of itself and every later older pane (`suffix`), the newer ones with their running merge
/// (`back`). The window from any older pane on is then one merge of two partials. When the
/// older panes are all evicted, or the newer ones outnumber them, every pane becomes an older
/// one (a flip, one merge per pane), so each pane is merged a constant number of times on
/// average.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TwoStacks {
    split: usize,
    suffix: VecDeque<Vec<Partial>>,
    back: Vec<Partial>,
}

impl TwoStacks {
    fn new(aggs: &WindowAggs) -> Self {
        TwoStacks { split: 0, suffix: VecDeque::new(), back: aggs.empty() }
    }

    /// Rebuilds the suffix merges of the older panes from `upto` down to the first.
    fn rebuild(&mut self, aggs: &WindowAggs, panes: &VecDeque<(i64, Vec<Partial>)>, upto: usize) {
        for i in (0..=upto.min(self.split.saturating_sub(1))).rev() {
            let mut acc =
                self.suffix.get(i + 1).filter(|_| i + 1 < self.split).cloned().unwrap_or_else(|| aggs.empty());
            if let Some((_, p)) = panes.get(i) {
                aggs.merge_where(Eviction::TwoStacks, &mut acc, p);
            }
            if let Some(s) = self.suffix.get_mut(i) {
                *s = acc;
            }
        }
    }

    /// Every pane becomes an older one.
    fn flip(&mut self, aggs: &WindowAggs, panes: &VecDeque<(i64, Vec<Partial>)>) {
        self.split = panes.len();
        self.suffix = (0..panes.len()).map(|_| aggs.empty()).collect();
        self.back = aggs.empty();
        if self.split > 0 {
            self.rebuild(aggs, panes, self.split - 1);
        }
    }

    /// The oldest pane was evicted (it is already gone from `panes`).
    fn evicted(&mut self, aggs: &WindowAggs, panes: &VecDeque<(i64, Vec<Partial>)>) {
        if self.split > 0 {
            self.split -= 1;
            self.suffix.pop_front();
            if self.split > 0 {
                return;
            }
        }
        // No older panes left (or the evicted pane was a newer one): the newer become older.
        self.flip(aggs, panes);
    }

    /// An empty pane was inserted at `at`.
    fn inserted(&mut self, aggs: &WindowAggs, at: usize) {
        if at < self.split {
            self.split += 1;
            self.suffix.insert(at, aggs.empty());
        }
    }

    /// The merge of the panes from `from` on, for the two-stacks slots.
    fn query(&self, aggs: &WindowAggs, panes: &VecDeque<(i64, Vec<Partial>)>, from: usize) -> Vec<Partial> {
        if from < self.split {
            let mut acc = self.suffix.get(from).cloned().unwrap_or_else(|| aggs.empty());
            aggs.merge_where(Eviction::TwoStacks, &mut acc, &self.back);
            return acc;
        }
        // Only newer panes left in the window (a query later than every older pane).
        let mut acc = aggs.empty();
        for (_, p) in panes.iter().skip(from) {
            aggs.merge_where(Eviction::TwoStacks, &mut acc, p);
        }
        acc
    }
}

/// The state of one window for one key.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum WindowState {
    Lifetime(Vec<Partial>),
    /// The current window's start and partials.
    Tumbling {
        start: i64,
        partials: Vec<Partial>,
    },
    /// Panes by start time, oldest first; only those a window as of the present can reach.
    /// `total` is the running total of the `subtract` slots over the panes kept; `stacks`
    /// the two-stacks aggregator of the `two_stacks` slots.
    Panes {
        panes: VecDeque<(i64, Vec<Partial>)>,
        total: Vec<Partial>,
        stacks: TwoStacks,
    },
    /// Sessions `(first ts, last ts, partials)`, oldest first, kept while an on-time event
    /// could still extend or bridge them.
    Sessions(Vec<(i64, i64, Vec<Partial>)>),
}

/// The earliest event time that can be in a window's answer at `t` or later: from the pane a
/// sliding window reaches back to at `t`, from the tumbling window of `t`; every event
/// (`i64::MIN`) for lifetime and session windows.
pub(crate) fn reach(spec: WindowSpec, t: i64) -> i64 {
    match spec {
        WindowSpec::Tumbling { size_ms } => floor(t, size_ms),
        WindowSpec::Sliding { size_ms, hop_ms } => floor(t.saturating_sub(millis(size_ms)), hop_ms),
        WindowSpec::Lifetime | WindowSpec::Session { .. } => i64::MIN,
    }
}

fn floor(t: i64, width: u64) -> i64 {
    let w = i64::try_from(width).unwrap_or(i64::MAX).max(1);
    t - t.rem_euclid(w)
}

fn millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Which slots an update touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slots {
    All,
    Only(Eviction),
}

impl Slots {
    /// Whether the slot of an aggregate with `eviction` is updated.
    pub fn takes(self, eviction: Eviction) -> bool {
        match self {
            Slots::All => true,
            Slots::Only(e) => e == eviction,
        }
    }
}

impl WindowState {
    pub fn new(spec: WindowSpec, aggs: &WindowAggs) -> Self {
        match spec {
            WindowSpec::Lifetime => WindowState::Lifetime(aggs.empty()),
            WindowSpec::Tumbling { .. } => WindowState::Tumbling { start: i64::MIN, partials: aggs.empty() },
            WindowSpec::Sliding { .. } => {
                WindowState::Panes { panes: VecDeque::new(), total: aggs.empty(), stacks: TwoStacks::new(aggs) }
            }
            WindowSpec::Session { .. } => WindowState::Sessions(Vec::new()),
        }
    }

    /// Adds one accepted event at `ts`; `update` folds it into the given slots of a window's
    /// partials. `max_ts` is the key's latest event time including this one; `lateness_ms`
    /// bounds how far back an on-time event can land.
    pub fn add(
        &mut self,
        spec: WindowSpec,
        aggs: &WindowAggs,
        ts: i64,
        max_ts: i64,
        lateness_ms: u64,
        mut update: impl FnMut(&mut [Partial], Slots),
    ) {
        match (self, spec) {
            (WindowState::Lifetime(p), _) => update(p, Slots::All),
            (WindowState::Tumbling { start, partials }, WindowSpec::Tumbling { size_ms }) => {
                let s = floor(ts, size_ms);
                if s > *start {
                    *start = s;
                    *partials = aggs.empty();
                }
                // An event of an earlier window can no longer change any answerable value.
                if s == *start {
                    update(partials, Slots::All);
                }
            }
            (WindowState::Panes { panes, total, stacks }, WindowSpec::Sliding { size_ms, hop_ms }) => {
                let two_stacks = aggs.any(Eviction::TwoStacks);
                let oldest = floor(max_ts.saturating_sub(millis(size_ms)), hop_ms);
                while panes.front().is_some_and(|(s, _)| *s < oldest) {
                    if let Some((_, evicted)) = panes.pop_front() {
                        aggs.retract_from(total, &evicted);
                    }
                    if two_stacks {
                        stacks.evicted(aggs, panes);
                    }
                }
                let start = floor(ts, hop_ms);
                if start < oldest {
                    return;
                }
                let at = panes.partition_point(|(p, _)| *p < start);
                if panes.get(at).is_none_or(|(p, _)| *p != start) {
                    panes.insert(at, (start, aggs.empty()));
                    if two_stacks {
                        stacks.inserted(aggs, at);
                    }
                }
                if let Some((_, p)) = panes.get_mut(at) {
                    update(p, Slots::All);
                }
                if aggs.any(Eviction::Subtract) {
                    update(total, Slots::Only(Eviction::Subtract));
                }
                if two_stacks {
                    if at < stacks.split {
                        stacks.rebuild(aggs, panes, at);
                    } else {
                        update(&mut stacks.back, Slots::Only(Eviction::TwoStacks));
                    }
                    // Once the newer panes outnumber the older ones, they become older too: a
                    // lookup then merges two partials, and the flips cost a constant number of
                    // merges per pane (each flip at least doubles what the older panes cover).
                    if panes.len() - stacks.split > stacks.split.max(1) {
                        stacks.flip(aggs, panes);
                    }
                }
            }
            (WindowState::Sessions(sessions), WindowSpec::Session { gap_ms }) => {
                let gap = millis(gap_ms);
                let horizon = max_ts.saturating_sub(millis(lateness_ms)).saturating_sub(gap);
                sessions.retain(|(_, end, _)| *end >= horizon);
                // The sessions this event touches (within the gap of either end) merge with it.
                let mut merged = (ts, ts, aggs.empty());
                let mut kept = Vec::with_capacity(sessions.len() + 1);
                for (start, end, partials) in sessions.drain(..) {
                    if ts >= start.saturating_sub(gap) && ts <= end.saturating_add(gap) {
                        merged.0 = merged.0.min(start);
                        merged.1 = merged.1.max(end);
                        aggs.merge_into(&mut merged.2, &partials);
                    } else {
                        kept.push((start, end, partials));
                    }
                }
                update(&mut merged.2, Slots::All);
                let at = kept.partition_point(|(s, _, _)| *s < merged.0);
                kept.insert(at, merged);
                *sessions = kept;
            }
            _ => {}
        }
    }

    /// A sliding window's state from its panes (oldest first): the running total and the
    /// two-stacks aggregator are built from them, as the events that filled them would have.
    pub fn from_panes(aggs: &WindowAggs, panes: VecDeque<(i64, Vec<Partial>)>) -> WindowState {
        let mut total = aggs.empty();
        if aggs.any(Eviction::Subtract) {
            for (_, p) in &panes {
                aggs.merge_where(Eviction::Subtract, &mut total, p);
            }
        }
        WindowState::with_total(aggs, panes, total)
    }

    /// Panes alone, their running total and stacks left empty: for a state the columnar path
    /// imports, which keeps its own totals and rebuilds them from the panes. Never to be read
    /// as it is (the row path reads the totals).
    pub(crate) fn bare_panes(aggs: &WindowAggs, panes: VecDeque<(i64, Vec<Partial>)>) -> WindowState {
        WindowState::Panes { panes, total: aggs.empty(), stacks: TwoStacks::new(aggs) }
    }

    /// [`WindowState::from_panes`] with the running total already known (one partial per
    /// aggregate: the total of the `subtract` ones, an empty partial for the others), as the
    /// columnar path keeps it.
    pub(crate) fn with_total(
        aggs: &WindowAggs,
        panes: VecDeque<(i64, Vec<Partial>)>,
        total: Vec<Partial>,
    ) -> WindowState {
        let mut stacks = TwoStacks::new(aggs);
        if aggs.any(Eviction::TwoStacks) {
            stacks.flip(aggs, &panes);
        }
        WindowState::Panes { panes, total, stacks }
    }

    /// The window's partials as of `t` (at or after the key's latest event).
    pub fn as_of(&self, spec: WindowSpec, aggs: &WindowAggs, t: i64) -> Vec<Partial> {
        self.as_of_ref(spec, aggs, t).into_iter().map(Cow::into_owned).collect()
    }

    /// [`WindowState::as_of`] without copying what the state already holds: the partials of a
    /// lifetime, current tumbling or open session window, and a running total no pane has left,
    /// are borrowed; only what must be computed (a total less the panes left, a two-stacks or
    /// pane merge, an empty window) is owned. A lookup finalizes these in place.
    pub fn as_of_ref<'s>(&'s self, spec: WindowSpec, aggs: &WindowAggs, t: i64) -> Vec<Cow<'s, Partial>> {
        let borrowed = |p: &'s [Partial]| p.iter().map(Cow::Borrowed).collect();
        let empty = || aggs.empty().into_iter().map(Cow::Owned).collect();
        match (self, spec) {
            (WindowState::Lifetime(p), _) => borrowed(p),
            (WindowState::Tumbling { start, partials }, WindowSpec::Tumbling { size_ms }) => {
                if floor(t, size_ms) == *start { borrowed(partials) } else { empty() }
            }
            (WindowState::Panes { panes, total, stacks }, WindowSpec::Sliding { size_ms, hop_ms }) => {
                let start = floor(t.saturating_sub(millis(size_ms)), hop_ms);
                let from = panes.partition_point(|(s, _)| *s < start);
                let mut stacked: Vec<Option<Partial>> = if aggs.any(Eviction::TwoStacks) {
                    stacks.query(aggs, panes, from).into_iter().map(Some).collect()
                } else {
                    Vec::new()
                };
                let mut merged: Vec<Option<Partial>> = if aggs.any(Eviction::MergePanes) {
                    let mut acc = aggs.empty();
                    for (_, p) in panes.iter().skip(from).filter(|(s, _)| *s <= t) {
                        aggs.merge_where(Eviction::MergePanes, &mut acc, p);
                    }
                    acc.into_iter().map(Some).collect()
                } else {
                    Vec::new()
                };
                let take = |v: &mut Vec<Option<Partial>>, i: usize| v.get_mut(i).and_then(Option::take);
                aggs.specs
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        let computed = match a.eviction {
                            // The total, less the panes the window has left (none: the total).
                            Eviction::Subtract => match total.get(i) {
                                Some(tot) if from == 0 => return Cow::Borrowed(tot),
                                Some(tot) => {
                                    let mut slot = tot.clone();
                                    for (_, p) in panes.iter().take(from) {
                                        if let Some(old) = p.get(i) {
                                            slot.retract(old);
                                        }
                                    }
                                    Some(slot)
                                }
                                None => None,
                            },
                            Eviction::TwoStacks => take(&mut stacked, i),
                            Eviction::MergePanes => take(&mut merged, i),
                            Eviction::None | Eviction::Reset => None,
                        };
                        Cow::Owned(computed.unwrap_or_else(|| Partial::new(a.spec, a.integer)))
                    })
                    .collect()
            }
            (WindowState::Sessions(sessions), WindowSpec::Session { gap_ms }) => match sessions.last() {
                Some((start, end, p)) if *start <= t && t.saturating_sub(*end) <= millis(gap_ms) => borrowed(p),
                _ => empty(),
            },
            _ => empty(),
        }
    }

    /// The strategy this state runs, in the plan's words, for the plan-equals-runtime test.
    pub fn strategy(&self) -> featc::ir::WindowStrategy {
        use featc::ir::WindowStrategy as S;
        match self {
            WindowState::Lifetime(_) => S::Running,
            WindowState::Tumbling { .. } => S::Tumbling,
            WindowState::Panes { .. } => S::Panes,
            WindowState::Sessions(_) => S::Session,
        }
    }
}
