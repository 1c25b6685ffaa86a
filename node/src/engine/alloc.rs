//! Extent allocator for one core's data region on one device.
//!
//! A directory device's region is a file that grows (no capacity); a block device's region
//! has a fixed length, and `allocate` returns `None` when no free extent fits and the end would
//! pass it: the caller turns that into a "device full" error, nothing is written.
//!
//! Pure bookkeeping in block units: no I/O. The allocator is not persisted: at recovery it is
//! rebuilt from the index (every extent an entry references is used, the rest is free), so a
//! crash can never leak or double-allocate space. Freed extents come back only after the
//! deletion that freed them is durable (the caller's job, see `store.rs`).
//!
//! Invariant: free extents never overlap, never touch (they are coalesced), and lie below
//! `end`; `by_size` and `by_start` describe the same set; every allocation made lies below
//! `capacity` when there is one.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
pub struct Allocator {
    /// start -> length, in blocks.
    by_start: BTreeMap<u64, u64>,
    /// (length, start) for best-fit search.
    by_size: BTreeSet<(u64, u64)>,
    /// First block past every allocation: the file grows from here.
    end: u64,
    used_blocks: u64,
    /// Blocks in the region (`None`: unbounded, the file grows).
    capacity: Option<u64>,
}

impl Allocator {
    pub fn new() -> Allocator {
        Allocator::default()
    }

    /// An empty allocator over `capacity` blocks (`None`: unbounded).
    pub fn with_capacity(capacity: Option<u64>) -> Allocator {
        Allocator {
            capacity,
            ..Allocator::default()
        }
    }

    /// Rebuilds an allocator from the used extents `(start, len)` (any order, no overlaps).
    /// Extents past `capacity` are kept (they are referenced) but nothing new goes there.
    pub fn from_used(mut used: Vec<(u64, u64)>, capacity: Option<u64>) -> Allocator {
        used.sort_unstable();
        let mut alloc = Allocator::with_capacity(capacity);
        let mut cursor = 0;
        for (start, len) in used {
            assert!(start >= cursor, "overlapping extents at block {start}");
            if start > cursor {
                alloc.insert_free(cursor, start - cursor);
            }
            cursor = start + len;
            alloc.used_blocks += len;
        }
        alloc.end = cursor;
        alloc
    }

    /// Allocates `len` blocks: the smallest free extent that fits, else at the end. `None`
    /// when the region is full (nothing changes then).
    pub fn allocate(&mut self, len: u64) -> Option<u64> {
        assert!(len > 0);
        if let Some(&(free_len, start)) = self.by_size.range((len, 0)..).next() {
            self.by_size.remove(&(free_len, start));
            self.by_start.remove(&start);
            if free_len > len {
                self.insert_free(start + len, free_len - len);
            }
            self.used_blocks += len;
            return Some(start);
        }
        let start = self.end;
        if self.capacity.is_some_and(|cap| start + len > cap) {
            return None;
        }
        self.end += len;
        self.used_blocks += len;
        debug_assert!(self.capacity.is_none_or(|cap| self.end <= cap));
        Some(start)
    }

    /// Whether `len` blocks can be allocated now.
    pub fn can_allocate(&self, len: u64) -> bool {
        self.by_size.range((len, 0)..).next().is_some()
            || self.capacity.is_none_or(|cap| self.end + len <= cap)
    }

    /// Returns an extent. Coalesces with free neighbours, and shrinks `end` when it was last.
    pub fn free(&mut self, mut start: u64, mut len: u64) {
        assert!(len > 0 && start + len <= self.end, "free past end");
        assert!(self.used_blocks >= len);
        self.used_blocks -= len;
        if let Some((&prev_start, &prev_len)) = self.by_start.range(..start).next_back() {
            assert!(
                prev_start + prev_len <= start,
                "double free at block {start}"
            );
            if prev_start + prev_len == start {
                self.remove_free(prev_start, prev_len);
                start = prev_start;
                len += prev_len;
            }
        }
        if let Some((&next_start, &next_len)) = self.by_start.range(start..).next() {
            assert!(start + len <= next_start, "double free at block {start}");
            if start + len == next_start {
                self.remove_free(next_start, next_len);
                len += next_len;
            }
        }
        if start + len == self.end {
            self.end = start;
        } else {
            self.insert_free(start, len);
        }
    }

    pub fn used_blocks(&self) -> u64 {
        self.used_blocks
    }

    pub fn end_blocks(&self) -> u64 {
        self.end
    }

    fn insert_free(&mut self, start: u64, len: u64) {
        self.by_start.insert(start, len);
        self.by_size.insert((len, start));
    }

    fn remove_free(&mut self, start: u64, len: u64) {
        self.by_start.remove(&start);
        self.by_size.remove(&(len, start));
    }

    #[cfg(test)]
    fn check(&self) {
        let mut last_end = None;
        let mut free = 0;
        for (&s, &l) in &self.by_start {
            assert!(self.by_size.contains(&(l, s)));
            if let Some(e) = last_end {
                assert!(s > e, "free extents touch or overlap");
            }
            last_end = Some(s + l);
            free += l;
        }
        assert_eq!(self.by_size.len(), self.by_start.len());
        assert!(last_end.unwrap_or(0) < self.end || self.by_start.is_empty());
        assert_eq!(free + self.used_blocks, self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn allocate_free_coalesce() {
        let mut a = Allocator::new();
        let x = a.allocate(4).unwrap();
        let y = a.allocate(2).unwrap();
        let z = a.allocate(3).unwrap();
        assert_eq!((x, y, z), (0, 4, 6));
        a.free(y, 2);
        a.check();
        assert_eq!(a.allocate(1), Some(4), "best fit reuses the hole");
        a.free(4, 1);
        a.free(x, 4);
        a.check();
        a.free(z, 3);
        a.check();
        assert_eq!(a.end_blocks(), 0);
        assert_eq!(a.used_blocks(), 0);
    }

    #[test]
    fn random_against_model() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut a = Allocator::new();
        let mut live: Vec<(u64, u64)> = Vec::new();
        for _ in 0..5000 {
            if live.is_empty() || rng.gen_bool(0.55) {
                let len = rng.gen_range(1..20);
                let start = a.allocate(len).unwrap();
                for &(s, l) in &live {
                    assert!(start + len <= s || s + l <= start, "overlap");
                }
                live.push((start, len));
            } else {
                let (s, l) = live.swap_remove(rng.gen_range(0..live.len()));
                a.free(s, l);
            }
            a.check();
        }
        let rebuilt = Allocator::from_used(live.clone(), None);
        rebuilt.check();
        assert_eq!(rebuilt.used_blocks(), a.used_blocks());
    }

    #[test]
    fn bounded_region_refuses_past_capacity_and_reuses_holes() {
        let mut a = Allocator::with_capacity(Some(10));
        assert_eq!(a.allocate(6), Some(0));
        assert!(!a.can_allocate(5));
        assert_eq!(a.allocate(5), None, "would pass the end of the region");
        a.check();
        assert_eq!(a.used_blocks(), 6, "a refused allocation changes nothing");
        assert_eq!(a.allocate(4), Some(6));
        assert_eq!(a.allocate(1), None);
        a.free(0, 6);
        assert!(a.can_allocate(6));
        assert_eq!(a.allocate(5), Some(0), "a freed hole is used again");
        a.check();
        let rebuilt = Allocator::from_used(vec![(6, 4), (0, 5)], Some(10));
        assert_eq!(rebuilt.used_blocks(), 9);
        let mut rebuilt = rebuilt;
        assert_eq!(rebuilt.allocate(2), None);
        assert_eq!(rebuilt.allocate(1), Some(5));
    }
}
