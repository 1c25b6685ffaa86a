//! `Store`: one core's storage engine — its index, its region of every device, its journal —
//! and the operations the S3 layer calls on the core that owns a key.
//!
//! Single-threaded by construction (`Rc`, `Cell`, `RefCell`; no borrow is held across an
//! `.await`). Writes follow `docs/write-path.md`: data shards are written (O_DIRECT) by the
//! request's own task, then the request joins the core's group commit (`commit.rs`), which
//! fsyncs the dirty devices once per batch, appends one journal frame, applies the records to
//! the index, and only then answers. Reads take a read epoch so that space they use is not
//! reused under them (`reclaim.rs`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;

use super::aligned::AlignedBuf;
use super::alloc::Allocator;
use super::commit::{Check, CommitQueue, Pending};
use super::device::{self, DeviceInfo};
use super::erasure::{Codec, Geometry};
use super::error::StorageError;
use super::format::{Entry, Location, Meta, PartLoc, Record, Stripe};
use super::index::{composite_key, BucketMeta, Extent, Index, ListItem, StageMarkState, Upload};
use super::journal::{self, Journal};
use super::mirror::MirrorLoc;
use super::reclaim::Reclaim;
use super::stage::{self, StageRing};
use super::stripes::shard_len_for;
use super::verify;
use crate::constants::{
    BLOCK_BYTES, DATA_RESERVE_STEP, PACKED_OBJECT_BYTES_MAX, PARTS_MAX, PART_BYTES_MIN,
    STRIPE_DATA_BYTES,
};

/// Per-device counters of one core (summed over cores for `/metrics`).
#[derive(Default)]
pub struct DevStats {
    pub bytes_written: Cell<u64>,
    pub bytes_read: Cell<u64>,
    pub io_errors: Cell<u64>,
    pub crc_failures: Cell<u64>,
}

pub struct DevHandle {
    pub index: u16,
    pub info: DeviceInfo,
    pub file: Option<monoio::fs::File>,
    /// Where this core's data region starts in `file` (0 for a data file, the region's offset
    /// on a raw block device): a shard at region offset `x` is at `base + x`.
    pub base: u64,
    /// A data file's allocated size (`reserve`); `u64::MAX` for a block device region.
    pub reserved: Cell<u64>,
    pub failed: Cell<bool>,
    pub stats: DevStats,
}

impl DevHandle {
    pub fn is_up(&self) -> bool {
        self.file.is_some() && !self.failed.get()
    }

    /// Makes sure a data file is allocated up to `end` bytes, up to `DATA_RESERVE_STEP`
    /// beyond it (`fallocate`), so shard writes land inside the file: ext4 issues an O_DIRECT
    /// write that would extend the file only under the inode's exclusive lock, so io_uring
    /// cannot submit it without blocking and hands every such write to a worker thread. A
    /// step never takes more than 1/64 of the filesystem's free space (nothing is reserved
    /// on a nearly full one); a filesystem that cannot preallocate is left alone. Either way
    /// writes then extend the file, as before.
    pub fn reserve(&self, end: u64) {
        /// Reserving less than this is not worth a system call.
        const STEP_MIN: u64 = 1 << 20;
        let reserved = self.reserved.get();
        if end <= reserved {
            return;
        }
        let Some(file) = &self.file else {
            return;
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(file);
        // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open and `st` is a valid out-pointer for the call.
        let free = if unsafe { libc::fstatvfs(fd, &mut st) } == 0 {
            st.f_bavail as u64 * st.f_frsize as u64
        } else {
            0
        };
        let step = (DATA_RESERVE_STEP.min(free / 64) / BLOCK_BYTES) * BLOCK_BYTES;
        if step < STEP_MIN {
            self.reserved.set(end);
            return;
        }
        let from = reserved.max(end.saturating_sub(step));
        let target = end.div_ceil(BLOCK_BYTES) * BLOCK_BYTES + step;
        // SAFETY: `fd` is this handle's open data file; fallocate only allocates its blocks.
        let rc =
            unsafe { libc::fallocate(fd, 0, from as libc::off_t, (target - from) as libc::off_t) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            let unsupported = e.raw_os_error() == Some(libc::EOPNOTSUPP);
            eprintln!("level=warn msg=\"cannot preallocate the data file; its writes extend it\" dev={} err=\"{e}\"", self.index);
            self.reserved.set(if unsupported { u64::MAX } else { end });
            return;
        }
        self.reserved.set(target);
    }
}

#[derive(Default)]
pub struct StoreStats {
    /// Group commits, from taking the batch to answering it (µs): what a write waits for
    /// once its body is in, beyond the batch already running.
    pub commit_us: LatencyHistogram,
    /// One device's `fdatasync` in a commit (µs): the filesystem's and device's flush cost.
    pub fsync_us: LatencyHistogram,
    pub degraded_reads: Cell<u64>,
    pub unrecoverable_reads: Cell<u64>,
    pub repaired_shards: Cell<u64>,
    pub commits: Cell<u64>,
    pub commit_records: Cell<u64>,
    pub fsyncs: Cell<u64>,
    pub packed_stripes: Cell<u64>,
    /// Batches made durable in the staging ring, and destages (`engine/stage.rs`).
    pub staged_commits: Cell<u64>,
    pub destages: Cell<u64>,
}

/// Latencies in microseconds, 1 µs to 60 s at 2 significant digits (hdrhistogram).
pub struct LatencyHistogram(std::cell::RefCell<hdrhistogram::Histogram<u64>>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(std::cell::RefCell::new(
            hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds"),
        ))
    }
}

impl LatencyHistogram {
    pub fn record_since(&self, start: std::time::Instant) {
        let micros = start.elapsed().as_micros().min(u64::MAX as u128) as u64;
        self.0.borrow_mut().saturating_record(micros.max(1));
    }

    pub fn snapshot(&self) -> hdrhistogram::Histogram<u64> {
        self.0.borrow().clone()
    }
}

/// One message of a request body, as the front end hands it over.
pub enum BodyMsg {
    Data(Bytes),
    /// The body ended and the front end verified it; `md5` is its MD5 (the ETag), `checksum`
    /// the client's checksum (header name, base64 value) if it sent one.
    End {
        md5: [u8; 16],
        checksum: Option<(String, String)>,
    },
    /// The front end refused the body (bad digest, bad signature, client vanished).
    Abort(crate::proto::error::S3Error),
}

pub type BodyRx = async_channel::Receiver<BodyMsg>;

/// Preconditions of a conditional write, checked at commit time on the owner.
#[derive(Clone, Debug, Default)]
pub struct WriteCond {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

/// A read in progress: holds a read epoch so the extents it reads are not reused.
pub struct ReadGuard {
    store: Rc<Store>,
    epoch: u64,
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        let extents = self.store.reclaim.borrow_mut().end_read(self.epoch);
        self.store.release_extents(extents);
    }
}

pub struct Store {
    pub core: usize,
    pub geometry: Geometry,
    pub devs: Vec<DevHandle>,
    pub(super) index: RefCell<Index>,
    pub(super) allocs: RefCell<Vec<Allocator>>,
    pub(super) journal: RefCell<Rc<Journal>>,
    /// Where batches of small objects become durable (`stage.rs`); `None` when a journal
    /// mirror has no place for it (a block device formatted before rings: label version 1),
    /// or with `TESSERA_STAGING=off`.
    pub(super) stage: Option<StageRing>,
    pub(super) commit: CommitQueue,
    pub(super) reclaim: RefCell<Reclaim>,
    pub(super) codec: RefCell<Codec>,
    pub(super) placement_cursor: Cell<usize>,
    pub(super) next_upload_id: Cell<u64>,
    /// Journal size that triggers a checkpoint and a new generation (`JOURNAL_ROTATE_BYTES`,
    /// or `TESSERA_JOURNAL_ROTATE_BYTES` for tests that need many rotations).
    pub(super) journal_rotate_bytes: u64,
    /// After a failed rotation (the checkpoint does not fit a block device's slot), when to
    /// try again: each attempt encodes the whole index, so not after every batch.
    pub(super) rotation_retry_at: Cell<Option<std::time::Instant>>,
    /// A degraded read saw lost shards: the scrubber should run a pass soon.
    pub(super) repair_wanted: Cell<bool>,
    pub stats: StoreStats,
}

/// What `Store::create_bucket` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketCreated {
    New(BucketMeta),
    Exists(BucketMeta),
}

impl Store {
    /// Opens this core's part of every device, recovers the index (checkpoint + journal +
    /// staging ring), and starts a new journal generation. Runs on the core's own executor,
    /// which must have timers enabled (the commit loop destages a quiet staging ring).
    pub fn open(
        core: usize,
        geometry: Geometry,
        devices: &[DeviceInfo],
    ) -> Result<Rc<Store>, StorageError> {
        let mut devs = Vec::with_capacity(devices.len());
        let mut capacities = Vec::with_capacity(devices.len());
        for info in devices {
            let region = if info.up {
                match device::open_data_region(info, core) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        eprintln!("level=error msg=\"cannot open data region; device down\" core={core} dev={} err=\"{e}\"", info.index);
                        None
                    }
                }
            } else {
                None
            };
            capacities.push(region.as_ref().and_then(|r| r.capacity_blocks));
            let base = region.as_ref().map_or(0, |r| r.base);
            let reserved = region
                .as_ref()
                .map_or(u64::MAX, |r| r.reserved_bytes.unwrap_or(u64::MAX));
            devs.push(DevHandle {
                index: info.index,
                info: info.clone(),
                file: region.map(|r| r.file),
                base,
                reserved: Cell::new(reserved),
                failed: Cell::new(false),
                stats: DevStats::default(),
            });
        }
        let mirror_devs: Vec<(u16, MirrorLoc)> = devices
            .iter()
            .take(geometry.m as usize + 1)
            .filter(|d| d.up)
            .map(|d| (d.index, d.mirror_loc()))
            .collect();
        let locs: Vec<MirrorLoc> = mirror_devs.iter().map(|(_, l)| l.clone()).collect();
        let recovered = journal::recover(core, &locs)?;
        let mut index = Index::new();
        for record in recovered.records {
            index.apply(record);
        }
        if !recovered.unverified.is_empty() {
            for record in verify::verified_records(core, recovered.unverified, &index, devices) {
                index.apply(record);
            }
        }
        let ring = Self::recover_stage(core, &mirror_devs, &mut index)?;
        for id in index.orphan_packed() {
            index.packed.remove(&id);
        }
        if let Some((_, data_of)) = &ring {
            if !data_of.is_empty() {
                let stripes = stage::write_home(core, &index, data_of, devices)?;
                eprintln!("level=info msg=\"staged stripes written home from the staging ring\" core={core} stripes={stripes}");
            }
        }
        let mut per_dev: Vec<Vec<(u64, u64)>> = vec![Vec::new(); devices.len()];
        for e in index.used_extents() {
            if let Some(list) = per_dev.get_mut(e.dev as usize) {
                list.push((e.offset / BLOCK_BYTES, e.len / BLOCK_BYTES));
            }
        }
        let allocs = per_dev
            .into_iter()
            .zip(capacities)
            .map(|(used, capacity)| Allocator::from_used(used, capacity))
            .collect();
        // Created before the checkpoint, which records the ring's new salt.
        let stage = match ring {
            Some((files, _)) if !files.is_empty() => {
                let ring = StageRing::new(core, files, index.stage.next_seq)?;
                index.apply(ring.mark().into_record());
                Some(ring)
            }
            _ => None,
        };
        let state = checkpoint_payload(&index);
        let journal = Journal::start(core, &mirror_devs, recovered.next_generation, &state)?;
        if !recovered.fresh {
            eprintln!(
                "level=info msg=\"recovered\" core={core} objects={} uploads={} frames={} generation={}",
                index.objects.len(),
                index.uploads.len(),
                recovered.frames_replayed,
                journal.generation()
            );
        }
        let next_packed = index.packed.keys().max().map_or(1, |m| m + 1);
        let next_upload = index
            .uploads
            .keys()
            .map(|id| id & 0xFFFF_FFFF)
            .max()
            .map_or(1, |m| m + 1);
        let store = Rc::new(Store {
            core,
            geometry,
            devs,
            index: RefCell::new(index),
            allocs: RefCell::new(allocs),
            journal: RefCell::new(Rc::new(journal)),
            stage,
            commit: CommitQueue::new(next_packed, geometry),
            reclaim: RefCell::new(Reclaim::default()),
            codec: RefCell::new(Codec::new()),
            placement_cursor: Cell::new(core),
            next_upload_id: Cell::new(next_upload),
            repair_wanted: Cell::new(false),
            rotation_retry_at: Cell::new(None),
            journal_rotate_bytes: std::env::var("TESSERA_JOURNAL_ROTATE_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(crate::constants::JOURNAL_ROTATE_BYTES),
            stats: StoreStats::default(),
        });
        monoio::spawn(store.clone().commit_loop());
        monoio::spawn(super::scrub::scrub_loop(store.clone()));
        monoio::spawn(super::compact::compact_loop(store.clone()));
        Ok(store)
    }

    /// When every journal mirror has a place for a staging ring (a directory, or a block
    /// device with a version 2 label): replays the entries recovery finds in the ring into
    /// `index`, and opens the ring (no files with `TESSERA_STAGING=off`). Returns the files and
    /// the replayed packed stripes' data (id → bytes), to be written home before the new
    /// checkpoint marks the ring past them.
    #[allow(clippy::type_complexity)]
    fn recover_stage(
        core: usize,
        mirror_devs: &[(u16, MirrorLoc)],
        index: &mut Index,
    ) -> Result<Option<(Vec<stage::RingFile>, HashMap<u64, Vec<u8>>)>, StorageError> {
        let places: Option<Vec<(u16, stage::RingPlace)>> = mirror_devs
            .iter()
            .map(|(dev, loc)| loc.ring_place(core).map(|place| (*dev, place)))
            .collect();
        let Some(places) = places.filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let only_places: Vec<stage::RingPlace> = places.iter().map(|(_, p)| p.clone()).collect();
        let mark = index.stage;
        let first = mark.next_seq;
        let entries = stage::recover(core, &only_places, mark)?;
        let mut data_of = HashMap::new();
        if !entries.is_empty() {
            eprintln!(
                "level=info msg=\"replaying the staging ring\" core={core} entries={} from_seq={first}",
                entries.len()
            );
        }
        let replayed = entries.len() as u64;
        for (records, data) in entries {
            for record in records {
                if let Record::Packed { id, .. } = &record {
                    data_of.insert(*id, data.clone());
                }
                index.apply(record);
            }
        }
        // Entries replayed are written home before the new checkpoint carries this mark;
        // the ring then starts empty, under a new salt (`StageRing::new`).
        index.apply(Record::StageMark {
            next_seq: first + replayed,
            offset: 0,
            salt: 0,
        });
        // Turned off (for comparisons): what the ring holds is still replayed, above.
        if std::env::var("TESSERA_STAGING").is_ok_and(|v| v == "off") {
            return Ok(Some((Vec::new(), data_of)));
        }
        let files = match stage::open_files(core, &places) {
            Ok(files) => files,
            Err(e) if data_of.is_empty() && replayed == 0 => {
                eprintln!("level=warn msg=\"staging ring unavailable; small objects are committed without it\" core={core} err=\"{e}\"");
                return Ok(None);
            }
            Err(e) => return Err(StorageError::Io(format!("staging ring: {e}"))),
        };
        Ok(Some((files, data_of)))
    }

    pub fn fail_device(&self, dev: u16, why: &str) {
        let handle = &self.devs[dev as usize];
        handle.stats.io_errors.set(handle.stats.io_errors.get() + 1);
        if !handle.failed.replace(true) {
            eprintln!("level=error msg=\"device failed; no more writes to it on this core\" core={} dev={dev} err=\"{why}\"", self.core);
        }
    }

    /// Returns extents to the allocators now (they were never referenced durably, or the
    /// reclaim epoch says no reader can still use them).
    pub(super) fn free_now(&self, extents: &[Extent]) {
        let mut allocs = self.allocs.borrow_mut();
        for e in extents {
            allocs[e.dev as usize].free(e.offset / BLOCK_BYTES, e.len / BLOCK_BYTES);
        }
    }

    pub(super) fn release_extents(&self, extents: Vec<Extent>) {
        if !extents.is_empty() {
            self.free_now(&extents);
        }
    }

    pub fn begin_read(self: &Rc<Self>) -> ReadGuard {
        let epoch = self.reclaim.borrow_mut().begin_read();
        ReadGuard {
            store: self.clone(),
            epoch,
        }
    }

    // ----- objects -----------------------------------------------------------------------

    pub fn lookup(&self, bucket: &str, key: &str) -> Option<Entry> {
        self.index
            .borrow()
            .objects
            .get(composite_key(bucket, key.as_bytes()).as_slice())
            .cloned()
    }

    /// Stores an object from `body`. `size` is the length announced by the client when known.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        meta: Option<Box<Meta>>,
        cond: WriteCond,
        body: &BodyRx,
        size: Option<u64>,
    ) -> Result<Entry, StorageError> {
        let ckey = composite_key(bucket, key.as_bytes());
        self.check_write(&ckey, &cond)?;
        let small_ok = size.is_none_or(|s| s < PACKED_OBJECT_BYTES_MAX);
        let (part, md5, dirty, checksum) = match self.receive_part(body, 1, size, small_ok).await? {
            Received::Small {
                data,
                md5,
                checksum,
            } => {
                return self
                    .put_small(ckey, with_checksum(meta, checksum), cond, data, md5)
                    .await;
            }
            Received::Striped {
                part,
                md5,
                dirty,
                checksum,
            } => (part, md5, dirty, checksum),
        };
        let meta = with_checksum(meta, checksum);
        let entry = Entry {
            size: part.size,
            mtime_ms: part.mtime_ms,
            etag: md5,
            parts_count: 0,
            loc: if part.size == 0 {
                Location::Empty
            } else {
                Location::Parts(Rc::from(vec![part]))
            },
            meta,
        };
        let on_fail = entry_extents(&entry);
        self.submit(put_pending(ckey, &entry, cond, dirty, on_fail))
            .await?;
        Ok(entry)
    }

    async fn put_small(
        &self,
        ckey: Vec<u8>,
        meta: Option<Box<Meta>>,
        cond: WriteCond,
        data: Vec<u8>,
        md5: [u8; 16],
    ) -> Result<Entry, StorageError> {
        let size = data.len() as u64;
        let mut entry = Entry {
            size,
            mtime_ms: now_ms(),
            etag: md5,
            parts_count: 0,
            loc: Location::Empty,
            meta,
        };
        if size == 0 {
            self.submit(put_pending(ckey, &entry, cond, 0, Vec::new()))
                .await?;
            return Ok(entry);
        }
        let crc = crc32c::crc32c(&data);
        let offset = self.commit.pack(self, &data).await;
        entry.loc = Location::Packed {
            stripe: 0,
            offset,
            len: size as u32,
            crc,
        };
        let mut pending = put_pending(ckey, &entry, cond, 0, Vec::new());
        pending.packed = true;
        let stripe = self.submit(pending).await?;
        entry.loc = Location::Packed {
            stripe,
            offset,
            len: size as u32,
            crc,
        };
        Ok(entry)
    }

    /// Receives one body into stripes (or, if it turns out small, into memory for packing).
    async fn receive_part(
        &self,
        body: &BodyRx,
        number: u32,
        size: Option<u64>,
        packable: bool,
    ) -> Result<Received, StorageError> {
        let k = self.geometry.k as u64;
        let m = self.geometry.m as u64;
        let full_shard = shard_len_for(STRIPE_DATA_BYTES, self.geometry.k);
        let full_data = full_shard * k;
        let mut small: Vec<u8> = Vec::new();
        let mut stripes: Vec<Stripe> = Vec::new();
        let mut dirty = 0u64;
        let mut buf = AlignedBuf::dirty(((k + m) * full_shard) as usize);
        let mut filled = 0u64;
        let mut total = 0u64;
        let mut checksum = None;
        let result: Result<[u8; 16], StorageError> = async {
            loop {
                let msg = body.recv().await.map_err(|_| {
                    StorageError::Client(crate::proto::error::S3ErrorCode::IncompleteBody.into())
                })?;
                match msg {
                    BodyMsg::Data(mut bytes) => {
                        total += bytes.len() as u64;
                        if total > crate::constants::OBJECT_BYTES_MAX {
                            return Err(StorageError::EntityTooLarge);
                        }
                        if packable && total < PACKED_OBJECT_BYTES_MAX && stripes.is_empty() {
                            small.extend_from_slice(&bytes);
                            continue;
                        }
                        if !small.is_empty() {
                            let spill = std::mem::take(&mut small);
                            buf.set_len(buf.capacity());
                            buf.as_mut_slice()[..spill.len()].copy_from_slice(&spill);
                            filled = spill.len() as u64;
                        }
                        while !bytes.is_empty() {
                            let take = (full_data - filled).min(bytes.len() as u64) as usize;
                            buf.set_len(buf.capacity());
                            buf.as_mut_slice()[filled as usize..filled as usize + take]
                                .copy_from_slice(&bytes[..take]);
                            filled += take as u64;
                            let _ = bytes.split_to(take);
                            if filled == full_data {
                                let full = std::mem::replace(
                                    &mut buf,
                                    AlignedBuf::dirty(((k + m) * full_shard) as usize),
                                );
                                let (stripe, d) =
                                    self.write_full(full, full_shard, full_data).await?;
                                stripes.push(stripe);
                                dirty |= d;
                                filled = 0;
                            }
                        }
                    }
                    BodyMsg::End { md5, checksum: c } => {
                        checksum = c;
                        return Ok(md5);
                    }
                    BodyMsg::Abort(err) => return Err(StorageError::Client(err)),
                }
            }
        }
        .await;
        let md5 = match result {
            Ok(md5) => md5,
            Err(e) => {
                for stripe in &stripes {
                    self.free_now(&super::stripes::stripe_extents_of(stripe));
                }
                return Err(e);
            }
        };
        if let Some(expected) = size {
            if expected != total {
                for stripe in &stripes {
                    self.free_now(&super::stripes::stripe_extents_of(stripe));
                }
                return Err(StorageError::Client(
                    crate::proto::error::S3ErrorCode::IncompleteBody.into(),
                ));
            }
        }
        if packable && stripes.is_empty() && filled == 0 {
            return Ok(Received::Small {
                data: small,
                md5,
                checksum,
            });
        }
        if filled > 0 {
            // The last stripe: as many blocks per shard as its data needs.
            let shard_len = shard_len_for(filled, self.geometry.k);
            let mut last = AlignedBuf::zeroed(((k + m) * shard_len) as usize);
            last.as_mut_slice()[..filled as usize]
                .copy_from_slice(&buf.as_slice()[..filled as usize]);
            let written = self.write_stripe(last, shard_len, filled).await;
            match written {
                Ok((stripe, d)) => {
                    stripes.push(stripe);
                    dirty |= d;
                }
                Err(e) => {
                    for stripe in &stripes {
                        self.free_now(&super::stripes::stripe_extents_of(stripe));
                    }
                    return Err(e);
                }
            }
        }
        debug_assert!(stripes
            .iter()
            .rev()
            .skip(1)
            .all(|s| s.data_len as u64 == full_data));
        let part = PartLoc {
            number: number.max(1),
            size: total,
            etag: md5,
            mtime_ms: now_ms(),
            stripes: stripes.into(),
        };
        Ok(Received::Striped {
            part,
            md5,
            dirty,
            checksum,
        })
    }

    async fn write_full(
        &self,
        mut buf: AlignedBuf,
        shard_len: u64,
        data_len: u64,
    ) -> Result<(Stripe, u64), StorageError> {
        buf.set_len(buf.capacity());
        self.write_stripe(buf, shard_len, data_len).await
    }

    /// Fails fast on a condition that already fails now (it is checked again at commit).
    fn check_write(&self, ckey: &[u8], cond: &WriteCond) -> Result<(), StorageError> {
        if cond.if_match.is_none() && cond.if_none_match.is_none() {
            return Ok(());
        }
        let index = self.index.borrow();
        let current = index.objects.get(ckey).map(etag_string);
        check_cond(cond, current.as_deref())
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        let ckey = composite_key(bucket, key.as_bytes());
        if !self.index.borrow().objects.contains_key(ckey.as_slice()) {
            return Ok(());
        }
        self.submit(Pending::new(
            vec![Record::Delete { key: ckey }],
            Check::None,
            0,
            Vec::new(),
        ))
        .await?;
        Ok(())
    }

    /// Sets an object's canned ACL (PutObjectAcl); `false` if the key does not exist.
    pub async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        acl: u8,
    ) -> Result<bool, StorageError> {
        self.set_object_meta(bucket, key, |key| Record::ObjectAcl { key, acl })
            .await
    }

    /// Replaces an object's tags (Put/DeleteObjectTagging); `false` if the key does not exist.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<bool, StorageError> {
        self.set_object_meta(bucket, key, |key| Record::ObjectTags { key, tags })
            .await
    }

    /// Commits `record(key)`, a change to the metadata of object `key` alone; `false` if the
    /// key does not exist (before, or once committed: deleted meanwhile, the record then
    /// changed nothing).
    async fn set_object_meta(
        &self,
        bucket: &str,
        key: &str,
        record: impl FnOnce(Vec<u8>) -> Record,
    ) -> Result<bool, StorageError> {
        let ckey = composite_key(bucket, key.as_bytes());
        if !self.index.borrow().objects.contains_key(ckey.as_slice()) {
            return Ok(false);
        }
        self.submit(Pending::new(
            vec![record(ckey.clone())],
            Check::None,
            0,
            Vec::new(),
        ))
        .await?;
        Ok(self.index.borrow().objects.contains_key(ckey.as_slice()))
    }

    pub fn list(
        &self,
        bucket: &str,
        prefix: &[u8],
        after: Option<&[u8]>,
        delimiter: Option<&[u8]>,
        limit: usize,
    ) -> Vec<ListItem> {
        self.index
            .borrow()
            .list(bucket, prefix, after, delimiter, limit)
    }

    pub fn bucket_has_content(&self, bucket: &str) -> bool {
        self.index.borrow().bucket_has_content(bucket)
    }

    // ----- multipart ---------------------------------------------------------------------

    /// Starts a multipart upload of `key` by `initiator` (an access key; `""` for the bucket's
    /// owner); its id.
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        meta: Option<Box<Meta>>,
        initiator: &str,
    ) -> Result<u64, StorageError> {
        let counter = self.next_upload_id.get();
        self.next_upload_id.set(counter + 1);
        let id = ((rand::random::<u32>() as u64) << 32) | (counter & 0xFFFF_FFFF);
        let record = Record::UploadCreate {
            id,
            key: composite_key(bucket, key.as_bytes()),
            initiated_ms: now_ms(),
            meta,
            initiator: initiator.to_string(),
        };
        self.submit(Pending::new(vec![record], Check::None, 0, Vec::new()))
            .await?;
        Ok(id)
    }

    pub fn upload(&self, id: u64, bucket: &str, key: &str) -> Result<Upload, StorageError> {
        let index = self.index.borrow();
        let upload = index.uploads.get(&id).ok_or(StorageError::NoSuchUpload)?;
        if *upload.key != *composite_key(bucket, key.as_bytes()) {
            return Err(StorageError::NoSuchUpload);
        }
        Ok(upload.clone())
    }

    pub async fn put_part(
        &self,
        id: u64,
        bucket: &str,
        key: &str,
        number: u32,
        body: &BodyRx,
        size: Option<u64>,
    ) -> Result<PartLoc, StorageError> {
        if !(1..=PARTS_MAX).contains(&number) {
            return Err(StorageError::Client(
                crate::proto::error::S3Error::with_message(
                    crate::proto::error::S3ErrorCode::InvalidArgument,
                    "Part number must be an integer between 1 and 10000, inclusive",
                ),
            ));
        }
        self.upload(id, bucket, key)?;
        let (part, dirty) = match self.receive_part(body, number, size, false).await? {
            Received::Striped { part, dirty, .. } => (part, dirty),
            Received::Small { .. } => unreachable!("parts are never packed"),
        };
        let mut on_fail = Vec::new();
        super::index::part_extents(&part, &mut on_fail);
        let record = Record::UploadPart {
            id,
            part: part.clone(),
        };
        self.submit(Pending::new(
            vec![record],
            Check::UploadExists(id),
            dirty,
            on_fail,
        ))
        .await?;
        Ok(part)
    }

    /// Completes an upload from the listed parts `(number, etag hex)`.
    pub async fn complete_upload(
        &self,
        id: u64,
        bucket: &str,
        key: &str,
        listed: &[(u32, String)],
        cond: WriteCond,
    ) -> Result<Entry, StorageError> {
        let upload = self.upload(id, bucket, key)?;
        let mut parts = Vec::with_capacity(listed.len());
        let mut md5s = Vec::with_capacity(listed.len() * 16);
        let mut last = 0;
        for (i, (number, etag)) in listed.iter().enumerate() {
            if *number <= last {
                return Err(StorageError::InvalidPartOrder);
            }
            last = *number;
            let part = upload.parts.get(number).ok_or_else(|| {
                StorageError::InvalidPart(format!("part {number} was not uploaded"))
            })?;
            if !hex::encode(part.etag).eq_ignore_ascii_case(etag.trim_matches('"')) {
                return Err(StorageError::InvalidPart(format!(
                    "part {number} has another ETag"
                )));
            }
            if i + 1 < listed.len() && part.size < PART_BYTES_MIN {
                return Err(StorageError::EntityTooSmall);
            }
            md5s.extend_from_slice(&part.etag);
            parts.push(part.clone());
        }
        if parts.is_empty() {
            return Err(StorageError::Client(
                crate::proto::error::S3ErrorCode::MalformedXML.into(),
            ));
        }
        let etag: [u8; 16] = md5_many::md5(&md5s);
        let size = parts.iter().map(|p| p.size).sum();
        let entry = Entry {
            size,
            mtime_ms: now_ms(),
            etag,
            parts_count: parts.len() as u16,
            loc: Location::Parts(Rc::from(parts)),
            meta: upload.meta.clone(),
        };
        let ckey = composite_key(bucket, key.as_bytes());
        let check = Check::Complete {
            id,
            parts: listed
                .iter()
                .map(|(n, _)| (*n, upload.parts[n].etag))
                .collect(),
            key: ckey.clone(),
            cond,
        };
        let records = vec![
            Record::Put {
                key: ckey,
                entry: entry.clone(),
            },
            Record::UploadDone { id },
        ];
        self.submit(Pending::new(records, check, 0, Vec::new()))
            .await?;
        Ok(entry)
    }

    pub async fn abort_upload(&self, id: u64, bucket: &str, key: &str) -> Result<(), StorageError> {
        self.upload(id, bucket, key)?;
        self.submit(Pending::new(
            vec![Record::UploadDone { id }],
            Check::UploadExists(id),
            0,
            Vec::new(),
        ))
        .await?;
        Ok(())
    }

    /// Uploads of `bucket` whose keys start with `prefix`, ordered by (key, initiated, id).
    /// The uploads of `bucket` whose key starts with `prefix`: (key, id, initiated, initiator),
    /// by key, then time, then id.
    pub fn list_uploads(&self, bucket: &str, prefix: &[u8]) -> Vec<(Vec<u8>, u64, i64, String)> {
        let full = composite_key(bucket, prefix);
        let base = composite_key(bucket, b"").len();
        let index = self.index.borrow();
        let mut out: Vec<(Vec<u8>, u64, i64, String)> = index
            .uploads
            .iter()
            .filter(|(_, u)| u.key.starts_with(&full))
            .map(|(id, u)| {
                let key = u.key[base..].to_vec();
                (key, *id, u.initiated_ms, u.initiator.to_string())
            })
            .collect();
        out.sort_by(|a, b| (&a.0, a.2, a.1).cmp(&(&b.0, b.2, b.1)));
        out
    }

    // ----- buckets (durable on core 0 only) ------------------------------------------------

    pub fn buckets(&self) -> Vec<(String, BucketMeta)> {
        self.index
            .borrow()
            .buckets
            .iter()
            .map(|(n, b)| (n.clone(), b.clone()))
            .collect()
    }

    /// Creates bucket `name` owned by `owner` with canned ACL `acl` (0 = private), or finds
    /// it there already (nothing changes). Either way the answer carries the bucket as the
    /// index holds it. A non-private ACL is a BucketAcl record in the same frame, so the
    /// bucket never exists without it.
    pub async fn create_bucket(
        &self,
        name: &str,
        owner: &str,
        acl: u8,
    ) -> Result<BucketCreated, StorageError> {
        if let Some(existing) = self.index.borrow().buckets.get(name) {
            return Ok(BucketCreated::Exists(existing.clone()));
        }
        let ours = BucketMeta {
            ctime_ms: now_ms(),
            owner: owner.to_string(),
            acl,
            cors: None,
            tags: Vec::new(),
        };
        let mut records = vec![Record::BucketCreate {
            name: name.to_string(),
            ctime_ms: ours.ctime_ms,
            owner: ours.owner.clone(),
        }];
        if acl != 0 {
            records.push(Record::BucketAcl {
                name: name.to_string(),
                acl,
            });
        }
        self.submit(Pending::new(records, Check::None, 0, Vec::new()))
            .await?;
        // A create of the same name committed first keeps the bucket (the index keeps the
        // first record): then this one found it there.
        let held = self.index.borrow().buckets.get(name).cloned();
        match held {
            Some(meta) if meta == ours => Ok(BucketCreated::New(meta)),
            Some(meta) => Ok(BucketCreated::Exists(meta)),
            None => Err(StorageError::Corrupt(format!(
                "bucket {name} committed but not in the index"
            ))),
        }
    }

    /// Sets bucket `name`'s canned ACL; answers the bucket as the index then holds it, `None`
    /// if it does not exist (deleted meanwhile: the record then changed nothing).
    pub async fn set_bucket_acl(
        &self,
        name: &str,
        acl: u8,
    ) -> Result<Option<BucketMeta>, StorageError> {
        let record = Record::BucketAcl {
            name: name.to_string(),
            acl,
        };
        self.set_bucket_meta(name, record).await
    }

    /// Sets (or with `None` removes) bucket `name`'s CORS configuration; answers the bucket as
    /// the index then holds it, `None` if it does not exist.
    pub async fn set_bucket_cors(
        &self,
        name: &str,
        cors: Option<String>,
    ) -> Result<Option<BucketMeta>, StorageError> {
        let record = Record::BucketCors {
            name: name.to_string(),
            cors: cors.unwrap_or_default(),
        };
        self.set_bucket_meta(name, record).await
    }

    /// Replaces bucket `name`'s tags (empty: none); answers the bucket as the index then
    /// holds it, `None` if it does not exist.
    pub async fn set_bucket_tags(
        &self,
        name: &str,
        tags: Vec<(String, String)>,
    ) -> Result<Option<BucketMeta>, StorageError> {
        let record = Record::BucketTags {
            name: name.to_string(),
            tags,
        };
        self.set_bucket_meta(name, record).await
    }

    /// Commits `record`, a change to bucket `name`'s registry entry alone; answers the bucket
    /// as the index then holds it, `None` if it does not exist.
    async fn set_bucket_meta(
        &self,
        name: &str,
        record: Record,
    ) -> Result<Option<BucketMeta>, StorageError> {
        if !self.index.borrow().buckets.contains_key(name) {
            return Ok(None);
        }
        self.submit(Pending::new(vec![record], Check::None, 0, Vec::new()))
            .await?;
        Ok(self.index.borrow().buckets.get(name).cloned())
    }

    pub async fn delete_bucket(&self, name: &str) -> Result<(), StorageError> {
        self.submit(Pending::new(
            vec![Record::BucketDelete {
                name: name.to_string(),
            }],
            Check::None,
            0,
            Vec::new(),
        ))
        .await?;
        Ok(())
    }

    // ----- reads -------------------------------------------------------------------------

    /// Reads bytes `[start, end)` of an object, at most one stripe's worth starting at
    /// `start` (the caller loops). Returns the pieces and the position reached.
    pub async fn read_chunk(
        &self,
        entry: &Entry,
        start: u64,
        end: u64,
    ) -> Result<(Vec<Bytes>, u64), StorageError> {
        assert!(start < end && end <= entry.size);
        match &entry.loc {
            Location::Empty => Err(StorageError::Corrupt(
                "empty location for non-empty range".into(),
            )),
            Location::Packed {
                stripe,
                offset,
                len,
                crc,
            } => {
                if let Some(bytes) =
                    self.commit
                        .staged_bytes(*stripe, *offset as usize, *len as usize)
                {
                    if crc32c::crc32c(&bytes) != *crc {
                        return Err(StorageError::Corrupt(format!(
                            "staged object in packed stripe {stripe} fails its CRC"
                        )));
                    }
                    let bytes = Bytes::from(bytes);
                    return Ok((vec![bytes.slice(start as usize..end as usize)], end));
                }
                let packed = self
                    .index
                    .borrow()
                    .packed
                    .get(stripe)
                    .map(|p| p.stripe.clone());
                let packed = packed.ok_or_else(|| {
                    StorageError::Corrupt(format!("packed stripe {stripe} missing"))
                })?;
                let bytes = self
                    .read_packed(&packed, *offset as u64, *len as u64, *crc)
                    .await?;
                Ok((vec![bytes.slice(start as usize..end as usize)], end))
            }
            Location::Parts(parts) => {
                let mut part_start = 0u64;
                for part in parts.iter() {
                    if start < part_start + part.size {
                        let in_part = start - part_start;
                        let stripe_data = part.stripes[0].data_len as u64;
                        let i = (in_part / stripe_data) as usize;
                        let stripe = &part.stripes[i];
                        let stripe_start = i as u64 * stripe_data;
                        let lo = in_part - stripe_start;
                        let hi = (end - part_start - stripe_start).min(stripe.data_len as u64);
                        let pieces = self.read_stripe_range(stripe, lo, hi).await?;
                        return Ok((pieces, part_start + stripe_start + hi));
                    }
                    part_start += part.size;
                }
                Err(StorageError::Corrupt("range past the parts".into()))
            }
        }
    }

    /// Memory figures of the index: (objects, key bytes).
    pub fn index_counts(&self) -> (usize, u64, usize) {
        let index = self.index.borrow();
        (index.objects.len(), index.key_bytes, index.uploads.len())
    }

    /// The journal generation in use (it grows by one at every checkpoint).
    pub fn journal_generation(&self) -> u64 {
        self.journal.borrow().generation()
    }

    /// Blocks allocated on all devices (space accounting, for tests and metrics).
    pub fn allocated_blocks(&self) -> u64 {
        self.allocs
            .borrow()
            .iter()
            .map(Allocator::used_blocks)
            .sum()
    }

    /// Packed stripes currently alive.
    pub fn packed_stripes(&self) -> usize {
        self.index.borrow().packed.len()
    }

    /// Packed stripe `id`, if alive.
    pub fn packed_stripe(&self, id: u64) -> Option<Stripe> {
        self.index
            .borrow()
            .packed
            .get(&id)
            .map(|p| p.stripe.clone())
    }

    /// Every stripe the index references (for the scrubber), as a snapshot.
    pub fn all_stripes(&self) -> Vec<Stripe> {
        let index = self.index.borrow();
        let mut out = Vec::new();
        for entry in index.objects.values() {
            if let Location::Parts(parts) = &entry.loc {
                for part in parts.iter() {
                    out.extend(part.stripes.iter().cloned());
                }
            }
        }
        out.extend(
            index
                .packed
                .iter()
                .filter(|(id, _)| !self.commit.is_staged(**id))
                .map(|(_, p)| p.stripe.clone()),
        );
        for upload in index.uploads.values() {
            for part in upload.parts.values() {
                out.extend(part.stripes.iter().cloned());
            }
        }
        out
    }
}

enum Received {
    Small {
        data: Vec<u8>,
        md5: [u8; 16],
        checksum: Option<(String, String)>,
    },
    Striped {
        part: PartLoc,
        md5: [u8; 16],
        dirty: u64,
        checksum: Option<(String, String)>,
    },
}

/// Adds the client's checksum to the object's metadata.
fn with_checksum(meta: Option<Box<Meta>>, checksum: Option<(String, String)>) -> Option<Box<Meta>> {
    match checksum {
        None => meta,
        Some(c) => {
            let mut meta = meta.unwrap_or_default();
            meta.checksum = Some(c);
            Some(meta)
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The ETag as S3 prints it (without quotes): hex MD5, plus `-N` for multipart objects.
pub fn etag_string(entry: &Entry) -> String {
    format_etag(&entry.etag, entry.parts_count)
}

/// An ETag from its MD5 and part count (0 for a plain object).
pub fn format_etag(md5: &[u8; 16], parts_count: u16) -> String {
    let mut s = hex::encode(md5);
    if parts_count > 0 {
        s.push_str(&format!("-{parts_count}"));
    }
    s
}

pub(super) fn check_cond(cond: &WriteCond, current: Option<&str>) -> Result<(), StorageError> {
    crate::proto::cond::evaluate_write(
        cond.if_match.as_deref(),
        cond.if_none_match.as_deref(),
        current,
    )
    .map_err(StorageError::Client)
}

fn entry_extents(entry: &Entry) -> Vec<Extent> {
    let mut out = Vec::new();
    if let Location::Parts(parts) = &entry.loc {
        for part in parts.iter() {
            super::index::part_extents(part, &mut out);
        }
    }
    out
}

/// The group-commit request of a PUT: one Put record, checked against `cond` at commit.
fn put_pending(
    ckey: Vec<u8>,
    entry: &Entry,
    cond: WriteCond,
    dirty: u64,
    on_fail: Vec<Extent>,
) -> Pending {
    let check = Check::Write {
        key: ckey.clone(),
        cond,
    };
    Pending::new(
        vec![Record::Put {
            key: ckey,
            entry: entry.clone(),
        }],
        check,
        dirty,
        on_fail,
    )
}

/// Records that rebuild `index` (the checkpoint payload): buckets, packed stripes, objects,
/// uploads with their parts.
pub fn checkpoint_payload(index: &Index) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bucket) in &index.buckets {
        Record::BucketCreate {
            name: name.clone(),
            ctime_ms: bucket.ctime_ms,
            owner: bucket.owner.clone(),
        }
        .encode(&mut out);
        if bucket.acl != 0 {
            Record::BucketAcl {
                name: name.clone(),
                acl: bucket.acl,
            }
            .encode(&mut out);
        }
        if let Some(cors) = &bucket.cors {
            Record::BucketCors {
                name: name.clone(),
                cors: cors.to_string(),
            }
            .encode(&mut out);
        }
        if !bucket.tags.is_empty() {
            Record::BucketTags {
                name: name.clone(),
                tags: bucket.tags.clone(),
            }
            .encode(&mut out);
        }
    }
    for (id, packed) in &index.packed {
        Record::Packed {
            id: *id,
            stripe: packed.stripe.clone(),
        }
        .encode(&mut out);
    }
    for (key, entry) in &index.objects {
        Record::Put {
            key: key.to_vec(),
            entry: entry.clone(),
        }
        .encode(&mut out);
    }
    for (id, upload) in &index.uploads {
        Record::UploadCreate {
            id: *id,
            key: upload.key.to_vec(),
            initiated_ms: upload.initiated_ms,
            meta: upload.meta.clone(),
            initiator: upload.initiator.to_string(),
        }
        .encode(&mut out);
        for part in upload.parts.values() {
            Record::UploadPart {
                id: *id,
                part: part.clone(),
            }
            .encode(&mut out);
        }
    }
    if index.stage != StageMarkState::default() {
        Record::StageMark {
            next_seq: index.stage.next_seq,
            offset: index.stage.offset,
            salt: index.stage.salt,
        }
        .encode(&mut out);
    }
    out
}
