//! Continuous copy on the engine handle: enable, disable and drive mirrors
//! (types in `crate::mirror`); the target side's claims are in `targets.rs`.
//!
//! API surface agreed between the engine, the NBD client and the providers;
//! the bodies are filled in by the mirror work (issue 15).

use super::Engine;
use crate::error::{Error, Result};
use crate::mirror::*;
use std::path::Path;
use std::time::Duration;

fn not_yet(what: &str) -> Error {
    Error::Precondition(format!(
        "{what}: continuous copy is not available in this build"
    ))
}

impl Engine {
    /// Enables a mirror (checks everything before anything moves) and
    /// persists it; it is restored at [`Engine::open`].
    pub fn enable_mirror(&self, spec: MirrorSpec) -> Result<MirrorInfo> {
        Err(not_yet(&format!(
            "enable mirror of {}",
            spec.primary.display()
        )))
    }

    /// Stops and forgets the mirror of `primary` (the volumes and the
    /// scoreboard stay).
    pub fn disable_mirror(&self, primary: &Path) -> Result<()> {
        Err(not_yet(&format!("disable mirror of {}", primary.display())))
    }

    /// Every mirror whose primary is on this host.
    pub fn mirrors(&self) -> Vec<MirrorInfo> {
        Vec::new()
    }

    /// One mirror, by primary volume (as given or canonical).
    pub fn mirror_info(&self, primary: &Path) -> Result<MirrorInfo> {
        Err(not_yet(&format!("mirror of {}", primary.display())))
    }

    /// Starts a full or update sync, forward or reverse; returns once it
    /// runs (see [`Engine::mirror_wait`]).
    pub fn mirror_sync(&self, primary: &Path, kind: SyncKind, dir: SyncDirection) -> Result<()> {
        let _ = (kind, dir);
        Err(not_yet(&format!("sync of mirror {}", primary.display())))
    }

    /// Drops the mirror's whole consistency group to logging.
    pub fn mirror_logging(&self, primary: &Path) -> Result<()> {
        Err(not_yet(&format!("logging of mirror {}", primary.display())))
    }

    /// Switches sync/async while running.
    pub fn mirror_set_mode(&self, primary: &Path, mode: MirrorMode) -> Result<()> {
        let _ = mode;
        Err(not_yet(&format!("mode of mirror {}", primary.display())))
    }

    /// Changes the tunables while running.
    pub fn mirror_set_options(&self, primary: &Path, options: MirrorOptions) -> Result<()> {
        let _ = options;
        Err(not_yet(&format!("options of mirror {}", primary.display())))
    }

    /// Waits until the mirror replicates with nothing out of step (`true`),
    /// or the timeout passes / it drops to logging or fails (`false`).
    pub fn mirror_wait(&self, primary: &Path, timeout: Option<Duration>) -> Result<bool> {
        let _ = timeout;
        Err(not_yet(&format!("wait for mirror {}", primary.display())))
    }
}
