//! Bucket operations through `aws-sdk-s3`: ListBuckets, CreateBucket (naming rules,
//! BucketAlreadyOwnedByYou), HeadBucket, GetBucketLocation, DeleteBucket (BucketNotEmpty).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use tessera_tests::{assert_s3_err, assert_status, create_bucket, unique_bucket, Node};

#[tokio::test]
async fn create_list_head_locate_delete() {
    let node = Node::shared();
    let s3 = node.client();
    let name = unique_bucket("life");
    let before = std::time::SystemTime::now();
    create_bucket(&s3, &name).await;

    let listed = s3.list_buckets().send().await.unwrap();
    let bucket = listed
        .buckets()
        .iter()
        .find(|b| b.name() == Some(name.as_str()))
        .unwrap_or_else(|| panic!("{name} not in ListBuckets: {listed:?}"));
    let created = bucket.creation_date().expect("CreationDate").secs();
    let before_secs = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (before_secs - 5..=before_secs + 60).contains(&created),
        "CreationDate {created} far from now {before_secs}"
    );
    assert!(listed.owner().and_then(|o| o.id()).is_some(), "Owner/ID");

    let head = s3.head_bucket().bucket(&name).send().await.unwrap();
    assert_eq!(head.bucket_region(), Some("us-east-1"));

    // us-east-1 is the empty LocationConstraint, as in S3.
    let location = s3.get_bucket_location().bucket(&name).send().await.unwrap();
    assert!(
        location
            .location_constraint()
            .is_none_or(|l| l.as_str().is_empty()),
        "{location:?}"
    );

    s3.delete_bucket().bucket(&name).send().await.unwrap();
    assert_status(s3.head_bucket().bucket(&name).send().await, 404);
    let listed = s3.list_buckets().send().await.unwrap();
    assert!(!listed
        .buckets()
        .iter()
        .any(|b| b.name() == Some(name.as_str())));
    assert_s3_err(
        s3.delete_bucket().bucket(&name).send().await,
        "NoSuchBucket",
        404,
    );
    assert_s3_err(
        s3.get_bucket_location().bucket(&name).send().await,
        "NoSuchBucket",
        404,
    );
}

/// Outside us-east-1, creating a bucket you already own is 409 BucketAlreadyOwnedByYou.
#[tokio::test]
async fn create_twice_is_already_owned_by_you() {
    let node = Node::start_in_region("eu-central-1");
    let s3 = node.client();
    let name = unique_bucket("twice");
    create_bucket(&s3, &name).await;
    s3.put_object()
        .bucket(&name)
        .key("kept")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.create_bucket()
            .bucket(&name)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::EuCentral1)
                    .build(),
            )
            .send()
            .await,
        "BucketAlreadyOwnedByYou",
        409,
    );
    let location = s3.get_bucket_location().bucket(&name).send().await.unwrap();
    assert_eq!(
        location.location_constraint(),
        Some(&BucketLocationConstraint::EuCentral1)
    );
    assert_eq!(
        s3.head_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap()
            .bucket_region(),
        Some("eu-central-1")
    );
    // A location constraint naming another region is refused.
    let other = unique_bucket("elsewhere");
    let result = s3
        .create_bucket()
        .bucket(&other)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::ApSoutheast2)
                .build(),
        )
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_status(s3.head_bucket().bucket(&other).send().await, 404);
}

/// In us-east-1, S3 keeps its legacy answer (200) for re-creating a bucket you own; either
/// way the bucket and its contents must survive.
#[tokio::test]
async fn create_twice_in_us_east_1_keeps_the_bucket() {
    let node = Node::shared();
    let s3 = node.client();
    let name = unique_bucket("twice");
    create_bucket(&s3, &name).await;
    s3.put_object()
        .bucket(&name)
        .key("kept")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    if let Err(e) = s3.create_bucket().bucket(&name).send().await {
        assert_eq!(
            tessera_tests::err_code(&e),
            (Some("BucketAlreadyOwnedByYou".to_string()), Some(409)),
            "{e:?}"
        );
    }
    let got = s3
        .get_object()
        .bucket(&name)
        .key("kept")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"kept"
    );
}

#[tokio::test]
async fn invalid_bucket_names_are_refused() {
    let node = Node::shared();
    let s3 = node.client();
    let long = "a".repeat(64);
    let bad = [
        "ab",
        "Upper-case",
        "under_score",
        "-leading-dash",
        "trailing-dash-",
        "double..dot",
        "dash.-dot",
        "192.168.1.10",
        "xn--punycode",
        "sthree-reserved",
        "name-s3alias",
        long.as_str(),
    ];
    for name in bad {
        let result = s3.create_bucket().bucket(name).send().await;
        assert_s3_err(result, "InvalidBucketName", 400);
    }
    let listed = s3.list_buckets().send().await.unwrap();
    for name in bad {
        assert!(!listed.buckets().iter().any(|b| b.name() == Some(name)));
    }
    // The longest and shortest legal names are fine.
    let edge = [
        "abc".to_string(),
        format!("{}-{}", "b".repeat(50), std::process::id() % 1000),
    ];
    for name in &edge {
        let result = s3.create_bucket().bucket(name).send().await;
        // A previous run may have left it: both are "it exists now".
        if let Err(e) = result {
            assert_eq!(
                tessera_tests::err_code(&e).0.as_deref(),
                Some("BucketAlreadyOwnedByYou"),
                "{name}: {e:?}"
            );
        }
        // Usable: an object goes in and out.
        s3.put_object()
            .bucket(name)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        s3.delete_object()
            .bucket(name)
            .key("k")
            .send()
            .await
            .unwrap();
        s3.delete_bucket().bucket(name).send().await.unwrap();
    }
}

#[tokio::test]
async fn delete_non_empty_bucket_is_refused() {
    let node = Node::shared();
    let s3 = node.client();
    let name = unique_bucket("nonempty");
    create_bucket(&s3, &name).await;
    // One key on each core: the emptiness check must ask every core.
    for key in ["a-key", "b-key"] {
        s3.put_object()
            .bucket(&name)
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    assert_s3_err(
        s3.delete_bucket().bucket(&name).send().await,
        "BucketNotEmpty",
        409,
    );
    s3.delete_object()
        .bucket(&name)
        .key("a-key")
        .send()
        .await
        .unwrap();
    assert_s3_err(
        s3.delete_bucket().bucket(&name).send().await,
        "BucketNotEmpty",
        409,
    );
    s3.delete_object()
        .bucket(&name)
        .key("b-key")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(&name).send().await.unwrap();
    assert_status(s3.head_bucket().bucket(&name).send().await, 404);
}

#[tokio::test]
async fn object_operations_on_a_missing_bucket() {
    let node = Node::shared();
    let s3 = node.client();
    let name = unique_bucket("missing");
    assert_s3_err(
        s3.put_object()
            .bucket(&name)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    assert_s3_err(
        s3.get_object().bucket(&name).key("k").send().await,
        "NoSuchBucket",
        404,
    );
    assert_s3_err(
        s3.list_objects_v2().bucket(&name).send().await,
        "NoSuchBucket",
        404,
    );
    assert_s3_err(
        s3.create_multipart_upload()
            .bucket(&name)
            .key("k")
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
}

#[tokio::test]
async fn recreate_after_delete_starts_empty() {
    let node = Node::shared();
    let s3 = node.client();
    let name = unique_bucket("again");
    create_bucket(&s3, &name).await;
    s3.put_object()
        .bucket(&name)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&name)
        .key("k")
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(&name).send().await.unwrap();
    create_bucket(&s3, &name).await;
    let listed = s3.list_objects_v2().bucket(&name).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
    assert!(listed.contents().is_empty());
}

#[tokio::test]
async fn a_bucket_belongs_to_the_user_who_created_it() {
    let node = Node::shared();
    let (owner, other) = (node.client(), node.other_client());
    let name = unique_bucket("mine");
    create_bucket(&owner, &name).await;
    owner
        .put_object()
        .bucket(&name)
        .key("k")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();

    // The other user does not see it, cannot take the name, and cannot touch it.
    let listed = other.list_buckets().send().await.unwrap();
    assert!(!listed.buckets().iter().any(|b| b.name() == Some(&name)));
    assert_s3_err(
        other.create_bucket().bucket(&name).send().await,
        "BucketAlreadyExists",
        409,
    );
    assert_status(other.head_bucket().bucket(&name).send().await, 403);
    assert_s3_err(
        other.get_object().bucket(&name).key("k").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other
            .put_object()
            .bucket(&name)
            .key("k")
            .body(ByteStream::from_static(b"overwritten"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other.list_objects_v2().bucket(&name).send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other.delete_object().bucket(&name).key("k").send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other.delete_bucket().bucket(&name).send().await,
        "AccessDenied",
        403,
    );
    // Nor copy out of it into a bucket of its own.
    let theirs = unique_bucket("theirs");
    create_bucket(&other, &theirs).await;
    assert_s3_err(
        other
            .copy_object()
            .bucket(&theirs)
            .key("stolen")
            .copy_source(format!("{name}/k"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert!(!owner
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .any(|b| b.name() == Some(&theirs)));

    // The owner's object is untouched.
    let got = owner
        .get_object()
        .bucket(&name)
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"private"
    );
}
