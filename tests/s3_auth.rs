//! Authentication: anonymous requests (403 AccessDenied), bad signatures (403
//! SignatureDoesNotMatch), unknown keys, clock skew, payload hash mismatch, and presigned
//! GET/PUT URLs made by `aws-sdk-s3` (valid, tampered, expired).

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use tessera_tests::{
    assert_s3_err, create_bucket, md5_hex, random_bytes, unique_bucket, Node, RawResponse,
    SECRET_KEY,
};

async fn bucket(prefix: &str) -> (Client, String) {
    let s3 = Node::shared().client();
    let name = unique_bucket(prefix);
    create_bucket(&s3, &name).await;
    (s3, name)
}

fn client_with(access_key: &str, secret: &str) -> Client {
    let node = Node::shared();
    let base = node.client().config().to_builder();
    Client::from_conf(
        base.credentials_provider(Credentials::new(access_key, secret, None, None, "test"))
            .build(),
    )
}

#[track_caller]
fn assert_error(response: &RawResponse, status: u16, code: &str) {
    assert_eq!(
        (response.status, response.error_code().as_deref()),
        (status, Some(code)),
        "{}",
        response.text()
    );
}

#[tokio::test]
async fn anonymous_requests_are_denied() {
    let (s3, b) = bucket("anon").await;
    s3.put_object()
        .bucket(&b)
        .key("secret")
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap();
    let raw = Node::shared().raw();
    for (method, path, body) in [
        ("GET", "/".to_string(), &b""[..]),
        ("GET", format!("/{b}"), b""),
        ("GET", format!("/{b}/secret"), b""),
        ("PUT", format!("/{b}/anon-put"), b"data"),
        ("DELETE", format!("/{b}/secret"), b""),
        ("PUT", "/anon-bucket-create".to_string(), b""),
        ("POST", format!("/{b}/k?uploads"), b""),
    ] {
        let response = raw.request(method, &path, &[], body);
        assert_error(&response, 403, "AccessDenied");
    }
    // Nothing changed.
    let got = s3
        .get_object()
        .bucket(&b)
        .key("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"secret"
    );
    tessera_tests::assert_status(
        s3.head_object().bucket(&b).key("anon-put").send().await,
        404,
    );
    tessera_tests::assert_status(
        s3.head_bucket().bucket("anon-bucket-create").send().await,
        404,
    );
    // HEAD has no body, but the status is still 403.
    let head = raw.request("HEAD", &format!("/{b}/secret"), &[], b"");
    assert_eq!(head.status, 403);
}

#[tokio::test]
async fn bad_signatures_are_refused() {
    let (s3, b) = bucket("badsig").await;
    let wrong = client_with(tessera_tests::ACCESS_KEY, "not-the-secret");
    assert_s3_err(
        wrong.list_buckets().send().await,
        "SignatureDoesNotMatch",
        403,
    );
    assert_s3_err(
        wrong
            .put_object()
            .bucket(&b)
            .key("forged")
            .body(ByteStream::from_static(b"forged"))
            .send()
            .await,
        "SignatureDoesNotMatch",
        403,
    );
    tessera_tests::assert_status(s3.head_object().bucket(&b).key("forged").send().await, 404);
    let unknown = client_with("AKIAUNKNOWNKEY000000", SECRET_KEY);
    assert_s3_err(
        unknown.list_buckets().send().await,
        "InvalidAccessKeyId",
        403,
    );

    let raw = Node::shared().raw();
    // A header changed after signing.
    let mut headers = raw.sign(
        "GET",
        &format!("/{b}"),
        &[("x-amz-meta-a", "1")],
        b"",
        SECRET_KEY,
    );
    for (name, value) in headers.iter_mut() {
        if name == "x-amz-meta-a" {
            *value = "2".into();
        }
    }
    assert_error(
        &raw.send("GET", &format!("/{b}"), &headers, b""),
        403,
        "SignatureDoesNotMatch",
    );
    // A path changed after signing.
    let headers = raw.sign("GET", &format!("/{b}/a"), &[], b"", SECRET_KEY);
    assert_error(
        &raw.send("GET", &format!("/{b}/b"), &headers, b""),
        403,
        "SignatureDoesNotMatch",
    );
    // A garbled Authorization header.
    let response = raw.request(
        "GET",
        "/",
        &[
            ("authorization", "AWS4-HMAC-SHA256 garbage"),
            ("x-amz-date", "20250101T000000Z"),
        ],
        b"",
    );
    assert!(
        matches!(response.status, 400 | 403),
        "{}: {}",
        response.status,
        response.text()
    );
}

#[tokio::test]
async fn clock_skew_and_payload_hash() {
    let (s3, b) = bucket("skew").await;
    let raw = Node::shared().raw();
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let path = format!("/{b}/skewed");
    let headers = raw.sign_at("PUT", &path, &[], b"data", SECRET_KEY, an_hour_ago);
    assert_error(
        &raw.send("PUT", &path, &headers, b"data"),
        403,
        "RequestTimeTooSkewed",
    );
    // Signed for one body, sent with another of the same length.
    let path = format!("/{b}/swapped");
    let headers = raw.sign("PUT", &path, &[], b"good", SECRET_KEY);
    assert_error(
        &raw.send("PUT", &path, &headers, b"evil"),
        400,
        "XAmzContentSHA256Mismatch",
    );
    tessera_tests::assert_status(s3.head_object().bucket(&b).key("swapped").send().await, 404);
    // UNSIGNED-PAYLOAD is accepted.
    let path = format!("/{b}/unsigned");
    let headers = raw.sign(
        "PUT",
        &path,
        &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        b"",
        SECRET_KEY,
    );
    let response = raw.send("PUT", &path, &headers, b"unsigned body");
    assert_eq!(response.status, 200, "{}", response.text());
    let got = s3
        .get_object()
        .bucket(&b)
        .key("unsigned")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"unsigned body"
    );
}

/// `path?query` of a presigned URI.
fn path_and_query(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let at = rest.find('/').expect("path in presigned URI");
    rest[at..].to_string()
}

fn presigned_headers(request: &aws_sdk_s3::presigning::PresignedRequest) -> Vec<(String, String)> {
    request
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn presigned_get_and_put() {
    let (s3, b) = bucket("presign").await;
    let node = Node::shared();
    let raw = node.raw();
    let host = format!("127.0.0.1:{}", node.s3_port);
    let data = random_bytes(300_000, 31);
    let config = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();

    // PUT through a presigned URL (no Authorization header, no SDK on the wire).
    let put = s3
        .put_object()
        .bucket(&b)
        .key("a/presigned object")
        .content_type("application/x-test")
        .presigned(config.clone())
        .await
        .unwrap();
    assert_eq!(put.method(), "PUT");
    let mut headers = vec![("host".to_string(), host.clone())];
    headers.extend(presigned_headers(&put));
    let path = path_and_query(put.uri());
    assert!(path.contains("X-Amz-Signature="), "{path}");
    let response = raw.send("PUT", &path, &headers, &data);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("etag"),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );
    let head = s3
        .head_object()
        .bucket(&b)
        .key("a/presigned object")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.content_type(), Some("application/x-test"));

    // GET through a presigned URL, with a response override in the signed query.
    let get = s3
        .get_object()
        .bucket(&b)
        .key("a/presigned object")
        .response_content_disposition("attachment")
        .presigned(config.clone())
        .await
        .unwrap();
    let mut headers = vec![("host".to_string(), host.clone())];
    headers.extend(presigned_headers(&get));
    let path = path_and_query(get.uri());
    let response = raw.send("GET", &path, &headers, b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(md5_hex(&response.body), md5_hex(&data));
    assert_eq!(response.header("content-disposition"), Some("attachment"));

    // A presigned URL is for its method, key and query only.
    let tampered = path.replace("presigned%20object", "other");
    let response = raw.send("GET", &tampered, &headers, b"");
    assert_error(&response, 403, "SignatureDoesNotMatch");
    let response = raw.send("DELETE", &path, &headers, b"");
    assert_error(&response, 403, "SignatureDoesNotMatch");
    let forged = match path.find("X-Amz-Signature=") {
        Some(at) => {
            let sig_start = at + "X-Amz-Signature=".len();
            let mut forged = path.clone();
            let flipped = if &path[sig_start..sig_start + 1] == "0" {
                "1"
            } else {
                "0"
            };
            forged.replace_range(sig_start..sig_start + 1, flipped);
            forged
        }
        None => unreachable!(),
    };
    assert_error(
        &raw.send("GET", &forged, &headers, b""),
        403,
        "SignatureDoesNotMatch",
    );
    let response = raw.send(
        "GET",
        &path.replace(
            "response-content-disposition=attachment",
            "response-content-disposition=inline",
        ),
        &headers,
        b"",
    );
    assert_error(&response, 403, "SignatureDoesNotMatch");

    // Expired: signed an hour ago for ten minutes.
    let expired = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(3600))
        .expires_in(Duration::from_secs(600))
        .build()
        .unwrap();
    let get = s3
        .get_object()
        .bucket(&b)
        .key("a/presigned object")
        .presigned(expired)
        .await
        .unwrap();
    let mut headers = vec![("host".to_string(), host.clone())];
    headers.extend(presigned_headers(&get));
    let response = raw.send("GET", &path_and_query(get.uri()), &headers, b"");
    assert_error(&response, 403, "AccessDenied");
    assert!(
        response.text().to_ascii_lowercase().contains("expired"),
        "{}",
        response.text()
    );
}
