//! Cross-origin resource sharing (CORS) for a bucket, as S3 does it: the bucket's rules, and
//! which rule (if any) allows a browser's request, and the `Access-Control-*` headers that say
//! so.
//!
//! Owns: the rules' limits and validation (what PutBucketCors refuses), origin and header
//! matching with one `*` wildcard, and the response headers of a preflight (`OPTIONS`) or of
//! an actual request carrying `Origin`. The XML shapes are in `proto::xml`.
//!
//! Must not: do I/O, or decide access: CORS only tells a browser what it may read; the request
//! is authorized (or not) exactly as without it.
//!
//! Invariants of a `CorsConfig` that `validate` accepted: 1 to `CORS_RULES_MAX` rules, each
//! with at least one origin and one method, methods among GET PUT HEAD POST DELETE, at most
//! one `*` in each origin and each allowed header.

use crate::proto::error::{S3Error, S3ErrorCode};

/// Most rules in one configuration (S3's limit).
pub const CORS_RULES_MAX: usize = 100;
/// Largest CORSConfiguration body (S3's limit is 64 KB).
pub const CORS_BODY_MAX_BYTES: usize = 64 * 1024;

const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsConfig {
    pub rules: Vec<CorsRule>,
}

impl CorsConfig {
    /// Checks what S3 checks on PutBucketCors.
    pub fn validate(&self) -> Result<(), S3Error> {
        let invalid = |m: String| Err(S3Error::with_message(S3ErrorCode::InvalidRequest, m));
        if self.rules.is_empty() || self.rules.len() > CORS_RULES_MAX {
            return Err(S3Error::with_message(
                S3ErrorCode::MalformedXML,
                format!("a CORS configuration holds 1 to {CORS_RULES_MAX} rules"),
            ));
        }
        for rule in &self.rules {
            if rule.allowed_origins.is_empty() || rule.allowed_methods.is_empty() {
                return Err(S3Error::with_message(
                    S3ErrorCode::MalformedXML,
                    "every CORSRule needs an AllowedOrigin and an AllowedMethod",
                ));
            }
            for method in &rule.allowed_methods {
                if !METHODS.contains(&method.as_str()) {
                    return invalid(format!(
                        "Found unsupported HTTP method in CORS config. Unsupported method is {method}"
                    ));
                }
            }
            for origin in &rule.allowed_origins {
                if origin.matches('*').count() > 1 {
                    return invalid(format!(
                        "AllowedOrigin \"{origin}\" can not have more than one wildcard."
                    ));
                }
            }
            for header in &rule.allowed_headers {
                if header.matches('*').count() > 1 {
                    return invalid(format!(
                        "AllowedHeader \"{header}\" can not have more than one wildcard."
                    ));
                }
            }
        }
        Ok(())
    }

    /// The first rule allowing `origin` to use `method` with `headers` (lowercase names), as
    /// S3 evaluates them: in order, the first match wins.
    pub fn find(&self, origin: &str, method: &str, headers: &[String]) -> Option<&CorsRule> {
        self.rules.iter().find(|rule| {
            rule.allowed_origins
                .iter()
                .any(|o| wildcard_match(o, origin))
                && rule.allowed_methods.iter().any(|m| m == method)
                && headers.iter().all(|h| {
                    rule.allowed_headers
                        .iter()
                        .any(|a| wildcard_match(&a.to_ascii_lowercase(), h))
                })
        })
    }
}

impl CorsRule {
    /// The headers telling the browser what `origin` may do. A rule allowing every origin
    /// (`*`) answers `*`, as S3 does; a named origin is echoed, with credentials allowed.
    /// `requested_headers` (a preflight's `Access-Control-Request-Headers`) are echoed back.
    pub fn response_headers(
        &self,
        origin: &str,
        requested_headers: &[String],
    ) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(6);
        if self.allowed_origins.iter().any(|o| o == "*") {
            out.push(("Access-Control-Allow-Origin", "*".to_string()));
        } else {
            out.push(("Access-Control-Allow-Origin", origin.to_string()));
            out.push(("Access-Control-Allow-Credentials", "true".to_string()));
        }
        out.push((
            "Access-Control-Allow-Methods",
            self.allowed_methods.join(", "),
        ));
        if !requested_headers.is_empty() {
            out.push(("Access-Control-Allow-Headers", requested_headers.join(", ")));
        }
        if !self.expose_headers.is_empty() {
            out.push((
                "Access-Control-Expose-Headers",
                self.expose_headers.join(", "),
            ));
        }
        if let Some(age) = self.max_age_seconds {
            out.push(("Access-Control-Max-Age", age.to_string()));
        }
        out.push((
            "Vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_string(),
        ));
        out
    }
}

/// A preflight's `Access-Control-Request-Headers`: comma-separated names, lowercased, empty
/// ones dropped.
pub fn requested_headers(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Whether `value` matches `pattern`, which holds at most one `*` standing for any run of
/// characters (empty too).
fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((prefix, suffix)) => {
            value.len() >= prefix.len() + suffix.len()
                && value.starts_with(prefix)
                && value.ends_with(suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            ..CorsRule::default()
        }
    }

    #[test]
    fn origins_match_with_one_wildcard_anywhere() {
        assert!(wildcard_match("*suffix", "foo.suffix"));
        assert!(wildcard_match("*suffix", "suffix"));
        assert!(!wildcard_match("*suffix", "foo.suffix.get"));
        assert!(wildcard_match("start*end", "startend"));
        assert!(wildcard_match("start*end", "start12end"));
        assert!(!wildcard_match("start*end", "0start12end"));
        assert!(!wildcard_match("start*end", "startend0"));
        // The prefix and suffix may not overlap.
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("prefix*", "prefix"));
        assert!(!wildcard_match("prefix*", "bla.prefix"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("http://a.com", "http://a.com"));
        assert!(!wildcard_match("http://a.com", "http://a.co"));
    }

    #[test]
    fn the_first_rule_matching_origin_method_and_every_header_wins() {
        let config = CorsConfig {
            rules: vec![
                rule(&["*.put"], &["PUT"], &[]),
                rule(
                    &["https://app.example"],
                    &["GET", "PUT"],
                    &["x-amz-*", "content-type"],
                ),
                rule(&["*"], &["GET"], &[]),
            ],
        };
        config.validate().expect("valid");
        let get = |o: &str, m: &str, h: &[&str]| {
            let h: Vec<String> = h.iter().map(|s| s.to_string()).collect();
            config.find(o, m, &h).map(|r| r.allowed_origins[0].clone())
        };
        assert_eq!(get("a.put", "PUT", &[]).as_deref(), Some("*.put"));
        assert_eq!(get("a.put", "GET", &[]).as_deref(), Some("*"));
        assert_eq!(get("a.put", "DELETE", &[]), None);
        let app = Some("https://app.example");
        assert_eq!(
            get(
                "https://app.example",
                "PUT",
                &["x-amz-date", "content-type"]
            )
            .as_deref(),
            app
        );
        // A header no rule allows: only the wildcard rule could answer, and it allows none.
        assert_eq!(get("https://app.example", "GET", &["x-custom"]), None);
        assert_eq!(get("https://other", "GET", &["x-amz-date"]), None);
    }

    proptest::proptest! {
        /// Any CORS body is a valid configuration or a clear error, never a panic.
        #[test]
        fn any_body_is_a_valid_configuration_or_an_error(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            if let Ok(config) = crate::proto::xml::parse_cors_configuration(&body) {
                proptest::prop_assert!(config.validate().is_ok());
            }
        }

        /// Matching never panics, whatever the origin and the pattern.
        #[test]
        fn wildcard_matching_is_total(pattern in ".{0,20}", value in ".{0,20}") {
            let _ = wildcard_match(&pattern, &value);
        }
    }

    #[test]
    fn validation_refuses_what_s3_refuses() {
        let bad = |r: CorsRule| CorsConfig { rules: vec![r] }.validate().unwrap_err().code;
        assert_eq!(
            bad(rule(&["*"], &["PATCH"], &[])),
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            bad(rule(&["*.*"], &["GET"], &[])),
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(
            bad(rule(&["*"], &["GET"], &["x-*-*"])),
            S3ErrorCode::InvalidRequest
        );
        assert_eq!(bad(rule(&[], &["GET"], &[])), S3ErrorCode::MalformedXML);
        assert_eq!(bad(rule(&["*"], &[], &[])), S3ErrorCode::MalformedXML);
        let empty = CorsConfig { rules: vec![] }.validate().unwrap_err().code;
        assert_eq!(empty, S3ErrorCode::MalformedXML);
        let many = CorsConfig {
            rules: vec![rule(&["*"], &["GET"], &[]); CORS_RULES_MAX + 1],
        };
        assert_eq!(many.validate().unwrap_err().code, S3ErrorCode::MalformedXML);
    }

    #[test]
    fn response_headers_echo_a_named_origin_and_star_for_any() {
        let named = rule(&["https://app.example"], &["GET", "PUT"], &[]);
        let h = named.response_headers("https://app.example", &["content-type".into()]);
        let get =
            |h: &[(&str, String)], n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(
            get(&h, "Access-Control-Allow-Origin").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            get(&h, "Access-Control-Allow-Credentials").as_deref(),
            Some("true")
        );
        assert_eq!(
            get(&h, "Access-Control-Allow-Methods").as_deref(),
            Some("GET, PUT")
        );
        assert_eq!(
            get(&h, "Access-Control-Allow-Headers").as_deref(),
            Some("content-type")
        );
        let mut any = rule(&["*"], &["GET"], &[]);
        any.expose_headers = vec!["ETag".into()];
        any.max_age_seconds = Some(600);
        let h = any.response_headers("https://x", &[]);
        assert_eq!(get(&h, "Access-Control-Allow-Origin").as_deref(), Some("*"));
        assert_eq!(get(&h, "Access-Control-Allow-Credentials"), None);
        assert_eq!(
            get(&h, "Access-Control-Expose-Headers").as_deref(),
            Some("ETag")
        );
        assert_eq!(get(&h, "Access-Control-Max-Age").as_deref(), Some("600"));
        assert_eq!(get(&h, "Access-Control-Allow-Headers"), None);
    }
}
