//! The `client` crate's integration tests, in one binary: the library and
//! facade against a canned responder (`canned`), indication export to a
//! scripted listener (`export`), `iiadm` (`iiadm`, with the
//! `cli` feature), the indication listener and live view (`live`), the optional
//! smoke test against a running `cimomd` (`smoke`), HTTPS and the fleet
//! (`tls_fleet`). `responder` is the canned CIM-XML server they share.

mod canned;
mod export;
#[cfg(feature = "cli")]
mod iiadm;
mod live;
mod responder;
mod smoke;
mod tls_fleet;
