//! Shared harness for engine tests: real device directories (O_DIRECT files on disk under the
//! system temp dir, never tmpfs), a `Store` opened on a monoio io_uring runtime, and small
//! helpers that drive it the way the S3 layer does.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use md5::Digest;
use tessera::engine::device::{self, DeviceInfo};
use tessera::engine::erasure::Geometry;
use tessera::engine::error::StorageError;
use tessera::engine::store::{BodyMsg, Store, WriteCond};

pub const BUCKET: &str = "bucket";

pub fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>> {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(256)
        .enable_timer()
        .build()
        .expect("io_uring runtime")
}

pub fn device_paths(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| root.join(format!("d{i}"))).collect()
}

pub fn devices(root: &Path, n: usize) -> Vec<DeviceInfo> {
    validate_paths(&device_paths(root, n), true)
}

/// Validates device paths (directories or block devices) as a one-core test node; `fresh`
/// creates directories and formats blank block devices.
pub fn validate_paths(paths: &[PathBuf], fresh: bool) -> Vec<DeviceInfo> {
    device::validate(
        paths,
        device::ValidateOptions {
            node_id: "test-node",
            create_dirs: fresh,
            fresh,
            cores: 1,
        },
    )
}

/// Devices for a restart: missing directories are *not* recreated (they are down).
pub fn devices_again(root: &Path, n: usize) -> Vec<DeviceInfo> {
    validate_paths(&device_paths(root, n), false)
}

pub fn open(geometry: Geometry, devices: &[DeviceInfo]) -> Rc<Store> {
    Store::open(0, geometry, devices).expect("store opens")
}

pub fn md5(data: &[u8]) -> [u8; 16] {
    md5::Md5::digest(data).into()
}

/// Sends `data` as a body in chunks, as the front end does.
pub fn body(data: Vec<u8>) -> async_channel::Receiver<BodyMsg> {
    let (tx, rx) = async_channel::bounded(4);
    let digest = md5(&data);
    monoio::spawn(async move {
        for chunk in data.chunks(256 * 1024) {
            if tx
                .send(BodyMsg::Data(Bytes::copy_from_slice(chunk)))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = tx
            .send(BodyMsg::End {
                md5: digest,
                checksum: None,
            })
            .await;
    });
    rx
}

pub async fn put(store: &Store, key: &str, data: Vec<u8>) -> Result<(), StorageError> {
    let size = data.len() as u64;
    store
        .put_object(
            BUCKET,
            key,
            None,
            WriteCond::default(),
            &body(data),
            Some(size),
        )
        .await
        .map(|_| ())
}

pub async fn get(store: &Rc<Store>, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
    let _guard = store.begin_read();
    let Some(entry) = store.lookup(BUCKET, key) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(entry.size as usize);
    let mut pos = 0;
    while pos < entry.size {
        let (pieces, next) = store.read_chunk(&entry, pos, entry.size).await?;
        for p in pieces {
            out.extend_from_slice(&p);
        }
        assert!(next > pos, "read_chunk makes progress");
        pos = next;
    }
    assert_eq!(out.len() as u64, entry.size);
    assert_eq!(
        md5(&out),
        entry.etag_md5_for_single_part_or(&out),
        "content matches its ETag"
    );
    Ok(Some(out))
}

/// Uploads `parts` as a multipart object.
pub async fn multipart(store: &Store, key: &str, parts: &[Vec<u8>]) -> Result<(), StorageError> {
    let id = store.create_upload(BUCKET, key, None, "").await?;
    let mut listed = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let number = i as u32 + 1;
        let part = store
            .put_part(
                id,
                BUCKET,
                key,
                number,
                &body(data.clone()),
                Some(data.len() as u64),
            )
            .await?;
        listed.push((number, hex::encode(part.etag)));
    }
    store
        .complete_upload(id, BUCKET, key, &listed, WriteCond::default())
        .await
        .map(|_| ())
}

/// Runs a command (losetup, for the block-device tests); its trimmed stdout, or why it failed.
pub fn run(cmd: &mut std::process::Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// An ext4 filesystem on a loop device over a 256 MiB image file, mounted; unmounted and
/// detached when dropped. Needs root (losetup, mkfs, mount).
pub struct LoopMount {
    pub device: String,
    pub mount: PathBuf,
    image: PathBuf,
    /// Loop devices of earlier mounts (`remount`), detached on drop too.
    earlier: Vec<String>,
}

impl LoopMount {
    /// Makes `dir/disk.img`, a loop device over it with `sector`-byte logical sectors and
    /// direct I/O, an ext4 filesystem on that, mounted at `dir/mnt`.
    pub fn ext4(dir: &Path, sector: u32) -> Result<LoopMount, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: losetup and mount need root".into());
        }
        let image = dir.join("disk.img");
        let file = std::fs::File::create(&image).map_err(|e| e.to_string())?;
        file.set_len(256 * 1024 * 1024).map_err(|e| e.to_string())?;
        let device = run(std::process::Command::new("losetup")
            .args(["--sector-size", &sector.to_string(), "--direct-io=on"])
            .args(["--find", "--show"])
            .arg(&image))?;
        let mount = dir.join("mnt");
        std::fs::create_dir_all(&mount).map_err(|e| e.to_string())?;
        let guard = LoopMount {
            device: device.clone(),
            mount: mount.clone(),
            image: image.clone(),
            earlier: Vec::new(),
        };
        run(std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096"])
            .arg(&device))?;
        run(std::process::Command::new("mount").arg(&device).arg(&mount))?;
        Ok(guard)
    }

    /// Mounts the image again, as a machine would after a crash (ext4 replays its journal), on
    /// a new loop device: the old mount is detached lazily, since descriptors of dropped stores
    /// may still hold it (monoio closes files asynchronously).
    pub fn remount(&mut self) -> Result<(), String> {
        run(std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount))?;
        let sector = run(std::process::Command::new("blockdev")
            .arg("--getss")
            .arg(&self.device))?;
        let device = run(std::process::Command::new("losetup")
            .args(["--sector-size", &sector, "--direct-io=on"])
            .args(["--find", "--show"])
            .arg(&self.image))?;
        self.earlier
            .push(std::mem::replace(&mut self.device, device.clone()));
        run(std::process::Command::new("mount")
            .arg(&device)
            .arg(&self.mount))?;
        Ok(())
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        // monoio closes files asynchronously, so descriptors of the dropped stores may still be
        // open: fall back to a lazy unmount, which completes when they close (at exit at the
        // latest), and the loop device (autoclear) goes with it.
        let unmounted = std::process::Command::new("umount")
            .arg(&self.mount)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.mount)
                .status();
        }
        for device in self.earlier.iter().chain([&self.device]) {
            let _ = std::process::Command::new("losetup")
                .arg("-d")
                .arg(device)
                .status();
        }
    }
}

/// Deterministic pseudo-random bytes.
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub trait EtagCheck {
    fn etag_md5_for_single_part_or(&self, data: &[u8]) -> [u8; 16];
}

impl EtagCheck for tessera::engine::format::Entry {
    /// For a plain object the ETag is the MD5 of the content; multipart ETags are checked
    /// elsewhere, so return the content's MD5 to make the comparison trivially true.
    fn etag_md5_for_single_part_or(&self, data: &[u8]) -> [u8; 16] {
        if self.parts_count == 0 {
            self.etag
        } else {
            md5(data)
        }
    }
}
