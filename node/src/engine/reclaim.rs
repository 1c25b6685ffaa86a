//! Deferred freeing of extents: space freed by a durable delete or overwrite is handed back
//! to the allocator only once no read that started before the free is still running, so a
//! reader never sees its shards overwritten by a new object.
//!
//! Pure bookkeeping: readers register at the current epoch; each free bumps the epoch and is
//! released when every reader still running started at or after it.

use std::collections::{BTreeMap, VecDeque};

use super::index::Extent;

#[derive(Default)]
pub struct Reclaim {
    epoch: u64,
    readers: BTreeMap<u64, u32>,
    deferred: VecDeque<(u64, Vec<Extent>)>,
}

impl Reclaim {
    pub fn begin_read(&mut self) -> u64 {
        *self.readers.entry(self.epoch).or_default() += 1;
        self.epoch
    }

    /// Ends a read; returns extents that may now be reused.
    pub fn end_read(&mut self, epoch: u64) -> Vec<Extent> {
        let count = self.readers.get_mut(&epoch).expect("read registered");
        *count -= 1;
        if *count == 0 {
            self.readers.remove(&epoch);
        }
        self.release()
    }

    /// Defers `extents`; returns whatever may be reused right away.
    pub fn free(&mut self, extents: Vec<Extent>) -> Vec<Extent> {
        if extents.is_empty() {
            return Vec::new();
        }
        self.epoch += 1;
        self.deferred.push_back((self.epoch, extents));
        self.release()
    }

    fn release(&mut self) -> Vec<Extent> {
        let oldest_reader = self.readers.keys().next().copied().unwrap_or(u64::MAX);
        let mut out = Vec::new();
        while self
            .deferred
            .front()
            .is_some_and(|(epoch, _)| *epoch <= oldest_reader)
        {
            out.extend(self.deferred.pop_front().expect("front exists").1);
        }
        out
    }

    pub fn deferred_extents(&self) -> usize {
        self.deferred.iter().map(|(_, e)| e.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(offset: u64) -> Vec<Extent> {
        vec![Extent {
            dev: 0,
            offset,
            len: 4096,
        }]
    }

    #[test]
    fn frees_wait_for_older_readers_only() {
        let mut r = Reclaim::default();
        assert_eq!(r.free(ext(0)), ext(0), "no readers: immediate");
        let old = r.begin_read();
        assert!(
            r.free(ext(1)).is_empty(),
            "an older reader may still use it"
        );
        let newer = r.begin_read();
        assert!(r.end_read(newer).is_empty(), "the old reader still runs");
        assert_eq!(r.end_read(old), ext(1));
        let reader = r.begin_read();
        assert!(r.free(ext(2)).is_empty());
        let later = r.begin_read();
        assert!(
            r.end_read(reader).len() == 1,
            "a reader newer than the free does not block it"
        );
        r.end_read(later);
        assert_eq!(r.deferred_extents(), 0);
    }
}
