//! Browser-based uploads (S3 POST Object): `POST /bucket` with a `multipart/form-data` body
//! whose fields carry the key, object headers, a base64 JSON policy and its signature, and
//! whose last field, `file`, is the object's content.
//!
//! Owns: the `multipart/form-data` framing — a streaming boundary scanner that finds the
//! delimiter however it is split across reads, the bounded fields before the file, and the
//! file's end; the policy (`expiration`, `conditions`: exact matches `{"field": "v"}` and
//! `["eq", "$field", "v"]`, `["starts-with", "$field", "prefix"]`,
//! `["content-length-range", min, max]`); the policy signature, V2
//! (`AWSAccessKeyId`, `signature` = Base64(HMAC-SHA1(secret, policy))) or V4 (`x-amz-algorithm`,
//! `x-amz-credential`, `x-amz-date`, `x-amz-signature` = hex(HMAC-SHA256(signing key, policy)));
//! and the success answer (`success_action_status`, `success_action_redirect`).
//!
//! Must not: do I/O, read the clock (the caller passes `now_unix`), or hold the file: file
//! bytes pass through [`FormParser::feed_file`] into the caller's buffer, at most one read at a
//! time. Checking the file's length against `content-length-range`, its MD5 and checksums is
//! the caller's, as for a PUT body.
//!
//! Invariants: no input panics; the bytes before the file (preamble, part headers, field
//! values) are at most [`POST_FORM_FIELDS_BYTES_MAX`], more is
//! `MaxPostPreDataLengthExceededError`; field names are compared case-insensitively (kept
//! lowercased), values exactly; a field appears at most once; the file's content ends only at
//! a delimiter followed by `--` (the close) or a line end, so a body cut short is never taken
//! for a complete file; every field but `policy`, `signature`, `AWSAccessKeyId`,
//! `x-amz-signature`, `file` and `x-ignore-*` must be named by a policy condition; a form field
//! becomes a stored header only if its name is a token and its value has no control
//! characters (no response splitting through stored metadata).
//!
//! Choices where S3 leaves room:
//! * A condition on a field the form does not carry compares against the empty string, so
//!   `["starts-with", "$x", ""]` holds without `x`, and `{"x": "v"}` does not.
//! * The `bucket` condition compares against the bucket the request addresses, `key` against
//!   the key after `${filename}` substitution.
//! * Operator names (`eq`, `starts-with`, `content-length-range`) are case-insensitive, as
//!   field names are; the policy's `expiration` and `conditions` are not (Ceph and AWS agree).
//! * A form without `policy` and without signature fields is anonymous: [`authorize`] answers
//!   it with an empty access key and no length bounds, and the caller accepts it only into a
//!   bucket whose ACL lets everyone write (`proto::acl`). Signature fields without a policy
//!   are `403 AccessDenied`.
//! * The file part is the field named `file`; the part's own `Content-Type` is not stored (the
//!   `Content-Type` field is).

use base64::Engine;
use hmac::{Hmac, Mac};
use memchr::memmem;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::constants::POST_FORM_FIELDS_BYTES_MAX;
use crate::proto::error::{xml_escape_into, S3Error, S3ErrorCode};
use crate::proto::route::KEY_LEN_MAX_BYTES;
use crate::proto::{sigv2, sigv4, time};

/// Longest boundary RFC 2046 allows.
pub const BOUNDARY_LEN_MAX: usize = 70;
/// Bytes allowed between a delimiter and its line end (RFC 2046 transport padding).
const PADDING_BYTES_MAX: usize = 64;
/// The V4 signing algorithm a form may name.
const V4_ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Fields no condition needs to name (lowercased), besides `x-ignore-*`.
const EXEMPT_FIELDS: [&str; 5] = [
    "policy",
    "signature",
    "awsaccesskeyid",
    "x-amz-signature",
    "file",
];
/// `x-amz-*` fields that authenticate the form or describe a request body: never stored or
/// checked as object headers.
const NOT_HEADERS: [&str; 8] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-signature",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-amz-trailer",
    "x-amz-decoded-content-length",
];
/// Standard headers a form field may set on the object.
const HEADER_FIELDS: [&str; 7] = [
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "content-md5",
];

fn malformed(message: &'static str) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedPOSTRequest, message)
}

fn invalid_argument(message: impl Into<std::borrow::Cow<'static, str>>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, message)
}

fn invalid_policy(message: impl Into<std::borrow::Cow<'static, str>>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidPolicyDocument, message)
}

fn policy_denied(message: impl std::fmt::Display) -> S3Error {
    S3Error::with_message(
        S3ErrorCode::AccessDenied,
        format!("Invalid according to Policy: {message}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Content-Type.

/// The boundary of a `multipart/form-data` `Content-Type`. Any other type is
/// `412 PreconditionFailed`, as S3 answers a bucket POST that is not a form upload.
pub fn boundary(content_type: Option<&str>) -> Result<String, S3Error> {
    let value = content_type.unwrap_or("");
    let params = split_params(value);
    let is_form = params
        .first()
        .is_some_and(|(t, _)| t.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !is_form {
        return Err(S3Error::with_message(
            S3ErrorCode::PreconditionFailed,
            "Bucket POST must be of the enclosure-type multipart/form-data",
        ));
    }
    let found = params
        .iter()
        .skip(1)
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
        .and_then(|(_, v)| v.clone());
    match found {
        Some(b)
            if !b.is_empty()
                && b.len() <= BOUNDARY_LEN_MAX
                && b.bytes().all(|c| (0x20..0x7f).contains(&c)) =>
        {
            Ok(b)
        }
        _ => Err(malformed(
            "The multipart/form-data Content-Type needs a boundary of 1 to 70 characters.",
        )),
    }
}

/// Splits `a; k=v; k2="q;uoted"` into `(a, None), (k, Some(v)), ...`: names trimmed (as
/// given), values unquoted (`\` escapes the next character inside quotes).
fn split_params(value: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        let (item, after) = next_param(rest);
        let item_trimmed = item.trim();
        if !item_trimmed.is_empty() || out.is_empty() {
            match item_trimmed.split_once('=') {
                Some((name, raw)) => out.push((name.trim().to_string(), Some(unquote(raw.trim())))),
                None => out.push((item_trimmed.to_string(), None)),
            }
        }
        match after {
            Some(next) => rest = next,
            None => return out,
        }
    }
}

/// The text up to the first `;` outside double quotes, and what follows that `;`.
fn next_param(s: &str) -> (&str, Option<&str>) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => return (&s[..i], Some(&s[i + 1..])),
            _ => {}
        }
    }
    (s, None)
}

fn unquote(raw: &str) -> String {
    let Some(inner) = raw.strip_prefix('"') else {
        return raw.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            _ if escaped => {
                out.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => break,
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The streaming boundary scanner.

/// What [`BoundaryScanner::push`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// No delimiter yet: every input byte was consumed (some may be held back).
    More,
    /// The delimiter ends at `input[..n]`: the bytes after it are `input[n..]`.
    Found(usize),
}

/// Finds a delimiter in a byte stream that arrives in pieces. Bytes that are certainly before
/// the delimiter go out as soon as they arrive; a tail that could be the delimiter's start
/// (shorter than the delimiter) is held back until the next piece decides.
pub struct BoundaryScanner {
    finder: memmem::Finder<'static>,
    held: Vec<u8>,
}

impl BoundaryScanner {
    /// `delimiter` must not be empty.
    pub fn new(delimiter: &[u8]) -> BoundaryScanner {
        BoundaryScanner {
            finder: memmem::Finder::new(delimiter).into_owned(),
            held: Vec::with_capacity(delimiter.len() * 2),
        }
    }

    /// A scanner that behaves as if `prefix` (shorter than the delimiter) came first.
    fn with_prefix(delimiter: &[u8], prefix: &[u8]) -> BoundaryScanner {
        let mut scanner = BoundaryScanner::new(delimiter);
        scanner.held.extend_from_slice(prefix);
        scanner
    }

    fn delimiter(&self) -> &[u8] {
        self.finder.needle()
    }

    /// Bytes held back, undecided.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Consumes `input`, appending to `out` the bytes before the delimiter.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Scan {
        let dlen = self.delimiter().len();
        if !self.held.is_empty() {
            // `held` is shorter than the delimiter, so with `dlen` more bytes any delimiter
            // starting in it lies wholly inside `held`.
            let old = self.held.len();
            let take = input.len().min(dlen);
            self.held.extend_from_slice(&input[..take]);
            if let Some(p) = self.finder.find(&self.held) {
                out.extend_from_slice(&self.held[..p]);
                self.held.clear();
                // p + dlen > old because old < dlen.
                return Scan::Found(p + dlen - old);
            }
            if take < dlen {
                // All of `input` is in `held`: keep what may still start the delimiter.
                let keep = partial_suffix(&self.held, self.delimiter());
                let emit = self.held.len() - keep;
                out.extend_from_slice(&self.held[..emit]);
                self.held.drain(..emit);
                return Scan::More;
            }
            // No delimiter starts in the old bytes: they are content. `input` is scanned
            // whole below (its first bytes again, which is harmless).
            out.extend_from_slice(&self.held[..old]);
            self.held.clear();
        }
        if let Some(p) = self.finder.find(input) {
            out.extend_from_slice(&input[..p]);
            return Scan::Found(p + dlen);
        }
        let keep = partial_suffix(input, self.delimiter());
        let emit = input.len() - keep;
        out.extend_from_slice(&input[..emit]);
        self.held.extend_from_slice(&input[emit..]);
        Scan::More
    }
}

/// The length of the longest suffix of `buf` that is a proper prefix of `delim`.
fn partial_suffix(buf: &[u8], delim: &[u8]) -> usize {
    let longest = buf.len().min(delim.len().saturating_sub(1));
    (1..=longest)
        .rev()
        .find(|&k| buf[buf.len() - k..] == delim[..k])
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The form.

/// The fields of a form, up to its file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    /// Name (lowercased) and value, in form order; names are unique.
    pub fields: Vec<(String, String)>,
    /// The file part's `filename`, if it had one.
    pub filename: Option<String>,
}

impl Form {
    /// The value of field `name` (lowercase).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a feed reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every byte given was consumed; give more.
    NeedMore,
    /// [`FormParser::feed_fields`]: the fields are complete and the file's content starts at
    /// `input[n..]`. [`FormParser::feed_file`]: the file ended; the body's rest, `input[n..]`,
    /// means nothing.
    At(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter (a preamble is allowed and ignored).
    Preamble,
    /// After a delimiter, before its line end (or `--`, the close).
    AfterDelimiter,
    /// A part's header lines.
    Headers,
    /// A field's value.
    Value,
    /// The file's content.
    File,
    /// After the file's delimiter: `--` or a line end must follow.
    AfterFile,
    Done,
}

/// A `multipart/form-data` body, fed as it arrives: first the fields (bounded), then the file
/// (streamed through).
pub struct FormParser {
    delimiter: Vec<u8>,
    state: State,
    scanner: BoundaryScanner,
    /// The bytes of the piece being parsed: part headers, a field value, what follows a
    /// delimiter.
    buf: Vec<u8>,
    /// Where in `buf` the search for the end of the part headers resumes.
    searched: usize,
    name: String,
    form: Form,
    /// Bytes consumed before the file's content.
    pre_bytes: usize,
}

impl FormParser {
    /// A parser for a body with this request `Content-Type`; see [`boundary`].
    pub fn new(content_type: Option<&str>) -> Result<FormParser, S3Error> {
        Ok(FormParser::with_boundary(&boundary(content_type)?))
    }

    pub fn with_boundary(boundary: &str) -> FormParser {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        // The first delimiter may open the body with no line end before it.
        let scanner = BoundaryScanner::with_prefix(&delimiter, b"\r\n");
        FormParser {
            delimiter,
            state: State::Preamble,
            scanner,
            buf: Vec::new(),
            searched: 0,
            name: String::new(),
            form: Form::default(),
            pre_bytes: 0,
        }
    }

    /// Takes the fields (once `feed_fields` returned `At`).
    pub fn take_form(&mut self) -> Form {
        std::mem::take(&mut self.form)
    }

    /// Whether the file's content is being read (or has been).
    pub fn in_file(&self) -> bool {
        matches!(self.state, State::File | State::AfterFile | State::Done)
    }

    /// Parses the fields before the file. `At(n)`: the file's content starts at `input[n..]`.
    /// Only [`POST_FORM_FIELDS_BYTES_MAX`] bytes are ever looked at; a body that ends before
    /// the file is the caller's to report ([`FormParser::ended_early`]).
    pub fn feed_fields(&mut self, input: &[u8]) -> Result<Progress, S3Error> {
        if self.in_file() {
            return Ok(Progress::At(0));
        }
        let budget = POST_FORM_FIELDS_BYTES_MAX.saturating_sub(self.pre_bytes);
        let usable = &input[..input.len().min(budget)];
        let mut pos = 0;
        while pos < usable.len() {
            pos += self.step(&usable[pos..])?;
            if self.state == State::File {
                self.pre_bytes += pos;
                return Ok(Progress::At(pos));
            }
        }
        self.pre_bytes += pos;
        if input.len() > usable.len() {
            return Err(S3Error::new(S3ErrorCode::MaxPostPreDataLengthExceededError));
        }
        Ok(Progress::NeedMore)
    }

    /// The error for a body that ended while `feed_fields` still wanted more.
    pub fn ended_early(&self) -> S3Error {
        malformed("The body of your POST request ended before its file field.")
    }

    /// Consumes a prefix of `input` (at least one byte) in one of the field states.
    fn step(&mut self, input: &[u8]) -> Result<usize, S3Error> {
        match self.state {
            State::Preamble | State::Value => {
                let preamble = self.state == State::Preamble;
                let found = self.scanner.push(input, &mut self.buf);
                if preamble {
                    self.buf.clear();
                }
                match found {
                    Scan::More => Ok(input.len()),
                    Scan::Found(n) => {
                        if !preamble {
                            self.end_field()?;
                        }
                        self.state = State::AfterDelimiter;
                        Ok(n)
                    }
                }
            }
            State::AfterDelimiter => self.after_delimiter(input),
            State::Headers => self.headers(input),
            State::File | State::AfterFile | State::Done => Ok(input.len()),
        }
    }

    /// `--` (the close: no file came) or optional padding and a line end.
    fn after_delimiter(&mut self, input: &[u8]) -> Result<usize, S3Error> {
        for (i, &b) in input.iter().enumerate() {
            self.buf.push(b);
            let padding = self
                .buf
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
            match (&self.buf[..], &self.buf[padding..]) {
                (b"--", _) => {
                    return Err(S3Error::new(
                        S3ErrorCode::IncorrectNumberOfFilesInPostRequest,
                    ))
                }
                (_, b"\r\n") => {
                    self.buf.clear();
                    self.searched = 0;
                    self.state = State::Headers;
                    return Ok(i + 1);
                }
                (b"-", _) | (_, b"" | b"\r") if self.buf.len() <= PADDING_BYTES_MAX => {}
                _ => return Err(malformed("A multipart boundary line has trailing data.")),
            }
        }
        Ok(input.len())
    }

    /// Accumulates a part's header lines up to the blank line.
    fn headers(&mut self, input: &[u8]) -> Result<usize, S3Error> {
        let old = self.buf.len();
        self.buf.extend_from_slice(input);
        // A part without header lines starts with the blank line itself.
        let end = if self.buf.starts_with(b"\r\n") {
            Some((0, 2))
        } else {
            let from = self.searched.saturating_sub(3);
            memmem::find(&self.buf[from..], b"\r\n\r\n").map(|p| (from + p + 2, from + p + 4))
        };
        let Some((head_end, body_start)) = end else {
            self.searched = self.buf.len();
            return Ok(input.len());
        };
        let used = body_start - old;
        let head = std::mem::take(&mut self.buf);
        let (name, filename) = part_disposition(&head[..head_end])?;
        self.searched = 0;
        if name == "file" {
            self.form.filename = filename;
            self.state = State::File;
            self.scanner = BoundaryScanner::new(&self.delimiter);
        } else {
            if self.form.fields.iter().any(|(n, _)| *n == name) {
                return Err(invalid_argument(format!(
                    "The form field {name} is given more than once."
                )));
            }
            self.name = name;
            self.state = State::Value;
            self.scanner = BoundaryScanner::new(&self.delimiter);
        }
        Ok(used)
    }

    fn end_field(&mut self) -> Result<(), S3Error> {
        let value = String::from_utf8(std::mem::take(&mut self.buf))
            .map_err(|_| malformed("Form field values must be UTF-8."))?;
        self.form
            .fields
            .push((std::mem::take(&mut self.name), value));
        Ok(())
    }

    /// Streams the file's content into `out` (bytes before the delimiter; a tail shorter
    /// than the delimiter may be held until the next call). `At(n)`: the file ended with a
    /// well-formed delimiter inside `input[..n]`.
    pub fn feed_file(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Progress, S3Error> {
        let mut pos = 0;
        if self.state == State::File {
            match self.scanner.push(input, out) {
                Scan::More => return Ok(Progress::NeedMore),
                Scan::Found(n) => {
                    pos = n;
                    self.state = State::AfterFile;
                    self.buf.clear();
                }
            }
        }
        if self.state == State::AfterFile {
            // The delimiter must be the close (`--`) or end its line (maybe after padding):
            // a body that stops right after it is cut short.
            for &b in &input[pos..] {
                pos += 1;
                self.buf.push(b);
                match self.buf.as_slice() {
                    b"--" | b"\r\n" | [b' ' | b'\t', ..] => {
                        self.state = State::Done;
                        self.buf.clear();
                        return Ok(Progress::At(pos));
                    }
                    b"-" | b"\r" => {}
                    _ => return Err(malformed("A multipart boundary line has trailing data.")),
                }
            }
            return Ok(Progress::NeedMore);
        }
        if self.state == State::Done {
            return Ok(Progress::At(0));
        }
        Err(S3Error::new(S3ErrorCode::InternalError))
    }
}

/// The field name (lowercased) and filename of a part, from its `Content-Disposition`.
fn part_disposition(head: &[u8]) -> Result<(String, Option<String>), S3Error> {
    let head = std::str::from_utf8(head).map_err(|_| malformed("Part headers must be UTF-8."))?;
    let mut found = None;
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("A part header line has no colon."))?;
        if name.trim().eq_ignore_ascii_case("content-disposition") {
            if found.is_some() {
                return Err(malformed("A part has two Content-Disposition headers."));
            }
            found = Some(value.trim());
        }
    }
    let disposition = found.ok_or_else(|| malformed("A part has no Content-Disposition."))?;
    let params = split_params(disposition);
    let form_data = params
        .first()
        .is_some_and(|(t, v)| v.is_none() && t.eq_ignore_ascii_case("form-data"));
    if !form_data {
        return Err(malformed("A part's Content-Disposition is not form-data."));
    }
    let param = |wanted: &str| {
        params
            .iter()
            .skip(1)
            .find(|(n, _)| n.eq_ignore_ascii_case(wanted))
            .and_then(|(_, v)| v.clone())
    };
    let name = param("name").ok_or_else(|| malformed("A form part has no name."))?;
    Ok((name.to_ascii_lowercase(), param("filename")))
}

// ---------------------------------------------------------------------------------------------
// The policy.

/// One policy condition. Field names are lowercased, without `$`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Eq(String, String),
    StartsWith(String, String),
    LengthRange(u64, u64),
}

/// A decoded policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Unix seconds; valid through this second.
    pub expiration: i64,
    pub conditions: Vec<Condition>,
}

/// Decodes a policy field (base64 of a JSON document); every failure is
/// `400 InvalidPolicyDocument`.
pub fn parse_policy(policy_b64: &str) -> Result<Policy, S3Error> {
    let compact: Vec<u8> = policy_b64
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| invalid_policy("Invalid Policy: Invalid Base64 encoding."))?;
    let doc: Value = serde_json::from_slice(&raw)
        .map_err(|_| invalid_policy("Invalid Policy: Invalid JSON."))?;
    let doc = doc
        .as_object()
        .ok_or_else(|| invalid_policy("Invalid Policy: Invalid JSON."))?;
    let expiration = match doc.get("expiration") {
        None => return Err(invalid_policy("Invalid Policy: Policy missing expiration.")),
        Some(v) => v
            .as_str()
            .and_then(parse_expiration)
            .ok_or_else(|| invalid_policy("Invalid Policy: Invalid 'expiration' value."))?,
    };
    let list = match doc.get("conditions") {
        None => return Err(invalid_policy("Invalid Policy: Policy missing conditions.")),
        Some(v) => v
            .as_array()
            .ok_or_else(|| invalid_policy("Invalid Policy: Invalid 'conditions' value."))?,
    };
    let mut conditions = Vec::with_capacity(list.len());
    for item in list {
        parse_condition(item, &mut conditions)?;
    }
    Ok(Policy {
        expiration,
        conditions,
    })
}

/// ISO 8601 UTC, `2013-08-01T12:00:00Z` with optional fractional seconds, into Unix seconds.
fn parse_expiration(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b.last() != Some(&b'Z') {
        return None;
    }
    let fraction = &b[19..b.len() - 1];
    let fraction_ok = fraction.is_empty()
        || (fraction.len() >= 2
            && fraction[0] == b'.'
            && fraction[1..].iter().all(u8::is_ascii_digit));
    if !fraction_ok {
        return None;
    }
    // Rewrite as SigV4's `YYYYMMDDTHHMMSSZ` and parse that (it checks every field; bytes,
    // not `str` slices, so nothing here depends on where characters begin).
    let basic = [
        &b[0..4],
        &b[5..7],
        &b[8..10],
        b"T",
        &b[11..13],
        &b[14..16],
        &b[17..19],
        b"Z",
    ]
    .concat();
    time::amz_date_parse(std::str::from_utf8(&basic).ok()?)
}

/// A string, or an integer written in decimal (as some SDKs write numeric fields).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// A non-negative integer, or a string of digits.
fn length(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

fn parse_condition(item: &Value, out: &mut Vec<Condition>) -> Result<(), S3Error> {
    let bad = || invalid_policy(format!("Invalid Policy: Invalid Condition: {item}"));
    match item {
        Value::Object(map) if !map.is_empty() => {
            for (name, value) in map {
                let value = text(value).ok_or_else(bad)?;
                out.push(Condition::Eq(name.to_ascii_lowercase(), value));
            }
            Ok(())
        }
        Value::Array(parts) => {
            let op = parts.first().and_then(Value::as_str).ok_or_else(bad)?;
            if op.eq_ignore_ascii_case("content-length-range") {
                let [_, min, max] = parts.as_slice() else {
                    return Err(bad());
                };
                let (min, max) = (length(min).ok_or_else(bad)?, length(max).ok_or_else(bad)?);
                if min > max {
                    return Err(bad());
                }
                out.push(Condition::LengthRange(min, max));
                return Ok(());
            }
            let [_, field, value] = parts.as_slice() else {
                return Err(bad());
            };
            let field = field
                .as_str()
                .and_then(|f| f.strip_prefix('$'))
                .filter(|f| !f.is_empty())
                .ok_or_else(bad)?
                .to_ascii_lowercase();
            let value = text(value).ok_or_else(bad)?;
            if op.eq_ignore_ascii_case("eq") {
                out.push(Condition::Eq(field, value));
            } else if op.eq_ignore_ascii_case("starts-with") {
                out.push(Condition::StartsWith(field, value));
            } else {
                return Err(bad());
            }
            Ok(())
        }
        _ => Err(bad()),
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization.

/// How to answer a successful upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Success {
    /// 200 or 204 with an empty body, 201 with a `PostResponse` document.
    Status(u16),
    /// 303 to this URL (`bucket`, `key` and `etag` are added to its query).
    Redirect(String),
}

/// An authorized upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub access_key: String,
    pub key: String,
    /// The fields that act as request headers, named as headers (lowercase): object headers
    /// and metadata, `Content-MD5`, `x-amz-checksum-*`, and those asking for features
    /// (`acl` as `x-amz-acl`, `tagging` as `x-amz-tagging`, `x-amz-server-side-encryption*`,
    /// ...), for the caller to store, verify or refuse as it does a PUT's headers.
    pub headers: Vec<(String, String)>,
    /// The file's allowed length, inclusive (the policy's `content-length-range`s).
    pub length_min: u64,
    pub length_max: u64,
    pub success: Success,
}

/// Authenticates and authorizes a form for `bucket`: the key, the signature (by the secret
/// `lookup_secret` finds for the access key), the policy's expiration and conditions, and
/// the fields' use as headers. A form with neither policy nor signature is anonymous: an
/// `Upload` with an empty `access_key`, whose bucket access the caller checks.
pub fn authorize(
    form: &Form,
    bucket: &str,
    now_unix: i64,
    region: &str,
    lookup_secret: impl Fn(&str) -> Option<String>,
) -> Result<Upload, S3Error> {
    let key = object_key(form)?;
    let Some(policy_b64) = form.field("policy") else {
        if AUTH_FIELDS.iter().any(|f| form.field(f).is_some()) {
            // Signed without a policy: nothing was signed.
            return Err(S3Error::new(S3ErrorCode::AccessDenied));
        }
        // Anonymous, as S3 takes it: no policy to check; whether the bucket is publicly
        // writable is the caller's to decide (`access_key` is empty).
        return Ok(Upload {
            access_key: String::new(),
            key,
            headers: header_fields(form)?,
            length_min: 0,
            length_max: u64::MAX,
            success: success(form),
        });
    };
    let access_key = verify_signature(form, policy_b64, region, lookup_secret)?;
    let policy = parse_policy(policy_b64)?;
    if now_unix > policy.expiration {
        return Err(policy_denied("Policy expired."));
    }
    let (length_min, length_max) = check_conditions(form, &policy, bucket, &key)?;
    Ok(Upload {
        access_key,
        key,
        headers: header_fields(form)?,
        length_min,
        length_max,
        success: success(form),
    })
}

/// The `key` field with `${filename}` replaced by the file's name.
fn object_key(form: &Form) -> Result<String, S3Error> {
    let template = form.field("key").ok_or_else(|| {
        invalid_argument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check \
             the order of the fields.",
        )
    })?;
    let key = template.replace("${filename}", form.filename.as_deref().unwrap_or(""));
    if key.is_empty() {
        return Err(invalid_argument(
            "User key must have a length greater than 0.",
        ));
    }
    if key.len() > KEY_LEN_MAX_BYTES {
        return Err(S3Error::new(S3ErrorCode::KeyTooLongError));
    }
    Ok(key)
}

fn missing_field(name: &str) -> S3Error {
    invalid_argument(format!(
        "Bucket POST must contain a field named '{name}'.  If it is specified, please check \
         the order of the fields."
    ))
}

/// Fields that sign a form (lowercased): with any of them, a form is not anonymous.
const AUTH_FIELDS: [&str; 5] = [
    "awsaccesskeyid",
    "signature",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-signature",
];

/// Checks the policy's signature (V2 or V4); returns the signer's access key.
fn verify_signature(
    form: &Form,
    policy_b64: &str,
    region: &str,
    lookup_secret: impl Fn(&str) -> Option<String>,
) -> Result<String, S3Error> {
    let v4 = ["x-amz-algorithm", "x-amz-credential", "x-amz-signature"]
        .iter()
        .any(|f| form.field(f).is_some());
    let v2 = ["awsaccesskeyid", "signature"]
        .iter()
        .any(|f| form.field(f).is_some());
    match (v2, v4) {
        (true, true) => Err(invalid_argument(
            "Only one auth mechanism allowed: either AWSAccessKeyId and signature, or the \
             x-amz-* fields of Signature Version 4.",
        )),
        (false, false) => Err(missing_field("AWSAccessKeyId")),
        (true, false) => {
            let access_key = form
                .field("awsaccesskeyid")
                .ok_or_else(|| missing_field("AWSAccessKeyId"))?;
            let signature = form
                .field("signature")
                .ok_or_else(|| missing_field("Signature"))?;
            let secret = lookup_secret(access_key)
                .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?;
            let expected = signature_v2(&secret, policy_b64)?;
            if bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes())) {
                Ok(access_key.to_string())
            } else {
                Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch))
            }
        }
        (false, true) => verify_v4(form, policy_b64, region, lookup_secret),
    }
}

fn verify_v4(
    form: &Form,
    policy_b64: &str,
    region: &str,
    lookup_secret: impl Fn(&str) -> Option<String>,
) -> Result<String, S3Error> {
    let field = |name: &'static str| form.field(name).ok_or_else(|| missing_field(name));
    let algorithm = field("x-amz-algorithm")?;
    if algorithm.starts_with("AWS4-ECDSA-P256-SHA256") {
        return Err(S3Error::with_message(
            S3ErrorCode::NotImplemented,
            "Signature Version 4A is not supported.",
        ));
    }
    if algorithm != V4_ALGORITHM {
        return Err(invalid_argument(
            "x-amz-algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let credential = field("x-amz-credential")?;
    let amz_date = field("x-amz-date")?;
    let signature = field("x-amz-signature")?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, date, cred_region, service, terminator] = parts.as_slice() else {
        return Err(invalid_argument(
            "x-amz-credential must be ACCESS-KEY/YYYYMMDD/REGION/s3/aws4_request.",
        ));
    };
    if access_key.is_empty() || *service != sigv4::SERVICE || *terminator != "aws4_request" {
        return Err(invalid_argument(
            "x-amz-credential must be ACCESS-KEY/YYYYMMDD/REGION/s3/aws4_request.",
        ));
    }
    if *cred_region != region {
        return Err(invalid_argument(format!(
            "The region '{cred_region}' is wrong; expecting '{region}'"
        )));
    }
    if time::amz_date_parse(amz_date).is_none() || amz_date.get(..8) != Some(date) {
        return Err(invalid_argument(
            "x-amz-date must be YYYYMMDDTHHMMSSZ, on the date of x-amz-credential.",
        ));
    }
    let secret =
        lookup_secret(access_key).ok_or_else(|| S3Error::new(S3ErrorCode::InvalidAccessKeyId))?;
    let expected = signature_v4(&secret, date, region, policy_b64);
    if sigv4::signatures_equal(&expected, signature.trim()) {
        Ok(access_key.to_string())
    } else {
        Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch))
    }
}

/// Base64(HMAC-SHA1(secret, policy)): the V2 policy signature (Signature V2's own HMAC).
pub fn signature_v2(secret: &str, policy_b64: &str) -> Result<String, S3Error> {
    sigv2::signature(secret, policy_b64)
}

/// hex(HMAC-SHA256(signing key, policy)): the V4 policy signature.
pub fn signature_v4(secret: &str, date: &str, region: &str, policy_b64: &str) -> String {
    let key = sigv4::signing_key(secret, date, region, sigv4::SERVICE);
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC accepts keys of any length");
    mac.update(policy_b64.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn exempt(name: &str) -> bool {
    EXEMPT_FIELDS.contains(&name) || name.starts_with("x-ignore-")
}

/// Checks every condition and that every field is named by one; returns the allowed file
/// length (inclusive).
fn check_conditions(
    form: &Form,
    policy: &Policy,
    bucket: &str,
    key: &str,
) -> Result<(u64, u64), S3Error> {
    let value_of = |name: &str| -> String {
        match name {
            "bucket" => bucket.to_string(),
            "key" => key.to_string(),
            other => form.field(other).unwrap_or("").to_string(),
        }
    };
    let (mut min, mut max) = (0u64, u64::MAX);
    for condition in &policy.conditions {
        let holds = match condition {
            Condition::Eq(field, expected) => value_of(field) == *expected,
            Condition::StartsWith(field, prefix) if field == "content-type" => value_of(field)
                .split(',')
                .all(|v| v.trim_start().starts_with(prefix.as_str())),
            Condition::StartsWith(field, prefix) => value_of(field).starts_with(prefix.as_str()),
            Condition::LengthRange(lo, hi) => {
                min = min.max(*lo);
                max = max.min(*hi);
                true
            }
        };
        if !holds {
            return Err(policy_denied(format!(
                "Policy Condition failed: {}",
                describe(condition)
            )));
        }
    }
    for (name, _) in &form.fields {
        let named = policy.conditions.iter().any(|c| match c {
            Condition::Eq(f, _) | Condition::StartsWith(f, _) => f == name,
            Condition::LengthRange(..) => false,
        });
        if !named && !exempt(name) {
            return Err(policy_denied(format!("Extra input fields: {name}")));
        }
    }
    Ok((min, max))
}

fn describe(condition: &Condition) -> String {
    match condition {
        Condition::Eq(f, v) => format!("[\"eq\", \"${f}\", {}]", Value::from(v.as_str())),
        Condition::StartsWith(f, v) => {
            format!("[\"starts-with\", \"${f}\", {}]", Value::from(v.as_str()))
        }
        Condition::LengthRange(lo, hi) => format!("[\"content-length-range\", {lo}, {hi}]"),
    }
}

/// The fields that act as request headers, named as headers.
fn header_fields(form: &Form) -> Result<Vec<(String, String)>, S3Error> {
    let mut out = Vec::new();
    for (name, value) in &form.fields {
        let header = match name.as_str() {
            "acl" => "x-amz-acl",
            "tagging" => "x-amz-tagging",
            n if HEADER_FIELDS.contains(&n) => n,
            n if n.starts_with("x-amz-") && !NOT_HEADERS.contains(&n) => n,
            _ => continue,
        };
        if !is_token(header) {
            return Err(invalid_argument(format!(
                "The form field name {header:?} cannot be a header name."
            )));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(invalid_argument(format!(
                "The form field {header} holds a control character."
            )));
        }
        out.push((header.to_string(), value.trim().to_string()));
    }
    Ok(out)
}

/// An HTTP token (RFC 9110 `tchar`s), as a header name must be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// `success_action_redirect` (or the older `redirect`) when it is an http(s) URL that can go
/// in a `Location` header; else `success_action_status` 200 or 201; else 204.
fn success(form: &Form) -> Success {
    let redirect = form
        .field("success_action_redirect")
        .or_else(|| form.field("redirect"))
        .map(str::trim)
        .filter(|url| {
            let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
            (lower.starts_with("http://") || lower.starts_with("https://"))
                && url.bytes().all(|b| b.is_ascii_graphic())
        });
    if let Some(url) = redirect {
        return Success::Redirect(url.to_string());
    }
    match form.field("success_action_status").map(str::trim) {
        Some("200") => Success::Status(200),
        Some("201") => Success::Status(201),
        _ => Success::Status(204),
    }
}

// ---------------------------------------------------------------------------------------------
// Answers.

/// Query values: everything but `A-Za-z0-9-._~` is percent-encoded.
const QUERY_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Paths: as [`QUERY_ENCODE`], keeping `/`.
const PATH_ENCODE: &percent_encoding::AsciiSet = &QUERY_ENCODE.remove(b'/');

/// The `Location` of a redirect: `url` with `bucket`, `key` and `etag` (quoted) added to its
/// query.
pub fn redirect_location(url: &str, bucket: &str, key: &str, etag_quoted: &str) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY_ENCODE).to_string();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}bucket={}&key={}&etag={}",
        enc(bucket),
        enc(key),
        enc(etag_quoted)
    )
}

/// The object's path, `/bucket/key` with the key percent-encoded.
pub fn object_path(bucket: &str, key: &str) -> String {
    format!(
        "/{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, PATH_ENCODE)
    )
}

/// The `PostResponse` document of `success_action_status` 201.
pub fn post_response_xml(location: &str, bucket: &str, key: &str, etag_quoted: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>");
    xml_escape_into(&mut out, location);
    out.push_str("</Location><Bucket>");
    xml_escape_into(&mut out, bucket);
    out.push_str("</Bucket><Key>");
    xml_escape_into(&mut out, key);
    out.push_str("</Key><ETag>");
    xml_escape_into(&mut out, etag_quoted);
    out.push_str("</ETag></PostResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const REGION: &str = "us-east-1";
    const B: &str = "----b0undary";
    /// {"expiration": "2030-01-01T00:00:00Z", "conditions": [{"bucket": "bkt"},
    /// ["starts-with", "$key", "up/"]]}, and its signatures computed with Python's hmac.
    const POLICY: &str = "eyJleHBpcmF0aW9uIjogIjIwMzAtMDEtMDFUMDA6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbeyJidWNrZXQiOiAiYmt0In0sIFsic3RhcnRzLXdpdGgiLCAiJGtleSIsICJ1cC8iXV19";
    const POLICY_V2: &str = "LE3CmrdS8fohcQD5Vq49pv9uas8=";
    const POLICY_V4: &str = "4ed390f5d97e81c58b105605dc79b74d69554c10a4dce13088e8197a4e091b47";
    /// 2029-01-01T00:00:00Z.
    const NOW: i64 = 1_861_920_000;

    fn lookup(ak: &str) -> Option<String> {
        (ak == AK).then(|| SECRET.to_string())
    }

    /// A form body as `requests` builds it: every field a part with a filename.
    fn body(fields: &[(&str, &str)], file: &[u8], epilogue: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.extend_from_slice(
                format!(
                    "--{B}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.txt\"\r\nContent-Type: text/plain\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(file);
        out.extend_from_slice(format!("\r\n--{B}--\r\n{epilogue}").as_bytes());
        out
    }

    /// Feeds `pieces` in order; returns the form, the file, and where the body's meaningful
    /// part ended (offset in the whole body), or the first error.
    fn parse_pieces(pieces: &[&[u8]]) -> Result<(Form, Vec<u8>, Option<usize>), S3Error> {
        let mut parser = FormParser::with_boundary(B);
        let mut file = Vec::new();
        let mut offset = 0;
        for piece in pieces {
            let mut rest: &[u8] = piece;
            if !parser.in_file() {
                match parser.feed_fields(rest)? {
                    Progress::NeedMore => {
                        offset += piece.len();
                        continue;
                    }
                    Progress::At(n) => rest = &rest[n..],
                }
            }
            let before = piece.len() - rest.len();
            if let Progress::At(n) = parser.feed_file(rest, &mut file)? {
                return Ok((parser.take_form(), file, Some(offset + before + n)));
            }
            offset += piece.len();
        }
        Ok((parser.take_form(), file, None))
    }

    fn parse_whole(data: &[u8]) -> Result<(Form, Vec<u8>, Option<usize>), S3Error> {
        parse_pieces(&[data])
    }

    fn fields(list: &[(&str, &str)]) -> Form {
        Form {
            fields: list
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            filename: Some("pic.png".to_string()),
        }
    }

    fn policy_b64(json: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// A V2-signed form for `json` with extra `fields` (policy, signature, key id added).
    fn signed(json: &str, extra: &[(&str, &str)]) -> Form {
        let policy = policy_b64(json);
        let signature = signature_v2(SECRET, &policy).unwrap();
        let mut list: Vec<(&str, &str)> = extra.to_vec();
        list.push(("AWSAccessKeyId", AK));
        list.push(("policy", &policy));
        list.push(("signature", &signature));
        fields(&list)
    }

    fn code(result: Result<Upload, S3Error>) -> S3ErrorCode {
        match result {
            Ok(u) => panic!("expected an error, got {u:?}"),
            Err(e) => e.code,
        }
    }

    // ----- Content-Type ---------------------------------------------------------------------

    #[test]
    fn boundary_from_content_type() {
        let ok = [
            ("multipart/form-data; boundary=abc", "abc"),
            ("Multipart/Form-Data;boundary=\"a;b c\"", "a;b c"),
            ("multipart/form-data; charset=utf-8; BOUNDARY=x-y", "x-y"),
        ];
        for (ct, want) in ok {
            assert_eq!(boundary(Some(ct)).expect(ct), want, "{ct}");
        }
        let long = format!("multipart/form-data; boundary={}", "b".repeat(71));
        let bad = [
            (None, S3ErrorCode::PreconditionFailed),
            (
                Some("application/x-www-form-urlencoded"),
                S3ErrorCode::PreconditionFailed,
            ),
            (
                Some("multipart/form-data"),
                S3ErrorCode::MalformedPOSTRequest,
            ),
            (
                Some("multipart/form-data; boundary="),
                S3ErrorCode::MalformedPOSTRequest,
            ),
            (
                Some("multipart/form-data; boundary=\"\""),
                S3ErrorCode::MalformedPOSTRequest,
            ),
            (Some(long.as_str()), S3ErrorCode::MalformedPOSTRequest),
        ];
        for (ct, want) in bad {
            assert_eq!(boundary(ct).map_err(|e| e.code), Err(want), "{ct:?}");
        }
    }

    // ----- the scanner ----------------------------------------------------------------------

    /// Pushes `pieces`; returns (content before the delimiter, offset after it in the whole).
    fn scan(delim: &[u8], pieces: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
        let mut scanner = BoundaryScanner::new(delim);
        let mut out = Vec::new();
        let mut offset = 0;
        for piece in pieces {
            if let Scan::Found(n) = scanner.push(piece, &mut out) {
                return (out, Some(offset + n));
            }
            offset += piece.len();
            assert!(scanner.held() < delim.len());
        }
        (out, None)
    }

    #[test]
    fn scanner_finds_a_delimiter_split_at_every_position() {
        let delim = b"\r\n--XyZ";
        // Content full of near-misses: partial delimiters, a delimiter with a wrong last byte.
        let content: &[u8] = b"\r\r\n-\r\n--\r\n--Xy\r\n--XyQ\r\n\r\n-- data \r";
        let mut stream = content.to_vec();
        stream.extend_from_slice(delim);
        stream.extend_from_slice(b"--\r\nafter");
        let end = content.len() + delim.len();
        for cut in 0..=stream.len() {
            let (out, found) = scan(delim, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(out, content, "cut {cut}");
            assert_eq!(found, Some(end), "cut {cut}");
        }
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let (out, found) = scan(delim, &[&stream[..a], &stream[a..b], &stream[b..]]);
                assert_eq!(
                    (out.as_slice(), found),
                    (content, Some(end)),
                    "cuts {a} {b}"
                );
            }
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(scan(delim, &bytes), (content.to_vec(), Some(end)));
    }

    #[test]
    fn scanner_without_delimiter_keeps_only_a_possible_start() {
        let delim = b"\r\n--XyZ";
        let mut scanner = BoundaryScanner::new(delim);
        let mut out = Vec::new();
        assert_eq!(scanner.push(b"abc\r\n--Xy", &mut out), Scan::More);
        assert_eq!(out, b"abc");
        assert_eq!(scanner.held(), 6);
        assert_eq!(scanner.push(b"Q", &mut out), Scan::More);
        assert_eq!(out, b"abc\r\n--XyQ");
        assert_eq!(scanner.held(), 0);
        assert_eq!(scanner.push(b"", &mut out), Scan::More);
        assert_eq!(scanner.push(b"\r", &mut out), Scan::More);
        assert_eq!(scanner.push(b"\n--XyZ", &mut out), Scan::Found(6));
        assert_eq!(out, b"abc\r\n--XyQ");
    }

    // ----- the form -------------------------------------------------------------------------

    #[test]
    fn form_parses_split_at_every_position() {
        let file: &[u8] = b"line one\r\n--b0und\r\n-- not the end\r\n\r\n";
        let data = body(
            &[("key", "up/${filename}"), ("Content-Type", "text/plain")],
            file,
            "ignored",
        );
        let end = data.len() - "\r\nignored".len();
        let want_fields = vec![
            ("key".to_string(), "up/${filename}".to_string()),
            ("content-type".to_string(), "text/plain".to_string()),
        ];
        for cut in 0..=data.len() {
            let (form, got, at) = parse_pieces(&[&data[..cut], &data[cut..]]).expect("parses");
            assert_eq!(form.fields, want_fields, "cut {cut}");
            assert_eq!(form.filename.as_deref(), Some("a b.txt"));
            assert_eq!(got, file, "cut {cut}");
            assert_eq!(at, Some(end), "cut {cut}");
        }
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        let (form, got, at) = parse_pieces(&bytes).expect("byte by byte");
        assert_eq!(
            (form.fields, got, at),
            (want_fields, file.to_vec(), Some(end))
        );
    }

    #[test]
    fn form_details() {
        // A preamble, padding after a boundary, header names in any case, a part with two
        // header lines, an empty value and an empty file.
        let data = format!(
            "preamble\r\n--{B}  \r\ncontent-type: text/plain\r\nCONTENT-DISPOSITION: form-data; name=\"X-Amz-Meta-A\"\r\n\r\n\r\n--{B}\r\nContent-Disposition: form-data; name=file\r\n\r\n\r\n--{B}--"
        );
        let (form, file, at) = parse_whole(data.as_bytes()).expect("parses");
        assert_eq!(
            form.fields,
            vec![("x-amz-meta-a".to_string(), String::new())]
        );
        assert_eq!(form.filename, None);
        assert!(file.is_empty());
        assert_eq!(at, Some(data.len()));
    }

    #[test]
    fn form_errors() {
        let dup = body(&[("key", "a"), ("KEY", "b")], b"x", "");
        let no_file = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--{B}--\r\n"
        );
        let no_disposition = format!("--{B}\r\nContent-Type: text/plain\r\n\r\nk\r\n--{B}--\r\n");
        let no_name = format!("--{B}\r\nContent-Disposition: form-data\r\n\r\nk\r\n--{B}--\r\n");
        let not_form_data =
            format!("--{B}\r\nContent-Disposition: attachment; name=a\r\n\r\nk\r\n--{B}--\r\n");
        let junk_after_boundary =
            format!("--{B}junk\r\nContent-Disposition: form-data; name=a\r\n\r\n");
        let bad_utf8 = [
            format!("--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\n").as_bytes(),
            b"\xff\r\n--",
            B.as_bytes(),
            b"\r\n",
        ]
        .concat();
        let table: Vec<(&[u8], S3ErrorCode)> = vec![
            (&dup, S3ErrorCode::InvalidArgument),
            (
                no_file.as_bytes(),
                S3ErrorCode::IncorrectNumberOfFilesInPostRequest,
            ),
            (no_disposition.as_bytes(), S3ErrorCode::MalformedPOSTRequest),
            (no_name.as_bytes(), S3ErrorCode::MalformedPOSTRequest),
            (not_form_data.as_bytes(), S3ErrorCode::MalformedPOSTRequest),
            (
                junk_after_boundary.as_bytes(),
                S3ErrorCode::MalformedPOSTRequest,
            ),
            (&bad_utf8, S3ErrorCode::MalformedPOSTRequest),
        ];
        for (data, want) in table {
            let got = parse_whole(data).map(|_| ()).map_err(|e| e.code);
            assert_eq!(got, Err(want), "{:?}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn fields_are_bounded() {
        let big = "v".repeat(POST_FORM_FIELDS_BYTES_MAX);
        let data = body(&[("x-amz-meta-big", &big)], b"x", "");
        let got = parse_whole(&data).map(|_| ()).map_err(|e| e.code);
        assert_eq!(got, Err(S3ErrorCode::MaxPostPreDataLengthExceededError));
        // Also when the fields come a byte at a time (nothing is buffered beyond the bound).
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        let got = parse_pieces(&bytes).map(|_| ()).map_err(|e| e.code);
        assert_eq!(got, Err(S3ErrorCode::MaxPostPreDataLengthExceededError));
        // Just under the bound is fine, and the file is not counted.
        let fits = "v".repeat(POST_FORM_FIELDS_BYTES_MAX - 400);
        let data = body(
            &[("x-amz-meta-big", &fits)],
            &vec![7u8; 3 * POST_FORM_FIELDS_BYTES_MAX],
            "",
        );
        let (form, file, at) = parse_whole(&data).expect("fits");
        assert_eq!(form.fields[0].1.len(), fits.len());
        assert_eq!(file.len(), 3 * POST_FORM_FIELDS_BYTES_MAX);
        assert!(at.is_some());
    }

    #[test]
    fn a_cut_body_never_ends_the_file() {
        let data = body(&[("key", "k")], b"content", "");
        let close = format!("\r\n--{B}--\r\n");
        let file_end = data.len() - close.len();
        // Every cut up to `--` after the file's delimiter (excluded) leaves the file
        // unfinished, also right after the delimiter and after its first `-`.
        for cut in 0..file_end + 6 + B.len() {
            match parse_whole(&data[..cut]) {
                Ok((_, _, at)) => assert_eq!(at, None, "cut {cut}"),
                Err(e) => assert_eq!(e.code, S3ErrorCode::MalformedPOSTRequest, "cut {cut}"),
            }
        }
        // The delimiter followed by anything but `--`, padding or a line end is no delimiter
        // line: the body is malformed rather than a shorter file.
        let mut bad = data[..file_end + 4 + B.len()].to_vec();
        bad.extend_from_slice(b"X");
        let got = parse_whole(&bad).map(|_| ()).map_err(|e| e.code);
        assert_eq!(got, Err(S3ErrorCode::MalformedPOSTRequest));
        // Another part after the file ends it too (S3 ignores fields after the file).
        let mut more = data[..file_end].to_vec();
        more.extend_from_slice(
            format!("\r\n--{B}\r\nContent-Disposition: form-data; name=x\r\n\r\ny").as_bytes(),
        );
        let (_, file, at) = parse_whole(&more).expect("parses");
        assert_eq!(
            (file.as_slice(), at),
            (&b"content"[..], Some(file_end + 6 + B.len()))
        );
    }

    /// A small deterministic generator (xorshift64*), so the hostile-input tests repeat.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn hostile_bodies_never_panic() {
        let valid = body(
            &[("key", "k"), ("policy", POLICY)],
            b"file \r\n-- data",
            "tail",
        );
        let alphabet: &[u8] = b"-\r\n \t\"=;:abcFILEfile0\xff";
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            let mut data = valid.clone();
            // Mutate a few bytes, insert boundary fragments, or cut the body.
            for _ in 0..rng.below(6) {
                let at = rng.below(data.len());
                match rng.below(4) {
                    0 => data[at] = alphabet[rng.below(alphabet.len())],
                    1 => {
                        let piece = format!("\r\n--{}", &B[..rng.below(B.len() + 1)]);
                        data.splice(at..at, piece.bytes());
                    }
                    2 => data.truncate(at),
                    _ => {
                        data.remove(at.min(data.len().saturating_sub(1)));
                    }
                }
                if data.is_empty() {
                    break;
                }
            }
            if round % 3 == 0 {
                data = (0..rng.below(300))
                    .map(|_| alphabet[rng.below(alphabet.len())])
                    .collect();
                data.splice(0..0, format!("--{B}\r\n").bytes());
            }
            // Feed in random pieces; whatever happens, no panic and the file never exceeds
            // the input.
            let mut pieces = Vec::new();
            let mut at = 0;
            while at < data.len() {
                let len = 1 + rng.below(40);
                pieces.push(&data[at..(at + len).min(data.len())]);
                at += len;
            }
            if let Ok((form, file, _)) = parse_pieces(&pieces) {
                assert!(file.len() <= data.len());
                let _ = authorize(&form, "bkt", NOW, REGION, lookup);
            }
        }
    }

    #[test]
    fn hostile_policies_never_panic() {
        let docs = [
            "", "null", "[]", "{}", "{\"expiration\": 5}", "{\"expiration\": \"2030-01-01T00:00:00Z\"}",
            "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": {}}",
            "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[], [1], [\"eq\"], [\"eq\", \"key\", \"v\"], [\"eq\", \"$\", \"v\"], [\"content-length-range\", 1.5, 2], [\"content-length-range\", 5, 1], {\"a\": [1]}, {\"a\": null}, 7]}",
            "{\"expiration\": \"9999-12-31T23:59:59.999999999999Z\", \"conditions\": []}",
            "{\"expiration\": \"2030-02-30T00:00:00Z\", \"conditions\": []}",
            "{\"expiration\": \"2030-01-01T00:00:00é\", \"conditions\": []}",
            "{\"expiration\": \"é030-01-01T00:00:00Z\", \"conditions\": []}",
            "{\"expiration\": \"2030-01-01T00:00:00.Z\", \"conditions\": []}",
            "{\"expiration\": \"2030-01-01T00:00:0é\", \"conditions\": []}",
            "{\"expiration\": \"2é0-01-01T00:00:00Z\", \"conditions\": []}",
        ];
        for doc in docs {
            for cond in 0..=1 {
                let deep;
                let text = if cond == 1 {
                    deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
                    deep.as_str()
                } else {
                    doc
                };
                let _ = parse_policy(&policy_b64(text));
            }
        }
        let mut rng = Rng(42);
        let valid = policy_b64("{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"starts-with\", \"$key\", \"\"]]}");
        for _ in 0..2000 {
            let mut s = valid.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(s.len());
                s[at] = b"ABCxyz019+/=\n "[rng.below(14)];
            }
            let s = String::from_utf8_lossy(&s).into_owned();
            let _ = parse_policy(&s);
        }
    }

    // ----- the policy -----------------------------------------------------------------------

    #[test]
    fn expiration_formats() {
        let table = [
            ("2007-12-01T12:00:00.000Z", Some(1_196_510_400)),
            ("2007-12-01T12:00:00Z", Some(1_196_510_400)),
            ("2007-12-01T12:00:00.5Z", Some(1_196_510_400)),
            ("2007-12-01 12:00:00.000Z", None),
            ("2007-12-01T12:00:00", None),
            ("2007-12-01T12:00:00.Z", None),
            ("2026-05-01 10:00:00.123456+00:00", None),
            ("2007-02-30T12:00:00Z", None),
            ("2007-12-01T24:00:00Z", None),
            ("é00-12-01T12:00:00Z", None),
            ("2007-12-01T12:00:0éZ", None),
            ("2007-12-01T12:00:00.é", None),
            ("", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_expiration(text), want, "{text}");
        }
    }

    #[test]
    fn policy_documents() {
        let p = parse_policy(POLICY).expect("policy");
        assert_eq!(
            p.conditions,
            vec![
                Condition::Eq("bucket".into(), "bkt".into()),
                Condition::StartsWith("key".into(), "up/".into())
            ]
        );
        let p = parse_policy(&policy_b64(
            r#"{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [
                {"bUcKeT": "b", "acl": "private"}, ["StArTs-WiTh", "$CoNtEnT-TyPe", "text/"],
                ["EQ", "$success_action_status", 201], ["content-length-range", 1, "10"]]}"#,
        ))
        .expect("policy");
        assert_eq!(
            p.conditions,
            vec![
                Condition::Eq("acl".into(), "private".into()),
                Condition::Eq("bucket".into(), "b".into()),
                Condition::StartsWith("content-type".into(), "text/".into()),
                Condition::Eq("success_action_status".into(), "201".into()),
                Condition::LengthRange(1, 10),
            ]
        );
        let exp = "\"expiration\": \"2030-01-01T00:00:00Z\"";
        let bad = [
            "not json".to_string(),
            r#"{"conditions": []}"#.to_string(),
            r#"{"EXPIRATION": "2030-01-01T00:00:00Z", "conditions": []}"#.to_string(),
            format!("{{{exp}}}"),
            format!("{{{exp}, \"CONDITIONS\": []}}"),
            r#"{"expiration": "2030-01-01 00:00:00", "conditions": []}"#.to_string(),
            format!("{{{exp}, \"conditions\": [{{}}]}}"),
            format!("{{{exp}, \"conditions\": [[\"content-length-range\", 0]]}}"),
            format!("{{{exp}, \"conditions\": [[\"content-length-range\", -1, 0]]}}"),
            format!("{{{exp}, \"conditions\": [[\"content-length-range\", 2, 1]]}}"),
            format!("{{{exp}, \"conditions\": [[\"ends-with\", \"$key\", \"x\"]]}}"),
            format!("{{{exp}, \"conditions\": [[\"eq\", \"key\", \"x\"]]}}"),
            format!("{{{exp}, \"conditions\": [[\"eq\", \"$key\", \"x\", \"y\"]]}}"),
            format!("{{{exp}, \"conditions\": [{{\"key\": [\"x\"]}}]}}"),
        ];
        for doc in &bad {
            let got = parse_policy(&policy_b64(doc)).map_err(|e| e.code);
            assert_eq!(got, Err(S3ErrorCode::InvalidPolicyDocument), "{doc}");
        }
        assert_eq!(
            parse_policy("%%%").map_err(|e| e.code),
            Err(S3ErrorCode::InvalidPolicyDocument)
        );
    }

    // ----- signatures and authorization -----------------------------------------------------

    #[test]
    fn signatures_match_independent_vectors() {
        assert_eq!(signature_v2(SECRET, POLICY).unwrap(), POLICY_V2);
        assert_eq!(signature_v4(SECRET, "20151229", REGION, POLICY), POLICY_V4);
    }

    #[test]
    fn v2_and_v4_forms_are_authorized() {
        let v2 = fields(&[
            ("key", "up/${filename}"),
            ("AWSAccessKeyId", AK),
            ("policy", POLICY),
            ("signature", POLICY_V2),
        ]);
        let up = authorize(&v2, "bkt", NOW, REGION, lookup).expect("v2");
        assert_eq!(up.access_key, AK);
        assert_eq!(up.key, "up/pic.png");
        assert_eq!((up.length_min, up.length_max), (0, u64::MAX));
        assert_eq!(up.success, Success::Status(204));
        // The bucket condition holds only for the bucket addressed.
        assert_eq!(
            code(authorize(&v2, "other", NOW, REGION, lookup)),
            S3ErrorCode::AccessDenied
        );
        // V4: the x-amz-* fields are fields like any other, so the policy must name them.
        let json = r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"bucket": "bkt"},
            ["starts-with", "$key", ""], {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},
            {"x-amz-date": "20151229T000000Z"}]}"#;
        let policy = policy_b64(json);
        let sig = signature_v4(SECRET, "20151229", REGION, &policy);
        let v4 = |cred: &str, date: &str, sig: &str| {
            fields(&[
                ("key", "k"),
                ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
                ("x-amz-credential", cred),
                ("x-amz-date", date),
                ("policy", &policy),
                ("x-amz-signature", sig),
            ])
        };
        let cred = "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request";
        let up = authorize(
            &v4(cred, "20151229T000000Z", &sig),
            "bkt",
            NOW,
            REGION,
            lookup,
        )
        .expect("v4");
        assert_eq!(up.access_key, AK);
        let table = [
            (
                v4(cred, "20151229T000000Z", &sig.replace('4', "5")),
                S3ErrorCode::SignatureDoesNotMatch,
            ),
            (
                v4(cred, "20151229T000000Z", "zz"),
                S3ErrorCode::SignatureDoesNotMatch,
            ),
            (
                v4(&cred.replace("AKIA", "XKIA"), "20151229T000000Z", &sig),
                S3ErrorCode::InvalidAccessKeyId,
            ),
            (
                v4(
                    &cred.replace("us-east-1", "eu-west-1"),
                    "20151229T000000Z",
                    &sig,
                ),
                S3ErrorCode::InvalidArgument,
            ),
            (
                v4(&cred.replace("/s3/", "/sqs/"), "20151229T000000Z", &sig),
                S3ErrorCode::InvalidArgument,
            ),
            (
                v4("AKIAIOSFODNN7EXAMPLE/20151229", "20151229T000000Z", &sig),
                S3ErrorCode::InvalidArgument,
            ),
            (
                v4(cred, "20151230T000000Z", &sig),
                S3ErrorCode::InvalidArgument,
            ),
            (v4(cred, "2015-12-29", &sig), S3ErrorCode::InvalidArgument),
        ];
        for (form, want) in table {
            assert_eq!(
                code(authorize(&form, "bkt", NOW, REGION, lookup)),
                want,
                "{form:?}"
            );
        }
        let mut sigv4a = v4(cred, "20151229T000000Z", &sig);
        sigv4a.fields[1].1 = "AWS4-ECDSA-P256-SHA256".into();
        assert_eq!(
            code(authorize(&sigv4a, "bkt", NOW, REGION, lookup)),
            S3ErrorCode::NotImplemented
        );
    }

    #[test]
    fn a_form_without_policy_or_signature_is_anonymous() {
        let form = fields(&[
            ("key", "up/${filename}"),
            ("acl", "private"),
            ("success_action_status", "201"),
        ]);
        let up = authorize(&form, "bkt", NOW, REGION, |_| None).expect("anonymous");
        assert_eq!(up.access_key, "");
        assert_eq!((up.length_min, up.length_max), (0, u64::MAX));
        assert_eq!(up.success, Success::Status(201));
        assert!(up
            .headers
            .contains(&("x-amz-acl".to_string(), "private".to_string())));
        // The key is still required.
        assert_eq!(
            code(authorize(
                &fields(&[("acl", "private")]),
                "bkt",
                NOW,
                REGION,
                |_| None
            )),
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn authorization_failures() {
        let ok = r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["starts-with", "$key", "foo"], {"acl": "private"}]}"#;
        let base: &[(&str, &str)] = &[("key", "foo.txt"), ("acl", "private")];
        let table: Vec<(Form, S3ErrorCode)> = vec![
            // No key, no policy (anonymous), a missing half of the V2 pair, both versions.
            (
                signed(ok, &[("acl", "private")]),
                S3ErrorCode::InvalidArgument,
            ),
            // Signature fields without a policy: nothing was signed.
            (
                fields(&[
                    ("key", "foo"),
                    ("AWSAccessKeyId", AK),
                    ("signature", "c2ln"),
                ]),
                S3ErrorCode::AccessDenied,
            ),
            (
                fields(&[("key", "foo"), ("policy", POLICY), ("AWSAccessKeyId", AK)]),
                S3ErrorCode::InvalidArgument,
            ),
            (
                fields(&[("key", "foo"), ("policy", POLICY), ("signature", POLICY_V2)]),
                S3ErrorCode::InvalidArgument,
            ),
            (
                fields(&[("key", "foo"), ("policy", POLICY)]),
                S3ErrorCode::InvalidArgument,
            ),
            (
                signed(
                    ok,
                    &[("key", "foo"), ("x-amz-algorithm", "AWS4-HMAC-SHA256")],
                ),
                S3ErrorCode::InvalidArgument,
            ),
            // Expired; a condition that fails; a field no condition names.
            (
                signed(&ok.replace("2030", "2020"), base),
                S3ErrorCode::AccessDenied,
            ),
            (
                signed(ok, &[("key", "bar.txt"), ("acl", "private")]),
                S3ErrorCode::AccessDenied,
            ),
            (
                signed(
                    ok,
                    &[
                        ("key", "foo.txt"),
                        ("acl", "private"),
                        ("x-amz-meta-a", "b"),
                    ],
                ),
                S3ErrorCode::AccessDenied,
            ),
            (signed(ok, &[("key", "foo.txt")]), S3ErrorCode::AccessDenied),
            // Malformed policies are 400 even with a valid signature.
            (
                signed(r#"{"conditions": []}"#, base),
                S3ErrorCode::InvalidPolicyDocument,
            ),
            // Keys: empty after substitution, too long.
            (
                signed(ok, &[("key", "${filename}"), ("acl", "private")]),
                S3ErrorCode::AccessDenied,
            ),
            (
                signed(ok, &[("key", &"f".repeat(1025)), ("acl", "private")]),
                S3ErrorCode::KeyTooLongError,
            ),
        ];
        for (form, want) in table {
            assert_eq!(
                code(authorize(&form, "bkt", NOW, REGION, lookup)),
                want,
                "{form:?}"
            );
        }
        let mut wrong = signed(ok, base);
        let at = wrong
            .fields
            .iter()
            .position(|(n, _)| n == "signature")
            .expect("signature");
        wrong.fields[at].1 = POLICY_V2.into();
        assert_eq!(
            code(authorize(&wrong, "bkt", NOW, REGION, lookup)),
            S3ErrorCode::SignatureDoesNotMatch
        );
        let mut unknown = signed(ok, base);
        let at = unknown
            .fields
            .iter()
            .position(|(n, _)| n == "awsaccesskeyid")
            .expect("id");
        unknown.fields[at].1 = "nobody".into();
        assert_eq!(
            code(authorize(&unknown, "bkt", NOW, REGION, lookup)),
            S3ErrorCode::InvalidAccessKeyId
        );
        let mut empty_name = signed(ok, base);
        empty_name.filename = Some(String::new());
        let at = empty_name
            .fields
            .iter()
            .position(|(n, _)| n == "key")
            .expect("key");
        empty_name.fields[at].1 = "${filename}".into();
        assert_eq!(
            code(authorize(&empty_name, "bkt", NOW, REGION, lookup)),
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn conditions_and_headers() {
        let json = r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [
            {"key": "k"}, ["starts-with", "$Content-Type", "image/"], ["eq", "$x-amz-meta-a", "1"],
            ["starts-with", "$x-amz-meta-empty", ""], {"success_action_status": "201"},
            ["content-length-range", 10, 100], ["content-length-range", 20, 200],
            ["starts-with", "$acl", ""], ["starts-with", "$tagging", ""], ["starts-with", "$Cache-Control", ""]]}"#;
        let form = signed(
            json,
            &[
                ("key", "k"),
                ("Content-Type", "image/png, image/gif"),
                ("x-amz-meta-a", "1"),
                ("success_action_status", "201"),
                ("acl", "private"),
                ("tagging", "<Tagging/>"),
                ("Cache-Control", " no-cache "),
                ("x-ignore-me", "anything"),
            ],
        );
        let up = authorize(&form, "bkt", NOW, REGION, lookup).expect("authorized");
        assert_eq!((up.length_min, up.length_max), (20, 100));
        assert_eq!(up.success, Success::Status(201));
        let names: Vec<&str> = up.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "x-amz-meta-a",
                "x-amz-acl",
                "x-amz-tagging",
                "cache-control"
            ]
        );
        assert_eq!(up.headers[4].1, "no-cache");
        // Every Content-Type in a list must start with the prefix.
        let mixed = signed(
            json,
            &[
                ("key", "k"),
                ("Content-Type", "image/png, text/html"),
                ("x-amz-meta-a", "1"),
                ("success_action_status", "201"),
            ],
        );
        assert_eq!(
            code(authorize(&mixed, "bkt", NOW, REGION, lookup)),
            S3ErrorCode::AccessDenied
        );
        // An exact condition on a missing field fails; `starts-with ""` holds.
        let missing = signed(
            json,
            &[
                ("key", "k"),
                ("Content-Type", "image/png"),
                ("success_action_status", "201"),
            ],
        );
        assert_eq!(
            code(authorize(&missing, "bkt", NOW, REGION, lookup)),
            S3ErrorCode::AccessDenied
        );
        // Header-bound fields must be safe to send back as headers.
        let loose = r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["starts-with", "$key", ""],
            ["starts-with", "$x-amz-meta-a", ""], ["starts-with", "$x-amz-meta-b c", ""]]}"#;
        let split = signed(
            loose,
            &[("key", "k"), ("x-amz-meta-a", "v\r\nSet-Cookie: x")],
        );
        assert_eq!(
            code(authorize(&split, "bkt", NOW, REGION, lookup)),
            S3ErrorCode::InvalidArgument
        );
        let spaced = signed(loose, &[("key", "k"), ("x-amz-meta-b c", "v")]);
        assert_eq!(
            code(authorize(&spaced, "bkt", NOW, REGION, lookup)),
            S3ErrorCode::InvalidArgument
        );
        // Signing and body fields never become headers.
        let signing = r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["starts-with", "$key", ""],
            ["starts-with", "$x-amz-trailer", ""], ["starts-with", "$x-amz-decoded-content-length", ""]]}"#;
        let form = signed(
            signing,
            &[
                ("key", "k"),
                ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("x-amz-decoded-content-length", "5"),
            ],
        );
        let up = authorize(&form, "bkt", NOW, REGION, lookup).expect("authorized");
        assert!(up.headers.is_empty());
    }

    #[test]
    fn success_actions() {
        let table: &[(&[(&str, &str)], Success)] = &[
            (&[], Success::Status(204)),
            (&[("success_action_status", "200")], Success::Status(200)),
            (&[("success_action_status", "201")], Success::Status(201)),
            (&[("success_action_status", "404")], Success::Status(204)),
            (
                &[
                    ("success_action_redirect", "https://e.com/ok?a=1"),
                    ("success_action_status", "201"),
                ],
                Success::Redirect("https://e.com/ok?a=1".into()),
            ),
            (
                &[("redirect", "HTTP://e.com/")],
                Success::Redirect("HTTP://e.com/".into()),
            ),
            (
                &[
                    ("success_action_redirect", "ftp://e.com/"),
                    ("success_action_status", "201"),
                ],
                Success::Status(201),
            ),
            (
                &[("success_action_redirect", "http://e.com/\r\nX: y")],
                Success::Status(204),
            ),
            (
                &[("success_action_redirect", "http://e.com/a b")],
                Success::Status(204),
            ),
        ];
        for (list, want) in table {
            assert_eq!(success(&fields(list)), *want, "{list:?}");
        }
        assert_eq!(
            redirect_location("http://h/b", "bkt", "a b/c+é", "\"e1\""),
            "http://h/b?bucket=bkt&key=a%20b%2Fc%2B%C3%A9&etag=%22e1%22"
        );
        assert_eq!(
            redirect_location("http://h/b?x=1", "b", "k", "\"e\""),
            "http://h/b?x=1&bucket=b&key=k&etag=%22e%22"
        );
        assert_eq!(object_path("bkt", "a b/c"), "/bkt/a%20b/c");
        let xml = post_response_xml("/b/k&", "b", "k&", "\"e\"");
        assert!(xml.contains("<Key>k&amp;</Key>"), "{xml}");
        assert!(xml.contains("<ETag>&quot;e&quot;</ETag>"), "{xml}");
    }
}
