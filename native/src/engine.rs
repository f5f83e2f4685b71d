//! The engine façade: [`Engine`] owns volumes, sets, groups, overflow volumes,
//! copy jobs and the persistent configuration, and hands out data-path devices.
//!
//! All methods take `&self`; `Engine` is a cheap `Clone` (an `Arc`) and is
//! `Send + Sync`. Sets are named by their shadow path, as given or canonical.

use crate::blockdev::{BlockDevice, ExportSource};
use crate::error::Result;
use crate::types::*;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

/// Handle to the imaging engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<()>,
}

#[allow(unused_variables)]
impl Engine {
    /// Opens the engine: loads the configuration from `state_dir`, resumes
    /// every set (restarting interrupted copies from their copy bitmaps).
    pub fn open(cfg: EngineConfig) -> Result<Engine> {
        todo!()
    }
    /// Enables a set (`iiadm -e`).
    pub fn enable_set(&self, spec: SetSpec) -> Result<SetInfo> {
        todo!()
    }
    /// Disables a set (`iiadm -d`).
    pub fn disable_set(&self, shadow: &Path) -> Result<()> {
        todo!()
    }
    /// Every set, sorted by shadow path.
    pub fn sets(&self) -> Vec<SetInfo> {
        todo!()
    }
    /// One set.
    pub fn set_info(&self, shadow: &Path) -> Result<SetInfo> {
        todo!()
    }
    /// Changes a set's display name.
    pub fn rename_set(&self, shadow: &Path, name: &str) -> Result<()> {
        todo!()
    }
    /// Starts a copy or update (returns once the bitmaps are switched).
    pub fn copy(&self, shadow: &Path, dir: Direction, mode: CopyMode) -> Result<()> {
        todo!()
    }
    /// Stops a running copy; the remaining chunks stay marked.
    pub fn abort(&self, shadow: &Path) -> Result<()> {
        todo!()
    }
    /// Pauses a copy and marks the bitmap clean.
    pub fn suspend(&self, shadow: &Path) -> Result<()> {
        todo!()
    }
    /// Continues after [`Engine::suspend`].
    pub fn resume(&self, shadow: &Path) -> Result<()> {
        todo!()
    }
    /// Resets a set after a volume failure (imaging.md §3.4).
    pub fn reset(&self, shadow: &Path) -> Result<()> {
        todo!()
    }
    /// Waits until no copy runs; `Ok(true)` when finished, `Ok(false)` on timeout.
    pub fn wait(&self, shadow: &Path, timeout: Option<Duration>) -> Result<bool> {
        todo!()
    }
    /// Sets copy delay (10 ms ticks, 2..=10000) and units (chunks per burst,
    /// 100..=60000); out of range changes nothing.
    pub fn set_copy_params(&self, shadow: &Path, delay_ticks: u32, units: u32) -> Result<()> {
        todo!()
    }
    /// Exports an independent, up-to-date shadow.
    pub fn export_shadow(&self, shadow: &Path) -> Result<()> {
        todo!()
    }
    /// Imports a shadow exported by another host, tracking writes in `bitmap`.
    pub fn import_shadow(&self, shadow: &Path, bitmap: &Path) -> Result<SetInfo> {
        todo!()
    }
    /// Joins an exported shadow, OR-ing the other host's shadow bitmap if given.
    pub fn join(&self, shadow: &Path, foreign_bitmap: Option<&Path>) -> Result<()> {
        todo!()
    }
    /// Initialises an overflow volume.
    pub fn init_overflow(&self, path: &Path) -> Result<OverflowInfo> {
        todo!()
    }
    /// Deletes an overflow volume (no set may be attached).
    pub fn delete_overflow(&self, path: &Path) -> Result<()> {
        todo!()
    }
    /// Every overflow volume.
    pub fn overflows(&self) -> Vec<OverflowInfo> {
        todo!()
    }
    /// One overflow volume.
    pub fn overflow_info(&self, path: &Path) -> Result<OverflowInfo> {
        todo!()
    }
    /// Attaches an overflow volume to a compact dependent set.
    pub fn attach_overflow(&self, shadow: &Path, overflow: &Path) -> Result<()> {
        todo!()
    }
    /// Detaches the set's overflow volume (refused while it holds data).
    pub fn detach_overflow(&self, shadow: &Path) -> Result<()> {
        todo!()
    }
    /// Creates an empty group.
    pub fn create_group(&self, name: &str, kind: SetKind) -> Result<GroupInfo> {
        todo!()
    }
    /// Deletes a group, releasing its members.
    pub fn delete_group(&self, name: &str) -> Result<()> {
        todo!()
    }
    /// Renames a group.
    pub fn rename_group(&self, old: &str, new: &str) -> Result<()> {
        todo!()
    }
    /// Moves a set into a group (out of its previous one).
    pub fn add_to_group(&self, shadow: &Path, group: &str) -> Result<()> {
        todo!()
    }
    /// Takes a set out of its group.
    pub fn remove_from_group(&self, shadow: &Path) -> Result<()> {
        todo!()
    }
    /// Every group.
    pub fn groups(&self) -> Vec<GroupInfo> {
        todo!()
    }
    /// One group.
    pub fn group_info(&self, name: &str) -> Result<GroupInfo> {
        todo!()
    }
    /// One copy/update of every member at one point in time.
    pub fn group_copy(&self, group: &str, dir: Direction, mode: CopyMode) -> Result<()> {
        todo!()
    }
    /// Aborts every member's copy.
    pub fn group_abort(&self, group: &str) -> Result<()> {
        todo!()
    }
    /// Suspends every member.
    pub fn group_suspend(&self, group: &str) -> Result<()> {
        todo!()
    }
    /// Resumes every member.
    pub fn group_resume(&self, group: &str) -> Result<()> {
        todo!()
    }
    /// Waits for every member.
    pub fn group_wait(&self, group: &str, timeout: Option<Duration>) -> Result<bool> {
        todo!()
    }
    /// Locks a group.
    pub fn lock_group(&self, group: &str) -> Result<()> {
        todo!()
    }
    /// Unlocks a group.
    pub fn unlock_group(&self, group: &str) -> Result<()> {
        todo!()
    }
    /// Progress of the group's copies (chunk-weighted; 100 when none).
    pub fn group_percent_completed(&self, group: &str) -> Result<f32> {
        todo!()
    }
    /// Every regular file and block device under the roots.
    pub fn volumes(&self) -> Vec<VolumeInfo> {
        todo!()
    }
    /// Canonicalises `path` and checks it lies under a root.
    pub fn resolve_volume(&self, path: &Path) -> Result<PathBuf> {
        todo!()
    }
    /// Data-path handle: master or shadow of a set, or a plain volume.
    pub fn device(&self, path: &Path) -> Result<Arc<dyn BlockDevice>> {
        todo!()
    }
    /// A new receiver of every later event.
    pub fn subscribe(&self) -> Receiver<EngineEvent> {
        todo!()
    }
    /// Orderly suspend of everything: stop copies, flush, mark bitmaps clean.
    pub fn shutdown(&self) {
        todo!()
    }
}

impl ExportSource for Engine {
    fn export_names(&self) -> Vec<String> {
        todo!()
    }
    fn open_export(&self, name: &str) -> Option<Arc<dyn BlockDevice>> {
        todo!()
    }
}

#[allow(dead_code)]
fn _unused(_: PathBuf) {}
