//! The point-in-time imaging engine ("Instant Image") and its NBD export.
//!
//! The crate knows nothing of CIM: it is a library with a plain Rust API that the
//! providers call, plus an NBD server that applications use to reach volumes, so
//! that copy-on-write and change tracking see every write.
//!
//! * [`blockdev`] — the [`blockdev::BlockDevice`] trait: the data-path surface
//!   (read/write/flush/trim) that the NBD server exports and the engine implements
//!   for master and shadow handles.
//! * [`nbd`] — the NBD server (fixed newstyle handshake) over any
//!   [`blockdev::ExportSource`].

pub mod blockdev;
pub mod engine;
pub mod error;
pub mod nbd;
pub mod types;

pub use blockdev::{BlockDevice, ExportSource};
pub use engine::Engine;
pub use error::{Error, Result};
pub use types::*;
