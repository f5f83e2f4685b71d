//! Helpers shared by the NBD integration tests: a server on an ephemeral
//! loopback port, temporary volumes, test devices, and external client tools
//! run with a time limit.

#![allow(dead_code)] // each test binary uses a different subset

use native::nbd::{FileExport, NbdConfig, NbdServer};
use native::{BlockDevice, Error, ExportSource, Result};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An NBD server running on its own runtime, stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<std::sync::mpsc::Receiver<io::Result<()>>>,
}

impl TestServer {
    pub fn start(source: Arc<dyn ExportSource>) -> TestServer {
        TestServer::start_with(source, NbdConfig::default())
    }

    pub fn start_with(source: Arc<dyn ExportSource>, config: NbdConfig) -> TestServer {
        TestServer::start_full(source, config, native::nbd::NbdTls::off())
    }

    /// A server with TLS settings.
    pub fn start_tls(source: Arc<dyn ExportSource>, tls: native::nbd::NbdTls) -> TestServer {
        TestServer::start_full(source, NbdConfig::default(), tls)
    }

    fn start_full(
        source: Arc<dyn ExportSource>,
        config: NbdConfig,
        tls: native::nbd::NbdTls,
    ) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let server = rt
            .block_on(NbdServer::bind("127.0.0.1:0", source))
            .expect("bind 127.0.0.1:0")
            .with_config(config)
            .with_tls(tls);
        let addr = server.local_addr().expect("local_addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let r = server
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
            let _ = done_tx.send(r);
        });
        TestServer {
            addr,
            rt: Some(rt),
            stop: Some(stop),
            done: Some(done),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `nbd://127.0.0.1:PORT/NAME`; with an absolute-path name this is the
    /// double-slash form.
    pub fn uri(&self, name: &str) -> String {
        format!("nbd://127.0.0.1:{}/{}", self.port(), name)
    }

    /// `nbd://127.0.0.1:PORT` (for listing).
    pub fn base_uri(&self) -> String {
        format!("nbd://127.0.0.1:{}", self.port())
    }

    /// Asks the server to shut down without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts the server down and returns what `run_until` returned.
    pub fn shutdown(mut self, within: Duration) -> io::Result<()> {
        self.begin_shutdown();
        self.done
            .take()
            .expect("not yet stopped")
            .recv_timeout(within)
            .expect("server did not stop in time")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Creates a file of `size` bytes filled with `fill`.
pub fn volume(dir: &Path, name: &str, size: usize, fill: u8) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, vec![fill; size]).expect("create volume");
    path
}

/// A [`FileExport`] over the given files (path, read-only).
pub fn exports(files: &[(&Path, bool)]) -> (Arc<FileExport>, Vec<String>) {
    let ex = FileExport::new();
    let names = files
        .iter()
        .map(|(p, ro)| ex.add_file(p, *ro).expect("export file"))
        .collect();
    (Arc::new(ex), names)
}

/// Deterministic, non-repeating test data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

/// Which Debian package provides each external tool (the project's test
/// script installs them).
fn package_of(tool: &str) -> &'static str {
    match tool {
        "qemu-io" | "qemu-img" | "qemu-nbd" => "qemu-utils",
        "nbdinfo" | "nbdcopy" => "libnbd-bin",
        "nbdkit" => "nbdkit",
        "fio" => "fio",
        _ => "(unknown)",
    }
}

/// Runs an external tool with a time limit. A missing tool fails the test
/// loudly, naming the package to install.
pub fn run_tool(tool: &str, args: &[&str]) -> Output {
    let limit = Duration::from_secs(120);
    let mut child = match Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
            "`{tool}` is not installed: install the Debian package `{pkg}` \
             (apt-get install -y {pkg}); these tests drive the NBD server with real clients",
            pkg = package_of(tool)
        ),
        Err(e) => panic!("cannot run {tool}: {e}"),
    };
    // Drain the pipes on threads so a chatty tool cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = io::Read::read_to_end(&mut out, &mut v);
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = io::Read::read_to_end(&mut err, &mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{tool} {args:?} did not finish within {limit:?} (server stalled?)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Runs a tool that must succeed; returns stdout and stderr together.
pub fn run_ok(tool: &str, args: &[&str]) -> String {
    let o = run_tool(tool, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        o.status.success(),
        "{tool} {args:?} failed with {}:\n{text}",
        o.status
    );
    text
}

/// Runs qemu-io on an NBD export with the given commands; asserts that it
/// succeeded and that no command reported a failure.
pub fn qemu_io(uri: &str, cmds: &[&str]) -> String {
    let mut args = vec!["-f", "raw", uri];
    for c in cmds {
        args.push("-c");
        args.push(c);
    }
    let text = run_ok("qemu-io", &args);
    assert!(
        !text.contains("failed") && !text.contains("error"),
        "qemu-io {cmds:?} reported a failure:\n{text}"
    );
    text
}

/// A device that behaves like an exported shadow: advertised writable at
/// negotiation, but every write is refused (`EPERM`); reads are served from
/// the inner device.
pub struct RefusingDevice(pub Arc<dyn BlockDevice>);

impl BlockDevice for RefusingDevice {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, _buf: &[u8], _offset: u64, _fua: bool) -> Result<()> {
        Err(refused())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn trim(&self, _offset: u64, _len: u64) -> Result<()> {
        Err(refused())
    }
    fn write_zeroes(&self, _offset: u64, _len: u64, _fua: bool) -> Result<()> {
        Err(refused())
    }
}

fn refused() -> Error {
    Error::PermissionDenied {
        path: PathBuf::from("/test/shadow"),
        reason: "the shadow is exported".into(),
    }
}
