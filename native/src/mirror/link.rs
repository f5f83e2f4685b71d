//! Links to secondaries and their supervision: [`LocalLink`], the
//! [`MirrorLink`] of a secondary on this host (writes go through the
//! engine's device of that volume, so copy-on-write of a protect snapshot
//! sees them), and `autosync`: retrying a lost link and update-syncing the
//! group when it returns.

use super::device::MirrorCore;
use super::*;
use crate::blockdev::BlockDevice;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A secondary on this host; replies come back on the caller's thread.
pub(crate) struct LocalLink {
    pub dev: Arc<dyn BlockDevice>,
}

impl MirrorLink for LocalLink {
    fn size(&self) -> u64 {
        self.dev.size()
    }
    fn write(&self, offset: u64, data: Vec<u8>, fua: bool, done: Completion) {
        done(self.dev.write_at(&data, offset, fua));
    }
    fn flush(&self, done: Completion) {
        done(self.dev.flush());
    }
    fn read(&self, offset: u64, len: u32, done: ReadCompletion) {
        let mut buf = vec![0u8; len as usize];
        done(self.dev.read_at(&mut buf, offset).map(|_| buf));
    }
    fn is_up(&self) -> bool {
        true
    }
}

/// Starts the retry loop of a mirror whose link was lost (once).
pub(crate) fn start_autosync(m: &MirrorCore) {
    let stop = {
        let mut c = m.ctl();
        if c.autosync.is_some() || c.disabled {
            return;
        }
        let s = Arc::new(AtomicBool::new(false));
        c.autosync = Some(s.clone());
        s
    };
    let weak = m.me.clone();
    let spawned = std::thread::Builder::new()
        .name("mirror-autosync".into())
        .spawn(move || {
            let mut delay = Duration::from_millis(100);
            loop {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
                let Some(m) = weak.upgrade() else { return };
                let _span =
                    tracing::info_span!("mirror_autosync", primary = %m.primary.display())
                        .entered();
                if stop.load(Ordering::Acquire) || !m.ctl().options.autosync || m.ctl().disabled {
                    break;
                }
                if m.has_split() {
                    // Never guess a direction: an operator must choose.
                    break;
                }
                if super::jobs::connect(&m).is_err() {
                    continue;
                }
                tracing::info!("link back; update sync of the group");
                for g in m.group.members() {
                    let st = g.ctl().state;
                    let behind = matches!(st, MirrorState::Logging | MirrorState::NeedSync);
                    if behind && !g.has_split() && g.ctl().flags & super::scoreboard::FL_FENCED == 0 {
                        if let Err(e) = super::jobs::start(&g, SyncKind::Update, SyncDirection::Forward) {
                            tracing::warn!(mirror = %g.primary.display(), error = %e, "autosync could not start the update sync");
                        }
                    }
                }
                break;
            }
            if let Some(m) = weak.upgrade() {
                m.ctl().autosync = None;
            }
        });
    if spawned.is_err() {
        m.ctl().autosync = None;
    }
}
