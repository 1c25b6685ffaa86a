//! Recovery's check of a frame that was written *alongside* its data (`Record::Unsynced`).
//!
//! Group commit may write a batch's journal frame while the batch's new shards are still being
//! written and flushed, so one commit costs one device round trip instead of two (see
//! `docs/write-path.md`). Nothing of such a batch is acknowledged before both are durable, and
//! the next batch starts only after that, so only the *last* frame of the journal can refer to
//! shards a crash lost. Recovery hands that frame here before replaying it:
//!
//! 1. every data region is flushed (`fdatasync`), so whatever reads back now stays;
//! 2. a stripe the index already used before the frame (the parts a CompleteMultipartUpload
//!    links) is durable by the rule above and not read;
//! 3. a new stripe is read shard by shard: at least `k` shards whose CRC-32C matches mean its
//!    bytes are there (the scrubber rebuilds the rest); fewer mean the write did not finish;
//! 4. records whose stripes did not all pass are dropped — a Packed record with the objects
//!    that point into it — and the rest are kept. None of them was acknowledged, so either
//!    outcome is allowed; a dropped PUT leaves the key at its previous version, which is still
//!    on disk (its extents are freed only after the frame that replaces it completes).
//!
//! Reads are synchronous O_DIRECT (recovery runs before the core serves) and bounded: the
//! commit loop writes frames this way only while the batch's new data is at most
//! `UNSYNCED_COMMIT_BYTES_MAX`.

use std::collections::HashSet;
use std::fs::File;

use super::blockdev;
use super::device::{self, DeviceInfo};
use super::format::{Location, Record, Stripe, DEV_MISSING};
use super::index::Index;

/// The records of `frame` whose data reads back, in order. `index` is the state before the
/// frame. Logs what it drops.
pub fn verified_records(
    core: usize,
    frame: Vec<Record>,
    index: &Index,
    devices: &[DeviceInfo],
) -> Vec<Record> {
    let regions: Vec<Option<(File, u64)>> = devices
        .iter()
        .map(|info| {
            if !info.up {
                return None;
            }
            let (file, base, _) = device::open_data_region_std(info, core).ok()?;
            // A region that cannot be flushed may lose what it returns now: count it out.
            file.sync_data().ok()?;
            Some((file, base))
        })
        .collect();
    let used: HashSet<(u16, u64)> = index
        .used_extents()
        .into_iter()
        .map(|e| (e.dev, e.offset))
        .collect();
    let stripe_ok = |stripe: &Stripe| -> bool {
        let old = stripe
            .shards
            .iter()
            .any(|s| s.dev != DEV_MISSING && used.contains(&(s.dev, s.offset)));
        old || whole_shards(stripe, &regions) >= stripe.geometry.k as usize
    };
    let mut bad_packed: HashSet<u64> = HashSet::new();
    let mut kept = Vec::with_capacity(frame.len());
    let mut dropped = 0usize;
    for record in frame {
        let keep = match &record {
            Record::Packed { id, stripe } => {
                let ok = stripe_ok(stripe);
                if !ok {
                    bad_packed.insert(*id);
                }
                ok
            }
            Record::Put { entry, .. } => match &entry.loc {
                Location::Empty => true,
                Location::Packed { stripe, .. } => !bad_packed.contains(stripe),
                Location::Parts(parts) => parts.iter().all(|p| p.stripes.iter().all(stripe_ok)),
            },
            Record::UploadPart { part, .. } => part.stripes.iter().all(stripe_ok),
            _ => true,
        };
        if keep {
            kept.push(record);
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        eprintln!(
            "level=warn msg=\"last journal frame refers to data a crash did not let finish; its records are dropped (never acknowledged)\" core={core} dropped={dropped} kept={}",
            kept.len()
        );
    }
    kept
}

/// How many shards of `stripe` read back with their CRC.
fn whole_shards(stripe: &Stripe, regions: &[Option<(File, u64)>]) -> usize {
    let len = stripe.shard_len as usize;
    stripe
        .shards
        .iter()
        .filter(|shard| {
            let Some(Some((file, base))) = regions.get(shard.dev as usize) else {
                return false;
            };
            blockdev::read_direct(file, base + shard.offset, len)
                .is_ok_and(|buf| crc32c::crc32c(buf.as_slice()) == shard.crc)
        })
        .count()
}
