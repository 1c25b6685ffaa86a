//! Configurations Tessera never has — versioning, lifecycle,
//! policies, encryption, website, replication, object lock, logging, notifications,
//! acceleration, request payment, public access blocks, ownership controls — and what reading
//! or deleting one answers: what S3 answers for a bucket that has none.
//!
//! Why answer instead of `501`: tools read every configuration of what they manage.
//! Terraform's and Pulumi's bucket resources read them all on every refresh. A `501` there
//! breaks the tool although nothing it asked for is missing: the bucket really has no
//! lifecycle rules. Setting one stays `501 NotImplemented`
//! (`route::UNSUPPORTED`), so nothing is ever accepted that Tessera would not keep, and a
//! delete is a no-op `204`: afterwards the configuration is absent, as the client asked.
//!
//! Must not: do I/O, or know anything about a bucket beyond that it exists (the caller checks
//! that, and the owner, first).

use crate::proto::error::S3ErrorCode;

/// A configuration that is always absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Absent {
    Versioning,
    Lifecycle,
    Policy,
    PolicyStatus,
    Encryption,
    Website,
    Replication,
    ObjectLock,
    Logging,
    Notification,
    Accelerate,
    RequestPayment,
    PublicAccessBlock,
    OwnershipControls,
}

/// What a read of an absent configuration answers.
pub enum Answer {
    /// 200 with this document: S3 describes the absence as an empty configuration.
    Document(&'static str),
    /// A 404 error: S3 says the configuration does not exist.
    Missing(S3ErrorCode, &'static str),
}

impl Absent {
    /// The query parameter naming it, whether it belongs to an object (else a bucket), and
    /// the AWS names of reading it and of deleting it (`None`: S3 has no delete for it).
    /// The query parameter naming it on the bucket, and the AWS names of reading it and of
    /// deleting it (`None`: S3 has no delete for it).
    pub fn describe(self) -> (&'static str, &'static str, Option<&'static str>) {
        use Absent::*;
        match self {
            Versioning => ("versioning", "GetBucketVersioning", None),
            Lifecycle => (
                "lifecycle",
                "GetBucketLifecycleConfiguration",
                Some("DeleteBucketLifecycle"),
            ),
            Policy => ("policy", "GetBucketPolicy", Some("DeleteBucketPolicy")),
            PolicyStatus => ("policyStatus", "GetBucketPolicyStatus", None),
            Encryption => (
                "encryption",
                "GetBucketEncryption",
                Some("DeleteBucketEncryption"),
            ),
            Website => ("website", "GetBucketWebsite", Some("DeleteBucketWebsite")),
            Replication => (
                "replication",
                "GetBucketReplication",
                Some("DeleteBucketReplication"),
            ),
            ObjectLock => ("object-lock", "GetObjectLockConfiguration", None),
            Logging => ("logging", "GetBucketLogging", None),
            Notification => ("notification", "GetBucketNotificationConfiguration", None),
            Accelerate => ("accelerate", "GetBucketAccelerateConfiguration", None),
            RequestPayment => ("requestPayment", "GetBucketRequestPayment", None),
            PublicAccessBlock => (
                "publicAccessBlock",
                "GetPublicAccessBlock",
                Some("DeletePublicAccessBlock"),
            ),
            OwnershipControls => (
                "ownershipControls",
                "GetBucketOwnershipControls",
                Some("DeleteBucketOwnershipControls"),
            ),
        }
    }

    pub const ALL: [Absent; 14] = {
        use Absent::*;
        [
            Versioning,
            Lifecycle,
            Policy,
            PolicyStatus,
            Encryption,
            Website,
            Replication,
            ObjectLock,
            Logging,
            Notification,
            Accelerate,
            RequestPayment,
            PublicAccessBlock,
            OwnershipControls,
        ]
    };

    /// What reading it answers, as S3 answers for a bucket (or object) without it.
    pub fn answer(self) -> Answer {
        use Absent::*;
        use S3ErrorCode as E;
        match self {
            Versioning => Answer::Document(concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></VersioningConfiguration>"#
            )),
            Logging => Answer::Document(concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></BucketLoggingStatus>"#
            )),
            Notification => Answer::Document(concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></NotificationConfiguration>"#
            )),
            Accelerate => Answer::Document(concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<AccelerateConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></AccelerateConfiguration>"#
            )),
            RequestPayment => Answer::Document(concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                r#"<RequestPaymentConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Payer>BucketOwner</Payer></RequestPaymentConfiguration>"#
            )),
            Lifecycle => Answer::Missing(
                E::NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist",
            ),
            Policy | PolicyStatus => {
                Answer::Missing(E::NoSuchBucketPolicy, "The bucket policy does not exist")
            }
            Encryption => Answer::Missing(
                E::ServerSideEncryptionConfigurationNotFoundError,
                "The server side encryption configuration was not found",
            ),
            Website => Answer::Missing(
                E::NoSuchWebsiteConfiguration,
                "The specified bucket does not have a website configuration",
            ),
            Replication => Answer::Missing(
                E::ReplicationConfigurationNotFoundError,
                "The replication configuration was not found",
            ),
            ObjectLock => Answer::Missing(
                E::ObjectLockConfigurationNotFoundError,
                "Object Lock configuration does not exist for this bucket",
            ),
            PublicAccessBlock => Answer::Missing(
                E::NoSuchPublicAccessBlockConfiguration,
                "The public access block configuration was not found",
            ),
            OwnershipControls => Answer::Missing(
                E::OwnershipControlsNotFoundError,
                "The bucket ownership controls were not found",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_has_its_own_parameter_and_a_404_or_a_document() {
        let mut seen = std::collections::HashSet::new();
        for c in Absent::ALL {
            let (param, get, delete) = c.describe();
            assert!(seen.insert(param), "{param} twice");
            assert!(get.starts_with("Get"));
            assert!(delete.is_none_or(|d| d.starts_with("Delete")));
            match c.answer() {
                Answer::Document(xml) => {
                    let ns = r#"xmlns="http://s3.amazonaws.com/doc/2006-03-01/""#;
                    assert!(xml.starts_with("<?xml") && xml.contains(ns), "{get}");
                }
                Answer::Missing(code, _) => assert_eq!(code.status(), 404, "{get}"),
            }
        }
    }
}
