//! CORS: Put/Get/DeleteBucketCors through `aws-sdk-s3`, preflights (`OPTIONS`, unsigned, as a
//! browser sends them) and the `Access-Control-*` headers on actual requests, errors
//! included; the rules survive a restart. CORS never grants access: a preflight's answer only
//! tells the browser what it may send.

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use tessera_tests::{assert_s3_err, create_bucket, unique_bucket, Node};

fn rule(origins: &[&str], methods: &[&str], headers: &[&str], expose: &[&str]) -> CorsRule {
    let mut b = CorsRule::builder();
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    for h in headers {
        b = b.allowed_headers(*h);
    }
    for e in expose {
        b = b.expose_headers(*e);
    }
    b.max_age_seconds(600).build().expect("rule")
}

fn config(rules: Vec<CorsRule>) -> CorsConfiguration {
    CorsConfiguration::builder()
        .set_cors_rules(Some(rules))
        .build()
        .expect("config")
}

#[tokio::test]
async fn cors_rules_are_kept_and_answer_preflights_and_requests() {
    let node = Node::shared();
    let s3 = node.client();
    let b = unique_bucket("cors");
    create_bucket(&s3, &b).await;
    s3.put_object()
        .bucket(&b)
        .key("page.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .expect("put");

    // None yet: 404, and a preflight is refused.
    assert_s3_err(
        s3.get_bucket_cors().bucket(&b).send().await,
        "NoSuchCORSConfiguration",
        404,
    );
    let pre = |origin: &str, method: &str, headers: Option<&str>| {
        let mut h = vec![
            ("origin", origin),
            ("access-control-request-method", method),
        ];
        if let Some(v) = headers {
            h.push(("access-control-request-headers", v));
        }
        node.raw()
            .request("OPTIONS", &format!("/{b}/page.json"), &h, b"")
    };
    let refused = pre("https://app.example", "GET", None);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.error_code().as_deref(), Some("AccessForbidden"));

    s3.put_bucket_cors()
        .bucket(&b)
        .cors_configuration(config(vec![
            rule(
                &["https://app.example"],
                &["GET", "PUT"],
                &["content-type", "x-amz-*"],
                &["ETag"],
            ),
            rule(&["*.static.example"], &["GET"], &[], &[]),
            rule(&["*"], &["HEAD"], &[], &[]),
        ]))
        .send()
        .await
        .expect("put cors");
    let got = s3
        .get_bucket_cors()
        .bucket(&b)
        .send()
        .await
        .expect("get cors");
    assert_eq!(got.cors_rules().len(), 3);
    let first = &got.cors_rules()[0];
    assert_eq!(first.allowed_origins(), ["https://app.example"]);
    assert_eq!(first.allowed_methods(), ["GET", "PUT"]);
    assert_eq!(first.allowed_headers(), ["content-type", "x-amz-*"]);
    assert_eq!(first.expose_headers(), ["ETag"]);
    assert_eq!(first.max_age_seconds(), Some(600));

    // Preflights: the first rule that allows origin, method and every requested header.
    let ok = pre(
        "https://app.example",
        "PUT",
        Some("Content-Type, X-Amz-Date"),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(ok.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        ok.header("access-control-allow-headers"),
        Some("content-type, x-amz-date")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("access-control-expose-headers"), Some("ETag"));
    assert_eq!(ok.header("access-control-max-age"), Some("600"));
    let wild = pre("https://cdn.static.example", "GET", None);
    assert_eq!(wild.status, 200);
    assert_eq!(
        wild.header("access-control-allow-origin"),
        Some("https://cdn.static.example")
    );
    let any = pre("https://anyone", "HEAD", None);
    assert_eq!(any.status, 200);
    assert_eq!(any.header("access-control-allow-origin"), Some("*"));
    assert_eq!(any.header("access-control-allow-credentials"), None);
    for (origin, method, headers) in [
        ("https://evil.example", "GET", None),
        ("https://app.example", "DELETE", None),
        ("https://app.example", "PUT", Some("x-custom")),
        ("https://cdn.static.example", "PUT", None),
    ] {
        let r = pre(origin, method, headers);
        assert_eq!(r.status, 403, "{origin} {method} {headers:?}");
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
    // A preflight needs Origin and Access-Control-Request-Method.
    let r = node.raw().request(
        "OPTIONS",
        &format!("/{b}"),
        &[("origin", "https://app.example")],
        b"",
    );
    assert_eq!(r.status, 400);
    let r = node.raw().request(
        "OPTIONS",
        &format!("/{b}"),
        &[("access-control-request-method", "GET")],
        b"",
    );
    assert_eq!(r.status, 400);
    let r = node.raw().request(
        "OPTIONS",
        &format!("/{b}-missing/x"),
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "GET"),
        ],
        b"",
    );
    assert_eq!(r.status, 404);

    // Actual requests: signed GET from an allowed origin gets the headers; others do not.
    let get = node.raw().signed(
        "GET",
        &format!("/{b}/page.json"),
        &[("origin", "https://app.example")],
        b"",
    );
    assert_eq!(get.status, 200);
    assert_eq!(get.text(), "{}");
    assert_eq!(
        get.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(get.header("access-control-expose-headers"), Some("ETag"));
    let get = node.raw().signed(
        "GET",
        &format!("/{b}/page.json"),
        &[("origin", "https://evil.example")],
        b"",
    );
    assert_eq!(get.status, 200);
    assert_eq!(get.header("access-control-allow-origin"), None);
    let plain = node
        .raw()
        .signed("GET", &format!("/{b}/page.json"), &[], b"");
    assert_eq!(plain.header("access-control-allow-origin"), None);
    // Errors carry them too, and CORS grants nothing: an anonymous GET of a private object
    // is still 403.
    let missing = node.raw().signed(
        "GET",
        &format!("/{b}/nope"),
        &[("origin", "https://app.example")],
        b"",
    );
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let anon = node.raw().request(
        "GET",
        &format!("/{b}/page.json"),
        &[("origin", "https://app.example")],
        b"",
    );
    assert_eq!(anon.status, 403);
    assert_eq!(
        anon.header("access-control-allow-origin"),
        Some("https://app.example")
    );

    // Only the owner manages the rules; bad rules are refused.
    let other = node.other_client();
    assert_s3_err(
        other.get_bucket_cors().bucket(&b).send().await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        other
            .put_bucket_cors()
            .bucket(&b)
            .cors_configuration(config(vec![rule(&["*"], &["GET"], &[], &[])]))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_s3_err(
        s3.put_bucket_cors()
            .bucket(&b)
            .cors_configuration(config(vec![rule(&["*"], &["PATCH"], &[], &[])]))
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert_s3_err(
        s3.put_bucket_cors()
            .bucket(&b)
            .cors_configuration(config(vec![rule(&["*.*"], &["GET"], &[], &[])]))
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    let malformed = node.raw().signed(
        "PUT",
        &format!("/{b}?cors"),
        &[],
        b"<CORSConfiguration><Rule/></CORSConfiguration>",
    );
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.error_code().as_deref(), Some("MalformedXML"));
    // The refused puts changed nothing.
    assert_eq!(
        s3.get_bucket_cors()
            .bucket(&b)
            .send()
            .await
            .expect("kept")
            .cors_rules()
            .len(),
        3
    );

    s3.delete_bucket_cors()
        .bucket(&b)
        .send()
        .await
        .expect("delete cors");
    assert_s3_err(
        s3.get_bucket_cors().bucket(&b).send().await,
        "NoSuchCORSConfiguration",
        404,
    );
    assert_eq!(pre("https://app.example", "GET", None).status, 403);
    let get = node.raw().signed(
        "GET",
        &format!("/{b}/page.json"),
        &[("origin", "https://app.example")],
        b"",
    );
    assert_eq!(get.header("access-control-allow-origin"), None);
}

/// The rules are journaled like the bucket's ACL: a crash and a restart keep them, on every
/// core.
#[tokio::test]
async fn cors_rules_survive_kill9() {
    let mut node = Node::start();
    let s3 = node.client();
    let b = unique_bucket("corsdur");
    create_bucket(&s3, &b).await;
    s3.put_bucket_cors()
        .bucket(&b)
        .cors_configuration(config(vec![rule(
            &["https://kept.example"],
            &["GET"],
            &[],
            &[],
        )]))
        .send()
        .await
        .expect("put cors");
    node.kill9();
    node.start_again();
    let s3 = node.client();
    let got = s3
        .get_bucket_cors()
        .bucket(&b)
        .send()
        .await
        .expect("get cors after restart");
    assert_eq!(
        got.cors_rules()[0].allowed_origins(),
        ["https://kept.example"]
    );
    // Each request is a new connection, accepted by either core: both replicas have them.
    for key in ["a", "m", "z", "0", "b", "n"] {
        let r = node.raw().request(
            "OPTIONS",
            &format!("/{b}/{key}"),
            &[
                ("origin", "https://kept.example"),
                ("access-control-request-method", "GET"),
            ],
            b"",
        );
        assert_eq!(r.status, 200, "{key}");
    }
}
