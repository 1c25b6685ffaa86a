//! One core's metadata journal, mirrored on `m + 1` devices, and its checkpoints.
//!
//! Files per mirror: `core-C.ckpt-G` (the state *before* journal generation G, written once,
//! atomically by rename) and `core-C.journal-G` (frames appended with O_DIRECT | O_DSYNC, so a
//! completed write is durable). Recovery loads the newest checkpoint that checks out on any
//! mirror, then replays generations G, G+1, ... from whichever mirror holds the longest valid
//! run of frames, stopping at the first torn or unwritten frame. It then writes a fresh
//! checkpoint of the recovered state to every mirror under a new generation, so mirrors agree
//! again and frames a crash left half-written can never be replayed later.
//!
//! Invariant: a frame is acknowledged (its batch's requests answered) only after at least one
//! mirror wrote it durably; a mirror that fails a write is dropped, never retried.

use std::cell::Cell;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::aligned::AlignedBuf;
use super::error::StorageError;
use super::format::{self, Record};
use crate::constants::BLOCK_BYTES;

pub struct Mirror {
    pub dev: u16,
    pub dir: PathBuf,
    file: Option<monoio::fs::File>,
    failed: Cell<bool>,
}

pub struct Journal {
    core: usize,
    mirrors: Vec<Mirror>,
    generation: Cell<u64>,
    sequence: Cell<u64>,
    offset: Cell<u64>,
}

fn ckpt_name(core: usize, generation: u64) -> String {
    format!("core-{core}.ckpt-{generation}")
}

fn journal_name(core: usize, generation: u64) -> String {
    format!("core-{core}.journal-{generation}")
}

/// Generations of files named `core-C.<kind>-G` in `dir`.
fn generations(dir: &Path, core: usize, kind: &str) -> Vec<u64> {
    let prefix = format!("core-{core}.{kind}-");
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<u64> = entries
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|g| g.parse().ok())
        })
        .collect();
    out.sort_unstable();
    out
}

/// Valid frames of one journal file, as payloads.
fn read_frames(path: &Path, generation: u64) -> Vec<Vec<u8>> {
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    let mut frames = Vec::new();
    let mut pos = 0usize;
    let block = BLOCK_BYTES as usize;
    while let Some(frame) =
        format::decode_frame(&bytes[pos..], generation, frames.len() as u64, block)
    {
        frames.push(frame.payload.to_vec());
        pos += frame.padded_len;
    }
    frames
}

/// What recovery found: the records to replay, in order, and the next generation to use.
pub struct Recovered {
    pub records: Vec<Record>,
    pub next_generation: u64,
    pub frames_replayed: usize,
    pub fresh: bool,
}

/// Reads the newest valid checkpoint and the journals after it from the mirror directories.
pub fn recover(core: usize, dirs: &[PathBuf]) -> Result<Recovered, StorageError> {
    let mut best: Option<(u64, Vec<u8>)> = None;
    let mut max_generation = 0;
    for dir in dirs {
        for generation in generations(dir, core, "ckpt").into_iter().rev() {
            max_generation = max_generation.max(generation);
            if best.as_ref().is_some_and(|(g, _)| *g >= generation) {
                break;
            }
            let Ok(bytes) = fs::read(dir.join(ckpt_name(core, generation))) else {
                continue;
            };
            if let Some((g, payload)) = format::decode_checkpoint(&bytes) {
                if g == generation {
                    best = Some((generation, payload.to_vec()));
                    break;
                }
            }
        }
        if let Some(&g) = generations(dir, core, "journal").last() {
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
    for generation in checkpoint_generation..=max_generation {
        let longest = dirs
            .iter()
            .map(|dir| read_frames(&dir.join(journal_name(core, generation)), generation))
            .max_by_key(Vec::len)
            .unwrap_or_default();
        for frame in &longest {
            let frame_records = format::decode_records(frame).ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "core {core}: frame with a valid CRC holds bad records"
                ))
            })?;
            records.extend(frame_records);
        }
        frames_replayed += longest.len();
    }
    Ok(Recovered {
        records,
        next_generation: max_generation + 1,
        frames_replayed,
        fresh: false,
    })
}

/// Writes `bytes` to `dir/name` atomically: temporary file, fsync, rename, fsync directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}

fn open_journal_file(dir: &Path, core: usize, generation: u64) -> io::Result<monoio::fs::File> {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
        .open(dir.join(journal_name(core, generation)))?;
    fs::File::open(dir)?.sync_all()?;
    monoio::fs::File::from_std(file)
}

impl Journal {
    /// Starts generation `generation`: writes the checkpoint `state` (records that rebuild the
    /// current state) to every mirror, opens the new journal files, and removes older
    /// generations. A mirror that fails is dropped; none left is an error.
    pub fn start(
        core: usize,
        mirror_devs: &[(u16, PathBuf)],
        generation: u64,
        state: &[u8],
    ) -> Result<Journal, StorageError> {
        let checkpoint = format::encode_checkpoint(generation, state);
        let mut mirrors = Vec::new();
        for (dev, dir) in mirror_devs {
            let opened = write_atomically(dir, &ckpt_name(core, generation), &checkpoint)
                .and_then(|_| open_journal_file(dir, core, generation));
            match opened {
                Ok(file) => mirrors.push(Mirror { dev: *dev, dir: dir.clone(), file: Some(file), failed: Cell::new(false) }),
                Err(e) => eprintln!("level=error msg=\"journal mirror failed at start\" core={core} dev={dev} err=\"{e}\""),
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
        };
        journal.remove_older(generation);
        Ok(journal)
    }

    fn remove_older(&self, generation: u64) {
        for mirror in &self.mirrors {
            for kind in ["ckpt", "journal"] {
                for g in generations(&mirror.dir, self.core, kind) {
                    if g < generation {
                        let name = if kind == "ckpt" {
                            ckpt_name(self.core, g)
                        } else {
                            journal_name(self.core, g)
                        };
                        let _ = fs::remove_file(mirror.dir.join(name));
                    }
                }
            }
        }
    }

    /// Appends one frame holding `payload` and returns once it is durable on at least one
    /// mirror.
    pub async fn append(&self, payload: &[u8]) -> Result<(), StorageError> {
        let block = BLOCK_BYTES as usize;
        let mut frame = Vec::with_capacity(payload.len() + 64);
        format::encode_frame(
            self.generation.get(),
            self.sequence.get(),
            payload,
            block,
            &mut frame,
        );
        let offset = self.offset.get();
        let writes = self
            .mirrors
            .iter()
            .filter(|m| !m.failed.get())
            .map(|mirror| {
                let mut buf = AlignedBuf::dirty(frame.len());
                buf.as_mut_slice().copy_from_slice(&frame);
                async move {
                    let file = mirror.file.as_ref().expect("live mirror has a file");
                    let (result, _) = file.write_all_at(buf, offset).await;
                    (mirror, result)
                }
            });
        let results = futures::future::join_all(writes).await;
        let mut durable = 0;
        for (mirror, result) in results {
            match result {
                Ok(()) => durable += 1,
                Err(e) => {
                    eprintln!("level=error msg=\"journal mirror write failed; dropping mirror\" core={} dev={} err=\"{e}\"", self.core, mirror.dev);
                    mirror.failed.set(true);
                }
            }
        }
        if durable == 0 {
            return Err(StorageError::NoJournalMirror);
        }
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

    /// Rotates to a new generation with a checkpoint of `state` (see `start`).
    pub fn rotate(&mut self, state: &[u8]) -> Result<(), StorageError> {
        let devs: Vec<(u16, PathBuf)> = self
            .mirrors
            .iter()
            .filter(|m| !m.failed.get())
            .map(|m| (m.dev, m.dir.clone()))
            .collect();
        *self = Journal::start(self.core, &devs, self.generation.get() + 1, state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn recover_replays_checkpoint_then_journal_and_stops_at_torn_tail() {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let dirs: Vec<PathBuf> = (0..2).map(|i| tmp.path().join(format!("m{i}"))).collect();
        for d in &dirs {
            fs::create_dir_all(d).unwrap();
        }
        let mirrors: Vec<(u16, PathBuf)> = dirs
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, d)| (i as u16, d))
            .collect();
        let fresh = recover(0, &dirs).unwrap();
        assert!(fresh.fresh && fresh.records.is_empty());
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .build()
            .unwrap()
            .block_on(async {
                let journal = Journal::start(0, &mirrors, 1, &payload(&[record(0)])).unwrap();
                for i in 1..=3 {
                    journal.append(&payload(&[record(i)])).await.unwrap();
                }
            });
        let recovered = recover(0, &dirs).unwrap();
        assert_eq!(recovered.records, (0..=3).map(record).collect::<Vec<_>>());
        assert_eq!(recovered.next_generation, 2);
        // Tear the last frame on mirror 0 and remove mirror 1's journal: replay stops at two frames.
        let path = dirs[0].join(journal_name(0, 1));
        let mut bytes = fs::read(&path).unwrap();
        bytes[2 * 4096 + 33] ^= 0xFF;
        fs::write(&path, &bytes).unwrap();
        fs::remove_file(dirs[1].join(journal_name(0, 1))).unwrap();
        let recovered = recover(0, &dirs).unwrap();
        assert_eq!(recovered.records, (0..=2).map(record).collect::<Vec<_>>());
        // Restarting writes generation 2 everywhere and drops generation 1.
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .build()
            .unwrap()
            .block_on(async {
                let state = payload(&recovered.records);
                let journal =
                    Journal::start(0, &mirrors, recovered.next_generation, &state).unwrap();
                journal.append(&payload(&[record(9)])).await.unwrap();
            });
        assert!(!dirs[0].join(ckpt_name(0, 1)).exists());
        let again = recover(0, &dirs).unwrap();
        let mut want: Vec<Record> = (0..=2).map(record).collect();
        want.push(record(9));
        assert_eq!(again.records, want);
    }
}
