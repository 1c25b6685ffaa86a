//! Against a server that answers errors, tessera-bench reports them and exits non-zero;
//! against no server at all it says so and exits 1.

mod support;

use support::{run_bench, s3_error, spawn_fake_server, Answer};

fn always_500(_method: &str, _target: &str) -> Answer {
    (
        500,
        "Internal Server Error",
        s3_error(
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
    )
}

/// Bucket-level requests succeed; every object request fails with 503 SlowDown.
fn objects_503(_method: &str, target: &str) -> Answer {
    let path = target.split('?').next().unwrap_or("");
    let is_bucket = path.trim_matches('/').split('/').count() <= 1;
    if is_bucket {
        (200, "OK", String::new())
    } else {
        (
            503,
            "Service Unavailable",
            s3_error("SlowDown", "Please reduce your request rate."),
        )
    }
}

fn common_args(host: &str) -> Vec<String> {
    [
        "--host",
        host,
        "--access-key",
        "AK",
        "--secret-key",
        "SK",
        "--duration",
        "2s",
        "--concurrent",
        "2",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn server_answering_500_to_everything_fails_the_run() {
    let addr = spawn_fake_server(always_500).to_string();
    let mut args = vec!["put".to_string()];
    args.extend(common_args(&addr));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_bench(&args);
    assert_eq!(
        run.code,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains("InternalError"),
        "stderr:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("500"), "stderr:\n{}", run.stderr);
}

#[test]
fn object_errors_are_reported_with_their_s3_code() {
    let addr = spawn_fake_server(objects_503).to_string();
    let mut args = vec![
        "put".to_string(),
        "--obj.size".to_string(),
        "1KiB".to_string(),
    ];
    args.extend(common_args(&addr));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_bench(&args);
    assert_eq!(
        run.code,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout.contains("Report: PUT"),
        "stdout:\n{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("Errs: 0,"),
        "errors must be counted:\n{}",
        run.stdout
    );
    assert!(run.stderr.contains("Errors:"), "stderr:\n{}", run.stderr);
    assert!(
        run.stderr
            .contains("PUT 503: SlowDown: Please reduce your request rate."),
        "stderr:\n{}",
        run.stderr
    );
}

#[test]
fn errors_while_preparing_stop_the_run() {
    let addr = spawn_fake_server(objects_503).to_string();
    let mut args = vec!["get".to_string(), "--objects".to_string(), "10".to_string()];
    args.extend(common_args(&addr));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_bench(&args);
    assert_eq!(
        run.code,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains("preparing objects failed"),
        "stderr:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("SlowDown"), "stderr:\n{}", run.stderr);
}

#[test]
fn json_report_counts_errors() {
    let addr = spawn_fake_server(objects_503).to_string();
    let mut args = vec![
        "put".to_string(),
        "--obj.size".to_string(),
        "1KiB".to_string(),
        "--json".to_string(),
    ];
    args.extend(common_args(&addr));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_bench(&args);
    assert_eq!(run.code, Some(1));
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    let errors = value["errors"]["count"].as_u64().expect("error count");
    assert!(errors > 0, "{value:#}");
    assert_eq!(value["phases"][0]["operations"][0]["op"], "PUT");
    assert_eq!(
        value["phases"][0]["operations"][0]["errors"].as_u64(),
        Some(errors)
    );
}

#[test]
fn connection_refused_is_a_clear_error() {
    // A TCP socket bound to a port but not listening holds the port (no other test's node can
    // take it meanwhile) and refuses connections to it.
    let (_held, port) = bound_not_listening();
    let host = format!("127.0.0.1:{port}");
    let mut args = vec!["put".to_string()];
    args.extend(common_args(&host));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = run_bench(&args);
    assert_eq!(run.code, Some(1), "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("cannot connect to {host}")),
        "stderr:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("refused"),
        "stderr:\n{}",
        run.stderr
    );
}

#[test]
fn bad_flags_exit_with_usage_error() {
    let run = run_bench(&[
        "get",
        "--access-key",
        "a",
        "--secret-key",
        "s",
        "--obj.size",
        "ten",
    ]);
    assert_eq!(run.code, Some(2), "stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("obj.size"), "stderr:\n{}", run.stderr);
}

/// A TCP socket bound to an ephemeral port of 127.0.0.1 without `listen`, and that port.
fn bound_not_listening() -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: plain socket(2); the descriptor is owned by the OwnedFd right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_in is plain data, valid all zeros.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_in of `len` bytes for the call's duration.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    // SAFETY: as above.
    let mut bound: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut bound_len = len;
    // SAFETY: `bound` has room for the `bound_len` bytes the kernel may write.
    let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut bound).cast(), &mut bound_len) };
    assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
    (fd, u16::from_be(bound.sin_port))
}
