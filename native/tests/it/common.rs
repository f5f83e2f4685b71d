//! Shared helpers for the engine's integration tests: a temporary volume root
//! with a state directory, volume files and whole-device reads.

#![allow(dead_code)]

use native::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const CH: usize = CHUNK_SIZE as usize;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("vols");
        let state = std::fs::canonicalize(dir.path()).unwrap().join("state");
        std::fs::create_dir_all(&root).unwrap();
        Env { dir, root, state }
    }

    /// Creates a volume file of `size` bytes filled with `fill`.
    pub fn vol(&self, name: &str, size: usize, fill: u8) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, vec![fill; size]).unwrap();
        p
    }

    /// Creates a volume with pseudo-random content.
    pub fn vol_rand(&self, name: &str, size: usize, seed: u64) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, pattern(seed, size)).unwrap();
        p
    }

    pub fn open(&self) -> Engine {
        Engine::open(EngineConfig::new(&self.state, vec![self.root.clone()])).unwrap()
    }
}

/// Deterministic bytes for a seed.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn read_all(d: &Arc<dyn BlockDevice>) -> Vec<u8> {
    let mut b = vec![0u8; d.size() as usize];
    d.read_at(&mut b, 0).unwrap();
    b
}

pub fn dev(e: &Engine, p: &Path) -> Arc<dyn BlockDevice> {
    e.device(p).unwrap()
}

pub fn spec(master: &Path, shadow: &Path, bitmap: &Path, kind: SetKind) -> SetSpec {
    SetSpec {
        master: master.into(),
        shadow: shadow.into(),
        bitmap: bitmap.into(),
        kind,
        name: None,
        group: None,
        overflow: None,
        ..Default::default()
    }
}

/// First differing byte, for readable assertion messages.
pub fn first_diff(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then_some(a.len().min(b.len())))
}

/// How long a test copy may run before the test fails.
pub const COPY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits for the set's copy job to end, failing the test after
/// [`COPY_TIMEOUT`].
pub fn wait_done(e: &Engine, shadow: &Path) {
    assert!(
        e.wait(shadow, Some(COPY_TIMEOUT)).unwrap(),
        "copy of {} still running after {COPY_TIMEOUT:?}",
        shadow.display()
    );
}

/// Checks that the engine's device for `path` reads exactly `want`, naming
/// the first differing byte instead of printing both volumes.
pub fn check_reads(e: &Engine, path: &Path, want: &[u8]) {
    let got = read_all(&dev(e, path));
    assert!(
        got == want,
        "{} differs from the expected image at byte {:?}",
        path.display(),
        first_diff(&got, want)
    );
}
