//! Observation hooks for metrics: the engine and the NBD server report events
//! here, and whoever installed a [`Probe`] (cimomd's Prometheus endpoint)
//! counts them. Without one every hook is a single atomic load.
//!
//! Events: an NBD connection to an export opens ([`Probe::export_opened`];
//! dropping the returned [`ExportProbe`] means it closed) and serves requests
//! ([`ExportProbe::request`]); a bitmap volume is synced
//! ([`Probe::bitmap_sync`]); a master chunk is preserved by copy-on-write
//! before its first write ([`Probe::cow_first_write`]).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What an NBD request did, for per-export figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NbdOp {
    /// `NBD_CMD_READ`.
    Read,
    /// `NBD_CMD_WRITE`.
    Write,
    /// Flush, trim, write-zeroes.
    Other,
}

impl NbdOp {
    /// From an NBD command type.
    #[cfg(feature = "nbd")]
    pub fn of(kind: u16) -> NbdOp {
        match kind {
            crate::nbd::proto::CMD_READ => NbdOp::Read,
            crate::nbd::proto::CMD_WRITE => NbdOp::Write,
            _ => NbdOp::Other,
        }
    }
}

/// One open NBD connection's sink; dropped when the connection ends.
pub trait ExportProbe: Send + Sync {
    /// A request was answered after `took` (device time), moving `bytes`.
    fn request(&self, op: NbdOp, bytes: u64, took: Duration);
}

/// Receives engine and NBD events.
pub trait Probe: Send + Sync {
    /// A client entered transmission on `export`.
    fn export_opened(&self, export: &str) -> Arc<dyn ExportProbe>;
    /// A bitmap volume write was made durable.
    fn bitmap_sync(&self);
    /// A chunk was copied aside before a write changed it.
    fn cow_first_write(&self);
}

static PROBE: OnceLock<Box<dyn Probe>> = OnceLock::new();

/// Installs the process's probe; false when one is already installed.
pub fn install(probe: Box<dyn Probe>) -> bool {
    PROBE.set(probe).is_ok()
}

#[cfg(feature = "nbd")]
pub(crate) fn export_opened(export: &str) -> Option<Arc<dyn ExportProbe>> {
    PROBE.get().map(|p| p.export_opened(export))
}

pub(crate) fn bitmap_sync() {
    if let Some(p) = PROBE.get() {
        p.bitmap_sync();
    }
}

pub(crate) fn cow_first_write() {
    if let Some(p) = PROBE.get() {
        p.cow_first_write();
    }
}
