//! Endpoint routing: from method, path, query and `Host` to an S3 operation, as a pure function.
//!
//! Owns: the decision which S3 operation a request is (names as AWS spells them), where the
//! bucket and key come from (path style or virtual-host style), percent-decoding of the key and
//! the query, and the AWS bucket-naming rules.
//!
//! Must not: do I/O, look at headers other than what the caller passes in, or check that a
//! bucket or object exists. Authentication happens elsewhere; this only names the request.
//!
//! Invariants of every `Ok(Route)`:
//! - `key` is `Some` only with a `bucket`, is non-empty, valid UTF-8 and at most
//!   [`KEY_LEN_MAX_BYTES`] bytes after decoding;
//! - `bucket` contains only `[A-Za-z0-9._-]`, starts with a letter or digit and is at most
//!   [`BUCKET_NAME_LEN_MAX_LEGACY`] bytes, so it can never be `.`/`..` or hold a `/`; for
//!   `CreateBucket` it also passes [`validate_bucket_name`] (AWS's current rules);
//! - `query` has at most [`QUERY_PARAMS_MAX`] pairs, all decoded to UTF-8, in request order.

use percent_encoding::percent_decode_str;
use std::borrow::Cow;

use crate::proto::absent::Absent;
use crate::proto::error::{S3Error, S3ErrorCode};

/// S3's limit on an object key, in bytes of UTF-8 after percent-decoding.
pub const KEY_LEN_MAX_BYTES: usize = 1024;
/// Most query parameters a request may carry; real S3 requests carry at most about fifteen.
pub const QUERY_PARAMS_MAX: usize = 100;
/// Shortest bucket name AWS allows.
pub const BUCKET_NAME_LEN_MIN: usize = 3;
/// Longest bucket name AWS allows for new buckets.
pub const BUCKET_NAME_LEN_MAX: usize = 63;
/// Longest bucket name accepted when addressing (not creating) a bucket: legacy us-east-1 names.
pub const BUCKET_NAME_LEN_MAX_LEGACY: usize = 255;

const _: () = assert!(BUCKET_NAME_LEN_MIN <= BUCKET_NAME_LEN_MAX);
const _: () = assert!(BUCKET_NAME_LEN_MAX <= BUCKET_NAME_LEN_MAX_LEGACY);

/// The S3 operation a request asks for. Names (see [`Operation::name`]) are AWS's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    ListObjects,
    ListObjectsV2,
    /// No bucket is versioned: lists every object as its one version, `null`.
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PutObject,
    /// A browser-form upload (`multipart/form-data` POST to the bucket), authenticated by the
    /// form's policy signature rather than the request's headers.
    PostObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// `GET /bucket?acl`: the bucket's canned ACL as an AccessControlPolicy.
    GetBucketAcl,
    /// `PUT /bucket?acl`: sets the canned ACL (`x-amz-acl`, or an equivalent policy body).
    PutBucketAcl,
    /// `GET /bucket/key?acl`: the owner's full control (objects carry no ACL of their own).
    GetObjectAcl,
    /// `PUT /bucket/key?acl`: accepted only for an ACL granting no one but the owner (a no-op).
    PutObjectAcl,
    /// `PUT`, `GET`, `DELETE /bucket?tagging`: the bucket's tags.
    PutBucketTagging,
    GetBucketTagging,
    DeleteBucketTagging,
    /// `PUT`, `GET`, `DELETE /bucket/key?tagging`: the object's tags.
    PutObjectTagging,
    GetObjectTagging,
    DeleteObjectTagging,
    /// `PUT /bucket?cors`, `GET /bucket?cors`, `DELETE /bucket?cors`: the bucket's CORS rules.
    PutBucketCors,
    GetBucketCors,
    DeleteBucketCors,
    /// `OPTIONS /bucket[/key]`: a browser asking whether a cross-origin request is allowed
    /// (unauthenticated, answered from the bucket's CORS rules).
    CorsPreflight,
    /// Reading a configuration Tessera never has (`GET /bucket?cors`, `GET /b/k?tagging`):
    /// S3's answer for a bucket or object without one (`proto::absent`).
    GetAbsent(Absent),
    /// Deleting such a configuration: a no-op `204`.
    DeleteAbsent(Absent),
    /// A real S3 operation that Tessera does not implement (answer 501 `NotImplemented`).
    /// Carries the AWS operation name, e.g. `"PutBucketVersioning"` or `"RestoreObject"`.
    NotImplemented(&'static str),
}

impl Operation {
    /// The AWS operation name, e.g. `"PutObject"`; stable, used as a metrics label.
    pub fn name(&self) -> &'static str {
        use Operation::*;
        match self {
            ListBuckets => "ListBuckets",
            CreateBucket => "CreateBucket",
            HeadBucket => "HeadBucket",
            DeleteBucket => "DeleteBucket",
            GetBucketLocation => "GetBucketLocation",
            ListObjects => "ListObjects",
            ListObjectsV2 => "ListObjectsV2",
            ListObjectVersions => "ListObjectVersions",
            ListMultipartUploads => "ListMultipartUploads",
            DeleteObjects => "DeleteObjects",
            PutObject => "PutObject",
            PostObject => "PostObject",
            CopyObject => "CopyObject",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            DeleteObject => "DeleteObject",
            CreateMultipartUpload => "CreateMultipartUpload",
            UploadPart => "UploadPart",
            UploadPartCopy => "UploadPartCopy",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            AbortMultipartUpload => "AbortMultipartUpload",
            ListParts => "ListParts",
            GetBucketAcl => "GetBucketAcl",
            PutBucketAcl => "PutBucketAcl",
            GetObjectAcl => "GetObjectAcl",
            PutObjectAcl => "PutObjectAcl",
            PutBucketTagging => "PutBucketTagging",
            GetBucketTagging => "GetBucketTagging",
            DeleteBucketTagging => "DeleteBucketTagging",
            PutObjectTagging => "PutObjectTagging",
            GetObjectTagging => "GetObjectTagging",
            DeleteObjectTagging => "DeleteObjectTagging",
            PutBucketCors => "PutBucketCors",
            GetBucketCors => "GetBucketCors",
            DeleteBucketCors => "DeleteBucketCors",
            CorsPreflight => "PreflightRequest",
            GetAbsent(c) => c.describe().1,
            DeleteAbsent(c) => c.describe().2.unwrap_or("DeleteAbsent"),
            NotImplemented(name) => name,
        }
    }
}

/// A routed request: the operation, its bucket and key, and the decoded query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub op: Operation,
    /// The bucket, from the path (path style) or the `Host` (virtual-host style).
    pub bucket: Option<String>,
    /// The object key: percent-decoded UTF-8, never empty (an empty key is a bucket request).
    pub key: Option<String>,
    /// The query parameters, decoded (`+` is a space here), in request order. A parameter
    /// without `=` (a sub-resource such as `uploads`) has the empty value.
    pub query: Vec<(String, String)>,
}

impl Route {
    /// The value of the first query parameter called `name`, if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        query_param(&self.query, name)
    }

    /// Whether the query carries `name`, with or without a value.
    pub fn has_param(&self, name: &str) -> bool {
        self.param(name).is_some()
    }
}

/// The methods S3 uses. Anything else is answered 501 before routing further.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
}

/// Whether an unsupported sub-resource row applies to a bucket or to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Bucket,
    Object,
}

/// Sub-resources of real S3 operations Tessera does not implement:
/// (query parameter, level, method, AWS operation name). They are checked before the supported
/// operations, so `PUT /b/k?retention` is `PutObjectRetention` (501), never a `PutObject`.
const UNSUPPORTED: &[(&str, Level, Method, &str)] = {
    use Level::{Bucket as B, Object as O};
    use Method::{Delete as D, Get as G, Post as P, Put as U};
    &[
        ("versioning", B, U, "PutBucketVersioning"),
        // `acl` (Get/PutBucketAcl, Get/PutObjectAcl) is routed before this table, and so
        // are reads and deletes of the configurations in `proto::absent`.
        ("policy", B, U, "PutBucketPolicy"),
        ("lifecycle", B, U, "PutBucketLifecycleConfiguration"),
        ("object-lock", B, U, "PutObjectLockConfiguration"),
        ("encryption", B, U, "PutBucketEncryption"),
        ("website", B, U, "PutBucketWebsite"),
        ("logging", B, U, "PutBucketLogging"),
        ("notification", B, U, "PutBucketNotificationConfiguration"),
        ("replication", B, U, "PutBucketReplication"),
        ("ownershipControls", B, U, "PutBucketOwnershipControls"),
        ("publicAccessBlock", B, U, "PutPublicAccessBlock"),
        ("accelerate", B, U, "PutBucketAccelerateConfiguration"),
        ("requestPayment", B, U, "PutBucketRequestPayment"),
        (
            "intelligent-tiering",
            B,
            G,
            "GetBucketIntelligentTieringConfiguration",
        ),
        (
            "intelligent-tiering",
            B,
            U,
            "PutBucketIntelligentTieringConfiguration",
        ),
        (
            "intelligent-tiering",
            B,
            D,
            "DeleteBucketIntelligentTieringConfiguration",
        ),
        ("inventory", B, G, "GetBucketInventoryConfiguration"),
        ("inventory", B, U, "PutBucketInventoryConfiguration"),
        ("inventory", B, D, "DeleteBucketInventoryConfiguration"),
        ("metrics", B, G, "GetBucketMetricsConfiguration"),
        ("metrics", B, U, "PutBucketMetricsConfiguration"),
        ("metrics", B, D, "DeleteBucketMetricsConfiguration"),
        ("analytics", B, G, "GetBucketAnalyticsConfiguration"),
        ("analytics", B, U, "PutBucketAnalyticsConfiguration"),
        ("analytics", B, D, "DeleteBucketAnalyticsConfiguration"),
        ("torrent", O, G, "GetObjectTorrent"),
        ("retention", O, G, "GetObjectRetention"),
        ("retention", O, U, "PutObjectRetention"),
        ("legal-hold", O, G, "GetObjectLegalHold"),
        ("legal-hold", O, U, "PutObjectLegalHold"),
        ("attributes", O, G, "GetObjectAttributes"),
        ("restore", O, P, "RestoreObject"),
        ("select", O, P, "SelectObjectContent"),
    ]
};

/// Routes one request.
///
/// `raw_path` is the request target's path exactly as received (still percent-encoded, starting
/// with `/`); `raw_query` is what followed the `?` (without it, maybe empty). `host` is the
/// `Host` header; `domain` is the configured S3 domain (e.g. `s3.example.com`), which enables
/// virtual-host style for `Host: <bucket>.<domain>[:port]`. `has_copy_source` says whether
/// `x-amz-copy-source` is present, which turns a PUT into a copy.
pub fn route(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    host: Option<&str>,
    domain: Option<&str>,
    has_copy_source: bool,
) -> Result<Route, S3Error> {
    let preflight = method == "OPTIONS";
    let method = if preflight {
        Method::Get
    } else {
        parse_method(method)?
    };
    let query = parse_query(raw_query)?;
    let (bucket, key) = split_target(raw_path, host, domain)?;
    let op = match (&bucket, &key) {
        // A browser's CORS preflight, for the bucket or an object in it.
        (Some(_), _) if preflight => Operation::CorsPreflight,
        (None, _) if preflight => return Err(S3Error::new(S3ErrorCode::NotImplemented)),
        (None, _) => service_op(method)?,
        (Some(_), None) => bucket_op(method, &query)?,
        (Some(_), Some(_)) => object_op(method, &query, has_copy_source)?,
    };
    if op == Operation::CreateBucket {
        if let Some(name) = &bucket {
            validate_bucket_name(name)?;
        }
    }
    Ok(Route {
        op,
        bucket,
        key,
        query,
    })
}

fn parse_method(method: &str) -> Result<Method, S3Error> {
    // HTTP methods are case-sensitive; S3 answers an unknown one with 501.
    match method {
        "GET" => Ok(Method::Get),
        "HEAD" => Ok(Method::Head),
        "PUT" => Ok(Method::Put),
        "POST" => Ok(Method::Post),
        "DELETE" => Ok(Method::Delete),
        _ => Err(S3Error::new(S3ErrorCode::NotImplemented)),
    }
}

fn query_param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn has(query: &[(String, String)], name: &str) -> bool {
    query_param(query, name).is_some()
}

/// Splits and decodes the query string. `+` means a space here (form encoding), unlike in paths.
pub fn parse_query(raw_query: &str) -> Result<Vec<(String, String)>, S3Error> {
    let mut out = Vec::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        if out.len() == QUERY_PARAMS_MAX {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Too many query parameters.",
            ));
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode_query_part(name)?, decode_query_part(value)?));
    }
    Ok(out)
}

fn decode_query_part(raw: &str) -> Result<String, S3Error> {
    let spaced: Cow<'_, str> = if raw.contains('+') {
        Cow::Owned(raw.replace('+', " "))
    } else {
        Cow::Borrowed(raw)
    };
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Query parameters must be valid UTF-8 after decoding.",
            )
        })
}

/// Finds the bucket and key: from the `Host` when it is `<bucket>.<domain>`, else from the path.
fn split_target(
    raw_path: &str,
    host: Option<&str>,
    domain: Option<&str>,
) -> Result<(Option<String>, Option<String>), S3Error> {
    let Some(rest) = raw_path.strip_prefix('/') else {
        return Err(S3Error::with_message(
            S3ErrorCode::BadRequest,
            "The request path must start with '/'.",
        ));
    };
    if let Some(bucket) = virtual_host_bucket(host, domain) {
        check_bucket_syntax(&bucket)?;
        // Virtual-host style: the whole path after the first '/' is the key.
        return Ok((Some(bucket), decode_key(rest)?));
    }
    if rest.is_empty() {
        return Ok((None, None));
    }
    let (raw_bucket, raw_key) = rest.split_once('/').unwrap_or((rest, ""));
    let bucket = percent_decode_str(raw_bucket)
        .decode_utf8()
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidBucketName))?
        .into_owned();
    check_bucket_syntax(&bucket)?;
    Ok((Some(bucket), decode_key(raw_key)?))
}

/// The bucket named by the `Host` header in virtual-host style, lower-cased (DNS names are
/// case-insensitive). `None` means path style: no domain configured, a `Host` equal to the
/// domain, or a `Host` outside it (an IP address, `localhost`, ...).
pub fn virtual_host_bucket(host: Option<&str>, domain: Option<&str>) -> Option<String> {
    let host = strip_port(host?.trim()).to_ascii_lowercase();
    let domain = strip_port(domain?.trim())
        .trim_start_matches('.')
        .to_ascii_lowercase();
    if domain.is_empty() {
        return None;
    }
    let prefix = host.strip_suffix(domain.as_str())?.strip_suffix('.')?;
    if prefix.is_empty() {
        return None;
    }
    Some(prefix.to_string())
}

/// Drops a `:port` suffix; keeps an IPv6 literal (`[::1]:9000` -> `[::1]`) whole.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Percent-decodes a key; `+` stays a literal plus in paths. Empty means "no key".
fn decode_key(raw: &str) -> Result<Option<String>, S3Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    // Each decoded byte takes at most three raw bytes: refuse hopeless keys before decoding.
    if raw.len() > KEY_LEN_MAX_BYTES * 3 {
        return Err(S3Error::new(S3ErrorCode::KeyTooLongError));
    }
    let key = percent_decode_str(raw).decode_utf8().map_err(|_| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Object keys must be valid UTF-8.",
        )
    })?;
    if key.len() > KEY_LEN_MAX_BYTES {
        return Err(S3Error::new(S3ErrorCode::KeyTooLongError));
    }
    Ok(Some(key.into_owned()))
}

/// The lenient check applied to every addressed bucket: legacy names (upper case, `_`, up to
/// 255 bytes) still route, but nothing that could escape a directory or hold a separator does.
fn check_bucket_syntax(name: &str) -> Result<(), S3Error> {
    let ok = !name.is_empty()
        && name.len() <= BUCKET_NAME_LEN_MAX_LEGACY
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(S3Error::new(S3ErrorCode::InvalidBucketName).resource(name))
    }
}

/// AWS's current rules for creating a general purpose bucket:
/// 3–63 bytes of lower-case letters, digits, `.` and `-`; first and last a letter or digit;
/// no `..`, and (DNS labels may not start or end with `-`) no `.-` or `-.`; not shaped like an
/// IPv4 address; none of the reserved prefixes (`xn--`, `sthree-`, `amzn-s3-demo-`) or suffixes
/// (`-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`, `--table-s3`). Legacy names are refused.
pub fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    if bucket_name_is_valid(name) {
        Ok(())
    } else {
        Err(S3Error::new(S3ErrorCode::InvalidBucketName).resource(name))
    }
}

const RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

fn bucket_name_is_valid(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    (BUCKET_NAME_LEN_MIN..=BUCKET_NAME_LEN_MAX).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'))
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !looks_like_ipv4(name)
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        && !RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Shaped like an IPv4 address: four dot-separated runs of 1–3 digits (`192.168.05.1` too).
fn looks_like_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

fn service_op(method: Method) -> Result<Operation, S3Error> {
    match method {
        Method::Get => Ok(Operation::ListBuckets),
        _ => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
    }
}

/// The operation on a sub-resource other than `acl`: a read or delete of a configuration
/// Tessera never has (`proto::absent`), or one it does not implement (`UNSUPPORTED`).
fn unsupported(level: Level, method: Method, query: &[(String, String)]) -> Option<Operation> {
    for c in Absent::ALL {
        let (param, _, delete) = c.describe();
        if level != Level::Bucket || !has(query, param) {
            continue;
        }
        match method {
            Method::Get => return Some(Operation::GetAbsent(c)),
            Method::Delete if delete.is_some() => return Some(Operation::DeleteAbsent(c)),
            _ => {}
        }
    }
    UNSUPPORTED
        .iter()
        .find(|(param, l, m, _)| *l == level && *m == method && has(query, param))
        .map(|(_, _, _, name)| Operation::NotImplemented(name))
}

/// A known sub-resource with a method S3 has no operation for (`DELETE /b?versioning`).
fn known_subresource(level: Level, query: &[(String, String)]) -> bool {
    UNSUPPORTED
        .iter()
        .any(|(param, l, _, _)| *l == level && has(query, param))
        || (level == Level::Bucket && Absent::ALL.iter().any(|c| has(query, c.describe().0)))
}

fn bucket_op(method: Method, query: &[(String, String)]) -> Result<Operation, S3Error> {
    if method != Method::Head && has(query, "acl") {
        return match method {
            Method::Get => Ok(Operation::GetBucketAcl),
            Method::Put => Ok(Operation::PutBucketAcl),
            _ => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
        };
    }
    if has(query, "cors") {
        return match method {
            Method::Get => Ok(Operation::GetBucketCors),
            Method::Put => Ok(Operation::PutBucketCors),
            Method::Delete => Ok(Operation::DeleteBucketCors),
            Method::Head => Ok(Operation::HeadBucket),
            Method::Post => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
        };
    }
    if has(query, "tagging") {
        return match method {
            Method::Get => Ok(Operation::GetBucketTagging),
            Method::Put => Ok(Operation::PutBucketTagging),
            Method::Delete => Ok(Operation::DeleteBucketTagging),
            Method::Head => Ok(Operation::HeadBucket),
            Method::Post => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
        };
    }
    if method != Method::Head {
        if let Some(op) = unsupported(Level::Bucket, method, query) {
            return Ok(op);
        }
        if known_subresource(Level::Bucket, query)
            || (method != Method::Get && has(query, "versions"))
        {
            return Err(S3Error::new(S3ErrorCode::MethodNotAllowed));
        }
    }
    let op = match method {
        Method::Get if has(query, "location") => Operation::GetBucketLocation,
        Method::Get if has(query, "uploads") => Operation::ListMultipartUploads,
        Method::Get if has(query, "versions") => Operation::ListObjectVersions,
        // S3 only knows list-type=2; any other value lists with version 1.
        Method::Get if query_param(query, "list-type") == Some("2") => Operation::ListObjectsV2,
        Method::Get => Operation::ListObjects,
        Method::Put => Operation::CreateBucket,
        Method::Head => Operation::HeadBucket,
        Method::Delete => Operation::DeleteBucket,
        Method::Post if has(query, "delete") => Operation::DeleteObjects,
        // A browser-form upload (multipart/form-data POST to the bucket).
        Method::Post => Operation::PostObject,
    };
    Ok(op)
}

fn object_op(
    method: Method,
    query: &[(String, String)],
    has_copy_source: bool,
) -> Result<Operation, S3Error> {
    if method != Method::Head && has(query, "acl") {
        return match method {
            Method::Get => Ok(Operation::GetObjectAcl),
            Method::Put => Ok(Operation::PutObjectAcl),
            _ => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
        };
    }
    if has(query, "tagging") {
        return match method {
            Method::Get => Ok(Operation::GetObjectTagging),
            Method::Put => Ok(Operation::PutObjectTagging),
            Method::Delete => Ok(Operation::DeleteObjectTagging),
            Method::Head => Ok(Operation::HeadObject),
            Method::Post => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
        };
    }
    if method != Method::Head {
        if let Some(op) = unsupported(Level::Object, method, query) {
            return Ok(op);
        }
        if known_subresource(Level::Object, query) {
            return Err(S3Error::new(S3ErrorCode::MethodNotAllowed));
        }
    }
    let upload_id = has(query, "uploadId");
    let op = match method {
        Method::Put if upload_id || has(query, "partNumber") => {
            if !(upload_id && has(query, "partNumber")) {
                return Err(S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "Uploading a part needs both partNumber and uploadId.",
                ));
            }
            if has_copy_source {
                Operation::UploadPartCopy
            } else {
                Operation::UploadPart
            }
        }
        Method::Put if has_copy_source => Operation::CopyObject,
        Method::Put => Operation::PutObject,
        Method::Get if upload_id => Operation::ListParts,
        Method::Get => Operation::GetObject,
        Method::Head => Operation::HeadObject,
        Method::Delete if upload_id => Operation::AbortMultipartUpload,
        Method::Delete => Operation::DeleteObject,
        Method::Post if has(query, "uploads") => Operation::CreateMultipartUpload,
        Method::Post if upload_id => Operation::CompleteMultipartUpload,
        Method::Post => return Err(S3Error::new(S3ErrorCode::MethodNotAllowed)),
    };
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Operation::*;

    const D: Option<&str> = Some("s3.example.com");

    type H = Option<&'static str>;
    /// (method, path, query, host, domain, has_copy_source, op, bucket, key)
    type RouteRow = (
        &'static str,
        &'static str,
        &'static str,
        H,
        H,
        bool,
        Operation,
        H,
        H,
    );

    #[test]
    fn routes_table() {
        // (method, path, query, host, domain, copy) -> (op, bucket, key)
        #[rustfmt::skip]
        let table: &[RouteRow] = &[
            // Service.
            ("GET", "/", "", None, None, false, ListBuckets, None, None),
            ("GET", "/", "x-id=ListBuckets", Some("s3.example.com"), D, false, ListBuckets, None, None),
            ("GET", "/", "", Some("S3.Example.COM:9000"), D, false, ListBuckets, None, None),
            // Bucket operations, path style.
            ("PUT", "/bkt", "", None, None, false, CreateBucket, Some("bkt"), None),
            ("PUT", "/bkt/", "", Some("127.0.0.1:9000"), D, false, CreateBucket, Some("bkt"), None),
            ("HEAD", "/bkt", "", None, None, false, HeadBucket, Some("bkt"), None),
            ("DELETE", "/bkt/", "", None, None, false, DeleteBucket, Some("bkt"), None),
            ("GET", "/bkt", "location", None, None, false, GetBucketLocation, Some("bkt"), None),
            ("GET", "/bkt", "uploads&prefix=a", None, None, false, ListMultipartUploads, Some("bkt"), None),
            ("GET", "/bkt", "list-type=2&prefix=a%2Fb", None, None, false, ListObjectsV2, Some("bkt"), None),
            ("GET", "/bkt", "", None, None, false, ListObjects, Some("bkt"), None),
            ("GET", "/bkt/", "prefix=x&delimiter=%2F", None, None, false, ListObjects, Some("bkt"), None),
            ("GET", "/bkt", "list-type=1", None, None, false, ListObjects, Some("bkt"), None),
            ("POST", "/bkt", "delete", None, None, false, DeleteObjects, Some("bkt"), None),
            ("POST", "/bkt", "delete=", None, None, false, DeleteObjects, Some("bkt"), None),
            ("POST", "/bkt", "", None, None, false, PostObject, Some("bkt"), None),
            // Configurations read or deleted as absent, and unsupported bucket sub-resources.
            ("PUT", "/bkt", "cors", None, None, false, PutBucketCors, Some("bkt"), None),
            ("GET", "/bkt", "cors", None, None, false, GetBucketCors, Some("bkt"), None),
            ("DELETE", "/bkt", "cors", None, None, false, DeleteBucketCors, Some("bkt"), None),
            ("OPTIONS", "/bkt", "", None, None, false, CorsPreflight, Some("bkt"), None),
            ("OPTIONS", "/bkt/some/key", "", None, None, false, CorsPreflight, Some("bkt"), Some("some/key")),
            ("GET", "/bkt", "policyStatus", None, None, false, GetAbsent(Absent::PolicyStatus), Some("bkt"), None),
            ("GET", "/bkt/key", "tagging", None, None, false, GetObjectTagging, Some("bkt"), Some("key")),
            ("PUT", "/bkt/key", "tagging", None, None, false, PutObjectTagging, Some("bkt"), Some("key")),
            ("PUT", "/bkt", "tagging", None, None, false, PutBucketTagging, Some("bkt"), None),
            ("DELETE", "/bkt", "tagging", None, None, false, DeleteBucketTagging, Some("bkt"), None),
            ("GET", "/bkt", "versioning", None, None, false, GetAbsent(Absent::Versioning), Some("bkt"), None),
            ("PUT", "/bkt", "versioning", None, None, false, NotImplemented("PutBucketVersioning"), Some("bkt"), None),
            ("GET", "/bkt", "acl", None, None, false, GetBucketAcl, Some("bkt"), None),
            ("PUT", "/bkt", "acl", None, None, false, PutBucketAcl, Some("bkt"), None),
            ("DELETE", "/bkt", "policy", None, None, false, DeleteAbsent(Absent::Policy), Some("bkt"), None),
            ("GET", "/bkt", "lifecycle", None, None, false, GetAbsent(Absent::Lifecycle), Some("bkt"), None),
            ("GET", "/bkt", "tagging", None, None, false, GetBucketTagging, Some("bkt"), None),
            ("GET", "/bkt", "versions&prefix=a", None, None, false, ListObjectVersions, Some("bkt"), None),
            ("GET", "/bkt", "object-lock", None, None, false, GetAbsent(Absent::ObjectLock), Some("bkt"), None),
            ("GET", "/bkt", "encryption", None, None, false, GetAbsent(Absent::Encryption), Some("bkt"), None),
            ("GET", "/bkt", "website", None, None, false, GetAbsent(Absent::Website), Some("bkt"), None),
            ("GET", "/bkt", "logging", None, None, false, GetAbsent(Absent::Logging), Some("bkt"), None),
            ("GET", "/bkt", "notification", None, None, false, GetAbsent(Absent::Notification), Some("bkt"), None),
            ("GET", "/bkt", "replication", None, None, false, GetAbsent(Absent::Replication), Some("bkt"), None),
            ("GET", "/bkt", "ownershipControls", None, None, false, GetAbsent(Absent::OwnershipControls), Some("bkt"), None),
            ("GET", "/bkt", "publicAccessBlock", None, None, false, GetAbsent(Absent::PublicAccessBlock), Some("bkt"), None),
            ("GET", "/bkt", "accelerate", None, None, false, GetAbsent(Absent::Accelerate), Some("bkt"), None),
            ("GET", "/bkt", "requestPayment", None, None, false, GetAbsent(Absent::RequestPayment), Some("bkt"), None),
            ("GET", "/bkt", "intelligent-tiering", None, None, false, NotImplemented("GetBucketIntelligentTieringConfiguration"), Some("bkt"), None),
            ("GET", "/bkt", "inventory&id=x", None, None, false, NotImplemented("GetBucketInventoryConfiguration"), Some("bkt"), None),
            ("GET", "/bkt", "metrics", None, None, false, NotImplemented("GetBucketMetricsConfiguration"), Some("bkt"), None),
            ("GET", "/bkt", "analytics", None, None, false, NotImplemented("GetBucketAnalyticsConfiguration"), Some("bkt"), None),
            ("HEAD", "/bkt", "acl", None, None, false, HeadBucket, Some("bkt"), None),
            // Object operations, path style.
            ("PUT", "/bkt/key", "", None, None, false, PutObject, Some("bkt"), Some("key")),
            ("PUT", "/bkt/key", "", None, None, true, CopyObject, Some("bkt"), Some("key")),
            ("PUT", "/bkt/key", "partNumber=1&uploadId=abc", None, None, false, UploadPart, Some("bkt"), Some("key")),
            ("PUT", "/bkt/key", "uploadId=abc&partNumber=2", None, None, true, UploadPartCopy, Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "", None, None, false, GetObject, Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "partNumber=3", None, None, false, GetObject, Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "uploadId=abc", None, None, false, ListParts, Some("bkt"), Some("key")),
            ("HEAD", "/bkt/key", "", None, None, false, HeadObject, Some("bkt"), Some("key")),
            ("DELETE", "/bkt/key", "", None, None, false, DeleteObject, Some("bkt"), Some("key")),
            ("DELETE", "/bkt/key", "uploadId=abc", None, None, false, AbortMultipartUpload, Some("bkt"), Some("key")),
            ("POST", "/bkt/key", "uploads", None, None, false, CreateMultipartUpload, Some("bkt"), Some("key")),
            ("POST", "/bkt/key", "uploads=", None, None, false, CreateMultipartUpload, Some("bkt"), Some("key")),
            ("POST", "/bkt/key", "uploadId=abc", None, None, false, CompleteMultipartUpload, Some("bkt"), Some("key")),
            // Unsupported object sub-resources.
            ("GET", "/bkt/key", "acl", None, None, false, GetObjectAcl, Some("bkt"), Some("key")),
            ("PUT", "/bkt/key", "acl", None, None, false, PutObjectAcl, Some("bkt"), Some("key")),
            ("PUT", "/bkt/key", "tagging", None, None, false, PutObjectTagging, Some("bkt"), Some("key")),
            ("DELETE", "/bkt/key", "tagging", None, None, false, DeleteObjectTagging, Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "torrent", None, None, false, NotImplemented("GetObjectTorrent"), Some("bkt"), Some("key")),
            ("PUT", "/bkt/key", "retention", None, None, false, NotImplemented("PutObjectRetention"), Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "legal-hold", None, None, false, NotImplemented("GetObjectLegalHold"), Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "attributes", None, None, false, NotImplemented("GetObjectAttributes"), Some("bkt"), Some("key")),
            ("POST", "/bkt/key", "restore", None, None, false, NotImplemented("RestoreObject"), Some("bkt"), Some("key")),
            ("POST", "/bkt/key", "select&select-type=2", None, None, false, NotImplemented("SelectObjectContent"), Some("bkt"), Some("key")),
            // Key decoding: slashes, dots, spaces, plus, unicode, encoded slash.
            ("GET", "/bkt/a/b//c/../d", "", None, None, false, GetObject, Some("bkt"), Some("a/b//c/../d")),
            ("GET", "/bkt/a%20b+c", "", None, None, false, GetObject, Some("bkt"), Some("a b+c")),
            ("GET", "/bkt/%E2%82%AC%2Fx", "", None, None, false, GetObject, Some("bkt"), Some("€/x")),
            ("GET", "/bkt/caf\u{e9}", "", None, None, false, GetObject, Some("bkt"), Some("café")),
            ("GET", "/bkt//lead", "", None, None, false, GetObject, Some("bkt"), Some("/lead")),
            ("GET", "/bkt/trail/", "", None, None, false, GetObject, Some("bkt"), Some("trail/")),
            ("GET", "/bkt/100%", "", None, None, false, GetObject, Some("bkt"), Some("100%")),
            ("GET", "/Legacy_Bucket/k", "", None, None, false, GetObject, Some("Legacy_Bucket"), Some("k")),
            // Virtual-host style.
            ("GET", "/", "", Some("bkt.s3.example.com"), D, false, ListObjects, Some("bkt"), None),
            ("GET", "/", "list-type=2", Some("bkt.s3.example.com:9000"), D, false, ListObjectsV2, Some("bkt"), None),
            ("PUT", "/", "", Some("my.dotted.bkt.s3.example.com"), D, false, CreateBucket, Some("my.dotted.bkt"), None),
            ("HEAD", "/", "", Some("BKT.S3.EXAMPLE.COM"), D, false, HeadBucket, Some("bkt"), None),
            ("POST", "/", "delete", Some("bkt.s3.example.com"), D, false, DeleteObjects, Some("bkt"), None),
            ("GET", "/key", "", Some("bkt.s3.example.com"), D, false, GetObject, Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "", Some("bkt.s3.example.com"), D, false, GetObject, Some("bkt"), Some("bkt/key")),
            ("GET", "//k", "", Some("bkt.s3.example.com"), D, false, GetObject, Some("bkt"), Some("/k")),
            ("PUT", "/a/b%20c", "", Some("bkt.s3.example.com:443"), Some("s3.example.com:443"), false, PutObject, Some("bkt"), Some("a/b c")),
            ("PUT", "/k", "uploadId=u&partNumber=1", Some("bkt.s3.example.com"), D, true, UploadPartCopy, Some("bkt"), Some("k")),
            ("POST", "/k", "uploadId=u", Some("bkt.s3.example.com"), D, false, CompleteMultipartUpload, Some("bkt"), Some("k")),
            ("DELETE", "/k", "uploadId=u", Some("bkt.s3.example.com"), D, false, AbortMultipartUpload, Some("bkt"), Some("k")),
            // Hosts that are not under the domain fall back to path style.
            ("GET", "/bkt/key", "", Some("other.example.org"), D, false, GetObject, Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "", Some("[::1]:9000"), D, false, GetObject, Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "", Some("xs3.example.com"), D, false, GetObject, Some("bkt"), Some("key")),
            ("GET", "/bkt/key", "", Some("bkt.s3.example.com"), None, false, GetObject, Some("bkt"), Some("key")),
        ];
        for (method, path, query, host, domain, copy, op, bucket, key) in table {
            let got = route(method, path, query, *host, *domain, *copy)
                .unwrap_or_else(|e| panic!("{method} {path}?{query} {host:?}: {e}"));
            let ctx = format!("{method} {path}?{query} host={host:?}");
            assert_eq!(got.op, *op, "{ctx}");
            assert_eq!(got.bucket.as_deref(), *bucket, "{ctx}");
            assert_eq!(got.key.as_deref(), *key, "{ctx}");
        }
    }

    #[test]
    fn route_errors_table() {
        let long_key = format!("/bkt/{}", "k".repeat(KEY_LEN_MAX_BYTES + 1));
        let long_encoded = format!("/bkt/{}", "%41".repeat(KEY_LEN_MAX_BYTES + 1));
        let long_raw = format!("/bkt/{}", "k".repeat(KEY_LEN_MAX_BYTES * 3 + 1));
        let too_many: Vec<String> = (0..=QUERY_PARAMS_MAX).map(|i| format!("p{i}=1")).collect();
        let too_many = too_many.join("&");
        #[rustfmt::skip]
        let table: Vec<(&str, &str, &str, Option<&str>, S3ErrorCode)> = vec![
            ("PATCH", "/bkt/key", "", None, S3ErrorCode::NotImplemented),
            ("OPTIONS", "/", "", None, S3ErrorCode::NotImplemented),
            ("get", "/", "", None, S3ErrorCode::NotImplemented),
            ("PUT", "/", "", None, S3ErrorCode::MethodNotAllowed),
            ("DELETE", "/", "", None, S3ErrorCode::MethodNotAllowed),
            ("HEAD", "/", "", None, S3ErrorCode::MethodNotAllowed),
            ("POST", "/bkt/key", "", None, S3ErrorCode::MethodNotAllowed),
            ("POST", "/bkt", "versioning", None, S3ErrorCode::MethodNotAllowed),
            ("PUT", "/bkt", "versions", None, S3ErrorCode::MethodNotAllowed),
            ("DELETE", "/bkt", "versions", None, S3ErrorCode::MethodNotAllowed),
            ("DELETE", "/bkt/key", "acl", None, S3ErrorCode::MethodNotAllowed),
            ("POST", "/bkt/key", "acl", None, S3ErrorCode::MethodNotAllowed),
            ("DELETE", "/bkt", "acl", None, S3ErrorCode::MethodNotAllowed),
            ("POST", "/bkt", "acl", None, S3ErrorCode::MethodNotAllowed),
            ("PUT", "/bkt/key", "partNumber=1", None, S3ErrorCode::InvalidArgument),
            ("PUT", "/bkt/key", "uploadId=x", None, S3ErrorCode::InvalidArgument),
            ("GET", "bkt/key", "", None, S3ErrorCode::BadRequest),
            ("GET", "", "", None, S3ErrorCode::BadRequest),
            ("GET", "/bkt/%FF%FE", "", None, S3ErrorCode::InvalidArgument),
            ("GET", "/bkt/key", "prefix=%FF", None, S3ErrorCode::InvalidArgument),
            ("GET", "/bkt", too_many.as_str(), None, S3ErrorCode::InvalidArgument),
            ("GET", long_key.as_str(), "", None, S3ErrorCode::KeyTooLongError),
            ("GET", long_encoded.as_str(), "", None, S3ErrorCode::KeyTooLongError),
            ("GET", long_raw.as_str(), "", None, S3ErrorCode::KeyTooLongError),
            ("GET", "//key", "", None, S3ErrorCode::InvalidBucketName),
            ("GET", "/../key", "", None, S3ErrorCode::InvalidBucketName),
            ("GET", "/..", "", None, S3ErrorCode::InvalidBucketName),
            ("GET", "/a%2Fb/key", "", None, S3ErrorCode::InvalidBucketName),
            ("GET", "/%FF/key", "", None, S3ErrorCode::InvalidBucketName),
            ("GET", "/key", "", Some("-bad.s3.example.com"), S3ErrorCode::InvalidBucketName),
            ("PUT", "/Bad_Bucket", "", None, S3ErrorCode::InvalidBucketName),
            ("PUT", "/ab", "", None, S3ErrorCode::InvalidBucketName),
            ("PUT", "/", "", Some("192.168.1.1.s3.example.com"), S3ErrorCode::InvalidBucketName),
        ];
        for (method, path, query, host, code) in table {
            let err = route(method, path, query, host, D, false)
                .expect_err(&format!("{method} {path}?{query} should fail"));
            assert_eq!(err.code, code, "{method} {path}?{query}");
        }
    }

    #[test]
    fn key_at_the_limit_is_accepted() {
        let path = format!("/bkt/{}", "é".repeat(KEY_LEN_MAX_BYTES / 2));
        let got = route("GET", &path, "", None, None, false).expect("1024-byte key");
        assert_eq!(got.key.map(|k| k.len()), Some(KEY_LEN_MAX_BYTES));
    }

    #[test]
    fn query_is_decoded_in_order() {
        let got = route(
            "GET",
            "/bkt",
            "list-type=2&prefix=a+b%2Bc%2F&&delimiter=%2F&start-after=&fetch-owner=true&x=1&x=2",
            None,
            None,
            false,
        )
        .expect("route");
        assert_eq!(got.param("prefix"), Some("a b+c/"));
        assert_eq!(got.param("delimiter"), Some("/"));
        assert_eq!(got.param("start-after"), Some(""));
        assert_eq!(got.param("x"), Some("1"));
        assert_eq!(got.param("missing"), None);
        assert!(got.has_param("fetch-owner"));
        assert_eq!(got.query.len(), 7);
        assert_eq!(got.query[0], ("list-type".to_string(), "2".to_string()));
    }

    #[test]
    fn operation_names() {
        let table = [
            (ListBuckets, "ListBuckets"),
            (CreateBucket, "CreateBucket"),
            (HeadBucket, "HeadBucket"),
            (DeleteBucket, "DeleteBucket"),
            (GetBucketLocation, "GetBucketLocation"),
            (ListObjects, "ListObjects"),
            (ListObjectsV2, "ListObjectsV2"),
            (ListObjectVersions, "ListObjectVersions"),
            (ListMultipartUploads, "ListMultipartUploads"),
            (DeleteObjects, "DeleteObjects"),
            (PutObject, "PutObject"),
            (PostObject, "PostObject"),
            (CopyObject, "CopyObject"),
            (GetObject, "GetObject"),
            (HeadObject, "HeadObject"),
            (DeleteObject, "DeleteObject"),
            (CreateMultipartUpload, "CreateMultipartUpload"),
            (UploadPart, "UploadPart"),
            (UploadPartCopy, "UploadPartCopy"),
            (CompleteMultipartUpload, "CompleteMultipartUpload"),
            (AbortMultipartUpload, "AbortMultipartUpload"),
            (ListParts, "ListParts"),
            (NotImplemented("GetBucketAcl"), "GetBucketAcl"),
        ];
        for (op, name) in table {
            assert_eq!(op.name(), name);
        }
    }

    #[test]
    fn unsupported_table_is_well_formed() {
        for (i, (param, level, method, name)) in UNSUPPORTED.iter().enumerate() {
            assert!(!param.is_empty() && !name.is_empty());
            let dup = UNSUPPORTED[i + 1..]
                .iter()
                .any(|(p, l, m, _)| p == param && l == level && m == method);
            assert!(!dup, "duplicate row for {param}");
        }
    }

    #[test]
    fn bucket_names_table() {
        let long_ok = "a".repeat(BUCKET_NAME_LEN_MAX);
        let long_bad = "a".repeat(BUCKET_NAME_LEN_MAX + 1);
        let table: &[(&str, bool)] = &[
            ("abc", true),
            ("my-bucket.with.dots", true),
            ("123", true),
            ("a1-b2.c3", true),
            (long_ok.as_str(), true),
            ("192.168.5.4x", true),
            ("1.2.3", true),
            ("xn-ok", true),
            ("s3alias-ok", true),
            ("ab", false),
            ("", false),
            (long_bad.as_str(), false),
            ("UpperCase", false),
            ("under_score", false),
            ("-dash", false),
            ("dash-", false),
            (".dot", false),
            ("dot.", false),
            ("two..dots", false),
            ("dash-.dot", false),
            ("dot.-dash", false),
            ("192.168.5.4", false),
            ("10.0.0.001", false),
            ("xn--abc", false),
            ("sthree-abc", false),
            ("amzn-s3-demo-bucket", false),
            ("bucket-s3alias", false),
            ("bucket--ol-s3", false),
            ("bucket.mrap", false),
            ("bucket--x-s3", false),
            ("bucket--table-s3", false),
            ("sp ace", false),
            ("slash/y", false),
            ("caf\u{e9}", false),
        ];
        for (name, ok) in table {
            let got = validate_bucket_name(name);
            assert_eq!(got.is_ok(), *ok, "{name:?}");
            if let Err(e) = got {
                assert_eq!(e.code, S3ErrorCode::InvalidBucketName);
            }
        }
    }

    #[test]
    fn strip_port_table() {
        let table = [
            ("host", "host"),
            ("host:9000", "host"),
            ("host:", "host"),
            ("[::1]:9000", "[::1]"),
            ("[::1]", "[::1]"),
            ("a:b", "a:b"),
        ];
        for (input, want) in table {
            assert_eq!(strip_port(input), want, "{input}");
        }
    }
}
