//! Engine benchmark (not a test): drives one core's `Store` directly — no HTTP — on real
//! O_DIRECT files, and prints throughput. `cargo bench -p tessera --bench engine -- [DIR]`.
//!
//! Reported: EC encode GB/s for the default 4+2 geometry; durable 1 MiB PUT MiB/s and 1 MiB GET
//! MiB/s at 32 in flight (BENCH_IN_FLIGHT); durable 4 KiB PUTs/s at 32 in flight; index memory
//! per object with 1,000,000 objects. The PUT phases overwrite a fixed set of keys per core (64
//! of 1 MiB, 4096 of 4 KiB), so after the first pass their shards go to space freed by the
//! previous versions, as fio's writes go to its laid-out file: the steady state of a store
//! that overwrites, not a fresh one filling new filesystem space (`docs/performance.md`). Environment: BENCH_SECS (default 5), BENCH_INDEX_OBJECTS (1000000), BENCH_ONLY (put1m, get1m — which writes first — or put4k).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tessera::engine::device;
use tessera::engine::erasure::{Codec, Geometry};
use tessera::engine::format::{Entry, Location, Record};
use tessera::engine::index::{composite_key, Index};
use tessera::engine::store::{BodyMsg, Store, WriteCond};

struct Counting;
static ALLOCATED: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn secs() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    )
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("tessera-engine-bench"));
    let _ = std::fs::remove_dir_all(&dir);
    encode_bench();
    index_memory();
    let paths: Vec<PathBuf> = (0..6).map(|i| dir.join(format!("d{i}"))).collect();
    let cores: usize = std::env::var("BENCH_CORES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let devices = device::validate(
        &paths,
        device::ValidateOptions {
            node_id: "bench",
            create_dirs: true,
            fresh: true,
            cores,
        },
    );
    // BENCH_PREFILL_MIB=N writes N MiB of zeros into every core's data file first, so the
    // benchmark's writes overwrite written blocks instead of extending the files (an A/B of
    // what file extension costs on this filesystem).
    if let Some(mib) = std::env::var("BENCH_PREFILL_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        use std::io::Write;
        let zeros = vec![0u8; 1 << 20];
        for d in &devices {
            for core in 0..cores {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(d.data_path(core))
                    .expect("data file");
                for _ in 0..mib {
                    f.write_all(&zeros).expect("prefill");
                }
                f.sync_all().expect("prefill sync");
            }
        }
        println!("prefilled {mib} MiB of zeros in every data file");
    }
    let in_flight: usize = std::env::var("BENCH_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    println!("engine: {cores} cores (one Store each, as the node runs), {in_flight} requests in flight in all (BENCH_IN_FLIGHT), EC 4+2 over 6 devices");
    let mib = 1024 * 1024;
    let phases: [(&str, usize, usize); 3] =
        [("put", mib, 64), ("get", mib, 64), ("put", 4096, 4096)];
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(cores));
    let threads: Vec<_> = (0..cores)
        .map(|core| {
            let (devices, barrier) = (devices.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .with_entries(1024)
                    .enable_timer()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let store = Store::open(core, Geometry::new(4, 2).expect("4+2"), &devices)
                        .expect("store");
                    let per_core = (in_flight / cores).max(1);
                    let mut results = Vec::new();
                    // BENCH_ONLY=put1m|get1m|put4k runs one phase (the others report 0).
                    let only = std::env::var("BENCH_ONLY").ok();
                    for (name, (op, size, keys)) in
                        ["put1m", "get1m", "put4k"].into_iter().zip(phases)
                    {
                        barrier.wait();
                        let skip = only
                            .as_deref()
                            .is_some_and(|o| o != name && !(o == "get1m" && name == "put1m"));
                        results.push(match op {
                            _ if skip => (0, 1.0),
                            "put" => run_puts(&store, size, per_core, keys).await,
                            _ => run_gets(&store, per_core, keys).await,
                        });
                    }
                    (results, store.stats.commits.get(), store.stats.fsyncs.get())
                })
            })
        })
        .collect();
    let per_core: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("bench thread"))
        .collect();
    let total = |phase: usize| -> (u64, f64) {
        let ops = per_core.iter().map(|(r, _, _)| r[phase].0).sum();
        let secs = per_core
            .iter()
            .map(|(r, _, _)| r[phase].1)
            .fold(0.0, f64::max);
        (ops, secs)
    };
    let (ops, secs) = total(0);
    println!(
        "engine put 1MiB (EC 4+2, {in_flight} in flight, durable): {:.0} MiB/s ({ops} ops in {secs:.1}s)",
        ops as f64 * size_mib(mib) / secs
    );
    let (ops, secs) = total(1);
    println!(
        "engine get 1MiB ({in_flight} in flight): {:.0} MiB/s ({ops} ops in {secs:.1}s)",
        ops as f64 * size_mib(mib) / secs
    );
    let (ops, secs) = total(2);
    let commits: u64 = per_core.iter().map(|(_, c, _)| c).sum();
    let fsyncs: u64 = per_core.iter().map(|(_, _, f)| f).sum();
    println!("engine put 4KiB ({in_flight} in flight, durable): {:.0} ops/s ({ops} ops in {secs:.1}s; whole run: {commits} commits, {fsyncs} fsyncs)", ops as f64 / secs);
    let _ = std::fs::remove_dir_all(&dir);
}

fn size_mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn encode_bench() {
    let geometry = Geometry::new(4, 2).expect("4+2");
    let shard = 256 * 1024;
    let data: Vec<Vec<u8>> = (0..4).map(|i| vec![i as u8 ^ 0x5A; shard]).collect();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let mut parity = vec![vec![0u8; shard]; 2];
    let mut codec = Codec::new();
    let started = Instant::now();
    let mut bytes = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        let mut out: Vec<&mut [u8]> = parity.iter_mut().map(|p| p.as_mut_slice()).collect();
        codec.encode(geometry, &refs, &mut out).expect("encode");
        bytes += (4 * shard) as u64;
    }
    println!(
        "ec encode 4+2 (256 KiB shards, one core): {:.2} GB/s of data",
        bytes as f64 / started.elapsed().as_secs_f64() / 1e9
    );
}

fn index_memory() {
    let objects: usize = std::env::var("BENCH_INDEX_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut index = Index::new();
    let mut key_bytes = 0u64;
    for i in 0..objects {
        let key = format!("{:08x}/object-{i}", (i as u64).wrapping_mul(0x9E37_79B9));
        let ckey = composite_key("bench-bucket", key.as_bytes());
        key_bytes += ckey.len() as u64;
        let entry = Entry {
            size: 4096,
            mtime_ms: 1,
            etag: [7; 16],
            parts_count: 0,
            loc: Location::Packed {
                stripe: (i / 64) as u64,
                offset: 0,
                len: 4096,
                crc: 0,
            },
            meta: None,
        };
        if i % 64 == 0 {
            index.apply(Record::Packed {
                id: (i / 64) as u64,
                stripe: small_stripe(),
            });
        }
        index.apply(Record::Put { key: ckey, entry });
    }
    let used = (ALLOCATED.load(Ordering::Relaxed) - before) as f64;
    println!(
        "index memory: {objects} objects, {:.0} bytes/object including keys, {:.0} bytes/object beyond the key bytes ({:.1} key bytes/object)",
        used / objects as f64,
        (used - key_bytes as f64) / objects as f64,
        key_bytes as f64 / objects as f64
    );
    drop(index);
}

fn small_stripe() -> tessera::engine::format::Stripe {
    use tessera::engine::format::{ShardLoc, Stripe};
    Stripe {
        geometry: Geometry::new(4, 2).expect("4+2"),
        shard_len: 65536,
        data_len: 262144,
        shards: (0..6)
            .map(|d| ShardLoc {
                dev: d,
                offset: 0,
                crc: 0,
            })
            .collect(),
    }
}

fn body(data: Bytes, md5: [u8; 16]) -> async_channel::Receiver<BodyMsg> {
    let (tx, rx) = async_channel::bounded(4);
    // The channel holds the whole (small) body plus End: no task needed.
    let _ = tx.try_send(BodyMsg::Data(data));
    let _ = tx.try_send(BodyMsg::End {
        md5,
        checksum: None,
    });
    rx
}

async fn run_puts(store: &Rc<Store>, size: usize, in_flight: usize, keys: usize) -> (u64, f64) {
    let payload = Bytes::from(vec![0xA5u8; size]);
    let md5 = [1u8; 16];
    let done = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    let deadline = started + secs();
    let mut tasks = Vec::new();
    for worker in 0..in_flight {
        let (store, payload, done) = (store.clone(), payload.clone(), done.clone());
        tasks.push(monoio::spawn(async move {
            let mut i = worker;
            while Instant::now() < deadline {
                let key = format!("k{}-{}", size, i % keys);
                store
                    .put_object(
                        "bench",
                        &key,
                        None,
                        WriteCond::default(),
                        &body(payload.clone(), md5),
                        Some(size as u64),
                    )
                    .await
                    .expect("put");
                done.set(done.get() + 1);
                i += in_flight;
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    (done.get(), started.elapsed().as_secs_f64())
}

async fn run_gets(store: &Rc<Store>, in_flight: usize, keys: usize) -> (u64, f64) {
    let keys = keys.min(store.index_counts().0.max(1));
    let done = Rc::new(Cell::new(0u64));
    let started = Instant::now();
    let deadline = started + secs();
    let mut tasks = Vec::new();
    for worker in 0..in_flight {
        let (store, done) = (store.clone(), done.clone());
        tasks.push(monoio::spawn(async move {
            let mut i = worker;
            while Instant::now() < deadline {
                let key = format!("k{}-{}", 1024 * 1024, i % keys);
                let _guard = store.begin_read();
                let entry = store.lookup("bench", &key).expect("written");
                let mut pos = 0;
                while pos < entry.size {
                    let (_, next) = store
                        .read_chunk(&entry, pos, entry.size)
                        .await
                        .expect("read");
                    pos = next;
                }
                done.set(done.get() + 1);
                i += in_flight;
            }
        }));
    }
    for t in tasks {
        t.await;
    }
    (done.get(), started.elapsed().as_secs_f64())
}
