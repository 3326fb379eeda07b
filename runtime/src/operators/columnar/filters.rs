//! A group's filter and its features' filters in; for each event of a batch, whether the group
//! counts it and the mask of feature filters it passes out. The filters run on the row path's
//! evaluator over only the cells they read, decoded as the row decoder decodes them, so both
//! paths give the same answers by construction.

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use featc::ir::{IrGroup, IrSource, Ty};

use crate::operators::eval::{Compiled, compile};
use crate::value::Value;

/// At most this many feature filters: an event's mask is one bit per filter.
pub(crate) const MAX_PREDICATES: usize = 64;

/// A column a filter reads.
#[derive(Debug, Clone)]
struct FilterCol {
    /// Position in the group's columns (the row the expressions read).
    col: usize,
    name: String,
    ty: Ty,
    nullable: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Filters {
    filter: Option<Compiled>,
    predicates: Vec<Compiled>,
    cols: Vec<FilterCol>,
    /// A row of the group's width holding only the cells the filters read.
    row: Vec<Value>,
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
        let mut at: Vec<usize> = group.filter.iter().chain(&group.predicates).flat_map(|e| e.tree.columns()).collect();
        at.sort_unstable();
        at.dedup();
        let cols = at
            .into_iter()
            .map(|col| {
                let name = group.columns.get(col)?;
                let f = source.fields.iter().find(|f| &f.name == name)?;
                Some(FilterCol { col, name: name.clone(), ty: f.ty.ty.clone(), nullable: f.ty.nullable })
            })
            .collect::<Option<_>>()?;
        Some(Filters { filter, predicates, cols, row: vec![Value::Null; width] })
    }

    /// No filter at all: every event is counted by every aggregate.
    pub(crate) fn is_empty(&self) -> bool {
        self.filter.is_none() && self.predicates.is_empty()
    }

    /// Whether a filter reads the column `name`.
    pub(crate) fn reads(&self, name: &str) -> bool {
        self.cols.iter().any(|c| c.name == name)
    }

    /// The arrays of a batch the filters read, in their order; `None` when one is missing (the
    /// row path then dead-letters the batch's events with the reason).
    pub(crate) fn arrays<'a>(&self, batch: &'a RecordBatch) -> Option<Vec<&'a dyn Array>> {
        self.cols.iter().map(|c| batch.column_by_name(&c.name).map(|a| a.as_ref())).collect()
    }

    /// The verdict on row `r` of the arrays [`Filters::arrays`] gave.
    pub(crate) fn at(&mut self, arrays: &[&dyn Array], r: usize) -> Verdict {
        for (c, a) in self.cols.iter().zip(arrays) {
            match crate::operators::decode::cell_of(*a, r, &c.ty) {
                None => return Verdict::Malformed,
                Some(Value::Null) if !c.nullable => return Verdict::Malformed,
                Some(v) => self.row[c.col] = v,
            }
        }
        self.of_row(&self.row)
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
