//! Data devices: validating them at start, and opening one core's data region on each.
//!
//! A device is either a directory on an O_DIRECT-capable filesystem or a raw block device.
//! - Directory: `tessera/device.id` (which node and slot it belongs to), `tessera/core-C.data`
//!   (core C's data region, written only by core C, growing as needed), and on the journal
//!   mirrors `tessera/core-C.journal-G` / `tessera/core-C.ckpt-G`.
//! - Block device: a label in block 0 (node, slot, core count, region layout; `blockdev.rs`),
//!   then per core two checkpoint slots and two journal slots, then per core a fixed-size data
//!   region. Core C's "data file" is the device at the region's offset, bounded by its length.
//!
//! A device that is missing, unreadable or of another node is *down*: the node still starts
//! if no more than `m` devices are down, says so loudly, and serves degraded. A block device
//! is formatted (labelled) only when it is blank (block 0 all zeros): on a fresh node that is
//! a new device, on a node with data a replacement, whose shards the scrubber then rebuilds
//! (as for an empty replacement directory). A block device holding anything else that is not
//! this node's label is never written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::blockdev::{self, Block0, Label};
use super::mirror::MirrorLoc;
use crate::constants::BLOCK_BYTES;

/// How `validate` may treat what it finds.
#[derive(Clone, Copy, Debug)]
pub struct ValidateOptions<'a> {
    /// The node the devices must belong to.
    pub node_id: &'a str,
    /// Create missing device directories (emulated devices of a fresh node).
    pub create_dirs: bool,
    /// The node's data dir is fresh: a blank block device is a new device, not a replacement
    /// (both are formatted; only the log line differs).
    pub fresh: bool,
    /// Cores of this node: a block device's layout is per core and must match.
    pub cores: usize,
}

#[derive(Clone, Debug)]
pub struct DeviceInfo {
    pub index: u16,
    pub path: PathBuf,
    /// `false` when the device could not be used at start.
    pub up: bool,
    pub reason: Option<String>,
    /// The path works but refuses O_DIRECT (or needs an alignment above the block): the node
    /// refuses to start rather than run without the durability O_DIRECT gives.
    pub no_direct_io: bool,
    pub dio_offset_align: u32,
    pub dio_mem_align: u32,
    /// `Some` for a raw block device: its label (and so its layout).
    pub block: Option<Label>,
}

impl DeviceInfo {
    pub fn dir(&self) -> PathBuf {
        self.path.join("tessera")
    }
    pub fn data_path(&self, core: usize) -> PathBuf {
        self.dir().join(format!("core-{core}.data"))
    }
    /// Where this device keeps journals and checkpoints when it is a journal mirror.
    pub fn mirror_loc(&self) -> MirrorLoc {
        match &self.block {
            Some(label) => MirrorLoc::Block {
                path: self.path.clone(),
                label: label.clone(),
            },
            None => MirrorLoc::Dir(self.dir()),
        }
    }
}

/// One core's data region on one device, opened for O_DIRECT I/O through io_uring: byte `x`
/// of the region is byte `base + x` of `file`. `capacity_blocks` is `None` for a directory
/// device (the file grows).
pub struct DataRegion {
    pub file: monoio::fs::File,
    pub base: u64,
    pub capacity_blocks: Option<u64>,
    /// Bytes of a data file already allocated (its size); `None` for a block device region.
    pub reserved_bytes: Option<u64>,
}

/// What `statx(STATX_DIOALIGN)` says about O_DIRECT on a file: (mem align, offset align);
/// zeros when the filesystem does not support O_DIRECT or the kernel is too old to say.
pub fn dio_align(path: &Path) -> io::Result<(u32, u32)> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: an all-zero statx is a valid value of this plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated string and `stx` a valid out-pointer.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            0,
            libc::STATX_DIOALIGN,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if stx.stx_mask & libc::STATX_DIOALIGN == 0 {
        return Ok((0, 0));
    }
    Ok((stx.stx_dio_mem_align, stx.stx_dio_offset_align))
}

fn is_tmpfs(path: &Path) -> bool {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: zeroed statfs is valid; pointers are valid for the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut st) };
    rc == 0 && st.f_type == 0x0102_1994
}

/// Checks that O_DIRECT works in `dir`: create a probe file with O_DIRECT, read its DIOALIGN,
/// write and read back one block. Returns (mem align, offset align).
fn probe_direct_io(dir: &Path) -> Result<(u32, u32), String> {
    let probe = dir.join(".odirect-probe");
    let result = (|| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&probe)
            .map_err(|e| format!("cannot open a file with O_DIRECT: {e}"))?;
        let (mem, offset) = dio_align(&probe).map_err(|e| format!("statx: {e}"))?;
        if (mem as u64) > BLOCK_BYTES || (offset as u64) > BLOCK_BYTES {
            return Err(format!(
                "DIOALIGN mem {mem} offset {offset} exceeds the {BLOCK_BYTES}-byte block"
            ));
        }
        let mut buf = super::aligned::AlignedBuf::zeroed(BLOCK_BYTES as usize);
        buf.as_mut_slice().fill(0xA5);
        use std::os::unix::fs::FileExt;
        file.write_all_at(buf.as_slice(), 0)
            .map_err(|e| format!("O_DIRECT write failed: {e}"))?;
        let mut back = super::aligned::AlignedBuf::zeroed(BLOCK_BYTES as usize);
        file.read_exact_at(back.as_mut_slice(), 0)
            .map_err(|e| format!("O_DIRECT read failed: {e}"))?;
        if back.as_slice() != buf.as_slice() {
            return Err("O_DIRECT read returned other bytes than written".into());
        }
        Ok((mem, offset))
    })();
    let _ = fs::remove_file(&probe);
    result
}

/// Validates every device at start. `opts.node_id` ties devices to this node: a device
/// labelled for another node is refused (down). Returns one `DeviceInfo` per path, in order.
pub fn validate(paths: &[PathBuf], opts: ValidateOptions<'_>) -> Vec<DeviceInfo> {
    paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let mut info = DeviceInfo {
                index: i as u16,
                path: path.clone(),
                up: false,
                reason: None,
                no_direct_io: false,
                dio_offset_align: 0,
                dio_mem_align: 0,
                block: None,
            };
            let is_block = fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device());
            let result = if is_block {
                validate_block(&info, opts).map(|(align, label)| {
                    info.block = Some(label);
                    (align, align)
                })
            } else {
                validate_dir(&info, opts.node_id, opts.create_dirs)
            };
            match result {
                Ok((mem, offset)) => {
                    info.up = true;
                    info.dio_mem_align = mem;
                    info.dio_offset_align = offset;
                }
                Err(reason) => {
                    info.no_direct_io = reason.starts_with(NO_DIRECT_IO);
                    info.reason = Some(reason);
                }
            }
            info
        })
        .collect()
}

fn validate_dir(info: &DeviceInfo, node_id: &str, create: bool) -> Result<(u32, u32), String> {
    if create {
        fs::create_dir_all(&info.path)
            .map_err(|e| format!("cannot create {}: {e}", info.path.display()))?;
    }
    let meta = fs::metadata(&info.path).map_err(|e| format!("{}: {e}", info.path.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "{} is neither a directory nor a block device",
            info.path.display()
        ));
    }
    if is_tmpfs(&info.path) {
        eprintln!(
            "level=warn msg=\"device is on tmpfs: it accepts O_DIRECT but enforces no alignment and is not a real device\" path={}",
            info.path.display()
        );
    }
    let dir = info.dir();
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let label = format!("node={node_id} slot={}\n", info.index);
    let id_path = dir.join("device.id");
    match fs::read_to_string(&id_path) {
        Ok(existing) if existing == label => {}
        Ok(existing) => {
            return Err(format!(
                "{} belongs elsewhere ({}), expected {}",
                id_path.display(),
                existing.trim(),
                label.trim()
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut f =
                fs::File::create(&id_path).map_err(|e| format!("{}: {e}", id_path.display()))?;
            f.write_all(label.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| format!("{}: {e}", id_path.display()))?;
        }
        Err(e) => return Err(format!("{}: {e}", id_path.display())),
    }
    probe_direct_io(&dir).map_err(|e| format!("{NO_DIRECT_IO}: {e}"))
}

/// Prefix of the reason given for a path that works but cannot do O_DIRECT.
const NO_DIRECT_IO: &str = "O_DIRECT is not usable here";

/// Validates a raw block device: usable with O_DIRECT, not in use, and labelled for this
/// node and slot (formatting it first if it is blank: new, or a replacement). Returns the logical
/// sector size (the O_DIRECT alignment) and the label.
fn validate_block(info: &DeviceInfo, opts: ValidateOptions<'_>) -> Result<(u32, Label), String> {
    let path = info.path.display();
    // O_EXCL on a block device fails with EBUSY while it is mounted or claimed by another
    // exclusive opener: never write to a device a filesystem is using.
    let device =
        blockdev::open_direct(&info.path, libc::O_EXCL).map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => {
                format!("{path} is in use (mounted, or opened exclusively by another program)")
            }
            Some(libc::EINVAL) => format!("{NO_DIRECT_IO}: {path}: {e}"),
            _ => format!("{path}: {e}"),
        })?;
    let sector =
        blockdev::logical_sector_bytes(&device).map_err(|e| format!("{path}: BLKSSZGET: {e}"))?;
    if sector == 0 || sector as u64 > BLOCK_BYTES || !BLOCK_BYTES.is_multiple_of(sector as u64) {
        return Err(format!("{NO_DIRECT_IO}: {path}: logical sector of {sector} bytes does not divide the {BLOCK_BYTES}-byte block"));
    }
    let device_bytes = blockdev::device_bytes(&device).map_err(|e| format!("{path}: size: {e}"))?;
    let block0 = blockdev::read_direct(&device, 0, BLOCK_BYTES as usize)
        .map_err(|e| format!("{NO_DIRECT_IO}: {path}: O_DIRECT read of block 0 failed: {e}"))?;
    let cores = u16::try_from(opts.cores).map_err(|_| "too many cores".to_string())?;
    let label = match Label::decode(block0.as_slice()) {
        Block0::Label(label) => label,
        Block0::Blank => {
            let label = Label::plan(opts.node_id, info.index, cores, device_bytes)
                .map_err(|e| format!("{path}: {e}"))?;
            blockdev::write_direct_synced(&device, 0, &label.encode())
                .map_err(|e| format!("{path}: writing the label failed: {e}"))?;
            if opts.fresh {
                eprintln!("level=info msg=\"formatted block device\" path={path} slot={} cores={cores} data_bytes_per_core={}", info.index, label.data_bytes_per_core);
            } else {
                eprintln!("level=warn msg=\"REPLACEMENT DEVICE: formatted a blank block device in a node with data; its shards are rebuilt from parity by the scrubber\" path={path} slot={} cores={cores}", info.index);
            }
            label
        }
        Block0::Unknown => return Err(format!(
            "{path} holds data that is not a Tessera label (a filesystem?): refusing to overwrite it. If it is really free, zero its first 4 KiB (e.g. blkdiscard or dd) and start a fresh node"
        )),
        Block0::Damaged(why) => return Err(format!("{path}: Tessera label is damaged ({why}): refusing to use it")),
    };
    if label.node_id != opts.node_id || label.slot != info.index {
        return Err(format!(
            "{path} belongs elsewhere (node={} slot={}), expected node={} slot={}",
            label.node_id, label.slot, opts.node_id, info.index
        ));
    }
    if label.cores != cores {
        return Err(format!(
            "{path} was formatted for {} cores, this node runs {cores}: refusing to use it",
            label.cores
        ));
    }
    if label.device_bytes > device_bytes {
        return Err(format!(
            "{path} is {device_bytes} bytes, smaller than the {} it was formatted with",
            label.device_bytes
        ));
    }
    // No separate O_DIRECT probe: the label was read (and, when formatting, written) with
    // O_DIRECT above.
    Ok((sector, label))
}

/// Opens core `core`'s data region on a device (creating its file on a directory device).
pub fn open_data_region(info: &DeviceInfo, core: usize) -> io::Result<DataRegion> {
    let (file, base, capacity_blocks) = open_data_region_std(info, core)?;
    let reserved_bytes = match capacity_blocks {
        Some(_) => None,
        None => Some(file.metadata()?.len()),
    };
    Ok(DataRegion {
        file: monoio::fs::File::from_std(file)?,
        base,
        capacity_blocks,
        reserved_bytes,
    })
}

/// `open_data_region` for synchronous use (recovery): the O_DIRECT file, the region's byte
/// offset in it, and its capacity in blocks (`None`: a file, which grows).
pub fn open_data_region_std(
    info: &DeviceInfo,
    core: usize,
) -> io::Result<(File, u64, Option<u64>)> {
    if let Some(label) = &info.block {
        let (base, len) = label.data_region(core);
        let file = blockdev::open_direct(&info.path, 0)?;
        return Ok((file, base, Some(len / BLOCK_BYTES)));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_DIRECT)
        .open(info.data_path(core))?;
    Ok((file, 0, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(node_id: &str, create: bool) -> ValidateOptions<'_> {
        ValidateOptions {
            node_id,
            create_dirs: create,
            fresh: create,
            cores: 1,
        }
    }

    #[test]
    fn validates_dirs_and_refuses_foreign_devices() {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let paths: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("d{i}"))).collect();
        let infos = validate(&paths, opts("node-a", true));
        assert!(infos.iter().all(|d| d.up), "{infos:?}");
        assert!(infos[0].dio_offset_align > 0);
        // Same node again: fine. Another node: refused.
        assert!(validate(&paths, opts("node-a", false)).iter().all(|d| d.up));
        let foreign = validate(&paths[..1], opts("node-b", false));
        assert!(!foreign[0].up);
        assert!(
            !foreign[0].no_direct_io,
            "a foreign label is not an O_DIRECT problem"
        );
        // A missing path without create: down, with a reason.
        let missing = validate(&[tmp.path().join("nope")], opts("node-a", false));
        assert!(!missing[0].up && missing[0].reason.is_some());
        assert!(!missing[0].no_direct_io);
    }

    #[test]
    fn tmpfs_without_o_direct_alignment_or_support_is_flagged() {
        // /dev/shm is tmpfs: it accepts O_DIRECT on recent kernels (with a warning from us);
        // on kernels where it refuses, the device must be flagged, never silently used.
        let shm = std::path::Path::new("/dev/shm");
        if !shm.is_dir() {
            println!("SKIPPED: no /dev/shm");
            return;
        }
        let dir = tempfile::tempdir_in(shm).unwrap();
        let info = &validate(&[dir.path().join("d0")], opts("node-a", true))[0];
        assert!(info.up || info.no_direct_io, "{info:?}");
    }
}
