//! Every limit and fixed tuning value of tessera-bench, in one place.
//!
//! Owns: the named bounds on hosts, workers, buffers, parsed responses, kept errors, recorded
//! operations and run length. Must not: hold anything that is configured per run (that lives
//! in `cli::RunConfig`). Invariant: the `const _` assertions below state how the limits relate,
//! so a change that breaks a relation fails to compile instead of failing at run time.

use std::time::Duration;

/// Most endpoints one run may spread its workers over (after `{1...N}` expansion).
pub const HOSTS_MAX: usize = 1024;

/// Most concurrent workers (one connection each) a run may ask for.
pub const CONCURRENCY_MAX: usize = 4096;

/// Longest run accepted by `--duration`; also bounds the per-run segment buckets.
pub const RUN_DURATION_MAX: Duration = Duration::from_secs(24 * 3600);

/// How long the TCP connect of a worker may take before the attempt is an error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one request may take, from the first byte written to the last byte read.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Largest response head (status line and headers) accepted from a server.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 64 * 1024;

/// Most headers parsed out of one response head.
pub const RESPONSE_HEADERS_MAX: usize = 64;

/// Largest response body kept in memory for parsing (XML listings and error documents);
/// object bodies are counted and discarded, never kept.
pub const RESPONSE_BODY_KEPT_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Size of the per-connection read buffer that object bodies stream through.
pub const READ_BUFFER_BYTES: usize = 256 * 1024;

/// Request bodies up to this size are copied behind the head and sent with one write.
pub const BODY_INLINE_BYTES_MAX: usize = 64 * 1024;

/// Largest random payload buffer kept in memory; larger objects repeat it.
pub const PAYLOAD_BUFFER_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Extra random bytes after the payload, so each object starts at a random offset and no two
/// objects of a run are byte-identical (at least for objects below the buffer size).
pub const PAYLOAD_SLACK_BYTES: usize = 64 * 1024;

/// Largest object size accepted by `--obj.size` and `--part.size`.
pub const OBJECT_BYTES_MAX: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// Most objects a run may upload to prepare its benchmark.
pub const OBJECTS_MAX: usize = 100_000_000;

/// DeleteObjects accepts at most this many keys per request (S3 limit).
pub const DELETE_BATCH_MAX: usize = 1000;

/// ListObjectsV2 page size asked for (S3 maximum).
pub const LIST_PAGE_KEYS_MAX: usize = 1000;

/// Most pages one listing may follow before it is reported as an error (guards against a
/// server that never stops setting IsTruncated).
pub const LIST_PAGES_MAX: usize = 100_000;

/// Multipart limits from the S3 contract.
pub const PARTS_MAX: usize = 10_000;
pub const PART_BYTES_MIN: u64 = 5 * 1024 * 1024;

/// Random characters in the per-worker key prefix and in each object name.
pub const KEY_PREFIX_CHARS: usize = 8;
pub const KEY_NAME_CHARS: usize = 16;

/// Throughput is accounted in buckets of this length; report segments are built from them.
pub const BUCKET_DURATION: Duration = Duration::from_millis(100);

/// Length of one report segment (warp's `--analyze.dur` default).
pub const SEGMENT_DURATION: Duration = Duration::from_secs(1);

/// Latency histograms track 1 µs .. this many µs with 3 significant digits.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;
pub const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;

/// Error strings kept per worker (the count of errors is always exact).
pub const ERRORS_KEPT_PER_WORKER: usize = 4;

/// Distinct error strings printed at the end of a run.
pub const ERRORS_PRINTED_MAX: usize = 5;

/// Most per-operation records kept for `--benchdata` (about 100 bytes each).
pub const OPS_RECORDED_MAX: usize = 20_000_000;

/// Warp's autoterm rule: the run is split into this many samples, and the last
/// `AUTOTERM_CHECK_SAMPLES` of them must agree.
pub const AUTOTERM_SPLIT_SAMPLES: usize = 25;
pub const AUTOTERM_CHECK_SAMPLES: usize = 7;

/// Progress line period on a terminal, and when stderr is a file or pipe.
pub const PROGRESS_PERIOD_TTY: Duration = Duration::from_secs(1);
pub const PROGRESS_PERIOD_PIPE: Duration = Duration::from_secs(10);

/// Most points one sweep may run (sizes × concurrencies).
pub const SWEEP_POINTS_MAX: usize = 256;

const _: () = assert!(BODY_INLINE_BYTES_MAX <= READ_BUFFER_BYTES);
const _: () = assert!(RESPONSE_HEAD_BYTES_MAX <= READ_BUFFER_BYTES);
const _: () = assert!(PAYLOAD_SLACK_BYTES < PAYLOAD_BUFFER_BYTES_MAX);
const _: () = assert!(AUTOTERM_CHECK_SAMPLES < AUTOTERM_SPLIT_SAMPLES);
const _: () = assert!(SEGMENT_DURATION
    .as_nanos()
    .is_multiple_of(BUCKET_DURATION.as_nanos()));
const _: () = assert!(CONCURRENCY_MAX <= u16::MAX as usize);
const _: () = assert!(DELETE_BATCH_MAX <= LIST_PAGE_KEYS_MAX);
const _: () = assert!(REQUEST_TIMEOUT.as_secs() * 1_000_000 < LATENCY_US_MAX);
