//! Space reclaim: overwritten and deleted objects give their space back; packed stripes that
//! became mostly dead are compacted; stale multipart uploads expire. Content stays exact
//! throughout, and the state survives a restart.

mod common;

use std::rc::Rc;

use common::*;
use tessera::engine::erasure::Geometry;

fn used_blocks(store: &tessera::engine::store::Store) -> u64 {
    store.allocated_blocks()
}

#[test]
fn overwrite_and_delete_return_space() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let geometry = Geometry::new(4, 2).unwrap();
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices(tmp.path(), 6));
        let empty = used_blocks(&store);
        put(&store, "big", data(1, 3_000_000)).await.unwrap();
        let one = used_blocks(&store);
        assert!(one > empty);
        for i in 0..5 {
            put(&store, "big", data(i, 3_000_000)).await.unwrap();
        }
        assert_eq!(
            used_blocks(&store),
            one,
            "overwrites reuse the space of what they replace"
        );
        store.delete_object(BUCKET, "big").await.unwrap();
        assert_eq!(used_blocks(&store), empty, "a delete frees everything");
    });
}

#[test]
fn sparse_packed_stripes_are_compacted_and_stale_uploads_expire() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let geometry = Geometry::new(4, 2).unwrap();
    let objects: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| {
            (
                format!("{}small{i}", (b'a' + (i % 26) as u8) as char),
                data(i, 20_000 + i as usize),
            )
        })
        .collect();
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices(tmp.path(), 6));
        // Concurrent small PUTs share packed stripes.
        let tasks: Vec<_> = objects
            .iter()
            .cloned()
            .map(|(k, v)| {
                let store: Rc<_> = store.clone();
                monoio::spawn(async move { put(&store, &k, v).await.unwrap() })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        // Staged stripes are not compacted: write them home first.
        store.flush_staged().await.unwrap();
        let stripes_before = store.packed_stripes();
        assert!(
            stripes_before < objects.len(),
            "small objects were packed together ({stripes_before} stripes)"
        );
        let used_before = used_blocks(&store);
        for (k, _) in objects.iter().skip(4) {
            if !k.ends_with('7') {
                store.delete_object(BUCKET, k).await.unwrap();
            }
        }
        let upload = store
            .create_upload(BUCKET, "stale-upload", None, "")
            .await
            .unwrap();
        let far_future = tessera::engine::store::now_ms() + 30 * 24 * 3600 * 1000;
        let report = store.compact_pass(u64::MAX, far_future).await;
        assert!(report.objects_moved > 0, "{report:?}");
        assert_eq!(report.uploads_expired, 1);
        assert!(
            store.upload(upload, BUCKET, "stale-upload").is_err(),
            "expired upload is gone"
        );
        assert!(used_blocks(&store) < used_before, "compaction freed space");
        for (k, v) in objects
            .iter()
            .take(4)
            .chain(objects.iter().filter(|(k, _)| k.ends_with('7')))
        {
            assert_eq!(
                get(&store, k).await.unwrap().as_ref(),
                Some(v),
                "{k} after compaction"
            );
        }
    });
    drop(rt);
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices_again(tmp.path(), 6));
        for (k, v) in objects
            .iter()
            .take(4)
            .chain(objects.iter().filter(|(k, _)| k.ends_with('7')))
        {
            assert_eq!(
                get(&store, k).await.unwrap().as_ref(),
                Some(v),
                "{k} after restart"
            );
        }
        assert_eq!(
            store.list(BUCKET, b"", None, None, 1000).len(),
            4 + objects
                .iter()
                .skip(4)
                .filter(|(k, _)| k.ends_with('7'))
                .count()
        );
    });
}
