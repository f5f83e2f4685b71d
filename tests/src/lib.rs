//! Helpers for the cross-crate end-to-end tests: start a real `cimomd` on free
//! loopback ports with a temporary state dir and volume root.
//!
//! The binary is the one cargo built beside the test executable
//! (`target/<profile>/cimomd`); the test command builds it first
//! (`cargo build --workspace --bins`). The tests themselves live in `tests/tests/`.

#[cfg(test)]
mod tidy;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `cimomd` binary next to the running test executable.
pub fn cimomd_binary() -> PathBuf {
    if let Ok(p) = std::env::var("CIMOMD") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/cimomd
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("cimomd");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        bin.display()
    );
    bin
}

/// `N` distinct free TCP ports on loopback: all bound at once (so the kernel
/// cannot return the same port twice), then released for the server to take.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("local address").port())
}

/// One running `cimomd`; killed when dropped.
pub struct Server {
    child: Child,
    /// HTTP port.
    pub port: u16,
    /// NBD port.
    pub nbd_port: u16,
    /// State directory.
    pub state_dir: PathBuf,
    /// Volume root.
    pub volume_root: PathBuf,
}

impl Server {
    /// Starts `cimomd` with its state in `state_dir` and volumes under `volume_root`.
    pub fn start(state_dir: &Path, volume_root: &Path) -> Server {
        std::fs::create_dir_all(volume_root).expect("create volume root");
        let [port, nbd_port] = free_ports();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(state_dir.with_extension("log"))
            .expect("open log");
        let child = Command::new(cimomd_binary())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--nbd-listen")
            .arg(format!("127.0.0.1:{nbd_port}"))
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--volume-root")
            .arg(volume_root)
            .stdout(Stdio::from(log.try_clone().expect("dup log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start cimomd");
        let mut server = Server {
            child,
            port,
            nbd_port,
            state_dir: state_dir.to_owned(),
            volume_root: volume_root.to_owned(),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("cimomd exited early: {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cimomd did not listen on {addr} within 60 s");
    }

    /// The HTTP URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a sparse volume file of `size` bytes under the root; returns its canonical path.
    pub fn volume(&self, name: &str, size: u64) -> String {
        let path = self.volume_root.join(name);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .expect("create volume");
        f.set_len(size).expect("size volume");
        path.canonicalize()
            .expect("canonical volume path")
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
