//! Helpers shared by the NBD benchmark examples (`nbd_bench`, `nbd_client_bench`,
//! `nbd_tls_bench`, `engine_nbd_bench`): medians, environment knobs, test files, fio runs,
//! the result rows, and starting, waiting for and stopping the reference
//! tools.
//! Included with `#[path]` by each example.

#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type BoxError = Box<dyn std::error::Error>;

/// The knobs every file benchmark reads from the environment.
pub struct BenchEnv {
    /// `NBD_BENCH_READ_SIZE` (default 1G).
    pub read_size: u64,
    /// `NBD_BENCH_WRITE_SIZE` (default 256M).
    pub write_size: u64,
    /// `NBD_BENCH_SECONDS`, fio run time (default 5).
    pub seconds: u64,
    /// `NBD_BENCH_ROUNDS` (default 3).
    pub rounds: u64,
    /// A fresh directory under `NBD_BENCH_DIR` (default the system one).
    pub dir: tempfile::TempDir,
}

impl BenchEnv {
    pub fn from_env() -> Result<BenchEnv, BoxError> {
        Ok(BenchEnv {
            read_size: env_size("NBD_BENCH_READ_SIZE", 1 << 30)?,
            write_size: env_size("NBD_BENCH_WRITE_SIZE", 256 << 20)?,
            seconds: env_num("NBD_BENCH_SECONDS", 5)?,
            rounds: env_num("NBD_BENCH_ROUNDS", 3)?.max(1),
            dir: match std::env::var_os("NBD_BENCH_DIR") {
                Some(d) => tempfile::tempdir_in(d)?,
                None => tempfile::tempdir()?,
            },
        })
    }
}

/// The write and read files (filled) in `dir`, exported (read one
/// read-only): `(write file, read file, exports, write name, read name)`.
pub fn file_exports(
    dir: &Path,
    read_size: u64,
    write_size: u64,
) -> Result<
    (
        std::path::PathBuf,
        std::path::PathBuf,
        native::nbd::FileExport,
        String,
        String,
    ),
    BoxError,
> {
    let wfile = dir.join("write.img");
    let rfile = dir.join("read.img");
    fill_file(&wfile, write_size)?;
    fill_file(&rfile, read_size)?;
    let exports = native::nbd::FileExport::new();
    let wname = exports.add_file(&wfile, false)?;
    let rname = exports.add_file(&rfile, true)?;
    Ok((wfile, rfile, exports, wname, rname))
}

pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

pub fn spread(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.0}"))
        .collect::<Vec<_>>()
        .join("/")
}

pub fn env_num(var: &str, default: u64) -> Result<u64, BoxError> {
    match std::env::var(var) {
        Ok(v) => Ok(v.parse().map_err(|e| format!("{var}={v}: {e}"))?),
        Err(_) => Ok(default),
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

pub fn tool_exists(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

pub fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn spawn(tool: &str, args: &[&str]) -> Result<Child, BoxError> {
    Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {tool}: {e}").into())
}

pub fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

pub fn wait_listening(uri: &str) -> Result<(), BoxError> {
    let hostport = uri
        .trim_start_matches("nbd://")
        .split('/')
        .next()
        .unwrap_or_default();
    let addr: SocketAddr = hostport.parse()?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if TcpStream::connect(addr).is_ok() {
            // Give a one-client server time to notice the probe has gone.
            std::thread::sleep(Duration::from_millis(200));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("{uri} is not listening").into())
}

pub fn nbdcopy_mib_s(uri: &str, size: u64, extra: &[&str]) -> Result<f64, BoxError> {
    let start = Instant::now();
    let st = Command::new("nbdcopy")
        .args(extra)
        .args([uri, "null:"])
        .status()?;
    if !st.success() {
        return Err(format!("nbdcopy {uri} null: failed").into());
    }
    Ok(size as f64 / (1 << 20) as f64 / start.elapsed().as_secs_f64())
}

/// A size from the environment: bytes, or with a K/M/G suffix.
pub fn env_size(var: &str, default: u64) -> Result<u64, BoxError> {
    let Ok(v) = std::env::var(var) else {
        return Ok(default);
    };
    let (num, mult) = match v.chars().last() {
        Some('K' | 'k') => (&v[..v.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&v[..v.len() - 1], 1 << 20),
        Some('G' | 'g') => (&v[..v.len() - 1], 1 << 30),
        _ => (&v[..], 1),
    };
    let n: u64 = num.parse().map_err(|e| format!("{var}={v}: {e}"))?;
    Ok(n * mult)
}

/// Writes `size` bytes of non-zero data (so nothing is sparse), durably.
pub fn fill_file(path: &Path, size: u64) -> Result<(), BoxError> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let block: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(31) >> 3) as u8 | 1)
        .collect();
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// One figure: our rounds against the reference's, and the issue's goal for
/// the ratio of their medians.
pub struct Row {
    pub what: String,
    pub unit: &'static str,
    pub ours: Vec<f64>,
    pub reference: &'static str,
    pub theirs: Vec<f64>,
    pub goal: f64,
}

impl Row {
    pub fn new(
        what: String,
        unit: &'static str,
        ours: Vec<f64>,
        reference: &'static str,
        theirs: Vec<f64>,
        goal: f64,
    ) -> Row {
        Row {
            what,
            unit,
            ours,
            reference,
            theirs,
            goal,
        }
    }

    /// Prints the medians, the ratio and whether the goal is met (the line
    /// ends in "yes" or "NO", which `scripts/bench.sh` collects), then every
    /// round.
    pub fn print(&self) {
        let (o, t) = (median(&self.ours), median(&self.theirs));
        let ratio = o / t;
        println!(
            "{:<58} {:>10.0} {:<5} {:>12} {:>7.0} {:<5} {:>6.2}x {:>5.1}x {:>4}",
            self.what,
            o,
            self.unit,
            self.reference,
            t,
            self.unit,
            ratio,
            self.goal,
            if ratio >= self.goal { "yes" } else { "NO" }
        );
        println!(
            "{:<58} {:>16} {:>26}",
            "  all rounds",
            spread(&self.ours),
            spread(&self.theirs)
        );
    }
}

/// A random 4 KiB write job at QD16.
pub enum FioJob {
    /// `ios` writes over `size` bytes, each 4 KiB block at most once, with
    /// fresh offsets on every run.
    Ios { size: u64, ios: u64 },
    /// Writes over `size` bytes for `seconds`.
    Timed { size: u64, seconds: u64 },
}

/// Runs fio against an NBD URI and returns its write IOPS.
pub fn fio_iops(uri: &str, job: &FioJob) -> Result<f64, BoxError> {
    let mut args = vec![
        "--name=randwrite".to_string(),
        "--ioengine=nbd".into(),
        format!("--uri={uri}"),
        "--rw=randwrite".into(),
        "--bs=4k".into(),
        "--iodepth=16".into(),
        "--output-format=json".into(),
    ];
    match job {
        FioJob::Ios { size, ios } => args.extend([
            format!("--size={size}"),
            format!("--number_ios={ios}"),
            "--randrepeat=0".into(),
            "--norandommap=0".into(),
        ]),
        FioJob::Timed { size, seconds } => args.extend([
            format!("--size={size}"),
            format!("--runtime={seconds}"),
            "--time_based".into(),
        ]),
    }
    let out = Command::new("fio").args(&args).output()?;
    if !out.status.success() {
        return Err(format!(
            "fio on {uri} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    // fio may print notices before the JSON document.
    let text = String::from_utf8_lossy(&out.stdout);
    let json = &text[text.find('{').ok_or("no JSON from fio")?..];
    let v: serde_json::Value = serde_json::from_str(json)?;
    let iops = v["jobs"][0]["write"]["iops"]
        .as_f64()
        .ok_or("fio JSON has no jobs[0].write.iops")?;
    if iops <= 0.0 {
        return Err(format!("fio on {uri} did no I/O").into());
    }
    Ok(iops)
}

/// Serves `file` read-only with `qemu-nbd` (the read reference: persistent,
/// up to 16 connections, export name "r") on a free port; returns the
/// process and its URI once it listens.
pub fn serve_read_only(file: &Path) -> Result<(Child, String), BoxError> {
    let (child, port) = serve_qemu_nbd(file, "r", &["-r"])?;
    Ok((child, format!("nbd://127.0.0.1:{port}/r")))
}

/// `qemu-nbd` serving `file` as `export` (persistent, up to 16
/// connections) with `extra` options (`-r`, TLS credentials, ...) on a free
/// port; returns the process and the port once it listens.
pub fn serve_qemu_nbd(file: &Path, export: &str, extra: &[&str]) -> Result<(Child, u16), BoxError> {
    let port = free_port()?;
    let port_s = port.to_string();
    let mut args = extra.to_vec();
    args.extend([
        "-f",
        "raw",
        "-t",
        "-e",
        "16",
        "-b",
        "127.0.0.1",
        "-p",
        &port_s,
        "-x",
        export,
        path_str(file),
    ]);
    let child = spawn("qemu-nbd", &args)?;
    wait_listening(&format!("nbd://127.0.0.1:{port}/{export}"))?;
    Ok((child, port))
}

/// Prints the table of rows (medians, ratios, goals).
pub fn print_rows(rows: &[Row]) {
    println!();
    println!(
        "{:<58} {:>16} {:>20} {:>7} {:>6} {:>4}",
        "benchmark (median of rounds)", "ours", "reference", "ratio", "goal", "met"
    );
    for r in rows {
        r.print();
    }
}

/// Sequential reads of `size` bytes with `nbdcopy URI null:`, ours against
/// the reference alternately `rounds` times, with nbdcopy's default
/// connections and over one connection: one row each (goal 1.0×).
pub fn read_rows(
    label: &str,
    ours: &str,
    reference: &str,
    size: u64,
    rounds: u64,
) -> Result<Vec<Row>, BoxError> {
    let mut rows = Vec::new();
    for (conns, extra) in [
        ("default conns", &[][..]),
        ("1 conn", &["--connections=1"][..]),
    ] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            a.push(nbdcopy_mib_s(ours, size, extra)?);
            b.push(nbdcopy_mib_s(reference, size, extra)?);
        }
        rows.push(Row::new(
            format!("{label}, nbdcopy seq. read ({conns})"),
            "MiB/s",
            a,
            "qemu-nbd",
            b,
            1.0,
        ));
    }
    Ok(rows)
}
