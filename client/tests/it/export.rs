//! Indication export ([`client::export`]) against a scripted listener over
//! HTTP and HTTPS: the request's headers and body, kept-alive connections,
//! how each kind of answer is classified, and the certificate policy
//! ([`CertVerification`]) against a self-signed listener.

use bytes::Bytes;
use cim::{CimType, Instance, Value};
use client::export::{export_body, Destination, ExportFailure, ListenerConnection};
use client::CertVerification;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const OK_REPLY: &str = r#"<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEEXPRSP><EXPMETHODRESPONSE NAME="ExportIndication"><IRETURNVALUE></IRETURNVALUE></EXPMETHODRESPONSE></SIMPLEEXPRSP></MESSAGE></CIM>"#;
const ERROR_REPLY: &str = r#"<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEEXPRSP><EXPMETHODRESPONSE NAME="ExportIndication"><ERROR CODE="7" DESCRIPTION="not supported here"/></EXPMETHODRESPONSE></SIMPLEEXPRSP></MESSAGE></CIM>"#;

/// A listener that answers with `replies` in turn and records what it got.
struct Listener {
    port: u16,
    /// The certificate PEM when it speaks HTTPS.
    pem: Option<String>,
    /// `(path, headers, body)` of each request.
    seen: Arc<Mutex<Vec<(String, http::HeaderMap, String)>>>,
    connections: Arc<AtomicUsize>,
}

async fn listener(tls: bool, replies: Vec<(u16, &'static str)>) -> Listener {
    let (acceptor, pem) = if tls {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
        (Some(acceptor), Some(ck.cert.pem()))
    } else {
        (None, None)
    };
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let replies = Arc::new(Mutex::new(replies.into_iter()));
    let (seen2, connections2) = (Arc::clone(&seen), Arc::clone(&connections));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = socket.accept().await {
            connections2.fetch_add(1, Ordering::SeqCst);
            let (seen, replies, acceptor) =
                (Arc::clone(&seen2), Arc::clone(&replies), acceptor.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (seen, replies) = (Arc::clone(&seen), Arc::clone(&replies));
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        seen.lock().unwrap().push((
                            parts.uri.path().to_owned(),
                            parts.headers,
                            String::from_utf8_lossy(&body).into_owned(),
                        ));
                        let (status, text) = replies.lock().unwrap().next().unwrap_or((200, ""));
                        let mut resp = http::Response::new(Full::new(Bytes::from(text)));
                        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                    // Handshakes the client refuses end here.
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let _ = http.serve_connection(TokioIo::new(tls), svc).await;
                        }
                    }
                }
            });
        }
    });
    Listener {
        port,
        pem,
        seen,
        connections,
    }
}

fn indication() -> Bytes {
    let mut i = Instance::new("CIM_InstModification");
    i.set(
        "IndicationIdentifier",
        CimType::String,
        Value::String("42".into()),
    );
    export_body(&i)
}

fn connection(url: &str, verify: &CertVerification) -> ListenerConnection {
    let dest = Destination::parse(url).unwrap();
    ListenerConnection::new(dest, verify, Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn export_requests_carry_the_dsp0200_headers_over_one_kept_alive_connection() {
    let l = listener(false, vec![(200, OK_REPLY), (200, ""), (200, OK_REPLY)]).await;
    let conn = connection(
        &format!("http://127.0.0.1:{}/cimlistener/x", l.port),
        &CertVerification::AcceptAny,
    );
    for _ in 0..3 {
        conn.send(indication()).await.unwrap();
    }
    let seen = l.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let (path, headers, body) = &seen[0];
    assert_eq!(path, "/cimlistener/x");
    for (name, value) in [
        ("content-type", "application/xml; charset=\"utf-8\""),
        ("cimexport", "MethodRequest"),
        ("cimexportmethod", "ExportIndication"),
        ("cimprotocolversion", "1.0"),
        ("host", &format!("127.0.0.1:{}", l.port)),
    ] {
        assert_eq!(headers.get(name).unwrap(), value, "{name}");
    }
    assert!(body.contains(r#"<EXPMETHODCALL NAME="ExportIndication">"#));
    assert!(body.contains(
        r#"<EXPPARAMVALUE NAME="NewIndication"><INSTANCE CLASSNAME="CIM_InstModification">"#
    ));
    assert_eq!(l.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn answers_are_classified_for_retry() {
    let l = listener(false, vec![(503, ""), (400, ""), (200, ERROR_REPLY)]).await;
    let conn = connection(
        &format!("127.0.0.1:{}", l.port),
        &CertVerification::AcceptAny,
    );
    let r = conn.send(indication()).await;
    assert!(
        matches!(r, Err(ExportFailure::Transient(ref m)) if m.contains("503")),
        "{r:?}"
    );
    let r = conn.send(indication()).await;
    assert!(
        matches!(r, Err(ExportFailure::Refused(ref m)) if m.contains("400")),
        "{r:?}"
    );
    let r = conn.send(indication()).await;
    assert!(
        matches!(r, Err(ExportFailure::Refused(ref m)) if m.contains("not supported here")),
        "{r:?}"
    );
    drop(l);
    // Nobody listening: transient.
    let port = {
        let s = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let conn = connection(
        &format!("http://127.0.0.1:{port}"),
        &CertVerification::AcceptAny,
    );
    let r = conn.send(indication()).await;
    assert!(matches!(r, Err(ExportFailure::Transient(_))), "{r:?}");
}

#[tokio::test]
async fn a_silent_listener_times_out() {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    // Accepts and never answers.
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((tcp, _)) = socket.accept().await {
            open.push(tcp);
        }
    });
    let dest = Destination::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let conn = ListenerConnection::new(
        dest,
        &CertVerification::AcceptAny,
        Duration::from_millis(300),
    )
    .unwrap();
    let r = conn.send(indication()).await;
    assert!(
        matches!(r, Err(ExportFailure::Transient(ref m)) if m.contains("no answer")),
        "{r:?}"
    );
    held.abort();
}

/// The one certificate policy, for operations and export alike: a
/// self-signed listener passes with `AcceptAny` and with its certificate as
/// the CA bundle, and fails against the web PKI roots.
#[tokio::test]
async fn certificates_are_checked_as_the_policy_says() {
    let l = listener(true, vec![(200, OK_REPLY), (200, OK_REPLY)]).await;
    let url = format!("https://localhost:{}/", l.port);
    connection(&url, &CertVerification::AcceptAny)
        .send(indication())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, l.pem.as_deref().unwrap()).unwrap();
    connection(&url, &CertVerification::CaFile(ca))
        .send(indication())
        .await
        .unwrap();
    let r = connection(&url, &CertVerification::WebPkiRoots)
        .send(indication())
        .await;
    assert!(
        matches!(r, Err(ExportFailure::Transient(ref m)) if m.contains("certificate")),
        "{r:?}"
    );
    assert_eq!(l.seen.lock().unwrap().len(), 2);
}
