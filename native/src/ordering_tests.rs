//! Write-ordering tests (imaging.md §3.6, FORMAT.md §1.3): the I/O trace of
//! host writes and copies must put copy-on-write data, its sync, the bitmap
//! page and its sync strictly before the host data, and a target sync before
//! copy bits are cleared on disk.

use crate::volume::trace::{self, Op};
use crate::*;
use std::path::{Path, PathBuf};

/// The trace is process-wide: these tests take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn vol(dir: &Path, name: &str, size: usize, fill: u8) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, vec![fill; size]).unwrap();
    p
}

fn pos(t: &[(PathBuf, Op)], f: impl Fn(&(PathBuf, Op)) -> bool) -> usize {
    t.iter()
        .position(f)
        .unwrap_or_else(|| panic!("event missing from trace {t:#?}"))
}

#[test]
fn copy_on_write_is_durable_before_host_data() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let ch = CHUNK_SIZE as usize;
    let m = vol(&dir, "m", 16 * ch, 1);
    let s = vol(&dir, "s", 16 * ch, 0);
    let b = vol(&dir, "b", 64 << 10, 0);
    let e = Engine::open(EngineConfig::new(dir.join("state"), vec![dir.clone()])).unwrap();
    e.enable_set(SetSpec {
        master: m.clone(),
        shadow: s.clone(),
        bitmap: b.clone(),
        kind: SetKind::Dependent,
        name: None,
        group: None,
        overflow: None,
    })
    .unwrap();
    let md = e.device(&m).unwrap();
    trace::start(&dir);
    md.write_at(&[9u8; 100], 3 * ch as u64 + 5, false).unwrap();
    let t = trace::take();
    let cow = pos(&t, |(p, o)| {
        p == &s && matches!(o, Op::Write(off, _) if *off == 3 * ch as u64)
    });
    let cow_sync = pos(&t, |(p, o)| p == &s && *o == Op::Sync);
    let bits = pos(&t, |(p, o)| p == &b && matches!(o, Op::Write(..)));
    let bits_sync = pos(&t, |(p, o)| p == &b && *o == Op::Sync);
    let host = pos(&t, |(p, o)| p == &m && matches!(o, Op::Write(..)));
    assert!(
        cow < cow_sync && cow_sync < bits && bits < bits_sync && bits_sync < host,
        "{t:#?}"
    );
    // A second write to the same chunk needs no copy and no bitmap I/O.
    trace::start(&dir);
    md.write_at(&[8u8; 10], 3 * ch as u64, false).unwrap();
    let t = trace::take();
    assert_eq!(t.len(), 1, "{t:#?}");
}

#[test]
fn copy_bits_clear_after_target_sync() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let ch = CHUNK_SIZE as usize;
    let m = vol(&dir, "m", 40 * ch, 1);
    let s = vol(&dir, "s", 40 * ch, 0);
    let b = vol(&dir, "b", 64 << 10, 0);
    let e = Engine::open(EngineConfig::new(dir.join("state"), vec![dir.clone()])).unwrap();
    trace::start(&dir);
    e.enable_set(SetSpec {
        master: m.clone(),
        shadow: s.clone(),
        bitmap: b.clone(),
        kind: SetKind::Independent,
        name: None,
        group: None,
        overflow: None,
    })
    .unwrap();
    assert!(e.wait(&s, None).unwrap());
    let t = trace::take();
    // Enable: bitmaps, then the header (the last write before the copy).
    let target_sync = pos(&t, |(p, o)| p == &s && *o == Op::Sync);
    let copy_region = 8192 + 4096; // one bitmap page per region at this size
    let clear = t
        .iter()
        .rposition(|(p, o)| p == &b && matches!(o, Op::Write(off, _) if *off == copy_region))
        .unwrap();
    assert!(target_sync < clear, "{t:#?}");
    assert_eq!(std::fs::read(&m).unwrap(), std::fs::read(&s).unwrap());
}
