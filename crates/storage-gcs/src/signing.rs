//! V4 signed URLs (`GOOG4-RSA-SHA256`), signed with a service account key.
//!
//! The canonical request is
//!
//! ```text
//! {METHOD}\n{/bucket/object, URI-encoded}\n{canonical query}\n{canonical headers}\n{signed headers}\n{payload}
//! ```
//!
//! with the query holding `X-Goog-Algorithm`, `X-Goog-Credential`
//! (`{client_email}/{YYYYMMDD}/auto/storage/goog4_request`), `X-Goog-Date`,
//! `X-Goog-Expires`, `X-Goog-SignedHeaders` and the caller's parameters, every name and
//! value percent-encoded but for `A-Z a-z 0-9 - _ . ~` and sorted; the headers lower-cased,
//! their values trimmed with inner runs of blanks collapsed, sorted, `host` among them; the
//! payload `UNSIGNED-PAYLOAD` (or the `x-goog-content-sha256` header's value). The string
//! to sign is `GOOG4-RSA-SHA256\n{datetime}\n{date}/auto/storage/goog4_request\n{hex
//! SHA-256 of the canonical request}`, and the signature the hex of its RSA-SHA256
//! signature. Proven against Google's published conformance vectors
//! (`tests/v4_vectors.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, utf8_percent_encode};
use sha2::{Digest, Sha256};
use storage_core::{Error, ErrorKind, Result};
use storage_http::auth::support::FORM;

use crate::credentials::ServiceAccountKey;

/// The signing algorithm.
const ALGORITHM: &str = "GOOG4-RSA-SHA256";
/// What the payload is signed as when no hash is given.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The longest lifetime GCS accepts (7 days).
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
/// The query parameters the signature itself sets.
const RESERVED: [&str; 6] = [
    "x-goog-algorithm",
    "x-goog-credential",
    "x-goog-date",
    "x-goog-expires",
    "x-goog-signedheaders",
    "x-goog-signature",
];
/// Path segments keep `/`; everything but the unreserved set is escaped.
const PATH: &AsciiSet = &FORM.remove(b'/');

/// What a V4 signed URL grants.
#[derive(Debug, Clone)]
pub struct V4Request<'a> {
    /// `GET`, `PUT`, `DELETE`...
    pub method: &'a str,
    /// `https://storage.googleapis.com` (scheme and host, no path).
    pub endpoint: &'a str,
    /// The bucket.
    pub bucket: &'a str,
    /// The object name (not encoded).
    pub object: &'a str,
    /// Lifetime (at most 7 days).
    pub expires_in: Duration,
    /// When it is signed.
    pub time: DateTime<Utc>,
    /// Headers the user of the URL must send (besides `host`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Extra query parameters.
    pub query: &'a [(&'a str, &'a str)],
}

/// Where the bucket goes in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrlStyle {
    /// `{endpoint}/{bucket}/{object}` (what [`signed_url`] makes).
    #[default]
    Path,
    /// `{scheme}://{bucket}.{endpoint host}/{object}`.
    VirtualHosted,
    /// `{endpoint}/{object}`: the endpoint is the bucket's own host name (a CNAME or a
    /// load balancer in front of the bucket); the bucket is not in the URL.
    BucketBoundHostname,
}

/// The texts a signature is made of, for inspection and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Parts {
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// The URL without its `X-Goog-Signature` (scheme, host, path and canonical query).
    pub unsigned_url: String,
}

/// A path-style V4 signed URL, `{endpoint}/{bucket}/{object}?X-Goog-...&X-Goog-Signature=...`,
/// signed with `key` (the URL acts as the key's service account). A lifetime over 7 days
/// (or zero), an endpoint that is not `http(s)://host[:port]`, or a header or parameter the
/// signature reserves is a `Config` error.
pub fn signed_url(key: &ServiceAccountKey, req: &V4Request<'_>) -> Result<String> {
    signed_url_with_style(key, req, UrlStyle::Path)
}

/// Like [`signed_url`], with the bucket placed as `style` says.
pub fn signed_url_with_style(key: &ServiceAccountKey, req: &V4Request<'_>, style: UrlStyle) -> Result<String> {
    let parts = v4_parts(&key.client_email, req, style)?;
    let signature = key.sign(parts.string_to_sign.as_bytes())?;
    Ok(format!("{}&X-Goog-Signature={}", parts.unsigned_url, hex::encode(signature)))
}

/// The canonical request, string to sign and unsigned URL of a signed URL acting as
/// `client_email` (no key needed: nothing is signed yet).
pub fn v4_parts(client_email: &str, req: &V4Request<'_>, style: UrlStyle) -> Result<V4Parts> {
    let config = |why: String| Error::new(ErrorKind::Config, format!("cannot sign the URL: {why}"));
    if req.expires_in > MAX_EXPIRY {
        return Err(config(format!(
            "a V4 signed URL lives at most 7 days (604800 s); {} s were asked",
            req.expires_in.as_secs()
        )));
    }
    let expires = req.expires_in.as_secs();
    if expires == 0 {
        return Err(config("a V4 signed URL must live at least one second".to_owned()));
    }
    let method = req.method.trim().to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(config(format!("{:?} is not an HTTP method", req.method)));
    }
    if client_email.trim().is_empty() {
        return Err(config("the service account has no client_email".to_owned()));
    }
    let (scheme, authority) = split_endpoint(req.endpoint).map_err(config)?;
    let host_header = host_header(scheme, &authority);

    // Where the bucket goes.
    let encoded_object = utf8_percent_encode(req.object, PATH).to_string();
    let (origin, host, path) = match style {
        UrlStyle::Path => {
            let bucket = utf8_percent_encode(req.bucket, FORM).to_string();
            let path = if req.object.is_empty() { format!("/{bucket}") } else { format!("/{bucket}/{encoded_object}") };
            (format!("{scheme}://{authority}"), host_header, path)
        }
        UrlStyle::VirtualHosted => {
            let bucket = req.bucket.to_ascii_lowercase();
            if bucket.is_empty() || !bucket.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
                return Err(config(format!("{:?} cannot be a host name label", req.bucket)));
            }
            (
                format!("{scheme}://{bucket}.{authority}"),
                format!("{bucket}.{host_header}"),
                format!("/{encoded_object}"),
            )
        }
        UrlStyle::BucketBoundHostname => (format!("{scheme}://{authority}"), host_header, format!("/{encoded_object}")),
    };

    // Headers: lower-cased names, values trimmed with inner blanks collapsed, repeated
    // names joined with commas.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in req.headers {
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(config("a header has an empty name".to_owned()));
        }
        if name == "host" {
            return Err(config("the host header is signed from the endpoint; do not give it".to_owned()));
        }
        let value = value.split([' ', '\t']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
        headers.entry(name).and_modify(|v| *v = format!("{v},{value}")).or_insert(value);
    }
    headers.insert("host".to_owned(), host);
    let signed_headers = headers.keys().map(String::as_str).collect::<Vec<_>>().join(";");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let payload = headers.get("x-goog-content-sha256").cloned().unwrap_or_else(|| UNSIGNED_PAYLOAD.to_owned());

    // Query: the signature's parameters and the caller's, encoded, sorted.
    let datetime = req.time.format("%Y%m%dT%H%M%SZ").to_string();
    let scope = format!("{}/auto/storage/goog4_request", req.time.format("%Y%m%d"));
    let credential = format!("{}/{scope}", client_email.trim());
    let expires = expires.to_string();
    let mut query: Vec<(String, String)> = Vec::with_capacity(req.query.len() + 5);
    for (name, value) in [
        ("X-Goog-Algorithm", ALGORITHM),
        ("X-Goog-Credential", credential.as_str()),
        ("X-Goog-Date", datetime.as_str()),
        ("X-Goog-Expires", expires.as_str()),
        ("X-Goog-SignedHeaders", signed_headers.as_str()),
    ] {
        query.push((encode(name), encode(value)));
    }
    for (name, value) in req.query {
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(config(format!("the query parameter {name} is set by the signature")));
        }
        query.push((encode(name), encode(value)));
    }
    query.sort();
    let canonical_query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");

    let canonical_request =
        format!("{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload}");
    let digest = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    let string_to_sign = format!("{ALGORITHM}\n{datetime}\n{scope}\n{digest}");
    Ok(V4Parts { canonical_request, string_to_sign, unsigned_url: format!("{origin}{path}?{canonical_query}") })
}

/// Percent-encodes all but `A-Z a-z 0-9 - _ . ~`.
fn encode(text: &str) -> String {
    utf8_percent_encode(text, FORM).to_string()
}

/// `(scheme, authority)` of an endpoint `http(s)://host[:port]` (a trailing `/` is
/// allowed; the authority is kept as written, lower-cased).
fn split_endpoint(endpoint: &str) -> std::result::Result<(&'static str, String), String> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let lower = endpoint.to_ascii_lowercase();
    let (scheme, authority) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err(format!("the endpoint {endpoint:?} is not an http:// or https:// URL"));
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!("the endpoint {endpoint:?} must be scheme and host only (no path, query or user)"));
    }
    Ok((scheme, authority.to_owned()))
}

/// The `host` header for `authority`: the port is dropped when it is the scheme's
/// default.
fn host_header(scheme: &str, authority: &str) -> String {
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    authority.strip_suffix(default_port).unwrap_or(authority).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(expires_in: Duration) -> V4Request<'a> {
        V4Request {
            method: "GET",
            endpoint: "https://storage.googleapis.com",
            bucket: "b",
            object: "o",
            expires_in,
            time: DateTime::from_timestamp(1_548_979_200, 0).unwrap(),
            headers: &[],
            query: &[],
        }
    }

    #[test]
    fn limits_and_endpoints() {
        let ok = v4_parts("sa@p.iam.gserviceaccount.com", &req(MAX_EXPIRY), UrlStyle::Path).unwrap();
        assert!(ok.unsigned_url.contains("X-Goog-Expires=604800"), "{}", ok.unsigned_url);
        for expires in [MAX_EXPIRY + Duration::from_secs(1), Duration::ZERO] {
            let e = v4_parts("sa@p", &req(expires), UrlStyle::Path).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        }
        for endpoint in ["storage.googleapis.com", "ftp://x", "https://x/path", "https://u@x", "https://"] {
            let r = V4Request { endpoint, ..req(Duration::from_secs(60)) };
            assert_eq!(v4_parts("sa@p", &r, UrlStyle::Path).unwrap_err().kind(), ErrorKind::Config, "{endpoint}");
        }
        let r = V4Request { query: &[("x-goog-signature", "forged")], ..req(Duration::from_secs(60)) };
        assert_eq!(v4_parts("sa@p", &r, UrlStyle::Path).unwrap_err().kind(), ErrorKind::Config);
        let r = V4Request { headers: &[("Host", "elsewhere")], ..req(Duration::from_secs(60)) };
        assert_eq!(v4_parts("sa@p", &r, UrlStyle::Path).unwrap_err().kind(), ErrorKind::Config);
        assert_eq!(host_header("http", "127.0.0.1:4443"), "127.0.0.1:4443");
        assert_eq!(host_header("http", "localhost:80"), "localhost");
        assert_eq!(host_header("https", "storage.googleapis.com:443"), "storage.googleapis.com");
        let r = V4Request { endpoint: "http://127.0.0.1:4443/", ..req(Duration::from_secs(60)) };
        let parts = v4_parts("sa@p", &r, UrlStyle::Path).unwrap();
        assert!(parts.unsigned_url.starts_with("http://127.0.0.1:4443/b/o?X-Goog-Algorithm="), "{parts:?}");
        assert!(parts.canonical_request.contains("\nhost:127.0.0.1:4443\n"), "{parts:?}");
    }
}
