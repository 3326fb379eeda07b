//! The runtime's integration tests, one binary: operators and runners against the reference,
//! restarts, decoders under arbitrary bytes, and every plan run. One binary instead of one per
//! file keeps the link count (and the disk a test build takes) small.

mod common;

mod answer_from;
mod columnar;
mod fuzz;
mod lambda;
mod plan_runs;
mod restart;
mod shards;
mod stream_vs_reference;
mod training;
mod view;
