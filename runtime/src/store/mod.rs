//! Partials in, durable files out, and back: Kappa snapshots and Lambda batch views, each kept
//! per group and version.

pub mod snapshot;
pub mod view;
