//! The physical operators a plan is built from: Arrow batches in, per-key partials and feature
//! vectors out (decode, filter, key, lateness, windows, aggregates, the columnar fast path).

pub mod aggregate;
pub(crate) mod columnar;
pub mod decode;
pub mod eval;
pub mod group;
pub mod state;
pub mod window;
