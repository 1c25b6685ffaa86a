//! Where one journal mirror keeps a core's checkpoints and journal frames: files in a
//! directory device, or fixed slots on a raw block device. `journal.rs` owns the logic
//! (which generation to load, replay, rotation); this module only stores and fetches bytes.
//!
//! Directory: `core-C.ckpt-G` written atomically by rename, `core-C.journal-G` created empty;
//! older generations are deleted once a new one is in place.
//!
//! Block device (`blockdev.rs`): generation G uses checkpoint slot G % 2 and journal slot
//! G % 2. A checkpoint is written in one O_DIRECT write then fdatasync; its header's CRC covers
//! the payload, so a torn write reads back as invalid and recovery uses the other slot (the
//! previous generation, left untouched). Slots are never cleared: frames of generation G - 2
//! left in a reused journal slot are refused by `format::decode_frame`'s generation check.
//!
//! Invariant: a block mirror reports only checkpoints that check out, so the next generation
//! (`newest valid + 1`) is always written over the *older or torn* slot, never over the
//! newest valid checkpoint.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::blockdev::{self, Label};
use super::format;
use crate::constants::BLOCK_BYTES;

/// One mirror's storage for one node's journals.
#[derive(Clone, Debug)]
pub enum MirrorLoc {
    /// The `tessera` directory of a directory device.
    Dir(PathBuf),
    /// A labelled raw block device.
    Block { path: PathBuf, label: Label },
}

/// A journal opened for appending: frames go to `file` at `base + offset`, and
/// `offset + frame length` must stay within `capacity_bytes`.
pub struct JournalFile {
    /// Plain std file: opened on any thread, handed to io_uring by the core (`Journal::install`).
    pub file: fs::File,
    pub base: u64,
    pub capacity_bytes: u64,
    /// Bytes from `base` already written (zeros or frames): appends below it overwrite and
    /// cost no filesystem metadata. A new file has none; a block slot has all.
    pub prepared_bytes: u64,
}

fn ckpt_name(core: usize, generation: u64) -> String {
    format!("core-{core}.ckpt-{generation}")
}

fn journal_name(core: usize, generation: u64) -> String {
    format!("core-{core}.journal-{generation}")
}

/// Generations of files named `core-C.<kind>-G` in `dir`, ascending.
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

/// Valid frames at the start of `bytes`, as payloads.
fn frames_of(bytes: &[u8], generation: u64) -> Vec<Vec<u8>> {
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

/// Writes `bytes` to `dir/name` atomically: temporary file, fsync, rename, fsync directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}

/// Payload of the checkpoint in `core`'s slot for `generation`, if it checks out and is that
/// generation's.
fn read_slot_checkpoint(
    device: &fs::File,
    label: &Label,
    core: usize,
    generation: u64,
) -> Option<Vec<u8>> {
    let (offset, slot_bytes) = label.checkpoint_slot(core, generation);
    let head = blockdev::read_direct(device, offset, BLOCK_BYTES as usize).ok()?;
    // Header: magic u32, version u16, reserved u16, generation u64, length u64, crc u32.
    let len = u64::from_le_bytes(head.as_slice()[16..24].try_into().ok()?);
    let total = len.checked_add(format::CHECKPOINT_HEADER_BYTES as u64)?;
    if total > slot_bytes {
        return None;
    }
    let padded = total.div_ceil(BLOCK_BYTES) * BLOCK_BYTES;
    let buf = blockdev::read_direct(device, offset, padded as usize).ok()?;
    let (g, payload) = format::decode_checkpoint(&buf.as_slice()[..total as usize])?;
    (g == generation).then(|| payload.to_vec())
}

/// Frames of `generation` in its journal slot, read one frame at a time (the slot may be
/// large and is mostly stale or unwritten).
fn read_slot_frames(
    device: &fs::File,
    label: &Label,
    core: usize,
    generation: u64,
) -> Vec<Vec<u8>> {
    let (base, slot_bytes) = label.journal_slot(core, generation);
    let block = BLOCK_BYTES as usize;
    let mut frames = Vec::new();
    let mut pos = 0u64;
    // Bounded: every frame advances `pos` by at least one block within the slot.
    while pos + BLOCK_BYTES <= slot_bytes {
        let Ok(head) = blockdev::read_direct(device, base + pos, block) else {
            break;
        };
        let Some(len) = format::frame_payload_len(head.as_slice()) else {
            break;
        };
        let padded =
            (format::FRAME_HEADER_BYTES as u64 + len as u64).div_ceil(BLOCK_BYTES) * BLOCK_BYTES;
        if pos + padded > slot_bytes {
            break;
        }
        let Ok(buf) = blockdev::read_direct(device, base + pos, padded as usize) else {
            break;
        };
        let Some(frame) =
            format::decode_frame(buf.as_slice(), generation, frames.len() as u64, block)
        else {
            break;
        };
        debug_assert_eq!(frame.padded_len as u64, padded);
        frames.push(frame.payload.to_vec());
        pos += padded;
    }
    frames
}

impl MirrorLoc {
    /// Where this mirror keeps `core`'s staging ring, if it has a place for one (a block
    /// device formatted before rings has none).
    pub fn ring_place(&self, core: usize) -> Option<super::stage::RingPlace> {
        match self {
            MirrorLoc::Dir(dir) => Some(super::stage::RingPlace::Dir(dir.clone())),
            MirrorLoc::Block { path, label } => label
                .ring_region(core)
                .filter(|&(_, len)| len == crate::constants::STAGE_RING_BYTES)
                .map(|(offset, _)| super::stage::RingPlace::Block {
                    path: path.clone(),
                    offset,
                }),
        }
    }

    /// Generations of the checkpoints this mirror holds for `core`, ascending. A directory
    /// lists its files (checked when read); a block device reports only checkpoints that
    /// check out (see the module invariant).
    pub fn checkpoint_generations(&self, core: usize) -> Vec<u64> {
        match self {
            MirrorLoc::Dir(dir) => generations(dir, core, "ckpt"),
            MirrorLoc::Block { path, label } => {
                let Ok(device) = blockdev::open_direct(path, 0) else {
                    return Vec::new();
                };
                let mut out: Vec<u64> = (0..2)
                    .filter_map(|slot| {
                        let (offset, _) = label.checkpoint_slot(core, slot);
                        let head = blockdev::read_direct(&device, offset, BLOCK_BYTES as usize);
                        let g = u64::from_le_bytes(head.ok()?.as_slice()[8..16].try_into().ok()?);
                        (g % 2 == slot && read_slot_checkpoint(&device, label, core, g).is_some())
                            .then_some(g)
                    })
                    .collect();
                out.sort_unstable();
                out
            }
        }
    }

    /// The newest journal generation present, where that can be known without a checkpoint
    /// (directories only: a block slot's generation is that of its checkpoint).
    pub fn journal_generation_max(&self, core: usize) -> Option<u64> {
        match self {
            MirrorLoc::Dir(dir) => generations(dir, core, "journal").last().copied(),
            MirrorLoc::Block { .. } => None,
        }
    }

    /// The payload of checkpoint `generation`, if this mirror holds it intact.
    pub fn read_checkpoint(&self, core: usize, generation: u64) -> Option<Vec<u8>> {
        match self {
            MirrorLoc::Dir(dir) => {
                let bytes = fs::read(dir.join(ckpt_name(core, generation))).ok()?;
                let (g, payload) = format::decode_checkpoint(&bytes)?;
                (g == generation).then(|| payload.to_vec())
            }
            MirrorLoc::Block { path, label } => {
                let device = blockdev::open_direct(path, 0).ok()?;
                read_slot_checkpoint(&device, label, core, generation)
            }
        }
    }

    /// The valid frames of journal `generation`, in order, up to the first torn or unwritten one.
    pub fn read_frames(&self, core: usize, generation: u64) -> Vec<Vec<u8>> {
        match self {
            MirrorLoc::Dir(dir) => fs::read(dir.join(journal_name(core, generation)))
                .map(|bytes| frames_of(&bytes, generation))
                .unwrap_or_default(),
            MirrorLoc::Block { path, label } => match blockdev::open_direct(path, 0) {
                Ok(device) => read_slot_frames(&device, label, core, generation),
                Err(_) => Vec::new(),
            },
        }
    }

    /// Writes checkpoint `generation` (already encoded) durably. On a block device a
    /// checkpoint larger than its slot is an error: the metadata area is too small.
    pub fn write_checkpoint(&self, core: usize, generation: u64, bytes: &[u8]) -> io::Result<()> {
        match self {
            MirrorLoc::Dir(dir) => write_atomically(dir, &ckpt_name(core, generation), bytes),
            MirrorLoc::Block { path, label } => {
                let (offset, slot_bytes) = label.checkpoint_slot(core, generation);
                if bytes.len() as u64 > slot_bytes {
                    return Err(io::Error::other(format!(
                        "checkpoint of {} bytes does not fit the {slot_bytes}-byte checkpoint slot of {}: the device's metadata area is too small for this many objects",
                        bytes.len(),
                        path.display()
                    )));
                }
                let device = blockdev::open_direct(path, 0)?;
                blockdev::write_direct_synced(&device, offset, bytes)
            }
        }
    }

    /// Opens journal `generation` for appending (O_DIRECT | O_DSYNC). A directory gets a new
    /// empty file; a block slot is reused as is (stale frames are of another generation).
    pub fn open_journal(&self, core: usize, generation: u64) -> io::Result<JournalFile> {
        match self {
            MirrorLoc::Dir(dir) => {
                let file = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
                    .open(dir.join(journal_name(core, generation)))?;
                fs::File::open(dir)?.sync_all()?;
                Ok(JournalFile {
                    file,
                    base: 0,
                    capacity_bytes: u64::MAX,
                    prepared_bytes: 0,
                })
            }
            MirrorLoc::Block { path, label } => {
                let (base, capacity_bytes) = label.journal_slot(core, generation);
                let file = blockdev::open_direct(path, libc::O_DSYNC)?;
                Ok(JournalFile {
                    file,
                    base,
                    capacity_bytes,
                    prepared_bytes: capacity_bytes,
                })
            }
        }
    }

    /// Deletes generations older than `generation` (directories; block slots are reused).
    pub fn remove_older(&self, core: usize, generation: u64) {
        let MirrorLoc::Dir(dir) = self else {
            return;
        };
        for g in generations(dir, core, "ckpt") {
            if g < generation {
                let _ = fs::remove_file(dir.join(ckpt_name(core, g)));
            }
        }
        for g in generations(dir, core, "journal") {
            if g < generation {
                let _ = fs::remove_file(dir.join(journal_name(core, g)));
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn journal_path(&self, core: usize, generation: u64) -> Option<PathBuf> {
        match self {
            MirrorLoc::Dir(dir) => Some(dir.join(journal_name(core, generation))),
            MirrorLoc::Block { .. } => None,
        }
    }
}
