//! The engine configuration file (`<state_dir>/engine.json`): which sets,
//! groups and overflow volumes exist. Written atomically (temp file, fsync,
//! rename, fsync of the directory) through the storage seam; see FORMAT.md.
//!
//! Bits, flags, copy parameters and mtime live on each set's bitmap volume;
//! this file only records membership and names, so it changes rarely.
//!
//! `<state_dir>/lock` is the engine's exclusive advisory lock (`flock`), held
//! while an engine has the directory open; it holds the holder's process id
//! as decimal text, for the error message of a second engine only.

use crate::error::{Error, Result};
use crate::mirror::{MirrorMode, MirrorOptions, Secondary};
use crate::storage::{self, StorageFile};
use crate::types::SetKind;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Current configuration file version.
pub(crate) const CONFIG_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct SetRecord {
    /// `None` for an imported set.
    pub master: Option<PathBuf>,
    pub shadow: PathBuf,
    pub bitmap: PathBuf,
    pub kind: SetKind,
    #[serde(default)]
    pub imported: bool,
    pub name: String,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub overflow: Option<PathBuf>,
    /// Suspended by the operator (stays suspended across restarts).
    #[serde(default)]
    pub suspended: bool,
    /// Bitmaps in memory while running (absent in older files: persistent).
    #[serde(default)]
    pub volatile_bitmap: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct GroupRecord {
    pub name: String,
    pub kind: SetKind,
    #[serde(default)]
    pub locked: bool,
}

/// A mirror whose primary is on this host (state and bits live on its
/// scoreboard volume).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct MirrorRecord {
    pub primary: PathBuf,
    pub secondary: Secondary,
    pub scoreboard: PathBuf,
    pub mode: MirrorMode,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub options: MirrorOptions,
}

/// A volume claimed as a continuous-copy mirror target (FORMAT.md §3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct TargetRecord {
    pub volume: PathBuf,
    pub owner: String,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub(crate) struct Config {
    pub version: u32,
    pub sets: Vec<SetRecord>,
    pub groups: Vec<GroupRecord>,
    pub overflows: Vec<PathBuf>,
    /// Absent in older files and omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorRecord>,
    /// Mirror target claims (absent in older files, and left out when
    /// there are none, so such files stay byte-identical).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetRecord>,
}

/// Takes the exclusive lock on `<dir>/lock` (created if missing) and writes
/// this process's id into it; the lock lasts as long as the returned file.
pub(crate) fn lock(dir: &Path) -> Result<std::fs::File> {
    let p = dir.join("lock");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&p)
        .map_err(|e| Error::io(&p, e))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&p)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
                .map(|pid| format!(" (process {pid})"))
                .unwrap_or_default();
            return Err(Error::StateDirLocked {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&p, e)),
    }
    // Only the holder writes, so a reader sees the current holder's id.
    let f = StorageFile::new(f, &p);
    f.set_len(0).map_err(|e| Error::io(&p, e))?;
    f.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0)
        .map_err(|e| Error::io(&p, e))?;
    Ok(f.into_file())
}

fn file(dir: &Path) -> PathBuf {
    dir.join("engine.json")
}

pub(crate) fn load(dir: &Path) -> Result<Config> {
    let p = file(dir);
    match std::fs::read(&p) {
        Ok(b) => {
            let c: Config = serde_json::from_slice(&b).map_err(|e| {
                Error::io(&p, std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })?;
            if c.version > CONFIG_VERSION {
                return Err(Error::io(
                    &p,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "configuration version {} is newer than this engine",
                            c.version
                        ),
                    ),
                ));
            }
            Ok(c)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config {
            version: CONFIG_VERSION,
            ..Default::default()
        }),
        Err(e) => Err(Error::io(&p, e)),
    }
}

pub(crate) fn save(dir: &Path, cfg: &Config) -> Result<()> {
    let p = file(dir);
    let tmp = dir.join("engine.json.tmp");
    let body = serde_json::to_vec_pretty(cfg).expect("config serialises");
    let f = StorageFile::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    // Mirror target claims carry secrets (tokens): owner-only, whatever the umask.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(&tmp, e))?;
    }
    f.write_all_at(&body, 0).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    storage::rename(&tmp, &p).map_err(|e| Error::io(&p, e))?;
    storage::sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    Ok(())
}
