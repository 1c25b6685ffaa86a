//! Big objects stream: a PUT and a GET of an object much larger than the memory they may use
//! stay within a few stripes (plus the bounded buffer pool), never the whole object.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use common::*;
use md5::Digest;
use tessera::engine::aligned::POOL_BYTES_MAX;
use tessera::engine::erasure::Geometry;
use tessera::engine::store::{BodyMsg, WriteCond};

struct Peak;
static NOW: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size() as i64, Ordering::Relaxed) + layout.size() as i64;
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: caller's contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Peak = Peak;

const OBJECT_BYTES: usize = 384 * 1024 * 1024;
const CHUNK_BYTES: usize = 256 * 1024;

#[test]
fn put_and_get_of_a_large_object_use_bounded_memory() {
    let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let geometry = Geometry::new(4, 2).unwrap();
    let mut rt = runtime();
    rt.block_on(async {
        let store = open(geometry, &devices(tmp.path(), 6));
        let baseline = NOW.load(Ordering::Relaxed);
        PEAK.store(baseline, Ordering::Relaxed);
        let (tx, rx) = async_channel::bounded(4);
        monoio::spawn(async move {
            let mut md5 = md5::Md5::new();
            for i in 0..OBJECT_BYTES / CHUNK_BYTES {
                let chunk = data(i as u64, CHUNK_BYTES);
                md5.update(&chunk);
                if tx.send(BodyMsg::Data(Bytes::from(chunk))).await.is_err() {
                    return;
                }
            }
            let _ = tx
                .send(BodyMsg::End {
                    md5: md5.finalize().into(),
                    checksum: None,
                })
                .await;
        });
        let entry = store
            .put_object(
                BUCKET,
                "huge",
                None,
                WriteCond::default(),
                &rx,
                Some(OBJECT_BYTES as u64),
            )
            .await
            .unwrap();
        assert_eq!(entry.size, OBJECT_BYTES as u64);
        let put_peak = PEAK.load(Ordering::Relaxed) - baseline;
        PEAK.store(NOW.load(Ordering::Relaxed), Ordering::Relaxed);
        let before_get = NOW.load(Ordering::Relaxed);
        let _guard = store.begin_read();
        let entry = store.lookup(BUCKET, "huge").unwrap();
        let mut pos = 0u64;
        let mut md5 = md5::Md5::new();
        let mut chunk_index = 0;
        let mut pending: Vec<u8> = Vec::new();
        while pos < entry.size {
            let (pieces, next) = store.read_chunk(&entry, pos, entry.size).await.unwrap();
            for p in pieces {
                md5.update(&p);
                pending.extend_from_slice(&p);
                while pending.len() >= CHUNK_BYTES {
                    assert!(
                        pending[..CHUNK_BYTES] == data(chunk_index, CHUNK_BYTES)[..],
                        "chunk {chunk_index}"
                    );
                    pending.drain(..CHUNK_BYTES);
                    chunk_index += 1;
                }
            }
            pos = next;
        }
        let digest: [u8; 16] = md5.finalize().into();
        assert_eq!(digest, entry.etag);
        let get_peak = PEAK.load(Ordering::Relaxed) - before_get;
        let limit = (POOL_BYTES_MAX + 32 * 1024 * 1024) as i64;
        println!(
            "object {} MiB: PUT peak {} MiB, GET peak {} MiB (limit {} MiB)",
            OBJECT_BYTES >> 20,
            put_peak >> 20,
            get_peak >> 20,
            limit >> 20
        );
        assert!(put_peak < limit, "PUT used {put_peak} bytes");
        assert!(get_peak < limit, "GET used {get_peak} bytes");
        assert!(limit < OBJECT_BYTES as i64 / 3);
    });
}
