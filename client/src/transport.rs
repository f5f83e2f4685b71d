//! The HTTP(S) transport every CIM-XML request of this workspace goes through:
//! operations ([`crate::Client`]) and indication export ([`crate::export`],
//! used by `cimom`'s delivery). One hyper-util pooled HTTP/1.1 client per
//! peer configuration, keeping connections alive between requests (idle ones
//! are closed after 30 s), TCP with `TCP_NODELAY`, and rustls with the ring
//! provider for `https`.
//!
//! Certificates are checked by one policy, [`CertVerification`]: the web PKI
//! roots, the certificates of a PEM CA bundle, or (where a user asked for it:
//! `--no-verify`, delivery without `--indication-verify-tls`) none at all —
//! then any certificate is accepted, but the handshake signatures are still
//! checked so the session is encrypted to whoever holds the presented key.

use crate::error::{Error, Result};
use bytes::Bytes;
use http_body_util::Collected;
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// How a server's TLS certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertVerification {
    /// Against the web PKI roots (the `webpki-roots` bundle).
    WebPkiRoots,
    /// Against the certificates of a PEM CA bundle (instead of the roots).
    CaFile(PathBuf),
    /// Not at all: any certificate is accepted (test set-ups, WBEM listeners
    /// with self-signed certificates). Handshake signatures are still checked.
    AcceptAny,
}

impl CertVerification {
    /// The rustls client configuration that applies this policy.
    pub fn client_config(&self) -> Result<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(format!("TLS client setup: {e}")))?;
        let roots = match self {
            CertVerification::AcceptAny => {
                return Ok(builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                    .with_no_client_auth())
            }
            CertVerification::WebPkiRoots => {
                rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())
            }
            CertVerification::CaFile(path) => ca_bundle(path)?,
        };
        Ok(builder.with_root_certificates(roots).with_no_client_auth())
    }
}

/// The certificates of a PEM CA bundle; a bundle without any is an error.
fn ca_bundle(path: &std::path::Path) -> Result<rustls::RootCertStore> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::Tls(format!("cannot read CA bundle {}: {e}", path.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert =
            cert.map_err(|e| Error::Tls(format!("bad certificate in {}: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| Error::Tls(format!("unusable certificate in {}: {e}", path.display())))?;
    }
    if roots.is_empty() {
        return Err(Error::Tls(format!(
            "no PEM certificate found in CA bundle {}",
            path.display()
        )));
    }
    Ok(roots)
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
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

type HyperClient = hyper_util::client::legacy::Client<TlsConnector, Full<Bytes>>;

/// A pooled HTTP/1.1 client for one peer configuration (cheap to clone).
#[derive(Clone, Debug)]
pub struct HttpTransport {
    http: HyperClient,
}

impl HttpTransport {
    /// A transport that speaks TLS with `tls` (for `https` peers) or plain
    /// HTTP (`None`), giving up on a TCP connect after `connect_timeout`.
    pub fn new(tls: Option<&CertVerification>, connect_timeout: Duration) -> Result<Self> {
        let tls = match tls {
            Some(policy) => Some(tokio_rustls::TlsConnector::from(Arc::new(
                policy.client_config()?,
            ))),
            None => None,
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(TlsConnector { tcp, tls });
        Ok(HttpTransport { http })
    }

    /// Sends `req` (its URI absolute) and reads the whole answer, trailers
    /// included. A failure is described with hyper's whole cause chain
    /// (connection refused, TLS), which its top-level message hides.
    pub async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> std::result::Result<(http::response::Parts, Collected<Bytes>), String> {
        let resp = self.http.request(req).await.map_err(cause_chain)?;
        let (parts, body) = resp.into_parts();
        let collected = body.collect().await.map_err(cause_chain)?;
        Ok((parts, collected))
    }
}

fn cause_chain(e: impl std::error::Error) -> String {
    let mut reason = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        src = s.source();
    }
    reason
}

/// The connector for the legacy hyper client: TCP through hyper-util's
/// [`HttpConnector`], then TLS when the transport has a TLS configuration.
#[derive(Clone)]
struct TlsConnector {
    tcp: HttpConnector,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for TlsConnector {
    type Response = MaybeTls;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<MaybeTls, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or("").trim_matches(['[', ']']).to_owned();
            let stream = tcp.call(uri).await?;
            match tls {
                None => Ok(MaybeTls::Plain(stream)),
                Some(tls) => {
                    let name = ServerName::try_from(host)
                        .map_err(|e| format!("bad TLS server name: {e}"))?;
                    let tcp: TcpStream = stream.into_inner();
                    let s = tls.connect(name, tcp).await?;
                    Ok(MaybeTls::Tls(Box::new(TokioIo::new(s))))
                }
            }
        })
    }
}

/// A plain or TLS connection.
enum MaybeTls {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>),
}

impl Connection for MaybeTls {
    fn connected(&self) -> Connected {
        match self {
            MaybeTls::Plain(s) => s.connected(),
            MaybeTls::Tls(_) => Connected::new(),
        }
    }
}

impl hyper::rt::Read for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_bundles_must_exist_and_hold_certificates() {
        let missing = CertVerification::CaFile("/nonexistent/ca.pem".into());
        assert!(matches!(missing.client_config(), Err(Error::Tls(m)) if m.contains("cannot read")));
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let empty = CertVerification::CaFile(empty);
        assert!(matches!(empty.client_config(), Err(Error::Tls(m)) if m.contains("no PEM")));
        assert!(CertVerification::WebPkiRoots.client_config().is_ok());
        assert!(CertVerification::AcceptAny.client_config().is_ok());
    }
}
