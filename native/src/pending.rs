//! What one data-path request changes before the host data may land —
//! copy-on-write data to sync, compact index pages, shadow bits to set and
//! copy bits to clear — and the commit that makes it durable in the order of
//! FORMAT.md §1.3: serially (data synced, then index, then bitmap pages), or,
//! for a persistent full-size dependent set with a copy-on-write log, with
//! the shadow data and the log record synced in parallel (FORMAT.md §1.5).
//!
//! In both orders a bit reaches the in-memory bitmap only once what it
//! describes is durable, so another request persisting the same bitmap page
//! can never carry it to disk early. Around a serial commit's page write the
//! set's `commits_begun`/`commits_ended` counters differ: a master write
//! that finds its chunks' bits set may skip the chunk locks only while they
//! are equal (`Master::write`).

use crate::bitmap::{self, Region};
use crate::cowlog::Record;
use crate::error::Result;
use crate::set::SetCore;
use crate::types::flags;
use crate::volume::Volume;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One set's pending bit changes and dirty index pages.
struct Dirty {
    set: Arc<SetCore>,
    /// Chunks whose shadow bit is to be set.
    shadow_bits: BTreeSet<u64>,
    /// Chunks whose copy bit is to be cleared.
    copy_bits: BTreeSet<u64>,
    /// Index pages to write.
    index_pages: BTreeSet<u64>,
    /// Chunks copied to the shadow, with the CRC-32 of the data (only for
    /// a set with a copy-on-write log).
    cows: Vec<Record>,
}

/// What a request changes, committed in write order. Bit changes are applied
/// to the in-memory bitmaps only at commit, after the data they describe is
/// synced and the index written: another thread persisting the same bitmap
/// page can then never make a bit durable before its data or mapping.
#[derive(Default)]
pub(crate) struct Pending {
    vols: Vec<Arc<Volume>>,
    sets: Vec<Dirty>,
}

impl Pending {
    fn entry(&mut self, s: &Arc<SetCore>) -> &mut Dirty {
        let i = match self.sets.iter().position(|e| Arc::ptr_eq(&e.set, s)) {
            Some(i) => i,
            None => {
                self.sets.push(Dirty {
                    set: s.clone(),
                    shadow_bits: BTreeSet::new(),
                    copy_bits: BTreeSet::new(),
                    index_pages: BTreeSet::new(),
                    cows: Vec::new(),
                });
                self.sets.len() - 1
            }
        };
        &mut self.sets[i]
    }
    /// Shadow bit `c` of `s` is to be set.
    pub(crate) fn mark_shadow(&mut self, s: &Arc<SetCore>, c: u64) {
        self.entry(s).shadow_bits.insert(c);
    }
    /// Copy bit `c` of `s` is to be cleared.
    pub(crate) fn clear_copy(&mut self, s: &Arc<SetCore>, c: u64) {
        self.entry(s).copy_bits.insert(c);
    }
    /// The compact index page that maps chunk `c` of `s` is to be written.
    pub(crate) fn write_index_of(&mut self, s: &Arc<SetCore>, c: u64) {
        self.entry(s).index_pages.insert(bitmap::index_page_of(c));
    }
    /// Chunk `c` of `s` was copied to its shadow with data of CRC `crc`.
    pub fn note_cow(&mut self, s: &Arc<SetCore>, c: u64, crc: u32) {
        self.entry(s).cows.push(Record { chunk: c, crc });
    }
    /// Data written to `v` is to be synced before any bit or index page.
    pub(crate) fn sync_first(&mut self, v: &Arc<Volume>) {
        if !self.vols.iter().any(|x| Arc::ptr_eq(x, v)) {
            self.vols.push(v.clone());
        }
    }

    /// Syncs copied data, then writes index and bitmap pages durably. Sets
    /// with volatile bitmaps only change their bits in memory, and when every
    /// set involved is volatile nothing is synced (after a crash such a set
    /// is not trusted anyway: see `Engine::open`).
    pub fn commit(self) -> Result<()> {
        let this = match self.commit_parallel() {
            Ok(done) => return done,
            Err(this) => this,
        };
        this.commit_serial()
    }

    /// The parallel order, when it applies: one persistent set with a log,
    /// only shadow bits to set, each over data copied to its own shadow.
    /// Gives the request back when it does not apply (or the log is full).
    fn commit_parallel(mut self) -> std::result::Result<Result<()>, Pending> {
        let fits = self.sets.len() == 1 && {
            let d = &self.sets[0];
            let s = &d.set;
            !s.volatile
                && s.bitmap.log.is_some()
                && d.copy_bits.is_empty()
                && d.index_pages.is_empty()
                && !d.shadow_bits.is_empty()
                && d.shadow_bits.len() == d.cows.len()
                && d.cows.iter().all(|r| d.shadow_bits.contains(&r.chunk))
                && self.vols.len() == 1
                && Arc::ptr_eq(&self.vols[0], &s.shadow)
        };
        if !fits {
            return Err(self);
        }
        let d = &self.sets[0];
        let s = &d.set;
        let log = s.bitmap.log.as_ref().expect("checked");
        let Some(t) = log.begin(&d.cows) else {
            return Err(self);
        };
        let shadow = self.vols.pop().expect("checked");
        let r = (|| {
            log.write(&s.bitmap, &t, &s.shadow_bits)?;
            // The shadow's sync on a helper thread, the bitmap volume's here.
            let (a, b) = std::thread::scope(|sc| {
                let h = sc.spawn(|| shadow.sync());
                let b = s.bitmap.vol.sync();
                (h.join().unwrap_or_else(|_| Err(panicked(&shadow))), b)
            });
            crate::probe::bitmap_sync();
            a.and(b)
        })();
        if let Err(e) = r {
            log.abort(t);
            s.go_offline(flags::BMPOFFLINE, &e);
            return Ok(Err(e));
        }
        // Both durable: the bits may now be seen (and carried by later page
        // writes); the slot is freed once one of them has synced.
        for &c in &d.shadow_bits {
            s.shadow_bits.set(c);
        }
        log.finish(t, d.shadow_bits.iter().copied().collect());
        Ok(Ok(()))
    }

    /// The serial order of FORMAT.md §1.3.
    fn commit_serial(self) -> Result<()> {
        let all_volatile = !self.sets.is_empty() && self.sets.iter().all(|d| d.set.volatile);
        if !all_volatile {
            for v in &self.vols {
                v.sync()?;
            }
        }
        for Dirty {
            set: s,
            shadow_bits: to_mark,
            copy_bits: to_clear,
            index_pages,
            cows: _,
        } in self.sets
        {
            if s.volatile {
                if let Err(e) = s.apply_volatile(&to_mark, &to_clear) {
                    s.go_offline(flags::BMPOFFLINE, &e);
                    return Err(e);
                }
                continue;
            }
            // Bits go into memory before their page is durable: master
            // writes skip the chunk locks only while no such commit runs.
            s.commits_begun.fetch_add(1, Ordering::AcqRel);
            let r = (|| {
                if !index_pages.is_empty() {
                    // Snapshot the map while holding it: an older snapshot
                    // written after a newer one would unmap a durable chunk.
                    // Lock order: compact map, then the bitmap volume.
                    let cm = s
                        .compact
                        .as_ref()
                        .expect("index only for compact")
                        .lock()
                        .unwrap();
                    s.bitmap
                        .write_index(&cm.map, &index_pages.into_iter().collect::<Vec<_>>())?;
                }
                let mut spages = BTreeSet::new();
                for c in to_mark {
                    s.shadow_bits.set(c);
                    spages.insert(bitmap::page_of(c));
                }
                let mut cpages = BTreeSet::new();
                for c in to_clear {
                    s.copy_bits.clear(c);
                    cpages.insert(bitmap::page_of(c));
                }
                let spages: Vec<u64> = spages.into_iter().collect();
                let cpages: Vec<u64> = cpages.into_iter().collect();
                if !spages.is_empty() {
                    s.bitmap.write_bits(
                        Region::Shadow,
                        &s.shadow_bits,
                        &spages,
                        cpages.is_empty(),
                    )?;
                }
                if !cpages.is_empty() {
                    s.bitmap
                        .write_bits(Region::Copy, &s.copy_bits, &cpages, true)?;
                }
                Ok(())
            })();
            s.commits_ended.fetch_add(1, Ordering::AcqRel);
            if let Err(e) = r {
                s.go_offline(flags::BMPOFFLINE, &e);
                return Err(e);
            }
        }
        Ok(())
    }
}

fn panicked(v: &Volume) -> crate::error::Error {
    crate::error::Error::io(&v.path, std::io::Error::other("sync thread panicked"))
}
