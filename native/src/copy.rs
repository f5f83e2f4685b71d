//! Background copy and update jobs: one std thread per running job, walking
//! the copy bitmap in ascending order and copying contiguous runs of marked
//! chunks (up to 4 MiB per I/O; single chunks for compact shadows), and a
//! second thread per job, the syncer, that makes copied runs durable while
//! the copy goes on.
//!
//! Durability: copied data is synced before the copy bits are cleared on
//! disk, in batches, so a crash only ever leaves chunks marked that were
//! already copied, never the reverse. The syncer takes whatever the copy
//! thread has queued (at least [`BATCH_BYTES`] unless the copy waits for
//! it), syncs target and source, then clears the batch's bits. The copy
//! thread waits for the queue to drain before every pause and at the end, and
//! stops copying ahead while [`AHEAD_BYTES`] wait for the syncer, which bounds
//! what a crash re-copies. Clearing happens under the master's exclusive
//! gate, so no host write can slip between "copy bit cleared" and "compact
//! chunk unmapped".

use crate::bitmap::{self, Region};
use crate::error::Result;
use crate::set::{Pending, SetCore, Stop};
use crate::types::*;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// Chunks per copy I/O (4 MiB).
const RUN: u64 = 128;
/// Bytes the syncer waits for before it syncs a batch (unless the copy thread
/// drains the queue). Syncing runs beside the copy, so the batch only sets
/// how often the journal commits; the disk writes back while the next batch
/// is copied.
const BATCH_BYTES: u64 = 64 << 20;
/// Copied bytes waiting for the syncer at most; the copy thread waits beyond
/// this. With the batch being synced, a crash re-copies at most about this
/// much more than one batch. Large, because a syncer that lags then takes
/// larger batches, and one large sync costs less per byte than several
/// small ones (2 GiB through CIM: 19 batches took 2.1 s of syncs, cp's one
/// `sync` of the same 2 GiB 0.8 s).
const AHEAD_BYTES: u64 = 1 << 30;

/// Starts the job thread (the caller has set the copy flags).
pub(crate) fn start(set: &Arc<SetCore>, dir: Direction) {
    let mut ctl = set.job.lock().unwrap();
    if ctl.running {
        return;
    }
    ctl.running = true;
    ctl.stop = None;
    let s = set.clone();
    let h = std::thread::Builder::new()
        .name("ii-copy".into())
        .spawn(move || run(s, dir))
        .expect("spawn copy thread");
    ctl.handle = Some(h);
}

/// Asks a running job to stop and waits for it.
pub(crate) fn stop(set: &SetCore, why: Stop) {
    let h = {
        let mut ctl = set.job.lock().unwrap();
        if ctl.running && ctl.stop.is_none() {
            ctl.stop = Some(why);
        }
        set.job_changed.notify_all();
        ctl.handle.take()
    };
    if let Some(h) = h {
        let _ = h.join();
    }
}

fn stop_requested(set: &SetCore) -> Option<Stop> {
    set.job.lock().unwrap().stop
}

/// Pauses after the burst that ended at `burst_end`, until a stop is
/// requested or `delay` ticks (read afresh on every wake-up, so new copy
/// parameters take effect at once) have passed since `burst_end`.
fn pause(set: &SetCore, burst_end: Instant) -> Option<Stop> {
    let mut ctl = set.job.lock().unwrap();
    loop {
        if ctl.stop.is_some() {
            return ctl.stop;
        }
        // Meta is locked inside `job` here; `set_copy_params` notifies under
        // `job`, so a change between this read and the wait is not missed.
        let delay = set.meta.lock().unwrap().delay;
        let deadline = burst_end + TICK * delay;
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        ctl = set.job_changed.wait_timeout(ctl, deadline - now).unwrap().0;
    }
}

fn run(set: Arc<SetCore>, dir: Direction) {
    let span = tracing::info_span!("copy_job", set = %set.shadow_path.display(), direction = ?dir);
    let _e = span.enter();
    tracing::info!(chunks = set.copy_bits.count(), "copy started");
    let outcome = copy_loop(&set, dir);
    let state_before_finish = set.state();
    let complete = match &outcome {
        Ok(None) => {
            let mut clear = flags::COPYINGP | flags::COPYINGM | flags::COPYINGS | flags::COPYINGX;
            if dir == Direction::ToMaster {
                if let Some(c) = &set.compact {
                    if c.lock().unwrap().overflow_used == 0 {
                        clear |= flags::VOVERFLOW;
                    }
                }
            }
            set.set_flags(0, clear);
            tracing::info!("copy finished");
            true
        }
        Ok(Some(Stop::Abort)) => {
            set.set_flags(0, flags::COPYINGP | flags::COPYINGX);
            tracing::info!(left = set.copy_bits.count(), "copy aborted");
            false
        }
        Ok(Some(_)) => {
            tracing::info!(left = set.copy_bits.count(), "copy paused");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "copy failed");
            set.set_flags(0, flags::COPYINGP | flags::COPYINGX);
            false
        }
    };
    if !matches!(outcome, Ok(Some(Stop::Shutdown))) {
        set.events.publish(EngineEvent::CopyFinished {
            shadow: set.shadow_path.clone(),
            direction: dir,
            complete,
        });
        set.note_state(state_before_finish);
    }
    {
        let mut ctl = set.job.lock().unwrap();
        ctl.running = false;
        set.job_changed.notify_all();
        for (_, w) in ctl.waiters.drain(..) {
            w.wake();
        }
    }
}

/// Copies until done (`Ok(None)`), stopped (`Ok(Some)`), or failed, with the
/// job's syncer beside it.
fn copy_loop(set: &Arc<SetCore>, dir: Direction) -> Result<Option<Stop>> {
    let syncer = Syncer::default();
    let span = tracing::Span::current();
    std::thread::scope(|sc| {
        let spawned = std::thread::Builder::new()
            .name("ii-copy-sync".into())
            .spawn_scoped(sc, || {
                let _e = span.enter();
                syncer.run(set, dir);
            });
        if let Err(e) = spawned {
            return Err(crate::error::Error::io(&set.shadow_path, e));
        }
        let outcome = copy_runs(set, dir, &syncer);
        // After an error the queued runs keep their bits: they are copied
        // again, which is always safe.
        syncer.close(outcome.is_err());
        outcome
    })
}

/// The copy thread's part of [`copy_loop`]: copies runs and queues them for
/// the syncer; waits for it before pausing or ending.
fn copy_runs(set: &Arc<SetCore>, dir: Direction, syncer: &Syncer) -> Result<Option<Stop>> {
    let chunks = set.chunks;
    let run_max = if set.compact.is_some() { 1 } else { RUN };
    let mut buf = vec![0u8; (run_max * CHUNK_SIZE) as usize];
    let mut files = if set.compact.is_none() {
        KernelCopy::open(set, dir)
    } else {
        None
    };
    let mut cursor = 0;
    let mut burst = 0u64;
    let mut io_seen = set.master.io_count.load(Ordering::Relaxed);
    loop {
        if let Some(s) = stop_requested(set) {
            syncer.drain()?;
            return Ok(Some(s));
        }
        let Some(start) = set.copy_bits.next_set(cursor) else {
            syncer.drain()?;
            // Chunks handled by host writes may have been skipped; done only
            // when no copy bit is left.
            if set.copy_bits.next_set(0).is_none() {
                return Ok(None);
            }
            cursor = 0;
            continue;
        };
        // A run never crosses the end of a burst: copyUnits counts chunks
        // (interface.md §7), not runs.
        let units_left = {
            let units = set.meta.lock().unwrap().units as u64;
            units.saturating_sub(burst).max(1)
        };
        let run_limit = run_max.min(units_left);
        let mut end = start + 1;
        while end < chunks && end - start < run_limit && set.copy_bits.get(end) {
            end += 1;
        }
        if let Err(e) = copy_run(set, dir, start, end, &mut buf, &mut files) {
            let flag = match dir {
                Direction::ToShadow => flags::SHDOFFLINE,
                Direction::ToMaster => flags::MSTOFFLINE,
            };
            set.go_offline(flag, &e);
            return Err(e);
        }
        syncer.push((start, end))?;
        burst += end - start;
        cursor = end;
        let (units, delay) = {
            let m = set.meta.lock().unwrap();
            (m.units as u64, m.delay)
        };
        if burst >= units {
            burst = 0;
            // The pause lets host I/O proceed; at the minimum delay it is
            // skipped when no host request reached these volumes during the
            // burst, so an uncontended copy runs at full speed. Larger delays
            // are always honoured.
            let io_now = set.master.io_count.load(Ordering::Relaxed);
            let idle = io_now == io_seen && delay <= MIN_COPY_DELAY;
            io_seen = io_now;
            if !idle {
                let burst_end = Instant::now();
                // Make progress durable before yielding.
                syncer.drain()?;
                if let Some(s) = pause(set, burst_end) {
                    return Ok(Some(s));
                }
            }
        }
    }
}

/// The queue between a job's copy thread and its syncer.
#[derive(Default)]
struct Syncer {
    q: Mutex<SyncQueue>,
    changed: Condvar,
}

#[derive(Default)]
struct SyncQueue {
    /// Copied runs not yet taken by the syncer.
    runs: Vec<(u64, u64)>,
    /// Their bytes.
    bytes: u64,
    /// The syncer is making a batch durable.
    busy: bool,
    /// The copy thread waits until everything queued is durable.
    draining: bool,
    /// The copy is over: the syncer ends once the queue is empty.
    closed: bool,
    /// The syncer failed; it takes nothing more.
    failed: Option<crate::error::Error>,
}

impl Syncer {
    fn lock(&self) -> std::sync::MutexGuard<'_, SyncQueue> {
        self.q.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a copied run; waits while too much waits already.
    fn push(&self, run: (u64, u64)) -> Result<()> {
        let mut q = self.lock();
        if let Some(e) = q.failed.take() {
            return Err(e);
        }
        q.runs.push(run);
        q.bytes += (run.1 - run.0) * CHUNK_SIZE;
        if q.bytes >= BATCH_BYTES && !q.busy {
            self.changed.notify_all();
        }
        while q.bytes >= AHEAD_BYTES && q.failed.is_none() {
            q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        match q.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Waits until every queued run is durable and its bits are cleared.
    fn drain(&self) -> Result<()> {
        let mut q = self.lock();
        q.draining = true;
        self.changed.notify_all();
        while (q.busy || !q.runs.is_empty()) && q.failed.is_none() {
            q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.draining = false;
        match q.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Ends the syncer; `discard` drops what is queued (its bits stay set).
    fn close(&self, discard: bool) {
        let mut q = self.lock();
        if discard {
            q.runs.clear();
            q.bytes = 0;
        }
        q.closed = true;
        self.changed.notify_all();
    }

    /// The syncer thread: syncs batches until closed and empty, or failed.
    fn run(&self, set: &Arc<SetCore>, dir: Direction) {
        let (mut batches, mut synced) = (0u64, 0u64);
        loop {
            let mut batch = {
                let mut q = self.lock();
                loop {
                    let ready = q.bytes >= BATCH_BYTES || q.draining || q.closed;
                    if !q.runs.is_empty() && ready {
                        break;
                    }
                    if q.closed {
                        tracing::debug!(batches, synced_bytes = synced, "syncer done");
                        return;
                    }
                    q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                q.busy = true;
                q.bytes = 0;
                // Wakes a copy thread held back by AHEAD_BYTES.
                self.changed.notify_all();
                std::mem::take(&mut q.runs)
            };
            let bytes: u64 = batch.iter().map(|(a, b)| (b - a) * CHUNK_SIZE).sum();
            let started = Instant::now();
            let r = flush(set, dir, &mut batch);
            if r.is_ok() {
                batches += 1;
                synced += bytes;
                tracing::trace!(bytes, took = ?started.elapsed(), "batch durable");
                progress(set);
            }
            let mut q = self.lock();
            q.busy = false;
            let failed = r.is_err();
            if let Err(e) = r {
                q.failed = Some(e);
            }
            self.changed.notify_all();
            if failed {
                return;
            }
        }
    }
}

/// Copies the still-marked chunks of `[a, b)` in direction `dir`.
fn copy_run(
    set: &Arc<SetCore>,
    dir: Direction,
    a: u64,
    b: u64,
    buf: &mut [u8],
    files: &mut Option<KernelCopy>,
) -> Result<()> {
    let m = &set.master;
    let _g = m.gate.read().unwrap();
    let _l = m.lock_chunks(a, b - 1);
    let mv = m.vol.as_ref().expect("copies need a master").clone();
    let mut c = a;
    while c < b {
        if !set.copy_bits.get(c) {
            c += 1;
            continue;
        }
        let mut e = c + 1;
        while e < b && set.copy_bits.get(e) {
            e += 1;
        }
        let off = c * CHUNK_SIZE;
        let len = (e * CHUNK_SIZE).min(m.size) - off;
        let data = &mut buf[..len as usize];
        match dir {
            Direction::ToShadow if files.is_some() => {
                files.as_mut().expect("checked").copy(off, len)?;
            }
            Direction::ToShadow => {
                mv.read_at(data, off)?;
                if set.compact.is_some() {
                    for (i, ch) in (c..e).enumerate() {
                        let mut pend = Pending::default();
                        set.cow_for_copy(ch, &mut pend)?;
                        pend.commit()?;
                        let _ = i;
                    }
                } else {
                    set.shadow.write_at(data, off)?;
                }
            }
            Direction::ToMaster => {
                let sets = m.sets.read().unwrap().clone();
                if sets.len() > 1 {
                    let mut pend = Pending::default();
                    for ch in c..e {
                        m.before_master_write(&sets, ch, Some(set.id), &mut pend);
                    }
                    pend.commit()?;
                }
                if let Some(k) = files.as_mut() {
                    k.copy(off, len)?;
                } else {
                    if set.compact.is_some() {
                        for ch in c..e {
                            let o = ((ch - c) * CHUNK_SIZE) as usize;
                            let n = m.chunk_len(ch) as usize;
                            set.read_shadow_phys(ch, 0, &mut data[o..o + n])?;
                        }
                    } else {
                        set.shadow.read_at(data, off)?;
                    }
                    mv.write_at(data, off)?;
                }
            }
        }
        c = e;
    }
    Ok(())
}

/// Makes the copied runs durable, then clears their copy bits on disk (and,
/// for compact shadow→master copies, unmaps the chunks).
fn flush(set: &Arc<SetCore>, dir: Direction, pending: &mut Vec<(u64, u64)>) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    // Both sides: the target holds the copies, and the source must not lose
    // (unflushed) host data that was copied, or master and shadow would
    // differ after a power loss while their bits say "synchronized".
    let _ = dir;
    set.flush()?;
    set.master.vol.as_ref().expect("master").sync()?;
    let m = &set.master;
    let _g = m.gate.write().unwrap();
    let mut pages = BTreeSet::new();
    let mut cleared = Vec::new();
    for (a, b) in pending.drain(..) {
        for c in a..b {
            if set.copy_bits.clear(c) {
                pages.insert(bitmap::page_of(c));
                cleared.push(c);
            }
        }
    }
    let pages: Vec<u64> = pages.into_iter().collect();
    set.bitmap
        .write_bits(Region::Copy, &set.copy_bits, &pages, true)?;
    if dir == Direction::ToMaster {
        if let Some(cm) = &set.compact {
            let mut cm = cm.lock().unwrap();
            let mut ipages = BTreeSet::new();
            for c in cleared {
                if !set.shadow_bits.get(c) {
                    cm.unmap(c);
                    ipages.insert(bitmap::index_page_of(c));
                }
            }
            let ipages: Vec<u64> = ipages.into_iter().collect();
            set.bitmap.write_index(&cm.map, &ipages)?;
        }
    }
    Ok(())
}

/// Publishes 25 % milestones.
fn progress(set: &SetCore) {
    let pc = set.percent_completed();
    let mark = ((pc as u8) / 25) * 25;
    let mut meta = set.meta.lock().unwrap();
    if mark > meta.milestone && mark < 100 {
        meta.milestone = mark;
        drop(meta);
        set.events.publish(EngineEvent::SetModified {
            shadow: set.shadow_path.clone(),
            change: SetChange::Progress { percent: mark },
        });
    }
}

/// In-kernel copying (`copy_file_range` through `std::io::copy`, with std's
/// own fallbacks) between job-private handles of the source and target, so
/// data does not pass through user space. The handles are private because
/// their file offsets are used; the shared volume handles only ever do
/// positioned I/O.
struct KernelCopy {
    src: std::fs::File,
    dst: std::fs::File,
    dst_path: std::path::PathBuf,
}

impl KernelCopy {
    fn open(set: &SetCore, dir: Direction) -> Option<KernelCopy> {
        let master = set.master.vol.as_ref()?.path.clone();
        let shadow = set.shadow.path.clone();
        let (src, dst) = match dir {
            Direction::ToShadow => (master, shadow),
            Direction::ToMaster => (shadow, master),
        };
        let s = std::fs::File::open(&src).ok()?;
        let d = std::fs::OpenOptions::new().write(true).open(&dst).ok()?;
        Some(KernelCopy {
            src: s,
            dst: d,
            dst_path: dst,
        })
    }

    fn copy(&mut self, off: u64, len: u64) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let r = (|| -> std::io::Result<()> {
            (&self.src).seek(SeekFrom::Start(off))?;
            (&self.dst).seek(SeekFrom::Start(off))?;
            let n = std::io::copy(&mut (&self.src).take(len), &mut &self.dst)?;
            if n != len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("copied {n} of {len} bytes at offset {off}"),
                ));
            }
            // Traced runs see kernel copies as plain writes.
            crate::storage::record_external_write(&self.dst_path, off, len)?;
            Ok(())
        })();
        r.map_err(|e| crate::error::Error::io(&self.dst_path, e))
    }
}
