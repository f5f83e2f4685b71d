//! Indication delivery end to end: subscriptions created through the object
//! manager (filter, listener destination, subscription in `interop`), an
//! in-test CIM-XML listener on `127.0.0.1:0`, and indications published
//! through the provider handle: matching ones arrive as `ExportIndication`
//! requests with the DSP0200 export headers, others do not; deleting the
//! subscription stops delivery; an unreachable listener never blocks;
//! HTTPS listeners with self-signed certificates are served; subscriptions
//! persist across a restart on the same state directory.

use crate::http_common::*;
use bytes::Bytes;
use cim::ops::{IMethodCall, Message, MessageBody, Operation, Response};
use cim::{CimType, Instance, ObjectPath, Value};
use cimom::{Cimom, RequestCtx};
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the in-test listener received.
#[derive(Debug)]
struct Received {
    headers: http::HeaderMap,
    message: Message,
}

/// A CIM-XML listener answering every export with an empty EXPMETHODRESPONSE.
async fn listener() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    listener_with(None).await
}

/// An HTTPS listener with a fresh self-signed certificate.
async fn tls_listener() -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(ck.cert.der().to_vec());
    let key = rustls::pki_types::PrivateKeyDer::try_from(ck.key_pair.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    listener_with(Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(
        config,
    ))))
    .await
}

async fn listener_with(
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let tx = tx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        async move {
                            let headers = req.headers().clone();
                            let body = req.into_body().collect().await?.to_bytes();
                            let message =
                                cim::xml::read_message(&body, &cim::xml::Limits::default())
                                    .expect("the export request is valid CIM-XML");
                            let id = message.id.clone();
                            let _ = tx.send(Received { headers, message });
                            let reply = Message {
                                id,
                                protocol_version: "1.0".into(),
                                body: MessageBody::ExportResponse(Ok(())),
                            };
                            let mut out = Vec::new();
                            cim::xml::write_message(&reply, &mut out);
                            let mut resp = http::Response::new(Full::new(Bytes::from(out)));
                            resp.headers_mut().insert(
                                "CIMExport",
                                http::HeaderValue::from_static("MethodResponse"),
                            );
                            Ok::<_, hyper::Error>(resp)
                        }
                    });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = http
                            .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                            .await;
                    }
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(s).await {
                            let _ = http
                                .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                                .await;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

async fn create(cimom: &Cimom, inst: Instance) -> ObjectPath {
    let call = IMethodCall {
        namespace: "interop".into(),
        operation: Operation::CreateInstance { new_instance: inst },
    };
    match cimom.handle_imethod(&RequestCtx::default(), call).await {
        Ok(Response::InstanceName(p)) => p,
        other => panic!("CreateInstance failed: {other:?}"),
    }
}

async fn delete(cimom: &Cimom, path: ObjectPath) {
    let call = IMethodCall {
        namespace: "interop".into(),
        operation: Operation::DeleteInstance {
            instance_name: path,
        },
    };
    let r = cimom.handle_imethod(&RequestCtx::default(), call).await;
    assert!(r.is_ok(), "DeleteInstance failed: {r:?}");
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// Creates filter + destination + subscription; returns the subscription path.
async fn subscribe(cimom: &Cimom, name: &str, query: &str, destination: &str) -> ObjectPath {
    let filter = Instance::new("CIM_IndicationFilter")
        .with(
            "SystemCreationClassName",
            CimType::String,
            s("CIM_ComputerSystem"),
        )
        .with("SystemName", CimType::String, s("localhost"))
        .with(
            "CreationClassName",
            CimType::String,
            s("CIM_IndicationFilter"),
        )
        .with("Name", CimType::String, s(name))
        .with("Query", CimType::String, s(query))
        .with("QueryLanguage", CimType::String, s("WQL"))
        .with("SourceNamespace", CimType::String, s("root/cimv2"));
    let filter = create(cimom, filter).await;
    let handler = Instance::new("CIM_ListenerDestinationCIMXML")
        .with(
            "SystemCreationClassName",
            CimType::String,
            s("CIM_ComputerSystem"),
        )
        .with("SystemName", CimType::String, s("localhost"))
        .with(
            "CreationClassName",
            CimType::String,
            s("CIM_ListenerDestinationCIMXML"),
        )
        .with("Name", CimType::String, s(name))
        .with("Destination", CimType::String, s(destination));
    let handler = create(cimom, handler).await;
    let sub = Instance::new("CIM_IndicationSubscription")
        .with(
            "Filter",
            CimType::Reference(Some("CIM_IndicationFilter".into())),
            Value::Reference(filter),
        )
        .with(
            "Handler",
            CimType::Reference(Some("CIM_ListenerDestinationCIMXML".into())),
            Value::Reference(handler),
        );
    create(cimom, sub).await
}

/// A `CIM_InstCreation` whose `SourceInstance` is of class `class`.
fn creation(class: &str, key: &str) -> Instance {
    let source = Instance::new(class).with("Name", CimType::String, s(key));
    Instance::new("CIM_InstCreation")
        .with(
            "SourceInstance",
            CimType::EmbeddedInstance,
            Value::Instance(Box::new(source)),
        )
        .with("IndicationIdentifier", CimType::String, s(key))
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Option<Received> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_indications_reach_the_listener() {
    let server = TestServer::start(|_, _| {}).await;
    let cimom = server.cimom.clone();
    let (addr, mut rx) = listener().await;
    let sub = subscribe(
        &cimom,
        "f1",
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA CIM_Namespace",
        &format!("http://{addr}/"),
    )
    .await;
    let handle = cimom.handle();

    // Matches (CIM_Namespace exists in the repository, so ISA is decidable).
    handle.publish_indication("root/cimv2", creation("CIM_Namespace", "one"));
    let got = next(&mut rx)
        .await
        .expect("the matching indication is delivered");
    assert_eq!(got.headers["CIMExport"], "MethodRequest");
    assert_eq!(got.headers["CIMExportMethod"], "ExportIndication");
    assert!(got.headers["Content-Type"]
        .to_str()
        .unwrap()
        .starts_with("application/xml"));
    match &got.message.body {
        MessageBody::ExportIndication(ind) => {
            assert!(ind.class_name.is("CIM_InstCreation"));
            assert_eq!(ind.get_str("IndicationIdentifier"), Some("one"));
        }
        other => panic!("not an ExportIndication: {other:?}"),
    }

    // Does not match: other source class, other indication class, other namespace.
    handle.publish_indication("root/cimv2", creation("CIM_ObjectManager", "no-isa"));
    let mut deletion = creation("CIM_Namespace", "no-class");
    deletion.class_name = "CIM_InstDeletion".into();
    handle.publish_indication("root/cimv2", deletion);
    handle.publish_indication("interop", creation("CIM_Namespace", "no-namespace"));
    // Then a matching one: it must be the next thing to arrive (order is kept).
    handle.publish_indication("root/cimv2", creation("CIM_Namespace", "two"));
    let got = next(&mut rx).await.expect("second indication");
    match &got.message.body {
        MessageBody::ExportIndication(ind) => {
            assert_eq!(ind.get_str("IndicationIdentifier"), Some("two"))
        }
        other => panic!("not an ExportIndication: {other:?}"),
    }

    // After the subscription is deleted, nothing more is delivered.
    delete(&cimom, sub).await;
    handle.publish_indication("root/cimv2", creation("CIM_Namespace", "three"));
    assert!(
        tokio::time::timeout(Duration::from_millis(800), rx.recv())
            .await
            .is_err(),
        "no delivery after unsubscribing"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_listener_never_blocks_publishers_or_other_listeners() {
    let server = TestServer::start(|c, _| {
        c.indications.attempts = 2;
        c.indications.queue_capacity = 4;
    })
    .await;
    let cimom = server.cimom.clone();
    // A port nobody listens on (bound, then closed).
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    subscribe(
        &cimom,
        "dead",
        "SELECT * FROM CIM_InstCreation",
        &format!("http://{dead}/"),
    )
    .await;
    let (addr, mut rx) = listener().await;
    subscribe(
        &cimom,
        "live",
        "SELECT * FROM CIM_InstCreation",
        &format!("http://{addr}/"),
    )
    .await;
    let handle = cimom.handle();
    let started = std::time::Instant::now();
    for i in 0..200 {
        handle.publish_indication("root/cimv2", creation("CIM_Namespace", &format!("n{i}")));
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "publishing must not block"
    );
    // The live listener gets at least the first ones (queues are bounded, so
    // some may be dropped), while the dead one is being retried.
    let got = next(&mut rx).await.expect("the live listener is served");
    assert!(matches!(got.message.body, MessageBody::ExportIndication(_)));
    // And the HTTP side keeps answering meanwhile.
    let mut c = Client::connect(server.addr).await;
    c.assert_serves().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listeners_with_self_signed_certificates_are_served() {
    let server = TestServer::start(|_, _| {}).await;
    let cimom = server.cimom.clone();
    let (addr, mut rx) = tls_listener().await;
    subscribe(
        &cimom,
        "tls",
        "SELECT * FROM CIM_InstCreation",
        &format!("https://localhost:{}/cimlistener", addr.port()),
    )
    .await;
    cimom
        .handle()
        .publish_indication("root/cimv2", creation("CIM_Namespace", "over-tls"));
    let got = next(&mut rx).await.expect("delivered over HTTPS");
    match &got.message.body {
        MessageBody::ExportIndication(ind) => {
            assert_eq!(ind.get_str("IndicationIdentifier"), Some("over-tls"))
        }
        other => panic!("not an ExportIndication: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_survive_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().to_owned();
    let (addr, mut rx) = listener().await;
    {
        let d = dir.clone();
        let server = TestServer::start(move |c, _| c.state_dir = d).await;
        subscribe(
            &server.cimom,
            "persist",
            "SELECT * FROM CIM_InstCreation",
            &format!("http://{addr}/"),
        )
        .await;
        server.stop().await;
    }
    // A new object manager on the same state directory delivers at once.
    let d = dir.clone();
    let server = TestServer::start(move |c, _| c.state_dir = d).await;
    server
        .cimom
        .handle()
        .publish_indication("root/cimv2", creation("CIM_Namespace", "after-restart"));
    let got = next(&mut rx).await.expect("delivered after the restart");
    match &got.message.body {
        MessageBody::ExportIndication(ind) => {
            assert_eq!(ind.get_str("IndicationIdentifier"), Some("after-restart"))
        }
        other => panic!("not an ExportIndication: {other:?}"),
    }
    server.stop().await;
}
