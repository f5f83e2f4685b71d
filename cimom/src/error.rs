//! The crate's error type, [`Error`]: failures of the object manager that are
//! not (yet) a CIM status on the wire — opening or writing the repository,
//! compiling MOF, decoding a stored record.
//!
//! Operation handlers answer with [`cim::CimError`] instead; [`Error::to_cim`]
//! is the one place that maps this enum onto DSP0200 status codes.
//! Other modules of the crate add variants here additively.

use cim::{CimError, StatusCode};
use std::path::PathBuf;

/// An object manager failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository file could not be opened or created.
    #[error("cannot open the repository {path}: {reason}")]
    Open {
        /// The repository file.
        path: PathBuf,
        /// What the store reported.
        reason: String,
    },
    /// A read or write transaction of the store failed.
    #[error("repository store failure during {during}: {reason}")]
    Store {
        /// What was being done.
        during: &'static str,
        /// What the store reported.
        reason: String,
    },
    /// A stored record does not decode (corruption or a newer format).
    #[error("corrupt repository record {key:?}: {reason}")]
    Corrupt {
        /// The record key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The repository was written by an unknown format version.
    #[error("repository format version {found} is not supported (this build reads version {supported}); use a matching cimomd or a new --state-dir")]
    FormatVersion {
        /// The version stored.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// MOF source did not compile; every diagnostic is listed.
    #[error("MOF {file} does not compile:\n{diagnostics}")]
    Mof {
        /// The file (or bundled name).
        file: String,
        /// All diagnostics, one a line.
        diagnostics: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration (flags, `--config` file, users file) is invalid;
    /// the message names the flag or file and what to do.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An endpoint could not be opened (address in use, permission, ...).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTPS certificate or key could not be loaded or does not fit.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// An operation on the repository was refused with a CIM status
    /// (e.g. while loading MOF: a class whose superclass is missing).
    #[error(transparent)]
    Cim(#[from] CimError),
}

impl Error {
    /// The CIM error to answer a request with when this failure happens while
    /// serving it.
    pub fn to_cim(&self) -> CimError {
        match self {
            Error::Cim(e) => e.clone(),
            other => CimError::new(StatusCode::Failed, other.to_string()),
        }
    }

    pub(crate) fn store(during: &'static str, e: impl std::fmt::Display) -> Error {
        Error::Store {
            during,
            reason: e.to_string(),
        }
    }
}

impl From<Error> for CimError {
    fn from(e: Error) -> CimError {
        e.to_cim()
    }
}
