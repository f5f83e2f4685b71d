//! Opening the engine: the state-directory lock, loading the configuration,
//! bringing every set back and restarting interrupted copies.

use super::{Engine, Inner, St};
use crate::copy;
use crate::error::{Error, Result};
use crate::events::Bus;
use crate::overflow::Overflow;
use crate::set::SetCore;
use crate::state::{self};
use crate::types::*;
use crate::volume::{Roots, Volume};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

impl Engine {
    /// Opens the engine: loads the configuration from `state_dir`, resumes
    /// every set (restarting interrupted copies from their copy bitmaps).
    ///
    /// The engine takes an exclusive advisory lock on `<state_dir>/lock` first
    /// and holds it until the last clone is dropped: a second engine on the
    /// same state directory (another `cimomd --state-dir` on it) fails at once
    /// with [`Error::StateDirLocked`] instead of resuming the same sets twice.
    pub fn open(cfg: EngineConfig) -> Result<Engine> {
        std::fs::create_dir_all(&cfg.state_dir).map_err(|e| Error::io(&cfg.state_dir, e))?;
        let lock = state::lock(&cfg.state_dir)?;
        let roots = Roots::new(&cfg.volume_roots)?;
        let conf = state::load(&cfg.state_dir)?;
        let inner = Arc::new(Inner {
            cfg,
            roots,
            bus: Arc::new(Bus::default()),
            st: Mutex::new(St::default()),
            next_id: AtomicU64::new(1),
            clients: Mutex::new(HashMap::new()),
            _lock: lock,
        });
        let eng = Engine { inner };
        {
            let mut st = eng.st();
            for p in &conf.overflows {
                match Volume::open(p).and_then(|v| Overflow::open(Arc::new(v))) {
                    Ok(o) => {
                        st.overflows.insert(p.clone(), Arc::new(o));
                    }
                    Err(e) => {
                        tracing::warn!(overflow = %p.display(), error = %e, "overflow volume unavailable");
                        st.overflow_missing.push(p.clone());
                    }
                }
            }
            for t in &conf.targets {
                let claim = crate::mirror::TargetClaim {
                    owner: t.owner.clone(),
                    token: t.token.clone(),
                };
                st.targets
                    .insert(t.volume.clone(), super::targets::Target::new(claim));
            }
            for g in &conf.groups {
                st.groups.insert(g.name.clone(), g.clone());
            }
            let mut opened = Vec::with_capacity(conf.sets.len());
            for rec in &conf.sets {
                if let Err(e) = eng.restore_set(&mut st, rec, &mut opened) {
                    tracing::warn!(set = %rec.shadow.display(), error = %e, "set restored offline");
                    st.offline
                        .insert(rec.shadow.clone(), (rec.clone(), e.to_string()));
                }
            }
            mark_opened(opened);
            // Mirrors after sets: a mirrored master keeps its copy-on-write.
            for rec in &conf.mirrors {
                if let Err(e) = eng.restore_mirror(&mut st, rec) {
                    tracing::warn!(mirror = %rec.primary.display(), error = %e, "mirror restored offline");
                    st.mirrors_offline
                        .insert(rec.primary.clone(), (rec.clone(), e.to_string()));
                }
            }
            // Boot resumes every set: an exported set that is not suspended
            // joins a local import of its shadow now (imaging.md §3.5, §5).
            let due: Vec<PathBuf> = st
                .parked
                .iter()
                .filter(|(_, s)| !s.meta.lock().unwrap().suspended)
                .map(|(k, _)| k.clone())
                .collect();
            for k in due {
                if let Err(e) = eng.implicit_join(&mut st, &k) {
                    tracing::warn!(set = %k.display(), error = %e, "implicit join at start failed; the set stays suspended");
                }
            }
            // Interrupted copies restart only once every sibling of their
            // master is back, so copy-on-write covers all of them.
            for set in st.sets.values() {
                let fl = set.f();
                if fl & flags::COPYINGP != 0
                    && fl & flags::OFFLINE == 0
                    && !set.meta.lock().unwrap().suspended
                {
                    let dir = if fl & flags::COPYINGS != 0 {
                        Direction::ToMaster
                    } else {
                        Direction::ToShadow
                    };
                    copy::start(set, dir);
                }
            }
            eng.start_restored_mirrors(&st);
        }
        Ok(eng)
    }
}

/// Writes the headers of the sets just restored (lifecycle and flags, each
/// made durable), in parallel: the syncs of different bitmap volumes overlap
/// instead of queueing, so a start with a thousand sets takes a few sync
/// latencies rather than a thousand. A set whose header cannot be written
/// comes back offline (BMPOFFLINE), as a bitmap failure at run time does.
fn mark_opened(opened: Vec<(Arc<SetCore>, u32, u32)>) {
    const WORKERS: usize = 32;
    if opened.is_empty() {
        return;
    }
    let per = opened.len().div_ceil(WORKERS);
    std::thread::scope(|scope| {
        for part in opened.chunks(per) {
            scope.spawn(move || {
                for (set, lifecycle, fl) in part {
                    let written = set.bitmap.write_header(|h| {
                        h.lifecycle = *lifecycle;
                        h.flags = *fl;
                    });
                    if let Err(e) = written {
                        set.go_offline(flags::BMPOFFLINE, &e);
                    }
                }
            });
        }
    });
}
