//! `tessera-bench sweep`: object size × concurrency, dvassallo-style, for GET or PUT.
//!
//! Owns: the sweep loop and its outputs — a table on stdout (or JSON with `--json`), a CSV
//! row per point, and a PNG chart of throughput and p99 latency (time to last byte) against
//! object size with one line per concurrency. For each size the order is: upload
//! `--objects` objects once (GET only), run every concurrency level for `--duration` on the
//! same warm connections, then delete what the size created (unless `--noclear`), so the
//! bucket never holds more than one size's objects.
//! Must not: reimplement measurement — each point is an ordinary measured phase.
//! Invariant: a point's numbers come from the same `report::build_phase` as the other
//! commands, so a sweep point and a plain `get` run with the same flags agree.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::analysis::LatencyStats;
use crate::chart::{self, ChartData, Series};
use crate::cli::SweepConfig;
use crate::progress::MonitorOptions;
use crate::record::OpKind;
use crate::report::{self, PhaseInput, PhaseReport};
use crate::runner::Phase;
use crate::session::{Fatal, Session};
use crate::workload::Task;

/// The measured numbers of one sweep point.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub op: OpKind,
    pub size: u64,
    pub concurrency: usize,
    pub duration_s: f64,
    pub requests: u64,
    pub errors: u64,
    pub mib_per_s: f64,
    pub obj_per_s: f64,
    pub latency: Option<LatencyStats>,
    pub ttfb: Option<LatencyStats>,
    pub cpu_per_request_us: Option<f64>,
}

pub const CSV_HEADER: &str = "op,object_size_bytes,concurrency,duration_s,requests,errors,mib_per_s,obj_per_s,\
latency_avg_ms,latency_p50_ms,latency_p90_ms,latency_p99_ms,latency_max_ms,ttfb_p50_ms,ttfb_p99_ms,client_cpu_us_per_request";

fn ms(stats: &Option<LatencyStats>, pick: impl Fn(&LatencyStats) -> f64) -> String {
    stats
        .as_ref()
        .map(|s| format!("{:.3}", pick(s) / 1000.0))
        .unwrap_or_default()
}

pub fn csv_row(point: &Point) -> String {
    format!(
        "{},{},{},{:.3},{},{},{:.3},{:.3},{},{},{},{},{},{},{},{}",
        point.op.name(),
        point.size,
        point.concurrency,
        point.duration_s,
        point.requests,
        point.errors,
        point.mib_per_s,
        point.obj_per_s,
        ms(&point.latency, |s| s.avg_us),
        ms(&point.latency, |s| s.p50_us),
        ms(&point.latency, |s| s.p90_us),
        ms(&point.latency, |s| s.p99_us),
        ms(&point.latency, |s| s.max_us),
        ms(&point.ttfb, |s| s.p50_us),
        ms(&point.ttfb, |s| s.p99_us),
        point
            .cpu_per_request_us
            .map(|v| format!("{v:.2}"))
            .unwrap_or_default(),
    )
}

pub fn table(points: &[Point]) -> String {
    let mut out = format!(
        "{:>10} {:>5} {:>11} {:>11} {:>10} {:>10} {:>10} {:>10} {:>7} {:>9}\n",
        "size",
        "conc",
        "MiB/s",
        "obj/s",
        "p50 ms",
        "p99 ms",
        "TTFB p50",
        "TTFB p99",
        "errors",
        "CPU µs/r"
    );
    for p in points {
        out.push_str(&format!(
            "{:>10} {:>5} {:>11.2} {:>11.2} {:>10} {:>10} {:>10} {:>10} {:>7} {:>9}\n",
            chart::size_label(p.size),
            p.concurrency,
            p.mib_per_s,
            p.obj_per_s,
            ms(&p.latency, |s| s.p50_us),
            ms(&p.latency, |s| s.p99_us),
            ms(&p.ttfb, |s| s.p50_us),
            ms(&p.ttfb, |s| s.p99_us),
            p.errors,
            p.cpu_per_request_us
                .map(|v| format!("{v:.1}"))
                .unwrap_or_default(),
        ));
    }
    out
}

/// The chart's series: one per concurrency level, points by size.
pub fn chart_data(points: &[Point], title: &str) -> ChartData {
    let mut levels: Vec<usize> = points.iter().map(|p| p.concurrency).collect();
    levels.sort_unstable();
    levels.dedup();
    let series = |value: &dyn Fn(&Point) -> Option<f64>| -> Vec<Series> {
        levels
            .iter()
            .map(|&level| Series {
                label: format!("concurrency {level}"),
                points: points
                    .iter()
                    .filter(|p| p.concurrency == level)
                    .filter_map(|p| value(p).map(|v| (p.size, v)))
                    .collect(),
            })
            .collect()
    };
    ChartData {
        title: title.to_string(),
        throughput_mib_s: series(&|p| Some(p.mib_per_s)),
        p99_latency_ms: series(&|p| p.latency.map(|s| s.p99_us / 1000.0)),
    }
}

fn write_csv(path: &Path, points: &[Point]) -> Result<(), Fatal> {
    let fail = |err: std::io::Error| Fatal(format!("cannot write --csv {}: {err}", path.display()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(fail)?);
    writeln!(file, "{CSV_HEADER}").map_err(fail)?;
    for point in points {
        writeln!(file, "{}", csv_row(point)).map_err(fail)?;
    }
    file.flush().map_err(fail)
}

pub fn run(config: &SweepConfig) -> Result<bool, Fatal> {
    let max_concurrency = config.concurrencies.iter().copied().max().unwrap_or(1);
    let largest = config.sizes.iter().copied().max().unwrap_or(0);
    let mut session = Session::start(&config.target, max_concurrency, largest, config.quiet)?;
    let op = if config.put { OpKind::Put } else { OpKind::Get };
    let mut points = Vec::new();
    for &size in &config.sizes {
        let measured = measure_size(&mut session, config, op, size, &mut points);
        if !config.noclear {
            session.cleanup();
        }
        if !measured? {
            eprintln!("interrupted: writing the points measured so far");
            break;
        }
    }
    write_outputs(config, op, &points)?;
    let errors: u64 = points.iter().map(|p| p.errors).sum();
    if errors > 0 {
        eprintln!("Errors: {errors} operations failed during the sweep.");
    }
    Ok(errors == 0)
}

/// Runs every concurrency level at one object size; false when interrupted.
fn measure_size(
    session: &mut Session,
    config: &SweepConfig,
    op: OpKind,
    size: u64,
    points: &mut Vec<Point>,
) -> Result<bool, Fatal> {
    let pool = if config.put {
        None
    } else {
        session.prepare(config.objects, size)?;
        Some(session.pool())
    };
    for &concurrency in &config.concurrencies {
        let task = match &pool {
            Some(pool) => Task::Get {
                pool: Arc::clone(pool),
                size,
            },
            None => Task::Put {
                size,
                payload: session.payload.clone(),
            },
        };
        let label = format!("{} {} × {concurrency}", op.name(), chart::size_label(size));
        let mut phase = Phase::new(&label, task, concurrency, session.epoch);
        phase.deadline = Some(Instant::now() + config.duration);
        let monitor = MonitorOptions {
            quiet: config.quiet,
            ..MonitorOptions::default()
        };
        let result = session.run(concurrency, phase, monitor);
        let phase_report = report::build_phase(PhaseInput {
            label: &label,
            recorders: &result.recorders,
            concurrency,
            object_size: Some(size),
            weights: None,
            cpu: result.cpu,
            wall: result.wall,
            autoterm: None,
            epoch: session.epoch,
        });
        if let Some(point) = point_of(&phase_report, op, size, concurrency) {
            if !config.quiet {
                eprintln!(
                    "{}",
                    table(std::slice::from_ref(&point))
                        .lines()
                        .nth(1)
                        .unwrap_or_default()
                );
            }
            points.push(point);
        }
        if result.interrupted {
            return Ok(false);
        }
    }
    Ok(true)
}

fn point_of(phase: &PhaseReport, op: OpKind, size: u64, concurrency: usize) -> Option<Point> {
    let report = phase.ops.iter().find(|o| o.kind == op)?;
    Some(Point {
        op,
        size,
        concurrency,
        duration_s: report.average.duration_s,
        requests: report.requests,
        errors: report.errors,
        mib_per_s: report.average.bytes_per_s / (1024.0 * 1024.0),
        obj_per_s: report.average.objects_per_s,
        latency: report.latency,
        ttfb: report.ttfb,
        cpu_per_request_us: phase.cpu_per_request_us().map(|(total, _, _)| total),
    })
}

/// The CSV, the PNG, and the table or JSON on stdout.
fn write_outputs(config: &SweepConfig, op: OpKind, points: &[Point]) -> Result<(), Fatal> {
    write_csv(&config.csv, points)?;
    let title = format!(
        "tessera-bench sweep: {} against {}",
        op.name(),
        config.target.hosts.join(",")
    );
    let with_text = chart::fonts_available();
    chart::draw_png(&config.png, &chart_data(points, &title), with_text).map_err(|err| {
        Fatal(format!(
            "cannot write --png {}: {err}",
            config.png.display()
        ))
    })?;
    if config.json {
        let rows: Vec<_> = points.iter().map(point_json).collect();
        println!(
            "{:#}",
            json!({ "sweep": rows, "csv": config.csv, "png": config.png })
        );
    } else {
        print!("{}", table(points));
        println!("CSV: {}", config.csv.display());
        let note = if with_text {
            ""
        } else {
            " (no font found: drawn without labels)"
        };
        println!("PNG: {}{note}", config.png.display());
    }
    Ok(())
}

fn point_json(p: &Point) -> serde_json::Value {
    json!({
        "op": p.op.name(), "object_size": p.size, "concurrency": p.concurrency,
        "duration_s": p.duration_s, "requests": p.requests, "errors": p.errors,
        "mib_per_s": p.mib_per_s, "obj_per_s": p.obj_per_s,
        "latency_p50_ms": p.latency.map(|s| s.p50_us / 1000.0),
        "latency_p99_ms": p.latency.map(|s| s.p99_us / 1000.0),
        "ttfb_p50_ms": p.ttfb.map(|s| s.p50_us / 1000.0),
        "ttfb_p99_ms": p.ttfb.map(|s| s.p99_us / 1000.0),
        "client_cpu_us_per_request": p.cpu_per_request_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(size: u64, concurrency: usize, mib: f64, p99_us: Option<f64>) -> Point {
        Point {
            op: OpKind::Get,
            size,
            concurrency,
            duration_s: 10.0,
            requests: 100,
            errors: 0,
            mib_per_s: mib,
            obj_per_s: mib * 2.0,
            latency: p99_us.map(|p99| LatencyStats {
                count: 100,
                avg_us: 500.0,
                stddev_us: 10.0,
                min_us: 100.0,
                max_us: 2000.0,
                p25_us: 200.0,
                p50_us: 400.0,
                p75_us: 600.0,
                p90_us: 800.0,
                p99_us: p99,
            }),
            ttfb: None,
            cpu_per_request_us: Some(12.345),
        }
    }

    #[test]
    fn csv_rows_match_the_header() {
        let row = csv_row(&point(4096, 8, 12.5, Some(1500.0)));
        assert_eq!(row.split(',').count(), CSV_HEADER.split(',').count());
        assert_eq!(
            row,
            "GET,4096,8,10.000,100,0,12.500,25.000,0.500,0.400,0.800,1.500,2.000,,,12.35"
        );
        let empty = csv_row(&point(4096, 8, 0.0, None));
        assert_eq!(empty.split(',').count(), CSV_HEADER.split(',').count());
    }

    #[test]
    fn chart_series_group_by_concurrency() {
        let points = [
            point(4096, 1, 1.0, Some(1000.0)),
            point(65536, 1, 5.0, None),
            point(4096, 8, 3.0, Some(3000.0)),
        ];
        let data = chart_data(&points, "t");
        assert_eq!(data.throughput_mib_s.len(), 2);
        assert_eq!(data.throughput_mib_s[0].label, "concurrency 1");
        assert_eq!(
            data.throughput_mib_s[0].points,
            vec![(4096, 1.0), (65536, 5.0)]
        );
        assert_eq!(
            data.p99_latency_ms[0].points,
            vec![(4096, 1.0)],
            "points without latency are left out"
        );
        assert_eq!(data.p99_latency_ms[1].points, vec![(4096, 3.0)]);
        let text = table(&points);
        assert_eq!(text.lines().count(), 4);
        assert!(text
            .lines()
            .nth(1)
            .is_some_and(|line| line.contains("4KiB") && line.contains("1.000")));
    }
}
