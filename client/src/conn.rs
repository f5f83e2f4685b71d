//! The CIM-XML transport: one [`Client`] per WBEM server, sending DSP0200
//! requests over HTTP/1.1 or HTTPS and decoding the answers.
//!
//! # Wire format (DSP0200 1.4 §4 / §7, DSP0201 2.4)
//!
//! Every request is `POST /cimom` with
//!
//! ```text
//! Content-Type: application/xml; charset="utf-8"
//! CIMOperation: MethodCall
//! CIMMethod: <intrinsic operation or extrinsic method name>
//! CIMObject: <namespace, or the local object path of the method target>
//! CIMProtocolVersion: 1.0
//! TE: trailers
//! Authorization: Basic <base64(user:password)>      (when credentials are set)
//! ```
//!
//! `CIMObject` is percent-encoded (DSP0200 §4.3.1: octets outside the URI
//! unreserved set are written `%XX`; we keep `/ : . , =` readable as pywbem and
//! OpenPegasus do). The body is a `<CIM><MESSAGE ID=n PROTOCOLVERSION="1.0">`
//! document written by [`cim::xml::write_message`].
//!
//! Answers: HTTP 200 with a `SIMPLERSP` whose `MESSAGE ID` echoes ours. A
//! non-200 status with a `CIMError` header (`request-not-well-formed`,
//! `unsupported-operation`, ...) becomes [`Error::CimErrorHeader`], any other
//! non-200 [`Error::HttpStatus`]. An `<ERROR>` in the response becomes
//! [`Error::Cim`], and so does a non-zero `CIMStatusCode` trailer of a chunked
//! response (with `CIMStatusCodeDescription`, percent-decoded). Tolerated quirks: a missing or different `CIMOperation:
//! MethodResponse` header and any `Content-Type` are accepted (sfcb and old
//! Pegasus differ); a mismatched message id is an error.
//!
//! The HTTP(S) transport and its certificate policy (the webpki roots, or a
//! PEM CA bundle, or for test set-ups no verification at all) are
//! [`crate::transport`]'s.

use crate::error::{Error, Result};
use crate::transport::{CertVerification, HttpTransport};
use bytes::Bytes;
use cim::ops::{
    IMethodCall, Message, MessageBody, MethodCall, MethodResult, Operation, ParamValue, Response,
};
use cim::ObjectPath;
use http_body_util::Full;
use hyper::Uri;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The namespace of the Instant Image classes.
pub const DEFAULT_NAMESPACE: &str = "root/cimv2";
/// The namespace of the indication subscription classes.
pub const INTEROP_NAMESPACE: &str = "interop";
/// The WBEM default HTTP endpoint.
pub const DEFAULT_URL: &str = "http://127.0.0.1:5988";

/// How to reach one WBEM server. `Debug` never shows the password.
#[derive(Clone)]
pub struct ClientConfig {
    /// `http://host:port` or `https://host:port` (a path other than `/` or `/cimom` is ignored).
    pub url: String,
    /// Namespace used by the facade and by calls that name none.
    pub namespace: String,
    /// Basic-auth user.
    pub user: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
    /// PEM CA bundle to verify the server with (instead of the webpki roots).
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (test setups only).
    pub no_verify: bool,
    /// Time limit for one request, connect to last body byte; `None` = none.
    pub timeout: Option<Duration>,
    /// Time limit for the TCP connect.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("no_verify", &self.no_verify)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            url: DEFAULT_URL.to_owned(),
            namespace: DEFAULT_NAMESPACE.to_owned(),
            user: None,
            password: None,
            ca_file: None,
            no_verify: false,
            timeout: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl ClientConfig {
    /// A configuration for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            ..Default::default()
        }
    }

    /// Sets Basic-auth credentials (builder style).
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// The certificate policy for `https` URLs: `no_verify`, else `ca_file`,
    /// else the web PKI roots.
    pub fn cert_verification(&self) -> CertVerification {
        match (&self.ca_file, self.no_verify) {
            (_, true) => CertVerification::AcceptAny,
            (Some(path), false) => CertVerification::CaFile(path.clone()),
            (None, false) => CertVerification::WebPkiRoots,
        }
    }

    /// Reads the password from the first line of a file (trailing newline dropped).
    pub fn with_password_file(mut self, path: &Path) -> Result<Self> {
        self.password = Some(read_password_file(path)?);
        Ok(self)
    }
}

/// Reads a password from the first line of `path`.
pub fn read_password_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("cannot read password file {}: {e}", path.display())))?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// An async CIM-XML client for one server. Cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    /// `scheme://authority/cimom`.
    endpoint: Uri,
    authorization: Option<String>,
    http: HttpTransport,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials.
        f.debug_struct("Client")
            .field("url", &self.inner.config.url)
            .field("namespace", &self.inner.config.namespace)
            .finish()
    }
}

impl Client {
    /// Builds a client; no connection is made until the first request.
    pub fn new(config: ClientConfig) -> Result<Client> {
        let uri: Uri = config
            .url
            .parse()
            .map_err(|e| Error::Config(format!("bad URL {:?}: {e}", config.url)))?;
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let tls = match scheme.as_str() {
            "http" => None,
            "https" => Some(config.cert_verification()),
            other => {
                return Err(Error::Config(format!(
                    "bad URL {:?}: scheme {other} is not http or https",
                    config.url
                )))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| Error::Config(format!("bad URL {:?}: no host", config.url)))?;
        let authority = if authority.port().is_some() {
            authority.to_string()
        } else {
            // WBEM convention: 5988 for HTTP, 5989 for HTTPS.
            let port = if tls.is_some() { 5989 } else { 5988 };
            format!("{}:{port}", authority.host())
        };
        let endpoint: Uri = format!("{scheme}://{authority}/cimom")
            .parse()
            .map_err(|e| Error::Config(format!("bad URL {:?}: {e}", config.url)))?;
        let authorization = config.user.as_ref().map(|u| {
            use base64::Engine;
            let pw = config.password.as_deref().unwrap_or("");
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{pw}"));
            format!("Basic {token}")
        });
        let http = HttpTransport::new(tls.as_ref(), config.connect_timeout)?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                endpoint,
                authorization,
                http,
                next_id: AtomicU64::new(1000),
            }),
        })
    }

    /// A client for `url` with the default configuration.
    pub fn connect(url: &str) -> Result<Client> {
        Client::new(ClientConfig::new(url))
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The server URL as configured.
    pub fn url(&self) -> &str {
        &self.inner.config.url
    }

    /// The default namespace.
    pub fn namespace(&self) -> &str {
        &self.inner.config.namespace
    }

    /// Runs one intrinsic operation in `namespace` and returns its result; an
    /// `<ERROR>` answer is [`Error::Cim`].
    pub async fn call(&self, namespace: &str, operation: Operation) -> Result<Response> {
        self.call_with_timeout(namespace, operation, self.inner.config.timeout)
            .await
    }

    /// [`Client::call`] with an explicit time limit (`None` = no limit).
    pub async fn call_with_timeout(
        &self,
        namespace: &str,
        operation: Operation,
        timeout: Option<Duration>,
    ) -> Result<Response> {
        let name = operation.name();
        let namespace = namespace.trim_matches('/').to_owned();
        let span = tracing::debug_span!(
            "cim_request",
            id = tracing::field::Empty,
            op = name,
            namespace = %namespace
        );
        let body = MessageBody::IMethodCall(IMethodCall {
            namespace: namespace.clone(),
            operation,
        });
        let reply = self
            .round_trip(name, &encode_cim_object(&namespace), body, timeout)
            .instrument(span)
            .await?;
        match reply {
            MessageBody::IMethodResponse(r) => {
                if !r.name.eq_ignore_ascii_case(name) {
                    return Err(protocol(name, format!("response is for {}", r.name)));
                }
                Ok(r.result?)
            }
            other => Err(protocol(
                name,
                format!("expected IMETHODRESPONSE, got {}", kind(&other)),
            )),
        }
    }

    /// Invokes an extrinsic method on an instance path or (static methods) a
    /// class path; the namespace is the path's, else the default one.
    pub async fn invoke(
        &self,
        target: &ObjectPath,
        method: &str,
        params: Vec<ParamValue>,
    ) -> Result<MethodResult> {
        self.invoke_with_timeout(target, method, params, self.inner.config.timeout)
            .await
    }

    /// [`Client::invoke`] with an explicit time limit (`None` = no limit), for
    /// methods that block on the server such as `waitForCompletion(0)`.
    pub async fn invoke_with_timeout(
        &self,
        target: &ObjectPath,
        method: &str,
        params: Vec<ParamValue>,
        timeout: Option<Duration>,
    ) -> Result<MethodResult> {
        let namespace = target
            .namespace
            .clone()
            .unwrap_or_else(|| self.inner.config.namespace.clone());
        let local = target.local();
        let span = tracing::debug_span!(
            "cim_method",
            id = tracing::field::Empty,
            method,
            namespace = %namespace,
            target = %local
        );
        let cim_object = encode_cim_object(&format!("{namespace}:{local}"));
        let body = MessageBody::MethodCall(MethodCall {
            namespace,
            target: local,
            method: method.into(),
            params,
        });
        let reply = self
            .round_trip(method, &cim_object, body, timeout)
            .instrument(span)
            .await?;
        match reply {
            MessageBody::MethodResponse(r) => {
                if !r.name.is(method) {
                    return Err(protocol(method, format!("response is for {}", r.name)));
                }
                Ok(r.result?)
            }
            other => Err(protocol(
                method,
                format!("expected METHODRESPONSE, got {}", kind(&other)),
            )),
        }
    }

    /// Sends one message and returns the decoded answer's body.
    async fn round_trip(
        &self,
        method: &str,
        cim_object: &str,
        body: MessageBody,
        timeout: Option<Duration>,
    ) -> Result<MessageBody> {
        let id = self
            .inner
            .next_id
            .fetch_add(1, Ordering::Relaxed)
            .to_string();
        tracing::Span::current().record("id", id.as_str());
        let msg = Message {
            id: id.clone(),
            protocol_version: "1.0".to_owned(),
            body,
        };
        let mut xml = Vec::with_capacity(1024);
        cim::xml::write_message(&msg, &mut xml);
        let fut = self.post(method, cim_object, xml);
        let (status, headers, bytes) = match timeout {
            Some(t) => tokio::time::timeout(t, fut)
                .await
                .map_err(|_| Error::Timeout {
                    url: self.inner.config.url.clone(),
                    operation: method.to_owned(),
                    seconds: t.as_secs(),
                })??,
            None => fut.await?,
        };
        if let Some(cim_error) = headers.get("cimerror") {
            return Err(Error::CimErrorHeader {
                status: status.as_u16(),
                cim_error: cim_error.to_str().unwrap_or("?").to_owned(),
            });
        }
        if status != http::StatusCode::OK {
            let excerpt: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
            let reason = if status == http::StatusCode::UNAUTHORIZED {
                "authentication failed: check the user name and password".to_owned()
            } else if excerpt.trim().is_empty() {
                status.canonical_reason().unwrap_or("").to_owned()
            } else {
                excerpt.trim().to_owned()
            };
            return Err(Error::HttpStatus {
                url: self.inner.config.url.clone(),
                status: status.as_u16(),
                reason,
            });
        }
        tracing::trace!(bytes = bytes.len(), "response body");
        let limits = cim::xml::Limits {
            max_depth: 64,
            max_elements: usize::MAX / 2,
            max_bytes: usize::MAX / 2,
        };
        let reply = cim::xml::read_message(&bytes, &limits)?;
        if reply.id != id {
            return Err(protocol(
                method,
                format!("message id {} does not match request id {id}", reply.id),
            ));
        }
        Ok(reply.body)
    }

    async fn post(
        &self,
        method: &str,
        cim_object: &str,
        xml: Vec<u8>,
    ) -> Result<(http::StatusCode, http::HeaderMap, Bytes)> {
        let mut req = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.inner.endpoint.clone())
            .header("Content-Type", "application/xml; charset=\"utf-8\"")
            .header("CIMOperation", "MethodCall")
            .header("CIMMethod", method)
            .header("CIMObject", cim_object)
            .header("CIMProtocolVersion", "1.0")
            // We read the CIMStatusCode trailer (DSP0200 §7.4.1).
            .header("TE", "trailers");
        if let Some(auth) = &self.inner.authorization {
            req = req.header(http::header::AUTHORIZATION, auth);
        }
        let req = req
            .body(Full::new(Bytes::from(xml)))
            .map_err(|e| Error::Config(format!("cannot build request for {method}: {e}")))?;
        let (parts, collected) =
            self.inner
                .http
                .send(req)
                .await
                .map_err(|reason| Error::Transport {
                    url: self.inner.config.url.clone(),
                    reason,
                })?;
        // DSP0200 §7.4.1: a chunked response may end with a `CIMStatusCode`
        // trailer when the server failed after the headers went out
        // (OpenPegasus does this); the body is then incomplete.
        if let Some(t) = collected.trailers() {
            if let Some(code) = t
                .get("cimstatuscode")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok())
                .filter(|c| *c != 0)
            {
                let description = t
                    .get("cimstatuscodedescription")
                    .and_then(|v| v.to_str().ok())
                    .map(decode_percent)
                    .unwrap_or_else(|| "the server failed while sending the response".into());
                let status = cim::StatusCode::from_code(code).unwrap_or(cim::StatusCode::Failed);
                return Err(Error::Cim(cim::CimError::new(status, description)));
            }
        }
        Ok((parts.status, parts.headers, collected.to_bytes()))
    }
}

fn protocol(operation: &str, reason: String) -> Error {
    Error::Protocol {
        operation: operation.to_owned(),
        reason,
    }
}

fn kind(body: &MessageBody) -> &'static str {
    match body {
        MessageBody::IMethodCall(_) => "IMETHODCALL",
        MessageBody::MethodCall(_) => "METHODCALL",
        MessageBody::IMethodResponse(_) => "IMETHODRESPONSE",
        MessageBody::MethodResponse(_) => "METHODRESPONSE",
        MessageBody::ExportIndication(_) => "EXPMETHODCALL",
        MessageBody::ExportResponse(_) => "EXPMETHODRESPONSE",
    }
}

/// Percent-encodes a `CIMObject` header value (DSP0200 §4.3.1): everything
/// except ASCII letters, digits and `-_.~/:,=` becomes `%XX` (UTF-8 octets).
pub fn encode_cim_object(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/:,=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (the inverse of [`encode_cim_object`]); bad escapes are kept as text.
pub fn decode_percent(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cim_object_is_percent_encoded() {
        let v =
            encode_cim_object(r#"root/cimv2:DS_IISet.setType="dependent",shadowVolume="/v/a b""#);
        assert_eq!(
            v,
            "root/cimv2:DS_IISet.setType=%22dependent%22,shadowVolume=%22/v/a%20b%22"
        );
        assert_eq!(
            decode_percent(&v),
            r#"root/cimv2:DS_IISet.setType="dependent",shadowVolume="/v/a b""#
        );
        assert_eq!(encode_cim_object("é"), "%C3%A9");
        assert_eq!(decode_percent("%C3%A9%zz%4"), "é%zz%4");
    }

    #[test]
    fn config_errors_are_typed() {
        assert!(matches!(Client::connect("ftp://x"), Err(Error::Config(_))));
        assert!(matches!(
            Client::connect("not a url at all"),
            Err(Error::Config(_))
        ));
        let c = Client::connect("http://example:1234").unwrap();
        assert_eq!(c.inner.endpoint.to_string(), "http://example:1234/cimom");
        let c = Client::connect("http://example").unwrap();
        assert_eq!(c.inner.endpoint.to_string(), "http://example:5988/cimom");
        let cfg = ClientConfig {
            url: "https://example".into(),
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        assert!(matches!(Client::new(cfg), Err(Error::Tls(_))));
    }
}
