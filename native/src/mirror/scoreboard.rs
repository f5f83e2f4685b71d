//! The mirror scoreboard volume: one bit per 32 KiB chunk, set where the
//! primary and the secondary may differ. It reuses the set bitmap volume's
//! format (FORMAT.md §5): the two header slots, with type `0x4000`
//! (mirror) and the mirror state in the flag word, then the scoreboard in
//! the "shadow bitmap" region and the peer's scoreboard (split brain, see
//! `Engine::mirror_merge_peer`) in the "copy bitmap" region.
//!
//! Write rule: a bit is durable (page written and synced) before the data
//! it covers is written on either side; clearing is lazy (pages written
//! without a sync), since a stale set bit only makes a resync copy more.

use crate::bitmap::{self, BitmapVol, Bits, Geometry, Header, Region};
use crate::error::{Error, Result};
use crate::mirror::MirrorState;
use crate::volume::Volume;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// Header `type` of a mirror scoreboard.
pub(crate) const TYPE_MIRROR: u32 = 0x4000;
/// Header flag: host writes refused (fenced for a role reversal).
pub(crate) const FL_FENCED: u32 = 0x100;
/// Header flag: host writes fail with EIO (link lost under the freeze policy).
pub(crate) const FL_FROZEN: u32 = 0x200;
/// Header flag: both sides were written while apart; an operator must choose.
pub(crate) const FL_SPLIT: u32 = 0x400;
/// Mask of the state code in the flag word.
const STATE_MASK: u32 = 0xFF;

pub(crate) fn state_code(s: MirrorState) -> u32 {
    match s {
        MirrorState::Logging => 1,
        MirrorState::Syncing => 2,
        MirrorState::Replicating => 3,
        MirrorState::ReverseSyncing => 4,
        MirrorState::NeedSync => 5,
        MirrorState::NeedReverseSync => 6,
        MirrorState::Failed => 7,
    }
}

fn state_of(code: u32) -> Option<MirrorState> {
    Some(match code & STATE_MASK {
        1 => MirrorState::Logging,
        2 => MirrorState::Syncing,
        3 => MirrorState::Replicating,
        4 => MirrorState::ReverseSyncing,
        5 => MirrorState::NeedSync,
        6 => MirrorState::NeedReverseSync,
        7 => MirrorState::Failed,
        _ => return None,
    })
}

/// An open scoreboard: the bits in memory and the volume behind them.
pub(crate) struct Scoreboard {
    pub bv: BitmapVol,
    /// Chunks that may differ between the two sides.
    pub bits: Bits,
    /// The peer's scoreboard, merged in after a failover (split brain).
    pub peer: Bits,
    pub chunks: u64,
}

/// What the header of a scoreboard said at open.
pub(crate) struct Stored {
    pub state: MirrorState,
    pub flags: u32,
    pub when_synced: u64,
    /// The previous run did not shut down in order.
    pub crashed: bool,
}

impl Scoreboard {
    /// Fails unless the volume can hold a scoreboard of `chunks` chunks.
    pub fn check_size(vol: &Volume, chunks: u64, primary: &Path) -> Result<()> {
        let geo = Geometry::new(chunks, false);
        if vol.size < geo.required() {
            return Err(Error::invalid(
                format!("mirror of {} scoreboard {}", primary.display(), vol.path.display()),
                format!(
                    "scoreboard volume too small: {} bytes, needs at least {} bytes for {} chunks; use a larger volume",
                    vol.size,
                    geo.required(),
                    chunks
                ),
            ));
        }
        Ok(())
    }

    /// Writes a new scoreboard: bits (all set unless the sides are known
    /// equal), peer bits zero, synced; then the header, synced.
    pub fn create(
        vol: Arc<Volume>,
        size: u64,
        names: [&str; 4],
        all_dirty: bool,
        state: MirrorState,
    ) -> Result<Scoreboard> {
        let chunks = size.div_ceil(crate::types::CHUNK_SIZE);
        let geo = Geometry::new(chunks, false);
        let header = Header {
            lifecycle: bitmap::LIFE_DIRTY,
            set_type: TYPE_MIRROR,
            flags: state_code(state),
            size,
            chunks,
            bmp_pages: geo.bmp_pages as u32,
            master: names[0].into(),
            shadow: names[1].into(),
            bitmap: names[2].into(),
            group: names[3].into(),
            ..Default::default()
        };
        let sb = Scoreboard {
            bv: BitmapVol::new(vol, geo, header),
            bits: Bits::new(chunks),
            peer: Bits::new(chunks),
            chunks,
        };
        if all_dirty {
            sb.bits.fill();
        }
        sb.bv.write_all_bits(Region::Shadow, &sb.bits)?;
        sb.bv.write_all_bits(Region::Copy, &sb.peer)?;
        sb.bv.write_header(|_| {})?;
        Ok(sb)
    }

    /// Opens an existing scoreboard of a volume of `size` bytes. Torn pages
    /// come back all set (a resync copies more, never less).
    pub fn open(vol: Arc<Volume>, size: u64) -> Result<(Scoreboard, Stored)> {
        let chunks = size.div_ceil(crate::types::CHUNK_SIZE);
        let bad = |why: &str| {
            Error::invalid(
                format!("mirror scoreboard {}", vol.path.display()),
                why.to_string(),
            )
        };
        let h = bitmap::read_header(&vol)?.ok_or_else(|| bad("no valid scoreboard header"))?;
        if h.set_type != TYPE_MIRROR || h.lifecycle == bitmap::LIFE_INVALID {
            return Err(bad("not the scoreboard of an enabled mirror"));
        }
        if h.chunks != chunks || h.size != size {
            return Err(bad(&format!(
                "the scoreboard covers {} bytes but the primary has {} bytes",
                h.size, size
            )));
        }
        let state = state_of(h.flags).ok_or_else(|| bad("unknown state code"))?;
        let stored = Stored {
            state,
            flags: h.flags,
            when_synced: h.mtime,
            crashed: h.lifecycle != bitmap::LIFE_CLEAN,
        };
        let geo = Geometry::new(chunks, false);
        let sb = Scoreboard {
            bv: BitmapVol::new(vol, geo, h),
            bits: Bits::new(chunks),
            peer: Bits::new(chunks),
            chunks,
        };
        for p in sb.bv.load_bits(Region::Shadow, &sb.bits)? {
            fill_page(&sb.bits, p, chunks);
        }
        for p in sb.bv.load_bits(Region::Copy, &sb.peer)? {
            fill_page(&sb.peer, p, chunks);
        }
        Ok((sb, stored))
    }

    /// Makes the given scoreboard pages durable.
    pub fn write_pages(&self, pages: &BTreeSet<u64>, sync: bool) -> Result<()> {
        let pages: Vec<u64> = pages.iter().copied().collect();
        self.bv.write_bits(Region::Shadow, &self.bits, &pages, sync)
    }

    /// Writes both regions whole and syncs.
    pub fn write_all(&self) -> Result<()> {
        self.bv.write_all_bits(Region::Shadow, &self.bits)?;
        self.bv.write_all_bits(Region::Copy, &self.peer)
    }

    /// Records state and flags in the header (synced).
    pub fn write_state(&self, state: MirrorState, flags: u32, when_synced: u64) -> Result<()> {
        self.bv.write_header(|h| {
            h.lifecycle = bitmap::LIFE_DIRTY;
            h.flags = state_code(state) | (flags & !STATE_MASK);
            h.mtime = when_synced;
        })
    }

    /// Marks the header clean (orderly shutdown) or invalid (disabled).
    pub fn write_lifecycle(&self, lifecycle: u32) -> Result<()> {
        self.bv.write_header(|h| h.lifecycle = lifecycle)
    }
}

fn fill_page(bits: &Bits, page: u64, chunks: u64) {
    let lo = page * bitmap::BITS_PER_PAGE;
    for c in lo..(lo + bitmap::BITS_PER_PAGE).min(chunks) {
        bits.set(c);
    }
}
