//! Data devices: validating them at start, and opening one core's files on each.
//!
//! A device is a directory on an O_DIRECT-capable filesystem (raw block devices: planned, see
//! docs). Layout inside it: `tessera/device.id` (which node and slot it belongs to),
//! `tessera/core-C.data` (core C's data region, written only by core C), and on the journal
//! mirrors `tessera/core-C.journal-G` / `tessera/core-C.ckpt-G`.
//!
//! A device that is missing, unreadable or of another node is *down*: the node still starts
//! if no more than `m` devices are down, says so loudly, and serves degraded.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::constants::BLOCK_BYTES;

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
}

impl DeviceInfo {
    pub fn dir(&self) -> PathBuf {
        self.path.join("tessera")
    }
    pub fn data_path(&self, core: usize) -> PathBuf {
        self.dir().join(format!("core-{core}.data"))
    }
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

/// Validates every device at start. `node_id` ties devices to this node: a device labelled
/// for another node is refused (down). Returns one `DeviceInfo` per path, in order.
pub fn validate(paths: &[PathBuf], node_id: &str, create: bool) -> Vec<DeviceInfo> {
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
            };
            match validate_one(&info, node_id, create) {
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

fn validate_one(info: &DeviceInfo, node_id: &str, create: bool) -> Result<(u32, u32), String> {
    if create {
        fs::create_dir_all(&info.path)
            .map_err(|e| format!("cannot create {}: {e}", info.path.display()))?;
    }
    let meta = fs::metadata(&info.path).map_err(|e| format!("{}: {e}", info.path.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "{} is not a directory (raw block devices are not supported yet)",
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

/// Opens (creating) core `core`'s data file on a device for O_DIRECT I/O through io_uring.
pub fn open_data_file(info: &DeviceInfo, core: usize) -> io::Result<monoio::fs::File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_DIRECT)
        .open(info.data_path(core))?;
    monoio::fs::File::from_std(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_dirs_and_refuses_foreign_devices() {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let paths: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("d{i}"))).collect();
        let infos = validate(&paths, "node-a", true);
        assert!(infos.iter().all(|d| d.up), "{infos:?}");
        assert!(infos[0].dio_offset_align > 0);
        // Same node again: fine. Another node: refused.
        assert!(validate(&paths, "node-a", false).iter().all(|d| d.up));
        let foreign = validate(&paths[..1], "node-b", false);
        assert!(!foreign[0].up);
        assert!(
            !foreign[0].no_direct_io,
            "a foreign label is not an O_DIRECT problem"
        );
        // A missing path without create: down, with a reason.
        let missing = validate(&[tmp.path().join("nope")], "node-a", false);
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
        let info = &validate(&[dir.path().join("d0")], "node-a", true)[0];
        assert!(info.up || info.no_direct_io, "{info:?}");
    }
}
