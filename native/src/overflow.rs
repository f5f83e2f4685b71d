//! Overflow volumes: extra chunk space for compact dependent shadows, shared
//! by several sets.
//!
//! ```text
//! Overflow volume layout (little-endian): chunk 0 (32 KiB) is reserved,
//! its first 4096 bytes hold the header; chunk n (n >= 1) is data.
//!   0 magic "IIOVRFL1" | 8 version u32 (1) | 12 reserved u32
//!   | 16 total usable chunks u64 | 24 volume size u64
//!   | 32 name (u16 len + 1022 bytes) | 4092 crc32 of [0,4092)
//! ```
//!
//! Which chunks are in use is not stored here: it is derived at open from the
//! compact indexes of the attached sets, which are the only owners of overflow
//! chunks. That makes allocation crash-safe without a free list on disk.

use crate::error::{Error, Result};
use crate::types::CHUNK_SIZE;
use crate::volume::Volume;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"IIOVRFL1";
const VERSION: u32 = 1;

/// An open overflow volume and its in-memory allocation state.
pub(crate) struct Overflow {
    pub vol: Arc<Volume>,
    pub total: u64,
    pub state: Mutex<OvState>,
}

pub(crate) struct OvState {
    /// `used[n]` for chunk n (index 0 is the header chunk, always used).
    used: Vec<bool>,
    hint: usize,
    pub in_use: u64,
    /// Shadows of the attached sets.
    pub sets: BTreeSet<PathBuf>,
}

fn encode(total: u64, size: u64, name: &str) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    b[0..8].copy_from_slice(MAGIC);
    b[8..12].copy_from_slice(&VERSION.to_le_bytes());
    b[16..24].copy_from_slice(&total.to_le_bytes());
    b[24..32].copy_from_slice(&size.to_le_bytes());
    let n = name.len().min(1022);
    b[32..34].copy_from_slice(&(n as u16).to_le_bytes());
    b[34..34 + n].copy_from_slice(&name.as_bytes()[..n]);
    let crc = crc32fast::hash(&b[..4092]);
    b[4092..].copy_from_slice(&crc.to_le_bytes());
    b
}

impl Overflow {
    /// Writes a fresh header (initialisation).
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
        vol.write_at(&encode(total, vol.size, &vol.path.to_string_lossy()), 0)?;
        vol.sync()?;
        Ok(Overflow::with_total(vol, total))
    }

    /// Opens an initialised overflow volume, validating its header.
    pub fn open(vol: Arc<Volume>) -> Result<Overflow> {
        let mut b = vec![0u8; 4096];
        let bad = |why: &str| {
            Error::invalid(
                format!("overflow volume {}", vol.path.display()),
                format!("{why}; initialise it as an overflow volume first"),
            )
        };
        if vol.size < 4096 {
            return Err(bad("not an initialised overflow volume (too small)"));
        }
        vol.read_at(&mut b, 0)?;
        if &b[0..8] != MAGIC
            || u32::from_le_bytes(b[8..12].try_into().unwrap()) != VERSION
            || crc32fast::hash(&b[..4092]) != u32::from_le_bytes(b[4092..].try_into().unwrap())
        {
            return Err(bad("bad overflow header magic, version or checksum"));
        }
        let n = (u16::from_le_bytes([b[32], b[33]]) as usize).min(1022);
        let name = String::from_utf8_lossy(&b[34..34 + n]).into_owned();
        if name != vol.path.to_string_lossy() {
            return Err(bad(&format!("header names {name}, not this volume")));
        }
        let total =
            u64::from_le_bytes(b[16..24].try_into().unwrap()).min(vol.size / CHUNK_SIZE - 1);
        Ok(Overflow::with_total(vol, total))
    }

    fn with_total(vol: Arc<Volume>, total: u64) -> Overflow {
        let mut used = vec![false; total as usize + 1];
        used[0] = true;
        Overflow {
            vol,
            total,
            state: Mutex::new(OvState {
                used,
                hint: 1,
                in_use: 0,
                sets: BTreeSet::new(),
            }),
        }
    }

    /// Marks chunk `n` as used (at load, from a set's index).
    pub fn claim(&self, n: u64) -> bool {
        let mut st = self.state.lock().unwrap();
        match st.used.get(n as usize) {
            Some(false) => {
                st.used[n as usize] = true;
                st.in_use += 1;
                true
            }
            _ => false,
        }
    }

    /// Hands out a free chunk number.
    pub fn alloc(&self) -> Option<u64> {
        let mut st = self.state.lock().unwrap();
        let len = st.used.len();
        for i in 0..len {
            let n = (st.hint + i) % len;
            if !st.used[n] {
                st.used[n] = true;
                st.in_use += 1;
                st.hint = n + 1;
                return Some(n as u64);
            }
        }
        None
    }

    /// Returns chunk `n`.
    pub fn free(&self, n: u64) {
        let mut st = self.state.lock().unwrap();
        if let Some(u) = st.used.get_mut(n as usize) {
            if *u && n != 0 {
                *u = false;
                st.in_use -= 1;
                st.hint = st.hint.min(n as usize);
            }
        }
    }

    /// Destroys the header (delete).
    pub fn wipe(&self) -> Result<()> {
        self.vol.write_at(&[0u8; 4096], 0)?;
        self.vol.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_open_alloc() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ovr");
        std::fs::write(&p, vec![0u8; 5 * CHUNK_SIZE as usize]).unwrap();
        let p = std::fs::canonicalize(p).unwrap();
        let v = Arc::new(Volume::open(&p).unwrap());
        let o = Overflow::init(v.clone()).unwrap();
        assert_eq!(o.total, 4);
        let o2 = Overflow::open(v.clone()).unwrap();
        assert!(o2.claim(2));
        let got: Vec<_> = std::iter::from_fn(|| o2.alloc()).collect();
        assert_eq!(got, vec![1, 3, 4]);
        o2.free(3);
        assert_eq!(o2.alloc(), Some(3));
        v.write_at(&[1], 100).unwrap();
        assert!(Overflow::open(v).is_err(), "checksum must reject");
        drop(o);
    }
}
