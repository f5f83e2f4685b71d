//! The HTTP(S) side of the object manager: CIM-XML over HTTP/1.1 (DSP0200 1.4)
//! with hyper.
//!
//! ```text
//! accept ─► connection task (span: peer) ─► per request (span: id, op, ns, class):
//!   request::check_head ─► auth ─► concurrency permit ─► body (≤ max bytes)
//!   ─► request::decode_body ─► Cimom::handle_imethod / handle_method (timeout)
//!   ─► response::encode_* ─► one buffered write
//! ```
//!
//! * [`serve`] runs the configured endpoints until `shutdown` resolves, then
//!   stops accepting, lets in-flight requests finish (up to
//!   [`SHUTDOWN_GRACE`]) and returns. It also starts indication delivery
//!   ([`crate::indication`]) and installs it as the object manager's sink.
//! * [`Server::bind`] + [`Server::run`] do the same in two steps, so tests can
//!   bind `127.0.0.1:0` and read the port with [`Server::local_addr`].
//!
//! Limits (see [`crate::config::Limits`]): at most `max_connections` open
//! connections per endpoint (further clients wait in the accept queue); at
//! most `max_concurrent_requests` requests past authentication at once
//! (further ones wait up to the request timeout, then get `503`); request
//! headers must arrive within `header_read_timeout` (slowloris); a body over
//! `max_request_bytes` gets `413`; a body that does not arrive within
//! `request_timeout` gets `408`; an operation that takes longer than
//! `request_timeout` is answered with `CIM_ERR_FAILED`, except a method call
//! that only waits (`Waiting`): it has no server-side time limit and ends
//! when its client disconnects. Every failure is
//! answered and the connection (or at least the server) keeps serving.

pub mod request;
pub mod response;
pub mod tls;
mod trim;

pub use tls::acceptor as tls_acceptor;
pub use trim::{tune_allocator, DEFAULT_MALLOC_ARENAS, MMAP_THRESHOLD_BYTES};

use crate::auth::{AuthFailure, Authenticator};
use crate::config::Config;
use crate::core::{Cimom, RequestCtx};
use crate::Error;
use bytes::Bytes;
use cim::ops::{MessageBody, Operation};
use cim::{CimError, StatusCode as CimStatus};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use request::{Decoded, RequestError};
use response::Body;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tracing::{field, Instrument};

/// How long [`Server::run`] waits for open connections after `shutdown`.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs the configured HTTP and HTTPS endpoints (and indication delivery)
/// until `shutdown` resolves.
pub async fn serve(
    config: &Config,
    cimom: Cimom,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    Server::bind(config, cimom).await?.run(shutdown).await
}

/// Bound endpoints, ready to [`run`](Server::run).
pub struct Server {
    shared: Arc<Shared>,
    http: Option<TcpListener>,
    https: Option<(TcpListener, SharedTls)>,
    stop_tx: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
    /// Indication delivery, running from `bind` on.
    delivery: tokio::task::JoinHandle<()>,
}

/// The HTTPS acceptor, replaced on reload (open connections keep theirs).
type SharedTls = Arc<RwLock<tokio_rustls::TlsAcceptor>>;

/// What every connection task needs.
struct Shared {
    cimom: Cimom,
    /// Replaced on reload; requests in progress keep the one they started with.
    auth: RwLock<Authenticator>,
    limits: crate::config::Limits,
    xml_limits: cim::xml::Limits,
    requests: Semaphore,
    /// Recent response sizes by operation (hashed into a few slots), so the
    /// response buffer is allocated once at about the right size instead of
    /// growing (and copying) through doublings for large enumerations.
    size_hints: [AtomicUsize; HINT_SLOTS],
}

const HINT_SLOTS: usize = 64;
/// The largest buffer pre-allocated from a hint.
const HINT_MAX: usize = 64 * 1024 * 1024;

impl Shared {
    fn hint_slot(op: &str) -> usize {
        op.bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % HINT_SLOTS
    }

    fn buffer_for(&self, op: &str) -> Vec<u8> {
        let hint = self.size_hints[Self::hint_slot(op)].load(Ordering::Relaxed);
        Vec::with_capacity(hint.clamp(4096, HINT_MAX))
    }

    fn remember_size(&self, op: &str, len: usize) {
        // A little headroom so that a slightly larger answer does not regrow.
        self.size_hints[Self::hint_slot(op)].store(len + len / 8, Ordering::Relaxed);
    }
}

impl Server {
    /// Loads the users file and TLS material and binds the endpoints.
    /// Fails when nothing is configured to listen.
    pub async fn bind(config: &Config, cimom: Cimom) -> Result<Server, Error> {
        config.validate()?;
        if config.listen.is_none() && config.https_listen.is_none() {
            return Err(Error::Config(
                "both --listen and --https-listen are off: nothing to serve".into(),
            ));
        }
        let auth = Authenticator::from_config(config)?;
        let http = match config.listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let https = match (config.https_listen, &config.tls) {
            (Some(addr), Some(files)) => {
                let acceptor = tls::acceptor(files)?;
                Some((bind(addr).await?, Arc::new(RwLock::new(acceptor))))
            }
            _ => None,
        };
        let shared = Arc::new(Shared {
            cimom,
            auth: RwLock::new(auth),
            limits: config.limits.clone(),
            xml_limits: config.xml_limits(),
            requests: Semaphore::new(config.limits.max_concurrent_requests),
            size_hints: std::array::from_fn(|_| AtomicUsize::new(0)),
        });
        // Delivery starts here, not in `run`: the sink must be in place before
        // the first indication is published, or it would be dropped.
        let (stop_tx, stop_rx) = watch::channel(false);
        let delivery =
            crate::indication::start(&shared.cimom, &config.indications, stop_rx.clone());
        Ok(Server {
            shared,
            http,
            https,
            stop_tx,
            stop_rx,
            delivery,
        })
    }

    /// A handle that re-reads the users file and the TLS certificate and key
    /// ([`Reloader::reload`], `systemctl reload` / SIGHUP) while serving.
    pub fn reloader(&self, config: &Config) -> Reloader {
        Reloader {
            shared: Arc::clone(&self.shared),
            tls: self.https.as_ref().map(|(_, t)| Arc::clone(t)),
            config: config.clone(),
        }
    }

    /// The bound plain HTTP address (with the real port when `:0` was asked).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound HTTPS address.
    pub fn https_local_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then drains (see [`SHUTDOWN_GRACE`]).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let (stop_tx, stop_rx, delivery) = (self.stop_tx, self.stop_rx, self.delivery);
        let mut endpoints = Vec::new();
        if let Some(l) = self.http {
            tracing::info!(addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving CIM-XML over HTTP");
            endpoints.push(tokio::spawn(accept_loop(
                l,
                None,
                Arc::clone(&self.shared),
                stop_rx.clone(),
            )));
        }
        if let Some((l, acceptor)) = self.https {
            tracing::info!(addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "serving CIM-XML over HTTPS");
            endpoints.push(tokio::spawn(accept_loop(
                l,
                Some(acceptor),
                Arc::clone(&self.shared),
                stop_rx.clone(),
            )));
        }
        shutdown.await;
        tracing::info!("shutting down: no new connections, draining open ones");
        let _ = stop_tx.send(true);
        for e in endpoints {
            let _ = e.await;
        }
        let _ = delivery.await;
        Ok(())
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })
}

/// Re-reads credentials and certificates for a running [`Server`].
pub struct Reloader {
    shared: Arc<Shared>,
    tls: Option<SharedTls>,
    config: Config,
}

impl Reloader {
    /// Loads the users file and the TLS files again and swaps them in for
    /// new requests and connections; open connections and running operations
    /// are not touched. On any error nothing is replaced.
    pub fn reload(&self) -> Result<(), Error> {
        let auth = Authenticator::from_config(&self.config)?;
        let acceptor = match (&self.tls, &self.config.tls) {
            (Some(_), Some(files)) => Some(tls::acceptor(files)?),
            _ => None,
        };
        *self.shared.auth.write().unwrap_or_else(|e| e.into_inner()) = auth;
        if let (Some(slot), Some(a)) = (&self.tls, acceptor) {
            *slot.write().unwrap_or_else(|e| e.into_inner()) = a;
        }
        Ok(())
    }
}

/// Accepts connections until told to stop, then waits for them to drain.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<SharedTls>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let max = shared.limits.max_connections;
    let connections = Arc::new(Semaphore::new(max));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read_timeout)
        .keep_alive(true);
    if tls.is_some() {
        // TLS records are built from one buffer anyway; flattening avoids
        // splitting a response into two records.
        http.writev(false);
    }
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&connections).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let span = tracing::debug_span!("connection", %peer, tls = tls.is_some());
        let tls = tls
            .as_ref()
            .map(|t| t.read().unwrap_or_else(|e| e.into_inner()).clone());
        let counted = crate::metrics::global().connection();
        let task = connection(stream, tls, http.clone(), Arc::clone(&shared), stop.clone());
        tokio::spawn(
            async move {
                task.await;
                drop(counted);
                drop(permit);
            }
            .instrument(span),
        );
    }
    drop(listener);
    // Every connection holds a permit; all of them back means all are closed.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connections.acquire_many(max as u32)).await;
}

async fn connection(
    stream: TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    http: hyper::server::conn::http1::Builder,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    match tls {
        None => drive(TokioIo::new(stream), http, shared, stop).await,
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(shared.limits.header_read_timeout, acceptor.accept(stream));
            match handshake.await {
                Ok(Ok(s)) => drive(TokioIo::new(s), http, shared, stop).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        }
    }
}

async fn drive<IO>(
    io: IO,
    http: hyper::server::conn::http1::Builder,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
    });
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        // Client resets, header timeouts, malformed HTTP: the peer's problem.
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// One request through all stages; never fails (every failure is a response).
async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let span = tracing::debug_span!(
        "request",
        id = field::Empty,
        op = field::Empty,
        ns = field::Empty,
        class = field::Empty,
        user = field::Empty,
    );
    let started = std::time::Instant::now();
    let mut outcome = Outcome::default();
    let resp = process(shared, req, &mut outcome)
        .instrument(span.clone())
        .await;
    outcome.record(&resp, started.elapsed());
    let _enter = span.enter();
    tracing::debug!(
        status = resp.status().as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "answered"
    );
    resp
}

/// What a request was and how it ended, for [`crate::metrics`].
#[derive(Default)]
struct Outcome {
    op: String,
    cim_error: Option<&'static str>,
}

impl Outcome {
    fn failed<T>(&mut self, result: &Result<T, CimError>) {
        if let Err(e) = result {
            self.cim_error = Some(e.status.name());
        }
    }

    fn record(&self, resp: &Response<Body>, took: Duration) {
        let metrics = crate::metrics::global();
        if !metrics.enabled() {
            return;
        }
        let http_status;
        let status = match self.cim_error {
            Some(name) => name,
            None if resp.status() == StatusCode::OK => "OK",
            None => {
                http_status = format!("HTTP_{}", resp.status().as_u16());
                &http_status
            }
        };
        metrics.request(&self.op, status, took);
    }
}

async fn process(shared: &Shared, req: Request<Incoming>, outcome: &mut Outcome) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let framing = match request::check_head(&parts.method, parts.uri.path(), &parts.headers) {
        Ok(f) => f,
        Err(e) => return reject(e),
    };
    let auth = shared
        .auth
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let user = match auth
        .check(
            parts
                .headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        )
        .await
    {
        Ok(u) => u,
        Err(AuthFailure::Missing) => return response::unauthorized(),
        Err(AuthFailure::Rejected(name)) => {
            tracing::warn!(user = %name, "authentication failed");
            return response::unauthorized();
        }
    };
    if let Some(u) = &user {
        tracing::Span::current().record("user", u.as_str());
    }
    let timeout = shared.limits.request_timeout;
    // Fast path without a timer; wait (bounded) only when the server is full.
    let _permit = match shared.requests.try_acquire() {
        Ok(p) => p,
        Err(_) => match tokio::time::timeout(timeout, shared.requests.acquire()).await {
            Ok(Ok(p)) => p,
            _ => {
                return reject(RequestError::http(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many requests in progress: retry later",
                ))
            }
        },
    };
    let _busy = trim::Busy::enter();
    let max = shared.limits.max_request_bytes;
    if let Some(len) = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > max as u64 {
            return reject(too_large(max));
        }
    }
    let bytes: Bytes = match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await
    {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return reject(too_large(max)),
        Ok(Err(e)) => {
            return reject(RequestError::http(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}"),
            ))
        }
        Err(_) => {
            return reject(RequestError::http(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs()
                ),
            ))
        }
    };
    let decoded = match request::decode_body(&bytes, &parts.headers, &framing, &shared.xml_limits) {
        Ok(d) => d,
        Err(e) => return reject(e),
    };
    drop(bytes);
    let mut out;
    let mut rest = None;
    match decoded {
        Decoded::Refused { id, method, error } => {
            let span = tracing::Span::current();
            span.record("id", id.as_str());
            span.record("op", method.as_str());
            tracing::debug!(error = %error, "operation refused");
            outcome.op = method.clone();
            outcome.cim_error = Some(error.status.name());
            out = Vec::with_capacity(1024);
            response::encode_imethod(&id, &method, Err(error), &mut out);
        }
        Decoded::Message(msg) => {
            let msg = *msg;
            let ctx = RequestCtx {
                user,
                message_id: msg.id.clone(),
                waiting: Default::default(),
            };
            let span = tracing::Span::current();
            span.record("id", msg.id.as_str());
            match msg.body {
                MessageBody::IMethodCall(call) => {
                    let name = call.operation.name();
                    span.record("op", name);
                    span.record("ns", call.namespace.as_str());
                    if let Some(c) = operation_class(&call.operation) {
                        span.record("class", c);
                    }
                    let result = match tokio::time::timeout(
                        timeout,
                        shared.cimom.handle_imethod_rendered(&ctx, call),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(timed_out(timeout)),
                    };
                    if let Err(e) = &result {
                        tracing::debug!(error = %e, "operation failed");
                    }
                    outcome.op = name.to_owned();
                    outcome.failed(&result);
                    out = shared.buffer_for(name);
                    rest = response::encode_imethod(&msg.id, name, result, &mut out);
                    shared.remember_size(name, out.len());
                }
                MessageBody::MethodCall(call) => {
                    let method = call.method.clone();
                    span.record("op", method.as_str());
                    span.record("ns", call.namespace.as_str());
                    span.record("class", call.target.class_name.as_str());
                    let result = unless_waiting(
                        timeout,
                        &ctx.waiting,
                        shared.cimom.handle_method(&ctx, call),
                    )
                    .await;
                    if let Err(e) = &result {
                        tracing::debug!(error = %e, "method failed");
                    }
                    outcome.op = method.as_str().to_owned();
                    outcome.failed(&result);
                    out = Vec::with_capacity(4096);
                    response::encode_method(&msg.id, method, result, &mut out);
                }
                // decode_body lets only calls through.
                _ => {
                    return reject(RequestError::cim(
                        StatusCode::BAD_REQUEST,
                        "unsupported-operation",
                        "not a method call",
                    ))
                }
            }
        }
    }
    response::cim_response_with(&framing, out, rest)
}

fn reject(e: RequestError) -> Response<Body> {
    tracing::debug!(status = e.status.as_u16(), cim_error = e.cim_error, detail = %e.detail, "request rejected");
    response::error_response(&e)
}

fn too_large(max: usize) -> RequestError {
    RequestError::http(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body exceeds {max} bytes (--max-request-bytes)"),
    )
}

/// `fut` within the request timeout, unless its provider declared the
/// request waiting ([`crate::provider::Waiting`]): a wait has the client's
/// own time limit, and ends when the client disconnects (hyper drops this
/// future, which cancels the provider's task).
async fn unless_waiting<T>(
    timeout: Duration,
    waiting: &crate::provider::Waiting,
    fut: impl Future<Output = Result<T, CimError>>,
) -> Result<T, CimError> {
    tokio::pin!(fut);
    tokio::select! {
        r = &mut fut => r,
        _ = tokio::time::sleep(timeout) => {
            if waiting.is_waiting() {
                fut.await
            } else {
                Err(timed_out(timeout))
            }
        }
    }
}

fn timed_out(timeout: Duration) -> CimError {
    CimError::new(
        CimStatus::Failed,
        format!(
            "the operation did not finish within {} s (--request-timeout); it may still complete",
            timeout.as_secs()
        ),
    )
}

/// The class an operation is about, for the request span.
fn operation_class(op: &Operation) -> Option<&str> {
    use Operation::*;
    Some(match op {
        GetClass { class_name, .. }
        | DeleteClass { class_name }
        | EnumerateInstances { class_name, .. }
        | EnumerateInstanceNames { class_name }
        | OpenEnumerateInstances { class_name, .. }
        | OpenEnumerateInstancePaths { class_name, .. } => class_name.as_str(),
        EnumerateClasses { class_name, .. } | EnumerateClassNames { class_name, .. } => {
            class_name.as_ref()?.as_str()
        }
        CreateClass { new_class } => new_class.name.as_str(),
        ModifyClass { modified_class } => modified_class.name.as_str(),
        CreateInstance { new_instance } => new_instance.class_name.as_str(),
        ModifyInstance {
            modified_instance, ..
        } => modified_instance.class_name.as_str(),
        GetInstance { instance_name, .. }
        | DeleteInstance { instance_name }
        | GetProperty { instance_name, .. }
        | SetProperty { instance_name, .. }
        | OpenAssociatorInstances { instance_name, .. }
        | OpenAssociatorInstancePaths { instance_name, .. }
        | OpenReferenceInstances { instance_name, .. }
        | OpenReferenceInstancePaths { instance_name, .. } => instance_name.class_name.as_str(),
        Associators { object_name, .. }
        | AssociatorNames { object_name, .. }
        | References { object_name, .. }
        | ReferenceNames { object_name, .. } => object_name.class_name.as_str(),
        _ => return None,
    })
}
