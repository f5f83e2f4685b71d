//! Giving memory back to the system: the allocator's settings at start
//! ([`tune_allocator`]) and a trim after large answers.
//!
//! glibc's allocator keeps the pages of freed buffers in its heaps: after one
//! 30 MB answer (EnumerateClasses of the whole DMTF schema with qualifiers)
//! the process would stay at that size while idle. Response bodies of at
//! least [`TRIM_AFTER_BYTES`] are owned by a [`Large`] guard; when the last
//! large answer in flight is gone and at least one of them was freed (not
//! kept by the rendered-answer cache), `malloc_trim(0)` hands the free pages
//! of every arena back. While large answers keep overlapping, no trim runs,
//! so a busy server does not pay for page faults on every answer. Smaller
//! answers free memory too, in many pieces: when the server has had no
//! request for [`QUIET_TRIM_AFTER`], the same trim runs once ([`Busy`]).

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

/// Requests being handled (see [`Busy`]).
static REQUESTS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// A quiet-time trim is scheduled.
static QUIET_TRIM_SCHEDULED: AtomicBool = AtomicBool::new(false);
/// How long the server must have been without requests before the free
/// memory that a burst of requests left in the allocator's arenas is handed
/// back: longer than the gaps between a busy client's requests, so a busy
/// server does not trim (and fault the pages in again) all the time.
pub(crate) const QUIET_TRIM_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// Held while a request is handled. When the last one in flight finishes,
/// a trim is scheduled [`QUIET_TRIM_AFTER`] later, and runs then if no
/// request is in flight: freed request buffers, decoded classes and rendered
/// answers of the burst leave the allocator's arenas fragmented, and only a
/// trim gives their free pages back.
pub(crate) struct Busy(());

impl Busy {
    pub(crate) fn enter() -> Busy {
        REQUESTS_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        Busy(())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if REQUESTS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel) != 1
            || QUIET_TRIM_SCHEDULED.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            QUIET_TRIM_SCHEDULED.store(false, Ordering::Release);
            return;
        };
        rt.spawn(async {
            tokio::time::sleep(QUIET_TRIM_AFTER).await;
            QUIET_TRIM_SCHEDULED.store(false, Ordering::Release);
            if REQUESTS_IN_FLIGHT.load(Ordering::Acquire) == 0 {
                // Off the async workers: a trim walks every arena.
                let _ = tokio::task::spawn_blocking(release_free_memory).await;
            }
        });
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

/// Default of `--malloc-arenas`: the most glibc malloc arenas the process
/// uses (see [`tune_allocator`]).
pub const DEFAULT_MALLOC_ARENAS: usize = 2;

/// Allocations at least this large get their own mapping, given back to the
/// system when freed (see [`tune_allocator`]).
pub const MMAP_THRESHOLD_BYTES: usize = 1 << 20;

/// Sets glibc's allocator up for a long-running server whose answers range
/// from a few hundred bytes to tens of megabytes; call once at start, before
/// other threads exist. Elsewhere than glibc it does nothing.
///
/// * At most `arenas` malloc arenas (0 keeps glibc's default of 8 per core):
///   glibc gives a thread that finds the arenas locked a new one, and every
///   arena keeps the freed memory of its threads' peaks.
/// * Allocations from [`MMAP_THRESHOLD_BYTES`] are mapped on their own and
///   unmapped when freed. A fixed threshold also stops glibc from raising it
///   after each freed large block (up to 32 MiB), which put every later
///   rendered answer in the heap, where its pages stayed after the answer
///   was sent.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn tune_allocator(arenas: usize) {
    extern "C" {
        /// glibc: sets an allocator parameter; returns 1 on success.
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_MMAP_THRESHOLD: i32 = -3;
    const M_ARENA_MAX: i32 = -8;
    // SAFETY: mallopt takes two integers and only changes allocator
    // parameters (under the main arena's lock).
    unsafe {
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES as i32);
        if arenas > 0 {
            mallopt(M_ARENA_MAX, arenas.min(i32::MAX as usize) as i32);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune_allocator(_arenas: usize) {}
