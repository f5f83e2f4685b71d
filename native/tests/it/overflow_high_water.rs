//! The overflow volume's high-water mark (imaging.md §1.7, `iiadm -Q`
//! "Number of chunks ever allocated") through the engine: it rises with
//! spills, outlives the update that frees the chunks, and survives restarts
//! (FORMAT.md §2, statistics page).

use crate::common::*;
use native::*;
use std::path::Path;

fn info(e: &Engine, o: &Path) -> (u64, u64) {
    let i = e.overflow_info(o).unwrap();
    assert!(i.high_water_chunks >= i.used_chunks, "{i:?}");
    assert!(i.high_water_chunks <= i.total_chunks, "{i:?}");
    (i.used_chunks, i.high_water_chunks)
}

#[test]
fn high_water_mark_survives_update_and_restart() {
    let env = Env::new();
    let m = env.vol_rand("m", 16 * CH, 7);
    let s = env.vol("s", 4 * CH, 0);
    let b = env.vol("b", 64 << 10, 0);
    let o = env.vol("o", 10 * CH, 0);
    let e = env.open();
    let oi = e.init_overflow(&o).unwrap();
    assert_eq!((oi.total_chunks, oi.high_water_chunks), (9, 0));
    let mut sp = spec(&m, &s, &b, SetKind::Dependent);
    sp.overflow = Some(o.clone());
    e.enable_set(sp).unwrap();
    let md = dev(&e, &m);
    let touch = |c: u64| md.write_at(&[0xC3; 16], c * CH as u64, false).unwrap();
    // 7 chunks: 4 in the compact shadow, 3 spill into the overflow.
    (0..7).for_each(touch);
    assert_eq!(info(&e, &o), (3, 3));
    // A new point in time frees every chunk; the mark stays.
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    wait_done(&e, &s);
    assert_eq!(info(&e, &o), (0, 3));
    drop(md);
    drop(e);

    let e = env.open();
    assert_eq!(
        info(&e, &o),
        (0, 3),
        "freed chunks are remembered after a restart"
    );
    assert_eq!(e.overflows()[0].high_water_chunks, 3);
    let md = dev(&e, &m);
    let touch = |c: u64| md.write_at(&[0x3C; 16], c * CH as u64, false).unwrap();
    // 4 in the shadow, then overflow chunks 1..=3 again: no rise.
    (0..7).for_each(touch);
    assert_eq!(info(&e, &o), (3, 3));
    // Two more spill into chunks 4 and 5.
    (7..9).for_each(touch);
    assert_eq!(info(&e, &o), (5, 5));
    drop(md);
    drop(e);

    let e = env.open();
    assert_eq!(info(&e, &o), (5, 5), "in use and remembered");
}

#[test]
fn lost_statistics_recovered_from_chunks_in_use() {
    let env = Env::new();
    let m = env.vol_rand("m", 16 * CH, 8);
    let s = env.vol("s", 2 * CH, 0);
    let b = env.vol("b", 64 << 10, 0);
    let o = env.vol("o", 10 * CH, 0);
    let e = env.open();
    e.init_overflow(&o).unwrap();
    let mut sp = spec(&m, &s, &b, SetKind::Dependent);
    sp.overflow = Some(o.clone());
    e.enable_set(sp).unwrap();
    let md = dev(&e, &m);
    (0..6u64).for_each(|c| md.write_at(&[1; 8], c * CH as u64, false).unwrap());
    assert_eq!(info(&e, &o), (4, 4));
    drop(md);
    drop(e);
    // The statistics page (second page of the header chunk) is lost, as if
    // its last write never reached the disk.
    let mut img = std::fs::read(&o).unwrap();
    img[4096..8192].fill(0);
    std::fs::write(&o, img).unwrap();
    let e = env.open();
    assert_eq!(info(&e, &o), (4, 4), "derived from the set's index at open");
    // The update frees the chunks; the recovered mark is written first.
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    wait_done(&e, &s);
    assert_eq!(info(&e, &o), (0, 4));
    drop(e);
    let e = env.open();
    assert_eq!(info(&e, &o), (0, 4));
}
