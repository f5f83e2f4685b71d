//! The `client` crate's integration tests, in one binary: the library and
//! facade against a canned responder (`canned`), `iiadm` (`iiadm`, with the
//! `cli` feature), the indication listener and live view (`live`), the optional
//! smoke test against a running `cimomd` (`smoke`), HTTPS and the fleet
//! (`tls_fleet`). `responder` is the canned CIM-XML server they share.

mod canned;
#[cfg(feature = "cli")]
mod iiadm;
mod live;
mod responder;
mod smoke;
mod tls_fleet;
