//! Group commit for one core: requests whose data shards are written queue a `Pending`; one
//! task turns each batch into: check preconditions in arrival order, encode and place the
//! open packed stripe, then — in one device round trip — write its shards and fsync every
//! dirty device *while* the journal frame (marked `Unsynced`) is written; then apply the
//! records to the index and answer. A batch with more than `UNSYNCED_COMMIT_BYTES_MAX` of new
//! data takes two round trips instead (data durable, then the frame), which bounds what
//! recovery reads back to check the last frame (`verify.rs`). See `docs/write-path.md`.
//! A batch whose only new data is its packed stripe goes to the staging ring instead
//! (`stage.rs`): one durable entry with the records and the data, the stripe kept in memory
//! until a destage writes it home and journals the records.
//!
//! Invariants: a request is answered `Ok` only after its frame is durable on a journal
//! mirror and its data on its devices; the next batch starts only after that, so only the
//! journal's last frame can name data a crash lost; a failed step fails every request that
//! depended on it, and their extents (never referenced by a frame that stays) go straight back
//! to the allocator — a frame written before its data failed is first retracted by a new
//! journal generation. A staged batch's records are journaled by the destage that follows
//! it, always before any other frame and before any checkpoint: a checkpoint is never taken
//! while the index holds staged records.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;

use super::aligned::AlignedBuf;
use super::erasure::Geometry;
use super::error::StorageError;
use super::format::{Location, Record, Stripe, DEV_MISSING};
use super::index::Extent;
use super::index::StageMarkState;
use super::journal::Journal;
use super::stage::{self, StageRing};
use super::store::{check_cond, checkpoint_payload, etag_string, Store, WriteCond};
use super::stripes::{shard_len_for, stripe_extents_of, PreparedStripe};
use crate::constants::{
    PACKED_STRIPE_DATA_BYTES_MAX, STAGE_IDLE_MS, STAGE_RING_BYTES, UNSYNCED_COMMIT_BYTES_MAX,
};

/// Bytes a stripe occupies on its devices.
fn stripe_bytes(stripe: &Stripe) -> u64 {
    stripe.shard_len as u64 * stripe.shards.len() as u64
}

/// What must still hold when the batch is committed.
pub enum Check {
    None,
    Write {
        key: Vec<u8>,
        cond: WriteCond,
    },
    UploadExists(u64),
    /// Compaction's relocation: the object must still be where it was read from.
    Unchanged {
        key: Vec<u8>,
        loc: Location,
    },
    Complete {
        id: u64,
        parts: Vec<(u32, [u8; 16])>,
        key: Vec<u8>,
        cond: WriteCond,
    },
}

pub struct Pending {
    pub records: Vec<Record>,
    pub check: Check,
    /// Devices holding this request's new shards (bit per device), fsynced before the frame.
    pub dirty: u64,
    /// Extents to free if the request fails (written, never referenced durably).
    pub on_fail: Vec<Extent>,
    /// Its `Put` points into the open packed stripe; the stripe id is set at seal.
    pub packed: bool,
    done: Option<oneshot::Sender<Result<u64, StorageError>>>,
}

impl Pending {
    pub fn new(records: Vec<Record>, check: Check, dirty: u64, on_fail: Vec<Extent>) -> Pending {
        Pending {
            records,
            check,
            dirty,
            on_fail,
            packed: false,
            done: None,
        }
    }

    fn answer(mut self, result: Result<u64, StorageError>) {
        if let Some(done) = self.done.take() {
            let _ = done.send(result);
        }
    }
}

/// What the staging ring holds beyond the journal: records of entries written since the
/// last destage, in order, and their packed stripes, encoded but not yet written home.
#[derive(Default)]
pub struct Staged {
    records: Vec<Record>,
    /// Encoded size of `records` (as in their entries' heads): what the next destage frame
    /// carries, bounded by `Store::stage_records_max`.
    record_bytes: u64,
    stripes: HashMap<u64, PreparedStripe>,
}

pub struct CommitQueue {
    pending: RefCell<Vec<Pending>>,
    signal_tx: RefCell<mpsc::Sender<()>>,
    signal_rx: RefCell<Option<mpsc::Receiver<()>>>,
    /// Data of small objects waiting for the next seal.
    packing: RefCell<Vec<u8>>,
    pack_waiters: RefCell<Vec<oneshot::Sender<()>>>,
    next_packed_id: Cell<u64>,
    geometry: Geometry,
    pub(super) staged: RefCell<Staged>,
    /// A destage is running; journal frames and checkpoints wait for it.
    destaging: Cell<bool>,
    destage_waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl CommitQueue {
    pub fn new(next_packed_id: u64, geometry: Geometry) -> CommitQueue {
        let (tx, rx) = mpsc::channel(1);
        CommitQueue {
            pending: RefCell::new(Vec::new()),
            signal_tx: RefCell::new(tx),
            signal_rx: RefCell::new(Some(rx)),
            packing: RefCell::new(Vec::new()),
            pack_waiters: RefCell::new(Vec::new()),
            next_packed_id: Cell::new(next_packed_id),
            geometry,
            staged: RefCell::new(Staged::default()),
            destaging: Cell::new(false),
            destage_waiters: RefCell::new(Vec::new()),
        }
    }

    fn wake(&self) {
        // A full channel means a wake-up is already pending: nothing to add.
        let _ = self.signal_tx.borrow_mut().try_send(());
    }

    /// Appends a small object's bytes to the open packed stripe; returns its offset there.
    /// The caller must submit its `Pending` (with `packed`) before its next `.await`.
    pub async fn pack(&self, _store: &Store, data: &[u8]) -> u32 {
        assert!(data.len() as u64 <= PACKED_STRIPE_DATA_BYTES_MAX);
        loop {
            {
                let mut packing = self.packing.borrow_mut();
                if (packing.len() + data.len()) as u64 <= PACKED_STRIPE_DATA_BYTES_MAX {
                    let offset = packing.len() as u32;
                    packing.extend_from_slice(data);
                    return offset;
                }
            }
            let (tx, rx) = oneshot::channel();
            self.pack_waiters.borrow_mut().push(tx);
            self.wake();
            let _ = rx.await;
        }
    }

    /// Bytes `[offset, offset + len)` of staged packed stripe `id`, if it is staged.
    pub fn staged_bytes(&self, id: u64, offset: usize, len: usize) -> Option<Vec<u8>> {
        let staged = self.staged.borrow();
        let prepared = staged.stripes.get(&id)?;
        debug_assert!(offset + len <= prepared.stripe.data_len as usize);
        prepared
            .bytes()
            .get(offset..offset + len)
            .map(<[u8]>::to_vec)
    }

    /// Whether packed stripe `id` is staged (in memory, not yet home).
    pub fn is_staged(&self, id: u64) -> bool {
        self.staged.borrow().stripes.contains_key(&id)
    }
}

impl Store {
    /// Queues `pending` for the next group commit and waits for its outcome. Returns the id
    /// of the packed stripe its object went into (0 if none).
    pub(super) async fn submit(&self, mut pending: Pending) -> Result<u64, StorageError> {
        let (tx, rx) = oneshot::channel();
        pending.done = Some(tx);
        self.commit.pending.borrow_mut().push(pending);
        self.commit.wake();
        rx.await.map_err(|_| StorageError::Busy)?
    }

    pub(super) async fn commit_loop(self: Rc<Self>) {
        let Some(mut signals) = self.commit.signal_rx.borrow_mut().take() else {
            return;
        };
        loop {
            let staged = self.stage.as_ref().is_some_and(|ring| !ring.is_empty());
            let signal = if staged {
                let idle = std::time::Duration::from_millis(STAGE_IDLE_MS);
                match monoio::time::timeout(idle, signals.next()).await {
                    Ok(signal) => signal,
                    Err(_) => {
                        // Quiet for a while: write the staged stripes home.
                        if let Err(e) = self.destage().await {
                            eprintln!("level=error msg=\"destage failed; staged data stays in the ring\" core={} err=\"{e}\"", self.core);
                        }
                        continue;
                    }
                }
            } else {
                signals.next().await
            };
            if signal.is_none() {
                break;
            }
            loop {
                let batch: Vec<Pending> = std::mem::take(&mut *self.commit.pending.borrow_mut());
                let pack = std::mem::take(&mut *self.commit.packing.borrow_mut());
                for waiter in self.commit.pack_waiters.borrow_mut().drain(..) {
                    let _ = waiter.send(());
                }
                if batch.is_empty() {
                    debug_assert!(
                        pack.is_empty(),
                        "packed bytes always come with a pending put"
                    );
                    break;
                }
                let started = std::time::Instant::now();
                self.run_batch(batch, pack).await;
                self.stats.commit_us.record_since(started);
                self.destage_in_background();
            }
        }
    }

    async fn run_batch(self: &Rc<Self>, batch: Vec<Pending>, pack: Vec<u8>) {
        // Preconditions first: they read only the index, and only this task changes it.
        let (mut accepted, rejected) = self.check_batch(batch);
        for (pending, err) in rejected {
            self.free_now(&pending.on_fail);
            pending.answer(Err(err));
        }
        let mut packed: Option<(u64, PreparedStripe)> = None;
        if accepted.iter().any(|p| p.packed) {
            debug_assert!(!pack.is_empty(), "a packed put brought its bytes");
            match self.prepare_packed(&pack) {
                Ok(p) => packed = Some(p),
                Err(e) => {
                    let (failed, rest): (Vec<Pending>, Vec<Pending>) =
                        accepted.into_iter().partition(|p| p.packed);
                    self.fail_batch(failed, None, e);
                    accepted = rest;
                }
            }
        }
        if accepted.is_empty() {
            return;
        }
        let dirty = accepted.iter().fold(0u64, |acc, p| acc | p.dirty);
        if let Some(ring) = &self.stage {
            let only_packed = dirty == 0 && accepted.iter().all(|p| p.on_fail.is_empty());
            let head = only_packed.then(|| {
                let records = self.batch_records(&accepted, packed.as_ref(), false);
                (stage::payload_head(&records), records)
            });
            // The entry's data: the packed stripe's (its objects' bytes, as packed).
            let data: &[u8] = if packed.is_some() { &pack } else { &[] };
            match head {
                Some((head, records))
                    if StageRing::can_hold(head.len() + data.len())
                        && head.len() as u64 <= self.stage_records_max() =>
                {
                    self.run_staged(accepted, packed, records, &head, data)
                        .await;
                    self.rotate_if_due().await;
                    return;
                }
                _ => {
                    // Frames stay in order: what the ring holds goes to the journal first.
                    if let Err(e) = self.destage().await {
                        self.fail_batch(accepted, packed.map(|(_, p)| p.stripe), e);
                        return;
                    }
                    debug_assert!(ring.is_empty());
                }
            }
        }
        let new_bytes: u64 = accepted
            .iter()
            .flat_map(|p| p.on_fail.iter())
            .map(|e| e.len)
            .sum::<u64>()
            + packed.as_ref().map_or(0, |(_, p)| stripe_bytes(&p.stripe));
        let unsynced = new_bytes <= UNSYNCED_COMMIT_BYTES_MAX;
        let records = if unsynced {
            // One round trip: the frame is written while the data is written and flushed.
            // Recovery checks this frame's new stripes if it is the last (engine/verify.rs).
            let records = self.batch_records(&accepted, packed.as_ref(), true);
            let payload = self.frame_payload(&records).await;
            let journal = self.journal.borrow().clone();
            let (data, frame) = futures::future::join(
                self.write_and_sync(packed.as_mut().map(|(_, p)| p), dirty),
                journal.append(&payload),
            )
            .await;
            drop(journal);
            match (data, frame) {
                (_, Err(e)) => {
                    self.fail_batch(accepted, packed.map(|(_, p)| p.stripe), e);
                    return;
                }
                (Err(e), Ok(())) => {
                    self.retract_frame(accepted, packed.map(|(_, p)| p.stripe), records, e);
                    return;
                }
                (Ok(()), Ok(())) => records,
            }
        } else {
            // Two round trips: data durable first, then the frame that references it.
            if let Err(e) = self
                .write_and_sync(packed.as_mut().map(|(_, p)| p), dirty)
                .await
            {
                self.fail_batch(accepted, packed.map(|(_, p)| p.stripe), e);
                return;
            }
            let records = self.batch_records(&accepted, packed.as_ref(), false);
            let payload = self.frame_payload(&records).await;
            let journal = self.journal.borrow().clone();
            let appended = journal.append(&payload).await;
            drop(journal);
            if let Err(e) = appended {
                self.fail_batch(accepted, packed.map(|(_, p)| p.stripe), e);
                return;
            }
            records
        };
        let packed_id = packed.as_ref().map_or(0, |(id, _)| *id);
        self.stats.commits.set(self.stats.commits.get() + 1);
        self.stats
            .commit_records
            .set(self.stats.commit_records.get() + records.len() as u64);
        self.apply_records(records);
        for pending in accepted {
            let id = if pending.packed { packed_id } else { 0 };
            pending.answer(Ok(id));
        }
        self.rotate_if_due().await;
    }

    /// Bytes of staged records a destage may carry: a quarter of what one journal generation
    /// holds, so that the destage's frame fits a block device's slot with room to spare
    /// (unbounded when every mirror is a directory).
    fn stage_records_max(&self) -> u64 {
        self.journal.borrow().capacity_bytes() / 4
    }

    /// Rotates the journal at the configured size, or at half a bounded slot so that a batch
    /// rarely has to rotate before its own frame.
    async fn rotate_if_due(self: &Rc<Self>) {
        let journal = self.journal.borrow().clone();
        let rotate_bytes = self.journal_rotate_bytes.min(journal.capacity_bytes() / 2);
        let rotate = journal.bytes() > rotate_bytes && !self.rotation_backing_off();
        // Our handle must be gone before rotating: the journal is replaced in place.
        drop(journal);
        if rotate {
            self.rotate_journal().await;
        }
    }

    /// Commits a batch through the staging ring: one durable entry (records and packed data)
    /// on the journal mirrors; the stripe stays in memory until `destage`.
    async fn run_staged(
        self: &Rc<Self>,
        accepted: Vec<Pending>,
        packed: Option<(u64, PreparedStripe)>,
        records: Vec<Record>,
        head: &[u8],
        data: &[u8],
    ) {
        let Some(ring) = &self.stage else {
            unreachable!("run_staged is called only with a staging ring");
        };
        let records_over =
            self.commit.staged.borrow().record_bytes + head.len() as u64 > self.stage_records_max();
        if !ring.fits(head.len() + data.len()) || records_over {
            if let Err(e) = self.destage().await {
                self.fail_batch(accepted, packed.map(|(_, p)| p.stripe), e);
                return;
            }
        }
        if let Err(e) = ring.append(head, data).await {
            // The entry may be whole on a mirror: a destage marks the ring past it, so it is
            // never replayed, and only then may its extents be reused.
            ring.done();
            match self.destage().await {
                Ok(()) => self.fail_batch(accepted, packed.map(|(_, p)| p.stripe), e),
                Err(e2) => {
                    eprintln!("level=error msg=\"staging entry failed and could not be marked past; its extents stay allocated until restart\" core={} err=\"{e}\" destage_err=\"{e2}\"", self.core);
                    for pending in accepted {
                        pending.answer(Err(e.clone()));
                    }
                }
            }
            return;
        }
        let packed_id = packed.as_ref().map_or(0, |(id, _)| *id);
        self.stats.commits.set(self.stats.commits.get() + 1);
        self.stats
            .staged_commits
            .set(self.stats.staged_commits.get() + 1);
        self.stats
            .commit_records
            .set(self.stats.commit_records.get() + records.len() as u64);
        {
            let mut staged = self.commit.staged.borrow_mut();
            staged.records.extend(records.iter().cloned());
            staged.record_bytes += head.len() as u64;
            if let Some((id, prepared)) = packed {
                staged.stripes.insert(id, prepared);
            }
        }
        // With its records staged, the entry may be marked by a destage (not before).
        ring.done();
        self.apply_records(records);
        for pending in accepted {
            let id = if pending.packed { packed_id } else { 0 };
            pending.answer(Ok(id));
        }
    }

    /// Writes every staged stripe home and journals what the staging ring holds (the commit
    /// loop does this by itself when the ring fills or goes quiet). For tests and tools that
    /// need the data on its devices now.
    pub async fn flush_staged(self: &Rc<Self>) -> Result<(), StorageError> {
        self.destage().await
    }

    /// Destages everything staged so far, after any destage already running; returns when
    /// it is in the journal.
    pub(super) async fn destage(self: &Rc<Self>) -> Result<(), StorageError> {
        while self.commit.destaging.get() {
            let (tx, rx) = oneshot::channel();
            self.commit.destage_waiters.borrow_mut().push(tx);
            let _ = rx.await;
        }
        if self.stage.as_ref().is_none_or(|ring| ring.is_empty()) {
            return Ok(());
        }
        self.commit.destaging.set(true);
        self.destage_now().await
    }

    /// Starts a destage in the background once the ring is half full, so new entries go to
    /// the other half meanwhile.
    fn destage_in_background(self: &Rc<Self>) {
        let Some(ring) = &self.stage else {
            return;
        };
        let records_half = self.commit.staged.borrow().record_bytes >= self.stage_records_max() / 2;
        if self.commit.destaging.get()
            || (ring.used_bytes() < STAGE_RING_BYTES / 2 && !records_half)
        {
            return;
        }
        self.commit.destaging.set(true);
        let store = self.clone();
        monoio::spawn(async move {
            if let Err(e) = store.destage_now().await {
                eprintln!("level=error msg=\"destage failed; staged data stays in the ring\" core={} err=\"{e}\"", store.core);
            }
        });
    }

    /// The destage itself (`destaging` set by the caller, cleared here): writes every staged
    /// stripe still alive home, flushes those devices, and appends one journal frame with the
    /// staged records and a `StageMark` past the ring's last entry, which frees the ring's
    /// space. Staged records and stripes that arrive meanwhile wait for the next destage. On
    /// failure nothing is dropped: the ring and the stripes in memory stay.
    async fn destage_now(self: &Rc<Self>) -> Result<(), StorageError> {
        debug_assert!(self.commit.destaging.get());
        // Extents freed while the stripes are written are not reused before they are.
        let guard = self.begin_read();
        let result = self.destage_snapshot().await;
        drop(guard);
        self.commit.destaging.set(false);
        for waiter in self.commit.destage_waiters.borrow_mut().drain(..) {
            let _ = waiter.send(());
        }
        result
    }

    async fn destage_snapshot(self: &Rc<Self>) -> Result<(), StorageError> {
        let Some(ring) = &self.stage else {
            return Ok(());
        };
        // The snapshot: taken with no await in between, so it is one consistent cut: the
        // records of every batch that is done, and a mark just past their entries (an entry
        // being written meanwhile is after it, its records not yet staged).
        let mark = ring.mark();
        if ring.nothing_done_since(self.index.borrow().stage) {
            return Ok(());
        }
        let (records, record_bytes) = {
            let mut staged = self.commit.staged.borrow_mut();
            let bytes = std::mem::take(&mut staged.record_bytes);
            (std::mem::take(&mut staged.records), bytes)
        };
        let (ids, live): (Vec<u64>, Vec<u64>) = {
            let staged = self.commit.staged.borrow();
            let index = self.index.borrow();
            let ids: Vec<u64> = staged.stripes.keys().copied().collect();
            let live = ids
                .iter()
                .copied()
                .filter(|id| {
                    index
                        .packed
                        .get(id)
                        .is_some_and(|p| p.stripe == staged.stripes[id].stripe)
                })
                .collect();
            (ids, live)
        };
        let written = self.destage_write(&live, &records, mark).await;
        if let Err(e) = written {
            let mut staged = self.commit.staged.borrow_mut();
            let newer = std::mem::take(&mut staged.records);
            staged.records = records;
            staged.records.extend(newer);
            staged.record_bytes += record_bytes;
            return Err(e);
        }
        ring.destaged(mark);
        {
            let mut staged = self.commit.staged.borrow_mut();
            for id in &ids {
                staged.stripes.remove(id);
            }
        }
        self.apply_records(vec![mark.into_record()]);
        self.stats.destages.set(self.stats.destages.get() + 1);
        Ok(())
    }

    /// Writes stripes `live` home and flushes them, then journals `records` and `mark`.
    async fn destage_write(
        self: &Rc<Self>,
        live: &[u64],
        records: &[Record],
        mark: StageMarkState,
    ) -> Result<(), StorageError> {
        let dirty = self.write_staged(live).await;
        self.sync_devices(dirty).await?;
        {
            // A failed write or flush failed its device: every stripe still needs k shards.
            let staged = self.commit.staged.borrow();
            let k = self.geometry.k as usize;
            for id in live {
                let whole = staged.stripes[id]
                    .stripe
                    .shards
                    .iter()
                    .filter(|s| s.dev != DEV_MISSING && self.devs[s.dev as usize].is_up())
                    .count();
                if whole < k {
                    return Err(StorageError::InsufficientDevices {
                        up: whole,
                        needed: k,
                    });
                }
            }
        }
        // Not `frame_payload`: a ring exists only over directory mirrors, whose journals are
        // unbounded, so the frame always fits (and rotation itself destages first).
        let mut payload = Vec::new();
        for record in records {
            record.encode(&mut payload);
        }
        mark.into_record().encode(&mut payload);
        let journal = self.journal.borrow().clone();
        journal.append(&payload).await
    }

    /// Writes the shards of staged stripes `ids` to their devices, merging shards that are
    /// adjacent on a device into one write. Returns the devices written; a failed write fails
    /// its device.
    async fn write_staged(&self, ids: &[u64]) -> u64 {
        /// Writes in flight at once.
        const WRITES_IN_FLIGHT_MAX: usize = 64;
        // (device, offset on the device, stripe id, shard index)
        let mut shards: Vec<(u16, u64, u64, usize)> = Vec::new();
        {
            let staged = self.commit.staged.borrow();
            for id in ids {
                for (i, shard) in staged.stripes[id].stripe.shards.iter().enumerate() {
                    if shard.dev != DEV_MISSING {
                        shards.push((shard.dev, shard.offset, *id, i));
                    }
                }
            }
        }
        shards.sort_unstable();
        let mut runs: Vec<(u16, u64, AlignedBuf)> = Vec::new();
        {
            let staged = self.commit.staged.borrow();
            let mut i = 0;
            while i < shards.len() {
                let (dev, start, _, _) = shards[i];
                let mut end = start;
                let mut j = i;
                while j < shards.len() && shards[j].0 == dev && shards[j].1 == end {
                    end += staged.stripes[&shards[j].2].stripe.shard_len as u64;
                    j += 1;
                }
                let mut buf = AlignedBuf::dirty((end - start) as usize);
                let mut at = 0usize;
                for &(_, _, id, shard) in &shards[i..j] {
                    let prepared = &staged.stripes[&id];
                    let s = prepared.stripe.shard_len as usize;
                    buf.as_mut_slice()[at..at + s]
                        .copy_from_slice(&prepared.bytes()[shard * s..(shard + 1) * s]);
                    at += s;
                }
                runs.push((dev, start, buf));
                i = j;
            }
        }
        let writes = runs.into_iter().map(|(dev, start, buf)| async move {
            let handle = &self.devs[dev as usize];
            let len = buf.len() as u64;
            let result = match handle.file.as_ref() {
                Some(file) if !handle.failed.get() => {
                    file.write_all_at(buf, handle.base + start).await.0
                }
                _ => Err(std::io::Error::other("device is down")),
            };
            (dev, len, result)
        });
        let mut results = futures::stream::iter(writes).buffer_unordered(WRITES_IN_FLIGHT_MAX);
        let mut dirty = 0u64;
        while let Some((dev, len, result)) = results.next().await {
            match result {
                Ok(()) => {
                    dirty |= 1 << dev;
                    let stats = &self.devs[dev as usize].stats;
                    stats.bytes_written.set(stats.bytes_written.get() + len);
                }
                Err(e) => {
                    if !self.devs[dev as usize].failed.get() {
                        self.fail_device(dev, &format!("write: {e}"));
                    }
                }
            }
        }
        dirty
    }

    /// The batch's journal records: the packed stripe first (its objects point into it),
    /// then every accepted request's, with the marker first when the frame is `unsynced`.
    fn batch_records(
        &self,
        accepted: &[Pending],
        packed: Option<&(u64, PreparedStripe)>,
        unsynced: bool,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        if unsynced {
            records.push(Record::Unsynced);
        }
        let packed_id = packed.map_or(0, |(id, _)| *id);
        if let Some((id, prepared)) = packed {
            records.push(Record::Packed {
                id: *id,
                stripe: prepared.stripe.clone(),
            });
        }
        for pending in accepted {
            for record in &pending.records {
                let mut record = record.clone();
                if let (true, Record::Put { entry, .. }) = (pending.packed, &mut record) {
                    if let Location::Packed { stripe, .. } = &mut entry.loc {
                        *stripe = packed_id;
                    }
                }
                records.push(record);
            }
        }
        records
    }

    /// Encodes `records` as one frame's payload, rotating the journal first when a bounded
    /// journal (a block device's slot) cannot take it: the checkpoint captures the index
    /// without this batch, whose frame then goes to the new generation. A frame larger than a
    /// whole slot fails the batch at `append`.
    async fn frame_payload(self: &Rc<Self>, records: &[Record]) -> Vec<u8> {
        let mut payload = Vec::new();
        for record in records {
            record.encode(&mut payload);
        }
        if !self.journal.borrow().fits(payload.len()) && !self.rotation_backing_off() {
            self.rotate_journal().await;
        }
        payload
    }

    /// Writes the packed stripe's shards (if any) and flushes every device in `dirty` plus
    /// those. Shards whose write failed stay named in the stripe, on a device now failed:
    /// lost shards, as if the device died later; fewer than `k` written fails the batch.
    async fn write_and_sync(
        &self,
        packed: Option<&mut PreparedStripe>,
        mut dirty: u64,
    ) -> Result<(), StorageError> {
        if let Some(prepared) = packed {
            let (written_to, failed) = self.write_shards(prepared).await;
            dirty |= written_to;
            let written = prepared
                .stripe
                .shards
                .iter()
                .enumerate()
                .filter(|(i, s)| s.dev != DEV_MISSING && !failed.contains(i))
                .count();
            let k = self.commit.geometry.k as usize;
            if written < k {
                return Err(StorageError::InsufficientDevices {
                    up: written,
                    needed: k,
                });
            }
        }
        self.sync_devices(dirty).await
    }

    /// The batch's frame is durable but its data may not be (a write or flush failed). The
    /// frame is taken back by starting a new journal generation whose checkpoint is the index
    /// without it; then the batch fails like any other. If even that fails, the index must
    /// follow the journal: the records are applied and the requests still answered with the
    /// error (their data is on fewer devices than asked, possibly unreadable).
    fn retract_frame(
        &self,
        batch: Vec<Pending>,
        packed: Option<Stripe>,
        records: Vec<Record>,
        err: StorageError,
    ) {
        let state = checkpoint_payload(&self.index.borrow());
        let retracted = {
            let mut journal = self.journal.borrow_mut();
            Rc::get_mut(&mut journal).map(|j| j.rotate(&state))
        };
        if let Some(Ok(())) = retracted {
            eprintln!(
                "level=warn msg=\"data write failed after its journal frame was written; frame retracted by a new journal generation\" core={} err=\"{err}\"",
                self.core
            );
            self.fail_batch(batch, packed, err);
            return;
        }
        eprintln!(
            "level=error msg=\"data write failed after its journal frame was written and the frame could not be retracted; its objects stay, possibly unreadable\" core={} err=\"{err}\"",
            self.core
        );
        self.apply_records(records);
        for pending in batch {
            pending.answer(Err(err.clone()));
        }
    }

    /// Applies a durable frame's records to the index — visible from here on — and hands the
    /// extents they replaced to reclaim (freed once earlier readers finish).
    fn apply_records(&self, records: Vec<Record>) {
        let mut freed = Vec::new();
        {
            let mut index = self.index.borrow_mut();
            for record in records {
                freed.extend(index.apply(record));
            }
        }
        let reusable = self.reclaim.borrow_mut().free(freed);
        self.release_extents(reusable);
    }

    fn fail_batch(&self, batch: Vec<Pending>, packed: Option<Stripe>, err: StorageError) {
        if let Some(stripe) = &packed {
            self.free_now(&stripe_extents_of(stripe));
        }
        for pending in batch {
            self.free_now(&pending.on_fail);
            pending.answer(Err(err.clone()));
        }
    }

    /// Encodes and places the open packed stripe (no I/O) and gives it the next id.
    fn prepare_packed(&self, pack: &[u8]) -> Result<(u64, PreparedStripe), StorageError> {
        let geometry = self.commit.geometry;
        let shard_len = shard_len_for(pack.len() as u64, geometry.k);
        // Data, then zero padding to k shards; the parity shards are written by the encoder.
        let mut buf = AlignedBuf::dirty(geometry.width() * shard_len as usize);
        let data_end = geometry.k as usize * shard_len as usize;
        buf.as_mut_slice()[..pack.len()].copy_from_slice(pack);
        buf.as_mut_slice()[pack.len()..data_end].fill(0);
        let prepared = self.prepare_stripe(buf, shard_len, pack.len() as u64)?;
        let id = self.commit.next_packed_id.get();
        self.commit.next_packed_id.set(id + 1);
        self.stats
            .packed_stripes
            .set(self.stats.packed_stripes.get() + 1);
        Ok((id, prepared))
    }

    /// fdatasync every device in `dirty`, in parallel. A failed fsync fails the device (it is
    /// never retried: the kernel may have dropped the dirty pages) and the batch.
    async fn sync_devices(&self, dirty: u64) -> Result<(), StorageError> {
        if dirty == 0 {
            return Ok(());
        }
        let syncs = self
            .devs
            .iter()
            .filter(|d| dirty & (1 << d.index) != 0)
            .map(|d| async move {
                let started = std::time::Instant::now();
                let result = match &d.file {
                    Some(file) if !d.failed.get() => file.sync_data().await,
                    _ => Err(std::io::Error::other("device is down")),
                };
                // Counted with its latency, at the same moment: a snapshot sees both or neither.
                self.stats.fsync_us.record_since(started);
                self.stats.fsyncs.set(self.stats.fsyncs.get() + 1);
                (d.index, result)
            });
        let results = futures::future::join_all(syncs).await;
        let mut failed = None;
        for (dev, result) in results {
            if let Err(e) = result {
                self.fail_device(dev, &format!("fsync: {e}"));
                failed = Some(StorageError::Io(format!(
                    "fsync of device {dev} failed: {e}"
                )));
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Checks preconditions in arrival order against the index plus the effects of the
    /// requests accepted before them in this batch.
    fn check_batch(&self, batch: Vec<Pending>) -> (Vec<Pending>, Vec<(Pending, StorageError)>) {
        let index = self.index.borrow();
        let mut overlay: HashMap<Vec<u8>, Option<String>> = HashMap::new();
        let mut uploads_done: HashSet<u64> = HashSet::new();
        let current =
            |overlay: &HashMap<Vec<u8>, Option<String>>, key: &[u8]| match overlay.get(key) {
                Some(v) => v.clone(),
                None => index.objects.get(key).map(etag_string),
            };
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        for pending in batch {
            let verdict = match &pending.check {
                Check::None => Ok(()),
                Check::Write { key, cond } => check_cond(cond, current(&overlay, key).as_deref()),
                Check::Unchanged { key, loc } => {
                    let same = !overlay.contains_key(key)
                        && index
                            .objects
                            .get(key.as_slice())
                            .is_some_and(|e| e.loc == *loc);
                    if same {
                        Ok(())
                    } else {
                        Err(StorageError::PreconditionFailed)
                    }
                }
                Check::UploadExists(id) => {
                    if index.uploads.contains_key(id) && !uploads_done.contains(id) {
                        Ok(())
                    } else {
                        Err(StorageError::NoSuchUpload)
                    }
                }
                Check::Complete {
                    id,
                    parts,
                    key,
                    cond,
                } => match index.uploads.get(id) {
                    Some(upload) if !uploads_done.contains(id) => {
                        let same = parts
                            .iter()
                            .all(|(n, etag)| upload.parts.get(n).is_some_and(|p| p.etag == *etag));
                        if same {
                            check_cond(cond, current(&overlay, key).as_deref())
                        } else {
                            Err(StorageError::InvalidPart(
                                "a part changed while completing".into(),
                            ))
                        }
                    }
                    _ => Err(StorageError::NoSuchUpload),
                },
            };
            match verdict {
                Ok(()) => {
                    for record in &pending.records {
                        match record {
                            Record::Put { key, entry } => {
                                overlay.insert(key.clone(), Some(etag_string(entry)));
                            }
                            Record::Delete { key } => {
                                overlay.insert(key.clone(), None);
                            }
                            Record::UploadDone { id } => {
                                uploads_done.insert(*id);
                            }
                            _ => {}
                        }
                    }
                    accepted.push(pending);
                }
                Err(e) => rejected.push((pending, e)),
            }
        }
        (accepted, rejected)
    }

    /// Whether a failed rotation is waiting out its retry delay.
    fn rotation_backing_off(&self) -> bool {
        self.rotation_retry_at
            .get()
            .is_some_and(|at| std::time::Instant::now() < at)
    }

    /// Starts a new journal generation with a checkpoint of the current index. Runs between
    /// batches in the commit task, so no frame is being appended meanwhile. The checkpoint is
    /// encoded here, but written and synced on a short-lived thread: the core keeps serving
    /// reads meanwhile; only commits wait.
    async fn rotate_journal(self: &Rc<Self>) {
        /// How long a failed rotation waits before the next attempt.
        const ROTATION_RETRY: std::time::Duration = std::time::Duration::from_secs(1);
        // A checkpoint must not hold staged records: recovery would replay them twice.
        if let Err(e) = self.destage().await {
            eprintln!(
                "level=error msg=\"journal rotation deferred: destage failed\" core={} err=\"{e}\"",
                self.core
            );
            self.rotation_retry_at
                .set(Some(std::time::Instant::now() + ROTATION_RETRY));
            return;
        }
        // Only the commit task appends, and it is here: nobody else holds the journal. Check
        // before building the checkpoint, which costs a pass over the whole index.
        if Rc::strong_count(&self.journal.borrow()) != 1 {
            eprintln!(
                "level=warn msg=\"journal rotation deferred: journal in use\" core={}",
                self.core
            );
            return;
        }

        let state = checkpoint_payload(&self.index.borrow());
        let (locs, generation) = self.journal.borrow().next_generation();
        let core = self.core;
        let (tx, rx) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("tessera-ckpt-{core}"))
            .spawn(move || {
                let _ = tx.send(Journal::prepare(core, &locs, generation, &state));
            });
        let prepared = match spawned {
            Ok(_) => rx.await.ok(),
            Err(_) => None,
        };
        let installed = match prepared {
            Some(prepared) => Journal::install(prepared),
            None => Err(StorageError::Io(
                "could not run the checkpoint writer thread".into(),
            )),
        };
        match installed {
            Ok(journal) => {
                *self.journal.borrow_mut() = Rc::new(journal);
                self.rotation_retry_at.set(None);
            }
            Err(e) => {
                eprintln!(
                    "level=error msg=\"journal rotation failed; retrying in {} s\" core={} err=\"{e}\"",
                    ROTATION_RETRY.as_secs(),
                    self.core
                );
                self.rotation_retry_at
                    .set(Some(std::time::Instant::now() + ROTATION_RETRY));
            }
        }
    }
}
