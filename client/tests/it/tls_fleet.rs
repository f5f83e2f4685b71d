//! HTTPS (CA bundle, default roots, `--no-verify`), the fleet's
//! `move_shadow` across two canned hosts, and the blocking wrappers.

use crate::responder::*;
use bytes::Bytes;
use client::blocking::BlockingHost;
use client::{Client, ClientConfig, Error, Fleet, IiHost};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// A one-answer HTTPS responder with a self-signed certificate for `localhost`;
/// returns its port and the certificate PEM.
async fn tls_server() -> (u16, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = ck.cert.pem();
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // Handshakes refused by the client end here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let body = String::from_utf8_lossy(&body).into_owned();
                    let id = body
                        .split_once("MESSAGE ID=\"")
                        .unwrap()
                        .1
                        .split_once('"')
                        .unwrap()
                        .0
                        .to_owned();
                    let reply = iresp("EnumerateInstanceNames", &set_name("/vol/tls", "dependent"))
                        .replace("{ID}", &id);
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                        reply,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (port, pem)
}

#[tokio::test]
async fn https_with_a_ca_bundle_or_no_verify() {
    let (port, pem) = tls_server().await;
    let url = format!("https://localhost:{port}");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();

    let mut cfg = ClientConfig::new(url.clone());
    cfg.ca_file = Some(ca.clone());
    let names = Client::new(cfg)
        .unwrap()
        .enumerate_instance_names("root/cimv2", "DS_IISet")
        .await
        .unwrap();
    assert_eq!(names[0].key_str("shadowVolume"), Some("/vol/tls"));

    // The self-signed certificate is not in the webpki roots.
    let e = Client::connect(&url)
        .unwrap()
        .enumerate_instance_names("root/cimv2", "DS_IISet")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Transport { reason, .. } if reason.to_lowercase().contains("certificate")),
        "{e:?}"
    );

    let mut cfg = ClientConfig::new(url);
    cfg.no_verify = true;
    let names = Client::new(cfg)
        .unwrap()
        .enumerate_instance_names("root/cimv2", "DS_IISet")
        .await
        .unwrap();
    assert_eq!(names.len(), 1);

    std::fs::write(&ca, "not a certificate").unwrap();
    let mut cfg = ClientConfig::new("https://localhost:1");
    cfg.ca_file = Some(ca);
    assert!(matches!(Client::new(cfg), Err(Error::Tls(_))));
}

fn enum_one(shadow: &str, ty: &str) -> Exchange {
    Exchange {
        method: "EnumerateInstances",
        reply: iresp("EnumerateInstances", &named_set(shadow, ty, "idle", None)),
        ..Default::default()
    }
}

#[tokio::test]
async fn fleet_moves_a_shadow_between_hosts() {
    let a = Responder::start(vec![
        enum_one("/vol/s", "independent"),
        Exchange {
            method: "exportVolume",
            object: Some("root/cimv2:DS_IISet.setType=%22independent%22,shadowVolume=%22/vol/s%22"),
            reply: mresp_bool("exportVolume", true),
            ..Default::default()
        },
        // Second move: the import fails, so the export is undone with joinVolume("").
        enum_one("/vol/s", "independent"),
        Exchange {
            method: "exportVolume",
            reply: mresp_bool("exportVolume", true),
            ..Default::default()
        },
        Exchange {
            method: "joinVolume",
            body_has: vec!["<PARAMVALUE NAME=\"BitmapVol\" PARAMTYPE=\"string\"><VALUE></VALUE>"],
            reply: mresp_bool("joinVolume", true),
            ..Default::default()
        },
    ])
    .await;
    let b = Responder::start(vec![
        Exchange {
            method: "importShadow",
            object: Some("root/cimv2:DS_IISet"),
            body_has: vec!["<VALUE>/vol/s</VALUE>", "<VALUE>/vol/bb</VALUE>"],
            reply: mresp_bool("importShadow", true),
            ..Default::default()
        },
        Exchange {
            method: "importShadow",
            reply: merror("importShadow", 2, "/vol/s is outside every volume root"),
            ..Default::default()
        },
    ])
    .await;
    let cfg = client::FleetConfig::parse(&format!(
        "[[host]]\nname = \"a\"\nurl = \"{}\"\n[[host]]\nname = \"b\"\nurl = \"{}\"\n",
        a.url, b.url
    ))
    .unwrap();
    let fleet = Fleet::new(&cfg).unwrap();
    let moved = fleet
        .move_shadow("a", "/vol/s", "b", "/vol/bb")
        .await
        .unwrap();
    assert_eq!(moved.path().key_str("setType"), Some("imported"));
    let e = fleet
        .move_shadow("a", "/vol/s", "b", "/vol/bb")
        .await
        .unwrap_err();
    assert_eq!(e.cim_status(), Some(cim::StatusCode::AccessDenied));
    assert!(matches!(
        fleet.move_shadow("a", "/vol/s", "zz", "/b").await,
        Err(Error::UnknownHost(_))
    ));
    a.check();
    b.check();
}

#[test]
fn blocking_host_runs_without_an_async_caller() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(Responder::start(vec![
        enum_one("/vol/s", "dependent"),
        enum_one("/vol/s", "dependent"),
        enum_one("/vol/s", "dependent"),
    ]));
    let h = BlockingHost::new(ClientConfig::new(r.url.clone())).unwrap();
    assert_eq!(h.list_sets().unwrap()[0].shadow, "/vol/s");
    let set = h.find_set("/vol/s").unwrap();
    assert_eq!(set.shadow(), "/vol/s");
    assert!(matches!(h.find_set("/vol/none"), Err(Error::SetNotFound(n)) if n == "/vol/none"));
    let _ = IiHost::new(Client::connect(&r.url).unwrap());
    r.check();
}
