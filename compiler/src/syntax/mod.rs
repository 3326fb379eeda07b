//! Text in, typed AST out: the grammar binding and the syntax tree.

pub mod ast;
mod expr;
mod parser;

pub(crate) use parser::comment_start;
pub use parser::parse;

pub use crate::ir::format_millis;
