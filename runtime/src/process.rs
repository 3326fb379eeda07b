//! The process's memory settings, applied once when a binary starts: nothing in, the kernel's
//! per-process flags out.

/// Turns transparent huge pages off for this process (and the processes it starts).
///
/// The allocator (mimalloc) asks the kernel for huge pages on its large regions, so the first
/// touch anywhere in 2 MiB of one has the kernel zero all of it, however little of it is used
/// (never returning freed memory, `MIMALLOC_PURGE_DELAY=-1`, did not change that: it is not the
/// memory given back and faulted in again). `featc batch` at 1M users spent 10 to 11 s of
/// system time (a third of its samples in the kernel's `clear_page_erms`) against 2 s with huge
/// pages off, and its wall time went from 16.4 and 18.9 s to 12.3 and 11.8 s
/// (docs/benchmarks.md, "Huge pages").
/// Best effort: a kernel without the flag keeps its setting, and nothing else changes.
pub fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(%error, "transparent huge pages stay as the kernel has them");
    }
}
