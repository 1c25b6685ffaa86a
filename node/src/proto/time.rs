//! Time formats of the S3 protocol: SigV4's `20130524T000000Z`, ISO 8601 with milliseconds
//! (`LastModified` in listings) and the HTTP date (`Last-Modified`, `Date`, conditional headers).
//!
//! Owns: the conversion between Unix time and civil (proleptic Gregorian, UTC) dates.
//! Must not: read the clock, except [`unix_now_ms`], the one impure function, kept here so that
//! callers have a single place to replace with a simulated clock.
//! Invariants: parsers return `None` on anything malformed and never panic; formatters always
//! produce fixed-width output, clamping instants outside years 0000..=9999 to that range.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a civil day.
const DAY_SECS: i64 = 86_400;
/// First instant we format: 0000-01-01T00:00:00Z, in Unix seconds.
const FORMAT_SECS_MIN: i64 = -62_167_219_200;
/// Last instant we format: 9999-12-31T23:59:59Z, in Unix seconds.
const FORMAT_SECS_MAX: i64 = 253_402_300_799;

const WEEKDAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Sunday.
    weekday: usize,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn civil_from_unix(unix_secs: i64) -> Civil {
    let secs = unix_secs.clamp(FORMAT_SECS_MIN, FORMAT_SECS_MAX);
    let days = secs.div_euclid(DAY_SECS);
    let secs_of_day = secs.rem_euclid(DAY_SECS) as u32;
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: secs_of_day / 3600,
        minute: secs_of_day / 60 % 60,
        second: secs_of_day % 60,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

/// Parses a non-empty run of ASCII digits (at most 4, so it cannot overflow).
fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')),
    )
}

/// Parses SigV4's basic ISO 8601 form `YYYYMMDDTHHMMSSZ` into Unix seconds.
pub fn amz_date_parse(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let year = i64::from(digits(&b[0..4])?);
    let month = digits(&b[4..6])?;
    let day = digits(&b[6..8])?;
    let hour = digits(&b[9..11])?;
    let minute = digits(&b[11..13])?;
    let second = digits(&b[13..15])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * DAY_SECS + i64::from(hour * 3600 + minute * 60 + second))
}

/// Formats Unix seconds as SigV4's `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(unix_secs: i64) -> String {
    let c = civil_from_unix(unix_secs);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Formats Unix milliseconds as `2013-05-24T00:00:00.000Z` (S3 listings' `LastModified`).
pub fn iso8601_ms(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let ms = if (FORMAT_SECS_MIN..=FORMAT_SECS_MAX).contains(&secs) {
        unix_ms.rem_euclid(1000)
    } else if secs > FORMAT_SECS_MAX {
        999
    } else {
        0
    };
    let c = civil_from_unix(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, ms
    )
}

/// Formats Unix seconds as an IMF-fixdate: `Fri, 24 May 2013 00:00:00 GMT`.
pub fn http_date(unix_secs: i64) -> String {
    let c = civil_from_unix(unix_secs);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAY_NAMES[c.weekday],
        c.day,
        MONTH_NAMES[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// Parses any of the three HTTP date formats of RFC 7231 §7.1.1.1 (IMF-fixdate, RFC 850,
/// asctime) into Unix seconds. `None` if malformed or before 1970.
///
/// The RFC 5322 spellings of UTC as a numeric zone (`+0000`, `-0000`) are read as `GMT`:
/// botocore signs with a `Date` header written by Python's `formatdate()`, which ends in
/// `-0000`. Any other offset is refused rather than guessed.
pub fn http_date_parse(s: &str) -> Option<i64> {
    let s = s.trim();
    let utc = s
        .strip_suffix(" -0000")
        .or_else(|| s.strip_suffix(" +0000"))
        .map(|stem| format!("{stem} GMT"));
    let t = httpdate::parse_http_date(utc.as_deref().unwrap_or(s)).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// As [`http_date_parse`], but an RFC 1123 date (`Tue, 7 Jul 2010 21:53:04 GMT`, day of one or
/// two digits) is read whatever its weekday name says, as S3 reads the `Date` and
/// `x-amz-date` of Signature Version 2: a date with the wrong weekday is still a date (and
/// then usually too far from now), not a malformed one. Zones `GMT`, `UTC`, `+0000` and
/// `-0000`. `None` if malformed or before 1970.
pub fn http_date_parse_any_weekday(s: &str) -> Option<i64> {
    if let Some(t) = http_date_parse(s) {
        return Some(t);
    }
    let (weekday, rest) = s.trim().split_once(',')?;
    if !WEEKDAY_NAMES.contains(&weekday) {
        return None;
    }
    let mut parts = rest.split_ascii_whitespace();
    let (Some(day), Some(month), Some(year), Some(hms), Some(zone), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if !matches!(zone, "GMT" | "UTC" | "+0000" | "-0000") || day.len() > 2 || year.len() != 4 {
        return None;
    }
    let day = digits(day.as_bytes())?;
    let month = MONTH_NAMES.iter().position(|m| *m == month)? as u32 + 1;
    let year = i64::from(digits(year.as_bytes())?);
    let hms = hms.as_bytes();
    if hms.len() != 8 || hms[2] != b':' || hms[5] != b':' {
        return None;
    }
    let (hour, minute, second) = (
        digits(&hms[0..2])?,
        digits(&hms[3..5])?,
        digits(&hms[6..8])?,
    );
    if year < 1970 || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * DAY_SECS + i64::from(hour * 3600 + minute * 60 + second))
}

/// The wall clock in Unix milliseconds. The only impure function of the protocol layer.
pub fn unix_now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        // A clock before 1970 is misconfigured; report the epoch rather than panicking.
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_table() {
        let table: &[(&str, Option<i64>)] = &[
            ("20130524T000000Z", Some(1_369_353_600)),
            ("19700101T000000Z", Some(0)),
            ("20000229T235959Z", Some(951_868_799)),
            ("20240229T120000Z", Some(1_709_208_000)),
            ("99991231T235959Z", Some(FORMAT_SECS_MAX)),
            ("19691231T235959Z", Some(-1)),
            ("20230229T000000Z", None), // not a leap year
            ("19000229T000000Z", None), // century, not leap
            ("20131324T000000Z", None),
            ("20130024T000000Z", None),
            ("20130500T000000Z", None),
            ("20130531T240000Z", None),
            ("20130531T236000Z", None),
            ("20130531T235960Z", None),
            ("20130524T000000", None),
            ("20130524T000000z", None),
            ("20130524 000000Z", None),
            ("2013-05-24T00:00:00Z", None),
            ("+0130524T000000Z", None),
            ("", None),
            ("20130524T00000\u{e9}", None),
        ];
        for (input, want) in table {
            assert_eq!(amz_date_parse(input), *want, "{input:?}");
        }
    }

    #[test]
    fn amz_date_round_trip() {
        for secs in [
            0,
            1_369_353_600,
            951_868_799,
            4_102_444_800,
            -86_400,
            1_709_208_000,
        ] {
            let s = amz_date(secs);
            assert_eq!(amz_date_parse(&s), Some(secs), "{s}");
        }
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
    }

    #[test]
    fn iso8601_ms_table() {
        let table: &[(i64, &str)] = &[
            (1_369_353_600_000, "2013-05-24T00:00:00.000Z"),
            (1_369_353_600_123, "2013-05-24T00:00:00.123Z"),
            (0, "1970-01-01T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_868_799_999, "2000-02-29T23:59:59.999Z"),
            (i64::MAX, "9999-12-31T23:59:59.999Z"),
            (i64::MIN, "0000-01-01T00:00:00.000Z"),
        ];
        for (ms, want) in table {
            assert_eq!(iso8601_ms(*ms), *want, "{ms}");
        }
    }

    #[test]
    fn http_date_table() {
        let table: &[(i64, &str)] = &[
            (1_369_353_600, "Fri, 24 May 2013 00:00:00 GMT"),
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_868_799, "Tue, 29 Feb 2000 23:59:59 GMT"),
            (-86_400, "Wed, 31 Dec 1969 00:00:00 GMT"),
            (i64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for (secs, want) in table {
            assert_eq!(http_date(*secs), *want, "{secs}");
        }
    }

    #[test]
    fn http_date_parse_table() {
        let table: &[(&str, Option<i64>)] = &[
            ("Fri, 24 May 2013 00:00:00 GMT", Some(1_369_353_600)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777)),
            ("Sun Nov  6 08:49:37 1994", Some(784_111_777)),
            (" Fri, 24 May 2013 00:00:00 GMT ", Some(1_369_353_600)),
            ("Fri, 24 May 2013 00:00:00 -0000", Some(1_369_353_600)),
            ("Fri, 24 May 2013 00:00:00 +0000", Some(1_369_353_600)),
            ("Fri, 24 May 2013 00:00:00 +0200", None),
            ("Fri, 24 May 2013 00:00:00 -0000 GMT", None),
            ("Fri, 24 May 2013 00:00:00", None),
            ("2013-05-24T00:00:00Z", None),
            ("Fri, 32 May 2013 00:00:00 GMT", None),
            ("", None),
            ("garbage", None),
        ];
        for (input, want) in table {
            assert_eq!(http_date_parse(input), *want, "{input:?}");
        }
    }

    #[test]
    fn http_date_parse_any_weekday_table() {
        let table: &[(&str, Option<i64>)] = &[
            // Everything the strict parser reads.
            ("Fri, 24 May 2013 00:00:00 GMT", Some(1_369_353_600)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777)),
            ("Sun Nov  6 08:49:37 1994", Some(784_111_777)),
            ("Fri, 24 May 2013 00:00:00 -0000", Some(1_369_353_600)),
            // The wrong weekday (24 May 2013 was a Friday; 7 Jul 2010 a Wednesday).
            ("Mon, 24 May 2013 00:00:00 GMT", Some(1_369_353_600)),
            ("Tue, 07 Jul 2010 21:53:04 GMT", Some(1_278_539_584)),
            ("Tue, 7 Jul 2010 21:53:04 GMT", Some(1_278_539_584)),
            ("Tue, 07 Jul 2010 21:53:04 UTC", Some(1_278_539_584)),
            ("Tue, 07 Jul 2010 21:53:04 +0000", Some(1_278_539_584)),
            ("Tue, 07 Jul 9999 21:53:04 GMT", Some(253_387_000_384)),
            // Still malformed.
            ("Tue, 07 Jul 1950 21:53:04 GMT", None),
            ("Tue, 07 Jul 1969 21:53:04 GMT", None),
            ("Tue, 07 Jul 2010 21:53:04 +0200", None),
            ("Tue, 07 Jul 2010 21:53:04", None),
            ("Tue, 07 Jul 2010 21:53:04 GMT extra", None),
            ("Tue, 31 Jun 2010 21:53:04 GMT", None),
            ("Tue, 29 Feb 2010 21:53:04 GMT", None),
            ("Tue, 07 Jul 2010 24:00:00 GMT", None),
            ("Tue, 07 Jul 2010 21:53:4 GMT", None),
            ("Tue, 07 Jul 2010 21-53-04 GMT", None),
            ("Tue, 007 Jul 2010 21:53:04 GMT", None),
            ("Tue, 07 July 2010 21:53:04 GMT", None),
            ("Tue, 07 Jul 10 21:53:04 GMT", None),
            ("Tue, 07 Jul +010 21:53:04 GMT", None),
            ("Xyz, 07 Jul 2010 21:53:04 GMT", None),
            ("Tue 07 Jul 2010 21:53:04 GMT", None),
            ("Tue, 07 J\u{e9}l 2010 21:53:04 GMT", None),
            ("Tue, 0\u{e9} Jul 2010 21:53:04 GMT", None),
            ("Bad Date", None),
            ("", None),
            (",", None),
        ];
        for (input, want) in table {
            assert_eq!(http_date_parse_any_weekday(input), *want, "{input:?}");
        }
    }

    #[test]
    fn http_date_round_trip_every_day_of_a_leap_cycle() {
        // Four years of days cover every month length and leap day.
        let start = days_from_civil(2020, 1, 1);
        for day in start..start + 1461 {
            let secs = day * DAY_SECS + 45_296; // 12:34:56
            assert_eq!(http_date_parse(&http_date(secs)), Some(secs));
            assert_eq!(amz_date_parse(&amz_date(secs)), Some(secs));
        }
    }

    #[test]
    fn now_is_after_2020() {
        assert!(unix_now_ms() > 1_577_836_800_000);
    }
}
