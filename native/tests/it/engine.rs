//! Scenario tests of the engine: dependent and independent sets, copies in
//! both directions, compact shadows with overflow, groups, export/import/join,
//! restart, events and the export source.

use crate::common::*;
use native::*;
use std::time::Duration;

const MSIZE: usize = 64 * CH + 5000;

#[test]
fn dependent_set_keeps_point_in_time() {
    let env = Env::new();
    let m = env.vol_rand("m", MSIZE, 1);
    let s = env.vol("s", MSIZE, 0xEE);
    let b = env.vol("b", 64 << 10, 0);
    let e = env.open();
    let info = e.enable_set(spec(&m, &s, &b, SetKind::Dependent)).unwrap();
    assert_eq!(info.state, SetState::Idle);
    assert_eq!(info.percent_synchronized, 100.0);
    let md = dev(&e, &m);
    let sd = dev(&e, &s);
    let orig = read_all(&md);
    assert_eq!(
        read_all(&sd),
        orig,
        "fresh dependent shadow reads the master"
    );
    md.write_at(&[7u8; 100], CH as u64 * 3 + 10, false).unwrap();
    assert_eq!(
        read_all(&sd),
        orig,
        "shadow keeps the PIT after a master write"
    );
    sd.write_at(&[9u8; 10], CH as u64 * 5 + 1, false).unwrap();
    let mut exp = orig.clone();
    exp[CH * 5 + 1..CH * 5 + 11].fill(9);
    assert_eq!(read_all(&sd), exp);
    let info = e.set_info(&s).unwrap();
    assert_eq!(info.shadow_bits, 2);
    assert!(info.percent_synchronized < 100.0);
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    assert_eq!(read_all(&sd), read_all(&md));
    assert_eq!(e.set_info(&s).unwrap().percent_synchronized, 100.0);
    // Update the master from the shadow.
    sd.write_at(&[1u8; 3 * CH], 0, false).unwrap();
    let want = read_all(&sd);
    e.copy(&s, Direction::ToMaster, CopyMode::Update).unwrap();
    assert_eq!(
        read_all(&md),
        want,
        "master reads the shadow during the copy"
    );
    wait_done(&e, &s);
    assert_eq!(read_all(&md), want);
    assert_eq!(read_all(&sd), want);
    let info = e.set_info(&s).unwrap();
    assert_eq!(info.flags & flags::COPYING, 0);
}

#[test]
fn independent_set_full_copy_and_restart() {
    let env = Env::new();
    let m = env.vol_rand("m", MSIZE, 2);
    let s = env.vol("s", MSIZE + CH, 0);
    let b = env.vol("b", 64 << 10, 0);
    let e = env.open();
    let rx = e.subscribe();
    let info = e
        .enable_set(spec(&m, &s, &b, SetKind::Independent))
        .unwrap();
    assert!(info.flags & flags::GOLDEN != 0);
    let md = dev(&e, &m);
    let sd = dev(&e, &s);
    assert_eq!(sd.size(), md.size(), "shadow exposes the master size");
    let orig = read_all(&md);
    md.write_at(&[5u8; 5000], 100, false).unwrap();
    assert_eq!(
        read_all(&sd),
        orig,
        "independent shadow keeps the PIT during the copy"
    );
    wait_done(&e, &s);
    let mut ondisk = std::fs::read(&s).unwrap();
    ondisk.truncate(MSIZE);
    assert_eq!(ondisk, orig, "full copy is physical");
    let info = e.set_info(&s).unwrap();
    assert_eq!(info.state, SetState::Idle);
    assert_eq!(info.percent_completed, 100.0);
    assert_eq!(info.shadow_bits, 1);
    let evs: Vec<_> = rx.try_iter().collect();
    assert!(evs
        .iter()
        .any(|e| matches!(e, EngineEvent::SetCreated { .. })));
    assert!(evs
        .iter()
        .any(|e| matches!(e, EngineEvent::CopyFinished { complete: true, .. })));
    drop((md, sd));
    drop(e);
    let e = env.open();
    let info = e.set_info(&s).unwrap();
    assert_eq!(info.shadow_bits, 1);
    check_reads(&e, &s, &orig);
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    wait_done(&e, &s);
    check_reads(&e, &s, &read_all(&dev(&e, &m)));
    assert_eq!(e.set_info(&s).unwrap().percent_synchronized, 100.0);
}

#[test]
fn interrupted_copy_resumes_after_restart() {
    let env = Env::new();
    let size = 256 * CH;
    let m = env.vol_rand("m", size, 3);
    let s = env.vol("s", size, 0);
    let b = env.vol("b", 64 << 10, 0);
    let e = env.open();
    e.enable_set(spec(&m, &s, &b, SetKind::Independent))
        .unwrap();
    e.set_copy_params(&s, 10000, 100).unwrap();
    e.suspend(&s).unwrap();
    assert_eq!(e.set_info(&s).unwrap().state, SetState::Suspended);
    e.resume(&s).unwrap();
    e.shutdown();
    drop(e);
    let e = env.open();
    let i = e.set_info(&s).unwrap();
    assert!(
        i.flags & flags::COPYINGP != 0,
        "copy flags survive a shutdown"
    );
    e.set_copy_params(&s, 2, 60000).unwrap();
    wait_done(&e, &s);
    assert_eq!(std::fs::read(&s).unwrap(), std::fs::read(&m).unwrap());
}

#[test]
fn compact_shadow_with_overflow() {
    let env = Env::new();
    let m = env.vol_rand("m", MSIZE, 4);
    let s = env.vol("s", 8 * CH, 0);
    let b = env.vol("b", 64 << 10, 0);
    let o = env.vol("o", 6 * CH, 0);
    let e = env.open();
    let oi = e.init_overflow(&o).unwrap();
    assert_eq!(oi.total_chunks, 5);
    let mut sp = spec(&m, &s, &b, SetKind::Dependent);
    sp.overflow = Some(o.clone());
    let info = e.enable_set(sp).unwrap();
    assert!(info.compact);
    let md = dev(&e, &m);
    let sd = dev(&e, &s);
    let orig = read_all(&md);
    for c in 0..12u64 {
        md.write_at(&[c as u8; 10], c * CH as u64, false).unwrap();
    }
    assert_eq!(
        read_all(&sd),
        orig,
        "12 chunks fit in 8 shadow + 5 overflow chunks"
    );
    let i = e.set_info(&s).unwrap();
    assert_eq!(i.shadow_chunks_used, 8);
    assert_eq!(i.overflow_chunks_used, 4);
    assert_eq!(
        i.status,
        Status::Degraded,
        "spilled into the overflow volume"
    );
    assert!(i.flags & flags::VOVERFLOW != 0);
    assert!(e.detach_overflow(&s).is_err(), "overflow holds data");
    assert!(e.delete_overflow(&o).is_err(), "overflow is attached");
    // Restart: the map and the overflow usage come back.
    drop((md, sd));
    drop(e);
    let e = env.open();
    let md = dev(&e, &m);
    let sd = dev(&e, &s);
    assert_eq!(read_all(&sd), orig);
    assert_eq!(e.overflow_info(&o).unwrap().used_chunks, 4);
    // Two more chunks: one fits, the next runs out of space.
    md.write_at(&[1u8; 10], 20 * CH as u64, false).unwrap();
    let rx = e.subscribe();
    md.write_at(&[1u8; 10], 21 * CH as u64, false).unwrap();
    let i = e.set_info(&s).unwrap();
    assert_eq!(i.status, Status::Error);
    assert!(rx
        .try_iter()
        .any(|e| matches!(e, EngineEvent::SetError { .. })));
    let mut buf = vec![0u8; 10];
    md.read_at(&mut buf, 21 * CH as u64).unwrap();
    assert_eq!(buf, vec![1u8; 10], "the master stays writable");
    assert!(
        sd.read_at(&mut buf, 21 * CH as u64).is_err(),
        "lost shadow chunk fails"
    );
    sd.read_at(&mut buf, 20 * CH as u64).unwrap();
    assert_eq!(buf, orig[20 * CH..20 * CH + 10]);
    let err = e
        .copy(&s, Direction::ToMaster, CopyMode::Update)
        .unwrap_err();
    assert!(matches!(err, Error::WrongState { .. }), "{err}");
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    let i = e.set_info(&s).unwrap();
    assert_eq!(i.status, Status::Normal);
    assert_eq!(i.shadow_chunks_used, 0);
    assert_eq!(e.overflow_info(&o).unwrap().used_chunks, 0);
    assert_eq!(read_all(&sd), read_all(&md));
    // Shadow writes and copy back to the master through the map.
    sd.write_at(&[3u8; CH + 7], 2 * CH as u64 - 3, false)
        .unwrap();
    let want = read_all(&sd);
    e.copy(&s, Direction::ToMaster, CopyMode::Update).unwrap();
    wait_done(&e, &s);
    assert_eq!(read_all(&md), want);
    assert_eq!(e.set_info(&s).unwrap().shadow_chunks_used, 0);
    e.detach_overflow(&s).unwrap();
    e.delete_overflow(&o).unwrap();
}

#[test]
fn several_shadows_of_one_master() {
    let env = Env::new();
    let m = env.vol_rand("m", MSIZE, 5);
    let s1 = env.vol("s1", MSIZE, 0);
    let s2 = env.vol("s2", MSIZE, 0);
    let b1 = env.vol("b1", 64 << 10, 0);
    let b2 = env.vol("b2", 64 << 10, 0);
    let e = env.open();
    e.enable_set(spec(&m, &s1, &b1, SetKind::Dependent))
        .unwrap();
    let md = dev(&e, &m);
    let orig = read_all(&md);
    md.write_at(&[1u8; 50], 0, false).unwrap();
    let v1 = read_all(&md);
    e.enable_set(spec(&m, &s2, &b2, SetKind::Dependent))
        .unwrap();
    md.write_at(&[2u8; 50], 0, false).unwrap();
    let (d1, d2) = (dev(&e, &s1), dev(&e, &s2));
    assert_eq!(read_all(&d1), orig);
    assert_eq!(read_all(&d2), v1);
    // s1 back to the master: s2 keeps its PIT (sibling copy-on-write).
    e.copy(&s1, Direction::ToMaster, CopyMode::Update).unwrap();
    wait_done(&e, &s1);
    assert_eq!(read_all(&md), orig);
    assert_eq!(read_all(&d2), v1);
    assert_eq!(read_all(&d1), orig);
}

#[test]
fn groups_take_one_point_in_time() {
    let env = Env::new();
    let m1 = env.vol_rand("m1", MSIZE, 6);
    let m2 = env.vol_rand("m2", MSIZE, 7);
    let s1 = env.vol("s1", MSIZE, 0);
    let s2 = env.vol("s2", MSIZE, 0);
    let b1 = env.vol("b1", 64 << 10, 0);
    let b2 = env.vol("b2", 64 << 10, 0);
    let e = env.open();
    e.create_group("g1", SetKind::Dependent).unwrap();
    let mut sp = spec(&m1, &s1, &b1, SetKind::Dependent);
    sp.group = Some("g1".into());
    e.enable_set(sp).unwrap();
    e.enable_set(spec(&m2, &s2, &b2, SetKind::Dependent))
        .unwrap();
    e.add_to_group(&s2, "g1").unwrap();
    assert_eq!(e.group_info("g1").unwrap().members.len(), 2);
    let (md1, md2) = (dev(&e, &m1), dev(&e, &m2));
    md1.write_at(&[1; 10], 0, false).unwrap();
    md2.write_at(&[2; 10], 0, false).unwrap();
    e.group_copy("g1", Direction::ToShadow, CopyMode::Update)
        .unwrap();
    check_reads(&e, &s1, &read_all(&md1));
    check_reads(&e, &s2, &read_all(&md2));
    e.lock_group("g1").unwrap();
    assert!(matches!(
        e.copy(&s1, Direction::ToShadow, CopyMode::Update),
        Err(Error::WrongState { .. })
    ));
    assert!(e.remove_from_group(&s1).is_err());
    e.group_copy("g1", Direction::ToShadow, CopyMode::Update)
        .unwrap();
    e.unlock_group("g1").unwrap();
    e.rename_group("g1", "g2").unwrap();
    assert_eq!(e.set_info(&s1).unwrap().group.as_deref(), Some("g2"));
    drop(e);
    let e = env.open();
    assert_eq!(e.groups().len(), 1);
    assert_eq!(e.group_info("g2").unwrap().members.len(), 2);
    e.delete_group("g2").unwrap();
    assert_eq!(e.set_info(&s2).unwrap().group, None);
    assert!(e.sets().len() == 2);
}

#[test]
fn export_import_join() {
    let env = Env::new();
    let m = env.vol_rand("m", MSIZE, 8);
    let s = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    let b2 = env.vol("b2", 64 << 10, 0);
    let e = env.open();
    e.enable_set(spec(&m, &s, &b, SetKind::Independent))
        .unwrap();
    assert!(matches!(
        e.export_shadow(&s),
        Err(Error::Busy { .. }) | Ok(())
    ));
    e.wait(&s, None).unwrap();
    let _ = e.export_shadow(&s);
    assert_eq!(e.set_info(&s).unwrap().state, SetState::Exported);
    let sd = dev(&e, &s);
    let mut buf = [0u8; 10];
    let err = sd.read_at(&mut buf, 0).unwrap_err();
    assert_eq!(err.errno(), 1, "EPERM");
    assert_eq!(sd.write_at(&buf, 0, false).unwrap_err().errno(), 1);
    dev(&e, &m).write_at(&[1; 10], 0, false).unwrap();
    // The other host: a second engine with its own state, same storage.
    let other_state = env.dir.path().join("other");
    let e2 = Engine::open(EngineConfig::new(&other_state, vec![env.root.clone()])).unwrap();
    let info = e2.import_shadow(&s, &b2).unwrap();
    assert_eq!(info.state, SetState::Imported);
    assert!(info.imported);
    dev(&e2, &s)
        .write_at(&[2; 10], 5 * CH as u64, false)
        .unwrap();
    e2.disable_set(&s).unwrap();
    drop(e2);
    e.join(&s, Some(&b2)).unwrap();
    let i = e.set_info(&s).unwrap();
    assert_eq!(i.state, SetState::Idle);
    assert_eq!(i.shadow_bits, 2, "local chunk 0 and foreign chunk 5");
    e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
    e.wait(&s, None).unwrap();
    check_reads(&e, &s, &read_all(&dev(&e, &m)));
}

#[test]
fn export_source_lists_set_volumes() {
    let env = Env::new();
    let m = env.vol_rand("m", MSIZE, 9);
    let s = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    let e = env.open();
    e.enable_set(spec(&m, &s, &b, SetKind::Dependent)).unwrap();
    let names = e.export_names();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&m.to_string_lossy().into_owned()));
    assert!(e.open_export(m.to_str().unwrap()).is_some());
    assert!(e.open_export(b.to_str().unwrap()).is_none());
    let err = e.device(&b).err().unwrap();
    assert!(matches!(err, Error::PermissionDenied { .. }));
    let vols = e.volumes();
    let bv = vols.iter().find(|v| v.path == b).unwrap();
    assert!(bv.used_by.starts_with("bitmap of"));
}

#[test]
fn concurrent_writes_during_copies() {
    use std::sync::{Arc, Mutex};
    let env = Env::new();
    let size = 256 * CH;
    let m = env.vol_rand("m", size, 11);
    let sa = env.vol("sa", size, 0);
    let sb = env.vol("sb", size, 0);
    let ba = env.vol("ba", 64 << 10, 0);
    let bb = env.vol("bb", 64 << 10, 0);
    let e = env.open();
    e.enable_set(spec(&m, &sb, &bb, SetKind::Dependent))
        .unwrap();
    e.enable_set(spec(&m, &sa, &ba, SetKind::Independent))
        .unwrap();
    e.set_copy_params(&sa, 2, 100).unwrap();
    let init = std::fs::read(&m).unwrap();
    let devs: Vec<_> = [&m, &sa, &sb]
        .iter()
        .map(|p| e.device(p).unwrap())
        .collect();
    let expect = Arc::new(Mutex::new([init.clone(), init.clone(), init]));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let devs = devs.clone();
            let expect = expect.clone();
            std::thread::spawn(move || {
                let mut x = t + 1;
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                for i in 0..150 {
                    let c = (next() % 64) * 4 + t;
                    let v = (next() % 3) as usize;
                    let start = (next() % CH as u64) as usize;
                    let len = 1 + (next() % (CH - start) as u64) as usize;
                    let off = c as usize * CH + start;
                    let data = pattern(t * 1000 + i, len);
                    devs[v].write_at(&data, off as u64, false).unwrap();
                    expect.lock().unwrap()[v][off..off + len].copy_from_slice(&data);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    wait_done(&e, &sa);
    let exp = expect.lock().unwrap();
    for (i, d) in devs.iter().enumerate() {
        let got = read_all(d);
        assert!(
            got == exp[i],
            "volume {i} differs at {:?}",
            first_diff(&got, &exp[i])
        );
    }
    // Update both shadows while writers are gone: they equal the master.
    e.copy(&sa, Direction::ToShadow, CopyMode::Update).unwrap();
    e.copy(&sb, Direction::ToShadow, CopyMode::Update).unwrap();
    wait_done(&e, &sa);
    assert_eq!(read_all(&devs[1]), exp[0]);
    assert_eq!(read_all(&devs[2]), exp[0]);
}

#[test]
fn overflow_shared_by_two_sets() {
    let env = Env::new();
    let m1 = env.vol_rand("m1", 32 * CH, 12);
    let m2 = env.vol_rand("m2", 32 * CH, 13);
    let s1 = env.vol("s1", 4 * CH, 0);
    let s2 = env.vol("s2", 4 * CH, 0);
    let b1 = env.vol("b1", 64 << 10, 0);
    let b2 = env.vol("b2", 64 << 10, 0);
    let o = env.vol("o", 11 * CH, 0);
    let e = env.open();
    e.init_overflow(&o).unwrap();
    e.enable_set(spec(&m1, &s1, &b1, SetKind::Dependent))
        .unwrap();
    e.enable_set(spec(&m2, &s2, &b2, SetKind::Dependent))
        .unwrap();
    e.attach_overflow(&s1, &o).unwrap();
    e.attach_overflow(&s2, &o).unwrap();
    assert_eq!(e.overflow_info(&o).unwrap().attached_sets, 2);
    let (o1, o2) = (std::fs::read(&m1).unwrap(), std::fs::read(&m2).unwrap());
    for c in 0..9u64 {
        dev(&e, &m1)
            .write_at(&[1; 3], c * CH as u64, false)
            .unwrap();
        dev(&e, &m2)
            .write_at(&[2; 3], c * CH as u64 + 7, false)
            .unwrap();
    }
    // 4 + 4 shadow chunks, 10 overflow chunks: 18 >= 18 needed.
    assert_eq!(e.overflow_info(&o).unwrap().used_chunks, 10);
    check_reads(&e, &s1, &o1);
    check_reads(&e, &s2, &o2);
    assert_eq!(
        e.set_info(&s1).unwrap().status,
        Status::Degraded,
        "spilled into overflow"
    );
    drop(e);
    let e = env.open();
    assert_eq!(e.overflow_info(&o).unwrap().used_chunks, 10);
    check_reads(&e, &s2, &o2);
    e.copy(&s1, Direction::ToShadow, CopyMode::Update).unwrap();
    assert_eq!(e.overflow_info(&o).unwrap().used_chunks, 5);
    dev(&e, &m2)
        .write_at(&[2; 3], 20 * CH as u64, false)
        .unwrap();
    assert_eq!(e.overflow_info(&o).unwrap().used_chunks, 6);
    check_reads(&e, &s2, &o2);
    e.disable_set(&s2).unwrap();
    assert_eq!(e.overflow_info(&o).unwrap().used_chunks, 0);
    assert_eq!(e.overflow_info(&o).unwrap().attached_sets, 1);
}

#[test]
fn engine_is_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Engine>();
    check::<SetInfo>();
    check::<EngineEvent>();
    fn dev<T: Send + Sync + ?Sized>() {}
    dev::<dyn BlockDevice>();
}

#[test]
fn events_for_every_object() {
    let env = Env::new();
    let m = env.vol_rand("m", MSIZE, 14);
    let s = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    let o = env.vol("o", 4 * CH, 0);
    let e = env.open();
    let rx = e.subscribe();
    e.create_group("g", SetKind::Dependent).unwrap();
    e.init_overflow(&o).unwrap();
    let mut sp = spec(&m, &s, &b, SetKind::Dependent);
    sp.group = Some("g".into());
    e.enable_set(sp).unwrap();
    e.rename_set(&s, "nice").unwrap();
    e.set_copy_params(&s, 3, 200).unwrap();
    e.rename_group("g", "h").unwrap();
    e.delete_group("h").unwrap();
    e.delete_overflow(&o).unwrap();
    e.disable_set(&s).unwrap();
    let evs: Vec<EngineEvent> = rx.try_iter().collect();
    let has = |f: &dyn Fn(&EngineEvent) -> bool| evs.iter().any(f);
    assert!(has(
        &|e| matches!(e, EngineEvent::GroupCreated { name } if name == "g")
    ));
    assert!(has(&|e| matches!(e, EngineEvent::OverflowCreated { .. })));
    assert!(has(&|e| matches!(e, EngineEvent::SetCreated { .. })));
    assert!(has(&|e| matches!(
        e,
        EngineEvent::SetModified {
            change: SetChange::Properties,
            ..
        }
    )));
    assert!(has(
        &|e| matches!(e, EngineEvent::GroupModified { name, old_name: Some(o) } if name == "h" && o == "g")
    ));
    assert!(has(
        &|e| matches!(e, EngineEvent::GroupDeleted { name } if name == "h")
    ));
    assert!(has(&|e| matches!(e, EngineEvent::OverflowDeleted { .. })));
    assert!(has(&|e| matches!(e, EngineEvent::SetDeleted { .. })));
    // A dropped receiver does not disturb the engine.
    drop(rx);
    e.create_group("k", SetKind::Dependent).unwrap();
}

#[test]
fn failed_copy_on_write_takes_shadow_offline_until_reset() {
    let env = Env::new();
    let m = env.vol_rand("m", MSIZE, 15);
    let s = env.vol("s", MSIZE, 0);
    let b = env.vol("b", 64 << 10, 0);
    let e = env.open();
    e.enable_set(spec(&m, &s, &b, SetKind::Dependent)).unwrap();
    let rx = e.subscribe();
    // Shrink the master behind the engine's back: the copy-on-write read of
    // the last chunk fails, the host write still succeeds.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&m)
        .unwrap()
        .set_len(CH as u64)
        .unwrap();
    let md = dev(&e, &m);
    md.write_at(&[4u8; 10], 40 * CH as u64, false).unwrap();
    let i = e.set_info(&s).unwrap();
    assert_eq!(i.state, SetState::NeedsReset);
    assert_eq!(i.status, Status::Error);
    assert!(i.flags & flags::SHDOFFLINE != 0);
    assert!(rx
        .try_iter()
        .any(|e| matches!(e, EngineEvent::SetError { .. })));
    let sd = dev(&e, &s);
    assert_eq!(sd.read_at(&mut [0u8; 4], 0).unwrap_err().errno(), 5, "EIO");
    assert_eq!(
        sd.write_at(&[0u8; 4], 0, false).unwrap_err().errno(),
        1,
        "EPERM"
    );
    let err = e
        .copy(&s, Direction::ToShadow, CopyMode::Update)
        .unwrap_err();
    assert!(matches!(err, Error::WrongState { .. }), "{err}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&m)
        .unwrap()
        .set_len(MSIZE as u64)
        .unwrap();
    e.reset(&s).unwrap();
    let i = e.set_info(&s).unwrap();
    assert_eq!((i.state, i.status), (SetState::Idle, Status::Normal));
    assert_eq!(read_all(&sd), read_all(&md));
}

/// A 64 MiB independent set, synchronized, then throttled to the slowest
/// copy parameters (100 chunks, then 100 s of pause) with a full copy
/// running: after its first burst the copy pauses.
fn throttled_copy(env: &Env) -> (Engine, std::path::PathBuf) {
    let size = 2048 * CH;
    let m = env.vol_rand("m", size, 21);
    let s = env.vol("s", size, 0);
    let b = env.vol("b", 256 << 10, 0);
    let e = env.open();
    e.enable_set(spec(&m, &s, &b, SetKind::Independent))
        .unwrap();
    wait_done(&e, &s);
    e.set_copy_params(&s, 10000, 100).unwrap();
    e.copy(&s, Direction::ToShadow, CopyMode::Full).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let i = e.set_info(&s).unwrap();
    assert_eq!(i.state, SetState::Copying, "the throttled copy pauses");
    assert!(i.percent_completed < 50.0, "{}", i.percent_completed);
    (e, s)
}

/// New copy parameters wake a pausing copy; it ends within 5 s.
fn speed_up_finishes_soon(e: &Engine, s: &std::path::Path) {
    let t0 = std::time::Instant::now();
    e.set_copy_params(s, 2, 60000).unwrap();
    assert!(
        e.wait(s, Some(Duration::from_secs(5))).unwrap(),
        "the copy still pauses {:?} after the change",
        t0.elapsed()
    );
    assert_eq!(e.set_info(s).unwrap().percent_completed, 100.0);
}

#[test]
fn new_copy_parameters_wake_a_pausing_copy() {
    let env = Env::new();
    let (e, s) = throttled_copy(&env);
    speed_up_finishes_soon(&e, &s);
}

#[test]
fn new_copy_parameters_apply_after_suspend_and_resume() {
    let env = Env::new();
    let (e, s) = throttled_copy(&env);
    e.suspend(&s).unwrap();
    e.resume(&s).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(e.set_info(&s).unwrap().state, SetState::Copying);
    speed_up_finishes_soon(&e, &s);
}

#[test]
fn new_copy_parameters_apply_to_a_copy_resumed_after_restart() {
    let env = Env::new();
    let (e, s) = throttled_copy(&env);
    e.shutdown();
    drop(e);
    let e = env.open();
    std::thread::sleep(Duration::from_millis(200));
    let i = e.set_info(&s).unwrap();
    assert_eq!(i.state, SetState::Copying, "the interrupted copy resumes");
    assert!(i.percent_completed < 100.0);
    speed_up_finishes_soon(&e, &s);
}

#[test]
fn job_end_waits_without_a_thread_and_leaves_nothing_when_dropped() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let env = Env::new();
    let (e, s) = throttled_copy(&env);
    let mut cx = Context::from_waker(Waker::noop());
    let mut a = Box::pin(e.job_end(&s).unwrap());
    let mut b = Box::pin(e.job_end(&s).unwrap());
    assert_eq!(a.as_mut().poll(&mut cx), Poll::Pending);
    assert_eq!(b.as_mut().poll(&mut cx), Poll::Pending);
    assert_eq!(a.as_mut().poll(&mut cx), Poll::Pending, "polled again");
    assert_eq!(e.job_waiters(&s).unwrap(), 2);
    drop(a);
    assert_eq!(e.job_waiters(&s).unwrap(), 1, "a dropped wait is gone");
    e.abort(&s).unwrap();
    assert_eq!(e.job_waiters(&s).unwrap(), 0, "the job's end wakes all");
    assert_eq!(b.as_mut().poll(&mut cx), Poll::Ready(()));
    let mut c = Box::pin(e.job_end(&s).unwrap());
    assert_eq!(c.as_mut().poll(&mut cx), Poll::Ready(()), "nothing runs");
}
