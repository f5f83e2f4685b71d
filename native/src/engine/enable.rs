//! Enabling a set (`iiadm -e`): resolving and checking its three volumes,
//! writing a fresh bitmap volume, recording the set in the configuration and
//! starting an independent set's initial copy. Each step is its own function,
//! run in the order `enable_set` lists; the checks come before anything is
//! written, so a refused enable leaves every volume as it was.

use super::groups::{check_group_accepts, group_not_found};
use super::jobs::check_copy_params;
use super::overflows::overflow_not_found;
use super::sets::validate_set_name;
use super::{now, set_subject, Engine, St};
use crate::bitmap::{self, BitmapVol, Geometry, Header, Region};
use crate::compact::Compact;
use crate::copy;
use crate::error::{Error, Result};
use crate::overflow::Overflow;
use crate::set::{Master, Meta, SetCore};
use crate::types::*;
use crate::volume::Volume;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The canonical paths of a new set's three volumes.
struct SetPaths {
    master: PathBuf,
    shadow: PathBuf,
    bitmap: PathBuf,
}

/// The values of a spec that enable checks before touching anything.
struct CheckedSpec {
    name: String,
    delay: u32,
    units: u32,
}

impl Engine {
    /// Enables a set (`iiadm -e`). Copy parameters given in the spec are in
    /// the header and in force before an independent set's initial copy
    /// starts, so its first burst already honours them.
    pub fn enable_set(&self, spec: SetSpec) -> Result<SetInfo> {
        let mut st = self.st();
        let sh = &spec.shadow;
        let paths = self.resolve_set_paths(&spec)?;
        let checked = check_spec(&st, &spec, &paths)?;
        Self::check_volumes_free(&mut st, &paths, sh)?;
        // A client left on the volume from an earlier set would see it
        // change under it.
        self.refuse_clients(sh, &paths.shadow, "enable")?;
        let overflow = self.overflow_of_spec(&st, &spec)?;
        let master = Self::master_for(&mut st, &paths.master)?;
        check_master_takes_set(&master, &paths.master, sh)?;
        let shadow = Arc::new(Volume::open(&paths.shadow)?);
        let bvol = Arc::new(Volume::open(&paths.bitmap)?);
        check_not_empty(&master, &shadow, &bvol, sh)?;
        let compact = check_shadow_fits(&spec, &paths, &master, &shadow, overflow.is_some())?;
        let geo = Geometry::new(master.chunks(), compact);
        bitmap::check_size(&bvol, &geo, sh)?;
        let fl = initial_flags(spec.kind, compact, shadow.size != master.size);
        let mtime = now();
        // With `EngineConfig::cow_log`, a persistent, full-size dependent
        // shadow gets a copy-on-write log when its bitmap volume has room
        // (FORMAT.md §1.5).
        let wants_log = self.inner.cfg.cow_log
            && spec.kind == SetKind::Dependent
            && !compact
            && !spec.volatile_bitmap;
        let header = new_header(
            &spec, &paths, &checked, &master, &shadow, &overflow, geo, fl, mtime,
        )
        .with_log(wants_log, bvol.size, &geo);
        let cm = compact.then(|| {
            let mut c = Compact::new(geo.chunks, shadow.size / CHUNK_SIZE);
            c.overflow = overflow.clone();
            c
        });
        let meta = Meta {
            group: spec.group.clone(),
            overflow: overflow.as_ref().map(|o| o.vol.path.clone()),
            ..Meta::new(checked.name, checked.units, checked.delay, mtime)
        };
        let set = self.new_core(
            master.clone(),
            paths.shadow.clone(),
            shadow,
            paths.bitmap,
            BitmapVol::new(bvol, geo, header),
            spec.kind,
            false,
            fl,
            cm,
            meta,
            spec.volatile_bitmap,
        );
        write_new_bitmaps(&set)?;
        self.register_new_set(&mut st, &set)?;
        self.start_new_set(&set, &spec, overflow.as_ref(), compact);
        Ok(set.info())
    }

    /// Resolves the spec's volumes under the roots; they must be three.
    fn resolve_set_paths(&self, spec: &SetSpec) -> Result<SetPaths> {
        let sh = &spec.shadow;
        let shadow = self.resolve_in(&spec.shadow, "shadow", sh)?;
        let master = self.resolve_in(&spec.master, "master", sh)?;
        let bitmap = self.resolve_in(&spec.bitmap, "bitmap", sh)?;
        if shadow == master || shadow == bitmap || master == bitmap {
            return Err(Error::invalid(
                set_subject(sh),
                format!(
                    "master {}, shadow {} and bitmap {} must be three different volumes",
                    master.display(),
                    shadow.display(),
                    bitmap.display()
                ),
            ));
        }
        Ok(SetPaths {
            master,
            shadow,
            bitmap,
        })
    }

    /// Refuses volumes another set, an overflow or a plain client handle
    /// uses; a master may be shared with other sets.
    fn check_volumes_free(st: &mut St, paths: &SetPaths, sh: &Path) -> Result<()> {
        if let Some(role) = Self::role_of(st, &paths.shadow) {
            return Err(if role.starts_with("shadow of") {
                Error::AlreadyExists {
                    kind: "set",
                    name: paths.shadow.display().to_string(),
                    cause: "the shadow volume is already configured; use another shadow or disable that set".into(),
                }
            } else {
                Error::in_use(
                    &paths.shadow,
                    role,
                    format!(
                        "cannot be the shadow of set {}; choose another volume",
                        sh.display()
                    ),
                )
            });
        }
        if let Some(role) = Self::role_of(st, &paths.bitmap) {
            return Err(Error::in_use(
                &paths.bitmap,
                role,
                format!(
                    "cannot be the bitmap of set {}; choose another volume",
                    sh.display()
                ),
            ));
        }
        if let Some(role) = Self::role_of(st, &paths.master) {
            // A mirror's primary, local secondary or target may be a master
            // too (a protect snapshot is such a set; sessions chain targets
            // into point-in-time copies).
            if !role.starts_with("master of")
                && !role.starts_with("primary of mirror")
                && !role.starts_with("secondary of mirror")
                && !role.starts_with("mirror target of")
            {
                return Err(Error::in_use(
                    &paths.master,
                    role,
                    format!(
                        "cannot be the master of set {}; choose another volume",
                        sh.display()
                    ),
                ));
            }
        }
        Self::check_no_plain_handle(st, &paths.shadow, sh)?;
        Self::check_no_plain_handle(st, &paths.bitmap, sh)
    }

    /// The initialised overflow volume the spec names, if any.
    fn overflow_of_spec(&self, st: &St, spec: &SetSpec) -> Result<Option<Arc<Overflow>>> {
        let Some(o) = &spec.overflow else {
            return Ok(None);
        };
        let op = self.resolve_in(o, "overflow", &spec.shadow)?;
        st.overflows
            .get(&op)
            .cloned()
            .map(Some)
            .ok_or_else(|| overflow_not_found(&op))
    }

    /// Puts the set in force: its master's copy-on-write covers it (under
    /// the gate), then the configuration records it. A failed save undoes
    /// both and marks the new bitmap volume invalid.
    fn register_new_set(&self, st: &mut St, set: &Arc<SetCore>) -> Result<()> {
        let master = &set.master;
        {
            let _g = master.gate.write().unwrap();
            master.sets.write().unwrap().push(set.clone());
        }
        st.sets.insert(set.shadow_path.clone(), set.clone());
        if let Err(e) = self.save(st) {
            st.sets.remove(&set.shadow_path);
            master
                .sets
                .write()
                .unwrap()
                .retain(|s| !Arc::ptr_eq(s, set));
            let _ = set
                .bitmap
                .write_header(|h| h.lifecycle = bitmap::LIFE_INVALID);
            return Err(e);
        }
        Ok(())
    }

    /// After the set exists for good: counts the overflow attach, starts an
    /// independent set's initial copy and announces the set.
    fn start_new_set(
        &self,
        set: &Arc<SetCore>,
        spec: &SetSpec,
        overflow: Option<&Arc<Overflow>>,
        compact: bool,
    ) {
        if let Some(o) = overflow {
            // Only once the set exists for good: counts the attach and syncs
            // the statistics page (a failed enable attaches nothing).
            o.attach(set.shadow_path.clone());
        }
        if spec.kind == SetKind::Independent {
            copy::start(set, Direction::ToShadow);
        }
        tracing::info!(set = %set.shadow_path.display(), kind = spec.kind.as_str(), compact, "set enabled");
        self.publish(EngineEvent::SetCreated {
            shadow: set.shadow_path.clone(),
        });
        if let Some(g) = &spec.group {
            self.publish(EngineEvent::GroupModified {
                name: g.clone(),
                old_name: None,
            });
        }
        if let Some(o) = overflow {
            self.publish(EngineEvent::OverflowModified {
                path: o.vol.path.clone(),
            });
        }
    }
}

/// Checks the spec's name, copy parameters and group before anything is
/// touched: out of range creates nothing.
fn check_spec(st: &St, spec: &SetSpec, paths: &SetPaths) -> Result<CheckedSpec> {
    let sh = &spec.shadow;
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| paths.shadow.to_string_lossy().into_owned());
    validate_set_name(&name, sh)?;
    let delay = spec.copy_delay.unwrap_or(DEFAULT_COPY_DELAY);
    let units = spec.copy_units.unwrap_or(DEFAULT_COPY_UNITS);
    check_copy_params(sh, delay, units)?;
    if let Some(g) = &spec.group {
        let gr = st.groups.get(g).ok_or_else(|| group_not_found(g))?;
        check_group_accepts(gr, spec.kind, &paths.shadow)?;
    }
    Ok(CheckedSpec { name, delay, units })
}

/// A master another set is copying to, or that is offline in another set,
/// takes no new set until that is over.
fn check_master_takes_set(master: &Master, master_p: &Path, sh: &Path) -> Result<()> {
    let sets = master.sets.read().unwrap();
    if let Some(s) = sets.iter().find(|s| s.f() & flags::COPYINGS != 0) {
        return Err(Error::busy(
            sh,
            format!("set {} is copying to master {}; wait for that copy (or finish it) before enabling another set on it", s.shadow_path.display(), master_p.display()),
        ));
    }
    if sets.iter().any(|s| s.f() & flags::MSTOFFLINE != 0) {
        return Err(Error::wrong_state(
            sh,
            "offline",
            format!(
                "master {} is offline in another set; reset that set first",
                master_p.display()
            ),
        ));
    }
    Ok(())
}

/// Refuses a volume of size 0 in any of the three roles.
fn check_not_empty(
    master: &Master,
    shadow: &Arc<Volume>,
    bvol: &Arc<Volume>,
    sh: &Path,
) -> Result<()> {
    for (v, role) in [
        (master.vol.as_ref().unwrap(), "master"),
        (shadow, "shadow"),
        (bvol, "bitmap"),
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
    Ok(())
}

/// Whether the set is compact (a dependent shadow smaller than its master),
/// after refusing an independent shadow that is too small and an overflow
/// volume for a set that is not compact.
fn check_shadow_fits(
    spec: &SetSpec,
    paths: &SetPaths,
    master: &Master,
    shadow: &Volume,
    with_overflow: bool,
) -> Result<bool> {
    let sh = &spec.shadow;
    let compact = spec.kind == SetKind::Dependent && shadow.size < master.size;
    if spec.kind == SetKind::Independent && shadow.size < master.size {
        return Err(Error::invalid(
            set_subject(sh),
            format!(
                "shadow too small: shadow {} has {} bytes, master {} has {}; an independent shadow must be at least as large as the master",
                paths.shadow.display(),
                shadow.size,
                paths.master.display(),
                master.size
            ),
        ));
    }
    if with_overflow && !compact {
        return Err(Error::wrong_state(sh, "not compact", "only a compact dependent set (shadow smaller than master) can use an overflow volume; enable without overflow"));
    }
    Ok(compact)
}

/// The flags a new set starts with: an independent set owes its whole
/// initial copy.
fn initial_flags(kind: SetKind, compact: bool, resized: bool) -> u32 {
    let mut fl = 0;
    if kind == SetKind::Independent {
        fl |= flags::GOLDEN | flags::COPYINGM | flags::COPYINGP;
    }
    if compact {
        fl |= flags::TREEMAP;
    }
    if resized {
        fl |= flags::RESIZED;
    }
    fl
}

/// The header of a new set's bitmap volume (FORMAT.md §1), DIRTY until the
/// bitmaps it describes are written.
#[allow(clippy::too_many_arguments)]
fn new_header(
    spec: &SetSpec,
    paths: &SetPaths,
    checked: &CheckedSpec,
    master: &Master,
    shadow: &Volume,
    overflow: &Option<Arc<Overflow>>,
    geo: Geometry,
    fl: u32,
    mtime: u64,
) -> Header {
    let compact = fl & flags::TREEMAP != 0;
    Header {
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
        units: checked.units,
        delay: checked.delay,
        mtime,
        master: paths.master.to_string_lossy().into_owned(),
        shadow: paths.shadow.to_string_lossy().into_owned(),
        bitmap: paths.bitmap.to_string_lossy().into_owned(),
        overflow: overflow
            .as_ref()
            .map(|o| o.vol.path.to_string_lossy().into_owned())
            .unwrap_or_default(),
        group: spec.group.clone().unwrap_or_default(),
        log_slots: 0,
        log_epoch: 0,
    }
}

/// Writes a new set's bitmaps (every chunk owed to an independent shadow)
/// and compact index, then the header that makes them valid. A volatile
/// set starts saved: the volume holds its bitmaps exactly.
fn write_new_bitmaps(set: &SetCore) -> Result<()> {
    if set.kind == SetKind::Independent {
        set.copy_bits.fill();
        set.meta.lock().unwrap().job_total = set.chunks;
    }
    set.bitmap
        .write_all_bits(Region::Shadow, &set.shadow_bits)?;
    set.bitmap.write_all_bits(Region::Copy, &set.copy_bits)?;
    if let Some(c) = &set.compact {
        set.bitmap.write_all_index(&c.lock().unwrap().map)?;
    }
    set.bitmap.write_header(|h| {
        if set.volatile {
            h.lifecycle = bitmap::LIFE_CLEAN;
        }
    })?;
    set.volatile_saved.store(set.volatile, Ordering::Release);
    Ok(())
}
