//! Blob properties and metadata to and from HTTP headers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use storage_core::{Error, ErrorKind, Object, ObjectHash, PutMode, PutOptions, Result};
use storage_http::http;

use crate::checksum;

const META_PREFIX: &str = "x-ms-meta-";

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The hex MD5 of a base64 `Content-MD5`, if it is one.
pub fn md5_hex_from_b64(b64: &str) -> Option<String> {
    let raw = B64.decode(b64.trim()).ok()?;
    (raw.len() == 16).then(|| storage_core::hash::to_hex(&raw))
}

/// Base64 of the raw bytes of a hex MD5 (the `Content-MD5` form).
pub fn md5_b64_from_hex(hex_md5: &str) -> Result<String> {
    let raw = hex::decode(hex_md5)
        .ok()
        .filter(|r| r.len() == 16)
        .ok_or_else(|| Error::new(ErrorKind::Config, format!("{hex_md5:?} is not a hex MD5 digest")))?;
    Ok(B64.encode(raw))
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
    if v.bytes().all(|b| (0x20..0x7f).contains(&b)) && !v.starts_with("=?") && v.trim() == v {
        v.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", B64.encode(v.as_bytes()))
    }
}

/// An `Object` from the headers of a HEAD or GET answer; `size` is the whole blob's. Its
/// hash is the blob's MD5 when it has one, else the CRC32C this driver keeps in its
/// metadata ([`crate::checksum`]), which is not shown as user metadata.
pub fn object_from_headers(container: &str, key: &str, h: &HeaderMap, size: u64, ranged: bool) -> Object {
    let mut o = Object::new(container, key, size);
    o.etag = header(h, "etag").map(|e| e.trim_matches('"').to_owned());
    // A ranged answer's Content-MD5 (when asked for) is the range's; the blob's is here.
    let md5 = header(h, "x-ms-blob-content-md5").or(if ranged { None } else { header(h, "content-md5") });
    o.hash = md5
        .and_then(md5_hex_from_b64)
        .map(ObjectHash::md5)
        .or_else(|| checksum::stored_crc32c(h, size).map(ObjectHash::crc32c));
    o.last_modified =
        header(h, "last-modified").and_then(|v| httpdate::parse_http_date(v).ok()).map(DateTime::<Utc>::from);
    o.content_type = header(h, "content-type").map(str::to_owned);
    o.content_encoding = header(h, "content-encoding").map(str::to_owned);
    o.cache_control = header(h, "cache-control").map(str::to_owned);
    o.content_disposition = header(h, "content-disposition").map(str::to_owned);
    o.version = header(h, "x-ms-version-id").map(str::to_owned);
    for (name, value) in h {
        if let Some(k) = name.as_str().strip_prefix(META_PREFIX)
            && k != checksum::META_NAME
            && let Ok(v) = value.to_str()
        {
            o.metadata.insert(k.to_owned(), decode_meta(v));
        }
    }
    // The tier under Libcloud's portable name and under Azure's (kept for existing readers).
    for (from, to) in [
        ("x-ms-access-tier", "storage_class"),
        ("x-ms-access-tier", "access_tier"),
        ("x-ms-tag-count", "tag_count"),
        ("x-ms-encryption-scope", "encryption_scope"),
        ("x-ms-blob-type", "blob_type"),
        ("x-ms-creation-time", "created"),
    ] {
        if let Some(v) = header(h, from) {
            o.extra.insert(to.into(), v.to_owned());
        }
    }
    o
}

fn put(h: &mut HeaderMap, name: &str, value: &str) -> Result<()> {
    let n = http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::new(ErrorKind::Config, format!("{name:?} cannot be sent as a header name")))?;
    let v = http::HeaderValue::from_str(value)
        .map_err(|_| Error::new(ErrorKind::Config, format!("the value of {name} is not valid header text")))?;
    h.insert(n, v);
    Ok(())
}

/// Azure metadata names are C# identifiers: a letter or `_`, then letters, digits, `_`.
fn check_metadata_name(k: &str) -> Result<()> {
    let mut bytes = k.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        return Ok(());
    }
    Err(Error::new(ErrorKind::Config, format!("Azure refuses the metadata name {k:?}: names must be C# identifiers"))
        .with_hint(
            "use letters, digits and underscores, starting with a letter or underscore (`my_key`, not `my-key`)",
        ))
}

/// The blob's content headers (`x-ms-blob-*`, stored with the blob, as Put Block List
/// and Set Blob Properties take them) and user metadata.
pub fn blob_headers(h: &mut HeaderMap, o: &PutOptions) -> Result<()> {
    put(h, "x-ms-blob-content-type", o.content_type.as_deref().unwrap_or("application/octet-stream"))?;
    if let Some(v) = &o.content_encoding {
        put(h, "x-ms-blob-content-encoding", v)?;
    }
    if let Some(v) = &o.cache_control {
        put(h, "x-ms-blob-cache-control", v)?;
    }
    if let Some(v) = &o.content_disposition {
        put(h, "x-ms-blob-content-disposition", v)?;
    }
    metadata_headers(h, &o.metadata)
}

/// User metadata as `x-ms-meta-*` headers (the driver's own entry is refused).
pub fn metadata_headers(h: &mut HeaderMap, metadata: &std::collections::BTreeMap<String, String>) -> Result<()> {
    checksum::check_user_metadata(metadata)?;
    for (k, v) in metadata {
        check_metadata_name(k)?;
        put(h, &format!("{META_PREFIX}{}", k.to_ascii_lowercase()), &encode_meta(v))?;
    }
    Ok(())
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
    if etag.starts_with('"') || etag.starts_with("W/") || etag == "*" { etag.to_owned() } else { format!("\"{etag}\"") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_bad_names_are_refused() {
        let o = PutOptions::content_type("text/plain").with_metadata("Owner", "ünïcode").with_metadata("plain", "v 1");
        let mut h = HeaderMap::new();
        blob_headers(&mut h, &o).unwrap();
        assert_eq!(h.get("x-ms-blob-content-type").unwrap(), "text/plain");
        h.insert("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==".parse().unwrap());
        h.insert("etag", "\"0x8D\"".parse().unwrap());
        let back = object_from_headers("c", "k", &h, 0, false);
        assert_eq!(back.metadata.get("owner").map(String::as_str), Some("ünïcode"));
        assert_eq!(back.metadata.get("plain").map(String::as_str), Some("v 1"));
        assert_eq!(back.md5(), Some("d41d8cd98f00b204e9800998ecf8427e"));
        assert_eq!(back.etag.as_deref(), Some("0x8D"));
        assert!(object_from_headers("c", "k", &h, 0, true).hash.is_none());
        let e = blob_headers(&mut h, &PutOptions::default().with_metadata("my-key", "v")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(md5_b64_from_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap(), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }
}
