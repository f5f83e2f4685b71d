//! Groups: membership, locking, and the group operations that act on every
//! member at one point in time.

use super::jobs::wait_set;
use super::{set_subject, Engine, St};
use crate::error::{Error, Result};
use crate::set::SetCore;
use crate::state::GroupRecord;
use crate::types::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Engine {
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
            s.bitmap.write_header(|h| h.group.clear())?;
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
            s.bitmap.write_header(|h| h.group = n)?;
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
        set.bitmap.write_header(|h| h.group = n)?;
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
        set.bitmap.write_header(|h| h.group.clear())?;
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
                let left = s.copy_bits.count().min(t);
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

pub(super) fn group_not_found(g: &str) -> Error {
    Error::NotFound {
        kind: "group",
        name: g.into(),
        hint: "create the group first or check its name".into(),
    }
}

fn group_locked(g: &str, what: &str) -> Error {
    Error::wrong_state(
        Path::new(g),
        "locked",
        format!("cannot {what} group {g} while it is locked; unlock it first"),
    )
}

pub(super) fn check_group_accepts(g: &GroupRecord, kind: SetKind, shadow: &Path) -> Result<()> {
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
