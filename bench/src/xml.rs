//! Just enough XML for S3 responses and request bodies.
//!
//! Owns: pulling the text of simple elements (`<Code>`, `<UploadId>`, `<IsTruncated>`, ...)
//! out of S3's flat response documents, counting elements, and escaping text for request
//! bodies (DeleteObjects, CompleteMultipartUpload). Must not: grow into a general parser —
//! S3 response elements carry no attributes and no mixed content that matters here.
//! Invariant: malformed input yields `None`/zero counts, never a panic.

/// The unescaped text of the first `<tag>...</tag>` (or `<tag/>`, giving "") in `xml`.
pub fn first_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let empty = format!("<{tag}/>");
    let open_at = xml.find(&open);
    let empty_at = xml.find(&empty);
    match (open_at, empty_at) {
        (Some(o), Some(e)) if e < o => Some(String::new()),
        (None, Some(_)) => Some(String::new()),
        (Some(o), _) => {
            let start = o + open.len();
            let close = format!("</{tag}>");
            let end = xml[start..].find(&close)? + start;
            Some(unescape(&xml[start..end]))
        }
        (None, None) => None,
    }
}

/// How many `<tag>` elements `xml` holds.
pub fn count(xml: &str, tag: &str) -> usize {
    xml.matches(&format!("<{tag}>")).count()
}

/// Replaces the five predefined entities and numeric character references.
pub fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let Some(semi) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let entity = &after[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => numeric_reference(entity),
        };
        match decoded {
            Some(ch) => out.push(ch),
            None => out.push_str(&after[..=semi]),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    out
}

fn numeric_reference(entity: &str) -> Option<char> {
    let code = if let Some(hex) = entity
        .strip_prefix("#x")
        .or_else(|| entity.strip_prefix("#X"))
    {
        u32::from_str_radix(hex, 16).ok()?
    } else {
        entity.strip_prefix('#')?.parse().ok()?
    };
    char::from_u32(code)
}

/// Escapes text for an element body.
pub fn escape(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(ch),
        }
    }
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug, PartialEq, Eq)]
pub struct ListPage {
    pub objects: usize,
    pub truncated: bool,
    pub next_token: Option<String>,
}

pub fn parse_list_page(xml: &str) -> Option<ListPage> {
    if !xml.contains("<ListBucketResult") {
        return None;
    }
    Some(ListPage {
        objects: count(xml, "Contents"),
        truncated: first_text(xml, "IsTruncated").is_some_and(|value| value.trim() == "true"),
        next_token: first_text(xml, "NextContinuationToken").filter(|token| !token.is_empty()),
    })
}

/// `Code: Message` of an S3 error document, if the body is one.
pub fn error_summary(xml: &str) -> Option<String> {
    let code = first_text(xml, "Code")?;
    match first_text(xml, "Message") {
        Some(message) if !message.is_empty() => Some(format!("{code}: {message}")),
        _ => Some(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_unescapes_text() {
        let xml = "<Error><Code>NoSuchKey</Code><Message>a &lt;b&gt; &amp; &#65;&#x42; &bogus;</Message></Error>";
        assert_eq!(first_text(xml, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(
            first_text(xml, "Message").as_deref(),
            Some("a <b> & AB &bogus;")
        );
        assert_eq!(first_text(xml, "Missing"), None);
        assert_eq!(first_text("<A/><A>x</A>", "A").as_deref(), Some(""));
        assert_eq!(first_text("<A>unterminated", "A"), None);
        assert_eq!(
            error_summary(xml).as_deref(),
            Some("NoSuchKey: a <b> & AB &bogus;")
        );
        assert_eq!(
            error_summary("<Error><Code>SlowDown</Code></Error>").as_deref(),
            Some("SlowDown")
        );
        assert_eq!(error_summary("not xml"), None);
    }

    #[test]
    fn parses_list_pages() {
        let xml = "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name><KeyCount>2</KeyCount>\
                   <IsTruncated>true</IsTruncated><Contents><Key>p/a</Key></Contents>\
                   <Contents><Key>p/b</Key></Contents><NextContinuationToken>t&amp;1</NextContinuationToken>\
                   </ListBucketResult>";
        assert_eq!(
            parse_list_page(xml),
            Some(ListPage {
                objects: 2,
                truncated: true,
                next_token: Some("t&1".to_string())
            })
        );
        let last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
        assert_eq!(
            parse_list_page(last),
            Some(ListPage {
                objects: 0,
                truncated: false,
                next_token: None
            })
        );
        assert_eq!(parse_list_page("<Error/>"), None);
    }

    #[test]
    fn escape_round_trips() {
        let mut out = String::new();
        escape("a<b>&\"c'", &mut out);
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(unescape(&out), "a<b>&\"c'");
    }
}
