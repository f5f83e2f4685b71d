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

mod bitmap;
pub mod blockdev;
mod copy;
mod device;
pub mod engine;
pub mod error;
#[doc = include_str!("../FORMAT.md")]
pub mod format {}
mod events;
pub mod nbd;
mod overflow;
mod set;
mod state;
pub mod types;
mod volume;

pub use blockdev::{BlockDevice, ExportSource};
pub use engine::Engine;
pub use error::{Error, Result};
pub use types::*;
