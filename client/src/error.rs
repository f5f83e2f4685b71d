//! The crate's error type: every way a CIM-XML request or a facade call can fail.
//!
//! The variants follow the layers a request crosses: building the connection
//! ([`Error::Config`], [`Error::Tls`]), the socket and HTTP ([`Error::Transport`],
//! [`Error::Timeout`], [`Error::HttpStatus`], [`Error::CimErrorHeader`]), the
//! CIM-XML document ([`Error::XmlDecode`], [`Error::Protocol`]) and finally the
//! server's answer ([`Error::Cim`]). The facade adds [`Error::SetNotFound`] and
//! friends so that `iiadm` can name the object in its message.

use cim::{CimError, StatusCode};

/// A client failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client configuration is unusable (bad URL, unreadable password file, ...).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The TLS setup failed (unreadable CA bundle, no usable certificate, ...).
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// Connecting, sending or receiving failed below HTTP.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// The server URL.
        url: String,
        /// What failed (connection refused, reset, TLS handshake, ...).
        reason: String,
    },
    /// The request did not complete within the configured timeout.
    #[error("{operation} on {url} timed out after {seconds} s")]
    Timeout {
        /// The server URL.
        url: String,
        /// The operation or method name.
        operation: String,
        /// The timeout in seconds.
        seconds: u64,
    },
    /// The server answered with an HTTP status other than 200 and no `CIMError` header.
    #[error("HTTP {status} from {url}{}", if .reason.is_empty() { String::new() } else { format!(": {}", .reason) })]
    HttpStatus {
        /// The server URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// Reason phrase or a short excerpt of the body.
        reason: String,
    },
    /// The server refused the request with a DSP0200 `CIMError` header
    /// (`request-not-well-formed`, `unsupported-operation`, ...).
    #[error("server refused the request (HTTP {status}, CIMError: {cim_error})")]
    CimErrorHeader {
        /// The HTTP status code (400, 401, 501, ...).
        status: u16,
        /// The `CIMError` header value.
        cim_error: String,
    },
    /// The response body is not valid CIM-XML.
    #[error("cannot decode the server's CIM-XML response: {0}")]
    XmlDecode(#[from] cim::Error),
    /// A valid CIM-XML document that does not answer the request (wrong message
    /// kind, mismatched message id, unexpected return shape).
    #[error("unexpected response to {operation}: {reason}")]
    Protocol {
        /// The operation or method that was sent.
        operation: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The server answered with a CIM error (`<ERROR CODE=.. DESCRIPTION=..>`).
    #[error("{0}")]
    Cim(#[from] CimError),
    /// No set has this shadow volume or set name.
    #[error("set {0} not found: no set has this shadow volume or name (list them with iiadm -l)")]
    SetNotFound(String),
    /// No group of this name exists.
    #[error("group {0} not found (list them with iiadm -G)")]
    GroupNotFound(String),
    /// No overflow volume at this path exists.
    #[error("overflow volume {0} not found (list them with iiadm -L)")]
    OverflowNotFound(String),
    /// A fleet operation named a host that is not in the fleet configuration.
    #[error("host {0} is not in the fleet configuration")]
    UnknownHost(String),
    /// `removeIISet` was asked for a set that is in no group.
    #[error("set {0} is not in a group")]
    NotInGroup(String),
    /// The user answered "no" to a confirmation prompt.
    #[error("not confirmed; nothing was changed")]
    NotConfirmed,
    /// The indication listener could not be started or served.
    #[error("indication listener: {0}")]
    Listener(String),
}

impl Error {
    /// The CIM status when the server answered with a CIM error.
    pub fn cim_status(&self) -> Option<StatusCode> {
        match self {
            Error::Cim(e) => Some(e.status),
            _ => None,
        }
    }

    /// True for a CIM `CIM_ERR_NOT_FOUND` answer or a facade "not found".
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::SetNotFound(_) | Error::GroupNotFound(_) | Error::OverflowNotFound(_)
        ) || self.cim_status() == Some(StatusCode::NotFound)
    }

    /// True when the server could not be reached or did not answer in time,
    /// which the live view treats as "disconnected".
    pub fn is_connection_failure(&self) -> bool {
        matches!(self, Error::Transport { .. } | Error::Timeout { .. })
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
