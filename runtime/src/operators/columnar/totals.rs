//! A sliding window's panes in, its running totals out: per key, one slot of the aggregates the
//! plan evicts by subtraction (`count`, `sum`, `avg`, moments, value counts, quantile sketches),
//! to which every event of a live pane is added and from which each pane that leaves the window
//! is taken, so that a lookup reads one slot instead of merging every pane. The row path's
//! running total (`WindowState::Panes::total`), on slots.

use std::borrow::Cow;

use crate::operators::aggregate::Partial;

use super::slots::{AggInput, Num, Slots};
use crate::value::Value;

#[derive(Debug, Clone)]
pub(crate) struct Totals {
    /// Each window aggregate's index here, when it is kept here.
    index: Vec<Option<usize>>,
    /// Each aggregate kept here: its index among the window's aggregates.
    aggs: Vec<usize>,
    /// One slot per key id.
    slots: Slots,
    /// Where this slot layout's primitives and boxed aggregates are in a pane's.
    prims: Vec<usize>,
    boxed: Vec<usize>,
}

impl Totals {
    /// The totals of the window aggregates `inputs` whose `subtract` is set, given the window's
    /// pane slots; `None` when no aggregate of the window is evicted by subtraction.
    pub(crate) fn new(inputs: &[AggInput], subtract: &[bool], panes: &Slots) -> Option<Totals> {
        let aggs: Vec<usize> = (0..inputs.len()).filter(|&i| subtract.get(i) == Some(&true)).collect();
        if aggs.is_empty() {
            return None;
        }
        let kept: Vec<AggInput> = aggs.iter().map(|&i| inputs[i]).collect();
        let slots = Slots::new(&kept)?;
        let (prims, boxed) = slots.positions_in(panes, &aggs)?;
        let mut index = vec![None; inputs.len()];
        for (k, &i) in aggs.iter().enumerate() {
            index[i] = Some(k);
        }
        Some(Totals { index, aggs, slots, prims, boxed })
    }

    /// The same layout with no keys.
    pub(crate) fn emptied(&self) -> Totals {
        Totals {
            index: self.index.clone(),
            aggs: self.aggs.clone(),
            slots: self.slots.emptied(),
            prims: self.prims.clone(),
            boxed: self.boxed.clone(),
        }
    }

    /// Whether window aggregate `agg` is kept here.
    pub(crate) fn keeps(&self, agg: usize) -> bool {
        self.index.get(agg).is_some_and(Option::is_some)
    }

    /// Makes room for keys `0..n`.
    pub(crate) fn ensure(&mut self, n: usize) {
        self.slots.ensure(n);
    }

    /// Adds an event of key `id` that entered a live pane.
    #[inline]
    pub(crate) fn update(&mut self, id: u32, values: &[Num], cells: &[Value], ts: i64, mask: u64) {
        self.slots.update(id, values, cells, ts, mask);
    }

    /// Takes pane `pane` of `panes` out of the total of key `id`.
    pub(crate) fn retract(&mut self, id: u32, panes: &Slots, pane: u32) {
        self.slots.retract(id, panes, pane, &self.prims, &self.boxed);
    }

    /// Sets the total of key `id` to the merge of the given panes (a key loaded from a
    /// snapshot, which keeps panes only).
    pub(crate) fn rebuild(&mut self, id: u32, panes: &Slots, live: impl Iterator<Item = u32>) {
        let specs: Vec<_> = self.aggs.iter().map(|&i| (i, panes.aggs[i].spec, panes.aggs[i].integer)).collect();
        let mut total: Vec<Partial> = specs.iter().map(|&(_, spec, integer)| Partial::new(spec, integer)).collect();
        for pane in live {
            for (acc, &(i, spec, _)) in total.iter_mut().zip(&specs) {
                acc.merge(spec, &panes.partial(pane, i));
            }
        }
        self.slots.reset(id);
        self.slots.load(id, total);
    }

    /// The total of window aggregate `agg` for key `id` over every live pane.
    pub(crate) fn of(&self, id: u32, agg: usize) -> Option<Cow<'_, Partial>> {
        let k = (*self.index.get(agg)?)?;
        Some(self.slots.partial(id, k))
    }

    pub(crate) fn bytes(&self) -> usize {
        self.slots.bytes()
    }
}
