//! Sets one at a time: enabling a new set, restoring a configured one at
//! open, disabling, renaming and describing sets.

use super::groups::{check_group_accepts, group_not_found};
use super::jobs::check_copy_params;
use super::overflows::overflow_not_found;
use super::{now, set_subject, Engine, St};
use crate::bitmap::{self, BitmapVol, Geometry, Header, Region};
use crate::copy;
use crate::error::{Error, Result};
use crate::set::{Compact, Master, Meta, SetCore, Stop};
use crate::state::SetRecord;
use crate::types::*;
use crate::volume::{probe_size, Volume};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Engine {
    /// Brings back one configured set. Its header's new lifecycle and flags
    /// are pushed on `opened` and written by `open::mark_opened`, for all sets at
    /// once, before the engine is used.
    pub(super) fn restore_set(
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

fn validate_set_name(name: &str, shadow: &Path) -> Result<()> {
    if name.is_empty() || name.len() > 1022 || name.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            set_subject(shadow),
            "a set name must be 1 to 1022 bytes without control characters",
        ));
    }
    Ok(())
}
