//! NBD over TLS byte by byte: STARTTLS in require mode, options refused
//! before it, a certificate-verified session reading and writing, client
//! certificates from another CA or none at all, the per-export allow-list,
//! and the identities read from a client certificate. Certificates are made
//! here with rcgen.

use crate::nbd_common::*;
use native::nbd::proto::*;
use native::nbd::{AllowList, NbdTls, TlsFiles, TlsMode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Ca {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

pub(crate) fn ca(name: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    Ca {
        cert: p.self_signed(&key).unwrap(),
        key,
    }
}

/// A leaf certificate and its key, both PEM.
pub(crate) fn leaf(ca: &Ca, cn: &str, sans: Vec<SanType>, client: bool) -> (String, String) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.subject_alt_names = sans;
    p.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

pub(crate) struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Ca,
    pub files: TlsFiles,
}

pub(crate) fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca("nbd test ca");
    let (cert, key) = leaf(
        &ca,
        "localhost",
        vec![SanType::DnsName("localhost".try_into().unwrap())],
        false,
    );
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let files = TlsFiles {
        cert: write("server-cert.pem", &cert),
        key: write("server-key.pem", &key),
        client_ca: Some(write("ca-cert.pem", &ca.cert.pem())),
    };
    Pki { dir, ca, files }
}

fn der_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A rustls client configuration trusting `ca`, with an optional client
/// certificate.
fn client_config(ca: &Ca, client: Option<(String, String)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        None => b.with_no_client_auth(),
        Some((cert, key)) => {
            let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key.as_bytes())
                .unwrap()
                .unwrap();
            b.with_client_auth_cert(der_certs(&cert), key).unwrap()
        }
    };
    Arc::new(config)
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// A fixed-newstyle client that can upgrade to TLS.
struct Client {
    s: Box<dyn Stream>,
}

impl Client {
    fn connect(server: &TestServer) -> Client {
        let tcp = TcpStream::connect(server.addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = Client { s: Box::new(tcp) };
        let hello = c.read_n(18);
        assert_eq!(&hello[..16], b"NBDMAGICIHAVEOPT");
        c.s.write_all(&(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).to_be_bytes())
            .unwrap();
        c
    }

    fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0u8; n];
        self.s.read_exact(&mut b).unwrap();
        b
    }

    fn option(&mut self, opt: u32, data: &[u8]) {
        let mut m = IHAVEOPT.to_be_bytes().to_vec();
        m.extend_from_slice(&opt.to_be_bytes());
        m.extend_from_slice(&(data.len() as u32).to_be_bytes());
        m.extend_from_slice(data);
        self.s.write_all(&m).unwrap();
    }

    /// (option, reply type, data)
    fn reply(&mut self) -> (u32, u32, Vec<u8>) {
        let h = self.read_n(20);
        assert_eq!(be_u64(&h[0..8]), OPT_REPLY_MAGIC);
        let len = be_u32(&h[16..20]) as usize;
        (be_u32(&h[8..12]), be_u32(&h[12..16]), self.read_n(len))
    }

    /// STARTTLS and the handshake; `Err` when the TLS layer fails.
    fn starttls(self, config: Arc<rustls::ClientConfig>) -> Result<Client, std::io::Error> {
        let mut c = self;
        c.option(OPT_STARTTLS, b"");
        assert_eq!(c.reply().1, REP_ACK);
        // Unwrap the plain stream: the test only ever boxes a TcpStream here.
        let tcp = c.s;
        let conn =
            rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap())
                .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        // A server refusing the client certificate says so in its first
        // records after the handshake (TLS 1.3): provoke them.
        tls.flush()?;
        Ok(Client { s: Box::new(tls) })
    }

    /// NBD_OPT_GO; the reply type of the last reply.
    fn go(&mut self, name: &str) -> u32 {
        let mut d = (name.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(name.as_bytes());
        d.extend_from_slice(&0u16.to_be_bytes());
        self.option(OPT_GO, &d);
        loop {
            let (_, t, _) = self.reply();
            if t != REP_INFO {
                return t;
            }
        }
    }

    fn request(&mut self, kind: u16, cookie: u64, offset: u64, len: u32, data: &[u8]) -> u32 {
        let r = Request {
            flags: 0,
            kind,
            cookie,
            offset,
            length: len,
        };
        let mut m = r.encode().to_vec();
        m.extend_from_slice(data);
        self.s.write_all(&m).unwrap();
        let h = self.read_n(REPLY_LEN);
        assert_eq!(be_u32(&h[0..4]), SIMPLE_REPLY_MAGIC);
        assert_eq!(be_u64(&h[8..16]), cookie);
        be_u32(&h[4..8])
    }
}

const SIZE: usize = 1 << 20;

fn tls_server(pki: &Pki, mode: TlsMode, allow: AllowList) -> (TestServer, String, PathBuf) {
    let vol = volume(pki.dir.path(), "vol.img", SIZE, 0x11);
    let (ex, names) = exports(&[(&vol, false)]);
    let tls = NbdTls::from_files(mode, &pki.files, allow).unwrap();
    (TestServer::start_tls(ex, tls), names[0].clone(), vol)
}

fn alice(ca: &Ca) -> (String, String) {
    leaf(
        ca,
        "alice",
        vec![SanType::DnsName("alice.example".try_into().unwrap())],
        true,
    )
}

#[test]
fn require_mode_refuses_every_option_before_starttls() {
    let pki = pki();
    let (server, name, _) = tls_server(&pki, TlsMode::Require, AllowList::default());
    let mut c = Client::connect(&server);
    for opt in [OPT_LIST, OPT_INFO, OPT_GO, OPT_STRUCTURED_REPLY, 99] {
        c.option(opt, b"");
        assert_eq!(c.reply().1, REP_ERR_TLS_REQD, "option {opt}");
    }
    c.option(OPT_ABORT, b"");
    assert_eq!(c.reply().1, REP_ACK);

    // EXPORT_NAME cannot carry the error: the connection closes.
    let mut c = Client::connect(&server);
    c.option(OPT_EXPORT_NAME, name.as_bytes());
    let mut b = [0u8; 1];
    assert!(matches!(c.s.read(&mut b), Ok(0) | Err(_)));
}

#[test]
fn verified_session_reads_and_writes_through_tls() {
    let pki = pki();
    let (server, name, vol) = tls_server(&pki, TlsMode::Require, AllowList::default());
    let mut c = Client::connect(&server)
        .starttls(client_config(&pki.ca, Some(alice(&pki.ca))))
        .unwrap();
    // Inside TLS: a second STARTTLS is invalid, listing works.
    c.option(OPT_STARTTLS, b"");
    assert_eq!(c.reply().1, REP_ERR_INVALID);
    c.option(OPT_LIST, b"");
    assert_eq!(c.reply().1, REP_SERVER);
    assert_eq!(c.reply().1, REP_ACK);
    assert_eq!(c.go(&name), REP_ACK);
    let data = pattern(256 * 1024, 7);
    assert_eq!(c.request(CMD_WRITE, 1, 4096, data.len() as u32, &data), 0);
    assert_eq!(c.request(CMD_READ, 2, 4096, data.len() as u32, &[]), 0);
    assert_eq!(c.read_n(data.len()), data);
    // Many small pipelined requests, replies through the TLS flush task.
    let mut batch = Vec::new();
    for i in 0..64u64 {
        let r = Request {
            flags: 0,
            kind: CMD_READ,
            cookie: 100 + i,
            offset: i * 512,
            length: 512,
        };
        batch.extend_from_slice(&r.encode());
    }
    c.s.write_all(&batch).unwrap();
    for _ in 0..64 {
        let h = c.read_n(REPLY_LEN);
        assert_eq!(be_u32(&h[4..8]), 0);
        c.read_n(512);
    }
    assert_eq!(c.request(CMD_FLUSH, 3, 0, 0, &[]), 0);
    let on_disk = std::fs::read(&vol).unwrap();
    assert_eq!(&on_disk[4096..4096 + data.len()], &data[..]);
}

fn refused(server: &TestServer, config: Arc<rustls::ClientConfig>, name: &str) {
    match Client::connect(server).starttls(config) {
        Err(_) => {}
        Ok(mut c) => {
            // TLS 1.3: the client may finish its side before the server's
            // alert arrives; the next read sees the refusal.
            let mut d = (name.len() as u32).to_be_bytes().to_vec();
            d.extend_from_slice(name.as_bytes());
            d.extend_from_slice(&0u16.to_be_bytes());
            let mut m = IHAVEOPT.to_be_bytes().to_vec();
            m.extend_from_slice(&OPT_GO.to_be_bytes());
            m.extend_from_slice(&(d.len() as u32).to_be_bytes());
            m.extend_from_slice(&d);
            let _ = c.s.write_all(&m);
            let mut b = [0u8; 20];
            assert!(
                c.s.read_exact(&mut b).is_err(),
                "refused client got a reply"
            );
        }
    }
}

#[test]
fn client_certificates_from_another_ca_or_none_are_refused() {
    let pki = pki();
    let (server, name, vol) = tls_server(&pki, TlsMode::Require, AllowList::default());
    let other = ca("another ca");
    refused(&server, client_config(&pki.ca, Some(alice(&other))), &name);
    refused(&server, client_config(&pki.ca, None), &name);
    assert_eq!(std::fs::read(&vol).unwrap(), vec![0x11; SIZE]);
    // Others are unaffected.
    let mut c = Client::connect(&server)
        .starttls(client_config(&pki.ca, Some(alice(&pki.ca))))
        .unwrap();
    assert_eq!(c.go(&name), REP_ACK);
}

#[test]
fn allow_lists_refuse_other_identities() {
    let pki = pki();
    let vol_path = pki.dir.path().join("vol.img");
    let mut allow = AllowList::default();
    // Exports are named by canonical path.
    std::fs::write(&vol_path, vec![0u8; SIZE]).unwrap();
    let canonical = std::fs::canonicalize(&vol_path).unwrap();
    allow.per_export.insert(
        canonical.to_string_lossy().into_owned(),
        vec!["bob.example".into()],
    );
    let (server, name, _) = tls_server(&pki, TlsMode::On, allow);
    let mut c = Client::connect(&server)
        .starttls(client_config(&pki.ca, Some(alice(&pki.ca))))
        .unwrap();
    assert_eq!(c.go(&name), REP_ERR_POLICY);
    c.option(OPT_LIST, b"");
    assert_eq!(c.reply().1, REP_ACK, "the refused export is not listed");
    // Mode "on" without TLS: no identity, so refused as well.
    let mut plain = Client::connect(&server);
    assert_eq!(plain.go(&name), REP_ERR_POLICY);
    let bob = leaf(
        &pki.ca,
        "bob",
        vec![SanType::DnsName("bob.example".try_into().unwrap())],
        true,
    );
    let mut c = Client::connect(&server)
        .starttls(client_config(&pki.ca, Some(bob)))
        .unwrap();
    assert_eq!(c.go(&name), REP_ACK);

    // A global list refuses the connection right after the handshake.
    let global = AllowList {
        all: vec!["carol".into()],
        ..AllowList::default()
    };
    let (server, name, _) = tls_server(&pki, TlsMode::Require, global);
    refused(&server, client_config(&pki.ca, Some(alice(&pki.ca))), &name);
}

#[test]
fn starttls_without_tls_configured_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path(), "v.img", SIZE, 0);
    let (ex, _) = exports(&[(&vol, false)]);
    let server = TestServer::start(ex);
    let mut c = Client::connect(&server);
    c.option(OPT_STARTTLS, b"");
    assert_eq!(c.reply().1, REP_ERR_UNSUP);
    let pki = pki();
    let (server, _, _) = tls_server(&pki, TlsMode::On, AllowList::default());
    let mut c = Client::connect(&server);
    c.option(OPT_STARTTLS, b"x");
    assert_eq!(c.reply().1, REP_ERR_INVALID, "STARTTLS with data");
}

#[test]
fn identities_are_read_from_client_certificates() {
    let ca = ca("id ca");
    let (cert, _) = leaf(
        &ca,
        "backup-client",
        vec![
            SanType::DnsName("backup.example".try_into().unwrap()),
            SanType::Rfc822Name("ops@example.org".try_into().unwrap()),
            SanType::IpAddress("10.0.0.7".parse().unwrap()),
            SanType::URI("spiffe://example/backup".try_into().unwrap()),
        ],
        true,
    );
    let der = der_certs(&cert).remove(0);
    assert_eq!(
        native::nbd::tls::certificate_identities(&der),
        vec![
            "backup-client",
            "backup.example",
            "ops@example.org",
            "10.0.0.7",
            "spiffe://example/backup"
        ]
    );
}
