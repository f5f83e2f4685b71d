//! The engine façade: [`Engine`] owns volumes, sets, groups, overflow volumes,
//! copy jobs and the persistent configuration, and hands out data-path devices.
//! This module holds the handle and its shared state; each file below adds
//! one group of methods to it.
//!
//! # Rules
//!
//! - **Handle.** All methods take `&self`; `Engine` is a cheap `Clone` (an
//!   `Arc`) and is `Send + Sync`. Sets are named by their shadow path, as
//!   given or canonical.
//! - **Locking.** Management operations are serialised by one control mutex;
//!   the data path never takes it (it locks per master and per chunk, see
//!   `set.rs`).
//! - **One engine per state directory.** [`Engine::open`] takes an exclusive
//!   advisory lock on `<state_dir>/lock` (`<state-dir>/engine/lock` under
//!   `cimomd`), so a second engine on the same directory (a second `cimomd`
//!   on the same `--state-dir`) fails at once with [`Error::StateDirLocked`].
//!   Dropping the last `Engine` clone performs [`Engine::shutdown`] and then
//!   releases the lock.
//! - **Bitmaps are persistent**: every bit is durable before the write it
//!   covers is acknowledged (write order in `set.rs`), unless a set is
//!   enabled with volatile bitmaps ([`SetSpec::volatile_bitmap`]). Then its
//!   bits live in memory and are saved at enable, suspend, shutdown and open;
//!   a set whose bitmaps were not saved comes back distrusted (FORMAT.md
//!   §1.4, `restore.rs`).
//! - **Recovery.** Open brings every configured set back; one that cannot be
//!   restored is listed offline. Interrupted copies restart only once every
//!   sibling of their master is back, so copy-on-write covers all of them.
//! - **Export and import.** Resuming an exported set whose shadow was
//!   imported on the same engine meanwhile joins that import (imaging.md §5).
//! - **Mount checks.** Devices handed to NBD clients
//!   ([`ExportSource::open_export`](crate::blockdev::ExportSource::open_export))
//!   are counted per volume ([`Engine::clients_of`]); operations that would
//!   change a volume under its clients are refused with
//!   [`Error::ClientsConnected`] (imaging.md §8): enable of a shadow,
//!   copy/update towards the held volume (the shadow for master→shadow, the
//!   master for shadow→master), disable of a dependent set whose shadow is
//!   held, and export of a held shadow.
//!
//! # Files
//!
//! `open.rs` opening and recovery; `enable.rs` and `restore.rs` a new and a
//! configured set, step by step; `sets.rs` disable, rename and set info;
//! `jobs.rs` copy/update, abort, suspend, resume, reset, wait and copy
//! parameters; `transfer.rs` export, import and join; `targets.rs` mirror target claims
//! and their export fence; `overflows.rs`
//! overflow volumes; `groups.rs` groups; `devices.rs` volumes, data-path
//! devices, the NBD export source, events and shutdown.

use crate::bitmap::{self, BitmapVol, Bits};
use crate::compact::Compact;
use crate::copy;
use crate::error::{Error, Result};
use crate::events::Bus;
use crate::overflow::Overflow;
use crate::set::{JobCtl, Master, Meta, SetCore, Stop};
use crate::state::{self, Config, GroupRecord, SetRecord};
use crate::types::*;
use crate::volume::{Roots, Volume};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

mod devices;
mod enable;
mod groups;
mod jobs;
mod mirrors;
mod open;
mod overflows;
mod restore;
mod sets;
mod targets;
mod transfer;

/// Handle to the imaging engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: EngineConfig,
    roots: Roots,
    bus: Arc<Bus>,
    st: Mutex<St>,
    next_id: AtomicU64,
    /// Open NBD client connections per volume (canonical path), counted by
    /// the devices [`ExportSource::open_export`](crate::blockdev::ExportSource::open_export)
    /// hands out. Kept apart from `st` so a device can be dropped on any
    /// thread without the control lock.
    clients: Mutex<HashMap<PathBuf, Arc<AtomicUsize>>>,
    /// `<state_dir>/lock`, exclusively locked for the engine's life. Declared
    /// last: fields drop after `Drop for Inner` has shut everything down, so
    /// a successor cannot open the state before it is clean.
    _lock: std::fs::File,
}

#[derive(Default)]
struct St {
    masters: HashMap<PathBuf, Arc<Master>>,
    sets: BTreeMap<PathBuf, Arc<SetCore>>,
    /// Sets from the configuration that could not be restored.
    offline: BTreeMap<PathBuf, (SetRecord, String)>,
    /// Exported, suspended sets whose shadow an import on this engine has
    /// taken over (keyed by that shadow, which names the imported set in
    /// `sets`). Resuming one joins the import implicitly (imaging.md §5).
    parked: BTreeMap<PathBuf, Arc<SetCore>>,
    groups: BTreeMap<String, GroupRecord>,
    overflows: BTreeMap<PathBuf, Arc<Overflow>>,
    /// Overflow volumes in the configuration that could not be opened.
    overflow_missing: Vec<PathBuf>,
    /// Mirrors by canonical primary.
    mirrors: BTreeMap<PathBuf, Arc<crate::mirror::device::MirrorCore>>,
    /// Named consistency groups of mirrors.
    mirror_groups: BTreeMap<String, Arc<crate::mirror::group::GroupCore>>,
    /// Configured mirrors that could not be restored.
    mirrors_offline: BTreeMap<PathBuf, (state::MirrorRecord, String)>,
    /// Volumes claimed as mirror targets (`targets.rs`), by canonical path.
    targets: BTreeMap<PathBuf, targets::Target>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn set_subject(shadow: &Path) -> String {
    format!("set {}", shadow.display())
}

impl Drop for Inner {
    fn drop(&mut self) {
        shutdown_inner(&self.st);
    }
}

fn shutdown_inner(st: &Mutex<St>) {
    // Runs fully every time (explicit shutdown, then drop): anything started
    // after an explicit shutdown is stopped again when the engine goes away.
    // Mirror jobs may need the control lock to end (protect snapshots):
    // stop them before taking it for the sets.
    let mirrors: Vec<_> = {
        let st = st.lock().unwrap_or_else(|e| e.into_inner());
        st.mirrors.values().cloned().collect()
    };
    mirrors::shutdown_mirrors(&mirrors);
    let st = st.lock().unwrap_or_else(|e| e.into_inner());
    for s in st.sets.values().chain(st.parked.values()) {
        copy::stop(s, Stop::Shutdown);
        let _ = s.flush();
        if let Err(e) = s.save_volatile() {
            // The header stays DIRTY: the next start distrusts the bitmaps.
            tracing::error!(set = %s.shadow_path.display(), error = %e, "cannot save volatile bitmaps");
            continue;
        }
        let f = s.f();
        let (units, delay, mtime) = {
            let m = s.meta.lock().unwrap();
            (m.units, m.delay, m.mtime)
        };
        let _ = s.bitmap.write_header(|h| {
            h.lifecycle = bitmap::LIFE_CLEAN;
            h.flags = f;
            h.units = units;
            h.delay = delay;
            h.mtime = mtime;
        });
    }
    tracing::info!(sets = st.sets.len(), "engine shut down");
}

impl Engine {
    fn st(&self) -> MutexGuard<'_, St> {
        self.inner.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, st: &St) -> Result<()> {
        let mut sets: Vec<SetRecord> = st
            .sets
            .values()
            .chain(st.parked.values())
            .map(|s| record_of(s))
            .collect();
        sets.extend(st.offline.values().map(|(r, _)| r.clone()));
        let mut overflows: Vec<PathBuf> = st.overflows.keys().cloned().collect();
        overflows.extend(st.overflow_missing.iter().cloned());
        let mut mirror_recs: Vec<state::MirrorRecord> = st
            .mirrors
            .values()
            .map(|m| mirrors::record_of_mirror(m))
            .collect();
        mirror_recs.extend(st.mirrors_offline.values().map(|(r, _)| r.clone()));
        let cfg = Config {
            version: state::CONFIG_VERSION,
            sets,
            groups: st.groups.values().cloned().collect(),
            overflows,
            mirrors: mirror_recs,
            targets: targets::target_records(st),
        };
        state::save(&self.inner.cfg.state_dir, &cfg)
    }

    fn publish(&self, ev: EngineEvent) {
        self.inner.bus.publish(ev);
    }

    /// Looks a set up by shadow path (as given, else canonicalised).
    fn find(&self, st: &St, shadow: &Path) -> Result<Arc<SetCore>> {
        if let Some(s) = st.sets.get(shadow) {
            return Ok(s.clone());
        }
        if let Ok(c) = self.inner.roots.resolve(shadow) {
            if let Some(s) = st.sets.get(&c) {
                return Ok(s.clone());
            }
        }
        Err(Error::set_not_found(shadow))
    }

    /// The role a volume plays, if any.
    fn role_of(st: &St, p: &Path) -> Option<String> {
        for s in st.sets.values().chain(st.parked.values()) {
            if s.shadow_path == p {
                return Some(format!("shadow of {}", s.shadow_path.display()));
            }
            if !s.imported && s.master.path == p {
                return Some(format!("master of {}", s.shadow_path.display()));
            }
            if s.bitmap_path == p {
                return Some(format!("bitmap of {}", s.shadow_path.display()));
            }
        }
        for (r, _) in st.offline.values() {
            if r.shadow == p {
                return Some(format!("shadow of {}", r.shadow.display()));
            }
            if r.master.as_deref() == Some(p) {
                return Some(format!("master of {}", r.shadow.display()));
            }
            if r.bitmap == p {
                return Some(format!("bitmap of {}", r.shadow.display()));
            }
        }
        if st.overflows.contains_key(p) || st.overflow_missing.iter().any(|o| o == p) {
            return Some("overflow".into());
        }
        Self::mirror_role_of(st, p).or_else(|| Self::target_role(st, p))
    }

    /// Refuses a volume that a client holds open as a plain volume.
    fn check_no_plain_handle(st: &mut St, p: &Path, shadow: &Path) -> Result<()> {
        if let Some(m) = st.masters.get(p) {
            if m.sets.read().unwrap().is_empty() {
                if Arc::strong_count(m) > 1 {
                    return Err(Error::in_use(
                        p,
                        "open by a client as a plain volume",
                        format!(
                            "cannot use it for set {}; close the client's handle first",
                            shadow.display()
                        ),
                    ));
                }
                st.masters.remove(p);
            }
        }
        Ok(())
    }

    fn master_for(st: &mut St, p: &Path) -> Result<Arc<Master>> {
        if let Some(m) = st.masters.get(p) {
            return Ok(m.clone());
        }
        let v = Arc::new(Volume::open(p)?);
        let m = Arc::new(Master::new(p.to_path_buf(), Some(v.clone()), v.size));
        st.masters.insert(p.to_path_buf(), m.clone());
        Ok(m)
    }

    fn resolve_in(&self, p: &Path, role: &str, shadow: &Path) -> Result<PathBuf> {
        self.inner.roots.resolve(p).map_err(|e| match e {
            Error::AccessDenied { path, reason } => Error::AccessDenied {
                path,
                reason: format!("{role} volume of set {}: {reason}", shadow.display()),
            },
            Error::NotFound { name, .. } => Error::NotFound {
                kind: "volume",
                name,
                hint: format!(
                    "the {role} volume of set {} does not exist; create it first",
                    shadow.display()
                ),
            },
            other => other,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn new_core(
        &self,
        master: Arc<Master>,
        shadow_path: PathBuf,
        shadow: Arc<Volume>,
        bitmap_path: PathBuf,
        bitmap: BitmapVol,
        kind: SetKind,
        imported: bool,
        fl: u32,
        compact: Option<Compact>,
        meta: Meta,
        volatile: bool,
    ) -> Arc<SetCore> {
        let chunks = master.chunks();
        Arc::new(SetCore {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            shadow_path,
            bitmap_path,
            kind,
            imported,
            master,
            shadow,
            bitmap,
            chunks,
            flags: AtomicU32::new(fl),
            shadow_bits: Bits::new(chunks),
            copy_bits: Bits::new(chunks),
            compact: compact.map(Mutex::new),
            meta: Mutex::new(meta),
            job: Mutex::new(JobCtl::default()),
            job_changed: Condvar::new(),
            disabled: AtomicBool::new(false),
            events: self.inner.bus.clone(),
            volatile,
            volatile_saved: AtomicBool::new(false),
        })
    }

    fn check_not_locked(&self, st: &St, set: &SetCore, what: &str) -> Result<()> {
        if let Some(g) = set.meta.lock().unwrap().group.as_ref() {
            if st.groups.get(g).is_some_and(|g| g.locked) {
                return Err(Error::wrong_state(
                    &set.shadow_path,
                    "locked",
                    format!(
                        "{what} refused: the set's group {g} is locked (group lock); unlock group {g} first"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn record_of(s: &SetCore) -> SetRecord {
    let m = s.meta.lock().unwrap();
    SetRecord {
        master: (!s.imported).then(|| s.master.path.clone()),
        shadow: s.shadow_path.clone(),
        bitmap: s.bitmap_path.clone(),
        kind: s.kind,
        imported: s.imported,
        name: m.name.clone(),
        group: m.group.clone(),
        overflow: m.overflow.clone(),
        suspended: m.suspended,
        volatile_bitmap: s.volatile,
    }
}
