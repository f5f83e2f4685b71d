//! Sets one at a time once they exist: disabling, renaming and describing
//! them (a set that could not be restored is described as offline).

use super::{set_subject, Engine};
use crate::bitmap::{self};
use crate::copy;
use crate::error::{Error, Result};
use crate::set::Stop;
use crate::state::SetRecord;
use crate::types::*;
use crate::volume::probe_size;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Engine {
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
        if st.mirrors.contains_key(&set.shadow_path) {
            return Err(Error::in_use(
                &set.shadow_path,
                "primary of mirror",
                "disable of the set refused: its shadow is a mirror's primary; disable the mirror first",
            ));
        }
        let f = set.f();
        if set.kind == SetKind::Independent
            && f & flags::COPYINGP != 0
            && set.job.lock().unwrap().running
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
            set.disabled.store(true, Ordering::Release);
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
        let _ = set
            .bitmap
            .write_header(|h| h.lifecycle = bitmap::LIFE_INVALID);
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

pub(super) fn validate_set_name(name: &str, shadow: &Path) -> Result<()> {
    if name.is_empty() || name.len() > 1022 || name.chars().any(|c| c.is_control()) {
        return Err(Error::invalid(
            set_subject(shadow),
            "a set name must be 1 to 1022 bytes without control characters",
        ));
    }
    Ok(())
}
