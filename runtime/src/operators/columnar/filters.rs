//! A group's filter and its features' filters in; for each event of a batch, whether the group
//! counts it and the mask of feature filters it passes out. The filters run on the row path's
//! evaluator over only the cells they read, decoded as the row decoder decodes them, so both
//! paths give the same answers by construction.

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use featc::ir::{IrGroup, IrSource};

use super::exprs::ExprCells;
use crate::operators::eval::{Compiled, compile};
use crate::value::Value;

/// At most this many feature filters: an event's mask is one bit per filter.
pub(crate) const MAX_PREDICATES: usize = 64;

#[derive(Debug, Clone)]
pub(crate) struct Filters {
    filter: Option<Compiled>,
    predicates: Vec<Compiled>,
    /// The cells the filters read.
    cells: ExprCells,
}

/// What the filters say of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A cell a filter reads is malformed: the row decoder dead-letters the event.
    Malformed,
    /// The group's filter drops the event: neither counted nor dead-lettered.
    Dropped,
    /// Counted, with the feature filters it passes (bit `p` for filter `p`).
    Counted(u64),
}

impl Filters {
    /// The filters of a group; `None` when it has more feature filters than a mask holds or a
    /// filter does not compile.
    pub(crate) fn new(group: &IrGroup, source: &IrSource) -> Option<Filters> {
        if group.predicates.len() > MAX_PREDICATES {
            return None;
        }
        let width = group.columns.len();
        let filter = group.filter.as_ref().map(|f| compile(&f.tree, width)).transpose().ok()?;
        let predicates = group.predicates.iter().map(|p| compile(&p.tree, width)).collect::<Result<_, _>>().ok()?;
        let cells = ExprCells::new(group, source, group.filter.iter().chain(&group.predicates).map(|e| &e.tree))?;
        Some(Filters { filter, predicates, cells })
    }

    /// No filter at all: every event is counted by every aggregate.
    pub(crate) fn is_empty(&self) -> bool {
        self.filter.is_none() && self.predicates.is_empty()
    }

    /// Whether a filter reads the column `name`.
    pub(crate) fn reads(&self, name: &str) -> bool {
        self.cells.reads(name)
    }

    /// The arrays of a batch the filters read, in their order; `None` when one is missing (the
    /// row path then dead-letters the batch's events with the reason).
    pub(crate) fn arrays<'a>(&self, batch: &'a RecordBatch) -> Option<Vec<&'a dyn Array>> {
        self.cells.arrays(batch)
    }

    /// The verdict on row `r` of the arrays [`Filters::arrays`] gave.
    pub(crate) fn at(&mut self, arrays: &[&dyn Array], r: usize) -> Verdict {
        if !self.cells.load(arrays, r) {
            return Verdict::Malformed;
        }
        self.of_row(&self.cells.row)
    }

    /// The verdict on a decoded row of the group's columns.
    pub(crate) fn of_row(&self, row: &[Value]) -> Verdict {
        if let Some(f) = &self.filter
            && f.eval(row) != Value::Bool(true)
        {
            return Verdict::Dropped;
        }
        let mut mask = 0u64;
        for (i, p) in self.predicates.iter().enumerate() {
            if p.eval(row) == Value::Bool(true) {
                mask |= 1 << i;
            }
        }
        Verdict::Counted(mask)
    }
}
