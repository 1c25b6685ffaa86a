//! Live tests: every subcommand for a few seconds against a real S3 endpoint.
//!
//! The endpoint comes from `TESSERA_BENCH_TEST_ENDPOINT` (`host:port`), with
//! `TESSERA_BENCH_TEST_ACCESS_KEY` and `TESSERA_BENCH_TEST_SECRET_KEY`. Without them every
//! test here prints why it is skipped and passes. `TESSERA_BENCH_TEST_SKIP` takes a comma
//! list of subcommands to leave out against servers that lack a feature (for example
//! `multipart` against servers that ignore `partNumber` on GET).
//! Each test uses its own bucket, so the tests can run in parallel.

mod support;

use serde_json::Value;
use support::run_bench;

struct Live {
    host: String,
    access_key: String,
    secret_key: String,
}

/// Writes straight to stderr: the test harness captures `eprintln!` of passing tests, and a
/// skip reason must be visible without `--nocapture`.
fn skip_note(note: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{note}");
}

fn live(test: &str) -> Option<Live> {
    let Ok(host) = std::env::var("TESSERA_BENCH_TEST_ENDPOINT") else {
        skip_note(&format!("SKIPPED {test}: TESSERA_BENCH_TEST_ENDPOINT is not set (host:port of a live S3 endpoint)"));
        return None;
    };
    let skip = std::env::var("TESSERA_BENCH_TEST_SKIP").unwrap_or_default();
    if skip.split(',').any(|name| name.trim() == test) {
        skip_note(&format!(
            "SKIPPED {test}: listed in TESSERA_BENCH_TEST_SKIP"
        ));
        return None;
    }
    let key = |name: &str| std::env::var(name).unwrap_or_default();
    Some(Live {
        host,
        access_key: key("TESSERA_BENCH_TEST_ACCESS_KEY"),
        secret_key: key("TESSERA_BENCH_TEST_SECRET_KEY"),
    })
}

/// Runs `command` with `extra` flags for a few seconds and returns its JSON report.
fn run_json(live: &Live, command: &str, extra: &[&str]) -> Value {
    let bucket = format!("tessera-bench-live-{command}");
    let mut args = vec![
        command,
        "--host",
        &live.host,
        "--access-key",
        &live.access_key,
        "--secret-key",
        &live.secret_key,
        "--bucket",
        &bucket,
        "--duration",
        "3s",
        "--concurrent",
        "4",
        "--json",
        "-q",
    ];
    args.extend_from_slice(extra);
    let run = run_bench(&args);
    assert_eq!(
        run.code,
        Some(0),
        "{command} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("{command}: stdout is not JSON ({err}):\n{}", run.stdout))
}

/// The operation `op` of the last phase, checked for work done and no errors.
fn checked_op<'a>(report: &'a Value, op: &str) -> &'a Value {
    assert_eq!(report["errors"]["count"], 0, "{report:#}");
    let phases = report["phases"].as_array().expect("phases");
    let phase = phases.last().expect("a measured phase");
    let found = phase["operations"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["op"] == op));
    let found = found.unwrap_or_else(|| panic!("no {op} in {report:#}"));
    assert!(
        found["operations"].as_u64().unwrap_or(0) > 0,
        "no {op} done: {report:#}"
    );
    assert_eq!(found["errors"], 0, "{report:#}");
    assert!(found["latency"]["p99_ms"].as_f64().is_some(), "{report:#}");
    let cpu = phase["client_cpu"]["per_request_us"]
        .as_f64()
        .expect("client CPU per request");
    assert!(cpu > 0.0, "{report:#}");
    found
}

#[test]
fn live_put() {
    let Some(live) = live("put") else { return };
    let report = run_json(&live, "put", &["--obj.size", "64KiB"]);
    let put = checked_op(&report, "PUT");
    assert!(
        put["average"]["mib_per_s"].as_f64().unwrap_or(0.0) > 0.0,
        "{report:#}"
    );
}

#[test]
fn live_get() {
    let Some(live) = live("get") else { return };
    let report = run_json(&live, "get", &["--obj.size", "64KiB", "--objects", "40"]);
    let get = checked_op(&report, "GET");
    assert!(
        get["ttfb"]["p50_ms"].as_f64().is_some(),
        "GET has TTFB: {report:#}"
    );
    assert_eq!(
        get["bytes"].as_u64(),
        get["objects"].as_u64().map(|n| n * 65536),
        "{report:#}"
    );
}

#[test]
fn live_stat() {
    let Some(live) = live("stat") else { return };
    let report = run_json(&live, "stat", &["--objects", "40"]);
    checked_op(&report, "STAT");
}

#[test]
fn live_delete() {
    let Some(live) = live("delete") else { return };
    let report = run_json(&live, "delete", &["--objects", "400", "--batch", "10"]);
    let delete = checked_op(&report, "DELETE");
    assert_eq!(delete["objects"], 400, "every object deleted: {report:#}");
}

#[test]
fn live_list() {
    let Some(live) = live("list") else { return };
    let report = run_json(&live, "list", &["--objects", "2100"]);
    let list = checked_op(&report, "LIST");
    // 2100 objects over 4 workers: 525 per prefix, one page each (1000 keys per page).
    let objects = list["objects"].as_u64().unwrap_or(0);
    let operations = list["operations"].as_u64().unwrap_or(0);
    assert_eq!(objects, operations * 525, "{report:#}");
}

#[test]
fn live_mixed() {
    let Some(live) = live("mixed") else { return };
    let report = run_json(&live, "mixed", &["--obj.size", "16KiB", "--objects", "40"]);
    for op in ["GET", "STAT", "PUT", "DELETE"] {
        checked_op(&report, op);
    }
    let phase = &report["phases"][0];
    assert!(
        phase["total"]["obj_per_s"].as_f64().unwrap_or(0.0) > 0.0,
        "cluster total: {report:#}"
    );
}

#[test]
fn live_multipart() {
    let Some(live) = live("multipart") else {
        return;
    };
    let report = run_json(&live, "multipart", &["--parts", "6", "--part.size", "5MiB"]);
    assert_eq!(report["phases"][0]["phase"], "upload parts");
    assert_eq!(
        report["phases"][0]["operations"][0]["operations"], 6,
        "{report:#}"
    );
    let get = checked_op(&report, "GET");
    assert_eq!(
        get["bytes"].as_u64(),
        get["objects"].as_u64().map(|n| n * 5 * 1024 * 1024),
        "{report:#}"
    );
}

#[test]
fn live_benchdata_rows_match_the_report() {
    let Some(live) = live("benchdata") else {
        return;
    };
    let path = std::env::temp_dir().join(format!("tessera-bench-live-{}.tsv", std::process::id()));
    let path_text = path.to_string_lossy().into_owned();
    let report = run_json(
        &live,
        "put",
        &["--obj.size", "4KiB", "--benchdata", &path_text],
    );
    let put = checked_op(&report, "PUT");
    let text = std::fs::read_to_string(&path).expect("benchdata written");
    let _ = std::fs::remove_file(&path);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns")
    );
    let rows: Vec<&str> = lines.filter(|line| !line.starts_with("# ")).collect();
    assert_eq!(Some(rows.len() as u64), put["operations"].as_u64());
    assert!(rows
        .iter()
        .all(|row| row.split('\t').count() == 13 && row.split('\t').nth(2) == Some("PUT")));
}

#[test]
fn live_sweep_writes_table_csv_and_png() {
    let Some(live) = live("sweep") else { return };
    let dir = std::env::temp_dir().join(format!("tessera-bench-live-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let csv = dir.join("sweep.csv").to_string_lossy().into_owned();
    let png = dir.join("sweep.png").to_string_lossy().into_owned();
    let run = run_bench(&[
        "sweep",
        "--host",
        &live.host,
        "--access-key",
        &live.access_key,
        "--secret-key",
        &live.secret_key,
        "--bucket",
        "tessera-bench-live-sweep",
        "--sizes",
        "4KiB,64KiB",
        "--concurrencies",
        "1,4",
        "--duration",
        "2s",
        "--objects",
        "16",
        "--csv",
        &csv,
        "--png",
        &png,
        "-q",
    ]);
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        run.stdout
            .lines()
            .filter(|line| line.contains("KiB"))
            .count(),
        4,
        "{}",
        run.stdout
    );
    let csv_text = std::fs::read_to_string(&csv).expect("csv written");
    assert_eq!(csv_text.lines().count(), 5, "{csv_text}");
    let png_bytes = std::fs::read(&png).expect("png written");
    assert!(png_bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
