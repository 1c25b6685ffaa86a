//! The S3 operations the benchmarks issue, over one signed keep-alive connection.
//!
//! Owns: addressing (path or virtual-host style), request signing, and turning responses
//! into a `Call` with timings, byte counts and an error string carrying the S3 error code.
//! Must not: decide what to benchmark or keep statistics (that is `workload` and `record`).
//! Invariant: every method returns a `Call`; transport errors and S3 errors both end up in
//! `Call::error`, so a failing server can never abort the run by panicking a worker.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use base64::Engine;
use md5::{Digest, Md5};

use crate::conn::{BodyMode, Conn, HttpError, RequestBody};
use crate::sigv4::{
    canonical_query, payload_sha256, uri_encode, SignInput, Signer, EMPTY_PAYLOAD_SHA256,
    UNSIGNED_PAYLOAD,
};
use crate::timefmt::UtcTime;
use crate::xml;

/// `--lookup`: where the bucket name goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// `http://host/bucket/key`
    Path,
    /// `http://bucket.host/key`
    Host,
}

/// One resolved endpoint of `--host`.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub authority: String,
    pub addr: SocketAddr,
}

#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// (Host header, path prefix) for a bucket on an endpoint: path style puts the bucket in
/// the path, virtual-host style in the host name.
pub fn addressing(lookup: Lookup, bucket: &str, authority: &str) -> (String, String) {
    match lookup {
        Lookup::Path => (authority.to_string(), format!("/{bucket}")),
        Lookup::Host => (format!("{bucket}.{authority}"), String::new()),
    }
}

/// The URI-encoded request path for `key` (or the bucket itself) under `bucket_path`.
pub fn request_path(bucket_path: &str, key: Option<&str>) -> String {
    let mut path = bucket_path.to_string();
    match key {
        Some(key) => {
            path.push('/');
            uri_encode(key, true, &mut path);
        }
        None if path.is_empty() => path.push('/'),
        None => {}
    }
    path
}

/// The result of one S3 request.
pub struct Call {
    pub start: Instant,
    pub first_byte: Option<Instant>,
    pub end: Instant,
    pub status: u16,
    pub body_bytes: u64,
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub error: Option<String>,
}

impl Call {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }
}

pub struct S3Client {
    conn: Conn,
    signer: Signer,
    host_header: String,
    /// `/bucket` for path style, empty for virtual-host style.
    bucket_path: String,
    pub endpoint_index: u16,
    pub endpoint_url: String,
}

struct Request<'a> {
    method: &'static str,
    key: Option<&'a str>,
    query: &'a [(&'a str, &'a str)],
    /// Extra signed headers, lowercase names.
    headers: &'a [(&'a str, &'a str)],
    body: RequestBody<'a>,
    payload_hash: &'a str,
    mode: BodyMode,
}

impl S3Client {
    pub fn new(
        endpoint: &Endpoint,
        endpoint_index: u16,
        bucket: &str,
        lookup: Lookup,
        credentials: &Credentials,
    ) -> S3Client {
        let (host_header, bucket_path) = addressing(lookup, bucket, &endpoint.authority);
        S3Client {
            conn: Conn::new(endpoint.addr),
            signer: Signer::new(
                &credentials.access_key,
                &credentials.secret_key,
                &credentials.region,
            ),
            host_header,
            bucket_path,
            endpoint_index,
            endpoint_url: format!("http://{}", endpoint.authority),
        }
    }

    pub async fn connect(&mut self) -> Result<(), HttpError> {
        self.conn.connect().await
    }

    async fn send(&mut self, request: Request<'_>) -> Call {
        let path = request_path(&self.bucket_path, request.key);
        let query = canonical_query(request.query);
        let amz_date = UtcTime::from_system(SystemTime::now()).amz_date();
        let mut signed: Vec<(&str, &str)> = Vec::with_capacity(4 + request.headers.len());
        signed.push(("host", &self.host_header));
        signed.push(("x-amz-content-sha256", request.payload_hash));
        signed.push(("x-amz-date", &amz_date));
        signed.extend_from_slice(request.headers);
        signed.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let authorization = self.signer.authorization(&SignInput {
            method: request.method,
            canonical_uri: &path,
            canonical_query: &query,
            headers: &signed,
            payload_hash: request.payload_hash,
            amz_date: &amz_date,
        });
        let content_length = request.body.len().to_string();
        let mut wire = signed;
        wire.push(("authorization", &authorization));
        if request.body.len() > 0 || matches!(request.method, "PUT" | "POST") {
            wire.push(("content-length", &content_length));
        }
        let target = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };

        let start = Instant::now();
        let result = self
            .conn
            .exchange(request.method, &target, &wire, request.body, request.mode)
            .await;
        let end = Instant::now();
        match result {
            Ok(response) => {
                let mut call = Call {
                    start,
                    first_byte: Some(response.first_byte),
                    end,
                    status: response.head.status,
                    body_bytes: response.body_bytes,
                    body: response.body,
                    etag: response.head.etag,
                    error: None,
                };
                if call.status >= 300 {
                    let detail = xml::error_summary(call.body_text())
                        .unwrap_or_else(|| response.head.reason.clone());
                    call.error = Some(format!("{} {}: {detail}", request.method, call.status));
                }
                call
            }
            Err(err) => Call {
                start,
                first_byte: None,
                end,
                status: 0,
                body_bytes: 0,
                body: Vec::new(),
                etag: None,
                error: Some(format!("{} {}: {err}", request.method, self.endpoint_url)),
            },
        }
    }

    fn simple<'a>(
        method: &'static str,
        key: Option<&'a str>,
        query: &'a [(&'a str, &'a str)],
    ) -> Request<'a> {
        Request {
            method,
            key,
            query,
            headers: &[],
            body: RequestBody::Empty,
            payload_hash: EMPTY_PAYLOAD_SHA256,
            mode: BodyMode::Count,
        }
    }

    pub async fn put_object(&mut self, key: &str, body: RequestBody<'_>) -> Call {
        let mut request = Self::simple("PUT", Some(key), &[]);
        request.body = body;
        request.payload_hash = UNSIGNED_PAYLOAD;
        self.send(request).await
    }

    /// GET of a whole object, or of one part when `part_number` is given.
    pub async fn get_object(&mut self, key: &str, part_number: Option<u32>) -> Call {
        let part = part_number.map(|n| n.to_string());
        let query: Vec<(&str, &str)> = part
            .as_deref()
            .map(|n| ("partNumber", n))
            .into_iter()
            .collect();
        self.send(Self::simple("GET", Some(key), &query)).await
    }

    pub async fn head_object(&mut self, key: &str) -> Call {
        self.send(Self::simple("HEAD", Some(key), &[])).await
    }

    pub async fn delete_object(&mut self, key: &str) -> Call {
        self.send(Self::simple("DELETE", Some(key), &[])).await
    }

    /// DeleteObjects (quiet mode): a 200 whose body lists per-key errors is still an error.
    pub async fn delete_objects(&mut self, keys: &[String]) -> Call {
        let mut body = String::from("<Delete><Quiet>true</Quiet>");
        for key in keys {
            body.push_str("<Object><Key>");
            xml::escape(key, &mut body);
            body.push_str("</Key></Object>");
        }
        body.push_str("</Delete>");
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
        let hash = payload_sha256(body.as_bytes());
        let headers = [("content-md5", md5.as_str())];
        let mut call = self
            .send(Request {
                method: "POST",
                key: None,
                query: &[("delete", "")],
                headers: &headers,
                body: RequestBody::Bytes(body.as_bytes()),
                payload_hash: &hash,
                mode: BodyMode::Keep,
            })
            .await;
        if call.ok() {
            let failed = xml::count(call.body_text(), "Error");
            if failed > 0 {
                let first = xml::first_text(call.body_text(), "Code").unwrap_or_default();
                call.error = Some(format!(
                    "POST ?delete: {failed} of {} keys failed, first: {first}",
                    keys.len()
                ));
            }
        }
        call
    }

    /// One ListObjectsV2 page under `prefix`.
    pub async fn list_page(
        &mut self,
        prefix: &str,
        max_keys: usize,
        token: Option<&str>,
    ) -> (Call, Option<xml::ListPage>) {
        let max_keys = max_keys.to_string();
        let mut query = vec![
            ("list-type", "2"),
            ("prefix", prefix),
            ("max-keys", max_keys.as_str()),
        ];
        if let Some(token) = token {
            query.push(("continuation-token", token));
        }
        let mut request = Self::simple("GET", None, &query);
        request.mode = BodyMode::Keep;
        let mut call = self.send(request).await;
        let page = if call.ok() {
            xml::parse_list_page(call.body_text())
        } else {
            None
        };
        if call.ok() && page.is_none() {
            call.error = Some("GET ?list-type=2: response is not a ListBucketResult".to_string());
        }
        (call, page)
    }

    /// CreateBucket; an "already yours" answer counts as success.
    pub async fn create_bucket(&mut self) -> Call {
        let mut call = self.send(Self::simple("PUT", None, &[])).await;
        if call.status == 409
            && xml::first_text(call.body_text(), "Code").as_deref()
                == Some("BucketAlreadyOwnedByYou")
        {
            call.error = None;
        }
        call
    }

    pub async fn head_bucket(&mut self) -> Call {
        self.send(Self::simple("HEAD", None, &[])).await
    }

    pub async fn create_multipart_upload(&mut self, key: &str) -> (Call, Option<String>) {
        let mut request = Self::simple("POST", Some(key), &[("uploads", "")]);
        request.mode = BodyMode::Keep;
        let mut call = self.send(request).await;
        let upload_id = if call.ok() {
            xml::first_text(call.body_text(), "UploadId")
        } else {
            None
        };
        if call.ok() && upload_id.is_none() {
            call.error = Some("POST ?uploads: no UploadId in the response".to_string());
        }
        (call, upload_id)
    }

    pub async fn upload_part(
        &mut self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: RequestBody<'_>,
    ) -> Call {
        let part = part_number.to_string();
        let query = [("partNumber", part.as_str()), ("uploadId", upload_id)];
        let mut request = Self::simple("PUT", Some(key), &query);
        request.body = body;
        request.payload_hash = UNSIGNED_PAYLOAD;
        let mut call = self.send(request).await;
        if call.ok() && call.etag.is_none() {
            call.error = Some(format!("PUT part {part_number}: no ETag in the response"));
        }
        call
    }

    /// CompleteMultipartUpload; S3 may answer 200 with an error document, which is an error.
    pub async fn complete_multipart_upload(
        &mut self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Call {
        let mut body = String::from("<CompleteMultipartUpload>");
        for (number, etag) in parts {
            body.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>"));
            xml::escape(etag, &mut body);
            body.push_str("</ETag></Part>");
        }
        body.push_str("</CompleteMultipartUpload>");
        let hash = payload_sha256(body.as_bytes());
        let query = [("uploadId", upload_id)];
        let mut call = self
            .send(Request {
                method: "POST",
                key: Some(key),
                query: &query,
                headers: &[],
                body: RequestBody::Bytes(body.as_bytes()),
                payload_hash: &hash,
                mode: BodyMode::Keep,
            })
            .await;
        if call.ok() && call.body_text().contains("<Error>") {
            let detail = xml::error_summary(call.body_text()).unwrap_or_default();
            call.error = Some(format!("POST ?uploadId: {detail}"));
        }
        call
    }

    pub async fn abort_multipart_upload(&mut self, key: &str, upload_id: &str) -> Call {
        let query = [("uploadId", upload_id)];
        self.send(Self::simple("DELETE", Some(key), &query)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressing_in_both_styles() {
        let cases: &[(Lookup, Option<&str>, &str, &str)] = &[
            (Lookup::Path, None, "h:9000", "/bkt"),
            (
                Lookup::Path,
                Some("ab/c d.rnd"),
                "h:9000",
                "/bkt/ab/c%20d.rnd",
            ),
            (Lookup::Host, None, "bkt.h:9000", "/"),
            (
                Lookup::Host,
                Some("ab/c+d.rnd"),
                "bkt.h:9000",
                "/ab/c%2Bd.rnd",
            ),
        ];
        for (lookup, key, want_host, want_path) in cases {
            let (host, prefix) = addressing(*lookup, "bkt", "h:9000");
            assert_eq!(host, *want_host, "{lookup:?}");
            assert_eq!(
                request_path(&prefix, *key),
                *want_path,
                "{lookup:?} {key:?}"
            );
        }
    }
}
