//! The data-path surface shared by the engine and the NBD server.
//!
//! The engine implements [`BlockDevice`] for plain volumes and for the master and
//! shadow handles of sets (where copy-on-write and bitmap tracking happen); the
//! NBD server exports whatever an [`ExportSource`] hands it. Methods are
//! synchronous positioned I/O: the server calls them on tokio's blocking pool.

use crate::Result;
use std::sync::Arc;

/// A byte-addressed device of fixed size, safe under concurrent use.
pub trait BlockDevice: Send + Sync {
    /// Size in bytes exposed to clients.
    fn size(&self) -> u64;
    /// Whether writes are refused (the NBD export then advertises read-only).
    fn is_read_only(&self) -> bool {
        false
    }
    /// Fill `buf` from `offset`. Errors if the range leaves the device.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
    /// Write `buf` at `offset`; with `fua` the data is durable on return.
    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()>;
    /// Make every acknowledged write durable.
    fn flush(&self) -> Result<()>;
    /// Discard a range (advisory: reads may return old data or zeroes).
    fn trim(&self, offset: u64, len: u64) -> Result<()>;
    /// Write zeroes over a range.
    fn write_zeroes(&self, offset: u64, len: u64, fua: bool) -> Result<()> {
        const STEP: u64 = 1 << 20;
        let zeroes = vec![0u8; STEP.min(len) as usize];
        let mut done = 0;
        while done < len {
            let n = STEP.min(len - done);
            self.write_at(&zeroes[..n as usize], offset + done, false)?;
            done += n;
        }
        if fua {
            self.flush()?;
        }
        Ok(())
    }
}

/// What the NBD server exports: a live, named set of devices.
pub trait ExportSource: Send + Sync {
    /// Names of every export (absolute volume paths), for NBD_OPT_LIST.
    fn export_names(&self) -> Vec<String>;
    /// The device behind one export name, or `None` if there is no such export.
    fn open_export(&self, name: &str) -> Option<Arc<dyn BlockDevice>>;
}
