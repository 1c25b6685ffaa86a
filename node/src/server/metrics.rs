//! Metrics: per-core counters and latency histograms kept in plain cells (no atomics on the
//! request path), snapshotted on demand through the mesh and rendered as Prometheus text by
//! the admin listener.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write;

use hdrhistogram::Histogram;

use super::core::CoreCtx;

pub struct CoreMetrics {
    /// (operation, status) -> count
    pub requests: RefCell<BTreeMap<(&'static str, u16), u64>>,
    /// operation -> latency in microseconds
    pub latency_us: RefCell<BTreeMap<&'static str, Histogram<u64>>>,
    pub bytes_in: Cell<u64>,
    pub bytes_out: Cell<u64>,
    pub slow_downs: Cell<u64>,
}

impl Default for CoreMetrics {
    fn default() -> Self {
        CoreMetrics {
            requests: RefCell::new(BTreeMap::new()),
            latency_us: RefCell::new(BTreeMap::new()),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            slow_downs: Cell::new(0),
        }
    }
}

impl CoreMetrics {
    pub fn record(&self, op: &'static str, status: u16, micros: u64) {
        *self.requests.borrow_mut().entry((op, status)).or_default() += 1;
        let mut latency = self.latency_us.borrow_mut();
        let histogram = latency
            .entry(op)
            .or_insert_with(|| Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds"));
        histogram.saturating_record(micros.max(1));
        if status == 503 {
            self.slow_downs.set(self.slow_downs.get() + 1);
        }
    }
}

#[derive(Clone, Default)]
pub struct DeviceStats {
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub io_errors: u64,
    pub crc_failures: u64,
    pub up: bool,
}

/// A snapshot of one core, sent to the admin thread.
#[derive(Clone, Default)]
pub struct CoreStats {
    pub core: usize,
    pub requests: Vec<((&'static str, u16), u64)>,
    pub latency_us: Vec<(&'static str, Histogram<u64>)>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub connections: usize,
    pub inbox_depth: usize,
    pub devices: Vec<DeviceStats>,
    pub degraded_reads: u64,
    pub unrecoverable_reads: u64,
    pub repaired_shards: u64,
    pub commits: u64,
    pub staged_commits: u64,
    pub destages: u64,
    pub commit_records: u64,
    pub fsyncs: u64,
    pub index_objects: usize,
    pub index_key_bytes: u64,
    pub uploads: usize,
    /// MD5 lane batches run and upload chunks hashed in them (`md5lanes`).
    pub md5_batches: u64,
    pub md5_chunks: u64,
    /// Group commit and data-device fdatasync latencies (µs).
    pub commit_us: Option<Histogram<u64>>,
    pub fsync_us: Option<Histogram<u64>>,
}

impl CoreStats {
    pub fn collect(ctx: &CoreCtx) -> CoreStats {
        let store = &ctx.store;
        let (index_objects, index_key_bytes, uploads) = store.index_counts();
        let (md5_batches, md5_chunks) = super::md5lanes::counters();
        CoreStats {
            core: ctx.core,
            requests: ctx
                .metrics
                .requests
                .borrow()
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect(),
            latency_us: ctx
                .metrics
                .latency_us
                .borrow()
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
            bytes_in: ctx.metrics.bytes_in.get(),
            bytes_out: ctx.metrics.bytes_out.get(),
            connections: ctx.connections.get(),
            inbox_depth: 0,
            devices: store
                .devs
                .iter()
                .map(|d| DeviceStats {
                    bytes_written: d.stats.bytes_written.get(),
                    bytes_read: d.stats.bytes_read.get(),
                    io_errors: d.stats.io_errors.get(),
                    crc_failures: d.stats.crc_failures.get(),
                    up: d.is_up(),
                })
                .collect(),
            degraded_reads: store.stats.degraded_reads.get(),
            unrecoverable_reads: store.stats.unrecoverable_reads.get(),
            repaired_shards: store.stats.repaired_shards.get(),
            commits: store.stats.commits.get(),
            staged_commits: store.stats.staged_commits.get(),
            destages: store.stats.destages.get(),
            commit_records: store.stats.commit_records.get(),
            fsyncs: store.stats.fsyncs.get(),
            index_objects,
            index_key_bytes,
            uploads,
            md5_batches,
            md5_chunks,
            commit_us: Some(store.stats.commit_us.snapshot()),
            fsync_us: Some(store.stats.fsync_us.snapshot()),
        }
    }
}

/// Writes `h` (µs) as a Prometheus histogram in seconds: the `le` buckets, `+Inf`, sum and
/// count, each with `labels` (`op="GetObject"`, or empty).
fn write_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram<u64>) {
    const BOUNDS_US: [u64; 12] = [
        100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000, 10_000_000,
    ];
    let sep = if labels.is_empty() { "" } else { "," };
    for bound in BOUNDS_US {
        let count: u64 = h
            .iter_recorded()
            .filter(|v| v.value_iterated_to() <= bound)
            .map(|v| v.count_at_value())
            .sum();
        let le = bound as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {count}");
    }
    let n = h.len();
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {n}");
    let sum = h.mean() * n as f64 / 1e6;
    let braced = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braced} {sum}");
    let _ = writeln!(out, "{name}_count{braced} {n}");
}

/// Merges one histogram per core.
fn merged<'a>(parts: impl Iterator<Item = &'a Histogram<u64>>) -> Option<Histogram<u64>> {
    let mut total: Option<Histogram<u64>> = None;
    for h in parts {
        match &mut total {
            Some(t) => {
                let _ = t.add(h);
            }
            None => total = Some(h.clone()),
        }
    }
    total
}

/// Renders all cores' snapshots as Prometheus text exposition format.
pub fn render(cores: &[CoreStats]) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let mut requests: BTreeMap<(&str, u16), u64> = BTreeMap::new();
    let mut latency: BTreeMap<&str, Histogram<u64>> = BTreeMap::new();
    for c in cores {
        for ((op, status), n) in &c.requests {
            *requests.entry((op, *status)).or_default() += n;
        }
        for (op, h) in &c.latency_us {
            match latency.get_mut(op) {
                Some(total) => {
                    let _ = total.add(h);
                }
                None => {
                    latency.insert(op, h.clone());
                }
            }
        }
    }
    let _ = writeln!(out, "# HELP tessera_requests_total S3 requests by operation and HTTP status.\n# TYPE tessera_requests_total counter");
    for ((op, status), n) in &requests {
        let _ = writeln!(
            out,
            "tessera_requests_total{{op=\"{op}\",status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(out, "# HELP tessera_request_duration_seconds Request latency by operation.\n# TYPE tessera_request_duration_seconds histogram");
    for (op, h) in &latency {
        write_histogram(
            &mut out,
            "tessera_request_duration_seconds",
            &format!("op=\"{op}\""),
            h,
        );
    }
    type Latency<'a> = (
        &'a str,
        &'a str,
        &'a dyn Fn(&CoreStats) -> Option<&Histogram<u64>>,
    );
    let engine: [Latency; 2] = [
        (
            "tessera_commit_duration_seconds",
            "Group commits: from taking a batch of writes to answering it (data and journal frame durable).",
            &|c| c.commit_us.as_ref(),
        ),
        (
            "tessera_fsync_duration_seconds",
            "Data device fdatasync calls (the filesystem's and the device's flush cost).",
            &|c| c.fsync_us.as_ref(),
        ),
    ];
    for (name, help, f) in engine {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        if let Some(h) = merged(cores.iter().filter_map(f)) {
            write_histogram(&mut out, name, "", &h);
        }
    }
    let sum = |f: &dyn Fn(&CoreStats) -> u64| cores.iter().map(f).sum::<u64>();
    let scalars: [(&str, &str, &str, u64); 15] = [
        (
            "tessera_bytes_in_total",
            "counter",
            "Request body bytes received.",
            sum(&|c| c.bytes_in),
        ),
        (
            "tessera_bytes_out_total",
            "counter",
            "Response body bytes sent.",
            sum(&|c| c.bytes_out),
        ),
        (
            "tessera_degraded_reads_total",
            "counter",
            "Stripe reads rebuilt from parity.",
            sum(&|c| c.degraded_reads),
        ),
        (
            "tessera_unrecoverable_reads_total",
            "counter",
            "Stripe reads that could not be rebuilt (served as errors).",
            sum(&|c| c.unrecoverable_reads),
        ),
        (
            "tessera_repaired_shards_total",
            "counter",
            "Shards rewritten by repair and verified.",
            sum(&|c| c.repaired_shards),
        ),
        (
            "tessera_commits_total",
            "counter",
            "Group commits (journal frames or staging-ring entries).",
            sum(&|c| c.commits),
        ),
        (
            "tessera_staged_commits_total",
            "counter",
            "Group commits made durable by a staging-ring entry (small objects, inline).",
            sum(&|c| c.staged_commits),
        ),
        (
            "tessera_destages_total",
            "counter",
            "Destages: staged stripes written home, flushed, and their records journaled.",
            sum(&|c| c.destages),
        ),
        (
            "tessera_md5_lane_batches_total",
            "counter",
            "SIMD MD5 batches over concurrent uploads (chunks/batches = average lanes used).",
            sum(&|c| c.md5_batches),
        ),
        (
            "tessera_md5_lane_chunks_total",
            "counter",
            "Upload chunks hashed in SIMD MD5 batches.",
            sum(&|c| c.md5_chunks),
        ),
        (
            "tessera_commit_records_total",
            "counter",
            "Journal records committed.",
            sum(&|c| c.commit_records),
        ),
        (
            "tessera_fsyncs_total",
            "counter",
            "Data device fdatasync calls.",
            sum(&|c| c.fsyncs),
        ),
        (
            "tessera_index_entries",
            "gauge",
            "Objects in the index.",
            sum(&|c| c.index_objects as u64),
        ),
        (
            "tessera_index_key_bytes",
            "gauge",
            "Bytes of keys held by the index.",
            sum(&|c| c.index_key_bytes),
        ),
        (
            "tessera_index_memory_bytes",
            "gauge",
            "Estimated index memory: key bytes plus the per-entry overhead measured by node/benches/engine.rs.",
            sum(&|c| c.index_key_bytes + c.index_objects as u64 * crate::constants::INDEX_ENTRY_OVERHEAD_BYTES),
        ),
    ];
    for (name, kind, help, value) in scalars {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    type PerCore<'a> = (&'a str, &'a str, &'a dyn Fn(&CoreStats) -> u64);
    let per_core: [PerCore; 3] = [
        (
            "tessera_core_connections",
            "Open client connections per core.",
            &|c| c.connections as u64,
        ),
        (
            "tessera_core_queue_depth",
            "Messages waiting in the core's inbox.",
            &|c| c.inbox_depth as u64,
        ),
        (
            "tessera_core_index_entries",
            "Objects owned by the core.",
            &|c| c.index_objects as u64,
        ),
    ];
    for (name, help, f) in per_core {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for c in cores {
            let _ = writeln!(out, "{name}{{core=\"{}\"}} {}", c.core, f(c));
        }
    }
    let devices = cores.first().map_or(0, |c| c.devices.len());
    type PerDev<'a> = (&'a str, &'a str, &'a str, &'a dyn Fn(&DeviceStats) -> u64);
    let per_dev: [PerDev; 5] = [
        (
            "tessera_device_bytes_written_total",
            "counter",
            "Shard bytes written per device.",
            &|d| d.bytes_written,
        ),
        (
            "tessera_device_bytes_read_total",
            "counter",
            "Shard bytes read per device.",
            &|d| d.bytes_read,
        ),
        (
            "tessera_device_io_errors_total",
            "counter",
            "I/O errors per device.",
            &|d| d.io_errors,
        ),
        (
            "tessera_device_checksum_failures_total",
            "counter",
            "Shard checksum mismatches per device.",
            &|d| d.crc_failures,
        ),
        (
            "tessera_device_up",
            "gauge",
            "1 if every core can use the device.",
            &|d| d.up as u64,
        ),
    ];
    for (name, kind, help, f) in per_dev {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for dev in 0..devices {
            let value: u64 = if name == "tessera_device_up" {
                cores.iter().all(|c| c.devices[dev].up) as u64
            } else {
                cores.iter().map(|c| f(&c.devices[dev])).sum()
            };
            let _ = writeln!(out, "{name}{{device=\"{dev}\"}} {value}");
        }
    }
    out
}
