//! S3's XML documents: the response bodies Tessera writes and the request bodies it parses.
//!
//! Owns: the element names, order and namespace (`http://s3.amazonaws.com/doc/2006-03-01/`)
//! of every XML shape the supported operations use, the `encoding-type=url` key encoding, and
//! the size limits on parsed bodies.
//!
//! Must not: do I/O, look up objects, or decide policy beyond the shape of a document (for
//! example whether a listed part exists is the handler's business, not the parser's).
//!
//! Invariants:
//! - every writer escapes every caller-supplied string with [`xml_escape_into`], so the output
//!   is well-formed whatever the keys hold; ETags are written quoted (`"hex"`) as S3 does;
//! - every parser answers `MalformedXML` (or the specific S3 code named on it) for any input it
//!   does not accept, never panics, and bounds its work: the body by a byte limit, nesting by
//!   [`XML_DEPTH_MAX`], text per element by [`XML_TEXT_MAX_BYTES`], parts by
//!   [`COMPLETE_PARTS_MAX`] and keys by [`DELETE_KEYS_MAX`];
//! - parsers match elements by local name, so documents with the S3 namespace, another
//!   namespace, a prefix, or none at all are read alike (SDKs differ here; S3 is lenient too).
//!
//! Timestamps are passed in already formatted as ISO 8601 (`2009-10-12T17:50:30.000Z`).

use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;

use crate::proto::error::{xml_escape_into, S3Error, S3ErrorCode};

/// The S3 XML namespace, on the root element of every response.
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// S3's maximum number of parts in one multipart upload.
pub const COMPLETE_PARTS_MAX: usize = 10_000;
/// S3's maximum number of keys in one DeleteObjects request.
pub const DELETE_KEYS_MAX: usize = 1_000;
/// Largest CompleteMultipartUpload body accepted: 10,000 parts with ETags and checksums fit.
pub const COMPLETE_BODY_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Largest DeleteObjects body accepted: 1,000 keys of 1,024 bytes each, even entity-escaped.
pub const DELETE_BODY_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Largest CreateBucket body accepted.
pub const CREATE_BUCKET_BODY_MAX_BYTES: usize = 64 * 1024;
/// Deepest element nesting accepted in a request body (S3's shapes need three levels).
pub const XML_DEPTH_MAX: usize = 16;
/// Most text accepted in one element, after entity decoding (keys are at most 1,024 bytes).
pub const XML_TEXT_MAX_BYTES: usize = 4096;

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
const STORAGE_CLASS: &str = "STANDARD";

// ---------------------------------------------------------------------------------------------
// Writers
// ---------------------------------------------------------------------------------------------

/// The owner of a bucket, object or upload, as `<Owner>`/`<Initiator>` show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner<'a> {
    pub id: &'a str,
    pub display_name: &'a str,
}

/// One object in a ListObjects(V2) response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectEntry<'a> {
    pub key: &'a str,
    /// ISO 8601, e.g. `2009-10-12T17:50:30.000Z`.
    pub last_modified: &'a str,
    /// Without quotes (`hex` or `hex-N`); written quoted.
    pub etag: &'a str,
    pub size: u64,
}

/// A ListObjects (version 1) response. `<Marker>` and `<Prefix>` are always written (empty
/// when the request had none); `<NextMarker>` only when `next_marker` is `Some` (S3 sends it
/// when a truncated listing used a delimiter); `<Delimiter>` only when the request had one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListObjectsV1<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub marker: &'a str,
    pub next_marker: Option<&'a str>,
    pub max_keys: u32,
    pub delimiter: Option<&'a str>,
    pub is_truncated: bool,
    /// `encoding-type=url` was requested: Key, Delimiter, Marker, NextMarker and the common
    /// prefixes are written with [`s3_url_encode`] (Prefix is echoed as given), and
    /// `<EncodingType>url` is added.
    pub encoding_url: bool,
    pub contents: &'a [ObjectEntry<'a>],
    pub common_prefixes: &'a [&'a str],
    /// Written in every `<Contents>` when `Some` (version 1 always shows the owner).
    pub owner: Option<Owner<'a>>,
}

/// A ListObjectsV2 response. `<KeyCount>` is computed (contents plus common prefixes).
/// `<ContinuationToken>` and `<StartAfter>` echo the request when it had them;
/// `<NextContinuationToken>` is written when `Some` (a truncated listing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListObjectsV2<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub continuation_token: Option<&'a str>,
    pub next_continuation_token: Option<&'a str>,
    pub start_after: Option<&'a str>,
    pub max_keys: u32,
    pub delimiter: Option<&'a str>,
    pub is_truncated: bool,
    /// `encoding-type=url`: Key, Prefix, Delimiter, StartAfter and the common prefixes are
    /// URL-encoded; continuation tokens are opaque and never are.
    pub encoding_url: bool,
    pub contents: &'a [ObjectEntry<'a>],
    pub common_prefixes: &'a [&'a str],
    /// `Some` only when the request said `fetch-owner=true`.
    pub owner: Option<Owner<'a>>,
}

/// A ListObjectVersions response for a bucket that was never versioned: every object is its
/// own only version, `null`, and the latest; there are no delete markers. Markers are echoed
/// (empty when absent); `<NextKeyMarker>`/`<NextVersionIdMarker>` are written when `Some`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListVersions<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub key_marker: &'a str,
    pub version_id_marker: &'a str,
    pub next_key_marker: Option<&'a str>,
    pub next_version_id_marker: Option<&'a str>,
    pub max_keys: u32,
    pub delimiter: Option<&'a str>,
    pub is_truncated: bool,
    /// `encoding-type=url`: Key, Prefix, Delimiter, KeyMarker, NextKeyMarker and the common
    /// prefixes are URL-encoded (SDKs decode all of them in this listing).
    pub encoding_url: bool,
    pub versions: &'a [ObjectEntry<'a>],
    pub common_prefixes: &'a [&'a str],
    pub owner: Owner<'a>,
}

/// One part in a ListParts response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartEntry<'a> {
    pub part_number: u32,
    /// ISO 8601.
    pub last_modified: &'a str,
    /// Without quotes; written quoted.
    pub etag: &'a str,
    pub size: u64,
}

/// A ListParts response. `part_number_marker` is 0 when the request had none;
/// `next_part_number_marker` is the last part listed (0 when none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListParts<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub upload_id: &'a str,
    pub part_number_marker: u32,
    pub next_part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    pub parts: &'a [PartEntry<'a>],
    pub initiator: Owner<'a>,
    pub owner: Owner<'a>,
}

/// One in-progress upload in a ListMultipartUploads response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadEntry<'a> {
    pub key: &'a str,
    pub upload_id: &'a str,
    /// ISO 8601.
    pub initiated: &'a str,
    /// Who started it: its `<Initiator>` and `<Owner>`.
    pub initiator: Owner<'a>,
}

/// A ListMultipartUploads response. Markers are written always (empty when absent);
/// `<Delimiter>` only when the request had one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListUploads<'a> {
    pub bucket: &'a str,
    pub key_marker: &'a str,
    pub upload_id_marker: &'a str,
    pub next_key_marker: &'a str,
    pub next_upload_id_marker: &'a str,
    pub max_uploads: u32,
    pub is_truncated: bool,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// `encoding-type=url`: Key, Prefix, Delimiter, KeyMarker, NextKeyMarker and the common
    /// prefixes are URL-encoded.
    pub encoding_url: bool,
    pub uploads: &'a [UploadEntry<'a>],
    pub common_prefixes: &'a [&'a str],
}

/// A response under construction: `<?xml?>` and the root with the S3 namespace.
struct Doc {
    out: String,
}

impl Doc {
    fn new(root: &str) -> Doc {
        let mut out = String::with_capacity(512);
        out.push_str(XML_DECL);
        out.push('<');
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(S3_XMLNS);
        out.push_str("\">");
        Doc { out }
    }

    fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>text</name>`, text escaped.
    fn text(&mut self, name: &str, text: &str) {
        self.open(name);
        xml_escape_into(&mut self.out, text);
        self.close(name);
    }

    /// Like [`Doc::text`], URL-encoding first when `encode` (for `encoding-type=url`).
    fn maybe_encoded(&mut self, name: &str, text: &str, encode: bool) {
        if encode {
            self.text(name, &s3_url_encode(text));
        } else {
            self.text(name, text);
        }
    }

    fn number(&mut self, name: &str, value: impl std::fmt::Display) {
        self.open(name);
        self.out.push_str(&value.to_string());
        self.close(name);
    }

    fn boolean(&mut self, name: &str, value: bool) {
        self.text(name, if value { "true" } else { "false" });
    }

    /// `<ETag>"hex"</ETag>`: quoted, as S3 writes it (escaped to `&quot;`).
    fn etag(&mut self, etag: &str) {
        self.text("ETag", &quote_etag(etag));
    }

    fn owner(&mut self, name: &str, owner: &Owner<'_>) {
        self.open(name);
        self.text("ID", owner.id);
        self.text("DisplayName", owner.display_name);
        self.close(name);
    }

    fn common_prefixes(&mut self, prefixes: &[&str], encode: bool) {
        for prefix in prefixes {
            self.open("CommonPrefixes");
            self.maybe_encoded("Prefix", prefix, encode);
            self.close("CommonPrefixes");
        }
    }

    fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

/// Wraps an ETag in double quotes, unless the caller already did.
fn quote_etag(etag: &str) -> String {
    if etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"') {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

/// S3's `encoding-type=url` encoding: ASCII letters, digits and `-_.*/` stay, every other byte
/// of the UTF-8 is `%XX` (upper-case hex), a space included. AWS itself writes a space as `+`;
/// `%20` is chosen because it decodes to a space under both decoders clients use — form
/// decoding (`unquote_plus` in boto3, Go's `QueryUnescape`) and plain percent decoding — while
/// `+` is a space only under the first. A literal `+` is always `%2B`. (s3-tests expects `%20`.)
pub fn s3_url_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char)
            }
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0x0f)] as char);
            }
        }
    }
    out
}

/// ListBuckets: `buckets` are `(name, creation date as ISO 8601)`.
pub fn list_buckets<N: AsRef<str>, D: AsRef<str>>(
    owner_id: &str,
    owner_name: &str,
    buckets: &[(N, D)],
) -> String {
    let root = "ListAllMyBucketsResult";
    let mut doc = Doc::new(root);
    doc.owner(
        "Owner",
        &Owner {
            id: owner_id,
            display_name: owner_name,
        },
    );
    doc.open("Buckets");
    for (name, created) in buckets {
        doc.open("Bucket");
        doc.text("Name", name.as_ref());
        doc.text("CreationDate", created.as_ref());
        doc.close("Bucket");
    }
    doc.close("Buckets");
    doc.finish(root)
}

fn object_contents(
    doc: &mut Doc,
    entries: &[ObjectEntry<'_>],
    owner: Option<&Owner<'_>>,
    encode: bool,
) {
    for entry in entries {
        doc.open("Contents");
        doc.maybe_encoded("Key", entry.key, encode);
        doc.text("LastModified", entry.last_modified);
        doc.etag(entry.etag);
        doc.number("Size", entry.size);
        if let Some(owner) = owner {
            doc.owner("Owner", owner);
        }
        doc.text("StorageClass", STORAGE_CLASS);
        doc.close("Contents");
    }
}

/// ListObjects (version 1): `ListBucketResult`.
pub fn list_objects_v1(list: &ListObjectsV1<'_>) -> String {
    let root = "ListBucketResult";
    let encode = list.encoding_url;
    let mut doc = Doc::new(root);
    doc.text("Name", list.bucket);
    // Version 1 echoes the prefix as given even under `encoding-type=url`: SDKs decode
    // Marker, NextMarker, Delimiter, keys and common prefixes of a V1 listing, not its Prefix.
    doc.text("Prefix", list.prefix);
    doc.maybe_encoded("Marker", list.marker, encode);
    if let Some(next) = list.next_marker {
        doc.maybe_encoded("NextMarker", next, encode);
    }
    doc.number("MaxKeys", list.max_keys);
    if let Some(delimiter) = list.delimiter {
        doc.maybe_encoded("Delimiter", delimiter, encode);
    }
    doc.boolean("IsTruncated", list.is_truncated);
    if encode {
        doc.text("EncodingType", "url");
    }
    object_contents(&mut doc, list.contents, list.owner.as_ref(), encode);
    doc.common_prefixes(list.common_prefixes, encode);
    doc.finish(root)
}

/// ListObjectsV2: `ListBucketResult` with `KeyCount` and continuation tokens.
pub fn list_objects_v2(list: &ListObjectsV2<'_>) -> String {
    let root = "ListBucketResult";
    let encode = list.encoding_url;
    let mut doc = Doc::new(root);
    doc.text("Name", list.bucket);
    doc.maybe_encoded("Prefix", list.prefix, encode);
    if let Some(token) = list.continuation_token {
        doc.text("ContinuationToken", token);
    }
    if let Some(token) = list.next_continuation_token {
        doc.text("NextContinuationToken", token);
    }
    if let Some(start_after) = list.start_after {
        doc.maybe_encoded("StartAfter", start_after, encode);
    }
    doc.number("KeyCount", list.contents.len() + list.common_prefixes.len());
    doc.number("MaxKeys", list.max_keys);
    if let Some(delimiter) = list.delimiter {
        doc.maybe_encoded("Delimiter", delimiter, encode);
    }
    doc.boolean("IsTruncated", list.is_truncated);
    if encode {
        doc.text("EncodingType", "url");
    }
    object_contents(&mut doc, list.contents, list.owner.as_ref(), encode);
    doc.common_prefixes(list.common_prefixes, encode);
    doc.finish(root)
}

/// ListObjectVersions: `ListVersionsResult`, each object as version `null`.
pub fn list_object_versions(list: &ListVersions<'_>) -> String {
    let root = "ListVersionsResult";
    let encode = list.encoding_url;
    let mut doc = Doc::new(root);
    doc.text("Name", list.bucket);
    doc.maybe_encoded("Prefix", list.prefix, encode);
    doc.maybe_encoded("KeyMarker", list.key_marker, encode);
    doc.text("VersionIdMarker", list.version_id_marker);
    if let Some(next) = list.next_key_marker {
        doc.maybe_encoded("NextKeyMarker", next, encode);
    }
    if let Some(next) = list.next_version_id_marker {
        doc.text("NextVersionIdMarker", next);
    }
    doc.number("MaxKeys", list.max_keys);
    if let Some(delimiter) = list.delimiter {
        doc.maybe_encoded("Delimiter", delimiter, encode);
    }
    doc.boolean("IsTruncated", list.is_truncated);
    if encode {
        doc.text("EncodingType", "url");
    }
    for entry in list.versions {
        doc.open("Version");
        doc.maybe_encoded("Key", entry.key, encode);
        doc.text("VersionId", "null");
        doc.boolean("IsLatest", true);
        doc.text("LastModified", entry.last_modified);
        doc.etag(entry.etag);
        doc.number("Size", entry.size);
        doc.text("StorageClass", STORAGE_CLASS);
        doc.owner("Owner", &list.owner);
        doc.close("Version");
    }
    doc.common_prefixes(list.common_prefixes, encode);
    doc.finish(root)
}

/// CreateMultipartUpload: `InitiateMultipartUploadResult`.
pub fn initiate_multipart_upload(bucket: &str, key: &str, upload_id: &str) -> String {
    let root = "InitiateMultipartUploadResult";
    let mut doc = Doc::new(root);
    doc.text("Bucket", bucket);
    doc.text("Key", key);
    doc.text("UploadId", upload_id);
    doc.finish(root)
}

/// CompleteMultipartUpload: `CompleteMultipartUploadResult`. `etag` unquoted (`hex-N`).
pub fn complete_multipart_upload(location: &str, bucket: &str, key: &str, etag: &str) -> String {
    complete_multipart_upload_with_checksums(location, bucket, key, etag, &[])
}

/// Like [`complete_multipart_upload`], also echoing checksums as
/// `(element name, value)`, e.g. `("ChecksumCRC32", "AAAAAA==-3")`.
pub fn complete_multipart_upload_with_checksums(
    location: &str,
    bucket: &str,
    key: &str,
    etag: &str,
    checksums: &[(&str, &str)],
) -> String {
    let root = "CompleteMultipartUploadResult";
    let mut doc = Doc::new(root);
    doc.text("Location", location);
    doc.text("Bucket", bucket);
    doc.text("Key", key);
    doc.etag(etag);
    for (name, value) in checksums {
        if is_checksum_element(name) {
            doc.text(name, value);
        }
    }
    doc.finish(root)
}

/// ListParts: `ListPartsResult`.
pub fn list_parts(list: &ListParts<'_>) -> String {
    let root = "ListPartsResult";
    let mut doc = Doc::new(root);
    doc.text("Bucket", list.bucket);
    doc.text("Key", list.key);
    doc.text("UploadId", list.upload_id);
    doc.owner("Initiator", &list.initiator);
    doc.owner("Owner", &list.owner);
    doc.text("StorageClass", STORAGE_CLASS);
    doc.number("PartNumberMarker", list.part_number_marker);
    doc.number("NextPartNumberMarker", list.next_part_number_marker);
    doc.number("MaxParts", list.max_parts);
    doc.boolean("IsTruncated", list.is_truncated);
    for part in list.parts {
        doc.open("Part");
        doc.number("PartNumber", part.part_number);
        doc.text("LastModified", part.last_modified);
        doc.etag(part.etag);
        doc.number("Size", part.size);
        doc.close("Part");
    }
    doc.finish(root)
}

/// ListMultipartUploads: `ListMultipartUploadsResult`.
pub fn list_multipart_uploads(list: &ListUploads<'_>) -> String {
    let root = "ListMultipartUploadsResult";
    let encode = list.encoding_url;
    let mut doc = Doc::new(root);
    doc.text("Bucket", list.bucket);
    doc.maybe_encoded("KeyMarker", list.key_marker, encode);
    doc.text("UploadIdMarker", list.upload_id_marker);
    doc.maybe_encoded("NextKeyMarker", list.next_key_marker, encode);
    doc.text("NextUploadIdMarker", list.next_upload_id_marker);
    if let Some(delimiter) = list.delimiter {
        doc.maybe_encoded("Delimiter", delimiter, encode);
    }
    doc.maybe_encoded("Prefix", list.prefix, encode);
    doc.number("MaxUploads", list.max_uploads);
    doc.boolean("IsTruncated", list.is_truncated);
    if encode {
        doc.text("EncodingType", "url");
    }
    for upload in list.uploads {
        doc.open("Upload");
        doc.maybe_encoded("Key", upload.key, encode);
        doc.text("UploadId", upload.upload_id);
        doc.owner("Initiator", &upload.initiator);
        doc.owner("Owner", &upload.initiator);
        doc.text("StorageClass", STORAGE_CLASS);
        doc.text("Initiated", upload.initiated);
        doc.close("Upload");
    }
    doc.common_prefixes(list.common_prefixes, encode);
    doc.finish(root)
}

/// DeleteObjects: `DeleteResult`. `deleted` are keys; `errors` are `(key, code, message)`.
/// In quiet mode the caller passes no `deleted` keys (S3 then reports only errors).
pub fn delete_result<K, E, C, M>(deleted: &[K], errors: &[(E, C, M)]) -> String
where
    K: AsRef<str>,
    E: AsRef<str>,
    C: AsRef<str>,
    M: AsRef<str>,
{
    let root = "DeleteResult";
    let mut doc = Doc::new(root);
    for key in deleted {
        doc.open("Deleted");
        doc.text("Key", key.as_ref());
        doc.close("Deleted");
    }
    for (key, code, message) in errors {
        doc.open("Error");
        doc.text("Key", key.as_ref());
        doc.text("Code", code.as_ref());
        doc.text("Message", message.as_ref());
        doc.close("Error");
    }
    doc.finish(root)
}

/// CopyObject: `CopyObjectResult`. `etag` unquoted; `last_modified` ISO 8601.
pub fn copy_object_result(etag: &str, last_modified: &str) -> String {
    copy_result("CopyObjectResult", etag, last_modified)
}

/// UploadPartCopy: `CopyPartResult`. `etag` unquoted; `last_modified` ISO 8601.
pub fn copy_part_result(etag: &str, last_modified: &str) -> String {
    copy_result("CopyPartResult", etag, last_modified)
}

fn copy_result(root: &str, etag: &str, last_modified: &str) -> String {
    let mut doc = Doc::new(root);
    doc.text("LastModified", last_modified);
    doc.etag(etag);
    doc.finish(root)
}

/// GetBucketLocation: `LocationConstraint`, an empty element for `us-east-1` (or no region),
/// as S3 answers for buckets in the classic region.
pub fn location_constraint(region: &str) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(XML_DECL);
    out.push_str("<LocationConstraint xmlns=\"");
    out.push_str(S3_XMLNS);
    if region.is_empty() || region == "us-east-1" {
        out.push_str("\"/>");
    } else {
        out.push_str("\">");
        xml_escape_into(&mut out, region);
        out.push_str("</LocationConstraint>");
    }
    out
}

/// GetBucketAcl / GetObjectAcl: an `AccessControlPolicy` with `owner` and `grants`.
pub fn access_control_policy(owner: &Owner<'_>, grants: &[crate::proto::acl::Grant]) -> String {
    use crate::proto::acl::Grantee;
    let root = "AccessControlPolicy";
    let mut doc = Doc::new(root);
    doc.owner("Owner", owner);
    doc.open("AccessControlList");
    for grant in grants {
        doc.open("Grant");
        let kind = match &grant.grantee {
            Grantee::User(_) => "CanonicalUser",
            Grantee::Group(_) => "Group",
            Grantee::Email(_) => "AmazonCustomerByEmail",
        };
        doc.out.push_str(
            "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"",
        );
        doc.out.push_str(kind);
        doc.out.push_str("\">");
        match &grant.grantee {
            Grantee::User(id) => {
                doc.text("ID", id);
                // Tessera's users have no other name than their access key.
                doc.text("DisplayName", id);
            }
            Grantee::Group(uri) => doc.text("URI", uri),
            Grantee::Email(address) => doc.text("EmailAddress", address),
        }
        doc.close("Grantee");
        doc.text("Permission", grant.permission.as_str());
        doc.close("Grant");
    }
    doc.close("AccessControlList");
    doc.finish(root)
}

/// GetObjectTagging: the object's tags (none: an empty `TagSet`).
pub fn tagging(tags: &[(String, String)]) -> String {
    let root = "Tagging";
    let mut doc = Doc::new(root);
    doc.open("TagSet");
    for (key, value) in tags {
        doc.open("Tag");
        doc.text("Key", key);
        doc.text("Value", value);
        doc.close("Tag");
    }
    doc.close("TagSet");
    doc.finish(root)
}

/// GetBucketCors: the bucket's `CORSConfiguration` (also the form it is stored in).
pub fn cors_configuration(config: &crate::proto::cors::CorsConfig) -> String {
    let root = "CORSConfiguration";
    let mut doc = Doc::new(root);
    for rule in &config.rules {
        doc.open("CORSRule");
        if let Some(id) = &rule.id {
            doc.text("ID", id);
        }
        for (name, values) in [
            ("AllowedHeader", &rule.allowed_headers),
            ("AllowedMethod", &rule.allowed_methods),
            ("AllowedOrigin", &rule.allowed_origins),
            ("ExposeHeader", &rule.expose_headers),
        ] {
            for value in values {
                doc.text(name, value);
            }
        }
        if let Some(age) = rule.max_age_seconds {
            doc.text("MaxAgeSeconds", &age.to_string());
        }
        doc.close("CORSRule");
    }
    doc.finish(root)
}

// ---------------------------------------------------------------------------------------------
// Parsers
// ---------------------------------------------------------------------------------------------

/// One `<Part>` of a CompleteMultipartUpload body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// Without surrounding quotes or whitespace.
    pub etag: String,
    /// Every `<Checksum*>` child as `(element name, trimmed value)`, e.g.
    /// `("ChecksumCRC32", "AAAAAA==")`, in document order.
    pub checksums: Vec<(String, String)>,
}

/// A DeleteObjects body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteRequest {
    pub quiet: bool,
    /// Keys exactly as sent (not trimmed; may be empty, which the handler reports per key).
    /// `<VersionId>` (and the conditional `<ETag>`, `<LastModifiedTime>`, `<Size>`) are
    /// accepted and ignored: Tessera has no versioning.
    pub keys: Vec<String>,
}

fn malformed() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML)
}

/// Parses a CompleteMultipartUpload body.
///
/// Errors: `MaxMessageLengthExceeded` for a body over [`COMPLETE_BODY_MAX_BYTES`];
/// `MalformedXML` for bad XML, another root, a `<Part>` without a numeric `<PartNumber>` or
/// without `<ETag>`, no parts at all (as S3), or more than [`COMPLETE_PARTS_MAX`];
/// `InvalidArgument` for a part number outside 1..=10000; `InvalidPartOrder` when part numbers
/// are not strictly ascending (S3's rule; this also rejects duplicates).
pub fn parse_complete_multipart(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    check_body_len(body, COMPLETE_BODY_MAX_BYTES)?;
    let mut walker = Walker::new(body);
    walker.expect_root("CompleteMultipartUpload")?;
    let mut parts: Vec<CompletedPart> = Vec::new();
    let mut current: Option<PartBuilder> = None;
    while let Some(step) = walker.next()? {
        match step {
            Step::Open => {
                if walker.at(&["CompleteMultipartUpload", "Part"]) {
                    if parts.len() == COMPLETE_PARTS_MAX {
                        return Err(malformed());
                    }
                    current = Some(PartBuilder::default());
                }
            }
            Step::Close(text) => {
                if walker.at(&["CompleteMultipartUpload", "Part"]) {
                    let part = current.take().ok_or_else(malformed)?.finish()?;
                    if parts
                        .last()
                        .is_some_and(|p| p.part_number >= part.part_number)
                    {
                        return Err(S3Error::new(S3ErrorCode::InvalidPartOrder));
                    }
                    parts.push(part);
                } else if let Some(part) = current.as_mut() {
                    if walker.depth() == 3 {
                        part.field(walker.name(), text)?;
                    }
                }
            }
        }
    }
    if parts.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}

#[derive(Default)]
struct PartBuilder {
    part_number: Option<String>,
    etag: Option<String>,
    checksums: Vec<(String, String)>,
}

impl PartBuilder {
    fn field(&mut self, name: &str, text: String) -> Result<(), S3Error> {
        match name {
            "PartNumber" => set_once(&mut self.part_number, text),
            "ETag" => set_once(&mut self.etag, text),
            _ if is_checksum_element(name) => {
                self.checksums
                    .push((name.to_string(), text.trim().to_string()));
                Ok(())
            }
            // Unknown children are ignored, so newer SDK fields do not break uploads.
            _ => Ok(()),
        }
    }

    fn finish(self) -> Result<CompletedPart, S3Error> {
        let number = self.part_number.ok_or_else(malformed)?;
        let number = number.trim();
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let part_number = number.parse::<u32>().unwrap_or(u32::MAX);
        if part_number == 0 || part_number as usize > COMPLETE_PARTS_MAX {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            ));
        }
        let etag = self.etag.ok_or_else(malformed)?;
        let etag = etag.trim();
        let etag = etag
            .strip_prefix('"')
            .and_then(|e| e.strip_suffix('"'))
            .unwrap_or(etag);
        Ok(CompletedPart {
            part_number,
            etag: etag.to_string(),
            checksums: self.checksums,
        })
    }
}

fn is_checksum_element(name: &str) -> bool {
    name.len() > "Checksum".len()
        && name.starts_with("Checksum")
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn set_once(slot: &mut Option<String>, text: String) -> Result<(), S3Error> {
    if slot.is_some() {
        return Err(malformed());
    }
    *slot = Some(text);
    Ok(())
}

/// Parses a DeleteObjects body.
///
/// Errors: `MaxMessageLengthExceeded` over [`DELETE_BODY_MAX_BYTES`]; `MalformedXML` for bad
/// XML, another root, an `<Object>` without exactly one `<Key>`, a `<Quiet>` other than
/// `true`/`false`, no objects (as S3), or more than [`DELETE_KEYS_MAX`].
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    check_body_len(body, DELETE_BODY_MAX_BYTES)?;
    let mut walker = Walker::new(body);
    walker.expect_root("Delete")?;
    let mut request = DeleteRequest {
        quiet: false,
        keys: Vec::new(),
    };
    let mut key: Option<String> = None;
    while let Some(step) = walker.next()? {
        match step {
            Step::Open => {
                if walker.at(&["Delete", "Object"]) {
                    if request.keys.len() == DELETE_KEYS_MAX {
                        return Err(malformed());
                    }
                    key = None;
                }
            }
            Step::Close(text) => {
                if walker.at(&["Delete", "Quiet"]) {
                    request.quiet = parse_bool(&text)?;
                } else if walker.at(&["Delete", "Object", "Key"]) {
                    set_once(&mut key, text)?;
                } else if walker.at(&["Delete", "Object"]) {
                    request.keys.push(key.take().ok_or_else(malformed)?);
                }
            }
        }
    }
    if request.keys.is_empty() {
        return Err(malformed());
    }
    Ok(request)
}

/// Largest `Tagging` document (10 tags of 128 + 256 characters fit several times over).
pub const TAGGING_BODY_MAX_BYTES: usize = 64 * 1024;

/// Parses a `Tagging` document (PutObjectTagging's body, a form's `tagging` field) into
/// `(key, value)` pairs in document order, unvalidated (`proto::tagging::validate`).
/// Errors: `MaxMessageLengthExceeded` over [`TAGGING_BODY_MAX_BYTES`]; `MalformedXML` for
/// bad XML, another root or element, or a `Tag` without exactly one `Key` (a missing `Value`
/// is an empty one).
pub fn parse_tagging(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    check_body_len(body, TAGGING_BODY_MAX_BYTES)?;
    let mut walker = Walker::new(body);
    walker.expect_root("Tagging")?;
    let mut tags = Vec::new();
    let (mut key, mut value): (Option<String>, Option<String>) = (None, None);
    while let Some(step) = walker.next()? {
        match step {
            Step::Open => {
                if walker.at(&["Tagging", "TagSet", "Tag"]) {
                    if tags.len() > crate::proto::tagging::BUCKET_TAGS_MAX {
                        return Err(S3Error::with_message(
                            S3ErrorCode::InvalidTag,
                            "A tag set holds at most 50 tags",
                        ));
                    }
                    (key, value) = (None, None);
                } else if !(walker.at(&["Tagging", "TagSet"])
                    || walker.at(&["Tagging", "TagSet", "Tag", "Key"])
                    || walker.at(&["Tagging", "TagSet", "Tag", "Value"]))
                {
                    return Err(malformed());
                }
            }
            Step::Close(text) => {
                if walker.at(&["Tagging", "TagSet", "Tag", "Key"]) {
                    set_once(&mut key, text)?;
                } else if walker.at(&["Tagging", "TagSet", "Tag", "Value"]) {
                    set_once(&mut value, text)?;
                } else if walker.at(&["Tagging", "TagSet", "Tag"]) {
                    tags.push((
                        key.take().ok_or_else(malformed)?,
                        value.take().unwrap_or_default(),
                    ));
                }
            }
        }
    }
    Ok(tags)
}

/// Parses a PutBucketCors body (`CORSConfiguration` of `CORSRule`s) and validates it
/// (`CorsConfig::validate`). Errors: `MaxMessageLengthExceeded` over
/// `cors::CORS_BODY_MAX_BYTES`; `MalformedXML` for bad XML, another root, an unknown element
/// in a rule, a repeated `ID` or `MaxAgeSeconds`, or a `MaxAgeSeconds` that is no number.
pub fn parse_cors_configuration(body: &[u8]) -> Result<crate::proto::cors::CorsConfig, S3Error> {
    use crate::proto::cors::{CorsConfig, CorsRule, CORS_BODY_MAX_BYTES, CORS_RULES_MAX};
    check_body_len(body, CORS_BODY_MAX_BYTES)?;
    let mut walker = Walker::new(body);
    walker.expect_root("CORSConfiguration")?;
    let mut config = CorsConfig::default();
    let mut rule = CorsRule::default();
    let mut max_age: Option<String> = None;
    while let Some(step) = walker.next()? {
        match step {
            Step::Open => {
                if walker.at(&["CORSConfiguration", "CORSRule"]) {
                    if config.rules.len() == CORS_RULES_MAX {
                        return Err(malformed());
                    }
                    rule = CorsRule::default();
                    max_age = None;
                } else if walker.depth() == 2 || walker.depth() > 3 {
                    return Err(malformed());
                }
            }
            Step::Close(text) => {
                if walker.depth() == 3 {
                    let value = text.trim().to_string();
                    match walker.name() {
                        "ID" => {
                            let mut id = rule.id.take();
                            set_once(&mut id, value)?;
                            rule.id = id;
                        }
                        "AllowedOrigin" => rule.allowed_origins.push(value),
                        "AllowedMethod" => rule.allowed_methods.push(value),
                        "AllowedHeader" => rule.allowed_headers.push(value),
                        "ExposeHeader" => rule.expose_headers.push(value),
                        "MaxAgeSeconds" => set_once(&mut max_age, value)?,
                        _ => return Err(malformed()),
                    }
                } else if walker.at(&["CORSConfiguration", "CORSRule"]) {
                    rule.max_age_seconds = match max_age.take() {
                        Some(age) => Some(age.parse().map_err(|_| malformed())?),
                        None => None,
                    };
                    config.rules.push(std::mem::take(&mut rule));
                }
            }
        }
    }
    config.validate()?;
    Ok(config)
}

fn parse_bool(text: &str) -> Result<bool, S3Error> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(malformed())
    }
}

/// Parses a CreateBucket body: `Ok(None)` for an empty (or all-whitespace) body or an empty
/// `<LocationConstraint>`, else the trimmed region. Other children (`<Location>`, `<Bucket>`,
/// `<Tags>`, ...) are ignored.
///
/// Errors: `MaxMessageLengthExceeded` over [`CREATE_BUCKET_BODY_MAX_BYTES`]; `MalformedXML`
/// for bad XML or a root other than `CreateBucketConfiguration`.
pub fn parse_create_bucket(body: &[u8]) -> Result<Option<String>, S3Error> {
    check_body_len(body, CREATE_BUCKET_BODY_MAX_BYTES)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut walker = Walker::new(body);
    walker.expect_root("CreateBucketConfiguration")?;
    let mut location = None;
    while let Some(step) = walker.next()? {
        if let Step::Close(text) = step {
            if walker.at(&["CreateBucketConfiguration", "LocationConstraint"]) {
                let region = text.trim();
                location = (!region.is_empty()).then(|| region.to_string());
            }
        }
    }
    Ok(location)
}

/// Largest PutBucketAcl body accepted (S3 allows 100 grants).
pub const ACL_BODY_MAX_BYTES: usize = 64 * 1024;
/// Most grants accepted in one `AccessControlPolicy` (S3's limit).
pub const ACL_GRANTS_MAX: usize = 100;

/// Parses a PutBucketAcl / PutObjectAcl body (`AccessControlPolicy`) into its grants. A
/// grantee's kind is read from its children (`ID`, `URI` or `EmailAddress`), not from the
/// `xsi:type` attribute. The `Owner` element is ignored (S3 refuses to change the owner).
///
/// Errors: `MaxMessageLengthExceeded` over [`ACL_BODY_MAX_BYTES`]; `MalformedACLError` for a
/// grant without a grantee or with an unknown permission, or more than [`ACL_GRANTS_MAX`]
/// grants; `MalformedXML` for bad XML or another root.
pub fn parse_access_control_policy(body: &[u8]) -> Result<Vec<crate::proto::acl::Grant>, S3Error> {
    use crate::proto::acl::{Grant, Grantee, Permission};
    check_body_len(body, ACL_BODY_MAX_BYTES)?;
    let bad_acl = || S3Error::new(S3ErrorCode::MalformedACLError);
    let mut walker = Walker::new(body);
    walker.expect_root("AccessControlPolicy")?;
    let mut grants = Vec::new();
    let mut grantee: Option<Grantee> = None;
    let mut permission: Option<Permission> = None;
    const GRANT: [&str; 3] = ["AccessControlPolicy", "AccessControlList", "Grant"];
    while let Some(step) = walker.next()? {
        match step {
            Step::Open if walker.at(&GRANT) => {
                grantee = None;
                permission = None;
            }
            Step::Open => {}
            Step::Close(text) => {
                let text = text.trim();
                // A child of `Grant/Grantee`: the path up to it is GRANT then `Grantee`.
                let in_grantee = walker.depth() == GRANT.len() + 2
                    && walker
                        .path
                        .iter()
                        .take(GRANT.len() + 1)
                        .map(|f| f.name.as_str())
                        .eq(GRANT.iter().copied().chain(["Grantee"]));
                if in_grantee {
                    let found = match walker.name() {
                        "ID" => Some(Grantee::User(text.to_string())),
                        "URI" => Some(Grantee::Group(text.to_string())),
                        "EmailAddress" => Some(Grantee::Email(text.to_string())),
                        _ => None,
                    };
                    if found.is_some() {
                        if grantee.is_some() {
                            return Err(bad_acl());
                        }
                        grantee = found;
                    }
                } else if walker.at(&[
                    "AccessControlPolicy",
                    "AccessControlList",
                    "Grant",
                    "Permission",
                ]) {
                    permission = Some(Permission::parse(text).ok_or_else(bad_acl)?);
                } else if walker.at(&GRANT) {
                    let (Some(who), Some(what)) = (grantee.take(), permission.take()) else {
                        return Err(bad_acl());
                    };
                    if grants.len() == ACL_GRANTS_MAX {
                        return Err(bad_acl());
                    }
                    grants.push(Grant {
                        grantee: who,
                        permission: what,
                    });
                }
            }
        }
    }
    Ok(grants)
}

fn check_body_len(body: &[u8], max_bytes: usize) -> Result<(), S3Error> {
    if body.len() > max_bytes {
        return Err(S3Error::new(S3ErrorCode::MaxMessageLengthExceeded));
    }
    Ok(())
}

/// What [`Walker::next`] saw. After either, [`Walker::at`] and [`Walker::name`] describe the
/// element concerned (for `Close`, the element just closed, still on the path).
enum Step {
    Open,
    /// The element closed, with its decoded character data (entities resolved, CDATA kept,
    /// nothing trimmed; empty for an element that had child elements).
    Close(String),
}

/// One open element on the walker's path.
struct Frame {
    name: String,
    text: String,
    has_children: bool,
}

/// A bounded pull parser over quick-xml that turns events into open/close steps with the
/// element path, checks well-formedness S3 cares about (one root, no stray text, no DTD,
/// no unknown entities) and enforces the depth and text limits.
struct Walker<'a> {
    reader: Reader<&'a [u8]>,
    path: Vec<Frame>,
    /// Set when the last step was a `Close`: the frame is popped at the next call.
    pending_pop: bool,
    root_seen: bool,
}

impl<'a> Walker<'a> {
    fn new(body: &'a [u8]) -> Walker<'a> {
        let mut reader = Reader::from_reader(body);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
        Walker {
            reader,
            path: Vec::new(),
            pending_pop: false,
            root_seen: false,
        }
    }

    /// Reads up to the root element, which must be called `root`.
    fn expect_root(&mut self, root: &str) -> Result<(), S3Error> {
        match self.next()? {
            Some(Step::Open) if self.at(&[root]) => Ok(()),
            _ => Err(malformed()),
        }
    }

    /// Whether the current path is exactly `names`.
    fn at(&self, names: &[&str]) -> bool {
        self.path.len() == names.len() && self.path.iter().zip(names).all(|(f, n)| f.name == *n)
    }

    fn depth(&self) -> usize {
        self.path.len()
    }

    fn name(&self) -> &str {
        self.path.last().map_or("", |f| f.name.as_str())
    }

    /// The next open or close step; `None` at the end of a well-formed document.
    fn next(&mut self) -> Result<Option<Step>, S3Error> {
        if self.pending_pop {
            self.path.pop();
            self.pending_pop = false;
        }
        loop {
            let event = self.reader.read_event().map_err(|_| malformed())?;
            match event {
                Event::Start(start) => {
                    let name = std::str::from_utf8(start.local_name().into_inner())
                        .map_err(|_| malformed())?
                        .to_string();
                    return self.open(name).map(Some);
                }
                Event::End(_) => {
                    let frame = self.path.last().ok_or_else(malformed)?;
                    if frame.has_children && !frame.text.trim().is_empty() {
                        return Err(malformed());
                    }
                    let text = if frame.has_children {
                        String::new()
                    } else {
                        frame.text.clone()
                    };
                    self.pending_pop = true;
                    return Ok(Some(Step::Close(text)));
                }
                Event::Text(text) => {
                    let text = text.xml10_content().map_err(|_| malformed())?;
                    self.push_text(&text)?;
                }
                Event::CData(data) => {
                    let data = std::str::from_utf8(&data).map_err(|_| malformed())?;
                    if self.path.is_empty() {
                        return Err(malformed());
                    }
                    self.push_text(data)?;
                }
                Event::GeneralRef(reference) => {
                    let resolved = resolve_reference(&reference)?;
                    self.push_text(&resolved)?;
                }
                Event::DocType(_) => return Err(malformed()),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Empty(_) => return Err(malformed()), // expanded by the config
                Event::Eof => {
                    if !self.path.is_empty() || !self.root_seen {
                        return Err(malformed());
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn open(&mut self, name: String) -> Result<Step, S3Error> {
        if self.path.is_empty() {
            if self.root_seen {
                return Err(malformed()); // a second root element
            }
            self.root_seen = true;
        }
        if self.path.len() == XML_DEPTH_MAX {
            return Err(malformed());
        }
        if let Some(parent) = self.path.last_mut() {
            parent.has_children = true;
        }
        self.path.push(Frame {
            name,
            text: String::new(),
            has_children: false,
        });
        Ok(Step::Open)
    }

    /// Appends character data to the open element; outside the root only whitespace may be.
    fn push_text(&mut self, text: &str) -> Result<(), S3Error> {
        let Some(frame) = self.path.last_mut() else {
            return if text.trim().is_empty() {
                Ok(())
            } else {
                Err(malformed())
            };
        };
        if frame.text.len() + text.len() > XML_TEXT_MAX_BYTES {
            return Err(malformed());
        }
        frame.text.push_str(text);
        Ok(())
    }
}

/// Resolves `&name;` / `&#N;` / `&#xN;`: the five predefined entities and character
/// references only (no DTD, so no other entity can be defined).
fn resolve_reference(reference: &BytesRef<'_>) -> Result<String, S3Error> {
    if let Some(c) = reference.resolve_char_ref().map_err(|_| malformed())? {
        return Ok(c.to_string());
    }
    let name = reference.decode().map_err(|_| malformed())?;
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_string)
        .ok_or_else(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed-back element: its path and its text (for leaves).
    type Flat = Vec<(String, String)>;

    /// Parses `xml` with quick-xml and flattens it to (path, text) for every leaf; panics
    /// (failing the test) if the writer produced something that is not well-formed.
    fn flatten(xml: &str) -> Flat {
        let mut walker = Walker::new(xml.as_bytes());
        let mut out = Vec::new();
        while let Some(step) = walker.next().expect("writer output must be well-formed") {
            if let Step::Close(text) = step {
                let path: Vec<&str> = walker.path.iter().map(|f| f.name.as_str()).collect();
                let leaf = !walker.path.last().is_some_and(|f| f.has_children);
                if leaf {
                    out.push((path.join("/"), text));
                }
            }
        }
        out
    }

    fn has(flat: &Flat, path: &str, text: &str) -> bool {
        flat.iter().any(|(p, t)| p == path && t == text)
    }

    fn count(flat: &Flat, path: &str) -> usize {
        flat.iter().filter(|(p, _)| p == path).count()
    }

    fn assert_root(xml: &str, root: &str) {
        let prefix = format!("{XML_DECL}<{root} xmlns=\"{S3_XMLNS}\"");
        assert!(xml.starts_with(&prefix), "{xml}");
        assert!(
            xml.ends_with(&format!("</{root}>")) || xml.ends_with("/>"),
            "{xml}"
        );
    }

    const OWNER: Owner<'static> = Owner {
        id: "owner-id",
        display_name: "owner & co",
    };
    const WHEN: &str = "2009-10-12T17:50:30.000Z";

    #[test]
    fn url_encoding_table() {
        let table = [
            ("plain/key.txt", "plain/key.txt"),
            ("a b", "a%20b"),
            ("a+b", "a%2Bb"),
            ("~tilde", "%7Etilde"),
            ("star*-_.", "star*-_."),
            ("100%", "100%25"),
            ("&<>\"'", "%26%3C%3E%22%27"),
            ("caf\u{e9}", "caf%C3%A9"),
            ("\u{1}\n", "%01%0A"),
            ("", ""),
        ];
        for (input, want) in table {
            assert_eq!(s3_url_encode(input), want, "{input:?}");
        }
    }

    #[test]
    fn list_buckets_writes_owner_and_buckets() {
        let xml = list_buckets(
            "id1",
            "me <&>",
            &[("b1", WHEN), ("b2", "2020-01-01T00:00:00.000Z")],
        );
        assert_root(&xml, "ListAllMyBucketsResult");
        let flat = flatten(&xml);
        assert!(has(&flat, "ListAllMyBucketsResult/Owner/ID", "id1"));
        assert!(has(
            &flat,
            "ListAllMyBucketsResult/Owner/DisplayName",
            "me <&>"
        ));
        assert!(has(
            &flat,
            "ListAllMyBucketsResult/Buckets/Bucket/Name",
            "b2"
        ));
        assert!(has(
            &flat,
            "ListAllMyBucketsResult/Buckets/Bucket/CreationDate",
            WHEN
        ));
        assert_eq!(
            count(&flat, "ListAllMyBucketsResult/Buckets/Bucket/Name"),
            2
        );
        let empty = list_buckets::<&str, &str>("id1", "me", &[]);
        assert!(empty.contains("<Buckets></Buckets>"));
        flatten(&empty);
    }

    fn entries() -> [ObjectEntry<'static>; 2] {
        [
            ObjectEntry {
                key: "dir/a b+c&<d>",
                last_modified: WHEN,
                etag: "0123abcd",
                size: 5,
            },
            ObjectEntry {
                key: "ctrl\u{1}key",
                last_modified: WHEN,
                etag: "\"already-3\"",
                size: 0,
            },
        ]
    }

    #[test]
    fn list_objects_v1_plain() {
        let contents = entries();
        let list = ListObjectsV1 {
            bucket: "bkt",
            prefix: "dir/",
            marker: "",
            next_marker: Some("dir/z"),
            max_keys: 1000,
            delimiter: Some("/"),
            is_truncated: true,
            encoding_url: false,
            contents: &contents,
            common_prefixes: &["dir/sub/"],
            owner: Some(OWNER),
        };
        let xml = list_objects_v1(&list);
        assert_root(&xml, "ListBucketResult");
        let flat = flatten(&xml);
        let r = "ListBucketResult";
        #[rustfmt::skip]
        let want = [
            ("Name", "bkt"), ("Prefix", "dir/"), ("Marker", ""), ("NextMarker", "dir/z"),
            ("MaxKeys", "1000"), ("Delimiter", "/"), ("IsTruncated", "true"),
            ("Contents/Key", "dir/a b+c&<d>"), ("Contents/Key", "ctrl\u{1}key"),
            ("Contents/ETag", "\"0123abcd\""), ("Contents/ETag", "\"already-3\""),
            ("Contents/Size", "5"), ("Contents/LastModified", WHEN),
            ("Contents/StorageClass", "STANDARD"), ("Contents/Owner/ID", "owner-id"),
            ("Contents/Owner/DisplayName", "owner & co"), ("CommonPrefixes/Prefix", "dir/sub/"),
        ];
        for (path, text) in want {
            assert!(
                has(&flat, &format!("{r}/{path}"), text),
                "{path}={text:?} in {xml}"
            );
        }
        assert_eq!(count(&flat, "ListBucketResult/EncodingType"), 0);
        assert_eq!(count(&flat, "ListBucketResult/Contents/Owner/ID"), 2);
        assert!(xml.contains("<ETag>&quot;0123abcd&quot;</ETag>"));
    }

    #[test]
    fn list_objects_v1_url_encoded() {
        let contents = entries();
        let list = ListObjectsV1 {
            bucket: "bkt",
            prefix: "dir one/",
            marker: "m+1",
            next_marker: None,
            max_keys: 2,
            delimiter: Some(" "),
            is_truncated: false,
            encoding_url: true,
            contents: &contents,
            common_prefixes: &["dir one/s~b/"],
            owner: None,
        };
        let xml = list_objects_v1(&list);
        let flat = flatten(&xml);
        let r = "ListBucketResult";
        #[rustfmt::skip]
        let want = [
            ("Prefix", "dir one/"), ("Marker", "m%2B1"), ("Delimiter", "%20"),
            ("EncodingType", "url"), ("Contents/Key", "dir/a%20b%2Bc%26%3Cd%3E"),
            ("Contents/Key", "ctrl%01key"), ("CommonPrefixes/Prefix", "dir%20one/s%7Eb/"),
            ("IsTruncated", "false"),
        ];
        for (path, text) in want {
            assert!(
                has(&flat, &format!("{r}/{path}"), text),
                "{path}={text:?} in {xml}"
            );
        }
        assert_eq!(count(&flat, "ListBucketResult/NextMarker"), 0);
        assert_eq!(count(&flat, "ListBucketResult/Contents/Owner/ID"), 0);
    }

    #[test]
    fn list_object_versions_writer() {
        let versions = entries();
        let list = ListVersions {
            bucket: "bkt",
            prefix: "dir ",
            key_marker: "k m",
            version_id_marker: "",
            next_key_marker: Some("ctrl\u{1}key"),
            next_version_id_marker: Some("null"),
            max_keys: 2,
            delimiter: None,
            is_truncated: true,
            encoding_url: true,
            versions: &versions,
            common_prefixes: &["p q/"],
            owner: OWNER,
        };
        let xml = list_object_versions(&list);
        assert_root(&xml, "ListVersionsResult");
        let flat = flatten(&xml);
        let r = "ListVersionsResult";
        #[rustfmt::skip]
        let want = [
            ("Name", "bkt"), ("Prefix", "dir%20"), ("KeyMarker", "k%20m"),
            ("VersionIdMarker", ""), ("NextKeyMarker", "ctrl%01key"),
            ("NextVersionIdMarker", "null"), ("MaxKeys", "2"), ("IsTruncated", "true"),
            ("EncodingType", "url"), ("Version/Key", "dir/a%20b%2Bc%26%3Cd%3E"),
            ("Version/VersionId", "null"), ("Version/IsLatest", "true"),
            ("Version/ETag", "\"0123abcd\""), ("Version/Size", "5"),
            ("Version/Owner/ID", "owner-id"), ("CommonPrefixes/Prefix", "p%20q/"),
        ];
        for (path, text) in want {
            assert!(
                has(&flat, &format!("{r}/{path}"), text),
                "{path}={text:?} in {xml}"
            );
        }
        assert_eq!(count(&flat, "ListVersionsResult/Version/VersionId"), 2);
        assert_eq!(count(&flat, "ListVersionsResult/DeleteMarker/Key"), 0);
        assert_eq!(count(&flat, "ListVersionsResult/Delimiter"), 0);
    }

    #[test]
    fn list_objects_v2_fields() {
        let contents = entries();
        let list = ListObjectsV2 {
            bucket: "bkt",
            prefix: "",
            continuation_token: Some("tok+/="),
            next_continuation_token: Some("next+/="),
            start_after: Some("a b"),
            max_keys: 3,
            delimiter: None,
            is_truncated: true,
            encoding_url: true,
            contents: &contents,
            common_prefixes: &["p/"],
            owner: Some(OWNER),
        };
        let xml = list_objects_v2(&list);
        assert_root(&xml, "ListBucketResult");
        let flat = flatten(&xml);
        let r = "ListBucketResult";
        #[rustfmt::skip]
        let want = [
            ("Name", "bkt"), ("Prefix", ""), ("ContinuationToken", "tok+/="),
            ("NextContinuationToken", "next+/="), ("StartAfter", "a%20b"), ("KeyCount", "3"),
            ("MaxKeys", "3"), ("IsTruncated", "true"), ("EncodingType", "url"),
            ("Contents/Owner/ID", "owner-id"), ("CommonPrefixes/Prefix", "p/"),
        ];
        for (path, text) in want {
            assert!(
                has(&flat, &format!("{r}/{path}"), text),
                "{path}={text:?} in {xml}"
            );
        }
        assert_eq!(count(&flat, "ListBucketResult/Delimiter"), 0);
        assert_eq!(count(&flat, "ListBucketResult/Marker"), 0);

        let bare = ListObjectsV2 {
            continuation_token: None,
            next_continuation_token: None,
            start_after: None,
            owner: None,
            encoding_url: false,
            contents: &[],
            common_prefixes: &[],
            ..list
        };
        let flat = flatten(&list_objects_v2(&bare));
        assert!(has(&flat, "ListBucketResult/KeyCount", "0"));
        for absent in [
            "ContinuationToken",
            "NextContinuationToken",
            "StartAfter",
            "EncodingType",
        ] {
            assert_eq!(
                count(&flat, &format!("ListBucketResult/{absent}")),
                0,
                "{absent}"
            );
        }
    }

    #[test]
    fn multipart_writers() {
        let xml = initiate_multipart_upload("bkt", "k&y", "up<1>");
        assert_root(&xml, "InitiateMultipartUploadResult");
        let flat = flatten(&xml);
        assert!(has(&flat, "InitiateMultipartUploadResult/Key", "k&y"));
        assert!(has(
            &flat,
            "InitiateMultipartUploadResult/UploadId",
            "up<1>"
        ));
        assert!(has(&flat, "InitiateMultipartUploadResult/Bucket", "bkt"));

        let xml = complete_multipart_upload("http://h/bkt/k", "bkt", "k", "abc-2");
        assert_root(&xml, "CompleteMultipartUploadResult");
        let flat = flatten(&xml);
        assert!(has(
            &flat,
            "CompleteMultipartUploadResult/Location",
            "http://h/bkt/k"
        ));
        assert!(has(
            &flat,
            "CompleteMultipartUploadResult/ETag",
            "\"abc-2\""
        ));

        let xml = complete_multipart_upload_with_checksums(
            "l",
            "b",
            "k",
            "e",
            &[("ChecksumCRC32", "AAAAAA==-2"), ("Bad<Name", "x")],
        );
        let flat = flatten(&xml);
        assert!(has(
            &flat,
            "CompleteMultipartUploadResult/ChecksumCRC32",
            "AAAAAA==-2"
        ));
        assert!(!xml.contains("Bad"));
    }

    #[test]
    fn list_parts_writer() {
        let parts = [
            PartEntry {
                part_number: 1,
                last_modified: WHEN,
                etag: "e1",
                size: 5 << 20,
            },
            PartEntry {
                part_number: 2,
                last_modified: WHEN,
                etag: "e2",
                size: 1,
            },
        ];
        let list = ListParts {
            bucket: "bkt",
            key: "k",
            upload_id: "u",
            part_number_marker: 0,
            next_part_number_marker: 2,
            max_parts: 1000,
            is_truncated: false,
            parts: &parts,
            initiator: OWNER,
            owner: OWNER,
        };
        let xml = list_parts(&list);
        assert_root(&xml, "ListPartsResult");
        let flat = flatten(&xml);
        let r = "ListPartsResult";
        #[rustfmt::skip]
        let want = [
            ("Bucket", "bkt"), ("Key", "k"), ("UploadId", "u"), ("PartNumberMarker", "0"),
            ("NextPartNumberMarker", "2"), ("MaxParts", "1000"), ("IsTruncated", "false"),
            ("StorageClass", "STANDARD"), ("Initiator/ID", "owner-id"), ("Owner/ID", "owner-id"),
            ("Part/PartNumber", "2"), ("Part/ETag", "\"e1\""), ("Part/Size", "5242880"),
            ("Part/LastModified", WHEN),
        ];
        for (path, text) in want {
            assert!(
                has(&flat, &format!("{r}/{path}"), text),
                "{path}={text:?} in {xml}"
            );
        }
        assert_eq!(count(&flat, "ListPartsResult/Part/PartNumber"), 2);
    }

    #[test]
    fn list_multipart_uploads_writer() {
        let uploads = [UploadEntry {
            key: "a b",
            upload_id: "u1",
            initiated: WHEN,
            initiator: OWNER,
        }];
        let list = ListUploads {
            bucket: "bkt",
            key_marker: "k m",
            upload_id_marker: "",
            next_key_marker: "a b",
            next_upload_id_marker: "u1",
            max_uploads: 1,
            is_truncated: true,
            prefix: "",
            delimiter: Some("/"),
            encoding_url: true,
            uploads: &uploads,
            common_prefixes: &["x y/"],
        };
        let xml = list_multipart_uploads(&list);
        assert_root(&xml, "ListMultipartUploadsResult");
        let flat = flatten(&xml);
        let r = "ListMultipartUploadsResult";
        #[rustfmt::skip]
        let want = [
            ("Bucket", "bkt"), ("KeyMarker", "k%20m"), ("UploadIdMarker", ""),
            ("NextKeyMarker", "a%20b"), ("NextUploadIdMarker", "u1"), ("Delimiter", "/"),
            ("Prefix", ""), ("MaxUploads", "1"), ("IsTruncated", "true"), ("EncodingType", "url"),
            ("Upload/Key", "a%20b"), ("Upload/UploadId", "u1"), ("Upload/Initiated", WHEN),
            ("Upload/Initiator/ID", "owner-id"), ("Upload/Owner/DisplayName", "owner & co"),
            ("Upload/StorageClass", "STANDARD"), ("CommonPrefixes/Prefix", "x%20y/"),
        ];
        for (path, text) in want {
            assert!(
                has(&flat, &format!("{r}/{path}"), text),
                "{path}={text:?} in {xml}"
            );
        }
    }

    #[test]
    fn delete_and_copy_writers() {
        let xml = delete_result(&["a&b", "c"], &[("d<", "AccessDenied", "Access Denied")]);
        assert_root(&xml, "DeleteResult");
        let flat = flatten(&xml);
        assert!(has(&flat, "DeleteResult/Deleted/Key", "a&b"));
        assert!(has(&flat, "DeleteResult/Deleted/Key", "c"));
        assert!(has(&flat, "DeleteResult/Error/Key", "d<"));
        assert!(has(&flat, "DeleteResult/Error/Code", "AccessDenied"));
        assert!(has(&flat, "DeleteResult/Error/Message", "Access Denied"));
        let quiet = delete_result::<String, &str, &str, &str>(&[], &[]);
        assert_eq!(
            flatten(&quiet),
            vec![("DeleteResult".to_string(), String::new())]
        );

        for (xml, root) in [
            (copy_object_result("e", WHEN), "CopyObjectResult"),
            (copy_part_result("e", WHEN), "CopyPartResult"),
        ] {
            assert_root(&xml, root);
            let flat = flatten(&xml);
            assert!(has(&flat, &format!("{root}/ETag"), "\"e\""));
            assert!(has(&flat, &format!("{root}/LastModified"), WHEN));
        }
    }

    #[test]
    fn location_constraint_writer() {
        let table = [
            ("us-east-1", ""),
            ("", ""),
            ("eu-west-1", "eu-west-1"),
            ("a<b", "a<b"),
        ];
        for (region, want) in table {
            let xml = location_constraint(region);
            assert_root(&xml, "LocationConstraint");
            assert_eq!(
                flatten(&xml),
                vec![("LocationConstraint".to_string(), want.to_string())]
            );
        }
        assert!(location_constraint("us-east-1").ends_with(&format!("xmlns=\"{S3_XMLNS}\"/>")));
    }

    fn part(n: u32, etag: &str) -> CompletedPart {
        CompletedPart {
            part_number: n,
            etag: etag.to_string(),
            checksums: Vec::new(),
        }
    }

    #[test]
    fn parse_complete_ok_table() {
        let ns = S3_XMLNS;
        let with_ns = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload xmlns=\"{ns}\">\
             <Part><ETag>\"a\"</ETag><PartNumber>1</PartNumber></Part>\
             <Part><PartNumber>3</PartNumber><ETag>&quot;b&quot;</ETag></Part>\
             </CompleteMultipartUpload>"
        );
        #[rustfmt::skip]
        let table: Vec<(String, Vec<CompletedPart>)> = vec![
            (with_ns, vec![part(1, "a"), part(3, "b")]),
            ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>abc</ETag></Part></CompleteMultipartUpload>".into(),
             vec![part(1, "abc")]),
            ("<s3:CompleteMultipartUpload xmlns:s3=\"x\"><s3:Part><s3:PartNumber> 2 </s3:PartNumber><s3:ETag>\n  \"e\"\n</s3:ETag></s3:Part></s3:CompleteMultipartUpload>".into(),
             vec![part(2, "e")]),
            ("<CompleteMultipartUpload>\n  <Part>\n    <PartNumber>10000</PartNumber>\n    <ETag><![CDATA[\"c\"]]></ETag>\n    <Extra>x</Extra>\n  </Part>\n</CompleteMultipartUpload>\n".into(),
             vec![part(10000, "c")]),
            ("<!-- hi --><CompleteMultipartUpload><Part><PartNumber>01</PartNumber><ETag>&#x61;&#98;</ETag></Part></CompleteMultipartUpload>".into(),
             vec![part(1, "ab")]),
        ];
        for (body, want) in table {
            let got =
                parse_complete_multipart(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(got, want, "{body}");
        }
    }

    #[test]
    fn parse_complete_checksums() {
        let body = "<CompleteMultipartUpload><Part><ChecksumCRC32> AAAAAA== </ChecksumCRC32>\
                    <PartNumber>1</PartNumber><ETag>\"a\"</ETag><ChecksumSHA256>xyz</ChecksumSHA256>\
                    <ChecksumType>x</ChecksumType></Part></CompleteMultipartUpload>";
        let got = parse_complete_multipart(body.as_bytes()).expect("parse");
        assert_eq!(
            got[0].checksums,
            vec![
                ("ChecksumCRC32".to_string(), "AAAAAA==".to_string()),
                ("ChecksumSHA256".to_string(), "xyz".to_string()),
                ("ChecksumType".to_string(), "x".to_string()),
            ]
        );
    }

    #[test]
    fn parse_complete_errors_table() {
        use S3ErrorCode::*;
        let p = |n: &str| format!("<Part><PartNumber>{n}</PartNumber><ETag>e</ETag></Part>");
        let wrap =
            |inner: &str| format!("<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>");
        let too_many: String = (1..=COMPLETE_PARTS_MAX + 1)
            .map(|n| p(&n.to_string()))
            .collect();
        let deep = format!(
            "{}{}",
            "<a>".repeat(XML_DEPTH_MAX + 1),
            "</a>".repeat(XML_DEPTH_MAX + 1)
        );
        let long_etag = format!(
            "<Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>",
            "e".repeat(XML_TEXT_MAX_BYTES + 1)
        );
        #[rustfmt::skip]
        let table: Vec<(String, S3ErrorCode)> = vec![
            (String::new(), MalformedXML),
            ("   ".into(), MalformedXML),
            ("not xml".into(), MalformedXML),
            (wrap(""), MalformedXML),
            ("<CompleteMultipartUpload/>".into(), MalformedXML),
            ("<Other><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Other>".into(), MalformedXML),
            (wrap("<Part><ETag>e</ETag></Part>"), MalformedXML),
            (wrap("<Part><PartNumber>1</PartNumber></Part>"), MalformedXML),
            (wrap(&p("x")), MalformedXML),
            (wrap(&p("-1")), MalformedXML),
            (wrap(&p("")), MalformedXML),
            (wrap("<Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag></Part>"), MalformedXML),
            (wrap(&p("0")), InvalidArgument),
            (wrap(&p("10001")), InvalidArgument),
            (wrap(&p("99999999999999999999")), InvalidArgument),
            (wrap(&(p("2") + &p("1"))), InvalidPartOrder),
            (wrap(&(p("1") + &p("1"))), InvalidPartOrder),
            (wrap(&too_many), MalformedXML),
            (wrap(&p("1")) + "<second/>", MalformedXML),
            (wrap(&p("1")) + "junk", MalformedXML),
            (wrap(&format!("text{}", p("1"))), MalformedXML),
            ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>".into(), MalformedXML),
            ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Oops></CompleteMultipartUpload>".into(), MalformedXML),
            (wrap("<Part><PartNumber>1</PartNumber><ETag>&bogus;</ETag></Part>"), MalformedXML),
            (wrap("<Part><PartNumber>1</PartNumber><ETag>&#0;</ETag></Part>"), MalformedXML),
            (wrap("<Part><PartNumber>1</PartNumber><ETag>a & b</ETag></Part>"), MalformedXML),
            ("<!DOCTYPE x [<!ENTITY e \"boom\">]><CompleteMultipartUpload>".to_string() + &p("1") + "</CompleteMultipartUpload>", MalformedXML),
            (wrap(&deep), MalformedXML),
            (wrap(&long_etag), MalformedXML),
        ];
        for (body, code) in table {
            let err = parse_complete_multipart(body.as_bytes())
                .expect_err(&body.chars().take(200).collect::<String>());
            assert_eq!(
                err.code,
                code,
                "{}",
                body.chars().take(200).collect::<String>()
            );
        }
        let huge = vec![b' '; COMPLETE_BODY_MAX_BYTES + 1];
        assert_eq!(
            parse_complete_multipart(&huge).map_err(|e| e.code),
            Err(MaxMessageLengthExceeded)
        );
    }

    #[test]
    fn parse_complete_max_parts_ok() {
        let body: String = (1..=COMPLETE_PARTS_MAX)
            .map(|n| format!("<Part><PartNumber>{n}</PartNumber><ETag>\"e{n}\"</ETag></Part>"))
            .collect();
        let body = format!("<CompleteMultipartUpload>{body}</CompleteMultipartUpload>");
        let parts = parse_complete_multipart(body.as_bytes()).expect("10,000 parts");
        assert_eq!(parts.len(), COMPLETE_PARTS_MAX);
        assert_eq!(parts[9999], part(10000, "e10000"));
    }

    #[test]
    fn tagging_parses_and_answers() {
        let body = b"<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>b</Key><Value>2 &amp; 3</Value></Tag><Tag><Key>a</Key></Tag></TagSet></Tagging>";
        let tags = parse_tagging(body).expect("parses");
        assert_eq!(
            tags,
            vec![
                ("b".to_string(), "2 & 3".to_string()),
                ("a".to_string(), String::new())
            ]
        );
        let doc = tagging(&tags);
        assert!(
            doc.contains("<TagSet><Tag><Key>b</Key><Value>2 &amp; 3</Value></Tag>"),
            "{doc}"
        );
        assert_eq!(parse_tagging(doc.as_bytes()).expect("again"), tags);
        assert!(tagging(&[]).contains("<TagSet></TagSet>"));
        let code = |b: &str| parse_tagging(b.as_bytes()).unwrap_err().code;
        assert_eq!(
            code("<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>"),
            S3ErrorCode::MalformedXML
        );
        assert_eq!(
            code("<Tagging><TagSet><Tag><Key>a</Key><Key>b</Key></Tag></TagSet></Tagging>"),
            S3ErrorCode::MalformedXML
        );
        assert_eq!(
            code("<Tagging><Other/></Tagging>"),
            S3ErrorCode::MalformedXML
        );
        assert_eq!(code("<Tags/>"), S3ErrorCode::MalformedXML);
        let many = format!(
            "<Tagging><TagSet>{}</TagSet></Tagging>",
            "<Tag><Key>k</Key></Tag>".repeat(52)
        );
        assert_eq!(code(&many), S3ErrorCode::InvalidTag);
    }

    #[test]
    fn cors_configuration_round_trips_in_canonical_form() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <CORSRule><ID> web </ID><AllowedOrigin>https://a.example</AllowedOrigin>
    <AllowedOrigin>*.b.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>
  <CORSRule><AllowedMethod>HEAD</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule>
</CORSConfiguration>"#;
        let config = parse_cors_configuration(body).expect("parses");
        assert_eq!(config.rules.len(), 2);
        let first = &config.rules[0];
        assert_eq!(first.id.as_deref(), Some("web"));
        assert_eq!(first.allowed_origins, ["https://a.example", "*.b.example"]);
        assert_eq!(first.allowed_methods, ["GET", "PUT"]);
        assert_eq!(first.allowed_headers, ["x-amz-*"]);
        assert_eq!(first.expose_headers, ["ETag"]);
        assert_eq!(first.max_age_seconds, Some(3000));
        assert_eq!(config.rules[1].max_age_seconds, None);
        // What is stored and answered parses back to the same rules.
        let canonical = cors_configuration(&config);
        assert!(canonical.starts_with("<?xml"), "{canonical}");
        assert_eq!(
            parse_cors_configuration(canonical.as_bytes()).expect("again"),
            config
        );
    }

    #[test]
    fn cors_configuration_errors() {
        let code = |body: &str| parse_cors_configuration(body.as_bytes()).unwrap_err().code;
        let rule = |inner: &str| {
            format!("<CORSConfiguration><CORSRule>{inner}</CORSRule></CORSConfiguration>")
        };
        use S3ErrorCode::*;
        assert_eq!(code("<CORSConfiguration/>"), MalformedXML);
        assert_eq!(code("<Other/>"), MalformedXML);
        assert_eq!(
            code(&rule("<AllowedMethod>GET</AllowedMethod>")),
            MalformedXML
        );
        assert_eq!(code(&rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><Color>red</Color>")), MalformedXML);
        assert_eq!(code(&rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds>")), MalformedXML);
        assert_eq!(code(&rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ID>a</ID><ID>b</ID>")), MalformedXML);
        assert_eq!(
            code(&rule(
                "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>TRACE</AllowedMethod>"
            )),
            InvalidRequest
        );
        assert_eq!(
            code("<CORSConfiguration><Extra/></CORSConfiguration>"),
            MalformedXML
        );
        let many = format!(
            "<CORSConfiguration>{}</CORSConfiguration>",
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>".repeat(101)
        );
        assert_eq!(code(&many), MalformedXML);
        let huge = "x".repeat(crate::proto::cors::CORS_BODY_MAX_BYTES + 1);
        assert_eq!(code(&huge), MaxMessageLengthExceeded);
    }

    #[test]
    fn parse_delete_ok_table() {
        let ns = S3_XMLNS;
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        #[rustfmt::skip]
        let table: Vec<(String, bool, Vec<String>)> = vec![
            (format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"{ns}\"><Object><Key>a</Key></Object><Object><Key>b/c</Key><VersionId>v1</VersionId></Object></Delete>"),
             false, keys(&["a", "b/c"])),
            ("<Delete><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>".into(), true, keys(&["k"])),
            ("<Delete>\n <Quiet> TRUE </Quiet>\n <Object>\n  <Key> spaced </Key>\n </Object>\n</Delete>".into(), true, keys(&[" spaced "])),
            ("<Delete><Quiet>false</Quiet><Object><Key>a&amp;b&lt;&gt;&quot;&apos;</Key></Object></Delete>".into(), false, keys(&["a&b<>\"'"])),
            ("<Delete><Object><Key>line&#13;&#10;x</Key></Object></Delete>".into(), false, keys(&["line\r\nx"])),
            ("<Delete><Object><Key><![CDATA[<raw>&]]></Key></Object></Delete>".into(), false, keys(&["<raw>&"])),
            ("<Delete><Object><Key></Key></Object><Object><Key/></Object></Delete>".into(), false, keys(&["", ""])),
            ("<Delete><Object><Key>caf\u{e9}/\u{1F600}</Key><ETag>\"e\"</ETag><Size>3</Size></Object></Delete>".into(), false, keys(&["café/😀"])),
            ("<x:Delete xmlns:x=\"y\"><x:Object><x:Key>p</x:Key></x:Object></x:Delete>".into(), false, keys(&["p"])),
        ];
        for (body, quiet, want) in table {
            let got = parse_delete(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(got, DeleteRequest { quiet, keys: want }, "{body}");
        }
    }

    #[test]
    fn parse_delete_limits() {
        let objects = |n: usize| -> String {
            (0..n)
                .map(|i| format!("<Object><Key>k{i}</Key></Object>"))
                .collect()
        };
        let ok = format!("<Delete>{}</Delete>", objects(DELETE_KEYS_MAX));
        assert_eq!(
            parse_delete(ok.as_bytes()).expect("1000 keys").keys.len(),
            DELETE_KEYS_MAX
        );
        let over = format!("<Delete>{}</Delete>", objects(DELETE_KEYS_MAX + 1));
        assert_eq!(
            parse_delete(over.as_bytes()).map_err(|e| e.code),
            Err(S3ErrorCode::MalformedXML)
        );
        let huge = vec![b' '; DELETE_BODY_MAX_BYTES + 1];
        assert_eq!(
            parse_delete(&huge).map_err(|e| e.code),
            Err(S3ErrorCode::MaxMessageLengthExceeded)
        );
    }

    #[test]
    fn parse_delete_errors_table() {
        #[rustfmt::skip]
        let table: &[&str] = &[
            "",
            "<Delete></Delete>",
            "<Delete><Quiet>true</Quiet></Delete>",
            "<Delete/>",
            "<Remove><Object><Key>k</Key></Object></Remove>",
            "<Delete><Object></Object></Delete>",
            "<Delete><Object><VersionId>v</VersionId></Object></Delete>",
            "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
            "<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>",
            "<Delete><Object><Key>k</Key></Object>",
            "<Delete><Object><Key>k</Object></Key></Delete>",
            "<Delete><Object><Key>k</Key></Object></Delete><Delete/>",
            "<Delete><Object>stray<Key>k</Key></Object></Delete>",
            "<Delete><Object><Key>&nbsp;</Key></Object></Delete>",
            "<Delete><Object><Key>k</Key></Object></Delete\u{0}>",
            "\u{feff}garbage",
        ];
        for body in table {
            let err = parse_delete(body.as_bytes()).expect_err(body);
            assert_eq!(err.code, S3ErrorCode::MalformedXML, "{body}");
        }
        let invalid_utf8: &[u8] = b"<Delete><Object><Key>\xff\xfe</Key></Object></Delete>";
        assert_eq!(
            parse_delete(invalid_utf8).map_err(|e| e.code),
            Err(S3ErrorCode::MalformedXML)
        );
    }

    #[test]
    fn parse_create_bucket_table() {
        let ns = S3_XMLNS;
        #[rustfmt::skip]
        let table: Vec<(String, Result<Option<&str>, S3ErrorCode>)> = vec![
            (String::new(), Ok(None)),
            (" \r\n\t".into(), Ok(None)),
            (format!("<CreateBucketConfiguration xmlns=\"{ns}\"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"), Ok(Some("eu-west-1"))),
            ("<?xml version=\"1.0\"?>\n<CreateBucketConfiguration>\n  <LocationConstraint> us-west-2 </LocationConstraint>\n</CreateBucketConfiguration>".into(), Ok(Some("us-west-2"))),
            ("<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>".into(), Ok(None)),
            ("<CreateBucketConfiguration/>".into(), Ok(None)),
            ("<CreateBucketConfiguration><Location><Name>x</Name></Location></CreateBucketConfiguration>".into(), Ok(None)),
            ("<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint><Bucket><Type>Directory</Type></Bucket></CreateBucketConfiguration>".into(), Ok(Some("a"))),
            ("<Other><LocationConstraint>x</LocationConstraint></Other>".into(), Err(S3ErrorCode::MalformedXML)),
            ("<CreateBucketConfiguration><LocationConstraint>x</LocationConstraint>".into(), Err(S3ErrorCode::MalformedXML)),
            ("garbage".into(), Err(S3ErrorCode::MalformedXML)),
            ("<CreateBucketConfiguration><LocationConstraint><Nested/>x</LocationConstraint></CreateBucketConfiguration>".into(), Err(S3ErrorCode::MalformedXML)),
            (" ".repeat(CREATE_BUCKET_BODY_MAX_BYTES + 1), Err(S3ErrorCode::MaxMessageLengthExceeded)),
        ];
        for (body, want) in table {
            let got = parse_create_bucket(body.as_bytes()).map_err(|e| e.code);
            let want = want.map(|o| o.map(str::to_string));
            assert_eq!(got, want, "{}", body.chars().take(120).collect::<String>());
        }
    }

    #[test]
    fn parsers_never_panic_on_truncations() {
        // Every prefix of a valid body must be rejected cleanly (or, for the full body, accepted).
        let bodies: [&[u8]; 5] = [
            b"<?xml version=\"1.0\"?><CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part></CompleteMultipartUpload>",
            b"<Delete><Quiet>true</Quiet><Object><Key>a&amp;b<![CDATA[x]]></Key></Object></Delete>",
            b"<CreateBucketConfiguration><LocationConstraint>r</LocationConstraint></CreateBucketConfiguration>",
            b"<CORSConfiguration><CORSRule><ID>r</ID><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>9</MaxAgeSeconds></CORSRule></CORSConfiguration>",
            b"<Tagging><TagSet><Tag><Key>k</Key><Value>v&amp;w</Value></Tag></TagSet></Tagging>",
        ];
        for body in bodies {
            for end in 0..body.len() {
                let prefix = &body[..end];
                let _ = parse_complete_multipart(prefix);
                let _ = parse_delete(prefix);
                let _ = parse_create_bucket(prefix);
                let _ = parse_cors_configuration(prefix);
                let _ = parse_tagging(prefix);
            }
            assert!(
                [
                    parse_complete_multipart(body).is_ok(),
                    parse_delete(body).is_ok(),
                    parse_create_bucket(body).is_ok(),
                    parse_cors_configuration(body).is_ok(),
                    parse_tagging(body).is_ok(),
                ]
                .iter()
                .any(|ok| *ok),
                "the whole body parses"
            );
        }
    }

    #[test]
    fn access_control_policy_round_trips_through_the_parser() {
        use crate::proto::acl::{CannedAcl, Grantee, Permission, ALL_USERS_URI};
        let owner = Owner {
            id: "AK<1>",
            display_name: "AK<1>",
        };
        let doc = access_control_policy(&owner, &CannedAcl::PublicReadWrite.grants("AK<1>"));
        assert!(
            doc.contains(
                "<Owner><ID>AK&lt;1&gt;</ID><DisplayName>AK&lt;1&gt;</DisplayName></Owner>"
            ),
            "{doc}"
        );
        assert!(doc.contains(
            "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>WRITE</Permission></Grant>"
        ), "{doc}");
        assert!(doc.contains("xsi:type=\"CanonicalUser\"><ID>AK&lt;1&gt;</ID><DisplayName>AK&lt;1&gt;</DisplayName></Grantee><Permission>FULL_CONTROL</Permission>"), "{doc}");
        let grants = parse_access_control_policy(doc.as_bytes()).unwrap();
        assert_eq!(grants, CannedAcl::PublicReadWrite.grants("AK<1>"));
        assert_eq!(grants[0].grantee, Grantee::Group(ALL_USERS_URI.into()));
        assert_eq!(grants[1].permission, Permission::Write);
        assert_eq!(grants[2].grantee, Grantee::User("AK<1>".into()));
    }

    #[test]
    fn access_control_policy_errors() {
        let table: &[(&str, S3ErrorCode)] = &[
            ("<Nope/>", S3ErrorCode::MalformedXML),
            ("<AccessControlPolicy><AccessControlList><Grant><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>", S3ErrorCode::MalformedACLError),
            ("<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>a</ID></Grantee><Permission>ALL</Permission></Grant></AccessControlList></AccessControlPolicy>", S3ErrorCode::MalformedACLError),
            ("<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>a</ID><URI>u</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>", S3ErrorCode::MalformedACLError),
            ("<AccessControlPolicy><AccessControlList><Grant>", S3ErrorCode::MalformedXML),
        ];
        for (body, want) in table {
            let got = parse_access_control_policy(body.as_bytes()).map_err(|e| e.code);
            assert_eq!(got.err(), Some(*want), "{body}");
        }
        let empty = parse_access_control_policy(
            b"<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList/></AccessControlPolicy>",
        )
        .unwrap();
        assert!(empty.is_empty());
        let too_big = vec![b' '; ACL_BODY_MAX_BYTES + 1];
        assert_eq!(
            parse_access_control_policy(&too_big).unwrap_err().code,
            S3ErrorCode::MaxMessageLengthExceeded
        );
    }
}
