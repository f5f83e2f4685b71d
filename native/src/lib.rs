//! The point-in-time imaging engine ("Instant Image") and its NBD export.
//!
//! The crate knows nothing of CIM: it is a library with a plain Rust API that the
//! providers call, plus an NBD server that applications use to reach volumes, so
//! that copy-on-write and change tracking see every write.
//!
//! * [`blockdev`] — the [`blockdev::BlockDevice`] trait: the data-path surface
//!   (read/write/flush/trim) that the NBD server exports and the engine implements
//!   for master and shadow handles.
//! * [`engine`] — the [`Engine`] façade: sets, groups, overflow volumes,
//!   copy jobs, persistence (formats in `FORMAT.md`), data-path devices.
//! * [`types`] — plain data of the API (specs, snapshots, events, flags).
//! * [`nbd`] — the NBD server (fixed newstyle handshake) over any
//!   [`blockdev::ExportSource`].
//! * [`format`](mod@format) — the on-disk formats and crash protocol (`FORMAT.md`).
//! * [`storage`] — the storage seam all durable I/O goes through, and the
//!   I/O trace that rebuilds power-loss disk images for crash tests.
//!
//! Internals, for readers of the code: `volume` (open-once volumes, root
//! check), `bitmap` (bitmap volume format, lock-free bitmaps), `overflow`,
//! `set` (per-set state and the data-path rules of copy-on-write),
//! `compact` (a compact shadow's chunk map), `copy` (background copy
//! threads), `job_end` (thread-free waiting for a copy), `device` (the
//! `BlockDevice` handles), `state` (the JSON configuration), `events` (the
//! non-blocking event bus).
//!
//! ```no_run
//! use native::*;
//! use std::path::Path;
//! let eng = Engine::open(EngineConfig::new("/var/lib/ii", vec!["/vols".into()]))?;
//! eng.enable_set(SetSpec {
//!     master: "/vols/m".into(), shadow: "/vols/s".into(), bitmap: "/vols/b".into(),
//!     kind: SetKind::Dependent, ..Default::default()
//! })?;
//! let master = eng.device(Path::new("/vols/m"))?;   // writes copy-on-write
//! master.write_at(b"new data", 0, false)?;
//! eng.copy(Path::new("/vols/s"), Direction::ToShadow, CopyMode::Update)?; // new PIT
//! # Ok::<(), native::Error>(())
//! ```

mod bitmap;
pub mod blockdev;
mod compact;
mod copy;
mod cowlog;
mod device;
pub mod engine;
pub mod error;
#[doc = include_str!("../FORMAT.md")]
pub mod format {}
mod events;
mod job_end;
pub mod mirror;
#[cfg(feature = "nbd")]
pub mod nbd;
#[cfg(test)]
mod ordering_tests;
mod overflow;
mod pending;
pub mod probe;
mod set;
mod state;
pub mod storage;
pub mod types;
mod volume;

pub use blockdev::{BlockDevice, ExportSource};
pub use engine::Engine;
pub use error::{Error, Result};
pub use job_end::JobEnd;
pub use types::*;
