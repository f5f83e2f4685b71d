//! Volumes: regular files or block devices addressed by path, opened once and
//! shared, with positioned I/O; and the volume-root check.
//!
//! All I/O goes through the storage seam (`storage.rs`).
//!
//! A volume's size is taken once at open (block devices by seeking to the end,
//! which needs no `ioctl`). Paths are canonicalised (symlinks and `..`
//! resolved) before they are checked against the roots, so nothing outside a
//! root is ever opened.

use crate::error::{Error, Result};
use crate::storage::StorageFile;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// An open volume.
#[derive(Debug)]
pub(crate) struct Volume {
    pub path: PathBuf,
    file: StorageFile,
    pub size: u64,
}

impl Volume {
    /// Opens a volume read-write (the path must already be canonical).
    pub fn open(path: &Path) -> Result<Volume> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let block = meta.file_type().is_block_device();
        if !block && !meta.is_file() {
            return Err(Error::invalid(
                format!("volume {}", path.display()),
                "not a regular file or block device; use a file or block device under a volume root",
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let mut file = StorageFile::new(file, path);
        let size = if block {
            file.seek_end().map_err(|e| Error::io(path, e))?
        } else {
            meta.len()
        };
        Ok(Volume {
            path: path.to_path_buf(),
            file,
            size,
        })
    }

    pub fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, off)
            .map_err(|e| Error::io(&self.path, e))
    }

    pub fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        self.file
            .write_all_at(buf, off)
            .map_err(|e| Error::io(&self.path, e))
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}

/// Size of a volume without keeping it open.
pub(crate) fn probe_size(path: &Path) -> Option<(u64, bool)> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.file_type().is_block_device() {
        let mut f = File::open(path).ok()?;
        Some((f.seek(SeekFrom::End(0)).ok()?, true))
    } else if meta.is_file() {
        Some((meta.len(), false))
    } else {
        None
    }
}

/// The allow-list of volume roots, canonicalised once.
#[derive(Debug, Clone)]
pub(crate) struct Roots {
    roots: Vec<PathBuf>,
}

impl Roots {
    pub fn new(roots: &[PathBuf]) -> Result<Roots> {
        let mut out = Vec::new();
        for r in roots {
            let c = std::fs::canonicalize(r).map_err(|e| Error::io(r, e))?;
            out.push(c);
        }
        Ok(Roots { roots: out })
    }

    pub fn list(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Canonicalises `path` and checks it lies under a root.
    pub fn resolve(&self, path: &Path) -> Result<PathBuf> {
        if !path.is_absolute() {
            return Err(Error::AccessDenied {
                path: path.to_path_buf(),
                reason: "volume paths must be absolute; give the full path under a volume root"
                    .into(),
            });
        }
        // Refuse lexical escapes even if the target happens to be back inside a
        // root: a `..` that leaves a root is denied (interface.md §7).
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            let lexical = lexical_normalise(path);
            if !self.roots.iter().any(|r| lexical.starts_with(r)) {
                return Err(Error::AccessDenied {
                    path: path.to_path_buf(),
                    reason: "the path leaves every volume root through '..'; use a path under a volume root".into(),
                });
            }
        }
        let canon = match std::fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound {
                    kind: "volume",
                    name: path.display().to_string(),
                    hint: "the file or device does not exist; create it first".into(),
                })
            }
            Err(e) => return Err(Error::io(path, e)),
        };
        if self.roots.iter().any(|r| canon.starts_with(r)) {
            Ok(canon)
        } else {
            Err(Error::AccessDenied {
                path: path.to_path_buf(),
                reason: format!(
                    "it resolves to {}, which is outside every volume root; use a volume under a configured root",
                    canon.display()
                ),
            })
        }
    }
}

/// Removes `.` and `..` components without touching the file system.
fn lexical_normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_refuse_escapes() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let inside = root.path().join("v1");
        std::fs::write(&inside, [0u8; 10]).unwrap();
        let out_file = outside.path().join("secret");
        std::fs::write(&out_file, [0u8; 10]).unwrap();
        std::os::unix::fs::symlink(&out_file, root.path().join("link")).unwrap();
        std::os::unix::fs::symlink(&inside, root.path().join("goodlink")).unwrap();
        let roots = Roots::new(&[root.path().to_path_buf()]).unwrap();
        assert_eq!(
            roots.resolve(&inside).unwrap(),
            std::fs::canonicalize(&inside).unwrap()
        );
        assert!(roots.resolve(&root.path().join("goodlink")).is_ok());
        let e = roots.resolve(&root.path().join("link")).unwrap_err();
        assert!(matches!(e, Error::AccessDenied { .. }), "{e}");
        assert!(e.to_string().contains("link"));
        let dotdot = root
            .path()
            .join("..")
            .join(outside.path().file_name().unwrap())
            .join("secret");
        let e = roots.resolve(&dotdot).unwrap_err();
        assert!(matches!(e, Error::AccessDenied { .. }), "{e}");
        let e = roots.resolve(Path::new("relative/x")).unwrap_err();
        assert!(matches!(e, Error::AccessDenied { .. }));
        let e = roots.resolve(&root.path().join("missing")).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }));
    }
}
