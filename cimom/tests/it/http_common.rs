//! Shared helpers of the HTTP integration tests: an in-process server on
//! `127.0.0.1:0` with a temporary state directory, a raw HTTP/1.1 client
//! (hyper's connection API, so every header and status is visible), and
//! CIM-XML request builders.

#![allow(dead_code)] // Each area uses a different subset.

use bytes::Bytes;
use cimom::config::Config;
use cimom::provider::ProviderRegistry;
use cimom::Cimom;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;

/// A running server.
pub struct TestServer {
    /// Plain HTTP address.
    pub addr: SocketAddr,
    /// HTTPS address, when configured.
    pub https: Option<SocketAddr>,
    /// The object manager behind it.
    pub cimom: Cimom,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), cimom::Error>>>,
    /// Keeps the state directory alive.
    pub dir: tempfile::TempDir,
}

/// What a test may adjust: the server's settings (reached through `Deref`),
/// the state directory and the cache bounds of the object manager.
pub struct TestConfig {
    /// The server's settings.
    pub server: Config,
    /// Where the repository lives.
    pub state_dir: std::path::PathBuf,
    /// Bounds of the schema caches.
    pub caches: cimom::CacheBounds,
}

impl std::ops::Deref for TestConfig {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.server
    }
}

impl std::ops::DerefMut for TestConfig {
    fn deref_mut(&mut self) -> &mut Config {
        &mut self.server
    }
}

impl TestServer {
    /// Starts a server with the defaults for tests (loopback, ephemeral port),
    /// adjusted by `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut TestConfig, &std::path::Path)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = TestConfig {
            server: Config {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                ..Config::default()
            },
            state_dir: dir.path().to_owned(),
            caches: cimom::CacheBounds::default(),
        };
        tweak(&mut config, dir.path());
        let cimom = Cimom::open_with_options(
            &config.state_dir,
            ProviderRegistry::new(),
            &[],
            config.caches.options(),
        )
        .expect("open cimom");
        let server = cimom::server::Server::bind(&config.server, cimom.clone())
            .await
            .expect("bind");
        let addr = server
            .local_addr()
            .unwrap_or_else(|| "127.0.0.1:1".parse().unwrap());
        let https = server.https_local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            https,
            cimom,
            stop: Some(tx),
            task: Some(task),
            dir,
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let r = tokio::time::timeout(Duration::from_secs(10), t).await;
            assert!(
                matches!(r, Ok(Ok(Ok(())))),
                "server did not stop cleanly: {r:?}"
            );
        }
    }
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One keep-alive client connection.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Client {
            sender,
            authority: addr.to_string(),
        }
    }

    /// Wraps an already-established connection (e.g. TLS).
    pub async fn over<IO>(io: IO, authority: String) -> Client
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("handshake");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Client { sender, authority }
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends a request and reads the whole reply.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        self.try_send(method, path, headers, body)
            .await
            .expect("request")
    }

    pub async fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, hyper::Error> {
        self.sender.ready().await?;
        let mut b = http::Request::builder()
            .method(http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header("Host", self.authority.as_str());
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let resp = self
            .sender
            .send_request(b.body(Full::new(body.into())).unwrap())
            .await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Asserts that the server answers a small request (it goes on serving).
    pub async fn assert_serves(&mut self) {
        let r = self
            .imethod(
                "EnumerateClassNames",
                NS,
                &bool_param("DeepInheritance", false),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }

    /// POSTs a CIM-XML intrinsic call with the standard headers.
    pub async fn imethod(&mut self, op: &str, ns: &str, params: &str) -> Reply {
        let body = imethod_body(op, ns, params);
        self.send("POST", "/cimom", &cim_headers(op, ns), body)
            .await
    }
}

/// The standard DSP0200 request headers for an intrinsic call.
pub fn cim_headers<'a>(op: &'a str, ns: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Content-Type", "application/xml; charset=\"utf-8\""),
        ("CIMOperation", "MethodCall"),
        ("CIMMethod", op),
        ("CIMObject", ns),
        ("CIMProtocolVersion", "1.0"),
    ]
}

/// `<LOCALNAMESPACEPATH>` of a slash-separated namespace.
pub fn nspath(ns: &str) -> String {
    let parts: String = ns
        .split('/')
        .filter(|p| !p.is_empty())
        .map(|p| format!("<NAMESPACE NAME=\"{p}\"/>"))
        .collect();
    format!("<LOCALNAMESPACEPATH>{parts}</LOCALNAMESPACEPATH>")
}

/// A complete `IMETHODCALL` document.
pub fn imethod_body(op: &str, ns: &str, params: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\
         <MESSAGE ID=\"1001\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ><IMETHODCALL NAME=\"{op}\">{}{params}\
         </IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>",
        nspath(ns)
    )
}

/// `IPARAMVALUE` holding a `CLASSNAME`.
pub fn classname_param(name: &str, class: &str) -> String {
    format!("<IPARAMVALUE NAME=\"{name}\"><CLASSNAME NAME=\"{class}\"/></IPARAMVALUE>")
}

/// `IPARAMVALUE` holding a boolean.
pub fn bool_param(name: &str, v: bool) -> String {
    format!(
        "<IPARAMVALUE NAME=\"{name}\"><VALUE>{}</VALUE></IPARAMVALUE>",
        if v { "TRUE" } else { "FALSE" }
    )
}

/// The interop namespace always exists (the object manager's own MOF).
pub const NS: &str = "interop";
