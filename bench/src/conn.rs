//! One keep-alive HTTP/1.1 connection, owned by one worker.
//!
//! Owns: connecting (with a timeout, `TCP_NODELAY`), sending a request head and body, reading
//! the response head and body through one reusable buffer, and reconnecting when the server
//! closed the connection. Must not: sign or know S3 — it moves bytes and reports timings.
//! Invariants: one request in flight per connection (no pipelining); object bodies are
//! counted and dropped, never accumulated; a connection whose state is unknown (error,
//! timeout, leftover bytes) is dropped, never reused.
//!
//! Retry rule: a request that fails on a *reused* connection before any response byte
//! arrived is retried once on a fresh connection — the server closing an idle keep-alive
//! connection is normal and not a benchmark error. Every other failure is reported.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::constants::{
    BODY_INLINE_BYTES_MAX, CONNECT_TIMEOUT, READ_BUFFER_BYTES, REQUEST_TIMEOUT,
    RESPONSE_BODY_KEPT_BYTES_MAX, RESPONSE_HEAD_BYTES_MAX,
};
use crate::http_codec::{
    parse_response_head, write_request_head, BodyFraming, ChunkedDecoder, FrameError, ResponseHead,
};

#[derive(Debug)]
pub enum HttpError {
    Connect(io::Error),
    Io(io::Error),
    Timeout,
    /// The server closed the connection before the response was complete.
    Closed,
    Frame(FrameError),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Connect(err) => write!(f, "connect: {err}"),
            HttpError::Io(err) => write!(f, "i/o: {err}"),
            HttpError::Timeout => write!(f, "timed out after {}s", REQUEST_TIMEOUT.as_secs()),
            HttpError::Closed => write!(f, "connection closed before the response was complete"),
            HttpError::Frame(err) => write!(f, "{err}"),
        }
    }
}

/// A request body, borrowed from the caller.
#[derive(Clone, Copy)]
pub enum RequestBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes taken from `data` starting at `offset`, wrapping around to its start.
    Repeat {
        data: &'a [u8],
        offset: usize,
        len: u64,
    },
}

impl RequestBody<'_> {
    pub fn len(&self) -> u64 {
        match self {
            RequestBody::Empty => 0,
            RequestBody::Bytes(bytes) => bytes.len() as u64,
            RequestBody::Repeat { len, .. } => *len,
        }
    }
}

/// Whether the response body is kept for parsing or only counted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    Count,
    Keep,
}

/// A completed exchange.
pub struct Response {
    pub head: ResponseHead,
    pub first_byte: Instant,
    pub body_bytes: u64,
    /// The body when kept (always kept for statuses >= 300), cut at the kept-bytes limit.
    pub body: Vec<u8>,
}

pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    read_buf: Box<[u8]>,
    write_buf: Vec<u8>,
    /// Requests completed on the current stream.
    uses: u64,
}

struct Failure {
    error: HttpError,
    got_response_bytes: bool,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            read_buf: vec![0u8; READ_BUFFER_BYTES].into_boxed_slice(),
            write_buf: Vec::with_capacity(BODY_INLINE_BYTES_MAX + 4096),
            uses: 0,
        }
    }

    /// Opens the connection now, so that the first request does not pay for it.
    pub async fn connect(&mut self) -> Result<(), HttpError> {
        if self.stream.is_none() {
            self.stream = Some(connect(self.addr).await?);
            self.uses = 0;
        }
        Ok(())
    }

    /// Sends one request and reads its response, within `REQUEST_TIMEOUT`.
    pub async fn exchange(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
        mode: BodyMode,
    ) -> Result<Response, HttpError> {
        let attempt = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.exchange_with_retry(method, target, headers, body, mode),
        );
        match attempt.await {
            Ok(result) => result,
            Err(_elapsed) => {
                self.stream = None;
                Err(HttpError::Timeout)
            }
        }
    }

    async fn exchange_with_retry(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
        mode: BodyMode,
    ) -> Result<Response, HttpError> {
        let reused = self.stream.is_some() && self.uses > 0;
        match self
            .exchange_once(method, target, headers, body, mode)
            .await
        {
            Ok(response) => Ok(response),
            Err(failure)
                if reused && !failure.got_response_bytes && is_stale_connection(&failure.error) =>
            {
                self.exchange_once(method, target, headers, body, mode)
                    .await
                    .map_err(|failure| failure.error)
            }
            Err(failure) => Err(failure.error),
        }
    }

    async fn exchange_once(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
        mode: BodyMode,
    ) -> Result<Response, Failure> {
        let fail = |error| Failure {
            error,
            got_response_bytes: false,
        };
        if self.stream.is_none() {
            self.stream = Some(connect(self.addr).await.map_err(fail)?);
            self.uses = 0;
        }
        let result = self
            .send_and_receive(method, target, headers, body, mode)
            .await;
        match &result {
            Ok(response) if !response.head.close => self.uses += 1,
            _ => self.stream = None,
        }
        result
    }

    async fn send_and_receive(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: RequestBody<'_>,
        mode: BodyMode,
    ) -> Result<Response, Failure> {
        let fail = |error| Failure {
            error,
            got_response_bytes: false,
        };
        let Some(stream) = self.stream.as_mut() else {
            return Err(fail(HttpError::Closed));
        };
        self.write_buf.clear();
        write_request_head(&mut self.write_buf, method, target, headers);
        match body {
            RequestBody::Bytes(bytes) if bytes.len() <= BODY_INLINE_BYTES_MAX => {
                self.write_buf.extend_from_slice(bytes);
                stream
                    .write_all(&self.write_buf)
                    .await
                    .map_err(|err| fail(HttpError::Io(err)))?;
            }
            RequestBody::Empty => stream
                .write_all(&self.write_buf)
                .await
                .map_err(|err| fail(HttpError::Io(err)))?,
            RequestBody::Bytes(bytes) => {
                stream
                    .write_all(&self.write_buf)
                    .await
                    .map_err(|err| fail(HttpError::Io(err)))?;
                stream
                    .write_all(bytes)
                    .await
                    .map_err(|err| fail(HttpError::Io(err)))?;
            }
            RequestBody::Repeat { data, offset, len } => {
                stream
                    .write_all(&self.write_buf)
                    .await
                    .map_err(|err| fail(HttpError::Io(err)))?;
                write_repeated(stream, data, offset, len)
                    .await
                    .map_err(|err| fail(HttpError::Io(err)))?;
            }
        }
        let is_head = method == "HEAD";
        read_response(stream, &mut self.read_buf, is_head, mode).await
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, HttpError> {
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            HttpError::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
        })?
        .map_err(HttpError::Connect)?;
    stream.set_nodelay(true).map_err(HttpError::Connect)?;
    Ok(stream)
}

fn is_stale_connection(error: &HttpError) -> bool {
    match error {
        HttpError::Closed => true,
        HttpError::Io(err) => matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
        ),
        _ => false,
    }
}

async fn write_repeated(
    stream: &mut TcpStream,
    data: &[u8],
    offset: usize,
    len: u64,
) -> io::Result<()> {
    assert!(offset < data.len(), "payload offset out of range");
    let mut left = len;
    let mut at = offset;
    while left > 0 {
        let take = ((data.len() - at) as u64).min(left) as usize;
        stream.write_all(&data[at..at + take]).await?;
        left -= take as u64;
        at = 0;
    }
    Ok(())
}

/// The parsed head of a response, where it ends in the buffer, how much of the buffer is
/// filled, and when its first byte arrived.
struct Head {
    head: ResponseHead,
    head_len: usize,
    filled: usize,
    first_byte: Instant,
}

/// Reads until a final (non-1xx) response head is complete. The buffer is empty at the
/// start: requests are never pipelined.
async fn read_head(stream: &mut TcpStream, buf: &mut [u8]) -> Result<Head, Failure> {
    let fail = |error, got_response_bytes| Failure {
        error,
        got_response_bytes,
    };
    let mut filled = 0;
    let mut first_byte = None;
    loop {
        let got_bytes = first_byte.is_some();
        let read = match stream.read(&mut buf[filled..RESPONSE_HEAD_BYTES_MAX]).await {
            Ok(0) => return Err(fail(HttpError::Closed, got_bytes)),
            Ok(n) => n,
            Err(err) => return Err(fail(HttpError::Io(err), got_bytes)),
        };
        let first_byte = *first_byte.get_or_insert_with(Instant::now);
        filled += read;
        match parse_response_head(&buf[..filled]) {
            // Interim 1xx answers are skipped: the final response follows on the stream.
            Ok(Some((head, len))) if head.status < 200 => {
                buf.copy_within(len..filled, 0);
                filled -= len;
            }
            Ok(Some((head, head_len))) => {
                return Ok(Head {
                    head,
                    head_len,
                    filled,
                    first_byte,
                })
            }
            Ok(None) if filled == RESPONSE_HEAD_BYTES_MAX => {
                return Err(fail(HttpError::Frame(FrameError::HeadTooLarge), true))
            }
            Ok(None) => {}
            Err(err) => return Err(fail(HttpError::Frame(err), true)),
        }
    }
}

/// Reads one response; bytes past its end make the caller drop the connection.
async fn read_response(
    stream: &mut TcpStream,
    buf: &mut [u8],
    is_head: bool,
    mode: BodyMode,
) -> Result<Response, Failure> {
    let Head {
        mut head,
        head_len,
        filled,
        first_byte,
    } = read_head(stream, buf).await?;
    let fail = |error| Failure {
        error,
        got_response_bytes: true,
    };
    let keep = mode == BodyMode::Keep || head.status >= 300;
    let mut body = Body {
        keep,
        bytes: 0,
        kept: Vec::new(),
    };
    let leftover = head_len..filled;
    let complete = match head.framing(is_head) {
        BodyFraming::None => leftover.is_empty(),
        BodyFraming::Length(length) => read_length(stream, buf, leftover, length, &mut body)
            .await
            .map_err(fail)?,
        BodyFraming::Chunked => read_chunked(stream, buf, leftover, &mut body)
            .await
            .map_err(fail)?,
        BodyFraming::UntilClose => {
            read_until_close(stream, buf, leftover, &mut body)
                .await
                .map_err(fail)?;
            false
        }
    };
    // Anything left over, or a body delimited by close, leaves the stream unusable.
    head.close |= !complete;
    Ok(Response {
        head,
        first_byte,
        body_bytes: body.bytes,
        body: body.kept,
    })
}

struct Body {
    keep: bool,
    bytes: u64,
    kept: Vec<u8>,
}

impl Body {
    fn take(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        if self.keep {
            let room = RESPONSE_BODY_KEPT_BYTES_MAX.saturating_sub(self.kept.len());
            self.kept.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
}

/// Returns true when exactly `length` bytes were read and nothing follows.
async fn read_length(
    stream: &mut TcpStream,
    buf: &mut [u8],
    leftover: std::ops::Range<usize>,
    length: u64,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let already = (leftover.len() as u64).min(length) as usize;
    body.take(&buf[leftover.start..leftover.start + already]);
    let extra = leftover.len() > already;
    let mut left = length - already as u64;
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let read = stream.read(&mut buf[..want]).await.map_err(HttpError::Io)?;
        if read == 0 {
            return Err(HttpError::Closed);
        }
        body.take(&buf[..read]);
        left -= read as u64;
    }
    Ok(!extra)
}

async fn read_chunked(
    stream: &mut TcpStream,
    buf: &mut [u8],
    leftover: std::ops::Range<usize>,
    body: &mut Body,
) -> Result<bool, HttpError> {
    let mut decoder = ChunkedDecoder::default();
    let mut sink = |data: &[u8]| body.take(data);
    let used = decoder
        .decode(&buf[leftover.clone()], &mut sink)
        .map_err(HttpError::Frame)?;
    let mut extra = used < leftover.len();
    while !decoder.is_done() {
        let read = stream.read(buf).await.map_err(HttpError::Io)?;
        if read == 0 {
            return Err(HttpError::Closed);
        }
        let used = decoder
            .decode(&buf[..read], &mut sink)
            .map_err(HttpError::Frame)?;
        extra = used < read;
    }
    Ok(!extra)
}

async fn read_until_close(
    stream: &mut TcpStream,
    buf: &mut [u8],
    leftover: std::ops::Range<usize>,
    body: &mut Body,
) -> Result<(), HttpError> {
    body.take(&buf[leftover]);
    loop {
        let read = stream.read(buf).await.map_err(HttpError::Io)?;
        if read == 0 {
            return Ok(());
        }
        body.take(&buf[..read]);
    }
}
