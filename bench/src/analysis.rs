//! Report math: merging worker recorders, warp's analysis window, throughput, segments and
//! latency statistics.
//!
//! Owns: pure functions from recorded data to numbers. Must not: print or format (that is
//! `report`). Invariants: the analysis window follows warp — it starts when every worker has
//! completed one operation and ends when the last worker starts its final one; averages are
//! taken over the whole 100 ms buckets inside the window (or over the whole run when the
//! window holds none); segments are `SEGMENT_DURATION` long and start at the window start.

use hdrhistogram::Histogram;

use crate::constants::{BUCKET_DURATION, SEGMENT_DURATION};
use crate::record::{new_histogram, Bucket, OpKind, Recorder};

/// Everything recorded for one operation kind across the workers of a phase.
pub struct KindTotals {
    pub ops: u64,
    pub requests: u64,
    pub errors: u64,
    pub objects: u64,
    pub bytes: u64,
    pub latency_us: Histogram<u64>,
    pub ttfb_us: Histogram<u64>,
    /// True when no operation started inside the window, so the statistics include warm-up.
    pub latency_includes_warmup: bool,
    pub buckets: Vec<Bucket>,
}

pub fn merge_kind(recorders: &[Recorder], kind: OpKind) -> Option<KindTotals> {
    let mut totals: Option<KindTotals> = None;
    let mut warmup_latency = new_histogram();
    let mut warmup_ttfb = new_histogram();
    for stats in recorders.iter().filter_map(|recorder| recorder.kind(kind)) {
        let merged = totals.get_or_insert_with(|| KindTotals {
            ops: 0,
            requests: 0,
            errors: 0,
            objects: 0,
            bytes: 0,
            latency_us: new_histogram(),
            ttfb_us: new_histogram(),
            latency_includes_warmup: false,
            buckets: Vec::new(),
        });
        merged.ops += stats.ops;
        merged.requests += stats.requests;
        merged.errors += stats.errors;
        merged.objects += stats.objects;
        merged.bytes += stats.bytes;
        // All histograms share bounds, so `add` cannot fail; saturate rather than panic.
        let _ = merged.latency_us.add(&stats.latency_us);
        let _ = merged.ttfb_us.add(&stats.ttfb_us);
        let _ = warmup_latency.add(&stats.warmup_latency_us);
        let _ = warmup_ttfb.add(&stats.warmup_ttfb_us);
        if merged.buckets.len() < stats.buckets.len() {
            merged
                .buckets
                .resize(stats.buckets.len(), Bucket::default());
        }
        for (into, from) in merged.buckets.iter_mut().zip(&stats.buckets) {
            into.ops += from.ops;
            into.objects += from.objects;
            into.bytes += from.bytes;
        }
    }
    if let Some(merged) = totals.as_mut() {
        if merged.latency_us.is_empty() {
            merged.latency_us = warmup_latency;
            merged.ttfb_us = warmup_ttfb;
            merged.latency_includes_warmup = !merged.latency_us.is_empty();
        }
    }
    totals
}

/// Warp's `ActiveTimeRange`: (latest first-op end, earliest last-op start) over the workers
/// that completed anything; `None` when that range is empty.
pub fn active_window(recorders: &[Recorder]) -> Option<(u64, u64)> {
    let mut start = None::<u64>;
    let mut end = None::<u64>;
    for recorder in recorders {
        if let (Some(first_end), Some(last_start)) = (recorder.first_end_ns, recorder.last_start_ns)
        {
            start = Some(start.map_or(first_end, |s| s.max(first_end)));
            end = Some(end.map_or(last_start, |e| e.min(last_start)));
        }
    }
    match (start, end) {
        (Some(start), Some(end)) if end > start => Some((start, end)),
        _ => None,
    }
}

/// The whole buckets inside `window`, or every bucket that saw traffic when there are none.
pub fn window_buckets(buckets: &[Bucket], window: Option<(u64, u64)>) -> std::ops::Range<usize> {
    let bucket_ns = BUCKET_DURATION.as_nanos() as u64;
    if let Some((start, end)) = window {
        let first = start.div_ceil(bucket_ns) as usize;
        let last = ((end / bucket_ns) as usize).min(buckets.len());
        if last > first {
            return first..last;
        }
    }
    let first = buckets.iter().position(|b| b.ops > 0.0).unwrap_or(0);
    let last = buckets
        .iter()
        .rposition(|b| b.ops > 0.0)
        .map_or(0, |i| i + 1);
    first..last.max(first)
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Throughput {
    pub start_ns: u64,
    pub duration_s: f64,
    pub ops_per_s: f64,
    pub objects_per_s: f64,
    pub bytes_per_s: f64,
}

fn throughput_of(buckets: &[Bucket], range: std::ops::Range<usize>) -> Throughput {
    let bucket_ns = BUCKET_DURATION.as_nanos() as u64;
    let duration_s = range.len() as f64 * BUCKET_DURATION.as_secs_f64();
    let start_ns = range.start as u64 * bucket_ns;
    if duration_s == 0.0 {
        return Throughput {
            start_ns,
            ..Throughput::default()
        };
    }
    let (mut ops, mut objects, mut bytes) = (0.0, 0.0, 0.0);
    for bucket in &buckets[range] {
        ops += bucket.ops;
        objects += bucket.objects;
        bytes += bucket.bytes;
    }
    Throughput {
        start_ns,
        duration_s,
        ops_per_s: ops / duration_s,
        objects_per_s: objects / duration_s,
        bytes_per_s: bytes / duration_s,
    }
}

/// Average throughput over the analysis window.
pub fn window_throughput(buckets: &[Bucket], window: Option<(u64, u64)>) -> Throughput {
    throughput_of(buckets, window_buckets(buckets, window))
}

/// The window split into whole segments, in time order.
pub fn segments(buckets: &[Bucket], window: Option<(u64, u64)>) -> Vec<Throughput> {
    let per_segment = (SEGMENT_DURATION.as_nanos() / BUCKET_DURATION.as_nanos()) as usize;
    let range = window_buckets(buckets, window);
    let count = range.len() / per_segment;
    (0..count)
        .map(|index| {
            let from = range.start + index * per_segment;
            throughput_of(buckets, from..from + per_segment)
        })
        .collect()
}

/// Fastest, median and slowest segment; ranked by bytes/s, or objects/s when no bytes moved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranked {
    pub fastest: Throughput,
    pub median: Throughput,
    pub slowest: Throughput,
}

pub fn rank_segments(segments: &[Throughput]) -> Option<Ranked> {
    if segments.is_empty() {
        return None;
    }
    let by_bytes = segments.iter().any(|s| s.bytes_per_s > 0.0);
    let speed = |s: &Throughput| {
        if by_bytes {
            s.bytes_per_s
        } else {
            s.objects_per_s
        }
    };
    let mut sorted = segments.to_vec();
    sorted.sort_by(|a, b| speed(a).total_cmp(&speed(b)));
    Some(Ranked {
        slowest: sorted[0],
        median: sorted[sorted.len() / 2],
        fastest: sorted[sorted.len() - 1],
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyStats {
    pub count: u64,
    pub avg_us: f64,
    pub stddev_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    pub p25_us: f64,
    pub p50_us: f64,
    pub p75_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
}

pub fn latency_stats(histogram: &Histogram<u64>) -> Option<LatencyStats> {
    if histogram.is_empty() {
        return None;
    }
    let at = |quantile: f64| histogram.value_at_quantile(quantile) as f64;
    Some(LatencyStats {
        count: histogram.len(),
        avg_us: histogram.mean(),
        stddev_us: histogram.stdev(),
        min_us: histogram.min() as f64,
        max_us: histogram.max() as f64,
        p25_us: at(0.25),
        p50_us: at(0.50),
        p75_us: at(0.75),
        p90_us: at(0.90),
        p99_us: at(0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Epoch, Finished, ProgressSlot, WarmGate};
    use std::time::Duration;

    fn bucket(bytes: f64) -> Bucket {
        Bucket {
            ops: bytes / 100.0,
            objects: bytes / 100.0,
            bytes,
        }
    }

    #[test]
    fn window_uses_whole_buckets_inside() {
        let buckets = vec![bucket(100.0); 50];
        // 0.25 s .. 3.05 s: whole buckets 3..30.
        assert_eq!(
            window_buckets(&buckets, Some((250_000_000, 3_050_000_000))),
            3..30
        );
        // No window: every bucket with traffic.
        let mut sparse = vec![Bucket::default(); 10];
        sparse[2] = bucket(1.0);
        sparse[6] = bucket(1.0);
        assert_eq!(window_buckets(&sparse, None), 2..7);
        assert_eq!(window_buckets(&[], None), 0..0);
    }

    #[test]
    fn throughput_and_segments_on_synthetic_data() {
        // 5 seconds: 1000 B per 100 ms bucket in seconds 0, 2, 4; 2000 B in 1; 500 B in 3.
        let per_second = [1000.0, 2000.0, 1000.0, 500.0, 1000.0];
        let buckets: Vec<Bucket> = per_second
            .iter()
            .flat_map(|&b| std::iter::repeat_n(bucket(b), 10))
            .collect();
        let window = Some((0, 5_000_000_000));
        let average = window_throughput(&buckets, window);
        assert!((average.duration_s - 5.0).abs() < 1e-9);
        assert!((average.bytes_per_s - 11_000.0).abs() < 1e-6, "{average:?}");
        let segs = segments(&buckets, window);
        assert_eq!(segs.len(), 5);
        let ranked = rank_segments(&segs).expect("segments");
        assert!((ranked.fastest.bytes_per_s - 20_000.0).abs() < 1e-6);
        assert!((ranked.slowest.bytes_per_s - 5_000.0).abs() < 1e-6);
        assert!((ranked.median.bytes_per_s - 10_000.0).abs() < 1e-6);
        assert_eq!(ranked.fastest.start_ns, 1_000_000_000);
        assert_eq!(ranked.slowest.start_ns, 3_000_000_000);
        assert_eq!(rank_segments(&[]), None);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut histogram = new_histogram();
        for value in 1..=1000u64 {
            histogram.record(value * 100).expect("in range");
        }
        let stats = latency_stats(&histogram).expect("non-empty");
        let close = |got: f64, want: f64| (got - want).abs() <= want * 0.002;
        assert!(close(stats.p50_us, 50_000.0), "{stats:?}");
        assert!(close(stats.p90_us, 90_000.0), "{stats:?}");
        assert!(close(stats.p99_us, 99_000.0), "{stats:?}");
        assert!(close(stats.avg_us, 50_050.0), "{stats:?}");
        assert!(
            close(stats.min_us, 100.0) && close(stats.max_us, 100_000.0),
            "{stats:?}"
        );
        // Uniform 100..100000 step 100: stddev = 100 * sqrt((1000^2 - 1) / 12).
        assert!(close(stats.stddev_us, 28_867.5), "{stats:?}");
        assert_eq!(latency_stats(&new_histogram()), None);
    }

    #[test]
    fn active_window_follows_warp_rule() {
        let epoch = Epoch::now();
        let warm = WarmGate::new(2);
        let slot = ProgressSlot::default();
        let op = |start_ms: u64, end_ms: u64| Finished {
            kind: OpKind::Put,
            start: epoch.instant + Duration::from_millis(start_ms),
            first_byte: None,
            end: epoch.instant + Duration::from_millis(end_ms),
            requests: 1,
            objects: 1,
            bytes: 10,
            file: "",
            endpoint: 0,
            error: None,
        };
        let mut a = Recorder::new(0, epoch, false);
        let mut b = Recorder::new(1, epoch, false);
        a.record(op(0, 100), &warm, &slot);
        a.record(op(100, 900), &warm, &slot);
        b.record(op(0, 300), &warm, &slot);
        b.record(op(300, 700), &warm, &slot);
        b.record(op(700, 1000), &warm, &slot);
        let recorders = [a, b];
        // Start: the later first end (300 ms); end: the earlier last start (100 ms vs 700 ms).
        assert_eq!(
            active_window(&recorders),
            None,
            "a's last op started before b finished its first"
        );
        let merged = merge_kind(&recorders, OpKind::Put).expect("PUT recorded");
        assert_eq!((merged.ops, merged.objects, merged.bytes), (5, 5, 50));
        // The gate opened at 300 ms (b's first end): only b's last two ops count as warm.
        assert!(!merged.latency_includes_warmup);
        assert_eq!(merged.latency_us.len(), 2);
        assert!(merge_kind(&recorders, OpKind::Get).is_none());
    }
}
