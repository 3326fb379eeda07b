//! The columns boxed aggregates read, in; each event's values as the row decoder decodes them
//! out, with text interned so that a value kept by a partial costs a reference count.
//!
//! A boxed aggregate (see `slots.rs`) is updated by the aggregate library from a [`Value`].
//! Decoding goes through the row decoder's own conversion (`decode::cell_of`), so both paths
//! read the same values and reject the same ones; only text takes a shortcut: the batch's
//! string bytes are looked up in an interner and the shared `Arc<str>` is cloned.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{Array, AsArray, LargeStringArray, StringArray, StringViewArray};
use arrow::datatypes::DataType;
use featc::ir::Ty;
use foldhash::fast::FixedState;
use hashbrown::HashTable;

use crate::operators::decode::cell_of;
use crate::value::Value;

/// A value column a boxed aggregate reads.
#[derive(Debug, Clone)]
pub(crate) struct CellCol {
    /// Position in the group's columns.
    pub(crate) col: usize,
    pub(crate) name: String,
    pub(crate) ty: Ty,
    pub(crate) nullable: bool,
}

/// Distinct strings seen, each held once. Past [`Interner::LIMIT`] strings the interner stops
/// growing and new strings are allocated as the row path does (a column of unique values, such
/// as ids, would otherwise make it a copy of the input).
#[derive(Debug, Clone, Default)]
pub(crate) struct Interner {
    table: HashTable<Arc<str>>,
    bytes: usize,
}

const SEED: u64 = 0x6365_6c6c_732d_7374;

impl Interner {
    const LIMIT: usize = 1 << 20;

    /// The shared copy of `s`.
    #[inline]
    pub(crate) fn intern(&mut self, s: &str) -> Arc<str> {
        let hasher = FixedState::with_seed(SEED);
        let hash = hasher.hash_one(s);
        if let Some(found) = self.table.find(hash, |x| **x == *s) {
            return found.clone();
        }
        let value: Arc<str> = Arc::from(s);
        if self.table.len() < Self::LIMIT {
            self.bytes += s.len() + 16 + size_of::<Arc<str>>() + 1;
            self.table.insert_unique(hash, value.clone(), |x| hasher.hash_one(&**x));
        }
        value
    }

    /// Bytes held: the strings, their counts and the table.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes + self.table.capacity() * (size_of::<Arc<str>>() + 1)
    }
}

/// One column of a batch, as boxed aggregates read it.
pub(crate) enum CellColumn<'a> {
    Str(&'a StringArray),
    LargeStr(&'a LargeStringArray),
    View(&'a StringViewArray),
    /// Any other column: decoded by the row decoder, cell by cell.
    Other(&'a dyn Array),
}

impl<'a> CellColumn<'a> {
    pub(crate) fn read(a: &'a dyn Array, ty: &Ty) -> CellColumn<'a> {
        match (ty, a.data_type()) {
            (Ty::String, DataType::Utf8) => CellColumn::Str(a.as_string::<i32>()),
            (Ty::String, DataType::LargeUtf8) => CellColumn::LargeStr(a.as_string::<i64>()),
            (Ty::String, DataType::Utf8View) => CellColumn::View(a.as_string_view()),
            _ => CellColumn::Other(a),
        }
    }

    /// Whether row `r` holds a value the row decoder accepts for a column of `col`'s type.
    #[inline]
    pub(crate) fn valid(&self, r: usize, col: &CellCol) -> bool {
        let null = match self {
            CellColumn::Str(a) => a.is_null(r),
            CellColumn::LargeStr(a) => a.is_null(r),
            CellColumn::View(a) => a.is_null(r),
            CellColumn::Other(a) => match cell_of(*a, r, &col.ty) {
                None => return false,
                Some(v) => v.is_null(),
            },
        };
        col.nullable || !null
    }

    /// The value of row `r` (which [`CellColumn::valid`] accepted).
    #[inline]
    pub(crate) fn get(&self, r: usize, col: &CellCol, interner: &mut Interner) -> Value {
        let text = match self {
            CellColumn::Str(a) => a.is_valid(r).then(|| a.value(r)),
            CellColumn::LargeStr(a) => a.is_valid(r).then(|| a.value(r)),
            CellColumn::View(a) => a.is_valid(r).then(|| a.value(r)),
            CellColumn::Other(a) => return cell_of(*a, r, &col.ty).unwrap_or(Value::Null),
        };
        text.map_or(Value::Null, |s| Value::Str(interner.intern(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_copy_and_the_interner_stops_at_its_limit() {
        let mut i = Interner::default();
        let a = i.intern("merchant_1");
        let b = i.intern(&String::from("merchant_1"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &i.intern("merchant_2")));
        assert_eq!(i.table.len(), 2);
        for n in 0..Interner::LIMIT + 10 {
            i.intern(&n.to_string());
        }
        assert_eq!(i.table.len(), Interner::LIMIT);
        // Past the limit, values are still right, only not shared.
        assert_eq!(&*i.intern("not interned"), "not interned");
    }

    #[test]
    fn cells_read_as_the_row_decoder_reads_them() {
        let strings = StringArray::from(vec![Some("x"), None]);
        let col = CellCol { col: 0, name: "s".into(), ty: Ty::String, nullable: false };
        let c = CellColumn::read(&strings, &col.ty);
        let mut i = Interner::default();
        assert!(c.valid(0, &col) && !c.valid(1, &col));
        assert_eq!(c.get(0, &col, &mut i), Value::Str(Arc::from("x")));
        let floats = arrow::array::Float64Array::from(vec![1.5, f64::NAN]);
        let col = CellCol { col: 0, name: "x".into(), ty: Ty::F64, nullable: true };
        let c = CellColumn::read(&floats, &col.ty);
        assert!(c.valid(0, &col) && !c.valid(1, &col), "NaN is malformed, as in the row decoder");
        assert_eq!(c.get(0, &col, &mut i), Value::F64(1.5));
    }
}
