//! Overflow volumes: initialising, deleting and describing them, and
//! attaching them to and detaching them from compact dependent sets.

use super::{Engine, St};
use crate::error::{Error, Result};
use crate::overflow::Overflow;
use crate::types::*;
use crate::volume::Volume;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Engine {
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
        set.bitmap.write_header(|h| h.overflow = name)?;
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
            if c.overflow_used > 0 {
                return Err(Error::in_use(
                    &o.vol.path,
                    format!("overflow of {}", p.display()),
                    format!("overflow volume still in use: the set keeps {} chunk(s) there; update the shadow first", c.overflow_used),
                ));
            }
            c.overflow = None;
            o
        };
        set.meta.lock().unwrap().overflow = None;
        o.state.lock().unwrap().sets.remove(&p);
        set.bitmap.write_header(|h| h.overflow.clear())?;
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

fn join_paths(s: &std::collections::BTreeSet<PathBuf>) -> String {
    s.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn overflow_not_found(p: &Path) -> Error {
    Error::NotFound {
        kind: "overflow volume",
        name: p.display().to_string(),
        hint: "initialise it as an overflow volume first".into(),
    }
}
