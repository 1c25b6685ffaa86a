//! The `aws-chunked` content encoding of S3 uploads (`x-amz-content-sha256: STREAMING-...`),
//! decoded incrementally, with every chunk and trailer signature checked as it completes.
//!
//! Wire format (after the HTTP framing is removed):
//!
//! ```text
//! hex-size[;chunk-signature=SIG]\r\n  data  \r\n        (repeated, data chunks)
//! 0[;chunk-signature=SIG]\r\n                           (the final, empty chunk)
//! name:value\r\n ...                                   (trailers, optional)
//! x-amz-trailer-signature:SIG\r\n                       (signed trailers only)
//! \r\n
//! ```
//!
//! Owns: the framing state machine, the signature chain (seed → chunk 1 → ... → final chunk →
//! trailer) and the trailers.
//! Must not: interpret trailers (checksums) or compare the decoded length with
//! `x-amz-decoded-content-length`; the handler does both with [`AwsChunkedDecoder::trailers`]
//! and [`AwsChunkedDecoder::decoded_len`].
//! Invariants: memory is bounded by [`LINE_BYTES_MAX`] and [`TRAILERS_MAX`] whatever the input;
//! input may be split at any byte; a chunk's bytes are appended to `out` as they arrive, before
//! its signature can be checked at its end, so on any error the caller must discard the whole
//! body. After an error the decoder stays failed.

use sha2::{Digest, Sha256};

use crate::proto::error::{S3Error, S3ErrorCode};
use crate::proto::sigv4::{self, ChunkSigningContext};

/// Longest chunk header or trailer line, CRLF included.
pub const LINE_BYTES_MAX: usize = 4 * 1024;
/// Largest chunk. SDKs send 64 KiB (up to a few MiB); S3 does not document a maximum.
pub const CHUNK_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Most trailer fields (the signature trailer not counted).
pub const TRAILERS_MAX: usize = 16;

const SIGNATURE_TRAILER: &str = "x-amz-trailer-signature";
const CHUNK_SIGNATURE_EXT: &str = "chunk-signature";

/// Whether chunks carry signatures that must be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkAuth {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: every chunk (and the trailer) signed.
    Signed(ChunkSigningContext),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: any `chunk-signature` is ignored.
    Unsigned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a `size[;ext]` line.
    ChunkHeader,
    /// Copying chunk data.
    Data {
        remaining: u64,
    },
    /// Expecting the CRLF after chunk data; `cr` once the CR was seen.
    DataEnd {
        cr: bool,
    },
    /// Reading trailer lines until the empty line.
    Trailers,
    Done,
    Failed,
}

/// Incremental `aws-chunked` decoder.
#[derive(Clone, Debug)]
pub struct AwsChunkedDecoder {
    auth: ChunkAuth,
    expect_trailer: bool,
    state: State,
    /// The current header or trailer line, without its CRLF, while incomplete.
    line: Vec<u8>,
    /// The signature the next signed item chains from: the seed, then each chunk's.
    prev_signature: String,
    /// The signature the current chunk claims.
    claimed_signature: Option<String>,
    chunk_hash: Sha256,
    decoded_len: u64,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    /// Whether the first line after the final chunk was empty (see [`Self::new`]).
    blank_after_final: bool,
    error: Option<S3Error>,
}

fn malformed(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedRequest, message)
}

fn signature_mismatch(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::SignatureDoesNotMatch, message)
}

impl AwsChunkedDecoder {
    /// `expect_trailer`: the request declared `x-amz-trailer`. Then an empty line directly after
    /// the final chunk (as in AWS's documented example) is skipped instead of ending the body,
    /// and [`Self::finish`] accepts a body that ends right there. Without it, the first empty
    /// line ends the body; trailers that do appear are still read (and, if signed, checked).
    pub fn new(auth: ChunkAuth, expect_trailer: bool) -> Self {
        let prev_signature = match &auth {
            ChunkAuth::Signed(ctx) => ctx.seed_signature.clone(),
            ChunkAuth::Unsigned => String::new(),
        };
        AwsChunkedDecoder {
            auth,
            expect_trailer,
            state: State::ChunkHeader,
            line: Vec::new(),
            prev_signature,
            claimed_signature: None,
            chunk_hash: Sha256::new(),
            decoded_len: 0,
            trailers: Vec::new(),
            trailer_signature: None,
            blank_after_final: false,
            error: None,
        }
    }

    /// Whether the whole body, trailers included, has been decoded and verified.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Trailer fields (names lowercase, values trimmed), without the signature trailer.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Decoded payload bytes so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded_len
    }

    /// To call when the encoded body has ended (e.g. `Content-Length` bytes fed): `Ok` if the
    /// body was complete, else `IncompleteBody`.
    pub fn finish(&mut self) -> Result<(), S3Error> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        let ended_after_blank = self.state == State::Trailers
            && self.blank_after_final
            && self.line.is_empty()
            && self.trailers.is_empty()
            && self.trailer_signature.is_none();
        if ended_after_blank {
            // The body was `0...\r\n\r\n` with no trailers after the tolerated blank line.
            self.state = State::Done;
        }
        if self.is_done() {
            Ok(())
        } else {
            Err(S3Error::new(S3ErrorCode::IncompleteBody))
        }
    }

    /// Decodes as much of `input` as possible, appending payload bytes to `out`. Returns the
    /// bytes of `input` consumed: all of them unless the body ended inside `input`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, S3Error> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        match self.decode_inner(input, out) {
            Ok(used) => Ok(used),
            Err(err) => {
                self.state = State::Failed;
                self.error = Some(err.clone());
                Err(err)
            }
        }
    }

    fn decode_inner(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, S3Error> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::ChunkHeader | State::Trailers => {
                    if !self.take_line(input, &mut pos)? {
                        break;
                    }
                    let line = std::mem::take(&mut self.line);
                    if self.state == State::ChunkHeader {
                        self.chunk_header(&line)?;
                    } else {
                        self.trailer_line(&line)?;
                    }
                }
                State::Data { remaining } => {
                    let take = remaining.min((input.len() - pos) as u64) as usize;
                    let data = &input[pos..pos + take];
                    if matches!(self.auth, ChunkAuth::Signed(_)) {
                        self.chunk_hash.update(data);
                    }
                    out.extend_from_slice(data);
                    self.decoded_len += take as u64;
                    pos += take;
                    let remaining = remaining - take as u64;
                    self.state = State::Data { remaining };
                    if remaining == 0 {
                        self.verify_chunk()?;
                        self.state = State::DataEnd { cr: false };
                    }
                }
                State::DataEnd { cr } => {
                    let want = if cr { b'\n' } else { b'\r' };
                    if input[pos] != want {
                        return Err(S3Error::with_message(
                            S3ErrorCode::IncompleteBody,
                            "Chunk data does not match its declared size.",
                        ));
                    }
                    pos += 1;
                    self.state = if cr {
                        State::ChunkHeader
                    } else {
                        State::DataEnd { cr: true }
                    };
                }
                State::Done | State::Failed => break,
            }
        }
        Ok(pos)
    }

    /// Moves bytes of the current line from `input` into `self.line`. Returns true once the
    /// line's CRLF was consumed (the CRLF is not kept).
    fn take_line(&mut self, input: &[u8], pos: &mut usize) -> Result<bool, S3Error> {
        let rest = &input[*pos..];
        let (piece, complete) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..=i], true),
            None => (rest, false),
        };
        if self.line.len() + piece.len() > LINE_BYTES_MAX {
            return Err(malformed("aws-chunked line too long"));
        }
        self.line.extend_from_slice(piece);
        *pos += piece.len();
        if !complete {
            return Ok(false);
        }
        if !self.line.ends_with(b"\r\n") {
            return Err(malformed("aws-chunked lines must end with CRLF"));
        }
        self.line.truncate(self.line.len() - 2);
        Ok(true)
    }

    /// Handles `hex-size[;chunk-signature=SIG]`.
    fn chunk_header(&mut self, line: &[u8]) -> Result<(), S3Error> {
        let line = std::str::from_utf8(line).map_err(|_| malformed("invalid chunk header"))?;
        let mut parts = line.split(';');
        let size_hex = parts.next().unwrap_or("");
        let size = parse_chunk_size(size_hex)?;
        let mut signature = None;
        for ext in parts {
            let (name, value) = ext.split_once('=').unwrap_or((ext, ""));
            if name.trim() == CHUNK_SIGNATURE_EXT && signature.replace(value.trim()).is_some() {
                return Err(malformed("chunk-signature given twice"));
            }
        }
        if let ChunkAuth::Signed(_) = self.auth {
            let sig = signature.ok_or_else(|| signature_mismatch("Missing chunk signature."))?;
            self.claimed_signature = Some(sig.to_owned());
        }
        self.chunk_hash = Sha256::new();
        if size == 0 {
            self.verify_chunk()?;
            self.state = State::Trailers;
        } else {
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    /// Checks the current chunk's claimed signature (signed mode) and advances the chain.
    fn verify_chunk(&mut self) -> Result<(), S3Error> {
        let ChunkAuth::Signed(ctx) = &self.auth else {
            return Ok(());
        };
        let digest: [u8; 32] = std::mem::take(&mut self.chunk_hash).finalize().into();
        let expected = sigv4::chunk_signature(ctx, &self.prev_signature, &digest);
        let claimed = self.claimed_signature.take().unwrap_or_default();
        if !sigv4::signatures_equal(&expected, &claimed) {
            return Err(signature_mismatch(
                "The chunk signature we calculated does not match the signature you provided.",
            ));
        }
        self.prev_signature = expected;
        Ok(())
    }

    /// Handles one line after the final chunk.
    fn trailer_line(&mut self, line: &[u8]) -> Result<(), S3Error> {
        if line.is_empty() {
            let nothing_yet = self.trailers.is_empty() && self.trailer_signature.is_none();
            if self.expect_trailer && nothing_yet && !self.blank_after_final {
                self.blank_after_final = true;
                return Ok(());
            }
            self.verify_trailers()?;
            self.state = State::Done;
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| malformed("invalid trailer"))?;
        if line.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(malformed("control character in trailer"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("trailer is not of the form name:value"))?;
        let name = name.trim().to_ascii_lowercase();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(malformed("invalid trailer name"));
        }
        let value = value.trim().to_owned();
        if name == SIGNATURE_TRAILER {
            if self.trailer_signature.replace(value).is_some() {
                return Err(malformed("x-amz-trailer-signature given twice"));
            }
        } else {
            if self.trailers.len() == TRAILERS_MAX {
                return Err(malformed("too many trailers"));
            }
            self.trailers.push((name, value));
        }
        Ok(())
    }

    /// In signed mode, any trailers must be covered by a valid `x-amz-trailer-signature`.
    fn verify_trailers(&self) -> Result<(), S3Error> {
        let ChunkAuth::Signed(ctx) = &self.auth else {
            return Ok(());
        };
        if self.trailers.is_empty() && self.trailer_signature.is_none() {
            return Ok(());
        }
        let claimed = self
            .trailer_signature
            .as_deref()
            .ok_or_else(|| signature_mismatch("Missing trailer signature."))?;
        let canonical = sigv4::canonical_trailers(&self.trailers);
        let expected = sigv4::trailer_signature(ctx, &self.prev_signature, &canonical);
        if !sigv4::signatures_equal(&expected, claimed) {
            return Err(signature_mismatch(
                "The trailer signature we calculated does not match the signature you provided.",
            ));
        }
        Ok(())
    }
}

/// Parses a chunk size: 1 to 16 hex digits, at most [`CHUNK_BYTES_MAX`].
fn parse_chunk_size(hex: &str) -> Result<u64, S3Error> {
    let hex = hex.trim_end_matches([' ', '\t']);
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("invalid chunk size"));
    }
    let size = u64::from_str_radix(hex, 16).map_err(|_| malformed("invalid chunk size"))?;
    if size > CHUNK_BYTES_MAX {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidChunkSizeError,
            "Chunk size exceeds the maximum allowed.",
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::checksum::{to_base64, ChecksumAlgo, Hasher};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn ctx(seed: &str) -> ChunkSigningContext {
        ChunkSigningContext {
            signing_key: sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3"),
            seed_signature: seed.to_owned(),
            amz_date: "20130524T000000Z".to_owned(),
            scope: "20130524/us-east-1/s3/aws4_request".to_owned(),
        }
    }

    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const SIGS: [&str; 3] = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ];
    const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
    const TRAILER_SIGS: [&str; 3] = [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ];
    const TRAILER_SIG: &str = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";

    /// The AWS streaming example body: 64 KiB and 1 KiB of 'a', then the final chunk.
    fn aws_signed_body(sigs: [&str; 3]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(format!("10000;chunk-signature={}\r\n", sigs[0]).as_bytes());
        body.extend_from_slice(&[b'a'; 65_536]);
        body.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", sigs[1]).as_bytes());
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n", sigs[2]).as_bytes());
        body
    }

    /// Result of decoding a body one way.
    #[derive(Debug, PartialEq)]
    struct Decoded {
        out: Vec<u8>,
        used: usize,
        trailers: Vec<(String, String)>,
        finish: Result<(), S3ErrorCode>,
    }

    /// Decodes `body` fed in pieces of `split` bytes (0 = all at once).
    fn decode_split(
        auth: &ChunkAuth,
        trailer: bool,
        body: &[u8],
        split: usize,
    ) -> Result<Decoded, S3ErrorCode> {
        let mut dec = AwsChunkedDecoder::new(auth.clone(), trailer);
        let mut out = Vec::new();
        let mut used = 0;
        let pieces: Vec<&[u8]> = if split == 0 {
            vec![body]
        } else {
            body.chunks(split).collect()
        };
        for piece in pieces {
            let n = dec.decode(piece, &mut out).map_err(|e| e.code)?;
            used += n;
            if n < piece.len() {
                assert!(dec.is_done(), "stopped early without being done");
                break;
            }
        }
        assert_eq!(dec.decoded_len(), out.len() as u64);
        let trailers = dec.trailers().to_vec();
        let finish = dec.finish().map_err(|e| e.code);
        Ok(Decoded {
            out,
            used,
            trailers,
            finish,
        })
    }

    /// Decodes whole, byte by byte and in odd pieces; all must agree.
    fn decode_all_ways(
        auth: &ChunkAuth,
        trailer: bool,
        body: &[u8],
    ) -> Result<Decoded, S3ErrorCode> {
        let whole = decode_split(auth, trailer, body, 0);
        for split in [1, 2, 7, 4096] {
            assert_eq!(
                decode_split(auth, trailer, body, split),
                whole,
                "split {split}"
            );
        }
        whole
    }

    #[test]
    fn aws_documented_signed_stream() {
        let mut body = aws_signed_body(SIGS);
        body.extend_from_slice(b"\r\n");
        assert_eq!(body.len(), 66_824, "Content-Length of the AWS example");
        let auth = ChunkAuth::Signed(ctx(SEED));
        let got = decode_all_ways(&auth, false, &body).unwrap();
        assert_eq!(got.out, vec![b'a'; 66_560]);
        assert_eq!(got.used, body.len());
        assert!(got.trailers.is_empty());
        assert_eq!(got.finish, Ok(()));
    }

    fn signed_trailer_body(
        docs_blank_line: bool,
        trailer_value: &str,
        trailer_sig: Option<&str>,
    ) -> Vec<u8> {
        let mut body = aws_signed_body(TRAILER_SIGS);
        if docs_blank_line {
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("x-amz-checksum-crc32c:{trailer_value}\r\n").as_bytes());
        if let Some(sig) = trailer_sig {
            body.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body
    }

    #[test]
    fn aws_documented_signed_trailer_stream() {
        let auth = ChunkAuth::Signed(ctx(TRAILER_SEED));
        // As the AWS SDKs send it, and with the extra blank line of the documentation.
        for docs in [false, true] {
            let body = signed_trailer_body(docs, "sOO8/Q==", Some(TRAILER_SIG));
            let got = decode_all_ways(&auth, true, &body).unwrap();
            assert_eq!(got.out, vec![b'a'; 66_560]);
            assert_eq!(got.used, body.len());
            let want = vec![("x-amz-checksum-crc32c".to_owned(), "sOO8/Q==".to_owned())];
            assert_eq!(got.trailers, want);
            assert_eq!(got.finish, Ok(()));
        }
    }

    #[test]
    fn signed_trailer_refusals() {
        use S3ErrorCode::*;
        let auth = ChunkAuth::Signed(ctx(TRAILER_SEED));
        let table: &[(&str, Vec<u8>, S3ErrorCode)] = &[
            (
                "tampered trailer",
                signed_trailer_body(false, "AAAAAA==", Some(TRAILER_SIG)),
                SignatureDoesNotMatch,
            ),
            (
                "missing trailer signature",
                signed_trailer_body(false, "sOO8/Q==", None),
                SignatureDoesNotMatch,
            ),
            (
                "bad trailer signature",
                signed_trailer_body(false, "sOO8/Q==", Some(SIGS[0])),
                SignatureDoesNotMatch,
            ),
            (
                "short trailer signature",
                signed_trailer_body(false, "sOO8/Q==", Some("d81f")),
                SignatureDoesNotMatch,
            ),
        ];
        for (name, body, code) in table {
            assert_eq!(
                decode_all_ways(&auth, true, body).map(|_| ()),
                Err(*code),
                "{name}"
            );
        }
    }

    #[test]
    fn signed_stream_refusals() {
        use S3ErrorCode::*;
        let auth = ChunkAuth::Signed(ctx(SEED));
        let good = {
            let mut b = aws_signed_body(SIGS);
            b.extend_from_slice(b"\r\n");
            b
        };
        let mut flipped_data = good.clone();
        flipped_data[200] = b'b';
        let mut swapped = aws_signed_body([SIGS[1], SIGS[0], SIGS[2]]);
        swapped.extend_from_slice(b"\r\n");
        let mut bad_final = aws_signed_body([SIGS[0], SIGS[1], SIGS[0]]);
        bad_final.extend_from_slice(b"\r\n");
        let unsigned_chunk = {
            let s = String::from_utf8_lossy(&good).replacen(
                &format!(";chunk-signature={}", SIGS[0]),
                "",
                1,
            );
            s.into_bytes()
        };
        let table: Vec<(&str, Vec<u8>, S3ErrorCode)> = vec![
            ("flipped data byte", flipped_data, SignatureDoesNotMatch),
            ("swapped chunk signatures", swapped, SignatureDoesNotMatch),
            ("bad final signature", bad_final, SignatureDoesNotMatch),
            (
                "missing chunk signature",
                unsigned_chunk,
                SignatureDoesNotMatch,
            ),
        ];
        for (name, body, code) in table {
            assert_eq!(
                decode_all_ways(&auth, false, &body).map(|_| ()),
                Err(code),
                "{name}"
            );
        }
        // A wrong seed (another request's signature) fails on the first chunk.
        let other = ChunkAuth::Signed(ctx(TRAILER_SEED));
        assert_eq!(
            decode_all_ways(&other, false, &good).map(|_| ()),
            Err(SignatureDoesNotMatch)
        );
        // Trailers in a signed stream need a signature even when none were announced.
        let mut with_trailer = aws_signed_body(SIGS);
        with_trailer.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        assert_eq!(
            decode_all_ways(&auth, false, &with_trailer).map(|_| ()),
            Err(SignatureDoesNotMatch)
        );
    }

    fn crc32_b64(data: &[u8]) -> String {
        let mut h = Hasher::new(ChecksumAlgo::Crc32);
        h.update(data);
        to_base64(&h.finish())
    }

    #[test]
    fn unsigned_trailer_stream_as_sdks_send_it() {
        let data: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 256) as u8).collect();
        let checksum = crc32_b64(&data);
        let mut body = b"400\r\n".to_vec();
        body.extend_from_slice(&data);
        body.extend_from_slice(
            format!("\r\n0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(b"PUT /next HTTP/1.1\r\n");
        for expect_trailer in [true, false] {
            let got = decode_all_ways(&ChunkAuth::Unsigned, expect_trailer, &body).unwrap();
            assert_eq!(got.out, data);
            assert_eq!(&body[got.used..], b"PUT /next HTTP/1.1\r\n");
            assert_eq!(
                got.trailers,
                vec![("x-amz-checksum-crc32".to_owned(), checksum.clone())]
            );
            assert_eq!(got.finish, Ok(()));
        }
    }

    #[test]
    fn unsigned_framing_table() {
        use S3ErrorCode::*;
        let u = ChunkAuth::Unsigned;
        // (body, expect_trailer, decoded payload or error, finish result)
        type Row<'a> = (
            &'a [u8],
            bool,
            Result<&'a [u8], S3ErrorCode>,
            Result<(), S3ErrorCode>,
        );
        let table: &[Row] = &[
            (b"0\r\n\r\n", false, Ok(b""), Ok(())),
            (b"3\r\nabc\r\n0\r\n\r\n", false, Ok(b"abc"), Ok(())),
            (
                b"3;chunk-signature=whatever\r\nabc\r\n0\r\n\r\n",
                false,
                Ok(b"abc"),
                Ok(()),
            ),
            (
                b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
                false,
                Ok(b"abcdef"),
                Ok(()),
            ),
            (
                b"A\r\n0123456789\r\n0\r\n\r\n",
                false,
                Ok(b"0123456789"),
                Ok(()),
            ),
            (
                b"3\r\nabc\r\n0\r\nX-Amz-Checksum-CRC32 :  AAAAAA==  \r\n\r\n",
                false,
                Ok(b"abc"),
                Ok(()),
            ),
            // Expecting a trailer, a body ending right after the blank line is complete only
            // once the caller says the input ended.
            (b"3\r\nabc\r\n0\r\n\r\n", true, Ok(b"abc"), Ok(())),
            // Truncated bodies.
            (b"3\r\nab", false, Ok(b"ab"), Err(IncompleteBody)),
            (b"3\r\nabc\r\n", false, Ok(b"abc"), Err(IncompleteBody)),
            (b"3\r\nabc\r\n0\r\n", false, Ok(b"abc"), Err(IncompleteBody)),
            (
                b"3\r\nabc\r\n0\r\nx-a:1\r\n",
                false,
                Ok(b"abc"),
                Err(IncompleteBody),
            ),
            (b"", false, Ok(b""), Err(IncompleteBody)),
            // Garbage.
            (
                b"3\r\nabcd\r\n0\r\n\r\n",
                false,
                Err(IncompleteBody),
                Ok(()),
            ),
            (
                b"zz\r\nabc\r\n0\r\n\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
            (
                b"\r\nabc\r\n0\r\n\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
            (
                b"-3\r\nabc\r\n0\r\n\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
            (b"3\nabc\r\n0\r\n\r\n", false, Err(MalformedRequest), Ok(())),
            (
                b"10000000000000000\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
            (b"4000001\r\n", false, Err(InvalidChunkSizeError), Ok(())),
            (
                b"3\r\nabc\r\n0\r\nno-colon\r\n\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
            (
                b"3\r\nabc\r\n0\r\n:v\r\n\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
            (
                b"3\r\nabc\r\n0\r\nbad name:v\r\n\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
            (
                b"3\r\nabc\r\n0\r\nx-a:1\r2\r\n\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
            (
                b"3\r\nabc\r\n0\r\nx-a:\xff\r\n\r\n",
                false,
                Err(MalformedRequest),
                Ok(()),
            ),
        ];
        for (body, trailer, want, finish) in table {
            let got = decode_all_ways(&u, *trailer, body);
            let name = String::from_utf8_lossy(body);
            match (got, want) {
                (Ok(d), Ok(want)) => {
                    assert_eq!(d.out, *want, "{name}");
                    assert_eq!(d.finish, *finish, "{name}");
                }
                (Err(code), Err(want)) => assert_eq!(code, *want, "{name}"),
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
    }

    #[test]
    fn limits() {
        let u = ChunkAuth::Unsigned;
        let long_line = format!("3;{}\r\nabc\r\n0\r\n\r\n", "x".repeat(LINE_BYTES_MAX));
        assert_eq!(
            decode_all_ways(&u, false, long_line.as_bytes()).map(|_| ()),
            Err(S3ErrorCode::MalformedRequest)
        );
        let ok_line = format!("3;{}\r\nabc\r\n0\r\n\r\n", "x".repeat(LINE_BYTES_MAX - 5));
        assert_eq!(
            decode_all_ways(&u, false, ok_line.as_bytes()).unwrap().out,
            b"abc"
        );

        let trailers = |n: usize| (0..n).map(|i| format!("x-{i}:v\r\n")).collect::<String>();
        let ok = format!("0\r\n{}\r\n", trailers(TRAILERS_MAX));
        assert_eq!(
            decode_all_ways(&u, false, ok.as_bytes())
                .unwrap()
                .trailers
                .len(),
            TRAILERS_MAX
        );
        let too_many = format!("0\r\n{}\r\n", trailers(TRAILERS_MAX + 1));
        assert!(decode_all_ways(&u, false, too_many.as_bytes()).is_err());

        let max_chunk = format!("{CHUNK_BYTES_MAX:x}\r\n");
        let mut dec = AwsChunkedDecoder::new(u.clone(), false);
        assert_eq!(
            dec.decode(max_chunk.as_bytes(), &mut Vec::new()),
            Ok(max_chunk.len())
        );
    }

    #[test]
    fn failed_decoder_stays_failed_and_done_decoder_consumes_nothing() {
        let mut dec = AwsChunkedDecoder::new(ChunkAuth::Unsigned, false);
        let mut out = Vec::new();
        assert!(dec.decode(b"zz\r\n", &mut out).is_err());
        assert!(dec.decode(b"0\r\n\r\n", &mut out).is_err());
        assert!(dec.finish().is_err());
        assert!(!dec.is_done());

        let mut dec = AwsChunkedDecoder::new(ChunkAuth::Unsigned, false);
        assert_eq!(dec.decode(b"0\r\n\r\n", &mut out), Ok(5));
        assert!(dec.is_done());
        assert_eq!(dec.decode(b"more", &mut out), Ok(0));
    }

    #[test]
    fn signed_stream_of_many_chunks_round_trips() {
        // Sign a body here the way an SDK would, with uneven chunk sizes, and decode it.
        let c = ctx(SEED);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let mut body = Vec::new();
        let mut prev = c.seed_signature.clone();
        for piece in data.chunks(65_536).chain(std::iter::once(&[][..])) {
            let digest: [u8; 32] = Sha256::digest(piece).into();
            prev = sigv4::chunk_signature(&c, &prev, &digest);
            body.extend_from_slice(
                format!("{:x};chunk-signature={prev}\r\n", piece.len()).as_bytes(),
            );
            body.extend_from_slice(piece);
            if !piece.is_empty() {
                body.extend_from_slice(b"\r\n");
            }
        }
        let trailers = vec![("x-amz-checksum-crc32".to_owned(), crc32_b64(&data))];
        let sig = sigv4::trailer_signature(&c, &prev, &sigv4::canonical_trailers(&trailers));
        body.extend_from_slice(
            format!(
                "x-amz-checksum-crc32:{}\r\nx-amz-trailer-signature:{sig}\r\n\r\n",
                trailers[0].1
            )
            .as_bytes(),
        );
        let got = decode_all_ways(&ChunkAuth::Signed(c), true, &body).unwrap();
        assert_eq!(got.out, data);
        assert_eq!(got.trailers, trailers);
    }
}
