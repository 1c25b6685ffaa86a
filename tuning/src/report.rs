//! The check report: its lines, their verdicts, and the table and JSON renderings.
//!
//! Owns: `Verdict`, `Line`, `Report` and how they print. Must not: probe the host or decide a
//! verdict (that is `rules`); rendering is a pure function of the lines. Invariants: the table
//! and the JSON hold the same lines in the same order, and `worst` orders verdicts
//! `Ok < Unknown < Warn < Fail`, so an unreadable setting never hides a real warning.

use std::fmt::Write as _;

use crate::constants::TABLE_COLUMN_WIDTH_MAX;

/// How one setting compares with the recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Matches the recommendation.
    Ok,
    /// Could not be read or judged here (a VM without cpufreq, a file the kernel lacks).
    Unknown,
    /// Works, but costs throughput or latency.
    Warn,
    /// Breaks Tessera or makes a documented guarantee false; `--strict` exits 1 on it.
    Fail,
}

impl Verdict {
    /// Upper-case label used in the table.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Unknown => "UNKNOWN",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }

    /// Lower-case name used in the JSON.
    pub fn json_name(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Unknown => "unknown",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One row of the report: one setting of one subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Stable check name, one of `CHECK_NAMES` (`"block.scheduler"`).
    pub check: String,
    /// What was checked (`"cpu0-7"`, `"/dev/nvme0n1"`, `"/data/d0"`).
    pub subject: String,
    /// The live value, or `unknown: <reason>`.
    pub current: String,
    /// The recommended value or range.
    pub recommended: String,
    pub verdict: Verdict,
    /// One sentence on why the recommendation matters.
    pub why: String,
}

/// Everything `check_host` found, in check order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    /// The most severe verdict of any line; `Ok` for an empty report.
    pub fn worst(&self) -> Verdict {
        self.lines
            .iter()
            .map(|line| line.verdict)
            .max()
            .unwrap_or(Verdict::Ok)
    }

    /// How many lines carry `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.lines
            .iter()
            .filter(|line| line.verdict == verdict)
            .count()
    }

    /// A fixed-width table, one line per check, then a summary line.
    pub fn render_table(&self) -> String {
        let header = [
            "CHECK",
            "SUBJECT",
            "CURRENT",
            "RECOMMENDED",
            "VERDICT",
            "WHY",
        ];
        let rows: Vec<[&str; 6]> = self
            .lines
            .iter()
            .map(|line| {
                [
                    line.check.as_str(),
                    line.subject.as_str(),
                    line.current.as_str(),
                    line.recommended.as_str(),
                    line.verdict.label(),
                    line.why.as_str(),
                ]
            })
            .collect();
        // The last column is never padded, so only the first five need widths.
        let mut widths = [0usize; 5];
        for row in std::iter::once(&header).chain(rows.iter()) {
            for (width, cell) in widths.iter_mut().zip(row.iter()) {
                *width = (*width).max(cell.chars().count().min(TABLE_COLUMN_WIDTH_MAX));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(rows.iter()) {
            push_row(&mut out, row, &widths);
        }
        let _ = writeln!(
            out,
            "worst: {} ({} ok, {} warn, {} fail, {} unknown)",
            self.worst().label(),
            self.count(Verdict::Ok),
            self.count(Verdict::Warn),
            self.count(Verdict::Fail),
            self.count(Verdict::Unknown),
        );
        out
    }

    /// A JSON object `{"worst": .., "lines": [..]}` with one object per line.
    pub fn render_json(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\n  \"worst\": \"{}\",\n  \"lines\": [",
            self.worst().json_name()
        );
        for (index, line) in self.lines.iter().enumerate() {
            out.push_str(if index == 0 { "\n" } else { ",\n" });
            out.push_str("    {");
            push_field(&mut out, "check", &line.check, false);
            push_field(&mut out, "subject", &line.subject, true);
            push_field(&mut out, "current", &line.current, true);
            push_field(&mut out, "recommended", &line.recommended, true);
            push_field(&mut out, "verdict", line.verdict.json_name(), true);
            push_field(&mut out, "why", &line.why, true);
            out.push('}');
        }
        out.push_str(if self.lines.is_empty() {
            "]\n}\n"
        } else {
            "\n  ]\n}\n"
        });
        out
    }
}

fn push_row(out: &mut String, row: &[&str; 6], widths: &[usize; 5]) {
    for (cell, width) in row.iter().zip(widths.iter()) {
        out.push_str(cell);
        let used = cell.chars().count();
        // Two spaces always separate columns, even after an overflowing cell.
        let pad = width.saturating_sub(used) + 2;
        out.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(row[5]);
    out.push('\n');
}

fn push_field(out: &mut String, key: &str, value: &str, comma: bool) {
    if comma {
        out.push_str(", ");
    }
    out.push('"');
    out.push_str(key);
    out.push_str("\": ");
    push_json_string(out, value);
}

/// Appends `value` as a JSON string literal (RFC 8259 section 7 escapes).
pub fn push_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(check: &str, verdict: Verdict) -> Line {
        Line {
            check: check.to_string(),
            subject: "s".to_string(),
            current: "c".to_string(),
            recommended: "r".to_string(),
            verdict,
            why: "w".to_string(),
        }
    }

    #[test]
    fn worst_orders_unknown_below_warn_and_fail() {
        let cases: &[(&[Verdict], Verdict)] = &[
            (&[], Verdict::Ok),
            (&[Verdict::Ok, Verdict::Ok], Verdict::Ok),
            (&[Verdict::Ok, Verdict::Unknown], Verdict::Unknown),
            (&[Verdict::Unknown, Verdict::Warn], Verdict::Warn),
            (
                &[Verdict::Fail, Verdict::Warn, Verdict::Unknown],
                Verdict::Fail,
            ),
        ];
        for (verdicts, want) in cases {
            let report = Report {
                lines: verdicts.iter().map(|v| line("x", *v)).collect(),
            };
            assert_eq!(report.worst(), *want, "{verdicts:?}");
        }
    }

    #[test]
    fn json_escapes_quotes_backslashes_and_controls() {
        let cases = [
            ("plain", "\"plain\""),
            ("a\"b", "\"a\\\"b\""),
            ("a\\b", "\"a\\\\b\""),
            ("tab\there", "\"tab\\there\""),
            ("nl\n", "\"nl\\n\""),
            ("\u{1}", "\"\\u0001\""),
            ("µs", "\"µs\""),
        ];
        for (input, want) in cases {
            let mut out = String::new();
            push_json_string(&mut out, input);
            assert_eq!(out, want, "{input:?}");
        }
    }

    #[test]
    fn json_holds_every_line_in_order() {
        let report = Report {
            lines: vec![line("first", Verdict::Ok), line("second", Verdict::Warn)],
        };
        let json = report.render_json();
        assert!(json.contains("\"worst\": \"warn\""), "{json}");
        let first = json
            .find("\"check\": \"first\"")
            .expect("first line present");
        let second = json
            .find("\"check\": \"second\"")
            .expect("second line present");
        assert!(first < second);
        assert!(json.contains("\"verdict\": \"ok\""));
        assert_eq!(json.matches('{').count(), 3, "{json}");
        assert_eq!(
            Report::default().render_json(),
            "{\n  \"worst\": \"ok\",\n  \"lines\": []\n}\n"
        );
    }

    #[test]
    fn table_aligns_columns_and_summarises() {
        let mut long = line("block.scheduler", Verdict::Fail);
        long.subject = "/dev/nvme0n1".to_string();
        let report = Report {
            lines: vec![line("x", Verdict::Ok), long],
        };
        let table = report.render_table();
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 4, "{table}");
        assert!(rows[0].starts_with("CHECK            SUBJECT"), "{table}");
        // Every row puts the subject column at the same offset.
        let offset = rows[0].find("SUBJECT").expect("header has SUBJECT");
        assert_eq!(rows[2].find("/dev/nvme0n1"), Some(offset), "{table}");
        assert_eq!(&rows[1][offset..offset + 1], "s", "{table}");
        assert_eq!(rows[3], "worst: FAIL (1 ok, 0 warn, 1 fail, 0 unknown)");
    }

    #[test]
    fn table_caps_column_width() {
        let mut wide = line("x", Verdict::Ok);
        wide.current = "c".repeat(TABLE_COLUMN_WIDTH_MAX * 3);
        let report = Report { lines: vec![wide] };
        let table = report.render_table();
        let header = table.lines().next().expect("header row");
        let recommended = header.find("RECOMMENDED").expect("header has RECOMMENDED");
        let current = header.find("CURRENT").expect("header has CURRENT");
        assert_eq!(recommended - current, TABLE_COLUMN_WIDTH_MAX + 2, "{table}");
    }
}
