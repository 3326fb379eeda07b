//! The value types of the language and the rules that relate them.

use serde::Serialize;
use std::fmt;

/// A value type, without nullability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ty {
    String,
    Bool,
    I64,
    F64,
    Timestamp,
    List(Box<Ty>),
    /// The type of the `null` literal: fits any nullable type.
    Null,
}

/// A type with its nullability, the type of every expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Type {
    pub ty: Ty,
    pub nullable: bool,
}

impl Type {
    pub fn new(ty: Ty, nullable: bool) -> Self {
        Type { ty, nullable }
    }

    pub fn not_null(ty: Ty) -> Self {
        Type { ty, nullable: false }
    }

    pub fn nullable(ty: Ty) -> Self {
        Type { ty, nullable: true }
    }

    pub fn is_numeric(&self) -> bool {
        self.ty.is_numeric()
    }
}

impl Ty {
    /// The scalar types a schema may name.
    pub fn from_name(name: &str) -> Option<Ty> {
        Some(match name {
            "string" => Ty::String,
            "bool" => Ty::Bool,
            "i64" => Ty::I64,
            "f64" => Ty::F64,
            "timestamp" => Ty::Timestamp,
            _ => return None,
        })
    }

    pub const SCALAR_NAMES: [&'static str; 5] = ["string", "bool", "i64", "f64", "timestamp"];

    pub fn is_numeric(&self) -> bool {
        matches!(self, Ty::I64 | Ty::F64 | Ty::Null)
    }

    /// Whether values of this type can be grouping keys: exact equality and a stable hash.
    pub fn is_hashable(&self) -> bool {
        matches!(self, Ty::String | Ty::Bool | Ty::I64 | Ty::Timestamp)
    }

    /// Whether values have a total order (`min`, `max`, `<`).
    pub fn is_ordered(&self) -> bool {
        matches!(self, Ty::String | Ty::I64 | Ty::F64 | Ty::Timestamp | Ty::Null)
    }

    /// The common type of two operands, if any: numbers widen to f64 and null fits anything.
    pub fn unify(&self, other: &Ty) -> Option<Ty> {
        match (self, other) {
            (a, b) if a == b => Some(a.clone()),
            (Ty::Null, b) => Some(b.clone()),
            (a, Ty::Null) => Some(a.clone()),
            (Ty::I64, Ty::F64) | (Ty::F64, Ty::I64) => Some(Ty::F64),
            _ => None,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::String => f.write_str("string"),
            Ty::Bool => f.write_str("bool"),
            Ty::I64 => f.write_str("i64"),
            Ty::F64 => f.write_str("f64"),
            Ty::Timestamp => f.write_str("timestamp"),
            Ty::List(inner) => write!(f, "list<{inner}>"),
            Ty::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nullable && self.ty != Ty::Null { write!(f, "{}?", self.ty) } else { write!(f, "{}", self.ty) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_widen_and_null_fits() {
        assert_eq!(Ty::I64.unify(&Ty::F64), Some(Ty::F64));
        assert_eq!(Ty::Null.unify(&Ty::String), Some(Ty::String));
        assert_eq!(Ty::String.unify(&Ty::I64), None);
        assert_eq!(Type::nullable(Ty::List(Box::new(Ty::String))).to_string(), "list<string>?");
    }
}
