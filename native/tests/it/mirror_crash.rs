//! Mirror crash tests: a child process (this binary re-invoked with
//! `NATIVE_MIRROR_CHILD` set) runs a sync-mode mirror to a local secondary,
//! alternating logging phases, update syncs and replicated writes, logging
//! every write it saw acknowledged while the mirror carried writes; the
//! parent SIGKILLs it at a random moment, reopens the engine and checks
//! that (1) every such acknowledged write is on the secondary, (2) the
//! mirror does not claim to replicate, and (3) an update sync, driven only
//! by the scoreboard, makes the secondary equal to the primary.

use crate::common::*;
use crate::mirror_support::*;
use native::mirror::*;
use native::*;
use rand::prelude::*;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHILD_ENV: &str = "NATIVE_MIRROR_CHILD";
const MSIZE: usize = 256 * CH;
/// Record `n` lives at a slot of its own, so no later write hides it.
const SLOT: usize = 512;

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf, PathBuf) {
    let root = dir.join("vols");
    (
        root.clone(),
        dir.join("state"),
        root.join("p"),
        root.join("s"),
        root.join("sb"),
    )
}

fn record(n: u64) -> Vec<u8> {
    let mut r = pattern(n, SLOT);
    r[..8].copy_from_slice(&n.to_le_bytes());
    r
}

/// The child: phases of logging writes, update syncs and replicated
/// writes until killed.
#[test]
fn mirror_crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let seed: u64 = std::env::var("NATIVE_CRASH_SEED").unwrap().parse().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let (root, state, p, _, _) = paths(&dir);
    let e = Engine::open(EngineConfig::new(state, vec![root])).unwrap();
    let d = e.device(&p).unwrap();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("acks.log"))
        .unwrap();
    let base: u64 = std::env::var("NATIVE_CRASH_BASE").unwrap().parse().unwrap();
    let mut n = base;
    loop {
        // Logging phase: random untracked-on-the-secondary writes.
        e.mirror_logging(&p).unwrap();
        for _ in 0..rng.gen_range(1..20) {
            let len = rng.gen_range(1..3 * CH);
            let off = rng.gen_range(0..MSIZE / 2 - len);
            d.write_at(&pattern(rng.gen(), len), off as u64, false)
                .unwrap();
        }
        // Update sync while records replicate (sync mode).
        e.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
            .unwrap();
        for _ in 0..rng.gen_range(5..60) {
            let off = MSIZE / 2 + (n as usize % (MSIZE / 2 / SLOT)) * SLOT;
            let st = e.mirror_info(&p).unwrap().state;
            d.write_at(&record(n), off as u64, false).unwrap();
            if matches!(st, MirrorState::Syncing | MirrorState::Replicating) {
                log.write_all(format!("A {n} {off}\n").as_bytes()).unwrap();
            }
            n += 1;
        }
        e.mirror_wait(&p, Some(Duration::from_secs(10))).unwrap();
    }
}

#[test]
fn mirror_crash_kill_and_recover() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let rounds = if std::env::var_os("NATIVE_LONG").is_some() {
        40
    } else {
        4
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let (root, state, p, s, sb) = paths(&dir);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(&p, pattern(1, MSIZE)).unwrap();
    std::fs::write(&s, vec![0u8; MSIZE]).unwrap();
    std::fs::write(&sb, vec![0u8; 64 << 10]).unwrap();
    {
        let e = Engine::open(EngineConfig::new(&state, vec![root.clone()])).unwrap();
        e.enable_mirror(mspec(&p, Secondary::Local(s.clone()), &sb))
            .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(42);
    let mut base = 0u64;
    for round in 0..rounds {
        let log = dir.join("acks.log");
        let _ = std::fs::remove_file(&log);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "mirror_crash::mirror_crash_child",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &dir)
            .env("NATIVE_CRASH_SEED", (round as u64 + 7).to_string())
            .env("NATIVE_CRASH_BASE", base.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..900)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // (1) Every acknowledged replicated record is on the secondary
        // (unless a later record reused its slot).
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let acks: Vec<(u64, u64)> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (f.len() == 3 && f[0] == "A")
                    .then(|| (f[1].parse().unwrap(), f[2].parse().unwrap()))
            })
            .collect();
        let sf = std::fs::File::open(&s).unwrap();
        let mut last_in_slot = std::collections::HashMap::new();
        for &(n, off) in &acks {
            last_in_slot.insert(off, n);
        }
        for (&off, &n) in &last_in_slot {
            let mut b = vec![0u8; SLOT];
            sf.read_exact_at(&mut b, off).unwrap();
            let on_sec = u64::from_le_bytes(b[..8].try_into().unwrap());
            assert!(
                on_sec >= n,
                "round {round}: acknowledged record {n} at {off} missing on the secondary (found {on_sec})"
            );
        }
        base += 100_000;
        // (2) No false claim; (3) the scoreboard finds every difference.
        let e = Engine::open(EngineConfig::new(&state, vec![root.clone()])).unwrap();
        let i = e.mirror_info(&p).unwrap();
        assert_ne!(i.state, MirrorState::Replicating, "round {round}");
        assert_ne!(i.state, MirrorState::Syncing, "round {round}");
        e.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
            .unwrap();
        assert!(e.mirror_wait(&p, Some(Duration::from_secs(30))).unwrap());
        drop(e);
        assert_eq!(
            std::fs::read(&s).unwrap(),
            std::fs::read(&p).unwrap(),
            "round {round}: the update sync after the crash left differences"
        );
    }
}
