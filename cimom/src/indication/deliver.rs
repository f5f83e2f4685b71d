//! Delivery of one indication to one CIM-XML listener: `ExportIndication`
//! over HTTP or HTTPS (DSP0200 1.4 §5.4, export messages).
//!
//! The request is `POST <path>` with `Content-Type: application/xml;
//! charset="utf-8"`, `CIMExport: MethodRequest`, `CIMExportMethod:
//! ExportIndication`, `CIMProtocolVersion: 1.0`, and a
//! `SIMPLEEXPREQ/EXPMETHODCALL NAME="ExportIndication"` body holding the
//! indication instance as the `NewIndication` parameter. A `200` whose body is
//! an `EXPMETHODRESPONSE` without `ERROR` is success; an `ERROR` from the
//! listener is final (logged, not retried); transport failures and `5xx` are
//! retried by the caller.
//!
//! Each destination keeps one HTTP/1.1 connection (hyper's client connection
//! API), reopened when the listener closes it; hyper-util's pooled client is
//! not used because it would need a tower connector for TLS.
//!
//! HTTPS listeners' certificates are accepted as they are unless
//! `--indication-verify-tls` is given (WBEM listeners mostly use
//! self-signed certificates); then they are checked against the web PKI roots.
//!
//! Destination URLs: `http://host[:port][/path]` or `https://...` (default
//! ports 5988 and 5989, the WBEM listener convention, when none is given);
//! a URL without a scheme is taken as `http://`.

use bytes::Bytes;
use cim::ops::{Message, MessageBody};
use cim::Instance;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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

    fn authority(&self) -> String {
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

/// Why one attempt failed.
#[derive(Debug)]
pub enum Failure {
    /// Worth another attempt (connection, timeout, 5xx).
    Transient(String),
    /// The listener refused the indication (4xx, `ERROR`): do not retry.
    Refused(String),
}

static MESSAGE_IDS: AtomicU64 = AtomicU64::new(1);

/// Renders the `ExportIndication` request body.
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

/// One destination's connection.
pub struct Connection {
    dest: Destination,
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    /// A connection (opened lazily) to `dest`.
    pub fn new(
        dest: Destination,
        verify_tls: bool,
        timeout: Duration,
    ) -> Result<Connection, String> {
        let tls = if dest.tls {
            Some(tls_connector(verify_tls)?)
        } else {
            None
        };
        Ok(Connection {
            dest,
            tls,
            timeout,
            sender: None,
        })
    }

    /// One delivery attempt.
    pub async fn send(&mut self, body: Bytes) -> Result<(), Failure> {
        match tokio::time::timeout(self.timeout, self.send_inner(body)).await {
            Ok(r) => r,
            Err(_) => {
                self.sender = None;
                Err(Failure::Transient(format!(
                    "no answer within {} s",
                    self.timeout.as_secs()
                )))
            }
        }
    }

    async fn send_inner(&mut self, body: Bytes) -> Result<(), Failure> {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender
            .ready()
            .await
            .map_err(|e| Failure::Transient(format!("connection lost: {e}")))?;
        let req = http::Request::post(self.dest.path.as_str())
            .header(http::header::HOST, self.dest.authority())
            .header(
                http::header::CONTENT_TYPE,
                "application/xml; charset=\"utf-8\"",
            )
            .header("CIMExport", "MethodRequest")
            .header("CIMExportMethod", "ExportIndication")
            .header("CIMProtocolVersion", "1.0")
            .body(Full::new(body))
            .map_err(|e| Failure::Refused(format!("cannot build the request: {e}")))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Failure::Transient(format!("request failed: {e}")))?;
        let status = resp.status();
        let keep = !resp
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::Transient(format!("response body: {e}")))?
            .to_bytes();
        if keep {
            self.sender = Some(sender);
        }
        if status.is_server_error() {
            return Err(Failure::Transient(format!(
                "listener answered HTTP {status}"
            )));
        }
        if !status.is_success() {
            return Err(Failure::Refused(format!("listener answered HTTP {status}")));
        }
        match cim::xml::read_message(&bytes, &cim::xml::Limits::default()) {
            Ok(Message {
                body: MessageBody::ExportResponse(Err(e)),
                ..
            }) => Err(Failure::Refused(format!("listener error: {e}"))),
            // Lenient: any 200 without an ERROR counts as delivered (some
            // listeners answer with an empty body).
            _ => Ok(()),
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let stream = tokio::net::TcpStream::connect((self.dest.host.as_str(), self.dest.port))
            .await
            .map_err(|e| {
                Failure::Transient(format!("cannot connect to {}: {e}", self.dest.authority()))
            })?;
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => handshake(TokioIo::new(stream)).await,
            Some(connector) => {
                let name = ServerName::try_from(self.dest.host.clone()).map_err(|e| {
                    Failure::Refused(format!("bad TLS server name {:?}: {e}", self.dest.host))
                })?;
                let s = connector.connect(name, stream).await.map_err(|e| {
                    Failure::Transient(format!(
                        "TLS handshake with {} failed: {e}",
                        self.dest.authority()
                    ))
                })?;
                handshake(TokioIo::new(s)).await
            }
        }
    }
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Full<Bytes>>, Failure>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Failure::Transient(format!("HTTP handshake failed: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "listener connection ended");
        }
    });
    Ok(sender)
}

fn tls_connector(verify: bool) -> Result<tokio_rustls::TlsConnector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client setup: {e}"))?;
    let config = if verify {
        let roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Accepts any server certificate but still checks the handshake signatures
/// (so the connection is encrypted to whoever holds the presented key).
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
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
