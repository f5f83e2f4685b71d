//! Consistency groups: the mirrors that drop to logging together, and the
//! one ordered queue (with its sender thread) they share. A mirror outside
//! any named group has a group of its own.
//!
//! When one member leaves replicating (link lost, full queue under
//! `noblock`, operator), every member is switched to logging under its
//! data-path lock before the queue is purged, and before the write that
//! caused it is answered; a later write of any member therefore is only
//! tracked, never carried, and the secondaries keep one point in time.

use super::device::MirrorCore;
use super::queue::Queue;
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

/// One consistency group.
pub(crate) struct GroupCore {
    /// `None` for a mirror's private group.
    pub name: Option<String>,
    members: Mutex<Vec<Weak<MirrorCore>>>,
    pub queue: Arc<Queue>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl GroupCore {
    pub fn new(name: Option<String>) -> Arc<GroupCore> {
        let g = Arc::new(GroupCore {
            name,
            members: Mutex::new(Vec::new()),
            queue: Arc::new(Queue::default()),
            sender: Mutex::new(None),
        });
        let q = g.queue.clone();
        let weak = Arc::downgrade(&g);
        let label = g.name.clone().unwrap_or_default();
        let h = std::thread::Builder::new()
            .name("mirror-send".into())
            .spawn(move || {
                let _span = tracing::info_span!("mirror_sender", group = %label).entered();
                q.run(move || weak.upgrade().map(|g| g.members()).unwrap_or_default())
            })
            .expect("spawn mirror sender");
        *g.sender.lock().unwrap() = Some(h);
        g
    }

    pub fn members(&self) -> Vec<Arc<MirrorCore>> {
        let mut m = self.members.lock().unwrap();
        m.retain(|w| w.strong_count() > 0);
        m.iter().filter_map(|w| w.upgrade()).collect()
    }

    pub fn add(&self, m: &Arc<MirrorCore>) {
        self.members.lock().unwrap().push(Arc::downgrade(m));
    }

    pub fn remove(&self, m: &Arc<MirrorCore>) {
        self.members
            .lock()
            .unwrap()
            .retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(m)));
    }

    pub fn is_empty(&self) -> bool {
        self.members().is_empty()
    }

    /// Every member to logging (and frozen with `freeze`), then the queue
    /// purged of their requests.
    pub fn drop_to_logging(&self, reason: &str, freeze: bool) {
        let members = self.members();
        for m in &members {
            m.set_replicating(false);
        }
        for m in &members {
            m.enter_logging(reason, freeze);
        }
        self.queue.purge();
    }

    /// Stops the sender thread (engine shutdown or last member gone).
    pub fn stop(&self) {
        self.queue.stop();
        if let Some(h) = self.sender.lock().unwrap().take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}
