//! Every limit of the node in one place, with compile-time checks on how they relate.
//! Units and qualifiers come last in names (`stripe_data_bytes_max`).

/// Devices per node (a stripe spans at most this many).
pub const DEVICES_MAX: usize = 32;
/// Executors (cores) per node.
pub const CORES_MAX: usize = 256;

/// Allocation and I/O unit on data devices; every shard is a multiple of it. Devices whose
/// DIOALIGN is larger are refused at start.
pub const BLOCK_BYTES: u64 = 4096;
/// Data bytes per stripe of a large object (split over k shards).
pub const STRIPE_DATA_BYTES: u64 = 1024 * 1024;
/// Objects smaller than this are packed into shared per-core stripes.
pub const PACKED_OBJECT_BYTES_MAX: u64 = 128 * 1024;
/// A packed stripe is sealed once it holds this much data (or at the next group commit).
pub const PACKED_STRIPE_DATA_BYTES_MAX: u64 = 1024 * 1024;

/// S3 limits.
pub const KEY_BYTES_MAX: usize = 1024;
pub const OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024;
pub const PART_BYTES_MIN: u64 = 5 * 1024 * 1024;
pub const PARTS_MAX: u32 = 10_000;
pub const LIST_KEYS_MAX: usize = 1000;
pub const DELETE_KEYS_MAX: usize = 1000;
pub const USER_METADATA_BYTES_MAX: usize = 2048;

/// Index memory per object beyond its key bytes, as measured with 1,000,000 small objects by
/// `cargo bench -p tessera --bench engine` (168 bytes in Nov 2026); used by `/metrics`.
pub const INDEX_ENTRY_OVERHEAD_BYTES: u64 = 168;

/// Journal: one group commit writes at most this many records / bytes.
pub const COMMIT_BATCH_RECORDS_MAX: usize = 1024;
/// A journal generation is checkpointed and rotated after this many bytes.
pub const JOURNAL_ROTATE_BYTES: u64 = 256 * 1024 * 1024;
/// A group commit whose new shards total at most this many bytes writes its journal frame
/// alongside them (one device round trip); a larger one flushes them first. It bounds what
/// recovery reads back to check the last frame (`engine/verify.rs`).
pub const UNSYNCED_COMMIT_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Staging ring per core per journal mirror (`engine/stage.rs`): batches of small objects are
/// made durable here, data included, and destaged (data written home, flushed, records
/// journaled) when it is full or idle for `STAGE_IDLE_MS`. Bounds the memory staged stripes
/// hold (about 1.5 × this per core).
pub const STAGE_RING_BYTES: u64 = 8 * 1024 * 1024;
/// A staged batch is destaged at the latest this long after the ring went quiet.
pub const STAGE_IDLE_MS: u64 = 50;
/// A data file is preallocated this much at a time, ahead of the shards written to it.
pub const DATA_RESERVE_STEP: u64 = 64 * 1024 * 1024;
/// A single journal record (key + metadata + layout) is at most this large.
pub const RECORD_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Cross-core inbox depth per core; a full inbox answers 503 SlowDown.
pub const MESH_INBOX_DEPTH: usize = 1024;
/// Body chunks in flight between the accepting core and the owner, per request.
pub const BODY_CHANNEL_DEPTH: usize = 4;
/// Size of body chunks moved between cores.
pub const BODY_CHUNK_BYTES: usize = 256 * 1024;

/// HTTP limits.
pub const CONNECTIONS_PER_CORE_MAX: usize = 4096;
pub const REQUEST_HEAD_TIMEOUT_MS: u64 = 30_000;
pub const IDLE_TIMEOUT_MS: u64 = 60_000;
pub const BODY_READ_TIMEOUT_MS: u64 = 60_000;
pub const XML_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Browser form uploads (POST Object): the fields before the file, boundaries and part
/// headers included (S3's limit too), and the bytes read and dropped after the file.
pub const POST_FORM_FIELDS_BYTES_MAX: usize = 20 * 1024;
pub const POST_FORM_EPILOGUE_BYTES_MAX: usize = 64 * 1024;
pub const CLOCK_SKEW_SECS_MAX: i64 = 15 * 60;

const _: () = assert!(STRIPE_DATA_BYTES.is_multiple_of(BLOCK_BYTES));
const _: () = assert!(PACKED_OBJECT_BYTES_MAX <= PACKED_STRIPE_DATA_BYTES_MAX);
const _: () = assert!(
    BLOCK_BYTES.is_multiple_of(64),
    "reed-solomon-simd works in 64-byte units"
);
const _: () = assert!(PART_BYTES_MIN <= OBJECT_BYTES_MAX);
const _: () = assert!(BODY_CHUNK_BYTES as u64 <= STRIPE_DATA_BYTES);
