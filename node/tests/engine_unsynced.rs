//! One-round-trip group commit: a batch's journal frame is written while its data is still
//! being written and flushed, so after a power cut the last frame may name shards that never
//! reached the disk. These tests make that state on real O_DIRECT files — the last frame
//! durable, its new shards overwritten with stale bytes as if they were never written — and check
//! that recovery drops exactly the records whose data is gone (never serving wrong bytes,
//! never losing what an earlier frame committed), keeps the ones whose data is whole or
//! rebuildable, and that the decision survives the next restart.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::*;
use tessera::engine::erasure::Geometry;
use tessera::engine::format::{Entry, Location, ShardLoc, Stripe, DEV_MISSING};
use tessera::engine::store::Store;

fn geometry() -> Geometry {
    // These tests are about the journal path: small objects must not take the staging ring
    // (`engine_stage.rs` covers that). Set once, before any test of this binary reads it.
    static STAGING_OFF: std::sync::Once = std::sync::Once::new();
    STAGING_OFF.call_once(|| std::env::set_var("TESSERA_STAGING", "off"));
    Geometry::new(4, 2).unwrap()
}

/// The stripes an entry's bytes live in (its packed stripe, or its parts' stripes).
fn stripes_of(store: &Store, entry: &Entry) -> Vec<Stripe> {
    match &entry.loc {
        Location::Empty => Vec::new(),
        Location::Packed { stripe, .. } => {
            vec![store.packed_stripe(*stripe).expect("packed stripe exists")]
        }
        Location::Parts(parts) => parts.iter().flat_map(|p| p.stripes.to_vec()).collect(),
    }
}

/// Overwrites `count` shards of every stripe with other bytes, as a write that never reached
/// the disk leaves them (whatever the blocks held before; not zeros, which padding shards
/// already are).
fn lose_shards(root: &Path, stripes: &[Stripe], count: usize) {
    for stripe in stripes {
        let stale = vec![0xA5u8; stripe.shard_len as usize];
        let live: Vec<&ShardLoc> = stripe
            .shards
            .iter()
            .filter(|s| s.dev != DEV_MISSING)
            .collect();
        for shard in live.iter().take(count) {
            let path = root
                .join(format!("d{}", shard.dev))
                .join("tessera")
                .join("core-0.data");
            let file = OpenOptions::new().write(true).open(&path).unwrap();
            file.write_all_at(&stale, shard.offset).unwrap();
            file.sync_all().unwrap();
        }
    }
}

/// Reopens the store and returns what `keys` read back (None: absent).
fn read_back(root: &Path, keys: &[&str]) -> Vec<Option<Vec<u8>>> {
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry(), &devices_again(root, 6));
        let mut out = Vec::new();
        for key in keys {
            out.push(get(&store, key).await.expect("reads never fail here"));
        }
        out
    })
}

#[test]
fn a_last_frame_whose_new_data_is_lost_is_dropped_and_the_old_version_stays() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let (keep, old, new) = (data(1, 3000), data(2, 2_500_000), data(3, 2_100_000));
    let mut rt = runtime();
    let lost = rt.block_on(async {
        let store = open(geometry(), &devices(tmp.path(), 6));
        put(&store, "keep", keep.clone()).await.unwrap();
        put(&store, "big", old.clone()).await.unwrap();
        put(&store, "big", new.clone()).await.unwrap();
        let entry = store.lookup(BUCKET, "big").unwrap();
        stripes_of(&store, &entry)
    });
    drop(rt);
    assert_eq!(lost.len(), 3, "2.1 MB is three 1 MiB stripes");
    // Only the last stripe's data is lost, on more shards than parity can rebuild.
    lose_shards(tmp.path(), &lost[2..], 3);
    let got = read_back(tmp.path(), &["keep", "big"]);
    assert_eq!(
        got[0].as_deref(),
        Some(&keep[..]),
        "an earlier frame's object"
    );
    assert!(
        got[1].as_deref() == Some(&old[..]),
        "the put whose data was lost is dropped; the previous version is back"
    );
    // The decision was made durable: a second restart, after new writes, agrees.
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry(), &devices_again(tmp.path(), 6));
        put(&store, "after", data(4, 70_000)).await.unwrap();
    });
    drop(rt);
    let got = read_back(tmp.path(), &["keep", "big", "after"]);
    assert_eq!(got[0].as_deref(), Some(&keep[..]));
    assert_eq!(got[1].as_deref(), Some(&old[..]));
    assert_eq!(got[2].as_deref(), Some(&data(4, 70_000)[..]));
}

#[test]
fn a_lost_packed_stripe_drops_its_objects_and_only_them() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let mut rt = runtime();
    let lost = rt.block_on(async {
        let store = open(geometry(), &devices(tmp.path(), 6));
        put(&store, "earlier", data(5, 4096)).await.unwrap();
        put(&store, "small", data(6, 4096)).await.unwrap();
        let entry = store.lookup(BUCKET, "small").unwrap();
        assert!(matches!(entry.loc, Location::Packed { .. }));
        stripes_of(&store, &entry)
    });
    drop(rt);
    lose_shards(tmp.path(), &lost, 6);
    let got = read_back(tmp.path(), &["earlier", "small"]);
    assert_eq!(got[0].as_deref(), Some(&data(5, 4096)[..]));
    assert_eq!(
        got[1], None,
        "never acknowledged, its data gone: absent, not wrong"
    );
}

#[test]
fn a_last_frame_with_rebuildable_data_is_kept() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let value = data(7, 1_500_000);
    let mut rt = runtime();
    let stripes = rt.block_on(async {
        let store = open(geometry(), &devices(tmp.path(), 6));
        put(&store, "big", value.clone()).await.unwrap();
        let entry = store.lookup(BUCKET, "big").unwrap();
        stripes_of(&store, &entry)
    });
    drop(rt);
    // m = 2 shards of every stripe lost: k remain, the object is whole.
    lose_shards(tmp.path(), &stripes, 2);
    let got = read_back(tmp.path(), &["big"]);
    assert_eq!(got[0].as_deref(), Some(&value[..]));
}

#[test]
fn a_completed_multipart_upload_as_last_frame_is_kept() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let parts = [data(8, 5 * 1024 * 1024), data(9, 1000)];
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry(), &devices(tmp.path(), 6));
        multipart(&store, "mp", &parts).await.unwrap();
    });
    drop(rt);
    let got = read_back(tmp.path(), &["mp"]);
    assert_eq!(got[0].as_deref(), Some(&parts.concat()[..]));
}
