//! Parsing and printing of sizes and durations, in warp's notation.
//!
//! Owns: `--obj.size`-style sizes (go-humanize rules, as current warp uses: `KB`/`MB` are
//! powers of 1000, `KiB`/`MiB` powers of 1024, case-insensitive, decimals allowed) and
//! `--duration`-style durations (Go `time.ParseDuration` rules: `10s`, `1m30s`, `1.5h`,
//! `250ms`). Must not: touch I/O. Invariant: every parse either returns an exact value or a
//! message naming the bad input; nothing here panics on user input.

use std::time::Duration;

/// Parses a size such as `10MiB`, `1KB`, `4 KiB`, `1.5GiB` or `4096` into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_end);
    if number.is_empty() {
        return Err(format!("size {text:?}: expected a number, like 10MiB"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("size {text:?}: {number:?} is not a number"))?;
    let multiplier = size_unit_multiplier(unit.trim()).ok_or_else(|| {
        format!(
            "size {text:?}: unknown unit {:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)",
            unit.trim()
        )
    })?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("size {text:?} is too large"));
    }
    Ok(bytes.round() as u64)
}

fn size_unit_multiplier(unit: &str) -> Option<u64> {
    const KIB: u64 = 1 << 10;
    let multiplier = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => KIB,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => KIB * KIB,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => KIB * KIB * KIB,
        "t" | "tb" => 1_000_000_000_000,
        "ti" | "tib" => KIB * KIB * KIB * KIB,
        _ => return None,
    };
    Some(multiplier)
}

/// Parses a Go-style duration: one or more `<number><unit>` terms, units `ns`, `us`, `µs`,
/// `ms`, `s`, `m`, `h`. A bare `0` is accepted, as in Go.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    if trimmed.is_empty() {
        return Err("duration is empty; use a form like 10s, 1m or 5m30s".to_string());
    }
    let mut rest = trimmed;
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("duration {text:?}: expected a number before {unit:?}"))?;
        let unit_ns = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("duration {text:?}: missing unit (s, m, h, ms)")),
            other => return Err(format!("duration {text:?}: unknown unit {other:?}")),
        };
        total_ns += value * unit_ns;
        rest = next;
    }
    if !total_ns.is_finite() || total_ns >= u64::MAX as f64 {
        return Err(format!("duration {text:?} is too large"));
    }
    Ok(Duration::from_nanos(total_ns.round() as u64))
}

/// Bytes in warp's style: `19.64GiB`, `261.0MiB`, `512B`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0}{}", UNITS[unit])
    } else {
        format!("{value:.2}{}", UNITS[unit])
    }
}

/// A latency given in microseconds, as warp prints request times: `57.0ms`; below one
/// millisecond three decimals are kept so small-object latencies stay readable.
pub fn format_latency_us(us: f64) -> String {
    let ms = us / 1000.0;
    if ms >= 1.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{ms:.3}ms")
    }
}

/// A whole-second duration in Go's `Duration.String` style: `12s`, `1m5s`, `1h0m0s`.
pub fn format_duration_secs(duration: Duration) -> String {
    let secs = duration.as_secs_f64().round() as u64;
    let (hours, minutes, seconds) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_warp_notation() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("4096", 4096),
            ("1B", 1),
            ("1KiB", 1024),
            ("4 KiB", 4096),
            ("10MiB", 10 * 1024 * 1024),
            ("10mib", 10 * 1024 * 1024),
            ("1GiB", 1 << 30),
            ("1TiB", 1 << 40),
            ("1KB", 1000),
            ("1kb", 1000),
            ("1k", 1000),
            ("5MB", 5_000_000),
            ("2GB", 2_000_000_000),
            ("1.5MiB", 1_572_864),
            ("0.5KiB", 512),
            ("1Ki", 1024),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Ok(*want), "parse_size({text:?})");
        }
    }

    #[test]
    fn bad_sizes_are_rejected_with_a_message() {
        for text in [
            "",
            "MiB",
            "-1KiB",
            "10XB",
            "1..2MiB",
            "1e3",
            "99999999999999999999TiB",
        ] {
            let result = parse_size(text);
            assert!(result.is_err(), "parse_size({text:?}) = {result:?}");
        }
    }

    #[test]
    fn durations_follow_go_notation() {
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("10s", Duration::from_secs(10)),
            ("1m", Duration::from_secs(60)),
            ("5m", Duration::from_secs(300)),
            ("1m30s", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
            ("1.5h", Duration::from_secs(5400)),
            ("250ms", Duration::from_millis(250)),
            ("100us", Duration::from_micros(100)),
            ("100µs", Duration::from_micros(100)),
            ("7ns", Duration::from_nanos(7)),
            ("1h2m3s", Duration::from_secs(3723)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), Ok(*want), "parse_duration({text:?})");
        }
    }

    #[test]
    fn bad_durations_are_rejected_with_a_message() {
        for text in ["", "10", "s", "10x", "-5s", "1m-5s", "ten s"] {
            let result = parse_duration(text);
            assert!(result.is_err(), "parse_duration({text:?}) = {result:?}");
        }
    }

    #[test]
    fn formats_match_warp_style() {
        assert_eq!(format_bytes(512.0), "512B");
        assert_eq!(format_bytes(261.0 * 1024.0 * 1024.0), "261.00MiB");
        assert_eq!(format_bytes(19.64 * 1024.0 * 1024.0 * 1024.0), "19.64GiB");
        assert_eq!(format_latency_us(57_000.0), "57.0ms");
        assert_eq!(format_latency_us(1_210_700.0), "1210.7ms");
        assert_eq!(format_latency_us(234.0), "0.234ms");
        assert_eq!(format_duration_secs(Duration::from_secs(12)), "12s");
        assert_eq!(format_duration_secs(Duration::from_secs(65)), "1m5s");
        assert_eq!(format_duration_secs(Duration::from_secs(3600)), "1h0m0s");
    }
}
