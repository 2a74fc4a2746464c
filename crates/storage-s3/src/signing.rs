//! AWS Signature Version 4, header and presigned (query) forms, written for S3's rules:
//! the canonical URI is the path exactly as sent (S3 does not double-encode), query
//! parameters are sorted by encoded name then value, and the derived signing key is cached
//! per day, region and secret so steady-state signing costs two HMACs and one SHA-256.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use http::HeaderMap;
use ring::{digest, hmac};
use storage_http::http;

/// The payload hash S3 accepts when the body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Characters S3 leaves unencoded: RFC 3986 unreserved.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Appends `s` URI-encoded the way SigV4 wants (uppercase hex; `/` kept when
/// `keep_slash`, as in object keys in the path).
pub fn uri_encode_into(out: &mut String, s: &str, keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// `s` URI-encoded (see [`uri_encode_into`]).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    uri_encode_into(&mut out, s, keep_slash);
    out
}

/// Builds an encoded query string from raw pairs, sorted as SigV4 requires (so the same
/// string serves the URL and the canonical request).
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> =
        pairs.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Sorts an already-encoded query string into canonical order (adding `=` to bare names).
fn canonicalize_encoded_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut parts: Vec<(&str, &str)> = query.split('&').map(|kv| kv.split_once('=').unwrap_or((kv, ""))).collect();
    parts.sort();
    let mut out = String::with_capacity(query.len() + 4);
    for (i, (k, v)) in parts.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    storage_core::hash::to_hex(digest::digest(&digest::SHA256, data).as_ref())
}

struct CachedKey {
    date: String,
    region: String,
    service: String,
    secret: String,
    key: [u8; 32],
    /// HMAC already keyed with `key` (its inner and outer pads hashed once).
    mac: hmac::Key,
}

/// Caches the derived signing key; it changes only with the day, region or secret.
#[derive(Default)]
pub struct KeyCache(Mutex<Option<CachedKey>>);

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache(<redacted>)")
    }
}

impl KeyCache {
    /// The signing key for `date` (YYYYMMDD), deriving it only when something changed.
    pub fn signing_key(&self, secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = slot.as_ref()
            && c.date == date
            && c.region == region
            && c.service == service
            && c.secret == secret
        {
            return c.key;
        }
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        let key = hmac(&k_service, b"aws4_request");
        let mac = keyed(&key);
        *slot = Some(CachedKey {
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            secret: secret.to_owned(),
            key,
            mac,
        });
        key
    }

    /// The signature of `string_to_sign`: HMAC with the cached signing key, reusing the
    /// keyed state so each signature costs only the message's blocks.
    pub fn sign(&self, secret: &str, date: &str, region: &str, service: &str, string_to_sign: &[u8]) -> String {
        let mac = {
            let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            match slot.as_ref() {
                Some(c) if c.date == date && c.region == region && c.service == service && c.secret == secret => {
                    Some(c.mac.clone())
                }
                _ => None,
            }
        };
        let mac = match mac {
            Some(m) => m,
            None => keyed(&self.signing_key(secret, date, region, service)),
        };
        storage_core::hash::to_hex(hmac::sign(&mac, string_to_sign).as_ref())
    }
}

fn keyed(key: &[u8]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, key)
}

/// What a signature is made with.
#[derive(Clone, Copy)]
pub struct SigningInput<'a> {
    /// Access key id.
    pub access_key_id: &'a str,
    /// Secret access key.
    pub secret: &'a str,
    /// Session token, if any.
    pub session_token: Option<&'a str>,
    /// Region.
    pub region: &'a str,
    /// Service (`s3`).
    pub service: &'a str,
    /// Signing time.
    pub time: DateTime<Utc>,
}

impl std::fmt::Debug for SigningInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningInput")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("time", &self.time)
            .finish_non_exhaustive()
    }
}

/// Headers never signed (proxies and clients may change them).
fn unsigned_header(name: &str) -> bool {
    matches!(name, "user-agent" | "authorization" | "expect" | "x-amzn-trace-id" | "content-length" | "connection")
}

/// The credential scope, `date/region/service/aws4_request` (pushed, not formatted:
/// every request signs one).
fn scope(date: &str, input: &SigningInput<'_>) -> String {
    let mut scope = String::with_capacity(64);
    for piece in [date, "/", input.region, "/", input.service, "/aws4_request"] {
        scope.push_str(piece);
    }
    scope
}

/// The string to sign, from the canonical request's SHA-256 in hex.
fn string_to_sign(amz_date: &str, scope: &str, canonical_request_hash: &str) -> String {
    let mut s = String::with_capacity(160);
    for piece in ["AWS4-HMAC-SHA256\n", amz_date, "\n", scope, "\n", canonical_request_hash] {
        s.push_str(piece);
    }
    s
}

/// Signs a request in place: sets `x-amz-date`, `x-amz-content-sha256`,
/// `x-amz-security-token` (with a session) and `authorization`. `host` must already be
/// among `headers`; `path` and `query` are exactly as they will be sent (encoded).
pub fn sign_headers(
    input: &SigningInput<'_>,
    cache: &KeyCache,
    method: &str,
    path: &str,
    query: &str,
    headers: &mut HeaderMap,
    payload_hash: &str,
) -> Result<(), http::header::InvalidHeaderValue> {
    let amz_date = amz_date(input.time);
    let date = &amz_date[..8];
    headers.insert("x-amz-date", http::HeaderValue::from_str(&amz_date)?);
    headers.insert("x-amz-content-sha256", http::HeaderValue::from_str(payload_hash)?);
    if let Some(token) = input.session_token {
        headers.insert("x-amz-security-token", http::HeaderValue::from_str(token)?);
    }
    let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).filter(|n| !unsigned_header(n)).collect();
    names.sort_unstable();
    names.dedup();
    // The canonical request is hashed as it is produced, never built as one string.
    let mut h = digest::Context::new(&digest::SHA256);
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(if path.is_empty() { b"/".as_slice() } else { path.as_bytes() });
    h.update(b"\n");
    if query.contains('&') || (!query.is_empty() && !query.contains('=')) {
        h.update(canonicalize_encoded_query(query).as_bytes());
    } else {
        h.update(query.as_bytes());
    }
    h.update(b"\n");
    for name in &names {
        h.update(name.as_bytes());
        h.update(b":");
        let mut first = true;
        for v in headers.get_all(*name) {
            if !first {
                h.update(b",");
            }
            first = false;
            h.update(v.as_bytes().trim_ascii());
        }
        h.update(b"\n");
    }
    h.update(b"\n");
    let signed_headers = names.join(";");
    h.update(signed_headers.as_bytes());
    h.update(b"\n");
    h.update(payload_hash.as_bytes());
    let creq_hash = storage_core::hash::to_hex(h.finish().as_ref());
    let scope = scope(date, input);
    let sts = string_to_sign(&amz_date, &scope, &creq_hash);
    let signature = cache.sign(input.secret, date, input.region, input.service, sts.as_bytes());
    let mut auth = String::with_capacity(200);
    for piece in [
        "AWS4-HMAC-SHA256 Credential=",
        input.access_key_id,
        "/",
        &scope,
        ", SignedHeaders=",
        &signed_headers,
        ", Signature=",
        &signature,
    ] {
        auth.push_str(piece);
    }
    headers.insert(http::header::AUTHORIZATION, http::HeaderValue::from_str(&auth)?);
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ`, formatted by hand (this runs on every request).
fn amz_date(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let mut b = [0u8; 16];
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, u32::try_from(t.year()).unwrap_or(0).min(9999));
    put(4, 2, t.month());
    put(6, 2, t.day());
    put(9, 2, t.hour());
    put(11, 2, t.minute());
    put(13, 2, t.second());
    b[8] = b'T';
    b[15] = b'Z';
    String::from_utf8_lossy(&b).into_owned()
}

/// The query string of a presigned URL (signed for the `host` header only, with an
/// unsigned payload). `path` is as sent; `extra` are raw query pairs to include.
pub fn presign_query(
    input: &SigningInput<'_>,
    cache: &KeyCache,
    method: &str,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
    expires_secs: u64,
) -> String {
    presign_query_with_headers(input, cache, method, host, path, extra, &[], expires_secs)
}

/// [`presign_query`] also signing `headers` (name, value): whoever uses the URL must send
/// them with exactly these values (a presigned PUT bound to a `content-type`, for
/// instance), or the server refuses the request. Names are compared case-insensitively;
/// `host` is always signed and need not be given.
#[allow(clippy::too_many_arguments)]
pub fn presign_query_with_headers(
    input: &SigningInput<'_>,
    cache: &KeyCache,
    method: &str,
    host: &str,
    path: &str,
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
    expires_secs: u64,
) -> String {
    let amz_date = amz_date(input.time);
    let date = &amz_date[..8];
    let scope = scope(date, input);
    let credential = format!("{}/{scope}", input.access_key_id);
    let expires = expires_secs.to_string();
    let mut signed: Vec<(String, String)> = vec![("host".to_owned(), host.to_owned())];
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        if name != "host" {
            signed.push((name, value.trim().to_owned()));
        }
    }
    signed.sort();
    signed.dedup_by(|a, b| a.0 == b.0);
    let signed_names = signed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
    let mut pairs: Vec<(&str, &str)> = vec![
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", &amz_date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", &signed_names),
    ];
    if let Some(token) = input.session_token {
        pairs.push(("X-Amz-Security-Token", token));
    }
    pairs.extend_from_slice(extra);
    let query = canonical_query(&pairs);
    let mut creq = format!("{method}\n{path}\n{query}\n");
    for (name, value) in &signed {
        let _ = writeln!(creq, "{name}:{value}");
    }
    let _ = write!(creq, "\n{signed_names}\n{UNSIGNED_PAYLOAD}");
    let sts = string_to_sign(&amz_date, &scope, &sha256_hex(creq.as_bytes()));
    let signature = cache.sign(input.secret, date, input.region, input.service, sts.as_bytes());
    format!("{query}&X-Amz-Signature={signature}")
}

#[cfg(test)]
mod tests {
    //! Known answers from AWS's "Signature Calculations for the Authorization Header" and
    //! "Query String Authentication" examples in the S3 API reference.

    use super::*;

    #[test]
    fn amz_date_is_the_iso_basic_format() {
        for secs in [0i64, 1_440_938_160, 1_796_314_264, 4_102_444_799] {
            let t = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            assert_eq!(amz_date(t), t.format("%Y%m%dT%H%M%SZ").to_string());
        }
    }
    use chrono::TimeZone;

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const HOST: &str = "examplebucket.s3.amazonaws.com";

    fn input() -> SigningInput<'static> {
        SigningInput {
            access_key_id: AKID,
            secret: SECRET,
            session_token: None,
            region: "us-east-1",
            service: "s3",
            time: Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap(),
        }
    }

    fn sign(method: &str, path: &str, query: &str, extra: &[(&str, &str)], payload: &str) -> String {
        let mut h = HeaderMap::new();
        h.insert("host", HOST.parse().unwrap());
        for (k, v) in extra {
            h.insert(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        sign_headers(&input(), &KeyCache::default(), method, path, query, &mut h, payload).unwrap();
        h.get("authorization").unwrap().to_str().unwrap().to_owned()
    }

    #[test]
    fn get_object_with_range() {
        let auth = sign("GET", "/test.txt", "", &[("range", "bytes=0-9")], EMPTY_SHA256);
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn put_object_with_a_dollar_in_the_key() {
        let body = b"Welcome to Amazon S3.";
        let hash = sha256_hex(body);
        assert_eq!(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
        let path = format!("/{}", uri_encode("test$file.text", true));
        assert_eq!(path, "/test%24file.text");
        let auth = sign(
            "PUT",
            &path,
            "",
            &[("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            &hash,
        );
        assert!(auth.contains("SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"), "{auth}");
        assert!(auth.ends_with("Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"), "{auth}");
    }

    #[test]
    fn get_bucket_lifecycle_with_a_bare_query_name() {
        let auth = sign("GET", "/", "lifecycle", &[], EMPTY_SHA256);
        assert!(auth.ends_with("Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"), "{auth}");
    }

    #[test]
    fn list_objects_sorts_the_query() {
        let query = canonical_query(&[("prefix", "J"), ("max-keys", "2")]);
        assert_eq!(query, "max-keys=2&prefix=J");
        let auth = sign("GET", "/", "prefix=J&max-keys=2", &[], EMPTY_SHA256);
        assert!(auth.ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), "{auth}");
    }

    #[test]
    fn presigned_get() {
        let q = presign_query(&input(), &KeyCache::default(), "GET", HOST, "/test.txt", &[], 86400);
        assert_eq!(
            q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn presigned_with_a_signed_header() {
        // No extra header: the same URL as the plain form.
        let plain = presign_query(&input(), &KeyCache::default(), "GET", HOST, "/test.txt", &[], 86400);
        let same =
            presign_query_with_headers(&input(), &KeyCache::default(), "GET", HOST, "/test.txt", &[], &[], 86400);
        assert_eq!(plain, same);
        let typed = |ct: &str| {
            let h = [("Content-Type", ct)];
            presign_query_with_headers(&input(), &KeyCache::default(), "PUT", HOST, "/a.png", &[], &h, 60)
        };
        let png = typed("image/png");
        assert!(png.contains("X-Amz-SignedHeaders=content-type%3Bhost&"), "{png}");
        assert_ne!(png, typed("text/plain"), "the value is part of the signature");
    }

    #[test]
    fn the_cached_key_equals_a_fresh_derivation() {
        let cache = KeyCache::default();
        let a = cache.signing_key(SECRET, "20130524", "us-east-1", "s3");
        let b = cache.signing_key(SECRET, "20130524", "us-east-1", "s3");
        let c = KeyCache::default().signing_key(SECRET, "20130525", "us-east-1", "s3");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            cache.signing_key("other", "20130524", "us-east-1", "s3"),
            KeyCache::default().signing_key("other", "20130524", "us-east-1", "s3")
        );
    }

    #[test]
    fn keys_encode_like_s3_expects() {
        assert_eq!(uri_encode("a b+c%d/é~", true), "a%20b%2Bc%25d/%C3%A9~");
        assert_eq!(uri_encode("a//b/", true), "a//b/");
        assert_eq!(uri_encode("x/y", false), "x%2Fy");
    }
}
