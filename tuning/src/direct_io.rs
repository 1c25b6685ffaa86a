//! O_DIRECT probe of one `--device` path: can Tessera do aligned direct I/O there?
//!
//! Owns: the only I/O this crate does outside `/proc` and `/sys`. For a directory it creates
//! one probe file with `O_DIRECT`, unlinks it at once, asks `statx(STATX_DIOALIGN)` for the
//! alignment, and does one aligned 4096-byte write and read-back through the open descriptor.
//! For a block device it opens `O_RDONLY | O_DIRECT`, reads the logical block size with
//! `BLKSSZGET` and does one aligned read. Must not: write to a block device, leave a file
//! behind, or change any setting. Invariants: the probe file is unlinked before any I/O is
//! issued, so a crash mid-probe leaves nothing; buffers are aligned to
//! `DIRECT_IO_PROBE_BYTES`, so a refusal means the file system, not the probe, lacks support.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::constants::DIRECT_IO_PROBE_BYTES;

/// Offset alignments tried, smallest first, when `statx` does not report one.
const PROBED_OFFSET_ALIGNMENTS: [usize; 4] = [512, 1024, 2048, 4096];
const _: () = assert!(PROBED_OFFSET_ALIGNMENTS[3] == DIRECT_IO_PROBE_BYTES);

/// What was probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Directory,
    BlockDevice,
}

/// Where an alignment figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlignSource {
    /// `statx` with `STATX_DIOALIGN` (Linux 6.1+, per file system).
    Statx,
    /// The smallest offset alignment a direct read accepted.
    Probed,
    /// `BLKSSZGET`, the device's logical block size.
    BlockIoctl,
}

impl AlignSource {
    pub fn label(self) -> &'static str {
        match self {
            AlignSource::Statx => "statx",
            AlignSource::Probed => "probed",
            AlignSource::BlockIoctl => "BLKSSZGET",
        }
    }
}

/// Direct I/O alignment requirements, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alignment {
    /// Buffer address alignment; `None` when only a probe could be done.
    pub memory_bytes: Option<u32>,
    /// File offset and length alignment; never zero.
    pub offset_bytes: u32,
    pub source: AlignSource,
}

/// Outcome of probing one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectIo {
    /// Aligned direct I/O worked (or, for alignments above the probe size, is reported).
    Supported {
        target: Target,
        alignment: Alignment,
        /// The path is on tmpfs, which accepts O_DIRECT but is memory, not a device.
        tmpfs: bool,
    },
    /// The file system or device refused direct I/O.
    Unsupported { reason: String },
    /// The probe could not run to the end (missing path, I/O error).
    Failed { reason: String },
    /// Not allowed to probe (permissions): nothing can be said.
    Inconclusive { reason: String },
}

/// Probes `path`, a directory or a block device.
pub fn probe(path: &Path) -> DirectIo {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => return from_io("stat", &error),
    };
    if metadata.file_type().is_block_device() {
        probe_block_device(path)
    } else if metadata.is_dir() {
        probe_directory(path)
    } else {
        DirectIo::Failed {
            reason: "not a directory or block device".to_string(),
        }
    }
}

/// One probe-sized buffer at the alignment O_DIRECT needs.
#[repr(C, align(4096))]
struct AlignedBlock([u8; DIRECT_IO_PROBE_BYTES]);
const _: () = assert!(std::mem::align_of::<AlignedBlock>() == DIRECT_IO_PROBE_BYTES);

impl AlignedBlock {
    fn zeroed() -> Box<AlignedBlock> {
        Box::new(AlignedBlock([0; DIRECT_IO_PROBE_BYTES]))
    }

    fn pattern() -> Box<AlignedBlock> {
        let mut block = AlignedBlock::zeroed();
        for (index, byte) in block.0.iter_mut().enumerate() {
            // Distinct bytes in every position, so a misplaced or zero-filled read shows.
            *byte = (index as u8).wrapping_mul(31) ^ ((index >> 8) as u8) ^ 0x5a;
        }
        block
    }
}

fn probe_directory(dir: &Path) -> DirectIo {
    let tmpfs = match is_tmpfs(dir) {
        Ok(tmpfs) => tmpfs,
        Err(error) => return from_io("statfs", &error),
    };
    let path = probe_file_path(dir);
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_DIRECT)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) => return from_io("open O_DIRECT", &error),
    };
    // Unlink before any I/O: the descriptor keeps the inode alive for the probe, and a crash
    // from here on cannot leave a file in the operator's data directory.
    if let Err(error) = fs::remove_file(&path) {
        return DirectIo::Failed {
            reason: format!("could not remove probe file {}: {error}", path.display()),
        };
    }
    let statx = statx_alignment(&file);
    if let Some(Alignment {
        offset_bytes: 0, ..
    }) = statx
    {
        return DirectIo::Unsupported {
            reason: "statx reports no direct I/O for files here (STATX_DIOALIGN is 0)".to_string(),
        };
    }
    if let Some(alignment) = statx.filter(exceeds_probe) {
        // A 4096-byte probe would be refused; report the alignment and let the rules judge.
        return DirectIo::Supported {
            target: Target::Directory,
            alignment,
            tmpfs,
        };
    }
    if let Err(outcome) = write_read_back(&file) {
        return outcome;
    }
    let alignment = match statx {
        Some(alignment) => alignment,
        None => match probe_offset_alignment(&file) {
            Ok(alignment) => alignment,
            Err(outcome) => return outcome,
        },
    };
    DirectIo::Supported {
        target: Target::Directory,
        alignment,
        tmpfs,
    }
}

fn probe_block_device(path: &Path) -> DirectIo {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
    {
        Ok(file) => file,
        Err(error) => return from_io("open O_RDONLY|O_DIRECT", &error),
    };
    let mut logical_block_bytes: libc::c_int = 0;
    // SAFETY: BLKSSZGET stores one int through the pointer, which is valid for that write;
    // the descriptor is open for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::BLKSSZGET, &mut logical_block_bytes) };
    if rc != 0 {
        return from_io("ioctl BLKSSZGET", &io::Error::last_os_error());
    }
    let Ok(logical_block_bytes) = u32::try_from(logical_block_bytes) else {
        return DirectIo::Failed {
            reason: format!("BLKSSZGET returned {logical_block_bytes}"),
        };
    };
    // Block devices report STATX_DIOALIGN from Linux 6.11; earlier, the logical block size
    // is the offset alignment and the memory alignment is not exposed.
    let alignment = statx_alignment(&file)
        .filter(|a| a.offset_bytes != 0)
        .unwrap_or(Alignment {
            memory_bytes: None,
            offset_bytes: logical_block_bytes,
            source: AlignSource::BlockIoctl,
        });
    if alignment.offset_bytes == 0 {
        return DirectIo::Failed {
            reason: "BLKSSZGET returned 0".to_string(),
        };
    }
    if !exceeds_probe(&alignment) {
        let mut block = AlignedBlock::zeroed();
        if let Err(error) = file.read_at(&mut block.0, 0) {
            return from_io("aligned read", &error);
        }
    }
    DirectIo::Supported {
        target: Target::BlockDevice,
        alignment,
        tmpfs: false,
    }
}

fn exceeds_probe(alignment: &Alignment) -> bool {
    let limit = DIRECT_IO_PROBE_BYTES as u64;
    u64::from(alignment.offset_bytes) > limit
        || alignment.memory_bytes.is_some_and(|m| u64::from(m) > limit)
}

/// One aligned write of a known pattern at offset 0, then a read that must return it.
fn write_read_back(file: &File) -> Result<(), DirectIo> {
    let written = AlignedBlock::pattern();
    match file.write_at(&written.0, 0) {
        Ok(n) if n == DIRECT_IO_PROBE_BYTES => {}
        Ok(n) => {
            return Err(DirectIo::Failed {
                reason: format!("short direct write: {n} of {DIRECT_IO_PROBE_BYTES} bytes"),
            })
        }
        Err(error) => return Err(from_io("aligned direct write", &error)),
    }
    let mut read = AlignedBlock::zeroed();
    match file.read_at(&mut read.0, 0) {
        Ok(n) if n == DIRECT_IO_PROBE_BYTES => {}
        Ok(n) => {
            return Err(DirectIo::Failed {
                reason: format!("short direct read: {n} of {DIRECT_IO_PROBE_BYTES} bytes"),
            })
        }
        Err(error) => return Err(from_io("aligned direct read", &error)),
    }
    if read.0 != written.0 {
        return Err(DirectIo::Failed {
            reason: "direct read returned different bytes than were written".to_string(),
        });
    }
    Ok(())
}

/// The smallest offset alignment at which a direct read is accepted. The buffer is always
/// page-aligned, so only the offset and length vary.
fn probe_offset_alignment(file: &File) -> Result<Alignment, DirectIo> {
    let mut block = AlignedBlock::zeroed();
    for size in PROBED_OFFSET_ALIGNMENTS {
        match file.read_at(&mut block.0[..size], size as u64) {
            Ok(_) => {
                return Ok(Alignment {
                    memory_bytes: None,
                    offset_bytes: size as u32,
                    source: AlignSource::Probed,
                })
            }
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => continue,
            Err(error) => return Err(from_io("alignment probe read", &error)),
        }
    }
    Err(DirectIo::Unsupported {
        reason: format!("no direct read accepted at alignments up to {DIRECT_IO_PROBE_BYTES}"),
    })
}

/// `STATX_DIOALIGN` for an open file, or `None` when the kernel or file system does not report
/// it. A reported alignment of 0 means "direct I/O not supported" and is passed through.
fn statx_alignment(file: &File) -> Option<Alignment> {
    // SAFETY: `statx` is plain old data, for which all-zero bytes are a valid value.
    let mut buffer: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open; an empty path with AT_EMPTY_PATH names the descriptor
    // itself; `buffer` is a valid, writable `statx`.
    let rc = unsafe {
        libc::statx(
            file.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_DIOALIGN,
            &mut buffer,
        )
    };
    if rc != 0 || buffer.stx_mask & libc::STATX_DIOALIGN == 0 {
        return None;
    }
    Some(Alignment {
        memory_bytes: Some(buffer.stx_dio_mem_align),
        offset_bytes: buffer.stx_dio_offset_align,
        source: AlignSource::Statx,
    })
}

fn is_tmpfs(dir: &Path) -> io::Result<bool> {
    let handle = File::open(dir)?;
    // SAFETY: `statfs` is plain old data, for which all-zero bytes are a valid value.
    let mut buffer: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open and `buffer` is a valid, writable `statfs`.
    let rc = unsafe { libc::fstatfs(handle.as_raw_fd(), &mut buffer) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(buffer.f_type == libc::TMPFS_MAGIC)
}

/// A name no other run picks: process id plus the current time in nanoseconds.
fn probe_file_path(dir: &Path) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    dir.join(format!(
        ".tessera-check-host-{}-{nanos}",
        std::process::id()
    ))
}

/// Sorts an I/O error into an outcome: a refusal of O_DIRECT, a permission problem (the
/// probe cannot tell), or a failure.
fn from_io(step: &str, error: &io::Error) -> DirectIo {
    match error.raw_os_error() {
        Some(libc::EINVAL) => DirectIo::Unsupported {
            reason: format!("{step} refused: {error}"),
        },
        Some(libc::EACCES) | Some(libc::EPERM) => DirectIo::Inconclusive {
            reason: format!("{step}: {error} (run as the service user)"),
        },
        _ => DirectIo::Failed {
            reason: format!("{step}: {error}"),
        },
    }
}
