//! NBD data-path benchmark of the imaging engine itself: the engine is the
//! [`native::ExportSource`] of our NBD server, so every write goes through the
//! copy-on-write and bitmap rules of its set; the references are the usual
//! servers on plain files of the same size, driven by the same clients.
//!
//! ```text
//! cargo run --release -p native --example engine_nbd_bench
//! ```
//!
//! Figures (the goals are the issue's):
//!
//! 1. Random 4 KiB writes at QD16 (`fio --ioengine=nbd`) to the master of a
//!    **dependent** set, first writes (copy-on-write of fresh 32 KiB chunks),
//!    vs `nbdkit file` on a plain file: goal ≥ 0.5× (issue 17). fio writes each 4 KiB
//!    block at most once (random map) and does `chunks / NBD_ENGINE_FRESH_DIV`
//!    I/Os over the whole master, so most writes land in a chunk not yet
//!    copied; the real share of first writes is measured from the set's shadow
//!    bitmap and printed. Between rounds, `-u s` (dependent update: instant,
//!    clears the shadow bitmap) makes every chunk fresh again.
//!    The bitmaps are persistent (the default): each first write waits for
//!    the copied data and its log record to be flushed, both at once
//!    (native/FORMAT.md §1.5); the disk's flush rate bounds the figure
//!    (`sync_probe` measures it per queue depth).
//! 2. The same with **volatile bitmaps** (`SetSpec::volatile_bitmap`, the
//!    user's choice of speed over crash safety: no syncs on the data path):
//!    goal ≥ 0.8×.
//! 3. The same to chunks already copied (rewrites), fio time-based over a
//!    region pre-copied through the engine's master handle: goal ≥ 1.0×.
//! 4. Sequential read of a shadow with `nbdcopy URI null:` vs `qemu-nbd -r` of
//!    a plain file of the same size: an **independent** shadow after its full
//!    copy finished, and a clean **dependent** shadow (every read goes through
//!    to the master): goal ≥ 1.2× (issue 17).
//!
//! Each figure alternates ours and the reference `NBD_BENCH_ROUNDS` times
//! (default 3) and reports medians and all rounds (the machine is shared).
//!
//! Environment: `NBD_ENGINE_WRITE_SIZE` (dependent master, bytes or K/M/G,
//! default 1G), `NBD_ENGINE_FRESH_DIV` (default 4), `NBD_ENGINE_REWRITE_SIZE`
//! (pre-copied region, default 64M), `NBD_ENGINE_READ_SIZE` (independent and
//! read sets, default 1G), `NBD_BENCH_SECONDS` (time-based fio runs, default
//! 5), `NBD_BENCH_ROUNDS`, `NBD_BENCH_DIR` (default the temporary directory),
//! `NBD_BENCH_WORKERS` (our [`native::nbd::NbdConfig::workers_per_connection`]).

use native::nbd::{NbdConfig, NbdServer};
use native::{CopyMode, Direction, Engine, EngineConfig, SetKind, SetSpec, CHUNK_SIZE};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::*;

fn main() -> Result<(), BoxError> {
    let wsize = chunk_size_env("NBD_ENGINE_WRITE_SIZE", 1 << 30)?;
    let fresh_div = env_num("NBD_ENGINE_FRESH_DIV", 4)?.max(1);
    let rsize = chunk_size_env("NBD_ENGINE_READ_SIZE", 1 << 30)?;
    let rewrite = chunk_size_env("NBD_ENGINE_REWRITE_SIZE", 64 << 20)?.min(wsize);
    let seconds = env_num("NBD_BENCH_SECONDS", 5)?;
    let rounds = env_num("NBD_BENCH_ROUNDS", 3)?.max(1);
    let dir = match std::env::var_os("NBD_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    for t in ["fio", "nbdkit", "nbdcopy", "qemu-nbd"] {
        if !tool_exists(t) {
            return Err(format!("{t} is required (scripts/bench.sh installs it)").into());
        }
    }
    // Volumes must be canonical paths under a root: they are the export names.
    let root = std::fs::canonicalize(dir.path())?.join("vols");
    std::fs::create_dir_all(&root)?;
    println!(
        "engine_nbd_bench: dependent master {} MiB, rewrite region {} MiB, read sets {} MiB, fio {seconds} s, {rounds} rounds, in {}",
        wsize >> 20,
        rewrite >> 20,
        rsize >> 20,
        root.display()
    );
    let v = |n: &str| root.join(n);
    fill_file(&v("dmaster"), wsize)?;
    std::fs::File::create(v("dshadow"))?.set_len(wsize)?;
    std::fs::File::create(v("dbitmap"))?.set_len(bitmap_size(wsize))?;
    fill_file(&v("wref"), wsize)?;
    fill_file(&v("imaster"), rsize)?;
    std::fs::File::create(v("ishadow"))?.set_len(rsize)?;
    std::fs::File::create(v("ibitmap"))?.set_len(bitmap_size(rsize))?;
    fill_file(&v("rref"), rsize)?;

    let engine = Engine::open(EngineConfig::new(
        dir.path().join("state"),
        vec![root.clone()],
    ))?;
    let spec = |m: &str, s: &str, b: &str, kind| SetSpec {
        master: v(m),
        shadow: v(s),
        bitmap: v(b),
        kind,
        name: None,
        group: None,
        overflow: None,
        ..Default::default()
    };
    engine.enable_set(spec("dmaster", "dshadow", "dbitmap", SetKind::Dependent))?;

    let mut config = NbdConfig::default();
    if let Ok(w) = std::env::var("NBD_BENCH_WORKERS") {
        config.workers_per_connection = w.parse()?;
    }
    println!("{} workers/connection", config.workers_per_connection);
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt
        .block_on(NbdServer::bind("127.0.0.1:0", Arc::new(engine.clone())))?
        .with_config(config);
    let port = server.local_addr()?.port();
    rt.spawn(server.run());
    // An absolute export name follows the authority's slash: nbd://h:p//abs.
    let ours = |p: &Path| format!("nbd://127.0.0.1:{port}/{}", p.display());

    let mut rows = Vec::new();

    // ---- 1. first writes (copy-on-write) to a dependent master ----
    let chunks = wsize / CHUNK_SIZE;
    let ios = (chunks / fresh_div).max(1);
    let kit_port = free_port()?;
    let mut kit = spawn(
        "nbdkit",
        &[
            "-f",
            "-i",
            "127.0.0.1",
            "-p",
            &kit_port.to_string(),
            "file",
            path_str(&v("wref")),
        ],
    )?;
    let kit_uri = format!("nbd://127.0.0.1:{kit_port}/");
    wait_listening(&kit_uri)?;
    let dm_uri = ours(&v("dmaster"));
    // Rounds of first writes to the dependent master against nbdkit.
    let first_writes = |label: &str, goal: f64| -> Result<Row, BoxError> {
        let (mut a, mut b, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            // Dependent `-u s`: instant, S := 0, so every chunk is fresh again.
            engine.copy(&v("dshadow"), Direction::ToShadow, CopyMode::Update)?;
            engine.wait(&v("dshadow"), Some(Duration::from_secs(60)))?;
            let before = engine.set_info(&v("dshadow"))?.shadow_bits;
            a.push(fio_iops(&dm_uri, &FioJob::Ios { size: wsize, ios })?);
            let after = engine.set_info(&v("dshadow"))?.shadow_bits;
            fresh.push(100.0 * (after - before) as f64 / ios as f64);
            b.push(fio_iops(&kit_uri, &FioJob::Ios { size: wsize, ios })?);
        }
        Ok(Row::new(
            format!("{label}, first 4K writes QD16 ({:.0}% COW)", median(&fresh)),
            "IOPS",
            a,
            "nbdkit file",
            b,
            goal,
        ))
    };
    rows.push(first_writes("dep. master", 0.5)?);

    // ---- 3. rewrites of chunks already copied ----
    {
        let dev = engine.device(&v("dmaster"))?;
        let block = vec![0x5au8; 4096];
        for c in 0..rewrite / CHUNK_SIZE {
            dev.write_at(&block, c * CHUNK_SIZE, false)?;
        }
        dev.flush()?;
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(fio_iops(
            &dm_uri,
            &FioJob::Timed {
                size: rewrite,
                seconds,
            },
        )?);
        b.push(fio_iops(
            &kit_uri,
            &FioJob::Timed {
                size: rewrite,
                seconds,
            },
        )?);
    }
    rows.push(Row::new(
        "dep. master, rewrites of copied chunks 4K QD16".into(),
        "IOPS",
        a,
        "nbdkit file",
        b,
        1.0,
    ));

    // ---- 2. first writes with volatile bitmaps (the user's choice of
    // speed over crash safety: no syncs on the data path) ----
    engine.disable_set(&v("dshadow"))?;
    engine.enable_set(SetSpec {
        volatile_bitmap: true,
        ..spec("dmaster", "dshadow", "dbitmap", SetKind::Dependent)
    })?;
    rows.push(first_writes("dep. master, volatile bitmap", 0.8)?);
    stop(&mut kit);

    // ---- 4. sequential read of shadows ----
    // An independent set, read once its full copy has finished.
    let t = Instant::now();
    engine.enable_set(spec("imaster", "ishadow", "ibitmap", SetKind::Independent))?;
    engine.set_copy_params(
        &v("ishadow"),
        native::MIN_COPY_DELAY,
        native::MAX_COPY_UNITS,
    )?;
    assert!(engine.wait(&v("ishadow"), Some(Duration::from_secs(3600)))?);
    println!(
        "independent full copy of {} MiB took {:.2?}",
        rsize >> 20,
        t.elapsed()
    );
    // A clean dependent shadow of the read size: every read goes to the master.
    fill_file(&v("rmaster"), rsize)?;
    std::fs::File::create(v("rshadow"))?.set_len(rsize)?;
    std::fs::File::create(v("rbitmap"))?.set_len(bitmap_size(rsize))?;
    engine.enable_set(spec("rmaster", "rshadow", "rbitmap", SetKind::Dependent))?;
    let (mut qn, q_uri) = serve_read_only(&v("rref"))?;
    // Warm the page cache so every side reads from memory.
    nbdcopy_mib_s(&q_uri, rsize, &[])?;
    for (label, shadow) in [
        ("indep. shadow", "ishadow"),
        ("dep. shadow (reads master)", "rshadow"),
    ] {
        let uri = ours(&v(shadow));
        nbdcopy_mib_s(&uri, rsize, &[])?;
        rows.extend(read_rows(label, &uri, &q_uri, rsize, rounds, 1.2)?);
    }
    stop(&mut qn);

    print_rows(&rows);
    engine.shutdown();
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

/// A size from the environment, rounded up to whole chunks so every chunk
/// of the volume can be addressed.
fn chunk_size_env(var: &str, default: u64) -> Result<u64, BoxError> {
    Ok(env_size(var, default)?.div_ceil(CHUNK_SIZE) * CHUNK_SIZE)
}

/// Bitmap volume size for a master of `size` bytes: header page plus two
/// bitmaps, rounded up generously (the engine rejects a too-small one).
fn bitmap_size(size: u64) -> u64 {
    (64 << 10) + 4 * (size / CHUNK_SIZE / 8) + (64 << 10)
}
