//! Overflow volumes: extra chunk space for compact dependent shadows, shared
//! by several sets, and their statistics (high-water mark, sets ever
//! attached).
//!
//! ```text
//! Overflow volume layout (little-endian): chunk 0 (32 KiB) is reserved,
//! its first 4096 bytes hold the header, the next 4096 the statistics page;
//! chunk n (n >= 1) is data.
//! Header (bytes 0..4096), written only at initialisation:
//!   0 magic "IIOVRFL1" | 8 version u32 (1) | 12 initialisation id u32
//!   (0 = written before the statistics page existed)
//!   | 16 total usable chunks u64 | 24 volume size u64
//!   | 32 name (u16 len + 1022 bytes) | 4092 crc32 of [0,4092)
//! Statistics page (bytes 4096..8192), rewritten when the mark rises and
//! at every attach:
//!   0 magic "IIOVSTA1" | 8 initialisation id u32 (equal to the header's)
//!   | 12 reserved u32 | 16 high-water chunk u64
//!   | 24 total attached u32 (0 in pages written before it existed)
//!   | 4092 crc32 of [0,4092)
//! ```
//!
//! Which chunks are in use is not stored here: it is derived at open from the
//! compact indexes of the attached sets, which are the only owners of overflow
//! chunks. That makes allocation crash-safe without a free list on disk.
//!
//! The high-water mark (imaging.md §1.7, `iiadm -Q` "Number of chunks ever
//! allocated") is the highest chunk number ever handed out. Chunks are handed
//! out lowest free first, so every chunk up to the mark has been used. It is
//! a statistic: it lives on its own page so that rewriting it can never tear
//! the header that attaching depends on, and it is written (no sync) whenever
//! it rises past what was last written, from `alloc` or `free`. The data
//! path's own sync of this volume, which follows every allocation, makes it
//! durable; a killed process loses nothing. At open the stored mark is raised
//! to the highest chunk the sets' indexes still use, so a lost or torn page
//! only forgets chunks that were freed since.
//!
//! The total attached count (imaging.md §1.7, `iiadm -Q` "Total number of
//! attached shadows") counts every attach of a set to this volume (enable
//! with an overflow, or attach); detaching or disabling never lowers it.
//! Attaching is rare, so [`Overflow::attach`] rewrites the page and syncs it
//! at once. Every later page write carries the count too. A page from before
//! the field existed reads it as 0; since the attached sets are only known
//! after open, the count is taken as at least the number attached whenever
//! it is reported or incremented ([`OvState::total_attached`]).

use crate::error::{Error, Result};
use crate::types::CHUNK_SIZE;
use crate::volume::Volume;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"IIOVRFL1";
const VERSION: u32 = 1;
const STATS_MAGIC: &[u8; 8] = b"IIOVSTA1";
const PAGE: usize = 4096;
/// Byte offset of the statistics page.
const STATS_OFF: u64 = PAGE as u64;

/// An open overflow volume and its in-memory allocation state.
pub(crate) struct Overflow {
    pub vol: Arc<Volume>,
    pub total: u64,
    pub state: Mutex<OvState>,
    /// Initialisation id of the header; the statistics page must carry it.
    init_id: u32,
    /// High-water mark last written to the statistics page.
    persisted: AtomicU64,
    /// Total attached count last written to the statistics page.
    persisted_attached: AtomicU32,
    /// Serialises statistics page writes so that they land in rising order.
    stats_write: Mutex<()>,
}

pub(crate) struct OvState {
    /// `used[n]` for chunk n (index 0 is the header chunk, always used).
    used: Vec<bool>,
    /// Every chunk below `hint` is in use: allocation is lowest free first.
    hint: usize,
    pub in_use: u64,
    /// Highest chunk number ever handed out or found in use (0 = none).
    pub high_water: u64,
    /// Shadows of the attached sets.
    pub sets: BTreeSet<PathBuf>,
    /// Attaches ever counted (stored value, then incremented); read it
    /// through [`OvState::total_attached`].
    attached_ever: u32,
}

impl OvState {
    /// What the statistics page should hold now.
    fn stats(&self) -> Stats {
        Stats {
            high_water: self.high_water,
            total_attached: self.total_attached(),
        }
    }

    /// Sets ever attached: the stored count, but never below the sets
    /// attached now (a page from before the count existed, or a lost one,
    /// reads 0 while the configuration still attaches sets).
    pub fn total_attached(&self) -> u32 {
        let now = u32::try_from(self.sets.len()).unwrap_or(u32::MAX);
        self.attached_ever.max(now)
    }
}

fn crc_ok(b: &[u8]) -> bool {
    crc32fast::hash(&b[..PAGE - 4]) == u32::from_le_bytes(b[PAGE - 4..PAGE].try_into().unwrap())
}

fn seal(b: &mut [u8]) {
    let crc = crc32fast::hash(&b[..PAGE - 4]);
    b[PAGE - 4..PAGE].copy_from_slice(&crc.to_le_bytes());
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

/// The header page (layout in the module doc).
fn encode(init_id: u32, total: u64, size: u64, name: &str) -> Vec<u8> {
    let mut b = vec![0u8; PAGE];
    b[0..8].copy_from_slice(MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b[12..16].copy_from_slice(&init_id.to_le_bytes());
    b[16..24].copy_from_slice(&total.to_le_bytes());
    b[24..32].copy_from_slice(&size.to_le_bytes());
    let n = name.len().min(1022);
    b[32..34].copy_from_slice(&(n as u16).to_le_bytes());
    b[34..34 + n].copy_from_slice(&name.as_bytes()[..n]);
    seal(&mut b);
    b
}

/// The values kept on the statistics page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Stats {
    /// Highest chunk number ever handed out (0 = none).
    high_water: u64,
    /// Attaches of a set ever counted.
    total_attached: u32,
}

/// The statistics page (layout in the module doc).
fn encode_stats(init_id: u32, s: Stats) -> Vec<u8> {
    let mut b = vec![0u8; PAGE];
    b[0..8].copy_from_slice(STATS_MAGIC);
    b[8..12].copy_from_slice(&init_id.to_le_bytes());
    b[16..24].copy_from_slice(&s.high_water.to_le_bytes());
    b[24..28].copy_from_slice(&s.total_attached.to_le_bytes());
    seal(&mut b);
    b
}

/// The stored statistics, or zeros when the page is not a valid statistics
/// page of this initialisation (never written, torn, or left from an
/// earlier one). A page written before the attach count existed has zeros
/// at offset 24, so it reads as 0.
fn decode_stats(b: &[u8], init_id: u32, total: u64) -> Stats {
    if &b[0..8] != STATS_MAGIC || !crc_ok(b) || u32_at(b, 8) != init_id {
        return Stats::default();
    }
    Stats {
        high_water: u64_at(b, 16).min(total),
        total_attached: u32_at(b, 24),
    }
}

/// A new initialisation id: distinct from the previous initialisation of the
/// same volume (so its statistics page is not taken over), never 0.
fn new_init_id(previous: u32) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32).rotate_left(16))
        .unwrap_or(0);
    let id = crc32fast::hash(&[nanos.to_le_bytes(), std::process::id().to_le_bytes()].concat());
    match id {
        0 => 1,
        x if x == previous => x.wrapping_add(1).max(1),
        x => x,
    }
}

impl Overflow {
    /// Writes a fresh header and statistics page (initialisation).
    pub fn init(vol: Arc<Volume>) -> Result<Overflow> {
        let chunks = vol.size / CHUNK_SIZE;
        if chunks < 2 {
            return Err(Error::invalid(
                format!("overflow volume {}", vol.path.display()),
                format!(
                    "too small: {} bytes, needs at least {} bytes; use a larger volume",
                    vol.size,
                    2 * CHUNK_SIZE
                ),
            ));
        }
        let total = chunks - 1;
        let mut old = vec![0u8; PAGE];
        vol.read_at(&mut old, 0)?;
        let init_id = new_init_id(u32_at(&old, 12));
        let mut b = encode(init_id, total, vol.size, &vol.path.to_string_lossy());
        b.extend_from_slice(&encode_stats(init_id, Stats::default()));
        vol.write_at(&b, 0)?;
        vol.sync()?;
        Ok(Overflow::with_total(vol, total, init_id, Stats::default()))
    }

    /// Opens an initialised overflow volume, validating its header and
    /// reading the stored statistics.
    pub fn open(vol: Arc<Volume>) -> Result<Overflow> {
        let bad = |why: &str| {
            Error::invalid(
                format!("overflow volume {}", vol.path.display()),
                format!("{why}; initialise it as an overflow volume first"),
            )
        };
        // Header chunk plus one data chunk: anything smaller cannot have been
        // initialised at this size (the volume shrank, or never was one).
        if vol.size < 2 * CHUNK_SIZE {
            return Err(bad("not an initialised overflow volume (too small)"));
        }
        let mut b = vec![0u8; 2 * PAGE];
        vol.read_at(&mut b, 0)?;
        let (h, stats) = b.split_at(PAGE);
        if &h[0..8] != MAGIC || u32_at(h, 8) != VERSION || !crc_ok(h) {
            return Err(bad("bad overflow header magic, version or checksum"));
        }
        let n = (u16::from_le_bytes([h[32], h[33]]) as usize).min(1022);
        let name = String::from_utf8_lossy(&h[34..34 + n]).into_owned();
        if name != vol.path.to_string_lossy() {
            return Err(bad(&format!("header names {name}, not this volume")));
        }
        let total = u64_at(h, 16).min(vol.size / CHUNK_SIZE - 1);
        let init_id = u32_at(h, 12);
        let stored = decode_stats(stats, init_id, total);
        Ok(Overflow::with_total(vol, total, init_id, stored))
    }

    fn with_total(vol: Arc<Volume>, total: u64, init_id: u32, stored: Stats) -> Overflow {
        let mut used = vec![false; total as usize + 1];
        used[0] = true;
        Overflow {
            vol,
            total,
            state: Mutex::new(OvState {
                used,
                hint: 1,
                in_use: 0,
                high_water: stored.high_water,
                sets: BTreeSet::new(),
                attached_ever: stored.total_attached,
            }),
            init_id,
            persisted: AtomicU64::new(stored.high_water),
            persisted_attached: AtomicU32::new(stored.total_attached),
            stats_write: Mutex::new(()),
        }
    }

    /// Marks chunk `n` as used (at load, from a set's index). Raises the
    /// mark in memory only: it is written by the next `alloc` or `free`,
    /// before any of these chunks can be returned.
    pub fn claim(&self, n: u64) -> bool {
        let mut st = self.state.lock().unwrap();
        match st.used.get(n as usize) {
            Some(false) => {
                st.used[n as usize] = true;
                st.in_use += 1;
                st.high_water = st.high_water.max(n);
                true
            }
            _ => false,
        }
    }

    /// Hands out the lowest free chunk number.
    pub fn alloc(&self) -> Option<u64> {
        let (n, mark) = {
            let mut st = self.state.lock().unwrap();
            let len = st.used.len();
            // Below `hint` all is in use; the second range is only a guard.
            let n = (st.hint..len)
                .chain(1..st.hint.min(len))
                .find(|&n| !st.used[n])?;
            st.used[n] = true;
            st.in_use += 1;
            st.hint = n + 1;
            st.high_water = st.high_water.max(n as u64);
            (n as u64, st.stats())
        };
        self.persist(mark);
        Some(n)
    }

    /// Returns chunk `n`.
    pub fn free(&self, n: u64) {
        let mark = {
            let mut st = self.state.lock().unwrap();
            if let Some(u) = st.used.get_mut(n as usize) {
                if *u && n != 0 {
                    *u = false;
                    st.in_use -= 1;
                    st.hint = st.hint.min(n as usize);
                }
            }
            st.stats()
        };
        // A mark raised only by `claim` is written before its chunks go.
        self.persist(mark);
    }

    /// Counts an attach of the set with shadow `shadow` (enable with this
    /// overflow, or attach) and writes the statistics page with a sync:
    /// attaching is rare and the count has no other source to recover from.
    /// A failed write is logged, not returned: the attach itself stands, and
    /// the count is written again with the next page write.
    pub fn attach(&self, shadow: PathBuf) {
        let s = {
            let mut st = self.state.lock().unwrap();
            // Start from the fallback (never below the sets attached now),
            // then count this attach; a set attached twice counts twice.
            st.attached_ever = st.total_attached().saturating_add(1);
            st.sets.insert(shadow);
            st.stats()
        };
        if let Err(e) = self.write_stats(s, true) {
            tracing::warn!(
                overflow = %self.vol.path.display(),
                error = %e,
                "cannot write the overflow attach count"
            );
        }
    }

    /// Writes the statistics page if `s` holds anything above what was last
    /// written. No sync: the data path syncs this volume after every
    /// allocation. A failure is logged and retried at the next rise; it
    /// never fails the data path, because the mark is recovered from the
    /// indexes at open.
    fn persist(&self, s: Stats) {
        if let Err(e) = self.write_stats(s, false) {
            tracing::warn!(
                overflow = %self.vol.path.display(),
                error = %e,
                "cannot write the overflow high-water mark"
            );
        }
    }

    fn is_written(&self, s: Stats) -> bool {
        s.high_water <= self.persisted.load(Ordering::Acquire)
            && s.total_attached <= self.persisted_attached.load(Ordering::Acquire)
    }

    /// Writes the page unless it already holds `s` or more (then, with
    /// `sync`, only syncs: an unsynced writer may have been first). Both
    /// values only rise, so the page gets the larger of each: a writer
    /// holding older values never lowers what another wrote.
    fn write_stats(&self, s: Stats, sync: bool) -> Result<()> {
        if !sync && self.is_written(s) {
            return Ok(());
        }
        let _w = self.stats_write.lock().unwrap_or_else(|e| e.into_inner());
        // Another writer may have written higher values meanwhile.
        if self.is_written(s) {
            return if sync { self.vol.sync() } else { Ok(()) };
        }
        let s = Stats {
            high_water: s.high_water.max(self.persisted.load(Ordering::Acquire)),
            total_attached: s
                .total_attached
                .max(self.persisted_attached.load(Ordering::Acquire)),
        };
        self.vol
            .write_at(&encode_stats(self.init_id, s), STATS_OFF)?;
        if sync {
            self.vol.sync()?;
        }
        self.persisted.store(s.high_water, Ordering::Release);
        self.persisted_attached
            .store(s.total_attached, Ordering::Release);
        Ok(())
    }

    /// Destroys the header and the statistics page (delete).
    pub fn wipe(&self) -> Result<()> {
        self.vol.write_at(&[0u8; 2 * PAGE], 0)?;
        self.vol.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const CH: usize = CHUNK_SIZE as usize;

    /// A volume file of `chunks` chunks filled with `fill`, opened.
    fn volume(dir: &Path, chunks: usize, fill: u8) -> Arc<Volume> {
        let p = dir.join("ovr");
        std::fs::write(&p, vec![fill; chunks * CH]).unwrap();
        let p = std::fs::canonicalize(p).unwrap();
        Arc::new(Volume::open(&p).unwrap())
    }

    fn reopen(v: &Arc<Volume>) -> Overflow {
        Overflow::open(Arc::new(Volume::open(&v.path).unwrap())).unwrap()
    }

    fn mark(o: &Overflow) -> u64 {
        o.state.lock().unwrap().high_water
    }

    /// The header as first released (overflow v1 before the statistics
    /// page): bytes 12..16 zero, nothing written after byte 4096. Spelled
    /// out byte by byte, independent of `encode`, as the old-version fixture.
    fn v1_header_before_stats(total: u64, size: u64, name: &str) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[0..8].copy_from_slice(b"IIOVRFL1");
        b[8..12].copy_from_slice(&[1, 0, 0, 0]);
        b[16..24].copy_from_slice(&total.to_le_bytes());
        b[24..32].copy_from_slice(&size.to_le_bytes());
        b[32..34].copy_from_slice(&(name.len() as u16).to_le_bytes());
        b[34..34 + name.len()].copy_from_slice(name.as_bytes());
        let crc = crc32fast::hash(&b[..4092]);
        b[4092..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    #[test]
    fn init_open_alloc() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), 5, 0);
        let o = Overflow::init(v.clone()).unwrap();
        assert_eq!(o.total, 4);
        let o2 = Overflow::open(v.clone()).unwrap();
        assert!(o2.claim(2));
        assert!(!o2.claim(2), "a chunk is claimed once");
        assert!(!o2.claim(5), "out of range");
        let got: Vec<_> = std::iter::from_fn(|| o2.alloc()).collect();
        assert_eq!(got, vec![1, 3, 4]);
        o2.free(3);
        assert_eq!(o2.alloc(), Some(3));
        v.write_at(&[1], 100).unwrap();
        assert!(Overflow::open(v).is_err(), "checksum must reject");
        drop(o);
    }

    #[test]
    fn high_water_mark_outlives_frees_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), 9, 0);
        let o = Overflow::init(v.clone()).unwrap();
        assert_eq!(mark(&o), 0, "fresh volume: nothing handed out");
        let got: Vec<_> = (0..3).map(|_| o.alloc().unwrap()).collect();
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(mark(&o), 3);
        for n in [2, 1, 3] {
            o.free(n);
        }
        assert_eq!(o.state.lock().unwrap().in_use, 0);
        assert_eq!(mark(&o), 3, "freeing never lowers the mark");
        assert_eq!(o.alloc(), Some(1), "lowest free chunk first");
        assert_eq!(mark(&o), 3, "reuse below the mark does not raise it");
        // No sync was asked for: the page cache is enough for a reopen.
        let o2 = reopen(&v);
        assert_eq!(mark(&o2), 3);
        assert_eq!(o2.state.lock().unwrap().in_use, 0, "usage is not stored");
        // The rise is written from the next allocation beyond the mark.
        for _ in 0..5 {
            o2.alloc().unwrap();
        }
        assert_eq!(mark(&o2), 5);
        assert_eq!(mark(&reopen(&v)), 5);
        drop(o);
    }

    #[test]
    fn lost_stats_page_falls_back_to_chunks_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), 9, 0);
        let o = Overflow::init(v.clone()).unwrap();
        for _ in 0..6 {
            o.alloc().unwrap();
        }
        // A torn statistics page: the header is untouched and still opens.
        v.write_at(&[0xA5; 100], STATS_OFF + 10).unwrap();
        let o2 = reopen(&v);
        assert_eq!(mark(&o2), 0, "an invalid page is not trusted");
        // The sets' indexes still use chunks 2 and 4.
        assert!(o2.claim(4) && o2.claim(2));
        assert_eq!(mark(&o2), 4, "max of stored and highest chunk in use");
        // Freeing them writes the recovered mark before it could be lost.
        o2.free(4);
        o2.free(2);
        assert_eq!(mark(&reopen(&v)), 4);
        drop(o);
    }

    #[test]
    fn header_from_before_the_stats_page_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        // Garbage after the header: the old format never wrote there.
        let v = volume(dir.path(), 6, 0xEE);
        let name = v.path.to_string_lossy().into_owned();
        v.write_at(&v1_header_before_stats(5, v.size, &name), 0)
            .unwrap();
        let o = Overflow::open(v.clone()).unwrap();
        assert_eq!(o.total, 5);
        assert_eq!(o.init_id, 0);
        assert_eq!(mark(&o), 0, "no statistics page yet");
        assert!(o.claim(3));
        assert_eq!(o.alloc(), Some(1));
        assert_eq!(mark(&o), 3);
        let o2 = reopen(&v);
        assert_eq!(
            mark(&o2),
            3,
            "the page written for an old header reads back"
        );
        // The header itself was never rewritten.
        let mut h = vec![0u8; 4096];
        v.read_at(&mut h, 0).unwrap();
        assert_eq!(h, v1_header_before_stats(5, v.size, &name));
    }

    #[test]
    fn reinitialising_forgets_the_old_mark() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), 9, 0);
        let o = Overflow::init(v.clone()).unwrap();
        for _ in 0..4 {
            o.alloc().unwrap();
        }
        assert_eq!(mark(&reopen(&v)), 4);
        let o2 = Overflow::init(v.clone()).unwrap();
        assert_ne!(o2.init_id, o.init_id);
        assert_eq!(mark(&o2), 0);
        assert_eq!(mark(&reopen(&v)), 0);
        for _ in 0..2 {
            o2.alloc().unwrap();
        }
        // A re-initialisation by an engine that does not know the statistics
        // page leaves it behind; its id no longer matches the header's.
        let name = v.path.to_string_lossy().into_owned();
        v.write_at(&v1_header_before_stats(8, v.size, &name), 0)
            .unwrap();
        assert_eq!(mark(&reopen(&v)), 0);
        o2.wipe().unwrap();
        assert!(Overflow::open(v.clone()).is_err(), "wiped");
        let mut page = vec![1u8; 2 * PAGE];
        v.read_at(&mut page, 0).unwrap();
        assert!(page.iter().all(|&x| x == 0), "header and stats zeroed");
    }

    fn total_attached(o: &Overflow) -> u32 {
        o.state.lock().unwrap().total_attached()
    }

    #[test]
    fn attach_count_is_written_at_once_and_kept_by_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), 9, 0);
        let o = Overflow::init(v.clone()).unwrap();
        assert_eq!(total_attached(&o), 0);
        o.attach("/s1".into());
        o.attach("/s2".into());
        assert_eq!(total_attached(&o), 2);
        assert_eq!(total_attached(&reopen(&v)), 2, "written at attach");
        // Detaching is only removal from the set list (the engine's job).
        o.state.lock().unwrap().sets.remove(Path::new("/s2"));
        assert_eq!(total_attached(&o), 2, "never lowered by a detach");
        o.attach("/s2".into());
        assert_eq!(total_attached(&o), 3, "every attach counts");
        // Mark rises rewrite the page with the count, never an older one.
        for _ in 0..4 {
            o.alloc().unwrap();
        }
        let o2 = reopen(&v);
        assert_eq!((mark(&o2), total_attached(&o2)), (4, 3));
        // The page as an engine without the count wrote it reads 0, and
        // the count falls back to the sets attached now.
        let mut page = vec![0u8; PAGE];
        v.read_at(&mut page, STATS_OFF).unwrap();
        page[24..28].fill(0);
        seal(&mut page);
        v.write_at(&page, STATS_OFF).unwrap();
        let o3 = reopen(&v);
        assert_eq!((mark(&o3), total_attached(&o3)), (4, 0));
        o3.state.lock().unwrap().sets.insert("/s1".into());
        assert_eq!(total_attached(&o3), 1, "at least the sets attached");
        o3.attach("/s4".into());
        assert_eq!(total_attached(&o3), 2);
        assert_eq!(total_attached(&reopen(&v)), 2);
    }

    #[test]
    fn volume_shrunk_below_two_chunks_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), 3, 0);
        Overflow::init(v.clone()).unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&v.path)
            .unwrap();
        f.set_len(CH as u64 + 4096).unwrap();
        let err = Overflow::open(Arc::new(Volume::open(&v.path).unwrap()))
            .err()
            .expect("too small");
        assert!(err.to_string().contains("too small"), "{err}");
    }

    #[test]
    fn a_full_volume_hands_out_every_chunk_once() {
        let dir = tempfile::tempdir().unwrap();
        let v = volume(dir.path(), 4, 0);
        let o = Overflow::init(v).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| o.alloc()).collect();
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(mark(&o), o.total);
        o.free(2);
        assert_eq!(o.alloc(), Some(2));
        assert_eq!(o.alloc(), None);
    }
}
