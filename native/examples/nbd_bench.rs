//! NBD throughput benchmark: our server against the reference servers, on the
//! same files, with the same clients.
//!
//! ```text
//! cargo run --release -p native --example nbd_bench
//! ```
//!
//! * Random 4 KiB writes at queue depth 16 with `fio --ioengine=nbd` (Debian
//!   `fio`), against `nbdkit file` (Debian `nbdkit`; `qemu-nbd` when nbdkit is
//!   missing). Without fio, `qemu-img bench -w -d 16 -s 4k` is used instead
//!   (sequential offsets).
//! * Sequential read of the whole file with `nbdcopy URI null:` (Debian
//!   `libnbd-bin`) against `qemu-nbd -r` (Debian `qemu-utils`), once with
//!   nbdcopy's default connections and once over a single connection.
//!
//! Each measurement alternates ours and the reference `NBD_BENCH_ROUNDS` times
//! (default 3) and reports the medians; the machine is shared, so the spread
//! is printed too.
//!
//! Environment: `NBD_BENCH_READ_SIZE` (bytes or with K/M/G suffix, default
//! 1G), `NBD_BENCH_WRITE_SIZE` (default 256M), `NBD_BENCH_SECONDS` (fio run
//! time, default 5), `NBD_BENCH_ROUNDS`, `NBD_BENCH_DIR` (where the files go,
//! default the system temporary directory), `NBD_BENCH_WORKERS` (our
//! [`NbdConfig::workers_per_connection`]).

use native::nbd::{NbdConfig, NbdServer};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::*;

fn main() -> Result<(), BoxError> {
    let BenchEnv {
        read_size,
        write_size,
        seconds,
        rounds,
        dir,
    } = BenchEnv::from_env()?;
    let mut config = NbdConfig::default();
    if let Ok(w) = std::env::var("NBD_BENCH_WORKERS") {
        config.workers_per_connection = w.parse()?;
    }

    println!(
        "nbd_bench: read file {} MiB, write file {} MiB, fio {seconds} s, {rounds} rounds, {} workers/connection, in {}",
        read_size >> 20,
        write_size >> 20,
        config.workers_per_connection,
        dir.path().display()
    );
    let (wfile, rfile, exports, wname, rname) = file_exports(dir.path(), read_size, write_size)?;

    // Our server, in this process, on its own runtime.
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt
        .block_on(NbdServer::bind("127.0.0.1:0", Arc::new(exports)))?
        .with_config(config);
    let port = server.local_addr()?.port();
    rt.spawn(server.run());
    let ours = |name: &str| format!("nbd://127.0.0.1:{port}/{name}");

    let mut rows = Vec::new();

    // ---- random 4 KiB writes, QD16 ----
    let have_fio = tool_exists("fio");
    let (ref_name, ref_uri, mut ref_child) = if tool_exists("nbdkit") {
        let p = free_port()?;
        let child = spawn(
            "nbdkit",
            &[
                "-f",
                "-i",
                "127.0.0.1",
                "-p",
                &p.to_string(),
                "file",
                path_str(&wfile),
            ],
        )?;
        ("nbdkit file", format!("nbd://127.0.0.1:{p}/"), child)
    } else {
        println!("nbdkit not found (install Debian package nbdkit); comparing random writes with qemu-nbd instead");
        let (child, p) = serve_qemu_nbd(&wfile, "w", &[])?;
        ("qemu-nbd", format!("nbd://127.0.0.1:{p}/w"), child)
    };
    wait_listening(&ref_uri)?;
    let our_w = ours(&wname);
    let measure_writes = |uri: &str| -> Result<f64, BoxError> {
        if have_fio {
            fio_iops(
                uri,
                &FioJob::Timed {
                    size: write_size,
                    seconds,
                },
            )
        } else {
            qemu_img_bench_iops(uri, write_size)
        }
    };
    if !have_fio {
        println!(
            "fio not found (install Debian package fio); using qemu-img bench (sequential offsets)"
        );
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(measure_writes(&our_w)?);
        b.push(measure_writes(&ref_uri)?);
    }
    stop(&mut ref_child);
    let client = if have_fio {
        "fio nbd"
    } else {
        "qemu-img bench"
    };
    rows.push(Row::new(
        format!("random 4K write QD16 ({client})"),
        "IOPS",
        a,
        ref_name,
        b,
        1.0,
    ));

    // ---- sequential read ----
    if tool_exists("nbdcopy") {
        let (mut qn, q_uri) = serve_read_only(&rfile)?;
        let our_r = ours(&rname);
        // Warm the page cache so both read from memory.
        nbdcopy_mib_s(&our_r, read_size, &[])?;
        rows.extend(read_rows(
            "plain file",
            &our_r,
            &q_uri,
            read_size,
            rounds,
            1.0,
        )?);
        stop(&mut qn);
    } else {
        println!(
            "nbdcopy not found (install Debian package libnbd-bin); no sequential read figures"
        );
    }

    print_rows(&rows);
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

fn qemu_img_bench_iops(uri: &str, size: u64) -> Result<f64, BoxError> {
    let count = (size / 4096).min(200_000);
    let start = Instant::now();
    let st = Command::new("qemu-img")
        .args([
            "bench",
            "-f",
            "raw",
            "-t",
            "none",
            "-w",
            "-d",
            "16",
            "-s",
            "4k",
            "-c",
            &count.to_string(),
            uri,
        ])
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        return Err(format!("qemu-img bench on {uri} failed").into());
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}
