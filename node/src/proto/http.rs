//! HTTP/1.1 request heads and `Transfer-Encoding: chunked` bodies, parsed from bytes.
//!
//! Owns: turning the bytes a client sent into a [`RequestHead`] (with `httparse`), the framing
//! questions a connection must answer about it (keep-alive, body length, `Expect`), and the
//! incremental [`ChunkedDecoder`].
//! Must not: do I/O, allocate in proportion to anything but the bytes it was given, or look at
//! S3 semantics (routing, auth) — that is for `route` and `sigv4`.
//! Invariants: every size is bounded by a named constant; "need more bytes" is `Ok(None)` (or
//! zero progress), never an error; no input makes these functions panic.

use std::fmt;

use crate::proto::error::{S3Error, S3ErrorCode};

/// Most header fields a request head may carry.
pub const HEADERS_MAX: usize = 128;
/// Most bytes a request head (request line, fields and the empty line) may take.
pub const HEAD_BYTES_MAX: usize = 16 * 1024;
/// Longest chunk-size line (size, extensions, CRLF) of a chunked body.
pub const CHUNK_LINE_BYTES_MAX: usize = 4 * 1024;
/// Most bytes of trailer fields after the last chunk of a chunked body (they are ignored).
pub const CHUNK_TRAILER_BYTES_MAX: usize = 16 * 1024;

const _: () = assert!(CHUNK_LINE_BYTES_MAX <= HEAD_BYTES_MAX);
const _: () = assert!(CHUNK_TRAILER_BYTES_MAX <= HEAD_BYTES_MAX);

/// Why bytes are not a valid HTTP/1.1 request head or chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The head is longer than [`HEAD_BYTES_MAX`].
    TooLarge,
    /// The head has more than [`HEADERS_MAX`] fields.
    TooManyHeaders,
    /// Anything else; the text says what, for logs and the error message.
    Malformed(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLarge => write!(f, "request head too large"),
            ParseError::TooManyHeaders => write!(f, "too many header fields"),
            ParseError::Malformed(what) => write!(f, "malformed request: {what}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for S3Error {
    fn from(err: ParseError) -> S3Error {
        match err {
            ParseError::TooLarge | ParseError::TooManyHeaders => S3Error::with_message(
                S3ErrorCode::RequestHeaderSectionTooLarge,
                "Your request header section exceeds the maximum allowed size.",
            ),
            ParseError::Malformed(what) => {
                S3Error::with_message(S3ErrorCode::MalformedRequest, what)
            }
        }
    }
}

/// How the body of a request is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`; decode with [`ChunkedDecoder`].
    Chunked,
}

/// A parsed request head. Strings are owned so that the head outlives the read buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request-target exactly as sent.
    pub target: String,
    /// The raw (still percent-encoded) path: the target up to `?`. For an absolute-form target
    /// (`http://host/p`), the path part of it.
    pub path: String,
    /// The raw query after `?`, without the `?`; empty if none.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Field names lowercased, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of field `name` (given in lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of field `name` (given in lowercase), in arrival order.
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every comma-separated token of every field `name`, trimmed, empty ones skipped.
    fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers_all(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Whether the connection stays open after this request: HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.tokens("connection")
                .any(|t| t.eq_ignore_ascii_case(token))
        };
        if self.minor_version >= 1 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }

    /// The `Content-Length`, if any. Repeated fields (or a list in one field) must agree.
    pub fn content_length(&self) -> Result<Option<u64>, ParseError> {
        let mut length = None;
        for value in self
            .headers_all("content-length")
            .flat_map(|v| v.split(','))
        {
            let parsed = parse_decimal(value.trim())
                .ok_or(ParseError::Malformed("invalid Content-Length"))?;
            match length {
                Some(prev) if prev != parsed => {
                    return Err(ParseError::Malformed("conflicting Content-Length values"))
                }
                _ => length = Some(parsed),
            }
        }
        Ok(length)
    }

    /// Whether the last transfer coding is `chunked`.
    pub fn is_chunked(&self) -> bool {
        self.tokens("transfer-encoding")
            .last()
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.minor_version >= 1
            && self
                .headers_all("expect")
                .any(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    /// How the body is delimited. Refuses the ambiguous combinations that enable request
    /// smuggling: `Transfer-Encoding` together with `Content-Length`, and any transfer coding
    /// other than a lone `chunked` (we implement no other).
    pub fn body_framing(&self) -> Result<BodyFraming, ParseError> {
        let length = self.content_length()?;
        let mut codings = self.tokens("transfer-encoding");
        match codings.next() {
            None => Ok(length.map_or(BodyFraming::None, BodyFraming::Length)),
            Some(_) if length.is_some() => Err(ParseError::Malformed(
                "both Transfer-Encoding and Content-Length",
            )),
            Some(_) if self.minor_version == 0 => {
                Err(ParseError::Malformed("Transfer-Encoding in HTTP/1.0"))
            }
            Some(first) if first.eq_ignore_ascii_case("chunked") && codings.next().is_none() => {
                Ok(BodyFraming::Chunked)
            }
            Some(_) => Err(ParseError::Malformed("unsupported Transfer-Encoding")),
        }
    }
}

/// Parses a non-empty run of ASCII digits into a u64; `None` on anything else or overflow.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Splits a request-target into its raw path and query.
fn split_target(target: &str) -> Result<(String, String), ParseError> {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let origin = if lower.starts_with("http://") || lower.starts_with("https://") {
        // Absolute-form (RFC 9112 §3.2.2): drop the scheme and authority.
        let after_scheme = &target[target.find("://").map_or(0, |i| i + 3)..];
        match after_scheme.find(['/', '?']) {
            Some(i) if after_scheme.as_bytes()[i] == b'/' => &after_scheme[i..],
            Some(i) => return Ok(("/".to_owned(), after_scheme[i + 1..].to_owned())),
            None => "/",
        }
    } else if target.starts_with('/') {
        target
    } else {
        // Authority-form (CONNECT) and asterisk-form (OPTIONS *) mean nothing to S3.
        return Err(ParseError::Malformed("request-target must be origin-form"));
    };
    Ok(match origin.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (origin.to_owned(), String::new()),
    })
}

fn utf8(bytes: &[u8], what: &'static str) -> Result<String, ParseError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| ParseError::Malformed(what))
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete and shorter than [`HEAD_BYTES_MAX`];
/// `Ok(Some((head, len)))` once complete, where `len` is the length of the head including the
/// final empty line (the body, if any, starts at `buf[len..]`).
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, ParseError> {
    // Only ever look at the first HEAD_BYTES_MAX bytes: a head that does not end within them
    // is too large no matter what follows, and the parser's work stays bounded.
    let window = &buf[..buf.len().min(HEAD_BYTES_MAX)];
    let mut fields = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= HEAD_BYTES_MAX => {
            return Err(ParseError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(httparse::Error::Version) => {
            return Err(ParseError::Malformed("unsupported HTTP version"))
        }
        Err(httparse::Error::HeaderName) => {
            return Err(ParseError::Malformed("invalid header name"))
        }
        Err(httparse::Error::HeaderValue) => {
            return Err(ParseError::Malformed("invalid header value"))
        }
        Err(_) => return Err(ParseError::Malformed("invalid request line")),
    };
    // A complete parse fills these; treat their absence as malformed rather than asserting.
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(ParseError::Malformed("incomplete request line"));
    };
    let mut headers = Vec::with_capacity(req.headers.len());
    for field in req.headers.iter() {
        let name = field.name.to_ascii_lowercase();
        let value = utf8(field.value, "header value is not UTF-8")?;
        headers.push((name, value.trim().to_owned()));
    }
    let (path, query) = split_target(target)?;
    let head = RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        path,
        query,
        minor_version: version,
        headers,
    };
    Ok(Some((head, len)))
}

/// Where a [`ChunkedDecoder`] is in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// Reading hex digits of a chunk size.
    Size,
    /// After the size digits: optional whitespace, then `;` or CR.
    SizeWs,
    /// After `;`: skipping chunk extensions up to CR.
    Extension,
    /// Saw the CR ending the size line; expecting LF.
    SizeLf,
    /// Copying chunk data.
    Data,
    /// After chunk data; expecting CR.
    DataCr,
    /// After chunk data and CR; expecting LF.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line; skipping to CR.
    TrailerLine,
    /// Saw CR ending a trailer field line; expecting LF.
    TrailerLineLf,
    /// Saw CR of the final empty line; expecting LF.
    FinalLf,
    /// The body is complete; further input belongs to the next request.
    Done,
}

/// Incremental decoder of a `Transfer-Encoding: chunked` body (RFC 9112 §7.1).
///
/// Chunk extensions and trailer fields are accepted and ignored. Line endings must be CRLF:
/// a bare LF is refused, because lenient framing is how request smuggling starts.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// The chunk size being read, then the data bytes still to copy.
    remaining: u64,
    /// Whether at least one size digit was read.
    size_digits: bool,
    /// Bytes of the current size line so far.
    line_bytes: usize,
    /// Bytes of trailer section so far.
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size,
            remaining: 0,
            size_digits: false,
            line_bytes: 0,
            trailer_bytes: 0,
        }
    }

    /// Whether the terminating chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes as much of `input` as possible, appending body bytes to `out`. Returns how many
    /// bytes of `input` were consumed: all of them, unless the body ended inside `input`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ParseError> {
        let mut pos = 0;
        while pos < input.len() && self.state != ChunkState::Done {
            if self.state == ChunkState::Data {
                let avail = (input.len() - pos) as u64;
                let take = self.remaining.min(avail) as usize;
                out.extend_from_slice(&input[pos..pos + take]);
                pos += take;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = ChunkState::DataCr;
                }
                continue;
            }
            self.step(input[pos])?;
            pos += 1;
        }
        Ok(pos)
    }

    /// Advances the framing state machine by one byte (never called in `Data`).
    fn step(&mut self, byte: u8) -> Result<(), ParseError> {
        use ChunkState::*;
        match self.state {
            Size | SizeWs | Extension => {
                self.line_bytes += 1;
                if self.line_bytes > CHUNK_LINE_BYTES_MAX {
                    return Err(ParseError::Malformed("chunk size line too long"));
                }
                self.size_line_byte(byte)?;
            }
            SizeLf => {
                expect(byte, b'\n', "chunk size line must end with CRLF")?;
                self.line_bytes = 0;
                self.size_digits = false;
                self.state = if self.remaining == 0 {
                    TrailerStart
                } else {
                    Data
                };
            }
            DataCr => {
                expect(byte, b'\r', "chunk data longer than its size")?;
                self.state = DataLf;
            }
            DataLf => {
                expect(byte, b'\n', "chunk data must end with CRLF")?;
                self.state = Size;
            }
            TrailerStart | TrailerLine | TrailerLineLf | FinalLf => self.trailer_byte(byte)?,
            Data | Done => {}
        }
        Ok(())
    }

    fn size_line_byte(&mut self, byte: u8) -> Result<(), ParseError> {
        use ChunkState::*;
        if self.state == Size {
            if let Some(digit) = (byte as char).to_digit(16) {
                if self.remaining > u64::MAX >> 4 {
                    return Err(ParseError::Malformed("chunk size overflows"));
                }
                self.remaining = self.remaining << 4 | u64::from(digit);
                self.size_digits = true;
                return Ok(());
            }
            if !self.size_digits {
                return Err(ParseError::Malformed("chunk size is not hexadecimal"));
            }
            self.state = SizeWs;
        }
        match (self.state, byte) {
            (_, b'\r') => self.state = SizeLf,
            (SizeWs, b' ' | b'\t') => {}
            (SizeWs, b';') => self.state = Extension,
            // Extensions are ignored, but must be visible text (or whitespace).
            (Extension, b'\t' | b' '..=b'~' | 0x80..=0xff) => {}
            (SizeWs, _) => return Err(ParseError::Malformed("junk after chunk size")),
            _ => return Err(ParseError::Malformed("invalid byte in chunk extension")),
        }
        Ok(())
    }

    fn trailer_byte(&mut self, byte: u8) -> Result<(), ParseError> {
        use ChunkState::*;
        self.trailer_bytes += 1;
        if self.trailer_bytes > CHUNK_TRAILER_BYTES_MAX {
            return Err(ParseError::Malformed("chunked trailer section too long"));
        }
        match (self.state, byte) {
            (TrailerStart, b'\r') => self.state = FinalLf,
            (FinalLf, b'\n') => self.state = Done,
            (FinalLf, _) => return Err(ParseError::Malformed("chunked body must end with CRLF")),
            (TrailerLine, b'\r') => self.state = TrailerLineLf,
            (TrailerStart | TrailerLine, b'\n') => {
                return Err(ParseError::Malformed("bare LF in chunked trailer"))
            }
            (TrailerStart | TrailerLine, _) => self.state = TrailerLine,
            (TrailerLineLf, b'\n') => self.state = TrailerStart,
            (TrailerLineLf, _) => return Err(ParseError::Malformed("bare CR in chunked trailer")),
            _ => {}
        }
        Ok(())
    }
}

fn expect(byte: u8, want: u8, what: &'static str) -> Result<(), ParseError> {
    if byte == want {
        Ok(())
    } else {
        Err(ParseError::Malformed(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> RequestHead {
        match parse_head(raw.as_bytes()) {
            Ok(Some((head, len))) => {
                assert_eq!(len, raw.len());
                head
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_a_complete_head() {
        let raw = "PUT /bucket/a%20key?uploadId=1&partNumber=2 HTTP/1.1\r\n\
                   Host: s3.local\r\nX-Amz-Meta-Color:  blue \r\nContent-Length: 5\r\n\r\nhello";
        let (h, len) = parse_head(raw.as_bytes()).unwrap().unwrap();
        assert_eq!(&raw[len..], "hello");
        assert_eq!(h.method, "PUT");
        assert_eq!(h.target, "/bucket/a%20key?uploadId=1&partNumber=2");
        assert_eq!(h.path, "/bucket/a%20key");
        assert_eq!(h.query, "uploadId=1&partNumber=2");
        assert_eq!(h.minor_version, 1);
        assert_eq!(h.header("host"), Some("s3.local"));
        assert_eq!(h.header("x-amz-meta-color"), Some("blue"));
        assert_eq!(h.header("Host"), None, "names are given lowercase");
        assert_eq!(h.content_length(), Ok(Some(5)));
        assert_eq!(h.body_framing(), Ok(BodyFraming::Length(5)));
    }

    #[test]
    fn targets() {
        let table: &[(&str, Option<(&str, &str)>)] = &[
            ("/", Some(("/", ""))),
            ("/b?", Some(("/b", ""))),
            (
                "/b?list-type=2&prefix=a?b",
                Some(("/b", "list-type=2&prefix=a?b")),
            ),
            ("//double//slash/../x", Some(("//double//slash/../x", ""))),
            ("http://host:9000/b/k?x=1", Some(("/b/k", "x=1"))),
            ("HTTPS://host", Some(("/", ""))),
            ("http://host?x", Some(("/", "x"))),
            ("*", None),
            ("host:443", None),
        ];
        for (target, want) in table {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
            match (parse_head(raw.as_bytes()), want) {
                (Ok(Some((h, _))), Some((path, query))) => {
                    assert_eq!(
                        (h.path.as_str(), h.query.as_str()),
                        (*path, *query),
                        "{target}"
                    )
                }
                (Err(ParseError::Malformed(_)), None) => {}
                (got, _) => panic!("{target}: {got:?}"),
            }
        }
    }

    #[test]
    fn incomplete_heads_need_more_bytes() {
        let raw = b"GET /b/k HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n";
        for cut in 0..raw.len() {
            assert_eq!(parse_head(&raw[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse_head(raw).unwrap().is_some());
    }

    #[test]
    fn head_size_limits() {
        // Exactly HEAD_BYTES_MAX is accepted.
        let prefix = "GET / HTTP/1.1\r\nX: ";
        let pad = HEAD_BYTES_MAX - prefix.len() - 4;
        let raw = format!("{prefix}{}\r\n\r\n", "a".repeat(pad));
        assert_eq!(raw.len(), HEAD_BYTES_MAX);
        assert!(parse_head(raw.as_bytes()).unwrap().is_some());
        // One more byte is not, even with the end of the head in the buffer.
        let raw = format!("{prefix}{}\r\n\r\n", "a".repeat(pad + 1));
        assert_eq!(parse_head(raw.as_bytes()), Err(ParseError::TooLarge));
        // An endless head fails once HEAD_BYTES_MAX bytes are buffered, not before.
        let endless = format!("{prefix}{}", "a".repeat(HEAD_BYTES_MAX));
        assert_eq!(
            parse_head(&endless.as_bytes()[..HEAD_BYTES_MAX - 1]),
            Ok(None)
        );
        assert_eq!(parse_head(endless.as_bytes()), Err(ParseError::TooLarge));
    }

    #[test]
    fn header_count_limit() {
        let fields = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
        let ok = format!("GET / HTTP/1.1\r\n{}\r\n", fields(HEADERS_MAX));
        assert!(parse_head(ok.as_bytes()).unwrap().is_some());
        let bad = format!("GET / HTTP/1.1\r\n{}\r\n", fields(HEADERS_MAX + 1));
        assert_eq!(parse_head(bad.as_bytes()), Err(ParseError::TooManyHeaders));
    }

    #[test]
    fn malformed_heads() {
        let table: &[&[u8]] = &[
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: \xff\xfe\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded: v\r\n\r\n",
            b"G\x01T / HTTP/1.1\r\n\r\n",
            b"GET  HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ];
        for raw in table {
            match parse_head(raw) {
                Err(ParseError::Malformed(_)) => {}
                got => panic!("{:?}: {got:?}", String::from_utf8_lossy(raw)),
            }
        }
    }

    #[test]
    fn keep_alive_table() {
        let table: &[(&str, bool)] = &[
            ("GET / HTTP/1.1\r\n\r\n", true),
            ("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
            (
                "GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
                false,
            ),
            (
                "GET / HTTP/1.1\r\nConnection: x\r\nConnection: close\r\n\r\n",
                false,
            ),
            ("GET / HTTP/1.0\r\n\r\n", false),
            ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            ("GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false),
        ];
        for (raw, want) in table {
            assert_eq!(head(raw).keep_alive(), *want, "{raw:?}");
        }
    }

    #[test]
    fn framing_table() {
        use BodyFraming::*;
        let table: &[(&str, Result<BodyFraming, ()>)] = &[
            ("", Ok(None)),
            ("Content-Length: 0\r\n", Ok(Length(0))),
            (
                "Content-Length: 18446744073709551615\r\n",
                Ok(Length(u64::MAX)),
            ),
            ("Content-Length: 18446744073709551616\r\n", Err(())),
            ("Content-Length: 5\r\nContent-Length: 5\r\n", Ok(Length(5))),
            ("Content-Length: 5, 5\r\n", Ok(Length(5))),
            ("Content-Length: 5\r\nContent-Length: 6\r\n", Err(())),
            ("Content-Length: +5\r\n", Err(())),
            ("Content-Length: -1\r\n", Err(())),
            ("Content-Length: 0x10\r\n", Err(())),
            ("Content-Length: \r\n", Err(())),
            ("Content-Length: 1 2\r\n", Err(())),
            ("Transfer-Encoding: chunked\r\n", Ok(Chunked)),
            ("Transfer-Encoding: Chunked\r\n", Ok(Chunked)),
            ("Transfer-Encoding: gzip, chunked\r\n", Err(())),
            ("Transfer-Encoding: chunked, gzip\r\n", Err(())),
            ("Transfer-Encoding: identity\r\n", Err(())),
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                Err(()),
            ),
        ];
        for (fields, want) in table {
            let raw = format!("PUT /b/k HTTP/1.1\r\n{fields}\r\n");
            let got = head(&raw).body_framing().map_err(|_| ());
            assert_eq!(got, *want, "{fields:?}");
        }
        let h = head("PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(h.body_framing().is_err());
    }

    #[test]
    fn chunked_and_expect_flags() {
        let table: &[(&str, bool, bool)] = &[
            ("PUT / HTTP/1.1\r\n\r\n", false, false),
            (
                "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                true,
                false,
            ),
            (
                "PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                true,
                false,
            ),
            (
                "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                false,
                false,
            ),
            (
                "PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
                false,
                true,
            ),
            (
                "PUT / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n",
                false,
                true,
            ),
            (
                "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
                false,
                false,
            ),
            ("PUT / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", false, false),
        ];
        for (raw, chunked, cont) in table {
            let h = head(raw);
            assert_eq!(
                (h.is_chunked(), h.expects_continue()),
                (*chunked, *cont),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn parse_error_maps_to_s3() {
        let table = [
            (
                ParseError::TooLarge,
                S3ErrorCode::RequestHeaderSectionTooLarge,
            ),
            (
                ParseError::TooManyHeaders,
                S3ErrorCode::RequestHeaderSectionTooLarge,
            ),
            (ParseError::Malformed("x"), S3ErrorCode::MalformedRequest),
        ];
        for (err, code) in table {
            let s3 = S3Error::from(err);
            assert_eq!(s3.code, code);
            assert_eq!(s3.status(), 400);
        }
    }

    /// Decodes `body` whole, then one byte at a time, and checks both give the same result.
    fn decode_both_ways(body: &[u8]) -> Result<(Vec<u8>, usize), ParseError> {
        let mut dec = ChunkedDecoder::new();
        let mut whole = Vec::new();
        let used = dec.decode(body, &mut whole);
        let whole_done = dec.is_done();

        let mut dec = ChunkedDecoder::new();
        let mut bytewise = Vec::new();
        let mut pos = 0;
        let mut err = None;
        while pos < body.len() && !dec.is_done() {
            match dec.decode(&body[pos..pos + 1], &mut bytewise) {
                Ok(n) => pos += n,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        match (used, err) {
            (Ok(n), None) => {
                assert_eq!((n, &whole, whole_done), (pos, &bytewise, dec.is_done()));
                if whole_done {
                    Ok((whole, n))
                } else {
                    Err(ParseError::Malformed("incomplete"))
                }
            }
            (Err(a), Some(b)) => {
                assert_eq!(a, b);
                Err(a)
            }
            (a, b) => panic!("whole {a:?} vs bytewise {b:?}"),
        }
    }

    #[test]
    fn chunked_bodies() {
        let table: &[(&[u8], Option<&[u8]>)] = &[
            (b"0\r\n\r\n", Some(b"")),
            (b"5\r\nhello\r\n0\r\n\r\n", Some(b"hello")),
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                Some(b"hello world"),
            ),
            (b"A\r\n0123456789\r\n0\r\n\r\n", Some(b"0123456789")),
            (b"a\r\n0123456789\r\n00\r\n\r\n", Some(b"0123456789")),
            (b"5;name=value;x\r\nhello\r\n0;last\r\n\r\n", Some(b"hello")),
            (b"5 ; ext\r\nhello\r\n0\r\n\r\n", Some(b"hello")),
            (
                b"5\r\nhello\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n",
                Some(b"hello"),
            ),
            // Errors.
            (b"\r\nhello\r\n0\r\n\r\n", None),
            (b"g\r\nhello\r\n0\r\n\r\n", None),
            (b";x\r\n\r\n", None),
            (b"5\nhello\r\n0\r\n\r\n", None),
            (b"5\r\nhello\n0\r\n\r\n", None),
            (b"5\r\nhelloX\r\n0\r\n\r\n", None),
            (b"5\r\nhello\r\n0\r\n\n", None),
            (b"5\r\nhello\r\n0\r\nT: x\n\r\n", None),
            (b"5\r\nhello\r\n0\r\nT: x\rX\r\n", None),
            (b"5;a\x01b\r\nhello\r\n0\r\n\r\n", None),
            (b"10000000000000000\r\n", None),
            (b"5 6\r\nhello\r\n0\r\n\r\n", None),
            (b"5\t;e\r\nhello\r\n0\r\n\r\n", Some(b"hello")),
            // Incomplete bodies are not errors, just not done.
            (b"5\r\nhel", None),
            (b"5\r\nhello\r\n0\r\n", None),
        ];
        for (body, want) in table {
            let got = decode_both_ways(body);
            match (got, want) {
                (Ok((out, used)), Some(want)) => {
                    assert_eq!(&out, want, "{:?}", String::from_utf8_lossy(body));
                    assert_eq!(used, body.len());
                }
                (Err(_), None) => {}
                (got, _) => panic!("{:?}: {got:?}", String::from_utf8_lossy(body)),
            }
        }
    }

    #[test]
    fn chunked_stops_at_end_of_body() {
        let body = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let mut dec = ChunkedDecoder::new();
        let mut out = Vec::new();
        let used = dec.decode(body, &mut out).unwrap();
        assert!(dec.is_done());
        assert_eq!(&body[used..], b"GET / HTTP/1.1\r\n");
        assert_eq!(out, b"abc");
        assert_eq!(dec.decode(b"more", &mut out), Ok(0));
    }

    #[test]
    fn chunked_limits() {
        let max = "ffffffffffffffff\r\n";
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(max.as_bytes(), &mut Vec::new()), Ok(max.len()));

        let long_ext = format!("1;{}\r\n", "x".repeat(CHUNK_LINE_BYTES_MAX));
        let mut dec = ChunkedDecoder::new();
        assert!(dec.decode(long_ext.as_bytes(), &mut Vec::new()).is_err());

        let ok_ext = format!(
            "1;{}\r\nz\r\n0\r\n\r\n",
            "x".repeat(CHUNK_LINE_BYTES_MAX - 4)
        );
        assert_eq!(decode_both_ways(ok_ext.as_bytes()).unwrap().0, b"z");

        let long_trailer = format!("0\r\nT: {}\r\n\r\n", "x".repeat(CHUNK_TRAILER_BYTES_MAX));
        let mut dec = ChunkedDecoder::new();
        assert!(dec
            .decode(long_trailer.as_bytes(), &mut Vec::new())
            .is_err());
    }

    #[test]
    fn chunked_large_body_in_odd_pieces() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut body = Vec::new();
        for piece in data.chunks(7_777) {
            body.extend_from_slice(format!("{:x};e=1\r\n", piece.len()).as_bytes());
            body.extend_from_slice(piece);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        for split in [1, 2, 3, 13, 4096, 65_536] {
            let mut dec = ChunkedDecoder::new();
            let mut out = Vec::new();
            for piece in body.chunks(split) {
                assert_eq!(dec.decode(piece, &mut out), Ok(piece.len()));
            }
            assert!(dec.is_done());
            assert_eq!(out, data, "split {split}");
        }
    }
}
