//! HTTP/1.1 connections on one core: accept, read and parse request heads (httparse, with
//! limits and timeouts), hand each request to `s3::handle`, write responses in order
//! (keep-alive; pipelined requests are answered one after another), and stream bodies.
//!
//! Invariants: at most `CONNECTIONS_PER_CORE_MAX` connections per core; a request whose body
//! was not read to its end closes the connection after the response (the framing is lost);
//! no response is written after a body stream failed mid-way — the connection is closed so
//! the client sees a truncated body, never wrong data.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{ListenerOpts, TcpListener, TcpStream};

use super::core::CoreCtx;
use crate::constants::{
    BODY_READ_TIMEOUT_MS, CONNECTIONS_PER_CORE_MAX, IDLE_TIMEOUT_MS, REQUEST_HEAD_TIMEOUT_MS,
};
use crate::proto::chunked::AwsChunkedDecoder;
use crate::proto::error::{S3Error, S3ErrorCode};
use crate::proto::http::{self, BodyFraming, ChunkedDecoder, RequestHead};

const READ_BUF_BYTES: usize = 64 * 1024;
/// How often an idle connection looks whether the node is shutting down.
const SHUTDOWN_POLL_MS: u64 = 50;
/// Bodies up to this size are written together with the response head.
const SMALL_BODY_BYTES: u64 = 64 * 1024;

pub fn bind(addr: &str) -> io::Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    TcpListener::bind_with_config(
        addr,
        &ListenerOpts::new()
            .reuse_port(true)
            .reuse_addr(true)
            .backlog(4096),
    )
}

pub async fn accept_loop(ctx: Rc<CoreCtx>, listener: TcpListener) {
    loop {
        if ctx
            .shared
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            drain(&ctx).await;
            return;
        }
        let accepted = monoio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        let Ok(accepted) = accepted else { continue };
        let (stream, _) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!(
                    "level=warn msg=\"accept failed\" core={} err=\"{e}\"",
                    ctx.core
                );
                monoio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if ctx.connections.get() >= CONNECTIONS_PER_CORE_MAX {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        ctx.connections.set(ctx.connections.get() + 1);
        ctx.shared.connection_opened();
        let ctx = ctx.clone();
        monoio::spawn(async move {
            let mut conn = Conn {
                stream,
                buf: Vec::with_capacity(READ_BUF_BYTES),
                pos: 0,
            };
            serve(&ctx, &mut conn).await;
            ctx.connections.set(ctx.connections.get() - 1);
            ctx.shared.connection_closed();
        });
    }
}

/// Waits, at shutdown, until no connection is open on any core. Returning from `accept_loop`
/// ends this core's executor and drops every task still on it: a connection in the middle of a
/// request would lose its answer (and never be counted closed, so the main thread would wait
/// out its whole drain deadline), and a request on another core could still need this core's
/// store. Idle connections close within `SHUTDOWN_POLL_MS`; the main thread bounds the rest.
async fn drain(ctx: &CoreCtx) {
    while ctx.shared.open_connections() > 0 {
        monoio::time::sleep(Duration::from_millis(SHUTDOWN_POLL_MS)).await;
    }
}

/// A connection's socket and read buffer (`buf[pos..]` is read but not yet consumed).
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    pub fn unconsumed(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub fn consume(&mut self, n: usize) {
        assert!(self.pos + n <= self.buf.len());
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more bytes; `Ok(0)` at end of stream; times out after `timeout_ms`.
    pub async fn fill(&mut self, timeout_ms: u64) -> io::Result<usize> {
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.capacity() - self.buf.len() < READ_BUF_BYTES / 4 {
            self.buf.reserve(READ_BUF_BYTES);
        }
        let buf = std::mem::take(&mut self.buf);
        let len = buf.len();
        let cap = buf.capacity();
        let read = monoio::buf::IoBufMut::slice_mut(buf, len..cap);
        let result =
            monoio::time::timeout(Duration::from_millis(timeout_ms), self.stream.read(read)).await;
        match result {
            Ok((result, slice)) => {
                self.buf = slice.into_inner();
                result
            }
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
        }
    }

    /// Waits for the next request on an idle connection: `fill`, but it gives up
    /// (`ConnectionAborted`) once the node is shutting down, so a clean stop does not wait out
    /// idle keep-alive connections. Only with nothing buffered: the read is dropped in flight,
    /// and with it anything it would have returned, which at shutdown is what closing means.
    pub async fn fill_idle(&mut self, timeout_ms: u64, stop: &AtomicBool) -> io::Result<usize> {
        assert!(self.unconsumed().is_empty());
        let watch = async {
            while !stop.load(Ordering::Relaxed) {
                monoio::time::sleep(Duration::from_millis(SHUTDOWN_POLL_MS)).await;
            }
        };
        monoio::select! {
            result = self.fill(timeout_ms) => result,
            _ = watch => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "shutting down")),
        }
    }

    /// Reads up to `max` bytes from the socket straight onto the end of `out`, bypassing the
    /// connection's buffer (which must be empty): a large plain body is then copied once, by
    /// the kernel, instead of twice. `Ok(0)` at end of stream; times out after `timeout_ms`.
    pub async fn read_direct(
        &mut self,
        out: &mut Vec<u8>,
        max: usize,
        timeout_ms: u64,
    ) -> io::Result<usize> {
        assert!(self.unconsumed().is_empty() && max > 0);
        out.reserve(max);
        let buf = std::mem::take(out);
        let len = buf.len();
        let read = monoio::buf::IoBufMut::slice_mut(buf, len..len + max);
        let result =
            monoio::time::timeout(Duration::from_millis(timeout_ms), self.stream.read(read)).await;
        match result {
            Ok((result, slice)) => {
                *out = slice.into_inner();
                result
            }
            // The read was dropped in flight: so was `out`, with what it held. The request
            // fails (timeout) and its partial body goes with it.
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out")),
        }
    }

    pub async fn write_all(&mut self, data: Bytes) -> io::Result<()> {
        let (result, _) = self.stream.write_all(data).await;
        result.map(|_| ())
    }
}

/// Reads into the caller's buffer directly only when at least this much is wanted: smaller
/// reads go through the connection buffer, which can take a whole request at once.
const DIRECT_READ_BYTES_MIN: usize = 16 * 1024;

fn body_read_error(e: io::Error) -> S3Error {
    if e.kind() == io::ErrorKind::TimedOut {
        S3Error::new(S3ErrorCode::RequestTimeout)
    } else {
        S3Error::new(S3ErrorCode::IncompleteBody)
    }
}

/// Where the request body stands: the transfer framing, and the aws-chunked decoder inside
/// it when the client signs or checksums chunk by chunk.
pub struct Body {
    framing: Framing,
    inner: Option<AwsChunkedDecoder>,
    pub decoded_len: u64,
    done: bool,
}

enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
}

impl Body {
    pub fn new(head: &RequestHead, inner: Option<AwsChunkedDecoder>) -> Result<Body, S3Error> {
        let framing = match head.body_framing()? {
            BodyFraming::None => Framing::Length(0),
            BodyFraming::Length(n) => Framing::Length(n),
            BodyFraming::Chunked => Framing::Chunked(ChunkedDecoder::new()),
        };
        let done = matches!(framing, Framing::Length(0)) && inner.is_none();
        Ok(Body {
            framing,
            inner,
            decoded_len: 0,
            done,
        })
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn trailers(&self) -> &[(String, String)] {
        self.inner.as_ref().map_or(&[], |d| d.trailers())
    }

    /// Appends up to about `want` decoded body bytes to `out`. Returns `false` once the body
    /// has ended (and everything was appended).
    pub async fn read(
        &mut self,
        conn: &mut Conn,
        out: &mut Vec<u8>,
        want: usize,
    ) -> Result<bool, S3Error> {
        let start = out.len();
        while !self.done && out.len() - start < want {
            // A plain body with nothing buffered: read it straight into `out` (one copy less).
            if let (Framing::Length(remaining), None, true) =
                (&mut self.framing, &self.inner, conn.unconsumed().is_empty())
            {
                let room = want - (out.len() - start);
                if *remaining > 0 && room >= DIRECT_READ_BYTES_MIN {
                    let max = (*remaining).min(room as u64) as usize;
                    let n = conn
                        .read_direct(out, max, BODY_READ_TIMEOUT_MS)
                        .await
                        .map_err(body_read_error)?;
                    if n == 0 {
                        return Err(S3ErrorCode::IncompleteBody.into());
                    }
                    debug_assert!(n <= max);
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.done = true;
                    }
                    continue;
                }
            }
            if conn.unconsumed().is_empty() {
                let n = conn
                    .fill(BODY_READ_TIMEOUT_MS)
                    .await
                    .map_err(body_read_error)?;
                if n == 0 {
                    return Err(S3ErrorCode::IncompleteBody.into());
                }
            }
            self.step(conn, out)?;
        }
        self.decoded_len = self
            .decoded_len
            .max(out.len() as u64 - start as u64 + self.decoded_len);
        Ok(!self.done)
    }

    /// Decodes what is buffered on the connection.
    fn step(&mut self, conn: &mut Conn, out: &mut Vec<u8>) -> Result<(), S3Error> {
        let input = conn.unconsumed();
        let mut raw_owned = Vec::new();
        let (raw, consumed, outer_done): (&[u8], usize, bool) = match &mut self.framing {
            Framing::Length(remaining) => {
                let take = (*remaining).min(input.len() as u64) as usize;
                *remaining -= take as u64;
                (&input[..take], take, *remaining == 0)
            }
            Framing::Chunked(decoder) => {
                let consumed = decoder.decode(input, &mut raw_owned)?;
                let done = decoder.is_done();
                (&raw_owned[..], consumed, done)
            }
        };
        match &mut self.inner {
            None => out.extend_from_slice(raw),
            Some(decoder) => {
                let used = decoder.decode(raw, out)?;
                if used < raw.len() {
                    return Err(S3Error::with_message(
                        S3ErrorCode::IncompleteBody,
                        "bytes after the end of the aws-chunked body",
                    ));
                }
                if outer_done {
                    decoder.finish()?;
                }
            }
        }
        conn.consume(consumed);
        if outer_done {
            self.done = true;
        }
        Ok(())
    }
}

/// A response ready to be written.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: RespBody,
}

pub enum RespBody {
    Empty,
    Full(Bytes),
    /// `len` bytes will come from `rx`.
    Stream {
        len: u64,
        rx: async_channel::Receiver<Result<Bytes, S3Error>>,
    },
    /// HEAD: announce `len` bytes, send none.
    HeadOnly {
        len: u64,
    },
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: RespBody::Empty,
        }
    }

    pub fn xml(status: u16, body: String) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "application/xml".to_string())],
            body: RespBody::Full(Bytes::from(body)),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn error(err: &S3Error, request_id: &str, head_request: bool) -> Response {
        let status = err.status();
        if status == 304 || head_request {
            return Response::new(status);
        }
        Response::xml(status, err.to_xml(request_id))
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        303 => "See Other",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Serves requests on one connection until it closes, times out, or must close.
async fn serve(ctx: &Rc<CoreCtx>, conn: &mut Conn) {
    loop {
        let head = match read_head(conn, &ctx.shared.shutting_down).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(err) => {
                let id = ctx.next_request_id();
                let _ =
                    write_response(ctx, conn, Response::error(&err, &id, false), &id, false).await;
                return;
            }
        };
        let started = Instant::now();
        let request_id = ctx.next_request_id();
        let is_head = head.method == "HEAD";
        let (op, result, body_done) = super::s3::handle(ctx, conn, &head, &request_id).await;
        let response = match result {
            Ok(response) => response,
            Err(err) => {
                if err.code == S3ErrorCode::InternalError {
                    eprintln!("level=error msg=\"request failed\" core={} id={request_id} op={op} err=\"{err}\"", ctx.core);
                }
                Response::error(&err.resource(head.path.clone()), &request_id, is_head)
            }
        };
        let response = super::cors::decorate(ctx, &head, response);
        let status = response.status;
        let keep_alive = head.keep_alive()
            && body_done
            && !ctx
                .shared
                .shutting_down
                .load(std::sync::atomic::Ordering::Relaxed);
        let written = write_response(ctx, conn, response, &request_id, keep_alive).await;
        ctx.metrics
            .record(op, status, started.elapsed().as_micros() as u64);
        if written.is_err() || !keep_alive {
            return;
        }
    }
}

/// Reads one request head. `Ok(None)`: the client closed (or idled out) between requests.
async fn read_head(conn: &mut Conn, stop: &AtomicBool) -> Result<Option<RequestHead>, S3Error> {
    let mut first = true;
    loop {
        if !conn.unconsumed().is_empty() {
            if let Some((head, len)) = http::parse_head(conn.unconsumed())? {
                conn.consume(len);
                // Framing is checked before routing and authentication: a request whose body
                // cannot be delimited is malformed HTTP (RFC 9112 §6.3: 400, then close), and
                // answering it as an S3 request (403, 404, ...) would hide that.
                head.body_framing()?;
                return Ok(Some(head));
            }
        }
        let was_empty = conn.unconsumed().is_empty();
        let filled = if first && was_empty {
            conn.fill_idle(IDLE_TIMEOUT_MS, stop).await
        } else {
            conn.fill(REQUEST_HEAD_TIMEOUT_MS).await
        };
        match filled {
            Ok(0) | Err(_) if was_empty => return Ok(None),
            Ok(0) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedRequest,
                    "connection closed inside a request head",
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(S3ErrorCode::RequestTimeout.into())
            }
            Err(_) => return Ok(None),
            Ok(_) => {}
        }
        first = false;
    }
}

pub async fn write_continue(conn: &mut Conn) -> io::Result<()> {
    conn.write_all(Bytes::from_static(b"HTTP/1.1 100 Continue\r\n\r\n"))
        .await
}

async fn write_response(
    ctx: &Rc<CoreCtx>,
    conn: &mut Conn,
    response: Response,
    request_id: &str,
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = String::with_capacity(512);
    head.push_str("HTTP/1.1 ");
    head.push_str(&response.status.to_string());
    head.push(' ');
    head.push_str(reason(response.status));
    head.push_str("\r\nServer: Tessera\r\nx-amz-request-id: ");
    head.push_str(request_id);
    head.push_str("\r\nDate: ");
    head.push_str(&httpdate::fmt_http_date(std::time::SystemTime::now()));
    for (name, value) in &response.headers {
        head.push_str("\r\n");
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
    }
    let len = match &response.body {
        RespBody::Empty => 0,
        RespBody::Full(b) => b.len() as u64,
        RespBody::Stream { len, .. } | RespBody::HeadOnly { len } => *len,
    };
    if response.status != 304 && !(response.status == 204 && len == 0) {
        head.push_str("\r\nContent-Length: ");
        head.push_str(&len.to_string());
    }
    if !keep_alive {
        head.push_str("\r\nConnection: close");
    }
    head.push_str("\r\n\r\n");
    match response.body {
        RespBody::Full(body) if body.len() <= 16 * 1024 => {
            let mut all = head.into_bytes();
            all.extend_from_slice(&body);
            conn.write_all(Bytes::from(all)).await?;
            ctx.metrics
                .bytes_out
                .set(ctx.metrics.bytes_out.get() + body.len() as u64);
        }
        RespBody::Full(body) => {
            conn.write_all(Bytes::from(head)).await?;
            ctx.metrics
                .bytes_out
                .set(ctx.metrics.bytes_out.get() + body.len() as u64);
            conn.write_all(body).await?;
        }
        RespBody::Empty | RespBody::HeadOnly { .. } => conn.write_all(Bytes::from(head)).await?,
        RespBody::Stream { len, rx } => {
            // A small body goes out with the head in one write (one syscall, one packet).
            let mut pending_head = Some(head.into_bytes());
            if len > SMALL_BODY_BYTES {
                conn.write_all(Bytes::from(pending_head.take().unwrap_or_default()))
                    .await?;
            }
            let mut sent = 0u64;
            while sent < len {
                match rx.recv().await {
                    Ok(Ok(chunk)) => {
                        sent += chunk.len() as u64;
                        match pending_head.as_mut() {
                            Some(all) => {
                                all.extend_from_slice(&chunk);
                                if sent >= len {
                                    conn.write_all(Bytes::from(
                                        pending_head.take().unwrap_or_default(),
                                    ))
                                    .await?;
                                }
                            }
                            None => conn.write_all(chunk).await?,
                        }
                    }
                    Ok(Err(e)) => {
                        eprintln!("level=error msg=\"body stream failed; closing connection\" core={} id={request_id} err=\"{e}\"", ctx.core);
                        return Err(io::Error::other("body stream failed"));
                    }
                    Err(_) => return Err(io::Error::other("body stream ended early")),
                }
            }
            ctx.metrics
                .bytes_out
                .set(ctx.metrics.bytes_out.get() + sent);
        }
    }
    Ok(())
}
