//! Listing through `aws-sdk-s3`: ListObjectsV2 (continuation-token, start-after, fetch-owner,
//! KeyCount), ListObjects v1 (marker, prefix, delimiter, max-keys, encoding-type=url), with
//! keys spread over both cores' ranges so every page is a merge of per-core pages.

use std::collections::BTreeSet;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::EncodingType;
use aws_sdk_s3::Client;
use tessera_tests::{create_bucket, md5_hex, unique_bucket, url_decode, Node};
use tokio::sync::OnceCell;

/// Keys whose first bytes alternate between the two cores' ranges, with nested "directories",
/// unusual bytes, and names that sort around the delimiter.
fn key_set() -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for dir in ["a", "b", "c", "d"] {
        for sub in ["x", "y"] {
            for i in 0..3 {
                keys.push(format!("{dir}/{sub}/{i}.txt"));
            }
        }
        keys.push(format!("{dir}/top"));
        keys.push(format!("{dir}-sibling"));
        keys.push(format!("{dir}.dot"));
    }
    keys.extend(
        [
            "!first",
            "0digit",
            "Zupper",
            "~last",
            "é/accent",
            "日本/語",
            "space key",
            "space/in dir",
            "plus+key",
            "percent%key",
            "amp&key",
            "lt<key>",
            "photos/2024/jan/1.jpg",
            "photos/2024/feb/2.jpg",
            "photos/2025/mar/3.jpg",
            "photos/index.html",
        ]
        .map(String::from),
    );
    keys.sort();
    keys
}

/// One populated bucket for the read-only tests of this file.
async fn fixture() -> &'static (String, Vec<String>) {
    static FIXTURE: OnceCell<(String, Vec<String>)> = OnceCell::const_new();
    FIXTURE
        .get_or_init(|| async {
            let s3 = Node::shared().client();
            let bucket = unique_bucket("listing");
            create_bucket(&s3, &bucket).await;
            let keys = key_set();
            put_all(&s3, &bucket, &keys).await;
            (bucket, keys)
        })
        .await
}

async fn put_all(s3: &Client, bucket: &str, keys: &[String]) {
    const IN_FLIGHT_MAX: usize = 32;
    for batch in keys.chunks(IN_FLIGHT_MAX) {
        let mut set = tokio::task::JoinSet::new();
        for key in batch {
            let (s3, bucket, key) = (s3.clone(), bucket.to_string(), key.clone());
            set.spawn(async move {
                s3.put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(key.clone().into_bytes()))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
            });
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
    }
}

/// Pages through ListObjectsV2 with `max_keys`; returns (keys, prefixes, pages).
async fn list_v2_all(
    s3: &Client,
    bucket: &str,
    prefix: Option<&str>,
    delimiter: Option<&str>,
    max_keys: i32,
) -> (Vec<String>, Vec<String>, usize) {
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_prefix(prefix.map(String::from))
            .set_delimiter(delimiter.map(String::from))
            .max_keys(max_keys)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        assert!(pages < 10_000, "listing does not end");
        let page_keys: Vec<String> = out
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_string())
            .collect();
        let page_prefixes: Vec<String> = out
            .common_prefixes()
            .iter()
            .map(|p| p.prefix().unwrap().to_string())
            .collect();
        let count = page_keys.len() + page_prefixes.len();
        assert_eq!(out.key_count(), Some(count as i32), "KeyCount");
        assert!(count <= max_keys as usize, "page over max-keys");
        assert_eq!(out.max_keys(), Some(max_keys));
        assert_eq!(out.continuation_token(), token.as_deref());
        keys.extend(page_keys);
        prefixes.extend(page_prefixes);
        if out.is_truncated() == Some(true) {
            assert_eq!(count, max_keys as usize, "a truncated page is full");
            token = Some(
                out.next_continuation_token()
                    .expect("NextContinuationToken on a truncated page")
                    .to_string(),
            );
        } else {
            assert!(out.next_continuation_token().is_none());
            break;
        }
    }
    (keys, prefixes, pages)
}

/// What S3 answers for `prefix`/`delimiter` over `all`: sorted keys and common prefixes.
fn expected(all: &[String], prefix: &str, delimiter: Option<&str>) -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut prefixes = BTreeSet::new();
    for key in all.iter().filter(|k| k.starts_with(prefix)) {
        let rest = &key[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
            Some((i, d)) => {
                prefixes.insert(format!("{prefix}{}", &rest[..i + d.len()]));
            }
            None => keys.push(key.clone()),
        }
    }
    (keys, prefixes.into_iter().collect())
}

#[tokio::test]
async fn v2_full_listing_matches_sorted_keys() {
    let (bucket, keys) = fixture().await;
    let s3 = Node::shared().client();
    let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let listed: Vec<String> = out
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    assert_eq!(&listed, keys);
    assert_eq!(out.key_count(), Some(keys.len() as i32));
    assert_eq!(out.is_truncated(), Some(false));
    assert_eq!(out.name(), Some(bucket.as_str()));
    for object in out.contents() {
        let key = object.key().unwrap();
        assert_eq!(object.size(), Some(key.len() as i64), "{key}");
        assert_eq!(
            object.e_tag(),
            Some(format!("\"{}\"", md5_hex(key.as_bytes())).as_str()),
            "{key}"
        );
        assert!(object.last_modified().is_some());
        // No owner unless asked for.
        assert!(object.owner().is_none(), "{key}: {:?}", object.owner());
    }
}

#[tokio::test]
async fn v2_pagination_across_cores() {
    let (bucket, keys) = fixture().await;
    let s3 = Node::shared().client();
    for max_keys in [1, 2, 3, 7, 1000] {
        let (listed, prefixes, pages) = list_v2_all(&s3, bucket, None, None, max_keys).await;
        assert_eq!(&listed, keys, "max-keys {max_keys}");
        assert!(prefixes.is_empty());
        assert_eq!(pages, keys.len().div_ceil(max_keys as usize).max(1));
    }
}

#[tokio::test]
async fn v2_prefix_and_delimiter_with_pagination() {
    let (bucket, keys) = fixture().await;
    let s3 = Node::shared().client();
    let cases: [(Option<&str>, Option<&str>); 9] = [
        (None, Some("/")),
        (Some("a/"), Some("/")),
        (Some("a/x/"), Some("/")),
        (Some("photos/"), Some("/")),
        (Some("photos/2024/"), Some("/")),
        (Some("photos/"), None),
        (Some("b"), Some("/")),
        (None, Some(".")),
        (Some("nothing-here"), Some("/")),
    ];
    for (prefix, delimiter) in cases {
        let (want_keys, want_prefixes) = expected(keys, prefix.unwrap_or(""), delimiter);
        for max_keys in [1, 2, 1000] {
            let (got_keys, got_prefixes, _) =
                list_v2_all(&s3, bucket, prefix, delimiter, max_keys).await;
            assert_eq!(
                (&got_keys, &got_prefixes),
                (&want_keys, &want_prefixes),
                "prefix {prefix:?} delimiter {delimiter:?} max-keys {max_keys}"
            );
        }
    }
    // The request's prefix and delimiter are echoed.
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(out.prefix(), Some("a/"));
    assert_eq!(out.delimiter(), Some("/"));
}

#[tokio::test]
async fn v2_start_after_and_fetch_owner() {
    let (bucket, keys) = fixture().await;
    let s3 = Node::shared().client();
    for start_after in [
        "",
        "a/x/1.txt",
        "b",
        "b/",
        "c/y/2.txt",
        "photos/",
        "zzz",
        "~last",
    ] {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .start_after(start_after)
            .send()
            .await
            .unwrap();
        let listed: Vec<String> = out
            .contents()
            .iter()
            .map(|o| o.key().unwrap().to_string())
            .collect();
        let want: Vec<String> = keys
            .iter()
            .filter(|k| k.as_str() > start_after)
            .cloned()
            .collect();
        assert_eq!(listed, want, "start-after {start_after:?}");
        if !start_after.is_empty() {
            assert_eq!(out.start_after(), Some(start_after));
        }
    }
    // start-after with pages: the token takes over from start-after.
    let first = s3
        .list_objects_v2()
        .bucket(bucket)
        .start_after("c")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    let second = s3
        .list_objects_v2()
        .bucket(bucket)
        .start_after("c")
        .max_keys(2)
        .continuation_token(first.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = first
        .contents()
        .iter()
        .chain(second.contents())
        .map(|o| o.key().unwrap())
        .collect();
    let want: Vec<&str> = keys
        .iter()
        .filter(|k| k.as_str() > "c")
        .take(4)
        .map(String::as_str)
        .collect();
    assert_eq!(got, want);

    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .fetch_owner(true)
        .max_keys(5)
        .send()
        .await
        .unwrap();
    for object in out.contents() {
        let owner = object.owner().expect("Owner with fetch-owner=true");
        assert_eq!(owner.id(), Some(tessera_tests::ACCESS_KEY));
    }
    assert_eq!(out.contents().len(), 5);
}

#[tokio::test]
async fn v2_max_keys_zero_and_bad_token() {
    let (bucket, _) = fixture().await;
    let s3 = Node::shared().client();
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .max_keys(0)
        .send()
        .await
        .unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));
    let result = s3
        .list_objects_v2()
        .bucket(bucket)
        .continuation_token("!!not a token!!")
        .send()
        .await;
    tessera_tests::assert_s3_err(result, "InvalidArgument", 400);
    let result = s3
        .list_objects_v2()
        .bucket(bucket)
        .max_keys(-1)
        .send()
        .await;
    tessera_tests::assert_s3_err(result, "InvalidArgument", 400);
}

#[tokio::test]
async fn v1_marker_prefix_delimiter_max_keys() {
    let (bucket, keys) = fixture().await;
    let s3 = Node::shared().client();
    // Page through v1 with marker = NextMarker (or the last key), with and without delimiter.
    for (prefix, delimiter, max_keys) in [
        ("", None, 3),
        ("", Some("/"), 2),
        ("photos/", Some("/"), 1),
        ("a", Some("/"), 2),
        ("", None, 1000),
    ] {
        let (want_keys, want_prefixes) = expected(keys, prefix, delimiter);
        let mut got_keys = Vec::new();
        let mut got_prefixes = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..1000 {
            let out = s3
                .list_objects()
                .bucket(bucket)
                .prefix(prefix)
                .set_delimiter(delimiter.map(String::from))
                .max_keys(max_keys)
                .set_marker(marker.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(out.marker().unwrap_or(""), marker.as_deref().unwrap_or(""));
            assert_eq!(out.max_keys(), Some(max_keys));
            let page_keys: Vec<String> = out
                .contents()
                .iter()
                .map(|o| o.key().unwrap().to_string())
                .collect();
            let page_prefixes: Vec<String> = out
                .common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_string())
                .collect();
            for object in out.contents() {
                // v1 always names the owner.
                assert!(object.owner().is_some());
            }
            let last = page_keys.iter().chain(page_prefixes.iter()).max().cloned();
            got_keys.extend(page_keys);
            got_prefixes.extend(page_prefixes);
            if out.is_truncated() != Some(true) {
                marker = None;
                break;
            }
            let next = out.next_marker().map(String::from);
            if delimiter.is_some() {
                assert!(next.is_some(), "NextMarker with a delimiter");
            }
            marker = next.or(last);
        }
        assert!(marker.is_none(), "v1 listing did not end");
        assert_eq!(
            (got_keys, got_prefixes),
            (want_keys, want_prefixes),
            "prefix {prefix:?} delimiter {delimiter:?} max-keys {max_keys}"
        );
    }
}

#[tokio::test]
async fn encoding_type_url() {
    let (bucket, keys) = fixture().await;
    let s3 = Node::shared().client();
    let v2 = s3
        .list_objects_v2()
        .bucket(bucket)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(v2.encoding_type(), Some(&EncodingType::Url));
    let raw_keys: Vec<String> = v2
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    for raw in &raw_keys {
        assert!(
            raw.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'&'),
            "not URL-encoded: {raw:?}"
        );
    }
    let decoded: Vec<String> = raw_keys.iter().map(|k| url_decode(k)).collect();
    assert_eq!(&decoded, keys);
    assert!(
        raw_keys.contains(&"space%20key".to_string())
            || raw_keys.contains(&"space+key".to_string())
    );

    let v1 = s3
        .list_objects()
        .bucket(bucket)
        .encoding_type(EncodingType::Url)
        .prefix("space")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<String> = v1
        .common_prefixes()
        .iter()
        .map(|p| url_decode(p.prefix().unwrap()))
        .collect();
    assert_eq!(prefixes, vec!["space/".to_string()]);
    let v1_keys: Vec<String> = v1
        .contents()
        .iter()
        .map(|o| url_decode(o.key().unwrap()))
        .collect();
    assert_eq!(v1_keys, vec!["space key".to_string()]);
    tessera_tests::assert_s3_err(
        s3.list_objects_v2()
            .bucket(bucket)
            .encoding_type(EncodingType::from("base64"))
            .send()
            .await,
        "InvalidArgument",
        400,
    );
}

/// More keys than one page holds (1000): the default page is full and truncated, and the
/// continuation gets the rest, across both cores.
#[tokio::test]
async fn more_than_a_thousand_keys() {
    let s3 = Node::shared().client();
    let bucket = unique_bucket("thousand");
    create_bucket(&s3, &bucket).await;
    let mut keys: Vec<String> = (0..1100)
        .map(|i| format!("{}{:04}", (b'a' + (i % 8) as u8) as char, i))
        .collect();
    keys.sort();
    put_all(&s3, &bucket, &keys).await;
    let first = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(first.key_count(), Some(1000));
    assert_eq!(first.is_truncated(), Some(true));
    let (listed, _, pages) = list_v2_all(&s3, &bucket, None, None, 1000).await;
    assert_eq!(listed, keys);
    assert_eq!(pages, 2);
    // max-keys above 1000 is capped at 1000.
    let capped = s3
        .list_objects_v2()
        .bucket(&bucket)
        .max_keys(5000)
        .send()
        .await
        .unwrap();
    assert_eq!(capped.contents().len(), 1000);
    assert_eq!(capped.is_truncated(), Some(true));
    let v1 = s3.list_objects().bucket(&bucket).send().await.unwrap();
    assert_eq!(v1.contents().len(), 1000);
    assert_eq!(v1.is_truncated(), Some(true));
}
