//! Continuous copy ("remote mirror"): the plain data of the mirror API and
//! the link a mirror writes its secondary through.
//!
//! A mirror binds a *primary* volume on this host to a *secondary* (another
//! host's NBD export, or a local volume) and a *scoreboard* bitmap volume
//! (one bit per 32 KiB chunk; a set bit means "the secondary may differ
//! here"). Every write to the primary through the engine's devices is
//! carried to the secondary: in [`MirrorMode::Sync`] it is acknowledged
//! after both sides, in [`MirrorMode::Async`] after the local side, with a
//! bounded ordered queue draining to the secondary. The engine methods are
//! in `engine/mirrors.rs`; this module holds the types they take and give.
//!
//! The engine reaches remote secondaries only through a [`LinkFactory`]
//! given in [`crate::EngineConfig::links`]; the NBD client
//! (`nbd::client`, feature `nbd`) provides one, so the engine core needs
//! no network code and tests can plug a local link.

pub(crate) mod device;
pub(crate) mod group;
pub(crate) mod jobs;
pub(crate) mod link;
pub(crate) mod queue;
pub(crate) mod scoreboard;

pub use device::state_name;

use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// When a host write to the primary is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MirrorMode {
    /// After the local write and the secondary's reply (FLUSH and FUA are
    /// forwarded and waited for).
    #[default]
    Sync,
    /// After the local write; the secondary is fed from a bounded queue.
    Async,
}

/// What an async mirror does when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QueueFull {
    /// Writers stall until the queue drains.
    #[default]
    Block,
    /// The mirror's group drops to logging (writes go on, tracked).
    Noblock,
}

/// What happens to host writes when the link is lost (after `link_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LinkPolicy {
    /// The group goes to logging; writes continue and are tracked.
    #[default]
    Logging,
    /// Host writes fail with EIO until an operator acts ("freeze").
    Freeze,
}

/// Where a mirror stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MirrorState {
    /// Not replicating; changed chunks are tracked in the scoreboard.
    Logging,
    /// A full or update sync primary → secondary is running.
    Syncing,
    /// In step: every write is carried to the secondary.
    Replicating,
    /// A full or update sync secondary → primary is running.
    ReverseSyncing,
    /// A forward sync is needed before replicating (new mirror, or both
    /// sides may differ and an operator must choose a direction).
    NeedSync,
    /// An interrupted reverse sync must be redone before use.
    NeedReverseSync,
    /// Stopped by an error an operator must look at.
    Failed,
}

/// The state of the connection to the secondary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Connected.
    Up,
    /// Not connected (lost, or never made).
    Down,
    /// A connection attempt is running.
    Connecting,
}

/// Tunables of one mirror; `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MirrorOptions {
    /// Async queue bound in writes (default 4096).
    pub queue_writes: u32,
    /// Async queue bound in bytes (default 8 MiB).
    pub queue_bytes: u64,
    /// Full async queue behaviour.
    pub queue_full: QueueFull,
    /// How long a sync write waits for the secondary before the link counts
    /// as lost (default 5 s).
    #[serde(with = "duration_ms")]
    pub link_timeout: Duration,
    /// What host writes do after link loss.
    pub link_policy: LinkPolicy,
    /// Retry the link and update-sync when it returns.
    pub autosync: bool,
    /// Take a dependent point-in-time snapshot of the secondary before any
    /// resync, dropped when back in step.
    pub protect_target: bool,
}

impl Default for MirrorOptions {
    fn default() -> MirrorOptions {
        MirrorOptions {
            queue_writes: 4096,
            queue_bytes: 8 << 20,
            queue_full: QueueFull::Block,
            link_timeout: Duration::from_secs(5),
            link_policy: LinkPolicy::Logging,
            autosync: false,
            protect_target: false,
        }
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// TLS settings for reaching a remote secondary's NBD export (STARTTLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTls {
    /// CA certificate(s) (PEM) the server certificate must chain to.
    pub ca: PathBuf,
    /// Client certificate (PEM), when the server asks for one.
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    pub key: Option<PathBuf>,
    /// Name checked against the server certificate.
    pub server_name: String,
}

/// How to reach a remote secondary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTarget {
    /// Peer name (from the peers file), for messages and `usedBy`.
    pub peer: String,
    /// NBD address, `host:port`.
    pub address: String,
    /// NBD export name: `<absolute volume path>?mirror=<token>` (the token
    /// the target host's claim carries; see [`TargetClaim`]).
    pub export: String,
    /// STARTTLS settings; `None` for plain TCP (loopback, tests).
    pub tls: Option<RemoteTls>,
}

/// The other side of a mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Secondary {
    /// A volume on this host (under the volume roots).
    Local(PathBuf),
    /// Another host's volume, through its NBD export.
    Remote {
        /// The volume's path on the remote host.
        volume: PathBuf,
        /// How to reach it.
        target: RemoteTarget,
    },
}

/// What [`crate::Engine::enable_mirror`] takes.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorSpec {
    /// Primary volume (under the roots).
    pub primary: PathBuf,
    /// Secondary.
    pub secondary: Secondary,
    /// Scoreboard bitmap volume (under the roots).
    pub scoreboard: PathBuf,
    /// Initial mode.
    pub mode: MirrorMode,
    /// Consistency group: every mirror of the group drops to logging the
    /// moment one does.
    pub group: Option<String>,
    /// Tunables.
    pub options: MirrorOptions,
    /// `true` (`iiadm mirror -E`): the volumes are known equal, replication
    /// starts at once; `false` (`-e`): every chunk is marked, a full sync
    /// is needed.
    pub volumes_equal: bool,
}

/// Snapshot of one mirror, as the providers show it.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorInfo {
    /// Primary volume (canonical); the mirror's name in the engine API.
    pub primary: PathBuf,
    /// Secondary.
    pub secondary: Secondary,
    /// Scoreboard volume (canonical).
    pub scoreboard: PathBuf,
    /// Volume size in bytes.
    pub size: u64,
    /// Mode.
    pub mode: MirrorMode,
    /// State.
    pub state: MirrorState,
    /// Link state.
    pub link: LinkState,
    /// Share of chunks known equal on both sides, 0–100.
    pub percent_synchronized: f32,
    /// Bytes written on the primary and not yet acknowledged by the secondary
    /// (async queue plus in-flight), or marked in the scoreboard while logging.
    pub bytes_behind: u64,
    /// Writes in the async queue and in flight.
    pub queue_depth: u32,
    /// Chunks marked in the scoreboard.
    pub dirty_chunks: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// When the mirror last was fully in step.
    pub when_synchronized: Option<SystemTime>,
    /// Consistency group.
    pub group: Option<String>,
    /// Tunables.
    pub options: MirrorOptions,
}

/// Full or update (scoreboard-driven) sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// Every chunk.
    Full,
    /// Only the chunks marked in the scoreboard.
    Update,
}

/// Which way a sync copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncDirection {
    /// Primary → secondary.
    Forward,
    /// Secondary → primary (restore the primary).
    Reverse,
}

/// A target host's claim of a volume for one mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetClaim {
    /// Who writes it: `<peer>:<primary volume>`, shown in `usedBy` as
    /// "mirror target of …".
    pub owner: String,
    /// The secret the mirror's NBD connection presents in its export name
    /// (`?mirror=<token>`); every other client's writes get EPERM.
    pub token: String,
}

/// A claimed target volume, as the providers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    /// The claimed volume (canonical).
    pub volume: PathBuf,
    /// Who writes it.
    pub owner: String,
    /// Volume size in bytes.
    pub size: u64,
    /// Whether the owner's connection is open now.
    pub connected: bool,
}

/// Called once with the secondary's reply to one request.
pub type Completion = Box<dyn FnOnce(Result<()>) + Send>;

/// Called once with the data read, or the error.
pub type ReadCompletion = Box<dyn FnOnce(Result<Vec<u8>>) + Send>;

/// One open connection to a secondary. Requests may be in flight together
/// (the NBD client pipelines them); completions run on the link's own
/// threads and must not block.
pub trait MirrorLink: Send + Sync {
    /// Size of the secondary in bytes.
    fn size(&self) -> u64;
    /// Starts a write; `done` runs when the secondary replied.
    fn write(&self, offset: u64, data: Vec<u8>, fua: bool, done: Completion);
    /// Starts a flush of every write already replied to.
    fn flush(&self, done: Completion);
    /// Starts a read (reverse sync).
    fn read(&self, offset: u64, len: u32, done: ReadCompletion);
    /// `false` once the connection is known broken; a new link is needed.
    fn is_up(&self) -> bool;
}

/// Opens links to remote secondaries, and protects them before a resync.
pub trait LinkFactory: Send + Sync {
    /// Connects (blocking, bounded by `timeout`).
    fn connect(&self, target: &RemoteTarget, timeout: Duration) -> Result<Arc<dyn MirrorLink>>;
    /// Takes a dependent point-in-time snapshot of a remote secondary
    /// (`protectTarget`) before a resync; the default cannot.
    fn protect(&self, target: &RemoteTarget, volume: &std::path::Path) -> Result<()> {
        let _ = volume;
        Err(crate::Error::Precondition(format!(
            "cannot protect the target on {}: no way to reach its object manager",
            target.peer
        )))
    }
    /// Drops the snapshot [`LinkFactory::protect`] took.
    fn unprotect(&self, target: &RemoteTarget, volume: &std::path::Path) -> Result<()> {
        let _ = (target, volume);
        Ok(())
    }
}

/// [`LinkFactory`] in [`crate::EngineConfig`] (which is `Debug + Clone`).
#[derive(Clone)]
pub struct Links(pub Arc<dyn LinkFactory>);

impl fmt::Debug for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Links(..)")
    }
}
