//! Giving memory back to the system after large answers.
//!
//! glibc's allocator keeps the pages of freed buffers in its heaps: after one
//! 30 MB answer (EnumerateClasses of the whole DMTF schema with qualifiers)
//! the process would stay at that size while idle. Response bodies of at
//! least [`TRIM_AFTER_BYTES`] are owned by a [`Large`] guard; when the last
//! large answer in flight is gone and at least one of them was freed (not
//! kept by the rendered-answer cache), `malloc_trim(0)` hands the free pages
//! of every arena back. While large answers keep overlapping, no trim runs,
//! so a busy server does not pay for page faults on every answer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Answers at least this large are tracked (smaller ones fit in the pages
/// the allocator keeps anyway).
pub(crate) const TRIM_AFTER_BYTES: usize = 4 << 20;

/// Large answers whose bodies are still owned by a response.
static LARGE_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// A large buffer was freed since the last trim.
static FREED_SINCE_TRIM: AtomicBool = AtomicBool::new(false);

/// What owns the bytes of a large response body.
pub(crate) trait Owner: AsRef<[u8]> + Send + 'static {
    /// True when dropping this owner frees the buffer (no other owner).
    fn is_last(&self) -> bool;
    /// The bytes without a guard (a small body).
    fn into_bytes(self) -> bytes::Bytes;
}

impl Owner for Vec<u8> {
    fn is_last(&self) -> bool {
        true
    }
    fn into_bytes(self) -> bytes::Bytes {
        self.into()
    }
}

/// A cached answer shared by every response that sends it (and the cache).
pub(crate) struct SharedAnswer(pub(crate) std::sync::Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedAnswer {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Owner for SharedAnswer {
    fn is_last(&self) -> bool {
        std::sync::Arc::strong_count(&self.0) == 1
    }
    fn into_bytes(self) -> bytes::Bytes {
        bytes::Bytes::from_owner(self)
    }
}

/// Owner of a response body of at least [`TRIM_AFTER_BYTES`] (see the module docs).
pub(crate) struct Large<T: Owner>(Option<T>);

impl<T: Owner> Large<T> {
    pub(crate) fn new(body: T) -> Large<T> {
        LARGE_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        Large(Some(body))
    }
}

impl<T: Owner> AsRef<[u8]> for Large<T> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], |b| b.as_ref())
    }
}

impl<T: Owner> Drop for Large<T> {
    fn drop(&mut self) {
        if let Some(body) = self.0.take() {
            if body.is_last() {
                FREED_SINCE_TRIM.store(true, Ordering::Release);
            }
            drop(body);
        }
        if LARGE_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel) == 1
            && FREED_SINCE_TRIM.swap(false, Ordering::AcqRel)
        {
            release_free_memory();
        }
    }
}

/// Hands the allocator's free pages back to the system (glibc only;
/// elsewhere nothing to do).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_free_memory() {
    extern "C" {
        /// glibc: releases free memory at the top of the main heap and the
        /// whole free pages of every arena; returns 1 when some was released.
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: malloc_trim takes no pointers and is thread-safe (it locks
    // each arena); it only returns free pages to the kernel.
    let released = unsafe { malloc_trim(0) };
    tracing::trace!(released, "malloc_trim after a large answer");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
