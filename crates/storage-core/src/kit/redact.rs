//! URL redaction for logs and errors: passwords, signatures and tokens never leave.

/// Query parameters whose values are safe to show.
const SAFE_PARAMS: &[&str] = &[
    "prefix",
    "delimiter",
    "list-type",
    "max-keys",
    "start-after",
    "encoding-type",
    "uploadId",
    "partNumber",
    "versionId",
    "uploads",
    "delete",
    "comp",
    "restype",
    "marker",
    "maxresults",
    "blockid",
    "alt",
    "uploadType",
    "name",
    "generation",
    "pageToken",
    "maxResults",
    "startOffset",
    "X-Amz-Expires",
    "X-Amz-Date",
    "X-Amz-Algorithm",
    "X-Amz-SignedHeaders",
];

/// `url` as it may be shown: the userinfo (`user:password@`, or a lone token) becomes
/// `<redacted>@`, and the value of every query parameter not known to
/// be harmless becomes `REDACTED` (signatures, credentials, SAS tokens).
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) if !s.contains(['/', '?', '@']) => (Some(s), r),
        _ => (None, url),
    };
    // The userinfo ends at the last `@` of the authority (up to the first `/`). Without
    // one there, a password may hold a `/` (badly escaped): the last `@` before the query
    // ends it when what precedes its first `/` has a `:`.
    let query_at = rest.find(['?', '#']).unwrap_or(rest.len());
    let authority_end = rest[..query_at].find('/').unwrap_or(query_at);
    let userinfo_end = rest[..authority_end].rfind('@').or_else(|| {
        rest[..query_at].rfind('@').filter(|&at| {
            let before = &rest[..at];
            before.find('/').is_some_and(|slash| before[..slash].contains(':'))
        })
    });
    let (authority, rest) = match userinfo_end {
        Some(at) => {
            // A user name may be an access key id or a token: the userinfo is hidden whole.
            ("<redacted>@".to_owned(), &rest[at + 1..])
        }
        None => (String::new(), rest),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    let authority = format!("{authority}{host}");
    let (path, query, fragment) = match tail.split_once('?') {
        Some((p, q)) => match q.split_once('#') {
            Some((q, f)) => (p, Some(q), Some(f)),
            None => (p, Some(q), None),
        },
        None => (tail, None, None),
    };
    let mut out = match scheme {
        Some(s) => format!("{s}://{authority}{path}"),
        None => format!("{authority}{path}"),
    };
    if let Some(q) = query {
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if SAFE_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(k)) => format!("{k}={v}"),
                Some((k, _)) => format!("{k}=REDACTED"),
                None => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&parts.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_signatures_are_removed() {
        let u = "https://user:pw@b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=AKID%2F&prefix=p%2F&sig=zz";
        let r = redact_url(u);
        assert!(!r.contains("abc") && !r.contains("AKID") && !r.contains("zz") && !r.contains("pw"), "{r}");
        assert!(r.contains("prefix=p%2F"), "{r}");
        assert!(r.starts_with("https://<redacted>@b.s3.amazonaws.com/k?"), "{r}");
    }

    #[test]
    fn userinfo_is_hidden_whole() {
        assert_eq!(redact_url("redis://:pw@h:1/0"), "redis://<redacted>@h:1/0");
        assert_eq!(redact_url("redis://u:p@ss@h"), "redis://<redacted>@h");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact_url("rediss://user@h/2"), "rediss://<redacted>@h/2");
        assert_eq!(redact_url("https://hunter2@s3.example.com"), "https://<redacted>@s3.example.com");
        assert_eq!(redact_url("http://user:hun/ter2@host:9000"), "http://<redacted>@host:9000");
        assert_eq!(redact_url("user:hunter2@host"), "<redacted>@host");
        assert_eq!(redact_url("https://host/path/a@b.txt"), "https://host/path/a@b.txt");
        assert_eq!(redact_url("h:1"), "h:1");
        assert_eq!(redact_url("http://h/p?sig=1#frag"), "http://h/p?sig=REDACTED#frag");
    }

    #[test]
    fn userinfo_is_hidden_when_the_path_holds_an_at_sign() {
        // Found by `cargo xtask fuzz storage_url` (fuzz/corpus/storage_url/regression-*):
        // the last `@` was in the path, and a lone token before the host was shown.
        assert_eq!(redact_url("https://ghp_token123@host/a@b"), "https://<redacted>@host/a@b");
        assert_eq!(redact_url("https://user:pw@host/logs/a@b.txt"), "https://<redacted>@host/logs/a@b.txt");
        let fuzzed = "file://\u{b}X@X\0\0\0\0\0\0\0\0i\0\0X@\0\0/R@";
        assert_eq!(redact_url(fuzzed), "file://<redacted>@\0\0/R@");
    }
}
