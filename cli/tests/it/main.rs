//! The CLI's integration tests, one binary: the `featc` binary run as a user would, its output
//! and files checked. One binary instead of one per file keeps the link count (and the disk a
//! test build takes) small.

mod common;

mod cli;
mod crash;
mod delta;
mod kafka;
mod lambda;
mod serve;
mod spark;
mod versions;
mod writers;
