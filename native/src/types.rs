//! Plain data types of the engine's public API: specifications, snapshots of
//! sets, groups, overflow and plain volumes, events, and the flag word.
//!
//! Everything here is a value (no handles), `Clone + Send + Sync`, so callers
//! can keep and compare snapshots freely.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The copy and tracking granularity: 32 KiB (imaging.md §1.3).
pub const CHUNK_SIZE: u64 = 32 * 1024;
/// Default and range of copy units (chunks per burst, interface.md §7).
pub const DEFAULT_COPY_UNITS: u32 = 100;
/// Smallest accepted copy units value.
pub const MIN_COPY_UNITS: u32 = 100;
/// Largest accepted copy units value.
pub const MAX_COPY_UNITS: u32 = 60000;
/// Default and range of the copy delay, in ticks of 10 ms.
pub const DEFAULT_COPY_DELAY: u32 = 2;
/// Smallest accepted copy delay (ticks).
pub const MIN_COPY_DELAY: u32 = 2;
/// Largest accepted copy delay (ticks).
pub const MAX_COPY_DELAY: u32 = 10000;
/// Length of one delay tick.
pub const TICK: Duration = Duration::from_millis(10);

/// The set flag word of imaging.md §3.1, as reported in [`SetInfo::flags`] and
/// stored in the bitmap header.
pub mod flags {
    /// Independent set.
    pub const GOLDEN: u32 = 0x1;
    /// Background copy running.
    pub const COPYINGP: u32 = 0x100;
    /// Copy direction master→shadow pending or active.
    pub const COPYINGM: u32 = 0x200;
    /// Copy direction shadow→master pending or active.
    pub const COPYINGS: u32 = 0x400;
    /// Abort requested.
    pub const COPYINGX: u32 = 0x800;
    /// Bitmap volume failed.
    pub const BMPOFFLINE: u32 = 0x1000;
    /// Shadow volume failed.
    pub const SHDOFFLINE: u32 = 0x2000;
    /// Master volume failed.
    pub const MSTOFFLINE: u32 = 0x4000;
    /// Overflow volume failed.
    pub const OVROFFLINE: u32 = 0x8000;
    /// Compact dependent shadow.
    pub const TREEMAP: u32 = 0x10000;
    /// Compact shadow ran out of space.
    pub const OVERFLOW: u32 = 0x20000;
    /// Shadow exported.
    pub const SHDEXPORT: u32 = 0x40000;
    /// Imported shadow.
    pub const SHDIMPORT: u32 = 0x80000;
    /// Data spilled into the overflow volume.
    pub const VOVERFLOW: u32 = 0x100000;
    /// Master and shadow real sizes differ.
    pub const RESIZED: u32 = 0x1000000;
    /// Any offline flag.
    pub const OFFLINE: u32 = BMPOFFLINE | SHDOFFLINE | MSTOFFLINE | OVROFFLINE;
    /// Any copy flag.
    pub const COPYING: u32 = COPYINGP | COPYINGM | COPYINGS | COPYINGX;
}

/// Engine configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Directory holding the engine's configuration file (`engine.json`).
    pub state_dir: PathBuf,
    /// Every volume must lie under one of these (after canonicalisation).
    pub volume_roots: Vec<PathBuf>,
    /// Bitmaps are written through to the bitmap volume (the only mode
    /// implemented; `false` is accepted and treated as `true`).
    pub persistent_bitmaps: bool,
    /// How mirrors reach remote secondaries (`None`: local secondaries only).
    pub links: Option<crate::mirror::Links>,
    /// Give persistent, full-size dependent sets a copy-on-write log
    /// (FORMAT.md §1.5), so a first write syncs shadow data and bitmap in
    /// parallel. Off by default: measured on a quiet 2-core VM, the serial
    /// order took 7.9–8.1k first writes/s at QD16 against 5.1–5.3k with
    /// the log. Bitmap volumes that already have a log keep using it.
    pub cow_log: bool,
}

impl EngineConfig {
    /// A configuration with persistent bitmaps.
    pub fn new(state_dir: impl Into<PathBuf>, volume_roots: Vec<PathBuf>) -> EngineConfig {
        EngineConfig {
            state_dir: state_dir.into(),
            volume_roots,
            persistent_bitmaps: true,
            links: None,
            cow_log: false,
        }
    }
}

/// Independent (full copy) or dependent (copy-on-write) shadow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SetKind {
    /// Full background copy at enable; the shadow becomes a physical copy.
    #[default]
    Independent,
    /// Copy-on-write; untouched shadow chunks read from the master.
    Dependent,
}

impl SetKind {
    /// "independent" or "dependent".
    pub fn as_str(self) -> &'static str {
        match self {
            SetKind::Independent => "independent",
            SetKind::Dependent => "dependent",
        }
    }
}

/// Direction of a copy or update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Master → shadow (`-c s`, `-u s`).
    ToShadow,
    /// Shadow → master (`-c m`, `-u m`).
    ToMaster,
}

/// Full copy or bitmap-driven update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CopyMode {
    /// Every chunk.
    Full,
    /// Only chunks marked in the bitmaps.
    Update,
}

/// What to enable. `Default` gives empty paths and an independent set with
/// every option unset; fill the paths in with struct update syntax.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetSpec {
    /// Master volume path.
    pub master: PathBuf,
    /// Shadow volume path (names the set).
    pub shadow: PathBuf,
    /// Bitmap volume path.
    pub bitmap: PathBuf,
    /// Independent or dependent.
    pub kind: SetKind,
    /// Display name; defaults to the shadow path.
    pub name: Option<String>,
    /// Group to enable into (must exist, same kind).
    pub group: Option<String>,
    /// Overflow volume to attach (compact dependent sets only; must be
    /// initialised).
    pub overflow: Option<PathBuf>,
    /// Copy units (chunks per burst, 100..=60000); `None` = the default 100.
    /// Checked like [`crate::Engine::set_copy_params`] before anything is
    /// created, and in force from the first burst of the enable's copy.
    pub copy_units: Option<u32>,
    /// Copy delay (10 ms ticks, 2..=10000); `None` = the default 2.
    pub copy_delay: Option<u32>,
    /// Keep the bitmaps in memory while the set runs (imaging.md §1.5
    /// "volatile mode"), for users who choose speed over crash safety: the
    /// data path then neither writes nor syncs bitmap pages, and
    /// copy-on-write data is not synced either; the bitmaps reach the bitmap
    /// volume at suspend and engine shutdown. After a crash the set comes
    /// back as the reference treats volatile bitmaps (§3.6): a dependent
    /// shadow offline, an independent one offline if it was being copied,
    /// otherwise with every chunk marked for update. Default: persistent.
    pub volatile_bitmap: bool,
}

/// The state of a set as the providers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SetState {
    /// No copy running.
    Idle,
    /// A full copy is running.
    Copying,
    /// An update is running.
    Updating,
    /// Suspended (copy paused, bitmaps clean).
    Suspended,
    /// Shadow exported.
    Exported,
    /// Imported shadow.
    Imported,
    /// A volume could not be opened or the bitmap is unusable.
    Offline,
    /// A volume failed; reset the set.
    NeedsReset,
}

impl SetState {
    /// Lowercase words: "idle", "copying", ..., "needs-reset".
    pub fn as_str(self) -> &'static str {
        match self {
            SetState::Idle => "idle",
            SetState::Copying => "copying",
            SetState::Updating => "updating",
            SetState::Suspended => "suspended",
            SetState::Exported => "exported",
            SetState::Imported => "imported",
            SetState::Offline => "offline",
            SetState::NeedsReset => "needs-reset",
        }
    }
}

/// Health of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// All well.
    Normal,
    /// Usable, but an aborted copy is pending or data spilled into overflow.
    Degraded,
    /// A volume is offline or a compact shadow ran out of space.
    Error,
}

impl Status {
    /// "normal", "degraded", "error".
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Normal => "normal",
            Status::Degraded => "degraded",
            Status::Error => "error",
        }
    }
}

/// Snapshot of one set.
#[derive(Debug, Clone, PartialEq)]
pub struct SetInfo {
    /// Shadow volume (the set's key).
    pub shadow: PathBuf,
    /// Master volume; for an imported set, the shadow path in angle brackets.
    pub master: PathBuf,
    /// Bitmap volume.
    pub bitmap: PathBuf,
    /// Display name.
    pub name: String,
    /// Independent or dependent (imported sets are independent).
    pub kind: SetKind,
    /// Created by import.
    pub imported: bool,
    /// Attached overflow volume.
    pub overflow: Option<PathBuf>,
    /// Group membership.
    pub group: Option<String>,
    /// Current state.
    pub state: SetState,
    /// Health.
    pub status: Status,
    /// Progress of the running or last copy/update (100 when none).
    pub percent_completed: f32,
    /// 100 × chunks marked in neither bitmap / all chunks.
    pub percent_synchronized: f32,
    /// Real master size in bytes (exposed size of both volumes).
    pub master_capacity: u64,
    /// Real shadow size in bytes.
    pub shadow_capacity: u64,
    /// Bitmap volume size in bytes.
    pub bitmap_capacity: u64,
    /// Chunks per burst.
    pub copy_units: u32,
    /// Pause between bursts, 10 ms ticks.
    pub copy_delay: u32,
    /// imaging.md §3.1 flag word.
    pub flags: u32,
    /// Number of chunks of the exposed volume size.
    pub chunks: u64,
    /// Bits set in the shadow bitmap.
    pub shadow_bits: u64,
    /// Bits set in the copy bitmap.
    pub copy_bits: u64,
    /// Seconds since the epoch of enable / last copy or update start.
    pub mtime: u64,
    /// Compact dependent shadow.
    pub compact: bool,
    /// Bitmaps kept in memory while running ([`SetSpec::volatile_bitmap`]).
    pub volatile_bitmap: bool,
    /// Chunks the shadow volume can hold (shadow size / 32 KiB).
    pub shadow_chunks_total: u64,
    /// Shadow chunks handed out (compact sets; 0 otherwise).
    pub shadow_chunks_used: u64,
    /// Overflow chunks held by this set.
    pub overflow_chunks_used: u64,
    /// A copy or update job is running right now.
    pub copy_active: bool,
    /// Direction of the pending/running copy, if any.
    pub copy_direction: Option<Direction>,
}

/// Snapshot of one overflow volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverflowInfo {
    /// Path.
    pub path: PathBuf,
    /// Size in bytes.
    pub capacity: u64,
    /// Bytes of chunks in use (including the header chunk).
    pub used_bytes: u64,
    /// Sets currently attached.
    pub attached_sets: u32,
    /// Shadows attached (paths).
    pub sets: Vec<PathBuf>,
    /// Usable chunks.
    pub total_chunks: u64,
    /// Chunks in use by sets.
    pub used_chunks: u64,
    /// High-water mark: the highest chunk number ever handed out (chunks
    /// are numbered from 1 and handed out lowest free first, so this many
    /// chunks have been used at some time; 0 = none, the header chunk not
    /// counted). Never below `used_chunks`; survives frees and restarts
    /// (imaging.md §1.7, `iiadm -Q` "Number of chunks ever allocated").
    pub high_water_chunks: u64,
    /// Sets ever attached (enable with this overflow volume, or attach),
    /// counting every attach; detaching or disabling never lowers it. Never
    /// below `attached_sets`; survives restarts (imaging.md §1.7, `iiadm -Q`
    /// "Total number of attached shadows").
    pub total_attached: u32,
}

/// Snapshot of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Name.
    pub name: String,
    /// Type all members must have.
    pub kind: SetKind,
    /// Members' shadow paths, sorted.
    pub members: Vec<PathBuf>,
    /// Locked groups refuse membership changes, rename, delete and per-member
    /// copy/update; group operations still work.
    pub locked: bool,
}

/// A volume under one of the roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// Canonical path.
    pub path: PathBuf,
    /// Size in bytes.
    pub capacity: u64,
    /// `""` or `"master of <shadow>"`, `"shadow of <shadow>"`,
    /// `"bitmap of <shadow>"`, `"overflow"`, `"mirror target of <owner>"`
    /// (a claimed master: `"mirror target of <owner>; master of <shadow>"`).
    pub used_by: String,
    /// A block device rather than a regular file.
    pub block_device: bool,
}

/// What changed about a set.
#[derive(Debug, Clone, PartialEq)]
pub enum SetChange {
    /// The state moved.
    State {
        /// Previous.
        from: SetState,
        /// Now.
        to: SetState,
    },
    /// The running copy crossed a 25 % milestone (25, 50, 75).
    Progress {
        /// Percent completed.
        percent: u8,
    },
    /// Name, group, overflow, copy parameters or status changed.
    Properties,
}

/// Events published by the engine (never blocking its I/O path).
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A set was enabled, imported or restored.
    SetCreated {
        /// Shadow path.
        shadow: PathBuf,
    },
    /// A set was disabled.
    SetDeleted {
        /// Shadow path.
        shadow: PathBuf,
    },
    /// A set changed.
    SetModified {
        /// Shadow path.
        shadow: PathBuf,
        /// What changed.
        change: SetChange,
    },
    /// A copy or update ended (finished or stopped).
    CopyFinished {
        /// Shadow path.
        shadow: PathBuf,
        /// Direction.
        direction: Direction,
        /// `true` if every chunk was copied, `false` if aborted/suspended.
        complete: bool,
    },
    /// A set went to status error.
    SetError {
        /// Shadow path.
        shadow: PathBuf,
        /// What happened.
        reason: String,
    },
    /// A group was created.
    GroupCreated {
        /// Name.
        name: String,
    },
    /// A group was deleted.
    GroupDeleted {
        /// Name.
        name: String,
    },
    /// A group was renamed, locked/unlocked or its members changed.
    GroupModified {
        /// Name (the new one after a rename).
        name: String,
        /// Old name after a rename.
        old_name: Option<String>,
    },
    /// An overflow volume was initialised.
    OverflowCreated {
        /// Path.
        path: PathBuf,
    },
    /// An overflow volume was deleted.
    OverflowDeleted {
        /// Path.
        path: PathBuf,
    },
    /// An overflow volume's attachments or usage changed.
    OverflowModified {
        /// Path.
        path: PathBuf,
    },
    /// A mirror was enabled or restored.
    MirrorCreated {
        /// Primary volume.
        primary: PathBuf,
    },
    /// A mirror was disabled.
    MirrorDeleted {
        /// Primary volume.
        primary: PathBuf,
    },
    /// A mirror's state, mode, link or options changed.
    MirrorModified {
        /// Primary volume.
        primary: PathBuf,
    },
    /// A mirror lost its link or failed.
    MirrorAlert {
        /// Primary volume.
        primary: PathBuf,
        /// `true` for link loss, `false` for a failure.
        link_lost: bool,
        /// What happened.
        reason: String,
    },
    /// A volume was claimed as a mirror target.
    TargetClaimed {
        /// Volume.
        volume: PathBuf,
    },
    /// A target claim was released.
    TargetReleased {
        /// Volume.
        volume: PathBuf,
    },
}
