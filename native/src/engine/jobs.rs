//! Copy jobs: the point-in-time switch of copy/update, abort, suspend,
//! resume, reset, waiting for a job and its copy parameters.

use super::{now, set_subject, Engine, St};
use crate::bitmap::{self, Region};
use crate::copy;
use crate::error::{Error, Result};
use crate::set::{Master, SetCore, Stop};
use crate::types::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Engine {
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
            set.shadow_bits.zero();
            set.copy_bits.zero();
            set.bitmap
                .write_all_bits(Region::Shadow, &set.shadow_bits)?;
            set.bitmap.write_all_bits(Region::Copy, &set.copy_bits)?;
            if let Some(c) = &set.compact {
                let mut c = c.lock().unwrap();
                c.reset();
                set.bitmap.write_all_index(&c.map)?;
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
            set.bitmap.write_header(|h| {
                h.flags = nf;
                h.mtime = mtime;
            })?;
            if full {
                set.copy_bits.fill();
            } else {
                set.copy_bits.or_from(&set.shadow_bits);
            }
            set.bitmap.write_all_bits(Region::Copy, &set.copy_bits)?;
            set.shadow_bits.zero();
            set.bitmap
                .write_all_bits(Region::Shadow, &set.shadow_bits)?;
            true
        };
        let _ = f;
        {
            let mut m = set.meta.lock().unwrap();
            m.mtime = mtime;
            m.job_total = set.copy_bits.count();
            m.job_mode = mode;
            m.milestone = 0;
        }
        let nf = set.f();
        set.bitmap.write_header(|h| {
            h.flags = nf;
            h.mtime = mtime;
        })?;
        set.note_state(before);
        Ok(job)
    }

    /// Validates, quiesces every member's master, switches every bitmap,
    /// releases, then starts the copies (imaging.md §6).
    pub(super) fn start_copies(
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
            if st.mirrors.contains_key(target.as_path()) {
                return Err(Error::in_use(
                    target,
                    "primary of mirror",
                    format!(
                        "{what} of set {} refused: the copy would bypass the mirror; disable the mirror first",
                        s.shadow_path.display()
                    ),
                ));
            }
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

    pub(super) fn abort_set(set: &Arc<SetCore>) {
        if set.job.lock().unwrap().running {
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

    pub(super) fn suspend_set(&self, st: &St, set: &Arc<SetCore>) -> Result<()> {
        if set.meta.lock().unwrap().suspended {
            return Ok(());
        }
        let before = set.state();
        copy::stop(set, Stop::Suspend);
        set.flush()?;
        set.save_volatile()?;
        set.meta.lock().unwrap().suspended = true;
        let f = set.f();
        set.bitmap.write_header(|h| {
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

    pub(super) fn resume_set(&self, st: &St, set: &Arc<SetCore>) -> Result<()> {
        if !set.meta.lock().unwrap().suspended {
            return Ok(());
        }
        let before = set.state();
        // A volatile set stays CLEAN until its first bit changes.
        if !set.volatile {
            set.bitmap
                .write_header(|h| h.lifecycle = bitmap::LIFE_DIRTY)?;
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
            set.shadow_bits.zero();
            let mut nf =
                f & !(flags::COPYING | flags::OFFLINE | flags::OVERFLOW | flags::VOVERFLOW);
            let mut job = None;
            if set.kind == SetKind::Dependent || set.imported || f & flags::SHDEXPORT != 0 {
                set.copy_bits.zero();
                if let Some(c) = &set.compact {
                    let mut c = c.lock().unwrap();
                    c.reset();
                    set.bitmap.write_all_index(&c.map)?;
                }
            } else {
                set.copy_bits.fill();
                if f & flags::SHDOFFLINE != 0 {
                    nf |= flags::COPYINGM | flags::COPYINGP;
                    job = Some(Direction::ToShadow);
                } else if f & flags::MSTOFFLINE != 0 {
                    nf |= flags::COPYINGS | flags::COPYINGP;
                    job = Some(Direction::ToMaster);
                }
            }
            set.flags.store(nf, Ordering::Release);
            set.volatile_saved.store(false, Ordering::Release);
            set.bitmap.write_header(|h| {
                h.lifecycle = bitmap::LIFE_DIRTY;
                h.flags = nf;
            })?;
            set.bitmap.write_all_bits(Region::Copy, &set.copy_bits)?;
            set.bitmap
                .write_all_bits(Region::Shadow, &set.shadow_bits)?;
            let mut meta = set.meta.lock().unwrap();
            meta.job_total = set.copy_bits.count();
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
        set.bitmap.write_header(|h| {
            h.delay = delay_ticks;
            h.units = units;
        })?;
        {
            // Under `job`, so a copy about to pause cannot miss the change.
            let _ctl = set.job.lock().unwrap();
            set.job_changed.notify_all();
        }
        self.publish(EngineEvent::SetModified {
            shadow: set.shadow_path.clone(),
            change: SetChange::Properties,
        });
        Ok(())
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

pub(super) fn wait_set(set: &SetCore, deadline: Option<Instant>) -> bool {
    let mut ctl = set.job.lock().unwrap();
    while ctl.running {
        match deadline {
            None => ctl = set.job_changed.wait(ctl).unwrap(),
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return false;
                }
                ctl = set.job_changed.wait_timeout(ctl, d - now).unwrap().0;
            }
        }
    }
    true
}

/// The range rules of imaging.md §7, shared by enable and `set_copy_params`.
pub(super) fn check_copy_params(shadow: &Path, delay_ticks: u32, units: u32) -> Result<()> {
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
