//! Sets and masters: the in-memory state of a point-in-time set and the data
//! path rules of imaging.md §4 (copy-on-write, bit tracking, read routing).
//!
//! Locking, outermost first:
//! 1. `Master::gate` (RwLock): every data-path request and every copy run holds
//!    it shared for its whole duration, including the landing of host data;
//!    bitmap switches (copy/update start, group PIT, enable/disable) hold it
//!    exclusive, so "quiesce, drain, switch, release" is one write lock.
//! 2. `Master::stripes`: per-chunk mutexes (chunk number modulo the stripe
//!    count), always taken in ascending stripe order. One table per master,
//!    shared by every set of the master and by their shadows, so a chunk is
//!    copied on write exactly once per point in time.
//! 3. `BitmapVol::io`, `SetCore::compact`, `Overflow::state`: short leaf locks.
//!
//! Write ordering (imaging.md §3.6): copy-on-write data is synced, then the
//! compact index and the bitmap pages are written and synced, then the host
//! data is written.

use crate::bitmap::{self, BitmapVol, Bits, Region, UNMAPPED};
use crate::compact::Compact;
use crate::error::{Error, Result};
use crate::events::Bus;
use crate::types::*;
use crate::volume::Volume;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;

const STRIPES: usize = 1024;

/// A master volume and every set that uses it (imported sets get a master
/// without a volume, keyed by their shadow).
pub(crate) struct Master {
    pub path: PathBuf,
    pub vol: Option<Arc<Volume>>,
    pub size: u64,
    pub gate: RwLock<()>,
    stripes: Box<[Mutex<()>]>,
    pub sets: RwLock<Vec<Arc<SetCore>>>,
    /// Host requests seen on this master and its shadows (lets an idle copy
    /// skip its minimum pause).
    pub io_count: AtomicU64,
}

impl Master {
    pub fn new(path: PathBuf, vol: Option<Arc<Volume>>, size: u64) -> Master {
        Master {
            path,
            vol,
            size,
            gate: RwLock::new(()),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            sets: RwLock::new(Vec::new()),
            io_count: AtomicU64::new(0),
        }
    }

    pub fn chunks(&self) -> u64 {
        self.size.div_ceil(CHUNK_SIZE)
    }

    /// Locks the stripes of chunks `c0..=c1` in ascending order.
    pub fn lock_chunks(&self, c0: u64, c1: u64) -> Vec<MutexGuard<'_, ()>> {
        lock_stripes(&self.stripes, c0, c1)
    }

    /// Length of chunk `c` (the last one may be partial).
    pub fn chunk_len(&self, c: u64) -> u64 {
        (self.size - c * CHUNK_SIZE).min(CHUNK_SIZE)
    }

    fn master_vol(&self) -> Result<&Arc<Volume>> {
        self.vol.as_ref().ok_or_else(|| Error::PermissionDenied {
            path: self.path.clone(),
            reason: "an imported set has no master volume".into(),
        })
    }

    /// Every set's duty before master chunk `c` is overwritten (by the host or
    /// by a copy towards the master of set `by`). Sets that copy towards the
    /// master go last: the others must save the physical master data first.
    pub fn before_master_write(
        &self,
        sets: &[Arc<SetCore>],
        c: u64,
        by: Option<u64>,
        pend: &mut Pending,
    ) {
        let is_s2m = |s: &SetCore| {
            s.flags.load(Ordering::Acquire) & flags::COPYINGS != 0 && s.copy_bits.get(c)
        };
        for s in sets.iter().filter(|s| Some(s.id) != by && !is_s2m(s)) {
            s.on_master_write(self, c, pend);
        }
        for s in sets.iter().filter(|s| Some(s.id) != by && is_s2m(s)) {
            s.on_master_write(self, c, pend);
        }
    }

    /// Reads master data as clients see it: chunks a set is copying towards
    /// the master (copy bit still set) come from that set's shadow.
    pub fn read(&self, buf: &mut [u8], off: u64) -> Result<()> {
        self.io_count.fetch_add(1, Ordering::Relaxed);
        let vol = self.master_vol()?.clone();
        let _g = self.gate.read().unwrap();
        let sets = self.sets.read().unwrap().clone();
        let copier = sets
            .iter()
            .find(|s| s.flags.load(Ordering::Acquire) & flags::COPYINGS != 0)
            .cloned();
        let Some(x) = copier else {
            return vol.read_at(buf, off);
        };
        let (c0, c1) = chunk_span(off, buf.len() as u64);
        let _l = self.lock_chunks(c0, c1);
        for (c, start, n, b) in pieces(off, buf.len() as u64) {
            let dst = &mut buf[b..b + n as usize];
            if x.copy_bits.get(c) {
                x.read_shadow_phys(c, start, dst)?;
            } else {
                vol.read_at(dst, c * CHUNK_SIZE + start)?;
            }
        }
        Ok(())
    }

    /// A host write to the master.
    pub fn write(&self, buf: &[u8], off: u64, fua: bool) -> Result<()> {
        self.io_count.fetch_add(1, Ordering::Relaxed);
        let vol = self.master_vol()?.clone();
        let _g = self.gate.read().unwrap();
        let sets = self.sets.read().unwrap().clone();
        if let Some(s) = sets.iter().find(|s| s.f() & flags::MSTOFFLINE != 0) {
            return Err(Error::PermissionDenied {
                path: self.path.clone(),
                reason: format!(
                    "write refused: the master is offline in set {}; reset that set",
                    s.shadow_path.display()
                ),
            });
        }
        if sets.is_empty() {
            vol.write_at(buf, off)?;
            return if fua { vol.sync() } else { Ok(()) };
        }
        let (c0, c1) = chunk_span(off, buf.len() as u64);
        let _l = self.lock_chunks(c0, c1);
        let mut pend = Pending::default();
        for c in c0..=c1 {
            self.before_master_write(&sets, c, None, &mut pend);
        }
        pend.commit()?;
        vol.write_at(buf, off)?;
        if fua {
            vol.sync()?;
        }
        Ok(())
    }
}

/// Locks the stripes (chunk modulo the table's length) of chunks
/// `c0..=c1`, each once, in ascending order.
pub(crate) fn lock_stripes(stripes: &[Mutex<()>], c0: u64, c1: u64) -> Vec<MutexGuard<'_, ()>> {
    let n = stripes.len() as u64;
    let mut idx: Vec<usize> = (c0..c0 + (c1 - c0 + 1).min(n))
        .map(|c| (c % n) as usize)
        .collect();
    idx.sort_unstable();
    idx.dedup();
    idx.into_iter()
        .map(|i| stripes[i].lock().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// Chunks `c0..=c1` touched by `[off, off+len)` (len > 0).
pub(crate) fn chunk_span(off: u64, len: u64) -> (u64, u64) {
    (off / CHUNK_SIZE, (off + len - 1) / CHUNK_SIZE)
}

/// Splits a request into (chunk, offset in chunk, length, offset in buffer).
pub(crate) fn pieces(off: u64, len: u64) -> impl Iterator<Item = (u64, u64, u64, usize)> {
    let mut pos = off;
    let end = off + len;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let c = pos / CHUNK_SIZE;
        let start = pos % CHUNK_SIZE;
        let n = (CHUNK_SIZE - start).min(end - pos);
        let item = (c, start, n, (pos - off) as usize);
        pos += n;
        Some(item)
    })
}

/// One set's pending bit changes and dirty index pages.
struct Dirty {
    set: Arc<SetCore>,
    /// Chunks whose shadow bit is to be set.
    shadow_bits: BTreeSet<u64>,
    /// Chunks whose copy bit is to be cleared.
    copy_bits: BTreeSet<u64>,
    /// Index pages to write.
    index_pages: BTreeSet<u64>,
}

/// What a request changes, committed in write order. Bit changes are applied
/// to the in-memory bitmaps only at commit, after the data they describe is
/// synced and the index written: another thread persisting the same bitmap
/// page can then never make a bit durable before its data or mapping.
#[derive(Default)]
pub(crate) struct Pending {
    vols: Vec<Arc<Volume>>,
    sets: Vec<Dirty>,
}

impl Pending {
    fn entry(&mut self, s: &Arc<SetCore>) -> &mut Dirty {
        let i = match self.sets.iter().position(|e| Arc::ptr_eq(&e.set, s)) {
            Some(i) => i,
            None => {
                self.sets.push(Dirty {
                    set: s.clone(),
                    shadow_bits: BTreeSet::new(),
                    copy_bits: BTreeSet::new(),
                    index_pages: BTreeSet::new(),
                });
                self.sets.len() - 1
            }
        };
        &mut self.sets[i]
    }
    /// Shadow bit `c` of `s` is to be set.
    fn mark_shadow(&mut self, s: &Arc<SetCore>, c: u64) {
        self.entry(s).shadow_bits.insert(c);
    }
    /// Copy bit `c` of `s` is to be cleared.
    fn clear_copy(&mut self, s: &Arc<SetCore>, c: u64) {
        self.entry(s).copy_bits.insert(c);
    }
    /// The compact index page that maps chunk `c` of `s` is to be written.
    fn write_index_of(&mut self, s: &Arc<SetCore>, c: u64) {
        self.entry(s).index_pages.insert(bitmap::index_page_of(c));
    }
    /// Data written to `v` is to be synced before any bit or index page.
    fn sync_first(&mut self, v: &Arc<Volume>) {
        if !self.vols.iter().any(|x| Arc::ptr_eq(x, v)) {
            self.vols.push(v.clone());
        }
    }

    /// Syncs copied data, then writes index and bitmap pages durably. Sets
    /// with volatile bitmaps only change their bits in memory, and when every
    /// set involved is volatile nothing is synced (after a crash such a set
    /// is not trusted anyway: see `Engine::open`).
    pub fn commit(self) -> Result<()> {
        let all_volatile = !self.sets.is_empty() && self.sets.iter().all(|d| d.set.volatile);
        if !all_volatile {
            for v in &self.vols {
                v.sync()?;
            }
        }
        for Dirty {
            set: s,
            shadow_bits: to_mark,
            copy_bits: to_clear,
            index_pages,
        } in self.sets
        {
            if s.volatile {
                if let Err(e) = s.apply_volatile(&to_mark, &to_clear) {
                    s.go_offline(flags::BMPOFFLINE, &e);
                    return Err(e);
                }
                continue;
            }
            let r = (|| {
                if !index_pages.is_empty() {
                    // Snapshot the map while holding it: an older snapshot
                    // written after a newer one would unmap a durable chunk.
                    // Lock order: compact map, then the bitmap volume.
                    let cm = s
                        .compact
                        .as_ref()
                        .expect("index only for compact")
                        .lock()
                        .unwrap();
                    s.bitmap
                        .write_index(&cm.map, &index_pages.into_iter().collect::<Vec<_>>())?;
                }
                let mut spages = BTreeSet::new();
                for c in to_mark {
                    s.shadow_bits.set(c);
                    spages.insert(bitmap::page_of(c));
                }
                let mut cpages = BTreeSet::new();
                for c in to_clear {
                    s.copy_bits.clear(c);
                    cpages.insert(bitmap::page_of(c));
                }
                let spages: Vec<u64> = spages.into_iter().collect();
                let cpages: Vec<u64> = cpages.into_iter().collect();
                if !spages.is_empty() {
                    s.bitmap.write_bits(
                        Region::Shadow,
                        &s.shadow_bits,
                        &spages,
                        cpages.is_empty(),
                    )?;
                }
                if !cpages.is_empty() {
                    s.bitmap
                        .write_bits(Region::Copy, &s.copy_bits, &cpages, true)?;
                }
                Ok(())
            })();
            if let Err(e) = r {
                s.go_offline(flags::BMPOFFLINE, &e);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Why a copy job stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Abort,
    Suspend,
    Shutdown,
}

#[derive(Default)]
pub(crate) struct JobCtl {
    pub running: bool,
    pub stop: Option<Stop>,
    pub handle: Option<JoinHandle<()>>,
    /// Tasks waiting for the job to end ([`crate::job_end::JobEnd`]), by id;
    /// woken and cleared when it ends, each removed when its waiter goes.
    pub waiters: Vec<(u64, std::task::Waker)>,
    pub next_waiter: u64,
}

/// Mutable, rarely changing set properties.
pub(crate) struct Meta {
    /// Display name.
    pub name: String,
    /// The group the set belongs to.
    pub group: Option<String>,
    /// The attached overflow volume's path (kept while it is missing).
    pub overflow: Option<PathBuf>,
    /// Copy units: chunks per burst.
    pub units: u32,
    /// Copy delay: 10 ms ticks between bursts.
    pub delay: u32,
    /// Seconds since the epoch of the last point in time.
    pub mtime: u64,
    pub suspended: bool,
    /// Chunks the current copy job started with (for its progress).
    pub job_total: u64,
    pub job_mode: CopyMode,
    /// The last 25 % progress mark published.
    pub milestone: u8,
}

impl Meta {
    /// Properties of a set outside any group, without overflow, not
    /// suspended and with no copy job yet.
    pub fn new(name: String, units: u32, delay: u32, mtime: u64) -> Meta {
        Meta {
            name,
            group: None,
            overflow: None,
            units,
            delay,
            mtime,
            suspended: false,
            job_total: 0,
            job_mode: CopyMode::Full,
            milestone: 0,
        }
    }
}

/// One set.
pub(crate) struct SetCore {
    /// Unique within the engine: tells sets of one master apart (a copy
    /// towards the master skips its own set's duties by it).
    pub id: u64,
    /// The shadow volume's canonical path; names the set.
    pub shadow_path: PathBuf,
    /// The bitmap volume's canonical path.
    pub bitmap_path: PathBuf,
    /// Independent (full copy) or dependent (copy-on-write).
    pub kind: SetKind,
    /// An imported shadow: it has no master volume and only tracks writes.
    pub imported: bool,
    /// The master and every set sharing it (for an imported set, a master
    /// without a volume, keyed by the shadow).
    pub master: Arc<Master>,
    /// The shadow volume.
    pub shadow: Arc<Volume>,
    /// The bitmap volume: header, shadow and copy bitmaps, compact index
    /// (FORMAT.md §1).
    pub bitmap: BitmapVol,
    /// Chunks of the master, and so bits in each bitmap.
    pub chunks: u64,
    /// `flags::*` bits, the same as the header's (read with [`SetCore::f`],
    /// change with [`SetCore::set_flags`] so the header follows).
    pub flags: AtomicU32,
    /// Shadow bitmap: chunks where master and shadow may differ since the
    /// point in time (written on either side).
    pub shadow_bits: Bits,
    /// Copy bitmap: chunks the running or interrupted copy still has to copy.
    pub copy_bits: Bits,
    /// Chunk map and allocator of a compact dependent shadow (smaller than
    /// its master); `None` for a full-size shadow.
    pub compact: Option<Mutex<Compact>>,
    /// Name, group, overflow, copy parameters and job progress.
    pub meta: Mutex<Meta>,
    /// The copy job's thread, stop request and waiters.
    pub job: Mutex<JobCtl>,
    /// Signalled, under `job`, when the copy job ends or its parameters
    /// change (a pausing copy wakes, waiters return).
    pub job_changed: Condvar,
    /// The set was disabled (or, imported, joined): its shadow devices
    /// refuse I/O from then on.
    pub disabled: AtomicBool,
    /// The engine's event bus, for state changes and errors found on the
    /// data path.
    pub events: Arc<Bus>,
    /// Bitmaps kept in memory while running (`SetSpec::volatile_bitmap`).
    pub volatile: bool,
    /// Volatile sets: the bitmap volume holds exactly the in-memory bitmaps
    /// and its header says CLEAN, so a crash now would lose nothing. The
    /// first bit change after a save writes the header DIRTY again.
    pub volatile_saved: AtomicBool,
}

/// Where a shadow chunk lives.
pub(crate) enum Loc {
    At(Arc<Volume>, u64),
    Missing,
}

impl SetCore {
    pub fn f(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    pub fn size(&self) -> u64 {
        self.master.size
    }

    pub fn shadow_loc(&self, c: u64) -> Loc {
        match &self.compact {
            None => Loc::At(self.shadow.clone(), c * CHUNK_SIZE),
            Some(m) => {
                let m = m.lock().unwrap();
                match m.map[c as usize] {
                    UNMAPPED => Loc::Missing,
                    e if e >= 0 => Loc::At(self.shadow.clone(), e as u64 * CHUNK_SIZE),
                    e => match &m.overflow {
                        Some(o) => Loc::At(o.vol.clone(), (-(e as i64)) as u64 * CHUNK_SIZE),
                        None => Loc::Missing,
                    },
                }
            }
        }
    }

    /// Reads part of shadow chunk `c` from where the shadow physically keeps it.
    pub fn read_shadow_phys(&self, c: u64, start: u64, dst: &mut [u8]) -> Result<()> {
        match self.shadow_loc(c) {
            Loc::At(v, o) => v.read_at(dst, o + start),
            Loc::Missing => Err(Error::io(
                &self.shadow_path,
                std::io::Error::other(format!(
                    "chunk {c} of compact shadow {} was lost when the shadow ran out of space; update the shadow to take a new point in time",
                    self.shadow_path.display()
                )),
            )),
        }
    }

    /// Copies master chunk `c` into the shadow (allocating for compact sets).
    /// Returns false when a compact shadow has no space.
    fn cow_to_shadow(
        self: &Arc<SetCore>,
        m: &Master,
        c: u64,
        copy_data: bool,
        pend: &mut Pending,
    ) -> Result<bool> {
        let loc = if let Some(cm) = &self.compact {
            let mut cm = cm.lock().unwrap();
            match cm.alloc(c) {
                None => return Ok(false),
                Some((e, fresh)) => {
                    if fresh {
                        pend.write_index_of(self, c);
                    }
                    if e < 0 && self.f() & flags::VOVERFLOW == 0 {
                        drop(cm);
                        self.set_flags(flags::VOVERFLOW, 0);
                        return self.cow_to_shadow(m, c, copy_data, pend);
                    }
                }
            }
            drop(cm);
            self.shadow_loc(c)
        } else {
            self.shadow_loc(c)
        };
        let Loc::At(v, o) = loc else { return Ok(false) };
        if copy_data {
            let mv = m.master_vol()?;
            let mut buf = vec![0u8; m.chunk_len(c) as usize];
            mv.read_at(&mut buf, c * CHUNK_SIZE)?;
            v.write_at(&buf, o)?;
            pend.sync_first(&v);
            crate::probe::cow_first_write();
        }
        Ok(true)
    }

    /// Copy-job helper: copy-on-write of one chunk into a compact shadow.
    pub fn cow_for_copy(self: &Arc<SetCore>, c: u64, pend: &mut Pending) -> Result<()> {
        let m = self.master.clone();
        if !self.cow_to_shadow(&m, c, true, pend)? {
            self.out_of_space(c);
        }
        Ok(())
    }

    /// Copies shadow chunk `c` over the master (sibling duties first).
    fn copy_to_master(self: &Arc<SetCore>, m: &Master, c: u64, pend: &mut Pending) -> Result<()> {
        let sets = m.sets.read().unwrap().clone();
        m.before_master_write(&sets, c, Some(self.id), pend);
        let mut buf = vec![0u8; m.chunk_len(c) as usize];
        self.read_shadow_phys(c, 0, &mut buf)?;
        let mv = m.master_vol()?;
        // Sibling copy-on-write data and bits must be durable before the
        // master chunk changes.
        std::mem::take(pend).commit()?;
        mv.write_at(&buf, c * CHUNK_SIZE)?;
        pend.sync_first(mv);
        Ok(())
    }

    /// This set's duty before master chunk `c` is overwritten (imaging.md §4.1).
    /// Failures do not fail the master write; they take the shadow offline.
    fn on_master_write(self: &Arc<SetCore>, m: &Master, c: u64, pend: &mut Pending) {
        let f = self.f();
        let r = (|| -> Result<()> {
            if f & (flags::COPYINGM | flags::COPYINGS) != 0 && self.copy_bits.get(c) {
                if f & flags::COPYINGM != 0 {
                    if !self.cow_to_shadow(m, c, true, pend)? {
                        self.out_of_space(c);
                    }
                } else {
                    // The master is about to take this set's shadow data; the
                    // siblings' copy-on-write must be durable first.
                    std::mem::take(pend).commit()?;
                    let mut buf = vec![0u8; m.chunk_len(c) as usize];
                    self.read_shadow_phys(c, 0, &mut buf)?;
                    let mv = m.master_vol()?;
                    mv.write_at(&buf, c * CHUNK_SIZE)?;
                    pend.sync_first(mv);
                }
                pend.clear_copy(self, c);
            } else if self.kind == SetKind::Dependent
                && !self.shadow_bits.get(c)
                && f & flags::SHDOFFLINE == 0
                && !self.cow_to_shadow(m, c, true, pend)?
            {
                self.out_of_space(c);
            }
            Ok(())
        })();
        if let Err(e) = r {
            self.go_offline(flags::SHDOFFLINE, &e);
        }
        if !self.shadow_bits.get(c) {
            pend.mark_shadow(self, c);
        }
    }

    fn out_of_space(&self, c: u64) {
        if self.f() & flags::OVERFLOW == 0 {
            self.set_flags(flags::OVERFLOW, 0);
            self.events.publish(EngineEvent::SetError {
                shadow: self.shadow_path.clone(),
                reason: format!(
                    "compact shadow {} ran out of space at chunk {c}; the master stays writable; attach a larger overflow volume and update the shadow",
                    self.shadow_path.display()
                ),
            });
        }
    }

    /// Applies bit changes of a volatile set in memory only; the first change
    /// after a save marks the header DIRTY (durably) before any bit moves.
    fn apply_volatile(&self, to_mark: &BTreeSet<u64>, to_clear: &BTreeSet<u64>) -> Result<()> {
        if self.volatile_saved.swap(false, Ordering::AcqRel) {
            self.bitmap
                .write_header(|h| h.lifecycle = bitmap::LIFE_DIRTY)?;
        }
        for &c in to_mark {
            self.shadow_bits.set(c);
        }
        for &c in to_clear {
            self.copy_bits.clear(c);
        }
        Ok(())
    }

    /// Writes a volatile set's bitmaps (and compact index) to the bitmap
    /// volume and marks its header CLEAN, with host I/O and copies held at
    /// the gate so the image is consistent. Persistent sets need nothing.
    pub fn save_volatile(&self) -> Result<()> {
        if !self.volatile {
            return Ok(());
        }
        let _g = self.master.gate.write().unwrap_or_else(|e| e.into_inner());
        if self.volatile_saved.load(Ordering::Acquire) {
            return Ok(());
        }
        // Data the bits describe first, as in the persistent write order.
        self.flush()?;
        if let Some(v) = &self.master.vol {
            v.sync()?;
        }
        if let Some(c) = &self.compact {
            let cm = c.lock().unwrap();
            self.bitmap.write_all_index(&cm.map)?;
        }
        self.bitmap
            .write_all_bits(Region::Shadow, &self.shadow_bits)?;
        self.bitmap.write_all_bits(Region::Copy, &self.copy_bits)?;
        let f = self.f();
        self.bitmap.write_header(|h| {
            h.lifecycle = bitmap::LIFE_CLEAN;
            h.flags = f;
        })?;
        self.volatile_saved.store(true, Ordering::Release);
        Ok(())
    }

    /// Marks a volume offline after an I/O failure.
    pub fn go_offline(&self, flag: u32, e: &Error) {
        if self.f() & flag == 0 {
            tracing::warn!(set = %self.shadow_path.display(), error = %e, "volume failed, set needs reset");
            self.set_flags(flag, 0);
            self.events.publish(EngineEvent::SetError {
                shadow: self.shadow_path.clone(),
                reason: format!("{e}; reset the set"),
            });
        }
    }

    /// Changes flags in memory and in the header (best effort on failure).
    pub fn set_flags(&self, set: u32, clear: u32) {
        let old = self.flags.fetch_or(set, Ordering::AcqRel);
        let _ = old;
        self.flags.fetch_and(!clear, Ordering::AcqRel);
        // Read the flags inside the header lock: the last header written then
        // carries the latest flags even when two threads race.
        if let Err(e) = self.bitmap.write_header(|h| h.flags = self.f()) {
            tracing::error!(set = %self.shadow_path.display(), error = %e, "cannot write bitmap header");
            self.flags.fetch_or(flags::BMPOFFLINE, Ordering::AcqRel);
        }
    }

    fn check_shadow_io(&self, what: &'static str) -> Result<()> {
        if self.disabled.load(Ordering::Acquire) {
            return Err(Error::PermissionDenied {
                path: self.shadow_path.clone(),
                reason: format!("{what} refused: the set was disabled; reopen the volume"),
            });
        }
        let f = self.f();
        if f & flags::SHDEXPORT != 0 {
            return Err(Error::PermissionDenied {
                path: self.shadow_path.clone(),
                reason: format!(
                    "{what} refused: the shadow is exported to another host; join it first"
                ),
            });
        }
        if f & (flags::SHDOFFLINE | flags::BMPOFFLINE) != 0 && what == "write" {
            return Err(Error::PermissionDenied {
                path: self.shadow_path.clone(),
                reason: "write refused: the shadow is offline; reset the set".into(),
            });
        }
        if f & (flags::SHDOFFLINE | flags::BMPOFFLINE) != 0 {
            return Err(Error::io(
                &self.shadow_path,
                std::io::Error::other(format!(
                    "{what} refused: the shadow is offline; reset the set"
                )),
            ));
        }
        Ok(())
    }

    /// A client read of the shadow (imaging.md §4.2).
    pub fn shadow_read(&self, buf: &mut [u8], off: u64) -> Result<()> {
        self.master.io_count.fetch_add(1, Ordering::Relaxed);
        self.check_shadow_io("read")?;
        let m = &self.master;
        let _g = m.gate.read().unwrap();
        let (c0, c1) = chunk_span(off, buf.len() as u64);
        let _l = m.lock_chunks(c0, c1);
        let f = self.f();
        let mut run: Option<(Arc<Volume>, u64, usize, usize)> = None; // coalesced segment
        let flush =
            |run: &mut Option<(Arc<Volume>, u64, usize, usize)>, buf: &mut [u8]| -> Result<()> {
                if let Some((v, o, b, n)) = run.take() {
                    v.read_at(&mut buf[b..b + n], o)?;
                }
                Ok(())
            };
        for (c, start, n, b) in pieces(off, buf.len() as u64) {
            // A chunk still to be copied towards the master is this shadow's
            // own data; one still to be copied towards the shadow is the
            // master's; an untouched dependent chunk is the master's.
            let pending = f & (flags::COPYINGM | flags::COPYINGS) != 0 && self.copy_bits.get(c);
            let from_master = !self.imported
                && if pending {
                    f & flags::COPYINGM != 0
                } else {
                    self.kind == SetKind::Dependent && !self.shadow_bits.get(c)
                };
            let (v, o) = if from_master {
                (m.master_vol()?.clone(), c * CHUNK_SIZE + start)
            } else {
                match self.shadow_loc(c) {
                    Loc::At(v, o) => (v, o + start),
                    Loc::Missing => {
                        flush(&mut run, buf)?;
                        return self.read_shadow_phys(c, start, &mut buf[b..b + n as usize]);
                    }
                }
            };
            match &mut run {
                Some((rv, ro, rb, rn))
                    if Arc::ptr_eq(rv, &v) && *ro + *rn as u64 == o && *rb + *rn == b =>
                {
                    *rn += n as usize;
                }
                _ => {
                    flush(&mut run, buf)?;
                    run = Some((v, o, b, n as usize));
                }
            }
        }
        flush(&mut run, buf)
    }

    /// A client write to the shadow (imaging.md §4.1).
    pub fn shadow_write(self: &Arc<SetCore>, buf: &[u8], off: u64, fua: bool) -> Result<()> {
        self.master.io_count.fetch_add(1, Ordering::Relaxed);
        self.check_shadow_io("write")?;
        let m = self.master.clone();
        let _g = m.gate.read().unwrap();
        let (c0, c1) = chunk_span(off, buf.len() as u64);
        let _l = m.lock_chunks(c0, c1);
        let f = self.f();
        let mut pend = Pending::default();
        let mut lost = None;
        for (c, _, _, _) in pieces(off, buf.len() as u64) {
            if self.imported {
                // no master: only tracking
            } else if f & (flags::COPYINGM | flags::COPYINGS) != 0 && self.copy_bits.get(c) {
                if f & flags::COPYINGM != 0 {
                    if !self.cow_to_shadow(&m, c, true, &mut pend)? {
                        self.out_of_space(c);
                        lost = Some(c);
                    }
                } else {
                    self.copy_to_master(&m, c, &mut pend)?;
                }
                pend.clear_copy(self, c);
            } else if self.kind == SetKind::Dependent
                && !self.shadow_bits.get(c)
                && !self.cow_to_shadow(&m, c, true, &mut pend)?
            {
                self.out_of_space(c);
                lost = Some(c);
            }
            if !self.shadow_bits.get(c) {
                pend.mark_shadow(self, c);
            }
        }
        pend.commit()?;
        if let Some(c) = lost {
            return Err(Error::io(
                &self.shadow_path,
                std::io::Error::other(format!(
                    "compact shadow has no space for chunk {c}; attach an overflow volume or update the shadow"
                )),
            ));
        }
        let mut vols: Vec<Arc<Volume>> = Vec::new();
        for (c, start, n, b) in pieces(off, buf.len() as u64) {
            match self.shadow_loc(c) {
                Loc::At(v, o) => {
                    v.write_at(&buf[b..b + n as usize], o + start)?;
                    if !vols.iter().any(|x| Arc::ptr_eq(x, &v)) {
                        vols.push(v);
                    }
                }
                Loc::Missing => return self.read_shadow_phys(c, 0, &mut []),
            }
        }
        if fua {
            for v in vols {
                v.sync()?;
            }
        }
        Ok(())
    }

    pub fn flush(&self) -> Result<()> {
        self.shadow.sync()?;
        if let Some(cm) = &self.compact {
            if let Some(o) = &cm.lock().unwrap().overflow {
                o.vol.sync()?;
            }
        }
        Ok(())
    }

    /// Publishes a state change if the derived state moved.
    pub fn note_state(&self, before: SetState) {
        let after = self.state();
        if after != before {
            self.events.publish(EngineEvent::SetModified {
                shadow: self.shadow_path.clone(),
                change: SetChange::State {
                    from: before,
                    to: after,
                },
            });
        }
    }

    pub fn state(&self) -> SetState {
        let f = self.f();
        let meta = self.meta.lock().unwrap();
        if f & flags::BMPOFFLINE != 0 {
            SetState::Offline
        } else if f & flags::OFFLINE != 0 {
            SetState::NeedsReset
        } else if f & flags::SHDEXPORT != 0 {
            SetState::Exported
        } else if self.imported {
            SetState::Imported
        } else if meta.suspended {
            SetState::Suspended
        } else if f & flags::COPYINGP != 0 {
            match meta.job_mode {
                CopyMode::Full => SetState::Copying,
                CopyMode::Update => SetState::Updating,
            }
        } else {
            SetState::Idle
        }
    }

    pub fn status(&self) -> Status {
        let f = self.f();
        if f & (flags::OFFLINE | flags::OVERFLOW) != 0 {
            Status::Error
        } else if (f & (flags::COPYINGM | flags::COPYINGS) != 0 && f & flags::COPYINGP == 0)
            || f & flags::VOVERFLOW != 0
        {
            Status::Degraded
        } else {
            Status::Normal
        }
    }

    pub fn percent_completed(&self) -> f32 {
        let f = self.f();
        if f & (flags::COPYINGM | flags::COPYINGS) == 0 {
            return 100.0;
        }
        let total = self.meta.lock().unwrap().job_total;
        if total == 0 {
            return 100.0;
        }
        let left = self.copy_bits.count().min(total);
        100.0 * (total - left) as f32 / total as f32
    }

    pub fn percent_synchronized(&self) -> f32 {
        if self.chunks == 0 {
            return 100.0;
        }
        let sibs = self.siblings_to_master();
        let mut maps = vec![&self.shadow_bits, &self.copy_bits];
        maps.extend(sibs.iter().map(|s| &s.copy_bits));
        let diff = Bits::count_union(&maps).min(self.chunks);
        100.0 * (self.chunks - diff) as f32 / self.chunks as f32
    }

    /// Other sets of this master with a copy towards the master pending:
    /// until their copy bits drain, the master reads their shadow there.
    pub fn siblings_to_master(&self) -> Vec<Arc<SetCore>> {
        self.master
            .sets
            .read()
            .unwrap()
            .iter()
            .filter(|s| s.id != self.id && s.f() & flags::COPYINGS != 0)
            .cloned()
            .collect()
    }

    /// Chunk `c` may differ between master and shadow.
    pub fn unsynchronized(&self, c: u64, sibs: &[Arc<SetCore>]) -> bool {
        self.shadow_bits.get(c) || self.copy_bits.get(c) || sibs.iter().any(|s| s.copy_bits.get(c))
    }

    pub fn info(&self) -> SetInfo {
        let f = self.f();
        let state = self.state();
        let status = self.status();
        let pc = self.percent_completed();
        let ps = self.percent_synchronized();
        let (shadow_chunks_used, overflow_used) = match &self.compact {
            Some(c) => {
                let c = c.lock().unwrap();
                (c.used(), c.overflow_used)
            }
            None => (0, 0),
        };
        // `job` before `meta`: the copy job's pause locks them in that order.
        let running = self.job.lock().unwrap().running;
        let meta = self.meta.lock().unwrap();
        SetInfo {
            shadow: self.shadow_path.clone(),
            master: if self.imported {
                PathBuf::from(format!("<{}>", self.shadow_path.display()))
            } else {
                self.master.path.clone()
            },
            bitmap: self.bitmap_path.clone(),
            name: meta.name.clone(),
            kind: self.kind,
            imported: self.imported,
            overflow: meta.overflow.clone(),
            group: meta.group.clone(),
            state,
            status,
            percent_completed: pc,
            percent_synchronized: ps,
            master_capacity: self.master.size,
            shadow_capacity: self.shadow.size,
            bitmap_capacity: self.bitmap.vol.size,
            copy_units: meta.units,
            copy_delay: meta.delay,
            flags: f,
            chunks: self.chunks,
            shadow_bits: self.shadow_bits.count(),
            copy_bits: self.copy_bits.count(),
            mtime: meta.mtime,
            compact: self.compact.is_some(),
            volatile_bitmap: self.volatile,
            shadow_chunks_total: self.shadow.size / CHUNK_SIZE,
            shadow_chunks_used,
            overflow_chunks_used: overflow_used,
            copy_active: running,
            copy_direction: if f & flags::COPYINGM != 0 {
                Some(Direction::ToShadow)
            } else if f & flags::COPYINGS != 0 {
                Some(Direction::ToMaster)
            } else {
                None
            },
        }
    }
}
