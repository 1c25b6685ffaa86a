//! Server-side AWS Signature Version 2 (S3's legacy "HmacV1") for S3: the header form
//! `Authorization: AWS AccessKeyId:Signature` and the presigned-URL (query) form
//! `?AWSAccessKeyId=...&Expires=...&Signature=...`.
//!
//! Owns: recognising a V2 request, rebuilding its StringToSign exactly as S3 defines it
//! (`Verb\nContent-MD5\nContent-Type\nDate\n` + CanonicalizedAmzHeaders +
//! CanonicalizedResource), the time checks (header form: `Date` or `x-amz-date` within 15
//! minutes of now; query form: `Expires` not passed), and comparing
//! Base64(HMAC-SHA1(secret, StringToSign)) in constant time.
//! Must not: do I/O, read the clock (the caller passes `now_unix`) or store secrets; hash the
//! body: V2 does not sign the payload, so the outcome is an unsigned payload and the body path
//! checks `Content-MD5` (and any checksum header) as for every request.
//! Invariants: no input panics; every refusal is an [`S3Error`] with the code S3 uses; a
//! request is accepted only if the signature it carries equals the one computed here.
//!
//! Choices where S3 leaves room:
//! * With `x-amz-date` present the Date line is empty (AWS's rule: the time is signed through
//!   the amz headers). The `Date` header's value on that line is accepted too, as botocore
//!   signs it and MinIO verifies it; either way the signature covers `x-amz-date`.
//! * Dates are RFC 2616 dates (or `YYYYMMDDTHHMMSSZ`); the weekday name is not checked, as
//!   S3 does not (a wrong weekday with a date far from now is `RequestTimeTooSkewed`, not
//!   `AccessDenied`). Dates before 1970 are invalid (`403 AccessDenied`).
//! * The sub-resources signed in CanonicalizedResource are AWS's list plus the ones botocore
//!   signs ([`SUB_RESOURCES`]); their values are signed decoded, as S3 and botocore do. The
//!   path is signed exactly as sent (still percent-encoded), except that a path-style request
//!   naming only a bucket (`/bucket`) is signed as `/bucket/`, as S3 expects and botocore
//!   signs; `/bucket` is accepted too (both name the bucket).
//! * Virtual-hosted style signs `/bucket` + the path, the bucket taken from the `Host` with the
//!   S3 domain (`--domain`, [`virtual_host_bucket`]). V2 does not sign the `Host`, so the
//!   caller must read the request exactly as the router does: given no domain while the router
//!   has one, a virtual-hosted `/key` would be checked as the path-style resource `/key` (a
//!   bucket), which another request's signature may cover.
//! * A presigned URL may be valid for any length of time, as V2 URLs are on S3. A space in the
//!   `Signature` parameter is read as `+` (a client that did not encode the `+`).
//! * `x-amz-content-sha256`, which V2 clients do not send, is honoured when present (signed as
//!   an amz header): a SHA-256 is checked against the body, `STREAMING-UNSIGNED-PAYLOAD-TRAILER`
//!   is decoded; the chunk-signed streaming forms need V4's signing key and are refused.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::proto::error::{S3Error, S3ErrorCode};
use crate::proto::route;
use crate::proto::sigv4::{self, AuthOutcome, AuthRequest, PayloadHash};
use crate::proto::time;

/// The query parameters S3 signs as sub-resources, sorted: AWS's documented list (with the
/// `response-*` overrides) and the extra names botocore's V2 signer includes.
pub const SUB_RESOURCES: [&str; 35] = [
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The authorization scheme of the header form.
const SCHEME: &str = "AWS";
/// Headers a V2 request may carry at most once: a second copy could make the value signed
/// differ from the value another layer acts on.
const SINGLE_HEADERS: [&str; 5] = [
    "authorization",
    "content-md5",
    "content-type",
    "date",
    "x-amz-date",
];
/// Query parameters of the V4 presigned form: with V2 credentials too, the request carries two.
const V4_QUERY_PARAMS: [&str; 3] = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"];

type HmacSha1 = Hmac<Sha1>;

/// Which form the credentials came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Header,
    Query,
}

/// The credentials of a request, either form, before the secret is known.
#[derive(Debug, PartialEq, Eq)]
struct Claim {
    form: Form,
    access_key: String,
    /// The signature as sent (base64).
    signature: String,
}

/// True if `req` carries V2 credentials: an `Authorization` header whose scheme is `AWS`, or
/// (without an `Authorization` header) an `AWSAccessKeyId` or `Signature` query parameter.
pub fn is_v2(req: &AuthRequest) -> bool {
    match header(req.headers, "authorization") {
        Some(value) => value.split([' ', '\t', ',']).next() == Some(SCHEME),
        None => req.raw_query.split('&').any(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            name == "AWSAccessKeyId" || name == "Signature"
        }),
    }
}

/// Verifies the V2 signature of `req`.
///
/// `lookup_secret` maps an access key to its secret; `now_unix` is the server's clock;
/// `virtual_bucket` is the bucket the `Host` names in virtual-hosted style (see
/// [`virtual_host_bucket`]), `None` for path style. On success the payload is unsigned
/// (unless `x-amz-content-sha256` says otherwise, see the module notes); the caller still
/// checks `Content-MD5` against the body.
///
/// Checks run cheapest first: syntax, then the time, then the key, then the HMAC.
pub fn verify(
    req: &AuthRequest,
    lookup_secret: impl Fn(&str) -> Option<String>,
    now_unix: i64,
    virtual_bucket: Option<&str>,
) -> Result<AuthOutcome, S3Error> {
    for name in SINGLE_HEADERS {
        if req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
            > 1
        {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("The {name} header may be given only once."),
            ));
        }
    }
    let params = route::parse_query(req.raw_query)?;
    let claim = parse_claim(req.headers, &params)?;
    // The Date lines to try, AWS's first.
    let date_lines = match claim.form {
        Form::Header => header_date_lines(req.headers, now_unix)?,
        Form::Query => vec![query_expires(&params, now_unix)?.to_owned()],
    };
    let payload = claimed_payload(req.headers)?;

    let secret = lookup_secret(&claim.access_key)
        .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?;
    let claimed = decode_signature(&claim.signature, claim.form);
    let resources = canonical_resources(req.raw_path, &params, virtual_bucket);
    let amz_headers = canonical_amz_headers(req.headers);
    // Every candidate (at most two Date lines by two spellings of the resource, all naming
    // the same request) is computed and compared, whatever the first one gave.
    let mut matched = false;
    for date in &date_lines {
        for resource in &resources {
            let sts = string_to_sign(req.method, req.headers, date, &amz_headers, resource);
            let computed = hmac_sha1(secret.as_bytes(), sts.as_bytes())?;
            matched |= bool::from(computed[..].ct_eq(&claimed[..]));
        }
    }
    if !matched {
        return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
    }
    Ok(AuthOutcome {
        access_key: claim.access_key,
        payload,
        chunk_ctx: None,
    })
}

pub use super::route::virtual_host_bucket;

/// Base64(HMAC-SHA1(secret, string_to_sign)): the signature a V2 client sends.
pub fn signature(secret: &str, string_to_sign: &str) -> Result<String, S3Error> {
    Ok(STANDARD.encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes())?))
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Result<[u8; 20], S3Error> {
    // HMAC is defined for keys of every length: this never fails.
    let mut mac =
        HmacSha1::new_from_slice(key).map_err(|_| S3Error::new(S3ErrorCode::InternalError))?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// The claimed signature's bytes; an undecodable one is empty, which no 20-byte HMAC equals,
/// so it fails the comparison like any wrong signature.
fn decode_signature(signature: &str, form: Form) -> Vec<u8> {
    // In a query, an unencoded `+` has been decoded to a space; base64 has no spaces.
    let signature = match form {
        Form::Query => signature.replace(' ', "+"),
        Form::Header => signature.to_owned(),
    };
    STANDARD.decode(signature).unwrap_or_default()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The value of query parameter `name`, which must appear at most once.
fn query_value<'p>(params: &'p [(String, String)], name: &str) -> Result<Option<&'p str>, S3Error> {
    let mut found = params.iter().filter(|(n, _)| n == name);
    let first = found.next();
    if found.next().is_some() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("The {name} query parameter may be given only once."),
        ));
    }
    Ok(first.map(|(_, v)| v.as_str()))
}

fn only_one_mechanism() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::InvalidArgument,
        "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
         Signature query string parameter or the Authorization header should be specified",
    )
}

/// Finds the credentials in the `Authorization` header or the query.
fn parse_claim(
    headers: &[(String, String)],
    params: &[(String, String)],
) -> Result<Claim, S3Error> {
    let has_param = |name: &str| params.iter().any(|(n, _)| n == name);
    let v2_query = has_param("AWSAccessKeyId") || has_param("Signature");
    let v4_query = V4_QUERY_PARAMS.iter().any(|name| has_param(name));
    if let Some(value) = header(headers, "authorization") {
        if v2_query || v4_query {
            return Err(only_one_mechanism());
        }
        return parse_authorization(value);
    }
    if v4_query {
        return Err(only_one_mechanism());
    }
    let (Some(access_key), Some(signature), Some(_)) = (
        query_value(params, "AWSAccessKeyId")?,
        query_value(params, "Signature")?,
        query_value(params, "Expires")?,
    ) else {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId \
             parameters",
        ));
    };
    if access_key.is_empty() {
        return Err(S3Error::new(S3ErrorCode::InvalidAccessKeyId));
    }
    Ok(Claim {
        form: Form::Query,
        access_key: access_key.to_owned(),
        signature: signature.to_owned(),
    })
}

/// Parses `AWS AccessKeyId:Signature`.
fn parse_authorization(value: &str) -> Result<Claim, S3Error> {
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
        )
    };
    let rest = value.strip_prefix(SCHEME).ok_or_else(invalid)?;
    if !rest.starts_with([' ', '\t']) {
        return Err(invalid());
    }
    let (access_key, signature) = rest.trim().split_once(':').ok_or_else(invalid)?;
    if access_key.is_empty() || signature.is_empty() {
        return Err(invalid());
    }
    Ok(Claim {
        form: Form::Header,
        access_key: access_key.to_owned(),
        signature: signature.to_owned(),
    })
}

/// The header form's time: `x-amz-date` if present, else `Date`; an RFC 2616 date (any
/// weekday) or `YYYYMMDDTHHMMSSZ`, from 1970 on.
fn parse_request_time(value: &str) -> Option<i64> {
    time::http_date_parse_any_weekday(value)
        .or_else(|| time::amz_date_parse(value.trim()))
        .filter(|t| *t >= 0)
}

/// Checks the header form's time and returns the Date lines the client may have signed.
fn header_date_lines(headers: &[(String, String)], now_unix: i64) -> Result<Vec<String>, S3Error> {
    let invalid = || {
        S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    };
    let amz_date = header(headers, "x-amz-date");
    let date = header(headers, "date");
    let request_time = amz_date
        .or(date)
        .and_then(parse_request_time)
        .ok_or_else(invalid)?;
    if (request_time - now_unix).abs() > sigv4::CLOCK_SKEW_MAX_SECS {
        return Err(S3Error::new(S3ErrorCode::RequestTimeTooSkewed));
    }
    Ok(match (amz_date, date) {
        // AWS: the time is signed as the x-amz-date amz header and the Date line is empty.
        // botocore (and MinIO's verifier) put the Date header there regardless.
        (Some(_), Some(date)) => vec![String::new(), date.to_owned()],
        (Some(_), None) => vec![String::new()],
        (None, date) => vec![date.unwrap_or_default().to_owned()],
    })
}

/// Checks the query form's `Expires` (Unix seconds) and returns it: it is the Date line.
fn query_expires(params: &[(String, String)], now_unix: i64) -> Result<&str, S3Error> {
    let expires = query_value(params, "Expires")?.unwrap_or_default();
    let at = Some(expires)
        .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::AccessDenied,
                format!("Invalid date (should be seconds since epoch): {expires}"),
            )
        })?;
    if now_unix > at {
        return Err(S3Error::with_message(
            S3ErrorCode::AccessDenied,
            "Request has expired",
        ));
    }
    Ok(expires)
}

/// What `x-amz-content-sha256` (if any) says about the body; unsigned without it.
fn claimed_payload(headers: &[(String, String)]) -> Result<PayloadHash, S3Error> {
    let Some(value) = header(headers, "x-amz-content-sha256") else {
        return Ok(PayloadHash::Unsigned);
    };
    match sigv4::parse_payload_hash(value)? {
        PayloadHash::StreamingSigned | PayloadHash::StreamingSignedTrailer => {
            Err(S3Error::with_message(
                S3ErrorCode::InvalidRequest,
                "Signed aws-chunked uploads require AWS Signature Version 4.",
            ))
        }
        payload => Ok(payload),
    }
}

/// `name:value\n` for every `x-amz-*` header: names lower-cased and sorted, values trimmed,
/// the values of a repeated header joined with `,` in arrival order.
fn canonical_amz_headers(headers: &[(String, String)]) -> String {
    let mut amz: Vec<(String, &str)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
        .filter(|(n, _)| n.starts_with("x-amz-"))
        .collect();
    // Stable: repeated headers keep their order.
    amz.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    let mut previous: Option<&str> = None;
    for (name, value) in &amz {
        if previous == Some(name.as_str()) {
            // Replace the previous line's newline with the next value.
            out.pop();
            out.push(',');
        } else {
            out.push_str(name);
            out.push(':');
        }
        out.push_str(value);
        out.push('\n');
        previous = Some(name.as_str());
    }
    out
}

/// `/bucket` (virtual-hosted style only) + the path as sent + the signed sub-resources,
/// sorted by name: `?acl`, `?partNumber=2&uploadId=abc`.
fn canonical_resource(
    raw_path: &str,
    params: &[(String, String)],
    virtual_bucket: Option<&str>,
) -> String {
    let mut out = String::new();
    if let Some(bucket) = virtual_bucket {
        out.push('/');
        out.push_str(bucket);
    }
    out.push_str(if raw_path.is_empty() { "/" } else { raw_path });
    let mut subs: Vec<&(String, String)> = params
        .iter()
        .filter(|(n, _)| SUB_RESOURCES.binary_search(&n.as_str()).is_ok())
        .collect();
    // Stable, by name only, as botocore sorts.
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (name, value)) in subs.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        if !value.is_empty() {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// The resources the client may have signed: [`canonical_resource`], and for a path-style
/// request that names only a bucket (`/bucket`) first `/bucket/`, which is what S3 signs
/// there and botocore sends (both name the same bucket).
fn canonical_resources(
    raw_path: &str,
    params: &[(String, String)],
    virtual_bucket: Option<&str>,
) -> Vec<String> {
    let bucket_only = virtual_bucket.is_none()
        && raw_path.len() > 1
        && raw_path.starts_with('/')
        && !raw_path[1..].contains('/');
    let mut out = Vec::with_capacity(2);
    if bucket_only {
        out.push(canonical_resource(&format!("{raw_path}/"), params, None));
    }
    out.push(canonical_resource(raw_path, params, virtual_bucket));
    out
}

/// The StringToSign: verb, `Content-MD5`, `Content-Type`, the Date line, then the
/// canonicalized amz headers and resource.
fn string_to_sign(
    method: &str,
    headers: &[(String, String)],
    date_line: &str,
    amz_headers: &str,
    resource: &str,
) -> String {
    let md5 = header(headers, "content-md5").unwrap_or_default().trim();
    let content_type = header(headers, "content-type").unwrap_or_default().trim();
    format!("{method}\n{md5}\n{content_type}\n{date_line}\n{amz_headers}{resource}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn lookup(ak: &str) -> Option<String> {
        (ak == AK).then(|| SECRET.to_owned())
    }

    fn hdrs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn run(
        method: &str,
        path: &str,
        query: &str,
        headers: &[(String, String)],
        now: i64,
        virtual_bucket: Option<&str>,
    ) -> Result<AuthOutcome, S3Error> {
        let req = AuthRequest {
            method,
            raw_path: path,
            raw_query: query,
            headers,
        };
        verify(&req, lookup, now, virtual_bucket)
    }

    /// A worked example from AWS's "Signing and authenticating REST requests (AWS signature
    /// version 2)": the request, the StringToSign and the signature AWS publishes.
    struct Example {
        name: &'static str,
        method: &'static str,
        path: &'static str,
        query: &'static str,
        /// The bucket the Host names (virtual-hosted style), as a domain would resolve it.
        virtual_bucket: Option<&'static str>,
        headers: &'static [(&'static str, &'static str)],
        string_to_sign: &'static str,
        signature: &'static str,
        /// The request's time.
        now: i64,
    }

    /// Tue, 27 Mar 2007 19:36:42 +0000.
    const T_GET: i64 = 1_175_024_202;

    const EXAMPLES: &[Example] = &[
        Example {
            name: "Object GET",
            method: "GET",
            path: "/photos/puppy.jpg",
            query: "",
            virtual_bucket: Some("awsexamplebucket1"),
            headers: &[
                ("Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com"),
                ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
            ],
            string_to_sign: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n\
                             /awsexamplebucket1/photos/puppy.jpg",
            signature: "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
            now: T_GET,
        },
        Example {
            name: "Object PUT",
            method: "PUT",
            path: "/photos/puppy.jpg",
            query: "",
            virtual_bucket: Some("awsexamplebucket1"),
            headers: &[
                ("Content-Type", "image/jpeg"),
                ("Content-Length", "94328"),
                ("Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com"),
                ("Date", "Tue, 27 Mar 2007 21:15:45 +0000"),
            ],
            string_to_sign: "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n\
                             /awsexamplebucket1/photos/puppy.jpg",
            signature: "iqRzw+ileNPu1fhspnRs8nOjjIA=",
            now: 1_175_030_145,
        },
        Example {
            name: "List",
            method: "GET",
            path: "/",
            query: "prefix=photos&max-keys=50&marker=puppy",
            virtual_bucket: Some("awsexamplebucket1"),
            headers: &[
                ("User-Agent", "Mozilla/5.0"),
                ("Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com"),
                ("Date", "Tue, 27 Mar 2007 19:42:41 +0000"),
            ],
            string_to_sign: "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/awsexamplebucket1/",
            signature: "m0WP8eCtspQl5Ahe6L1SozdX9YA=",
            now: 1_175_024_561,
        },
        Example {
            name: "Fetch (ACL sub-resource)",
            method: "GET",
            path: "/",
            query: "acl",
            virtual_bucket: Some("awsexamplebucket1"),
            headers: &[
                ("Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com"),
                ("Date", "Tue, 27 Mar 2007 19:44:46 +0000"),
            ],
            string_to_sign: "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/awsexamplebucket1/?acl",
            signature: "82ZHiFIjc+WbcwFKGUVEQspPn+0=",
            now: 1_175_024_686,
        },
        Example {
            name: "Upload (amz headers, repeated header, Content-MD5, CNAME bucket)",
            method: "PUT",
            path: "/db-backup.dat.gz",
            query: "",
            virtual_bucket: Some("static.example.com"),
            headers: &[
                ("User-Agent", "curl/7.15.5"),
                ("Host", "static.example.com:8080"),
                ("Date", "Tue, 27 Mar 2007 21:06:08 +0000"),
                ("x-amz-acl", "public-read"),
                ("content-type", "application/x-download"),
                ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
                ("X-Amz-Meta-ReviewedBy", "joe@example.com"),
                ("X-Amz-Meta-ReviewedBy", "jane@example.com"),
                ("X-Amz-Meta-FileChecksum", "0x02661779"),
                ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
                ("Content-Disposition", "attachment; filename=database.dat"),
                ("Content-Encoding", "gzip"),
                ("Content-Length", "5913339"),
            ],
            string_to_sign: "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\n\
                             Tue, 27 Mar 2007 21:06:08 +0000\n\
                             x-amz-acl:public-read\n\
                             x-amz-meta-checksumalgorithm:crc32\n\
                             x-amz-meta-filechecksum:0x02661779\n\
                             x-amz-meta-reviewedby:joe@example.com,jane@example.com\n\
                             /static.example.com/db-backup.dat.gz",
            signature: "jtBQa0Aq+DkULFI8qrpwIjGEx0E=",
            now: 1_175_029_568,
        },
        Example {
            name: "List all my buckets",
            method: "GET",
            path: "/",
            query: "",
            virtual_bucket: None,
            headers: &[
                ("Host", "s3.us-west-1.amazonaws.com"),
                ("Date", "Wed, 28 Mar 2007 01:29:59 +0000"),
            ],
            string_to_sign: "GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/",
            signature: "qGdzdERIC03wnaRNKh6OqZehG9s=",
            now: 1_175_045_399,
        },
        Example {
            name: "Unicode keys (the path signed as sent)",
            method: "GET",
            path: "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
            query: "",
            virtual_bucket: None,
            headers: &[
                ("Host", "s3.us-west-1.amazonaws.com"),
                ("Date", "Wed, 28 Mar 2007 01:49:49 +0000"),
            ],
            string_to_sign: "GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n\
                             /dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
            signature: "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
            now: 1_175_046_589,
        },
    ];

    fn example_headers(ex: &Example, signature: &str) -> Vec<(String, String)> {
        let mut h = hdrs(ex.headers);
        h.push(("Authorization".into(), format!("AWS {AK}:{signature}")));
        h
    }

    #[test]
    fn aws_documented_string_to_sign_and_signatures() {
        for ex in EXAMPLES {
            let headers = hdrs(ex.headers);
            let params = route::parse_query(ex.query).unwrap();
            let date = header(&headers, "date").unwrap();
            let sts = string_to_sign(
                ex.method,
                &headers,
                date,
                &canonical_amz_headers(&headers),
                &canonical_resource(ex.path, &params, ex.virtual_bucket),
            );
            assert_eq!(sts, ex.string_to_sign, "{}", ex.name);
            assert_eq!(
                signature(SECRET, &sts).unwrap(),
                ex.signature,
                "{}",
                ex.name
            );
        }
    }

    #[test]
    fn aws_documented_requests_verify() {
        for ex in EXAMPLES {
            let headers = example_headers(ex, ex.signature);
            let out = run(
                ex.method,
                ex.path,
                ex.query,
                &headers,
                ex.now,
                ex.virtual_bucket,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", ex.name));
            assert_eq!(out.access_key, AK);
            assert_eq!(out.payload, PayloadHash::Unsigned);
            assert!(out.chunk_ctx.is_none());
            // Any other bit of the signature, or another resource, is refused.
            let mut other = ex.signature.to_owned();
            other.replace_range(0..1, if other.starts_with('A') { "B" } else { "A" });
            let headers = example_headers(ex, &other);
            let err = run(
                ex.method,
                ex.path,
                ex.query,
                &headers,
                ex.now,
                ex.virtual_bucket,
            )
            .unwrap_err();
            assert_eq!(err.code, S3ErrorCode::SignatureDoesNotMatch, "{}", ex.name);
            let headers = example_headers(ex, ex.signature);
            let err = run(
                ex.method,
                "/x",
                ex.query,
                &headers,
                ex.now,
                ex.virtual_bucket,
            )
            .unwrap_err();
            assert_eq!(err.code, S3ErrorCode::SignatureDoesNotMatch, "{}", ex.name);
        }
    }

    #[test]
    fn virtual_hosted_resource_needs_the_bucket() {
        // The Object GET example read path-style (no domain known) is another resource.
        let ex = &EXAMPLES[0];
        let headers = example_headers(ex, ex.signature);
        let err = run(ex.method, ex.path, "", &headers, ex.now, None).unwrap_err();
        assert_eq!(err.code, S3ErrorCode::SignatureDoesNotMatch);
        // The same request path-style is signed as the same resource.
        let path_style = run(
            ex.method,
            "/awsexamplebucket1/photos/puppy.jpg",
            "",
            &headers,
            ex.now,
            None,
        );
        assert!(path_style.is_ok());
    }

    /// 1175139620 is the `Expires` of AWS's query-string example (Thu, 29 Mar 2007 03:40:20).
    const EXPIRES: i64 = 1_175_139_620;
    const PRESIGNED_QUERY: &str = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE\
        &Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620";

    fn presigned(query: &str, now: i64) -> Result<AuthOutcome, S3Error> {
        let headers = hdrs(&[("Host", "johnsmith.s3.amazonaws.com")]);
        run(
            "GET",
            "/photos/puppy.jpg",
            query,
            &headers,
            now,
            Some("johnsmith"),
        )
    }

    #[test]
    fn aws_documented_query_string_example() {
        let out = presigned(PRESIGNED_QUERY, EXPIRES - 3600).unwrap();
        assert_eq!(out.access_key, AK);
        assert_eq!(out.payload, PayloadHash::Unsigned);
        // Valid through the Expires second; order does not matter.
        assert!(presigned(PRESIGNED_QUERY, EXPIRES).is_ok());
        let mut parts: Vec<&str> = PRESIGNED_QUERY.split('&').collect();
        parts.reverse();
        assert!(presigned(&parts.join("&"), EXPIRES).is_ok());
        // An unencoded `+` in the signature (decoded to a space) is still read as `+`.
        let raw_plus = PRESIGNED_QUERY.replace("%2B", "+");
        assert!(presigned(&raw_plus, EXPIRES).is_ok());
        // A query parameter that is no sub-resource is not signed.
        assert!(presigned(&format!("{PRESIGNED_QUERY}&x-id=GetObject"), EXPIRES).is_ok());
    }

    #[test]
    fn presigned_refusals() {
        use S3ErrorCode::*;
        let q = PRESIGNED_QUERY;
        let table: Vec<(&str, String, i64, S3ErrorCode, &str)> = vec![
            (
                "expired",
                q.to_owned(),
                EXPIRES + 1,
                AccessDenied,
                "expired",
            ),
            (
                "tampered expiry",
                q.replace("1175139620", "1175139621"),
                EXPIRES,
                SignatureDoesNotMatch,
                "",
            ),
            (
                "signed sub-resource added",
                format!("{q}&response-content-type=text/html"),
                EXPIRES,
                SignatureDoesNotMatch,
                "",
            ),
            (
                "expires not a number",
                q.replace("1175139620", "soon"),
                EXPIRES,
                AccessDenied,
                "seconds since epoch",
            ),
            (
                "expires signed",
                q.replace("1175139620", "+1175139620"),
                EXPIRES,
                AccessDenied,
                "seconds since epoch",
            ),
            (
                "expires empty",
                q.replace("1175139620", ""),
                EXPIRES,
                AccessDenied,
                "seconds since epoch",
            ),
            (
                "expires overflow",
                q.replace("1175139620", "99999999999999999999999"),
                EXPIRES,
                AccessDenied,
                "seconds since epoch",
            ),
            (
                "no expires",
                q.replace("&Expires=1175139620", ""),
                EXPIRES,
                AccessDenied,
                "requires",
            ),
            (
                "no signature",
                q.replace("&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", ""),
                EXPIRES,
                AccessDenied,
                "requires",
            ),
            (
                "no key",
                q.replace("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE", ""),
                EXPIRES,
                AccessDenied,
                "requires",
            ),
            (
                "empty key",
                q.replace("AKIAIOSFODNN7EXAMPLE", ""),
                EXPIRES,
                InvalidAccessKeyId,
                "",
            ),
            (
                "unknown key",
                q.replace("AKIAIOSFODNN7EXAMPLE", "AKIDUNKNOWN"),
                EXPIRES,
                InvalidAccessKeyId,
                "",
            ),
            (
                "duplicate signature",
                format!("{q}&Signature=abc"),
                EXPIRES,
                InvalidArgument,
                "",
            ),
            (
                "garbage signature",
                q.replace("NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", "%%%"),
                EXPIRES,
                SignatureDoesNotMatch,
                "",
            ),
            (
                "short signature",
                q.replace("NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D", "AAAA"),
                EXPIRES,
                SignatureDoesNotMatch,
                "",
            ),
            (
                "v4 parameters too",
                format!("{q}&X-Amz-Algorithm=AWS4-HMAC-SHA256"),
                EXPIRES,
                InvalidArgument,
                "Only one auth mechanism",
            ),
        ];
        for (name, query, now, code, message) in table {
            let err = presigned(&query, now).unwrap_err();
            assert_eq!(err.code, code, "{name}: {err}");
            assert!(err.message.contains(message), "{name}: {err}");
        }
    }

    /// Signs `headers` (a path-style PUT of `/bucket/key`) with the example secret.
    fn signed_put(headers: &[(&str, &str)], date_line: &str) -> Vec<(String, String)> {
        let mut h = hdrs(headers);
        let sts = string_to_sign(
            "PUT",
            &h,
            date_line,
            &canonical_amz_headers(&h),
            "/bucket/key",
        );
        let sig = signature(SECRET, &sts).unwrap();
        h.push(("authorization".into(), format!("AWS {AK}:{sig}")));
        h
    }

    /// Wed, 25 Nov 2026 23:46:21 GMT.
    const NOW: i64 = 1_795_650_381;
    const NOW_HTTP: &str = "Wed, 25 Nov 2026 23:46:21 GMT";

    fn put(headers: &[(String, String)], now: i64) -> Result<AuthOutcome, S3Error> {
        run("PUT", "/bucket/key", "", headers, now, None)
    }

    #[test]
    fn header_form_dates() {
        use S3ErrorCode::*;
        // Date alone, signed on the Date line.
        let h = signed_put(&[("Date", NOW_HTTP)], NOW_HTTP);
        assert!(put(&h, NOW).is_ok());
        assert!(put(&h, NOW + sigv4::CLOCK_SKEW_MAX_SECS).is_ok());
        assert!(put(&h, NOW - sigv4::CLOCK_SKEW_MAX_SECS).is_ok());
        assert_eq!(
            put(&h, NOW + sigv4::CLOCK_SKEW_MAX_SECS + 1)
                .unwrap_err()
                .code,
            RequestTimeTooSkewed
        );
        // x-amz-date with an empty Date line (AWS), or with the Date header's value on it
        // (botocore); anything else on that line is refused.
        let both = [
            ("Date", "Thu, 01 Jan 2015 00:00:00 GMT"),
            ("x-amz-date", NOW_HTTP),
        ];
        assert!(put(&signed_put(&both, ""), NOW).is_ok());
        assert!(put(&signed_put(&both, "Thu, 01 Jan 2015 00:00:00 GMT"), NOW).is_ok());
        assert_eq!(
            put(&signed_put(&both, NOW_HTTP), NOW).unwrap_err().code,
            SignatureDoesNotMatch
        );
        let amz_only = [("x-amz-date", NOW_HTTP)];
        assert!(put(&signed_put(&amz_only, ""), NOW).is_ok());
        assert_eq!(
            put(&signed_put(&amz_only, NOW_HTTP), NOW).unwrap_err().code,
            SignatureDoesNotMatch
        );
        // The ISO 8601 basic form is a date too.
        let iso = [("x-amz-date", "20261125T234621Z")];
        assert!(put(&signed_put(&iso, ""), NOW).is_ok());

        // What the s3-tests send (x-amz-date beside botocore's valid Date) and S3's answers.
        let table: &[(&str, S3ErrorCode)] = &[
            ("Bad Date", AccessDenied),
            ("", AccessDenied),
            ("Tue, 07 Jul 2010 21:53:04 GMT", RequestTimeTooSkewed),
            ("Tue, 07 Jul 2030 21:53:04 GMT", RequestTimeTooSkewed),
            ("Tue, 07 Jul 9999 21:53:04 GMT", RequestTimeTooSkewed),
            ("Tue, 07 Jul 1950 21:53:04 GMT", AccessDenied),
            ("19691231T235959Z", AccessDenied),
        ];
        for (amz_date, code) in table {
            let h = signed_put(&[("Date", NOW_HTTP), ("x-amz-date", amz_date)], "");
            assert_eq!(put(&h, NOW).unwrap_err().code, *code, "{amz_date:?}");
        }
        // No date at all, or an invalid Date.
        let h = signed_put(&[], "");
        assert_eq!(put(&h, NOW).unwrap_err().code, AccessDenied);
        let h = signed_put(&[("Date", "yesterday")], "yesterday");
        assert_eq!(put(&h, NOW).unwrap_err().code, AccessDenied);
    }

    #[test]
    fn header_form_refusals() {
        use S3ErrorCode::*;
        let ok = signed_put(&[("Date", NOW_HTTP)], NOW_HTTP);
        let auth = ok[1].1.clone();
        let with_auth = |value: &str| {
            let mut h = hdrs(&[("Date", NOW_HTTP)]);
            h.push(("Authorization".into(), value.to_owned()));
            h
        };
        type Row<'a> = (&'a str, Vec<(String, String)>, S3ErrorCode);
        let table: Vec<Row> = vec![
            ("no colon", with_auth("AWS HAHAHA"), InvalidArgument),
            ("no key", with_auth("AWS :c2ln"), InvalidArgument),
            (
                "no signature",
                with_auth(&format!("AWS {AK}:")),
                InvalidArgument,
            ),
            ("nothing", with_auth("AWS"), InvalidArgument),
            (
                "no space",
                with_auth(&format!("AWS,{AK}:c2ln")),
                InvalidArgument,
            ),
            (
                "unknown key",
                with_auth("AWS AKIAIGR7ZNNBHC5BKSUB:FWeDfwojDSdS2Ztmpfeubhd9isU="),
                InvalidAccessKeyId,
            ),
            (
                "wrong signature",
                with_auth(&format!("AWS {AK}:FWeDfwojDSdS2Ztmpfeubhd9isU=")),
                SignatureDoesNotMatch,
            ),
            (
                "not base64",
                with_auth(&format!("AWS {AK}:not base64!")),
                SignatureDoesNotMatch,
            ),
            (
                "twice",
                {
                    let mut h = ok.clone();
                    h.push(("authorization".into(), auth.clone()));
                    h
                },
                InvalidArgument,
            ),
            (
                "two dates",
                {
                    let mut h = ok.clone();
                    h.push(("date".into(), NOW_HTTP.into()));
                    h
                },
                InvalidArgument,
            ),
            (
                "content changed",
                {
                    let mut h = ok.clone();
                    h.push(("Content-Type".into(), "text/html".into()));
                    h
                },
                SignatureDoesNotMatch,
            ),
            (
                "amz header added",
                {
                    let mut h = ok.clone();
                    h.push(("x-amz-meta-a".into(), "1".into()));
                    h
                },
                SignatureDoesNotMatch,
            ),
        ];
        for (name, headers, code) in table {
            let err = put(&headers, NOW).unwrap_err();
            assert_eq!(err.code, code, "{name}: {err}");
        }
        assert!(put(&ok, NOW).is_ok());
        // The method is signed.
        assert_eq!(
            run("GET", "/bucket/key", "", &ok, NOW, None)
                .unwrap_err()
                .code,
            SignatureDoesNotMatch
        );
        // Header and query credentials together.
        let err = run("PUT", "/bucket/key", "AWSAccessKeyId=x", &ok, NOW, None).unwrap_err();
        assert_eq!(err.code, InvalidArgument);
        let err = run("PUT", "/bucket/key", "X-Amz-Signature=x", &ok, NOW, None).unwrap_err();
        assert_eq!(err.code, InvalidArgument);
    }

    #[test]
    fn payload_declarations() {
        use S3ErrorCode::*;
        let sha = sigv4::EMPTY_SHA256_HEX;
        let table: &[(&str, Result<PayloadHash, S3ErrorCode>)] = &[
            ("UNSIGNED-PAYLOAD", Ok(PayloadHash::Unsigned)),
            (
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                Ok(PayloadHash::StreamingUnsignedTrailer),
            ),
            ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", Err(InvalidRequest)),
            (
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                Err(InvalidRequest),
            ),
            ("nonsense", Err(InvalidArgument)),
        ];
        for (value, want) in table {
            let h = signed_put(
                &[("Date", NOW_HTTP), ("x-amz-content-sha256", value)],
                NOW_HTTP,
            );
            assert_eq!(
                put(&h, NOW).map(|o| o.payload).map_err(|e| e.code),
                *want,
                "{value}"
            );
        }
        let h = signed_put(
            &[("Date", NOW_HTTP), ("x-amz-content-sha256", sha)],
            NOW_HTTP,
        );
        assert!(matches!(
            put(&h, NOW).unwrap().payload,
            PayloadHash::Sha256(_)
        ));
    }

    #[test]
    fn canonical_amz_headers_table() {
        let h = hdrs(&[
            ("X-Amz-Meta-B", " two "),
            ("x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000"),
            ("Content-Type", "text/plain"),
            ("x-amz-meta-b", "three"),
            ("X-AMZ-META-A", "one"),
            ("x-amzfoo", "not amz"),
        ]);
        assert_eq!(
            canonical_amz_headers(&h),
            "x-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\nx-amz-meta-a:one\nx-amz-meta-b:two,three\n"
        );
        assert_eq!(canonical_amz_headers(&[]), "");
    }

    #[test]
    fn canonical_resource_table() {
        let table: &[(&str, &str, Option<&str>, &str)] = &[
            ("/", "", None, "/"),
            ("", "", None, "/"),
            ("/b/k", "", None, "/b/k"),
            ("/k", "", Some("b"), "/b/k"),
            ("/", "", Some("b"), "/b/"),
            ("/b/a%20b", "", None, "/b/a%20b"),
            ("/b/k", "uploads", None, "/b/k?uploads"),
            (
                "/b/k",
                "uploadId=x&partNumber=2",
                None,
                "/b/k?partNumber=2&uploadId=x",
            ),
            ("/b/k", "versionId=v&acl", None, "/b/k?acl&versionId=v"),
            (
                "/b",
                "versions&versioning&versionId=1",
                None,
                "/b?versionId=1&versioning&versions",
            ),
            ("/b", "prefix=p&delimiter=%2F&max-keys=3", None, "/b"),
            (
                "/b/k",
                "response-content-disposition=attachment%3B%20filename%3D%22a%20b%22",
                None,
                "/b/k?response-content-disposition=attachment; filename=\"a b\"",
            ),
            (
                "/b/k",
                "response-content-type=a+b",
                None,
                "/b/k?response-content-type=a b",
            ),
            ("/b/k", "acl=", None, "/b/k?acl"),
            ("/b/k", "ACL&Acl", None, "/b/k"),
            ("/b", "delete", None, "/b?delete"),
            (
                "/b/k",
                "AWSAccessKeyId=a&Signature=s&Expires=1",
                None,
                "/b/k",
            ),
        ];
        for (path, query, bucket, want) in table {
            let params = route::parse_query(query).unwrap();
            assert_eq!(
                canonical_resource(path, &params, *bucket),
                *want,
                "{path}?{query}"
            );
        }
    }

    #[test]
    fn bucket_only_paths_are_also_signed_with_a_slash() {
        let params = route::parse_query("acl").unwrap();
        let table: &[(&str, Option<&str>, &[&str])] = &[
            ("/b", None, &["/b/?acl", "/b?acl"]),
            ("/b/", None, &["/b/?acl"]),
            ("/b/k", None, &["/b/k?acl"]),
            ("/", None, &["/?acl"]),
            ("", None, &["/?acl"]),
            ("/", Some("b"), &["/b/?acl"]),
            ("/k", Some("b"), &["/b/k?acl"]),
        ];
        for (path, bucket, want) in table {
            assert_eq!(canonical_resources(path, &params, *bucket), *want, "{path}");
        }
        // botocore's CreateBucket: PUT /bucket, signed as /bucket/.
        let h = hdrs(&[("Date", NOW_HTTP)]);
        let sts = string_to_sign("PUT", &h, NOW_HTTP, "", "/bucket/");
        let mut h = h;
        h.push((
            "authorization".into(),
            format!("AWS {AK}:{}", signature(SECRET, &sts).unwrap()),
        ));
        assert!(run("PUT", "/bucket", "", &h, NOW, None).is_ok());
        assert!(run("PUT", "/bucket/", "", &h, NOW, None).is_ok());
        assert_eq!(
            run("PUT", "/bucket/k", "", &h, NOW, None).unwrap_err().code,
            S3ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn sub_resources_are_sorted_for_binary_search() {
        let mut sorted = SUB_RESOURCES;
        sorted.sort_unstable();
        assert_eq!(sorted, SUB_RESOURCES);
    }

    #[test]
    fn is_v2_table() {
        type Row<'a> = (&'a [(&'a str, &'a str)], &'a str, bool);
        let table: &[Row] = &[
            (&[("authorization", "AWS AK:sig")], "", true),
            (&[("authorization", "AWS")], "", true),
            (
                &[("authorization", "AWS4-HMAC-SHA256 Credential=x")],
                "",
                false,
            ),
            (&[("authorization", "AWSX AK:sig")], "", false),
            (&[("authorization", "")], "AWSAccessKeyId=a", false),
            (&[], "AWSAccessKeyId=a&Signature=s&Expires=1", true),
            (&[], "Signature", true),
            (&[], "X-Amz-Signature=s", false),
            (&[], "awsaccesskeyid=a", false),
            (&[], "", false),
        ];
        for (headers, query, want) in table {
            let headers = hdrs(headers);
            let req = AuthRequest {
                method: "GET",
                raw_path: "/",
                raw_query: query,
                headers: &headers,
            };
            assert_eq!(is_v2(&req), *want, "{headers:?} {query}");
        }
    }

    #[test]
    fn virtual_host_bucket_agrees_with_the_router() {
        let table: &[(&str, Option<&str>, Option<&str>)] = &[
            ("b.s3.example.com", Some("s3.example.com"), Some("b")),
            ("B.S3.Example.COM:9000", Some("s3.example.com"), Some("b")),
            ("b.s3.example.com", Some(".s3.example.com:9000"), Some("b")),
            ("a.b.s3.example.com", Some("s3.example.com"), Some("a.b")),
            ("s3.example.com", Some("s3.example.com"), None),
            (".s3.example.com", Some("s3.example.com"), None),
            ("b.other.com", Some("s3.example.com"), None),
            ("bs3.example.com", Some("s3.example.com"), None),
            ("127.0.0.1:9000", Some("s3.example.com"), None),
            ("[::1]:9000", Some("s3.example.com"), None),
            ("b.s3.example.com", None, None),
            ("b.s3.example.com", Some(""), None),
        ];
        for (host, domain, want) in table {
            let got = virtual_host_bucket(Some(host), *domain);
            assert_eq!(got.as_deref(), *want, "{host} {domain:?}");
            // The router reads the same request the same way.
            let (path, bucket, key) = match want {
                Some(b) => ("/k", *b, "k"),
                None => ("/pb/k", "pb", "k"),
            };
            let routed = route::route("GET", path, "", Some(host), *domain, false).unwrap();
            assert_eq!(routed.bucket.as_deref(), Some(bucket), "{host} {domain:?}");
            assert_eq!(routed.key.as_deref(), Some(key), "{host} {domain:?}");
        }
        assert_eq!(virtual_host_bucket(None, Some("s3.example.com")), None);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let values = [
            "",
            "AWS",
            "AWS ",
            "AWS :",
            "AWS ::::",
            "AWS \u{e9}:\u{e9}",
            "AWS a:%%%",
            "AWS\t\t",
            "AWS a:b:c",
            ":",
            "\u{0}",
            "AWS a:====",
        ];
        let dates = [
            "",
            "\u{e9}",
            ",",
            "Tue,",
            "Tue, 99 Jul 2010 21:53:04 GMT",
            "99991399T999999Z",
        ];
        let queries = [
            "",
            "AWSAccessKeyId",
            "Signature",
            "Signature=%",
            "AWSAccessKeyId=%C3&Signature=%FF&Expires=%",
            "Expires=-1&AWSAccessKeyId=a&Signature=b",
            "acl=%E9",
        ];
        for value in values {
            for date in dates {
                for query in queries {
                    let h = hdrs(&[("authorization", value), ("x-amz-date", date)]);
                    let _ = run("GET", "/b/k", query, &h, NOW, Some("b"));
                    let h = hdrs(&[("date", date)]);
                    let _ = run("GET", "", query, &h, NOW, None);
                }
            }
        }
    }
}
