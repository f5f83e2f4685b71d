//! Helpers shared by the NBD benchmark examples (`nbd_bench`,
//! `engine_nbd_bench`): medians, environment knobs, and starting, waiting for
//! and stopping the reference tools. Included with `#[path]` by each example.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type BoxError = Box<dyn std::error::Error>;

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
