//! The bounded cache of rendered CIM-XML answers (state of the object
//! manager, filled by [`crate::dispatch`]'s rendered paths; whole answers, or
//! the items of an enumeration for pull operations): entries keyed by
//! request, valid for one repository generation, least recently used evicted
//! first. The invalidation and bound rules are documented with their users in
//! `dispatch/rendered.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Default bound of the rendered class answers (bytes).
pub const DEFAULT_CLASS_ANSWER_CACHE_BYTES: usize = 8 << 20;
/// Default bound of the rendered static-instance enumerations (bytes).
pub const DEFAULT_INSTANCE_ANSWER_CACHE_BYTES: usize = 8 << 20;

/// What an answer depends on: the schema generation and, for instance
/// enumerations, the static-instance generation (0 for class reads).
pub(crate) type Generation = (u64, u64);

/// What the cache bounds of an answer: its bytes.
pub(crate) trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for Vec<u8> {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// The items of an enumeration rendered for pull operations: the elements
/// one after another and where each ends (see [`cim::ops::RenderedItems`]).
pub(crate) struct RenderedPages {
    pub(crate) text: Arc<Vec<u8>>,
    pub(crate) ends: Arc<Vec<usize>>,
}

impl Weigh for RenderedPages {
    fn weight(&self) -> usize {
        self.text.len() + self.ends.len() * std::mem::size_of::<usize>()
    }
}

/// The cache; one per object manager and kind of answer.
pub(crate) struct RenderedAnswers<T: Weigh = Vec<u8>> {
    bound: usize,
    state: Mutex<State<T>>,
    /// One enumeration rendered at a time (see the module docs).
    pub(crate) render: tokio::sync::Semaphore,
}

struct State<T> {
    generation: Generation,
    bytes: usize,
    tick: u64,
    entries: HashMap<String, (Arc<T>, u64)>,
    /// Answers too large to keep, by key, while some response still sends
    /// them: a concurrent identical request shares the copy instead of
    /// rendering its own (dead ones are pruned on every insert).
    in_flight: HashMap<String, std::sync::Weak<T>>,
}

impl<T> Default for State<T> {
    fn default() -> Self {
        State {
            generation: Generation::default(),
            bytes: 0,
            tick: 0,
            entries: HashMap::new(),
            in_flight: HashMap::new(),
        }
    }
}

impl<T: Weigh> RenderedAnswers<T> {
    pub(crate) fn new(bound: usize) -> RenderedAnswers<T> {
        RenderedAnswers {
            bound,
            state: Mutex::new(State::default()),
            render: tokio::sync::Semaphore::new(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, generation: Generation, key: &str) -> Option<Arc<T>> {
        let mut s = self.lock();
        if s.generation != generation {
            s.entries.clear();
            s.in_flight.clear();
            s.bytes = 0;
            s.generation = generation;
            return None;
        }
        s.tick += 1;
        let tick = s.tick;
        if let Some((b, t)) = s.entries.get_mut(key) {
            *t = tick;
            return Some(b.clone());
        }
        s.in_flight.get(key).and_then(std::sync::Weak::upgrade)
    }

    /// Installs an answer rendered at `generation` unless the schema moved
    /// since or it does not fit.
    pub(crate) fn put(&self, now: Generation, generation: Generation, key: String, body: Arc<T>) {
        let len = body.weight();
        let mut s = self.lock();
        if s.generation != generation || now != generation {
            return;
        }
        if len > self.bound {
            s.in_flight.retain(|_, w| w.strong_count() > 0);
            s.in_flight.insert(key, Arc::downgrade(&body));
            return;
        }
        while s.bytes + len > self.bound {
            let Some(oldest) = s
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((b, _)) = s.entries.remove(&oldest) {
                s.bytes -= b.weight();
            }
        }
        s.tick += 1;
        let tick = s.tick;
        s.bytes += len;
        if let Some((old, _)) = s.entries.insert(key, (body, tick)) {
            s.bytes -= old.weight();
        }
    }

    /// Drops every answer (the provider registry changed, so which classes
    /// the repository serves may have).
    pub(crate) fn clear(&self) {
        let mut s = self.lock();
        s.entries.clear();
        s.in_flight.clear();
        s.bytes = 0;
    }
}
