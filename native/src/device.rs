//! Data-path handles: [`BlockDevice`] for a master (or plain) volume and for
//! a set's shadow. Both route every request through the set rules in
//! `set.rs`; the handles themselves only check ranges. [`ClientDevice`] wraps
//! either for an NBD connection and counts the volume's open connections.

use crate::blockdev::BlockDevice;
use crate::error::{Error, Result};
use crate::set::{Master, SetCore};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn check(what: &'static str, path: &Path, off: u64, len: u64, size: u64) -> Result<()> {
    if len == 0 || off.checked_add(len).is_none_or(|e| e > size) {
        return Err(Error::OutOfRange {
            what,
            path: path.to_path_buf(),
            offset: off,
            len,
            size,
        });
    }
    Ok(())
}

/// A master volume, or a plain volume that is not (yet) part of a set.
pub(crate) struct MasterDevice(pub Arc<Master>);

impl BlockDevice for MasterDevice {
    fn size(&self) -> u64 {
        self.0.size
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check("read", &self.0.path, offset, buf.len() as u64, self.0.size)?;
        self.0.read(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()> {
        check("write", &self.0.path, offset, buf.len() as u64, self.0.size)?;
        self.0.write(buf, offset, fua)
    }
    fn flush(&self) -> Result<()> {
        match &self.0.vol {
            Some(v) => v.sync(),
            None => Ok(()),
        }
    }
    fn trim(&self, offset: u64, len: u64) -> Result<()> {
        // Advisory: keeping the data is always a valid answer, and discarding
        // master data would bypass copy-on-write.
        check("trim", &self.0.path, offset, len, self.0.size)
    }
}

/// The shadow of a set (size = the set's volume size, imaging.md §1.1).
pub(crate) struct ShadowDevice(pub Arc<SetCore>);

impl BlockDevice for ShadowDevice {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        check(
            "read",
            &self.0.shadow_path,
            offset,
            buf.len() as u64,
            self.0.size(),
        )?;
        self.0.shadow_read(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()> {
        check(
            "write",
            &self.0.shadow_path,
            offset,
            buf.len() as u64,
            self.0.size(),
        )?;
        self.0.shadow_write(buf, offset, fua)
    }
    fn flush(&self) -> Result<()> {
        self.0.flush()
    }
    fn trim(&self, offset: u64, len: u64) -> Result<()> {
        check("trim", &self.0.shadow_path, offset, len, self.0.size())
    }
}

/// What [`crate::ExportSource::open_export`] hands the NBD server: a device
/// that counts itself in its volume's client count while it lives. The
/// server keeps one per connection (dropped when the connection ends), so
/// the count is the number of open client connections to the volume; the
/// engine refuses operations that would change a volume under its clients
/// (imaging.md §8, mount checks).
pub(crate) struct ClientDevice {
    dev: Arc<dyn BlockDevice>,
    count: Arc<AtomicUsize>,
}

impl ClientDevice {
    /// Wraps `dev`, counting one more client in `count`.
    pub fn new(dev: Arc<dyn BlockDevice>, count: Arc<AtomicUsize>) -> ClientDevice {
        count.fetch_add(1, Ordering::AcqRel);
        ClientDevice { dev, count }
    }
}

impl Drop for ClientDevice {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl BlockDevice for ClientDevice {
    fn size(&self) -> u64 {
        self.dev.size()
    }
    fn is_read_only(&self) -> bool {
        self.dev.is_read_only()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.dev.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()> {
        self.dev.write_at(buf, offset, fua)
    }
    fn flush(&self) -> Result<()> {
        self.dev.flush()
    }
    fn trim(&self, offset: u64, len: u64) -> Result<()> {
        self.dev.trim(offset, len)
    }
    fn write_zeroes(&self, offset: u64, len: u64, fua: bool) -> Result<()> {
        self.dev.write_zeroes(offset, len, fua)
    }
}
