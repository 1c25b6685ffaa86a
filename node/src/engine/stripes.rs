//! Stripe I/O on one core: encode and write a stripe's k + m shards in parallel on distinct
//! devices, read the shards a range needs, verify every shard's CRC-32C, and rebuild from
//! parity when shards are missing, unreadable or corrupt (a degraded read).
//!
//! Invariant: bytes handed to a caller come from shards whose CRC matched, or from a
//! reconstruction whose inputs all matched; anything else is an error, never data.

use std::rc::Rc;

use bytes::Bytes;

use super::aligned::AlignedBuf;
use super::erasure::{Codec, Geometry};
use super::error::StorageError;
use super::format::{ShardLoc, Stripe, DEV_MISSING};
use super::index::Extent;
use super::store::Store;
use crate::constants::BLOCK_BYTES;

/// A byte range of a shared buffer, owned, so that several concurrent io_uring writes can use
/// parts of one stripe buffer.
pub(super) struct ShardSlice {
    buf: Rc<AlignedBuf>,
    start: usize,
    len: usize,
}

impl ShardSlice {
    pub(super) fn new(buf: Rc<AlignedBuf>, start: usize, len: usize) -> ShardSlice {
        assert!(start + len <= buf.len(), "a slice inside the buffer");
        ShardSlice { buf, start, len }
    }
}

// SAFETY: the pointer stays valid while the `Rc` lives (the op owns this value), the range is
// inside the buffer's initialised length (checked at construction), and the buffer is never
// written while shared.
unsafe impl monoio::buf::IoBuf for ShardSlice {
    fn read_ptr(&self) -> *const u8 {
        // SAFETY: `start + len <= buf.len()` was asserted when the slice was made.
        unsafe { self.buf.as_slice().as_ptr().add(self.start) }
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
}

#[derive(Debug)]
enum ShardFault {
    Missing,
    Io,
    Crc,
}

/// Rounds `bytes` up to whole blocks.
pub fn round_up_block(bytes: u64) -> u64 {
    bytes.div_ceil(BLOCK_BYTES) * BLOCK_BYTES
}

/// Shard length for a stripe holding `data_len` bytes over `k` shards.
pub fn shard_len_for(data_len: u64, k: u8) -> u64 {
    round_up_block(data_len.div_ceil(k as u64).max(1))
}

/// Encodes the parity shards of the stripe in `buf` (k data shards of `shard_len` bytes, then
/// room for m parity shards) and returns every shard's CRC-32C, in shard order.
pub fn encode_shards(
    codec: &mut Codec,
    geometry: Geometry,
    buf: &mut AlignedBuf,
    shard_len: usize,
) -> Result<Vec<u32>, StorageError> {
    let k = geometry.k as usize;
    assert_eq!(buf.len(), geometry.width() * shard_len, "data and parity");
    {
        let (data, parity) = buf.as_mut_slice().split_at_mut(k * shard_len);
        let data_refs: Vec<&[u8]> = data.chunks(shard_len).collect();
        let mut parity_refs: Vec<&mut [u8]> = parity.chunks_mut(shard_len).collect();
        codec
            .encode(geometry, &data_refs, &mut parity_refs)
            .map_err(|e| StorageError::Io(format!("erasure encode: {e:?}")))?;
    }
    Ok(buf
        .as_slice()
        .chunks(shard_len)
        .map(crc32c::crc32c)
        .collect())
}

/// A stripe encoded and placed but not yet written (`Store::prepare_stripe`).
pub struct PreparedStripe {
    pub stripe: Stripe,
    buf: Rc<AlignedBuf>,
}

impl PreparedStripe {
    /// The encoded stripe: shard `i` at `[i * shard_len, (i + 1) * shard_len)`, the data
    /// first (so an object packed at offset `o` is at `o`).
    pub fn bytes(&self) -> &[u8] {
        self.buf.as_slice()
    }
}

impl Store {
    /// Writes a stripe: `buf` holds the data in `[0, k*shard_len)` (zero padded) and has room
    /// for parity after it. Returns the stripe and the set of devices written (as a bitmask),
    /// which must be fsynced before the stripe is referenced by a durable record.
    pub async fn write_stripe(
        &self,
        buf: AlignedBuf,
        shard_len: u64,
        data_len: u64,
    ) -> Result<(Stripe, u64), StorageError> {
        let mut prepared = self.prepare_stripe(buf, shard_len, data_len)?;
        let (dirty, failed) = self.write_shards(&prepared).await;
        for i in failed {
            prepared.stripe.shards[i].dev = DEV_MISSING;
        }
        let stripe = prepared.stripe;
        let written = stripe
            .shards
            .iter()
            .filter(|s| s.dev != DEV_MISSING)
            .count();
        if written < self.geometry.k as usize {
            self.free_now(&stripe_extents_of(&stripe));
            return Err(StorageError::InsufficientDevices {
                up: written,
                needed: self.geometry.k as usize,
            });
        }
        Ok((stripe, dirty))
    }

    /// The CPU half of writing a stripe: encodes parity, computes every shard's CRC and
    /// allocates its extents. Nothing is written: the stripe can be named in a record first.
    pub fn prepare_stripe(
        &self,
        mut buf: AlignedBuf,
        shard_len: u64,
        data_len: u64,
    ) -> Result<PreparedStripe, StorageError> {
        let geometry = self.geometry;
        let (k, m) = (geometry.k as usize, geometry.m as usize);
        let s = shard_len as usize;
        assert!(shard_len.is_multiple_of(BLOCK_BYTES) && data_len <= shard_len * k as u64);
        assert!(
            buf.len() == (k + m) * s,
            "stripe buffer holds data and parity"
        );
        let crcs = encode_shards(&mut self.codec.borrow_mut(), geometry, &mut buf, s)?;
        let devices = self.place(k + m, shard_len / BLOCK_BYTES)?;
        let mut shards: Vec<ShardLoc> = Vec::with_capacity(k + m);
        for (i, dev) in devices.iter().enumerate() {
            let shard = match dev {
                Some(dev) => {
                    // `place` chose only devices with room for this shard, one shard each.
                    let block =
                        self.allocs.borrow_mut()[*dev as usize].allocate(shard_len / BLOCK_BYTES);
                    let Some(block) = block else {
                        let placed: Vec<ShardLoc> = std::mem::take(&mut shards);
                        self.free_now(&shard_extents(&placed, shard_len));
                        return Err(StorageError::DeviceFull { dev: *dev });
                    };
                    self.devs[*dev as usize].reserve(block * BLOCK_BYTES + shard_len);
                    ShardLoc {
                        dev: *dev,
                        offset: block * BLOCK_BYTES,
                        crc: crcs[i],
                    }
                }
                None => ShardLoc {
                    dev: DEV_MISSING,
                    offset: 0,
                    crc: crcs[i],
                },
            };
            shards.push(shard);
        }
        Ok(PreparedStripe {
            stripe: Stripe {
                geometry,
                shard_len: shard_len as u32,
                data_len: data_len as u32,
                shards: shards.into(),
            },
            buf: Rc::new(buf),
        })
    }

    /// Writes a prepared stripe's shards (O_DIRECT, in parallel, not flushed). Returns the
    /// devices written (bitmask) and the shards whose write failed (their devices are failed).
    pub async fn write_shards(&self, prepared: &PreparedStripe) -> (u64, Vec<usize>) {
        let s = prepared.stripe.shard_len as usize;
        let writes = prepared
            .stripe
            .shards
            .iter()
            .enumerate()
            .filter(|(_, sh)| sh.dev != DEV_MISSING)
            .map(|(i, sh)| {
                let slice = ShardSlice {
                    buf: prepared.buf.clone(),
                    start: i * s,
                    len: s,
                };
                let dev = &self.devs[sh.dev as usize];
                let offset = dev.base + sh.offset;
                async move {
                    let result = match dev.file.as_ref() {
                        Some(file) => file.write_all_at(slice, offset).await.0,
                        None => Err(std::io::Error::other("device is down")),
                    };
                    (i, result)
                }
            });
        let results = futures::future::join_all(writes).await;
        let mut dirty = 0u64;
        let mut failed = Vec::new();
        for (i, result) in results {
            let dev = prepared.stripe.shards[i].dev;
            match result {
                Ok(()) => {
                    dirty |= 1 << dev;
                    let stats = &self.devs[dev as usize].stats;
                    stats
                        .bytes_written
                        .set(stats.bytes_written.get() + s as u64);
                }
                Err(e) => {
                    self.fail_device(dev, &format!("write: {e}"));
                    failed.push(i);
                }
            }
        }
        (dirty, failed)
    }

    /// Chooses devices for the `width` shards of a new stripe: distinct live devices with room
    /// for `shard_blocks`, rotating the start so load spreads; `None` for shards that no live
    /// device is left for. A full device never costs redundancy: when fewer devices have room
    /// than would otherwise be used, the write fails with `DeviceFull`.
    fn place(&self, width: usize, shard_blocks: u64) -> Result<Vec<Option<u16>>, StorageError> {
        let up: Vec<u16> = self
            .devs
            .iter()
            .filter(|d| d.is_up())
            .map(|d| d.index)
            .collect();
        let k = self.geometry.k as usize;
        if up.len() < k {
            return Err(StorageError::InsufficientDevices {
                up: up.len(),
                needed: k,
            });
        }
        let live: Vec<u16> = {
            let allocs = self.allocs.borrow();
            up.iter()
                .copied()
                .filter(|&d| allocs[d as usize].can_allocate(shard_blocks))
                .collect()
        };
        if live.len() < up.len().min(width) {
            let full = up.iter().copied().find(|d| !live.contains(d));
            return Err(StorageError::DeviceFull {
                dev: full.unwrap_or(u16::MAX),
            });
        }
        let cursor = self.placement_cursor.get();
        self.placement_cursor.set(cursor.wrapping_add(1));
        Ok((0..width)
            .map(|i| (i < live.len()).then(|| live[(cursor + i) % live.len()]))
            .collect())
    }

    async fn read_shard(
        &self,
        stripe: &Stripe,
        i: usize,
        offset_in_shard: u64,
        len: u64,
    ) -> Result<AlignedBuf, ShardFault> {
        let shard = stripe.shards[i];
        if shard.dev == DEV_MISSING {
            return Err(ShardFault::Missing);
        }
        let dev = &self.devs[shard.dev as usize];
        let Some(file) = dev.file.as_ref().filter(|_| dev.is_up()) else {
            return Err(ShardFault::Missing);
        };
        let buf = AlignedBuf::dirty(len as usize);
        let (result, buf) = file
            .read_exact_at(buf, dev.base + shard.offset + offset_in_shard)
            .await;
        if let Err(e) = result {
            dev.stats.io_errors.set(dev.stats.io_errors.get() + 1);
            if e.kind() != std::io::ErrorKind::UnexpectedEof {
                eprintln!(
                    "level=error msg=\"shard read failed\" core={} dev={} err=\"{e}\"",
                    self.core, shard.dev
                );
            }
            return Err(ShardFault::Io);
        }
        dev.stats.bytes_read.set(dev.stats.bytes_read.get() + len);
        // A whole shard is checked here; a partial read is checked by its caller.
        if offset_in_shard == 0
            && len == stripe.shard_len as u64
            && crc32c::crc32c(buf.as_slice()) != shard.crc
        {
            dev.stats.crc_failures.set(dev.stats.crc_failures.get() + 1);
            eprintln!(
                "level=error msg=\"shard checksum mismatch\" core={} dev={} offset={}",
                self.core, shard.dev, shard.offset
            );
            return Err(ShardFault::Crc);
        }
        Ok(buf)
    }

    /// Reads data bytes `[start, end)` of a stripe, verifying every shard read, rebuilding from
    /// parity if needed. Returns the bytes as zero-copy pieces in order.
    pub async fn read_stripe_range(
        &self,
        stripe: &Stripe,
        start: u64,
        end: u64,
    ) -> Result<Vec<Bytes>, StorageError> {
        assert!(start < end && end <= stripe.data_len as u64);
        let s = stripe.shard_len as u64;
        let (first, last) = ((start / s) as usize, ((end - 1) / s) as usize);
        let reads = (first..=last).map(|i| self.read_shard(stripe, i, 0, s));
        let results = futures::future::join_all(reads).await;
        let mut shards: Vec<Option<AlignedBuf>> = Vec::with_capacity(last - first + 1);
        let mut healthy = true;
        for result in results {
            healthy &= result.is_ok();
            shards.push(result.ok());
        }
        if !healthy {
            let all = self.read_degraded(stripe).await?;
            return Ok(slice_pieces(
                all.into_iter()
                    .take(stripe.geometry.k as usize)
                    .map(Bytes::from)
                    .collect(),
                0,
                s,
                start,
                end,
            ));
        }
        let pieces = shards
            .into_iter()
            .map(|b| Bytes::from_owner(b.expect("healthy")))
            .collect();
        Ok(slice_pieces(pieces, first, s, start, end))
    }

    /// Reads a packed object's bytes `[offset, offset+len)` of its stripe and checks them
    /// against the object's own CRC; on any fault rebuilds the whole stripe.
    pub async fn read_packed(
        &self,
        stripe: &Stripe,
        offset: u64,
        len: u64,
        crc: u32,
    ) -> Result<Bytes, StorageError> {
        let s = stripe.shard_len as u64;
        let (first, last) = ((offset / s) as usize, ((offset + len - 1) / s) as usize);
        let mut out = Vec::with_capacity(len as usize);
        let mut ok = true;
        for i in first..=last {
            let lo = if i == first { offset % s } else { 0 };
            let hi = if i == last {
                (offset + len - 1) % s + 1
            } else {
                s
            };
            let aligned_lo = lo / BLOCK_BYTES * BLOCK_BYTES;
            let aligned_hi = round_up_block(hi);
            match self
                .read_shard(stripe, i, aligned_lo, aligned_hi - aligned_lo)
                .await
            {
                Ok(buf) => out.extend_from_slice(
                    &buf.as_slice()[(lo - aligned_lo) as usize..(hi - aligned_lo) as usize],
                ),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && crc32c::crc32c(&out) == crc {
            return Ok(Bytes::from(out));
        }
        if ok {
            let dev = stripe.shards[first].dev;
            if let Some(d) = self.devs.get(dev as usize) {
                d.stats.crc_failures.set(d.stats.crc_failures.get() + 1);
            }
        }
        let all = self.read_degraded(stripe).await?;
        let mut data = Vec::with_capacity((s * stripe.geometry.k as u64) as usize);
        for shard in all.iter().take(stripe.geometry.k as usize) {
            data.extend_from_slice(shard);
        }
        let bytes = &data[offset as usize..(offset + len) as usize];
        if crc32c::crc32c(bytes) != crc {
            self.stats
                .unrecoverable_reads
                .set(self.stats.unrecoverable_reads.get() + 1);
            return Err(StorageError::Unrecoverable(
                "packed object checksum mismatch after rebuild".into(),
            ));
        }
        Ok(Bytes::copy_from_slice(bytes))
    }

    /// Reads every shard of a stripe, verifies each, and rebuilds the lost ones. Returns all
    /// k + m shards. Counts a degraded read, and queues the stripe for repair.
    pub async fn read_degraded(&self, stripe: &Stripe) -> Result<Vec<Vec<u8>>, StorageError> {
        let s = stripe.shard_len as u64;
        let width = stripe.geometry.width();
        let reads = (0..width).map(|i| self.read_shard(stripe, i, 0, s));
        let results = futures::future::join_all(reads).await;
        let mut shards: Vec<Option<Vec<u8>>> = results
            .into_iter()
            .map(|r| r.ok().map(|b| b.as_slice().to_vec()))
            .collect();
        let lost = shards.iter().filter(|s| s.is_none()).count();
        if lost > 0 {
            self.stats
                .degraded_reads
                .set(self.stats.degraded_reads.get() + 1);
            self.repair_wanted.set(true);
        }
        if let Err(e) = super::erasure::reconstruct(stripe.geometry, &mut shards) {
            self.stats
                .unrecoverable_reads
                .set(self.stats.unrecoverable_reads.get() + 1);
            eprintln!(
                "level=error msg=\"stripe cannot be rebuilt\" core={} lost={lost} err=\"{e:?}\"",
                self.core
            );
            return Err(StorageError::Unrecoverable(format!(
                "{lost} of {width} shards lost"
            )));
        }
        let rebuilt: Vec<Vec<u8>> = shards
            .into_iter()
            .map(|s| s.expect("reconstructed"))
            .collect();
        // A rebuilt shard must match the CRC recorded when it was written; if it does not,
        // the inputs were wrong in a way the CRCs did not catch: refuse to serve.
        for (i, shard) in rebuilt.iter().enumerate() {
            if crc32c::crc32c(shard) != stripe.shards[i].crc {
                self.stats
                    .unrecoverable_reads
                    .set(self.stats.unrecoverable_reads.get() + 1);
                return Err(StorageError::Unrecoverable(format!(
                    "rebuilt shard {i} fails its checksum"
                )));
            }
        }
        Ok(rebuilt)
    }

    /// Rewrites, in place, every shard of `stripe` that is lost or corrupt on a device that is
    /// up, from a verified reconstruction, then reads it back. Returns shards repaired.
    pub async fn repair_stripe(&self, stripe: &Stripe) -> Result<usize, StorageError> {
        let s = stripe.shard_len as u64;
        let width = stripe.geometry.width();
        let reads = (0..width).map(|i| self.read_shard(stripe, i, 0, s));
        let bad: Vec<usize> = futures::future::join_all(reads)
            .await
            .into_iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect();
        let repairable: Vec<usize> = bad
            .into_iter()
            .filter(|&i| {
                stripe.shards[i].dev != DEV_MISSING
                    && self.devs[stripe.shards[i].dev as usize].is_up()
            })
            .collect();
        if repairable.is_empty() {
            return Ok(0);
        }
        let rebuilt = self.read_degraded(stripe).await?;
        let mut repaired = 0;
        for i in repairable {
            let shard = stripe.shards[i];
            let mut buf = AlignedBuf::dirty(s as usize);
            buf.as_mut_slice().copy_from_slice(&rebuilt[i]);
            let dev = &self.devs[shard.dev as usize];
            let file = dev.file.as_ref().expect("up device has a file");
            let (result, _) = file.write_all_at(buf, dev.base + shard.offset).await;
            if let Err(e) = result.and(file.sync_data().await) {
                self.fail_device(shard.dev, &format!("repair write: {e}"));
                continue;
            }
            // Verify after repair: read back and check the CRC before counting it.
            if self.read_shard(stripe, i, 0, s).await.is_ok() {
                repaired += 1;
            }
        }
        self.stats
            .repaired_shards
            .set(self.stats.repaired_shards.get() + repaired as u64);
        Ok(repaired)
    }
}

/// Extents of already-placed shards (for undoing a placement).
fn shard_extents(shards: &[ShardLoc], shard_len: u64) -> Vec<Extent> {
    shards
        .iter()
        .filter(|sh| sh.dev != DEV_MISSING)
        .map(|sh| Extent {
            dev: sh.dev,
            offset: sh.offset,
            len: shard_len,
        })
        .collect()
}

pub fn stripe_extents_of(stripe: &Stripe) -> Vec<Extent> {
    let mut out = Vec::new();
    super::index::stripe_extents(stripe, &mut out);
    out
}

/// Cuts `[start, end)` of the stripe data out of consecutive shard buffers, the first of which
/// is data shard `first` (each `shard_len` bytes).
fn slice_pieces(
    pieces: Vec<Bytes>,
    first: usize,
    shard_len: u64,
    start: u64,
    end: u64,
) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(pieces.len());
    for (j, piece) in pieces.into_iter().enumerate() {
        let base = (first + j) as u64 * shard_len;
        let lo = start.max(base);
        let hi = end.min(base + shard_len);
        if lo < hi {
            out.push(piece.slice((lo - base) as usize..(hi - base) as usize));
        }
    }
    out
}
