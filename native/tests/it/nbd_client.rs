//! The engine's NBD client (`native::nbd::client`) against real servers:
//! our own (plain, TLS with and without a client certificate, a small
//! maximum block size that forces splitting), `qemu-nbd` and `nbdkit`
//! (plain and TLS), and rogue servers made here that break the protocol in
//! one way each; a broken server costs only its connection, never a hang.
//! Also `NbdLinks`, the mirror's `LinkFactory`, through its trait.

use crate::nbd_common::*;
use crate::nbd_tls::{leaf, pki, Pki};
use native::mirror::{LinkFactory, RemoteTarget, RemoteTls};
use native::nbd::client::{ClientOptions, NbdClient, NbdLinks};
use native::nbd::proto::*;
use native::nbd::{AllowList, NbdConfig, NbdTls, TlsMode};
use native::Error;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn opts() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

/// Writes 64 records of 64 KiB with 16 in flight (a FUA one among them),
/// flushes, reads everything back through the client and compares.
async fn exercise(c: &NbdClient, seed: u8) -> Vec<u8> {
    const REC: usize = 64 << 10;
    let want = pattern(64 * REC, seed);
    let mut pending = Vec::new();
    for i in 0..64 {
        let data = want[i * REC..(i + 1) * REC].to_vec();
        let c = c.clone();
        pending.push(tokio::spawn(async move {
            c.write((i * REC) as u64, data, i == 7).await
        }));
        if pending.len() >= 16 {
            pending.remove(0).await.unwrap().unwrap();
        }
    }
    for p in pending {
        p.await.unwrap().unwrap();
    }
    c.flush().await.unwrap();
    let got = c.read(0, want.len() as u32).await.unwrap();
    assert!(got == want, "read back differs from what was written");
    want
}

#[test]
fn client_pipelines_against_our_server_and_splits_large_requests() {
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path(), "v", 8 << 20, 0);
    let (src, names) = exports(&[(&vol, false)]);
    let server = TestServer::start_with(
        src,
        NbdConfig {
            max_request_bytes: 1 << 20,
            ..Default::default()
        },
    );
    let rt = rt();
    rt.block_on(async {
        let c = NbdClient::connect(&server.addr.to_string(), &names[0], &opts())
            .await
            .unwrap();
        assert_eq!(c.size(), 8 << 20);
        assert_eq!(c.info().max_block, 1 << 20);
        let want = exercise(&c, 3).await;
        // 3 MiB in one call: three requests on the wire.
        let big = pattern(3 << 20, 9);
        c.write(4 << 20, big.clone(), true).await.unwrap();
        assert_eq!(c.read(4 << 20, 3 << 20).await.unwrap(), big);
        // Out of range is refused before anything is sent.
        let e = c.write((8 << 20) - 1, vec![0; 2], false).await.unwrap_err();
        assert!(matches!(e, Error::OutOfRange { .. }), "{e}");
        assert!(c.is_up());
        c.close().await;
        let file = std::fs::read(&vol).unwrap();
        assert!(file[..want.len()] == want[..]);
        assert!(file[4 << 20..7 << 20] == big[..]);
    });
}

#[test]
fn unknown_export_and_dead_address_fail_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path(), "v", 1 << 20, 0);
    let (src, _) = exports(&[(&vol, false)]);
    let server = TestServer::start(src);
    let rt = rt();
    rt.block_on(async {
        let addr = server.addr.to_string();
        let e = NbdClient::connect(&addr, "/no/such?mirror=secretsecretsecret", &opts())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(&addr) && e.contains("/no/such"), "{e}");
        assert!(e.contains("unknown export"), "{e}");
        assert!(!e.contains("secretsecret"), "the token leaked: {e}");
        // Nobody listens on a port we just closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = NbdClient::connect(&format!("127.0.0.1:{port}"), "/x", &opts())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
    });
}

fn tls_of(p: &Pki, client: Option<(&Path, &Path)>) -> RemoteTls {
    RemoteTls {
        ca: p.files.client_ca.clone().unwrap(),
        cert: client.map(|c| c.0.to_path_buf()),
        key: client.map(|c| c.1.to_path_buf()),
        server_name: "localhost".into(),
    }
}

#[test]
fn client_speaks_tls_with_and_without_client_certificates() {
    let p = pki();
    let (cert, key) = leaf(&p.ca, "mirror-a", vec![], true);
    let cert_p = p.dir.path().join("client-cert.pem");
    let key_p = p.dir.path().join("client-key.pem");
    std::fs::write(&cert_p, cert).unwrap();
    std::fs::write(&key_p, key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path(), "v", 4 << 20, 0);
    let (src, names) = exports(&[(&vol, false)]);
    let tls = NbdTls::from_files(TlsMode::Require, &p.files, AllowList::default()).unwrap();
    let server = TestServer::start_tls(src, tls);
    let rt = rt();
    rt.block_on(async {
        let addr = server.addr.to_string();
        let o = ClientOptions {
            tls: Some(tls_of(&p, Some((&cert_p, &key_p)))),
            ..opts()
        };
        let c = NbdClient::connect(&addr, &names[0], &o).await.unwrap();
        exercise(&c, 5).await;
        c.close().await;
        // The server verifies client certificates: none is refused.
        let o = ClientOptions {
            tls: Some(tls_of(&p, None)),
            ..opts()
        };
        let r = NbdClient::connect(&addr, &names[0], &o).await;
        assert!(r.is_err(), "a TLS client without certificate got in");
        // Plain text against a require-mode server: TLS required.
        let e = NbdClient::connect(&addr, &names[0], &opts())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("TLS required"), "{e}");
    });
}

/// A child process killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `cmd` and waits until it accepts connections on `port`.
fn daemon(tool: &str, args: &[String], port: u16) -> Daemon {
    let child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    let d = Daemon(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{tool} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

fn against_daemon(tool: &str, tls: bool) {
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path(), "v", 4 << 20, 0);
    let port = free_port();
    let certs = p.dir.path().to_string_lossy().into_owned();
    let file = vol.to_string_lossy().into_owned();
    let mut args: Vec<String> = Vec::new();
    let export = if tool == "qemu-nbd" {
        if tls {
            args.push("--object".into());
            args.push(format!(
                "tls-creds-x509,id=tls0,dir={certs},endpoint=server,verify-peer=off"
            ));
            args.push("--tls-creds=tls0".into());
        }
        for a in ["-f", "raw", "-x", "exp", "-b", "127.0.0.1", "--persistent"] {
            args.push(a.into());
        }
        args.push(format!("--port={port}"));
        args.push(file);
        "exp"
    } else {
        for a in ["-f", "--exit-with-parent", "-i", "127.0.0.1"] {
            args.push(a.into());
        }
        args.push(format!("--port={port}"));
        if tls {
            args.push("--tls=require".into());
            args.push(format!("--tls-certificates={certs}"));
        }
        args.push("file".into());
        args.push(file);
        ""
    };
    let _d = daemon(tool, &args, port);
    let rt = rt();
    rt.block_on(async {
        let o = ClientOptions {
            tls: tls.then(|| tls_of(&p, None)),
            ..opts()
        };
        let c = NbdClient::connect(&format!("127.0.0.1:{port}"), export, &o)
            .await
            .unwrap();
        assert_eq!(c.size(), 4 << 20);
        let want = exercise(&c, 11).await;
        c.close().await;
        let file = std::fs::read(&vol).unwrap();
        assert!(file[..want.len()] == want[..], "{tool} file differs");
    });
}

#[test]
fn client_against_qemu_nbd_plain_and_tls() {
    against_daemon("qemu-nbd", false);
    against_daemon("qemu-nbd", true);
}

#[test]
fn client_against_nbdkit_plain_and_tls() {
    against_daemon("nbdkit", false);
    against_daemon("nbdkit", true);
}

// ---------------------------------------------------------------------------
// Rogue servers.

/// How a rogue server misbehaves once its client sent the first request.
#[derive(Clone, Copy, Debug)]
enum Rogue {
    WrongMagic,
    UnknownCookie,
    StructuredReply,
    CloseMidRead,
    Silent,
    HugeOptionReply,
    NoGreeting,
    Garbage,
}

fn put_reply(s: &mut TcpStream, option: u32, kind: u32, data: &[u8]) {
    let mut out = Vec::new();
    put_option_reply(&mut out, option, kind, data);
    s.write_all(&out).unwrap();
}

/// Plays a server up to transmission (or misbehaves earlier).
fn rogue_session(mut s: TcpStream, how: Rogue) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    match how {
        Rogue::NoGreeting => {
            std::thread::sleep(Duration::from_secs(3));
            return;
        }
        Rogue::Garbage => {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            return;
        }
        _ => {}
    }
    let mut g = NBDMAGIC.to_be_bytes().to_vec();
    g.extend_from_slice(&IHAVEOPT.to_be_bytes());
    g.extend_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    s.write_all(&g).unwrap();
    let mut flags = [0u8; 4];
    s.read_exact(&mut flags).unwrap();
    let mut head = [0u8; 16];
    s.read_exact(&mut head).unwrap();
    let mut data = vec![0u8; be_u32(&head[12..16]) as usize];
    s.read_exact(&mut data).unwrap();
    if let Rogue::HugeOptionReply = how {
        let mut out = OPT_REPLY_MAGIC.to_be_bytes().to_vec();
        out.extend_from_slice(&OPT_GO.to_be_bytes());
        out.extend_from_slice(&REP_INFO.to_be_bytes());
        out.extend_from_slice(&u32::MAX.to_be_bytes());
        let _ = s.write_all(&out);
        std::thread::sleep(Duration::from_secs(1));
        return;
    }
    let mut info = INFO_EXPORT.to_be_bytes().to_vec();
    info.extend_from_slice(&(1u64 << 20).to_be_bytes());
    info.extend_from_slice(&(TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_FUA).to_be_bytes());
    put_reply(&mut s, OPT_GO, REP_INFO, &info);
    put_reply(&mut s, OPT_GO, REP_ACK, b"");
    let mut req = [0u8; REQUEST_LEN];
    if s.read_exact(&mut req).is_err() {
        return;
    }
    let r = Request::parse(&req).unwrap();
    if r.kind == CMD_WRITE {
        let mut d = vec![0u8; r.length as usize];
        s.read_exact(&mut d).unwrap();
    }
    let _ = match how {
        Rogue::WrongMagic => {
            s.write_all(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        }
        Rogue::UnknownCookie => s.write_all(&simple_reply(0, r.cookie ^ 0x5555)),
        Rogue::StructuredReply => {
            let mut b = 0x668e_33efu32.to_be_bytes().to_vec();
            b.extend_from_slice(&[0u8; 16]);
            s.write_all(&b)
        }
        Rogue::CloseMidRead => {
            let mut b = simple_reply(0, r.cookie).to_vec();
            b.extend_from_slice(&[7u8; 100]);
            s.write_all(&b)
        }
        Rogue::Silent => {
            std::thread::sleep(Duration::from_secs(4));
            Ok(())
        }
        _ => Ok(()),
    };
    std::thread::sleep(Duration::from_millis(300));
}

fn rogue(how: Rogue) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((s, _)) = l.accept() {
            rogue_session(s, how);
        }
    });
    addr
}

#[test]
fn a_rogue_server_costs_only_its_connection() {
    let rt = rt();
    let o = ClientOptions {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    rt.block_on(async {
        for how in [
            Rogue::WrongMagic,
            Rogue::UnknownCookie,
            Rogue::StructuredReply,
            Rogue::CloseMidRead,
            Rogue::Silent,
        ] {
            let addr = rogue(how).to_string();
            let start = Instant::now();
            let c = NbdClient::connect(&addr, "/x", &o).await.unwrap();
            // Several requests in flight: all fail, the first one with the
            // reason, none hangs.
            let reads: Vec<_> = (0..4)
                .map(|i| {
                    let c = c.clone();
                    tokio::spawn(async move { c.read(i * 4096, 4096).await })
                })
                .collect();
            for r in reads {
                let e = r.await.unwrap().unwrap_err().to_string();
                assert!(e.contains(&addr) && e.contains("broken"), "{how:?}: {e}");
            }
            assert!(!c.is_up(), "{how:?}: still up");
            // Later requests fail at once.
            assert!(c.write(0, vec![1; 512], false).await.is_err());
            assert!(
                start.elapsed() < Duration::from_secs(8),
                "{how:?} took too long"
            );
        }
        for how in [Rogue::HugeOptionReply, Rogue::NoGreeting, Rogue::Garbage] {
            let addr = rogue(how).to_string();
            let start = Instant::now();
            let e = NbdClient::connect(&addr, "/x", &o)
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains(&addr), "{how:?}: {e}");
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{how:?} took too long"
            );
        }
    });
}

#[test]
fn nbd_links_connect_through_the_link_factory() {
    let dir = tempfile::tempdir().unwrap();
    let vol = volume(dir.path(), "v", 2 << 20, 0);
    let (src, names) = exports(&[(&vol, false)]);
    let server = TestServer::start(src);
    let links: Arc<dyn LinkFactory> = Arc::new(NbdLinks::new().unwrap());
    let target = RemoteTarget {
        peer: "b".into(),
        address: server.addr.to_string(),
        export: names[0].clone(),
        tls: None,
    };
    let link = links.connect(&target, Duration::from_secs(5)).unwrap();
    assert_eq!(link.size(), 2 << 20);
    let (tx, rx) = std::sync::mpsc::channel();
    let data = pattern(256 << 10, 4);
    // 64 small writes at once, four times the client's requests in flight: the
    // ones past the window wait for a slot, the buffered ones still go out.
    for i in 0..64u64 {
        let tx = tx.clone();
        let piece = data[(i as usize) << 12..((i as usize) + 1) << 12].to_vec();
        link.write(
            i << 12,
            piece,
            false,
            Box::new(move |r| tx.send(r).unwrap()),
        );
    }
    for _ in 0..64 {
        rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    }
    let tx2 = tx.clone();
    link.flush(Box::new(move |r| tx2.send(r).unwrap()));
    rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    let (rtx, rrx) = std::sync::mpsc::channel();
    link.read(0, 256 << 10, Box::new(move |r| rtx.send(r).unwrap()));
    assert!(rrx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap() == data);
    assert!(link.is_up());
    drop(link);
    // A dead target: a clear error within the timeout.
    let dead = RemoteTarget {
        address: format!("127.0.0.1:{}", free_port()),
        ..target
    };
    let e = links
        .connect(&dead, Duration::from_secs(2))
        .err()
        .expect("connected to nobody")
        .to_string();
    assert!(e.contains(&dead.address), "{e}");
}
