//! One core's staging ring: where a batch of small objects becomes durable in one device
//! round trip, data included.
//!
//! A batch whose only new data is its packed stripe (small PUTs, and batches of records only:
//! deletes, bucket and upload bookkeeping) is written as one *entry* — the batch's journal
//! records followed by the packed stripe's data bytes — to this ring on every journal mirror,
//! with O_DIRECT | O_DSYNC. That is the whole acknowledgement: 3 writes, where writing the
//! stripe home would cost k + m writes and k + m flushes. The stripe's shards stay in memory
//! (reads are served from there) until the commit loop *destages*: it writes every staged
//! stripe home, flushes those devices, and appends one journal frame with all staged records
//! and a `StageMark` naming the next ring sequence and offset. Destages run in the background
//! once the ring is half full, so entries keep going to the other half meanwhile.
//!
//! Entries reuse the journal's frame layout (`format::encode_frame`), with a salt drawn at
//! each start as the generation (so bytes of an earlier run, or object data that happens to
//! look like an entry, are never taken for one) and the ring sequence as the frame sequence;
//! the payload is `records length u32 | records | data`. Recovery reads each mirror's ring
//! from the mark's offset, takes the longest run of valid entries with sequences `mark,
//! mark + 1, ...` (an entry that did not fit before the end is at offset 0), replays their
//! records after the journal's, and writes their stripes home again from the data bytes
//! (`Store::open`).
//!
//! Where a ring lives (`RingPlace`): `core-C.stage` in a directory device, or the region a
//! block device's label (version 2) keeps for it after the core's slots.
//!
//! Invariants: an entry is acknowledged only after one mirror wrote it durably; a mirror that
//! fails a write is dropped; an entry never overwrites one not yet destaged; a sequence is
//! used once (a failed entry is skipped by the mark of the destage that follows it). The ring
//! exists only when every journal mirror has a place for it.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::aligned::AlignedBuf;
use super::device::{self, DeviceInfo};
use super::erasure::Codec;
use super::error::StorageError;
use super::format::{self, Record, DEV_MISSING};
use super::index::{Index, StageMarkState};
use super::stripes::{encode_shards, ShardSlice};
use crate::constants::{BLOCK_BYTES, STAGE_RING_BYTES};

/// A ring entry as recovery reads it: the batch's records and its packed stripe's data.
pub type Entry = (Vec<Record>, Vec<u8>);

/// Never a ring salt (nor, in practice, a journal generation).
pub const STAGE_GENERATION: u64 = u64::MAX;

fn ring_path(dir: &Path, core: usize) -> PathBuf {
    dir.join(format!("core-{core}.stage"))
}

/// Where one mirror keeps a core's ring: `STAGE_RING_BYTES` from `offset` of a file.
#[derive(Clone, Debug)]
pub enum RingPlace {
    /// `core-C.stage` in a directory device's `tessera` directory (created on first use).
    Dir(PathBuf),
    /// A block device's ring region (`blockdev::Label::ring_region`).
    Block { path: PathBuf, offset: u64 },
}

impl RingPlace {
    /// The whole ring's bytes, for recovery; `None` if it cannot be read.
    fn read(&self, core: usize) -> Option<Vec<u8>> {
        match self {
            RingPlace::Dir(dir) => fs::read(ring_path(dir, core)).ok(),
            RingPlace::Block { path, offset } => {
                let device = super::blockdev::open_direct(path, 0).ok()?;
                let bytes =
                    super::blockdev::read_direct(&device, *offset, STAGE_RING_BYTES as usize);
                bytes.ok().map(|b| b.as_slice().to_vec())
            }
        }
    }
}

/// Bytes an entry with a payload of `payload_bytes` occupies in the ring.
pub fn entry_bytes(payload_bytes: usize) -> u64 {
    super::journal::frame_bytes(payload_bytes)
}

/// The head of an entry's payload: the records' length (u32), then the records. The packed
/// stripe's data (possibly none) follows it (`StageRing::append`).
pub fn payload_head(records: &[Record]) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    for record in records {
        record.encode(&mut out);
    }
    let records_len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&records_len.to_le_bytes());
    out
}

/// Splits an entry's payload back into records and data; `None` if it does not parse.
pub fn decode_payload(payload: &[u8]) -> Option<(Vec<Record>, &[u8])> {
    let len = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    let records = format::decode_records(payload.get(4..4usize.checked_add(len)?)?)?;
    Some((records, &payload[4 + len..]))
}

struct RingMirror {
    dev: u16,
    file: monoio::fs::File,
    /// Where the ring starts in `file`.
    base: u64,
    failed: Cell<bool>,
}

pub struct StageRing {
    core: usize,
    mirrors: Vec<RingMirror>,
    /// Generation field of this run's entries: random per start, recorded in every mark.
    salt: u64,
    /// Where the next entry goes.
    head: Cell<u64>,
    /// The sequence of the next entry.
    next_seq: Cell<u64>,
    /// Sequence and offset just past the last entry whose batch is done (acknowledged, or
    /// failed and skipped): what a destage may mark. An entry being written is past it, so a
    /// destage that runs meanwhile never marks it journaled before its records are.
    done_seq: Cell<u64>,
    done_offset: Cell<u64>,
    /// Offset and sequence of the oldest entry not yet destaged (`== next_seq`: none).
    tail: Cell<u64>,
    tail_seq: Cell<u64>,
}

/// An open ring: its device, file, and where the ring starts in the file.
pub type RingFile = (u16, fs::File, u64);

/// Opens `core`'s ring at each place, with O_DIRECT | O_DSYNC: a directory's ring file is
/// created and zero-filled first if needed (so that entries are overwrites and cost no
/// filesystem metadata); a block device's region is used as it is (entries are told from old
/// bytes by their salt and CRC).
pub fn open_files(core: usize, places: &[(u16, RingPlace)]) -> Result<Vec<RingFile>, String> {
    let mut out = Vec::with_capacity(places.len());
    for (dev, place) in places {
        let dir = match place {
            RingPlace::Dir(dir) => dir,
            RingPlace::Block { path, offset } => {
                let file = super::blockdev::open_direct(path, libc::O_DSYNC)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                out.push((*dev, file, *offset));
                continue;
            }
        };
        let path = ring_path(dir, core);
        let ready = fs::metadata(&path).is_ok_and(|m| m.len() == STAGE_RING_BYTES);
        if !ready {
            let tmp = dir.join(format!("core-{core}.stage.tmp"));
            let mut file = fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..STAGE_RING_BYTES / zeros.len() as u64 {
                file.write_all(&zeros)
                    .map_err(|e| format!("{}: {e}", tmp.display()))?;
            }
            file.sync_all()
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // The zeros went through the page cache: drop it, or every O_DIRECT write would
        // first have to invalidate cached pages.
        // SAFETY: `file` is an open descriptor; the call only advises the kernel.
        unsafe {
            libc::posix_fadvise(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
                0,
                libc::POSIX_FADV_DONTNEED,
            );
        }
        out.push((*dev, file, 0));
    }
    Ok(out)
}

/// The entries recovery must replay, as (records, data): the longest run, over the mirrors, of
/// valid entries with sequences `mark.next_seq, mark.next_seq + 1, ...` carrying `mark.salt`,
/// the first at `mark.offset` or 0, each next one right after the previous or at 0 (where the
/// writer wrapped). An entry of an earlier lap or an earlier run of the node has a smaller
/// sequence or another salt and ends the run; so does a torn one.
pub fn recover(
    core: usize,
    places: &[RingPlace],
    mark: StageMarkState,
) -> Result<Vec<Entry>, StorageError> {
    let block = BLOCK_BYTES as usize;
    let mut best: Vec<Vec<u8>> = Vec::new();
    for place in places {
        let Some(bytes) = place.read(core) else {
            continue;
        };
        let entry_at = |pos: usize, seq: u64| {
            bytes
                .get(pos..)
                .and_then(|rest| format::decode_frame(rest, mark.salt, seq, block))
        };
        let mut run = Vec::new();
        let mut pos = usize::try_from(mark.offset).unwrap_or(usize::MAX);
        // Bounded: every pass takes one valid entry, and each sequence is written once.
        loop {
            let seq = mark.next_seq + run.len() as u64;
            let found = entry_at(pos, seq).map(|f| (pos, f)).or_else(|| {
                (pos != 0)
                    .then(|| entry_at(0, seq).map(|f| (0, f)))
                    .flatten()
            });
            let Some((at, frame)) = found else {
                break;
            };
            run.push(frame.payload.to_vec());
            pos = at + frame.padded_len;
        }
        if run.len() > best.len() {
            best = run;
        }
    }
    best.iter()
        .map(|payload| {
            decode_payload(payload)
                .map(|(records, data)| (records, data.to_vec()))
                .ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "core {core}: staging entry with a valid CRC holds bad records"
                    ))
                })
        })
        .collect()
}

/// Recovery: writes the stripes of replayed entries home from their data bytes (`data_of`:
/// packed stripe id → data), those the index still holds, and flushes the devices written.
/// Synchronous O_DIRECT: recovery runs before the core serves. Fails if a stripe cannot get
/// `k` shards home — the ring is then left as it is, and the node does not start.
pub fn write_home(
    core: usize,
    index: &Index,
    data_of: &HashMap<u64, Vec<u8>>,
    devices: &[DeviceInfo],
) -> Result<usize, StorageError> {
    let mut regions: Vec<Option<(fs::File, u64)>> = devices
        .iter()
        .map(|info| {
            if !info.up {
                return None;
            }
            device::open_data_region_std(info, core)
                .ok()
                .map(|(file, base, _)| (file, base))
        })
        .collect();
    let mut written_to = vec![false; devices.len()];
    let mut codec = Codec::new();
    let mut stripes = 0;
    for (id, data) in data_of {
        let Some(packed) = index.packed.get(id) else {
            continue; // every object in it was deleted or replaced later in the ring
        };
        let stripe = &packed.stripe;
        let (k, m) = (stripe.geometry.k as usize, stripe.geometry.m as usize);
        let s = stripe.shard_len as usize;
        if data.len() != stripe.data_len as usize || data.len() > k * s {
            return Err(StorageError::Corrupt(format!(
                "core {core}: staged data of packed stripe {id} has {} bytes, its stripe {}",
                data.len(),
                stripe.data_len
            )));
        }
        let mut buf = AlignedBuf::zeroed((k + m) * s);
        buf.as_mut_slice()[..data.len()].copy_from_slice(data);
        let crcs = encode_shards(&mut codec, stripe.geometry, &mut buf, s)?;
        let mut home = 0;
        for (i, shard) in stripe.shards.iter().enumerate() {
            let bytes = &buf.as_slice()[i * s..(i + 1) * s];
            if shard.dev == DEV_MISSING {
                continue;
            }
            if crcs[i] != shard.crc {
                return Err(StorageError::Corrupt(format!(
                    "core {core}: staged packed stripe {id} re-encodes to other bytes than it recorded"
                )));
            }
            let dev = shard.dev as usize;
            let Some(Some((file, base))) = regions.get(dev) else {
                continue;
            };
            match file.write_all_at(bytes, base + shard.offset) {
                Ok(()) => {
                    written_to[dev] = true;
                    home += 1;
                }
                Err(e) => {
                    eprintln!("level=error msg=\"cannot write a staged shard home; device down\" core={core} dev={dev} err=\"{e}\"");
                    regions[dev] = None;
                }
            }
        }
        if home < k {
            return Err(StorageError::InsufficientDevices {
                up: home,
                needed: k,
            });
        }
        stripes += 1;
    }
    for (dev, region) in regions.iter().enumerate() {
        if let (true, Some((file, _))) = (written_to[dev], region) {
            file.sync_data().map_err(|e| {
                StorageError::Io(format!("flushing device {dev} after the staging ring: {e}"))
            })?;
        }
    }
    Ok(stripes)
}

impl StageRing {
    /// The ring over `files` (from `open_files`), empty, its next entry sequence `next_seq`.
    pub fn new(
        core: usize,
        files: Vec<RingFile>,
        next_seq: u64,
    ) -> Result<StageRing, StorageError> {
        let mut mirrors = Vec::with_capacity(files.len());
        for (dev, file, base) in files {
            match monoio::fs::File::from_std(file) {
                Ok(file) => mirrors.push(RingMirror {
                    dev,
                    file,
                    base,
                    failed: Cell::new(false),
                }),
                Err(e) => eprintln!("level=error msg=\"staging ring mirror failed at start\" core={core} dev={dev} err=\"{e}\""),
            }
        }
        if mirrors.is_empty() {
            return Err(StorageError::NoJournalMirror);
        }
        Ok(StageRing {
            core,
            mirrors,
            // Never the journal's marker value, never 0 (an all-zero header).
            salt: rand::random::<u64>().clamp(1, STAGE_GENERATION - 1),
            head: Cell::new(0),
            next_seq: Cell::new(next_seq),
            done_seq: Cell::new(next_seq),
            done_offset: Cell::new(0),
            tail: Cell::new(0),
            tail_seq: Cell::new(next_seq),
        })
    }

    /// The mark that says "every entry of a batch that is done is destaged" — never an
    /// entry still being written (`done`).
    pub fn mark(&self) -> StageMarkState {
        StageMarkState {
            next_seq: self.done_seq.get(),
            offset: self.done_offset.get(),
            salt: self.salt,
        }
    }

    /// The batch of the last entry written is done: its records are in the staged records
    /// (acknowledged), or it failed and a mark must pass it. Every entry written so far is
    /// then covered by the next `mark`.
    pub fn done(&self) {
        self.done_seq.set(self.next_seq.get());
        self.done_offset.set(self.head.get());
    }

    /// Whether every entry written is destaged.
    pub fn is_empty(&self) -> bool {
        self.tail_seq.get() == self.next_seq.get()
    }

    /// Bytes between the oldest entry not destaged and the head (a wrap's unused end
    /// included).
    pub fn used_bytes(&self) -> u64 {
        if self.is_empty() {
            0
        } else if self.head.get() > self.tail.get() {
            self.head.get() - self.tail.get()
        } else {
            STAGE_RING_BYTES - self.tail.get() + self.head.get()
        }
    }

    /// Where an entry of `len` bytes would go, if there is room: at the head, or at 0 when
    /// the end of the ring is too short, never over an entry not yet destaged.
    fn place(&self, len: u64) -> Option<u64> {
        let (head, tail) = (self.head.get(), self.tail.get());
        if self.is_empty() {
            return (len <= STAGE_RING_BYTES).then_some(0);
        }
        if head > tail {
            if head + len <= STAGE_RING_BYTES {
                return Some(head);
            }
            return (len <= tail).then_some(0);
        }
        (head + len <= tail).then_some(head)
    }

    /// Whether an entry with this payload fits now.
    pub fn fits(&self, payload_bytes: usize) -> bool {
        self.place(entry_bytes(payload_bytes)).is_some()
    }

    /// Whether an entry with this payload fits an empty ring.
    pub fn can_hold(payload_bytes: usize) -> bool {
        entry_bytes(payload_bytes) <= STAGE_RING_BYTES
    }

    /// Writes one entry — payload `head` then `data` — durably to every mirror still up,
    /// from one buffer. Its sequence is used even when the write fails: the caller then
    /// destages with a mark past it, so it is never replayed.
    pub async fn append(&self, head: &[u8], data: &[u8]) -> Result<(), StorageError> {
        let len = entry_bytes(head.len() + data.len());
        let Some(offset) = self.place(len) else {
            panic!("staging ring: the caller destages before an entry that does not fit");
        };
        let seq = self.next_seq.get();
        if self.is_empty() {
            self.tail.set(offset);
        }
        self.next_seq.set(seq + 1);
        self.head.set(offset + len);
        debug_assert!(self.head.get() <= STAGE_RING_BYTES);
        let mut buf = AlignedBuf::dirty(len as usize);
        format::write_frame(self.salt, seq, &[head, data], buf.as_mut_slice());
        let buf = Rc::new(buf);
        let writes = self
            .mirrors
            .iter()
            .filter(|m| !m.failed.get())
            .map(|mirror| {
                let slice = ShardSlice::new(buf.clone(), 0, len as usize);
                let at = mirror.base + offset;
                async move { (mirror, mirror.file.write_all_at(slice, at).await.0) }
            });
        let results = futures::future::join_all(writes).await;
        super::journal::settle_mirror_writes(
            self.core,
            "staging ring",
            results.into_iter().map(|(m, r)| (m.dev, &m.failed, r)),
        )
    }

    /// A journal frame now carries `mark` (taken with `mark()` before a destage): entries
    /// before it are destaged and their space is free.
    pub fn destaged(&self, mark: StageMarkState) {
        assert!(mark.next_seq >= self.tail_seq.get() && mark.next_seq <= self.done_seq.get());
        self.tail_seq.set(mark.next_seq);
        self.tail.set(mark.offset);
        if self.is_empty() {
            // Recovery looks at `mark.offset`, then at 0: the next entry may go to 0.
            self.head.set(0);
            self.tail.set(0);
            self.done_offset.set(0);
        }
    }

    /// Whether a destage would mark nothing new: no entry done since the last mark.
    pub fn nothing_done_since(&self, mark: StageMarkState) -> bool {
        self.done_seq.get() == mark.next_seq && mark.next_seq == self.tail_seq.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_payload(records: &[Record], data: &[u8]) -> Vec<u8> {
        let mut payload = payload_head(records);
        payload.extend_from_slice(data);
        payload
    }

    #[test]
    fn payload_round_trip() {
        let records = vec![
            Record::Delete { key: b"a".to_vec() },
            Record::StageMark {
                next_seq: 7,
                offset: 8192,
                salt: 3,
            },
        ];
        let data = vec![5u8; 10_000];
        let payload = encode_payload(&records, &data);
        let (back, bytes) = decode_payload(&payload).expect("parses");
        assert_eq!(back, records);
        assert_eq!(bytes, &data[..]);
        assert!(decode_payload(&payload[..3]).is_none());
        let empty = encode_payload(&[], &[]);
        assert_eq!(
            decode_payload(&empty).map(|(r, d)| (r.len(), d.len())),
            Some((0, 0))
        );
    }

    #[test]
    fn recover_takes_the_longest_run_from_the_mark() {
        let dir = std::env::temp_dir().join(format!("tessera-stage-{}", std::process::id()));
        let a = dir.join("a");
        let b = dir.join("b");
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        const SALT: u64 = 0x5a17;
        let block = BLOCK_BYTES as usize;
        let entry = |salt: u64, seq: u64| {
            let payload = encode_payload(
                &[Record::Delete {
                    key: vec![seq as u8],
                }],
                &[seq as u8; 100],
            );
            let mut frame = Vec::new();
            format::encode_frame(salt, seq, &payload, block, &mut frame);
            assert_eq!(frame.len(), block);
            frame
        };
        let ring = |entries: &[(usize, u64, u64)]| {
            let mut bytes = vec![0u8; STAGE_RING_BYTES as usize];
            for &(slot, salt, seq) in entries {
                bytes[slot * block..(slot + 1) * block].copy_from_slice(&entry(salt, seq));
            }
            bytes
        };
        let mark = |next_seq: u64, slot: usize| StageMarkState {
            next_seq,
            offset: (slot * block) as u64,
            salt: SALT,
        };
        let (pa, pb) = (RingPlace::Dir(a.clone()), RingPlace::Dir(b.clone()));
        // Mirror a: 10, 11, 12 from slot 5; mirror b: 10, 11, then an entry of an earlier lap.
        let mut ring_a = ring(&[(5, SALT, 10), (6, SALT, 11), (7, SALT, 12)]);
        fs::write(ring_path(&a, 3), &ring_a).unwrap();
        fs::write(
            ring_path(&b, 3),
            ring(&[(5, SALT, 10), (6, SALT, 11), (7, SALT, 4)]),
        )
        .unwrap();
        let got = recover(3, &[pb.clone(), pa.clone()], mark(10, 5)).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[2].0, vec![Record::Delete { key: vec![12] }]);
        assert_eq!(got[2].1, vec![12u8; 100]);
        // From a later mark, or under another salt, nothing matches.
        assert!(recover(3, &[pa.clone(), pb.clone()], mark(13, 8))
            .unwrap()
            .is_empty());
        let other = StageMarkState {
            salt: SALT + 1,
            ..mark(10, 5)
        };
        assert!(recover(3, std::slice::from_ref(&pa), other)
            .unwrap()
            .is_empty());
        // A torn entry ends the run.
        ring_a[7 * block + 40] ^= 1;
        fs::write(ring_path(&a, 3), &ring_a).unwrap();
        assert_eq!(
            recover(3, std::slice::from_ref(&pa), mark(10, 5))
                .unwrap()
                .len(),
            2
        );
        // The writer wrapped: 10 at the mark, 11 and 12 at the start; a run of another salt
        // (an earlier start of the node) right after 10 is not taken.
        let wrapped = ring(&[
            (0, SALT, 11),
            (1, SALT, 12),
            (9, SALT, 10),
            (10, SALT + 7, 11),
        ]);
        fs::write(ring_path(&a, 3), &wrapped).unwrap();
        let got = recover(3, std::slice::from_ref(&pa), mark(10, 9)).unwrap();
        assert_eq!(
            got.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(),
            vec![
                vec![Record::Delete { key: vec![10] }],
                vec![Record::Delete { key: vec![11] }],
                vec![Record::Delete { key: vec![12] }],
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
