//! Canned ACLs of buckets and objects: which principals, besides the owner, may read or
//! write a bucket, or read an object.
//!
//! Owns: the four ACLs Tessera keeps (`private`, `public-read`, `public-read-write`,
//! `authenticated-read`), their `x-amz-acl` spelling and one-byte stored code, the grants
//! each stands for (Get{Bucket,Object}Acl's document, and recognising an
//! `AccessControlPolicy` body equivalent to one of them), and the access decision for a
//! principal. A bucket's ACL decides listing and writing objects; an object's own ACL
//! decides who else may read it (as in S3: a `public-read` bucket lists its keys to
//! everyone, but its objects stay private unless their ACL says otherwise). Objects belong
//! to their bucket's owner, whoever wrote them.
//!
//! Must not: do I/O, or know which operation a request is: the caller says whether it reads
//! or writes (`Access`).
//!
//! Invariants: `CannedAcl::from_code(acl.code()) == Some(acl)`; an unknown code reads as no
//! grant at all (`private`), never as wider access; anonymous principals are granted only by
//! the `AllUsers` ACLs, configured users only by the owner check or `AllUsers` /
//! `AuthenticatedUsers`.

use crate::proto::error::{S3Error, S3ErrorCode};

/// The group every requester, signed or not, belongs to.
pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The group of every requester that signs with a configured key.
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// A bucket's or an object's canned ACL. The owner always has full control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CannedAcl {
    /// Only the owner.
    #[default]
    Private,
    /// Everyone may read (a bucket: list, HeadBucket; an object: GET/HEAD).
    PublicRead,
    /// Everyone may read and write (a bucket: also PUT/DELETE/POST objects; an object: as
    /// `PublicRead`, writing an object being its bucket's ACL's business).
    PublicReadWrite,
    /// Every configured user may read.
    AuthenticatedRead,
}

/// What a request does to a bucket (or, for `Read` on an object's ACL, to the object), for
/// the ACL check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// ListObjects(V2), ListMultipartUploads, HeadBucket; on an object's ACL: GetObject,
    /// HeadObject.
    Read,
    /// GetObject, HeadObject (also as a copy source), on the bucket: nothing a bucket's ACL
    /// grants; the object's own ACL decides (`Read` on it), once its owner core has it.
    ReadObject,
    /// PutObject, DeleteObject, PostObject, and the steps of a multipart upload.
    Write,
    /// Anything else (ACLs, ListParts, deletion of the bucket, ...): the owner only.
    OwnerOnly,
}

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No credentials at all.
    Anonymous,
    /// A configured user who does not own the bucket.
    OtherUser,
}

/// A permission in an ACL grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::FullControl => "FULL_CONTROL",
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
        }
    }

    pub fn parse(text: &str) -> Option<Permission> {
        Some(match text {
            "FULL_CONTROL" => Permission::FullControl,
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            _ => return None,
        })
    }
}

/// Whom a grant names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grantee {
    /// A user by canonical ID (Tessera's: the access key).
    User(String),
    /// A group by URI.
    Group(String),
    /// A user by e-mail address (Tessera knows none).
    Email(String),
}

/// One grant of an access control list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

impl CannedAcl {
    /// Parses an `x-amz-acl` value that is an ACL Tessera keeps. `bucket-owner-read` /
    /// `bucket-owner-full-control` grant the bucket's owner access to an object another user
    /// wrote; here that owner owns every object, so they are `private` (as S3 treats them on
    /// a bucket). `None`: not one of these (`aws-exec-read`, `log-delivery-write`, or no
    /// canned ACL at all).
    pub fn parse(value: &str) -> Option<CannedAcl> {
        Some(match value.trim() {
            "private" | "bucket-owner-read" | "bucket-owner-full-control" => CannedAcl::Private,
            "public-read" => CannedAcl::PublicRead,
            "public-read-write" => CannedAcl::PublicReadWrite,
            "authenticated-read" => CannedAcl::AuthenticatedRead,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CannedAcl::Private => "private",
            CannedAcl::PublicRead => "public-read",
            CannedAcl::PublicReadWrite => "public-read-write",
            CannedAcl::AuthenticatedRead => "authenticated-read",
        }
    }

    /// The byte stored in the journal (record BucketAcl) and checkpoints.
    pub fn code(self) -> u8 {
        match self {
            CannedAcl::Private => 0,
            CannedAcl::PublicRead => 1,
            CannedAcl::PublicReadWrite => 2,
            CannedAcl::AuthenticatedRead => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<CannedAcl> {
        Some(match code {
            0 => CannedAcl::Private,
            1 => CannedAcl::PublicRead,
            2 => CannedAcl::PublicReadWrite,
            3 => CannedAcl::AuthenticatedRead,
            _ => return None,
        })
    }

    /// A stored code as an ACL; an unknown code grants nothing beyond the owner.
    pub fn from_code_or_private(code: u8) -> CannedAcl {
        CannedAcl::from_code(code).unwrap_or_default()
    }

    /// Whether `who` (not the owner) may do `access` under this ACL.
    pub fn allows(self, who: Principal, access: Access) -> bool {
        match (self, who, access) {
            (_, _, Access::OwnerOnly | Access::ReadObject) => false,
            (CannedAcl::Private, _, _) => false,
            (CannedAcl::PublicRead, _, Access::Read) => true,
            (CannedAcl::PublicReadWrite, _, Access::Read | Access::Write) => true,
            (CannedAcl::AuthenticatedRead, Principal::OtherUser, Access::Read) => true,
            _ => false,
        }
    }

    /// The grants this ACL stands for: the groups' first, then the owner's full control (the
    /// order Ceph RGW lists them in; the order of grants means nothing in S3, but s3-tests
    /// compares them in this order).
    pub fn grants(self, owner: &str) -> Vec<Grant> {
        let mut grants = Vec::new();
        let group = |uri: &str, permission| Grant {
            grantee: Grantee::Group(uri.to_string()),
            permission,
        };
        match self {
            CannedAcl::Private => {}
            CannedAcl::PublicRead => grants.push(group(ALL_USERS_URI, Permission::Read)),
            CannedAcl::PublicReadWrite => {
                grants.push(group(ALL_USERS_URI, Permission::Read));
                grants.push(group(ALL_USERS_URI, Permission::Write));
            }
            CannedAcl::AuthenticatedRead => {
                grants.push(group(AUTHENTICATED_USERS_URI, Permission::Read))
            }
        }
        grants.push(Grant {
            grantee: Grantee::User(owner.to_string()),
            permission: Permission::FullControl,
        });
        grants
    }

    /// The canned ACL whose grants are exactly `grants` (in any order, duplicates ignored),
    /// for a bucket owned by `owner`. Anything else — other users, e-mail grantees, other
    /// permissions, a policy without the owner's full control — is an ACL Tessera cannot
    /// keep: `501 NotImplemented`.
    pub fn from_grants(grants: &[Grant], owner: &str) -> Result<CannedAcl, S3Error> {
        let mut wanted: Vec<&Grant> = Vec::new();
        for grant in grants {
            if !wanted.contains(&grant) {
                wanted.push(grant);
            }
        }
        for acl in [
            CannedAcl::Private,
            CannedAcl::PublicRead,
            CannedAcl::PublicReadWrite,
            CannedAcl::AuthenticatedRead,
        ] {
            let canned = acl.grants(owner);
            if canned.len() == wanted.len() && canned.iter().all(|g| wanted.contains(&g)) {
                return Ok(acl);
            }
        }
        Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Tessera keeps only the canned ACLs private, public-read, public-read-write and \
             authenticated-read; this access control policy is none of them",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [CannedAcl; 4] = [
        CannedAcl::Private,
        CannedAcl::PublicRead,
        CannedAcl::PublicReadWrite,
        CannedAcl::AuthenticatedRead,
    ];

    #[test]
    fn codes_and_names_round_trip() {
        for acl in ALL {
            assert_eq!(CannedAcl::from_code(acl.code()), Some(acl));
            assert_eq!(CannedAcl::parse(acl.as_str()), Some(acl));
        }
        assert_eq!(CannedAcl::from_code(4), None);
        assert_eq!(CannedAcl::from_code_or_private(200), CannedAcl::Private);
        assert_eq!(
            CannedAcl::parse("bucket-owner-full-control"),
            Some(CannedAcl::Private)
        );
        assert_eq!(CannedAcl::parse("log-delivery-write"), None);
        assert_eq!(CannedAcl::parse("public-ready"), None);
    }

    #[test]
    fn access_table() {
        use Access::{OwnerOnly as O, Read as R, ReadObject as RO, Write as W};
        use CannedAcl::*;
        use Principal::{Anonymous as A, OtherUser as U};
        #[rustfmt::skip]
        let table: &[(CannedAcl, Principal, Access, bool)] = &[
            (Private, A, R, false), (Private, U, R, false), (Private, A, W, false),
            (PublicRead, A, R, true), (PublicRead, U, R, true),
            (PublicRead, A, W, false), (PublicRead, U, W, false),
            (PublicReadWrite, A, R, true), (PublicReadWrite, A, W, true),
            (PublicReadWrite, U, W, true), (PublicReadWrite, A, O, false),
            (AuthenticatedRead, A, R, false), (AuthenticatedRead, U, R, true),
            (AuthenticatedRead, U, W, false), (AuthenticatedRead, U, O, false),
            // A bucket's ACL never grants reading its objects: theirs does.
            (PublicRead, A, RO, false), (PublicReadWrite, U, RO, false),
        ];
        for (acl, who, access, want) in table {
            assert_eq!(
                acl.allows(*who, *access),
                *want,
                "{acl:?} {who:?} {access:?}"
            );
        }
    }

    #[test]
    fn grants_map_back_to_their_acl() {
        for acl in ALL {
            let mut grants = acl.grants("owner");
            assert_eq!(CannedAcl::from_grants(&grants, "owner").unwrap(), acl);
            grants.reverse();
            grants.push(grants[0].clone());
            assert_eq!(CannedAcl::from_grants(&grants, "owner").unwrap(), acl);
        }
    }

    #[test]
    fn other_grants_are_not_implemented() {
        let owner = Grant {
            grantee: Grantee::User("owner".into()),
            permission: Permission::FullControl,
        };
        let cases: Vec<Vec<Grant>> = vec![
            vec![],
            vec![Grant {
                grantee: Grantee::User("other".into()),
                permission: Permission::FullControl,
            }],
            vec![
                owner.clone(),
                Grant {
                    grantee: Grantee::User("alt".into()),
                    permission: Permission::Read,
                },
            ],
            vec![
                owner.clone(),
                Grant {
                    grantee: Grantee::Group(ALL_USERS_URI.into()),
                    permission: Permission::WriteAcp,
                },
            ],
            vec![
                owner,
                Grant {
                    grantee: Grantee::Email("a@example.com".into()),
                    permission: Permission::Read,
                },
            ],
        ];
        for grants in cases {
            let err = CannedAcl::from_grants(&grants, "owner").unwrap_err();
            assert_eq!(err.code, S3ErrorCode::NotImplemented, "{grants:?}");
        }
    }
}
