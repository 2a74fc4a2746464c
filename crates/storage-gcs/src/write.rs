//! Uploads (`multipart/related` in one request; resumable sessions for streams of
//! unknown length), `objects.delete`, and copies by `objects.rewrite` looped to the end.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::Method;
use serde_json::{Map, Value, json};
use storage_core::kit::{etag_matches, md5_hex, normalize_metadata, verify_content_md5};
use storage_core::{ByteStream, CopyOptions, Error, ErrorKind, Object, Payload, PutMode, PutOptions, Result};
use storage_http::{RequestBody, http};

use crate::client::{Api, Call};
use crate::driver::{GcsDriver, NAME};
use crate::json::{ObjectResource, Rewrite};
use crate::{containers, read};

/// Chunk of a resumable upload (a multiple of 256 KiB, as GCS requires).
const RESUMABLE_CHUNK: usize = 8 * 1024 * 1024;

/// The object resource of a write: name, content headers, metadata, and the checksums
/// the server verifies before storing (`md5Hash` when the caller gave it, `crc32c` when
/// the data is at hand).
pub(crate) fn resource_json(key: &str, options: &PutOptions, crc: Option<u32>) -> Result<Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(key));
    m.insert("contentType".into(), json!(options.content_type.as_deref().unwrap_or("application/octet-stream")));
    if let Some(v) = &options.content_encoding {
        m.insert("contentEncoding".into(), json!(v));
    }
    if let Some(v) = &options.cache_control {
        m.insert("cacheControl".into(), json!(v));
    }
    if let Some(v) = &options.content_disposition {
        m.insert("contentDisposition".into(), json!(v));
    }
    if !options.metadata.is_empty() {
        m.insert("metadata".into(), json!(normalize_metadata(&options.metadata)));
    }
    if let Some(md5) = &options.content_md5 {
        let raw = hex::decode(md5)
            .ok()
            .filter(|r| r.len() == 16)
            .ok_or_else(|| Error::new(ErrorKind::Config, format!("{md5:?} is not a hex MD5 digest")))?;
        m.insert("md5Hash".into(), json!(B64.encode(raw)));
    }
    if let Some(c) = crc {
        m.insert("crc32c".into(), json!(B64.encode(c.to_be_bytes())));
    }
    Ok(Value::Object(m))
}

/// The `ifGenerationMatch` a put mode needs: `0` for create-if-absent, the current
/// generation for if-match (read here; a change since then fails the write).
pub(crate) async fn generation_condition(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    mode: &PutMode,
) -> Result<Option<String>> {
    match mode {
        PutMode::Overwrite => Ok(None),
        PutMode::CreateIfAbsent => Ok(Some("0".into())),
        PutMode::IfMatch(etag) => match read::resource(d, bucket, key).await {
            Ok(r) if r.etag.as_deref().is_some_and(|e| etag_matches(etag, e)) => {
                Ok(Some(r.generation.map(|g| g.to_string()).unwrap_or_else(|| "0".into())))
            }
            Ok(_) => Err(precondition(bucket, key, "the object's ETag differs")),
            Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => {
                Err(precondition(bucket, key, "the object does not exist"))
            }
            Err(e) => Err(e),
        },
    }
}

fn precondition(bucket: &str, key: &str, why: &str) -> Error {
    Error::new(ErrorKind::PreconditionFailed, format!("the write's condition failed: {why}"))
        .with_driver(NAME)
        .with_object(bucket, key)
}

/// A `multipart/related` body: the resource JSON, then the data.
fn related(resource: &Value, content_type: &str, data_len: u64) -> (String, Bytes, Bytes, u64) {
    let boundary = format!("storage_rs_{}", md5_hex(storage_core::kit::unique_tag().as_bytes()));
    let head = format!(
        "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{resource}\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let total = head.len() as u64 + data_len + tail.len() as u64;
    (boundary, Bytes::from(head), Bytes::from(tail), total)
}

/// One upload request (`uploadType=multipart`).
pub(crate) async fn put(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
) -> Result<Object> {
    d.check_key(bucket, key)?;
    let condition = generation_condition(d, bucket, key, &options.mode).await?;
    let content_type = options.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
    let (data_len, data, crc) = match payload {
        Payload::Bytes(b) => {
            verify_content_md5(options.content_md5.as_deref(), &b)?;
            let crc = storage_core::kit::crc32c(&b);
            (b.len() as u64, DataBody::Bytes(b), Some(crc))
        }
        Payload::Stream { stream, length: Some(len) } => (len, DataBody::Stream(stream), None),
        Payload::Stream { stream, length: None } => {
            return resumable(d, bucket, key, stream, options, condition).await;
        }
    };
    let resource = resource_json(key, options, crc)?;
    let (boundary, head, tail, total) = related(&resource, &content_type, data_len);
    let body = match data {
        DataBody::Bytes(b) => {
            let mut all = BytesMut::with_capacity(total as usize);
            all.extend_from_slice(&head);
            all.extend_from_slice(&b);
            all.extend_from_slice(&tail);
            RequestBody::Bytes(all.freeze())
        }
        DataBody::Stream(s) => {
            let chained = futures::stream::once(async move { Ok(head) })
                .chain(s)
                .chain(futures::stream::once(async move { Ok(tail) }));
            RequestBody::stream(chained.boxed(), total)
        }
    };
    let mut call = Call::bucket("InsertObject", Method::POST, bucket, "/o")
        .about(bucket, Some(key))
        .api(Api::Upload)
        .query("uploadType", "multipart")
        .header("content-type", &format!("multipart/related; boundary={boundary}"))?
        .body(body);
    if let Some(g) = &condition {
        // GCS's rule: an insert is idempotent when it is conditional.
        call = call.query("ifGenerationMatch", g.clone()).idempotent(true);
    }
    let written: ObjectResource = match d.client.send_json(call).await {
        Ok(r) => r,
        Err(e) => return Err(containers::refine_not_found(d, e, bucket).await),
    };
    Ok(written.into_object(bucket))
}

enum DataBody {
    Bytes(Bytes),
    Stream(ByteStream),
}

/// A resumable upload session for a stream of unknown length: 8 MiB chunks, each
/// `PUT` with its `Content-Range`, the last one with the total; memory holds one chunk.
async fn resumable(
    d: &GcsDriver,
    bucket: &str,
    key: &str,
    mut stream: ByteStream,
    options: &PutOptions,
    condition: Option<String>,
) -> Result<Object> {
    let resource = resource_json(key, options, None)?;
    let mut start = Call::bucket("StartResumableUpload", Method::POST, bucket, "/o")
        .about(bucket, Some(key))
        .api(Api::Upload)
        .query("uploadType", "resumable")
        .json(&resource)?;
    if let Some(g) = &condition {
        start = start.query("ifGenerationMatch", g.clone()).idempotent(true);
    }
    let resp = match d.client.send(start).await {
        Ok(r) => r,
        Err(e) => return Err(containers::refine_not_found(d, e, bucket).await),
    };
    let session = resp.header("location").map(str::to_owned).ok_or_else(|| {
        Error::new(ErrorKind::Backend, "the resumable upload answer has no Location")
            .with_driver(NAME)
            .with_object(bucket, key)
    })?;
    let mut offset = 0u64;
    let mut hasher = storage_core::kit::Md5Hasher::new();
    let mut pending = BytesMut::new();
    let mut ended = false;
    loop {
        while !ended && pending.len() < RESUMABLE_CHUNK {
            match stream.next().await {
                Some(chunk) => pending.extend_from_slice(&chunk?),
                None => ended = true,
            }
        }
        let take = if ended { pending.len() } else { RESUMABLE_CHUNK };
        let chunk = pending.split_to(take).freeze();
        hasher.update(&chunk);
        let end = offset + chunk.len() as u64;
        let range = match (ended, chunk.is_empty()) {
            (true, true) => format!("bytes */{end}"),
            (true, false) => format!("bytes {offset}-{}/{end}", end - 1),
            (false, _) => format!("bytes {offset}-{}/*", end - 1),
        };
        let mut req = storage_http::HttpRequest::parse(Method::PUT, &session, "UploadChunk")?
            .header("content-range", &range)?
            .body(RequestBody::Bytes(chunk))
            // The session is addressed by offsets: sending a chunk twice is harmless.
            .idempotent(true);
        req.set_header("content-type", "application/octet-stream")?;
        let resp = d.client.http.execute(&req, d.client.signer.as_ref()).await?;
        match resp.status.as_u16() {
            308 if !ended => offset = end,
            200 | 201 if ended => {
                let body = resp.bytes().await?;
                let written: ObjectResource = crate::json::parse(&body, "UploadChunk")?;
                if let Some(want) = &options.content_md5 {
                    let got = hasher.finish_hex();
                    if !got.eq_ignore_ascii_case(want) {
                        return Err(Error::new(
                            ErrorKind::ObjectHashMismatch,
                            format!("the data's MD5 is {got} but content_md5 is {want}"),
                        )
                        .with_driver(NAME)
                        .with_object(bucket, key));
                    }
                }
                return Ok(written.into_object(bucket));
            }
            status if (200..300).contains(&status) || status == 308 => {
                return Err(Error::new(
                    ErrorKind::Backend,
                    format!("the resumable upload answered {status} at offset {end}"),
                )
                .with_driver(NAME)
                .with_object(bucket, key));
            }
            _ => {
                let e = crate::errors::from_response(resp, "UploadChunk").await;
                return Err(e.or_context(NAME, Some(bucket), Some(key)));
            }
        }
    }
}

/// `objects.delete`; a missing object counts as deleted, a missing bucket does not.
pub(crate) async fn delete(d: &GcsDriver, bucket: &str, key: &str) -> Result<()> {
    d.check_key(bucket, key)?;
    match d.client.send(Call::object("DeleteObject", Method::DELETE, bucket, key, "")).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == Some(404) => match containers::refine_not_found(d, e, bucket).await {
            e if e.kind() == ErrorKind::ContainerDoesNotExist => Err(e),
            _ => Ok(()),
        },
        Err(e) => Err(e),
    }
}

/// `objects.rewrite`, looped until done; pinned to the source's generation, with the
/// destination's precondition, and the replacement metadata as the request body.
pub(crate) async fn copy(
    d: &GcsDriver,
    (src_bucket, src_key): (&str, &str),
    (dst_bucket, dst_key): (&str, &str),
    options: &CopyOptions,
) -> Result<Object> {
    d.check_key(src_bucket, src_key)?;
    d.check_key(dst_bucket, dst_key)?;
    if matches!(options.mode, PutMode::IfMatch(_)) {
        return Err(Error::new(ErrorKind::Config, "a copy's destination mode is overwrite or create-if-absent")
            .with_driver(NAME)
            .with_object(dst_bucket, dst_key));
    }
    let src = read::resource(d, src_bucket, src_key).await?;
    if let Some(want) = &options.source_if_match
        && !src.etag.as_deref().is_some_and(|e| etag_matches(want, e))
    {
        return Err(precondition(src_bucket, src_key, "the source's ETag differs from source_if_match"));
    }
    let body = match &options.replace {
        Some(put) => resource_json(dst_key, put, None)?,
        None => json!({}),
    };
    let path = format!("/rewriteTo/b/{}/o/{}", crate::client::enc(dst_bucket), crate::client::enc(dst_key));
    let mut token: Option<String> = None;
    loop {
        let mut call = Call::object("RewriteObject", Method::POST, src_bucket, src_key, &path)
            .about(dst_bucket, Some(dst_key))
            .json(&body)?
            .idempotent(true);
        if let Some(g) = src.generation {
            call = call.query("sourceGeneration", g.to_string()).query("ifSourceGenerationMatch", g.to_string());
        }
        if options.mode == PutMode::CreateIfAbsent {
            call = call.query("ifGenerationMatch", "0");
        }
        if let Some(t) = &token {
            call = call.query("rewriteToken", t.clone());
        }
        let answer: Rewrite = match d.client.send_json(call).await {
            Ok(a) => a,
            // The source was just read: a 404 is about the destination's bucket.
            Err(e) => return Err(containers::refine_not_found(d, e, dst_bucket).await),
        };
        if answer.done {
            let resource = answer.resource.ok_or_else(|| {
                Error::new(ErrorKind::Backend, "the rewrite finished without the new object")
                    .with_driver(NAME)
                    .with_object(dst_bucket, dst_key)
            })?;
            return Ok(resource.into_object(dst_bucket));
        }
        token = Some(answer.rewrite_token.ok_or_else(|| {
            Error::new(ErrorKind::Backend, "an unfinished rewrite answered without a rewriteToken")
                .with_driver(NAME)
                .with_object(dst_bucket, dst_key)
        })?);
    }
}
