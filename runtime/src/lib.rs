//! The featc runtime. So far: the aggregate library that every layer (batch, stream, serving
//! merge, training sets) computes with, and the scalar values it works on.
// A panic is a bug the user sees: the product code uses `?` and diagnostics, tests may unwrap.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod aggregate;
pub mod value;
