//! Full-copy throughput: enable an independent set on a master of
//! `NATIVE_BENCH_MIB` MiB (default 2048) and time the background copy
//! (including its final sync), next to `cp` + `sync` of the same file.
//! Run with `cargo bench -p native --bench full_copy`; default copy
//! parameters unless `NATIVE_BENCH_MAX_UNITS` is set. Uses a temporary
//! directory on the file system of `NATIVE_BENCH_DIR` (default: the temp dir).

use native::*;
use std::io::Write;
use std::time::{Duration, Instant};

fn main() {
    let mib: usize = std::env::var("NATIVE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let base = std::env::var_os("NATIVE_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap().join("vols");
    std::fs::create_dir_all(&root).unwrap();
    let m = root.join("master");
    {
        let mut f = std::fs::File::create(&m).unwrap();
        let mut block = vec![0u8; 1 << 20];
        for i in 0..mib {
            block[..8].copy_from_slice(&(i as u64).to_le_bytes());
            block[4096..4104].copy_from_slice(&(i as u64 ^ 0xABCD).to_le_bytes());
            f.write_all(&block).unwrap();
        }
        f.sync_all().unwrap();
    }
    // cp + sync
    let cp_target = root.join("cp-copy");
    let t = Instant::now();
    assert!(std::process::Command::new("cp")
        .arg(&m)
        .arg(&cp_target)
        .status()
        .unwrap()
        .success());
    assert!(std::process::Command::new("sync")
        .status()
        .unwrap()
        .success());
    let cp = t.elapsed();
    std::fs::remove_file(&cp_target).unwrap();
    // engine
    let s = root.join("shadow");
    std::fs::File::create(&s)
        .unwrap()
        .set_len((mib << 20) as u64)
        .unwrap();
    let b = root.join("bitmap");
    std::fs::File::create(&b).unwrap().set_len(1 << 20).unwrap();
    let e = Engine::open(EngineConfig::new(
        dir.path().join("state"),
        vec![root.clone()],
    ))
    .unwrap();
    let t = Instant::now();
    e.enable_set(SetSpec {
        master: m.clone(),
        shadow: s.clone(),
        bitmap: b,
        kind: SetKind::Independent,
        name: None,
        group: None,
        overflow: None,
    })
    .unwrap();
    e.set_copy_params(&s, MIN_COPY_DELAY, MAX_COPY_UNITS)
        .unwrap();
    assert!(e.wait(&s, Some(Duration::from_secs(3600))).unwrap());
    let eng = t.elapsed();
    let mbps = |d: Duration| mib as f64 / d.as_secs_f64();
    println!("cp+sync: {:.2?} ({:.0} MiB/s)", cp, mbps(cp));
    println!(
        "engine full copy: {:.2?} ({:.0} MiB/s), ratio {:.2}x of cp+sync speed",
        eng,
        mbps(eng),
        cp.as_secs_f64() / eng.as_secs_f64()
    );
}
