//! Indication export (DSP0200 1.4 §5.4, export messages): `ExportIndication`
//! to one CIM-XML listener over HTTP or HTTPS, on [`crate::transport`]. The
//! object manager's delivery (`cimom/src/indication/`) keeps the queues,
//! retries and metrics; this module is the wire.
//!
//! The request is `POST <path>` with `Content-Type: application/xml;
//! charset="utf-8"`, `CIMExport: MethodRequest`, `CIMExportMethod:
//! ExportIndication`, `CIMProtocolVersion: 1.0`, and a
//! `SIMPLEEXPREQ/EXPMETHODCALL NAME="ExportIndication"` body holding the
//! indication instance as the `NewIndication` parameter ([`export_body`]). A
//! `200` whose body is an `EXPMETHODRESPONSE` without `ERROR` (or is empty,
//! as some listeners answer) is success; an `ERROR` or a `4xx` from the
//! listener is [`ExportFailure::Refused`]; transport failures, time-outs and
//! `5xx` are [`ExportFailure::Transient`], for the caller to retry.
//!
//! A [`ListenerConnection`] keeps its HTTP/1.1 connection alive between
//! indications, reopened when the listener closes it.
//!
//! Destination URLs: `http://host[:port][/path]` or `https://...` (default
//! ports 5988 and 5989, the WBEM listener convention, when none is given);
//! a URL without a scheme is taken as `http://`.

use crate::transport::{CertVerification, HttpTransport};
use bytes::Bytes;
use cim::ops::{Message, MessageBody};
use cim::Instance;
use http_body_util::Full;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A parsed listener destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `https` was asked for.
    pub tls: bool,
    /// Host name or IP (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Request path (`/` when none).
    pub path: String,
}

impl Destination {
    /// Parses a `Destination` property value.
    pub fn parse(url: &str) -> Result<Destination, String> {
        let url = url.trim();
        let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "http://") {
            (false, r)
        } else if url.contains("://") {
            return Err(format!(
                "destination {url:?}: only http:// and https:// listeners are supported"
            ));
        } else {
            (false, url)
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let default_port = if tls { 5989 } else { 5988 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| format!("destination {url:?}: unclosed [ in the host"))?;
            let host = &v6[..end];
            let port = match v6[end + 1..].strip_prefix(':') {
                Some(p) => p
                    .parse()
                    .map_err(|_| format!("destination {url:?}: bad port {p:?}"))?,
                None => default_port,
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_owned(),
                    p.parse()
                        .map_err(|_| format!("destination {url:?}: bad port {p:?}"))?,
                ),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(format!("destination {url:?} names no host"));
        }
        Ok(Destination {
            tls,
            host,
            port,
            path: path.to_owned(),
        })
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// Why one export attempt failed.
#[derive(Debug)]
pub enum ExportFailure {
    /// Worth another attempt (connection, timeout, 5xx).
    Transient(String),
    /// The listener refused the indication (4xx, `ERROR`): do not retry.
    Refused(String),
}

static MESSAGE_IDS: AtomicU64 = AtomicU64::new(1);

/// Renders the `ExportIndication` request body (message ids `ind1`, `ind2`, ...).
pub fn export_body(indication: &Instance) -> Bytes {
    let msg = Message {
        id: format!("ind{}", MESSAGE_IDS.fetch_add(1, Ordering::Relaxed)),
        protocol_version: "1.0".into(),
        body: MessageBody::ExportIndication(indication.clone()),
    };
    let mut out = Vec::with_capacity(2048);
    cim::xml::write_message(&msg, &mut out);
    Bytes::from(out)
}

/// Export requests to one listener.
#[derive(Debug)]
pub struct ListenerConnection {
    dest: Destination,
    /// `scheme://authority`, the path appended per request.
    origin: String,
    http: HttpTransport,
    timeout: Duration,
}

impl ListenerConnection {
    /// A connection (opened lazily) to `dest`; `verify` checks `https`
    /// listeners' certificates; `timeout` bounds each attempt, connect to
    /// last byte.
    pub fn new(
        dest: Destination,
        verify: &CertVerification,
        timeout: Duration,
    ) -> crate::Result<ListenerConnection> {
        let http = HttpTransport::new(dest.tls.then_some(verify), timeout)?;
        let scheme = if dest.tls { "https" } else { "http" };
        Ok(ListenerConnection {
            origin: format!("{scheme}://{}", dest.authority()),
            dest,
            http,
            timeout,
        })
    }

    /// The listener this connection delivers to.
    pub fn destination(&self) -> &Destination {
        &self.dest
    }

    /// One delivery attempt of an [`export_body`].
    pub async fn send(&self, body: Bytes) -> Result<(), ExportFailure> {
        match tokio::time::timeout(self.timeout, self.send_inner(body)).await {
            Ok(r) => r,
            Err(_) => Err(ExportFailure::Transient(format!(
                "no answer within {} s",
                self.timeout.as_secs()
            ))),
        }
    }

    async fn send_inner(&self, body: Bytes) -> Result<(), ExportFailure> {
        let req = http::Request::post(format!("{}{}", self.origin, self.dest.path))
            .header(
                http::header::CONTENT_TYPE,
                "application/xml; charset=\"utf-8\"",
            )
            .header("CIMExport", "MethodRequest")
            .header("CIMExportMethod", "ExportIndication")
            .header("CIMProtocolVersion", "1.0")
            .body(Full::new(body))
            .map_err(|e| ExportFailure::Refused(format!("cannot build the request: {e}")))?;
        let (parts, collected) = self.http.send(req).await.map_err(|e| {
            ExportFailure::Transient(format!("request to {} failed: {e}", self.dest.authority()))
        })?;
        let status = parts.status;
        if status.is_server_error() {
            return Err(ExportFailure::Transient(format!(
                "listener answered HTTP {status}"
            )));
        }
        if !status.is_success() {
            return Err(ExportFailure::Refused(format!(
                "listener answered HTTP {status}"
            )));
        }
        let bytes = collected.to_bytes();
        match cim::xml::read_message(&bytes, &cim::xml::Limits::default()) {
            Ok(Message {
                body: MessageBody::ExportResponse(Err(e)),
                ..
            }) => Err(ExportFailure::Refused(format!("listener error: {e}"))),
            // Lenient: any 200 without an ERROR counts as delivered (some
            // listeners answer with an empty body).
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d = Destination::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(
            (d.tls, d.host.as_str(), d.port, d.path.as_str()),
            (false, "127.0.0.1", 5000, "/")
        );
        let d = Destination::parse("HTTPS://listener.example/cimlistener/x").unwrap();
        assert_eq!(
            (d.tls, d.port, d.path.as_str()),
            (true, 5989, "/cimlistener/x")
        );
        let d = Destination::parse("[::1]:7000/a").unwrap();
        assert_eq!(
            (d.tls, d.host.as_str(), d.port, d.authority()),
            (false, "::1", 7000, "[::1]:7000".into())
        );
        assert!(Destination::parse("ftp://x").is_err());
        assert!(Destination::parse("http://:80").is_err());
        assert!(Destination::parse("http://h:port").is_err());
    }
}
