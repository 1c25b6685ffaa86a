//! `--autoterm`: stop a run early once throughput is stable, by warp's rule.
//!
//! Owns: the stability test. The active part of the run is split into
//! `AUTOTERM_SPLIT_SAMPLES` (25) equal segments; the run is stable when each of the segments
//! before the last, back to the `AUTOTERM_CHECK_SAMPLES`-th (7th) from the end, is within
//! `--autoterm.pct` of the last segment's speed (MiB/s, or obj/s when no bytes move), and the
//! checked stretch covers at least `--autoterm.dur`. Must not: read clocks or counters — the
//! progress monitor feeds it cumulative samples. Invariant: needs strictly positive speed;
//! a stalled run never counts as stable.

use std::time::Duration;

use crate::constants::{AUTOTERM_CHECK_SAMPLES, AUTOTERM_SPLIT_SAMPLES};

/// Cumulative completed work at `at_s` seconds into the phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub at_s: f64,
    pub bytes: f64,
    pub objects: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stable {
    /// Speed of the last segment, bytes/s or objects/s.
    pub speed: f64,
    pub by_bytes: bool,
    /// Length of the checked stretch.
    pub over: Duration,
}

/// Linear interpolation of the cumulative curve at `t` (samples sorted by time).
fn cumulative_at(samples: &[Sample], t: f64, bytes: bool) -> f64 {
    let value = |s: &Sample| if bytes { s.bytes } else { s.objects };
    let after = samples.partition_point(|s| s.at_s < t);
    if after == 0 {
        return samples.first().map_or(0.0, value);
    }
    if after == samples.len() {
        return samples.last().map_or(0.0, value);
    }
    let (a, b) = (&samples[after - 1], &samples[after]);
    let fraction = if b.at_s > a.at_s {
        (t - a.at_s) / (b.at_s - a.at_s)
    } else {
        1.0
    };
    value(a) + (value(b) - value(a)) * fraction
}

/// Whether the run since `from_s` (the analysis-window start) is stable.
pub fn check(
    samples: &[Sample],
    from_s: f64,
    threshold: f64,
    min_stable: Duration,
) -> Option<Stable> {
    let end_s = samples.last()?.at_s;
    let span_s = end_s - from_s;
    let needed_s =
        min_stable.as_secs_f64() * AUTOTERM_SPLIT_SAMPLES as f64 / AUTOTERM_CHECK_SAMPLES as f64;
    if span_s <= needed_s || span_s <= 0.0 {
        return None;
    }
    let segment_s = span_s / AUTOTERM_SPLIT_SAMPLES as f64;
    let speed = |index: usize, bytes: bool| {
        let from = from_s + index as f64 * segment_s;
        (cumulative_at(samples, from + segment_s, bytes) - cumulative_at(samples, from, bytes))
            / segment_s
    };
    let last = AUTOTERM_SPLIT_SAMPLES - 1;
    let by_bytes = speed(last, true) > 0.0;
    let base = speed(last, by_bytes);
    if base <= 0.0 {
        return None;
    }
    let checked = AUTOTERM_SPLIT_SAMPLES - AUTOTERM_CHECK_SAMPLES..last;
    if checked
        .clone()
        .all(|index| (speed(index, by_bytes) - base).abs() <= threshold * base)
    {
        let over = Duration::from_secs_f64(segment_s * AUTOTERM_CHECK_SAMPLES as f64);
        return Some(Stable {
            speed: base,
            by_bytes,
            over,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rates: impl Fn(f64) -> f64, seconds: usize) -> Vec<Sample> {
        let mut samples = vec![Sample {
            at_s: 0.0,
            bytes: 0.0,
            objects: 0.0,
        }];
        let mut total = 0.0;
        for second in 1..=seconds {
            total += rates(second as f64);
            samples.push(Sample {
                at_s: second as f64,
                bytes: total,
                objects: total / 100.0,
            });
        }
        samples
    }

    #[test]
    fn steady_rate_is_stable_after_enough_time() {
        let ten_seconds = Duration::from_secs(10);
        // 10 s × 25 / 7 ≈ 35.7 s of run are needed before the rule can fire.
        assert_eq!(check(&run(|_| 1000.0, 30), 0.0, 0.075, ten_seconds), None);
        let stable = check(&run(|_| 1000.0, 40), 0.0, 0.075, ten_seconds).expect("steady");
        assert!(stable.by_bytes);
        assert!((stable.speed - 1000.0).abs() < 1e-6);
        assert!(stable.over >= Duration::from_secs(11));
    }

    #[test]
    fn ramping_or_noisy_rate_is_not_stable() {
        let ten_seconds = Duration::from_secs(10);
        assert_eq!(
            check(&run(|t| 100.0 * t, 60), 0.0, 0.075, ten_seconds),
            None
        );
        let noisy = |t: f64| if (t as u64) % 4 < 2 { 1000.0 } else { 2000.0 };
        assert_eq!(check(&run(noisy, 60), 0.0, 0.075, ten_seconds), None);
        // The same noise passes a loose threshold.
        assert!(check(&run(noisy, 60), 0.0, 0.7, ten_seconds).is_some());
    }

    #[test]
    fn only_time_after_the_window_start_counts_and_stalls_never_stop() {
        let ten_seconds = Duration::from_secs(10);
        let samples = run(|_| 1000.0, 40);
        assert!(check(&samples, 0.0, 0.075, ten_seconds).is_some());
        // From 10 s on only 30 s remain, less than the 35.7 s the rule needs.
        assert_eq!(check(&samples, 10.0, 0.075, ten_seconds), None);
        // A rate change inside the checked stretch (the last 7/25 of the run) blocks it.
        let late_jump = |t: f64| if t <= 34.0 { 1000.0 } else { 1500.0 };
        assert_eq!(check(&run(late_jump, 40), 0.0, 0.075, ten_seconds), None);
        assert_eq!(check(&run(|_| 0.0, 60), 0.0, 0.075, ten_seconds), None);
        assert_eq!(check(&[], 0.0, 0.075, ten_seconds), None);
    }

    #[test]
    fn object_rate_is_used_when_no_bytes_move() {
        let samples: Vec<Sample> = (0..=40)
            .map(|t| Sample {
                at_s: t as f64,
                bytes: 0.0,
                objects: 50.0 * t as f64,
            })
            .collect();
        let stable = check(&samples, 0.0, 0.075, Duration::from_secs(10)).expect("steady objects");
        assert!(!stable.by_bytes);
        assert!((stable.speed - 50.0).abs() < 1e-6);
    }
}
