//! URL redaction for logs and errors: signatures, credentials and tokens never leave.

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

/// The URL with the value of every query parameter not known to be harmless replaced by
/// `REDACTED`, and any userinfo (`user:password@`) removed.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, path)) => format!("{scheme}://{}/{path}", strip_userinfo(authority)),
            None => format!("{scheme}://{}", strip_userinfo(rest)),
        },
        None => base.to_owned(),
    };
    match query {
        None => base,
        Some(q) => {
            let parts: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) if SAFE_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(k)) => format!("{k}={v}"),
                    Some((k, _)) => format!("{k}=REDACTED"),
                    None => kv.to_owned(),
                })
                .collect();
            format!("{base}?{}", parts.join("&"))
        }
    }
}

fn strip_userinfo(authority: &str) -> &str {
    authority.rsplit_once('@').map_or(authority, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_userinfo_are_removed() {
        let u = "https://user:pw@b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=AKID%2F&prefix=p%2F&sig=zz";
        let r = redact_url(u);
        assert!(!r.contains("abc") && !r.contains("AKID") && !r.contains("zz") && !r.contains("pw"), "{r}");
        assert!(r.contains("prefix=p%2F"), "{r}");
        assert!(r.starts_with("https://b.s3.amazonaws.com/k?"), "{r}");
    }
}
