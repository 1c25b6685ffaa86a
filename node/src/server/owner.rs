//! The owner side: operations executed on the core that owns the key (or, for buckets, on
//! core 0), against that core's `Store`. Everything that must be linearizable per key —
//! conditional checks, range resolution against the current object, commit — happens here.
//!
//! Replies are plain `Send` data (`ObjectInfo`, byte chunks): nothing core-local leaves.

use std::rc::Rc;

use bytes::Bytes;

use super::core::CoreCtx;
use crate::engine::error::StorageError;
use crate::engine::format::{Entry, Location, Meta};
use crate::engine::index::{BucketMeta, ListItem};
use crate::engine::store::{etag_string, BodyRx, BucketCreated, WriteCond};
use crate::proto::acl::{Access, CannedAcl, Principal};
use crate::proto::cond::{self, CondOutcome, Conditions};
use crate::proto::error::{S3Error, S3ErrorCode};

/// What a reader needs to know about an object (the response headers).
#[derive(Clone, Debug)]
pub struct ObjectInfo {
    pub size: u64,
    pub etag: String,
    pub mtime_ms: i64,
    pub meta: Option<Box<Meta>>,
    pub parts_count: u16,
}

impl ObjectInfo {
    fn of(entry: &Entry) -> ObjectInfo {
        ObjectInfo {
            size: entry.size,
            etag: etag_string(entry),
            mtime_ms: entry.mtime_ms,
            meta: entry.meta.clone(),
            parts_count: entry.parts_count,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct GetRequest {
    pub bucket: String,
    pub key: String,
    pub range: Option<String>,
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub if_unmodified_since: Option<String>,
    pub part_number: Option<u32>,
    /// HEAD: no body.
    pub head: bool,
    /// Conditions are `x-amz-copy-source-if-*`: every failure is 412.
    pub copy_source: bool,
    /// Who reads, when not the bucket's owner: the object's own ACL must let them
    /// (`403 AccessDenied` before any condition is looked at). `None`: the owner.
    pub reader: Option<Principal>,
}

pub struct GetReply {
    pub info: ObjectInfo,
    /// Inclusive byte range served, when the request asked for part of the object.
    pub range: Option<(u64, u64)>,
    /// Bytes the body holds (also for HEAD, which sends none): the range's, or a part's, or
    /// the whole object's.
    pub length: u64,
    pub body: Option<async_channel::Receiver<Result<Bytes, S3Error>>>,
    /// A conditional GET/HEAD found the object unchanged: answer 304 with `info`'s ETag and
    /// Last-Modified (RFC 7232 §4.1: a 304 carries the validators a 200 would have).
    pub not_modified: bool,
}

pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub mtime_ms: i64,
}

pub struct UploadInfo {
    pub key: Vec<u8>,
    pub id: u64,
    pub initiated_ms: i64,
    /// The access key that started it; empty: the bucket's owner.
    pub initiator: String,
}

pub enum OwnerOp {
    Put {
        bucket: String,
        key: String,
        meta: Option<Box<Meta>>,
        cond: WriteCond,
        body: BodyRx,
        size: Option<u64>,
    },
    Get(GetRequest),
    Delete {
        bucket: String,
        key: String,
    },
    List {
        bucket: String,
        prefix: Vec<u8>,
        after: Option<Vec<u8>>,
        delimiter: Option<Vec<u8>>,
        limit: usize,
    },
    ListUploads {
        bucket: String,
        prefix: Vec<u8>,
    },
    CreateUpload {
        bucket: String,
        key: String,
        meta: Option<Box<Meta>>,
        /// The requester's access key, `anonymous` for an anonymous request.
        initiator: String,
    },
    PutPart {
        bucket: String,
        key: String,
        upload_id: u64,
        number: u32,
        body: BodyRx,
        size: Option<u64>,
    },
    Complete {
        bucket: String,
        key: String,
        upload_id: u64,
        parts: Vec<(u32, String)>,
        cond: WriteCond,
    },
    Abort {
        bucket: String,
        key: String,
        upload_id: u64,
    },
    ListParts {
        bucket: String,
        key: String,
        upload_id: u64,
    },
    HasContent {
        bucket: String,
    },
    /// Sets an object's canned ACL (`Meta::acl`); `NoSuchKey` if it does not exist.
    SetObjectAcl {
        bucket: String,
        key: String,
        acl: u8,
    },
    /// Replaces an object's tags (validated by the caller); NoSuchKey if it does not exist.
    SetObjectTags {
        bucket: String,
        key: String,
        tags: Vec<(String, String)>,
    },
    /// Core 0 only: the durable bucket registry.
    CreateBucket {
        name: String,
        /// The creating user's access key.
        owner: String,
        /// Its canned ACL (`proto::acl::CannedAcl::code`).
        acl: u8,
    },
    /// Core 0 only: sets a bucket's canned ACL, durably, then on every core's replica.
    SetBucketAcl {
        name: String,
        acl: u8,
    },
    /// Core 0 only: replaces a bucket's tags (validated; empty: none), durably, then on every
    /// core's replica.
    SetBucketTags {
        name: String,
        tags: Vec<(String, String)>,
    },
    /// Core 0 only: sets (`Some`) or removes a bucket's CORS rules (canonical XML), durably,
    /// then on every core's replica.
    SetBucketCors {
        name: String,
        cors: Option<String>,
    },
    DeleteBucket {
        name: String,
    },
    /// Replica updates sent by core 0 to every core.
    BucketAdded {
        name: String,
        meta: BucketMeta,
    },
    BucketRemoved {
        name: String,
    },
    Stats,
}

/// ListParts: the upload's metadata, parts and initiator (empty: the bucket's owner).
pub type UploadParts = (Option<Box<Meta>>, Vec<PartInfo>, String);

pub enum OwnerReply {
    Done(Result<(), S3Error>),
    Put(Result<ObjectInfo, S3Error>),
    Get(Result<GetReply, S3Error>),
    List(Vec<ListItem>),
    Uploads(Vec<UploadInfo>),
    UploadId(Result<u64, S3Error>),
    Parts(Result<UploadParts, S3Error>),
    Bool(bool),
    Stats(Box<super::metrics::CoreStats>),
}

fn s3(e: StorageError) -> S3Error {
    e.into()
}

/// Runs one operation on this core.
pub async fn execute(ctx: Rc<CoreCtx>, op: OwnerOp) -> OwnerReply {
    let store = &ctx.store;
    match op {
        OwnerOp::Put {
            bucket,
            key,
            meta,
            cond,
            body,
            size,
        } => {
            let result = store
                .put_object(&bucket, &key, meta, cond, &body, size)
                .await;
            OwnerReply::Put(result.map(|e| ObjectInfo::of(&e)).map_err(s3))
        }
        OwnerOp::Get(request) => OwnerReply::Get(get(&ctx, request).await),
        OwnerOp::Delete { bucket, key } => {
            OwnerReply::Done(store.delete_object(&bucket, &key).await.map_err(s3))
        }
        OwnerOp::List {
            bucket,
            prefix,
            after,
            delimiter,
            limit,
        } => OwnerReply::List(store.list(
            &bucket,
            &prefix,
            after.as_deref(),
            delimiter.as_deref(),
            limit,
        )),
        OwnerOp::ListUploads { bucket, prefix } => OwnerReply::Uploads(
            store
                .list_uploads(&bucket, &prefix)
                .into_iter()
                .map(|(key, id, initiated_ms, initiator)| UploadInfo {
                    key,
                    id,
                    initiated_ms,
                    initiator,
                })
                .collect(),
        ),
        OwnerOp::CreateUpload {
            bucket,
            key,
            meta,
            initiator,
        } => OwnerReply::UploadId(
            store
                .create_upload(&bucket, &key, meta, &initiator)
                .await
                .map_err(s3),
        ),
        OwnerOp::PutPart {
            bucket,
            key,
            upload_id,
            number,
            body,
            size,
        } => {
            let result = store
                .put_part(upload_id, &bucket, &key, number, &body, size)
                .await;
            OwnerReply::Put(result.map_err(s3).map(|p| ObjectInfo {
                size: p.size,
                etag: hex::encode(p.etag),
                mtime_ms: p.mtime_ms,
                meta: None,
                parts_count: 0,
            }))
        }
        OwnerOp::Complete {
            bucket,
            key,
            upload_id,
            parts,
            cond,
        } => {
            let result = store
                .complete_upload(upload_id, &bucket, &key, &parts, cond)
                .await;
            OwnerReply::Put(result.map(|e| ObjectInfo::of(&e)).map_err(s3))
        }
        OwnerOp::Abort {
            bucket,
            key,
            upload_id,
        } => OwnerReply::Done(
            store
                .abort_upload(upload_id, &bucket, &key)
                .await
                .map_err(s3),
        ),
        OwnerOp::ListParts {
            bucket,
            key,
            upload_id,
        } => OwnerReply::Parts(store.upload(upload_id, &bucket, &key).map_err(s3).map(|u| {
            let parts = u
                .parts
                .values()
                .map(|p| PartInfo {
                    number: p.number,
                    size: p.size,
                    etag: hex::encode(p.etag),
                    mtime_ms: p.mtime_ms,
                })
                .collect();
            (u.meta, parts, u.initiator.to_string())
        })),
        OwnerOp::HasContent { bucket } => OwnerReply::Bool(store.bucket_has_content(&bucket)),
        OwnerOp::SetObjectAcl { bucket, key, acl } => {
            OwnerReply::Done(found(store.set_object_acl(&bucket, &key, acl).await))
        }
        OwnerOp::SetObjectTags { bucket, key, tags } => {
            OwnerReply::Done(found(store.set_object_tags(&bucket, &key, tags).await))
        }
        OwnerOp::CreateBucket { name, owner, acl } => {
            OwnerReply::Done(create_bucket(&ctx, name, owner, acl).await)
        }
        OwnerOp::SetBucketAcl { name, acl } => {
            let changed = store.set_bucket_acl(&name, acl).await;
            OwnerReply::Done(publish(&ctx, name, changed).await)
        }
        OwnerOp::SetBucketTags { name, tags } => {
            let changed = store.set_bucket_tags(&name, tags).await;
            OwnerReply::Done(publish(&ctx, name, changed).await)
        }
        OwnerOp::SetBucketCors { name, cors } => {
            let changed = store.set_bucket_cors(&name, cors).await;
            OwnerReply::Done(publish(&ctx, name, changed).await)
        }
        OwnerOp::DeleteBucket { name } => OwnerReply::Done(delete_bucket(&ctx, name).await),
        OwnerOp::BucketAdded { name, meta } => {
            ctx.buckets.borrow_mut().insert(name, meta);
            OwnerReply::Done(Ok(()))
        }
        OwnerOp::BucketRemoved { name } => {
            ctx.buckets.borrow_mut().remove(&name);
            OwnerReply::Done(Ok(()))
        }
        OwnerOp::Stats => OwnerReply::Stats(Box::new(super::metrics::CoreStats::collect(&ctx))),
    }
}

/// A metadata change's answer: done, `NoSuchKey` for a key that does not exist, or the error.
fn found(result: Result<bool, StorageError>) -> Result<(), S3Error> {
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(S3ErrorCode::NoSuchKey.into()),
        Err(e) => Err(s3(e)),
    }
}

async fn create_bucket(
    ctx: &Rc<CoreCtx>,
    name: String,
    owner: String,
    acl: u8,
) -> Result<(), S3Error> {
    debug_assert_eq!(ctx.core, 0, "the bucket registry lives on core 0");
    let meta = match ctx
        .store
        .create_bucket(&name, &owner, acl)
        .await
        .map_err(s3)?
    {
        BucketCreated::New(meta) => meta,
        // Bucket names are global: another user's bucket cannot be created again.
        BucketCreated::Exists(existing) => {
            return Err(if existing.owner.is_empty() || existing.owner == owner {
                S3ErrorCode::BucketAlreadyOwnedByYou.into()
            } else {
                S3ErrorCode::BucketAlreadyExists.into()
            });
        }
    };
    ctx.mesh
        .broadcast(|_| OwnerOp::BucketAdded {
            name: name.clone(),
            meta: meta.clone(),
        })
        .await?;
    Ok(())
}

/// After core 0 committed a change to bucket `name`'s registry entry (its ACL, tags or CORS
/// rules; `changed`: the entry now, `None` if the bucket does not exist), replaces the
/// bucket's entry in every core's replica (as a create does) before the change is answered,
/// so every core checks requests against it.
async fn publish(
    ctx: &Rc<CoreCtx>,
    name: String,
    changed: Result<Option<crate::engine::index::BucketMeta>, StorageError>,
) -> Result<(), S3Error> {
    debug_assert_eq!(ctx.core, 0, "the bucket registry lives on core 0");
    let Some(meta) = changed.map_err(s3)? else {
        return Err(S3Error::new(S3ErrorCode::NoSuchBucket).resource(name));
    };
    ctx.mesh
        .broadcast(|_| OwnerOp::BucketAdded {
            name: name.clone(),
            meta: meta.clone(),
        })
        .await?;
    Ok(())
}

async fn delete_bucket(ctx: &Rc<CoreCtx>, name: String) -> Result<(), S3Error> {
    debug_assert_eq!(ctx.core, 0, "the bucket registry lives on core 0");
    if !ctx.store.buckets().iter().any(|(n, _)| *n == name) {
        return Err(S3ErrorCode::NoSuchBucket.into());
    }
    let replies = ctx
        .mesh
        .broadcast(|_| OwnerOp::HasContent {
            bucket: name.clone(),
        })
        .await?;
    if replies.iter().any(|r| matches!(r, OwnerReply::Bool(true))) {
        return Err(S3ErrorCode::BucketNotEmpty.into());
    }
    ctx.store.delete_bucket(&name).await.map_err(s3)?;
    ctx.mesh
        .broadcast(|_| OwnerOp::BucketRemoved { name: name.clone() })
        .await?;
    Ok(())
}

/// Resolves a GET/HEAD against the current object: conditions, part, range; then streams the
/// bytes. The first chunk is read before answering so that an unreadable object is a 500,
/// not a truncated 200.
async fn get(ctx: &Rc<CoreCtx>, req: GetRequest) -> Result<GetReply, S3Error> {
    let guard = ctx.store.begin_read();
    let entry = ctx
        .store
        .lookup(&req.bucket, &req.key)
        .ok_or_else(|| S3Error::new(S3ErrorCode::NoSuchKey))?;
    if let Some(reader) = req.reader {
        let acl = entry.meta.as_ref().map_or(0, |m| m.acl);
        if !CannedAcl::from_code_or_private(acl).allows(reader, Access::Read) {
            return Err(S3ErrorCode::AccessDenied.into());
        }
    }
    let info = ObjectInfo::of(&entry);
    let mtime_secs = entry.mtime_ms / 1000;
    if req.copy_source {
        cond::evaluate_copy_source(
            req.if_match.as_deref(),
            req.if_none_match.as_deref(),
            req.if_modified_since.as_deref(),
            req.if_unmodified_since.as_deref(),
            &info.etag,
            mtime_secs,
        )?;
    } else {
        let conditions = Conditions {
            if_match: req.if_match.as_deref(),
            if_none_match: req.if_none_match.as_deref(),
            if_modified_since: req.if_modified_since.as_deref(),
            if_unmodified_since: req.if_unmodified_since.as_deref(),
        };
        match cond::evaluate_read(&conditions, &info.etag, mtime_secs) {
            CondOutcome::Proceed => {}
            CondOutcome::NotModified => {
                return Ok(GetReply {
                    info,
                    range: None,
                    length: 0,
                    body: None,
                    not_modified: true,
                })
            }
            CondOutcome::PreconditionFailed => return Err(S3ErrorCode::PreconditionFailed.into()),
        }
    }
    let (start, end, range) = resolve_range(&entry, &req)?;
    if req.head || start >= end {
        return Ok(GetReply {
            info,
            range,
            length: end - start,
            body: None,
            not_modified: false,
        });
    }
    let (first, mut pos) = ctx.store.read_chunk(&entry, start, end).await.map_err(s3)?;
    // Nobody reads the channel before this function returns, so it must hold the whole first
    // stripe: up to k pieces, more than the usual depth with wide geometries (6+2, 12+4).
    let (tx, rx) = async_channel::bounded(crate::constants::BODY_CHANNEL_DEPTH.max(first.len()));
    for piece in first {
        let queued = tx.try_send(Ok(piece));
        debug_assert!(queued.is_ok(), "the channel has room for the first stripe");
    }
    let store = ctx.store.clone();
    monoio::spawn(async move {
        let _guard = guard;
        while pos < end {
            match store.read_chunk(&entry, pos, end).await {
                Ok((pieces, next)) => {
                    for piece in pieces {
                        if tx.send(Ok(piece)).await.is_err() {
                            return; // the client went away
                        }
                    }
                    pos = next;
                }
                Err(e) => {
                    let _ = tx.send(Err(s3(e))).await;
                    return;
                }
            }
        }
    });
    Ok(GetReply {
        info,
        range,
        length: end - start,
        body: Some(rx),
        not_modified: false,
    })
}

/// What to serve: bytes `[start, end)`, and the inclusive range to announce in a 206 (none for
/// a whole object, or for a part that is empty).
type Span = (u64, u64, Option<(u64, u64)>);

fn resolve_range(entry: &Entry, req: &GetRequest) -> Result<Span, S3Error> {
    let whole = (0, entry.size, None);
    if let Some(number) = req.part_number {
        let parts = match &entry.loc {
            Location::Parts(parts) if entry.parts_count > 0 => parts.clone(),
            _ if number == 1 => return Ok(whole),
            _ => return Err(S3Error::new(S3ErrorCode::InvalidPart)),
        };
        let index = number
            .checked_sub(1)
            .map(|n| n as usize)
            .filter(|&n| n < parts.len());
        let Some(index) = index else {
            return Err(S3ErrorCode::InvalidPart.into());
        };
        let start: u64 = parts[..index].iter().map(|p| p.size).sum();
        let size = parts[index].size;
        if size == 0 {
            return Ok((start, start, None));
        }
        return Ok((start, start + size, Some((start, start + size - 1))));
    }
    match &req.range {
        Some(header) => Ok(match cond::parse_range(header, entry.size)? {
            Some((a, b)) => (a, b + 1, Some((a, b))),
            None => whole,
        }),
        None => Ok(whole),
    }
}

/// Merges per-core listing pages (each sorted) into one sorted page without duplicates (a
/// common prefix can come from several cores). The stable sort finds the sorted runs, so this
/// is a k-way merge without copying any key.
pub fn merge_lists(pages: Vec<Vec<ListItem>>) -> Vec<ListItem> {
    let mut merged: Vec<ListItem> = pages.into_iter().flatten().collect();
    merged.sort_by(|a, b| a.sort_key().cmp(b.sort_key()));
    merged.dedup_by(|a, b| a.sort_key() == b.sort_key());
    merged
}
