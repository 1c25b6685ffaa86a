//! Tags on the accepting core: Put/Get/DeleteObjectTagging (the tags live in the object's
//! metadata on its owner core) and Put/Get/DeleteBucketTagging (in the bucket registry, set
//! by core 0 and copied to every core). Limits and the header's form are `proto::tagging`,
//! the `Tagging` document `proto::xml`. Tags set with a PUT, a copy or an upload travel with
//! the object's other metadata (`s3::meta_from_headers`, `s3::copy_object`).

use super::body::{self, Verifier};
use super::conn::{Conn, Response};
use super::owner::OwnerOp;
use super::s3::{bucket_key, expect_done, object_info, require_bucket, Request};
use crate::proto::error::{S3Error, S3ErrorCode};
use crate::proto::tagging::{self, Tags};
use crate::proto::xml;

/// GetObjectTagging: the object's tags, sorted by key (an empty `TagSet` for none).
pub async fn get_object(req: &Request<'_>) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let info = object_info(req, bucket, key).await?;
    let tags = info.meta.as_ref().map_or(&[][..], |m| m.tags.as_slice());
    Ok(Response::xml(200, xml::tagging(tags)))
}

/// PutObjectTagging: replaces the object's tags with the body's `Tagging` (validated);
/// nothing else of the object changes.
pub async fn put_object(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let tags = tagging::validate(read_tagging(req, conn).await?)?;
    set_object(req, bucket, key, tags).await?;
    Ok(Response::new(200))
}

/// DeleteObjectTagging: the object has no tags afterwards.
pub async fn delete_object(req: &Request<'_>) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    set_object(req, bucket, key, Vec::new()).await?;
    Ok(Response::new(204))
}

/// GetBucketTagging: the bucket's tags, sorted by key; `404 NoSuchTagSet` for none.
pub fn get_bucket(req: &Request<'_>) -> Result<Response, S3Error> {
    let name = require_bucket(req)?;
    let tags = req
        .ctx
        .buckets
        .borrow()
        .get(&name)
        .map(|m| m.tags.clone())
        .unwrap_or_default();
    if tags.is_empty() {
        return Err(
            S3Error::with_message(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist")
                .resource(format!("/{name}")),
        );
    }
    Ok(Response::xml(200, xml::tagging(&tags)))
}

/// PutBucketTagging: replaces the bucket's tags (`204`, as S3 answers).
pub async fn put_bucket(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let name = require_bucket(req)?;
    let tags = tagging::validate_bucket(read_tagging(req, conn).await?)?;
    set_bucket(req, name, tags).await?;
    Ok(Response::new(204))
}

/// DeleteBucketTagging: the bucket has no tags afterwards.
pub async fn delete_bucket(req: &Request<'_>) -> Result<Response, S3Error> {
    let name = require_bucket(req)?;
    set_bucket(req, name, Vec::new()).await?;
    Ok(Response::new(204))
}

/// The request's body, verified, as a `Tagging` document (not yet validated).
async fn read_tagging(req: &mut Request<'_>, conn: &mut Conn) -> Result<Tags, S3Error> {
    let verifier = Verifier::new(req.head, req.auth.payload)?;
    let body = body::read_small(conn, &mut req.body, verifier, xml::TAGGING_BODY_MAX_BYTES).await?;
    xml::parse_tagging(&body)
}

async fn set_bucket(req: &Request<'_>, name: String, tags: Tags) -> Result<(), S3Error> {
    let reply = req
        .ctx
        .mesh
        .call(0, OwnerOp::SetBucketTags { name, tags })
        .await?;
    expect_done(reply)
}

async fn set_object(
    req: &Request<'_>,
    bucket: String,
    key: String,
    tags: Tags,
) -> Result<(), S3Error> {
    let owner_core = req.ctx.owner_of(&key);
    let reply = req
        .ctx
        .mesh
        .call(owner_core, OwnerOp::SetObjectTags { bucket, key, tags })
        .await?;
    expect_done(reply)
}
