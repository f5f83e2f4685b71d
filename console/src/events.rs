//! The change journal behind `GET /api/v1/events` (server-sent events).
//!
//! Every change gets the next id (1, 2, …) and is kept in a ring of the last
//! [`JOURNAL_LEN`] events and at most [`JOURNAL_BYTES`] of data. A browser
//! that reconnects with `Last-Event-ID: N` gets every event after `N` when the
//! ring still holds them, otherwise one
//! `refresh` event telling it to reload its table (it is too far behind, or
//! the server restarted and counts from 1 again).
//!
//! # Wire format (text/event-stream)
//!
//! ```text
//! id: 42
//! event: row            (row | rows | remove | overflows | refresh)
//! data: {"id":"…","html":"<tr …>…</tr>"}
//!
//! ```
//!
//! * `row` — replace one `<tr>` (a set or group) by its id;
//! * `rows` — replace a host's whole `<section>` (sets or groups came or went,
//!   membership, reachability or "degraded" changed), or append a new one;
//! * `remove` — drop the element with this id;
//! * `overflows` — a host's overflow volumes changed (`id` is its `<section>` on the main page);
//! * `refresh` — reload the table (a host was added, or the client is too far
//!   behind).
//!
//! A page passes the id its table was rendered at as `?since=N`, so the
//! first connection resumes like a reconnection with `Last-Event-ID`.
//!
//! Data is JSON on one line, so the `data:` field never needs splitting.

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Events kept for resume.
pub const JOURNAL_LEN: usize = 4096;
/// Bytes of event data kept for resume: a `rows` event of a big host is large,
/// so the ring is bounded by size as well as by count.
pub const JOURNAL_BYTES: usize = 8 * 1024 * 1024;

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Monotonic id.
    pub id: u64,
    /// SSE event name.
    pub kind: &'static str,
    /// One-line JSON payload.
    pub data: String,
}

impl Event {
    /// The event in text/event-stream framing.
    pub fn to_sse(&self) -> String {
        // serde_json never emits a raw newline, but a payload built elsewhere
        // might: split it into several data lines rather than break framing.
        let mut out = format!("id: {}\nevent: {}\n", self.id, self.kind);
        for line in self.data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

/// What a resuming client gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Resume {
    /// The events after its last id (possibly none).
    Events(Vec<Event>),
    /// Too far behind: it must reload.
    Refresh,
}

/// The journal and its broadcast channel.
pub struct Journal {
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Event>,
    capacity: usize,
    max_bytes: usize,
}

struct Ring {
    /// Id of the newest event.
    last: u64,
    events: VecDeque<Event>,
    /// Sum of the kept events' data lengths.
    bytes: usize,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new(JOURNAL_LEN, JOURNAL_BYTES)
    }
}

impl Journal {
    /// A journal keeping at most `capacity` events and `max_bytes` of data
    /// (the newest event is always kept).
    pub fn new(capacity: usize, max_bytes: usize) -> Journal {
        let (tx, _) = broadcast::channel(capacity.clamp(16, 1024));
        Journal {
            ring: Mutex::new(Ring {
                last: 0,
                events: VecDeque::new(),
                bytes: 0,
            }),
            tx,
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    /// Appends an event and sends it to every live stream.
    pub fn push(&self, kind: &'static str, data: String) -> u64 {
        let mut g = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        g.last += 1;
        let ev = Event {
            id: g.last,
            kind,
            data,
        };
        g.bytes += ev.data.len();
        g.events.push_back(ev.clone());
        while g.events.len() > self.capacity || (g.bytes > self.max_bytes && g.events.len() > 1) {
            if let Some(old) = g.events.pop_front() {
                g.bytes -= old.data.len();
            }
        }
        // Sent under the lock so that the order of ids is the order of delivery.
        let _ = self.tx.send(ev);
        g.last
    }

    /// The id of the newest event (0 when none).
    pub fn last_id(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|e| e.into_inner()).last
    }

    /// Events and bytes kept.
    pub fn kept(&self) -> (usize, usize) {
        let g = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        (g.events.len(), g.bytes)
    }

    /// Subscribes, and says what a client that saw up to `last` missed. The
    /// receiver is taken under the journal lock, so nothing falls between.
    pub fn resume(&self, last: Option<u64>) -> (Resume, broadcast::Receiver<Event>) {
        let g = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        let newest = g.last;
        let r = match last {
            None => Resume::Events(Vec::new()),
            Some(n) if n == newest => Resume::Events(Vec::new()),
            Some(n) if n > newest => Resume::Refresh,
            Some(n) => match g.events.front() {
                Some(first) if first.id <= n + 1 => {
                    Resume::Events(g.events.iter().filter(|e| e.id > n).cloned().collect())
                }
                _ => Resume::Refresh,
            },
        };
        (r, rx)
    }
}

/// Parses a `Last-Event-ID` header value.
pub fn parse_last_event_id(v: Option<&str>) -> Option<u64> {
    v.and_then(|s| s.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_gives_the_missed_events_in_order() {
        let j = Journal::new(8, 1 << 20);
        for i in 0..5 {
            j.push("row", format!("{{\"n\":{i}}}"));
        }
        let (r, _) = j.resume(Some(2));
        let Resume::Events(ev) = r else {
            panic!("{r:?}")
        };
        assert_eq!(ev.iter().map(|e| e.id).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(j.resume(Some(5)).0, Resume::Events(vec![]));
    }

    #[test]
    fn too_far_behind_or_from_the_future_refreshes() {
        let j = Journal::new(4, 1 << 20);
        for _ in 0..10 {
            j.push("row", "{}".into());
        }
        assert_eq!(j.resume(Some(2)).0, Resume::Refresh, "events 3..6 are gone");
        assert!(matches!(j.resume(Some(6)).0, Resume::Events(v) if v.len() == 4));
        assert_eq!(j.resume(Some(99)).0, Resume::Refresh, "a restarted server");
    }

    #[tokio::test]
    async fn live_events_follow_the_resumed_ones() {
        let j = Journal::new(4, 1 << 20);
        j.push("row", "{}".into());
        let (_, mut rx) = j.resume(Some(1));
        j.push("remove", "{\"id\":\"x\"}".into());
        let e = rx.recv().await.unwrap();
        assert_eq!((e.id, e.kind), (2, "remove"));
        assert_eq!(e.to_sse(), "id: 2\nevent: remove\ndata: {\"id\":\"x\"}\n\n");
    }

    #[test]
    fn the_ring_is_bounded_by_bytes_too() {
        let j = Journal::new(100, 1000);
        for _ in 0..10 {
            j.push("rows", "x".repeat(300));
        }
        let (n, bytes) = j.kept();
        assert!(n == 3 && bytes == 900, "{n} events, {bytes} bytes");
        assert_eq!(j.resume(Some(5)).0, Resume::Refresh, "event 6 was dropped");
        assert!(matches!(j.resume(Some(7)).0, Resume::Events(v) if v.len() == 3));
        j.push("rows", "y".repeat(5000));
        assert_eq!(j.kept().0, 1, "the newest event is always kept");
    }

    #[test]
    fn header_parsing() {
        assert_eq!(parse_last_event_id(Some(" 17 ")), Some(17));
        assert_eq!(parse_last_event_id(Some("x")), None);
        assert_eq!(parse_last_event_id(None), None);
    }
}
