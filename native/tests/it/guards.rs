//! Engine guards and late additions, with real volume files: the state
//! directory lock, copy parameters given at enable, the implicit join of a
//! local import when its exported set resumes (imaging.md §5), and the
//! refusals while NBD clients hold a volume (imaging.md §8, mount checks),
//! driven over a real NBD connection.

use crate::common::*;
use crate::nbd_common::TestServer;
use native::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn second_engine_on_a_state_dir_is_refused_until_the_first_is_dropped() {
    let env = Env::new();
    let e1 = env.open();
    let cfg = EngineConfig::new(&env.state, vec![env.root.clone()]);
    let err = Engine::open(cfg.clone())
        .err()
        .expect("second open refused");
    assert!(
        matches!(&err, Error::StateDirLocked { dir, .. } if dir == &env.state),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&env.state.display().to_string()) && msg.contains("another engine"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("process {}", std::process::id())),
        "{msg}"
    );
    // A clone keeps the lock; only the last drop releases it.
    let e1b = e1.clone();
    drop(e1);
    assert!(Engine::open(cfg.clone()).is_err());
    drop(e1b);
    let e2 = Engine::open(cfg).expect("free again after the drop");
    assert!(e2.sets().is_empty());
}

#[test]
fn copy_parameters_given_at_enable_govern_the_first_burst() {
    let env = Env::new();
    let chunks = 300u64;
    let m = env.vol_rand("m", chunks as usize * CH, 7);
    let s = env.vol("s", chunks as usize * CH, 0);
    let b = env.vol("b", 64 << 10, 0);
    let e = env.open();

    // Out of range: typed error and nothing created (the bitmap stays unused).
    for (u, d) in [
        (Some(99), None),
        (None, Some(10001)),
        (Some(60001), Some(2)),
    ] {
        let err = e
            .enable_set(SetSpec {
                copy_units: u,
                copy_delay: d,
                ..spec(&m, &s, &b, SetKind::Independent)
            })
            .unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
        assert!(err.to_string().contains("out of range"), "{err}");
        assert!(e.sets().is_empty());
    }
    assert!(std::fs::read(&b).unwrap().iter().all(|&x| x == 0));

    // Units 100 with a 100 s pause: the first burst copies exactly 100 chunks
    // and then waits, so the pause was in force before the copy began.
    let info = e
        .enable_set(SetSpec {
            copy_units: Some(100),
            copy_delay: Some(10000),
            ..spec(&m, &s, &b, SetKind::Independent)
        })
        .unwrap();
    assert_eq!((info.copy_units, info.copy_delay), (100, 10000));
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.set_info(&s).unwrap().copy_bits > chunks - 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let i = e.set_info(&s).unwrap();
    assert_eq!(
        i.copy_bits,
        chunks - 100,
        "one burst of 100 chunks, then the pause"
    );
    assert!(i.copy_active);
    e.abort(&s).unwrap();
    wait_done(&e, &s);

    // Persisted in the header: a restart reports the same values.
    drop(e);
    let e = env.open();
    let i = e.set_info(&s).unwrap();
    assert_eq!((i.copy_units, i.copy_delay), (100, 10000));
}

/// Enables an independent set, waits for its copy, exports it and writes
/// master chunk 2 (a local change while exported).
fn exported_set(env: &Env, e: &Engine) -> (std::path::PathBuf, std::path::PathBuf) {
    let m = env.vol_rand("m", 32 * CH, 3);
    let s = env.vol("s", 32 * CH, 0);
    let b = env.vol("b", 64 << 10, 0);
    e.enable_set(spec(&m, &s, &b, SetKind::Independent))
        .unwrap();
    wait_done(e, &s);
    e.export_shadow(&s).unwrap();
    dev(e, &m)
        .write_at(&[0x22; 512], 2 * CH as u64, false)
        .unwrap();
    (m, s)
}

#[test]
fn resuming_an_exported_set_joins_a_local_import_of_its_shadow() {
    let env = Env::new();
    let e = env.open();
    let (m, s) = exported_set(&env, &e);
    let b2 = env.vol("b2", 64 << 10, 0);

    // An active exported set keeps its shadow.
    let err = e.import_shadow(&s, &b2).unwrap_err();
    assert!(err.to_string().contains("suspend that set first"), "{err}");
    e.suspend(&s).unwrap();
    let imp = e.import_shadow(&s, &b2).unwrap();
    assert!(imp.imported);
    assert_eq!(e.sets().len(), 2, "the exported set is still listed");
    // Its master stays exported over NBD (master writes go on, tracked).
    assert!(e.export_names().contains(&m.to_string_lossy().into_owned()));
    assert!(e.open_export(m.to_str().unwrap()).is_some());
    // The shadow is used through the import here; its writes are tracked.
    dev(&e, &s)
        .write_at(&[0x33; 100], 9 * CH as u64 + 100, true)
        .unwrap();
    assert_eq!(e.set_info(&s).unwrap().shadow_bits, 1);
    // The parked set still owns its bitmap; its master takes more sets.
    let x = env.vol("x", 32 * CH, 0);
    let err = e
        .enable_set(spec(&m, &x, &env.root.join("b"), SetKind::Dependent))
        .unwrap_err();
    assert!(
        matches!(&err, Error::InUse { role, .. } if role.starts_with("bitmap of")),
        "{err:?}"
    );
    e.enable_set(spec(
        &m,
        &x,
        &env.vol("bx", 64 << 10, 0),
        SetKind::Dependent,
    ))
    .unwrap();

    // Both survive a restart, the import still in charge of the shadow.
    drop(e);
    let e = env.open();
    assert_eq!(e.sets().len(), 3);
    assert!(e.set_info(&s).unwrap().imported);

    e.resume(&s).unwrap();
    let i = e.set_info(&s).unwrap();
    assert!(!i.imported);
    assert_eq!(i.state, SetState::Idle);
    assert_eq!(i.flags & flags::SHDEXPORT, 0);
    assert_eq!(e.unsynchronized_chunks(&s).unwrap(), vec![2, 9]);
    assert_eq!(e.sets().len(), 2, "the import is gone");

    // Durable: after a restart the bits are the same, the import's bitmap is
    // invalid and the set is not exported any more.
    drop(e);
    let e = env.open();
    let i = e.set_info(&s).unwrap();
    assert_eq!((i.imported, i.state), (false, SetState::Idle));
    assert_eq!(e.unsynchronized_chunks(&s).unwrap(), vec![2, 9]);
    assert_eq!(e.sets().len(), 2);
    assert!(e.sets().iter().all(|x| x.state != SetState::Offline));
    // The bitmap of the import is free again (its header says disabled).
    e.import_shadow(&env.vol("s2", 32 * CH, 0), &b2).unwrap();

    // An update resyncs exactly both hosts' changes.
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    wait_done(&e, &s);
    assert_eq!(std::fs::read(&m).unwrap(), std::fs::read(&s).unwrap());
}

#[test]
fn boot_resume_joins_a_local_import_and_disabling_the_import_unparks() {
    let env = Env::new();
    let e = env.open();
    let (_m, s) = exported_set(&env, &e);
    let b2 = env.vol("b2", 64 << 10, 0);
    e.suspend(&s).unwrap();
    e.import_shadow(&s, &b2).unwrap();
    dev(&e, &s)
        .write_at(&[0x44; 10], 5 * CH as u64, true)
        .unwrap();
    drop(e);

    // A configuration where the exported set is not suspended (as after a
    // takeover of the configuration): the start itself joins.
    let cfg_path = env.state.join("engine.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    for r in cfg["sets"].as_array_mut().unwrap() {
        if r["imported"] == false {
            r["suspended"] = false.into();
        }
    }
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let e = env.open();
    let i = e.set_info(&s).unwrap();
    assert_eq!((i.imported, i.state), (false, SetState::Idle));
    assert_eq!(e.unsynchronized_chunks(&s).unwrap(), vec![2, 5]);
    assert_eq!(e.sets().len(), 1);

    // Disabling an import over a suspended exported set brings that set back
    // (still exported); an explicit join with the import's bitmap then works.
    e.export_shadow(&s).unwrap();
    e.suspend(&s).unwrap();
    let b3 = env.vol("b3", 64 << 10, 0);
    e.import_shadow(&s, &b3).unwrap();
    dev(&e, &s)
        .write_at(&[0x55; 10], 7 * CH as u64, true)
        .unwrap();
    e.disable_set(&s).unwrap();
    let i = e.set_info(&s).unwrap();
    assert_eq!((i.imported, i.state), (false, SetState::Exported));
    e.resume(&s).unwrap();
    assert_eq!(e.set_info(&s).unwrap().state, SetState::Exported);
    e.join(&s, Some(&b3)).unwrap();
    assert_eq!(e.unsynchronized_chunks(&s).unwrap(), vec![2, 5, 7]);
}

/// A minimal blocking NBD client: fixed newstyle, NBD_OPT_EXPORT_NAME.
struct Client(TcpStream);

impl Client {
    fn open(addr: SocketAddr, name: &Path) -> Client {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut greeting = [0u8; 18];
        s.read_exact(&mut greeting).unwrap();
        assert_eq!(&greeting[..16], b"NBDMAGICIHAVEOPT");
        s.write_all(&3u32.to_be_bytes()).unwrap(); // FIXED_NEWSTYLE | NO_ZEROES
        let name = name.to_str().unwrap().as_bytes();
        let mut o = b"IHAVEOPT".to_vec();
        o.extend_from_slice(&1u32.to_be_bytes()); // NBD_OPT_EXPORT_NAME
        o.extend_from_slice(&(name.len() as u32).to_be_bytes());
        o.extend_from_slice(name);
        s.write_all(&o).unwrap();
        let mut info = [0u8; 10];
        s.read_exact(&mut info).expect("export opened");
        Client(s)
    }

    fn request(&mut self, kind: u16, offset: u64, len: u32) {
        let mut r = 0x2560_9513u32.to_be_bytes().to_vec();
        r.extend_from_slice(&0u16.to_be_bytes());
        r.extend_from_slice(&kind.to_be_bytes());
        r.extend_from_slice(&7u64.to_be_bytes());
        r.extend_from_slice(&offset.to_be_bytes());
        r.extend_from_slice(&len.to_be_bytes());
        self.0.write_all(&r).unwrap();
    }

    fn read(&mut self, offset: u64, len: u32) -> Vec<u8> {
        self.request(0, offset, len);
        let mut h = [0u8; 16];
        self.0.read_exact(&mut h).unwrap();
        assert_eq!(&h[4..8], &[0; 4], "read error");
        let mut d = vec![0u8; len as usize];
        self.0.read_exact(&mut d).unwrap();
        d
    }

    fn disconnect(mut self) {
        self.request(2, 0, 0); // NBD_CMD_DISC
    }
}

fn wait_clients(e: &Engine, p: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while e.clients_of(p) != n {
        assert!(
            Instant::now() < deadline,
            "{} still has {} clients",
            p.display(),
            e.clients_of(p)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn refused(r: Result<impl std::fmt::Debug>, volume: &Path, what: &str) {
    match r {
        Err(Error::ClientsConnected {
            volume: v,
            clients,
            what: w,
            ..
        }) => {
            assert_eq!(v, volume);
            assert_eq!(w, what);
            assert!(clients >= 1);
        }
        other => panic!(
            "expected a refusal of {what} for {}: {other:?}",
            volume.display()
        ),
    }
}

#[test]
fn operations_are_refused_while_nbd_clients_hold_the_volume() {
    let env = Env::new();
    let e = env.open();
    let srv = TestServer::start(Arc::new(e.clone()) as Arc<dyn ExportSource>);
    let m = env.vol_rand("m", 32 * CH, 11);
    let s = env.vol("s", 32 * CH, 0);
    let b = env.vol("b", 64 << 10, 0);
    e.enable_set(spec(&m, &s, &b, SetKind::Independent))
        .unwrap();
    wait_done(&e, &s);

    // Two clients on the shadow: copy/update towards it and export refused.
    let mut c1 = Client::open(srv.addr, &s);
    let c2 = Client::open(srv.addr, &s);
    assert_eq!(c1.read(0, 512), std::fs::read(&m).unwrap()[..512].to_vec());
    assert_eq!(e.clients_of(&s), 2);
    assert_eq!(e.clients_of(&m), 0);
    let err = e
        .copy(&s, Direction::ToShadow, CopyMode::Update)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&s.display().to_string()) && msg.contains("2 NBD client(s)"),
        "{msg}"
    );
    refused(
        e.copy(&s, Direction::ToShadow, CopyMode::Full),
        &s,
        "copy/update to the shadow",
    );
    refused(e.export_shadow(&s), &s, "export");
    // Towards the master is fine while nobody holds the master.
    e.copy(&s, Direction::ToMaster, CopyMode::Update).unwrap();
    wait_done(&e, &s);
    // A group copy is refused as a whole.
    e.create_group("g", SetKind::Independent).unwrap();
    e.add_to_group(&s, "g").unwrap();
    refused(
        e.group_copy("g", Direction::ToShadow, CopyMode::Update),
        &s,
        "copy/update to the shadow",
    );
    e.remove_from_group(&s).unwrap();

    // A client on the master blocks copies towards the master.
    let cm = Client::open(srv.addr, &m);
    wait_clients(&e, &m, 1);
    refused(
        e.copy(&s, Direction::ToMaster, CopyMode::Update),
        &m,
        "copy/update to the master",
    );
    cm.disconnect();
    wait_clients(&e, &m, 0);

    // An independent set may be disabled under its clients; a new set on the
    // same shadow may not be enabled while they remain.
    e.disable_set(&s).unwrap();
    refused(
        e.enable_set(spec(&m, &s, &b, SetKind::Dependent)),
        &s,
        "enable",
    );
    c1.disconnect();
    c2.disconnect();
    wait_clients(&e, &s, 0);
    e.enable_set(spec(&m, &s, &b, SetKind::Dependent)).unwrap();

    // A dependent shadow in use cannot be disabled.
    let c3 = Client::open(srv.addr, &s);
    wait_clients(&e, &s, 1);
    refused(e.disable_set(&s), &s, "disable");
    refused(
        e.copy(&s, Direction::ToShadow, CopyMode::Update),
        &s,
        "copy/update to the shadow",
    );
    c3.disconnect();
    wait_clients(&e, &s, 0);
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    e.disable_set(&s).unwrap();

    // Listing an export or asking for info does not leave a count behind.
    let _ = e.open_export(m.to_str().unwrap());
    assert_eq!(e.clients_of(&m), 0);
}
