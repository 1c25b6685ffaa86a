//! Object operations through `aws-sdk-s3`: PutObject, GetObject (ranges, conditionals,
//! `response-*` overrides, partNumber), HeadObject, DeleteObject, DeleteObjects, CopyObject,
//! conditional writes, Content-MD5, `x-amz-checksum-*`, metadata, unusual keys, and the 501
//! answer for operations Tessera does not implement.

use std::collections::HashMap;

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, Delete, MetadataDirective, ObjectIdentifier,
};
use aws_sdk_s3::Client;
use tessera_tests::{
    assert_s3_err, assert_status, checksum_b64, content_md5, create_bucket, md5_hex, random_bytes,
    unique_bucket, Node,
};

async fn bucket(prefix: &str) -> (Client, String) {
    let s3 = Node::shared().client();
    let name = unique_bucket(prefix);
    create_bucket(&s3, &name).await;
    (s3, name)
}

async fn put(s3: &Client, bucket: &str, key: &str, data: &[u8]) -> String {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key:?}: {e:?}"));
    out.e_tag().expect("ETag").to_string()
}

async fn get_bytes(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key:?}: {e:?}"));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

#[tokio::test]
async fn put_get_head_delete_sizes() {
    let (s3, b) = bucket("sizes").await;
    // Empty, tiny, packed (< 128 KiB), just over packed, a stripe plus, several stripes.
    let sizes = [
        0usize,
        1,
        4095,
        4097,
        128 * 1024 - 1,
        128 * 1024 + 1,
        1024 * 1024 + 7,
        3 * 1024 * 1024 + 13,
    ];
    for (i, size) in sizes.into_iter().enumerate() {
        let data = random_bytes(size, i as u64);
        // Alternate first bytes so both cores own some of these keys.
        let key = format!("{}size-{size}", ["a", "b"][i % 2]);
        let etag = put(&s3, &b, &key, &data).await;
        assert_eq!(etag, quoted_md5(&data), "ETag of {key}");

        let got = s3.get_object().bucket(&b).key(&key).send().await.unwrap();
        assert_eq!(got.content_length(), Some(size as i64));
        assert_eq!(got.e_tag(), Some(etag.as_str()));
        assert_eq!(got.accept_ranges(), Some("bytes"));
        assert!(got.last_modified().is_some());
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(md5_hex(&body), md5_hex(&data), "content of {key}");

        let head = s3.head_object().bucket(&b).key(&key).send().await.unwrap();
        assert_eq!(head.content_length(), Some(size as i64));
        assert_eq!(head.e_tag(), Some(etag.as_str()));
        // What the SDK sent (it always sends a Content-Type).
        assert_eq!(head.content_type(), Some("application/octet-stream"));

        s3.delete_object()
            .bucket(&b)
            .key(&key)
            .send()
            .await
            .unwrap();
        assert_s3_err(
            s3.get_object().bucket(&b).key(&key).send().await,
            "NoSuchKey",
            404,
        );
        assert_status(s3.head_object().bucket(&b).key(&key).send().await, 404);
    }
    // Without a Content-Type, S3's default.
    let raw = Node::shared().raw();
    let put = raw.signed("PUT", &format!("/{b}/a-untyped"), &[], b"untyped");
    assert_eq!(put.status, 200, "{}", put.text());
    let got = raw.signed("GET", &format!("/{b}/a-untyped"), &[], b"");
    assert_eq!(got.header("content-type"), Some("binary/octet-stream"));
    assert_eq!(got.body, b"untyped");
    // Deleting what is not there is still a success, as in S3.
    s3.delete_object()
        .bucket(&b)
        .key("a-never")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn overwrite_replaces_content_and_metadata() {
    let (s3, b) = bucket("overwrite").await;
    s3.put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"first version"))
        .metadata("one", "1")
        .send()
        .await
        .unwrap();
    let second = random_bytes(200_000, 9);
    s3.put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from(second.clone()))
        .metadata("two", "2")
        .send()
        .await
        .unwrap();
    let got = s3.get_object().bucket(&b).key("k").send().await.unwrap();
    let meta = got.metadata().cloned().unwrap_or_default();
    assert_eq!(meta, HashMap::from([("two".to_string(), "2".to_string())]));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(md5_hex(&body), md5_hex(&second));
}

#[tokio::test]
async fn unusual_keys_round_trip() {
    let (s3, b) = bucket("keys").await;
    let long_key = format!("L{}", "k".repeat(1023));
    let keys = [
        "../escape",
        "a//double//slash",
        "//leading",
        "trailing/",
        "with space and  two",
        "plus+sign",
        "percent%20literal",
        "question?mark",
        "hash#tag",
        "ampersand&equals=",
        "ключ/日本語/🦀",
        "é-first-byte-above-ascii",
        "~tilde",
        "!bang",
        "tab\tinside",
        "semi;colon,comma",
        "quote\"and'apostrophe",
        "<angle>&amp;",
        long_key.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        let data = format!("content of key {i}").into_bytes();
        put(&s3, &b, key, &data).await;
        assert_eq!(get_bytes(&s3, &b, key).await, data, "key {key:?}");
    }
    let mut want: Vec<&str> = keys.to_vec();
    want.sort();
    let listed = s3
        .list_objects_v2()
        .bucket(&b)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(listed, want);

    let too_long = "x".repeat(1025);
    assert_s3_err(
        s3.put_object()
            .bucket(&b)
            .key(&too_long)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "KeyTooLongError",
        400,
    );
}

#[tokio::test]
async fn metadata_and_content_headers_are_stored_and_returned() {
    let (s3, b) = bucket("meta").await;
    let expires = DateTime::from_secs(4_102_444_800); // 2100-01-01
    s3.put_object()
        .bucket(&b)
        .key("b/meta")
        .body(ByteStream::from_static(b"<p>hello</p>"))
        .content_type("text/html; charset=utf-8")
        .content_encoding("identity")
        .content_disposition("attachment; filename=\"hello.html\"")
        .content_language("de-CH")
        .cache_control("max-age=60, private")
        .expires(expires)
        .metadata("color", "blue")
        .metadata("Mixed-Case", "Value With Spaces")
        .metadata("empty", "")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(&b)
        .key("b/meta")
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(&b)
        .key("b/meta")
        .send()
        .await
        .unwrap();
    for (what, ct, ce, cd, cl, cc, exp, meta) in [
        (
            "HEAD",
            head.content_type(),
            head.content_encoding(),
            head.content_disposition(),
            head.content_language(),
            head.cache_control(),
            head.expires_string(),
            head.metadata(),
        ),
        (
            "GET",
            got.content_type(),
            got.content_encoding(),
            got.content_disposition(),
            got.content_language(),
            got.cache_control(),
            got.expires_string(),
            got.metadata(),
        ),
    ] {
        assert_eq!(ct, Some("text/html; charset=utf-8"), "{what}");
        assert_eq!(ce, Some("identity"), "{what}");
        assert_eq!(cd, Some("attachment; filename=\"hello.html\""), "{what}");
        assert_eq!(cl, Some("de-CH"), "{what}");
        assert_eq!(cc, Some("max-age=60, private"), "{what}");
        assert_eq!(exp, Some("Fri, 01 Jan 2100 00:00:00 GMT"), "{what}");
        let meta = meta.cloned().unwrap_or_default();
        assert_eq!(
            meta.get("color").map(String::as_str),
            Some("blue"),
            "{what}"
        );
        // S3 lower-cases user metadata names.
        assert_eq!(
            meta.get("mixed-case").map(String::as_str),
            Some("Value With Spaces"),
            "{what}: {meta:?}"
        );
        assert_eq!(meta.get("empty").map(String::as_str), Some(""), "{what}");
    }
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"<p>hello</p>");

    // More than 2 KiB of user metadata is refused.
    assert_s3_err(
        s3.put_object()
            .bucket(&b)
            .key("big-meta")
            .body(ByteStream::from_static(b"x"))
            .metadata("big", "v".repeat(2100))
            .send()
            .await,
        "MetadataTooLarge",
        400,
    );
}

#[tokio::test]
async fn ranges() {
    let (s3, b) = bucket("ranges").await;
    let data = random_bytes(2 * 1024 * 1024 + 100, 7);
    let size = data.len() as u64;
    let small = b"0123456789".to_vec();
    put(&s3, &b, "a-large", &data).await;
    put(&s3, &b, "b-small", &small).await;
    put(&s3, &b, "a-empty", b"").await;

    let cases: Vec<(&str, u64, u64)> = vec![
        ("bytes=0-0", 0, 0),
        ("bytes=0-9", 0, 9),
        ("bytes=1048570-1048600", 1_048_570, 1_048_600), // across a stripe boundary
        ("bytes=2097152-", 2_097_152, size - 1),         // open-ended
        ("bytes=-100", size - 100, size - 1),            // suffix
        ("bytes=100-99999999999", 100, size - 1),        // end clamped
        ("bytes=-99999999999", 0, size - 1),             // suffix longer than the object
    ];
    for (range, first, last) in cases {
        let got = s3
            .get_object()
            .bucket(&b)
            .key("a-large")
            .range(range)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{range}: {e:?}"));
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {first}-{last}/{size}").as_str()),
            "{range}"
        );
        assert_eq!(
            got.content_length(),
            Some((last - first + 1) as i64),
            "{range}"
        );
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(
            md5_hex(&body),
            md5_hex(&data[first as usize..=last as usize]),
            "{range}"
        );
    }
    let got = s3
        .get_object()
        .bucket(&b)
        .key("b-small")
        .range("bytes=3-5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"345"
    );

    // HEAD with a range answers 206 headers without a body.
    let head = s3
        .head_object()
        .bucket(&b)
        .key("b-small")
        .range("bytes=-4")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(4));
    assert_eq!(head.content_range(), Some("bytes 6-9/10"));

    for range in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
        assert_s3_err(
            s3.get_object()
                .bucket(&b)
                .key("b-small")
                .range(range)
                .send()
                .await,
            "InvalidRange",
            416,
        );
    }
    assert_s3_err(
        s3.get_object()
            .bucket(&b)
            .key("a-empty")
            .range("bytes=0-")
            .send()
            .await,
        "InvalidRange",
        416,
    );
    // A range S3 does not understand means the whole object.
    for range in ["bytes=5-2", "items=0-1", "bytes=0-1,3-4"] {
        let got = s3
            .get_object()
            .bucket(&b)
            .key("b-small")
            .range(range)
            .send()
            .await
            .unwrap();
        assert_eq!(got.content_range(), None, "{range}");
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            &small[..],
            "{range}"
        );
    }
}

#[tokio::test]
async fn conditional_reads() {
    let (s3, b) = bucket("cond").await;
    let etag = put(&s3, &b, "b-cond", b"conditional").await;
    let head = s3
        .head_object()
        .bucket(&b)
        .key("b-cond")
        .send()
        .await
        .unwrap();
    let lm = head.last_modified().unwrap().secs();
    let past = DateTime::from_secs(lm - 3600);
    let future = DateTime::from_secs(lm + 3600);
    let same = DateTime::from_secs(lm);

    let get = || s3.get_object().bucket(&b).key("b-cond");
    let head = || s3.head_object().bucket(&b).key("b-cond");

    // If-Match
    get().if_match(&etag).send().await.unwrap();
    get().if_match("*").send().await.unwrap();
    assert_s3_err(
        get()
            .if_match("\"00000000000000000000000000000000\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    assert_status(head().if_match("\"nope\"").send().await, 412);
    // If-None-Match
    assert_status(get().if_none_match(&etag).send().await, 304);
    assert_status(get().if_none_match("*").send().await, 304);
    assert_status(head().if_none_match(&etag).send().await, 304);
    get().if_none_match("\"other\"").send().await.unwrap();
    // If-Modified-Since
    assert_status(get().if_modified_since(future).send().await, 304);
    assert_status(get().if_modified_since(same).send().await, 304);
    let body = get()
        .if_modified_since(past)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.as_ref(), b"conditional");
    // If-Unmodified-Since
    assert_s3_err(
        get().if_unmodified_since(past).send().await,
        "PreconditionFailed",
        412,
    );
    get().if_unmodified_since(same).send().await.unwrap();
    get().if_unmodified_since(future).send().await.unwrap();
    // S3's documented pairs: If-Match true wins over If-Unmodified-Since false...
    get()
        .if_match(&etag)
        .if_unmodified_since(past)
        .send()
        .await
        .unwrap();
    // ...and If-None-Match false wins over If-Modified-Since true (304).
    assert_status(
        get()
            .if_none_match(&etag)
            .if_modified_since(past)
            .send()
            .await,
        304,
    );
    // A failed If-Match is 412 even when If-None-Match would say 304.
    assert_status(
        get().if_match("\"nope\"").if_none_match(&etag).send().await,
        412,
    );
    // A 304 still carries the ETag.
    let raw = Node::shared().raw().signed(
        "GET",
        &format!("/{b}/b-cond"),
        &[("if-none-match", etag.as_str())],
        b"",
    );
    assert_eq!(raw.status, 304);
    assert_eq!(raw.header("etag"), Some(etag.as_str()));
    assert!(raw.body.is_empty());
}

#[tokio::test]
async fn response_header_overrides() {
    let (s3, b) = bucket("override").await;
    s3.put_object()
        .bucket(&b)
        .key("a-doc")
        .body(ByteStream::from_static(b"{}"))
        .content_type("application/json")
        .cache_control("no-cache")
        .send()
        .await
        .unwrap();
    let got = s3
        .get_object()
        .bucket(&b)
        .key("a-doc")
        .response_content_type("text/plain")
        .response_content_language("fr")
        .response_expires(DateTime::from_secs(4_102_444_800))
        .response_cache_control("max-age=5")
        .response_content_disposition("inline; filename=\"x.txt\"")
        .response_content_encoding("identity")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.content_language(), Some("fr"));
    assert_eq!(got.expires_string(), Some("Fri, 01 Jan 2100 00:00:00 GMT"));
    assert_eq!(got.cache_control(), Some("max-age=5"));
    assert_eq!(
        got.content_disposition(),
        Some("inline; filename=\"x.txt\"")
    );
    assert_eq!(got.content_encoding(), Some("identity"));
    // Each header appears once: the stored value is replaced, not duplicated.
    let raw = Node::shared().raw().signed(
        "GET",
        &format!(
            "/{b}/a-doc?response-cache-control=max-age%3D5&response-content-type=text%2Fplain"
        ),
        &[],
        b"",
    );
    assert_eq!(raw.status, 200, "{}", raw.text());
    let count = |name: &str| {
        raw.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    };
    assert_eq!(count("cache-control"), 1, "{:?}", raw.headers);
    assert_eq!(count("content-type"), 1, "{:?}", raw.headers);
    assert_eq!(raw.header("cache-control"), Some("max-age=5"));
}

#[tokio::test]
async fn part_number_of_a_simple_object() {
    let (s3, b) = bucket("partnum").await;
    put(&s3, &b, "a-simple", b"simple object").await;
    let got = s3
        .get_object()
        .bucket(&b)
        .key("a-simple")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"simple object"
    );
    let result = s3
        .get_object()
        .bucket(&b)
        .key("a-simple")
        .part_number(2)
        .send()
        .await;
    let err = result.expect_err("part 2 of a simple object");
    let (_, status) = tessera_tests::err_code(&err);
    assert!(
        matches!(status, Some(400) | Some(416)),
        "part 2 of a one-part object: {err:?}"
    );
}

#[tokio::test]
async fn delete_objects_across_cores_quiet_and_verbose() {
    let (s3, b) = bucket("multidel").await;
    let keys: Vec<String> = (0..40)
        .map(|i| format!("{}{i:03}", ['a', 'b', 'c', 'd', 'Z', '0', '~', '!'][i % 8]))
        .collect();
    for key in &keys {
        put(&s3, &b, key, key.as_bytes()).await;
    }
    let ids = |ks: &[String]| -> Delete {
        Delete::builder()
            .set_objects(Some(
                ks.iter()
                    .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    // Verbose: every key (and a missing one) is reported deleted.
    let mut first: Vec<String> = keys[..20].to_vec();
    first.push("a-missing".to_string());
    let out = s3
        .delete_objects()
        .bucket(&b)
        .delete(ids(&first))
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<String> = out
        .deleted()
        .iter()
        .map(|d| d.key().unwrap().to_string())
        .collect();
    deleted.sort();
    first.sort();
    assert_eq!(deleted, first);
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    // Quiet: nothing reported on success.
    let rest: Vec<String> = keys[20..].to_vec();
    let mut quiet = ids(&rest);
    quiet.quiet = Some(true);
    let out = s3
        .delete_objects()
        .bucket(&b)
        .delete(quiet)
        .send()
        .await
        .unwrap();
    assert!(out.deleted().is_empty(), "{:?}", out.deleted());
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    let listed = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "{listed:?}");

    // 1000 keys is the limit; 1001 is refused.
    let many: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    s3.delete_objects()
        .bucket(&b)
        .delete(ids(&many[..1000]))
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.delete_objects()
            .bucket(&b)
            .delete(ids(&many))
            .send()
            .await,
        "MalformedXML",
        400,
    );
}

#[tokio::test]
async fn copy_object() {
    let (s3, b) = bucket("copy").await;
    let (_, b2) = bucket("copy-dst").await;
    let data = random_bytes(1_500_000, 3);
    let src_etag = s3
        .put_object()
        .bucket(&b)
        .key("a/source key+ü")
        .body(ByteStream::from(data.clone()))
        .content_type("image/png")
        .metadata("origin", "src")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    let source = format!("{b}/a/source%20key%2B%C3%BC");

    // COPY (default): content and metadata come along; b... is owned by the other core.
    let out = s3
        .copy_object()
        .bucket(&b2)
        .key("b-copy")
        .copy_source(&source)
        .send()
        .await
        .unwrap();
    let result = out.copy_object_result().unwrap();
    assert_eq!(result.e_tag(), Some(src_etag.as_str()));
    assert!(result.last_modified().is_some());
    let got = s3
        .get_object()
        .bucket(&b2)
        .key("b-copy")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("image/png"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("origin"))
            .map(String::as_str),
        Some("src")
    );
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(md5_hex(&body), md5_hex(&data));

    // REPLACE: metadata from the request.
    s3.copy_object()
        .bucket(&b)
        .key("c-replaced")
        .copy_source(&source)
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/plain")
        .metadata("fresh", "yes")
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(&b)
        .key("c-replaced")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    let meta = head.metadata().cloned().unwrap_or_default();
    assert_eq!(
        meta,
        HashMap::from([("fresh".to_string(), "yes".to_string())])
    );
    assert_eq!(head.content_length(), Some(data.len() as i64));

    // Onto itself: only with REPLACE.
    assert_s3_err(
        s3.copy_object()
            .bucket(&b)
            .key("a/source key+ü")
            .copy_source(&source)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    s3.copy_object()
        .bucket(&b)
        .key("a/source key+ü")
        .copy_source(&source)
        .metadata_directive(MetadataDirective::Replace)
        .metadata("origin", "self")
        .send()
        .await
        .unwrap();
    assert_eq!(
        md5_hex(&get_bytes(&s3, &b, "a/source key+ü").await),
        md5_hex(&data)
    );

    // Missing source and missing source bucket.
    assert_s3_err(
        s3.copy_object()
            .bucket(&b)
            .key("x")
            .copy_source(format!("{b}/nope"))
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    assert_s3_err(
        s3.copy_object()
            .bucket(&b)
            .key("x")
            .copy_source(format!("{}/nope", unique_bucket("none")))
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
}

#[tokio::test]
async fn copy_source_conditions() {
    let (s3, b) = bucket("copycond").await;
    let etag = put(&s3, &b, "a-src", b"copy me").await;
    let lm = s3
        .head_object()
        .bucket(&b)
        .key("a-src")
        .send()
        .await
        .unwrap()
        .last_modified()
        .unwrap()
        .secs();
    let past = DateTime::from_secs(lm - 3600);
    let future = DateTime::from_secs(lm + 3600);
    let copy = || {
        s3.copy_object()
            .bucket(&b)
            .key("b-dst")
            .copy_source(format!("{b}/a-src"))
    };
    copy().copy_source_if_match(&etag).send().await.unwrap();
    copy()
        .copy_source_if_none_match("\"other\"")
        .send()
        .await
        .unwrap();
    copy()
        .copy_source_if_modified_since(past)
        .send()
        .await
        .unwrap();
    copy()
        .copy_source_if_unmodified_since(future)
        .send()
        .await
        .unwrap();
    for (what, result) in [
        (
            "if-match",
            copy().copy_source_if_match("\"other\"").send().await,
        ),
        (
            "if-none-match",
            copy().copy_source_if_none_match(&etag).send().await,
        ),
        (
            "if-modified-since",
            copy().copy_source_if_modified_since(future).send().await,
        ),
        (
            "if-unmodified-since",
            copy().copy_source_if_unmodified_since(past).send().await,
        ),
    ] {
        let err = result.expect_err(what);
        assert_eq!(
            tessera_tests::err_code(&err),
            (Some("PreconditionFailed".to_string()), Some(412)),
            "{what}: {err:?}"
        );
    }
}

#[tokio::test]
async fn conditional_writes() {
    let (s3, b) = bucket("condput").await;
    let put_if = |key: &str, body: &'static [u8]| {
        s3.put_object()
            .bucket(&b)
            .key(key)
            .body(ByteStream::from_static(body))
    };
    // If-None-Match: * creates only.
    let etag = put_if("a-once", b"one")
        .if_none_match("*")
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    assert_s3_err(
        put_if("a-once", b"two").if_none_match("*").send().await,
        "PreconditionFailed",
        412,
    );
    assert_eq!(get_bytes(&s3, &b, "a-once").await, b"one");
    // If-Match replaces only the expected version.
    assert_s3_err(
        put_if("a-once", b"two")
            .if_match("\"0123456789abcdef0123456789abcdef\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    put_if("a-once", b"two")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&s3, &b, "a-once").await, b"two");
    // If-Match on a key that does not exist: 404 NoSuchKey, as S3 answers.
    assert_s3_err(
        put_if("b-absent", b"x").if_match(&etag).send().await,
        "NoSuchKey",
        404,
    );
    assert_status(
        s3.head_object().bucket(&b).key("b-absent").send().await,
        404,
    );
}

#[tokio::test]
async fn content_md5_verified() {
    let (s3, b) = bucket("md5").await;
    let data = random_bytes(300_000, 5);
    s3.put_object()
        .bucket(&b)
        .key("a-md5")
        .body(ByteStream::from(data.clone()))
        .content_md5(content_md5(&data))
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.put_object()
            .bucket(&b)
            .key("b-md5-bad")
            .body(ByteStream::from(data.clone()))
            .content_md5(content_md5(b"something else"))
            .send()
            .await,
        "BadDigest",
        400,
    );
    assert_status(
        s3.head_object().bucket(&b).key("b-md5-bad").send().await,
        404,
    );
    assert_s3_err(
        s3.put_object()
            .bucket(&b)
            .key("b-md5-bad")
            .body(ByteStream::from(data.clone()))
            .content_md5("not base64!")
            .send()
            .await,
        "InvalidDigest",
        400,
    );
}

const ALGOS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

fn sdk_algo(name: &str) -> ChecksumAlgorithm {
    match name {
        "crc32" => ChecksumAlgorithm::Crc32,
        "crc32c" => ChecksumAlgorithm::Crc32C,
        "crc64nvme" => ChecksumAlgorithm::Crc64Nvme,
        "sha1" => ChecksumAlgorithm::Sha1,
        "sha256" => ChecksumAlgorithm::Sha256,
        _ => unreachable!(),
    }
}

/// The checksum of `algo` from any SDK output that has the five getters.
macro_rules! checksum_of {
    ($out:expr, $algo:expr) => {
        match $algo {
            "crc32" => $out.checksum_crc32(),
            "crc32c" => $out.checksum_crc32_c(),
            "crc64nvme" => $out.checksum_crc64_nvme(),
            "sha1" => $out.checksum_sha1(),
            "sha256" => $out.checksum_sha256(),
            _ => unreachable!(),
        }
    };
}

#[tokio::test]
async fn checksums_sdk_trailers_verified_stored_returned() {
    let (s3, b) = bucket("cksum").await;
    let data = random_bytes(700_000, 11);
    for (i, algo) in ALGOS.into_iter().enumerate() {
        let key = format!("{}-{algo}", ["a", "b"][i % 2]);
        let want = checksum_b64(algo, &data);
        // The SDK computes the checksum and sends it as an aws-chunked trailer.
        let out = s3
            .put_object()
            .bucket(&b)
            .key(&key)
            .body(ByteStream::from(data.clone()))
            .checksum_algorithm(sdk_algo(algo))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{algo}: {e:?}"));
        assert_eq!(checksum_of!(out, algo), Some(want.as_str()), "{algo} PUT");
        assert_eq!(out.e_tag(), Some(quoted_md5(&data).as_str()));

        // Returned (and validated by the SDK) with x-amz-checksum-mode: ENABLED.
        let got = s3
            .get_object()
            .bucket(&b)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(checksum_of!(got, algo), Some(want.as_str()), "{algo} GET");
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(md5_hex(&body), md5_hex(&data));
        let head = s3
            .head_object()
            .bucket(&b)
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(checksum_of!(head, algo), Some(want.as_str()), "{algo} HEAD");
        // Not asked for: not sent.
        let plain = s3.head_object().bucket(&b).key(&key).send().await.unwrap();
        assert_eq!(
            checksum_of!(plain, algo),
            None,
            "{algo} without checksum mode"
        );
        // A copy keeps the checksum (it describes the same bytes).
        let copy = format!("{}-copy-{algo}", ["b", "a"][i % 2]);
        s3.copy_object()
            .bucket(&b)
            .key(&copy)
            .copy_source(format!("{b}/{key}"))
            .send()
            .await
            .unwrap();
        let head = s3
            .head_object()
            .bucket(&b)
            .key(&copy)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(checksum_of!(head, algo), Some(want.as_str()), "{algo} copy");
    }
}

#[tokio::test]
async fn checksums_in_headers_raw() {
    let node = Node::shared();
    let (s3, b) = bucket("cksumhdr").await;
    let raw = node.raw();
    let data = random_bytes(200_000, 12);
    for algo in ALGOS {
        let header = format!("x-amz-checksum-{algo}");
        let good = checksum_b64(algo, &data);
        let bad = checksum_b64(algo, b"other bytes");
        let key = format!("hdr-{algo}");
        let path = format!("/{b}/{key}");
        let response = raw.signed("PUT", &path, &[(header.as_str(), bad.as_str())], &data);
        assert_eq!(response.status, 400, "{algo}: {}", response.text());
        assert_eq!(
            response.error_code().as_deref(),
            Some("BadDigest"),
            "{algo}"
        );
        assert_status(s3.head_object().bucket(&b).key(&key).send().await, 404);

        let response = raw.signed("PUT", &path, &[(header.as_str(), good.as_str())], &data);
        assert_eq!(response.status, 200, "{algo}: {}", response.text());
        assert_eq!(response.header(&header), Some(good.as_str()), "{algo}");
        let got = raw.signed("GET", &path, &[("x-amz-checksum-mode", "ENABLED")], b"");
        assert_eq!(got.status, 200);
        assert_eq!(got.header(&header), Some(good.as_str()), "{algo}");
        assert_eq!(md5_hex(&got.body), md5_hex(&data));
        // Never with part of an object: it would not describe the bytes sent.
        let ranged = raw.signed(
            "GET",
            &path,
            &[("x-amz-checksum-mode", "ENABLED"), ("range", "bytes=0-9")],
            b"",
        );
        assert_eq!(ranged.status, 206);
        assert_eq!(ranged.header(&header), None, "{algo} on a range");
    }
    // An SDK-supplied wrong value in the header is refused too.
    assert_s3_err(
        s3.put_object()
            .bucket(&b)
            .key("sdk-bad")
            .body(ByteStream::from(data.clone()))
            .checksum_sha256(checksum_b64("sha256", b"nope"))
            .send()
            .await,
        "BadDigest",
        400,
    );
}

#[tokio::test]
async fn unimplemented_operations_are_501() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let node = Node::shared();
    let (s3, b) = bucket("notimpl").await;
    put(&s3, &b, "k", b"x").await;
    let enabled = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .build();
    assert_s3_err(
        s3.put_bucket_versioning()
            .bucket(&b)
            .versioning_configuration(enabled)
            .send()
            .await,
        "NotImplemented",
        501,
    );
    assert_s3_err(
        s3.put_bucket_policy().bucket(&b).policy("{}").send().await,
        "NotImplemented",
        501,
    );
    // The XML error shape, on the wire.
    let raw = node.raw().signed(
        "PUT",
        &format!("/{b}?lifecycle"),
        &[],
        b"<LifecycleConfiguration/>",
    );
    assert_eq!(raw.status, 501);
    assert!(
        raw.header("content-type")
            .is_some_and(|t| t.contains("xml")),
        "{:?}",
        raw.headers
    );
    let text = raw.text();
    assert!(text.starts_with("<?xml"), "{text}");
    assert!(text.contains("<Error>"), "{text}");
    assert_eq!(raw.error_code().as_deref(), Some("NotImplemented"));
    assert!(
        tessera_tests::xml_value(&text, "Message").is_some(),
        "{text}"
    );
    assert!(
        tessera_tests::xml_value(&text, "RequestId").is_some(),
        "{text}"
    );
    // Nothing was set: the bucket still has no versioning, the object no tags.
    let versioning = s3
        .get_bucket_versioning()
        .bucket(&b)
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status(), None);
    let tagging = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("tagging");
    assert!(tagging.tag_set().is_empty());
    assert_eq!(get_bytes(&s3, &b, "k").await, b"x");
}

/// Configurations Tessera never has read as S3 reads them on a bucket (or object) without
/// one, and deleting one succeeds: tools that read every configuration (Terraform, the aws
/// cli v2 copying tags) work. Only the owner may, and the bucket and object must exist.
#[tokio::test]
async fn absent_configurations_read_as_none_and_delete_as_no_ops() {
    use aws_sdk_s3::types::Payer;
    let node = Node::shared();
    let (s3, b) = bucket("absent").await;
    put(&s3, &b, "k", b"tags?").await;

    // Empty documents.
    let versioning = s3
        .get_bucket_versioning()
        .bucket(&b)
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status(), None);
    assert_eq!(versioning.mfa_delete(), None);
    let tags = s3
        .get_object_tagging()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("object tags");
    assert!(tags.tag_set().is_empty());
    let logging = s3
        .get_bucket_logging()
        .bucket(&b)
        .send()
        .await
        .expect("logging");
    assert!(logging.logging_enabled().is_none());
    let notification = s3
        .get_bucket_notification_configuration()
        .bucket(&b)
        .send()
        .await
        .expect("notification");
    assert!(notification.queue_configurations().is_empty());
    assert!(notification.topic_configurations().is_empty());
    assert!(notification.lambda_function_configurations().is_empty());
    let accelerate = s3
        .get_bucket_accelerate_configuration()
        .bucket(&b)
        .send()
        .await
        .expect("accelerate");
    assert_eq!(accelerate.status(), None);
    let payment = s3
        .get_bucket_request_payment()
        .bucket(&b)
        .send()
        .await
        .expect("payer");
    assert_eq!(payment.payer(), Some(&Payer::BucketOwner));

    // "No such configuration" errors.
    assert_s3_err(
        s3.get_bucket_tagging().bucket(&b).send().await,
        "NoSuchTagSet",
        404,
    );
    assert_s3_err(
        s3.get_bucket_cors().bucket(&b).send().await,
        "NoSuchCORSConfiguration",
        404,
    );
    assert_s3_err(
        s3.get_bucket_lifecycle_configuration()
            .bucket(&b)
            .send()
            .await,
        "NoSuchLifecycleConfiguration",
        404,
    );
    assert_s3_err(
        s3.get_bucket_policy().bucket(&b).send().await,
        "NoSuchBucketPolicy",
        404,
    );
    assert_s3_err(
        s3.get_bucket_policy_status().bucket(&b).send().await,
        "NoSuchBucketPolicy",
        404,
    );
    assert_s3_err(
        s3.get_bucket_encryption().bucket(&b).send().await,
        "ServerSideEncryptionConfigurationNotFoundError",
        404,
    );
    assert_s3_err(
        s3.get_bucket_website().bucket(&b).send().await,
        "NoSuchWebsiteConfiguration",
        404,
    );
    assert_s3_err(
        s3.get_bucket_replication().bucket(&b).send().await,
        "ReplicationConfigurationNotFoundError",
        404,
    );
    assert_s3_err(
        s3.get_object_lock_configuration().bucket(&b).send().await,
        "ObjectLockConfigurationNotFoundError",
        404,
    );
    assert_s3_err(
        s3.get_public_access_block().bucket(&b).send().await,
        "NoSuchPublicAccessBlockConfiguration",
        404,
    );
    assert_s3_err(
        s3.get_bucket_ownership_controls().bucket(&b).send().await,
        "OwnershipControlsNotFoundError",
        404,
    );

    // Deletes are no-ops that succeed.
    s3.delete_object_tagging()
        .bucket(&b)
        .key("k")
        .send()
        .await
        .expect("delete object tags");
    s3.delete_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("delete bucket tags");
    s3.delete_bucket_cors()
        .bucket(&b)
        .send()
        .await
        .expect("delete cors");
    s3.delete_bucket_lifecycle()
        .bucket(&b)
        .send()
        .await
        .expect("delete lifecycle");
    s3.delete_bucket_policy()
        .bucket(&b)
        .send()
        .await
        .expect("delete policy");
    s3.delete_bucket_encryption()
        .bucket(&b)
        .send()
        .await
        .expect("delete encryption");
    s3.delete_bucket_website()
        .bucket(&b)
        .send()
        .await
        .expect("delete website");
    s3.delete_bucket_replication()
        .bucket(&b)
        .send()
        .await
        .expect("delete replication");
    s3.delete_public_access_block()
        .bucket(&b)
        .send()
        .await
        .expect("delete pab");
    s3.delete_bucket_ownership_controls()
        .bucket(&b)
        .send()
        .await
        .expect("delete ownership controls");
    assert_eq!(get_bytes(&s3, &b, "k").await, b"tags?");

    // The object and the bucket must exist; only the owner may ask.
    assert_s3_err(
        s3.get_object_tagging()
            .bucket(&b)
            .key("missing")
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    assert_s3_err(
        s3.delete_object_tagging()
            .bucket(&b)
            .key("missing")
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    let gone = format!("{b}-missing");
    assert_s3_err(
        s3.get_bucket_versioning().bucket(&gone).send().await,
        "NoSuchBucket",
        404,
    );
    assert_s3_err(
        s3.get_bucket_cors().bucket(&gone).send().await,
        "NoSuchBucket",
        404,
    );
    let other = node.other_client();
    assert_s3_err(
        other.get_bucket_versioning().bucket(&b).send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other.get_object_tagging().bucket(&b).key("k").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other.delete_bucket_cors().bucket(&b).send().await,
        "AccessDenied",
        403,
    );

    // The documents on the wire: S3's namespace, and a request id.
    let raw = node
        .raw()
        .signed("GET", &format!("/{b}/k?tagging"), &[], b"");
    assert_eq!(raw.status, 200);
    let text = raw.text();
    assert!(
        text.contains(r#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet></TagSet></Tagging>"#),
        "{text}"
    );
    assert!(raw.header("x-amz-request-id").is_some());
    let raw = node.raw().signed("DELETE", &format!("/{b}?cors"), &[], b"");
    assert_eq!(raw.status, 204);
    // A method S3 has no operation for on these sub-resources.
    let raw = node.raw().signed("POST", &format!("/{b}?cors"), &[], b"");
    assert_eq!(raw.status, 405, "{}", raw.text());
}

/// Writers overwrite one key with two different large contents while readers read it: every
/// read is one whole version, never a mix, never an error.
#[tokio::test]
async fn concurrent_overwrites_and_reads_never_mix() {
    let (s3, b) = bucket("race").await;
    let versions = [
        random_bytes(3 * 1024 * 1024 + 1, 71),
        random_bytes(2 * 1024 * 1024 + 3, 72),
    ];
    let sums = [md5_hex(&versions[0]), md5_hex(&versions[1])];
    put(&s3, &b, "a-raced", &versions[0]).await;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..2 {
        let (s3, b, versions) = (s3.clone(), b.clone(), versions.clone());
        set.spawn(async move {
            for i in 0..8 {
                let data = versions[(w + i) % 2].clone();
                put(&s3, &b, "a-raced", &data).await;
            }
            Vec::new()
        });
    }
    for _ in 0..3 {
        let (s3, b) = (s3.clone(), b.clone());
        set.spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..8 {
                let got = s3
                    .get_object()
                    .bucket(&b)
                    .key("a-raced")
                    .send()
                    .await
                    .unwrap();
                let etag = got.e_tag().unwrap().to_string();
                let body = got.body.collect().await.unwrap().into_bytes();
                seen.push((etag, md5_hex(&body)));
            }
            seen
        });
    }
    while let Some(done) = set.join_next().await {
        for (etag, sum) in done.unwrap() {
            assert!(sums.contains(&sum), "a read returned neither version");
            assert_eq!(etag, format!("\"{sum}\""), "ETag and body disagree");
        }
    }
}

/// A GET that started streaming keeps serving the version it started with, even if the key
/// is deleted and its space written over before the reader is done.
#[tokio::test]
async fn delete_during_a_streaming_get() {
    let (s3, b) = bucket("delread").await;
    let data = random_bytes(12 * 1024 * 1024 + 5, 73);
    put(&s3, &b, "b-streamed", &data).await;
    let got = s3
        .get_object()
        .bucket(&b)
        .key("b-streamed")
        .send()
        .await
        .unwrap();
    let mut body = got.body;
    let mut received = Vec::new();
    // Take the first chunk, then pull the object away underneath the reader.
    if let Some(chunk) = body.next().await {
        received.extend_from_slice(&chunk.unwrap());
    }
    s3.delete_object()
        .bucket(&b)
        .key("b-streamed")
        .send()
        .await
        .unwrap();
    for i in 0..6 {
        put(
            &s3,
            &b,
            &format!("b-filler-{i}"),
            &random_bytes(3 * 1024 * 1024, 80 + i),
        )
        .await;
    }
    while let Some(chunk) = body.next().await {
        received.extend_from_slice(&chunk.expect("the stream may not fail"));
    }
    assert_eq!(received.len(), data.len());
    assert_eq!(md5_hex(&received), md5_hex(&data));
    assert_status(
        s3.head_object().bucket(&b).key("b-streamed").send().await,
        404,
    );
}
