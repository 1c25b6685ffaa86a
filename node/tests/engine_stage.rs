//! The staging ring: batches of small objects are durable once their entry (records and data)
//! is on the journal mirrors' rings; their stripes go home later. These tests crash the store
//! (drop its runtime, no clean shutdown) while objects are only staged, make sure their home
//! shards hold stale bytes (as if never written), and check that recovery writes them home
//! from the ring — every acknowledged object back byte-exact, deletes and overwrites replayed
//! in order — including after the ring wrapped and with a journal mirror gone.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::*;
use tessera::engine::erasure::Geometry;
use tessera::engine::format::{Location, DEV_MISSING};
use tessera::engine::store::Store;

fn geometry() -> Geometry {
    Geometry::new(4, 2).unwrap()
}

/// Overwrites every home shard of the packed stripes of `keys` with other bytes.
fn scribble_home_shards(root: &Path, store: &Store, keys: &[String]) {
    for key in keys {
        let entry = store.lookup(BUCKET, key).expect("present");
        let Location::Packed { stripe, .. } = entry.loc else {
            panic!("{key} is packed");
        };
        let stripe = store.packed_stripe(stripe).expect("its stripe");
        for shard in stripe.shards.iter().filter(|s| s.dev != DEV_MISSING) {
            let path = root
                .join(format!("d{}", shard.dev))
                .join("tessera")
                .join("core-0.data");
            let file = OpenOptions::new().write(true).open(&path).unwrap();
            file.write_all_at(&vec![0x5Au8; stripe.shard_len as usize], shard.offset)
                .unwrap();
            file.sync_all().unwrap();
        }
    }
}

fn objects(n: usize, len: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("obj-{i:04}"), data(i as u64, len + i)))
        .collect()
}

#[test]
fn staged_objects_come_back_from_the_ring_after_a_crash() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let objs = objects(30, 5000);
    let keys: Vec<String> = objs.iter().map(|(k, _)| k.clone()).collect();
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry(), &devices(tmp.path(), 6));
        for (k, v) in &objs {
            put(&store, k, v.clone()).await.unwrap();
        }
        // Overwrite one, delete another: replay must apply them in order.
        put(&store, "obj-0003", data(99, 777)).await.unwrap();
        store.delete_object(BUCKET, "obj-0004").await.unwrap();
        assert!(
            store.stats.staged_commits.get() > 0,
            "small PUTs were staged"
        );
        assert_eq!(store.stats.destages.get(), 0, "nothing went home yet");
        // Reads are served from the staged stripes.
        assert_eq!(
            get(&store, "obj-0007").await.unwrap(),
            Some(objs[7].1.clone())
        );
        // The home blocks hold something else: only the ring has these bytes.
        let live: Vec<String> = keys
            .iter()
            .filter(|k| k.as_str() != "obj-0004")
            .cloned()
            .collect();
        scribble_home_shards(tmp.path(), &store, &live);
        assert_eq!(
            get(&store, "obj-0008").await.unwrap(),
            Some(objs[8].1.clone())
        );
    });
    drop(rt); // the crash
    for round in 0..2 {
        let mut rt = runtime();
        rt.block_on(async {
            let store = open(geometry(), &devices_again(tmp.path(), 6));
            for (i, (k, v)) in objs.iter().enumerate() {
                let want = match i {
                    3 => Some(data(99, 777)),
                    4 => None,
                    _ => Some(v.clone()),
                };
                assert_eq!(
                    get(&store, k).await.unwrap(),
                    want,
                    "{k} after restart {round}"
                );
            }
            // Read from home now, not from memory: every shard checks out.
            let report = store.scrub_pass(u64::MAX).await;
            assert_eq!(report.unrecoverable, 0, "{report:?}");
            assert_eq!(
                report.shards_repaired, 0,
                "the ring rewrote every shard: {report:?}"
            );
        });
    }
}

#[test]
fn the_ring_wraps_and_replays_across_the_wrap_with_a_mirror_gone() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    // 100 KiB objects, one entry each: well past the 8 MiB ring, so it wraps while background
    // destages free its halves.
    let objs = objects(200, 100 * 1024);
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry(), &devices(tmp.path(), 6));
        for (k, v) in &objs {
            put(&store, k, v.clone()).await.unwrap();
        }
        assert!(
            store.stats.destages.get() >= 2,
            "the ring filled and was destaged"
        );
    });
    drop(rt);
    // Journal mirrors are d0..d2 (m + 1): lose one of them, and a data-only device.
    std::fs::remove_dir_all(tmp.path().join("d1")).unwrap();
    std::fs::remove_dir_all(tmp.path().join("d5")).unwrap();
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry(), &devices_again(tmp.path(), 6));
        for (k, v) in &objs {
            assert_eq!(get(&store, k).await.unwrap().as_ref(), Some(v), "{k}");
        }
    });
}

#[test]
fn a_destage_racing_a_ring_write_never_skips_an_acknowledged_entry() {
    // Destages started from outside the commit loop (here `flush_staged`, as at shutdown)
    // run while the loop may be writing the next entry: the mark they journal must stop
    // before that entry, whose records are not staged yet. A crash right after the last
    // acknowledgement must find every acknowledged object.
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let acked: Vec<(String, Vec<u8>)> = {
        let mut rt = runtime();
        rt.block_on(async {
            let store = open(geometry(), &devices(tmp.path(), 6));
            let acked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for worker in 0..16u64 {
                let (store, acked) = (store.clone(), acked.clone());
                tasks.push(monoio::spawn(async move {
                    for i in 0..40u64 {
                        let key = format!("w{worker}-{i}");
                        let value = data(worker * 1000 + i, 1000 + (i as usize * 37) % 3000);
                        put(&store, &key, value.clone()).await.unwrap();
                        acked.borrow_mut().push((key, value));
                    }
                }));
            }
            let flusher = {
                let store = store.clone();
                monoio::spawn(async move {
                    for _ in 0..200 {
                        store.flush_staged().await.unwrap();
                        monoio::time::sleep(std::time::Duration::from_micros(200)).await;
                    }
                })
            };
            for t in tasks {
                t.await;
            }
            drop(flusher); // the crash comes with whatever the flusher was doing
            assert!(store.stats.destages.get() > 0);
            let acked = acked.borrow().clone();
            acked
        })
    };
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry(), &devices_again(tmp.path(), 6));
        for (k, v) in &acked {
            assert_eq!(get(&store, k).await.unwrap().as_ref(), Some(v), "{k}");
        }
    });
}
