//! Alignment on a 4Kn device: an ext4 filesystem on a loop device with 4096-byte logical
//! sectors (`losetup --sector-size 4096 --direct-io=on`), as an NVMe drive formatted 4Kn
//! would be. O_DIRECT there refuses anything not aligned to 4096, so every engine I/O must
//! be. Needs root (losetup, mkfs, mount); skipped with a printed reason otherwise.

mod common;

use std::process::Command;

use common::*;
use tessera::engine::erasure::Geometry;

#[test]
fn engine_on_a_4kn_loop_device() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let mounted = match LoopMount::ext4(tmp.path(), 4096) {
        Ok(m) => m,
        Err(why) => {
            println!("SKIPPED engine_on_a_4kn_loop_device: {why}");
            return;
        }
    };
    let sector = run(Command::new("blockdev").arg("--getss").arg(&mounted.device)).unwrap();
    assert_eq!(sector, "4096", "loop device has 4096-byte logical sectors");
    let root = mounted.mount.join("devs");
    let devs = devices(&root, 3);
    assert!(devs.iter().all(|d| d.up), "{devs:?}");
    assert_eq!(
        devs[0].dio_offset_align, 4096,
        "statx reports the 4Kn DIO alignment"
    );
    let geometry = Geometry::for_devices(3);
    let objects: Vec<(String, Vec<u8>)> = [1usize, 511, 4097, 100_000, 1_500_000]
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("k{i}"), data(i as u64, n)))
        .collect();
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devs);
        for (k, v) in &objects {
            put(&store, k, v.clone()).await.unwrap();
        }
        for (k, v) in &objects {
            assert_eq!(get(&store, k).await.unwrap().as_ref(), Some(v), "{k}");
        }
    });
    drop(rt);
    let (_, offset_align) = tessera::engine::device::dio_align(&devs[0].data_path(0)).unwrap();
    assert_eq!(offset_align, 4096, "the data file is on the 4Kn device");
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices_again(&root, 3));
        for (k, v) in &objects {
            assert_eq!(
                get(&store, k).await.unwrap().as_ref(),
                Some(v),
                "{k} after reopen"
            );
        }
    });
}
