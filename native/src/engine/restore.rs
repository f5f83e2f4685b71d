//! Bringing a configured set back at open: its volumes, the header checked
//! against the configuration, the compact map, the bitmaps (distrusted when
//! volatile and not saved, offline when a page fails its checksum), and its
//! place among the engine's sets. Each step is its own function, run in the
//! order `restore_set` lists; a set that fails a step stays offline.

use super::{Engine, St};
use crate::bitmap::{self, BitmapVol, Geometry, Header, Region};
use crate::compact::Compact;
use crate::cowlog;
use crate::error::{Error, Result};
use crate::set::{Master, Meta, SetCore};
use crate::state::SetRecord;
use crate::types::*;
use crate::volume::Volume;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Engine {
    /// Brings back one configured set. Its header's new lifecycle and flags
    /// are pushed on `opened` and written by `open::mark_opened`, for all
    /// sets at once, before the engine is used.
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
        let paths = (shadow_path.as_path(), bitmap_path.as_path());
        let (h, geo) = check_header(&bvol, rec, &master, paths)?;
        // With `EngineConfig::cow_log`, a version 1 volume of a set that
        // qualifies gets its log now; the header saying so is written before
        // the engine is used. A volume with a log keeps it either way.
        let wants_log = self.inner.cfg.cow_log
            && rec.kind == SetKind::Dependent
            && !rec.imported
            && !rec.volatile_bitmap
            && h.flags & flags::TREEMAP == 0;
        let bv = BitmapVol::new(
            bvol.clone(),
            geo,
            h.clone().with_log(wants_log, bvol.size, &geo),
        );
        let cm = if h.flags & flags::TREEMAP != 0 {
            Some(load_compact_map(st, rec, &bv, &master, &shadow, paths)?)
        } else {
            None
        };
        let mut fl = h.flags & !(flags::COPYINGX);
        if rec.overflow.is_some() && cm.as_ref().is_some_and(|c| c.overflow.is_none()) {
            fl |= flags::OVROFFLINE;
        }
        let set = self.new_core(
            master.clone(),
            shadow_path.clone(),
            shadow,
            bitmap_path.clone(),
            bv,
            rec.kind,
            rec.imported,
            fl,
            cm,
            restored_meta(rec, &h),
            rec.volatile_bitmap,
        );
        self.load_bitmaps(&set, &h, &mut fl)?;
        set.flags.store(fl, Ordering::Release);
        if let Some(o) = set
            .compact
            .as_ref()
            .and_then(|c| c.lock().unwrap().overflow.clone())
        {
            o.state.lock().unwrap().sets.insert(shadow_path.clone());
        }
        set.meta.lock().unwrap().job_total = set.copy_bits.count();
        let lifecycle = start_lifecycle(&set, rec.suspended, fl);
        place_restored(st, &set)?;
        opened.push((set, lifecycle, fl));
        Ok(())
    }

    /// Loads the set's bitmaps. A volatile set that was not saved is
    /// distrusted (and says so on the bus); a page failing its checksum takes
    /// the bitmap offline; recovered or distrusted pages are written back.
    fn load_bitmaps(&self, set: &SetCore, h: &Header, fl: &mut u32) -> Result<()> {
        let rep = set.bitmap.load(
            &set.shadow_bits,
            &set.copy_bits,
            set.kind == SetKind::Independent,
        )?;
        let shadow_path = &set.shadow_path;
        if rep.bad_shadow_pages.is_empty() && h.log_slots > 0 && !set.volatile {
            recover_log(set, h)?;
        }
        if set.volatile && h.lifecycle != bitmap::LIFE_CLEAN {
            let outcome = distrust_volatile(set, fl);
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
            *fl |= flags::BMPOFFLINE;
        } else if rep.patched || set.volatile {
            // Recovered (or, for a volatile set, distrusted) pages were
            // patched in memory; write them back. Pages that loaded intact
            // are already what would be written.
            set.bitmap
                .write_all_bits(Region::Shadow, &set.shadow_bits)?;
            set.bitmap.write_all_bits(Region::Copy, &set.copy_bits)?;
        }
        Ok(())
    }
}

/// Applies the copy-on-write log's records of the header's epoch (FORMAT.md
/// §1.5), writes the shadow bitmap back if a bit came back, and voids the
/// records with a new epoch.
fn recover_log(set: &SetCore, h: &Header) -> Result<()> {
    let Some(log) = &set.bitmap.log else {
        return Ok(());
    };
    let recs = log.read_records(&set.bitmap.vol, h.log_epoch)?;
    if recs.is_empty() {
        return Ok(());
    }
    let m = &set.master;
    let r = cowlog::recover(
        &recs,
        &set.shadow_bits,
        set.chunks,
        |c| m.chunk_len(c),
        &set.shadow,
    )?;
    tracing::info!(set = %set.shadow_path.display(), records = recs.len(), set_again = r.set.len(), unfinished = r.unfinished.len(), "copy-on-write log replayed");
    if !r.set.is_empty() {
        set.bitmap
            .write_all_bits(Region::Shadow, &set.shadow_bits)?;
    }
    set.bitmap.new_log_epoch()
}

/// A restored set's bitmap volume cannot be used: the set stays offline.
fn bitmap_unusable((shadow_path, bitmap_path): (&Path, &Path), why: String) -> Error {
    Error::wrong_state(
        shadow_path,
        "offline",
        format!(
            "bitmap volume {}: {why}; disable and re-enable the set",
            bitmap_path.display()
        ),
    )
}

/// Reads the header and checks it against the configuration: valid, not
/// invalidated by a disable, naming the same volumes, and with the geometry
/// of the master's size. Returns it with that geometry.
fn check_header(
    bvol: &Volume,
    rec: &SetRecord,
    master: &Master,
    paths: (&Path, &Path),
) -> Result<(Header, Geometry)> {
    let (shadow_path, bitmap_path) = paths;
    let bad = |why: &str| bitmap_unusable(paths, why.into());
    let h = bitmap::read_header(bvol)?.ok_or_else(|| bad("no valid header"))?;
    if h.lifecycle == bitmap::LIFE_INVALID {
        return Err(bad("header marked invalid (set was disabled)"));
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
        return Err(bad("names in the header do not match the configuration"));
    }
    let geo = Geometry::new(master.chunks(), h.flags & flags::TREEMAP != 0);
    if h.chunks != master.chunks()
        || h.bmp_pages as u64 != geo.bmp_pages
        || h.index_pages as u64 != geo.index_pages
    {
        return Err(bad("geometry does not match the master size"));
    }
    Ok((h, geo))
}

/// A compact set's chunk map from its index pages, with the overflow volume
/// the configuration names (if it could be opened) and the free list and
/// overflow claims rebuilt from the map.
fn load_compact_map(
    st: &St,
    rec: &SetRecord,
    bv: &BitmapVol,
    master: &Master,
    shadow: &Volume,
    paths: (&Path, &Path),
) -> Result<Compact> {
    let mut c = Compact::new(master.chunks(), shadow.size / CHUNK_SIZE);
    let bad_idx = bv.load_index(&mut c.map)?;
    if !bad_idx.is_empty() {
        return Err(bitmap_unusable(
            paths,
            format!("compact index pages {bad_idx:?} fail their checksum"),
        ));
    }
    if let Some(o) = &rec.overflow {
        c.overflow = st.overflows.get(o).cloned();
    }
    c.rebuild();
    Ok(c)
}

/// The set's properties from its record and header; copy parameters out of
/// range (an older or damaged header) fall back to the defaults.
fn restored_meta(rec: &SetRecord, h: &Header) -> Meta {
    let units = if (MIN_COPY_UNITS..=MAX_COPY_UNITS).contains(&h.units) {
        h.units
    } else {
        DEFAULT_COPY_UNITS
    };
    let delay = if (MIN_COPY_DELAY..=MAX_COPY_DELAY).contains(&h.delay) {
        h.delay
    } else {
        DEFAULT_COPY_DELAY
    };
    Meta {
        group: rec.group.clone(),
        overflow: rec.overflow.clone(),
        suspended: rec.suspended,
        ..Meta::new(rec.name.clone(), units, delay, h.mtime)
    }
}

/// The lifecycle the header gets at open. A volatile set's bitmaps were
/// just written back whole: it starts saved, CLEAN until its first bit
/// changes; a suspended set stays CLEAN; any other set runs DIRTY.
fn start_lifecycle(set: &SetCore, suspended: bool, fl: u32) -> u32 {
    let saved = set.volatile && fl & flags::BMPOFFLINE == 0;
    set.volatile_saved.store(saved, Ordering::Release);
    if suspended || saved {
        bitmap::LIFE_CLEAN
    } else {
        bitmap::LIFE_DIRTY
    }
}

/// Adds the set to its master and to the engine's sets. An exported set and
/// a local import of its shadow share the key: the import is the active
/// one, the exported set waits in `parked`. The same shadow twice is an
/// error in the configuration.
fn place_restored(st: &mut St, set: &Arc<SetCore>) -> Result<()> {
    let shadow_path = &set.shadow_path;
    let park = match st.sets.get(shadow_path) {
        None => false,
        Some(other) if other.imported && !set.imported => true,
        Some(other) if set.imported && !other.imported => {
            let other = other.clone();
            st.sets.remove(shadow_path);
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
    set.master.sets.write().unwrap().push(set.clone());
    if park {
        st.parked.insert(shadow_path.clone(), set.clone());
    } else {
        st.sets.insert(shadow_path.clone(), set.clone());
    }
    Ok(())
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
        set.shadow_bits.fill();
        "every chunk is marked for update; update the shadow to synchronize it"
    }
}
