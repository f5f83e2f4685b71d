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
//! Ours: 1 MiB WRITE requests with `NBD_CLIENT_BENCH_DEPTH` (default 16)
//! in flight per connection, then a FLUSH; once over one connection (what
//! one mirror link does) and once over `NBD_CLIENT_BENCH_CONNECTIONS`
//! (default 4) connections each writing its share (what a full sync over
//! several links could do: its chunks never overlap). nbdcopy: its
//! defaults (several connections, as the target offers multi-conn) and
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

/// Copies `src` to the export at `addr` through our client over `conns`
/// connections, each writing its own contiguous share with `depth`
/// requests in flight; MiB/s (connect, copy and flush included).
async fn ours(
    src: &Path,
    addr: &str,
    size: u64,
    depth: usize,
    conns: u64,
) -> Result<f64, BoxError> {
    let start = Instant::now();
    let share = size.div_ceil(conns).div_ceil(REQUEST) * REQUEST;
    let mut parts = tokio::task::JoinSet::new();
    for i in 0..conns {
        let (from, to) = ((i * share).min(size), ((i + 1) * share).min(size));
        let (src, addr) = (src.to_path_buf(), addr.to_owned());
        parts.spawn(async move {
            copy_part(&src, &addr, from, to, depth)
                .await
                .map_err(|e| e.to_string())
        });
    }
    while let Some(r) = parts.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    Ok(size as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64())
}

async fn copy_part(
    src: &Path,
    addr: &str,
    from: u64,
    to: u64,
    depth: usize,
) -> Result<(), BoxError> {
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
    let mut off = from;
    while off < to {
        let n = REQUEST.min(to - off);
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
    c.close().await;
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let size = env_size("NBD_CLIENT_BENCH_SIZE", 2 << 30)?;
    let depth = env_num("NBD_CLIENT_BENCH_DEPTH", 16)? as usize;
    let conns = env_num("NBD_CLIENT_BENCH_CONNECTIONS", 4)?.max(1);
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
    let (mut us, mut us_n) = (Vec::new(), Vec::new());
    let (mut them, mut them1) = (Vec::new(), Vec::new());
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
        us.push(rt.block_on(ours(&src, &addr, size, depth, 1))?);
        them1.push(nbdcopy(&["--connections=1"])?);
        us_n.push(rt.block_on(ours(&src, &addr, size, depth, conns))?);
        them.push(nbdcopy(&[])?);
    }
    // What we wrote last must be the file.
    std::fs::File::create(&dst)?.set_len(size)?;
    rt.block_on(ours(&src, &addr, size, depth, conns))?;
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
        format!("client write {gib:.1} GiB, 1 connection (vs nbdcopy -C1)"),
        "MiB/s",
        us.clone(),
        "nbdcopy -C1",
        them1,
        0.8,
    )
    .print();
    Row::new(
        format!("client write {gib:.1} GiB, 1 connection (vs nbdcopy)"),
        "MiB/s",
        us,
        "nbdcopy",
        them.clone(),
        0.8,
    )
    .print();
    Row::new(
        format!("client write {gib:.1} GiB, {conns} connections (vs nbdcopy)"),
        "MiB/s",
        us_n,
        "nbdcopy",
        them,
        0.8,
    )
    .print();
    Ok(())
}
