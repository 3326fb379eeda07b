//! The physical operators a plan is built from: Arrow batches in, per-key partials and feature
//! vectors out (decode, filter, key, lateness, windows, aggregates, the columnar fast path).

pub mod aggregate;
pub(crate) mod columnar;
pub mod decode;
pub mod eval;
pub mod group;
pub mod state;
pub mod window;

/// Starts loading the cache line of `x` (a hint; nothing on other processors).
#[inline]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    safe_arch::prefetch_t0(x);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = x;
}

/// Starts loading the first item of `xs`, if any.
#[inline]
pub(crate) fn prefetch_first<T>(xs: &[T]) {
    if let Some(x) = xs.first() {
        prefetch(x);
    }
}
