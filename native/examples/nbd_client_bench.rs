//! NBD client benchmark: the engine's NBD client (the continuous-copy
//! mirror's writer, `native::nbd::client`) copying a file sequentially to an
//! `nbdkit file` target, against `nbdcopy` (Debian `libnbd-bin`) copying the
//! same file to the same target. This is the link side of the issue's
//! "full sync of 2 GiB over loopback NBD ≥ 0.8× nbdcopy" figure.
//!
//! ```text
//! cargo run --release -p native --example nbd_client_bench
//! ```
//!
//! Ours: one connection, 1 MiB WRITE requests with `NBD_CLIENT_BENCH_DEPTH`
//! (default 16) in flight, then a FLUSH. nbdcopy: its defaults (several
//! connections, as the target offers multi-conn) and once with
//! `--connections=1`, both with `--flush`. Rounds alternate ours and
//! nbdcopy `NBD_BENCH_ROUNDS` times (default 3); medians and the ratio are
//! printed. Environment: `NBD_CLIENT_BENCH_SIZE` (default 2G),
//! `NBD_BENCH_DIR` (where the two files go).

use native::nbd::client::{ClientOptions, NbdClient};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Semaphore;

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::*;

const REQUEST: u64 = 1 << 20;

/// Copies `src` to the export at `addr` through our client; MiB/s.
async fn ours(src: &Path, addr: &str, size: u64, depth: usize) -> Result<f64, BoxError> {
    let start = Instant::now();
    let c = NbdClient::connect(
        addr,
        "",
        &ClientOptions {
            max_in_flight: depth,
            ..Default::default()
        },
    )
    .await?;
    let file = std::fs::File::open(src)?;
    let slots = Arc::new(Semaphore::new(depth));
    let failed: Arc<Mutex<Option<native::Error>>> = Arc::default();
    let mut off = 0;
    while off < size {
        let n = REQUEST.min(size - off);
        let mut buf = vec![0u8; n as usize];
        file.read_exact_at(&mut buf, off)?;
        let permit = slots.clone().acquire_owned().await?;
        let failed = failed.clone();
        c.start_write(off, buf, false, move |r| {
            if let Err(e) = r {
                failed.lock().unwrap().get_or_insert(e);
            }
            drop(permit);
        });
        off += n;
    }
    let _all = slots.acquire_many(depth as u32).await?;
    if let Some(e) = failed.lock().unwrap().take() {
        return Err(e.into());
    }
    c.flush().await?;
    let secs = start.elapsed().as_secs_f64();
    c.close().await;
    Ok(size as f64 / (1 << 20) as f64 / secs)
}

fn main() -> Result<(), BoxError> {
    let size = env_size("NBD_CLIENT_BENCH_SIZE", 2 << 30)?;
    let depth = env_num("NBD_CLIENT_BENCH_DEPTH", 16)? as usize;
    let rounds = env_num("NBD_BENCH_ROUNDS", 3)?.max(1);
    let dir = match std::env::var_os("NBD_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    if !tool_exists("nbdkit") || !tool_exists("nbdcopy") {
        return Err("nbdkit and nbdcopy are needed (apt-get install nbdkit libnbd-bin)".into());
    }
    let src = dir.path().join("source.raw");
    let dst = dir.path().join("target.raw");
    fill_file(&src, size)?;
    std::fs::File::create(&dst)?.set_len(size)?;
    let port = free_port()?;
    let port_s = port.to_string();
    let mut nbdkit = spawn(
        "nbdkit",
        &[
            "-f",
            "--exit-with-parent",
            "-i",
            "127.0.0.1",
            "-p",
            &port_s,
            "file",
            path_str(&dst),
        ],
    )?;
    let uri = format!("nbd://127.0.0.1:{port}/");
    wait_listening(&uri)?;
    let addr = format!("127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (mut us, mut them, mut them1) = (Vec::new(), Vec::new(), Vec::new());
    let nbdcopy = |extra: &[&str]| -> Result<f64, BoxError> {
        let start = Instant::now();
        let mut args = vec!["--flush"];
        args.extend_from_slice(extra);
        args.push(path_str(&src));
        args.push(&uri);
        let out = std::process::Command::new("nbdcopy").args(&args).output()?;
        if !out.status.success() {
            return Err(format!("nbdcopy failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(size as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64())
    };
    // Warm the source into the page cache for everybody.
    nbdcopy(&[])?;
    for _ in 0..rounds {
        us.push(rt.block_on(ours(&src, &addr, size, depth))?);
        them.push(nbdcopy(&[])?);
        them1.push(nbdcopy(&["--connections=1"])?);
    }
    // What we wrote last must be the file.
    rt.block_on(ours(&src, &addr, size, depth))?;
    let (a, b) = (std::fs::File::open(&src)?, std::fs::File::open(&dst)?);
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut off = 0;
    while off < size {
        let n = (1u64 << 20).min(size - off) as usize;
        a.read_exact_at(&mut x[..n], off)?;
        b.read_exact_at(&mut y[..n], off)?;
        if x[..n] != y[..n] {
            return Err(format!("the target differs from the source near offset {off}").into());
        }
        off += n as u64;
    }
    stop(&mut nbdkit);
    let gib = size as f64 / (1u64 << 30) as f64;
    println!(
        "NBD client, sequential copy of {gib:.1} GiB to nbdkit file, 1 MiB requests, {depth} in flight"
    );
    Row::new(
        format!("client write {gib:.1} GiB (vs nbdcopy defaults)"),
        "MiB/s",
        us.clone(),
        "nbdcopy",
        them,
        0.8,
    )
    .print();
    Row::new(
        format!("client write {gib:.1} GiB (vs nbdcopy --connections=1)"),
        "MiB/s",
        us,
        "nbdcopy -C1",
        them1,
        0.8,
    )
    .print();
    Ok(())
}
