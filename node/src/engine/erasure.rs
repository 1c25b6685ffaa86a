//! Erasure coding: the geometry rule (how many data and parity shards for a device count) and
//! encode / reconstruct over reed-solomon-simd.
//!
//! Pure: no I/O. Shards are plain byte slices of equal length, a multiple of 64 bytes (the
//! SIMD codec's unit; our shards are always multiples of the 4 KiB block, so this holds).
//! Invariant: `k >= 1`, `k + m <= DEVICES_MAX`; with `m == 0` there is nothing to encode and
//! reconstruction of a lost shard is impossible by definition.

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use crate::constants::DEVICES_MAX;

/// A stripe geometry: `k` data shards plus `m` parity shards on `k + m` distinct devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub k: u8,
    pub m: u8,
}

impl Geometry {
    pub fn new(k: u8, m: u8) -> Option<Geometry> {
        let ok = k >= 1 && (k as usize + m as usize) <= DEVICES_MAX;
        ok.then_some(Geometry { k, m })
    }

    /// The default geometry for `devices` devices. The rule, also in `docs/architecture.md`:
    /// 1 → 1+0, 2 → 1+1, 3 → 2+1, 4 → 2+2, 5 → 3+2, 6 → 4+2, 7 → 5+2, 8 → 6+2,
    /// 9..=11 → (n-3)+3, 12..=15 → 8+4 on the first 12, 16 or more → 12+4 on 16 of them.
    /// Parity grows with the device count so that the chance of losing more than `m`
    /// devices stays small, and `k` is capped so stripes stay reasonably small.
    pub fn for_devices(devices: usize) -> Geometry {
        assert!(devices >= 1, "at least one device");
        let (k, m) = match devices {
            1 => (1, 0),
            2 => (1, 1),
            3 => (2, 1),
            4..=8 => (devices - 2, 2),
            9..=11 => (devices - 3, 3),
            12..=15 => (8, 4),
            _ => (12, 4),
        };
        Geometry::new(k as u8, m as u8).expect("the rule only yields valid geometries")
    }

    pub fn width(self) -> usize {
        self.k as usize + self.m as usize
    }

    /// Parses "K+M".
    pub fn parse(text: &str) -> Option<Geometry> {
        let (k, m) = text.split_once('+')?;
        Geometry::new(k.trim().parse().ok()?, m.trim().parse().ok()?)
    }
}

impl std::fmt::Display for Geometry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{}", self.k, self.m)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ErasureError {
    /// Fewer than `k` intact shards: the stripe cannot be rebuilt.
    TooManyLost { lost: usize, m: usize },
    /// The codec refused the input (a bug: sizes are checked by the caller).
    Codec(String),
}

/// A reusable codec (the SIMD encoder keeps its work buffers between stripes).
pub struct Codec {
    encoder: Option<ReedSolomonEncoder>,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new()
    }
}

impl Codec {
    pub fn new() -> Codec {
        Codec { encoder: None }
    }

    /// Computes the `m` parity shards of `data` (exactly `k` shards of equal length) into
    /// `parity` (exactly `m` buffers of the same length).
    pub fn encode(
        &mut self,
        geometry: Geometry,
        data: &[&[u8]],
        parity: &mut [&mut [u8]],
    ) -> Result<(), ErasureError> {
        assert_eq!(data.len(), geometry.k as usize);
        assert_eq!(parity.len(), geometry.m as usize);
        if geometry.m == 0 {
            return Ok(());
        }
        let shard_bytes = data[0].len();
        assert!(
            shard_bytes > 0 && shard_bytes.is_multiple_of(64),
            "shard size {shard_bytes}"
        );
        let (k, m) = (geometry.k as usize, geometry.m as usize);
        let encoder = match self.encoder.as_mut() {
            Some(encoder) => {
                encoder
                    .reset(k, m, shard_bytes)
                    .map_err(|e| ErasureError::Codec(e.to_string()))?;
                encoder
            }
            None => self.encoder.insert(
                ReedSolomonEncoder::new(k, m, shard_bytes)
                    .map_err(|e| ErasureError::Codec(e.to_string()))?,
            ),
        };
        for shard in data {
            encoder
                .add_original_shard(shard)
                .map_err(|e| ErasureError::Codec(e.to_string()))?;
        }
        let result = encoder
            .encode()
            .map_err(|e| ErasureError::Codec(e.to_string()))?;
        for (i, out) in parity.iter_mut().enumerate() {
            let shard = result
                .recovery(i)
                .expect("encoder yields m recovery shards");
            out.copy_from_slice(shard);
        }
        Ok(())
    }
}

/// Rebuilds every missing shard of a stripe in place. `shards[i]` is `Some` for an intact
/// shard and `None` for a lost one (indexes `0..k` data, `k..k+m` parity); on success every
/// entry is `Some` and the data shards are the bytes originally written.
pub fn reconstruct(geometry: Geometry, shards: &mut [Option<Vec<u8>>]) -> Result<(), ErasureError> {
    let (k, m) = (geometry.k as usize, geometry.m as usize);
    assert_eq!(shards.len(), k + m);
    let lost = shards.iter().filter(|s| s.is_none()).count();
    if lost == 0 {
        return Ok(());
    }
    if lost > m {
        return Err(ErasureError::TooManyLost { lost, m });
    }
    let shard_bytes = shards
        .iter()
        .flatten()
        .map(Vec::len)
        .next()
        .expect("at least k shards are present");
    let codec = |e: reed_solomon_simd::Error| ErasureError::Codec(e.to_string());
    let data_lost = shards[..k].iter().any(Option::is_none);
    if data_lost {
        let mut decoder = ReedSolomonDecoder::new(k, m, shard_bytes).map_err(codec)?;
        for (i, shard) in shards.iter().enumerate() {
            if let Some(shard) = shard {
                if i < k {
                    decoder.add_original_shard(i, shard).map_err(codec)?;
                } else {
                    decoder.add_recovery_shard(i - k, shard).map_err(codec)?;
                }
            }
        }
        let result = decoder.decode().map_err(codec)?;
        let restored: Vec<(usize, Vec<u8>)> = result
            .restored_original_iter()
            .map(|(i, s)| (i, s.to_vec()))
            .collect();
        for (i, shard) in restored {
            shards[i] = Some(shard);
        }
    }
    // With all data shards present, lost parity is simply re-encoded.
    if shards[k..].iter().any(Option::is_none) {
        let data: Vec<&[u8]> = shards[..k]
            .iter()
            .map(|s| s.as_deref().expect("data restored"))
            .collect();
        let mut parity = vec![vec![0u8; shard_bytes]; m];
        let mut parity_refs: Vec<&mut [u8]> = parity.iter_mut().map(|p| p.as_mut_slice()).collect();
        Codec::new().encode(geometry, &data, &mut parity_refs)?;
        for (i, p) in parity.into_iter().enumerate() {
            if shards[k + i].is_none() {
                shards[k + i] = Some(p);
            }
        }
    }
    debug_assert!(shards.iter().all(Option::is_some));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripe(geometry: Geometry, shard_bytes: usize, seed: u8) -> Vec<Vec<u8>> {
        let (k, m) = (geometry.k as usize, geometry.m as usize);
        let mut shards: Vec<Vec<u8>> = (0..k)
            .map(|i| {
                (0..shard_bytes)
                    .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i as u8 ^ seed))
                    .collect()
            })
            .collect();
        let mut parity = vec![vec![0u8; shard_bytes]; m];
        {
            let data: Vec<&[u8]> = shards.iter().map(|s| s.as_slice()).collect();
            let mut refs: Vec<&mut [u8]> = parity.iter_mut().map(|p| p.as_mut_slice()).collect();
            Codec::new().encode(geometry, &data, &mut refs).unwrap();
        }
        shards.extend(parity);
        shards
    }

    /// Every subset of at most `m` lost shards, for every geometry the default rule picks.
    #[test]
    fn every_loss_pattern_of_every_default_geometry() {
        let mut geometries: Vec<Geometry> = (1..=20).map(Geometry::for_devices).collect();
        geometries.dedup();
        for geometry in geometries {
            let width = geometry.width();
            let original = stripe(geometry, 4096, width as u8);
            let mut patterns = 0;
            for mask in 0u32..(1 << width) {
                let lost = mask.count_ones() as usize;
                let mut shards: Vec<Option<Vec<u8>>> = original
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (mask & (1 << i) == 0).then(|| s.clone()))
                    .collect();
                let result = reconstruct(geometry, &mut shards);
                if lost <= geometry.m as usize {
                    result.unwrap_or_else(|e| panic!("{geometry} mask {mask:b}: {e:?}"));
                    for (i, s) in shards.iter().enumerate() {
                        assert_eq!(s.as_ref().unwrap(), &original[i], "{geometry} shard {i}");
                    }
                    patterns += 1;
                } else {
                    assert!(matches!(result, Err(ErasureError::TooManyLost { .. })));
                }
            }
            let binomial =
                |n: usize, r: usize| (0..r).fold(1usize, |acc, i| acc * (n - i) / (i + 1));
            let expected: usize = (0..=geometry.m as usize).map(|j| binomial(width, j)).sum();
            assert_eq!(patterns, expected, "{geometry}");
        }
    }

    #[test]
    fn default_rule() {
        let table = [
            (1, "1+0"),
            (2, "1+1"),
            (3, "2+1"),
            (4, "2+2"),
            (6, "4+2"),
            (8, "6+2"),
            (10, "7+3"),
            (12, "8+4"),
            (20, "12+4"),
        ];
        for (n, want) in table {
            let g = Geometry::for_devices(n);
            assert_eq!(g.to_string(), want);
            assert!(g.width() <= n);
        }
        assert_eq!(Geometry::parse("4+2"), Geometry::new(4, 2));
        assert_eq!(Geometry::parse("0+2"), None);
        assert_eq!(Geometry::parse("x"), None);
    }
}
