//! A device that dies while the store runs: every read, write and flush to it fails with EIO
//! from one moment on, the way a pulled or dead drive answers. The device is a directory on an
//! ext4 filesystem on a loop device, and it dies by the filesystem being shut down
//! (`FS_IOC_SHUTDOWN` without flushing its log, as xfstests' `godown` does). It is device 0: a
//! journal mirror (the staging ring's too) and a data device. Writes after that must still be
//! acknowledged — the journal, the ring and every stripe go on with the devices left — and
//! read back byte-exact; after a crash, and with the device back as its filesystem's recovery
//! left it (stale, missing what it was never sent), every acknowledged write is there and
//! nothing else. Needs root (losetup, mkfs, mount); skipped with a printed reason otherwise.

mod common;

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use common::*;
use tessera::engine::erasure::Geometry;

/// `FS_IOC_SHUTDOWN`: `_IOR('X', 125, __u32)`.
const FS_IOC_SHUTDOWN: libc::c_ulong = 0x8004_587D;
/// Shut down without flushing the log: what was not yet on the disk is lost, as in a crash.
const GOING_FLAGS_NOLOGFLUSH: u32 = 2;

fn shut_down(mount: &Path) {
    let dir = std::fs::File::open(mount).unwrap();
    let flags = GOING_FLAGS_NOLOGFLUSH;
    // SAFETY: `dir` is an open descriptor on the filesystem; the ioctl reads one u32 flag.
    let rc = unsafe { libc::ioctl(dir.as_raw_fd(), FS_IOC_SHUTDOWN, &flags) };
    assert_eq!(rc, 0, "shutdown: {}", std::io::Error::last_os_error());
}

fn geometry() -> Geometry {
    Geometry::new(4, 2).unwrap()
}

/// Device 0 on the loop filesystem, devices 1–5 in `root`.
fn paths(mount: &Path, root: &Path) -> Vec<PathBuf> {
    let mut paths = vec![mount.join("d0")];
    paths.extend((1..6).map(|i| root.join(format!("d{i}"))));
    paths
}

async fn check_all(
    store: &std::rc::Rc<tessera::engine::store::Store>,
    model: &BTreeMap<String, Option<Vec<u8>>>,
    when: &str,
) {
    for (key, want) in model {
        let got = get(store, key)
            .await
            .unwrap_or_else(|e| panic!("{key} {when}: {e:?}"));
        assert!(
            got == *want,
            "{key} {when}: {} bytes, want {:?}",
            got.as_ref().map_or(0, Vec::len),
            want.as_ref().map(Vec::len)
        );
    }
}

#[test]
fn a_device_that_dies_mid_run_loses_no_acknowledged_write() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let mut mounted = match LoopMount::ext4(tmp.path(), 512) {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED a_device_that_dies_mid_run_loses_no_acknowledged_write: {why}");
            return;
        }
    };
    let paths = paths(&mounted.mount, tmp.path());
    let mut model: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry(), &validate_paths(&paths, true));
        assert!(store.devs.iter().all(|d| d.is_up()));
        // Before: small objects (their batches go through the staging ring) and large ones.
        for i in 0..20 {
            let (k, v) = (format!("before-{i:02}"), data(i, 3000 + i as usize));
            put(&store, &k, v.clone()).await.unwrap();
            model.insert(k, Some(v));
        }
        for i in 0..2 {
            let (k, v) = (format!("big-before-{i}"), data(100 + i, 1_500_000));
            put(&store, &k, v.clone()).await.unwrap();
            model.insert(k, Some(v));
        }

        shut_down(&mounted.mount);

        // After: every write is still acknowledged, with device 0 failing each I/O.
        for i in 0..40u64 {
            let (k, v) = (format!("after-{i:02}"), data(200 + i, 2000 + i as usize));
            put(&store, &k, v.clone())
                .await
                .unwrap_or_else(|e| panic!("{k}: {e:?}"));
            model.insert(k, Some(v));
        }
        for i in 0..3u64 {
            let (k, v) = (format!("big-after-{i}"), data(300 + i, 1_200_000));
            put(&store, &k, v.clone())
                .await
                .unwrap_or_else(|e| panic!("{k}: {e:?}"));
            model.insert(k, Some(v));
        }
        for i in 0..5u64 {
            let k = format!("before-{i:02}");
            store.delete_object(BUCKET, &k).await.unwrap();
            model.insert(k, None);
            let (k, v) = (format!("before-{:02}", 10 + i), data(400 + i, 7000));
            put(&store, &k, v.clone()).await.unwrap();
            model.insert(k, Some(v));
        }
        multipart(&store, "mp-after", &[data(500, 5 << 20), data(501, 1000)])
            .await
            .unwrap();
        let mut whole = data(500, 5 << 20);
        whole.extend(data(501, 1000));
        model.insert("mp-after".into(), Some(whole));
        assert!(
            !store.devs[0].is_up(),
            "device 0 is failed, not silently used"
        );
        check_all(&store, &model, "with device 0 dead").await;
        // A crash: no clean shutdown, so the last batches are only in the staging ring (on
        // the two mirrors left) when the store comes back.
    });
    drop(rt);

    // The device comes back as its filesystem's recovery leaves it: stale.
    mounted.remount().unwrap();
    for round in [
        "after a crash, device 0 back stale",
        "after a second restart",
    ] {
        let mut rt = runtime();
        rt.block_on(async {
            let store = open(geometry(), &validate_paths(&paths, false));
            check_all(&store, &model, round).await;
        });
    }
}
