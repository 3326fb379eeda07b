//! Bytes and files in, Arrow batches with their positions out, and durable bytes back: the
//! embedded log, history files, example data, time text and durable writes.

pub mod dead_letters;
pub mod durable;
pub mod generate;
pub mod history;
pub mod lock;
pub mod log;
pub mod seed;
pub mod time;
