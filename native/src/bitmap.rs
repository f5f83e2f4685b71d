//! The bitmap volume: header, shadow bitmap, copy bitmap and compact index, in
//! the format of `native/FORMAT.md` (version 1), and the in-memory bitmaps.
//!
//! In memory a bitmap is a vector of `AtomicU64` words so that the data path
//! can test and set bits without a lock; persisting a page takes the bitmap
//! volume's I/O mutex, snapshots the page and writes it whole, so two writers
//! can never put an older snapshot over a newer one.
//!
//! ```text
//! Bitmap volume layout (all integers little-endian; page = 4096 bytes)
//!   0      header slot A (4096)         } two slots, the valid one with the
//!   4096   header slot B (4096)         } higher sequence number wins
//!   8192   shadow bitmap, P pages
//!   8192+4096P   copy bitmap, P pages
//!   8192+8192P   compact index, I pages (compact dependent sets only)
//! Data page: [0,4088) payload | [4088,4092) tag = region<<24 | page index
//!            | [4092,4096) crc32 of bytes [0,4092)
//!   bitmap payload: 511 u64 words, chunk c = bit (c % 64) of word c / 64
//!                   (i.e. bit c%8 of byte c/8, LSB first); 32704 chunks/page
//!   index payload:  1022 i32 entries; >=0 shadow chunk, <0 overflow chunk -n,
//!                   i32::MIN unmapped
//! Header slot:
//!   0 magic "IIBITMAP" | 8 version u32 (1) | 12 lifecycle u32 (0 invalid,
//!   1 dirty, 2 clean) | 16 seq u64 | 24 type u32 (0x1000 ind, 0x2000 dep)
//!   | 28 flags u32 | 32 chunk size u32 (32768) | 36 page size u32 (4096)
//!   | 40 volume size u64 (bytes) | 48 chunks u64 | 56 shadow bitmap offset u64
//!   | 64 copy bitmap offset u64 | 72 index offset u64 (0 = none)
//!   | 80 bitmap pages u32 | 84 index pages u32 | 88 shadow chunks u64
//!   | 96 copy units u32 | 100 copy delay u32 | 104 mtime u64
//!   | 112 master name (u16 len + 1022) | 1136 shadow name (u16 + 1022)
//!   | 2160 bitmap name (u16 + 1022) | 3184 overflow name (u16 + 638)
//!   | 3824 group name (u16 + 254) | 4080 log epoch u64 | 4088 log slots u32
//!   | 4092 crc32 of [0,4092)
//!   version 2 = version 1 plus a copy-on-write log (`cowlog.rs`) of `log
//!   slots` pages right after the last region; version 1 has zeros there.
//! ```

use crate::cowlog::CowLog;
use crate::error::{Error, Result};
use crate::volume::Volume;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes per on-disk page.
pub(crate) const PAGE: u64 = 4096;
/// Payload bytes per data page.
const PAYLOAD: usize = 4088;
/// Chunks covered by one bitmap page.
pub(crate) const BITS_PER_PAGE: u64 = (PAYLOAD * 8) as u64;
/// Words of one bitmap page.
const WORDS_PER_PAGE: usize = PAYLOAD / 8;
/// Index entries per index page.
pub(crate) const ENTRIES_PER_PAGE: u64 = (PAYLOAD / 4) as u64;
/// First data page offset.
const DATA_OFF: u64 = 2 * PAGE;
/// Unmapped index entry.
pub(crate) const UNMAPPED: i32 = i32::MIN;

const MAGIC: &[u8; 8] = b"IIBITMAP";
/// Written when the volume has no copy-on-write log (the first format).
const VERSION: u32 = 1;
/// Written when it has one (FORMAT.md §1.5); read alike otherwise.
const VERSION_LOG: u32 = 2;

/// Header lifecycle values.
pub(crate) const LIFE_INVALID: u32 = 0;
pub(crate) const LIFE_DIRTY: u32 = 1;
pub(crate) const LIFE_CLEAN: u32 = 2;

/// Header `type` values.
pub(crate) const TYPE_IND: u32 = 0x1000;
pub(crate) const TYPE_DEP: u32 = 0x2000;

/// Region tags of data pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Region {
    Shadow = 1,
    Copy = 2,
    Index = 3,
}

/// Geometry of a bitmap volume for a given chunk count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub chunks: u64,
    pub bmp_pages: u64,
    pub index_pages: u64,
}

impl Geometry {
    pub fn new(chunks: u64, compact: bool) -> Geometry {
        Geometry {
            chunks,
            bmp_pages: chunks.div_ceil(BITS_PER_PAGE).max(1),
            index_pages: if compact {
                chunks.div_ceil(ENTRIES_PER_PAGE).max(1)
            } else {
                0
            },
        }
    }
    pub fn region_off(&self, r: Region) -> u64 {
        match r {
            Region::Shadow => DATA_OFF,
            Region::Copy => DATA_OFF + self.bmp_pages * PAGE,
            Region::Index => DATA_OFF + 2 * self.bmp_pages * PAGE,
        }
    }
    /// Bytes the bitmap volume must have.
    pub fn required(&self) -> u64 {
        DATA_OFF + (2 * self.bmp_pages + self.index_pages) * PAGE
    }
}

/// The decoded header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Header {
    pub lifecycle: u32,
    pub seq: u64,
    pub set_type: u32,
    pub flags: u32,
    pub size: u64,
    pub chunks: u64,
    pub bmp_pages: u32,
    pub index_pages: u32,
    pub shadow_chunks: u64,
    pub units: u32,
    pub delay: u32,
    pub mtime: u64,
    pub master: String,
    pub shadow: String,
    pub bitmap: String,
    pub overflow: String,
    pub group: String,
    /// Copy-on-write log slots after the last region (0: none, version 1).
    pub log_slots: u32,
    /// Records of the log count only with this epoch.
    pub log_epoch: u64,
}

const NAME_FIELDS: [(usize, usize); 5] = [
    (112, 1024),
    (1136, 1024),
    (2160, 1024),
    (3184, 640),
    (3824, 256),
];

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; PAGE as usize];
        b[0..8].copy_from_slice(MAGIC);
        if self.log_slots > 0 {
            put32(&mut b, 8, VERSION_LOG);
            put64(&mut b, 4080, self.log_epoch);
            put32(&mut b, 4088, self.log_slots);
        } else {
            put32(&mut b, 8, VERSION);
        }
        put32(&mut b, 12, self.lifecycle);
        put64(&mut b, 16, self.seq);
        put32(&mut b, 24, self.set_type);
        put32(&mut b, 28, self.flags);
        put32(&mut b, 32, crate::types::CHUNK_SIZE as u32);
        put32(&mut b, 36, PAGE as u32);
        put64(&mut b, 40, self.size);
        put64(&mut b, 48, self.chunks);
        let g = Geometry {
            chunks: self.chunks,
            bmp_pages: self.bmp_pages as u64,
            index_pages: self.index_pages as u64,
        };
        put64(&mut b, 56, g.region_off(Region::Shadow));
        put64(&mut b, 64, g.region_off(Region::Copy));
        put64(
            &mut b,
            72,
            if self.index_pages > 0 {
                g.region_off(Region::Index)
            } else {
                0
            },
        );
        put32(&mut b, 80, self.bmp_pages);
        put32(&mut b, 84, self.index_pages);
        put64(&mut b, 88, self.shadow_chunks);
        put32(&mut b, 96, self.units);
        put32(&mut b, 100, self.delay);
        put64(&mut b, 104, self.mtime);
        let names = [
            &self.master,
            &self.shadow,
            &self.bitmap,
            &self.overflow,
            &self.group,
        ];
        for ((off, len), name) in NAME_FIELDS.iter().zip(names) {
            let bytes = name.as_bytes();
            let n = bytes.len().min(len - 2);
            b[*off..off + 2].copy_from_slice(&(n as u16).to_le_bytes());
            b[off + 2..off + 2 + n].copy_from_slice(&bytes[..n]);
        }
        let crc = crc32fast::hash(&b[..4092]);
        put32(&mut b, 4092, crc);
        b
    }

    /// Decodes one slot; `None` if magic, version or checksum is wrong.
    pub fn decode(b: &[u8]) -> Option<Header> {
        if b.len() < PAGE as usize || &b[0..8] != MAGIC {
            return None;
        }
        let version = get32(b, 8);
        if version != VERSION && version != VERSION_LOG {
            return None;
        }
        if crc32fast::hash(&b[..4092]) != get32(b, 4092) {
            return None;
        }
        let mut names = NAME_FIELDS.iter().map(|(off, len)| {
            let n = (u16::from_le_bytes([b[*off], b[off + 1]]) as usize).min(len - 2);
            String::from_utf8_lossy(&b[off + 2..off + 2 + n]).into_owned()
        });
        Some(Header {
            lifecycle: get32(b, 12),
            seq: get64(b, 16),
            set_type: get32(b, 24),
            flags: get32(b, 28),
            size: get64(b, 40),
            chunks: get64(b, 48),
            bmp_pages: get32(b, 80),
            index_pages: get32(b, 84),
            shadow_chunks: get64(b, 88),
            units: get32(b, 96),
            delay: get32(b, 100),
            mtime: get64(b, 104),
            master: names.next().unwrap_or_default(),
            shadow: names.next().unwrap_or_default(),
            bitmap: names.next().unwrap_or_default(),
            overflow: names.next().unwrap_or_default(),
            group: names.next().unwrap_or_default(),
            log_slots: if version == VERSION_LOG {
                get32(b, 4088)
            } else {
                0
            },
            log_epoch: if version == VERSION_LOG {
                get64(b, 4080)
            } else {
                0
            },
        })
    }

    /// Gives the header a copy-on-write log when `wanted` (a persistent,
    /// non-compact dependent set) and the volume has room after the regions
    /// of `geo`; a header that has one keeps it.
    pub fn with_log(mut self, wanted: bool, vol_size: u64, geo: &Geometry) -> Header {
        if wanted && self.log_slots == 0 {
            self.log_slots = crate::cowlog::slots_for(vol_size, geo.required());
            if self.log_slots > 0 {
                self.log_epoch = crate::cowlog::new_epoch(self.log_epoch);
            }
        }
        self
    }
}

fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn get64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// Reads both header slots of a volume and returns the newest valid one.
pub(crate) fn read_header(vol: &Volume) -> Result<Option<Header>> {
    if vol.size < DATA_OFF {
        return Ok(None);
    }
    let mut buf = vec![0u8; DATA_OFF as usize];
    vol.read_at(&mut buf, 0)?;
    let a = Header::decode(&buf[..PAGE as usize]);
    let b = Header::decode(&buf[PAGE as usize..]);
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(if a.seq >= b.seq { a } else { b }),
        (a, b) => a.or(b),
    })
}

/// A lock-free bitmap of `nbits` bits.
pub(crate) struct Bits {
    words: Vec<AtomicU64>,
    nbits: u64,
}

impl Bits {
    pub fn new(nbits: u64) -> Bits {
        let n = nbits.div_ceil(BITS_PER_PAGE).max(1) as usize * WORDS_PER_PAGE;
        Bits {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
            nbits,
        }
    }
    #[inline]
    pub fn get(&self, c: u64) -> bool {
        self.words[(c / 64) as usize].load(Ordering::Acquire) & (1 << (c % 64)) != 0
    }
    /// Sets bit `c`; returns whether it was clear before.
    #[inline]
    pub fn set(&self, c: u64) -> bool {
        let m = 1u64 << (c % 64);
        self.words[(c / 64) as usize].fetch_or(m, Ordering::AcqRel) & m == 0
    }
    /// Clears bit `c`; returns whether it was set before.
    #[inline]
    pub fn clear(&self, c: u64) -> bool {
        let m = 1u64 << (c % 64);
        self.words[(c / 64) as usize].fetch_and(!m, Ordering::AcqRel) & m != 0
    }
    pub fn count(&self) -> u64 {
        self.words
            .iter()
            .map(|w| w.load(Ordering::Relaxed).count_ones() as u64)
            .sum()
    }
    /// Number of bits set in the union of `maps` (all of the same length).
    pub fn count_union(maps: &[&Bits]) -> u64 {
        let n = maps.first().map_or(0, |m| m.words.len());
        (0..n)
            .map(|i| {
                maps.iter()
                    .fold(0u64, |acc, m| acc | m.words[i].load(Ordering::Relaxed))
                    .count_ones() as u64
            })
            .sum()
    }
    /// Sets every meaningful bit (bits past `nbits` stay 0).
    pub fn fill(&self) {
        for c in 0..self.nbits.div_ceil(64) {
            let lo = c * 64;
            let n = (self.nbits - lo).min(64);
            let m = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            self.words[c as usize].store(m, Ordering::Release);
        }
    }
    pub fn zero(&self) {
        for w in &self.words {
            w.store(0, Ordering::Release);
        }
    }
    /// `self |= other`.
    pub fn or_from(&self, other: &Bits) {
        for (a, b) in self.words.iter().zip(&other.words) {
            a.fetch_or(b.load(Ordering::Acquire), Ordering::AcqRel);
        }
    }
    /// First set bit at or after `from`.
    pub fn next_set(&self, from: u64) -> Option<u64> {
        if from >= self.nbits {
            return None;
        }
        let mut wi = (from / 64) as usize;
        let mut w = self.words[wi].load(Ordering::Acquire) & (u64::MAX << (from % 64));
        loop {
            if w != 0 {
                let c = wi as u64 * 64 + w.trailing_zeros() as u64;
                return (c < self.nbits).then_some(c);
            }
            wi += 1;
            if wi as u64 * 64 >= self.nbits {
                return None;
            }
            w = self.words[wi].load(Ordering::Acquire);
        }
    }
    fn page_bytes(&self, page: u64) -> Vec<u8> {
        let mut out = vec![0u8; PAGE as usize];
        let base = page as usize * WORDS_PER_PAGE;
        for i in 0..WORDS_PER_PAGE {
            let v = self.words[base + i].load(Ordering::Acquire);
            out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        out
    }
    fn load_page(&self, page: u64, bytes: &[u8]) {
        let base = page as usize * WORDS_PER_PAGE;
        for i in 0..WORDS_PER_PAGE {
            let v = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
            self.words[base + i].store(v, Ordering::Release);
        }
        // Bits past the chunk count are don't-care on disk; keep them clear.
        let last = self.nbits;
        let end = (page + 1) * BITS_PER_PAGE;
        if end > last {
            for c in last..end.min(self.words.len() as u64 * 64) {
                self.clear(c);
            }
        }
    }
    fn fill_page(&self, page: u64) {
        for c in page * BITS_PER_PAGE..((page + 1) * BITS_PER_PAGE).min(self.nbits) {
            self.set(c);
        }
    }
}

/// Page holding chunk `c`.
pub(crate) fn page_of(c: u64) -> u64 {
    c / BITS_PER_PAGE
}

fn seal(mut page: Vec<u8>, region: Region, idx: u64) -> Vec<u8> {
    put32(
        &mut page,
        PAYLOAD,
        ((region as u32) << 24) | (idx as u32 & 0xFF_FFFF),
    );
    let crc = crc32fast::hash(&page[..4092]);
    put32(&mut page, 4092, crc);
    page
}

fn unseal(page: &[u8], region: Region, idx: u64) -> bool {
    get32(page, PAYLOAD) == ((region as u32) << 24) | (idx as u32 & 0xFF_FFFF)
        && crc32fast::hash(&page[..4092]) == get32(page, 4092)
}

/// An open bitmap volume: geometry plus serialised page and header writes.
pub(crate) struct BitmapVol {
    pub vol: Arc<Volume>,
    pub geo: Geometry,
    /// Serialises every write to the volume; holds the last header written.
    io: Mutex<Header>,
    /// The copy-on-write log of a version 2 volume.
    pub log: Option<CowLog>,
}

/// What loading found wrong (see FORMAT.md, recovery rules).
#[derive(Default, Debug)]
pub(crate) struct LoadReport {
    pub bad_shadow_pages: Vec<u64>,
    pub bad_copy_pages: Vec<u64>,
    /// Some page failed its checksum and was rebuilt in memory (the bits
    /// differ from the volume's until written back).
    pub patched: bool,
}

impl BitmapVol {
    pub fn new(vol: Arc<Volume>, geo: Geometry, header: Header) -> BitmapVol {
        // Slots beyond the volume's end (a shrunk volume) are not used.
        let room = (vol.size.saturating_sub(geo.required()) / PAGE) as u32;
        let slots = header.log_slots.min(room);
        let log = (slots > 0).then(|| CowLog::new(geo.required(), slots, header.log_epoch));
        BitmapVol {
            vol,
            geo,
            io: Mutex::new(header),
            log,
        }
    }

    /// Writes a log record page at `rec_off` and snapshots of shadow bitmap
    /// `pages` in one go, unsynced (the caller syncs, in parallel with the
    /// shadow).
    pub fn write_with_pages(
        &self,
        bits: &Bits,
        pages: &[u64],
        record: &[u8],
        rec_off: u64,
    ) -> Result<()> {
        let _g = self.io.lock().unwrap();
        self.vol.write_at(record, rec_off)?;
        for &p in pages {
            let page = seal(bits.page_bytes(p), Region::Shadow, p);
            self.vol
                .write_at(&page, self.geo.region_off(Region::Shadow) + p * PAGE)?;
        }
        Ok(())
    }

    /// Sets the bits of `chunks` in the shadow bitmap pages on the volume
    /// (read, OR, write) and syncs: for bits whose only durable copy is a
    /// log record, when the in-memory bitmap may already be a newer one.
    pub fn or_into_pages(&self, chunks: impl Iterator<Item = u64>) -> Result<()> {
        let mut by_page: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for c in chunks {
            by_page.entry(page_of(c)).or_default().push(c);
        }
        {
            let _g = self.io.lock().unwrap();
            let base = self.geo.region_off(Region::Shadow);
            for (p, cs) in by_page {
                let mut page = vec![0u8; PAGE as usize];
                self.vol.read_at(&mut page, base + p * PAGE)?;
                if !unseal(&page, Region::Shadow, p) {
                    page.fill(0);
                }
                for c in cs {
                    let i = (c % BITS_PER_PAGE) as usize;
                    page[i / 8] |= 1 << (i % 8);
                }
                self.vol
                    .write_at(&seal(page, Region::Shadow, p), base + p * PAGE)?;
            }
        }
        self.vol.sync()?;
        crate::probe::bitmap_sync();
        Ok(())
    }

    /// Voids every log record: bits that live only in records are put in
    /// their pages first, then a new epoch is written to the header.
    pub fn new_log_epoch(&self) -> Result<()> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        log.checkpoint(self)?;
        let epoch = crate::cowlog::new_epoch(self.io.lock().unwrap().log_epoch);
        self.write_header(|h| h.log_epoch = epoch)?;
        log.reset(epoch);
        Ok(())
    }

    /// Writes a new header (next sequence number, alternate slot) and syncs.
    pub fn write_header(&self, f: impl FnOnce(&mut Header)) -> Result<()> {
        let mut h = self.io.lock().unwrap();
        let mut next = h.clone();
        f(&mut next);
        next.seq = h.seq + 1;
        let slot = next.seq % 2;
        self.vol.write_at(&next.encode(), slot * PAGE)?;
        self.vol.sync()?;
        *h = next;
        Ok(())
    }

    /// Writes the given pages of a bitmap region; syncs when `sync`.
    pub fn write_bits(&self, region: Region, bits: &Bits, pages: &[u64], sync: bool) -> Result<()> {
        {
            // The lock orders snapshot-and-write, so an older page image can
            // never land after a newer one.
            let _g = self.io.lock().unwrap();
            for &p in pages {
                let page = seal(bits.page_bytes(p), region, p);
                self.vol
                    .write_at(&page, self.geo.region_off(region) + p * PAGE)?;
            }
        }
        // The sync needs no lock: it makes every write issued before it
        // durable, ours included. Syncing outside the lock lets concurrent
        // copy-on-writes share one journal commit instead of queueing.
        if sync {
            self.vol.sync()?;
            crate::probe::bitmap_sync();
        }
        Ok(())
    }

    /// Writes every page of a bitmap region (contiguously) and syncs. The
    /// shadow bitmap of a volume with a used log may lose bits (a new point
    /// in time): the log's records are voided first, so none can set a bit
    /// of the old point in time again at the next open.
    pub fn write_all_bits(&self, region: Region, bits: &Bits) -> Result<()> {
        if region == Region::Shadow && self.log.as_ref().is_some_and(|l| l.used()) {
            self.new_log_epoch()?;
        }
        let _g = self.io.lock().unwrap();
        let mut buf = Vec::with_capacity((self.geo.bmp_pages * PAGE) as usize);
        for p in 0..self.geo.bmp_pages {
            buf.extend_from_slice(&seal(bits.page_bytes(p), region, p));
        }
        self.vol.write_at(&buf, self.geo.region_off(region))?;
        self.vol.sync()?;
        crate::probe::bitmap_sync();
        Ok(())
    }

    /// Writes index pages from `map` and syncs.
    pub fn write_index(&self, map: &[i32], pages: &[u64]) -> Result<()> {
        let _g = self.io.lock().unwrap();
        for &p in pages {
            self.vol.write_at(
                &index_page(map, p),
                self.geo.region_off(Region::Index) + p * PAGE,
            )?;
        }
        self.vol.sync()
    }

    pub fn write_all_index(&self, map: &[i32]) -> Result<()> {
        let pages: Vec<u64> = (0..self.geo.index_pages).collect();
        self.write_index(map, &pages)
    }

    /// Loads a bitmap region into `bits`; bad pages are listed, not loaded.
    pub fn load_bits(&self, region: Region, bits: &Bits) -> Result<Vec<u64>> {
        let mut buf = vec![0u8; (self.geo.bmp_pages * PAGE) as usize];
        self.vol.read_at(&mut buf, self.geo.region_off(region))?;
        let mut bad = Vec::new();
        for p in 0..self.geo.bmp_pages {
            let page = &buf[(p * PAGE) as usize..((p + 1) * PAGE) as usize];
            if unseal(page, region, p) {
                bits.load_page(p, page);
            } else {
                bad.push(p);
            }
        }
        Ok(bad)
    }

    /// Loads the compact index; bad pages are listed and left unmapped.
    pub fn load_index(&self, map: &mut [i32]) -> Result<Vec<u64>> {
        let mut buf = vec![0u8; (self.geo.index_pages * PAGE) as usize];
        self.vol
            .read_at(&mut buf, self.geo.region_off(Region::Index))?;
        let mut bad = Vec::new();
        for p in 0..self.geo.index_pages {
            let page = &buf[(p * PAGE) as usize..((p + 1) * PAGE) as usize];
            if !unseal(page, Region::Index, p) {
                bad.push(p);
                continue;
            }
            for i in 0..ENTRIES_PER_PAGE {
                let c = p * ENTRIES_PER_PAGE + i;
                if c < map.len() as u64 {
                    let o = (i * 4) as usize;
                    map[c as usize] = i32::from_le_bytes(page[o..o + 4].try_into().unwrap());
                }
            }
        }
        Ok(bad)
    }

    /// Loads both bitmaps, applying the recovery rules of FORMAT.md for bad
    /// pages that can be recovered safely.
    pub fn load(
        &self,
        shadow_bits: &Bits,
        copy_bits: &Bits,
        independent: bool,
    ) -> Result<LoadReport> {
        let mut rep = LoadReport {
            bad_shadow_pages: self.load_bits(Region::Shadow, shadow_bits)?,
            bad_copy_pages: self.load_bits(Region::Copy, copy_bits)?,
            patched: false,
        };
        rep.patched = !rep.bad_shadow_pages.is_empty() || !rep.bad_copy_pages.is_empty();
        if independent {
            // Over-approximating differences is always safe for an independent set.
            for &p in &rep.bad_shadow_pages {
                shadow_bits.fill_page(p);
            }
            rep.bad_shadow_pages.clear();
        }
        if rep.bad_shadow_pages.is_empty() {
            // A copy bit may be set again wherever the shadow bit is clear: a set
            // shadow bit means its copy bit was cleared by a host write first.
            for &p in &rep.bad_copy_pages {
                for c in p * BITS_PER_PAGE..((p + 1) * BITS_PER_PAGE).min(copy_bits.nbits) {
                    if !shadow_bits.get(c) {
                        copy_bits.set(c);
                    }
                }
            }
            rep.bad_copy_pages.clear();
        }
        Ok(rep)
    }
}

fn index_page(map: &[i32], p: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE as usize];
    for i in 0..ENTRIES_PER_PAGE {
        let c = (p * ENTRIES_PER_PAGE + i) as usize;
        let v = map.get(c).copied().unwrap_or(UNMAPPED);
        page[(i * 4) as usize..(i * 4 + 4) as usize].copy_from_slice(&v.to_le_bytes());
    }
    seal(page, Region::Index, p)
}

/// Page of the index holding chunk `c`.
pub(crate) fn index_page_of(c: u64) -> u64 {
    c / ENTRIES_PER_PAGE
}

/// Fails unless the volume is large enough for `geo`.
pub(crate) fn check_size(vol: &Volume, geo: &Geometry, shadow: &std::path::Path) -> Result<()> {
    if vol.size < geo.required() {
        return Err(Error::invalid(
            format!("set {} bitmap volume {}", shadow.display(), vol.path.display()),
            format!(
                "bitmap volume too small: {} bytes, needs at least {} bytes; use a larger bitmap volume",
                vol.size,
                geo.required()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            lifecycle: LIFE_DIRTY,
            seq: 7,
            set_type: TYPE_DEP,
            flags: 0x10200,
            size: 123456789,
            chunks: 3768,
            bmp_pages: 1,
            index_pages: 4,
            shadow_chunks: 99,
            units: 100,
            delay: 2,
            mtime: 1_700_000_000,
            master: "/v/m".into(),
            shadow: "/v/s".into(),
            bitmap: "/v/b".into(),
            overflow: "".into(),
            group: "g1".into(),
            log_slots: 0,
            log_epoch: 0,
        }
    }

    #[test]
    fn header_round_trip_and_checksum() {
        let h = sample();
        let mut b = h.encode();
        assert_eq!(Header::decode(&b), Some(h));
        b[200] ^= 1;
        assert_eq!(
            Header::decode(&b),
            None,
            "checksum must reject a flipped byte"
        );
    }

    #[test]
    fn version_2_carries_the_log_and_version_1_still_decodes() {
        let v2 = Header {
            log_slots: 12,
            log_epoch: 0xABCD_0123_4567_89EF,
            ..sample()
        };
        let b = v2.encode();
        assert_eq!(get32(&b, 8), 2);
        assert_eq!(Header::decode(&b), Some(v2));
        // A version 1 header (as the first engines wrote it: zeros at
        // 4080..4092) decodes without a log.
        let b = sample().encode();
        assert_eq!(get32(&b, 8), 1);
        assert!(b[4080..4092].iter().all(|&x| x == 0));
        assert_eq!(Header::decode(&b), Some(sample()));
        let mut b3 = b.clone();
        put32(&mut b3, 8, 3);
        let crc = crc32fast::hash(&b3[..4092]);
        put32(&mut b3, 4092, crc);
        assert_eq!(Header::decode(&b3), None, "an unknown version is refused");
    }

    #[test]
    fn bits_pages_round_trip_and_reject() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bmp");
        let geo = Geometry::new(70000, true);
        std::fs::write(&p, vec![0u8; geo.required() as usize]).unwrap();
        let vol = Arc::new(Volume::open(&p).unwrap());
        let bv = BitmapVol::new(vol.clone(), geo, sample());
        bv.write_header(|_| {}).unwrap();
        let hdr = read_header(&vol).unwrap().unwrap();
        assert_eq!(hdr.seq, 8);
        let b = Bits::new(70000);
        for c in [0, 1, 63, 64, 32703, 32704, 69999] {
            b.set(c);
        }
        bv.write_all_bits(Region::Shadow, &b).unwrap();
        bv.write_all_bits(Region::Copy, &Bits::new(70000)).unwrap();
        let b2 = Bits::new(70000);
        assert!(bv.load_bits(Region::Shadow, &b2).unwrap().is_empty());
        assert_eq!(b2.count(), 7);
        assert!(b2.get(69999) && b2.get(32704) && !b2.get(2));
        // Byte-level LSB-first layout: chunk 1 is bit 1 of byte 0.
        let mut raw = [0u8; 1];
        vol.read_at(&mut raw, geo.region_off(Region::Shadow))
            .unwrap();
        assert_eq!(raw[0], 0b11);
        // Corrupt page 1 of the shadow region: it is reported bad.
        vol.write_at(&[0xFF], geo.region_off(Region::Shadow) + PAGE + 5)
            .unwrap();
        let b3 = Bits::new(70000);
        assert_eq!(bv.load_bits(Region::Shadow, &b3).unwrap(), vec![1]);
        // Index round trip.
        let mut map = vec![UNMAPPED; 70000];
        map[5] = 3;
        map[4000] = -7;
        bv.write_all_index(&map).unwrap();
        let mut m2 = vec![0; 70000];
        assert!(bv.load_index(&mut m2).unwrap().is_empty());
        assert_eq!(m2, map);
    }

    #[test]
    fn recovery_rules_for_torn_pages() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bmp");
        let geo = Geometry::new(100, false);
        std::fs::write(&p, vec![0u8; geo.required() as usize]).unwrap();
        let vol = Arc::new(Volume::open(&p).unwrap());
        let bv = BitmapVol::new(vol.clone(), geo, sample());
        let (s, c) = (Bits::new(100), Bits::new(100));
        s.set(3);
        c.set(7);
        bv.write_all_bits(Region::Shadow, &s).unwrap();
        bv.write_all_bits(Region::Copy, &c).unwrap();
        // Torn copy page: copy bits come back wherever the shadow bit is clear.
        vol.write_at(&[0xAA], geo.region_off(Region::Copy) + 40)
            .unwrap();
        let (s2, c2) = (Bits::new(100), Bits::new(100));
        let rep = bv.load(&s2, &c2, false).unwrap();
        assert!(rep.bad_copy_pages.is_empty() && rep.bad_shadow_pages.is_empty());
        assert_eq!(c2.count(), 99);
        assert!(!c2.get(3) && c2.get(7));
        // Torn shadow page: independent sets mark everything, dependent sets
        // report the page.
        vol.write_at(&[0xAA], geo.region_off(Region::Shadow) + 40)
            .unwrap();
        let (s3, c3) = (Bits::new(100), Bits::new(100));
        assert!(bv.load(&s3, &c3, true).unwrap().bad_shadow_pages.is_empty());
        assert_eq!(s3.count(), 100);
        let (s4, c4) = (Bits::new(100), Bits::new(100));
        assert_eq!(bv.load(&s4, &c4, false).unwrap().bad_shadow_pages, vec![0]);
        // Torn header slot: the other slot is used.
        bv.write_header(|h| h.units = 100).unwrap();
        bv.write_header(|h| h.units = 500).unwrap();
        let h = read_header(&vol).unwrap().unwrap();
        vol.write_at(&[0xAA; 8], (h.seq % 2) * PAGE + 300).unwrap();
        let older = read_header(&vol).unwrap().unwrap();
        assert_eq!(older.seq, h.seq - 1);
        assert_eq!(older.units, 100);
    }

    #[test]
    fn next_set_and_fill() {
        let b = Bits::new(130);
        b.fill();
        assert_eq!(b.count(), 130);
        b.zero();
        b.set(129);
        assert_eq!(b.next_set(0), Some(129));
        assert_eq!(b.next_set(130), None);
        b.set(64);
        assert_eq!(b.next_set(1), Some(64));
    }
}
