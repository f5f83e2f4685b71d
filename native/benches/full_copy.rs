//! Full-copy throughput: enable an independent set on a master of
//! `NATIVE_BENCH_MIB` MiB (default 2048) and time the background copy
//! (including its final sync), next to `cp` + `sync` of the same file.
//! Run with `cargo bench -p native --bench full_copy`; default copy
//! parameters unless `NATIVE_BENCH_MAX_UNITS` is set. Uses a temporary
//! directory on the file system of `NATIVE_BENCH_DIR` (default: the temp dir).
//!
//! Then the update figure: `NATIVE_BENCH_DIRTY_PERMILLE` (default 10, i.e.
//! 1 %) of the chunks, spread evenly over the master, get a 4 KiB write through
//! the engine's master handle; `-u s` (bitmap-driven update) plus its wait is
//! timed and compared with the full copy (median of `NATIVE_BENCH_ROUNDS`,
//! default 3, each dirtying the same chunks anew). The full copy and cp +
//! sync also run `NATIVE_BENCH_ROUNDS` alternating rounds; medians compared.
//!
//! Goals (the issue's): full copy ≥ 0.9× the speed of `cp` + `sync`; update
//! of 1 % dirty chunks ≤ 3 % of the full copy's time.

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
    let rounds: usize = std::env::var("NATIVE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let e = Engine::open(EngineConfig::new(
        dir.path().join("state"),
        vec![root.clone()],
    ))
    .unwrap();
    // Rounds alternate cp + sync and an engine full copy (a fresh set each
    // time, the earlier one disabled and deleted), so both see the same
    // writeback conditions of this shared machine; medians are compared.
    let (mut cps, mut engs) = (Vec::new(), Vec::new());
    let mut s = root.join("shadow");
    for round in 0..rounds {
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
        cps.push(t.elapsed());
        std::fs::remove_file(&cp_target).unwrap();

        s = root.join(format!("shadow{round}"));
        std::fs::File::create(&s)
            .unwrap()
            .set_len((mib << 20) as u64)
            .unwrap();
        let b = root.join(format!("bitmap{round}"));
        std::fs::File::create(&b).unwrap().set_len(1 << 20).unwrap();
        let t = Instant::now();
        e.enable_set(SetSpec {
            master: m.clone(),
            shadow: s.clone(),
            bitmap: b.clone(),
            kind: SetKind::Independent,
            name: None,
            group: None,
            overflow: None,
            ..Default::default()
        })
        .unwrap();
        e.set_copy_params(&s, MIN_COPY_DELAY, MAX_COPY_UNITS)
            .unwrap();
        assert!(e.wait(&s, Some(Duration::from_secs(3600))).unwrap());
        engs.push(t.elapsed());
        if round + 1 < rounds {
            // The last set stays for the update figure.
            e.disable_set(&s).unwrap();
            std::fs::remove_file(&s).unwrap();
            std::fs::remove_file(&b).unwrap();
        }
    }
    let med = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2]
    };
    let all = |v: &[Duration]| {
        v.iter()
            .map(|d| format!("{d:.2?}"))
            .collect::<Vec<_>>()
            .join("/")
    };
    let (cp, eng) = (med(&cps), med(&engs));
    let mbps = |d: Duration| mib as f64 / d.as_secs_f64();
    println!(
        "cp+sync: median {:.2?} ({:.0} MiB/s), rounds {}",
        cp,
        mbps(cp),
        all(&cps)
    );
    let full_ratio = cp.as_secs_f64() / eng.as_secs_f64();
    println!(
        "engine full copy: median {:.2?} ({:.0} MiB/s), rounds {}, ratio {:.2}x of cp+sync speed",
        eng,
        mbps(eng),
        all(&engs),
        full_ratio
    );

    // Update with a share of the chunks dirty, spread over the whole master.
    let permille: u64 = std::env::var("NATIVE_BENCH_DIRTY_PERMILLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
        .clamp(1, 1000);
    let chunks = (mib as u64) << 20 >> 15;
    let dirty = (chunks * permille / 1000).max(1);
    let stride = chunks / dirty;
    let dev = e.device(&m).unwrap();
    let shadow_dev = e.device(&s).unwrap();
    let mut upds = Vec::new();
    for round in 0..rounds {
        // A different byte each round, so every round really changes data.
        let block = vec![0xA0u8 + round as u8; 4096];
        for i in 0..dirty {
            dev.write_at(&block, i * stride * CHUNK_SIZE, false)
                .unwrap();
        }
        dev.flush().unwrap();
        let bits = e.set_info(&s).unwrap().shadow_bits;
        assert_eq!(bits, dirty, "every dirtied chunk is marked");
        let t = Instant::now();
        e.copy(&s, Direction::ToShadow, CopyMode::Update).unwrap();
        assert!(e.wait(&s, Some(Duration::from_secs(3600))).unwrap());
        upds.push(t.elapsed());
        // Check the shadow really got the new data (first and last dirty chunk).
        let mut buf = vec![0u8; 4096];
        for i in [0, dirty - 1] {
            shadow_dev
                .read_at(&mut buf, i * stride * CHUNK_SIZE)
                .unwrap();
            assert_eq!(
                buf,
                block,
                "updated chunk {} reached the shadow",
                i * stride
            );
        }
    }
    let all: Vec<String> = upds.iter().map(|d| format!("{d:.2?}")).collect();
    upds.sort();
    let upd = upds[upds.len() / 2];
    let upd_ratio = upd.as_secs_f64() / eng.as_secs_f64();
    println!(
        "engine update of {dirty} of {chunks} chunks ({:.1} %): median {:.2?} (rounds {}), {:.2} % of the full copy time",
        permille as f64 / 10.0,
        upd,
        all.join("/"),
        100.0 * upd_ratio
    );
    e.shutdown();

    println!();
    println!(
        "{:<40} {:>12} {:>14} {:>9} {:>8} {:>4}",
        "full_copy", "ours", "reference", "ratio", "goal", "met"
    );
    println!(
        "{:<40} {:>12.2?} {:>14.2?} {:>8.2}x {:>7} {:>4}",
        format!("full copy {mib} MiB (speed vs cp+sync)"),
        eng,
        cp,
        full_ratio,
        ">=0.9x",
        if full_ratio >= 0.9 { "yes" } else { "NO" }
    );
    println!(
        "{:<40} {:>12.2?} {:>14.2?} {:>8.2}% {:>7} {:>4}",
        format!(
            "update {:.1} % dirty (time vs full copy)",
            permille as f64 / 10.0
        ),
        upd,
        eng,
        100.0 * upd_ratio,
        "<=3%",
        if upd_ratio <= 0.03 { "yes" } else { "NO" }
    );
}
