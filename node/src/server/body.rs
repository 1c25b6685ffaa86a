//! Request bodies on the accepting core: moving a body from the socket to the owner core in
//! bounded chunks while verifying everything the client declared about it — Content-MD5,
//! `x-amz-content-sha256`, `x-amz-checksum-*` (header or trailer), and the decoded length —
//! before the owner is told the body is complete. A body that fails any check is aborted:
//! the owner never commits it.

use bytes::Bytes;
use sha2::Digest;

use super::conn::{Body, Conn};
use super::md5lanes;
use crate::constants::{
    BODY_CHUNK_BYTES, POST_FORM_EPILOGUE_BYTES_MAX, POST_FORM_FIELDS_BYTES_MAX,
};
use crate::engine::store::BodyMsg;
use crate::proto::checksum::{self, ChecksumAlgo, Hasher, Md5Hasher};
use crate::proto::error::{S3Error, S3ErrorCode};
use crate::proto::http::RequestHead;
use crate::proto::postform::{Form, FormParser, Progress};
use crate::proto::sigv4::PayloadHash;

/// A verified body: its MD5 and the checksum to store (header name, base64 value).
type Verified = ([u8; 16], Option<(String, String)>);

/// Where the body's MD5 is computed: inline for a body that arrived in one read, else in
/// this core's SIMD lanes together with the other uploads in flight (`md5lanes`).
enum Md5Sink {
    Inline(Md5Hasher),
    Lanes(md5lanes::Stream),
}

/// What the client declared about the body, and running hashes to check it.
pub struct Verifier {
    md5: Md5Sink,
    content_md5: Option<[u8; 16]>,
    sha256: Option<(sha2::Sha256, [u8; 32])>,
    checksum: Option<(Hasher, Option<String>)>,
    decoded_length: Option<u64>,
    pub received: u64,
}

impl Verifier {
    pub fn new(head: &RequestHead, payload: PayloadHash) -> Result<Verifier, S3Error> {
        let content_md5 = match head.header("content-md5") {
            Some(v) => Some(checksum::parse_content_md5(v)?),
            None => None,
        };
        let sha256 = match payload {
            PayloadHash::Sha256(expected) => Some((sha2::Sha256::new(), expected)),
            _ => None,
        };
        let mut checksum = None;
        for algo in ChecksumAlgo::ALL {
            if let Some(value) = head.header(algo.header_name()) {
                algo.decode_value(value)?;
                checksum = Some((Hasher::new(algo), Some(value.to_string())));
            }
        }
        if checksum.is_none() {
            if let Some(trailer) = head.header("x-amz-trailer") {
                let algo = ChecksumAlgo::from_header_name(&trailer.trim().to_ascii_lowercase())
                    .ok_or_else(|| {
                        S3Error::with_message(
                            S3ErrorCode::InvalidRequest,
                            "unsupported x-amz-trailer",
                        )
                    })?;
                checksum = Some((Hasher::new(algo), None));
            }
        }
        let decoded_length = match head.header("x-amz-decoded-content-length") {
            Some(v) => Some(
                v.trim()
                    .parse()
                    .map_err(|_| S3Error::new(S3ErrorCode::InvalidArgument))?,
            ),
            None => None,
        };
        Ok(Verifier {
            md5: Md5Sink::Inline(Md5Hasher::new()),
            content_md5,
            sha256,
            checksum,
            decoded_length,
            received: 0,
        })
    }

    /// The object's size if the client announced it.
    pub fn announced_size(&self, head: &RequestHead, streaming: bool) -> Option<u64> {
        if streaming {
            self.decoded_length
        } else {
            head.content_length().ok().flatten()
        }
    }

    /// Hashes `data` into everything but a lanes MD5 (`pump` queues that itself).
    fn update(&mut self, data: &[u8]) {
        self.received += data.len() as u64;
        if let Md5Sink::Inline(h) = &mut self.md5 {
            h.update(data);
        }
        if let Some((h, _)) = &mut self.sha256 {
            h.update(data);
        }
        if let Some((h, _)) = &mut self.checksum {
            h.update(data);
        }
    }

    /// Checks everything at the end of the body; returns (MD5, stored checksum).
    async fn finish(self, trailers: &[(String, String)]) -> Result<Verified, S3Error> {
        let md5 = match self.md5 {
            Md5Sink::Inline(h) => h.finish(),
            Md5Sink::Lanes(s) => s.finish().await,
        };
        if let Some(expected) = self.decoded_length {
            if expected != self.received {
                return Err(S3ErrorCode::IncompleteBody.into());
            }
        }
        if let Some(expected) = self.content_md5 {
            if expected != md5 {
                return Err(S3ErrorCode::BadDigest.into());
            }
        }
        if let Some((hasher, expected)) = self.sha256 {
            let got: [u8; 32] = hasher.finalize().into();
            if got != expected {
                return Err(S3ErrorCode::XAmzContentSHA256Mismatch.into());
            }
        }
        let mut stored = None;
        if let Some((hasher, declared)) = self.checksum {
            let algo = hasher.algo();
            let value = declared.or_else(|| {
                trailers
                    .iter()
                    .find(|(n, _)| n == algo.header_name())
                    .map(|(_, v)| v.clone())
            });
            let value = value.ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidRequest,
                    "the announced checksum trailer is missing",
                )
            })?;
            let got = checksum::to_base64(&hasher.finish());
            if got != value.trim() {
                return Err(S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        algo.name()
                    ),
                ));
            }
            stored = Some((algo.header_name().to_string(), got));
        }
        Ok((md5, stored))
    }
}

/// Moves the body to `tx` in chunks, then sends `End` (or `Abort` with the reason).
/// Returns the verified checksum the client declared (header name, base64 value), so the
/// response can echo it; `Ok(None)` also when the owner stopped reading (its reply says why).
pub async fn pump(
    conn: &mut Conn,
    body: &mut Body,
    mut verifier: Verifier,
    tx: &async_channel::Sender<BodyMsg>,
) -> Result<Option<(String, String)>, S3Error> {
    let mut chunk = Vec::with_capacity(BODY_CHUNK_BYTES);
    loop {
        let more = match body.read(conn, &mut chunk, BODY_CHUNK_BYTES).await {
            Ok(more) => more,
            Err(e) => {
                let _ = tx.send(BodyMsg::Abort(e.clone())).await;
                return Err(e);
            }
        };
        if !chunk.is_empty() {
            // A body that did not arrive in one read is long: hash it in the lanes.
            if more && verifier.received == 0 {
                verifier.md5 = Md5Sink::Lanes(md5lanes::Stream::new());
            }
            verifier.update(&chunk);
            let data = Bytes::from(std::mem::replace(
                &mut chunk,
                Vec::with_capacity(BODY_CHUNK_BYTES),
            ));
            if let Md5Sink::Lanes(s) = &mut verifier.md5 {
                s.update(data.clone()).await;
            }
            if tx.send(BodyMsg::Data(data)).await.is_err() {
                // The owner gave up (it will say why in its reply); stop reading.
                return Ok(None);
            }
        }
        if !more {
            break;
        }
    }
    match verifier.finish(body.trailers()).await {
        Ok((md5, checksum)) => {
            let echoed = checksum.clone();
            let _ = tx.send(BodyMsg::End { md5, checksum }).await;
            Ok(echoed)
        }
        Err(e) => {
            let _ = tx.send(BodyMsg::Abort(e.clone())).await;
            Err(e)
        }
    }
}

/// Reads a small body (an XML document) whole, verifying it.
pub async fn read_small(
    conn: &mut Conn,
    body: &mut Body,
    mut verifier: Verifier,
    limit: usize,
) -> Result<Vec<u8>, S3Error> {
    let mut out = Vec::new();
    while body.read(conn, &mut out, 64 * 1024).await? {
        if out.len() > limit {
            return Err(S3ErrorCode::MaxMessageLengthExceeded.into());
        }
    }
    verifier.update(&out);
    verifier.finish(body.trailers()).await?;
    Ok(out)
}

/// Reads a browser form upload (POST Object) up to its file: returns the fields, and the
/// bytes read past them (the file's first bytes). Reads no more than the parser allows
/// before the file (`POST_FORM_FIELDS_BYTES_MAX`, plus one read).
pub async fn read_form_fields(
    conn: &mut Conn,
    body: &mut Body,
    parser: &mut FormParser,
) -> Result<(Form, Vec<u8>), S3Error> {
    let mut chunk = Vec::with_capacity(POST_FORM_FIELDS_BYTES_MAX);
    loop {
        chunk.clear();
        let more = body
            .read(conn, &mut chunk, POST_FORM_FIELDS_BYTES_MAX)
            .await?;
        if let Progress::At(n) = parser.feed_fields(&chunk)? {
            return Ok((parser.take_form(), chunk.split_off(n)));
        }
        if !more {
            return Err(parser.ended_early());
        }
    }
}

/// Moves the file of a browser form upload to `tx`, as `pump` moves a PUT body: `first`
/// (read with the fields), then the body up to the delimiter that ends the file. The file's
/// length must be within `length` (the policy's `content-length-range`: `EntityTooLarge` as
/// soon as it is exceeded, `EntityTooSmall` at the end), and the body must reach that
/// delimiter, else the upload is aborted: nothing partial is ever committed. What follows the
/// file (at most `POST_FORM_EPILOGUE_BYTES_MAX`) is read and dropped.
pub async fn pump_form(
    conn: &mut Conn,
    body: &mut Body,
    parser: &mut FormParser,
    first: Vec<u8>,
    verifier: Verifier,
    length: (u64, u64),
    tx: &async_channel::Sender<BodyMsg>,
) -> Result<(), S3Error> {
    match pump_file(conn, body, parser, first, verifier, length, tx).await {
        Ok(Some((md5, checksum))) => {
            let _ = tx.send(BodyMsg::End { md5, checksum }).await;
            Ok(())
        }
        // The owner gave up; its reply says why.
        Ok(None) => Ok(()),
        Err(e) => {
            let _ = tx.send(BodyMsg::Abort(e.clone())).await;
            Err(e)
        }
    }
}

async fn pump_file(
    conn: &mut Conn,
    body: &mut Body,
    parser: &mut FormParser,
    first: Vec<u8>,
    mut verifier: Verifier,
    (min, max): (u64, u64),
    tx: &async_channel::Sender<BodyMsg>,
) -> Result<Option<Verified>, S3Error> {
    let mut raw = first;
    let mut out = Vec::with_capacity(BODY_CHUNK_BYTES);
    loop {
        let ended = matches!(parser.feed_file(&raw, &mut out)?, Progress::At(_));
        if !out.is_empty() {
            // A file that did not arrive in one read is long: hash it in the lanes.
            if !ended && verifier.received == 0 {
                verifier.md5 = Md5Sink::Lanes(md5lanes::Stream::new());
            }
            verifier.update(&out);
            if verifier.received > max {
                return Err(S3ErrorCode::EntityTooLarge.into());
            }
            let data = Bytes::from(std::mem::replace(
                &mut out,
                Vec::with_capacity(BODY_CHUNK_BYTES),
            ));
            if let Md5Sink::Lanes(s) = &mut verifier.md5 {
                s.update(data.clone()).await;
            }
            if tx.send(BodyMsg::Data(data)).await.is_err() {
                return Ok(None);
            }
        }
        if ended {
            break;
        }
        if body.is_done() {
            // The body ended before the delimiter that closes the file: cut short.
            return Err(S3ErrorCode::IncompleteBody.into());
        }
        raw.clear();
        body.read(conn, &mut raw, BODY_CHUNK_BYTES).await?;
    }
    if verifier.received < min {
        return Err(S3ErrorCode::EntityTooSmall.into());
    }
    // Fields after the file mean nothing (S3 ignores them); reading them keeps the
    // connection usable. A longer or broken rest only costs the connection.
    let mut drained = 0;
    while !body.is_done() && drained <= POST_FORM_EPILOGUE_BYTES_MAX {
        raw.clear();
        if body.read(conn, &mut raw, BODY_CHUNK_BYTES).await.is_err() {
            break;
        }
        drained += raw.len();
    }
    verifier.finish(&[]).await.map(Some)
}
