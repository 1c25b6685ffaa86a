//! Object tags: S3's limits on a tag set, and the `x-amz-tagging` header's form
//! (`key1=value1&key2`, URL-encoded as a query string). The `Tagging` XML document is in
//! `proto::xml`.
//!
//! Invariants of a tag set `validate` returned: at most `TAGS_MAX` tags (`BUCKET_TAGS_MAX`
//! from `validate_bucket`), keys of 1 to
//! `TAG_KEY_CHARS_MAX` characters and unique, values of at most `TAG_VALUE_CHARS_MAX`
//! characters, sorted by key (the order GetObjectTagging answers in).

use crate::proto::error::{S3Error, S3ErrorCode};

/// Most tags on one object.
pub const TAGS_MAX: usize = 10;
/// Most tags on one bucket.
pub const BUCKET_TAGS_MAX: usize = 50;
/// Longest tag key, in characters.
pub const TAG_KEY_CHARS_MAX: usize = 128;
/// Longest tag value, in characters.
pub const TAG_VALUE_CHARS_MAX: usize = 256;

pub type Tags = Vec<(String, String)>;

fn invalid(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, message)
}

/// Checks an object's `tags` against S3's limits; returns them sorted by key.
pub fn validate(tags: Tags) -> Result<Tags, S3Error> {
    if tags.len() > TAGS_MAX {
        return Err(invalid("Object tags cannot be greater than 10"));
    }
    validate_pairs(tags)
}

/// Checks a bucket's `tags` against S3's limits; returns them sorted by key.
pub fn validate_bucket(tags: Tags) -> Result<Tags, S3Error> {
    if tags.len() > BUCKET_TAGS_MAX {
        return Err(invalid("Bucket tag count cannot be greater than 50"));
    }
    validate_pairs(tags)
}

fn validate_pairs(mut tags: Tags) -> Result<Tags, S3Error> {
    for (key, value) in &tags {
        if key.is_empty() {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if key.chars().count() > TAG_KEY_CHARS_MAX {
            return Err(invalid("The TagKey you have provided is too long, max 128"));
        }
        if value.chars().count() > TAG_VALUE_CHARS_MAX {
            return Err(invalid(
                "The TagValue you have provided is too long, max 256",
            ));
        }
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    if tags.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(invalid("Cannot provide multiple Tags with the same key"));
    }
    Ok(tags)
}

/// The tag set of an `x-amz-tagging` header: `key=value` pairs joined by `&`, URL-encoded
/// (a key alone has an empty value). A browser form's `tagging` field is a `Tagging` XML
/// document instead; it arrives here as the header too, and is read as one.
pub fn from_header(value: &str) -> Result<Tags, S3Error> {
    let value = value.trim();
    if value.starts_with('<') {
        return validate(crate::proto::xml::parse_tagging(value.as_bytes())?);
    }
    let pairs = crate::proto::route::parse_query(value)
        .map_err(|_| invalid("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."))?;
    validate(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn header_pairs_are_decoded_and_sorted() {
        assert_eq!(
            from_header("foo=bar&bar").unwrap(),
            tags(&[("bar", ""), ("foo", "bar")])
        );
        assert_eq!(
            from_header("team=data%20eng&env=prod+1").unwrap(),
            tags(&[("env", "prod 1"), ("team", "data eng")])
        );
        assert_eq!(from_header("").unwrap(), Tags::new());
        let xml = "<Tagging><TagSet><Tag><Key>1</Key><Value>b</Value></Tag><Tag><Key>0</Key><Value>a</Value></Tag></TagSet></Tagging>";
        assert_eq!(from_header(xml).unwrap(), tags(&[("0", "a"), ("1", "b")]));
    }

    proptest::proptest! {
        /// Any header value is a tag set or a clear error, never a panic; what is accepted
        /// keeps the invariants.
        #[test]
        fn any_header_is_tags_or_an_error(value in ".{0,300}") {
            if let Ok(tags) = from_header(&value) {
                proptest::prop_assert!(tags.len() <= TAGS_MAX);
                proptest::prop_assert!(tags.windows(2).all(|w| w[0].0 < w[1].0));
                proptest::prop_assert!(tags.iter().all(|(k, v)| !k.is_empty()
                    && k.chars().count() <= TAG_KEY_CHARS_MAX
                    && v.chars().count() <= TAG_VALUE_CHARS_MAX));
            }
        }
    }

    #[test]
    fn limits_are_s3s() {
        let code = |t: Tags| validate(t).unwrap_err().code;
        let many: Tags = (0..11).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(code(many), S3ErrorCode::InvalidTag);
        let ten: Tags = (0..10)
            .map(|i| (format!("{i}{}", "k".repeat(127)), "v".repeat(256)))
            .collect();
        assert_eq!(validate(ten.clone()).unwrap().len(), 10);
        assert_eq!(
            code(tags(&[(&"k".repeat(129), "")])),
            S3ErrorCode::InvalidTag
        );
        assert_eq!(
            code(tags(&[("k", &"v".repeat(257))])),
            S3ErrorCode::InvalidTag
        );
        assert_eq!(
            code(tags(&[("k", "1"), ("k", "2")])),
            S3ErrorCode::InvalidTag
        );
        assert_eq!(code(tags(&[("", "v")])), S3ErrorCode::InvalidTag);
        // Characters, not bytes.
        assert!(validate(tags(&[(&"é".repeat(128), &"ü".repeat(256))])).is_ok());
        assert_eq!(
            from_header("a=1&a=2").unwrap_err().code,
            S3ErrorCode::InvalidTag
        );
    }
}
