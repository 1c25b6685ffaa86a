//! Request headers that ask for a feature Tessera does not implement.
//!
//! Owns: the list of such headers, and the answer to a request that carries one: 501
//! `NotImplemented`, naming the header, before anything is read or stored.
//!
//! Why refuse instead of ignoring: each of these headers asks S3 for a guarantee — that the
//! bytes are encrypted at rest (SSE-S3, SSE-KMS, SSE-C), that an object cannot be deleted
//! until a date (object lock), that other principals may (or may not) read it (ACL grants). A
//! store that accepted the request and dropped the header would tell the client the guarantee
//! holds when it does not. Headers that ask for nothing Tessera lacks are accepted: object
//! lock explicitly disabled, the canned ACLs Tessera keeps and enforces on buckets and objects
//! (`proto::acl`), and tags (`x-amz-tagging`, kept with the object, `proto::tagging`).
//!
//! Must not: do I/O, or look at anything but header names and values (lowercase names, as
//! `http::RequestHead` keeps them).

use crate::proto::error::{S3Error, S3ErrorCode};

/// Canned ACLs S3 knows that Tessera does not keep (`proto::acl::CannedAcl::parse` takes the
/// others): they grant to AWS services (EC2, log delivery) that do not exist here.
const CANNED_ACLS_REFUSED: &[&str] = &["aws-exec-read", "log-delivery-write"];

/// Header-name prefixes (or exact names) that always ask for an unimplemented feature, with the
/// feature's name for the error message.
const REFUSED_PREFIXES: &[(&str, &str)] = &[
    // Covers x-amz-server-side-encryption itself and its -customer-*, -aws-kms-*,
    // -context and -bucket-key-enabled companions.
    ("x-amz-server-side-encryption", "server-side encryption"),
    (
        "x-amz-copy-source-server-side-encryption-",
        "server-side encryption",
    ),
    ("x-amz-object-lock-", "object lock"),
    ("x-amz-grant-", "access control lists"),
];

/// `Err(NotImplemented)` naming the first header that asks for a feature Tessera lacks;
/// `Err(InvalidArgument)` for an `x-amz-acl` that is no canned ACL at all (as S3 answers).
pub fn check(headers: &[(String, String)]) -> Result<(), S3Error> {
    for (name, value) in headers {
        let value = value.trim();
        let refused = REFUSED_PREFIXES
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
            .map(|(_, feature)| *feature);
        let feature = match name.as_str() {
            _ if refused.is_some() => refused,
            "x-amz-bucket-object-lock-enabled" if !value.eq_ignore_ascii_case("false") => {
                Some("object lock")
            }
            "x-amz-acl" if crate::proto::acl::CannedAcl::parse(value).is_some() => None,
            "x-amz-acl" => canned_acl(value)?,
            _ => None,
        };
        if let Some(feature) = feature {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                format!("Tessera does not implement {feature} (header {name})"),
            ));
        }
    }
    Ok(())
}

/// The feature name for a canned ACL Tessera does not keep.
fn canned_acl(value: &str) -> Result<Option<&'static str>, S3Error> {
    if CANNED_ACLS_REFUSED.contains(&value) {
        Ok(Some("access control lists"))
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            format!("{value} is not a canned ACL"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_table() {
        use S3ErrorCode::{InvalidArgument as A, NotImplemented as N};
        #[rustfmt::skip]
        let table: &[(&str, &str, Result<(), S3ErrorCode>)] = &[
            // Nothing asked for.
            ("content-type", "text/plain", Ok(())),
            ("x-amz-meta-sse", "AES256", Ok(())),
            ("x-amz-acl", "private", Ok(())),
            ("x-amz-acl", " bucket-owner-full-control ", Ok(())),
            ("x-amz-acl", "bucket-owner-read", Ok(())),
            ("x-amz-bucket-object-lock-enabled", "false", Ok(())),
            ("x-amz-bucket-object-lock-enabled", "False", Ok(())),
            ("x-amz-tagging", "", Ok(())),
            ("x-amz-bypass-governance-retention", "true", Ok(())),
            ("x-amz-storage-class", "STANDARD", Ok(())),
            // Guarantees Tessera cannot give.
            ("x-amz-server-side-encryption", "AES256", Err(N)),
            ("x-amz-server-side-encryption", "aws:kms", Err(N)),
            ("x-amz-server-side-encryption-aws-kms-key-id", "k", Err(N)),
            ("x-amz-server-side-encryption-customer-algorithm", "AES256", Err(N)),
            ("x-amz-server-side-encryption-customer-key", "a2V5", Err(N)),
            ("x-amz-copy-source-server-side-encryption-customer-key", "a2V5", Err(N)),
            ("x-amz-object-lock-mode", "GOVERNANCE", Err(N)),
            ("x-amz-object-lock-legal-hold", "ON", Err(N)),
            ("x-amz-bucket-object-lock-enabled", "true", Err(N)),
            ("x-amz-tagging", "a=b", Ok(())),
            ("x-amz-grant-read", "uri=http://acs.amazonaws.com/groups/global/AllUsers", Err(N)),
            ("x-amz-acl", "public-read", Ok(())),
            ("x-amz-acl", "public-read-write", Ok(())),
            ("x-amz-acl", "authenticated-read", Ok(())),
            ("x-amz-acl", "aws-exec-read", Err(N)),
            ("x-amz-acl", "log-delivery-write", Err(N)),
            // Not a canned ACL at all.
            ("x-amz-acl", "public-ready", Err(A)),
            ("x-amz-acl", "", Err(A)),
        ];
        for (name, value, want) in table {
            let headers = vec![
                ("host".to_string(), "h".to_string()),
                (name.to_string(), value.to_string()),
            ];
            let got = check(&headers).map_err(|e| e.code);
            assert_eq!(&got, want, "{name}: {value}");
        }
    }

    #[test]
    fn message_names_the_header() {
        let headers = vec![(
            "x-amz-object-lock-mode".to_string(),
            "COMPLIANCE".to_string(),
        )];
        let err = check(&headers).unwrap_err();
        assert!(
            err.message.contains("x-amz-object-lock-mode"),
            "{}",
            err.message
        );
    }
}
