//! Raw block devices: the label in block 0 and the fixed region layout behind it.
//!
//! A directory device holds files (`tessera/core-C.data`, `core-C.ckpt-G`, ...); a raw block
//! device holds the same things at fixed offsets, described by a 4 KiB label in block 0
//! (`docs/format.md`, "Raw block devices"). This module owns the label's bytes and the
//! arithmetic of the layout (pure, unit-tested), plus the few syscalls that size a device and
//! read or write its label. It does not know about journals or stripes: `mirror.rs` stores
//! journal and checkpoint bytes in the slots, `device.rs` decides when a device may be
//! formatted.
//!
//! Layout, all offsets multiples of `BLOCK_BYTES`:
//! `[label: 1 block][core 0: ckpt slot 0, ckpt slot 1, journal slot 0, journal slot 1,
//! staging ring]...[core cores-1: ...][core 0 data][core 1 data]...` (label version 1 has no
//! staging ring; version 2 has one of `ring_bytes` per core). Generation G of a core's journal uses
//! checkpoint slot G % 2 and journal slot G % 2, so writing generation G never touches the
//! slots of generation G - 1 (the fallback while G's checkpoint is being written).
//!
//! Invariants (checked by `Label::decode` and asserted by `Label::plan`): regions do not
//! overlap, lie inside the device, and every slot is at least `SLOT_BYTES_MIN`.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::aligned::AlignedBuf;
use crate::constants::{BLOCK_BYTES, STAGE_RING_BYTES};

pub const LABEL_MAGIC: u32 = u32::from_le_bytes(*b"TSBL");
/// Version of the label and of the region layout it describes: 2 has a staging ring per
/// core; 1 (devices formatted before it, still read and used as they are) has none.
pub const LABEL_VERSION: u16 = 2;
const LABEL_VERSION_NO_RING: u16 = 1;
/// Node ids are short hex strings; the label refuses anything longer.
pub const NODE_ID_BYTES_MAX: usize = 256;
/// Slots (checkpoint and journal) per core: two of each.
pub const SLOTS_PER_CORE: u64 = 4;
/// The metadata area (all cores' slots) is this fraction of the device: 1/16.
pub const META_FRACTION_DIVISOR: u64 = 16;
/// Smallest slot: a checkpoint or journal slot smaller than this is useless.
pub const SLOT_BYTES_MIN: u64 = 512 * 1024;
/// Smallest per-core data region.
pub const DATA_BYTES_PER_CORE_MIN: u64 = 4 * 1024 * 1024;

const _: () = assert!(SLOT_BYTES_MIN.is_multiple_of(BLOCK_BYTES));
const _: () = assert!(DATA_BYTES_PER_CORE_MIN.is_multiple_of(BLOCK_BYTES));
const _: () = assert!(58 + NODE_ID_BYTES_MAX + 4 <= BLOCK_BYTES as usize);

/// What block 0 of a block device says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub node_id: String,
    pub slot: u16,
    pub cores: u16,
    /// Device size when it was formatted (a smaller device now is refused).
    pub device_bytes: u64,
    pub slot_bytes: u64,
    /// Offset of core 0's first data byte; core C's region starts `C * data_bytes_per_core`
    /// later.
    pub data_offset: u64,
    pub data_bytes_per_core: u64,
    /// Each core's staging ring, after its slots (`engine/stage.rs`); 0: none (version 1).
    pub ring_bytes: u64,
}

/// What block 0 holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Block0 {
    /// Every byte zero: a blank device, which is formatted (new, or a replacement).
    Blank,
    /// Not a Tessera label (some other data, or a filesystem): never overwritten.
    Unknown,
    /// A Tessera label that does not check out (CRC, version, impossible layout).
    Damaged(String),
    Label(Label),
}

const fn round_down_block(bytes: u64) -> u64 {
    bytes / BLOCK_BYTES * BLOCK_BYTES
}

impl Label {
    /// Plans the layout of a device of `device_bytes` for `cores` cores. `Err` when it is too
    /// small to hold the slots and data regions.
    pub fn plan(node_id: &str, slot: u16, cores: u16, device_bytes: u64) -> Result<Label, String> {
        if node_id.len() > NODE_ID_BYTES_MAX {
            return Err(format!("node id longer than {NODE_ID_BYTES_MAX} bytes"));
        }
        if cores == 0 {
            return Err("zero cores".into());
        }
        let device_bytes = round_down_block(device_bytes);
        let slots = SLOTS_PER_CORE * cores as u64;
        let slot_bytes = round_down_block(device_bytes / META_FRACTION_DIVISOR / slots);
        let too_small = || {
            let per_core_mib = (SLOTS_PER_CORE * SLOT_BYTES_MIN * META_FRACTION_DIVISOR) >> 20;
            format!(
                "device of {} MiB is too small for {cores} cores (at least {per_core_mib} MiB per core)",
                device_bytes >> 20
            )
        };
        if slot_bytes < SLOT_BYTES_MIN {
            return Err(too_small());
        }
        // Every core gets a staging ring (taken from the data area: a device big enough for
        // the slots always has room for it).
        let ring_bytes = STAGE_RING_BYTES;
        let data_offset = BLOCK_BYTES + slots * slot_bytes + cores as u64 * ring_bytes;
        let data_bytes_per_core = device_bytes
            .checked_sub(data_offset)
            .map_or(0, |d| round_down_block(d / cores as u64));
        if data_bytes_per_core < DATA_BYTES_PER_CORE_MIN {
            return Err(too_small());
        }
        let label = Label {
            node_id: node_id.to_string(),
            slot,
            cores,
            device_bytes,
            slot_bytes,
            data_offset,
            data_bytes_per_core,
            ring_bytes,
        };
        assert!(label.check().is_ok(), "planned layout checks out");
        Ok(label)
    }

    /// Checks the layout's invariants (used on decoded labels too).
    fn check(&self) -> Result<(), String> {
        let slots = SLOTS_PER_CORE * self.cores as u64;
        let aligned = [
            self.device_bytes,
            self.slot_bytes,
            self.data_offset,
            self.data_bytes_per_core,
            self.ring_bytes,
        ]
        .iter()
        .all(|v| v.is_multiple_of(BLOCK_BYTES));
        let meta_end = slots
            .checked_mul(self.slot_bytes)
            .and_then(|b| b.checked_add((self.cores as u64).checked_mul(self.ring_bytes)?))
            .and_then(|b| b.checked_add(BLOCK_BYTES));
        let data_end = (self.cores as u64)
            .checked_mul(self.data_bytes_per_core)
            .and_then(|b| b.checked_add(self.data_offset));
        match (aligned, meta_end, data_end) {
            (true, Some(meta_end), Some(data_end))
                if self.cores > 0
                    && self.slot_bytes >= SLOT_BYTES_MIN
                    && self.data_offset >= meta_end
                    && data_end <= self.device_bytes
                    && self.node_id.len() <= NODE_ID_BYTES_MAX =>
            {
                Ok(())
            }
            _ => Err(format!("impossible layout {self:?}")),
        }
    }

    fn core_meta_offset(&self, core: usize) -> u64 {
        assert!(core < self.cores as usize, "core {core} outside the label");
        BLOCK_BYTES + core as u64 * (SLOTS_PER_CORE * self.slot_bytes + self.ring_bytes)
    }

    /// (offset, length) of `core`'s staging ring, if the layout has one.
    pub fn ring_region(&self, core: usize) -> Option<(u64, u64)> {
        (self.ring_bytes > 0).then(|| {
            (
                self.core_meta_offset(core) + SLOTS_PER_CORE * self.slot_bytes,
                self.ring_bytes,
            )
        })
    }

    /// (offset, length) of the checkpoint slot for generation `generation` of `core`.
    pub fn checkpoint_slot(&self, core: usize, generation: u64) -> (u64, u64) {
        let offset = self.core_meta_offset(core) + (generation % 2) * self.slot_bytes;
        (offset, self.slot_bytes)
    }

    /// (offset, length) of the journal slot for generation `generation` of `core`.
    pub fn journal_slot(&self, core: usize, generation: u64) -> (u64, u64) {
        let offset = self.core_meta_offset(core) + (2 + generation % 2) * self.slot_bytes;
        (offset, self.slot_bytes)
    }

    /// (offset, length) of `core`'s data region.
    pub fn data_region(&self, core: usize) -> (u64, u64) {
        assert!(core < self.cores as usize, "core {core} outside the label");
        (
            self.data_offset + core as u64 * self.data_bytes_per_core,
            self.data_bytes_per_core,
        )
    }

    /// Block 0: see `docs/format.md` for the byte layout.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(BLOCK_BYTES as usize);
        let version = if self.ring_bytes > 0 {
            LABEL_VERSION
        } else {
            LABEL_VERSION_NO_RING
        };
        out.extend_from_slice(&LABEL_MAGIC.to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.cores.to_le_bytes());
        out.extend_from_slice(&self.slot.to_le_bytes());
        let ring_blocks = u32::try_from(self.ring_bytes / BLOCK_BYTES).expect("ring fits a u32");
        out.extend_from_slice(&ring_blocks.to_le_bytes());
        for v in [
            self.device_bytes,
            BLOCK_BYTES,
            self.slot_bytes,
            self.data_offset,
            self.data_bytes_per_core,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        assert!(self.node_id.len() <= NODE_ID_BYTES_MAX);
        out.extend_from_slice(&(self.node_id.len() as u16).to_le_bytes());
        out.extend_from_slice(self.node_id.as_bytes());
        out.resize(BLOCK_BYTES as usize - 4, 0);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(out.len(), BLOCK_BYTES as usize);
        out
    }

    /// Reads block 0. Never panics on hostile bytes.
    pub fn decode(block: &[u8]) -> Block0 {
        if block.iter().all(|&b| b == 0) {
            return Block0::Blank;
        }
        let field = |at: usize, n: usize| block.get(at..at + n);
        let u16_at = |at| field(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let u64_at = |at| field(at, 8).and_then(|b| b.try_into().ok().map(u64::from_le_bytes));
        if field(0, 4) != Some(&LABEL_MAGIC.to_le_bytes()[..]) {
            return Block0::Unknown;
        }
        let n = BLOCK_BYTES as usize;
        if block.len() < n {
            return Block0::Damaged("label shorter than a block".into());
        }
        let crc = u32::from_le_bytes([block[n - 4], block[n - 3], block[n - 2], block[n - 1]]);
        if crc32c::crc32c(&block[..n - 4]) != crc {
            return Block0::Damaged("label CRC mismatch".into());
        }
        let ring_blocks = field(12, 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let ring_bytes = match u16_at(4) {
            Some(LABEL_VERSION) if ring_blocks > 0 => ring_blocks as u64 * BLOCK_BYTES,
            Some(LABEL_VERSION_NO_RING) if ring_blocks == 0 => 0,
            version => return Block0::Damaged(format!("label version {version:?}")),
        };
        if u64_at(24) != Some(BLOCK_BYTES) {
            return Block0::Damaged(format!("block size {:?}", u64_at(24)));
        }
        let id_len = u16_at(56).unwrap_or(0) as usize;
        let Some(node_id) = field(58, id_len)
            .filter(|_| id_len <= NODE_ID_BYTES_MAX)
            .and_then(|b| std::str::from_utf8(b).ok())
        else {
            return Block0::Damaged("bad node id".into());
        };
        let label = Label {
            node_id: node_id.to_string(),
            cores: u16_at(8).unwrap_or(0),
            slot: u16_at(10).unwrap_or(0),
            device_bytes: u64_at(16).unwrap_or(0),
            slot_bytes: u64_at(32).unwrap_or(0),
            data_offset: u64_at(40).unwrap_or(0),
            data_bytes_per_core: u64_at(48).unwrap_or(0),
            ring_bytes,
        };
        match label.check() {
            Ok(()) => Block0::Label(label),
            Err(e) => Block0::Damaged(e),
        }
    }
}

/// Opens a block device for O_DIRECT I/O (plus `extra` open flags, e.g. O_DSYNC).
pub fn open_direct(path: &Path, extra: i32) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT | extra)
        .open(path)
}

/// Size of an open block device in bytes (seeking to its end: what BLKGETSIZE64 returns).
pub fn device_bytes(file: &File) -> io::Result<u64> {
    let mut file = file;
    file.seek(SeekFrom::End(0))
}

/// Logical sector size (BLKSSZGET): the O_DIRECT offset and length alignment.
pub fn logical_sector_bytes(file: &File) -> io::Result<u32> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::BLKSSZGET, &mut size) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Reads `len` bytes at `offset` with O_DIRECT (both multiples of the block).
pub fn read_direct(file: &File, offset: u64, len: usize) -> io::Result<AlignedBuf> {
    assert!(offset.is_multiple_of(BLOCK_BYTES) && (len as u64).is_multiple_of(BLOCK_BYTES));
    let mut buf = AlignedBuf::zeroed(len);
    file.read_exact_at(buf.as_mut_slice(), offset)?;
    Ok(buf)
}

/// Writes `bytes` at `offset` with O_DIRECT, zero-padded to the block, then fdatasync.
pub fn write_direct_synced(file: &File, offset: u64, bytes: &[u8]) -> io::Result<()> {
    assert!(offset.is_multiple_of(BLOCK_BYTES));
    let padded = (bytes.len() as u64).div_ceil(BLOCK_BYTES) * BLOCK_BYTES;
    let mut buf = AlignedBuf::zeroed(padded as usize);
    buf.as_mut_slice()[..bytes.len()].copy_from_slice(bytes);
    file.write_all_at(buf.as_slice(), offset)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn label_round_trips_and_rejects_damage() {
        let label = Label::plan("a1b2c3", 4, 2, 10 * GIB + 123).unwrap();
        let block = label.encode();
        assert_eq!(block.len(), BLOCK_BYTES as usize);
        assert_eq!(Label::decode(&block), Block0::Label(label.clone()));
        // Any flipped byte is caught by the CRC (or the magic).
        for at in [0usize, 5, 9, 17, 40, 60, 3000, 4095] {
            let mut bad = block.clone();
            bad[at] ^= 0x40;
            assert!(
                !matches!(Label::decode(&bad), Block0::Label(_)),
                "byte {at} flipped still decodes"
            );
        }
        assert_eq!(Label::decode(&vec![0; BLOCK_BYTES as usize]), Block0::Blank);
        let mut ext4ish = vec![0u8; BLOCK_BYTES as usize];
        ext4ish[1024 + 56] = 0x53;
        ext4ish[1024 + 57] = 0xEF;
        assert_eq!(Label::decode(&ext4ish), Block0::Unknown);
        assert!(matches!(Label::decode(&block[..100]), Block0::Damaged(_)));
    }

    #[test]
    fn layout_regions_are_disjoint_and_inside_the_device() {
        for (cores, bytes) in [
            (1u16, 64 << 20),
            (2, 256 << 20),
            (8, 100 * GIB),
            (64, 4096 * GIB),
        ] {
            let label = Label::plan("n", 0, cores, bytes).unwrap();
            let mut regions = Vec::new();
            for c in 0..cores as usize {
                for g in 0..2 {
                    regions.push(label.checkpoint_slot(c, g));
                    regions.push(label.journal_slot(c, g));
                }
                regions.push(label.data_region(c));
                regions.extend(label.ring_region(c));
            }
            regions.sort_unstable();
            assert!(regions[0].0 >= BLOCK_BYTES, "block 0 is the label's");
            for pair in regions.windows(2) {
                assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:?} overlap");
            }
            let (last, len) = regions[regions.len() - 1];
            assert!(last + len <= bytes);
            assert_eq!(regions.len(), 6 * cores as usize, "a ring per core");
        }
        // A device formatted before rings (version 1): its layout is read as it was.
        let planned = Label::plan("n", 0, 2, GIB).unwrap();
        let v1 = Label {
            ring_bytes: 0,
            data_offset: BLOCK_BYTES + 8 * planned.slot_bytes,
            ..planned.clone()
        };
        let block = v1.encode();
        assert_eq!(u16::from_le_bytes([block[4], block[5]]), 1);
        assert_eq!(Label::decode(&block), Block0::Label(v1.clone()));
        assert_eq!(v1.ring_region(1), None);
        assert_eq!(v1.checkpoint_slot(1, 0).0, BLOCK_BYTES + 4 * v1.slot_bytes);
        // Version and ring size must agree.
        let mut bad = planned.encode();
        bad[4] = 1;
        let n = bad.len();
        let crc = crc32c::crc32c(&bad[..n - 4]).to_le_bytes();
        bad[n - 4..].copy_from_slice(&crc);
        assert!(matches!(Label::decode(&bad), Block0::Damaged(_)));
        assert!(Label::plan("n", 0, 2, 8 << 20).is_err(), "too small");
        assert!(Label::plan(&"x".repeat(300), 0, 1, GIB).is_err());
    }

    #[test]
    fn generations_alternate_slots() {
        let label = Label::plan("n", 0, 2, GIB).unwrap();
        for core in 0..2 {
            for g in 1..10u64 {
                assert_ne!(
                    label.checkpoint_slot(core, g),
                    label.checkpoint_slot(core, g + 1)
                );
                assert_eq!(
                    label.checkpoint_slot(core, g),
                    label.checkpoint_slot(core, g + 2)
                );
                assert_ne!(label.journal_slot(core, g), label.journal_slot(core, g + 1));
                assert_eq!(label.journal_slot(core, g), label.journal_slot(core, g + 2));
            }
        }
    }
}
