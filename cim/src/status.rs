//! DSP0200 status codes and the `CimError` boundary type that every layer
//! converts its failures into before they reach the wire.

use std::fmt;

/// A DSP0200 status code (`CIM_ERR_*`). Each knows its number and wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusCode {
    /// 1 CIM_ERR_FAILED
    Failed,
    /// 2 CIM_ERR_ACCESS_DENIED
    AccessDenied,
    /// 3 CIM_ERR_INVALID_NAMESPACE
    InvalidNamespace,
    /// 4 CIM_ERR_INVALID_PARAMETER
    InvalidParameter,
    /// 5 CIM_ERR_INVALID_CLASS
    InvalidClass,
    /// 6 CIM_ERR_NOT_FOUND
    NotFound,
    /// 7 CIM_ERR_NOT_SUPPORTED
    NotSupported,
    /// 8 CIM_ERR_CLASS_HAS_CHILDREN
    ClassHasChildren,
    /// 9 CIM_ERR_CLASS_HAS_INSTANCES
    ClassHasInstances,
    /// 10 CIM_ERR_INVALID_SUPERCLASS
    InvalidSuperclass,
    /// 11 CIM_ERR_ALREADY_EXISTS
    AlreadyExists,
    /// 12 CIM_ERR_NO_SUCH_PROPERTY
    NoSuchProperty,
    /// 13 CIM_ERR_TYPE_MISMATCH
    TypeMismatch,
    /// 14 CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED
    QueryLanguageNotSupported,
    /// 15 CIM_ERR_INVALID_QUERY
    InvalidQuery,
    /// 16 CIM_ERR_METHOD_NOT_AVAILABLE
    MethodNotAvailable,
    /// 17 CIM_ERR_METHOD_NOT_FOUND
    MethodNotFound,
    /// 20 CIM_ERR_NAMESPACE_NOT_EMPTY
    NamespaceNotEmpty,
    /// 21 CIM_ERR_INVALID_ENUMERATION_CONTEXT
    InvalidEnumerationContext,
    /// 22 CIM_ERR_INVALID_OPERATION_TIMEOUT
    InvalidOperationTimeout,
    /// 23 CIM_ERR_PULL_HAS_BEEN_ABANDONED
    PullHasBeenAbandoned,
    /// 24 CIM_ERR_PULL_CANNOT_BE_ABANDONED
    PullCannotBeAbandoned,
    /// 25 CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED
    FilteredEnumerationNotSupported,
    /// 26 CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED
    ContinuationOnErrorNotSupported,
    /// 27 CIM_ERR_SERVER_LIMITS_EXCEEDED
    ServerLimitsExceeded,
    /// 28 CIM_ERR_SERVER_IS_SHUTTING_DOWN
    ServerIsShuttingDown,
}

const TABLE: &[(StatusCode, u32, &str)] = &[
    (StatusCode::Failed, 1, "CIM_ERR_FAILED"),
    (StatusCode::AccessDenied, 2, "CIM_ERR_ACCESS_DENIED"),
    (StatusCode::InvalidNamespace, 3, "CIM_ERR_INVALID_NAMESPACE"),
    (StatusCode::InvalidParameter, 4, "CIM_ERR_INVALID_PARAMETER"),
    (StatusCode::InvalidClass, 5, "CIM_ERR_INVALID_CLASS"),
    (StatusCode::NotFound, 6, "CIM_ERR_NOT_FOUND"),
    (StatusCode::NotSupported, 7, "CIM_ERR_NOT_SUPPORTED"),
    (
        StatusCode::ClassHasChildren,
        8,
        "CIM_ERR_CLASS_HAS_CHILDREN",
    ),
    (
        StatusCode::ClassHasInstances,
        9,
        "CIM_ERR_CLASS_HAS_INSTANCES",
    ),
    (
        StatusCode::InvalidSuperclass,
        10,
        "CIM_ERR_INVALID_SUPERCLASS",
    ),
    (StatusCode::AlreadyExists, 11, "CIM_ERR_ALREADY_EXISTS"),
    (StatusCode::NoSuchProperty, 12, "CIM_ERR_NO_SUCH_PROPERTY"),
    (StatusCode::TypeMismatch, 13, "CIM_ERR_TYPE_MISMATCH"),
    (
        StatusCode::QueryLanguageNotSupported,
        14,
        "CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED",
    ),
    (StatusCode::InvalidQuery, 15, "CIM_ERR_INVALID_QUERY"),
    (
        StatusCode::MethodNotAvailable,
        16,
        "CIM_ERR_METHOD_NOT_AVAILABLE",
    ),
    (StatusCode::MethodNotFound, 17, "CIM_ERR_METHOD_NOT_FOUND"),
    (
        StatusCode::NamespaceNotEmpty,
        20,
        "CIM_ERR_NAMESPACE_NOT_EMPTY",
    ),
    (
        StatusCode::InvalidEnumerationContext,
        21,
        "CIM_ERR_INVALID_ENUMERATION_CONTEXT",
    ),
    (
        StatusCode::InvalidOperationTimeout,
        22,
        "CIM_ERR_INVALID_OPERATION_TIMEOUT",
    ),
    (
        StatusCode::PullHasBeenAbandoned,
        23,
        "CIM_ERR_PULL_HAS_BEEN_ABANDONED",
    ),
    (
        StatusCode::PullCannotBeAbandoned,
        24,
        "CIM_ERR_PULL_CANNOT_BE_ABANDONED",
    ),
    (
        StatusCode::FilteredEnumerationNotSupported,
        25,
        "CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED",
    ),
    (
        StatusCode::ContinuationOnErrorNotSupported,
        26,
        "CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED",
    ),
    (
        StatusCode::ServerLimitsExceeded,
        27,
        "CIM_ERR_SERVER_LIMITS_EXCEEDED",
    ),
    (
        StatusCode::ServerIsShuttingDown,
        28,
        "CIM_ERR_SERVER_IS_SHUTTING_DOWN",
    ),
];

impl StatusCode {
    /// The numeric code.
    pub fn code(self) -> u32 {
        TABLE.iter().find(|e| e.0 == self).map(|e| e.1).unwrap_or(1)
    }
    /// The wire name (`CIM_ERR_NOT_FOUND`).
    pub fn name(self) -> &'static str {
        TABLE
            .iter()
            .find(|e| e.0 == self)
            .map(|e| e.2)
            .unwrap_or("CIM_ERR_FAILED")
    }
    /// The status for a number; unknown numbers are `None`.
    pub fn from_code(code: u32) -> Option<StatusCode> {
        TABLE.iter().find(|e| e.1 == code).map(|e| e.0)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// A CIM error: a status code and a description that names the object and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {description}")]
pub struct CimError {
    /// The DSP0200 status.
    pub status: StatusCode,
    /// Human-readable description (lowercase, what failed, on what, what to do).
    pub description: String,
}

impl CimError {
    /// A new error.
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        CimError {
            status,
            description: description.into(),
        }
    }
    /// `CIM_ERR_FAILED` with a description.
    pub fn failed(description: impl Into<String>) -> Self {
        CimError::new(StatusCode::Failed, description)
    }
    /// `CIM_ERR_NOT_FOUND` with a description.
    pub fn not_found(description: impl Into<String>) -> Self {
        CimError::new(StatusCode::NotFound, description)
    }
    /// `CIM_ERR_INVALID_PARAMETER` with a description.
    pub fn invalid_parameter(description: impl Into<String>) -> Self {
        CimError::new(StatusCode::InvalidParameter, description)
    }
    /// `CIM_ERR_NOT_SUPPORTED` with a description.
    pub fn not_supported(description: impl Into<String>) -> Self {
        CimError::new(StatusCode::NotSupported, description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (s, n, name) in TABLE {
            assert_eq!(s.code(), *n);
            assert_eq!(s.name(), *name);
            assert_eq!(StatusCode::from_code(*n), Some(*s));
        }
        assert_eq!(StatusCode::from_code(18), None);
    }
}
