//! The copy-on-write commit log of a dependent set (bitmap volume format
//! version 2, FORMAT.md §1.5): lets a first write to the master sync the
//! copied chunk on the shadow and its record on the bitmap volume *in
//! parallel* instead of one after the other.
//!
//! A commit writes one log slot (a record of the chunks it copied, each with
//! the CRC-32 of the point-in-time data) and, in the same bitmap-volume sync,
//! the bitmap pages of earlier completed commits. Only when both that sync and
//! the shadow's have returned are the bits set in memory and the host data
//! written. The bit of a completed commit is therefore durable in its record
//! until a later synced page write carries it, and only then is the slot
//! reused. At open, a record's bit is set exactly when the shadow holds the
//! recorded data (its CRC equals the record's). A record whose shadow data
//! never arrived belongs to a commit that never finished: its master write
//! was never issued, so the master still holds what it durably held when
//! the chunk was copied (the point in time, less any writes before it that
//! were never flushed, which a power cut may take anyway), and the bit stays
//! clear.
//!
//! ```text
//! Log slot (one page at 8192 + 4096 (2P + I) + 4096 k, k < log pages):
//!   0 magic "IICOWLG1" | 8 epoch u64 (the header's log epoch) | 16 generation u64
//!   | 24 count u32 | 28 reserved | 32 count x (chunk u64, crc32 u32, pad u32)
//!   | [4088,4092) tag = 4 << 24 | k | [4092,4096) crc32 of [0,4092)
//! ```

use crate::bitmap::{self, BitmapVol, Bits, PAGE};
use crate::error::Result;
use crate::volume::Volume;
use std::collections::BTreeSet;
use std::sync::Mutex;

const MAGIC: &[u8; 8] = b"IICOWLG1";
/// Region tag of log slots (bitmap regions are 1 to 3).
const REGION_LOG: u32 = 4;
/// Records per slot: 16 bytes each between byte 32 and the tag.
pub(crate) const MAX_RECORDS: usize = (4088 - 32) / 16;
/// At most this many slots (commits in flight or not yet in a page).
pub(crate) const MAX_SLOTS: u64 = 64;
/// Fewer slots than this and the set keeps the serial write order.
const MIN_SLOTS: u64 = 4;

/// One copied chunk: its number and the CRC-32 of its point-in-time data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub chunk: u64,
    pub crc: u32,
}

/// Slots a dependent set's bitmap volume of `vol_size` bytes can give its
/// log after `required` bytes of regions (0: too small, no log).
pub(crate) fn slots_for(vol_size: u64, required: u64) -> u32 {
    let n = (vol_size.saturating_sub(required) / PAGE).min(MAX_SLOTS);
    if n < MIN_SLOTS {
        0
    } else {
        n as u32
    }
}

/// A fresh epoch: records of any earlier use of the region never match it.
pub(crate) fn new_epoch(old: u64) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = t ^ (u64::from(std::process::id()) << 40) ^ old.rotate_left(17);
    if mixed == 0 || mixed == old {
        old.wrapping_add(1).max(1)
    } else {
        mixed
    }
}

fn encode(epoch: u64, gen: u64, slot: u32, recs: &[Record]) -> Vec<u8> {
    let mut b = vec![0u8; PAGE as usize];
    b[0..8].copy_from_slice(MAGIC);
    b[8..16].copy_from_slice(&epoch.to_le_bytes());
    b[16..24].copy_from_slice(&gen.to_le_bytes());
    b[24..28].copy_from_slice(&(recs.len() as u32).to_le_bytes());
    for (i, r) in recs.iter().enumerate() {
        let o = 32 + 16 * i;
        b[o..o + 8].copy_from_slice(&r.chunk.to_le_bytes());
        b[o + 8..o + 12].copy_from_slice(&r.crc.to_le_bytes());
    }
    b[4088..4092].copy_from_slice(&((REGION_LOG << 24) | slot).to_le_bytes());
    let crc = crc32fast::hash(&b[..4092]);
    b[4092..].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The records of a slot page written in `epoch`; `None` for an empty, torn
/// or foreign page or one of another epoch.
fn decode(b: &[u8], epoch: u64, slot: u32) -> Option<Vec<Record>> {
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    if &b[0..8] != MAGIC
        || u32_at(4088) != (REGION_LOG << 24) | slot
        || crc32fast::hash(&b[..4092]) != u32_at(4092)
        || u64_at(8) != epoch
    {
        return None;
    }
    let n = (u32_at(24) as usize).min(MAX_RECORDS);
    Some(
        (0..n)
            .map(|i| Record {
                chunk: u64_at(32 + 16 * i),
                crc: u32_at(32 + 16 * i + 8),
            })
            .collect(),
    )
}

/// A commit under way: its slot and generation (the completed commits whose
/// bits its page write carries are marked with it).
pub(crate) struct Ticket {
    slot: u32,
    gen: u64,
    page: Vec<u8>,
    /// Bitmap pages to write with the record.
    pub pages: Vec<u64>,
}

/// A completed commit whose bits are set in memory but in no synced page.
struct Unsaved {
    /// The completed commit's generation (unique; slots are reused).
    gen: u64,
    slot: u32,
    chunks: Vec<u64>,
    /// The commit whose page write carries the bits, while it runs.
    carrier: Option<u64>,
}

struct LogState {
    epoch: u64,
    next_gen: u64,
    free: Vec<u32>,
    /// Completed commits whose bits live only in their records; an entry
    /// leaves (and frees its slot) once a synced page write carried it.
    unsaved: Vec<Unsaved>,
    /// A record may have been written in this epoch.
    used: bool,
}

/// The log of one bitmap volume (see the module doc).
pub(crate) struct CowLog {
    /// Byte offset of slot 0.
    off: u64,
    slots: u32,
    state: Mutex<LogState>,
}

impl CowLog {
    pub fn new(off: u64, slots: u32, epoch: u64) -> CowLog {
        CowLog {
            off,
            slots,
            state: Mutex::new(LogState {
                epoch,
                next_gen: 1,
                free: (0..slots).rev().collect(),
                unsaved: Vec::new(),
                used: false,
            }),
        }
    }

    fn slot_off(&self, slot: u32) -> u64 {
        self.off + u64::from(slot) * PAGE
    }

    /// Starts a commit of `recs`: takes a free slot (`None`: all in use, the
    /// caller keeps the serial order) and the completed commits whose bits
    /// the commit's page write will carry.
    pub fn begin(&self, recs: &[Record]) -> Option<Ticket> {
        if recs.is_empty() || recs.len() > MAX_RECORDS {
            return None;
        }
        let mut st = self.state.lock().unwrap();
        let slot = st.free.pop()?;
        st.used = true;
        let gen = st.next_gen;
        st.next_gen += 1;
        let mut pages: BTreeSet<u64> = BTreeSet::new();
        for u in st.unsaved.iter_mut().filter(|u| u.carrier.is_none()) {
            u.carrier = Some(gen);
            pages.extend(u.chunks.iter().map(|&c| bitmap::page_of(c)));
        }
        Some(Ticket {
            slot,
            gen,
            page: encode(st.epoch, gen, slot, recs),
            pages: pages.into_iter().collect(),
        })
    }

    /// Writes the ticket's record and the pages it carries (snapshots of
    /// `bits`, which hold only bits whose data is durable). No sync.
    pub fn write(&self, bv: &BitmapVol, t: &Ticket, bits: &Bits) -> Result<()> {
        bv.write_with_pages(bits, &t.pages, &t.page, self.slot_off(t.slot))
    }

    /// Both syncs returned: the carried commits' slots are free again, and
    /// this commit's bits — already set in memory by the caller — wait for a
    /// later page write in its slot.
    pub fn finish(&self, t: Ticket, chunks: Vec<u64>) {
        let mut st = self.state.lock().unwrap();
        let st = &mut *st;
        st.unsaved.retain(|u| {
            let carried = u.carrier == Some(t.gen);
            if carried {
                st.free.push(u.slot);
            }
            !carried
        });
        st.unsaved.push(Unsaved {
            gen: t.gen,
            slot: t.slot,
            chunks,
            carrier: None,
        });
    }

    /// The commit failed (the set goes offline): the carried commits still
    /// need a page write; this commit's slot stays taken until a new epoch,
    /// its record may be durable.
    pub fn abort(&self, t: Ticket) {
        let mut st = self.state.lock().unwrap();
        for u in st.unsaved.iter_mut().filter(|u| u.carrier == Some(t.gen)) {
            u.carrier = None;
        }
    }

    /// Whether a record may have been written since the last epoch.
    pub fn used(&self) -> bool {
        self.state.lock().unwrap().used
    }

    /// Whether some completed commit's bit lives only in its record.
    pub fn has_unsaved(&self) -> bool {
        !self.state.lock().unwrap().unsaved.is_empty()
    }

    /// Makes every completed commit's bit durable in its bitmap page —
    /// those a running commit carries too, whose sync may not come in time —
    /// each page read back and the bits ORed in (the in-memory bitmap may
    /// already describe a new point in time), written and synced.
    pub fn checkpoint(&self, bv: &BitmapVol) -> Result<()> {
        let taken: Vec<(u64, Vec<u64>)> = {
            let st = self.state.lock().unwrap();
            st.unsaved
                .iter()
                .map(|u| (u.gen, u.chunks.clone()))
                .collect()
        };
        if taken.is_empty() {
            return Ok(());
        }
        bv.or_into_pages(taken.iter().flat_map(|(_, c)| c.iter().copied()))?;
        // Entries still listed leave now; a carrier that finished first has
        // freed its own, so no slot is freed twice.
        let mut st = self.state.lock().unwrap();
        let st = &mut *st;
        st.unsaved.retain(|u| {
            let done = taken.iter().any(|(g, _)| *g == u.gen);
            if done {
                st.free.push(u.slot);
            }
            !done
        });
        Ok(())
    }

    /// A new epoch (already durable in the header): every record on disk is
    /// void, every slot free.
    pub fn reset(&self, epoch: u64) {
        let mut st = self.state.lock().unwrap();
        st.epoch = epoch;
        st.used = false;
        st.unsaved.clear();
        st.free = (0..self.slots).rev().collect();
    }

    /// Reads every slot of `epoch` (recovery at open).
    pub fn read_records(&self, vol: &Volume, epoch: u64) -> Result<Vec<Record>> {
        let mut buf = vec![0u8; (u64::from(self.slots) * PAGE) as usize];
        vol.read_at(&mut buf, self.off)?;
        let mut out = Vec::new();
        for k in 0..self.slots {
            let page = &buf[(u64::from(k) * PAGE) as usize..(u64::from(k + 1) * PAGE) as usize];
            if let Some(recs) = decode(page, epoch, k) {
                out.extend(recs);
            }
        }
        Ok(out)
    }
}

/// What recovery found for the records of a log.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Chunks whose bit was set again: the commit finished (or at least its
    /// copy arrived), the shadow holds the point in time.
    pub set: Vec<u64>,
    /// Chunks whose copy never arrived: the commit never finished, its
    /// master write was never issued, the bit stays clear.
    pub unfinished: Vec<u64>,
}

/// Applies `recs` to `bits` (recovery rule of FORMAT.md §1.5): a chunk whose
/// bit is already set is done; otherwise the bit is set exactly when the
/// shadow holds the recorded data.
///
/// The master is not consulted: the recorded CRC is of the master's data as
/// the engine read it, which may include writes that were never flushed and
/// so may be gone from the master after the cut, while the copy is not.
pub(crate) fn recover(
    recs: &[Record],
    bits: &Bits,
    chunks: u64,
    chunk_len: impl Fn(u64) -> u64,
    shadow: &Volume,
) -> Result<Recovered> {
    let mut out = Recovered::default();
    let mut buf = Vec::new();
    for r in recs {
        if r.chunk >= chunks || bits.get(r.chunk) {
            continue;
        }
        buf.resize(chunk_len(r.chunk) as usize, 0);
        shadow.read_at(&mut buf, r.chunk * crate::types::CHUNK_SIZE)?;
        if crc32fast::hash(&buf) == r.crc {
            bits.set(r.chunk);
            out.set.push(r.chunk);
        } else {
            out.unfinished.push(r.chunk);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_pages_round_trip_and_reject_other_epochs_and_tears() {
        let recs = [
            Record {
                chunk: 7,
                crc: 0xDEAD_BEEF,
            },
            Record {
                chunk: 1 << 40,
                crc: 1,
            },
        ];
        let mut p = encode(42, 9, 3, &recs);
        assert_eq!(decode(&p, 42, 3).unwrap(), recs);
        assert_eq!(decode(&p, 43, 3), None, "another epoch is void");
        assert_eq!(decode(&p, 42, 4), None, "a misdirected page is void");
        p[100] ^= 1;
        assert_eq!(decode(&p, 42, 3), None, "a torn page is void");
        assert_eq!(decode(&vec![0u8; 4096], 0, 0), None);
    }

    #[test]
    fn slots_only_when_the_volume_has_room() {
        assert_eq!(slots_for(16384, 16384), 0);
        assert_eq!(slots_for(16384 + 3 * 4096, 16384), 0);
        assert_eq!(slots_for(16384 + 12 * 4096, 16384), 12);
        assert_eq!(slots_for(1 << 30, 16384), MAX_SLOTS as u32);
    }

    #[test]
    fn a_slot_is_reused_only_after_a_later_commit_carried_its_bits() {
        let log = CowLog::new(0, 4, 1);
        let r = [Record { chunk: 5, crc: 0 }];
        let t1 = log.begin(&r).unwrap();
        assert!(t1.pages.is_empty());
        log.finish(t1, vec![5]);
        assert!(log.has_unsaved());
        let taken: Vec<Ticket> = (0..3).map(|_| log.begin(&r).unwrap()).collect();
        assert_eq!(
            taken[0].pages,
            vec![0],
            "the first later commit carries page 0"
        );
        assert!(log.begin(&r).is_none(), "slot of chunk 5 not yet reusable");
        let mut it = taken.into_iter();
        log.finish(it.next().unwrap(), vec![6]);
        assert!(
            log.begin(&r).is_some(),
            "free once the carrying commit synced"
        );
    }

    #[test]
    fn bits_a_running_commit_carries_still_count_as_unsaved() {
        let log = CowLog::new(0, 4, 1);
        let r = [Record { chunk: 5, crc: 0 }];
        let t1 = log.begin(&r).unwrap();
        log.finish(t1, vec![5]);
        let carrier = log.begin(&r).unwrap();
        assert_eq!(carrier.pages, vec![0]);
        // Its sync may not come before a shadow write to chunk 5: that
        // write must still checkpoint.
        assert!(log.has_unsaved());
        log.abort(carrier);
        assert!(log.has_unsaved());
    }
}
