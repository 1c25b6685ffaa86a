//! The range map: which core owns which lexicographic range of keys.
//!
//! Pure data, identical on every core, versioned so it can change while serving (range
//! splits move half a hot range to another core: planned, see `docs/architecture.md`).
//! Version 1 cuts the key space (the object key, the same cuts in every bucket) at every
//! printable ASCII byte and deals the 95 ranges out to cores round-robin, so keys whose
//! first byte is random (benchmarks, hashes, UUIDs) spread evenly.
//!
//! Invariant: `bounds` is strictly increasing and `owners.len() == bounds.len() + 1`; range
//! `i` is `[bounds[i-1], bounds[i])`, every key falls in exactly one.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeMap {
    pub version: u64,
    bounds: Vec<Vec<u8>>,
    owners: Vec<u16>,
}

impl RangeMap {
    /// The initial map for `cores` executors.
    pub fn initial(cores: usize) -> RangeMap {
        assert!(cores >= 1 && cores <= u16::MAX as usize);
        let bounds: Vec<Vec<u8>> = (0x21u8..=0x7e).map(|b| vec![b]).collect();
        let owners = (0..=bounds.len()).map(|i| (i % cores) as u16).collect();
        let map = RangeMap {
            version: 1,
            bounds,
            owners,
        };
        map.check();
        map
    }

    fn check(&self) {
        assert_eq!(self.owners.len(), self.bounds.len() + 1);
        assert!(
            self.bounds.windows(2).all(|w| w[0] < w[1]),
            "bounds strictly increase"
        );
    }

    /// The core that owns `key` (in any bucket).
    pub fn owner(&self, key: &[u8]) -> usize {
        let range = self.bounds.partition_point(|b| b.as_slice() <= key);
        self.owners[range] as usize
    }

    pub fn ranges(&self) -> usize {
        self.owners.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_cover_and_spread() {
        let map = RangeMap::initial(2);
        assert_eq!(map.ranges(), 95);
        let table: [(&[u8], usize); 6] = [
            (b"", 0),
            (b" ", 0),
            (b"!", 1),
            (b"\"", 0),
            (b"~zz", 0),
            (b"\xff", 0),
        ];
        for (key, core) in table {
            assert_eq!(map.owner(key), core, "{key:?}");
        }
        // Random alphanumeric first bytes spread within a few percent.
        let alnum = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut counts = [0usize; 2];
        for &c in alnum {
            counts[map.owner(&[c, b'/'])] += 1;
        }
        assert!(counts[0].abs_diff(counts[1]) <= 2, "{counts:?}");
        assert!(RangeMap::initial(1).owner(b"anything") == 0);
        for cores in 1..=8 {
            let map = RangeMap::initial(cores);
            for b in 0..=255u8 {
                assert!(map.owner(&[b]) < cores);
            }
        }
    }
}
