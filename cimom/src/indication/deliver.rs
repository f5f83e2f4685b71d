//! Delivery of one indication to one CIM-XML listener: the object manager's
//! side of `ExportIndication`. The wire — request headers, HTTP(S) transport
//! with kept-alive connections, answer classification, destination URLs — is
//! the `client` crate's ([`client::export`]); this module maps `cimomd`'s
//! `--indication-verify-tls` onto its certificate policy.
//!
//! HTTPS listeners' certificates are accepted as they are unless
//! `--indication-verify-tls` is given (WBEM listeners mostly use
//! self-signed certificates); then they are checked against the web PKI roots.
//! Transport failures, time-outs and `5xx` are retried by the caller
//! ([`Failure::Transient`]); a `4xx` or an `ERROR` from the listener is final.

use bytes::Bytes;
use client::export::ListenerConnection;
use client::CertVerification;
use std::time::Duration;

pub use client::export::{export_body, Destination, ExportFailure as Failure};

/// One destination's connection.
pub struct Connection(ListenerConnection);

impl Connection {
    /// A connection (opened lazily) to `dest`; `timeout` bounds each attempt.
    pub fn new(
        dest: Destination,
        verify_tls: bool,
        timeout: Duration,
    ) -> Result<Connection, String> {
        let verify = if verify_tls {
            CertVerification::WebPkiRoots
        } else {
            CertVerification::AcceptAny
        };
        ListenerConnection::new(dest, &verify, timeout)
            .map(Connection)
            .map_err(|e| e.to_string())
    }

    /// One delivery attempt.
    pub async fn send(&mut self, body: Bytes) -> Result<(), Failure> {
        self.0.send(body).await
    }
}
