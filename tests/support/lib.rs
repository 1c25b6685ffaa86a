//! Helpers for live-node tests: start the real `tessera` binary on 127.0.0.1, stop, kill and
//! restart it on the same data directory, and build S3 clients (the official `aws-sdk-s3`, and
//! a raw HTTP/1.1 client with SigV4 signing for what an SDK will not send).
//!
//! The binary is not built here: a bin of another package is not visible through
//! `CARGO_BIN_EXE_*`, so it is looked up as `<target dir>/debug/tessera` next to the test
//! executable (or `TESSERA_BIN`). Run `cargo build -p tessera` first.
//!
//! Every node gets its own free ports and its own data directory under
//! `<target dir>/tessera-tests/` (a real disk: the emulated devices are opened with O_DIRECT,
//! which tmpfs refuses). A node is killed (SIGKILL, by PID) when its `Node` is dropped, and the
//! nodes of a test process are killed at process exit, so a test binary never leaves one behind
//! (see `Registry`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::{Credentials, Region, StalledStreamProtectionConfig};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};

pub use aws_sdk_s3;

pub const ACCESS_KEY: &str = "TESSERATESTACCESSKEY";
pub const SECRET_KEY: &str = "tessera-test-secret-key-0123456789abcdef";
/// A second user of every test node (from its `--credentials` file): owns nothing of the
/// first user's.
pub const OTHER_ACCESS_KEY: &str = "TESSERATESTOTHERUSER";
pub const OTHER_SECRET_KEY: &str = "tessera-test-other-secret-0123456789abcd";
pub const REGION: &str = "us-east-1";
/// The `--domain` every node is started with, for virtual-hosted-style requests.
pub const DOMAIN: &str = "localhost";
/// Executors per node: keys are dealt to cores by their first byte, so with two cores 'a...'
/// and 'b...' (adjacent bytes) are owned by different cores.
pub const CORES: usize = 2;

const HEALTH_TIMEOUT_MS: u64 = 60_000;
const STOP_TIMEOUT_MS: u64 = 30_000;
const START_ATTEMPTS_MAX: usize = 3;
const OPERATION_TIMEOUT_MS: u64 = 120_000;

/// A running node (or one stopped between `stop` and `start_again`).
pub struct Node {
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
    pub s3_port: u16,
    pub admin_port: u16,
    /// `--region`: what signatures are scoped to and GetBucketLocation answers.
    pub region: String,
}

impl Node {
    /// Starts a node on a fresh data directory and waits until `/health` answers 200.
    pub fn start() -> Node {
        Node::start_in_region(REGION)
    }

    /// Starts a node whose `--region` is `region`.
    pub fn start_in_region(region: &str) -> Node {
        let dir = tempfile::Builder::new()
            .prefix("node-")
            .tempdir_in(scratch_dir())
            .expect("create the node's data directory");
        for attempt in 1..=START_ATTEMPTS_MAX {
            let mut node = Node {
                child: None,
                dir: None,
                s3_port: free_port(),
                admin_port: free_port(),
                region: region.to_string(),
            };
            match node.spawn(dir.path()) {
                Ok(()) => {
                    registry()
                        .dirs
                        .lock()
                        .unwrap()
                        .push(dir.path().to_path_buf());
                    node.dir = Some(dir);
                    return node;
                }
                // Another process may have taken a port between probing and binding.
                Err(e) if attempt < START_ATTEMPTS_MAX => eprintln!("node start failed: {e}"),
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!()
    }

    /// One node shared by every test of this test binary, started on first use.
    pub fn shared() -> &'static Node {
        static SHARED: OnceLock<Node> = OnceLock::new();
        SHARED.get_or_init(Node::start)
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.as_ref().expect("node has a data dir").path()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.s3_port))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGTERM, then waits for a clean exit; panics if the node does not exit 0 in time.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_millis(STOP_TIMEOUT_MS);
        loop {
            if let Some(status) = child.try_wait().expect("wait for the node") {
                registry().forget(child.id());
                assert!(status.success(), "node exited with {status} after SIGTERM");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                registry().forget(child.id());
                panic!(
                    "node did not exit within {STOP_TIMEOUT_MS} ms of SIGTERM\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: the node gets no chance to flush anything it has not made durable.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            registry().forget(child.id());
        }
    }

    /// Starts the binary again on the same data directory and ports.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "stop or kill the node first");
        let dir = self.data_dir().to_path_buf();
        if let Err(e) = self.spawn(&dir) {
            panic!("{e}");
        }
    }

    /// SIGTERM and start again on the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    fn spawn(&mut self, dir: &Path) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))
            .map_err(|e| format!("open node.log: {e}"))?;
        let users = dir.join("users");
        std::fs::write(&users, format!("{OTHER_ACCESS_KEY}:{OTHER_SECRET_KEY}\n"))
            .map_err(|e| format!("write {}: {e}", users.display()))?;
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--credentials")
            .arg(&users)
            .arg("--data-dir")
            .arg(dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.s3_port))
            .arg("--admin-listen")
            .arg(format!("127.0.0.1:{}", self.admin_port))
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .args(["--cores", &CORES.to_string(), "--domain", DOMAIN])
            .args(["--region", &self.region])
            // Two cores are shared with other work: do not pin executors to them.
            .arg("--no-pin")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let child = registry()
            .spawn(cmd)
            .map_err(|e| format!("spawn tessera: {e}"))?;
        self.child = Some(child);
        self.wait_healthy()
    }

    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(HEALTH_TIMEOUT_MS);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "tessera exited with {status} before it was healthy\n{}",
                    self.log_tail()
                ));
            }
            if health(self.admin_port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill9();
                return Err(format!(
                    "tessera not healthy within {HEALTH_TIMEOUT_MS} ms\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The Prometheus text of `GET /metrics` on the admin listener.
    pub fn metrics(&self) -> String {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.admin_port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("admin");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.admin_port
        );
        stream
            .write_all(request.as_bytes())
            .expect("write /metrics");
        let response = read_response(&mut stream, false).expect("read /metrics");
        assert_eq!(response.status, 200);
        response.text()
    }

    /// `tessera_requests_total{op, status}`, summed over cores (0 when absent).
    pub fn requests_total(&self, op: &str, status: u16) -> u64 {
        let label = format!("op=\"{op}\",status=\"{status}\"");
        self.metrics()
            .lines()
            .filter(|l| l.starts_with("tessera_requests_total{") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// The last lines the node logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let path = match &self.dir {
            Some(d) => d.path().join("node.log"),
            None => return String::new(),
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// An `aws-sdk-s3` client: static credentials, path style, us-east-1, no retries (a
    /// retried 500 would hide a bug), generous timeouts.
    pub fn client(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            base_config(&self.endpoint(), &self.region)
                .force_path_style(true)
                .build(),
        )
    }

    /// A path-style client signing as the node's second user (`OTHER_ACCESS_KEY`).
    pub fn other_client(&self) -> aws_sdk_s3::Client {
        let conf = base_config(&self.endpoint(), &self.region)
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                OTHER_ACCESS_KEY,
                OTHER_SECRET_KEY,
                None,
                None,
                "static",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A client with virtual-hosted-style addressing against `http://localhost:PORT`. Names
    /// like `bucket.localhost` do not resolve through glibc, so this client's resolver maps
    /// every name to 127.0.0.1; the request still carries `Host: bucket.localhost:PORT`.
    pub fn vhost_client(&self) -> aws_sdk_s3::Client {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_with_resolver(Loopback);
        aws_sdk_s3::Client::from_conf(
            base_config(&format!("http://{DOMAIN}:{}", self.s3_port), &self.region)
                .force_path_style(false)
                .http_client(http)
                .build(),
        )
    }

    /// A raw HTTP/1.1 client for this node.
    pub fn raw(&self) -> Raw {
        Raw {
            addr: self.addr(),
            region: self.region.clone(),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
        // TESSERA_TEST_KEEP=1 keeps data directories (and node.log) for a post-mortem.
        if std::env::var_os("TESSERA_TEST_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("kept {}", dir.keep().display());
            }
        }
    }
}

fn base_config(endpoint: &str, region: &str) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "static",
        ))
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_millis(OPERATION_TIMEOUT_MS))
                .connect_timeout(Duration::from_secs(10))
                .build(),
        )
}

/// Resolves every name to 127.0.0.1 (for `bucket.localhost`).
#[derive(Clone, Debug)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![std::net::IpAddr::from([127, 0, 0, 1])]))
    }
}

// ----- process bookkeeping -------------------------------------------------------------------

/// Spawns nodes from one long-lived thread, and kills whatever is still running at exit.
///
/// Why a thread: the child is started with `PR_SET_PDEATHSIG`, which fires when the *thread*
/// that forked it ends. Test threads end after each test, so a node shared by a whole test
/// binary must be forked by a thread that lives as long as the process. If the test process
/// is killed, the signal still reaches the nodes; on a normal exit (`std::process::exit` runs
/// `atexit` handlers) `kill_all` does it, since statics are never dropped.
struct Registry {
    spawner: Mutex<mpsc::Sender<Spawn>>,
    pids: Mutex<Vec<u32>>,
    dirs: Mutex<Vec<PathBuf>>,
}

type Spawn = (Command, mpsc::Sender<std::io::Result<Child>>);

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Spawn>();
        std::thread::Builder::new()
            .name("node-spawner".into())
            .spawn(move || {
                while let Ok((mut cmd, reply)) = rx.recv() {
                    let _ = reply.send(spawn_with_pdeathsig(&mut cmd));
                }
            })
            .expect("start the spawner thread");
        extern "C" fn kill_all() {
            if let Some(registry) = REGISTRY.get() {
                let pids = registry.pids.lock().map(|p| p.clone()).unwrap_or_default();
                for pid in pids {
                    signal(pid, libc::SIGKILL);
                }
                // Shared nodes are statics, never dropped: their directories go here.
                let mut dirs = registry.dirs.lock().map(|d| d.clone()).unwrap_or_default();
                if std::env::var_os("TESSERA_TEST_KEEP").is_some() {
                    dirs.clear();
                }
                for dir in dirs {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
        // SAFETY: registering a plain extern "C" function with no preconditions.
        unsafe { libc::atexit(kill_all) };
        Registry {
            spawner: Mutex::new(tx),
            pids: Mutex::new(Vec::new()),
            dirs: Mutex::new(Vec::new()),
        }
    })
}

impl Registry {
    fn spawn(&self, cmd: Command) -> std::io::Result<Child> {
        let (tx, rx) = mpsc::channel();
        self.spawner
            .lock()
            .unwrap()
            .send((cmd, tx))
            .expect("spawner thread alive");
        let child = rx.recv().expect("spawner replies")?;
        self.pids.lock().unwrap().push(child.id());
        Ok(child)
    }

    fn forget(&self, pid: u32) {
        self.pids.lock().unwrap().retain(|p| *p != pid);
    }
}

fn spawn_with_pdeathsig(cmd: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a PID we spawned and have not reaped yet.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// `<target dir>`: the test executable is `<target>/debug/deps/NAME-HASH`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "deps"))
        .and_then(|deps| deps.parent())
        .and_then(|profile| profile.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("TESSERA_BIN") {
        return PathBuf::from(path);
    }
    let path = target_dir().join("debug").join("tessera");
    assert!(
        path.is_file(),
        "{} not found: run `cargo build -p tessera` first (or set TESSERA_BIN)",
        path.display()
    );
    path
}

fn scratch_dir() -> PathBuf {
    let dir = target_dir().join("tessera-tests");
    std::fs::create_dir_all(&dir).expect("create target/tessera-tests");
    dir
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().unwrap().port()
}

fn health(admin_port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], admin_port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{admin_port}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    response.starts_with(b"HTTP/1.1 200")
}

// ----- raw HTTP ------------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an S3 XML error body.
    pub fn error_code(&self) -> Option<String> {
        xml_value(&self.text(), "Code")
    }
}

/// The text of the first `<tag>...</tag>` in `xml`.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].to_string())
}

/// Every `<tag>...</tag>` in `xml`, in order.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].to_string());
        rest = &after[j + close.len()..];
    }
    out
}

/// Raw HTTP/1.1 over a fresh TCP connection per request (blocking; fine in tests).
#[derive(Clone, Debug)]
pub struct Raw {
    pub addr: SocketAddr,
    pub region: String,
}

impl Raw {
    /// Sends `bytes` as they are and reads one response (the connection is then closed).
    pub fn send_bytes(&self, bytes: &[u8]) -> std::io::Result<RawResponse> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(bytes)?;
        read_response(&mut stream, bytes.starts_with(b"HEAD "))
    }

    /// An unsigned request. `path_and_query` is sent exactly as given.
    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let host = format!("127.0.0.1:{}", self.addr.port());
        let mut all: Vec<(String, String)> = vec![("host".into(), host)];
        all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        self.send(method, path_and_query, &all, body)
    }

    /// A request signed with SigV4 in the Authorization header (payload hash signed). A `host`
    /// in `headers` replaces the default `127.0.0.1:PORT` (virtual-host style).
    pub fn signed(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let all = self.sign(method, path_and_query, headers, body, SECRET_KEY);
        self.send(method, path_and_query, &all, body)
    }

    /// Signs with the given secret; returns every header to send, `host` first.
    pub fn sign(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        secret: &str,
    ) -> Vec<(String, String)> {
        self.sign_at(
            method,
            path_and_query,
            headers,
            body,
            secret,
            SystemTime::now(),
        )
    }

    /// Signs as of `time`. An `x-amz-content-sha256` in `headers` (e.g. `UNSIGNED-PAYLOAD`)
    /// is signed as given instead of the SHA-256 of `body`.
    pub fn sign_at(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        secret: &str,
        time: SystemTime,
    ) -> Vec<(String, String)> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_string())
        };
        let host = find("host").unwrap_or_else(|| format!("127.0.0.1:{}", self.addr.port()));
        let payload = find("x-amz-content-sha256").unwrap_or_else(|| sha256_hex(body));
        let mut all: Vec<(String, String)> = vec![
            ("host".into(), host.clone()),
            ("x-amz-content-sha256".into(), payload.clone()),
        ];
        all.extend(
            headers
                .iter()
                .filter(|(n, _)| {
                    !n.eq_ignore_ascii_case("host")
                        && !n.eq_ignore_ascii_case("x-amz-content-sha256")
                })
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string())),
        );
        let identity = Credentials::new(ACCESS_KEY, secret, None, None, "static").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::NoHeader;
        // S3 signs the path as sent: encoded once, not normalized.
        settings.percent_encoding_mode = aws_sigv4::http_request::PercentEncodingMode::Single;
        settings.uri_path_normalization_mode =
            aws_sigv4::http_request::UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let uri = format!("http://{host}{path_and_query}");
        let signable = SignableRequest::new(
            method,
            &uri,
            all.iter()
                .filter(|(n, _)| n != "content-length" && n != "transfer-encoding")
                .map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Precomputed(payload),
        )
        .expect("signable request");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        for (name, value) in instructions.headers() {
            all.push((name.to_string(), value.to_string()));
        }
        all
    }

    pub fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> RawResponse {
        let mut head = format!("{method} {path_and_query} HTTP/1.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let framed = headers.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
        });
        if !framed && (!body.is_empty() || method == "PUT" || method == "POST") {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.send_bytes(&bytes)
            .unwrap_or_else(|e| panic!("{method} {path_and_query}: {e}"))
    }
}

/// Reads one response: head, then a Content-Length body or (without one) until EOF.
pub fn read_response(stream: &mut TcpStream, head_request: bool) -> std::io::Result<RawResponse> {
    read_next_response(stream, &mut Vec::new(), head_request)
}

/// Reads one response from a connection on which several may be in flight (pipelining):
/// `pending` holds bytes already read past the previous response, and keeps those read past
/// this one, so two answers that arrive in one read are both seen.
pub fn read_next_response(
    stream: &mut TcpStream,
    pending: &mut Vec<u8>,
    head_request: bool,
) -> std::io::Result<RawResponse> {
    let mut buf = std::mem::take(pending);
    let mut chunk = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed before a response head ({} bytes read)",
                    buf.len()
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = buf[head_end..].to_vec();
    if head_request || status == 304 || status == 204 {
        *pending = body;
        body = Vec::new();
    } else if let Some(length) = length {
        while body.len() < length {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        if body.len() > length {
            *pending = body.split_off(length);
        }
    } else {
        stream.read_to_end(&mut body)?;
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ----- data helpers --------------------------------------------------------------------------

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// `size` pseudo-random bytes from `seed` (reproducible, incompressible).
pub fn random_bytes(size: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = vec![0u8; size];
    rng.fill_bytes(&mut out);
    out
}

/// A bucket name no other test uses: `prefix-<pid>-<counter>`.
pub fn unique_bucket(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Creates a bucket through `client`, panicking on failure.
pub async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) {
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

/// What an SDK call's failure says: the HTTP status and the S3 error code, if any.
pub type SdkErr<E> = aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

/// The S3 error code and HTTP status of a failed SDK call.
pub fn err_code<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    err: &SdkErr<E>,
) -> (Option<String>, Option<u16>) {
    (
        err.code().map(str::to_string),
        err.raw_response().map(|r| r.status().as_u16()),
    )
}

/// Asserts that `result` failed with S3 error `code` and HTTP `status`.
#[track_caller]
pub fn assert_s3_err<T: std::fmt::Debug, E>(result: Result<T, SdkErr<E>>, code: &str, status: u16)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match result {
        Ok(v) => panic!("expected {code} ({status}), got success: {v:?}"),
        Err(e) => {
            let (got_code, got_status) = err_code(&e);
            assert_eq!(
                (got_code.as_deref(), got_status),
                (Some(code), Some(status)),
                "unexpected error: {e:?}"
            );
        }
    }
}

/// Asserts that `result` failed with HTTP `status` (HEAD errors carry no body, so no code).
#[track_caller]
pub fn assert_status<T: std::fmt::Debug, E: std::fmt::Debug>(
    result: Result<T, SdkErr<E>>,
    status: u16,
) {
    match result {
        Ok(v) => panic!("expected HTTP {status}, got success: {v:?}"),
        Err(e) => assert_eq!(
            e.raw_response().map(|r| r.status().as_u16()),
            Some(status),
            "unexpected error: {e:?}"
        ),
    }
}

/// The base64 `x-amz-checksum-ALGO` value of `data`; `algo` is `crc32`, `crc32c`, `crc64nvme`,
/// `sha1` or `sha256`. Computed by `aws-smithy-checksums`, independently of any request path.
pub fn checksum_b64(algo: &str, data: &[u8]) -> String {
    let algo: aws_smithy_checksums::ChecksumAlgorithm = algo.parse().expect("checksum algorithm");
    let mut hasher = algo.into_impl();
    hasher.update(data);
    hasher
        .header_value()
        .to_str()
        .expect("ASCII checksum")
        .to_string()
}

/// Content-MD5 of `data` (base64 of the raw digest).
pub fn content_md5(data: &[u8]) -> String {
    use base64::Engine;
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

/// Percent-decodes `text` (for `encoding-type=url` listings); `+` is a space, as S3 writes it.
pub fn url_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8()
        .expect("UTF-8 after decoding")
        .into_owned()
}
