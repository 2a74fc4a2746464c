//! PutObject, DeleteObject, DeleteObjects and CopyObject (a multipart copy above 5 GiB).

use bytes::Bytes;
use http::Method;
use storage_core::kit::{StreamTap, crc32c, normalize_metadata, object_key, verify_content_md5};
use storage_core::{
    CompletedPart, CopyOptions, DeleteOutcome, Driver, Error, ErrorKind, Object, Payload, PutMode, PutOptions, Result,
};
use storage_http::{RequestBody, http};

use crate::client::Call;
use crate::config::Checksum;
use crate::driver::{NAME, S3Driver};
use crate::errors::{error_in_ok_body, kind_for_code};
use crate::headers::{content_headers, hash_from_etag, md5_b64, md5_header, mode_headers, quote};
use crate::xml::{self, CopyObjectResult, CopyPartResult, DeleteResult};
use crate::{checksum, multipart, read};

/// Largest object CopyObject copies in one request.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
/// Part size of a multipart copy.
const COPY_PART: u64 = 512 * 1024 * 1024;

/// PutObject in one request; a stream of unknown length is buffered first.
pub(crate) async fn put(
    d: &S3Driver,
    container: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
) -> Result<Object> {
    d.check_key(container, key)?;
    let mut call = Call::new("PutObject", Method::PUT, Some(container), Some(key));
    content_headers(&mut call.headers, options)?;
    mode_headers(&mut call.headers, &options.mode)?;
    let mut crc = None;
    let mut streamed_md5 = None;
    let (body, size) = match payload {
        Payload::Stream { stream, length: Some(len) } => {
            // Sent as it is read: no checksum can go ahead of it (the transfer engine
            // sends S3 parts, which carry theirs). Its MD5 is taken on the way and held
            // to the ETag the server answers (the MD5 of what it stored).
            if let Some(md5) = &options.content_md5 {
                call = call.header("content-md5", &md5_header(md5)?)?;
            }
            let stream = match d.client.config.checksum {
                Checksum::None => stream,
                Checksum::Crc32c | Checksum::Md5 => {
                    let (tapped, tap) = StreamTap::wrap(stream, true);
                    streamed_md5 = Some(tap);
                    tapped
                }
            };
            (RequestBody::stream(stream, len), len)
        }
        payload => {
            let b = payload.into_bytes().await?;
            let len = b.len() as u64;
            (call, crc) = checksum_headers(d, call, &b, options)?;
            (RequestBody::Bytes(b), len)
        }
    };
    let resp = d.client.send(call.body(body)).await?;
    // The checksum the server answers is the one it computed (AWS, s3s-fs) or kept.
    if let (Some(sent), Some(answered)) = (crc, checksum::full_object(&resp.headers))
        && sent != answered
    {
        return Err(checksum::mismatch("PutObject", sent, answered).with_object(container, key));
    }
    let mut o = Object::new(container, key, size);
    o.etag = resp.header("etag").map(|e| e.trim_matches('"').to_owned());
    o.hash = o.etag.as_deref().map(|e| crate::headers::hash_for(e, &resp.headers));
    if let (Some(tap), Some(stored)) = (streamed_md5, o.md5()) {
        let (_, sent) = tap.finish();
        if sent.as_deref().is_some_and(|sent| sent != stored) {
            return Err(Error::new(
                ErrorKind::ObjectHashMismatch,
                format!(
                    "PutObject: the {size} bytes sent have the MD5 {} but the server stored bytes with the MD5 {stored}",
                    sent.unwrap_or_default()
                ),
            )
            .with_driver(NAME)
            .with_object(container, key)
            .with_hint("the data was damaged on its way to the server, or stored damaged; write it again"));
        }
    }
    o.version = resp.header("x-amz-version-id").filter(|v| *v != "null").map(str::to_owned);
    o.last_modified = Some(chrono::Utc::now());
    o.content_type = Some(options.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()));
    o.content_encoding = options.content_encoding.clone();
    o.cache_control = options.cache_control.clone();
    o.content_disposition = options.content_disposition.clone();
    o.metadata = normalize_metadata(&options.metadata);
    Ok(o)
}

/// The body's checksum headers, and the CRC32C sent: the caller's MD5 (checked here
/// too: not every S3-compatible server verifies Content-MD5), and the configured checksum
/// (CRC32C with `x-amz-sdk-checksum-algorithm`, without which moto and rclone do not keep
/// it; or an MD5 when no caller's MD5 stands for it).
fn checksum_headers<'a>(
    d: &S3Driver,
    mut call: Call<'a>,
    data: &Bytes,
    options: &PutOptions,
) -> Result<(Call<'a>, Option<u32>)> {
    if let Some(md5) = &options.content_md5 {
        verify_content_md5(Some(md5), data)?;
        call = call.header("content-md5", &md5_header(md5)?)?;
    }
    match d.client.config.checksum {
        Checksum::Crc32c => {
            let crc = crc32c(data);
            call = crc32c_headers(call, crc)?;
            Ok((call, Some(crc)))
        }
        Checksum::Md5 if options.content_md5.is_none() => Ok((call.header("content-md5", &md5_b64(data))?, None)),
        Checksum::Md5 | Checksum::None => Ok((call, None)),
    }
}

/// `x-amz-checksum-crc32c` for a body whose CRC32C is `crc`, and
/// `x-amz-sdk-checksum-algorithm: CRC32C` (what AWS's SDKs send with it).
pub(crate) fn crc32c_headers(call: Call<'_>, crc: u32) -> Result<Call<'_>> {
    call.header(checksum::HEADER, &checksum::to_b64(crc))?.header("x-amz-sdk-checksum-algorithm", "CRC32C")
}

/// DeleteObject (S3 answers 204 for a missing key too).
pub(crate) async fn delete(d: &S3Driver, container: &str, key: &str) -> Result<()> {
    d.check_key(container, key)?;
    d.client.send(Call::new("DeleteObject", Method::DELETE, Some(container), Some(key))).await?;
    Ok(())
}

/// DeleteObjects in quiet mode; keys that cannot be sent are refused one by one, and a
/// key reported `NoSuchKey` counts as deleted.
pub(crate) async fn delete_batch(d: &S3Driver, container: &str, keys: &[String]) -> Result<Vec<DeleteOutcome>> {
    d.check_bucket(container)?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut outcomes: Vec<DeleteOutcome> = Vec::with_capacity(keys.len());
    let mut sendable = Vec::with_capacity(keys.len());
    for k in keys {
        match object_key(k, d.info.limits.max_key_length) {
            Ok(()) if !k.chars().any(|c| c.is_control() && c != '\t' && c != '\n' && c != '\r') => sendable.push(k),
            Ok(()) => outcomes.push(DeleteOutcome {
                key: k.clone(),
                result: Err(Error::new(ErrorKind::InvalidObjectName, "the key cannot be sent in XML; delete it alone")
                    .with_object(container, k)),
            }),
            Err(e) => outcomes.push(DeleteOutcome { key: k.clone(), result: Err(e.with_container(container)) }),
        }
    }
    if sendable.is_empty() {
        return Ok(outcomes);
    }
    let mut body = String::with_capacity(64 + sendable.len() * 48);
    body.push_str("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
    for k in &sendable {
        body.push_str("<Object><Key>");
        body.push_str(&xml::escape(k));
        body.push_str("</Key></Object>");
    }
    body.push_str("</Delete>");
    let body = Bytes::from(body);
    let call = Call::new("DeleteObjects", Method::POST, Some(container), None)
        .query("delete", "")
        .header("content-md5", &md5_b64(&body))?
        .header("content-type", "application/xml")?
        .body(RequestBody::Bytes(body))
        .idempotent(true);
    let resp = d.client.send(call).await?.bytes().await?;
    let failed = DeleteResult::parse(&resp)?.errors;
    for k in sendable {
        let result = match failed.iter().find(|f| &f.key == k) {
            Some(f) if f.code == "NoSuchKey" => Ok(()),
            Some(f) => {
                let kind = kind_for_code(&f.code).unwrap_or(ErrorKind::Backend);
                Err(Error::new(kind, format!("DeleteObjects failed for this key: {}: {}", f.code, f.message))
                    .with_provider_code(f.code.as_str())
                    .with_driver(NAME)
                    .with_object(container, k.as_str()))
            }
            None => Ok(()),
        };
        outcomes.push(DeleteOutcome { key: k.clone(), result });
    }
    Ok(outcomes)
}

/// CopyObject, pinned to the source's ETag; a multipart copy (UploadPartCopy) above the
/// 5 GiB CopyObject limit.
pub(crate) async fn copy(
    d: &S3Driver,
    (src_container, src_key): (&str, &str),
    (dst_container, dst_key): (&str, &str),
    options: &CopyOptions,
) -> Result<Object> {
    d.check_key(src_container, src_key)?;
    d.check_key(dst_container, dst_key)?;
    if options.mode != PutMode::Overwrite {
        return Err(d.unsupported("conditional server-side copy").with_object(dst_container, dst_key));
    }
    let src = read::head(d, src_container, src_key).await?;
    if let Some(want) = &options.source_if_match
        && !src.etag.as_deref().is_some_and(|e| storage_core::object::etag_matches(want, e))
    {
        return Err(Error::new(ErrorKind::PreconditionFailed, "the source's ETag differs from source_if_match")
            .with_driver(NAME)
            .with_object(src_container, src_key));
    }
    let put = options.destination_options(&src);
    if src.size > MAX_SINGLE_COPY {
        return copy_multipart(d, &src, dst_container, dst_key, &put).await;
    }
    let mut call = Call::new("CopyObject", Method::PUT, Some(dst_container), Some(dst_key))
        .header("x-amz-copy-source", &copy_source(src_container, src_key))?;
    if let Some(e) = options.source_if_match.as_ref().or(src.etag.as_ref()) {
        call = call.header("x-amz-copy-source-if-match", &quote(e))?;
    }
    if options.replace.is_some() {
        call = call.header("x-amz-metadata-directive", "REPLACE")?;
        content_headers(&mut call.headers, &put)?;
        if !put.tags.is_empty() {
            call = call.header("x-amz-tagging-directive", "REPLACE")?;
        }
    }
    let body = d.client.send(call).await?.bytes().await?;
    if let Some(e) = error_in_ok_body(&body, "CopyObject") {
        return Err(e.with_object(dst_container, dst_key));
    }
    let result = CopyObjectResult::parse(&body)?;
    let mut o = Object::new(dst_container, dst_key, src.size);
    o.etag = result.etag;
    o.last_modified = result.last_modified;
    if o.etag.is_none() {
        // The copy is done but the server did not say its ETag: ask for it.
        let copied = read::head(d, dst_container, dst_key).await?;
        o.etag = copied.etag;
        o.last_modified = o.last_modified.or(copied.last_modified);
    }
    o.hash = o.etag.as_deref().map(hash_from_etag);
    o.content_type = put.content_type;
    o.content_encoding = put.content_encoding;
    o.cache_control = put.cache_control;
    o.content_disposition = put.content_disposition;
    o.metadata = normalize_metadata(&put.metadata);
    Ok(o)
}

/// A copy in 512 MiB UploadPartCopy parts, each pinned to the source's ETag; aborted
/// on any failure.
async fn copy_multipart(
    d: &S3Driver,
    src: &Object,
    dst_bucket: &str,
    dst_key: &str,
    put: &PutOptions,
) -> Result<Object> {
    // Server-side parts: no checksum of ours to send with them.
    let upload = multipart::create(d, dst_bucket, dst_key, put, false).await?;
    let source = copy_source(&src.container, &src.name);
    let result = async {
        let mut parts = Vec::new();
        let mut start = 0u64;
        let mut n = 1u32;
        while start < src.size {
            let end = (start + COPY_PART).min(src.size);
            let call = Call::new("UploadPartCopy", Method::PUT, Some(dst_bucket), Some(dst_key))
                .query("partNumber", n.to_string())
                .query("uploadId", upload.upload_id.clone())
                .header("x-amz-copy-source", &source)?
                .header("x-amz-copy-source-range", &format!("bytes={start}-{}", end - 1))?;
            let call = match &src.etag {
                Some(e) => call.header("x-amz-copy-source-if-match", &quote(e))?,
                None => call,
            };
            let body = d.client.send(call).await?.bytes().await?;
            if let Some(e) = error_in_ok_body(&body, "UploadPartCopy") {
                return Err(e.with_object(dst_bucket, dst_key));
            }
            // No ETag means no copied part (rclone answers an empty 200 and stores an
            // empty part): nothing else can stand in for it.
            let etag = CopyPartResult::parse(&body)?.etag.ok_or_else(|| {
                Error::new(ErrorKind::Backend, "UploadPartCopy returned no ETag")
                    .with_driver(NAME)
                    .with_object(dst_bucket, dst_key)
            })?;
            parts.push(CompletedPart::new(n, etag, end - start));
            start = end;
            n += 1;
        }
        multipart::complete(d, &upload, &parts).await
    }
    .await;
    if result.is_err() {
        let _ = multipart::abort(d, &upload).await;
    }
    result
}

/// The `x-amz-copy-source` value: `/bucket/key`, the key URI-encoded.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut s = String::with_capacity(bucket.len() + key.len() + 2);
    s.push('/');
    s.push_str(bucket);
    s.push('/');
    crate::signing::uri_encode_into(&mut s, key, true);
    s
}
