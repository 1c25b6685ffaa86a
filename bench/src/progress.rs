//! The live progress line and the `--autoterm` driver.
//!
//! Owns: a task that wakes every second while a phase runs, sums the workers' progress
//! slots, prints `label: Reqs, Errs, Objs, Bytes, current rate` to stderr (rewritten in place
//! on a terminal, one line per `PROGRESS_PERIOD_PIPE` otherwise), and feeds cumulative
//! samples to the autoterm rule, raising the phase's stop flag when it fires.
//! Must not: write to stdout (reserved for the report and `--json`). Invariant: the task
//! ends within one tick of the phase's `done` flag.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::autoterm::{self, Sample, Stable};
use crate::constants::{PROGRESS_PERIOD_PIPE, PROGRESS_PERIOD_TTY};
use crate::record::{progress_totals, ProgressTotals};
use crate::runner::Phase;
use crate::units::format_bytes;

#[derive(Clone, Copy, Debug, Default)]
pub struct MonitorOptions {
    pub quiet: bool,
    /// (minimum stable time, fraction) when autoterm applies to this phase.
    pub autoterm: Option<(Duration, f64)>,
    /// Total operations expected (uploads while preparing), for an "n/total" display.
    pub expected_ops: Option<u64>,
}

const TICK: Duration = Duration::from_millis(100);
const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

pub async fn monitor(
    phase: Arc<Phase>,
    done: Arc<AtomicBool>,
    options: MonitorOptions,
) -> Option<Stable> {
    let tty = std::io::stderr().is_terminal();
    let print_period = if tty {
        PROGRESS_PERIOD_TTY
    } else {
        PROGRESS_PERIOD_PIPE
    };
    let started = Instant::now();
    let mut samples = vec![Sample {
        at_s: 0.0,
        bytes: 0.0,
        objects: 0.0,
    }];
    let mut next_sample = started + SAMPLE_PERIOD;
    let mut next_print = started + print_period;
    let mut previous = (started, ProgressTotals::default());
    let mut stable = None;
    let mut printed = false;
    while !done.load(Ordering::Acquire) {
        tokio::time::sleep(TICK).await;
        let now = Instant::now();
        if now < next_sample {
            continue;
        }
        next_sample += SAMPLE_PERIOD;
        let totals = progress_totals(&phase.slots);
        let at_s = now.duration_since(started).as_secs_f64();
        samples.push(Sample {
            at_s,
            bytes: totals.bytes as f64,
            objects: totals.objects as f64,
        });
        if let (Some((min_stable, fraction)), None) = (options.autoterm, stable) {
            if let Some(open_ns) = phase.warm.open_ns() {
                let from_s = (phase.epoch.instant + Duration::from_nanos(open_ns))
                    .saturating_duration_since(started)
                    .as_secs_f64();
                stable = autoterm::check(&samples, from_s, fraction, min_stable);
                if stable.is_some() {
                    phase.stop.store(true, Ordering::Relaxed);
                }
            }
        }
        if !options.quiet && now >= next_print {
            next_print += print_period;
            let line = progress_line(&phase, &options, totals, previous, now);
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r\x1b[2K{line}")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
            printed = true;
            previous = (now, totals);
        }
    }
    if printed && tty {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
    }
    stable
}

fn progress_line(
    phase: &Phase,
    options: &MonitorOptions,
    totals: ProgressTotals,
    previous: (Instant, ProgressTotals),
    now: Instant,
) -> String {
    let seconds = now.duration_since(previous.0).as_secs_f64().max(1e-9);
    let bytes_rate = (totals.bytes - previous.1.bytes.min(totals.bytes)) as f64 / seconds;
    let objects_rate = (totals.objects - previous.1.objects.min(totals.objects)) as f64 / seconds;
    let mut line = format!(
        "{}: Reqs: {}, Errs: {}, Objs: {}, Bytes: {}; Current: {}/s, {:.0} obj/s",
        phase.label,
        totals.requests,
        totals.errors,
        totals.objects,
        format_bytes(totals.bytes as f64),
        format_bytes(bytes_rate),
        objects_rate
    );
    if let Some(expected) = options.expected_ops {
        line.push_str(&format!(
            " ({} of {expected} done)",
            totals.objects + totals.errors
        ));
    }
    if let Some(deadline) = phase.deadline {
        line.push_str(&format!(
            ", {}s left",
            deadline.saturating_duration_since(now).as_secs_f64().ceil()
        ));
    }
    line
}
