#![doc = include_str!("../ARCHITECTURE.md")]
// A panic is a bug the user sees: the product code uses `?` and diagnostics, tests may unwrap.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod io;
pub mod operators;
pub mod process;
pub mod runners;
pub mod serve;
pub mod store;
pub mod value;
