//! The ordered send queue of a consistency group (a mirror outside any
//! group has a group of its own): every write carried to a secondary, sync
//! or async, goes through it, so writes leave in the order they were made
//! on the primaries. One sender thread per group submits them pipelined
//! (up to [`WINDOW`] in flight), never two overlapping writes of the same
//! mirror at once (so the secondary applies overlapping writes in order),
//! and a flush only once every earlier write of its mirror has its reply.
//!
//! The sender also notices replies that do not come within the mirror's
//! `link_timeout` and declares the link lost, and lazily clears scoreboard
//! bits whose writes were acknowledged.

use super::device::MirrorCore;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Requests in flight to the secondaries of one group.
const WINDOW: usize = 16;
/// Bytes in flight to the secondaries of one group (a slow link then holds
/// at most this much unanswered).
const WINDOW_BYTES: u64 = 32 << 20;
/// How often the sender writes back lazily cleared scoreboard bits.
const CLEAR_EVERY: Duration = Duration::from_millis(1000);

/// What became of a queued request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The secondary replied success.
    Acked,
    /// Not sent: the mirror left replicating (the chunks stay marked).
    Dropped,
    /// The secondary or the link failed.
    Failed(String),
}

/// A writer waiting for its request's reply (sync mode, flush, sync jobs).
#[derive(Default)]
pub(crate) struct Waiter {
    res: Mutex<Option<Outcome>>,
    cv: Condvar,
}

impl Waiter {
    pub fn new() -> Arc<Waiter> {
        Arc::new(Waiter::default())
    }
    pub fn notify(&self, o: Outcome) {
        *self.res.lock().unwrap() = Some(o);
        self.cv.notify_all();
    }
    /// The outcome, or `None` after `timeout`.
    pub fn wait(&self, timeout: Duration) -> Option<Outcome> {
        let g = self.res.lock().unwrap();
        let (g, _) = self
            .cv
            .wait_timeout_while(g, timeout, |r| r.is_none())
            .unwrap();
        g.clone()
    }
}

pub(crate) enum Op {
    Write { off: u64, data: Vec<u8>, fua: bool },
    Flush,
}

/// One request of one mirror.
pub(crate) struct Item {
    pub m: Arc<MirrorCore>,
    pub op: Op,
    /// Chunks covered (a write holds one in-flight count on each).
    pub c0: u64,
    pub c1: u64,
    pub waiter: Option<Arc<Waiter>>,
    /// Queued by a sync job: outside the mirror's host-write bounds.
    pub job: bool,
}

impl Item {
    fn len(&self) -> u64 {
        match &self.op {
            Op::Write { data, .. } => data.len() as u64,
            Op::Flush => 0,
        }
    }
    fn is_write(&self) -> bool {
        matches!(self.op, Op::Write { .. })
    }
}

struct Flight {
    seq: u64,
    m: Arc<MirrorCore>,
    c0: u64,
    c1: u64,
    len: u64,
    write: bool,
    job: bool,
    waiter: Option<Arc<Waiter>>,
    started: Instant,
}

#[derive(Default)]
struct QSt {
    items: VecDeque<Item>,
    flights: Vec<Flight>,
    done: Vec<(u64, Option<String>)>,
    next_seq: u64,
    stop: bool,
    /// Last reply, or when the first request of an idle period left: a
    /// link counts as lost when requests are out and nothing came back for
    /// `link_timeout` (a slow link that answers is not lost).
    progress: Option<Instant>,
}

/// How a write is admitted against its mirror's queue bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Wait for room.
    Block,
    /// Answer [`Pushed::Full`] when there is none.
    NoBlock,
    /// Not bounded (a sync job, which paces itself).
    Free,
}

/// Drops a queued request unsent (its chunks stay marked).
fn discard(i: Item) {
    if i.is_write() {
        i.m.finish_write(i.c0, i.c1, i.len(), false, i.job);
    }
    if let Some(w) = i.waiter {
        w.notify(Outcome::Dropped);
    }
}

/// What [`Queue::push`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// The mirror's bound is reached and the caller may not wait.
    Full,
    /// The mirror left replicating while the caller waited for room.
    Dropped,
}

/// The ordered queue of one group.
#[derive(Default)]
pub(crate) struct Queue {
    st: Mutex<QSt>,
    cv: Condvar,
}

impl Queue {
    /// Queues a request. A write counts against its mirror's bounds
    /// (`queue_writes`, `queue_bytes`; queued plus in flight); when they are
    /// reached the caller waits for room (`block`) or gets [`Pushed::Full`].
    /// On any answer but `Queued` the write's in-flight counts are released.
    pub fn push(&self, item: Item, admit: Admit) -> Pushed {
        let mut g = self.st.lock().unwrap();
        if item.is_write() {
            loop {
                if !item.m.replicating() || g.stop {
                    drop(g);
                    item.m.finish_write(item.c0, item.c1, 0, false, item.job);
                    return Pushed::Dropped;
                }
                if admit == Admit::Free || item.m.queue_has_room(item.len()) {
                    break;
                }
                if admit == Admit::NoBlock {
                    drop(g);
                    item.m.finish_write(item.c0, item.c1, 0, false, item.job);
                    return Pushed::Full;
                }
                g = self
                    .cv
                    .wait_timeout(g, Duration::from_millis(50))
                    .unwrap()
                    .0;
            }
            item.m.queue_add(item.len(), item.job);
        }
        g.items.push_back(item);
        self.cv.notify_all();
        Pushed::Queued
    }

    /// Discards every queued request of a mirror that left replicating, and
    /// forgets its requests in flight (their late replies are ignored).
    pub fn purge(&self) {
        let (items, flights) = {
            let mut g = self.st.lock().unwrap();
            let (drop_items, keep): (Vec<Item>, Vec<Item>) =
                g.items.drain(..).partition(|i| !i.m.replicating());
            g.items = keep.into();
            let (drop_f, keep_f): (Vec<Flight>, Vec<Flight>) =
                g.flights.drain(..).partition(|f| !f.m.replicating());
            g.flights = keep_f;
            self.cv.notify_all();
            (drop_items, drop_f)
        };
        items.into_iter().for_each(discard);
        for f in flights {
            if f.write {
                f.m.finish_write(f.c0, f.c1, f.len, false, f.job);
            }
            if let Some(w) = f.waiter {
                w.notify(Outcome::Dropped);
            }
        }
    }

    /// How long requests have been out without any reply (zero when
    /// nothing is out).
    pub fn quiet_for(&self) -> Duration {
        let g = self.st.lock().unwrap();
        if g.flights.is_empty() {
            return Duration::ZERO;
        }
        g.progress.map_or(Duration::ZERO, |p| p.elapsed())
    }

    /// Stops the sender after purging everything.
    pub fn stop(&self) {
        self.st.lock().unwrap().stop = true;
        self.cv.notify_all();
    }

    fn can_submit(g: &QSt, i: &Item) -> bool {
        let bytes: u64 = g.flights.iter().map(|f| f.len).sum();
        if g.flights.len() >= WINDOW || (!g.flights.is_empty() && bytes + i.len() > WINDOW_BYTES) {
            return false;
        }
        let same = g.flights.iter().filter(|f| Arc::ptr_eq(&f.m, &i.m));
        match i.op {
            Op::Flush => same.count() == 0,
            Op::Write { .. } => !same
                .into_iter()
                .any(|f| !f.write || (f.c0 <= i.c1 && i.c0 <= f.c1)),
        }
    }

    /// The sender loop of a group; returns once stopped.
    pub fn run(self: Arc<Queue>, members: impl Fn() -> Vec<Arc<MirrorCore>>) {
        let mut last_clear = Instant::now();
        loop {
            let mut g = self.st.lock().unwrap();
            if g.stop {
                let items: Vec<Item> = g.items.drain(..).collect();
                let flights: Vec<Flight> = g.flights.drain(..).collect();
                drop(g);
                items.into_iter().for_each(discard);
                for f in flights {
                    if let Some(w) = f.waiter {
                        w.notify(Outcome::Dropped);
                    }
                }
                return;
            }
            // 1. Replies.
            if !g.done.is_empty() {
                let done = std::mem::take(&mut g.done);
                g.progress = Some(Instant::now());
                let mut finished = Vec::new();
                for (seq, err) in done {
                    if let Some(pos) = g.flights.iter().position(|f| f.seq == seq) {
                        finished.push((g.flights.swap_remove(pos), err));
                    }
                }
                self.cv.notify_all();
                drop(g);
                for (f, err) in finished {
                    match err {
                        None => {
                            if f.write {
                                f.m.finish_write(f.c0, f.c1, f.len, true, f.job);
                            }
                            if let Some(w) = f.waiter {
                                w.notify(Outcome::Acked);
                            }
                        }
                        Some(e) => {
                            if f.write {
                                f.m.finish_write(f.c0, f.c1, f.len, false, f.job);
                            }
                            // The group drops before the writer hears of it.
                            f.m.link_failed(&e);
                            if let Some(w) = f.waiter {
                                w.notify(Outcome::Failed(e));
                            }
                        }
                    }
                }
                continue;
            }
            // 2. Replies that do not come.
            let quiet = g.progress.map_or(Duration::ZERO, |p| p.elapsed());
            let late = g
                .flights
                .iter()
                .find(|f| f.started.elapsed() > f.m.link_timeout() && quiet > f.m.link_timeout())
                .map(|f| (f.m.clone(), f.m.link_timeout()));
            if let Some((m, t)) = late {
                drop(g);
                m.link_failed(&format!(
                    "the secondary did not reply within the link timeout of {} ms",
                    t.as_millis()
                ));
                continue;
            }
            // 3. The next request, in order.
            let mut next = None;
            if let Some(front) = g.items.front() {
                if !front.m.replicating() {
                    next = g.items.pop_front().map(|i| (i, None));
                } else if Self::can_submit(&g, front) {
                    let i = g.items.pop_front().unwrap();
                    if g.flights.is_empty() {
                        g.progress = Some(Instant::now());
                    }
                    let seq = g.next_seq;
                    g.next_seq += 1;
                    g.flights.push(Flight {
                        seq,
                        m: i.m.clone(),
                        c0: i.c0,
                        c1: i.c1,
                        len: i.len(),
                        write: i.is_write(),
                        job: i.job,
                        waiter: i.waiter.clone(),
                        started: Instant::now(),
                    });
                    next = Some((i, Some(seq)));
                }
            }
            if let Some((i, seq)) = next {
                drop(g);
                match seq {
                    None => discard(i),
                    Some(seq) => self.submit(i, seq),
                }
                continue;
            }
            // 4. Lazy scoreboard clearing, then sleep.
            if last_clear.elapsed() >= CLEAR_EVERY {
                drop(g);
                for m in members() {
                    m.flush_clears(false);
                }
                last_clear = Instant::now();
                continue;
            }
            let _ = self.cv.wait_timeout(g, Duration::from_millis(20)).unwrap();
        }
    }

    fn submit(self: &Arc<Queue>, i: Item, seq: u64) {
        let q = self.clone();
        let done: crate::mirror::Completion = Box::new(move |r| {
            let mut g = q.st.lock().unwrap();
            g.done.push((seq, r.err().map(|e| e.to_string())));
            q.cv.notify_all();
        });
        let Some(link) = i.m.current_link() else {
            done(Err(crate::Error::Precondition(
                "the link to the secondary is down".into(),
            )));
            return;
        };
        match i.op {
            Op::Write { off, data, fua } => link.write(off, data, fua, done),
            Op::Flush => link.flush(done),
        }
    }
}
