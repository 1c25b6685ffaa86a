//! One core's metadata journal, mirrored on `m + 1` devices, and its checkpoints.
//!
//! Per mirror and generation G: a checkpoint (the state *before* journal generation G, written
//! once, durably, so that a torn write is detected) and a journal (frames appended with
//! O_DIRECT | O_DSYNC, so a completed write is durable). Where those bytes live — files in a
//! directory device, or alternating slots on a raw block device — is `mirror.rs`'s business;
//! the logic is here, once. Recovery loads the newest checkpoint that checks out on any
//! mirror, then replays generations G, G+1, ... from whichever mirror holds the longest valid
//! run of frames, stopping at the first torn or unwritten frame. It then writes a fresh
//! checkpoint of the recovered state to every mirror under a new generation, so mirrors agree
//! again and frames a crash left half-written can never be replayed later.
//!
//! Invariants: a frame is acknowledged (its batch's requests answered) only after at least one
//! mirror wrote it durably; a mirror that fails a write is dropped, never retried. A frame
//! never crosses the end of its journal (a block slot is bounded): `fits` says whether the
//! next frame does, and the commit loop rotates first when it does not.

use std::cell::Cell;

use super::aligned::AlignedBuf;
use super::error::StorageError;
use super::format::{self, Record};
use super::mirror::{JournalFile, MirrorLoc};
use super::stripes::ShardSlice;
use crate::constants::BLOCK_BYTES;

pub struct Mirror {
    pub dev: u16,
    pub loc: MirrorLoc,
    file: monoio::fs::File,
    /// Where this mirror's journal starts in `file` (0 for a file, the slot for a block device).
    base: u64,
    /// Bytes from `base` already written. Frames are appended only below it: `append` first
    /// extends a file with zeros, `PREPARE_STEP` at a time. An O_DSYNC write that extends a
    /// file must also commit the filesystem's metadata (ext4: a jbd2 commit); an overwrite
    /// need not — measured: 4 KiB durable PUTs +28 % (docs/performance.md).
    prepared: Cell<u64>,
    failed: Cell<bool>,
}

/// How far ahead of the last frame a journal file is zero-filled.
const PREPARE_STEP: u64 = 4 << 20;

impl Mirror {
    /// Makes sure bytes `[0, end)` of this mirror's journal are written (zero-filling a
    /// file up to `PREPARE_STEP` past `end`), so a frame there is an overwrite. The file is
    /// O_DSYNC: once this returns, the zeros and the file size are durable.
    async fn prepare(&self, end: u64) -> std::io::Result<()> {
        let prepared = self.prepared.get();
        if end <= prepared {
            return Ok(());
        }
        let target = end.div_ceil(BLOCK_BYTES) * BLOCK_BYTES + PREPARE_STEP;
        debug_assert!(prepared.is_multiple_of(BLOCK_BYTES) && target > prepared);
        let zeros = AlignedBuf::zeroed((target - prepared) as usize);
        let (result, _) = self.file.write_all_at(zeros, self.base + prepared).await;
        result?;
        self.prepared.set(target);
        Ok(())
    }
}

pub struct Journal {
    core: usize,
    mirrors: Vec<Mirror>,
    generation: Cell<u64>,
    sequence: Cell<u64>,
    offset: Cell<u64>,
    /// Smallest journal capacity over the mirrors (`u64::MAX` when all are files).
    capacity_bytes: u64,
}

/// A generation whose checkpoints are written and journal files opened (`Journal::prepare`),
/// waiting to be installed on its core.
pub struct PreparedGeneration {
    core: usize,
    generation: u64,
    opened: Vec<(u16, MirrorLoc, JournalFile)>,
}

/// What recovery found: the records to replay, in order, and the next generation to use.
pub struct Recovered {
    pub records: Vec<Record>,
    /// The last frame's records (its `Unsynced` marker removed) when that frame was written
    /// alongside its data: the caller replays them only after checking their new stripes.
    /// Empty otherwise. Every earlier frame's data was durable before the next frame began.
    pub unverified: Vec<Record>,
    pub next_generation: u64,
    pub frames_replayed: usize,
    pub fresh: bool,
}

/// The outcome of one write to every mirror (journal or staging ring): a mirror whose write
/// failed is dropped (never retried), and the write stands if one mirror has it.
pub(super) fn settle_mirror_writes<'a>(
    core: usize,
    what: &str,
    results: impl IntoIterator<Item = (u16, &'a Cell<bool>, std::io::Result<()>)>,
) -> Result<(), StorageError> {
    let mut durable = 0;
    for (dev, failed, result) in results {
        match result {
            Ok(()) => durable += 1,
            Err(e) => {
                eprintln!("level=error msg=\"{what} write failed; dropping mirror\" core={core} dev={dev} err=\"{e}\"");
                failed.set(true);
            }
        }
    }
    if durable == 0 {
        return Err(StorageError::NoJournalMirror);
    }
    Ok(())
}

/// Bytes a frame with a payload of `payload_bytes` occupies in the journal.
pub fn frame_bytes(payload_bytes: usize) -> u64 {
    (format::FRAME_HEADER_BYTES as u64 + payload_bytes as u64).div_ceil(BLOCK_BYTES) * BLOCK_BYTES
}

/// Reads the newest valid checkpoint and the journals after it from the mirrors.
pub fn recover(core: usize, mirrors: &[MirrorLoc]) -> Result<Recovered, StorageError> {
    let mut best: Option<(u64, Vec<u8>)> = None;
    let mut max_generation = 0;
    for mirror in mirrors {
        for generation in mirror.checkpoint_generations(core).into_iter().rev() {
            max_generation = max_generation.max(generation);
            if best.as_ref().is_some_and(|(g, _)| *g >= generation) {
                break;
            }
            if let Some(payload) = mirror.read_checkpoint(core, generation) {
                best = Some((generation, payload));
                break;
            }
        }
        if let Some(g) = mirror.journal_generation_max(core) {
            max_generation = max_generation.max(g);
        }
    }
    let Some((checkpoint_generation, payload)) = best else {
        if max_generation > 0 {
            return Err(StorageError::Corrupt(format!(
                "core {core}: journal files exist but no valid checkpoint on any mirror"
            )));
        }
        return Ok(Recovered {
            records: Vec::new(),
            unverified: Vec::new(),
            next_generation: 1,
            frames_replayed: 0,
            fresh: true,
        });
    };
    let mut records = format::decode_records(&payload).ok_or_else(|| {
        StorageError::Corrupt(format!(
            "core {core}: checkpoint {checkpoint_generation} records"
        ))
    })?;
    let mut frames_replayed = 0;
    // Records of the last frame seen so far; moved into `records` when another follows it.
    let mut last: Vec<Record> = Vec::new();
    for generation in checkpoint_generation..=max_generation {
        let longest = mirrors
            .iter()
            .map(|mirror| mirror.read_frames(core, generation))
            .max_by_key(Vec::len)
            .unwrap_or_default();
        for frame in &longest {
            let frame_records = format::decode_records(frame).ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "core {core}: frame with a valid CRC holds bad records"
                ))
            })?;
            records.append(&mut last);
            last = frame_records;
        }
        frames_replayed += longest.len();
    }
    let unverified = if last.first() == Some(&Record::Unsynced) {
        last.split_off(1)
    } else {
        records.append(&mut last);
        Vec::new()
    };
    // Earlier frames' markers: their data was durable before the next frame was written.
    records.retain(|r| *r != Record::Unsynced);
    debug_assert!(!unverified.contains(&Record::Unsynced));
    Ok(Recovered {
        records,
        unverified,
        next_generation: max_generation + 1,
        frames_replayed,
        fresh: false,
    })
}

impl Journal {
    /// Starts generation `generation`: writes the checkpoint `state` (records that rebuild the
    /// current state) to every mirror, opens the new journals, and removes older generations.
    /// A mirror that fails is dropped; none left is an error.
    pub fn start(
        core: usize,
        mirror_locs: &[(u16, MirrorLoc)],
        generation: u64,
        state: &[u8],
    ) -> Result<Journal, StorageError> {
        Journal::install(Journal::prepare(core, mirror_locs, generation, state))
    }

    /// The blocking half of `start`: writes and syncs the checkpoint on every mirror and opens
    /// the new journal files. Touches no core state, so it may run on another thread (the
    /// commit loop's rotation does, so the core keeps serving while checkpoints are written).
    pub fn prepare(
        core: usize,
        mirror_locs: &[(u16, MirrorLoc)],
        generation: u64,
        state: &[u8],
    ) -> PreparedGeneration {
        let checkpoint = format::encode_checkpoint(generation, state);
        let mut opened = Vec::new();
        for (dev, loc) in mirror_locs {
            let result = loc
                .write_checkpoint(core, generation, &checkpoint)
                .and_then(|_| loc.open_journal(core, generation));
            match result {
                Ok(file) => opened.push((*dev, loc.clone(), file)),
                Err(e) => eprintln!("level=error msg=\"journal mirror failed at start\" core={core} dev={dev} generation={generation} err=\"{e}\""),
            }
        }
        PreparedGeneration {
            core,
            generation,
            opened,
        }
    }

    /// The core-side half of `start`: hands the files to io_uring and removes the older
    /// generations. Must run on the core that will append.
    pub fn install(prepared: PreparedGeneration) -> Result<Journal, StorageError> {
        let PreparedGeneration {
            core,
            generation,
            opened,
        } = prepared;
        let mut mirrors = Vec::new();
        let mut capacity_bytes = u64::MAX;
        for (dev, loc, journal_file) in opened {
            match monoio::fs::File::from_std(journal_file.file) {
                Ok(file) => {
                    capacity_bytes = capacity_bytes.min(journal_file.capacity_bytes);
                    mirrors.push(Mirror {
                        dev,
                        loc,
                        file,
                        base: journal_file.base,
                        prepared: Cell::new(journal_file.prepared_bytes),
                        failed: Cell::new(false),
                    });
                }
                Err(e) => eprintln!("level=error msg=\"journal mirror failed at start\" core={core} dev={dev} generation={generation} err=\"{e}\""),
            }
        }
        if mirrors.is_empty() {
            return Err(StorageError::NoJournalMirror);
        }
        let journal = Journal {
            core,
            mirrors,
            generation: Cell::new(generation),
            sequence: Cell::new(0),
            offset: Cell::new(0),
            capacity_bytes,
        };
        for mirror in &journal.mirrors {
            mirror.loc.remove_older(core, generation);
        }
        Ok(journal)
    }

    /// The live mirrors and the generation a rotation would start (for `prepare`).
    pub fn next_generation(&self) -> (Vec<(u16, MirrorLoc)>, u64) {
        let locs = self
            .mirrors
            .iter()
            .filter(|m| !m.failed.get())
            .map(|m| (m.dev, m.loc.clone()))
            .collect();
        (locs, self.generation.get() + 1)
    }

    /// Whether a frame with `payload_bytes` of payload still fits this generation's journal.
    pub fn fits(&self, payload_bytes: usize) -> bool {
        self.offset.get().saturating_add(frame_bytes(payload_bytes)) <= self.capacity_bytes
    }

    /// Bytes one generation's journal can hold (the smallest mirror's slot).
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// Appends one frame holding `payload` and returns once it is durable on at least one
    /// mirror. A frame that does not fit the journal is refused (nothing is written).
    pub async fn append(&self, payload: &[u8]) -> Result<(), StorageError> {
        if !self.fits(payload.len()) {
            return Err(StorageError::MetadataFull(format!(
                "core {}: a journal frame of {} bytes does not fit the journal slot ({} of {} bytes used)",
                self.core,
                frame_bytes(payload.len()),
                self.offset.get(),
                self.capacity_bytes
            )));
        }
        let len = frame_bytes(payload.len()) as usize;
        // One buffer for every mirror's write.
        let mut frame = AlignedBuf::dirty(len);
        format::write_frame(
            self.generation.get(),
            self.sequence.get(),
            &[payload],
            frame.as_mut_slice(),
        );
        let frame = std::rc::Rc::new(frame);
        let offset = self.offset.get();
        let writes = self
            .mirrors
            .iter()
            .filter(|m| !m.failed.get())
            .map(|mirror| {
                let buf = ShardSlice::new(frame.clone(), 0, len);
                let end = offset + len as u64;
                async move {
                    if let Err(e) = mirror.prepare(end).await {
                        return (mirror, Err(e));
                    }
                    let (result, _) = mirror.file.write_all_at(buf, mirror.base + offset).await;
                    (mirror, result)
                }
            });
        let results = futures::future::join_all(writes).await;
        settle_mirror_writes(
            self.core,
            "journal mirror",
            results.into_iter().map(|(m, r)| (m.dev, &m.failed, r)),
        )?;
        self.offset.set(offset + frame.len() as u64);
        self.sequence.set(self.sequence.get() + 1);
        Ok(())
    }

    pub fn bytes(&self) -> u64 {
        self.offset.get()
    }

    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    pub fn live_mirrors(&self) -> usize {
        self.mirrors.iter().filter(|m| !m.failed.get()).count()
    }

    /// Rotates to a new generation with a checkpoint of `state` (see `start`), on this thread.
    pub fn rotate(&mut self, state: &[u8]) -> Result<(), StorageError> {
        let (locs, generation) = self.next_generation();
        *self = Journal::start(self.core, &locs, generation, state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::FileExt;
    use std::path::PathBuf;

    use super::*;
    use crate::engine::blockdev::Label;

    fn record(i: u8) -> Record {
        Record::Delete { key: vec![i; 10] }
    }

    fn payload(records: &[Record]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            r.encode(&mut out);
        }
        out
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn recover_replays_checkpoint_then_journal_and_stops_at_torn_tail() {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let dirs: Vec<PathBuf> = (0..2).map(|i| tmp.path().join(format!("m{i}"))).collect();
        for d in &dirs {
            fs::create_dir_all(d).unwrap();
        }
        let locs: Vec<MirrorLoc> = dirs.iter().cloned().map(MirrorLoc::Dir).collect();
        let mirrors: Vec<(u16, MirrorLoc)> = locs
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, d)| (i as u16, d))
            .collect();
        let fresh = recover(0, &locs).unwrap();
        assert!(fresh.fresh && fresh.records.is_empty());
        block_on(async {
            let journal = Journal::start(0, &mirrors, 1, &payload(&[record(0)])).unwrap();
            for i in 1..=3 {
                journal.append(&payload(&[record(i)])).await.unwrap();
            }
        });
        let recovered = recover(0, &locs).unwrap();
        assert_eq!(recovered.records, (0..=3).map(record).collect::<Vec<_>>());
        assert_eq!(recovered.next_generation, 2);
        // The file was zero-filled ahead of its frames, and replay stopped at the zeros.
        let len = fs::metadata(locs[0].journal_path(0, 1).unwrap())
            .unwrap()
            .len();
        assert!(len >= PREPARE_STEP + 4096, "journal file of {len} bytes");
        // Tear the last frame on mirror 0 and remove mirror 1's journal: replay stops at two frames.
        let path = locs[0].journal_path(0, 1).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes[2 * 4096 + 33] ^= 0xFF;
        fs::write(&path, &bytes).unwrap();
        fs::remove_file(locs[1].journal_path(0, 1).unwrap()).unwrap();
        let recovered = recover(0, &locs).unwrap();
        assert_eq!(recovered.records, (0..=2).map(record).collect::<Vec<_>>());
        // Restarting writes generation 2 everywhere and drops generation 1.
        block_on(async {
            let state = payload(&recovered.records);
            let journal = Journal::start(0, &mirrors, recovered.next_generation, &state).unwrap();
            journal.append(&payload(&[record(9)])).await.unwrap();
        });
        assert!(!dirs[0].join("core-0.ckpt-1").exists());
        let again = recover(0, &locs).unwrap();
        let mut want: Vec<Record> = (0..=2).map(record).collect();
        want.push(record(9));
        assert_eq!(again.records, want);
    }

    /// A "block device" for slot tests: a sparse regular file on a real filesystem accepts the
    /// same O_DIRECT reads and writes at the same offsets.
    fn fake_block_device(dir: &std::path::Path, name: &str) -> MirrorLoc {
        let path = dir.join(name);
        let file = fs::File::create(&path).unwrap();
        let bytes = 64 << 20;
        file.set_len(bytes).unwrap();
        let label = Label::plan("node", 0, 2, bytes).unwrap();
        MirrorLoc::Block { path, label }
    }

    #[test]
    fn block_slots_alternate_and_a_torn_checkpoint_falls_back_to_the_other_slot() {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let loc = fake_block_device(tmp.path(), "blk");
        let MirrorLoc::Block { path, label } = loc.clone() else {
            unreachable!()
        };
        let mirrors = vec![(0u16, loc.clone())];
        let core = 1;
        assert!(recover(core, std::slice::from_ref(&loc)).unwrap().fresh);
        // Generations 1, 2, 3: each checkpoint holds the state so far, each journal one frame.
        let mut state = vec![record(0)];
        for generation in 1..=3u64 {
            block_on(async {
                let journal = Journal::start(core, &mirrors, generation, &payload(&state)).unwrap();
                assert!(journal.capacity_bytes() == label.slot_bytes);
                journal
                    .append(&payload(&[record(generation as u8)]))
                    .await
                    .unwrap();
            });
            state.push(record(generation as u8));
            let recovered = recover(core, std::slice::from_ref(&loc)).unwrap();
            assert_eq!(recovered.records, state, "generation {generation}");
            assert_eq!(recovered.next_generation, generation + 1);
        }
        // Slot 1 holds generation 3 (newest), slot 0 generation 2 (older, still valid).
        assert_eq!(loc.checkpoint_generations(core), vec![2, 3]);
        // Core 0's slots are untouched by core 1.
        assert!(recover(0, std::slice::from_ref(&loc)).unwrap().fresh);
        // Tear generation 3's checkpoint (its payload's last block): recovery falls back to
        // generation 2 and replays journal 2 — journal 3 is never read (its checkpoint is the
        // one that failed), so the state is that of the end of generation 2.
        let device = fs::OpenOptions::new().write(true).open(&path).unwrap();
        let (ckpt3, _) = label.checkpoint_slot(core, 3);
        device.write_all_at(&[0xEE; 8], ckpt3 + 40).unwrap();
        device.sync_all().unwrap();
        assert_eq!(loc.checkpoint_generations(core), vec![2]);
        let recovered = recover(core, std::slice::from_ref(&loc)).unwrap();
        assert_eq!(recovered.records, state[..3].to_vec());
        assert_eq!(
            recovered.next_generation, 3,
            "the torn slot is the one rewritten"
        );
        // The next start writes generation 3 again into the torn slot, leaving 2 intact; stale
        // frames of generation 1 in journal slot 1... are never mistaken for generation 3's.
        block_on(async {
            let journal = Journal::start(core, &mirrors, 3, &payload(&recovered.records)).unwrap();
            journal.append(&payload(&[record(7)])).await.unwrap();
        });
        let mut want = state[..3].to_vec();
        want.push(record(7));
        assert_eq!(
            recover(core, std::slice::from_ref(&loc)).unwrap().records,
            want
        );
        assert_eq!(loc.checkpoint_generations(core), vec![2, 3]);
    }

    #[test]
    fn block_journal_refuses_a_frame_past_its_slot_and_stale_frames_are_not_replayed() {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let loc = fake_block_device(tmp.path(), "blk");
        let mirrors = vec![(0u16, loc.clone())];
        let big = vec![record(1); 1];
        block_on(async {
            let journal = Journal::start(0, &mirrors, 1, &[]).unwrap();
            // Fill generation 1's slot with many frames, then go to generation 2 and 3: slot 1
            // of generation 3 still holds generation 1's frames beyond what 3 wrote.
            let mut n = 0;
            while journal.fits(payload(&big).len()) {
                journal.append(&payload(&big)).await.unwrap();
                n += 1;
                assert!(n < 100_000, "bounded");
            }
            assert!(journal.append(&payload(&big)).await.is_err(), "slot full");
            assert_eq!(journal.bytes(), journal.capacity_bytes());
        });
        for generation in 2..=3 {
            block_on(async {
                let journal =
                    Journal::start(0, &mirrors, generation, &payload(&[record(0)])).unwrap();
                journal
                    .append(&payload(&[record(generation as u8)]))
                    .await
                    .unwrap();
            });
        }
        let recovered = recover(0, std::slice::from_ref(&loc)).unwrap();
        assert_eq!(recovered.records, vec![record(0), record(3)]);
        assert_eq!(recovered.frames_replayed, 1);
    }

    #[test]
    fn a_checkpoint_larger_than_its_slot_is_refused_and_the_previous_one_stays() {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let loc = fake_block_device(tmp.path(), "blk");
        let MirrorLoc::Block { label, .. } = loc.clone() else {
            unreachable!()
        };
        let mirrors = vec![(0u16, loc.clone())];
        let huge = vec![record(2); label.slot_bytes as usize / 19 + 1];
        assert!(payload(&huge).len() as u64 > label.slot_bytes);
        block_on(async {
            Journal::start(0, &mirrors, 1, &payload(&[record(1)])).unwrap();
            // A state bigger than a slot: no mirror can take it, so the start fails loudly...
            assert!(matches!(
                Journal::start(0, &mirrors, 2, &payload(&huge)),
                Err(StorageError::NoJournalMirror)
            ));
        });
        let err = loc
            .write_checkpoint(0, 2, &format::encode_checkpoint(2, &payload(&huge)))
            .unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
        // ...and nothing was written: generation 1 is what recovery finds.
        let recovered = recover(0, std::slice::from_ref(&loc)).unwrap();
        assert_eq!(recovered.records, vec![record(1)]);
        assert_eq!(recovered.next_generation, 2);
    }

    #[test]
    fn mixed_dir_and_block_mirrors_recover_from_either() {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let dir = tmp.path().join("m0");
        fs::create_dir_all(&dir).unwrap();
        let locs = vec![
            MirrorLoc::Dir(dir.clone()),
            fake_block_device(tmp.path(), "blk"),
        ];
        let mirrors: Vec<(u16, MirrorLoc)> = locs
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, l)| (i as u16, l))
            .collect();
        block_on(async {
            let journal = Journal::start(0, &mirrors, 1, &payload(&[record(0)])).unwrap();
            journal.append(&payload(&[record(1)])).await.unwrap();
        });
        let want = vec![record(0), record(1)];
        assert_eq!(recover(0, &locs).unwrap().records, want);
        // Lose the directory mirror entirely: the block mirror alone has everything.
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(recover(0, &locs).unwrap().records, want);
        assert_eq!(recover(0, &locs[1..]).unwrap().records, want);
    }
}
