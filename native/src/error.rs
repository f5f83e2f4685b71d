//! The crate's one error type.
//!
//! Every variant that concerns a set names the set (by its shadow volume), the
//! volume involved where there is one, and the cause, so that the providers can
//! turn it into an error description as is. Variants are distinguishable by
//! kind so that callers can map them to their own status codes:
//!
//! | variant | meaning |
//! |---|---|
//! | [`Error::NotFound`] | no such set, group, overflow volume or volume |
//! | [`Error::AlreadyExists`] | a set, group or overflow volume of that name exists |
//! | [`Error::InUse`] | a volume already plays a conflicting role |
//! | [`Error::AccessDenied`] | a path lies outside every volume root |
//! | [`Error::InvalidParameter`] | an argument is malformed or out of range |
//! | [`Error::Busy`] | a copy or update is in progress |
//! | [`Error::WrongState`] | the set's state forbids the operation |
//! | [`Error::Io`] | an operating-system I/O error |
//! | [`Error::OutOfRange`] | a data-path access outside the device |
//! | [`Error::PermissionDenied`] | the data path refuses the access (exported shadow, ...) |
//! | [`Error::ClientsConnected`] | NBD clients hold a volume the operation would change under them |
//! | [`Error::StateDirLocked`] | another engine already uses the state directory |

use std::path::{Path, PathBuf};

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine and the NBD server can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error on a volume.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The volume or file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An access outside the volume, or of length zero.
    #[error("{what} at offset {offset} length {len} is out of range for {path} of {size} bytes")]
    OutOfRange {
        /// What was attempted ("read", "write", ...).
        what: &'static str,
        /// The volume concerned.
        path: PathBuf,
        /// Start of the request.
        offset: u64,
        /// Length of the request.
        len: u64,
        /// Size of the volume.
        size: u64,
    },
    /// The volume refuses this kind of access in its current state
    /// (exported shadow, offline volume, read-only export).
    #[error("{path}: {reason}")]
    PermissionDenied {
        /// The volume concerned.
        path: PathBuf,
        /// Why the access is refused.
        reason: String,
    },
    /// A precondition of an engine operation does not hold (generic form; the
    /// engine itself uses the more specific variants below).
    #[error("{0}")]
    Precondition(String),
    /// The named object does not exist.
    #[error("{kind} {name} not found: {hint}")]
    NotFound {
        /// "set", "group", "overflow volume", "volume".
        kind: &'static str,
        /// Its name (shadow path for a set, path for a volume).
        name: String,
        /// What to do about it.
        hint: String,
    },
    /// An object of that name exists already.
    #[error("{kind} {name} already exists: {cause}")]
    AlreadyExists {
        /// "set", "group", "overflow volume".
        kind: &'static str,
        /// Its name.
        name: String,
        /// Details and what to do.
        cause: String,
    },
    /// A volume is already used in a role that conflicts with the request.
    #[error("volume {volume} is already {role}: {cause}")]
    InUse {
        /// The volume concerned.
        volume: PathBuf,
        /// Its current role ("master of /v/s", "bitmap of /v/s", "overflow", ...).
        role: String,
        /// What was attempted and what to do.
        cause: String,
    },
    /// A path lies outside every configured volume root (after resolving
    /// symlinks and `..`).
    #[error("access to {path} denied: {reason}")]
    AccessDenied {
        /// The path as given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An argument is malformed or out of range; nothing was changed.
    #[error("invalid parameter for {subject}: {cause}")]
    InvalidParameter {
        /// "set /v/shadow", "volume /v/x", "group g", ...
        subject: String,
        /// What is wrong and what to do.
        cause: String,
    },
    /// A copy or update is in progress on the set.
    #[error("set {set} is busy: {cause}")]
    Busy {
        /// The set (its shadow volume).
        set: PathBuf,
        /// What is running and what to do.
        cause: String,
    },
    /// The set's (or group's) state forbids the operation.
    #[error("set {set} is {state}: {cause}")]
    WrongState {
        /// The set (its shadow volume), or a group / overflow name.
        set: PathBuf,
        /// Its current state in words.
        state: String,
        /// What was refused and what to do.
        cause: String,
    },
    /// NBD clients have a volume of the set open, and the operation would
    /// change or take the volume away under them (imaging.md §8, "mount
    /// checks"; the classic tool refused mounted volumes the same way).
    #[error("set {set}: {what} refused: volume {volume} is in use by {clients} NBD client(s); disconnect them first")]
    ClientsConnected {
        /// The set (its shadow volume).
        set: PathBuf,
        /// The volume the clients hold.
        volume: PathBuf,
        /// Open client connections to it when the operation was refused.
        clients: usize,
        /// What was refused ("enable", "copy/update to the shadow", ...).
        what: String,
    },
    /// Another engine (another process, or another [`crate::Engine`] in this
    /// one) holds the lock on the state directory.
    #[error("another engine already uses state directory {dir}{holder}; stop it or pick another --state-dir")]
    StateDirLocked {
        /// The state directory.
        dir: PathBuf,
        /// " (process N)" when the lock file names its holder, else "".
        holder: String,
    },
}

impl Error {
    /// The errno an NBD client should see for this error.
    pub fn errno(&self) -> u32 {
        const EPERM: u32 = 1;
        const ENOENT: u32 = 2;
        const EIO: u32 = 5;
        const EACCES: u32 = 13;
        const EBUSY: u32 = 16;
        const EEXIST: u32 = 17;
        const EINVAL: u32 = 22;
        const ENOSPC: u32 = 28;
        match self {
            Error::Io { source, .. } if source.raw_os_error() == Some(28) => ENOSPC,
            Error::Io { .. } => EIO,
            Error::OutOfRange { len: 0, .. } => EINVAL,
            Error::OutOfRange { .. } => EINVAL,
            Error::PermissionDenied { .. } => EPERM,
            Error::Precondition(_) => EIO,
            Error::NotFound { .. } => ENOENT,
            Error::AlreadyExists { .. } => EEXIST,
            Error::InUse { .. } => EBUSY,
            Error::AccessDenied { .. } => EACCES,
            Error::InvalidParameter { .. } => EINVAL,
            Error::Busy { .. } => EBUSY,
            Error::WrongState { .. } => EIO,
            Error::ClientsConnected { .. } => EBUSY,
            Error::StateDirLocked { .. } => EBUSY,
        }
    }

    /// The set (shadow volume) or volume the error is about, if any.
    pub fn subject_path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::OutOfRange { path, .. }
            | Error::PermissionDenied { path, .. }
            | Error::AccessDenied { path, .. } => Some(path),
            Error::InUse { volume, .. } => Some(volume),
            Error::Busy { set, .. }
            | Error::WrongState { set, .. }
            | Error::ClientsConnected { set, .. } => Some(set),
            Error::StateDirLocked { dir, .. } => Some(dir),
            _ => None,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn set_not_found(shadow: &Path) -> Error {
        Error::NotFound {
            kind: "set",
            name: shadow.display().to_string(),
            hint: "no enabled set has this shadow volume; list the sets and use a shadow path"
                .into(),
        }
    }

    pub(crate) fn invalid(subject: impl Into<String>, cause: impl Into<String>) -> Error {
        Error::InvalidParameter {
            subject: subject.into(),
            cause: cause.into(),
        }
    }

    pub(crate) fn wrong_state(set: &Path, state: &str, cause: impl Into<String>) -> Error {
        Error::WrongState {
            set: set.to_path_buf(),
            state: state.to_string(),
            cause: cause.into(),
        }
    }

    pub(crate) fn busy(set: &Path, cause: impl Into<String>) -> Error {
        Error::Busy {
            set: set.to_path_buf(),
            cause: cause.into(),
        }
    }

    pub(crate) fn in_use(
        volume: &Path,
        role: impl Into<String>,
        cause: impl Into<String>,
    ) -> Error {
        Error::InUse {
            volume: volume.to_path_buf(),
            role: role.into(),
            cause: cause.into(),
        }
    }
}
