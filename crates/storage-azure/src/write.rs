//! Put Blob, Delete Blob and copies (Copy Blob From URL when it can be synchronous, else
//! Copy Blob polled to completion).

use std::time::Duration;

use http::Method;
use storage_core::kit::{normalize_metadata, verify_content_md5};
use storage_core::{CopyOptions, Error, ErrorKind, Object, ObjectHash, Payload, PutMode, PutOptions, Result};
use storage_http::{HttpResponse, RequestBody, http};

use crate::checksum::{self, Tap, TapFor};
use crate::client::Call;
use crate::credentials::AzureCredential;
use crate::driver::{AzureDriver, NAME};
use crate::extras::{Extras, Target, encode_tags};
use crate::headers::{blob_headers, md5_b64_from_hex, md5_hex_from_b64, metadata_headers, mode_headers, quote};
use crate::{read, signed};

/// Largest blob Copy Blob From URL copies (synchronously, in one request).
const MAX_SYNC_COPY: u64 = 256 * 1024 * 1024;

/// Put Blob (a block blob in one request); a stream of unknown length is buffered first.
///
/// Data in memory goes with its CRC64 (`x-ms-content-crc64`, which the service checks
/// before anything is stored: `Crc64Mismatch`, `ObjectHashMismatch`) and the blob's
/// CRC32C in its metadata ([`checksum`]), which whole reads check; a caller's
/// `content_md5` is sent as `Content-MD5` instead (Azure refuses both at once) and checked
/// the same way. A stream of known length cannot carry a checksum ahead of its bytes: its
/// MD5 is computed as it is sent and compared with the one the service computed (Put
/// Blob answers with it); on a mismatch that version of the blob is deleted. The service
/// stores the blob's MD5 in every case. Over TLS a damaged body is unlikely on the wire,
/// but not between a TLS-terminating proxy and the service, nor over plain HTTP
/// (Azurite), where a flipped byte was otherwise stored and served as the blob.
pub(crate) async fn put(
    d: &AzureDriver,
    container: &str,
    key: &str,
    payload: Payload,
    options: &PutOptions,
) -> Result<Object> {
    d.check_key(container, key)?;
    let extras = Extras::check(options).map_err(|e| e.with_object(container, key))?;
    let mut call =
        Call::new("PutBlob", Method::PUT, Some(container), Some(key)).header("x-ms-blob-type", "BlockBlob")?;
    blob_headers(&mut call.headers, options)?;
    extras.apply(&mut call.headers, Target::PutBlob)?;
    mode_headers(&mut call.headers, &options.mode)?;
    if let Some(md5) = &options.content_md5 {
        call = call.header("content-md5", &md5_b64_from_hex(md5)?)?;
    }
    let (body, size, sent) = match payload {
        Payload::Stream { stream, length: Some(len) } if options.content_md5.is_none() => {
            let (stream, tap) = Tap::wrap(stream, TapFor::Md5);
            (RequestBody::stream(stream, len), len, Sent::Streamed(tap))
        }
        Payload::Stream { stream, length: Some(len) } => (RequestBody::stream(stream, len), len, Sent::Nothing),
        payload => {
            let b = payload.into_bytes().await?;
            verify_content_md5(options.content_md5.as_deref(), &b)?;
            let (crc64, crc32c) = checksum::crc64_and_crc32c(&b);
            let len = b.len() as u64;
            if options.content_md5.is_none() {
                call = call.header(checksum::CRC64_HEADER, &checksum::crc64_b64(crc64))?;
            }
            call = call.header(checksum::META_HEADER, &checksum::stored_value(crc32c, len))?;
            (RequestBody::Bytes(b), len, Sent::Crcs { crc64: options.content_md5.is_none().then_some(crc64), crc32c })
        }
    };
    let resp = d.client.send(call.body(body)).await.map_err(|e| conditional(e, &options.mode))?;
    let answered_md5 = resp.header("content-md5").and_then(md5_hex_from_b64);
    // What the service says it stored, against what was sent (a service that did not
    // check the checksum sent, or a stream, which carried none).
    let damaged = match &sent {
        Sent::Crcs { crc64: Some(want), .. } => checksum::answered_crc64(&resp.headers)
            .filter(|got| got != want)
            .map(|got| format!("CRC64 {got:016x}, but the data sent has {want:016x}")),
        Sent::Streamed(tap) => {
            let seen = tap.finish();
            match (seen.md5, &answered_md5) {
                (Some(want), Some(got)) if !want.eq_ignore_ascii_case(got) || seen.len != size => {
                    Some(format!("MD5 {got}, but the {} bytes sent have {want}", seen.len))
                }
                _ => None,
            }
        }
        _ => None,
    };
    let mut o = written(container, key, size, &resp, options);
    if let Some(why) = damaged {
        return Err(stored_damaged(d, container, key, o.etag.as_deref(), why).await);
    }
    o.hash = answered_md5.map(ObjectHash::md5).or(match sent {
        Sent::Crcs { crc32c, .. } => Some(ObjectHash::crc32c(crc32c)),
        _ => None,
    });
    Ok(o)
}

/// The checksums a Put Blob carried.
enum Sent {
    /// Data in memory: its CRC64 (unless a caller's MD5 went instead) and its CRC32C.
    Crcs { crc64: Option<u64>, crc32c: u32 },
    /// A stream, hashed as it was sent.
    Streamed(Tap),
    /// A stream with the caller's MD5, which the service checked.
    Nothing,
}

/// The error for a write the service stored with other data than was sent (it did not
/// check the checksum, or none could go ahead of a stream), after deleting that version
/// (only if it is still the current one: a later writer's blob is left alone).
pub(crate) async fn stored_damaged(
    d: &AzureDriver,
    container: &str,
    key: &str,
    etag: Option<&str>,
    why: String,
) -> Error {
    let removed = match etag {
        Some(etag) => {
            let call =
                Call::new("DeleteBlob", Method::DELETE, Some(container), Some(key)).header("if-match", &quote(etag));
            match call {
                Ok(call) => match d.client.send(call).await {
                    Ok(_) => "it was deleted".to_owned(),
                    Err(e) => format!("deleting it failed ({}): delete it by hand", e.kind()),
                },
                Err(e) => format!("deleting it failed ({}): delete it by hand", e.kind()),
            }
        }
        None => "the service gave no ETag to delete it by: delete it by hand".to_owned(),
    };
    checksum::mismatch(format!("the service stored data with {why}; {removed}")).with_object(container, key)
}

/// The object a successful write describes.
pub(crate) fn written(container: &str, key: &str, size: u64, resp: &HttpResponse, options: &PutOptions) -> Object {
    written_from(container, key, size, &resp.headers, options)
}

/// The object a successful write describes, from the headers of an answer about it.
pub(crate) fn written_from(
    container: &str,
    key: &str,
    size: u64,
    headers: &http::HeaderMap,
    options: &PutOptions,
) -> Object {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut o = Object::new(container, key, size);
    o.etag = header("etag").map(|e| e.trim_matches('"').to_owned());
    o.version = header("x-ms-version-id").map(str::to_owned);
    o.last_modified = header("last-modified")
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .map(chrono::DateTime::<chrono::Utc>::from)
        .or_else(|| Some(chrono::Utc::now()));
    o.content_type = Some(options.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()));
    o.content_encoding = options.content_encoding.clone();
    o.cache_control = options.cache_control.clone();
    o.content_disposition = options.content_disposition.clone();
    o.metadata = normalize_metadata(&options.metadata);
    if let Ok(extras) = Extras::check(options) {
        extras.describe(&mut o.extra, options.tags.len());
    }
    o
}

/// A failed conditional write: Azure answers `If-None-Match: *` on an existing blob with
/// 409 BlobAlreadyExists; both that and 412 are `PreconditionFailed`. The request id,
/// retry count and context stay on the error.
pub(crate) fn conditional(e: Error, mode: &PutMode) -> Error {
    if *mode != PutMode::Overwrite && e.status() == Some(409) && e.provider_code() == Some("BlobAlreadyExists") {
        let mut out = Error::new(ErrorKind::PreconditionFailed, e.message().to_owned())
            .with_status(409)
            .with_provider_code("BlobAlreadyExists")
            .with_retries(e.retries())
            .or_context(e.driver().unwrap_or(NAME), e.container(), e.key());
        if let Some(id) = e.request_id() {
            out = out.with_request_id(id);
        }
        return out.with_source(e);
    }
    e
}

/// Delete Blob with its snapshots; a missing blob counts as deleted.
pub(crate) async fn delete(d: &AzureDriver, container: &str, key: &str) -> Result<()> {
    d.check_key(container, key)?;
    let call = Call::new("DeleteBlob", Method::DELETE, Some(container), Some(key))
        .header("x-ms-delete-snapshots", "include")?;
    match d.client.send(call).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::ObjectDoesNotExist => Ok(()),
        Err(e) => Err(e),
    }
}

/// A server-side copy, pinned to the source's ETag. Up to 256 MiB with an account key:
/// Copy Blob From URL (synchronous; the source is authorized by a short read SAS made
/// here). Otherwise Copy Blob, polled until the service reports it done. Replacement
/// content headers are set afterwards with Set Blob Properties, pinned to the copy's ETag.
///
/// Without replacement options the destination keeps the source's content headers,
/// metadata and index tags, and gets the account's default tier (as Azure's copies do).
/// With them, their tier, tags and headers go on the copy (their encryption scope too,
/// on Copy Blob From URL only: a scoped copy the asynchronous path would make is refused).
pub(crate) async fn copy(
    d: &AzureDriver,
    (src_container, src_key): (&str, &str),
    (dst_container, dst_key): (&str, &str),
    options: &CopyOptions,
) -> Result<Object> {
    d.check_key(src_container, src_key)?;
    d.check_key(dst_container, dst_key)?;
    if matches!(options.mode, PutMode::IfMatch(_)) {
        return Err(Error::new(ErrorKind::Config, "a copy's destination mode is overwrite or create-if-absent")
            .with_driver(NAME)
            .with_object(dst_container, dst_key));
    }
    // The source's CRC32C goes with the copy: in its metadata, which Azure copies unless
    // the copy replaces it.
    let (src, src_crc) = read::properties(d, src_container, src_key).await?;
    if let Some(want) = &options.source_if_match
        && !src.etag.as_deref().is_some_and(|e| storage_core::kit::etag_matches(want, e))
    {
        return Err(Error::new(ErrorKind::PreconditionFailed, "the source's ETag differs from source_if_match")
            .with_driver(NAME)
            .with_object(src_container, src_key));
    }
    let put = options.destination_options(&src);
    let extras = match &options.replace {
        Some(r) => Extras::check(r).map_err(|e| e.with_object(dst_container, dst_key))?,
        None => Extras::default(),
    };
    let key_sas = matches!(d.client.signer.credential, AzureCredential::SharedKey(_));
    let sync = key_sas && src.size <= MAX_SYNC_COPY;
    if !sync && extras.scope.is_some() {
        return Err(Error::new(
            ErrorKind::NotSupported,
            "an encryption scope is set on copies made by Copy Blob From URL only (up to 256 MiB, with an account key); nothing was written",
        )
        .with_driver(NAME)
        .with_object(dst_container, dst_key)
        .with_hint("copy the blob without a scope, or download and upload it with the scope"));
    }
    // Without replacement options the copy keeps the source's tags: Copy Blob From URL
    // copies them when told to (its default is to replace them with none); Copy Blob
    // never does, so they are read and sent.
    let src_tagged = options.replace.is_none() && src.extra.get("tag_count").is_some_and(|n| n.trim() != "0");
    let mut source = d.client.endpoint.url(Some(src_container), Some(src_key));
    if sync {
        let permissions = if src_tagged { "rt" } else { "r" };
        let sas = signed::sas_query(d, src_container, src_key, permissions, Duration::from_secs(3600)).await?;
        source.push('?');
        source.push_str(&sas);
    } else if let AzureCredential::Sas(sas) = &d.client.signer.credential {
        source.push('?');
        source.push_str(sas.query());
    }
    let mut call =
        Call::new(if sync { "CopyBlobFromURL" } else { "CopyBlob" }, Method::PUT, Some(dst_container), Some(dst_key))
            .header("x-ms-copy-source", &source)?;
    if sync {
        call = call.header("x-ms-requires-sync", "true")?;
    }
    extras.apply(&mut call.headers, Target::Copy)?;
    if src_tagged {
        if sync {
            call = call.header("x-ms-copy-source-tag-option", "COPY")?;
        } else if let Some(tags) = encode_tags(&get_tags(d, src_container, src_key).await?)? {
            call = call.header("x-ms-tags", &tags)?;
        }
    }
    if let Some(e) = options.source_if_match.as_ref().or(src.etag.as_ref()) {
        call = call.header("x-ms-source-if-match", &quote(e))?;
    }
    mode_headers(&mut call.headers, &options.mode)?;
    if options.replace.is_some() {
        metadata_headers(&mut call.headers, &put.metadata)?;
        if let Some(crc) = src_crc {
            call = call.header(checksum::META_HEADER, &checksum::stored_value(crc, src.size))?;
        }
    }
    let resp = d.client.send(call).await.map_err(|e| conditional(e, &options.mode))?;
    let mut etag = resp.header("etag").map(|e| e.trim_matches('"').to_owned());
    match resp.header("x-ms-copy-status") {
        Some("success") | None => {}
        Some("pending") => {
            let id = resp.header("x-ms-copy-id").unwrap_or_default().to_owned();
            etag = Some(wait_for_copy(d, dst_container, dst_key, &id).await?);
        }
        Some(other) => {
            return Err(Error::new(ErrorKind::Backend, format!("the copy ended with status {other}"))
                .with_driver(NAME)
                .with_object(dst_container, dst_key));
        }
    }
    if options.replace.is_some() && put.metadata.is_empty() && src_crc.is_none() {
        // No x-ms-meta-* header means "copy the source's": clear them explicitly.
        let mut clear =
            Call::new("SetBlobMetadata", Method::PUT, Some(dst_container), Some(dst_key)).query("comp", "metadata");
        if let Some(e) = &etag {
            clear = clear.header("if-match", &quote(e))?;
        }
        if let Some((n, v)) = extras.headers.iter().find(|(n, _)| n.as_str() == "x-ms-lease-id") {
            clear.headers.insert(n.clone(), v.clone());
        }
        let resp = d.client.send(clear).await?;
        etag = resp.header("etag").map(|e| e.trim_matches('"').to_owned()).or(etag);
    }
    if options.replace.is_some() {
        let mut set =
            Call::new("SetBlobProperties", Method::PUT, Some(dst_container), Some(dst_key)).query("comp", "properties");
        let mut headers_only = put.clone();
        headers_only.metadata.clear();
        blob_headers(&mut set.headers, &headers_only)?;
        extras.apply(&mut set.headers, Target::SetProperties)?;
        if let Some(md5) = src.md5() {
            set = set.header("x-ms-blob-content-md5", &md5_b64_from_hex(md5)?)?;
        }
        if let Some(e) = &etag {
            set = set.header("if-match", &quote(e))?;
        }
        let resp = d.client.send(set).await?;
        etag = resp.header("etag").map(|e| e.trim_matches('"').to_owned()).or(etag);
    }
    let mut o = Object::new(dst_container, dst_key, src.size);
    o.etag = etag;
    o.hash = src.hash.clone();
    o.last_modified = Some(chrono::Utc::now());
    o.content_type = put.content_type;
    o.content_encoding = put.content_encoding;
    o.cache_control = put.cache_control;
    o.content_disposition = put.content_disposition;
    o.metadata = normalize_metadata(&put.metadata);
    extras.describe(&mut o.extra, put.tags.len());
    Ok(o)
}

/// Polls the destination until copy `id` is done; its ETag then.
async fn wait_for_copy(d: &AzureDriver, container: &str, key: &str, id: &str) -> Result<String> {
    let mut wait = Duration::from_millis(50);
    loop {
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
        let resp = d.client.send(Call::new("GetBlobProperties", Method::HEAD, Some(container), Some(key))).await?;
        if !id.is_empty() && resp.header("x-ms-copy-id").is_some_and(|got| got != id) {
            return Err(Error::new(ErrorKind::PreconditionFailed, "another copy replaced this one at the destination")
                .with_driver(NAME)
                .with_object(container, key));
        }
        match resp.header("x-ms-copy-status") {
            Some("pending") => continue,
            Some("success") | None => {
                return resp.header("etag").map(|e| e.trim_matches('"').to_owned()).ok_or_else(|| {
                    Error::new(ErrorKind::Backend, "the copied blob has no ETag")
                        .with_driver(NAME)
                        .with_object(container, key)
                });
            }
            Some(other) => {
                let why = resp.header("x-ms-copy-status-description").unwrap_or_default().to_owned();
                return Err(Error::new(ErrorKind::Backend, format!("the copy ended with status {other}: {why}"))
                    .with_driver(NAME)
                    .with_object(container, key));
            }
        }
    }
}

/// Get Blob Tags: the blob's index tags.
pub(crate) async fn get_tags(
    d: &AzureDriver,
    container: &str,
    key: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    d.check_key(container, key)?;
    let call = Call::new("GetBlobTags", Method::GET, Some(container), Some(key)).query("comp", "tags");
    let body = d.client.send(call).await?.bytes().await?;
    crate::xml::parse_tags(&body)
}
