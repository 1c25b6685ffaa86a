//! Tags through `aws-sdk-s3`. Objects: `x-amz-tagging` on PUT, multipart and copy (with the
//! tagging directive), Put/Get/DeleteObjectTagging, `x-amz-tagging-count` on GET and HEAD.
//! Buckets: Put/Get/DeleteBucketTagging. S3's limits (InvalidTag), owner-only access, and
//! tags surviving kill -9.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging, TaggingDirective};
use aws_sdk_s3::Client;
use tessera_tests::{assert_s3_err, create_bucket, unique_bucket, Node};

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let mut b = Tagging::builder();
    for (k, v) in pairs {
        b = b.tag_set(Tag::builder().key(*k).value(*v).build().expect("tag"));
    }
    b.build().expect("tagging")
}

async fn tags_of(s3: &Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let got = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get tagging");
    got.tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn tags_are_set_read_replaced_copied_and_deleted() {
    let node = Node::shared();
    let s3 = node.client();
    let b = unique_bucket("tags");
    create_bucket(&s3, &b).await;

    // On PUT, URL-encoded; answered sorted by key.
    s3.put_object()
        .bucket(&b)
        .key("doc")
        .tagging("team=data%20eng&env=prod&flag")
        .body(ByteStream::from_static(b"tagged body"))
        .send()
        .await
        .expect("put with tags");
    assert_eq!(
        tags_of(&s3, &b, "doc").await,
        pairs(&[("env", "prod"), ("flag", ""), ("team", "data eng")])
    );
    let head = s3
        .head_object()
        .bucket(&b)
        .key("doc")
        .send()
        .await
        .expect("head");
    assert_eq!(head.tag_count(), Some(3));
    let get = s3
        .get_object()
        .bucket(&b)
        .key("doc")
        .send()
        .await
        .expect("get");
    assert_eq!(get.tag_count(), Some(3));
    let etag = get.e_tag().map(str::to_string);
    assert_eq!(
        get.body.collect().await.expect("body").to_vec(),
        b"tagged body"
    );

    // PutObjectTagging replaces them and nothing else.
    s3.put_object_tagging()
        .bucket(&b)
        .key("doc")
        .tagging(tagging(&[("owner", "ana")]))
        .send()
        .await
        .expect("put tagging");
    assert_eq!(tags_of(&s3, &b, "doc").await, pairs(&[("owner", "ana")]));
    let head = s3
        .head_object()
        .bucket(&b)
        .key("doc")
        .send()
        .await
        .expect("head");
    assert_eq!(head.e_tag().map(str::to_string), etag);
    assert_eq!(head.tag_count(), Some(1));

    // Copies take the source's tags unless told to replace them.
    s3.copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/doc"))
        .send()
        .await
        .expect("copy");
    assert_eq!(tags_of(&s3, &b, "copy").await, pairs(&[("owner", "ana")]));
    s3.copy_object()
        .bucket(&b)
        .key("copy2")
        .copy_source(format!("{b}/doc"))
        .tagging_directive(TaggingDirective::Replace)
        .tagging("k=v")
        .send()
        .await
        .expect("copy replacing tags");
    assert_eq!(tags_of(&s3, &b, "copy2").await, pairs(&[("k", "v")]));

    // Multipart: the tags given at creation.
    let upload = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .tagging("part=whole")
        .send()
        .await
        .expect("create upload");
    let id = upload.upload_id().expect("id").to_string();
    let part = s3
        .upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"one part"))
        .send()
        .await
        .expect("part");
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
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
        .expect("complete");
    assert_eq!(tags_of(&s3, &b, "mp").await, pairs(&[("part", "whole")]));

    // Delete: none left, and no count header.
    s3.delete_object_tagging()
        .bucket(&b)
        .key("doc")
        .send()
        .await
        .expect("delete tagging");
    assert!(tags_of(&s3, &b, "doc").await.is_empty());
    let head = s3
        .head_object()
        .bucket(&b)
        .key("doc")
        .send()
        .await
        .expect("head");
    assert_eq!(head.tag_count(), None);
}

#[tokio::test]
async fn tag_limits_and_access_are_s3s() {
    let node = Node::shared();
    let s3 = node.client();
    let b = unique_bucket("taglim");
    create_bucket(&s3, &b).await;
    s3.put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    let refs: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for bad in [
        tagging(&refs),
        tagging(&[(&"k".repeat(129), "v")]),
        tagging(&[("k", &"v".repeat(257))]),
        tagging(&[("same", "1"), ("same", "2")]),
    ] {
        assert_s3_err(
            s3.put_object_tagging()
                .bucket(&b)
                .key("k")
                .tagging(bad)
                .send()
                .await,
            "InvalidTag",
            400,
        );
    }
    assert!(
        tags_of(&s3, &b, "k").await.is_empty(),
        "refused tags left none"
    );
    let ten: Vec<(String, String)> = (0..10)
        .map(|i| (format!("{i}{}", "k".repeat(127)), "v".repeat(256)))
        .collect();
    let refs: Vec<(&str, &str)> = ten.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s3.put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(tagging(&refs))
        .send()
        .await
        .expect("ten tags at the limits");
    assert_eq!(tags_of(&s3, &b, "k").await, ten);
    // A PUT whose header breaks the limits stores nothing.
    assert_s3_err(
        s3.put_object()
            .bucket(&b)
            .key("refused")
            .tagging("a=1&a=2")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "InvalidTag",
        400,
    );
    assert_s3_err(
        s3.head_object().bucket(&b).key("refused").send().await,
        "NotFound",
        404,
    );
    // Missing keys, and other users.
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
        s3.put_object_tagging()
            .bucket(&b)
            .key("missing")
            .tagging(tagging(&[("a", "b")]))
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    let other = node.other_client();
    assert_s3_err(
        other.get_object_tagging().bucket(&b).key("k").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other
            .put_object_tagging()
            .bucket(&b)
            .key("k")
            .tagging(tagging(&[("a", "b")]))
            .send()
            .await,
        "AccessDenied",
        403,
    );
}

#[tokio::test]
async fn bucket_tags_are_set_read_and_deleted() {
    let node = Node::shared();
    let s3 = node.client();
    let b = unique_bucket("btags");
    create_bucket(&s3, &b).await;
    assert_s3_err(
        s3.get_bucket_tagging().bucket(&b).send().await,
        "NoSuchTagSet",
        404,
    );
    s3.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&[("project", "tessera"), ("cost-center", "42")]))
        .send()
        .await
        .expect("put bucket tagging");
    let got = s3
        .get_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("get");
    let got: Vec<(String, String)> = got
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    assert_eq!(got, pairs(&[("cost-center", "42"), ("project", "tessera")]));
    // Up to 50 on a bucket; 51 is refused and changes nothing.
    let fifty: Vec<(String, String)> = (0..50).map(|i| (format!("k{i:02}"), "v".into())).collect();
    let refs: Vec<(&str, &str)> = fifty
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    s3.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&refs))
        .send()
        .await
        .expect("fifty tags");
    let mut fifty_one = fifty.clone();
    fifty_one.push(("k50".into(), "v".into()));
    let refs: Vec<(&str, &str)> = fifty_one
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_s3_err(
        s3.put_bucket_tagging()
            .bucket(&b)
            .tagging(tagging(&refs))
            .send()
            .await,
        "InvalidTag",
        400,
    );
    let got = s3
        .get_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("get");
    assert_eq!(got.tag_set().len(), 50);
    let other = node.other_client();
    assert_s3_err(
        other.get_bucket_tagging().bucket(&b).send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other.delete_bucket_tagging().bucket(&b).send().await,
        "AccessDenied",
        403,
    );
    s3.delete_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("delete bucket tagging");
    assert_s3_err(
        s3.get_bucket_tagging().bucket(&b).send().await,
        "NoSuchTagSet",
        404,
    );
}

#[tokio::test]
async fn tags_survive_kill9() {
    let mut node = Node::start();
    let s3 = node.client();
    let b = unique_bucket("tagdur");
    create_bucket(&s3, &b).await;
    s3.put_bucket_tagging()
        .bucket(&b)
        .tagging(tagging(&[("kept", "yes")]))
        .send()
        .await
        .expect("bucket tags");
    for key in ["a", "m", "z"] {
        s3.put_object()
            .bucket(&b)
            .key(key)
            .tagging(format!("key={key}"))
            .body(ByteStream::from_static(b"body"))
            .send()
            .await
            .expect("put");
    }
    s3.put_object_tagging()
        .bucket(&b)
        .key("m")
        .tagging(tagging(&[("changed", "yes")]))
        .send()
        .await
        .expect("put tagging");
    node.kill9();
    node.start_again();
    let s3 = node.client();
    assert_eq!(tags_of(&s3, &b, "a").await, pairs(&[("key", "a")]));
    assert_eq!(tags_of(&s3, &b, "m").await, pairs(&[("changed", "yes")]));
    assert_eq!(tags_of(&s3, &b, "z").await, pairs(&[("key", "z")]));
    let bucket_tags = s3
        .get_bucket_tagging()
        .bucket(&b)
        .send()
        .await
        .expect("get");
    assert_eq!(bucket_tags.tag_set()[0].key(), "kept");
}
