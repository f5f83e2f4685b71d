//! What a power cut may leave of one logical volume (a master, or what a
//! dependent shadow device reads), for the power-loss suites: the writes a
//! client sent, with the trace positions they and the flushes spanned; and
//! how the suites reopen the engine after a cut.
//!
//! A write is *durable by cut k* once it returned with FUA, or a flush that
//! started after it returned had itself returned, before event k. After a cut
//! every byte must hold the value of the last durable write to it (or the
//! base content), or that of any later write that had started before the cut
//! (unsynced writes may survive, whole or torn).

/// One client write: `len` bytes of `tag` at `off`, issued while the trace
/// grew from `start` to `end` events.
pub struct Written {
    pub off: usize,
    pub len: usize,
    pub tag: u8,
    pub fua: bool,
    pub start: usize,
    pub end: usize,
}

/// A logical volume's base content and the writes and flushes sent to it.
pub struct Logical {
    pub base: Vec<u8>,
    pub writes: Vec<Written>,
    /// `(start, end)` trace positions of each returned flush.
    pub flushes: Vec<(usize, usize)>,
}

impl Logical {
    pub fn new(base: Vec<u8>) -> Logical {
        Logical {
            base,
            writes: Vec::new(),
            flushes: Vec::new(),
        }
    }

    fn durable(&self, w: &Written, cut: usize) -> bool {
        (w.fua && w.end <= cut) || self.flushes.iter().any(|&(s, e)| s >= w.end && e <= cut)
    }

    /// Checks `got` (the volume after a cut at event `cut`); on a violation,
    /// names the first byte that holds a value no allowed write left there.
    pub fn check(&self, got: &[u8], cut: usize) -> Result<(), String> {
        if got.len() != self.base.len() {
            return Err(format!("size {} instead of {}", got.len(), self.base.len()));
        }
        // floor[i]: value of the last durable write (or base); by[i]: 1 + its index.
        let mut floor = self.base.clone();
        let mut by = vec![0usize; got.len()];
        for (j, w) in self.writes.iter().enumerate() {
            if self.durable(w, cut) {
                floor[w.off..w.off + w.len].fill(w.tag);
                by[w.off..w.off + w.len].fill(j + 1);
            }
        }
        let mut ok: Vec<bool> = got.iter().zip(&floor).map(|(a, b)| a == b).collect();
        for (j, w) in self.writes.iter().enumerate() {
            if w.start >= cut {
                continue;
            }
            for i in w.off..w.off + w.len {
                if !ok[i] && by[i] <= j && got[i] == w.tag {
                    ok[i] = true;
                }
            }
        }
        match ok.iter().position(|&b| !b) {
            None => Ok(()),
            Some(i) => Err(format!(
                "byte {i} (chunk {}) holds {:#04x}; the last durable value is {:#04x} (write #{})",
                i / native::CHUNK_SIZE as usize,
                got[i],
                floor[i],
                by[i]
            )),
        }
    }
}

/// An engine on the state directory `top/state` with the one volume root
/// `vols` (how the power-loss suites reopen after each cut); `cow_log` as
/// in `EngineConfig::cow_log`.
pub fn open_engine(top: &std::path::Path, vols: &std::path::Path, cow_log: bool) -> native::Engine {
    let mut cfg = native::EngineConfig::new(top.join("state"), vec![vols.to_path_buf()]);
    cfg.cow_log = cow_log;
    native::Engine::open(cfg).unwrap()
}
