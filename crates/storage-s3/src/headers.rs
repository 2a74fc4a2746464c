//! Object metadata to and from HTTP headers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use storage_core::{Encryption, Error, ErrorKind, HashAlgorithm, Object, ObjectHash, PutMode, PutOptions, Result};
use storage_http::http;

const META_PREFIX: &str = "x-amz-meta-";

/// The hash an S3 ETag stands for: an MD5 when it is 32 hex digits (single-request
/// uploads without KMS), an opaque tag otherwise (multipart `...-N`).
pub fn hash_from_etag(etag: &str) -> ObjectHash {
    let e = etag.trim_matches('"');
    if storage_core::hash::is_md5_hex(e) {
        ObjectHash::md5(e)
    } else {
        ObjectHash { algorithm: HashAlgorithm::Opaque, value: e.to_owned() }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Decodes an RFC 2047 `=?UTF-8?B?...?=` value (how non-ASCII metadata is stored).
fn decode_meta(v: &str) -> String {
    if let Some(inner) = v.strip_prefix("=?UTF-8?B?").and_then(|r| r.strip_suffix("?="))
        && let Ok(bytes) = B64.decode(inner)
        && let Ok(s) = String::from_utf8(bytes)
    {
        return s;
    }
    v.to_owned()
}

/// Encodes a metadata value for a header: printable ASCII as is, anything else RFC 2047.
fn encode_meta(v: &str) -> String {
    if v.bytes().all(|b| (0x20..0x7f).contains(&b)) && !v.starts_with("=?") {
        v.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", B64.encode(v.as_bytes()))
    }
}

/// An `Object` from the headers of a HEAD or GET answer; `size` is the whole object's.
pub fn object_from_headers(bucket: &str, key: &str, h: &HeaderMap, size: u64) -> Object {
    let mut o = Object::new(bucket, key, size);
    // One pass over the answer's headers (each `HeaderMap::get` by name parses and hashes
    // the name: a dozen of them were a tenth of a small GET's instructions). The first
    // value of a repeated header wins, as `get` would give.
    let (mut storage_class, mut encryption, mut tag_count) = (None, None, None);
    for (name, value) in h {
        let Ok(v) = value.to_str() else { continue };
        let set = |slot: &mut Option<String>, v: &str| {
            if slot.is_none() {
                *slot = Some(v.to_owned());
            }
        };
        match name.as_str() {
            "etag" => set(&mut o.etag, v.trim_matches('"')),
            "last-modified" if o.last_modified.is_none() => {
                o.last_modified = httpdate::parse_http_date(v).ok().map(DateTime::<Utc>::from);
            }
            "content-type" => set(&mut o.content_type, v),
            "content-encoding" => set(&mut o.content_encoding, v),
            "cache-control" => set(&mut o.cache_control, v),
            "content-disposition" => set(&mut o.content_disposition, v),
            "x-amz-version-id" if v != "null" => set(&mut o.version, v),
            "x-amz-storage-class" => set(&mut storage_class, v),
            "x-amz-server-side-encryption" => set(&mut encryption, v),
            "x-amz-tagging-count" => set(&mut tag_count, v),
            n => {
                if let Some(k) = n.strip_prefix(META_PREFIX) {
                    o.metadata.insert(k.to_owned(), decode_meta(v));
                }
            }
        }
    }
    o.hash = o.etag.as_deref().map(|e| hash_for(e, h));
    for (name, value) in [("storage_class", storage_class), ("encryption", encryption), ("tag_count", tag_count)] {
        if let Some(v) = value {
            o.extra.insert(name.into(), v);
        }
    }
    o
}

/// The hash an ETag stands for, given the answer's headers: under SSE-KMS (or DSSE-KMS)
/// and SSE-C an ETag is not the data's MD5 even when it looks like one, so it is opaque.
/// An ETag that is no MD5 (those, and multipart ETags) gives way to the whole object's
/// CRC32C when the answer carries one (`x-amz-checksum-crc32c`, full-object type), so
/// such objects can be verified too.
pub fn hash_for(etag: &str, h: &HeaderMap) -> ObjectHash {
    let kms = header(h, "x-amz-server-side-encryption").is_some_and(|v| v.starts_with("aws:kms"));
    let hash = if kms || h.contains_key("x-amz-server-side-encryption-customer-algorithm") {
        ObjectHash { algorithm: HashAlgorithm::Opaque, value: etag.trim_matches('"').to_owned() }
    } else {
        hash_from_etag(etag)
    };
    match crate::checksum::full_object(h) {
        Some(crc) if !hash.is_content_hash() => ObjectHash::crc32c(crc),
        _ => hash,
    }
}

fn put(h: &mut HeaderMap, name: &str, value: &str) -> Result<()> {
    let n = http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::new(ErrorKind::Config, format!("{name:?} cannot be used as a metadata name")))?;
    let v = http::HeaderValue::from_str(value)
        .map_err(|_| Error::new(ErrorKind::Config, format!("the value of {name} is not valid header text")))?;
    h.insert(n, v);
    Ok(())
}

/// Content headers and user metadata of a write. Never sends a form content type by
/// default (some servers eat such bodies): the default is `application/octet-stream`.
pub fn content_headers(h: &mut HeaderMap, o: &PutOptions) -> Result<()> {
    put(h, "content-type", o.content_type.as_deref().unwrap_or("application/octet-stream"))?;
    if let Some(v) = &o.content_encoding {
        put(h, "content-encoding", v)?;
    }
    if let Some(v) = &o.cache_control {
        put(h, "cache-control", v)?;
    }
    if let Some(v) = &o.content_disposition {
        put(h, "content-disposition", v)?;
    }
    for (k, v) in &o.metadata {
        let name = format!("{META_PREFIX}{}", k.to_ascii_lowercase());
        put(h, &name, &encode_meta(v))?;
    }
    extra_headers(h, o)
}

/// S3's canned ACLs.
const CANNED_ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
];

/// Headers the driver sets itself (signing, framing, conditions): never taken from
/// `PutOptions::headers`.
const RESERVED: &[&str] = &[
    "authorization",
    "host",
    "content-length",
    "content-md5",
    "expect",
    "transfer-encoding",
    "connection",
    "if-match",
    "if-none-match",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-decoded-content-length",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-tagging-directive",
];

/// The ACL, storage class, server-side encryption, tags and provider headers of a write
/// (Libcloud's `extra`): `x-amz-acl`, `x-amz-storage-class`,
/// `x-amz-server-side-encryption` (+ `-aws-kms-key-id`), `x-amz-tagging`, and the
/// caller's headers, which may not replace one set from a named option.
pub fn extra_headers(h: &mut HeaderMap, o: &PutOptions) -> Result<()> {
    let invalid = |what: &str, value: &str, want: String| {
        Error::new(ErrorKind::Config, format!("{what} {value:?} is not one S3 knows; use {want}"))
    };
    if let Some(acl) = &o.acl {
        if !CANNED_ACLS.contains(&acl.as_str()) {
            return Err(invalid("the ACL", acl, CANNED_ACLS.join(", ")));
        }
        put(h, "x-amz-acl", acl)?;
    }
    if let Some(class) = &o.storage_class {
        let upper = class.to_ascii_uppercase();
        if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            return Err(invalid(
                "the storage class",
                class,
                "STANDARD, STANDARD_IA, GLACIER_IR... (S3's names)".into(),
            ));
        }
        put(h, "x-amz-storage-class", &upper)?;
    }
    match &o.encryption {
        None => {}
        Some(Encryption::Managed) => put(h, "x-amz-server-side-encryption", "AES256")?,
        Some(Encryption::Kms { key_id }) => {
            put(h, "x-amz-server-side-encryption", "aws:kms")?;
            if let Some(id) = key_id {
                put(h, "x-amz-server-side-encryption-aws-kms-key-id", id)?;
            }
        }
        Some(Encryption::Scope(_)) => {
            return Err(Error::new(ErrorKind::NotSupported, "S3 has no encryption scopes (an Azure setting)")
                .with_hint("use Encryption::Kms with a key id, or Encryption::Managed"));
        }
    }
    if !o.tags.is_empty() {
        put(h, "x-amz-tagging", &tagging(&o.tags)?)?;
    }
    for (name, value) in &o.headers {
        let lower = name.to_ascii_lowercase();
        if RESERVED.contains(&lower.as_str()) || h.contains_key(lower.as_str()) {
            return Err(Error::new(
                ErrorKind::Config,
                format!("the header {name} is set by the driver or by a named option, not through headers"),
            )
            .with_hint("use PutOptions' fields (content_type, metadata, acl, storage_class, encryption, tags, mode)"));
        }
        put(h, &lower, value)?;
    }
    Ok(())
}

/// `x-amz-tagging`: URL-encoded `k=v&k2=v2`, within S3's limits (10 tags, keys up to
/// 128 characters, values up to 256, S3's character set), checked before sending.
pub fn tagging(tags: &std::collections::BTreeMap<String, String>) -> Result<String> {
    if tags.len() > 10 {
        return Err(Error::new(ErrorKind::Config, format!("S3 objects take at most 10 tags, not {}", tags.len())));
    }
    let mut out = String::new();
    for (k, v) in tags {
        // S3's rule: letters, digits, spaces and `_ . : / = + - @`.
        let allowed = |t: &str| t.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c));
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 || !allowed(k) || !allowed(v) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the tag {k:?} = {v:?} breaks S3's rules (key 1-128 characters, value up to 256; letters, \
                     digits, spaces and _ . : / = + - @ only)"
                ),
            ));
        }
        if !out.is_empty() {
            out.push('&');
        }
        crate::signing::uri_encode_into(&mut out, k, false);
        out.push('=');
        crate::signing::uri_encode_into(&mut out, v, false);
    }
    Ok(out)
}

/// `If-None-Match: *` / `If-Match` for a put mode.
pub fn mode_headers(h: &mut HeaderMap, mode: &PutMode) -> Result<()> {
    match mode {
        PutMode::Overwrite => Ok(()),
        PutMode::CreateIfAbsent => put(h, "if-none-match", "*"),
        PutMode::IfMatch(etag) => put(h, "if-match", &quote(etag)),
    }
}

/// An ETag in quotes.
pub fn quote(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") { etag.to_owned() } else { format!("\"{etag}\"") }
}

/// Base64 of the raw bytes of a hex MD5 (the `Content-MD5` form).
pub fn md5_header(hex_md5: &str) -> Result<String> {
    let raw = hex::decode(hex_md5)
        .map_err(|_| Error::new(ErrorKind::Config, format!("{hex_md5:?} is not a hex MD5 digest")))?;
    Ok(B64.encode(raw))
}

/// Base64 MD5 of `data`.
pub fn md5_b64(data: &[u8]) -> String {
    use md5::Digest;
    B64.encode(md5::Md5::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_headers() {
        let o = PutOptions::content_type("text/plain").with_metadata("Owner", "ünïcode").with_metadata("plain", "v 1");
        let mut h = HeaderMap::new();
        content_headers(&mut h, &o).unwrap();
        h.insert("etag", "\"d41d8cd98f00b204e9800998ecf8427e\"".parse().unwrap());
        let back = object_from_headers("b", "k", &h, 0);
        assert_eq!(back.metadata.get("owner").map(String::as_str), Some("ünïcode"));
        assert_eq!(back.metadata.get("plain").map(String::as_str), Some("v 1"));
        assert_eq!(back.md5(), Some("d41d8cd98f00b204e9800998ecf8427e"));
        assert_eq!(hash_from_etag("\"abc-2\"").algorithm, HashAlgorithm::Opaque);
    }

    #[test]
    fn checksums_have_the_wire_form() {
        assert_eq!(md5_header("d41d8cd98f00b204e9800998ecf8427e").unwrap(), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(md5_b64(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }
}
