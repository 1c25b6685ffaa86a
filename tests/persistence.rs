//! Restart persistence: everything acknowledged before a clean stop (SIGTERM) or a crash
//! (SIGKILL) is there after the node starts again on the same data directory — buckets,
//! objects of every size class on both cores, metadata, checksums, multipart objects, open
//! multipart uploads — and nothing deleted comes back.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use tessera_tests::{assert_s3_err, assert_status, md5_hex, random_bytes, Node};

const MIB: usize = 1024 * 1024;

/// What the node must hold: bucket -> key -> content.
#[derive(Default)]
struct Model {
    buckets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl Model {
    async fn create_bucket(&mut self, s3: &Client, bucket: &str) {
        tessera_tests::create_bucket(s3, bucket).await;
        self.buckets.insert(bucket.to_string(), BTreeMap::new());
    }

    async fn put(&mut self, s3: &Client, bucket: &str, key: &str, data: Vec<u8>) {
        let out = s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        assert_eq!(
            out.e_tag(),
            Some(format!("\"{}\"", md5_hex(&data)).as_str())
        );
        self.buckets
            .get_mut(bucket)
            .unwrap()
            .insert(key.to_string(), data);
    }

    async fn delete(&mut self, s3: &Client, bucket: &str, key: &str) {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        self.buckets.get_mut(bucket).unwrap().remove(key);
    }

    /// Every bucket lists exactly the model's keys with the right sizes, and every object
    /// reads back byte for byte.
    async fn verify(&self, s3: &Client) {
        let listed = s3.list_buckets().send().await.unwrap();
        let mut names: Vec<&str> = listed.buckets().iter().map(|b| b.name().unwrap()).collect();
        names.sort();
        let want: Vec<&str> = self.buckets.keys().map(String::as_str).collect();
        assert_eq!(names, want, "buckets");
        for (bucket, objects) in &self.buckets {
            let mut listed = Vec::new();
            let mut token = None;
            loop {
                let page = s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .unwrap();
                listed.extend(
                    page.contents()
                        .iter()
                        .map(|o| (o.key().unwrap().to_string(), o.size().unwrap())),
                );
                token = page.next_continuation_token().map(String::from);
                if token.is_none() {
                    break;
                }
            }
            let want: Vec<(String, i64)> = objects
                .iter()
                .map(|(k, v)| (k.clone(), v.len() as i64))
                .collect();
            assert_eq!(listed, want, "listing of {bucket}");
            for (key, data) in objects {
                let got = s3
                    .get_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"));
                let body = got.body.collect().await.unwrap().into_bytes();
                assert_eq!(md5_hex(&body), md5_hex(data), "content of {bucket}/{key}");
            }
        }
    }
}

/// Keys over both cores and every size class: empty, tiny, packed, one stripe, several.
fn object_set(seed: u64) -> Vec<(String, Vec<u8>)> {
    let sizes = [0, 1, 777, 4096, 100_000, 130_000, MIB + 1, 3 * MIB + 5];
    let mut out = Vec::new();
    for (i, first) in ["a", "b", "c", "d", "Z", "0", "~", "é"].iter().enumerate() {
        let size = sizes[i % sizes.len()];
        out.push((
            format!("{first}/obj-{seed}-{i}"),
            random_bytes(size, seed * 100 + i as u64),
        ));
    }
    out
}

async fn upload_parts(
    s3: &Client,
    bucket: &str,
    key: &str,
    parts: &[Vec<u8>],
) -> (String, Vec<String>) {
    let id = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .metadata("kind", "multipart")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let mut etags = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_string());
    }
    (id, etags)
}

async fn complete(s3: &Client, bucket: &str, key: &str, id: &str, etags: &[String]) -> String {
    let parts = etags
        .iter()
        .enumerate()
        .map(|(i, e)| {
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(e)
                .build()
        })
        .collect();
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn clean_restarts_keep_everything() {
    let mut node = Node::start();
    let s3 = node.client();
    let mut model = Model::default();
    model.create_bucket(&s3, "keep-one").await;
    model.create_bucket(&s3, "keep-two").await;
    for (key, data) in object_set(1) {
        model.put(&s3, "keep-one", &key, data).await;
    }
    for (key, data) in object_set(2).into_iter().take(4) {
        model.put(&s3, "keep-two", &key, data).await;
    }
    // Overwritten, deleted, and a deleted bucket.
    model
        .put(&s3, "keep-one", "a/overwritten", b"first".to_vec())
        .await;
    model
        .put(&s3, "keep-one", "a/overwritten", random_bytes(200_000, 77))
        .await;
    model
        .put(&s3, "keep-one", "b/deleted", b"gone".to_vec())
        .await;
    model.delete(&s3, "keep-one", "b/deleted").await;
    tessera_tests::create_bucket(&s3, "gone-bucket").await;
    s3.delete_bucket()
        .bucket("gone-bucket")
        .send()
        .await
        .unwrap();

    // Metadata and a checksum.
    let meta_data = random_bytes(50_000, 88);
    let put = s3
        .put_object()
        .bucket("keep-two")
        .key("b/with-meta")
        .body(ByteStream::from(meta_data.clone()))
        .content_type("text/x-kept")
        .cache_control("max-age=1")
        .metadata("color", "green")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let sha256 = put.checksum_sha256().unwrap().to_string();
    model
        .buckets
        .get_mut("keep-two")
        .unwrap()
        .insert("b/with-meta".into(), meta_data);

    // A completed multipart object, and an upload left open with one part.
    let parts = vec![
        random_bytes(5 * MIB, 91),
        random_bytes(5 * MIB, 92),
        random_bytes(1000, 93),
    ];
    let (id, etags) = upload_parts(&s3, "keep-one", "a/multipart", &parts).await;
    let mp_etag = complete(&s3, "keep-one", "a/multipart", &id, &etags).await;
    model
        .buckets
        .get_mut("keep-one")
        .unwrap()
        .insert("a/multipart".into(), parts.concat());
    let open_parts = vec![random_bytes(5 * MIB, 94)];
    let (open_id, open_etags) = upload_parts(&s3, "keep-two", "c/open-upload", &open_parts).await;

    model.verify(&s3).await;
    for cycle in 0..2 {
        node.restart();
        let s3 = node.client();
        model.verify(&s3).await;
        // Bucket owners survive restarts: the second user still may not touch them.
        let other = node.other_client();
        assert!(other
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .is_empty());
        for bucket in model.buckets.keys() {
            assert_status(other.head_bucket().bucket(bucket).send().await, 403);
        }
        assert_status(s3.head_bucket().bucket("gone-bucket").send().await, 404);
        assert_s3_err(
            s3.get_object()
                .bucket("keep-one")
                .key("b/deleted")
                .send()
                .await,
            "NoSuchKey",
            404,
        );
        let head = s3
            .head_object()
            .bucket("keep-two")
            .key("b/with-meta")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_type(), Some("text/x-kept"), "cycle {cycle}");
        assert_eq!(head.cache_control(), Some("max-age=1"));
        assert_eq!(
            head.metadata().cloned().unwrap_or_default(),
            HashMap::from([("color".to_string(), "green".to_string())])
        );
        assert_eq!(head.checksum_sha256(), Some(sha256.as_str()));
        let head = s3
            .head_object()
            .bucket("keep-one")
            .key("a/multipart")
            .part_number(2)
            .send()
            .await
            .unwrap();
        assert_eq!(head.e_tag(), Some(mp_etag.as_str()));
        assert_eq!(head.parts_count(), Some(3));
        assert_eq!(head.content_length(), Some(5 * MIB as i64));
        assert_eq!(
            head.metadata()
                .and_then(|m| m.get("kind"))
                .map(String::as_str),
            Some("multipart")
        );
        // The open upload survived with its part.
        let uploads = s3
            .list_multipart_uploads()
            .bucket("keep-two")
            .send()
            .await
            .unwrap();
        let ids: Vec<&str> = uploads
            .uploads()
            .iter()
            .map(|u| u.upload_id().unwrap())
            .collect();
        assert_eq!(ids, vec![open_id.as_str()], "cycle {cycle}");
        let listed = s3
            .list_parts()
            .bucket("keep-two")
            .key("c/open-upload")
            .upload_id(&open_id)
            .send()
            .await
            .unwrap();
        let part_etags: Vec<&str> = listed.parts().iter().map(|p| p.e_tag().unwrap()).collect();
        assert_eq!(part_etags, vec![open_etags[0].as_str()]);
        // Writes after a restart persist too.
        model
            .put(
                &s3,
                "keep-two",
                &format!("d/after-restart-{cycle}"),
                random_bytes(10_000, cycle),
            )
            .await;
    }
    // Finish the open upload after the restarts.
    let s3 = node.client();
    let tail = random_bytes(10, 95);
    let out = s3
        .upload_part()
        .bucket("keep-two")
        .key("c/open-upload")
        .upload_id(&open_id)
        .part_number(2)
        .body(ByteStream::from(tail.clone()))
        .send()
        .await
        .unwrap();
    let mut etags = open_etags.clone();
    etags.push(out.e_tag().unwrap().to_string());
    complete(&s3, "keep-two", "c/open-upload", &open_id, &etags).await;
    model.buckets.get_mut("keep-two").unwrap().insert(
        "c/open-upload".into(),
        [open_parts[0].as_slice(), &tail].concat(),
    );
    node.restart();
    model.verify(&node.client()).await;
}

#[tokio::test]
async fn kill9_keeps_every_acknowledged_write() {
    let mut node = Node::start();
    let s3 = node.client();
    let mut model = Model::default();
    model.create_bucket(&s3, "crash").await;
    for round in 0..3u64 {
        // Concurrent writes, all acknowledged before the kill.
        let objects = object_set(10 + round);
        let mut set = tokio::task::JoinSet::new();
        for (key, data) in objects.clone() {
            let s3 = s3.clone();
            set.spawn(async move {
                s3.put_object()
                    .bucket("crash")
                    .key(&key)
                    .body(ByteStream::from(data))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
            });
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
        for (key, data) in objects {
            model.buckets.get_mut("crash").unwrap().insert(key, data);
        }
        // Overwrite and delete something from the previous round, then crash at once.
        if round > 0 {
            let previous = object_set(10 + round - 1);
            model.delete(&s3, "crash", &previous[0].0).await;
            model
                .put(
                    &s3,
                    "crash",
                    &previous[1].0,
                    random_bytes(3000, 500 + round),
                )
                .await;
        }
        node.kill9();
        node.start_again();
        let s3_after = node.client();
        model.verify(&s3_after).await;
    }
    assert!(node.is_running());
}
