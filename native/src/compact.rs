//! A compact dependent shadow's chunk map and allocator: a shadow smaller
//! than its master keeps only the chunks written since the point in time,
//! each wherever there was room (then on the attached overflow volume). The
//! map is persisted as the bitmap volume's index pages (FORMAT.md §1.2).

use crate::bitmap::UNMAPPED;
use crate::overflow::Overflow;
use std::sync::Arc;

/// Compact-shadow chunk map and allocator, one per compact set (under its
/// own mutex in [`crate::set::SetCore::compact`]).
pub(crate) struct Compact {
    /// Where each master chunk lives: a shadow chunk (>= 0), overflow chunk
    /// `n` (as `-n`), or [`UNMAPPED`]. Persisted as the index pages.
    pub map: Vec<i32>,
    /// Free shadow chunks, lowest on top.
    free: Vec<u32>,
    /// Chunks the shadow volume holds.
    shadow_chunks: u64,
    /// The attached overflow volume, if any (and if it could be opened).
    pub overflow: Option<Arc<Overflow>>,
    /// Chunks this set keeps on the overflow volume.
    pub overflow_used: u64,
}

impl Compact {
    /// An empty map of `chunks` master chunks over `shadow_chunks` shadow chunks.
    pub fn new(chunks: u64, shadow_chunks: u64) -> Compact {
        Compact {
            map: vec![UNMAPPED; chunks as usize],
            free: (0..shadow_chunks as u32).rev().collect(),
            shadow_chunks,
            overflow: None,
            overflow_used: 0,
        }
    }
    /// Rebuilds the free list and overflow claims from the map.
    pub fn rebuild(&mut self) {
        let mut used = vec![false; self.shadow_chunks as usize];
        self.overflow_used = 0;
        for e in self.map.iter_mut() {
            if *e >= 0 {
                if (*e as u64) < self.shadow_chunks && !used[*e as usize] {
                    used[*e as usize] = true;
                } else {
                    *e = UNMAPPED;
                }
            } else if *e != UNMAPPED {
                let ok = self
                    .overflow
                    .as_ref()
                    .is_some_and(|o| o.claim((-(*e as i64)) as u64));
                if ok {
                    self.overflow_used += 1;
                } else {
                    *e = UNMAPPED;
                }
            }
        }
        self.free = (0..self.shadow_chunks as u32)
            .rev()
            .filter(|k| !used[*k as usize])
            .collect();
    }
    /// The location of chunk `c`, allocated (shadow first, then overflow)
    /// if unmapped; `true` with a fresh allocation, `None` when out of space.
    pub fn alloc(&mut self, c: u64) -> Option<(i32, bool)> {
        let e = self.map[c as usize];
        if e != UNMAPPED {
            return Some((e, false));
        }
        let e = if let Some(k) = self.free.pop() {
            k as i32
        } else if let Some(n) = self.overflow.as_ref().and_then(|o| o.alloc()) {
            self.overflow_used += 1;
            -(n as i32)
        } else {
            return None;
        };
        self.map[c as usize] = e;
        Some((e, true))
    }
    /// Frees chunk `c`'s location.
    pub fn unmap(&mut self, c: u64) {
        let e = std::mem::replace(&mut self.map[c as usize], UNMAPPED);
        if e >= 0 {
            self.free.push(e as u32);
        } else if e != UNMAPPED {
            if let Some(o) = &self.overflow {
                o.free((-(e as i64)) as u64);
                self.overflow_used -= 1;
            }
        }
    }
    /// Frees every chunk: a new point in time.
    pub fn reset(&mut self) {
        for c in 0..self.map.len() as u64 {
            self.unmap(c);
        }
        self.free = (0..self.shadow_chunks as u32).rev().collect();
    }
    /// Shadow chunks in use.
    pub fn used(&self) -> u64 {
        self.shadow_chunks - self.free.len() as u64
    }
}
