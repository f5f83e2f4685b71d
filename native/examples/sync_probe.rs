//! The disk's flush ceiling for first writes to a dependent master: how many
//! `fdatasync`s per second this machine completes at each queue depth, and
//! what the copy-on-write commit can reach in the orders the engine knows.
//!
//! ```text
//! cargo run --release -p native --example sync_probe
//! ```
//!
//! For each queue depth (threads) it runs, for `SYNC_PROBE_SECONDS` (default
//! 2) each, on files in `NBD_BENCH_DIR` (default the temporary directory):
//!
//! * `kernel`: every thread writes 4 KiB and calls `fdatasync` itself (the
//!   kernel merges concurrent flushes);
//! * `group`: every thread writes 4 KiB and waits for one committer thread
//!   that syncs whatever is queued (user-space group commit, the design of
//!   dm-snapshot's exception store), with the batch sizes it saw;
//! * `cow serial`: 32 KiB to a "shadow" file, its sync, 4 KiB to a "bitmap"
//!   file, its sync (the serial order);
//! * `cow parallel`: the same two writes, both syncs at once (the log order).
//!
//! It prints operations per second and the median and 99th percentile
//! latency of one operation.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;

fn open(dir: &std::path::Path, name: &str, len: u64) -> std::io::Result<Arc<File>> {
    let p = dir.join(name);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)?;
    // Allocated and durable: the probe measures overwrites, as the engine's.
    f.write_all_at(&vec![1u8; len as usize], 0)?;
    f.sync_all()?;
    Ok(Arc::new(f))
}

/// Runs `op(thread, i)` on `qd` threads for `secs`; returns ops/s and the
/// per-operation latencies (sorted).
fn drive(qd: usize, secs: u64, op: impl Fn(usize, u64) + Sync) -> (f64, Vec<Duration>) {
    let end = Instant::now() + Duration::from_secs(secs);
    let began = Instant::now();
    let lat = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..qd {
            let (op, lat) = (&op, &lat);
            s.spawn(move || {
                let mut mine = Vec::new();
                let mut i = 0;
                while Instant::now() < end {
                    let t0 = Instant::now();
                    op(t, i);
                    mine.push(t0.elapsed());
                    i += 1;
                }
                lat.lock().unwrap().extend(mine);
            });
        }
    });
    let mut lat = lat.into_inner().unwrap();
    lat.sort();
    (lat.len() as f64 / began.elapsed().as_secs_f64(), lat)
}

fn pct(lat: &[Duration], p: f64) -> f64 {
    if lat.is_empty() {
        return 0.0;
    }
    lat[((lat.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6
}

fn row(name: &str, qd: usize, (ops, lat): (f64, Vec<Duration>), extra: &str) {
    println!(
        "{name:<13} QD{qd:<3} {ops:>9.0} ops/s  p50 {:>7.0} us  p99 {:>7.0} us  {extra}",
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
}

/// One committer syncing everything queued; writers wait for their batch.
struct Group {
    state: Mutex<(u64, u64)>, // (tickets issued, tickets durable)
    cv: Condvar,
    batches: Mutex<Vec<u64>>,
}

fn main() -> std::io::Result<()> {
    let secs: u64 = std::env::var("SYNC_PROBE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let dir = match std::env::var_os("NBD_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let data = open(dir.path(), "data", 64 * MIB)?;
    let shadow = open(dir.path(), "shadow", 64 * MIB)?;
    let bitmap = open(dir.path(), "bitmap", MIB)?;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("sync_probe: {secs} s per row, load average {}", load.trim());
    let block = vec![7u8; 4096];
    let chunk = vec![8u8; 32768];
    let slot = |t: usize, i: u64| ((t as u64 * 7919 + i * 131) % (64 * MIB / 32768)) * 32768;
    for qd in [1usize, 2, 4, 8, 16] {
        row(
            "kernel",
            qd,
            drive(qd, secs, |t, i| {
                data.write_all_at(&block, slot(t, i)).unwrap();
                data.sync_data().unwrap();
            }),
            "",
        );
        let g = Arc::new(Group {
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
            batches: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let committer = {
            let (g, stop, data) = (g.clone(), stop.clone(), data.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let issued = {
                        let st = g.state.lock().unwrap();
                        let st =
                            g.cv.wait_timeout_while(st, Duration::from_millis(5), |s| s.0 == s.1)
                                .unwrap()
                                .0;
                        (st.0, st.1)
                    };
                    if issued.0 == issued.1 {
                        continue;
                    }
                    data.sync_data().unwrap();
                    g.batches.lock().unwrap().push(issued.0 - issued.1);
                    g.state.lock().unwrap().1 = issued.0;
                    g.cv.notify_all();
                }
            })
        };
        let res = drive(qd, secs, |t, i| {
            data.write_all_at(&block, slot(t, i)).unwrap();
            let mut st = g.state.lock().unwrap();
            st.0 += 1;
            let mine = st.0;
            g.cv.notify_all();
            let _st = g.cv.wait_while(st, |s| s.1 < mine).unwrap();
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        g.cv.notify_all();
        committer.join().unwrap();
        let b = g.batches.lock().unwrap();
        let mean = b.iter().sum::<u64>() as f64 / b.len().max(1) as f64;
        let per_s = b.len() as f64 / secs as f64;
        row(
            "group",
            qd,
            res,
            &format!("{per_s:.0} syncs/s, mean batch {mean:.1}"),
        );
        row(
            "cow serial",
            qd,
            drive(qd, secs, |t, i| {
                shadow.write_all_at(&chunk, slot(t, i)).unwrap();
                shadow.sync_data().unwrap();
                bitmap.write_all_at(&block, 0).unwrap();
                bitmap.sync_data().unwrap();
            }),
            "",
        );
        row(
            "cow parallel",
            qd,
            drive(qd, secs, |t, i| {
                shadow.write_all_at(&chunk, slot(t, i)).unwrap();
                bitmap
                    .write_all_at(&block, 4096 * (1 + (t as u64 % 64)))
                    .unwrap();
                std::thread::scope(|s| {
                    let h = s.spawn(|| shadow.sync_data().unwrap());
                    bitmap.sync_data().unwrap();
                    h.join().unwrap();
                });
            }),
            "",
        );
    }
    Ok(())
}
