//! A mirror whose secondary is on another engine, reached through our own
//! NBD client (`NbdLinks`) and our own NBD server: the target engine claims
//! the volume, the primary engine replicates to `<path>?mirror=<token>`;
//! sync writes are on the target when acknowledged, a foreign client
//! cannot write the target, update and reverse sync work over the wire,
//! and the server going away drops the mirror to logging.

use crate::common::*;
use crate::mirror_support::*;
use crate::nbd_common::{run_tool, TestServer};
use native::mirror::*;
use native::nbd::client::NbdLinks;
use native::*;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "tok-mirror-0123456789";
const SIZE: usize = 96 * CH;

#[test]
fn a_remote_secondary_over_our_nbd_client_and_server() {
    // Host B: the target, claimed for A's mirror, exported over NBD.
    let envb = Env::new();
    let t = envb.vol("t", SIZE, 0);
    let eb = envb.open();
    eb.claim_target(
        &t,
        TargetClaim {
            owner: "hostA:/vols/p".into(),
            token: TOKEN.into(),
        },
    )
    .unwrap();
    let mut server = TestServer::start(Arc::new(eb.clone()));
    // Host A: the primary.
    let enva = Env::new();
    let p = enva.vol_rand("p", SIZE, 21);
    let sb = enva.vol("sb", 64 << 10, 0);
    let mut cfg = EngineConfig::new(&enva.state, vec![enva.root.clone()]);
    cfg.links = Some(Links(Arc::new(NbdLinks::new().unwrap())));
    let ea = Engine::open(cfg).unwrap();
    let secondary = Secondary::Remote {
        volume: t.clone(),
        target: RemoteTarget {
            peer: "hostB".into(),
            address: server.addr.to_string(),
            export: format!("{}?mirror={TOKEN}", t.display()),
            tls: None,
        },
    };
    let mut sp = mspec(&p, secondary, &sb);
    sp.options.link_timeout = Duration::from_secs(2);
    ea.enable_mirror(sp).unwrap();
    ea.mirror_sync(&p, SyncKind::Full, SyncDirection::Forward)
        .unwrap();
    assert!(ea.mirror_wait(&p, Some(Duration::from_secs(30))).unwrap());
    assert_eq!(std::fs::read(&t).unwrap(), std::fs::read(&p).unwrap());
    assert!(eb.targets()[0].connected);
    // Sync writes: on the target when acknowledged.
    let d = ea.device(&p).unwrap();
    let tf = std::fs::File::open(&t).unwrap();
    for k in 0..20u64 {
        let data = pattern(k + 300, 3000 + k as usize);
        let off = k * 4 * CHUNK_SIZE + 17;
        d.write_at(&data, off, k % 4 == 0).unwrap();
        let mut back = vec![0u8; data.len()];
        tf.read_exact_at(&mut back, off).unwrap();
        assert_eq!(back, data, "write {k} not on the target");
    }
    d.flush().unwrap();
    // A foreign client cannot write the target behind the mirror's back.
    let o = run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            &server.uri(&t.display().to_string()),
            "-c",
            "write -P 0x55 0 4096",
        ],
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Operation not permitted")
            || String::from_utf8_lossy(&o.stdout).contains("Operation not permitted")
    );
    // Logging, then an update sync over the wire; then a reverse sync.
    ea.mirror_logging(&p).unwrap();
    d.write_at(&pattern(77, 5000), 40 * CHUNK_SIZE, false)
        .unwrap();
    ea.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
        .unwrap();
    assert!(ea.mirror_wait(&p, Some(Duration::from_secs(30))).unwrap());
    assert_eq!(std::fs::read(&t).unwrap(), std::fs::read(&p).unwrap());
    let good = std::fs::read(&p).unwrap();
    ea.mirror_logging(&p).unwrap();
    d.write_at(&pattern(78, 9000), 3 * CHUNK_SIZE, false)
        .unwrap();
    drop(d);
    ea.mirror_sync(&p, SyncKind::Update, SyncDirection::Reverse)
        .unwrap();
    assert!(ea.mirror_wait(&p, Some(Duration::from_secs(30))).unwrap());
    assert_eq!(std::fs::read(&p).unwrap(), good);
    // The server goes away: the next write drops the mirror to logging
    // within the link timeout and is acknowledged (logging policy).
    server.begin_shutdown();
    drop(server);
    let d = ea.device(&p).unwrap();
    let started = std::time::Instant::now();
    let mut logging = false;
    for k in 0..50u64 {
        d.write_at(&pattern(k, 512), k * 512, false).unwrap();
        if ea.mirror_info(&p).unwrap().state == MirrorState::Logging {
            logging = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(logging, "still replicating after the server left");
    assert!(started.elapsed() < Duration::from_secs(2 + 1 + 3));
    assert_eq!(ea.mirror_info(&p).unwrap().link, LinkState::Down);
}
