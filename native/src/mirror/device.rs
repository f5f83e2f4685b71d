//! One mirror in memory ([`MirrorCore`]) and its host write path
//! ([`MirrorDevice`], the outermost wrapper of the primary's device).
//!
//! Host write, in order: (1) under the mirror's chunk stripes, the
//! scoreboard bits of the chunks are set and their pages made durable (and,
//! when replicating, one in-flight count taken per chunk); (2) the local
//! write through the inner device (copy-on-write of sets on the primary
//! happens there); (3) when replicating, the write is queued to the group's
//! ordered queue before the stripes are released, so overlapping writes
//! leave in the order they landed; (4) in sync mode the writer waits for
//! the secondary's reply (at most `link_timeout`). A bit is cleared only
//! once no write of its chunk is in flight, the chunk is not waiting for a
//! running sync, and the mirror replicates (lazily, by the group's sender).

use super::group::GroupCore;
use super::queue::{Admit, Item, Op, Outcome, Pushed, Waiter};
use super::scoreboard::{Scoreboard, FL_FENCED, FL_FROZEN, FL_SPLIT};
use super::*;
use crate::bitmap::{page_of, Bits};
use crate::blockdev::BlockDevice;
use crate::error::{Error, Result};
use crate::events::Bus;
use crate::types::{EngineEvent, CHUNK_SIZE};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::SystemTime;

const STRIPES: usize = 256;
/// Chunks of an activity extent (1 MiB), marked together while replicating.
const EXTENT: u64 = 32;

/// What the engine does for a mirror that the mirror cannot do alone.
pub(crate) trait Hooks: Send + Sync {
    /// Takes the dependent snapshot of the secondary (`protectTarget`).
    fn protect(&self, m: &MirrorCore) -> Result<()>;
    /// Drops it once back in step.
    fn unprotect(&self, m: &MirrorCore);
    /// Opens a link to the secondary.
    fn connect(&self, m: &MirrorCore) -> Result<Arc<dyn MirrorLink>>;
}

/// Data-path bookkeeping, under one short lock.
#[derive(Default)]
pub(crate) struct Track {
    /// Host writes are carried to the secondary (replicating or syncing).
    pub replicating: bool,
    /// Writes in flight (queued or sent) per chunk.
    pub inflight: HashMap<u64, u32>,
    /// Chunks whose bit may be cleared (acknowledged or only pre-marked,
    /// nothing in flight); a new write of a chunk takes it out again.
    pub to_clear: HashSet<u64>,
    /// Writes and bytes queued or in flight.
    pub q_writes: u32,
    pub q_bytes: u64,
    /// The part of `q_writes`/`q_bytes` a sync job queued (not bounded by
    /// the host-write limits; the job paces itself).
    pub job_writes: u32,
    pub job_bytes: u64,
    /// Scoreboard pages written but not yet synced, by writers in `begin`.
    pub pending: HashMap<u64, u32>,
}

/// Management state of a mirror.
pub(crate) struct Ctl {
    pub state: MirrorState,
    pub mode: MirrorMode,
    pub options: MirrorOptions,
    pub link: Option<Arc<dyn MirrorLink>>,
    pub link_state: LinkState,
    pub last_error: Option<String>,
    pub when_synced: Option<SystemTime>,
    pub flags: u32,
    pub job: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    pub autosync: Option<Arc<AtomicBool>>,
    pub disabled: bool,
    /// A protect snapshot of the secondary exists.
    pub protected: bool,
}

/// One mirror.
pub(crate) struct MirrorCore {
    pub primary: PathBuf,
    /// The primary's own device (master or shadow of a set, or plain).
    pub local: Arc<dyn BlockDevice>,
    pub secondary: Secondary,
    pub scoreboard_path: PathBuf,
    pub sb: Scoreboard,
    pub size: u64,
    /// Chunks a running sync has still to copy.
    pub todo: Bits,
    stripes: Box<[Mutex<()>]>,
    pub track: Mutex<Track>,
    pub ctl: Mutex<Ctl>,
    pub changed: Condvar,
    pub group: Arc<GroupCore>,
    pub bus: Arc<Bus>,
    pub hooks: Arc<dyn Hooks>,
    /// The engine's device of a local secondary.
    pub local_secondary: Option<Arc<dyn BlockDevice>>,
    pub me: Weak<MirrorCore>,
}

/// Seconds since the epoch (0 for none).
pub(crate) fn secs(t: Option<SystemTime>) -> u64 {
    t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

impl MirrorCore {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        primary: PathBuf,
        local: Arc<dyn BlockDevice>,
        secondary: Secondary,
        scoreboard_path: PathBuf,
        sb: Scoreboard,
        ctl: Ctl,
        group: Arc<GroupCore>,
        bus: Arc<Bus>,
        hooks: Arc<dyn Hooks>,
        local_secondary: Option<Arc<dyn BlockDevice>>,
    ) -> Arc<MirrorCore> {
        let size = local.size();
        let chunks = sb.chunks;
        Arc::new_cyclic(|me| MirrorCore {
            primary,
            local,
            secondary,
            scoreboard_path,
            sb,
            size,
            todo: Bits::new(chunks),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            track: Mutex::new(Track::default()),
            ctl: Mutex::new(ctl),
            changed: Condvar::new(),
            group,
            bus,
            hooks,
            local_secondary,
            me: me.clone(),
        })
    }

    pub fn arc(&self) -> Arc<MirrorCore> {
        self.me.upgrade().expect("mirror alive while used")
    }

    pub fn ctl(&self) -> MutexGuard<'_, Ctl> {
        self.ctl.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn track(&self) -> MutexGuard<'_, Track> {
        self.track.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn chunks(&self) -> u64 {
        self.sb.chunks
    }

    /// Locks the stripes of chunks `c0..=c1` in ascending order.
    pub fn lock_chunks(&self, c0: u64, c1: u64) -> Vec<MutexGuard<'_, ()>> {
        crate::set::lock_stripes(&self.stripes, c0, c1)
    }

    /// Marks the mirror going away: autosync and any job are told to stop;
    /// returns the job's thread to join.
    pub fn retire(&self) -> Option<JoinHandle<()>> {
        let mut c = self.ctl();
        c.disabled = true;
        if let Some(a) = &c.autosync {
            a.store(true, Ordering::Release);
        }
        c.job.take().map(|(stop, h)| {
            stop.store(true, Ordering::Release);
            h
        })
    }

    pub fn replicating(&self) -> bool {
        self.track().replicating
    }

    /// Switches carrying writes on or off. Off: chunks already known equal
    /// (acknowledged or only pre-marked, nothing in flight) are cleared
    /// first, so logging starts from the true differences.
    pub fn set_replicating(&self, on: bool) {
        let mut pages = BTreeSet::new();
        {
            let mut t = self.track();
            if !on && t.replicating {
                for c in std::mem::take(&mut t.to_clear) {
                    if !t.inflight.contains_key(&c) && !self.todo.get(c) && self.sb.bits.clear(c) {
                        pages.insert(page_of(c));
                    }
                }
            }
            t.replicating = on;
            if !on {
                t.to_clear.clear();
            }
        }
        if !pages.is_empty() {
            if let Err(e) = self.sb.write_pages(&pages, false) {
                tracing::warn!(mirror = %self.primary.display(), error = %e, "cannot write cleared scoreboard bits");
            }
        }
    }

    pub fn link_timeout(&self) -> std::time::Duration {
        self.ctl().options.link_timeout
    }

    pub fn current_link(&self) -> Option<Arc<dyn MirrorLink>> {
        self.ctl().link.clone()
    }

    pub fn queue_has_room(&self, len: u64) -> bool {
        let (w, b) = {
            let c = self.ctl();
            (c.options.queue_writes, c.options.queue_bytes)
        };
        let t = self.track();
        let (hw, hb) = (t.q_writes - t.job_writes, t.q_bytes - t.job_bytes);
        hw == 0 || (hw < w && hb + len <= b)
    }

    pub fn queue_add(&self, len: u64, job: bool) {
        let mut t = self.track();
        t.q_writes += 1;
        t.q_bytes += len;
        if job {
            t.job_writes += 1;
            t.job_bytes += len;
        }
    }

    /// Sets the bits of `c0..=c1` (durable before return) and, when the
    /// mirror replicates, takes one in-flight count per chunk. Returns
    /// whether the write is to be carried to the secondary.
    ///
    /// While replicating, the rest of the write's 1 MiB extent is marked
    /// with it (an activity extent: the next writes there need no sync;
    /// the extra bits are cleared lazily like acknowledged ones). A bit
    /// another writer set whose page is not durable yet makes this writer
    /// write and sync that page too.
    pub fn begin(&self, c0: u64, c1: u64) -> Result<bool> {
        let mut pages = BTreeSet::new();
        let replicate = {
            let mut t = self.track();
            let r = t.replicating;
            for c in c0..=c1 {
                t.to_clear.remove(&c);
                if r {
                    *t.inflight.entry(c).or_default() += 1;
                }
                if self.sb.bits.set(c) || t.pending.contains_key(&page_of(c)) {
                    pages.insert(page_of(c));
                }
            }
            if r {
                let e0 = c0 / EXTENT * EXTENT;
                let e1 = ((c1 / EXTENT + 1) * EXTENT).min(self.chunks());
                for c in (e0..c0).chain(c1 + 1..e1) {
                    if self.sb.bits.set(c) {
                        pages.insert(page_of(c));
                        t.to_clear.insert(c);
                    }
                }
            }
            for p in &pages {
                *t.pending.entry(*p).or_default() += 1;
            }
            r
        };
        if !pages.is_empty() {
            let res = self.sb.write_pages(&pages, true);
            {
                let mut t = self.track();
                for p in &pages {
                    if let Some(n) = t.pending.get_mut(p) {
                        *n -= 1;
                        if *n == 0 {
                            t.pending.remove(p);
                        }
                    }
                }
            }
            if let Err(e) = res {
                if replicate {
                    self.finish_write(c0, c1, 0, false, false);
                }
                self.fail(&format!("scoreboard write failed: {e}"));
                return Err(e);
            }
        }
        Ok(replicate)
    }

    /// A sync job takes chunks `c0..=c1` off its list and holds one
    /// in-flight count on each; `false` once the mirror stopped replicating.
    pub fn take_for_sync(&self, c0: u64, c1: u64) -> bool {
        let mut t = self.track();
        if !t.replicating {
            return false;
        }
        for c in c0..=c1 {
            self.todo.clear(c);
            t.to_clear.remove(&c);
            *t.inflight.entry(c).or_default() += 1;
        }
        true
    }

    /// A write left the queue (acknowledged or not): releases its counts;
    /// acknowledged chunks with nothing else pending become clearable.
    /// `len == 0` marks a write that never entered the queue's bounds.
    pub fn finish_write(&self, c0: u64, c1: u64, len: u64, acked: bool, job: bool) {
        let mut t = self.track();
        if len > 0 || acked {
            t.q_writes = t.q_writes.saturating_sub(1);
            t.q_bytes = t.q_bytes.saturating_sub(len);
            if job {
                t.job_writes = t.job_writes.saturating_sub(1);
                t.job_bytes = t.job_bytes.saturating_sub(len);
            }
        }
        for c in c0..=c1 {
            let left = match t.inflight.get_mut(&c) {
                Some(n) => {
                    *n -= 1;
                    *n
                }
                None => continue,
            };
            if left == 0 {
                t.inflight.remove(&c);
                if acked && t.replicating && !self.todo.get(c) {
                    t.to_clear.insert(c);
                }
            }
        }
        drop(t);
        self.changed.notify_all();
    }

    /// Clears the bits of acknowledged chunks (pages written; synced when
    /// `sync`).
    pub fn flush_clears(&self, sync: bool) {
        let mut pages = BTreeSet::new();
        {
            let mut t = self.track();
            let list = std::mem::take(&mut t.to_clear);
            if !t.replicating {
                return;
            }
            for c in list {
                if !t.inflight.contains_key(&c) && !self.todo.get(c) && self.sb.bits.clear(c) {
                    pages.insert(page_of(c));
                }
            }
        }
        if !pages.is_empty() {
            if let Err(e) = self.sb.write_pages(&pages, sync) {
                tracing::warn!(mirror = %self.primary.display(), error = %e, "cannot write cleared scoreboard bits");
            }
            self.changed.notify_all();
        }
    }

    /// Writes and waits for the host write path (see the module doc).
    pub fn host_write(&self, buf: &[u8], off: u64, fua: bool) -> Result<()> {
        self.check_writable()?;
        let c0 = off / CHUNK_SIZE;
        let c1 = (off + buf.len() as u64 - 1) / CHUNK_SIZE;
        let stripes = self.lock_chunks(c0, c1);
        let replicate = self.begin(c0, c1)?;
        if let Err(e) = self.local.write_at(buf, off, fua) {
            if replicate {
                self.finish_write(c0, c1, 0, false, false);
            }
            return Err(e);
        }
        if !replicate {
            return Ok(());
        }
        let (mode, full) = {
            let c = self.ctl();
            (c.mode, c.options.queue_full)
        };
        let waiter = (mode == MirrorMode::Sync).then(Waiter::new);
        let item = Item {
            m: self.arc(),
            op: Op::Write {
                off,
                data: buf.to_vec(),
                fua,
            },
            c0,
            c1,
            waiter: waiter.clone(),
            job: false,
        };
        let admit = if mode == MirrorMode::Sync || full == QueueFull::Block {
            Admit::Block
        } else {
            Admit::NoBlock
        };
        match self.group.queue.push(item, admit) {
            Pushed::Queued => {}
            Pushed::Dropped => return self.after_drop(),
            Pushed::Full => {
                drop(stripes);
                self.group.drop_to_logging(
                    &format!(
                        "async queue of mirror {} full (noblock)",
                        self.primary.display()
                    ),
                    false,
                );
                return Ok(());
            }
        }
        drop(stripes);
        match waiter {
            Some(w) => self.await_remote(&w),
            None => Ok(()),
        }
    }

    /// Flushes the primary, and in sync mode the secondary too.
    pub fn host_flush(&self) -> Result<()> {
        self.local.flush()?;
        if !self.replicating() || self.ctl().mode != MirrorMode::Sync {
            return Ok(());
        }
        let w = Waiter::new();
        let item = Item {
            m: self.arc(),
            op: Op::Flush,
            c0: 0,
            c1: 0,
            waiter: Some(w.clone()),
            job: false,
        };
        self.group.queue.push(item, Admit::Block);
        self.await_remote(&w)
    }

    fn await_remote(&self, w: &Waiter) -> Result<()> {
        let t = self.link_timeout();
        let mut res = w.wait(t);
        // Queued behind other traffic on a link that answers: not lost.
        while res.is_none() && self.replicating() && self.group.queue.quiet_for() < t {
            res = w.wait(t);
        }
        match res {
            Some(Outcome::Acked) => Ok(()),
            Some(Outcome::Dropped) => self.after_drop(),
            Some(Outcome::Failed(e)) => {
                self.link_failed(&e);
                self.after_drop()
            }
            None => {
                self.link_failed(&format!(
                    "no reply from the secondary within the link timeout of {} ms",
                    self.link_timeout().as_millis()
                ));
                self.after_drop()
            }
        }
    }

    /// A write that was not carried: acknowledged (tracked) unless frozen.
    fn after_drop(&self) -> Result<()> {
        if self.ctl().flags & FL_FROZEN != 0 {
            return Err(self.frozen_error());
        }
        Ok(())
    }

    fn frozen_error(&self) -> Error {
        Error::io(
            &self.primary,
            std::io::Error::other(format!(
                "mirror of {} lost its link under the freeze policy; host writes fail until an operator acts (logging or sync)",
                self.primary.display()
            )),
        )
    }

    fn check_writable(&self) -> Result<()> {
        let c = self.ctl();
        if c.flags & FL_FENCED != 0 {
            return Err(Error::PermissionDenied {
                path: self.primary.clone(),
                reason: "the mirror's primary is fenced (role reversal); writes are refused".into(),
            });
        }
        if c.flags & FL_FROZEN != 0 {
            drop(c);
            return Err(self.frozen_error());
        }
        if matches!(
            c.state,
            MirrorState::ReverseSyncing | MirrorState::NeedReverseSync
        ) {
            return Err(Error::PermissionDenied {
                path: self.primary.clone(),
                reason: format!(
                    "the mirror is {}: the primary is being restored from the secondary; writes are refused",
                    state_name(c.state)
                ),
            });
        }
        Ok(())
    }

    /// Persists state and flags in the scoreboard header and tells
    /// subscribers.
    pub fn commit_ctl(&self, c: &Ctl) {
        if let Err(e) = self.sb.write_state(c.state, c.flags, secs(c.when_synced)) {
            tracing::error!(mirror = %self.primary.display(), error = %e, "cannot write the scoreboard header");
        }
        self.changed.notify_all();
        self.bus.publish(EngineEvent::MirrorModified {
            primary: self.primary.clone(),
        });
    }

    /// Leaves replicating/syncing (the caller purges the queue).
    pub fn enter_logging(&self, reason: &str, freeze: bool) {
        self.set_replicating(false);
        let mut c = self.ctl();
        if let Some((stop, _)) = &c.job {
            stop.store(true, Ordering::Release);
        }
        let before = (c.state, c.flags);
        // An interrupted forward sync leaves the secondary inconsistent.
        c.state = match c.state {
            MirrorState::Replicating => MirrorState::Logging,
            MirrorState::Syncing => MirrorState::NeedSync,
            s => s,
        };
        if freeze {
            c.flags |= FL_FROZEN;
        }
        if (c.state, c.flags) != before {
            c.last_error = Some(reason.to_string());
            tracing::warn!(mirror = %self.primary.display(), reason, "mirror drops to logging");
            self.commit_ctl(&c);
        }
    }

    /// The link failed: drop it, alert, drop the group per policy, retry
    /// with autosync.
    pub fn link_failed(&self, reason: &str) {
        let (policy, autosync, was_up) = {
            let mut c = self.ctl();
            let was_up = c.link.is_some();
            c.link = None;
            c.link_state = LinkState::Down;
            c.last_error = Some(reason.to_string());
            (c.options.link_policy, c.options.autosync, was_up)
        };
        if was_up {
            tracing::warn!(mirror = %self.primary.display(), reason, "mirror link lost");
            self.bus.publish(EngineEvent::MirrorAlert {
                primary: self.primary.clone(),
                link_lost: true,
                reason: reason.to_string(),
            });
            self.bus.publish(EngineEvent::MirrorModified {
                primary: self.primary.clone(),
            });
        }
        self.group
            .drop_to_logging(reason, policy == LinkPolicy::Freeze);
        if autosync {
            super::link::start_autosync(self);
        }
    }

    /// A failure an operator must look at (scoreboard volume gone).
    pub fn fail(&self, reason: &str) {
        self.set_replicating(false);
        let mut c = self.ctl();
        c.state = MirrorState::Failed;
        c.last_error = Some(reason.to_string());
        if let Some((stop, _)) = &c.job {
            stop.store(true, Ordering::Release);
        }
        self.commit_ctl(&c);
        drop(c);
        self.bus.publish(EngineEvent::MirrorAlert {
            primary: self.primary.clone(),
            link_lost: false,
            reason: reason.to_string(),
        });
        self.group.queue.purge();
    }

    pub fn info(&self) -> MirrorInfo {
        let c = self.ctl();
        let (q_writes, q_bytes) = {
            let t = self.track();
            (t.q_writes, t.q_bytes)
        };
        let dirty = self.sb.bits.count();
        let dirty_all = Bits::count_union(&[&self.sb.bits, &self.sb.peer]);
        let chunks = self.chunks().max(1);
        // The last chunk may be partial.
        let last = self.chunks().saturating_sub(1);
        let short = if self.sb.bits.get(last) || self.sb.peer.get(last) {
            self.chunks() * CHUNK_SIZE - self.size
        } else {
            0
        };
        let dirty_bytes = dirty_all * CHUNK_SIZE - short;
        let bytes_behind = if c.state == MirrorState::Replicating {
            q_bytes
        } else {
            dirty_bytes.max(q_bytes)
        };
        MirrorInfo {
            primary: self.primary.clone(),
            secondary: self.secondary.clone(),
            scoreboard: self.scoreboard_path.clone(),
            size: self.size,
            mode: c.mode,
            state: c.state,
            link: c.link_state,
            percent_synchronized: 100.0 * (chunks - dirty_all.min(chunks)) as f32 / chunks as f32,
            bytes_behind,
            queue_depth: q_writes,
            dirty_chunks: dirty,
            last_error: c.last_error.clone(),
            when_synchronized: c.when_synced,
            group: self.group.name.clone(),
            options: c.options.clone(),
        }
    }

    /// Replicating with nothing queued or in flight and no bits left.
    pub fn in_step(&self) -> bool {
        let t = self.track();
        t.replicating && t.q_writes == 0 && t.inflight.is_empty()
    }

    pub fn has_split(&self) -> bool {
        self.ctl().flags & FL_SPLIT != 0
    }
}

/// The state's name as shown to users.
pub fn state_name(s: MirrorState) -> &'static str {
    match s {
        MirrorState::Logging => "logging",
        MirrorState::Syncing => "syncing",
        MirrorState::Replicating => "replicating",
        MirrorState::ReverseSyncing => "reverse-syncing",
        MirrorState::NeedSync => "need-sync",
        MirrorState::NeedReverseSync => "need-reverse-sync",
        MirrorState::Failed => "failed",
    }
}

/// The primary's device as hosts see it: every write goes through the
/// mirror.
pub(crate) struct MirrorDevice(pub Arc<MirrorCore>);

impl BlockDevice for MirrorDevice {
    fn size(&self) -> u64 {
        self.0.local.size()
    }
    fn is_read_only(&self) -> bool {
        self.0.local.is_read_only()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.0.local.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64, fua: bool) -> Result<()> {
        if buf.is_empty()
            || offset
                .checked_add(buf.len() as u64)
                .is_none_or(|e| e > self.0.size)
        {
            // Let the inner device produce its range error.
            return self.0.local.write_at(buf, offset, fua);
        }
        self.0.host_write(buf, offset, fua)
    }
    fn flush(&self) -> Result<()> {
        self.0.host_flush()
    }
    fn trim(&self, offset: u64, len: u64) -> Result<()> {
        self.0.local.trim(offset, len)
    }
}
