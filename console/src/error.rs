//! The crate's one error type, and how each variant reaches the wire.

/// A failure of a console request or of the server's set-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or configuration file.
    #[error("configuration: {0}")]
    Config(String),
    /// An unknown host, set, group, overflow volume or route (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A request the console refuses before asking a host (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// No or a bad session, password or announce token (HTTP 401).
    #[error("{0}")]
    Unauthorized(String),
    /// A missing or forged CSRF token (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// A request body above the limit (HTTP 413).
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// The host refused or failed the operation; its message is kept (HTTP 409,
    /// 404 for "not found", 504 for a host that does not answer).
    #[error("{0}")]
    Host(#[from] client::Error),
    /// Sockets, files, TLS.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Error::Config(_) => 500,
            Error::NotFound(_) => 404,
            Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::TooLarge(_) => 413,
            Error::Host(e) if e.is_not_found() => 404,
            Error::Host(e) if e.is_connection_failure() => 504,
            Error::Host(_) => 409,
            Error::Io(_) => 500,
        }
    }
}
