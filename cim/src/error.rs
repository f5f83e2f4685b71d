//! The crate's error type: why a CIM-XML document could not be read.
//!
//! The object manager needs to answer different failures differently
//! (DSP0200 §7.3): a document that is not XML gets HTTP 400 with
//! `CIMError: request-not-well-formed`, well-formed XML that breaks DSP0201 gets
//! `request-not-valid`, and a valid message whose operation parameters are wrong
//! or whose operation is unknown gets an `<ERROR>` with `CIM_ERR_INVALID_PARAMETER`
//! or `CIM_ERR_NOT_SUPPORTED`. [`Error::kind`] tells these apart.

use crate::status::{CimError, StatusCode};

/// A CIM-XML decoding failure. Every variant says where (element name and byte
/// position) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document is not well-formed XML (or not UTF-8, or uses a DOCTYPE or
    /// an entity other than the five predefined ones).
    #[error("malformed XML at byte {position}: {reason}")]
    Xml {
        /// Byte offset in the document.
        position: u64,
        /// What the XML parser reported.
        reason: String,
    },
    /// Well-formed XML that breaks DSP0201 (unexpected element, missing attribute,
    /// value that does not parse as its declared type, ...).
    #[error("invalid CIM-XML in <{element}> at byte {position}: {reason}")]
    Cim {
        /// The element being decoded.
        element: String,
        /// Byte offset in the document.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// A configured limit (size, depth, element count) was exceeded.
    #[error("CIM-XML document exceeds the {limit} limit")]
    Limit {
        /// Which limit.
        limit: &'static str,
    },
    /// A valid `IMETHODCALL` whose parameters do not fit the operation: a
    /// required parameter is missing, a parameter is unknown or repeated, or a
    /// parameter's value has the wrong shape (DSP0200: `CIM_ERR_INVALID_PARAMETER`).
    #[error("invalid parameter {parameter:?} of {method} at byte {position}: {reason}")]
    InvalidParameter {
        /// The intrinsic method.
        method: String,
        /// The parameter name.
        parameter: String,
        /// Byte offset of the `IPARAMVALUE` (or of the `IMETHODCALL` for a missing one).
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// An `IMETHODCALL` naming an intrinsic method this codec does not know
    /// (DSP0200: `CIM_ERR_NOT_SUPPORTED`).
    #[error("unknown intrinsic method {name:?} at byte {position}")]
    UnknownMethod {
        /// The method name as sent.
        name: String,
        /// Byte offset of the `IMETHODCALL`.
        position: u64,
    },
    /// The `CIM` element declares a `CIMVERSION` or `DTDVERSION` whose major
    /// version is not 2 (DSP0200: answered with HTTP 501 and
    /// `CIMError: unsupported-cim-version` / `unsupported-dtd-version`).
    #[error("unsupported {attribute} {version:?}: only 2.x is supported")]
    UnsupportedVersion {
        /// `CIMVERSION` or `DTDVERSION`.
        attribute: &'static str,
        /// The version as sent.
        version: String,
    },
}

/// The class of a decoding failure, which decides how the server answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not XML, not UTF-8, DOCTYPE/entity declarations: HTTP 400, `CIMError: request-not-well-formed`.
    NotWellFormed,
    /// XML that is not valid DSP0201: HTTP 400, `CIMError: request-not-valid`.
    NotValid,
    /// Size, depth or element count over the configured [`crate::xml::Limits`]:
    /// HTTP 413 (or 400 `request-not-valid`), the server decides.
    LimitExceeded,
    /// Operation parameters invalid: `<ERROR CODE="4">` (`CIM_ERR_INVALID_PARAMETER`).
    InvalidParameter,
    /// Unknown intrinsic method: `<ERROR CODE="7">` (`CIM_ERR_NOT_SUPPORTED`).
    UnknownMethod,
    /// `CIMVERSION` or `DTDVERSION` not 2.x: HTTP 501 with
    /// `CIMError: unsupported-cim-version` or `unsupported-dtd-version`.
    UnsupportedVersion,
}

impl Error {
    /// Which class of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Xml { .. } => ErrorKind::NotWellFormed,
            Error::Cim { .. } => ErrorKind::NotValid,
            Error::Limit { .. } => ErrorKind::LimitExceeded,
            Error::InvalidParameter { .. } => ErrorKind::InvalidParameter,
            Error::UnknownMethod { .. } => ErrorKind::UnknownMethod,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
        }
    }

    /// The byte offset in the document where the failure was found, if known.
    pub fn position(&self) -> Option<u64> {
        match self {
            Error::Xml { position, .. }
            | Error::Cim { position, .. }
            | Error::InvalidParameter { position, .. }
            | Error::UnknownMethod { position, .. } => Some(*position),
            Error::Limit { .. } | Error::UnsupportedVersion { .. } => None,
        }
    }

    /// The CIM error to answer with in an `<ERROR>` element, for the failures
    /// that DSP0200 reports that way (invalid parameter, unknown method);
    /// `None` for failures answered at the HTTP level.
    pub fn to_cim_error(&self) -> Option<CimError> {
        match self {
            Error::InvalidParameter {
                method,
                parameter,
                reason,
                ..
            } => Some(CimError::new(
                StatusCode::InvalidParameter,
                format!("parameter {parameter} of {method}: {reason}"),
            )),
            Error::UnknownMethod { name, .. } => Some(CimError::new(
                StatusCode::NotSupported,
                format!("intrinsic method {name} is not supported"),
            )),
            _ => None,
        }
    }
}
