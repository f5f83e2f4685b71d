//! The event bus: every subscriber gets its own unbounded channel, so
//! publishing never blocks the I/O path; dropped receivers are pruned.

use crate::types::EngineEvent;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Bus {
    subs: Mutex<Vec<Sender<EngineEvent>>>,
}

impl Bus {
    pub fn subscribe(&self) -> Receiver<EngineEvent> {
        let (tx, rx) = channel();
        self.subs.lock().unwrap().push(tx);
        rx
    }

    pub fn publish(&self, ev: EngineEvent) {
        tracing::debug!(event = ?ev, "engine event");
        let mut subs = self.subs.lock().unwrap();
        subs.retain(|s| s.send(ev.clone()).is_ok());
    }
}
