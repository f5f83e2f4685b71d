//! Plain files as NBD exports: a [`BlockDevice`] over a file with positioned
//! I/O, and an [`ExportSource`] over a name → device map.
//!
//! Used by the NBD tests and benchmark, and usable as is for exporting a plain
//! volume that is not part of a set. No copy-on-write, no change tracking:
//! volumes in sets must be exported through the engine's own devices.

use crate::blockdev::{BlockDevice, ExportSource};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// A file (or block device node) seen as a fixed-size device.
///
/// The size is taken when the device is opened. Trim is accepted and ignored
/// (it is advisory); write-zeroes writes zero blocks.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    path: PathBuf,
    size: u64,
    read_only: bool,
}

impl FileDevice {
    /// Opens `path` for reading, and for writing unless `read_only`.
    pub fn open(path: impl AsRef<Path>, read_only: bool) -> Result<FileDevice> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .open(path)
            .map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
        FileDevice::from_file(file, path, read_only)
    }

    /// Wraps an already open file; `path` is only used in error messages.
    pub fn from_file(file: File, path: impl Into<PathBuf>, read_only: bool) -> Result<FileDevice> {
        let path = path.into();
        let size = file
            .metadata()
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(FileDevice {
            file,
            path,
            size,
            read_only,
        })
    }

    /// The path given when the device was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn check(&self, what: &'static str, offset: u64, len: u64) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if len > 0 && end <= self.size => Ok(()),
            _ => Err(Error::OutOfRange {
                what,
                path: self.path.clone(),
                offset,
                len,
                size: self.size,
            }),
        }
    }

    fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::PermissionDenied {
                path: self.path.clone(),
                reason: "the export is read-only".into(),
            });
        }
        Ok(())
    }
}

impl BlockDevice for FileDevice {
    fn size(&self) -> u64 {
        self.size
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.check("read", offset, buf.len() as u64)?;
        self.file.read_exact_at(buf, offset).map_err(|e| self.io(e))
    }

    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()> {
        self.check_writable()?;
        self.check("write", offset, buf.len() as u64)?;
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| self.io(e))?;
        if fua {
            self.file.sync_data().map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| self.io(e))
    }

    fn trim(&self, offset: u64, len: u64) -> Result<()> {
        self.check_writable()?;
        self.check("trim", offset, len)
    }

    fn write_zeroes(&self, offset: u64, len: u64, fua: bool) -> Result<()> {
        self.check_writable()?;
        self.check("write zeroes", offset, len)?;
        const STEP: u64 = 1 << 20;
        let zeroes = vec![0u8; STEP.min(len) as usize];
        let mut done = 0;
        while done < len {
            let n = STEP.min(len - done);
            self.file
                .write_all_at(&zeroes[..n as usize], offset + done)
                .map_err(|e| self.io(e))?;
            done += n;
        }
        if fua {
            self.file.sync_data().map_err(|e| self.io(e))?;
        }
        Ok(())
    }
}

/// A fixed, named set of devices: the simplest [`ExportSource`].
///
/// Names are kept sorted, so `NBD_OPT_LIST` answers in a stable order.
#[derive(Default)]
pub struct FileExport {
    devices: RwLock<BTreeMap<String, Arc<dyn BlockDevice>>>,
}

impl FileExport {
    /// An export source with no exports.
    pub fn new() -> FileExport {
        FileExport::default()
    }

    /// Exports the file at `path` under its absolute path (the project's naming
    /// convention for exports) and returns that name.
    pub fn add_file(&self, path: impl AsRef<Path>, read_only: bool) -> Result<String> {
        let path = path.as_ref();
        let abs = std::path::absolute(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        let name = abs.to_string_lossy().into_owned();
        let dev = FileDevice::open(&abs, read_only)?;
        self.insert(name.clone(), Arc::new(dev));
        Ok(name)
    }

    /// Exports `device` as `name`, replacing any export of that name.
    pub fn insert(&self, name: impl Into<String>, device: Arc<dyn BlockDevice>) {
        self.devices
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.into(), device);
    }

    /// Stops exporting `name` (connections already open keep their device).
    pub fn remove(&self, name: &str) -> Option<Arc<dyn BlockDevice>> {
        self.devices
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
    }
}

impl ExportSource for FileExport {
    fn export_names(&self) -> Vec<String> {
        self.devices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    fn open_export(&self, name: &str) -> Option<Arc<dyn BlockDevice>> {
        self.devices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_device_reads_writes_and_checks_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vol");
        std::fs::write(&path, vec![0u8; 8192]).unwrap();
        let dev = FileDevice::open(&path, false).unwrap();
        assert_eq!(dev.size(), 8192);
        dev.write_at(&[7u8; 100], 4000, true).unwrap();
        let mut buf = [0u8; 100];
        dev.read_at(&mut buf, 4000).unwrap();
        assert_eq!(buf, [7u8; 100]);
        dev.write_zeroes(4000, 50, false).unwrap();
        dev.read_at(&mut buf, 4000).unwrap();
        assert_eq!(&buf[..50], &[0u8; 50]);
        assert_eq!(&buf[50..], &[7u8; 50]);
        let e = dev.read_at(&mut buf, 8150).unwrap_err();
        assert_eq!(e.errno(), 22);
        let e = dev.write_at(&[], 0, false).unwrap_err();
        assert_eq!(e.errno(), 22);

        let ro = FileDevice::open(&path, true).unwrap();
        assert!(ro.is_read_only());
        assert_eq!(ro.write_at(&[1], 0, false).unwrap_err().errno(), 1);
        assert_eq!(ro.trim(0, 1).unwrap_err().errno(), 1);
    }

    #[test]
    fn file_export_names_are_absolute_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b", "a"] {
            std::fs::write(dir.path().join(n), [0u8; 512]).unwrap();
        }
        let ex = FileExport::new();
        let b = ex.add_file(dir.path().join("b"), false).unwrap();
        let a = ex.add_file(dir.path().join("a"), true).unwrap();
        assert!(a.starts_with('/'));
        assert_eq!(ex.export_names(), vec![a.clone(), b.clone()]);
        assert!(ex.open_export(&a).unwrap().is_read_only());
        assert!(ex.open_export("/nope").is_none());
        assert!(ex.remove(&b).is_some());
        assert_eq!(ex.export_names(), vec![a]);
    }
}
