//! Journal rotation: past the size limit the commit task writes a checkpoint and starts a new
//! journal generation, once per limit crossed (not once per batch), and everything written
//! across many rotations survives a crash. The limit is lowered through
//! `TESSERA_JOURNAL_ROTATE_BYTES` (this test binary is its own process). Rotation destages
//! the staging ring first, and what the ring holds at the crash is replayed after it.

mod common;

use common::*;
use tessera::engine::erasure::Geometry;

#[test]
fn many_rotations_then_a_crash_lose_nothing() {
    // SAFETY-free in edition 2021; this binary holds only this test, so no thread reads the
    // environment concurrently.
    std::env::set_var("TESSERA_JOURNAL_ROTATE_BYTES", "65536");
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let geometry = Geometry::new(4, 2).unwrap();
    let objects: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| {
            (
                format!("{}k{i}", (b'a' + (i % 26) as u8) as char),
                data(i, 100 + i as usize),
            )
        })
        .collect();
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices(tmp.path(), 6));
        let first = store.journal_generation();
        // Each PUT is made one journal frame by destaging it at once; the last 20 stay in
        // the staging ring, to be replayed after the crash on top of the rotated journal.
        for (i, (k, v)) in objects.iter().enumerate() {
            put(&store, k, v.clone()).await.unwrap();
            if i < objects.len() - 20 {
                store.flush_staged().await.unwrap();
            }
        }
        let rotations = store.journal_generation() - first;
        // Each destaged PUT is one 4 KiB frame: 280 frames over 64 KiB generations.
        assert!(
            (10..=30).contains(&rotations),
            "{rotations} rotations for 300 frames of 4 KiB"
        );
    });
    drop(rt); // a crash: no clean shutdown
    let journals = std::fs::read_dir(tmp.path().join("d0").join("tessera"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("journal")
        })
        .count();
    assert!(
        journals <= 2,
        "old generations are removed ({journals} journal files)"
    );
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices_again(tmp.path(), 6));
        for (k, v) in &objects {
            assert_eq!(get(&store, k).await.unwrap().as_ref(), Some(v), "{k}");
        }
    });
}
