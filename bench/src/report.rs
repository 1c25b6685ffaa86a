//! The report, in warp's shape, as text and as JSON.
//!
//! Owns: turning a phase's recorders into `PhaseReport` numbers (through `analysis`) and
//! rendering them: per operation the average MiB/s and obj/s, request latency (avg,
//! 50/90/99th, fastest, slowest, stddev), TTFB percentiles, the per-second fastest / median /
//! slowest segments, counts, and the client's own CPU per request; for several operation
//! kinds a `Cluster Total`. Must not: do I/O other than returning strings and JSON values.
//! Invariant: the text and the JSON are rendered from the same `PhaseReport`, so they agree.

use std::time::Duration;

use serde_json::{json, Value};

use crate::analysis::{self, LatencyStats, Ranked, Throughput};
use crate::autoterm::Stable;
use crate::cpu::CpuTime;
use crate::record::{Bucket, Epoch, OpKind, Recorder};
use crate::timefmt::UtcTime;
use crate::units::{format_bytes, format_duration_secs, format_latency_us};

const MIB: f64 = 1024.0 * 1024.0;

pub struct OpReport {
    pub kind: OpKind,
    /// Share of operations asked for with the `--*-distrib` weights (mixed only).
    pub distribution_pct: Option<f64>,
    pub ops: u64,
    pub requests: u64,
    pub errors: u64,
    pub objects: u64,
    pub bytes: u64,
    pub object_size: Option<u64>,
    pub average: Throughput,
    pub requests_per_s: f64,
    pub latency: Option<LatencyStats>,
    pub latency_includes_warmup: bool,
    pub ttfb: Option<LatencyStats>,
    pub segments: Vec<Throughput>,
    pub ranked: Option<Ranked>,
}

pub struct PhaseReport {
    pub label: String,
    pub concurrency: usize,
    pub epoch: Epoch,
    pub ops: Vec<OpReport>,
    pub total: Option<Throughput>,
    pub cpu: CpuTime,
    pub requests: u64,
    pub wall: Duration,
    pub autoterm: Option<Stable>,
}

pub struct PhaseInput<'a> {
    pub label: &'a str,
    pub recorders: &'a [Recorder],
    pub concurrency: usize,
    pub object_size: Option<u64>,
    /// Weights of GET, STAT, PUT, DELETE (mixed only).
    pub weights: Option<[f64; 4]>,
    pub cpu: CpuTime,
    pub wall: Duration,
    pub autoterm: Option<Stable>,
    pub epoch: Epoch,
}

fn distribution_pct(kind: OpKind, weights: &[f64; 4]) -> Option<f64> {
    let index = match kind {
        OpKind::Get => 0,
        OpKind::Stat => 1,
        OpKind::Put => 2,
        OpKind::Delete => 3,
        OpKind::List => return None,
    };
    let sum: f64 = weights.iter().sum();
    (sum > 0.0).then(|| weights[index] * 100.0 / sum)
}

pub fn build_phase(input: PhaseInput<'_>) -> PhaseReport {
    let window = analysis::active_window(input.recorders);
    let mut ops = Vec::new();
    let mut all_buckets: Vec<Bucket> = Vec::new();
    for kind in OpKind::ALL {
        let Some(totals) = analysis::merge_kind(input.recorders, kind) else {
            continue;
        };
        let average = analysis::window_throughput(&totals.buckets, window);
        let segments = analysis::segments(&totals.buckets, window);
        let per_op_requests = if totals.ops > 0 {
            totals.requests as f64 / totals.ops as f64
        } else {
            0.0
        };
        if all_buckets.len() < totals.buckets.len() {
            all_buckets.resize(totals.buckets.len(), Bucket::default());
        }
        for (into, from) in all_buckets.iter_mut().zip(&totals.buckets) {
            into.ops += from.ops;
            into.objects += from.objects;
            into.bytes += from.bytes;
        }
        ops.push(OpReport {
            kind,
            distribution_pct: input
                .weights
                .as_ref()
                .and_then(|weights| distribution_pct(kind, weights)),
            ops: totals.ops,
            requests: totals.requests,
            errors: totals.errors,
            objects: totals.objects,
            bytes: totals.bytes,
            object_size: if matches!(kind, OpKind::Get | OpKind::Put) {
                input.object_size
            } else {
                None
            },
            requests_per_s: average.ops_per_s * per_op_requests,
            average,
            latency: analysis::latency_stats(&totals.latency_us),
            latency_includes_warmup: totals.latency_includes_warmup,
            ttfb: analysis::latency_stats(&totals.ttfb_us),
            ranked: analysis::rank_segments(&segments),
            segments,
        });
    }
    let total = (ops.len() > 1).then(|| analysis::window_throughput(&all_buckets, window));
    PhaseReport {
        label: input.label.to_string(),
        concurrency: input.concurrency,
        epoch: input.epoch,
        requests: ops.iter().map(|op| op.requests).sum(),
        ops,
        total,
        cpu: input.cpu,
        wall: input.wall,
        autoterm: input.autoterm,
    }
}

impl PhaseReport {
    /// Client CPU time per HTTP request, in microseconds.
    pub fn cpu_per_request_us(&self) -> Option<(f64, f64, f64)> {
        if self.requests == 0 {
            return None;
        }
        let per = |d: Duration| d.as_secs_f64() * 1e6 / self.requests as f64;
        Some((
            per(self.cpu.total()),
            per(self.cpu.user),
            per(self.cpu.system),
        ))
    }

    pub fn cores_busy(&self) -> f64 {
        self.cpu.total().as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    fn clock_at(&self, offset_ns: u64) -> String {
        UtcTime::from_system(self.epoch.system_at(offset_ns)).clock()
    }
}

fn rate_text(op: &OpReport, t: &Throughput) -> String {
    if op.bytes > 0 {
        format!(
            "{:.2} MiB/s, {:.2} obj/s",
            t.bytes_per_s / MIB,
            t.objects_per_s
        )
    } else {
        format!("{:.2} obj/s", t.objects_per_s)
    }
}

fn latency_line(stats: &LatencyStats) -> String {
    format!(
        "Avg: {}, 50%: {}, 90%: {}, 99%: {}, Fastest: {}, Slowest: {}, StdDev: {}",
        format_latency_us(stats.avg_us),
        format_latency_us(stats.p50_us),
        format_latency_us(stats.p90_us),
        format_latency_us(stats.p99_us),
        format_latency_us(stats.min_us),
        format_latency_us(stats.max_us),
        format_latency_us(stats.stddev_us)
    )
}

fn ttfb_line(stats: &LatencyStats) -> String {
    format!(
        "Avg: {}, Best: {}, 25th: {}, Median: {}, 75th: {}, 90th: {}, 99th: {}, Worst: {}, StdDev: {}",
        format_latency_us(stats.avg_us),
        format_latency_us(stats.min_us),
        format_latency_us(stats.p25_us),
        format_latency_us(stats.p50_us),
        format_latency_us(stats.p75_us),
        format_latency_us(stats.p90_us),
        format_latency_us(stats.p99_us),
        format_latency_us(stats.max_us),
        format_latency_us(stats.stddev_us)
    )
}

/// The text report of one phase.
pub fn render_phase_text(phase: &PhaseReport) -> String {
    let mut out = String::new();
    for op in &phase.ops {
        render_op_text(phase, op, &mut out);
        out.push('\n');
    }
    if let Some(total) = &phase.total {
        out.push_str(&format!(
            "Cluster Total: {:.2} MiB/s, {:.2} obj/s over {}.\n",
            total.bytes_per_s / MIB,
            total.objects_per_s,
            format_duration_secs(Duration::from_secs_f64(total.duration_s))
        ));
    }
    if let Some(stable) = &phase.autoterm {
        let speed = if stable.by_bytes {
            format!("{:.1} MiB/s", stable.speed / MIB)
        } else {
            format!("{:.1} obj/s", stable.speed)
        };
        out.push_str(&format!(
            "Autoterm: throughput {speed} was stable for {}; stopped early.\n",
            format_duration_secs(stable.over)
        ));
    }
    if let Some((total, user, system)) = phase.cpu_per_request_us() {
        out.push_str(&format!(
            "Client CPU: {total:.1} µs per request (user {user:.1} µs + system {system:.1} µs) over {} requests; \
             {:.2} cores busy on average.\n",
            phase.requests,
            phase.cores_busy()
        ));
    }
    out
}

fn render_op_text(phase: &PhaseReport, op: &OpReport, out: &mut String) {
    let start = phase.clock_at(op.average.start_ns);
    let ran = format_duration_secs(Duration::from_secs_f64(op.average.duration_s));
    out.push_str(&format!(
        "Report: {} ({} reqs). Ran Duration: {ran}, starting {start}\n",
        op.kind.name(),
        op.requests
    ));
    if let Some(pct) = op.distribution_pct {
        out.push_str(&format!(
            " * Operation: {}, {pct:.0}%, Concurrency: {}.\n",
            op.kind.name(),
            phase.concurrency
        ));
    }
    let per_op = if op.ops > 0 {
        op.objects as f64 / (op.ops - op.errors).max(1) as f64
    } else {
        0.0
    };
    let size = op
        .object_size
        .map(|size| format!(" Size: {size} bytes."))
        .unwrap_or_default();
    out.push_str(&format!(
        " * Objects per request: {}.{size} Concurrency: {}.\n",
        trim_float(per_op),
        phase.concurrency
    ));
    let mut average = format!(" * Average: {}", rate_text(op, &op.average));
    if op.requests != op.ops || per_op != 1.0 {
        average.push_str(&format!(", {:.2} req/s", op.requests_per_s));
    }
    out.push_str(&format!("{average} ({ran})\n"));
    if let Some(latency) = &op.latency {
        let note = if op.latency_includes_warmup {
            " (includes warm-up)"
        } else {
            ""
        };
        out.push_str(&format!(" * Reqs: {}{note}\n", latency_line(latency)));
    }
    if let (Some(ttfb), OpKind::Get | OpKind::List) = (&op.ttfb, op.kind) {
        out.push_str(&format!(" * TTFB: {}\n", ttfb_line(ttfb)));
    }
    out.push_str(&format!(
        " * Reqs: {}, Errs: {}, Objs: {}, Bytes: {}\n",
        op.requests,
        op.errors,
        op.objects,
        format_bytes(op.bytes as f64)
    ));
    render_segments(phase, op, out);
}

fn render_segments(phase: &PhaseReport, op: &OpReport, out: &mut String) {
    match &op.ranked {
        Some(ranked) => {
            out.push_str(&format!(
                "\nThroughput, split into {} x 1s:\n",
                op.segments.len()
            ));
            for (name, segment) in [
                ("Fastest", &ranked.fastest),
                ("50% Median", &ranked.median),
                ("Slowest", &ranked.slowest),
            ] {
                out.push_str(&format!(
                    " * {name}: {} (1s, starting {})\n",
                    rate_text(op, segment).replace(" MiB/s", "MiB/s"),
                    phase.clock_at(segment.start_ns)
                ));
            }
        }
        None => out.push_str("\nThroughput: the run was too short for 1s segments.\n"),
    }
}

fn trim_float(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn latency_json(stats: &Option<LatencyStats>) -> Value {
    match stats {
        None => Value::Null,
        Some(s) => json!({
            "count": s.count,
            "avg_ms": s.avg_us / 1000.0,
            "p25_ms": s.p25_us / 1000.0,
            "p50_ms": s.p50_us / 1000.0,
            "p75_ms": s.p75_us / 1000.0,
            "p90_ms": s.p90_us / 1000.0,
            "p99_ms": s.p99_us / 1000.0,
            "fastest_ms": s.min_us / 1000.0,
            "slowest_ms": s.max_us / 1000.0,
            "stddev_ms": s.stddev_us / 1000.0,
        }),
    }
}

fn throughput_json(phase: &PhaseReport, t: &Throughput) -> Value {
    json!({
        "start": UtcTime::from_system(phase.epoch.system_at(t.start_ns)).rfc3339_nano(),
        "duration_s": t.duration_s,
        "mib_per_s": t.bytes_per_s / MIB,
        "obj_per_s": t.objects_per_s,
        "ops_per_s": t.ops_per_s,
    })
}

/// The JSON form of one phase.
pub fn phase_json(phase: &PhaseReport) -> Value {
    let ops: Vec<Value> = phase
        .ops
        .iter()
        .map(|op| {
            json!({
                "op": op.kind.name(),
                "distribution_pct": op.distribution_pct,
                "concurrency": phase.concurrency,
                "object_size": op.object_size,
                "requests": op.requests,
                "operations": op.ops,
                "errors": op.errors,
                "objects": op.objects,
                "bytes": op.bytes,
                "average": throughput_json(phase, &op.average),
                "requests_per_s": op.requests_per_s,
                "latency": latency_json(&op.latency),
                "latency_includes_warmup": op.latency_includes_warmup,
                "ttfb": latency_json(&op.ttfb),
                "segments": {
                    "segment_s": 1,
                    "count": op.segments.len(),
                    "fastest": op.ranked.as_ref().map(|r| throughput_json(phase, &r.fastest)),
                    "median": op.ranked.as_ref().map(|r| throughput_json(phase, &r.median)),
                    "slowest": op.ranked.as_ref().map(|r| throughput_json(phase, &r.slowest)),
                },
            })
        })
        .collect();
    let cpu = phase.cpu_per_request_us().map(|(total, user, system)| {
        json!({
            "per_request_us": total,
            "user_per_request_us": user,
            "system_per_request_us": system,
            "cores_busy": phase.cores_busy(),
        })
    });
    json!({
        "phase": phase.label,
        "operations": ops,
        "total": phase.total.as_ref().map(|t| throughput_json(phase, t)),
        "requests": phase.requests,
        "wall_s": phase.wall.as_secs_f64(),
        "client_cpu": cpu,
        "autoterm": phase.autoterm.map(|s| json!({"speed": s.speed, "by_bytes": s.by_bytes, "stable_s": s.over.as_secs_f64()})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Finished, ProgressSlot, WarmGate};

    /// Two workers doing 1 MiB GETs of 100 ms each, back to back, for 5 seconds; worker 1
    /// also has two errors.
    fn synthetic_phase() -> PhaseReport {
        let epoch = Epoch::now();
        let warm = WarmGate::new(2);
        let slot = ProgressSlot::default();
        let mut recorders = vec![
            Recorder::new(0, epoch, false),
            Recorder::new(1, epoch, false),
        ];
        for step in 0..50u64 {
            for (thread, recorder) in recorders.iter_mut().enumerate() {
                let error = (thread == 1 && step % 25 == 24)
                    .then(|| "GET 500: InternalError: boom".to_string());
                let start = epoch.instant + Duration::from_millis(step * 100);
                recorder.record(
                    Finished {
                        kind: OpKind::Get,
                        start,
                        first_byte: Some(start + Duration::from_millis(10)),
                        end: start + Duration::from_millis(100),
                        requests: 1,
                        objects: 1,
                        bytes: 1 << 20,
                        file: "k",
                        endpoint: 0,
                        error,
                    },
                    &warm,
                    &slot,
                );
            }
        }
        build_phase(PhaseInput {
            label: "benchmark",
            recorders: &recorders,
            concurrency: 2,
            object_size: Some(1 << 20),
            weights: None,
            cpu: CpuTime {
                user: Duration::from_millis(1),
                system: Duration::from_millis(3),
            },
            wall: Duration::from_secs(5),
            autoterm: None,
            epoch,
        })
    }

    #[test]
    fn numbers_of_a_synthetic_phase() {
        let phase = synthetic_phase();
        assert_eq!(phase.ops.len(), 1);
        let op = &phase.ops[0];
        assert_eq!((op.requests, op.errors, op.objects), (100, 2, 98));
        // Window: 0.1 s (every worker done with one op) .. 4.9 s (last starts) = 48 buckets.
        assert!(
            (op.average.duration_s - 4.8).abs() < 1e-9,
            "{:?}",
            op.average
        );
        // Inside the window both workers complete 10 ops/s, minus worker 1's error at 2.4 s.
        assert!(
            (op.average.objects_per_s - (96.0 - 1.0) / 4.8).abs() < 1e-6,
            "{:?}",
            op.average
        );
        let latency = op.latency.expect("latencies");
        assert!((latency.p50_us - 100_000.0).abs() < 100.0);
        assert!((op.ttfb.expect("ttfb").p99_us - 10_000.0).abs() < 10.0);
        assert_eq!(op.segments.len(), 4);
        let ranked = op.ranked.expect("segments");
        assert!(ranked.fastest.objects_per_s >= ranked.median.objects_per_s);
        assert!(ranked.median.objects_per_s >= ranked.slowest.objects_per_s);
        assert!((ranked.fastest.objects_per_s - 20.0).abs() < 1e-6);
        assert!((ranked.slowest.objects_per_s - 19.0).abs() < 1e-6);
        let (per_request, user, system) = phase.cpu_per_request_us().expect("requests");
        assert!(
            (per_request - 40.0).abs() < 1e-9
                && (user - 10.0).abs() < 1e-9
                && (system - 30.0).abs() < 1e-9
        );
    }

    #[test]
    fn text_and_json_agree() {
        let phase = synthetic_phase();
        let text = render_phase_text(&phase);
        for needle in [
            "Report: GET (100 reqs). Ran Duration: 5s",
            " * Objects per request: 1. Size: 1048576 bytes. Concurrency: 2.",
            " * Average: 19.79 MiB/s, 19.79 obj/s (5s)",
            " * Reqs: Avg: 100.",
            " * TTFB: Avg: 10.",
            " * Reqs: 100, Errs: 2, Objs: 98, Bytes: 98.00MiB",
            "Throughput, split into 4 x 1s:",
            " * Fastest: 20.00MiB/s, 20.00 obj/s (1s, starting ",
            "Client CPU: 40.0 µs per request (user 10.0 µs + system 30.0 µs) over 100 requests",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let value = phase_json(&phase);
        let op = &value["operations"][0];
        assert_eq!(op["op"], "GET");
        assert_eq!(op["errors"], 2);
        assert_eq!(op["segments"]["count"], 4);
        let mib = op["average"]["mib_per_s"].as_f64().expect("number");
        assert!((mib - 95.0 / 4.8).abs() < 1e-6);
        assert_eq!(
            value["client_cpu"]["per_request_us"]
                .as_f64()
                .map(|v| v.round()),
            Some(40.0)
        );
    }
}
