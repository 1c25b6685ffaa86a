//! HTTP/1.1 framing for the client: request heads out, response heads and bodies in.
//!
//! Owns: writing a request head, parsing a response head (via `httparse`) into the few
//! fields the client acts on, and decoding `Transfer-Encoding: chunked` bodies. Must not:
//! do I/O — the connection feeds bytes in and reads framing decisions out, so all of this is
//! unit-tested on byte strings. Invariant: "need more bytes" is `Ok(None)`, never an error;
//! every size read from the wire is bounded before it is used.

use std::fmt;

use crate::constants::RESPONSE_HEADERS_MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    Malformed(String),
    HeadTooLarge,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Malformed(what) => write!(f, "malformed response: {what}"),
            FrameError::HeadTooLarge => write!(f, "response head too large"),
        }
    }
}

/// Appends `METHOD target HTTP/1.1`, the headers and the blank line to `out`.
pub fn write_request_head(out: &mut Vec<u8>, method: &str, target: &str, headers: &[(&str, &str)]) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// What the client needs from a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    pub content_length: Option<u64>,
    pub chunked: bool,
    /// The server asked to close the connection after this response.
    pub close: bool,
    pub etag: Option<String>,
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

impl ResponseHead {
    pub fn framing(&self, request_was_head: bool) -> BodyFraming {
        if request_was_head || self.status == 204 || self.status == 304 || self.status < 200 {
            BodyFraming::None
        } else if self.chunked {
            BodyFraming::Chunked
        } else if let Some(length) = self.content_length {
            BodyFraming::Length(length)
        } else {
            BodyFraming::UntilClose
        }
    }
}

/// Parses a response head at the start of `buf`: `Ok(Some((head, head_len)))` when complete,
/// `Ok(None)` when more bytes are needed.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, FrameError> {
    let mut headers = [httparse::EMPTY_HEADER; RESPONSE_HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(FrameError::Malformed(err.to_string())),
    };
    let status = response
        .code
        .ok_or_else(|| FrameError::Malformed("no status".to_string()))?;
    let mut head = ResponseHead {
        status,
        reason: response.reason.unwrap_or("").to_string(),
        content_length: None,
        chunked: false,
        close: response.version == Some(0),
        etag: None,
    };
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| FrameError::Malformed(format!("header {} is not UTF-8", header.name)))?
            .trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse()
                .map_err(|_| FrameError::Malformed(format!("content-length {value:?}")))?;
            if head.content_length.is_some_and(|seen| seen != length) {
                return Err(FrameError::Malformed(
                    "conflicting content-length".to_string(),
                ));
            }
            head.content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value
                .to_ascii_lowercase()
                .split(',')
                .any(|coding| coding.trim() == "chunked");
        } else if header.name.eq_ignore_ascii_case("connection") {
            let lower = value.to_ascii_lowercase();
            if lower.split(',').any(|token| token.trim() == "close") {
                head.close = true;
            } else if lower.split(',').any(|token| token.trim() == "keep-alive") {
                head.close = false;
            }
        } else if header.name.eq_ignore_ascii_case("etag") {
            head.etag = Some(value.to_string());
        }
    }
    Ok(Some((head, head_len)))
}

/// Incremental decoder of a chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size { value: u64, digits: u8 },
    Extension { value: u64 },
    SizeLf { value: u64 },
    Data { remaining: u64 },
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerLine,
    TrailerEndLf,
    Done,
}

/// Hex digits accepted in one chunk size (2^60 bytes is far past any real object).
const CHUNK_SIZE_DIGITS_MAX: u8 = 15;

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: ChunkState::Size {
                value: 0,
                digits: 0,
            },
        }
    }
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes framing and data from `input`, handing data bytes to `sink`. Returns how many
    /// bytes of `input` were consumed; stops right after the final CRLF once done.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, FrameError> {
        let mut at = 0;
        while at < input.len() && self.state != ChunkState::Done {
            if let ChunkState::Data { remaining } = self.state {
                let take = remaining.min((input.len() - at) as u64) as usize;
                sink(&input[at..at + take]);
                at += take;
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    ChunkState::DataCr
                } else {
                    ChunkState::Data { remaining: left }
                };
                continue;
            }
            self.state = self.step(input[at])?;
            at += 1;
        }
        Ok(at)
    }

    fn step(&self, byte: u8) -> Result<ChunkState, FrameError> {
        let bad = |what: &str| Err(FrameError::Malformed(format!("chunked body: {what}")));
        Ok(match self.state {
            ChunkState::Size { value, digits } => match byte {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits == CHUNK_SIZE_DIGITS_MAX {
                        return bad("chunk size too large");
                    }
                    let digit = (byte as char).to_digit(16).map_or(0, u64::from);
                    ChunkState::Size {
                        value: value * 16 + digit,
                        digits: digits + 1,
                    }
                }
                b';' | b' ' | b'\t' if digits > 0 => ChunkState::Extension { value },
                b'\r' if digits > 0 => ChunkState::SizeLf { value },
                _ => return bad("bad chunk size"),
            },
            ChunkState::Extension { value } => match byte {
                b'\r' => ChunkState::SizeLf { value },
                _ => ChunkState::Extension { value },
            },
            ChunkState::SizeLf { value } => match (byte, value) {
                (b'\n', 0) => ChunkState::TrailerLineStart,
                (b'\n', remaining) => ChunkState::Data { remaining },
                _ => return bad("expected LF after chunk size"),
            },
            ChunkState::DataCr => match byte {
                b'\r' => ChunkState::DataLf,
                _ => return bad("expected CR after chunk data"),
            },
            ChunkState::DataLf => match byte {
                b'\n' => ChunkState::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return bad("expected LF after chunk data"),
            },
            ChunkState::TrailerLineStart => match byte {
                b'\r' => ChunkState::TrailerEndLf,
                _ => ChunkState::TrailerLine,
            },
            ChunkState::TrailerLine => match byte {
                b'\n' => ChunkState::TrailerLineStart,
                _ => ChunkState::TrailerLine,
            },
            ChunkState::TrailerEndLf => match byte {
                b'\n' => ChunkState::Done,
                _ => return bad("expected LF after trailer"),
            },
            ChunkState::Data { .. } | ChunkState::Done => self.state,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_layout() {
        let mut out = Vec::new();
        write_request_head(
            &mut out,
            "GET",
            "/b/k?partNumber=2",
            &[("Host", "h:1"), ("Content-Length", "0")],
        );
        assert_eq!(
            out,
            b"GET /b/k?partNumber=2 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn response_heads() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"abc\"\r\n\r\nhello";
        let (head, len) = parse_response_head(full).expect("valid").expect("complete");
        assert_eq!(len, full.len() - 5);
        assert_eq!(head.status, 200);
        assert_eq!(head.content_length, Some(5));
        assert_eq!(head.etag.as_deref(), Some("\"abc\""));
        assert!(!head.close);
        assert_eq!(head.framing(false), BodyFraming::Length(5));
        assert_eq!(head.framing(true), BodyFraming::None);

        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Le"),
            Ok(None)
        );

        let chunked = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let (head, _) = parse_response_head(chunked)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.framing(false), BodyFraming::Chunked);
        assert!(head.close);
        assert_eq!(head.reason, "Internal Server Error");

        let old = b"HTTP/1.0 200 OK\r\n\r\n";
        let (head, _) = parse_response_head(old).expect("valid").expect("complete");
        assert!(head.close);
        assert_eq!(head.framing(false), BodyFraming::UntilClose);

        let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
        let (head, _) = parse_response_head(no_content)
            .expect("valid")
            .expect("complete");
        assert_eq!(head.framing(false), BodyFraming::None);
    }

    #[test]
    fn bad_response_heads_are_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTXP/1.1 200 OK\r\n\r\n",
        ] {
            assert!(
                parse_response_head(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn decode_all(pieces: &[&[u8]]) -> Result<(Vec<u8>, usize, bool), FrameError> {
        let mut decoder = ChunkedDecoder::default();
        let mut data = Vec::new();
        let mut consumed = 0;
        for piece in pieces {
            consumed += decoder.decode(piece, &mut |bytes| data.extend_from_slice(bytes))?;
        }
        Ok((data, consumed, decoder.is_done()))
    }

    #[test]
    fn chunked_bodies_decode_in_any_split() {
        let body: &[u8] = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let end = body.len() - 4;
        let (data, consumed, done) = decode_all(&[body]).expect("valid");
        assert_eq!(data, b"hello, world");
        assert_eq!(consumed, end, "decoder must stop before the next response");
        assert!(done);
        for split in 1..end {
            let (data, consumed, done) =
                decode_all(&[&body[..split], &body[split..end]]).expect("valid");
            assert_eq!(
                (data.as_slice(), consumed, done),
                (&b"hello, world"[..], end, true),
                "split at {split}"
            );
        }
        let (_, _, done) = decode_all(&[&body[..end - 1]]).expect("valid prefix");
        assert!(!done);
    }

    #[test]
    fn bad_chunked_bodies_are_errors() {
        for bad in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"5\r\nhelloX",
            b"5\nhello",
            b"ffffffffffffffff\r\n",
        ] {
            assert!(
                decode_all(&[bad]).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
