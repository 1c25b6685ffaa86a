//! UTC wall-clock formatting without a date library.
//!
//! Owns: the SigV4 `x-amz-date` form (`20130524T000000Z`), Go's RFC3339Nano form used in
//! warp's benchdata (`2024-01-02T03:04:05.12345Z`, trailing zeros of the fraction trimmed,
//! no fraction when it is zero), and the `12:16:20 UTC` form of report headings.
//! Must not: read the clock itself; callers pass the `SystemTime`, so tests are exact.
//! Invariant: times before 1970 are clamped to the epoch (a benchmark never sees them).

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC calendar time, down to the nanosecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

impl UtcTime {
    pub fn from_system(time: SystemTime) -> UtcTime {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let days = (secs / 86_400) as i64;
        let of_day = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (of_day / 3600) as u32,
            minute: ((of_day % 3600) / 60) as u32,
            second: (of_day % 60) as u32,
            nanos: since.subsec_nanos(),
        }
    }

    /// `YYYYMMDDTHHMMSSZ`, the SigV4 request date.
    pub fn amz_date(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// Go's `time.RFC3339Nano` layout for a UTC time.
    pub fn rfc3339_nano(&self) -> String {
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if self.nanos != 0 {
            let fraction = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(fraction.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }

    /// `HH:MM:SS UTC`, as in warp's `starting 12:16:20 UTC`.
    pub fn clock(&self) -> String {
        format!("{:02}:{:02}:{:02} UTC", self.hour, self.minute, self.second)
    }
}

/// Days since 1970-01-01 to (year, month, day), by Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> UtcTime {
        UtcTime::from_system(UNIX_EPOCH + Duration::new(secs, nanos))
    }

    #[test]
    fn known_dates() {
        // 2013-05-24T00:00:00Z is the AWS SigV4 example date.
        assert_eq!(at(1_369_353_600, 0).amz_date(), "20130524T000000Z");
        assert_eq!(at(0, 0).rfc3339_nano(), "1970-01-01T00:00:00Z");
        // 2000-02-29 (leap day of a century leap year) 12:34:56.
        assert_eq!(at(951_827_696, 0).rfc3339_nano(), "2000-02-29T12:34:56Z");
        // 2024-12-31T23:59:59.5Z.
        assert_eq!(
            at(1_735_689_599, 500_000_000).rfc3339_nano(),
            "2024-12-31T23:59:59.5Z"
        );
        assert_eq!(
            at(1_735_689_599, 123_456_789).rfc3339_nano(),
            "2024-12-31T23:59:59.123456789Z"
        );
        assert_eq!(
            at(1_735_689_599, 1_000).rfc3339_nano(),
            "2024-12-31T23:59:59.000001Z"
        );
        assert_eq!(at(1_735_689_599, 0).clock(), "23:59:59 UTC");
    }

    #[test]
    fn day_boundaries_roll_over() {
        // 2100-03-01: 2100 is not a leap year, so Feb 28 is followed by Mar 1.
        let feb_28 = at(4_107_456_000, 0);
        assert_eq!((feb_28.year, feb_28.month, feb_28.day), (2100, 2, 28));
        let next = at(4_107_456_000 + 86_400, 0);
        assert_eq!((next.year, next.month, next.day), (2100, 3, 1));
    }
}
