//! Background space reclaim that needs copying: packed stripes whose objects were mostly
//! deleted or overwritten hold dead bytes until their last object goes. A compaction pass
//! re-packs the live objects of stripes that are less than half live (through the normal
//! group commit, so it is crash-safe like any PUT), after which the old stripe has no object
//! left and its extents are freed. Also expires multipart uploads left open too long.
//!
//! A relocation commits only if the object still points where it was read from (`Check::
//! Unchanged`), so a client's PUT or DELETE racing with compaction always wins.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use super::commit::{Check, Pending};
use super::format::{Location, Record};
use super::store::{now_ms, Store};

/// A packed stripe is compacted when less than this share of its data is live.
pub const COMPACT_LIVE_RATIO: f64 = 0.5;
/// Seconds between compaction / expiry passes.
pub const COMPACT_INTERVAL_SECS: u64 = 30;
/// Bytes re-packed per second at most.
pub const COMPACT_BYTES_PER_SEC: u64 = 32 * 1024 * 1024;
/// Multipart uploads older than this are aborted.
pub const UPLOAD_EXPIRY_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    pub stripes_considered: u64,
    pub objects_moved: u64,
    pub bytes_moved: u64,
    pub uploads_expired: u64,
}

impl Store {
    /// One pass: re-packs live objects out of sparse packed stripes, then expires uploads.
    pub async fn compact_pass(self: &Rc<Self>, bytes_per_sec: u64, now: i64) -> CompactReport {
        let mut report = CompactReport::default();
        let victims: HashMap<u64, Vec<Vec<u8>>> = {
            let index = self.index.borrow();
            let sparse: HashMap<u64, ()> = index
                .packed
                .iter()
                .filter(|(id, p)| {
                    !self.commit.is_staged(**id)
                        && p.objects > 0
                        && (p.live_bytes as f64) < p.stripe.data_len as f64 * COMPACT_LIVE_RATIO
                })
                .map(|(&id, _)| (id, ()))
                .collect();
            report.stripes_considered = sparse.len() as u64;
            let mut victims: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
            if !sparse.is_empty() {
                for (key, entry) in &index.objects {
                    if let Location::Packed { stripe, .. } = entry.loc {
                        if sparse.contains_key(&stripe) {
                            victims.entry(stripe).or_default().push(key.to_vec());
                        }
                    }
                }
            }
            victims
        };
        let started = std::time::Instant::now();
        for keys in victims.values() {
            for key in keys {
                let Some(moved) = self.relocate(key).await else {
                    continue;
                };
                report.objects_moved += 1;
                report.bytes_moved += moved;
                let due = Duration::from_secs_f64(
                    report.bytes_moved as f64 / bytes_per_sec.max(1) as f64,
                );
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    monoio::time::sleep(wait).await;
                }
            }
        }
        report.uploads_expired = self.expire_uploads(now).await;
        report
    }

    /// Re-packs one object; returns its size if it moved.
    async fn relocate(self: &Rc<Self>, key: &[u8]) -> Option<u64> {
        let _guard = self.begin_read();
        let mut entry = self.index.borrow().objects.get(key).cloned()?;
        let old = entry.loc.clone();
        let Location::Packed {
            stripe,
            offset,
            len,
            crc,
        } = old
        else {
            return None;
        };
        let packed = self
            .index
            .borrow()
            .packed
            .get(&stripe)
            .map(|p| p.stripe.clone())?;
        let bytes = self
            .read_packed(&packed, offset as u64, len as u64, crc)
            .await
            .ok()?;
        let new_offset = self.commit.pack(self, &bytes).await;
        entry.loc = Location::Packed {
            stripe: 0,
            offset: new_offset,
            len,
            crc,
        };
        let check = Check::Unchanged {
            key: key.to_vec(),
            loc: old,
        };
        let mut pending = Pending::new(
            vec![Record::Put {
                key: key.to_vec(),
                entry,
            }],
            check,
            0,
            Vec::new(),
        );
        pending.packed = true;
        self.submit(pending).await.ok().map(|_| len as u64)
    }

    async fn expire_uploads(&self, now: i64) -> u64 {
        let expired: Vec<u64> = self
            .index
            .borrow()
            .uploads
            .iter()
            .filter(|(_, u)| now - u.initiated_ms > UPLOAD_EXPIRY_MS)
            .map(|(&id, _)| id)
            .collect();
        let mut count = 0;
        for id in expired {
            let pending = Pending::new(
                vec![Record::UploadDone { id }],
                Check::UploadExists(id),
                0,
                Vec::new(),
            );
            if self.submit(pending).await.is_ok() {
                count += 1;
            }
        }
        count
    }
}

/// Runs compaction and upload expiry forever, every `COMPACT_INTERVAL_SECS`.
pub async fn compact_loop(store: Rc<Store>) {
    loop {
        monoio::time::sleep(Duration::from_secs(COMPACT_INTERVAL_SECS)).await;
        let report = store.compact_pass(COMPACT_BYTES_PER_SEC, now_ms()).await;
        if report.objects_moved > 0 || report.uploads_expired > 0 {
            eprintln!(
                "level=info msg=\"compaction\" core={} stripes={} objects_moved={} bytes_moved={} uploads_expired={}",
                store.core, report.stripes_considered, report.objects_moved, report.bytes_moved, report.uploads_expired
            );
        }
    }
}
