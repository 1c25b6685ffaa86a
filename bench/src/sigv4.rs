//! AWS Signature Version 4 for S3 requests, header form.
//!
//! Owns: canonical request, string to sign, the signing-key chain and the `Authorization`
//! value; URI encoding of paths and query strings. Must not: do I/O or read the clock (the
//! caller passes the `x-amz-date`). Invariant: the signing key is derived once per UTC day
//! and cached per signer, so a request costs two SHA-256 passes and one HMAC, not five HMACs.
//!
//! Payload hashing policy (documented in the README): object bodies are sent as
//! `UNSIGNED-PAYLOAD`, so the client never hashes the data it uploads (warp over TLS does the
//! same; warp over plain http hashes or stream-signs bodies unless told not to). Requests
//! without a body sign the SHA-256 of the empty string; small XML bodies (DeleteObjects,
//! CompleteMultipartUpload) are hashed for real.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// SHA-256 of the empty body, hex.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The payload hash value that tells the server the body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    /// (yyyymmdd, signing key) of the last day signed for.
    cached_key: Option<(String, [u8; 32])>,
}

/// What is signed about one request. Header names must be lowercase and sorted by name,
/// values trimmed; the caller builds them that way (asserted in debug builds).
pub struct SignInput<'a> {
    pub method: &'a str,
    /// The URI-encoded path, e.g. `/bucket/prefix/name.rnd`.
    pub canonical_uri: &'a str,
    /// The encoded, sorted query string without `?`, e.g. `list-type=2&prefix=a`.
    pub canonical_query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub payload_hash: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Signer {
        Signer {
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            region: region.to_string(),
            cached_key: None,
        }
    }

    /// The `Authorization` header value for `input`.
    pub fn authorization(&mut self, input: &SignInput<'_>) -> String {
        debug_assert!(
            input.headers.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "headers must be sorted"
        );
        debug_assert!(
            input.amz_date.len() == 16,
            "amz_date must be YYYYMMDDTHHMMSSZ"
        );
        let date = &input.amz_date[..8];
        let scope = format!("{date}/{}/s3/aws4_request", self.region);

        let mut canonical = String::with_capacity(512);
        canonical.push_str(input.method);
        canonical.push('\n');
        canonical.push_str(input.canonical_uri);
        canonical.push('\n');
        canonical.push_str(input.canonical_query);
        canonical.push('\n');
        let mut signed_headers = String::with_capacity(96);
        for (name, value) in input.headers {
            canonical.push_str(name);
            canonical.push(':');
            canonical.push_str(value);
            canonical.push('\n');
            if !signed_headers.is_empty() {
                signed_headers.push(';');
            }
            signed_headers.push_str(name);
        }
        canonical.push('\n');
        canonical.push_str(&signed_headers);
        canonical.push('\n');
        canonical.push_str(input.payload_hash);

        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
            input.amz_date,
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = self.signing_key(date);
        let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key
        )
    }

    fn signing_key(&mut self, date: &str) -> [u8; 32] {
        if let Some((cached_date, key)) = &self.cached_key {
            if cached_date == date {
                return *key;
            }
        }
        let secret = format!("AWS4{}", self.secret_key);
        let date_key = hmac(secret.as_bytes(), date.as_bytes());
        let region_key = hmac(&date_key, self.region.as_bytes());
        let service_key = hmac(&region_key, b"s3");
        let key = hmac(&service_key, b"aws4_request");
        self.cached_key = Some((date.to_string(), key));
        key
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `body`, hex, for the small XML bodies that are signed.
pub fn payload_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// S3's URI encoding: every byte except `A-Za-z0-9-._~` becomes `%XX`; `/` is kept when
/// `keep_slash` (object paths) and encoded otherwise (query values).
pub fn uri_encode(text: &str, keep_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 15)] as char);
        }
    }
}

/// The canonical (sorted, encoded) query string of `pairs`; also usable as the request's
/// query string, since it is a valid encoding of the same parameters.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| {
            let (mut n, mut v) = (String::new(), String::new());
            uri_encode(name, false, &mut n);
            uri_encode(value, false, &mut v);
            (n, v)
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (index, (name, value)) in encoded.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of the AWS documentation "Signature Calculations for the Authorization
    // Header: Transferring Payload in a Single Chunk (AWS Signature Version 4)".
    const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const HOST: &str = "examplebucket.s3.amazonaws.com";
    const DATE: &str = "20130524T000000Z";

    fn signature_of(authorization: &str) -> &str {
        authorization
            .rsplit("Signature=")
            .next()
            .unwrap_or_default()
    }

    #[test]
    fn aws_example_get_object_with_range() {
        let mut signer = Signer::new(ACCESS_KEY, SECRET_KEY, "us-east-1");
        let headers = [
            ("host", HOST),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256),
            ("x-amz-date", DATE),
        ];
        let authorization = signer.authorization(&SignInput {
            method: "GET",
            canonical_uri: "/test.txt",
            canonical_query: "",
            headers: &headers,
            payload_hash: EMPTY_PAYLOAD_SHA256,
            amz_date: DATE,
        });
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn aws_example_put_object() {
        let mut signer = Signer::new(ACCESS_KEY, SECRET_KEY, "us-east-1");
        let body_hash = payload_sha256(b"Welcome to Amazon S3.");
        assert_eq!(
            body_hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let mut uri = String::new();
        uri_encode("/test$file.text", true, &mut uri);
        assert_eq!(uri, "/test%24file.text");
        let headers = [
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("host", HOST),
            ("x-amz-content-sha256", body_hash.as_str()),
            ("x-amz-date", DATE),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ];
        let authorization = signer.authorization(&SignInput {
            method: "PUT",
            canonical_uri: &uri,
            canonical_query: "",
            headers: &headers,
            payload_hash: &body_hash,
            amz_date: DATE,
        });
        assert_eq!(
            signature_of(&authorization),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn aws_example_get_bucket_lifecycle_and_list_objects() {
        let mut signer = Signer::new(ACCESS_KEY, SECRET_KEY, "us-east-1");
        let headers = [
            ("host", HOST),
            ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256),
            ("x-amz-date", DATE),
        ];
        let cases = [
            (
                canonical_query(&[("lifecycle", "")]),
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            ),
            (
                canonical_query(&[("prefix", "J"), ("max-keys", "2")]),
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            ),
        ];
        for (query, want) in cases {
            let authorization = signer.authorization(&SignInput {
                method: "GET",
                canonical_uri: "/",
                canonical_query: &query,
                headers: &headers,
                payload_hash: EMPTY_PAYLOAD_SHA256,
                amz_date: DATE,
            });
            assert_eq!(signature_of(&authorization), want, "query {query:?}");
        }
    }

    #[test]
    fn a_wrong_secret_changes_the_signature() {
        let mut good = Signer::new(ACCESS_KEY, SECRET_KEY, "us-east-1");
        let mut bad = Signer::new(ACCESS_KEY, "not-the-secret", "us-east-1");
        let headers = [("host", HOST), ("x-amz-date", DATE)];
        let input = SignInput {
            method: "GET",
            canonical_uri: "/",
            canonical_query: "",
            headers: &headers,
            payload_hash: UNSIGNED_PAYLOAD,
            amz_date: DATE,
        };
        assert_ne!(good.authorization(&input), bad.authorization(&input));
    }

    #[test]
    fn cached_key_follows_the_date() {
        let mut signer = Signer::new(ACCESS_KEY, SECRET_KEY, "us-east-1");
        let headers = [("host", HOST)];
        let sign = |signer: &mut Signer, date: &str| {
            signer.authorization(&SignInput {
                method: "GET",
                canonical_uri: "/",
                canonical_query: "",
                headers: &headers,
                payload_hash: UNSIGNED_PAYLOAD,
                amz_date: date,
            })
        };
        let day_one = sign(&mut signer, "20130524T000000Z");
        let day_two = sign(&mut signer, "20130525T000000Z");
        let day_one_again = sign(&mut signer, "20130524T000000Z");
        assert_ne!(day_one, day_two);
        assert_eq!(day_one, day_one_again);
        let mut fresh = Signer::new(ACCESS_KEY, SECRET_KEY, "us-east-1");
        assert_eq!(sign(&mut fresh, "20130525T000000Z"), day_two);
    }

    #[test]
    fn uri_encoding_rules() {
        let mut path = String::new();
        uri_encode("a b/c+d~e_f.g-h", true, &mut path);
        assert_eq!(path, "a%20b/c%2Bd~e_f.g-h");
        let mut value = String::new();
        uri_encode("p/x=y&z", false, &mut value);
        assert_eq!(value, "p%2Fx%3Dy%26z");
        assert_eq!(
            canonical_query(&[("uploadId", "a/b"), ("partNumber", "3")]),
            "partNumber=3&uploadId=a%2Fb"
        );
    }
}
