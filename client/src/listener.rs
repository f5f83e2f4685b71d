//! A small CIM-XML indication listener: an HTTP server on a local port that
//! accepts DSP0200 export requests and hands the indications to the caller.
//!
//! # Wire format (DSP0200 1.4 §6, DSP0201 `SIMPLEEXPREQ`)
//!
//! Request: `POST` (or `M-POST`) to any path with `CIMExport: MethodRequest`,
//! `CIMExportMethod: ExportIndication` and a body
//! `<CIM><MESSAGE ID=..><SIMPLEEXPREQ><EXPMETHODCALL NAME="ExportIndication">
//! <EXPPARAMVALUE NAME="NewIndication"><INSTANCE ..>`.
//! Answer: HTTP 200 with `CIMExport: MethodResponse` and
//! `<SIMPLEEXPRSP><EXPMETHODRESPONSE NAME="ExportIndication">` echoing the message id.
//!
//! Failures are answered at the HTTP level as DSP0200 §6.3 says: a body that
//! is not XML → 400 `CIMError: request-not-well-formed`; XML that is not a
//! valid export message → 400 `CIMError: request-not-valid`; a method other
//! than POST/M-POST → 405. Tolerated quirks: missing `CIMExport*` headers and
//! any `Content-Type` (some servers omit them). Bodies over 16 MiB → 413.

use crate::error::{Error, Result};
use bytes::Bytes;
use cim::ops::{Message, MessageBody};
use cim::{CimName, Instance};
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Largest export request accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The standard classes of the indications we interpret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndicationKind {
    /// `CIM_InstCreation`.
    Creation,
    /// `CIM_InstDeletion`.
    Deletion,
    /// `CIM_InstModification`.
    Modification,
    /// `CIM_AlertIndication` (or a subclass).
    Alert,
    /// Anything else.
    Other,
}

/// One received indication.
#[derive(Debug, Clone, PartialEq)]
pub struct Indication {
    /// The indication instance as delivered.
    pub instance: Instance,
    /// Who sent it.
    pub peer: SocketAddr,
}

impl Indication {
    /// The indication's class name.
    pub fn class_name(&self) -> &CimName {
        &self.instance.class_name
    }

    /// Which standard indication this is (by class name).
    pub fn kind(&self) -> IndicationKind {
        let c = &self.instance.class_name;
        if c.is("CIM_InstCreation") {
            IndicationKind::Creation
        } else if c.is("CIM_InstDeletion") {
            IndicationKind::Deletion
        } else if c.is("CIM_InstModification") {
            IndicationKind::Modification
        } else if c.as_str().to_ascii_lowercase().contains("alertindication") {
            IndicationKind::Alert
        } else {
            IndicationKind::Other
        }
    }

    /// `SourceInstance` of an instance life-cycle indication (embedded instance).
    pub fn source_instance(&self) -> Option<&Instance> {
        embedded(&self.instance, "SourceInstance")
    }

    /// `PreviousInstance` of a `CIM_InstModification`.
    pub fn previous_instance(&self) -> Option<&Instance> {
        embedded(&self.instance, "PreviousInstance")
    }
}

fn embedded<'a>(i: &'a Instance, prop: &str) -> Option<&'a Instance> {
    match i.get(prop)? {
        cim::Value::Instance(b) => Some(b),
        _ => None,
    }
}

/// A running listener. Dropping it stops the server.
#[derive(Debug)]
pub struct IndicationListener {
    rx: mpsc::Receiver<Indication>,
    guard: ListenerGuard,
}

impl IndicationListener {
    /// Binds `addr` (use `127.0.0.1:0` for an ephemeral port) and starts serving.
    pub async fn bind(addr: SocketAddr) -> Result<IndicationListener> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Listener(format!("cannot bind {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Listener(format!("no local address: {e}")))?;
        let (tx, rx) = mpsc::channel(1024);
        let task: JoinHandle<()> = tokio::spawn(accept_loop(listener, tx));
        tracing::info!(%addr, "indication listener started");
        Ok(IndicationListener {
            rx,
            guard: ListenerGuard {
                task: task.abort_handle(),
                addr,
            },
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.guard.addr
    }

    /// The URL to give servers as `CIM_ListenerDestinationCIMXML.Destination`.
    pub fn url(&self) -> String {
        format!("http://{}", self.guard.addr)
    }

    /// The next indication (`None` once the listener stopped).
    pub async fn recv(&mut self) -> Option<Indication> {
        self.rx.recv().await
    }

    /// Splits off the receiving end (the server keeps running until the
    /// returned guard is dropped).
    pub fn into_parts(self) -> (mpsc::Receiver<Indication>, ListenerGuard) {
        (self.rx, self.guard)
    }
}

/// Keeps the listener task alive; dropping it stops the server.
#[derive(Debug)]
pub struct ListenerGuard {
    task: tokio::task::AbortHandle,
    addr: SocketAddr,
}

impl ListenerGuard {
    /// The listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, tx: mpsc::Sender<Indication>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "listener accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let tx = tx.clone();
        let span = tracing::debug_span!("listener_conn", %peer);
        tokio::spawn(
            async move {
                let svc = service_fn(move |req| handle(req, peer, tx.clone()));
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await
                {
                    tracing::debug!(error = %e, "listener connection ended");
                }
            }
            .instrument(span),
        );
    }
}

fn reply(status: u16, headers: &[(&str, &str)], body: Vec<u8>) -> http::Response<Full<Bytes>> {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new())))
}

async fn handle(
    req: http::Request<hyper::body::Incoming>,
    peer: SocketAddr,
    tx: mpsc::Sender<Indication>,
) -> std::result::Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    if req.method() != http::Method::POST && req.method().as_str() != "M-POST" {
        return Ok(reply(405, &[("Allow", "POST, M-POST")], Vec::new()));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(reply(413, &[], Vec::new())),
    };
    let msg = match cim::xml::read_message(&body, &cim::xml::Limits::default()) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "bad export request");
            let kind = match e.kind() {
                cim::error::ErrorKind::NotWellFormed => "request-not-well-formed",
                _ => "request-not-valid",
            };
            return Ok(reply(400, &[("CIMError", kind)], Vec::new()));
        }
    };
    let MessageBody::ExportIndication(instance) = msg.body else {
        return Ok(reply(400, &[("CIMError", "request-not-valid")], Vec::new()));
    };
    tracing::debug!(class = %instance.class_name, "indication received");
    // A dropped receiver means nobody listens any more; still acknowledge.
    let _ = tx.send(Indication { instance, peer }).await;
    let answer = Message {
        id: msg.id,
        protocol_version: "1.0".to_owned(),
        body: MessageBody::ExportResponse(Ok(())),
    };
    let mut out = Vec::new();
    cim::xml::write_message(&answer, &mut out);
    Ok(reply(
        200,
        &[
            ("Content-Type", "application/xml; charset=\"utf-8\""),
            ("CIMExport", "MethodResponse"),
        ],
        out,
    ))
}
