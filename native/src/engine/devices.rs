//! The data-path side of the engine: volume listing, block devices for
//! masters and shadows, the NBD export source with its per-volume client
//! counts, event subscription and shutdown.

use super::{shutdown_inner, Engine, St};
use crate::blockdev::{BlockDevice, ExportSource};
use crate::device::{ClientDevice, MasterDevice, ShadowDevice};
use crate::error::{Error, Result};
use crate::mirror::device::MirrorDevice;
use crate::types::*;
use crate::volume::probe_size;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

impl Engine {
    /// Every regular file and block device under the roots (three levels
    /// deep), with its role.
    pub fn volumes(&self) -> Vec<VolumeInfo> {
        let st = self.st();
        let state_dir = std::fs::canonicalize(&self.inner.cfg.state_dir).ok();
        let mut out: BTreeMap<PathBuf, VolumeInfo> = BTreeMap::new();
        fn walk(dir: &Path, depth: u32, skip: Option<&Path>, out: &mut Vec<PathBuf>) {
            if depth > 3 || Some(dir) == skip {
                return;
            }
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&p, depth + 1, skip, out),
                    Ok(_) => out.push(p),
                    Err(_) => {}
                }
            }
        }
        let mut found = Vec::new();
        for r in self.inner.roots.list() {
            walk(r, 0, state_dir.as_deref(), &mut found);
        }
        for p in found {
            let Ok(c) = self.inner.roots.resolve(&p) else {
                continue;
            };
            if state_dir.as_ref().is_some_and(|s| c.starts_with(s)) {
                continue;
            }
            let Some((size, block)) = probe_size(&c) else {
                continue;
            };
            let used_by = match (Self::target_role(&st, &c), Self::role_of(&st, &c)) {
                // A claimed master shows both roles.
                (Some(t), Some(r)) if t != r => format!("{t}; {r}"),
                (_, r) => r.unwrap_or_default(),
            };
            out.insert(
                c.clone(),
                VolumeInfo {
                    path: c,
                    capacity: size,
                    used_by,
                    block_device: block,
                },
            );
        }
        out.into_values().collect()
    }

    /// Canonicalises `path` and checks it lies under a root.
    pub fn resolve_volume(&self, path: &Path) -> Result<PathBuf> {
        self.inner.roots.resolve(path)
    }

    /// Data-path handle: master or shadow of a set, or a plain volume (which
    /// becomes copy-on-write protected as soon as it is a master).
    ///
    /// Handles from here are the caller's own and are not counted as NBD
    /// clients; only [`ExportSource::open_export`] counts (see
    /// [`Engine::clients_of`]).
    pub fn device(&self, path: &Path) -> Result<Arc<dyn BlockDevice>> {
        let mut st = self.st();
        self.device_in(&mut st, path).map(|(_, d)| d)
    }

    /// The device for `path` and the canonical path it is counted under.
    /// A mirror's primary gets the mirrored device, wrapped around the
    /// master or shadow device, so copy-on-write still happens beneath it;
    /// a mirror's local secondary is written by its mirror only.
    pub(super) fn device_in(
        &self,
        st: &mut St,
        path: &Path,
    ) -> Result<(PathBuf, Arc<dyn BlockDevice>)> {
        let p = if st.sets.contains_key(path) || st.mirrors.contains_key(path) {
            path.to_path_buf()
        } else {
            self.inner.roots.resolve(path)?
        };
        if let Some(m) = st.mirrors.get(&p) {
            return Ok((p, Arc::new(MirrorDevice(m.clone()))));
        }
        if let Some(role) = Self::mirror_role_of(st, &p) {
            if role.starts_with("secondary of mirror") {
                return Err(Error::PermissionDenied {
                    path: p,
                    reason: format!("the volume is the {role}; only the mirror writes it"),
                });
            }
        }
        self.device_plain(st, &p)
    }

    /// The device of a set volume or plain volume, without any mirror.
    pub(super) fn device_plain(
        &self,
        st: &mut St,
        path: &Path,
    ) -> Result<(PathBuf, Arc<dyn BlockDevice>)> {
        let p = match st.sets.get(path) {
            Some(_) => path.to_path_buf(),
            None => self.inner.roots.resolve(path)?,
        };
        if let Some(s) = st.sets.get(&p) {
            return Ok((s.shadow_path.clone(), Arc::new(ShadowDevice(s.clone()))));
        }
        if let Some(role) = Self::role_of(st, &p) {
            if !role.starts_with("master of")
                && !role.starts_with("primary of mirror")
                && !role.starts_with("mirror target of")
            {
                return Err(Error::PermissionDenied {
                    path: p,
                    reason: format!("the volume is the {role}; I/O to bitmap and overflow volumes through the engine is refused"),
                });
            }
        }
        let m = Self::master_for(st, &p)?;
        Ok((m.path.clone(), Arc::new(MasterDevice(m))))
    }

    /// Open NBD client connections to a volume (master or shadow, by path as
    /// given or canonical); 0 for a volume nobody has open or does not exist.
    /// Enable, copy/update, disable of a dependent set and export refuse a
    /// volume with clients ([`Error::ClientsConnected`], imaging.md §8).
    pub fn clients_of(&self, path: &Path) -> usize {
        let n = self.clients_at(path);
        if n > 0 {
            return n;
        }
        match self.inner.roots.resolve(path) {
            Ok(c) if c != path => self.clients_at(&c),
            _ => 0,
        }
    }

    pub(super) fn clients_at(&self, p: &Path) -> usize {
        let map = self.inner.clients.lock().unwrap_or_else(|e| e.into_inner());
        map.get(p).map_or(0, |c| c.load(Ordering::Acquire))
    }

    pub(super) fn client_counter(&self, p: &Path) -> Arc<AtomicUsize> {
        let mut map = self.inner.clients.lock().unwrap_or_else(|e| e.into_inner());
        // Forget volumes nobody holds any more, so the map stays small.
        map.retain(|_, c| c.load(Ordering::Acquire) > 0 || Arc::strong_count(c) > 1);
        map.entry(p.to_path_buf()).or_default().clone()
    }

    /// Refuses `what` on set `set` while NBD clients hold `volume`. Called
    /// with the control lock held; clients are counted under that lock too
    /// (see `open_export`), so none can sneak in before the operation.
    pub(super) fn refuse_clients(&self, set: &Path, volume: &Path, what: &str) -> Result<()> {
        let clients = self.clients_at(volume);
        if clients > 0 {
            return Err(Error::ClientsConnected {
                set: set.to_path_buf(),
                volume: volume.to_path_buf(),
                clients,
                what: what.into(),
            });
        }
        Ok(())
    }

    /// A new receiver of every later event.
    pub fn subscribe(&self) -> Receiver<EngineEvent> {
        self.inner.bus.subscribe()
    }

    /// Orderly suspend of everything: stop copies (their flags stay, so they
    /// resume at the next open), flush, mark bitmaps clean.
    pub fn shutdown(&self) {
        shutdown_inner(&self.inner.st);
    }
}

impl ExportSource for Engine {
    fn export_names(&self) -> Vec<String> {
        let st = self.st();
        let mut v: Vec<String> = Vec::new();
        // A parked set's master stays reachable (its writes are tracked).
        for s in st.sets.values().chain(st.parked.values()) {
            v.push(s.shadow_path.to_string_lossy().into_owned());
            if !s.imported {
                v.push(s.master.path.to_string_lossy().into_owned());
            }
        }
        v.extend(st.mirrors.keys().map(|p| p.to_string_lossy().into_owned()));
        // Claimed mirror targets, by their plain path (never the token form).
        v.extend(st.targets.keys().map(|p| p.to_string_lossy().into_owned()));
        v.sort();
        v.dedup();
        v
    }

    /// The device of one set volume, counted as one client connection of
    /// that volume until the server drops it (at the end of the connection).
    ///
    /// A claimed mirror target is opened fenced (`targets.rs`): with
    /// `?mirror=<token>` for its owner, read-only in effect for anyone else.
    fn open_export(&self, name: &str) -> Option<Arc<dyn BlockDevice>> {
        let mut st = self.st();
        if let Some(opened) = self.open_target_export(&mut st, name) {
            return opened;
        }
        let listed = st.sets.values().chain(st.parked.values()).any(|s| {
            s.shadow_path.as_os_str() == name || (!s.imported && s.master.path.as_os_str() == name)
        }) || st.mirrors.contains_key(Path::new(name));
        if !listed {
            return None;
        }
        let (p, dev) = self.device_in(&mut st, Path::new(name)).ok()?;
        let count = self.client_counter(&p);
        Some(Arc::new(ClientDevice::new(dev, count)))
    }
}
