//! The engine façade: [`Engine`] owns volumes, sets, groups, overflow volumes,
//! copy jobs and the persistent configuration, and hands out data-path devices.
//!
//! All methods take `&self`; `Engine` is a cheap `Clone` (an `Arc`) and is
//! `Send + Sync`. Sets are named by their shadow path, as given or canonical.
//! Management operations are serialised by one control mutex; the data path
//! never takes it (it locks per master and per chunk, see `set.rs`).
//! Dropping the last `Engine` clone performs [`Engine::shutdown`] and then
//! releases the state directory's lock (one engine per state directory).
//!
//! Devices handed to NBD clients ([`ExportSource::open_export`]) are counted
//! per volume; operations that would change a volume under its clients are
//! refused with [`Error::ClientsConnected`] (imaging.md §8 mount checks):
//! enable of a shadow, copy/update towards the held volume (the shadow for
//! master→shadow, the master for shadow→master), disable of a dependent set
//! whose shadow is held, and export of a held shadow.

use crate::bitmap::{self, BitmapVol, Bits, Geometry, Header, Region};
use crate::blockdev::{BlockDevice, ExportSource};
use crate::copy;
use crate::device::{ClientDevice, MasterDevice, ShadowDevice};
use crate::error::{Error, Result};
use crate::events::Bus;
use crate::overflow::Overflow;
use crate::set::{Compact, JobCtl, Master, Meta, SetCore, Stop};
use crate::state::{self, Config, GroupRecord, SetRecord};
use crate::types::*;
use crate::volume::{probe_size, Roots, Volume};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
    /// the devices [`ExportSource::open_export`] hands out. Kept apart from
    /// `st` so a device can be dropped on any thread without the control lock.
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
        let _ = s.bmp.write_header(|h| {
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
    /// Opens the engine: loads the configuration from `state_dir`, resumes
    /// every set (restarting interrupted copies from their copy bitmaps).
    ///
    /// The engine takes an exclusive advisory lock on `<state_dir>/lock` first
    /// and holds it until the last clone is dropped: a second engine on the
    /// same state directory (another `cimomd --state-dir` on it) fails at once
    /// with [`Error::StateDirLocked`] instead of resuming the same sets twice.
    pub fn open(cfg: EngineConfig) -> Result<Engine> {
        std::fs::create_dir_all(&cfg.state_dir).map_err(|e| Error::io(&cfg.state_dir, e))?;
        let lock = state::lock(&cfg.state_dir)?;
        let roots = Roots::new(&cfg.volume_roots)?;
        let conf = state::load(&cfg.state_dir)?;
        let inner = Arc::new(Inner {
            cfg,
            roots,
            bus: Arc::new(Bus::default()),
            st: Mutex::new(St::default()),
            next_id: AtomicU64::new(1),
            clients: Mutex::new(HashMap::new()),
            _lock: lock,
        });
        let eng = Engine { inner };
        {
            let mut st = eng.st();
            for p in &conf.overflows {
                match Volume::open(p).and_then(|v| Overflow::open(Arc::new(v))) {
                    Ok(o) => {
                        st.overflows.insert(p.clone(), Arc::new(o));
                    }
                    Err(e) => {
                        tracing::warn!(overflow = %p.display(), error = %e, "overflow volume unavailable");
                        st.overflow_missing.push(p.clone());
                    }
                }
            }
            for g in &conf.groups {
                st.groups.insert(g.name.clone(), g.clone());
            }
            let mut opened = Vec::with_capacity(conf.sets.len());
            for rec in &conf.sets {
                if let Err(e) = eng.restore_set(&mut st, rec, &mut opened) {
                    tracing::warn!(set = %rec.shadow.display(), error = %e, "set restored offline");
                    st.offline
                        .insert(rec.shadow.clone(), (rec.clone(), e.to_string()));
                }
            }
            mark_opened(opened);
            // Boot resumes every set: an exported set that is not suspended
            // joins a local import of its shadow now (imaging.md §3.5, §5).
            let due: Vec<PathBuf> = st
                .parked
                .iter()
                .filter(|(_, s)| !s.meta.lock().unwrap().suspended)
                .map(|(k, _)| k.clone())
                .collect();
            for k in due {
                if let Err(e) = eng.implicit_join(&mut st, &k) {
                    tracing::warn!(set = %k.display(), error = %e, "implicit join at start failed; the set stays suspended");
                }
            }
            // Interrupted copies restart only once every sibling of their
            // master is back, so copy-on-write covers all of them.
            for set in st.sets.values() {
                let fl = set.f();
                if fl & flags::COPYINGP != 0
                    && fl & flags::OFFLINE == 0
                    && !set.meta.lock().unwrap().suspended
                {
                    let dir = if fl & flags::COPYINGS != 0 {
                        Direction::ToMaster
                    } else {
                        Direction::ToShadow
                    };
                    copy::start(set, dir);
                }
            }
        }
        Ok(eng)
    }

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
        let cfg = Config {
            version: state::CONFIG_VERSION,
            sets,
            groups: st.groups.values().cloned().collect(),
            overflows,
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
        None
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
        bmp: BitmapVol,
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
            bmp,
            chunks,
            flags: AtomicU32::new(fl),
            shd: Bits::new(chunks),
            cpy: Bits::new(chunks),
            compact: compact.map(Mutex::new),
            meta: Mutex::new(meta),
            ctl: Mutex::new(JobCtl::default()),
            cv: Condvar::new(),
            removed: AtomicBool::new(false),
            bus: self.inner.bus.clone(),
            volatile,
            saved: AtomicBool::new(false),
        })
    }

    /// Brings back one configured set. Its header's new lifecycle and flags
    /// are pushed on `opened` and written by [`mark_opened`], for all sets at
    /// once, before the engine is used.
    fn restore_set(
        &self,
        st: &mut St,
        rec: &SetRecord,
        opened: &mut Vec<(Arc<SetCore>, u32, u32)>,
    ) -> Result<()> {
        let shadow_path = self.inner.roots.resolve(&rec.shadow)?;
        let bitmap_path = self.inner.roots.resolve(&rec.bitmap)?;
        let shadow = Arc::new(Volume::open(&shadow_path)?);
        let master = match &rec.master {
            Some(mp) => {
                let mp = self.inner.roots.resolve(mp)?;
                Self::master_for(st, &mp)?
            }
            None => Arc::new(Master::new(shadow_path.clone(), None, shadow.size)),
        };
        let bvol = Arc::new(Volume::open(&bitmap_path)?);
        let bad = |why: String| {
            Error::wrong_state(
                &shadow_path,
                "offline",
                format!(
                    "bitmap volume {}: {why}; disable and re-enable the set",
                    bitmap_path.display()
                ),
            )
        };
        let h = bitmap::read_header(&bvol)?.ok_or_else(|| bad("no valid header".into()))?;
        if h.lifecycle == bitmap::LIFE_INVALID {
            return Err(bad("header marked invalid (set was disabled)".into()));
        }
        let master_name = rec
            .master
            .as_ref()
            .map(|_| master.path.to_string_lossy().into_owned())
            .unwrap_or_default();
        if h.shadow != shadow_path.to_string_lossy()
            || h.bitmap != bitmap_path.to_string_lossy()
            || h.master != master_name
        {
            return Err(bad(
                "names in the header do not match the configuration".into()
            ));
        }
        let compact = h.flags & flags::TREEMAP != 0;
        let geo = Geometry::new(master.chunks(), compact);
        if h.chunks != master.chunks()
            || h.bmp_pages as u64 != geo.bmp_pages
            || h.index_pages as u64 != geo.index_pages
        {
            return Err(bad("geometry does not match the master size".into()));
        }
        let bv = BitmapVol::new(bvol, geo, h.clone());
        let cm = if compact {
            let mut c = Compact::new(master.chunks(), shadow.size / CHUNK_SIZE);
            let bad_idx = bv.load_index(&mut c.map)?;
            if !bad_idx.is_empty() {
                return Err(bad(format!(
                    "compact index pages {bad_idx:?} fail their checksum"
                )));
            }
            if let Some(o) = &rec.overflow {
                c.overflow = st.overflows.get(o).cloned();
            }
            c.rebuild();
            Some(c)
        } else {
            None
        };
        let mut fl = h.flags & !(flags::COPYINGX);
        if rec.overflow.is_some() && cm.as_ref().is_some_and(|c| c.overflow.is_none()) {
            fl |= flags::OVROFFLINE;
        }
        let meta = Meta {
            name: rec.name.clone(),
            group: rec.group.clone(),
            overflow: rec.overflow.clone(),
            units: if (MIN_COPY_UNITS..=MAX_COPY_UNITS).contains(&h.units) {
                h.units
            } else {
                DEFAULT_COPY_UNITS
            },
            delay: if (MIN_COPY_DELAY..=MAX_COPY_DELAY).contains(&h.delay) {
                h.delay
            } else {
                DEFAULT_COPY_DELAY
            },
            mtime: h.mtime,
            suspended: rec.suspended,
            job_total: 0,
            job_mode: CopyMode::Full,
            milestone: 0,
        };
        let set = self.new_core(
            master.clone(),
            shadow_path.clone(),
            shadow,
            bitmap_path,
            bv,
            rec.kind,
            rec.imported,
            fl,
            cm,
            meta,
            rec.volatile_bitmap,
        );
        let rep = set
            .bmp
            .load(&set.shd, &set.cpy, rec.kind == SetKind::Independent)?;
        if set.volatile && h.lifecycle != bitmap::LIFE_CLEAN {
            let outcome = distrust_volatile(&set, &mut fl);
            tracing::warn!(set = %shadow_path.display(), outcome, "volatile bitmaps were not saved before the engine stopped");
            self.publish(EngineEvent::SetError {
                shadow: shadow_path.clone(),
                reason: format!(
                    "set {}: the engine stopped without saving its volatile bitmaps; {outcome}",
                    shadow_path.display()
                ),
            });
        }
        if !rep.bad_shadow_pages.is_empty() || !rep.bad_copy_pages.is_empty() {
            tracing::warn!(set = %shadow_path.display(), ?rep, "bitmap pages failed their checksum; set needs reset");
            fl |= flags::BMPOFFLINE;
        } else if rep.patched || set.volatile {
            // Recovered (or, for a volatile set, distrusted) pages were
            // patched in memory; write them back. Pages that loaded intact
            // are already what would be written.
            set.bmp.write_all_bits(Region::Shadow, &set.shd)?;
            set.bmp.write_all_bits(Region::Copy, &set.cpy)?;
        }
        set.flags.store(fl, Ordering::Release);
        if let Some(o) = set
            .compact
            .as_ref()
            .and_then(|c| c.lock().unwrap().overflow.clone())
        {
            o.state.lock().unwrap().sets.insert(shadow_path.clone());
        }
        {
            let mut m = set.meta.lock().unwrap();
            m.job_total = set.cpy.count();
        }
        // A volatile set's bitmaps were just written back whole: it starts
        // saved, CLEAN until its first bit changes.
        let saved = set.volatile && fl & flags::BMPOFFLINE == 0;
        let lifecycle = if rec.suspended || saved {
            bitmap::LIFE_CLEAN
        } else {
            bitmap::LIFE_DIRTY
        };
        set.saved.store(saved, Ordering::Release);
        // An exported set and a local import of its shadow share the key:
        // the import is the active one, the exported set waits in `parked`.
        let park = match st.sets.get(&shadow_path) {
            None => false,
            Some(other) if other.imported && !set.imported => true,
            Some(other) if set.imported && !other.imported => {
                let other = other.clone();
                st.sets.remove(&shadow_path);
                st.parked.insert(shadow_path.clone(), other);
                false
            }
            Some(_) => {
                return Err(Error::AlreadyExists {
                    kind: "set",
                    name: shadow_path.display().to_string(),
                    cause: "the configuration lists this shadow twice; disable one of them".into(),
                })
            }
        };
        master.sets.write().unwrap().push(set.clone());
        if park {
            st.parked.insert(shadow_path, set.clone());
        } else {
            st.sets.insert(shadow_path, set.clone());
        }
        opened.push((set, lifecycle, fl));
        Ok(())
    }

    /// Enables a set (`iiadm -e`). Copy parameters given in the spec are in
    /// the header and in force before an independent set's initial copy
    /// starts, so its first burst already honours them.
    pub fn enable_set(&self, spec: SetSpec) -> Result<SetInfo> {
        let mut st = self.st();
        let sh = &spec.shadow;
        let shadow_p = self.resolve_in(&spec.shadow, "shadow", sh)?;
        let master_p = self.resolve_in(&spec.master, "master", sh)?;
        let bitmap_p = self.resolve_in(&spec.bitmap, "bitmap", sh)?;
        if shadow_p == master_p || shadow_p == bitmap_p || master_p == bitmap_p {
            return Err(Error::invalid(
                set_subject(sh),
                format!(
                    "master {}, shadow {} and bitmap {} must be three different volumes",
                    master_p.display(),
                    shadow_p.display(),
                    bitmap_p.display()
                ),
            ));
        }
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| shadow_p.to_string_lossy().into_owned());
        validate_set_name(&name, sh)?;
        // Checked before anything is touched: out of range creates nothing.
        let delay = spec.copy_delay.unwrap_or(DEFAULT_COPY_DELAY);
        let units = spec.copy_units.unwrap_or(DEFAULT_COPY_UNITS);
        check_copy_params(sh, delay, units)?;
        if let Some(g) = &spec.group {
            let gr = st.groups.get(g).ok_or_else(|| group_not_found(g))?;
            check_group_accepts(gr, spec.kind, &shadow_p)?;
        }
        if let Some(role) = Self::role_of(&st, &shadow_p) {
            return Err(if role.starts_with("shadow of") {
                Error::AlreadyExists {
                    kind: "set",
                    name: shadow_p.display().to_string(),
                    cause: "the shadow volume is already configured; use another shadow or disable that set".into(),
                }
            } else {
                Error::in_use(
                    &shadow_p,
                    role,
                    format!(
                        "cannot be the shadow of set {}; choose another volume",
                        sh.display()
                    ),
                )
            });
        }
        if let Some(role) = Self::role_of(&st, &bitmap_p) {
            return Err(Error::in_use(
                &bitmap_p,
                role,
                format!(
                    "cannot be the bitmap of set {}; choose another volume",
                    sh.display()
                ),
            ));
        }
        if let Some(role) = Self::role_of(&st, &master_p) {
            if !role.starts_with("master of") {
                return Err(Error::in_use(
                    &master_p,
                    role,
                    format!(
                        "cannot be the master of set {}; choose another volume",
                        sh.display()
                    ),
                ));
            }
        }
        Self::check_no_plain_handle(&mut st, &shadow_p, sh)?;
        Self::check_no_plain_handle(&mut st, &bitmap_p, sh)?;
        // A client left on the volume from an earlier set would see it
        // change under it.
        self.refuse_clients(sh, &shadow_p, "enable")?;
        let overflow = match &spec.overflow {
            Some(o) => {
                let op = self.resolve_in(o, "overflow", sh)?;
                Some(
                    st.overflows
                        .get(&op)
                        .cloned()
                        .ok_or_else(|| overflow_not_found(&op))?,
                )
            }
            None => None,
        };
        let master = Self::master_for(&mut st, &master_p)?;
        if let Some(s) = master
            .sets
            .read()
            .unwrap()
            .iter()
            .find(|s| s.f() & flags::COPYINGS != 0)
        {
            return Err(Error::busy(
                sh,
                format!("set {} is copying to master {}; wait for that copy (or finish it) before enabling another set on it", s.shadow_path.display(), master_p.display()),
            ));
        }
        if master
            .sets
            .read()
            .unwrap()
            .iter()
            .any(|s| s.f() & flags::MSTOFFLINE != 0)
        {
            return Err(Error::wrong_state(
                sh,
                "offline",
                format!(
                    "master {} is offline in another set; reset that set first",
                    master_p.display()
                ),
            ));
        }
        let shadow = Arc::new(Volume::open(&shadow_p)?);
        let bvol = Arc::new(Volume::open(&bitmap_p)?);
        for (v, role) in [
            (&master.vol.as_ref().unwrap().clone(), "master"),
            (&shadow, "shadow"),
            (&bvol, "bitmap"),
        ] {
            if v.size == 0 {
                return Err(Error::invalid(
                    set_subject(sh),
                    format!(
                        "{role} volume {} has size 0; use a non-empty volume",
                        v.path.display()
                    ),
                ));
            }
        }
        let compact = spec.kind == SetKind::Dependent && shadow.size < master.size;
        if spec.kind == SetKind::Independent && shadow.size < master.size {
            return Err(Error::invalid(
                set_subject(sh),
                format!(
                    "shadow too small: shadow {} has {} bytes, master {} has {}; an independent shadow must be at least as large as the master",
                    shadow_p.display(),
                    shadow.size,
                    master_p.display(),
                    master.size
                ),
            ));
        }
        if overflow.is_some() && !compact {
            return Err(Error::wrong_state(sh, "not compact", "only a compact dependent set (shadow smaller than master) can use an overflow volume; enable without overflow"));
        }
        let geo = Geometry::new(master.chunks(), compact);
        bitmap::check_size(&bvol, &geo, sh)?;
        let mut fl = 0;
        if spec.kind == SetKind::Independent {
            fl |= flags::GOLDEN | flags::COPYINGM | flags::COPYINGP;
        }
        if compact {
            fl |= flags::TREEMAP;
        }
        if shadow.size != master.size {
            fl |= flags::RESIZED;
        }
        let mtime = now();
        let header = Header {
            lifecycle: bitmap::LIFE_DIRTY,
            seq: 0,
            set_type: if spec.kind == SetKind::Independent {
                bitmap::TYPE_IND
            } else {
                bitmap::TYPE_DEP
            },
            flags: fl,
            size: master.size,
            chunks: geo.chunks,
            bmp_pages: geo.bmp_pages as u32,
            index_pages: geo.index_pages as u32,
            shadow_chunks: if compact { shadow.size / CHUNK_SIZE } else { 0 },
            units,
            delay,
            mtime,
            master: master_p.to_string_lossy().into_owned(),
            shadow: shadow_p.to_string_lossy().into_owned(),
            bitmap: bitmap_p.to_string_lossy().into_owned(),
            overflow: spec
                .overflow
                .as_ref()
                .map(|_| {
                    overflow
                        .as_ref()
                        .unwrap()
                        .vol
                        .path
                        .to_string_lossy()
                        .into_owned()
                })
                .unwrap_or_default(),
            group: spec.group.clone().unwrap_or_default(),
        };
        let bv = BitmapVol::new(bvol, geo, header);
        let cm = compact.then(|| {
            let mut c = Compact::new(geo.chunks, shadow.size / CHUNK_SIZE);
            c.overflow = overflow.clone();
            c
        });
        let meta = Meta {
            name,
            group: spec.group.clone(),
            overflow: overflow.as_ref().map(|o| o.vol.path.clone()),
            units,
            delay,
            mtime,
            suspended: false,
            job_total: 0,
            job_mode: CopyMode::Full,
            milestone: 0,
        };
        let set = self.new_core(
            master.clone(),
            shadow_p.clone(),
            shadow,
            bitmap_p,
            bv,
            spec.kind,
            false,
            fl,
            cm,
            meta,
            spec.volatile_bitmap,
        );
        if spec.kind == SetKind::Independent {
            set.cpy.fill();
            set.meta.lock().unwrap().job_total = set.chunks;
        }
        // Bitmaps and index first, then the header that makes them valid.
        set.bmp.write_all_bits(Region::Shadow, &set.shd)?;
        set.bmp.write_all_bits(Region::Copy, &set.cpy)?;
        if let Some(c) = &set.compact {
            set.bmp.write_all_index(&c.lock().unwrap().map)?;
        }
        // A volatile set starts saved: the volume holds its bitmaps exactly.
        set.bmp.write_header(|h| {
            if set.volatile {
                h.lifecycle = bitmap::LIFE_CLEAN;
            }
        })?;
        set.saved.store(set.volatile, Ordering::Release);
        {
            let _g = master.gate.write().unwrap();
            master.sets.write().unwrap().push(set.clone());
        }
        st.sets.insert(shadow_p.clone(), set.clone());
        if let Err(e) = self.save(&st) {
            st.sets.remove(&shadow_p);
            master
                .sets
                .write()
                .unwrap()
                .retain(|s| !Arc::ptr_eq(s, &set));
            let _ = set.bmp.write_header(|h| h.lifecycle = bitmap::LIFE_INVALID);
            return Err(e);
        }
        if let Some(o) = &overflow {
            // Only once the set exists for good: counts the attach and syncs
            // the statistics page (a failed enable attaches nothing).
            o.attach(shadow_p.clone());
        }
        if spec.kind == SetKind::Independent {
            copy::start(&set, Direction::ToShadow);
        }
        tracing::info!(set = %shadow_p.display(), kind = spec.kind.as_str(), compact, "set enabled");
        self.publish(EngineEvent::SetCreated {
            shadow: shadow_p.clone(),
        });
        if let Some(g) = &spec.group {
            self.publish(EngineEvent::GroupModified {
                name: g.clone(),
                old_name: None,
            });
        }
        if let Some(o) = &overflow {
            self.publish(EngineEvent::OverflowModified {
                path: o.vol.path.clone(),
            });
        }
        Ok(set.info())
    }

    /// Disables a set (`iiadm -d`); a dependent set is refused while NBD
    /// clients hold its shadow.
    pub fn disable_set(&self, shadow: &Path) -> Result<()> {
        let mut st = self.st();
        let set = match self.find(&st, shadow) {
            Ok(s) => s,
            Err(e) => {
                let key = st
                    .offline
                    .keys()
                    .find(|k| {
                        k.as_path() == shadow
                            || self.inner.roots.resolve(shadow).ok().as_deref() == Some(k.as_path())
                    })
                    .cloned();
                let Some(k) = key else { return Err(e) };
                st.offline.remove(&k);
                self.save(&st)?;
                self.publish(EngineEvent::SetDeleted { shadow: k });
                return Ok(());
            }
        };
        self.check_not_locked(&st, &set, "disable")?;
        let f = set.f();
        if set.kind == SetKind::Independent
            && f & flags::COPYINGP != 0
            && set.ctl.lock().unwrap().running
        {
            return Err(Error::busy(
                &set.shadow_path,
                "an independent set cannot be disabled while its copy runs; wait for the copy (or abort it) first",
            ));
        }
        if f & flags::COPYINGS != 0 && f & flags::OFFLINE == 0 {
            return Err(Error::busy(
                &set.shadow_path,
                "the master still depends on the shadow for chunks of an unfinished copy to the master; rerun that update and wait for it first",
            ));
        }
        if set.kind == SetKind::Dependent {
            // Its clients read through to the master; disable pulls that away
            // and invalidates the shadow.
            self.refuse_clients(&set.shadow_path, &set.shadow_path, "disable")?;
        }
        copy::stop(&set, Stop::Abort);
        let master = set.master.clone();
        {
            let _g = master.gate.write().unwrap();
            master
                .sets
                .write()
                .unwrap()
                .retain(|s| !Arc::ptr_eq(s, &set));
            set.removed.store(true, Ordering::Release);
        }
        if !set.imported
            && (set.kind == SetKind::Dependent || f & (flags::COPYINGM | flags::COPYINGS) != 0)
        {
            // A partial image must not be mistaken for a file system (imaging.md §2.3).
            let end = set.shadow.size.min(65536);
            if end > 8192 {
                let _ = set.shadow.write_at(&vec![0u8; (end - 8192) as usize], 8192);
                let _ = set.shadow.sync();
            }
        }
        let ov = set.compact.as_ref().and_then(|c| {
            let mut c = c.lock().unwrap();
            c.reset();
            c.overflow.clone()
        });
        if let Some(o) = &ov {
            o.state.lock().unwrap().sets.remove(&set.shadow_path);
        }
        st.sets.remove(&set.shadow_path);
        if set.imported {
            // The exported set it took the shadow over from is back; join
            // explicitly with this import's (now invalid) bitmap, or resume.
            if let Some(p) = st.parked.remove(&set.shadow_path) {
                st.sets.insert(set.shadow_path.clone(), p);
            }
        }
        if master.sets.read().unwrap().is_empty() && Arc::strong_count(&master) <= 2 {
            st.masters.remove(&master.path);
        }
        self.save(&st)?;
        let _ = set.bmp.write_header(|h| h.lifecycle = bitmap::LIFE_INVALID);
        tracing::info!(set = %set.shadow_path.display(), "set disabled");
        let group = set.meta.lock().unwrap().group.clone();
        self.publish(EngineEvent::SetDeleted {
            shadow: set.shadow_path.clone(),
        });
        if let Some(g) = group {
            self.publish(EngineEvent::GroupModified {
                name: g,
                old_name: None,
            });
        }
        if let Some(o) = ov {
            self.publish(EngineEvent::OverflowModified {
                path: o.vol.path.clone(),
            });
        }
        Ok(())
    }

    /// Every set, sorted by shadow path (sets that could not be restored are
    /// listed with state offline).
    pub fn sets(&self) -> Vec<SetInfo> {
        let st = self.st();
        let mut v: Vec<SetInfo> = st
            .sets
            .values()
            .chain(st.parked.values())
            .map(|s| s.info())
            .collect();
        v.extend(st.offline.values().map(|(r, _)| offline_info(r)));
        v.sort_by(|a, b| a.shadow.cmp(&b.shadow));
        v
    }

    /// One set.
    pub fn set_info(&self, shadow: &Path) -> Result<SetInfo> {
        let st = self.st();
        match self.find(&st, shadow) {
            Ok(s) => Ok(s.info()),
            Err(e) => st
                .offline
                .get(shadow)
                .map(|(r, _)| offline_info(r))
                .ok_or(e),
        }
    }

    /// Chunks marked in either bitmap (may differ between master and shadow);
    /// every other chunk of an idle independent set is physically equal.
    pub fn unsynchronized_chunks(&self, shadow: &Path) -> Result<Vec<u64>> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        let sibs = set.siblings_to_master();
        Ok((0..set.chunks)
            .filter(|&c| set.unsynchronized(c, &sibs))
            .collect())
    }

    /// Changes a set's display name.
    pub fn rename_set(&self, shadow: &Path, name: &str) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        validate_set_name(name, shadow)?;
        set.meta.lock().unwrap().name = name.to_string();
        self.save(&st)?;
        self.publish(EngineEvent::SetModified {
            shadow: set.shadow_path.clone(),
            change: SetChange::Properties,
        });
        Ok(())
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

    /// Precondition checks of a copy/update (imaging.md §2.3 engine checks).
    fn check_copy(st: &St, set: &SetCore, dir: Direction) -> Result<()> {
        let f = set.f();
        let p = &set.shadow_path;
        let what = match dir {
            Direction::ToShadow => "copy/update to the shadow",
            Direction::ToMaster => "copy/update to the master",
        };
        if set.meta.lock().unwrap().suspended {
            return Err(Error::wrong_state(
                p,
                "suspended",
                format!("{what} refused; resume the set first"),
            ));
        }
        if f & flags::COPYINGP != 0 {
            return Err(Error::busy(
                p,
                format!("{what} refused: a copy is in progress; wait for it or abort it"),
            ));
        }
        if f & flags::OFFLINE != 0 {
            return Err(Error::wrong_state(
                p,
                "offline",
                format!("{what} refused: a volume is offline; reset the set"),
            ));
        }
        if f & flags::SHDEXPORT != 0 {
            return Err(Error::wrong_state(
                p,
                "exported",
                format!("{what} refused: the shadow is exported; join it first"),
            ));
        }
        if set.imported {
            return Err(Error::wrong_state(p, "imported", format!("{what} refused: an imported shadow has no master; disable it and join on the original host")));
        }
        match dir {
            Direction::ToMaster => {
                if f & flags::COPYINGM != 0 {
                    return Err(Error::busy(p, "copy/update to the master refused: an aborted copy towards the shadow is pending; update the shadow first"));
                }
                for s in set.master.sets.read().unwrap().iter() {
                    if s.id != set.id && s.f() & flags::COPYINGS != 0 {
                        return Err(Error::busy(
                            p,
                            format!("copy/update to the master refused: set {} is copying to the same master; wait for it", s.shadow_path.display()),
                        ));
                    }
                }
                if f & flags::OVERFLOW != 0 {
                    return Err(Error::wrong_state(p, "out of space", "copy/update to the master refused: the compact shadow ran out of space and is incomplete; update the shadow or reset the set"));
                }
            }
            Direction::ToShadow => {
                if f & flags::COPYINGS != 0 {
                    return Err(Error::busy(p, "copy/update to the shadow refused: an aborted copy towards the master is pending; update the master first"));
                }
                // The new point in time would have to be the master as another
                // set is rewriting it; let that copy finish first.
                if let Some(s) = sibling_copying_to_master(set) {
                    return Err(Error::busy(
                        p,
                        format!("copy/update to the shadow refused: set {} is copying to the shared master; wait for it (or finish it) first", s.display()),
                    ));
                }
            }
        }
        let _ = st;
        Ok(())
    }

    /// Switches the bitmaps of one set (gate held exclusively); returns whether
    /// a background copy must start (imaging.md §4.3).
    fn switch(set: &SetCore, dir: Direction, mode: CopyMode) -> Result<bool> {
        let f = set.f();
        let mtime = now();
        let compact = set.compact.is_some();
        let before = set.state();
        let job = if dir == Direction::ToShadow
            && (compact || (set.kind == SetKind::Dependent && mode == CopyMode::Update))
        {
            // New point in time of a dependent shadow: nothing to copy.
            set.shd.zero();
            set.cpy.zero();
            set.bmp.write_all_bits(Region::Shadow, &set.shd)?;
            set.bmp.write_all_bits(Region::Copy, &set.cpy)?;
            if let Some(c) = &set.compact {
                let mut c = c.lock().unwrap();
                c.reset();
                set.bmp.write_all_index(&c.map)?;
            }
            set.flags.fetch_and(
                !(flags::COPYING | flags::OVERFLOW | flags::VOVERFLOW),
                Ordering::AcqRel,
            );
            false
        } else {
            let full = mode == CopyMode::Full
                && !(dir == Direction::ToMaster && set.kind == SetKind::Dependent);
            let dflag = if dir == Direction::ToShadow {
                flags::COPYINGM
            } else {
                flags::COPYINGS
            };
            // Header first: a crash then resumes a copy of the old copy bits,
            // with the shadow bits still set, which over-approximates.
            set.flags
                .fetch_or(dflag | flags::COPYINGP, Ordering::AcqRel);
            let nf = set.f();
            set.bmp.write_header(|h| {
                h.flags = nf;
                h.mtime = mtime;
            })?;
            if full {
                set.cpy.fill();
            } else {
                set.cpy.or_from(&set.shd);
            }
            set.bmp.write_all_bits(Region::Copy, &set.cpy)?;
            set.shd.zero();
            set.bmp.write_all_bits(Region::Shadow, &set.shd)?;
            true
        };
        let _ = f;
        {
            let mut m = set.meta.lock().unwrap();
            m.mtime = mtime;
            m.job_total = set.cpy.count();
            m.job_mode = mode;
            m.milestone = 0;
        }
        let nf = set.f();
        set.bmp.write_header(|h| {
            h.flags = nf;
            h.mtime = mtime;
        })?;
        set.note_state(before);
        Ok(job)
    }

    /// Validates, quiesces every member's master, switches every bitmap,
    /// releases, then starts the copies (imaging.md §6).
    fn start_copies(
        &self,
        st: &St,
        sets: &[Arc<SetCore>],
        dir: Direction,
        mode: CopyMode,
        group: Option<&str>,
    ) -> Result<()> {
        for s in sets {
            Self::check_copy(st, s, dir)?;
            let (target, what) = match dir {
                Direction::ToShadow => (&s.shadow_path, "copy/update to the shadow"),
                Direction::ToMaster => (&s.master.path, "copy/update to the master"),
            };
            self.refuse_clients(&s.shadow_path, target, what)?;
            if group.is_none() {
                self.check_not_locked(st, s, "copy/update of one member")?;
            }
        }
        if dir == Direction::ToMaster {
            for (i, a) in sets.iter().enumerate() {
                if let Some(b) = sets[i + 1..]
                    .iter()
                    .find(|b| Arc::ptr_eq(&a.master, &b.master))
                {
                    return Err(Error::invalid(
                        format!("group {}", group.unwrap_or("")),
                        format!(
                            "sets {} and {} share master {}; copy them to the master one at a time",
                            a.shadow_path.display(),
                            b.shadow_path.display(),
                            a.master.path.display()
                        ),
                    ));
                }
            }
        }
        let mut masters: Vec<Arc<Master>> = Vec::new();
        for s in sets {
            if !masters.iter().any(|m| Arc::ptr_eq(m, &s.master)) {
                masters.push(s.master.clone());
            }
        }
        masters.sort_by(|a, b| a.path.cmp(&b.path));
        let mut start = Vec::new();
        {
            let _gates: Vec<_> = masters.iter().map(|m| m.gate.write().unwrap()).collect();
            for s in sets {
                if Self::switch(s, dir, mode)? {
                    start.push(s.clone());
                }
            }
        }
        for s in &start {
            copy::start(s, dir);
        }
        for s in sets {
            tracing::info!(set = %s.shadow_path.display(), ?dir, ?mode, "point in time taken");
        }
        Ok(())
    }

    /// Starts a copy or update (returns once the bitmaps are switched);
    /// refused while NBD clients hold the target volume.
    pub fn copy(&self, shadow: &Path, dir: Direction, mode: CopyMode) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        self.start_copies(&st, &[set], dir, mode, None)
    }

    /// Stops a running copy; the remaining chunks stay marked (imaging.md §4.4).
    /// Aborting when nothing runs succeeds and changes nothing.
    pub fn abort(&self, shadow: &Path) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        self.check_not_locked(&st, &set, "abort of one member")?;
        Self::abort_set(&set);
        Ok(())
    }

    fn abort_set(set: &Arc<SetCore>) {
        if set.ctl.lock().unwrap().running {
            copy::stop(set, Stop::Abort);
        } else if set.f() & flags::COPYINGP != 0 {
            let before = set.state();
            set.set_flags(0, flags::COPYINGP | flags::COPYINGX);
            set.note_state(before);
        }
    }

    /// Pauses a copy (its progress is kept) and marks the bitmap clean; master
    /// writes go on and are tracked.
    pub fn suspend(&self, shadow: &Path) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        self.check_not_locked(&st, &set, "suspend of one member")?;
        self.suspend_set(&st, &set)
    }

    fn suspend_set(&self, st: &St, set: &Arc<SetCore>) -> Result<()> {
        if set.meta.lock().unwrap().suspended {
            return Ok(());
        }
        let before = set.state();
        copy::stop(set, Stop::Suspend);
        set.flush()?;
        set.save_volatile()?;
        set.meta.lock().unwrap().suspended = true;
        let f = set.f();
        set.bmp.write_header(|h| {
            h.lifecycle = bitmap::LIFE_CLEAN;
            h.flags = f;
        })?;
        self.save(st)?;
        set.note_state(before);
        Ok(())
    }

    /// Continues after [`Engine::suspend`].
    ///
    /// Resuming an exported set whose shadow was imported on this engine
    /// meanwhile (see [`Engine::import_shadow`]) joins the import implicitly
    /// (imaging.md §5): the import's shadow bitmap is ORed into the set's and
    /// made durable, the imported set is removed and the export flag cleared.
    pub fn resume(&self, shadow: &Path) -> Result<()> {
        let mut st = self.st();
        if let Some(k) = self.parked_key(&st, shadow) {
            return self.implicit_join(&mut st, &k);
        }
        let set = self.find(&st, shadow)?;
        self.check_not_locked(&st, &set, "resume of one member")?;
        self.resume_set(&st, &set)
    }

    fn parked_key(&self, st: &St, shadow: &Path) -> Option<PathBuf> {
        if st.parked.contains_key(shadow) {
            return Some(shadow.to_path_buf());
        }
        let c = self.inner.roots.resolve(shadow).ok()?;
        st.parked.contains_key(&c).then_some(c)
    }

    /// Joins the local import of shadow `key` into the parked exported set
    /// and makes that set active again. Order, for crash safety: the merged
    /// shadow bits are durable first, then the set's header (export flag
    /// cleared), then the configuration without the import, and only then is
    /// the import's bitmap marked invalid. A crash before the configuration
    /// is saved repeats the join at the next resume (OR is idempotent).
    fn implicit_join(&self, st: &mut St, key: &Path) -> Result<()> {
        let set = st
            .parked
            .get(key)
            .cloned()
            .ok_or_else(|| Error::set_not_found(key))?;
        let imp = st.sets.get(key).filter(|s| s.imported).cloned();
        let Some(imp) = imp else {
            // The import went away without unparking; just make it normal.
            st.parked.remove(key);
            st.sets.insert(key.to_path_buf(), set.clone());
            return self.resume_set(st, &set);
        };
        let before = set.state();
        // The import's writes must be durable before its bits count here.
        imp.flush()?;
        {
            let _g = set.master.gate.write().unwrap();
            let mut c = 0;
            while let Some(n) = imp.shd.next_set(c) {
                if n >= set.chunks {
                    break;
                }
                set.shd.set(n);
                c = n + 1;
            }
            set.bmp.write_all_bits(Region::Shadow, &set.shd)?;
            set.flags.fetch_and(!flags::SHDEXPORT, Ordering::AcqRel);
            let f = set.f();
            set.saved.store(false, Ordering::Release);
            set.bmp.write_header(|h| {
                h.lifecycle = bitmap::LIFE_DIRTY;
                h.flags = f;
            })?;
        }
        {
            let _g = imp.master.gate.write().unwrap();
            imp.master
                .sets
                .write()
                .unwrap()
                .retain(|s| !Arc::ptr_eq(s, &imp));
            imp.removed.store(true, Ordering::Release);
        }
        st.sets.insert(key.to_path_buf(), set.clone());
        st.parked.remove(key);
        set.meta.lock().unwrap().suspended = false;
        self.save(st)?;
        let _ = imp.bmp.write_header(|h| h.lifecycle = bitmap::LIFE_INVALID);
        tracing::info!(set = %key.display(), import_bitmap = %imp.bitmap_path.display(), bits = set.shd.count(), "local import joined at resume");
        self.publish(EngineEvent::SetDeleted {
            shadow: key.to_path_buf(),
        });
        set.note_state(before);
        Ok(())
    }

    fn resume_set(&self, st: &St, set: &Arc<SetCore>) -> Result<()> {
        if !set.meta.lock().unwrap().suspended {
            return Ok(());
        }
        let before = set.state();
        // A volatile set stays CLEAN until its first bit changes.
        if !set.volatile {
            set.bmp.write_header(|h| h.lifecycle = bitmap::LIFE_DIRTY)?;
        }
        set.meta.lock().unwrap().suspended = false;
        self.save(st)?;
        let f = set.f();
        if f & flags::COPYINGP != 0 && f & flags::OFFLINE == 0 {
            let dir = if f & flags::COPYINGS != 0 {
                Direction::ToMaster
            } else {
                Direction::ToShadow
            };
            copy::start(set, dir);
        }
        set.note_state(before);
        Ok(())
    }

    /// Resets a set after a volume failure or a compact shadow running out of
    /// space (imaging.md §3.4). A healthy set is left alone.
    pub fn reset(&self, shadow: &Path) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        self.check_not_locked(&st, &set, "reset of one member")?;
        let f = set.f();
        if f & (flags::OFFLINE | flags::OVERFLOW) == 0 {
            return Ok(());
        }
        let before = set.state();
        copy::stop(&set, Stop::Abort);
        let m = set.master.clone();
        let job = {
            let _g = m.gate.write().unwrap();
            set.shd.zero();
            let mut nf =
                f & !(flags::COPYING | flags::OFFLINE | flags::OVERFLOW | flags::VOVERFLOW);
            let mut job = None;
            if set.kind == SetKind::Dependent || set.imported || f & flags::SHDEXPORT != 0 {
                set.cpy.zero();
                if let Some(c) = &set.compact {
                    let mut c = c.lock().unwrap();
                    c.reset();
                    set.bmp.write_all_index(&c.map)?;
                }
            } else {
                set.cpy.fill();
                if f & flags::SHDOFFLINE != 0 {
                    nf |= flags::COPYINGM | flags::COPYINGP;
                    job = Some(Direction::ToShadow);
                } else if f & flags::MSTOFFLINE != 0 {
                    nf |= flags::COPYINGS | flags::COPYINGP;
                    job = Some(Direction::ToMaster);
                }
            }
            set.flags.store(nf, Ordering::Release);
            set.saved.store(false, Ordering::Release);
            set.bmp.write_header(|h| {
                h.lifecycle = bitmap::LIFE_DIRTY;
                h.flags = nf;
            })?;
            set.bmp.write_all_bits(Region::Copy, &set.cpy)?;
            set.bmp.write_all_bits(Region::Shadow, &set.shd)?;
            let mut meta = set.meta.lock().unwrap();
            meta.job_total = set.cpy.count();
            meta.job_mode = CopyMode::Full;
            meta.milestone = 0;
            job
        };
        if let Some(d) = job {
            copy::start(&set, d);
        }
        tracing::info!(set = %set.shadow_path.display(), "set reset");
        set.note_state(before);
        self.publish(EngineEvent::SetModified {
            shadow: set.shadow_path.clone(),
            change: SetChange::Properties,
        });
        Ok(())
    }

    /// Waits until no copy runs; `Ok(true)` when none runs (finished, aborted
    /// or suspended), `Ok(false)` on timeout.
    pub fn wait(&self, shadow: &Path, timeout: Option<Duration>) -> Result<bool> {
        let set = {
            let st = self.st();
            self.find(&st, shadow)?
        };
        Ok(wait_set(&set, timeout.map(|t| Instant::now() + t)))
    }

    /// A future that resolves when no copy or update of the set runs
    /// (finished, aborted, suspended or failed); it holds no thread while
    /// pending. Time limits are the caller's (wrap it in a timeout).
    pub fn job_end(&self, shadow: &Path) -> Result<crate::JobEnd> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        Ok(crate::JobEnd::new(set))
    }

    /// How many [`Engine::job_end`] futures are parked on the set's job.
    pub fn job_waiters(&self, shadow: &Path) -> Result<usize> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        Ok(crate::job_end::waiters(&set))
    }

    /// Sets copy delay (10 ms ticks, 2..=10000) and units (chunks per burst,
    /// 100..=60000); out of range changes nothing. The change takes effect at
    /// once: a copy pausing between bursts wakes, and the new delay counts
    /// from the end of its last burst; the next burst uses the new units.
    /// Suspended and interrupted copies start with the new values. After every burst of `units` chunks
    /// the copy pauses `delay` ticks so host I/O can proceed; at the minimum
    /// delay (2) the pause is skipped when no host request reached the set's
    /// volumes during the burst, so an uncontended copy runs at full speed.
    pub fn set_copy_params(&self, shadow: &Path, delay_ticks: u32, units: u32) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        check_copy_params(&set.shadow_path, delay_ticks, units)?;
        {
            let mut m = set.meta.lock().unwrap();
            m.delay = delay_ticks;
            m.units = units;
        }
        set.bmp.write_header(|h| {
            h.delay = delay_ticks;
            h.units = units;
        })?;
        {
            // Under ctl, so a copy about to pause cannot miss the change.
            let _ctl = set.ctl.lock().unwrap();
            set.cv.notify_all();
        }
        self.publish(EngineEvent::SetModified {
            shadow: set.shadow_path.clone(),
            change: SetChange::Properties,
        });
        Ok(())
    }

    /// Exports an independent, up-to-date shadow (imaging.md §5); refused
    /// while NBD clients hold the shadow.
    pub fn export_shadow(&self, shadow: &Path) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        self.check_not_locked(&st, &set, "export of one member")?;
        let f = set.f();
        let p = &set.shadow_path;
        if f & flags::SHDEXPORT != 0 {
            return Err(Error::wrong_state(
                p,
                "exported",
                "the shadow is already exported; join it before exporting again",
            ));
        }
        if set.imported {
            return Err(Error::wrong_state(p, "imported", "an imported shadow cannot be exported again; disable it here and join on the original host"));
        }
        if set.kind != SetKind::Independent {
            return Err(Error::wrong_state(
                p,
                "dependent",
                "only an independent shadow can be exported",
            ));
        }
        if f & flags::COPYING != 0 {
            return Err(Error::busy(p, "the shadow is not a complete copy (a copy is running or was aborted); wait for or rerun the update first"));
        }
        if f & flags::OFFLINE != 0 {
            return Err(Error::wrong_state(
                p,
                "offline",
                "a volume is offline; reset the set first",
            ));
        }
        self.refuse_clients(p, p, "export")?;
        let before = set.state();
        {
            let _g = set.master.gate.write().unwrap();
            set.shadow.sync()?;
            set.set_flags(flags::SHDEXPORT, 0);
        }
        set.note_state(before);
        Ok(())
    }

    /// Imports a shadow exported by another host, tracking writes in `bitmap`.
    ///
    /// A shadow configured here is refused, except the shadow of a local set
    /// that is exported and suspended (this host takes the importing role
    /// over): the import then is the set of that shadow (per-shadow calls
    /// reach it; [`Engine::sets`] lists both) until the exported set is
    /// resumed, which joins the import implicitly, or the import is disabled,
    /// which brings the exported set back for an explicit [`Engine::join`].
    pub fn import_shadow(&self, shadow: &Path, bitmap: &Path) -> Result<SetInfo> {
        let mut st = self.st();
        let shadow_p = self.resolve_in(shadow, "shadow", shadow)?;
        let bitmap_p = self.resolve_in(bitmap, "bitmap", shadow)?;
        if shadow_p == bitmap_p {
            return Err(Error::invalid(
                set_subject(shadow),
                "shadow and bitmap must be different volumes",
            ));
        }
        // The one local set a shadow may be imported over: an exported one
        // that is suspended, so this engine does not use the shadow (e.g. a
        // host taking over the importing role). Its resume joins the import.
        let takeover = st
            .sets
            .get(&shadow_p)
            .filter(|s| {
                !s.imported
                    && s.f() & flags::SHDEXPORT != 0
                    && s.meta.lock().unwrap().suspended
                    && !st.parked.contains_key(&shadow_p)
            })
            .cloned();
        if takeover.is_none() {
            if let Some(role) = Self::role_of(&st, &shadow_p) {
                let exported = st
                    .sets
                    .get(&shadow_p)
                    .is_some_and(|s| !s.imported && s.f() & flags::SHDEXPORT != 0);
                return Err(Error::in_use(
                    &shadow_p,
                    role,
                    if exported {
                        "cannot import an exported shadow of this host while its set is active; suspend that set first (resuming it later joins the import) or import it on another host"
                    } else {
                        "cannot import a shadow that is configured on this host; import it on another host"
                    },
                ));
            }
        }
        if let Some(role) = Self::role_of(&st, &bitmap_p) {
            return Err(Error::in_use(
                &bitmap_p,
                role,
                format!(
                    "cannot be the bitmap of imported set {}; choose another volume",
                    shadow.display()
                ),
            ));
        }
        Self::check_no_plain_handle(&mut st, &shadow_p, shadow)?;
        Self::check_no_plain_handle(&mut st, &bitmap_p, shadow)?;
        let sv = Arc::new(Volume::open(&shadow_p)?);
        let bvol = Arc::new(Volume::open(&bitmap_p)?);
        if sv.size == 0 {
            return Err(Error::invalid(
                set_subject(shadow),
                "the shadow volume has size 0",
            ));
        }
        let master = Arc::new(Master::new(shadow_p.clone(), None, sv.size));
        let geo = Geometry::new(master.chunks(), false);
        bitmap::check_size(&bvol, &geo, shadow)?;
        let fl = flags::GOLDEN | flags::SHDIMPORT;
        let mtime = now();
        let header = Header {
            lifecycle: bitmap::LIFE_DIRTY,
            set_type: bitmap::TYPE_IND,
            flags: fl,
            size: sv.size,
            chunks: geo.chunks,
            bmp_pages: geo.bmp_pages as u32,
            units: DEFAULT_COPY_UNITS,
            delay: DEFAULT_COPY_DELAY,
            mtime,
            shadow: shadow_p.to_string_lossy().into_owned(),
            bitmap: bitmap_p.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let meta = Meta {
            name: shadow_p.to_string_lossy().into_owned(),
            group: None,
            overflow: None,
            units: DEFAULT_COPY_UNITS,
            delay: DEFAULT_COPY_DELAY,
            mtime,
            suspended: false,
            job_total: 0,
            job_mode: CopyMode::Full,
            milestone: 0,
        };
        let bv = BitmapVol::new(bvol, geo, header);
        let set = self.new_core(
            master.clone(),
            shadow_p.clone(),
            sv,
            bitmap_p,
            bv,
            SetKind::Independent,
            true,
            fl,
            None,
            meta,
            false,
        );
        set.bmp.write_all_bits(Region::Shadow, &set.shd)?;
        set.bmp.write_all_bits(Region::Copy, &set.cpy)?;
        set.bmp.write_header(|_| {})?;
        master.sets.write().unwrap().push(set.clone());
        if let Some(t) = &takeover {
            st.parked.insert(shadow_p.clone(), t.clone());
        }
        st.sets.insert(shadow_p.clone(), set.clone());
        if let Err(e) = self.save(&st) {
            st.sets.remove(&shadow_p);
            if let Some(t) = takeover {
                st.parked.remove(&shadow_p);
                st.sets.insert(shadow_p.clone(), t);
            }
            return Err(e);
        }
        self.publish(EngineEvent::SetCreated { shadow: shadow_p });
        Ok(set.info())
    }

    /// Joins an exported shadow, OR-ing the other host's shadow bitmap (read
    /// from its bitmap volume, normally disabled there first) into this set's.
    pub fn join(&self, shadow: &Path, foreign_bitmap: Option<&Path>) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        self.check_not_locked(&st, &set, "join of one member")?;
        let p = set.shadow_path.clone();
        if set.f() & flags::SHDEXPORT == 0 {
            return Err(Error::wrong_state(
                &p,
                set.state().as_str(),
                "join refused: the shadow is not exported",
            ));
        }
        let foreign = match foreign_bitmap {
            Some(b) => {
                let bp = self.resolve_in(b, "foreign bitmap", shadow)?;
                if let Some(role) = Self::role_of(&st, &bp) {
                    return Err(Error::in_use(&bp, role, format!("cannot join set {} with a bitmap in use here; use the importing host's bitmap volume", p.display())));
                }
                let v = Arc::new(Volume::open(&bp)?);
                let h = bitmap::read_header(&v)?.ok_or_else(|| {
                    Error::invalid(
                        set_subject(&p),
                        format!("{} is not a valid bitmap volume (bad magic, version or checksum); give the importing host's bitmap volume", bp.display()),
                    )
                })?;
                if h.chunks < set.chunks || h.index_pages != 0 {
                    return Err(Error::invalid(
                        set_subject(&p),
                        format!("bitmap {} tracks {} chunks, the set needs {}; give the bitmap of the imported shadow", bp.display(), h.chunks, set.chunks),
                    ));
                }
                let geo = Geometry::new(h.chunks, false);
                let fb = BitmapVol::new(v, geo, h.clone());
                let bits = Bits::new(h.chunks);
                let bad = fb.load_bits(Region::Shadow, &bits)?;
                if !bad.is_empty() {
                    bits.fill();
                }
                Some(bits)
            }
            None => None,
        };
        let before = set.state();
        {
            let _g = set.master.gate.write().unwrap();
            if let Some(bits) = foreign {
                let mut c = 0;
                while let Some(n) = bits.next_set(c) {
                    if n >= set.chunks {
                        break;
                    }
                    set.shd.set(n);
                    c = n + 1;
                }
                set.bmp.write_all_bits(Region::Shadow, &set.shd)?;
            }
            set.set_flags(0, flags::SHDEXPORT);
        }
        set.note_state(before);
        Ok(())
    }

    /// Initialises an overflow volume.
    pub fn init_overflow(&self, path: &Path) -> Result<OverflowInfo> {
        let mut st = self.st();
        let p = self.inner.roots.resolve(path)?;
        if st.overflows.contains_key(&p) {
            return Err(Error::AlreadyExists {
                kind: "overflow volume",
                name: p.display().to_string(),
                cause: "it is already initialised; use it or delete it first".into(),
            });
        }
        if let Some(role) = Self::role_of(&st, &p) {
            return Err(Error::in_use(
                &p,
                role,
                "cannot initialise a set volume as an overflow volume; choose another volume",
            ));
        }
        Self::check_no_plain_handle(&mut st, &p, &p)?;
        let o = Arc::new(Overflow::init(Arc::new(Volume::open(&p)?))?);
        st.overflows.insert(p.clone(), o.clone());
        st.overflow_missing.retain(|x| x != &p);
        self.save(&st)?;
        self.publish(EngineEvent::OverflowCreated { path: p });
        Ok(overflow_info(&o))
    }

    /// Deletes an overflow volume (no set may be attached).
    pub fn delete_overflow(&self, path: &Path) -> Result<()> {
        let mut st = self.st();
        let key = self.overflow_key(&st, path)?;
        if let Some(o) = st.overflows.get(&key) {
            let sets = o.state.lock().unwrap().sets.clone();
            if !sets.is_empty() {
                return Err(Error::in_use(
                    &key,
                    "overflow",
                    format!(
                        "still attached to {} set(s) ({}); detach it from them first",
                        sets.len(),
                        join_paths(&sets)
                    ),
                ));
            }
            o.wipe()?;
        }
        st.overflows.remove(&key);
        st.overflow_missing.retain(|x| x != &key);
        self.save(&st)?;
        self.publish(EngineEvent::OverflowDeleted { path: key });
        Ok(())
    }

    fn overflow_key(&self, st: &St, path: &Path) -> Result<PathBuf> {
        if st.overflows.contains_key(path) || st.overflow_missing.iter().any(|x| x == path) {
            return Ok(path.to_path_buf());
        }
        if let Ok(c) = self.inner.roots.resolve(path) {
            if st.overflows.contains_key(&c) || st.overflow_missing.iter().any(|x| x == &c) {
                return Ok(c);
            }
        }
        Err(overflow_not_found(path))
    }

    /// Every overflow volume.
    pub fn overflows(&self) -> Vec<OverflowInfo> {
        let st = self.st();
        st.overflows.values().map(|o| overflow_info(o)).collect()
    }

    /// One overflow volume.
    pub fn overflow_info(&self, path: &Path) -> Result<OverflowInfo> {
        let st = self.st();
        let k = self.overflow_key(&st, path)?;
        st.overflows
            .get(&k)
            .map(|o| overflow_info(o))
            .ok_or_else(|| overflow_not_found(path))
    }

    /// Attaches an overflow volume to a compact dependent set.
    pub fn attach_overflow(&self, shadow: &Path, overflow: &Path) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        let key = self.overflow_key(&st, overflow)?;
        let o = st
            .overflows
            .get(&key)
            .cloned()
            .ok_or_else(|| overflow_not_found(overflow))?;
        let Some(cm) = &set.compact else {
            return Err(Error::wrong_state(&set.shadow_path, "not compact", "not a compact dependent shadow; only sets whose shadow is smaller than the master use overflow volumes"));
        };
        {
            let mut c = cm.lock().unwrap();
            if let Some(cur) = &c.overflow {
                return Err(Error::AlreadyExists {
                    kind: "overflow attachment",
                    name: set.shadow_path.display().to_string(),
                    cause: format!(
                        "overflow volume {} is already attached; detach it first",
                        cur.vol.path.display()
                    ),
                });
            }
            c.overflow = Some(o.clone());
        }
        set.meta.lock().unwrap().overflow = Some(key.clone());
        // Counts the attach and syncs the statistics page.
        o.attach(set.shadow_path.clone());
        let name = key.to_string_lossy().into_owned();
        set.bmp.write_header(|h| h.overflow = name)?;
        self.save(&st)?;
        self.publish(EngineEvent::SetModified {
            shadow: set.shadow_path.clone(),
            change: SetChange::Properties,
        });
        self.publish(EngineEvent::OverflowModified { path: key });
        Ok(())
    }

    /// Detaches the set's overflow volume (refused while it holds data).
    pub fn detach_overflow(&self, shadow: &Path) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        let p = set.shadow_path.clone();
        let o = {
            let Some(cm) = &set.compact else {
                return Err(Error::wrong_state(
                    &p,
                    "not compact",
                    "the set has no overflow volume attached",
                ));
            };
            let mut c = cm.lock().unwrap();
            let Some(o) = c.overflow.clone() else {
                return Err(Error::wrong_state(
                    &p,
                    "without overflow",
                    "the set has no overflow volume attached",
                ));
            };
            if c.ov_used > 0 {
                return Err(Error::in_use(
                    &o.vol.path,
                    format!("overflow of {}", p.display()),
                    format!("overflow volume still in use: the set keeps {} chunk(s) there; update the shadow first", c.ov_used),
                ));
            }
            c.overflow = None;
            o
        };
        set.meta.lock().unwrap().overflow = None;
        o.state.lock().unwrap().sets.remove(&p);
        set.bmp.write_header(|h| h.overflow.clear())?;
        if set.f() & flags::VOVERFLOW != 0 {
            set.set_flags(0, flags::VOVERFLOW);
        }
        self.save(&st)?;
        self.publish(EngineEvent::SetModified {
            shadow: p,
            change: SetChange::Properties,
        });
        self.publish(EngineEvent::OverflowModified {
            path: o.vol.path.clone(),
        });
        Ok(())
    }

    /// Creates an empty group.
    pub fn create_group(&self, name: &str, kind: SetKind) -> Result<GroupInfo> {
        let mut st = self.st();
        validate_group_name(name)?;
        if st.groups.contains_key(name) {
            return Err(Error::AlreadyExists {
                kind: "group",
                name: name.into(),
                cause: "choose another group name".into(),
            });
        }
        st.groups.insert(
            name.into(),
            GroupRecord {
                name: name.into(),
                kind,
                locked: false,
            },
        );
        if let Err(e) = self.save(&st) {
            st.groups.remove(name);
            return Err(e);
        }
        self.publish(EngineEvent::GroupCreated { name: name.into() });
        Ok(group_info(&st, name).expect("just created"))
    }

    /// Deletes a group, releasing its members (they stay enabled).
    pub fn delete_group(&self, name: &str) -> Result<()> {
        let mut st = self.st();
        let g = st.groups.get(name).ok_or_else(|| group_not_found(name))?;
        if g.locked {
            return Err(group_locked(name, "delete"));
        }
        let members = members(&st, name);
        for s in &members {
            s.meta.lock().unwrap().group = None;
            s.bmp.write_header(|h| h.group.clear())?;
        }
        let rec = st.groups.remove(name).expect("exists");
        if let Err(e) = self.save(&st) {
            st.groups.insert(name.into(), rec);
            return Err(e);
        }
        for s in &members {
            self.publish(EngineEvent::SetModified {
                shadow: s.shadow_path.clone(),
                change: SetChange::Properties,
            });
        }
        self.publish(EngineEvent::GroupDeleted { name: name.into() });
        Ok(())
    }

    /// Renames a group.
    pub fn rename_group(&self, old: &str, new: &str) -> Result<()> {
        let mut st = self.st();
        let g = st
            .groups
            .get(old)
            .ok_or_else(|| group_not_found(old))?
            .clone();
        validate_group_name(new)?;
        if g.locked {
            return Err(group_locked(old, "rename"));
        }
        if old == new {
            return Ok(());
        }
        if st.groups.contains_key(new) {
            return Err(Error::AlreadyExists {
                kind: "group",
                name: new.into(),
                cause: "choose another group name".into(),
            });
        }
        for s in members(&st, old) {
            s.meta.lock().unwrap().group = Some(new.into());
            let n = new.to_string();
            s.bmp.write_header(|h| h.group = n)?;
        }
        st.groups.remove(old);
        st.groups.insert(
            new.into(),
            GroupRecord {
                name: new.into(),
                ..g
            },
        );
        self.save(&st)?;
        self.publish(EngineEvent::GroupModified {
            name: new.into(),
            old_name: Some(old.into()),
        });
        Ok(())
    }

    /// Moves a set into a group (out of its previous one).
    pub fn add_to_group(&self, shadow: &Path, group: &str) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        let g = st.groups.get(group).ok_or_else(|| group_not_found(group))?;
        if g.locked {
            return Err(group_locked(group, "add a member to"));
        }
        check_group_accepts(g, set.kind, &set.shadow_path)?;
        self.check_not_locked(&st, &set, "moving the set to another group")?;
        let old = set.meta.lock().unwrap().group.replace(group.into());
        let n = group.to_string();
        set.bmp.write_header(|h| h.group = n)?;
        self.save(&st)?;
        if let Some(o) = old.filter(|o| o != group) {
            self.publish(EngineEvent::GroupModified {
                name: o,
                old_name: None,
            });
        }
        self.publish(EngineEvent::GroupModified {
            name: group.into(),
            old_name: None,
        });
        self.publish(EngineEvent::SetModified {
            shadow: set.shadow_path.clone(),
            change: SetChange::Properties,
        });
        Ok(())
    }

    /// Takes a set out of its group.
    pub fn remove_from_group(&self, shadow: &Path) -> Result<()> {
        let st = self.st();
        let set = self.find(&st, shadow)?;
        let Some(g) = set.meta.lock().unwrap().group.clone() else {
            return Err(Error::wrong_state(
                &set.shadow_path,
                "ungrouped",
                "the set is not in a group",
            ));
        };
        if st.groups.get(&g).is_some_and(|r| r.locked) {
            return Err(group_locked(&g, "remove a member from"));
        }
        set.meta.lock().unwrap().group = None;
        set.bmp.write_header(|h| h.group.clear())?;
        self.save(&st)?;
        self.publish(EngineEvent::GroupModified {
            name: g,
            old_name: None,
        });
        self.publish(EngineEvent::SetModified {
            shadow: set.shadow_path.clone(),
            change: SetChange::Properties,
        });
        Ok(())
    }

    /// Every group.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let st = self.st();
        st.groups
            .keys()
            .filter_map(|n| group_info(&st, n))
            .collect()
    }

    /// One group.
    pub fn group_info(&self, name: &str) -> Result<GroupInfo> {
        let st = self.st();
        group_info(&st, name).ok_or_else(|| group_not_found(name))
    }

    fn group_members(&self, st: &St, group: &str) -> Result<Vec<Arc<SetCore>>> {
        if !st.groups.contains_key(group) {
            return Err(group_not_found(group));
        }
        let m = members(st, group);
        if m.is_empty() {
            return Err(Error::wrong_state(
                Path::new(group),
                "empty",
                format!("group {group} has no members; add sets to it first"),
            ));
        }
        Ok(m)
    }

    /// One copy/update of every member at one point in time.
    pub fn group_copy(&self, group: &str, dir: Direction, mode: CopyMode) -> Result<()> {
        let st = self.st();
        let m = self.group_members(&st, group)?;
        self.start_copies(&st, &m, dir, mode, Some(group))
    }

    /// Aborts every member's copy.
    pub fn group_abort(&self, group: &str) -> Result<()> {
        let st = self.st();
        for s in self.group_members(&st, group)? {
            Self::abort_set(&s);
        }
        Ok(())
    }

    /// Suspends every member.
    pub fn group_suspend(&self, group: &str) -> Result<()> {
        let st = self.st();
        for s in self.group_members(&st, group)? {
            self.suspend_set(&st, &s)?;
        }
        Ok(())
    }

    /// Resumes every member (joining local imports as [`Engine::resume`]).
    pub fn group_resume(&self, group: &str) -> Result<()> {
        let mut st = self.st();
        for s in self.group_members(&st, group)? {
            if st
                .parked
                .get(&s.shadow_path)
                .is_some_and(|p| Arc::ptr_eq(p, &s))
            {
                self.implicit_join(&mut st, &s.shadow_path.clone())?;
            } else {
                self.resume_set(&st, &s)?;
            }
        }
        Ok(())
    }

    /// Waits for every member.
    pub fn group_wait(&self, group: &str, timeout: Option<Duration>) -> Result<bool> {
        let m = {
            let st = self.st();
            self.group_members(&st, group)?
        };
        let deadline = timeout.map(|t| Instant::now() + t);
        Ok(m.iter().all(|s| wait_set(s, deadline)))
    }

    fn set_locked(&self, group: &str, locked: bool) -> Result<()> {
        let mut st = self.st();
        let g = st
            .groups
            .get_mut(group)
            .ok_or_else(|| group_not_found(group))?;
        if g.locked == locked {
            return Ok(());
        }
        g.locked = locked;
        self.save(&st)?;
        self.publish(EngineEvent::GroupModified {
            name: group.into(),
            old_name: None,
        });
        Ok(())
    }

    /// Locks a group: membership changes, rename, delete and the per-member
    /// operations that change data (copy/update, abort, suspend, resume,
    /// reset, export, join, disable) are refused until it is unlocked; reads
    /// and waits stay allowed, and so do the group's own operations.
    pub fn lock_group(&self, group: &str) -> Result<()> {
        self.set_locked(group, true)
    }

    /// Unlocks a group.
    pub fn unlock_group(&self, group: &str) -> Result<()> {
        self.set_locked(group, false)
    }

    /// Progress of the group's copies (chunk-weighted; 100 when none).
    pub fn group_percent_completed(&self, group: &str) -> Result<f32> {
        let st = self.st();
        if !st.groups.contains_key(group) {
            return Err(group_not_found(group));
        }
        let (mut total, mut done) = (0u64, 0u64);
        for s in members(&st, group) {
            if s.f() & (flags::COPYINGM | flags::COPYINGS) != 0 {
                let t = s.meta.lock().unwrap().job_total;
                let left = s.cpy.count().min(t);
                total += t;
                done += t - left;
            }
        }
        Ok(if total == 0 {
            100.0
        } else {
            100.0 * done as f32 / total as f32
        })
    }

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
            let used_by = Self::role_of(&st, &c).unwrap_or_default();
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
    fn device_in(&self, st: &mut St, path: &Path) -> Result<(PathBuf, Arc<dyn BlockDevice>)> {
        let p = match st.sets.get(path) {
            Some(_) => path.to_path_buf(),
            None => self.inner.roots.resolve(path)?,
        };
        if let Some(s) = st.sets.get(&p) {
            return Ok((s.shadow_path.clone(), Arc::new(ShadowDevice(s.clone()))));
        }
        if let Some(role) = Self::role_of(st, &p) {
            if !role.starts_with("master of") {
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

    fn clients_at(&self, p: &Path) -> usize {
        let map = self.inner.clients.lock().unwrap_or_else(|e| e.into_inner());
        map.get(p).map_or(0, |c| c.load(Ordering::Acquire))
    }

    fn client_counter(&self, p: &Path) -> Arc<AtomicUsize> {
        let mut map = self.inner.clients.lock().unwrap_or_else(|e| e.into_inner());
        // Forget volumes nobody holds any more, so the map stays small.
        map.retain(|_, c| c.load(Ordering::Acquire) > 0 || Arc::strong_count(c) > 1);
        map.entry(p.to_path_buf()).or_default().clone()
    }

    /// Refuses `what` on set `set` while NBD clients hold `volume`. Called
    /// with the control lock held; clients are counted under that lock too
    /// (see `open_export`), so none can sneak in before the operation.
    fn refuse_clients(&self, set: &Path, volume: &Path, what: &str) -> Result<()> {
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

/// Another set of the same master with a copy towards the master pending.
fn sibling_copying_to_master(set: &SetCore) -> Option<PathBuf> {
    set.master
        .sets
        .read()
        .unwrap()
        .iter()
        .find(|s| s.id != set.id && s.f() & flags::COPYINGS != 0)
        .map(|s| s.shadow_path.clone())
}

fn wait_set(set: &SetCore, deadline: Option<Instant>) -> bool {
    let mut ctl = set.ctl.lock().unwrap();
    while ctl.running {
        match deadline {
            None => ctl = set.cv.wait(ctl).unwrap(),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return false;
                }
                ctl = set.cv.wait_timeout(ctl, d - now).unwrap().0;
            }
        }
    }
    true
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
        v.sort();
        v.dedup();
        v
    }

    /// The device of one set volume, counted as one client connection of
    /// that volume until the server drops it (at the end of the connection).
    fn open_export(&self, name: &str) -> Option<Arc<dyn BlockDevice>> {
        let mut st = self.st();
        let listed = st.sets.values().chain(st.parked.values()).any(|s| {
            s.shadow_path.as_os_str() == name || (!s.imported && s.master.path.as_os_str() == name)
        });
        if !listed {
            return None;
        }
        let (p, dev) = self.device_in(&mut st, Path::new(name)).ok()?;
        let count = self.client_counter(&p);
        Some(Arc::new(ClientDevice::new(dev, count)))
    }
}

/// What a restart makes of a volatile set whose bitmaps were not saved
/// (imaging.md §3.6, the reference's treatment of volatile bitmaps): its
/// bitmaps on disk may miss changes, so nothing they say is trusted. A
/// dependent shadow, and an independent one being copied, go offline (reset
/// takes a new point in time or restarts the copy); a copy towards the
/// master takes the master offline; an idle independent set gets every
/// chunk marked, so the next update copies everything. Returns what was done.
fn distrust_volatile(set: &SetCore, fl: &mut u32) -> &'static str {
    if set.kind == SetKind::Dependent {
        *fl |= flags::SHDOFFLINE;
        "the dependent shadow is offline; reset the set to take a new point in time"
    } else if *fl & flags::COPYINGS != 0 {
        *fl |= flags::MSTOFFLINE;
        "the master, which was being updated from the shadow, is offline; reset the set"
    } else if *fl & flags::COPYING != 0 {
        *fl |= flags::SHDOFFLINE;
        "the shadow, which was being copied, is offline; reset the set"
    } else {
        set.shd.fill();
        "every chunk is marked for update; update the shadow to synchronize it"
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

fn offline_info(r: &SetRecord) -> SetInfo {
    let cap = |p: &Path| probe_size(p).map(|x| x.0).unwrap_or(0);
    SetInfo {
        shadow: r.shadow.clone(),
        master: r
            .master
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("<{}>", r.shadow.display()))),
        bitmap: r.bitmap.clone(),
        name: r.name.clone(),
        kind: r.kind,
        imported: r.imported,
        overflow: r.overflow.clone(),
        group: r.group.clone(),
        state: SetState::Offline,
        status: Status::Error,
        percent_completed: 0.0,
        percent_synchronized: 0.0,
        master_capacity: r.master.as_deref().map(cap).unwrap_or(0),
        shadow_capacity: cap(&r.shadow),
        bitmap_capacity: cap(&r.bitmap),
        copy_units: DEFAULT_COPY_UNITS,
        copy_delay: DEFAULT_COPY_DELAY,
        flags: flags::BMPOFFLINE | flags::SHDOFFLINE | flags::MSTOFFLINE,
        chunks: 0,
        shadow_bits: 0,
        copy_bits: 0,
        mtime: 0,
        compact: false,
        volatile_bitmap: r.volatile_bitmap,
        shadow_chunks_total: 0,
        shadow_chunks_used: 0,
        overflow_chunks_used: 0,
        copy_active: false,
        copy_direction: None,
    }
}

fn overflow_info(o: &Overflow) -> OverflowInfo {
    let st = o.state.lock().unwrap();
    OverflowInfo {
        path: o.vol.path.clone(),
        capacity: o.vol.size,
        used_bytes: (st.in_use + 1) * CHUNK_SIZE,
        attached_sets: st.sets.len() as u32,
        sets: st.sets.iter().cloned().collect(),
        total_chunks: o.total,
        used_chunks: st.in_use,
        high_water_chunks: st.high_water,
        total_attached: st.total_attached(),
    }
}

fn members(st: &St, group: &str) -> Vec<Arc<SetCore>> {
    st.sets
        .values()
        .chain(st.parked.values())
        .filter(|s| s.meta.lock().unwrap().group.as_deref() == Some(group))
        .cloned()
        .collect()
}

fn group_info(st: &St, name: &str) -> Option<GroupInfo> {
    let g = st.groups.get(name)?;
    let mut m: Vec<PathBuf> = members(st, name)
        .iter()
        .map(|s| s.shadow_path.clone())
        .collect();
    m.extend(
        st.offline
            .values()
            .filter(|(r, _)| r.group.as_deref() == Some(name))
            .map(|(r, _)| r.shadow.clone()),
    );
    m.sort();
    Some(GroupInfo {
        name: g.name.clone(),
        kind: g.kind,
        members: m,
        locked: g.locked,
    })
}

fn join_paths(s: &std::collections::BTreeSet<PathBuf>) -> String {
    s.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn group_not_found(g: &str) -> Error {
    Error::NotFound {
        kind: "group",
        name: g.into(),
        hint: "create the group first or check its name".into(),
    }
}

fn overflow_not_found(p: &Path) -> Error {
    Error::NotFound {
        kind: "overflow volume",
        name: p.display().to_string(),
        hint: "initialise it as an overflow volume first".into(),
    }
}

fn group_locked(g: &str, what: &str) -> Error {
    Error::wrong_state(
        Path::new(g),
        "locked",
        format!("cannot {what} group {g} while it is locked; unlock it first"),
    )
}

fn check_group_accepts(g: &GroupRecord, kind: SetKind, shadow: &Path) -> Result<()> {
    if g.kind != kind {
        return Err(Error::invalid(
            set_subject(shadow),
            format!(
                "group {} holds {} sets and the set is {}; use a group of the same type",
                g.name,
                g.kind.as_str(),
                kind.as_str()
            ),
        ));
    }
    Ok(())
}

fn validate_group_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 63
        || name.starts_with('-')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid(
            format!("group {name:?}"),
            "a group name must be 1 to 63 bytes, not start with '-' and contain no whitespace",
        ));
    }
    Ok(())
}

/// The range rules of imaging.md §7, shared by enable and `set_copy_params`.
fn check_copy_params(shadow: &Path, delay_ticks: u32, units: u32) -> Result<()> {
    if !(MIN_COPY_DELAY..=MAX_COPY_DELAY).contains(&delay_ticks)
        || !(MIN_COPY_UNITS..=MAX_COPY_UNITS).contains(&units)
    {
        return Err(Error::invalid(
            set_subject(shadow),
            format!(
                "copy parameters delay {delay_ticks}, units {units} out of range; use delay 2..=10000 ticks of 10 ms and units 100..=60000 chunks"
            ),
        ));
    }
    Ok(())
}

fn validate_set_name(name: &str, shadow: &Path) -> Result<()> {
    if name.is_empty() || name.len() > 1022 || name.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            set_subject(shadow),
            "a set name must be 1 to 1022 bytes without control characters",
        ));
    }
    Ok(())
}

/// Writes the headers of the sets just restored (lifecycle and flags, each
/// made durable), in parallel: the syncs of different bitmap volumes overlap
/// instead of queueing, so a start with a thousand sets takes a few sync
/// latencies rather than a thousand. A set whose header cannot be written
/// comes back offline (BMPOFFLINE), as a bitmap failure at run time does.
fn mark_opened(opened: Vec<(Arc<SetCore>, u32, u32)>) {
    const WORKERS: usize = 32;
    if opened.is_empty() {
        return;
    }
    let per = opened.len().div_ceil(WORKERS);
    std::thread::scope(|scope| {
        for part in opened.chunks(per) {
            scope.spawn(move || {
                for (set, lifecycle, fl) in part {
                    let written = set.bmp.write_header(|h| {
                        h.lifecycle = *lifecycle;
                        h.flags = *fl;
                    });
                    if let Err(e) = written {
                        set.go_offline(flags::BMPOFFLINE, &e);
                    }
                }
            });
        }
    });
}
