//! A small, fast, seedable random source for names, payloads and operation choice.
//!
//! Owns: SplitMix64 (statistically fine for load generation, not for secrets) and the object
//! naming scheme `<8 random chars>/<16 random chars>.rnd` (warp's layout). Names draw every
//! character from `[0-9A-Za-z]`, so keys spread evenly over the first bytes a server may
//! partition on. Must not: be used for anything security-related. Invariant: a given seed
//! always yields the same sequence (tests rely on it).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::constants::{KEY_NAME_CHARS, KEY_PREFIX_CHARS};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn from_seed(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// A generator seeded from the OS-randomised hasher keys, mixed with `salt`.
    pub fn from_entropy(salt: u64) -> Rng {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        Rng::from_seed(hasher.finish())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `0..bound` (Lemire's multiply-shift; the bias is below 2^-32 for
    /// the bounds used here). `bound` must be non-zero.
    pub fn below(&mut self, bound: usize) -> usize {
        assert!(bound > 0, "Rng::below(0)");
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn fill(&mut self, buffer: &mut [u8]) {
        for chunk in buffer.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    pub fn alphanumeric(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len())] as char)
            .collect()
    }

    /// A worker's key prefix, warp's 8 random characters.
    pub fn key_prefix(&mut self) -> String {
        self.alphanumeric(KEY_PREFIX_CHARS)
    }

    /// An object key under `prefix`: `<prefix>/<16 random chars>.rnd`.
    pub fn object_key(&mut self, prefix: &str) -> String {
        format!("{prefix}/{}.rnd", self.alphanumeric(KEY_NAME_CHARS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::from_seed(7);
        let mut b = Rng::from_seed(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::from_seed(1);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            let value = rng.below(10);
            seen[value] += 1;
        }
        for count in seen {
            assert!((800..1200).contains(&count), "skewed: {seen:?}");
        }
    }

    #[test]
    fn keys_have_warp_layout_and_spread_first_bytes() {
        let mut rng = Rng::from_seed(3);
        let prefix = rng.key_prefix();
        assert_eq!(prefix.len(), KEY_PREFIX_CHARS);
        let key = rng.object_key(&prefix);
        assert!(key.starts_with(&format!("{prefix}/")));
        assert!(key.ends_with(".rnd"));
        assert_eq!(key.len(), KEY_PREFIX_CHARS + 1 + KEY_NAME_CHARS + 4);
        let mut first = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            first.insert(rng.key_prefix().as_bytes()[0]);
        }
        assert_eq!(first.len(), ALPHABET.len(), "every first byte should occur");
    }

    #[test]
    fn unit_float_is_in_range() {
        let mut rng = Rng::from_seed(9);
        for _ in 0..1000 {
            let value = rng.unit_f64();
            assert!((0.0..1.0).contains(&value));
        }
    }
}
