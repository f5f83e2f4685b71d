//! Helpers of the mirror tests: a [`LinkFactory`] whose secondaries are
//! plain files and whose link can be cut, made to hang, paused (replies
//! held back) and counted, so link loss, timeouts and async backlogs are
//! testable without a network.

#![allow(dead_code)]

use native::mirror::*;
use native::*;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared switches of every link a [`TestLinks`] made.
#[derive(Default)]
pub struct Switches {
    /// Connections fail and open links answer errors.
    pub cut: AtomicBool,
    /// Writes get no reply at all (held forever).
    pub hang: AtomicBool,
    /// Replies are held until resumed.
    pub paused: AtomicBool,
    /// Write requests and bytes seen.
    pub writes: AtomicU64,
    pub bytes: AtomicU64,
    /// Chunk numbers written (offset / 32 KiB of each request's start).
    pub chunks: Mutex<Vec<u64>>,
    held: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    /// Calls of protect / unprotect.
    pub protects: AtomicU64,
    pub unprotects: AtomicU64,
}

impl Switches {
    /// Lets held replies go.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        let held: Vec<_> = std::mem::take(&mut *self.held.lock().unwrap());
        for f in held {
            f();
        }
    }
}

pub struct TestLinks {
    pub sw: Arc<Switches>,
}

struct FileLink {
    file: std::fs::File,
    size: u64,
    sw: Arc<Switches>,
}

fn cut_err() -> Error {
    Error::Io {
        path: PathBuf::from("test-link"),
        source: std::io::Error::new(std::io::ErrorKind::ConnectionReset, "link cut"),
    }
}

impl MirrorLink for FileLink {
    fn size(&self) -> u64 {
        self.size
    }
    fn write(&self, offset: u64, data: Vec<u8>, _fua: bool, done: Completion) {
        if self.sw.cut.load(Ordering::SeqCst) {
            return done(Err(cut_err()));
        }
        if self.sw.hang.load(Ordering::SeqCst) {
            std::mem::forget(done);
            return;
        }
        self.sw.writes.fetch_add(1, Ordering::SeqCst);
        self.sw.bytes.fetch_add(data.len() as u64, Ordering::SeqCst);
        {
            let mut ch = self.sw.chunks.lock().unwrap();
            let c0 = offset / CHUNK_SIZE;
            let c1 = (offset + data.len() as u64 - 1) / CHUNK_SIZE;
            ch.extend(c0..=c1);
        }
        let r = self
            .file
            .write_all_at(&data, offset)
            .map_err(|e| Error::Io {
                path: PathBuf::from("test-link"),
                source: e,
            });
        if self.sw.paused.load(Ordering::SeqCst) {
            self.sw.held.lock().unwrap().push(Box::new(move || done(r)));
        } else {
            done(r)
        }
    }
    fn flush(&self, done: Completion) {
        if self.sw.cut.load(Ordering::SeqCst) {
            return done(Err(cut_err()));
        }
        if self.sw.paused.load(Ordering::SeqCst) {
            self.sw
                .held
                .lock()
                .unwrap()
                .push(Box::new(move || done(Ok(()))));
            return;
        }
        done(Ok(()))
    }
    fn read(&self, offset: u64, len: u32, done: ReadCompletion) {
        if self.sw.cut.load(Ordering::SeqCst) {
            return done(Err(cut_err()));
        }
        let mut b = vec![0u8; len as usize];
        done(
            self.file
                .read_exact_at(&mut b, offset)
                .map(|_| b)
                .map_err(|e| Error::Io {
                    path: PathBuf::from("test-link"),
                    source: e,
                }),
        )
    }
    fn is_up(&self) -> bool {
        !self.sw.cut.load(Ordering::SeqCst)
    }
}

impl LinkFactory for TestLinks {
    fn connect(&self, target: &RemoteTarget, _timeout: Duration) -> Result<Arc<dyn MirrorLink>> {
        if self.sw.cut.load(Ordering::SeqCst) {
            return Err(cut_err());
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&target.export)
            .map_err(|e| Error::Io {
                path: PathBuf::from(&target.export),
                source: e,
            })?;
        let size = file.metadata().unwrap().len();
        Ok(Arc::new(FileLink {
            file,
            size,
            sw: self.sw.clone(),
        }))
    }
    fn protect(&self, _t: &RemoteTarget, _v: &Path) -> Result<()> {
        self.sw.protects.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn unprotect(&self, _t: &RemoteTarget, _v: &Path) -> Result<()> {
        self.sw.unprotects.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A remote secondary that is the file `path` (outside the roots).
pub fn remote(path: &Path) -> Secondary {
    Secondary::Remote {
        volume: path.to_path_buf(),
        target: RemoteTarget {
            peer: "peer".into(),
            address: format!("test:{}", path.display()),
            export: path.display().to_string(),
            tls: None,
        },
    }
}

/// Opens an engine whose remote secondaries go through `sw`.
pub fn open_with(state: &Path, root: &Path, sw: &Arc<Switches>) -> Engine {
    let mut cfg = EngineConfig::new(state, vec![root.to_path_buf()]);
    cfg.links = Some(Links(Arc::new(TestLinks { sw: sw.clone() })));
    Engine::open(cfg).unwrap()
}

pub fn mspec(primary: &Path, secondary: Secondary, scoreboard: &Path) -> MirrorSpec {
    MirrorSpec {
        primary: primary.into(),
        secondary,
        scoreboard: scoreboard.into(),
        mode: MirrorMode::Sync,
        group: None,
        options: MirrorOptions::default(),
        volumes_equal: false,
    }
}

/// Waits up to `secs` for `f`.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}
