//! The storage seam: every durable I/O of the engine — volume reads, writes
//! and syncs (masters, shadows, bitmap and overflow volumes), in-kernel copy
//! targets, the atomic rewrite of `engine.json` and the lock file — goes
//! through this module, so a crash test can record an I/O trace and rebuild
//! the disk image a power cut at any point of it would leave (after redb's
//! crash-consistency tests, written anew).
//!
//! **Production** uses [`StorageFile`], a plain `std::fs::File` plus its
//! path. Each call costs one relaxed load of a process-wide flag over the
//! system call; nothing is recorded unless a [`Trace`] is running.
//!
//! **Tracing.** [`Trace::start`]`(dir)` snapshots every regular file under
//! `dir` (that state counts as durable: start at a quiescent point) and from
//! then on records, in order, every operation on a path under `dir`:
//!
//! | event | recorded by | meaning on power loss |
//! |---|---|---|
//! | [`Event::Create`] | `File::create` (create or truncate) | new name: durable only after a sync of its directory |
//! | [`Event::Write`] `{off, data}` | `pwrite` (and in-kernel copies, read back) | lost, kept or torn unless its file was synced after it |
//! | [`Event::SetLen`] | `ftruncate` | like a write |
//! | [`Event::Sync`] | `fdatasync`/`fsync` of the file | makes every earlier write of that file durable |
//! | [`Event::Rename`] `{from, to}` | `rename` | durable only after a sync of the directory |
//! | [`Event::SyncDir`] | `fsync` of a directory | makes earlier creates/renames in it durable |
//!
//! Several traces may run at once on disjoint directories (tests in threads).
//!
//! **Images.** [`Trace::image`]`(k, seed, tearing)` replays events `0..k` on
//! the snapshot and returns the files a power cut right after event `k`
//! would leave: each file's content as of its last completed sync, plus
//! every later write independently kept or dropped — or, with
//! [`Tearing::Sectors`], kept sector by sector (512 bytes), as a drive may
//! tear a multi-sector write. Names follow the POSIX minimum the engine
//! relies on: a create or rename is kept only if its directory was synced
//! after it; those not yet synced survive as a random prefix (a journal
//! commits metadata in order). `engine.json` therefore comes back old or new,
//! never torn, because the engine syncs the temporary file, renames it and
//! syncs the directory. [`Image::restore`] writes the image over the files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// A file opened through the seam: positioned I/O, syncs and truncation,
/// recorded when a trace covers its path.
#[derive(Debug)]
pub(crate) struct StorageFile {
    file: File,
    path: PathBuf,
}

impl StorageFile {
    pub fn new(file: File, path: &Path) -> StorageFile {
        StorageFile {
            file,
            path: path.to_path_buf(),
        }
    }

    /// Creates (or truncates) a file for writing.
    pub fn create(path: &Path) -> std::io::Result<StorageFile> {
        let file = File::create(path)?;
        record(path, || Event::Create {
            path: path.to_path_buf(),
        });
        Ok(StorageFile::new(file, path))
    }

    /// The underlying file, for what the seam does not cover (a lock).
    pub fn into_file(self) -> File {
        self.file
    }

    pub fn read_exact_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<()> {
        self.file.read_exact_at(buf, off)
    }

    pub fn write_all_at(&self, buf: &[u8], off: u64) -> std::io::Result<()> {
        self.file.write_all_at(buf, off)?;
        record(&self.path, || Event::Write {
            path: self.path.clone(),
            off,
            data: buf.to_vec(),
        });
        Ok(())
    }

    pub fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)?;
        record(&self.path, || Event::SetLen {
            path: self.path.clone(),
            len,
        });
        Ok(())
    }

    /// `fdatasync`.
    pub fn sync_data(&self) -> std::io::Result<()> {
        synced(&self.path, || self.file.sync_data())
    }

    /// `fsync` (data and metadata; the same durability point in the model).
    pub fn sync_all(&self) -> std::io::Result<()> {
        synced(&self.path, || self.file.sync_all())
    }

    /// Size by seeking to the end (works for block devices without `ioctl`).
    pub fn seek_end(&mut self) -> std::io::Result<u64> {
        self.file.seek(SeekFrom::End(0))
    }
}

/// `rename(2)` through the seam.
pub(crate) fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    record(to, || Event::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
    });
    Ok(())
}

/// `fsync` of a directory through the seam.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()?;
    record(&dir.join("."), || Event::SyncDir {
        dir: dir.to_path_buf(),
    });
    Ok(())
}

/// Records `len` bytes at `off` that something outside the seam (an
/// in-kernel copy) wrote to `path`, by reading them back while traced.
pub(crate) fn record_external_write(path: &Path, off: u64, len: u64) -> std::io::Result<()> {
    if !TRACING.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut data = vec![0u8; len as usize];
    File::open(path)?.read_exact_at(&mut data, off)?;
    record(path, || Event::Write {
        path: path.to_path_buf(),
        off,
        data,
    });
    Ok(())
}

/// One recorded operation (see the module doc for its power-loss meaning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Create {
        path: PathBuf,
    },
    Write {
        path: PathBuf,
        off: u64,
        data: Vec<u8>,
    },
    SetLen {
        path: PathBuf,
        len: u64,
    },
    /// A sync that started when the trace had `covers` events: it makes
    /// the file's writes among those durable.
    Sync {
        path: PathBuf,
        covers: usize,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
    },
    SyncDir {
        dir: PathBuf,
    },
}

/// How unsynced writes may survive in an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tearing {
    /// Each unsynced write is kept or dropped whole.
    Whole,
    /// Each 512-byte sector of an unsynced write is kept or dropped.
    Sectors,
    /// Every unsynced write is dropped (the most pessimistic image).
    DropAll,
}

/// True while any trace runs: the only cost the seam adds in production.
static TRACING: AtomicBool = AtomicBool::new(false);
static TRACES: RwLock<Vec<Arc<Trace>>> = RwLock::new(Vec::new());

/// Writes are recorded once they return; a sync counts only for writes
/// recorded before it started (another thread's write racing it may miss it).
fn record(path: &Path, ev: impl FnOnce() -> Event) {
    if !TRACING.load(Ordering::Relaxed) {
        return;
    }
    let traces = TRACES.read().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = traces.iter().find(|t| path.starts_with(&t.dir)) {
        t.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ev());
    }
}

/// Runs a file sync and records it with the trace position it started at.
fn synced(path: &Path, sync: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<()> {
    let covers = if TRACING.load(Ordering::Relaxed) {
        let traces = TRACES.read().unwrap_or_else(|e| e.into_inner());
        traces
            .iter()
            .find(|t| path.starts_with(&t.dir))
            .map(|t| t.len())
    } else {
        None
    };
    sync()?;
    if let Some(covers) = covers {
        record(path, || Event::Sync {
            path: path.to_path_buf(),
            covers,
        });
    }
    Ok(())
}

/// An I/O trace of the files under one directory.
#[derive(Debug)]
pub struct Trace {
    dir: PathBuf,
    /// Regular files under `dir` at the start, with their contents.
    snapshot: Vec<(PathBuf, Vec<u8>)>,
    events: Mutex<Vec<Event>>,
}

impl Trace {
    /// Snapshots the files under `dir` (a canonical path) and starts
    /// recording operations on them.
    pub fn start(dir: &Path) -> std::io::Result<Arc<Trace>> {
        let mut snapshot = Vec::new();
        snapshot_dir(dir, &mut snapshot)?;
        let t = Arc::new(Trace {
            dir: dir.to_path_buf(),
            snapshot,
            events: Mutex::new(Vec::new()),
        });
        let mut all = TRACES.write().unwrap_or_else(|e| e.into_inner());
        all.push(t.clone());
        TRACING.store(true, Ordering::Relaxed);
        Ok(t)
    }

    /// Stops recording (the events stay available).
    pub fn stop(self: &Arc<Trace>) {
        let mut all = TRACES.write().unwrap_or_else(|e| e.into_inner());
        all.retain(|t| !Arc::ptr_eq(t, self));
        TRACING.store(!all.is_empty(), Ordering::Relaxed);
    }

    /// Number of events so far: a position to compare cut points with.
    pub fn len(&self) -> usize {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The files a power cut after the first `cut` events would leave; the
    /// fate of each unsynced write and name comes from `seed`.
    pub fn image(&self, cut: usize, seed: u64, tearing: Tearing) -> Image {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let mut m = Replay::new(&self.snapshot);
        for (at, ev) in events[..cut.min(events.len())].iter().enumerate() {
            m.apply(at, ev);
        }
        m.cut(seed, tearing)
    }
}

fn snapshot_dir(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let ft = e.file_type()?;
        if ft.is_dir() {
            snapshot_dir(&e.path(), out)?;
        } else if ft.is_file() {
            let mut buf = Vec::new();
            File::open(e.path())?.read_to_end(&mut buf)?;
            out.push((e.path(), buf));
        }
    }
    Ok(())
}

/// The state of the traced files after a simulated power cut: every path
/// the trace knows, with its content or `None` where no name survived.
#[derive(Debug, Clone)]
pub struct Image {
    pub files: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl Image {
    /// Writes the image over the real files (removing vanished names).
    pub fn restore(&self) -> std::io::Result<()> {
        for (p, c) in &self.files {
            match c {
                Some(c) => std::fs::write(p, c)?,
                None => match std::fs::remove_file(p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                },
            }
        }
        Ok(())
    }

    /// The content of one file of the image.
    pub fn file(&self, path: &Path) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .and_then(|(_, c)| c.as_deref())
    }
}

enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

/// A pending operation and the trace position it was recorded at.
type PendingAt = (usize, Pending);

struct Inode {
    durable: Vec<u8>,
    pending: Vec<PendingAt>,
}

enum NameOp {
    Link(PathBuf, usize),
    Rename(PathBuf, PathBuf),
}

/// Replays a trace on the snapshot, tracking what is durable.
struct Replay {
    inodes: Vec<Inode>,
    names: HashMap<PathBuf, usize>,
    durable_names: HashMap<PathBuf, usize>,
    /// Name changes not yet made durable, per directory, in order.
    name_ops: Vec<(PathBuf, NameOp)>,
    paths: Vec<PathBuf>,
}

impl Replay {
    fn new(snapshot: &[(PathBuf, Vec<u8>)]) -> Replay {
        let mut r = Replay {
            inodes: Vec::new(),
            names: HashMap::new(),
            durable_names: HashMap::new(),
            name_ops: Vec::new(),
            paths: Vec::new(),
        };
        for (p, c) in snapshot {
            r.inodes.push(Inode {
                durable: c.clone(),
                pending: Vec::new(),
            });
            r.names.insert(p.clone(), r.inodes.len() - 1);
            r.durable_names.insert(p.clone(), r.inodes.len() - 1);
            r.paths.push(p.clone());
        }
        r
    }

    fn note(&mut self, p: &Path) {
        if !self.paths.iter().any(|q| q == p) {
            self.paths.push(p.to_path_buf());
        }
    }

    fn apply(&mut self, at: usize, ev: &Event) {
        let parent = |p: &Path| p.parent().unwrap_or(Path::new("/")).to_path_buf();
        match ev {
            Event::Create { path } => {
                self.note(path);
                if let Some(&i) = self.names.get(path) {
                    self.inodes[i].pending.push((at, Pending::SetLen(0)));
                } else {
                    self.inodes.push(Inode {
                        durable: Vec::new(),
                        pending: Vec::new(),
                    });
                    let i = self.inodes.len() - 1;
                    self.names.insert(path.clone(), i);
                    self.name_ops
                        .push((parent(path), NameOp::Link(path.clone(), i)));
                }
            }
            Event::Write { path, off, data } => {
                if let Some(&i) = self.names.get(path) {
                    self.inodes[i]
                        .pending
                        .push((at, Pending::Write(*off, data.clone())));
                }
            }
            Event::SetLen { path, len } => {
                if let Some(&i) = self.names.get(path) {
                    self.inodes[i].pending.push((at, Pending::SetLen(*len)));
                }
            }
            Event::Sync { path, covers } => {
                if let Some(&i) = self.names.get(path) {
                    let ino = &mut self.inodes[i];
                    let (done, later): (Vec<_>, Vec<_>) = std::mem::take(&mut ino.pending)
                        .into_iter()
                        .partition(|(w, _)| w < covers);
                    for (_, p) in done {
                        apply_pending(&mut ino.durable, &p, None);
                    }
                    ino.pending = later;
                }
            }
            Event::Rename { from, to } => {
                self.note(from);
                self.note(to);
                if let Some(i) = self.names.remove(from) {
                    self.names.insert(to.clone(), i);
                    self.name_ops
                        .push((parent(to), NameOp::Rename(from.clone(), to.clone())));
                }
            }
            Event::SyncDir { dir } => {
                let ops = std::mem::take(&mut self.name_ops);
                for (d, op) in ops {
                    if &d == dir {
                        self.commit(op);
                    } else {
                        self.name_ops.push((d, op));
                    }
                }
            }
        }
    }

    fn commit(&mut self, op: NameOp) {
        match op {
            NameOp::Link(p, i) => {
                self.durable_names.insert(p, i);
            }
            NameOp::Rename(from, to) => {
                if let Some(i) = self.durable_names.remove(&from) {
                    self.durable_names.insert(to, i);
                }
            }
        }
    }

    fn cut(mut self, seed: u64, tearing: Tearing) -> Image {
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let ops = std::mem::take(&mut self.name_ops);
        let keep = if tearing == Tearing::DropAll {
            0
        } else {
            (rng.next() % (ops.len() as u64 + 1)) as usize
        };
        for (_, op) in ops.into_iter().take(keep) {
            self.commit(op);
        }
        let mut contents: Vec<Option<Vec<u8>>> = Vec::new();
        for ino in &mut self.inodes {
            let mut c = std::mem::take(&mut ino.durable);
            for (_, p) in &ino.pending {
                match tearing {
                    Tearing::DropAll => {}
                    Tearing::Whole => {
                        if rng.coin() {
                            apply_pending(&mut c, p, None);
                        }
                    }
                    Tearing::Sectors => match rng.next() % 3 {
                        0 => apply_pending(&mut c, p, None),
                        1 => apply_pending(&mut c, p, Some(&mut rng)),
                        _ => {}
                    },
                }
            }
            contents.push(Some(c));
        }
        let files = self
            .paths
            .iter()
            .map(|p| {
                let c = self.durable_names.get(p).and_then(|&i| contents[i].clone());
                (p.clone(), c)
            })
            .collect();
        Image { files }
    }
}

/// Applies one pending operation; with `torn`, a write keeps a random
/// subset of its 512-byte sectors (counted from the file's offset 0).
fn apply_pending(c: &mut Vec<u8>, p: &Pending, torn: Option<&mut XorShift>) {
    match p {
        Pending::SetLen(n) => c.resize(*n as usize, 0),
        Pending::Write(off, data) => {
            let off = *off as usize;
            if c.len() < off + data.len() {
                c.resize(off + data.len(), 0);
            }
            match torn {
                None => c[off..off + data.len()].copy_from_slice(data),
                Some(rng) => {
                    let mut at = off;
                    while at < off + data.len() {
                        let end = ((at / 512 + 1) * 512).min(off + data.len());
                        if rng.coin() {
                            c[at..end].copy_from_slice(&data[at - off..end - off]);
                        }
                        at = end;
                    }
                }
            }
        }
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_follow_syncs_and_directory_syncs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(tmp.path()).unwrap();
        let v = dir.join("v");
        std::fs::write(&v, [0u8; 2048]).unwrap();
        let t = Trace::start(&dir).unwrap();
        let f = StorageFile::new(
            std::fs::OpenOptions::new().write(true).open(&v).unwrap(),
            &v,
        );
        f.write_all_at(&[1u8; 1024], 0).unwrap();
        f.sync_data().unwrap();
        let synced = t.len();
        f.write_all_at(&[2u8; 1024], 0).unwrap();
        let (tmpf, cfg) = (dir.join("c.tmp"), dir.join("c"));
        let c = StorageFile::create(&tmpf).unwrap();
        c.write_all_at(b"new", 0).unwrap();
        c.sync_all().unwrap();
        rename(&tmpf, &cfg).unwrap();
        let renamed = t.len();
        sync_dir(&dir).unwrap();
        t.stop();
        let end = t.len();
        f.write_all_at(&[3u8; 1], 0).unwrap();
        assert_eq!(t.len(), end, "stopped traces record nothing");

        let img = t.image(synced, 1, Tearing::DropAll);
        assert_eq!(&img.file(&v).unwrap()[..1024], &[1u8; 1024][..]);
        assert_eq!(img.file(&cfg), None);
        // Before the directory sync the rename may or may not have survived.
        let seen: std::collections::HashSet<_> = (0..32)
            .map(|s| t.image(renamed, s, Tearing::Whole).file(&cfg).is_some())
            .collect();
        assert_eq!(seen.len(), 2);
        let img = t.image(end, 7, Tearing::DropAll);
        assert_eq!(img.file(&cfg), Some(&b"new"[..]));
        assert_eq!(img.file(&tmpf), None);
        // Torn writes mix old and new sectors, never anything else.
        let mut torn = false;
        for s in 0..64 {
            let img = t.image(end, s, Tearing::Sectors);
            let c = img.file(&v).unwrap();
            assert!(
                c[..512].iter().all(|&b| b == c[0]) && c[512..1024].iter().all(|&b| b == c[512])
            );
            assert!([1, 2].contains(&c[0]) && [1, 2].contains(&c[512]));
            torn |= c[0] != c[512];
        }
        assert!(torn);
        let img = t.image(end, 3, Tearing::DropAll);
        img.restore().unwrap();
        assert_eq!(std::fs::read(&cfg).unwrap(), b"new");
        assert!(!tmpf.exists());
    }
}
