//! Mirror (continuous copy) scenarios on the engine API: sync writes on the
//! secondary, update sync copying exactly the logged chunks, async backlog
//! with block/noblock, reverse sync, consistency groups, link loss
//! policies and autosync, split brain, protectTarget, refusals that leave
//! nothing behind, and persistence across a reopen.

use crate::common::*;
use crate::mirror_support::*;
use native::mirror::*;
use native::*;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIZE: usize = 64 * CH + 1000;

fn wait(e: &Engine, p: &Path) -> bool {
    e.mirror_wait(p, Some(Duration::from_secs(20))).unwrap()
}

/// Enables a mirror and brings it in step with a full sync.
fn enable_synced(e: &Engine, sp: MirrorSpec) {
    let p = sp.primary.clone();
    e.enable_mirror(sp).unwrap();
    e.mirror_sync(&p, SyncKind::Full, SyncDirection::Forward)
        .unwrap();
    assert!(wait(e, &p));
}

#[test]
fn sync_writes_are_on_the_secondary_when_acknowledged() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 1);
    let s = env.vol("s", SIZE + 4096, 0);
    let sb = env.vol("sb", 64 << 10, 0);
    let e = env.open();
    let info = e
        .enable_mirror(mspec(&p, Secondary::Local(s.clone()), &sb))
        .unwrap();
    assert_eq!(info.state, MirrorState::NeedSync);
    assert_eq!(info.dirty_chunks, 65);
    e.mirror_sync(&p, SyncKind::Full, SyncDirection::Forward)
        .unwrap();
    assert!(wait(&e, &p));
    let i = e.mirror_info(&p).unwrap();
    assert_eq!(i.state, MirrorState::Replicating);
    assert_eq!(i.dirty_chunks, 0);
    assert_eq!(i.percent_synchronized, 100.0);
    assert!(i.when_synchronized.is_some());
    let d = dev(&e, &p);
    for k in 0..50u64 {
        let off = (k * 7919 * 13) % (SIZE as u64 - 5000);
        let data = pattern(k + 100, 1 + (k as usize * 37) % 4000);
        d.write_at(&data, off, k % 5 == 0).unwrap();
        // Acknowledged → on the secondary already.
        let mut back = vec![0u8; data.len()];
        std::fs::File::open(&s)
            .and_then(|f| {
                use std::os::unix::fs::FileExt;
                f.read_exact_at(&mut back, off)
            })
            .unwrap();
        assert_eq!(back, data, "write {k} at {off} not on the secondary");
    }
    d.flush().unwrap();
    assert!(wait(&e, &p));
    assert_eq!(e.mirror_info(&p).unwrap().dirty_chunks, 0);
    let sec = std::fs::read(&s).unwrap();
    assert_eq!(&sec[..SIZE], &std::fs::read(&p).unwrap()[..]);
    // The secondary is written by the mirror only.
    assert!(matches!(
        e.device(&s).err(),
        Some(Error::PermissionDenied { .. })
    ));
    assert!(e
        .volumes()
        .iter()
        .any(|v| v.path == s && v.used_by.starts_with("secondary of mirror")));
}

#[test]
fn update_sync_copies_exactly_the_logged_chunks() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 2);
    let sfile = env.dir.path().join("remote-s");
    std::fs::copy(&p, &sfile).unwrap();
    let sb = env.vol("sb", 64 << 10, 0);
    let sw = Arc::new(Switches::default());
    let e = open_with(&env.state, &env.root, &sw);
    let mut sp = mspec(&p, remote(&sfile), &sb);
    sp.volumes_equal = true;
    assert_eq!(e.enable_mirror(sp).unwrap().state, MirrorState::Replicating);
    e.mirror_logging(&p).unwrap();
    assert_eq!(e.mirror_info(&p).unwrap().state, MirrorState::Logging);
    let d = dev(&e, &p);
    let logged = [3u64, 9, 10, 40, 64];
    for (i, c) in logged.iter().enumerate() {
        let len = if *c == 64 { 1000 } else { 5000 };
        d.write_at(&pattern(i as u64 + 7, len), c * CHUNK_SIZE, false)
            .unwrap();
    }
    // Twice the same chunk, and a write spanning 9 and 10.
    d.write_at(&pattern(99, 200), 3 * CHUNK_SIZE + 100, false)
        .unwrap();
    d.write_at(&pattern(98, 300), 10 * CHUNK_SIZE - 100, false)
        .unwrap();
    assert_eq!(sw.writes.load(Ordering::SeqCst), 0, "logging sends nothing");
    let i = e.mirror_info(&p).unwrap();
    assert_eq!(i.dirty_chunks, 5);
    assert_eq!(i.bytes_behind, 4 * CHUNK_SIZE + 1000);
    e.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
        .unwrap();
    assert!(wait(&e, &p));
    let mut copied = sw.chunks.lock().unwrap().clone();
    copied.sort_unstable();
    assert_eq!(copied, logged.to_vec(), "exactly the logged chunks");
    assert_eq!(std::fs::read(&sfile).unwrap(), std::fs::read(&p).unwrap());
}

#[test]
fn async_backlog_and_queue_full_policies() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 3);
    let sfile = env.dir.path().join("remote-s");
    std::fs::copy(&p, &sfile).unwrap();
    let sb = env.vol("sb", 64 << 10, 0);
    let sw = Arc::new(Switches::default());
    let e = open_with(&env.state, &env.root, &sw);
    let mut sp = mspec(&p, remote(&sfile), &sb);
    sp.volumes_equal = true;
    sp.mode = MirrorMode::Async;
    sp.options.queue_writes = 8;
    sp.options.link_timeout = Duration::from_secs(30);
    e.enable_mirror(sp).unwrap();
    let d = dev(&e, &p);
    sw.paused.store(true, Ordering::SeqCst);
    for k in 0..6u64 {
        d.write_at(&pattern(k, 4096), k * CHUNK_SIZE * 2, false)
            .unwrap();
    }
    // Acknowledged at once; the backlog is visible.
    assert!(eventually(5, || e.mirror_info(&p).unwrap().queue_depth == 6));
    let i = e.mirror_info(&p).unwrap();
    assert_eq!(i.bytes_behind, 6 * 4096);
    assert_eq!(i.state, MirrorState::Replicating);
    // block: the 9th write stalls until the queue drains.
    let (d2, started) = (d.clone(), Instant::now());
    d.write_at(&pattern(50, 4096), 20 * CHUNK_SIZE, false)
        .unwrap();
    d.write_at(&pattern(51, 4096), 22 * CHUNK_SIZE, false)
        .unwrap();
    let t = std::thread::spawn(move || {
        d2.write_at(&pattern(52, 4096), 24 * CHUNK_SIZE, false)
            .unwrap();
        started.elapsed()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.is_finished(), "a full queue under block stalls writers");
    sw.resume();
    assert!(t.join().unwrap() >= Duration::from_millis(250));
    assert!(wait(&e, &p));
    assert_eq!(std::fs::read(&sfile).unwrap(), std::fs::read(&p).unwrap());
    // noblock: a full queue drops the mirror to logging; writes go on.
    let mut o = e.mirror_info(&p).unwrap().options;
    o.queue_full = QueueFull::Noblock;
    e.mirror_set_options(&p, o).unwrap();
    sw.paused.store(true, Ordering::SeqCst);
    for k in 0..10u64 {
        d.write_at(&pattern(k + 200, 4096), k * CHUNK_SIZE, false)
            .unwrap();
    }
    assert_eq!(e.mirror_info(&p).unwrap().state, MirrorState::Logging);
    sw.resume();
    // Switch to sync while running, update-sync and compare.
    e.mirror_set_mode(&p, MirrorMode::Sync).unwrap();
    e.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
        .unwrap();
    assert!(wait(&e, &p));
    assert_eq!(e.mirror_info(&p).unwrap().mode, MirrorMode::Sync);
    assert_eq!(std::fs::read(&sfile).unwrap(), std::fs::read(&p).unwrap());
}

#[test]
fn reverse_sync_restores_the_primary() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 4);
    let s = env.vol("s", SIZE, 0);
    let sb = env.vol("sb", 64 << 10, 0);
    let e = env.open();
    enable_synced(&e, mspec(&p, Secondary::Local(s.clone()), &sb));
    let good = std::fs::read(&p).unwrap();
    e.mirror_logging(&p).unwrap();
    let d = dev(&e, &p);
    d.write_at(&pattern(9, 3 * CH), 5 * CHUNK_SIZE + 10, false)
        .unwrap();
    d.write_at(&pattern(8, 100), 60 * CHUNK_SIZE, false)
        .unwrap();
    assert_ne!(std::fs::read(&p).unwrap(), good);
    e.mirror_sync(&p, SyncKind::Update, SyncDirection::Reverse)
        .unwrap();
    assert!(wait(&e, &p));
    assert_eq!(std::fs::read(&p).unwrap(), good);
    assert_eq!(e.mirror_info(&p).unwrap().state, MirrorState::Replicating);
    // A full reverse sync too.
    e.mirror_logging(&p).unwrap();
    d.write_at(&pattern(7, 100), 0, false).unwrap();
    e.mirror_sync(&p, SyncKind::Full, SyncDirection::Reverse)
        .unwrap();
    assert!(wait(&e, &p));
    assert_eq!(std::fs::read(&p).unwrap(), good);
}

#[test]
fn group_members_drop_to_logging_together() {
    let env = Env::new();
    let (pa, pb) = (env.vol_rand("pa", SIZE, 5), env.vol_rand("pb", SIZE, 6));
    let sa = env.vol("sa", SIZE, 0);
    let sfile = env.dir.path().join("remote-b");
    std::fs::write(&sfile, vec![0u8; SIZE]).unwrap();
    let (sba, sbb) = (env.vol("sba", 64 << 10, 0), env.vol("sbb", 64 << 10, 0));
    let sw = Arc::new(Switches::default());
    let e = open_with(&env.state, &env.root, &sw);
    let mut a = mspec(&pa, Secondary::Local(sa.clone()), &sba);
    a.group = Some("g".into());
    let mut b = mspec(&pb, remote(&sfile), &sbb);
    b.group = Some("g".into());
    b.options.link_timeout = Duration::from_millis(500);
    e.enable_mirror(a).unwrap();
    e.enable_mirror(b).unwrap();
    for p in [&pa, &pb] {
        e.mirror_sync(p, SyncKind::Full, SyncDirection::Forward)
            .unwrap();
        assert!(wait(&e, p));
    }
    let events = e.subscribe();
    sw.cut.store(true, Ordering::SeqCst);
    let (da, db) = (dev(&e, &pa), dev(&e, &pb));
    // B's write meets the cut link: acknowledged (logging policy), and by
    // then A is logging too, so A's next write stays on the primary.
    db.write_at(&pattern(1, 100), 0, false).unwrap();
    assert_eq!(e.mirror_info(&pa).unwrap().state, MirrorState::Logging);
    assert_eq!(e.mirror_info(&pb).unwrap().state, MirrorState::Logging);
    assert_eq!(e.mirror_info(&pb).unwrap().link, LinkState::Down);
    let before = std::fs::read(&sa).unwrap();
    da.write_at(&pattern(2, 100), 0, false).unwrap();
    assert_eq!(std::fs::read(&sa).unwrap(), before);
    assert_eq!(e.mirror_info(&pa).unwrap().dirty_chunks, 1);
    let evs: Vec<EngineEvent> = events.try_iter().collect();
    assert!(evs
        .iter()
        .any(|ev| matches!(ev, EngineEvent::MirrorAlert { link_lost: true, primary, .. } if *primary == pb)));
    assert!(evs
        .iter()
        .any(|ev| matches!(ev, EngineEvent::MirrorModified { primary } if *primary == pa)));
}

#[test]
fn link_loss_policies_timeout_and_autosync() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 7);
    let sfile = env.dir.path().join("remote-s");
    std::fs::copy(&p, &sfile).unwrap();
    let sb = env.vol("sb", 64 << 10, 0);
    let sw = Arc::new(Switches::default());
    let e = open_with(&env.state, &env.root, &sw);
    let mut sp = mspec(&p, remote(&sfile), &sb);
    sp.volumes_equal = true;
    sp.options.link_timeout = Duration::from_millis(400);
    e.enable_mirror(sp).unwrap();
    let d = dev(&e, &p);
    // A hanging link: the sync write stops waiting after link_timeout.
    sw.hang.store(true, Ordering::SeqCst);
    let t = Instant::now();
    d.write_at(&pattern(1, 100), 0, false).unwrap();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(350), "{took:?}");
    assert!(took <= Duration::from_millis(1400), "{took:?}");
    assert_eq!(e.mirror_info(&p).unwrap().state, MirrorState::Logging);
    // Writes keep flowing, tracked.
    d.write_at(&pattern(2, 100), CHUNK_SIZE, false).unwrap();
    assert_eq!(e.mirror_info(&p).unwrap().dirty_chunks, 2);
    sw.hang.store(false, Ordering::SeqCst);
    // Freeze: host writes fail with EIO until the operator acts.
    let mut o = e.mirror_info(&p).unwrap().options;
    o.link_policy = LinkPolicy::Freeze;
    e.mirror_set_options(&p, o.clone()).unwrap();
    e.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
        .unwrap();
    assert!(wait(&e, &p));
    sw.cut.store(true, Ordering::SeqCst);
    let err = d.write_at(&pattern(3, 100), 0, false).unwrap_err();
    assert_eq!(err.errno(), 5, "{err}");
    let err = d.write_at(&pattern(4, 100), 0, false).unwrap_err();
    assert_eq!(err.errno(), 5, "{err}");
    e.mirror_logging(&p).unwrap();
    d.write_at(&pattern(5, 100), 0, false).unwrap();
    // Autosync: when the link returns, an update sync brings it in step.
    o.link_policy = LinkPolicy::Logging;
    o.autosync = true;
    e.mirror_set_options(&p, o).unwrap();
    e.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
        .unwrap_err();
    d.write_at(&pattern(6, 100), 2 * CHUNK_SIZE, false).unwrap();
    sw.cut.store(false, Ordering::SeqCst);
    // Autosync runs once a link loss is seen; the failed sync above was one.
    assert!(eventually(15, || e.mirror_info(&p).unwrap().state
        == MirrorState::Replicating));
    assert!(wait(&e, &p));
    assert_eq!(std::fs::read(&sfile).unwrap(), std::fs::read(&p).unwrap());
}

#[test]
fn split_brain_waits_for_an_operator() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 8);
    let s = env.vol("s", SIZE, 0);
    let sb = env.vol("sb", 64 << 10, 0);
    let e = env.open();
    let mut sp = mspec(&p, Secondary::Local(s.clone()), &sb);
    sp.options.autosync = true;
    enable_synced(&e, sp);
    e.mirror_logging(&p).unwrap();
    dev(&e, &p).write_at(&pattern(1, 10), 0, false).unwrap();
    // The other side was written too (chunks 5 and 6 there).
    let i = e.mirror_merge_peer(&p, &[5, 6]).unwrap();
    assert_eq!(i.state, MirrorState::NeedSync);
    assert!(i.last_error.unwrap().contains("split brain"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(e.mirror_info(&p).unwrap().state, MirrorState::NeedSync);
    // Both scoreboards survive a restart.
    drop(e);
    let e = env.open();
    assert_eq!(e.mirror_info(&p).unwrap().state, MirrorState::NeedSync);
    assert_eq!(e.mirror_info(&p).unwrap().dirty_chunks, 1);
    assert!(e.mirror_info(&p).unwrap().percent_synchronized < 100.0);
    // The operator picks the primary: chunks 0, 5, 6 are copied.
    e.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
        .unwrap();
    assert!(wait(&e, &p));
    assert_eq!(std::fs::read(&s).unwrap(), std::fs::read(&p).unwrap());
}

#[test]
fn protect_target_snapshots_the_secondary_during_a_resync() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 9);
    let s = env.vol("s", SIZE, 0);
    let sb = env.vol("sb", 64 << 10, 0);
    let e = env.open();
    let mut sp = mspec(&p, Secondary::Local(s.clone()), &sb);
    sp.options.protect_target = true;
    e.enable_mirror(sp).unwrap();
    let (shadow, _) = e.protect_paths(&s).unwrap();
    e.mirror_sync(&p, SyncKind::Full, SyncDirection::Forward)
        .unwrap();
    assert!(wait(&e, &p));
    assert!(
        eventually(5, || e.sets().is_empty() && !shadow.exists()),
        "dropped once in step"
    );
    // Remote: the link factory is asked.
    let sfile = env.dir.path().join("remote-s");
    std::fs::copy(&p, &sfile).unwrap();
    let p2 = env.vol_rand("p2", SIZE, 10);
    let sb2 = env.vol("sb2", 64 << 10, 0);
    drop(e);
    let sw = Arc::new(Switches::default());
    let e = open_with(&env.state, &env.root, &sw);
    let mut sp = mspec(&p2, remote(&sfile), &sb2);
    sp.options.protect_target = true;
    enable_synced(&e, sp);
    assert_eq!(sw.protects.load(Ordering::SeqCst), 1);
    assert!(eventually(5, || sw.unprotects.load(Ordering::SeqCst) == 1));
}

#[test]
fn a_local_protect_snapshot_keeps_the_pre_resync_secondary() {
    // The protect set is an ordinary dependent set of the secondary: it
    // keeps the old content while the mirror writes the secondary.
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 11);
    let s = env.vol_rand("s", SIZE, 12);
    let old = std::fs::read(&s).unwrap();
    let sb = env.vol("sb", 64 << 10, 0);
    let e = env.open();
    let mut sp = mspec(&p, Secondary::Local(s.clone()), &sb);
    sp.options.protect_target = true;
    sp.group = Some("pg".into());
    e.enable_mirror(sp).unwrap();
    // Stop the sync at once by dropping the group to logging from another
    // thread while it runs; whether or not it finished, a snapshot taken
    // must read the old secondary.
    e.mirror_sync(&p, SyncKind::Full, SyncDirection::Forward)
        .unwrap();
    e.mirror_logging(&p).unwrap();
    let (shadow, _) = e.protect_paths(&s).unwrap();
    if e.set_info(&shadow).is_ok() {
        let snap = read_all(&dev(&e, &shadow));
        assert_eq!(snap, old);
    }
}

#[test]
fn refusals_leave_nothing_behind() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 13);
    let small = env.vol("small", SIZE - 1, 0);
    let s = env.vol("s", SIZE, 0);
    let s2 = env.vol("s2", SIZE, 0);
    let sb = env.vol("sb", 64 << 10, 0);
    let tiny = env.vol("tiny", 4096, 0);
    let outside = env.dir.path().join("outside");
    std::fs::write(&outside, vec![0u8; SIZE]).unwrap();
    let e = env.open();
    let before = std::fs::read(&sb).unwrap();
    let err = e
        .enable_mirror(mspec(&p, Secondary::Local(small.clone()), &sb))
        .unwrap_err();
    assert!(err.to_string().contains("fewer than the primary"), "{err}");
    let err = e
        .enable_mirror(mspec(&p, Secondary::Local(outside.clone()), &sb))
        .unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err}");
    let err = e
        .enable_mirror(mspec(&p, Secondary::Local(s.clone()), &tiny))
        .unwrap_err();
    assert!(
        err.to_string().contains("scoreboard volume too small"),
        "{err}"
    );
    let err = e
        .enable_mirror(mspec(&p, remote(&outside), &sb))
        .unwrap_err();
    assert!(err.to_string().contains("link factory"), "{err}");
    assert_eq!(std::fs::read(&sb).unwrap(), before, "scoreboard untouched");
    assert!(e.mirrors().is_empty());
    // Scoreboard in use as a set's bitmap; secondary already a target.
    let (m2, sh2, bm2) = (
        env.vol_rand("m2", SIZE, 1),
        env.vol("sh2", SIZE, 0),
        env.vol("bm2", 64 << 10, 0),
    );
    e.enable_set(spec(&m2, &sh2, &bm2, SetKind::Dependent))
        .unwrap();
    let err = e
        .enable_mirror(mspec(&p, Secondary::Local(s.clone()), &bm2))
        .unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "{err}");
    e.enable_mirror(mspec(&p, Secondary::Local(s.clone()), &sb))
        .unwrap();
    let p3 = env.vol_rand("p3", SIZE, 14);
    let sb3 = env.vol("sb3", 64 << 10, 0);
    let err = e
        .enable_mirror(mspec(&p3, Secondary::Local(s.clone()), &sb3))
        .unwrap_err();
    assert!(
        err.to_string().contains("target of one mirror only"),
        "{err}"
    );
    let err = e
        .enable_mirror(mspec(&p, Secondary::Local(s2.clone()), &sb3))
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    // A primary that is the shadow of a set in the middle of a copy.
    let (m4, sh4, bm4) = (
        env.vol_rand("m4", 4 << 20, 1),
        env.vol("sh4", 4 << 20, 0),
        env.vol("bm4", 64 << 10, 0),
    );
    let mut ind = spec(&m4, &sh4, &bm4, SetKind::Independent);
    ind.copy_delay = Some(10000);
    ind.copy_units = Some(100);
    e.enable_set(ind).unwrap();
    let err = e
        .enable_mirror(mspec(&sh4, Secondary::Local(s2.clone()), &sb3))
        .unwrap_err();
    assert!(err.to_string().contains("while set"), "{err}");
    assert_eq!(e.mirrors().len(), 1);
    // Disable and reuse.
    e.disable_mirror(&p).unwrap();
    assert!(e.mirrors().is_empty());
    e.enable_mirror(mspec(&p3, Secondary::Local(s.clone()), &sb3))
        .unwrap();
}

#[test]
fn a_mirrored_master_keeps_copy_on_write() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 15);
    let orig = std::fs::read(&p).unwrap();
    let (sh, bm) = (env.vol("sh", SIZE, 0), env.vol("bm", 64 << 10, 0));
    let s = env.vol("s", SIZE, 0);
    let sb = env.vol("sb", 64 << 10, 0);
    let e = env.open();
    e.enable_mirror(mspec(&p, Secondary::Local(s.clone()), &sb))
        .unwrap();
    e.enable_set(spec(&p, &sh, &bm, SetKind::Dependent))
        .unwrap();
    e.mirror_sync(&p, SyncKind::Full, SyncDirection::Forward)
        .unwrap();
    assert!(wait(&e, &p));
    let d = dev(&e, &p);
    d.write_at(&pattern(3, 3 * CH), 100, false).unwrap();
    assert_eq!(read_all(&dev(&e, &sh)), orig, "the shadow kept its PIT");
    assert_eq!(std::fs::read(&s).unwrap(), std::fs::read(&p).unwrap());
    // A copy into the mirrored master would bypass the mirror.
    let err = e
        .copy(&sh, Direction::ToMaster, CopyMode::Full)
        .unwrap_err();
    assert!(err.to_string().contains("bypass the mirror"), "{err}");
}

#[test]
fn restored_mirrors_never_claim_replicating() {
    let env = Env::new();
    let p = env.vol_rand("p", SIZE, 16);
    let s = env.vol("s", SIZE, 0);
    let sb = env.vol("sb", 64 << 10, 0);
    let e = env.open();
    let mut sp = mspec(&p, Secondary::Local(s.clone()), &sb);
    sp.mode = MirrorMode::Async;
    sp.group = Some("g1".into());
    enable_synced(&e, sp);
    drop(e);
    let e = env.open();
    let i = e.mirror_info(&p).unwrap();
    assert_eq!(i.state, MirrorState::Logging);
    assert_eq!(i.mode, MirrorMode::Async);
    assert_eq!(i.group.as_deref(), Some("g1"));
    assert!(i.when_synchronized.is_some());
    e.mirror_sync(&p, SyncKind::Update, SyncDirection::Forward)
        .unwrap();
    assert!(wait(&e, &p));
    let d = dev(&e, &p);
    d.write_at(&pattern(1, 5000), 7, false).unwrap();
    assert!(wait(&e, &p));
    assert_eq!(std::fs::read(&s).unwrap(), std::fs::read(&p).unwrap());
    // Exported through NBD under the primary's name.
    assert!(e.export_names().contains(&p.to_string_lossy().into_owned()));
}
