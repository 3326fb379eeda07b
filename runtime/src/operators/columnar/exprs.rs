//! Expressions over an event's columns in, their values for each row of a batch out: the cells
//! they read, decoded as the row decoder decodes them into a row of the group's width, and the
//! aggregate inputs computed from them (`sum(x * 2)`) by the row path's evaluator, so both
//! paths give the same values by construction. The group's filters read cells the same way
//! ([`super::filters`]).

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use featc::ir::{Expr, IrGroup, IrSource, Ty};

use crate::operators::eval::{Compiled, compile};
use crate::value::Value;

/// A column an expression reads.
#[derive(Debug, Clone)]
struct ExprCol {
    /// Position in the group's columns (the row the expressions read).
    col: usize,
    name: String,
    ty: Ty,
    nullable: bool,
}

/// The cells expressions read, decoded into a row of the group's width (the other cells null).
#[derive(Debug, Clone)]
pub(crate) struct ExprCells {
    cols: Vec<ExprCol>,
    pub(crate) row: Vec<Value>,
}

impl ExprCells {
    /// The cells the expressions read; `None` when one is not a column of the source.
    pub(crate) fn new<'e>(
        group: &IrGroup,
        source: &IrSource,
        exprs: impl Iterator<Item = &'e Expr>,
    ) -> Option<ExprCells> {
        let mut at: Vec<usize> = exprs.flat_map(Expr::columns).collect();
        at.sort_unstable();
        at.dedup();
        let cols = at
            .into_iter()
            .map(|col| {
                let name = group.columns.get(col)?;
                let f = source.fields.iter().find(|f| &f.name == name)?;
                Some(ExprCol { col, name: name.clone(), ty: f.ty.ty.clone(), nullable: f.ty.nullable })
            })
            .collect::<Option<_>>()?;
        Some(ExprCells { cols, row: vec![Value::Null; group.columns.len()] })
    }

    /// Whether an expression reads the column `name`.
    pub(crate) fn reads(&self, name: &str) -> bool {
        self.cols.iter().any(|c| c.name == name)
    }

    /// The arrays of a batch the expressions read, in their order; `None` when one is missing
    /// (the row path then dead-letters the batch's events with the reason).
    pub(crate) fn arrays<'a>(&self, batch: &'a RecordBatch) -> Option<Vec<&'a dyn Array>> {
        self.cols.iter().map(|c| batch.column_by_name(&c.name).map(|a| a.as_ref())).collect()
    }

    /// Decodes row `r` of the arrays [`ExprCells::arrays`] gave into [`ExprCells::row`]; false
    /// when a cell is malformed (the row decoder dead-letters the event).
    pub(crate) fn load(&mut self, arrays: &[&dyn Array], r: usize) -> bool {
        for (c, a) in self.cols.iter().zip(arrays) {
            match crate::operators::decode::cell_of(*a, r, &c.ty) {
                None => return false,
                Some(Value::Null) if !c.nullable => return false,
                Some(v) => self.row[c.col] = v,
            }
        }
        true
    }
}

/// The aggregate inputs of a group computed from expressions.
#[derive(Debug, Clone)]
pub(crate) struct Computed {
    exprs: Vec<Compiled>,
    pub(crate) cells: ExprCells,
}

impl Computed {
    /// `None` when an expression does not compile or reads a column the source has not.
    pub(crate) fn new(group: &IrGroup, source: &IrSource, exprs: &[&Expr]) -> Option<Computed> {
        let width = group.columns.len();
        let compiled = exprs.iter().map(|e| compile(e, width)).collect::<Result<_, _>>().ok()?;
        Some(Computed { exprs: compiled, cells: ExprCells::new(group, source, exprs.iter().copied())? })
    }

    pub(crate) fn len(&self) -> usize {
        self.exprs.len()
    }

    /// The values of row `r` into `out` (one per expression); false when a cell it reads is
    /// malformed.
    pub(crate) fn at(&mut self, arrays: &[&dyn Array], r: usize, out: &mut [Value]) -> bool {
        if self.exprs.is_empty() {
            return true;
        }
        if !self.cells.load(arrays, r) {
            return false;
        }
        for (e, v) in self.exprs.iter().zip(out.iter_mut()) {
            *v = e.eval(&self.cells.row);
        }
        true
    }

    /// The values of a decoded row of the group's columns into `out`.
    pub(crate) fn of_row(&self, row: &[Value], out: &mut [Value]) {
        for (e, v) in self.exprs.iter().zip(out.iter_mut()) {
            *v = e.eval(row);
        }
    }
}
