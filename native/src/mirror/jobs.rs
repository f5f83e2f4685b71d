//! Sync jobs: full and update sync primary → secondary (while new writes
//! replicate) and reverse sync secondary → primary (host writes refused),
//! each on its own thread inside a `mirror_sync` tracing span.
//!
//! Forward: the chunks to copy (`todo`) are the scoreboard bits taken
//! *after* replication is switched on, so a chunk is either in `todo` or
//! its writes are carried. Each run of up to 1 MiB is read under the
//! mirror's chunk stripes and queued like a host write (same ordered
//! queue, so a later host write to it lands after it); a flush barrier
//! ends the job. A bit is cleared only after the copy's reply.
//!
//! Reverse: runs are read from the secondary and written through the
//! primary's device (copy-on-write of sets on the primary applies); every
//! 64 MiB and at the end the primary is flushed before the bits of the
//! restored chunks are cleared.

use super::device::{secs, state_name, MirrorCore};
use super::queue::{Admit, Item, Op, Outcome, Pushed, Waiter};
use super::scoreboard::{FL_FENCED, FL_FROZEN, FL_SPLIT};
use super::*;
use crate::bitmap::page_of;
use crate::error::{Error, Result};
use crate::types::{EngineEvent, CHUNK_SIZE};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Chunks per copy request (1 MiB).
const RUN: u64 = 32;
/// A sync job's bytes queued or in flight at most.
const JOB_BYTES: u64 = 48 << 20;
/// Reverse sync: bytes restored between flushes of the primary.
const FLUSH_EVERY: u64 = 64 << 20;

fn stopped() -> Error {
    Error::Precondition("the sync was stopped".into())
}

/// The mirror's link, connecting when there is none.
pub(crate) fn connect(m: &MirrorCore) -> Result<Arc<dyn MirrorLink>> {
    if let Some(l) = m.current_link() {
        if l.is_up() {
            return Ok(l);
        }
    }
    m.ctl().link_state = LinkState::Connecting;
    let res = m.hooks.connect(m).and_then(|l| {
        if l.size() < m.size {
            return Err(Error::invalid(
                format!("mirror of {}", m.primary.display()),
                format!(
                    "the secondary has {} bytes, fewer than the primary's {}",
                    l.size(),
                    m.size
                ),
            ));
        }
        Ok(l)
    });
    let mut c = m.ctl();
    match &res {
        Ok(l) => {
            c.link = Some(l.clone());
            c.link_state = LinkState::Up;
        }
        Err(e) => {
            c.link = None;
            c.link_state = LinkState::Down;
            c.last_error = Some(format!("cannot reach the secondary: {e}"));
        }
    }
    drop(c);
    m.bus.publish(EngineEvent::MirrorModified {
        primary: m.primary.clone(),
    });
    res
}

/// Starts a sync job; returns once it runs.
pub(crate) fn start(m: &Arc<MirrorCore>, kind: SyncKind, dir: SyncDirection) -> Result<()> {
    // A job that already set its final state may still be on its way out.
    let ending = {
        let mut c = m.ctl();
        if matches!(c.state, MirrorState::Syncing | MirrorState::ReverseSyncing) {
            None
        } else {
            c.job.take()
        }
    };
    if let Some((_, h)) = ending {
        if h.thread().id() != std::thread::current().id() {
            let _ = h.join();
        }
    }
    {
        let c = m.ctl();
        let refuse = |cause: String| {
            Err(Error::Precondition(format!(
                "{} sync of mirror {} refused: the mirror is {}; {cause}",
                if dir == SyncDirection::Forward {
                    "forward"
                } else {
                    "reverse"
                },
                m.primary.display(),
                state_name(c.state)
            )))
        };
        if c.disabled {
            return refuse("it is being disabled".into());
        }
        if matches!(c.state, MirrorState::Syncing | MirrorState::ReverseSyncing) || c.job.is_some()
        {
            return refuse("wait for the running sync or put the mirror in logging first".into());
        }
        if c.flags & FL_FENCED != 0 {
            return refuse("its primary is fenced for a role reversal; unfence it first".into());
        }
        if dir == SyncDirection::Forward && c.state == MirrorState::NeedReverseSync {
            return refuse(
                "an interrupted reverse sync must be redone first (reverse sync)".into(),
            );
        }
        if dir == SyncDirection::Forward
            && c.state == MirrorState::Replicating
            && kind == SyncKind::Update
        {
            // Already in step: nothing to do.
            return Ok(());
        }
    }
    let link = connect(m)?;
    if dir == SyncDirection::Forward && m.ctl().options.protect_target && !m.ctl().protected {
        m.hooks.protect(m)?;
        m.ctl().protected = true;
    }
    // Forward: writes are carried from now on; reverse: nothing queued stays.
    m.set_replicating(false);
    m.group.queue.purge();
    {
        let mut c = m.ctl();
        c.state = if dir == SyncDirection::Forward {
            MirrorState::Syncing
        } else {
            MirrorState::ReverseSyncing
        };
        c.flags &= !(FL_FROZEN | FL_SPLIT);
        c.last_error = None;
        m.commit_ctl(&c);
    }
    // The operator chose a direction: the peer's scoreboard joins ours.
    let peer = m.sb.peer.count() > 0;
    m.sb.bits.or_from(&m.sb.peer);
    m.sb.peer.zero();
    if kind == SyncKind::Full {
        m.sb.bits.fill();
    }
    // An update sync of our own marks changes no bit: nothing to write.
    if kind == SyncKind::Full || peer {
        if let Err(e) = m.sb.write_all() {
            m.fail(&format!("scoreboard write failed: {e}"));
            return Err(e);
        }
    }
    if dir == SyncDirection::Forward {
        m.set_replicating(true);
    }
    m.todo.zero();
    m.todo.or_from(&m.sb.bits);
    let stop = Arc::new(AtomicBool::new(false));
    let job_stop = stop.clone();
    let mm = m.clone();
    // Held until the handle is stored: the job's end clears it.
    let mut c = m.ctl();
    let h = std::thread::Builder::new()
        .name("mirror-sync".into())
        .spawn(move || {
            let span =
                tracing::info_span!("mirror_sync", primary = %mm.primary.display(), ?kind, ?dir);
            let _e = span.enter();
            let chunks = mm.todo.count();
            tracing::info!(chunks, "sync started");
            let res = match dir {
                SyncDirection::Forward => run_forward(&mm, &job_stop),
                SyncDirection::Reverse => run_reverse(&mm, &link, &job_stop),
            };
            finish(&mm, dir, res);
        })
        .map_err(|e| Error::io(&m.primary, e))?;
    c.job = Some((stop, h));
    Ok(())
}

fn run_forward(m: &Arc<MirrorCore>, stop: &AtomicBool) -> Result<()> {
    let chunks = m.chunks();
    let mut from = 0;
    while let Some(c0) = m.todo.next_set(from) {
        if stop.load(Ordering::Acquire) || !m.replicating() {
            return Err(stopped());
        }
        pace(m, stop)?;
        let mut c1 = c0;
        while c1 + 1 < chunks && c1 + 1 - c0 < RUN && m.todo.get(c1 + 1) {
            c1 += 1;
        }
        let stripes = m.lock_chunks(c0, c1);
        let off = c0 * CHUNK_SIZE;
        let end = ((c1 + 1) * CHUNK_SIZE).min(m.size);
        let mut buf = vec![0u8; (end - off) as usize];
        m.local.read_at(&mut buf, off)?;
        if !m.take_for_sync(c0, c1) {
            return Err(stopped());
        }
        let item = Item {
            m: m.clone(),
            op: Op::Write {
                off,
                data: buf,
                fua: false,
            },
            c0,
            c1,
            waiter: None,
            job: true,
        };
        if m.group.queue.push(item, Admit::Free) != Pushed::Queued {
            return Err(stopped());
        }
        drop(stripes);
        from = c1 + 1;
    }
    // Barrier: every copy replied, then the secondary flushed.
    let w = Waiter::new();
    let item = Item {
        m: m.clone(),
        op: Op::Flush,
        c0: 0,
        c1: 0,
        waiter: Some(w.clone()),
        job: true,
    };
    m.group.queue.push(item, Admit::Free);
    loop {
        match w.wait(m.link_timeout()) {
            Some(Outcome::Acked) => return Ok(()),
            Some(Outcome::Dropped) => return Err(stopped()),
            Some(Outcome::Failed(e)) => return Err(Error::Precondition(e)),
            // The sender declares the link lost if a reply is overdue.
            None if m.replicating() && !stop.load(Ordering::Acquire) => continue,
            None => return Err(stopped()),
        }
    }
}

/// Keeps what the job has queued or in flight under [`JOB_BYTES`]; host
/// writes are bounded apart (`queue_writes`/`queue_bytes` count only them),
/// so `noblock` never drops to logging because of a sync.
fn pace(m: &MirrorCore, stop: &AtomicBool) -> Result<()> {
    let mut t = m.track.lock().unwrap();
    while t.job_bytes >= JOB_BYTES {
        if stop.load(Ordering::Acquire) || !t.replicating {
            return Err(stopped());
        }
        drop(t);
        std::thread::sleep(std::time::Duration::from_millis(1));
        t = m.track.lock().unwrap();
    }
    Ok(())
}

fn run_reverse(m: &Arc<MirrorCore>, link: &Arc<dyn MirrorLink>, stop: &AtomicBool) -> Result<()> {
    let chunks = m.chunks();
    let mut from = 0;
    let mut batch: Vec<u64> = Vec::new();
    let mut bytes = 0u64;
    while let Some(c0) = m.todo.next_set(from) {
        if stop.load(Ordering::Acquire) {
            return Err(stopped());
        }
        let mut c1 = c0;
        while c1 + 1 < chunks && c1 + 1 - c0 < RUN && m.todo.get(c1 + 1) {
            c1 += 1;
        }
        let off = c0 * CHUNK_SIZE;
        let end = ((c1 + 1) * CHUNK_SIZE).min(m.size);
        let (tx, rx) = std::sync::mpsc::channel();
        link.read(
            off,
            (end - off) as u32,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        let data = match rx.recv_timeout(m.link_timeout()) {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Precondition(format!(
                    "the secondary did not answer a read within the link timeout of {} ms",
                    m.link_timeout().as_millis()
                )))
            }
        };
        m.local.write_at(&data, off, false)?;
        batch.extend(c0..=c1);
        bytes += end - off;
        if bytes >= FLUSH_EVERY {
            clear_restored(m, &mut batch)?;
            bytes = 0;
        }
        from = c1 + 1;
    }
    clear_restored(m, &mut batch)
}

/// Flushes the primary, then clears the bits of the chunks restored.
fn clear_restored(m: &MirrorCore, batch: &mut Vec<u64>) -> Result<()> {
    m.local.flush()?;
    let mut pages = BTreeSet::new();
    for c in batch.drain(..) {
        m.todo.clear(c);
        if m.sb.bits.clear(c) {
            pages.insert(page_of(c));
        }
    }
    m.sb.write_pages(&pages, false)
}

fn finish(m: &Arc<MirrorCore>, dir: SyncDirection, res: Result<()>) {
    match res {
        Ok(()) => {
            let running = if dir == SyncDirection::Forward {
                MirrorState::Syncing
            } else {
                MirrorState::ReverseSyncing
            };
            if m.ctl().state != running {
                // Dropped to logging at the very end: the state says so.
                m.todo.zero();
                m.ctl().job = None;
                m.changed.notify_all();
                return;
            }
            if dir == SyncDirection::Reverse {
                m.set_replicating(true);
            }
            m.todo.zero();
            m.flush_clears(true);
            let was_protected = {
                let mut c = m.ctl();
                c.state = MirrorState::Replicating;
                c.when_synced = Some(SystemTime::now());
                c.last_error = None;
                m.commit_ctl(&c);
                std::mem::take(&mut c.protected)
            };
            tracing::info!(
                when = secs(Some(SystemTime::now())),
                "sync done; replicating"
            );
            if was_protected {
                m.hooks.unprotect(m);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "sync ended early");
            let stopped_by_operator = e.to_string() == stopped().to_string();
            if dir == SyncDirection::Forward {
                if !stopped_by_operator {
                    m.link_failed(&format!("sync failed: {e}"));
                }
            } else {
                let mut c = m.ctl();
                c.state = MirrorState::NeedReverseSync;
                if !stopped_by_operator {
                    c.last_error = Some(format!("reverse sync failed: {e}"));
                }
                m.commit_ctl(&c);
                drop(c);
                if !stopped_by_operator {
                    m.bus.publish(EngineEvent::MirrorAlert {
                        primary: m.primary.clone(),
                        link_lost: false,
                        reason: format!("reverse sync failed: {e}"),
                    });
                }
            }
        }
    }
    m.todo.zero();
    m.ctl().job = None;
    m.changed.notify_all();
}
