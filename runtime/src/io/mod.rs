//! Bytes and files in, Arrow batches with their positions out, and durable bytes back: the
//! embedded log, history files, example data, time text and durable writes.

pub mod dead_letters;
pub mod delta;
pub mod durable;
pub mod generate;
pub mod history;
pub mod kafka;
pub mod lock;
pub mod log;
pub mod seed;
pub mod stream;
pub mod time;

/// Runs a decoder of a dependency (Arrow IPC, Parquet) on bytes that may be damaged, turning
/// a panic into an error that names `what`: no input may stop the pipeline.
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("the {what} decoder failed on damaged data: {why}")
    })
}
