//! `objects.get`: metadata, and media downloads with ranges, conditions and generations.
//! A full download is checked against the `x-goog-hash` the server sent (CRC32C, else
//! MD5); a body that breaks resumes pinned to the generation first read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use http::{HeaderMap, Method};
use storage_core::kit::{HashCheck, checked_body};
use storage_core::{ByteStream, Error, ErrorKind, GetOptions, GetResult, HashAlgorithm, Object, ObjectHash, Result};
use storage_http::{Resumable, body_range, http, resumable_body};

use crate::client::Call;
use crate::containers;
use crate::driver::{GcsDriver, NAME};
use crate::json::ObjectResource;

/// `objects.get` (metadata).
pub(crate) async fn head(d: &GcsDriver, bucket: &str, key: &str) -> Result<Object> {
    Ok(resource(d, bucket, key).await?.into_object(bucket))
}

/// `objects.get` (metadata) as the resource.
pub(crate) async fn resource(d: &GcsDriver, bucket: &str, key: &str) -> Result<ObjectResource> {
    resource_at(d, bucket, key, None).await
}

/// `objects.get` (metadata) of `generation`, or of the live object.
async fn resource_at(d: &GcsDriver, bucket: &str, key: &str, generation: Option<&str>) -> Result<ObjectResource> {
    d.check_key(bucket, key)?;
    let mut call = Call::object("GetObject", Method::GET, bucket, key, "");
    if let Some(g) = generation {
        call = call.query("generation", g);
    }
    match d.client.send_json(call).await {
        Ok(r) => Ok(r),
        Err(e) => Err(containers::refine_not_found(d, e, bucket).await),
    }
}

/// The generation a requested version names. A version is the object's generation, a
/// decimal number ([`Object::version`]); any other text names no version of it, refused
/// before a request (GCS would answer 400).
fn generation_of<'v>(bucket: &str, key: &str, version: &'v str) -> Result<&'v str> {
    if version.bytes().all(|b| b.is_ascii_digit()) && version.parse::<u64>().is_ok() {
        return Ok(version);
    }
    Err(Error::new(ErrorKind::ObjectDoesNotExist, format!("{version:?} is not a version of a GCS object"))
        .with_hint("a GCS version is the object's generation, a decimal number, as Object::version reports it")
        .with_driver(NAME)
        .with_object(bucket, key))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The hashes of `x-goog-hash: crc32c=...,md5=...`: (crc32c, md5), raw bytes.
fn goog_hash(h: &HeaderMap) -> (Option<u32>, Option<String>) {
    let (mut crc, mut md5) = (None, None);
    for v in h.get_all("x-goog-hash").iter().filter_map(|v| v.to_str().ok()) {
        for part in v.split(',') {
            match part.trim().split_once('=') {
                Some(("crc32c", b)) => {
                    crc = B64.decode(b.trim()).ok().and_then(|r| r.try_into().ok()).map(u32::from_be_bytes);
                }
                Some(("md5", b)) => {
                    md5 = B64.decode(b.trim()).ok().filter(|r| r.len() == 16).map(|r| storage_core::hash::to_hex(&r));
                }
                _ => {}
            }
        }
    }
    (crc, md5)
}

/// An `Object` from the headers of a media download; `size` is the whole object's.
fn object_from_headers(bucket: &str, key: &str, h: &HeaderMap, size: u64) -> Object {
    let mut o = Object::new(bucket, key, size);
    o.etag = header(h, "etag").map(|e| e.trim_start_matches("W/").trim_matches('"').to_owned());
    let (crc, md5) = goog_hash(h);
    o.hash = match (md5, crc) {
        (Some(m), _) => Some(ObjectHash::md5(m)),
        (None, Some(c)) => Some(ObjectHash { algorithm: HashAlgorithm::Crc32c, value: format!("{c:08x}") }),
        _ => None,
    };
    o.last_modified =
        header(h, "last-modified").and_then(|v| httpdate::parse_http_date(v).ok()).map(DateTime::<Utc>::from);
    o.content_type = header(h, "content-type").map(str::to_owned);
    o.content_encoding = header(h, "content-encoding").map(str::to_owned);
    o.cache_control = header(h, "cache-control").map(str::to_owned);
    o.content_disposition = header(h, "content-disposition").map(str::to_owned);
    o.version = header(h, "x-goog-generation").map(str::to_owned);
    for (name, value) in h {
        if let Some(k) = name.as_str().strip_prefix("x-goog-meta-")
            && let Ok(v) = value.to_str()
        {
            o.metadata.insert(k.to_owned(), v.to_owned());
        }
    }
    if let Some(m) = header(h, "x-goog-metageneration") {
        o.extra.insert("metageneration".into(), m.to_owned());
    }
    o
}

/// A media download. Conditions are evaluated against the object's metadata and the
/// download pinned to that generation (fake-gcs-server ignores conditional GETs; this
/// way they hold everywhere, at the cost of one request when conditions are given).
pub(crate) async fn get(d: &GcsDriver, bucket: &str, key: &str, options: &GetOptions) -> Result<GetResult> {
    d.check_key(bucket, key)?;
    if let Some(r) = &options.range {
        r.validate().map_err(|e| e.or_context(NAME, Some(bucket), Some(key)))?;
    }
    let mut generation = match &options.version {
        Some(v) => Some(generation_of(bucket, key, v)?.to_owned()),
        None => None,
    };
    let conditional = options.if_match.is_some()
        || options.if_none_match.is_some()
        || options.if_modified_since.is_some()
        || options.if_unmodified_since.is_some();
    if conditional {
        // The conditions hold for the generation asked for, not the live one.
        let current = resource_at(d, bucket, key, generation.as_deref()).await?.into_object(bucket);
        options
            .check_conditions(current.etag.as_deref(), current.last_modified)
            .map_err(|e| e.or_context(NAME, Some(bucket), Some(key)))?;
        generation = generation.or(current.version);
    }
    let build = |generation: Option<&str>| -> Result<Call<'_>> {
        let mut call = Call::object("GetObjectMedia", Method::GET, bucket, key, "")
            .query("alt", "media")
            // The stored bytes, never a decompressed rendition of a gzip object.
            .header("accept-encoding", "gzip")?;
        if let Some(g) = generation {
            call = call.query("generation", g);
        }
        if let Some(r) = &options.range {
            call = call.header("range", &r.header_value())?;
        }
        Ok(call)
    };
    let call = build(generation.as_deref())?;
    let request = d.client.request(&call)?;
    let resp = match d.client.send_built(&call, &request).await {
        Ok(r) => r,
        Err(e) => return Err(containers::refine_not_found(d, e, bucket).await),
    };
    let status = resp.status.as_u16();
    let (start, end, size) =
        body_range(status, header(&resp.headers, "content-range"), resp.content_length(), options.range.is_some());
    let object = object_from_headers(bucket, key, &resp.headers, size);
    if let Some(r) = &options.range {
        r.resolve(size).map_err(|e| e.or_context(NAME, Some(bucket), Some(key)))?;
    }
    let (crc, md5) = goog_hash(&resp.headers);
    let whole = status == 200 && options.range.is_none();
    // Resumes read the generation this answer came from.
    let pinned = object.version.clone().or(generation);
    let resume_call = build(pinned.as_deref())?;
    let resumable = Resumable {
        client: d.client.http.clone(),
        request: d.client.request(&resume_call)?,
        signer: d.client.signer.clone(),
        start,
        end,
        etag: object.etag.clone().or_else(|| pinned.clone()),
        max_resumes: 5,
    };
    let mut body = if start == end {
        futures::stream::empty().boxed()
    } else {
        in_context(resumable_body(resp, resumable), pinned, bucket, key)
    };
    if whole {
        body = verified(body, crc, md5, bucket, key);
    }
    Ok(GetResult { object, range: start..end, body })
}

/// `body` with its errors in context; a resume answered 404 means the generation pinned
/// is gone (the object was replaced or deleted during the download): a precondition that
/// no longer holds, as a 412 on the other clouds.
fn in_context(body: ByteStream, generation: Option<String>, bucket: &str, key: &str) -> ByteStream {
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    body.map(move |item| {
        item.map_err(|e| {
            let e = if e.status() == Some(404) {
                let which = match generation.as_deref() {
                    Some(g) => format!("generation {g}"),
                    None => "the version first read".to_owned(),
                };
                let msg = format!(
                    "the object changed during the download ({which} is gone), so it was not resumed; download it \
                     again"
                );
                Error::new(ErrorKind::PreconditionFailed, msg).with_status(404)
            } else {
                e
            };
            e.or_context(NAME, Some(&bucket), Some(&key))
        })
    })
    .boxed()
}

/// `body`, checked at its end against the CRC32C (else the MD5) the server announced.
fn verified(body: ByteStream, crc: Option<u32>, md5: Option<String>, bucket: &str, key: &str) -> ByteStream {
    let want = crc.map(ObjectHash::crc32c).or_else(|| md5.map(ObjectHash::md5));
    let Some(check) = want.as_ref().and_then(HashCheck::new) else { return body };
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    checked_body(body, check, move |why| {
        Error::new(ErrorKind::ObjectHashMismatch, format!("the downloaded data has {why}"))
            .with_driver(NAME)
            .with_object(bucket.as_str(), key.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goog_hash_headers_parse() {
        let mut h = HeaderMap::new();
        h.insert("x-goog-hash", "crc32c=yZRlqg==,md5=XrY7u+Ae7tCTyyK7j1rNww==".parse().unwrap());
        let (crc, md5) = goog_hash(&h);
        assert_eq!(crc, Some(storage_core::kit::crc32c(b"hello world")));
        assert_eq!(md5.as_deref(), Some("5eb63bbbe01eeed093cb22bb8f5acdc3"));
        let o = object_from_headers("b", "k", &h, 11);
        assert_eq!(o.md5(), Some("5eb63bbbe01eeed093cb22bb8f5acdc3"));
    }

    #[tokio::test]
    async fn a_body_that_does_not_match_its_hash_fails_at_the_end() {
        let body = futures::stream::iter(vec![
            Ok(bytes::Bytes::from_static(b"hello ")),
            Ok(bytes::Bytes::from_static(b"world")),
        ])
        .boxed();
        let good = verified(body, Some(storage_core::kit::crc32c(b"hello world")), None, "b", "k");
        let all: Vec<_> = good.collect().await;
        assert!(all.iter().all(|c| c.is_ok()));
        let body = futures::stream::iter(vec![Ok(bytes::Bytes::from_static(b"hellO world"))]).boxed();
        let bad: Vec<_> =
            verified(body, Some(storage_core::kit::crc32c(b"hello world")), None, "b", "k").collect().await;
        assert_eq!(bad.last().unwrap().as_ref().unwrap_err().kind(), ErrorKind::ObjectHashMismatch);
    }
}
