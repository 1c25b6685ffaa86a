//! Byte ranges and conditional requests: `Range`, `If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `If-Unmodified-Since`, their `x-amz-copy-source-if-*` twins, and the
//! conditional writes (`If-None-Match: *` / `If-Match` on PUT and CompleteMultipartUpload).
//!
//! Owns: parsing those header values and deciding the outcome from the object's ETag and
//! Last-Modified time, in the order RFC 7232 §6 prescribes, which is also what S3 does.
//!
//! Must not: do I/O or read the clock. Callers pass header values and object facts in.
//!
//! Invariants:
//! - a header value this module cannot parse never fails a request: an invalid `Range` means
//!   the whole object (S3 ignores it), and an unparsable date means the condition is skipped;
//! - ranges returned are inclusive `(start, end)` with `start <= end < size`;
//! - ETags are compared without quotes; S3 ETags are always strong, so `W/` only matters for
//!   `If-Match`, where RFC 7232's strong comparison makes a weak tag never match.

use std::time::UNIX_EPOCH;

use crate::proto::error::{S3Error, S3ErrorCode};

/// Most entity tags looked at in one `If-Match`/`If-None-Match` list; the rest are ignored.
pub const ETAG_LIST_MAX: usize = 64;

/// Parses a `Range` header against an object of `size` bytes.
///
/// Returns `Ok(Some((start, end)))` (inclusive) for one satisfiable range, `Ok(None)` when the
/// header is not one syntactically valid byte range (S3 then serves the whole object: multiple
/// ranges, other units, garbage, `last < first`), and `Err(InvalidRange)` (416) when it is
/// valid but unsatisfiable: `first >= size`, a zero-length suffix, or any range on an empty
/// object. An end past the object is clamped to `size - 1`; a suffix longer than the object
/// selects all of it.
pub fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = strip_bytes_unit(header.trim()) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let unsatisfiable = || Err(S3Error::new(S3ErrorCode::InvalidRange));
    if first.is_empty() {
        // Suffix range: the last `n` bytes.
        let Some(n) = parse_digits(last) else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return unsatisfiable();
        }
        return Ok(Some((size - n.min(size), size - 1)));
    }
    let Some(start) = parse_digits(first) else {
        return Ok(None);
    };
    let end = if last.is_empty() {
        None
    } else {
        let Some(end) = parse_digits(last) else {
            return Ok(None);
        };
        if end < start {
            return Ok(None);
        }
        Some(end)
    };
    if start >= size {
        return unsatisfiable();
    }
    let end = end.map_or(size - 1, |e| e.min(size - 1));
    Ok(Some((start, end)))
}

/// Parses `x-amz-copy-source-range` (UploadPartCopy) against a source of `size` bytes.
///
/// Stricter than [`parse_range`], because a copy that silently took another range than asked
/// would store wrong data: only `bytes=first-last` with `first <= last` is accepted, anything
/// else is `InvalidArgument` (400); a range reaching past the source is `InvalidRange` (416),
/// never clamped.
pub fn parse_copy_source_range(header: &str, size: u64) -> Result<(u64, u64), S3Error> {
    let malformed = || {
        S3Error::with_message(
            S3ErrorCode::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where \
             first and last are the zero-based offsets of the first and last bytes to copy",
        )
    };
    let spec = strip_bytes_unit(header.trim()).ok_or_else(malformed)?;
    let (first, last) = spec.split_once('-').ok_or_else(malformed)?;
    let first = parse_digits(first.trim()).ok_or_else(malformed)?;
    let last = parse_digits(last.trim()).ok_or_else(malformed)?;
    if first > last {
        return Err(malformed());
    }
    if last >= size {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidRange,
            "The requested range is not satisfiable",
        ));
    }
    Ok((first, last))
}

/// `bytes=...` with the unit compared case-insensitively, as RFC 7233 says.
fn strip_bytes_unit(header: &str) -> Option<&str> {
    let (unit, spec) = header.split_once('=')?;
    unit.trim().eq_ignore_ascii_case("bytes").then_some(spec)
}

/// A non-empty run of ASCII digits; values past `u64::MAX` saturate (they are still a valid
/// position, just one past any object).
fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().unwrap_or(u64::MAX))
}

/// What a conditional GET or HEAD should answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CondOutcome {
    /// Serve the object (200, or 206 with a range).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    PreconditionFailed,
}

/// The four conditional request headers, as received (`None` when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
    pub if_modified_since: Option<&'a str>,
    pub if_unmodified_since: Option<&'a str>,
}

/// Evaluates the conditions of a GET or HEAD against the stored object.
///
/// `etag` is the object's ETag without quotes (`hex` or `hex-N`); `last_modified_secs` is its
/// Last-Modified time in whole seconds since the Unix epoch (HTTP dates have no finer unit).
///
/// Order (RFC 7232 §6, and S3's documented pairs):
/// 1. `If-Match` present and false -> 412. When present, `If-Unmodified-Since` is not looked
///    at, so "If-Match true + If-Unmodified-Since false" proceeds, as S3 documents.
/// 2. Otherwise `If-Unmodified-Since` earlier than Last-Modified -> 412.
/// 3. `If-None-Match` present and matching -> 304. When present, `If-Modified-Since` is not
///    looked at, so "If-None-Match false + If-Modified-Since true" is 304, as S3 documents,
///    and a non-matching `If-None-Match` proceeds whatever the date.
/// 4. Otherwise `If-Modified-Since` not earlier than Last-Modified -> 304.
pub fn evaluate_read(c: &Conditions<'_>, etag: &str, last_modified_secs: i64) -> CondOutcome {
    if let Some(if_match) = c.if_match {
        if !etag_list_matches(if_match, etag, Comparison::Strong) {
            return CondOutcome::PreconditionFailed;
        }
    } else if let Some(since) = c.if_unmodified_since.and_then(parse_http_date_secs) {
        if last_modified_secs > since {
            return CondOutcome::PreconditionFailed;
        }
    }
    if let Some(if_none_match) = c.if_none_match {
        if etag_list_matches(if_none_match, etag, Comparison::Weak) {
            return CondOutcome::NotModified;
        }
    } else if let Some(since) = c.if_modified_since.and_then(parse_http_date_secs) {
        if last_modified_secs <= since {
            return CondOutcome::NotModified;
        }
    }
    CondOutcome::Proceed
}

/// Evaluates `x-amz-copy-source-if-*` against the copy source.
///
/// Same order as [`evaluate_read`], but every failure is 412 `PreconditionFailed` (a copy has
/// no 304): S3 documents "if-match true + if-unmodified-since false" as a copy that proceeds,
/// and "if-none-match false + if-modified-since true" as 412.
pub fn evaluate_copy_source(
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    if_unmodified_since: Option<&str>,
    etag: &str,
    last_modified_secs: i64,
) -> Result<(), S3Error> {
    let conditions = Conditions {
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
    };
    match evaluate_read(&conditions, etag, last_modified_secs) {
        CondOutcome::Proceed => Ok(()),
        CondOutcome::NotModified | CondOutcome::PreconditionFailed => {
            Err(S3Error::new(S3ErrorCode::PreconditionFailed))
        }
    }
}

/// Evaluates a conditional write (PutObject, CompleteMultipartUpload, CopyObject's target).
///
/// `current_etag` is the ETag (unquoted) of the object the write would replace, `None` when
/// there is none.
/// - `If-Match` with no current object -> 404 `NoSuchKey` (S3 answers 404 here); with an ETag
///   that does not match -> 412. `If-Match: *` matches any existing object.
/// - `If-None-Match: *` with a current object -> 412. S3 accepts only `*` here (any other
///   value is its 501); Tessera also takes an ETag list, as RGW does and RFC 7232 defines:
///   412 when the current object's ETag is in it (weak comparison), else the write proceeds.
pub fn evaluate_write(
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    current_etag: Option<&str>,
) -> Result<(), S3Error> {
    if let Some(if_match) = if_match {
        let Some(current) = current_etag else {
            return Err(S3Error::new(S3ErrorCode::NoSuchKey));
        };
        if !etag_list_matches(if_match, current, Comparison::Strong) {
            return Err(S3Error::new(S3ErrorCode::PreconditionFailed));
        }
    }
    if let Some(if_none_match) = if_none_match {
        let matched =
            current_etag.is_some_and(|c| etag_list_matches(if_none_match, c, Comparison::Weak));
        if matched {
            return Err(S3Error::new(S3ErrorCode::PreconditionFailed));
        }
    }
    Ok(())
}

/// Parses an HTTP date (IMF-fixdate, RFC 850 or asctime) into seconds since the Unix epoch.
/// `None` for anything unparsable or before 1970.
pub fn parse_http_date_secs(value: &str) -> Option<i64> {
    let time = httpdate::parse_http_date(value.trim()).ok()?;
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// RFC 7232 §2.3.2: strong comparison needs both tags strong; weak comparison ignores `W/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// Whether the `If-Match`/`If-None-Match` value (`*`, or a list of `"tag"`, `W/"tag"`, or
/// bare `tag` as some clients send) matches `etag`. Quotes on `etag` are ignored.
fn etag_list_matches(header: &str, etag: &str, comparison: Comparison) -> bool {
    let etag = unquote(etag.trim());
    let mut rest = header.trim();
    for _ in 0..ETAG_LIST_MAX {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return false;
        }
        let (weak, after_prefix) = match rest.strip_prefix("W/") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (tag, after_tag) = next_tag(after_prefix);
        rest = after_tag;
        if tag == "*" && !weak {
            return true;
        }
        let comparable = !weak || comparison == Comparison::Weak;
        if comparable && tag == etag {
            return true;
        }
    }
    false
}

/// Splits the next entity tag off a list: a quoted tag runs to its closing quote (it may hold
/// commas); a bare tag runs to the next comma.
fn next_tag(text: &str) -> (&str, &str) {
    if let Some(quoted) = text.strip_prefix('"') {
        return match quoted.find('"') {
            Some(end) => (&quoted[..end], &quoted[end + 1..]),
            None => (quoted, ""),
        };
    }
    match text.find(',') {
        Some(end) => (text[..end].trim(), &text[end..]),
        None => (text.trim(), ""),
    }
}

fn unquote(tag: &str) -> &str {
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `parse_range` returns, with the error reduced to its code.
    type RangeResult = Result<Option<(u64, u64)>, S3ErrorCode>;
    type H<'a> = Option<&'a str>;
    /// (if-match, if-none-match, if-modified-since, if-unmodified-since, outcome)
    type ReadRow<'a> = (H<'a>, H<'a>, H<'a>, H<'a>, CondOutcome);
    /// (if-match, if-none-match, if-modified-since, if-unmodified-since, copy proceeds)
    type CopyRow<'a> = (H<'a>, H<'a>, H<'a>, H<'a>, bool);
    /// (if-match, if-none-match, current etag, result)
    type WriteRow<'a> = (H<'a>, H<'a>, H<'a>, Result<(), S3ErrorCode>);

    const ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";
    /// Last-Modified of the object under test: Wed, 21 Oct 2015 07:28:00 GMT.
    const MTIME: i64 = 1_445_412_480;
    const BEFORE: &str = "Wed, 21 Oct 2015 07:27:59 GMT";
    const AT: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    const AFTER: &str = "Wed, 21 Oct 2015 07:28:01 GMT";

    #[test]
    fn range_table() {
        use S3ErrorCode::InvalidRange as E;
        #[rustfmt::skip]
        let table: &[(&str, u64, RangeResult)] = &[
            ("bytes=0-0", 10, Ok(Some((0, 0)))),
            ("bytes=0-9", 10, Ok(Some((0, 9)))),
            ("bytes=2-5", 10, Ok(Some((2, 5)))),
            ("bytes=5-100", 10, Ok(Some((5, 9)))),
            ("bytes=9-9", 10, Ok(Some((9, 9)))),
            ("bytes=3-", 10, Ok(Some((3, 9)))),
            ("bytes=0-", 10, Ok(Some((0, 9)))),
            ("bytes=-3", 10, Ok(Some((7, 9)))),
            ("bytes=-10", 10, Ok(Some((0, 9)))),
            ("bytes=-100", 10, Ok(Some((0, 9)))),
            ("bytes=0-18446744073709551615", 10, Ok(Some((0, 9)))),
            ("bytes=0-99999999999999999999999", 10, Ok(Some((0, 9)))),
            ("bytes=-99999999999999999999999", 10, Ok(Some((0, 9)))),
            ("Bytes=1-2", 10, Ok(Some((1, 2)))),
            (" bytes = 1 - 2 ", 10, Ok(Some((1, 2)))),
            // Unsatisfiable: 416.
            ("bytes=10-", 10, Err(E)),
            ("bytes=10-20", 10, Err(E)),
            ("bytes=40-50", 10, Err(E)),
            ("bytes=99999999999999999999999-", 10, Err(E)),
            ("bytes=-0", 10, Err(E)),
            ("bytes=0-", 0, Err(E)),
            ("bytes=0-0", 0, Err(E)),
            ("bytes=-1", 0, Err(E)),
            ("bytes=40-50", 0, Err(E)),
            // Not one valid byte range: ignored, whole object.
            ("bytes=5-3", 10, Ok(None)),
            ("bytes=0-1,3-4", 10, Ok(None)),
            ("bytes=0-1,", 10, Ok(None)),
            ("bytes=-", 10, Ok(None)),
            ("bytes=", 10, Ok(None)),
            ("bytes=abc", 10, Ok(None)),
            ("bytes=a-b", 10, Ok(None)),
            ("bytes=1-b", 10, Ok(None)),
            ("bytes=+1-2", 10, Ok(None)),
            ("bytes=-1-4", 10, Ok(None)),
            ("bytes=1", 10, Ok(None)),
            ("bytes 1-2", 10, Ok(None)),
            ("items=0-3", 10, Ok(None)),
            ("", 10, Ok(None)),
            ("bytes=5-3", 0, Ok(None)),
        ];
        for (header, size, want) in table {
            let got = parse_range(header, *size).map_err(|e| e.code);
            assert_eq!(&got, want, "{header:?} size {size}");
        }
    }

    #[test]
    fn copy_source_range_table() {
        use S3ErrorCode::{InvalidArgument as A, InvalidRange as R};
        #[rustfmt::skip]
        type Row<'a> = (&'a str, u64, Result<(u64, u64), S3ErrorCode>);
        let table: &[Row] = &[
            ("bytes=0-0", 10, Ok((0, 0))),
            ("bytes=0-9", 10, Ok((0, 9))),
            ("bytes=3-7", 10, Ok((3, 7))),
            ("Bytes = 3 - 7", 10, Ok((3, 7))),
            // Past the source: refused, not clamped.
            ("bytes=0-10", 10, Err(R)),
            ("bytes=0-21", 5, Err(R)),
            ("bytes=10-12", 10, Err(R)),
            ("bytes=0-0", 0, Err(R)),
            // Not of the form bytes=first-last.
            ("0-2", 10, Err(A)),
            ("bytes=0", 10, Err(A)),
            ("bytes=hello-world", 10, Err(A)),
            ("bytes=0-bar", 10, Err(A)),
            ("bytes=hello-", 10, Err(A)),
            ("bytes=0-", 10, Err(A)),
            ("bytes=-3", 10, Err(A)),
            ("bytes=0-2,3-5", 10, Err(A)),
            ("bytes=5-3", 10, Err(A)),
            ("", 10, Err(A)),
        ];
        for (header, size, want) in table {
            let got = parse_copy_source_range(header, *size).map_err(|e| e.code);
            assert_eq!(&got, want, "{header:?} size {size}");
        }
    }

    #[test]
    fn http_date_formats() {
        let table: &[(&str, Option<i64>)] = &[
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(MTIME)),
            ("Wednesday, 21-Oct-15 07:28:00 GMT", Some(MTIME)),
            ("Wed Oct 21 07:28:00 2015", Some(MTIME)),
            ("  Wed, 21 Oct 2015 07:28:00 GMT ", Some(MTIME)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("2015-10-21T07:28:00Z", None),
            ("yesterday", None),
            ("", None),
        ];
        for (value, want) in table {
            assert_eq!(parse_http_date_secs(value), *want, "{value:?}");
        }
    }

    #[test]
    fn etag_lists_table() {
        use Comparison::{Strong as S, Weak as W};
        #[rustfmt::skip]
        let table: &[(&str, &str, Comparison, bool)] = &[
            ("\"abc\"", "abc", S, true),
            ("\"abc\"", "\"abc\"", S, true),
            ("abc", "abc", S, true),
            ("\"abd\"", "abc", S, false),
            ("*", "abc", S, true),
            (" * ", "abc", W, true),
            ("\"x\", \"abc\"", "abc", S, true),
            ("\"x\",\"y\"", "abc", S, false),
            ("x, abc", "abc", S, true),
            ("W/\"abc\"", "abc", S, false),
            ("W/\"abc\"", "abc", W, true),
            ("W/\"x\", W/\"abc\"", "abc", W, true),
            ("\"x,abc\"", "abc", S, false),
            ("\"abc-2\"", "abc-2", S, true),
            ("\"abc-2\"", "abc", S, false),
            ("", "abc", S, false),
            (",,,", "abc", W, false),
            ("\"unterminated", "unterminated", S, true),
            ("\"ABC\"", "abc", S, false),
        ];
        for (header, etag, cmp, want) in table {
            assert_eq!(
                etag_list_matches(header, etag, *cmp),
                *want,
                "{header:?} vs {etag:?} {cmp:?}"
            );
        }
    }

    #[test]
    fn etag_list_is_bounded() {
        let mut header = vec!["\"x\""; ETAG_LIST_MAX].join(",");
        header.push_str(",\"abc\"");
        assert!(!etag_list_matches(&header, "abc", Comparison::Strong));
    }

    #[test]
    fn read_conditions_table() {
        use CondOutcome::{NotModified as N, PreconditionFailed as F, Proceed as P};
        let q = format!("\"{ETAG}\"");
        let hit = q.as_str();
        let miss = "\"0000\"";
        // (if-match, if-none-match, if-modified-since, if-unmodified-since) -> outcome
        #[rustfmt::skip]
        let table: &[ReadRow<'_>] = &[
            (None, None, None, None, P),
            // If-Match alone.
            (Some(hit), None, None, None, P),
            (Some("*"), None, None, None, P),
            (Some(miss), None, None, None, F),
            (Some("W/\"d41d8cd98f00b204e9800998ecf8427e\""), None, None, None, F),
            // If-Unmodified-Since alone.
            (None, None, None, Some(AT), P),
            (None, None, None, Some(AFTER), P),
            (None, None, None, Some(BEFORE), F),
            (None, None, None, Some("not a date"), P),
            // If-Match true + If-Unmodified-Since false: proceeds (S3 quirk = RFC order).
            (Some(hit), None, None, Some(BEFORE), P),
            (Some(miss), None, None, Some(AFTER), F),
            // If-None-Match alone.
            (None, Some(hit), None, None, N),
            (None, Some("*"), None, None, N),
            (None, Some("W/\"d41d8cd98f00b204e9800998ecf8427e\""), None, None, N),
            (None, Some(miss), None, None, P),
            // If-Modified-Since alone.
            (None, None, Some(BEFORE), None, P),
            (None, None, Some(AT), None, N),
            (None, None, Some(AFTER), None, N),
            (None, None, Some("garbage"), None, P),
            // If-None-Match decides over If-Modified-Since.
            (None, Some(hit), Some(BEFORE), None, N),
            (None, Some(miss), Some(AFTER), None, P),
            (None, Some(miss), Some(BEFORE), None, P),
            // 412 conditions are checked before 304 ones.
            (Some(miss), Some(hit), None, None, F),
            (None, Some(hit), None, Some(BEFORE), F),
            (Some(hit), Some(hit), None, None, N),
            (Some(hit), Some(miss), Some(AT), Some(BEFORE), P),
            (None, None, Some(AT), Some(BEFORE), F),
            (None, None, Some(AT), Some(AT), N),
        ];
        for (im, inm, ims, ius, want) in table {
            let c = Conditions {
                if_match: *im,
                if_none_match: *inm,
                if_modified_since: *ims,
                if_unmodified_since: *ius,
            };
            assert_eq!(evaluate_read(&c, ETAG, MTIME), *want, "{c:?}");
        }
    }

    #[test]
    fn copy_source_conditions_table() {
        let q = format!("\"{ETAG}\"");
        let hit = q.as_str();
        let miss = "\"0000\"";
        #[rustfmt::skip]
        let table: &[CopyRow<'_>] = &[
            (None, None, None, None, true),
            (Some(hit), None, None, None, true),
            (Some(miss), None, None, None, false),
            (None, Some(hit), None, None, false),
            (None, Some(miss), None, None, true),
            (None, None, Some(BEFORE), None, true),
            (None, None, Some(AT), None, false),
            (None, None, None, Some(AFTER), true),
            (None, None, None, Some(BEFORE), false),
            // Documented pairs: match + unmodified-since false copies;
            // none-match false + modified-since true fails.
            (Some(hit), None, None, Some(BEFORE), true),
            (None, Some(hit), Some(BEFORE), None, false),
            (None, Some(miss), Some(AFTER), None, true),
        ];
        for (im, inm, ims, ius, ok) in table {
            let got = evaluate_copy_source(*im, *inm, *ims, *ius, ETAG, MTIME);
            match got {
                Ok(()) => assert!(ok, "{im:?} {inm:?} {ims:?} {ius:?} should fail"),
                Err(e) => {
                    assert!(!ok, "{im:?} {inm:?} {ims:?} {ius:?} should pass");
                    assert_eq!(e.code, S3ErrorCode::PreconditionFailed);
                    assert_eq!(e.status(), 412);
                }
            }
        }
    }

    #[test]
    fn write_conditions_table() {
        use S3ErrorCode::{NoSuchKey, PreconditionFailed};
        #[rustfmt::skip]
        let table: &[WriteRow<'_>] = &[
            (None, None, None, Ok(())),
            (None, None, Some("abc"), Ok(())),
            (None, Some("*"), None, Ok(())),
            (None, Some(" * "), None, Ok(())),
            (None, Some("*"), Some("abc"), Err(PreconditionFailed)),
            (None, Some("\"abc\""), Some("abc"), Err(PreconditionFailed)),
            (None, Some("abc"), Some("abc"), Err(PreconditionFailed)),
            (None, Some("W/\"abc\""), Some("abc"), Err(PreconditionFailed)),
            (None, Some("\"x\", \"abc\""), Some("abc"), Err(PreconditionFailed)),
            (None, Some("\"abd\""), Some("abc"), Ok(())),
            (None, Some("\"abc\""), None, Ok(())),
            (Some("\"abc\""), None, None, Err(NoSuchKey)),
            (Some("*"), None, None, Err(NoSuchKey)),
            (Some("\"abc\""), None, Some("abc"), Ok(())),
            (Some("abc"), None, Some("abc"), Ok(())),
            (Some("*"), None, Some("abc"), Ok(())),
            (Some("\"abd\""), None, Some("abc"), Err(PreconditionFailed)),
            (Some("\"x\", \"abc-3\""), None, Some("abc-3"), Ok(())),
            (Some("\"abc\""), Some("*"), Some("abc"), Err(PreconditionFailed)),
            (Some("\"abc\""), Some("*"), None, Err(NoSuchKey)),
        ];
        for (im, inm, current, want) in table {
            let got = evaluate_write(*im, *inm, *current).map_err(|e| e.code);
            assert_eq!(&got, want, "{im:?} {inm:?} {current:?}");
        }
    }
}
