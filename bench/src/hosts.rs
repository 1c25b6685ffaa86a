//! The `--host` list: comma-separated endpoints with MinIO's `{1...N}` ellipsis expansion.
//!
//! Owns: turning `node{1...4}:9000,other:9000` into a flat, ordered list of `host:port`
//! authorities. Must not: resolve names or connect (the runner does that once, up front).
//! Invariant: the result is non-empty, has at most `HOSTS_MAX` entries, and every entry
//! has an explicit port (80 is added when none is given, as for plain `http://`).

use crate::constants::HOSTS_MAX;

/// Expands a `--host` value into `host:port` authorities, in the order written.
pub fn expand_hosts(spec: &str) -> Result<Vec<String>, String> {
    let mut hosts = Vec::new();
    for item in spec
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let item = strip_scheme(item)?;
        for expanded in expand_ellipses(item)? {
            if hosts.len() == HOSTS_MAX {
                return Err(format!("--host expands to more than {HOSTS_MAX} hosts"));
            }
            hosts.push(with_default_port(&expanded));
        }
    }
    if hosts.is_empty() {
        return Err("--host is empty".to_string());
    }
    Ok(hosts)
}

fn strip_scheme(item: &str) -> Result<&str, String> {
    if let Some(rest) = item.strip_prefix("http://") {
        return Ok(rest.trim_end_matches('/'));
    }
    if item.starts_with("https://") {
        return Err(format!(
            "{item}: TLS is not supported by tessera-bench; use plain http"
        ));
    }
    Ok(item.trim_end_matches('/'))
}

fn with_default_port(host: &str) -> String {
    let has_port = match host.rfind(']') {
        // Bracketed IPv6: a port follows the closing bracket.
        Some(close) => host[close..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_string()
    } else {
        format!("{host}:80")
    }
}

/// Expands every `{a...b}` in `item`, left to right, into the cartesian product.
fn expand_ellipses(item: &str) -> Result<Vec<String>, String> {
    let Some(open) = item.find('{') else {
        if item.contains('}') {
            return Err(format!("--host {item:?}: '}}' without '{{'"));
        }
        return Ok(vec![item.to_string()]);
    };
    let close = item[open..]
        .find('}')
        .map(|offset| open + offset)
        .ok_or_else(|| format!("--host {item:?}: '{{' without '}}'"))?;
    let (first, last) = item[open + 1..close]
        .split_once("...")
        .ok_or_else(|| format!("--host {item:?}: expected {{a...b}}"))?;
    let start: u64 = first
        .parse()
        .map_err(|_| format!("--host {item:?}: {first:?} is not a number"))?;
    let end: u64 = last
        .parse()
        .map_err(|_| format!("--host {item:?}: {last:?} is not a number"))?;
    if start > end {
        return Err(format!("--host {item:?}: range {start}...{end} is empty"));
    }
    if end - start >= HOSTS_MAX as u64 {
        return Err(format!(
            "--host {item:?}: range has more than {HOSTS_MAX} values"
        ));
    }
    // `{01...16}` keeps the zero padding of the first bound, as MinIO does.
    let width = if first.len() > 1 && first.starts_with('0') {
        first.len()
    } else {
        0
    };
    let prefix = &item[..open];
    let mut out = Vec::new();
    for n in start..=end {
        for tail in expand_ellipses(&item[close + 1..])? {
            out.push(format!("{prefix}{n:0width$}{tail}"));
            if out.len() > HOSTS_MAX {
                return Err(format!(
                    "--host {item:?} expands to more than {HOSTS_MAX} hosts"
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_lists_and_ranges() {
        let cases: &[(&str, &[&str])] = &[
            ("127.0.0.1:9000", &["127.0.0.1:9000"]),
            ("a:1,b:2", &["a:1", "b:2"]),
            (" a:1 , ,b:2 ", &["a:1", "b:2"]),
            (
                "node{1...3}:9000",
                &["node1:9000", "node2:9000", "node3:9000"],
            ),
            (
                "node{08...10}:9000",
                &["node08:9000", "node09:9000", "node10:9000"],
            ),
            (
                "10.0.{1...2}.{5...6}:9000",
                &[
                    "10.0.1.5:9000",
                    "10.0.1.6:9000",
                    "10.0.2.5:9000",
                    "10.0.2.6:9000",
                ],
            ),
            ("http://h:9000/", &["h:9000"]),
            ("localhost", &["localhost:80"]),
            ("[::1]:9000", &["[::1]:9000"]),
            ("[::1]", &["[::1]:80"]),
            ("x{1...2}:1,y:2", &["x1:1", "x2:1", "y:2"]),
        ];
        for (spec, want) in cases {
            let got = expand_hosts(spec).unwrap_or_else(|err| panic!("{spec:?}: {err}"));
            assert_eq!(
                got,
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_specs() {
        for spec in [
            "",
            ",",
            "n{1..3}",
            "n{3...1}",
            "n{a...3}",
            "n{1...3",
            "n}1",
            "https://h:1",
            "n{1...5000}",
        ] {
            assert!(expand_hosts(spec).is_err(), "{spec:?} should be rejected");
        }
    }
}
