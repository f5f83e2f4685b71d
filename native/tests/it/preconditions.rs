//! Every precondition failure returns a typed error that names the set (its
//! shadow path) or volume and says what to do; nothing changes on failure.

use crate::common::*;
use native::*;
use std::path::Path;
use std::time::Duration;

const MSIZE: usize = 300 * CH;

/// Asserts the error's message is lowercase and mentions every `needle`.
fn says(e: &Error, needles: &[&str]) {
    let msg = e.to_string();
    assert!(
        msg.chars().next().unwrap().is_lowercase() || msg.starts_with('/'),
        "not lowercase: {msg}"
    );
    for n in needles {
        assert!(msg.contains(n), "{msg:?} does not mention {n:?}");
    }
}

/// The one shape of a refusal: `err` is the given `Error` variant and, when
/// needles are given, its message [`says`] each of them.
macro_rules! check_refused {
    ($err:expr, $variant:path) => {
        assert!(matches!($err, $variant { .. }), "{}", $err)
    };
    ($err:expr, $variant:path, [$($needle:expr),* $(,)?]) => {{
        check_refused!($err, $variant);
        says(&$err, &[$($needle),*]);
    }};
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn enable_preconditions() {
    let env = Env::new();
    let m = env.vol("m", MSIZE, 1);
    let sh = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    let small = env.vol("small", CH, 0);
    let tiny_b = env.vol("tinyb", 4096, 0);
    let empty = env.vol("empty", 0, 0);
    let e = env.open();

    let err = e
        .enable_set(spec(&m, &m, &b, SetKind::Dependent))
        .unwrap_err();
    check_refused!(err, Error::InvalidParameter, [&s(&m), "different"]);

    let outside = tempfile::tempdir().unwrap();
    let out = outside.path().join("x");
    std::fs::write(&out, vec![0u8; MSIZE]).unwrap();
    let err = e
        .enable_set(spec(&m, &out, &b, SetKind::Dependent))
        .unwrap_err();
    check_refused!(err, Error::AccessDenied, ["x", "root"]);

    let link = env.root.join("link");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let err = e
        .enable_set(spec(&m, &link, &b, SetKind::Dependent))
        .unwrap_err();
    check_refused!(err, Error::AccessDenied, [&s(&link)]);

    let dotdot = env.root.join("..").join("state").join("engine.json");
    let err = e
        .enable_set(spec(&m, &dotdot, &b, SetKind::Dependent))
        .unwrap_err();
    check_refused!(err, Error::AccessDenied);

    let err = e
        .enable_set(spec(&m, &env.root.join("nope"), &b, SetKind::Dependent))
        .unwrap_err();
    check_refused!(err, Error::NotFound, ["nope", "create"]);

    let err = e
        .enable_set(spec(&m, &small, &b, SetKind::Independent))
        .unwrap_err();
    check_refused!(
        err,
        Error::InvalidParameter,
        ["shadow too small", &s(&small)]
    );

    let err = e
        .enable_set(spec(&m, &sh, &tiny_b, SetKind::Dependent))
        .unwrap_err();
    check_refused!(
        err,
        Error::InvalidParameter,
        ["bitmap volume too small", &s(&sh)]
    );

    let err = e
        .enable_set(spec(&m, &empty, &b, SetKind::Dependent))
        .unwrap_err();
    check_refused!(err, Error::InvalidParameter);

    let mut sp = spec(&m, &sh, &b, SetKind::Dependent);
    sp.overflow = Some(small.clone());
    let err = e.enable_set(sp).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "overflow volume",
                ..
            }
        ),
        "{err}"
    );

    let mut sp = spec(&m, &sh, &b, SetKind::Dependent);
    sp.group = Some("nog".into());
    let err = e.enable_set(sp).unwrap_err();
    assert!(
        matches!(err, Error::NotFound { kind: "group", .. }),
        "{err}"
    );
    e.create_group("gi", SetKind::Independent).unwrap();
    let mut sp = spec(&m, &sh, &b, SetKind::Dependent);
    sp.group = Some("gi".into());
    let err = e.enable_set(sp).unwrap_err();
    check_refused!(
        err,
        Error::InvalidParameter,
        ["gi", "independent", "dependent"]
    );

    assert!(e.sets().is_empty(), "nothing enabled by failures");
    e.enable_set(spec(&m, &sh, &b, SetKind::Dependent)).unwrap();

    let err = e
        .enable_set(spec(&m, &sh, &small, SetKind::Dependent))
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { kind: "set", .. }),
        "{err}"
    );
    says(&err, &[&s(&sh)]);

    let s2 = env.vol("s2", MSIZE, 0);
    let err = e
        .enable_set(spec(&m, &s2, &b, SetKind::Dependent))
        .unwrap_err();
    check_refused!(err, Error::InUse, [&s(&b), "bitmap of", &s(&s2)]);

    let b2 = env.vol("b2", 64 << 10, 0);
    let err = e
        .enable_set(spec(&sh, &s2, &b2, SetKind::Dependent))
        .unwrap_err();
    check_refused!(err, Error::InUse, ["shadow of"]);

    let err = e.init_overflow(&m).unwrap_err();
    check_refused!(err, Error::InUse);
    assert_eq!(e.sets().len(), 1);
}

#[test]
fn copy_preconditions() {
    let env = Env::new();
    let m = env.vol("m", MSIZE, 1);
    let sh = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    let e = env.open();
    e.enable_set(spec(&m, &sh, &b, SetKind::Independent))
        .unwrap();
    // Slow the copy down so it is still running.
    e.set_copy_params(&sh, 10000, 100).unwrap();
    let err = e
        .copy(&sh, Direction::ToShadow, CopyMode::Update)
        .unwrap_err();
    check_refused!(err, Error::Busy, [&s(&sh), "in progress"]);
    let err = e.disable_set(&sh).unwrap_err();
    check_refused!(err, Error::Busy);
    let err = e.export_shadow(&sh).unwrap_err();
    check_refused!(err, Error::Busy);
    assert!(
        !e.wait(&sh, Some(Duration::from_millis(50))).unwrap(),
        "wait times out"
    );
    e.abort(&sh).unwrap();
    let i = e.set_info(&sh).unwrap();
    assert!(i.flags & flags::COPYINGM != 0 && i.flags & flags::COPYINGP == 0);
    assert_eq!(i.status, Status::Degraded);
    let err = e
        .copy(&sh, Direction::ToMaster, CopyMode::Update)
        .unwrap_err();
    check_refused!(err, Error::Busy, ["pending", "update the shadow"]);
    e.abort(&sh).unwrap();
    // Out-of-range parameters change nothing.
    for (d, u) in [(1, 100), (10001, 100), (2, 99), (2, 60001)] {
        let err = e.set_copy_params(&sh, d, u).unwrap_err();
        check_refused!(
            err,
            Error::InvalidParameter,
            [&s(&sh), "2..=10000", "100..=60000"]
        );
    }
    let i = e.set_info(&sh).unwrap();
    assert_eq!((i.copy_delay, i.copy_units), (10000, 100));
    e.set_copy_params(&sh, 2, 60000).unwrap();
    e.suspend(&sh).unwrap();
    let err = e
        .copy(&sh, Direction::ToShadow, CopyMode::Update)
        .unwrap_err();
    check_refused!(err, Error::WrongState, ["suspended", "resume"]);
    e.resume(&sh).unwrap();
    e.copy(&sh, Direction::ToShadow, CopyMode::Update).unwrap();
    wait_done(&e, &sh);
    assert_eq!(std::fs::read(&sh).unwrap(), std::fs::read(&m).unwrap());
    let err = e.join(&sh, None).unwrap_err();
    check_refused!(err, Error::WrongState, ["not exported"]);
    e.export_shadow(&sh).unwrap();
    let err = e.export_shadow(&sh).unwrap_err();
    check_refused!(err, Error::WrongState);
    let err = e
        .copy(&sh, Direction::ToShadow, CopyMode::Update)
        .unwrap_err();
    check_refused!(err, Error::WrongState, ["exported"]);
    let junk = env.vol("junk", 64 << 10, 7);
    let err = e.join(&sh, Some(&junk)).unwrap_err();
    check_refused!(err, Error::InvalidParameter, ["not a valid bitmap"]);
    e.join(&sh, None).unwrap();

    let err = e
        .copy(&env.root.join("s9"), Direction::ToShadow, CopyMode::Full)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { kind: "set", .. }), "{err}");
    says(&err, &["s9"]);
}

#[test]
fn dependent_and_overflow_preconditions() {
    let env = Env::new();
    let m = env.vol("m", MSIZE, 1);
    let sh = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    let o = env.vol("o", 10 * CH, 0);
    let e = env.open();
    e.enable_set(spec(&m, &sh, &b, SetKind::Dependent)).unwrap();
    let err = e.export_shadow(&sh).unwrap_err();
    check_refused!(err, Error::WrongState, ["independent"]);
    let err = e.attach_overflow(&sh, &o).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "overflow volume",
                ..
            }
        ),
        "{err}"
    );
    says(&err, &["initialise"]);
    e.init_overflow(&o).unwrap();
    let err = e.init_overflow(&o).unwrap_err();
    check_refused!(err, Error::AlreadyExists);
    let err = e.attach_overflow(&sh, &o).unwrap_err();
    check_refused!(err, Error::WrongState, ["compact"]);
    let err = e.detach_overflow(&sh).unwrap_err();
    check_refused!(err, Error::WrongState);
    let err = e
        .enable_set(spec(
            &m,
            &o,
            &env.vol("b3", 64 << 10, 0),
            SetKind::Dependent,
        ))
        .unwrap_err();
    check_refused!(err, Error::InUse, ["overflow"]);
    let err = e.device(&o).err().unwrap();
    check_refused!(err, Error::PermissionDenied);
    let err = e.device(&b).err().unwrap();
    assert_eq!(err.errno(), 1);
    // Data-path range checks.
    let d = e.device(&sh).unwrap();
    let err = d.write_at(&[], 0, false).unwrap_err();
    assert_eq!(err.errno(), 22);
    let err = d.read_at(&mut [0u8; 2], MSIZE as u64 - 1).unwrap_err();
    assert!(matches!(err, Error::OutOfRange { .. }));
    // Reset of a healthy set does nothing.
    e.reset(&sh).unwrap();
    assert_eq!(e.set_info(&sh).unwrap().state, SetState::Idle);
}

#[test]
fn group_preconditions() {
    let env = Env::new();
    let m = env.vol("m", MSIZE, 1);
    let s1 = env.vol("s1", MSIZE, 0);
    let s2 = env.vol("s2", MSIZE, 0);
    let b1 = env.vol("b1", 64 << 10, 0);
    let b2 = env.vol("b2", 64 << 10, 0);
    let e = env.open();
    for bad in ["", "-x", "a b", "x\ty"] {
        let err = e.create_group(bad, SetKind::Dependent).unwrap_err();
        check_refused!(err, Error::InvalidParameter);
    }
    e.create_group("g", SetKind::Dependent).unwrap();
    let err = e.create_group("g", SetKind::Dependent).unwrap_err();
    check_refused!(err, Error::AlreadyExists);
    let err = e
        .group_copy("g", Direction::ToShadow, CopyMode::Update)
        .unwrap_err();
    check_refused!(err, Error::WrongState, ["no members"]);
    let err = e.delete_group("h").unwrap_err();
    assert!(
        matches!(err, Error::NotFound { kind: "group", .. }),
        "{err}"
    );
    e.enable_set(spec(&m, &s1, &b1, SetKind::Dependent))
        .unwrap();
    e.enable_set(spec(&m, &s2, &b2, SetKind::Dependent))
        .unwrap();
    e.add_to_group(&s1, "g").unwrap();
    e.add_to_group(&s2, "g").unwrap();
    let err = e
        .group_copy("g", Direction::ToMaster, CopyMode::Update)
        .unwrap_err();
    check_refused!(err, Error::InvalidParameter, ["share master", &s(&m)]);
    e.create_group("h", SetKind::Dependent).unwrap();
    let err = e.rename_group("g", "h").unwrap_err();
    check_refused!(err, Error::AlreadyExists);
    e.lock_group("g").unwrap();
    for err in [
        e.delete_group("g").unwrap_err(),
        e.rename_group("g", "k").unwrap_err(),
        e.add_to_group(&s1, "h").unwrap_err(),
        e.disable_set(&s1).unwrap_err(),
    ] {
        check_refused!(err, Error::WrongState, ["locked", "unlock"]);
    }
    e.unlock_group("g").unwrap();
    e.delete_group("g").unwrap();
    assert!(e.set_info(&s1).unwrap().group.is_none());
    let err = e.remove_from_group(&s1).unwrap_err();
    check_refused!(err, Error::WrongState);
    assert_eq!(e.group_percent_completed("h").unwrap(), 100.0);
}

#[test]
fn corrupt_bitmap_brings_set_back_offline() {
    let env = Env::new();
    let m = env.vol("m", MSIZE, 1);
    let sh = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    {
        let e = env.open();
        e.enable_set(spec(&m, &sh, &b, SetKind::Dependent)).unwrap();
        e.device(&m).unwrap().write_at(&[1], 0, false).unwrap();
    }
    // Damage the shadow bitmap page (after the two header slots).
    let mut raw = std::fs::read(&b).unwrap();
    raw[8192 + 100] ^= 0x55;
    std::fs::write(&b, &raw).unwrap();
    let e = env.open();
    let i = e.set_info(&sh).unwrap();
    assert_eq!(i.state, SetState::Offline);
    assert_eq!(i.status, Status::Error);
    assert!(e.device(&sh).unwrap().read_at(&mut [0u8; 1], 0).is_err());
    e.reset(&sh).unwrap();
    let i = e.set_info(&sh).unwrap();
    assert_eq!(i.state, SetState::Idle);
    assert_eq!(
        read_all(&e.device(&sh).unwrap()),
        std::fs::read(&m).unwrap()
    );
    // Both header slots destroyed: the set is listed offline, disable works.
    drop(e);
    std::fs::write(&b, vec![0u8; 64 << 10]).unwrap();
    let e = env.open();
    let i = e.set_info(&sh).unwrap();
    assert_eq!(i.state, SetState::Offline);
    e.disable_set(&sh).unwrap();
    assert!(e.sets().is_empty());
}
