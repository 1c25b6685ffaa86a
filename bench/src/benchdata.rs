//! `--benchdata FILE`: every operation as one tab-separated row, in warp's column layout.
//!
//! Owns: the 13-column format `idx thread op client_id n_objects bytes endpoint file error
//! start first_byte end duration_ns` (timestamps in Go's RFC3339Nano, UTC; an empty
//! `first_byte` when the response had none) followed by the command line as `# ` comment
//! lines, as warp writes it. Must not: compress (warp's own files are zstd-compressed TSV;
//! `zstd FILE` produces the same shape). Invariants: rows are ordered by start time, `idx`
//! counts from 0 in that order, and no field contains a tab or newline.

use std::io::{self, Write};

use crate::record::{Epoch, OpRecord};
use crate::timefmt::UtcTime;

pub const HEADER: &str =
    "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns";

/// Writes `records` (sorted here by start time) to `out`.
pub fn write(
    out: &mut dyn Write,
    records: &mut [OpRecord],
    epoch: &Epoch,
    client_id: &str,
    endpoints: &[String],
    command_line: &str,
) -> io::Result<()> {
    records.sort_by_key(|record| (record.start_ns, record.thread));
    let mut out = io::BufWriter::new(out);
    writeln!(out, "{HEADER}")?;
    let time = |offset_ns: u64| UtcTime::from_system(epoch.system_at(offset_ns)).rfc3339_nano();
    for (index, record) in records.iter().enumerate() {
        let endpoint = endpoints
            .get(usize::from(record.endpoint))
            .map_or("", String::as_str);
        let first_byte = record.first_byte_ns.map(time).unwrap_or_default();
        writeln!(
            out,
            "{index}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{first_byte}\t{}\t{}",
            record.thread,
            record.kind.name(),
            clean(client_id),
            record.objects,
            record.bytes,
            clean(endpoint),
            clean(&record.file),
            clean(record.error.as_deref().unwrap_or("")),
            time(record.start_ns),
            time(record.end_ns),
            record.end_ns - record.start_ns,
        )?;
    }
    for line in command_line.lines() {
        writeln!(out, "# {line}")?;
    }
    out.flush()
}

fn clean(field: &str) -> String {
    field.replace(['\t', '\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::OpKind;
    use std::time::{Duration, Instant, UNIX_EPOCH};

    #[test]
    fn rows_follow_warp_layout() {
        let epoch = Epoch {
            instant: Instant::now(),
            system: UNIX_EPOCH + Duration::from_secs(1_735_689_599),
        };
        let mut records = vec![
            OpRecord {
                kind: OpKind::Put,
                thread: 3,
                objects: 1,
                bytes: 4096,
                endpoint: 1,
                file: "abcdefgh/k.rnd".to_string(),
                error: Some("PUT 500: InternalError:\tbad\nthing".to_string()),
                start_ns: 2_000_000_000,
                first_byte_ns: None,
                end_ns: 2_000_500_000,
            },
            OpRecord {
                kind: OpKind::Get,
                thread: 0,
                objects: 1,
                bytes: 10,
                endpoint: 0,
                file: "abcdefgh/j.rnd".to_string(),
                error: None,
                start_ns: 1_000_000_000,
                first_byte_ns: Some(1_000_000_100),
                end_ns: 1_250_000_000,
            },
        ];
        let mut out = Vec::new();
        let endpoints = [
            "http://127.0.0.1:9000".to_string(),
            "http://127.0.0.1:9001".to_string(),
        ];
        write(
            &mut out,
            &mut records,
            &epoch,
            "cl1",
            &endpoints,
            "tessera-bench put\n--duration 1s",
        )
        .expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert_eq!(lines[0].split('\t').count(), 13);
        assert_eq!(
            lines[1],
            "0\t0\tGET\tcl1\t1\t10\thttp://127.0.0.1:9000\tabcdefgh/j.rnd\t\t2025-01-01T00:00:00Z\t\
             2025-01-01T00:00:00.0000001Z\t2025-01-01T00:00:00.25Z\t250000000"
        );
        assert_eq!(
            lines[2],
            "1\t3\tPUT\tcl1\t1\t4096\thttp://127.0.0.1:9001\tabcdefgh/k.rnd\tPUT 500: InternalError: bad thing\t\
             2025-01-01T00:00:01Z\t\t2025-01-01T00:00:01.0005Z\t500000"
        );
        assert_eq!(lines[3..], ["# tessera-bench put", "# --duration 1s"]);
        assert!(lines[1..3]
            .iter()
            .all(|line| line.split('\t').count() == 13));
    }
}
