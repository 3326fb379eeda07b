//! The featc runtime. So far: the aggregate library that every layer (batch, stream, serving
//! merge, training sets) computes with, expression evaluation, and the keyed window operators of
//! the streaming plan with per-key lateness and lookups as of a time.
// A panic is a bug the user sees: the product code uses `?` and diagnostics, tests may unwrap.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod aggregate;
mod columnar;
pub mod decode;
pub mod durable;
pub mod eval;
pub mod generate;
pub mod group;
pub mod history;
pub mod kappa;
pub mod lambda;
pub mod log;
pub mod materialize;
pub mod training;
pub mod value;
pub mod verify;
pub mod window;
