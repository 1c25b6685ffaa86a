//! The per-core index: objects, packed stripes, multipart uploads and (on core 0, durably)
//! buckets, as plain ordered maps. Pure: no I/O.
//!
//! The index changes only by `apply(record)`, both live (after the record's frame is durable)
//! and at recovery (replaying checkpoint and journal), so live state and recovered state are
//! the same function of the journal. `apply` returns the extents that became unreferenced;
//! the store frees them (after readers that might still use them are done).
//!
//! Keys are `bucket ++ 0x00 ++ key`: bucket names never contain NUL, so byte order of the
//! composite is the `(bucket, key)` order S3 lists in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use super::format::{Entry, Location, Meta, PartLoc, Record, Stripe, DEV_MISSING};

/// One shard extent: device, byte offset, byte length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Extent {
    pub dev: u16,
    pub offset: u64,
    pub len: u64,
}

#[derive(Clone, Debug)]
pub struct PackedStripe {
    pub stripe: Stripe,
    /// Objects still pointing into the stripe; at zero its extents are freed.
    pub objects: u32,
    pub live_bytes: u64,
}

#[derive(Clone, Debug)]
pub struct Upload {
    pub key: Box<[u8]>,
    pub initiated_ms: i64,
    pub meta: Option<Box<Meta>>,
    /// Who started it (`Record::UploadCreate`); empty: the bucket's owner.
    pub initiator: Box<str>,
    pub parts: BTreeMap<u32, PartLoc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListItem {
    Object {
        key: Vec<u8>,
        size: u64,
        etag: [u8; 16],
        parts_count: u16,
        mtime_ms: i64,
    },
    Prefix(Vec<u8>),
}

impl ListItem {
    /// The bytes this item sorts by (object key or common prefix, without the bucket).
    pub fn sort_key(&self) -> &[u8] {
        match self {
            ListItem::Object { key, .. } => key,
            ListItem::Prefix(p) => p,
        }
    }
}

/// A bucket in the registry: when it was created and by whom (an access key; empty for a
/// bucket created before owners were recorded, which every user may use), its canned ACL
/// (`proto::acl::CannedAcl::code`, 0 = private), and its CORS configuration (the XML
/// PutBucketCors stored, as `proto::xml::cors_configuration` wrote it; the engine does not
/// read it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketMeta {
    pub ctime_ms: i64,
    pub owner: String,
    pub acl: u8,
    pub cors: Option<std::sync::Arc<str>>,
    /// The bucket's tags (PutBucketTagging; validated, sorted by key).
    pub tags: Vec<(String, String)>,
}

#[derive(Default)]
pub struct Index {
    pub objects: BTreeMap<Box<[u8]>, Entry>,
    pub packed: HashMap<u64, PackedStripe>,
    pub uploads: BTreeMap<u64, Upload>,
    pub buckets: BTreeMap<String, BucketMeta>,
    /// Bytes of object keys held (for the memory-per-object figure).
    pub key_bytes: u64,
    /// Where recovery resumes the staging ring: the last `Record::StageMark`.
    pub stage: StageMarkState,
}

/// The last `Record::StageMark` applied: first ring sequence not yet in the journal, the ring
/// offset it was to be written at, and the salt the ring's frames carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageMarkState {
    pub next_seq: u64,
    pub offset: u64,
    pub salt: u64,
}

impl StageMarkState {
    pub fn into_record(self) -> Record {
        Record::StageMark {
            next_seq: self.next_seq,
            offset: self.offset,
            salt: self.salt,
        }
    }
}

pub fn composite_key(bucket: &str, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bucket.len() + 1 + key.len());
    out.extend_from_slice(bucket.as_bytes());
    out.push(0);
    out.extend_from_slice(key);
    out
}

/// Splits a composite key back into (bucket, key).
pub fn split_key(composite: &[u8]) -> Option<(&str, &[u8])> {
    let nul = composite.iter().position(|&b| b == 0)?;
    let bucket = std::str::from_utf8(&composite[..nul]).ok()?;
    Some((bucket, &composite[nul + 1..]))
}

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// if there is none (prefix all 0xFF).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

pub fn stripe_extents(stripe: &Stripe, out: &mut Vec<Extent>) {
    for shard in stripe.shards.iter() {
        if shard.dev != DEV_MISSING {
            out.push(Extent {
                dev: shard.dev,
                offset: shard.offset,
                len: stripe.shard_len as u64,
            });
        }
    }
}

pub fn part_extents(part: &PartLoc, out: &mut Vec<Extent>) {
    for stripe in part.stripes.iter() {
        stripe_extents(stripe, out);
    }
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// Changes one field of an existing object's metadata (nothing for a missing key); the
    /// metadata is dropped again when nothing is left in it.
    fn set_meta(&mut self, key: &[u8], change: impl FnOnce(&mut Meta)) {
        if let Some(entry) = self.objects.get_mut(key) {
            let meta = entry.meta.get_or_insert_with(Box::default);
            change(meta);
            if **meta == Meta::default() {
                entry.meta = None;
            }
        }
    }

    /// Applies one durable record. Returns the extents no longer referenced.
    pub fn apply(&mut self, record: Record) -> Vec<Extent> {
        let mut freed = Vec::new();
        match record {
            Record::Put { key, entry } => {
                if let Location::Packed { stripe, len, .. } = entry.loc {
                    let packed = self
                        .packed
                        .get_mut(&stripe)
                        .expect("packed stripe precedes its objects");
                    packed.objects += 1;
                    packed.live_bytes += len as u64;
                }
                let key_len = key.len() as u64;
                if let Some(old) = self.objects.insert(key.into_boxed_slice(), entry) {
                    self.release(&old.loc, &mut freed);
                } else {
                    self.key_bytes += key_len;
                }
            }
            Record::Delete { key } => {
                if let Some(old) = self.objects.remove(key.as_slice()) {
                    self.key_bytes -= key.len() as u64;
                    self.release(&old.loc, &mut freed);
                }
            }
            Record::Packed { id, stripe } => {
                let previous = self.packed.insert(
                    id,
                    PackedStripe {
                        stripe,
                        objects: 0,
                        live_bytes: 0,
                    },
                );
                assert!(previous.is_none(), "packed stripe id {id} reused");
            }
            Record::UploadCreate {
                id,
                key,
                initiated_ms,
                meta,
                initiator,
            } => {
                self.uploads.insert(
                    id,
                    Upload {
                        key: key.into(),
                        initiated_ms,
                        meta,
                        initiator: initiator.into(),
                        parts: BTreeMap::new(),
                    },
                );
            }
            Record::UploadPart { id, part } => {
                if let Some(upload) = self.uploads.get_mut(&id) {
                    if let Some(old) = upload.parts.insert(part.number, part) {
                        part_extents(&old, &mut freed);
                    }
                } else {
                    // The upload was aborted while this part was being written.
                    part_extents(&part, &mut freed);
                }
            }
            Record::UploadDone { id } => {
                if let Some(upload) = self.uploads.remove(&id) {
                    self.release_upload(upload, &mut freed);
                }
            }
            Record::BucketCreate {
                name,
                ctime_ms,
                owner,
            } => {
                self.buckets.entry(name).or_insert(BucketMeta {
                    ctime_ms,
                    owner,
                    acl: 0,
                    cors: None,
                    tags: Vec::new(),
                });
            }
            Record::ObjectAcl { key, acl } => {
                self.set_meta(&key, |meta| meta.acl = acl);
            }
            Record::ObjectTags { key, tags } => {
                self.set_meta(&key, |meta| meta.tags = tags);
            }
            Record::BucketAcl { name, acl } => {
                if let Some(bucket) = self.buckets.get_mut(&name) {
                    bucket.acl = acl;
                }
            }
            Record::BucketTags { name, tags } => {
                if let Some(bucket) = self.buckets.get_mut(&name) {
                    bucket.tags = tags;
                }
            }
            Record::BucketCors { name, cors } => {
                if let Some(bucket) = self.buckets.get_mut(&name) {
                    bucket.cors = (!cors.is_empty()).then(|| cors.into());
                }
            }
            Record::BucketDelete { name } => {
                self.buckets.remove(&name);
            }
            Record::Unsynced => {}
            Record::StageMark {
                next_seq,
                offset,
                salt,
            } => {
                self.stage = StageMarkState {
                    next_seq,
                    offset,
                    salt,
                };
            }
        }
        freed
    }

    fn release(&mut self, loc: &Location, freed: &mut Vec<Extent>) {
        match loc {
            Location::Empty => {}
            Location::Packed { stripe, len, .. } => {
                let packed = self
                    .packed
                    .get_mut(stripe)
                    .expect("object's packed stripe exists");
                assert!(packed.objects > 0);
                packed.objects -= 1;
                packed.live_bytes -= *len as u64;
                if packed.objects == 0 {
                    let packed = self.packed.remove(stripe).expect("present");
                    stripe_extents(&packed.stripe, freed);
                }
            }
            Location::Parts(parts) => {
                for part in parts.iter() {
                    part_extents(part, freed);
                }
            }
        }
    }

    /// Frees the parts of a finished upload that its completed object does not use.
    fn release_upload(&mut self, upload: Upload, freed: &mut Vec<Extent>) {
        let mut kept = HashSet::new();
        if let Some(Entry {
            loc: Location::Parts(parts),
            ..
        }) = self.objects.get(&upload.key)
        {
            for part in parts.iter() {
                let mut extents = Vec::new();
                part_extents(part, &mut extents);
                kept.extend(extents);
            }
        }
        for part in upload.parts.values() {
            let mut extents = Vec::new();
            part_extents(part, &mut extents);
            freed.extend(extents.into_iter().filter(|e| !kept.contains(e)));
        }
    }

    /// Every extent referenced by the index (to rebuild allocators at recovery).
    pub fn used_extents(&self) -> Vec<Extent> {
        let mut out = Vec::new();
        for entry in self.objects.values() {
            if let Location::Parts(parts) = &entry.loc {
                for part in parts.iter() {
                    part_extents(part, &mut out);
                }
            }
        }
        for packed in self.packed.values() {
            stripe_extents(&packed.stripe, &mut out);
        }
        for upload in self.uploads.values() {
            for part in upload.parts.values() {
                part_extents(part, &mut out);
            }
        }
        out
    }

    /// Packed stripes that no object uses (left by a crash between seal and put, or by
    /// objects whose put failed its precondition): to be dropped at recovery.
    pub fn orphan_packed(&self) -> Vec<u64> {
        self.packed
            .iter()
            .filter(|(_, p)| p.objects == 0)
            .map(|(&id, _)| id)
            .collect()
    }

    pub fn bucket_has_content(&self, bucket: &str) -> bool {
        let start = composite_key(bucket, b"");
        let in_bucket = |k: &[u8]| k.starts_with(&start);
        self.objects
            .range::<[u8], _>((Bound::Included(start.as_slice()), Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| in_bucket(k))
            || self.uploads.values().any(|u| in_bucket(&u.key))
    }

    /// Lists up to `limit` items of `bucket` whose keys start with `prefix`, strictly after
    /// `after` (a key, or a common prefix when it contains the delimiter past `prefix`),
    /// rolling keys up into common prefixes at the first `delimiter` after `prefix`.
    pub fn list(
        &self,
        bucket: &str,
        prefix: &[u8],
        after: Option<&[u8]>,
        delimiter: Option<&[u8]>,
        limit: usize,
    ) -> Vec<ListItem> {
        let base = composite_key(bucket, b"");
        let full_prefix = composite_key(bucket, prefix);
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let mut start: Bound<Vec<u8>> = Bound::Included(full_prefix.clone());
        if let Some(after) = after {
            let after_full = composite_key(bucket, after);
            if after_full >= full_prefix {
                start = match delimiter.and_then(|d| rolled_prefix(after, prefix, d)) {
                    Some(cp) if cp.len() == after.len() => {
                        match prefix_successor(&composite_key(bucket, &cp)) {
                            Some(s) => Bound::Included(s),
                            None => return Vec::new(),
                        }
                    }
                    _ => Bound::Excluded(after_full),
                };
            }
        }
        // One ordered walk; it seeks again only to jump past a rolled-up common prefix.
        let mut items = Vec::new();
        let mut cursor = start;
        loop {
            let mut reseek = None;
            let range = (cursor.as_ref().map(|v| v.as_slice()), Bound::Unbounded);
            for (key, entry) in self.objects.range::<[u8], _>(range) {
                if items.len() >= limit || !key.starts_with(&full_prefix) {
                    return items;
                }
                let user_key = &key[base.len()..];
                if let Some(cp) = delimiter.and_then(|d| rolled_prefix(user_key, prefix, d)) {
                    let next = prefix_successor(&composite_key(bucket, &cp));
                    items.push(ListItem::Prefix(cp));
                    match next {
                        Some(next) => {
                            reseek = Some(next);
                            break;
                        }
                        None => return items,
                    }
                }
                items.push(ListItem::Object {
                    key: user_key.to_vec(),
                    size: entry.size,
                    etag: entry.etag,
                    parts_count: entry.parts_count,
                    mtime_ms: entry.mtime_ms,
                });
            }
            match reseek {
                Some(next) => cursor = Bound::Included(next),
                None => return items,
            }
        }
    }
}

/// If `key` (which starts with `prefix`) has `delimiter` after the prefix, the common prefix
/// up to and including the delimiter.
pub fn rolled_prefix(key: &[u8], prefix: &[u8], delimiter: &[u8]) -> Option<Vec<u8>> {
    let rest = key.strip_prefix(prefix)?;
    let pos = rest.windows(delimiter.len()).position(|w| w == delimiter)?;
    Some(key[..prefix.len() + pos + delimiter.len()].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::erasure::Geometry;
    use crate::engine::format::ShardLoc;
    use std::rc::Rc;

    fn entry(size: u64, loc: Location) -> Entry {
        Entry {
            size,
            mtime_ms: 1,
            etag: [0; 16],
            parts_count: 0,
            loc,
            meta: None,
        }
    }

    fn stripe(offset: u64) -> Stripe {
        Stripe {
            geometry: Geometry::new(1, 1).unwrap(),
            shard_len: 4096,
            data_len: 4096,
            shards: vec![
                ShardLoc {
                    dev: 0,
                    offset,
                    crc: 0,
                },
                ShardLoc {
                    dev: 1,
                    offset,
                    crc: 0,
                },
            ]
            .into(),
        }
    }

    fn put(index: &mut Index, key: &str) -> Vec<Extent> {
        index.apply(Record::Put {
            key: composite_key("b", key.as_bytes()),
            entry: entry(1, Location::Empty),
        })
    }

    fn names(items: &[ListItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                ListItem::Object { key, .. } => String::from_utf8_lossy(key).into_owned(),
                ListItem::Prefix(p) => format!("P:{}", String::from_utf8_lossy(p)),
            })
            .collect()
    }

    #[test]
    fn listing_with_prefix_delimiter_and_markers() {
        let mut index = Index::new();
        for k in ["a", "a/1", "a/2", "b/c/d", "b/x", "c", "d/", "d/e"] {
            put(&mut index, k);
        }
        index.apply(Record::Put {
            key: composite_key("other", b"zzz"),
            entry: entry(1, Location::Empty),
        });
        let all = index.list("b", b"", None, None, 100);
        assert_eq!(
            names(&all),
            ["a", "a/1", "a/2", "b/c/d", "b/x", "c", "d/", "d/e"]
        );
        let rolled = index.list("b", b"", None, Some(b"/"), 100);
        assert_eq!(names(&rolled), ["a", "P:a/", "P:b/", "c", "P:d/"]);
        let under_b = index.list("b", b"b/", None, Some(b"/"), 100);
        assert_eq!(names(&under_b), ["P:b/c/", "b/x"]);
        // Resume after a common prefix skips everything under it.
        let page = index.list("b", b"", Some(b"a/"), Some(b"/"), 2);
        assert_eq!(names(&page), ["P:b/", "c"]);
        // Resume after a key.
        let page = index.list("b", b"", Some(b"a/1"), None, 2);
        assert_eq!(names(&page), ["a/2", "b/c/d"]);
        assert!(index.list("b", b"zz", None, None, 10).is_empty());
        assert!(index.bucket_has_content("other"));
        assert!(!index.bucket_has_content("nope"));
    }

    #[test]
    fn overwrite_and_delete_free_extents() {
        let mut index = Index::new();
        let part = PartLoc {
            number: 1,
            size: 4096,
            etag: [0; 16],
            mtime_ms: 0,
            stripes: vec![stripe(0)].into(),
        };
        let key = composite_key("b", b"k");
        index.apply(Record::Put {
            key: key.clone(),
            entry: entry(4096, Location::Parts(Rc::from(vec![part]))),
        });
        assert_eq!(index.used_extents().len(), 2);
        let freed = index.apply(Record::Put {
            key: key.clone(),
            entry: entry(0, Location::Empty),
        });
        assert_eq!(freed.len(), 2);
        assert!(index.used_extents().is_empty());
        // Packed: freed only when the last object goes.
        index.apply(Record::Packed {
            id: 1,
            stripe: stripe(8192),
        });
        let loc = |off| Location::Packed {
            stripe: 1,
            offset: off,
            len: 10,
            crc: 0,
        };
        index.apply(Record::Put {
            key: composite_key("b", b"p1"),
            entry: entry(10, loc(0)),
        });
        index.apply(Record::Put {
            key: composite_key("b", b"p2"),
            entry: entry(10, loc(10)),
        });
        assert!(index
            .apply(Record::Delete {
                key: composite_key("b", b"p1")
            })
            .is_empty());
        assert_eq!(
            index
                .apply(Record::Delete {
                    key: composite_key("b", b"p2")
                })
                .len(),
            2
        );
        assert!(index.packed.is_empty());
        assert_eq!(index.key_bytes, key.len() as u64);
    }

    #[test]
    fn complete_keeps_used_parts_and_frees_the_rest() {
        let mut index = Index::new();
        let key = composite_key("b", b"mp");
        index.apply(Record::UploadCreate {
            id: 9,
            key: key.clone(),
            initiated_ms: 0,
            meta: None,
            initiator: String::new(),
        });
        let p = |n, off| PartLoc {
            number: n,
            size: 4096,
            etag: [n as u8; 16],
            mtime_ms: 0,
            stripes: vec![stripe(off)].into(),
        };
        index.apply(Record::UploadPart {
            id: 9,
            part: p(1, 0),
        });
        index.apply(Record::UploadPart {
            id: 9,
            part: p(2, 4096),
        });
        // Re-uploading part 2 frees its first version.
        assert_eq!(
            index
                .apply(Record::UploadPart {
                    id: 9,
                    part: p(2, 8192)
                })
                .len(),
            2
        );
        index.apply(Record::Put {
            key: key.clone(),
            entry: entry(4096, Location::Parts(Rc::from(vec![p(1, 0)]))),
        });
        let freed = index.apply(Record::UploadDone { id: 9 });
        assert_eq!(
            freed,
            vec![
                Extent {
                    dev: 0,
                    offset: 8192,
                    len: 4096
                },
                Extent {
                    dev: 1,
                    offset: 8192,
                    len: 4096
                }
            ]
        );
        assert!(index.uploads.is_empty());
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
    }

    #[test]
    fn bucket_acl_sets_an_existing_bucket_only_and_survives_a_checkpoint() {
        let mut index = Index::default();
        index.apply(Record::BucketAcl {
            name: "early".into(),
            acl: 1,
        });
        assert!(index.buckets.is_empty(), "an ACL creates no bucket");
        for name in ["a", "b"] {
            index.apply(Record::BucketCreate {
                name: name.into(),
                ctime_ms: 5,
                owner: "AK".into(),
            });
        }
        assert_eq!(index.buckets["a"].acl, 0, "private by default");
        index.apply(Record::BucketAcl {
            name: "a".into(),
            acl: 2,
        });
        assert_eq!(index.buckets["a"].acl, 2);
        // A checkpoint rebuilds the same registry, ACLs included.
        let payload = crate::engine::store::checkpoint_payload(&index);
        let mut rebuilt = Index::default();
        for record in crate::engine::format::decode_records(&payload).unwrap() {
            rebuilt.apply(record);
        }
        assert_eq!(rebuilt.buckets, index.buckets);
        // Deleting and re-creating the bucket starts private again.
        index.apply(Record::BucketDelete { name: "a".into() });
        index.apply(Record::BucketCreate {
            name: "a".into(),
            ctime_ms: 6,
            owner: "AK".into(),
        });
        assert_eq!(index.buckets["a"].acl, 0);
    }

    #[test]
    fn bucket_cors_and_tags_set_and_clear_an_existing_bucket_only_and_survive_a_checkpoint() {
        let mut index = Index::default();
        let rules = "<CORSConfiguration><CORSRule/></CORSConfiguration>";
        index.apply(Record::BucketCors {
            name: "early".into(),
            cors: rules.into(),
        });
        assert!(index.buckets.is_empty(), "CORS rules create no bucket");
        for name in ["a", "b"] {
            index.apply(Record::BucketCreate {
                name: name.into(),
                ctime_ms: 5,
                owner: "AK".into(),
            });
        }
        assert_eq!(index.buckets["a"].cors, None);
        index.apply(Record::BucketCors {
            name: "a".into(),
            cors: rules.into(),
        });
        assert_eq!(index.buckets["a"].cors.as_deref(), Some(rules));
        assert_eq!(index.buckets["b"].cors, None);
        index.apply(Record::BucketTags {
            name: "b".into(),
            tags: vec![("k".into(), "v".into())],
        });
        assert_eq!(
            index.buckets["b"].tags,
            vec![("k".to_string(), "v".to_string())]
        );
        let payload = crate::engine::store::checkpoint_payload(&index);
        let mut rebuilt = Index::default();
        for record in crate::engine::format::decode_records(&payload).unwrap() {
            rebuilt.apply(record);
        }
        assert_eq!(rebuilt.buckets, index.buckets);
        index.apply(Record::BucketCors {
            name: "a".into(),
            cors: String::new(),
        });
        assert_eq!(index.buckets["a"].cors, None, "empty rules: none");
        index.apply(Record::BucketTags {
            name: "b".into(),
            tags: Vec::new(),
        });
        assert!(index.buckets["b"].tags.is_empty());
    }

    #[test]
    fn object_acl_changes_only_the_acl_of_an_existing_object_and_survives_a_checkpoint() {
        let mut index = Index::default();
        let key = composite_key("b", b"k");
        index.apply(Record::ObjectAcl {
            key: key.clone(),
            acl: 1,
        });
        assert!(index.objects.is_empty(), "an ACL creates no object");
        let entry = |meta: Option<Box<Meta>>| Entry {
            size: 0,
            mtime_ms: 7,
            etag: [4; 16],
            parts_count: 0,
            loc: Location::Empty,
            meta,
        };
        index.apply(Record::Put {
            key: key.clone(),
            entry: entry(None),
        });
        index.apply(Record::ObjectAcl {
            key: key.clone(),
            acl: 3,
        });
        let stored = index.objects[key.as_slice()].clone();
        assert_eq!(stored.meta.as_ref().map(|m| m.acl), Some(3));
        assert_eq!(
            (stored.mtime_ms, stored.etag),
            (7, [4; 16]),
            "data and dates unchanged"
        );
        let payload = crate::engine::store::checkpoint_payload(&index);
        let mut rebuilt = Index::default();
        for record in crate::engine::format::decode_records(&payload).unwrap() {
            rebuilt.apply(record);
        }
        assert_eq!(rebuilt.objects[key.as_slice()], stored);
        // Back to private: metadata that holds nothing else is dropped again.
        index.apply(Record::ObjectAcl {
            key: key.clone(),
            acl: 0,
        });
        assert_eq!(index.objects[key.as_slice()].meta, None);
        // Other metadata stays when the ACL changes.
        let meta = Meta {
            content_type: Some("text/plain".into()),
            ..Meta::default()
        };
        index.apply(Record::Put {
            key: key.clone(),
            entry: entry(Some(Box::new(meta.clone()))),
        });
        index.apply(Record::ObjectAcl {
            key: key.clone(),
            acl: 1,
        });
        let got = index.objects[key.as_slice()].meta.clone().unwrap();
        assert_eq!((got.content_type, got.acl), (meta.content_type, 1));
    }
}
