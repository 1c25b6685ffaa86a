//! On-disk format (version 1): the index types, journal records and journal frames, encoded
//! little-endian. `docs/format.md` is the byte-level description of what this module does;
//! keep the two in step and bump `FORMAT_VERSION` on any change.
//!
//! Pure: encoding and decoding only. Decoding never panics on hostile bytes: a frame that does
//! not check out (magic, length, CRC-32C, generation, sequence) ends the journal there — a torn
//! tail — and nothing after it is replayed.

use std::rc::Rc;

use super::codec::{Reader, Writer};
use super::erasure::Geometry;

pub const FORMAT_VERSION: u16 = 1;
pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"TSJ1");
pub const FRAME_HEADER_BYTES: usize = 32;
pub const CHECKPOINT_MAGIC: u32 = u32::from_le_bytes(*b"TSC1");
/// Bytes of a checkpoint before its payload (see `encode_checkpoint`).
pub const CHECKPOINT_HEADER_BYTES: usize = 28;
/// `ShardLoc::dev` value for a shard that was never written (its device was down).
pub const DEV_MISSING: u16 = u16::MAX;

/// Where one shard of a stripe lives: device index, byte offset in this core's data file on
/// that device, and the CRC-32C of the whole shard (`shard_len` bytes, padding included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardLoc {
    pub dev: u16,
    pub offset: u64,
    pub crc: u32,
}

/// One stripe: `k` data shards then `m` parity shards, each `shard_len` bytes on disk, holding
/// `data_len` bytes of object data (the tail of the last data shard is zero padding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stripe {
    pub geometry: Geometry,
    pub shard_len: u32,
    pub data_len: u32,
    pub shards: Box<[ShardLoc]>,
}

/// A part of an object: a plain PUT is one part numbered 1; a multipart object is its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartLoc {
    pub number: u32,
    pub size: u64,
    pub etag: [u8; 16],
    pub mtime_ms: i64,
    pub stripes: Box<[Stripe]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A zero-byte object: nothing on the data devices.
    Empty,
    /// A small object inside a shared packed stripe, with its own CRC-32C.
    Packed {
        stripe: u64,
        offset: u32,
        len: u32,
        crc: u32,
    },
    /// Stripes of its own, part by part.
    Parts(Rc<[PartLoc]>),
}

/// Metadata stored with an object and returned on GET/HEAD.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub content_type: Option<String>,
    /// Stored response headers (content-encoding, -disposition, -language, cache-control,
    /// expires) and `x-amz-meta-*`, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Client checksum: algorithm header name (`x-amz-checksum-crc32`, ...) and base64 value.
    pub checksum: Option<(String, String)>,
    /// The object's canned ACL (`proto::acl::CannedAcl::code`; 0 = private, only the owner).
    pub acl: u8,
    /// The object's tags (`proto::tagging`: at most 10, keys unique), in the order given.
    pub tags: Vec<(String, String)>,
}

/// The index entry of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub size: u64,
    pub mtime_ms: i64,
    pub etag: [u8; 16],
    /// 0 for a plain object (ETag = MD5), N for a multipart object (ETag = MD5 of MD5s "-N").
    pub parts_count: u16,
    pub loc: Location,
    pub meta: Option<Box<Meta>>,
}

/// A journal record. A frame holds one or more; a frame is atomic, so records that must take
/// effect together (complete = put + upload done) go in one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Put {
        key: Vec<u8>,
        entry: Entry,
    },
    Delete {
        key: Vec<u8>,
    },
    Packed {
        id: u64,
        stripe: Stripe,
    },
    /// `initiator`: the access key that started the upload (`anonymous` for an anonymous
    /// request); empty for uploads recorded before initiators were (tag 4), shown as the
    /// bucket's owner.
    UploadCreate {
        id: u64,
        key: Vec<u8>,
        initiated_ms: i64,
        meta: Option<Box<Meta>>,
        initiator: String,
    },
    UploadPart {
        id: u64,
        part: PartLoc,
    },
    UploadDone {
        id: u64,
    },
    /// `owner`: the access key that created the bucket; empty for buckets created before
    /// owners were recorded (tag 7), which every user may use.
    BucketCreate {
        name: String,
        ctime_ms: i64,
        owner: String,
    },
    BucketDelete {
        name: String,
    },
    /// A bucket's canned ACL (`proto::acl::CannedAcl::code`; 0 = private, the default of a
    /// bucket without this record). Core 0 only; for a bucket that does not exist, nothing.
    BucketAcl {
        name: String,
        acl: u8,
    },
    /// A bucket's tags (`BucketMeta::tags`), empty for none (DeleteBucketTagging). Core 0
    /// only; for a bucket that does not exist, nothing.
    BucketTags {
        name: String,
        tags: Vec<(String, String)>,
    },
    /// A bucket's CORS configuration (`BucketMeta::cors`), empty for none (DeleteBucketCors).
    /// Core 0 only; for a bucket that does not exist, nothing.
    BucketCors {
        name: String,
        cors: String,
    },
    /// An object's tags (`Meta::tags`), set by Put/DeleteObjectTagging without touching its
    /// data or its other metadata; for a key that does not exist, nothing.
    ObjectTags {
        key: Vec<u8>,
        tags: Vec<(String, String)>,
    },
    /// An object's canned ACL (`Meta::acl`), set by PutObjectAcl without touching its data or
    /// its other metadata; for a key that does not exist, nothing.
    ObjectAcl {
        key: Vec<u8>,
        acl: u8,
    },
    /// First record of a frame written *while* its batch's data was still being written and
    /// flushed (one device round trip per group commit instead of two). Recovery checks the
    /// new stripes of such a frame, if it is the last one, before replaying it
    /// (`docs/write-path.md`, `engine/verify.rs`). Changes nothing in the index.
    Unsynced,
    /// Staging-ring entries with a sequence below `next_seq` are in the journal (their data
    /// home and flushed); recovery replays ring entries from `next_seq` on, starting at ring
    /// offset `offset` (or 0, where the ring wrapped), whose frames carry `salt` as their
    /// generation (`engine/stage.rs`, `docs/write-path.md`). Written last in a destage frame
    /// and in every checkpoint.
    StageMark {
        next_seq: u64,
        offset: u64,
        salt: u64,
    },
}

mod tag {
    pub const PUT: u8 = 1;
    pub const DELETE: u8 = 2;
    pub const PACKED: u8 = 3;
    pub const UPLOAD_CREATE: u8 = 4;
    pub const UPLOAD_PART: u8 = 5;
    pub const UPLOAD_DONE: u8 = 6;
    pub const BUCKET_CREATE: u8 = 7;
    pub const BUCKET_DELETE: u8 = 8;
    /// BucketCreate with its owner (tag 7 is read still, as owner "").
    pub const BUCKET_CREATE_OWNED: u8 = 9;
    pub const UNSYNCED: u8 = 10;
    pub const BUCKET_ACL: u8 = 11;
    pub const STAGE_MARK: u8 = 12;
    pub const OBJECT_ACL: u8 = 13;
    /// UploadCreate with its initiator (tag 4 is written still when it has none).
    pub const UPLOAD_CREATE_BY: u8 = 14;
    pub const BUCKET_CORS: u8 = 15;
    pub const OBJECT_TAGS: u8 = 16;
    pub const BUCKET_TAGS: u8 = 17;
    /// `Meta` present byte: absent, present, present with a trailing ACL byte.
    pub const META_NONE: u8 = 0;
    pub const META: u8 = 1;
    pub const META_ACL: u8 = 2;
    /// `Meta` present byte: present with a trailing ACL byte and tags.
    pub const META_TAGS: u8 = 3;
    pub const LOC_EMPTY: u8 = 0;
    pub const LOC_PACKED: u8 = 1;
    pub const LOC_PARTS: u8 = 2;
}

fn put_stripe(w: &mut Writer, s: &Stripe) {
    w.u8(s.geometry.k);
    w.u8(s.geometry.m);
    w.u32(s.shard_len);
    w.u32(s.data_len);
    debug_assert_eq!(s.shards.len(), s.geometry.width());
    for shard in s.shards.iter() {
        w.u16(shard.dev);
        w.u64(shard.offset);
        w.u32(shard.crc);
    }
}

fn get_stripe(r: &mut Reader) -> Option<Stripe> {
    let geometry = Geometry::new(r.u8()?, r.u8()?)?;
    let shard_len = r.u32()?;
    let data_len = r.u32()?;
    if data_len as u64 > shard_len as u64 * geometry.k as u64 {
        return None;
    }
    let mut shards = Vec::with_capacity(geometry.width());
    for _ in 0..geometry.width() {
        shards.push(ShardLoc {
            dev: r.u16()?,
            offset: r.u64()?,
            crc: r.u32()?,
        });
    }
    Some(Stripe {
        geometry,
        shard_len,
        data_len,
        shards: shards.into(),
    })
}

fn put_part(w: &mut Writer, p: &PartLoc) {
    w.u32(p.number);
    w.u64(p.size);
    w.fixed(&p.etag);
    w.i64(p.mtime_ms);
    w.u32(p.stripes.len() as u32);
    for s in p.stripes.iter() {
        put_stripe(w, s);
    }
}

fn get_part(r: &mut Reader) -> Option<PartLoc> {
    let number = r.u32()?;
    let size = r.u64()?;
    let etag = r.array::<16>()?;
    let mtime_ms = r.i64()?;
    let count = r.u32()? as usize;
    // Each stripe takes at least 10 bytes: refuse counts the input cannot hold.
    let mut stripes = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        stripes.push(get_stripe(r)?);
    }
    Some(PartLoc {
        number,
        size,
        etag,
        mtime_ms,
        stripes: stripes.into(),
    })
}

fn put_meta(w: &mut Writer, meta: &Option<Box<Meta>>) {
    let Some(meta) = meta else {
        w.u8(tag::META_NONE);
        return;
    };
    // Metadata without an ACL or tags keeps the layout of format 1's `Meta` byte for byte.
    let present = if !meta.tags.is_empty() {
        tag::META_TAGS
    } else if meta.acl != 0 {
        tag::META_ACL
    } else {
        tag::META
    };
    w.u8(present);
    match &meta.content_type {
        Some(ct) => {
            w.u8(1);
            w.str(ct);
        }
        None => w.u8(0),
    }
    w.u32(meta.headers.len() as u32);
    for (name, value) in &meta.headers {
        w.str(name);
        w.str(value);
    }
    match &meta.checksum {
        Some((algo, value)) => {
            w.u8(1);
            w.str(algo);
            w.str(value);
        }
        None => w.u8(0),
    }
    if present != tag::META {
        w.u8(meta.acl);
    }
    if present == tag::META_TAGS {
        put_tags(w, &meta.tags);
    }
}

fn put_tags(w: &mut Writer, tags: &[(String, String)]) {
    debug_assert!(tags.len() <= u8::MAX as usize);
    w.u8(tags.len() as u8);
    for (key, value) in tags {
        w.str(key);
        w.str(value);
    }
}

fn get_tags(r: &mut Reader) -> Option<Vec<(String, String)>> {
    let count = r.u8()? as usize;
    let mut tags = Vec::with_capacity(count);
    for _ in 0..count {
        tags.push((r.string()?, r.string()?));
    }
    Some(tags)
}

fn get_meta(r: &mut Reader) -> Option<Option<Box<Meta>>> {
    let present = r.u8()?;
    match present {
        tag::META_NONE => return Some(None),
        tag::META | tag::META_ACL | tag::META_TAGS => {}
        _ => return None,
    }
    let content_type = if r.u8()? == 1 {
        Some(r.string()?)
    } else {
        None
    };
    let count = r.u32()? as usize;
    let mut headers = Vec::with_capacity(count.min(256));
    for _ in 0..count {
        headers.push((r.string()?, r.string()?));
    }
    let checksum = if r.u8()? == 1 {
        Some((r.string()?, r.string()?))
    } else {
        None
    };
    let acl = if present == tag::META { 0 } else { r.u8()? };
    let tags = if present == tag::META_TAGS {
        get_tags(r)?
    } else {
        Vec::new()
    };
    Some(Some(Box::new(Meta {
        content_type,
        headers,
        checksum,
        acl,
        tags,
    })))
}

fn put_entry(w: &mut Writer, e: &Entry) {
    w.u64(e.size);
    w.i64(e.mtime_ms);
    w.fixed(&e.etag);
    w.u16(e.parts_count);
    match &e.loc {
        Location::Empty => w.u8(tag::LOC_EMPTY),
        Location::Packed {
            stripe,
            offset,
            len,
            crc,
        } => {
            w.u8(tag::LOC_PACKED);
            w.u64(*stripe);
            w.u32(*offset);
            w.u32(*len);
            w.u32(*crc);
        }
        Location::Parts(parts) => {
            w.u8(tag::LOC_PARTS);
            w.u32(parts.len() as u32);
            for p in parts.iter() {
                put_part(w, p);
            }
        }
    }
    put_meta(w, &e.meta);
}

fn get_entry(r: &mut Reader) -> Option<Entry> {
    let size = r.u64()?;
    let mtime_ms = r.i64()?;
    let etag = r.array::<16>()?;
    let parts_count = r.u16()?;
    let loc = match r.u8()? {
        tag::LOC_EMPTY => Location::Empty,
        tag::LOC_PACKED => Location::Packed {
            stripe: r.u64()?,
            offset: r.u32()?,
            len: r.u32()?,
            crc: r.u32()?,
        },
        tag::LOC_PARTS => {
            let count = r.u32()? as usize;
            let mut parts = Vec::with_capacity(count.min(10_000));
            for _ in 0..count {
                parts.push(get_part(r)?);
            }
            Location::Parts(parts.into())
        }
        _ => return None,
    };
    let meta = get_meta(r)?;
    Some(Entry {
        size,
        mtime_ms,
        etag,
        parts_count,
        loc,
        meta,
    })
}

impl Record {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]); // length, patched below
        let mut w = Writer { out };
        match self {
            Record::Put { key, entry } => {
                w.u8(tag::PUT);
                w.bytes(key);
                put_entry(&mut w, entry);
            }
            Record::Delete { key } => {
                w.u8(tag::DELETE);
                w.bytes(key);
            }
            Record::Packed { id, stripe } => {
                w.u8(tag::PACKED);
                w.u64(*id);
                put_stripe(&mut w, stripe);
            }
            Record::UploadCreate {
                id,
                key,
                initiated_ms,
                meta,
                initiator,
            } => {
                w.u8(if initiator.is_empty() {
                    tag::UPLOAD_CREATE
                } else {
                    tag::UPLOAD_CREATE_BY
                });
                w.u64(*id);
                w.bytes(key);
                w.i64(*initiated_ms);
                put_meta(&mut w, meta);
                if !initiator.is_empty() {
                    w.str(initiator);
                }
            }
            Record::UploadPart { id, part } => {
                w.u8(tag::UPLOAD_PART);
                w.u64(*id);
                put_part(&mut w, part);
            }
            Record::UploadDone { id } => {
                w.u8(tag::UPLOAD_DONE);
                w.u64(*id);
            }
            Record::BucketCreate {
                name,
                ctime_ms,
                owner,
            } => {
                w.u8(tag::BUCKET_CREATE_OWNED);
                w.str(name);
                w.i64(*ctime_ms);
                w.str(owner);
            }
            Record::BucketDelete { name } => {
                w.u8(tag::BUCKET_DELETE);
                w.str(name);
            }
            Record::BucketAcl { name, acl } => {
                w.u8(tag::BUCKET_ACL);
                w.str(name);
                w.u8(*acl);
            }
            Record::BucketCors { name, cors } => {
                w.u8(tag::BUCKET_CORS);
                w.str(name);
                w.str(cors);
            }
            Record::BucketTags { name, tags } => {
                w.u8(tag::BUCKET_TAGS);
                w.str(name);
                put_tags(&mut w, tags);
            }
            Record::ObjectTags { key, tags } => {
                w.u8(tag::OBJECT_TAGS);
                w.bytes(key);
                put_tags(&mut w, tags);
            }
            Record::ObjectAcl { key, acl } => {
                w.u8(tag::OBJECT_ACL);
                w.bytes(key);
                w.u8(*acl);
            }
            Record::Unsynced => w.u8(tag::UNSYNCED),
            Record::StageMark {
                next_seq,
                offset,
                salt,
            } => {
                w.u8(tag::STAGE_MARK);
                w.u64(*next_seq);
                w.u64(*offset);
                w.u64(*salt);
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// Decodes one record from the front of `r`; `None` if the bytes are not a valid record.
    pub fn decode(r: &mut Reader) -> Option<Record> {
        let len = r.u32()? as usize;
        let body = r.take(len)?;
        let mut r = Reader::new(body);
        let code = r.u8()?;
        let record = match code {
            tag::PUT => Record::Put {
                key: r.bytes()?.to_vec(),
                entry: get_entry(&mut r)?,
            },
            tag::DELETE => Record::Delete {
                key: r.bytes()?.to_vec(),
            },
            tag::PACKED => Record::Packed {
                id: r.u64()?,
                stripe: get_stripe(&mut r)?,
            },
            tag::UPLOAD_CREATE | tag::UPLOAD_CREATE_BY => Record::UploadCreate {
                id: r.u64()?,
                key: r.bytes()?.to_vec(),
                initiated_ms: r.i64()?,
                meta: get_meta(&mut r)?,
                initiator: if code == tag::UPLOAD_CREATE_BY {
                    r.string()?
                } else {
                    String::new()
                },
            },
            tag::UPLOAD_PART => Record::UploadPart {
                id: r.u64()?,
                part: get_part(&mut r)?,
            },
            tag::UPLOAD_DONE => Record::UploadDone { id: r.u64()? },
            tag::BUCKET_CREATE => Record::BucketCreate {
                name: r.string()?,
                ctime_ms: r.i64()?,
                owner: String::new(),
            },
            tag::BUCKET_CREATE_OWNED => Record::BucketCreate {
                name: r.string()?,
                ctime_ms: r.i64()?,
                owner: r.string()?,
            },
            tag::BUCKET_DELETE => Record::BucketDelete { name: r.string()? },
            tag::BUCKET_ACL => Record::BucketAcl {
                name: r.string()?,
                acl: r.u8()?,
            },
            tag::BUCKET_CORS => Record::BucketCors {
                name: r.string()?,
                cors: r.string()?,
            },
            tag::BUCKET_TAGS => Record::BucketTags {
                name: r.string()?,
                tags: get_tags(&mut r)?,
            },
            tag::OBJECT_TAGS => Record::ObjectTags {
                key: r.bytes()?.to_vec(),
                tags: get_tags(&mut r)?,
            },
            tag::OBJECT_ACL => Record::ObjectAcl {
                key: r.bytes()?.to_vec(),
                acl: r.u8()?,
            },
            tag::UNSYNCED => Record::Unsynced,
            tag::STAGE_MARK => Record::StageMark {
                next_seq: r.u64()?,
                offset: r.u64()?,
                salt: r.u64()?,
            },
            _ => return None,
        };
        r.is_empty().then_some(record)
    }
}

/// Decodes a whole payload (a frame's or a checkpoint's) into records.
pub fn decode_records(payload: &[u8]) -> Option<Vec<Record>> {
    let mut r = Reader::new(payload);
    let mut records = Vec::new();
    while !r.is_empty() {
        records.push(Record::decode(&mut r)?);
    }
    Some(records)
}

/// Builds one journal frame: a 32-byte header then the payload, zero-padded to `block` bytes.
/// Header: magic u32, version u16, reserved u16, generation u64, sequence u64,
/// payload length u32, CRC-32C u32 over header bytes 0..28 and the payload.
pub fn encode_frame(
    generation: u64,
    sequence: u64,
    payload: &[u8],
    block: usize,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.resize(start + framed_len(payload.len(), block), 0);
    write_frame(generation, sequence, &[payload], &mut out[start..]);
}

/// Bytes a frame with a payload of `payload_len` occupies: header and payload, padded.
pub fn framed_len(payload_len: usize, block: usize) -> usize {
    (FRAME_HEADER_BYTES + payload_len).div_ceil(block) * block
}

/// Writes one frame (as `encode_frame`) whose payload is `parts` one after the other into
/// `out`, which must be exactly `framed_len` of the payload long; the padding is zeroed.
pub fn write_frame(generation: u64, sequence: u64, parts: &[&[u8]], out: &mut [u8]) {
    let payload_len: usize = parts.iter().map(|p| p.len()).sum();
    assert!(out.len() >= FRAME_HEADER_BYTES + payload_len);
    let (header, rest) = out.split_at_mut(FRAME_HEADER_BYTES);
    header[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    header[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[6..8].copy_from_slice(&0u16.to_le_bytes());
    header[8..16].copy_from_slice(&generation.to_le_bytes());
    header[16..24].copy_from_slice(&sequence.to_le_bytes());
    header[24..28].copy_from_slice(&(payload_len as u32).to_le_bytes());
    let mut crc = crc32c::crc32c(&header[..28]);
    let mut at = 0;
    for part in parts {
        rest[at..at + part.len()].copy_from_slice(part);
        crc = crc32c::crc32c_append(crc, part);
        at += part.len();
    }
    rest[at..].fill(0);
    header[28..32].copy_from_slice(&crc.to_le_bytes());
}

/// What a frame header says, once checked against the bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub generation: u64,
    pub sequence: u64,
    pub payload: &'a [u8],
    /// Bytes the frame occupies on disk (header + payload, padded to the block).
    pub padded_len: usize,
}

/// Checks the frame at the start of `buf`. `None` means "the journal ends here": a torn or
/// never-written frame, or a frame from another generation.
pub fn decode_frame(buf: &[u8], generation: u64, sequence: u64, block: usize) -> Option<Frame<'_>> {
    let header = buf.get(..FRAME_HEADER_BYTES)?;
    let mut r = Reader::new(header);
    if r.u32()? != FRAME_MAGIC || r.u16()? != FORMAT_VERSION {
        return None;
    }
    r.u16()?;
    let frame_generation = r.u64()?;
    let frame_sequence = r.u64()?;
    let len = r.u32()? as usize;
    let crc = r.u32()?;
    if frame_generation != generation || frame_sequence != sequence {
        return None;
    }
    let payload = buf.get(FRAME_HEADER_BYTES..FRAME_HEADER_BYTES.checked_add(len)?)?;
    if crc32c::crc32c_append(crc32c::crc32c(&header[..28]), payload) != crc {
        return None;
    }
    let padded_len = (FRAME_HEADER_BYTES + len).div_ceil(block) * block;
    Some(Frame {
        generation,
        sequence,
        payload,
        padded_len,
    })
}

/// Bytes a frame needs before its payload is known complete (used to size reads).
pub fn frame_payload_len(buf: &[u8]) -> Option<usize> {
    let len = buf.get(24..28)?;
    Some(u32::from_le_bytes(len.try_into().ok()?) as usize)
}

/// Checkpoint file: magic u32, version u16, reserved u16, generation u64, payload length u64,
/// CRC-32C u32 of the payload, then the payload (records that rebuild the state).
pub fn encode_checkpoint(generation: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHECKPOINT_HEADER_BYTES + payload.len());
    out.extend_from_slice(&CHECKPOINT_MAGIC.to_le_bytes());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    debug_assert_eq!(out.len(), CHECKPOINT_HEADER_BYTES);
    out.extend_from_slice(payload);
    out
}

/// Returns (generation, payload) of a checkpoint file that checks out.
pub fn decode_checkpoint(buf: &[u8]) -> Option<(u64, &[u8])> {
    let mut r = Reader::new(buf);
    if r.u32()? != CHECKPOINT_MAGIC || r.u16()? != FORMAT_VERSION {
        return None;
    }
    r.u16()?;
    let generation = r.u64()?;
    let len = usize::try_from(r.u64()?).ok()?;
    let crc = r.u32()?;
    let payload = r.take(len)?;
    (crc32c::crc32c(payload) == crc && r.is_empty()).then_some((generation, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_records() -> Vec<Record> {
        let stripe = Stripe {
            geometry: Geometry::new(4, 2).unwrap(),
            shard_len: 4096,
            data_len: 10_000,
            shards: (0..6)
                .map(|i| ShardLoc {
                    dev: i,
                    offset: 4096 * i as u64,
                    crc: 7 + i as u32,
                })
                .collect(),
        };
        let part = PartLoc {
            number: 3,
            size: 10_000,
            etag: [9; 16],
            mtime_ms: 5,
            stripes: vec![stripe.clone()].into(),
        };
        let meta = Some(Box::new(Meta {
            content_type: Some("text/plain".into()),
            headers: vec![("x-amz-meta-a".into(), "b".into())],
            checksum: Some(("x-amz-checksum-crc32".into(), "AAAAAA==".into())),
            acl: 0,
            tags: Vec::new(),
        }));
        let shared = Some(Box::new(Meta {
            acl: 1,
            ..Meta::default()
        }));
        let tagged = Some(Box::new(Meta {
            content_type: Some("a/b".into()),
            tags: vec![
                ("env".into(), "prod".into()),
                ("empty".into(), String::new()),
            ],
            ..Meta::default()
        }));
        vec![
            Record::Put {
                key: b"bucket\0key/1".to_vec(),
                entry: Entry {
                    size: 10_000,
                    mtime_ms: 1,
                    etag: [1; 16],
                    parts_count: 0,
                    loc: Location::Parts(vec![part.clone()].into()),
                    meta: meta.clone(),
                },
            },
            Record::Put {
                key: b"b\0small".to_vec(),
                entry: Entry {
                    size: 5,
                    mtime_ms: 2,
                    etag: [2; 16],
                    parts_count: 0,
                    loc: Location::Packed {
                        stripe: 4,
                        offset: 8,
                        len: 5,
                        crc: 99,
                    },
                    meta: None,
                },
            },
            Record::Put {
                key: b"b\0empty".to_vec(),
                entry: Entry {
                    size: 0,
                    mtime_ms: 2,
                    etag: [3; 16],
                    parts_count: 2,
                    loc: Location::Empty,
                    meta: shared,
                },
            },
            Record::ObjectAcl {
                key: b"b\0empty".to_vec(),
                acl: 3,
            },
            Record::Put {
                key: b"b\0tagged".to_vec(),
                entry: Entry {
                    size: 0,
                    mtime_ms: 9,
                    etag: [5; 16],
                    parts_count: 0,
                    loc: Location::Empty,
                    meta: tagged,
                },
            },
            Record::ObjectTags {
                key: b"b\0tagged".to_vec(),
                tags: vec![("k".into(), "v".into())],
            },
            Record::ObjectTags {
                key: b"b\0tagged".to_vec(),
                tags: Vec::new(),
            },
            Record::Delete {
                key: b"b\0gone".to_vec(),
            },
            Record::Packed { id: 4, stripe },
            Record::UploadCreate {
                id: 77,
                key: b"b\0mp".to_vec(),
                initiated_ms: 3,
                meta,
                initiator: String::new(),
            },
            Record::UploadCreate {
                id: 78,
                key: b"b\0mp2".to_vec(),
                initiated_ms: 4,
                meta: None,
                initiator: "ALTKEY".into(),
            },
            Record::UploadPart { id: 77, part },
            Record::UploadDone { id: 77 },
            Record::BucketCreate {
                name: "bucket".into(),
                ctime_ms: 4,
                owner: "AKIDEXAMPLE".into(),
            },
            Record::BucketDelete {
                name: "bucket".into(),
            },
            Record::BucketAcl {
                name: "bucket".into(),
                acl: 2,
            },
            Record::BucketCors {
                name: "bucket".into(),
                cors: "<CORSConfiguration/>".into(),
            },
            Record::BucketCors {
                name: "bucket".into(),
                cors: String::new(),
            },
            Record::BucketTags {
                name: "bucket".into(),
                tags: vec![("cost-center".into(), "42".into())],
            },
            Record::BucketTags {
                name: "bucket".into(),
                tags: Vec::new(),
            },
            Record::Unsynced,
        ]
    }

    #[test]
    fn bucket_acl_record_bytes() {
        // u32 body length, tag 11, name (u32 length + bytes), acl u8.
        let mut payload = Vec::new();
        Record::BucketAcl {
            name: "pub".into(),
            acl: 1,
        }
        .encode(&mut payload);
        let mut want = 9u32.to_le_bytes().to_vec();
        want.push(11);
        want.extend_from_slice(&3u32.to_le_bytes());
        want.extend_from_slice(b"pub");
        want.push(1);
        assert_eq!(payload, want);
        assert_eq!(
            decode_records(&payload).unwrap(),
            vec![Record::BucketAcl {
                name: "pub".into(),
                acl: 1
            }]
        );
        // A truncated body or trailing bytes are not a record.
        let mut long = payload.clone();
        long[0] += 1;
        long.push(0);
        assert!(decode_records(&long).is_none());
    }

    #[test]
    fn an_old_bucket_record_reads_as_a_bucket_without_owner() {
        // Tag 7, as written before owners: u32 body length, tag, name, ctime.
        let mut body = vec![7u8];
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(b"old");
        body.extend_from_slice(&42i64.to_le_bytes());
        let mut payload = (body.len() as u32).to_le_bytes().to_vec();
        payload.extend_from_slice(&body);
        assert_eq!(
            decode_records(&payload).unwrap(),
            vec![Record::BucketCreate {
                name: "old".into(),
                ctime_ms: 42,
                owner: String::new(),
            }]
        );
    }

    #[test]
    fn records_round_trip() {
        let records = sample_records();
        let mut payload = Vec::new();
        for r in &records {
            r.encode(&mut payload);
        }
        assert_eq!(decode_records(&payload).unwrap(), records);
        // Any strict prefix is not a valid record sequence (no silent partial decode),
        // unless it ends exactly on a record boundary.
        let mut boundaries = vec![0];
        let mut one = Vec::new();
        for r in &records {
            r.encode(&mut one);
            boundaries.push(one.len());
        }
        for cut in 0..payload.len() {
            let decoded = decode_records(&payload[..cut]);
            assert_eq!(decoded.is_some(), boundaries.contains(&cut), "cut {cut}");
        }
    }

    #[test]
    fn frames_stop_at_torn_tail() {
        let mut journal = Vec::new();
        for seq in 0..3u64 {
            let mut payload = Vec::new();
            Record::Delete {
                key: vec![seq as u8; 100],
            }
            .encode(&mut payload);
            encode_frame(7, seq, &payload, 4096, &mut journal);
        }
        assert_eq!(journal.len(), 3 * 4096);
        let mut seq = 0;
        let mut pos = 0;
        while let Some(frame) = decode_frame(&journal[pos..], 7, seq, 4096) {
            pos += frame.padded_len;
            seq += 1;
        }
        assert_eq!(seq, 3);
        // Tear the last frame: replay stops after two.
        journal[2 * 4096 + 40] ^= 1;
        let (mut seq, mut pos) = (0, 0);
        while let Some(frame) = decode_frame(&journal[pos..], 7, seq, 4096) {
            pos += frame.padded_len;
            seq += 1;
        }
        assert_eq!(seq, 2);
        // A frame from another generation or out of sequence ends the journal.
        assert!(decode_frame(&journal, 8, 0, 4096).is_none());
        assert!(decode_frame(&journal, 7, 1, 4096).is_none());
        // Zeroes (never written) end it too.
        assert!(decode_frame(&[0u8; 4096], 7, 0, 4096).is_none());
    }

    #[test]
    fn checkpoint_round_trip_and_corruption() {
        let mut payload = Vec::new();
        for r in sample_records() {
            r.encode(&mut payload);
        }
        let mut file = encode_checkpoint(5, &payload);
        assert_eq!(decode_checkpoint(&file), Some((5, payload.as_slice())));
        file[40] ^= 0x10;
        assert_eq!(decode_checkpoint(&file), None);
        assert_eq!(decode_checkpoint(&file[..10]), None);
    }
}
