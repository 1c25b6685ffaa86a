//! Multipart uploads through `aws-sdk-s3`: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload (ETag `md5-of-md5s-N`, EntityTooSmall, InvalidPart,
//! InvalidPartOrder, conditional completes), AbortMultipartUpload, ListParts,
//! ListMultipartUploads, and GetObject by partNumber.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use tessera_tests::{
    assert_s3_err, assert_status, create_bucket, md5_hex, random_bytes, unique_bucket, Node,
};

const MIB: usize = 1024 * 1024;

async fn bucket(prefix: &str) -> (Client, String) {
    let s3 = Node::shared().client();
    let name = unique_bucket(prefix);
    create_bucket(&s3, &name).await;
    (s3, name)
}

async fn create(s3: &Client, bucket: &str, key: &str) -> String {
    s3.create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .expect("UploadId")
        .to_string()
}

async fn upload_part(
    s3: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    n: i32,
    data: &[u8],
) -> String {
    let out = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("part {n}: {e:?}"));
    let etag = out.e_tag().expect("part ETag").to_string();
    assert_eq!(etag, format!("\"{}\"", md5_hex(data)), "part {n} ETag");
    etag
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, etag)| {
                    CompletedPart::builder()
                        .part_number(*n)
                        .e_tag(*etag)
                        .build()
                })
                .collect(),
        ))
        .build()
}

/// S3's multipart ETag: MD5 of the concatenated binary part MD5s, then `-N`.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut digests = Vec::new();
    for part in parts {
        digests.extend(hex::decode(md5_hex(part)).unwrap());
    }
    format!("\"{}-{}\"", md5_hex(&digests), parts.len())
}

#[tokio::test]
async fn three_five_mib_parts_and_a_tail() {
    let (s3, b) = bucket("mpu").await;
    let key = "a/big object";
    let parts: Vec<Vec<u8>> = vec![
        random_bytes(5 * MIB, 1),
        random_bytes(5 * MIB, 2),
        random_bytes(5 * MIB, 3),
        random_bytes(MIB + 333, 4),
    ];
    let id = s3
        .create_multipart_upload()
        .bucket(&b)
        .key(key)
        .content_type("video/mp4")
        .metadata("camera", "left")
        .send()
        .await
        .unwrap();
    assert_eq!(id.bucket(), Some(b.as_str()));
    assert_eq!(id.key(), Some(key));
    let id = id.upload_id().unwrap().to_string();

    // Upload out of order; part 2 twice (the later one wins).
    let mut etags = vec![String::new(); parts.len()];
    for n in [3, 1, 4] {
        etags[n - 1] = upload_part(&s3, &b, key, &id, n as i32, &parts[n - 1]).await;
    }
    upload_part(&s3, &b, key, &id, 2, &random_bytes(5 * MIB, 99)).await;
    etags[1] = upload_part(&s3, &b, key, &id, 2, &parts[1]).await;

    // ListParts, whole and paged.
    let listed = s3
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let rows: Vec<(i32, i64, String)> = listed
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap(),
                p.size().unwrap(),
                p.e_tag().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(i32, i64, String)> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (i as i32 + 1, p.len() as i64, etags[i].clone()))
        .collect();
    assert_eq!(rows, want);
    assert_eq!(listed.is_truncated(), Some(false));
    assert_eq!(listed.upload_id(), Some(id.as_str()));
    let page1 = s3
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page1.parts().len(), 2);
    assert_eq!(page1.is_truncated(), Some(true));
    assert_eq!(page1.next_part_number_marker(), Some("2"));
    let page2 = s3
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .max_parts(2)
        .part_number_marker("2")
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = page2
        .parts()
        .iter()
        .map(|p| p.part_number().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 4]);
    assert_eq!(page2.is_truncated(), Some(false));

    // Not visible before completion.
    assert_status(s3.head_object().bucket(&b).key(key).send().await, 404);

    let refs: Vec<(i32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as i32 + 1, e.as_str()))
        .collect();
    let done = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .multipart_upload(completed(&refs))
        .send()
        .await
        .unwrap();
    let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let want_etag = multipart_etag(&slices);
    assert_eq!(done.e_tag(), Some(want_etag.as_str()));
    assert_eq!(done.key(), Some(key));
    assert_eq!(done.bucket(), Some(b.as_str()));

    let whole: Vec<u8> = parts.concat();
    let got = s3.get_object().bucket(&b).key(key).send().await.unwrap();
    assert_eq!(got.e_tag(), Some(want_etag.as_str()));
    assert_eq!(got.content_length(), Some(whole.len() as i64));
    assert_eq!(got.content_type(), Some("video/mp4"));
    assert_eq!(
        got.metadata()
            .and_then(|m| m.get("camera"))
            .map(String::as_str),
        Some("left")
    );
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(md5_hex(&body), md5_hex(&whole));

    // GetObject/HeadObject by part number.
    let mut offset = 0usize;
    for (i, part) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let got = s3
            .get_object()
            .bucket(&b)
            .key(key)
            .part_number(n)
            .send()
            .await
            .unwrap();
        assert_eq!(got.parts_count(), Some(4), "part {n}");
        assert_eq!(
            got.content_range(),
            Some(
                format!(
                    "bytes {}-{}/{}",
                    offset,
                    offset + part.len() - 1,
                    whole.len()
                )
                .as_str()
            ),
            "part {n}"
        );
        assert_eq!(got.content_length(), Some(part.len() as i64));
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(md5_hex(&body), md5_hex(part), "part {n}");
        offset += part.len();
    }
    let head = s3
        .head_object()
        .bucket(&b)
        .key(key)
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(5 * MIB as i64));
    assert_eq!(head.parts_count(), Some(4));
    let result = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .part_number(5)
        .send()
        .await;
    let err = result.expect_err("part 5 of 4");
    let status = tessera_tests::err_code(&err).1;
    assert!(matches!(status, Some(400) | Some(416)), "{err:?}");

    // A range across a part boundary.
    let range_start = 5 * MIB - 10;
    let got = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .range(format!("bytes={}-{}", range_start, range_start + 19))
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], &whole[range_start..range_start + 20]);

    // The upload is gone.
    assert_s3_err(
        s3.list_parts()
            .bucket(&b)
            .key(key)
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    // The listing shows the multipart ETag and size.
    let listed = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    let object = &listed.contents()[0];
    assert_eq!(object.e_tag(), Some(want_etag.as_str()));
    assert_eq!(object.size(), Some(whole.len() as i64));
}

#[tokio::test]
async fn complete_errors() {
    let (s3, b) = bucket("mpuerr").await;
    let key = "b-errors";
    let id = create(&s3, &b, key).await;
    let small = random_bytes(MIB, 5);
    let big = random_bytes(5 * MIB, 6);
    let e1 = upload_part(&s3, &b, key, &id, 1, &small).await;
    let e2 = upload_part(&s3, &b, key, &id, 2, &big).await;
    let e3 = upload_part(&s3, &b, key, &id, 3, b"tail").await;
    let complete = |parts: Vec<(i32, String)>| {
        let refs: Vec<(i32, &str)> = parts.iter().map(|(n, e)| (*n, e.as_str())).collect();
        s3.complete_multipart_upload()
            .bucket(&b)
            .key(key)
            .upload_id(&id)
            .multipart_upload(completed(&refs))
    };
    // Part 1 (1 MiB) is not the last part: too small.
    assert_s3_err(
        complete(vec![(1, e1.clone()), (2, e2.clone())])
            .send()
            .await,
        "EntityTooSmall",
        400,
    );
    // Wrong ETag, and a part never uploaded.
    assert_s3_err(
        complete(vec![(2, "\"00000000000000000000000000000000\"".into())])
            .send()
            .await,
        "InvalidPart",
        400,
    );
    assert_s3_err(
        complete(vec![(2, e2.clone()), (7, e3.clone())])
            .send()
            .await,
        "InvalidPart",
        400,
    );
    // Out of order, and repeated.
    assert_s3_err(
        complete(vec![(3, e3.clone()), (2, e2.clone())])
            .send()
            .await,
        "InvalidPartOrder",
        400,
    );
    assert_s3_err(
        complete(vec![(2, e2.clone()), (2, e2.clone())])
            .send()
            .await,
        "InvalidPartOrder",
        400,
    );
    // Nothing was created by the failures, and the upload is still usable.
    assert_status(s3.head_object().bucket(&b).key(key).send().await, 404);
    let done = complete(vec![(2, e2.clone()), (3, e3.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        done.e_tag(),
        Some(multipart_etag(&[&big, b"tail"]).as_str())
    );
    let body = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(md5_hex(&body), md5_hex(&[big.as_slice(), b"tail"].concat()));

    // Unknown upload ids.
    assert_s3_err(
        s3.upload_part()
            .bucket(&b)
            .key(key)
            .upload_id("00000000deadbeef")
            .part_number(1)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    assert_s3_err(complete(vec![(2, e2)]).send().await, "NoSuchUpload", 404);
    // An upload id belongs to its key.
    let other = create(&s3, &b, "a-other").await;
    assert_s3_err(
        s3.list_parts()
            .bucket(&b)
            .key(key)
            .upload_id(&other)
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    // Part numbers are 1..=10000.
    for n in [0, 10_001] {
        assert_s3_err(
            s3.upload_part()
                .bucket(&b)
                .key("a-other")
                .upload_id(&other)
                .part_number(n)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            "InvalidArgument",
            400,
        );
    }
    // Completing with no parts at all is malformed.
    let result = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("a-other")
        .upload_id(&other)
        .multipart_upload(CompletedMultipartUpload::builder().build())
        .send()
        .await;
    let err = result.expect_err("complete without parts");
    assert_eq!(tessera_tests::err_code(&err).1, Some(400), "{err:?}");
}

#[tokio::test]
async fn abort_and_list_uploads_across_cores() {
    let (s3, b) = bucket("mpulist").await;
    // Keys owned by both cores, two uploads for one key.
    let keys = ["a/one", "b/two", "c/three", "d/four", "b/two"];
    let mut ids = Vec::new();
    for key in keys {
        ids.push((key, create(&s3, &b, key).await));
    }
    let listed = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    let mut got: Vec<(String, String)> = listed
        .uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap().to_string(),
                u.upload_id().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = ids
        .iter()
        .map(|(k, id)| (k.to_string(), id.clone()))
        .collect();
    want.sort();
    // Sorted by key (then initiation), as S3 lists them.
    let got_keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        got_keys,
        vec!["a/one", "b/two", "b/two", "c/three", "d/four"]
    );
    got.sort();
    assert_eq!(got, want);
    for upload in listed.uploads() {
        assert!(upload.initiated().is_some());
    }
    // Prefix filter.
    let b_only = s3
        .list_multipart_uploads()
        .bucket(&b)
        .prefix("b/")
        .send()
        .await
        .unwrap();
    assert_eq!(b_only.uploads().len(), 2);
    assert!(b_only.uploads().iter().all(|u| u.key() == Some("b/two")));
    // Paging with max-uploads and the key marker.
    let page = s3
        .list_multipart_uploads()
        .bucket(&b)
        .max_uploads(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.uploads().len(), 2);
    assert_eq!(page.is_truncated(), Some(true));
    let next = s3
        .list_multipart_uploads()
        .bucket(&b)
        .max_uploads(10)
        .key_marker(page.next_key_marker().unwrap())
        .upload_id_marker(page.next_upload_id_marker().unwrap())
        .send()
        .await
        .unwrap();
    let mut seen: Vec<String> = page
        .uploads()
        .iter()
        .chain(next.uploads())
        .map(|u| u.upload_id().unwrap().to_string())
        .collect();
    seen.sort();
    let mut all_ids: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
    all_ids.sort();
    assert_eq!(seen, all_ids, "paged uploads");

    // Abort with parts uploaded: gone from every listing, parts unusable.
    let (key, id) = (ids[1].0, ids[1].1.clone());
    upload_part(&s3, &b, key, &id, 1, b"some bytes").await;
    s3.abort_multipart_upload()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.list_parts()
            .bucket(&b)
            .key(key)
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    assert_s3_err(
        s3.upload_part()
            .bucket(&b)
            .key(key)
            .upload_id(&id)
            .part_number(2)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    assert_s3_err(
        s3.abort_multipart_upload()
            .bucket(&b)
            .key(key)
            .upload_id(&id)
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    let listed = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert_eq!(listed.uploads().len(), 4);
    assert!(!listed
        .uploads()
        .iter()
        .any(|u| u.upload_id() == Some(id.as_str())));
    assert_status(s3.head_object().bucket(&b).key(key).send().await, 404);
    for (key, id) in &ids {
        if *id != ids[1].1 {
            s3.abort_multipart_upload()
                .bucket(&b)
                .key(*key)
                .upload_id(id)
                .send()
                .await
                .unwrap();
        }
    }
    let listed = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(listed.uploads().is_empty(), "{listed:?}");
}

#[tokio::test]
async fn upload_part_copy() {
    let (s3, b) = bucket("mpucopy").await;
    // Source on one core, destination on the other.
    let source = random_bytes(7 * MIB + 5, 21);
    s3.put_object()
        .bucket(&b)
        .key("a-source")
        .body(ByteStream::from(source.clone()))
        .send()
        .await
        .unwrap();
    let key = "b-assembled";
    let id = create(&s3, &b, key).await;
    let copy = |n: i32, range: Option<String>| {
        s3.upload_part_copy()
            .bucket(&b)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .copy_source(format!("{b}/a-source"))
            .set_copy_source_range(range)
    };
    let first = 5 * MIB;
    let p1 = copy(1, Some(format!("bytes=0-{}", first - 1)))
        .send()
        .await
        .unwrap();
    let p1 = p1.copy_part_result().unwrap();
    assert_eq!(
        p1.e_tag(),
        Some(format!("\"{}\"", md5_hex(&source[..first])).as_str())
    );
    assert!(p1.last_modified().is_some());
    let p1 = p1.e_tag().unwrap().to_string();
    // A whole-object copy as part 2, a plain upload as part 3, the source's tail as part 4
    // (only the last part may be under 5 MiB).
    let whole = copy(2, None)
        .send()
        .await
        .unwrap()
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    let plain = random_bytes(5 * MIB, 22);
    let p3 = upload_part(&s3, &b, key, &id, 3, &plain).await;
    let p4 = copy(4, Some(format!("bytes={}-{}", first, source.len() - 1)))
        .send()
        .await
        .unwrap()
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    assert_eq!(p4, format!("\"{}\"", md5_hex(&source[first..])));
    // Copy-source conditions apply to part copies too.
    assert_s3_err(
        copy(5, None).copy_source_if_match("\"nope\"").send().await,
        "PreconditionFailed",
        412,
    );
    // A range past the source is refused.
    let result = copy(5, Some(format!("bytes=0-{}", source.len())))
        .send()
        .await;
    let err = result.expect_err("range past the source");
    assert!(
        matches!(tessera_tests::err_code(&err).1, Some(400) | Some(416)),
        "{err:?}"
    );

    s3.complete_multipart_upload()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &p1), (2, &whole), (3, &p3), (4, &p4)]))
        .send()
        .await
        .unwrap();
    let want = [&source[..first], &source, &plain, &source[first..]].concat();
    let body = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.len(), want.len());
    assert_eq!(md5_hex(&body), md5_hex(&want));
}

#[tokio::test]
async fn conditional_complete() {
    let (s3, b) = bucket("mpucond").await;
    let key = "a-cond";
    let complete_one = |id: String, data: &'static [u8]| {
        let s3 = s3.clone();
        let b = b.clone();
        async move {
            let etag = upload_part(&s3, &b, key, &id, 1, data).await;
            (
                s3.complete_multipart_upload()
                    .bucket(&b)
                    .key(key)
                    .upload_id(&id)
                    .multipart_upload(completed(&[(1, &etag)])),
                id,
            )
        }
    };
    // If-None-Match: * on a new key succeeds.
    let (request, _) = complete_one(create(&s3, &b, key).await, b"first").await;
    let first = request.if_none_match("*").send().await.unwrap();
    let first_etag = first.e_tag().unwrap().to_string();
    // ...and fails once the key exists; the upload survives the failure.
    let (request, id) = complete_one(create(&s3, &b, key).await, b"second").await;
    assert_s3_err(
        request.clone().if_none_match("*").send().await,
        "PreconditionFailed",
        412,
    );
    // If-Match with a stale ETag fails; with the current one it succeeds.
    assert_s3_err(
        request
            .clone()
            .if_match("\"0123456789abcdef0123456789abcdef-1\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    s3.list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .expect("the upload survives a failed condition");
    request.if_match(&first_etag).send().await.unwrap();
    let body = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.as_ref(), b"second");
}

#[tokio::test]
async fn upload_part_checksums_verified_and_echoed() {
    use aws_sdk_s3::types::ChecksumAlgorithm;
    let (s3, b) = bucket("mpusum").await;
    let key = "b-summed";
    let id = create(&s3, &b, key).await;
    let data = random_bytes(300_000, 61);
    let algos = [
        ("crc32", ChecksumAlgorithm::Crc32),
        ("crc32c", ChecksumAlgorithm::Crc32C),
        ("crc64nvme", ChecksumAlgorithm::Crc64Nvme),
        ("sha1", ChecksumAlgorithm::Sha1),
        ("sha256", ChecksumAlgorithm::Sha256),
    ];
    for (n, (name, algo)) in algos.into_iter().enumerate() {
        let out = s3
            .upload_part()
            .bucket(&b)
            .key(key)
            .upload_id(&id)
            .part_number(n as i32 + 1)
            .checksum_algorithm(algo)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let echoed = match name {
            "crc32" => out.checksum_crc32(),
            "crc32c" => out.checksum_crc32_c(),
            "crc64nvme" => out.checksum_crc64_nvme(),
            "sha1" => out.checksum_sha1(),
            _ => out.checksum_sha256(),
        };
        let want = tessera_tests::checksum_b64(name, &data);
        assert_eq!(echoed, Some(want.as_str()), "{name}");
    }
    // A wrong checksum fails the part, which is then not listed.
    let response = Node::shared().raw().signed(
        "PUT",
        &format!("/{b}/{key}?partNumber=9&uploadId={id}"),
        &[(
            "x-amz-checksum-sha256",
            tessera_tests::checksum_b64("sha256", b"other").as_str(),
        )],
        &data,
    );
    assert_eq!(response.status, 400, "{}", response.text());
    assert_eq!(response.error_code().as_deref(), Some("BadDigest"));
    let listed = s3
        .list_parts()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = listed
        .parts()
        .iter()
        .map(|p| p.part_number().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn list_uploads_with_delimiter_and_pages() {
    let (s3, b) = bucket("mpudelim").await;
    let keys = [
        "x/1/a", "x/1/b", "x/2/c", "x/top", "y/1/d", "y-flat", "z", "a/deep/e",
    ];
    for key in keys {
        create(&s3, &b, key).await;
    }
    let out = s3
        .list_multipart_uploads()
        .bucket(&b)
        .prefix("x/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = out
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    let uploads: Vec<&str> = out.uploads().iter().map(|u| u.key().unwrap()).collect();
    assert_eq!(prefixes, vec!["x/1/", "x/2/"]);
    assert_eq!(uploads, vec!["x/top"]);
    assert_eq!(out.delimiter(), Some("/"));

    // Paged one entry at a time, without a prefix: prefixes and uploads interleave by key.
    let mut seen: Vec<String> = Vec::new();
    let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
    for _ in 0..20 {
        let page = s3
            .list_multipart_uploads()
            .bucket(&b)
            .delimiter("/")
            .max_uploads(1)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .unwrap();
        let entries = page.common_prefixes().len() + page.uploads().len();
        assert!(entries <= 1, "{page:?}");
        seen.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_string()),
        );
        seen.extend(page.uploads().iter().map(|u| u.key().unwrap().to_string()));
        if page.is_truncated() != Some(true) {
            key_marker = None;
            break;
        }
        key_marker = page.next_key_marker().map(String::from);
        id_marker = page
            .next_upload_id_marker()
            .filter(|m| !m.is_empty())
            .map(String::from);
    }
    assert!(key_marker.is_none(), "listing did not end");
    assert_eq!(seen, vec!["a/", "x/", "y-flat", "y/", "z"]);
}

#[tokio::test]
async fn get_by_part_number_of_an_empty_last_part() {
    let (s3, b) = bucket("mp-empty-part").await;
    let key = "empty-tail";
    let id = create(&s3, &b, key).await;
    let first = random_bytes(5 * MIB, 77);
    let e1 = upload_part(&s3, &b, key, &id, 1, &first).await;
    let e2 = upload_part(&s3, &b, key, &id, 2, &[]).await;
    s3.complete_multipart_upload()
        .bucket(&b)
        .key(key)
        .upload_id(&id)
        .multipart_upload(completed(&[(1, &e1), (2, &e2)]))
        .send()
        .await
        .unwrap();
    let part2 = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        part2.content_length(),
        Some(0),
        "an empty part is served empty, not as the object"
    );
    assert_eq!(part2.parts_count(), Some(2));
    assert!(part2.body.collect().await.unwrap().into_bytes().is_empty());
    let part1 = s3
        .get_object()
        .bucket(&b)
        .key(key)
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(part1.content_length(), Some(first.len() as i64));
    assert_eq!(
        md5_hex(&part1.body.collect().await.unwrap().into_bytes()),
        md5_hex(&first)
    );
}
