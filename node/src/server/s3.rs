//! S3 operations on the accepting core: route, authenticate (or take a request without any
//! credentials as anonymous), check access to the bucket (owner, or its canned ACL:
//! `proto::acl`), decode, then either answer from core-local replicas (ListBuckets,
//! HeadBucket, GetBucketAcl) or send the operation to the owning core(s) through the mesh and
//! turn the reply into S3's response shape.
//!
//! Returns `(operation name, result, body read to its end?)` so the connection layer can
//! count the request and decide whether the connection may be reused.

use std::rc::Rc;

use super::body::{self, Verifier};
use super::conn::{self, Body, Conn, RespBody, Response};
use super::core::CoreCtx;
use super::cors;
use super::owner::{merge_lists, GetRequest, ObjectInfo, OwnerOp, OwnerReply};
use super::tags;
use crate::constants::{
    DELETE_KEYS_MAX, LIST_KEYS_MAX, USER_METADATA_BYTES_MAX, XML_BODY_BYTES_MAX,
};
use crate::engine::format::Meta;
use crate::engine::index::ListItem;
use crate::engine::store::{format_etag, WriteCond};
use crate::proto::absent::{Absent, Answer};
use crate::proto::acl::{Access, CannedAcl, Principal};
use crate::proto::chunked::{AwsChunkedDecoder, ChunkAuth};
use crate::proto::error::{S3Error, S3ErrorCode};
use crate::proto::http::RequestHead;
use crate::proto::route::{self, Operation, Route};
use crate::proto::sigv4::{self, AuthOutcome, PayloadHash};
use crate::proto::tagging;
use crate::proto::{cond, postform, time, xml};

type Handled = (&'static str, Result<Response, S3Error>, bool);

/// Everything a handler needs about one request.
pub struct Request<'a> {
    pub ctx: &'a Rc<CoreCtx>,
    pub head: &'a RequestHead,
    pub route: Route,
    pub auth: AuthOutcome,
    /// The request carried no credentials at all (`auth.access_key` is then empty).
    pub anonymous: bool,
    pub body: Body,
    pub request_id: &'a str,
}

/// Routes a request head (`route::route` with this node's domain).
pub fn route_of(ctx: &CoreCtx, head: &RequestHead) -> Result<Route, S3Error> {
    route::route(
        &head.method,
        &head.path,
        &head.query,
        head.header("host"),
        ctx.config.domain.as_deref(),
        head.header("x-amz-copy-source").is_some(),
    )
}

pub async fn handle(
    ctx: &Rc<CoreCtx>,
    conn: &mut Conn,
    head: &RequestHead,
    request_id: &str,
) -> Handled {
    let route = match route_of(ctx, head) {
        Ok(route) => route,
        Err(e) => return ("Unrouted", Err(e), false),
    };
    let op = route.op.name();
    if route.op == Operation::CorsPreflight {
        // Browsers send preflights without credentials; nothing but the bucket's CORS rules
        // decides the answer. A body (there should be none) is not read: the connection
        // then closes.
        let done = Body::new(head, None).is_ok_and(|b| b.is_done());
        return (op, super::cors::preflight(ctx, head, &route), done);
    }
    let auth_request = sigv4::AuthRequest {
        method: &head.method,
        raw_path: &head.path,
        raw_query: &head.query,
        headers: &head.headers,
    };
    let now = time::unix_now_ms() / 1000;
    let creds = &ctx.shared.credentials;
    // Only a request without any credentials is anonymous; one whose credentials fail is
    // refused by `verify`, never retried as anonymous.
    let anonymous = route.op != Operation::PostObject && sigv4::is_anonymous(&auth_request);
    let verified = if anonymous {
        sigv4::anonymous_outcome(&head.headers)
    } else if route.op == Operation::PostObject {
        // A browser form upload is authenticated by its policy's signature, in the body
        // (`post_object`); until then it is nobody's.
        Ok(AuthOutcome {
            access_key: String::new(),
            payload: PayloadHash::Unsigned,
            chunk_ctx: None,
        })
    } else {
        sigv4::verify_with_domain(
            &auth_request,
            |ak| creds.get(ak).cloned(),
            now,
            &ctx.config.region,
            ctx.config.domain.as_deref(),
        )
    };
    let auth = match verified {
        Ok(auth) => auth,
        Err(e) => return (op, Err(e), false),
    };
    // Who may use the bucket is decided before anything else is read (an anonymous request
    // that no ACL allows gets no 100 Continue). A form upload is checked once its form names
    // the uploader; creating a bucket that exists answers 409, not 403.
    if route.op != Operation::PostObject {
        if let Err(e) = check_access(ctx, &route, &auth.access_key, anonymous) {
            return (op, Err(e), false);
        }
    }
    // A header asking for encryption, object lock, tags or grants Tessera does not keep is
    // refused before the body is read: accepting it would promise a guarantee Tessera does
    // not give.
    if let Err(e) = crate::proto::features::check(&head.headers) {
        return (op, Err(e), false);
    }
    let inner = match auth.payload {
        PayloadHash::StreamingSigned | PayloadHash::StreamingSignedTrailer => {
            let Some(chunk_ctx) = auth.chunk_ctx.clone() else {
                return (op, Err(S3ErrorCode::InternalError.into()), false);
            };
            Some(AwsChunkedDecoder::new(
                ChunkAuth::Signed(chunk_ctx),
                head.header("x-amz-trailer").is_some(),
            ))
        }
        PayloadHash::StreamingUnsignedTrailer => Some(AwsChunkedDecoder::new(
            ChunkAuth::Unsigned,
            head.header("x-amz-trailer").is_some(),
        )),
        _ => None,
    };
    let body = match Body::new(head, inner) {
        Ok(body) => body,
        Err(e) => return (op, Err(e), false),
    };
    // `100 Continue` goes out even when there is no body to wait for (`Content-Length: 0`), as
    // S3 does: botocore keeps the status line of a final answer that came without a 100 and
    // reuses it for the next request with `Expect` on the same connection, which then reads
    // the real status line as a header and waits for a body end that never comes
    // (`aws s3 sync` of an empty file stalled the next upload for the idle timeout).
    if head.expects_continue() && conn::write_continue(conn).await.is_err() {
        return (op, Err(S3ErrorCode::IncompleteBody.into()), false);
    }
    let mut req = Request {
        ctx,
        head,
        route,
        auth,
        anonymous,
        body,
        request_id,
    };
    let result = dispatch(&mut req, conn).await;
    let done = req.body.is_done();
    (op, result, done)
}

async fn dispatch(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    // Access to the bucket was checked in `handle` (`check_access`).
    match req.route.op {
        Operation::ListBuckets => list_buckets(req),
        Operation::CreateBucket => create_bucket(req, conn).await,
        Operation::HeadBucket => {
            require_bucket(req)?;
            Ok(Response::new(200).header("x-amz-bucket-region", req.ctx.config.region.clone()))
        }
        Operation::DeleteBucket => {
            let name = bucket_name(req)?.to_string();
            expect_done(req.ctx.mesh.call(0, OwnerOp::DeleteBucket { name }).await?)?;
            Ok(Response::new(204))
        }
        Operation::GetBucketLocation => {
            require_bucket(req)?;
            Ok(Response::xml(
                200,
                xml::location_constraint(&req.ctx.config.region),
            ))
        }
        Operation::ListObjects | Operation::ListObjectsV2 => list_objects(req).await,
        Operation::ListObjectVersions => list_object_versions(req).await,
        Operation::ListMultipartUploads => list_uploads(req).await,
        Operation::DeleteObjects => delete_objects(req, conn).await,
        Operation::PutObject => put_object(req, conn).await,
        Operation::PostObject => post_object(req, conn).await,
        Operation::CopyObject => copy_object(req).await,
        Operation::GetObject | Operation::HeadObject => get_object(req).await,
        Operation::DeleteObject => {
            let (bucket, key) = bucket_key(req)?;
            let owner = req.ctx.owner_of(&key);
            expect_done(
                req.ctx
                    .mesh
                    .call(owner, OwnerOp::Delete { bucket, key })
                    .await?,
            )?;
            Ok(Response::new(204))
        }
        Operation::CreateMultipartUpload => create_upload(req).await,
        Operation::UploadPart => upload_part(req, conn).await,
        Operation::UploadPartCopy => upload_part_copy(req).await,
        Operation::CompleteMultipartUpload => complete_upload(req, conn).await,
        Operation::AbortMultipartUpload => {
            let (bucket, key) = bucket_key(req)?;
            let upload_id = upload_id(req)?;
            let owner = req.ctx.owner_of(&key);
            expect_done(
                req.ctx
                    .mesh
                    .call(
                        owner,
                        OwnerOp::Abort {
                            bucket,
                            key,
                            upload_id,
                        },
                    )
                    .await?,
            )?;
            Ok(Response::new(204))
        }
        Operation::ListParts => list_parts(req).await,
        Operation::GetBucketAcl => get_bucket_acl(req),
        Operation::PutBucketAcl => put_bucket_acl(req, conn).await,
        Operation::GetObjectAcl => get_object_acl(req).await,
        Operation::PutObjectAcl => put_object_acl(req, conn).await,
        Operation::GetAbsent(c) | Operation::DeleteAbsent(c) => absent(req, c),
        Operation::GetBucketTagging => tags::get_bucket(req),
        Operation::PutBucketTagging => tags::put_bucket(req, conn).await,
        Operation::DeleteBucketTagging => tags::delete_bucket(req).await,
        Operation::GetObjectTagging => tags::get_object(req).await,
        Operation::PutObjectTagging => tags::put_object(req, conn).await,
        Operation::DeleteObjectTagging => tags::delete_object(req).await,
        Operation::PutBucketCors => {
            let name = require_bucket(req)?;
            cors::put(req, conn, name).await
        }
        Operation::GetBucketCors => cors::get(req.ctx, &require_bucket(req)?),
        Operation::DeleteBucketCors => cors::delete(req.ctx, require_bucket(req)?).await,
        // Answered in `handle`, before authentication.
        Operation::CorsPreflight => Err(S3ErrorCode::InternalError.into()),
        Operation::NotImplemented(name) => Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            format!("{name} is not implemented by Tessera"),
        )),
    }
}

// ----- helpers -------------------------------------------------------------------------------

fn bucket_name<'r>(req: &'r Request<'_>) -> Result<&'r str, S3Error> {
    req.route
        .bucket
        .as_deref()
        .ok_or_else(|| S3ErrorCode::InvalidRequest.into())
}

/// What an operation does to its bucket, for the ACL check: the reads and writes a canned
/// ACL can grant to others; reading an object, which its own ACL decides; everything else
/// is the owner's alone.
fn access_of(op: Operation) -> Access {
    match op {
        Operation::GetObject | Operation::HeadObject => Access::ReadObject,
        Operation::ListObjects
        | Operation::ListObjectsV2
        | Operation::ListMultipartUploads
        | Operation::HeadBucket => Access::Read,
        // A multipart upload writes an object as a PUT does (S3 maps the WRITE permission to
        // `s3:PutObject`, which covers every step of one).
        Operation::PutObject
        | Operation::DeleteObject
        | Operation::PostObject
        | Operation::CreateMultipartUpload
        | Operation::UploadPart
        | Operation::UploadPartCopy
        | Operation::CompleteMultipartUpload
        | Operation::AbortMultipartUpload => Access::Write,
        _ => Access::OwnerOnly,
    }
}

/// Whether the requester may do `route`'s operation: anonymous requests only on a bucket whose
/// ACL grants it; a signed one on its own buckets (and on buckets created before owners were
/// recorded), on others' as their ACL grants. Creating a bucket is checked by core 0 (409).
fn check_access(
    ctx: &Rc<CoreCtx>,
    route: &Route,
    access_key: &str,
    anonymous: bool,
) -> Result<(), S3Error> {
    match route.bucket.as_deref() {
        // ListBuckets: every user lists their own; nobody's for an anonymous request.
        None if anonymous => Err(S3ErrorCode::AccessDenied.into()),
        None => Ok(()),
        Some(_) if route.op == Operation::CreateBucket && !anonymous => Ok(()),
        Some(name) => check_bucket_access(ctx, name, access_key, anonymous, access_of(route.op)),
    }
}

/// The ACL check for `access` to bucket `name` (see [`check_access`]). A bucket that does not
/// exist is left to the handler (`NoSuchBucket`), except for an anonymous request that no
/// ACL could allow.
fn check_bucket_access(
    ctx: &Rc<CoreCtx>,
    name: &str,
    access_key: &str,
    anonymous: bool,
    access: Access,
) -> Result<(), S3Error> {
    let denied = || Err(S3Error::new(S3ErrorCode::AccessDenied).resource(name.to_string()));
    let buckets = ctx.buckets.borrow();
    let Some(meta) = buckets.get(name) else {
        return if anonymous && access == Access::OwnerOnly {
            denied()
        } else {
            Ok(())
        };
    };
    if !anonymous && (meta.owner.is_empty() || meta.owner == access_key) {
        return Ok(());
    }
    if access == Access::ReadObject {
        // The object's owner core checks its ACL (`object_reader`).
        return Ok(());
    }
    let who = if anonymous {
        Principal::Anonymous
    } else {
        Principal::OtherUser
    };
    if CannedAcl::from_code_or_private(meta.acl).allows(who, access) {
        Ok(())
    } else {
        denied()
    }
}

/// Who reads an object of bucket `name`, for its owner core's ACL check (`GetRequest::reader`):
/// `None` for the bucket's owner (and for any signed user on a bucket created before owners
/// were recorded), who reads every object.
fn object_reader(req: &Request<'_>, name: &str) -> Option<Principal> {
    let buckets = req.ctx.buckets.borrow();
    let owner = buckets.get(name).map_or("", |m| m.owner.as_str());
    if req.anonymous {
        Some(Principal::Anonymous)
    } else if owner.is_empty() || owner == req.auth.access_key {
        None
    } else {
        Some(Principal::OtherUser)
    }
}

/// A failed read of an object for `reader`: a key that does not exist is `404 NoSuchKey` only
/// to whoever may list the bucket, as S3 answers; to anyone else it is `403 AccessDenied`
/// (which tells nothing about whether the key exists).
fn read_error(req: &Request<'_>, name: &str, reader: Option<Principal>, e: S3Error) -> S3Error {
    let Some(reader) = reader else { return e };
    if e.code != S3ErrorCode::NoSuchKey {
        return e;
    }
    let acl = req.ctx.buckets.borrow().get(name).map_or(0, |m| m.acl);
    if CannedAcl::from_code_or_private(acl).allows(reader, Access::Read) {
        e
    } else {
        S3Error::new(S3ErrorCode::AccessDenied)
    }
}

/// The canned ACL a request asks an object to get (`x-amz-acl`; `features::check` refused
/// values Tessera does not keep): its code, 0 (private) without one.
fn requested_acl(head: &RequestHead) -> u8 {
    head.header("x-amz-acl")
        .and_then(CannedAcl::parse)
        .unwrap_or_default()
        .code()
}

/// What an upload started by an anonymous request records as its initiator (S3's canonical
/// ID for anonymous requesters).
const ANONYMOUS_INITIATOR: &str = "anonymous";

/// An upload's initiator as its listings show it (as both `Initiator` and `Owner`): the one
/// recorded, or the bucket's owner for an upload recorded without one.
fn initiator_or_owner(req: &Request<'_>, bucket: &str, initiator: String) -> String {
    if initiator.is_empty() {
        bucket_owner(req, bucket)
    } else {
        initiator
    }
}

/// The canonical ID of bucket `name`'s owner (its access key); the requester's for a bucket
/// created before owners were recorded. Objects belong to their bucket's owner, whoever wrote
/// them.
fn bucket_owner(req: &Request<'_>, name: &str) -> String {
    match req.ctx.buckets.borrow().get(name) {
        Some(meta) if !meta.owner.is_empty() => meta.owner.clone(),
        _ => req.auth.access_key.clone(),
    }
}

pub(super) fn require_bucket(req: &Request<'_>) -> Result<String, S3Error> {
    let name = bucket_name(req)?;
    if !req.ctx.buckets.borrow().contains_key(name) {
        return Err(S3Error::new(S3ErrorCode::NoSuchBucket).resource(name.to_string()));
    }
    Ok(name.to_string())
}

pub(super) fn bucket_key(req: &Request<'_>) -> Result<(String, String), S3Error> {
    let bucket = require_bucket(req)?;
    let key = req
        .route
        .key
        .clone()
        .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidRequest))?;
    Ok((bucket, key))
}

fn upload_id(req: &Request<'_>) -> Result<u64, S3Error> {
    let text = req.route.param("uploadId").unwrap_or("");
    u64::from_str_radix(text, 16).map_err(|_| S3ErrorCode::NoSuchUpload.into())
}

pub(super) fn expect_done(reply: OwnerReply) -> Result<(), S3Error> {
    match reply {
        OwnerReply::Done(result) => result,
        _ => Err(S3ErrorCode::InternalError.into()),
    }
}

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// Object metadata from request headers (PutObject, CreateMultipartUpload, Copy REPLACE),
/// its canned ACL (`x-amz-acl`) included.
fn meta_from_headers(head: &RequestHead) -> Result<Option<Box<Meta>>, S3Error> {
    let mut meta = Meta {
        acl: requested_acl(head),
        ..Meta::default()
    };
    let mut user_bytes = 0;
    for (name, value) in &head.headers {
        match name.as_str() {
            "content-type" => meta.content_type = Some(value.clone()),
            "content-encoding" => {
                let kept: Vec<&str> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.eq_ignore_ascii_case("aws-chunked") && !c.is_empty())
                    .collect();
                if !kept.is_empty() {
                    meta.headers.push((name.clone(), kept.join(", ")));
                }
            }
            "content-disposition"
            | "content-language"
            | "cache-control"
            | "expires"
            | "x-amz-website-redirect-location" => meta.headers.push((name.clone(), value.clone())),
            n if n.starts_with("x-amz-meta-") => {
                user_bytes += n.len() - "x-amz-meta-".len() + value.len();
                meta.headers.push((name.clone(), value.clone()));
            }
            "x-amz-tagging" => meta.tags = tagging::from_header(value)?,
            _ => {}
        }
    }
    if user_bytes > USER_METADATA_BYTES_MAX {
        return Err(S3ErrorCode::MetadataTooLarge.into());
    }
    if meta == Meta::default() {
        return Ok(None);
    }
    Ok(Some(Box::new(meta)))
}

fn write_cond(head: &RequestHead) -> WriteCond {
    WriteCond {
        if_match: head.header("if-match").map(str::to_string),
        if_none_match: head.header("if-none-match").map(str::to_string),
    }
}

fn is_streaming(payload: PayloadHash) -> bool {
    matches!(
        payload,
        PayloadHash::StreamingSigned
            | PayloadHash::StreamingSignedTrailer
            | PayloadHash::StreamingUnsignedTrailer
    )
}

/// Sends a body-carrying op to `owner`, pumps the body to it, and returns its reply.
async fn send_with_body(
    req: &mut Request<'_>,
    conn: &mut Conn,
    owner: usize,
    make: impl FnOnce(crate::engine::store::BodyRx, Option<u64>) -> OwnerOp,
) -> Result<(OwnerReply, Option<(String, String)>), S3Error> {
    let verifier = Verifier::new(req.head, req.auth.payload)?;
    let size = verifier.announced_size(req.head, is_streaming(req.auth.payload));
    if size.is_some_and(|s| s > crate::constants::OBJECT_BYTES_MAX) {
        return Err(S3ErrorCode::EntityTooLarge.into());
    }
    if req.head.content_length().ok().flatten().is_none() && !req.head.is_chunked() {
        return Err(S3ErrorCode::MissingContentLength.into());
    }
    let (tx, rx) = async_channel::bounded(crate::constants::BODY_CHANNEL_DEPTH);
    let reply = req.ctx.mesh.post(owner, make(rx, size))?;
    let pumped = body::pump(conn, &mut req.body, verifier, &tx).await;
    drop(tx);
    let reply = reply
        .await
        .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?;
    let checksum = pumped?;
    req.ctx
        .metrics
        .bytes_in
        .set(req.ctx.metrics.bytes_in.get() + req.body.decoded_len);
    Ok((reply, checksum))
}

fn put_reply(reply: OwnerReply) -> Result<ObjectInfo, S3Error> {
    match reply {
        OwnerReply::Put(result) => result,
        _ => Err(S3ErrorCode::InternalError.into()),
    }
}

// ----- buckets ------------------------------------------------------------------------------

fn list_buckets(req: &Request<'_>) -> Result<Response, S3Error> {
    let buckets: Vec<(String, String)> = req
        .ctx
        .buckets
        .borrow()
        .iter()
        .filter(|(_, b)| b.owner.is_empty() || b.owner == req.auth.access_key)
        .map(|(n, b)| (n.clone(), time::iso8601_ms(b.ctime_ms)))
        .collect();
    let owner = &req.auth.access_key;
    Ok(Response::xml(
        200,
        xml::list_buckets(owner, owner, &buckets),
    ))
}

async fn create_bucket(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let name = bucket_name(req)?.to_string();
    let verifier = Verifier::new(req.head, req.auth.payload)?;
    let body = body::read_small(conn, &mut req.body, verifier, XML_BODY_BYTES_MAX).await?;
    if let Some(location) = xml::parse_create_bucket(&body)? {
        if !location.is_empty() && location != req.ctx.config.region {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("The {location} location constraint is not this node's region"),
            ));
        }
    }
    // `features::check` let only the canned ACLs Tessera keeps through.
    let acl = match req.head.header("x-amz-acl") {
        Some(value) => CannedAcl::parse(value).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("{value} is not a canned bucket ACL"),
            )
        })?,
        None => CannedAcl::Private,
    };
    let created = expect_done(
        req.ctx
            .mesh
            .call(
                0,
                OwnerOp::CreateBucket {
                    name: name.clone(),
                    owner: req.auth.access_key.clone(),
                    acl: acl.code(),
                },
            )
            .await?,
    );
    match created {
        Ok(()) => {}
        // S3's legacy us-east-1 behaviour: creating a bucket you already own succeeds there
        // (and leaves its contents alone); every other region answers 409.
        Err(e)
            if e.code == S3ErrorCode::BucketAlreadyOwnedByYou
                && req.ctx.config.region == "us-east-1" => {}
        Err(e) => return Err(e),
    }
    Ok(Response::new(200).header("Location", format!("/{name}")))
}

/// GetBucketAcl: the owner's full control and the grants of the bucket's canned ACL.
fn get_bucket_acl(req: &Request<'_>) -> Result<Response, S3Error> {
    let name = require_bucket(req)?;
    let code = req.ctx.buckets.borrow().get(&name).map_or(0, |m| m.acl);
    let owner = bucket_owner(req, &name);
    let grants = CannedAcl::from_code_or_private(code).grants(&owner);
    let owner_xml = xml::Owner {
        id: &owner,
        display_name: &owner,
    };
    Ok(Response::xml(
        200,
        xml::access_control_policy(&owner_xml, &grants),
    ))
}

/// PutBucketAcl: a canned ACL from `x-amz-acl`, or an `AccessControlPolicy` body whose grants
/// are exactly one canned ACL's (anything else is 501; `x-amz-grant-*` headers were refused
/// by `features::check`).
async fn put_bucket_acl(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let name = require_bucket(req)?;
    let owner = bucket_owner(req, &name);
    let acl = acl_to_set(req, conn, &owner).await?;
    expect_done(
        req.ctx
            .mesh
            .call(
                0,
                OwnerOp::SetBucketAcl {
                    name,
                    acl: acl.code(),
                },
            )
            .await?,
    )?;
    Ok(Response::new(200))
}

/// The canned ACL a PutBucketAcl or PutObjectAcl sets: its `x-amz-acl`, or its
/// `AccessControlPolicy` body when that equals a canned ACL's grants for `owner` (other
/// grants: `501`). Both, or neither, is an error, as on S3.
async fn acl_to_set(
    req: &mut Request<'_>,
    conn: &mut Conn,
    owner: &str,
) -> Result<CannedAcl, S3Error> {
    let verifier = Verifier::new(req.head, req.auth.payload)?;
    let body = body::read_small(conn, &mut req.body, verifier, xml::ACL_BODY_MAX_BYTES).await?;
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    match (req.head.header("x-amz-acl"), has_body) {
        (Some(_), true) => Err(S3Error::with_message(
            S3ErrorCode::UnexpectedContent,
            "This request does not support content with the x-amz-acl header",
        )),
        // `features::check` refused the values Tessera does not keep.
        (Some(value), false) => CannedAcl::parse(value).ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("{value} is not a canned ACL"),
            )
        }),
        (None, true) => CannedAcl::from_grants(&xml::parse_access_control_policy(&body)?, owner),
        (None, false) => Err(S3Error::with_message(
            S3ErrorCode::MissingSecurityHeader,
            "Your request was missing a required header: x-amz-acl",
        )),
    }
}

/// PutObjectAcl: sets the object's canned ACL, from `x-amz-acl` or from an
/// `AccessControlPolicy` body whose grants are exactly one canned ACL's (the owner being the
/// bucket's); other grants answer `501 NotImplemented`. The object's data, ETag and
/// Last-Modified stay as they are.
async fn put_object_acl(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let owner = bucket_owner(req, &bucket);
    let acl = acl_to_set(req, conn, &owner).await?.code();
    let owner_core = req.ctx.owner_of(&key);
    expect_done(
        req.ctx
            .mesh
            .call(owner_core, OwnerOp::SetObjectAcl { bucket, key, acl })
            .await?,
    )?;
    Ok(Response::new(200))
}

/// GetObjectAcl: the bucket's owner (who owns every object in it) with full control, and
/// the grants of the object's canned ACL.
async fn get_object_acl(req: &Request<'_>) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let info = object_info(req, bucket.clone(), key).await?;
    let acl = info.meta.as_ref().map_or(0, |m| m.acl);
    let owner = bucket_owner(req, &bucket);
    let grants = CannedAcl::from_code_or_private(acl).grants(&owner);
    let owner_xml = xml::Owner {
        id: &owner,
        display_name: &owner,
    };
    Ok(Response::xml(
        200,
        xml::access_control_policy(&owner_xml, &grants),
    ))
}

/// An object's size, ETag and metadata, as a HEAD sees them (NoSuchKey if it does not exist).
pub(super) async fn object_info(
    req: &Request<'_>,
    bucket: String,
    key: String,
) -> Result<ObjectInfo, S3Error> {
    let get = GetRequest {
        bucket,
        key,
        head: true,
        ..GetRequest::default()
    };
    let owner_core = req.ctx.owner_of(&get.key);
    match req.ctx.mesh.call(owner_core, OwnerOp::Get(get)).await? {
        OwnerReply::Get(result) => Ok(result?.info),
        _ => Err(S3ErrorCode::InternalError.into()),
    }
}

/// Reading or deleting a bucket configuration Tessera never has (`proto::absent`), once the
/// bucket is known to exist: the owner's, as every configuration is (`access_of`).
fn absent(req: &Request<'_>, config: Absent) -> Result<Response, S3Error> {
    let name = require_bucket(req)?;
    if matches!(req.route.op, Operation::DeleteAbsent(_)) {
        return Ok(Response::new(204));
    }
    match config.answer() {
        Answer::Document(xml) => Ok(Response::xml(200, xml.to_string())),
        Answer::Missing(code, message) => {
            Err(S3Error::with_message(code, message).resource(format!("/{name}")))
        }
    }
}

// ----- listing ------------------------------------------------------------------------------

struct ListParams {
    prefix: String,
    delimiter: Option<String>,
    after: Option<String>,
    max_keys: usize,
    url: bool,
}

fn list_params(req: &Request<'_>, v2: bool) -> Result<ListParams, S3Error> {
    let max_keys = match req.route.param("max-keys") {
        Some(v) => v.parse::<i64>().map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Provided max-keys not an integer or within integer range",
            )
        })?,
        None => LIST_KEYS_MAX as i64,
    };
    if max_keys < 0 {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Argument maxKeys must be an integer between 0 and 2147483647",
        ));
    }
    let url = match req.route.param("encoding-type") {
        None => false,
        Some(t) if t.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Invalid Encoding Method specified in Request",
            ))
        }
    };
    let after = if v2 {
        match req.route.param("continuation-token") {
            Some(token) => Some(decode_token(token)?),
            None => req.route.param("start-after").map(str::to_string),
        }
    } else {
        req.route.param("marker").map(str::to_string)
    };
    Ok(ListParams {
        prefix: req.route.param("prefix").unwrap_or("").to_string(),
        delimiter: req
            .route
            .param("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        after: after.filter(|a| !a.is_empty()),
        max_keys: (max_keys as usize).min(LIST_KEYS_MAX),
        url,
    })
}

fn encode_token(last: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes())
}

fn decode_token(token: &str) -> Result<String, S3Error> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "The continuation token provided is incorrect",
            )
        })?;
    String::from_utf8(bytes).map_err(|_| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The continuation token provided is incorrect",
        )
    })
}

/// Asks every core for its first `limit + 1` items and merges them.
async fn gather_list(
    ctx: &Rc<CoreCtx>,
    bucket: &str,
    p: &ListParams,
) -> Result<(Vec<ListItem>, bool), S3Error> {
    if p.max_keys == 0 {
        return Ok((Vec::new(), false));
    }
    let replies = ctx
        .mesh
        .broadcast(|_| OwnerOp::List {
            bucket: bucket.to_string(),
            prefix: p.prefix.as_bytes().to_vec(),
            after: p.after.as_ref().map(|a| a.as_bytes().to_vec()),
            delimiter: p.delimiter.as_ref().map(|d| d.as_bytes().to_vec()),
            limit: p.max_keys + 1,
        })
        .await?;
    let pages = replies
        .into_iter()
        .filter_map(|r| {
            if let OwnerReply::List(items) = r {
                Some(items)
            } else {
                None
            }
        })
        .collect();
    let mut merged = merge_lists(pages);
    let truncated = merged.len() > p.max_keys;
    merged.truncate(p.max_keys);
    Ok((merged, truncated))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn list_objects(req: &Request<'_>) -> Result<Response, S3Error> {
    let bucket = require_bucket(req)?;
    let v2 = req.route.op == Operation::ListObjectsV2;
    let p = list_params(req, v2)?;
    let (items, truncated) = gather_list(req.ctx, &bucket, &p).await?;
    let (keys, prefixes) = listing_rows(&items);
    let last = items.last().map(|i| lossy(i.sort_key()));
    let contents: Vec<xml::ObjectEntry> = keys
        .iter()
        .map(|(k, t, e, s)| xml::ObjectEntry {
            key: k,
            last_modified: t,
            etag: e,
            size: *s,
        })
        .collect();
    let common: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let owner_id = bucket_owner(req, &bucket);
    let owner = xml::Owner {
        id: &owner_id,
        display_name: &owner_id,
    };
    let body = if v2 {
        let token = req.route.param("continuation-token");
        let next = if truncated {
            last.as_deref().map(encode_token)
        } else {
            None
        };
        xml::list_objects_v2(&xml::ListObjectsV2 {
            bucket: &bucket,
            prefix: &p.prefix,
            continuation_token: token,
            next_continuation_token: next.as_deref(),
            start_after: req.route.param("start-after"),
            max_keys: p.max_keys as u32,
            delimiter: p.delimiter.as_deref(),
            is_truncated: truncated,
            encoding_url: p.url,
            contents: &contents,
            common_prefixes: &common,
            owner: req
                .route
                .param("fetch-owner")
                .filter(|v| *v == "true")
                .map(|_| owner),
        })
    } else {
        let next = if truncated { last.as_deref() } else { None };
        xml::list_objects_v1(&xml::ListObjectsV1 {
            bucket: &bucket,
            prefix: &p.prefix,
            marker: req.route.param("marker").unwrap_or(""),
            next_marker: next,
            max_keys: p.max_keys as u32,
            delimiter: p.delimiter.as_deref(),
            is_truncated: truncated,
            encoding_url: p.url,
            contents: &contents,
            common_prefixes: &common,
            owner: Some(owner),
        })
    };
    Ok(Response::xml(200, body))
}

/// Listed objects as (key, LastModified, ETag, size) rows, and the common prefixes.
type ListingRows = (Vec<(String, String, String, u64)>, Vec<String>);

fn listing_rows(items: &[ListItem]) -> ListingRows {
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    for item in items {
        match item {
            ListItem::Object {
                key,
                size,
                etag,
                parts_count,
                mtime_ms,
            } => keys.push((
                lossy(key),
                time::iso8601_ms(*mtime_ms),
                format_etag(etag, *parts_count),
                *size,
            )),
            ListItem::Prefix(p) => prefixes.push(lossy(p)),
        }
    }
    (keys, prefixes)
}

/// ListObjectVersions. Tessera has no versioning, so every object is its own only version
/// (`null`, latest) and this is ListObjects in another shape; tools that clean a bucket
/// through its versions (s3-tests, `aws s3api`, rclone) work on Tessera's buckets as on an
/// unversioned S3 bucket. Paging is by key: after `key-marker`, whatever `version-id-marker`
/// says, because a key has no version after `null`.
async fn list_object_versions(req: &Request<'_>) -> Result<Response, S3Error> {
    let bucket = require_bucket(req)?;
    let mut p = list_params(req, false)?;
    let key_marker = req.route.param("key-marker").unwrap_or("");
    p.after = Some(key_marker.to_string()).filter(|m| !m.is_empty());
    let (items, truncated) = gather_list(req.ctx, &bucket, &p).await?;
    let (keys, prefixes) = listing_rows(&items);
    let versions: Vec<xml::ObjectEntry> = keys
        .iter()
        .map(|(k, t, e, s)| xml::ObjectEntry {
            key: k,
            last_modified: t,
            etag: e,
            size: *s,
        })
        .collect();
    let common: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let last = items.last().filter(|_| truncated);
    let next_key = last.map(|i| lossy(i.sort_key()));
    let next_version = last
        .filter(|i| matches!(i, ListItem::Object { .. }))
        .map(|_| "null");
    let body = xml::list_object_versions(&xml::ListVersions {
        bucket: &bucket,
        prefix: &p.prefix,
        key_marker,
        version_id_marker: req.route.param("version-id-marker").unwrap_or(""),
        next_key_marker: next_key.as_deref(),
        next_version_id_marker: next_version,
        max_keys: p.max_keys as u32,
        delimiter: p.delimiter.as_deref(),
        is_truncated: truncated,
        encoding_url: p.url,
        versions: &versions,
        common_prefixes: &common,
        owner: xml::Owner {
            id: &req.auth.access_key,
            display_name: &req.auth.access_key,
        },
    });
    Ok(Response::xml(200, body))
}

async fn list_uploads(req: &Request<'_>) -> Result<Response, S3Error> {
    let bucket = require_bucket(req)?;
    let prefix = req.route.param("prefix").unwrap_or("").to_string();
    let max = req
        .route
        .param("max-uploads")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(1000);
    let replies = req
        .ctx
        .mesh
        .broadcast(|_| OwnerOp::ListUploads {
            bucket: bucket.clone(),
            prefix: prefix.as_bytes().to_vec(),
        })
        .await?;
    let mut all = Vec::new();
    for reply in replies {
        if let OwnerReply::Uploads(list) = reply {
            all.extend(list);
        }
    }
    all.sort_by(|a, b| (&a.key, a.initiated_ms, a.id).cmp(&(&b.key, b.initiated_ms, b.id)));
    let key_marker = req.route.param("key-marker").unwrap_or("");
    let id_marker = req.route.param("upload-id-marker").unwrap_or("");
    let delimiter = req.route.param("delimiter").filter(|d| !d.is_empty());
    skip_to_markers(&mut all, key_marker, id_marker, &prefix, delimiter);
    let (entries, truncated) = roll_up_uploads(all, &prefix, delimiter, max);
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    for entry in &entries {
        match entry {
            UploadRow::Upload(u) => rows.push((
                lossy(&u.key),
                format!("{:016x}", u.id),
                time::iso8601_ms(u.initiated_ms),
                initiator_or_owner(req, &bucket, u.initiator.clone()),
            )),
            UploadRow::Prefix(p) => prefixes.push(p.clone()),
        }
    }
    let uploads: Vec<xml::UploadEntry> = rows
        .iter()
        .map(|(k, id, t, who)| xml::UploadEntry {
            key: k,
            upload_id: id,
            initiated: t,
            initiator: xml::Owner {
                id: who,
                display_name: who,
            },
        })
        .collect();
    let common: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    // The next page starts after the last entry: an upload (key and id) or a common prefix.
    let (next_key, next_id) = match (truncated, entries.last()) {
        (true, Some(UploadRow::Upload(u))) => (lossy(&u.key), format!("{:016x}", u.id)),
        (true, Some(UploadRow::Prefix(p))) => (p.clone(), String::new()),
        _ => (String::new(), String::new()),
    };
    Ok(Response::xml(
        200,
        xml::list_multipart_uploads(&xml::ListUploads {
            bucket: &bucket,
            key_marker,
            upload_id_marker: id_marker,
            next_key_marker: &next_key,
            next_upload_id_marker: &next_id,
            max_uploads: max as u32,
            is_truncated: truncated,
            prefix: &prefix,
            delimiter,
            encoding_url: req.route.param("encoding-type").is_some_and(|t| t == "url"),
            uploads: &uploads,
            common_prefixes: &common,
        }),
    ))
}

/// One ListMultipartUploads entry: an upload, or a common prefix standing for all uploads
/// whose key continues past the delimiter.
enum UploadRow {
    Upload(super::owner::UploadInfo),
    Prefix(String),
}

/// The common prefix `key` rolls up into: `prefix` plus the rest of `key` up to and including
/// the first `delimiter` after it.
fn rolled_prefix(key: &str, prefix: &str, delimiter: Option<&str>) -> Option<String> {
    let delimiter = delimiter?;
    let rest = key.strip_prefix(prefix)?;
    rest.find(delimiter)
        .map(|i| format!("{prefix}{}", &rest[..i + delimiter.len()]))
}

/// Drops the uploads at or before the markers from `all` (sorted by key, then initiation).
fn skip_to_markers(
    all: &mut Vec<super::owner::UploadInfo>,
    key_marker: &str,
    id_marker: &str,
    prefix: &str,
    delimiter: Option<&str>,
) {
    // Uploads of one key are listed in initiation order and upload ids are random, so a
    // marker naming a listed upload is a position in that order: resume right after it.
    // Comparing ids would skip or repeat uploads of the marker's key across pages.
    let marker_at = all.iter().position(|u| {
        !id_marker.is_empty()
            && lossy(&u.key) == key_marker
            && format!("{:016x}", u.id) == id_marker
    });
    if let Some(at) = marker_at {
        all.drain(..=at);
        return;
    }
    // A key marker that is a common prefix (the last entry of a rolled-up page) stands for
    // every upload under it.
    let marker_is_prefix =
        rolled_prefix(key_marker, prefix, delimiter).is_some_and(|p| p.len() == key_marker.len());
    all.retain(|u| {
        let key = lossy(&u.key);
        if marker_is_prefix && key.starts_with(key_marker) {
            return false;
        }
        key.as_str() > key_marker
            || (key == key_marker
                && !id_marker.is_empty()
                && format!("{:016x}", u.id).as_str() > id_marker)
    });
}

/// Rolls uploads up into common prefixes at the delimiter and keeps the first `max` entries
/// (a common prefix counts once, as in S3). Returns them and whether more followed.
fn roll_up_uploads(
    all: Vec<super::owner::UploadInfo>,
    prefix: &str,
    delimiter: Option<&str>,
    max: usize,
) -> (Vec<UploadRow>, bool) {
    let mut entries: Vec<UploadRow> = Vec::new();
    for upload in all {
        if entries.len() > max {
            break;
        }
        match rolled_prefix(&lossy(&upload.key), prefix, delimiter) {
            // Keys under one prefix are contiguous in key order: one entry for all of them.
            Some(p) if matches!(entries.last(), Some(UploadRow::Prefix(last)) if *last == p) => {}
            Some(p) => entries.push(UploadRow::Prefix(p)),
            None => entries.push(UploadRow::Upload(upload)),
        }
    }
    let truncated = entries.len() > max;
    entries.truncate(max);
    (entries, truncated)
}

// ----- objects ------------------------------------------------------------------------------

async fn put_object(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let meta = meta_from_headers(req.head)?;
    let cond = write_cond(req.head);
    let owner = req.ctx.owner_of(&key);
    let (reply, _) = send_with_body(req, conn, owner, |body, size| OwnerOp::Put {
        bucket,
        key,
        meta,
        cond,
        body,
        size,
    })
    .await?;
    let info = put_reply(reply)?;
    let mut response = Response::new(200).header("ETag", quoted(&info.etag));
    if let Some((name, value)) = info.meta.as_ref().and_then(|m| m.checksum.clone()) {
        response = response.header(checksum_header_static(&name), value);
    }
    Ok(response)
}

fn checksum_header_static(name: &str) -> &'static str {
    crate::proto::checksum::ChecksumAlgo::from_header_name(name)
        .map_or("x-amz-checksum", |a| a.header_name())
}

fn get_request(req: &Request<'_>, bucket: String, key: String) -> Result<GetRequest, S3Error> {
    let h = |n: &str| req.head.header(n).map(str::to_string);
    let part_number = match req.route.param("partNumber") {
        Some(v) => Some(
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidArgument))?,
        ),
        None => None,
    };
    Ok(GetRequest {
        bucket,
        key,
        range: h("range"),
        if_match: h("if-match"),
        if_none_match: h("if-none-match"),
        if_modified_since: h("if-modified-since"),
        if_unmodified_since: h("if-unmodified-since"),
        part_number,
        head: req.route.op == Operation::HeadObject,
        copy_source: false,
        reader: None,
    })
}

async fn get_object(req: &Request<'_>) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let reader = object_reader(req, &bucket);
    let mut get = get_request(req, bucket.clone(), key)?;
    get.reader = reader;
    let head = get.head;
    let part_number = get.part_number;
    let owner = req.ctx.owner_of(&get.key);
    let reply = match req.ctx.mesh.call(owner, OwnerOp::Get(get)).await? {
        OwnerReply::Get(result) => result,
        _ => return Err(S3ErrorCode::InternalError.into()),
    };
    let reply = reply.map_err(|e| read_error(req, &bucket, reader, e))?;
    if reply.not_modified {
        // A 304 carries the validators (S3 sends ETag and Last-Modified), never a body.
        return Ok(Response::new(304)
            .header("ETag", quoted(&reply.info.etag))
            .header("Last-Modified", time::http_date(reply.info.mtime_ms / 1000)));
    }
    let info = &reply.info;
    let status = if reply.range.is_some() { 206 } else { 200 };
    let len = reply.length;
    let mut response = Response::new(status);
    // A checksum describes the whole object: never send it with part of one.
    let whole = reply.range.is_none() && part_number.is_none();
    object_headers(&mut response, req, info, whole);
    if let Some((a, b)) = reply.range {
        response = response.header("Content-Range", format!("bytes {a}-{b}/{}", info.size));
    }
    if part_number.is_some() && info.parts_count > 0 {
        response = response.header("x-amz-mp-parts-count", info.parts_count.to_string());
    }
    response.body = match (head, reply.body) {
        (true, _) | (false, None) if len > 0 && head => RespBody::HeadOnly { len },
        (_, Some(rx)) => RespBody::Stream { len, rx },
        _ => RespBody::Empty,
    };
    Ok(response)
}

fn object_headers(response: &mut Response, req: &Request<'_>, info: &ObjectInfo, whole: bool) {
    let h = &mut response.headers;
    h.push(("ETag", quoted(&info.etag)));
    h.push(("Last-Modified", time::http_date(info.mtime_ms / 1000)));
    h.push(("Accept-Ranges", "bytes".to_string()));
    let meta = info.meta.as_deref();
    if let Some(count) = meta.map(|m| m.tags.len()).filter(|n| *n > 0) {
        h.push(("x-amz-tagging-count", count.to_string()));
    }
    let content_type = meta
        .and_then(|m| m.content_type.clone())
        .unwrap_or_else(|| "binary/octet-stream".to_string());
    let overrides: [(&str, &'static str); 6] = [
        ("response-content-type", "Content-Type"),
        ("response-content-language", "Content-Language"),
        ("response-expires", "Expires"),
        ("response-cache-control", "Cache-Control"),
        ("response-content-disposition", "Content-Disposition"),
        ("response-content-encoding", "Content-Encoding"),
    ];
    let overridden = |name: &str| {
        overrides
            .iter()
            .any(|(q, n)| n.eq_ignore_ascii_case(name) && req.route.param(q).is_some())
    };
    if !overridden("Content-Type") {
        h.push(("Content-Type", content_type));
    }
    if let Some(meta) = meta {
        for (name, value) in &meta.headers {
            if !overridden(name) {
                h.push((static_header(name), value.clone()));
            }
        }
        if whole
            && req
                .head
                .header("x-amz-checksum-mode")
                .is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
        {
            if let Some((name, value)) = &meta.checksum {
                h.push((checksum_header_static(name), value.clone()));
            }
        }
    }
    for (query, name) in overrides {
        if let Some(value) = req.route.param(query) {
            h.push((name, value.to_string()));
        }
    }
}

/// Header names for stored metadata. User metadata names are leaked once per distinct name
/// into a small interned set so responses can carry `&'static str` names.
fn static_header(name: &str) -> &'static str {
    match name {
        "content-encoding" => "Content-Encoding",
        "content-disposition" => "Content-Disposition",
        "content-language" => "Content-Language",
        "cache-control" => "Cache-Control",
        "expires" => "Expires",
        "x-amz-website-redirect-location" => "x-amz-website-redirect-location",
        other => intern(other),
    }
}

fn intern(name: &str) -> &'static str {
    use std::cell::RefCell;
    use std::collections::HashSet;
    const INTERNED_MAX: usize = 4096;
    thread_local! {
        static NAMES: RefCell<HashSet<&'static str>> = RefCell::new(HashSet::new());
    }
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(n) = names.get(name) {
            return *n;
        }
        if names.len() >= INTERNED_MAX {
            return "x-amz-meta-overflow";
        }
        let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
        names.insert(leaked);
        leaked
    })
}

async fn delete_objects(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let bucket = require_bucket(req)?;
    let verifier = Verifier::new(req.head, req.auth.payload)?;
    let body = body::read_small(conn, &mut req.body, verifier, XML_BODY_BYTES_MAX).await?;
    let request = xml::parse_delete(&body)?;
    if request.keys.len() > DELETE_KEYS_MAX {
        return Err(S3ErrorCode::MalformedXML.into());
    }
    let mut pending = Vec::with_capacity(request.keys.len());
    for key in &request.keys {
        let owner = req.ctx.owner_of(key);
        pending.push((
            key,
            req.ctx.mesh.post(
                owner,
                OwnerOp::Delete {
                    bucket: bucket.clone(),
                    key: key.clone(),
                },
            ),
        ));
    }
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for (key, posted) in pending {
        let result = match posted {
            Ok(rx) => match rx.await {
                Ok(OwnerReply::Done(r)) => r,
                _ => Err(S3ErrorCode::InternalError.into()),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(()) if !request.quiet => deleted.push(key.clone()),
            Ok(()) => {}
            Err(e) => errors.push((
                key.clone(),
                e.code.as_str().to_string(),
                e.message.to_string(),
            )),
        }
    }
    Ok(Response::xml(200, xml::delete_result(&deleted, &errors)))
}

/// Parses `x-amz-copy-source` into (bucket, key).
fn copy_source(req: &Request<'_>) -> Result<(String, String), S3Error> {
    let raw = req.head.header("x-amz-copy-source").unwrap_or("");
    let raw = raw.split('?').next().unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| S3Error::new(S3ErrorCode::InvalidArgument))?;
    let trimmed = decoded.trim_start_matches('/');
    let (bucket, key) = trimmed.split_once('/').ok_or_else(|| {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    })?;
    if key.is_empty() {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key",
        ));
    }
    if !req.ctx.buckets.borrow().contains_key(bucket) {
        return Err(S3Error::new(S3ErrorCode::NoSuchBucket).resource(bucket.to_string()));
    }
    // Copying reads the source object: its ACL decides (`open_source`).
    Ok((bucket.to_string(), key.to_string()))
}

/// Opens the copy source for reading: conditions `x-amz-copy-source-if-*`, optional range.
async fn open_source(
    req: &Request<'_>,
    range: Option<String>,
) -> Result<super::owner::GetReply, S3Error> {
    let (bucket, key) = copy_source(req)?;
    let reader = object_reader(req, &bucket);
    let h = |n: &str| req.head.header(n).map(str::to_string);
    let get = GetRequest {
        bucket: bucket.clone(),
        key,
        range,
        if_match: h("x-amz-copy-source-if-match"),
        if_none_match: h("x-amz-copy-source-if-none-match"),
        if_modified_since: h("x-amz-copy-source-if-modified-since"),
        if_unmodified_since: h("x-amz-copy-source-if-unmodified-since"),
        part_number: None,
        head: false,
        copy_source: true,
        reader,
    };
    let owner = req.ctx.owner_of(&get.key);
    match req.ctx.mesh.call(owner, OwnerOp::Get(get)).await? {
        OwnerReply::Get(result) => result.map_err(|e| read_error(req, &bucket, reader, e)),
        _ => Err(S3ErrorCode::InternalError.into()),
    }
}

/// Feeds a source object's byte stream into a new body channel, computing its MD5.
fn forward(
    source: Option<async_channel::Receiver<Result<bytes::Bytes, S3Error>>>,
    checksum: Option<(String, String)>,
) -> crate::engine::store::BodyRx {
    use crate::engine::store::BodyMsg;
    let (tx, rx) = async_channel::bounded(crate::constants::BODY_CHANNEL_DEPTH);
    monoio::spawn(async move {
        let mut md5 = crate::proto::checksum::Md5Hasher::new();
        if let Some(source) = source {
            while let Ok(chunk) = source.recv().await {
                match chunk {
                    Ok(bytes) => {
                        md5.update(&bytes);
                        if tx.send(BodyMsg::Data(bytes)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(BodyMsg::Abort(e)).await;
                        return;
                    }
                }
            }
        }
        let _ = tx
            .send(BodyMsg::End {
                md5: md5.finish(),
                checksum,
            })
            .await;
    });
    rx
}

async fn copy_object(req: &Request<'_>) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let (src_bucket, src_key) = copy_source(req)?;
    let directive = req
        .head
        .header("x-amz-metadata-directive")
        .unwrap_or("COPY");
    let replace = match directive {
        d if d.eq_ignore_ascii_case("REPLACE") => true,
        d if d.eq_ignore_ascii_case("COPY") => false,
        _ => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Unknown metadata directive.",
            ))
        }
    };
    if src_bucket == bucket && src_key == key && !replace {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let source = open_source(req, None).await?;
    // A copy gets the ACL its request asks for (private without one), never its source's,
    // as in S3.
    // Tags follow `x-amz-tagging-directive`: the source's (COPY, the default), or the
    // request's `x-amz-tagging` (REPLACE), whatever the metadata directive.
    let replace_tags = match req.head.header("x-amz-tagging-directive").unwrap_or("COPY") {
        d if d.eq_ignore_ascii_case("REPLACE") => true,
        d if d.eq_ignore_ascii_case("COPY") => false,
        _ => {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Unknown tagging directive.",
            ))
        }
    };
    let mut meta = if replace {
        meta_from_headers(req.head)?.unwrap_or_default()
    } else {
        let mut meta = source.info.meta.clone().unwrap_or_default();
        meta.acl = requested_acl(req.head);
        meta
    };
    meta.tags = match (replace_tags, req.head.header("x-amz-tagging")) {
        (true, Some(value)) => tagging::from_header(value)?,
        (true, None) => Vec::new(),
        (false, _) => source
            .info
            .meta
            .as_ref()
            .map(|m| m.tags.clone())
            .unwrap_or_default(),
    };
    let meta = (*meta != Meta::default()).then_some(meta);
    let checksum = source.info.meta.as_ref().and_then(|m| m.checksum.clone());
    let size = source.info.size;
    let body = forward(source.body, checksum);
    let owner = req.ctx.owner_of(&key);
    let cond = write_cond(req.head);
    let info = put_reply(
        req.ctx
            .mesh
            .call(
                owner,
                OwnerOp::Put {
                    bucket,
                    key,
                    meta,
                    cond,
                    body,
                    size: Some(size),
                },
            )
            .await?,
    )?;
    Ok(Response::xml(
        200,
        xml::copy_object_result(&quoted(&info.etag), &time::iso8601_ms(info.mtime_ms)),
    ))
}

/// POST Object, a browser form upload: the fields are read (bounded) and authorized
/// (`proto::postform`: policy, signature, conditions), then the file is streamed to the owner
/// as a PUT body is, its metadata and features taken from the fields as from PUT headers.
async fn post_object(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let bucket = require_bucket(req)?;
    let mut parser = postform::FormParser::new(req.head.header("content-type"))?;
    if req.head.content_length().ok().flatten().is_none() && !req.head.is_chunked() {
        return Err(S3ErrorCode::MissingContentLength.into());
    }
    let (form, first) = body::read_form_fields(conn, &mut req.body, &mut parser).await?;
    let creds = &req.ctx.shared.credentials;
    let now = time::unix_now_ms() / 1000;
    let upload = postform::authorize(&form, &bucket, now, &req.ctx.config.region, |ak| {
        creds.get(ak).cloned()
    })?;
    // A form without a policy is anonymous (`postform::authorize`).
    req.anonymous = upload.access_key.is_empty();
    req.auth.access_key = upload.access_key.clone();
    check_bucket_access(
        req.ctx,
        &bucket,
        &req.auth.access_key,
        req.anonymous,
        Access::Write,
    )?;
    // The fields that stand for headers, checked and stored as a PUT's headers are.
    let fields = RequestHead {
        method: "POST".to_string(),
        target: String::new(),
        path: String::new(),
        query: String::new(),
        minor_version: 1,
        headers: upload.headers.clone(),
    };
    crate::proto::features::check(&fields.headers)?;
    let meta = meta_from_headers(&fields)?;
    let verifier = Verifier::new(&fields, PayloadHash::Unsigned)?;
    let key = upload.key.clone();
    let owner = req.ctx.owner_of(&key);
    let (tx, rx) = async_channel::bounded(crate::constants::BODY_CHANNEL_DEPTH);
    let put = OwnerOp::Put {
        bucket: bucket.clone(),
        key: key.clone(),
        meta,
        cond: WriteCond::default(),
        body: rx,
        size: None,
    };
    let reply = req.ctx.mesh.post(owner, put)?;
    let length = (upload.length_min, upload.length_max);
    let pumped = body::pump_form(
        conn,
        &mut req.body,
        &mut parser,
        first,
        verifier,
        length,
        &tx,
    )
    .await;
    drop(tx);
    let reply = reply
        .await
        .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?;
    pumped?;
    req.ctx
        .metrics
        .bytes_in
        .set(req.ctx.metrics.bytes_in.get() + req.body.decoded_len);
    let etag = quoted(&put_reply(reply)?.etag);
    let response = match upload.success {
        postform::Success::Redirect(url) => Response::new(303).header(
            "Location",
            postform::redirect_location(&url, &bucket, &key, &etag),
        ),
        postform::Success::Status(201) => Response::xml(
            201,
            postform::post_response_xml(
                &postform::object_path(&bucket, &key),
                &bucket,
                &key,
                &etag,
            ),
        ),
        postform::Success::Status(status) => Response::new(status),
    };
    Ok(response.header("ETag", etag))
}

// ----- multipart ----------------------------------------------------------------------------

async fn create_upload(req: &Request<'_>) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let meta = meta_from_headers(req.head)?;
    let owner = req.ctx.owner_of(&key);
    let id = match req
        .ctx
        .mesh
        .call(
            owner,
            OwnerOp::CreateUpload {
                bucket: bucket.clone(),
                key: key.clone(),
                meta,
                initiator: if req.anonymous {
                    ANONYMOUS_INITIATOR.to_string()
                } else {
                    req.auth.access_key.clone()
                },
            },
        )
        .await?
    {
        OwnerReply::UploadId(result) => result?,
        _ => return Err(S3ErrorCode::InternalError.into()),
    };
    Ok(Response::xml(
        200,
        xml::initiate_multipart_upload(&bucket, &key, &format!("{id:016x}")),
    ))
}

fn part_number(req: &Request<'_>) -> Result<u32, S3Error> {
    req.route
        .param("partNumber")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=crate::constants::PARTS_MAX).contains(n))
        .ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

async fn upload_part(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let upload_id = upload_id(req)?;
    let number = part_number(req)?;
    let owner = req.ctx.owner_of(&key);
    let (reply, checksum) = send_with_body(req, conn, owner, |body, size| OwnerOp::PutPart {
        bucket,
        key,
        upload_id,
        number,
        body,
        size,
    })
    .await?;
    let info = put_reply(reply)?;
    let mut response = Response::new(200).header("ETag", quoted(&info.etag));
    // S3 echoes the part's verified checksum (clients pass it back in the complete request).
    if let Some((name, value)) = checksum {
        response = response.header(checksum_header_static(&name), value);
    }
    Ok(response)
}

async fn upload_part_copy(req: &Request<'_>) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let upload_id = upload_id(req)?;
    let number = part_number(req)?;
    let range = req.head.header("x-amz-copy-source-range");
    // The form is checked before the source is opened; the bounds once its size is known.
    if let Some(header) = range {
        cond::parse_copy_source_range(header, u64::MAX)?;
    }
    let source = open_source(req, range.map(str::to_string)).await?;
    if let Some(header) = range {
        let wanted = cond::parse_copy_source_range(header, source.info.size)?;
        if source.range != Some(wanted) {
            return Err(S3ErrorCode::InternalError.into());
        }
    }
    let size = source.length;
    let body = forward(source.body, None);
    let owner = req.ctx.owner_of(&key);
    let info = put_reply(
        req.ctx
            .mesh
            .call(
                owner,
                OwnerOp::PutPart {
                    bucket,
                    key,
                    upload_id,
                    number,
                    body,
                    size: Some(size),
                },
            )
            .await?,
    )?;
    Ok(Response::xml(
        200,
        xml::copy_part_result(&quoted(&info.etag), &time::iso8601_ms(info.mtime_ms)),
    ))
}

async fn complete_upload(req: &mut Request<'_>, conn: &mut Conn) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let upload_id = upload_id(req)?;
    let verifier = Verifier::new(req.head, req.auth.payload)?;
    let body = body::read_small(conn, &mut req.body, verifier, XML_BODY_BYTES_MAX).await?;
    let parts: Vec<(u32, String)> = xml::parse_complete_multipart(&body)?
        .into_iter()
        .map(|p| (p.part_number, p.etag))
        .collect();
    let owner = req.ctx.owner_of(&key);
    let cond = write_cond(req.head);
    let reply = req
        .ctx
        .mesh
        .call(
            owner,
            OwnerOp::Complete {
                bucket: bucket.clone(),
                key: key.clone(),
                upload_id,
                parts,
                cond,
            },
        )
        .await?;
    let info = put_reply(reply)?;
    let location = format!("/{bucket}/{key}");
    Ok(Response::xml(
        200,
        xml::complete_multipart_upload(&location, &bucket, &key, &quoted(&info.etag)),
    ))
}

async fn list_parts(req: &Request<'_>) -> Result<Response, S3Error> {
    let (bucket, key) = bucket_key(req)?;
    let upload_id = upload_id(req)?;
    let owner = req.ctx.owner_of(&key);
    let (_, mut parts, initiator) = match req
        .ctx
        .mesh
        .call(
            owner,
            OwnerOp::ListParts {
                bucket: bucket.clone(),
                key: key.clone(),
                upload_id,
            },
        )
        .await?
    {
        OwnerReply::Parts(result) => result?,
        _ => return Err(S3ErrorCode::InternalError.into()),
    };
    let marker = req
        .route
        .param("part-number-marker")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    let max = req
        .route
        .param("max-parts")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(1000);
    parts.retain(|p| p.number > marker);
    let truncated = parts.len() > max;
    parts.truncate(max);
    let rows: Vec<(u32, String, String, u64)> = parts
        .iter()
        .map(|p| {
            (
                p.number,
                time::iso8601_ms(p.mtime_ms),
                p.etag.clone(),
                p.size,
            )
        })
        .collect();
    let entries: Vec<xml::PartEntry> = rows
        .iter()
        .map(|(n, t, e, s)| xml::PartEntry {
            part_number: *n,
            last_modified: t,
            etag: e,
            size: *s,
        })
        .collect();
    let initiator = initiator_or_owner(req, &bucket, initiator);
    let owner = xml::Owner {
        id: &initiator,
        display_name: &initiator,
    };
    let id = format!("{upload_id:016x}");
    Ok(Response::xml(
        200,
        xml::list_parts(&xml::ListParts {
            bucket: &bucket,
            key: &key,
            upload_id: &id,
            part_number_marker: marker,
            next_part_number_marker: rows.last().map_or(0, |r| r.0),
            max_parts: max as u32,
            is_truncated: truncated,
            parts: &entries,
            initiator: owner,
            owner,
        }),
    ))
}
