//! Per-worker accounting of completed operations.
//!
//! Owns: the operation kinds, one `Recorder` per worker and phase (latency and TTFB
//! histograms, 100 ms throughput buckets, counts, the first few error strings, and the
//! optional per-operation log for `--benchdata`), the shared `WarmGate`, and the
//! per-worker progress counters. Must not: share mutable state between workers except
//! through the single-writer progress slots and the write-once warm gate.
//! Invariants: a worker records only into its own `Recorder`; histograms hold only
//! successful operations that started after every worker finished its first operation
//! (warp's analysis window start), with a fallback histogram for the warm-up; bucket sums
//! equal the totals of successful operations (each op is spread over the buckets it spans).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

use crate::constants::{
    BUCKET_DURATION, ERRORS_KEPT_PER_WORKER, LATENCY_SIGNIFICANT_DIGITS, LATENCY_US_MAX,
    OPS_RECORDED_MAX, RUN_DURATION_MAX,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Get,
    Put,
    Delete,
    Stat,
    List,
}

impl OpKind {
    pub const ALL: [OpKind; 5] = [
        OpKind::Get,
        OpKind::Put,
        OpKind::Delete,
        OpKind::Stat,
        OpKind::List,
    ];

    /// The operation name warp writes in reports and benchdata.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "GET",
            OpKind::Put => "PUT",
            OpKind::Delete => "DELETE",
            OpKind::Stat => "STAT",
            OpKind::List => "LIST",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The instant and wall-clock time that all offsets of a run are measured from.
#[derive(Clone, Copy, Debug)]
pub struct Epoch {
    pub instant: Instant,
    pub system: SystemTime,
}

impl Epoch {
    pub fn now() -> Epoch {
        Epoch {
            instant: Instant::now(),
            system: SystemTime::now(),
        }
    }

    pub fn offset_ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.instant).as_nanos() as u64
    }

    pub fn system_at(&self, offset_ns: u64) -> SystemTime {
        self.system + Duration::from_nanos(offset_ns)
    }
}

/// Opens once every worker of a phase has completed one operation; the time it opened is
/// the start of warp's analysis window.
pub struct WarmGate {
    pending: AtomicUsize,
    open_ns: AtomicU64,
}

impl WarmGate {
    pub fn new(workers: usize) -> WarmGate {
        WarmGate {
            pending: AtomicUsize::new(workers),
            open_ns: AtomicU64::new(u64::MAX),
        }
    }

    fn first_op_done(&self, end_ns: u64) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.open_ns.store(end_ns, Ordering::Release);
        }
    }

    pub fn open_ns(&self) -> Option<u64> {
        let value = self.open_ns.load(Ordering::Acquire);
        (value != u64::MAX).then_some(value)
    }
}

/// Live counters of one worker, read by the progress line. One writer per slot; padded so
/// that workers on different cores do not share a cache line.
#[repr(align(64))]
#[derive(Default)]
pub struct ProgressSlot {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub objects: AtomicU64,
    pub bytes: AtomicU64,
}

/// Sums of all slots at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProgressTotals {
    pub requests: u64,
    pub errors: u64,
    pub objects: u64,
    pub bytes: u64,
}

pub fn progress_totals(slots: &[ProgressSlot]) -> ProgressTotals {
    let mut totals = ProgressTotals::default();
    for slot in slots {
        totals.requests += slot.requests.load(Ordering::Relaxed);
        totals.errors += slot.errors.load(Ordering::Relaxed);
        totals.objects += slot.objects.load(Ordering::Relaxed);
        totals.bytes += slot.bytes.load(Ordering::Relaxed);
    }
    totals
}

/// Throughput that fell into one 100 ms bucket; fractional because an operation spanning
/// several buckets is spread over them in proportion to its time in each.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bucket {
    pub ops: f64,
    pub objects: f64,
    pub bytes: f64,
}

pub struct KindStats {
    pub ops: u64,
    pub requests: u64,
    pub errors: u64,
    pub objects: u64,
    pub bytes: u64,
    pub latency_us: Histogram<u64>,
    pub ttfb_us: Histogram<u64>,
    pub warmup_latency_us: Histogram<u64>,
    pub warmup_ttfb_us: Histogram<u64>,
    pub buckets: Vec<Bucket>,
}

pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy hdrhistogram's preconditions.
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("valid histogram bounds")
}

impl KindStats {
    fn new() -> KindStats {
        KindStats {
            ops: 0,
            requests: 0,
            errors: 0,
            objects: 0,
            bytes: 0,
            latency_us: new_histogram(),
            ttfb_us: new_histogram(),
            warmup_latency_us: new_histogram(),
            warmup_ttfb_us: new_histogram(),
            buckets: Vec::new(),
        }
    }

    /// Spreads `objects` and `bytes` over the buckets that `[start_ns, end_ns)` overlaps.
    pub fn add_span(&mut self, start_ns: u64, end_ns: u64, objects: f64, bytes: f64) {
        let bucket_ns = BUCKET_DURATION.as_nanos() as u64;
        let buckets_max = (RUN_DURATION_MAX.as_nanos() as u64 / bucket_ns) as usize + 1;
        let end_ns = end_ns.max(start_ns + 1);
        let first = (start_ns / bucket_ns) as usize;
        let last = ((end_ns - 1) / bucket_ns) as usize;
        if last >= buckets_max {
            return;
        }
        if self.buckets.len() <= last {
            self.buckets.resize(last + 1, Bucket::default());
        }
        let span = (end_ns - start_ns) as f64;
        for index in first..=last {
            let from = (index as u64 * bucket_ns).max(start_ns);
            let to = ((index as u64 + 1) * bucket_ns).min(end_ns);
            let share = (to - from) as f64 / span;
            let bucket = &mut self.buckets[index];
            bucket.ops += share;
            bucket.objects += objects * share;
            bucket.bytes += bytes * share;
        }
    }
}

/// One operation as warp's benchdata lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpRecord {
    pub kind: OpKind,
    pub thread: u16,
    pub objects: u32,
    pub bytes: u64,
    pub endpoint: u16,
    pub file: String,
    pub error: Option<String>,
    pub start_ns: u64,
    pub first_byte_ns: Option<u64>,
    pub end_ns: u64,
}

/// What a workload reports about one finished operation.
pub struct Finished<'a> {
    pub kind: OpKind,
    pub start: Instant,
    pub first_byte: Option<Instant>,
    pub end: Instant,
    /// HTTP requests the operation took (a listing may take many pages).
    pub requests: u32,
    pub objects: u32,
    pub bytes: u64,
    pub file: &'a str,
    pub endpoint: u16,
    pub error: Option<String>,
}

pub struct Recorder {
    pub thread: u16,
    pub epoch: Epoch,
    kinds: [Option<KindStats>; OpKind::ALL.len()],
    pub error_count: u64,
    pub errors_kept: Vec<String>,
    pub log: Option<Vec<OpRecord>>,
    pub log_overflow: bool,
    /// Offsets of this worker's first operation end and last operation start.
    pub first_end_ns: Option<u64>,
    pub last_start_ns: Option<u64>,
    progress_local: ProgressTotals,
}

impl Recorder {
    pub fn new(thread: u16, epoch: Epoch, keep_log: bool) -> Recorder {
        Recorder {
            thread,
            epoch,
            kinds: Default::default(),
            error_count: 0,
            errors_kept: Vec::new(),
            log: keep_log.then(Vec::new),
            log_overflow: false,
            first_end_ns: None,
            last_start_ns: None,
            progress_local: ProgressTotals::default(),
        }
    }

    pub fn kind(&self, kind: OpKind) -> Option<&KindStats> {
        self.kinds[kind.index()].as_ref()
    }

    pub fn record(&mut self, op: Finished<'_>, warm: &WarmGate, slot: &ProgressSlot) {
        let start_ns = self.epoch.offset_ns(op.start);
        let end_ns = self.epoch.offset_ns(op.end).max(start_ns);
        let first_byte_ns = op
            .first_byte
            .map(|at| self.epoch.offset_ns(at).clamp(start_ns, end_ns));
        if self.first_end_ns.is_none() {
            self.first_end_ns = Some(end_ns);
            warm.first_op_done(end_ns);
        }
        self.last_start_ns = Some(start_ns);
        let is_warm = warm.open_ns().is_some_and(|open| start_ns >= open);

        let stats = self.kinds[op.kind.index()].get_or_insert_with(KindStats::new);
        stats.ops += 1;
        stats.requests += u64::from(op.requests);
        self.progress_local.requests += u64::from(op.requests);
        if let Some(error) = &op.error {
            stats.errors += 1;
            self.error_count += 1;
            self.progress_local.errors += 1;
            if self.errors_kept.len() < ERRORS_KEPT_PER_WORKER && !self.errors_kept.contains(error)
            {
                self.errors_kept.push(error.clone());
            }
        } else {
            stats.objects += u64::from(op.objects);
            stats.bytes += op.bytes;
            self.progress_local.objects += u64::from(op.objects);
            self.progress_local.bytes += op.bytes;
            let latency_us = (end_ns - start_ns) / 1000;
            let (latency, ttfb) = if is_warm {
                (&mut stats.latency_us, &mut stats.ttfb_us)
            } else {
                (&mut stats.warmup_latency_us, &mut stats.warmup_ttfb_us)
            };
            latency.saturating_record(latency_us.max(1));
            if let Some(first) = first_byte_ns {
                ttfb.saturating_record(((first - start_ns) / 1000).max(1));
            }
            stats.add_span(start_ns, end_ns, f64::from(op.objects), op.bytes as f64);
        }
        slot.requests
            .store(self.progress_local.requests, Ordering::Relaxed);
        slot.errors
            .store(self.progress_local.errors, Ordering::Relaxed);
        slot.objects
            .store(self.progress_local.objects, Ordering::Relaxed);
        slot.bytes
            .store(self.progress_local.bytes, Ordering::Relaxed);

        if let Some(log) = self.log.as_mut() {
            if log.len() < OPS_RECORDED_MAX {
                log.push(OpRecord {
                    kind: op.kind,
                    thread: self.thread,
                    objects: op.objects,
                    bytes: op.bytes,
                    endpoint: op.endpoint,
                    file: op.file.to_string(),
                    error: op.error,
                    start_ns,
                    first_byte_ns,
                    end_ns,
                });
            } else {
                self.log_overflow = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(
        kind: OpKind,
        epoch: &Epoch,
        start_ms: u64,
        end_ms: u64,
        error: Option<&str>,
    ) -> Finished<'static> {
        Finished {
            kind,
            start: epoch.instant + Duration::from_millis(start_ms),
            first_byte: Some(epoch.instant + Duration::from_millis(start_ms + 1)),
            end: epoch.instant + Duration::from_millis(end_ms),
            requests: 1,
            objects: 1,
            bytes: 1000,
            file: "p/k.rnd",
            endpoint: 0,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn spans_are_spread_over_buckets_in_proportion() {
        let mut stats = KindStats::new();
        // 50 ms .. 250 ms: a quarter in bucket 0, half in bucket 1, a quarter in bucket 2.
        stats.add_span(50_000_000, 250_000_000, 1.0, 400.0);
        let bytes: Vec<f64> = stats.buckets.iter().map(|b| b.bytes).collect();
        assert_eq!(bytes, vec![100.0, 200.0, 100.0]);
        let total: f64 = stats.buckets.iter().map(|b| b.objects).sum();
        assert!((total - 1.0).abs() < 1e-9);
    }

    #[test]
    fn warm_gate_splits_histograms_and_errors_are_counted_apart() {
        let epoch = Epoch::now();
        let warm = WarmGate::new(2);
        let slot = ProgressSlot::default();
        let mut a = Recorder::new(0, epoch, true);
        let mut b = Recorder::new(1, epoch, false);
        a.record(finished(OpKind::Get, &epoch, 0, 10, None), &warm, &slot);
        assert_eq!(
            warm.open_ns(),
            None,
            "one worker has not finished an op yet"
        );
        b.record(finished(OpKind::Get, &epoch, 0, 20, None), &warm, &slot);
        assert_eq!(warm.open_ns(), Some(20_000_000));
        a.record(finished(OpKind::Get, &epoch, 15, 30, None), &warm, &slot); // started before the gate opened
        a.record(finished(OpKind::Get, &epoch, 30, 40, None), &warm, &slot);
        a.record(
            finished(OpKind::Get, &epoch, 40, 45, Some("GET 500: InternalError")),
            &warm,
            &slot,
        );
        let stats = a.kind(OpKind::Get).expect("GET recorded");
        assert_eq!(
            (stats.ops, stats.errors, stats.objects, stats.bytes),
            (4, 1, 3, 3000)
        );
        assert_eq!(stats.latency_us.len(), 1);
        assert_eq!(stats.warmup_latency_us.len(), 2);
        // hdrhistogram keeps 3 significant digits, so 10 ms reads back within 0.1%.
        assert!(
            (10_000..=10_010).contains(&stats.latency_us.max()),
            "{}",
            stats.latency_us.max()
        );
        assert_eq!(a.errors_kept, vec!["GET 500: InternalError".to_string()]);
        assert_eq!(a.log.as_ref().map(Vec::len), Some(4));
        assert_eq!(a.first_end_ns, Some(10_000_000));
        assert_eq!(a.last_start_ns, Some(40_000_000));
        assert!(b.log.is_none());
        assert_eq!(slot.errors.load(Ordering::Relaxed), 1);
    }
}
