//! Moving a shadow between hosts: export, import (including taking over a
//! suspended exported set locally) and join, explicit or at resume.

use super::{now, set_subject, Engine, St};
use crate::bitmap::{self, BitmapVol, Bits, Geometry, Header, Region};
use crate::error::{Error, Result};
use crate::set::{Master, Meta, SetCore};
use crate::types::*;
use crate::volume::Volume;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Engine {
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
        let meta = Meta::new(
            shadow_p.to_string_lossy().into_owned(),
            DEFAULT_COPY_UNITS,
            DEFAULT_COPY_DELAY,
            mtime,
        );
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
        set.bitmap
            .write_all_bits(Region::Shadow, &set.shadow_bits)?;
        set.bitmap.write_all_bits(Region::Copy, &set.copy_bits)?;
        set.bitmap.write_header(|_| {})?;
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
                merge_shadow_bits(&set, &bits)?;
            }
            set.set_flags(0, flags::SHDEXPORT);
        }
        set.note_state(before);
        Ok(())
    }

    /// Joins the local import of shadow `key` into the parked exported set
    /// and makes that set active again. Order, for crash safety: the merged
    /// shadow bits are durable first, then the set's header (export flag
    /// cleared), then the configuration without the import, and only then is
    /// the import's bitmap marked invalid. A crash before the configuration
    /// is saved repeats the join at the next resume (OR is idempotent).
    pub(super) fn implicit_join(&self, st: &mut St, key: &Path) -> Result<()> {
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
            merge_shadow_bits(&set, &imp.shadow_bits)?;
            set.flags.fetch_and(!flags::SHDEXPORT, Ordering::AcqRel);
            let f = set.f();
            set.volatile_saved.store(false, Ordering::Release);
            set.bitmap.write_header(|h| {
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
            imp.disabled.store(true, Ordering::Release);
        }
        st.sets.insert(key.to_path_buf(), set.clone());
        st.parked.remove(key);
        set.meta.lock().unwrap().suspended = false;
        self.save(st)?;
        let _ = imp
            .bitmap
            .write_header(|h| h.lifecycle = bitmap::LIFE_INVALID);
        tracing::info!(set = %key.display(), import_bitmap = %imp.bitmap_path.display(), bits = set.shadow_bits.count(), "local import joined at resume");
        self.publish(EngineEvent::SetDeleted {
            shadow: key.to_path_buf(),
        });
        set.note_state(before);
        Ok(())
    }
}

/// ORs another bitmap's shadow bits (the importing host's, or a local
/// import's) into the set's, ignoring chunks beyond the set's size, and
/// writes the set's shadow bitmap durably. Called with the master's gate
/// held.
fn merge_shadow_bits(set: &SetCore, bits: &Bits) -> Result<()> {
    let mut c = 0;
    while let Some(n) = bits.next_set(c) {
        if n >= set.chunks {
            break;
        }
        set.shadow_bits.set(n);
        c = n + 1;
    }
    set.bitmap.write_all_bits(Region::Shadow, &set.shadow_bits)
}
