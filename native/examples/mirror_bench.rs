//! Mirror (continuous copy) benchmark: the engine's mirror against
//! `qemu-storage-daemon`'s `blockdev-mirror`, `nbdcopy` and our own
//! unmirrored export, all on loopback with an `nbdkit file` target.
//!
//! ```text
//! cargo run --release -p native --example mirror_bench
//! ```
//!
//! Figures (the goals are the issue's):
//!
//! 1. fio random 4 KiB writes at QD16 through our NBD export of an
//!    **async** mirror's primary vs the same through our NBD server on the
//!    same kind of file without a mirror: goal ≥ 0.9×.
//! 2. The same with a **sync** mirror vs `qemu-storage-daemon` exporting a
//!    file that `blockdev-mirror copy-mode=write-blocking` mirrors to an
//!    `nbdkit file` target: goal ≥ 0.8×.
//! 3. Update sync after 1 % of the chunks were dirtied while logging, as a
//!    share of the full-sync time (shown as syncs per second, so that
//!    "higher is better" like the others): goal resync ≤ 3 % of full, i.e.
//!    ≥ 33×.
//! 4. Full sync of `MIRROR_BENCH_SYNC_SIZE` (default 2 GiB) to the
//!    `nbdkit file` target vs `nbdcopy` of the same file to the same
//!    target: goal ≥ 0.8×.
//!
//! Environment: `MIRROR_BENCH_SIZE` (fio volumes, default 1G),
//! `MIRROR_BENCH_SYNC_SIZE` (default 2G), `NBD_BENCH_SECONDS` (fio time,
//! default 5), `NBD_BENCH_ROUNDS` (default 3), `NBD_BENCH_DIR`.

use native::mirror::*;
use native::nbd::client::NbdLinks;
use native::nbd::{FileExport, NbdServer};
use native::{Engine, EngineConfig, CHUNK_SIZE};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "bench_util/mod.rs"]
mod bench_util;
use bench_util::*;

fn nbdkit(file: &Path) -> Result<(std::process::Child, u16), BoxError> {
    let port = free_port()?;
    let child = spawn(
        "nbdkit",
        &[
            "-f",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "file",
            path_str(file),
        ],
    )?;
    wait_listening(&format!("nbd://127.0.0.1:{port}/"))?;
    Ok((child, port))
}

fn remote(t: &Path, port: u16) -> Secondary {
    Secondary::Remote {
        volume: t.to_path_buf(),
        target: RemoteTarget {
            peer: "nbdkit".into(),
            address: format!("127.0.0.1:{port}"),
            export: String::new(),
            tls: None,
        },
    }
}

/// A QMP session on a unix socket.
struct Qmp {
    w: UnixStream,
    r: BufReader<UnixStream>,
}

impl Qmp {
    fn connect(path: &Path) -> Result<Qmp, BoxError> {
        let start = Instant::now();
        let s = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => return Err(e.into()),
            }
        };
        let mut q = Qmp {
            r: BufReader::new(s.try_clone()?),
            w: s,
        };
        q.line()?; // greeting
        q.cmd(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(q)
    }
    fn line(&mut self) -> Result<serde_json::Value, BoxError> {
        let mut l = String::new();
        self.r.read_line(&mut l)?;
        Ok(serde_json::from_str(&l)?)
    }
    /// Sends a command and returns its answer (events are skipped).
    fn cmd(&mut self, c: &str) -> Result<serde_json::Value, BoxError> {
        self.w.write_all(c.as_bytes())?;
        self.w.write_all(b"\n")?;
        loop {
            let v = self.line()?;
            if v.get("error").is_some() {
                return Err(format!("QMP {c}: {v}").into());
            }
            if v.get("return").is_some() {
                return Ok(v);
            }
        }
    }
}

/// qemu-storage-daemon exporting `src` over NBD, mirrored write-blocking to
/// nbdkit on `tport`; returns once the job is ready.
fn qsd_mirror(
    dir: &Path,
    src: &Path,
    tport: u16,
) -> Result<(std::process::Child, String), BoxError> {
    let port = free_port()?;
    let sock = dir.join("qmp.sock");
    let _ = std::fs::remove_file(&sock);
    let child = spawn(
        "qemu-storage-daemon",
        &[
            "--blockdev",
            &format!(
                "driver=file,filename={},node-name=src-file,cache.direct=off",
                path_str(src)
            ),
            "--blockdev",
            "driver=raw,file=src-file,node-name=src",
            "--blockdev",
            &format!(
                "driver=nbd,server.type=inet,server.host=127.0.0.1,server.port={tport},node-name=tgt"
            ),
            "--nbd-server",
            &format!("addr.type=inet,addr.host=127.0.0.1,addr.port={port}"),
            "--export",
            "type=nbd,id=e,node-name=src,name=src,writable=on",
            "--chardev",
            &format!("socket,path={},server=on,wait=off,id=qmp", path_str(&sock)),
            "--monitor",
            "chardev=qmp",
        ],
    )?;
    let mut q = Qmp::connect(&sock)?;
    q.cmd(r#"{"execute":"blockdev-mirror","arguments":{"job-id":"m","device":"src","target":"tgt","sync":"full","copy-mode":"write-blocking"}}"#)?;
    let start = Instant::now();
    loop {
        let v = q.cmd(r#"{"execute":"query-block-jobs"}"#)?;
        if v["return"][0]["ready"].as_bool() == Some(true) {
            break;
        }
        if start.elapsed() > Duration::from_secs(600) {
            return Err("qemu-storage-daemon mirror never became ready".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::mem::forget(q);
    let uri = format!("nbd://127.0.0.1:{port}/src");
    wait_listening(&uri)?;
    Ok((child, uri))
}

fn wait_sync(e: &Engine, p: &Path) -> Result<(), BoxError> {
    if std::env::var_os("MIRROR_BENCH_DEBUG").is_some() {
        for _ in 0..40 {
            let i = e.mirror_info(p)?;
            eprintln!(
                "{:?} q={} dirty={} behind={} {:?}",
                i.state, i.queue_depth, i.dirty_chunks, i.bytes_behind, i.last_error
            );
            if i.state != MirrorState::Syncing {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    if !e.mirror_wait(p, Some(Duration::from_secs(3600)))? {
        let i = e.mirror_info(p)?;
        return Err(format!(
            "mirror of {} did not get in step: {} {:?}",
            p.display(),
            native::mirror::state_name(i.state),
            i.last_error
        )
        .into());
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let size = env_size("MIRROR_BENCH_SIZE", 1 << 30)?;
    let sync_size = env_size("MIRROR_BENCH_SYNC_SIZE", 2 << 30)?;
    let seconds = env_num("NBD_BENCH_SECONDS", 5)?;
    let rounds = env_num("NBD_BENCH_ROUNDS", 3)?.max(1);
    for t in ["fio", "nbdkit", "nbdcopy", "qemu-storage-daemon"] {
        if !tool_exists(t) {
            return Err(format!("{t} is required (scripts/bench.sh installs it)").into());
        }
    }
    let dir = match std::env::var_os("NBD_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let root = std::fs::canonicalize(dir.path())?.join("vols");
    std::fs::create_dir_all(&root)?;
    let v = |n: &str| root.join(n);
    println!(
        "mirror_bench: fio volumes {} MiB, full sync {} MiB, fio {seconds} s, {rounds} rounds, in {}",
        size >> 20,
        sync_size >> 20,
        root.display()
    );
    for n in ["pa", "ps", "plain", "qsrc"] {
        fill_file(&v(n), size)?;
    }
    fill_file(&v("big"), sync_size)?;
    for n in ["ta", "ts", "tq"] {
        std::fs::File::create(v(n))?.set_len(size)?;
    }
    std::fs::File::create(v("tbig"))?.set_len(sync_size)?;
    for n in ["sba", "sbs", "sbbig"] {
        std::fs::File::create(v(n))?.set_len(1 << 20)?;
    }

    let mut cfg = EngineConfig::new(dir.path().join("state"), vec![root.clone()]);
    cfg.links = Some(Links(Arc::new(NbdLinks::new()?)));
    let engine = Engine::open(cfg)?;
    let rt = tokio::runtime::Runtime::new()?;
    let server = rt.block_on(NbdServer::bind("127.0.0.1:0", Arc::new(engine.clone())))?;
    let port = server.local_addr()?.port();
    rt.spawn(server.run());
    let ours = |p: &Path| format!("nbd://127.0.0.1:{port}/{}", p.display());
    // The unmirrored reference: our NBD server on a plain file.
    let plain = Arc::new(FileExport::new());
    let plain_name = plain.add_file(v("plain"), false)?;
    let pserver = rt.block_on(NbdServer::bind("127.0.0.1:0", plain))?;
    let pport = pserver.local_addr()?.port();
    rt.spawn(pserver.run());
    let plain_uri = format!("nbd://127.0.0.1:{pport}/{plain_name}");

    let (mut kit_a, port_a) = nbdkit(&v("ta"))?;
    let (mut kit_s, port_s) = nbdkit(&v("ts"))?;
    let (mut kit_q, port_q) = nbdkit(&v("tq"))?;
    let (mut kit_big, port_big) = nbdkit(&v("tbig"))?;
    let mspec = |p: &str, t: &str, sb: &str, tport: u16, mode| MirrorSpec {
        primary: v(p),
        secondary: remote(&v(t), tport),
        scoreboard: v(sb),
        mode,
        group: None,
        options: MirrorOptions::default(),
        volumes_equal: false,
    };
    let mut rows = Vec::new();
    let job = FioJob::Timed { size, seconds };

    // ---- 1. async mirror vs unmirrored ----
    engine.enable_mirror(mspec("pa", "ta", "sba", port_a, MirrorMode::Async))?;
    engine.mirror_sync(&v("pa"), SyncKind::Full, SyncDirection::Forward)?;
    wait_sync(&engine, &v("pa"))?;
    let (mut a, mut u) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(fio_iops(&ours(&v("pa")), &job)?);
        u.push(fio_iops(&plain_uri, &job)?);
    }
    let behind = engine.mirror_info(&v("pa"))?.bytes_behind;
    wait_sync(&engine, &v("pa"))?;
    println!("async mirror: {behind} bytes behind right after fio, drained");
    rows.push(Row::new(
        "4K randwrite QD16, async mirror vs our unmirrored export".into(),
        "IOPS",
        a,
        "unmirrored",
        u,
        0.9,
    ));

    // ---- 2. sync mirror vs qemu-storage-daemon write-blocking ----
    engine.enable_mirror(mspec("ps", "ts", "sbs", port_s, MirrorMode::Sync))?;
    engine.mirror_sync(&v("ps"), SyncKind::Full, SyncDirection::Forward)?;
    wait_sync(&engine, &v("ps"))?;
    let (mut qsd, qsd_uri) = qsd_mirror(dir.path(), &v("qsrc"), port_q)?;
    let (mut s, mut q) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        s.push(fio_iops(&ours(&v("ps")), &job)?);
        q.push(fio_iops(&qsd_uri, &job)?);
    }
    stop(&mut qsd);
    rows.push(Row::new(
        "4K randwrite QD16, sync mirror vs QEMU write-blocking".into(),
        "IOPS",
        s,
        "qemu-sd",
        q,
        0.8,
    ));

    // ---- 3. update sync after 1 % dirty vs full sync (async mirror pa) ----
    let chunks = size / CHUNK_SIZE;
    let dev = engine.device(&v("pa"))?;
    let (mut upd, mut full) = (Vec::new(), Vec::new());
    let mut x = 0x9E37_79B9u64;
    for _ in 0..rounds {
        engine.mirror_logging(&v("pa"))?;
        for _ in 0..chunks / 100 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            dev.write_at(&[0x5A; 4096], (x % chunks) * CHUNK_SIZE, false)?;
        }
        let t = Instant::now();
        engine.mirror_sync(&v("pa"), SyncKind::Update, SyncDirection::Forward)?;
        wait_sync(&engine, &v("pa"))?;
        upd.push(1.0 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        engine.mirror_sync(&v("pa"), SyncKind::Full, SyncDirection::Forward)?;
        wait_sync(&engine, &v("pa"))?;
        full.push(1.0 / t.elapsed().as_secs_f64());
    }
    rows.push(Row::new(
        "resync after 1 % dirty vs full sync (syncs/s)".into(),
        "1/s",
        upd,
        "full sync",
        full,
        1.0 / 0.03,
    ));

    // ---- 4. full sync of the big volume vs nbdcopy ----
    engine.enable_mirror(mspec("big", "tbig", "sbbig", port_big, MirrorMode::Async))?;
    let (mut ms, mut nc) = (Vec::new(), Vec::new());
    let mib = sync_size as f64 / (1 << 20) as f64;
    for _ in 0..rounds {
        let t = Instant::now();
        engine.mirror_sync(&v("big"), SyncKind::Full, SyncDirection::Forward)?;
        wait_sync(&engine, &v("big"))?;
        ms.push(mib / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let st = std::process::Command::new("nbdcopy")
            .args([path_str(&v("big")), &format!("nbd://127.0.0.1:{port_big}/")])
            .status()?;
        if !st.success() {
            return Err("nbdcopy failed".into());
        }
        nc.push(mib / t.elapsed().as_secs_f64());
    }
    rows.push(Row::new(
        format!(
            "full sync {} MiB to nbdkit file vs nbdcopy",
            sync_size >> 20
        ),
        "MiB/s",
        ms,
        "nbdcopy",
        nc,
        0.8,
    ));

    print_rows(&rows);
    drop(dev);
    for k in [&mut kit_a, &mut kit_s, &mut kit_q, &mut kit_big] {
        stop(k);
    }
    Ok(())
}
