//! HTTP-level behaviour on raw TCP: malformed heads and oversized headers get a 400 and the
//! node stays up; a client that vanishes mid-upload leaves no object; keep-alive, pipelining,
//! `Expect: 100-continue`, chunked bodies; virtual-hosted-style addressing (`--domain`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use tessera_tests::{
    assert_status, create_bucket, md5_hex, random_bytes, read_next_response, read_response,
    unique_bucket, Node, SECRET_KEY,
};

async fn bucket(prefix: &str) -> (Client, String) {
    let s3 = Node::shared().client();
    let name = unique_bucket(prefix);
    create_bucket(&s3, &name).await;
    (s3, name)
}

/// The node still serves S3 requests.
async fn assert_alive(s3: &Client) {
    s3.list_buckets()
        .send()
        .await
        .expect("the node still answers after bad input");
}

/// Sends `bytes`, returns the status of the answer, or `None` if the node closed the
/// connection without one.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let raw = Node::shared().raw();
    match raw.send_bytes(bytes) {
        Ok(response) => Some(response.status),
        Err(_) => None,
    }
}

#[tokio::test]
async fn malformed_heads_get_400_and_the_node_stays_up() {
    let s3 = Node::shared().client();
    let big_value = "v".repeat(20 * 1024);
    let many_headers: String = (0..300).map(|i| format!("x-h-{i}: {i}\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage request line", b"GARBAGE\r\n\r\n".to_vec()),
        ("no version", b"GET /\r\n\r\n".to_vec()),
        ("header without colon", b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n".to_vec()),
        ("space in header name", b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n".to_vec()),
        ("bad content-length", b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".to_vec()),
        (
            "two content-lengths",
            b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
        ),
        (
            "content-length and chunked",
            b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        ),
        (
            "oversized header",
            format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big_value}\r\n\r\n").into_bytes(),
        ),
        (
            "too many headers",
            format!("GET / HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
        ),
        ("binary", (0u8..=255).cycle().take(4096).collect()),
    ];
    for (what, bytes) in &cases {
        let status = status_of(bytes);
        assert_eq!(status, Some(400), "{what}");
        assert_alive(&s3).await;
    }
    // An oversized head that never ends is cut off too, without waiting for the rest.
    let mut stream = TcpStream::connect(Node::shared().addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let endless = format!("GET / HTTP/1.1\r\nX-Endless: {}", "e".repeat(64 * 1024));
    let _ = stream.write_all(endless.as_bytes());
    let response = read_response(&mut stream, false);
    assert_eq!(response.map(|r| r.status).ok(), Some(400), "endless head");
    // An unknown method is 501 in S3's XML shape.
    let response = Node::shared()
        .raw()
        .send_bytes(b"PATCH / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(response.status, 501, "{}", response.text());
    assert_eq!(response.error_code().as_deref(), Some("NotImplemented"));
    assert_alive(&s3).await;
}

#[tokio::test]
async fn connections_opened_and_dropped_do_not_hurt() {
    let s3 = Node::shared().client();
    let addr = Node::shared().addr();
    // Connect and close at once; send half a head and close; idle connections.
    let mut idle = Vec::new();
    for i in 0..50 {
        let mut stream = TcpStream::connect(addr).unwrap();
        if i % 2 == 0 {
            let _ = stream.write_all(b"GET / HTTP/1.1\r\nHo");
        }
        if i % 5 == 0 {
            idle.push(stream);
        }
    }
    assert_alive(&s3).await;
    drop(idle);
    assert_alive(&s3).await;
}

/// Writes the signed head of a PUT announcing `announced` bytes, then only `sent` bytes of the
/// body, and closes the connection.
fn vanish_mid_body(path: &str, announced: usize, sent: usize, payload_hash: Option<&str>) {
    let node = Node::shared();
    let raw = node.raw();
    let body = random_bytes(announced, announced as u64);
    let length = announced.to_string();
    let mut extra = vec![("content-length", length.as_str())];
    if let Some(hash) = payload_hash {
        extra.push(("x-amz-content-sha256", hash));
    }
    let headers = raw.sign("PUT", path, &extra, &body, SECRET_KEY);
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(node.addr()).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..sent]).unwrap();
    stream.flush().unwrap();
    drop(stream);
}

#[tokio::test]
async fn vanished_client_leaves_no_object() {
    let (s3, b) = bucket("vanish").await;
    let node = Node::shared();
    let aborted = || node.requests_total("PutObject", 400) + node.requests_total("UploadPart", 400);
    let aborted_before = aborted();
    let cases = [
        ("a-small", 100_000, 50_000, None),
        ("b-large", 3 * 1024 * 1024, 2 * 1024 * 1024 + 17, None),
        (
            "a-unsigned",
            2 * 1024 * 1024,
            1024 * 1024,
            Some("UNSIGNED-PAYLOAD"),
        ),
        ("b-head-only", 1_000_000, 0, Some("UNSIGNED-PAYLOAD")),
    ];
    for (key, announced, sent, hash) in cases {
        vanish_mid_body(&format!("/{b}/{key}"), announced, sent, hash);
    }
    // Over an existing object: the old version must stay whole.
    s3.put_object()
        .bucket(&b)
        .key("a-existing")
        .body(ByteStream::from_static(b"old version"))
        .send()
        .await
        .unwrap();
    vanish_mid_body(&format!("/{b}/a-existing"), 500_000, 250_000, None);
    // A part of a multipart upload.
    let id = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("b-mpu")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    vanish_mid_body(
        &format!("/{b}/b-mpu?partNumber=1&uploadId={id}"),
        6 * 1024 * 1024,
        3 * 1024 * 1024,
        Some("UNSIGNED-PAYLOAD"),
    );

    // Wait until the node has answered (to nobody) all six truncated uploads with a 400.
    let deadline = Instant::now() + Duration::from_secs(20);
    while aborted() < aborted_before + 6 {
        assert!(
            Instant::now() < deadline,
            "the node did not notice the vanished clients: {} of 6",
            aborted() - aborted_before
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (key, ..) in cases {
        assert_status(s3.head_object().bucket(&b).key(key).send().await, 404);
    }
    let listed = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, vec!["a-existing"]);
    let got = s3
        .get_object()
        .bucket(&b)
        .key("a-existing")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"old version"
    );
    let parts = s3
        .list_parts()
        .bucket(&b)
        .key("b-mpu")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert!(parts.parts().is_empty(), "{:?}", parts.parts());
    assert_alive(&s3).await;
}

#[tokio::test]
async fn keep_alive_pipelining_and_expect_continue() {
    let (s3, b) = bucket("keepalive").await;
    let node = Node::shared();
    let raw = node.raw();
    s3.put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"pipelined"))
        .send()
        .await
        .unwrap();
    // Two signed GETs written at once on one connection: two answers, in order.
    let path = format!("/{b}/k");
    let mut bytes = Vec::new();
    for range in ["bytes=0-3", "bytes=4-"] {
        let headers = raw.sign("GET", &path, &[("range", range)], b"", SECRET_KEY);
        bytes.extend(format!("GET {path} HTTP/1.1\r\n").into_bytes());
        for (name, value) in &headers {
            bytes.extend(format!("{name}: {value}\r\n").into_bytes());
        }
        bytes.extend(b"\r\n");
    }
    let mut stream = TcpStream::connect(node.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&bytes).unwrap();
    // Both answers may arrive in one read: what is read past the first is kept for the second.
    let mut pending = Vec::new();
    let first = read_next_response(&mut stream, &mut pending, false).unwrap();
    let second = read_next_response(&mut stream, &mut pending, false).unwrap();
    assert_eq!((first.status, first.body.as_slice()), (206, &b"pipe"[..]));
    assert_eq!(
        (second.status, second.body.as_slice()),
        (206, &b"lined"[..])
    );

    // Expect: 100-continue: the node says 100 before the body is sent.
    let data = random_bytes(100_000, 41);
    let length = data.len().to_string();
    let path = format!("/{b}/continued");
    let headers = raw.sign(
        "PUT",
        &path,
        &[("expect", "100-continue"), ("content-length", &length)],
        &data,
        SECRET_KEY,
    );
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (name, value) in &headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(node.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(&data).unwrap();
    let response = read_response(&mut stream, false).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("etag"),
        Some(format!("\"{}\"", md5_hex(&data)).as_str())
    );

    // Transfer-Encoding: chunked with an unsigned payload.
    let path = format!("/{b}/chunked");
    let headers = raw.sign(
        "PUT",
        &path,
        &[
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("transfer-encoding", "chunked"),
        ],
        b"",
        SECRET_KEY,
    );
    let mut body = Vec::new();
    for piece in data.chunks(30_000) {
        body.extend(format!("{:x}\r\n", piece.len()).into_bytes());
        body.extend(piece);
        body.extend(b"\r\n");
    }
    body.extend(b"0\r\n\r\n");
    let response = raw.send("PUT", &path, &headers, &body);
    assert_eq!(response.status, 200, "{}", response.text());
    let got = s3
        .get_object()
        .bucket(&b)
        .key("chunked")
        .send()
        .await
        .unwrap();
    let got = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(md5_hex(&got), md5_hex(&data));
}

#[tokio::test]
async fn virtual_hosted_style() {
    let node = Node::shared();
    let vhost = node.vhost_client();
    let path_style = node.client();
    let b = unique_bucket("vhost");
    // The SDK puts the bucket in the Host: bucket.localhost:PORT.
    vhost.create_bucket().bucket(&b).send().await.unwrap();
    let data = random_bytes(200_000, 51);
    vhost
        .put_object()
        .bucket(&b)
        .key("dir/a key")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let got = vhost
        .get_object()
        .bucket(&b)
        .key("dir/a key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        md5_hex(&got.body.collect().await.unwrap().into_bytes()),
        md5_hex(&data)
    );
    // The same object through path style.
    let got = path_style
        .get_object()
        .bucket(&b)
        .key("dir/a key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        md5_hex(&got.body.collect().await.unwrap().into_bytes()),
        md5_hex(&data)
    );
    let listed = vhost
        .list_objects_v2()
        .bucket(&b)
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = listed
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(prefixes, vec!["dir/"]);
    vhost.head_bucket().bucket(&b).send().await.unwrap();

    // Raw requests with a virtual-host Host header, signed for it.
    let raw = node.raw();
    let host = format!("{b}.localhost:{}", node.s3_port);
    let response = raw.signed("GET", "/dir/a%20key", &[("host", host.as_str())], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(md5_hex(&response.body), md5_hex(&data));
    let response = raw.signed("GET", "/?list-type=2", &[("host", host.as_str())], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response.text().contains("<Key>dir/a key</Key>"),
        "{}",
        response.text()
    );
    // Host equal to the domain is path style.
    let plain = format!("localhost:{}", node.s3_port);
    let response = raw.signed(
        "GET",
        &format!("/{b}/dir/a%20key"),
        &[("host", plain.as_str())],
        b"",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    // An unknown bucket in the Host.
    let missing = format!("{}.localhost:{}", unique_bucket("nope"), node.s3_port);
    let response = raw.signed("GET", "/k", &[("host", missing.as_str())], b"");
    assert_eq!(response.status, 404, "{}", response.text());
    assert_eq!(response.error_code().as_deref(), Some("NoSuchBucket"));

    vhost
        .delete_object()
        .bucket(&b)
        .key("dir/a key")
        .send()
        .await
        .unwrap();
    vhost.delete_bucket().bucket(&b).send().await.unwrap();
    assert_status(path_style.head_bucket().bucket(&b).send().await, 404);
}
