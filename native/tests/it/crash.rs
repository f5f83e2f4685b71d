//! Crash tests: a child process (this test binary re-invoked with
//! `NATIVE_CRASH_CHILD` set) writes to a master and two shadows and starts
//! copies and updates, logging each operation before and after it; the
//! parent SIGKILLs it at a random moment, reopens the engine and checks that
//! no acknowledged write is lost, that every volume reads what the log says
//! (the one operation in flight may or may not have happened), and that no
//! chunk the bitmaps call synchronized differs. A handful of kills in CI,
//! 120 with `NATIVE_LONG=1`.

use crate::common::*;
use native::*;
use rand::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHILD_ENV: &str = "NATIVE_CRASH_CHILD";
const MSIZE: usize = 200 * CH + 3000;

/// Volumes of the test, by index: 0 master, 1 shadow A (independent),
/// 2 shadow B (dependent), 3 shadow C (compact dependent with overflow).
fn paths(dir: &Path) -> (PathBuf, PathBuf, [PathBuf; 4], [PathBuf; 3]) {
    let root = dir.join("vols");
    (
        root.clone(),
        dir.join("state"),
        [
            root.join("m"),
            root.join("sa"),
            root.join("sb"),
            root.join("sc"),
        ],
        [root.join("ba"), root.join("bb"), root.join("bc")],
    )
}

fn open(dir: &Path) -> Engine {
    let (root, state, _, _) = paths(dir);
    Engine::open(EngineConfig::new(state, vec![root])).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        vol: usize,
        off: usize,
        len: usize,
        seed: u64,
    },
    Copy {
        set: usize,
        to_master: bool,
        full: bool,
    },
    Abort {
        set: usize,
    },
}

fn encode(op: &Op) -> String {
    match op {
        Op::Write {
            vol,
            off,
            len,
            seed,
        } => format!("W {vol} {off} {len} {seed}"),
        Op::Copy {
            set,
            to_master,
            full,
        } => format!("C {set} {} {}", *to_master as u8, *full as u8),
        Op::Abort { set } => format!("X {set}"),
    }
}

fn decode(s: &[&str]) -> Op {
    let n = |i: usize| s[i].parse::<u64>().unwrap();
    match s[0] {
        "W" => Op::Write {
            vol: n(1) as usize,
            off: n(2) as usize,
            len: n(3) as usize,
            seed: n(4),
        },
        "C" => Op::Copy {
            set: n(1) as usize,
            to_master: n(2) == 1,
            full: n(3) == 1,
        },
        _ => Op::Abort { set: n(1) as usize },
    }
}

/// The child: random operations until killed.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let seed: u64 = std::env::var("NATIVE_CRASH_SEED").unwrap().parse().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let (_, _, vols, _) = paths(&dir);
    let e = open(&dir);
    let devs: Vec<_> = vols.iter().map(|v| e.device(v).unwrap()).collect();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("ops.log"))
        .unwrap();
    for n in 0u64.. {
        let r = rng.gen_range(0..100);
        let op = if r < 85 {
            let len = rng.gen_range(1..2 * CH);
            Op::Write {
                vol: rng.gen_range(0..4),
                off: rng.gen_range(0..MSIZE - len),
                len,
                seed: rng.gen(),
            }
        } else if r < 97 {
            Op::Copy {
                set: rng.gen_range(1..4),
                to_master: rng.gen_bool(0.3),
                full: rng.gen_bool(0.3),
            }
        } else {
            Op::Abort {
                set: rng.gen_range(1..4),
            }
        };
        log.write_all(format!("I {n} {}\n", encode(&op)).as_bytes())
            .unwrap();
        let ok = match &op {
            Op::Write {
                vol,
                off,
                len,
                seed,
            } => {
                devs[*vol]
                    .write_at(&pattern(*seed, *len), *off as u64, false)
                    .unwrap();
                true
            }
            Op::Copy {
                set,
                to_master,
                full,
            } => {
                let dir = if *to_master {
                    Direction::ToMaster
                } else {
                    Direction::ToShadow
                };
                let mode = if *full {
                    CopyMode::Full
                } else {
                    CopyMode::Update
                };
                match e.copy(&vols[*set], dir, mode) {
                    Ok(()) => true,
                    Err(Error::Busy { .. } | Error::WrongState { .. }) => false,
                    Err(err) => panic!("{err}"),
                }
            }
            Op::Abort { set } => {
                e.abort(&vols[*set]).unwrap();
                true
            }
        };
        log.write_all(format!("{} {n}\n", if ok { "A" } else { "N" }).as_bytes())
            .unwrap();
    }
}

/// Model: logical contents of master, shadow A, shadow B, shadow C.
type Model = [Vec<u8>; 4];

fn apply(m: &mut Model, op: &Op) {
    match op {
        Op::Write {
            vol,
            off,
            len,
            seed,
        } => m[*vol][*off..off + len].copy_from_slice(&pattern(*seed, *len)),
        Op::Copy {
            set,
            to_master: false,
            ..
        } => m[*set] = m[0].clone(),
        Op::Copy {
            set,
            to_master: true,
            ..
        } => m[0] = m[*set].clone(),
        Op::Abort { .. } => {}
    }
}

fn crash_rounds(rounds: usize, seed: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let (root, _, vols, bmps) = paths(&dir);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(&vols[0], pattern(seed, MSIZE)).unwrap();
    std::fs::write(&vols[1], vec![0u8; MSIZE]).unwrap();
    std::fs::write(&vols[2], vec![0u8; MSIZE]).unwrap();
    std::fs::write(&vols[3], vec![0u8; 100 * CH]).unwrap();
    let ovr = root.join("o");
    std::fs::write(&ovr, vec![0u8; 120 * CH]).unwrap();
    for b in &bmps {
        std::fs::write(b, vec![0u8; 64 << 10]).unwrap();
    }
    let mut model: Model;
    {
        let e = open(&dir);
        e.enable_set(spec(&vols[0], &vols[1], &bmps[0], SetKind::Independent))
            .unwrap();
        e.enable_set(spec(&vols[0], &vols[2], &bmps[1], SetKind::Dependent))
            .unwrap();
        wait_done(&e, &vols[1]);
        let m = std::fs::read(&vols[0]).unwrap();
        e.init_overflow(&ovr).unwrap();
        let mut sp = spec(&vols[0], &vols[3], &bmps[2], SetKind::Dependent);
        sp.overflow = Some(ovr.clone());
        e.enable_set(sp).unwrap();
        model = [m.clone(), m.clone(), m.clone(), m];
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..rounds {
        let log = dir.join("ops.log");
        let _ = std::fs::remove_file(&log);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_child",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, &dir)
            .env(
                "NATIVE_CRASH_SEED",
                (seed * 1000 + round as u64).to_string(),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..400)));
        child.kill().unwrap();
        child.wait().unwrap();
        // Replay the log: acknowledged (or refused) operations are certain, the
        // last one may be in flight.
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let mut pending: Option<Op> = None;
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            match f[0] {
                "I" if f.len() > 2 => pending = Some(decode(&f[2..])),
                "A" => apply(&mut model, &pending.take().unwrap()),
                "N" => pending = None,
                _ => {} // a torn last line: still in flight
            }
        }
        eprintln!(
            "round {round}: {} log lines, in flight {pending:?}",
            text.lines().count()
        );
        let e = open(&dir);
        for v in &vols[1..] {
            let i = e.set_info(v).unwrap();
            let d = e.device(v).unwrap();
            let mut b = vec![0u8; d.size() as usize];
            if let Err(err) = d.read_at(&mut b, 0) {
                panic!("round {round}: {err}; set {i:#?}; log:\n{text}");
            }
        }
        let got: Model = [0, 1, 2, 3].map(|i| read_all(&e.device(&vols[i]).unwrap()));
        let mut with = model.clone();
        if let Some(op) = &pending {
            apply(&mut with, op);
        }
        for i in 0..4 {
            let ok = match &pending {
                Some(Op::Write { vol, off, len, .. }) if *vol == i => (0..MSIZE).all(|b| {
                    got[i][b] == model[i][b]
                        || (b >= *off && b < off + len && got[i][b] == with[i][b])
                }),
                _ => got[i] == model[i] || got[i] == with[i],
            };
            assert!(
                ok,
                "round {round}: volume {i} lost data (in flight: {pending:?}); first byte matching neither at {:?}",
                (0..MSIZE).find(|&b| got[i][b] != model[i][b] && got[i][b] != with[i][b])
            );
        }
        model = got;
        // Let resumed copies finish, then check the synchronized claims.
        for s in [&vols[1], &vols[2], &vols[3]] {
            e.set_copy_params(s, 2, 60000).unwrap();
            wait_done(&e, s);
        }
        let unsync = e.unsynchronized_chunks(&vols[1]).unwrap();
        let ms = std::fs::read(&vols[0]).unwrap();
        let ss = std::fs::read(&vols[1]).unwrap();
        for c in 0..MSIZE.div_ceil(CH) {
            if unsync.binary_search(&(c as u64)).is_err() {
                let end = ((c + 1) * CH).min(MSIZE);
                assert!(
                    ms[c * CH..end] == ss[c * CH..end],
                    "round {round}: chunk {c} claimed synchronized but differs"
                );
            }
        }
        for (i, s) in [(1, &vols[1]), (2, &vols[2]), (3, &vols[3])] {
            if e.set_info(s).unwrap().percent_synchronized == 100.0 {
                assert!(
                    model[i] == model[0],
                    "round {round}: set {i} claims synchronized"
                );
            }
        }
        let again: Model = [0, 1, 2, 3].map(|i| read_all(&e.device(&vols[i]).unwrap()));
        assert!(
            again == model,
            "round {round}: contents changed while copies finished"
        );
        for s in [&vols[1], &vols[2], &vols[3]] {
            e.set_copy_params(s, 2, 100).unwrap();
        }
        drop(e);
    }
}

#[test]
fn crash_kill_and_recover() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let long = std::env::var_os("NATIVE_LONG").is_some();
    crash_rounds(if long { 120 } else { 5 }, 7);
}
