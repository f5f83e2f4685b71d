//! Volatile bitmaps (`SetSpec::volatile_bitmap`): bits live in memory while
//! the set runs and reach the bitmap volume at suspend and shutdown. A child
//! process (this test binary re-invoked with `NATIVE_VOLATILE_CHILD` set)
//! changes a set and is SIGKILLed; the parent reopens the engine and checks
//! that saved bitmaps are trusted and unsaved ones are not (imaging.md §3.6).

use crate::common::*;
use native::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CHILD_ENV: &str = "NATIVE_VOLATILE_CHILD";
const SCENARIO_ENV: &str = "NATIVE_VOLATILE_SCENARIO";
const MSIZE: usize = 40 * CH;

fn volatile_spec(env: &Env, kind: SetKind) -> (PathBuf, PathBuf, SetSpec) {
    let m = env.vol_rand("m", MSIZE, 7);
    let s = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    let mut sp = spec(&m, &s, &b, kind);
    sp.volatile_bitmap = true;
    (m, s, sp)
}

/// The child: opens the engine on the parent's directory, does what the
/// scenario says, reports "ready" and waits to be killed.
#[test]
fn volatile_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let root = dir.join("vols");
    let e = Engine::open(EngineConfig::new(dir.join("state"), vec![root.clone()])).unwrap();
    let (m, s) = (root.join("m"), root.join("s"));
    let scenario = std::env::var(SCENARIO_ENV).unwrap();
    if scenario != "restart_only" {
        dev(&e, &m)
            .write_at(&[0xee; 4096], 3 * CHUNK_SIZE, false)
            .unwrap();
    }
    if scenario == "write_then_suspend" {
        e.suspend(&s).unwrap();
    }
    std::fs::write(dir.join("ready"), b"").unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

/// Runs the child on `env`'s directory with `scenario` and kills it once it
/// is ready (the parent's engine must be closed first: the state directory
/// is locked).
fn run_and_kill(env: &Env, scenario: &str) {
    let dir = env.root.parent().unwrap();
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "volatile::volatile_child",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, dir)
        .env(SCENARIO_ENV, scenario)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while !ready.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "child never got ready"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child ended early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn info(e: &Engine, s: &Path) -> SetInfo {
    e.set_info(s).unwrap()
}

#[test]
fn clean_shutdown_keeps_volatile_bitmaps() {
    let env = Env::new();
    let (m, s, sp) = volatile_spec(&env, SetKind::Dependent);
    let old = std::fs::read(&m).unwrap();
    {
        let e = env.open();
        assert!(e.enable_set(sp).unwrap().volatile_bitmap);
        dev(&e, &m)
            .write_at(&[0xab; 100], 5 * CHUNK_SIZE + 7, false)
            .unwrap();
        assert_eq!(info(&e, &s).shadow_bits, 1);
    }
    let e = env.open();
    let i = info(&e, &s);
    assert!(i.volatile_bitmap);
    assert_eq!(i.status, Status::Normal, "{i:?}");
    assert_eq!(i.shadow_bits, 1);
    assert_eq!(
        read_all(&dev(&e, &s)),
        old,
        "the point-in-time image survives"
    );
}

#[test]
fn crash_with_unsaved_bits_takes_a_dependent_shadow_offline() {
    let env = Env::new();
    let (m, s, sp) = volatile_spec(&env, SetKind::Dependent);
    env.open().enable_set(sp).unwrap();
    run_and_kill(&env, "write");
    let e = env.open();
    let i = info(&e, &s);
    assert_ne!(i.flags & flags::SHDOFFLINE, 0, "{i:?}");
    assert_eq!(i.state, SetState::NeedsReset);
    // The acknowledged write is on the master; reset takes a new point in time.
    let master = std::fs::read(&m).unwrap();
    assert_eq!(&master[3 * CH..3 * CH + 4096], &[0xee; 4096][..]);
    e.reset(&s).unwrap();
    assert_eq!(info(&e, &s).status, Status::Normal);
    check_reads(&e, &s, &master);
}

#[test]
fn bits_saved_at_suspend_survive_a_crash() {
    let env = Env::new();
    let (_m, s, sp) = volatile_spec(&env, SetKind::Dependent);
    let old = std::fs::read(env.root.join("m")).unwrap();
    env.open().enable_set(sp).unwrap();
    run_and_kill(&env, "write_then_suspend");
    let e = env.open();
    let i = info(&e, &s);
    assert_eq!(i.flags & flags::OFFLINE, 0, "{i:?}");
    assert_eq!(i.shadow_bits, 1);
    e.resume(&s).unwrap();
    check_reads(&e, &s, &old);
}

#[test]
fn a_restart_without_changes_leaves_the_set_trusted() {
    let env = Env::new();
    let (_m, s, sp) = volatile_spec(&env, SetKind::Dependent);
    env.open().enable_set(sp).unwrap();
    run_and_kill(&env, "restart_only");
    let i = info(&env.open(), &s);
    assert_eq!(i.flags & flags::OFFLINE, 0, "{i:?}");
}

#[test]
fn crash_marks_every_chunk_of_an_idle_independent_set() {
    let env = Env::new();
    let (m, s, sp) = volatile_spec(&env, SetKind::Independent);
    {
        let e = env.open();
        e.enable_set(sp).unwrap();
        wait_done(&e, &s);
    }
    run_and_kill(&env, "write");
    let e = env.open();
    let i = info(&e, &s);
    assert_eq!(i.flags & flags::OFFLINE, 0, "{i:?}");
    assert_eq!(i.shadow_bits, i.chunks, "every chunk is marked for update");
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    wait_done(&e, &s);
    check_reads(&e, &s, &std::fs::read(&m).unwrap());
    assert_eq!(info(&e, &s).shadow_bits, 0);
}
