//! The `cimomd` binary: its start-up lines with the real ports, its clean
//! shutdown, and exit status 2 on bad flags.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Reads `cimomd: listening on SCHEME://ADDR` lines until both are seen.
fn read_addrs(stderr: std::process::ChildStderr) -> (String, String) {
    let mut http = None;
    let mut nbd = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = BufReader::new(stderr).lines();
    while http.is_none() || nbd.is_none() {
        assert!(
            Instant::now() < deadline,
            "cimomd did not print its addresses"
        );
        let Some(Ok(line)) = lines.next() else {
            panic!("cimomd closed stderr before printing its addresses");
        };
        if let Some(rest) = line.strip_prefix("cimomd: listening on http://") {
            http = Some(rest.to_owned());
        } else if let Some(rest) = line.strip_prefix("cimomd: listening on nbd://") {
            nbd = Some(rest.to_owned());
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (http.unwrap(), nbd.unwrap())
}

/// Kills the child if the test fails before it stopped it.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn cimomd_prints_real_ports_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cimomd"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--nbd-listen",
            "127.0.0.1:0",
            "--log",
            "warn",
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (http, nbd) = read_addrs(child.stderr.take().unwrap());
    let mut child = Reap(child);
    for addr in [&http, &nbd] {
        assert!(!addr.ends_with(":0"), "{addr}");
        std::net::TcpStream::connect(addr.as_str()).unwrap();
    }
    // The default volume root was created.
    assert!(dir.path().join("state/volumes").is_dir());
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(code) = child.0.try_wait().unwrap() {
            assert!(code.success(), "cimomd exited with {code}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cimomd did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cimomd_refuses_bad_flags_with_status_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_cimomd"))
        .args(["--listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-an-address"));
}
