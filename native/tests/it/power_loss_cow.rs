//! Power-loss suite for the parallel copy-on-write commit (FORMAT.md §1.5):
//! one full-size dependent set whose bitmap volume has a copy-on-write log,
//! written by three client threads at once (master writes, shadow writes,
//! flushes, FUA), with a dependent update (a new point in time) between two
//! phases. Cuts land at random trace points and, on purpose, inside the
//! window of the parallel commit: right before the shadow's or the bitmap
//! volume's sync is recorded, so one of the pair may be durable and the
//! other not. An engine reopened on each image must show:
//!
//! * no acknowledged-and-flushed write lost on the master;
//! * the shadow holding its point in time (of the phase the cut falls in;
//!   either one during the update) plus the flushed shadow writes;
//! * the set trusted unless the image tore a page.
//!
//! CI runs a few cuts; `NATIVE_LONG=1` runs 20 workloads of 60 cuts each.

use super::power_support::{open_engine, Logical, Written};
use native::storage::{Event, Tearing, Trace};
use native::*;
use rand::prelude::*;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const CH: usize = CHUNK_SIZE as usize;
const CHUNKS: usize = 16;
const THREADS: usize = 3;

struct Rig {
    _tmp: tempfile::TempDir,
    top: PathBuf,
    vols: PathBuf,
    master: PathBuf,
    shadow: PathBuf,
    bitmap: PathBuf,
}

impl Rig {
    fn new(seed: u64) -> Rig {
        let tmp = tempfile::tempdir().unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        let vols = top.join("vols");
        std::fs::create_dir_all(&vols).unwrap();
        let master = vols.join("m");
        let mut body = vec![0u8; CHUNKS * CH];
        StdRng::seed_from_u64(seed).fill_bytes(&mut body);
        std::fs::write(&master, body).unwrap();
        let shadow = vols.join("s");
        std::fs::write(&shadow, vec![0u8; CHUNKS * CH]).unwrap();
        // Room for 12 log slots after the 16 KiB of regions.
        let bitmap = vols.join("b");
        std::fs::write(&bitmap, vec![0u8; 64 << 10]).unwrap();
        Rig {
            _tmp: tmp,
            top,
            vols,
            master,
            shadow,
            bitmap,
        }
    }

    fn open(&self) -> Engine {
        open_engine(&self.top, &self.vols, true)
    }

    /// The one dependent set of the rig.
    fn enable(&self, e: &Engine) {
        e.enable_set(SetSpec {
            master: self.master.clone(),
            shadow: self.shadow.clone(),
            bitmap: self.bitmap.clone(),
            kind: SetKind::Dependent,
            ..Default::default()
        })
        .unwrap();
    }
}

/// The client's record: the master, and the shadow of each phase.
struct Workload {
    master: Logical,
    shadow: [Logical; 2],
    /// Trace positions the update between the phases spanned.
    update: (usize, usize),
}

/// The second point in time as a logical volume: the original master
/// content plus the first phase's master writes, each durable from the
/// point a master flush (or its FUA) made it so — the update does not sync
/// the master, so a cut may take back what it never flushed — followed by
/// the second phase's shadow writes.
fn second_point_in_time(master: &Logical, phase0: usize, shadow: Logical) -> Logical {
    let mut v = Logical::new(master.base.clone());
    for w in &master.writes[..phase0] {
        let flushed = master
            .flushes
            .iter()
            .filter(|&&(s, _)| s >= w.end)
            .map(|&(_, e)| e)
            .min();
        let durable_at = if w.fua { Some(w.end) } else { flushed };
        v.writes.push(Written {
            off: w.off,
            len: w.len,
            tag: w.tag,
            fua: durable_at.is_some(),
            start: w.start,
            end: durable_at.unwrap_or(usize::MAX),
        });
    }
    v.writes.extend(shadow.writes);
    v.flushes = shadow.flushes;
    v
}

/// One phase: `THREADS` threads, each on its own chunks (`c % THREADS`).
fn phase(e: &Engine, rig: &Rig, t: &Arc<Trace>, w: &Mutex<Workload>, ph: usize, seed: u64) {
    std::thread::scope(|sc| {
        for k in 0..THREADS {
            let (md, sd) = (
                e.device(&rig.master).unwrap(),
                e.device(&rig.shadow).unwrap(),
            );
            sc.spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed * 7 + k as u64);
                for step in 0..20u64 {
                    let tag = (ph * 100 + k * 30) as u8 + (step % 30) as u8 + 1;
                    let start = t.len();
                    let op = rng.gen_range(0..10);
                    let shadow_side = op >= 7;
                    let dev = if shadow_side { &sd } else { &md };
                    if op % 7 == 6 || op == 9 {
                        dev.flush().unwrap();
                        let mut w = w.lock().unwrap();
                        let l = if shadow_side {
                            &mut w.shadow[ph]
                        } else {
                            &mut w.master
                        };
                        l.flushes.push((start, t.len()));
                        continue;
                    }
                    let c = rng.gen_range(0..CHUNKS / THREADS) * THREADS + k;
                    let off_in = rng.gen_range(0..CH - 1);
                    let len = rng.gen_range(1..=CH - off_in);
                    let off = c * CH + off_in;
                    let fua = rng.gen_range(0..4) == 0;
                    dev.write_at(&vec![tag; len], off as u64, fua).unwrap();
                    let mut w = w.lock().unwrap();
                    let l = if shadow_side {
                        &mut w.shadow[ph]
                    } else {
                        &mut w.master
                    };
                    l.writes.push(Written {
                        off,
                        len,
                        tag,
                        fua,
                        start,
                        end: t.len(),
                    });
                }
            });
        }
    });
}

fn run(rig: &Rig, seed: u64) -> (Arc<Trace>, Workload) {
    let e = rig.open();
    rig.enable(&e);
    let base = std::fs::read(&rig.master).unwrap();
    let w = Mutex::new(Workload {
        master: Logical::new(base.clone()),
        shadow: [Logical::new(base), Logical::new(Vec::new())],
        update: (0, 0),
    });
    let t = Trace::start(&rig.top).unwrap();
    phase(&e, rig, &t, &w, 0, seed);
    let phase0 = {
        let mut w = w.lock().unwrap();
        let start = t.len();
        e.copy(&rig.shadow, Direction::ToShadow, CopyMode::Update)
            .unwrap();
        w.update = (start, t.len());
        w.master.writes.len()
    };
    phase(&e, rig, &t, &w, 1, seed + 1);
    t.stop();
    e.shutdown();
    let mut w = w.into_inner().unwrap();
    let second = std::mem::replace(&mut w.shadow[1], Logical::new(Vec::new()));
    w.shadow[1] = second_point_in_time(&w.master, phase0, second);
    (t, w)
}

/// Cut points inside the parallel commit's window: every sync of the
/// shadow or the bitmap volume, cut right before it was recorded.
fn window_cuts(t: &Trace, rig: &Rig) -> Vec<usize> {
    t.events()
        .iter()
        .enumerate()
        .filter(|(_, ev)| {
            matches!(ev, Event::Sync { path, .. } if path == &rig.shadow || path == &rig.bitmap)
        })
        .map(|(i, _)| i)
        .collect()
}

fn check_cut(rig: &Rig, t: &Trace, w: &Workload, cut: usize, seed: u64) -> bool {
    let tearing = [Tearing::Whole, Tearing::Sectors, Tearing::DropAll][(seed % 3) as usize];
    t.image(cut, seed, tearing).restore().unwrap();
    let ctx = format!("cut {cut} of {} ({tearing:?}, seed {seed})", t.len());
    let master = std::fs::read(&rig.master).unwrap();
    if let Err(err) = w.master.check(&master, cut) {
        panic!("{ctx}: master lost a flushed write: {err}");
    }
    let e = rig.open();
    let info = e.set_info(&rig.shadow).unwrap();
    if info.state == SetState::Offline || info.status == Status::Error {
        assert_eq!(tearing, Tearing::Sectors, "{ctx}: set distrusted: {info:?}");
        return false;
    }
    let mut got = vec![0u8; CHUNKS * CH];
    e.device(&rig.shadow)
        .unwrap()
        .read_at(&mut got, 0)
        .unwrap_or_else(|err| panic!("{ctx}: {err}"));
    let (us, ue) = w.update;
    let r = if cut <= us {
        w.shadow[0].check(&got, cut)
    } else if cut >= ue {
        w.shadow[1].check(&got, cut)
    } else {
        w.shadow[0]
            .check(&got, cut)
            .or_else(|_| w.shadow[1].check(&got, cut))
    };
    if let Err(err) = r {
        panic!("{ctx}: shadow lost its point in time ({info:?}): {err}");
    }
    true
}

fn suite(first: u64, runs: u64, cuts: usize) {
    let began = std::time::Instant::now();
    let (mut done, mut in_window, mut distrusted) = (0, 0, 0);
    for run_no in first..first + runs {
        let seed = 0xC0DE + run_no;
        let rig = Rig::new(seed);
        let (t, w) = run(&rig, seed);
        let n = t.len();
        let mut rng = StdRng::seed_from_u64(seed * 13 + 5);
        let window = window_cuts(&t, &rig);
        assert!(!window.is_empty(), "the workload synced nothing");
        let mut points = vec![n];
        for i in 1..cuts {
            points.push(if i % 2 == 0 {
                rng.gen_range(0..=n)
            } else {
                in_window += 1;
                window[rng.gen_range(0..window.len())]
            });
        }
        for (i, cut) in points.into_iter().enumerate() {
            if !check_cut(&rig, &t, &w, cut, seed + i as u64) {
                distrusted += 1;
            }
            done += 1;
        }
    }
    eprintln!(
        "copy-on-write log power-loss suite, runs {first}..{}: {done} cuts ({in_window} inside the parallel commit's window) in {:.1?}, {distrusted} distrusted",
        first + runs,
        began.elapsed()
    );
    assert_eq!(done, runs as usize * cuts);
}

fn long() -> bool {
    std::env::var_os("NATIVE_LONG").is_some()
}

/// CI: one workload, eight cuts. `NATIVE_LONG=1`: this and the three tests
/// below run five workloads of 60 cuts each (1,200 in all), split so each
/// stays inside the test runner's time limit.
#[test]
fn power_cuts_in_the_parallel_commit_keep_point_in_time_and_flushed_writes() {
    if long() {
        suite(0, 5, 60);
    } else {
        suite(0, 1, 8);
    }
}

#[test]
fn power_cuts_in_the_parallel_commit_long_1() {
    if long() {
        suite(5, 5, 60);
    }
}

#[test]
fn power_cuts_in_the_parallel_commit_long_2() {
    if long() {
        suite(10, 5, 60);
    }
}

#[test]
fn power_cuts_in_the_parallel_commit_long_3() {
    if long() {
        suite(15, 5, 60);
    }
}

/// The log is really used: the bitmap volume's header is version 2 and a
/// first write leaves a record in a log slot.
#[test]
fn dependent_set_gets_a_log_when_its_bitmap_volume_has_room() {
    let rig = Rig::new(1);
    let e = rig.open();
    rig.enable(&e);
    e.device(&rig.master)
        .unwrap()
        .write_at(&[7u8; 512], 5 * CH as u64, false)
        .unwrap();
    let b = std::fs::read(&rig.bitmap).unwrap();
    let version =
        |slot: usize| u32::from_le_bytes(b[slot * 4096 + 8..slot * 4096 + 12].try_into().unwrap());
    assert!(version(0) == 2 || version(1) == 2, "header version 2");
    let log = &b[16384..];
    assert!(
        log.chunks(4096).any(|p| &p[..8] == b"IICOWLG1"),
        "a record in a log slot"
    );
}

/// Rewrites both header slots of a bitmap volume as version 1 (no log), as
/// an engine before the log wrote them.
fn downgrade_to_version_1(bitmap: &std::path::Path) {
    let mut b = std::fs::read(bitmap).unwrap();
    for slot in 0..2 {
        let h = &mut b[slot * 4096..(slot + 1) * 4096];
        h[8..12].copy_from_slice(&1u32.to_le_bytes());
        h[4080..4092].fill(0);
        let crc = crc32fast_hash(&h[..4092]);
        h[4092..].copy_from_slice(&crc.to_le_bytes());
    }
    // Log slots were unused space in version 1.
    b[16384..].fill(0);
    std::fs::write(bitmap, b).unwrap();
}

/// CRC-32 (IEEE), bitwise: the test needs no checksum crate.
fn crc32fast_hash(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A version 1 bitmap volume opens unchanged (bits and point in time kept)
/// and is upgraded to version 2 with a log.
#[test]
fn version_1_bitmap_volume_opens_and_gets_a_log() {
    let rig = Rig::new(2);
    let pit = std::fs::read(&rig.master).unwrap();
    {
        let e = rig.open();
        rig.enable(&e);
        let md = e.device(&rig.master).unwrap();
        for c in [1u64, 4, 9] {
            md.write_at(&[0xEE; 100], c * CH as u64, false).unwrap();
        }
        e.shutdown();
    }
    downgrade_to_version_1(&rig.bitmap);
    let e = rig.open();
    let info = e.set_info(&rig.shadow).unwrap();
    assert_eq!(info.state, SetState::Idle, "{info:?}");
    assert_eq!(info.shadow_bits, 3, "bits of the version 1 volume kept");
    let mut got = vec![0u8; CHUNKS * CH];
    e.device(&rig.shadow).unwrap().read_at(&mut got, 0).unwrap();
    assert!(got == pit, "point in time kept");
    let b = std::fs::read(&rig.bitmap).unwrap();
    let version =
        |slot: usize| u32::from_le_bytes(b[slot * 4096 + 8..slot * 4096 + 12].try_into().unwrap());
    assert!(version(0) == 2 || version(1) == 2, "upgraded at open");
}
