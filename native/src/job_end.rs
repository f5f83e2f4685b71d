//! [`JobEnd`]: a future that resolves when a set's copy or update job is no
//! longer running (finished, aborted, suspended or failed).
//!
//! Waiting this way holds no thread: the future parks its task's waker in the
//! set's job control, and the copy thread wakes every parked waker as it ends.
//! Dropping the future (a client gave up) removes its waker, so an abandoned
//! wait leaves nothing behind.

use crate::set::SetCore;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// See the module documentation; made by [`crate::Engine::job_end`].
pub struct JobEnd {
    set: Arc<SetCore>,
    /// Our entry in the set's waiter list, once parked.
    id: Option<u64>,
}

impl JobEnd {
    pub(crate) fn new(set: Arc<SetCore>) -> Self {
        JobEnd { set, id: None }
    }
}

impl Future for JobEnd {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut ctl = this.set.job.lock().unwrap();
        if !ctl.running {
            // The job's end drained the list; forget a stale id.
            if let Some(id) = this.id.take() {
                ctl.waiters.retain(|(i, _)| *i != id);
            }
            return Poll::Ready(());
        }
        match this.id {
            Some(id) => match ctl.waiters.iter_mut().find(|(i, _)| *i == id) {
                Some((_, w)) => w.clone_from(cx.waker()),
                None => ctl.waiters.push((id, cx.waker().clone())),
            },
            None => {
                let id = ctl.next_waiter;
                ctl.next_waiter += 1;
                ctl.waiters.push((id, cx.waker().clone()));
                this.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for JobEnd {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let mut ctl = self.set.job.lock().unwrap();
            ctl.waiters.retain(|(i, _)| *i != id);
        }
    }
}

/// How many tasks wait for the job of `set` (tests check that an abandoned
/// wait leaves none behind).
pub(crate) fn waiters(set: &SetCore) -> usize {
    set.job.lock().unwrap().waiters.len()
}
