//! The overflow volume's total attached count (imaging.md §1.7, `iiadm -Q`
//! "Total number of attached shadows") through the engine: every attach
//! counts (enable with the overflow, or attach), detach and disable do not
//! lower it, and it survives restarts (FORMAT.md §2, statistics page).

use crate::common::*;
use native::*;
use std::path::{Path, PathBuf};

/// (currently attached, total attached).
fn counts(e: &Engine, o: &Path) -> (u32, u32) {
    let i = e.overflow_info(o).unwrap();
    assert!(i.total_attached >= i.attached_sets, "{i:?}");
    assert_eq!(i.attached_sets as usize, i.sets.len(), "{i:?}");
    (i.attached_sets, i.total_attached)
}

/// The spec of compact dependent set `n` (shadow `s<n>`) on its own master,
/// with the overflow volume `o` if given.
fn compact_spec(env: &Env, n: u64, o: Option<&Path>) -> (SetSpec, PathBuf) {
    let m = env.vol_rand(&format!("m{n}"), 8 * CH, n);
    let s = env.vol(&format!("s{n}"), 2 * CH, 0);
    let b = env.vol(&format!("b{n}"), 64 << 10, 0);
    let mut sp = spec(&m, &s, &b, SetKind::Dependent);
    sp.overflow = o.map(Path::to_path_buf);
    (sp, s)
}

/// Two compact dependent sets on their own masters, the first enabled with
/// the overflow, the second attached to it afterwards.
fn two_attached(env: &Env) -> (Engine, PathBuf, PathBuf) {
    let o = env.vol("o", 10 * CH, 0);
    let e = env.open();
    let oi = e.init_overflow(&o).unwrap();
    assert_eq!((oi.attached_sets, oi.total_attached), (0, 0), "fresh");
    e.enable_set(compact_spec(env, 1, Some(&o)).0).unwrap();
    assert_eq!(counts(&e, &o), (1, 1), "enable with an overflow attaches");
    let (sp, s2) = compact_spec(env, 2, None);
    e.enable_set(sp).unwrap();
    assert_eq!(counts(&e, &o), (1, 1), "a set without overflow");
    e.attach_overflow(&s2, &o).unwrap();
    assert_eq!(counts(&e, &o), (2, 2));
    (e, o, s2)
}

#[test]
fn total_attached_outlives_detach_and_restart() {
    let env = Env::new();
    let (e, o, s2) = two_attached(&env);
    e.detach_overflow(&s2).unwrap();
    assert_eq!(counts(&e, &o), (1, 2), "detaching never lowers the total");
    drop(e);

    let e = env.open();
    assert_eq!(counts(&e, &o), (1, 2), "total 2, current 1 after reopen");
    assert_eq!(e.overflows()[0].total_attached, 2);
    // Attaching the same set again counts again.
    e.attach_overflow(&s2, &o).unwrap();
    assert_eq!(counts(&e, &o), (2, 3));
    e.disable_set(&s2).unwrap();
    assert_eq!(counts(&e, &o), (1, 3), "disabling never lowers the total");
    drop(e);
    assert_eq!(counts(&env.open(), &o), (1, 3));
}

#[test]
fn page_without_the_count_falls_back_to_sets_attached() {
    let env = Env::new();
    let (e, o, _s2) = two_attached(&env);
    drop(e);
    // A statistics page written before the count existed: bytes 24..28
    // zero, CRC over the page as that engine sealed it.
    let mut img = std::fs::read(&o).unwrap();
    let page = &mut img[4096..8192];
    assert_eq!(&page[0..8], b"IIOVSTA1");
    assert_eq!(u32::from_le_bytes(page[24..28].try_into().unwrap()), 2);
    page[24..28].fill(0);
    let crc = crc32fast::hash(&page[..4092]);
    page[4092..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&o, &img).unwrap();
    let e = env.open();
    assert_eq!(counts(&e, &o), (2, 2), "max(stored 0, attached now)");
    // The next attach counts from there.
    e.enable_set(compact_spec(&env, 3, Some(&o)).0).unwrap();
    assert_eq!(counts(&e, &o), (3, 3));
    drop(e);
    assert_eq!(counts(&env.open(), &o), (3, 3));
}
