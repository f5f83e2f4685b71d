//! Fuzzes one NBD client session against a real server on loopback: the
//! greeting, client flags and option haggling (STARTTLS included), the TLS
//! handshake that follows an accepted STARTTLS, and transmission request
//! headers and payloads.
//!
//! Input: the first byte chooses the session, the rest is what the client
//! sends.
//! * bit 0 clear: the bytes go out in plain text, client flags first (they
//!   may contain STARTTLS, after which the server reads them as TLS);
//! * bit 0 set: the target negotiates TLS itself (fixed newstyle, STARTTLS,
//!   a rustls handshake with a client certificate, from the wrong CA when
//!   bit 1 is set) and sends the bytes inside TLS;
//! * bit 2 picks the server: TLS required with client certificates and an
//!   export allow-list, or TLS offered.
//!
//! The server must answer or close: a session that neither ends nor closes
//! within 10 seconds is reported as a hang (panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use native::nbd::{AllowList, FileExport, NbdConfig, NbdServer, NbdTls, TlsFiles, TlsMode};
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

struct World {
    require: SocketAddr,
    offer: SocketAddr,
    good: Arc<rustls::ClientConfig>,
    wrong: Arc<rustls::ClientConfig>,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    (p.self_signed(&key).unwrap(), key)
}

fn leaf(ca: &(rcgen::Certificate, KeyPair), names: &[&str], client: bool) -> (rcgen::Certificate, KeyPair) {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let key = KeyPair::generate().unwrap();
    (p.signed_by(&key, &ca.0, &ca.1).unwrap(), key)
}

fn client(ca: &(rcgen::Certificate, KeyPair), me: &(rcgen::Certificate, KeyPair)) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.0.der().clone()).unwrap();
    let key = PrivateKeyDer::try_from(me.1.serialize_der()).unwrap();
    let chain: Vec<CertificateDer<'static>> = vec![me.0.der().clone()];
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap(),
    )
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        // libFuzzer's C main leaves SIGPIPE fatal (a Rust main ignores it);
        // a vectored write to a client that left must be an error, not death.
        // SAFETY: setting a signal disposition to SIG_IGN, before any thread
        // of ours exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        }
        let dir = tempfile::tempdir().unwrap();
        // Volumes at a fixed place, so that seeds can name the exports.
        let vols = std::env::temp_dir().join("native-fuzz-nbd");
        std::fs::create_dir_all(&vols).unwrap();
        let root = ca("fuzz ca");
        let other = ca("other ca");
        let server = leaf(&root, &["localhost"], false);
        let write = |n: &str, t: String| {
            let p = dir.path().join(n);
            std::fs::write(&p, t).unwrap();
            p
        };
        let files = TlsFiles {
            cert: write("cert.pem", server.0.pem()),
            key: write("key.pem", server.1.serialize_pem()),
            client_ca: Some(write("ca.pem", root.0.pem())),
        };
        let vol = vols.join("vol.img");
        std::fs::write(&vol, vec![0u8; 256 * 1024]).unwrap();
        let locked = vols.join("locked.img");
        std::fs::write(&locked, vec![0u8; 64 * 1024]).unwrap();
        let ex = Arc::new(FileExport::new());
        ex.add_file(&vol, false).unwrap();
        let locked_name = ex.add_file(&locked, false).unwrap();
        let mut allow = AllowList::default();
        allow.per_export.insert(locked_name, vec!["nobody".into()]);
        let config = NbdConfig {
            max_request_bytes: 64 * 1024,
            max_buffered_bytes: 1 << 20,
            handshake_timeout: Duration::from_secs(5),
            ..NbdConfig::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut addrs = Vec::new();
        for (mode, allow) in [(TlsMode::Require, allow), (TlsMode::On, AllowList::default())] {
            let tls = NbdTls::from_files(mode, &files, allow).unwrap();
            let server = rt
                .block_on(NbdServer::bind("127.0.0.1:0", ex.clone()))
                .unwrap()
                .with_config(config.clone())
                .with_tls(tls);
            addrs.push(server.local_addr().unwrap());
            rt.spawn(server.run());
        }
        let good = client(&root, &leaf(&root, &["fuzzer"], true));
        let wrong = client(&root, &leaf(&other, &["intruder"], true));
        World {
            require: addrs[0],
            offer: addrs[1],
            good,
            wrong,
            _dir: dir,
            _rt: rt,
        }
    })
}

/// Reads until the server closes; panics on a hang.
fn drain(r: &mut dyn Read) {
    let mut buf = [0u8; 65536];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                panic!("the NBD server neither answered nor closed within 10 s")
            }
            Err(_) => return,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let w = world();
    let addr = if mode & 4 != 0 { w.require } else { w.offer };
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut hello = [0u8; 18];
    if s.read_exact(&mut hello).is_err() {
        return;
    }
    if mode & 1 == 0 {
        let _ = s.write_all(rest);
        let _ = s.shutdown(Shutdown::Write);
        drain(&mut s);
        return;
    }
    // Fixed newstyle + no zeroes, then NBD_OPT_STARTTLS.
    let mut m = 3u32.to_be_bytes().to_vec();
    m.extend_from_slice(b"IHAVEOPT");
    m.extend_from_slice(&5u32.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes());
    if s.write_all(&m).is_err() {
        return;
    }
    let mut reply = [0u8; 20];
    if s.read_exact(&mut reply).is_err() {
        return;
    }
    let config = if mode & 2 != 0 { &w.wrong } else { &w.good };
    let conn = rustls::ClientConnection::new(Arc::clone(config), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, s);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            return;
        }
    }
    if tls.write_all(rest).is_err() {
        return;
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let _ = tls.sock.shutdown(Shutdown::Write);
    drain(&mut tls);
});
