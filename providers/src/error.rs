//! The crate's one error type and the **only** mapping from engine errors
//! ([`native::Error`]) and provider-side failures to [`CimError`].
//!
//! Handlers never build a `CimError` from an engine error themselves: they wrap
//! it in [`Error::Engine`] with the action that failed ("enable set /v/s",
//! "copyMasterToShadow on set /v/s"), and `From<Error> for CimError` below picks
//! the status code. The engine's messages already name the set or volume and
//! the cause; the action prefix says what the client asked for.
//!
//! | engine error | status |
//! |---|---|
//! | `NotFound` | `CIM_ERR_NOT_FOUND` |
//! | `AlreadyExists`, `InUse` (volume in a conflicting role) | `CIM_ERR_ALREADY_EXISTS` |
//! | `AccessDenied` (outside every `--volume-root`) | `CIM_ERR_ACCESS_DENIED` |
//! | `InvalidParameter` (copy parameters out of range, bad names, sizes) | `CIM_ERR_INVALID_PARAMETER` |
//! | `ClientsConnected` (a volume the operation would change is open by NBD clients) | `CIM_ERR_FAILED` |
//! | a peer's CIM error (mirror secondaries) | the peer's status; `CIM_ERR_FAILED` when it cannot be reached |
//! | `Busy`, `WrongState`, `Precondition`, `Io`, `OutOfRange`, `PermissionDenied`, `StateDirLocked`, anything newer | `CIM_ERR_FAILED` |

use cim::{CimError, StatusCode};

/// Everything a provider call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine refused or failed an operation.
    #[error("cannot {action}: {source}")]
    Engine {
        /// What was attempted, naming the set, group or volume.
        action: String,
        /// The engine's error (names the object and the cause).
        #[source]
        source: native::Error,
    },
    /// A method parameter or instance property is missing, of the wrong type
    /// or out of range; nothing was changed.
    #[error("{0}")]
    InvalidParameter(String),
    /// The named object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A read-only property was given a new value in ModifyInstance.
    #[error("property {property} of {class} is read-only: {hint}")]
    ReadOnly {
        /// Property name as spelt in the contract.
        property: &'static str,
        /// Class name.
        class: &'static str,
        /// What to use instead.
        hint: &'static str,
    },
    /// A precondition checked by the provider does not hold (set in a group,
    /// shadow not exportable, wait timed out, ...).
    #[error("{0}")]
    Failed(String),
    /// The operation is not offered for this class.
    #[error("{0}")]
    NotSupported(String),
    /// The object to create exists already, or a volume is taken.
    #[error("{0}")]
    AlreadyExists(String),
    /// A peer host refused or failed a request; its status code is kept.
    #[error("cannot {action}: {source}")]
    Peer {
        /// What was attempted on the peer.
        action: String,
        /// The peer's answer.
        #[source]
        source: crate::peers::PeerError,
    },
    /// The blocking task running the engine call panicked or was cancelled.
    #[error("internal error while {action}: {cause}")]
    Task {
        /// What was running.
        action: String,
        /// The join error.
        cause: String,
    },
}

impl Error {
    /// Wraps an engine error with the action that failed.
    pub fn engine(action: impl Into<String>, source: native::Error) -> Error {
        Error::Engine {
            action: action.into(),
            source,
        }
    }

    /// The DSP0200 status this error is reported with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Engine { source, .. } => engine_status(source),
            Error::InvalidParameter(_) => StatusCode::InvalidParameter,
            Error::NotFound(_) => StatusCode::NotFound,
            Error::ReadOnly { .. } | Error::Failed(_) | Error::Task { .. } => StatusCode::Failed,
            Error::NotSupported(_) => StatusCode::NotSupported,
            Error::AlreadyExists(_) => StatusCode::AlreadyExists,
            Error::Peer { source, .. } => source.status,
        }
    }
}

/// The status code for an engine error (see the table in the module doc).
fn engine_status(err: &native::Error) -> StatusCode {
    use native::Error as E;
    match err {
        E::NotFound { .. } => StatusCode::NotFound,
        E::AlreadyExists { .. } | E::InUse { .. } => StatusCode::AlreadyExists,
        E::AccessDenied { .. } => StatusCode::AccessDenied,
        E::InvalidParameter { .. } => StatusCode::InvalidParameter,
        // Not a role conflict (that would be ALREADY_EXISTS): the volume is
        // right, it is only busy until the clients disconnect.
        E::ClientsConnected { .. } => StatusCode::Failed,
        // Busy, WrongState, Precondition, Io, OutOfRange, PermissionDenied and
        // any variant added later: the operation failed for a reason the
        // description explains.
        _ => StatusCode::Failed,
    }
}

impl From<Error> for CimError {
    fn from(err: Error) -> CimError {
        CimError::new(err.status(), err.to_string())
    }
}

/// Result alias for provider internals.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cim(e: native::Error) -> CimError {
        Error::engine("copyMasterToShadow on set /v/s", e).into()
    }

    #[test]
    fn engine_errors_map_to_contract_codes() {
        let e = cim(native::Error::NotFound {
            kind: "set",
            name: "/v/s".into(),
            hint: "list the sets".into(),
        });
        assert_eq!(e.status, StatusCode::NotFound);
        assert!(e.description.contains("/v/s"), "{}", e.description);
        assert!(
            e.description.starts_with("cannot copyMasterToShadow"),
            "{}",
            e.description
        );

        let e = cim(native::Error::AccessDenied {
            path: PathBuf::from("/etc/passwd"),
            reason: "outside every volume root".into(),
        });
        assert_eq!(e.status, StatusCode::AccessDenied);
        assert!(e.description.contains("/etc/passwd"));

        let e = cim(native::Error::InUse {
            volume: PathBuf::from("/v/m"),
            role: "bitmap of /v/s".into(),
            cause: "choose another volume".into(),
        });
        assert_eq!(e.status, StatusCode::AlreadyExists);

        let e = cim(native::Error::InvalidParameter {
            subject: "set /v/s".into(),
            cause: "units 5 out of range 100..=60000".into(),
        });
        assert_eq!(e.status, StatusCode::InvalidParameter);

        let e = cim(native::Error::Busy {
            set: PathBuf::from("/v/s"),
            cause: "a copy is running".into(),
        });
        assert_eq!(e.status, StatusCode::Failed);
        assert!(e.description.contains("a copy is running"));

        let e = cim(native::Error::WrongState {
            set: PathBuf::from("/v/s"),
            state: "exported".into(),
            cause: "join it first".into(),
        });
        assert_eq!(e.status, StatusCode::Failed);

        let e = cim(native::Error::ClientsConnected {
            set: PathBuf::from("/v/s"),
            volume: PathBuf::from("/v/s"),
            clients: 2,
            what: "copy/update to the shadow".into(),
        });
        assert_eq!(e.status, StatusCode::Failed);
        assert!(
            e.description.contains("/v/s") && e.description.contains("2 NBD client(s)"),
            "{}",
            e.description
        );
    }

    #[test]
    fn provider_errors_map_to_codes() {
        let e: CimError = Error::ReadOnly {
            property: "state",
            class: "DS_IISet",
            hint: "only setName, copyUnits and copyDelay can be modified",
        }
        .into();
        assert_eq!(e.status, StatusCode::Failed);
        assert!(e.description.contains("state"));
        let e: CimError = Error::InvalidParameter("units 5 out of range".into()).into();
        assert_eq!(e.status, StatusCode::InvalidParameter);
        let e: CimError = Error::NotFound("no group g".into()).into();
        assert_eq!(e.status, StatusCode::NotFound);
    }
}
