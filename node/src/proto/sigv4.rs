//! Server-side AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for S3: the `Authorization` header
//! form, the presigned-URL (query) form, and the per-chunk / trailer signatures of
//! `aws-chunked` uploads.
//!
//! Owns: parsing the credential and signature, rebuilding the canonical request exactly as S3
//! defines it (S3 URI-encodes the path once and never normalizes it), checking time bounds, and
//! comparing signatures in constant time.
//! Must not: do I/O, read the clock (the caller passes `now_unix`) or store secrets; hash the
//! body (with [`PayloadHash::Sha256`] the caller must hash the body and compare).
//! Invariants: no input panics; every refusal is an [`S3Error`] with the code S3 uses; a
//! request is accepted only if the signature it carries equals the one computed here.
//!
//! Choices where S3 leaves room:
//! * Only the configured region is accepted in the credential scope; any other is
//!   `AuthorizationHeaderMalformed` (`AuthorizationQueryParametersError` for presigned URLs).
//! * Signature V2 (`Authorization: AWS ...` or `?AWSAccessKeyId=...&Signature=...`) is
//!   recognised first and verified by [`crate::proto::sigv2`], with the same [`AuthOutcome`];
//!   SigV4a (`AWS4-ECDSA-P256-SHA256`) is `NotImplemented`.
//! * In the canonical query a `+` decodes to a space (form encoding), as the AWS SDK for Rust
//!   and MinIO do; SDKs that sign themselves always send `%20` and `%2B`, so they agree.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::proto::error::{S3Error, S3ErrorCode};
use crate::proto::{sigv2, time};

/// The only signing algorithm we accept.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Largest difference between the request's time and ours for header-signed requests, and how
/// far in the future a presigned URL's `X-Amz-Date` may be.
pub const CLOCK_SKEW_MAX_SECS: i64 = 15 * 60;
/// Longest validity of a presigned URL (seven days), as S3 allows.
pub const PRESIGN_EXPIRES_MAX_SECS: i64 = 604_800;
/// Most headers a request may sign.
pub const SIGNED_HEADERS_MAX: usize = 128;
/// Most query parameters we canonicalize.
pub const QUERY_PARAMS_MAX: usize = 1024;
/// The only service in the scope.
pub const SERVICE: &str = "s3";
/// Hex SHA-256 of the empty string, used in chunk string-to-sign.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
const SCOPE_TERMINATOR: &str = "aws4_request";

/// The parts of a request that SigV4 covers. Header names may be in any case.
#[derive(Clone, Copy, Debug)]
pub struct AuthRequest<'a> {
    pub method: &'a str,
    /// The path as sent, still percent-encoded, without the query.
    pub raw_path: &'a str,
    /// The query as sent, without `?`.
    pub raw_query: &'a str,
    pub headers: &'a [(String, String)],
}

/// What the client declared about the body in `x-amz-content-sha256`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadHash {
    /// `UNSIGNED-PAYLOAD` (always the case for presigned URLs without the header).
    Unsigned,
    /// The body's SHA-256: the caller must hash the body and answer
    /// `XAmzContentSHA256Mismatch` if it differs.
    Sha256([u8; 32]),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, every chunk signed.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: aws-chunked, chunks and trailer signed.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, nothing signed after the head.
    StreamingUnsignedTrailer,
}

/// What verifying aws-chunked signatures needs from the request's signature.
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkSigningContext {
    pub signing_key: [u8; 32],
    /// The request's signature (lowercase hex): the "previous signature" of the first chunk.
    pub seed_signature: String,
    /// The request time as signed, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// `date/region/s3/aws4_request`.
    pub scope: String,
}

impl std::fmt::Debug for ChunkSigningContext {
    // The signing key is as good as the secret for a day: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSigningContext")
            .field("signing_key", &"<redacted>")
            .field("seed_signature", &self.seed_signature)
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .finish()
    }
}

/// An authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthOutcome {
    pub access_key: String,
    pub payload: PayloadHash,
    /// Present exactly for [`PayloadHash::StreamingSigned`] and
    /// [`PayloadHash::StreamingSignedTrailer`].
    pub chunk_ctx: Option<ChunkSigningContext>,
}

type HmacSha256 = Hmac<Sha256>;

/// A query parameter, name and value percent-decoded.
type QueryParam = (Vec<u8>, Vec<u8>);

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC is defined for keys of every length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The SigV4 signing key: HMAC chain over date (`YYYYMMDD`), region, service, `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, SCOPE_TERMINATOR.as_bytes())
}

/// The signature of one aws-chunked chunk (lowercase hex), given the previous signature (the
/// seed for the first chunk) and the SHA-256 of the chunk's data (of nothing for the last).
pub fn chunk_signature(
    ctx: &ChunkSigningContext,
    prev_signature: &str,
    chunk_data_sha256: &[u8; 32],
) -> String {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}",
        ctx.amz_date,
        ctx.scope,
        prev_signature,
        EMPTY_SHA256_HEX,
        hex::encode(chunk_data_sha256)
    );
    hex::encode(hmac_sha256(&ctx.signing_key, string_to_sign.as_bytes()))
}

/// The signature of an aws-chunked trailer (lowercase hex). `trailer_bytes` is the canonical
/// trailer: see [`canonical_trailers`]. `prev_signature` is the final (zero) chunk's.
pub fn trailer_signature(
    ctx: &ChunkSigningContext,
    prev_signature: &str,
    trailer_bytes: &[u8],
) -> String {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
        ctx.amz_date,
        ctx.scope,
        prev_signature,
        sha256_hex(trailer_bytes)
    );
    hex::encode(hmac_sha256(&ctx.signing_key, string_to_sign.as_bytes()))
}

/// The bytes a trailer signature covers: `name:value\n` per trailer (the signature trailer
/// excluded), names lowercase, values trimmed, sorted by name.
pub fn canonical_trailers(trailers: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<(String, &str)> = trailers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
        .collect();
    sorted.sort();
    let mut out = Vec::new();
    for (name, value) in sorted {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Compares two hex signatures in constant time (case-insensitively); `false` if either is
/// not 64 hex digits.
pub fn signatures_equal(a: &str, b: &str) -> bool {
    match (decode_signature(a), decode_signature(b)) {
        (Some(a), Some(b)) => a.ct_eq(&b).into(),
        _ => false,
    }
}

fn decode_signature(hex_sig: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_sig, &mut out).ok()?;
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// URI encoding.

/// Everything but the unreserved characters `A-Za-z0-9-._~` is encoded.
const ENCODE_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// As [`ENCODE_SET`], keeping `/` (for the path).
const ENCODE_SET_PATH: &percent_encoding::AsciiSet = &ENCODE_SET.remove(b'/');

/// Percent-decodes `s`. Invalid escapes are kept literally (they re-encode as `%25..`).
fn uri_decode(s: &str, plus_as_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex_pair = b.get(i + 1..i + 3).and_then(|h| {
            let h = std::str::from_utf8(h).ok()?;
            u8::from_str_radix(h, 16)
                .ok()
                .filter(|_| h.bytes().all(|c| c.is_ascii_hexdigit()))
        });
        match (b[i], hex_pair) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'+', _) if plus_as_space => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    out
}

fn uri_encode(bytes: &[u8], set: &'static percent_encoding::AsciiSet) -> String {
    percent_encoding::percent_encode(bytes, set).to_string()
}

/// S3's canonical URI: the decoded path re-encoded once, `/` kept, nothing normalized.
fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    uri_encode(&uri_decode(raw_path, false), ENCODE_SET_PATH)
}

/// The query's parameters, decoded. A parameter without `=` has an empty value.
fn query_params(raw_query: &str) -> Result<Vec<QueryParam>, S3Error> {
    let mut params = Vec::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        if params.len() == QUERY_PARAMS_MAX {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Too many query parameters.",
            ));
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((uri_decode(name, true), uri_decode(value, true)));
    }
    Ok(params)
}

/// The canonical query string: names and values re-encoded, sorted by name then value.
fn canonical_query(params: &[QueryParam], skip_signature: bool) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| !(skip_signature && name == b"X-Amz-Signature"))
        .map(|(n, v)| (uri_encode(n, ENCODE_SET), uri_encode(v, ENCODE_SET)))
        .collect();
    encoded.sort();
    let parts: Vec<String> = encoded
        .into_iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    parts.join("&")
}

// ---------------------------------------------------------------------------------------------
// Canonical request.

fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `name:value\n` for each signed header, in the signed order; repeated fields joined with
/// `,`, each value trimmed with inner whitespace runs collapsed to one space.
fn canonical_headers(headers: &[(String, String)], signed: &[&str]) -> String {
    let mut out = String::new();
    for name in signed {
        out.push_str(name);
        out.push(':');
        let values: Vec<String> = header_values(headers, name)
            .map(|v| v.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

/// Everything the signature covers besides the request itself.
struct Signed<'a> {
    params: &'a [QueryParam],
    presigned: bool,
    signed_headers: &'a [&'a str],
    payload_hash: &'a str,
}

fn canonical_request(req: &AuthRequest, s: &Signed) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.raw_path),
        canonical_query(s.params, s.presigned),
        canonical_headers(req.headers, s.signed_headers),
        s.signed_headers.join(";"),
        s.payload_hash
    )
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

// ---------------------------------------------------------------------------------------------
// Parsing the two forms.

/// Which form the credentials came in; errors are worded per form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Header,
    Query,
}

impl Form {
    fn malformed(self, message: impl Into<String>) -> S3Error {
        let message = message.into();
        match self {
            Form::Header => S3Error::with_message(
                S3ErrorCode::AuthorizationHeaderMalformed,
                format!("The authorization header is malformed; {message}"),
            ),
            Form::Query => S3Error::with_message(
                S3ErrorCode::AuthorizationQueryParametersError,
                format!("Error parsing the X-Amz-Credential parameter; {message}"),
            ),
        }
    }
}

/// `AK/YYYYMMDD/region/s3/aws4_request`, validated against our region.
struct Credential {
    access_key: String,
    date: String,
}

fn parse_credential(s: &str, form: Form, region: &str) -> Result<Credential, S3Error> {
    // Split from the right: the scope has exactly four parts, the key is the rest.
    let mut parts = s.rsplitn(5, '/');
    let (Some(term), Some(service), Some(cred_region), Some(date), Some(access_key)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(form.malformed(format!(
            "the Credential '{s}' is not of the form AK/date/region/s3/aws4_request"
        )));
    };
    if access_key.is_empty() {
        return Err(form.malformed("the access key is empty"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(form.malformed(format!("invalid credential date '{date}'")));
    }
    if cred_region != region {
        return Err(form.malformed(format!(
            "the region '{cred_region}' is wrong; expecting '{region}'"
        )));
    }
    if service != SERVICE {
        return Err(form.malformed(format!(
            "incorrect service '{service}'. This endpoint belongs to '{SERVICE}'."
        )));
    }
    if term != SCOPE_TERMINATOR {
        return Err(form.malformed(format!(
            "incorrect terminal '{term}'. This endpoint uses '{SCOPE_TERMINATOR}'."
        )));
    }
    Ok(Credential {
        access_key: access_key.to_owned(),
        date: date.to_owned(),
    })
}

fn parse_signed_headers(s: &str, form: Form) -> Result<Vec<&str>, S3Error> {
    let names: Vec<&str> = s.split(';').collect();
    if names.len() > SIGNED_HEADERS_MAX {
        return Err(form.malformed("too many signed headers"));
    }
    for (i, name) in names.iter().enumerate() {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            return Err(form.malformed(format!("invalid SignedHeaders '{s}'")));
        }
        if names[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(form.malformed("a header is signed twice"));
        }
    }
    if !names.iter().any(|n| n.eq_ignore_ascii_case("host")) {
        return Err(form.malformed("the host header must be signed"));
    }
    Ok(names)
}

fn parse_signature_hex(s: &str, form: Form) -> Result<[u8; 32], S3Error> {
    match decode_signature(s) {
        Some(sig) if s.len() == 64 => Ok(sig),
        _ => Err(form.malformed("the signature must be 64 hexadecimal digits")),
    }
}

/// The credentials of a request, either form, before the secret is known.
struct Claim<'a> {
    form: Form,
    credential: Credential,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
    /// `YYYYMMDDTHHMMSSZ` as signed.
    amz_date: String,
    request_time: i64,
    /// Presigned only: seconds of validity.
    expires_secs: Option<i64>,
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`, tolerating any
/// mix of commas and spaces between the three components, in any order.
fn parse_authorization_header<'a>(
    value: &'a str,
    headers: &[(String, String)],
    region: &str,
) -> Result<Claim<'a>, S3Error> {
    let form = Form::Header;
    let rest = value.strip_prefix(ALGORITHM).unwrap_or("");
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
        let (key, val) = part
            .split_once('=')
            .ok_or_else(|| form.malformed(format!("'{part}' is not of the form key=value")))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(form.malformed(format!("unknown component '{key}'"))),
        };
        if slot.replace(val).is_some() {
            return Err(form.malformed(format!("'{key}' is given twice")));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(form.malformed("Credential, SignedHeaders and Signature are all required"));
    };
    let credential = parse_credential(credential, form, region)?;
    let signed_headers = parse_signed_headers(signed, form)?;
    let signature = parse_signature_hex(signature, form)?;
    let (amz_date, request_time) = header_request_time(headers)?;
    Ok(Claim {
        form,
        credential,
        signed_headers,
        signature,
        amz_date,
        request_time,
        expires_secs: None,
    })
}

/// The time a header-signed request claims: `x-amz-date`, else `Date`.
fn header_request_time(headers: &[(String, String)]) -> Result<(String, i64), S3Error> {
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    };
    if let Some(amz) = header(headers, "x-amz-date") {
        let t = time::amz_date_parse(amz).ok_or_else(invalid)?;
        return Ok((amz.to_owned(), t));
    }
    let date = header(headers, "date").ok_or_else(invalid)?;
    let t = time::http_date_parse(date).ok_or_else(invalid)?;
    Ok((time::amz_date(t), t))
}

/// The decoded value of query parameter `name`, which must appear at most once.
fn query_value<'p>(params: &'p [QueryParam], name: &str) -> Result<Option<&'p str>, S3Error> {
    let mut found = params.iter().filter(|(n, _)| n == name.as_bytes());
    let first = found.next();
    if found.next().is_some() {
        return Err(S3Error::with_message(
            S3ErrorCode::AuthorizationQueryParametersError,
            format!("{name} is given more than once."),
        ));
    }
    first
        .map(|(_, v)| std::str::from_utf8(v))
        .transpose()
        .map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::AuthorizationQueryParametersError,
                format!("{name} is not valid UTF-8."),
            )
        })
}

/// Parses the presigned-URL parameters.
fn parse_presigned<'p>(params: &'p [QueryParam], region: &str) -> Result<Claim<'p>, S3Error> {
    let form = Form::Query;
    let query_error = |message: &'static str| {
        S3Error::with_message(S3ErrorCode::AuthorizationQueryParametersError, message)
    };
    let fields = (
        query_value(params, "X-Amz-Algorithm")?,
        query_value(params, "X-Amz-Credential")?,
        query_value(params, "X-Amz-Date")?,
        query_value(params, "X-Amz-Expires")?,
        query_value(params, "X-Amz-SignedHeaders")?,
        query_value(params, "X-Amz-Signature")?,
    );
    let (Some(algorithm), Some(credential), Some(date), Some(expires), Some(signed), Some(sig)) =
        fields
    else {
        return Err(query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, \
             X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and \
             X-Amz-Expires parameters.",
        ));
    };
    check_algorithm(algorithm, form)?;
    let credential = parse_credential(credential, form, region)?;
    let request_time = time::amz_date_parse(date).ok_or_else(|| {
        query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    })?;
    let expires_secs = expires
        .parse::<i64>()
        .ok()
        .filter(|_| expires.bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| (0..=PRESIGN_EXPIRES_MAX_SECS).contains(e))
        .ok_or_else(|| {
            query_error("X-Amz-Expires must be a number of seconds from 0 to 604800 (seven days).")
        })?;
    Ok(Claim {
        form,
        credential,
        signed_headers: parse_signed_headers(signed, form)?,
        signature: parse_signature_hex(sig, form)?,
        amz_date: date.to_owned(),
        request_time,
        expires_secs: Some(expires_secs),
    })
}

fn check_algorithm(algorithm: &str, form: Form) -> Result<(), S3Error> {
    if algorithm == ALGORITHM {
        Ok(())
    } else if algorithm.starts_with("AWS4-ECDSA-P256-SHA256") {
        Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Signature Version 4A is not supported.",
        ))
    } else if form == Form::Query {
        Err(S3Error::with_message(
            S3ErrorCode::AuthorizationQueryParametersError,
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ))
    } else {
        Err(S3Error::new(S3ErrorCode::AccessDenied))
    }
}

/// V2 credentials that [`sigv2::is_v2`] did not route to V2 (a percent-encoded
/// `AWSAccessKeyId` name) are refused rather than read as V4.
fn unsupported_v2() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidRequest,
        "The authorization mechanism you have provided is not supported. \
         Please use AWS4-HMAC-SHA256.",
    )
}

/// The time window: skew for header-signed requests, not-yet-valid and expiry for presigned.
fn check_time(claim: &Claim, now_unix: i64) -> Result<(), S3Error> {
    if claim.amz_date.get(..8) != Some(claim.credential.date.as_str()) {
        return Err(claim
            .form
            .malformed("Invalid credential date. Date is not the same as X-Amz-Date."));
    }
    match claim.expires_secs {
        None if (claim.request_time - now_unix).abs() > CLOCK_SKEW_MAX_SECS => {
            Err(S3Error::new(S3ErrorCode::RequestTimeTooSkewed))
        }
        None => Ok(()),
        Some(_) if claim.request_time - now_unix > CLOCK_SKEW_MAX_SECS => Err(
            S3Error::with_message(S3ErrorCode::AccessDenied, "Request is not valid yet"),
        ),
        // Valid through the second X-Amz-Date + X-Amz-Expires. `X-Amz-Expires=0` is a
        // well-formed URL that has already expired: 403, as S3 answers, not a malformed 400.
        Some(expires) if expires == 0 || now_unix > claim.request_time.saturating_add(expires) => {
            Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Request has expired",
            ))
        }
        Some(_) => Ok(()),
    }
}

/// Interprets `x-amz-content-sha256`.
pub(crate) fn parse_payload_hash(value: &str) -> Result<PayloadHash, S3Error> {
    match value {
        UNSIGNED_PAYLOAD => Ok(PayloadHash::Unsigned),
        STREAMING_SIGNED => Ok(PayloadHash::StreamingSigned),
        STREAMING_SIGNED_TRAILER => Ok(PayloadHash::StreamingSignedTrailer),
        STREAMING_UNSIGNED_TRAILER => Ok(PayloadHash::StreamingUnsignedTrailer),
        v if v.starts_with("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") => Err(
            S3Error::with_message(S3ErrorCode::NotImplemented, "Signature Version 4A is not supported."),
        ),
        v => match decode_signature(v) {
            Some(digest) if v.len() == 64 => Ok(PayloadHash::Sha256(digest)),
            _ => Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, \
                 STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, \
                 or a valid sha256 value.",
            )),
        },
    }
}

/// Headers that must appear at most once: a second copy could make the value we check differ
/// from the value another layer acts on.
const SINGLE_HEADERS: [&str; 3] = ["authorization", "x-amz-content-sha256", "x-amz-date"];

/// Finds the credentials in the `Authorization` header or the query, and parses them.
fn parse_claim<'a>(
    req: &AuthRequest<'a>,
    params: &'a [QueryParam],
    region: &str,
) -> Result<Claim<'a>, S3Error> {
    for name in SINGLE_HEADERS {
        if header_values(req.headers, name).nth(1).is_some() {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("The {name} header may be given only once."),
            ));
        }
    }
    let presigned = params.iter().any(|(n, _)| {
        n == b"X-Amz-Algorithm" || n == b"X-Amz-Signature" || n == b"X-Amz-Credential"
    });
    match (header(req.headers, "authorization"), presigned) {
        (Some(_), true) => Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        )),
        (Some(value), false) => match value.split([' ', '\t', ',']).next().unwrap_or("") {
            ALGORITHM => parse_authorization_header(value, req.headers, region),
            "AWS" => Err(unsupported_v2()),
            other => {
                check_algorithm(other, Form::Header)?;
                Err(S3Error::new(S3ErrorCode::AccessDenied))
            }
        },
        (None, true) => parse_presigned(params, region),
        (None, false) if params.iter().any(|(n, _)| n == b"AWSAccessKeyId") => {
            Err(unsupported_v2())
        }
        (None, false) => Err(S3Error::new(S3ErrorCode::AccessDenied)),
    }
}

/// The payload hash line of the canonical request, and what it means for the body.
fn claimed_payload(
    headers: &[(String, String)],
    form: Form,
) -> Result<(&str, PayloadHash), S3Error> {
    let value = match (form, header(headers, "x-amz-content-sha256")) {
        (_, Some(value)) => value,
        // Presigned URLs cannot sign the body: they sign the literal UNSIGNED-PAYLOAD.
        (Form::Query, None) => UNSIGNED_PAYLOAD,
        (Form::Header, None) => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Missing required header for this request: x-amz-content-sha256",
            ))
        }
    };
    Ok((value, parse_payload_hash(value)?))
}

/// Query parameters that make a request presigned (Signature V4 or V2).
const PRESIGN_PARAMS: [&str; 5] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "AWSAccessKeyId",
    "Signature",
];

/// Whether `req` carries no credentials at all: no `Authorization` header (not even an empty
/// one) and none of the query parameters of a presigned URL. Only such a request is
/// anonymous; any other is verified, and a failed verification is never taken for anonymous.
pub fn is_anonymous(req: &AuthRequest) -> bool {
    header(req.headers, "authorization").is_none()
        && !req.raw_query.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            PRESIGN_PARAMS.contains(&name.as_ref())
        })
}

/// The outcome for an anonymous request (see [`is_anonymous`]): no access key, and the body
/// as `x-amz-content-sha256` describes it (a SHA-256 is still checked, unsigned aws-chunked
/// is decoded); signed streaming needs a signing key, so it is `403 AccessDenied`.
pub fn anonymous_outcome(headers: &[(String, String)]) -> Result<AuthOutcome, S3Error> {
    let payload = match header(headers, "x-amz-content-sha256") {
        None => PayloadHash::Unsigned,
        Some(value) => parse_payload_hash(value)?,
    };
    if matches!(
        payload,
        PayloadHash::StreamingSigned | PayloadHash::StreamingSignedTrailer
    ) {
        return Err(S3Error::new(S3ErrorCode::AccessDenied));
    }
    Ok(AuthOutcome {
        access_key: String::new(),
        payload,
        chunk_ctx: None,
    })
}

/// Verifies the SigV4 signature of `req`, or its Signature V2 read path-style: a node with an
/// S3 domain (`--domain`) must call [`verify_with_domain`] instead, as V2 does not sign the
/// `Host` and a virtual-hosted request would be checked as another resource.
///
/// `lookup_secret` maps an access key to its secret; `now_unix` is the server's clock;
/// `region` the one region this node answers for. On success, the caller still has to check
/// the body against [`AuthOutcome::payload`] (hash it, or decode aws-chunked with the
/// signing context).
///
/// Checks run cheapest first: syntax, then the time window, then the key, then the HMACs.
pub fn verify(
    req: &AuthRequest,
    lookup_secret: impl Fn(&str) -> Option<String>,
    now_unix: i64,
    region: &str,
) -> Result<AuthOutcome, S3Error> {
    verify_with_domain(req, lookup_secret, now_unix, region, None)
}

/// As [`verify`], given the S3 domain (`--domain`) that makes a `Host` of `<bucket>.<domain>`
/// virtual-hosted style, exactly as given to the router. SigV4 does not need it (it signs the
/// `Host`); Signature V2 signs the bucket of a virtual-hosted request in its resource instead.
pub fn verify_with_domain(
    req: &AuthRequest,
    lookup_secret: impl Fn(&str) -> Option<String>,
    now_unix: i64,
    region: &str,
    domain: Option<&str>,
) -> Result<AuthOutcome, S3Error> {
    if sigv2::is_v2(req) {
        let bucket = sigv2::virtual_host_bucket(header(req.headers, "host"), domain);
        return sigv2::verify(req, lookup_secret, now_unix, bucket.as_deref());
    }
    let params = query_params(req.raw_query)?;
    let claim = parse_claim(req, &params, region)?;
    check_time(&claim, now_unix)?;
    let (payload_hash, payload) = claimed_payload(req.headers, claim.form)?;

    let access_key = claim.credential.access_key.as_str();
    let secret =
        lookup_secret(access_key).ok_or_else(|| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?;
    let date = claim.credential.date.as_str();
    let key = signing_key(&secret, date, region, SERVICE);
    let scope = format!("{date}/{region}/{SERVICE}/{SCOPE_TERMINATOR}");
    let signed = Signed {
        params: &params,
        presigned: claim.form == Form::Query,
        signed_headers: &claim.signed_headers,
        payload_hash,
    };
    let creq = canonical_request(req, &signed);
    let sts = string_to_sign(&claim.amz_date, &scope, &creq);
    let computed = hmac_sha256(&key, sts.as_bytes());
    if !bool::from(computed.ct_eq(&claim.signature)) {
        return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
    }

    let streaming_signed = matches!(
        payload,
        PayloadHash::StreamingSigned | PayloadHash::StreamingSignedTrailer
    );
    let chunk_ctx = streaming_signed.then(|| ChunkSigningContext {
        signing_key: key,
        seed_signature: hex::encode(computed),
        amz_date: claim.amz_date.clone(),
        scope,
    });
    Ok(AuthOutcome {
        access_key: access_key.to_owned(),
        payload,
        chunk_ctx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_means_no_credentials_at_all() {
        let anonymous = |headers: &[(String, String)], query: &str| {
            is_anonymous(&AuthRequest {
                method: "GET",
                raw_path: "/b/k",
                raw_query: query,
                headers,
            })
        };
        let empty_auth = vec![("authorization".to_string(), String::new())];
        assert!(anonymous(&[], ""));
        assert!(anonymous(&[], "list-type=2&prefix=a"));
        assert!(!anonymous(&empty_auth, ""));
        assert!(!anonymous(&[], "X-Amz-Signature=00"));
        assert!(!anonymous(&[], "a=1&X-Amz-Credential=x"));
        assert!(!anonymous(&[], "AWSAccessKeyId=AK&Expires=1&Signature=s"));
        assert!(!anonymous(&[], "X%2DAmz%2DAlgorithm=AWS4-HMAC-SHA256"));
        let streaming: Vec<(String, String)> = vec![(
            "x-amz-content-sha256".to_string(),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_string(),
        )];
        assert_eq!(
            anonymous_outcome(&streaming).unwrap_err().code,
            S3ErrorCode::AccessDenied
        );
        assert_eq!(
            anonymous_outcome(&[]).unwrap().payload,
            PayloadHash::Unsigned
        );
    }

    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const REGION: &str = "us-east-1";
    /// 20130524T000000Z.
    const NOW: i64 = 1_369_353_600;

    fn lookup(ak: &str) -> Option<String> {
        (ak == AK).then(|| SECRET.to_owned())
    }

    fn hdrs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn auth_header(signed: &str, sig: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={sig}")
    }

    /// An AWS documentation example: request parts and the published signature.
    struct Example {
        name: &'static str,
        method: &'static str,
        path: &'static str,
        query: &'static str,
        headers: &'static [(&'static str, &'static str)],
        signed: &'static str,
        signature: &'static str,
        payload: PayloadHash,
    }

    const EMPTY_SHA: [u8; 32] = [
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9,
        0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52,
        0xb8, 0x55,
    ];

    const EXAMPLES: &[Example] = &[
        Example {
            name: "GET object",
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256_HEX),
                ("x-amz-date", "20130524T000000Z"),
            ],
            signed: "host;range;x-amz-content-sha256;x-amz-date",
            signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            payload: PayloadHash::Sha256(EMPTY_SHA),
        },
        Example {
            name: "PUT object",
            method: "PUT",
            path: "/test$file.text",
            query: "",
            headers: &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                (
                    "x-amz-content-sha256",
                    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                ),
            ],
            signed: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            payload: PayloadHash::Sha256([
                0x44, 0xce, 0x7d, 0xd6, 0x7c, 0x95, 0x9e, 0x0d, 0x35, 0x24, 0xff, 0xac, 0x17,
                0x71, 0xdf, 0xbb, 0xa8, 0x7d, 0x2b, 0x6b, 0x4b, 0x4e, 0x99, 0xe4, 0x20, 0x34,
                0xa8, 0xb8, 0x03, 0xf8, 0xb0, 0x72,
            ]),
        },
        Example {
            name: "GET bucket lifecycle",
            method: "GET",
            path: "/",
            query: "lifecycle",
            headers: &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", EMPTY_SHA256_HEX),
            ],
            signed: "host;x-amz-content-sha256;x-amz-date",
            signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            payload: PayloadHash::Sha256(EMPTY_SHA),
        },
        Example {
            name: "GET bucket (list objects)",
            method: "GET",
            path: "/",
            query: "max-keys=2&prefix=J",
            headers: &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", EMPTY_SHA256_HEX),
            ],
            signed: "host;x-amz-content-sha256;x-amz-date",
            signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            payload: PayloadHash::Sha256(EMPTY_SHA),
        },
        Example {
            name: "streaming PUT (seed signature)",
            method: "PUT",
            path: "/examplebucket/chunkObject.txt",
            query: "",
            headers: &[
                ("Host", "s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("Content-Encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"),
                ("Content-Length", "66824"),
            ],
            signed: "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
            signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            payload: PayloadHash::StreamingSigned,
        },
        Example {
            name: "streaming PUT with trailer (seed signature)",
            method: "PUT",
            path: "/examplebucket/chunkObject.txt",
            query: "",
            headers: &[
                ("Host", "s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
                ("Content-Encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"),
                ("x-amz-trailer", "x-amz-checksum-crc32c"),
                ("Content-Length", "66824"),
            ],
            signed: "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
            signature: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
            payload: PayloadHash::StreamingSignedTrailer,
        },
    ];

    fn example_headers(ex: &Example, signature: &str) -> Vec<(String, String)> {
        let mut h = hdrs(ex.headers);
        h.push(("Authorization".into(), auth_header(ex.signed, signature)));
        h
    }

    fn verify_headers(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        now: i64,
    ) -> Result<AuthOutcome, S3Error> {
        let req = AuthRequest {
            method,
            raw_path: path,
            raw_query: query,
            headers,
        };
        verify(&req, lookup, now, REGION)
    }

    #[test]
    fn aws_documented_header_examples() {
        for ex in EXAMPLES {
            let headers = example_headers(ex, ex.signature);
            let out = verify_headers(ex.method, ex.path, ex.query, &headers, NOW)
                .unwrap_or_else(|e| panic!("{}: {e}", ex.name));
            assert_eq!(out.access_key, AK);
            assert_eq!(out.payload, ex.payload, "{}", ex.name);
            match &out.chunk_ctx {
                Some(ctx) => {
                    assert_eq!(ctx.seed_signature, ex.signature);
                    assert_eq!(ctx.amz_date, "20130524T000000Z");
                    assert_eq!(ctx.scope, "20130524/us-east-1/s3/aws4_request");
                    assert!(!format!("{ctx:?}").contains(&hex::encode(ctx.signing_key)));
                }
                None => assert!(!matches!(
                    ex.payload,
                    PayloadHash::StreamingSigned | PayloadHash::StreamingSignedTrailer
                )),
            }
        }
    }

    #[test]
    fn canonical_request_of_get_object_example() {
        let ex = &EXAMPLES[0];
        let headers = hdrs(ex.headers);
        let params = query_params(ex.query).unwrap();
        let signed: Vec<&str> = ex.signed.split(';').collect();
        let req = AuthRequest {
            method: ex.method,
            raw_path: ex.path,
            raw_query: "",
            headers: &headers,
        };
        let creq = canonical_request(
            &req,
            &Signed {
                params: &params,
                presigned: false,
                signed_headers: &signed,
                payload_hash: EMPTY_SHA256_HEX,
            },
        );
        let want = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
                    x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
                    x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
                    e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(creq, want);
        let sts = string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &creq,
        );
        assert!(sts.ends_with("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"));
    }

    #[test]
    fn signing_key_of_documentation() {
        // From the AWS SigV4 documentation (IAM example, 20150830, us-east-1, iam).
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn header_auth_variations_are_tolerated() {
        let ex = &EXAMPLES[0];
        let sig = ex.signature;
        let cred = format!("Credential={AK}/20130524/us-east-1/s3/aws4_request");
        let signed = format!("SignedHeaders={}", ex.signed);
        let sig = format!("Signature={sig}");
        let variants = [
            format!("AWS4-HMAC-SHA256 {cred}, {signed}, {sig}"),
            format!("AWS4-HMAC-SHA256 {cred},{signed},{sig}"),
            format!("AWS4-HMAC-SHA256  {cred} ,  {signed} ,{sig}"),
            format!("AWS4-HMAC-SHA256 {cred} {signed} {sig}"),
            format!("AWS4-HMAC-SHA256 {sig}, {cred}, {signed}"),
        ];
        for v in variants {
            let mut h = hdrs(ex.headers);
            h.push(("authorization".into(), v.clone()));
            assert!(verify_headers("GET", ex.path, "", &h, NOW).is_ok(), "{v}");
        }
        // Header names in any case; repeated whitespace inside values collapses.
        let mut h = hdrs(&[
            ("HOST", "examplebucket.s3.amazonaws.com"),
            ("RANGE", "  bytes=0-9  "),
            ("X-AMZ-CONTENT-SHA256", EMPTY_SHA256_HEX),
            ("X-Amz-Date", "20130524T000000Z"),
        ]);
        h.push(("AUTHORIZATION".into(), auth_header(ex.signed, ex.signature)));
        assert!(verify_headers("GET", ex.path, "", &h, NOW).is_ok());
    }

    /// Runs the GET object example with one change and expects `code`.
    fn get_object_with(
        change: impl FnOnce(&mut Vec<(String, String)>, &mut &'static str, &mut &'static str),
        now: i64,
    ) -> Result<AuthOutcome, S3Error> {
        let ex = &EXAMPLES[0];
        let mut headers = example_headers(ex, ex.signature);
        let mut path = ex.path;
        let mut query = ex.query;
        change(&mut headers, &mut path, &mut query);
        verify_headers(ex.method, path, query, &headers, now)
    }

    fn set(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.to_owned(), value.to_owned()));
    }

    #[test]
    fn header_auth_refusals() {
        use S3ErrorCode::*;
        type Change = fn(&mut Vec<(String, String)>, &mut &'static str, &mut &'static str);
        let table: &[(&str, Change, i64, S3ErrorCode)] = &[
            (
                "tampered range",
                |h, _, _| set(h, "range", "bytes=0-99"),
                NOW,
                SignatureDoesNotMatch,
            ),
            (
                "tampered path",
                |_, p, _| *p = "/test.txT",
                NOW,
                SignatureDoesNotMatch,
            ),
            (
                "added query",
                |_, _, q| *q = "acl",
                NOW,
                SignatureDoesNotMatch,
            ),
            (
                "tampered payload hash",
                |h, _, _| set(h, "x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
                NOW,
                SignatureDoesNotMatch,
            ),
            (
                "dropped signed header",
                |h, _, _| h.retain(|(n, _)| n != "Range"),
                NOW,
                SignatureDoesNotMatch,
            ),
            (
                "unknown key",
                |h, _, _| {
                    set(
                        h,
                        "authorization",
                        &auth_header(
                            "host;range;x-amz-content-sha256;x-amz-date",
                            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                        )
                        .replace(AK, "AKIDUNKNOWN"),
                    )
                },
                NOW,
                InvalidAccessKeyId,
            ),
            (
                "no auth",
                |h, _, _| h.retain(|(n, _)| n != "Authorization"),
                NOW,
                AccessDenied,
            ),
            (
                "unknown scheme",
                |h, _, _| set(h, "authorization", "Bearer abc"),
                NOW,
                AccessDenied,
            ),
            (
                "empty authorization",
                |h, _, _| set(h, "authorization", ""),
                NOW,
                AccessDenied,
            ),
            (
                "v2",
                |h, _, _| {
                    set(
                        h,
                        "authorization",
                        "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
                    )
                },
                NOW,
                // Verified as Signature V2 (sigv2), which this one does not match.
                SignatureDoesNotMatch,
            ),
            (
                "sigv4a",
                |h, _, _| set(h, "authorization", "AWS4-ECDSA-P256-SHA256 Credential=x"),
                NOW,
                NotImplemented,
            ),
            (
                "skew past",
                |_, _, _| {},
                NOW + CLOCK_SKEW_MAX_SECS + 1,
                RequestTimeTooSkewed,
            ),
            (
                "skew future",
                |_, _, _| {},
                NOW - CLOCK_SKEW_MAX_SECS - 1,
                RequestTimeTooSkewed,
            ),
            (
                "no date",
                |h, _, _| h.retain(|(n, _)| n != "x-amz-date"),
                NOW,
                AccessDenied,
            ),
            (
                "bad x-amz-date",
                |h, _, _| set(h, "x-amz-date", "2013-05-24"),
                NOW,
                AccessDenied,
            ),
            (
                "no content sha",
                |h, _, _| h.retain(|(n, _)| n != "x-amz-content-sha256"),
                NOW,
                InvalidRequest,
            ),
            (
                "bad content sha",
                |h, _, _| set(h, "x-amz-content-sha256", "abc"),
                NOW,
                InvalidArgument,
            ),
            (
                "two content hashes",
                |h, _, _| h.push(("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into())),
                NOW,
                InvalidArgument,
            ),
            (
                "two dates",
                |h, _, _| h.push(("X-Amz-Date".into(), "20130524T000001Z".into())),
                NOW,
                InvalidArgument,
            ),
            (
                "two authorizations",
                |h, _, _| {
                    let a = h.last().cloned().unwrap();
                    h.push(a)
                },
                NOW,
                InvalidArgument,
            ),
            (
                "header and query",
                |_, _, q| *q = "X-Amz-Signature=abc",
                NOW,
                InvalidArgument,
            ),
        ];
        for (name, change, now, code) in table {
            let got = get_object_with(change, *now);
            assert_eq!(got.map_err(|e| e.code).err(), Some(*code), "{name}");
        }
        // Within the skew window on both sides the example still verifies.
        for now in [NOW - CLOCK_SKEW_MAX_SECS, NOW + CLOCK_SKEW_MAX_SECS] {
            assert!(get_object_with(|_, _, _| {}, now).is_ok());
        }
    }

    #[test]
    fn wrong_secret_does_not_match() {
        let ex = &EXAMPLES[0];
        let headers = example_headers(ex, ex.signature);
        let req = AuthRequest {
            method: "GET",
            raw_path: ex.path,
            raw_query: "",
            headers: &headers,
        };
        let got = verify(&req, |_| Some("another secret".to_owned()), NOW, REGION);
        assert_eq!(got.unwrap_err().code, S3ErrorCode::SignatureDoesNotMatch);
    }

    #[test]
    fn malformed_authorization_headers() {
        let sig = EXAMPLES[0].signature;
        let signed = "host;range;x-amz-content-sha256;x-amz-date";
        let table: Vec<String> = vec![
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-west-2/s3/aws4_request, SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/ec2/aws4_request, SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws5_request, SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130525/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/2013052/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential=20130524/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders={signed}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={}", &sig[..63]),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={}g", &sig[..63]),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders=range;x-amz-date, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;;range, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;host, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={sig}, Extra=1"),
            format!("AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, Credential=x, SignedHeaders={signed}, Signature={sig}"),
            format!("AWS4-HMAC-SHA256 Credential {AK}"),
            "AWS4-HMAC-SHA256".to_owned(),
        ];
        let ex = &EXAMPLES[0];
        for value in table {
            let mut h = hdrs(ex.headers);
            h.push(("authorization".into(), value.clone()));
            let err = verify_headers("GET", ex.path, "", &h, NOW).unwrap_err();
            assert_eq!(
                err.code,
                S3ErrorCode::AuthorizationHeaderMalformed,
                "{value}: {err}"
            );
        }
    }

    const PRESIGNED_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
        &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
        &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

    fn verify_presigned(
        query: &str,
        headers: &[(&str, &str)],
        now: i64,
    ) -> Result<AuthOutcome, S3Error> {
        let headers = hdrs(headers);
        verify_headers("GET", "/test.txt", query, &headers, now)
    }

    #[test]
    fn aws_documented_presigned_example() {
        let host = [("Host", "examplebucket.s3.amazonaws.com")];
        let out = verify_presigned(PRESIGNED_QUERY, &host, NOW + 3600).unwrap();
        assert_eq!(out.access_key, AK);
        assert_eq!(out.payload, PayloadHash::Unsigned);
        assert!(out.chunk_ctx.is_none());
        // Parameter order does not matter.
        let mut parts: Vec<&str> = PRESIGNED_QUERY.split('&').collect();
        parts.reverse();
        assert!(verify_presigned(&parts.join("&"), &host, NOW).is_ok());
        // Valid up to and including the last second.
        assert!(verify_presigned(PRESIGNED_QUERY, &host, NOW + 86_400).is_ok());
        assert!(verify_presigned(PRESIGNED_QUERY, &host, NOW - CLOCK_SKEW_MAX_SECS).is_ok());
    }

    #[test]
    fn presigned_refusals() {
        use S3ErrorCode::*;
        let host: &[(&str, &str)] = &[("Host", "examplebucket.s3.amazonaws.com")];
        let q = PRESIGNED_QUERY;
        type Row<'a> = (
            &'a str,
            String,
            &'a [(&'a str, &'a str)],
            i64,
            S3ErrorCode,
            &'a str,
        );
        let table: Vec<Row> = vec![
            (
                "expired",
                q.to_owned(),
                host,
                NOW + 86_401,
                AccessDenied,
                "Request has expired",
            ),
            (
                "not yet valid",
                q.to_owned(),
                host,
                NOW - CLOCK_SKEW_MAX_SECS - 1,
                AccessDenied,
                "Request is not valid yet",
            ),
            (
                "tampered host",
                q.to_owned(),
                &[("Host", "evil.s3.amazonaws.com")],
                NOW,
                SignatureDoesNotMatch,
                "",
            ),
            (
                "extra param",
                format!("{q}&response-content-type=text/html"),
                host,
                NOW,
                SignatureDoesNotMatch,
                "",
            ),
            (
                "tampered expiry",
                q.replace("Expires=86400", "Expires=86401"),
                host,
                NOW,
                SignatureDoesNotMatch,
                "",
            ),
            (
                "expires too long",
                q.replace("Expires=86400", "Expires=604801"),
                host,
                NOW,
                AuthorizationQueryParametersError,
                "",
            ),
            (
                "expires zero",
                q.replace("Expires=86400", "Expires=0"),
                host,
                NOW,
                AccessDenied,
                "Request has expired",
            ),
            (
                "expires negative",
                q.replace("Expires=86400", "Expires=-7"),
                host,
                NOW,
                AuthorizationQueryParametersError,
                "",
            ),
            (
                "expires signed",
                q.replace("Expires=86400", "Expires=+86400"),
                host,
                NOW,
                AuthorizationQueryParametersError,
                "",
            ),
            (
                "missing signature",
                q.split("&X-Amz-Signature").next().unwrap_or("").to_owned(),
                host,
                NOW,
                AuthorizationQueryParametersError,
                "",
            ),
            (
                "duplicate date",
                format!("{q}&X-Amz-Date=20130524T000000Z"),
                host,
                NOW,
                AuthorizationQueryParametersError,
                "",
            ),
            (
                "bad date",
                q.replace("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130524"),
                host,
                NOW,
                AuthorizationQueryParametersError,
                "",
            ),
            (
                "wrong region",
                q.replace("us-east-1", "eu-west-1"),
                host,
                NOW,
                AuthorizationQueryParametersError,
                "",
            ),
            (
                "wrong algorithm",
                q.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=HMAC"),
                host,
                NOW,
                AuthorizationQueryParametersError,
                "",
            ),
            (
                "unknown key",
                q.replace(AK, "AKIDUNKNOWN"),
                host,
                NOW,
                InvalidAccessKeyId,
                "",
            ),
            (
                // Verified as Signature V2 (sigv2).
                "v2 presigned",
                "AWSAccessKeyId=AK&Expires=1369357200&Signature=abc".to_owned(),
                host,
                NOW,
                InvalidAccessKeyId,
                "",
            ),
            (
                "v2 name percent-encoded",
                "AWSAccess%4BeyId=AK&Expires=1369357200".to_owned(),
                host,
                NOW,
                InvalidRequest,
                "",
            ),
            (
                "payload hash header",
                q.to_owned(),
                &[
                    ("Host", "examplebucket.s3.amazonaws.com"),
                    ("x-amz-content-sha256", EMPTY_SHA256_HEX),
                ],
                NOW,
                SignatureDoesNotMatch,
                "",
            ),
        ];
        for (name, query, headers, now, code, message) in table {
            let err = verify_presigned(&query, headers, now).unwrap_err();
            assert_eq!(err.code, code, "{name}: {err}");
            assert!(err.message.contains(message), "{name}: {err}");
        }
    }

    #[test]
    fn canonical_uri_table() {
        let table: &[(&str, &str)] = &[
            ("", "/"),
            ("/", "/"),
            ("/test.txt", "/test.txt"),
            ("/test$file.text", "/test%24file.text"),
            ("/test%24file.text", "/test%24file.text"),
            ("/a%20b/c+d", "/a%20b/c%2Bd"),
            ("/a b", "/a%20b"),
            ("//double//slash/", "//double//slash/"),
            ("/./a/../b", "/./a/../b"),
            ("/%7Euser/~x", "/~user/~x"),
            ("/caf%C3%A9", "/caf%C3%A9"),
            ("/caf\u{e9}", "/caf%C3%A9"),
            ("/100%", "/100%25"),
            ("/%zz", "/%25zz"),
            ("/a%2fb", "/a/b"),
            ("/k=v&x:y@z", "/k%3Dv%26x%3Ay%40z"),
        ];
        for (raw, want) in table {
            assert_eq!(canonical_uri(raw), *want, "{raw}");
        }
    }

    #[test]
    fn canonical_query_table() {
        let table: &[(&str, &str)] = &[
            ("", ""),
            ("lifecycle", "lifecycle="),
            ("max-keys=2&prefix=J", "max-keys=2&prefix=J"),
            ("prefix=J&max-keys=2", "max-keys=2&prefix=J"),
            ("a=2&a=1&b", "a=1&a=2&b="),
            ("uploads&prefix=a%2Fb", "prefix=a%2Fb&uploads="),
            ("prefix=a/b", "prefix=a%2Fb"),
            ("prefix=a+b", "prefix=a%20b"),
            ("prefix=a%2Bb", "prefix=a%2Bb"),
            ("prefix=%7e", "prefix=~"),
            ("delimiter=%2F&&x=", "delimiter=%2F&x="),
            ("A=1&a=1&_=1&Z=1", "A=1&Z=1&_=1&a=1"),
            ("k=caf%C3%A9", "k=caf%C3%A9"),
            ("X-Amz-Signature=abc&x=1", "X-Amz-Signature=abc&x=1"),
        ];
        for (raw, want) in table {
            let params = query_params(raw).unwrap();
            assert_eq!(canonical_query(&params, false), *want, "{raw}");
        }
        let params = query_params("X-Amz-Signature=abc&x=1").unwrap();
        assert_eq!(canonical_query(&params, true), "x=1");
        let many = vec!["a=1"; QUERY_PARAMS_MAX + 1].join("&");
        assert!(query_params(&many).is_err());
    }

    #[test]
    fn canonical_headers_collapse_whitespace_and_join_repeats() {
        let headers = hdrs(&[
            ("X-Amz-Meta-A", "  one   two\tthree "),
            ("x-amz-meta-b", "1"),
            ("X-AMZ-META-B", "2"),
            ("host", "h"),
        ]);
        let got = canonical_headers(
            &headers,
            &["host", "x-amz-meta-a", "x-amz-meta-b", "x-missing"],
        );
        assert_eq!(
            got,
            "host:h\nx-amz-meta-a:one two three\nx-amz-meta-b:1,2\nx-missing:\n"
        );
    }

    #[test]
    fn payload_hash_table() {
        let table: &[(&str, Result<PayloadHash, S3ErrorCode>)] = &[
            ("UNSIGNED-PAYLOAD", Ok(PayloadHash::Unsigned)),
            (
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                Ok(PayloadHash::StreamingSigned),
            ),
            (
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                Ok(PayloadHash::StreamingSignedTrailer),
            ),
            (
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                Ok(PayloadHash::StreamingUnsignedTrailer),
            ),
            (EMPTY_SHA256_HEX, Ok(PayloadHash::Sha256(EMPTY_SHA))),
            (
                "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
                Err(S3ErrorCode::NotImplemented),
            ),
            ("unsigned-payload", Err(S3ErrorCode::InvalidArgument)),
            ("e3b0", Err(S3ErrorCode::InvalidArgument)),
            ("", Err(S3ErrorCode::InvalidArgument)),
        ];
        for (value, want) in table {
            assert_eq!(
                parse_payload_hash(value).map_err(|e| e.code),
                *want,
                "{value}"
            );
        }
    }

    fn streaming_ctx(seed: &str) -> ChunkSigningContext {
        ChunkSigningContext {
            signing_key: signing_key(SECRET, "20130524", REGION, SERVICE),
            seed_signature: seed.to_owned(),
            amz_date: "20130524T000000Z".to_owned(),
            scope: "20130524/us-east-1/s3/aws4_request".to_owned(),
        }
    }

    #[test]
    fn aws_documented_chunk_signatures() {
        let ctx = streaming_ctx("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
        let chunks: [(usize, &str); 3] = [
            (
                65_536,
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            ),
            (
                1024,
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            ),
            (
                0,
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ),
        ];
        let mut prev = ctx.seed_signature.clone();
        for (len, want) in chunks {
            let digest: [u8; 32] = Sha256::digest(vec![b'a'; len]).into();
            let sig = chunk_signature(&ctx, &prev, &digest);
            assert_eq!(sig, want, "chunk of {len}");
            prev = sig;
        }
    }

    #[test]
    fn aws_documented_trailer_signature() {
        let ctx = streaming_ctx("106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e");
        let chunks = [
            (
                65_536,
                "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
            ),
            (
                1024,
                "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
            ),
            (
                0,
                "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
            ),
        ];
        let mut prev = ctx.seed_signature.clone();
        for (len, want) in chunks {
            let digest: [u8; 32] = Sha256::digest(vec![b'a'; len]).into();
            prev = chunk_signature(&ctx, &prev, &digest);
            assert_eq!(prev, want);
        }
        let trailers = vec![("x-amz-checksum-crc32c".to_owned(), "sOO8/Q==".to_owned())];
        let canonical = canonical_trailers(&trailers);
        assert_eq!(canonical, b"x-amz-checksum-crc32c:sOO8/Q==\n");
        assert_eq!(
            trailer_signature(&ctx, &prev, &canonical),
            "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
        );
    }

    #[test]
    fn canonical_trailers_sort_and_trim() {
        let t = hdrs(&[("X-B", " 2 "), ("x-a", "1")]);
        assert_eq!(canonical_trailers(&t), b"x-a:1\nx-b:2\n");
    }

    #[test]
    fn signatures_compare() {
        let a = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
        assert!(signatures_equal(a, a));
        assert!(signatures_equal(a, &a.to_ascii_uppercase()));
        assert!(!signatures_equal(a, &a.replace("ad80", "ad81")));
        assert!(!signatures_equal(a, &a[..62]));
        assert!(!signatures_equal("", ""));
        assert!(!signatures_equal(a, "zz"));
    }
}
