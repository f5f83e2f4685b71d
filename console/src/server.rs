//! The HTTP(S) endpoints: accept loops, limits, the security gate (session,
//! CSRF) and the split between pages, API and assets.
//!
//! Limits: request bodies above `max-request-bytes` get 413 (checked from
//! `Content-Length` and while reading), request headers must arrive within
//! 30 s, at most [`MAX_CONNECTIONS`] connections are served at once.
//! Every response carries a strict Content-Security-Policy (scripts and
//! styles from this origin only: no inline code), `X-Content-Type-Options`,
//! `Referrer-Policy` and `X-Frame-Options`.

use crate::config::Config;
use crate::hosts::Registry;
use crate::session::{self, Session, Sessions};
use crate::{api, pages, Error};
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Response body: whole or streamed (SSE).
pub type Body = BoxBody<Bytes, Infallible>;
/// Connections served at once per endpoint.
pub const MAX_CONNECTIONS: usize = 512;

/// Shared state of every request.
pub struct App {
    /// Hosts.
    pub registry: Arc<Registry>,
    /// Sessions.
    pub sessions: Sessions,
    /// Users file (`None`: no login).
    pub users: Option<cimom::auth::Users>,
    /// Body limit.
    pub max_body: usize,
}

/// A request after the gate.
pub struct Req {
    /// Method.
    pub method: Method,
    /// Path segments, percent-decoded.
    pub segments: Vec<String>,
    /// Raw query string.
    pub query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Whole body (within the limit).
    pub body: Bytes,
    /// The session (anonymous when no login is configured).
    pub session: Session,
    /// Served over TLS.
    pub tls: bool,
}

impl Req {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A whole response.
pub fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON response.
pub fn json(status: u16, v: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec());
    full(status, "application/json", body)
}

/// An error as JSON: `{"error": "...", "status": N}`.
pub fn json_error(e: &Error) -> Response<Body> {
    json(
        e.status(),
        &serde_json::json!({"error": e.to_string(), "status": e.status()}),
    )
}

/// A redirect (303 See Other).
pub fn redirect(to: &str) -> Response<Body> {
    let mut r = full(303, "text/plain", "");
    if let Ok(v) = to.parse() {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn secure_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, http::HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "x-frame-options", "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
}

/// Splits and percent-decodes a path.
pub fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(cimom::server::request::percent_decode)
        .collect()
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let d = |s: &str| cimom::server::request::percent_decode(&s.replace('+', " "));
            (d(k), d(v))
        })
        .collect()
}

async fn read_body(body: Incoming, headers: &HeaderMap, max: usize) -> Result<Bytes, Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(Error::TooLarge(max));
    }
    match Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::TooLarge(max)),
        Err(e) => Err(Error::BadRequest(format!(
            "cannot read the request body: {e}"
        ))),
    }
}

fn wants_html(path: &str) -> bool {
    !path.starts_with("/api/")
}

/// Handles one request.
pub async fn handle(app: Arc<App>, req: Request<Incoming>, tls: bool) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", %method, %path);
    let _g = span.enter();
    let mut resp = route(app, req, tls).await;
    secure_headers(resp.headers_mut());
    tracing::debug!(status = resp.status().as_u16(), "answered");
    resp
}

async fn route(app: Arc<App>, req: Request<Incoming>, tls: bool) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let method = parts.method.clone();
    // Public: assets, the API description, the login page, host announcements.
    if method == Method::GET {
        if let Some(r) = pages::asset(&path) {
            return r;
        }
        if path == "/api/v1/openapi.json" {
            return full(200, "application/json", api::OPENAPI);
        }
    }
    let body = match read_body(body, &parts.headers, app.max_body).await {
        Ok(b) => b,
        Err(e) => return json_error(&e),
    };
    if path == "/api/v1/announce" && method == Method::POST {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let r =
            crate::hosts::Announcement::parse(&body).and_then(|a| app.registry.announce(token, a));
        return match r {
            Ok(()) => json(200, &serde_json::json!({"registered": true})),
            Err(e) => json_error(&e),
        };
    }
    if path == "/login" {
        return login(&app, &method, &body, tls).await;
    }
    // Everything else needs a session.
    let cookie = parts
        .headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| session::cookie_value(c, session::COOKIE))
        .map(str::to_owned);
    let mut new_cookie = None;
    let session =
        match cookie.as_deref().and_then(|c| app.sessions.get(c)) {
            Some(s) => s,
            None if app.users.is_none() && method == Method::GET => {
                let (id, s) = app.sessions.create(None);
                new_cookie = Some(session::set_cookie(&id, tls));
                s
            }
            None if app.users.is_some() && method == Method::GET && wants_html(&path) => {
                return redirect("/login");
            }
            None if app.users.is_some() => {
                return json_error(&Error::Unauthorized("log in first (POST /login)".into()))
            }
            None => return json_error(&Error::Forbidden(
                "no session: load a page or GET /api/v1/session first, then send its CSRF token"
                    .into(),
            )),
        };
    let state_changing = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    if state_changing {
        let form_token = form(&body)
            .into_iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v);
        let presented = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or(form_token);
        if !session::csrf_ok(&session, presented.as_deref()) {
            return json_error(&Error::Forbidden(
                "missing or wrong CSRF token (send the X-CSRF-Token header)".into(),
            ));
        }
    }
    if path == "/logout" && method == Method::POST {
        if let Some(c) = &cookie {
            app.sessions.remove(c);
        }
        let mut r = redirect("/login");
        if let Ok(v) = session::clear_cookie(tls).parse() {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        return r;
    }
    let r = Req {
        method,
        segments: segments(&path),
        query,
        headers: parts.headers,
        body,
        session,
        tls,
    };
    let mut resp = if path.starts_with("/api/v1/") || path == "/api/v1" {
        api::route(&app, &r).await
    } else {
        pages::route(&app, &r).await
    };
    if let Some(c) = new_cookie.and_then(|c| c.parse().ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

async fn login(app: &App, method: &Method, body: &[u8], tls: bool) -> Response<Body> {
    let Some(users) = &app.users else {
        return redirect("/");
    };
    if *method != Method::POST {
        return full(
            200,
            "text/html; charset=utf-8",
            pages::login_page(None).into_string(),
        );
    }
    let f = form(body);
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (user, password) = (get("user"), get("password"));
    let users = users.clone();
    let u = user.clone();
    let ok = tokio::task::spawn_blocking(move || users.verify(&u, &password))
        .await
        .unwrap_or(false);
    if !ok {
        tracing::warn!(user = %user, "login refused");
        return full(
            401,
            "text/html; charset=utf-8",
            pages::login_page(Some("Wrong user name or password.")).into_string(),
        );
    }
    let (id, _) = app.sessions.create(Some(user));
    let mut r = redirect("/");
    if let Ok(v) = session::set_cookie(&id, tls).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Serves one listener until the process ends.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                Some(acc) => {
                    match tokio::time::timeout(Duration::from_secs(30), acc.accept(stream)).await {
                        Ok(Ok(s)) => serve_conn(app, TokioIo::new(s), true, peer).await,
                        _ => tracing::debug!(%peer, "TLS handshake failed"),
                    }
                }
                None => serve_conn(app, TokioIo::new(stream), false, peer).await,
            }
        });
    }
}

async fn serve_conn<I>(app: Arc<App>, io: I, tls: bool, peer: SocketAddr)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(handle(app, req, tls).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(io, svc);
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

/// Binds the configured endpoints and serves them; prints one line per endpoint.
pub async fn run(config: Config, registry: Arc<Registry>) -> Result<(), Error> {
    let users = match &config.users {
        Some(p) => Some(cimom::auth::Users::load(p).map_err(|e| Error::Config(e.to_string()))?),
        None => None,
    };
    let app = Arc::new(App {
        registry,
        sessions: Sessions::default(),
        users,
        max_body: config.max_request_bytes,
    });
    let mut tasks = Vec::new();
    if let Some(a) = config.listen {
        let l = TcpListener::bind(a)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {a}: {e}")))?;
        eprintln!("iimgr: listening on http://{}", l.local_addr()?);
        tasks.push(tokio::spawn(serve(app.clone(), l, None)));
    }
    if let (Some(a), Some(files)) = (config.https_listen, &config.tls) {
        let acc = cimom::server::tls::acceptor(files).map_err(|e| Error::Config(e.to_string()))?;
        let l = TcpListener::bind(a)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {a}: {e}")))?;
        eprintln!("iimgr: listening on https://{}", l.local_addr()?);
        tasks.push(tokio::spawn(serve(app.clone(), l, Some(acc))));
    }
    for t in tasks {
        match t.await {
            Ok(r) => r?,
            Err(e) => return Err(Error::Io(std::io::Error::other(e))),
        }
    }
    Ok(())
}
