//! Canned ACLs and anonymous access. A bucket's: private (the default) refuses anonymous
//! requests; public-read lets anyone list it (and HeadBucket), public-read-write also write
//! (PUT/DELETE objects, POST forms); authenticated-read lets every configured user list. An
//! object's own ACL decides who else reads it (GET/HEAD, copy source), whatever its bucket's
//! says, as in S3: set by `x-amz-acl` on PUT, copy, multipart and form uploads, or by
//! PutObjectAcl. Get/Put{Bucket,Object}Acl (header or equivalent XML), and ACLs surviving a
//! restart and a crash. Anonymous requests go out as raw HTTP without any credentials.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl};
use aws_sdk_s3::Client;
use tessera_tests::{
    assert_s3_err, assert_status, unique_bucket, xml_values, Node, Raw, RawResponse, ACCESS_KEY,
    OTHER_ACCESS_KEY,
};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

async fn bucket_with(s3: &Client, prefix: &str, acl: Option<BucketCannedAcl>) -> String {
    let name = unique_bucket(prefix);
    s3.create_bucket()
        .bucket(&name)
        .set_acl(acl)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
    name
}

async fn put(s3: &Client, bucket: &str, key: &str, data: &'static [u8]) {
    put_acl(s3, bucket, key, data, None).await
}

async fn put_acl(
    s3: &Client,
    bucket: &str,
    key: &str,
    data: &'static [u8],
    acl: Option<ObjectCannedAcl>,
) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .set_acl(acl)
        .body(ByteStream::from_static(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

/// Uploads `data` as part 1 of upload `id` and completes it.
async fn finish_in_one_part(s3: &Client, bucket: &str, key: &str, id: &str, data: &'static [u8]) {
    let part = s3
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(data))
        .send()
        .await
        .unwrap_or_else(|e| panic!("part of {bucket}/{key}: {e:?}"));
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap_or_default())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("complete {bucket}/{key}: {e:?}"));
}

/// The (grantee, permission) pairs of an object's ACL, read by its owner.
async fn object_grants(s3: &Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let acl = s3
        .get_object_acl()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("acl of {bucket}/{key}: {e:?}"));
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(ACCESS_KEY));
    acl.grants()
        .iter()
        .map(|g| {
            let who = g.grantee().and_then(|w| w.uri().or(w.id())).unwrap_or("");
            let what = g.permission().map_or("", |p| p.as_str());
            (who.to_string(), what.to_string())
        })
        .collect()
}

#[track_caller]
fn assert_denied(response: &RawResponse) {
    assert_eq!(
        (response.status, response.error_code().as_deref()),
        (403, Some("AccessDenied")),
        "{}",
        response.text()
    );
}

#[track_caller]
fn assert_ok(response: &RawResponse, status: u16) {
    assert_eq!(response.status, status, "{}", response.text());
}

/// The (grantee, permission) pairs of an AccessControlPolicy document, a user as its ID and a
/// group as its URI.
fn grants(xml: &str) -> Vec<(String, String)> {
    xml_values(xml, "Grant")
        .iter()
        .map(|grant| {
            let who = tessera_tests::xml_value(grant, "URI")
                .or_else(|| tessera_tests::xml_value(grant, "ID"))
                .unwrap_or_default();
            let what = tessera_tests::xml_value(grant, "Permission").unwrap_or_default();
            (who, what)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// A signed raw GetBucketAcl, its grants.
fn bucket_grants(raw: &Raw, bucket: &str) -> Vec<(String, String)> {
    let response = raw.signed("GET", &format!("/{bucket}?acl"), &[], b"");
    assert_ok(&response, 200);
    let text = response.text();
    assert_eq!(
        tessera_tests::xml_value(&text, "Owner")
            .and_then(|o| tessera_tests::xml_value(&o, "ID"))
            .as_deref(),
        Some(ACCESS_KEY),
        "{text}"
    );
    grants(&text)
}

/// An anonymous browser form upload of `data` as `key`, with a form field `acl` if given.
fn anonymous_post(
    raw: &Raw,
    bucket: &str,
    key: &str,
    acl: Option<&str>,
    data: &[u8],
) -> RawResponse {
    let boundary = "tesseraboundary";
    let mut body = Vec::new();
    let mut fields = vec![("key", key), ("Content-Type", "text/plain")];
    if let Some(acl) = acl {
        fields.push(("acl", acl));
    }
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    raw.request(
        "POST",
        &format!("/{bucket}"),
        &[("content-type", &content_type)],
        &body,
    )
}

#[tokio::test]
async fn private_buckets_refuse_anonymous_requests() {
    let node = Node::shared();
    let s3 = node.client();
    let raw = node.raw();
    let b = bucket_with(&s3, "acl-private", None).await;
    put(&s3, &b, "k", b"secret").await;
    assert_denied(&raw.request("GET", &format!("/{b}/k"), &[], b""));
    assert_denied(&raw.request("PUT", &format!("/{b}/new"), &[], b"data"));
    assert_denied(&raw.request("GET", &format!("/{b}?list-type=2"), &[], b""));
    assert_denied(&anonymous_post(&raw, &b, "form", None, b"data"));
    assert_eq!(
        bucket_grants(&raw, &b),
        pairs(&[(ACCESS_KEY, "FULL_CONTROL")])
    );
    // Other users are refused too, the ACL included.
    let other = node.other_client();
    assert_s3_err(
        other.get_bucket_acl().bucket(&b).send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other.get_object().bucket(&b).key("k").send().await,
        "AccessDenied",
        403,
    );
}

#[tokio::test]
async fn public_read_lets_anyone_list_and_read_public_objects_but_not_write() {
    let node = Node::shared();
    let s3 = node.client();
    let raw = node.raw();
    let b = bucket_with(&s3, "acl-pubr", Some(BucketCannedAcl::PublicRead)).await;
    put_acl(
        &s3,
        &b,
        "dir/obj",
        b"public bytes",
        Some(ObjectCannedAcl::PublicRead),
    )
    .await;
    // An object without an ACL of its own is its owner's alone, even in a public bucket:
    // listed to everyone, read by no one else.
    put(&s3, &b, "dir/private", b"private bytes").await;
    assert_denied(&raw.request("GET", &format!("/{b}/dir/private"), &[], b""));
    assert_eq!(
        raw.request("HEAD", &format!("/{b}/dir/private"), &[], b"")
            .status,
        403
    );

    let got = raw.request("GET", &format!("/{b}/dir/obj"), &[], b"");
    assert_ok(&got, 200);
    assert_eq!(got.body, b"public bytes");
    let head = raw.request("HEAD", &format!("/{b}/dir/obj"), &[], b"");
    assert_ok(&head, 200);
    assert_eq!(head.header("content-length"), Some("12"));
    for query in ["", "?list-type=2", "?prefix=dir/&delimiter=/"] {
        let list = raw.request("GET", &format!("/{b}{query}"), &[], b"");
        assert_ok(&list, 200);
        assert!(
            list.text().contains("<Key>dir/obj</Key>"),
            "{}",
            list.text()
        );
    }
    assert_ok(&raw.request("HEAD", &format!("/{b}"), &[], b""), 200);
    // Missing keys are 404 to anyone who may read.
    let missing = raw.request("GET", &format!("/{b}/nope"), &[], b"");
    assert_eq!(missing.error_code().as_deref(), Some("NoSuchKey"));

    // Writes, and everything but reading, stay the owner's.
    assert_denied(&raw.request("PUT", &format!("/{b}/anon"), &[], b"data"));
    assert_denied(&raw.request("DELETE", &format!("/{b}/dir/obj"), &[], b""));
    assert_denied(&raw.request("GET", &format!("/{b}?acl"), &[], b""));
    assert_denied(&raw.request(
        "PUT",
        &format!("/{b}?acl"),
        &[("x-amz-acl", "private")],
        b"",
    ));
    // Listing in-progress uploads is listing the bucket; starting one is writing.
    assert_ok(&raw.request("GET", &format!("/{b}?uploads"), &[], b""), 200);
    assert_denied(&raw.request("POST", &format!("/{b}/k?uploads"), &[], b""));
    assert_denied(&raw.request("DELETE", &format!("/{b}"), &[], b""));
    assert_denied(&anonymous_post(&raw, &b, "form", None, b"data"));
    assert_denied(&raw.request("GET", "/", &[], b""));

    // Another user reads as anyone does, and may not write.
    let other = node.other_client();
    assert_s3_err(
        other
            .get_object()
            .bucket(&b)
            .key("dir/private")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    let body = other
        .get_object()
        .bucket(&b)
        .key("dir/obj")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"public bytes");
    assert_s3_err(
        other
            .put_object()
            .bucket(&b)
            .key("theirs")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other
            .put_bucket_acl()
            .bucket(&b)
            .acl(BucketCannedAcl::PublicReadWrite)
            .send()
            .await,
        "AccessDenied",
        403,
    );

    // A request with credentials is never taken for anonymous: a bad signature is refused.
    let bad = raw.sign(
        "GET",
        &format!("/{b}/dir/obj"),
        &[],
        b"",
        "not-the-secret-key-0123456789abcdefghij",
    );
    let response = raw.send("GET", &format!("/{b}/dir/obj"), &bad, b"");
    assert_eq!(
        (response.status, response.error_code().as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "{}",
        response.text()
    );
    let presigned_garbage =
        raw.request("GET", &format!("/{b}/dir/obj?X-Amz-Signature=00"), &[], b"");
    assert_eq!(
        presigned_garbage.status / 100,
        4,
        "{}",
        presigned_garbage.text()
    );
    assert_ne!(presigned_garbage.status, 404);

    assert_eq!(
        bucket_grants(&raw, &b),
        pairs(&[(ALL_USERS, "READ"), (ACCESS_KEY, "FULL_CONTROL")])
    );
    let text = raw.signed("GET", &format!("/{b}?acl"), &[], b"").text();
    assert!(
        text.contains("xsi:type=\"Group\"") && text.contains("xsi:type=\"CanonicalUser\""),
        "{text}"
    );
}

#[tokio::test]
async fn public_read_write_takes_anonymous_writes_until_made_private() {
    let node = Node::shared();
    let s3 = node.client();
    let raw = node.raw();
    let b = bucket_with(&s3, "acl-pubrw", None).await;
    s3.put_bucket_acl()
        .bucket(&b)
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    assert_eq!(
        bucket_grants(&raw, &b),
        pairs(&[
            (ALL_USERS, "READ"),
            (ALL_USERS, "WRITE"),
            (ACCESS_KEY, "FULL_CONTROL")
        ])
    );
    assert_ok(
        &raw.request("PUT", &format!("/{b}/anon"), &[], b"anonymous data"),
        200,
    );
    // The bucket's owner sees, and owns, what was written anonymously; without an ACL that
    // shares it, its writer cannot read it back.
    assert_denied(&raw.request("GET", &format!("/{b}/anon"), &[], b""));
    let owned = s3.get_object().bucket(&b).key("anon").send().await.unwrap();
    assert_eq!(owned.content_length(), Some(14));
    assert_eq!(
        object_grants(&s3, &b, "anon").await,
        pairs(&[(ACCESS_KEY, "FULL_CONTROL")])
    );
    assert_ok(
        &raw.request(
            "PUT",
            &format!("/{b}/anon-public"),
            &[("x-amz-acl", "public-read")],
            b"anonymous data",
        ),
        200,
    );
    let got = raw.request("GET", &format!("/{b}/anon-public"), &[], b"");
    assert_ok(&got, 200);
    assert_eq!(got.body, b"anonymous data");
    // An unsigned form upload, policy checks skipped as for any anonymous POST; its `acl`
    // field is the object's ACL.
    assert_ok(
        &anonymous_post(
            &raw,
            &b,
            "form/${filename}",
            Some("public-read"),
            b"form data",
        ),
        204,
    );
    let form = raw.request("GET", &format!("/{b}/form/f.txt"), &[], b"");
    assert_eq!(form.body, b"form data");
    assert_eq!(form.header("content-type"), Some("text/plain"));
    assert_eq!(
        object_grants(&s3, &b, "form/f.txt").await,
        pairs(&[(ALL_USERS, "READ"), (ACCESS_KEY, "FULL_CONTROL")])
    );
    // Another user may write too.
    put(&node.other_client(), &b, "other", b"x").await;
    assert_ok(&raw.request("DELETE", &format!("/{b}/anon"), &[], b""), 204);
    // Only object writes: the bucket itself stays the owner's.
    assert_denied(&raw.request("DELETE", &format!("/{b}"), &[], b""));
    assert_denied(&raw.request(
        "POST",
        &format!("/{b}?delete"),
        &[],
        b"<Delete><Object><Key>other</Key></Object></Delete>",
    ));

    // Back to private: anonymous writes and listings are refused again; an object whose own
    // ACL is public-read stays readable (as in S3), until its ACL changes.
    s3.put_bucket_acl()
        .bucket(&b)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_ok(
        &raw.request("GET", &format!("/{b}/form/f.txt"), &[], b""),
        200,
    );
    s3.put_object_acl()
        .bucket(&b)
        .key("form/f.txt")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_denied(&raw.request("GET", &format!("/{b}/form/f.txt"), &[], b""));
    // A missing key is no 404 to whoever may not list the bucket.
    assert_denied(&raw.request("GET", &format!("/{b}/nope"), &[], b""));
    assert_denied(&raw.request("GET", &format!("/{b}"), &[], b""));
    assert_denied(&raw.request("PUT", &format!("/{b}/anon"), &[], b"again"));
    assert_eq!(
        bucket_grants(&raw, &b),
        pairs(&[(ACCESS_KEY, "FULL_CONTROL")])
    );
}

#[tokio::test]
async fn authenticated_read_is_for_configured_users() {
    let node = Node::shared();
    let s3 = node.client();
    let raw = node.raw();
    let b = bucket_with(&s3, "acl-authr", Some(BucketCannedAcl::AuthenticatedRead)).await;
    put_acl(
        &s3,
        &b,
        "k",
        b"for users",
        Some(ObjectCannedAcl::AuthenticatedRead),
    )
    .await;
    put(&s3, &b, "mine", b"owner only").await;
    let other = node.other_client();
    let got = other.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(got.content_length(), Some(9));
    assert_s3_err(
        other.get_object().bucket(&b).key("mine").send().await,
        "AccessDenied",
        403,
    );
    // Another user may list the bucket, so a missing key is 404 to them.
    assert_s3_err(
        other.get_object().bucket(&b).key("nope").send().await,
        "NoSuchKey",
        404,
    );
    // Copying reads the source: its ACL decides.
    let theirs = bucket_with(&other, "acl-authr-dst", None).await;
    for (key, allowed) in [("k", true), ("mine", false)] {
        let copied = other
            .copy_object()
            .bucket(&theirs)
            .key(key)
            .copy_source(format!("{b}/{key}"))
            .send()
            .await;
        if allowed {
            copied.unwrap_or_else(|e| panic!("copy {key}: {e:?}"));
        } else {
            assert_s3_err(copied, "AccessDenied", 403);
        }
    }
    let listed = other.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(2));
    other.head_bucket().bucket(&b).send().await.unwrap();
    assert_s3_err(
        other.delete_object().bucket(&b).key("k").send().await,
        "AccessDenied",
        403,
    );
    assert_denied(&raw.request("GET", &format!("/{b}/k"), &[], b""));
    assert_denied(&raw.request("GET", &format!("/{b}"), &[], b""));
    assert_eq!(
        bucket_grants(&raw, &b),
        pairs(&[(AUTHENTICATED_USERS, "READ"), (ACCESS_KEY, "FULL_CONTROL")])
    );
    assert_eq!(
        object_grants(&s3, &b, "k").await,
        pairs(&[(AUTHENTICATED_USERS, "READ"), (ACCESS_KEY, "FULL_CONTROL")])
    );
    // Other users still list only their own buckets.
    let theirs = other.list_buckets().send().await.unwrap();
    assert!(theirs
        .buckets()
        .iter()
        .all(|x| x.name() != Some(b.as_str())));
}

#[tokio::test]
async fn acl_documents_and_refusals() {
    let node = Node::shared();
    let s3 = node.client();
    let raw = node.raw();
    let b = bucket_with(&s3, "acl-xml", None).await;
    // A policy body equal to a canned ACL is that ACL.
    let policy = format!(
        "<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <Owner><ID>{ACCESS_KEY}</ID></Owner><AccessControlList>\
         <Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:type=\"CanonicalUser\"><ID>{ACCESS_KEY}</ID></Grantee>\
         <Permission>FULL_CONTROL</Permission></Grant>\
         <Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:type=\"Group\"><URI>{ALL_USERS}</URI></Grantee>\
         <Permission>READ</Permission></Grant>\
         </AccessControlList></AccessControlPolicy>"
    );
    let response = raw.signed("PUT", &format!("/{b}?acl"), &[], policy.as_bytes());
    assert_ok(&response, 200);
    assert_eq!(
        bucket_grants(&raw, &b),
        pairs(&[(ALL_USERS, "READ"), (ACCESS_KEY, "FULL_CONTROL")])
    );
    // A grant to a user is no canned ACL: not implemented, and nothing changes.
    let to_user = policy.replace(
        &format!("<URI>{ALL_USERS}</URI>"),
        &format!("<ID>{OTHER_ACCESS_KEY}</ID>"),
    );
    let response = raw.signed("PUT", &format!("/{b}?acl"), &[], to_user.as_bytes());
    assert_eq!(response.status, 501, "{}", response.text());
    let response = raw.signed(
        "PUT",
        &format!("/{b}?acl"),
        &[("x-amz-grant-read", &format!("id={OTHER_ACCESS_KEY}"))],
        b"",
    );
    assert_eq!(response.status, 501, "{}", response.text());
    let response = raw.signed(
        "PUT",
        &format!("/{b}?acl"),
        &[("x-amz-acl", "log-delivery-write")],
        b"",
    );
    assert_eq!(response.status, 501, "{}", response.text());
    assert_eq!(
        bucket_grants(&raw, &b),
        pairs(&[(ALL_USERS, "READ"), (ACCESS_KEY, "FULL_CONTROL")])
    );
    // Object ACLs. The bucket (public-read by now) lists its keys to anyone; each object's
    // own ACL decides who reads it. The owner-only canned ACLs are private here (the
    // bucket's owner owns every object).
    for acl in [
        ObjectCannedAcl::Private,
        ObjectCannedAcl::BucketOwnerFullControl,
        ObjectCannedAcl::BucketOwnerRead,
    ] {
        put_acl(&s3, &b, "obj", b"x", Some(acl)).await;
        assert_denied(&raw.request("GET", &format!("/{b}/obj"), &[], b""));
        assert_eq!(
            object_grants(&s3, &b, "obj").await,
            pairs(&[(ACCESS_KEY, "FULL_CONTROL")])
        );
    }
    put_acl(&s3, &b, "obj", b"shared", Some(ObjectCannedAcl::PublicRead)).await;
    assert_eq!(
        raw.request("GET", &format!("/{b}/obj"), &[], b"").body,
        b"shared"
    );
    assert_eq!(
        object_grants(&s3, &b, "obj").await,
        pairs(&[(ALL_USERS, "READ"), (ACCESS_KEY, "FULL_CONTROL")])
    );
    // PutObjectAcl changes the ACL only: same bytes, ETag and Last-Modified.
    let before = s3.head_object().bucket(&b).key("obj").send().await.unwrap();
    s3.put_object_acl()
        .bucket(&b)
        .key("obj")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_denied(&raw.request("GET", &format!("/{b}/obj"), &[], b""));
    let after = s3.head_object().bucket(&b).key("obj").send().await.unwrap();
    assert_eq!(
        (after.e_tag(), after.last_modified()),
        (before.e_tag(), before.last_modified())
    );
    // The same policy document as for the bucket, on the object.
    let response = raw.signed("PUT", &format!("/{b}/obj?acl"), &[], policy.as_bytes());
    assert_ok(&response, 200);
    assert_eq!(
        raw.request("GET", &format!("/{b}/obj"), &[], b"").body,
        b"shared"
    );
    let response = raw.signed("PUT", &format!("/{b}/obj?acl"), &[], to_user.as_bytes());
    assert_eq!(response.status, 501, "{}", response.text());
    for refused in ["aws-exec-read", "log-delivery-write"] {
        assert_status(
            s3.put_object_acl()
                .bucket(&b)
                .key("obj")
                .acl(ObjectCannedAcl::from(refused))
                .send()
                .await,
            501,
        );
    }
    assert_eq!(
        object_grants(&s3, &b, "obj").await,
        pairs(&[(ALL_USERS, "READ"), (ACCESS_KEY, "FULL_CONTROL")])
    );
    // A copy gets the ACL its request names, never its source's (private without one),
    // metadata directive COPY or REPLACE alike.
    for (key, directive, acl, public) in [
        ("copy-plain", "COPY", None, false),
        (
            "copy-public",
            "COPY",
            Some(ObjectCannedAcl::PublicRead),
            true,
        ),
        (
            "copy-replace",
            "REPLACE",
            Some(ObjectCannedAcl::PublicReadWrite),
            true,
        ),
    ] {
        s3.copy_object()
            .bucket(&b)
            .key(key)
            .copy_source(format!("{b}/obj"))
            .metadata_directive(directive.into())
            .set_acl(acl)
            .send()
            .await
            .unwrap_or_else(|e| panic!("copy {key}: {e:?}"));
        let got = raw.request("GET", &format!("/{b}/{key}"), &[], b"");
        if public {
            assert_eq!(got.body, b"shared", "{key}");
        } else {
            assert_denied(&got);
        }
    }
    // A multipart upload's ACL is the completed object's.
    let upload = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    finish_in_one_part(
        &s3,
        &b,
        "mp",
        upload.upload_id().unwrap(),
        b"multipart bytes",
    )
    .await;
    assert_eq!(
        raw.request("GET", &format!("/{b}/mp"), &[], b"").body,
        b"multipart bytes"
    );
    // Only the owner reads or sets an object's ACL, public or not.
    assert_denied(&raw.request("GET", &format!("/{b}/obj?acl"), &[], b""));
    assert_denied(&raw.request(
        "PUT",
        &format!("/{b}/obj?acl"),
        &[("x-amz-acl", "private")],
        b"",
    ));
    assert_s3_err(
        s3.put_object_acl()
            .bucket(&b)
            .key("missing")
            .acl(ObjectCannedAcl::Private)
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    assert_s3_err(
        s3.get_object_acl().bucket(&b).key("missing").send().await,
        "NoSuchKey",
        404,
    );
    // Anonymous requests to a bucket that does not exist: NoSuchBucket where an ACL could
    // have allowed them, AccessDenied elsewhere.
    let gone = unique_bucket("acl-none");
    let missing = raw.request("GET", &format!("/{gone}/k"), &[], b"");
    assert_eq!(missing.error_code().as_deref(), Some("NoSuchBucket"));
    assert_denied(&raw.request("GET", &format!("/{gone}?acl"), &[], b""));
}

#[tokio::test]
async fn bucket_and_object_acls_survive_restarts_and_crashes() {
    let mut node = Node::start();
    let s3 = node.client();
    let public = bucket_with(&s3, "acl-keep-r", Some(BucketCannedAcl::PublicRead)).await;
    let open = bucket_with(&s3, "acl-keep-rw", None).await;
    let closed = bucket_with(&s3, "acl-keep-p", Some(BucketCannedAcl::PublicRead)).await;
    s3.put_bucket_acl()
        .bucket(&open)
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    s3.put_bucket_acl()
        .bucket(&closed)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    put_acl(
        &s3,
        &public,
        "k",
        b"kept",
        Some(ObjectCannedAcl::PublicRead),
    )
    .await;
    put_acl(
        &s3,
        &public,
        "turned",
        b"turned",
        Some(ObjectCannedAcl::PublicRead),
    )
    .await;
    for cycle in 0..2 {
        if cycle == 0 {
            node.restart();
        } else {
            // An acknowledged PutBucketAcl is durable: it survives a crash right after it
            // (replayed from the journal, not from a checkpoint). A new client: the old one's
            // pooled connections died with the previous process.
            let s3 = node.client();
            s3.put_bucket_acl()
                .bucket(&closed)
                .acl(BucketCannedAcl::PublicRead)
                .send()
                .await
                .unwrap();
            s3.put_bucket_acl()
                .bucket(&closed)
                .acl(BucketCannedAcl::Private)
                .send()
                .await
                .unwrap();
            // So is a PutObjectAcl.
            s3.put_object_acl()
                .bucket(&public)
                .key("turned")
                .acl(ObjectCannedAcl::Private)
                .send()
                .await
                .unwrap();
            node.kill9();
            node.start_again();
        }
        let raw = node.raw();
        let got = raw.request("GET", &format!("/{public}/k"), &[], b"");
        assert_ok(&got, 200);
        assert_eq!(got.body, b"kept");
        let turned = raw.request("GET", &format!("/{public}/turned"), &[], b"");
        if cycle == 0 {
            assert_eq!(turned.body, b"turned");
        } else {
            assert_denied(&turned);
        }
        assert_ok(
            &raw.request("PUT", &format!("/{open}/c{cycle}"), &[], b"w"),
            200,
        );
        assert_denied(&raw.request("GET", &format!("/{closed}"), &[], b""));
        assert_eq!(
            bucket_grants(&raw, &open),
            pairs(&[
                (ALL_USERS, "READ"),
                (ALL_USERS, "WRITE"),
                (ACCESS_KEY, "FULL_CONTROL")
            ])
        );
        // Every core checks against the same ACL: several connections land on several cores.
        for _ in 0..8 {
            assert_ok(&raw.request("HEAD", &format!("/{public}/k"), &[], b""), 200);
            let head = raw.request("HEAD", &format!("/{closed}"), &[], b"");
            assert_eq!(head.status, 403);
        }
    }
}

#[tokio::test]
async fn writers_upload_in_parts_and_listings_name_each_upload_s_initiator() {
    let node = Node::shared();
    let s3 = node.client();
    let other = node.other_client();
    let raw = node.raw();
    let b = bucket_with(&s3, "acl-mp", Some(BucketCannedAcl::PublicReadWrite)).await;
    let mine = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mine")
        .send()
        .await
        .unwrap();
    let theirs = other
        .create_multipart_upload()
        .bucket(&b)
        .key("theirs")
        .send()
        .await
        .unwrap();
    let anon = raw.request("POST", &format!("/{b}/anon?uploads"), &[], b"");
    assert_ok(&anon, 200);
    let anon_id = tessera_tests::xml_value(&anon.text(), "UploadId").unwrap();
    // Every lister sees every upload with its own initiator, as both Initiator and Owner.
    let want = vec![
        ("anon".to_string(), "anonymous".to_string()),
        ("mine".to_string(), ACCESS_KEY.to_string()),
        ("theirs".to_string(), OTHER_ACCESS_KEY.to_string()),
    ];
    for client in [&s3, &other] {
        let listed = client
            .list_multipart_uploads()
            .bucket(&b)
            .send()
            .await
            .unwrap();
        let got: Vec<(String, String)> = listed
            .uploads()
            .iter()
            .map(|u| {
                let initiator = u.initiator().and_then(|i| i.id()).unwrap_or("");
                assert_eq!(u.owner().and_then(|o| o.id()), Some(initiator));
                (u.key().unwrap_or("").to_string(), initiator.to_string())
            })
            .collect();
        assert_eq!(got, want);
    }
    let parts = s3
        .list_parts()
        .bucket(&b)
        .key("theirs")
        .upload_id(theirs.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        parts.initiator().and_then(|i| i.id()),
        Some(OTHER_ACCESS_KEY)
    );
    // The other user completes its upload; the object is the bucket owner's, private.
    finish_in_one_part(
        &other,
        &b,
        "theirs",
        theirs.upload_id().unwrap(),
        b"their parts",
    )
    .await;
    let got = s3
        .get_object()
        .bucket(&b)
        .key("theirs")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(11));
    assert_eq!(
        object_grants(&s3, &b, "theirs").await,
        pairs(&[(ACCESS_KEY, "FULL_CONTROL")])
    );
    // ListParts stays the bucket owner's; anyone who may write may abort.
    assert_s3_err(
        other
            .list_parts()
            .bucket(&b)
            .key("mine")
            .upload_id(mine.upload_id().unwrap())
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_ok(
        &raw.request("DELETE", &format!("/{b}/anon?uploadId={anon_id}"), &[], b""),
        204,
    );
    s3.abort_multipart_upload()
        .bucket(&b)
        .key("mine")
        .upload_id(mine.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    let left = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(left.uploads().is_empty(), "{left:?}");
    // A private bucket again: nobody else starts uploads.
    s3.put_bucket_acl()
        .bucket(&b)
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_s3_err(
        other
            .create_multipart_upload()
            .bucket(&b)
            .key("late")
            .send()
            .await,
        "AccessDenied",
        403,
    );
}
