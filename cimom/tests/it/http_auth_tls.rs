//! Basic authentication (401 challenge, wrong and right credentials, argon2
//! and bcrypt users) and HTTPS with a self-signed certificate made here.

use crate::http_common::*;
use std::sync::Arc;

fn users_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("users");
    let alice = cimom::auth::hash_password("wonderland");
    // bcrypt at the lowest cost keeps the test quick.
    let bob = bcrypt::hash("builder", 4).unwrap();
    std::fs::write(&path, format!("# test users\nalice:{alice}\nbob:{bob}\n")).unwrap();
    path
}

fn with_auth(c: &mut cimom::config::Config, dir: &std::path::Path) {
    c.auth = cimom::config::AuthMode::Basic;
    c.users_file = Some(users_file(dir));
}

async fn ecn(c: &mut Client, auth: Option<&str>) -> Reply {
    let mut h = cim_headers("EnumerateClassNames", NS);
    if let Some(a) = auth {
        h.push(("Authorization", a));
    }
    c.send(
        "POST",
        "/cimom",
        &h,
        imethod_body(
            "EnumerateClassNames",
            NS,
            &bool_param("DeepInheritance", true),
        ),
    )
    .await
}

#[tokio::test]
async fn basic_auth_challenges_rejects_and_admits() {
    let s = TestServer::start(|c, d| with_auth(c, d)).await;
    let mut c = Client::connect(s.addr).await;
    let r = ecn(&mut c, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"cimom\""));
    let wrong = cimom::auth::encode_basic("alice", "looking-glass");
    assert_eq!(ecn(&mut c, Some(&wrong)).await.status, 401);
    let unknown = cimom::auth::encode_basic("mallory", "wonderland");
    assert_eq!(ecn(&mut c, Some(&unknown)).await.status, 401);
    assert_eq!(ecn(&mut c, Some("Bearer xyz")).await.status, 401);
    let alice = cimom::auth::encode_basic("alice", "wonderland");
    let r = ecn(&mut c, Some(&alice)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("CIM_Namespace"), "{}", r.body);
    // Cached now; still right, and wrong stays wrong.
    assert_eq!(ecn(&mut c, Some(&alice)).await.status, 200);
    assert_eq!(ecn(&mut c, Some(&wrong)).await.status, 401);
    let bob = cimom::auth::encode_basic("bob", "builder");
    assert_eq!(ecn(&mut c, Some(&bob)).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn a_bad_users_file_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    std::fs::write(&path, "alice:plaintext-password\n").unwrap();
    let config = cimom::config::Config {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        auth: cimom::config::AuthMode::Basic,
        users_file: Some(path),
        ..Default::default()
    };
    let cimom =
        cimom::Cimom::open(dir.path(), cimom::provider::ProviderRegistry::new(), &[]).unwrap();
    let err = cimom::server::Server::bind(&config, cimom)
        .await
        .err()
        .expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains("line 1") && msg.contains("alice"), "{msg}");
    assert!(
        !msg.contains("plaintext-password"),
        "never echo secrets: {msg}"
    );
}

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert_pem = ck.cert.pem();
    let key_pem = ck.key_pair.serialize_pem();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    (cert, key, ck.cert.der().to_vec())
}

#[tokio::test]
async fn https_with_a_self_signed_certificate() {
    let der = std::sync::Mutex::new(Vec::new());
    let s = TestServer::start(|c, dir| {
        let (cert, key, d) = self_signed(dir);
        *der.lock().unwrap() = d;
        c.https_listen = Some("127.0.0.1:0".parse().unwrap());
        c.tls = Some(cimom::config::TlsFiles { cert, key });
        with_auth(c, dir);
    })
    .await;
    let addr = s.https.expect("https bound");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            der.lock().unwrap().clone(),
        ))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let mut c = Client::over(
        hyper_util::rt::TokioIo::new(tls),
        format!("localhost:{}", addr.port()),
    )
    .await;
    assert_eq!(ecn(&mut c, None).await.status, 401);
    let alice = cimom::auth::encode_basic("alice", "wonderland");
    for _ in 0..3 {
        let r = ecn(&mut c, Some(&alice)).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(r.body.contains("CIM_Namespace"), "{}", r.body);
    }
    // Plain HTTP on the TLS port gets nowhere, and the endpoint keeps serving.
    let mut plain = Client::connect(addr).await;
    assert!(plain
        .try_send(
            "POST",
            "/cimom",
            &cim_headers("EnumerateClassNames", NS),
            "x"
        )
        .await
        .is_err());
    let r = ecn(&mut c, Some(&alice)).await;
    assert_eq!(r.status, 200);
    s.stop().await;
}
